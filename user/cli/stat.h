/* SPDX-License-Identifier: MIT */
/*
 * stat.h - zio-stat's view of the zio processes it watches: its copy of
 * bpf/observe.bpf.c attached to them (observe_cli.h), snapshots of the
 * counters, call sites and fault latencies and their per-interval deltas
 * (stat.c), and the text and JSON forms of an interval (stat_print.c).
 *
 * Names: zio_stat__<verb> on struct zio_stat (see util.h).
 */
#ifndef ZIO_CLI_STAT_H
#define ZIO_CLI_STAT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "observe.h"

struct zio_stat;

struct zio_stat_site {
	struct zio_obs_site_key k;
	struct zio_obs_site v;
};

/* The maps at one moment, or the difference of two such moments. */
struct zio_stat_snap {
	struct zio_obs_counters c;	/* summed over the CPUs */
	__u64 lat[ZIO_OBS_LAT_SLOTS];
	struct zio_stat_site *sites;	/* by (pid, ip); in a delta busiest first */
	size_t nsites;
};

struct zio_stat_print_opts {
	long top;		/* call sites shown */
	bool timestamp;		/* text: a time before each interval */
};

/*
 * Loads zio-stat's copy of the BPF programs (region mirror off) and a
 * symboliser.  Returns the object, or NULL with errno set and a message
 * on stderr.
 */
struct zio_stat *zio_stat__open(void);
/* Detaches from every process and frees; NULL is fine.  Returns nothing. */
void zio_stat__destroy(struct zio_stat *s);

/*
 * Attaches to the zio runtime of pid; quiet_missing: say nothing when pid
 * is not a zio process.  Returns 0, or -errno (-ENOENT: no libzio.so in
 * pid) with a message on stderr.
 */
int zio_stat__attach(struct zio_stat *s, pid_t pid, bool quiet_missing);
/* Attaches to every new process that maps libzio.so and detaches from the
 * ones that went away.  Returns nothing: a process it cannot attach to is
 * left out. */
void zio_stat__scan(struct zio_stat *s);
/* Return the number of processes attached, and the i-th of them. */
size_t zio_stat__nr_pids(const struct zio_stat *s);
pid_t zio_stat__pid(const struct zio_stat *s, size_t i);

/*
 * Reads every map into snap (which it overwrites; free it with
 * zio_stat__snap_free) and refreshes the maps of the live processes, for
 * naming their call sites.  Returns 0 or -errno.
 */
int zio_stat__read(struct zio_stat *s, struct zio_stat_snap *snap);
/* d = cur - prev, field by field, its sites busiest first (elided bytes,
 * then materialised pages).  Returns nothing; out of memory, d has no
 * sites. */
void zio_stat__delta(const struct zio_stat_snap *cur, const struct zio_stat_snap *prev,
		     struct zio_stat_snap *d);
/* Frees the sites of snap.  Returns nothing. */
void zio_stat__snap_free(struct zio_stat_snap *snap);

struct zio_stat_site_name {
	char sym[256];		/* function+offset */
	char bin[128];		/* the binary's base name */
	char line[128];		/* "file.c:123", or "" */
};

/* Names a call site from its process's last maps.  Returns nothing: what
 * is unknown is "0x<ip>", "?" or "". */
void zio_stat__name_site(struct zio_stat *s, const struct zio_stat_site *st,
			 struct zio_stat_site_name *n);

/*
 * Waits until deadline (zio_now_ms), *exiting, or the exit of the process
 * behind pidfd (-1: none).  Returns true when that process exited.
 */
bool zio_stat__wait(uint64_t deadline, int pidfd, const volatile sig_atomic_t *exiting);

/* stat_print.c: one interval on stdout, as text or as one JSON object.
 * Return nothing: stdout's errors show at exit. */
void zio_stat__print_text(struct zio_stat *s, const struct zio_stat_snap *d,
			  const struct zio_stat_print_opts *o);
void zio_stat__print_json(struct zio_stat *s, const struct zio_stat_snap *d,
			  const struct zio_stat_print_opts *o, double interval_s);

#endif /* ZIO_CLI_STAT_H */
