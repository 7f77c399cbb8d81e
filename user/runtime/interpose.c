// SPDX-License-Identifier: MIT
/*
 * Every libc entry point libzio.so overrides, in one file (the layout of
 * mimalloc's alloc-override.c).  Each one is a thin gate: the common case
 * (small sizes, no IO data anywhere, elision off, or a call made by the
 * runtime itself) goes straight to libc; the rest forwards to the room of
 * the data path it belongs to (path/), to the AF_XDP socket layer
 * (xsk/hooks.h) or to the signal wrapper (base/signal.c).  errno is left
 * exactly as libc leaves it.  A gate that needs another gate (realloc's
 * copy, the fortified variants) calls its inline body, never the exported
 * symbol: the runtime calls nothing it exports.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/options.h"
#include "base/real.h"
#include "base/smallcopy.h"
#include "mech/policy.h"
#include "mech/state.h"
#include "path/copy.h"
#include "path/fork.h"
#include "path/input.h"
#include "path/output.h"
#include "path/release.h"
#include "xsk/hooks.h"

#define EXPORT __attribute__((visibility("default")))
#define SITE ((uintptr_t)__builtin_return_address(0))

extern void __chk_fail(void) __attribute__((noreturn));

/* The libc table is filled by the constructor; a call that arrives
 * earlier (another library's constructor) resolves it here, unless it
 * comes from inside the resolution itself. */
static void early_init(void)
{
	if (zio_in_runtime)
		return;
	zio_in_runtime++;
	zio_real_init();
	zio_in_runtime--;
}
#define NEED(fn) do { if (unlikely(!zio_real.fn)) early_init(); } while (0)

static inline bool copy_plain(size_t n)
{
	return likely(n < zio_opt.threshold) ||
	       (!atomic_load_explicit(&zio_live_regions, memory_order_relaxed) &&
		!atomic_load_explicit(&zio_lazy_live, memory_order_relaxed)) ||
	       !atomic_load_explicit(&zio_active, memory_order_relaxed) || zio_in_runtime;
}

static inline bool input_plain(size_t n)
{
	return n < zio_opt.input_min ||
	       !atomic_load_explicit(&zio_active, memory_order_relaxed) || zio_in_runtime;
}

static inline bool output_plain(size_t n)
{
	/* Shorter outputs may still cover part of an alias page; the kernel
	 * then faults it in through our thread, which is correct. */
	return n < 2048 || !atomic_load_explicit(&zio_live_aliases, memory_order_relaxed) ||
	       zio_in_runtime;
}

static inline bool release_plain(void)
{
	return likely(!atomic_load_explicit(&zio_live_regions, memory_order_relaxed)) ||
	       zio_in_runtime;
}

/* munmap and madvise also drop the policy's notes of input (policy.c). */
static inline bool unmap_plain(void)
{
	return (likely(!atomic_load_explicit(&zio_live_regions, memory_order_relaxed)) &&
		likely(!atomic_load_explicit(&zio_lazy_live, memory_order_relaxed))) ||
	       zio_in_runtime;
}

/* ------------------------------------------------------------ copies */

/* Above the small sizes: libc, unless the copy may be of IO data. */
static inline __attribute__((always_inline)) void *copy_gate(void *d, const void *s, size_t n,
							      bool is_move, uintptr_t site)
{
	if (likely(copy_plain(n))) {
		void *(*f)(void *, const void *, size_t) = is_move ? zio_real.memmove
								   : zio_real.memcpy;

		if (likely(f != NULL))
			return f(d, s, n);
		zio_raw_copy(d, s, n);
		return d;
	}
	return zio_copy(d, s, n, is_move, site);
}

static inline __attribute__((always_inline)) void *memcpy_gate(void *d, const void *s, size_t n,
								  uintptr_t site)
{
	if (n > 32 && n <= 256 && copy_le256(d, s, n))
		return d;
	if (likely(n <= 64)) {
		copy_le64(d, s, n);
		return d;
	}
	return copy_gate(d, s, n, false, site);
}

EXPORT __attribute__((aligned(64))) void *memcpy(void *restrict d, const void *restrict s, size_t n)
{
	return memcpy_gate(d, s, n, SITE);
}

EXPORT __attribute__((aligned(64))) void *memmove(void *d, const void *s, size_t n)
{
	if (n > 32 && n <= 256 && copy_le256(d, s, n))
		return d;
	if (likely(n <= 64)) {
		copy_le64(d, s, n);
		return d;
	}
	return copy_gate(d, s, n, true, SITE);
}

EXPORT void *mempcpy(void *restrict d, const void *restrict s, size_t n)
{
	return (char *)copy_gate(d, s, n, false, SITE) + n;
}

/* Fortified variants (-D_FORTIFY_SOURCE builds, as Debian's are). */
EXPORT void *__memcpy_chk(void *restrict d, const void *restrict s, size_t n, size_t dlen)
{
	if (unlikely(n > dlen))
		__chk_fail();
	return copy_gate(d, s, n, false, SITE);
}

EXPORT void *__memmove_chk(void *d, const void *s, size_t n, size_t dlen)
{
	if (unlikely(n > dlen))
		__chk_fail();
	return copy_gate(d, s, n, true, SITE);
}

EXPORT void *__mempcpy_chk(void *restrict d, const void *restrict s, size_t n, size_t dlen)
{
	if (unlikely(n > dlen))
		__chk_fail();
	return (char *)copy_gate(d, s, n, false, SITE) + n;
}

/* ------------------------------------------------------------ AF_XDP */

/* Descriptors served from AF_XDP rings never reach the kernel socket. */
static inline bool xsk_in(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
			  socklen_t *alen, uintptr_t site, ssize_t *ret)
{
	struct iovec iov = { buf, len };
	struct msghdr m = { .msg_name = addr, .msg_namelen = alen ? *alen : 0,
			    .msg_iov = &iov, .msg_iovlen = 1 };

	if (likely(!atomic_load_explicit(&zio_xsk_enabled, memory_order_relaxed)))
		return false;
	if (!zio_xsk_recvmsg(fd, &m, flags, site, ret))
		return false;
	if (alen && *ret >= 0)
		*alen = m.msg_namelen;
	return true;
}

static inline bool xsk_out(int fd, const void *buf, size_t len, int flags,
			   const struct sockaddr *to, socklen_t tolen, ssize_t *ret)
{
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_name = (void *)to, .msg_namelen = tolen,
			    .msg_iov = &iov, .msg_iovlen = 1 };

	if (likely(!atomic_load_explicit(&zio_xsk_enabled, memory_order_relaxed)))
		return false;
	return zio_xsk_sendmsg(fd, &m, flags, ret);
}

#define XSK_ENABLED() unlikely(atomic_load_explicit(&zio_xsk_enabled, memory_order_relaxed))

/* ------------------------------------------------------------ input */

struct in_ctx {
	int kind, fd, flags, iovcnt;
	void *buf;
	size_t len;
	struct sockaddr *addr;
	socklen_t *alen;
	struct msghdr *msg;
	const struct iovec *iov;
	off_t off;
};

enum { IN_RECV, IN_RECVFROM, IN_RECVMSG, IN_READ, IN_READV, IN_PREAD, IN_PREADV };

static ssize_t in_call(void *p)
{
	struct in_ctx *c = p;

	switch (c->kind) {
	case IN_RECV:     return zio_real.recv(c->fd, c->buf, c->len, c->flags);
	case IN_RECVFROM: return zio_real.recvfrom(c->fd, c->buf, c->len, c->flags, c->addr, c->alen);
	case IN_RECVMSG:  return zio_real.recvmsg(c->fd, c->msg, c->flags);
	case IN_READ:     return zio_real.read(c->fd, c->buf, c->len);
	case IN_READV:    return zio_real.readv(c->fd, c->iov, c->iovcnt);
	case IN_PREAD:    return zio_real.pread(c->fd, c->buf, c->len, c->off);
	case IN_PREADV:   return zio_real.preadv(c->fd, c->iov, c->iovcnt, c->off);
	}
	errno = EINVAL;
	return -1;
}

static ssize_t in_one(struct in_ctx *c, uintptr_t site)
{
	struct iovec iov = { c->buf, c->len };

	/* recv, recvfrom and read can be pointed at another buffer */
	return zio_input(c->fd, &iov, 1, site, in_call, c,
			 c->kind == IN_PREAD ? NULL : &c->buf, c->off, c->kind == IN_PREAD, c->flags);
}

static inline __attribute__((always_inline)) ssize_t recv_gate(int fd, void *buf, size_t len,
								 int flags, uintptr_t site)
{
	ssize_t xr;

	NEED(recv);
	if (xsk_in(fd, buf, len, flags, NULL, NULL, site, &xr))
		return xr;
	if (input_plain(len))
		return zio_real.recv(fd, buf, len, flags);
	return in_one(&(struct in_ctx){ .kind = IN_RECV, .fd = fd, .buf = buf, .len = len,
					 .flags = flags }, site);
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	return recv_gate(fd, buf, len, flags, SITE);
}

static inline __attribute__((always_inline)) ssize_t recvfrom_gate(int fd, void *buf, size_t len,
	int flags, struct sockaddr *addr, socklen_t *alen, uintptr_t site)
{
	ssize_t xr;

	NEED(recvfrom);
	if (xsk_in(fd, buf, len, flags, addr, alen, site, &xr))
		return xr;
	if (input_plain(len))
		return zio_real.recvfrom(fd, buf, len, flags, addr, alen);
	return in_one(&(struct in_ctx){ .kind = IN_RECVFROM, .fd = fd, .buf = buf, .len = len,
					 .flags = flags, .addr = addr, .alen = alen }, site);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
			socklen_t *alen)
{
	return recvfrom_gate(fd, buf, len, flags, addr, alen, SITE);
}

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t xr;

	NEED(recvmsg);
	if (XSK_ENABLED() && msg && zio_xsk_recvmsg(fd, msg, flags, SITE, &xr))
		return xr;
	if (!msg || msg->msg_iovlen > 1024 || input_plain(iov_total(msg->msg_iov, (int)msg->msg_iovlen)))
		return zio_real.recvmsg(fd, msg, flags);
	return zio_input(fd, msg->msg_iov, (int)msg->msg_iovlen, SITE, in_call,
			 &(struct in_ctx){ .kind = IN_RECVMSG, .fd = fd, .msg = msg, .flags = flags },
			 NULL, 0, false, flags);
}

static inline __attribute__((always_inline)) ssize_t read_gate(int fd, void *buf, size_t len,
								 uintptr_t site)
{
	ssize_t xr;

	NEED(read);
	if (xsk_in(fd, buf, len, 0, NULL, NULL, site, &xr))
		return xr;
	if (unlikely(!zio_real.read))
		return syscall(SYS_read, fd, buf, len);
	if (input_plain(len))
		return zio_real.read(fd, buf, len);
	return in_one(&(struct in_ctx){ .kind = IN_READ, .fd = fd, .buf = buf, .len = len }, site);
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	return read_gate(fd, buf, len, SITE);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	NEED(readv);
	if (XSK_ENABLED() && iovcnt >= 0) {
		struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
		ssize_t xr;

		if (zio_xsk_recvmsg(fd, &m, 0, SITE, &xr))
			return xr;
	}
	if (iovcnt < 0 || iovcnt > 1024 || input_plain(iov_total(iov, iovcnt)))
		return zio_real.readv(fd, iov, iovcnt);
	return zio_input(fd, iov, iovcnt, SITE, in_call,
			 &(struct in_ctx){ .kind = IN_READV, .fd = fd, .iov = iov, .iovcnt = iovcnt },
			 NULL, 0, false, 0);
}

static inline __attribute__((always_inline)) ssize_t pread_gate(int fd, void *buf, size_t len,
								  off_t off, uintptr_t site)
{
	NEED(pread);
	if (input_plain(len))
		return zio_real.pread(fd, buf, len, off);
	return in_one(&(struct in_ctx){ .kind = IN_PREAD, .fd = fd, .buf = buf, .len = len,
					 .off = off }, site);
}

EXPORT ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	return pread_gate(fd, buf, len, off, SITE);
}
EXPORT ssize_t pread64(int fd, void *buf, size_t len, off_t off) __attribute__((alias("pread")));

EXPORT ssize_t preadv(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	NEED(preadv);
	if (iovcnt < 0 || iovcnt > 1024 || input_plain(iov_total(iov, iovcnt)))
		return zio_real.preadv(fd, iov, iovcnt, off);
	return zio_input(fd, iov, iovcnt, SITE, in_call,
			 &(struct in_ctx){ .kind = IN_PREADV, .fd = fd, .iov = iov,
					   .iovcnt = iovcnt, .off = off }, NULL, off, true, 0);
}
EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int iovcnt, off_t off)
	__attribute__((alias("preadv")));

/* Fortified variants (-D_FORTIFY_SOURCE builds, as Debian's are): the
 * program's call site is theirs, not ours. */
EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		__chk_fail();
	return read_gate(fd, buf, len, SITE);
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen)
		__chk_fail();
	return recv_gate(fd, buf, len, flags, SITE);
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
			      struct sockaddr *addr, socklen_t *alen)
{
	if (len > buflen)
		__chk_fail();
	return recvfrom_gate(fd, buf, len, flags, addr, alen, SITE);
}

EXPORT ssize_t __pread_chk(int fd, void *buf, size_t len, off_t off, size_t buflen)
{
	if (len > buflen)
		__chk_fail();
	return pread_gate(fd, buf, len, off, SITE);
}
EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t len, off_t off, size_t buflen)
	__attribute__((alias("__pread_chk")));

/* ------------------------------------------------------------ output */

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	ssize_t xr;

	NEED(send);
	if (xsk_out(fd, buf, len, flags, NULL, 0, &xr))
		return xr;
	if (output_plain(len))
		return zio_real.send(fd, buf, len, flags);
	return zio_output(ZIO_OUT_SEND, fd, &(struct iovec){ (void *)buf, len }, 1, flags,
			  NULL, 0, NULL, 0);
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *to, socklen_t tolen)
{
	ssize_t xr;

	NEED(sendto);
	if (xsk_out(fd, buf, len, flags, to, tolen, &xr))
		return xr;
	if (output_plain(len))
		return zio_real.sendto(fd, buf, len, flags, to, tolen);
	return zio_output(ZIO_OUT_SENDTO, fd, &(struct iovec){ (void *)buf, len }, 1, flags,
			  to, tolen, NULL, 0);
}

static inline __attribute__((always_inline)) ssize_t sendmsg_gate(int fd, const struct msghdr *msg,
								    int flags)
{
	ssize_t xr;

	NEED(sendmsg);
	if (XSK_ENABLED() && msg && zio_xsk_sendmsg(fd, msg, flags, &xr))
		return xr;
	if (!msg || msg->msg_iovlen > 1024 ||
	    output_plain(iov_total(msg->msg_iov, (int)msg->msg_iovlen)))
		return zio_real.sendmsg(fd, msg, flags);
	return zio_output(ZIO_OUT_SENDMSG, fd, msg->msg_iov, (int)msg->msg_iovlen, flags,
			  NULL, 0, msg, 0);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return sendmsg_gate(fd, msg, flags);
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	ssize_t xr;

	NEED(write);
	if (xsk_out(fd, buf, len, 0, NULL, 0, &xr))
		return xr;
	if (unlikely(!zio_real.write))
		return syscall(SYS_write, fd, buf, len);
	if (output_plain(len))
		return zio_real.write(fd, buf, len);
	return zio_output(ZIO_OUT_WRITE, fd, &(struct iovec){ (void *)buf, len }, 1, 0,
			  NULL, 0, NULL, 0);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	NEED(writev);
	if (XSK_ENABLED() && iovcnt >= 0) {
		struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
		ssize_t xr;

		if (zio_xsk_sendmsg(fd, &m, 0, &xr))
			return xr;
	}
	if (iovcnt < 0 || iovcnt > 1024 || output_plain(iov_total(iov, iovcnt)))
		return zio_real.writev(fd, iov, iovcnt);
	return zio_output(ZIO_OUT_WRITEV, fd, iov, iovcnt, 0, NULL, 0, NULL, 0);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	NEED(pwrite);
	if (output_plain(len))
		return zio_real.pwrite(fd, buf, len, off);
	return zio_output(ZIO_OUT_PWRITE, fd, &(struct iovec){ (void *)buf, len }, 1, 0,
			  NULL, 0, NULL, off);
}
EXPORT ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
	__attribute__((alias("pwrite")));

EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	NEED(pwritev);
	if (iovcnt < 0 || iovcnt > 1024 || output_plain(iov_total(iov, iovcnt)))
		return zio_real.pwritev(fd, iov, iovcnt, off);
	return zio_output(ZIO_OUT_PWRITEV, fd, iov, iovcnt, 0, NULL, 0, NULL, off);
}
EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off_t off)
	__attribute__((alias("pwritev")));

/* ------------------------------------------------------------ release */

static inline __attribute__((always_inline)) void free_gate(void *p)
{
	size_t n;

	if (!p)
		return;
	NEED(free);
	if (unlikely(!zio_real.free))
		return; /* only while resolving libc itself: leak, never crash */
	if ((likely(release_plain()) &&
	     likely(!atomic_load_explicit(&zio_lazy_live, memory_order_relaxed))) ||
	    zio_in_runtime || !zio_real.malloc_usable_size) {
		zio_real.free(p);
		return;
	}
	n = zio_real.malloc_usable_size(p);
	if (n >= ZIO_PAGE) {
		zio_release_forget_noted(p, n);
		if (!release_plain())
			zio_release(p, n, ZIO_PREP_RELEASE, false);
	}
	zio_real.free(p);
}

EXPORT void free(void *p)
{
	free_gate(p);
}

EXPORT void *realloc(void *p, size_t n)
{
	size_t old;
	void *q;

	NEED(realloc);
	if (!p || release_plain() || !zio_real.malloc_usable_size)
		return zio_real.realloc(p, n);
	old = zio_real.malloc_usable_size(p);
	if (old < ZIO_PAGE || !zio_release_holds_regions(p, old))
		return zio_real.realloc(p, n);
	if (!n) {
		free_gate(p);
		return NULL;
	}
	/* libc would copy internally, reading every alias page through a
	 * fault: do the move ourselves, so the copy can be elided. */
	q = zio_real.malloc(n);
	if (!q)
		return NULL;
	memcpy_gate(q, p, old < n ? old : n, SITE);
	free_gate(p);
	return q;
}

EXPORT int munmap(void *p, size_t n)
{
	NEED(munmap);
	if (!unmap_plain())
		zio_release(p, n, ZIO_PREP_UNMAP, true);
	return zio_real.munmap(p, n);
}

EXPORT int madvise(void *p, size_t n, int advice)
{
	NEED(madvise);
	if ((advice == MADV_DONTNEED || advice == MADV_FREE || advice == MADV_REMOVE ||
	     advice == 24 /* MADV_DONTNEED_LOCKED */) && !unmap_plain())
		zio_release(p, n, ZIO_PREP_UNMAP, false);
	return zio_real.madvise(p, n, advice);
}

EXPORT void *mremap(void *old, size_t oldlen, size_t newlen, int flags, ...)
{
	void *newp = NULL;

	NEED(mremap);
	if (flags & MREMAP_FIXED) {
		va_list ap;

		va_start(ap, flags);
		newp = va_arg(ap, void *);
		va_end(ap);
	}
	/* Aliases and originals in the range get their bytes; a range we
	 * registered (even with nothing left in it) is unregistered, since
	 * registration split it into VMAs that mremap cannot span. */
	if (atomic_load_explicit(&zio_active, memory_order_relaxed) && !zio_in_runtime &&
	    zio_release_for_remap(old, oldlen)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return zio_real.mremap(old, oldlen, newlen, flags, newp);
}

/* ------------------------------------------------------------ fork */

/* fork() runs our pthread_atfork handlers; _Fork() (glibc >= 2.34) runs
 * none, so it gets the same treatment here. */
EXPORT pid_t _Fork(void)
{
	pid_t pid;
	int e;

	NEED(_Fork);
	if (!zio_real._Fork) {
		errno = ENOSYS;
		return -1;
	}
	zio_fork_prepare();
	pid = zio_real._Fork();
	e = errno;
	if (pid == 0)
		zio_fork_child();
	else
		zio_fork_parent();
	errno = e;
	return pid;
}

/* ------------------------------------------------------------ signals */

/* The program's handlers are wrapped (base/signal.c): an asynchronous
 * signal that lands while its thread holds the runtime lock waits. */
EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return zio_signal_action(sig, act, old);
}

/* signal() and friends reach sigaction inside libc, past our symbol. */
EXPORT sighandler_t signal(int sig, sighandler_t h)
{
	return zio_signal_install(sig, h, SA_RESTART);       /* BSD semantics, as glibc */
}

EXPORT sighandler_t bsd_signal(int sig, sighandler_t h)
{
	return zio_signal_install(sig, h, SA_RESTART);
}

EXPORT sighandler_t sysv_signal(int sig, sighandler_t h)
{
	return zio_signal_install(sig, h, SA_RESETHAND | SA_NODEFER);
}

/* ------------------------------------------------------------ descriptors */

/* The AF_XDP socket layer follows which descriptors name a served
 * socket; without --xdp each of these is one load and libc. */

EXPORT int bind(int fd, const struct sockaddr *a, socklen_t alen)
{
	int r;

	NEED(bind);
	r = zio_real.bind(fd, a, alen);
	if (r == 0 && !zio_in_runtime)
		zio_xsk_bound(fd, a, alen);
	return r;
}

EXPORT int connect(int fd, const struct sockaddr *a, socklen_t alen)
{
	int r;

	NEED(connect);
	r = zio_real.connect(fd, a, alen);
	if (r == 0 && XSK_ENABLED())
		zio_xsk_connected(fd, a, alen);
	return r;
}

EXPORT int close(int fd)
{
	NEED(close);
	if (XSK_ENABLED())
		zio_xsk_closing(fd);
	if (unlikely(!zio_real.close))
		return (int)syscall(SYS_close, fd);
	return zio_real.close(fd);
}

static inline int dup_done(int old, int nfd)
{
	return XSK_ENABLED() ? zio_xsk_dup(old, nfd) : nfd;
}

EXPORT int dup(int fd)
{
	NEED(dup);
	return dup_done(fd, zio_real.dup(fd));
}

EXPORT int dup2(int fd, int nfd)
{
	NEED(dup2);
	return dup_done(fd, zio_real.dup2(fd, nfd));
}

EXPORT int dup3(int fd, int nfd, int flags)
{
	NEED(dup3);
	return dup_done(fd, zio_real.dup3(fd, nfd, flags));
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;
	int r;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	NEED(fcntl);
	r = zio_real.fcntl(fd, cmd, arg);
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		return dup_done(fd, r);
	return r;
}
EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	int v;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	NEED(ioctl);
	/* the size of a served socket's next datagram, as the kernel answers */
	if (req == FIONREAD && XSK_ENABLED() && arg && zio_xsk_fionread(fd, &v)) {
		*(int *)arg = v;
		return 0;
	}
	return zio_real.ioctl(fd, req, arg);
}

EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *t)
{
	int r;

	NEED(recvmmsg);
	if (XSK_ENABLED() && zio_xsk_recvmmsg(fd, v, n, flags, t, SITE, &r))
		return r;
	return zio_real.recvmmsg(fd, v, n, flags, t);
}

EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	unsigned int i;

	NEED(sendmmsg);
	if (likely(!XSK_ENABLED()) || !zio_xsk_served(fd))
		return zio_real.sendmmsg(fd, v, n, flags);
	/* datagram by datagram through our own sendmsg (ring or kernel) */
	for (i = 0; i < n; i++) {
		ssize_t r = sendmsg_gate(fd, &v[i].msg_hdr, flags);

		if (r < 0) {
			if (i)
				break;
			return -1;
		}
		v[i].msg_len = (unsigned int)r;
	}
	return (int)i;
}

/* ------------------------------------------------------------ readiness */

static inline __attribute__((always_inline)) int poll_gate(struct pollfd *fds, nfds_t n,
							   int timeout)
{
	NEED(poll);
	if (likely(!XSK_ENABLED()) || !zio_xsk_poll_served(fds, n))
		return zio_real.poll(fds, n, timeout);
	return zio_xsk_poll(fds, n, timeout, NULL);
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return poll_gate(fds, n, timeout);
}

static inline __attribute__((always_inline)) int ppoll_gate(struct pollfd *fds, nfds_t n,
							    const struct timespec *ts,
							    const sigset_t *mask)
{
	NEED(ppoll);
	if (likely(!XSK_ENABLED()) || !zio_xsk_poll_served(fds, n))
		return zio_real.ppoll(fds, n, ts, mask);
	return zio_xsk_poll(fds, n, ts ? (int)(ts->tv_sec * 1000 + ts->tv_nsec / 1000000) : -1,
			    mask);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	return ppoll_gate(fds, n, ts, mask);
}

/* Fortified callers (-D_FORTIFY_SOURCE) reach poll through these. */
EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return poll_gate(fds, n, timeout);
}

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		       const sigset_t *mask, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return ppoll_gate(fds, n, ts, mask);
}

EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	NEED(select);
	if (likely(!XSK_ENABLED()) || !zio_xsk_select_served(nfds, rd))
		return zio_real.select(nfds, rd, wr, ex, tv);
	return zio_xsk_select(nfds, rd, wr, ex,
			      tv ? (int)(tv->tv_sec * 1000 + tv->tv_usec / 1000) : -1, NULL);
}

EXPORT int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *ts,
		   const sigset_t *mask)
{
	NEED(pselect);
	if (likely(!XSK_ENABLED()) || !zio_xsk_select_served(nfds, rd))
		return zio_real.pselect(nfds, rd, wr, ex, ts, mask);
	return zio_xsk_select(nfds, rd, wr, ex,
			      ts ? (int)(ts->tv_sec * 1000 + ts->tv_nsec / 1000000) : -1, mask);
}

EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	int r;

	NEED(epoll_ctl);
	r = zio_real.epoll_ctl(epfd, op, fd, ev);
	if (r == 0 && XSK_ENABLED())
		zio_xsk_epoll_ctl_done(epfd, op, fd, ev);
	return r;
}

EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	NEED(epoll_wait);
	if (likely(!XSK_ENABLED()))
		return zio_real.epoll_wait(epfd, evs, max, timeout);
	return zio_xsk_epoll_wait(epfd, evs, max, timeout, NULL);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout,
		       const sigset_t *mask)
{
	NEED(epoll_pwait);
	if (likely(!XSK_ENABLED()))
		return zio_real.epoll_pwait(epfd, evs, max, timeout, mask);
	return zio_xsk_epoll_wait(epfd, evs, max, timeout, mask);
}
