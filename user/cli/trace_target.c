// SPDX-License-Identifier: MIT
/*
 * trace_target.c - the process zio-trace traces: started here (stopped
 * until the probes are in place) or found by -p, followed while it runs
 * with a fresh snapshot of its maps (call sites are named from the last
 * one, after it exited), and let run on after the report.  See
 * trace_cli.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "trace.h"
#include "trace.skel.h"
#include "trace_priv.h"
#include "util.h"

/* ---------------------------------------------------------------- target */

/* Reads the comm of pid into buf.  Returns nothing: buf stays as it was
 * when pid is gone. */
static void read_comm(pid_t pid, char *buf, size_t sz)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(buf, sz, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* Keeps the newest maps of the target: call sites are symbolised after
 * exit.  Returns nothing: the last snapshot stays when pid is gone. */
static void snapshot(struct zio_tracer *t)
{
	struct zio_maps *m = zio_maps__load(t->pid);

	if (!m)
		return;
	zio_maps__free(t->maps);
	t->maps = m;
	read_comm(t->pid, t->comm, sizeof(t->comm));
}

/*
 * Forks the program, stopped (SIGSTOP) before execve, so the probes are in
 * place before its first instruction; they stay across execve since they
 * follow the PID.  Returns the PID or -errno.
 */
static pid_t spawn_stopped(char **argv)
{
	pid_t pid;
	int st;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		raise(SIGSTOP);
		execvp(argv[0], argv);
		pr_warn("zio-trace: failed to exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &st, WUNTRACED) != pid || !WIFSTOPPED(st)) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return -ECHILD;
	}
	return pid;
}

/* Returns whether pid has exited (a zombie counts: its maps are gone). */
static bool proc_gone(pid_t pid)
{
	char path[64], buf[256], *p;
	bool gone = true;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	/* "pid (comm) S ...": comm may hold spaces and parentheses */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1])
		gone = p[2] == 'Z' || p[2] == 'X';
	fclose(f);
	return gone;
}

int zio_tracer__open_target(struct zio_tracer *t)
{
	const char *slash;
	pid_t child;

	snprintf(t->comm, sizeof(t->comm), "?");
	if (!t->o.argv) {
		t->pid = t->o.pid;
		snapshot(t);
		return 0;
	}
	child = spawn_stopped(t->o.argv);
	if (child < 0) {
		pr_warn("zio-trace: failed to start %s: %s\n", t->o.argv[0], strerror(-child));
		return child;
	}
	t->pid = t->child = child;
	slash = strrchr(t->o.argv[0], '/');
	snprintf(t->comm, sizeof(t->comm), "%s", slash ? slash + 1 : t->o.argv[0]);
	return 0;
}

/* ---------------------------------------------------------------- run */

int zio_tracer__start(struct zio_tracer *t)
{
	int err;

	if (!t->child) {
		if (!t->o.json)
			fprintf(stderr, "Tracing PID %d (%s)... Hit Ctrl-C to end.\n", (int)t->pid,
				t->comm);
		return 0;
	}
	if (kill(t->child, SIGCONT)) {
		err = -errno;
		pr_warn("zio-trace: failed to start PID %d: %s\n", (int)t->child, strerror(-err));
		return err;
	}
	return 0;
}

/*
 * A child of ours stops itself at _exit (zio_exit in trace.bpf.c):
 * snapshot, then continue it.
 */
int zio_tracer__poll(struct zio_tracer *t, struct zio_trace_stop *stop)
{
	__u64 stops_seen = 0;
	int st;

	for (;;) {
		struct timespec ts = { .tv_nsec = 200 * 1000 * 1000 };

		if (t->child) {
			pid_t r = waitpid(t->child, &st, WNOHANG | WUNTRACED);

			if (r == t->child && (WIFEXITED(st) || WIFSIGNALED(st)))
				return st;
			if (r == t->child && WIFSTOPPED(st)) {
				if (t->skel->bss->exit_stops != stops_seen) {
					stops_seen = t->skel->bss->exit_stops;
					snapshot(t);
					kill(t->child, SIGCONT);
				}
				continue;
			}
		} else if (proc_gone(t->pid)) {
			return -1;	/* keep the last maps */
		}
		/* a child gets Ctrl-C too: give it a chance to exit first */
		if (stop->timed_out || stop->exiting > (t->child ? 1 : 0))
			return -1;
		snapshot(t);
		zio_tracer__follow(t);
		if (stop->report_now) {
			stop->report_now = 0;
			zio_tracer__report(t);
			zio_tracer__reset(t);
		}
		nanosleep(&ts, NULL);	/* SIGCHLD cuts it short */
	}
}

int zio_tracer__wait(struct zio_tracer *t)
{
	int st;

	if (!t->child)
		return -1;
	for (;;) {
		if (waitpid(t->child, &st, WUNTRACED) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (!WIFSTOPPED(st))
			return st;
		kill(t->child, SIGCONT);
	}
}

pid_t zio_tracer__child(const struct zio_tracer *t)
{
	return t->child;
}
