/* SPDX-License-Identifier: MIT */
/*
 * The constants of the policy's cost model (policy.c): table sizes,
 * what each mechanism costs in ns per page, the back-off and explore
 * rates.  Private to policy.c; apart so that its unit tests
 * (tests/unit/test_policy.c) weigh decisions with the same numbers.
 */
#ifndef ZIO_MECH_POLICY_COST_H
#define ZIO_MECH_POLICY_COST_H

#define SITES 4096           /* power of two */
#define MIN_SAMPLE_PAGES 32
#define MAX_BACKOFF 4096

/* Measured on the development machine (tools/microbench, 512 KiB). */
#define NS_COPY_POPULATED 170   /* memcpy into populated, cold memory */
#define NS_COPY_FRESH    1900   /* memcpy into memory never touched */
/* memcpy into a destination still in the cache: one the same copy site
 * wrote less than HOT_BYTES of copies ago, a small pool's buffer
 * (policy.c, copy_ns).  Echo, pooled, 512 KiB, two buffers a stage:
 * memmove 11% of 138 us a message, ~120 ns a page, against ~290 with
 * 64 MiB of buffers a stage (perf, this 2-core EPYC, 2 MiB of L2). */
#define NS_COPY_HOT       110
#define HOT_BYTES   (1u << 20)
#define HOT_SLOTS          8    /* recent destinations remembered a site */
/* Copies made for real are timed (policy.c, populated_ns): a site's
 * measure replaces NS_COPY_POPULATED once it has TIMED_MIN samples.  An
 * elidable copy whose saving is under TIME_MARGIN times its cost is made
 * and timed one in TIME_LEARN while learning, then one in TIME_EVERY;
 * a sample over TIMED_MAX ns a page (preempted) is dropped. */
#define TIMED_MIN           4
#define TIME_MARGIN         2.0
#define TIME_LEARN         16
#define TIME_EVERY       1024
#define TIMED_MAX         950
#define NS_WP              65   /* UFFDIO_WRITEPROTECT on */
#define NS_UNWP            75   /* ... and off */
#define NS_MOVE            80   /* UFFDIO_MOVE */
/* A populated destination page aliased, then freed: moved aside
 * (parked) and a populated page moved back (refilled), each a move with
 * its TLB flush, in batches of one copy's pages.  Server CPU per redis GET
 * of 256 KiB into recycled reply buffers: +12 us with elision for 56
 * such pages, plus the ~15 us copy it saved: ~500 ns per page. */
#define NS_PARK_ROUND     500
/* ... unless the pages stay vacant after the free (alias.c): then a
 * recycled buffer pays the park once, and its touches a fault each. */
#define VACANT_HALVE  (1 << 24)  /* ns: the learned sums halve above */
#define NS_COLD           150   /* receiving into cold spare pages */
#define NS_ALIAS           25   /* index and registration per alias page */
/* Per original and per alias whatever their size: the system calls
 * (write protect, moves or unprotect; register) have a base cost of
 * ~0.5-1 us each here, which dominates below ~32 pages. */
#define NS_ORIGIN_FIXED  2000
#define NS_ALIAS_FIXED   1000
#define EXPLORE            64
#define EXPLORE_MAX      4096
#define USEFUL_MIN       0.05  /* below (after USEFUL_ENDS ends): inputs noted only */
#define USEFUL_ENDS        32
/* One fault round trip, faulting thread blocked and our fault thread
 * woken: 15-20 us a page with both on one CPU (echo sweep, touch 10% and
 * 50% of fresh replies: server time per reply against 0%), 36 us
 * unpinned (tools/microbench fault_roundtrip). */
#define NS_FAULT        20000
#define TOUCH_LIMIT      0.75  /* of saved_ns: back off above */
#define NS_FILL           800   /* UFFDIO_COPY of one page */

/*
 * How many of a destination's pages are populated: the copy site's last
 * mincore answer, reused PRESENT_REUSE times.  A site's destinations keep
 * their state (a pool's buffers stay populated, fresh ones stay fresh),
 * and the system call was 3% of a declining server's time (echo, pooled,
 * 64 KiB, 4 copies).
 */
#define PRESENT_REUSE 16

/* Slots of the table of noted input pages (a power of two) */
#define LAZY_SLOTS (1u << 18)

#endif
