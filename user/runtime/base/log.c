// SPDX-License-Identifier: MIT
/*
 * The one switchable logger of the runtime.  It formats into a stack
 * buffer and writes with a raw syscall: the interposed write() must never
 * be re-entered from inside the runtime, and malloc may be the caller.
 * Quiet by default; prefixes "zio: "; caps how many lines it prints so a
 * misbehaving program cannot be flooded by us.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

ZIO_HIDDEN int zio_log_level = ZIO_LOG_WARN;

#define ZIO_LOG_CAP 200
static void log_out(const char *s, size_t n);
static _Atomic int zio_log_lines;

ZIO_HIDDEN void zio_write_stderr(const char *s, size_t n)
{
	while (n > 0) {
		long w = syscall(SYS_write, 2, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		s += w;
		n -= (size_t)w;
	}
}

ZIO_HIDDEN int zio_snprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n;
}

ZIO_HIDDEN void zio_log(int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n, saved = errno;

	if (level > zio_log_level)
		return;
	if (atomic_fetch_add(&zio_log_lines, 1) >= ZIO_LOG_CAP) {
		errno = saved;
		return;
	}
	n = zio_snprintf(buf, sizeof(buf), "zio: ");
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 2;
	if (buf[n - 1] != '\n')
		buf[n++] = '\n';
	log_out(buf, (size_t)n);
	errno = saved;
}

/* ------------------------------------------------------------ trace */

ZIO_HIDDEN uint64_t zio_log_rate = 2000;
static int log_fd = -1;               /* ZIO_LOG_FILE, or -1: stderr */
static __thread int trace_tid __attribute__((tls_model("initial-exec")));
static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t trace_sec, trace_in_sec, trace_dropped;

static void log_out(const char *s, size_t n)
{
	if (log_fd < 0) {
		zio_write_stderr(s, n);
		return;
	}
	while (n > 0) {
		long w = syscall(SYS_write, log_fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* "%p" in the path becomes the process id (a forking server's children
 * each get their own file); the file is appended to. */
ZIO_HIDDEN void zio_log_open(const char *path)
{
	char buf[512];
	size_t o = 0;

	if (!path || !*path)
		return;
	for (const char *p = path; *p && o < sizeof(buf) - 24; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			o += (size_t)zio_snprintf(buf + o, sizeof(buf) - o, "%ld",
						  (long)syscall(SYS_getpid));
			p++;
		} else {
			buf[o++] = *p;
		}
	}
	buf[o] = 0;
	log_fd = (int)syscall(SYS_openat, AT_FDCWD, buf,
			      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0)
		pr_warn("cannot open ZIO_LOG_FILE '%.200s': %s: logging to stderr", buf,
			strerror(errno));
}

ZIO_HIDDEN void zio_trace(const char *fmt, ...)
{
	struct timespec ts;
	char buf[768];
	uint64_t dropped = 0;
	va_list ap;
	int n, saved = errno;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (zio_log_rate) {
		bool pass;

		pthread_mutex_lock(&trace_lock);
		if ((uint64_t)ts.tv_sec != trace_sec) {
			trace_sec = (uint64_t)ts.tv_sec;
			trace_in_sec = 0;
		}
		pass = trace_in_sec < zio_log_rate;
		if (pass) {
			trace_in_sec++;
			dropped = trace_dropped;
			trace_dropped = 0;
		} else {
			trace_dropped++;
		}
		pthread_mutex_unlock(&trace_lock);
		if (!pass) {
			errno = saved;
			return;
		}
	}
	if (!trace_tid)
		trace_tid = (int)syscall(SYS_gettid);
	n = zio_snprintf(buf, sizeof(buf), "zio %d %lld.%06ld ", trace_tid,
			 (long long)ts.tv_sec, ts.tv_nsec / 1000);
	if (dropped)
		n += zio_snprintf(buf + n, sizeof(buf) - (size_t)n, "(%llu lines left out) ",
				  (unsigned long long)dropped);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	log_out(buf, (size_t)n);
	errno = saved;
}
