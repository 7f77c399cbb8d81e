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

#include "zio_internal.h"

#define MAX_RESTORE 32

static int rcvtimeo_ms(int fd)
{
	struct timeval tv;
	socklen_t l = sizeof(tv);

	if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &l) || (!tv.tv_sec && !tv.tv_usec))
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
	if (ioctl(fd, FIONREAD, &avail) || avail < 0)
		return 0;
	if (!avail && !(flags & MSG_DONTWAIT) && !(fcntl(fd, F_GETFL) & O_NONBLOCK)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, rcvtimeo_ms(fd));

		/* A signal that would have interrupted the input itself. */
		if (r < 0 && errno == EINTR && !zio_all_handlers_restart())
			*interrupted = true;
		if (r <= 0 || ioctl(fd, FIONREAD, &avail) || avail < 0)
			return 0;
	}
	return (uint64_t)avail < len ? (uint64_t)avail : len;
}

/* Flags with which an input may be received elsewhere and put in place
 * after: it consumes what it receives, and only into the buffer. */
#define REDIRECT_FLAGS (MSG_DONTWAIT | MSG_WAITALL | MSG_NOSIGNAL | MSG_CMSG_CLOEXEC)

ZIO_HIDDEN ssize_t zio_input(int fd, const struct iovec *iov, int iovcnt, uintptr_t site,
			     ssize_t (*call)(void *ctx), void *ctx, void **bufp, off_t off,
			     bool positional, int flags)
{
	struct zio_restore rs[MAX_RESTORE];
	struct zio_redirect rd;
	bool redirected = false;
	int saved = errno, e, nrs = 0;
	sigset_t old;
	ssize_t ret;
	uint64_t left;

	if (atomic_load_explicit(&zio_live_regions, memory_order_acquire)) {
		bool any = false;

		/* Originals nothing depends on just stop being originals here;
		 * only aliases and depended-on originals need to know how much
		 * the input will write (which costs a system call or two). */
		zio_lock(&old);
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
		zio_unlock(&old);
		if (any) {
			uint64_t total = 0, exp;
			bool intr = false;

			for (int i = 0; i < iovcnt; i++)
				total += iov[i].iov_len;
			exp = expected(fd, total, off, positional, flags, &intr);
			if (intr) {
				errno = EINTR;
				return -1;
			}
			zio_lock(&old);
			/* (the queue was asked unlocked: another thread may have
			 * begun to read from the buffer meanwhile) */
			for (int i = 0; i < iovcnt; i++)
				zio_wait_unpinned((uintptr_t)iov[i].iov_base,
						  (uintptr_t)iov[i].iov_base + iov[i].iov_len);
			if (bufp && iovcnt == 1 && !(flags & ~REDIRECT_FLAGS) && !positional)
				redirected = zio_redirect_begin(&rd, (uintptr_t)iov[0].iov_base,
								iov[0].iov_len, site, exp);
			for (int i = 0; i < iovcnt && !redirected; i++) {
				uintptr_t a = (uintptr_t)iov[i].iov_base;
				uint64_t l = iov[i].iov_len, x = exp < l ? exp : l;

				exp -= x;
				if (l && zio_region_first_overlap(&zio.ix, a, a + l)) {
					/* one restore list: the last iovecs share what is left */
					nrs += zio_prepare_input(a, l, x, rs + nrs, MAX_RESTORE - nrs, site);
				}
			}
			zio_unlock(&old);
		}
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

	if (nrs) {
		uint64_t done = ret > 0 ? (uint64_t)ret : 0;

		/* Restore entries are in iovec order; map the byte count onto
		 * each iovec. */
		zio_lock(&old);
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
		zio_unlock(&old);
	}

	if (ret < (ssize_t)zio_opt.input_min) {
		errno = e;
		return ret;
	}

	zio_lock(&old);
	left = (uint64_t)ret;
	for (int i = 0; i < iovcnt && left; i++) {
		uintptr_t a = (uintptr_t)iov[i].iov_base;
		uint64_t len = iov[i].iov_len < left ? iov[i].iov_len : left;
		struct zio_region *r;
		bool blocked = false;

		left -= len;
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
	zio_unlock(&old);
	errno = e;
	return ret;
}
