// SPDX-License-Identifier: MIT
/*
 * The runtime's counters, in a file of their own: the unit tests link
 * the modules that count (policy.c) with this and nothing of state.c.
 */
#include "base/defs.h"
#include "mech/stats.h"

ZIO_HIDDEN struct zio_stats zio_stats;
