// SPDX-License-Identifier: MIT
/*
 * redisload — a Redis load generator that checks what it reads: YCSB's
 * workload A (50% GET, 50% SET of zipfian keys; the zIO paper's Redis
 * benchmark), or SETs or GETs only, over N connections with pipelining.
 * Each connection owns a slice of the keys, so it knows the value it last
 * SET for every key it reads: every GET reply is checked byte for byte
 * (value = pattern(key, version)).  Keys never set read as nil (the key
 * names carry the process id: a server may hold an earlier run's keys).
 *
 * Usage: redisload -p PORT [-c CONNS] [-P PIPELINE] [-n OPS | -d SECONDS]
 *                  [-s SIZE] [-k KEYS] [-w a|set|get] [-z THETA] [--seed S]
 *                  [--fill] [--quiet]
 *   CONNS 1-64 (default 4), PIPELINE 1-256 (1), OPS per connection (10000)
 *   or SECONDS of load, SIZE bytes a value (16K; K/M suffixes), KEYS in
 *   all (1000), THETA of the zipfian (0.99; 0: uniform); --fill SETs every
 *   key once first (so GETs hit), not counted; --wait-file FILE: after the
 *   fill, print "redisload: filled" and wait until FILE exists (a tracer
 *   attaches meanwhile).
 * Prints "redisload: ok ops=N secs=T ops_per_s=R gets=G hits=H" and exits
 * 0; the first wrong reply "redisload: FAIL conn=I op=K (...): ..." and 1;
 * 2 for bad usage or no server.  127.0.0.1 only.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXC 64
#define MAXP 256

static int port, nconns = 4, pipeline = 1;
static long nops = 10000;
static double secs, theta = 0.99;
static size_t vsize = 16384;
static long nkeys = 1000;
static uint64_t seed = 1;
static bool fill_first, quiet;
static const char *wait_file;  /* --wait-file: the timed part waits for it */
static enum { W_A, W_SET, W_GET } workload = W_A;
static _Atomic long long total_ops, total_gets, total_hits;
static _Atomic bool stop;
static pthread_barrier_t filled;    /* the timed load starts after the fill */

struct conn {
	int id, fd;
	long op;
	char desc[128];
	uint64_t x;
	long key0, nk;           /* its keys: key0 .. key0+nk-1 */
	uint32_t *ver;           /* version last SET per key (0: never) */
	double zeta, eta, alpha; /* zipfian over nk */
	unsigned char *in;
	size_t in_len, in_cap;
	unsigned char *out;
	size_t out_len, out_cap;
};

#define LOAD_NAME "redisload"
#define LOAD_OP   "op"
#include "loadconn.h"

/* Byte i of the value of key k at version v. */
static inline unsigned char pat(long k, uint32_t v, size_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u ^ (uint32_t)(i >> 12) * 40503u ^
		     (uint32_t)k * 0x9E3779B9u ^ v * 0x85EBCA6Bu;

	return (unsigned char)(x >> 24 ^ x >> 11);
}

/* Gray et al.'s zipfian generator (as YCSB), over 0..n-1, rank 0 hottest. */
static void zipf_init(struct conn *c)
{
	double zeta2 = 0;

	c->zeta = 0;
	for (long i = 1; i <= c->nk; i++)
		c->zeta += 1.0 / pow((double)i, theta);
	for (long i = 1; i <= 2; i++)
		zeta2 += 1.0 / pow((double)i, theta);
	c->alpha = 1.0 / (1.0 - theta);
	c->eta = (1 - pow(2.0 / (double)c->nk, 1 - theta)) / (1 - zeta2 / c->zeta);
}

static long next_key(struct conn *c)
{
	double u, uz;
	long r;

	if (theta <= 0 || c->nk < 3)
		return (long)(rnd(c) % (uint64_t)c->nk);
	u = (double)(rnd(c) >> 11) / 9007199254740992.0;
	uz = u * c->zeta;
	if (uz < 1)
		return 0;
	if (uz < 1 + pow(0.5, theta))
		return 1;
	r = (long)((double)c->nk * pow(c->eta * u - c->eta + 1, c->alpha));
	return r >= c->nk ? c->nk - 1 : r;
}

static void out_put(struct conn *c, const void *p, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		size_t cap = (c->out_len + n) * 2;
		unsigned char *b = realloc(c->out, cap);

		if (!b)
			cfail(c, "out of memory");
		c->out = b;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

static void out_flush(struct conn *c)
{
	send_all(c, c->out, c->out_len);
	c->out_len = 0;
}

/* Keys of this run (a server may hold an earlier run's). */
static void key_name(char *buf, size_t cap, long k)
{
	snprintf(buf, cap, "zio:%d:%012lx", (int)getpid(),
		 (unsigned long)k * 2654435761UL ^ (unsigned long)k);
}

static void put_set(struct conn *c, long k, uint32_t v)
{
	char key[32], hdr[96];
	unsigned char chunk[4096];

	key_name(key, sizeof(key), k);
	snprintf(hdr, sizeof(hdr), "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n", strlen(key), key,
		 vsize);
	out_put(c, hdr, strlen(hdr));
	for (size_t o = 0; o < vsize; o += sizeof(chunk)) {
		size_t n = vsize - o < sizeof(chunk) ? vsize - o : sizeof(chunk);

		for (size_t i = 0; i < n; i++)
			chunk[i] = pat(k, v, o + i);
		out_put(c, chunk, n);
	}
	out_put(c, "\r\n", 2);
}

static void put_get(struct conn *c, long k)
{
	char key[32], hdr[96];

	key_name(key, sizeof(key), k);
	snprintf(hdr, sizeof(hdr), "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(key), key);
	out_put(c, hdr, strlen(hdr));
}

/* The reply to a SET (want_ver 0) or a GET of key k expected at version
 * want_ver (UINT32_MAX: a SET). */
static void check_reply(struct conn *c, long k, uint32_t want_ver, bool is_set)
{
	char line[256];

	read_line(c, line, sizeof(line));
	if (is_set) {
		if (strcmp(line, "+OK"))
			cfail(c, "SET key %ld: reply '%.100s'", k, line);
		return;
	}
	total_gets++;
	if (!strcmp(line, "$-1")) {
		if (want_ver)
			cfail(c, "GET key %ld: nil, expected version %u", k, want_ver);
		return;
	}
	if (line[0] != '$')
		cfail(c, "GET key %ld: reply '%.100s'", k, line);
	{
		size_t n = strtoull(line + 1, NULL, 10);

		if (!want_ver)
			cfail(c, "GET key %ld: %zu bytes, expected nil", k, n);
		if (n != vsize)
			cfail(c, "GET key %ld: %zu bytes, expected %zu", k, n, vsize);
		fill(c, n + 2);
		for (size_t i = 0; i < n; i++)
			if (c->in[i] != pat(k, want_ver, i)) {
				size_t j = i;

				while (j < n && c->in[j] != pat(k, want_ver, j))
					j++;
				cfail(c, "GET key %ld version %u: byte %zu of %zu is 0x%02x, expected "
				      "0x%02x (%zu wrong from there)", k, want_ver, i, n, c->in[i],
				      pat(k, want_ver, i), j - i);
			}
		if (c->in[n] != '\r' || c->in[n + 1] != '\n')
			cfail(c, "GET key %ld: no \\r\\n after the value", k);
		consume(c, n + 2);
		total_hits++;
	}
}

/* One pipeline of p operations; returns the number done. */
static int batch(struct conn *c, int p, bool only_set)
{
	long keys[MAXP];
	uint32_t want[MAXP];
	bool set[MAXP];

	for (int i = 0; i < p; i++) {
		long k = only_set ? (c->op + i) % c->nk : next_key(c);
		bool s = only_set || workload == W_SET ||
			 (workload == W_A && (rnd(c) & 1));

		keys[i] = k;
		set[i] = s;
		if (s) {
			c->ver[k]++;
			put_set(c, c->key0 + k, c->ver[k]);
		} else {
			put_get(c, c->key0 + k);
		}
		/* a GET later in the pipeline sees this SET */
		want[i] = c->ver[k];
	}
	out_flush(c);
	for (int i = 0; i < p; i++) {
		snprintf(c->desc, sizeof(c->desc), "%s key %ld", set[i] ? "SET" : "GET",
			 c->key0 + keys[i]);
		check_reply(c, c->key0 + keys[i], want[i], set[i]);
	}
	return p;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	double end = secs > 0 ? now_s() + secs : 0;

	if (fill_first)
		for (c->op = 0; c->op < c->nk;)
			c->op += batch(c, (int)(c->nk - c->op < pipeline ? c->nk - c->op : pipeline),
				       true);
	pthread_barrier_wait(&filled);
	pthread_barrier_wait(&filled);   /* main: --wait-file */
	if (secs > 0)
		end = now_s() + secs;
	for (c->op = 0; !atomic_load(&stop); ) {
		if (end ? now_s() >= end : c->op >= nops)
			break;
		c->op += batch(c, pipeline, false);
		total_ops += pipeline;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "seed", 1, NULL, 'S' }, { "fill", 0, NULL, 'F' },
					    { "quiet", 0, NULL, 'q' }, { "wait-file", 1, NULL, 'W' }, { "help", 0, NULL, 'h' },
					    { 0 } };
	static struct conn C[MAXC];
	pthread_t t[MAXC];
	double t0, el;
	int o;

	while ((o = getopt_long(argc, argv, "p:c:P:n:d:s:k:w:z:qh", lo, NULL)) != -1) {
		switch (o) {
		case 'p': port = atoi(optarg); break;
		case 'c': nconns = atoi(optarg); break;
		case 'P': pipeline = atoi(optarg); break;
		case 'n': nops = atol(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 's': vsize = parse_size(optarg); break;
		case 'k': nkeys = atol(optarg); break;
		case 'z': theta = atof(optarg); break;
		case 'S': seed = strtoull(optarg, NULL, 0); break;
		case 'F': fill_first = true; break;
		case 'q': quiet = true; break;
		case 'W': wait_file = optarg; break;
		case 'w':
			if (!strcmp(optarg, "a"))
				workload = W_A;
			else if (!strcmp(optarg, "set"))
				workload = W_SET;
			else if (!strcmp(optarg, "get"))
				workload = W_GET;
			else
				port = -1;
			break;
		default:
			printf("usage: redisload -p PORT [-c CONNS] [-P PIPELINE] [-n OPS | -d SECONDS] "
			       "[-s SIZE] [-k KEYS] [-w a|set|get] [-z THETA] [--seed S] [--fill]\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (port <= 0 || port > 65535 || nconns < 1 || nconns > MAXC || pipeline < 1 ||
	    pipeline > MAXP || !vsize || nkeys < nconns || theta < 0 || theta >= 1 ||
	    (nops <= 0 && secs <= 0)) {
		fprintf(stderr, "redisload: need -p PORT, CONNS 1-%d, PIPELINE 1-%d, SIZE > 0, "
			"KEYS >= CONNS, THETA in [0,1), -w a, set or get\n", MAXC, MAXP);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < nconns; i++) {
		struct conn *c = &C[i];

		c->id = i;
		c->x = seed * 1000003 + (uint64_t)i;
		c->nk = nkeys / nconns;
		c->key0 = (long)i * c->nk + (long)(seed << 20);
		c->ver = calloc((size_t)c->nk, sizeof(*c->ver));
		zipf_init(c);
		c->fd = connect_local(port, 100);
		if (!c->ver || c->fd < 0) {
			fprintf(stderr, "redisload: cannot connect to 127.0.0.1:%d: %s\n", port,
				strerror(errno));
			return 2;
		}
	}
	pthread_barrier_init(&filled, NULL, (unsigned)nconns + 1);
	for (int i = 0; i < nconns; i++)
		if (pthread_create(&t[i], NULL, conn_main, &C[i]))
			return 2;
	pthread_barrier_wait(&filled);
	if (wait_file) {
		printf("redisload: filled\n");
		fflush(stdout);
		while (access(wait_file, F_OK))
			usleep(20 * 1000);
	}
	pthread_barrier_wait(&filled);
	t0 = now_s();
	for (int i = 0; i < nconns; i++)
		pthread_join(t[i], NULL);
	el = now_s() - t0;
	printf("redisload: ok ops=%lld secs=%.3f ops_per_s=%.0f gets=%lld hits=%lld\n",
	       (long long)total_ops, el, el > 0 ? (double)total_ops / el : 0,
	       (long long)total_gets, (long long)total_hits);
	return 0;
}
