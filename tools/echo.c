// SPDX-License-Identifier: MIT
/*
 * echo — TCP echo server and verifying client for zio's relay benchmark.
 *
 * The server is deliberately an ordinary program: plain sockets, libc
 * memcpy, nothing zio-specific.  Each message is received into the
 * connection's buffer, passed through K in-app copies (the pattern of a
 * proxy or cache that moves a value from its receive buffer into an
 * object, a log and a reply buffer) and sent back.  Run it plain and under
 * zio-run to measure what eliding those copies is worth.
 *
 * The client drives request/response ping-pong and checks every reply
 * against what it sent, so a wrong page or offset from the runtime shows
 * up as a MISMATCH instead of a fast number.
 */
#include <argp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE	(1LL << 30)
#define MAX_COPIES	16
#define MAX_THREADS	16
#define MAX_CONNS	256
/* Pooled buffers per stage default to at least this much memory, twice
 * the 32 MiB LLC here, so a pooled destination is cache-cold like it is
 * in a server with many connections. */
#define POOL_BYTES	(64LL << 20)
#define POOL_MAX_DEFAULT 16384
#define POOL_MAX_TOTAL	(8LL << 30)
/* A peer that stops mid-message must not wedge a thread forever. */
#define IO_TIMEOUT_S	10
#define CONNECT_RETRY_MS 5000
/* Templates per connection; a per-page stamp makes each message unique. */
#define NTEMPLATES	16
#define SAMPLE_EDGE	4096

static volatile sig_atomic_t exiting;

static void sig_handler(int sig)
{
	exiting = 1;
}

/* Returns 0, or -errno if the handlers cannot be installed. */
static int install_signals(void)
{
	struct sigaction sa = { .sa_handler = sig_handler };

	/* No SA_RESTART: a blocked poll/accept must return EINTR to exit. */
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

/* Sets the socket options both ends want; errors only cost performance. */
static void tune_socket(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int one = 1;

	/* Nagle plus delayed ACK can hold a reply's last segment for 40 ms. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/*
 * Receive exactly len bytes into buf.  Returns len, 0 if the peer closed
 * before the first byte, or -errno (-EPIPE for a close mid-message,
 * -ETIMEDOUT when SO_RCVTIMEO expired).
 */
static ssize_t recv_full(int fd, char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = recv(fd, buf + off, len - off, 0);

		if (n > 0) {
			off += n;
		} else if (n == 0) {
			return off ? -EPIPE : 0;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return -ETIMEDOUT;
		} else if (errno != EINTR) {
			return -errno;
		}
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

/* Page-aligned so that receive and copy buffers share page offsets, as
 * large malloc()ed buffers usually do; small ones need not waste a page.
 * Returns NULL with errno on failure. */
static void *alloc_buf(size_t size)
{
	void *p;
	int err = posix_memalign(&p, size >= 4096 ? 4096 : 64, size);

	if (err) {
		errno = err;
		return NULL;
	}
	/* Touch once so the timed loop never pays for first-touch faults. */
	memset(p, 0, size);
	return p;
}

/* ------------------------------------------------------------------ server */

enum buf_mode { MODE_POOLED, MODE_FRESH };

static struct server_env {
	const char *bind;
	int port;
	long long size;
	int copies;
	enum buf_mode mode;
	long long pool;		/* 0: derive from POOL_BYTES */
	int threads;
	int touch_pct;
	double idle;		/* 0: never */
	bool verbose;
} senv = {
	.bind = "127.0.0.1",
	.port = -1,
	.size = 512 << 10,
	.copies = 3,
	.mode = MODE_POOLED,
	.threads = 1,
};

struct conn {
	int fd;
	char *rbuf;		/* the connection's fixed receive buffer */
	unsigned long messages;
	struct conn *next;
};

struct worker {
	int id;
	int epfd;
	pthread_t tid;
	unsigned long msg;	/* picks the pooled buffer, see serve_message() */
	int err;
};

/* Connections live in one list so main() can close what workers left. */
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *conns;
static atomic_int nconns;
static char **pool[MAX_COPIES];	/* pool[stage][slot], pooled mode only */
static long long pool_n;
static volatile unsigned char touch_sink;

static void conn_destroy(struct conn *c)
{
	close(c->fd);
	free(c->rbuf);
	free(c);
}

/* Called by the worker that owns c once the peer is gone. */
static void conn_drop(struct worker *w, struct conn *c)
{
	struct conn **pp;

	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	pthread_mutex_lock(&conns_lock);
	for (pp = &conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	pthread_mutex_unlock(&conns_lock);
	atomic_fetch_sub(&nconns, 1);
	if (senv.verbose)
		fprintf(stderr, "echo server: fd %d closed after %lu messages\n",
			c->fd, c->messages);
	conn_destroy(c);
}

/* The program "looks at" PCT% of the reply's pages, evenly spread. */
static void touch_pages(const char *buf, size_t size, int pct)
{
	size_t pages = (size + 4095) / 4096;
	size_t n = (pages * pct + 99) / 100;
	unsigned char acc = 0;

	for (size_t i = 0; i < n; i++)
		acc += buf[i * pages / n * 4096];
	touch_sink += acc;
}

/*
 * Serve one message on c: receive it whole, copy it through the stages,
 * send the last stage back.  Returns 0 after a message, 1 when the peer
 * closed cleanly between messages, or -errno.
 */
static int serve_message(struct worker *w, struct conn *c)
{
	size_t size = senv.size;
	char *stage[MAX_COPIES + 1];
	int k = senv.copies, made = 0, err;
	ssize_t n;

	n = recv_full(c->fd, c->rbuf, size);
	if (n <= 0)
		return n == 0 ? 1 : (int)n;

	stage[0] = c->rbuf;
	/* Each worker owns a contiguous share of every pool, so two workers
	 * never copy into the same buffer at once. */
	long long share = pool_n / senv.threads;
	long long slot = w->id * share + (long long)(w->msg++ % share);

	for (int s = 1; s <= k; s++) {
		if (senv.mode == MODE_POOLED) {
			stage[s] = pool[s - 1][slot];
		} else {
			stage[s] = mmap(NULL, size, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (stage[s] == MAP_FAILED) {
				err = -errno;
				goto out;
			}
			made = s;
		}
		memcpy(stage[s], stage[s - 1], size);
	}
	if (senv.touch_pct)
		touch_pages(stage[k], size, senv.touch_pct);
	err = send_full(c->fd, stage[k], size);
	if (!err)
		c->messages++;
out:
	for (int s = 1; s <= made; s++)
		munmap(stage[s], size);
	return err;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[MAX_CONNS];

	while (!exiting) {
		/* The timeout bounds how long a stop request goes unseen. */
		int n = epoll_wait(w->epfd, evs, MAX_CONNS, 100);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			w->err = -errno;
			fprintf(stderr, "echo server: epoll_wait failed: %s\n",
				strerror(errno));
			exiting = 1;
			break;
		}
		for (int i = 0; i < n && !exiting; i++) {
			struct conn *c = evs[i].data.ptr;
			int err = serve_message(w, c);

			if (err < 0 && err != -EPIPE && err != -ECONNRESET)
				fprintf(stderr, "echo server: fd %d: failed to echo message: %s\n",
					c->fd, strerror(-err));
			if (err)
				conn_drop(w, c);
		}
	}
	return NULL;
}

/* Returns 0 or -errno; on failure the pools made so far are freed at exit. */
static int pools_create(void)
{
	if (senv.mode != MODE_POOLED || senv.copies == 0)
		return 0;
	for (int s = 0; s < senv.copies; s++) {
		pool[s] = calloc(pool_n, sizeof(*pool[s]));
		if (!pool[s])
			return -ENOMEM;
		for (long long i = 0; i < pool_n; i++) {
			pool[s][i] = alloc_buf(senv.size);
			if (!pool[s][i])
				return -errno;
		}
	}
	return 0;
}

static void pools_destroy(void)
{
	for (int s = 0; s < MAX_COPIES; s++) {
		if (!pool[s])
			continue;
		for (long long i = 0; i < pool_n; i++)
			free(pool[s][i]);
		free(pool[s]);
		pool[s] = NULL;
	}
}

/* Returns the listening socket, or -errno. */
static int listen_on(const char *host, int *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int one = 1, fd, err;

	if (make_addr(host, *port, &sa))
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

/* Returns 0 after handing the new connection to a worker, or -errno. */
static int accept_one(int lfd, struct worker *w)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct conn *c;
	int fd, err;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->rbuf = alloc_buf(senv.size);
	if (!c->rbuf) {
		err = -errno;
		goto err;
	}
	tune_socket(fd);

	pthread_mutex_lock(&conns_lock);
	c->next = conns;
	conns = c;
	pthread_mutex_unlock(&conns_lock);
	atomic_fetch_add(&nconns, 1);

	ev.data.ptr = c;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		err = -errno;
		conn_drop(w, c);
		return err;
	}
	if (senv.verbose)
		fprintf(stderr, "echo server: fd %d -> worker %d\n", fd, w->id);
	return 0;
err:
	free(c->rbuf);
	free(c);
	close(fd);
	return err;
}

static int server_main(void)
{
	struct worker workers[MAX_THREADS] = {};
	sigset_t block, old;
	int lfd = -1, port = senv.port, started = 0, err;
	unsigned long next = 0;
	double idle_since;

	pool_n = senv.pool;
	if (!pool_n) {
		pool_n = (POOL_BYTES + senv.size - 1) / senv.size;
		/* Tiny messages would otherwise mean millions of buffers. */
		if (pool_n > POOL_MAX_DEFAULT)
			pool_n = POOL_MAX_DEFAULT;
		if (pool_n < senv.threads)
			pool_n = senv.threads;
	}
	if (senv.mode == MODE_POOLED &&
	    pool_n * senv.size * senv.copies > POOL_MAX_TOTAL) {
		fprintf(stderr, "echo server: %d pools of %lld x %lld bytes exceed %lld GiB; lower --pool\n",
			senv.copies, pool_n, senv.size, POOL_MAX_TOTAL >> 30);
		return 1;
	}

	err = install_signals();
	if (err) {
		fprintf(stderr, "echo server: failed to install signal handlers: %s\n",
			strerror(-err));
		return 1;
	}
	/* Allocate before listening, so "listening" means ready to serve. */
	err = pools_create();
	if (err) {
		fprintf(stderr, "echo server: failed to allocate %d x %lld buffers of %lld bytes: %s\n",
			senv.copies, pool_n, senv.size, strerror(-err));
		goto cleanup;
	}
	lfd = listen_on(senv.bind, &port);
	if (lfd < 0) {
		err = lfd;
		fprintf(stderr, "echo server: failed to listen on %s:%d: %s\n",
			senv.bind, senv.port, strerror(-err));
		goto cleanup;
	}

	/* Only the main thread takes SIGINT/SIGTERM; workers poll the flag. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (; started < senv.threads; started++) {
		struct worker *w = &workers[started];

		w->id = started;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (w->epfd < 0) {
			err = -errno;
			break;
		}
		err = -pthread_create(&w->tid, NULL, worker_main, w);
		if (err) {
			close(w->epfd);
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		fprintf(stderr, "echo server: failed to start worker: %s\n",
			strerror(-err));
		exiting = 1;
		goto join;
	}

	printf("listening on %d\n", port);
	fflush(stdout);

	idle_since = now_s();
	while (!exiting) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		int n = poll(&pfd, 1, 100);

		if (n < 0 && errno != EINTR) {
			err = -errno;
			fprintf(stderr, "echo server: poll failed: %s\n", strerror(errno));
			break;
		}
		if (n > 0) {
			int e = accept_one(lfd, &workers[next++ % senv.threads]);

			if (e && e != -EINTR && e != -EAGAIN && e != -ECONNABORTED) {
				fprintf(stderr, "echo server: failed to accept connection: %s\n",
					strerror(-e));
				/* Out of fds or memory: give the peers time to go. */
				usleep(100 * 1000);
			}
		}
		if (atomic_load(&nconns) > 0 || n > 0)
			idle_since = now_s();
		else if (senv.idle > 0 && now_s() - idle_since >= senv.idle)
			break;
	}
	exiting = 1;

join:
	for (int i = 0; i < started; i++) {
		pthread_join(workers[i].tid, NULL);
		close(workers[i].epfd);
		if (workers[i].err && !err)
			err = workers[i].err;
	}
	while (conns) {
		struct conn *c = conns;

		conns = c->next;
		conn_destroy(c);
	}
cleanup:
	if (lfd >= 0)
		close(lfd);
	pools_destroy();
	return err != 0;
}

static const char server_doc[] =
"Echo every message of exactly SIZE bytes back, after COPIES in-app copies.\n"
"\n"
"USAGE: echo server --port PORT [--bind ADDR] [--size SIZE] [--copies K]\n"
"                   [--mode pooled|fresh] [--pool N] [--threads T]\n"
"                   [--touch PCT] [--idle SECS] [-v]\n"
"\v"
"Per message: recv() until SIZE bytes are in the connection's receive\n"
"buffer, memcpy() it through K stages (stage s copies stage s-1), read one\n"
"byte in PCT% of the last buffer's pages, send() the last buffer back.\n"
"  pooled: each stage has N buffers, allocated and touched at start\n"
"          (default N: 64 MiB per stage, at most 16384 buffers);\n"
"          message i uses slot i % N.\n"
"  fresh:  each stage buffer is mmap()ed before its copy and munmap()ed\n"
"          after the reply was sent.\n"
"With --port 0 the kernel picks the port; the server always prints\n"
"\"listening on PORT\" on stdout once it accepts connections.  It stops on\n"
"SIGINT/SIGTERM, or after --idle SECS without any client connected.\n"
"\n"
"EXAMPLES:\n"
"  echo server --port 7000                        # 512 KiB, 3 pooled copies\n"
"  echo server --port 0 --copies 0 --idle 10      # plain echo, any port\n"
"  echo server --port 7000 --mode fresh --touch 10 --threads 2\n"
"  zio-run --stats -- echo server --port 7000     # the same, under zio\n";

enum {
	OPT_PORT = 'p',
	OPT_SIZE = 's',
	OPT_VERBOSE = 'v',
	OPT_BIND = 0x100,
	OPT_COPIES,
	OPT_MODE,
	OPT_POOL,
	OPT_THREADS,
	OPT_TOUCH,
	OPT_IDLE,
	OPT_HOST,
	OPT_CONNS,
	OPT_DURATION,
	OPT_COUNT,
	OPT_VERIFY,
	OPT_SEED,
};

static const struct argp_option server_opts[] = {
	{ "port", OPT_PORT, "PORT", 0, "TCP port to listen on (0: any free port)", 0 },
	{ "bind", OPT_BIND, "ADDR", 0, "IPv4 address to bind (default 127.0.0.1)", 0 },
	{ "size", OPT_SIZE, "SIZE", 0, "Message size in bytes, K/M suffix allowed (default 512K)", 0 },
	{ "copies", OPT_COPIES, "K", 0, "In-app memcpy stages per message, 0-16 (default 3)", 0 },
	{ "mode", OPT_MODE, "MODE", 0, "Stage buffers: pooled (default) or fresh", 0 },
	{ "pool", OPT_POOL, "N", 0, "Buffers per stage in pooled mode (default: 64 MiB worth)", 0 },
	{ "threads", OPT_THREADS, "T", 0, "Worker threads, 1-16 (default 1)", 0 },
	{ "touch", OPT_TOUCH, "PCT", 0, "Read one byte in PCT% of the reply's pages (default 0)", 0 },
	{ "idle", OPT_IDLE, "SECS", 0, "Exit after SECS with no client connected", 0 },
	{ "verbose", OPT_VERBOSE, NULL, 0, "Log connections (never messages)", 0 },
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
	case OPT_SIZE:
		senv.size = parse_num(state, "size", arg, 1, MAX_SIZE);
		break;
	case OPT_COPIES:
		senv.copies = parse_num(state, "copies", arg, 0, MAX_COPIES);
		break;
	case OPT_MODE:
		if (!strcmp(arg, "pooled"))
			senv.mode = MODE_POOLED;
		else if (!strcmp(arg, "fresh"))
			senv.mode = MODE_FRESH;
		else
			argp_error(state, "invalid mode '%s': expected pooled or fresh", arg);
		break;
	case OPT_POOL:
		senv.pool = parse_num(state, "pool", arg, 1, 1 << 20);
		break;
	case OPT_THREADS:
		senv.threads = parse_num(state, "threads", arg, 1, MAX_THREADS);
		break;
	case OPT_TOUCH:
		senv.touch_pct = parse_num(state, "touch", arg, 0, 100);
		break;
	case OPT_IDLE:
		senv.idle = parse_seconds(state, "idle", arg);
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
		if (senv.pool && senv.pool < senv.threads)
			argp_error(state, "--pool %lld is smaller than --threads %d",
				   senv.pool, senv.threads);
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
	long long size;
	int conns;
	double duration;
	long long count;	/* 0: run for duration */
	enum verify_mode verify;
	uint64_t seed;
} cenv = {
	.host = "127.0.0.1",
	.port = -1,
	.size = 512 << 10,
	.conns = 4,
	.verify = VERIFY_FULL,
	.seed = 1,
};

struct client {
	int id;
	int fd;
	pthread_t tid;
	char *tmpl[NTEMPLATES];	/* what was sent for seq % NTEMPLATES */
	char *rbuf;
	long long limit;	/* messages to send; 0: until the deadline */
	unsigned long long messages;
	unsigned long long verified;
	int err;		/* 0, or 1 after a message was printed */
};

static double deadline;

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Fill a template from an xorshift64* stream, 8 bytes at a time, so any
 * shift of offset changes the bytes seen there. */
static void fill_template(char *buf, size_t size, uint64_t seed)
{
	uint64_t x = splitmix64(seed) | 1;

	for (size_t off = 0; off < size; off += 8) {
		uint64_t v;
		size_t n = size - off < 8 ? size - off : 8;

		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		v = x * 0x2545f4914f6cdd1dULL;
		memcpy(buf + off, &v, n);
	}
}

/*
 * Templates repeat every NTEMPLATES messages, so the first 8 bytes of each
 * 4 KiB page carry a stamp of (seed, conn, seq, page): a stale page from
 * an earlier message, or a page from another connection, cannot match.
 */
static void stamp_message(char *buf, size_t size, int conn, uint64_t seq)
{
	uint64_t h = splitmix64(splitmix64(cenv.seed ^ 0x5eedULL) ^ conn);

	h = splitmix64(h ^ seq);
	for (size_t off = 0, p = 0; off + 8 <= size; off += 4096, p++) {
		uint64_t v = splitmix64(h ^ p);

		memcpy(buf + off, &v, 8);
	}
}

/* Returns 0 if buf[off, off+len) matches, else prints the first
 * difference and returns 1. */
static int compare(struct client *c, uint64_t seq, const char *want,
		   const char *got, size_t off, size_t len)
{
	if (!memcmp(want + off, got + off, len))
		return 0;
	while (want[off] == got[off])
		off++;
	fprintf(stderr, "echo: MISMATCH conn=%d seq=%llu offset=%zu expected=0x%02x got=0x%02x\n",
		c->id, (unsigned long long)seq, off,
		(unsigned char)want[off], (unsigned char)got[off]);
	return 1;
}

/* Returns 0 if the reply to seq is right, 1 after printing a mismatch. */
static int verify_reply(struct client *c, uint64_t seq, const char *want)
{
	size_t size = cenv.size;
	const char *got = c->rbuf;

	if (cenv.verify == VERIFY_NONE)
		return 0;
	if (cenv.verify == VERIFY_FULL || seq % 16 == 0 || size <= 2 * SAMPLE_EDGE) {
		c->verified += size;
		return compare(c, seq, want, got, 0, size);
	}
	if (compare(c, seq, want, got, 0, SAMPLE_EDGE) ||
	    compare(c, seq, want, got, size - SAMPLE_EDGE, SAMPLE_EDGE))
		return 1;
	c->verified += 2 * SAMPLE_EDGE;
	/* The stamps are cheap and catch a whole stale page in between. */
	for (size_t off = SAMPLE_EDGE; off + 8 <= size - SAMPLE_EDGE; off += 4096) {
		if (compare(c, seq, want, got, off, 8))
			return 1;
		c->verified += 8;
	}
	return 0;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	size_t size = cenv.size;

	for (uint64_t seq = 0; ; seq++) {
		char *msg = c->tmpl[seq % NTEMPLATES];
		ssize_t n;
		int err;

		if (exiting || (c->limit && seq >= (uint64_t)c->limit) ||
		    (!c->limit && now_s() >= deadline))
			break;
		stamp_message(msg, size, c->id, seq);
		err = send_full(c->fd, msg, size);
		if (err) {
			fprintf(stderr, "echo: conn %d: failed to send message %llu: %s\n",
				c->id, (unsigned long long)seq, strerror(-err));
			goto fail;
		}
		n = recv_full(c->fd, c->rbuf, size);
		if (n <= 0) {
			fprintf(stderr, "echo: conn %d: failed to receive reply %llu: %s\n",
				c->id, (unsigned long long)seq,
				n == 0 ? "server closed the connection" :
				n == -EPIPE ? "server closed the connection mid-reply" :
				n == -ETIMEDOUT ? "timed out (does the server use the same --size?)" :
				strerror(-n));
			goto fail;
		}
		if (verify_reply(c, seq, msg))
			goto fail;
		c->messages++;
	}
	return NULL;
fail:
	c->err = 1;
	/* One failure ends the whole run; the others stop at their next message. */
	exiting = 1;
	return NULL;
}

/* Returns a connected socket, or -errno once CONNECT_RETRY_MS ran out. */
static int connect_retry(const struct sockaddr_in *sa)
{
	double give_up = now_s() + CONNECT_RETRY_MS / 1000.0;

	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

		if (fd < 0)
			return -errno;
		if (!connect(fd, (const struct sockaddr *)sa, sizeof(*sa))) {
			tune_socket(fd);
			return fd;
		}
		err = -errno;
		close(fd);
		/* Refused means the server is not up yet: scripts start it in
		 * the background and the client right after. */
		if ((err != -ECONNREFUSED && err != -EINTR) || exiting ||
		    now_s() >= give_up)
			return err;
		usleep(50 * 1000);
	}
}

static int client_main_all(void)
{
	struct client *cl;
	struct sockaddr_in sa;
	unsigned long long messages = 0, verified = 0;
	double start, secs;
	int err = 0, started = 0;

	if (install_signals()) {
		fprintf(stderr, "echo: failed to install signal handlers: %s\n",
			strerror(errno));
		return 1;
	}
	make_addr(cenv.host, cenv.port, &sa);
	cl = calloc(cenv.conns, sizeof(*cl));
	if (!cl) {
		fprintf(stderr, "echo: out of memory\n");
		return 1;
	}
	for (int i = 0; i < cenv.conns; i++)
		cl[i].fd = -1;

	for (int i = 0; i < cenv.conns; i++) {
		struct client *c = &cl[i];

		c->id = i;
		if (cenv.count)
			c->limit = cenv.count / cenv.conns +
				   (i < cenv.count % cenv.conns);
		for (int t = 0; t < NTEMPLATES; t++) {
			c->tmpl[t] = alloc_buf(cenv.size);
			if (!c->tmpl[t])
				goto oom;
			fill_template(c->tmpl[t], cenv.size,
				      cenv.seed ^ ((uint64_t)i << 32) ^ t);
		}
		c->rbuf = alloc_buf(cenv.size);
		if (!c->rbuf)
			goto oom;
		c->fd = connect_retry(&sa);
		if (c->fd < 0) {
			fprintf(stderr, "echo: failed to connect to %s:%d: %s\n",
				cenv.host, cenv.port, strerror(-c->fd));
			err = 1;
			goto cleanup;
		}
	}

	start = now_s();
	deadline = start + cenv.duration;
	for (; started < cenv.conns; started++) {
		int e = pthread_create(&cl[started].tid, NULL, client_main, &cl[started]);

		if (e) {
			fprintf(stderr, "echo: failed to start thread: %s\n", strerror(e));
			exiting = 1;
			err = 1;
			break;
		}
	}
	for (int i = 0; i < started; i++) {
		pthread_join(cl[i].tid, NULL);
		err |= cl[i].err;
		messages += cl[i].messages;
		verified += cl[i].verified;
	}
	secs = now_s() - start;
	if (!err) {
		printf("echo-client: size=%lld conns=%d messages=%llu bytes_verified=%llu seconds=%.3f rps=%.1f MBps=%.1f\n",
		       cenv.size, cenv.conns, messages, verified, secs,
		       messages / secs, messages * (double)cenv.size / secs / 1e6);
		fflush(stdout);
	}
	goto cleanup;
oom:
	fprintf(stderr, "echo: failed to allocate message buffers: %s\n",
		strerror(errno));
	err = 1;
cleanup:
	for (int i = 0; i < cenv.conns; i++) {
		if (cl[i].fd >= 0)
			close(cl[i].fd);
		for (int t = 0; t < NTEMPLATES; t++)
			free(cl[i].tmpl[t]);
		free(cl[i].rbuf);
	}
	free(cl);
	return err;
}

static const char client_doc[] =
"Send SIZE-byte messages to an echo server and verify every reply.\n"
"\n"
"USAGE: echo client --port PORT [--host ADDR] [--size SIZE] [--conns C]\n"
"                   [--duration SECS | --count N] [--verify full|sample|none]\n"
"                   [--seed X]\n"
"\v"
"Each connection runs request/response ping-pong in its own thread.\n"
"Message bytes are an xorshift64* stream per (seed, connection, template)\n"
"with a stamp of (connection, seq, page) at every 4 KiB, so bytes from the\n"
"wrong message, page or offset are caught.\n"
"  full:   compare every byte of every reply\n"
"  sample: every byte of 1 in 16 replies; the first and last 4 KiB and\n"
"          every page stamp of the others\n"
"  none:   compare nothing\n"
"On a mismatch it prints \"echo: MISMATCH conn=C seq=N offset=O ...\" and\n"
"exits 1.  Otherwise one line on stdout (shown wrapped here):\n"
"  echo-client: size=S conns=C messages=M bytes_verified=B\n"
"               seconds=T rps=R MBps=X\n"
"MBps counts payload in one direction (10^6 bytes).  Connection refused is\n"
"retried for 5 s, so the server may be started in the background first.\n"
"\n"
"EXAMPLES:\n"
"  echo client --port 7000                        # 4 conns, 5 s, full verify\n"
"  echo client --port 7000 --duration 2 --verify sample\n"
"  echo client --port 7000 --count 1000 --conns 1 --size 64K\n";

static const struct argp_option client_opts[] = {
	{ "port", OPT_PORT, "PORT", 0, "Server TCP port", 0 },
	{ "host", OPT_HOST, "ADDR", 0, "Server IPv4 address (default 127.0.0.1)", 0 },
	{ "size", OPT_SIZE, "SIZE", 0, "Message size in bytes, K/M suffix allowed (default 512K)", 0 },
	{ "conns", OPT_CONNS, "C", 0, "Connections, one thread each (default 4)", 0 },
	{ "duration", 'd', "SECS", 0, "Run for SECS seconds (default 5)", 0 },
	{ "count", OPT_COUNT, "N", 0, "Stop after N messages in total instead", 0 },
	{ "verify", OPT_VERIFY, "HOW", 0, "full (default), sample or none", 0 },
	{ "seed", OPT_SEED, "X", 0, "Seed of the message contents (default 1)", 0 },
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
	case OPT_SIZE:
		cenv.size = parse_num(state, "size", arg, 1, MAX_SIZE);
		break;
	case OPT_CONNS:
		cenv.conns = parse_num(state, "conns", arg, 1, MAX_CONNS);
		break;
	case 'd':
		cenv.duration = parse_seconds(state, "duration", arg);
		break;
	case OPT_COUNT:
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
		if (cenv.count && cenv.count < cenv.conns)
			argp_error(state, "--count %lld is smaller than --conns %d",
				   cenv.count, cenv.conns);
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
	{ "server", &server_argp, server_main, "echo messages back through K in-app copies" },
	{ "client", &client_argp, client_main_all, "drive a server and verify every reply" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: echo COMMAND [OPTION...]\n"
		"TCP echo server and verifying client for the zio relay benchmark.\n\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nRun 'echo COMMAND --help' for its options and examples.\n");
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
		snprintf(name, sizeof(name), "echo %s", cmd->name);
		argv[1] = name;
		if (argp_parse(cmd->argp, argc - 1, argv + 1, 0, NULL, NULL))
			return 2;
		return cmd->run();
	}
	fprintf(stderr, "echo: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
