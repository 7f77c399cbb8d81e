// SPDX-License-Identifier: MIT
/*
 * httpload — an HTTP/1.1 client and upstream for the application tests,
 * checking every byte.
 *
 *   httpload upstream -p PORT
 *       serves GET /gen/SEED/LEN (LEN bytes of pattern SEED) and
 *       POST /check/SEED/LEN (answers 200 "ok LEN" when the body is LEN
 *       bytes of pattern SEED, else 400 with the first wrong offset);
 *       one thread per connection, keep-alive; runs until killed.
 *   httpload client -p PORT [-r ROOT] [-c CONNS] [-n REQS] [-s SEED]
 *                   [-m KINDS] [-x PREFIX] [--max BYTES]
 *       CONNS keep-alive connections (threads), REQS requests each, of the
 *       KINDS asked (comma list): file (GET of a file under ROOT, compared
 *       with it), range (a byte range of a file: 206 and Content-Range),
 *       gen (GET /PREFIXgen/..., compared with the pattern), post (POST
 *       /PREFIXcheck/... of up to MAX bytes, the upstream's verdict).
 *       PREFIX (e.g. /proxy/) is put before gen and check paths.
 *
 *   httpload source -p PORT -u MOUNT [--bytes N] [--rate BYTES_PER_S]
 *       an Icecast source client: PUT MOUNT (source:hackme), then N bytes
 *       of the record stream in 64 KiB writes, paced at the rate.
 *   httpload listen -p PORT -u MOUNT [-c LISTENERS] [--bytes N]
 *       LISTENERS clients each GET MOUNT (retrying until it exists) and
 *       read N bytes, which must be one contiguous, correct part of the
 *       record stream (16-byte records holding their own stream offset,
 *       so a listener that joins anywhere finds where it is).
 *
 * Prints "httpload: ok conns=C requests=N bytes=B" and exits 0; on the
 * first wrong byte or answer "httpload: FAIL conn=I req=K (...): ..." and
 * exits 1; 2 for bad usage.  127.0.0.1 only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAXC   64
#define MAXF   64

static int port, nconns = 4;
static long nreqs = 50;
static uint64_t seed = 1;
static const char *root, *prefix = "/";
static size_t maxlen = 8 << 20;
static bool k_file, k_range, k_gen, k_post;
static const char *mount = "/stream";
static size_t stream_bytes = 16 << 20, rate = 32 << 20;
static _Atomic long long total_bytes, total_reqs;

struct file {
	char name[256];
	const unsigned char *b;
	size_t n;
};
static struct file files[MAXF];
static int nfiles;

/* Byte i of pattern seed (depends on the page too). */
static inline unsigned char pat(uint64_t s, uint64_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u ^ (uint32_t)(i >> 12) * 40503u ^
		     (uint32_t)(s * 0x9E3779B9u);

	return (unsigned char)(x >> 24 ^ x >> 11);
}

struct conn {
	int id, fd;
	long op;
	char desc[160];
	uint64_t x;
	unsigned char *in;
	size_t in_len, in_cap;
	bool closing;		/* the server closes after the last response */
};

#define LOAD_NAME "httpload"
#define LOAD_OP   "req"
#include "../../tools/loadconn.h"

/* The header block (up to and without the blank line) into hdr; false on
 * EOF before it. */
static bool read_headers(struct conn *c, char *hdr, size_t cap)
{
	size_t scan = 0;

	for (;;) {
		for (; scan + 3 < c->in_len; scan++)
			if (!memcmp(c->in + scan, "\r\n\r\n", 4)) {
				size_t k = scan < cap - 1 ? scan : cap - 1;

				memcpy(hdr, c->in, k);
				hdr[k] = 0;
				consume(c, scan + 4);
				return true;
			}
		if (c->in_len > 65536)
			return false;
		if (!fill_some(c, c->in_len + 1))
			return false;
	}
}

/* Value of header name (case-insensitive) in hdr, or NULL. */
static const char *header(const char *hdr, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = strchr(hdr, '\n'); p; p = strchr(p + 1, '\n'))
		if (!strncasecmp(p + 1, name, n) && p[1 + n] == ':') {
			p += 2 + n;
			while (*p == ' ')
				p++;
			return p;
		}
	return NULL;
}

/* One response: status, body (Content-Length, or chunked) into c->in's
 * front; returns the body length, the body stays in c->in until the caller
 * consumes it. */
static size_t response(struct conn *c, int *status, char *hdr, size_t cap)
{
	const char *cl, *te;
	size_t n;

	if (!read_headers(c, hdr, cap))
		cfail(c, "no response (connection closed)");
	if (sscanf(hdr, "HTTP/1.%*d %d", status) != 1)
		cfail(c, "bad status line: %.80s", hdr);
	{
		const char *conn = header(hdr, "Connection");

		/* the server closes after this one (Icecast's file server) */
		c->closing = (conn && !strncasecmp(conn, "close", 5)) || !strncmp(hdr, "HTTP/1.0", 8);
	}
	te = header(hdr, "Transfer-Encoding");
	if (te && !strncasecmp(te, "chunked", 7)) {
		/* de-chunk in place into a fresh buffer at the front */
		unsigned char *body = NULL;
		size_t len = 0;

		for (;;) {
			char line[64];
			size_t i = 0, sz;

			while (!fill_some(c, i + 2) || memcmp(c->in + i, "\r\n", 2))
				if (++i > 32)
					cfail(c, "bad chunk size line");
			memcpy(line, c->in, i);
			line[i] = 0;
			sz = strtoul(line, NULL, 16);
			consume(c, i + 2);
			if (!fill_some(c, sz + 2))
				cfail(c, "short chunk");
			body = realloc(body, len + sz + 1);
			memcpy(body + len, c->in, sz);
			len += sz;
			consume(c, sz + 2);
			if (!sz)
				break;
		}
		/* put it back at the front of c->in */
		if (!fill_some(c, 0) || c->in_cap < c->in_len + len + 1) {
			c->in = realloc(c->in, c->in_len + len + 65536);
			c->in_cap = c->in_len + len + 65536;
		}
		memmove(c->in + len, c->in, c->in_len);
		memcpy(c->in, body, len);
		c->in_len += len;
		free(body);
		return len;
	}
	cl = header(hdr, "Content-Length");
	if (!cl)
		cfail(c, "no Content-Length (status %d)", *status);
	n = strtoull(cl, NULL, 10);
	if (!fill_some(c, n))
		cfail(c, "body short: %zu of %zu bytes", c->in_len, n);
	return n;
}

static void check_bytes(struct conn *c, const unsigned char *got, const unsigned char *want,
			size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i]) {
			size_t j = i;

			while (j < n && got[j] != want[j])
				j++;
			cfail(c, "%s: byte %zu of %zu is 0x%02x, expected 0x%02x (%zu wrong from there)",
			      what, i, n, got[i], want[i], j - i);
		}
}

static void req_file(struct conn *c, bool range)
{
	const struct file *f = &files[rnd(c) % (uint64_t)nfiles];
	char req[512], hdr[8192];
	size_t lo = 0, hi = f->n ? f->n - 1 : 0, n;
	int st;

	if (range && f->n > 2) {
		lo = (size_t)(rnd(c) % f->n);
		hi = lo + (size_t)(rnd(c) % (f->n - lo));
	}
	snprintf(c->desc, sizeof(c->desc), "%s /%s [%zu-%zu] of %zu", range ? "range" : "get",
		 f->name, lo, hi, f->n);
	if (range)
		snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: t\r\nRange: bytes=%zu-%zu\r\n\r\n",
			 f->name, lo, hi);
	else
		snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n", f->name);
	if (send_fd(c->fd, req, strlen(req)))
		cfail(c, "send: %s", strerror(errno));
	n = response(c, &st, hdr, sizeof(hdr));
	if (st != (range && f->n > 2 ? 206 : 200))
		cfail(c, "status %d", st);
	if (range && f->n > 2) {
		const char *cr = header(hdr, "Content-Range");
		size_t a, b, t;

		if (!cr || sscanf(cr, "bytes %zu-%zu/%zu", &a, &b, &t) != 3 || a != lo || b != hi ||
		    t != f->n)
			cfail(c, "Content-Range '%.60s'", cr ? cr : "(none)");
	}
	if (n != hi - lo + 1 && !(f->n == 0 && n == 0))
		cfail(c, "%zu bytes, expected %zu", n, hi - lo + 1);
	check_bytes(c, c->in, f->b + lo, n, "body");
	consume(c, n);
	total_bytes += (long long)n;
}

static size_t pick_len(struct conn *c)
{
	switch (rnd(c) % 4) {
	case 0: return 1 + (size_t)(rnd(c) % 4096);
	case 1: return 4096 + (size_t)(rnd(c) % (256 * 1024));
	default: return 1 + (size_t)(rnd(c) % maxlen);
	}
}

static void req_gen(struct conn *c)
{
	uint64_t s = rnd(c) & 0xffffff;
	size_t len = pick_len(c), n;
	char req[256], hdr[8192];
	unsigned char *want;
	int st;

	snprintf(c->desc, sizeof(c->desc), "get %sgen/%llu/%zu", prefix, (unsigned long long)s,
		 len);
	snprintf(req, sizeof(req), "GET %sgen/%llu/%zu HTTP/1.1\r\nHost: t\r\n\r\n", prefix,
		 (unsigned long long)s, len);
	if (send_fd(c->fd, req, strlen(req)))
		cfail(c, "send: %s", strerror(errno));
	n = response(c, &st, hdr, sizeof(hdr));
	if (st != 200 || n != len)
		cfail(c, "status %d, %zu bytes, expected 200 and %zu", st, n, len);
	want = malloc(len);
	for (size_t i = 0; i < len; i++)
		want[i] = pat(s, i);
	check_bytes(c, c->in, want, n, "generated body");
	free(want);
	consume(c, n);
	total_bytes += (long long)n;
}

static void req_post(struct conn *c)
{
	uint64_t s = rnd(c) & 0xffffff;
	size_t len = pick_len(c), n;
	char req[256], hdr[8192], want[64];
	unsigned char *body = malloc(len);
	int st;

	for (size_t i = 0; i < len; i++)
		body[i] = pat(s, i);
	snprintf(c->desc, sizeof(c->desc), "post %scheck/%llu/%zu", prefix,
		 (unsigned long long)s, len);
	snprintf(req, sizeof(req), "POST %scheck/%llu/%zu HTTP/1.1\r\nHost: t\r\n"
		 "Content-Length: %zu\r\n\r\n", prefix, (unsigned long long)s, len, len);
	if (send_fd(c->fd, req, strlen(req)) || send_fd(c->fd, body, len))
		cfail(c, "send: %s", strerror(errno));
	free(body);
	n = response(c, &st, hdr, sizeof(hdr));
	snprintf(want, sizeof(want), "ok %zu\n", len);
	if (st != 200 || n != strlen(want) || memcmp(c->in, want, n))
		cfail(c, "upstream says %d '%.*s'", st, (int)(n < 200 ? n : 200), c->in);
	consume(c, n);
	total_bytes += (long long)len;
}

static void *client_main(void *arg)
{
	struct conn *c = arg;

	for (c->op = 0; c->op < nreqs; c->op++) {
		uint64_t r = rnd(c) % 4;

		if (c->closing) {
			close(c->fd);
			c->fd = connect_local(port, 1);
			c->in_len = 0;
			c->closing = false;
			if (c->fd < 0)
				cfail(c, "reconnect: %s", strerror(errno));
		}

		/* a kind that was asked for, round the table */
		for (int t = 0; t < 4; t++, r = (r + 1) % 4) {
			if (r == 0 && k_file) { req_file(c, false); break; }
			if (r == 1 && k_range) { req_file(c, true); break; }
			if (r == 2 && k_gen) { req_gen(c); break; }
			if (r == 3 && k_post) { req_post(c); break; }
		}
		total_reqs++;
	}
	return NULL;
}

static int load_files(void)
{
	DIR *d = opendir(root);
	struct dirent *e;

	if (!d)
		return -1;
	while ((e = readdir(d)) && nfiles < MAXF) {
		char path[1024];
		struct stat st;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", root, e->d_name);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		files[nfiles].n = (size_t)st.st_size;
		files[nfiles].b = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
						    fd, 0) : (const unsigned char *)"";
		close(fd);
		if (files[nfiles].b == MAP_FAILED)
			continue;
		snprintf(files[nfiles].name, sizeof(files[nfiles].name), "%s", e->d_name);
		nfiles++;
	}
	closedir(d);
	return nfiles ? 0 : -1;
}

static int client(void)
{
	static struct conn C[MAXC];
	pthread_t t[MAXC];

	if ((k_file || k_range) && (!root || load_files())) {
		fprintf(stderr, "httpload: -m file/range needs -r ROOT with files in it\n");
		return 2;
	}
	for (int i = 0; i < nconns; i++) {
		C[i].id = i;
		C[i].x = seed * 1000003 + (uint64_t)i;
		C[i].fd = connect_local(port, 1);
		if (C[i].fd < 0) {
			fprintf(stderr, "httpload: cannot connect to 127.0.0.1:%d: %s\n", port,
				strerror(errno));
			return 2;
		}
	}
	for (int i = 0; i < nconns; i++)
		if (pthread_create(&t[i], NULL, client_main, &C[i]))
			return 2;
	for (int i = 0; i < nconns; i++)
		pthread_join(t[i], NULL);
	printf("httpload: ok conns=%d requests=%lld bytes=%lld\n", nconns,
	       (long long)total_reqs, (long long)total_bytes);
	return 0;
}

/* ------------------------------------------------------------ upstream */

static void reply(struct conn *c, int st, const void *body, size_t n)
{
	char hdr[256];

	snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n"
		 "Content-Type: application/octet-stream\r\n\r\n", st, st == 200 ? "OK" : "Bad",
		 n);
	if (send_fd(c->fd, hdr, strlen(hdr)) || send_fd(c->fd, body, n))
		pthread_exit(NULL);
}

static void *upstream_conn(void *arg)
{
	struct conn *c = arg;
	char hdr[8192], method[16], path[512];

	for (;;) {
		unsigned long long s;
		size_t len;

		if (!read_headers(c, hdr, sizeof(hdr)))
			break;
		if (sscanf(hdr, "%15s %511s", method, path) != 2)
			break;
		if (!strcmp(method, "GET") && sscanf(path, "/gen/%llu/%zu", &s, &len) == 2) {
			unsigned char *b = malloc(len ? len : 1);

			for (size_t i = 0; i < len; i++)
				b[i] = pat(s, i);
			reply(c, 200, b, len);
			free(b);
		} else if (!strcmp(method, "POST") &&
			   sscanf(path, "/check/%llu/%zu", &s, &len) == 2) {
			const char *cl = header(hdr, "Content-Length");
			size_t n = cl ? strtoull(cl, NULL, 10) : 0, bad = (size_t)-1;
			char msg[128];

			if (!fill_some(c, n))
				break;
			for (size_t i = 0; i < n && bad == (size_t)-1; i++)
				if (c->in[i] != pat(s, i))
					bad = i;
			consume(c, n);
			if (n != len)
				snprintf(msg, sizeof(msg), "length %zu, expected %zu\n", n, len);
			else if (bad != (size_t)-1)
				snprintf(msg, sizeof(msg), "byte %zu wrong\n", bad);
			else
				snprintf(msg, sizeof(msg), "ok %zu\n", len);
			reply(c, msg[0] == 'o' ? 200 : 400, msg, strlen(msg));
		} else {
			reply(c, 404, "no\n", 3);
		}
	}
	close(c->fd);
	free(c->in);
	free(c);
	return NULL;
}

static int upstream(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 64)) {
		fprintf(stderr, "httpload: cannot listen on 127.0.0.1:%d: %s\n", port,
			strerror(errno));
		return 2;
	}
	for (;;) {
		int fd = accept(ls, NULL, NULL);
		struct conn *c;
		pthread_t t;

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		c = calloc(1, sizeof(*c));
		c->fd = fd;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&t, NULL, upstream_conn, c)) {
			close(fd);
			free(c);
			continue;
		}
		pthread_detach(t);
	}
}

/* ------------------------------------------------------------ streams */

/* Byte pos of the record stream: record r (16 bytes at 16r) holds 16r
 * and its complement, little endian. */
static inline unsigned char stream_byte(uint64_t pos)
{
	uint64_t rec = pos & ~15ULL, v = (pos & 8) ? ~rec ^ 0x5A5A5A5A5A5A5A5AULL : rec;

	return (unsigned char)(v >> (8 * (pos & 7)));
}

static uint64_t get64(const unsigned char *b)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

/* Where in the stream bytes b (at least 32) start, or -1: a record found
 * at some k < 16 says, and all 32 bytes must then be the stream's there
 * (a record's halves look alike enough to fool a look at one). */
static int64_t stream_find(const unsigned char *b)
{
	for (int k = 0; k < 16; k++) {
		uint64_t rec = get64(b + k), o;
		bool all = true;

		if ((rec & 15) || rec < (uint64_t)k ||
		    get64(b + k + 8) != (~rec ^ 0x5A5A5A5A5A5A5A5AULL))
			continue;
		o = rec - (uint64_t)k;
		for (int i = 0; i < 32 && all; i++)
			all = b[i] == stream_byte(o + (uint64_t)i);
		if (all)
			return (int64_t)o;
	}
	return -1;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int source(void)
{
	static struct conn c;
	char req[512], hdr[4096];
	unsigned char *chunk = malloc(65536);
	uint64_t t0, pos = 0;
	int st;

	c.fd = connect_local(port, 1);
	if (c.fd < 0) {
		fprintf(stderr, "httpload: cannot connect to 127.0.0.1:%d\n", port);
		return 2;
	}
	snprintf(c.desc, sizeof(c.desc), "source %s", mount);
	/* "source:hackme" */
	snprintf(req, sizeof(req), "PUT %s HTTP/1.1\r\nHost: t\r\n"
		 "Authorization: Basic c291cmNlOmhhY2ttZQ==\r\nContent-Type: audio/mpeg\r\n"
		 "Ice-Public: 0\r\nExpect: 100-continue\r\n\r\n", mount);
	if (send_fd(c.fd, req, strlen(req)))
		cfail(&c, "send: %s", strerror(errno));
	if (!read_headers(&c, hdr, sizeof(hdr)) || sscanf(hdr, "HTTP/1.%*d %d", &st) != 1 ||
	    (st != 200 && st != 100))
		cfail(&c, "the server refused the source: %.100s", hdr);
	t0 = now_us();
	while (pos < stream_bytes) {
		size_t n = stream_bytes - pos < 65536 ? stream_bytes - pos : 65536;
		uint64_t due = t0 + pos * 1000000 / rate, now = now_us();

		for (size_t i = 0; i < n; i++)
			chunk[i] = stream_byte(pos + i);
		if (due > now)
			usleep((useconds_t)(due - now));
		if (send_fd(c.fd, chunk, n))
			cfail(&c, "send at %llu: %s", (unsigned long long)pos, strerror(errno));
		pos += n;
	}
	printf("httpload: ok source bytes=%llu\n", (unsigned long long)pos);
	return 0;
}

static void *listener_main(void *arg)
{
	struct conn *c = arg;
	char req[256], hdr[8192];
	uint64_t start = 0, got = 0;
	int st = 0;

	snprintf(c->desc, sizeof(c->desc), "listener %d of %s", c->id, mount);
	/* the mount exists once the source is on: retry for 10 s */
	for (int tries = 0; tries < 100; tries++) {
		c->fd = connect_local(port, 1);
		if (c->fd < 0)
			cfail(c, "connect: %s", strerror(errno));
		snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: t\r\n\r\n", mount);
		c->in_len = 0;
		if (send_fd(c->fd, req, strlen(req)))
			cfail(c, "send: %s", strerror(errno));
		if (read_headers(c, hdr, sizeof(hdr)) &&
		    sscanf(hdr, "%*s %d", &st) == 1 && st == 200)
			break;
		close(c->fd);
		c->fd = -1;
		usleep(100 * 1000);
	}
	if (c->fd < 0)
		cfail(c, "no stream at %s (status %d)", mount, st);
	while (got < stream_bytes) {
		size_t n;

		if (!fill_some(c, 32))
			cfail(c, "stream ended after %llu bytes", (unsigned long long)got);
		if (!got) {
			int64_t o = stream_find(c->in);

			if (o < 0) {
				char hex[100];

				for (int i = 0; i < 32; i++)
					snprintf(hex + 3 * i, 4, "%02x ", c->in[i]);
				cfail(c, "the first bytes are no part of the stream: %s (after %.200s)",
				      hex, hdr);
			}
			start = (uint64_t)o;
		}
		n = c->in_len;
		if (got + n > stream_bytes)
			n = (size_t)(stream_bytes - got);
		for (size_t i = 0; i < n; i++)
			if (c->in[i] != stream_byte(start + got + i))
				cfail(c, "byte %llu (stream offset %llu) is 0x%02x, expected 0x%02x",
				      (unsigned long long)(got + i),
				      (unsigned long long)(start + got + i), c->in[i],
				      stream_byte(start + got + i));
		consume(c, n);
		got += n;
	}
	total_bytes += (long long)got;
	close(c->fd);
	return NULL;
}

static int listen_all(void)
{
	static struct conn C[MAXC];
	pthread_t t[MAXC];

	for (int i = 0; i < nconns; i++) {
		C[i].id = i;
		if (pthread_create(&t[i], NULL, listener_main, &C[i]))
			return 2;
	}
	for (int i = 0; i < nconns; i++)
		pthread_join(t[i], NULL);
	printf("httpload: ok listeners=%d bytes=%lld\n", nconns, (long long)total_bytes);
	return 0;
}

static bool parse_kinds(const char *s)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *k = strtok_r(buf, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
		if (!strcmp(k, "file"))
			k_file = true;
		else if (!strcmp(k, "range"))
			k_range = true;
		else if (!strcmp(k, "gen"))
			k_gen = true;
		else if (!strcmp(k, "post"))
			k_post = true;
		else
			return false;
	}
	return k_file || k_range || k_gen || k_post;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "max", 1, NULL, 'M' }, { "bytes", 1, NULL, 'B' },
					    { "rate", 1, NULL, 'R' }, { "help", 0, NULL, 'h' },
					    { 0 } };
	const char *mode = argc > 1 ? argv[1] : "";
	int o;

	setvbuf(stdout, NULL, _IOLBF, 0);
	optind = 2;
	while ((o = getopt_long(argc, argv, "p:r:c:n:s:m:x:u:h", lo, NULL)) != -1) {
		switch (o) {
		case 'p': port = atoi(optarg); break;
		case 'r': root = optarg; break;
		case 'c': nconns = atoi(optarg); break;
		case 'n': nreqs = atol(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'm':
			if (!parse_kinds(optarg)) {
				fprintf(stderr, "httpload: -m takes file,range,gen,post\n");
				return 2;
			}
			break;
		case 'x': prefix = optarg; break;
		case 'M': maxlen = strtoull(optarg, NULL, 0); break;
		case 'B': stream_bytes = strtoull(optarg, NULL, 0); break;
		case 'R': rate = strtoull(optarg, NULL, 0); break;
		case 'u': mount = optarg; break;
		default:
			printf("usage: httpload upstream -p PORT\n"
			       "       httpload source -p PORT -u MOUNT [--bytes N] [--rate B/s]\n"
			       "       httpload listen -p PORT -u MOUNT [-c N] [--bytes N]\n"
			       "       httpload client -p PORT [-r ROOT] [-c CONNS] [-n REQS] [-s SEED]"
			       " [-m KINDS] [-x PREFIX] [--max BYTES]\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (port <= 0 || port > 65535 || nconns < 1 || nconns > MAXC || nreqs < 0 || !maxlen) {
		fprintf(stderr, "httpload: need -p PORT, CONNS 1-%d, REQS >= 0\n", MAXC);
		return 2;
	}
	if (!strcmp(mode, "upstream"))
		return upstream();
	if (!strcmp(mode, "source"))
		return rate ? source() : 2;
	if (!strcmp(mode, "listen"))
		return stream_bytes ? listen_all() : 2;
	if (!strcmp(mode, "client")) {
		if (!k_file && !k_range && !k_gen && !k_post)
			k_file = true;
		return client();
	}
	fprintf(stderr, "httpload: client or upstream (httpload --help)\n");
	return 2;
}
