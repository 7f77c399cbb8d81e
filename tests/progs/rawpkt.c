// SPDX-License-Identifier: MIT
/*
 * rawpkt — sends crafted frames out of an interface with a packet socket,
 * for the XDP steering tests: every kind of packet the steering program
 * must hand to the kernel (and count), never crash on, never redirect.
 *
 *   rawpkt IFNAME DST_MAC SRC_IP4 DST_IP4 PORT
 *
 * Sends, once each: a frame too short for an IPv4 header, IPv4 with
 * options (a well-formed UDP datagram the kernel delivers), a fragment,
 * IPv4 whose total length exceeds the frame, UDP whose length disagrees,
 * ICMP, UDP to another port, IPv6 with a hop-by-hop header, an IPv6
 * fragment, ARP-typed garbage.  Prints "rawpkt: sent N".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static int fd, sent;
static struct sockaddr_ll to;
static uint8_t dmac[6], smac[6];

static void tx(const uint8_t *f, size_t n)
{
	if (sendto(fd, f, n, 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)n)
		sent++;
	else
		fprintf(stderr, "rawpkt: sendto: %s\n", strerror(errno));
}

static size_t eth(uint8_t *f, uint16_t type)
{
	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	f[12] = (uint8_t)(type >> 8);
	f[13] = (uint8_t)type;
	return 14;
}

/* IPv4 header with ihl words, protocol, payload length; returns its size */
static size_t ip4(uint8_t *p, int ihl, uint8_t proto, size_t plen, uint16_t frag,
		  uint32_t src, uint32_t dst)
{
	size_t h = (size_t)ihl * 4;

	memset(p, 0, h);
	p[0] = (uint8_t)(0x40 | ihl);
	p[2] = (uint8_t)((h + plen) >> 8);
	p[3] = (uint8_t)(h + plen);
	p[6] = (uint8_t)(frag >> 8);
	p[7] = (uint8_t)frag;
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, &src, 4);
	memcpy(p + 16, &dst, 4);
	for (size_t i = 20; i < h; i++)
		p[i] = 1;  /* NOP options */
	{
		uint16_t c = csum(p, h);

		p[10] = (uint8_t)(c >> 8);
		p[11] = (uint8_t)c;
	}
	return h;
}

static size_t udp(uint8_t *u, uint16_t sport, uint16_t dport, size_t plen, size_t claim)
{
	u[0] = (uint8_t)(sport >> 8);
	u[1] = (uint8_t)sport;
	u[2] = (uint8_t)(dport >> 8);
	u[3] = (uint8_t)dport;
	u[4] = (uint8_t)((claim + 8) >> 8);
	u[5] = (uint8_t)(claim + 8);
	u[6] = u[7] = 0;  /* IPv4: no checksum */
	memset(u + 8, 'x', plen);
	return 8 + plen;
}

int main(int argc, char **argv)
{
	uint8_t f[2048];
	struct ifreq ifr;
	uint32_t src, dst;
	uint16_t port;
	size_t n;

	if (argc != 6 || sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1],
				&dmac[2], &dmac[3], &dmac[4], &dmac[5]) != 6 ||
	    inet_pton(AF_INET, argv[3], &src) != 1 || inet_pton(AF_INET, argv[4], &dst) != 1) {
		fprintf(stderr, "usage: rawpkt IFNAME DST_MAC SRC_IP4 DST_IP4 PORT\n");
		return 2;
	}
	port = (uint16_t)atoi(argv[5]);
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("rawpkt: socket");
		return 1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr)) {
		perror("rawpkt: SIOCGIFHWADDR");
		return 1;
	}
	memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
	memset(&to, 0, sizeof(to));
	to.sll_family = AF_PACKET;
	to.sll_ifindex = (int)if_nametoindex(argv[1]);
	to.sll_halen = 6;
	memcpy(to.sll_addr, dmac, 6);

	/* 1. truncated: Ethernet says IPv4, 10 bytes follow */
	n = eth(f, 0x0800);
	memset(f + n, 0x45, 10);
	tx(f, n + 10);
	/* 2. IPv4 options, a valid datagram to the port: the kernel's */
	n = eth(f, 0x0800);
	n += ip4(f + n, 6, 17, 8 + 16, 0, src, dst);
	n += udp(f + n, 4242, port, 16, 16);
	tx(f, n);
	/* 3. a fragment (MF) to the port */
	n = eth(f, 0x0800);
	n += ip4(f + n, 5, 17, 8 + 32, 0x2000, src, dst);
	n += udp(f + n, 4242, port, 32, 64);
	tx(f, n);
	/* 4. IPv4 total length beyond the frame */
	n = eth(f, 0x0800);
	n += ip4(f + n, 5, 17, 8 + 600, 0, src, dst);
	n += udp(f + n, 4242, port, 40, 600);
	tx(f, n);
	/* 5. UDP length disagreeing with IP */
	n = eth(f, 0x0800);
	n += ip4(f + n, 5, 17, 8 + 40, 0, src, dst);
	n += udp(f + n, 4242, port, 40, 20);
	tx(f, n);
	/* 6. ICMP echo request */
	n = eth(f, 0x0800);
	n += ip4(f + n, 5, 1, 16, 0, src, dst);
	memset(f + n, 0, 16);
	f[n] = 8;
	{
		uint16_t c = csum(f + n, 16);

		f[n + 2] = (uint8_t)(c >> 8);
		f[n + 3] = (uint8_t)c;
	}
	tx(f, n + 16);
	/* 7. UDP to another port */
	n = eth(f, 0x0800);
	n += ip4(f + n, 5, 17, 8 + 16, 0, src, dst);
	n += udp(f + n, 4242, (uint16_t)(port + 1), 16, 16);
	tx(f, n);
	/* 8. IPv6 with a hop-by-hop header, 9. an IPv6 fragment header */
	for (int k = 0; k < 2; k++) {
		n = eth(f, 0x86dd);
		memset(f + n, 0, 40 + 8 + 16);
		f[n] = 0x60;
		f[n + 5] = 8 + 16;
		f[n + 6] = k ? 44 : 0;
		f[n + 7] = 64;
		f[n + 8] = 0xfd;
		f[n + 24] = 0xfd;
		tx(f, n + 40 + 8 + 16);
	}
	/* 10. ARP-typed garbage */
	n = eth(f, 0x0806);
	memset(f + n, 0xee, 28);
	tx(f, n + 28);
	printf("rawpkt: sent %d\n", sent);
	return sent == 10 ? 0 : 1;
}
