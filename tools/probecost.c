// SPDX-License-Identifier: MIT
/*
 * probecost — the runtime's copy path, timed, for an A/B of libzio.so
 * built with and without its USDT probes (tools/bench-probes.sh).
 *
 * round: recv() 256 KiB into a buffer, memcpy() it to a second buffer and
 * that to a third (both copies elided: every probe of the elision path
 * fires: region_set, elide, retire...).  small: 4 KiB memcpy() of memory
 * that holds no IO data (the path every small copy of a program takes).
 * probe: what one unattached USDT probe adds to a tight loop (a probe of
 * this program's own, "zio_bench:tick", the same <sys/sdt.h> code as the
 * runtime's), best of 5.
 * Prints "probecost round_ns=X small_ns=Y probe_ns=Z".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#if __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#else
#define DTRACE_PROBE2(p, n, a, b) do { } while (0)
#endif

#define MSG (256 * 1024)
#define SMALL 4096

static int sv[2];
static int rounds = 1000;
/* Through a pointer, so that the compiler cannot inline a copy: every one
 * must reach the (interposed) memcpy. */
static void *(*volatile copy)(void *, const void *, size_t) = memcpy;

static void *feeder(void *arg)
{
	char *b = malloc(MSG);

	(void)arg;
	memset(b, 7, MSG);
	for (int i = 0; i < rounds; i++) {
		size_t o = 0;

		while (o < MSG) {
			ssize_t w = write(sv[0], b + o, MSG - o);

			if (w <= 0)
				return NULL;
			o += (size_t)w;
		}
	}
	free(b);
	return NULL;
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void *xmmap(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("probecost: mmap");
		exit(1);
	}
	return p;
}

#define LOOPS 50000000L

__attribute__((noinline)) static void loop_plain(void)
{
	for (long i = 0; i < LOOPS; i++)
		__asm__ volatile("" : : "r"(i) : "memory");
}

__attribute__((noinline)) static void loop_probe(void)
{
	for (long i = 0; i < LOOPS; i++) {
		DTRACE_PROBE2(zio_bench, tick, i, LOOPS);
		__asm__ volatile("" : : "r"(i) : "memory");
	}
}

/* ns one unattached probe adds per loop iteration (best of 5 each). */
static double probe_cost(void)
{
	double plain = 1e18, probe = 1e18;

	for (int r = 0; r < 5; r++) {
		double t0 = now_ns(), t1, t2;

		loop_plain();
		t1 = now_ns();
		loop_probe();
		t2 = now_ns();
		if (t1 - t0 < plain)
			plain = t1 - t0;
		if (t2 - t1 < probe)
			probe = t2 - t1;
	}
	return (probe - plain) / LOOPS;
}

int main(int argc, char **argv)
{
	static char a[SMALL], b[SMALL];
	char *src = xmmap(MSG), *d1 = xmmap(MSG), *d2 = xmmap(MSG);
	const int small = 2000000;
	double t0, t1, round_ns;
	pthread_t t;

	if (argc > 1)
		rounds = atoi(argv[1]) > 0 ? atoi(argv[1]) : rounds;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		perror("probecost: socketpair");
		return 1;
	}
	pthread_create(&t, NULL, feeder, NULL);
	t0 = now_ns();
	for (int i = 0; i < rounds; i++) {
		size_t o = 0;

		while (o < MSG) {
			ssize_t r = recv(sv[1], src + o, MSG - o, MSG_WAITALL);

			if (r <= 0) {
				perror("probecost: recv");
				return 1;
			}
			o += (size_t)r;
		}
		copy(d1, src, MSG);
		copy(d2, d1, MSG);
	}
	t1 = now_ns();
	pthread_join(t, NULL);
	round_ns = (t1 - t0) / rounds;
	t0 = now_ns();
	for (int i = 0; i < small; i++) {
		copy(a, b, sizeof(a));
	}
	t1 = now_ns();
	printf("probecost round_ns=%.0f small_ns=%.1f probe_ns=%.3f\n", round_ns,
	       (t1 - t0) / small, probe_cost());
	return 0;
}
