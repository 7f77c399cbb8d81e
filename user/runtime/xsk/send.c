// SPDX-License-Identifier: MIT
/*
 * Send on a served socket: on the tx ring when the peer's link address is
 * known, headers in a fresh chunk, payload descriptors pointing at the
 * frames that aliases of the buffer resolve to (ring.c); else the kernel
 * socket, through the usual output path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "mech/state.h"
#include "xsk/xsk.h"

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
				zio_pin(o);
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
			zio_pin_drop(seg[j].o);
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
	s = xs_sock_of(fd);
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

	if (!xs_sock_of(fd))
		return false;
	if (send_one(fd, msg, flags, &sent))
		return false;  /* the kernel socket, through the usual output path */
	*ret = (ssize_t)sent;
	return true;
}

/* Is fd served (sendmmsg asks before it loops over our sendmsg)? */
ZIO_HIDDEN bool zio_xsk_served(int fd)
{
	return xs_sock_of(fd) != NULL;
}
