// SPDX-License-Identifier: MIT
/*
 * stat.c - zio-stat's processes and snapshots: which zio processes its
 * copy of bpf/observe.bpf.c is attached to, what the maps hold at the end
 * of each interval, and how call sites are named (functions and source
 * lines from syms.c).  See stat.h.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "observe.h"
#include "observe.skel.h"
#include "observe_cli.h"
#include "stat.h"
#include "syms.h"
#include "util.h"

/* Maps snapshots of the processes seen, kept after they exit so that
 * their last call sites can still be named. */
struct proc {
	pid_t pid;
	uint64_t start;
	struct zio_maps *maps;
};

struct zio_stat {
	struct zio_observe *o;
	struct zio_syms *syms;
	struct proc *procs;
	size_t nprocs, capprocs;
};

/* ---------------------------------------------------------------- targets */

/* Returns the process of pid seen so far, or NULL. */
static struct proc *proc_find(struct zio_stat *s, pid_t pid)
{
	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i].pid == pid)
			return &s->procs[i];
	return NULL;
}

/* Returns the process of pid, added with its start time if new, or NULL
 * when out of memory. */
static struct proc *proc_add(struct zio_stat *s, pid_t pid)
{
	struct proc *p = proc_find(s, pid);

	if (p)
		return p;
	if (s->nprocs == s->capprocs) {
		size_t cap = s->capprocs ? 2 * s->capprocs : 16;
		struct proc *n = realloc(s->procs, cap * sizeof(*n));

		if (!n)
			return NULL;
		s->procs = n;
		s->capprocs = cap;
	}
	p = &s->procs[s->nprocs++];
	*p = (struct proc){ .pid = pid, .start = zio_pid_start_time(pid) };
	return p;
}

/* Returns whether pid is still the process we attached to. */
static bool proc_alive(const struct proc *p)
{
	return p->start && zio_pid_start_time(p->pid) == p->start;
}

struct zio_stat *zio_stat__open(void)
{
	struct zio_stat *s;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->o = zio_observe__open(false);
	if (!s->o) {
		err = -errno;
		pr_warn("zio-stat: failed to load BPF programs: %s\n", strerror(-err));
		goto err;
	}
	s->syms = zio_syms__new();
	if (!s->syms) {
		err = -errno;
		pr_warn("zio-stat: failed to create symboliser: %s\n", strerror(-err));
		goto err;
	}
	return s;
err:
	zio_stat__destroy(s);
	errno = -err;
	return NULL;
}

void zio_stat__destroy(struct zio_stat *s)
{
	if (!s)
		return;
	zio_observe__destroy(s->o);
	zio_syms__free(s->syms);
	for (size_t i = 0; i < s->nprocs; i++)
		zio_maps__free(s->procs[i].maps);
	free(s->procs);
	free(s);
}

int zio_stat__attach(struct zio_stat *s, pid_t pid, bool quiet_missing)
{
	char lib[PATH_MAX];
	int err;

	err = zio_observe__find_lib(pid, lib, sizeof(lib));
	if (err) {
		if (!quiet_missing)
			pr_warn("zio-stat: failed to find libzio.so in pid %d: %s\n", (int)pid,
				err == -ENOENT ? "not a zio process" : strerror(-err));
		return err;
	}
	err = zio_observe__attach(s->o, pid, lib);
	if (err) {
		pr_warn("zio-stat: failed to attach to pid %d (%s): %s\n", (int)pid, lib,
			strerror(-err));
		return err;
	}
	if (!proc_add(s, pid))
		return -ENOMEM;
	pr_debug("zio-stat: attached to pid %d (%s)\n", (int)pid, lib);
	return 0;
}

void zio_stat__scan(struct zio_stat *s)
{
	struct dirent *de;
	DIR *d;

	for (size_t i = zio_observe__nr_pids(s->o); i-- > 0;) {
		pid_t pid = zio_observe__pid(s->o, i);
		struct proc *p = proc_find(s, pid);

		if (p && !proc_alive(p)) {
			zio_observe__detach(s->o, pid);
			pr_debug("zio-stat: pid %d exited\n", (int)pid);
		}
	}
	d = opendir("/proc");
	if (!d)
		return;
	while ((de = readdir(d))) {
		long pid;

		if (zio_parse_long(de->d_name, 1, INT_MAX, &pid) || pid == getpid() ||
		    zio_observe__attached(s->o, (pid_t)pid))
			continue;
		zio_stat__attach(s, (pid_t)pid, true);
	}
	closedir(d);
}

size_t zio_stat__nr_pids(const struct zio_stat *s)
{
	return zio_observe__nr_pids(s->o);
}

pid_t zio_stat__pid(const struct zio_stat *s, size_t i)
{
	return zio_observe__pid(s->o, i);
}

/* Fresh maps of the live processes, for naming their call sites.
 * Returns nothing: a process whose maps cannot be read keeps its last. */
static void refresh_maps(struct zio_stat *s)
{
	for (size_t i = 0; i < s->nprocs; i++) {
		struct zio_maps *m;

		if (!proc_alive(&s->procs[i]))
			continue;
		m = zio_maps__load(s->procs[i].pid);
		if (!m)
			continue;
		zio_maps__free(s->procs[i].maps);
		s->procs[i].maps = m;
	}
}

/* ---------------------------------------------------------------- snapshot */

/* qsort and bsearch order of sites: by (pid, ip).  Returns <0, 0 or >0. */
static int site_cmp_key(const void *a, const void *b)
{
	const struct zio_stat_site *x = a, *y = b;

	if (x->k.pid != y->k.pid)
		return x->k.pid < y->k.pid ? -1 : 1;
	if (x->k.ip != y->k.ip)
		return x->k.ip < y->k.ip ? -1 : 1;
	return 0;
}

/* qsort order of sites, busiest first: bytes elided, then pages
 * materialised.  Returns <0, 0 or >0. */
static int site_cmp_busy(const void *a, const void *b)
{
	const struct zio_stat_site *x = a, *y = b;

	if (x->v.elided_bytes != y->v.elided_bytes)
		return x->v.elided_bytes > y->v.elided_bytes ? -1 : 1;
	if (x->v.materialized_pages != y->v.materialized_pages)
		return x->v.materialized_pages > y->v.materialized_pages ? -1 : 1;
	return site_cmp_key(a, b);
}

/* The sites map into snap->sites, sorted by key.  Returns 0 or -ENOMEM. */
static int read_sites(struct observe_bpf *skel, struct zio_stat_snap *snap)
{
	struct zio_obs_site_key key, next, *prev = NULL;
	size_t cap = 0;

	while (!bpf_map__get_next_key(skel->maps.sites, prev, &next, sizeof(next))) {
		struct zio_stat_site *st;

		key = next;
		prev = &key;
		if (snap->nsites == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct zio_stat_site *n = realloc(snap->sites, ncap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			snap->sites = n;
			cap = ncap;
		}
		st = &snap->sites[snap->nsites];
		st->k = key;
		/* Deleted meanwhile: skip it. */
		if (bpf_map__lookup_elem(skel->maps.sites, &key, sizeof(key), &st->v,
					 sizeof(st->v), 0))
			continue;
		snap->nsites++;
	}
	if (snap->nsites)   /* sites is NULL when there are none */
		qsort(snap->sites, snap->nsites, sizeof(*snap->sites), site_cmp_key);
	return 0;
}

int zio_stat__read(struct zio_stat *s, struct zio_stat_snap *snap)
{
	struct observe_bpf *skel = zio_observe__skel(s->o);
	int ncpu = libbpf_num_possible_cpus();
	struct zio_obs_counters *percpu;
	__u32 zero = 0;
	int err = 0;

	refresh_maps(s);
	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	memset(snap, 0, sizeof(*snap));
	percpu = calloc((size_t)ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map__lookup_elem(skel->maps.counters, &zero, sizeof(zero), percpu,
				 (size_t)ncpu * sizeof(*percpu), 0)) {
		err = -errno;
		goto out;
	}
	/* The struct is all __u64: add it up word by word. */
	for (int cpu = 0; cpu < ncpu; cpu++) {
		const __u64 *src = (const __u64 *)&percpu[cpu];
		__u64 *dst = (__u64 *)&snap->c;

		for (size_t w = 0; w < sizeof(snap->c) / sizeof(__u64); w++)
			dst[w] += src[w];
	}
	for (__u32 i = 0; i < ZIO_OBS_LAT_SLOTS; i++)
		if (bpf_map__lookup_elem(skel->maps.fault_lat, &i, sizeof(i), &snap->lat[i],
					 sizeof(snap->lat[i]), 0)) {
			err = -errno;
			goto out;
		}
	err = read_sites(skel, snap);
out:
	free(percpu);
	return err;
}

void zio_stat__snap_free(struct zio_stat_snap *snap)
{
	free(snap->sites);
	snap->sites = NULL;
	snap->nsites = 0;
}

void zio_stat__delta(const struct zio_stat_snap *cur, const struct zio_stat_snap *prev,
		     struct zio_stat_snap *d)
{
	const __u64 *a = (const __u64 *)&cur->c, *b = (const __u64 *)&prev->c;
	__u64 *o = (__u64 *)&d->c;

	for (size_t w = 0; w < sizeof(d->c) / sizeof(__u64); w++)
		o[w] = a[w] - b[w];
	for (int i = 0; i < ZIO_OBS_LAT_SLOTS; i++)
		d->lat[i] = cur->lat[i] - prev->lat[i];
	d->nsites = 0;
	d->sites = calloc(cur->nsites ? cur->nsites : 1, sizeof(*d->sites));
	if (!d->sites)
		return;
	for (size_t i = 0; i < cur->nsites; i++) {
		const struct zio_stat_site *p = !prev->nsites ? NULL :
			bsearch(&cur->sites[i], prev->sites, prev->nsites, sizeof(*prev->sites),
				site_cmp_key);
		struct zio_stat_site *x = &d->sites[d->nsites];

		*x = cur->sites[i];
		if (p) {
			x->v.elided_copies -= p->v.elided_copies;
			x->v.elided_bytes -= p->v.elided_bytes;
			x->v.materialized_pages -= p->v.materialized_pages;
			x->v.policy_skips -= p->v.policy_skips;
		}
		if (x->v.elided_copies || x->v.materialized_pages || x->v.policy_skips)
			d->nsites++;
	}
	qsort(d->sites, d->nsites, sizeof(*d->sites), site_cmp_busy);
}

/* ---------------------------------------------------------------- names */

void zio_stat__name_site(struct zio_stat *s, const struct zio_stat_site *st,
			 struct zio_stat_site_name *n)
{
	struct proc *p = proc_find(s, (pid_t)st->k.pid);

	n->line[0] = '\0';
	if (!p || !p->maps) {
		snprintf(n->sym, sizeof(n->sym), "0x%llx", (unsigned long long)st->k.ip);
		snprintf(n->bin, sizeof(n->bin), "?");
		return;
	}
	zio_syms__symbolise(s->syms, p->maps, st->k.ip, n->sym, sizeof(n->sym), n->bin,
			    sizeof(n->bin));
	zio_syms__line(s->syms, p->maps, st->k.ip, n->line, sizeof(n->line));
}

/* ---------------------------------------------------------------- wait */

bool zio_stat__wait(uint64_t deadline, int pidfd, const volatile sig_atomic_t *exiting)
{
	while (!*exiting) {
		uint64_t now = zio_now_ms();
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		int r;

		if (now >= deadline)
			return false;
		r = poll(&p, pidfd >= 0 ? 1 : 0, (int)(deadline - now));
		if (r > 0)
			return true;
	}
	return false;
}
