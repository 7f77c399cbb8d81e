// SPDX-License-Identifier: MIT
/*
 * relay — a streaming relay (media or message relay) and its verifying
 * load generator, for zio's relay benchmark.
 *
 * The relay is deliberately an ordinary program: plain sockets, one epoll
 * loop, libc memcpy, nothing zio-specific.  One producer streams fixed-size
 * chunks (1 MiB); the relay receives each chunk whole into its receive
 * buffer, copies it into the send queue of every consumer (a ring of chunk
 * slots, like the per-subscriber output buffers of a pub/sub broker) and
 * drains the queues with non-blocking send().  With --queue shared all
 * consumers send from one ring instead (one copy per chunk).  The rings
 * together are sized well above the LLC, so a copy lands in cache-cold
 * memory as it does in a relay with real backlog.
 *
 * The client runs the producer and N consumers (one thread each) in one
 * process, checks that every consumer got every chunk in order with the
 * right bytes (sampled), and reports the stream rate.
 */
#include <argp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAGE		4096
#define MAX_CHUNK	(64LL << 20)
#define MAX_CONSUMERS	256
#define MAX_EVENTS	64
/* Every consumer queue keeps at least this many slots, so a consumer that
 * is briefly slower does not stall the stream at once. */
#define MIN_SLOTS	4
/* A peer that stops mid-chunk must not wedge the client forever. */
#define IO_TIMEOUT_S	10
#define CONNECT_RETRY_MS 5000
/* Base contents repeat every NTEMPLATES chunks; the per-page stamps of
 * (seed, seq, page) make every chunk unique. */
#define NTEMPLATES	8
#define SAMPLE_EDGE	4096
#define FULL_EVERY	16

/* The first byte a client sends says what it is. */
#define ROLE_PRODUCER	'P'
#define ROLE_CONSUMER	'C'
/* The relay answers a consumer with this byte once it is registered, so
 * the client can start the producer knowing no chunk will be missed. */
#define CONSUMER_ACK	'K'

static volatile sig_atomic_t exiting;

static void sig_handler(int sig)
{
	exiting = 1;
}

/* Returns 0, or -errno if the handlers cannot be installed. */
static int install_signals(void)
{
	struct sigaction sa = { .sa_handler = sig_handler };

	/* No SA_RESTART: a blocked epoll_wait/recv must return EINTR to exit. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/*
 * Parse an integer with an optional K/M/G suffix (powers of 1024).
 * Returns the value; reports the error through argp (which exits) if the
 * text is not a number in [min, max].
 */
static long long parse_num(struct argp_state *state, const char *what,
			   const char *arg, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (!errno && end != arg) {
		int shift = 0;

		switch (*end) {
		case 'k': case 'K': shift = 10; end++; break;
		case 'm': case 'M': shift = 20; end++; break;
		case 'g': case 'G': shift = 30; end++; break;
		}
		if (shift && (v > (LLONG_MAX >> shift) || v < 0))
			errno = ERANGE;
		else
			v <<= shift;
	}
	if (errno || end == arg || *end || v < min || v > max)
		argp_error(state, "invalid %s '%s': expected an integer in [%lld, %lld]",
			   what, arg, min, max);
	return v;
}

static double parse_seconds(struct argp_state *state, const char *what,
			    const char *arg)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v > 0 && v <= 86400))
		argp_error(state, "invalid %s '%s': expected seconds in (0, 86400]",
			   what, arg);
	return v;
}

/* Returns 0 and fills *sa, or -EINVAL if host is not an IPv4 address. */
static int make_addr(const char *host, int port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

/* Page-aligned, as large malloc()ed buffers are, and touched once so no
 * timed path pays for first-touch faults.  Returns NULL with errno. */
static void *alloc_buf(size_t size)
{
	void *p;
	int err = posix_memalign(&p, PAGE, size);

	if (err) {
		errno = err;
		return NULL;
	}
	memset(p, 0, size);
	return p;
}

/* ------------------------------------------------------------------ relay */

enum queue_mode { QUEUE_PER_CONSUMER, QUEUE_SHARED };

static struct server_env {
	const char *bind;
	int port;
	long long chunk;
	long long ring_bytes;
	enum queue_mode queue;
	bool verbose;
} senv = {
	.bind = "127.0.0.1",
	.port = -1,
	.chunk = 1 << 20,
	.ring_bytes = 64LL << 20,
	.queue = QUEUE_PER_CONSUMER,
};

/* A ring of chunk slots; head counts the chunks ever stored. */
struct queue {
	char **slot;
	int nslots;
	uint64_t head;
};

enum conn_kind { CONN_PENDING, CONN_PRODUCER, CONN_CONSUMER };

struct conn {
	enum conn_kind kind;
	int fd;
	bool dead;		/* closed; freed after the event batch */
	uint32_t events;	/* what epoll watches for now */
	struct queue *q;	/* consumer: the ring it sends from */
	uint64_t next;		/* consumer: next chunk to send */
	size_t off;		/* consumer: bytes of that chunk already sent */
	struct conn *prev, *next_conn;
};

static struct relay {
	int epfd;
	struct conn *conns;	/* every live connection */
	struct conn *dead;	/* closed ones events may still point at */
	struct conn *producer;
	char *rbuf;		/* the producer's chunk is received here */
	size_t rlen;
	int nconsumers;
	struct queue shared;	/* QUEUE_SHARED only */
	bool ending;		/* the producer left; flush, then close consumers */
	uint64_t chunks_in;
	uint64_t sessions;
} rl = { .epfd = -1 };

static void queue_free(struct queue *q)
{
	if (!q->slot)
		return;
	for (int i = 0; i < q->nslots; i++)
		free(q->slot[i]);
	free(q->slot);
	q->slot = NULL;
}

/* Returns 0 with nslots populated slots in q, or -ENOMEM. */
static int queue_init(struct queue *q, int nslots)
{
	q->slot = calloc(nslots, sizeof(*q->slot));
	if (!q->slot)
		return -ENOMEM;
	q->nslots = nslots;
	q->head = 0;
	for (int i = 0; i < nslots; i++) {
		q->slot[i] = alloc_buf(senv.chunk);
		if (!q->slot[i]) {
			queue_free(q);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Slots of one ring: --ring bytes, at least MIN_SLOTS. */
static int ring_slots(void)
{
	long long n = senv.ring_bytes / senv.chunk;

	return n < MIN_SLOTS ? MIN_SLOTS : (int)n;
}

/* Returns 0 or -errno. */
static int conn_watch(struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (c->events == events)
		return 0;
	if (epoll_ctl(rl.epfd, EPOLL_CTL_MOD, c->fd, &ev))
		return -errno;
	c->events = events;
	return 0;
}

/*
 * Close c and unlink it.  The memory waits on the dead list until the
 * current batch of epoll events, which may still name c, is done.
 */
static void conn_close(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	epoll_ctl(rl.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next_conn = c->next_conn;
	else
		rl.conns = c->next_conn;
	if (c->next_conn)
		c->next_conn->prev = c->prev;
	c->prev = NULL;
	c->next_conn = rl.dead;
	rl.dead = c;
	if (c == rl.producer) {
		rl.producer = NULL;
		rl.rlen = 0;
	}
	if (c->kind == CONN_CONSUMER) {
		rl.nconsumers--;
		if (c->q != &rl.shared) {
			queue_free(c->q);
			free(c->q);
		}
		c->q = NULL;
	}
}

static void conns_reap(void)
{
	while (rl.dead) {
		struct conn *c = rl.dead;

		rl.dead = c->next_conn;
		free(c);
	}
}

/* Whether every consumer queue can take one more chunk. */
static bool queues_have_room(void)
{
	for (struct conn *c = rl.conns; c; c = c->next_conn)
		if (c->kind == CONN_CONSUMER && c->q->head - c->next >= (uint64_t)c->q->nslots)
			return false;
	return true;
}

/*
 * Send what consumer c has queued until the socket is full.  Returns 0,
 * or -errno when the consumer is gone (the caller closes it).
 */
static int consumer_flush(struct conn *c)
{
	while (c->next < c->q->head) {
		const char *chunk = c->q->slot[c->next % c->q->nslots];
		ssize_t n = send(c->fd, chunk + c->off, senv.chunk - c->off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return conn_watch(c, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
			return -errno;
		}
		c->off += n;
		if (c->off == (size_t)senv.chunk) {
			c->off = 0;
			c->next++;
		}
	}
	return conn_watch(c, EPOLLIN | EPOLLRDHUP);
}

/* Copy the chunk just received into every queue (once into a shared one). */
static void relay_store_chunk(void)
{
	if (senv.queue == QUEUE_SHARED) {
		struct queue *q = &rl.shared;

		memcpy(q->slot[q->head % q->nslots], rl.rbuf, senv.chunk);
		q->head++;
	} else {
		for (struct conn *c = rl.conns; c; c = c->next_conn) {
			if (c->kind != CONN_CONSUMER)
				continue;
			memcpy(c->q->slot[c->q->head % c->q->nslots], rl.rbuf, senv.chunk);
			c->q->head++;
		}
	}
	rl.chunks_in++;
}

/*
 * Read from the producer while every queue has room.  Returns 0, 1 when
 * the producer is gone (closed, or an error), or -errno for a local error.
 */
static int producer_read(void)
{
	struct conn *p = rl.producer;

	while (queues_have_room()) {
		ssize_t n = recv(p->fd, rl.rbuf + rl.rlen, senv.chunk - rl.rlen, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return conn_watch(p, EPOLLIN | EPOLLRDHUP);
			fprintf(stderr, "relay: failed to receive from the producer: %s\n",
				strerror(errno));
			return 1;
		}
		if (n == 0) {
			if (rl.rlen)
				fprintf(stderr, "relay: producer left mid-chunk (%zu of %lld bytes); dropped\n",
					rl.rlen, senv.chunk);
			return 1;
		}
		rl.rlen += n;
		if (rl.rlen == (size_t)senv.chunk) {
			relay_store_chunk();
			rl.rlen = 0;
		}
	}
	/* A slow consumer holds the producer back (backpressure). */
	return conn_watch(p, 0);
}

/* Flush every consumer; close those that are gone.  Returns 0 or -errno. */
static int consumers_flush(void)
{
	struct conn *c, *n;
	int err;

	for (c = rl.conns; c; c = n) {
		n = c->next_conn;
		if (c->kind != CONN_CONSUMER)
			continue;
		err = consumer_flush(c);
		if (err == -ENOMEM || err == -ENOSPC)
			return err;
		if (err)
			conn_close(c);
	}
	return 0;
}

/* After the producer left: once every consumer has everything, close them
 * all so each sees the end of the stream. */
static void relay_maybe_end(void)
{
	struct conn *c, *n;

	if (!rl.ending)
		return;
	for (c = rl.conns; c; c = c->next_conn)
		if (c->kind == CONN_CONSUMER && c->next < c->q->head)
			return;
	for (c = rl.conns; c; c = n) {
		n = c->next_conn;
		if (c->kind == CONN_CONSUMER)
			conn_close(c);
	}
	rl.ending = false;
	rl.sessions++;
	if (senv.verbose)
		fprintf(stderr, "relay: session %llu done, %llu chunks relayed so far\n",
			(unsigned long long)rl.sessions, (unsigned long long)rl.chunks_in);
}

/* The first byte of a new connection arrived (or it closed).  Returns 0 or
 * -errno for a local error; a bad peer is just closed. */
static int conn_identify(struct conn *c)
{
	char role;
	ssize_t n = recv(c->fd, &role, 1, MSG_DONTWAIT);
	int err;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n != 1 || (role != ROLE_PRODUCER && role != ROLE_CONSUMER)) {
		conn_close(c);
		return 0;
	}
	if (role == ROLE_PRODUCER) {
		if (rl.producer || rl.ending) {
			fprintf(stderr, "relay: refusing a second producer\n");
			conn_close(c);
			return 0;
		}
		c->kind = CONN_PRODUCER;
		rl.producer = c;
		rl.rlen = 0;
		return conn_watch(c, EPOLLIN | EPOLLRDHUP);
	}

	c->kind = CONN_CONSUMER;
	rl.nconsumers++;
	if (senv.queue == QUEUE_SHARED) {
		c->q = &rl.shared;
	} else {
		c->q = calloc(1, sizeof(*c->q));
		if (!c->q || queue_init(c->q, ring_slots())) {
			free(c->q);
			c->q = &rl.shared;	/* nothing for conn_close to free */
			fprintf(stderr, "relay: failed to allocate a consumer queue: %s\n",
				strerror(ENOMEM));
			conn_close(c);
			return 0;
		}
	}
	/* A consumer joins at the stream's present position. */
	c->next = c->q->head;
	c->off = 0;
	if (send(c->fd, &(char){ CONSUMER_ACK }, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
		conn_close(c);
		return 0;
	}
	err = conn_watch(c, EPOLLIN | EPOLLRDHUP);
	if (senv.verbose)
		fprintf(stderr, "relay: consumer fd %d joined (%d slots)\n", c->fd, c->q->nslots);
	return err;
}

/* Returns 0 or -errno. */
static int relay_accept(int lfd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	struct conn *c;
	int fd, one = 1;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return errno == EAGAIN || errno == EINTR || errno == ECONNABORTED ? 0 : -errno;
	/* Nagle plus delayed ACK would hold a chunk's last segment. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->kind = CONN_PENDING;
	c->events = ev.events;
	ev.data.ptr = c;
	if (epoll_ctl(rl.epfd, EPOLL_CTL_ADD, fd, &ev)) {
		int err = -errno;

		close(fd);
		free(c);
		return err;
	}
	c->next_conn = rl.conns;
	if (rl.conns)
		rl.conns->prev = c;
	rl.conns = c;
	return 0;
}

/* Returns the listening socket, or -errno. */
static int listen_on(const char *host, int *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int one = 1, fd, err;

	if (make_addr(host, *port, &sa))
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		err = -errno;
		close(fd);
		return err;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/* One event on c.  Returns 0 or -errno for a local (fatal) error. */
static int relay_event(struct conn *c, uint32_t events)
{
	int err = 0;

	switch (c->kind) {
	case CONN_PENDING:
		return conn_identify(c);
	case CONN_PRODUCER:
		err = producer_read();
		if (err == 1) {
			conn_close(c);
			rl.ending = true;
			err = 0;
		}
		return err;
	case CONN_CONSUMER:
		/* Consumers only listen; anything readable means they left. */
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			char b;
			ssize_t n = recv(c->fd, &b, 1, MSG_DONTWAIT);

			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				conn_close(c);
				return 0;
			}
		}
		if (events & EPOLLOUT) {
			err = consumer_flush(c);
			if (err) {
				conn_close(c);
				err = 0;
			}
		}
		return err;
	}
	return 0;
}

static int server_main(void)
{
	struct epoll_event evs[MAX_EVENTS];
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	int lfd = -1, port = senv.port, err;

	err = install_signals();
	if (err) {
		fprintf(stderr, "relay: failed to install signal handlers: %s\n", strerror(-err));
		return 1;
	}
	rl.rbuf = alloc_buf(senv.chunk);
	if (!rl.rbuf) {
		err = -errno;
		fprintf(stderr, "relay: failed to allocate the receive buffer: %s\n", strerror(-err));
		goto out;
	}
	if (senv.queue == QUEUE_SHARED) {
		err = queue_init(&rl.shared, ring_slots());
		if (err) {
			fprintf(stderr, "relay: failed to allocate the ring: %s\n", strerror(-err));
			goto out;
		}
	}
	rl.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (rl.epfd < 0) {
		err = -errno;
		fprintf(stderr, "relay: failed to create epoll: %s\n", strerror(-err));
		goto out;
	}
	lfd = listen_on(senv.bind, &port);
	if (lfd < 0) {
		err = lfd;
		fprintf(stderr, "relay: failed to listen on %s:%d: %s\n",
			senv.bind, senv.port, strerror(-err));
		goto out;
	}
	if (epoll_ctl(rl.epfd, EPOLL_CTL_ADD, lfd, &lev)) {
		err = -errno;
		fprintf(stderr, "relay: failed to watch the listening socket: %s\n", strerror(-err));
		goto out;
	}
	printf("listening on %d\n", port);
	fflush(stdout);

	while (!exiting) {
		/* The timeout bounds how long a stop request goes unseen. */
		int n = epoll_wait(rl.epfd, evs, MAX_EVENTS, 100);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			fprintf(stderr, "relay: epoll_wait failed: %s\n", strerror(-err));
			break;
		}
		for (int i = 0; i < n && !err; i++) {
			struct conn *c = evs[i].data.ptr;

			if (!c)
				err = relay_accept(lfd);
			else if (!c->dead)
				err = relay_event(c, evs[i].events);
		}
		/* New chunks and freed queue slots: move data both ways until
		 * the producer has nothing to read or a consumer's socket is
		 * full; epoll reports either when it changes. */
		if (!err)
			err = consumers_flush();
		while (!err && rl.producer && queues_have_room()) {
			err = producer_read();
			if (err == 1) {
				conn_close(rl.producer);
				rl.ending = true;
				err = 0;
			}
			if (!err)
				err = consumers_flush();
			if (rl.producer && rl.producer->events)
				break;
		}
		relay_maybe_end();
		conns_reap();
		if (err) {
			fprintf(stderr, "relay: stopping: %s\n", strerror(-err));
			break;
		}
	}

out:
	while (rl.conns)
		conn_close(rl.conns);
	conns_reap();
	if (lfd >= 0)
		close(lfd);
	if (rl.epfd >= 0)
		close(rl.epfd);
	queue_free(&rl.shared);
	free(rl.rbuf);
	if (senv.verbose)
		fprintf(stderr, "relay: %llu chunks in %llu sessions\n",
			(unsigned long long)rl.chunks_in, (unsigned long long)rl.sessions);
	return err != 0;
}

static const char server_doc[] =
"Relay a stream of CHUNK-byte chunks from one producer to every consumer.\n"
"\n"
"USAGE: relay server --port PORT [--bind ADDR] [--chunk SIZE] [--ring SIZE]\n"
"                    [--queue per-consumer|shared] [-v]\n"
"\v"
"A client's first byte says what it is: 'P' producer (one at a time) or\n"
"'C' consumer (answered with 'K' once registered; it gets every chunk\n"
"that arrives from then on).  Each chunk is received whole into the\n"
"relay's receive buffer and memcpy()ed into the consumers' queues:\n"
"  per-consumer: every consumer has its own ring (one copy per consumer\n"
"                and chunk, like a broker's per-subscriber buffers);\n"
"  shared:       one ring all consumers send from (one copy per chunk).\n"
"Each ring holds --ring bytes (default 64M, twice the LLC here; at least\n"
"4 slots): with N consumers, --ring 64M/N keeps 64 MiB of queues in all.\n"
"Queues drain with non-blocking send(); a full queue holds the producer\n"
"back.  When the producer leaves, every consumer is closed\n"
"once it has all chunks, which ends the session.\n"
"With --port 0 the kernel picks the port; the relay prints \"listening on\n"
"PORT\" on stdout once it accepts connections.  It stops on SIGINT/SIGTERM.\n"
"\n"
"EXAMPLES:\n"
"  relay server --port 0                          # 1 MiB chunks, 64 MiB of rings\n"
"  relay server --port 7100 --queue shared -v\n"
"  zio-run --stats -- relay server --port 7100    # the same, under zio\n";

enum {
	OPT_PORT = 'p',
	OPT_VERBOSE = 'v',
	OPT_BIND = 0x100,
	OPT_CHUNK,
	OPT_RING,
	OPT_QUEUE,
	OPT_HOST,
	OPT_CONSUMERS,
	OPT_VERIFY,
	OPT_SEED,
};

static const struct argp_option server_opts[] = {
	{ "port", OPT_PORT, "PORT", 0, "TCP port to listen on (0: any free port)", 0 },
	{ "bind", OPT_BIND, "ADDR", 0, "IPv4 address to bind (default 127.0.0.1)", 0 },
	{ "chunk", OPT_CHUNK, "SIZE", 0, "Chunk size, a multiple of 4096, K/M suffix allowed (default 1M)", 0 },
	{ "ring", OPT_RING, "SIZE", 0, "Bytes of one queue ring (default 64M)", 0 },
	{ "queue", OPT_QUEUE, "MODE", 0, "per-consumer (default) or shared", 0 },
	{ "verbose", OPT_VERBOSE, NULL, 0, "Log consumers and sessions (never chunks)", 0 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, "Show the full help", 0 },
	{},
};

static error_t server_parse(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'h':
		argp_state_help(state, stdout, ARGP_HELP_STD_HELP);
		break;
	case OPT_PORT:
		senv.port = parse_num(state, "port", arg, 0, 65535);
		break;
	case OPT_BIND:
		senv.bind = arg;
		break;
	case OPT_CHUNK:
		senv.chunk = parse_num(state, "chunk", arg, PAGE, MAX_CHUNK);
		if (senv.chunk % PAGE)
			argp_error(state, "invalid chunk '%s': expected a multiple of 4096", arg);
		break;
	case OPT_RING:
		senv.ring_bytes = parse_num(state, "ring", arg, PAGE, 64LL << 30);
		break;
	case OPT_QUEUE:
		if (!strcmp(arg, "per-consumer"))
			senv.queue = QUEUE_PER_CONSUMER;
		else if (!strcmp(arg, "shared"))
			senv.queue = QUEUE_SHARED;
		else
			argp_error(state, "invalid queue '%s': expected per-consumer or shared", arg);
		break;
	case OPT_VERBOSE:
		senv.verbose = true;
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	case ARGP_KEY_END:
		if (senv.port < 0)
			argp_error(state, "--port is required");
		if (make_addr(senv.bind, 0, &(struct sockaddr_in){}))
			argp_error(state, "invalid bind address '%s': expected IPv4", senv.bind);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* ------------------------------------------------------------------ client */

enum verify_mode { VERIFY_FULL, VERIFY_SAMPLE, VERIFY_NONE };

static struct client_env {
	const char *host;
	int port;
	long long chunk;
	int consumers;
	double duration;
	long long count;	/* 0: run for duration */
	enum verify_mode verify;
	uint64_t seed;
} cenv = {
	.host = "127.0.0.1",
	.port = -1,
	.chunk = 1 << 20,
	.consumers = 1,
	.verify = VERIFY_SAMPLE,
	.seed = 1,
};

struct consumer {
	int id;
	int fd;
	pthread_t tid;
	char *rbuf;
	uint64_t chunks;
	uint64_t verified;
	double done;		/* when the stream ended for it */
	int err;		/* 0, or 1 after a message was printed */
};

/* Base contents, shared read-only by every consumer thread. */
static char *base[NTEMPLATES];

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Fill from an xorshift64* stream, 8 bytes at a time, so any shift of
 * offset changes the bytes seen there. */
static void fill_template(char *buf, size_t size, uint64_t seed)
{
	uint64_t x = splitmix64(seed) | 1;

	for (size_t off = 0; off < size; off += 8) {
		uint64_t v;

		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		v = x * 0x2545f4914f6cdd1dULL;
		memcpy(buf + off, &v, 8);
	}
}

/* The first 8 bytes of page p of chunk seq: a stale page of an earlier
 * chunk, or a page at the wrong offset, cannot match. */
static uint64_t stamp(uint64_t seq, size_t p)
{
	return splitmix64(splitmix64(cenv.seed ^ 0x7e1a7ULL ^ splitmix64(seq)) ^ p);
}

static void stamp_chunk(char *buf, uint64_t seq)
{
	for (size_t off = 0, p = 0; off < (size_t)cenv.chunk; off += PAGE, p++) {
		uint64_t v = stamp(seq, p);

		memcpy(buf + off, &v, 8);
	}
}

/* The byte chunk seq must have at offset off. */
static unsigned char expected_byte(uint64_t seq, size_t off)
{
	uint64_t v;

	if (off % PAGE >= 8)
		return base[seq % NTEMPLATES][off];
	v = stamp(seq, off / PAGE);
	return ((const unsigned char *)&v)[off % PAGE];
}

/* Returns 0 if bytes [off, off+len) of chunk seq are right, else prints
 * the first wrong byte and returns 1. */
static int check_range(struct consumer *c, uint64_t seq, size_t off, size_t len)
{
	const char *want = base[seq % NTEMPLATES], *got = c->rbuf;
	size_t end = off + len;

	for (size_t o = off; o < end; ) {
		size_t page_end = (o / PAGE + 1) * PAGE, n;

		if (o % PAGE < 8) {
			uint64_t v = stamp(seq, o / PAGE);

			n = 8 - o % PAGE;
			n = n < end - o ? n : end - o;
			if (memcmp((const char *)&v + o % PAGE, got + o, n))
				goto bad;
			o += n;
			continue;
		}
		n = (page_end < end ? page_end : end) - o;
		if (memcmp(want + o, got + o, n))
			goto bad;
		o += n;
	}
	c->verified += len;
	return 0;
bad:
	while (off < end && expected_byte(seq, off) == (unsigned char)got[off])
		off++;
	fprintf(stderr, "relay: MISMATCH consumer=%d chunk=%llu offset=%zu expected=0x%02x got=0x%02x\n",
		c->id, (unsigned long long)seq, off, expected_byte(seq, off),
		(unsigned char)got[off]);
	return 1;
}

/* Returns 0 if chunk seq looks right at the verify level, else 1. */
static int verify_chunk(struct consumer *c, uint64_t seq)
{
	size_t size = cenv.chunk;

	if (cenv.verify == VERIFY_NONE)
		return 0;
	if (cenv.verify == VERIFY_FULL || seq % FULL_EVERY == (uint64_t)c->id % FULL_EVERY ||
	    size <= 2 * SAMPLE_EDGE)
		return check_range(c, seq, 0, size);
	if (check_range(c, seq, 0, SAMPLE_EDGE) ||
	    check_range(c, seq, size - SAMPLE_EDGE, SAMPLE_EDGE))
		return 1;
	/* The stamps are cheap and catch a whole stale or misplaced page. */
	for (size_t off = SAMPLE_EDGE; off < size - SAMPLE_EDGE; off += PAGE)
		if (check_range(c, seq, off, 8))
			return 1;
	return 0;
}

/*
 * Receive exactly len bytes.  Returns len, 0 if the peer closed before the
 * first byte, or -errno (-EPIPE for a close mid-chunk, -ETIMEDOUT when
 * SO_RCVTIMEO expired).
 */
static ssize_t recv_full(int fd, char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = recv(fd, buf + off, len - off, 0);

		if (n > 0)
			off += n;
		else if (n == 0)
			return off ? -EPIPE : 0;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -ETIMEDOUT;
		else if (errno != EINTR)
			return -errno;
	}
	return off;
}

/* Send exactly len bytes.  Returns 0 or -errno (-ETIMEDOUT on SO_SNDTIMEO). */
static int send_full(int fd, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n >= 0)
			off += n;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -ETIMEDOUT;
		else if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static void *consumer_main(void *arg)
{
	struct consumer *c = arg;

	for (uint64_t seq = 0; ; seq++) {
		ssize_t n = recv_full(c->fd, c->rbuf, cenv.chunk);

		if (n == 0)
			break;
		if (n < 0) {
			fprintf(stderr, "relay: consumer %d: failed to receive chunk %llu: %s\n",
				c->id, (unsigned long long)seq,
				n == -EPIPE ? "relay closed mid-chunk (same --chunk on both?)" :
				n == -ETIMEDOUT ? "timed out" : strerror(-n));
			c->err = 1;
			break;
		}
		if (verify_chunk(c, seq)) {
			c->err = 1;
			break;
		}
		c->chunks++;
	}
	c->done = now_s();
	return NULL;
}

/* Returns a connected socket, or -errno once CONNECT_RETRY_MS ran out. */
static int connect_retry(const struct sockaddr_in *sa)
{
	double give_up = now_s() + CONNECT_RETRY_MS / 1000.0;
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int one = 1;

	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

		if (fd < 0)
			return -errno;
		if (!connect(fd, (const struct sockaddr *)sa, sizeof(*sa))) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			return fd;
		}
		err = -errno;
		close(fd);
		/* Refused means the relay is not up yet: scripts start it in
		 * the background and the client right after. */
		if ((err != -ECONNREFUSED && err != -EINTR) || exiting || now_s() >= give_up)
			return err;
		usleep(50 * 1000);
	}
}

/* Connect one consumer and wait for the relay's ack.  Returns the socket
 * or -errno (-EPROTO for a wrong answer). */
static int consumer_connect(const struct sockaddr_in *sa)
{
	char b = ROLE_CONSUMER;
	int fd = connect_retry(sa), err;

	if (fd < 0)
		return fd;
	err = send_full(fd, &b, 1);
	if (!err) {
		ssize_t n = recv_full(fd, &b, 1);

		err = n == 1 ? (b == CONSUMER_ACK ? 0 : -EPROTO) : n == 0 ? -ECONNRESET : (int)n;
	}
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

static int client_main(void)
{
	struct consumer *cs;
	struct sockaddr_in sa;
	char *work[NTEMPLATES] = {};
	uint64_t produced = 0, verified = 0;
	double start, end, secs;
	int pfd = -1, err = 0, started = 0;

	if (install_signals()) {
		fprintf(stderr, "relay: failed to install signal handlers: %s\n", strerror(errno));
		return 1;
	}
	make_addr(cenv.host, cenv.port, &sa);
	cs = calloc(cenv.consumers, sizeof(*cs));
	if (!cs) {
		fprintf(stderr, "relay: out of memory\n");
		return 1;
	}
	for (int i = 0; i < cenv.consumers; i++)
		cs[i].fd = -1;
	for (int t = 0; t < NTEMPLATES; t++) {
		base[t] = alloc_buf(cenv.chunk);
		work[t] = alloc_buf(cenv.chunk);
		if (!base[t] || !work[t])
			goto oom;
		fill_template(base[t], cenv.chunk, cenv.seed ^ ((uint64_t)t << 40));
		memcpy(work[t], base[t], cenv.chunk);
	}

	for (int i = 0; i < cenv.consumers; i++) {
		cs[i].id = i;
		cs[i].rbuf = alloc_buf(cenv.chunk);
		if (!cs[i].rbuf)
			goto oom;
		cs[i].fd = consumer_connect(&sa);
		if (cs[i].fd < 0) {
			fprintf(stderr, "relay: failed to connect consumer %d to %s:%d: %s\n",
				i, cenv.host, cenv.port, strerror(-cs[i].fd));
			err = 1;
			goto cleanup;
		}
	}
	pfd = connect_retry(&sa);
	if (pfd < 0 || send_full(pfd, &(char){ ROLE_PRODUCER }, 1)) {
		fprintf(stderr, "relay: failed to connect the producer to %s:%d: %s\n",
			cenv.host, cenv.port, strerror(pfd < 0 ? -pfd : errno));
		err = 1;
		goto cleanup;
	}

	start = now_s();
	for (; started < cenv.consumers; started++) {
		int e = pthread_create(&cs[started].tid, NULL, consumer_main, &cs[started]);

		if (e) {
			fprintf(stderr, "relay: failed to start a consumer thread: %s\n", strerror(e));
			err = 1;
			break;
		}
	}
	/* The producer runs here; a consumer that failed stops it early. */
	for (uint64_t seq = 0; !err && !exiting; seq++) {
		char *msg = work[seq % NTEMPLATES];
		int e;

		if (cenv.count ? seq >= (uint64_t)cenv.count : now_s() - start >= cenv.duration)
			break;
		for (int i = 0; i < started; i++)
			if (cs[i].err)
				goto stop;
		stamp_chunk(msg, seq);
		e = send_full(pfd, msg, cenv.chunk);
		if (e) {
			fprintf(stderr, "relay: failed to send chunk %llu: %s\n",
				(unsigned long long)seq, strerror(-e));
			err = 1;
			break;
		}
		produced++;
	}
stop:
	/* The end of the producer's stream ends the session at the relay. */
	close(pfd);
	pfd = -1;
	end = start;
	for (int i = 0; i < started; i++) {
		pthread_join(cs[i].tid, NULL);
		err |= cs[i].err;
		verified += cs[i].verified;
		if (cs[i].done > end)
			end = cs[i].done;
		if (!cs[i].err && cs[i].chunks != produced) {
			fprintf(stderr, "relay: consumer %d got %llu of %llu chunks\n", i,
				(unsigned long long)cs[i].chunks, (unsigned long long)produced);
			err = 1;
		}
	}
	secs = end - start;
	if (!err && !exiting) {
		printf("relay-client: consumers=%d chunk=%lld chunks=%llu bytes_verified=%llu seconds=%.3f MBps=%.1f fanout_MBps=%.1f\n",
		       cenv.consumers, cenv.chunk, (unsigned long long)produced,
		       (unsigned long long)verified, secs,
		       produced * (double)cenv.chunk / secs / 1e6,
		       produced * (double)cenv.chunk * cenv.consumers / secs / 1e6);
		fflush(stdout);
	}
	err |= exiting;
	goto cleanup;
oom:
	fprintf(stderr, "relay: failed to allocate chunk buffers: %s\n", strerror(errno));
	err = 1;
cleanup:
	if (pfd >= 0)
		close(pfd);
	for (int i = 0; i < cenv.consumers; i++) {
		if (cs[i].fd >= 0)
			close(cs[i].fd);
		free(cs[i].rbuf);
	}
	for (int t = 0; t < NTEMPLATES; t++) {
		free(base[t]);
		free(work[t]);
	}
	free(cs);
	return err;
}

static const char client_doc[] =
"Stream CHUNK-byte chunks through a relay to N consumers and verify them.\n"
"\n"
"USAGE: relay client --port PORT [--host ADDR] [--consumers N] [--chunk SIZE]\n"
"                    [--duration SECS | --count N] [--verify full|sample|none]\n"
"                    [--seed X]\n"
"\v"
"Connects N consumers (one thread each), then one producer that sends\n"
"chunks as fast as the relay takes them, for SECS seconds or N chunks,\n"
"and closes.  Every consumer must get every chunk, in order.  Chunk bytes\n"
"are an xorshift64* stream per (seed, seq % 8) with a stamp of (seq, page)\n"
"at every 4 KiB, so bytes from the wrong chunk, page or offset are caught.\n"
"  full:   compare every byte of every chunk\n"
"  sample: every byte of 1 in 16 chunks (staggered over consumers); the\n"
"          first and last 4 KiB and every page stamp of the others (default)\n"
"  none:   compare nothing\n"
"On a mismatch it prints \"relay: MISMATCH consumer=C chunk=N offset=O ...\"\n"
"and exits 1.  Otherwise one line on stdout:\n"
"  relay-client: consumers=N chunk=S chunks=M bytes_verified=B seconds=T MBps=X fanout_MBps=Y\n"
"MBps is the stream rate (chunks per second times the chunk size, 10^6\n"
"bytes); fanout_MBps counts what all consumers received.  The clock runs\n"
"from the producer's first chunk until the last consumer has the stream's\n"
"end.  Connection refused is retried for 5 s.\n"
"\n"
"EXAMPLES:\n"
"  relay client --port 7100                       # 1 consumer, 5 s\n"
"  relay client --port 7100 --consumers 16 --duration 2\n"
"  relay client --port 7100 --count 100 --verify full\n";

static const struct argp_option client_opts[] = {
	{ "port", OPT_PORT, "PORT", 0, "Relay TCP port", 0 },
	{ "host", OPT_HOST, "ADDR", 0, "Relay IPv4 address (default 127.0.0.1)", 0 },
	{ "consumers", OPT_CONSUMERS, "N", 0, "Consumers, one thread each (default 1)", 0 },
	{ "chunk", OPT_CHUNK, "SIZE", 0, "Chunk size, as the relay's (default 1M)", 0 },
	{ "duration", 'd', "SECS", 0, "Produce for SECS seconds (default 5)", 0 },
	{ "count", 'n', "N", 0, "Produce N chunks instead", 0 },
	{ "verify", OPT_VERIFY, "HOW", 0, "full, sample (default) or none", 0 },
	{ "seed", OPT_SEED, "X", 0, "Seed of the chunk contents (default 1)", 0 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, "Show the full help", 0 },
	{},
};

static error_t client_parse(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'h':
		argp_state_help(state, stdout, ARGP_HELP_STD_HELP);
		break;
	case OPT_PORT:
		cenv.port = parse_num(state, "port", arg, 1, 65535);
		break;
	case OPT_HOST:
		cenv.host = arg;
		break;
	case OPT_CONSUMERS:
		cenv.consumers = parse_num(state, "consumers", arg, 1, MAX_CONSUMERS);
		break;
	case OPT_CHUNK:
		cenv.chunk = parse_num(state, "chunk", arg, PAGE, MAX_CHUNK);
		if (cenv.chunk % PAGE)
			argp_error(state, "invalid chunk '%s': expected a multiple of 4096", arg);
		break;
	case 'd':
		cenv.duration = parse_seconds(state, "duration", arg);
		break;
	case 'n':
		cenv.count = parse_num(state, "count", arg, 1, LLONG_MAX >> 1);
		break;
	case OPT_VERIFY:
		if (!strcmp(arg, "full"))
			cenv.verify = VERIFY_FULL;
		else if (!strcmp(arg, "sample"))
			cenv.verify = VERIFY_SAMPLE;
		else if (!strcmp(arg, "none"))
			cenv.verify = VERIFY_NONE;
		else
			argp_error(state, "invalid verify mode '%s': expected full, sample or none", arg);
		break;
	case OPT_SEED:
		cenv.seed = parse_num(state, "seed", arg, 0, LLONG_MAX);
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	case ARGP_KEY_END:
		if (cenv.port < 0)
			argp_error(state, "--port is required");
		if (cenv.duration && cenv.count)
			argp_error(state, "--duration and --count exclude each other");
		if (!cenv.duration && !cenv.count)
			cenv.duration = 5;
		if (make_addr(cenv.host, 0, &(struct sockaddr_in){}))
			argp_error(state, "invalid host '%s': expected an IPv4 address", cenv.host);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* ------------------------------------------------------------------ main */

static const struct argp server_argp = {
	.options = server_opts, .parser = server_parse, .doc = server_doc,
};
static const struct argp client_argp = {
	.options = client_opts, .parser = client_parse, .doc = client_doc,
};

static const struct command {
	const char *name;
	const struct argp *argp;
	int (*run)(void);
	const char *help;
} commands[] = {
	{ "server", &server_argp, server_main, "relay one producer's chunks to every consumer" },
	{ "client", &client_argp, client_main, "produce a stream, consume and verify it N times" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: relay COMMAND [OPTION...]\n"
		"Streaming relay and verifying load generator for the zio relay benchmark.\n\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nRun 'relay COMMAND --help' for its options and examples.\n");
}

int main(int argc, char **argv)
{
	char name[32];

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	argp_err_exit_status = 2;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct command *cmd = &commands[i];

		if (strcmp(argv[1], cmd->name))
			continue;
		/* argp names the program after argv[0] in its messages. */
		snprintf(name, sizeof(name), "relay %s", cmd->name);
		argv[1] = name;
		if (argp_parse(cmd->argp, argc - 1, argv + 1, 0, NULL, NULL))
			return 2;
		return cmd->run();
	}
	fprintf(stderr, "relay: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
