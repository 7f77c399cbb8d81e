/* SPDX-License-Identifier: MIT */
/*
 * util.h - the helpers zio-run, zio-stat and zio-trace share, one copy
 * each: number parsing, JSON strings, the one printer (the tools' own
 * messages and libbpf's), the bpffs mount, and the reaper of stale pin
 * directories.
 *
 * Names: these are free functions, not objects, so they are zio_<what>
 * (zio_parse_long, zio_mount_bpffs, zio_reap_pins).  The modules beside
 * this one (steer, observe, trace, syms, stat) expose objects and name
 * their APIs zio_<object>__<verb> (zio_steer__load, zio_observe__attach,
 * zio_tracer__open, zio_syms__new), as bcc's trace_helpers.h
 * (ksyms__load) and xdp-tools' xdpsock.c (xsk_ctx__create) do; the zio_
 * prefix keeps them apart from the skeletons' <name>_bpf__<verb>.
 */
#ifndef ZIO_CLI_UTIL_H
#define ZIO_CLI_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <bpf/libbpf.h>

/* bpffs, and the root of every pin directory zio makes: <root>/<pid>/. */
#define ZIO_BPFFS    "/sys/fs/bpf"
#define ZIO_PIN_ROOT ZIO_BPFFS "/zio"

/* ---------------------------------------------------------------- numbers */

/*
 * Parses a decimal long in [min, max] (errno = 0, strtol, range check).
 * Returns 0 and stores it in *out, -EINVAL when s is not a number (or has
 * trailing characters), -ERANGE when it is out of range.
 */
int zio_parse_long(const char *s, long min, long max, long *out);

/*
 * Parses a byte count: decimal digits with an optional K, M or G suffix
 * (powers of 1024; the grammar of include/zio_parse.h, as the runtime
 * reads ZIO_* values) in [min, max].  Returns 0 and stores
 * it in *out, -EINVAL when s is not a byte count, -ERANGE when out of range.
 */
int zio_parse_bytes(const char *s, long long min, long long max, long long *out);

/* setenv(name, v in decimal, overwrite).  Returns 0, or -1 with errno. */
int zio_setenv_ll(const char *name, long long v);

/* ---------------------------------------------------------------- output */

/* Prints s on stdout as a JSON string (quotes, \\ and control characters
 * escaped).  Returns nothing: stdout's errors show at fflush. */
void zio_print_json_str(const char *s);

/* Milliseconds of CLOCK_MONOTONIC.  Cannot fail. */
uint64_t zio_now_ms(void);

/*
 * The exit status a tool passes on for a child's wait status st: its exit
 * code, 128+signal if it was killed, or 1 when st says neither.
 */
int zio_exit_code(int st);

/* ---------------------------------------------------------------- messages */

/*
 * One printer, one level (xdp-tools' lib/util/logging.c): a message of
 * level L goes to stderr when L <= the verbosity, which each tool starts
 * at its default and -v raises by one.  libbpf's (and libxdp's) messages
 * are printed one level below the tool's own: their warnings as our info,
 * their info as our debug, their debug as ZIO_PR_TRACE.
 */
enum zio_pr_level {
	ZIO_PR_WARN = 0,	/* always: errors and warnings */
	ZIO_PR_INFO,
	ZIO_PR_DEBUG,
	ZIO_PR_TRACE,		/* libbpf's debug messages */
};

/* Sets the verbosity and routes libbpf's messages through zio_vprint.
 * Returns nothing: it cannot fail. */
void zio_print_init(int verbosity);
/* Returns whether a message of level would be printed. */
bool zio_print_on(int level);
/* Prints fmt at level (see above).  Returns what vfprintf returned, or 0
 * when the level is off. */
int zio_vprint(int level, const char *fmt, va_list ap);
int zio_print(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* libbpf's print callback (libbpf_set_print): its level + 1.  Returns as
 * zio_vprint. */
int zio_print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap);

#define pr_warn(...)  zio_print(ZIO_PR_WARN, __VA_ARGS__)
#define pr_info(...)  zio_print(ZIO_PR_INFO, __VA_ARGS__)
#define pr_debug(...) zio_print(ZIO_PR_DEBUG, __VA_ARGS__)

/* ---------------------------------------------------------------- pins */

/* Mounts bpffs at ZIO_BPFFS unless one is there (ip netns exec remounts
 * /sys without it).  Returns 0 or -errno. */
int zio_mount_bpffs(void);

/* Start time of pid in clock ticks since boot (/proc/PID/stat field 22),
 * or 0 when pid does not exist. */
uint64_t zio_pid_start_time(pid_t pid);

/*
 * Whether pid is the live process that started at start (clock ticks, as
 * zio_pid_start_time; 0: not recorded, any process of that pid).  See
 * zio_reap_pins for why this one rule.  Returns true or false.
 */
bool zio_pid_alive(pid_t pid, uint64_t start);

/* Removes dir and every file in it (pins are files; nothing nests).
 * Returns nothing: whatever cannot be removed stays. */
void zio_remove_pins(const char *dir);

/*
 * Removes the ZIO_PIN_ROOT/<pid>/ directories nobody keeps up to date any
 * more, of zio-run --observe (observe maps) and of zio-run --xdp (steering
 * maps) alike.  Returns the number removed, or -errno when the root cannot
 * be read (0 when it does not exist).
 */
int zio_reap_pins(void);

#endif /* ZIO_CLI_UTIL_H */
