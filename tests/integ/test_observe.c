// SPDX-License-Identifier: MIT
/*
 * test_observe.c - zio-run --observe and zio-stat on tests/progs/
 * observe_target, whose aliases are known (see that file): three copies
 * A <- SRC[0, 64K), B <- SRC[64K, 192K), C <- SRC[0, 192K) from the
 * functions copy_a, copy_b, copy_c.
 *
 * The pinned maps are read with bpftool's JSON output, field by field;
 * pins must go when the program exits, when it is killed, and (reaped by
 * the next zio-run --observe) when its zio-run is killed; zio-stat's
 * counters must equal the program's --stats line.  Needs root and BPF:
 * skips with one line otherwise.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <linux/bpf.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "harness.h"

#define PIN_ROOT "/sys/fs/bpf/zio"
#define KB 1024ULL

static char zio_run[512], zio_stat[512], target[512];

/* A process started by a test, with its stdin and stdout as pipes. */
struct proc {
	pid_t pid;              /* what we forked (zio-run or zio-stat) */
	int in, out;            /* its stdin (write end), stdout (read end) */
	char buf[8192];
	size_t len;
};

/* Killed in fini if a failed assertion left them running. */
static pid_t live[8];
static pid_t prog_pids[8];

static void track(pid_t *set, pid_t pid)
{
	for (int i = 0; i < 8; i++)
		if (!set[i]) {
			set[i] = pid;
			return;
		}
}

static void remove_pins(pid_t pid)
{
	char dir[128], path[512];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), PIN_ROOT "/%d", (int)pid);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(dir);
}

static void setup(void)
{
	path_in_build(zio_run, sizeof(zio_run), "zio-run");
	path_in_build(zio_stat, sizeof(zio_stat), "zio-stat");
	path_in_build(target, sizeof(target), "tests/progs/observe_target");
}

static void teardown(void)
{
	for (int i = 0; i < 8; i++)
		if (prog_pids[i] > 0) {
			kill(prog_pids[i], SIGKILL);
			remove_pins(prog_pids[i]);
		}
	for (int i = 0; i < 8; i++)
		if (live[i] > 0) {
			kill(live[i], SIGKILL);
			waitpid(live[i], NULL, 0);
		}
	for (int i = 0; i < 8; i++)
		if (prog_pids[i] > 0)
			remove_pins(prog_pids[i]);
}

TestSuite(observe, .init = setup, .fini = teardown, .timeout = 60);

/* Skip (one line) unless we are root with BPF maps and uprobes: the
 * cheap checks, as every zio-run --observe costs a second of detaching. */
static void need_bpf(void)
{
	union bpf_attr attr = {
		.map_type = BPF_MAP_TYPE_ARRAY,
		.key_size = 4,
		.value_size = 4,
		.max_entries = 1,
	};
	int fd;

	if (geteuid() != 0)
		cr_skip_test("zio-run --observe needs root (BPF)");
	fd = (int)syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	if (fd < 0)
		cr_skip_test("BPF unavailable here: %s", strerror(errno));
	close(fd);
	if (access("/sys/bus/event_source/devices/uprobe", F_OK))
		cr_skip_test("uprobes unavailable here (no uprobe PMU)");
}

/* Starts argv with pipes on stdin and stdout; stderr to errfile (or
 * inherited when NULL). */
static void start(struct proc *p, const char *errfile, char *const argv[])
{
	int pi[2], po[2];

	memset(p, 0, sizeof(*p));
	/* CLOEXEC: a process started later must not hold our pipes open. */
	cr_assert(!pipe2(pi, O_CLOEXEC) && !pipe2(po, O_CLOEXEC));
	p->pid = fork();
	cr_assert_geq(p->pid, 0);
	if (p->pid == 0) {
		dup2(pi[0], 0);
		dup2(po[1], 1);
		if (errfile) {
			int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);

			dup2(fd, 2);
		}
		close(pi[1]);
		close(po[0]);
		execv(argv[0], argv);
		_exit(126);
	}
	close(pi[0]);
	close(po[1]);
	p->in = pi[1];
	p->out = po[0];
	track(live, p->pid);
}

/* Reads p's stdout until it holds `what`; false on EOF or timeout. */
static bool read_until(struct proc *p, const char *what, int timeout_ms)
{
	while (!strstr(p->buf, what)) {
		struct pollfd pf = { p->out, POLLIN, 0 };
		ssize_t n;

		if (poll(&pf, 1, timeout_ms) <= 0)
			return false;
		n = read(p->out, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
		if (n <= 0)
			return false;
		p->len += (size_t)n;
		p->buf[p->len] = '\0';
	}
	return true;
}

/* Waits up to timeout_s for pid; its status as harness.h reports it. */
static int reap(pid_t pid, int timeout_s)
{
	for (int i = 0; i < timeout_s * 50; i++) {
		int st;
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid) {
			for (int j = 0; j < 8; j++)
				if (live[j] == pid)
					live[j] = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(20000);
	}
	return -1;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

struct alias_exp {
	char name[8];
	unsigned long long dst, len, fn, off;
};

struct expect {
	pid_t pid;
	unsigned long long src, src_len;
	struct alias_exp a[3];
};

/* Starts observe_target MODE under zio-run EXTRA --, lets it make its
 * aliases, and parses what it printed. */
static void start_target(struct proc *p, struct expect *e, const char *errfile, const char *mode,
			 const char *extra)
{
	char *argv[8];
	const char *s;
	int n = 0;

	argv[n++] = zio_run;
	argv[n++] = (char *)extra;
	argv[n++] = "--";
	argv[n++] = target;
	argv[n++] = (char *)mode;
	argv[n] = NULL;
	start(p, errfile, argv);
	cr_assert(read_until(p, "pid=", 10000) && read_until(p, "\n", 5000),
		  "no pid line: %s", p->buf);
	memset(e, 0, sizeof(*e));
	e->pid = (pid_t)atoi(strstr(p->buf, "pid=") + 4);
	cr_assert_gt(e->pid, 0);
	track(prog_pids, e->pid);
	cr_assert_eq(write(p->in, "go\n", 3), 3);
	cr_assert(read_until(p, "done\n", 20000), "observe_target did not finish: %s", p->buf);
	s = strstr(p->buf, "src=");
	cr_assert(s && sscanf(s, "src=%llx len=%llu", &e->src, &e->src_len) == 2, "%s", p->buf);
	s = p->buf;
	for (int i = 0; i < 3; i++) {
		s = strstr(s, "alias name=");
		cr_assert(s && sscanf(s, "alias name=%7s dst=%llx len=%llu fn=%llx off=%llu",
				      e->a[i].name, &e->a[i].dst, &e->a[i].len, &e->a[i].fn,
				      &e->a[i].off) == 5, "%s", p->buf);
		s++;
	}
}

/* ---------------------------------------------------------------- JSON */

/*
 * Enough JSON for bpftool's map dumps and zio-stat's lines: the number or
 * string value of "key" between from and to (NULL: end of string).
 */
static bool json_num(const char *from, const char *to, const char *key,
		     unsigned long long *v)
{
	char pat[64];
	const char *k;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	k = strstr(from, pat);
	if (!k || (to && k >= to))
		return false;
	*v = strtoull(k + strlen(pat), NULL, 10);
	return true;
}

static bool json_str(const char *from, const char *to, const char *key, char *out,
		     size_t n)
{
	char pat[64];
	const char *k, *q;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	k = strstr(from, pat);
	if (!k || (to && k >= to))
		return false;
	k += strlen(pat);
	q = strchr(k, '"');
	if (!q || (size_t)(q - k) >= n)
		return false;
	memcpy(out, k, (size_t)(q - k));
	out[q - k] = '\0';
	return true;
}

struct region {
	unsigned long long dst, len, orig, orig_id, site, born_ns;
	char kind[64], type[64];
};

/* bpftool -j map dump pinned PATH, parsed into r.  Returns the count. */
static int dump_regions(const char *path, struct region *r, int max)
{
	static struct run run;
	const char *p;
	int n = 0;

	RUN(&run, 20, "bpftool", "-j", "map", "dump", "pinned", (char *)path);
	cr_assert_eq(run.status, 0, "bpftool map dump %s: %s %s", path, run.out, run.err);
	for (p = strstr(run.out, "\"formatted\":"); p; p = strstr(p + 1, "\"formatted\":")) {
		const char *next = strstr(p + 1, "\"formatted\":");
		struct region *x = &r[n];

		cr_assert_lt(n, max, "more regions than expected in %s: %s", path, run.out);
		memset(x, 0, sizeof(*x));
		cr_assert(json_num(p, next, "dst", &x->dst) && json_num(p, next, "len", &x->len) &&
			  json_num(p, next, "orig", &x->orig) &&
			  json_num(p, next, "orig_id", &x->orig_id) &&
			  json_num(p, next, "site", &x->site) &&
			  json_num(p, next, "born_ns", &x->born_ns) &&
			  json_str(p, next, "orig_kind", x->kind, sizeof(x->kind)) &&
			  json_str(p, next, "type", x->type, sizeof(x->type)),
			  "bpftool output lacks a named field (BTF?): %s", run.out);
		n++;
	}
	return n;
}

static unsigned long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

/* ---------------------------------------------------------------- tests */

Test(observe, bpftool_dump_shows_the_live_aliases_field_by_field)
{
	struct region r[16], o[4];
	struct proc p;
	struct expect e;
	char path[256];
	int n, st;

	need_bpf();
	start_target(&p, &e, NULL, "aliases", "--observe");
	snprintf(path, sizeof(path), PIN_ROOT "/%d/aliases", (int)e.pid);
	cr_assert(exists(path), "%s missing", path);

	n = dump_regions(path, r, 16);
	cr_assert_eq(n, 3, "expected 3 live aliases, got %d", n);
	for (int i = 0; i < 3; i++) {
		const struct alias_exp *a = &e.a[i];
		struct region *x = NULL;

		for (int j = 0; j < n; j++)
			if (r[j].dst == a->dst)
				x = &r[j];
		cr_assert(x, "no alias at dst %#llx (copy_%s)", a->dst, a->name);
		cr_expect_eq(x->len, a->len, "copy_%s: len %llu, expected %llu", a->name, x->len,
			     a->len);
		cr_expect_eq(x->orig, e.src + a->off, "copy_%s: orig %#llx, expected %#llx",
			     a->name, x->orig, e.src + a->off);
		cr_expect_str_eq(x->kind, "ZIO_OBS_APP_BUFFER", "copy_%s: kind", a->name);
		cr_expect_str_eq(x->type, "ZIO_OBS_ALIAS", "copy_%s: type", a->name);
		/* The call site is the return address of copy_X's memcpy call:
		 * a few bytes into copy_X (the functions are 16 bytes apart). */
		cr_expect(x->site > a->fn && x->site < a->fn + 16,
			  "copy_%s: site %#llx not inside copy_%s at %#llx", a->name, x->site,
			  a->name, a->fn);
		cr_expect(x->born_ns > 0 && x->born_ns <= mono_ns(), "copy_%s: born_ns %llu",
			  a->name, x->born_ns);
		cr_expect_eq(x->orig_id, r[0].orig_id, "one original, one origin id");
	}

	snprintf(path, sizeof(path), PIN_ROOT "/%d/originals", (int)e.pid);
	n = dump_regions(path, o, 4);
	cr_assert_eq(n, 1, "expected the one original, got %d", n);
	cr_expect_eq(o[0].dst, e.src);
	cr_expect_eq(o[0].len, e.src_len);
	cr_expect_eq(o[0].orig, e.src);
	cr_expect_str_eq(o[0].kind, "ZIO_OBS_APP_BUFFER");
	cr_expect_str_eq(o[0].type, "ZIO_OBS_ORIGINAL");

	close(p.in);
	st = reap(p.pid, 20);
	cr_assert_eq(st, 0, "zio-run --observe exited %d: %s", st, p.buf);
	cr_assert(strstr(p.buf, "observe_target: ok") || read_until(&p, "observe_target: ok", 5000),
		  "program verdict: %s", p.buf);
	snprintf(path, sizeof(path), PIN_ROOT "/%d", (int)e.pid);
	cr_assert(!exists(path), "%s still there after the program exited", path);
	close(p.out);
}

Test(observe, pins_go_when_the_program_is_killed)
{
	struct proc p;
	struct expect e;
	char dir[128];
	int st;

	need_bpf();
	start_target(&p, &e, NULL, "aliases", "--observe");
	snprintf(dir, sizeof(dir), PIN_ROOT "/%d", (int)e.pid);
	cr_assert(exists(dir));
	cr_assert_eq(kill(e.pid, SIGKILL), 0);
	st = reap(p.pid, 20);
	cr_assert_eq(st, 128 + SIGKILL, "zio-run should exit 137 like its program, got %d", st);
	cr_assert(!exists(dir), "%s still there after SIGKILL of the program", dir);
	close(p.in);
	close(p.out);
}

Test(observe, stale_pins_of_a_killed_zio_run_are_reaped_on_next_start)
{
	struct proc p;
	struct expect e;
	struct run r;
	char dir[128];
	int st;

	need_bpf();
	/* The program outlives its zio-run: be its new parent, to reap it. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	start_target(&p, &e, NULL, "aliases", "--observe");
	snprintf(dir, sizeof(dir), PIN_ROOT "/%d", (int)e.pid);
	cr_assert(exists(dir));
	/* The observer dies and cannot clean up; the program lives on,
	 * unobserved, so its pins are stale. */
	kill(p.pid, SIGKILL);
	st = reap(p.pid, 20);
	cr_assert_eq(st, 128 + SIGKILL);
	cr_assert(exists(dir), "pins vanished without a reaper");
	RUN(&r, 20, zio_run, "--observe", "--", "true");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(!exists(dir), "%s not reaped by the next zio-run --observe", dir);
	kill(e.pid, SIGKILL);
	cr_assert_eq(reap(e.pid, 10), 128 + SIGKILL);
	close(p.in);
	close(p.out);
}

Test(observe, keeps_exit_status_and_forwards_signals)
{
	struct run r;
	struct proc p;
	char *argv[] = { zio_run, "--observe", "--", "/bin/sh", "-c",
			 "trap 'echo got-term; exit 7' TERM; echo ready; "
			 "while :; do sleep 0.05; done", NULL };
	int st;

	need_bpf();
	RUN(&r, 20, zio_run, "--observe", "--", "/bin/sh", "-c", "exit 3");
	cr_assert_eq(r.status, 3, "status %d: %s", r.status, r.err);
	RUN(&r, 20, zio_run, "--observe", "--", "no-such-program-zio");
	cr_assert_eq(r.status, 127, "status %d: %s", r.status, r.err);

	start(&p, NULL, argv);
	cr_assert(read_until(&p, "ready", 10000));
	kill(p.pid, SIGTERM);   /* to zio-run: passed on to the program */
	cr_assert(read_until(&p, "got-term", 10000), "%s", p.buf);
	st = reap(p.pid, 20);
	cr_assert_eq(st, 7, "status %d", st);
	close(p.in);
	close(p.out);
}

Test(observe, without_bpf_privilege_says_so_in_one_line_and_runs)
{
	struct run r;
	const char *line;
	int lines = 0;

	need_bpf();
	RUN(&r, 20, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
	    zio_run, "--observe", "--", "/bin/echo", "hello");
	if (r.status == 126 && strstr(r.err, "Permission denied"))
		cr_skip_test("build directory not readable by nobody");
	cr_assert_eq(r.status, 0, "status %d: %s", r.status, r.err);
	cr_assert_str_eq(r.out, "hello\n");
	for (line = strstr(r.err, "zio-run:"); line; line = strstr(line + 1, "zio-run:"))
		lines++;
	cr_assert_eq(lines, 1, "expected one zio-run line: %s", r.err);
	cr_assert(strstr(r.err, "zio-run: --observe unavailable (") &&
		  strstr(r.err, "): running unobserved\n"), "%s", r.err);
}

/* Sum of counter key over zio-stat's JSON lines (top level only). */
static unsigned long long stat_json_sum(const char *out, const char *key)
{
	unsigned long long total = 0, v;

	for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		const char *sites = strstr(l, "\"sites\":");
		const char *eol = strchr(l, '\n');

		if (*l != '{')
			continue;
		if (!sites || (eol && sites > eol))
			sites = eol;
		if (json_num(l, sites, key, &v))
			total += v;
	}
	return total;
}

/* What one run of observe_target work watched by zio-stat gave. */
struct stat_run {
	char out[1 << 16];	/* zio-stat's stdout: one JSON line a second */
	char stats[1 << 16];	/* the program's stderr: its --stats line */
};

/*
 * Runs observe_target work under zio-run --stats with `zio-stat -p PID
 * --json 1` attached before its work, through wrap (the start of its
 * command line, e.g. strace; NULL: none) and with PATH=path (NULL: ours).
 * Returns nothing; asserts that both end well.
 */
static void stat_run(struct stat_run *r, char *const wrap[], const char *path)
{
	char errfile[] = "/tmp/zio-observe-test-XXXXXX", staterr[] = "/tmp/zio-stat-test-XXXXXX";
	char pidbuf[16], err[1 << 14], *old_path = NULL;
	struct proc p, s;
	size_t len = 0;
	pid_t pid;
	int fd, st;

	fd = mkstemp(errfile);
	cr_assert_geq(fd, 0);
	close(fd);
	fd = mkstemp(staterr);
	cr_assert_geq(fd, 0);
	close(fd);

	/* The program waits for "go"; zio-stat must be attached by then.
	 * start_target sends it, so start by hand here. */
	{
		char *argv[] = { zio_run, "--stats", "--", target, "work", NULL };

		start(&p, errfile, argv);
	}
	cr_assert(read_until(&p, "pid=", 10000) && read_until(&p, "\n", 5000));
	pid = (pid_t)atoi(strstr(p.buf, "pid=") + 4);
	track(prog_pids, pid);
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
	{
		char *argv[32];
		int n = 0;

		for (int i = 0; wrap && wrap[i] && n < 24; i++)
			argv[n++] = wrap[i];
		argv[n++] = zio_stat;
		argv[n++] = "-p";
		argv[n++] = pidbuf;
		argv[n++] = "--json";
		argv[n++] = "1";
		argv[n] = NULL;
		/* zio-stat alone gets path: start() forks and execs at once */
		if (path) {
			old_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
			setenv("PATH", path, 1);
		}
		start(&s, staterr, argv);
		if (path && old_path)
			setenv("PATH", old_path, 1);
		else if (path)
			unsetenv("PATH");
		free(old_path);
	}
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(staterr, "r");
		size_t n = f ? fread(err, 1, sizeof(err) - 1, f) : 0;

		if (f)
			fclose(f);
		err[n] = '\0';
		if (strstr(err, "Tracing") || waitpid(s.pid, NULL, WNOHANG) == s.pid)
			break;
		usleep(50000);
	}
	cr_assert(strstr(err, "Tracing"), "zio-stat did not attach: %s", err);
	cr_assert_eq(write(p.in, "go\n", 3), 3);
	cr_assert(read_until(&p, "done\n", 20000), "%s", p.buf);
	close(p.in);
	st = reap(p.pid, 20);
	cr_assert_eq(st, 0, "program status %d: %s", st, p.buf);
	/* zio-stat ends by itself when its process is gone. */
	for (;;) {
		ssize_t n = read(s.out, r->out + len, sizeof(r->out) - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	r->out[len] = '\0';
	st = reap(s.pid, 10);
	cr_assert_eq(st, 0, "zio-stat status %d", st);
	{
		FILE *f = fopen(errfile, "r");
		size_t n = f ? fread(r->stats, 1, sizeof(r->stats) - 1, f) : 0;

		if (f)
			fclose(f);
		r->stats[n] = '\0';
	}
	close(p.out);
	close(s.in);
	close(s.out);
	unlink(errfile);
	unlink(staterr);
}

Test(observe, zio_stat_counters_agree_with_stats)
{
	static const char *const keys[] = {
		"elided_copies", "elided_bytes", "materialized_pages", "faults", "fallbacks",
		"outputs_substituted", "output_bytes_from_origin", "retired_copy",
		"retired_move", "policy_skips", "inputs_redirected",
	};
	static struct stat_run r;
	const char *out = r.out;

	need_bpf();
	stat_run(&r, NULL, NULL);
	cr_assert_geq(stat_of(r.stats, "elided_copies"), 0, "no stats line: %s", r.stats);
	/* copy_a, copy_b, copy_c and copy_d; and RX's second input lands
	 * in the arena */
	cr_assert_eq(stat_of(r.stats, "elided_copies"), 4, "%s", r.stats);
	cr_assert_eq(stat_of(r.stats, "inputs_redirected"), 1, "%s", r.stats);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		cr_expect_eq((long long)stat_json_sum(out, keys[i]), stat_of(r.stats, keys[i]),
			     "%s: zio-stat %llu, --stats %lld\nzio-stat: %s\nstats: %s",
			     keys[i], stat_json_sum(out, keys[i]),
			     stat_of(r.stats, keys[i]), out, r.stats);
	/* Every copy's call site is named after its function. */
	cr_expect(strstr(out, "\"sym\":\"copy_a+0x"), "%s", out);
	cr_expect(strstr(out, "\"sym\":\"copy_b+0x"), "%s", out);
	cr_expect(strstr(out, "\"sym\":\"copy_c+0x"), "%s", out);
	cr_expect(strstr(out, "\"fault_latency_ns\":{\"count\":"), "%s", out);
}

/* The "line" zio-stat gave the call site in function fn, copied into
 * line ("" when it named no such site).  Returns line. */
static char *stat_site_line(const char *out, const char *fn, char *line, size_t sz)
{
	char key[64];

	snprintf(key, sizeof(key), "\"sym\":\"%s+0x", fn);
	return json_line_of(out, key, line, sz);
}

/* The line of observe_target's copy_a call, from its source. */
static void stat_expect_line(const char *out)
{
	char want[64], line[128];

	snprintf(want, sizeof(want), "observe_target.c:%d",
		 src_line("observe_target.c", "void copy_a(", "memcpy(d, s, n);"));
	cr_expect_str_eq(stat_site_line(out, "copy_a", line, sizeof(line)), want, "%s", out);
}

/* A debug build (tests/progs are built with -g) gets file:line from
 * DWARF, with nothing to run on PATH (no addr2line to fall back on). */
Test(observe, zio_stat_names_file_and_line_of_a_debug_build)
{
	char empty[] = "/tmp/zio-stat-path-XXXXXX";
	static struct stat_run r;

	need_bpf();
	cr_assert_not_null(mkdtemp(empty));
	stat_run(&r, NULL, empty);
	rmdir(empty);
	stat_expect_line(r.out);
}

/* Naming call sites starts no process: under strace -f, zio-stat's one
 * execve is its own, and it never forks or clones. */
Test(observe, zio_stat_starts_no_process_to_name_sites)
{
	char log[] = "/tmp/zio-stat-strace-XXXXXX", line[1024];
	char *wrap[] = { "/usr/bin/strace", "-f", "-qq", "-o", log,
			 "-e", "trace=execve,execveat,fork,vfork,clone,clone3", NULL };
	static struct stat_run r;
	int fd, execs = 0, forks = 0;
	FILE *f;

	need_bpf();
	if (access(wrap[0], X_OK))
		cr_skip_test("strace is not installed");
	fd = mkstemp(log);
	cr_assert_geq(fd, 0);
	close(fd);
	stat_run(&r, wrap, NULL);
	stat_expect_line(r.out);
	f = fopen(log, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		execs += strstr(line, "execve(") || strstr(line, "execveat(");
		forks += strstr(line, "fork(") || strstr(line, "clone(") ||
			 strstr(line, "clone3(");
	}
	fclose(f);
	unlink(log);
	cr_expect_eq(execs, 1, "zio-stat ran %d programs", execs);
	cr_expect_eq(forks, 0, "zio-stat made %d processes or threads", forks);
}
