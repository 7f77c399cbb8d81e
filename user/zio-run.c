// SPDX-License-Identifier: MIT
/*
 * zio-run — run an unmodified program with the zio runtime preloaded.
 *
 * zio-run only prepares the environment (LD_PRELOAD and ZIO_* settings)
 * and then execs PROGRAM in its own process, so PROGRAM keeps zio-run's
 * PID, its signals and its exit status.
 */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zio.h"

static struct env {
	int stats;
	int off;
	int verbose;
	long long threshold;  /* -1: runtime default */
	long long pool_max;   /* -1: runtime default */
	const char *policy;
	const char *lib;
	int prog;             /* argv index of PROGRAM */
} env = {
	.threshold = -1,
	.pool_max = -1,
};

const char *argp_program_version = "zio-run 0.1";
static const char doc[] =
"Run PROGRAM with transparent zero-copy IO: large copies of received data\n"
"are elided and made lazily, page by page, only if the program touches them.\n"
"\n"
"USAGE: zio-run [OPTIONS] -- PROGRAM [ARGS...]\n"
"\v"
"EXAMPLES:\n"
"  zio-run -- redis-server redis.conf     # run redis under zio\n"
"  zio-run --stats -- ./server            # print counters when it exits\n"
"  zio-run --threshold 128K -- ./relay    # elide only copies >= 128 KiB\n"
"  zio-run --off -- ./server              # interposers loaded, nothing\n"
"                                         # elided (A/B baseline)\n"
"\n"
"With --stats every process prints one line on stderr when it ends:\n"
"  zio: pid=P elided_copies=N elided_bytes=B materialized_pages=M faults=F fallbacks=K ...\n"
"\n"
"Exit status: PROGRAM's, or 127 if PROGRAM cannot be found, 126 if it\n"
"cannot be executed, 2 for a usage error.\n";

enum {
	OPT_THRESHOLD = 't',
	OPT_STATS = 's',
	OPT_OFF = 0x100,
	OPT_POOL_MAX,
	OPT_POLICY,
	OPT_LIB,
};

static const struct argp_option opts[] = {
	{ "stats", OPT_STATS, NULL, 0, "Print one line of counters per process at exit", 0 },
	{ "threshold", OPT_THRESHOLD, "BYTES", 0,
	  "Smallest copy to elide (suffix K or M allowed; default 64K)", 0 },
	{ "off", OPT_OFF, NULL, 0, "Load the interposers but elide nothing", 0 },
	{ "verbose", 'v', NULL, 0, "Explain what the runtime does (repeat for more)", 0 },
	{ "pool-max", OPT_POOL_MAX, "BYTES", 0,
	  "Spare page memory the runtime may keep (default 256M)", 0 },
	{ "policy", OPT_POLICY, "NAME", 0,
	  "Elision policy: adaptive (default) or always", 0 },
	{ "lib", OPT_LIB, "PATH", OPTION_HIDDEN, "Runtime library to preload", 0 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, "Show the full help", 0 },
	{},
};

/*
 * Parse a byte count: decimal digits with an optional K, M or G suffix
 * (powers of 1024).  Returns 0 and stores the value, or -EINVAL/-ERANGE.
 */
static int parse_bytes(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v, mul = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': mul = 1LL << 10; end++; break;
	case 'm': case 'M': mul = 1LL << 20; end++; break;
	case 'g': case 'G': mul = 1LL << 30; end++; break;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end)
		return -EINVAL;
	if (v < 0 || v > LLONG_MAX / mul)
		return -ERANGE;
	v *= mul;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	int err;

	switch (key) {
	case 'h':
		argp_state_help(state, stdout, ARGP_HELP_STD_HELP);
		break;
	case OPT_STATS:
		env.stats = 1;
		break;
	case OPT_OFF:
		env.off = 1;
		break;
	case 'v':
		env.verbose++;
		break;
	case OPT_THRESHOLD:
		err = parse_bytes(arg, 4096, 1LL << 40, &env.threshold);
		if (err)
			argp_error(state, "invalid --threshold '%s': expected a byte count "
				   "between 4096 and 1T (e.g. 65536 or 64K)", arg);
		break;
	case OPT_POOL_MAX:
		err = parse_bytes(arg, 0, 1LL << 40, &env.pool_max);
		if (err)
			argp_error(state, "invalid --pool-max '%s': expected a byte count "
				   "(e.g. 256M)", arg);
		break;
	case OPT_POLICY:
		if (strcmp(arg, "adaptive") && strcmp(arg, "always"))
			argp_error(state, "invalid --policy '%s': expected adaptive or always", arg);
		env.policy = arg;
		break;
	case OPT_LIB:
		env.lib = arg;
		break;
	case ARGP_KEY_ARG:
		/* The first non-option is PROGRAM; parsing stops there so the
		 * program's own options are not taken for ours. */
		env.prog = state->next - 1;
		state->next = state->argc;
		return 0;
	case ARGP_KEY_END:
		if (!env.prog)
			argp_error(state, "missing PROGRAM (usage: zio-run [OPTIONS] -- PROGRAM [ARGS...])");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/*
 * Find libzio.so next to our own binary (build/zio-run -> build/libzio.so),
 * or in ../lib/zio/ for an installed layout.  Returns 0 with the absolute
 * path in buf, or -ENOENT.
 */
static int find_runtime(char *buf, size_t len)
{
	static const char *const rel[] = { "libzio.so", "../lib/zio/libzio.so" };
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if ((size_t)snprintf(buf, len, "%s/%s", self, rel[i]) >= len)
			continue;
		if (access(buf, R_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

static int set_env_ll(const char *name, long long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", v);
	return setenv(name, num, 1);
}

int main(int argc, char **argv)
{
	static const struct argp argp = {
		.options = opts,
		.parser = parse_arg,
		.args_doc = "-- PROGRAM [ARGS...]",
		.doc = doc,
	};
	char lib[PATH_MAX], preload[2 * PATH_MAX + 2];
	const char *old;
	int idx, err;

	argp_err_exit_status = 2;
	err = argp_parse(&argp, argc, argv, ARGP_IN_ORDER, NULL, NULL);
	if (err)
		return 2;

	if (env.lib) {
		if (!realpath(env.lib, lib)) {
			fprintf(stderr, "zio-run: cannot use runtime library %s: %s\n",
				env.lib, strerror(errno));
			return 2;
		}
	} else if (find_runtime(lib, sizeof(lib))) {
		fprintf(stderr, "zio-run: cannot find libzio.so next to zio-run "
			"(looked in the directory of /proc/self/exe)\n");
		return 2;
	}
	if (strchr(lib, ' ') || strchr(lib, ':')) {
		fprintf(stderr, "zio-run: runtime path %s contains a space or ':', "
			"which LD_PRELOAD cannot carry\n", lib);
		return 2;
	}

	/* Prepend ours: the runtime must see memcpy/recv/... before any other
	 * preloaded library does. */
	old = getenv("LD_PRELOAD");
	if (old && *old)
		snprintf(preload, sizeof(preload), "%s:%s", lib, old);
	else
		snprintf(preload, sizeof(preload), "%s", lib);
	if (setenv("LD_PRELOAD", preload, 1) ||
	    (env.stats && setenv(ZIO_ENV_STATS, "1", 1)) ||
	    (env.off && setenv(ZIO_ENV_OFF, "1", 1)) ||
	    (env.verbose && set_env_ll(ZIO_ENV_LOG, 1 + env.verbose)) ||
	    (env.threshold >= 0 && set_env_ll(ZIO_ENV_THRESHOLD, env.threshold)) ||
	    (env.pool_max >= 0 && set_env_ll(ZIO_ENV_POOL_MAX, env.pool_max)) ||
	    (env.policy && setenv(ZIO_ENV_POLICY, env.policy, 1))) {
		fprintf(stderr, "zio-run: failed to set environment: %s\n", strerror(errno));
		return 2;
	}

	idx = env.prog;
	execvp(argv[idx], &argv[idx]);
	err = errno;
	fprintf(stderr, "zio-run: %s: %s\n", argv[idx],
		err == ENOENT ? "command not found" : strerror(err));
	return err == ENOENT ? 127 : 126;
}
