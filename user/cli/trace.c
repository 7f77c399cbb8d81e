// SPDX-License-Identifier: MIT
/*
 * trace.c - zio-trace's tracer: finds the target's libc, plans and
 * attaches the uprobes of bpf/trace.bpf.c, and follows the target while
 * it runs.  The table is trace_report.c's.  See trace_cli.h.
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
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
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
#include "trace_priv.h"
#include "util.h"

/* enum bpf_attach_type of kernel 6.6+, missing from older uapi headers */
#define ZIO_BPF_TRACE_UPROBE_MULTI 48

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

#define NR_SPECS (sizeof(probe_specs) / sizeof(probe_specs[0]))

const char *zio_tracer__fn_name(__u32 fn, const char *callee, bool copy)
{
	size_t i;

	for (i = 0; callee && i < NR_SPECS; i++)
		if (probe_specs[i].copy == copy && !strcmp(probe_specs[i].name, callee))
			return probe_specs[i].name;
	for (i = 0; i < NR_SPECS; i++)
		if (probe_specs[i].fn == fn)
			return probe_specs[i].name;
	return "?";
}

/* ---------------------------------------------------------------- libc */

/* Finds the target's libc and whether it is ours.  Returns 0 or -errno. */
static int find_libc(struct zio_tracer *t, pid_t pid, bool own)
{
	const struct zio_map *m;
	struct zio_maps *target;
	char *path = t->libc_path;
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
	snprintf(path, sizeof(t->libc_path), "%s", m->path);
	if (!own && (stat(path, &st) || st.st_dev != m->dev ||
		     st.st_ino != m->ino))
		snprintf(path, sizeof(t->libc_path), "/proc/%d/root%s", pid, m->path);
	if (target != t->self_maps)
		zio_maps__free(target);
	t->same_libc = t->self_libc && t->self_libc->dev == t->libc_dev &&
		       t->self_libc->ino == t->libc_ino;
	t->libc = zio_elf__open(path);
	if (!t->libc)
		return -errno;
	return 0;
}

/* ---------------------------------------------------------------- plan */

struct offset_req {
	struct zio_tracer *t;
	const struct probe_spec *spec;
	__u64 offs[4];
	int nr;
};

/* Adds off to r unless it is there or r is full.  Returns nothing. */
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
 * call memcpy@GLIBC_2.2.5, a plain function, new ones the IFUNC): its
 * offset into r.  Returns nothing; an IFUNC it cannot resolve is said. */
static void collect_offset(const struct zio_sym *s, void *arg)
{
	struct offset_req *r = arg;
	struct zio_tracer *t = r->t;
	const struct zio_map *m;
	uint64_t off;
	void *addr;

	if (s->type == ZIO_SYM_FUNC) {
		if (!zio_elf__addr_to_off(t->libc, s->addr, &off))
			add_offset(r, off);
		return;
	}
	if (!t->same_libc || !t->self_handle) {
		pr_warn("zio-trace: cannot resolve IFUNC %s: the target "
			"does not use zio-trace's libc; its copies are missed\n",
			s->name);
		return;
	}
	/* dlsym runs the IFUNC resolver and returns the implementation. */
	addr = dlsym(t->self_handle, r->spec->name);
	m = addr ? zio_maps__find(t->self_maps, (__u64)addr) : NULL;
	if (!m || m->dev != t->self_libc->dev || m->ino != t->self_libc->ino) {
		pr_warn("zio-trace: failed to resolve IFUNC %s\n",
			s->name);
		return;
	}
	add_offset(r, (__u64)addr - m->start + m->pgoff);
}

/* Returns whether some plan has off already. */
static bool planned_before(struct zio_tracer *t, __u64 off)
{
	int p, i;

	for (p = 0; p < PLAN_MAX; p++)
		for (i = 0; i < t->plan[p].nr; i++)
			if (t->plan[p].offs[i] == off)
				return true;
	return false;
}

/* Returns 0, or -E2BIG when the plan is full. */
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

/* Lists the libc offsets of every probe of probe_specs (each offset
 * once: memmove shares memcpy's implementation, ...).  Returns 0 or
 * -errno. */
static int plan_probes(struct zio_tracer *t, bool child)
{
	size_t i;
	int j, err = 0;

	for (i = 0; i < NR_SPECS; i++) {
		const struct probe_spec *sp = &probe_specs[i];
		struct offset_req r = { .t = t, .spec = sp };
		__u64 cookie;

		zio_elf__for_each_named(t->libc, sp->name, collect_offset, &r);
		if (!r.nr)
			pr_debug("zio-trace: no %s in %s\n", sp->name, t->libc_path);
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
		pr_warn("zio-trace: failed to find the copy functions "
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

/* ---------------------------------------------------------------- bpf */

/* Returns the BPF program of plan p. */
static struct bpf_program *plan_prog(struct zio_tracer *t, int p)
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

/* Opens and loads the BPF object; multi: for uprobe_multi links.
 * Returns 0 or -errno. */
static int load_bpf(struct zio_tracer *t, bool child, bool multi)
{
	int p, err;

	t->skel = trace_bpf__open();
	if (!t->skel) {
		err = -errno;
		pr_warn("zio-trace: failed to open BPF skeleton: %s\n",
			strerror(-err));
		return err;
	}
	/* the exit stop is for children only (see zio_exit) */
	if (!child) {
		err = bpf_program__set_autoload(t->skel->progs.zio_exit, false);
		if (err) {
			pr_warn("zio-trace: failed to set autoload of "
				"zio_exit: %s\n", strerror(-err));
			return err;
		}
	}
	for (p = 0; multi && p < PLAN_MAX; p++) {
		err = bpf_program__set_expected_attach_type(plan_prog(t, p),
						ZIO_BPF_TRACE_UPROBE_MULTI);
		if (err) {
			pr_warn("zio-trace: failed to set attach type "
				"of %s: %s\n",
				bpf_program__name(plan_prog(t, p)),
				strerror(-err));
			return err;
		}
	}
	t->skel->rodata->threshold = t->o.threshold;
	t->skel->rodata->min_input = t->o.min_input;
	t->skel->rodata->min_copy = t->o.min_copy;
	err = trace_bpf__load(t->skel);
	if (err && !multi)
		pr_warn("zio-trace: failed to load BPF object: %s\n",
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
static int attach_multi(struct zio_tracer *t, pid_t pid, bool exitcall)
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

		if (!pl->nr || (p == PLAN_EXITCALL && !exitcall))
			continue;
		if (t->nr_multi == PLAN_MAX * ZIO_TRACE_MAX_PROCS)
			return -E2BIG;
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
		for (int i = 0; i < pl->nr; i++)
			pr_debug("zio-trace: %s %s at %s+0x%llx\n",
				 p == PLAN_EXIT ? "uretprobe" : "uprobe", pl->names[i],
				 t->libc_path, (unsigned long long)pl->offs[i]);
	}
	return 0;
}

/* One perf-event uprobe of prog at off.  Returns 0, or -errno with a
 * message on stderr. */
static int attach_one(struct zio_tracer *t, struct bpf_program *prog, pid_t pid,
		      __u64 off, __u64 cookie, bool ret, const char *name)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = cookie,
		    .retprobe = ret);
	struct bpf_link *link;
	int err;

	if (t->nr_links >= MAX_ALL_LINKS)
		return -E2BIG;
	link = bpf_program__attach_uprobe_opts(prog, pid, t->libc_path, off,
					       &uo);
	if (!link) {
		err = -errno;
		pr_warn("zio-trace: failed to attach %s to %s: %s\n",
			ret ? "uretprobe" : "uprobe", name, strerror(-err));
		return err;
	}
	t->links[t->nr_links++] = link;
	pr_debug("zio-trace: %s %s at %s+0x%llx\n", ret ? "uretprobe" : "uprobe", name,
		 t->libc_path, (unsigned long long)off);
	return 0;
}

/* One perf-event uprobe per offset (exitcall: the _exit stop too).
 * Returns 0 or -errno. */
static int attach_each(struct zio_tracer *t, pid_t pid, bool exitcall)
{
	int p, i, err;

	for (p = 0; p < PLAN_MAX; p++) {
		struct plan *pl = &t->plan[p];

		if (p == PLAN_EXITCALL && !exitcall)
			continue;
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

/* pthread start routine: destroys link.  Returns NULL. */
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
void zio_tracer__detach(struct zio_tracer *t)
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
	ring_buffer__free(t->forks);
	t->forks = NULL;
	bpf_link__destroy(t->fork_link);
	t->fork_link = NULL;
}

/* A traced process forked pid (the forks ring): trace it too.  Its _exit
 * does not stop (only our own child's does).  Returns 0 (a child that
 * cannot be traced is said once and left alone). */
static int on_fork(void *ctx, void *data, size_t len)
{
	struct zio_tracer *t = ctx;
	pid_t pid = (pid_t)*(__u32 *)data;
	int err;

	(void)len;
	err = t->multi ? attach_multi(t, pid, false) : attach_each(t, pid, false);
	if (err) {
		/* a child that is gone already had nothing left to trace */
		if (err == -ESRCH)
			pr_debug("zio-trace: child PID %d exited before it could be followed\n",
				 (int)pid);
		else
			pr_warn("zio-trace: failed to follow child PID %d: %s\n", (int)pid,
				strerror(-err));
		return 0;
	}
	t->nr_children++;
	pr_debug("zio-trace: following child PID %d\n", (int)pid);
	return 0;
}

/* The children pid has now (their children too): traced and announced as
 * if they had just forked.  Returns nothing. */
static void follow_existing(struct zio_tracer *t, pid_t pid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[64], buf[512], *p;
		long v;
		FILE *f;
		int ppid = 0;

		if (zio_parse_long(e->d_name, 1, INT_MAX, &v) || v == pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", v);
		f = fopen(path, "r");
		if (!f)
			continue;
		/* pid (comm) state ppid ...: comm may hold spaces */
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
			sscanf(p + 2, "%*c %d", &ppid);
		fclose(f);
		if (ppid == pid) {
			__u32 key = (__u32)v;
			__u8 one = 1;

			bpf_map__update_elem(t->skel->maps.traced, &key, sizeof(key), &one,
					     sizeof(one), BPF_ANY);
			on_fork(t, &key, sizeof(key));
			follow_existing(t, (pid_t)v);
		}
	}
	if (d)
		closedir(d);
}

/* Follow the forks of the traced process (unless o.no_follow): mark it
 * traced for zio_fork and listen on the forks ring.  A kernel without the
 * tracepoint just traces the one process.  Returns nothing. */
static void follow_forks(struct zio_tracer *t)
{
	__u32 pid = (__u32)t->pid;
	__u8 one = 1;

	if (t->o.no_follow)
		return;
	if (bpf_map__update_elem(t->skel->maps.traced, &pid, sizeof(pid), &one, sizeof(one),
				 BPF_ANY)) {
		pr_warn("zio-trace: failed to mark PID %d traced: %s: its children are not "
			"followed\n", (int)t->pid, strerror(errno));
		return;
	}
	t->fork_link = bpf_program__attach(t->skel->progs.zio_fork);
	if (!t->fork_link) {
		pr_warn("zio-trace: failed to attach the fork tracepoint: %s: children are not "
			"followed\n", strerror(errno));
		return;
	}
	t->forks = ring_buffer__new(bpf_map__fd(t->skel->maps.forks), on_fork, t, NULL);
	if (!t->forks) {
		pr_warn("zio-trace: failed to read the forks ring: %s: children are not "
			"followed\n", strerror(errno));
		return;
	}
	/* a running server (-p) has its workers already: follow them too */
	if (!t->child)
		follow_existing(t, t->pid);
}

void zio_tracer__follow(struct zio_tracer *t)
{
	if (t->forks)
		ring_buffer__poll(t->forks, 0);
}

/* ---------------------------------------------------------------- tracer */

struct zio_tracer *zio_tracer__open(const struct zio_tracer_opts *o)
{
	struct zio_tracer *t;
	int err;

	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->o = *o;
	err = zio_tracer__open_target(t);
	if (err) {
		free(t);
		errno = -err;
		return NULL;
	}
	err = find_libc(t, t->pid, t->child != 0);
	if (err) {
		pr_warn("zio-trace: failed to find the libc of PID %d: %s\n", (int)t->pid,
			strerror(-err));
		goto err;
	}
	err = plan_probes(t, t->child != 0);
	if (err)
		goto err;
	return t;
err:
	if (t->child) {
		kill(t->child, SIGKILL);
		waitpid(t->child, NULL, 0);
		t->child = 0;
	}
	zio_tracer__destroy(t);
	errno = -err;
	return NULL;
}

int zio_tracer__attach(struct zio_tracer *t)
{
	bool child = t->child != 0;
	int err;

	/* uprobe_multi links where the kernel has them, else perf events */
	err = t->o.no_multi ? -EOPNOTSUPP : load_bpf(t, child, true);
	if (!err)
		err = attach_multi(t, t->pid, child);
	if (!err) {
		t->multi = true;
		follow_forks(t);
		return 0;
	}
	pr_debug("zio-trace: no uprobe_multi links (%s), attaching one uprobe at a time\n",
		 strerror(-err));
	zio_tracer__detach(t);
	trace_bpf__destroy(t->skel);
	t->skel = NULL;
	err = load_bpf(t, child, false);
	if (!err)
		err = attach_each(t, t->pid, child);
	if (!err)
		follow_forks(t);
	return err;
}

void zio_tracer__destroy(struct zio_tracer *t)
{
	if (!t)
		return;
	zio_tracer__detach(t);
	trace_bpf__destroy(t->skel);
	zio_elf__close(t->libc);
	zio_maps__free(t->self_maps);
	if (t->self_handle)
		dlclose(t->self_handle);
	zio_maps__free(t->maps);
	free(t);
}
