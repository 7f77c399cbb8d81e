/* SPDX-License-Identifier: MIT */
/*
 * What the rest of the runtime calls in the AF_XDP socket layer (xsk/):
 * interpose.c's gates for the socket, readiness and I/O calls, the stats
 * line, fork.  The calls are made only while zio_xsk_enabled (some
 * socket is served); each says what it does when fd is not served.
 */
#ifndef ZIO_XSK_HOOKS_H
#define ZIO_XSK_HOOKS_H

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/select.h>
#include <sys/socket.h>

#include "base/defs.h"

struct epoll_event;
struct mmsghdr;
struct timespec;

/* Some socket is served from the rings (checked first by every gate). */
extern _Atomic int zio_xsk_enabled;

/* I/O on a served fd: true when handled (result in *ret, errno set as
 * libc would), false to fall through to the usual path. */
bool zio_xsk_recvmsg(int fd, struct msghdr *msg, int flags, uintptr_t site, ssize_t *ret);
bool zio_xsk_sendmsg(int fd, const struct msghdr *msg, int flags, ssize_t *ret);
bool zio_xsk_recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *t,
		      uintptr_t site, int *ret);
bool zio_xsk_served(int fd);

/* After libc's call succeeded. */
void zio_xsk_bound(int fd, const struct sockaddr *a, socklen_t alen);
void zio_xsk_connected(int fd, const struct sockaddr *a, socklen_t alen);
/* Before libc closes fd. */
void zio_xsk_closing(int fd);
/* nfd is a new descriptor for old: returns nfd. */
int zio_xsk_dup(int old, int nfd);
/* FIONREAD of a served socket with a backlog: true, *v set. */
bool zio_xsk_fionread(int fd, int *v);

/* Readiness, when some fd of the set is served. */
bool zio_xsk_poll_served(const struct pollfd *fds, nfds_t n);
int zio_xsk_poll(struct pollfd *fds, nfds_t n, int timeout, const sigset_t *mask);
bool zio_xsk_select_served(int nfds, fd_set *rd);
int zio_xsk_select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, int timeout,
		   const sigset_t *mask);
void zio_xsk_epoll_ctl_done(int epfd, int op, int fd, struct epoll_event *ev);
int zio_xsk_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout,
		       const sigset_t *mask);

/* The stats line's AF_XDP fields, or nothing without --xdp. */
int zio_xsk_stats(char *buf, size_t len);
/* fork: the child's sockets are kernel sockets. */
void zio_xsk_fork_child(void);

#endif
