// SPDX-License-Identifier: MIT
/*
 * The mechanism shared by every room of the data path: the runtime
 * state and its lock, materialising alias pages, retiring originals,
 * making a range safe to change, and the fault handlers.
 *
 * Lock rules (they are what keeps the runtime free of deadlocks):
 *   - every entry into the index holds zio.lock with all signals blocked,
 *     so a handler can never touch an alias while its thread holds it;
 *   - while holding it we never touch memory that could fault into
 *     userfaultfd (alias pages, write-protected originals, registered
 *     holes): only origins and shadows, which are populated, and our
 *     own arena pages;
 *   - while holding it we never munmap/madvise/mremap registered memory
 *     (the kernel would wait for our fault thread, which needs the lock).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "zio_internal.h"

ZIO_HIDDEN struct zio_state zio = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.uffd = -1,
	.wake_fd = -1,
};
ZIO_HIDDEN struct zio_stats zio_stats;
ZIO_HIDDEN _Atomic int zio_active;
ZIO_HIDDEN _Atomic uint64_t zio_live_regions;
ZIO_HIDDEN _Atomic uint64_t zio_live_aliases;
ZIO_HIDDEN __thread int zio_in_runtime __attribute__((tls_model("initial-exec")));

static bool warned_lost;

ZIO_HIDDEN uint64_t zio_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

ZIO_HIDDEN void zio_lock(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
	pthread_mutex_lock(&zio.lock);
	zio_in_runtime++;
}

ZIO_HIDDEN void zio_unlock(const sigset_t *old)
{
	atomic_store_explicit(&zio_live_regions, zio.ix.n_orig + zio.ix.n_alias,
			      memory_order_release);
	atomic_store_explicit(&zio_live_aliases, zio.ix.n_alias, memory_order_release);
	zio_in_runtime--;
	pthread_mutex_unlock(&zio.lock);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* Are all pages of [a, a+len) present?  Guards every read of app memory
 * made under the lock: a hole there would fault into our own thread. */
static bool app_present(uintptr_t a, uint64_t len)
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
	    (o->kind == ZIO_ORIGIN_APP && !app_present(src, len))) {
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
	ZIO_STAT_ADD(materialized_pages, len / ZIO_PAGE);
	zio_policy_touched(r->site, len / ZIO_PAGE);
	zio_index_cut(&zio.ix, r, a, b);
	return 0;
}

/* ------------------------------------------------------------ retire */

static void origin_unwp(struct zio_origin *o)
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
 * Returns 0; on failure every dependant is materialised instead, and
 * only if that fails too -errno.
 */
ZIO_HIDDEN int zio_retire(struct zio_origin *o, bool content_dead)
{
	struct zio_region *r = o->region;
	struct zio_origin *fresh;
	uintptr_t ilo, ihi, sh = 0;
	uint64_t len;

	if (!r || o->kind != ZIO_ORIGIN_APP)
		return 0;
	if (!o->ref_pages) {
		origin_unwp(o);
		return 0;
	}
	ilo = pg_up(r->node.start);
	ihi = pg_dn(r->node.end);
	len = ihi - ilo;
	fresh = zio_origin_new(&zio.ix);
	if (fresh && app_present(ilo, len)) {
		if (content_dead) {
			uint64_t moved;

			sh = zio_arena_shadow_take(ilo, len, &moved);
			if (sh && moved < len &&
			    zio_uffd_copy(sh + moved, ilo + moved, len - moved)) {
				/* Put back what moved; copy the whole thing below. */
				uint64_t back;

				zio_uffd_move(ilo, sh, moved, false, &back);
				zio_arena_shadow_free(sh + back, sh + moved);
				sh = 0;
			}
			if (sh)
				ZIO_STAT_ADD(retired_move, 1);
		}
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

		if (fresh)
			zio_origin_put_if_unused(&zio.ix, fresh);
		ZIO_STAT_ADD(fallbacks, 1);
		ZIO_STAT_ADD(fb_alloc, 1);
		while (o->aliases && !err) {
			struct zio_region *a = o->aliases;

			err = zio_materialize(a, a->node.start, a->node.end);
		}
		if (!err)
			origin_unwp(o);
		return err;
	}

	/* The region keeps its bytes under a fresh origin (no dependants);
	 * the old origin object, with all its aliases, becomes the shadow. */
	*fresh = (struct zio_origin){
		.id = fresh->id,
		.kind = ZIO_ORIGIN_APP,
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
	return 0;
}

/* ------------------------------------------------------------ prepare */

/* Drop alias pages [a, b) of r, whose contents no longer matter, and give
 * the program populated pages back when `refill` (else they stay absent
 * and read as zero). */
static void alias_drop(struct zio_region *r, uintptr_t a, uintptr_t b, bool refill)
{
	zio_index_cut(&zio.ix, r, a, b);
	if (refill) {
		uint64_t got = zio_arena_refill(a, b);

		/* Absent, registered pages would each cost a trip through our
		 * fault thread when the allocator reuses them: hand the rest to
		 * the kernel's own fault path. */
		if (a + got < b)
			zio_uffd_unregister(a + got, b);
	}
}

/* One page of alias only partly inside the range being changed: its
 * bytes outside the range must survive an overwrite. */
static int prep_partial(uintptr_t p, enum zio_prep how)
{
	struct zio_region *r = zio_region_at(&zio.ix, p);

	if (!r || r->type != ZIO_R_ALIAS)
		return 0;
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
	switch (how) {
	case ZIO_PREP_INPUT:
		/* The input may be short: whatever it does not overwrite
		 * must still read as the alias did. */
		return zio_materialize(r, x, y);
	case ZIO_PREP_OVERWRITE:
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

	if (o->ref_pages) {
		bool whole = a <= pg_up(r->node.start) && b >= pg_dn(r->node.end);
		bool dead = (how == ZIO_PREP_RELEASE || how == ZIO_PREP_UNMAP) && whole;

		err = zio_retire(o, dead);
		if (err)
			return err;
		o = r->o;
		if (dead && how == ZIO_PREP_RELEASE) {
			/* Its pages went to the shadow: the allocator gets
			 * populated pages back. */
			uintptr_t ilo = pg_up(r->node.start), ihi = pg_dn(r->node.end);
			uint64_t got = ilo < ihi ? zio_arena_refill(ilo, ihi) : 0;

			if (ilo + got < ihi)
				zio_uffd_unregister(ilo + got, ihi);
		}
	}
	if (how == ZIO_PREP_UNMAP)
		o->wp_lo = o->wp_hi = 0;
	else
		origin_unwp(o);
	zio_index_cut(&zio.ix, r, lo, hi);
	return 0;
}

ZIO_HIDDEN int zio_prepare_range(uintptr_t a, uintptr_t b, enum zio_prep how)
{
	uintptr_t cur = a;
	int err = 0;

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

/* ------------------------------------------------------------ pins */

ZIO_HIDDEN void zio_unpin(struct zio_origin **pins, int n)
{
	sigset_t old;

	if (!n)
		return;
	zio_lock(&old);
	for (int i = 0; i < n; i++) {
		pins[i]->pins--;
		zio_origin_put_if_unused(&zio.ix, pins[i]);
	}
	/* Stores that waited for these readers may go now. */
	if (zio.n_deferred) {
		uintptr_t d[ZIO_MAX_DEFERRED];
		int nd = zio.n_deferred;

		zio_raw_copy(d, zio.deferred, sizeof(d[0]) * (size_t)nd);
		zio.n_deferred = 0;
		for (int i = 0; i < nd; i++)
			zio_handle_wp_fault(d[i]);
	}
	zio_unlock(&old);
}

/* ------------------------------------------------------------ faults */

ZIO_HIDDEN void zio_handle_wp_fault(uintptr_t addr)
{
	struct zio_region *r = zio_region_at(&zio.ix, addr);

	ZIO_STAT_ADD(wp_faults, 1);
	if (r && r->type == ZIO_R_ORIG && r->o->ref_pages) {
		struct zio_origin *o = r->o;

			if (o->pins && zio.n_deferred < ZIO_MAX_DEFERRED) {
			/* An output is reading this original right now: the store
			 * waits until it is done (zio_unpin). */
			zio.deferred[zio.n_deferred++] = addr;
			return;
		}
		if (!zio_retire(o, false)) {
			origin_unwp(r->o);
			return;
		}
	}
	if (r && r->type == ZIO_R_ORIG && r->o->wp_hi > r->o->wp_lo) {
		origin_unwp(r->o);
		return;
	}
	/* Not (or no longer) a protected original: lift protection from the
	 * page, which also wakes the writer. */
	zio_uffd_wp(addr, addr + ZIO_PAGE, false);
}

ZIO_HIDDEN void zio_handle_missing_fault(uintptr_t addr, bool write)
{
	struct zio_region *r = zio_region_at(&zio.ix, addr);
	int err;

	(void)write;
	if (r && r->type == ZIO_R_ALIAS) {
		ZIO_STAT_ADD(missing_faults, 1);
		for (int tries = 0; tries < 100; tries++) {
			err = zio_materialize(r, addr, addr + ZIO_PAGE);
			if (!err)
				return;
			if (err == -EFAULT)
				break;
		}
		/* The origin is gone (an unmap we could not see coming): the
		 * faulting thread must not wait forever. */
		zio_index_cut(&zio.ix, r, addr, addr + ZIO_PAGE);
	}
	/* A registered page that is no alias: absent anonymous memory reads
	 * as zeros, exactly as without us. */
	ZIO_STAT_ADD(zero_faults, 1);
	err = zio_uffd_zeropage(addr, ZIO_PAGE);
	if (err == -EEXIST || err == -EAGAIN)
		zio_uffd_wake(addr, ZIO_PAGE);
}

/*
 * The kernel tells us a registered range went away or moved, by a call
 * we did not see (raw syscalls, libc-internal calls).
 */
ZIO_HIDDEN void zio_handle_event_range(uintptr_t a, uintptr_t b, bool remap, uintptr_t to)
{
	struct zio_region *r;

	if (zio.arena_lo && a >= zio.arena_lo && b <= zio.arena_hi)
		return; /* our own trim */
	while ((r = zio_region_first_overlap(&zio.ix, a, b))) {
		if (remap && r->node.start >= a && r->node.end <= b) {
			/* The pages (and their registration) moved: so do we.
			 * Remove and re-insert under the new key. */
			uintptr_t delta = to - a;

			zio_tree_remove(&zio.ix.regions, &r->node);
			r->node.start += delta;
			r->node.end += delta;
			if (r->type == ZIO_R_ORIG) {
				r->o->base += delta;
				if (r->o->wp_hi > r->o->wp_lo) {
					r->o->wp_lo += delta;
					r->o->wp_hi += delta;
				}
			}
			zio_tree_insert(&zio.ix.regions, &r->node);
			/* mremap never overlaps old and new ranges: the region
			 * left [a, b) and the loop moves on. */
			continue;
		}
		if (r->type == ZIO_R_ORIG && r->o->ref_pages) {
			struct zio_origin *o = r->o;

			/* The bytes aliases depend on are gone before we could
			 * save them: those aliases read as zeros from now on. */
			if (!warned_lost) {
				warned_lost = true;
				pr_warn("an original with live aliases was unmapped behind "
					"the runtime's back (raw syscall?): aliases lost");
			}
			while (o->aliases) {
				struct zio_region *al = o->aliases;

				ZIO_STAT_ADD(fallbacks, 1);
				zio_index_cut(&zio.ix, al, al->node.start, al->node.end);
			}
			continue;
		}
		zio_index_cut(&zio.ix, r, a, b);
	}
	if (remap) {
		/* Registrations moved with the pages (EVENT_REMAP keeps them). */
		struct zio_node *n;
		uintptr_t moved[32][2];
		int nm = 0;

		while (nm < 32 && (n = zio_tree_first_overlap(&zio.registered.t, a, b))) {
			uintptr_t lo = n->start > a ? n->start : a;
			uintptr_t hi = n->end < b ? n->end : b;

			moved[nm][0] = lo - a + to;
			moved[nm][1] = hi - a + to;
			nm++;
			zio_extents_del(&zio.registered, lo, hi);
		}
		zio_extents_del(&zio.registered, a, b);
		for (int i = 0; i < nm; i++)
			zio_extents_add(&zio.registered, moved[i][0], moved[i][1]);
	}
}

ZIO_HIDDEN void zio_materialize_all(void)
{
	struct zio_node *n;

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
