// SPDX-License-Identifier: MIT
/*
 * The one switchable logger of the runtime.  It formats into a stack
 * buffer and writes with a raw syscall: the interposed write() must never
 * be re-entered from inside the runtime, and malloc may be the caller.
 * Quiet by default; prefixes "zio: "; caps how many lines it prints so a
 * misbehaving program cannot be flooded by us.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zio_internal.h"

ZIO_HIDDEN int zio_log_level = ZIO_LOG_WARN;

#define ZIO_LOG_CAP 200
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
	zio_write_stderr(buf, (size_t)n);
	errno = saved;
}
