/* SPDX-License-Identifier: MIT */
/*
 * Faults (fault.c): the fault thread and what it does with each report.
 * The handlers run with the runtime lock held.
 */
#ifndef ZIO_PATH_FAULT_H
#define ZIO_PATH_FAULT_H

#include "base/defs.h"

struct uffd_msg;

/* Start the fault thread once: 0 or -errno. */
int zio_fault_thread_start(void);
/* One report of the kernel's. */
void zio_fault_handle(const struct uffd_msg *m);
/* A write into a protected page at addr: retire its original, or wait
 * for the readers that pinned it. */
void zio_handle_wp_fault(uintptr_t addr);
/* A touch of an absent registered page at addr. */
void zio_handle_missing_fault(uintptr_t addr, bool write);
/* [a, b) went away (or moved to `to`, remap) behind our back. */
void zio_handle_event_range(uintptr_t a, uintptr_t b, bool remap, uintptr_t to);
/* fork: the child has no fault thread. */
void zio_fault_fork_child(void);

#endif
