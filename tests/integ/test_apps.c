// SPDX-License-Identifier: MIT
/*
 * Debian's servers under zio-run, driven by real clients that check every
 * byte (tests/progs/mcload for memcached), each also run plain as the
 * reference.  A package that is missing is installed (root); servers
 * listen on loopback ports only and are stopped by their PID.
 *
 * ZIO_TEST_REPEAT=N runs each server load N times (fresh servers) instead
 * of the default, for the long check of a race fix.
 */
#include <criterion/criterion.h>

#include "servers.h"

static char zio_run[512], mcload[512], tmpdir[256];

static void setup(void)
{
	path_in_build(zio_run, sizeof(zio_run), "zio-run");
	path_in_build(mcload, sizeof(mcload), "tests/progs/mcload");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/zio-apps.XXXXXX");
	cr_assert(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
}

static void teardown(void)
{
	struct run r;

	if (tmpdir[0])
		RUN(&r, 30, "rm", "-rf", tmpdir);
}

static int repeat(int dflt)
{
	const char *v = getenv("ZIO_TEST_REPEAT");

	return v && atoi(v) > 0 ? atoi(v) : dflt;
}

/* ------------------------------------------------------------ memcached */

TestSuite(memcached, .init = setup, .fini = teardown, .timeout = 900);

/*
 * One fresh memcached (two worker threads, large items), plain or under
 * zio-run with the given policy, loaded by mcload with args; returns the
 * server's stats line (empty for a plain run) in log.
 */
static void memcached_run(const char *policy, char *const load[], char *log, size_t cap)
{
	static struct run r;
	struct server s = { .port = free_port() };
	char port[16], logf[300];
	char *argv[24];
	int n = 0, st;

	snprintf(port, sizeof(port), "%d", s.port);
	snprintf(logf, sizeof(logf), "%s/memcached.%d.log", tmpdir, s.port);
	if (policy) {
		argv[n++] = zio_run;
		argv[n++] = "--stats";
		if (*policy) {
			argv[n++] = "--policy";
			argv[n++] = (char *)policy;
		}
		argv[n++] = "--";
	}
	for (char **a = (char *[]){ "memcached", "-u", "nobody", "-l", "127.0.0.1", "-p", port,
				    "-U", "0", "-t", "2", "-m", "1024", "-I", "8m", NULL };
	     *a; a++)
		argv[n++] = *a;
	argv[n] = NULL;
	server_start(&s, logf, argv);
	{
		char *av[16] = { mcload, "-p", port };
		int k = 3;

		for (int i = 0; load[i] && k < 15; i++)
			av[k++] = load[i];
		av[k] = NULL;
		run_env(&r, 300, NULL, av);
	}
	st = server_stop(&s, SIGTERM);
	server_log(&s, log, cap);
	cr_assert_eq(r.status, 0, "mcload (%s) failed:\n%s%s\nserver log:\n%s",
		     policy ? (*policy ? policy : "zio, default policy") : "plain", r.out, r.err, log);
	cr_assert(strstr(r.out, "mcload: ok"), "%s", r.out);
	cr_assert(st >= 0 && WIFEXITED(st), "memcached did not exit on SIGTERM (status %d)", st);
}

static void need_memcached(void)
{
	if (!ensure("memcached", "memcached"))
		cr_skip_test("memcached is missing and could not be installed (apt-get)");
}

/*
 * Issue 12: connection 0 sets, appends to and gets back values while
 * connection 1 keeps replacing values of ~70 KiB, so slab chunks go from
 * one worker thread to the other.  An append is two copies into a new
 * item; memcached then gives the two old items back to the slab (no
 * free) and another thread receives into them while the reply that
 * aliases them is being sent.  Wrong bytes came back in every run with
 * --policy always until outputs' pins were honoured by every path that
 * changes an original.
 */
Test(memcached, two_worker_threads_append_while_another_connection_replaces_values)
{
	static char log[1 << 16];
	char *load[] = { "-P", "append", "-c", "2", "-n", "300", NULL };
	long long elided = 0, redirected = 0;
	int runs = repeat(3);

	need_memcached();
	memcached_run(NULL, load, log, sizeof(log));
	need_uffd();
	for (int i = 0; i < runs; i++) {
		memcached_run("", load, log, sizeof(log));
		memcached_run("always", load, log, sizeof(log));
		elided += stat_sum(log, "elided_copies");
		redirected += stat_sum(log, "inputs_redirected");
	}
	fprintf(stderr, "  memcached append: %d runs a policy, --policy always elided_copies=%lld "
		"inputs_redirected=%lld\n", runs, elided, redirected);
	/* the appends' copies (64 KiB and up) are elided under --policy always */
	cr_assert_gt(elided, 50 * runs, "too few copies elided: %s", log);
	cr_assert_gt(redirected, 0, "no input was received into the arena: %s", log);
}
