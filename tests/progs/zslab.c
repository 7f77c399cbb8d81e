// SPDX-License-Identifier: MIT
/*
 * zslab — the fuzzer's threaded mode: memcached's pattern of calls, from
 * several worker threads sharing one slab allocator.
 *
 * Memory is never given back with free(): chunks of a few size classes,
 * carved out of large malloc'd slab pages at no particular alignment, go
 * onto LIFO free lists shared by every thread, so the chunk one thread
 * lets go of is the next one another thread receives into.  Each worker
 * has its own connection (a socket pair: a feeder thread writes its input
 * stream, a checker thread reads and checks every byte it sends) and runs
 * its own op program, drawn from hash(seed, worker, op):
 *
 *   set      read into a 16 KiB buffer, copy the part of the value found
 *            there into a new item, read() the rest straight into the item
 *            in several pieces (a non-blocking descriptor, poll on EAGAIN)
 *   append   a value received into a new item, a third item, then two
 *   prepend  copies (old + new, or new + old, at unaligned offsets); the
 *            two old items go back to the slab; half the time a get of
 *            the key follows at once
 *   get      sendmsg of a header, the item and "\r\n" (non-blocking, poll
 *            on EAGAIN); the checker compares it with a snapshot
 *   copy     memcpy/memmove between two items at random offsets
 *   touch    loads checked against the model, stores
 *   verify   the whole item checked in place
 *   delete   the item goes back to the slab
 *
 * Workers own their keys: every byte is checked against the worker's own
 * model (received bytes against the stream, replies and items in place
 * against what they must hold), whatever the interleaving.  The digest
 * (which keys hold how many bytes at the end) depends on the op program
 * alone: a run under zio must print a plain run's.  The model is kept
 * with plain loops; feeders and checkers use raw system calls (only the
 * workers' IO is the program's).
 *
 * Usage: zslab [-s SEED] [-n OPS] [-t WORKERS] [-m MAXLEN] [-v]
 *   OPS per worker (default 2000), WORKERS 1-8 (default 2), MAXLEN the
 *   largest value (default 300K, at most 512K), -v prints each op.
 * Prints "zslab: seed=S workers=W ops=N ok digest=D ops_per_s=R" and
 * exits 0, or "zslab: FAIL seed=S worker=W op=K (...): ..." and exits 1.
 */
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAXW     8
#define NKEYS    12
#define RBUF     16384
#define NCLASS   10
#define SLAB_PG  (2UL << 20)
#define QLEN     64

static uint64_t seed;
static long nops = 2000;
static int nworkers = 2;
static size_t maxlen = 300 * 1024;
static bool verbose;
static _Atomic bool failed;

/* ------------------------------------------------------------ helpers */

static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* Byte `pos` of worker w's input stream (depends on the page too). */
static inline unsigned char pat(unsigned w, uint64_t pos)
{
	uint32_t x = (uint32_t)pos * 2654435761u ^ (uint32_t)(pos >> 12) * 40503u ^
		     (w + 1) * 0x9E3779B9u;

	return (unsigned char)(x >> 24 ^ x >> 11);
}

static void mcopy(unsigned char *d, const unsigned char *s, size_t n)
{
	if (d < s) {
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	} else if (d > s) {
		for (size_t i = n; i-- > 0;)
			d[i] = s[i];
	}
}

static ssize_t raw_read(int fd, void *b, size_t n)
{
	return syscall(SYS_read, fd, b, n);
}

/* (MSG_NOSIGNAL: the worker's end closes when it is done) */
static ssize_t raw_send(int fd, const void *b, size_t n)
{
	return syscall(SYS_sendto, fd, b, n, MSG_NOSIGNAL, NULL, 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct worker;
static void wfail(struct worker *w, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

/* ------------------------------------------------------------ slab */

/* Chunk sizes grow by 1.5 from 20 KiB (not page multiples, as
 * memcached's factor-1.25 classes are not). */
static size_t class_size[NCLASS];
static void *class_free[NCLASS];
static char *slab_cur[NCLASS];
static size_t slab_left[NCLASS];
static pthread_mutex_t slab_lock = PTHREAD_MUTEX_INITIALIZER;

static void slab_init(void)
{
	size_t s = 20 * 1024 + 88;

	for (int i = 0; i < NCLASS; i++) {
		class_size[i] = s;
		s = s * 3 / 2 + 40;
	}
}

static int class_of(size_t n)
{
	for (int i = 0; i < NCLASS; i++)
		if (n <= class_size[i])
			return i;
	return -1;
}

/* A free chunk's first bytes link it to the next free one.  Chunks of
 * odd sizes sit at any alignment, so the link is read and written as
 * bytes (__builtin_memcpy: a plain move, not the interposed memcpy). */
static void *link_get(const void *p)
{
	void *next;

	__builtin_memcpy(&next, p, sizeof(next));
	return next;
}

static void link_set(void *p, void *next)
{
	__builtin_memcpy(p, &next, sizeof(next));
}

/* A chunk of at least n bytes: the last one freed of its class first. */
static void *slab_alloc(size_t n, int *cls)
{
	int c = class_of(n);
	void *p;

	if (c < 0)
		return NULL;
	pthread_mutex_lock(&slab_lock);
	p = class_free[c];
	if (p) {
		class_free[c] = link_get(p);
	} else {
		size_t pg = class_size[c] * 4 > SLAB_PG ? class_size[c] * 4 : SLAB_PG;

		if (slab_left[c] < class_size[c]) {
			/* a slab page, at malloc's alignment (never page aligned) */
			slab_cur[c] = malloc(pg + 48);
			slab_left[c] = slab_cur[c] ? pg : 0;
			if (slab_cur[c])
				slab_cur[c] += 48;
		}
		if (slab_left[c] >= class_size[c]) {
			p = slab_cur[c];
			slab_cur[c] += class_size[c];
			slab_left[c] -= class_size[c];
		}
	}
	pthread_mutex_unlock(&slab_lock);
	*cls = c;
	return p;
}

static void slab_free(void *p, int c)
{
	pthread_mutex_lock(&slab_lock);
	link_set(p, class_free[c]);
	class_free[c] = p;
	pthread_mutex_unlock(&slab_lock);
}

/* ------------------------------------------------------------ items */

struct item {
	unsigned char *chunk;  /* NULL: no such key */
	int cls;
	unsigned char *data;   /* chunk + a header of varying length */
	size_t len;
	unsigned char *model;  /* what data[0..len) must hold */
};

struct snap {
	unsigned char *bytes;  /* header, value, "\r\n" */
	size_t len;
};

struct worker {
	int id;
	pthread_t t, feeder, checker;
	int in[2], out[2];        /* [0] the worker's end */
	unsigned char *rbuf;
	size_t rpos, rlen;        /* unread bytes of rbuf */
	uint64_t stream;          /* bytes of the input stream consumed */
	struct item key[NKEYS];
	long op;
	char desc[160];
	/* the checker's queue of expected replies */
	struct snap q[QLEN];
	int qh, qt;
	bool done;
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	uint64_t digest;
	long sent;
};

static struct worker W[MAXW];

static void wfail(struct worker *w, const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	atomic_store(&failed, true);
	printf("zslab: FAIL seed=%llu worker=%d op=%ld (%s): %s\n", (unsigned long long)seed,
	       w->id, w->op, w->desc, msg);
	fflush(stdout);
	_exit(1);
}

/* Feeder: worker w's input stream, written as fast as it is read. */
static void *feeder_main(void *arg)
{
	struct worker *w = arg;
	unsigned char *b = malloc(65536);
	uint64_t pos = 0;

	for (;;) {
		size_t n = 65536;
		ssize_t r;

		for (size_t i = 0; i < n; i++)
			b[i] = pat((unsigned)w->id, pos + i);
		for (size_t o = 0; o < n; o += (size_t)r) {
			r = raw_send(w->in[1], b + o, n - o);
			if (r < 0 && errno == EINTR) {
				r = 0;
				continue;
			}
			if (r <= 0) {
				free(b);
				return NULL;   /* the worker closed its end */
			}
		}
		pos += n;
	}
}

/* Checker: every reply the worker sends, byte for byte, in order. */
static void *checker_main(void *arg)
{
	struct worker *w = arg;
	unsigned char *b = malloc(1 << 20);

	for (;;) {
		struct snap s;
		size_t got = 0;

		pthread_mutex_lock(&w->qlock);
		while (w->qh == w->qt && !w->done)
			pthread_cond_wait(&w->qcond, &w->qlock);
		if (w->qh == w->qt) {
			pthread_mutex_unlock(&w->qlock);
			break;
		}
		s = w->q[w->qh % QLEN];
		pthread_mutex_unlock(&w->qlock);
		while (got < s.len) {
			size_t want = s.len - got < (1 << 20) ? s.len - got : (1 << 20);
			ssize_t r = raw_read(w->out[1], b, want);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				wfail(w, "checker: read: %zd %s", r, strerror(errno));
			for (ssize_t i = 0; i < r; i++)
				if (b[i] != s.bytes[got + (size_t)i])
					wfail(w, "reply byte %zu of %zu is 0x%02x, expected 0x%02x "
					      "(value byte %zd)", got + (size_t)i, s.len, b[i],
					      s.bytes[got + (size_t)i], (ssize_t)(got + (size_t)i) - 16);
			got += (size_t)r;
		}
		
		free(s.bytes);
		pthread_mutex_lock(&w->qlock);
		w->qh++;
		pthread_cond_broadcast(&w->qcond);
		pthread_mutex_unlock(&w->qlock);
	}
	free(b);
	return NULL;
}

static void expect_reply(struct worker *w, unsigned char *bytes, size_t len)
{
	pthread_mutex_lock(&w->qlock);
	while (w->qt - w->qh == QLEN)
		pthread_cond_wait(&w->qcond, &w->qlock);
	w->q[w->qt % QLEN] = (struct snap){ bytes, len };
	w->qt++;
	pthread_cond_broadcast(&w->qcond);
	pthread_mutex_unlock(&w->qlock);
}

static void wait_fd(struct worker *w, int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };

	while (poll(&p, 1, 20000) != 1)
		if (errno != EINTR)
			wfail(w, "poll: no progress in 20 s");
}

/* Bytes of the input stream into dst, memcached's way: first what the
 * read buffer holds (copied), then read() straight into dst, in pieces of
 * at most `piece`. */
static void receive_value(struct worker *w, unsigned char *dst, unsigned char *model, size_t n,
			  size_t piece)
{
	size_t o = 0;

	if (w->rlen) {
		size_t k = w->rlen < n ? w->rlen : n;

		memmove(dst, w->rbuf + w->rpos, k);
		w->rpos += k;
		w->rlen -= k;
		o = k;
	}
	while (o < n) {
		size_t want = n - o < piece ? n - o : piece;
		ssize_t r = read(w->in[0], dst + o, want);

		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (errno == EAGAIN)
				wait_fd(w, w->in[0], POLLIN);
			continue;
		}
		if (r <= 0)
			wfail(w, "read: %zd %s", r, strerror(errno));
		o += (size_t)r;
	}
	for (size_t i = 0; i < n; i++)
		model[i] = pat((unsigned)w->id, w->stream + i);
	w->stream += n;
	for (size_t i = 0; i < n; i++)
		if (dst[i] != model[i])
			wfail(w, "received byte %zu of %zu is 0x%02x, expected 0x%02x", i, n, dst[i],
			      model[i]);
}

/* A "command line": refill the read buffer the way memcached does.  A
 * quarter of the commands end where the buffer's bytes do, so their value
 * is read straight into the item from its first byte.  (How much that
 * consumes depends on how the reads fell: the checks are against the
 * stream position, and the digest leaves the bytes out.) */
static void read_command(struct worker *w, uint64_t r)
{
	size_t skip = 16 + r % 24;   /* the command's own bytes */

	if (r % 4 == 0 && w->rlen)
		skip = w->rlen;
	while (skip) {
		if (!w->rlen) {
			ssize_t n = read(w->in[0], w->rbuf, RBUF);

			if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				if (errno == EAGAIN)
					wait_fd(w, w->in[0], POLLIN);
				continue;
			}
			if (n <= 0)
				wfail(w, "read: %zd %s", n, strerror(errno));
			w->rpos = 0;
			w->rlen = (size_t)n;
		}
		{
			size_t k = skip < w->rlen ? skip : w->rlen;

			w->rpos += k;
			w->rlen -= k;
			w->stream += k;
			skip -= k;
		}
	}
}

/* A new item with a header of 48-111 bytes (a key of varying length). */
static bool item_new(struct item *it, size_t len, uint64_t r)
{
	size_t hdr = 48 + r % 64;

	it->chunk = slab_alloc(hdr + len, &it->cls);
	if (!it->chunk)
		return false;
	it->data = it->chunk + hdr;
	it->len = len;
	it->model = malloc(len ? len : 1);
	return it->model != NULL;
}

static void item_drop(struct item *it)
{
	if (!it->chunk)
		return;
	slab_free(it->chunk, it->cls);
	free(it->model);
	it->chunk = NULL;
}

static void check_item(struct worker *w, const struct item *it, size_t off, size_t n,
		       const char *what)
{
	const volatile unsigned char *p = it->data + off;

	for (size_t i = 0; i < n; i++)
		if (p[i] != it->model[off + i])
			wfail(w, "%s: byte %zu of %zu is 0x%02x, expected 0x%02x", what, off + i,
			      it->len, p[i], it->model[off + i]);
}

/* Half the values in one band (so the chunks one worker frees fit what
 * the others receive next), the rest on both sides of the threshold. */
static size_t pick_len(uint64_t r)
{
	switch (r % 16) {
	case 0: return 1024 + (r >> 8) % (16 * 1024);
	case 1: case 2: return 16 * 1024 + (r >> 8) % (48 * 1024);
	case 3: return 64 * 1024 + ((r >> 8) % 3) - 1;
	case 4: case 5: case 6: case 7:
		return 64 * 1024 + (r >> 8) % (maxlen - 64 * 1024);
	default: return 40 * 1024 + (r >> 8) % (50 * 1024);
	}
}

/* ------------------------------------------------------------ ops */

static void op_set(struct worker *w, int k, const uint64_t *r)
{
	struct item it;
	size_t n = pick_len(r[1]);

	read_command(w, r[2]);
	snprintf(w->desc, sizeof(w->desc), "set key %d len %zu", k, n);
	if (!item_new(&it, n, r[3]))
		return;
	receive_value(w, it.data, it.model, n, 4096 + (size_t)(r[4] % (n + 1)));
	item_drop(&w->key[k]);
	w->key[k] = it;
}

/* A get in two halves: the checker's snapshot of the reply, then the
 * reply itself (so that an append can send at once after it gave its two
 * old items back). */
static bool get_expect(struct worker *w, int k)
{
	struct item *it = &w->key[k];
	size_t total = 16 + it->len + 2;
	unsigned char *snap;

	if (!it->chunk || !(snap = malloc(total)))
		return false;
	for (int i = 0; i < 16; i++)
		snap[i] = (unsigned char)(i < 8 ? 'V' : it->len >> (8 * (i - 8)));
	for (size_t i = 0; i < it->len; i++)
		snap[16 + i] = it->model[i];
	snap[total - 2] = '\r';
	snap[total - 1] = '\n';
	expect_reply(w, snap, total);
	return true;
}

static void get_send(struct worker *w, int k)
{
	struct item *it = &w->key[k];
	unsigned char hdr[16];
	struct iovec iov[3];
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 3 };
	size_t total = 16 + it->len + 2, sent = 0;

	for (int i = 0; i < 16; i++)
		hdr[i] = (unsigned char)(i < 8 ? 'V' : it->len >> (8 * (i - 8)));
	while (sent < total) {
		size_t skip = sent;
		int n = 0;
		ssize_t s;

		if (skip < 16) {
			iov[n++] = (struct iovec){ hdr + skip, 16 - skip };
			skip = 0;
		} else {
			skip -= 16;
		}
		if (skip < it->len) {
			iov[n++] = (struct iovec){ it->data + skip, it->len - skip };
			skip = 0;
		} else {
			skip -= it->len;
		}
		iov[n++] = (struct iovec){ (char *)"\r\n" + skip, 2 - skip };
		m.msg_iovlen = (size_t)n;
		s = sendmsg(w->out[0], &m, MSG_NOSIGNAL);
		if (s < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (errno == EAGAIN)
				wait_fd(w, w->out[0], POLLOUT);
			continue;
		}
		if (s <= 0)
			wfail(w, "sendmsg: %zd %s", s, strerror(errno));
		sent += (size_t)s;
	}
	w->sent++;
}

static void op_get(struct worker *w, int k)
{
	snprintf(w->desc, sizeof(w->desc), "get key %d len %zu", k, w->key[k].len);
	if (get_expect(w, k))
		get_send(w, k);
}

/* append (old + add) or prepend (add + old): two copies into a third item */
static void op_join(struct worker *w, int k, const uint64_t *r, bool append, bool get_after)
{
	struct item *old = &w->key[k], add, nu, prev;
	size_t n = pick_len(r[1]);

	if (!old->chunk || old->len + n > class_size[NCLASS - 1] - 128) {
		op_set(w, k, r);
		return;
	}
	read_command(w, r[2]);
	snprintf(w->desc, sizeof(w->desc), "%s key %d: %zu + %zu", append ? "append" : "prepend",
		 k, old->len, n);
	if (!item_new(&add, n, r[3]))
		return;
	receive_value(w, add.data, add.model, n, 4096 + (size_t)(r[4] % (n + 1)));
	if (!item_new(&nu, old->len + n, r[5])) {
		item_drop(&add);
		return;
	}
	prev = *old;
	if (append) {
		memcpy(nu.data, old->data, old->len);
		memcpy(nu.data + old->len, add.data, n);
		mcopy(nu.model, old->model, old->len);
		mcopy(nu.model + old->len, add.model, n);
	} else {
		memcpy(nu.data, add.data, n);
		memcpy(nu.data + n, old->data, old->len);
		mcopy(nu.model, add.model, n);
		mcopy(nu.model + n, old->model, old->len);
	}
	/* memcached: the two items go back to the slab, the new one is
	 * linked in their place; a client reads it back at once */
	*old = nu;
	if (get_after)
		get_after = get_expect(w, k);
	item_drop(&add);
	item_drop(&(struct item){ .chunk = prev.chunk, .cls = prev.cls, .model = prev.model });
	if (get_after)
		get_send(w, k);
}

static void op_copy(struct worker *w, int k, const uint64_t *r)
{
	struct item *d = &w->key[k], *s = &w->key[r[1] % NKEYS];
	size_t so, dof, n;

	if (!d->chunk || !s->chunk || d == s)
		return;
	so = r[2] % s->len;
	dof = r[3] % d->len;
	n = s->len - so < d->len - dof ? s->len - so : d->len - dof;
	if (r[4] & 1)
		n = n * (r[4] >> 8 & 255) / 255;
	snprintf(w->desc, sizeof(w->desc), "copy key %d+%zu <- key %d+%zu, %zu bytes", k, dof,
		 (int)(r[1] % NKEYS), so, n);
	if (r[4] & 2)
		memmove(d->data + dof, s->data + so, n);
	else
		memcpy(d->data + dof, s->data + so, n);
	mcopy(d->model + dof, s->model + so, n);
}

static void op_touch(struct worker *w, int k, const uint64_t *r)
{
	struct item *it = &w->key[k];
	size_t off;

	if (!it->chunk || !it->len)
		return;
	off = r[1] % it->len;
	snprintf(w->desc, sizeof(w->desc), "touch key %d at %zu", k, off);
	if (r[2] & 1) {
		it->data[off] ^= 0x5a;
		it->model[off] ^= 0x5a;
	} else {
		check_item(w, it, off, it->len - off < 300 ? it->len - off : 300, "touch");
	}
}

static void run_op(struct worker *w, long i)
{
	uint64_t r[8];
	int k;

	for (int j = 0; j < 8; j++)
		r[j] = mix(seed * 0x100000001b3ULL ^ (uint64_t)w->id << 40 ^ (uint64_t)i << 4 ^
			   (uint64_t)j);
	k = (int)((r[0] >> 32) % NKEYS);
	w->op = i;
	w->desc[0] = 0;
	switch (r[0] % 20) {
	case 0: case 1: case 2: case 3: case 4: op_set(w, k, r); break;
	case 5: case 6: case 7: case 8:
		/* memcached's clients read back what they appended, at once:
		 * the reply aliases the two items just given back to the slab,
		 * which other workers receive into next */
		op_join(w, k, r, r[0] % 20 != 8, r[6] & 1);
		break;
	case 9: case 10: case 11: case 12: case 13: op_get(w, k); break;
	case 14: case 15: op_copy(w, k, r); break;
	case 16: case 17: op_touch(w, k, r); break;
	case 18:
		if (w->key[k].chunk) {
			snprintf(w->desc, sizeof(w->desc), "verify key %d", k);
			check_item(w, &w->key[k], 0, w->key[k].len, "verify");
		}
		break;
	default:
		snprintf(w->desc, sizeof(w->desc), "delete key %d", k);
		item_drop(&w->key[k]);
		break;
	}
	if (verbose)
		printf("zslab: worker %d op %ld: %s\n", w->id, i, w->desc[0] ? w->desc : "-");
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t h = 1469598103934665603ULL;

	for (long i = 0; i < nops && !atomic_load(&failed); i++)
		run_op(w, i);
	/* every reply checked, then every item in place */
	pthread_mutex_lock(&w->qlock);
	while (w->qh != w->qt)
		pthread_cond_wait(&w->qcond, &w->qlock);
	pthread_mutex_unlock(&w->qlock);
	snprintf(w->desc, sizeof(w->desc), "final check");
	for (int k = 0; k < NKEYS; k++) {
		struct item *it = &w->key[k];

		if (!it->chunk)
			continue;
		check_item(w, it, 0, it->len, "final");
		h = (h ^ (uint64_t)k << 32 ^ it->len) * 1099511628211ULL;
	}
	w->digest = h;
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t digest = 0;
	double t0;
	int c;

	while ((c = getopt(argc, argv, "s:n:t:m:v")) != -1) {
		switch (c) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'n': nops = atol(optarg); break;
		case 't': nworkers = atoi(optarg); break;
		case 'm': maxlen = strtoull(optarg, NULL, 0); break;
		case 'v': verbose = true; break;
		default:
			fprintf(stderr, "usage: zslab [-s SEED] [-n OPS] [-t WORKERS] [-m MAXLEN] [-v]\n");
			return 2;
		}
	}
	if (nworkers < 1 || nworkers > MAXW || nops < 0 || maxlen < 128 * 1024 ||
	    maxlen > 512 * 1024) {
		fprintf(stderr, "zslab: WORKERS 1-%d, OPS >= 0, MAXLEN 128K-512K\n", MAXW);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	slab_init();
	for (int i = 0; i < nworkers; i++) {
		struct worker *w = &W[i];

		w->id = i;
		w->rbuf = malloc(RBUF);
		pthread_mutex_init(&w->qlock, NULL);
		pthread_cond_init(&w->qcond, NULL);
		if (!w->rbuf || socketpair(AF_UNIX, SOCK_STREAM, 0, w->in) ||
		    socketpair(AF_UNIX, SOCK_STREAM, 0, w->out)) {
			fprintf(stderr, "zslab: setup: %s\n", strerror(errno));
			return 2;
		}
		/* room for a whole reply: one sendmsg reads all of it */
		setsockopt(w->out[0], SOL_SOCKET, SO_SNDBUF, &(int){ 2 << 20 }, sizeof(int));
		/* memcached's connections are non-blocking */
		fcntl(w->in[0], F_SETFL, O_NONBLOCK);
		fcntl(w->out[0], F_SETFL, O_NONBLOCK);
		if (pthread_create(&w->feeder, NULL, feeder_main, w) ||
		    pthread_create(&w->checker, NULL, checker_main, w)) {
			fprintf(stderr, "zslab: pthread_create failed\n");
			return 2;
		}
	}
	t0 = now_s();
	for (int i = 0; i < nworkers; i++)
		if (pthread_create(&W[i].t, NULL, worker_main, &W[i])) {
			fprintf(stderr, "zslab: pthread_create failed\n");
			return 2;
		}
	for (int i = 0; i < nworkers; i++) {
		struct worker *w = &W[i];

		pthread_join(w->t, NULL);
		pthread_mutex_lock(&w->qlock);
		w->done = true;
		pthread_cond_broadcast(&w->qcond);
		pthread_mutex_unlock(&w->qlock);
		pthread_join(w->checker, NULL);
		close(w->in[0]);   /* the feeder's write fails: it ends */
		pthread_join(w->feeder, NULL);
		digest = mix(digest ^ w->digest);
	}
	printf("zslab: seed=%llu workers=%d ops=%ld ok digest=%016llx ops_per_s=%.0f\n",
	       (unsigned long long)seed, nworkers, nops * nworkers, (unsigned long long)digest,
	       (double)(nops * nworkers) / (now_s() - t0));
	return 0;
}
