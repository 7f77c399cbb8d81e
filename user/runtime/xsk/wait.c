// SPDX-License-Identifier: MIT
/*
 * Readiness: poll, select and epoll over served sockets.  The rings' fds
 * join the wait, and a served socket with a backlog is reported
 * readable.  For epoll, the rings' fds sit in the program's epoll set
 * under a magic data value; their events become the served sockets'
 * EPOLLIN.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "mech/state.h"
#include "xsk/xsk.h"

#define XS_EPOLL_MAGIC 0x7a696f78736b0000ULL  /* "zioxsk" + queue index */

#define XS_MAX_EPFD 16

#define XS_MAX_EPREG 16

struct epreg { int fd; uint32_t events; uint64_t data; bool armed; };

static struct { int epfd, n; bool xsk_in; struct epreg r[XS_MAX_EPREG]; } eps[XS_MAX_EPFD];

static int neps;

/* fd left the served sockets: drop it from every epoll registration
 * (xs lock held). */
ZIO_HIDDEN void xs_wait_forget_fd(int fd)
{
	for (int e = 0; e < neps; e++)
		for (int i = 0; i < eps[e].n; i++)
			if (eps[e].r[i].fd == fd)
				eps[e].r[i] = eps[e].r[--eps[e].n];
}

/* fd is closed: if it was an epoll descriptor, forget it (lock held). */
ZIO_HIDDEN void xs_wait_forget_epfd(int fd)
{
	for (int e = 0; e < neps; e++)
		if (eps[e].epfd == fd) {
			eps[e] = eps[--neps];
			return;
		}
}

/* ------------------------------------------------------------ readiness */

/* Served fds among fds with a backlog get POLLIN.  Lock held. */
static int mark_ready(struct pollfd *fds, nfds_t n)
{
	int ready = 0;

	for (nfds_t i = 0; i < n; i++) {
		struct xs_sock *s = xs_sock_of(fds[i].fd);

		if (s && s->head && (fds[i].events & (POLLIN | POLLRDNORM))) {
			if (!fds[i].revents)
				ready++;
			fds[i].revents |= (short)(fds[i].events & (POLLIN | POLLRDNORM));
		}
	}
	return ready;
}

/* Is any of fds served? */
ZIO_HIDDEN bool zio_xsk_poll_served(const struct pollfd *fds, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (xs_sock_of(fds[i].fd))
			return true;
	return false;
}

static int remaining_ms(int timeout, uint64_t start)
{
	uint64_t el;

	if (timeout < 0)
		return -1;
	el = (zio_now_ns() - start) / 1000000;
	return el >= (uint64_t)timeout ? 0 : timeout - (int)el;
}

/* poll (ppoll with mask) over fds of which some are served.  Returns
 * what poll returns. */
ZIO_HIDDEN int zio_xsk_poll(struct pollfd *fds, nfds_t n, int timeout, const sigset_t *mask)
{
	uint64_t start = zio_now_ns();
	struct pollfd *all;
	int r;

	if (n > 4096)
		return zio_real.poll(fds, n, timeout);
	all = __builtin_alloca((n + (nfds_t)xs.nq) * sizeof(*all));
	for (;;) {
		int ready, t = remaining_ms(timeout, start);
		bool ring = false;

		xs_lock();
		xs_pull_all();
		for (nfds_t i = 0; i < n; i++)
			fds[i].revents = 0;
		ready = mark_ready(fds, n);
		xs_unlock();
		if (ready) {
			/* the rest without waiting */
			struct pollfd *tmp = __builtin_alloca(n * sizeof(*tmp));

			zio_raw_copy(tmp, fds, n * sizeof(*tmp));
			r = zio_real.poll(tmp, n, 0);
			if (r < 0)
				r = 0;
			ready = 0;
			for (nfds_t i = 0; i < n; i++) {
				fds[i].revents |= tmp[i].revents;
				ready += fds[i].revents != 0;
			}
			return ready;
		}
		zio_raw_copy(all, fds, n * sizeof(*all));
		for (int i = 0; i < xs.nq; i++)
			all[n + (nfds_t)i] = (struct pollfd){ .fd = xs.q[i].fd, .events = POLLIN };
		if (mask) {
			struct timespec ts = { t / 1000, (t % 1000) * 1000000L };

			r = zio_real.ppoll(all, n + (nfds_t)xs.nq, t < 0 ? NULL : &ts, mask);
		} else {
			r = zio_real.poll(all, n + (nfds_t)xs.nq, t);
		}
		if (r < 0)
			return r;
		ready = 0;
		for (nfds_t i = 0; i < n; i++) {
			fds[i].revents = all[i].revents;
			ready += fds[i].revents != 0;
		}
		for (int i = 0; i < xs.nq; i++)
			ring |= all[n + (nfds_t)i].revents != 0;
		if (ring) {
			xs_lock();
			xs_pull_all();
			ready += mark_ready(fds, n);
			xs_unlock();
		}
		if (ready || r == 0 || remaining_ms(timeout, start) == 0)
			return ready;
	}
}

/* select over served fds: the same wait, through poll.  Returns what
 * select returns. */
ZIO_HIDDEN int zio_xsk_select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, int timeout,
		     const sigset_t *mask)
{
	struct pollfd p[FD_SETSIZE];
	nfds_t n = 0;
	int r, count = 0;

	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++) {
		short ev = 0;

		if (rd && FD_ISSET(fd, rd))
			ev |= POLLIN;
		if (wr && FD_ISSET(fd, wr))
			ev |= POLLOUT;
		if (ex && FD_ISSET(fd, ex))
			ev |= POLLPRI;
		if (ev)
			p[n++] = (struct pollfd){ .fd = fd, .events = ev };
	}
	r = zio_xsk_poll(p, n, timeout, mask);
	if (r < 0)
		return r;
	if (rd)
		FD_ZERO(rd);
	if (wr)
		FD_ZERO(wr);
	if (ex)
		FD_ZERO(ex);
	for (nfds_t i = 0; i < n; i++) {
		if (rd && (p[i].revents & (POLLIN | POLLHUP | POLLERR)) && (p[i].events & POLLIN)) {
			FD_SET(p[i].fd, rd);
			count++;
		}
		if (wr && (p[i].revents & (POLLOUT | POLLERR)) && (p[i].events & POLLOUT)) {
			FD_SET(p[i].fd, wr);
			count++;
		}
		if (ex && (p[i].revents & POLLPRI)) {
			FD_SET(p[i].fd, ex);
			count++;
		}
	}
	return count;
}

/* Does the read set hold a served fd? */
ZIO_HIDDEN bool zio_xsk_select_served(int nfds, fd_set *rd)
{
	if (!rd)
		return false;
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if (FD_ISSET(fd, rd) && xs_sock_of(fd))
			return true;
	return false;
}

/* epoll: the rings' fds sit in the program's epoll set under a magic
 * data value; their events become the served sockets' EPOLLIN. */
static int ep_find(int epfd)
{
	for (int e = 0; e < neps; e++)
		if (eps[e].epfd == epfd)
			return e;
	return -1;
}

/* epoll_ctl(epfd, op, fd) succeeded: follow a served fd's registration,
 * and put the rings' fds into epfd. */
ZIO_HIDDEN void zio_xsk_epoll_ctl_done(int epfd, int op, int fd, struct epoll_event *ev)
{
	int e;

	if (!xs_sock_of(fd))
		return;
	xs_lock();
	e = ep_find(epfd);
	if (e < 0 && op == EPOLL_CTL_ADD && neps < XS_MAX_EPFD) {
		e = neps++;
		eps[e].epfd = epfd;
		eps[e].n = 0;
		eps[e].xsk_in = false;
	}
	if (e >= 0) {
		int i;

		for (i = 0; i < eps[e].n && eps[e].r[i].fd != fd; i++)
			;
		if (op == EPOLL_CTL_DEL) {
			if (i < eps[e].n)
				eps[e].r[i] = eps[e].r[--eps[e].n];
		} else if (ev) {
			if (i == eps[e].n && i < XS_MAX_EPREG)
				eps[e].n++;
			if (i < eps[e].n)
				eps[e].r[i] = (struct epreg){ fd, ev->events, ev->data.u64, true };
		}
		if (eps[e].n && !eps[e].xsk_in) {
			for (int q = 0; q < xs.nq; q++) {
				struct epoll_event xe = { .events = EPOLLIN,
							  .data.u64 = XS_EPOLL_MAGIC + (uint64_t)q };

				zio_real.epoll_ctl(epfd, EPOLL_CTL_ADD, xs.q[q].fd, &xe);
			}
			eps[e].xsk_in = true;
		}
	}
	xs_unlock();
}

/* Served, armed registrations of eps[e] with a backlog join evs.  Lock
 * held.  Returns the new count. */
static int ep_merge(int e, struct epoll_event *evs, int n, int max)
{
	for (int i = 0; i < eps[e].n; i++) {
		struct epreg *g = &eps[e].r[i];
		struct xs_sock *s = xs_sock_of(g->fd);
		int j;

		if (!s || !s->head || !g->armed || !(g->events & EPOLLIN))
			continue;
		for (j = 0; j < n && evs[j].data.u64 != g->data; j++)
			;
		if (j == n) {
			if (n == max)
				break;
			evs[n].events = 0;
			evs[n].data.u64 = g->data;
			n++;
		}
		evs[j].events |= EPOLLIN;
		if (g->events & EPOLLONESHOT)
			g->armed = false;
	}
	return n;
}

/* Drop our magic events; returns the count left, *ring if any was ours. */
static int ep_filter(struct epoll_event *evs, int n, bool *ring)
{
	int k = 0;

	for (int i = 0; i < n; i++) {
		if ((evs[i].data.u64 & ~0xffffULL) == XS_EPOLL_MAGIC) {
			*ring = true;
			continue;
		}
		evs[k++] = evs[i];
	}
	return k;
}

/* epoll_wait (epoll_pwait with mask) with served sockets' backlogs
 * merged in.  Returns what epoll_wait returns. */
ZIO_HIDDEN int zio_xsk_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout,
			 const sigset_t *mask)
{
	uint64_t start = zio_now_ns();

	for (;;) {
		int e, n, t = remaining_ms(timeout, start);
		bool ring = false, ready = false;

		xs_lock();
		e = ep_find(epfd);
		if (e >= 0) {
			xs_pull_all();
			for (int i = 0; i < eps[e].n; i++) {
				struct xs_sock *s = xs_sock_of(eps[e].r[i].fd);

				ready |= s && s->head && eps[e].r[i].armed &&
					 (eps[e].r[i].events & EPOLLIN);
			}
		}
		xs_unlock();
		if (e < 0)
			return mask ? zio_real.epoll_pwait(epfd, evs, max, timeout, mask)
				    : zio_real.epoll_wait(epfd, evs, max, timeout);
		n = mask ? zio_real.epoll_pwait(epfd, evs, max, ready ? 0 : t, mask)
			 : zio_real.epoll_wait(epfd, evs, max, ready ? 0 : t);
		if (n < 0)
			return n;
		n = ep_filter(evs, n, &ring);
		if (ready || ring) {
			xs_lock();
			e = ep_find(epfd);
			if (e >= 0) {
				xs_pull_all();
				n = ep_merge(e, evs, n, max);
			}
			xs_unlock();
		}
		if (n || remaining_ms(timeout, start) == 0)
			return n;
	}
}
