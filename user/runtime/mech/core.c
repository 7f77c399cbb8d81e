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
#include "probes.h"

ZIO_HIDDEN struct zio_state zio = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.unpinned = PTHREAD_COND_INITIALIZER,
	.uffd = -1,
	.wake_fd = -1,
};
ZIO_HIDDEN struct zio_stats zio_stats;
ZIO_HIDDEN _Atomic int zio_active;
ZIO_HIDDEN _Atomic uint64_t zio_live_regions;
ZIO_HIDDEN _Atomic uint64_t zio_live_aliases;
ZIO_HIDDEN __thread int zio_in_runtime __attribute__((tls_model("initial-exec")));
ZIO_HIDDEN __thread int zio_mat_cause __attribute__((tls_model("initial-exec")));

ZIO_HIDDEN void zio_fallback(int reason)
{
	ZIO_STAT_ADD(fallbacks, 1);
	switch (reason) {
	case ZIO_FB_REGISTER: ZIO_STAT_ADD(fb_register, 1); break;
	case ZIO_FB_MOVE:     ZIO_STAT_ADD(fb_move, 1); break;
	case ZIO_FB_COPY:     ZIO_STAT_ADD(fb_copy, 1); break;
	case ZIO_FB_WP:       ZIO_STAT_ADD(fb_wp, 1); break;
	case ZIO_FB_ALLOC:    ZIO_STAT_ADD(fb_alloc, 1); break;
	case ZIO_FB_CAP:      ZIO_STAT_ADD(fb_cap, 1); break;
	default: break;
	}
	ZIO_PROBE1(fallback, reason);
}

static bool warned_lost;

ZIO_HIDDEN uint64_t zio_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * The runtime lock.  Asynchronous signals that arrive while a thread
 * holds it are deferred by our handler wrapper (signal.c) until
 * zio_unlock: the depth is raised before the mutex is taken, so no
 * program handler can run on a thread that holds the lock.
 */
ZIO_HIDDEN void zio_lock(sigset_t *old)
{
	(void)old;
	zio_lock_depth++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pthread_mutex_lock(&zio.lock);
	zio_in_runtime++;
}

ZIO_HIDDEN void zio_unlock(const sigset_t *old)
{
	(void)old;
	/* Reports read while an ioctl waited are handled before anyone else
	 * may look at the index. */
	if (unlikely(zio_uffd_has_pending()))
		zio_uffd_process_pending();
	atomic_store_explicit(&zio_live_regions, zio.ix.n_orig + zio.ix.n_alias,
			      memory_order_release);
	atomic_store_explicit(&zio_live_aliases, zio.ix.n_alias, memory_order_release);
	zio_in_runtime--;
	pthread_mutex_unlock(&zio.lock);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	zio_defer_end();
}

/* Leave a deferral period (lock or pins): run the handlers that waited. */
ZIO_HIDDEN void zio_defer_end(void)
{
	if (--zio_lock_depth == 0 && unlikely(zio_signals_pending()))
		zio_signals_flush();
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
		origin_unwp(o);
		return 0;
	}
	ilo = pg_up(r->node.start);
	ihi = pg_dn(r->node.end);
	len = ihi - ilo;
	fresh = zio_origin_new(&zio.ix);
	if (fresh && app_present(ilo, len)) {
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
			origin_unwp(o);
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

/* ------------------------------------------------------------ prepare */

/* Drop alias pages [a, b) of r, whose contents no longer matter, and give
 * the program populated pages back when `refill` (else they stay absent
 * and read as zero). */
static void alias_drop(struct zio_region *r, uintptr_t a, uintptr_t b, bool refill)
{
	zio_policy_alias_end(r->site, (b - a) / ZIO_PAGE, true);
	pr_trace("drop alias [%#lx,%#lx) of o%llu (%s)", (unsigned long)a, (unsigned long)b,
		 (unsigned long long)r->o->id, refill ? "released" : "unmapped");
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
			uint64_t got = ilo < ihi ? zio_arena_refill(ilo, ihi) : 0;

			if (ilo + got < ihi)
				zio_uffd_unregister(ilo + got, ihi);
		}
	}
	pr_trace("original o%llu ends at [%#lx,%#lx) (prep %d)", (unsigned long long)o->id,
		 (unsigned long)lo, (unsigned long)hi, how);
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

/* ------------------------------------------------------------ input */

/*
 * Give absent registered pages [x, y), about to be written by an input,
 * populated memory: spare pages first; what spare cannot cover gets the
 * zero page, so the kernel's writes take ordinary copy-on-write faults
 * instead of a round trip through our fault thread for each page.
 */
static void refill_for_input(uintptr_t x, uintptr_t y)
{
	uint64_t got = zio_arena_refill(x, y);

	if (x + got < y)
		zio_uffd_zeropage(x + got, y - (x + got));
}

/*
 * Pages [x, y) (absent, registered) get the bytes of origin o from ooff:
 * a spare page filled and moved in, else UFFDIO_COPY.  0 or -errno.
 */
static int fill_from_origin(uintptr_t x, uintptr_t y, struct zio_origin *o, uint64_t ooff)
{
	uintptr_t src = zio_origin_addr(o, ooff);

	for (uintptr_t p = x; p < y; p += ZIO_PAGE)
		if (zio_arena_page_in(p, src + (p - x)) &&
		    zio_uffd_copy(p, src + (p - x), ZIO_PAGE) && errno != EEXIST)
			return -errno;
	ZIO_STAT_ADD(materialized_pages, (y - x) / ZIO_PAGE);
	ZIO_PROBE4(materialize, x, (y - x) / ZIO_PAGE, ZIO_MAT_INPUT, 0);
	return 0;
}

/*
 * Remember that [lo, hi) must read as origin o from ooff should the
 * input not overwrite it.  The origin is held by counting the pages as
 * references (not a pin: a pin would make a store into the original
 * wait for a possibly blocking input; a reference makes that store
 * retire the original to a shadow instead).
 */
static int add_restore(struct zio_restore *rs, int *n, int max, uintptr_t lo, uintptr_t hi,
		       struct zio_origin *o, uint64_t ooff)
{
	if (*n == max)
		return -1;
	o->ref_pages += (hi - lo) / ZIO_PAGE;
	rs[(*n)++] = (struct zio_restore){ lo, hi, o, ooff };
	return 0;
}

/*
 * Alias pages [x, y) of r, which the coming input is expected to
 * overwrite whole: drop them and give the program populated pages to
 * receive into (moving spare pages in costs a fraction of faulting the
 * alias pages in).  0, or -errno when they had to be materialised and
 * that failed.
 */
static int detach_alias(struct zio_region *r, uintptr_t x, uintptr_t y,
			struct zio_restore *rs, int *nrs, int max)
{
	if (add_restore(rs, nrs, max, x, y, r->o, r->ooff + (x - r->node.start)))
		return zio_materialize(r, x, y);
	pr_trace("input detaches [%#lx,%#lx) from o%llu+%#llx", (unsigned long)x, (unsigned long)y,
		 (unsigned long long)r->o->id, (unsigned long long)(r->ooff + (x - r->node.start)));
	zio_index_cut(&zio.ix, r, x, y);
	refill_for_input(x, y);
	return 0;
}

/*
 * Original r has dependants and an input is expected to overwrite
 * [a, hi) of it.  Retire it by moving its pages into a shadow (no copy).
 * Its interior pages wholly inside the input get spare pages to receive
 * into; partly covered ones get their bytes back at once; the others
 * become aliases of the shadow, so what the input does not overwrite
 * still reads as before.  Returns 0, or -1 if nothing was moved (r is
 * unchanged or was retired by copy).
 */
static int retire_for_input(struct zio_region *r, uintptr_t a, uintptr_t hi,
			    struct zio_restore *rs, int *nrs, int max, uintptr_t site,
			    bool redirect)
{
	struct zio_origin *o = r->o;
	uintptr_t ilo = pg_up(r->node.start), ihi = pg_dn(r->node.end);
	uintptr_t flo = pg_up(a) > ilo ? pg_up(a) : ilo;
	uintptr_t fhi = pg_dn(hi) < ihi ? pg_dn(hi) : ihi;
	uintptr_t first, last, hp = 0, tp = 0;
	uint64_t now = zio_now_ns(), off_ilo;

	if (flo >= fhi || (!redirect && *nrs == max) || !zio.have_move || o->pins)
		return -1;
	off_ilo = ilo - (r->node.start - r->ooff);
	pr_trace("input into [%#lx,%#lx) retires o%llu (%s)", (unsigned long)a, (unsigned long)hi,
		 (unsigned long long)o->id, redirect ? "redirect" : "restore");
	if (zio_retire(o, true) != 1)
		return -1;
	/* o now reads from the shadow; r holds a fresh origin without
	 * dependants; r's interior pages are absent. */
	zio_index_cut(&zio.ix, r, ilo, ihi);
	if ((a & (ZIO_PAGE - 1)) && pg_dn(a) >= ilo)
		hp = pg_dn(a);
	if ((hi & (ZIO_PAGE - 1)) && pg_dn(hi) < ihi && pg_dn(hi) != hp)
		tp = pg_dn(hi);
	first = hp ? hp : flo;
	last = tp ? tp + ZIO_PAGE : fhi;
	if (hp && fill_from_origin(hp, hp + ZIO_PAGE, o, off_ilo + (hp - ilo)))
		zio_index_add_alias(&zio.ix, hp, hp + ZIO_PAGE, o, off_ilo + (hp - ilo), site, now);
	if (tp && fill_from_origin(tp, tp + ZIO_PAGE, o, off_ilo + (tp - ilo)))
		zio_index_add_alias(&zio.ix, tp, tp + ZIO_PAGE, o, off_ilo + (tp - ilo), site, now);
	if (ilo < first)
		zio_index_add_alias(&zio.ix, ilo, first, o, off_ilo, site, now);
	if (last < ihi)
		zio_index_add_alias(&zio.ix, last, ihi, o, off_ilo + (last - ilo), site, now);
	/* A redirected input re-aliases what it receives after the call (and
	 * what it does not receive reads as before). */
	if (redirect || add_restore(rs, nrs, max, flo, fhi, o, off_ilo + (flo - ilo)))
		zio_index_add_alias(&zio.ix, flo, fhi, o, off_ilo + (flo - ilo), site, now);
	else
		refill_for_input(flo, fhi);
	zio_origin_put_if_unused(&zio.ix, o);
	return 0;
}

/*
 * More data may arrive between our look at the queue and the kernel's
 * copy; every alias page the kernel then writes costs a fault round trip
 * (tens of us here).  Preparing some slack beyond the expected length
 * costs at most a copy of the slack back (a few us) when it stays unused.
 */
#define INPUT_SLACK (64 * 1024)

ZIO_HIDDEN int zio_prepare_input(uintptr_t a, uint64_t len, uint64_t expect,
				 struct zio_restore *rs, int max, uintptr_t site)
{
	uintptr_t b = a + len, cur = a, hi;
	int nrs = 0;

	zio_mat_cause = ZIO_MAT_INPUT;
	if (expect)
		expect += INPUT_SLACK;
	hi = a + (expect < len ? expect : len);

	while (cur < b) {
		struct zio_region *r = zio_region_first_overlap(&zio.ix, cur, b);
		uintptr_t lo, rhi;

		if (!r)
			break;
		lo = r->node.start > cur ? r->node.start : cur;
		rhi = r->node.end < b ? r->node.end : b;
		if (r->type == ZIO_R_ORIG) {
			if (r->o->pins) {
				/* being read (see prep_orig): its write fault waits */
				cur = rhi;
				continue;
			}
			if (r->o->ref_pages) {
				if (!retire_for_input(r, a, hi, rs, &nrs, max, site, false))
					continue;   /* r changed shape: look again */
				if (lo >= hi) {
					/* Not expected to be written: should the kernel
					 * write after all, the fault retires it. */
					cur = rhi;
					continue;
				}
				if (zio_retire(r->o, false) < 0)
					return nrs;
			}
			origin_unwp(r->o);
			zio_index_cut(&zio.ix, r, lo, rhi);
			cur = rhi;
			continue;
		}
		/* an alias (page aligned) */
		{
			uintptr_t x = pg_dn(lo), y = pg_up(rhi), z;

			if (x >= hi) {
				cur = rhi;
				continue;
			}
			if (x < a || x + ZIO_PAGE > hi) {
				/* partly overwritten page: keep its other bytes */
				if (zio_materialize(r, x, x + ZIO_PAGE))
					return nrs;
				cur = x + ZIO_PAGE;
				continue;
			}
			z = pg_dn(hi) < y ? pg_dn(hi) : y;
			if (detach_alias(r, x, z, rs, &nrs, max))
				return nrs;
			cur = z;
		}
	}
	return nrs;
}

/*
 * After the input wrote n bytes at a: what a short input did not
 * overwrite reads as before again (copied back, or re-aliased where the
 * page is absent), and the held origins are let go.
 */
ZIO_HIDDEN void zio_finish_input(uintptr_t a, uint64_t n, struct zio_restore *rs, int nrs)
{
	uint64_t now = zio_now_ns();

	for (int i = 0; i < nrs; i++) {
		struct zio_restore *e = &rs[i];
		uintptr_t from = a + n > e->lo ? a + n : e->lo;

		e->o->ref_pages -= (e->hi - e->lo) / ZIO_PAGE;
		if (from < e->hi)
			pr_trace("input short: [%#lx,%#lx) reads o%llu again", (unsigned long)from,
				 (unsigned long)e->hi, (unsigned long long)e->o->id);
		while (from < e->hi) {
			uintptr_t pe = pg_dn(from) + ZIO_PAGE;
			uint64_t off = e->ooff + (from - e->lo);

			if (app_present(from, 1)) {
				zio_raw_copy((void *)from, (const void *)zio_origin_addr(e->o, off),
					     pe - from);
			} else if (!(from & (ZIO_PAGE - 1)) &&
				   !zio_region_first_overlap(&zio.ix, from, pe)) {
				zio_index_add_alias(&zio.ix, from, pe, e->o, off, 0, now);
			}
			from = pe;
		}
		zio_origin_put_if_unused(&zio.ix, e->o);
	}
}

/* ------------------------------------------------------------ redirect */

/* Whole pages [lo, hi) are alias pages (absent, each in some alias). */
static bool all_alias(uintptr_t lo, uintptr_t hi)
{
	while (lo < hi) {
		struct zio_region *r = zio_region_first_overlap(&zio.ix, lo, hi);

		if (!r || r->type != ZIO_R_ALIAS || r->node.start > lo)
			return false;
		lo = r->node.end;
	}
	return true;
}

/*
 * A pooled server receives into the same buffer while copies of what it
 * received last still alias it.  The plain way costs two page moves a
 * page (the buffer's pages into a shadow, spare pages back in to receive
 * into) and write protection of the new original.  Receiving into a
 * spare arena extent instead costs neither: the buffer's whole pages
 * simply become aliases of it, as the copies of it are.
 *
 * Set up when the whole pages the input is expected to write (exp: what
 * is queued) are alias pages already, or an original with dependants
 * (retired into aliases of its shadow first).  Any present page there
 * would have to be copied into, and the copies of the buffer would then
 * materialise and park it stage after stage (echo, pooled, 4 copies:
 * 6,600 instead of 8,900 replies/s when present pages were let in).
 * The input itself may write all of len: the extent covers it, and the
 * kernel never writes into the buffer's alias pages (each such write
 * would cost a fault round trip).  Then the caller receives into rd->sb,
 * and zio_redirect_end puts the bytes in place.  False: receive as usual.
 * Called with the lock held.
 */
ZIO_HIDDEN bool zio_redirect_begin(struct zio_redirect *rd, uintptr_t a, uint64_t len,
				   uintptr_t site, uint64_t exp)
{
	uintptr_t lo = pg_up(a), hi = pg_dn(a + (exp < len ? exp : len)), sp;
	uint64_t span = pg_up(a + len) - pg_dn(a);
	struct zio_region *r;

	if (!zio.have_move || hi < lo + REDIRECT_MIN_PAGES * ZIO_PAGE ||
	    !zio_policy_allow(site, len))
		return false;
	r = zio_region_first_overlap(&zio.ix, lo, hi);
	if (!r || (r->type == ZIO_R_ORIG &&
		   !(r->o->kind == ZIO_ORIGIN_APP && r->o->ref_pages && !r->o->pins)))
		return false;
	/* One populated spare extent, as the dead shadows of earlier inputs
	 * left it: moving pages together would cost what we save. */
	if (zio_extents_take(&zio.spare, span, span, &sp) != span)
		return false;
	if (r->type == ZIO_R_ORIG && retire_for_input(r, a, hi, NULL, NULL, 0, site, true)) {
		zio_extents_add(&zio.spare, sp, sp + span);
		return false;
	}
	if (!all_alias(lo, hi)) {
		zio_extents_add(&zio.spare, sp, sp + span);
		return false;
	}
	pr_trace("redirect input [%#lx,+%llu) (expect %llu) into %#lx", (unsigned long)a,
		 (unsigned long long)len, (unsigned long long)exp, (unsigned long)sp);
	*rd = (struct zio_redirect){ .a = a, .len = len, .sp = sp, .span = span,
				     .sb = sp + (a & (ZIO_PAGE - 1)), .site = site };
	return true;
}

/*
 * The input wrote n bytes (or failed: n <= 0) at rd->sb.  The whole
 * pages of [a, a+n) that are alias pages become aliases of the received
 * bytes; every other byte (the partial pages at either end, pages a
 * racing thread populated meanwhile) is made safe to overwrite under the
 * lock and copied in after it (stores into app memory must not happen
 * under the lock: they may fault).  Takes and drops the lock itself.
 */
ZIO_HIDDEN void zio_redirect_end(struct zio_redirect *rd, ssize_t n)
{
	struct { uintptr_t lo, hi; } cp[REDIRECT_MAX_COPIES];
	uintptr_t a = rd->a, e = a + (n > 0 ? (uint64_t)n : 0), ilo = pg_up(a), ihi = pg_dn(e);
	struct zio_origin *o = NULL;
	uint64_t now = zio_now_ns(), aliased = 0;
	int ncp = 0;
	sigset_t old;

	zio_lock(&old);
	zio_wait_unpinned(a, e);
	if (n <= 0) {
		zio_extents_add(&zio.spare, rd->sp, rd->sp + rd->span);
		zio_unlock(&old);
		return;
	}
	if (ihi > ilo && (o = zio_origin_new(&zio.ix))) {
		uintptr_t used = pg_up(rd->sb + (uint64_t)n);

		*o = (struct zio_origin){ .id = o->id, .kind = ZIO_ORIGIN_SHADOW, .base = rd->sb,
					  .len = (uint64_t)n, .shadow_lo = rd->sp, .shadow_hi = used,
					  .in_site = rd->site, .born_ns = now };
		o->pins++;   /* ours until the bytes are copied in */
		/* what the input did not reach is spare again (still populated) */
		if (used < rd->sp + rd->span)
			zio_extents_add(&zio.spare, used, rd->sp + rd->span);
	}
	if (!o)
		ilo = ihi = e;   /* nothing to alias: copy it all */
	/* [a, ilo) and [ihi, e) are copied; the interior's alias pages are
	 * re-aliased, the rest of it copied. */
	cp[ncp++] = (typeof(cp[0])){ a, ilo < e ? ilo : e };
	for (uintptr_t cur = ilo; cur < ihi;) {
		struct zio_region *r = zio_region_first_overlap(&zio.ix, cur, ihi);
		uintptr_t end = !r ? ihi : r->node.start > cur ? r->node.start :
			r->node.end < ihi ? r->node.end : ihi;

		if (r && r->node.start <= cur && r->type == ZIO_R_ALIAS) {
			zio_index_cut(&zio.ix, r, cur, end);
			if (zio_index_add_alias(&zio.ix, cur, end, o, cur - a, rd->site, now)) {
				aliased += end - cur;
				cur = end;
				continue;
			}
			/* absent now and no alias: its bytes come by copy below
			 * (a store into it takes the kernel's own fault) */
		}
		if (ncp >= REDIRECT_MAX_COPIES - 2) {
			/* too fragmented: copy the rest as one */
			cp[ncp++] = (typeof(cp[0])){ cur, ihi };
			break;
		}
		if (ncp && cp[ncp - 1].hi == cur)
			cp[ncp - 1].hi = end;
		else
			cp[ncp++] = (typeof(cp[0])){ cur, end };
		cur = end;
	}
	if (ihi >= ilo && ihi < e)
		cp[ncp++] = (typeof(cp[0])){ ihi, e };
	for (int i = 0; i < ncp; i++)
		if (cp[i].lo < cp[i].hi && zio_region_first_overlap(&zio.ix, cp[i].lo, cp[i].hi))
			zio_prepare_range(cp[i].lo, cp[i].hi, ZIO_PREP_OVERWRITE);
	ZIO_STAT_ADD(inputs_redirected, 1);
	pr_trace("redirected [%#lx,+%zd) -> o%llu at %#lx: %llu bytes aliased, %d pieces copied",
		 (unsigned long)a, n, o ? (unsigned long long)o->id : 0ULL, (unsigned long)rd->sb,
		 (unsigned long long)aliased, ncp);
	ZIO_PROBE2(redirect, rd->site, aliased);
	if (aliased)
		zio_policy_redirected(rd->site, aliased);
	zio_unlock(&old);

	for (int i = 0; i < ncp; i++)
		if (cp[i].lo < cp[i].hi)
			zio_raw_copy((void *)cp[i].lo, (const void *)(rd->sb + (cp[i].lo - a)),
				     cp[i].hi - cp[i].lo);

	zio_lock(&old);
	if (o) {
		o->pins--;
		zio_origin_put_if_unused(&zio.ix, o);
	} else {
		zio_extents_add(&zio.spare, rd->sp, rd->sp + rd->span);
	}
	zio_unlock(&old);
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
	if (zio.pin_waiters)
		pthread_cond_broadcast(&zio.unpinned);
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

/* The first original overlapping [a, b) that is pinned, or NULL. */
static struct zio_origin *pinned_original(uintptr_t a, uintptr_t b)
{
	for (struct zio_region *r = zio_region_first_overlap(&zio.ix, a, b);
	     r && r->node.start < b; r = zio_region_next(&zio.ix, r))
		if (r->type == ZIO_R_ORIG && r->o->pins)
			return r->o;
	return NULL;
}

ZIO_HIDDEN bool zio_wait_unpinned(uintptr_t a, uintptr_t b)
{
	struct zio_origin *o;
	bool waited = false;

	while ((o = pinned_original(a, b))) {
		pr_trace("change of [%#lx,%#lx) waits for %u pins on o%llu", (unsigned long)a,
			 (unsigned long)b, o->pins, (unsigned long long)o->id);
		zio.pin_waiters++;
		pthread_cond_wait(&zio.unpinned, &zio.lock);
		zio.pin_waiters--;
		waited = true;
	}
	return waited;
}

/* ------------------------------------------------------------ faults */

ZIO_HIDDEN void zio_handle_wp_fault(uintptr_t addr)
{
	struct zio_region *r = zio_region_at(&zio.ix, addr);

	ZIO_STAT_ADD(wp_faults, 1);
	if (r && r->type == ZIO_R_ORIG && r->o->pins) {
		/* Another thread reads this original right now (an output or a
		 * copy, aliases or not): the store waits until it is done
		 * (zio_unpin).  With no room to remember it, the writer is woken
		 * still protected, and faults again. */
		pr_trace("write fault %#lx on o%llu waits for %u pins", (unsigned long)addr,
			 (unsigned long long)r->o->id, r->o->pins);
		if (zio.n_deferred < ZIO_MAX_DEFERRED)
			zio.deferred[zio.n_deferred++] = addr;
		else
			zio_uffd_wake(addr, ZIO_PAGE);
		return;
	}
	if (r && r->type == ZIO_R_ORIG && r->o->ref_pages) {
		struct zio_origin *o = r->o;

		pr_trace("write fault %#lx on o%llu (%llu alias pages): retire",
			 (unsigned long)addr, (unsigned long long)o->id,
			 (unsigned long long)o->ref_pages);
		/* On failure zio_retire has materialised what it could; the
		 * store goes ahead either way. */
		zio_retire(o, false);
	}
	else
		pr_trace("write fault %#lx: %s", (unsigned long)addr,
			 !r ? "no region" : r->type == ZIO_R_ORIG ? "original without aliases" :
			 "an alias");
	/* Nothing depends on the original any more: lift protection from all
	 * of it, so the program's next stores do not fault one by one. */
	if (r && r->type == ZIO_R_ORIG)
		origin_unwp(r->o);
	/* And always from the faulting page itself, which also wakes the
	 * writer: a protection bit left over from an earlier original (or a
	 * range we no longer track) must never leave a thread waiting. */
	zio_uffd_wp(addr, addr + ZIO_PAGE, false);
}

ZIO_HIDDEN void zio_handle_missing_fault(uintptr_t addr, bool write)
{
	struct zio_region *r = zio_region_at(&zio.ix, addr);
	int err;

	(void)write;
	if (r && r->type == ZIO_R_ALIAS) {
		/* Fault-around: a reader going through the alias page by page
		 * (a checksum, a compare) gets a growing window per fault, so a
		 * sequential pass costs a few round trips, not one per page. */
		uint32_t w = r->next_fault == addr && r->window ? r->window * 2 : 1;
		uintptr_t end;

		if (w > 64)
			w = 64;
		end = addr + (uintptr_t)w * ZIO_PAGE;
		if (end > r->node.end || end < addr)
			end = r->node.end;
		ZIO_STAT_ADD(missing_faults, 1);
		pr_trace("%s fault %#lx on alias of o%llu, %u pages", write ? "store" : "load",
			 (unsigned long)addr, (unsigned long long)r->o->id, w);
		zio_mat_cause = write ? ZIO_MAT_STORE : ZIO_MAT_LOAD;
		if (end > addr + ZIO_PAGE && !zio_materialize(r, addr, end)) {
			/* r still holds what follows the window (or is gone) */
			struct zio_region *t = zio_region_at(&zio.ix, end);

			if (t && t->type == ZIO_R_ALIAS) {
				t->next_fault = end;
				t->window = w;
			}
			return;
		}
		r->next_fault = addr + ZIO_PAGE;
		r->window = 1;
		for (int tries = 0; tries < 100; tries++) {
			/* Injected failures model transient ones: the retries of a
			 * faulting thread's page go through (a page a read-only
			 * mapping needs has no other way in than UFFDIO_COPY). */
			zio_fault_inject_off = tries > 0;
			err = zio_materialize(r, addr, addr + ZIO_PAGE);
			zio_fault_inject_off = false;
			if (!err)
				return;
			if (err == -EFAULT)
				break;
		}
		if (err != -EFAULT) {
			/* Could not produce the page now (out of memory...): never
			 * make one up.  The thread faults again and we try again. */
			zio_fallback(ZIO_FB_COPY);
			zio_uffd_wake(addr, ZIO_PAGE);
			return;
		}
		/* The origin is gone (an unmap we could not see coming): its
		 * bytes are lost; the page reads as zeros from now on. */
		zio_fallback(ZIO_FB_LOST);
		zio_index_cut(&zio.ix, r, addr, addr + ZIO_PAGE);
	}
	/* A registered page that is no alias: absent anonymous memory reads
	 * as zeros, exactly as without us. */
	ZIO_STAT_ADD(zero_faults, 1);
	pr_trace("fault %#lx on no alias: zero page", (unsigned long)addr);
	err = zio_uffd_zeropage(addr, ZIO_PAGE);
	if (!err)
		return;
	if (err != -EEXIST && err != -EAGAIN) {
		static const char zero[ZIO_PAGE] __attribute__((aligned(4096)));

		/* No zero page to be had: a copy of one does the same. */
		if (!zio_uffd_copy(addr, (uintptr_t)zero, ZIO_PAGE))
			return;
	}
	/* Present already (or being changed): the faulting thread retries. */
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
	pr_trace("kernel event [%#lx,%#lx)%s", (unsigned long)a, (unsigned long)b,
		 remap ? " moved" : " gone");
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

				zio_fallback(ZIO_FB_LOST);
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
