// SPDX-License-Identifier: MIT
/*
 * observe.bpf.c - live aliases, originals and counters of zio processes,
 * kept from the runtime's USDT probes (include/zio_probes.h).
 *
 * Loaded by zio-run --observe (one process, maps pinned under
 * /sys/fs/bpf/zio/<pid>/) and by zio-stat (any number of processes, one
 * set of maps, region programs switched off).  Every probe is attached to
 * an explicit PID (user/cli/observe.c), so nothing here filters:
 * processes nobody observes never trap.  Forks are not followed: a child
 * starts its runtime with an empty index (user/runtime/path/fork.c) and its first
 * regions would come before any attach could; zio-stat without -p
 * attaches to such children when it next scans.
 *
 * The region programs mirror the runtime's alias index: region_set says
 * "the region starting at S now covers [S, E) and reads from ...", and
 * region_del says "no region starts at S any more".  A start is unique
 * among live regions, so a hash keyed by start, updated with BPF_ANY,
 * holds exactly the live regions (an alias that becomes an original at
 * the same start is removed from the other map).  Events that came before
 * the probes were attached are not known, which is why zio-run attaches
 * before the program starts.
 *
 * Map layout and value types: include/observe.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
/* One spec per probe location per attached process; zio-stat may attach
 * to dozens of processes (the libbpf default of 256 is ~20 of them). */
#define BPF_USDT_MAX_SPEC_CNT 1024
#include <bpf/usdt.bpf.h>
#include "observe.h"

/* bpf_probe_read_user, which USDT memory arguments need, is GPL-only. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZIO_OBS_MAX_REGIONS);
	/* Memory on demand: most processes have a few live regions. */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct zio_obs_region);
} aliases SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZIO_OBS_MAX_REGIONS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct zio_obs_region);
} originals SEC(".maps");

/* Per-CPU: the hot counters need no atomics (xdp-tools'
 * xdp_stats_kern.h); readers add the CPUs up. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zio_obs_counters);
} counters SEC(".maps");

/* Shared by all CPUs, so updated with atomic adds. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZIO_OBS_MAX_SITES);
	__type(key, struct zio_obs_site_key);
	__type(value, struct zio_obs_site);
} sites SEC(".maps");

/* Slot s counts faults that took [2^s, 2^(s+1)) ns (slot 0: < 2 ns). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ZIO_OBS_LAT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} fault_lat SEC(".maps");

/* fault_begin time per fault thread (tid), until its fault_end. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZIO_OBS_MAX_THREADS);
	__type(key, __u32);
	__type(value, __u64);
} fault_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zio_obs_info);
} info SEC(".maps");

/* Keeps clang from folding a bounds check into a form the verifier
 * cannot follow (the check on a copy, the access through the other). */
#define obs_barrier_var(v) __asm__ volatile("" : "+r"(v))

static struct zio_obs_counters *ctr(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

static void lost(void)
{
	struct zio_obs_counters *c = ctr();

	if (c)
		c->lost++;
}

/* The site's entry, created on first use; NULL when the map is full. */
static struct zio_obs_site *site_of(__u64 ip)
{
	struct zio_obs_site_key k = {
		.ip = ip,
		.pid = bpf_get_current_pid_tgid() >> 32,
	};
	struct zio_obs_site zero = {}, *s;

	s = bpf_map_lookup_elem(&sites, &k);
	if (s)
		return s;
	/* NOEXIST: another thread may have created it meanwhile. */
	bpf_map_update_elem(&sites, &k, &zero, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&sites, &k);
	if (!s)
		lost();
	return s;
}

/* floor(log2(v)), from bcc's libbpf-tools/bits.bpf.h */
static __u32 log2_u64(__u64 v)
{
	__u32 r, shift;

	r = (v > 0xFFFFFFFF) << 5; v >>= r;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

SEC("usdt")
int BPF_USDT(zio_region_set, __u64 start, __u64 end, int type, __u64 orig_id,
	     int kind, __u64 orig_addr, __u64 site, __u64 born_ns)
{
	struct zio_obs_region v = {
		.dst = start,
		.len = end - start,
		.orig = orig_addr,
		.orig_id = orig_id,
		.site = site,
		.born_ns = born_ns,
		.orig_kind = kind,
		.type = type,
	};
	struct zio_obs_counters *c = ctr();
	void *to = &aliases, *other = &originals;

	if (c)
		c->region_events++;
	if (type != ZIO_REGION_ALIAS) {
		to = &originals;
		other = &aliases;
	}
	bpf_map_delete_elem(other, &start);
	if (bpf_map_update_elem(to, &start, &v, BPF_ANY))
		lost();
	return 0;
}

SEC("usdt")
int BPF_USDT(zio_region_del, __u64 start)
{
	struct zio_obs_counters *c = ctr();

	if (c)
		c->region_events++;
	bpf_map_delete_elem(&aliases, &start);
	bpf_map_delete_elem(&originals, &start);
	return 0;
}

SEC("usdt")
int BPF_USDT(zio_elide, __u64 site, __u64 bytes)
{
	struct zio_obs_counters *c = ctr();
	struct zio_obs_site *s;

	if (c) {
		c->elided_copies++;
		c->elided_bytes += bytes;
	}
	s = site_of(site);
	if (s) {
		__sync_fetch_and_add(&s->elided_copies, 1);
		__sync_fetch_and_add(&s->elided_bytes, bytes);
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(zio_materialize, __u64 addr, __u64 pages, int cause, __u64 site)
{
	struct zio_obs_counters *c = ctr();
	struct zio_obs_site *s;
	__u32 i = cause > 0 && cause < ZIO_MAT_MAX ? cause : 0;

	obs_barrier_var(i);
	if (c && i < ZIO_MAT_MAX)
		c->materialized_pages[i] += pages;
	if (site) {
		s = site_of(site);
		if (s)
			__sync_fetch_and_add(&s->materialized_pages, pages);
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(zio_fault_begin, __u64 addr, __u64 flags)
{
	struct zio_obs_counters *c = ctr();
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();

	if (c)
		c->faults++;
	if (bpf_map_update_elem(&fault_start, &tid, &now, BPF_ANY))
		lost();
	return 0;
}

SEC("usdt")
int BPF_USDT(zio_fault_end, __u64 addr)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *t0, *slot;
	__u32 s;

	t0 = bpf_map_lookup_elem(&fault_start, &tid);
	if (!t0)
		return 0;   /* began before we attached */
	s = log2_u64(bpf_ktime_get_ns() - *t0);
	bpf_map_delete_elem(&fault_start, &tid);
	if (s >= ZIO_OBS_LAT_SLOTS)
		s = ZIO_OBS_LAT_SLOTS - 1;
	slot = bpf_map_lookup_elem(&fault_lat, &s);
	if (slot)
		__sync_fetch_and_add(slot, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(zio_fallback, int reason)
{
	struct zio_obs_counters *c = ctr();
	__u32 i = reason > 0 && reason < ZIO_FB_MAX ? reason : 0;

	obs_barrier_var(i);
	if (c && i < ZIO_FB_MAX)
		c->fallbacks[i]++;
	return 0;
}

SEC("usdt")
int BPF_USDT(zio_output, int fd, long bytes, long from_origin)
{
	struct zio_obs_counters *c = ctr();

	if (!c || bytes <= 0)
		return 0;
	c->outputs++;
	c->output_bytes += bytes;
	/* The runtime counts what was sent of the substituted bytes. */
	c->output_bytes_from_origin += from_origin < bytes ? from_origin : bytes;
	return 0;
}

SEC("usdt")
int BPF_USDT(zio_retire, __u64 orig_id, __u64 bytes, int moved)
{
	struct zio_obs_counters *c = ctr();

	if (!c)
		return 0;
	if (moved)
		c->retired_move++;
	else
		c->retired_copy++;
	c->retired_bytes += bytes;
	return 0;
}

SEC("usdt")
int BPF_USDT(zio_redirect, __u64 site, __u64 bytes)
{
	struct zio_obs_counters *c = ctr();

	if (!c)
		return 0;
	c->inputs_redirected++;
	c->redirected_bytes += bytes;
	return 0;
}

SEC("usdt")
int BPF_USDT(zio_policy_skip, __u64 site)
{
	struct zio_obs_counters *c = ctr();
	struct zio_obs_site *s;

	if (c)
		c->policy_skips++;
	s = site_of(site);
	if (s)
		__sync_fetch_and_add(&s->policy_skips, 1);
	return 0;
}
