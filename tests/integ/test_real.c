// SPDX-License-Identifier: MIT
/*
 * Real, unmodified Debian programs under zio-run, compared byte for byte
 * with a plain run: redis-server with an AOF (appendfsync always) fed
 * large values over many connections, then BGREWRITEAOF and a restart;
 * python3 slicing large received buffers; dd/cat pipelines with large
 * blocks; tar of a directory of large files.  Where the program copies
 * IO data the run must also show elided copies, so a test cannot pass by
 * eliding nothing.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "servers.h"

static char zio_run[512], tmpdir[256];

static void setup(void)
{
	path_in_build(zio_run, sizeof(zio_run), "zio-run");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/zio-real.XXXXXX");
	cr_assert(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
}

static void teardown(void)
{
	struct run r;

	if (tmpdir[0])
		RUN(&r, 30, "rm", "-rf", tmpdir);
}

TestSuite(real, .init = setup, .fini = teardown, .timeout = 300);

static void write_file(const char *path, size_t n, unsigned seed)
{
	FILE *f = fopen(path, "w");
	uint32_t x = seed * 2654435761u + 1;

	cr_assert(f, "%s: %s", path, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		fputc((int)(x >> 24), f);
	}
	fclose(f);
}

static bool same_file(const char *a, const char *b)
{
	struct run r;

	RUN(&r, 60, "cmp", "-s", (char *)a, (char *)b);
	return r.status == 0;
}

/* ------------------------------------------------------------ coreutils */

Test(real, stats_line_survives_a_program_that_closes_stderr_at_exit)
{
	static struct run r;
	char f[300];

	need_uffd();
	/* coreutils close stderr in an atexit handler: regression test for
	 * the stats line that was lost with it */
	snprintf(f, sizeof(f), "%s/in", tmpdir);
	write_file(f, 1000, 1);
	RUN(&r, 30, zio_run, "--stats", "--", "cat", f);
	cr_assert_eq(r.status, 0);
	cr_assert_geq(stat_of(r.err, "elided_copies"), 0, "no stats line from cat: %s", r.err);
}

Test(real, dd_and_cat_pipelines_with_large_blocks_are_byte_identical)
{
	static struct run r;
	char in[300], out[300], cmd[2048];

	need_uffd();
	snprintf(in, sizeof(in), "%s/big", tmpdir);
	snprintf(out, sizeof(out), "%s/out", tmpdir);
	write_file(in, 24 << 20, 2);
	/* dd with ibs != obs copies every input block into its output
	 * buffer: those copies are the ones to elide */
	snprintf(cmd, sizeof(cmd),
		 "dd if='%s' ibs=1M obs=256K status=none | cat | "
		 "dd ibs=64K obs=2M iflag=fullblock status=none | dd of='%s' bs=4M status=none",
		 in, out);
	RUN(&r, 120, zio_run, "--stats", "--", "sh", "-c", cmd);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(same_file(in, out), "pipeline output differs from its input");
	cr_assert_gt(stat_sum(r.err, "elided_copies"), 0, "%s", r.err);
	fprintf(stderr, "  real: dd/cat pipeline elided_copies=%lld\n",
		stat_sum(r.err, "elided_copies"));
	/* and dd straight from the file to a file */
	snprintf(cmd, sizeof(cmd), "if=%s", in);
	{
		char of[310];

		snprintf(of, sizeof(of), "of=%s", out);
		RUN(&r, 120, zio_run, "--stats", "--", "dd", cmd, of, "ibs=1M", "obs=256K",
		    "status=none");
	}
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(same_file(in, out), "dd output differs from its input");
	cr_assert_gt(stat_sum(r.err, "elided_copies"), 10, "%s", r.err);
	cr_assert_gt(stat_sum(r.err, "outputs_substituted"), 0, "%s", r.err);
}

Test(real, tar_of_large_files_is_identical_to_a_plain_run)
{
	static struct run r;
	char dir[300], a[300], b[300], x[300], cmd[2048];

	need_uffd();
	snprintf(dir, sizeof(dir), "%s/d", tmpdir);
	mkdir(dir, 0755);
	for (int i = 0; i < 4; i++) {
		char f[320];

		snprintf(f, sizeof(f), "%s/f%d", dir, i);
		write_file(f, (size_t)(3 << 20) + (size_t)i * 777777, 10 + (unsigned)i);
	}
	snprintf(a, sizeof(a), "%s/plain.tar", tmpdir);
	snprintf(b, sizeof(b), "%s/zio.tar", tmpdir);
	snprintf(x, sizeof(x), "%s/x", tmpdir);
	mkdir(x, 0755);
	RUN(&r, 60, "tar", "-C", tmpdir, "-b", "2048", "-cf", a, "d");
	cr_assert_eq(r.status, 0, "%s", r.err);
	RUN(&r, 60, zio_run, "--stats", "--", "tar", "-C", tmpdir, "-b", "2048", "-cf", b, "d");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(same_file(a, b), "tar archives differ");
	/* tar reads file data straight into its record buffer: there is no
	 * copy of IO data to elide, only inputs */
	cr_assert_gt(stat_sum(r.err, "inputs_tracked"), 0, "%s", r.err);
	snprintf(cmd, sizeof(cmd), "cat '%s' | tar -C '%s' -xf - && diff -r '%s' '%s/d'", b, x, dir, x);
	RUN(&r, 60, zio_run, "--stats", "--", "sh", "-c", cmd);
	cr_assert_eq(r.status, 0, "extracted tree differs: %s %s", r.out, r.err);
}

/* ------------------------------------------------------------ python3 */

static const char py_script[] =
"import socket, threading, hashlib\n"
"N = 4 << 20\n"
"data = bytes((i * 131 + (i >> 12) * 29 + 1) & 255 for i in range(N))\n"
"a, b = socket.socketpair()\n"
"def send():\n"
"    a.sendall(data)\n"
"h = hashlib.sha256()\n"
"for rnd in range(3):\n"
"    t = threading.Thread(target=send); t.start()\n"
"    buf = bytearray(N); mv = memoryview(buf); got = 0\n"
"    while got < N:\n"
"        got += b.recv_into(mv[got:], N - got)\n"
"    t.join()\n"
"    for off, ln in ((0, N), (4096, 1 << 20), (12345, 2 << 20), (N - 300000, 300000)):\n"
"        s1 = bytes(mv[off:off + ln]); s2 = bytearray(buf[off:off + ln]); s3 = s1[100:]\n"
"        assert s1 == data[off:off + ln] and s2 == s1 and s3 == s1[100:]\n"
"        h.update(s1); h.update(s2); h.update(s3)\n"
"    t = threading.Thread(target=send); t.start()\n"
"    chunks = []; got = 0\n"
"    while got < N:\n"
"        c = b.recv(1 << 20); chunks.append(c); got += len(c)\n"
"    t.join()\n"
"    j = b''.join(chunks); s = j[65536:]; m = bytes(memoryview(j)[8192:])\n"
"    assert j == data\n"
"    h.update(j); h.update(s); h.update(m)\n"
"print('py ok', h.hexdigest())\n";

Test(real, python3_slices_of_received_buffers_are_byte_identical)
{
	static struct run plain, z;
	char script[300];
	FILE *f;

	need_uffd();
	if (!ensure("/usr/bin/python3", "python3"))
		cr_skip_test("python3 is missing and could not be installed");
	snprintf(script, sizeof(script), "%s/slices.py", tmpdir);
	f = fopen(script, "w");
	cr_assert(f);
	fputs(py_script, f);
	fclose(f);
	RUN(&plain, 120, "/usr/bin/python3", script);
	cr_assert_eq(plain.status, 0, "plain: %s %s", plain.out, plain.err);
	RUN(&z, 120, zio_run, "--stats", "--", "/usr/bin/python3", script);
	cr_assert_eq(z.status, 0, "zio: %s %s", z.out, z.err);
	cr_assert_str_eq(z.out, plain.out);
	cr_assert_gt(stat_sum(z.err, "elided_copies"), 0, "%s", z.err);
	fprintf(stderr, "  real: python3 elided_copies=%lld\n", stat_sum(z.err, "elided_copies"));
}

/* ------------------------------------------------------------ redis */

#define NVAL  32
#define NCONN 8

static size_t val_len(int i)
{
	/* 64 KiB .. 4 MiB, a few odd sizes among them */
	static const size_t l[] = { 64 << 10, 100000, 256 << 10, 1 << 20, 1500001, 4 << 20,
				    (64 << 10) + 1, 3 << 20 };

	return l[i % 8];
}

static unsigned char val_byte(int i, size_t k)
{
	return (unsigned char)(k * 131 + (k >> 12) * 29 + (size_t)i * 7 + 1);
}

static void send_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		cr_assert_gt(w, 0, "write to redis: %s", strerror(errno));
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

static void recv_all(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		cr_assert_gt(r, 0, "read from redis: %s", r ? strerror(errno) : "EOF");
		p = (char *)p + r;
		n -= (size_t)r;
	}
}

/* One reply line (up to \r\n) into buf. */
static void recv_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		recv_all(fd, buf + n, 1);
		if (n && buf[n - 1] == '\r' && buf[n] == '\n') {
			buf[n - 1] = '\0';
			return;
		}
		n++;
	}
	buf[n] = '\0';
}

static void cmd(int fd, int argc, const char *const *argv, const size_t *lens, char *reply,
		size_t cap)
{
	char hdr[64];

	snprintf(hdr, sizeof(hdr), "*%d\r\n", argc);
	send_all(fd, hdr, strlen(hdr));
	for (int i = 0; i < argc; i++) {
		size_t l = lens ? lens[i] : strlen(argv[i]);

		snprintf(hdr, sizeof(hdr), "$%zu\r\n", l);
		send_all(fd, hdr, strlen(hdr));
		send_all(fd, argv[i], l);
		send_all(fd, "\r\n", 2);
	}
	recv_line(fd, reply, cap);
}

struct redis {
	pid_t pid;
	int port;
	char dir[300], log[320];
};

static void redis_start(struct redis *rd, bool zio)
{
	char port[16];

	snprintf(port, sizeof(port), "%d", rd->port);
	snprintf(rd->log, sizeof(rd->log), "%s/server.log", rd->dir);
	rd->pid = fork();
	if (rd->pid == 0) {
		int fd = open(rd->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		char *argv[] = { zio_run, "--stats", "--", "redis-server", "--port", port,
				 "--bind", "127.0.0.1", "--dir", rd->dir, "--appendonly", "yes",
				 "--appendfsync", "always", "--aof-use-rdb-preamble", "no",
				 "--save", "", "--protected-mode", "no", "--daemonize", "no",
				 "--client-query-buffer-limit", "64mb", "--proto-max-bulk-len",
				 "64mb", NULL };

		dup2(fd, 1);
		dup2(fd, 2);
		setpgid(0, 0);
		execvp(zio ? argv[0] : argv[3], zio ? argv : argv + 3);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		int fd = connect_port(rd->port);

		if (fd >= 0) {
			close(fd);
			return;
		}
		usleep(50000);
	}
	cr_assert_fail("redis-server did not start on port %d", rd->port);
}

static void redis_stop(struct redis *rd)
{
	int fd = connect_port(rd->port), st;
	char reply[64];

	/* no reply: the server closes the connection as it exits */
	if (fd >= 0) {
		send_all(fd, "*1\r\n$8\r\nSHUTDOWN\r\n", 18);
		while (read(fd, reply, sizeof(reply)) > 0)
			;
		close(fd);
	}
	for (int i = 0; i < 200 && waitpid(rd->pid, &st, WNOHANG) == 0; i++)
		usleep(50000);
	if (waitpid(rd->pid, &st, WNOHANG) == 0) {
		kill(-rd->pid, SIGKILL);
		waitpid(rd->pid, &st, 0);
	}
}

/* Set every value over NCONN connections, one command at a time in a
 * fixed order (so the AOF is the same in both runs). */
static void redis_fill(struct redis *rd)
{
	int fds[NCONN];
	char reply[256];
	unsigned char *v = malloc(4 << 20);

	for (int c = 0; c < NCONN; c++) {
		fds[c] = connect_port(rd->port);
		cr_assert_geq(fds[c], 0);
	}
	for (int i = 0; i < NVAL; i++) {
		char key[32];
		size_t n = val_len(i);

		snprintf(key, sizeof(key), "value:%d", i);
		for (size_t k = 0; k < n; k++)
			v[k] = val_byte(i, k);
		cmd(fds[i % NCONN], 3, (const char *[]){ "SET", key, (char *)v },
		    (size_t[]){ 3, strlen(key), n }, reply, sizeof(reply));
		cr_assert_str_eq(reply, "+OK", "SET %s: %s", key, reply);
	}
	for (int c = 0; c < NCONN; c++)
		close(fds[c]);
	free(v);
}

static void redis_check(struct redis *rd)
{
	char reply[256];
	unsigned char *v = malloc((4 << 20) + 2);
	int fd = connect_port(rd->port);

	cr_assert_geq(fd, 0);
	for (int i = 0; i < NVAL; i++) {
		char key[32];
		size_t n = val_len(i);

		snprintf(key, sizeof(key), "value:%d", i);
		cmd(fd, 2, (const char *[]){ "GET", key }, NULL, reply, sizeof(reply));
		cr_assert_eq((size_t)atol(reply + 1), n, "GET %s: %s", key, reply);
		recv_all(fd, v, n + 2);
		for (size_t k = 0; k < n; k++)
			cr_assert_eq(v[k], val_byte(i, k), "GET %s: byte %zu is 0x%02x, expected 0x%02x",
				     key, k, v[k], val_byte(i, k));
	}
	close(fd);
	free(v);
}

static void redis_rewrite(struct redis *rd)
{
	char reply[4096];
	int fd = connect_port(rd->port);

	cr_assert_geq(fd, 0);
	cmd(fd, 1, (const char *[]){ "BGREWRITEAOF" }, NULL, reply, sizeof(reply));
	cr_assert(reply[0] == '+', "BGREWRITEAOF: %s", reply);
	for (int i = 0; i < 600; i++) {
		size_t n;

		cmd(fd, 2, (const char *[]){ "INFO", "persistence" }, NULL, reply, sizeof(reply));
		n = (size_t)atol(reply + 1);
		cr_assert_lt(n, sizeof(reply) - 3);
		recv_all(fd, reply, n + 2);
		reply[n] = '\0';
		if (strstr(reply, "aof_rewrite_in_progress:0") &&
		    strstr(reply, "aof_rewrite_scheduled:0") &&
		    !strstr(reply, "aof_last_bgrewrite_status:err"))
			break;
		usleep(50000);
	}
	close(fd);
}

/* The AOF's command log (the incr file of Redis 7's multi-part AOF, or
 * the single file of older versions) into path. */
static void aof_log(const char *dir, char *path, size_t n)
{
	char d[320];
	DIR *dd;
	struct dirent *e;

	snprintf(d, sizeof(d), "%s/appendonlydir", dir);
	path[0] = '\0';
	dd = opendir(d);
	if (!dd) {
		snprintf(path, n, "%s/appendonly.aof", dir);
		return;
	}
	while ((e = readdir(dd)))
		if (strstr(e->d_name, ".incr.aof"))
			snprintf(path, n, "%s/%s", d, e->d_name);
	closedir(dd);
}

static long long redis_run(bool zio, char *aof_copy, size_t n)
{
	static struct run r;
	struct redis rd = { .port = free_port() };
	char aof[600], cmdline[1400];
	long long elided = -1;

	snprintf(rd.dir, sizeof(rd.dir), "%s/redis-%s", tmpdir, zio ? "zio" : "plain");
	mkdir(rd.dir, 0755);
	redis_start(&rd, zio);
	redis_fill(&rd);
	redis_check(&rd);
	aof_log(rd.dir, aof, sizeof(aof));
	snprintf(aof_copy, n, "%s.log", rd.dir);
	snprintf(cmdline, sizeof(cmdline), "cp '%s' '%s'", aof, aof_copy);
	RUN(&r, 30, "sh", "-c", cmdline);
	cr_assert_eq(r.status, 0, "no AOF log at %s: %s", aof, r.err);
	redis_rewrite(&rd);
	redis_stop(&rd);
	/* restart from the rewritten AOF: every value must come back */
	redis_start(&rd, zio);
	redis_check(&rd);
	redis_stop(&rd);
	if (zio) {
		FILE *f = fopen(rd.log, "r");
		static char log[1 << 16];
		size_t got = f ? fread(log, 1, sizeof(log) - 1, f) : 0;

		if (f)
			fclose(f);
		log[got] = '\0';
		elided = stat_sum(log, "elided_copies");
		cr_assert_geq(elided, 0, "no stats line in the server log:\n%s", log);
		fprintf(stderr, "  real: redis-server elided_copies=%lld (both runs of the "
			"server, the rewrite child included)\n", elided);
	}
	return elided;
}

Test(real, redis_aof_with_large_values_rewrite_and_restart_are_byte_identical)
{
	char plain_aof[700], zio_aof[700];
	long long elided;

	need_uffd();
	if (!ensure("redis-server", "redis-server"))
		cr_skip_test("redis-server is missing and could not be installed (apt-get)");
	redis_run(false, plain_aof, sizeof(plain_aof));
	elided = redis_run(true, zio_aof, sizeof(zio_aof));
	cr_assert(same_file(plain_aof, zio_aof), "the AOF of the zio run differs from the plain "
		  "run's (%s vs %s)", zio_aof, plain_aof);
	cr_assert_gt(elided, 0, "redis copied its values into the AOF buffer: elided nothing");
}
