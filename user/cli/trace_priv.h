/* SPDX-License-Identifier: MIT */
/*
 * trace_priv.h - what trace.c, trace_target.c and trace_report.c share:
 * the tracer's state.  Nothing outside them includes it (zio-trace.c uses
 * trace_cli.h).  Names: zio_tracer__<verb>, as in trace_cli.h.
 */
#ifndef ZIO_CLI_TRACE_PRIV_H
#define ZIO_CLI_TRACE_PRIV_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "trace.h"
#include "trace_cli.h"
#include "syms.h"

#define MAX_LINKS 64
/* perf-event uprobes over every process followed (no uprobe_multi) */
#define MAX_ALL_LINKS (MAX_LINKS * 4)

/* The four BPF programs, each attached at a list of libc offsets. */
enum {
	PLAN_COPY,	/* zio_copy at the copy functions */
	PLAN_ENTER,	/* zio_io_enter at the IO functions */
	PLAN_EXIT,	/* zio_io_exit at their returns */
	PLAN_EXITCALL,	/* zio_exit at _exit (children only) */
	PLAN_MAX,
};

struct plan {
	__u64 offs[MAX_LINKS];
	__u64 cookies[MAX_LINKS];
	const char *names[MAX_LINKS];
	int nr;
};

struct zio_tracer {
	struct zio_tracer_opts o;
	struct trace_bpf *skel;
	struct plan plan[PLAN_MAX];
	struct bpf_link *links[MAX_ALL_LINKS];	/* one per offset and process, or ... */
	int nr_links;
	int multi_fds[PLAN_MAX * ZIO_TRACE_MAX_PROCS];	/* ... one per plan and process */
	int nr_multi;
	bool multi;			/* which of the two */
	/* the children followed (forks of a traced process) */
	struct bpf_link *fork_link;
	struct ring_buffer *forks;
	int nr_children;
	char libc_path[PATH_MAX + 32];	/* path to attach to */
	struct zio_elf *libc;
	struct zio_maps *self_maps;
	const struct zio_map *self_libc;
	dev_t libc_dev;			/* the target's libc */
	ino_t libc_ino;
	bool same_libc;
	void *self_handle;		/* our libc, for IFUNC resolution */
	/* the target */
	pid_t pid;
	pid_t child;			/* pid when zio-trace started it, else 0 */
	struct zio_maps *maps;		/* its newest maps: sites are named from them */
	char comm[64];
};

/* trace_target.c: starts o.argv or looks at o.pid (t->pid, t->child,
 * t->comm and a first snapshot).  Returns 0, or -errno with a message on
 * stderr. */
int zio_tracer__open_target(struct zio_tracer *t);

/*
 * trace.c: the name for the FUNC column of a call site whose BPF key says fn:
 * callee (the function the program called, from its PLT slot) when
 * zio-trace probes a function of that name of the same kind (copy, or
 * IO), else the probed entry point's name.  Returns a static string.
 */
const char *zio_tracer__fn_name(__u32 fn, const char *callee, bool copy);

#endif /* ZIO_CLI_TRACE_PRIV_H */
