/* SPDX-License-Identifier: MIT */
/*
 * The one switchable logger (log.c): quiet by default, "zio: " prefix, a
 * cap on lines, raw write(2) to stderr or ZIO_LOG_FILE; never malloc,
 * never the interposed write.
 */
#ifndef ZIO_BASE_LOG_H
#define ZIO_BASE_LOG_H

#include "base/defs.h"

enum { ZIO_LOG_QUIET, ZIO_LOG_WARN, ZIO_LOG_INFO, ZIO_LOG_DEBUG };
extern int zio_log_level;
void zio_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define pr_warn(...)  do { if (zio_log_level >= ZIO_LOG_WARN)  zio_log(ZIO_LOG_WARN, __VA_ARGS__); } while (0)
#define pr_info(...)  do { if (zio_log_level >= ZIO_LOG_INFO)  zio_log(ZIO_LOG_INFO, __VA_ARGS__); } while (0)
#define pr_debug(...) do { if (zio_log_level >= ZIO_LOG_DEBUG) zio_log(ZIO_LOG_DEBUG, __VA_ARGS__); } while (0)
/*
 * The debug trace (ZIO_LOG=3): one line per decision of the data path --
 * which input made which original, which copy aliased what, which retire,
 * redirect, fault or drop ran on which thread.  Off by default; the test
 * is one predictable branch, and the small-copy fast path never reaches
 * a call site.  Lines carry the thread id and a timestamp, go to
 * ZIO_LOG_FILE when set (else stderr), and are rate-limited
 * (ZIO_LOG_RATE lines a second, 0: unlimited), with the number left out
 * said in the next line that passes.
 */
void zio_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define pr_trace(...) do { if (unlikely(zio_log_level >= ZIO_LOG_DEBUG)) zio_trace(__VA_ARGS__); } while (0)
/* Send log lines to path (ZIO_LOG_FILE; "%p" is the pid) from now on;
 * on failure they stay on stderr, with one warning. */
void zio_log_open(const char *path);
extern uint64_t zio_log_rate;
/* Write a string to stderr with a raw syscall (never the interposed write). */
void zio_write_stderr(const char *s, size_t n);
/* snprintf into a caller buffer without touching malloc; returns what
 * snprintf returns. */
int zio_snprintf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
