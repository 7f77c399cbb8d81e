/* SPDX-License-Identifier: MIT */
/*
 * Helpers for integration tests: run a command with a time limit,
 * capture its stdout and stderr, and read counters from the runtime's
 * stats lines.  The Criterion runner itself is never preloaded.
 */
#ifndef ZIO_TEST_HARNESS_H
#define ZIO_TEST_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

struct run {
	int status;        /* exit status, or 128+signal, or -1 on timeout */
	char out[1 << 16];
	char err[1 << 16];
};

static inline const char *build_dir(void)
{
	const char *b = getenv("ZIO_BUILD");

	return b && *b ? b : "build";
}

static inline void append(char *buf, size_t cap, size_t *len, int fd, bool *open_)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n <= 0) {
		*open_ = false;
		return;
	}
	if (*len + (size_t)n >= cap)
		n = (ssize_t)(cap - 1 - *len);
	memcpy(buf + *len, tmp, (size_t)n);
	*len += (size_t)n;
	buf[*len] = '\0';
}

/* Run argv (NULL-terminated) with extra environment entries env (NULL or
 * NULL-terminated "K=V" list) for at most timeout_s seconds. */
static inline void run_env(struct run *r, int timeout_s, char *const env[], char *const argv[])
{
	int po[2], pe[2];
	size_t lo = 0, le = 0;
	bool oo = true, eo = true;
	time_t end = time(NULL) + timeout_s;
	pid_t pid;
	int st;

	memset(r, 0, sizeof(*r));
	if (pipe(po) || pipe(pe)) {
		r->status = -2;
		return;
	}
	pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		setpgid(0, 0);
		for (int i = 0; env && env[i]; i++)
			putenv(env[i]);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(126);
	}
	close(po[1]);
	close(pe[1]);
	while ((oo || eo) && time(NULL) < end) {
		struct pollfd p[2] = { { oo ? po[0] : -1, POLLIN, 0 }, { eo ? pe[0] : -1, POLLIN, 0 } };

		if (poll(p, 2, 200) <= 0)
			continue;
		if (p[0].revents)
			append(r->out, sizeof(r->out), &lo, po[0], &oo);
		if (p[1].revents)
			append(r->err, sizeof(r->err), &le, pe[0], &eo);
	}
	close(po[0]);
	close(pe[0]);
	if (oo || eo) {
		kill(-pid, SIGKILL);
		waitpid(pid, &st, 0);
		r->status = -1;
		return;
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define RUN(r, timeout, ...) run_env((r), (timeout), NULL, (char *const[]){ __VA_ARGS__, NULL })

/* Value of counter `name` in the first stats line on stderr for which
 * the line contains `must` (NULL: first line); -1 if absent. */
static inline long long stat_of(const char *err, const char *name)
{
	char key[64];
	const char *p = strstr(err, "zio: pid=");

	if (!p)
		return -1;
	snprintf(key, sizeof(key), " %s=", name);
	{
		const char *eol = strchr(p, '\n');
		const char *k = strstr(p, key);

		if (!k || (eol && k > eol))
			return -1;
		return atoll(k + strlen(key));
	}
}

/* Sum of counter `name` over every stats line (all processes). */
static inline long long stat_sum(const char *err, const char *name)
{
	char key[64];
	long long sum = 0;
	bool any = false;

	snprintf(key, sizeof(key), " %s=", name);
	for (const char *p = strstr(err, "zio: pid="); p; p = strstr(p + 1, "zio: pid=")) {
		const char *eol = strchr(p, '\n');
		const char *k = strstr(p, key);

		if (k && (!eol || k < eol)) {
			sum += atoll(k + strlen(key));
			any = true;
		}
	}
	return any ? sum : -1;
}

static inline char *path_in_build(char *buf, size_t n, const char *rel)
{
	snprintf(buf, n, "%s/%s", build_dir(), rel);
	return buf;
}

/* Skip (one line) where userfaultfd with kernel faults is not available:
 * zio-run then says so and runs the program with elision off. */
static inline void need_uffd(void)
{
	static int avail = -1;

	if (avail < 0) {
		char zio_run[512];
		struct run r;

		path_in_build(zio_run, sizeof(zio_run), "zio-run");
		RUN(&r, 20, zio_run, "--", "true");
		avail = r.status == 0 && !strstr(r.err, "unavailable");
	}
	if (!avail)
		cr_skip_test("userfaultfd with kernel-fault delivery unavailable here");
}

/*
 * Number of the first line of tests/progs/FILE that holds text after the
 * first that holds after: the line a tool must name, found in the source
 * rather than written down.  The source is looked for from the current
 * folder (make test runs from the top) and next to the build folder;
 * skips the test when it is in neither.
 */
static inline int src_line(const char *file, const char *after, const char *text)
{
	char path[4096], line[4096];
	bool seen = false;
	int nr = 0;
	FILE *f;

	snprintf(path, sizeof(path), "tests/progs/%s", file);
	f = fopen(path, "r");
	if (!f) {
		snprintf(path, sizeof(path), "%s/../tests/progs/%s", build_dir(), file);
		f = fopen(path, "r");
	}
	if (!f)
		cr_skip_test("the source of tests/progs/%s is not here", file);
	while (fgets(line, sizeof(line), f)) {
		nr++;
		seen = seen || strstr(line, after);
		if (seen && strstr(line, text)) {
			fclose(f);
			return nr;
		}
	}
	fclose(f);
	cr_assert_fail("no \"%s\" after \"%s\" in %s", text, after, path);
	return 0;
}

/* The integer a /proc/sys file holds, or -1 when it cannot be read. */
static inline int sysctl_int(const char *path)
{
	FILE *f = fopen(path, "r");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/*
 * The "line" string of the first JSON object in out that holds key (a
 * piece of text such as "\"site\":\"copy_a+"), copied into line; "" when
 * there is no such object or it has no line.  Returns line.
 */
static inline char *json_line_of(const char *out, const char *key, char *line, size_t sz)
{
	const char *p = strstr(out, key), *end, *l;

	line[0] = '\0';
	end = p ? strchr(p, '}') : NULL;
	l = p ? strstr(p, "\"line\":\"") : NULL;
	if (!l || !end || l > end)
		return line;
	l += strlen("\"line\":\"");
	snprintf(line, sz, "%.*s", (int)strcspn(l, "\""), l);
	return line;
}

#endif
