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
 * is involved.  Layout follows bcc's libbpf-tools/opensnoop.c.
 *
 * memcpy and friends are IFUNCs in glibc: their .dynsym value is the
 * resolver, which runs once per process at relocation, so a probe there
 * sees no copies.  zio-trace asks its own dynamic linker for the
 * implementation (dlsym runs the resolver) and probes that file offset in
 * the target's libc when it is the same file (same device and inode) on
 * the same CPU, hence the same choice (e.g. __memmove_avx512_unaligned_erms
 * for both memcpy and memmove).  Entry points that share an
 * implementation are probed once; the _chk variants, which fall through
 * into it, are deduplicated in BPF.  The FUNC column names the function
 * the program called, read from the PLT slot its call goes through.
 *
 * Call sites are symbolised at the end, from the process's maps: -p PID
 * keeps a snapshot fresh while it polls; a child started with -- stops
 * itself at _exit (bpf_send_signal(SIGSTOP) in zio_exit) so its maps can
 * be read before they go, and is continued.  No ptrace: it would turn
 * signals the program ignores into interrupted system calls.
 */
#include <argp.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "trace.h"
#include "trace.skel.h"
#include "syms.h"
#include "util.h"

#define MAX_LINKS 64
/* enum bpf_attach_type of kernel 6.6+, missing from older uapi headers */
#define ZIO_BPF_TRACE_UPROBE_MULTI 48

static struct env {
	pid_t pid;
	long duration;
	__u64 threshold;
	__u64 min_input;
	__u64 min_copy;
	int verbose;
	bool json;
	bool no_multi;
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
"    zio-trace --min-copy 1024 -p 181  # hide copies under 1 KiB\n"
"    kill -USR1 $(pidof zio-trace)  # print the table so far, start anew\n"
"\n"
"KIND app: a copy of IO data inside the program; iostack: IO data handed to\n"
"an output call (the kernel copies it).  BYTES of an app site are its copy\n"
"sizes, of an iostack site the IO bytes output; IO-SHARE is BYTES over the\n"
"bytes of IO input; ELIDABLE counts the app copies >= the threshold.\n";

enum {
	OPT_THRESHOLD = 0x100,
	OPT_MIN_INPUT,
	OPT_MIN_COPY,
	OPT_NO_MULTI,
};

static const struct argp_option opts[] = {
	{ "pid", 'p', "PID", 0, "Trace this process", 0 },
	{ "duration", 'd', "DURATION", 0, "Trace for this many seconds", 0 },
	{ "threshold", OPT_THRESHOLD, "BYTES", 0,
	  "Copies of at least BYTES are elidable (default 16384)", 0 },
	{ "min-input", OPT_MIN_INPUT, "BYTES", 0,
	  "Ignore input calls returning fewer bytes (default 1)", 0 },
	{ "min-copy", OPT_MIN_COPY, "BYTES", 0,
	  "Count only copies of at least BYTES (default 1)", 0 },
	{ "json", 'j', NULL, 0, "Print JSON instead of a table", 0 },
	{ "no-multi", OPT_NO_MULTI, NULL, 0,
	  "One perf-event uprobe per function (as before kernel 6.6)", 0 },
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
	case 'p':
		if (zio_parse_long(arg, 1, INT_MAX, &v)) {
			fprintf(stderr, "zio-trace: invalid PID: %s\n", arg);
			argp_usage(state);
		}
		env.pid = v;
		break;
	case 'd':
		if (zio_parse_long(arg, 1, INT_MAX, &v)) {
			fprintf(stderr, "zio-trace: invalid duration: %s\n", arg);
			argp_usage(state);
		}
		env.duration = v;
		break;
	case OPT_THRESHOLD:
	case OPT_MIN_INPUT:
	case OPT_MIN_COPY:
		if (zio_parse_long(arg, 1, LONG_MAX, &v)) {
			fprintf(stderr, "zio-trace: invalid size: %s\n", arg);
			argp_usage(state);
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
			fprintf(stderr,
				"zio-trace: give either -p PID or -- PROGRAM\n");
			argp_usage(state);
		}
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static volatile sig_atomic_t exiting;
static volatile sig_atomic_t timed_out;
static volatile sig_atomic_t report_now;

static void sig_int(int signo)
{
	exiting++;
}

static void sig_alarm(int signo)
{
	timed_out = 1;
}

static void sig_chld(int signo)
{
}

static void sig_usr1(int signo)
{
	report_now = 1;
}

/* ---------------------------------------------------------------- probes */

struct probe_spec {
	const char *name;
	enum zio_trace_fn fn;
	enum zio_trace_argstyle style;
	bool out;
	bool copy;
	bool chk;
};

static const struct probe_spec probe_specs[] = {
	{ "memcpy",	   ZIO_FN_MEMCPY,      0,	    0, 1, 0 },
	{ "memmove",	   ZIO_FN_MEMMOVE,     0,	    0, 1, 0 },
	{ "mempcpy",	   ZIO_FN_MEMPCPY,     0,	    0, 1, 0 },
	{ "__memcpy_chk",  ZIO_FN_MEMCPY_CHK,  0,	    0, 1, 1 },
	{ "__memmove_chk", ZIO_FN_MEMMOVE_CHK, 0,	    0, 1, 1 },
	{ "read",	   ZIO_FN_READ,	       ZIO_ARG_BUF, 0, 0, 0 },
	{ "pread64",	   ZIO_FN_PREAD64,     ZIO_ARG_BUF, 0, 0, 0 },
	{ "recv",	   ZIO_FN_RECV,	       ZIO_ARG_BUF, 0, 0, 0 },
	{ "recvfrom",	   ZIO_FN_RECVFROM,    ZIO_ARG_BUF, 0, 0, 0 },
	{ "readv",	   ZIO_FN_READV,       ZIO_ARG_IOV, 0, 0, 0 },
	{ "preadv",	   ZIO_FN_PREADV,      ZIO_ARG_IOV, 0, 0, 0 },
	{ "recvmsg",	   ZIO_FN_RECVMSG,     ZIO_ARG_MSG, 0, 0, 0 },
	{ "write",	   ZIO_FN_WRITE,       ZIO_ARG_BUF, 1, 0, 0 },
	{ "pwrite64",	   ZIO_FN_PWRITE64,    ZIO_ARG_BUF, 1, 0, 0 },
	{ "send",	   ZIO_FN_SEND,	       ZIO_ARG_BUF, 1, 0, 0 },
	{ "sendto",	   ZIO_FN_SENDTO,      ZIO_ARG_BUF, 1, 0, 0 },
	{ "writev",	   ZIO_FN_WRITEV,      ZIO_ARG_IOV, 1, 0, 0 },
	{ "pwritev",	   ZIO_FN_PWRITEV,     ZIO_ARG_IOV, 1, 0, 0 },
	{ "sendmsg",	   ZIO_FN_SENDMSG,     ZIO_ARG_MSG, 1, 0, 0 },
};

static const char *fn_name(__u32 fn)
{
	size_t i;

	for (i = 0; i < sizeof(probe_specs) / sizeof(probe_specs[0]); i++)
		if (probe_specs[i].fn == fn)
			return probe_specs[i].name;
	return "?";
}

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

struct tracer {
	struct trace_bpf *skel;
	struct plan plan[PLAN_MAX];
	struct bpf_link *links[MAX_LINKS];	/* one per offset, or ... */
	int nr_links;
	int multi_fds[PLAN_MAX];		/* ... one per plan */
	int nr_multi;
	const char *libc_path;		/* path to attach to */
	struct zio_elf *libc;
	struct zio_maps *self_maps;
	const struct zio_map *self_libc;
	dev_t libc_dev;			/* the target's libc */
	ino_t libc_ino;
	bool same_libc;
	void *self_handle;		/* our libc, for IFUNC resolution */
};

struct offset_req {
	struct tracer *t;
	const struct probe_spec *spec;
	__u64 offs[4];
	int nr;
};

static void add_offset(struct offset_req *r, __u64 off)
{
	int i;

	for (i = 0; i < r->nr; i++)
		if (r->offs[i] == off)
			return;
	if (r->nr < (int)(sizeof(r->offs) / sizeof(r->offs[0])))
		r->offs[r->nr++] = off;
}

/* One .dynsym entry of the wanted name (every version: old binaries
 * call memcpy@GLIBC_2.2.5, a plain function, new ones the IFUNC). */
static void collect_offset(const struct zio_sym *s, void *arg)
{
	struct offset_req *r = arg;
	struct tracer *t = r->t;
	const struct zio_map *m;
	uint64_t off;
	void *addr;

	if (s->type == ZIO_SYM_FUNC) {
		if (!zio_elf__addr_to_off(t->libc, s->addr, &off))
			add_offset(r, off);
		return;
	}
	if (!t->same_libc || !t->self_handle) {
		fprintf(stderr, "zio-trace: cannot resolve IFUNC %s: the target "
			"does not use zio-trace's libc; its copies are missed\n",
			s->name);
		return;
	}
	/* dlsym runs the IFUNC resolver and returns the implementation. */
	addr = dlsym(t->self_handle, r->spec->name);
	m = addr ? zio_maps__find(t->self_maps, (__u64)addr) : NULL;
	if (!m || m->dev != t->self_libc->dev || m->ino != t->self_libc->ino) {
		fprintf(stderr, "zio-trace: failed to resolve IFUNC %s\n",
			s->name);
		return;
	}
	add_offset(r, (__u64)addr - m->start + m->pgoff);
}

static bool planned_before(struct tracer *t, __u64 off)
{
	int p, i;

	for (p = 0; p < PLAN_MAX; p++)
		for (i = 0; i < t->plan[p].nr; i++)
			if (t->plan[p].offs[i] == off)
				return true;
	return false;
}

static int plan_add(struct plan *pl, __u64 off, __u64 cookie,
		    const char *name)
{
	if (pl->nr >= MAX_LINKS)
		return -E2BIG;
	pl->offs[pl->nr] = off;
	pl->cookies[pl->nr] = cookie;
	pl->names[pl->nr] = name;
	pl->nr++;
	return 0;
}

static struct bpf_program *plan_prog(struct tracer *t, int p)
{
	switch (p) {
	case PLAN_COPY:
		return t->skel->progs.zio_copy;
	case PLAN_ENTER:
		return t->skel->progs.zio_io_enter;
	case PLAN_EXIT:
		return t->skel->progs.zio_io_exit;
	default:
		return t->skel->progs.zio_exit;
	}
}

static int attach_one(struct tracer *t, struct bpf_program *prog, pid_t pid,
		      __u64 off, __u64 cookie, bool ret, const char *name)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = cookie,
		    .retprobe = ret);
	struct bpf_link *link;
	int err;

	if (t->nr_links >= MAX_LINKS)
		return -E2BIG;
	link = bpf_program__attach_uprobe_opts(prog, pid, t->libc_path, off,
					       &uo);
	if (!link) {
		err = -errno;
		fprintf(stderr, "zio-trace: failed to attach %s to %s: %s\n",
			ret ? "uretprobe" : "uprobe", name, strerror(-err));
		return err;
	}
	t->links[t->nr_links++] = link;
	if (zio_print_on(ZIO_PR_DEBUG))
		fprintf(stderr, "zio-trace: %s %s at %s+0x%llx\n",
			ret ? "uretprobe" : "uprobe", name, t->libc_path,
			(unsigned long long)off);
	return 0;
}

/* Finds the target's libc and whether it is ours.  Returns 0 or -errno. */
static int tracer__find_libc(struct tracer *t, pid_t pid, bool own)
{
	const struct zio_map *m;
	struct zio_maps *target;
	static char path[PATH_MAX + 32];
	struct stat st;

	t->self_maps = zio_maps__load(getpid());
	if (!t->self_maps)
		return -errno;
	t->self_libc = zio_maps__find_file(t->self_maps, "libc.so");
	if (!t->self_libc)
		t->self_libc = zio_maps__find_file(t->self_maps, "libc-");
	t->self_handle = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);

	/* a child is still zio-trace's image until it execs */
	target = own ? t->self_maps : zio_maps__load(pid);
	if (!target)
		return -errno;
	m = zio_maps__find_file(target, "libc.so");
	if (!m)
		m = zio_maps__find_file(target, "libc-");
	if (!m) {
		if (target != t->self_maps)
			zio_maps__free(target);
		return -ENOENT;
	}
	t->libc_dev = m->dev;
	t->libc_ino = m->ino;
	/* through the target's root if it sees another file tree */
	snprintf(path, sizeof(path), "%s", m->path);
	if (!own && (stat(path, &st) || st.st_dev != m->dev ||
		     st.st_ino != m->ino))
		snprintf(path, sizeof(path), "/proc/%d/root%s", pid, m->path);
	if (target != t->self_maps)
		zio_maps__free(target);
	t->libc_path = path;
	t->same_libc = t->self_libc && t->self_libc->dev == t->libc_dev &&
		       t->self_libc->ino == t->libc_ino;
	t->libc = zio_elf__open(path);
	if (!t->libc)
		return -errno;
	return 0;
}

/* Lists the libc offsets of every probe of probe_specs (each offset
 * once: memmove shares memcpy's implementation, ...).  Returns 0 or
 * -errno. */
static int tracer__plan(struct tracer *t, bool child)
{
	size_t i;
	int j, err = 0;

	for (i = 0; i < sizeof(probe_specs) / sizeof(probe_specs[0]); i++) {
		const struct probe_spec *sp = &probe_specs[i];
		struct offset_req r = { .t = t, .spec = sp };
		__u64 cookie;

		zio_elf__for_each_named(t->libc, sp->name, collect_offset, &r);
		if (!r.nr && zio_print_on(ZIO_PR_DEBUG))
			fprintf(stderr, "zio-trace: no %s in %s\n", sp->name,
				t->libc_path);
		cookie = ZIO_TRACE_COOKIE(sp->fn, sp->style, sp->out);
		if (sp->chk)
			cookie |= ZIO_TRACE_COOKIE_CHK;
		for (j = 0; j < r.nr && !err; j++) {
			if (planned_before(t, r.offs[j]))
				continue;
			if (sp->copy) {
				err = plan_add(&t->plan[PLAN_COPY], r.offs[j],
					       cookie, sp->name);
				continue;
			}
			err = plan_add(&t->plan[PLAN_ENTER], r.offs[j], cookie,
				       sp->name);
			if (!err)
				err = plan_add(&t->plan[PLAN_EXIT], r.offs[j],
					       cookie, sp->name);
		}
		if (err)
			return err;
	}
	if (!t->plan[PLAN_COPY].nr) {
		fprintf(stderr, "zio-trace: failed to find the copy functions "
			"of %s\n", t->libc_path);
		return -ENOENT;
	}
	if (child) {
		static const struct probe_spec exit_spec = { .name = "_exit" };
		struct offset_req r = { .t = t, .spec = &exit_spec };

		zio_elf__for_each_named(t->libc, "_exit", collect_offset, &r);
		for (j = 0; j < r.nr && !err; j++)
			err = plan_add(&t->plan[PLAN_EXITCALL], r.offs[j], 0,
				       "_exit");
	}
	return err;
}

/* Opens and loads the BPF object; multi: for uprobe_multi links.
 * Returns 0 or -errno. */
static int tracer__load(struct tracer *t, bool child, bool multi)
{
	int p, err;

	t->skel = trace_bpf__open();
	if (!t->skel) {
		err = -errno;
		fprintf(stderr, "zio-trace: failed to open BPF skeleton: %s\n",
			strerror(-err));
		return err;
	}
	/* the exit stop is for children only (see zio_exit) */
	if (!child) {
		err = bpf_program__set_autoload(t->skel->progs.zio_exit, false);
		if (err) {
			fprintf(stderr, "zio-trace: failed to set autoload of "
				"zio_exit: %s\n", strerror(-err));
			return err;
		}
	}
	for (p = 0; multi && p < PLAN_MAX; p++) {
		err = bpf_program__set_expected_attach_type(plan_prog(t, p),
						ZIO_BPF_TRACE_UPROBE_MULTI);
		if (err) {
			fprintf(stderr, "zio-trace: failed to set attach type "
				"of %s: %s\n",
				bpf_program__name(plan_prog(t, p)),
				strerror(-err));
			return err;
		}
	}
	t->skel->rodata->threshold = env.threshold;
	t->skel->rodata->min_input = env.min_input;
	t->skel->rodata->min_copy = env.min_copy;
	err = trace_bpf__load(t->skel);
	if (err && !multi)
		fprintf(stderr, "zio-trace: failed to load BPF object: %s\n",
			strerror(-err));
	return err;
}

/*
 * One uprobe_multi link per program (kernel 6.6+): attaching and, above
 * all, detaching many uprobes one perf event at a time waits a grace
 * period for each (~100 ms: 3 s for 30 probes); a multi link waits once.
 * libbpf 1.1 cannot create one, hence the raw BPF_LINK_CREATE.
 * Returns 0 or -errno.
 */
static int tracer__attach_multi(struct tracer *t, pid_t pid)
{
	union {
		union bpf_attr attr;
		struct {
			__u32 prog_fd;
			__u32 target_fd;
			__u32 attach_type;
			__u32 flags;
			__u64 path;
			__u64 offsets;
			__u64 ref_ctr_offsets;
			__u64 cookies;
			__u32 cnt;
			__u32 multi_flags;
			__u32 pid;
		} um;
		char pad[256];
	} a;
	int p, fd;

	for (p = 0; p < PLAN_MAX; p++) {
		struct plan *pl = &t->plan[p];

		if (!pl->nr)
			continue;
		memset(&a, 0, sizeof(a));
		fd = bpf_program__fd(plan_prog(t, p));
		if (fd < 0)
			return fd;
		a.um.prog_fd = fd;
		a.um.attach_type = ZIO_BPF_TRACE_UPROBE_MULTI;
		a.um.path = (__u64)(unsigned long)t->libc_path;
		a.um.offsets = (__u64)(unsigned long)pl->offs;
		a.um.cookies = (__u64)(unsigned long)pl->cookies;
		a.um.cnt = pl->nr;
		a.um.multi_flags = p == PLAN_EXIT ? 1 /* RETURN */ : 0;
		a.um.pid = pid;
		fd = syscall(__NR_bpf, BPF_LINK_CREATE, &a, sizeof(a));
		if (fd < 0)
			return -errno;
		t->multi_fds[t->nr_multi++] = fd;
		if (zio_print_on(ZIO_PR_DEBUG)) {
			int i;

			for (i = 0; i < pl->nr; i++)
				fprintf(stderr, "zio-trace: %s %s at %s+0x%llx\n",
					p == PLAN_EXIT ? "uretprobe" : "uprobe",
					pl->names[i], t->libc_path,
					(unsigned long long)pl->offs[i]);
		}
	}
	return 0;
}

/* One perf-event uprobe per offset.  Returns 0 or -errno. */
static int tracer__attach(struct tracer *t, pid_t pid)
{
	int p, i, err;

	for (p = 0; p < PLAN_MAX; p++) {
		struct plan *pl = &t->plan[p];

		for (i = 0; i < pl->nr; i++) {
			err = attach_one(t, plan_prog(t, p), pid, pl->offs[i],
					 pl->cookies[i], p == PLAN_EXIT,
					 pl->names[i]);
			if (err)
				return err;
		}
	}
	return 0;
}

static void *destroy_link(void *link)
{
	bpf_link__destroy(link);
	return NULL;
}

/*
 * Removing a uprobe waits for a grace period (~100 ms here), one link
 * after the other: 30 links take 3 s.  Removed from threads, the waits
 * overlap.  Falls back to one by one when a thread cannot start.
 */
static void tracer__detach(struct tracer *t)
{
	pthread_t tids[MAX_LINKS];
	bool started[MAX_LINKS] = {};
	int i;

	for (i = 0; i < t->nr_links; i++)
		started[i] = !pthread_create(&tids[i], NULL, destroy_link,
					     t->links[i]);
	for (i = 0; i < t->nr_links; i++) {
		if (started[i])
			pthread_join(tids[i], NULL);
		else
			bpf_link__destroy(t->links[i]);
	}
	t->nr_links = 0;
	while (t->nr_multi > 0)
		close(t->multi_fds[--t->nr_multi]);
}

/* ---------------------------------------------------------------- report */

struct row {
	struct zio_trace_site_key key;
	struct zio_trace_site_val val;
	char site[256];
	char bin[128];
	const char *fn;
};

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->key.kind != y->key.kind)
		return x->key.kind < y->key.kind ? -1 : 1;
	if (x->val.bytes != y->val.bytes)
		return x->val.bytes > y->val.bytes ? -1 : 1;
	return x->key.ip < y->key.ip ? -1 : x->key.ip > y->key.ip;
}

/* The name the program called, when its call goes through a PLT slot of
 * a function zio-trace probes; else the probed entry point's name. */
static const char *row_fn(struct zio_syms *syms, const struct zio_maps *maps,
			  const struct row *r)
{
	const char *callee = zio_syms__plt_callee(syms, maps, r->key.ip);
	size_t i;

	for (i = 0; callee && i < sizeof(probe_specs) / sizeof(probe_specs[0]);
	     i++) {
		bool copy = r->key.kind == ZIO_TRACE_APP;

		if (probe_specs[i].copy == copy &&
		    !strcmp(probe_specs[i].name, callee))
			return probe_specs[i].name;
	}
	return fn_name(r->key.fn);
}

static int print_report(struct trace_bpf *skel, const struct zio_maps *maps,
			pid_t pid, const char *comm, const char *libc_name)
{
	const struct zio_trace_totals *tot = &skel->bss->totals;
	struct zio_trace_site_key key, next, *prev = NULL;
	struct row *rows = NULL, *r;
	size_t nr = 0, i, n_app = 0, n_io = 0, n_el = 0;
	__u64 app_calls = 0, el_calls = 0, el_bytes = 0;
	struct zio_syms *syms;
	int fd = bpf_map__fd(skel->maps.sites), err = 0;

	if (fd < 0) {
		fprintf(stderr, "zio-trace: failed to get the sites map: %s\n",
			strerror(-fd));
		return fd;
	}
	syms = zio_syms__new();
	if (!syms)
		return -ENOMEM;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		r = realloc(rows, (nr + 1) * sizeof(*rows));
		if (!r) {
			err = -ENOMEM;
			goto out;
		}
		rows = r;
		r = &rows[nr];
		memset(r, 0, sizeof(*r));
		r->key = next;
		if (bpf_map_lookup_elem(fd, &next, &r->val)) {
			err = -errno;
			fprintf(stderr, "zio-trace: failed to look up site: %s\n",
				strerror(-err));
			goto out;
		}
		nr++;
		key = next;
		prev = &key;
	}
	if (errno != ENOENT) {	/* the walk ends in ENOENT, else it failed */
		err = -errno;
		fprintf(stderr, "zio-trace: failed to walk sites: %s\n",
			strerror(-err));
		goto out;
	}
	for (i = 0; i < nr; i++) {
		r = &rows[i];
		zio_syms__symbolise(syms, maps, r->key.ip, r->site,
				    sizeof(r->site), r->bin, sizeof(r->bin));
		r->fn = row_fn(syms, maps, r);
		if (r->key.kind == ZIO_TRACE_APP) {
			n_app++;
			n_el += r->val.elide_calls != 0;
			app_calls += r->val.calls;
			el_calls += r->val.elide_calls;
			el_bytes += r->val.elide_bytes;
		} else {
			n_io++;
		}
	}
	qsort(rows, nr, sizeof(*rows), row_cmp);

	if (env.json) {
		printf("{\"pid\":%d,\"comm\":", (int)pid);
		zio_print_json_str(comm);
		printf(",\"threshold\":%llu,\"io_input_bytes\":%llu,"
		       "\"io_input_calls\":%llu,\"copies\":%llu,"
		       "\"io_copies\":%llu,\"lost\":%llu,\"sites\":[",
		       (unsigned long long)env.threshold,
		       (unsigned long long)tot->in_bytes,
		       (unsigned long long)tot->in_calls,
		       (unsigned long long)tot->copies,
		       (unsigned long long)tot->io_copies,
		       (unsigned long long)tot->lost);
		for (i = 0; i < nr; i++) {
			r = &rows[i];
			printf("%s{\"kind\":\"%s\",\"fn\":\"%s\",\"site\":",
			       i ? "," : "",
			       r->key.kind == ZIO_TRACE_APP ? "app" : "iostack",
			       r->fn);
			zio_print_json_str(r->site);
			printf(",\"binary\":");
			zio_print_json_str(r->bin);
			printf(",\"ip\":%llu,\"calls\":%llu,\"bytes\":%llu,"
			       "\"elidable_calls\":%llu,\"elidable_bytes\":%llu}",
			       (unsigned long long)r->key.ip,
			       (unsigned long long)r->val.calls,
			       (unsigned long long)r->val.bytes,
			       (unsigned long long)r->val.elide_calls,
			       (unsigned long long)r->val.elide_bytes);
		}
		printf("],\"summary\":{\"app_sites\":%zu,\"iostack_sites\":%zu,"
		       "\"elidable_sites\":%zu,"
		       "\"app_copies\":%llu,\"elidable_copies\":%llu,"
		       "\"elidable_bytes\":%llu}}\n", n_app, n_io, n_el,
		       (unsigned long long)app_calls,
		       (unsigned long long)el_calls,
		       (unsigned long long)el_bytes);
		goto out;
	}

	printf("IO copy call sites of PID %d (%s), threshold %llu\n", (int)pid,
	       comm, (unsigned long long)env.threshold);
	printf("IO input: %llu bytes in %llu calls; copies seen: %llu, of IO "
	       "data: %llu\n", (unsigned long long)tot->in_bytes,
	       (unsigned long long)tot->in_calls,
	       (unsigned long long)tot->copies,
	       (unsigned long long)tot->io_copies);
	printf("  %-8s %-13s %-44s %8s %12s %9s %9s\n", "KIND", "FUNC",
	       "CALL SITE", "CALLS", "BYTES", "IO-SHARE", "ELIDABLE");
	for (i = 0; i < nr; i++) {
		char where[sizeof(r->site) + sizeof(r->bin) + 4], el[24];
		double share;

		r = &rows[i];
		snprintf(where, sizeof(where), "%s (%s)", r->site, r->bin);
		share = tot->in_bytes ? 100.0 * r->val.bytes / tot->in_bytes : 0;
		if (r->key.kind == ZIO_TRACE_APP)
			snprintf(el, sizeof(el), "%llu",
				 (unsigned long long)r->val.elide_calls);
		else
			snprintf(el, sizeof(el), "-");
		printf("  %-8s %-13s %-44s %8llu %12llu %8.1f%% %9s\n",
		       r->key.kind == ZIO_TRACE_APP ? "app" : "iostack", r->fn,
		       where, (unsigned long long)r->val.calls,
		       (unsigned long long)r->val.bytes, share, el);
	}
	printf("summary: app copy sites=%zu io-stack sites=%zu; zio would elide "
	       "%llu of %llu copies (%llu bytes) at threshold %llu, at %zu "
	       "sites\n", n_app, n_io, (unsigned long long)el_calls,
	       (unsigned long long)app_calls, (unsigned long long)el_bytes,
	       (unsigned long long)env.threshold, n_el);
	if (tot->lost || tot->truncated)
		printf("warning: %llu map updates lost, %llu ranges truncated\n",
		       (unsigned long long)tot->lost,
		       (unsigned long long)tot->truncated);
	if (!tot->copies && !tot->in_calls)
		printf("warning: no copy or input call seen (an idle "
		       "program, a static binary, or another libc than %s?)\n",
		       libc_name);
out:
	fflush(stdout);
	free(rows);
	zio_syms__free(syms);
	return err;
}

/* Starts a new table (SIGUSR1): drops the sites and copy totals, keeps
 * the IO data marks, so the next phase of a program is seen on its own. */
static void reset_counts(struct trace_bpf *skel)
{
	int fd = bpf_map__fd(skel->maps.sites);
	struct zio_trace_site_key key;

	while (fd >= 0 && !bpf_map_get_next_key(fd, NULL, &key))
		if (bpf_map_delete_elem(fd, &key))
			break;
	/* IO input stays: its data is still marked, and later copies of
	 * it are shares of it */
	skel->bss->totals.copies = 0;
	skel->bss->totals.io_copies = 0;
	skel->bss->totals.out_calls = 0;
}

/* ---------------------------------------------------------------- target */

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

/* Keeps the newest maps of pid: call sites are symbolised after exit. */
static void snapshot(pid_t pid, struct zio_maps **maps, char *comm, size_t sz)
{
	struct zio_maps *m = zio_maps__load(pid);

	if (!m)
		return;
	zio_maps__free(*maps);
	*maps = m;
	read_comm(pid, comm, sz);
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
		fprintf(stderr, "zio-trace: failed to exec %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &st, WUNTRACED) != pid || !WIFSTOPPED(st)) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return -ECHILD;
	}
	return pid;
}

/* Whether pid has exited (a zombie counts: its maps are gone). */
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

/*
 * Polls the traced process until it ends or tracing does (Ctrl-C, the
 * duration), keeping a fresh snapshot of its maps.  A child of ours stops
 * itself at _exit (zio_exit in trace.bpf.c): snapshot, then continue it.
 * Returns the child's wait status, or -1 when it still runs (or is not
 * a child).
 */
static int trace_loop(struct tracer *t, pid_t pid, bool child,
		      struct zio_maps **maps, char *comm, size_t sz)
{
	struct trace_bpf *skel = t->skel;
	__u64 stops_seen = 0;
	int st;

	for (;;) {
		struct timespec ts = { .tv_nsec = 200 * 1000 * 1000 };

		if (child) {
			pid_t r = waitpid(pid, &st, WNOHANG | WUNTRACED);

			if (r == pid && (WIFEXITED(st) || WIFSIGNALED(st)))
				return st;
			if (r == pid && WIFSTOPPED(st)) {
				if (skel->bss->exit_stops != stops_seen) {
					stops_seen = skel->bss->exit_stops;
					snapshot(pid, maps, comm, sz);
					kill(pid, SIGCONT);
				}
				continue;
			}
		} else if (proc_gone(pid)) {
			return -1;	/* keep the last maps */
		}
		/* a child gets Ctrl-C too: give it a chance to exit first */
		if (timed_out || exiting > (child ? 1 : 0))
			return -1;
		snapshot(pid, maps, comm, sz);
		if (report_now) {
			report_now = 0;
			print_report(skel, *maps, pid, comm, t->libc_path);
			reset_counts(skel);
		}
		nanosleep(&ts, NULL);	/* SIGCHLD cuts it short */
	}
}

int main(int argc, char **argv)
{
	static const struct argp argp = {
		.options = opts,
		.parser = parse_arg,
		.doc = argp_program_doc,
	};
	struct tracer t = {};
	struct zio_maps *maps = NULL;
	struct sigaction sa = {};
	char comm[64] = "?";
	pid_t pid, child = 0;
	int err, st = -1, ret;

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

	if (env.argv) {
		child = spawn_stopped(env.argv);
		if (child < 0) {
			fprintf(stderr, "zio-trace: failed to start %s: %s\n",
				env.argv[0], strerror(-child));
			return 1;
		}
		pid = child;
		snprintf(comm, sizeof(comm), "%s", env.argv[0]);
		if (strrchr(env.argv[0], '/'))
			snprintf(comm, sizeof(comm), "%s",
				 strrchr(env.argv[0], '/') + 1);
	} else {
		pid = env.pid;
		snapshot(pid, &maps, comm, sizeof(comm));
	}

	err = tracer__find_libc(&t, pid, child != 0);
	if (err) {
		fprintf(stderr, "zio-trace: failed to find the libc of PID %d: %s\n",
			(int)pid, strerror(-err));
		goto cleanup;
	}

	err = tracer__plan(&t, child != 0);
	if (err)
		goto cleanup;
	/* uprobe_multi links where the kernel has them, else perf events */
	err = env.no_multi ? -EOPNOTSUPP : tracer__load(&t, child != 0, true);
	if (!err)
		err = tracer__attach_multi(&t, pid);
	if (err) {
		if (zio_print_on(ZIO_PR_DEBUG))
			fprintf(stderr, "zio-trace: no uprobe_multi links (%s), "
				"attaching one uprobe at a time\n",
				strerror(-err));
		tracer__detach(&t);
		trace_bpf__destroy(t.skel);
		err = tracer__load(&t, child != 0, false);
		if (!err)
			err = tracer__attach(&t, pid);
		if (err)
			goto cleanup;
	}

	if (env.duration)
		alarm(env.duration);
	if (child) {
		if (kill(child, SIGCONT)) {
			err = -errno;
			fprintf(stderr, "zio-trace: failed to start PID %d: %s\n",
				(int)child, strerror(-err));
			goto cleanup;
		}
	} else if (!env.json) {
		fprintf(stderr, "Tracing PID %d (%s)... Hit Ctrl-C to end.\n",
			(int)pid, comm);
	}
	st = trace_loop(&t, pid, child != 0, &maps, comm, sizeof(comm));

	tracer__detach(&t);
	err = print_report(t.skel, maps, pid, comm, t.libc_path);
	if (err)
		fprintf(stderr, "zio-trace: failed to print report: %s\n",
			strerror(-err));
	if (child && st == -1 && exiting < 2) {
		/* the report is out; let the program run on to its end (and
		 * on from an exit stop that raced with the detach) */
		for (;;) {
			if (waitpid(child, &st, WUNTRACED) < 0) {
				if (errno == EINTR)
					continue;
				st = -1;
				break;
			}
			if (!WIFSTOPPED(st))
				break;
			kill(child, SIGCONT);
		}
	}

cleanup:
	tracer__detach(&t);
	trace_bpf__destroy(t.skel);
	zio_elf__close(t.libc);
	zio_maps__free(t.self_maps);
	if (t.self_handle)
		dlclose(t.self_handle);
	zio_maps__free(maps);
	if (child) {
		if (err && st == -1) {
			kill(child, SIGKILL);
			waitpid(child, &st, 0);
		}
		ret = st == -1 ? 1 : zio_exit_code(st);
		return err ? 1 : ret;
	}
	return err != 0;
}
