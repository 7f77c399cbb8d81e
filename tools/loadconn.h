/* SPDX-License-Identifier: MIT */
/*
 * The client-connection half that zio's load generators share
 * (tools/redisload, tests/progs/mcload, tests/progs/httpload): connecting
 * to the loopback port, sending all of a buffer, a receive buffer that
 * grows as replies need, reply lines, per-connection random numbers, and
 * the one failure line the tests look for.
 *
 * Header-only and generic over the includer's own struct conn: define
 * LOAD_NAME (the program's name in messages), LOAD_OP (the word for what
 * c->op counts, "op" or "req") and struct conn with at least
 *
 *	int id, fd;                   which connection, its socket
 *	long op;                      the operation in flight
 *	char desc[N];                 what it is doing, for the failure line
 *	uint64_t x;                   random state
 *	unsigned char *in;            received bytes not yet consumed
 *	size_t in_len, in_cap;
 *
 * then include this file.  127.0.0.1 only.
 */
#ifndef ZIO_LOADCONN_H
#define ZIO_LOADCONN_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "zio_parse.h"

/* "NAME: FAIL conn=I op=K (desc): message" on stdout, then exit 1. */
static inline void cfail(struct conn *c, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));
static inline void cfail(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("%s: FAIL conn=%d %s=%ld (%s): %s\n", LOAD_NAME, c->id, LOAD_OP, c->op, c->desc,
	       msg);
	fflush(stdout);
	_exit(1);
}

/* The connection's next random number (splitmix64). */
static inline uint64_t rnd(struct conn *c)
{
	uint64_t x = c->x += 0x9E3779B97F4A7C15ULL;

	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* All n bytes of p to fd.  Returns 0, or -1 with errno (0: the peer closed). */
static inline int send_fd(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (!w)
				errno = 0;
			return -1;
		}
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

/* All n bytes of p to the connection, or the failure line. */
static inline void send_all(struct conn *c, const void *p, size_t n)
{
	if (send_fd(c->fd, p, n))
		cfail(c, "send: %s", errno ? strerror(errno) : "closed");
}

/* At least want bytes in c->in.  Returns false on end of stream (errno
 * 0) or an error (errno). */
static inline bool fill_some(struct conn *c, size_t want)
{
	while (c->in_len < want) {
		ssize_t r;

		if (c->in_cap - c->in_len < 65536) {
			size_t cap = c->in_cap * 2 > want + 65536 ? c->in_cap * 2 : want + 65536;
			unsigned char *b = realloc(c->in, cap);

			if (!b) {
				errno = ENOMEM;
				return false;
			}
			c->in = b;
			c->in_cap = cap;
		}
		r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (!r)
				errno = 0;
			return false;
		}
		c->in_len += (size_t)r;
	}
	return true;
}

/* At least want bytes in c->in, or the failure line. */
static inline void fill(struct conn *c, size_t want)
{
	if (!fill_some(c, want))
		cfail(c, "recv: %s", errno ? strerror(errno) : "server closed the connection");
}

/* Drop the first n bytes of c->in. */
static inline void consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/* One reply line (without its "\r\n") into line, cut to cap - 1 bytes; a
 * line longer than 4 KiB is a failure. */
static inline void read_line(struct conn *c, char *line, size_t cap)
{
	size_t scan = 0;

	for (;;) {
		for (; scan + 1 < c->in_len; scan++)
			if (c->in[scan] == '\r' && c->in[scan + 1] == '\n') {
				size_t k = scan < cap - 1 ? scan : cap - 1;

				memcpy(line, c->in, k);
				line[k] = 0;
				consume(c, scan + 2);
				return;
			}
		if (c->in_len > 4096)
			cfail(c, "reply line longer than 4 KiB");
		fill(c, c->in_len + 1);
	}
}

/* A TCP_NODELAY connection to 127.0.0.1:port, trying `tries` times 50 ms
 * apart (a server that is still starting).  Returns the fd, or -1 with
 * errno. */
static inline int connect_local(int port, int tries)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (int i = 0; i < tries; i++) {
		if (!connect(fd, (struct sockaddr *)&a, sizeof(a)))
			return fd;
		if (i + 1 < tries)
			usleep(50 * 1000);
	}
	{
		int e = errno;

		close(fd);
		errno = e;
	}
	return -1;
}

/* A size in bytes (zio's grammar: digits, an optional K, M or G), or 0
 * when s is none. */
static inline size_t parse_size(const char *s)
{
	uint64_t v;

	return zio_parse_u64(s, true, 1, SIZE_MAX, &v) ? 0 : (size_t)v;
}

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
