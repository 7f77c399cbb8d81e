// SPDX-License-Identifier: MIT
/*
 * Receive on a served socket: the socket's backlog (datagrams pulled from
 * the rx rings, demultiplexed by port), else its kernel socket.  Large
 * payloads alias their frames: whole pages of the program's buffer
 * become aliases of a UMEM origin (zio_copy_from_origin).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>

#include "base/options.h"
#include "mech/alias.h"
#include "mech/state.h"
#include "path/copy.h"
#include "path/input.h"
#include "xsk/xsk.h"

/* ------------------------------------------------------------ receive */

static void fill_name(const struct xs_sock *s, const struct xs_dgram *d, struct msghdr *msg)
{
	union { struct sockaddr_in in; struct sockaddr_in6 in6; } a;
	socklen_t n;

	if (!msg->msg_name)
		return;
	memset(&a, 0, sizeof(a));
	if (s->family == AF_INET) {
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons(d->sport);
		memcpy(&a.in.sin_addr, &d->src.s6_addr[12], 4);
		n = sizeof(a.in);
	} else {
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons(d->sport);
		a.in6.sin6_addr = d->src;
		if (IN6_IS_ADDR_LINKLOCAL(&d->src))
			a.in6.sin6_scope_id = (uint32_t)xs.ifindex;
		n = sizeof(a.in6);
	}
	zio_raw_copy(msg->msg_name, &a, msg->msg_namelen < n ? msg->msg_namelen : n);
	msg->msg_namelen = n;
}

/*
 * Copy d's payload into msg's buffers: pieces of at least the copy
 * threshold alias their frames (zio_copy_from_origin: whole pages become
 * aliases, partial pages are copied), the rest is copied.  Returns the
 * bytes placed.
 */
static size_t place(struct xs_dgram *d, struct msghdr *msg, uintptr_t site)
{
	size_t done = 0;
	int ri = 0;
	uint32_t roff = 0;
	bool elide = atomic_load_explicit(&zio_active, memory_order_relaxed) &&
		     d->len >= zio_opt.threshold;

	for (size_t i = 0; i < msg->msg_iovlen && ri < d->nruns; i++) {
		uint8_t *dst = msg->msg_iov[i].iov_base;
		size_t room = msg->msg_iov[i].iov_len;

		if (room && atomic_load_explicit(&zio_live_regions, memory_order_acquire) && !elide) {
			/* A plain copy over aliases or originals: make that safe
			 * first, as a copy would (no fault per page). */
			uintptr_t a = (uintptr_t)dst, b = a + (room < d->len ? room : d->len);

			zio_lock();
			zio_wait_unpinned(a, b);
			if (zio_region_first_overlap(&zio.ix, a, b))
				zio_prepare_range(a, b, ZIO_PREP_OVERWRITE);
			zio_unlock();
		}
		while (room && ri < d->nruns) {
			struct xs_run *r = &d->run[ri];
			uint32_t take = r->len - roff;
			struct zio_origin *o;

			if (take > room)
				take = (uint32_t)room;
			if (elide && take >= 2 * ZIO_PAGE && (o = xs_run_origin(d, ri))) {
				uint64_t before = atomic_load(&zio_stats.elided_bytes), got;

				zio_copy_from_origin(dst, o, roff, take, site);
				got = atomic_load(&zio_stats.elided_bytes) - before;
				if (got > take)
					got = take;
				XS_STAT_ADD(aliased_bytes, got);
				XS_STAT_ADD(copied_bytes, take - got);
			} else {
				zio_raw_copy(dst, xs_umem_ptr(r->off + roff), take);
				XS_STAT_ADD(copied_bytes, take);
			}
			dst += take;
			room -= take;
			done += take;
			roff += take;
			if (roff == r->len) {
				ri++;
				roff = 0;
			}
		}
	}
	return done;
}

static bool rings_have_rx(void)
{
	for (int i = 0; i < xs.nq; i++) {
		struct xs_ring *r = &xs.q[i].rx;

		/* a hint, read without the lock: we own the consumer index */
		if (__atomic_load_n(r->producer, __ATOMIC_ACQUIRE) !=
		    __atomic_load_n(r->consumer, __ATOMIC_RELAXED))
			return true;
	}
	return false;
}

/*
 * Busy-poll the rx rings before a blocking wait, for at most xs.spin_ns
 * (ZIO_XDP_SPIN_US, 0: off), offering the CPU (sched_yield) between
 * looks.  A receive that finds the rings empty otherwise costs F_GETFL,
 * SO_RCVTIMEO and a poll, and when it sleeps a wakeup that the sender's
 * CPU pays for (in copy mode on veth that is where the XDP receive runs);
 * the next datagram of a busy peer is usually microseconds away.  When
 * the peer shares our CPU the spin finds nothing (the scheduler keeps
 * picking us), so: after 4 fruitless spins in a row, only one wait in 64
 * spins, until a spin finds data again.
 * 1 when a ring has something, -EINTR when a handler of the program ran
 * meanwhile (a blocking call would have been interrupted), else 0.
 */
static int spin_rx(void)
{
	static _Atomic uint32_t fails, waits;
	uint32_t f = atomic_load_explicit(&fails, memory_order_relaxed), seq = zio_sig_seq;
	uint64_t end;

	if (!xs.spin_ns)
		return 0;
	if (f >= 4 && (atomic_fetch_add_explicit(&waits, 1, memory_order_relaxed) & 63))
		return 0;
	end = zio_now_ns() + xs.spin_ns;
	do {
		if (zio_sig_seq != seq)
			return -EINTR;
		if (rings_have_rx()) {
			atomic_store_explicit(&fails, 0, memory_order_relaxed);
			XS_STAT_ADD(spin_hit, 1);
			return 1;
		}
		sched_yield();
	} while (zio_now_ns() < end);
	if (f < 4)
		atomic_store_explicit(&fails, f + 1, memory_order_relaxed);
	XS_STAT_ADD(spin_miss, 1);
	return rings_have_rx();
}

/* Wait until fd or a ring may have something.  1 when the kernel socket
 * is readable, 0 when only a ring is, -errno. */
static int wait_in(int fd, int timeout_ms)
{
	struct pollfd p[1 + XS_MAX_QUEUES];
	int n = 1, r;

	p[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
	for (int i = 0; i < xs.nq; i++)
		p[n++] = (struct pollfd){ .fd = xs.q[i].fd, .events = POLLIN };
	r = zio_real.poll(p, (nfds_t)n, timeout_ms);
	if (r < 0)
		return -errno;
	if (!r)
		return -EAGAIN;
	return p[0].revents ? 1 : 0;
}

/* d's payload into msg, and d off the backlog unless peeking.  Lock
 * held.  Returns what recvmsg returns. */
static ssize_t deliver(struct xs_sock *s, struct xs_dgram *d, struct msghdr *msg, int flags,
		       uintptr_t site)
{
	size_t got = place(d, msg, site);
	uint32_t len = d->len;

	fill_name(s, d, msg);
	msg->msg_controllen = 0;
	msg->msg_flags = got < len ? MSG_TRUNC : 0;
	if (!(flags & MSG_PEEK)) {
		s->head = d->next;
		if (!s->head)
			s->tail = NULL;
		s->count--;
		xs_dgram_free(d);
		for (int i = 0; i < xs.nq; i++)
			xs_evict(&xs.q[i]);
	}
	return (flags & MSG_TRUNC) ? (ssize_t)len : (ssize_t)got;
}

/* The head of fd's backlog, pulled from the rings when empty (lock
 * held).  *sp is NULL when fd is no longer served. */
static struct xs_dgram *head_of(int fd, struct xs_sock **sp)
{
	struct xs_sock *s = xs_sock_of(fd);

	*sp = s;
	if (!s)
		return NULL;
	if (!s->head)
		xs_pull_all();
	return s->head;
}

/* A blocking socket with an empty backlog: busy-poll the rings first
 * (spin_rx).  1: look again, 0: go on, -EINTR: return it (as the kernel:
 * EINTR unless restarted, and always with a receive timeout). */
static int spin_first(int fd, int *timeo)
{
	int err = spin_rx();

	if (err > 0)
		return 1;
	if (err < 0) {
		if (*timeo == -2)
			*timeo = zio_sock_timeo_ms(fd, SO_RCVTIMEO);
		if (*timeo >= 0 || !zio_all_handlers_restart())
			return -EINTR;
	}
	return 0;
}

/* Block until fd or a ring may have something, within the socket's
 * receive timeout.  1: the kernel socket is readable, 0: look again,
 * -EAGAIN (timed out) or -EINTR (interrupted, not restarted). */
static int wait_more(int fd, int *timeo, uint64_t *deadline)
{
	int wait_ms = -1, err;

	if (*timeo == -2)
		*timeo = zio_sock_timeo_ms(fd, SO_RCVTIMEO);
	if (*timeo >= 0) {
		uint64_t now = zio_now_ns() / 1000000;

		if (!*deadline)
			*deadline = now + (uint64_t)*timeo;
		if (now >= *deadline)
			return -EAGAIN;
		wait_ms = (int)(*deadline - now);
	}
	err = wait_in(fd, wait_ms);
	if (err == -EAGAIN && *timeo >= 0)
		return -EAGAIN;
	if (err == -EINTR && (*timeo >= 0 || !zio_all_handlers_restart()))
		return -EINTR;
	return err == 1;
}

/* One datagram for fd, from its backlog or the kernel socket, as
 * recvmsg would receive it.  Returns its length, -errno, or
 * XS_NOT_SERVED when fd stopped being served (closed under us). */
ZIO_HIDDEN ssize_t xs_recv_one(int fd, struct msghdr *msg, int flags, uintptr_t site)
{
	uint64_t deadline = 0;
	int timeo = -2, nonblock = -1, err;
	bool kernel_ready = false, spun = false;

	for (;;) {
		struct xs_sock *s;
		struct xs_dgram *d;
		bool try_kernel;
		ssize_t r;

		xs_lock();
		d = head_of(fd, &s);
		if (!s) {
			xs_unlock();
			return XS_NOT_SERVED;
		}
		/* Blocking last time we asked: look at the rings for a while
		 * before paying for F_GETFL, getsockopt and poll.  Should the
		 * program have made the socket non-blocking since, the spin is
		 * bounded and what it finds is a valid answer to a non-blocking
		 * receive too. */
		if (nonblock < 0 && !d && !kernel_ready && !spun && !(flags & MSG_DONTWAIT) &&
		    s->nonblock_cache == 1) {
			xs_unlock();
			spun = true;
			err = spin_first(fd, &timeo);
			if (err < 0)
				return err;
			if (err > 0)
				continue;
			xs_lock();
			d = head_of(fd, &s);
			if (!s) {
				xs_unlock();
				return XS_NOT_SERVED;
			}
		}
		if (nonblock < 0 && !d) {
			nonblock = (flags & MSG_DONTWAIT) ||
				   (zio_real.fcntl(fd, F_GETFL) & O_NONBLOCK);
			if (!(flags & MSG_DONTWAIT))
				s->nonblock_cache = nonblock ? 2 : 1;
		}
		/* Now and then the kernel socket first, so a steady ring does
		 * not starve the datagrams the XDP program passed.  A blocking
		 * socket with an empty ring asks poll instead (below), which
		 * watches the kernel socket too: one system call, not two. */
		try_kernel = (!d && (nonblock > 0 || kernel_ready)) ||
			     (d && (++s->kernel_turn & 15) == 0);
		kernel_ready = false;
		if (d && !try_kernel) {
			r = deliver(s, d, msg, flags, site);
			xs_unlock();
			return r;
		}
		xs_unlock();
		if (try_kernel) {
			r = zio_real.recvmsg(fd, msg, flags | MSG_DONTWAIT);
			if (r >= 0) {
				XS_STAT_ADD(rx_kernel, 1);
				return r;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			if (d)
				continue;  /* the ring's datagram then */
		}
		if (nonblock > 0)
			return -EAGAIN;
		err = wait_more(fd, &timeo, &deadline);
		if (err < 0)
			return err;
		kernel_ready = err == 1;
	}
}

ZIO_HIDDEN bool zio_xsk_recvmsg(int fd, struct msghdr *msg, int flags, uintptr_t site,
				 ssize_t *ret)
{
	ssize_t r;

	if (!xs_sock_of(fd) || (flags & (MSG_ERRQUEUE | MSG_OOB)))
		return false;
	r = xs_recv_one(fd, msg, flags, site);
	if (r == XS_NOT_SERVED)
		return false;
	if (r < 0) {
		errno = (int)-r;
		*ret = -1;
	} else {
		*ret = r;
	}
	return true;
}

/* recvmmsg on a served socket: datagram by datagram (only the first may
 * wait).  False: fd is not served, the kernel takes the whole call. */
ZIO_HIDDEN bool zio_xsk_recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags,
				 struct timespec *t, uintptr_t site, int *ret)
{
	unsigned int i;

	if (!xs_sock_of(fd))
		return false;
	(void)t;  /* timeout: checked between datagrams by the kernel; we return
		   * what is there after the first */
	for (i = 0; i < n; i++) {
		int f = flags & ~MSG_WAITFORONE;
		ssize_t r;

		if (i && (flags & MSG_WAITFORONE))
			f |= MSG_DONTWAIT;
		if (i && !(f & MSG_DONTWAIT))
			f |= MSG_DONTWAIT;  /* only the first may wait */
		r = xs_recv_one(fd, &v[i].msg_hdr, f, site);
		if (r == XS_NOT_SERVED) {
			if (!i)
				return false;
			break;
		}
		if (r < 0) {
			if (i)
				break;
			errno = (int)-r;
			*ret = -1;
			return true;
		}
		v[i].msg_len = (unsigned int)r;
	}
	*ret = (int)i;
	return true;
}
