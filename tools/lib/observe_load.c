// SPDX-License-Identifier: MIT
/*
 * observe_load.c - loads bpf/observe.bpf.c, attaches it to zio processes,
 * pins its maps, reaps stale pins, and runs a program observed
 * (zio-run --observe).  See observe_load.h.
 *
 * Why USDT probes rather than a memory-mapped index: the runtime's probes
 * are a nop where nothing is attached (measured in README, "Observing"),
 * and the BPF side keeps the maps only while someone observes, so the
 * runtime pays nothing and owns no BPF code.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "observe.h"
#include "observe.skel.h"
#include "lib/observe_load.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

/* The runtime's probes and the programs that take them. */
static const struct {
	const char *probe;
	const char *prog;
	bool region;        /* part of the alias index mirror */
} obs_probes[] = {
	{ "region_set",  "zio_region_set",  true },
	{ "region_del",  "zio_region_del",  true },
	{ "elide",       "zio_elide",       false },
	{ "materialize", "zio_materialize", false },
	{ "fault_begin", "zio_fault_begin", false },
	{ "fault_end",   "zio_fault_end",   false },
	{ "fallback",    "zio_fallback",    false },
	{ "output",      "zio_output",      false },
	{ "retire",      "zio_retire",      false },
	{ "redirect",    "zio_redirect",    false },
	{ "policy_skip", "zio_policy_skip", false },
};
#define OBS_NPROBES (sizeof(obs_probes) / sizeof(obs_probes[0]))

/* The maps a pin directory holds; info first, so that a reaper looking
 * at a half-made directory can tell whose it is. */
static const char *const obs_pinned[] = {
	"info", "aliases", "originals", "counters", "sites", "fault_lat",
};
#define OBS_NPINNED (sizeof(obs_pinned) / sizeof(obs_pinned[0]))

struct obs_target {
	pid_t pid;
	struct bpf_link *links[OBS_NPROBES];
};

struct zio_observe {
	struct observe_bpf *skel;
	bool regions;
	struct obs_target *t;
	size_t nr, cap;
	char pin_dir[64];      /* ZIO_OBS_PIN_ROOT/<pid> */
	int npinned;
};

struct zio_observe *zio_observe__open(bool regions)
{
	struct zio_observe *o;
	int err;

	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->regions = regions;
	o->skel = observe_bpf__open();
	if (!o->skel) {
		err = -errno;
		goto err;
	}
	if (!regions) {
		bpf_program__set_autoload(o->skel->progs.zio_region_set, false);
		bpf_program__set_autoload(o->skel->progs.zio_region_del, false);
	}
	err = observe_bpf__load(o->skel);
	if (err)
		goto err;
	return o;
err:
	observe_bpf__destroy(o->skel);
	free(o);
	errno = -err;
	return NULL;
}

struct observe_bpf *zio_observe__skel(struct zio_observe *o)
{
	return o->skel;
}

static struct obs_target *find_target(const struct zio_observe *o, pid_t pid)
{
	for (size_t i = 0; i < o->nr; i++)
		if (o->t[i].pid == pid)
			return &o->t[i];
	return NULL;
}

bool zio_observe__attached(const struct zio_observe *o, pid_t pid)
{
	return find_target(o, pid) != NULL;
}

size_t zio_observe__nr_pids(const struct zio_observe *o)
{
	return o->nr;
}

pid_t zio_observe__pid(const struct zio_observe *o, size_t i)
{
	return i < o->nr ? o->t[i].pid : 0;
}

static void target_release(struct obs_target *t)
{
	for (size_t i = 0; i < OBS_NPROBES; i++) {
		bpf_link__destroy(t->links[i]);
		t->links[i] = NULL;
	}
}

int zio_observe__attach(struct zio_observe *o, pid_t pid, const char *lib)
{
	struct obs_target t = { .pid = pid };
	size_t attached = 0;
	int err = 0;

	if (find_target(o, pid))
		return 0;
	if (o->nr == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 8;
		struct obs_target *n = realloc(o->t, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		o->t = n;
		o->cap = cap;
	}
	for (size_t i = 0; i < OBS_NPROBES; i++) {
		struct bpf_program *prog;

		if (obs_probes[i].region && !o->regions)
			continue;
		prog = bpf_object__find_program_by_name(o->skel->obj, obs_probes[i].prog);
		if (!prog) {
			err = -ENOENT;
			goto err;
		}
		t.links[i] = bpf_program__attach_usdt(prog, pid, lib, "zio",
						      obs_probes[i].probe, NULL);
		if (!t.links[i]) {
			err = -errno;
			/* A runtime built before this probe existed: observe
			 * what it has. */
			if (err == -ENOENT)
				continue;
			goto err;
		}
		attached++;
	}
	if (!attached) {
		err = -ENOENT;
		goto err;
	}
	o->t[o->nr++] = t;
	return 0;
err:
	target_release(&t);
	return err;
}

void zio_observe__detach(struct zio_observe *o, pid_t pid)
{
	struct obs_target *t = find_target(o, pid);

	if (!t)
		return;
	target_release(t);
	*t = o->t[--o->nr];
}

/* ---------------------------------------------------------------- pins */

int zio_observe__mount_bpffs(void)
{
	struct statfs st;

	if (!statfs(ZIO_OBS_BPFFS, &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mkdir(ZIO_OBS_BPFFS, 0755) && errno != EEXIST)
		return -errno;
	/* mode=0700, as systemd mounts it: pins are for root. */
	if (mount("bpf", ZIO_OBS_BPFFS, "bpf", 0, "mode=0700"))
		return -errno;
	return 0;
}

uint64_t zio_observe__start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields restart after the
	 * last ')'; starttime is field 22, the 20th after it. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p)
		start = strtoull(p + 1, NULL, 10);
	return start;
}

/* Is pid the process that started at `start` (0: any) still there? */
static bool obs_alive(pid_t pid, uint64_t start)
{
	if (pid <= 0)
		return false;
	if (kill(pid, 0) && errno == ESRCH)
		return false;
	return !start || zio_observe__start_time(pid) == start;
}

static void remove_dir(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d) {
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(dir);
}

static int read_info(const char *dir, struct zio_obs_info *info)
{
	char path[PATH_MAX];
	__u32 key = 0;
	int fd, err = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/info", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	if (bpf_map_lookup_elem(fd, &key, info))
		err = -errno;
	close(fd);
	return err;
}

int zio_observe__reap(void)
{
	struct dirent *de;
	int reaped = 0;
	DIR *d;

	d = opendir(ZIO_OBS_PIN_ROOT);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		struct zio_obs_info info;
		char dir[PATH_MAX], *end;
		bool stale;
		long pid;

		errno = 0;
		pid = strtol(de->d_name, &end, 10);
		if (errno || end == de->d_name || *end || pid <= 0 || pid > INT_MAX)
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", ZIO_OBS_PIN_ROOT, de->d_name);
		if (!read_info(dir, &info) && info.abi == ZIO_OBS_ABI)
			/* Nobody updates the maps once the observer is gone,
			 * so they are stale even if the program lives on. */
			stale = !obs_alive(info.pid, info.pid_start) ||
				!obs_alive(info.observer, info.observer_start);
		else
			stale = !obs_alive(pid, 0);
		if (stale) {
			remove_dir(dir);
			reaped++;
		}
	}
	closedir(d);
	return reaped;
}

void zio_observe__unpin(struct zio_observe *o)
{
	if (!o || !o->pin_dir[0])
		return;
	for (int i = 0; i < o->npinned; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(o->skel->obj, obs_pinned[i]);

		if (m)
			bpf_map__unpin(m, NULL);
	}
	/* Anything else (a half-made pin) goes too. */
	remove_dir(o->pin_dir);
	o->pin_dir[0] = '\0';
	o->npinned = 0;
}

int zio_observe__pin(struct zio_observe *o, pid_t pid)
{
	struct zio_obs_info info = {
		.abi = ZIO_OBS_ABI,
		.pid = (__u32)pid,
		.pid_start = zio_observe__start_time(pid),
		.observer = (__u32)getpid(),
		.observer_start = zio_observe__start_time(getpid()),
	};
	struct timespec ts;
	__u32 key = 0;
	int err;

	err = zio_observe__mount_bpffs();
	if (err)
		return err;
	if (mkdir(ZIO_OBS_PIN_ROOT, 0700) && errno != EEXIST)
		return -errno;
	if ((size_t)snprintf(o->pin_dir, sizeof(o->pin_dir), "%s/%d", ZIO_OBS_PIN_ROOT,
			     (int)pid) >= sizeof(o->pin_dir))
		return -ENAMETOOLONG;
	/* A directory of this PID is a previous process's: not ours to keep. */
	remove_dir(o->pin_dir);
	if (mkdir(o->pin_dir, 0700)) {
		err = -errno;
		o->pin_dir[0] = '\0';
		return err;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	info.attached_ns = (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
	err = bpf_map__update_elem(o->skel->maps.info, &key, sizeof(key), &info,
				   sizeof(info), BPF_ANY);
	if (err)
		goto err;
	for (size_t i = 0; i < OBS_NPINNED; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(o->skel->obj, obs_pinned[i]);
		char path[PATH_MAX];

		if (!m) {
			err = -ENOENT;
			goto err;
		}
		snprintf(path, sizeof(path), "%s/%s", o->pin_dir, obs_pinned[i]);
		err = bpf_map__pin(m, path);
		if (err)
			goto err;
		o->npinned = (int)i + 1;
	}
	return 0;
err:
	zio_observe__unpin(o);
	return err;
}

void zio_observe__destroy(struct zio_observe *o)
{
	if (!o)
		return;
	zio_observe__unpin(o);
	for (size_t i = 0; i < o->nr; i++)
		target_release(&o->t[i]);
	free(o->t);
	observe_bpf__destroy(o->skel);
	free(o);
}

/* ---------------------------------------------------------------- lib */

int zio_observe__find_lib(pid_t pid, char *buf, size_t len)
{
	char path[64], line[PATH_MAX + 128];
	int err = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end, off;
		char *file = strchr(line, '/'), *base, *nl;

		if (!file || sscanf(line, "%lx-%lx %*s %lx", &start, &end, &off) != 3 || off)
			continue;
		nl = strchr(file, '\n');
		if (nl)
			*nl = '\0';
		base = strrchr(file, '/') + 1;
		if (strncmp(base, "libzio", 6) || !strstr(base, ".so"))
			continue;
		/* map_files reaches the mapped inode even when the path now
		 * names another file (a rebuilt libzio.so): probes must go
		 * into the code the process runs. */
		if ((size_t)snprintf(buf, len, "/proc/%d/map_files/%lx-%lx", (int)pid, start,
				     end) < len && !access(buf, R_OK)) {
			err = 0;
			break;
		}
		if (strstr(file, " (deleted)")) {
			err = -ESTALE;
			continue;
		}
		err = (size_t)snprintf(buf, len, "%s", file) < len ? 0 : -ENAMETOOLONG;
		break;
	}
	fclose(f);
	return err;
}

/* ---------------------------------------------------------------- run */

static int obs_verbose;

static int obs_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG ? obs_verbose < 3 : obs_verbose < 1)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static volatile sig_atomic_t obs_child;

static void obs_forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	/* The terminal sends its signals (Ctrl-C, hangup) to the whole
	 * foreground process group, which the program is part of: passing
	 * those on would deliver them twice.  Signals from a process (kill)
	 * were meant for the program. */
	if (si->si_code == SI_KERNEL)
		return;
	if (obs_child > 0)
		kill(obs_child, sig);
}

static void obs_exec(char *const argv[])
{
	int err;

	execvp(argv[0], argv);
	err = errno;
	fprintf(stderr, "zio-run: %s: %s\n", argv[0],
		err == ENOENT ? "command not found" : strerror(err));
	_exit(err == ENOENT ? 127 : 126);
}

/* Loads, attaches and pins for pid.  0, or -errno with what failed in
 * why. */
static int obs_start(pid_t pid, const char *lib, struct zio_observe **out, char *why,
		     size_t whylen)
{
	struct zio_observe *o;
	int err;

	err = zio_observe__mount_bpffs();
	if (err) {
		snprintf(why, whylen, "failed to mount bpffs at %s: %s", ZIO_OBS_BPFFS,
			 strerror(-err));
		return err;
	}
	zio_observe__reap();
	o = zio_observe__open(true);
	if (!o) {
		err = -errno;
		snprintf(why, whylen, "failed to load BPF programs: %s", strerror(-err));
		return err;
	}
	err = zio_observe__attach(o, pid, lib);
	if (err) {
		snprintf(why, whylen, "failed to attach USDT probes to %s: %s", lib,
			 strerror(-err));
		goto err;
	}
	err = zio_observe__pin(o, pid);
	if (err) {
		snprintf(why, whylen, "failed to pin maps under %s/%d: %s", ZIO_OBS_PIN_ROOT,
			 (int)pid, strerror(-err));
		goto err;
	}
	*out = o;
	return 0;
err:
	zio_observe__destroy(o);
	return err;
}

int zio_observe__run(char *const argv[], const char *lib, int verbose)
{
	static const int fwd[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct sigaction sa = { .sa_sigaction = obs_forward, .sa_flags = SA_SIGINFO | SA_RESTART };
	struct zio_observe *o = NULL;
	sigset_t block, old;
	char why[PATH_MAX + 128];
	int go[2], st, err;
	pid_t pid, w;

	obs_verbose = verbose;
	libbpf_set_print(obs_print);
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaddset(&block, fwd[i]);
	/* Until the forwarder knows the child, signals wait (the child gets
	 * the old mask back before exec, so nothing is lost either side). */
	sigprocmask(SIG_BLOCK, &block, &old);
	if (pipe2(go, O_CLOEXEC)) {
		fprintf(stderr, "zio-run: --observe unavailable (failed to create pipe: %s): "
			"running unobserved\n", strerror(errno));
		sigprocmask(SIG_SETMASK, &old, NULL);
		obs_exec(argv);
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "zio-run: --observe unavailable (failed to fork: %s): "
			"running unobserved\n", strerror(errno));
		close(go[0]);
		close(go[1]);
		sigprocmask(SIG_SETMASK, &old, NULL);
		obs_exec(argv);
	}
	if (pid == 0) {
		char c;

		close(go[1]);
		/* A byte or EOF: either way the observer is done (EOF also
		 * if it died), and the program runs. */
		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;
		close(go[0]);
		sigprocmask(SIG_SETMASK, &old, NULL);
		obs_exec(argv);
	}
	close(go[0]);
	obs_child = pid;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaction(fwd[i], &sa, NULL);

	err = obs_start(pid, lib, &o, why, sizeof(why));
	if (err)
		fprintf(stderr, "zio-run: --observe unavailable (%s): running unobserved\n", why);
	else if (verbose)
		fprintf(stderr, "zio-run: observing pid %d: maps in %s/%d/\n", (int)pid,
			ZIO_OBS_PIN_ROOT, (int)pid);
	close(go[1]);
	sigprocmask(SIG_SETMASK, &old, NULL);

	while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	obs_child = 0;
	/* Detaching waits for a grace period per uprobe (~0.1 s each here,
	 * ~1.2 s in all): the pins go first, so they are gone at once. */
	zio_observe__destroy(o);
	if (w < 0) {
		fprintf(stderr, "zio-run: failed to wait for pid %d: %s\n", (int)pid,
			strerror(errno));
		return 126;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
