// SPDX-License-Identifier: MIT
/*
 * trace_fork — a parent whose forked child does the IO copies, as a
 * server's workers do: zio-trace must follow the fork to see them.
 * The child waits a moment (zio-trace attaches to it when the fork is
 * announced), receives 256 KiB from its parent through a socket pair and
 * copies it twice (128 KiB each); the parent waits for it.  Prints
 * "trace_fork: ok" and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define N (256 * 1024)

static char in[N], out[N];

/* Not inlined, so its call site has a name of its own. */
__attribute__((noinline)) static void copy_child(char *d, const char *s, size_t n)
{
	memcpy(d, s, n);
	__asm__ volatile("" : : "r"(d) : "memory");
}

int main(void)
{
	int sv[2], st;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return perror("socketpair"), 1;
	pid = fork();
	if (pid < 0)
		return perror("fork"), 1;
	if (pid == 0) {
		size_t got = 0;

		close(sv[0]);
		usleep(1500 * 1000);
		while (got < N) {
			ssize_t r = recv(sv[1], in + got, N - got, 0);

			if (r <= 0)
				_exit(1);
			got += (size_t)r;
		}
		copy_child(out, in, N / 2);
		copy_child(out + N / 2, in + N / 2, N / 2);
		_exit(out[N - 1] == in[N - 1] ? 0 : 1);
	}
	close(sv[1]);
	memset(out, 7, N);
	for (size_t o = 0; o < N;) {
		ssize_t w = write(sv[0], out + o, N - o);

		if (w <= 0)
			return perror("write"), 1;
		o += (size_t)w;
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return fprintf(stderr, "trace_fork: child failed\n"), 1;
	printf("trace_fork: ok\n");
	return 0;
}
