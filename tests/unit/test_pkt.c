// SPDX-License-Identifier: MIT
/*
 * Unit tests of the AF_XDP path's packets (xsk/pkt.c): xs_parse on IPv4
 * and IPv6 UDP frames built here, the headers xs_build_hdr writes, and
 * the Internet checksum helpers, against a plain RFC 1071 sum written
 * here.  xs_parse checks what it needs to find the datagram; the rest
 * (IP version, fragments, IP and UDP lengths against the frame) is the
 * steering program's (bpf/steer.bpf.c), which redirects nothing else.
 * The neighbour table (netlink) is not tested here.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "xsk/xsk.h"

/*
 * pkt.o's neighbour lookup reads the clock of mech/state.c and the AF_XDP
 * state of xsk/umem.c; the unit binary links neither, so both are
 * defined here for the link alone (xs also gives xs_build_hdr its source
 * MAC and IP id).
 */
struct xs_state xs;
uint64_t zio_now_ns(void);
uint64_t zio_now_ns(void)
{
	return 0;
}

static const uint8_t mac_a[6] = { 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30 };
static const uint8_t mac_b[6] = { 0x02, 0x00, 0x5e, 0xa0, 0xb0, 0xc0 };

/* ------------------------------------------------------------ reference */

/* RFC 1071: 16-bit big-endian words, an odd last byte padded with zero,
 * added with end-around carry. */
static uint64_t ref_sum(uint64_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint64_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint64_t)p[n - 1] << 8;
	return sum;
}

/* The folded sum, not complemented. */
static uint16_t ref_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

static struct in6_addr v4mapped(const char *a)
{
	struct in6_addr r = { 0 };

	r.s6_addr[10] = r.s6_addr[11] = 0xff;
	cr_assert_eq(inet_pton(AF_INET, a, &r.s6_addr[12]), 1);
	return r;
}

static struct in6_addr v6(const char *a)
{
	struct in6_addr r;

	cr_assert_eq(inet_pton(AF_INET6, a, &r), 1);
	return r;
}

/* ------------------------------------------------------------ frames */

struct spec {
	bool v4;
	struct in6_addr src, dst;      /* v4: v4-mapped */
	uint16_t sport, dport;
	const uint8_t *payload;
	uint32_t plen;
};

/* The UDP checksum over the pseudo header, the UDP header (its checksum
 * field as it is) and the payload, not complemented. */
static uint16_t udp_sum(const uint8_t *f, bool v4)
{
	const uint8_t *ip = f + 14, *u = ip + (v4 ? 20 : 40);
	uint16_t ulen = get16(u + 4);
	uint64_t s = 0;

	if (v4)
		s = ref_sum(s, ip + 12, 8);
	else
		s = ref_sum(s, ip + 8, 32);
	s += 17 + (uint64_t)ulen;
	return ref_fold(ref_sum(s, u, ulen));
}

/* Build an Ethernet + IP + UDP frame of s into f, with correct IPv4 and
 * UDP checksums.  Returns its length. */
static uint32_t build(uint8_t *f, const struct spec *s)
{
	uint8_t *ip = f + 14, *u;
	uint16_t ulen = (uint16_t)(8 + s->plen), c;

	memcpy(f, mac_b, 6);
	memcpy(f + 6, mac_a, 6);
	if (s->v4) {
		put16(f + 12, 0x0800);
		ip[0] = 0x45;
		ip[1] = 0;
		put16(ip + 2, (uint16_t)(20 + ulen));
		put16(ip + 4, 0x1234);
		put16(ip + 6, 0x4000);
		ip[8] = 64;
		ip[9] = 17;
		put16(ip + 10, 0);
		memcpy(ip + 12, &s->src.s6_addr[12], 4);
		memcpy(ip + 16, &s->dst.s6_addr[12], 4);
		put16(ip + 10, (uint16_t)~ref_fold(ref_sum(0, ip, 20)));
		u = ip + 20;
	} else {
		put16(f + 12, 0x86dd);
		ip[0] = 0x60;
		ip[1] = ip[2] = ip[3] = 0;
		put16(ip + 4, ulen);
		ip[6] = 17;
		ip[7] = 64;
		memcpy(ip + 8, &s->src, 16);
		memcpy(ip + 24, &s->dst, 16);
		u = ip + 40;
	}
	put16(u, s->sport);
	put16(u + 2, s->dport);
	put16(u + 4, ulen);
	put16(u + 6, 0);
	memcpy(u + 8, s->payload, s->plen);
	c = (uint16_t)~udp_sum(f, s->v4);
	put16(u + 6, c ? c : 0xffff);
	return (uint32_t)(u + 8 - f) + s->plen;
}

/* What a receiver checks of a frame: IPv4 header checksum, UDP checksum
 * (0 allowed for IPv4: none), lengths.  Returns whether it would take it. */
static bool receiver_accepts(const uint8_t *f, uint32_t len)
{
	bool v4 = get16(f + 12) == 0x0800;
	const uint8_t *ip = f + 14, *u = ip + (v4 ? 20 : 40);
	uint32_t ulen = get16(u + 4);

	if (len < (uint32_t)(u + 8 - f) || len < (uint32_t)(u - f) + ulen)
		return false;
	if (v4 && (ref_fold(ref_sum(0, ip, 20)) != 0xffff || get16(ip + 2) != 20 + ulen))
		return false;
	if (!v4 && get16(ip + 4) != ulen)
		return false;
	if (v4 && !get16(u + 6))
		return true;
	return udp_sum(f, v4) == 0xffff;
}

static const struct spec *spec4(uint32_t plen)
{
	static uint8_t payload[9000];
	static struct spec s;

	fill_random(payload, plen);
	s = (struct spec){ .v4 = true, .src = v4mapped("192.168.7.1"), .dst = v4mapped("10.1.2.3"),
			   .sport = 0x1234, .dport = 9000, .payload = payload, .plen = plen };
	return &s;
}

static const struct spec *spec6(uint32_t plen)
{
	static uint8_t payload[9000];
	static struct spec s;

	fill_random(payload, plen);
	s = (struct spec){ .v4 = false, .src = v6("fd00::1:2"), .dst = v6("2001:db8::abcd:ef01"),
			   .sport = 0xabcd, .dport = 9001, .payload = payload, .plen = plen };
	return &s;
}

/* ------------------------------------------------------------ xs_parse */

static void expect_parsed(const uint8_t *f, uint32_t len, const struct spec *s)
{
	struct xs_dgram d;
	uint8_t smac[6] = { 0 };
	uint32_t hlen = 0;

	memset(&d, 0xa5, sizeof(d));
	cr_assert_eq(xs_parse(f, len, &d, &hlen, smac), 0);
	cr_assert_eq(d.v4, s->v4);
	cr_assert_arr_eq(&d.src, &s->src, 16, "source, v4-mapped for IPv4");
	cr_assert_arr_eq(&d.dst, &s->dst, 16);
	cr_assert_eq(d.sport, s->sport, "host order: %#x", d.sport);
	cr_assert_eq(d.dport, s->dport, "host order: %#x", d.dport);
	cr_assert_eq(d.len, s->plen);
	cr_assert_eq(hlen, s->v4 ? 42 : 62);
	cr_assert_arr_eq(smac, mac_a, 6, "the peer's MAC, for the reply");
	cr_assert_arr_eq(f + hlen, s->payload, s->plen, "the payload starts at hlen");
}

Test(pkt, parses_ipv4_udp)
{
	static uint8_t f[2048];
	const struct spec *s = spec4(100);
	uint32_t len = build(f, s);

	cr_assert(receiver_accepts(f, len), "the test's frame is valid");
	expect_parsed(f, len, s);
}

Test(pkt, parses_ipv6_udp)
{
	static uint8_t f[2048];
	const struct spec *s = spec6(1000);
	uint32_t len = build(f, s);

	cr_assert(receiver_accepts(f, len));
	expect_parsed(f, len, s);
}

/* An empty datagram is headers only; a short one padded to Ethernet's 60
 * bytes is as long as its UDP header says. */
Test(pkt, payload_length_is_the_udp_length)
{
	static uint8_t f[2048];
	const struct spec *s = spec4(0);
	uint32_t len = build(f, s);

	cr_assert_eq(len, 42);
	expect_parsed(f, len, s);
	s = spec4(3);
	len = build(f, s);
	memset(f + len, 0, 60 - len);
	expect_parsed(f, 60, s);
	s = spec6(0);
	len = build(f, s);
	cr_assert_eq(len, 62);
	expect_parsed(f, len, s);
}

/* Only the first buffer of a multi-buffer frame is parsed: the UDP length
 * may run past it (ring.c drops a chain shorter than it). */
Test(pkt, udp_length_may_run_past_the_first_buffer)
{
	static uint8_t f[9100];
	struct xs_dgram d;
	uint8_t smac[6];
	uint32_t hlen;
	const struct spec *s = spec6(8000);

	build(f, s);
	cr_assert_eq(xs_parse(f, 3840, &d, &hlen, smac), 0);
	cr_assert_eq(d.len, 8000);
	cr_assert_eq(hlen, 62);
}

Test(pkt, rejects_truncated_frames)
{
	static uint8_t f[2048];
	struct xs_dgram d;
	uint8_t smac[6];
	uint32_t hlen, len;

	len = build(f, spec4(0));
	for (uint32_t n = 0; n < len; n++)
		cr_assert_eq(xs_parse(f, n, &d, &hlen, smac), -EINVAL, "IPv4, %u bytes", n);
	len = build(f, spec6(0));
	for (uint32_t n = 0; n < len; n++)
		cr_assert_eq(xs_parse(f, n, &d, &hlen, smac), -EINVAL, "IPv6, %u bytes", n);
}

/* Plain 20-byte IPv4 headers only: options (and a header length below
 * 20) are the kernel's to handle. */
Test(pkt, rejects_ip_options_and_short_ihl)
{
	static uint8_t f[2048];
	struct xs_dgram d;
	uint8_t smac[6];
	uint32_t hlen, len = build(f, spec4(64));

	for (uint8_t ihl = 0; ihl < 16; ihl++) {
		f[14] = (uint8_t)(0x40 | ihl);
		cr_assert_eq(xs_parse(f, len, &d, &hlen, smac), ihl == 5 ? 0 : -EINVAL, "ihl %u",
			     ihl);
	}
}

Test(pkt, rejects_what_is_not_udp)
{
	static const uint8_t v4_protos[] = { 0, 1, 6, 47, 50, 132, 136, 255 };
	/* IPv6: hop-by-hop, TCP, routing, fragment, ESP, AH, ICMPv6, none,
	 * destination options: an extension header is no UDP header */
	static const uint8_t v6_next[] = { 0, 6, 43, 44, 50, 51, 58, 59, 60 };
	static uint8_t f[2048];
	struct xs_dgram d;
	uint8_t smac[6];
	uint32_t hlen, len;

	len = build(f, spec4(64));
	for (size_t i = 0; i < sizeof(v4_protos); i++) {
		f[23] = v4_protos[i];
		cr_assert_eq(xs_parse(f, len, &d, &hlen, smac), -EINVAL, "protocol %u",
			     v4_protos[i]);
	}
	len = build(f, spec6(64));
	for (size_t i = 0; i < sizeof(v6_next); i++) {
		f[20] = v6_next[i];
		cr_assert_eq(xs_parse(f, len, &d, &hlen, smac), -EINVAL, "next header %u",
			     v6_next[i]);
	}
}

/* ARP, VLAN-tagged and other Ethernet types are not parsed. */
Test(pkt, rejects_other_ethertypes)
{
	static const uint16_t types[] = { 0x0806, 0x8100, 0x88a8, 0x86dc, 0x0801, 0x0000 };
	static uint8_t f[2048];
	struct xs_dgram d;
	uint8_t smac[6];
	uint32_t hlen, len = build(f, spec6(64));

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		put16(f + 12, types[i]);
		cr_assert_eq(xs_parse(f, len, &d, &hlen, smac), -EINVAL, "type %#x", types[i]);
	}
}

/* A UDP length below its own header's 8 bytes is no datagram. */
Test(pkt, rejects_udp_length_below_eight)
{
	static uint8_t f[2048];
	struct xs_dgram d;
	uint8_t smac[6];
	uint32_t hlen, len;

	for (int fam = 0; fam < 2; fam++) {
		uint8_t *u = f + (fam ? 54 : 34);

		len = build(f, fam ? spec6(64) : spec4(64));
		for (uint16_t ulen = 0; ulen < 8; ulen++) {
			put16(u + 4, ulen);
			cr_assert_eq(xs_parse(f, len, &d, &hlen, smac), -EINVAL, "ulen %u", ulen);
		}
		put16(u + 4, 8);
		cr_assert_eq(xs_parse(f, len, &d, &hlen, smac), 0);
		cr_assert_eq(d.len, 0);
	}
}

/* ------------------------------------------------------------ checksums */

/* The sum of any bytes at any alignment is RFC 1071's, in network order. */
Test(pkt, csum_add_is_the_rfc1071_sum)
{
	static const size_t lens[] = { 0, 1, 2, 3, 4, 5, 7, 8, 31, 32, 33, 63, 64, 65, 127, 128,
				       129, 1471, 1472, 1500, 3840, 8999, 9000 };
	static uint8_t buf[9000 + 16];

	for (int round = 0; round < 4; round++) {
		fill_random(buf, sizeof(buf));
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			for (size_t off = 0; off < 8; off++) {
				uint32_t seed = round ? (uint32_t)rnd() & 0xffffff : 0;
				uint32_t got = xs_csum_add(seed, buf + off, lens[i], false);

				cr_assert_eq(xs_csum_fold(got),
					     (uint16_t)~ref_fold(ref_sum(seed, buf + off, lens[i])),
					     "len %zu off %zu seed %#x", lens[i], off, seed);
			}
		}
	}
}

/* Words that sum to 0xffff before the complement: all ones, or all zero. */
Test(pkt, csum_of_all_ones_and_all_zeros)
{
	static uint8_t ones[200], zeros[200];

	memset(ones, 0xff, sizeof(ones));
	cr_assert_eq(xs_csum_fold(xs_csum_add(0, ones, sizeof(ones), false)), 0);
	cr_assert_eq(xs_csum_fold(xs_csum_add(0, zeros, sizeof(zeros), false)), 0xffff);
	cr_assert_eq(xs_csum_fold(xs_csum_add(0, ones, 1, false)), 0x00ff, "0xff00 complemented");
}

/* A stream summed in pieces: a piece that starts at an odd offset of the
 * stream swaps its byte lanes (`odd`), so the pieces add up to the whole
 * whatever their lengths. */
Test(pkt, odd_pieces_add_up_to_the_whole)
{
	static uint8_t buf[6000];
	static const uint8_t two[2] = { 0x01, 0x02 };
	uint32_t whole;

	fill_random(buf, sizeof(buf));
	whole = xs_csum_add(0, buf, sizeof(buf), false);
	for (int round = 0; round < 200; round++) {
		uint32_t sum = 0;
		size_t pos = 0;

		while (pos < sizeof(buf)) {
			size_t n = 1 + (size_t)(rnd() % (round % 2 ? 9 : 700));

			if (n > sizeof(buf) - pos)
				n = sizeof(buf) - pos;
			sum = xs_csum_add(sum, buf + pos, n, pos & 1);
			pos += n;
		}
		cr_assert_eq(xs_csum_fold(sum), xs_csum_fold(whole), "round %d", round);
	}
	/* the lane swap is what makes it right: 0x0102 in two pieces */
	cr_assert_eq(xs_csum_fold(xs_csum_add(xs_csum_add(0, two, 1, false), two + 1, 1, true)),
		     (uint16_t)~0x0102);
	cr_assert_neq(xs_csum_fold(xs_csum_add(xs_csum_add(0, two, 1, false), two + 1, 1, false)),
		      (uint16_t)~0x0102);
}

/* Folding adds the carries back and complements: a sum of 0 folds to
 * 0xffff, one of 0xffff (ones' complement minus zero) to 0. */
Test(pkt, fold)
{
	cr_assert_eq(xs_csum_fold(0), 0xffff);
	cr_assert_eq(xs_csum_fold(0xffff), 0);
	cr_assert_eq(xs_csum_fold(0x10000), 0xfffe);
	cr_assert_eq(xs_csum_fold(0x1fffe), 0);
	cr_assert_eq(xs_csum_fold(0xffffffff), 0);
	cr_assert_eq(xs_csum_fold(0x12345678), (uint16_t)~(0x1234 + 0x5678));
	for (int i = 0; i < 10000; i++) {
		uint32_t s = (uint32_t)rnd();

		cr_assert_eq(xs_csum_fold(s), (uint16_t)~ref_fold(s), "%#x", s);
	}
}

/* ------------------------------------------------------------ xs_build_hdr */

/*
 * Complete the UDP checksum the way ring.c does without offload: the
 * seed, the payload in pieces (odd offsets swap lanes), then the UDP
 * header, folded; a checksum that comes out 0 is sent as 0xffff, 0
 * meaning "none" (tx_checksum).  Returns the checksum written.
 */
static uint16_t finish_udp_csum(uint8_t *f, uint32_t hlen, uint32_t csum_off, uint32_t seed,
				uint32_t plen)
{
	uint32_t sum = seed, pos = 0;
	uint16_t c;

	while (pos < plen) {
		uint32_t n = 1 + (uint32_t)(rnd() % 1500);

		if (n > plen - pos)
			n = plen - pos;
		sum = xs_csum_add(sum, f + hlen + pos, n, pos & 1);
		pos += n;
	}
	sum = xs_csum_add(sum, f + csum_off - 6, 8, false);
	c = xs_csum_fold(sum);
	if (!c)
		c = 0xffff;
	put16(f + csum_off, c);
	return c;
}

static void check_built(const struct spec *s, uint32_t ip_id)
{
	static uint8_t f[9100];
	const uint8_t *ip = f + 14, *u = ip + (s->v4 ? 20 : 40);
	uint32_t csum_off = 0, seed = 0, hlen;
	uint64_t pseudo;

	memset(f, 0xee, sizeof(f));
	memcpy(xs.mac, mac_a, 6);
	xs.ip_id = ip_id;
	hlen = xs_build_hdr(f, mac_b, &s->src, s->sport, &s->dst, s->dport, s->v4, s->plen,
			    &csum_off, &seed);
	cr_assert_eq(hlen, s->v4 ? 42 : 62);
	cr_assert_eq(csum_off, hlen - 2, "the UDP checksum field");
	cr_assert_arr_eq(f, mac_b, 6, "to the peer");
	cr_assert_arr_eq(f + 6, mac_a, 6, "from our interface");
	cr_assert_eq(get16(f + 12), s->v4 ? 0x0800 : 0x86dd);
	if (s->v4) {
		cr_assert_eq(ip[0], 0x45);
		cr_assert_eq(get16(ip + 2), 28 + s->plen);
		cr_assert_eq(get16(ip + 4), (uint16_t)ip_id);
		cr_assert_eq(xs.ip_id, ip_id + 1, "one id per datagram");
		cr_assert_eq(get16(ip + 6), 0x4000, "DF, no fragment");
		cr_assert_eq(ip[8], 64);
		cr_assert_eq(ip[9], 17);
		cr_assert_eq(ref_fold(ref_sum(0, ip, 20)), 0xffff, "IPv4 header checksum");
		cr_assert_arr_eq(ip + 12, &s->src.s6_addr[12], 4);
		cr_assert_arr_eq(ip + 16, &s->dst.s6_addr[12], 4);
		pseudo = ref_sum(0, ip + 12, 8);
	} else {
		cr_assert_eq(ip[0], 0x60);
		cr_assert_eq(get16(ip + 4), 8 + s->plen);
		cr_assert_eq(ip[6], 17);
		cr_assert_eq(ip[7], 64);
		cr_assert_arr_eq(ip + 8, &s->src, 16);
		cr_assert_arr_eq(ip + 24, &s->dst, 16);
		pseudo = ref_sum(0, ip + 8, 32);
	}
	cr_assert_eq(get16(u), s->sport);
	cr_assert_eq(get16(u + 2), s->dport);
	cr_assert_eq(get16(u + 4), 8 + s->plen);
	cr_assert_eq(get16(u + 6), 0, "left for the payload's sum");
	/* the seed is the pseudo header's sum: where a checksum offload
	 * starts (ring.c writes it folded, not complemented) */
	pseudo += 17 + 8 + (uint64_t)s->plen;
	cr_assert_eq((uint16_t)~xs_csum_fold(seed), ref_fold(pseudo));

	memcpy(f + hlen, s->payload, s->plen);
	finish_udp_csum(f, hlen, csum_off, seed, s->plen);
	cr_assert(receiver_accepts(f, hlen + s->plen), "%s, %u bytes", s->v4 ? "v4" : "v6",
		  s->plen);
	expect_parsed(f, hlen + s->plen, s);
}

Test(pkt, built_headers_are_accepted)
{
	static const uint32_t sizes[] = { 0, 1, 2, 7, 8, 63, 64, 65, 1000, 1472, 1473, 8972 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		check_built(spec4(sizes[i]), (uint32_t)i * 7919);
		check_built(spec6(sizes[i]), 0);
	}
}

Test(pkt, ip_id_wraps_at_16_bits)
{
	check_built(spec4(10), 0xffff);
	check_built(spec4(10), 0x10000);
}

/* A datagram whose checksum computes to 0 is sent with 0xffff (the same
 * value in ones' complement; 0 would mean "no checksum"), and a receiver
 * takes it. */
Test(pkt, a_checksum_of_zero_goes_out_as_ffff)
{
	static uint8_t f[2048], payload[64];
	struct spec s = *spec4(64);
	uint32_t csum_off, seed, hlen, sum;

	for (int fam = 0; fam < 2; fam++) {
		if (fam)
			s = *spec6(64);
		memcpy(payload, s.payload, sizeof(payload));
		s.payload = payload;
		put16(payload + 62, 0);
		memcpy(xs.mac, mac_a, 6);
		hlen = xs_build_hdr(f, mac_b, &s.src, s.sport, &s.dst, s.dport, s.v4, s.plen,
				    &csum_off, &seed);
		/* choose the last payload word so that everything sums to 0xffff */
		sum = xs_csum_add(seed, payload, sizeof(payload), false);
		sum = xs_csum_add(sum, f + csum_off - 6, 8, false);
		put16(payload + 62, (uint16_t)(0xffff - ref_fold(sum)));
		memcpy(f + hlen, payload, sizeof(payload));
		sum = xs_csum_add(seed, payload, sizeof(payload), false);
		sum = xs_csum_add(sum, f + csum_off - 6, 8, false);
		cr_assert_eq(xs_csum_fold(sum), 0, "the case: a computed checksum of 0");
		cr_assert_eq(finish_udp_csum(f, hlen, csum_off, seed, s.plen), 0xffff);
		cr_assert(receiver_accepts(f, hlen + s.plen), "%s", fam ? "v6" : "v4");
		expect_parsed(f, hlen + s.plen, &s);
	}
}
