// SPDX-License-Identifier: MIT
/*
 * zearly — the runtime must work whatever the start-up order: memcpy and
 * recv of IO data from a preinit function (before any constructor, the
 * runtime's own included), from a constructor of the program, and from
 * inside the program's own malloc/realloc (a bump allocator whose realloc
 * copies with memcpy, and which the dynamic loader, libc and the
 * runtime's dlsym all call).  Prints "zearly: ok" or "zearly: FAIL ...".
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KB 1024UL
#define PG 4096UL

static const char *mode = "?";

#define FAIL(...) do { \
	printf("zearly: FAIL "); printf(__VA_ARGS__); printf("\n"); \
	fflush(stdout); _exit(1); } while (0)
#define CHECK(c, ...) do { if (!(c)) FAIL(__VA_ARGS__); } while (0)

#include "feed.h"

/* ------------------------------------------------------------ early */

/* The program's own allocator (a bump allocator over mmap): its realloc
 * copies with memcpy, so the runtime's memcpy runs inside malloc, and
 * may run before the runtime's constructor (the dynamic loader and libc
 * allocate early). */
static _Atomic int own_malloc_used;
static unsigned char *heap_cur, *heap_end;
static pthread_mutex_t heap_mu = PTHREAD_MUTEX_INITIALIZER;

static void *bump(size_t n)
{
	void *p;

	n = (n + 31) & ~(size_t)15;
	pthread_mutex_lock(&heap_mu);
	if (!heap_cur || heap_cur + n + 16 > heap_end) {
		size_t sz = n + 16 > (64 << 20) ? n + 16 + PG : (64 << 20);

		heap_cur = (unsigned char *)syscall(SYS_mmap, NULL, sz, PROT_READ | PROT_WRITE,
						    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		heap_end = heap_cur + sz;
	}
	*(size_t *)heap_cur = n;
	p = heap_cur + 16;
	heap_cur += n + 16;
	pthread_mutex_unlock(&heap_mu);
	return p;
}

void *malloc(size_t n)
{
	own_malloc_used = 1;
	return bump(n);
}

void free(void *p)
{
	(void)p;
}

void *calloc(size_t a, size_t b)
{
	void *p = bump(a * b);

	memset(p, 0, a * b);
	return p;
}

void *realloc(void *p, size_t n)
{
	void *q = bump(n);

	if (p) {
		size_t old = *(size_t *)((unsigned char *)p - 16);

		memcpy(q, p, old < n ? old : n);      /* memcpy inside malloc */
	}
	return q;
}

void *aligned_alloc(size_t al, size_t n)
{
	unsigned char *p = bump(n + al);

	return (void *)(((uintptr_t)p + al - 1) & ~(uintptr_t)(al - 1));
}

int posix_memalign(void **r, size_t al, size_t n)
{
	*r = aligned_alloc(al, n);
	return 0;
}

void *memalign(size_t al, size_t n)
{
	return aligned_alloc(al, n);
}

size_t malloc_usable_size(void *p)
{
	return p ? *(size_t *)((unsigned char *)p - 16) : 0;
}

static int early_status = -1, ctor_status = -1;

/* Receive, copy and check with nothing but raw syscalls for the input
 * set-up: runs before any constructor. */
static int early_io(unsigned seed)
{
	const size_t n = 256 * KB;
	unsigned char *in = bump(n + PG), *a = bump(n + PG), *big;
	int sv[2];
	size_t o = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return 10;
	for (size_t i = 0; i < 64 * KB; i++)
		a[i] = pat(i, seed);
	/* small enough to sit in the socket buffer: no thread needed */
	if (syscall(SYS_write, sv[0], a, 64 * KB) != (long)(64 * KB))
		return 11;
	while (o < 64 * KB) {
		ssize_t r = recv(sv[1], in + o, 64 * KB - o, 0);

		if (r <= 0)
			return 12;
		o += (size_t)r;
	}
	close(sv[0]);
	close(sv[1]);
	memcpy(a, in, 64 * KB);
	if (check_pat(a, 64 * KB, seed, 0) >= 0)
		return 13;
	/* a realloc of IO data: memcpy from inside "malloc" */
	big = realloc(in, n);
	if (check_pat(big, 64 * KB, seed, 0) >= 0)
		return 14;
	return 0;
}

static void preinit(int argc, char **argv, char **envp)
{
	(void)envp;
	(void)argc;
	(void)argv;
	mode = "preinit";
	early_status = early_io(800);
}
__attribute__((section(".preinit_array"), used))
static void (*const preinit_fn)(int, char **, char **) = preinit;

__attribute__((constructor(101)))
static void early_ctor(void)
{
	ctor_status = early_io(801);
}

static void mode_early(void)
{
	const size_t n = 1024 * KB;
	unsigned char *in = malloc(n), *a = malloc(n), *b;

	CHECK(early_status == 0, "IO before any constructor failed (%d)", early_status);
	CHECK(ctor_status == 0, "IO from a constructor failed (%d)", ctor_status);
	CHECK(own_malloc_used, "the program's malloc was not used");
	for (unsigned s = 802; s < 808; s++) {
		receive(in, n, s);
		memcpy(a, in, n);
		b = realloc(a, n + PG);        /* memcpy inside our realloc */
		expect(b, n, s, 0, "realloc'd alias");
		in[9] ^= 1;
		expect(b, n, s, 0, "after store into the original");
		in[9] ^= 1;
		a = b;
	}
}


int main(void)
{
	mode = "main";
	mode_early();
	printf("zearly: ok\n");
	return 0;
}
