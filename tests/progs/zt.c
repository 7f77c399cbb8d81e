// SPDX-License-Identifier: MIT
/*
 * zt — small, unmodified-style programs that exercise one path of the
 * runtime each and verify every byte themselves.  The integration tests
 * run them under zio-run (and plain) and check their verdict and the
 * runtime's counters.  `zt MODE` prints "zt: MODE ok" and exits 0, or
 * "zt: MODE FAIL ..." and exits 1.
 *
 * Data enters through real input calls (recv/read from a socket pair fed
 * by a writer thread), because only input makes IO data.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define KB 1024UL
#define PG 4096UL

static const char *mode = "?";

#define FAIL(...) do { \
	printf("zt: %s FAIL ", mode); printf(__VA_ARGS__); printf("\n"); \
	fflush(stdout); exit(1); } while (0)
#define CHECK(c, ...) do { if (!(c)) FAIL(__VA_ARGS__); } while (0)

#include "feed.h"

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	CHECK(p, "malloc %zu", n);
	return p;
}

static void *xmmap(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED, "mmap %zu", n);
	return p;
}

/* ------------------------------------------------------------ modes */

/* recv -> memcpy -> memcpy -> send to a peer that verifies. */
struct sink {
	int fd;
	size_t len;
	int rounds;
	long bad;
};

static void *sink_thread(void *arg)
{
	struct sink *s = arg;
	unsigned char *b = malloc(s->len);

	for (int r = 0; r < s->rounds; r++) {
		size_t o = 0;

		while (o < s->len) {
			ssize_t n = read(s->fd, b + o, s->len - o);

			if (n <= 0) {
				s->bad = -2;
				return NULL;
			}
			o += (size_t)n;
		}
		if (check_pat(b, s->len, (unsigned)r, 0) >= 0 && s->bad == 0)
			s->bad = r + 1;
	}
	free(b);
	return NULL;
}

/* send() all n bytes of b to fd. */
static void send_all(int fd, const void *b, size_t n)
{
	size_t o = 0;

	while (o < n) {
		ssize_t w = send(fd, (const char *)b + o, n - o, 0);

		CHECK(w > 0, "send: %s", strerror(errno));
		o += (size_t)w;
	}
}

/* Each message received into one buffer, copied twice into new buffers
 * of its own (the copies zio's default policy elides: a small pool's
 * buffers in the cache it may rather copy into) and sent on. */
static void mode_relay(void)
{
	const size_t n = 512 * KB;
	enum { rounds = 8 };
	unsigned char *in = xmalloc(n), *mid[rounds], *out[rounds];
	int sv[2];
	pthread_t t;
	struct sink s;

	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	s = (struct sink){ sv[1], n, rounds, 0 };
	pthread_create(&t, NULL, sink_thread, &s);
	for (int r = 0; r < rounds; r++) {
		mid[r] = xmalloc(n);
		out[r] = xmalloc(n + 300);
		receive(in, n, (unsigned)r);
		memcpy(mid[r], in, n);
		memcpy(out[r] + 300, mid[r], n);      /* not page-congruent */
		send_all(sv[0], out[r] + 300, n);
	}
	pthread_join(t, NULL);
	CHECK(s.bad == 0, "receiver saw wrong bytes in round %ld", s.bad);
	for (int r = 0; r < rounds; r++) {
		expect(mid[r], n, (unsigned)r, 0, "a first copy");
		expect(out[r] + 300, n, (unsigned)r, 0, "a second copy");
	}
}

/* Single-byte loads and stores inside an alias. */
static void mode_touch(void)
{
	const size_t n = 256 * KB;
	unsigned char *in = xmalloc(n), *a = xmalloc(n);

	receive(in, n, 3);
	memcpy(a, in, n);
	CHECK(a[PG * 5 + 17] == pat(PG * 5 + 17, 3), "load in alias");
	a[PG * 9 + 1] = 0xAB;                   /* store into another alias page */
	CHECK(a[PG * 9 + 1] == 0xAB, "store in alias did not stick");
	CHECK(a[PG * 9] == pat(PG * 9, 3) && a[PG * 9 + 2] == pat(PG * 9 + 2, 3),
	      "bytes around a store changed");
	a[PG * 9 + 1] = pat(PG * 9 + 1, 3);
	expect(a, n, 3, 0, "alias");
	expect(in, n, 3, 0, "original");
}

/* Stores into the original after a copy: the copy keeps the old bytes. */
static void mode_store_orig(void)
{
	const size_t n = 384 * KB;
	unsigned char *in = xmalloc(n), *a = xmalloc(n), *b = xmalloc(n);

	receive(in, n, 5);
	memcpy(a, in, n);
	memcpy(b, a, n);                        /* alias of an alias */
	in[PG * 10] ^= 0xFF;                    /* one store */
	memset(in + PG * 20, 0x5A, PG * 3);     /* a range of stores */
	expect(a, n, 5, 0, "first copy");
	expect(b, n, 5, 0, "copy of copy");
	CHECK(in[PG * 10] == (unsigned char)(pat(PG * 10, 5) ^ 0xFF), "store lost");
	CHECK(in[PG * 21] == 0x5A, "memset lost");
	/* a new input into the original, too */
	receive(in, n, 6);
	expect(a, n, 5, 0, "first copy after re-receive");
	expect(in, n, 6, 0, "original after re-receive");
}

/* Overlapping memmove over IO data and over an alias. */
static void mode_memmove(void)
{
	const size_t n = 256 * KB;
	unsigned char *in = xmalloc(n + 8 * PG), *a = xmalloc(n + 8 * PG);

	receive(in, n, 7);
	memcpy(a, in, n);
	memmove(a + 3 * PG + 5, a, n);          /* overlaps itself, shifts up */
	expect(a + 3 * PG + 5, n, 7, 0, "alias shifted up");
	memmove(in + 100, in + 5000, n - 5000); /* shifts down inside the original */
	expect(in + 100, n - 5000, 7, 5000, "original shifted down");
	memcpy(a, in + 100, n - 5000);
	expect(a, n - 5000, 7, 5000, "copy of shifted original");
}

/* free/realloc of aliases and originals, then reuse of the memory. */
static void mode_free(void)
{
	const size_t n = 512 * KB;

	for (int r = 0; r < 6; r++) {
		unsigned char *in = xmalloc(n), *a = xmalloc(n), *b;

		receive(in, n, 10 + (unsigned)r);
		memcpy(a, in, n);
		if (r & 1) {
			free(in);                       /* original dies, alias lives */
			expect(a, n, 10 + (unsigned)r, 0, "alias after its original was freed");
			b = realloc(a, 2 * n);          /* alias moves */
			CHECK(b, "realloc");
			expect(b, n, 10 + (unsigned)r, 0, "alias after realloc");
			memset(b + n, 1, n);
			free(b);
		} else {
			free(a);                        /* alias dies untouched */
			b = xmalloc(n);                 /* likely the same memory */
			memset(b, 0x77, n);
			for (size_t i = 0; i < n; i += PG)
				CHECK(b[i] == 0x77, "reused memory");
			expect(in, n, 10 + (unsigned)r, 0, "original after its alias was freed");
			in = realloc(in, n / 2);        /* original shrinks */
			CHECK(in, "realloc");
			expect(in, n / 2, 10 + (unsigned)r, 0, "original after realloc");
			free(b);
			free(in);
		}
	}
	/* mmap'ed buffers: munmap and madvise */
	{
		unsigned char *in = xmmap(n), *a = xmmap(n);

		receive(in, n, 30);
		memcpy(a, in, n);
		CHECK(!madvise(a, n / 2, MADV_DONTNEED), "madvise");
		for (size_t i = 0; i < n / 2; i += 997)
			CHECK(a[i] == 0, "DONTNEED'd alias must read zero");
		expect(a + n / 2, n / 2, 30, n / 2, "rest of alias");
		munmap(in, n);
		expect(a + n / 2, n / 2, 30, n / 2, "alias after original unmapped");
		munmap(a, n);
	}
}

/* fork: child and parent read the data. */
static void mode_fork(void)
{
	const size_t n = 512 * KB;
	unsigned char *in = xmalloc(n), *a = xmalloc(n), *b = xmalloc(n);
	int st;
	pid_t pid;

	receive(in, n, 40);
	memcpy(a, in, n);
	memcpy(b, a, n);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		long bad = check_pat(a, n, 40, 0);

		if (bad < 0)
			bad = check_pat(b, n, 40, 0);
		if (bad < 0) {
			/* the child runs elision of its own */
			unsigned char *c = malloc(n);

			receive(in, n, 41);
			memcpy(c, in, n);
			bad = check_pat(c, n, 41, 0);
		}
		_exit(bad < 0 ? 0 : 3);
	}
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child saw wrong bytes (status %d)", st);
	expect(a, n, 40, 0, "parent alias");
	expect(b, n, 40, 0, "parent alias 2");
	in[0] ^= 1;
	expect(a, n, 40, 0, "parent alias after store to original");
}

/* 4 threads copying and touching concurrently. */
struct worker {
	int id;
	long bad;
};

static unsigned char *shared_in;
static const size_t shared_n = 512 * KB;

static void *worker(void *arg)
{
	struct worker *w = arg;
	unsigned char *a = malloc(shared_n), *b = malloc(shared_n);
	unsigned x = (unsigned)w->id * 2654435761u + 1;

	for (int it = 0; it < 60 && !w->bad; it++) {
		memcpy(a, shared_in, shared_n);
		memcpy(b, a, shared_n);
		for (int k = 0; k < 8; k++) {
			size_t i;

			x ^= x << 13; x ^= x >> 17; x ^= x << 5;
			i = x % shared_n;
			if (a[i] != pat(i, 50) || b[(i * 7) % shared_n] != pat((i * 7) % shared_n, 50))
				w->bad = 1 + (long)i;
		}
		if (it % 10 == 9 && check_pat(b, shared_n, 50, 0) >= 0)
			w->bad = -1;
	}
	free(a);
	free(b);
	return NULL;
}

static void mode_threads(void)
{
	pthread_t t[4];
	struct worker w[4];

	shared_in = xmalloc(shared_n);
	receive(shared_in, shared_n, 50);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ i, 0 };
		pthread_create(&t[i], NULL, worker, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK(!w[i].bad, "thread %d saw a wrong byte (%ld)", i, w[i].bad);
	}
	expect(shared_in, shared_n, 50, 0, "shared original");
}

/* The kernel's own accesses: an alias written to a pipe, and read()
 * into an alias as destination. */
static void mode_kernel(void)
{
	const size_t n = 256 * KB;
	unsigned char *in = xmalloc(n), *a = xmalloc(n), *got = xmalloc(n);
	int p[2];
	size_t o = 0;
	pid_t pid;
	int st;

	receive(in, n, 60);
	memcpy(a, in, n);
	CHECK(!pipe(p), "pipe");
	pid = fork();
	if (pid == 0) {
		/* the child drains the pipe so the parent's write can block */
		unsigned char *b = malloc(n);
		size_t q = 0;

		close(p[1]);
		while (q < n) {
			ssize_t r = read(p[0], b + q, n - q);

			if (r <= 0)
				_exit(2);
			q += (size_t)r;
		}
		_exit(check_pat(b, n, 60, 0) < 0 ? 0 : 3);
	}
	close(p[0]);
	memcpy(got, in, n);              /* got is an alias too */
	while (o < n) {
		ssize_t w = write(p[1], a + o, n - o);

		CHECK(w > 0, "write to pipe: %s", strerror(errno));
		o += (size_t)w;
	}
	close(p[1]);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "pipe reader saw wrong bytes (status %d)", st);
	/* read() into an alias: a short read must leave the rest intact */
	{
		int q[2];
		unsigned char small[3 * PG];

		for (size_t i = 0; i < sizeof(small); i++)
			small[i] = 0xC3;
		CHECK(!pipe(q), "pipe");
		CHECK(write(q[1], small, sizeof(small)) == (ssize_t)sizeof(small), "write small");
		close(q[1]);
		CHECK(read(q[0], got + PG * 4 + 100, n / 2) == (ssize_t)sizeof(small), "short read");
		close(q[0]);
		for (size_t i = 0; i < sizeof(small); i++)
			CHECK(got[PG * 4 + 100 + i] == 0xC3, "read into alias lost byte %zu", i);
		expect(got, PG * 4 + 100, 60, 0, "alias before the read");
		expect(got + PG * 4 + 100 + sizeof(small), n - (PG * 4 + 100 + sizeof(small)), 60,
		       PG * 4 + 100 + sizeof(small), "alias after the short read");
	}
}

/* A program that touches everything it copies must still be right. */
static void mode_touchall(void)
{
	const size_t n = 512 * KB;
	unsigned char *in = xmalloc(n), *a = xmalloc(n);
	unsigned long sum = 0, want = 0;

	for (int r = 0; r < 6; r++) {
		receive(in, n, 70 + (unsigned)r);
		memcpy(a, in, n);
		for (size_t i = 0; i < n; i++) {
			sum += a[i];
			want += pat(i, 70 + (unsigned)r);
		}
		a[n / 2] ^= 0x11;
		a[n / 2] ^= 0x11;
		expect(a, n, 70 + (unsigned)r, 0, "touched alias");
	}
	CHECK(sum == want, "checksum");
}

/*
 * Every length 0-300 at several alignments, memcpy, and memmove with
 * every overlap distance up to 70 bytes either way: the runtime copies
 * small lengths itself (not through libc), so check them against a
 * byte loop.  Calls go through volatile pointers so the compiler cannot
 * expand them inline.
 */
static void *(*volatile small_cpy)(void *, const void *, size_t) = memcpy;
static void *(*volatile small_move)(void *, const void *, size_t) = memmove;

/* One call of fn (memcpy or memmove) moving len bytes from buf+src to
 * buf+dst, checked against ref, where a byte loop did the same. */
static void small_check(void *(*fn)(void *, const void *, size_t), const char *name,
			unsigned char *buf, const unsigned char *ref, size_t size, size_t len,
			size_t src, size_t dst)
{
	CHECK(fn(buf + dst, buf + src, len) == buf + dst, "%s return value", name);
	CHECK(!memcmp(buf, ref, size), "%s len %zu src %zu dst %zu wrong", name, len, src, dst);
}

static void small_exhaustive(void)
{
	static unsigned char buf[1024], ref[1024];
	volatile unsigned char *vref = ref;

	for (size_t len = 0; len <= 300; len++) {
		for (int so = 0; so < 4; so++)
			for (int d = -70; d <= 70; d++) {
				size_t src = 200 + (size_t)so * 7, dst = (size_t)((long)src + d);

				for (size_t i = 0; i < sizeof(buf); i++)
					buf[i] = ref[i] = (unsigned char)(i * 37 + len);
				/* reference: memmove semantics, byte by byte */
				if (dst < src)
					for (size_t i = 0; i < len; i++)
						vref[dst + i] = vref[src + i];
				else
					for (size_t i = len; i-- > 0;)
						vref[dst + i] = vref[src + i];
				small_check(small_move, "memmove", buf, ref, sizeof(buf), len, src, dst);
				if ((size_t)labs(d) < len)
					continue;
				for (size_t i = 0; i < sizeof(buf); i++)
					buf[i] = ref[i] = (unsigned char)(i * 13 + len);
				for (size_t i = 0; i < len; i++)
					vref[dst + i] = vref[src + i];
				small_check(small_cpy, "memcpy", buf, ref, sizeof(buf), len, src, dst);
			}
	}
}

/* Copies below the threshold and of non-IO data are never elided. */
static void mode_small(void)
{
	const size_t n = 256 * KB;
	unsigned char *in = xmalloc(n), *a = xmalloc(n), *plain = xmalloc(n);

	receive(in, n, 80);
	for (size_t o = 0; o + 1000 <= n; o += 1000)
		memcpy(a + o, in + o, 1000);
	fill_pat(plain, n, 81);
	memcpy(a, plain, n);
	expect(a, n, 81, 0, "copy of non-IO data");
	small_exhaustive();
}

/*
 * One copy per receive of 64 KiB, from a pooled buffer into a pooled
 * buffer: eliding costs more than the copy, so the adaptive policy
 * declines the input site, whose inputs are then only noted, and
 * explores one copy of them now and then.  Every copy is checked.
 */
static void mode_declined(void)
{
	const size_t n = 64 * KB;
	const int rounds = 1500;
	unsigned char *in = xmalloc(n), *dst = xmalloc(n);

	memset(in, 0, n);
	memset(dst, 0, n);
	for (int r = 0; r < rounds; r++) {
		receive(in, n, (unsigned)r);
		memcpy(dst, in, n);
		expect(dst, n, (unsigned)r, 0, "copy");
	}
}

/*
 * The same, then copies into fresh buffers (mapped for the copy, sent,
 * unmapped), which pay: the first such copy of a noted input makes it an
 * original, and the site comes back.  The peer checks the bytes sent.
 */
static void mode_redeclined(void)
{
	const size_t n = 64 * KB;
	const int pooled = 300, fresh = 700;
	unsigned char *in = xmalloc(n), *dst = xmalloc(n);
	int sv[2];
	pthread_t t;
	struct sink s;

	memset(in, 0, n);
	memset(dst, 0, n);
	for (int r = 0; r < pooled; r++) {
		receive(in, n, (unsigned)r);
		memcpy(dst, in, n);
		expect(dst, n, (unsigned)r, 0, "pooled copy");
	}
	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	s = (struct sink){ sv[1], n, fresh, 0 };
	pthread_create(&t, NULL, sink_thread, &s);
	for (int r = 0; r < fresh; r++) {
		unsigned char *f = xmmap(n);

		receive(in, n, (unsigned)r);
		memcpy(f, in, n);
		send_all(sv[0], f, n);
		munmap(f, n);
	}
	pthread_join(t, NULL);
	CHECK(s.bad == 0, "receiver saw wrong bytes in round %ld", s.bad);
}

/*
 * Copy each message through four buffers, read one byte in every tenth
 * page of the last, and send it to a peer that checks every byte: the
 * buffers fresh mappings per message (each elided copy saves faulting 128
 * pages in, so the reads are worth their faults) or reused ones (copies
 * there are cheap: the reads are not worth it).
 */
#define SPARSE_STAGES 4

static void sparse(bool fresh)
{
	const size_t n = 512 * KB;
	const int rounds = 300;
	unsigned char *in = xmalloc(n), *pool[SPARSE_STAGES];
	int sv[2];
	pthread_t t;
	struct sink s;

	memset(in, 0, n);
	for (int k = 0; k < SPARSE_STAGES; k++) {
		pool[k] = fresh ? NULL : xmalloc(n);
		if (pool[k])
			memset(pool[k], 0, n);
	}
	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	s = (struct sink){ sv[1], n, rounds, 0 };
	pthread_create(&t, NULL, sink_thread, &s);
	for (int r = 0; r < rounds; r++) {
		unsigned char *d[SPARSE_STAGES], *last;

		receive(in, n, (unsigned)r);
		for (int k = 0; k < SPARSE_STAGES; k++) {
			d[k] = fresh ? xmmap(n) : pool[k];
			memcpy(d[k], k ? d[k - 1] : in, n);
		}
		last = d[SPARSE_STAGES - 1];
		for (size_t i = r % PG; i < n; i += 10 * PG)
			CHECK(last[i] == pat(i, (unsigned)r), "round %d: byte %zu read back wrong",
			      r, i);
		send_all(sv[0], last, n);
		for (int k = 0; k < SPARSE_STAGES && fresh; k++)
			munmap(d[k], n);
	}
	pthread_join(t, NULL);
	CHECK(s.bad == 0, "receiver saw wrong bytes in round %ld", s.bad);
}

static void mode_sparse_fresh(void)
{
	sparse(true);
}

static void mode_sparse_pooled(void)
{
	sparse(false);
}

/*
 * A pooled server: every message is received into the same buffer while
 * the copies of the one before still alias it (the runtime may receive it
 * elsewhere and alias the buffer instead).  Two stages of copies, the
 * last sent to a peer that checks every byte; one message in 10 is also
 * kept by copy and checked again 25 messages later, after the buffer has
 * been received into many times; with `touch` the buffer itself is read
 * back now and then.  A length that is no page multiple, and recv()s of
 * whatever the feeder has written so far, put message boundaries
 * anywhere in a page (or, `whole`, one read() a message).
 */
/* Message `seed` of len bytes into buf with one read(): written whole into
 * a pipe first (len up to the pipe's 1 MiB). */
static void receive_whole(void *buf, size_t len, unsigned seed)
{
	int p[2];
	pthread_t t;
	struct feed f;

	CHECK(!pipe(p), "pipe: %s", strerror(errno));
	CHECK(fcntl(p[1], F_SETPIPE_SZ, 1 << 20) >= (int)len, "F_SETPIPE_SZ: %s", strerror(errno));
	f = (struct feed){ p[1], len, seed };
	CHECK(!pthread_create(&t, NULL, feeder, &f), "pthread_create");
	pthread_join(t, NULL);
	CHECK(read(p[0], buf, len) == (ssize_t)len, "read: %s", strerror(errno));
	close(p[0]);
	close(p[1]);
}

static void rx_reuse(bool touch, bool whole)
{
	const size_t n = 256 * KB + 100;
	const int rounds = 200;
	unsigned char *rx = xmalloc(n), *b1 = xmalloc(n), *b2 = xmalloc(n), *keep[3];
	int sv[2];
	pthread_t t;
	struct sink s;

	for (int k = 0; k < 3; k++)
		keep[k] = xmalloc(n);
	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	s = (struct sink){ sv[1], n, rounds, 0 };
	pthread_create(&t, NULL, sink_thread, &s);
	for (int r = 0; r < rounds; r++) {
		if (whole)
			receive_whole(rx, n, (unsigned)r);
		else
			receive(rx, n, (unsigned)r);
		memcpy(b1, rx, n);
		memcpy(b2, b1, n);
		if (r % 10 == 0)
			memcpy(keep[(r / 10) % 3], rx, n);
		if (r % 10 == 5 && r >= 25)
			expect(keep[((r - 25) / 10) % 3], n, (unsigned)(r - 25), 0, "kept copy");
		if (touch && r % 7 == 3)
			expect(rx, n, (unsigned)r, 0, "buffer read back");
		send_all(sv[0], b2, n);
	}
	pthread_join(t, NULL);
	CHECK(s.bad == 0, "receiver saw wrong bytes in round %ld", s.bad);
	expect(rx, n, rounds - 1, 0, "last message in the buffer");
	expect(b1, n, rounds - 1, 0, "last first-stage copy");
}

static void mode_rx_reuse(void)
{
	rx_reuse(false, false);
}

static void mode_rx_touch(void)
{
	rx_reuse(true, false);
}

/* Each message read whole in one read(), as a server reading full
 * requests does. */
static void mode_rx_whole(void)
{
	rx_reuse(false, true);
}

/*
 * A reply buffer malloc'd for each reply, filled by one large copy of a
 * received value, sent and freed (redis's reply blocks): the allocator
 * hands the same memory out again.  The freed alias's pages stay vacant
 * and the next reply's copy aliases them with nothing to park; whatever
 * else then uses the memory (stores, calloc, a plain copy, an input, a
 * child) sees its own bytes.  The peer checks every byte sent.
 */
/*
 * Replies from one recycled heap block: `replies` times, receive into in,
 * copy it into a block of n + shift + 64 bytes at offset 32 (plus shift
 * on odd replies), send it to a checking reader, free the block.
 */
static void recycled_replies(unsigned char *in, size_t n, int replies, size_t shift)
{
	unsigned char *b, *first = NULL;
	int sv[2], same = 0;
	pthread_t t;
	struct sink s;

	/* from the heap, as jemalloc's large classes are: free keeps it */
	CHECK(mallopt(M_MMAP_THRESHOLD, 64 << 20) == 1, "mallopt");
	CHECK(mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1, "mallopt");
	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	s = (struct sink){ sv[1], n, replies, 0 };
	pthread_create(&t, NULL, sink_thread, &s);
	for (int r = 0; r < replies; r++) {
		size_t at = 32 + (r % 2) * shift;

		receive(in, n, (unsigned)r);
		b = xmalloc(n + shift + 64);
		if (!first)
			first = b;
		same += b == first;
		memcpy(b + at, in, n);
		send_all(sv[0], b + at, n);
		free(b);
	}
	pthread_join(t, NULL);
	CHECK(s.bad == 0, "receiver saw wrong bytes in reply %ld", s.bad);
	CHECK(same > replies / 2, "the allocator gave the buffer back %d times of %d", same,
	      replies);
	close(sv[0]);
	close(sv[1]);
}

static void mode_vacant(void)
{
	const size_t n = 256 * KB;
	unsigned char *in = xmalloc(n), *plain = xmalloc(n), *b;
	int st;
	pid_t pid;

	recycled_replies(in, n, 24, 0);
	/* the same memory, vacant now, written by the program's own stores */
	b = xmalloc(n + 64);
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(i * 7 + 3);
	for (size_t i = 0; i < n; i++)
		CHECK(b[i] == (unsigned char)(i * 7 + 3), "store into vacant memory, byte %zu", i);
	free(b);
	/* vacant again (an elided copy, freed), then calloc'ed: zeros */
	b = xmalloc(n + 64);
	memcpy(b + 32, in, n);
	free(b);
	b = calloc(1, n + 64);
	CHECK(b, "calloc");
	for (size_t i = 0; i < n + 64; i++)
		CHECK(!b[i], "calloc over vacant memory: byte %zu is %#x", i, b[i]);
	free(b);
	/* vacant again, then a copy of data that is not IO (not elided) */
	b = xmalloc(n + 64);
	memcpy(b + 32, in, n);
	free(b);
	fill_pat(plain, n, 99);
	b = xmalloc(n + 64);
	memcpy(b, plain, n);
	expect(b, n, 99, 0, "plain copy into vacant memory");
	free(b);
	/* vacant again, then received into */
	b = xmalloc(n + 64);
	memcpy(b + 32, in, n);
	free(b);
	b = xmalloc(n + 64);
	receive(b + 32, n, 77);
	expect(b + 32, n, 77, 0, "input into vacant memory");
	free(b);
	/* vacant again, then a child and its parent use it */
	b = xmalloc(n + 64);
	memcpy(b + 32, in, n);
	free(b);
	b = xmalloc(n + 64);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		fill_pat(b, n, 5);
		expect(b, n, 5, 0, "child's stores into vacant memory");
		_exit(0);
	}
	fill_pat(b, n, 6);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st), "child failed");
	expect(b, n, 6, 0, "parent's stores into vacant memory");
	free(b);
	free(in);
	free(plain);
}

/*
 * A recycled reply buffer whose copy starts a page later every other
 * reply: a page at each end of the alias run is an interior page on one
 * reply and a partial end page, copied for real, on the next (Redis GET
 * shifts its run like this).  The runtime copies such populated end pages
 * for a while instead of parking each one and refilling it on the next
 * reply (path/copy.c, trim_populated_ends); every reply's bytes checked.
 */
static void mode_edgeflip(void)
{
	unsigned char *in = xmalloc(256 * KB);

	recycled_replies(in, 256 * KB, 24, PG);
	free(in);
}

static const struct {
	const char *name;
	void (*fn)(void);
} modes[] = {
	{ "relay", mode_relay }, { "touch", mode_touch }, { "store-orig", mode_store_orig },
	{ "memmove", mode_memmove }, { "free", mode_free }, { "fork", mode_fork },
	{ "threads", mode_threads }, { "kernel", mode_kernel }, { "touchall", mode_touchall },
	{ "small", mode_small }, { "declined", mode_declined },
	{ "redeclined", mode_redeclined }, { "sparse-fresh", mode_sparse_fresh },
	{ "sparse-pooled", mode_sparse_pooled }, { "rx-reuse", mode_rx_reuse },
	{ "rx-touch", mode_rx_touch }, { "rx-whole", mode_rx_whole },
	{ "vacant", mode_vacant }, { "edgeflip", mode_edgeflip },
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: zt MODE (relay touch store-orig memmove free fork "
			"threads kernel touchall small declined redeclined sparse-fresh "
			"sparse-pooled rx-reuse rx-touch rx-whole vacant edgeflip)\n");
		return 2;
	}
	mode = argv[1];
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(modes[i].name, mode)) {
			modes[i].fn();
			printf("zt: %s ok\n", mode);
			return 0;
		}
	fprintf(stderr, "zt: unknown mode %s\n", mode);
	return 2;
}
