// SPDX-License-Identifier: MIT
/*
 * smallcopy — what a small memcpy costs, in ns per call, so the price the
 * preloaded runtime adds to every copy below its threshold (the fast path
 * in interpose.c) can be read off by running this plain and under zio-run.
 *
 * Copies go through a function pointer read from a volatile, so the
 * compiler can neither inline nor elide them: every call reaches the
 * memcpy that the dynamic linker bound, libc's plain or libzio's under
 * zio-run.  The source was filled by a read() from a socket, so under zio
 * the process holds IO data (live regions), as a real server does, and
 * the interposer cannot take its cheapest exit.
 */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZES	32
#define SRC_BYTES	(64 << 10)
#define MAX_REPS	101

static struct env {
	long sizes[MAX_SIZES];
	int nsizes;
	int reps;
	double rep_ms;
} env = {
	.reps = 21,
	.rep_ms = 5,
};

static void *(*volatile copy_fn)(void *, const void *, size_t) = memcpy;

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

/* Returns ns per call of iters copies of n bytes. */
static double time_copies(char *dst, const char *src, size_t n, long iters)
{
	void *(*f)(void *, const void *, size_t) = copy_fn;
	double t0 = now_ns();

	for (long i = 0; i < iters; i++) {
		f(dst, src, n);
		/* Keep the stores: the compiler must assume dst is read. */
		__asm__ volatile("" : : "r"(dst) : "memory");
	}
	return (now_ns() - t0) / iters;
}

/*
 * Fill buf with n bytes that came in through a socket, so they are IO
 * data to the runtime.  Returns 0 or -errno.
 */
static int fill_from_socket(char *buf, size_t n)
{
	int sv[2], err = 0;
	size_t off = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(i * 131 + 7);
	while (off < n && !err) {
		size_t chunk = n - off < 16384 ? n - off : 16384;
		ssize_t w = write(sv[1], buf + off, chunk), r;

		if (w <= 0) {
			err = w < 0 ? -errno : -EIO;
			break;
		}
		for (ssize_t got = 0; got < w; got += r) {
			r = read(sv[0], buf + off + got, w - got);
			if (r <= 0) {
				err = r < 0 ? -errno : -EIO;
				break;
			}
		}
		off += w;
	}
	close(sv[0]);
	close(sv[1]);
	return err;
}

static const char doc[] =
"Time memcpy of small sizes, in ns per call.\n"
"\n"
"USAGE: smallcopy [--sizes LIST] [--reps R] [--rep-ms MS]\n"
"\v"
"For each size (default 8,16,32,...,4096 bytes) the copy loop runs R times\n"
"(default 21) for about MS milliseconds each (default 5); the fastest is\n"
"printed (other programs on the machine can only add time), one line per\n"
"size:\n"
"  smallcopy size=S ns_per_call=X\n"
"Run it plain and under zio-run and compare: the difference is what the\n"
"runtime adds to copies below its threshold.\n"
"\n"
"EXAMPLES:\n"
"  smallcopy\n"
"  zio-run -- smallcopy --sizes 8,64,4096 --reps 21\n";

static const struct argp_option opts[] = {
	{ "sizes", 's', "LIST", 0, "Comma-separated copy sizes, 1..65536 bytes", 0 },
	{ "reps", 'r', "R", 0, "Repetitions per size, fastest taken (default 21)", 0 },
	{ "rep-ms", 'm', "MS", 0, "Milliseconds per repetition (default 5)", 0 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, "Show the full help", 0 },
	{},
};

static long parse_long(struct argp_state *state, const char *what, const char *arg,
		       char **end, long min, long max)
{
	long v;

	errno = 0;
	v = strtol(arg, end, 10);
	if (errno || *end == arg || v < min || v > max)
		argp_error(state, "invalid %s '%s': expected an integer in [%ld, %ld]",
			   what, arg, min, max);
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
		for (char *p = arg; *p; p = end + (*end == ',')) {
			if (env.nsizes == MAX_SIZES)
				argp_error(state, "at most %d sizes", MAX_SIZES);
			env.sizes[env.nsizes++] = parse_long(state, "size", p, &end, 1, SRC_BYTES);
			if (*end && *end != ',')
				argp_error(state, "invalid size list '%s'", arg);
		}
		break;
	case 'r':
		env.reps = parse_long(state, "reps", arg, &end, 1, MAX_REPS);
		if (*end)
			argp_error(state, "invalid reps '%s'", arg);
		break;
	case 'm':
		env.rep_ms = parse_long(state, "rep-ms", arg, &end, 1, 10000);
		if (*end)
			argp_error(state, "invalid rep-ms '%s'", arg);
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct argp argp = { .options = opts, .parser = parse_arg, .doc = doc };
	double v[MAX_REPS];
	char *src, *dst;
	int err;

	argp_err_exit_status = 2;
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return 2;
	if (!env.nsizes)
		for (long s = 8; s <= 4096; s *= 2)
			env.sizes[env.nsizes++] = s;

	if (posix_memalign((void **)&src, 4096, SRC_BYTES) ||
	    posix_memalign((void **)&dst, 4096, SRC_BYTES)) {
		fprintf(stderr, "smallcopy: failed to allocate buffers\n");
		return 1;
	}
	memset(dst, 0, SRC_BYTES);
	err = fill_from_socket(src, SRC_BYTES);
	if (err) {
		fprintf(stderr, "smallcopy: failed to fill the source through a socket: %s\n",
			strerror(-err));
		return 1;
	}

	for (int s = 0; s < env.nsizes; s++) {
		size_t n = env.sizes[s];
		long iters = 1000;
		double t;

		/* Calibrate so one repetition takes about rep_ms. */
		for (;;) {
			t = time_copies(dst, src, n, iters) * iters;
			if (t >= env.rep_ms * 1e6 / 4 || iters > LONG_MAX / 8)
				break;
			iters *= 4;
		}
		iters = (long)(iters * (env.rep_ms * 1e6 / t)) + 1;
		for (int r = 0; r < env.reps; r++)
			v[r] = time_copies(dst, src, n, iters);
		qsort(v, env.reps, sizeof(v[0]), cmp_double);
		printf("smallcopy size=%zu ns_per_call=%.3f\n", n, v[0]);
		fflush(stdout);
	}
	free(src);
	free(dst);
	return 0;
}
