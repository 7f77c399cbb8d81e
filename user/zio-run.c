// SPDX-License-Identifier: MIT
/*
 * zio-run — run an unmodified program with the zio runtime preloaded.
 *
 * zio-run only prepares the environment (LD_PRELOAD and ZIO_* settings)
 * and then execs PROGRAM in its own process, so PROGRAM keeps zio-run's
 * PID, its signals and its exit status.  With --observe PROGRAM runs in a
 * child (its PID names the pin directory); zio-run passes on the signals
 * sent to it and exits with PROGRAM's status (128+signal if killed).
 */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zio.h"
#include "steer.h"
#include "observe_cli.h"
#include "steer_cli.h"
#include "util.h"

static struct env {
	int stats;
	int off;
	int verbose;
	int observe;          /* --observe: BPF maps under /sys/fs/bpf/zio/PID */
	long long threshold;  /* -1: runtime default */
	long long pool_max;   /* -1: runtime default */
	const char *policy;
	const char *lib;
	int prog;             /* argv index of PROGRAM */
	const char *xdp;      /* --xdp IFACE[@Q] */
	const char *xdp_ports;
	long long xdp_frames, xdp_ring;
	enum zio_steer_mode xdp_mode;
	const char *xdp_bind;
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
"  zio-run --observe -- ./server          # live aliases in BPF maps:\n"
"      bpftool map dump pinned /sys/fs/bpf/zio/PID/aliases\n"
"\n"
"With --stats every process prints one line on stderr when it ends:\n"
"  zio: pid=P elided_copies=N elided_bytes=B materialized_pages=M faults=F fallbacks=K ...\n"
"at exit, and also when a signal ends it by its default action (SIGTERM,\n"
"SIGINT, SIGSEGV...): the runtime catches the signals that end a process\n"
"while the program leaves them at SIG_DFL, prints the line and lets the\n"
"signal end it with the same status and core dump.  The program still sees\n"
"SIG_DFL, and its own handlers and SIG_IGN replace ours.  SIGKILL, _exit()\n"
"and real-time signals end a process without the line.\n"
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
	OPT_XDP,
	OPT_XDP_PORTS,
	OPT_XDP_FRAMES,
	OPT_XDP_RING,
	OPT_XDP_MODE,
	OPT_XDP_BIND,
	OPT_OBSERVE,
};

static const struct argp_option opts[] = {
	{ "stats", OPT_STATS, NULL, 0,
	  "Print one line of counters per process when it ends (exit or signal)", 0 },
	{ "threshold", OPT_THRESHOLD, "BYTES", 0,
	  "Smallest copy to elide (suffix K or M allowed; default 64K, 16K with --xdp)", 0 },
	{ "off", OPT_OFF, NULL, 0, "Load the interposers but elide nothing", 0 },
	{ "verbose", 'v', NULL, 0, "Explain what the runtime does (-vv: a debug trace of every decision)", 0 },
	{ "pool-max", OPT_POOL_MAX, "BYTES", 0,
	  "Spare page memory the runtime may keep (default 256M)", 0 },
	{ "policy", OPT_POLICY, "NAME", 0,
	  "Elision policy: adaptive (default) or always", 0 },
	{ "lib", OPT_LIB, "PATH", OPTION_HIDDEN, "Runtime library to preload", 0 },
	{ "xdp", OPT_XDP, "IFACE[@Q]", 0,
	  "Serve UDP sockets bound to --xdp-ports from AF_XDP sockets on every rx "
	  "queue of IFACE (or only queue Q); needs root", 1 },
	{ "xdp-ports", OPT_XDP_PORTS, "PORT[,PORT...]", 0, "UDP ports steered to AF_XDP", 1 },
	{ "xdp-frames", OPT_XDP_FRAMES, "N", 0,
	  "UMEM receive frames per queue (default 4096, 3840 B each)", 1 },
	{ "xdp-ring", OPT_XDP_RING, "N", 0,
	  "Entries of each AF_XDP ring, a power of two (default 2048)", 1 },
	{ "xdp-mode", OPT_XDP_MODE, "MODE", 0,
	  "XDP attach mode: auto (native, else generic), native or generic", 1 },
	{ "xdp-bind", OPT_XDP_BIND, "MODE", 0,
	  "AF_XDP bind: auto (zero-copy, else copy), copy or zc", 1 },
	{ "observe", OPT_OBSERVE, NULL, 0,
	  "Keep live aliases and counters in BPF maps pinned under /sys/fs/bpf/zio/PID/", 0 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, "Show the full help", 0 },
	{},
};

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
		err = zio_parse_bytes(arg, 4096, 1LL << 40, &env.threshold);
		if (err)
			argp_error(state, "invalid --threshold '%s': expected a byte count "
				   "between 4096 and 1T (e.g. 65536 or 64K)", arg);
		break;
	case OPT_POOL_MAX:
		err = zio_parse_bytes(arg, 0, 1LL << 40, &env.pool_max);
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
	case OPT_XDP:
		env.xdp = arg;
		break;
	case OPT_XDP_PORTS:
		env.xdp_ports = arg;
		break;
	case OPT_XDP_FRAMES:
		if (zio_parse_bytes(arg, 64, 1 << 22, &env.xdp_frames))
			argp_error(state, "invalid --xdp-frames '%s': expected 64..4194304", arg);
		break;
	case OPT_XDP_RING:
		if (zio_parse_bytes(arg, 64, 1 << 16, &env.xdp_ring) ||
		    (env.xdp_ring & (env.xdp_ring - 1)))
			argp_error(state, "invalid --xdp-ring '%s': expected a power of two "
				   "64..65536", arg);
		break;
	case OPT_XDP_MODE:
		if (!strcmp(arg, "auto"))
			env.xdp_mode = ZIO_STEER_MODE_AUTO;
		else if (!strcmp(arg, "native") || !strcmp(arg, "drv"))
			env.xdp_mode = ZIO_STEER_MODE_NATIVE;
		else if (!strcmp(arg, "generic") || !strcmp(arg, "skb"))
			env.xdp_mode = ZIO_STEER_MODE_GENERIC;
		else
			argp_error(state, "invalid --xdp-mode '%s': expected auto, native or "
				   "generic", arg);
		break;
	case OPT_XDP_BIND:
		if (strcmp(arg, "auto") && strcmp(arg, "copy") && strcmp(arg, "zc"))
			argp_error(state, "invalid --xdp-bind '%s': expected auto, copy or zc", arg);
		env.xdp_bind = arg;
		break;
	case OPT_OBSERVE:
		env.observe = 1;
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
		if (!env.xdp != !env.xdp_ports)
			argp_error(state, "--xdp and --xdp-ports go together");
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

/*
 * --xdp IFACE[@Q] and --xdp-ports into o (ports checked here, so that the
 * runtime can trust the list; ifname and ports point into buffers the
 * caller keeps).  Returns 0, or -EINVAL with a message on stderr.
 */
static int xdp_opts(struct zio_steer_opts *o, char *ifname, char *ports, size_t portslen)
{
	const char *at = strchr(env.xdp, '@');
	size_t n = at ? (size_t)(at - env.xdp) : strlen(env.xdp);
	char buf[512], *save = NULL, *tok;
	int count = 0;
	long long q;

	*o = (struct zio_steer_opts){
		.ifname = ifname, .queue = -1, .mode = env.xdp_mode, .ports = ports,
		.frames = env.xdp_frames, .ring = env.xdp_ring, .bind = env.xdp_bind,
	};
	if (!n || n >= IF_NAMESIZE) {
		pr_warn("zio-run: invalid --xdp '%s'\n", env.xdp);
		return -EINVAL;
	}
	memcpy(ifname, env.xdp, n);
	ifname[n] = '\0';
	if (at) {
		if (zio_parse_bytes(at + 1, 0, ZIO_STEER_MAX_QUEUES - 1, &q)) {
			pr_warn("zio-run: invalid queue in --xdp '%s'\n", env.xdp);
			return -EINVAL;
		}
		o->queue = (int)q;
	}
	ports[0] = '\0';
	snprintf(buf, sizeof(buf), "%s", env.xdp_ports);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		long long p;

		if (zio_parse_bytes(tok, 1, 65535, &p) || ++count > ZIO_STEER_MAX_PORTS) {
			pr_warn("zio-run: invalid --xdp-ports '%s': expected up to %d "
				"ports 1..65535\n", env.xdp_ports, ZIO_STEER_MAX_PORTS);
			return -EINVAL;
		}
		snprintf(ports + strlen(ports), portslen - strlen(ports), "%s%lld",
			 count > 1 ? "," : "", p);
	}
	return 0;
}

/*
 * --xdp: attach the steering program, pin its maps, and tell the runtime
 * where everything is (ZIO_XDP_*).  Returns 0, or -errno (message printed).
 */
static int setup_xdp(void)
{
	static struct zio_steer x;  /* the link fd stays open across exec */
	char ifname[IF_NAMESIZE + 1], ports[512];
	struct zio_steer_opts o;
	int err;

	err = xdp_opts(&o, ifname, ports, sizeof(ports));
	if (err)
		return err;
	err = zio_steer__load(&o, &x);
	if (err)
		return err;
	err = zio_steer__setenv(&x, &o);
	if (err) {
		pr_warn("zio-run: failed to set environment: %s\n", strerror(-err));
		zio_steer__destroy(&x);
	}
	return err;
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
	/* -v: our info and libbpf's warnings; -vv, -vvv: more of libbpf's */
	zio_print_init(env.verbose);

	if (env.lib) {
		if (!realpath(env.lib, lib)) {
			pr_warn("zio-run: cannot use runtime library %s: %s\n",
				env.lib, strerror(errno));
			return 2;
		}
	} else if (find_runtime(lib, sizeof(lib))) {
		pr_warn("zio-run: cannot find libzio.so next to zio-run "
			"(looked in the directory of /proc/self/exe)\n");
		return 2;
	}
	if (strchr(lib, ' ') || strchr(lib, ':')) {
		pr_warn("zio-run: runtime path %s contains a space or ':', "
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
	    (env.verbose && zio_setenv_ll(ZIO_ENV_LOG, env.verbose < 3 ? 1 + env.verbose : 3)) ||
	    (env.threshold >= 0 && zio_setenv_ll(ZIO_ENV_THRESHOLD, env.threshold)) ||
	    (env.pool_max >= 0 && zio_setenv_ll(ZIO_ENV_POOL_MAX, env.pool_max)) ||
	    (env.policy && setenv(ZIO_ENV_POLICY, env.policy, 1))) {
		pr_warn("zio-run: failed to set environment: %s\n", strerror(errno));
		return 2;
	}

	if (env.xdp && setup_xdp())
		return 2;

	idx = env.prog;
	/* Observed: the program runs in a child so that zio-run can attach
	 * before it starts and remove the pins after it ends. */
	if (env.observe)
		return zio_observe__run(&argv[idx], lib);
	execvp(argv[idx], &argv[idx]);
	err = errno;
	pr_warn("zio-run: %s: %s\n", argv[idx],
		err == ENOENT ? "command not found" : strerror(err));
	return err == ENOENT ? 127 : 126;
}
