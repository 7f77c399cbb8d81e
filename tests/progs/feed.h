/* SPDX-License-Identifier: MIT */
/*
 * Test messages for the runtime's test programs: byte i of message `seed`
 * is pat(i, seed), and receive() brings a message in through recv() from
 * a socket pair fed by a thread, so the runtime sees IO input.  The
 * includer defines FAIL(...) (print a verdict and exit) first.
 */
#ifndef ZIO_TEST_FEED_H
#define ZIO_TEST_FEED_H

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef CHECK
#define CHECK(c, ...) do { if (!(c)) FAIL(__VA_ARGS__); } while (0)
#endif

/* Byte i of message `seed`: depends on the page number too, so a page
 * served from the wrong place is caught. */
static inline unsigned char pat(size_t i, unsigned seed)
{
	return (unsigned char)(i * 131 + seed * 7 + (i >> 12) * 29 + 1);
}

static inline void fill_pat(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = pat(i, seed);
}

/* Index of the first byte of b that differs from message seed at
 * offset off, or -1. */
static inline long check_pat(const unsigned char *b, size_t n, unsigned seed, size_t off)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != pat(i + off, seed))
			return (long)i;
	return -1;
}

static inline void expect(const void *b, size_t n, unsigned seed, size_t off, const char *what)
{
	long bad = check_pat(b, n, seed, off);

	CHECK(bad < 0, "%s: byte %ld is 0x%02x, expected 0x%02x", what, bad,
	      ((const unsigned char *)b)[bad], pat((size_t)bad + off, seed));
}

struct feed {
	int fd;
	size_t len;
	unsigned seed;
};

/* Writes message f->seed, 64 KiB at a time. */
static inline void *feeder(void *arg)
{
	const size_t chunk = 64 << 10;
	struct feed *f = arg;
	unsigned char *b = malloc(chunk);
	size_t o = 0;

	CHECK(b, "malloc %zu", chunk);
	while (o < f->len) {
		size_t n = f->len - o < chunk ? f->len - o : chunk;
		ssize_t w;

		for (size_t i = 0; i < n; i++)
			b[i] = pat(o + i, f->seed);
		w = write(f->fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		o += (size_t)w;
	}
	free(b);
	return NULL;
}

/* Receive message `seed` of len bytes into buf with recv() calls. */
static inline void receive(void *buf, size_t len, unsigned seed)
{
	int sv[2];
	pthread_t t;
	struct feed f;
	size_t o = 0;

	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair: %s", strerror(errno));
	f = (struct feed){ sv[0], len, seed };
	CHECK(!pthread_create(&t, NULL, feeder, &f), "pthread_create");
	while (o < len) {
		ssize_t r = recv(sv[1], (char *)buf + o, len - o, 0);

		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r > 0, "recv: %zd %s", r, strerror(errno));
		o += (size_t)r;
	}
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
}

#endif
