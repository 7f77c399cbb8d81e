// SPDX-License-Identifier: MIT
/*
 * zio-trace - the IO copy call sites of an unmodified program.
 *
 * Uprobes on the traced process's libc follow IO data from the input
 * calls (read, recv, ...) through copies (memcpy, memmove, ...) to the
 * output calls (write, send, ...) (see bpf/trace.bpf.c); at the end the
 * tool prints, per call site, how many copies of IO data it made, like
 * the "IO copy call sites" table of the zIO paper (OSDI '22), and how
 * many of them zio would elide at the given threshold.  No zio runtime
 * is involved.  Layout follows bcc's libbpf-tools/opensnoop.c; the
 * tracer (how IFUNCs are resolved, why a started program stops at _exit)
 * is user/cli/trace.c, the table user/cli/trace_report.c.
 */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "trace.h"
#include "trace_cli.h"
#include "util.h"

static struct env {
	pid_t pid;
	long duration;
	__u64 threshold;
	__u64 min_input;
	__u64 min_copy;
	int verbose;
	bool json;
	bool no_multi;
	bool no_follow;
	long long ops;
	char **argv;		/* -- PROGRAM ARGS */
} env = {
	.threshold = ZIO_TRACE_THRESHOLD_DEFAULT,
	.min_input = 1,
	.min_copy = 1,
};

const char *argp_program_version = "zio-trace 0.1";
const char argp_program_doc[] =
"Find the IO copy call sites of an unmodified program.\n"
"\n"
"USAGE: zio-trace [-v] [-j] [-d DURATION] [--threshold BYTES] "
"[-p PID | -- PROGRAM [ARGS...]]\n"
"\v"
"EXAMPLES:\n"
"    zio-trace -- ./server      # trace a program until it exits\n"
"    zio-trace -p 181           # trace PID 181 until Ctrl-C\n"
"    zio-trace -p 181 -d 10     # trace PID 181 for 10 seconds\n"
"    zio-trace --threshold 65536 -p 181  # count copies >= 64 KiB as elidable\n"
"    zio-trace -j -- ./server   # print the table as JSON\n"
"    zio-trace --ops 10000 -p 181  # per-request counts: the load made 10000\n"
"    zio-trace --min-copy 1024 -p 181  # hide copies under 1 KiB\n"
"    kill -USR1 $(pidof zio-trace)  # print the table so far, start anew\n"
"\n"
"KIND app: a copy of IO data inside the program; iostack: IO data handed to\n"
"an output call (the kernel copies it).  BYTES of an app site are its copy\n"
"sizes, of an iostack site the IO bytes output; IO-SHARE is BYTES over the\n"
"bytes of IO input; ELIDABLE counts the app copies >= the threshold.  PER-OP\n"
"is CALLS per operation: --ops N says how many the load made, else every\n"
"input call that returned data counts as one.  Children the program forks\n"
"(workers, a rewrite child), and with -p the children it has, are traced\n"
"too, unless --no-follow.\n";

enum {
	OPT_THRESHOLD = 0x100,
	OPT_MIN_INPUT,
	OPT_MIN_COPY,
	OPT_NO_MULTI,
	OPT_NO_FOLLOW,
	OPT_OPS,
};

static const struct argp_option opts[] = {
	{ "pid", 'p', "PID", 0, "Trace this process", 0 },
	{ "duration", 'd', "DURATION", 0, "Trace for this many seconds", 0 },
	{ "threshold", OPT_THRESHOLD, "BYTES", 0,
	  "Copies of at least BYTES are elidable (default 64K, as zio-run's)", 0 },
	{ "min-input", OPT_MIN_INPUT, "BYTES", 0,
	  "Ignore input calls returning fewer bytes (default 1)", 0 },
	{ "min-copy", OPT_MIN_COPY, "BYTES", 0,
	  "Count only copies of at least BYTES (default 1)", 0 },
	{ "json", 'j', NULL, 0, "Print JSON instead of a table", 0 },
	{ "no-multi", OPT_NO_MULTI, NULL, 0,
	  "One perf-event uprobe per function (as before kernel 6.6)", 0 },
	{ "no-follow", OPT_NO_FOLLOW, NULL, 0, "Trace the one process, not the children it forks",
	  0 },
	{ "ops", OPT_OPS, "N", 0,
	  "The load made N operations: counts per operation (default: the input calls)", 0 },
	{ "verbose", 'v', NULL, 0, "Verbose debug output", 0 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, "Show the full help", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	long v;

	switch (key) {
	case 'h':
		argp_state_help(state, stderr, ARGP_HELP_STD_HELP);
		break;
	case 'v':
		env.verbose++;
		break;
	case 'j':
		env.json = true;
		break;
	case OPT_NO_MULTI:
		env.no_multi = true;
		break;
	case OPT_NO_FOLLOW:
		env.no_follow = true;
		break;
	case OPT_OPS:
		if (zio_parse_bytes(arg, 1, 1LL << 50, &env.ops)) {
			pr_warn("zio-trace: invalid --ops: %s (a count of at least 1)\n", arg);
			argp_usage(state);
		}
		break;
	case 'p':
		if (zio_parse_long(arg, 1, INT_MAX, &v)) {
			pr_warn("zio-trace: invalid PID: %s\n", arg);
			argp_usage(state);
		}
		env.pid = v;
		break;
	case 'd':
		if (zio_parse_long(arg, 1, INT_MAX, &v)) {
			pr_warn("zio-trace: invalid duration: %s\n", arg);
			argp_usage(state);
		}
		env.duration = v;
		break;
	case OPT_THRESHOLD:
	case OPT_MIN_INPUT:
	case OPT_MIN_COPY:
		{
			long long b;

			if (zio_parse_bytes(arg, 1, LONG_MAX, &b)) {
				pr_warn("zio-trace: invalid size: %s (digits with an optional K, M "
					"or G)\n", arg);
				argp_usage(state);
			}
			v = (long)b;
		}
		if (key == OPT_THRESHOLD)
			env.threshold = v;
		else if (key == OPT_MIN_INPUT)
			env.min_input = v;
		else
			env.min_copy = v;
		break;
	case ARGP_KEY_ARGS:
		env.argv = state->argv + state->next;
		break;
	case ARGP_KEY_END:
		if (!env.pid == !env.argv) {
			pr_warn("zio-trace: give either -p PID or -- PROGRAM\n");
			argp_usage(state);
		}
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct zio_trace_stop stop;

static void sig_int(int signo)
{
	stop.exiting++;
}

static void sig_alarm(int signo)
{
	stop.timed_out = 1;
}

static void sig_chld(int signo)
{
}

static void sig_usr1(int signo)
{
	stop.report_now = 1;
}

int main(int argc, char **argv)
{
	static const struct argp argp = {
		.options = opts,
		.parser = parse_arg,
		.doc = argp_program_doc,
	};
	struct zio_tracer_opts o;
	struct sigaction sa = {};
	struct zio_tracer *t;
	int err, st = -1;
	pid_t child;

	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		return err;
	/* libbpf's warnings by default (as bcc's tools), -v: our debug
	 * messages and libbpf's info, -vv: libbpf's debug messages */
	zio_print_init(ZIO_PR_INFO + env.verbose);

	sa.sa_handler = sig_int;	/* no SA_RESTART: waits end in EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = sig_alarm;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = sig_chld;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = sig_usr1;
	sigaction(SIGUSR1, &sa, NULL);

	o = (struct zio_tracer_opts){
		.pid = env.pid, .argv = env.argv, .threshold = env.threshold,
		.min_input = env.min_input, .min_copy = env.min_copy, .json = env.json,
		.no_multi = env.no_multi, .no_follow = env.no_follow, .ops = (__u64)env.ops,
	};
	t = zio_tracer__open(&o);
	if (!t)
		return 1;
	child = zio_tracer__child(t);
	err = zio_tracer__attach(t);
	if (!err && env.duration)
		alarm(env.duration);
	if (!err)
		err = zio_tracer__start(t);
	if (!err) {
		st = zio_tracer__poll(t, &stop);
		zio_tracer__detach(t);
		err = zio_tracer__report(t);
		if (err)
			pr_warn("zio-trace: failed to print report: %s\n", strerror(-err));
		/* the report is out; let the program run on to its end (and
		 * on from an exit stop that raced with the detach) */
		if (st == -1 && stop.exiting < 2)
			st = zio_tracer__wait(t);
	}
	zio_tracer__destroy(t);
	if (!child)
		return err != 0;
	if (err && st == -1) {
		kill(child, SIGKILL);
		waitpid(child, &st, 0);
	}
	return err || st == -1 ? 1 : zio_exit_code(st);
}
