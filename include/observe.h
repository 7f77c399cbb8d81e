/* SPDX-License-Identifier: MIT */
/*
 * observe.h - map keys and values shared by bpf/observe.bpf.c and the
 * programs that read its maps (zio-run --observe, zio-stat, bpftool).
 *
 * The BPF programs attach to the runtime's USDT probes (zio_probes.h) and
 * keep, per observed process:
 *
 *   aliases    HASH   region start -> struct zio_obs_region   live aliases
 *   originals  HASH   region start -> struct zio_obs_region   live originals
 *   counters   PERCPU_ARRAY [0]    -> struct zio_obs_counters  sum the CPUs
 *   sites      HASH   zio_obs_site_key -> struct zio_obs_site  per call site
 *   fault_lat  ARRAY  log2(ns) slot -> __u64 faults           fault latency
 *   info       ARRAY  [0]          -> struct zio_obs_info     who, which ABI
 *
 * zio-run --observe pins them as /sys/fs/bpf/zio/<pid>/<map name>, with
 * BTF, so `bpftool map dump pinned /sys/fs/bpf/zio/<pid>/aliases` prints
 * these structs with their field names.  A region is keyed by its start
 * address because the runtime announces every shape change of a region
 * by start (region_set, region_del): the two hashes mirror its index.
 *
 * Pinned maps outlive the build that wrote them, so only fixed-width
 * types and no pointers; ZIO_OBS_ABI is bumped on any change of shape and
 * stored in the info map for readers to check.
 */
#ifndef ZIO_OBSERVE_H
#define ZIO_OBSERVE_H

#ifndef __BPF__
#include <linux/types.h>
#endif

#include "zio_probes.h"

#define ZIO_OBS_ABI 2

/* Map sizes.  A full map drops the update and counts it in `lost`. */
#define ZIO_OBS_MAX_REGIONS (1 << 18)
#define ZIO_OBS_MAX_SITES   8192
#define ZIO_OBS_MAX_THREADS 4096
/* log2 slots of the fault latency histogram, in nanoseconds */
#define ZIO_OBS_LAT_SLOTS   64

/* Named so that bpftool prints the kind, not a number. */
enum zio_obs_orig_kind {
	ZIO_OBS_APP_BUFFER   = ZIO_KIND_APP,    /* app buffer that received input */
	ZIO_OBS_SHADOW       = ZIO_KIND_SHADOW, /* retired original, zio-owned copy */
	ZIO_OBS_AF_XDP_FRAME = ZIO_KIND_UMEM,   /* AF_XDP UMEM frame */
};

enum zio_obs_region_type {
	ZIO_OBS_ORIGINAL = ZIO_REGION_ORIG,
	ZIO_OBS_ALIAS    = ZIO_REGION_ALIAS,
};

/*
 * Value of "aliases" and "originals" (key: dst).  Age is not stored, as
 * it changes without an event: readers take now - born_ns, both on
 * CLOCK_MONOTONIC (bpf_ktime_get_ns and the runtime's clock agree).
 */
struct zio_obs_region {
	__u64 dst;          /* first byte: the copy's destination (alias) or
			     * the input buffer (original) */
	__u64 len;          /* bytes; aliases are whole pages */
	__u64 orig;         /* address of the original byte dst reads from
			     * (for an original: dst itself) */
	__u64 orig_id;      /* the runtime's origin id (shared by its aliases) */
	__u64 site;         /* return address of the call that made it */
	__u64 born_ns;      /* CLOCK_MONOTONIC time of creation */
	enum zio_obs_orig_kind orig_kind;
	enum zio_obs_region_type type;
};

/* The one value of "counters", per CPU.  Arrays are indexed by the
 * probe's value (ZIO_MAT_*, ZIO_FB_*); slot 0 takes unknown values. */
struct zio_obs_counters {
	__u64 elided_copies;
	__u64 elided_bytes;
	__u64 materialized_pages[ZIO_MAT_MAX];  /* by cause */
	__u64 faults;                           /* fault_begin */
	__u64 fallbacks[ZIO_FB_MAX];            /* by reason */
	__u64 outputs;                          /* output calls served from originals */
	__u64 output_bytes;                     /* bytes those calls sent */
	__u64 output_bytes_from_origin;         /* of which read from originals */
	__u64 retired_copy;                     /* originals copied to a shadow */
	__u64 retired_move;                     /* ... whose pages moved there */
	__u64 retired_bytes;
	__u64 policy_skips;
	__u64 inputs_redirected;                /* inputs received into the arena */
	__u64 redirected_bytes;                 /* ... of the buffer aliased to them */
	__u64 region_events;                    /* region_set + region_del */
	__u64 lost;                             /* updates a full map refused */
};

/* "sites" is keyed by call site and process: zio-stat may observe many
 * processes with one set of maps, and symbolises ip in pid's maps. */
struct zio_obs_site_key {
	__u64 ip;
	__u32 pid;
	__u32 pad;
};

struct zio_obs_site {
	__u64 elided_copies;
	__u64 elided_bytes;
	__u64 materialized_pages;   /* pages of its aliases that got bytes */
	__u64 policy_skips;
};

/* Written by the loader; readers check abi and find the processes. */
struct zio_obs_info {
	__u32 abi;                  /* ZIO_OBS_ABI */
	__u32 pid;                  /* observed process */
	__u64 pid_start;            /* its start time (/proc/pid/stat field 22) */
	__u32 observer;             /* zio-run holding the probes */
	__u32 pad;
	__u64 observer_start;
	__u64 attached_ns;          /* CLOCK_MONOTONIC */
};

#endif /* ZIO_OBSERVE_H */
