// SPDX-License-Identifier: MIT
/*
 * trace_target - a program with known IO copy call sites, for zio-trace.
 *
 * A forked child (not traced: another mm) sends ROUNDS x IN_SIZE bytes
 * over a socketpair; the parent receives each block with one recv and:
 *   copy_a     memcpy   IN_SIZE bytes of the input        (app, elidable)
 *   copy_b     memmove  B_SIZE bytes of copy_a's output   (app chain, elidable)
 *   copy_small memcpy   SMALL_SIZE bytes of the input     (app, below threshold)
 *   copy_chk   __memcpy_chk CHK_SIZE bytes of the input   (app, elidable; the
 *              _chk entry falls into memmove's: counted once)
 *   copy_noio  memcpy   NOIO_SIZE bytes of non-IO data    (not counted)
 *   emit_out   write    copy_b's output to /dev/null      (iostack)
 *   emit_vec   writev   a non-IO header + copy_small's output (iostack,
 *              SMALL_SIZE IO bytes)
 *   emit_noio  write    non-IO data to /dev/null          (not counted)
 * so zio-trace must report, per site, ROUNDS calls and ROUNDS x size bytes.
 * The last round arrives through readv, into two iovecs.
 * With --wait it first reads one byte from stdin (zio-trace -p attaches).
 * Built with -fno-builtin: every copy is a call to libc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 3
#define IN_SIZE (256 * 1024)
#define B_SIZE (100 * 1024)
#define B_OFF 4096
#define SMALL_SIZE 1000
#define NOIO_SIZE (200 * 1024)
#define CHK_SIZE (50 * 1024)
#define HDR_SIZE 64

/* glibc's fortified copy, called directly (no _FORTIFY_SOURCE here) */
extern void *__memcpy_chk(void *d, const void *s, size_t n, size_t dlen);

static char in[ROUNDS][IN_SIZE];
static char mid[ROUNDS][IN_SIZE];
static char out[ROUNDS][B_SIZE];
static char small[ROUNDS][SMALL_SIZE];
static char noio_src[NOIO_SIZE];
static char noio_dst[ROUNDS][NOIO_SIZE];
static char chk[ROUNDS][CHK_SIZE];
static char hdr[HDR_SIZE] = "header: not IO data";

/* The asm after each call keeps it from becoming a tail call, so the
 * return address - the call site zio-trace reports - is in here; noipa
 * keeps gcc from folding the identical bodies into one (ICF) or cloning
 * them (constprop), which would rename or merge the sites. */
#ifdef __clang__
#define SITE __attribute__((noinline))
#else
#define SITE __attribute__((noipa))
#endif
SITE static void copy_a(void *d, const void *s, size_t n)
{
	memcpy(d, s, n);
	__asm__ volatile("" ::: "memory");
}

SITE static void copy_b(void *d, const void *s, size_t n)
{
	memmove(d, s, n);
	__asm__ volatile("" ::: "memory");
}

SITE static void copy_small(void *d, const void *s,
						 size_t n)
{
	memcpy(d, s, n);
	__asm__ volatile("" ::: "memory");
}

SITE static void copy_chk(void *d, const void *s, size_t n)
{
	__memcpy_chk(d, s, n, CHK_SIZE);
	__asm__ volatile("" ::: "memory");
}

SITE static void copy_noio(void *d, const void *s,
						size_t n)
{
	memcpy(d, s, n);
	__asm__ volatile("" ::: "memory");
}

SITE static int emit_out(int fd, const void *b, size_t n)
{
	ssize_t r = write(fd, b, n);

	__asm__ volatile("" ::: "memory");
	return r == (ssize_t)n ? 0 : -1;
}

SITE static int emit_vec(int fd, const void *b, size_t n)
{
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = HDR_SIZE },
		{ .iov_base = (void *)b, .iov_len = n },
	};
	ssize_t r = writev(fd, iov, 2);

	__asm__ volatile("" ::: "memory");
	return r == (ssize_t)(HDR_SIZE + n) ? 0 : -1;
}

SITE static int emit_noio(int fd, const void *b,
					       size_t n)
{
	ssize_t r = write(fd, b, n);

	__asm__ volatile("" ::: "memory");
	return r == (ssize_t)n ? 0 : -1;
}

static int sender(int fd)
{
	static char buf[IN_SIZE];
	size_t i, off;
	ssize_t n;
	int r;

	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = (char)(i * 7 + r);
		for (off = 0; off < sizeof(buf); off += n) {
			n = send(fd, buf + off, sizeof(buf) - off, 0);
			if (n <= 0)
				return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	int sv[2], null_fd, r, st;
	size_t i;
	pid_t pid;
	char go;

	/* --wait: start on a byte from stdin, for zio-trace -p to attach */
	if (argc > 1 && !strcmp(argv[1], "--wait") && read(0, &go, 1) != 1)
		return fprintf(stderr, "no start byte\n"), 1;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return perror("socketpair"), 1;
	pid = fork();
	if (pid < 0)
		return perror("fork"), 1;
	if (pid == 0) {
		close(sv[0]);
		_exit(sender(sv[1]));
	}
	close(sv[1]);
	null_fd = open("/dev/null", O_WRONLY);
	if (null_fd < 0)
		return perror("open /dev/null"), 1;
	for (i = 0; i < sizeof(noio_src); i++)
		noio_src[i] = (char)i;

	for (r = 0; r < ROUNDS; r++) {
		size_t got;
		ssize_t n;

		for (got = 0; got < IN_SIZE; got += n) {
			if (r == ROUNDS - 1) {
				/* two iovecs: the halves, minus what came */
				size_t h = IN_SIZE / 2, a = got < h ? h - got : 0;
				struct iovec iov[2] = {
					{ in[r] + got, a },
					{ in[r] + (got < h ? h : got),
					  IN_SIZE - (got < h ? h : got) },
				};

				n = readv(sv[0], a ? iov : iov + 1, a ? 2 : 1);
			} else {
				n = recv(sv[0], in[r] + got, IN_SIZE - got,
					 MSG_WAITALL);
			}
			if (n <= 0)
				return perror("recv"), 1;
		}
		copy_a(mid[r], in[r], IN_SIZE);
		copy_b(out[r], mid[r] + B_OFF, B_SIZE);
		copy_small(small[r], in[r] + 8192, SMALL_SIZE);
		copy_chk(chk[r], in[r] + 65536, CHK_SIZE);
		copy_noio(noio_dst[r], noio_src, NOIO_SIZE);
		if (emit_out(null_fd, out[r], B_SIZE) ||
		    emit_vec(null_fd, small[r], SMALL_SIZE) ||
		    emit_noio(null_fd, noio_dst[r], NOIO_SIZE))
			return perror("write"), 1;
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st))
		return fprintf(stderr, "sender failed\n"), 1;
	/* the data arrived intact through both copies */
	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < B_SIZE; i++)
			if (out[r][i] != (char)((i + B_OFF) * 7 + r))
				return fprintf(stderr, "bad data\n"), 1;
		for (i = 0; i < CHK_SIZE; i++)
			if (chk[r][i] != (char)((i + 65536) * 7 + r))
				return fprintf(stderr, "bad data\n"), 1;
	}
	printf("trace_target: ok\n");
	return 0;
}
