// SPDX-License-Identifier: MIT
/*
 * observe_target — makes aliases whose shape is known, for the tests of
 * zio-run --observe and zio-stat (tests/integ/test_observe.c).
 *
 *   observe_target aliases   receive 256 KiB into SRC, then three copies
 *                            of page-aligned parts of it into separate
 *                            mappings, each from its own function:
 *                              copy_a: A <- SRC[0, 64K)
 *                              copy_b: B <- SRC[64K, 192K)
 *                              copy_c: C <- SRC[0, 192K)
 *   observe_target work      the same, then a load from A, a store into
 *                            C, a send of B to a socket, and a store into
 *                            SRC (retires it while aliases depend on it);
 *                            then 256 KiB into RX, copy_d: D <- RX, and
 *                            into RX again while D aliases it (D's pages
 *                            were populated, so the spare pages for the
 *                            second input to land in exist)
 *
 * Protocol on stdout/stdin, so that a test can look while it waits:
 *   "pid=P" then waits for a line on stdin (a test attaches meanwhile);
 *   does its work; prints "src=ADDR len=N", then "alias name=X dst=ADDR
 *   len=N fn=ADDR off=O" per copy (fn: the copying function, the call
 *   site lies a few bytes into it; off: offset in SRC), "done"; then
 *   waits for EOF on stdin and exits 0 after checking every byte.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define KB 1024UL
#define PG 4096UL
#define SRC_LEN (256 * KB)

#define FAIL(...) do { printf("observe_target: FAIL "); printf(__VA_ARGS__); \
	printf("\n"); fflush(stdout); exit(1); } while (0)
#define CHECK(c, ...) do { if (!(c)) FAIL(__VA_ARGS__); } while (0)

static inline unsigned char pat(size_t i)
{
	return (unsigned char)(i * 131 + (i >> 12) * 29 + 7);
}

struct feed {
	int fd;
	size_t len;
};

static void *feeder(void *arg)
{
	struct feed *f = arg;
	unsigned char *b = malloc(f->len);
	size_t o = 0;

	for (size_t i = 0; i < f->len; i++)
		b[i] = pat(i);
	while (o < f->len) {
		ssize_t w = write(f->fd, b + o, f->len - o);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		o += (size_t)w;
	}
	free(b);
	return NULL;
}

/* The input: real recv() calls, as only input makes IO data. */
static void receive(void *buf, size_t len)
{
	struct feed f;
	pthread_t t;
	size_t o = 0;
	int sv[2];

	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair: %s", strerror(errno));
	f = (struct feed){ sv[0], len };
	pthread_create(&t, NULL, feeder, &f);
	while (o < len) {
		ssize_t r = recv(sv[1], (char *)buf + o, len - o, MSG_WAITALL);

		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r > 0, "recv: %zd %s", r, strerror(errno));
		o += (size_t)r;
	}
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
}

static void *xmmap(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED, "mmap %zu: %s", n, strerror(errno));
	return p;
}

/* One call site per copy, each in its own function so that a test can
 * tell them apart by address (16 bytes each: not instrumented in a
 * sanitizer build, whose checks would make them longer). */
__attribute__((noinline, no_sanitize("undefined")))
static void copy_a(void *d, const void *s, size_t n)
{
	memcpy(d, s, n);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline, no_sanitize("undefined")))
static void copy_b(void *d, const void *s, size_t n)
{
	memcpy(d, s, n);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline, no_sanitize("undefined")))
static void copy_c(void *d, const void *s, size_t n)
{
	memcpy(d, s, n);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline, no_sanitize("undefined")))
static void copy_d(void *d, const void *s, size_t n)
{
	memcpy(d, s, n);
	__asm__ volatile("" ::: "memory");
}

static void wait_line(void)
{
	char c;

	while (read(0, &c, 1) == 1 && c != '\n')
		;
}

static void *drain(void *arg)
{
	int fd = *(int *)arg;
	unsigned char *b = malloc(64 * KB);
	size_t got = 0;
	ssize_t n;
	long bad = -1;

	while ((n = read(fd, b, 64 * KB)) > 0) {
		for (ssize_t i = 0; i < n && bad < 0; i++)
			if (b[i] != pat(64 * KB + got + (size_t)i))
				bad = (long)(got + (size_t)i);
		got += (size_t)n;
	}
	free(b);
	return (void *)bad;
}

static void check(const unsigned char *b, size_t n, size_t off, const char *what)
{
	for (size_t i = 0; i < n; i++)
		CHECK(b[i] == pat(off + i), "%s: byte %zu is 0x%02x, expected 0x%02x", what, i,
		      b[i], pat(off + i));
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void *, const void *, size_t);
		size_t off, len;
	} cp[] = {
		{ "a", copy_a, 0, 64 * KB },
		{ "b", copy_b, 64 * KB, 128 * KB },
		{ "c", copy_c, 0, 192 * KB },
	};
	unsigned char *src, *dst[3], *rx = NULL, *d = NULL;
	int work;

	if (argc != 2 || (strcmp(argv[1], "aliases") && strcmp(argv[1], "work"))) {
		fprintf(stderr, "usage: observe_target aliases|work\n");
		return 2;
	}
	work = !strcmp(argv[1], "work");
	printf("pid=%d\n", (int)getpid());
	fflush(stdout);
	wait_line();

	src = xmmap(SRC_LEN);
	receive(src, SRC_LEN);
	printf("src=%#lx len=%lu\n", (unsigned long)src, SRC_LEN);
	for (int i = 0; i < 3; i++) {
		/* A mapping each, with a guard page after it: aliases of
		 * adjacent destinations would merge into one region. */
		dst[i] = xmmap(cp[i].len + PG);
		munmap(dst[i] + cp[i].len, PG);
		cp[i].fn(dst[i], src + cp[i].off, cp[i].len);
		printf("alias name=%s dst=%#lx len=%zu fn=%#lx off=%zu\n", cp[i].name,
		       (unsigned long)dst[i], cp[i].len, (unsigned long)(uintptr_t)cp[i].fn,
		       cp[i].off);
	}
	if (work) {
		volatile unsigned char *a = dst[0], *c = dst[2];
		pthread_t t;
		size_t o = 0;
		int sv[2];
		void *bad;

		CHECK(a[PG + 5] == pat(PG + 5), "load from A");
		c[2 * PG] = pat(2 * PG);             /* store: same byte, page materialises */
		CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
		pthread_create(&t, NULL, drain, &sv[1]);
		while (o < cp[1].len) {
			ssize_t w = send(sv[0], dst[1] + o, cp[1].len - o, 0);

			CHECK(w > 0, "send: %s", strerror(errno));
			o += (size_t)w;
		}
		shutdown(sv[0], SHUT_WR);
		pthread_join(t, &bad);
		CHECK((long)bad < 0, "sink saw a wrong byte at %ld", (long)bad);
		close(sv[0]);
		close(sv[1]);
		((volatile unsigned char *)src)[3 * PG] = pat(3 * PG);  /* store into SRC */
		rx = xmmap(SRC_LEN);
		d = xmmap(SRC_LEN + PG);
		munmap(d + SRC_LEN, PG);
		memset(d, 0, SRC_LEN);
		receive(rx, SRC_LEN);
		copy_d(d, rx, SRC_LEN);
		receive(rx, SRC_LEN);
	}
	printf("done\n");
	fflush(stdout);
	while (read(0, &(char){ 0 }, 1) > 0)
		;
	for (int i = 0; i < 3; i++)
		check(dst[i], cp[i].len, cp[i].off, cp[i].name);
	check(src, SRC_LEN, 0, "src");
	if (rx) {
		check(d, SRC_LEN, 0, "d");
		check(rx, SRC_LEN, 0, "rx");
	}
	printf("observe_target: ok\n");
	return 0;
}
