// SPDX-License-Identifier: MIT
/*
 * udpecho — UDP echo server and verifying client/load generator for
 * zio's AF_XDP path (tests/integ/test_xdp.c, tools/bench-udp.sh).
 *
 * The server is an ordinary program: plain sockets, libc memcpy.  Each
 * datagram is received into a buffer, passed through K in-app copies
 * (the pattern of a cache or proxy that moves a value from its receive
 * buffer into an object and a reply buffer) and sent back to its sender.
 *
 *   udpecho server --port P [--family 4|6] [--mode block|nonblock|epoll|poll|select]
 *                  [--copies K] [--api recvfrom|recvmsg|recv|read|recvmmsg]
 *   udpecho client --addr A --port P [--sizes 1,100,...] [--count N]
 *   udpecho load   --addr A --port P --size S [--duration SEC] [--window W]
 *
 * A datagram "QUIT" stops the server (exit 0).  The client sends each
 * size N times, one at a time, and checks every byte of every reply; the
 * load generator keeps W datagrams in flight and checks the sequence
 * stamp of every reply and every byte of one in 16.  Payloads are slices
 * of a random template at an offset that depends on the sequence number,
 * so a reply with another datagram's bytes, or a wrong page, shows.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define MAXDG   65536
#define TPL     (256 * 1024)
#define MAXCOPY 8

static volatile sig_atomic_t stop;
static uint8_t *tpl;

static void on_sig(int s)
{
	(void)s;
	stop = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "udpecho: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *page_buf(size_t n)
{
	void *p;

	if (posix_memalign(&p, 4096, n))
		die("posix_memalign");
	memset(p, 0, n);
	return p;
}

static void make_tpl(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	tpl = page_buf(TPL);
	for (size_t i = 0; i < TPL; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(tpl + i, &x, 8);
	}
}

/* payload of datagram seq, size n: stamp + template slice */
static void fill(uint8_t *p, uint64_t seq, size_t n)
{
	size_t off = (seq * 4099) % (TPL - MAXDG);

	memcpy(p, tpl + off, n);
	if (n >= 8)
		memcpy(p, &seq, 8);
}

static bool check(const uint8_t *p, uint64_t seq, size_t n)
{
	size_t off = (seq * 4099) % (TPL - MAXDG);
	uint64_t s;

	if (n >= 8) {
		memcpy(&s, p, 8);
		return s == seq && !memcmp(p + 8, tpl + off + 8, n - 8);
	}
	return !memcmp(p, tpl + off, n);
}

static int parse_addr(const char *a, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in = (void *)ss;
	struct sockaddr_in6 *in6 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, a, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, a, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return AF_INET6;
	}
	fprintf(stderr, "udpecho: bad address %s\n", a);
	exit(2);
}

struct opts {
	const char *cmd, *addr, *mode, *api, *sizes;
	int port, family, copies, count, window, size;
	double duration;
};

/* ------------------------------------------------------------ server */

static ssize_t srv_recv(int fd, const char *api, uint8_t *buf, struct sockaddr_storage *peer,
			socklen_t *plen)
{
	if (!strcmp(api, "recvfrom"))
		return recvfrom(fd, buf, MAXDG, 0, (struct sockaddr *)peer, plen);
	if (!strcmp(api, "recvmsg") || !strcmp(api, "recvmmsg")) {
		struct iovec iov[2] = { { buf, 4096 }, { buf + 4096, MAXDG - 4096 } };
		struct msghdr m = { .msg_name = peer, .msg_namelen = *plen, .msg_iov = iov,
				    .msg_iovlen = 2 };
		ssize_t r;

		if (!strcmp(api, "recvmmsg")) {
			struct mmsghdr mm = { .msg_hdr = m };
			int k = recvmmsg(fd, &mm, 1, 0, NULL);

			*plen = mm.msg_hdr.msg_namelen;
			return k == 1 ? (ssize_t)mm.msg_len : -1;
		}
		r = recvmsg(fd, &m, 0);
		*plen = m.msg_namelen;
		return r;
	}
	/* recv/read need a peer: the server then replies to the last client
	 * it learned from recvfrom with MSG_PEEK */
	{
		uint8_t b;

		if (recvfrom(fd, &b, 1, MSG_PEEK, (struct sockaddr *)peer, plen) < 0)
			return -1;
	}
	if (!strcmp(api, "recv"))
		return recv(fd, buf, MAXDG, 0);
	return read(fd, buf, MAXDG);
}

static int wait_readable(int fd, int ep, const char *mode)
{
	if (!strcmp(mode, "poll") || !strcmp(mode, "nonblock")) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		return poll(&p, 1, 1000);
	}
	if (!strcmp(mode, "select")) {
		fd_set rd;
		struct timeval tv = { 1, 0 };

		FD_ZERO(&rd);
		FD_SET(fd, &rd);
		return select(fd + 1, &rd, NULL, NULL, &tv);
	}
	if (!strcmp(mode, "epoll")) {
		struct epoll_event ev;
		int n = epoll_wait(ep, &ev, 1, 1000);

		if (n == 1 && ev.data.u64 != 0x1234)
			return -2;
		return n;
	}
	return 1;
}

static int server(const struct opts *o)
{
	int fam = o->family == 4 ? AF_INET : AF_INET6, one = 1, ep = -1, fd;
	uint8_t *buf = page_buf(MAXDG), *cp[MAXCOPY];
	struct sockaddr_storage me = { 0 };
	bool block = !strcmp(o->mode, "block");
	unsigned long served = 0;

	for (int i = 0; i < o->copies; i++)
		cp[i] = page_buf(MAXDG);
	fd = socket(fam, SOCK_DGRAM, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fam == AF_INET6) {
		int zero = 0;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		((struct sockaddr_in6 *)&me)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&me)->sin6_port = htons((uint16_t)o->port);
	} else {
		((struct sockaddr_in *)&me)->sin_family = AF_INET;
		((struct sockaddr_in *)&me)->sin_port = htons((uint16_t)o->port);
	}
	if (bind(fd, (struct sockaddr *)&me,
		 fam == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)))
		die("bind");
	if (!block)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	else {
		struct timeval tv = { 1, 0 };  /* so SIGTERM is noticed */

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	if (!strcmp(o->mode, "epoll")) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x1234 };

		ep = epoll_create1(0);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
			die("epoll");
	}
	printf("listening on %d\n", o->port);
	fflush(stdout);
	while (!stop) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		uint8_t *src;
		ssize_t n;

		if (!block) {
			int w = wait_readable(fd, ep, o->mode);

			if (w == -2) {
				fprintf(stderr, "udpecho: epoll returned a foreign event\n");
				return 1;
			}
			if (w <= 0)
				continue;
		}
		n = srv_recv(fd, o->api, buf, &peer, &plen);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			die("recv");
		}
		if (n == 4 && !memcmp(buf, "QUIT", 4))
			break;
		src = buf;
		for (int i = 0; i < o->copies; i++) {
			memcpy(cp[i], src, (size_t)n);
			src = cp[i];
		}
		if (sendto(fd, src, (size_t)n, 0, (struct sockaddr *)&peer, plen) != n) {
			if (errno == EAGAIN)
				continue;
			die("sendto");
		}
		served++;
	}
	printf("served %lu\n", served);
	return 0;
}

/* ------------------------------------------------------------ client */

static int client_sock(const struct opts *o, struct sockaddr_storage *to, socklen_t *tolen)
{
	int fam = parse_addr(o->addr, o->port, to, tolen);
	int fd = socket(fam, SOCK_DGRAM, 0), big = 8 << 20;
	struct timeval tv = { 0, 500000 };

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)to, *tolen))
		die("connect");
	return fd;
}

static int client(const struct opts *o)
{
	struct sockaddr_storage to;
	socklen_t tolen;
	int fd = client_sock(o, &to, &tolen);
	uint8_t *out = page_buf(MAXDG), *in = page_buf(MAXDG);
	char sizes[1024], *save = NULL, *tok;
	unsigned long ok = 0, bad = 0, lost = 0;
	uint64_t seq = 1;

	snprintf(sizes, sizeof(sizes), "%s", o->sizes);
	for (tok = strtok_r(sizes, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t n = (size_t)atol(tok);

		for (int i = 0; i < o->count; i++, seq++) {
			ssize_t r;
			int tries = 0;

			fill(out, seq, n);
			if (send(fd, out, n, 0) != (ssize_t)n)
				die("send");
			for (;;) {
				r = recv(fd, in, MAXDG, 0);
				if (r < 0) {
					if (errno == EINTR)
						continue;
					if (++tries < 6 && (errno == EAGAIN || errno == ECONNREFUSED))
						continue;
					lost++;
					fprintf(stderr, "udpecho: no reply to seq %llu size %zu: %s\n",
						(unsigned long long)seq, n, strerror(errno));
					break;
				}
				if (n >= 8 && r >= 8 && memcmp(in, &seq, 8)) {
					uint64_t got;

					memcpy(&got, in, 8);
					if (got < seq)
						continue;  /* a late reply to an earlier try */
				}
				if ((size_t)r != n || !check(in, seq, n)) {
					bad++;
					fprintf(stderr, "udpecho: MISMATCH seq %llu size %zu (got %zd)\n",
						(unsigned long long)seq, n, r);
				} else {
					ok++;
				}
				break;
			}
		}
	}
	printf("udpecho-client: verified=%lu mismatched=%lu lost=%lu\n", ok, bad, lost);
	return bad || lost ? 1 : 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* W datagrams in flight; count replies per second. */
static int load(const struct opts *o)
{
	struct sockaddr_storage to;
	socklen_t tolen;
	int fd = client_sock(o, &to, &tolen);
	size_t n = (size_t)o->size;
	uint8_t *out = page_buf(MAXDG), *in = page_buf(MAXDG);
	uint64_t next = 1, got = 0, bad = 0, timeouts = 0;
	double t0, end;

	if (n < 8)
		n = 8;
	for (int i = 0; i < o->window; i++, next++) {
		fill(out, next, n);
		if (send(fd, out, n, 0) < 0 && errno != ECONNREFUSED)
			die("send");
	}
	t0 = now_s();
	end = t0 + o->duration;
	while (now_s() < end) {
		ssize_t r = recv(fd, in, MAXDG, 0);
		uint64_t s;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* a datagram was lost (UDP may): refill the window */
			timeouts++;
			fill(out, next, n);
			send(fd, out, n, 0);
			next++;
			continue;
		}
		memcpy(&s, in, 8);
		if ((size_t)r != n || s >= next || ((s & 15) == 0 && !check(in, s, n))) {
			bad++;
			fprintf(stderr, "udpecho: MISMATCH seq %llu\n", (unsigned long long)s);
		}
		got++;
		fill(out, next, n);
		/* ECONNREFUSED: an ICMP error from a datagram of an earlier run
		 * or one that arrived before the server bound; UDP loses it,
		 * and so do we (the window refills on a timeout) */
		if (send(fd, out, n, 0) < 0 && errno != ENOBUFS && errno != EAGAIN &&
		    errno != ECONNREFUSED)
			die("send");
		next++;
	}
	printf("udpecho-load: size=%zu pps=%.1f replies=%llu timeouts=%llu mismatched=%llu\n", n,
	       (double)got / (now_s() - t0), (unsigned long long)got,
	       (unsigned long long)timeouts, (unsigned long long)bad);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .mode = "block", .api = "recvfrom", .sizes = "1,100,1472,4096,8192,32768,61440",
			  .port = 9000, .family = 6, .count = 3, .window = 8, .size = 1024,
			  .duration = 2, .addr = "127.0.0.1" };

	if (argc < 2) {
		fprintf(stderr, "usage: udpecho server|client|load [options]\n");
		return 2;
	}
	o.cmd = argv[1];
	for (int i = 2; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (!strcmp(k, "--port")) o.port = atoi(v);
		else if (!strcmp(k, "--family")) o.family = atoi(v);
		else if (!strcmp(k, "--mode")) o.mode = v;
		else if (!strcmp(k, "--api")) o.api = v;
		else if (!strcmp(k, "--copies")) o.copies = atoi(v);
		else if (!strcmp(k, "--addr")) o.addr = v;
		else if (!strcmp(k, "--sizes")) o.sizes = v;
		else if (!strcmp(k, "--count")) o.count = atoi(v);
		else if (!strcmp(k, "--window")) o.window = atoi(v);
		else if (!strcmp(k, "--size")) o.size = atoi(v);
		else if (!strcmp(k, "--duration")) o.duration = atof(v);
		else {
			fprintf(stderr, "udpecho: unknown option %s\n", k);
			return 2;
		}
	}
	if (o.copies < 0 || o.copies > MAXCOPY || o.window < 1 || o.size > MAXDG - 8) {
		fprintf(stderr, "udpecho: option out of range\n");
		return 2;
	}
	signal(SIGTERM, on_sig);
	signal(SIGINT, on_sig);
	make_tpl();
	if (!strcmp(o.cmd, "server"))
		return server(&o);
	if (!strcmp(o.cmd, "client"))
		return client(&o);
	if (!strcmp(o.cmd, "load"))
		return load(&o);
	fprintf(stderr, "udpecho: unknown command %s\n", o.cmd);
	return 2;
}
