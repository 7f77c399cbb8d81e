// SPDX-License-Identifier: MIT
/*
 * The program's UDP sockets served from AF_XDP rings (zio-run --xdp).
 *
 * A socket becomes served when the program binds it to one of the
 * configured ports: the runtime then creates the UMEM and one AF_XDP
 * socket per queue (first time), and marks the port active in the
 * steering program's map, so datagrams to it start arriving in the rings.
 * The kernel socket stays: it keeps the port, answers getsockname and
 * friends, and receives whatever the XDP program passed (fragments, IP
 * options...), which recv also looks at, so nothing is lost.
 *
 *   recv*   backlog of the socket <- rx rings (demultiplexed by port),
 *           else the kernel socket; large payloads alias their frames
 *   send*   tx ring when the peer's link address is known, headers in a
 *           fresh chunk, payload descriptors pointing at the frames that
 *           aliases of the buffer resolve to; else the kernel socket
 *   poll/select/epoll  the rings' fds join the wait, and a socket with
 *           a backlog is reported readable
 *
 * Every other case (unknown peer, control messages, flags we do not
 * emulate, oversize, exhausted rings) goes to the kernel socket and is
 * counted (xdp_fallback).  Non-served descriptors cost one array lookup.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "xsk.h"
#include "zio.h"

#define EXPORT __attribute__((visibility("default")))
#define SITE ((uintptr_t)__builtin_return_address(0))
#define XS_EPOLL_MAGIC 0x7a696f78736b0000ULL  /* "zioxsk" + queue index */
#define XS_MAX_EPFD 16
#define XS_MAX_EPREG 16

ZIO_HIDDEN _Atomic int zio_xsk_enabled;

int xs_map_update(int fd, const void *key, const void *val);
int xs_map_lookup(int fd, const void *key, void *val);
struct zio_origin *xs_run_origin(struct xs_dgram *d, int i);

static struct {
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*close)(int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
		       const sigset_t *);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
} xr;

static pthread_once_t xr_once = PTHREAD_ONCE_INIT;

static void xr_init(void)
{
#define L(n) (*(void **)&xr.n = dlsym(RTLD_NEXT, #n))
	L(bind); L(close); L(connect); L(dup); L(dup2); L(dup3); L(fcntl); L(ioctl);
	L(poll); L(ppoll); L(select); L(pselect); L(epoll_ctl); L(epoll_wait);
	L(epoll_pwait); L(recvmmsg); L(sendmmsg);
#undef L
}
#define XR(fn) (pthread_once(&xr_once, xr_init), xr.fn)

/* ------------------------------------------------------------ sockets */

static uint8_t fd2sock[XS_MAX_FD];          /* 0: not ours, else index + 1 */
static struct xs_sock socks[XS_MAX_SOCKS];

struct epreg { int fd; uint32_t events; uint64_t data; bool armed; };
static struct { int epfd, n; bool xsk_in; struct epreg r[XS_MAX_EPREG]; } eps[XS_MAX_EPFD];
static int neps;

static inline struct xs_sock *sock_of(int fd)
{
	if ((unsigned)fd >= XS_MAX_FD || !fd2sock[fd])
		return NULL;
	return &socks[fd2sock[fd] - 1];
}

ZIO_HIDDEN struct xs_sock *xs_sock_for_port(uint16_t port)
{
	for (int i = 0; i < XS_MAX_SOCKS; i++)
		if (socks[i].refs && socks[i].port == port)
			return &socks[i];
	return NULL;
}

static bool port_configured(uint16_t port)
{
	for (int i = 0; i < xs.nports; i++)
		if (xs.ports[i] == port)
			return true;
	return false;
}

static void set_port(uint16_t port, bool on)
{
	uint32_t v = on ? ZIO_PORT_ACTIVE : 0;

	if (xs.ports_map >= 0 && xs_map_update(xs.ports_map, &port, &v))
		pr_warn("xdp: failed to %s port %u in the steering map", on ? "activate" : "deactivate",
			port);
}

static void child_after_fork(void)
{
	/* The rings belong to the parent: the child's sockets are plain
	 * kernel sockets from now on (datagrams keep going to the parent). */
	atomic_store(&zio_xsk_enabled, 0);
	memset(fd2sock, 0, sizeof(fd2sock));
}

/* Read the ZIO_XDP_* settings once.  Sets xs.configured. */
static void config_once(void)
{
	const char *v;
	char buf[1024], *save = NULL, *tok;

	v = getenv(ZIO_ENV_XDP_ABI);
	if (!v)
		return;
	if (atoi(v) != ZIO_STEER_ABI) {
		pr_warn("xdp: zio-run speaks steering ABI %s, the runtime %d: kernel sockets only", v,
			ZIO_STEER_ABI);
		return;
	}
	if (!(v = getenv(ZIO_ENV_XDP_IFACE)) || strlen(v) > IF_NAMESIZE_)
		return;
	zio_snprintf(xs.ifname, sizeof(xs.ifname), "%s", v);
	xs.ifindex = atoi(getenv(ZIO_ENV_XDP_IFINDEX) ?: "0");
	xs.mtu = atoi(getenv(ZIO_ENV_XDP_MTU) ?: "1500");
	xs.link_fd = atoi(getenv(ZIO_ENV_XDP_LINK_FD) ?: "-1");
	zio_snprintf(xs.mode, sizeof(xs.mode), "%s", getenv(ZIO_ENV_XDP_MODE) ?: "?");
	zio_snprintf(xs.pin_dir, sizeof(xs.pin_dir), "%s", getenv(ZIO_ENV_XDP_PIN_DIR) ?: "");
	v = getenv(ZIO_ENV_XDP_MAC);
	if (v && strlen(v) == 12)
		for (int i = 0; i < 6; i++) {
			char h[3] = { v[2 * i], v[2 * i + 1], 0 };

			xs.mac[i] = (uint8_t)strtoul(h, NULL, 16);
		}
	xs.frames = (uint32_t)atoi(getenv(ZIO_ENV_XDP_FRAMES) ?: "0");
	if (xs.frames < 64 || xs.frames > (1u << 22))
		xs.frames = ZIO_XDP_DEFAULT_FRAMES;
	xs.ring = (uint32_t)atoi(getenv(ZIO_ENV_XDP_RING) ?: "0");
	if (xs.ring < 64 || xs.ring > 65536 || (xs.ring & (xs.ring - 1)))
		xs.ring = ZIO_XDP_DEFAULT_RING;
	v = getenv("ZIO_XDP_CSUM");
	xs.csum = !v || strcmp(v, "0");
	v = getenv("ZIO_XDP_SPIN_US");
	xs.spin_ns = XS_SPIN_NS_DEFAULT;
	if (v) {
		int saved = errno, bad;
		char *end;
		unsigned long us;

		errno = 0;
		us = strtoul(v, &end, 10);
		bad = errno || end == v || *end || *v == '-' || us > 10000;
		errno = saved; /* the program's errno is not ours to change */
		if (bad)
			pr_warn("invalid ZIO_XDP_SPIN_US='%.40s' (expected 0-10000 us): using %u",
				v, XS_SPIN_NS_DEFAULT / 1000u);
		else
			xs.spin_ns = (uint32_t)us * 1000u;
	}
	zio_snprintf(buf, sizeof(buf), "%s", getenv(ZIO_ENV_XDP_QUEUES) ?: "");
	for (tok = strtok_r(buf, ",", &save); tok && xs.nq < XS_MAX_QUEUES;
	     tok = strtok_r(NULL, ",", &save))
		xs.qids[xs.nq++] = atoi(tok);
	zio_snprintf(buf, sizeof(buf), "%s", getenv(ZIO_ENV_XDP_PORTS) ?: "");
	save = NULL;
	for (tok = strtok_r(buf, ",", &save); tok && xs.nports < ZIO_STEER_MAX_PORTS;
	     tok = strtok_r(NULL, ",", &save))
		xs.ports[xs.nports++] = (uint16_t)atoi(tok);
	if (!xs.ifindex || !xs.nq || !xs.nports || !xs.pin_dir[0] || !xs.mac[0] + !xs.mac[1] +
	    !xs.mac[2] + !xs.mac[3] + !xs.mac[4] + !xs.mac[5] == 6) {
		pr_warn("xdp: incomplete ZIO_XDP_* settings: kernel sockets only");
		return;
	}
	xs.configured = true;
	pthread_atfork(NULL, NULL, child_after_fork);
}

static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;

/* First served socket: rings up.  Lock held.  0 or -errno. */
static int bring_up(void)
{
	int err;

	if (xs.up)
		return 0;
	if (xs.failed)
		return -ENODEV;
	xs.pid = getpid();
	err = xs_setup();
	if (err) {
		xs.failed = true;
		pr_warn("xdp: AF_XDP setup on %s failed (%s): the program's sockets stay "
			"kernel sockets", xs.ifname, strerror(-err));
		XS_STAT_ADD(fallback, 1);
		return err;
	}
	/* This process serves the rings now: an exec of another image must
	 * not keep the XDP program attached (the link closes with it). */
	if (xs.link_fd >= 0)
		XR(fcntl)(xs.link_fd, F_SETFD, FD_CLOEXEC);
	xs.up = true;
	return 0;
}

/* fd was bound to a configured port: serve it. */
static void serve(int fd, const struct sockaddr *a, socklen_t alen)
{
	struct xs_sock *s = NULL;
	int type = 0, v6only = 0, idx = -1;
	socklen_t l = sizeof(type);
	uint16_t port;

	if ((unsigned)fd >= XS_MAX_FD || !a || (a->sa_family != AF_INET && a->sa_family != AF_INET6))
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) || type != SOCK_DGRAM)
		return;
	port = ntohs(a->sa_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port
					     : ((const struct sockaddr_in6 *)a)->sin6_port);
	if (!port_configured(port))
		return;
	xs_lock();
	if (xs_sock_for_port(port) || bring_up())
		goto out;  /* a second socket on one port (reuseport): kernel's */
	for (int i = 0; i < XS_MAX_SOCKS; i++)
		if (!socks[i].refs) {
			idx = i;
			break;
		}
	if (idx < 0)
		goto out;
	s = &socks[idx];
	memset(s, 0, sizeof(*s));
	s->refs = 1;
	s->family = a->sa_family;
	s->port = port;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)a;

		memset(&s->bound, 0, 10);
		s->bound.s6_addr[10] = s->bound.s6_addr[11] = 0xff;
		memcpy(&s->bound.s6_addr[12], &in->sin_addr, 4);
		s->bound_any = in->sin_addr.s_addr == htonl(INADDR_ANY);
	} else {
		const struct sockaddr_in6 *in6 = (const void *)a;

		s->bound = in6->sin6_addr;
		s->bound_any = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) ||
			       (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
				!memcmp(&in6->sin6_addr.s6_addr[12], "\0\0\0\0", 4));
		l = sizeof(v6only);
		getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &l);
		s->v6only = v6only;
	}
	(void)alen;
	fd2sock[fd] = (uint8_t)(idx + 1);
	set_port(port, true);
	atomic_store(&zio_xsk_enabled, 1);
	pr_info("xdp: fd %d (port %u) served from AF_XDP", fd, port);
out:
	xs_unlock();
}

/* Lock held.  The last fd of a served socket goes. */
static void unserve(int fd)
{
	struct xs_sock *s = sock_of(fd);

	fd2sock[fd] = 0;
	for (int e = 0; e < neps; e++)
		for (int i = 0; i < eps[e].n; i++)
			if (eps[e].r[i].fd == fd)
				eps[e].r[i] = eps[e].r[--eps[e].n];
	if (!s || --s->refs)
		return;
	set_port(s->port, false);
	while (s->head) {
		struct xs_dgram *d = s->head;

		s->head = d->next;
		xs_dgram_free(d);
	}
	s->tail = NULL;
	s->count = 0;
	s->port = 0;
}

static void pull_all(void)
{
	for (int i = 0; i < xs.nq; i++)
		xs_rx_pull(&xs.q[i]);
}

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

static int rcvtimeo_ms(int fd)
{
	struct timeval tv;
	socklen_t l = sizeof(tv);

	if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &l) || (!tv.tv_sec && !tv.tv_usec))
		return -1;
	return (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
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
	r = XR(poll)(p, (nfds_t)n, timeout_ms);
	if (r < 0)
		return -errno;
	if (!r)
		return -EAGAIN;
	return p[0].revents ? 1 : 0;
}

static ssize_t recv_one(int fd, struct msghdr *msg, int flags, uintptr_t site)
{
	uint64_t deadline = 0;
	int timeo = -2, nonblock = -1;
	bool kernel_ready = false, spun = false;

	for (;;) {
		struct xs_sock *s;
		struct xs_dgram *d;
		ssize_t r;
		bool try_kernel;
		int err;

		xs_lock();
		s = sock_of(fd);
		if (!s) {
			xs_unlock();
			return -ENOTSOCK - 1000;  /* closed under us: kernel's */
		}
		if (!s->head)
			pull_all();
		d = s->head;
		/* Now and then the kernel socket first, so a steady ring does
		 * not starve the datagrams the XDP program passed.  A blocking
		 * socket with an empty ring asks poll instead (below), which
		 * watches the kernel socket too: one system call, not two. */
		if (nonblock < 0 && !d && !kernel_ready && !spun && !(flags & MSG_DONTWAIT) &&
		    s->nonblock_cache == 1) {
			/* Blocking last time we asked: look at the rings for a
			 * while before paying for F_GETFL, getsockopt and poll.
			 * Should the program have made the socket non-blocking
			 * since, the spin is bounded and what it finds is a
			 * valid answer to a non-blocking receive too. */
			xs_unlock();
			spun = true;
			err = spin_rx();
			if (err > 0)
				continue;
			if (err < 0) {
				/* as the kernel: EINTR unless restarted, and always
				 * with a receive timeout */
				if (timeo == -2)
					timeo = rcvtimeo_ms(fd);
				if (timeo >= 0 || !zio_all_handlers_restart())
					return -EINTR;
			}
			xs_lock();
			s = sock_of(fd);
			if (!s) {
				xs_unlock();
				return -ENOTSOCK - 1000;
			}
			if (!s->head)
				pull_all();
			d = s->head;
		}
		if (nonblock < 0 && !d) {
			nonblock = (flags & MSG_DONTWAIT) || (XR(fcntl)(fd, F_GETFL) & O_NONBLOCK);
			if (!(flags & MSG_DONTWAIT))
				s->nonblock_cache = nonblock ? 2 : 1;
		}
		try_kernel = (!d && (nonblock > 0 || kernel_ready)) ||
			     (d && (++s->kernel_turn & 15) == 0);
		kernel_ready = false;
		if (d && !try_kernel) {
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
			xs_unlock();
			return (flags & MSG_TRUNC) ? (ssize_t)len : (ssize_t)got;
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
		if (timeo == -2)
			timeo = rcvtimeo_ms(fd);
		{
			int wait_ms = -1;

			if (timeo >= 0) {
				uint64_t now = zio_now_ns() / 1000000;

				if (!deadline)
					deadline = now + (uint64_t)timeo;
				if (now >= deadline)
					return -EAGAIN;
				wait_ms = (int)(deadline - now);
			}
			err = wait_in(fd, wait_ms);
		}
		if (err == -EAGAIN && timeo >= 0)
			return -EAGAIN;
		if (err == -EINTR && (timeo >= 0 || !zio_all_handlers_restart()))
			return -EINTR;
		kernel_ready = err == 1;
	}
}

ZIO_HIDDEN bool zio_xsk_recvmsg(int fd, struct msghdr *msg, int flags, ssize_t *ret)
{
	ssize_t r;

	if (!sock_of(fd) || (flags & (MSG_ERRQUEUE | MSG_OOB)))
		return false;
	r = recv_one(fd, msg, flags, SITE);
	if (r == -ENOTSOCK - 1000)
		return false;
	if (r < 0) {
		errno = (int)-r;
		*ret = -1;
	} else {
		*ret = r;
	}
	return true;
}

/* ------------------------------------------------------------ send */

#define XS_MAX_SEGS 48

/* Payload of msg as segments: UMEM-backed alias ranges pinned (seg.o),
 * the rest plain.  Returns the count or -1 (too fragmented; pins undone). */
static int resolve(const struct msghdr *msg, struct xs_segment *seg)
{
	struct zio_seg zs[16];
	int n = 0;
	bool regions = atomic_load_explicit(&zio_live_aliases, memory_order_acquire) != 0;

	if (regions)
		zio_lock();
	for (size_t i = 0; i < msg->msg_iovlen; i++) {
		uintptr_t a = (uintptr_t)msg->msg_iov[i].iov_base;
		uint64_t len = msg->msg_iov[i].iov_len;
		int k;

		if (!len)
			continue;
		k = regions ? zio_index_resolve(&zio.ix, a, len, zs, 16) : 0;
		if (k <= 0) {
			zs[0] = (struct zio_seg){ .addr = a, .len = len };
			k = 1;
		}
		for (int j = 0; j < k; j++) {
			struct zio_origin *o = zs[j].o;

			if (n == XS_MAX_SEGS)
				goto fail;
			if (o && zs[j].type == ZIO_R_ALIAS && o->kind == ZIO_ORIGIN_UMEM &&
			    zio_origin_covers(o, zs[j].ooff, zs[j].len)) {
				o->pins++;
				seg[n++] = (struct xs_segment){
					.p = (const void *)zs[j].addr, .len = (uint32_t)zs[j].len, .o = o,
					.umem_off = (uint64_t)(zio_origin_addr(o, zs[j].ooff) -
							       (uintptr_t)xs.umem) };
			} else if (n && !seg[n - 1].o &&
				   (uintptr_t)seg[n - 1].p + seg[n - 1].len == zs[j].addr) {
				seg[n - 1].len += (uint32_t)zs[j].len;
			} else {
				seg[n++] = (struct xs_segment){ .p = (const void *)zs[j].addr,
								.len = (uint32_t)zs[j].len };
			}
		}
	}
	if (regions)
		zio_unlock();
	return n;
fail:
	for (int j = 0; j < n; j++)
		if (seg[j].o) {
			seg[j].o->pins--;
			zio_origin_put_if_unused(&zio.ix, seg[j].o);
		}
	if (regions)
		zio_unlock();
	return -1;
}

static void unpin_segs(struct xs_segment *seg, int n)
{
	struct zio_origin *p[XS_MAX_SEGS];
	int np = 0;

	for (int i = 0; i < n; i++)
		if (seg[i].o)
			p[np++] = seg[i].o;
	zio_unpin(p, np);
}

/* 0: sent on the ring; 1: the kernel socket must send it. */
static int send_one(int fd, const struct msghdr *msg, int flags, size_t *sent)
{
	struct xs_segment seg[XS_MAX_SEGS];
	struct in6_addr dst, local;
	uint8_t hdr[128], mac[6];
	uint32_t hlen, csum_off, seed;
	uint16_t dport;
	size_t len = 0;
	struct xs_sock *s;
	bool v4;
	int q, n, err;

	if ((flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL)) || msg->msg_controllen)
		return 1;
	for (size_t i = 0; i < msg->msg_iovlen; i++)
		len += msg->msg_iov[i].iov_len;
	xs_lock();
	s = sock_of(fd);
	if (!s)
		goto kernel;
	if (msg->msg_name && msg->msg_namelen) {
		const struct sockaddr *a = msg->msg_name;

		if (s->connected)
			goto kernel;  /* EISCONN and friends: the kernel's answers */
		if (a->sa_family == AF_INET && msg->msg_namelen >= sizeof(struct sockaddr_in)) {
			const struct sockaddr_in *in = msg->msg_name;

			memset(&dst, 0, 10);
			dst.s6_addr[10] = dst.s6_addr[11] = 0xff;
			memcpy(&dst.s6_addr[12], &in->sin_addr, 4);
			dport = ntohs(in->sin_port);
		} else if (a->sa_family == AF_INET6 &&
			   msg->msg_namelen >= sizeof(struct sockaddr_in6)) {
			const struct sockaddr_in6 *in6 = msg->msg_name;

			dst = in6->sin6_addr;
			dport = ntohs(in6->sin6_port);
		} else {
			goto kernel;
		}
	} else if (s->connected) {
		dst = s->peer;
		dport = s->peer_port;
	} else {
		goto kernel;
	}
	v4 = IN6_IS_ADDR_V4MAPPED(&dst);
	if (!dport || (s->family == AF_INET && !v4) || (s->v6only && v4) ||
	    len + (v4 ? 28 : 48) > (size_t)xs.mtu || IN6_IS_ADDR_MULTICAST(&dst) ||
	    (v4 && dst.s6_addr[15] == 255))
		goto kernel;
	if (xs_neigh_lookup(&dst, v4, mac, &local, &q))
		goto kernel;
	if (!s->bound_any)
		local = s->bound;
	if (IN6_IS_ADDR_UNSPECIFIED(&local) || IN6_IS_ADDR_V4MAPPED(&local) != v4 ||
	    (v4 && !memcmp(&local.s6_addr[12], "\0\0\0\0", 4)))
		goto kernel;
	hlen = xs_build_hdr(hdr, mac, &local, s->port, &dst, dport, v4, (uint32_t)len, &csum_off,
			    &seed);
	n = resolve(msg, seg);
	if (n < 0)
		goto kernel;
	if (q < 0 || q >= xs.nq)
		q = 0;
	err = xs_tx(&xs.q[q], hdr, hlen, seg, n, csum_off, seed);
	if (err) {
		unpin_segs(seg, n);
		goto kernel;
	}
	xs_unlock();
	*sent = len;
	return 0;
kernel:
	xs_unlock();
	XS_STAT_ADD(fallback, 1);
	return 1;
}

ZIO_HIDDEN bool zio_xsk_sendmsg(int fd, const struct msghdr *msg, int flags, ssize_t *ret)
{
	size_t sent;

	if (!sock_of(fd))
		return false;
	if (send_one(fd, msg, flags, &sent))
		return false;  /* the kernel socket, through the usual output path */
	*ret = (ssize_t)sent;
	return true;
}

/* ------------------------------------------------------------ interposers */

EXPORT int bind(int fd, const struct sockaddr *a, socklen_t alen)
{
	int r = XR(bind)(fd, a, alen);

	if (r == 0 && !zio_in_runtime) {
		pthread_once(&cfg_once, config_once);
		if (xs.configured)
			serve(fd, a, alen);
	}
	return r;
}

EXPORT int connect(int fd, const struct sockaddr *a, socklen_t alen)
{
	int r = XR(connect)(fd, a, alen);
	struct xs_sock *s;

	if (r || !atomic_load_explicit(&zio_xsk_enabled, memory_order_relaxed))
		return r;
	xs_lock();
	s = sock_of(fd);
	if (s && a) {
		if (a->sa_family == AF_INET && alen >= sizeof(struct sockaddr_in)) {
			const struct sockaddr_in *in = (const void *)a;

			memset(&s->peer, 0, 10);
			s->peer.s6_addr[10] = s->peer.s6_addr[11] = 0xff;
			memcpy(&s->peer.s6_addr[12], &in->sin_addr, 4);
			s->peer_port = ntohs(in->sin_port);
			s->connected = true;
		} else if (a->sa_family == AF_INET6 && alen >= sizeof(struct sockaddr_in6)) {
			s->peer = ((const struct sockaddr_in6 *)a)->sin6_addr;
			s->peer_port = ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
			s->connected = true;
		} else {
			s->connected = false;  /* AF_UNSPEC: dissolve */
		}
	}
	xs_unlock();
	return r;
}

static void forget_epfd(int fd)
{
	for (int e = 0; e < neps; e++)
		if (eps[e].epfd == fd) {
			eps[e] = eps[--neps];
			return;
		}
}

EXPORT int close(int fd)
{
	if (atomic_load_explicit(&zio_xsk_enabled, memory_order_relaxed) &&
	    (unsigned)fd < XS_MAX_FD) {
		xs_lock();
		if (fd2sock[fd])
			unserve(fd);
		forget_epfd(fd);
		xs_unlock();
	}
	return XR(close)(fd);
}

/* A dup of a served socket is served too (both name one socket). */
static int dup_track(int old, int nfd)
{
	if (nfd < 0 || !atomic_load_explicit(&zio_xsk_enabled, memory_order_relaxed))
		return nfd;
	xs_lock();
	if ((unsigned)nfd < XS_MAX_FD && nfd != old) {
		if (fd2sock[nfd])
			unserve(nfd);  /* dup2 over a served fd closed it */
		if (sock_of(old)) {
			fd2sock[nfd] = fd2sock[old];
			sock_of(old)->refs++;
		}
	}
	xs_unlock();
	return nfd;
}

EXPORT int dup(int fd)
{
	return dup_track(fd, XR(dup)(fd));
}

EXPORT int dup2(int fd, int nfd)
{
	return dup_track(fd, XR(dup2)(fd, nfd));
}

EXPORT int dup3(int fd, int nfd, int flags)
{
	return dup_track(fd, XR(dup3)(fd, nfd, flags));
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;
	int r;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	r = XR(fcntl)(fd, cmd, arg);
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		return dup_track(fd, r);
	return r;
}
EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	struct xs_sock *s;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == FIONREAD && atomic_load_explicit(&zio_xsk_enabled, memory_order_relaxed) &&
	    (s = sock_of(fd)) && arg) {
		/* the size of the next datagram, as the kernel answers */
		int v = 0;

		xs_lock();
		if (!s->head)
			pull_all();
		if (s->head)
			v = (int)s->head->len;
		xs_unlock();
		if (s->head) {
			*(int *)arg = v;
			return 0;
		}
	}
	return XR(ioctl)(fd, req, arg);
}

EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *t)
{
	unsigned int i;

	if (!sock_of(fd) || !atomic_load_explicit(&zio_xsk_enabled, memory_order_relaxed))
		return XR(recvmmsg)(fd, v, n, flags, t);
	(void)t;  /* timeout: checked between datagrams by the kernel; we return
		   * what is there after the first */
	for (i = 0; i < n; i++) {
		int f = flags & ~MSG_WAITFORONE;
		ssize_t r;

		if (i && (flags & MSG_WAITFORONE))
			f |= MSG_DONTWAIT;
		if (i && !(f & MSG_DONTWAIT))
			f |= MSG_DONTWAIT;  /* only the first may wait */
		r = recv_one(fd, &v[i].msg_hdr, f, SITE);
		if (r == -ENOTSOCK - 1000)
			return i ? (int)i : XR(recvmmsg)(fd, v, n, flags, t);
		if (r < 0) {
			if (i)
				break;
			errno = (int)-r;
			return -1;
		}
		v[i].msg_len = (unsigned int)r;
	}
	return (int)i;
}

EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	unsigned int i;

	if (!sock_of(fd) || !atomic_load_explicit(&zio_xsk_enabled, memory_order_relaxed))
		return XR(sendmmsg)(fd, v, n, flags);
	for (i = 0; i < n; i++) {
		ssize_t r = sendmsg(fd, &v[i].msg_hdr, flags);

		if (r < 0) {
			if (i)
				break;
			return -1;
		}
		v[i].msg_len = (unsigned int)r;
	}
	return (int)i;
}

/* ------------------------------------------------------------ readiness */

/* Served fds among fds with a backlog get POLLIN.  Lock held. */
static int mark_ready(struct pollfd *fds, nfds_t n)
{
	int ready = 0;

	for (nfds_t i = 0; i < n; i++) {
		struct xs_sock *s = sock_of(fds[i].fd);

		if (s && s->head && (fds[i].events & (POLLIN | POLLRDNORM))) {
			if (!fds[i].revents)
				ready++;
			fds[i].revents |= (short)(fds[i].events & (POLLIN | POLLRDNORM));
		}
	}
	return ready;
}

static bool any_served(const struct pollfd *fds, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (sock_of(fds[i].fd))
			return true;
	return false;
}

static int remaining_ms(int timeout, uint64_t start)
{
	uint64_t el;

	if (timeout < 0)
		return -1;
	el = (zio_now_ns() - start) / 1000000;
	return el >= (uint64_t)timeout ? 0 : timeout - (int)el;
}

static int xs_poll(struct pollfd *fds, nfds_t n, int timeout, const sigset_t *mask)
{
	uint64_t start = zio_now_ns();
	struct pollfd *all;
	int r;

	if (n > 4096)
		return XR(poll)(fds, n, timeout);
	all = __builtin_alloca((n + (nfds_t)xs.nq) * sizeof(*all));
	for (;;) {
		int ready, t = remaining_ms(timeout, start);
		bool ring = false;

		xs_lock();
		pull_all();
		for (nfds_t i = 0; i < n; i++)
			fds[i].revents = 0;
		ready = mark_ready(fds, n);
		xs_unlock();
		if (ready) {
			/* the rest without waiting */
			struct pollfd *tmp = __builtin_alloca(n * sizeof(*tmp));

			zio_raw_copy(tmp, fds, n * sizeof(*tmp));
			r = XR(poll)(tmp, n, 0);
			if (r < 0)
				r = 0;
			ready = 0;
			for (nfds_t i = 0; i < n; i++) {
				fds[i].revents |= tmp[i].revents;
				ready += fds[i].revents != 0;
			}
			return ready;
		}
		zio_raw_copy(all, fds, n * sizeof(*all));
		for (int i = 0; i < xs.nq; i++)
			all[n + (nfds_t)i] = (struct pollfd){ .fd = xs.q[i].fd, .events = POLLIN };
		if (mask) {
			struct timespec ts = { t / 1000, (t % 1000) * 1000000L };

			r = XR(ppoll)(all, n + (nfds_t)xs.nq, t < 0 ? NULL : &ts, mask);
		} else {
			r = XR(poll)(all, n + (nfds_t)xs.nq, t);
		}
		if (r < 0)
			return r;
		ready = 0;
		for (nfds_t i = 0; i < n; i++) {
			fds[i].revents = all[i].revents;
			ready += fds[i].revents != 0;
		}
		for (int i = 0; i < xs.nq; i++)
			ring |= all[n + (nfds_t)i].revents != 0;
		if (ring) {
			xs_lock();
			pull_all();
			ready += mark_ready(fds, n);
			xs_unlock();
		}
		if (ready || r == 0 || remaining_ms(timeout, start) == 0)
			return ready;
	}
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (likely(!atomic_load_explicit(&zio_xsk_enabled, memory_order_relaxed)) ||
	    !any_served(fds, n))
		return XR(poll)(fds, n, timeout);
	return xs_poll(fds, n, timeout, NULL);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	if (likely(!atomic_load_explicit(&zio_xsk_enabled, memory_order_relaxed)) ||
	    !any_served(fds, n))
		return XR(ppoll)(fds, n, ts, mask);
	return xs_poll(fds, n, ts ? (int)(ts->tv_sec * 1000 + ts->tv_nsec / 1000000) : -1,
		       mask ? mask : NULL);
}

/* select over served fds: the same wait, through poll. */
static int xs_select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, int timeout,
		     const sigset_t *mask)
{
	struct pollfd p[FD_SETSIZE];
	nfds_t n = 0;
	int r, count = 0;

	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++) {
		short ev = 0;

		if (rd && FD_ISSET(fd, rd))
			ev |= POLLIN;
		if (wr && FD_ISSET(fd, wr))
			ev |= POLLOUT;
		if (ex && FD_ISSET(fd, ex))
			ev |= POLLPRI;
		if (ev)
			p[n++] = (struct pollfd){ .fd = fd, .events = ev };
	}
	r = xs_poll(p, n, timeout, mask);
	if (r < 0)
		return r;
	if (rd)
		FD_ZERO(rd);
	if (wr)
		FD_ZERO(wr);
	if (ex)
		FD_ZERO(ex);
	for (nfds_t i = 0; i < n; i++) {
		if (rd && (p[i].revents & (POLLIN | POLLHUP | POLLERR)) && (p[i].events & POLLIN)) {
			FD_SET(p[i].fd, rd);
			count++;
		}
		if (wr && (p[i].revents & (POLLOUT | POLLERR)) && (p[i].events & POLLOUT)) {
			FD_SET(p[i].fd, wr);
			count++;
		}
		if (ex && (p[i].revents & POLLPRI)) {
			FD_SET(p[i].fd, ex);
			count++;
		}
	}
	return count;
}

static bool set_has_served(int nfds, fd_set *rd)
{
	if (!rd || !atomic_load_explicit(&zio_xsk_enabled, memory_order_relaxed))
		return false;
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if (FD_ISSET(fd, rd) && sock_of(fd))
			return true;
	return false;
}

EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	if (likely(!set_has_served(nfds, rd)))
		return XR(select)(nfds, rd, wr, ex, tv);
	return xs_select(nfds, rd, wr, ex, tv ? (int)(tv->tv_sec * 1000 + tv->tv_usec / 1000) : -1,
			 NULL);
}

EXPORT int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *ts,
		   const sigset_t *mask)
{
	if (likely(!set_has_served(nfds, rd)))
		return XR(pselect)(nfds, rd, wr, ex, ts, mask);
	return xs_select(nfds, rd, wr, ex, ts ? (int)(ts->tv_sec * 1000 + ts->tv_nsec / 1000000) : -1,
			 mask);
}

/* epoll: the rings' fds sit in the program's epoll set under a magic
 * data value; their events become the served sockets' EPOLLIN. */
static int ep_find(int epfd)
{
	for (int e = 0; e < neps; e++)
		if (eps[e].epfd == epfd)
			return e;
	return -1;
}

EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	int r = XR(epoll_ctl)(epfd, op, fd, ev), e;

	if (r || !atomic_load_explicit(&zio_xsk_enabled, memory_order_relaxed) || !sock_of(fd))
		return r;
	xs_lock();
	e = ep_find(epfd);
	if (e < 0 && op == EPOLL_CTL_ADD && neps < XS_MAX_EPFD) {
		e = neps++;
		eps[e].epfd = epfd;
		eps[e].n = 0;
		eps[e].xsk_in = false;
	}
	if (e >= 0) {
		int i;

		for (i = 0; i < eps[e].n && eps[e].r[i].fd != fd; i++)
			;
		if (op == EPOLL_CTL_DEL) {
			if (i < eps[e].n)
				eps[e].r[i] = eps[e].r[--eps[e].n];
		} else if (ev) {
			if (i == eps[e].n && i < XS_MAX_EPREG)
				eps[e].n++;
			if (i < eps[e].n)
				eps[e].r[i] = (struct epreg){ fd, ev->events, ev->data.u64, true };
		}
		if (eps[e].n && !eps[e].xsk_in) {
			for (int q = 0; q < xs.nq; q++) {
				struct epoll_event xe = { .events = EPOLLIN,
							  .data.u64 = XS_EPOLL_MAGIC + (uint64_t)q };

				XR(epoll_ctl)(epfd, EPOLL_CTL_ADD, xs.q[q].fd, &xe);
			}
			eps[e].xsk_in = true;
		}
	}
	xs_unlock();
	return r;
}

/* Served, armed registrations of eps[e] with a backlog join evs.  Lock
 * held.  Returns the new count. */
static int ep_merge(int e, struct epoll_event *evs, int n, int max)
{
	for (int i = 0; i < eps[e].n; i++) {
		struct epreg *g = &eps[e].r[i];
		struct xs_sock *s = sock_of(g->fd);
		int j;

		if (!s || !s->head || !g->armed || !(g->events & EPOLLIN))
			continue;
		for (j = 0; j < n && evs[j].data.u64 != g->data; j++)
			;
		if (j == n) {
			if (n == max)
				break;
			evs[n].events = 0;
			evs[n].data.u64 = g->data;
			n++;
		}
		evs[j].events |= EPOLLIN;
		if (g->events & EPOLLONESHOT)
			g->armed = false;
	}
	return n;
}

/* Drop our magic events; returns the count left, *ring if any was ours. */
static int ep_filter(struct epoll_event *evs, int n, bool *ring)
{
	int k = 0;

	for (int i = 0; i < n; i++) {
		if ((evs[i].data.u64 & ~0xffffULL) == XS_EPOLL_MAGIC) {
			*ring = true;
			continue;
		}
		evs[k++] = evs[i];
	}
	return k;
}

static int xs_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout,
			 const sigset_t *mask)
{
	uint64_t start = zio_now_ns();

	for (;;) {
		int e, n, t = remaining_ms(timeout, start);
		bool ring = false, ready = false;

		xs_lock();
		e = ep_find(epfd);
		if (e >= 0) {
			pull_all();
			for (int i = 0; i < eps[e].n; i++) {
				struct xs_sock *s = sock_of(eps[e].r[i].fd);

				ready |= s && s->head && eps[e].r[i].armed &&
					 (eps[e].r[i].events & EPOLLIN);
			}
		}
		xs_unlock();
		if (e < 0)
			return mask ? XR(epoll_pwait)(epfd, evs, max, timeout, mask)
				    : XR(epoll_wait)(epfd, evs, max, timeout);
		n = mask ? XR(epoll_pwait)(epfd, evs, max, ready ? 0 : t, mask)
			 : XR(epoll_wait)(epfd, evs, max, ready ? 0 : t);
		if (n < 0)
			return n;
		n = ep_filter(evs, n, &ring);
		if (ready || ring) {
			xs_lock();
			e = ep_find(epfd);
			if (e >= 0) {
				pull_all();
				n = ep_merge(e, evs, n, max);
			}
			xs_unlock();
		}
		if (n || remaining_ms(timeout, start) == 0)
			return n;
	}
}

EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	if (likely(!atomic_load_explicit(&zio_xsk_enabled, memory_order_relaxed)))
		return XR(epoll_wait)(epfd, evs, max, timeout);
	return xs_epoll_wait(epfd, evs, max, timeout, NULL);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout,
		       const sigset_t *mask)
{
	if (likely(!atomic_load_explicit(&zio_xsk_enabled, memory_order_relaxed)))
		return XR(epoll_pwait)(epfd, evs, max, timeout, mask);
	return xs_epoll_wait(epfd, evs, max, timeout, mask);
}

/* ------------------------------------------------------------ stats */

/* The stats line's AF_XDP fields (init.c), or nothing without --xdp. */
ZIO_HIDDEN int zio_xsk_stats(char *buf, size_t len)
{
	static const char *const reason[ZIO_STEER_NREASONS] = {
		"redirect", "no_xsk", "not_ip", "not_udp", "port", "trunc", "ip_opt", "frag",
		"bad_len", "other_host",
	};
	int n;

	if (!xs.configured || !xs.up)
		return 0;
#define X(f) (unsigned long long)atomic_load(&xs_stats.f)
	n = zio_snprintf(buf, len,
			 " xdp_mode=%s-%s xdp_csum=%s xdp_rx=%llu xdp_tx=%llu xdp_fallback=%llu "
			 "frames_held_max=%llu xdp_rx_kernel=%llu xdp_copied_bytes=%llu "
			 "xdp_aliased_bytes=%llu xdp_tx_desc_umem=%llu xdp_evicted=%llu "
			 "xdp_dropped=%llu xdp_spin_hit=%llu xdp_spin_miss=%llu",
			 xs.mode, xs.zerocopy ? "zc" : "copy", xs.txmd ? "offload" : "sw", X(rx), X(tx), X(fallback),
			 X(held_max), X(rx_kernel), X(copied_bytes), X(aliased_bytes),
			 X(tx_desc_umem), X(evicted), X(dropped), X(spin_hit), X(spin_miss));
#undef X
	if (xs.cnt_map >= 0) {
		static uint64_t v[1024];

		for (uint32_t k = 0; k < ZIO_STEER_NREASONS && n < (int)len; k++) {
			uint64_t sum = 0;

			memset(v, 0, sizeof(v));
			if (xs_map_lookup(xs.cnt_map, &k, v))
				continue;
			for (int c = 0; c < 1024; c++)
				sum += v[c];
			n += zio_snprintf(buf + n, len - (size_t)n, " xdp_%s=%llu", reason[k],
					  (unsigned long long)sum);
		}
	}
	return n < (int)len ? n : (int)len - 1;
}

/* Fortified callers (-D_FORTIFY_SOURCE) reach poll through these. */
extern void __chk_fail(void) __attribute__((noreturn));

EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return poll(fds, n, timeout);
}

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		       const sigset_t *mask, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return ppoll(fds, n, ts, mask);
}
