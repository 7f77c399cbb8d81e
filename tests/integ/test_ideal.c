// SPDX-License-Identifier: MIT
/*
 * tools/libideal.so, the preload behind bench-apps' "ideal" variant: a
 * program's large copies recorded, not made, its outputs sending their
 * sources.  The limit it measures is worth something only if the program
 * still sends the right bytes and the copies are really gone: the echo
 * server through 3 copies (every byte of every reply checked by the
 * client) and Redis GET of 256 KiB values (every GET checked by
 * tools/redisload), each with the preload's own counters.
 */
#include "servers.h"

/* Counter `name` of the "ideal: pid=" line in log; -1 if absent. */
static long long ideal_stat(const char *log, const char *name)
{
	const char *p = strstr(log, "ideal: pid="), *eol, *k;
	char key[64];

	if (!p)
		return -1;
	snprintf(key, sizeof(key), " %s=", name);
	eol = strchr(p, '\n');
	k = strstr(p, key);
	if (!k || (eol && k > eol))
		return -1;
	return atoll(k + strlen(key));
}

static void ideal_env(char *pre, size_t n)
{
	char lib[256];

	path_in_build(lib, sizeof(lib), "tools/libideal.so");
	cr_assert(!access(lib, R_OK), "%s is missing: run make", lib);
	snprintf(pre, n, "LD_PRELOAD=%s", lib);
}

static void ideal_stop(struct server *s, char *log, size_t cap)
{
	int st = server_stop(s, SIGTERM);

	server_log(s, log, cap);
	unlink(s->log);
	cr_assert(st >= 0 && WIFEXITED(st) && !WEXITSTATUS(st), "the server did not exit cleanly:\n%s",
		  log);
}

TestSuite(ideal, .timeout = 300);

Test(ideal, echo_three_copies_sent_from_the_original)
{
	struct server s = { .port = free_port() };
	char pre[300], echo[256], port[16], log[1 << 14], logf[64];
	struct run r;

	ideal_env(pre, sizeof(pre));
	path_in_build(echo, sizeof(echo), "tools/echo");
	snprintf(port, sizeof(port), "%d", s.port);
	snprintf(logf, sizeof(logf), "/tmp/zio-test-ideal-echo.%d.log", s.port);
	unlink(logf);
	server_start(&s, logf,
		     (char *[]){ "env", pre, "IDEAL_STATS=1", echo, "server", "--port", port,
				 "--copies", "3", NULL });
	RUN(&r, 120, echo, "client", "--port", port, "--count", "400", "--verify", "full");
	ideal_stop(&s, log, sizeof(log));
	cr_assert_eq(r.status, 0, "client: %s%s", r.out, r.err);
	/* 4 connections x 100 messages of 512 KiB, every byte compared */
	cr_assert(strstr(r.out, "bytes_verified=209715200"), "%s", r.out);
	/* three copies a message recorded, none made; every reply sent from
	 * the received buffer */
	cr_assert_eq(ideal_stat(log, "recorded"), 1200, "%s", log);
	cr_assert_eq(ideal_stat(log, "recorded_bytes"), 1200LL * 524288, "%s", log);
	cr_assert_eq(ideal_stat(log, "materialized"), 0, "%s", log);
	cr_assert_geq(ideal_stat(log, "outputs_substituted"), 400, "%s", log);
}

Test(ideal, redis_get_sends_the_value)
{
	struct server s = { .port = free_port() };
	char pre[300], load[256], port[16], dir[] = "/tmp/zio-test-ideal-redis.XXXXXX";
	char log[1 << 14], logf[320];
	long long gets;
	const char *g;
	struct run r;

	if (!ensure("redis-server", "redis-server"))
		cr_skip_test("redis-server is missing and could not be installed (apt-get)");
	ideal_env(pre, sizeof(pre));
	path_in_build(load, sizeof(load), "tools/redisload");
	cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(port, sizeof(port), "%d", s.port);
	snprintf(logf, sizeof(logf), "%s/redis.log", dir);
	server_start(&s, logf,
		     (char *[]){ "env", pre, "IDEAL_STATS=1", "redis-server", "--port", port, "--bind",
				 "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no",
				 "--protected-mode", "no", "--daemonize", "no", NULL });
	RUN(&r, 120, load, "-p", port, "-c", "4", "-P", "1", "-d", "2", "-s", "256K", "-k", "50",
	    "-w", "get", "--fill");
	ideal_stop(&s, log, sizeof(log));
	rmdir(dir);
	cr_assert_eq(r.status, 0, "redisload: %s%s", r.out, r.err);
	g = strstr(r.out, " gets=");
	cr_assert(strstr(r.out, "redisload: ok") && g, "%s", r.out);
	gets = atoll(g + 6);
	cr_assert_gt(gets, 100, "%s", r.out);
	/* each GET's reply copy (the value past Redis's 16 KiB reply buffer)
	 * recorded, none made, and sent from the value */
	cr_assert_geq(ideal_stat(log, "recorded"), gets, "%s", log);
	cr_assert_eq(ideal_stat(log, "materialized"), 0, "%s", log);
	cr_assert_geq(ideal_stat(log, "outputs_substituted"), gets, "%s", log);
}
