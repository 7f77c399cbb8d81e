// SPDX-License-Identifier: MIT
/*
 * test_trace.c - zio-trace on tests/progs/trace_target, whose IO copy call
 * sites are known: 3 rounds of 256 KiB input (recv, the last readv), then
 * copy_a (memcpy, 256 KiB of input), copy_b (memmove, 100 KiB of copy_a's
 * output), copy_chk (__memcpy_chk, 50 KiB of input), copy_small (memcpy,
 * 1000 bytes of input), emit_out (write of copy_b's output), emit_vec
 * (writev of a header and copy_small's output), and copy_noio/emit_noio,
 * which move no IO data and must not show.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define TRACE_OUT_MAX (64 * 1024)

struct trace_row {
	char kind[16];
	char fn[32];
	char site[256];
	char bin[128];
	unsigned long long calls;
	unsigned long long bytes;
	char elidable[32];
};

static const char *trace_build(void)
{
	const char *b = getenv("ZIO_BUILD");

	if (!b)
		cr_skip_test("ZIO_BUILD is not set (run through make test)");
	return b;
}

/*
 * Runs argv with stdin from /dev/null and stdout into out (NUL-terminated).
 * Returns the exit code, 128+signal, or -1.
 */
static int trace_run(char *const argv[], char *out, size_t outsz)
{
	size_t len = 0;
	int p[2], st;
	ssize_t n;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null_fd = open("/dev/null", O_RDONLY);

		dup2(null_fd, 0);
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	while (len + 1 < outsz && (n = read(p[0], out + len, outsz - len - 1)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += n;
	}
	out[len] = '\0';
	close(p[0]);
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Skips unless zio-trace can trace at all here (root, BPF, uprobes). */
static void trace_require(void)
{
	static int ok = -1;
	char path[4096], out[TRACE_OUT_MAX];

	if (geteuid() != 0)
		cr_skip_test("zio-trace needs root for BPF uprobes");
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		cr_skip_test("no kernel BTF (/sys/kernel/btf/vmlinux)");
	if (ok < 0) {
		char *argv[] = { path, "--", "/bin/true", NULL };

		snprintf(path, sizeof(path), "%s/zio-trace", trace_build());
		ok = trace_run(argv, out, sizeof(out)) == 0 &&
		     strstr(out, "IO copy call sites");
	}
	if (!ok)
		cr_skip_test("zio-trace cannot attach uprobes on this kernel");
}

/* Parses the table's rows.  Returns how many. */
static int trace_rows(const char *out, struct trace_row *rows, int max)
{
	const char *line = out;
	int nr = 0;

	while (line && *line && nr < max) {
		struct trace_row *r = &rows[nr];

		if ((!strncmp(line, "  app ", 6) ||
		     !strncmp(line, "  iostack ", 10)) &&
		    sscanf(line, "%15s %31s %255s %127s %llu %llu %*s %31s",
			   r->kind, r->fn, r->site, r->bin, &r->calls,
			   &r->bytes, r->elidable) == 7)
			nr++;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return nr;
}

/* The row whose call site is in function fn ("fn+0x..."), or NULL. */
static const struct trace_row *trace_find(const struct trace_row *rows, int nr,
					  const char *fn)
{
	size_t n = strlen(fn);
	int i;

	for (i = 0; i < nr; i++)
		if (!strncmp(rows[i].site, fn, n) && rows[i].site[n] == '+')
			return &rows[i];
	return NULL;
}

static void trace_expect(const struct trace_row *rows, int nr,
			 const char *site, const char *kind, const char *fn,
			 unsigned long long calls, unsigned long long bytes,
			 const char *elidable)
{
	const struct trace_row *r = trace_find(rows, nr, site);

	cr_assert_not_null(r, "no row for %s", site);
	cr_expect_str_eq(r->kind, kind, "%s: kind", site);
	cr_expect_str_eq(r->fn, fn, "%s: function", site);
	cr_expect_str_eq(r->bin, "(trace_target)", "%s: binary", site);
	cr_expect_eq(r->calls, calls, "%s: calls %llu, want %llu", site,
		     r->calls, calls);
	cr_expect_eq(r->bytes, bytes, "%s: bytes %llu, want %llu", site,
		     r->bytes, bytes);
	cr_expect_str_eq(r->elidable, elidable, "%s: elidable", site);
}

/* Every row of trace_target at a threshold of 16 KiB. */
static void trace_expect_all(const struct trace_row *rows, int nr)
{
	trace_expect(rows, nr, "copy_a", "app", "memcpy", 3, 3 * 262144, "3");
	trace_expect(rows, nr, "copy_b", "app", "memmove", 3, 3 * 102400, "3");
	trace_expect(rows, nr, "copy_chk", "app", "__memcpy_chk", 3, 3 * 51200,
		     "3");
	trace_expect(rows, nr, "copy_small", "app", "memcpy", 3, 3000, "0");
	trace_expect(rows, nr, "emit_out", "iostack", "write", 3, 3 * 102400,
		     "-");
	trace_expect(rows, nr, "emit_vec", "iostack", "writev", 3, 3000, "-");
}

static void trace_target_run(const char *opt, const char *val, char *out,
			     size_t outsz)
{
	char tool[4096], prog[4096];
	char *argv[12];
	int i = 0, rc;

	snprintf(tool, sizeof(tool), "%s/zio-trace", trace_build());
	snprintf(prog, sizeof(prog), "%s/tests/progs/trace_target",
		 trace_build());
	argv[i++] = tool;
	/* the target's copies are sized for a threshold of 16 KiB; its
	 * feeder child is not part of the counts */
	argv[i++] = "--threshold";
	argv[i++] = "16K";
	argv[i++] = "--no-follow";
	if (opt) {
		argv[i++] = (char *)opt;
		argv[i++] = (char *)val;
	}
	argv[i++] = "--";
	argv[i++] = prog;
	argv[i] = NULL;
	rc = trace_run(argv, out, outsz);
	cr_assert_eq(rc, 0, "zio-trace -- trace_target exited %d:\n%s", rc,
		     out);
}

TestSuite(trace, .timeout = 30);

Test(trace, known_sites)
{
	static char out[TRACE_OUT_MAX];
	struct trace_row rows[32];
	int nr;

	trace_require();
	trace_target_run(NULL, NULL, out, sizeof(out));
	nr = trace_rows(out, rows, 32);
	cr_assert_eq(nr, 6, "want 6 rows, got %d:\n%s", nr, out);
	trace_expect_all(rows, nr);
	cr_expect_null(trace_find(rows, nr, "copy_noio"));
	cr_expect_null(trace_find(rows, nr, "emit_noio"));
	cr_expect(strstr(out, "IO input: 786432 bytes in "), "%s", out);
	cr_expect(strstr(out, "summary: app copy sites=4 io-stack sites=2; "
			      "zio would elide 9 of 12 copies (1247232 bytes) "
			      "at threshold 16384, at 3 sites"), "%s", out);
}

Test(trace, threshold)
{
	static char out[TRACE_OUT_MAX];
	struct trace_row rows[32];
	int nr;

	trace_require();
	trace_target_run("--threshold", "200000", out, sizeof(out));
	nr = trace_rows(out, rows, 32);
	cr_assert_eq(nr, 6, "want 6 rows, got %d:\n%s", nr, out);
	trace_expect(rows, nr, "copy_a", "app", "memcpy", 3, 3 * 262144, "3");
	trace_expect(rows, nr, "copy_b", "app", "memmove", 3, 3 * 102400, "0");
	trace_expect(rows, nr, "copy_chk", "app", "__memcpy_chk", 3, 3 * 51200,
		     "0");
	cr_expect(strstr(out, "zio would elide 3 of 12 copies (786432 bytes) "
			      "at threshold 200000, at 1 sites"), "%s", out);
}

/* --min-copy hides the 1000-byte copies (copy_small, emit_vec). */
Test(trace, min_copy)
{
	static char out[TRACE_OUT_MAX];
	struct trace_row rows[32];
	int nr;

	trace_require();
	trace_target_run("--min-copy", "2000", out, sizeof(out));
	nr = trace_rows(out, rows, 32);
	cr_assert_eq(nr, 4, "want 4 rows, got %d:\n%s", nr, out);
	cr_expect_null(trace_find(rows, nr, "copy_small"));
	cr_expect_null(trace_find(rows, nr, "emit_vec"));
	trace_expect(rows, nr, "copy_b", "app", "memmove", 3, 3 * 102400, "3");
	trace_expect(rows, nr, "emit_out", "iostack", "write", 3, 3 * 102400,
		     "-");
	cr_expect(strstr(out, "zio would elide 9 of 9 copies"), "%s", out);
}

/* Without .symtab (and the sites are not in .dynsym): binary+0xaddr. */
Test(trace, stripped_binary)
{
	static char out[TRACE_OUT_MAX];
	char dir[] = "/tmp/zio-trace-XXXXXX", src[4096], dst[4096];
	char tool[4096];
	struct trace_row rows[32];
	unsigned long long app_bytes = 0, io_bytes = 0;
	int nr, i, rc, n_app = 0, n_io = 0;

	trace_require();
	cr_assert_not_null(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/tests/progs/trace_target",
		 trace_build());
	snprintf(dst, sizeof(dst), "%s/trace_target", dir);
	{
		char *argv[] = { "/usr/bin/strip", "-o", dst, src, NULL };

		rc = trace_run(argv, out, sizeof(out));
	}
	if (rc) {
		rmdir(dir);
		cr_skip_test("strip is not available");
	}
	snprintf(tool, sizeof(tool), "%s/zio-trace", trace_build());
	{
		char *argv[] = { tool, "--", dst, NULL };

		rc = trace_run(argv, out, sizeof(out));
	}
	unlink(dst);
	rmdir(dir);
	cr_assert_eq(rc, 0, "exited %d:\n%s", rc, out);
	nr = trace_rows(out, rows, 32);
	cr_assert_eq(nr, 6, "want 6 rows, got %d:\n%s", nr, out);
	for (i = 0; i < nr; i++) {
		cr_expect(!strncmp(rows[i].site, "trace_target+0x", 15),
			  "site %s", rows[i].site);
		cr_expect_eq(rows[i].calls, 3);
		if (!strcmp(rows[i].kind, "app")) {
			n_app++;
			app_bytes += rows[i].bytes;
		} else {
			n_io++;
			io_bytes += rows[i].bytes;
		}
	}
	cr_expect_eq(n_app, 4);
	cr_expect_eq(n_io, 2);
	cr_expect_eq(app_bytes, 3 * 262144 + 3 * 102400 + 3 * 51200 + 3000);
	cr_expect_eq(io_bytes, 3 * 102400 + 3000);
}

/* -p PID: attach to a running trace_target, which starts on a byte. */
/* Does /proc/PID/maps name both a and b? */
static bool maps_have(pid_t pid, const char *a, const char *b)
{
	char path[64], line[512];
	bool ha = false, hb = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if (!(f = fopen(path, "r")))
		return false;
	while (fgets(line, sizeof(line), f)) {
		ha = ha || strstr(line, a);
		hb = hb || strstr(line, b);
	}
	fclose(f);
	return ha && hb;
}

Test(trace, attach_pid)
{
	static char out[TRACE_OUT_MAX];
	char tool[4096], prog[4096], pidstr[16], err[4096] = "";
	struct trace_row rows[32];
	int in[2], po[2], pe[2], st, nr, rc;
	size_t len = 0, elen = 0;
	pid_t target, tracer;
	time_t t0;
	ssize_t n;

	trace_require();
	snprintf(tool, sizeof(tool), "%s/zio-trace", trace_build());
	snprintf(prog, sizeof(prog), "%s/tests/progs/trace_target",
		 trace_build());
	cr_assert(!pipe(in) && !pipe(po) && !pipe(pe));

	target = fork();
	cr_assert(target >= 0);
	if (target == 0) {
		dup2(in[0], 0);
		close(in[1]);
		execl(prog, prog, "--wait", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	snprintf(pidstr, sizeof(pidstr), "%d", (int)target);
	/* attach once the target runs its program with libc mapped (right
	 * after the fork it may still be this process, or in ld.so) */
	for (int i = 0; i < 200 && !maps_have(target, "trace_target", "/libc.so"); i++)
		usleep(10 * 1000);
	tracer = fork();
	cr_assert(tracer >= 0);
	if (tracer == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		close(in[1]);
		execl(tool, tool, "--threshold", "16K", "--no-follow", "-p", pidstr, (char *)NULL);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);

	/* wait for "Tracing PID ..." on stderr: the probes are in place */
	t0 = time(NULL);
	while (!strstr(err, "Tracing PID") && time(NULL) - t0 < 15) {
		struct pollfd pfd = { .fd = pe[0], .events = POLLIN };

		err[elen] = '\0';
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		n = read(pe[0], err + elen, sizeof(err) - elen - 1);
		if (n <= 0)
			break;
		elen += n;
		err[elen] = '\0';
	}
	if (!strstr(err, "Tracing PID")) {
		kill(target, SIGKILL);
		kill(tracer, SIGKILL);
		waitpid(target, &st, 0);
		waitpid(tracer, &st, 0);
		cr_assert_fail("zio-trace -p did not start: %s", err);
	}
	cr_assert_eq(write(in[1], "g", 1), 1);
	close(in[1]);
	cr_assert_eq(waitpid(target, &st, 0), target);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* the target is gone: zio-trace prints the table and exits */
	while ((n = read(po[0], out + len, sizeof(out) - len - 1)) > 0)
		len += n;
	out[len] = '\0';
	close(po[0]);
	close(pe[0]);
	cr_assert_eq(waitpid(tracer, &st, 0), tracer);
	rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	cr_assert_eq(rc, 0, "zio-trace -p exited %d:\n%s", rc, out);

	nr = trace_rows(out, rows, 32);
	cr_assert_eq(nr, 6, "want 6 rows, got %d:\n%s", nr, out);
	trace_expect_all(rows, nr);
}

/* zio-trace -- PROGRAM exits with the program's status. */
Test(trace, exit_status)
{
	static char out[TRACE_OUT_MAX];
	char tool[4096];
	char *argv[] = { tool, "--", "/bin/sh", "-c", "exit 7", NULL };

	trace_require();
	snprintf(tool, sizeof(tool), "%s/zio-trace", trace_build());
	cr_expect_eq(trace_run(argv, out, sizeof(out)), 7, "%s", out);
	cr_expect(strstr(out, "summary: app copy sites=0"), "%s", out);
}

/* The fallback without uprobe_multi links counts the same. */
Test(trace, perf_event_uprobes)
{
	static char out[TRACE_OUT_MAX];
	char tool[4096], prog[4096];
	char *argv[] = { tool, "--threshold", "16K", "--no-follow", "--no-multi", "-j", "--",
			 prog, NULL };

	trace_require();
	snprintf(tool, sizeof(tool), "%s/zio-trace", trace_build());
	snprintf(prog, sizeof(prog), "%s/tests/progs/trace_target",
		 trace_build());
	cr_assert_eq(trace_run(argv, out, sizeof(out)), 0, "%s", out);
	cr_expect(strstr(out, "\"site\":\"copy_a+"), "%s", out);
	cr_expect(strstr(out, "\"calls\":3,\"bytes\":786432,"
			      "\"elidable_calls\":3"), "%s", out);
	cr_expect(strstr(out, "\"summary\":{\"app_sites\":4,"
			      "\"iostack_sites\":2,\"elidable_sites\":3,"
			      "\"app_copies\":12,\"elidable_copies\":9,"
			      "\"elidable_bytes\":1247232,"), "%s", out);
}

/* A forked child's copies are followed (nginx's workers, redis's rewrite
 * child), and --ops divides the counts by the operations. */
Test(trace, follows_forked_children_and_counts_per_operation)
{
	static char out[TRACE_OUT_MAX];
	char tool[4096], prog[4096];
	char *argv[] = { tool, "--threshold", "16K", "--ops", "4", "-j", "--", prog, NULL };

	trace_require();
	snprintf(tool, sizeof(tool), "%s/zio-trace", trace_build());
	snprintf(prog, sizeof(prog), "%s/tests/progs/trace_fork", trace_build());
	cr_assert_eq(trace_run(argv, out, sizeof(out)), 0, "%s", out);
	cr_expect(strstr(out, "\"children\":1,"), "%s", out);
	cr_expect(strstr(out, "\"site\":\"copy_child"), "%s", out);
	cr_expect(strstr(out, "\"calls\":2,\"bytes\":262144,\"elidable_calls\":2,"
			      "\"elidable_bytes\":262144,\"calls_per_op\":0.5000,"
			      "\"bytes_per_op\":65536.0}"), "%s", out);
	cr_expect(strstr(out, "\"ops\":4,\"ops_from\":\"option\",\"app_copies_per_op\":0.5000"),
		  "%s", out);
}

/* The "line" of the JSON row whose site is in function fn, copied into
 * line ("" when there is no such row or line).  Returns line. */
static char *trace_json_line(const char *out, const char *fn, char *line, size_t sz)
{
	char key[64];

	snprintf(key, sizeof(key), "\"site\":\"%s+", fn);
	return json_line_of(out, key, line, sz);
}

/* The lines of trace_target's copy_a and emit_out calls, from its source. */
static void trace_expect_lines(const char *out)
{
	char want[64], line[128];

	snprintf(want, sizeof(want), "trace_target.c:%d",
		 src_line("trace_target.c", "void copy_a(", "memcpy(d, s, n);"));
	cr_expect_str_eq(trace_json_line(out, "copy_a", line, sizeof(line)),
			 want, "%s", out);
	snprintf(want, sizeof(want), "trace_target.c:%d",
		 src_line("trace_target.c", "int emit_out(", "write(fd, b, n);"));
	cr_expect_str_eq(trace_json_line(out, "emit_out", line, sizeof(line)),
			 want, "%s", out);
}

/* A debug build's call sites get their source lines, from DWARF. */
Test(trace, json_names_source_lines_of_a_debug_build)
{
	static char out[TRACE_OUT_MAX];
	char tool[4096], prog[4096];
	char *argv[] = { tool, "--threshold", "16K", "--no-follow", "-j", "--",
			 prog, NULL };

	trace_require();
	snprintf(tool, sizeof(tool), "%s/zio-trace", trace_build());
	snprintf(prog, sizeof(prog), "%s/tests/progs/trace_target",
		 trace_build());
	cr_assert_eq(trace_run(argv, out, sizeof(out)), 0, "%s", out);
	trace_expect_lines(out);
}

/* Whether the file at path holds the bytes of s. */
static bool trace_file_has(const char *path, const char *s)
{
	static char buf[1 << 20];
	size_t n;
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return memmem(buf, n, s, strlen(s)) != NULL;
}

/*
 * A stripped binary whose debug file lies where Debian's -dbgsym packages
 * put it, .build-id/xx/yyyy.debug under the debug root (a folder of the
 * test's here, given through ZIO_DEBUGINFO_PATH, for /usr/lib/debug):
 * functions and lines come from the debug file.
 */
Test(trace, stripped_binary_named_from_its_debug_file_by_build_id)
{
	static char out[TRACE_OUT_MAX];
	char dir[] = "/tmp/zio-trace-dbg-XXXXXX", src[4096], bin[4096];
	char dbg[4096], sub[512], tool[4096], id[128] = "";
	const char *b;
	int rc;

	trace_require();
	cr_assert_not_null(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/tests/progs/trace_target", trace_build());
	snprintf(bin, sizeof(bin), "%s/trace_target", dir);
	snprintf(dbg, sizeof(dbg), "%s/trace_target.debug", dir);
	{
		char *keep[] = { "/usr/bin/objcopy", "--only-keep-debug", src, dbg, NULL };
		char *strip[] = { "/usr/bin/strip", "-o", bin, src, NULL };
		char *notes[] = { "/usr/bin/readelf", "-n", bin, NULL };

		rc = trace_run(keep, out, sizeof(out));
		rc = rc ? rc : trace_run(strip, out, sizeof(out));
		rc = rc ? rc : trace_run(notes, out, sizeof(out));
	}
	b = strstr(out, "Build ID: ");
	if (rc || !b || sscanf(b, "Build ID: %127[0-9a-f]", id) != 1 || strlen(id) < 3) {
		unlink(bin);
		unlink(dbg);
		rmdir(dir);
		cr_skip_test("binutils (objcopy, strip, readelf) or a build ID missing");
	}
	/* nothing but the debug file can name copy_a now */
	cr_assert(!trace_file_has(bin, "copy_a"), "%s still has copy_a", bin);
	snprintf(sub, sizeof(sub), "%s/.build-id", dir);
	cr_assert(!mkdir(sub, 0755));
	snprintf(sub, sizeof(sub), "%s/.build-id/%.2s", dir, id);
	cr_assert(!mkdir(sub, 0755));
	snprintf(src, sizeof(src), "%s/%s.debug", sub, id + 2);
	cr_assert(!rename(dbg, src), "rename: %s", strerror(errno));
	setenv("ZIO_DEBUGINFO_PATH", dir, 1);
	snprintf(tool, sizeof(tool), "%s/zio-trace", trace_build());
	{
		char *argv[] = { tool, "--threshold", "16K", "--no-follow", "-j", "--",
				 bin, NULL };

		rc = trace_run(argv, out, sizeof(out));
	}
	unsetenv("ZIO_DEBUGINFO_PATH");
	unlink(src);
	rmdir(sub);
	snprintf(sub, sizeof(sub), "%s/.build-id", dir);
	rmdir(sub);
	unlink(bin);
	rmdir(dir);
	cr_assert_eq(rc, 0, "%s", out);
	cr_expect(strstr(out, "\"site\":\"copy_a+0x"), "%s", out);
	cr_expect(strstr(out, "\"site\":\"copy_chk+0x"), "%s", out);
	trace_expect_lines(out);
}
