// SPDX-License-Identifier: MIT
/*
 * zfuzz — the program under test of the differential fuzzer
 * (tests/fuzz/run.sh).  From a seed it generates a program of random
 * operations over a set of buffers (heap, mmap, stack, windows of one big
 * allocation; random sizes and alignments) and runs it, checking every
 * result against its own shadow model of every byte:
 *
 *   input   recv/read/readv/recvmsg from a socket and a pipe fed by
 *           threads, pread from a file; short inputs and EAGAIN
 *   copy    memcpy/memmove/mempcpy of lengths on both sides of the
 *           threshold, page-congruent or not, overlapping, alias->alias,
 *           into originals
 *   touch   single-byte and range loads and stores, memset
 *   output  send/write/writev/sendmsg to sinks that check every byte,
 *           pwrite/write to a file read back
 *   release free/realloc, munmap/madvise/mremap/mprotect, window moves
 *   fork    the child verifies every buffer, copies, and exits
 *
 * Op i is generated from hash(seed, i) alone and interpreted against the
 * current state, so any subset of the ops is a valid program: the driver
 * minimises a failure by dropping ops (-K keeps a list).  The outcome does
 * not depend on addresses (alignment is controlled), so the final digest
 * of a run under zio must equal that of a plain run.
 *
 * Usage: zfuzz [-s SEED] [-n OPS] [-K LIST] [-X KINDS] [-v]
 *   LIST  op indices to run, e.g. 0-99,120,4000-4010 (default 0..OPS-1)
 *   KINDS op kinds to leave out, any of remap,madvise,free,writev,fork
 *         (they become no-ops, so the other ops keep their meaning)
 *   -v    print each op before running it (the reproducer's trace)
 * Prints "zfuzz: seed=S ops=N ok digest=D ops_per_s=R" and exits 0, or
 * "zfuzz: FAIL seed=S op=I (...): ..." and exits 1.
 *
 * The model is updated with plain loops (never memcpy): it must not go
 * through the runtime it checks.  The feeder and sink threads use raw
 * system calls for the same reason; only the main thread's IO is the
 * program's.
 */
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG        4096UL
#define MAXLEN    (3UL << 20)       /* largest buffer */
#define NSLOT     12
#define WIN       (3UL << 20)       /* big-allocation window size */
#define SWIN      (1536UL << 10)    /* stack window size */
#define FILE_LEN  (8UL << 20)
#define SINK_CAP  (8UL << 20)

enum { K_HEAP, K_MMAP, K_STACK, K_BIG };
static const char *const kname[] = { "heap", "mmap", "stack", "big" };
enum { ST_SOCK = 1, ST_PIPE = 2, ST_FILE = 3 };

struct slot {
	int kind;
	unsigned char *base;   /* first byte of the buffer */
	size_t len;
	unsigned char *alloc;  /* heap/mmap: what malloc/mmap returned */
	size_t alloc_len;
	unsigned ao;           /* wanted base address mod page */
	unsigned char *model;  /* the bytes base[0..len) must hold */
	unsigned char *area_model;
	unsigned char *area;   /* stack/big: the window start */
};

static struct slot S[NSLOT];
static uint64_t seed;
static long cur_op = -1;
static char cur_desc[256];
static bool verbose;
static int sock_in[2], pipe_in[2], sock_out[2], pipe_out[2], file_fd, sink_fd;
static uint64_t sock_pos, pipe_pos;
static unsigned char *sink_buf, *check_buf;
static uint64_t nstat[16];
static _Atomic long progress;
/* -X: op kinds left out (each a known open bug, see tests/fuzz/pending/) */
static bool no_remap, no_madvise, no_free, no_writev, no_fork;
static int hang_secs = 20;

/* ------------------------------------------------------------ helpers */

static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* Byte `pos` of input stream `st`: depends on the page number too, so a
 * page served from the wrong place is caught. */
static inline unsigned char pat(unsigned st, uint64_t pos)
{
	uint32_t x = (uint32_t)pos * 2654435761u ^ (uint32_t)(pos >> 12) * 40503u ^
		     st * 0x9E3779B9u;

	return (unsigned char)(x >> 24 ^ x >> 11);
}

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("zfuzz: FAIL seed=%llu op=%ld (%s): ", (unsigned long long)seed, cur_op, cur_desc);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (getenv("ZFUZZ_MAPS")) {
		/* the address space at the failure, for diagnosis */
		FILE *f = fopen("/proc/self/maps", "r");
		char l[512];

		while (f && fgets(l, sizeof(l), f))
			printf("  maps: %s", l);
		if (getenv("ZFUZZ_MAPS")[0] == 's') {
			f = fopen("/proc/self/smaps", "r");
			while (f && fgets(l, sizeof(l), f))
				printf("  smaps: %s", l);
		}
	}
	fflush(stdout);
	_exit(1);
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

static void mset(unsigned char *d, unsigned char v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = v;
}

static void verify(const struct slot *s, int si, size_t off, size_t n, const char *what)
{
	const volatile unsigned char *p = s->base + off;

	for (size_t i = 0; i < n; i++)
		if (p[i] != s->model[off + i])
			fail("%s: slot %d (%s) byte %zu of %zu is 0x%02x, expected 0x%02x", what, si,
			     kname[s->kind], off + i, s->len, p[i], s->model[off + i]);
}

static void *xmap(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);

	if (p == MAP_FAILED)
		fail("mmap %zu: %s", n, strerror(errno));
	return p;
}

/* Lengths on both sides of the threshold, page multiples and near them. */
static size_t pick_len(uint64_t r, size_t max)
{
	size_t n;

	switch (r % 12) {
	case 0: n = (r >> 8) % 300; break;
	case 1: case 2: n = 1 + (r >> 8) % (64 * 1024 - 1); break;
	case 3: n = ((r >> 8) % 64 + 1) * PG + ((r >> 20) % 3) - 1; break;
	case 4: n = 65536 + ((r >> 8) % 33) - 16; break;
	default: n = 64 * 1024 + (r >> 8) % (MAXLEN - 64 * 1024); break;
	}
	return n > max ? max : n;
}

static size_t pick_size(uint64_t r)
{
	switch (r % 5) {
	case 0: return 1 + (r >> 8) % (16 * 1024);
	case 1: case 2: return 16 * 1024 + (r >> 8) % (512 * 1024);
	default: return 512 * 1024 + (r >> 8) % (MAXLEN - 512 * 1024 - PG);
	}
}

static unsigned pick_ao(uint64_t r)
{
	switch (r % 4) {
	case 0: return 0;
	case 1: return 16;
	case 2: return (unsigned)((r >> 8) % PG) & ~7u;
	default: return (unsigned)((r >> 8) % PG);
	}
}

static uintptr_t align_to(uintptr_t p, unsigned ao)
{
	return p + ((ao - (p & (PG - 1))) & (PG - 1));
}

/* ------------------------------------------------------------ pumps */

/* A thread that writes (feeder) or reads (sink) exactly the bytes it is
 * asked to, with raw system calls. */
struct pump {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;
	bool sink;
	unsigned st;
	uint64_t pos, want;       /* request */
	bool busy;
	long err;
};
static struct pump feed_sock, feed_pipe, sink_sock, sink_pipe;

static void *pump_main(void *arg)
{
	struct pump *p = arg;
	unsigned char buf[16384];

	for (;;) {
		uint64_t done = 0;

		pthread_mutex_lock(&p->mu);
		while (!p->busy)
			pthread_cond_wait(&p->cv, &p->mu);
		pthread_mutex_unlock(&p->mu);
		while (done < p->want) {
			long r;

			if (p->sink) {
				r = syscall(SYS_read, p->fd, sink_buf + done, p->want - done);
			} else {
				size_t n = p->want - done < sizeof(buf) ? p->want - done : sizeof(buf);

				for (size_t i = 0; i < n; i++)
					buf[i] = pat(p->st, p->pos + done + i);
				r = syscall(SYS_write, p->fd, buf, n);
			}
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				p->err = r < 0 ? errno : -1;
				break;
			}
			done += (uint64_t)r;
		}
		pthread_mutex_lock(&p->mu);
		p->busy = false;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

static void pump_start(struct pump *p, int fd, bool sink, unsigned st)
{
	pthread_t t;

	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->fd = fd;
	p->sink = sink;
	p->st = st;
	if (pthread_create(&t, NULL, pump_main, p))
		fail("pthread_create");
	pthread_detach(t);
}

static void pump_go(struct pump *p, uint64_t pos, uint64_t n)
{
	pthread_mutex_lock(&p->mu);
	p->pos = pos;
	p->want = n;
	p->err = 0;
	p->busy = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void pump_wait(struct pump *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->busy)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	if (p->err)
		fail("pump on fd %d: %s", p->fd, strerror((int)p->err));
}

/* ------------------------------------------------------------ slots */

static void slot_fill(struct slot *s, size_t from, unsigned char v)
{
	if (from < s->len) {
		memset(s->base + from, v, s->len - from);
		mset(s->model + from, v, s->len - from);
	}
}

static void slot_new(struct slot *s, uint64_t r)
{
	size_t n = pick_size(r);

	s->ao = pick_ao(r >> 24);
	s->len = n;
	switch (s->kind) {
	case K_HEAP:
		s->alloc_len = n + PG;
		s->alloc = malloc(s->alloc_len);
		if (!s->alloc)
			fail("malloc %zu", s->alloc_len);
		s->base = (unsigned char *)align_to((uintptr_t)s->alloc, s->ao);
		slot_fill(s, 0, (unsigned char)(r >> 40));
		break;
	case K_MMAP:
		s->alloc_len = (s->ao + n + PG - 1) & ~(PG - 1);
		s->alloc = mmap(NULL, s->alloc_len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (s->alloc == MAP_FAILED)
			fail("mmap: %s", strerror(errno));
		s->base = s->alloc + s->ao;
		mset(s->model, 0, n);
		break;
	default: {
		/* a window inside the stack area or the big allocation: its
		 * bytes are whatever the area held */
		size_t win = s->kind == K_STACK ? SWIN : WIN, off;

		if (n > win - 2 * PG)
			n = s->len = win - 2 * PG;
		off = (size_t)((r >> 44) % (win - n)) & ~(PG - 1);
		off += s->ao;
		if (off + n > win)
			off -= PG;
		s->base = s->area + off;
		s->model = s->area_model + off;
		break;
	}
	}
}

static void slot_release(struct slot *s)
{
	if (s->kind == K_HEAP)
		free(s->alloc);
	else if (s->kind == K_MMAP)
		munmap(s->alloc, s->alloc_len);
}

/* ------------------------------------------------------------ ops */

#define DESC(...) snprintf(cur_desc, sizeof(cur_desc), __VA_ARGS__)

static int pick_slot(uint64_t r)
{
	return (int)(r % NSLOT);
}

static void receive_loop(int kind, int fd, struct slot *s, size_t off, size_t n, size_t got_max)
{
	size_t got = 0;

	while (got < got_max) {
		ssize_t r;
		struct iovec iov[3];
		struct msghdr m = { .msg_iov = iov };
		size_t left = n - got, a;

		switch (kind) {
		case 0: r = recv(fd, s->base + off + got, left, 0); break;
		case 1: r = read(fd, s->base + off + got, left); break;
		case 2:
			a = left / 3;
			iov[0] = (struct iovec){ s->base + off + got, a };
			iov[1] = (struct iovec){ s->base + off + got + a, left - a };
			r = readv(fd, iov, 2);
			break;
		default:
			a = left / 2;
			iov[0] = (struct iovec){ s->base + off + got, a };
			iov[1] = (struct iovec){ s->base + off + got + a, left - a };
			m.msg_iovlen = 2;
			r = recvmsg(fd, &m, 0);
			break;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			fail("input call %d returned %zd: %s", kind, r, strerror(errno));
		got += (size_t)r;
	}
	if (got != got_max)
		fail("input got %zu bytes, %zu were sent", got, got_max);
}

static void op_input(const uint64_t *r)
{
	int si = pick_slot(r[1]);
	struct slot *s = &S[si];
	size_t off = s->len ? (size_t)(r[2] % s->len) : 0;
	size_t n = pick_len(r[3], s->len - off);
	unsigned how = (unsigned)(r[4] % 10);

	if (!n)
		n = s->len - off;
	if (!n)
		return;
	if (how <= 3 || how == 8) {
		/* socket: the feeder writes exactly what this op consumes (or
		 * fewer bytes for a short input) */
		size_t k = how == 8 ? 1 + (size_t)(r[5] % n) : n;
		int kind = how == 8 ? 0 : (int)how;

		DESC("input sock kind=%d slot=%d off=%zu len=%zu sent=%zu", kind, si, off, n, k);
		if (verbose)
			printf("  op %ld: %s\n", cur_op, cur_desc);
		pump_go(&feed_sock, sock_pos, k);
		receive_loop(kind, sock_in[1], s, off, n, k);
		pump_wait(&feed_sock);
		for (size_t i = 0; i < k; i++)
			s->model[off + i] = pat(ST_SOCK, sock_pos + i);
		sock_pos += k;
		nstat[0]++;
	} else if (how <= 5) {
		DESC("input pipe read slot=%d off=%zu len=%zu", si, off, n);
		if (verbose)
			printf("  op %ld: %s\n", cur_op, cur_desc);
		pump_go(&feed_pipe, pipe_pos, n);
		receive_loop(how == 4 ? 1 : 2, pipe_in[0], s, off, n, n);
		pump_wait(&feed_pipe);
		for (size_t i = 0; i < n; i++)
			s->model[off + i] = pat(ST_PIPE, pipe_pos + i);
		pipe_pos += n;
		nstat[1]++;
	} else if (how <= 7) {
		off_t fo = (off_t)(r[5] % FILE_LEN);
		size_t got = 0, want = n < FILE_LEN - (size_t)fo ? n : FILE_LEN - (size_t)fo;

		DESC("input file %s slot=%d off=%zu len=%zu at=%lld", how == 6 ? "pread" : "preadv",
		     si, off, n, (long long)fo);
		if (verbose)
			printf("  op %ld: %s\n", cur_op, cur_desc);
		while (got < want) {
			ssize_t x;

			if (how == 6) {
				x = pread(file_fd, s->base + off + got, n - got, fo + (off_t)got);
			} else {
				struct iovec iov[2] = { { s->base + off + got, (n - got) / 2 },
							{ s->base + off + got + (n - got) / 2,
							  n - got - (n - got) / 2 } };

				x = preadv(file_fd, iov, 2, fo + (off_t)got);
			}
			if (x <= 0)
				fail("pread: %zd %s", x, strerror(errno));
			got += (size_t)x;
		}
		for (size_t i = 0; i < want; i++)
			s->model[off + i] = pat(ST_FILE, (uint64_t)fo + i);
		nstat[2]++;
	} else {
		/* nothing queued: EAGAIN, and the buffer must not change */
		ssize_t x;

		DESC("input EAGAIN slot=%d off=%zu len=%zu", si, off, n);
		if (verbose)
			printf("  op %ld: %s\n", cur_op, cur_desc);
		errno = 0;
		x = recv(sock_in[1], s->base + off, n, MSG_DONTWAIT);
		if (x != -1 || (errno != EAGAIN && errno != EWOULDBLOCK))
			fail("recv on an empty socket: %zd errno %d", x, errno);
		nstat[3]++;
	}
	/* a few bytes of what came in, and of its edges */
	if (s->len) {
		size_t a = off ? off - 1 : 0, b = off + n < s->len ? off + n + 1 : s->len;

		verify(s, si, a, off + 1 < b ? off + 1 - a : b - a, "input head");
		verify(s, si, b - 1, 1, "input tail");
		verify(s, si, off + (size_t)(r[6] % n), 1, "input inside");
	}
}

static void op_copy(const uint64_t *r)
{
	int si = pick_slot(r[1]), di = pick_slot(r[2]);
	struct slot *s = &S[si], *d = &S[di];
	size_t max = s->len < d->len ? s->len : d->len;
	size_t n = pick_len(r[3], max), so, dof;
	unsigned how = (unsigned)(r[5] % 10), fn = (unsigned)(r[6] % 3);
	const char *fname;
	void *ret, *want;
	bool overlap;

	if (!max)
		return;
	so = (size_t)(r[4] % (s->len - n + 1));
	if (how < 4 && d->len >= n) {
		/* page-congruent with the source */
		uintptr_t sa = (uintptr_t)(s->base + so);
		size_t first = (size_t)((sa - (uintptr_t)d->base) & (PG - 1));

		if (first + n <= d->len)
			dof = first + PG * (size_t)((r[7] >> 3) % ((d->len - n - first) / PG + 1));
		else
			dof = (size_t)(r[7] % (d->len - n + 1));
	} else if (how < 6 && si == di) {
		/* overlapping, a short shift either way */
		long sh = (long)(r[7] % 20000) - 10000;
		long x = (long)so + sh;

		dof = x < 0 ? 0 : (size_t)x > d->len - n ? d->len - n : (size_t)x;
	} else {
		dof = (size_t)(r[7] % (d->len - n + 1));
	}
	overlap = si == di && dof < so + n && so < dof + n;
	if (overlap)
		fn = 1;
	fname = fn == 0 ? "memcpy" : fn == 1 ? "memmove" : "mempcpy";
	DESC("%s slot=%d+%zu -> slot=%d+%zu len=%zu", fname, si, so, di, dof, n);
	if (verbose)
		printf("  op %ld: %s\n", cur_op, cur_desc);
	want = fn == 2 ? (void *)(d->base + dof + n) : (void *)(d->base + dof);
	if (fn == 0)
		ret = memcpy(d->base + dof, s->base + so, n);
	else if (fn == 1)
		ret = memmove(d->base + dof, s->base + so, n);
	else
		ret = mempcpy(d->base + dof, s->base + so, n);
	if (ret != want)
		fail("%s returned %p, expected %p", fname, ret, want);
	mcopy(d->model + dof, s->model + so, n);
	nstat[4]++;
	if (n) {
		verify(d, di, dof + (size_t)(r[8] % n), 1, "copy sample");
		if (dof)
			verify(d, di, dof - 1, 1, "byte before copy");
		if (dof + n < d->len)
			verify(d, di, dof + n, 1, "byte after copy");
	}
}

static void op_touch(const uint64_t *r)
{
	int si = pick_slot(r[1]);
	struct slot *s = &S[si];
	size_t off, n;
	unsigned how = (unsigned)(r[2] % 10);

	if (!s->len)
		return;
	off = (size_t)(r[3] % s->len);
	n = pick_len(r[4], s->len - off);
	if (how < 4) {
		DESC("load slot=%d off=%zu x8", si, off);
		for (int k = 0; k < 8; k++)
			verify(s, si, (size_t)(mix(r[5] + (uint64_t)k) % s->len), 1, "load");
		verify(s, si, off, 1, "load");
	} else if (how < 6) {
		DESC("store slot=%d off=%zu", si, off);
		s->base[off] = (unsigned char)r[5];
		s->model[off] = (unsigned char)r[5];
		verify(s, si, off ? off - 1 : off, off ? 2 : 1, "store");
	} else if (how < 8) {
		DESC("check slot=%d off=%zu len=%zu", si, off, n);
		verify(s, si, off, n, "range load");
	} else if (how == 8) {
		DESC("memset slot=%d off=%zu len=%zu", si, off, n);
		memset(s->base + off, (int)(r[5] & 0xff), n);
		mset(s->model + off, (unsigned char)r[5], n);
	} else {
		/* a loop of stores, one per page: the program's own writes
		 * into aliases and originals */
		DESC("page stores slot=%d off=%zu len=%zu", si, off, n);
		for (size_t i = off; i < off + n; i += PG) {
			s->base[i] = (unsigned char)(r[5] + i);
			s->model[i] = (unsigned char)(r[5] + i);
		}
	}
	if (verbose)
		printf("  op %ld: %s\n", cur_op, cur_desc);
	nstat[5]++;
}

static void expect_sink(const struct iovec *piece, int np, const unsigned char *got,
			const char *what)
{
	size_t at = 0;

	for (int k = 0; k < np; k++) {
		const unsigned char *m = piece[k].iov_base;

		for (size_t i = 0; i < piece[k].iov_len; i++, at++)
			if (got[at] != m[i])
				fail("%s: output byte %zu is 0x%02x, expected 0x%02x", what, at,
				     got[at], m[i]);
	}
}

static void op_output(const uint64_t *r)
{
	int si = pick_slot(r[1]), sj = pick_slot(r[6]);
	struct slot *s = &S[si], *t = &S[sj];
	size_t off, n, off2 = 0, n2 = 0, total;
	unsigned how = (unsigned)(r[2] % 7);
	struct iovec io[2], mo[2];
	int niov = 1;

	if (!s->len)
		return;
	off = (size_t)(r[3] % s->len);
	n = pick_len(r[4], s->len - off);
	if (!n)
		n = 1;
	io[0] = (struct iovec){ s->base + off, n };
	mo[0] = (struct iovec){ s->model + off, n };
	if (no_writev && (how == 2 || how == 3))
		how = 0;
	if ((how == 2 || how == 3) && t->len && sj != si) {
		off2 = (size_t)(r[7] % t->len);
		n2 = pick_len(r[8], t->len - off2);
		io[1] = (struct iovec){ t->base + off2, n2 };
		mo[1] = (struct iovec){ t->model + off2, n2 };
		niov = 2;
	}
	total = n + n2;
	DESC("output %s slot=%d+%zu len=%zu%s", how == 0 ? "send" : how == 1 ? "write-pipe" :
	     how == 2 ? "writev" : how == 3 ? "sendmsg" : how == 4 ? "pwrite" : how == 5 ?
	     "write-file" : "send-dontwait", si, off, n, niov == 2 ? " +iov2" : "");
	if (verbose)
		printf("  op %ld: %s (+slot %d+%zu len %zu)\n", cur_op, cur_desc, sj, off2, n2);
	if (how == 4 || how == 5) {
		off_t fo = (off_t)(r[5] % (SINK_CAP - n));
		ssize_t w;

		if (how == 4) {
			w = pwrite(sink_fd, io[0].iov_base, n, fo);
		} else {
			lseek(sink_fd, fo, SEEK_SET);
			w = write(sink_fd, io[0].iov_base, n);
		}
		if (w != (ssize_t)n)
			fail("file output wrote %zd of %zu: %s", w, n, strerror(errno));
		if (syscall(SYS_pread64, sink_fd, check_buf, n, fo) != (long)n)
			fail("read back: %s", strerror(errno));
		expect_sink(mo, 1, check_buf, "file");
	} else {
		struct pump *p = how == 1 ? &sink_pipe : &sink_sock;
		int fd = how == 1 ? pipe_out[1] : sock_out[0];
		size_t sent = 0;

		pump_go(p, 0, total);
		while (sent < total) {
			struct iovec v[2];
			int nv = 0;
			size_t skip = sent;
			ssize_t w;

			for (int k = 0; k < niov; k++) {
				if (skip >= io[k].iov_len) {
					skip -= io[k].iov_len;
					continue;
				}
				v[nv++] = (struct iovec){ (char *)io[k].iov_base + skip,
							  io[k].iov_len - skip };
				skip = 0;
			}
			switch (how) {
			case 0: w = send(fd, v[0].iov_base, v[0].iov_len, 0); break;
			case 1: w = write(fd, v[0].iov_base, v[0].iov_len); break;
			case 2: w = writev(fd, v, nv); break;
			case 3: {
				struct msghdr m = { .msg_iov = v, .msg_iovlen = (size_t)nv };

				w = sendmsg(fd, &m, 0);
				break;
			}
			default:
				w = send(fd, v[0].iov_base, v[0].iov_len, MSG_DONTWAIT);
				if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
					/* a full socket: errno exactly as without zio */
					struct timespec ts = { 0, 200000 };

					nanosleep(&ts, NULL);
					continue;
				}
				break;
			}
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				fail("output returned %zd: %s", w, strerror(errno));
			sent += (size_t)w;
		}
		pump_wait(p);
		expect_sink(mo, niov, sink_buf, "sink");
	}
	nstat[6]++;
}

static void op_release(const uint64_t *r)
{
	int si = pick_slot(r[1]);
	struct slot *s = &S[si];
	unsigned how = (unsigned)(r[2] % 4);

	if (s->kind == K_HEAP && how == 1) {
		/* realloc: the prefix survives; the base is realigned with a
		 * memmove, so the outcome does not depend on where it went */
		size_t n = pick_size(r[3]), keep = n < s->len ? n : s->len, boff;
		unsigned char *q;
		uintptr_t nb;

		DESC("realloc slot=%d %zu -> %zu", si, s->len, n);
		if (verbose)
			printf("  op %ld: %s\n", cur_op, cur_desc);
		boff = (size_t)(s->base - s->alloc);
		q = realloc(s->alloc, n + PG);
		if (!q)
			fail("realloc %zu", n + PG);
		nb = align_to((uintptr_t)q, s->ao);
		if (nb != (uintptr_t)q + boff)
			memmove((void *)nb, q + boff, keep);
		s->alloc = q;
		s->alloc_len = n + PG;
		s->base = (unsigned char *)nb;
		s->len = n;
		slot_fill(s, keep, (unsigned char)(r[4] >> 7));
	} else if (s->kind == K_MMAP && how == 1 && !no_remap) {
		size_t n = pick_size(r[3]), keep = n < s->len ? n : s->len;
		size_t nl = (s->ao + n + PG - 1) & ~(PG - 1);
		unsigned char *q;

		DESC("mremap slot=%d %zu -> %zu", si, s->len, n);
		if (verbose)
			printf("  op %ld: %s\n", cur_op, cur_desc);
		q = mremap(s->alloc, s->alloc_len, nl, MREMAP_MAYMOVE);
		if (q == MAP_FAILED)
			fail("mremap %p+%zu: %s", (void *)s->alloc, s->alloc_len, strerror(errno));
		s->alloc = q;
		s->alloc_len = nl;
		s->base = q + s->ao;
		s->len = n;
		verify(s, si, 0, keep < 64 ? keep : 64, "after mremap");
		slot_fill(s, keep, (unsigned char)(r[4] >> 7));
	} else if (s->kind == K_MMAP && how == 2 && !no_madvise) {
		/* DONTNEED of whole pages inside the buffer: they read zero */
		size_t a = (size_t)(r[3] % (s->alloc_len / PG)) * PG;
		size_t b = a + PG * (1 + (size_t)(r[4] % 64));

		if (b > s->alloc_len)
			b = s->alloc_len;
		DESC("madvise slot=%d pages %zu..%zu", si, a / PG, b / PG);
		if (verbose)
			printf("  op %ld: %s\n", cur_op, cur_desc);
		if (madvise(s->alloc + a, b - a, MADV_DONTNEED))
			fail("madvise: %s", strerror(errno));
		for (size_t i = a; i < b; i++)
			if (i >= s->ao && i - s->ao < s->len)
				s->model[i - s->ao] = 0;
		if (s->len)
			verify(s, si, (size_t)(r[5] % s->len), 1, "after madvise");
	} else if (s->kind == K_MMAP && how == 3) {
		/* read-only for a while: loads and a copy out of it */
		int di = pick_slot(r[5]);
		struct slot *d = &S[di];
		size_t n = s->len < d->len ? s->len : d->len;

		if (di == si)
			return;
		n = pick_len(r[6], n);
		DESC("mprotect slot=%d RO, copy %zu to slot=%d", si, n, di);
		if (verbose)
			printf("  op %ld: %s\n", cur_op, cur_desc);
		if (mprotect(s->alloc, s->alloc_len, PROT_READ))
			fail("mprotect: %s", strerror(errno));
		if (s->len)
			verify(s, si, (size_t)(r[7] % s->len), 1, "read-only load");
		memcpy(d->base, s->base, n);
		mcopy(d->model, s->model, n);
		if (n)
			verify(d, di, n - 1, 1, "copy from read-only");
		if (mprotect(s->alloc, s->alloc_len, PROT_READ | PROT_WRITE))
			fail("mprotect back: %s", strerror(errno));
	} else if (!no_free || s->kind == K_STACK || s->kind == K_BIG) {
		DESC("free+new slot=%d (%s, was %zu)", si, kname[s->kind], s->len);
		if (verbose)
			printf("  op %ld: %s\n", cur_op, cur_desc);
		slot_release(s);
		slot_new(s, r[3]);
	}
	nstat[7]++;
}

static void op_fork(const uint64_t *r)
{
	pid_t pid;
	int st;

	DESC("fork");
	if (verbose)
		printf("  op %ld: %s\n", cur_op, cur_desc);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		int si = pick_slot(r[1]), di = pick_slot(r[2]);
		size_t n;

		for (int i = 0; i < NSLOT; i++)
			verify(&S[i], i, 0, S[i].len, "child");
		/* the child runs a runtime of its own: input, copy, check */
		n = S[si].len < S[di].len ? S[si].len : S[di].len;
		if (n && si != di) {
			if (pread(file_fd, S[si].base, n, 0) != (ssize_t)n)
				fail("child pread");
			for (size_t i = 0; i < n; i++)
				S[si].model[i] = pat(ST_FILE, i);
			memcpy(S[di].base, S[si].base, n);
			mcopy(S[di].model, S[si].model, n);
			verify(&S[di], di, 0, n, "child copy");
		}
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("child failed (status %#x)", st);
	nstat[8]++;
}

static void run_op(long i)
{
	uint64_t r[10];
	unsigned w;

	for (int k = 0; k < 10; k++)
		r[k] = mix(seed * 0x100000001B3ULL ^ ((uint64_t)i << 4 | (uint64_t)k));
	cur_op = i;
	w = (unsigned)(r[0] % 1000);
	if (w < 240)
		op_input(r);
	else if (w < 560)
		op_copy(r);
	else if (w < 790)
		op_touch(r);
	else if (w < 910)
		op_output(r);
	else if (w < 997)
		op_release(r);
	else if (!no_fork)
		op_fork(r);
}

/* ------------------------------------------------------------ main */

/* A hang is a failure too, and must name its op: a thread (not a signal
 * handler, which the runtime may defer) watches the op counter. */
static void *watchdog(void *arg)
{
	long last = -2;
	int still = 0;

	(void)arg;
	for (;;) {
		long now = atomic_load(&progress);

		sleep(1);
		if (now != last) {
			last = now;
			still = 0;
		} else if (++still >= hang_secs) {
			printf("zfuzz: FAIL seed=%llu op=%ld (%s): hang: no progress for %d s\n",
			       (unsigned long long)seed, cur_op, cur_desc, hang_secs);
			fflush(stdout);
			_exit(1);
		}
	}
	return NULL;
}

static int parse_keep(const char *list, long n, unsigned char *keep)
{
	const char *p = list;

	for (long i = 0; i < n; i++)
		keep[i] = 0;
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b = a;

		if (end == p)
			return -1;
		p = end;
		if (*p == '-') {
			b = strtol(p + 1, &end, 10);
			p = end;
		}
		for (long i = a; i <= b && i < n; i++)
			if (i >= 0)
				keep[i] = 1;
		if (*p == ',')
			p++;
		else if (*p)
			return -1;
	}
	return 0;
}

static void setup_io(void)
{
	char path[] = "/tmp/zfuzz.XXXXXX";
	int big = 4 << 20;
	unsigned char *b = check_buf;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sock_in) || pipe(pipe_in) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sock_out) || pipe(pipe_out))
		fail("socketpair/pipe: %s", strerror(errno));
	setsockopt(sock_in[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sock_in[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	fcntl(pipe_in[0], F_SETPIPE_SZ, 1 << 20);
	file_fd = mkstemp(path);
	if (file_fd < 0)
		fail("mkstemp: %s", strerror(errno));
	unlink(path);
	for (size_t o = 0; o < FILE_LEN; o += SINK_CAP) {
		for (size_t i = 0; i < SINK_CAP; i++)
			b[i] = pat(ST_FILE, o + i);
		if (syscall(SYS_pwrite64, file_fd, b, SINK_CAP, o) != (long)SINK_CAP)
			fail("file set-up: %s", strerror(errno));
	}
	strcpy(path, "/tmp/zfuzz.XXXXXX");
	sink_fd = mkstemp(path);
	if (sink_fd < 0)
		fail("mkstemp: %s", strerror(errno));
	unlink(path);
	pump_start(&feed_sock, sock_in[0], false, ST_SOCK);
	pump_start(&feed_pipe, pipe_in[1], false, ST_PIPE);
	pump_start(&sink_sock, sock_out[1], true, 0);
	pump_start(&sink_pipe, pipe_out[0], true, 0);
}

static uint64_t digest(void)
{
	uint64_t h = 1469598103934665603ULL;

	for (int i = 0; i < NSLOT; i++) {
		verify(&S[i], i, 0, S[i].len, "final");
		h = (h ^ S[i].len) * 1099511628211ULL;
		for (size_t k = 0; k < S[i].len; k++)
			h = (h ^ S[i].model[k]) * 1099511628211ULL;
	}
	return h;
}

static int run(long nops, const char *keeplist)
{
	/* The stack area lives in this frame for the whole run. */
	unsigned char stack_area[2 * SWIN + PG];
	unsigned char *stack = (unsigned char *)align_to((uintptr_t)stack_area, 0);
	unsigned char *big_raw = malloc(3 * WIN + PG);
	unsigned char *bigm = xmap(3 * WIN), *stackm = xmap(2 * SWIN), *big, *keep = NULL;
	struct timespec t0, t1;
	long ran = 0;
	double secs;

	if (!big_raw)
		fail("malloc big");
	big = (unsigned char *)align_to((uintptr_t)big_raw, 0);
	memset(stack, 0x5C, 2 * SWIN);
	mset(stackm, 0x5C, 2 * SWIN);
	memset(big, 0xB1, 3 * WIN);
	mset(bigm, 0xB1, 3 * WIN);
	if (keeplist) {
		keep = xmap((size_t)nops + 1);
		if (parse_keep(keeplist, nops, keep))
			fail("bad op list '%s'", keeplist);
	}
	for (int i = 0; i < NSLOT; i++) {
		struct slot *s = &S[i];

		s->kind = i < 4 ? K_HEAP : i < 7 ? K_MMAP : i < 9 ? K_STACK : K_BIG;
		if (s->kind == K_STACK) {
			s->area = stack + (size_t)(i - 7) * SWIN;
			s->area_model = stackm + (size_t)(i - 7) * SWIN;
		} else if (s->kind == K_BIG) {
			s->area = big + (size_t)(i - 9) * WIN;
			s->area_model = bigm + (size_t)(i - 9) * WIN;
		} else {
			s->model = xmap(MAXLEN + PG);
		}
		slot_new(s, mix(seed ^ (0xABCDULL + (uint64_t)i)));
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < nops; i++) {
		if (keep && !keep[i])
			continue;
		run_op(i);
		ran++;
		atomic_store(&progress, i);
	}
	cur_op = nops;
	snprintf(cur_desc, sizeof(cur_desc), "final check");
	{
		uint64_t d = digest();

		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		printf("zfuzz: seed=%llu ops=%ld ok digest=%016llx ops_per_s=%.0f "
		       "(in=%llu sock/%llu pipe/%llu file/%llu again copy=%llu touch=%llu "
		       "out=%llu release=%llu fork=%llu)\n",
		       (unsigned long long)seed, ran, (unsigned long long)d,
		       secs > 0 ? (double)ran / secs : 0.0,
		       (unsigned long long)nstat[0], (unsigned long long)nstat[1],
		       (unsigned long long)nstat[2], (unsigned long long)nstat[3],
		       (unsigned long long)nstat[4], (unsigned long long)nstat[5],
		       (unsigned long long)nstat[6], (unsigned long long)nstat[7],
		       (unsigned long long)nstat[8]);
	}
	fflush(stdout);
	/* Leave with every buffer live: exit with aliases is a case too. */
	return 0;
}

int main(int argc, char **argv)
{
	long nops = 1000;
	const char *keeplist = NULL;
	int c;

	while ((c = getopt(argc, argv, "s:n:K:vX:")) != -1) {
		switch (c) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'n': nops = strtol(optarg, NULL, 0); break;
		case 'K': keeplist = optarg; break;
		case 'v': verbose = true; break;
		case 'X':
			no_remap |= strstr(optarg, "remap") != NULL;
			no_madvise |= strstr(optarg, "madvise") != NULL;
			no_free |= strstr(optarg, "free") != NULL;
			no_writev |= strstr(optarg, "writev") != NULL;
			no_fork |= strstr(optarg, "fork") != NULL;
			break;
		default:
			fprintf(stderr, "usage: zfuzz [-s SEED] [-n OPS] [-K LIST] [-X KINDS] [-v]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	sink_buf = xmap(SINK_CAP);
	check_buf = xmap(SINK_CAP);
	setup_io();
	{
		pthread_t t;

		if (pthread_create(&t, NULL, watchdog, NULL))
			fail("pthread_create");
		pthread_detach(t);
	}
	return run(nops, keeplist);
}
