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
#include <dirent.h>
#include <errno.h>
#include <gelf.h>
#include <fcntl.h>
#include <libelf.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "observe.h"
#include "observe.skel.h"
#include "observe_cli.h"
#include "syms.h"
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
			fprintf(stderr, "zio-stat: invalid PID: %s\n", arg);
			argp_usage(state);
		}
		env.pid = (pid_t)v;
		break;
	case 'i':
		if (zio_parse_long(arg, 1, INT_MAX, &env.interval)) {
			fprintf(stderr, "zio-stat: invalid interval: %s\n", arg);
			argp_usage(state);
		}
		break;
	case 'd':
		if (zio_parse_long(arg, 1, INT_MAX, &env.duration)) {
			fprintf(stderr, "zio-stat: invalid duration: %s\n", arg);
			argp_usage(state);
		}
		break;
	case 't':
		if (zio_parse_long(arg, 0, 100000, &env.top)) {
			fprintf(stderr, "zio-stat: invalid --top: %s\n", arg);
			argp_usage(state);
		}
		break;
	case ARGP_KEY_ARG:
		if (env.nargs == 0) {
			if (zio_parse_long(arg, 1, INT_MAX, &env.interval)) {
				fprintf(stderr, "zio-stat: invalid interval: %s\n", arg);
				argp_usage(state);
			}
		} else if (env.nargs == 1) {
			if (zio_parse_long(arg, 1, LONG_MAX, &env.count)) {
				fprintf(stderr, "zio-stat: invalid count: %s\n", arg);
				argp_usage(state);
			}
		} else {
			fprintf(stderr, "zio-stat: unrecognized positional argument: %s\n", arg);
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

/* ---------------------------------------------------------------- names */

static const char *const mat_names[ZIO_MAT_MAX] = {
	[0] = "unknown",
	[ZIO_MAT_LOAD] = "load",
	[ZIO_MAT_STORE] = "store",
	[ZIO_MAT_WRITE_ORIG] = "write_orig",
	[ZIO_MAT_RELEASE] = "release",
	[ZIO_MAT_INPUT] = "input",
	[ZIO_MAT_OVERWRITE] = "overwrite",
	[ZIO_MAT_FORK] = "fork",
	[ZIO_MAT_EVICT] = "evict",
};

static const char *const fb_names[ZIO_FB_MAX] = {
	[0] = "unknown",
	[ZIO_FB_REGISTER] = "register",
	[ZIO_FB_MOVE] = "move",
	[ZIO_FB_COPY] = "copy",
	[ZIO_FB_WP] = "wp",
	[ZIO_FB_ALLOC] = "alloc",
	[ZIO_FB_CAP] = "cap",
	[ZIO_FB_LOST] = "lost",
};

/* ---------------------------------------------------------------- targets */

/* Maps snapshots of the processes seen, kept after they exit so that
 * their last call sites can still be named. */
struct proc {
	pid_t pid;
	uint64_t start;
	struct zio_maps *maps;
};

static struct proc *procs;
static size_t nprocs, capprocs;

static struct proc *proc_find(pid_t pid)
{
	for (size_t i = 0; i < nprocs; i++)
		if (procs[i].pid == pid)
			return &procs[i];
	return NULL;
}

static struct proc *proc_add(pid_t pid)
{
	struct proc *p = proc_find(pid);

	if (p)
		return p;
	if (nprocs == capprocs) {
		size_t cap = capprocs ? 2 * capprocs : 16;
		struct proc *n = realloc(procs, cap * sizeof(*n));

		if (!n)
			return NULL;
		procs = n;
		capprocs = cap;
	}
	p = &procs[nprocs++];
	*p = (struct proc){ .pid = pid, .start = zio_pid_start_time(pid) };
	return p;
}

static void procs_free(void)
{
	for (size_t i = 0; i < nprocs; i++)
		zio_maps__free(procs[i].maps);
	free(procs);
}

/* Is pid still the process we attached to? */
static bool proc_alive(const struct proc *p)
{
	return p->start && zio_pid_start_time(p->pid) == p->start;
}

static int attach_pid(struct zio_observe *o, pid_t pid, bool quiet_missing)
{
	char lib[PATH_MAX];
	struct proc *p;
	int err;

	err = zio_observe__find_lib(pid, lib, sizeof(lib));
	if (err) {
		if (!quiet_missing)
			fprintf(stderr, "zio-stat: failed to find libzio.so in pid %d: %s\n",
				(int)pid, err == -ENOENT ? "not a zio process" : strerror(-err));
		return err;
	}
	err = zio_observe__attach(o, pid, lib);
	if (err) {
		fprintf(stderr, "zio-stat: failed to attach to pid %d (%s): %s\n", (int)pid, lib,
			strerror(-err));
		return err;
	}
	p = proc_add(pid);
	if (!p)
		return -ENOMEM;
	if (zio_print_on(ZIO_PR_DEBUG))
		fprintf(stderr, "zio-stat: attached to pid %d (%s)\n", (int)pid, lib);
	return 0;
}

/* Attaches to every new process that maps libzio.so and detaches from
 * the ones that went away. */
static void scan_procs(struct zio_observe *o)
{
	struct dirent *de;
	DIR *d;

	for (size_t i = zio_observe__nr_pids(o); i-- > 0;) {
		pid_t pid = zio_observe__pid(o, i);
		struct proc *p = proc_find(pid);

		if (p && !proc_alive(p)) {
			zio_observe__detach(o, pid);
			if (zio_print_on(ZIO_PR_DEBUG))
				fprintf(stderr, "zio-stat: pid %d exited\n", (int)pid);
		}
	}
	d = opendir("/proc");
	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long pid;

		errno = 0;
		pid = strtol(de->d_name, &end, 10);
		if (errno || end == de->d_name || *end || pid <= 0 || pid == getpid() ||
		    zio_observe__attached(o, (pid_t)pid))
			continue;
		attach_pid(o, (pid_t)pid, true);
	}
	closedir(d);
}

/* Fresh maps of the live processes, for naming their call sites. */
static void refresh_maps(void)
{
	for (size_t i = 0; i < nprocs; i++) {
		struct zio_maps *m;

		if (!proc_alive(&procs[i]))
			continue;
		m = zio_maps__load(procs[i].pid);
		if (!m)
			continue;
		zio_maps__free(procs[i].maps);
		procs[i].maps = m;
	}
}

/* ---------------------------------------------------------------- snapshot */

struct site {
	struct zio_obs_site_key k;
	struct zio_obs_site v;
};

struct snap {
	struct zio_obs_counters c;
	__u64 lat[ZIO_OBS_LAT_SLOTS];
	struct site *sites;
	size_t nsites;
};

static int site_cmp_key(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	if (x->k.pid != y->k.pid)
		return x->k.pid < y->k.pid ? -1 : 1;
	if (x->k.ip != y->k.ip)
		return x->k.ip < y->k.ip ? -1 : 1;
	return 0;
}

/* Reads every map into s (the counters summed over the CPUs).  0 or
 * -errno. */
static int snap_read(struct observe_bpf *skel, struct snap *s)
{
	int ncpu = libbpf_num_possible_cpus();
	struct zio_obs_counters *percpu;
	struct zio_obs_site_key key, next, *prev = NULL;
	__u32 zero = 0;
	size_t cap = 0;
	int err = 0;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	memset(s, 0, sizeof(*s));
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
		__u64 *dst = (__u64 *)&s->c;

		for (size_t w = 0; w < sizeof(s->c) / sizeof(__u64); w++)
			dst[w] += src[w];
	}
	for (__u32 i = 0; i < ZIO_OBS_LAT_SLOTS; i++)
		if (bpf_map__lookup_elem(skel->maps.fault_lat, &i, sizeof(i), &s->lat[i],
					 sizeof(s->lat[i]), 0)) {
			err = -errno;
			goto out;
		}
	while (!bpf_map__get_next_key(skel->maps.sites, prev, &next, sizeof(next))) {
		struct site *st;

		key = next;
		prev = &key;
		if (s->nsites == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct site *n = realloc(s->sites, ncap * sizeof(*n));

			if (!n) {
				err = -ENOMEM;
				goto out;
			}
			s->sites = n;
			cap = ncap;
		}
		st = &s->sites[s->nsites];
		st->k = key;
		/* Deleted meanwhile: skip it. */
		if (bpf_map__lookup_elem(skel->maps.sites, &key, sizeof(key), &st->v,
					 sizeof(st->v), 0))
			continue;
		s->nsites++;
	}
	qsort(s->sites, s->nsites, sizeof(*s->sites), site_cmp_key);
out:
	free(percpu);
	return err;
}

static void snap_free(struct snap *s)
{
	free(s->sites);
	s->sites = NULL;
	s->nsites = 0;
}

/* d = cur - prev, field by field (all of them are counters). */
static void snap_delta(const struct snap *cur, const struct snap *prev, struct snap *d)
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
		const struct site *p = bsearch(&cur->sites[i], prev->sites, prev->nsites,
					       sizeof(*prev->sites), site_cmp_key);
		struct site *x = &d->sites[d->nsites];

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
}

/* Busiest first: bytes elided, then pages materialised. */
static int site_cmp_busy(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	if (x->v.elided_bytes != y->v.elided_bytes)
		return x->v.elided_bytes > y->v.elided_bytes ? -1 : 1;
	if (x->v.materialized_pages != y->v.materialized_pages)
		return x->v.materialized_pages > y->v.materialized_pages ? -1 : 1;
	return site_cmp_key(a, b);
}

static __u64 sum(const __u64 *v, int n)
{
	__u64 t = 0;

	for (int i = 0; i < n; i++)
		t += v[i];
	return t;
}

/* ---------------------------------------------------------------- latency */

/* The p-th percentile (0 < p < 100) of a log2 histogram in ns, linearly
 * interpolated inside its slot; 0 when empty. */
static double percentile(const __u64 *lat, double p)
{
	__u64 total = sum(lat, ZIO_OBS_LAT_SLOTS), cum = 0;
	double want;

	if (!total)
		return 0;
	want = p / 100.0 * (double)total;
	for (int s = 0; s < ZIO_OBS_LAT_SLOTS; s++) {
		double lo = s ? (double)(1ULL << s) : 0, hi = (double)(2ULL << s);

		if (!lat[s])
			continue;
		if ((double)(cum + lat[s]) >= want)
			return lo + (hi - lo) * (want - (double)cum) / (double)lat[s];
		cum += lat[s];
	}
	return 0;
}

/* The histogram as bcc's print_log2_hist draws it. */
static void print_hist(const __u64 *lat)
{
	int first = -1, last = -1;
	__u64 max = 0;

	for (int s = 0; s < ZIO_OBS_LAT_SLOTS; s++) {
		if (!lat[s])
			continue;
		if (first < 0)
			first = s;
		last = s;
		if (lat[s] > max)
			max = lat[s];
	}
	if (first < 0)
		return;
	printf("  %25s : count    distribution\n", "fault latency (ns)");
	for (int s = first; s <= last; s++) {
		unsigned long long lo = s ? 1ULL << s : 0, hi = (2ULL << s) - 1;
		int stars = (int)(lat[s] * 40 / max);

		printf("  %11llu -> %-10llu : %-8llu |%-40.*s|\n", lo, hi,
		       (unsigned long long)lat[s], stars,
		       "****************************************");
	}
	printf("  p50 %.1f us  p99 %.1f us\n", percentile(lat, 50) / 1000,
	       percentile(lat, 99) / 1000);
}

/* ---------------------------------------------------------------- symbols */

/* Whether path carries DWARF line tables (then addr2line can name the
 * line of a call site). */
static bool has_debug_line(const char *path)
{
	bool found = false;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	Elf *e;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (e && !elf_getshdrstrndx(e, &shstrndx)) {
		while (!found && (scn = elf_nextscn(e, scn))) {
			GElf_Shdr sh;
			const char *name;

			if (!gelf_getshdr(scn, &sh))
				continue;
			name = elf_strptr(e, shstrndx, sh.sh_name);
			found = name && !strcmp(name, ".debug_line");
		}
	}
	elf_end(e);
	close(fd);
	return found;
}

struct line_cache {
	char path[PATH_MAX];
	uint64_t vaddr;
	char line[128];
};

static struct line_cache *lines;
static size_t nlines, caplines;

/* "file.c:123" of the call that returns to vaddr in path, from addr2line
 * (binutils), cached; "" when unknown. */
static const char *line_of(const char *path, uint64_t vaddr)
{
	char cmd[PATH_MAX + 64], out[PATH_MAX], *nl, *slash;
	struct line_cache *c;
	FILE *f;

	for (size_t i = 0; i < nlines; i++)
		if (lines[i].vaddr == vaddr && !strcmp(lines[i].path, path))
			return lines[i].line;
	if (nlines == caplines) {
		size_t cap = caplines ? 2 * caplines : 32;
		struct line_cache *n = realloc(lines, cap * sizeof(*n));

		if (!n)
			return "";
		lines = n;
		caplines = cap;
	}
	c = &lines[nlines++];
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->vaddr = vaddr;
	c->line[0] = '\0';
	if (strchr(path, '\'') || !has_debug_line(path))
		return c->line;
	/* vaddr - 1: the call instruction, not the one after it. */
	snprintf(cmd, sizeof(cmd), "addr2line -e '%s' 0x%llx 2>/dev/null", path,
		 (unsigned long long)(vaddr - 1));
	f = popen(cmd, "re");
	if (!f)
		return c->line;
	if (fgets(out, sizeof(out), f) && out[0] != '?') {
		nl = strchr(out, '\n');
		if (nl)
			*nl = '\0';
		nl = strstr(out, " (discriminator");
		if (nl)
			*nl = '\0';
		slash = strrchr(out, '/');
		if (!strstr(out, ":?") && !strstr(out, ":0"))
			snprintf(c->line, sizeof(c->line), "%.*s", (int)sizeof(c->line) - 1,
				 slash ? slash + 1 : out);
	}
	pclose(f);
	return c->line;
}

struct site_name {
	char sym[256];
	char bin[128];
	const char *line;
};

static void name_site(struct zio_syms *syms, const struct site *st, struct site_name *n)
{
	struct proc *p = proc_find((pid_t)st->k.pid);
	const struct zio_map *m;
	struct zio_elf *e;
	uint64_t vaddr;

	n->line = "";
	if (!p || !p->maps) {
		snprintf(n->sym, sizeof(n->sym), "0x%llx", (unsigned long long)st->k.ip);
		snprintf(n->bin, sizeof(n->bin), "?");
		return;
	}
	zio_syms__symbolise(syms, p->maps, st->k.ip, n->sym, sizeof(n->sym), n->bin,
			    sizeof(n->bin));
	m = zio_maps__find(p->maps, st->k.ip);
	if (!m || !(e = zio_syms__elf(syms, m->path)) ||
	    zio_elf__off_to_addr(e, st->k.ip - m->start + m->pgoff, &vaddr))
		return;
	n->line = line_of(m->path, vaddr);
}

/* ---------------------------------------------------------------- output */

static const char *human(__u64 b, char *buf, size_t n)
{
	if (b >= 1ULL << 30)
		snprintf(buf, n, "%.1f GiB", (double)b / (1ULL << 30));
	else if (b >= 1ULL << 20)
		snprintf(buf, n, "%.1f MiB", (double)b / (1ULL << 20));
	else if (b >= 1ULL << 10)
		snprintf(buf, n, "%.1f KiB", (double)b / (1ULL << 10));
	else
		snprintf(buf, n, "%llu B", (unsigned long long)b);
	return buf;
}

static void print_by(const char *const *names, const __u64 *v, int n)
{
	bool any = false;

	for (int i = 1; i <= n; i++) {
		int k = i % n;  /* unknown (slot 0) last */

		if (!v[k])
			continue;
		printf("%s %s %llu", any ? "," : ":", names[k], (unsigned long long)v[k]);
		any = true;
	}
	printf("\n");
}

static void print_text(const struct snap *d, struct zio_syms *syms, size_t npids)
{
	const struct zio_obs_counters *c = &d->c;
	char b1[32], b2[32];
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	if (env.timestamp) {
		strftime(b1, sizeof(b1), "%H:%M:%S", &tm);
		printf("%s  ", b1);
	}
	printf("[%zu process%s]\n", npids, npids == 1 ? "" : "es");
	printf("  elided        %llu copies, %s\n", (unsigned long long)c->elided_copies,
	       human(c->elided_bytes, b1, sizeof(b1)));
	printf("  materialized  %llu pages",
	       (unsigned long long)sum(c->materialized_pages, ZIO_MAT_MAX));
	print_by(mat_names, c->materialized_pages, ZIO_MAT_MAX);
	printf("  fallbacks     %llu", (unsigned long long)sum(c->fallbacks, ZIO_FB_MAX));
	print_by(fb_names, c->fallbacks, ZIO_FB_MAX);
	printf("  faults        %llu\n", (unsigned long long)c->faults);
	printf("  outputs       %llu served from originals, %s of %s from originals\n",
	       (unsigned long long)c->outputs, human(c->output_bytes_from_origin, b1, sizeof(b1)),
	       human(c->output_bytes, b2, sizeof(b2)));
	printf("  retired       %llu copied, %llu moved, %s\n",
	       (unsigned long long)c->retired_copy, (unsigned long long)c->retired_move,
	       human(c->retired_bytes, b1, sizeof(b1)));
	printf("  redirected    %llu inputs, %s of their buffers aliased\n",
	       (unsigned long long)c->inputs_redirected,
	       human(c->redirected_bytes, b1, sizeof(b1)));
	printf("  policy skips  %llu\n", (unsigned long long)c->policy_skips);
	if (c->lost)
		printf("  lost updates  %llu (a BPF map was full)\n", (unsigned long long)c->lost);
	print_hist(d->lat);
	if (env.top && d->nsites) {
		printf("  %-52s %7s %7s %10s %9s %6s\n", "CALL SITE", "PID", "ELIDED", "BYTES",
		       "MAT.PAGES", "SKIPS");
		for (size_t i = 0; i < d->nsites && i < (size_t)env.top; i++) {
			const struct site *st = &d->sites[i];
			struct site_name n;
			char where[512];

			name_site(syms, st, &n);
			snprintf(where, sizeof(where), "%s [%s]%s%s", n.sym, n.bin,
				 n.line[0] ? " " : "", n.line);
			printf("  %-52s %7u %7llu %10s %9llu %6llu\n", where, st->k.pid,
			       (unsigned long long)st->v.elided_copies,
			       human(st->v.elided_bytes, b1, sizeof(b1)),
			       (unsigned long long)st->v.materialized_pages,
			       (unsigned long long)st->v.policy_skips);
		}
	}
	printf("\n");
	fflush(stdout);
}

static void print_json(const struct snap *d, struct zio_syms *syms, const struct zio_observe *o,
		       double interval_s)
{
	const struct zio_obs_counters *c = &d->c;
	struct timespec ts;
	char tbuf[32];
	time_t t;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = ts.tv_sec;
	localtime_r(&t, &tm);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
	printf("{\"time\":\"%s\",\"interval_s\":%.3f,\"pids\":[", tbuf, interval_s);
	for (size_t i = 0; i < zio_observe__nr_pids(o); i++)
		printf("%s%d", i ? "," : "", (int)zio_observe__pid(o, i));
	printf("],\"elided_copies\":%llu,\"elided_bytes\":%llu",
	       (unsigned long long)c->elided_copies, (unsigned long long)c->elided_bytes);
	printf(",\"materialized_pages\":%llu,\"materialized_by_cause\":{",
	       (unsigned long long)sum(c->materialized_pages, ZIO_MAT_MAX));
	for (int i = 0; i < ZIO_MAT_MAX; i++)
		printf("%s\"%s\":%llu", i ? "," : "", mat_names[i],
		       (unsigned long long)c->materialized_pages[i]);
	printf("},\"fallbacks\":%llu,\"fallbacks_by_reason\":{",
	       (unsigned long long)sum(c->fallbacks, ZIO_FB_MAX));
	for (int i = 0; i < ZIO_FB_MAX; i++)
		printf("%s\"%s\":%llu", i ? "," : "", fb_names[i],
		       (unsigned long long)c->fallbacks[i]);
	printf("},\"faults\":%llu,\"outputs_substituted\":%llu,\"output_bytes\":%llu,"
	       "\"output_bytes_from_origin\":%llu,\"retired_copy\":%llu,\"retired_move\":%llu,"
	       "\"retired_bytes\":%llu,\"inputs_redirected\":%llu,\"redirected_bytes\":%llu,"
	       "\"policy_skips\":%llu,\"lost_updates\":%llu",
	       (unsigned long long)c->faults, (unsigned long long)c->outputs,
	       (unsigned long long)c->output_bytes,
	       (unsigned long long)c->output_bytes_from_origin,
	       (unsigned long long)c->retired_copy, (unsigned long long)c->retired_move,
	       (unsigned long long)c->retired_bytes, (unsigned long long)c->inputs_redirected,
	       (unsigned long long)c->redirected_bytes, (unsigned long long)c->policy_skips,
	       (unsigned long long)c->lost);
	printf(",\"fault_latency_ns\":{\"count\":%llu,\"p50\":%.0f,\"p99\":%.0f,\"hist\":[",
	       (unsigned long long)sum(d->lat, ZIO_OBS_LAT_SLOTS), percentile(d->lat, 50),
	       percentile(d->lat, 99));
	for (int s = 0, first = 1; s < ZIO_OBS_LAT_SLOTS; s++) {
		if (!d->lat[s])
			continue;
		printf("%s{\"lo\":%llu,\"hi\":%llu,\"count\":%llu}", first ? "" : ",",
		       s ? 1ULL << s : 0ULL, (2ULL << s) - 1, (unsigned long long)d->lat[s]);
		first = 0;
	}
	printf("]},\"sites\":[");
	for (size_t i = 0; i < d->nsites && i < (size_t)env.top; i++) {
		const struct site *st = &d->sites[i];
		struct site_name n;

		name_site(syms, st, &n);
		printf("%s{\"pid\":%u,\"ip\":\"0x%llx\",\"sym\":", i ? "," : "", st->k.pid,
		       (unsigned long long)st->k.ip);
		zio_print_json_str(n.sym);
		printf(",\"bin\":");
		zio_print_json_str(n.bin);
		printf(",\"line\":");
		zio_print_json_str(n.line);
		printf(",\"elided_copies\":%llu,\"elided_bytes\":%llu,\"materialized_pages\":%llu,"
		       "\"policy_skips\":%llu}",
		       (unsigned long long)st->v.elided_copies,
		       (unsigned long long)st->v.elided_bytes,
		       (unsigned long long)st->v.materialized_pages,
		       (unsigned long long)st->v.policy_skips);
	}
	printf("]}\n");
	fflush(stdout);
}

/* ---------------------------------------------------------------- main */

/*
 * Waits until deadline (CLOCK_MONOTONIC ms), Ctrl-C, or the exit of the
 * process behind pidfd (-1: none).  Returns true when that process exited.
 */
static bool wait_until(uint64_t deadline, int pidfd)
{
	while (!exiting) {
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

int main(int argc, char **argv)
{
	static const struct argp argp = {
		.options = opts,
		.parser = parse_arg,
		.doc = argp_program_doc,
		.args_doc = "[INTERVAL [COUNT]]",
	};
	struct snap prev = {}, cur = {}, delta = {};
	struct zio_syms *syms = NULL;
	struct zio_observe *o = NULL;
	uint64_t t0, last, end = 0;
	int pidfd = -1, err;
	long printed = 0;
	bool gone = false;

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
	if (err > 0 && zio_print_on(ZIO_PR_DEBUG))
		fprintf(stderr, "zio-stat: removed %d stale pin directories\n", err);

	o = zio_observe__open(false);
	if (!o) {
		err = -errno;
		fprintf(stderr, "zio-stat: failed to load BPF programs: %s\n", strerror(-err));
		goto cleanup;
	}
	syms = zio_syms__new();
	if (!syms) {
		err = -errno;
		fprintf(stderr, "zio-stat: failed to create symboliser: %s\n", strerror(-err));
		goto cleanup;
	}
	if (env.pid) {
		err = attach_pid(o, env.pid, false);
		if (err)
			goto cleanup;
		pidfd = (int)syscall(SYS_pidfd_open, env.pid, 0);
		if (pidfd < 0) {
			err = -errno;
			fprintf(stderr, "zio-stat: failed to open pidfd of %d: %s\n", (int)env.pid,
				strerror(-err));
			goto cleanup;
		}
	} else {
		scan_procs(o);
	}
	refresh_maps();
	err = snap_read(zio_observe__skel(o), &prev);
	if (err) {
		fprintf(stderr, "zio-stat: failed to read maps: %s\n", strerror(-err));
		goto cleanup;
	}
	if (env.pid)
		fprintf(env.json ? stderr : stdout,
			"Tracing zio process %d... Hit Ctrl-C to end.\n", (int)env.pid);
	else
		fprintf(env.json ? stderr : stdout,
			"Tracing %zu zio process%s (new ones too)... Hit Ctrl-C to end.\n",
			zio_observe__nr_pids(o), zio_observe__nr_pids(o) == 1 ? "" : "es");
	fflush(NULL);

	t0 = last = zio_now_ms();
	if (env.duration)
		end = t0 + (uint64_t)env.duration * 1000;
	while (!exiting && !gone) {
		uint64_t next = last + (uint64_t)env.interval * 1000, now;

		if (end && end < next)
			next = end;
		gone = wait_until(next, pidfd);
		now = zio_now_ms();
		refresh_maps();
		err = snap_read(zio_observe__skel(o), &cur);
		if (err) {
			fprintf(stderr, "zio-stat: failed to read maps: %s\n", strerror(-err));
			goto cleanup;
		}
		snap_delta(&cur, &prev, &delta);
		qsort(delta.sites, delta.nsites, sizeof(*delta.sites), site_cmp_busy);
		if (env.json)
			print_json(&delta, syms, o, (double)(now - last) / 1000);
		else
			print_text(&delta, syms, zio_observe__nr_pids(o));
		snap_free(&delta);
		snap_free(&prev);
		prev = cur;
		cur = (struct snap){};
		last = now;
		if ((env.count && ++printed >= env.count) || (end && now >= end))
			break;
		/* After printing: detaching from a process that exited waits
		 * for grace periods, which must not delay the output. */
		if (!env.pid)
			scan_procs(o);
	}
	if (gone && zio_print_on(ZIO_PR_DEBUG))
		fprintf(stderr, "zio-stat: pid %d exited\n", (int)env.pid);
	err = 0;

cleanup:
	snap_free(&prev);
	snap_free(&cur);
	if (pidfd >= 0)
		close(pidfd);
	zio_observe__destroy(o);
	zio_syms__free(syms);
	procs_free();
	free(lines);
	return err != 0;
}
