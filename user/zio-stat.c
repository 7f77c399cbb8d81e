// SPDX-License-Identifier: MIT
/*
 * zio-stat - what the zio runtime does in running processes, per interval.
 *
 * Attaches its own copy of bpf/observe.bpf.c (region mirror off: only
 * counters, call sites and fault latency) to the runtime's USDT probes
 * in one process (-p) or in every process that maps libzio.so (rescanned
 * each interval, so processes started later are picked up), and prints
 * per interval: elided copies and bytes, materialised pages by cause,
 * fallbacks by reason, faults and their latency (log2 histogram of
 * fault_begin -> fault_end in the fault thread, with p50/p99), output
 * calls served from originals, retires, policy skips, and the top call
 * sites, symbolised.  Layout and flags follow bcc's
 * libbpf-tools/funclatency.c; the histogram is printed like its
 * print_log2_hist (trace_helpers.c).
 *
 * Counts are those of the events after attach: a process observed from
 * its start (zio-run --stats with zio-stat attached before its work)
 * gives the numbers of its --stats line.
 */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stat.h"
#include "util.h"

static struct env {
	pid_t pid;
	long interval;      /* seconds */
	long count;         /* intervals; 0: until Ctrl-C */
	long duration;      /* seconds; 0: no limit */
	long top;
	bool timestamp;
	int verbose;
	bool json;
	int nargs;
} env = {
	.interval = 1,
	.top = 10,
};

const char *argp_program_version = "zio-stat 0.1";
const char argp_program_doc[] =
"Show what the zio runtime does in running processes, per interval.\n"
"\n"
"USAGE: zio-stat [-p PID] [-T] [-v] [-j] [--top N] [-d DURATION] "
"[INTERVAL [COUNT]]\n"
"\v"
"EXAMPLES:\n"
"    zio-stat                # every zio process, each second, until Ctrl-C\n"
"    zio-stat -p 181 5       # PID 181, every 5 seconds, until it exits\n"
"    zio-stat -p 181 1 10    # 10 one-second intervals\n"
"    zio-stat -T -d 30       # timestamps, stop after 30 seconds\n"
"    zio-stat -j -p 181      # one JSON object per interval\n"
"\n"
"Counts are per interval.  Materialised pages by cause: load, store\n"
"(the program touched an alias page), write-orig (the original changed),\n"
"release, input, overwrite, fork, evict.  Fault latency: the runtime's\n"
"fault thread, from taking a userfaultfd fault to resolving it.\n";

static const struct argp_option opts[] = {
	{ "pid", 'p', "PID", 0, "Observe this process only", 0 },
	{ "interval", 'i', "INTERVAL", 0, "Print every INTERVAL seconds (default 1)", 0 },
	{ "duration", 'd', "DURATION", 0, "Stop after DURATION seconds", 0 },
	{ "timestamp", 'T', NULL, 0, "Print a timestamp with each interval", 0 },
	{ "top", 't', "N", 0, "Show the N busiest call sites (default 10, 0: none)", 0 },
	{ "json", 'j', NULL, 0, "Print one JSON object per interval", 0 },
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
	case 'T':
		env.timestamp = true;
		break;
	case 'j':
		env.json = true;
		break;
	case 'p':
		if (zio_parse_long(arg, 1, INT_MAX, &v)) {
			pr_warn("zio-stat: invalid PID: %s\n", arg);
			argp_usage(state);
		}
		env.pid = (pid_t)v;
		break;
	case 'i':
		if (zio_parse_long(arg, 1, INT_MAX, &env.interval)) {
			pr_warn("zio-stat: invalid interval: %s\n", arg);
			argp_usage(state);
		}
		break;
	case 'd':
		if (zio_parse_long(arg, 1, INT_MAX, &env.duration)) {
			pr_warn("zio-stat: invalid duration: %s\n", arg);
			argp_usage(state);
		}
		break;
	case 't':
		if (zio_parse_long(arg, 0, 100000, &env.top)) {
			pr_warn("zio-stat: invalid --top: %s\n", arg);
			argp_usage(state);
		}
		break;
	case ARGP_KEY_ARG:
		if (env.nargs == 0) {
			if (zio_parse_long(arg, 1, INT_MAX, &env.interval)) {
				pr_warn("zio-stat: invalid interval: %s\n", arg);
				argp_usage(state);
			}
		} else if (env.nargs == 1) {
			if (zio_parse_long(arg, 1, LONG_MAX, &env.count)) {
				pr_warn("zio-stat: invalid count: %s\n", arg);
				argp_usage(state);
			}
		} else {
			pr_warn("zio-stat: unrecognized positional argument: %s\n", arg);
			argp_usage(state);
		}
		env.nargs++;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static volatile sig_atomic_t exiting;

static void sig_int(int signo)
{
	exiting = 1;
}

/*
 * Prints an interval every env.interval seconds until Ctrl-C, -d, COUNT
 * intervals or the end of -p PID (pidfd); prev holds the first snapshot
 * and is freed.  Returns 0 or -errno (message printed).
 */
static int stat_loop(struct zio_stat *s, struct zio_stat_snap *prev, int pidfd)
{
	const struct zio_stat_print_opts po = { .top = env.top, .timestamp = env.timestamp };
	struct zio_stat_snap cur = {}, delta = {};
	uint64_t last = zio_now_ms(), end = 0;
	long printed = 0;
	bool gone = false;
	int err = 0;

	if (env.duration)
		end = last + (uint64_t)env.duration * 1000;
	while (!exiting && !gone) {
		uint64_t next = last + (uint64_t)env.interval * 1000, now;

		if (end && end < next)
			next = end;
		gone = zio_stat__wait(next, pidfd, &exiting);
		now = zio_now_ms();
		err = zio_stat__read(s, &cur);
		if (err) {
			pr_warn("zio-stat: failed to read maps: %s\n", strerror(-err));
			break;
		}
		zio_stat__delta(&cur, prev, &delta);
		if (env.json)
			zio_stat__print_json(s, &delta, &po, (double)(now - last) / 1000);
		else
			zio_stat__print_text(s, &delta, &po);
		zio_stat__snap_free(&delta);
		zio_stat__snap_free(prev);
		*prev = cur;
		cur = (struct zio_stat_snap){};
		last = now;
		if ((env.count && ++printed >= env.count) || (end && now >= end))
			break;
		/* After printing: detaching from a process that exited waits
		 * for grace periods, which must not delay the output. */
		if (!env.pid)
			zio_stat__scan(s);
	}
	if (gone && !err)
		pr_debug("zio-stat: pid %d exited\n", (int)env.pid);
	zio_stat__snap_free(&cur);
	zio_stat__snap_free(prev);
	return err;
}

int main(int argc, char **argv)
{
	static const struct argp argp = {
		.options = opts,
		.parser = parse_arg,
		.doc = argp_program_doc,
		.args_doc = "[INTERVAL [COUNT]]",
	};
	struct zio_stat_snap prev = {};
	struct zio_stat *s = NULL;
	int pidfd = -1, err;
	size_t n;

	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		return err;
	/* libbpf's warnings by default (as bcc's tools), -v: our debug
	 * messages and libbpf's info, -vv: libbpf's debug messages */
	zio_print_init(ZIO_PR_INFO + env.verbose);
	signal(SIGINT, sig_int);
	signal(SIGTERM, sig_int);
	signal(SIGPIPE, SIG_IGN);

	/* Pins of observed programs that died with their observer. */
	err = zio_reap_pins();
	if (err > 0)
		pr_debug("zio-stat: removed %d stale pin directories\n", err);

	s = zio_stat__open();
	if (!s) {
		err = -errno;
		goto cleanup;
	}
	if (env.pid) {
		err = zio_stat__attach(s, env.pid, false);
		if (err)
			goto cleanup;
		pidfd = (int)syscall(SYS_pidfd_open, env.pid, 0);
		if (pidfd < 0) {
			err = -errno;
			pr_warn("zio-stat: failed to open pidfd of %d: %s\n", (int)env.pid,
				strerror(-err));
			goto cleanup;
		}
	} else {
		zio_stat__scan(s);
	}
	err = zio_stat__read(s, &prev);
	if (err) {
		pr_warn("zio-stat: failed to read maps: %s\n", strerror(-err));
		goto cleanup;
	}
	n = zio_stat__nr_pids(s);
	if (env.pid)
		fprintf(env.json ? stderr : stdout,
			"Tracing zio process %d... Hit Ctrl-C to end.\n", (int)env.pid);
	else
		fprintf(env.json ? stderr : stdout,
			"Tracing %zu zio process%s (new ones too)... Hit Ctrl-C to end.\n",
			n, n == 1 ? "" : "es");
	fflush(NULL);
	err = stat_loop(s, &prev, pidfd);

cleanup:
	zio_stat__snap_free(&prev);
	if (pidfd >= 0)
		close(pidfd);
	zio_stat__destroy(s);
	return err != 0;
}
