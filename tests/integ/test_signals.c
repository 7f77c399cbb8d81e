// SPDX-License-Identifier: MIT
/*
 * --stats when a signal ends the process by its default action: the
 * runtime's handler says the stats line and lets the signal end the
 * process as it would have (base/signal.c, last words).  The programs
 * (tests/progs/zsig, python3, haproxy) run in a process of the test's
 * own, so that the test sees the very wait status their parent would:
 * zio-run execs the program.
 */
#include <criterion/criterion.h>
#include <sys/resource.h>

#include "servers.h"

static char zio_run[512], zsig[512];

static void setup(void)
{
	path_in_build(zio_run, sizeof(zio_run), "zio-run");
	path_in_build(zsig, sizeof(zsig), "tests/progs/zsig");
}

TestSuite(signals, .init = setup, .timeout = 120);

/* ------------------------------------------------------------ helpers */

struct proc {
	pid_t pid;
	int out, err;                  /* read ends, -1 once at EOF */
	char obuf[1 << 16], ebuf[1 << 16];
	size_t on, en;
	int status;                    /* wait status; -1: killed after a timeout */
};

enum {
	IGNORE_TERM = 1,               /* SIGTERM ignored before exec */
	ERR_GONE = 2,                  /* stderr a pipe nobody reads */
};

/* Start argv with stdout and stderr on pipes, every signal at its
 * default and unblocked (whatever the test runner inherited), and no
 * core file (RLIMIT_CORE 1 stops pipe handlers too). */
static void start(struct proc *p, int flags, char *const argv[])
{
	int po[2], pe[2];

	memset(p, 0, sizeof(*p));
	cr_assert(!pipe(po) && !pipe(pe), "pipe: %s", strerror(errno));
	if (flags & ERR_GONE)
		close(pe[0]);
	p->pid = fork();
	cr_assert_geq(p->pid, 0, "fork: %s", strerror(errno));
	if (p->pid == 0) {
		struct rlimit one = { 1, 1 };
		sigset_t none;

		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		if (!(flags & ERR_GONE))
			close(pe[0]);
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setrlimit(RLIMIT_CORE, &one);
		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		if (flags & IGNORE_TERM)
			signal(SIGTERM, SIG_IGN);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(126);
	}
	close(po[1]);
	close(pe[1]);
	p->out = po[0];
	p->err = flags & ERR_GONE ? -1 : pe[0];
}

static void drain(int *fd, char *buf, size_t cap, size_t *len)
{
	char tmp[4096];
	ssize_t n = read(*fd, tmp, sizeof(tmp));

	if (n <= 0) {
		close(*fd);
		*fd = -1;
		return;
	}
	if (*len + (size_t)n >= cap)
		n = (ssize_t)(cap - 1 - *len);
	memcpy(buf + *len, tmp, (size_t)n);
	*len += (size_t)n;
	buf[*len] = '\0';
}

/* Read the output until stdout holds text (NULL: until both end), for
 * up to timeout_s seconds; false on timeout. */
static bool pump(struct proc *p, const char *text, int timeout_s)
{
	time_t end = time(NULL) + timeout_s;

	while (time(NULL) < end) {
		struct pollfd f[2] = { { p->out, POLLIN, 0 }, { p->err, POLLIN, 0 } };

		if (text && strstr(p->obuf, text))
			return true;
		if (p->out < 0 && p->err < 0)
			return !text;
		if (poll(f, 2, 200) <= 0)
			continue;
		if (f[0].revents)
			drain(&p->out, p->obuf, sizeof(p->obuf), &p->on);
		if (f[1].revents)
			drain(&p->err, p->ebuf, sizeof(p->ebuf), &p->en);
	}
	return false;
}

/* Wait for the end (output closed, then the process), SIGKILL after
 * timeout_s; the wait status, or -1 if it had to be killed. */
static int finish(struct proc *p, int timeout_s)
{
	bool ended = pump(p, NULL, timeout_s);
	int st;

	if (!ended)
		kill(-p->pid, SIGKILL);
	while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
		;
	if (p->out >= 0)
		close(p->out);
	if (p->err >= 0)
		close(p->err);
	/* what else is left of its group (a forked child) goes too */
	kill(-p->pid, SIGKILL);
	p->status = ended ? st : -1;
	return p->status;
}

static int lines(const char *err)
{
	int n = 0;

	for (const char *s = strstr(err, "zio: pid="); s; s = strstr(s + 1, "zio: pid="))
		n++;
	return n;
}

/* The stats line of process pid in err, or NULL. */
static const char *line_of(const char *err, pid_t pid)
{
	char key[48];

	snprintf(key, sizeof(key), "zio: pid=%d ", (int)pid);
	return strstr(err, key);
}

#define assert_killed_by(p, sig) \
	cr_assert((p)->status != -1 && WIFSIGNALED((p)->status) && \
		  WTERMSIG((p)->status) == (sig), \
		  "wait status %#x, expected the end by %s\nstdout: %s\nstderr: %s", \
		  (p)->status, sigabbrev_np(sig), (p)->obuf, (p)->ebuf)

/* zsig MODE under zio-run --stats (or not); until "zsig: ready". */
static void zsig_start(struct proc *p, const char *mode, bool stats, const char *wait_for)
{
	need_uffd();
	if (stats)
		start(p, 0, (char *const[]){ zio_run, "--stats", "--", zsig, (char *)mode, NULL });
	else
		start(p, 0, (char *const[]){ zio_run, "--", zsig, (char *)mode, NULL });
	if (wait_for)
		cr_assert(pump(p, wait_for, 60), "zsig %s never said \"%s\"\nstdout: %s\nstderr: %s",
			  mode, wait_for, p->obuf, p->ebuf);
}

/* One stats line, of the program itself, with the copies it made. */
static void assert_line(const struct proc *p)
{
	const char *l = line_of(p->ebuf, p->pid);

	cr_assert(l, "no stats line of pid %d: %s", (int)p->pid, p->ebuf);
	cr_assert_eq(lines(p->ebuf), 1, "%s", p->ebuf);
	cr_assert_geq(stat_of(l, "elided_copies"), 1, "%s", p->ebuf);
}

/* ------------------------------------------------------------ zsig */

Test(signals, sigterm_at_its_default_prints_the_line_and_still_ends_the_process)
{
	static struct proc p;

	zsig_start(&p, "idle", true, "zsig: ready");
	kill(p.pid, SIGTERM);
	finish(&p, 30);
	assert_killed_by(&p, SIGTERM);
	cr_assert(!WCOREDUMP(p.status));
	assert_line(&p);
}

Test(signals, sigint_at_its_default_prints_the_line_and_still_ends_the_process)
{
	static struct proc p;

	zsig_start(&p, "idle", true, "zsig: ready");
	kill(p.pid, SIGINT);
	finish(&p, 30);
	assert_killed_by(&p, SIGINT);
	assert_line(&p);
}

Test(signals, every_signal_that_ends_a_process_by_default_gets_the_line)
{
	/* sent by kill(): SIGSEGV and SIGQUIT here are queued again with
	 * their sender's siginfo, not left to a fault */
	static const int sigs[] = { SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM,
				    SIGXCPU, SIGPROF, SIGSEGV, SIGBUS };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		static struct proc p;

		zsig_start(&p, "idle", true, "zsig: ready");
		kill(p.pid, sigs[i]);
		finish(&p, 30);
		assert_killed_by(&p, sigs[i]);
		assert_line(&p);
	}
}

Test(signals, a_signal_while_threads_copy_inside_the_runtime_ends_the_process)
{
	/* two threads receive and copy without end: the signal often lands
	 * on one that holds the runtime lock, where handlers are deferred;
	 * the last words need no lock and are said at once */
	for (int i = 0; i < 4; i++) {
		static struct proc p;

		zsig_start(&p, "busy", true, "zsig: ready");
		usleep((useconds_t)(i * 70000));
		kill(p.pid, i % 2 ? SIGINT : SIGTERM);
		finish(&p, 30);
		assert_killed_by(&p, i % 2 ? SIGINT : SIGTERM);
		assert_line(&p);
	}
}

Test(signals, the_programs_own_handler_is_called_and_sees_sig_dfl_before)
{
	static struct proc p;

	zsig_start(&p, "handler", true, "zsig: ready");
	cr_assert(strstr(p.obuf, "before SIGTERM=dfl SIGINT=dfl SIGSEGV=dfl signal()=dfl\n"
			 "zsig: replaced dfl"), "the program must see SIG_DFL: %s", p.obuf);
	kill(p.pid, SIGTERM);
	finish(&p, 30);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "status %#x: %s %s",
		  p.status, p.obuf, p.ebuf);
	cr_assert(strstr(p.obuf, "zsig: handler ran\nzsig: exiting"), "%s", p.obuf);
	/* said once, by the destructor */
	assert_line(&p);
}

Test(signals, sa_resethand_runs_the_handler_once_then_the_default_ends_it)
{
	static struct proc p;

	zsig_start(&p, "resethand", true, "zsig: ready\n");
	kill(p.pid, SIGTERM);
	cr_assert(pump(&p, "zsig: ready again", 30), "%s %s", p.obuf, p.ebuf);
	cr_assert(strstr(p.obuf, "zsig: handler ran\nzsig: after SIGTERM=dfl"), "%s", p.obuf);
	kill(p.pid, SIGTERM);
	finish(&p, 30);
	assert_killed_by(&p, SIGTERM);
	assert_line(&p);
}

Test(signals, a_crash_by_sigsegv_ends_by_sigsegv_with_the_line)
{
	static struct proc p, plain;

	zsig_start(&p, "segv", true, NULL);
	finish(&p, 30);
	assert_killed_by(&p, SIGSEGV);
	cr_assert(strstr(p.obuf, "zsig: crashing"), "%s", p.obuf);
	assert_line(&p);
	/* the fault happens again on return, at the same instruction: the
	 * same end as without zio */
	start(&plain, 0, (char *const[]){ zsig, "segv", NULL });
	finish(&plain, 30);
	cr_assert_eq(p.status, plain.status, "zio %#x, plain %#x", p.status, plain.status);
}

Test(signals, abort_ends_by_sigabrt_with_the_line)
{
	static struct proc p;

	zsig_start(&p, "abort", true, NULL);
	finish(&p, 30);
	assert_killed_by(&p, SIGABRT);
	assert_line(&p);
}

Test(signals, a_write_to_a_pipe_nobody_reads_ends_by_sigpipe_with_the_line)
{
	static struct proc p;

	zsig_start(&p, "pipe", true, NULL);
	finish(&p, 30);
	assert_killed_by(&p, SIGPIPE);
	cr_assert(!strstr(p.obuf, "write returned"), "%s", p.obuf);
	assert_line(&p);
}

Test(signals, a_fork_child_killed_by_sigterm_prints_its_own_line)
{
	static struct proc p;
	int child = 0;
	const char *c;

	zsig_start(&p, "fork", true, NULL);
	finish(&p, 60);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "status %#x: %s %s",
		  p.status, p.obuf, p.ebuf);
	c = strstr(p.obuf, "zsig: child ");
	cr_assert(c && sscanf(c, "zsig: child %d killed by SIGTERM", &child) == 1, "%s", p.obuf);
	cr_assert(line_of(p.ebuf, child), "no line of the child %d: %s", child, p.ebuf);
	cr_assert(line_of(p.ebuf, p.pid), "no line of the parent: %s", p.ebuf);
	cr_assert_eq(lines(p.ebuf), 2, "%s", p.ebuf);
}

Test(signals, without_stats_no_handler_is_installed)
{
	static struct proc p;

	zsig_start(&p, "query", false, NULL);
	finish(&p, 30);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s %s", p.obuf, p.ebuf);
	cr_assert(strstr(p.obuf, "zsig: TERM prog=dfl kernel=dfl"), "%s", p.obuf);
	cr_assert(strstr(p.obuf, "zsig: USR1 again prog=dfl kernel=dfl"), "%s", p.obuf);
	cr_assert(!strstr(p.obuf, "kernel=handler"), "%s", p.obuf);
	cr_assert_eq(lines(p.ebuf), 0, "%s", p.ebuf);
}

Test(signals, with_stats_the_kernel_holds_ours_and_the_program_sees_sig_dfl)
{
	static const char *const watched[] = { "TERM", "INT", "HUP", "QUIT", "PIPE", "USR1",
					       "ALRM", "SEGV", "BUS", "ABRT" };
	static struct proc p, q;

	zsig_start(&p, "query", true, NULL);
	finish(&p, 30);
	/* after an exec the new image installs them again */
	zsig_start(&q, "exec", true, NULL);
	finish(&q, 30);
	for (int k = 0; k < 2; k++) {
		struct proc *r = k ? &q : &p;

		cr_assert(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0, "%s %s", r->obuf,
			  r->ebuf);
		for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++) {
			char want[64];

			snprintf(want, sizeof(want), "zsig: %s prog=dfl kernel=handler", watched[i]);
			cr_assert(strstr(r->obuf, want), "%s in\n%s", want, r->obuf);
		}
		/* signals whose default is to ignore or stop are left alone */
		cr_assert(strstr(r->obuf, "zsig: CHLD prog=dfl kernel=dfl"), "%s", r->obuf);
		cr_assert(strstr(r->obuf, "zsig: WINCH prog=dfl kernel=dfl"), "%s", r->obuf);
		cr_assert(strstr(r->obuf, "zsig: USR1 ignored prog=ign kernel=ign\n"
				 "zsig: USR1 again prog=dfl kernel=handler"), "%s", r->obuf);
	}
}

Test(signals, an_ignored_signal_stays_ignored)
{
	static struct proc p;

	need_uffd();
	start(&p, IGNORE_TERM, (char *const[]){ zio_run, "--stats", "--", zsig, "query", NULL });
	finish(&p, 30);
	cr_assert(strstr(p.obuf, "zsig: TERM prog=ign kernel=ign"), "%s", p.obuf);
	cr_assert(strstr(p.obuf, "zsig: INT prog=dfl kernel=handler"), "%s", p.obuf);
}

Test(signals, a_stats_line_nobody_reads_costs_the_program_no_sigpipe)
{
	static struct proc p;

	/* stderr is a pipe without reader and SIGPIPE is at its default:
	 * the line's write fails, the program still exits 0 */
	need_uffd();
	start(&p, ERR_GONE, (char *const[]){ zio_run, "--stats", "--", zsig, "query", NULL });
	finish(&p, 30);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "status %#x: %s", p.status,
		  p.obuf);
}

/* ------------------------------------------------------------ real programs */

static const char *python3(void)
{
	if (!access("/usr/bin/python3", X_OK))
		return "/usr/bin/python3";
	return have_prog("python3") ? "python3" : NULL;
}

/* SIGINT until the process ends (its output closes), one a second for
 * up to 30 s: twice in four loaded make test runs a python3, plain once
 * and under zio once, outlived a single SIGINT by 30 s. */
static void interrupt(struct proc *p)
{
	for (int i = 0; i < 30; i++) {
		kill(p->pid, SIGINT);
		if (pump(p, NULL, 1))
			return;
	}
}

Test(signals, python_ended_by_an_unhandled_keyboardinterrupt_prints_the_line)
{
	static struct proc p, plain;
	const char *py = python3();
	char *argv[] = { zio_run, "--stats", "--", (char *)py, "-c",
			 "import time\nprint('ready', flush=True)\ntime.sleep(60)", NULL };

	if (!py)
		cr_skip_test("python3 is not installed");
	need_uffd();
	/* Python (3.8+) ends itself by SIGINT at SIG_DFL after an unhandled
	 * KeyboardInterrupt: no destructor runs */
	start(&p, 0, argv);
	cr_assert(pump(&p, "ready", 30), "%s %s", p.obuf, p.ebuf);
	interrupt(&p);
	finish(&p, 30);
	cr_assert(line_of(p.ebuf, p.pid), "%s", p.ebuf);
	start(&plain, 0, &argv[3]);
	cr_assert(pump(&plain, "ready", 30), "%s %s", plain.obuf, plain.ebuf);
	interrupt(&plain);
	finish(&plain, 30);
	/* -1: it had not ended after 30 SIGINTs: say what it wrote */
	cr_assert_eq(p.status, plain.status, "zio %#x, plain %#x\nplain stdout: %s\nplain stderr: %s",
		     p.status, plain.status, plain.obuf, plain.ebuf);
}

static void http_get(int port, const char *path)
{
	char req[256], buf[65536];
	int fd = -1;

	for (int i = 0; i < 200 && fd < 0; i++) {
		fd = connect_port(port);
		if (fd < 0)
			usleep(50000);
	}
	cr_assert_geq(fd, 0, "nothing listens on port %d", port);
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
	cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

Test(signals, python_http_server_on_sigint_prints_the_line_and_ends_as_without_zio)
{
	static struct proc p, plain;
	const char *py = python3();
	char dir[] = "/tmp/zio-sig-httpXXXXXX", file[64], port_s[16];
	int port, fd;

	if (!py)
		cr_skip_test("python3 is not installed");
	need_uffd();
	cr_assert(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/big", dir);
	fd = open(file, O_WRONLY | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	for (int i = 0; i < 64; i++) {
		static char blk[16384];

		memset(blk, 'a' + i % 26, sizeof(blk));
		cr_assert_eq(write(fd, blk, sizeof(blk)), (ssize_t)sizeof(blk));
	}
	close(fd);
	for (int k = 0; k < 2; k++) {
		struct proc *r = k ? &plain : &p;
		char *argv[] = { zio_run, "--stats", "--", (char *)py, "-m", "http.server",
				 port_s, "--bind", "127.0.0.1", "--directory", dir, NULL };

		port = free_port();
		snprintf(port_s, sizeof(port_s), "%d", port);
		start(r, 0, k ? &argv[3] : argv);
		http_get(port, "/big");
		http_get(port, "/big");
		kill(r->pid, SIGINT);
		finish(r, 30);
	}
	unlink(file);
	rmdir(dir);
	cr_assert(line_of(p.ebuf, p.pid), "%s", p.ebuf);
	cr_assert_eq(p.status, plain.status, "zio %#x, plain %#x\n%s", p.status, plain.status,
		     p.ebuf);
}

/* Has haproxy's master exec'd itself again (its marker in environ)? */
static bool reexeced(pid_t pid)
{
	char path[64], env[32768];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	n = read(fd, env, sizeof(env) - 1);
	close(fd);
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(env + i) + 1) {
		env[n] = '\0';
		if (!strncmp(env + i, "HAPROXY_MWORKER_REEXEC=", 23))
			return true;
	}
	return false;
}

Test(signals, haproxys_worker_ended_by_sigterm_prints_its_line)
{
	static struct proc p;
	char cfg[] = "/tmp/zio-sig-haproxyXXXXXX";
	FILE *f;
	int fd, port;

	if (!have_prog("haproxy"))
		cr_skip_test("haproxy is not installed");
	need_uffd();
	fd = mkstemp(cfg);
	cr_assert_geq(fd, 0);
	port = free_port();
	f = fdopen(fd, "w");
	fprintf(f, "global\n    maxconn 100\ndefaults\n    mode http\n    timeout connect 1s\n"
		"    timeout client 5s\n    timeout server 5s\nfrontend f\n"
		"    bind 127.0.0.1:%d\n    default_backend b\nbackend b\n"
		"    server s1 127.0.0.1:%d\n", port, free_port());
	fclose(f);
	/* master-worker: the master passes SIGTERM on to its worker, which
	 * ends by it (the master reports "exited with code 143") */
	start(&p, 0, (char *const[]){ zio_run, "--stats", "--", "haproxy", "-W", "-db", "-f", cfg,
				      NULL });
	for (int i = 0; i < 200; i++) {
		int c = connect_port(port);

		if (c >= 0) {
			close(c);
			break;
		}
		usleep(50000);
	}
	/* haproxy 2.x's master execs itself again once its worker runs: a
	 * SIGTERM before the new image has its handler ends the master
	 * (with zio or without) instead of passing it on */
	for (int i = 0; i < 100 && !reexeced(p.pid); i++)
		usleep(50000);
	usleep(500000);
	kill(p.pid, SIGTERM);
	finish(&p, 30);
	unlink(cfg);
	cr_assert(WIFEXITED(p.status), "master: status %#x: %s", p.status, p.ebuf);
	cr_assert(strstr(p.obuf, "exited with code 143") || strstr(p.ebuf, "exited with code 143"),
		  "%s%s", p.obuf, p.ebuf);
	cr_assert_eq(lines(p.ebuf), 2, "master and worker: %s", p.ebuf);
}
