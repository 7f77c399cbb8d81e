/* SPDX-License-Identifier: MIT */
/*
 * Start-up and shut-down of the runtime (init.c).
 */
#ifndef ZIO_INIT_H
#define ZIO_INIT_H

#include <stdatomic.h>

#include "base/defs.h"

extern _Atomic int zio_initialized;
/* The fault thread and the arena, started on first use: 0 or -errno
 * (-ENOSYS: elision is off for good). */
int zio_ensure_ready(void);
/* The --stats line, now. */
void zio_print_stats(void);
/* fork: the child starts its runtime again on first use. */
void zio_init_fork_child(void);

#endif
