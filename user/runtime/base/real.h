/* SPDX-License-Identifier: MIT */
/*
 * The one table of libc's real functions (real.c), looked up once with
 * dlsym(RTLD_NEXT): the runtime calls libc only through it, or through
 * raw system calls, never through a symbol it exports itself (the build
 * checks: no jump slot of libzio.so names one of its own exports).
 */
#ifndef ZIO_BASE_REAL_H
#define ZIO_BASE_REAL_H

#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "base/defs.h"

struct epoll_event;
struct mmsghdr;
struct timespec;

struct zio_real {
	/* copies */
	void *(*memcpy)(void *, const void *, size_t);
	void *(*memmove)(void *, const void *, size_t);
	/* input */
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*pread)(int, void *, size_t, off_t);
	ssize_t (*preadv)(int, const struct iovec *, int, off_t);
	/* output */
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*pwrite)(int, const void *, size_t, off_t);
	ssize_t (*pwritev)(int, const struct iovec *, int, off_t);
	/* release */
	void (*free)(void *);
	void *(*malloc)(size_t);
	void *(*realloc)(void *, size_t);
	size_t (*malloc_usable_size)(void *);
	int (*munmap)(void *, size_t);
	void *(*mremap)(void *, size_t, size_t, int, ...);
	int (*madvise)(void *, size_t, int);
	/* process and signals */
	pid_t (*_Fork)(void);
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
	/* descriptors (the AF_XDP socket layer follows them) */
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	/* readiness */
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
		       const sigset_t *);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
};
extern struct zio_real zio_real;
/* 32-byte copies of 65-256 bytes in the memcpy interposer (x86-64) */
extern bool zio_have_avx2;
/* Resolve the table once (idempotent, thread-safe). */
void zio_real_init(void);
/* Copy without any interposition: libc's memmove once known, else a loop. */
void zio_raw_copy(void *dst, const void *src, size_t n);

#endif
