/* SPDX-License-Identifier: MIT */
/*
 * trace_cli.h - zio-trace's side of bpf/trace.bpf.c: the tracer, which
 * finds the target's libc, plans the uprobes, loads and attaches the BPF
 * object (trace.c), follows the target while it runs (trace_target.c),
 * and prints the table of IO copy call sites (trace_report.c).
 *
 * Named trace_cli.h, not trace.h: include/trace.h is the layout of the
 * maps that bpf/trace.bpf.c and this code share (see steer_cli.h).
 *
 * Names: zio_tracer__<verb> on struct zio_tracer (see util.h).  Order of
 * use, as libbpf-bootstrap's: open (find libc, plan), attach (load, then
 * attach), start, poll, detach, report, destroy.
 */
#ifndef ZIO_CLI_TRACE_H
#define ZIO_CLI_TRACE_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include <linux/types.h>

struct zio_tracer;

struct zio_tracer_opts {
	pid_t pid;		/* trace this running process, or ... */
	char **argv;		/* ... start this program and trace it */
	__u64 threshold;	/* copies of at least this are elidable */
	__u64 min_input;	/* ignore smaller inputs */
	__u64 min_copy;		/* count only copies of at least this */
	bool json;		/* the report as JSON */
	bool no_multi;		/* one perf-event uprobe per function */
	bool no_follow;		/* trace the one process, not its children */
	__u64 ops;		/* operations the load made (0: count the inputs) */
};

/* What ends tracing early, set by zio-trace's signal handlers. */
struct zio_trace_stop {
	volatile sig_atomic_t exiting;		/* Ctrl-C, SIGTERM: a count */
	volatile sig_atomic_t timed_out;	/* -d DURATION ran out */
	volatile sig_atomic_t report_now;	/* SIGUSR1 */
};

/* trace.c */

/*
 * Opens a tracer of o->pid, or of o->argv, started here stopped before
 * its execve (so the probes are in place before its first instruction),
 * and plans the probes in its libc.  Returns the tracer, or NULL with
 * errno set and a message on stderr (a started program is killed then).
 */
struct zio_tracer *zio_tracer__open(const struct zio_tracer_opts *o);
/*
 * Loads the BPF object and attaches it: uprobe_multi links where the
 * kernel has them (6.6+), else one perf-event uprobe per offset.  Returns
 * 0, or -errno with a message on stderr.
 */
int zio_tracer__attach(struct zio_tracer *t);
/* Attaches to the children the traced processes forked since the last
 * call.  Returns nothing. */
void zio_tracer__follow(struct zio_tracer *t);
/* Removes the probes (concurrently: each waits for a grace period).
 * Returns nothing; a second call does nothing. */
void zio_tracer__detach(struct zio_tracer *t);
/* Detaches and frees; NULL is fine.  Returns nothing. */
void zio_tracer__destroy(struct zio_tracer *t);

/* trace_target.c */

/* Lets the target run: continues a started program, or says that tracing
 * has begun.  Returns 0, or -errno with a message on stderr. */
int zio_tracer__start(struct zio_tracer *t);
/*
 * Follows the target until it ends or stop ends tracing, keeping a fresh
 * snapshot of its maps (and printing the table so far on report_now).
 * Returns a started program's wait status, or -1 while it still runs (and
 * always for -p).
 */
int zio_tracer__poll(struct zio_tracer *t, struct zio_trace_stop *stop);
/*
 * Lets a program that zio-trace started run on to its end after the
 * report, continuing it from an exit stop that raced with the detach.
 * Returns its wait status, or -1 (-p, or waitpid failed).
 */
int zio_tracer__wait(struct zio_tracer *t);
/* Returns the pid of the program zio-trace started, or 0 (-p). */
pid_t zio_tracer__child(const struct zio_tracer *t);

/* trace_report.c */

/* Prints the table of IO copy call sites so far (text or JSON).  Returns
 * 0, or -errno (with a message on stderr when a map cannot be read). */
int zio_tracer__report(struct zio_tracer *t);
/* Starts a new table (SIGUSR1): drops the sites and copy totals, keeps
 * the IO data marks.  Returns nothing. */
void zio_tracer__reset(struct zio_tracer *t);

#endif /* ZIO_CLI_TRACE_H */
