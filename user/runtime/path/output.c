// SPDX-License-Identifier: MIT
/*
 * Output: send/write and friends.  Aliased ranges of the buffers are
 * replaced in the iovec by the bytes of their origins, so the program's
 * absent alias pages are never touched (and never materialised) by an
 * output.  The origins are pinned while the kernel reads them: a store
 * into an original waits until the call is done.
 *
 * Pins are held only across calls that cannot wait for another thread of
 * the program: non-blocking socket sends (a blocking send is emulated by
 * poll() with no pin held and a fresh resolution each round) and writes
 * to regular files.  Other descriptors (pipes, terminals) get the
 * program's own buffers; the kernel's faults on alias pages then fetch
 * the right bytes through our fault thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/probes.h"
#include "base/real.h"
#include "mech/state.h"
#include "path/input.h"
#include "path/output.h"

#define OUT_IOV   512
#define OUT_PINS  16

struct out {
	struct iovec iov[OUT_IOV];
	int n;
	struct zio_origin *pins[OUT_PINS];
	int npins;
	uint64_t from_origin;
};

static int pin(struct out *o, struct zio_origin *org)
{
	for (int i = 0; i < o->npins; i++)
		if (o->pins[i] == org)
			return 0;
	if (o->npins == OUT_PINS)
		return -1;
	zio_pin(org);
	o->pins[o->npins++] = org;
	return 0;
}

static int push(struct out *o, uintptr_t a, uint64_t len)
{
	if (!len)
		return 0;
	if (o->n && (uintptr_t)o->iov[o->n - 1].iov_base + o->iov[o->n - 1].iov_len == a) {
		o->iov[o->n - 1].iov_len += len;
		return 0;
	}
	if (o->n == OUT_IOV)
		return -1;
	o->iov[o->n++] = (struct iovec){ (void *)a, len };
	return 0;
}

/*
 * Build the substituted iovec for the user's iov, skipping the first
 * `skip` bytes (already sent).  Caller holds the lock.  Returns the
 * number of alias bytes substituted, or -1 if it does not fit.
 */
static int64_t build(struct out *o, const struct iovec *iov, int iovcnt, uint64_t skip)
{
	struct zio_seg segs[64];
	int64_t subst = 0;

	o->n = 0;
	o->from_origin = 0;
	for (int i = 0; i < iovcnt; i++) {
		uintptr_t a = (uintptr_t)iov[i].iov_base;
		uint64_t len = iov[i].iov_len;
		int k;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		a += skip;
		len -= skip;
		skip = 0;
		k = zio_index_resolve(&zio.ix, a, len, segs, 64);
		if (k < 0)
			return -1;
		for (int j = 0; j < k; j++) {
			uintptr_t src = segs[j].addr;

			if (segs[j].o && segs[j].type == ZIO_R_ALIAS &&
			    zio_origin_covers(segs[j].o, segs[j].ooff, segs[j].len) &&
			    !pin(o, segs[j].o)) {
				src = zio_origin_addr(segs[j].o, segs[j].ooff);
				subst += (int64_t)segs[j].len;
			}
			if (push(o, src, segs[j].len))
				return -1;
		}
	}
	o->from_origin = (uint64_t)subst;
	return subst;
}

/* Pins and signal deferral go together: whoever built with pins began a
 * deferral period under the lock; letting the pins go ends it. */
static void release_pins(struct out *o)
{
	if (!o->npins)
		return;
	zio_unpin(o->pins, o->npins);
	o->npins = 0;
	zio_defer_end();
}

/*
 * o from the program's iovec past its first `skip` bytes, under the lock:
 * the bytes to hand the kernel, its pins taken.  Returns how many bytes
 * come from origins; 0 or less (nothing to substitute, or -1: too
 * fragmented) with every pin released.
 */
static int64_t resolve(struct out *o, const struct iovec *iov, int iovcnt, uint64_t skip)
{
	int64_t subst;

	zio_lock();
	o->npins = 0;
	subst = build(o, iov, iovcnt, skip);
	if (o->npins)
		zio_defer_begin();
	zio_unlock();
	if (subst <= 0)
		release_pins(o);
	return subst;
}

/*
 * Send the user's iov as a (possibly blocking) sendmsg would, with the
 * aliases substituted.  `o` holds the first resolution, built and pinned
 * by the caller.  Returns the bytes sent, -1 with errno, or -2 with
 * errno ENOTSOCK when fd is no socket (nothing was sent).
 */
static ssize_t out_socket(struct out *o, int fd, const struct iovec *iov, int iovcnt, int flags,
			  const struct msghdr *um, const struct sockaddr *to, socklen_t tolen,
			  uint64_t total)
{
	uint64_t sent = 0, deadline = 0;
	int blocking = -1, timeo = -2;
	bool first = true;

	for (;;) {
		struct msghdr m = { 0 };
		int64_t subst = (int64_t)o->from_origin;
		ssize_t r;
		int e;

		if (!first) {
			subst = resolve(o, iov, iovcnt, sent);
			if (subst < 0) {
				/* too fragmented now: send the rest unsubstituted */
				if (sent)
					return (ssize_t)sent;
				errno = E2BIG;
				return -2;
			}
		}
		first = false;
		if (um) {
			m.msg_name = um->msg_name;
			m.msg_namelen = um->msg_namelen;
			m.msg_control = um->msg_control;
			m.msg_controllen = um->msg_controllen;
		} else {
			m.msg_name = (void *)to;
			m.msg_namelen = tolen;
		}
		m.msg_iov = o->iov;
		m.msg_iovlen = (size_t)o->n;
		/* Never block with pins held: a blocking send is emulated. */
		r = zio_real.sendmsg(fd, &m, flags | MSG_DONTWAIT);
		e = errno;
		if (subst && r > 0)
			ZIO_STAT_ADD(output_bytes_from_origin,
				     (uint64_t)r < (uint64_t)subst ? (uint64_t)r : (uint64_t)subst);
		release_pins(o);
		if (r < 0 && e == ENOTSOCK && !sent) {
			errno = e;
			return -2;
		}
		if (r >= 0)
			sent += (uint64_t)r;
		/* Done, or failed for good: no need to know whether fd blocks
		 * (the F_GETFL would be a system call on every send). */
		if ((r >= 0 && sent >= total) || (r < 0 && e != EAGAIN && e != EWOULDBLOCK)) {
			if (r >= 0 || sent)
				return (ssize_t)sent;
			errno = e;
			return -1;
		}
		if (blocking < 0)
			blocking = !(flags & MSG_DONTWAIT) && !(zio_real.fcntl(fd, F_GETFL) & O_NONBLOCK);
		if (r >= 0) {
			/* Datagrams go whole; a stream may take part of it. */
			if (!blocking)
				return (ssize_t)sent;
			if (r > 0)
				continue;
		} else if (!blocking) {
			if (sent)
				return (ssize_t)sent;
			errno = e;
			return -1;
		}
		/* Wait for room with no pin held, then resolve again. */
		{
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int wait_ms = -1, pr;

			if (timeo == -2)
				timeo = zio_sock_timeo_ms(fd, SO_SNDTIMEO);
			if (timeo >= 0) {
				uint64_t now = zio_now_ns() / 1000000;

				if (!deadline)
					deadline = now + (uint64_t)timeo;
				wait_ms = now >= deadline ? 0 : (int)(deadline - now);
			}
			pr = zio_real.poll(&p, 1, wait_ms);
			if (pr == 0) {
				if (sent)
					return (ssize_t)sent;
				errno = EAGAIN;
				return -1;
			}
			if (pr < 0 && errno == EINTR) {
				if (sent)
					return (ssize_t)sent;
				if (!zio_all_handlers_restart()) {
					errno = EINTR;
					return -1;
				}
			}
		}
	}
}

/* Plain (re)issue of the program's own call, unchanged. */
static ssize_t out_plain(int kind, int fd, const struct iovec *iov, int iovcnt, int flags,
			 const struct sockaddr *to, socklen_t tolen, const struct msghdr *msg,
			 off_t off)
{
	switch (kind) {
	case ZIO_OUT_SEND:
		return zio_real.send(fd, iov[0].iov_base, iov[0].iov_len, flags);
	case ZIO_OUT_SENDTO:
		return zio_real.sendto(fd, iov[0].iov_base, iov[0].iov_len, flags, to, tolen);
	case ZIO_OUT_SENDMSG:
		return zio_real.sendmsg(fd, msg, flags);
	case ZIO_OUT_WRITE:
		return zio_real.write(fd, iov[0].iov_base, iov[0].iov_len);
	case ZIO_OUT_WRITEV:
		return zio_real.writev(fd, iov, iovcnt);
	case ZIO_OUT_PWRITE:
		return zio_real.pwrite(fd, iov[0].iov_base, iov[0].iov_len, off);
	case ZIO_OUT_PWRITEV:
		return zio_real.pwritev(fd, iov, iovcnt, off);
	}
	errno = EINVAL;
	return -1;
}

ZIO_HIDDEN ssize_t zio_output(int kind, int fd, const struct iovec *iov, int iovcnt, int flags,
			      const struct sockaddr *to, socklen_t tolen, const struct msghdr *msg,
			      off_t off)
{
	int saved = errno;
	uint64_t total = 0;
	struct stat st;
	struct out o;
	int64_t subst;
	ssize_t r;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	subst = resolve(&o, iov, iovcnt, 0);
	if (subst <= 0)
		goto plain;

	errno = saved;
	if (kind != ZIO_OUT_PWRITE && kind != ZIO_OUT_PWRITEV) {
		r = out_socket(&o, fd, iov, iovcnt, flags, kind == ZIO_OUT_SENDMSG ? msg : NULL,
			       to, tolen, total);
		if (r != -2) {
			if (r > 0) {
				ZIO_STAT_ADD(outputs_substituted, 1);
				ZIO_PROBE3(output, fd, r, subst);
			}
			return r;
		}
		if (errno != ENOTSOCK)
			goto plain;
		/* Not a socket: resolve again for the file path below. */
		subst = resolve(&o, iov, iovcnt, 0);
		if (subst <= 0)
			goto plain;
	}
	/* Regular files cannot wait for another thread of ours: write the
	 * origins directly.  Pipes and terminals can, so they get the
	 * program's own buffers (the kernel faults alias pages in). */
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		release_pins(&o);
		goto plain;
	}
	errno = saved;
	if (kind == ZIO_OUT_PWRITE || kind == ZIO_OUT_PWRITEV)
		r = zio_real.pwritev(fd, o.iov, o.n, off);
	else
		r = zio_real.writev(fd, o.iov, o.n);
	{
		int e = errno;

		release_pins(&o);
		if (r > 0) {
			ZIO_STAT_ADD(outputs_substituted, 1);
			ZIO_STAT_ADD(output_bytes_from_origin, (uint64_t)subst);
			ZIO_PROBE3(output, fd, r, subst);
		}
		errno = e;
	}
	return r;
plain:
	errno = saved;
	return out_plain(kind, fd, iov, iovcnt, flags, to, tolen, msg, off);
}
