// SPDX-License-Identifier: MIT
/*
 * copycost — what one copy of received data costs a program, and what a
 * touch of a copied page costs it afterwards, measured from inside an
 * ordinary program.  Run plain and under zio-run (--policy always, so the
 * mechanism is measured rather than the policy's choice), the difference
 * is the cost of elision per copy size and the fault round trip per page.
 *
 *   copycost copy   per size: write SIZE bytes into a socket, recv() them
 *                   into a source buffer (timed), memcpy() the source to a
 *                   destination (timed).  Source and destination rotate
 *                   through 64 MiB pools each (twice the LLC), so both are
 *                   cache-cold and every recv/copy in steady state reuses
 *                   a buffer that held data before, as a server does.
 *   copycost fault  receive and copy 1 MiB, then touch each page of the
 *                   destination once, timed one by one: a load, a store, or
 *                   the kernel reading it (write() to a pipe).  Plain, that
 *                   is a cache-cold access; under zio, a userfaultfd fault
 *                   served by the runtime's fault thread.
 *
 * Every destination is checked byte for byte: in copy mode through the
 * kernel (sent back through the socket, so the check does not touch the
 * pages and teach the policy that they are used) and, for the last one of
 * each size, by loads; in fault mode after the touches.  A wrong byte
 * prints MISMATCH and exits 1.
 */
#include <argp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAGE		4096
#define MAX_SIZES	32
#define MAX_SIZE	(64L << 20)
#define POOL_BYTES	(64L << 20)
#define MAX_ITERS	16384
#define MIN_ITERS	64
#define FAULT_BYTES	(1L << 20)

static struct env {
	long sizes[MAX_SIZES];
	int nsizes;
	int rounds;
} env = {
	.rounds = 8,
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Page-aligned and touched, as a server's long-lived buffers are.
 * Exits on failure: nothing can be measured without memory. */
static char *alloc_buf(size_t size)
{
	void *p;

	if (posix_memalign(&p, PAGE, size)) {
		fprintf(stderr, "copycost: failed to allocate %zu bytes\n", size);
		exit(1);
	}
	memset(p, 0, size);
	return p;
}

/* Message msg: a fixed base with a stamp of (msg, page) in every page's
 * first 8 bytes, so a stale or misplaced page cannot pass the check. */
static void stamp(char *buf, size_t size, uint64_t msg)
{
	for (size_t off = 0, p = 0; off + 8 <= size; off += PAGE, p++) {
		uint64_t v = splitmix64(msg * 0x100000001b3ULL ^ p);

		memcpy(buf + off, &v, 8);
	}
}

/* Returns 0 if got holds message msg, else prints the first wrong byte
 * and returns 1.  scratch is a SIZE-byte buffer. */
static int check(const char *what, const char *got, const char *base, char *scratch,
		 size_t size, uint64_t msg)
{
	memcpy(scratch, base, size);
	stamp(scratch, size, msg);
	if (!memcmp(scratch, got, size))
		return 0;
	for (size_t i = 0; i < size; i++) {
		if (scratch[i] != got[i]) {
			fprintf(stderr, "copycost: MISMATCH %s size=%zu message=%llu offset=%zu expected=0x%02x got=0x%02x\n",
				what, size, (unsigned long long)msg, i,
				(unsigned char)scratch[i], (unsigned char)got[i]);
			break;
		}
	}
	return 1;
}

static void die_errno(const char *what)
{
	fprintf(stderr, "copycost: failed to %s: %s\n", what, strerror(errno));
	exit(1);
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die_errno("write to the socket");
		buf += n;
		len -= n;
	}
}

static void recv_all(int fd, char *buf, size_t len)
{
	while (len) {
		ssize_t n = recv(fd, buf, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die_errno("receive from the socket");
		buf += n;
		len -= n;
	}
}

/*
 * A connected pair whose send buffer holds a whole message, so the timed
 * recv() finds all of it queued and measures receiving, not waiting.
 */
static void make_pair(int sv[2], size_t size)
{
	int buf = (int)(size * 4 + (1 << 20));

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		die_errno("create a socket pair");
	/* FORCE lifts the wmem_max cap (root); plain SO_SNDBUF otherwise. */
	if (setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) &&
	    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf)))
		die_errno("size the socket buffer");
}

static int copy_mode(void)
{
	int err = 0;

	for (int s = 0; s < env.nsizes; s++) {
		size_t size = env.sizes[s];
		long slots = POOL_BYTES / (long)size < 8 ? 8 : POOL_BYTES / (long)size;
		long iters = slots * 2 > MAX_ITERS ? MAX_ITERS : slots * 2;
		char **src = calloc(slots, sizeof(*src)), **dst = calloc(slots, sizeof(*dst));
		char *base = alloc_buf(size), *wbuf = alloc_buf(size), *scratch = alloc_buf(size);
		char *back = alloc_buf(size);
		double *tr, *tc, *ty;
		int sv[2];

		if (iters < MIN_ITERS)
			iters = MIN_ITERS;
		tr = calloc(iters, sizeof(*tr));
		tc = calloc(iters, sizeof(*tc));
		ty = calloc(iters, sizeof(*ty));
		if (!src || !dst || !tr || !tc || !ty) {
			fprintf(stderr, "copycost: out of memory\n");
			return 1;
		}
		for (long i = 0; i < slots; i++) {
			src[i] = alloc_buf(size);
			dst[i] = alloc_buf(size);
		}
		for (size_t i = 0; i < size; i += 8) {
			uint64_t v = splitmix64(size ^ i);

			memcpy(base + i, &v, size - i < 8 ? size - i : 8);
		}
		make_pair(sv, size);

		for (long i = 0; i < iters; i++) {
			char *sb = src[i % slots], *db = dst[i % slots];
			double t0, t1, t2;

			memcpy(wbuf, base, size);
			stamp(wbuf, size, i);
			write_all(sv[1], wbuf, size);
			t0 = now_ns();
			recv_all(sv[0], sb, size);
			t1 = now_ns();
			memcpy(db, sb, size);
			t2 = now_ns();
			tr[i] = t1 - t0;
			tc[i] = t2 - t1;
			ty[i] = t2 - t0;
		}

		/* Check the slots' last messages through the kernel: a socket
		 * write of an alias is served from its original, no fault. */
		for (long j = 0; j < slots && j < iters && !err; j++) {
			long msg = (iters - 1) - ((iters - 1 - j) % slots);

			write_all(sv[1], dst[j], size);
			recv_all(sv[0], back, size);
			err = check("copy(kernel view)", back, base, scratch, size, msg);
		}
		/* And the last destination by loads (faults under zio). */
		if (!err)
			err = check("copy(loads)", dst[(iters - 1) % slots], base, scratch, size,
				    iters - 1);

		if (!err) {
			printf("copycost copy size=%zu iters=%ld copy_ns=%.0f recv_ns=%.0f cycle_ns=%.0f\n",
			       size, iters, median(tc, iters), median(tr, iters), median(ty, iters));
			fflush(stdout);
		}
		close(sv[0]);
		close(sv[1]);
		for (long i = 0; i < slots; i++) {
			free(src[i]);
			free(dst[i]);
		}
		free(src);
		free(dst);
		free(tr);
		free(tc);
		free(ty);
		free(base);
		free(wbuf);
		free(scratch);
		free(back);
		if (err)
			return 1;
	}
	return 0;
}

/* A touch slower than this took a fault (a cold miss is ~0.1 us). */
#define SLOW_TOUCH_NS 2000

enum touch { TOUCH_LOAD, TOUCH_STORE, TOUCH_KERNEL };
static const char *const touch_name[] = { "load", "store", "kernel" };

static int fault_mode(void)
{
	const size_t size = FAULT_BYTES, pages = size / PAGE;
	/* Rounds rotate through pools above the LLC, so plain accesses are
	 * cache-cold too: the difference is the fault, not the cache. */
	const long slots = POOL_BYTES / FAULT_BYTES;
	char **src = calloc(slots, sizeof(*src)), **dst = calloc(slots, sizeof(*dst));
	char *base = alloc_buf(size), *wbuf = alloc_buf(size), *scratch = alloc_buf(size);
	char drain[PAGE];
	/* twice: the samples, then the slow ones among them */
	double *t = calloc(2 * env.rounds * pages, sizeof(*t));
	volatile char sink = 0;
	int sv[2], pfd[2];
	uint64_t msg = 0;

	if (!src || !dst || !t) {
		fprintf(stderr, "copycost: out of memory\n");
		return 1;
	}
	for (long i = 0; i < slots; i++) {
		src[i] = alloc_buf(size);
		dst[i] = alloc_buf(size);
	}
	for (size_t i = 0; i < size; i += 8) {
		uint64_t v = splitmix64(0xfa17 ^ i);

		memcpy(base + i, &v, 8);
	}
	make_pair(sv, size);
	if (pipe(pfd))
		die_errno("create a pipe");

	for (int k = TOUCH_LOAD; k <= TOUCH_KERNEL; k++) {
		long n = 0;

		for (int r = 0; r < env.rounds; r++, msg++) {
			char *sb = src[msg % slots], *db = dst[msg % slots];

			memcpy(wbuf, base, size);
			stamp(wbuf, size, msg);
			write_all(sv[1], wbuf, size);
			recv_all(sv[0], sb, size);
			memcpy(db, sb, size);
			for (size_t p = 0; p < pages; p++) {
				char *pg = db + p * PAGE;
				double t0 = now_ns();

				switch (k) {
				case TOUCH_LOAD:
					sink = *(volatile char *)(pg + 64);
					break;
				case TOUCH_STORE:
					/* The byte it already holds: the page's
					 * contents stay checkable. */
					*(volatile char *)(pg + 64) = wbuf[p * PAGE + 64];
					break;
				case TOUCH_KERNEL:
					if (write(pfd[1], pg, PAGE) != PAGE)
						die_errno("write to the pipe");
					break;
				}
				t[n++] = now_ns() - t0;
				if (k == TOUCH_KERNEL && read(pfd[0], drain, PAGE) != PAGE)
					die_errno("read from the pipe");
			}
			if (check(touch_name[k], db, base, scratch, size, msg))
				return 1;
		}
		{
			/* The runtime materialises a window of pages per
			 * fault, so most first touches find their page
			 * already there: the mean is what a page costs,
			 * the slow touches are the round trips. */
			double sum = 0, *slow = t + n;
			long nslow = 0;

			for (long i = 0; i < n; i++) {
				sum += t[i];
				if (t[i] >= SLOW_TOUCH_NS)
					slow[nslow++] = t[i];
			}
			printf("copycost fault kind=%s pages=%ld ns_per_page=%.0f "
			       "median_ns=%.0f slow_touches=%ld slow_median_ns=%.0f\n",
			       touch_name[k], n, sum / n, median(t, n), nslow,
			       nslow ? median(slow, nslow) : 0.0);
		}
		fflush(stdout);
	}
	(void)sink;
	return 0;
}

static const char doc[] =
"Time a copy of received data and a touch of a copied page.\n"
"\n"
"USAGE: copycost copy [--sizes LIST]\n"
"       copycost fault [--rounds R]\n"
"\v"
"copy: for each size (default 4K,16K,64K,256K,1M,4M) the median over many\n"
"messages of receiving one (recv_ns), copying it (copy_ns) and both\n"
"(cycle_ns):\n"
"  copycost copy size=S iters=N copy_ns=X recv_ns=Y cycle_ns=Z\n"
"fault: per page of R rounds (default 8) of 1 MiB, the median time of one\n"
"first touch of a freshly copied page:\n"
"  copycost fault kind=load|store|kernel pages=N ns_per_page=MEAN median_ns=X\n"
"                 slow_touches=F slow_median_ns=Y\n"
"(slow touches: over 2 us, the faults under zio; Y is their round trip)\n"
"Run plain and under zio-run --policy always and compare.  Needs enough\n"
"socket buffer for 4 x SIZE (root lifts the cap).\n"
"\n"
"EXAMPLES:\n"
"  copycost copy\n"
"  zio-run --stats --policy always -- copycost copy --sizes 64K,1M\n"
"  zio-run --stats --policy always -- copycost fault\n";

static const struct argp_option opts[] = {
	{ "sizes", 's', "LIST", 0, "copy: comma-separated sizes, K/M suffix allowed", 0 },
	{ "rounds", 'r', "R", 0, "fault: 1 MiB rounds per kind (default 8)", 0 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, "Show the full help", 0 },
	{},
};

/* Returns the size at *p (advancing *p past it), or exits via argp. */
static long parse_size(struct argp_state *state, char **p)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(*p, &end, 10);
	if (!errno && end != *p) {
		if (*end == 'K' || *end == 'k')
			v <<= 10, end++;
		else if (*end == 'M' || *end == 'm')
			v <<= 20, end++;
	}
	if (errno || end == *p || v < 1 || v > MAX_SIZE || (*end && *end != ','))
		argp_error(state, "invalid size in '%s': expected 1..64M", *p);
	*p = end + (*end == ',');
	return v;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	char *end;

	switch (key) {
	case 'h':
		argp_state_help(state, stdout, ARGP_HELP_STD_HELP);
		break;
	case 's':
		env.nsizes = 0;
		for (char *p = arg; *p; ) {
			if (env.nsizes == MAX_SIZES)
				argp_error(state, "at most %d sizes", MAX_SIZES);
			env.sizes[env.nsizes++] = parse_size(state, &p);
		}
		break;
	case 'r':
		errno = 0;
		env.rounds = (int)strtol(arg, &end, 10);
		if (errno || end == arg || *end || env.rounds < 1 || env.rounds > 1000)
			argp_error(state, "invalid rounds '%s': expected 1..1000", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct argp argp = { .options = opts, .parser = parse_arg, .doc = doc,
					  .args_doc = "copy|fault" };
	int idx;

	argp_err_exit_status = 2;
	if (argp_parse(&argp, argc, argv, 0, &idx, NULL))
		return 2;
	if (idx != argc - 1) {
		fprintf(stderr, "copycost: expected one mode, copy or fault (see --help)\n");
		return 2;
	}
	if (!env.nsizes)
		for (long s = 4096; s <= (4L << 20); s *= 4)
			env.sizes[env.nsizes++] = s;
	if (!strcmp(argv[idx], "copy"))
		return copy_mode();
	if (!strcmp(argv[idx], "fault"))
		return fault_mode();
	fprintf(stderr, "copycost: unknown mode '%s': expected copy or fault\n", argv[idx]);
	return 2;
}
