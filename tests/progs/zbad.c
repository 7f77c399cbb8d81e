// SPDX-License-Identifier: MIT
/*
 * zbad — bad input to the interposed calls, made while the runtime has
 * live originals and aliases (so every call takes the runtime's path,
 * not its fast pass-through).  `zbad errno` prints one line per call:
 * its result and errno; the integration test runs it plain and under zio
 * and requires the same lines.  The crash modes must die exactly as they
 * would without zio (SIGSEGV), never hang.
 *
 *   zbad errno        invalid fds, EFAULT, EINTR, EAGAIN, short IO,
 *                     zero and NULL lengths, lengths near SIZE_MAX
 *   zbad segv-src     memcpy from an unmapped address
 *   zbad segv-tail    memcpy whose source starts in an alias and runs
 *                     into unmapped memory
 *   zbad segv-dst     memcpy of IO data to an unmapped address
 *   zbad segv-huge    memcpy of SIZE_MAX - 4096 bytes
 *   zbad segv-recover SIGSEGV handler that siglongjmps out of a failed
 *                     copy of IO data, then keeps using aliases
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define KB 1024UL
#define PG 4096UL
#define N  (512 * KB)

static unsigned char *in, *al;

static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 7 + (i >> 12) * 13 + 1);
}

struct feed {
	int fd;
	size_t len;
	useconds_t delay;
};

static void *feeder(void *arg)
{
	struct feed *f = arg;
	unsigned char *b = malloc(f->len);
	size_t o = 0;

	for (size_t i = 0; i < f->len; i++)
		b[i] = pat(i);
	if (f->delay)
		usleep(f->delay);
	while (o < f->len) {
		ssize_t w = write(f->fd, b + o, f->len - o);

		if (w <= 0)
			break;
		o += (size_t)w;
	}
	free(b);
	return NULL;
}

/* Receive N bytes into `in`, then copy them to `al`: an original and an
 * alias are live from here on. */
static void make_io_data(void)
{
	int sv[2];
	pthread_t t;
	struct feed f;
	size_t o = 0;

	in = malloc(N);
	al = malloc(N);
	if (!in || !al || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		exit(2);
	f = (struct feed){ sv[0], N, 0 };
	pthread_create(&t, NULL, feeder, &f);
	while (o < N) {
		ssize_t r = recv(sv[1], in + o, N - o, 0);

		if (r <= 0)
			exit(2);
		o += (size_t)r;
	}
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	memcpy(al, in, N);
}

static int line;
/* Opaque to the compiler, which would refuse the calls below outright. */
static void *volatile vnull;
static volatile size_t vmax = SIZE_MAX;
static volatile int vneg = -1, v2000 = 2000, v1025 = 1025;
/* memcpy and memmove as a binary calls them: <string.h> declares their
 * pointers nonnull (C leaves NULL undefined even with length 0), but
 * programs do pass NULL with 0 and libc copes, so the interposers must;
 * through a pointer the call is made without the attribute's promise. */
static void *(*volatile memcpy_p)(void *, const void *, size_t) = memcpy;
static void *(*volatile memmove_p)(void *, const void *, size_t) = memmove;

static void show(const char *what, long r, int e)
{
	printf("%2d %-44s -> %ld errno=%s\n", ++line, what, r, r < 0 ? strerrorname_np(e) : "-");
}

#define T(what, call) do { errno = 0; long r_ = (long)(call); show(what, r_, errno); } while (0)

static void on_alarm(int sig)
{
	(void)sig;
}

static void mode_errno(void)
{
	int sv[2], p[2];
	struct iovec iov[2] = { { al, 100 * KB }, { al + 200 * KB, 100 * KB } };
	unsigned char *none = mmap(NULL, 256 * KB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	unsigned char *rx = malloc(N);
	struct sigaction sa;

	make_io_data();
	memcpy(rx, in, N);                 /* rx is an alias too: inputs land on one */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pipe(p);

	/* invalid descriptors */
	T("recv bad fd", recv(-1, rx, N, 0));
	T("read closed fd", read(12345, rx, N));
	T("readv bad fd", readv(-7, iov, 2));
	T("pread bad fd", pread(999, rx, N, 0));
	T("send bad fd from alias", send(-1, al, N, 0));
	T("write bad fd from alias", write(4321, al, N));
	T("writev bad fd from alias", writev(-1, iov, 2));
	T("pwrite bad fd from alias", pwrite(-1, al, N, 0));
	T("recv on a pipe", recv(p[0], rx, N, MSG_DONTWAIT));
	T("send on a pipe from alias", send(p[1], al, 64 * KB, 0));
	T("pwrite on a pipe from alias", pwrite(p[1], al, 64 * KB, 0));
	T("pread on a socket", pread(sv[1], rx, N, 0));
	T("pwrite negative offset", pwrite(sv[0], al, 64 * KB, -5));
	/* EFAULT */
	T("send from PROT_NONE", send(sv[0], none, 128 * KB, MSG_DONTWAIT));
	T("write from NULL", write(p[1], vnull, 128 * KB));
	write(sv[0], in, 100 * KB);
	T("recv into PROT_NONE", recv(sv[1], none, 128 * KB, 0));
	T("recv into NULL", recv(sv[1], vnull, 128 * KB, 0));
	T("read into PROT_NONE", read(sv[1], none, 128 * KB));
	T("readv into PROT_NONE + alias", readv(sv[1], (struct iovec[]){ { rx, 4 * KB },
							{ none, 128 * KB } }, 2));
	T("recvmsg NULL msghdr", recvmsg(sv[1], NULL, 0));
	T("sendmsg NULL msghdr", sendmsg(sv[0], NULL, 0));
	while (recv(sv[1], rx, N, MSG_DONTWAIT) > 0)
		;
	/* EAGAIN */
	T("recv nothing queued, DONTWAIT", recv(sv[1], rx, N, MSG_DONTWAIT));
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	T("read nothing queued, O_NONBLOCK", read(sv[1], rx, N));
	T("readv nothing queued, O_NONBLOCK", readv(sv[1], iov, 2));
	fcntl(sv[1], F_SETFL, 0);
	{
		long tot = 0, r;

		/* fill the peer's buffer: a short count then EAGAIN */
		fcntl(sv[0], F_SETFL, O_NONBLOCK);
		while ((r = send(sv[0], al, N, 0)) > 0)
			tot += r;
		show("send from alias until full (total>0)", tot > 0, 0);
		T("send from alias, full, O_NONBLOCK", send(sv[0], al, N, 0));
		T("sendmsg from alias, full", sendmsg(sv[0], &m, MSG_DONTWAIT));
		T("writev from alias, full", writev(sv[0], iov, 2));
		fcntl(sv[0], F_SETFL, 0);
		while (recv(sv[1], rx, N, MSG_DONTWAIT) > 0)
			;
	}
	/* short reads and writes */
	write(p[1], in, 10);
	T("short read from pipe", read(p[0], rx + 3, N - 3));
	write(sv[0], in, 3000);
	T("short recv", recv(sv[1], rx + 5000, N, 0));
	fcntl(p[1], F_SETPIPE_SZ, 64 * KB);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	T("short write to small pipe from alias", write(p[1], al, N));
	T("write to full pipe from alias", write(p[1], al, N));
	fcntl(p[1], F_SETFL, 0);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	while (read(p[0], rx, 64 * KB) > 0)
		;
	fcntl(p[0], F_SETFL, 0);
	/* EINTR: a handler without SA_RESTART interrupts a blocking recv */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	ualarm(100000, 0);
	T("recv interrupted (no SA_RESTART)", recv(sv[1], rx, N, 0));
	ualarm(100000, 0);
	T("read interrupted (no SA_RESTART)", read(sv[1], rx, N));
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	{
		pthread_t t;
		struct feed f = { sv[0], 1000, 300000 };

		ualarm(100000, 0);
		pthread_create(&t, NULL, feeder, &f);
		T("recv restarted (SA_RESTART)", recv(sv[1], rx, N, 0));
		pthread_join(t, NULL);
	}
	/* zero lengths and NULL with zero */
	T("memcpy zero", memcpy(rx, al, 0) == rx);
	T("memcpy NULL zero", memcpy_p(vnull, vnull, 0) == NULL);
	T("memmove NULL zero", memmove_p(vnull, al, 0) == NULL);
	T("recv zero", recv(sv[1], rx, 0, MSG_DONTWAIT));
	T("recv NULL zero", recv(sv[1], vnull, 0, MSG_DONTWAIT));
	T("read NULL zero", read(p[0], vnull, 0));
	T("send NULL zero", send(sv[0], vnull, 0, 0));
	T("write NULL zero", write(p[1], vnull, 0));
	T("writev NULL zero", writev(p[1], vnull, 0));
	T("readv zero iovecs", readv(p[0], iov, 0));
	/* lengths near SIZE_MAX and bad vectors */
	T("recv SIZE_MAX into alias", recv(sv[1], rx, vmax, MSG_DONTWAIT));
	T("read SIZE_MAX into alias", read(p[0], rx, vmax));
	T("pread SIZE_MAX - 1", pread(sv[1], rx, vmax - 1, 0));
	T("send SIZE_MAX from alias", send(sv[0], al, vmax, MSG_DONTWAIT));
	T("write SIZE_MAX - PG from alias", write(p[1], al, vmax - PG));
	T("writev iov_len overflow", writev(p[1], (struct iovec[]){ { al, SIZE_MAX / 2 + 2 },
							    { al, SIZE_MAX / 2 + 2 } }, 2));
	T("writev iovcnt -1", writev(p[1], iov, vneg));
	T("writev iovcnt 2000", writev(p[1], iov, v2000));
	T("readv iovcnt 1025", readv(p[0], iov, v1025));
	/* errno is left alone by successful calls */
	errno = 1234;
	memcpy(rx, al, N);
	memmove(rx + 1, rx, N - 1);
	free(malloc(N));
	show("errno after elided copies", errno, 0);
	{
		long bad = -1;

		for (size_t i = 1; i < N && bad < 0; i++)
			if (rx[i] != pat(i - 1))
				bad = (long)i;
		show("first wrong byte after memmove (-1)", bad, 0);
	}
	munmap(none, 256 * KB);
}

static void mode_segv(const char *how)
{
	unsigned char *gap = mmap(NULL, 3 * N, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *dst = malloc(2 * N);

	make_io_data();
	printf("zbad: %s starting\n", how);
	fflush(stdout);
	if (!strcmp(how, "segv-src")) {
		memcpy(dst, (void *)(uintptr_t)0x1000, N);
	} else if (!strcmp(how, "segv-tail")) {
		/* an alias, then a hole: the copy's head is elidable, its tail
		 * must fault as it would without zio */
		memcpy(gap, in, N);
		munmap(gap + N, 2 * N);
		memcpy(dst, gap, 2 * N);
	} else if (!strcmp(how, "segv-dst")) {
		munmap(gap, 3 * N);
		memcpy(gap + PG, in, N);
	} else if (!strcmp(how, "segv-huge")) {
		memcpy(dst, in, vmax - PG);
	}
	printf("zbad: %s did not crash\n", how);
	exit(3);
}

static sigjmp_buf jb;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

/* A program that survives its own bad copy must find the runtime intact:
 * stores into the original, copies and loads of aliases still work. */
static void mode_segv_recover(void)
{
	unsigned char *gap = mmap(NULL, 3 * N, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *dst = malloc(2 * N), *b = malloc(N);
	struct sigaction sa;
	volatile int caught = 0;

	make_io_data();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	for (int k = 0; k < 3; k++) {
		memcpy(gap, in, N);
		if (k == 0)
			munmap(gap + N, 2 * N);
		if (!sigsetjmp(jb, 1))
			memcpy(dst, gap, 2 * N);
		else
			caught++;
	}
	alarm(20);              /* a hang is a failure, not a stuck test */
	in[100] ^= 0xFF;        /* store into the original */
	in[100] ^= 0xFF;
	memcpy(b, al, N);
	for (size_t i = 0; i < N; i++)
		if (b[i] != pat(i) || al[i] != pat(i) || gap[i] != pat(i)) {
			printf("zbad: segv-recover FAIL byte %zu\n", i);
			exit(1);
		}
	printf("zbad: segv-recover ok caught=%d\n", caught);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: zbad errno|segv-src|segv-tail|segv-dst|segv-huge|"
			"segv-recover\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "errno"))
		mode_errno();
	else if (!strcmp(argv[1], "segv-recover"))
		mode_segv_recover();
	else if (!strncmp(argv[1], "segv-", 5))
		mode_segv(argv[1]);
	else
		return 2;
	return 0;
}
