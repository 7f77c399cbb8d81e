/* SPDX-License-Identifier: MIT */
/*
 * The runtime's counters (stats.c): what the --stats line, zio-stat and
 * the tests read.  Apart from state.h so that a module that only counts
 * (policy.c) links without the state, the lock and the fault thread.
 */
#ifndef ZIO_MECH_STATS_H
#define ZIO_MECH_STATS_H

#include <stdatomic.h>
#include <stdint.h>

struct zio_stats {
	_Atomic uint64_t elided_copies, elided_bytes;
	_Atomic uint64_t materialized_pages, faults, fallbacks;
	_Atomic uint64_t wp_faults, missing_faults, zero_faults, kernel_events;
	_Atomic uint64_t outputs_substituted, output_bytes_from_origin;
	_Atomic uint64_t retired_copy, retired_move, parked_pages, refilled_pages;
	_Atomic uint64_t edge_pages_copied;
	_Atomic uint64_t vacated_pages, vacant_faults;
	_Atomic uint64_t inputs_tracked, policy_skips, policy_declined, policy_explores;
	_Atomic uint64_t policy_untracked, policy_promoted, inputs_redirected;
	_Atomic uint64_t fb_register, fb_move, fb_copy, fb_wp, fb_alloc, fb_cap;
};
extern struct zio_stats zio_stats;
#define ZIO_STAT_ADD(f, v) atomic_fetch_add_explicit(&zio_stats.f, (v), memory_order_relaxed)

#endif
