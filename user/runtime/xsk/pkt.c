// SPDX-License-Identifier: MIT
/*
 * Packets of the AF_XDP path: the headers of received datagrams (the
 * XDP program already checked what it redirects, see bpf/steer.bpf.c),
 * the headers of transmitted ones, Internet checksums, and the link
 * addresses of peers.
 *
 * Link addresses are learned from received packets (the source MAC of a
 * peer's datagram is where its reply goes, the gateway's for a peer
 * behind a router), else asked from the kernel's neighbour table once.
 * A peer with neither is served by the kernel socket.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/neighbour.h>

#include "mech/state.h"
#include "xsk/xsk.h"

#define NEIGH_SLOTS 256

struct neigh {
	struct in6_addr peer, local;
	uint8_t mac[6];
	uint8_t valid;
	int8_t q;
	uint64_t miss_ns;   /* negative entry: kernel table asked then */
};

static struct neigh neigh[NEIGH_SLOTS];

static inline uint32_t addr_hash(const struct in6_addr *a)
{
	const uint32_t *w = (const uint32_t *)a;

	return (w[0] ^ w[1] ^ w[2] ^ (w[3] * 2654435761u)) % NEIGH_SLOTS;
}

static void v4map(struct in6_addr *a, const void *v4)
{
	memset(a, 0, 10);
	a->s6_addr[10] = a->s6_addr[11] = 0xff;
	memcpy(&a->s6_addr[12], v4, 4);
}

ZIO_HIDDEN int xs_parse(const uint8_t *p, uint32_t len, struct xs_dgram *d, uint32_t *hlen,
			uint8_t src_mac[6])
{
	uint16_t et, ulen;
	const uint8_t *u;

	if (len < 14 + 20 + 8)
		return -EINVAL;
	memcpy(src_mac, p + 6, 6);
	et = (uint16_t)(p[12] << 8 | p[13]);
	if (et == 0x0800) {
		if ((p[14] & 0x0f) != 5 || p[23] != 17)
			return -EINVAL;
		v4map(&d->src, p + 26);
		v4map(&d->dst, p + 30);
		d->v4 = true;
		u = p + 34;
	} else if (et == 0x86dd) {
		if (len < 14 + 40 + 8 || p[20] != 17)
			return -EINVAL;
		memcpy(&d->src, p + 22, 16);
		memcpy(&d->dst, p + 38, 16);
		d->v4 = false;
		u = p + 54;
	} else {
		return -EINVAL;
	}
	d->sport = (uint16_t)(u[0] << 8 | u[1]);
	d->dport = (uint16_t)(u[2] << 8 | u[3]);
	ulen = (uint16_t)(u[4] << 8 | u[5]);
	if (ulen < 8)
		return -EINVAL;
	d->len = ulen - 8u;
	*hlen = (uint32_t)(u + 8 - p);
	return 0;
}

ZIO_HIDDEN void xs_neigh_learn(const struct in6_addr *peer, const uint8_t mac[6],
			       const struct in6_addr *local, int q)
{
	struct neigh *n = &neigh[addr_hash(peer)];

	/* the common case, the same peer again: compare, do not write */
	if (n->valid && !memcmp(&n->peer, peer, sizeof(*peer)) && !memcmp(n->mac, mac, 6) &&
	    !memcmp(&n->local, local, sizeof(*local)) && n->q == q)
		return;
	n->peer = *peer;
	n->local = *local;
	memcpy(n->mac, mac, 6);
	n->q = (int8_t)q;
	n->valid = 1;
}

/* Ask the kernel's neighbour table (RTM_GETNEIGH) for peer's MAC on our
 * interface.  0 or -ENOENT. */
static int kernel_neigh(const struct in6_addr *peer, bool v4, uint8_t mac[6])
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg nd;
		struct rtattr ra;
		uint8_t addr[16];
	} req;
	char buf[1024];
	int fd, err = -ENOENT;
	ssize_t n;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -ENOENT;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg)) + RTA_LENGTH(v4 ? 4 : 16);
	req.nh.nlmsg_type = RTM_GETNEIGH;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nd.ndm_family = v4 ? AF_INET : AF_INET6;
	req.nd.ndm_ifindex = xs.ifindex;
	req.ra.rta_type = NDA_DST;
	req.ra.rta_len = RTA_LENGTH(v4 ? 4 : 16);
	memcpy(req.addr, v4 ? &peer->s6_addr[12] : peer->s6_addr, v4 ? 4 : 16);
	if (zio_real.send(fd, &req, req.nh.nlmsg_len, 0) < 0)
		goto out;
	n = zio_real.recv(fd, buf, sizeof(buf), 0);
	if (n > 0) {
		struct nlmsghdr *nh = (struct nlmsghdr *)buf;

		if (NLMSG_OK(nh, (size_t)n) && nh->nlmsg_type == RTM_NEWNEIGH) {
			struct ndmsg *nd = NLMSG_DATA(nh);
			struct rtattr *ra = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd)));
			int rl = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd)));

			for (; RTA_OK(ra, rl); ra = RTA_NEXT(ra, rl))
				if (ra->rta_type == NDA_LLADDR && RTA_PAYLOAD(ra) == 6 &&
				    (nd->ndm_state & (NUD_REACHABLE | NUD_STALE | NUD_PERMANENT |
						      NUD_DELAY | NUD_PROBE))) {
					memcpy(mac, RTA_DATA(ra), 6);
					err = 0;
				}
		}
	}
out:
	syscall(SYS_close, fd);  /* not our interposed close: xs.lock is held */
	return err;
}

ZIO_HIDDEN int xs_neigh_lookup(const struct in6_addr *peer, bool v4, uint8_t mac[6],
			       struct in6_addr *local, int *q)
{
	struct neigh *n = &neigh[addr_hash(peer)];
	uint64_t now;

	if (n->valid && !memcmp(&n->peer, peer, sizeof(*peer))) {
		if (n->valid == 2)
			goto miss;
		memcpy(mac, n->mac, 6);
		*local = n->local;
		*q = n->q;
		return 0;
	}
miss:
	now = zio_now_ns();
	if (n->valid == 2 && !memcmp(&n->peer, peer, sizeof(*peer)) &&
	    now - n->miss_ns < 1000000000ULL)
		return -ENOENT;  /* asked within the last second */
	if (kernel_neigh(peer, v4, mac)) {
		n->peer = *peer;
		n->valid = 2;
		n->miss_ns = now;
		return -ENOENT;
	}
	/* the local address is the caller's to choose (bound or any) */
	memset(local, 0, sizeof(*local));
	*q = 0;
	return 0;
}

/*
 * Ones' complement sum of len bytes at p, added to sum.  `odd`: p sits at
 * an odd offset of the checksummed stream, so its bytes swap lanes.
 * Elsewhere than x86-64: eight bytes at a time into 64-bit accumulators
 * of 32-bit halves (no carries lost for any datagram size).
 */
ZIO_HIDDEN uint32_t xs_csum_add(uint32_t sum, const void *p, size_t len, bool odd)
{
	const uint8_t *b = p;
	uint64_t acc = 0, a1 = 0, a2 = 0, a3 = 0;

#if defined(__x86_64__)
	/* One carry chain of 64-bit add-with-carry, 64 bytes a round: about
	 * 8 bytes a cycle, the way the kernel's csum_partial does it.  The
	 * end-around carry makes the 64-bit sum a valid ones' complement sum
	 * of the 16-bit words, folded below. */
	(void)a1; (void)a2; (void)a3;
	while (len >= 64) {
		__asm__("addq 0(%[p]), %[s]\n\t"
			"adcq 8(%[p]), %[s]\n\t"
			"adcq 16(%[p]), %[s]\n\t"
			"adcq 24(%[p]), %[s]\n\t"
			"adcq 32(%[p]), %[s]\n\t"
			"adcq 40(%[p]), %[s]\n\t"
			"adcq 48(%[p]), %[s]\n\t"
			"adcq 56(%[p]), %[s]\n\t"
			"adcq $0, %[s]"
			: [s] "+r"(acc) : [p] "r"(b) : "memory", "cc");
		b += 64;
		len -= 64;
	}
	acc = (acc & 0xffffffff) + (acc >> 32);
#else
	while (len >= 32) {
		uint64_t v0, v1, v2, v3;

		memcpy(&v0, b, 8);
		memcpy(&v1, b + 8, 8);
		memcpy(&v2, b + 16, 8);
		memcpy(&v3, b + 24, 8);
		acc += (v0 & 0xffffffff) + (v0 >> 32);
		a1 += (v1 & 0xffffffff) + (v1 >> 32);
		a2 += (v2 & 0xffffffff) + (v2 >> 32);
		a3 += (v3 & 0xffffffff) + (v3 >> 32);
		b += 32;
		len -= 32;
	}
	acc += a1 + a2 + a3;
#endif
	while (len >= 4) {
		uint32_t v;

		memcpy(&v, b, 4);
		acc += v;
		b += 4;
		len -= 4;
	}
	while (len >= 2) {
		uint16_t v;

		memcpy(&v, b, 2);
		acc += v;
		b += 2;
		len -= 2;
	}
	if (len)
		acc += *b;   /* little-endian: the low lane */
	/* fold to 16 bits (native byte order) */
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	/* native (little-endian) lanes to network order */
	acc = ((acc & 0xff) << 8) | (acc >> 8);
	if (odd)
		acc = ((acc & 0xff) << 8) | (acc >> 8);
	sum += (uint32_t)acc;
	return sum;
}

ZIO_HIDDEN uint16_t xs_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

ZIO_HIDDEN uint32_t xs_build_hdr(uint8_t *h, const uint8_t dmac[6], const struct in6_addr *src,
				 uint16_t sport, const struct in6_addr *dst, uint16_t dport,
				 bool v4, uint32_t plen, uint32_t *csum_off, uint32_t *seed)
{
	uint32_t ulen = plen + 8, sum = 0;
	uint8_t *u;

	memcpy(h, dmac, 6);
	memcpy(h + 6, xs.mac, 6);
	if (v4) {
		uint8_t *ip = h + 14;

		put16(h + 12, 0x0800);
		ip[0] = 0x45;
		ip[1] = 0;
		put16(ip + 2, (uint16_t)(20 + ulen));
		put16(ip + 4, (uint16_t)xs.ip_id++);
		put16(ip + 6, 0x4000);          /* DF: it fits the MTU */
		ip[8] = 64;
		ip[9] = 17;
		put16(ip + 10, 0);
		memcpy(ip + 12, &src->s6_addr[12], 4);
		memcpy(ip + 16, &dst->s6_addr[12], 4);
		put16(ip + 10, xs_csum_fold(xs_csum_add(0, ip, 20, false)));
		u = ip + 20;
		/* pseudo header: addresses, protocol, UDP length */
		sum = xs_csum_add(sum, ip + 12, 8, false);
		sum += 17 + ulen;
	} else {
		uint8_t *ip = h + 14;

		put16(h + 12, 0x86dd);
		ip[0] = 0x60;
		ip[1] = ip[2] = ip[3] = 0;
		put16(ip + 4, (uint16_t)ulen);
		ip[6] = 17;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
		u = ip + 40;
		sum = xs_csum_add(sum, ip + 8, 32, false);
		sum += 17 + ulen;
	}
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)ulen);
	put16(u + 6, 0);
	/* the pseudo header's sum only: a checksum offload starts from it */
	*csum_off = (uint32_t)(u + 6 - h);
	*seed = sum;
	return (uint32_t)(u + 8 - h);
}
