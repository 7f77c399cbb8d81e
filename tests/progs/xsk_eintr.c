// SPDX-License-Identifier: MIT
/*
 * xsk_eintr — a blocking UDP receive interrupted by a signal, for the
 * AF_XDP tests: binds UDP PORT, installs a SIGALRM handler without
 * SA_RESTART, and three times arms a one-shot timer of US microseconds
 * and calls recv with nothing to receive.  Each must fail with EINTR
 * soon after the timer, as on a kernel socket, including when the runtime
 * is busy-polling its rings at that moment (the 2nd and 3rd receive find
 * the socket known blocking and spin first).
 *
 *   xsk_eintr PORT US      prints "xsk_eintr: eintr=N slowest_ms=M"
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void on_alarm(int sig)
{
	(void)sig;
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sigaction sa;
	double slowest = 0;
	int fd, eintr = 0;
	char b[64];

	if (argc != 3) {
		fprintf(stderr, "usage: xsk_eintr PORT US\n");
		return 2;
	}
	a.sin_port = htons((uint16_t)atoi(argv[1]));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	if (sigaction(SIGALRM, &sa, NULL))
		return 1;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("xsk_eintr: socket/bind");
		return 1;
	}
	for (int i = 0; i < 3; i++) {
		double t0 = now_ms(), dt;
		ssize_t r;

		ualarm((useconds_t)atoi(argv[2]), 0);
		r = recv(fd, b, sizeof(b), 0);
		dt = now_ms() - t0;
		if (r < 0 && errno == EINTR)
			eintr++;
		if (dt > slowest)
			slowest = dt;
	}
	printf("xsk_eintr: eintr=%d slowest_ms=%.0f\n", eintr, slowest);
	return eintr == 3 ? 0 : 1;
}
