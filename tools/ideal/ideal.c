// SPDX-License-Identifier: MIT
/*
 * libideal.so: the same program with its large copies gone, to measure
 * what eliding them could give at most on this machine (the "ideal"
 * variant of tools/bench-apps.sh).  NOT SAFE, a measuring instrument:
 *
 *   LD_PRELOAD=build/tools/libideal.so PROGRAM ARGS
 *
 * A memcpy/memmove of IDEAL_THRESHOLD bytes or more (default 64 KiB)
 * copies nothing: it records that dst holds src's bytes.  An output
 * (write, writev, send, sendto, sendmsg) hands the kernel src's bytes for
 * a recorded dst, so the program still sends what it would have sent,
 * and the kernel reads them from where they are, as zio does, with no
 * page protection, index, policy or fault thread: no runtime cost.
 *
 * The copies it removes are the ones zio exists for: copies of data the
 * program only sends, or drops.  So when a source is about to change (a
 * copy, read or receive into it, free, realloc or munmap of it), the
 * records reading it are dropped, not copied: the program with the copy
 * gone would send the changed bytes, and a load that checks every byte
 * it gets back (tools/echo --verify, tools/redisload) fails the run
 * should the program send that destination again.  What it sees of the
 * destinations it keeps right, by copying for real then: a copy reading
 * one, a copy or receive overwriting one in part, realloc.  What it
 * cannot see it gets wrong: the program's own loads from a destination,
 * and its own stores into a source.  zio covers every case, with page
 * protection.  IDEAL_STATS=1 prints a line of counters at exit.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define MAX_RECS 256
#define MAX_IOV  1024

struct rec {
	uintptr_t dst, src;
	size_t len;
};

static struct rec recs[MAX_RECS];
static int nrecs;
static atomic_int live;          /* nrecs != 0, read without the lock */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static size_t threshold = 64 * 1024;

static struct {
	void *(*memcpy)(void *, const void *, size_t);
	void *(*memmove)(void *, const void *, size_t);
	void *(*memcpy_chk)(void *, const void *, size_t, size_t);
	void *(*memmove_chk)(void *, const void *, size_t, size_t);
	void (*free)(void *);
	void *(*realloc)(void *, size_t);
	size_t (*usable)(void *);
	int (*munmap)(void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
} real;

/* Before the constructor has found libc's copies (dlsym may copy). */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
static void byte_move(void *d, const void *s, size_t n)
{
	unsigned char *dd = d;
	const unsigned char *ss = s;

	if (dd < ss)
		for (size_t i = 0; i < n; i++)
			dd[i] = ss[i];
	else
		for (size_t i = n; i--;)
			dd[i] = ss[i];
}

static void move(void *d, const void *s, size_t n)
{
	if (real.memmove)
		real.memmove(d, s, n);
	else
		byte_move(d, s, n);
}

#define FIND(f) (real.f = dlsym(RTLD_NEXT, #f))

/* At load, or at the first call that needs libc's function if another
 * library's constructor comes first. */
__attribute__((constructor)) static void ideal_init(void)
{
	static atomic_bool once;
	const char *t;

	if (atomic_exchange(&once, true))
		return;
	t = getenv("IDEAL_THRESHOLD");

	if (t && *t) {
		char *end;
		unsigned long long v = strtoull(t, &end, 0);

		if (*end == 'K' || *end == 'k')
			v <<= 10;
		else if (*end == 'M' || *end == 'm')
			v <<= 20;
		if (v >= 4096)
			threshold = v;
	}
	FIND(free), FIND(realloc), FIND(munmap), FIND(write), FIND(writev), FIND(send);
	FIND(sendto), FIND(sendmsg), FIND(read), FIND(readv), FIND(recv), FIND(recvfrom);
	FIND(recvmsg);
	real.usable = dlsym(RTLD_NEXT, "malloc_usable_size");
	real.memcpy_chk = dlsym(RTLD_NEXT, "__memcpy_chk");
	real.memmove_chk = dlsym(RTLD_NEXT, "__memmove_chk");
	/* last: until both are found, copies go byte by byte, recorded never */
	FIND(memmove), FIND(memcpy);
}

static bool overlaps(uintptr_t a, size_t an, uintptr_t b, size_t bn)
{
	return a < b + bn && b < a + an;
}

static void drop(int i)
{
	recs[i] = recs[--nrecs];
	atomic_store_explicit(&live, nrecs, memory_order_relaxed);
}

static struct {
	atomic_ullong recorded, recorded_bytes, dropped, materialized, substituted;
} st;

/* Record i's copy made for real, and forgotten.  Lock held. */
static void materialize(int i)
{
	move((void *)recs[i].dst, (const void *)recs[i].src, recs[i].len);
	drop(i);
	st.materialized++;
}

/* [a, a+n) is about to change: records reading it as their source go
 * (see the top).  Lock held. */
static void source_changes(uintptr_t a, size_t n)
{
	for (int i = nrecs; i--;)
		if (overlaps(recs[i].src, recs[i].len, a, n)) {
			drop(i);
			st.dropped++;
		}
}

/*
 * [a, a+n) is about to change: records reading it as their source go;
 * records whose destination it is are copied (`keep`: the program keeps
 * the bytes there that it does not overwrite) or dropped (the memory is
 * going away).  Lock held.
 */
static void hazard(uintptr_t a, size_t n, bool keep)
{
	source_changes(a, n);
	for (int i = nrecs; i--;)
		if (overlaps(recs[i].dst, recs[i].len, a, n)) {
			if (keep)
				materialize(i);
			else
				drop(i);
		}
}

static void *copy(void *dst, const void *src, size_t n)
{
	uintptr_t d = (uintptr_t)dst, s = (uintptr_t)src;

	if (!real.memcpy || (n < threshold && !atomic_load_explicit(&live, memory_order_relaxed))) {
		move(dst, src, n);
		return dst;
	}
	pthread_mutex_lock(&mu);
	/* dst changes: records reading it go; a record it covers whole is
	 * replaced, one it covers in part is copied */
	source_changes(d, n);
	for (int i = nrecs; i--;)
		if (overlaps(recs[i].dst, recs[i].len, d, n)) {
			if (recs[i].dst >= d && recs[i].dst + recs[i].len <= d + n &&
			    n >= threshold && !overlaps(d, n, s, n))
				drop(i);
			else
				materialize(i);
		}
	/* src read: from the source of the record it lies in, whole */
	for (int i = nrecs; i--;)
		if (overlaps(recs[i].dst, recs[i].len, s, n)) {
			if (n >= threshold && s >= recs[i].dst &&
			    s + n <= recs[i].dst + recs[i].len) {
				s = recs[i].src + (s - recs[i].dst);
				break;
			}
			materialize(i);
		}
	if (n < threshold || overlaps(d, n, s, n) || nrecs == MAX_RECS) {
		move(dst, (const void *)s, n);
	} else {
		recs[nrecs++] = (struct rec){ d, s, n };
		atomic_store_explicit(&live, nrecs, memory_order_relaxed);
		st.recorded++;
		st.recorded_bytes += n;
	}
	pthread_mutex_unlock(&mu);
	return dst;
}

EXPORT void *memcpy(void *dst, const void *src, size_t n)
{
	return copy(dst, src, n);
}

EXPORT void *memmove(void *dst, const void *src, size_t n)
{
	return copy(dst, src, n);
}

/* An overflow goes to libc's own check, which ends the program. */
EXPORT void *__memcpy_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
	if (n > dstlen && real.memcpy_chk)
		return real.memcpy_chk(dst, src, n, dstlen);
	return copy(dst, src, n);
}

EXPORT void *__memmove_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
	if (n > dstlen && real.memmove_chk)
		return real.memmove_chk(dst, src, n, dstlen);
	return copy(dst, src, n);
}

/* ------------------------------------------------------------ memory */

static void mem_hazard(void *p, size_t n, bool keep)
{
	if (!p || !atomic_load_explicit(&live, memory_order_relaxed))
		return;
	pthread_mutex_lock(&mu);
	hazard((uintptr_t)p, n, keep);
	pthread_mutex_unlock(&mu);
}

/* A heap block's bytes are about to go (free) or move (realloc). */
static void block_hazard(void *p, bool keep)
{
	if (p && real.usable && atomic_load_explicit(&live, memory_order_relaxed))
		mem_hazard(p, real.usable(p), keep);
}

#define NEED(f) do { if (!real.f) ideal_init(); } while (0)

EXPORT void free(void *p)
{
	NEED(free);
	if (!real.free)
		return; /* while dlsym itself runs: a leak, not a crash */
	block_hazard(p, false);
	real.free(p);
}

EXPORT void *realloc(void *p, size_t n)
{
	NEED(realloc);
	block_hazard(p, true);
	return real.realloc(p, n);
}

EXPORT int munmap(void *p, size_t n)
{
	NEED(munmap);
	mem_hazard(p, n, false);
	return real.munmap(p, n);
}

/* ------------------------------------------------------------ input */

static void iov_hazard(const struct iovec *iov, int n)
{
	for (int i = 0; i < n; i++)
		mem_hazard(iov[i].iov_base, iov[i].iov_len, true);
}

EXPORT ssize_t read(int fd, void *b, size_t n)
{
	NEED(read);
	mem_hazard(b, n, true);
	return real.read(fd, b, n);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
	NEED(readv);
	iov_hazard(iov, n);
	return real.readv(fd, iov, n);
}

EXPORT ssize_t recv(int fd, void *b, size_t n, int flags)
{
	NEED(recv);
	mem_hazard(b, n, true);
	return real.recv(fd, b, n, flags);
}

EXPORT ssize_t recvfrom(int fd, void *b, size_t n, int flags, struct sockaddr *a, socklen_t *al)
{
	NEED(recvfrom);
	mem_hazard(b, n, true);
	return real.recvfrom(fd, b, n, flags, a, al);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	NEED(recvmsg);
	iov_hazard(m->msg_iov, (int)m->msg_iovlen);
	return real.recvmsg(fd, m, flags);
}

/* ------------------------------------------------------------ output */

/*
 * The iovec to hand the kernel: recorded destinations replaced by their
 * sources.  Lock held.  Returns the entries, or -1 when they do not fit
 * (every record under the iovec is then copied for real, and the
 * program's own iovec goes out).
 */
static int substitute(const struct iovec *iov, int n, struct iovec *out)
{
	int k = 0;

	for (int i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)iov[i].iov_base;
		size_t len = iov[i].iov_len;

		while (len) {
			uintptr_t piece_src = a;
			size_t piece = len;

			for (int j = 0; j < nrecs; j++) {
				const struct rec *r = &recs[j];

				if (a >= r->dst && a < r->dst + r->len) {
					piece_src = r->src + (a - r->dst);
					if (piece > r->dst + r->len - a)
						piece = r->dst + r->len - a;
					break;
				}
				/* plain bytes up to the next record */
				if (r->dst > a && r->dst < a + piece)
					piece = r->dst - a;
			}
			if (k == MAX_IOV)
				return -1;
			out[k++] = (struct iovec){ (void *)piece_src, piece };
			a += piece;
			len -= piece;
		}
	}
	return k;
}

/*
 * Send iov through sendmsg (a socket) or writev, substituted.  The kernel
 * reads the sources after the lock is let go, so that a blocking send
 * does not stop the program's other threads: one of them changing a
 * source meanwhile would make this send carry the changed bytes (the
 * load's check would tell; the programs measured here do not).
 */
static ssize_t output(int fd, const struct iovec *iov, int n, const struct msghdr *m,
		      int flags, bool sock)
{
	static __thread struct iovec out[MAX_IOV];
	struct msghdr mm = { 0 };
	const struct iovec *v = out;
	int k;

	pthread_mutex_lock(&mu);
	k = substitute(iov, n, out);
	if (k < 0) {
		/* the program's own iovec, its bytes made real */
		for (int i = 0; i < n; i++)
			for (int j = nrecs; j--;)
				if (overlaps((uintptr_t)iov[i].iov_base, iov[i].iov_len, recs[j].dst,
					     recs[j].len))
					materialize(j);
		v = iov;
		k = n;
	} else {
		st.substituted++;
	}
	pthread_mutex_unlock(&mu);
	if (!sock)
		return real.writev(fd, v, k);
	if (m)
		mm = *m;
	mm.msg_iov = (struct iovec *)v;
	mm.msg_iovlen = (size_t)k;
	return real.sendmsg(fd, &mm, flags);
}

static bool any_rec(const struct iovec *iov, int n)
{
	if (!atomic_load_explicit(&live, memory_order_relaxed))
		return false;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < nrecs; j++)
			if (overlaps((uintptr_t)iov[i].iov_base, iov[i].iov_len, recs[j].dst,
				     recs[j].len)) {
				pthread_mutex_unlock(&mu);
				return true;
			}
	pthread_mutex_unlock(&mu);
	return false;
}

EXPORT ssize_t write(int fd, const void *b, size_t n)
{
	struct iovec v = { (void *)b, n };

	NEED(write);
	return any_rec(&v, 1) ? output(fd, &v, 1, NULL, 0, false) : real.write(fd, b, n);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
	NEED(writev);
	return any_rec(iov, n) ? output(fd, iov, n, NULL, 0, false) : real.writev(fd, iov, n);
}

EXPORT ssize_t send(int fd, const void *b, size_t n, int flags)
{
	struct iovec v = { (void *)b, n };

	NEED(send);
	return any_rec(&v, 1) ? output(fd, &v, 1, NULL, flags, true) : real.send(fd, b, n, flags);
}

EXPORT ssize_t sendto(int fd, const void *b, size_t n, int flags, const struct sockaddr *a,
		      socklen_t al)
{
	struct iovec v = { (void *)b, n };
	struct msghdr m = { .msg_name = (void *)a, .msg_namelen = al };

	NEED(sendto);
	return any_rec(&v, 1) ? output(fd, &v, 1, &m, flags, true) :
				real.sendto(fd, b, n, flags, a, al);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	NEED(sendmsg);
	return any_rec(m->msg_iov, (int)m->msg_iovlen) ?
		       output(fd, m->msg_iov, (int)m->msg_iovlen, m, flags, true) :
		       real.sendmsg(fd, m, flags);
}

__attribute__((destructor)) static void ideal_fini(void)
{
	const char *e = getenv("IDEAL_STATS");
	char line[256];
	int n;

	if (!e || !*e || *e == '0' || !real.write)
		return;
	n = snprintf(line, sizeof(line),
		     "ideal: pid=%d recorded=%llu recorded_bytes=%llu dropped=%llu materialized=%llu outputs_substituted=%llu\n",
		     (int)getpid(), st.recorded, st.recorded_bytes, st.dropped, st.materialized,
		     st.substituted);
	if (n > 0)
		(void)!real.write(2, line, (size_t)n);
}
