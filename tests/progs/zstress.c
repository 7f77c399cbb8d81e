// SPDX-License-Identifier: MIT
/*
 * zstress — concurrency and process-lifecycle stress for the runtime,
 * each mode bounded to a few seconds and verifying every byte itself.
 * Prints "zstress: MODE ok" and exits 0, or "zstress: MODE FAIL ..." and
 * exits 1.
 *
 *   threads    8 threads copy, touch, store into and release aliases of
 *              shared originals while another receives new ones
 *   sigstorm   a SIGALRM storm whose handler reads and writes aliased
 *              memory while the main thread and a worker copy, receive
 *              and send (the fault thread is busy all along)
 *   forkstorm  forks with live aliases; children verify, copy and exit
 *   spawn      posix_spawn, vfork (child reads aliases) and execve from a
 *              process with live aliases, the alias sent through a pipe
 *   mprotect   mprotect and mremap over aliases and originals
 *   rawremap   the same with mremap as a raw system call
 *   exitthread exit() from a thread while others copy with live aliases
 * (zearly covers the start-up order.)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KB 1024UL
#define PG 4096UL

extern char **environ;
static const char *mode = "?";

#define FAIL(...) do { \
	printf("zstress: %s FAIL ", mode); printf(__VA_ARGS__); printf("\n"); \
	fflush(stdout); exit(1); } while (0)
#define CHECK(c, ...) do { if (!(c)) FAIL(__VA_ARGS__); } while (0)

#include "feed.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* ------------------------------------------------------------ input */

/* ------------------------------------------------------------ threads */

#define NORIG 3
static unsigned char *orig[NORIG];
static const size_t orig_n = 1024 * KB;
static double deadline;
static _Atomic long copies;

/* ZSTRESS_CASES narrows the copier's cases (e.g. "03") for diagnosis. */
static int cases[5] = { 0, 1, 2, 3, 4 }, ncases = 5, ncopiers = 8;

static void *copier(void *arg)
{
	uint32_t x = (uint32_t)(uintptr_t)arg * 2654435761u + 7;
	unsigned char *a = malloc(orig_n), *b = malloc(orig_n);

	while (now_s() < deadline) {
		int k = (int)(rnd(&x) % NORIG);
		size_t off = rnd(&x) % (orig_n / 2), n = 64 * KB + rnd(&x) % (orig_n / 2 - 64 * KB);
		size_t doff = (rnd(&x) & 1) ? off : rnd(&x) % (orig_n - n);

		memcpy(a + doff, orig[k] + off, n);          /* alias of an original */
		expect(a + doff + n / 2, 1, 100 + (unsigned)k, off + n / 2, "load");
		switch (cases[rnd(&x) % ncases]) {
		case 0:
			memcpy(b, a + doff, n);                  /* alias of an alias */
			expect(b, n, 100 + (unsigned)k, off, "alias of alias");
			break;
		case 1:
			a[doff + rnd(&x) % n] ^= 0x55;           /* store, then undo */
			memmove(a + doff, orig[k] + off, n);
			expect(a + doff, n, 100 + (unsigned)k, off, "after rewrite");
			break;
		case 2:
			free(a);                                  /* release untouched */
			a = malloc(orig_n);
			CHECK(a, "malloc");
			break;
		case 3:
			/* whole pages inside the buffer: they read zero */
			madvise((void *)(((uintptr_t)a + doff + PG) & ~(PG - 1)), 8 * PG,
				MADV_DONTNEED);
			break;
		default: {
			unsigned char *c = realloc(b, orig_n + (rnd(&x) % 4) * PG);

			CHECK(c, "realloc");
			b = c;
			memcpy(b, a + doff, n);
			expect(b + n - 1, 1, 100 + (unsigned)k, off + n - 1, "after realloc");
			break;
		}
		}
		atomic_fetch_add(&copies, 1);
	}
	free(a);
	free(b);
	return NULL;
}

static void *receiver(void *arg)
{
	unsigned char *in = malloc(512 * KB), *cp = malloc(512 * KB);
	unsigned s = 200;

	(void)arg;
	while (now_s() < deadline) {
		receive(in, 512 * KB, s);
		memcpy(cp, in, 512 * KB);
		expect(cp, 512 * KB, s, 0, "receiver copy");
		s++;
	}
	free(in);
	free(cp);
	return NULL;
}

static void mode_threads(void)
{
	pthread_t t[9];

	for (int k = 0; k < NORIG; k++) {
		orig[k] = malloc(orig_n);
		receive(orig[k], orig_n, 100 + (unsigned)k);
	}
	if (getenv("ZSTRESS_CASES")) {
		const char *c = getenv("ZSTRESS_CASES");

		for (ncases = 0; c[ncases] && ncases < 5; ncases++)
			cases[ncases] = c[ncases] - '0';
	}
	if (getenv("ZSTRESS_THREADS"))
		ncopiers = atoi(getenv("ZSTRESS_THREADS"));
	deadline = now_s() + 3;
	for (int i = 0; i < ncopiers; i++)
		CHECK(!pthread_create(&t[i], NULL, copier, (void *)(uintptr_t)(i + 1)), "create");
	if (!getenv("ZSTRESS_NORECV"))
		CHECK(!pthread_create(&t[8], NULL, receiver, NULL), "create");
	for (int i = 0; i < ncopiers; i++)
		pthread_join(t[i], NULL);
	if (!getenv("ZSTRESS_NORECV"))
		pthread_join(t[8], NULL);
	for (int k = 0; k < NORIG; k++)
		expect(orig[k], orig_n, 100 + (unsigned)k, 0, "shared original");
	printf("zstress: threads copies=%ld\n", atomic_load(&copies));
}

/* ------------------------------------------------------------ sigstorm */

static unsigned char *h_alias, *h_store;
static const size_t h_n = 256 * KB;
static volatile sig_atomic_t h_bad;
static _Atomic int h_count;
/* The storm is process-directed: the handler runs on the main thread and
 * on the workers, at once too.  Each thread's handlers store into a byte
 * of a page of their own (7 + 2 * h_slot), so that what one reads back
 * is what it stored. */
static __thread int h_slot;

static void on_alarm(int sig)
{
	static __thread uint32_t x = 12345;
	size_t i = rnd(&x) % h_n, j = (rnd(&x) % (h_n / PG)) * PG + 7 + 2 * (size_t)h_slot;
	unsigned char c = (unsigned char)(atomic_fetch_add(&h_count, 1) + 1);
	int e = errno;

	(void)sig;
	if (h_alias[i] != pat(i, 300))                 /* load from an alias */
		h_bad = 1 + (int)i;
	h_store[j] = c;                                /* store into an alias */
	if (h_store[j] != c || h_store[j - 1] != pat(j - 1, 300))
		h_bad = -1;
	h_store[j] = pat(j, 300);
	errno = e;
}

static void *busy(void *arg)
{
	unsigned char *in = malloc(512 * KB), *a = malloc(512 * KB);
	unsigned s = 400 + (unsigned)(uintptr_t)arg;
	sigset_t m;

	/* created with SIGALRM blocked: its handlers take their slot first */
	h_slot = 1 + (int)(uintptr_t)arg;
	sigemptyset(&m);
	sigaddset(&m, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &m, NULL);

	while (now_s() < deadline) {
		receive(in, 512 * KB, s);
		memcpy(a, in, 512 * KB);
		expect(a, 512 * KB, s, 0, "busy copy");
		s += 2;
	}
	free(in);
	free(a);
	return NULL;
}

static void mode_sigstorm(void)
{
	unsigned char *in = malloc(h_n), *out = malloc(h_n);
	struct sigaction sa;
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	pthread_t t[2];
	int sv[2];
	long rounds = 0;

	h_alias = malloc(h_n);
	h_store = malloc(h_n);
	receive(in, h_n, 300);
	memcpy(h_alias, in, h_n);
	memcpy(h_store, in, h_n);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	deadline = now_s() + 3;
	{
		sigset_t m, old;

		sigemptyset(&m);
		sigaddset(&m, SIGALRM);
		pthread_sigmask(SIG_BLOCK, &m, &old);
		for (int i = 0; i < 2; i++)
			CHECK(!pthread_create(&t[i], NULL, busy, (void *)(uintptr_t)i), "create");
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	setitimer(ITIMER_REAL, &it, NULL);
	while (now_s() < deadline) {
		sigset_t m, old;
		size_t o = 0;

		/* new aliases under the handler's feet (with SIGALRM blocked,
		 * as a program must), copies and output while it fires */
		sigemptyset(&m);
		sigaddset(&m, SIGALRM);
		receive(in, h_n, 300);
		pthread_sigmask(SIG_BLOCK, &m, &old);
		memcpy(h_alias, in, h_n);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		memcpy(out, h_alias, h_n);
		while (o < h_n) {
			ssize_t w = send(sv[0], out + o, h_n - o, MSG_DONTWAIT);

			if (w < 0 && (errno == EINTR || errno == EAGAIN))
				break;
			CHECK(w > 0, "send: %s", strerror(errno));
			o += (size_t)w;
		}
		while (recv(sv[1], in, h_n, MSG_DONTWAIT) > 0)
			;
		rounds++;
	}
	it = (struct itimerval){ { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &it, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK(!h_bad, "handler saw a wrong byte (%d)", (int)h_bad);
	CHECK(h_count > 100, "only %d signals", (int)h_count);
	expect(h_store, h_n, 300, 0, "handler-stored alias");
	printf("zstress: sigstorm signals=%d rounds=%ld\n", (int)h_count, rounds);
}

/* ------------------------------------------------------------ fork */

static void mode_forkstorm(void)
{
	const size_t n = 512 * KB;
	unsigned char *in = malloc(n), *a = malloc(n), *b = malloc(n);
	int kids = 0;
	double end = now_s() + 3;

	for (unsigned s = 500; now_s() < end && kids < 60; s++) {
		pid_t pid;
		int st;

		receive(in, n, s);
		memcpy(a, in, n);
		memcpy(b + PG, a, n - PG);
		pid = fork();
		CHECK(pid >= 0, "fork: %s", strerror(errno));
		if (pid == 0) {
			unsigned char *c = malloc(n);
			long bad = check_pat(a, n, s, 0);

			if (bad < 0)
				bad = check_pat(b + PG, n - PG, s, 0);
			memcpy(c, in, n);                 /* the child's own copy */
			if (bad < 0)
				bad = check_pat(c, n, s, 0);
			_exit(bad < 0 ? 0 : 3);
		}
		/* the parent goes on while the child runs: store into the
		 * original (the child's copy must not see it) */
		in[5] ^= 1;
		expect(a, n, s, 0, "parent alias");
		CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st),
		      "child %d saw wrong bytes (status %#x)", kids, st);
		kids++;
	}
	CHECK(kids >= 10, "only %d forks", kids);
	printf("zstress: forkstorm children=%d\n", kids);
}

/* The spawned side: read n bytes of message seed from stdin and check. */
static int child_check(size_t n, unsigned seed)
{
	unsigned char *b = malloc(n);
	size_t o = 0;

	while (o < n) {
		ssize_t r = read(0, b + o, n - o);

		if (r <= 0)
			return 4;
		o += (size_t)r;
	}
	return check_pat(b, n, seed, 0) < 0 ? 0 : 3;
}

static void send_to_child(pid_t pid, int fd, const unsigned char *a, size_t n, const char *how)
{
	size_t o = 0;
	int st;

	while (o < n) {
		ssize_t w = write(fd, a + o, n - o);

		CHECK(w > 0, "%s: write to child: %s", how, strerror(errno));
		o += (size_t)w;
	}
	close(fd);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st),
	      "%s child failed (status %#x)", how, st);
}

static void mode_spawn(const char *self)
{
	const size_t n = 512 * KB;
	unsigned char *in = malloc(n), *a = malloc(n);
	char nbuf[32], sbuf[32];

	for (volatile unsigned s = 600; s < 606; s++) {
		int p[2];
		pid_t pid;
		char *argv[] = { (char *)self, "child-check", nbuf, sbuf, NULL };
		posix_spawn_file_actions_t fa;

		receive(in, n, s);
		memcpy(a, in, n);
		snprintf(nbuf, sizeof(nbuf), "%zu", n);
		snprintf(sbuf, sizeof(sbuf), "%u", s);
		CHECK(!pipe(p), "pipe");
		switch (s % 3) {
		case 0:
			posix_spawn_file_actions_init(&fa);
			posix_spawn_file_actions_adddup2(&fa, p[0], 0);
			posix_spawn_file_actions_addclose(&fa, p[1]);
			CHECK(!posix_spawn(&pid, self, &fa, NULL, argv, environ), "posix_spawn");
			posix_spawn_file_actions_destroy(&fa);
			close(p[0]);
			send_to_child(pid, p[1], a, n, "posix_spawn");
			break;
		case 1: {
			/* vfork: the child shares our memory, reads aliases (served
			 * by our fault thread) and execs */
			volatile long bad = -1;
			volatile unsigned vs = s;

			pid = vfork();
			if (pid == 0) {
				bad = check_pat(a, n, vs, 0);
				dup2(p[0], 0);
				close(p[1]);
				execve(self, argv, environ);
				_exit(127);
			}
			CHECK(pid > 0, "vfork");
			CHECK(bad < 0, "vfork child saw byte %ld wrong", bad);
			close(p[0]);
			send_to_child(pid, p[1], a, n, "vfork");
			break;
		}
		default:
			pid = fork();
			if (pid == 0) {
				dup2(p[0], 0);
				close(p[1]);
				execve(self, argv, environ);
				_exit(127);
			}
			CHECK(pid > 0, "fork");
			close(p[0]);
			send_to_child(pid, p[1], a, n, "fork+execve");
			break;
		}
		expect(a, n, s, 0, "alias after spawn");
	}
	/* execve of ourselves straight from a process with live aliases */
	{
		char *argv[] = { (char *)self, "child-exec", NULL };

		fflush(stdout);
		execve(self, argv, environ);
		FAIL("execve: %s", strerror(errno));
	}
}

/* ------------------------------------------------------------ mprotect */

/* raw: mremap by raw syscall, behind the runtime's back (pending: the
 * runtime's partial registration splits the mapping, and the kernel
 * refuses to remap across the pieces with EFAULT). */
static void mode_mprotect(bool raw)
{
	const size_t n = 512 * KB, m = 2 * n;
	unsigned char *in = mmap(NULL, m, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *a = mmap(NULL, m, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *b = malloc(n), *q;

	for (unsigned s = 700; s < 712; s++) {
		receive(in, n, s);
		memcpy(a, in, n);
		CHECK(!mprotect(a, m, PROT_READ), "mprotect RO: %s", strerror(errno));
		expect(a, PG * 3, s, 0, "read-only alias");           /* faults into RO */
		memcpy(b, a, n);                                      /* RO alias as source */
		expect(b, n, s, 0, "copy of read-only alias");
		CHECK(!mprotect(a, m, PROT_NONE), "mprotect NONE");
		CHECK(!mprotect(a, m, PROT_READ | PROT_WRITE), "mprotect RW");
		a[PG * 7] ^= 1;
		a[PG * 7] ^= 1;
		expect(a, n, s, 0, "alias after mprotect round trip");
		/* the original read-only while it has dependants */
		memcpy(a, in, n);
		CHECK(!mprotect(in, m, PROT_READ), "mprotect original RO");
		expect(a + PG * 4, PG * 4, s, PG * 4, "alias of read-only original");
		CHECK(!mprotect(in, m, PROT_READ | PROT_WRITE), "mprotect original RW");
		in[3] ^= 1;                                           /* retires it */
		expect(a, n, s, 0, "alias after store into original");
		/* mremap: grow in place or move, through libc and raw */
		memcpy(a, in + 0, n);
		if (!raw)
			q = mremap(a, m, 2 * m, MREMAP_MAYMOVE);
		else
			q = (unsigned char *)syscall(SYS_mremap, a, m, 2 * m, MREMAP_MAYMOVE);
		CHECK(q != MAP_FAILED, "mremap: %s", strerror(errno));
		a = q;
		CHECK(a[3] == (unsigned char)(pat(3, s) ^ 1), "moved alias byte 3");
		expect(a + 4, n - 4, s, 4, "moved alias");
		q = mremap(a, 2 * m, m, 0);                           /* shrink */
		CHECK(q == a, "mremap shrink: %s", strerror(errno));
		q = mremap(in, m, m + PG, MREMAP_MAYMOVE);            /* the original moves */
		CHECK(q != MAP_FAILED, "mremap original: %s", strerror(errno));
		in = q;
		CHECK(!munmap(in + m, PG), "munmap");
	}
	munmap(a, m);
	munmap(in, m);
}

/* ------------------------------------------------------------ exit */

static void *exiter(void *arg)
{
	(void)arg;
	usleep(300000);
	printf("zstress: exitthread ok\n");
	fflush(stdout);
	exit(0);
}

static void mode_exitthread(void)
{
	pthread_t t[4];

	for (int k = 0; k < NORIG; k++) {
		orig[k] = malloc(orig_n);
		receive(orig[k], orig_n, 100 + (unsigned)k);
	}
	deadline = now_s() + 30;                /* exit() ends it long before */
	for (int i = 0; i < 3; i++)
		CHECK(!pthread_create(&t[i], NULL, copier, (void *)(uintptr_t)(i + 1)), "create");
	CHECK(!pthread_create(&t[3], NULL, exiter, NULL), "create");
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	FAIL("exit() from a thread did not end the process");
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "child-check") && argc == 4)
		return child_check(strtoul(argv[2], NULL, 10), (unsigned)strtoul(argv[3], NULL, 10));
	if (argc >= 2 && !strcmp(argv[1], "child-exec")) {
		printf("zstress: spawn ok\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: zstress threads|sigstorm|forkstorm|spawn|mprotect|"
			"exitthread|rawremap\n");
		return 2;
	}
	mode = argv[1];
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(mode, "threads"))
		mode_threads();
	else if (!strcmp(mode, "sigstorm"))
		mode_sigstorm();
	else if (!strcmp(mode, "forkstorm"))
		mode_forkstorm();
	else if (!strcmp(mode, "spawn"))
		mode_spawn(argv[0]);
	else if (!strcmp(mode, "mprotect"))
		mode_mprotect(false);
	else if (!strcmp(mode, "rawremap"))
		mode_mprotect(true);
	else if (!strcmp(mode, "exitthread"))
		mode_exitthread();
	else
		return 2;
	printf("zstress: %s ok\n", mode);
	return 0;
}
