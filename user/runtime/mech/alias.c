// SPDX-License-Identifier: MIT
/*
 * The life of aliases and originals, shared by every room: materialising
 * alias pages (they get their bytes and stop being aliases), retiring an
 * original (its bytes go to a shadow so that its app memory may change),
 * and making a range safe to change (zio_prepare_range).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "base/log.h"
#include "base/probes.h"
#include "mech/alias.h"
#include "mech/arena.h"
#include "mech/policy.h"
#include "mech/state.h"
#include "mech/uffd.h"

/* Are all pages of [a, a+len) present?  Guards every read of app memory
 * made under the lock: a hole there would fault into our own thread. */
ZIO_HIDDEN bool zio_app_present(uintptr_t a, uint64_t len)
{
	unsigned char vec[256];
	uintptr_t lo = pg_dn(a), hi = pg_up(a + len);

	while (lo < hi) {
		uintptr_t end = hi - lo > sizeof(vec) * ZIO_PAGE ? lo + sizeof(vec) * ZIO_PAGE : hi;

		if (mincore((void *)lo, end - lo, vec))
			return false;
		for (size_t i = 0; i < (end - lo) / ZIO_PAGE; i++)
			if (!(vec[i] & 1))
				return false;
		lo = end;
	}
	return true;
}

/* ------------------------------------------------------------ materialise */

/*
 * Give alias pages [a, b) of region r their bytes, page for page, and
 * drop them from the alias.  UFFDIO_COPY allocates, copies and maps in
 * one step and wakes any thread waiting on those pages.
 * Returns 0, or -errno when some page could not be produced (it then
 * stays an alias; the caller retries or falls back).
 */
ZIO_HIDDEN int zio_materialize(struct zio_region *r, uintptr_t a, uintptr_t b)
{
	struct zio_origin *o = r->o;
	uint64_t off = r->ooff + (a - r->node.start);
	uintptr_t src = zio_origin_addr(o, off);
	uint64_t len = b - a;
	int err = 0;

	if (!zio_origin_covers(o, off, len) ||
	    (o->kind == ZIO_ORIGIN_APP && !zio_app_present(src, len))) {
		/* Cannot happen while the invariants hold; refuse to read. */
		pr_warn("materialize: origin of %#lx..%#lx not readable", (unsigned long)a,
			(unsigned long)b);
		return -EFAULT;
	}
	if (zio_uffd_copy(a, src, len)) {
		/* Page by page: some may be present already (EEXIST: another
		 * path produced them), others may fail on their own. */
		for (uintptr_t p = a; p < b; p += ZIO_PAGE) {
			if (!zio_uffd_copy(p, src + (p - a), ZIO_PAGE) || errno == EEXIST)
				continue;
			/* Second mechanism: a spare page filled and moved in. */
			if (zio_arena_page_in(p, src + (p - a)))
				err = -EIO;
		}
	}
	if (err)
		return err;
	pr_trace("materialize [%#lx,%#lx) from o%llu+%#llx (cause %d, site %#lx)",
		 (unsigned long)a, (unsigned long)b, (unsigned long long)o->id,
		 (unsigned long long)off, zio_mat_cause, (unsigned long)r->site);
	ZIO_STAT_ADD(materialized_pages, len / ZIO_PAGE);
	ZIO_PROBE4(materialize, a, len / ZIO_PAGE, zio_mat_cause ? zio_mat_cause : ZIO_MAT_LOAD,
		   r->site);
	zio_policy_touched(r->site, zio_mat_cause == ZIO_MAT_LOAD || zio_mat_cause == ZIO_MAT_STORE,
			   len / ZIO_PAGE);
	zio_index_cut(&zio.ix, r, a, b);
	return 0;
}

/* ------------------------------------------------------------ retire */

ZIO_HIDDEN void zio_origin_unprotect(struct zio_origin *o)
{
	if (o->wp_hi > o->wp_lo)
		zio_uffd_wp(o->wp_lo, o->wp_hi, false);
	o->wp_lo = o->wp_hi = 0;
}

/*
 * The app bytes of original o are about to change (or die) while aliases
 * still read them: give those aliases a shadow to read from instead.
 * With content_dead the pages themselves are moved into the shadow
 * (no copy; the original's range is left absent), else they are copied.
 * Returns 1 when the pages moved, 0 when they were copied (or nothing
 * depended on them); on failure every dependant is materialised instead,
 * and only if that fails too -errno.
 */
ZIO_HIDDEN int zio_retire(struct zio_origin *o, bool content_dead)
{
	struct zio_region *r = o->region;
	struct zio_origin *fresh;
	uintptr_t ilo, ihi, sh = 0;
	uint64_t len;
	bool moved_pages = false;

	if (!r || o->kind != ZIO_ORIGIN_APP)
		return 0;
	if (!o->ref_pages) {
		zio_origin_unprotect(o);
		return 0;
	}
	ilo = pg_up(r->node.start);
	ihi = pg_dn(r->node.end);
	len = ihi - ilo;
	fresh = zio_origin_new(&zio.ix);
	if (fresh && zio_app_present(ilo, len)) {
		/* Moving needs the interior registered as one range (a move
		 * never crosses a VMA boundary, and moving back needs a
		 * registered destination). */
		if (content_dead && zio.have_move && !zio_uffd_register(ilo, ihi)) {
			sh = zio_arena_shadow_take(ilo, len);
			if (sh)
				ZIO_STAT_ADD(retired_move, 1);
		}
		moved_pages = sh != 0;
		if (!sh) {
			content_dead = false;
			sh = zio_arena_shadow_fill(ilo, len);
			if (sh)
				ZIO_STAT_ADD(retired_copy, 1);
		}
	}
	if (!sh) {
		/* Fallback: give every dependant its bytes now. */
		int err = 0;

		int cause = zio_mat_cause;

		if (fresh)
			zio_origin_put_if_unused(&zio.ix, fresh);
		zio_fallback(ZIO_FB_ALLOC);
		pr_trace("retire o%llu: no shadow, materialising its %llu alias pages",
			 (unsigned long long)o->id, (unsigned long long)o->ref_pages);
		zio_mat_cause = ZIO_MAT_WRITE_ORIG;
		while (o->aliases && !err) {
			struct zio_region *a = o->aliases;

			err = zio_materialize(a, a->node.start, a->node.end);
		}
		zio_mat_cause = cause;
		if (!err)
			zio_origin_unprotect(o);
		return err;
	}

	/* The region keeps its bytes under a fresh origin (no dependants);
	 * the old origin object, with all its aliases, becomes the shadow. */
	zio_policy_origin_end(o, true);
	*fresh = (struct zio_origin){
		.id = fresh->id,
		.kind = ZIO_ORIGIN_APP,
		.in_site = o->in_site,
		.base = o->base,
		.len = o->len,
		.region = r,
		.wp_lo = content_dead ? 0 : o->wp_lo,
		.wp_hi = content_dead ? 0 : o->wp_hi,
		.born_ns = o->born_ns,
	};
	r->o = fresh;
	o->region = NULL;
	o->kind = ZIO_ORIGIN_SHADOW;
	o->base = sh + o->base - ilo;
	o->shadow_lo = sh;
	o->shadow_hi = sh + len;
	o->wp_lo = o->wp_hi = 0;
	pr_trace("retire o%llu [%#lx,%#lx) -> shadow %#lx (%s; %llu alias pages; app keeps o%llu)",
		 (unsigned long long)o->id, (unsigned long)ilo, (unsigned long)ihi,
		 (unsigned long)sh, moved_pages ? "moved" : "copied",
		 (unsigned long long)o->ref_pages, (unsigned long long)fresh->id);
	ZIO_PROBE3(retire, o->id, len, moved_pages);
	for (struct zio_region *al = o->aliases; al; al = al->onext)
		zio_probe_region(al);  /* they now read from the shadow */
	return moved_pages ? 1 : 0;
}

/* ------------------------------------------------------------ vacant */

/*
 * Give pages [a, b) (page aligned, registered, absent) populated spare
 * pages.  What cannot get one is unregistered: absent, registered pages
 * would each cost a trip through our fault thread when the program
 * touches them, the kernel's own fault path gives it a zero page.
 */
static void refill(uintptr_t a, uintptr_t b)
{
	uint64_t got = zio_arena_refill(a, b);

	if (a + got < b)
		zio_uffd_unregister(a + got, b);
}

/*
 * Vacant pages: a freed alias's pages stay absent and registered, with
 * no byte on them anyone may read (they were the freed block's), so that
 * the next copy into them (an allocator handing the same buffer out
 * again: redis's reply blocks) aliases them without parking, and no
 * refill is paid at the free.  Whatever else comes first takes pages
 * back: a copy that is not elided or an input (zio_prepare_range), the
 * program's own touch (a fault: zio_vacant_fill of the whole extent, at
 * most VACANT_FILL_MAX pages around it), an unmap (zio_uffd_unregister).
 */
#define VACANT_FILL_MAX (1u << 20)

ZIO_HIDDEN void zio_vacant_fill(uintptr_t a, uintptr_t b)
{
	struct zio_node *n;

	while (a < b && (n = zio_tree_first_overlap(&zio.vacant.t, a, b))) {
		uintptr_t lo = n->start > a ? n->start : a;
		uintptr_t hi = n->end < b ? n->end : b;

		zio_extents_del(&zio.vacant, lo, hi);
		pr_trace("vacant [%#lx,%#lx) refilled", (unsigned long)lo, (unsigned long)hi);
		refill(lo, hi);
		a = hi;
	}
}

ZIO_HIDDEN bool zio_vacant_touched(uintptr_t addr)
{
	struct zio_node *n = zio_tree_floor(&zio.vacant.t, addr);
	uintptr_t lo, hi;

	if (!n || n->end <= addr)
		return false;
	lo = n->start;
	hi = n->end;
	if (hi - lo > VACANT_FILL_MAX) {
		lo = addr - lo > VACANT_FILL_MAX / 2 ? addr - VACANT_FILL_MAX / 2 : lo;
		hi = hi - lo > VACANT_FILL_MAX ? lo + VACANT_FILL_MAX : hi;
	}
	ZIO_STAT_ADD(vacant_faults, 1);
	zio_policy_vacant_touched();
	zio_vacant_fill(lo, hi);
	return true;
}

/* ------------------------------------------------------------ prepare */

/* Drop alias pages [a, b) of r, whose contents no longer matter.  Freed
 * (`released`), they become vacant or get populated pages back, as the
 * policy says; unmapped, they are gone. */
static void alias_drop(struct zio_region *r, uintptr_t a, uintptr_t b, bool released)
{
	bool vacate = released && zio_policy_vacate();

	zio_policy_alias_end(r->site, (b - a) / ZIO_PAGE, true);
	pr_trace("drop alias [%#lx,%#lx) of o%llu (%s)", (unsigned long)a, (unsigned long)b,
		 (unsigned long long)r->o->id,
		 !released ? "unmapped" : vacate ? "released, vacant" : "released");
	zio_index_cut(&zio.ix, r, a, b);
	if (!released)
		return;
	if (vacate && !zio_extents_add(&zio.vacant, a, b)) {
		ZIO_STAT_ADD(vacated_pages, (b - a) / ZIO_PAGE);
		return;
	}
	refill(a, b);
}

/* One page of alias only partly inside the range being changed: its
 * bytes outside the range must survive an overwrite. */
static int prep_partial(uintptr_t p, enum zio_prep how)
{
	struct zio_region *r = zio_region_at(&zio.ix, p);

	if (!r || r->type != ZIO_R_ALIAS)
		return 0;
	zio_mat_cause = how == ZIO_PREP_INPUT ? ZIO_MAT_INPUT : ZIO_MAT_OVERWRITE;
	if (how == ZIO_PREP_OVERWRITE || how == ZIO_PREP_INPUT)
		return zio_materialize(r, p, p + ZIO_PAGE);
	return 0;
}

/* Alias pages [x, y) wholly inside the range being changed. */
static int prep_full(uintptr_t x, uintptr_t y, enum zio_prep how)
{
	struct zio_region *r = zio_region_at(&zio.ix, x);

	if (!r || r->type != ZIO_R_ALIAS)
		return 0;
	if (y > r->node.end)
		y = r->node.end;
	zio_mat_cause = how == ZIO_PREP_OVERWRITE ? ZIO_MAT_OVERWRITE : ZIO_MAT_INPUT;
	switch (how) {
	case ZIO_PREP_INPUT:
		/* The input may be short: whatever it does not overwrite
		 * must still read as the alias did. */
		return zio_materialize(r, x, y);
	case ZIO_PREP_OVERWRITE:
		/* A copy is about to write these pages, outside the lock.  Until
		 * it does, another thread may read them and must see the old
		 * bytes (as it would under a plain memcpy), not whatever spare
		 * pages held. */
		return zio_materialize(r, x, y);
	case ZIO_PREP_RELEASE:
		alias_drop(r, x, y, true);
		return 0;
	case ZIO_PREP_UNMAP:
		alias_drop(r, x, y, false);
		return 0;
	}
	return 0;
}

static int prep_orig(struct zio_region *r, uintptr_t a, uintptr_t b, enum zio_prep how)
{
	struct zio_origin *o = r->o;
	uintptr_t lo = r->node.start > a ? r->node.start : a;
	uintptr_t hi = r->node.end < b ? r->node.end : b;
	int err;

	if (o->pins) {
		/* Read by another thread right now (the callers waited for that
		 * to end, so this is a safety net): leave it as it is, protected;
		 * a store into it waits in the fault handler. */
		pr_trace("original o%llu is pinned: left for its write fault",
			 (unsigned long long)o->id);
		return 0;
	}
	if (o->ref_pages) {
		bool whole = a <= pg_up(r->node.start) && b >= pg_dn(r->node.end);
		bool dead = (how == ZIO_PREP_RELEASE || how == ZIO_PREP_UNMAP) && whole;

		err = zio_retire(o, dead);
		if (err < 0)
			return err;
		o = r->o;
		if (err == 1 && how == ZIO_PREP_RELEASE) {
			/* Its pages went to the shadow: the allocator gets
			 * populated pages back. */
			uintptr_t ilo = pg_up(r->node.start), ihi = pg_dn(r->node.end);
			if (ilo < ihi)
				refill(ilo, ihi);
		}
	}
	pr_trace("original o%llu ends at [%#lx,%#lx) (prep %d)", (unsigned long long)o->id,
		 (unsigned long)lo, (unsigned long)hi, how);
	if (how == ZIO_PREP_UNMAP)
		o->wp_lo = o->wp_hi = 0;
	else
		zio_origin_unprotect(o);
	zio_index_cut(&zio.ix, r, lo, hi);
	return 0;
}

ZIO_HIDDEN int zio_prepare_range(uintptr_t a, uintptr_t b, enum zio_prep how)
{
	uintptr_t cur = a;
	int err = 0;

	/* Vacant pages about to be written get pages first (a fault each
	 * would cost more); freed again they stay vacant; unmapped, the
	 * caller's unregister forgets them. */
	if (zio.vacant.bytes && (how == ZIO_PREP_OVERWRITE || how == ZIO_PREP_INPUT))
		zio_vacant_fill(pg_dn(a), pg_up(b));

	while (cur < b && !err) {
		struct zio_region *r = zio_region_first_overlap(&zio.ix, cur, b);
		uintptr_t lo, hi, flo, fhi;

		if (!r)
			break;
		lo = r->node.start > cur ? r->node.start : cur;
		hi = r->node.end < b ? r->node.end : b;
		if (r->type == ZIO_R_ORIG) {
			err = prep_orig(r, a, b, how);
			cur = hi;
			continue;
		}
		/* Alias regions are page aligned; only a or b can cut a page. */
		flo = pg_up(lo);
		fhi = pg_dn(hi);
		if (flo > fhi) {
			err = prep_partial(pg_dn(lo), how);
		} else {
			if (lo < flo)
				err = prep_partial(pg_dn(lo), how);
			if (!err && flo < fhi)
				err = prep_full(flo, fhi, how);
			if (!err && fhi < hi)
				err = prep_partial(fhi, how);
		}
		cur = pg_up(hi);
	}
	return err;
}

ZIO_HIDDEN int zio_materialize_origin(struct zio_origin *o, int cause)
{
	int err = 0, saved = zio_mat_cause;

	zio_mat_cause = cause;
	while (o->aliases && !err) {
		struct zio_region *a = o->aliases;

		err = zio_materialize(a, a->node.start, a->node.end);
	}
	zio_mat_cause = saved;
	return err;
}

ZIO_HIDDEN void zio_materialize_all(void)
{
	struct zio_node *n;

	zio_mat_cause = ZIO_MAT_FORK;
	for (;;) {
		struct zio_region *r = NULL;

		for (n = zio_tree_first(&zio.ix.regions); n; n = zio_tree_after(&zio.ix.regions, n->start))
			if (((struct zio_region *)n)->type == ZIO_R_ALIAS) {
				r = (struct zio_region *)n;
				break;
			}
		if (!r)
			return;
		if (zio_materialize(r, r->node.start, r->node.end))
			zio_index_cut(&zio.ix, r, r->node.start, r->node.end);
	}
}
