// SPDX-License-Identifier: MIT
/*
 * steer.bpf.c - the XDP program of zio's kernel-bypass path.
 *
 * UDP datagrams (IPv4 or IPv6) to a served port go into the AF_XDP
 * socket of the queue they arrived on; everything else goes to the
 * kernel, counted by reason (steer.h).  Kept tiny, like libxdp's default
 * XSK program (xsk_def_xdp_prog.c): parse, look up, redirect.  It only
 * redirects what the runtime can deliver exactly as the kernel would:
 * a whole, unfragmented datagram with plain headers.  Anything it does
 * not parse (IPv4 options, IPv6 extension headers, fragments, lengths
 * that disagree) is the kernel's, which then delivers it to the same
 * program socket, so nothing is lost.
 *
 *   frame:  | eth 14 | IPv4 20 (ihl 5) / IPv6 40 | UDP 8 | payload ...
 *            ^data                                         (may go on in
 *                                                           frags: xdp.frags)
 *
 * "xdp.frags": the program accepts multi-buffer frames, which a driver
 * needs to run XDP at a jumbo MTU (veth refuses a plain program above
 * ~3.5 KB), and which AF_XDP with XDP_USE_SG receives as a descriptor
 * chain.  Only the headers must sit in the first buffer.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "steer.h"

#define ETH_P_IP   0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_UDP_ 17
#define IP_MF     0x2000
#define IP_OFFSET 0x1FFF

const volatile struct zio_steer_cfg cfg = { .abi = ZIO_STEER_ABI };

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, ZIO_STEER_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} zio_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZIO_STEER_MAX_PORTS);
	__type(key, __u16);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} zio_ports SEC(".maps");

/* Per-CPU: each CPU counts its own packets, so no atomics are needed
 * (the reasoning of xdp-tools' xdp_stats_kern.h); readers sum. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZIO_STEER_NREASONS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} zio_steer_cnt SEC(".maps");

static __always_inline int verdict(__u32 reason, int action)
{
	__u64 *c = bpf_map_lookup_elem(&zio_steer_cnt, &reason);

	if (c)
		*c += 1;
	return action;
}

static __always_inline bool mac_is_ours(const struct ethhdr *eth)
{
	const __u8 *m = (const __u8 *)cfg.mac;

	if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
		return true;
	return eth->h_dest[0] == m[0] && eth->h_dest[1] == m[1] && eth->h_dest[2] == m[2] &&
	       eth->h_dest[3] == m[3] && eth->h_dest[4] == m[4] && eth->h_dest[5] == m[5];
}

SEC("xdp.frags")
int zio_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 frame_len = bpf_xdp_get_buff_len(ctx);
	struct ethhdr *eth = data;
	struct udphdr *udp;
	__u32 ip_len, udp_len, *flags;
	__u16 port;

	if ((void *)(eth + 1) > data_end)
		return verdict(ZIO_STEER_TRUNC, XDP_PASS);
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return verdict(ZIO_STEER_TRUNC, XDP_PASS);
		if (ip->version != 4)
			return verdict(ZIO_STEER_BAD_LEN, XDP_PASS);
		if (ip->protocol != IPPROTO_UDP_)
			return verdict(ZIO_STEER_NOT_UDP, XDP_PASS);
		if (ip->ihl != 5)
			return verdict(ip->ihl < 5 ? ZIO_STEER_BAD_LEN : ZIO_STEER_IP_OPT, XDP_PASS);
		if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
			return verdict(ZIO_STEER_FRAG, XDP_PASS);
		udp = (void *)(ip + 1);
		if ((void *)(udp + 1) > data_end)
			return verdict(ZIO_STEER_TRUNC, XDP_PASS);
		ip_len = bpf_ntohs(ip->tot_len);
		udp_len = bpf_ntohs(udp->len);
		/* The frame may carry Ethernet padding, never less than the
		 * IP length says; UDP must fill the IP payload exactly. */
		if (ip_len < sizeof(*ip) + sizeof(*udp) || ip_len + sizeof(*eth) > frame_len ||
		    udp_len != ip_len - sizeof(*ip))
			return verdict(ZIO_STEER_BAD_LEN, XDP_PASS);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return verdict(ZIO_STEER_TRUNC, XDP_PASS);
		if (ip6->version != 6)
			return verdict(ZIO_STEER_BAD_LEN, XDP_PASS);
		if (ip6->nexthdr == 44 /* fragment header */)
			return verdict(ZIO_STEER_FRAG, XDP_PASS);
		if (ip6->nexthdr != IPPROTO_UDP_) {
			/* hop-by-hop, routing, destination options, ...: the
			 * kernel's to walk */
			if (ip6->nexthdr == 0 || ip6->nexthdr == 43 || ip6->nexthdr == 60 ||
			    ip6->nexthdr == 51 || ip6->nexthdr == 50 || ip6->nexthdr == 135)
				return verdict(ZIO_STEER_IP_OPT, XDP_PASS);
			return verdict(ZIO_STEER_NOT_UDP, XDP_PASS);
		}
		udp = (void *)(ip6 + 1);
		if ((void *)(udp + 1) > data_end)
			return verdict(ZIO_STEER_TRUNC, XDP_PASS);
		ip_len = bpf_ntohs(ip6->payload_len);
		udp_len = bpf_ntohs(udp->len);
		/* payload_len 0 is a jumbogram (hop-by-hop option): not ours */
		if (ip_len < sizeof(*udp) || ip_len + sizeof(*ip6) + sizeof(*eth) > frame_len ||
		    udp_len != ip_len)
			return verdict(ZIO_STEER_BAD_LEN, XDP_PASS);
	} else {
		return verdict(ZIO_STEER_NOT_IP, XDP_PASS);
	}

	port = bpf_ntohs(udp->dest);
	flags = bpf_map_lookup_elem(&zio_ports, &port);
	if (!flags || !(*flags & ZIO_PORT_ACTIVE))
		return verdict(ZIO_STEER_PORT, XDP_PASS);
	if (!mac_is_ours(eth))
		return verdict(ZIO_STEER_OTHER_HOST, XDP_PASS);
	/* No socket on this queue: XDP_PASS (the flags' low bits), and the
	 * kernel socket bound to the port gets it. */
	if (bpf_redirect_map(&zio_xsks, ctx->rx_queue_index, XDP_PASS) == XDP_REDIRECT)
		return verdict(ZIO_STEER_REDIRECT, XDP_REDIRECT);
	return verdict(ZIO_STEER_NO_XSK, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
