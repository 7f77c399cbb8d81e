// SPDX-License-Identifier: MIT
/*
 * The program's UDP sockets served from AF_XDP rings (zio-run --xdp):
 * which descriptors are served, and what bind, connect, close and dup do
 * to that (the gates are in interpose.c).
 *
 * A socket becomes served when the program binds it to one of the
 * configured ports: the runtime then creates the UMEM and one AF_XDP
 * socket per queue (first time, setup.c), and marks the port active in
 * the steering program's map, so datagrams to it start arriving in the
 * rings.  The kernel socket stays: it keeps the port, answers
 * getsockname and friends, and receives whatever the XDP program passed
 * (fragments, IP options...), which recv also looks at, so nothing is
 * lost.  Receive is recv.c, send send.c, poll/select/epoll wait.c.
 *
 * Every other case (unknown peer, control messages, flags we do not
 * emulate, oversize, exhausted rings) goes to the kernel socket and is
 * counted (xdp_fallback).  Non-served descriptors cost one array lookup.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zio.h"
#include "base/options.h"
#include "xsk/xsk.h"

ZIO_HIDDEN _Atomic int zio_xsk_enabled;
ZIO_HIDDEN uint8_t xs_fd2sock[XS_MAX_FD];
ZIO_HIDDEN struct xs_sock xs_socks[XS_MAX_SOCKS];

ZIO_HIDDEN struct xs_sock *xs_sock_for_port(uint16_t port)
{
	for (int i = 0; i < XS_MAX_SOCKS; i++)
		if (xs_socks[i].refs && xs_socks[i].port == port)
			return &xs_socks[i];
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

/* fork: the rings belong to the parent; the child's sockets are plain
 * kernel sockets from now on (datagrams keep going to the parent). */
ZIO_HIDDEN void zio_xsk_fork_child(void)
{
	atomic_store(&zio_xsk_enabled, 0);
	memset(xs_fd2sock, 0, sizeof(xs_fd2sock));
}

/* Take the ZIO_XDP_* settings (options.c read them) once.  Sets
 * xs.configured when they are complete and this runtime speaks the
 * loader's ABI. */
static void config_once(void)
{
	const struct zio_xdp_options *x = &zio_opt.xdp;

	if (x->abi < 0)
		return;
	if (x->abi != ZIO_STEER_ABI) {
		pr_warn("xdp: zio-run speaks steering ABI %d, the runtime %d: kernel sockets only",
			x->abi, ZIO_STEER_ABI);
		return;
	}
	zio_snprintf(xs.ifname, sizeof(xs.ifname), "%s", x->iface);
	xs.ifindex = x->ifindex;
	xs.mtu = x->mtu;
	xs.link_fd = x->link_fd;
	zio_snprintf(xs.mode, sizeof(xs.mode), "%s", x->mode);
	zio_snprintf(xs.pin_dir, sizeof(xs.pin_dir), "%s", x->pin_dir);
	zio_snprintf(xs.bind_mode, sizeof(xs.bind_mode), "%s", x->bind);
	zio_raw_copy(xs.mac, x->mac, 6);
	xs.frames = (uint32_t)x->frames;
	xs.ring = (uint32_t)x->ring;
	if (xs.ring & (xs.ring - 1)) {
		pr_warn("invalid %s=%u (expected a power of two): using %u", ZIO_ENV_XDP_RING,
			xs.ring, ZIO_XDP_DEFAULT_RING);
		xs.ring = ZIO_XDP_DEFAULT_RING;
	}
	xs.csum = x->csum != 0;
	xs.csum_offload = x->csum < 0;
	xs.spin_ns = (uint32_t)x->spin_us * 1000u;
	for (int i = 0; i < x->queues.n && xs.nq < XS_MAX_QUEUES; i++)
		xs.qids[xs.nq++] = x->queues.v[i];
	for (int i = 0; i < x->ports.n && xs.nports < ZIO_STEER_MAX_PORTS; i++)
		xs.ports[xs.nports++] = (uint16_t)x->ports.v[i];
	if (!xs.ifindex || !xs.nq || !xs.nports || !xs.pin_dir[0] ||
	    !(xs.mac[0] | xs.mac[1] | xs.mac[2] | xs.mac[3] | xs.mac[4] | xs.mac[5])) {
		pr_warn("xdp: incomplete ZIO_XDP_* settings: kernel sockets only");
		return;
	}
	xs.configured = true;
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
		zio_real.fcntl(xs.link_fd, F_SETFD, FD_CLOEXEC);
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
		if (!xs_socks[i].refs) {
			idx = i;
			break;
		}
	if (idx < 0)
		goto out;
	s = &xs_socks[idx];
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
	xs_fd2sock[fd] = (uint8_t)(idx + 1);
	set_port(port, true);
	atomic_store(&zio_xsk_enabled, 1);
	pr_info("xdp: fd %d (port %u) served from AF_XDP", fd, port);
out:
	xs_unlock();
}

/* Lock held.  The last fd of a served socket goes. */
static void unserve(int fd)
{
	struct xs_sock *s = xs_sock_of(fd);

	if ((unsigned)fd >= XS_MAX_FD)
		return;
	xs_fd2sock[fd] = 0;
	xs_wait_forget_fd(fd);
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

/* ------------------------------------------------------------ calls */

/* bind(2) of fd succeeded: a UDP socket bound to a configured port is
 * served from the rings from now on. */
ZIO_HIDDEN void zio_xsk_bound(int fd, const struct sockaddr *a, socklen_t alen)
{
	pthread_once(&cfg_once, config_once);
	if (xs.configured)
		serve(fd, a, alen);
}

/* connect(2) of fd succeeded: a served socket learns its peer. */
ZIO_HIDDEN void zio_xsk_connected(int fd, const struct sockaddr *a, socklen_t alen)
{
	struct xs_sock *s;

	xs_lock();
	s = xs_sock_of(fd);
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
}

/* fd is about to be closed: a served socket loses it. */
ZIO_HIDDEN void zio_xsk_closing(int fd)
{
	if ((unsigned)fd >= XS_MAX_FD)
		return;
	xs_lock();
	if (xs_fd2sock[fd])
		unserve(fd);
	xs_wait_forget_epfd(fd);
	xs_unlock();
}

/* nfd is a new descriptor for old (dup, dup2, dup3, F_DUPFD): a dup of a
 * served socket is served too (both name one socket).  Returns nfd. */
ZIO_HIDDEN int zio_xsk_dup(int old, int nfd)
{
	if (nfd < 0)
		return nfd;
	xs_lock();
	if ((unsigned)nfd < XS_MAX_FD && nfd != old) {
		if (xs_fd2sock[nfd])
			unserve(nfd);  /* dup2 over a served fd closed it */
		if (xs_sock_of(old)) {
			xs_fd2sock[nfd] = xs_fd2sock[old];
			xs_sock_of(old)->refs++;
		}
	}
	xs_unlock();
	return nfd;
}

/* FIONREAD on a served socket: the size of the next datagram, as the
 * kernel answers.  True with *v set when the backlog has one. */
ZIO_HIDDEN bool zio_xsk_fionread(int fd, int *v)
{
	struct xs_sock *s = xs_sock_of(fd);
	bool have;

	if (!s)
		return false;
	xs_lock();
	if (!s->head)
		xs_pull_all();
	have = s->head != NULL;
	if (have)
		*v = (int)s->head->len;
	xs_unlock();
	return have;
}

/* ------------------------------------------------------------ stats */

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
