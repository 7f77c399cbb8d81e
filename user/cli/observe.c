// SPDX-License-Identifier: MIT
/*
 * observe.c - loads bpf/observe.bpf.c, attaches it to zio processes,
 * pins its maps, and runs a program observed (zio-run --observe).  See
 * observe_cli.h.
 *
 * Why USDT probes rather than a memory-mapped index: the runtime's probes
 * are a nop where nothing is attached (measured in README, "Observing"),
 * and the BPF side keeps the maps only while someone observes, so the
 * runtime pays nothing and owns no BPF code.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "observe.h"
#include "observe.skel.h"
#include "observe_cli.h"
#include "util.h"

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

/* Returns the target of pid, or NULL. */
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

/* Destroys the links of t.  Returns nothing. */
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
	zio_remove_pins(o->pin_dir);
	o->pin_dir[0] = '\0';
	o->npinned = 0;
}

int zio_observe__pin(struct zio_observe *o, pid_t pid)
{
	struct zio_obs_info info = {
		.abi = ZIO_OBS_ABI,
		.pid = (__u32)pid,
		.pid_start = zio_pid_start_time(pid),
		.observer = (__u32)getpid(),
		.observer_start = zio_pid_start_time(getpid()),
	};
	struct timespec ts;
	__u32 key = 0;
	int err;

	err = zio_mount_bpffs();
	if (err)
		return err;
	if (mkdir(ZIO_PIN_ROOT, 0700) && errno != EEXIST)
		return -errno;
	if ((size_t)snprintf(o->pin_dir, sizeof(o->pin_dir), "%s/%d", ZIO_PIN_ROOT,
			     (int)pid) >= sizeof(o->pin_dir))
		return -ENAMETOOLONG;
	/* A directory of this PID is a previous process's: not ours to keep. */
	zio_remove_pins(o->pin_dir);
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

/* Execs argv; when that fails, says why and exits 127 (not found) or 126.
 * Does not return. */
static void obs_exec(char *const argv[])
{
	int err;

	execvp(argv[0], argv);
	err = errno;
	pr_warn("zio-run: %s: %s\n", argv[0],
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

	err = zio_mount_bpffs();
	if (err) {
		snprintf(why, whylen, "failed to mount bpffs at %s: %s", ZIO_BPFFS,
			 strerror(-err));
		return err;
	}
	zio_reap_pins();
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
		snprintf(why, whylen, "failed to pin maps under %s/%d: %s", ZIO_PIN_ROOT,
			 (int)pid, strerror(-err));
		goto err;
	}
	*out = o;
	return 0;
err:
	zio_observe__destroy(o);
	return err;
}

int zio_observe__run(char *const argv[], const char *lib)
{
	static const int fwd[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct sigaction sa = { .sa_sigaction = obs_forward, .sa_flags = SA_SIGINFO | SA_RESTART };
	struct zio_observe *o = NULL;
	sigset_t block, old;
	char why[PATH_MAX + 128];
	int go[2], st, err;
	pid_t pid, w;

	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaddset(&block, fwd[i]);
	/* Until the forwarder knows the child, signals wait (the child gets
	 * the old mask back before exec, so nothing is lost either side). */
	sigprocmask(SIG_BLOCK, &block, &old);
	if (pipe2(go, O_CLOEXEC)) {
		pr_warn("zio-run: --observe unavailable (failed to create pipe: %s): "
			"running unobserved\n", strerror(errno));
		sigprocmask(SIG_SETMASK, &old, NULL);
		obs_exec(argv);
	}
	pid = fork();
	if (pid < 0) {
		pr_warn("zio-run: --observe unavailable (failed to fork: %s): "
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
		pr_warn("zio-run: --observe unavailable (%s): running unobserved\n", why);
	else
		pr_info("zio-run: observing pid %d: maps in %s/%d/\n", (int)pid, ZIO_PIN_ROOT,
			(int)pid);
	close(go[1]);
	sigprocmask(SIG_SETMASK, &old, NULL);

	while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	obs_child = 0;
	/* Detaching waits for a grace period per uprobe (~0.1 s each here,
	 * ~1.2 s in all): the pins go first, so they are gone at once. */
	zio_observe__destroy(o);
	if (w < 0) {
		pr_warn("zio-run: failed to wait for pid %d: %s\n", (int)pid,
			strerror(errno));
		return 126;
	}
	return zio_exit_code(st);
}
