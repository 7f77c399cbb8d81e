// SPDX-License-Identifier: MIT
/*
 * microbench — what the mechanisms zio is built on cost on this machine.
 * Every figure is the median of many repetitions, in microseconds per
 * SIZE bytes (default 512 KiB) unless marked per page.
 *
 *   memcpy into populated warm / cold memory, into fresh memory
 *   populating fresh memory (first touch)
 *   UFFDIO_MOVE of populated pages (out and back), UFFDIO_COPY
 *   UFFDIO_REGISTER / UNREGISTER, UFFDIO_WRITEPROTECT on / off
 *   one userfaultfd fault round trip (MISSING, served by UFFDIO_COPY)
 *   mincore
 *
 * Needs userfaultfd (root).  Used to set the runtime's cost model, and by
 * `make bench-micro`.  Output: one line per figure, `micro NAME=VALUE`.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef UFFDIO_MOVE
struct uffdio_move {
	__u64 dst, src, len, mode;
	__s64 move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, 0x05, struct uffdio_move)
#endif
#define UFFD_FEATURE_MOVE_ (1ULL << 16)

#define PG 4096UL

static size_t SIZE = 512 * 1024;
static int REPS = 41;
static int uffd = -1;

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return v[n / 2];
}

static void *map(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("microbench: mmap");
		exit(1);
	}
	return p;
}

static void reg(void *p, size_t n, __u64 mode)
{
	struct uffdio_register r = { .range = { (uintptr_t)p, n }, .mode = mode };

	if (ioctl(uffd, UFFDIO_REGISTER, &r)) {
		perror("microbench: UFFDIO_REGISTER");
		exit(1);
	}
}

static void move(void *dst, void *src, size_t n)
{
	struct uffdio_move m = { (uintptr_t)dst, (uintptr_t)src, n, 0, 0 };

	if (ioctl(uffd, UFFDIO_MOVE, &m)) {
		perror("microbench: UFFDIO_MOVE");
		exit(1);
	}
}

static void out(const char *name, double v)
{
	printf("micro %s=%.2f\n", name, v);
	fflush(stdout);
}

/* fault thread for the round-trip measurement */
static char page_src[PG] __attribute__((aligned(4096)));

static void *server(void *arg)
{
	struct pollfd p = { .fd = uffd, .events = POLLIN };

	(void)arg;
	for (;;) {
		struct uffd_msg m;

		if (poll(&p, 1, -1) < 0)
			continue;
		if (read(uffd, &m, sizeof(m)) != sizeof(m))
			continue;
		if (m.event == UFFD_EVENT_PAGEFAULT) {
			struct uffdio_copy c = { .dst = m.arg.pagefault.address & ~(PG - 1),
						 .src = (uintptr_t)page_src, .len = PG };

			ioctl(uffd, UFFDIO_COPY, &c);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP };
	double v[256];
	size_t pages;
	char *src, *dst, *park, *big;
	size_t bigsz = 256UL << 20;
	pthread_t t;

	if (argc > 1 && (SIZE = strtoul(argv[1], NULL, 0)) < PG) {
		fprintf(stderr, "usage: microbench [SIZE>=4096]\n");
		return 2;
	}
	SIZE &= ~(PG - 1);
	pages = SIZE / PG;
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd < 0) {
		fprintf(stderr, "microbench: userfaultfd: %s (needs root)\n", strerror(errno));
		return 1;
	}
	api.features |= UFFD_FEATURE_MOVE_;
	if (ioctl(uffd, UFFDIO_API, &api)) {
		api.features &= ~UFFD_FEATURE_MOVE_;
		api.api = UFFD_API;
		if (ioctl(uffd, UFFDIO_API, &api)) {
			perror("microbench: UFFDIO_API");
			return 1;
		}
	}
	printf("micro size=%zu pages=%zu\n", SIZE, pages);
	src = map(SIZE);
	dst = map(SIZE);
	memset(src, 1, SIZE);
	memset(dst, 2, SIZE);

	for (int i = 0; i < REPS; i++) {
		double t0 = now_us();

		memcpy(dst, src, SIZE);
		v[i] = now_us() - t0;
	}
	out("memcpy_warm_us", median(v, REPS));

	/* cold: source and destination drawn from 256 MiB, far above the LLC */
	big = map(bigsz);
	memset(big, 3, bigsz);
	for (int i = 0; i < REPS; i++) {
		size_t slots = bigsz / SIZE / 2;
		char *s = big + (size_t)(i % slots) * SIZE, *d = big + (bigsz / 2) + (size_t)((i * 7) % slots) * SIZE;
		double t0 = now_us();

		memcpy(d, s, SIZE);
		v[i] = now_us() - t0;
	}
	out("memcpy_cold_us", median(v, REPS));

	for (int i = 0; i < REPS; i++) {
		char *f = map(SIZE);
		double t0 = now_us();

		memcpy(f, src, SIZE);
		v[i] = now_us() - t0;
		munmap(f, SIZE);
	}
	out("memcpy_fresh_us", median(v, REPS));

	for (int i = 0; i < REPS; i++) {
		char *f = map(SIZE);
		double t0 = now_us();

		for (size_t o = 0; o < SIZE; o += PG)
			f[o] = 1;
		v[i] = now_us() - t0;
		munmap(f, SIZE);
	}
	out("populate_us", median(v, REPS));
	out("populate_ns_per_page", median(v, REPS) * 1000 / (double)pages);

	park = map(SIZE);
	reg(park, SIZE, UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP);
	reg(dst, SIZE, UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP);
	if (api.features & UFFD_FEATURE_MOVE_) {
		double back[256];

		for (int i = 0; i < REPS; i++) {
			double t0 = now_us();

			move(park, dst, SIZE);
			v[i] = now_us() - t0;
			t0 = now_us();
			move(dst, park, SIZE);
			back[i] = now_us() - t0;
		}
		out("uffdio_move_out_us", median(v, REPS));
		out("uffdio_move_back_us", median(back, REPS));
		out("uffdio_move_ns_per_page", median(v, REPS) * 1000 / (double)pages);
	} else {
		printf("micro uffdio_move=unsupported\n");
	}

	for (int i = 0; i < REPS; i++) {
		struct uffdio_writeprotect on = { { (uintptr_t)dst, SIZE }, UFFDIO_WRITEPROTECT_MODE_WP };
		struct uffdio_writeprotect off = { { (uintptr_t)dst, SIZE }, 0 };
		double t0 = now_us(), t1;

		ioctl(uffd, UFFDIO_WRITEPROTECT, &on);
		t1 = now_us();
		ioctl(uffd, UFFDIO_WRITEPROTECT, &off);
		v[i] = t1 - t0;
		v[REPS + i] = now_us() - t1;
	}
	out("wp_on_us", median(v, REPS));
	out("wp_off_us", median(v + REPS, REPS));

	for (int i = 0; i < REPS; i++) {
		char *f = map(SIZE);
		struct uffdio_range r = { (uintptr_t)f, SIZE };
		double t0 = now_us(), t1;

		reg(f, SIZE, UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP);
		t1 = now_us();
		ioctl(uffd, UFFDIO_UNREGISTER, &r);
		v[i] = t1 - t0;
		v[REPS + i] = now_us() - t1;
		munmap(f, SIZE);
	}
	out("register_us", median(v, REPS));
	out("unregister_us", median(v + REPS, REPS));

	for (int i = 0; i < REPS; i++) {
		char *f = map(SIZE);
		struct uffdio_copy c = { (uintptr_t)f, (uintptr_t)src, SIZE, 0, 0 };
		double t0;

		reg(f, SIZE, UFFDIO_REGISTER_MODE_MISSING);
		t0 = now_us();
		ioctl(uffd, UFFDIO_COPY, &c);
		v[i] = now_us() - t0;
		munmap(f, SIZE);
	}
	out("uffdio_copy_us", median(v, REPS));

	{
		unsigned char vec[4096];

		for (int i = 0; i < REPS; i++) {
			double t0 = now_us();

			mincore(src, SIZE, vec);
			v[i] = now_us() - t0;
		}
		out("mincore_us", median(v, REPS));
	}

	/* fault round trip: a load from a MISSING page served by a thread */
	pthread_create(&t, NULL, server, NULL);
	{
		int n = 0;

		for (int i = 0; i < REPS && n < 256; i++) {
			char *f = map(16 * PG);

			reg(f, 16 * PG, UFFDIO_REGISTER_MODE_MISSING);
			for (int p = 0; p < 16 && n < 256; p++) {
				volatile char *q = f + p * PG;
				double t0 = now_us();

				(void)*q;
				v[n++] = now_us() - t0;
			}
			munmap(f, 16 * PG);
		}
		out("fault_roundtrip_us_per_page", median(v, n));
	}
	return 0;
}
