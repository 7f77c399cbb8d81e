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

/* A server's command line starts with "zio-run --stats [--policy P] --"
 * when policy is set ("" for the default policy), with nothing when it is
 * NULL (plain).  Returns how many words it put in argv. */
static int zio_prefix(char **argv, const char *policy)
{
	int n = 0;

	if (!policy)
		return 0;
	argv[n++] = zio_run;
	argv[n++] = "--stats";
	if (*policy) {
		argv[n++] = "--policy";
		argv[n++] = (char *)policy;
	}
	argv[n++] = "--";
	return n;
}

/* ------------------------------------------------------------ memcached */

TestSuite(memcached, .init = setup, .fini = teardown, .timeout = 900);

/*
 * One fresh memcached (threads worker threads, large items), plain or under
 * zio-run with the given policy, loaded by mcload with args; returns the
 * server's stats line (empty for a plain run) in log.
 */
static void memcached_run(const char *policy, const char *threads, char *const load[], char *log,
			  size_t cap)
{
	static struct run r;
	struct server s = { .port = free_port() };
	char port[16], logf[300];
	char *argv[24];
	int n, st;

	snprintf(port, sizeof(port), "%d", s.port);
	snprintf(logf, sizeof(logf), "%s/memcached.%d.log", tmpdir, s.port);
	n = zio_prefix(argv, policy);
	for (char **a = (char *[]){ "memcached", "-u", "nobody", "-l", "127.0.0.1", "-p", port,
				    "-U", "0", "-t", (char *)threads, "-m", "2048", "-I", "8m", NULL };
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
	memcached_run(NULL, "2", load, log, sizeof(log));
	need_uffd();
	for (int i = 0; i < runs; i++) {
		memcached_run("", "2", load, log, sizeof(log));
		memcached_run("always", "2", load, log, sizeof(log));
		elided += stat_sum(log, "elided_copies");
		redirected += stat_sum(log, "inputs_redirected");
	}
	fprintf(stderr, "  memcached append: %d runs a policy, --policy always elided_copies=%lld "
		"inputs_redirected=%lld\n", runs, elided, redirected);
	/* the appends' copies (64 KiB and up) are elided under --policy always */
	cr_assert_gt(elided, 50 * runs, "too few copies elided: %s", log);
	cr_assert_gt(redirected, 0, "no input was received into the arena: %s", log);
}

/*
 * memcached with four worker threads and large items: eight connections
 * run the whole command set (set, add, replace, append, prepend, get,
 * multi-get, gets, cas good and stale, delete) on binary values of 1 KiB
 * to 4 MiB with "\r\n" inside, then a key set to expire in 1 s must be
 * gone.  memcached copies values (appends, and reads into items that
 * other values' reads recycled): zio elides those under --policy always.
 */
Test(memcached, every_command_on_large_binary_values_over_eight_connections)
{
	static char log[1 << 16];
	char *load[] = { "-P", "mixed", "-c", "8", "-n", "150", "--max", "4M", NULL };
	long long elided;

	need_memcached();
	memcached_run(NULL, "4", load, log, sizeof(log));
	need_uffd();
	memcached_run("", "4", load, log, sizeof(log));
	memcached_run("always", "4", load, log, sizeof(log));
	elided = stat_sum(log, "elided_copies");
	fprintf(stderr, "  memcached mixed: --policy always elided_copies=%lld\n", elided);
	cr_assert_gt(elided, 10, "%s", log);
}

/* ------------------------------------------------------------ nginx */

/*
 * nginx, master and two workers, under zio-run: static files of 1 KiB to
 * 8 MiB with sendfile on and off, keep-alive connections in parallel,
 * byte ranges; a buffering reverse proxy in front of tests/progs/httpload's
 * upstream, with generated bodies coming back and request bodies of
 * several MiB going up (the upstream checks them).  nginx copies no IO
 * data in user space (zio-trace, both workers followed: file and proxied
 * bytes reach writev whole; with sendfile the kernel sends the file), so
 * there is nothing for zio to elide: what this checks is that every byte
 * is right with the runtime in a real event-driven, multi-process server.
 */
static char httpload[512];

TestSuite(nginx, .init = setup, .fini = teardown, .timeout = 600);

static void need_nginx(void)
{
	if (!ensure("nginx", "nginx-light") && !ensure("nginx", "nginx"))
		cr_skip_test("nginx is missing and could not be installed (apt-get)");
	path_in_build(httpload, sizeof(httpload), "tests/progs/httpload");
}

static void make_files(const char *dir)
{
	static const size_t sizes[] = { 1024, 4097, 65536, 262144 + 13, 1048576 + 7, 8 << 20 };

	mkdir(dir, 0755);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char path[400];
		FILE *f;
		uint32_t x = (uint32_t)i * 2654435761u + 9;

		snprintf(path, sizeof(path), "%s/f%zu.bin", dir, i);
		f = fopen(path, "w");
		cr_assert(f, "%s: %s", path, strerror(errno));
		for (size_t k = 0; k < sizes[i]; k++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			fputc((int)(x >> 24), f);
		}
		fclose(f);
	}
}

/* nginx.conf for a server on port, files from www, /proxy/ to upstream. */
static void nginx_conf(const char *path, int port, int up, const char *www, bool sendfile)
{
	FILE *f = fopen(path, "w");

	cr_assert(f, "%s: %s", path, strerror(errno));
	fprintf(f,
		"user root;\nworker_processes 2;\ndaemon off;\nmaster_process on;\n"
		"error_log %s/nginx.err;\npid %s/nginx.pid;\n"
		"events { worker_connections 256; }\n"
		"http {\n  access_log off;\n  client_max_body_size 64m;\n"
		"  client_body_temp_path %s/body; proxy_temp_path %s/proxy;\n"
		"  fastcgi_temp_path %s/fcgi; uwsgi_temp_path %s/uwsgi; scgi_temp_path %s/scgi;\n"
		"  server {\n    listen 127.0.0.1:%d;\n    root %s;\n    sendfile %s;\n"
		"    location /proxy/ {\n      proxy_pass http://127.0.0.1:%d/;\n"
		"      proxy_buffering on; proxy_buffers 64 64k; proxy_buffer_size 64k;\n"
		"      proxy_http_version 1.1; proxy_set_header Connection \"\";\n"
		"      client_body_buffer_size 16m;\n    }\n  }\n}\n",
		tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, port, www,
		sendfile ? "on" : "off", up);
	fclose(f);
}

/* One nginx (plain, or under zio-run with policy), both loads against it;
 * the server's stats lines into log. */
static void nginx_run(const char *policy, bool sendfile, int up, char *log, size_t cap)
{
	static struct run r;
	struct server s = { .port = free_port() };
	char conf[300], www[300], logf[300], port[16];
	char *argv[16];
	int n;

	snprintf(www, sizeof(www), "%s/www", tmpdir);
	snprintf(conf, sizeof(conf), "%s/nginx.%d.conf", tmpdir, s.port);
	snprintf(logf, sizeof(logf), "%s/nginx.%d.log", tmpdir, s.port);
	snprintf(port, sizeof(port), "%d", s.port);
	nginx_conf(conf, s.port, up, www, sendfile);
	n = zio_prefix(argv, policy);
	argv[n++] = "nginx";
	argv[n++] = "-c";
	argv[n++] = conf;
	argv[n] = NULL;
	server_start(&s, logf, argv);
	RUN(&r, 300, httpload, "client", "-p", port, "-r", www, "-c", "6", "-n", "40", "-m",
	    "file,range");
	cr_assert_eq(r.status, 0, "static files (sendfile %s, %s):\n%s%s", sendfile ? "on" : "off",
		     policy ? "zio" : "plain", r.out, r.err);
	RUN(&r, 300, httpload, "client", "-p", port, "-x", "/proxy/", "-c", "4", "-n", "20",
	    "-m", "gen,post", "--max", "6291456");
	cr_assert_eq(r.status, 0, "proxy (%s):\n%s%s", policy ? "zio" : "plain", r.out, r.err);
	server_stop(&s, SIGTERM);
	server_log(&s, log, cap);
}

Test(nginx, static_files_ranges_and_a_buffering_proxy_byte_for_byte)
{
	static char log[1 << 16];
	struct server up;
	char www[300], upport[16], uplog[300];

	need_nginx();
	snprintf(www, sizeof(www), "%s/www", tmpdir);
	make_files(www);
	up = (struct server){ .port = free_port() };
	snprintf(upport, sizeof(upport), "%d", up.port);
	snprintf(uplog, sizeof(uplog), "%s/upstream.log", tmpdir);
	server_start(&up, uplog, (char *[]){ httpload, "upstream", "-p", upport, NULL });
	nginx_run(NULL, true, up.port, log, sizeof(log));
	nginx_run(NULL, false, up.port, log, sizeof(log));
	need_uffd();
	for (int sf = 0; sf < 2; sf++) {
		nginx_run("", sf, up.port, log, sizeof(log));
		cr_assert_geq(stat_sum(log, "inputs_tracked"), 0, "no stats line from nginx:\n%s",
			      log);
		fprintf(stderr, "  nginx (sendfile %s): elided_copies=%lld inputs_tracked=%lld; "
			"nginx copies no IO data in user space, nothing to elide\n",
			sf ? "on" : "off", stat_sum(log, "elided_copies"),
			stat_sum(log, "inputs_tracked"));
		nginx_run("always", sf, up.port, log, sizeof(log));
	}
	server_stop(&up, SIGKILL);
}

/* ------------------------------------------------------------ icecast2 */

/*
 * icecast2, the zIO paper's HTTP streaming server: a source client
 * streams the record stream in 64 KiB writes (httpload source), eight
 * listeners each read 8 MiB of it, which must be one contiguous, correct
 * part of the stream wherever they joined; then eight clients fetch a
 * 512 KiB static file from its web root again and again.  Icecast refuses
 * to run as root: it is started as root (so that the runtime can open its
 * userfaultfd) and drops to nobody by its own <changeowner>, as its
 * Debian service does.  Its copies of IO data are small (the paper's
 * table: 0 in the application, 1 + N in the IO stack): nothing to elide.
 */
TestSuite(icecast, .init = setup, .fini = teardown, .timeout = 600);

static void icecast_conf(const char *path, int port, const char *dir)
{
	FILE *f = fopen(path, "w");

	cr_assert(f, "%s: %s", path, strerror(errno));
	fprintf(f,
		"<icecast>\n<hostname>localhost</hostname><location>test</location>"
		"<admin>root@localhost</admin>\n"
		"<limits><clients>100</clients><sources>4</sources><queue-size>4194304</queue-size>"
		"<client-timeout>30</client-timeout><header-timeout>15</header-timeout>"
		"<source-timeout>10</source-timeout><burst-on-connect>1</burst-on-connect>"
		"<burst-size>65536</burst-size></limits>\n"
		"<authentication><source-password>hackme</source-password>"
		"<relay-password>hackme</relay-password><admin-user>admin</admin-user>"
		"<admin-password>hackme</admin-password></authentication>\n"
		"<listen-socket><port>%d</port><bind-address>127.0.0.1</bind-address>"
		"</listen-socket>\n<fileserve>1</fileserve>\n"
		"<paths><basedir>/usr/share/icecast2</basedir><logdir>%s/log</logdir>"
		"<webroot>%s/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot></paths>\n"
		"<logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog>"
		"<loglevel>2</loglevel></logging>\n"
		"<security><chroot>0</chroot><changeowner><user>nobody</user><group>nogroup</group>"
		"</changeowner></security>\n</icecast>\n", port, dir, dir);
	fclose(f);
}

static void icecast_run(const char *policy, char *log, size_t cap)
{
	static struct run r;
	struct server s = { .port = free_port() };
	struct server src;
	char conf[300], logf[300], port[16], web[300], srclog[300];
	char *argv[12];
	int n, st;

	snprintf(conf, sizeof(conf), "%s/icecast.%d.xml", tmpdir, s.port);
	snprintf(logf, sizeof(logf), "%s/icecast.%d.out", tmpdir, s.port);
	snprintf(srclog, sizeof(srclog), "%s/source.%d.out", tmpdir, s.port);
	snprintf(web, sizeof(web), "%s/web", tmpdir);
	snprintf(port, sizeof(port), "%d", s.port);
	icecast_conf(conf, s.port, tmpdir);
	n = zio_prefix(argv, policy);
	argv[n++] = "icecast2";
	argv[n++] = "-c";
	argv[n++] = conf;
	argv[n] = NULL;
	server_start(&s, logf, argv);
	/* the source, 64 MiB at 32 MB/s; the listeners join as it starts */
	src = (struct server){ .port = s.port };
	src.pid = fork();
	if (src.pid == 0) {
		int fd = open(srclog, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, 1);
		dup2(fd, 2);
		setpgid(0, 0);
		execl(httpload, httpload, "source", "-p", port, "-u", "/cast", "--bytes", "67108864",
		      "--rate", "33554432", (char *)NULL);
		_exit(127);
	}
	RUN(&r, 120, httpload, "listen", "-p", port, "-u", "/cast", "-c", "8", "--bytes", "8388608");
	waitpid(src.pid, &st, 0);
	cr_assert_eq(r.status, 0, "listeners (%s):\n%s%s", policy ? (*policy ? policy : "zio") : "plain",
		     r.out, r.err);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the source failed (status %d)", st);
	RUN(&r, 120, httpload, "client", "-p", port, "-r", web, "-c", "8", "-n", "25", "-m",
	    "file");
	cr_assert_eq(r.status, 0, "static file (%s):\n%s%s", policy ? "zio" : "plain", r.out,
		     r.err);
	server_stop(&s, SIGTERM);
	server_log(&s, log, cap);
}

Test(icecast, a_source_cast_to_eight_listeners_and_a_static_file_byte_for_byte)
{
	static char log[1 << 16];
	char dir[300], file[320];
	FILE *f;

	if (!ensure("icecast2", "icecast2"))
		cr_skip_test("icecast2 is missing and could not be installed (apt-get)");
	path_in_build(httpload, sizeof(httpload), "tests/progs/httpload");
	/* nobody must reach the web root and write the logs */
	chmod(tmpdir, 0755);
	snprintf(dir, sizeof(dir), "%s/web", tmpdir);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/log", tmpdir);
	mkdir(dir, 0777);
	chmod(dir, 0777);
	snprintf(file, sizeof(file), "%s/web/file512k.bin", tmpdir);
	f = fopen(file, "w");
	cr_assert(f);
	for (int i = 0; i < 524288; i++)
		fputc((i * 131 + (i >> 12) * 29 + 1) & 255, f);
	fclose(f);
	icecast_run(NULL, log, sizeof(log));
	need_uffd();
	icecast_run("", log, sizeof(log));
	cr_assert_geq(stat_sum(log, "elided_copies"), 0, "no stats line from icecast2:\n%s", log);
	fprintf(stderr, "  icecast2: elided_copies=%lld; its copies of IO data are small "
		"(0 in the app, 1+N in the IO stack): nothing to elide\n",
		stat_sum(log, "elided_copies"));
	icecast_run("always", log, sizeof(log));
}

/* ------------------------------------------------------------ redis */

/*
 * redis-server beyond tests/integ/test_real.c: threaded I/O
 * (io-threads 2, io-threads-do-reads yes), a replica that must end
 * identical to its master (both under zio), and AOF rewrites while
 * clients write, after which a restart from the AOF must give the same
 * dataset.  tools/redisload drives them and checks every GET against the
 * value it last SET; DEBUG DIGEST compares whole datasets.
 */
static char redisload[512];

TestSuite(redis, .init = setup, .fini = teardown, .timeout = 900);

static void need_redis(void)
{
	if (!ensure("redis-server", "redis-server"))
		cr_skip_test("redis-server is missing and could not be installed (apt-get)");
	path_in_build(redisload, sizeof(redisload), "tools/redisload");
}

/* A command in Redis's inline form; the reply (a bulk's body, or the
 * line) into out.  Returns false when the server does not answer. */
static bool redis_cmd(int port, const char *cmd, char *out, size_t cap)
{
	int fd = connect_port(port);
	size_t n = 0;
	char *nl;

	out[0] = 0;
	if (fd < 0)
		return false;
	if (write(fd, cmd, strlen(cmd)) < 0 || write(fd, "\r\n", 2) < 0) {
		close(fd);
		return false;
	}
	for (;;) {
		ssize_t r = read(fd, out + n, cap - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		out[n] = 0;
		nl = strstr(out, "\r\n");
		if (!nl)
			continue;
		if (out[0] != '$')
			break;
		if ((size_t)atol(out + 1) + (size_t)(nl + 2 - out) + 2 <= n || n == cap - 1)
			break;
	}
	close(fd);
	if (out[0] == '$' && (nl = strstr(out, "\r\n"))) {
		memmove(out, nl + 2, strlen(nl + 2) + 1);
		if ((nl = strstr(out, "\r\n")) && !nl[2])
			*nl = 0;
	} else if ((nl = strstr(out, "\r\n"))) {
		*nl = 0;
		if (out[0] == '+')
			memmove(out, out + 1, strlen(out));
	}
	return n > 0;
}

/* Start redis-server (under zio-run with --stats when zio) with the extra
 * arguments; the dataset lives in dir. */
static void redis_start(struct server *s, bool zio, const char *dir, char *const extra[])
{
	char port[16], logf[320];
	char *argv[40];
	int n;

	snprintf(port, sizeof(port), "%d", s->port);
	snprintf(logf, sizeof(logf), "%s/redis.%d.log", dir, s->port);
	n = zio_prefix(argv, zio ? "" : NULL);
	for (char **a = (char *[]){ "redis-server", "--port", port, "--bind", "127.0.0.1",
				    "--dir", (char *)dir, "--save", "", "--protected-mode", "no",
				    "--daemonize", "no", "--enable-debug-command", "yes",
				    "--proto-max-bulk-len", "64mb", NULL };
	     *a; a++)
		argv[n++] = *a;
	for (int i = 0; extra && extra[i] && n < 38; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	server_start(s, logf, argv);
}

static void redisload_run(int port, char *const args[])
{
	static struct run r;
	char p[16];
	char *argv[24] = { redisload, "-p", p };
	int n = 3;

	snprintf(p, sizeof(p), "%d", port);
	for (int i = 0; args[i] && n < 23; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	run_env(&r, 300, NULL, argv);
	cr_assert_eq(r.status, 0, "redisload:\n%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "redisload: ok"), "%s", r.out);
}

Test(redis, threaded_io_reads_and_writes_every_byte)
{
	static char log[1 << 16];
	char *extra[] = { "--io-threads", "2", "--io-threads-do-reads", "yes", NULL };
	char *load[] = { "-c", "8", "-P", "4", "-n", "400", "-s", "64K", "-k", "800", "--fill",
			 NULL };

	need_redis();
	for (int zio = 0; zio < 2; zio++) {
		struct server s = { .port = free_port() };

		if (zio)
			need_uffd();
		redis_start(&s, zio, tmpdir, extra);
		redisload_run(s.port, load);
		server_stop(&s, SIGTERM);
		server_log(&s, log, sizeof(log));
		if (zio)
			fprintf(stderr, "  redis io-threads: elided_copies=%lld\n",
				stat_sum(log, "elided_copies"));
	}
	/* zio-trace: each GET copies its 64 KiB value into the reply */
	cr_assert_gt(stat_sum(log, "elided_copies"), 0, "nothing elided:\n%s", log);
}

/* Wait until the replica has all the master wrote. */
static void redis_wait_sync(int master)
{
	char info[8192];

	for (int i = 0; i < 300; i++) {
		long long off = -1, slave = -2;
		const char *p;

		if (redis_cmd(master, "INFO replication", info, sizeof(info))) {
			if ((p = strstr(info, "master_repl_offset:")))
				off = atoll(p + 19);
			if ((p = strstr(info, "slave0:")) && (p = strstr(p, "offset=")))
				slave = atoll(p + 7);
			if (off >= 0 && slave == off && strstr(info, "state=online"))
				return;
		}
		usleep(100 * 1000);
	}
	cr_assert_fail("the replica did not catch up:\n%s", info);
}

Test(redis, a_replica_under_zio_ends_identical_to_its_master)
{
	static char log[1 << 16];
	struct server m = { .port = free_port() }, r = { .port = free_port() };
	char replicaof[32], dm[128], dr[128], rdir[300];
	char *load[] = { "-c", "6", "-P", "8", "-n", "600", "-s", "200K", "-k", "600", "--fill",
			 NULL };

	need_redis();
	need_uffd();
	snprintf(rdir, sizeof(rdir), "%s/replica", tmpdir);
	mkdir(rdir, 0755);
	snprintf(replicaof, sizeof(replicaof), "%d", m.port);
	redis_start(&m, true, tmpdir, NULL);
	redis_start(&r, true, rdir, (char *[]){ "--replicaof", "127.0.0.1", replicaof, NULL });
	redisload_run(m.port, load);
	redis_wait_sync(m.port);
	cr_assert(redis_cmd(m.port, "DEBUG DIGEST", dm, sizeof(dm)), "no digest from the master");
	cr_assert(redis_cmd(r.port, "DEBUG DIGEST", dr, sizeof(dr)), "no digest from the replica");
	cr_assert_str_neq(dm, "0000000000000000000000000000000000000000", "the master is empty");
	cr_assert_str_eq(dm, dr, "master %s, replica %s", dm, dr);
	server_stop(&r, SIGTERM);
	server_stop(&m, SIGTERM);
	server_log(&m, log, sizeof(log));
	fprintf(stderr, "  redis replica: digests equal (%s), master elided_copies=%lld\n", dm,
		stat_sum(log, "elided_copies"));
	/* the master copies each 200 KiB value of a GET into its reply */
	cr_assert_gt(stat_sum(log, "elided_copies"), 0, "nothing elided:\n%s", log);
}

Test(redis, aof_rewrites_while_clients_write_then_a_restart_gives_the_same_data)
{
	static char log[1 << 16];
	struct server s = { .port = free_port() };
	char *aof[] = { "--appendonly", "yes", "--appendfsync", "everysec",
			"--aof-use-rdb-preamble", "no", NULL };
	char d1[128], d2[128] = "", info[8192], port[16];
	pid_t load;
	int st;

	need_redis();
	need_uffd();
	redis_start(&s, true, tmpdir, aof);
	snprintf(port, sizeof(port), "%d", s.port);
	load = fork();
	if (load == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 2);
		execl(redisload, redisload, "-p", port, "-c", "4", "-P", "4", "-d", "4", "-s", "128K",
		      "-k", "400", "--fill", (char *)NULL);
		_exit(127);
	}
	/* three rewrites while the load runs */
	for (int k = 0; k < 3; k++) {
		usleep(800 * 1000);
		cr_assert(redis_cmd(s.port, "BGREWRITEAOF", info, sizeof(info)), "no reply");
		for (int i = 0; i < 100; i++) {
			if (redis_cmd(s.port, "INFO persistence", info, sizeof(info)) &&
			    strstr(info, "aof_rewrite_in_progress:0") &&
			    !strstr(info, "aof_rewrite_scheduled:1"))
				break;
			usleep(100 * 1000);
		}
	}
	waitpid(load, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the load failed (status %d)", st);
	cr_assert(redis_cmd(s.port, "DEBUG DIGEST", d1, sizeof(d1)), "no digest");
	/* a loaded machine may still be writing the last one: up to 30 s */
	for (int i = 0; i < 300; i++) {
		cr_assert(redis_cmd(s.port, "INFO persistence", info, sizeof(info)), "no reply");
		if (strstr(info, "aof_rewrite_in_progress:0") &&
		    !strstr(info, "aof_rewrite_scheduled:1"))
			break;
		usleep(100 * 1000);
	}
	cr_assert(strstr(info, "aof_rewrites:") && !strstr(info, "aof_rewrites:0\r"),
		  "no rewrite happened:\n%s", info);
	server_stop(&s, SIGTERM);
	server_log(&s, log, sizeof(log));
	fprintf(stderr, "  redis AOF rewrites: elided_copies=%lld (the server and its rewrite "
		"children)\n", stat_sum(log, "elided_copies"));
	cr_assert_gt(stat_sum(log, "elided_copies"), 0, "nothing elided:\n%s", log);
	/* the same data back from the AOF, under zio again */
	redis_start(&s, true, tmpdir, aof);
	/* INFO can say loading:0 before the AOF is read in, and DEBUG DIGEST
	 * answers meanwhile (an empty set's digest): wait, up to a minute, for
	 * the digest the data had; a wrong byte never gets there */
	for (int i = 0; i < 200 && strcmp(d1, d2); i++) {
		usleep(300 * 1000);
		if (!redis_cmd(s.port, "INFO persistence", info, sizeof(info)) ||
		    !strstr(info, "loading:0") ||
		    !redis_cmd(s.port, "DEBUG DIGEST", d2, sizeof(d2)))
			d2[0] = '\0';
	}
	server_stop(&s, SIGTERM);
	server_log(&s, log, sizeof(log));
	cr_assert_str_eq(d1, d2, "before the restart %s, after %s; the server's log:\n%s", d1, d2,
			 log);
}
