// SPDX-License-Identifier: MIT
/*
 * Input: recv/read and friends.  Before the kernel writes into the
 * buffer, whatever in it others depend on is made safe; after, the bytes
 * received become an original that later copies may alias.
 *
 * "Safe" is cheap when we know how much the input will write: FIONREAD
 * (sockets, pipes) or the file size tells.  Pages the input will cover
 * whole lose their aliases (and an original's pages move into a shadow)
 * without any copy; the program gets populated spare pages to receive
 * into.  Beyond that, the kernel's own writes fault and are handled one
 * page at a time.  Should the input be shorter than expected (another
 * reader took the data), the bytes it did not write are put back.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/options.h"
#include "base/probes.h"
#include "base/real.h"
#include "mech/alias.h"
#include "mech/arena.h"
#include "mech/policy.h"
#include "mech/state.h"
#include "mech/uffd.h"
#include "path/input.h"

#define MAX_RESTORE 32

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
ZIO_HIDDEN int zio_retire_for_input(struct zio_region *r, uintptr_t a, uintptr_t hi,
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
				if (!zio_retire_for_input(r, a, hi, rs, &nrs, max, site, false))
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
			zio_origin_unprotect(r->o);
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

			if (zio_app_present(from, 1)) {
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

/* A socket's SO_RCVTIMEO or SO_SNDTIMEO (opt) in milliseconds, rounded
 * up; -1 when it has none (or fd is no socket). */
ZIO_HIDDEN int zio_sock_timeo_ms(int fd, int opt)
{
	struct timeval tv;
	socklen_t l = sizeof(tv);

	if (getsockopt(fd, SOL_SOCKET, opt, &tv, &l) || (!tv.tv_sec && !tv.tv_usec))
		return -1;
	return (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
}

/*
 * How many bytes will the input write (at least)?  0 when unknown.
 * FIONREAD answers for sockets, pipes and regular files (bytes to end of
 * file from the file position) in one call.  A blocking descriptor with
 * nothing queued yet is waited on first (with the socket's own receive
 * timeout): the input would wait anyway.  A wrong answer costs speed,
 * never bytes: short inputs are repaired afterwards.
 */
static uint64_t expected(int fd, uint64_t len, off_t off, bool positional, int flags,
			 bool *interrupted)
{
	int avail = 0;

	if (positional) {
		struct stat st;

		if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= off)
			return 0;
		return (uint64_t)(st.st_size - off) < len ? (uint64_t)(st.st_size - off) : len;
	}
	if (zio_real.ioctl(fd, FIONREAD, &avail) || avail < 0)
		return 0;
	if (!avail && !(flags & MSG_DONTWAIT) && !(zio_real.fcntl(fd, F_GETFL) & O_NONBLOCK)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = zio_real.poll(&p, 1, zio_sock_timeo_ms(fd, SO_RCVTIMEO));

		/* A signal that would have interrupted the input itself. */
		if (r < 0 && errno == EINTR && !zio_all_handlers_restart())
			*interrupted = true;
		if (r <= 0 || zio_real.ioctl(fd, FIONREAD, &avail) || avail < 0)
			return 0;
	}
	return (uint64_t)avail < len ? (uint64_t)avail : len;
}

/* Flags with which an input may be received elsewhere and put in place
 * after: it consumes what it receives, and only into the buffer. */
#define REDIRECT_FLAGS (MSG_DONTWAIT | MSG_WAITALL | MSG_NOSIGNAL | MSG_CMSG_CLOEXEC)

/* Does some iovec hold aliases or depended-on originals?  Originals
 * nothing depends on just stop being originals here: only the others
 * need to know how much the input will write (a system call or two). */
static bool needs_preparation(const struct iovec *iov, int iovcnt)
{
	bool any = false;

	zio_lock();
	for (int i = 0; i < iovcnt && !any; i++) {
		uintptr_t a = (uintptr_t)iov[i].iov_base, b = a + iov[i].iov_len;
		struct zio_region *r;

		zio_wait_unpinned(a, b);
		while (!any && b > a && (r = zio_region_first_overlap(&zio.ix, a, b))) {
			if (r->type == ZIO_R_ALIAS || r->o->ref_pages) {
				any = true;
				break;
			}
			/* just this original's part of the buffer */
			zio_prepare_range(r->node.start > a ? r->node.start : a,
					  r->node.end < b ? r->node.end : b, ZIO_PREP_INPUT);
		}
	}
	zio_unlock();
	return any;
}

/* The buffers are about to receive exp bytes: redirect the input into the
 * arena (true, rd set up), or prepare each iovec, filling rs (*nrs). */
static bool prepare_buffers(const struct iovec *iov, int iovcnt, uint64_t exp, uintptr_t site,
			    bool may_redirect, struct zio_redirect *rd, struct zio_restore *rs,
			    int *nrs)
{
	bool redirected = false;

	zio_lock();
	/* (the queue was asked unlocked: another thread may have begun to
	 * read from the buffer meanwhile) */
	for (int i = 0; i < iovcnt; i++)
		zio_wait_unpinned((uintptr_t)iov[i].iov_base,
				  (uintptr_t)iov[i].iov_base + iov[i].iov_len);
	if (may_redirect)
		redirected = zio_redirect_begin(rd, (uintptr_t)iov[0].iov_base, iov[0].iov_len,
						site, exp);
	for (int i = 0; i < iovcnt && !redirected; i++) {
		uintptr_t a = (uintptr_t)iov[i].iov_base;
		uint64_t l = iov[i].iov_len, x = exp < l ? exp : l;

		exp -= x;
		/* one restore list: the last iovecs share what is left */
		if (l && zio_region_first_overlap(&zio.ix, a, a + l))
			*nrs += zio_prepare_input(a, l, x, rs + *nrs, MAX_RESTORE - *nrs, site);
	}
	zio_unlock();
	return redirected;
}

/* After the input wrote `done` bytes: the restore entries (in iovec
 * order) put back what it did not write, iovec by iovec. */
static void finish_buffers(const struct iovec *iov, int iovcnt, uint64_t done,
			   struct zio_restore *rs, int nrs)
{
	zio_lock();
	for (int i = 0, k = 0; i < iovcnt && k < nrs; i++) {
		uintptr_t a = (uintptr_t)iov[i].iov_base;
		uint64_t l = iov[i].iov_len, w = done < l ? done : l;
		int j = k;

		done -= w;
		while (j < nrs && rs[j].lo >= pg_dn(a) && rs[j].lo < a + l)
			j++;
		zio_finish_input(a, w, rs + k, j - k);
		k = j;
	}
	zio_unlock();
}

/* The n bytes received become originals, iovec by iovec, where the
 * policy tracks the input site. */
static void record_originals(int fd, const struct iovec *iov, int iovcnt, uint64_t n,
			     uintptr_t site)
{
	zio_lock();
	for (int i = 0; i < iovcnt && n; i++) {
		uintptr_t a = (uintptr_t)iov[i].iov_base;
		uint64_t len = iov[i].iov_len < n ? iov[i].iov_len : n;
		struct zio_region *r;
		bool blocked = false;

		n -= len;
		if (len < zio_opt.input_min)
			continue;
		/* Originals the kernel overwrote beyond what was expected were
		 * retired by their write fault; their claim ends here. */
		while ((r = zio_region_first_overlap(&zio.ix, a, a + len))) {
			if (r->type != ZIO_R_ORIG || r->o->ref_pages) {
				blocked = true; /* another thread raced us here */
				break;
			}
			zio_index_cut(&zio.ix, r, a, a + len);
		}
		if (!blocked && zio_policy_track_input(site, a, a + len) &&
		    (r = zio_index_add_orig(&zio.ix, a, a + len, site, zio_now_ns()))) {
			ZIO_STAT_ADD(inputs_tracked, 1);
			pr_trace("input fd %d [%#lx,+%llu) (site %#lx) -> o%llu [%#lx,%#lx)", fd,
				 (unsigned long)a, (unsigned long long)len, (unsigned long)site,
				 (unsigned long long)r->o->id, (unsigned long)r->node.start,
				 (unsigned long)r->node.end);
		} else {
			pr_trace("input fd %d [%#lx,+%llu) (site %#lx): %s", fd, (unsigned long)a,
				 (unsigned long long)len, (unsigned long)site,
				 blocked ? "raced, not tracked" : "not tracked");
		}
	}
	zio_unlock();
}

ZIO_HIDDEN ssize_t zio_input(int fd, const struct iovec *iov, int iovcnt, uintptr_t site,
			     ssize_t (*call)(void *ctx), void *ctx, void **bufp, off_t off,
			     bool positional, int flags)
{
	struct zio_restore rs[MAX_RESTORE];
	struct zio_redirect rd;
	bool redirected = false;
	int saved = errno, e, nrs = 0;
	ssize_t ret;

	if (atomic_load_explicit(&zio_live_regions, memory_order_acquire) &&
	    needs_preparation(iov, iovcnt)) {
		uint64_t total = 0, exp;
		bool intr = false;

		for (int i = 0; i < iovcnt; i++)
			total += iov[i].iov_len;
		exp = expected(fd, total, off, positional, flags, &intr);
		if (intr) {
			errno = EINTR;
			return -1;
		}
		redirected = prepare_buffers(iov, iovcnt, exp, site,
					     bufp && iovcnt == 1 && !(flags & ~REDIRECT_FLAGS) &&
					     !positional, &rd, rs, &nrs);
	}
	if (redirected) {
		void *buf = *bufp;

		*bufp = (void *)rd.sb;
		errno = saved;
		ret = call(ctx);
		e = errno;
		*bufp = buf;
		zio_redirect_end(&rd, ret);
		errno = e;
		return ret;
	}
	errno = saved;
	ret = call(ctx);
	e = errno;
	if (nrs)
		finish_buffers(iov, iovcnt, ret > 0 ? (uint64_t)ret : 0, rs, nrs);
	if (ret >= (ssize_t)zio_opt.input_min)
		record_originals(fd, iov, iovcnt, (uint64_t)ret, site);
	errno = e;
	return ret;
}
