/* SPDX-License-Identifier: MIT */
/*
 * Helpers for tests that run real servers: install a Debian package when
 * its program is missing, find a free loopback port, start a server
 * (plain or under zio-run) in its own process group with its output in a
 * log file, wait for its port, and stop it by its PID.
 */
#ifndef ZIO_TEST_SERVERS_H
#define ZIO_TEST_SERVERS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "harness.h"

static inline bool have_prog(const char *prog)
{
	struct run r;
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s || test -x /usr/sbin/%s", prog, prog);
	RUN(&r, 10, "sh", "-c", cmd);
	return r.status == 0;
}

/* Install Debian package pkg if prog is missing; false if we cannot. */
static inline bool ensure(const char *prog, const char *pkg)
{
	static struct run r;

	if (have_prog(prog))
		return true;
	if (geteuid() != 0)
		return false;
	RUN(&r, 600, "sh", "-c", "apt-get update -qq >/dev/null 2>&1; "
	    "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
	    "\"$0\" >/dev/null 2>&1", (char *)pkg);
	return have_prog(prog);
}

static inline int connect_port(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* A loopback port nobody listens on right now. */
static inline int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t l = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	cr_assert(!bind(fd, (struct sockaddr *)&sa, sizeof(sa)), "bind: %s", strerror(errno));
	getsockname(fd, (struct sockaddr *)&sa, &l);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

struct server {
	pid_t pid;
	int port;
	char log[320];     /* its stdout and stderr */
};

/* Start argv (NULL-terminated) with stdout and stderr appended to log;
 * wait until something accepts on port (up to 10 s). */
static inline void server_start(struct server *s, const char *log, char *const argv[])
{
	pid_t test = getpid();

	snprintf(s->log, sizeof(s->log), "%s", log);
	s->pid = fork();
	if (s->pid == 0) {
		int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		dup2(fd, 1);
		dup2(fd, 2);
		setpgid(0, 0);
		/* a test killed by its timeout takes its server along (a server
		 * that changes its user, like icecast, loses this: it is stopped
		 * by server_stop only) */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != test)
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	cr_assert_gt(s->pid, 0, "fork: %s", strerror(errno));
	for (int i = 0; i < 200; i++) {
		int fd = connect_port(s->port), st;

		if (fd >= 0) {
			close(fd);
			return;
		}
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			cr_assert_fail("%s exited before listening on port %d", argv[0], s->port);
		}
		usleep(50000);
	}
	kill(-s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
	cr_assert_fail("%s did not listen on port %d within 10 s", argv[0], s->port);
}

/* Stop the server's process group with sig, then SIGKILL after 10 s;
 * returns its wait status (-1 if it had to be killed). */
static inline int server_stop(struct server *s, int sig)
{
	int st = 0;

	if (s->pid <= 0)
		return -1;
	kill(-s->pid, sig);
	for (int i = 0; i < 200; i++) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			/* the rest of its group (workers) goes with it */
			kill(-s->pid, SIGKILL);
			s->pid = 0;
			return st;
		}
		usleep(50000);
	}
	kill(-s->pid, SIGKILL);
	waitpid(s->pid, &st, 0);
	s->pid = 0;
	return -1;
}

/* The server's log (its stats lines) into buf. */
static inline void server_log(const struct server *s, char *buf, size_t cap)
{
	int fd = open(s->log, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, cap - 1) : 0;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

#endif
