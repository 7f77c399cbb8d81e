// SPDX-License-Identifier: MIT
/*
 * mcload — a memcached client (ASCII protocol) that checks every byte:
 * each connection runs in its own thread over its own keys, keeps a model
 * of what every key must hold, and checks every reply against it.
 * Values are binary, with "\r\n" inside.
 *
 *   -P append   (default) issue 12's load: connection 0 sets a value of
 *               45-80 KiB, appends 50-80 KiB to it and gets it back; every
 *               other connection keeps replacing ~70 KiB values of its own
 *               20 keys (so slab chunks are recycled between the server's
 *               threads while connection 0's appends are copied)
 *   -P set      a benchmark: SETs of --max bytes to 20 keys a connection,
 *   -P get      or GETs of them (set once first), for -d SECONDS (2); every
 *               GET still checked; prints ops and secs of the timed part
 *   -P mixed    every connection: set, add, replace, append, prepend, get,
 *               gets, cas (good and stale), delete, multi-key get, of
 *               values MIN..MAX (log-uniform), then a key set to expire
 *               in 1 s is gone 2.5 s later
 *
 * Usage: mcload -p PORT [-c CONNS] [-n OPS] [-s SEED] [-P PROFILE]
 *               [--min BYTES] [--max BYTES]
 *   CONNS 1-64 (default 2), OPS per connection (default 300), sizes for
 *   -P mixed (default 1K..4M).  127.0.0.1 only.
 * Prints "mcload: ok conns=C ops=N bytes=B" and exits 0; on the first
 * wrong byte or reply "mcload: FAIL conn=I op=K (...): ..." and exits 1;
 * 2 for bad usage or no server.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXC   64
#define NKEYS  20

static int port, nconns = 2;
static long nops = 300;
static uint64_t seed = 1;
static size_t vmin = 1024, vmax = 4 << 20;
static bool mixed;
/* -P set / -P get: a timed benchmark of one command (values of --max
 * bytes); -d SECONDS long, after a fill for get */
static enum { B_NONE, B_SET, B_GET } bench;
static double duration = 2;
static _Atomic long long timed_ops;
static double timed_secs;
static _Atomic long long total_bytes, total_ops;
/* keys of this run: r<pid>.<seed>c<conn>k<key> (a server may hold older runs') */
static char prefix[48];

struct val {
	unsigned char *b;   /* NULL: the key must be absent */
	size_t n;
	uint32_t flags;
};

struct conn {
	int id, fd;
	pthread_t t;
	uint64_t x;            /* random state */
	long op;
	char desc[128];
	unsigned char *in;     /* receive buffer */
	size_t in_len, in_cap;
	struct val key[NKEYS];
};

static struct conn C[MAXC];

#define LOAD_NAME "mcload"
#define LOAD_OP   "op"
#include "../../tools/loadconn.h"

static size_t between(struct conn *c, size_t lo, size_t hi)
{
	return lo + (size_t)(rnd(c) % (hi - lo + 1));
}

/* About log-uniform in [lo, hi]: a random power-of-two octave, then
 * uniform inside it. */
static size_t logsize(struct conn *c, size_t lo, size_t hi)
{
	int octaves = 0;
	size_t a;

	for (size_t v = lo; v < hi && octaves < 40; v *= 2)
		octaves++;
	a = lo << (rnd(c) % (uint64_t)(octaves ? octaves : 1));
	if (a >= hi)
		return hi;
	return between(c, a, a * 2 < hi ? a * 2 : hi);
}

/* Random binary bytes with "\r\n" (and "\r\nEND\r\n") inside. */
static unsigned char *make_value(struct conn *c, size_t n)
{
	unsigned char *b = malloc(n ? n : 1);

	if (!b)
		cfail(c, "out of memory");
	for (size_t i = 0; i < n; i += 8) {
		uint64_t r = rnd(c);

		for (size_t j = 0; j < 8 && i + j < n; j++)
			b[i + j] = (unsigned char)(r >> (8 * j));
	}
	for (size_t k = 0; n > 8 && k < 1 + n / 8192; k++) {
		size_t at = (size_t)(rnd(c) % (n - 7));

		memcpy(b + at, k & 1 ? "\r\nEND\r\n" : "\r\n", k & 1 ? 7 : 2);
	}
	return b;
}

static void expect_line(struct conn *c, const char *want)
{
	char line[4096];

	read_line(c, line, sizeof(line));
	if (strcmp(line, want))
		cfail(c, "reply '%.200s', expected '%s'", line, want);
}

static void storage(struct conn *c, const char *cmd, int k, uint32_t flags, int exptime,
		    const unsigned char *v, size_t n, unsigned long long cas)
{
	char hdr[160];
	int h = cas ? snprintf(hdr, sizeof(hdr), "%s %sc%dk%d %u %d %zu %llu\r\n", cmd, prefix, c->id, k,
			       flags, exptime, n, cas)
		    : snprintf(hdr, sizeof(hdr), "%s %sc%dk%d %u %d %zu\r\n", cmd, prefix, c->id, k, flags,
			       exptime, n);

	send_all(c, hdr, (size_t)h);
	send_all(c, v, n);
	send_all(c, "\r\n", 2);
	total_bytes += (long long)n;
}

/* Check a VALUE block for key k against the model; returns its cas
 * unique when gets. */
static unsigned long long check_value(struct conn *c, int k, bool gets)
{
	char line[4096], name[64];
	unsigned flags;
	size_t n;
	unsigned long long cas = 0;
	struct val *m = &c->key[k];

	read_line(c, line, sizeof(line));
	if (!m->b) {
		if (strcmp(line, "END"))
			cfail(c, "key %d must be absent, got '%.200s'", k, line);
		return 0;
	}
	if ((gets ? sscanf(line, "VALUE %63s %u %zu %llu", name, &flags, &n, &cas) != 4
		  : sscanf(line, "VALUE %63s %u %zu", name, &flags, &n) != 3))
		cfail(c, "key %d: reply '%.200s', expected a VALUE of %zu bytes", k, line, m->n);
	if (n != m->n || flags != m->flags)
		cfail(c, "key %d: %zu bytes flags %u, expected %zu flags %u", k, n, flags, m->n,
		      m->flags);
	fill(c, n + 2);
	for (size_t i = 0; i < n; i++)
		if (c->in[i] != m->b[i]) {
			size_t j = i;

			while (j < n && c->in[j] != m->b[j])
				j++;
			cfail(c, "key %d: byte %zu of %zu is 0x%02x, expected 0x%02x (%zu bytes wrong "
			      "from there)", k, i, n, c->in[i], m->b[i], j - i);
		}
	if (c->in[n] != '\r' || c->in[n + 1] != '\n')
		cfail(c, "key %d: no \\r\\n after the value", k);
	consume(c, n + 2);
	total_bytes += (long long)n;
	(void)name;
	return cas;
}

static void get(struct conn *c, int k)
{
	char cmd[64];
	int h = snprintf(cmd, sizeof(cmd), "get %sc%dk%d\r\n", prefix, c->id, k);

	snprintf(c->desc, sizeof(c->desc), "get key %d (%zu bytes)", k, c->key[k].n);
	send_all(c, cmd, (size_t)h);
	check_value(c, k, false);
	if (c->key[k].b)
		expect_line(c, "END");
}

static void model_set(struct val *m, unsigned char *b, size_t n, uint32_t flags)
{
	free(m->b);
	m->b = b;
	m->n = n;
	m->flags = flags;
}

static void model_join(struct conn *c, struct val *m, const unsigned char *v, size_t n,
		       bool append)
{
	unsigned char *b = malloc(m->n + n);

	if (!b)
		cfail(c, "out of memory");
	if (append) {
		memcpy(b, m->b, m->n);
		memcpy(b + m->n, v, n);
	} else {
		memcpy(b, v, n);
		memcpy(b + n, m->b, m->n);
	}
	free(m->b);
	m->b = b;
	m->n += n;
}

static void do_set(struct conn *c, int k, size_t n)
{
	unsigned char *v = make_value(c, n);
	uint32_t flags = (uint32_t)(rnd(c) & 0xffff);

	snprintf(c->desc, sizeof(c->desc), "set key %d, %zu bytes", k, n);
	storage(c, "set", k, flags, 0, v, n, 0);
	expect_line(c, "STORED");
	model_set(&c->key[k], v, n, flags);
}

static void do_join(struct conn *c, int k, size_t n, bool append)
{
	unsigned char *v = make_value(c, n);
	struct val *m = &c->key[k];

	snprintf(c->desc, sizeof(c->desc), "%s key %d, %zu + %zu bytes",
		 append ? "append" : "prepend", k, m->n, n);
	storage(c, append ? "append" : "prepend", k, 0, 0, v, n, 0);
	expect_line(c, m->b ? "STORED" : "NOT_STORED");
	if (m->b)
		model_join(c, m, v, n, append);
	free(v);
}

/* ------------------------------------------------------------ profiles */

static void profile_append(struct conn *c)
{
	if (c->id == 0) {
		int k = (int)(c->op % 10);

		do_set(c, k, between(c, 45000, 80000));
		do_join(c, k, between(c, 50000, 80000), true);
		get(c, k);
	} else {
		do_set(c, (int)(c->op % NKEYS), between(c, 65000, 75000));
	}
}

static void profile_mixed(struct conn *c)
{
	int k = (int)(rnd(c) % NKEYS);
	struct val *m = &c->key[k];
	size_t n = logsize(c, vmin, vmax);
	uint64_t r = rnd(c) % 16;

	switch (r) {
	case 0: case 1: case 2:
		do_set(c, k, n);
		break;
	case 3: {                 /* add: only when absent */
		unsigned char *v = make_value(c, n);

		snprintf(c->desc, sizeof(c->desc), "add key %d, %zu bytes", k, n);
		storage(c, "add", k, 7, 0, v, n, 0);
		expect_line(c, m->b ? "NOT_STORED" : "STORED");
		if (!m->b)
			model_set(m, v, n, 7);
		else
			free(v);
		break;
	}
	case 4: {                 /* replace: only when present */
		unsigned char *v = make_value(c, n);

		snprintf(c->desc, sizeof(c->desc), "replace key %d, %zu bytes", k, n);
		storage(c, "replace", k, 9, 0, v, n, 0);
		expect_line(c, m->b ? "STORED" : "NOT_STORED");
		if (m->b)
			model_set(m, v, n, 9);
		else
			free(v);
		break;
	}
	case 5: case 6:
		if (m->n + n > vmax)
			n = vmax > m->n ? vmax - m->n : 1;
		do_join(c, k, n, r == 5);
		break;
	case 7: case 8: case 9:
		get(c, k);
		break;
	case 10: case 11: {       /* gets, then cas with that unique and a stale one */
		char cmd[64];
		unsigned long long cas;
		int h = snprintf(cmd, sizeof(cmd), "gets %sc%dk%d\r\n", prefix, c->id, k);

		snprintf(c->desc, sizeof(c->desc), "gets+cas key %d", k);
		send_all(c, cmd, (size_t)h);
		cas = check_value(c, k, true);
		if (!m->b)
			break;
		expect_line(c, "END");
		{
			unsigned char *v = make_value(c, n);
			bool stale = r == 11;

			storage(c, "cas", k, 3, 0, v, n, stale ? cas + 1000003 : cas);
			expect_line(c, stale ? "EXISTS" : "STORED");
			if (!stale)
				model_set(m, v, n, 3);
			else
				free(v);
		}
		break;
	}
	case 12: {
		char cmd[64];
		int h = snprintf(cmd, sizeof(cmd), "delete %sc%dk%d\r\n", prefix, c->id, k);

		snprintf(c->desc, sizeof(c->desc), "delete key %d", k);
		send_all(c, cmd, (size_t)h);
		expect_line(c, m->b ? "DELETED" : "NOT_FOUND");
		model_set(m, NULL, 0, 0);
		break;
	}
	default: {                /* a multi-key get, in key order */
		int k2 = (k + 1 + (int)(rnd(c) % (NKEYS - 1))) % NKEYS;
		char cmd[96];
		int h = snprintf(cmd, sizeof(cmd), "get %sc%dk%d %sc%dk%d\r\n", prefix, c->id, k, prefix, c->id, k2);

		snprintf(c->desc, sizeof(c->desc), "get keys %d %d", k, k2);
		send_all(c, cmd, (size_t)h);
		/* absent keys are simply left out of the reply */
		if (c->key[k].b)
			check_value(c, k, false);
		if (c->key[k2].b)
			check_value(c, k2, false);
		expect_line(c, "END");
		break;
	}
	}
}

static pthread_barrier_t bench_go;

/* The timed benchmark of one command (-P set, -P get). */
static void *bench_main(void *arg)
{
	struct conn *c = arg;
	double t0, end;
	long long n = 0;

	if (bench == B_GET)
		for (int k = 0; k < NKEYS; k++)
			do_set(c, k, vmax);
	pthread_barrier_wait(&bench_go);
	t0 = now_s();
	end = t0 + duration;
	for (c->op = 0; now_s() < end; c->op++, n++) {
		int k = (int)(c->op % NKEYS);

		if (bench == B_SET)
			do_set(c, k, vmax);
		else
			get(c, k);
	}
	timed_ops += n;
	if (now_s() - t0 > timed_secs)
		timed_secs = now_s() - t0;
	return NULL;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;

	if (bench)
		return bench_main(c);
	for (c->op = 0; c->op < nops; c->op++) {
		if (mixed)
			profile_mixed(c);
		else
			profile_append(c);
		total_ops++;
	}
	/* every key, one last time */
	for (int k = 0; k < NKEYS; k++)
		get(c, k);
	return NULL;
}

static void expiry_check(void)
{
	struct conn *c = &C[0];
	unsigned char v[100];

	for (size_t i = 0; i < sizeof(v); i++)
		v[i] = (unsigned char)(i * 7);
	c->op = nops;
	snprintf(c->desc, sizeof(c->desc), "expiry");
	storage(c, "set", 0, 1, 1, v, sizeof(v), 0);
	expect_line(c, "STORED");
	model_set(&c->key[0], NULL, 0, 0);
	usleep(2500 * 1000);
	get(c, 0);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "min", 1, NULL, 'a' }, { "max", 1, NULL, 'b' },
					    { "help", 0, NULL, 'h' }, { 0 } };
	int o;

	while ((o = getopt_long(argc, argv, "p:c:n:s:P:d:h", lo, NULL)) != -1) {
		switch (o) {
		case 'p': port = atoi(optarg); break;
		case 'c': nconns = atoi(optarg); break;
		case 'n': nops = atol(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'P':
			if (!strcmp(optarg, "mixed"))
				mixed = true;
			else if (!strcmp(optarg, "set"))
				bench = B_SET;
			else if (!strcmp(optarg, "get"))
				bench = B_GET;
			else if (strcmp(optarg, "append"))
				port = -1;
			break;
		case 'a': vmin = parse_size(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'b': vmax = parse_size(optarg); break;
		default:
			printf("usage: mcload -p PORT [-c CONNS] [-n OPS] [-s SEED] "
			       "[-P append|mixed|set|get] [-d SECONDS] [--min BYTES] [--max BYTES]\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (port <= 0 || port > 65535 || nconns < 1 || nconns > MAXC || nops < 0 || !vmin ||
	    vmax < vmin) {
		fprintf(stderr, "mcload: need -p PORT, CONNS 1-%d, OPS >= 0, 0 < MIN <= MAX, "
			"-P append or mixed\n", MAXC);
		return 2;
	}
	if (!mixed && !bench && nconns < 2) {
		fprintf(stderr, "mcload: -P append needs two connections at least\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(prefix, sizeof(prefix), "r%d.%llu", (int)getpid(), (unsigned long long)seed);
	for (int i = 0; i < nconns; i++) {
		C[i].id = i;
		C[i].x = seed * 1000003 + (uint64_t)i;
		C[i].fd = connect_local(port, 100);
		if (C[i].fd < 0) {
			fprintf(stderr, "mcload: cannot connect to 127.0.0.1:%d: %s\n", port,
				strerror(errno));
			return 2;
		}
	}
	pthread_barrier_init(&bench_go, NULL, (unsigned)nconns);
	for (int i = 0; i < nconns; i++)
		if (pthread_create(&C[i].t, NULL, conn_main, &C[i])) {
			fprintf(stderr, "mcload: pthread_create failed\n");
			return 2;
		}
	for (int i = 0; i < nconns; i++)
		pthread_join(C[i].t, NULL);
	if (bench) {
		printf("mcload: ok conns=%d ops=%lld secs=%.3f ops_per_s=%.0f\n", nconns,
		       (long long)timed_ops, timed_secs,
		       timed_secs > 0 ? (double)timed_ops / timed_secs : 0);
		return 0;
	}
	if (mixed)
		expiry_check();
	printf("mcload: ok conns=%d ops=%lld bytes=%lld\n", nconns, (long long)total_ops,
	       (long long)total_bytes);
	return 0;
}
