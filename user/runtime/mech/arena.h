/* SPDX-License-Identifier: MIT */
/*
 * The arena (arena.c): zio-owned memory for spare pages and shadows.
 * The caller holds the runtime lock, except for zio_arena_trim.
 */
#ifndef ZIO_MECH_ARENA_H
#define ZIO_MECH_ARENA_H

#include "base/defs.h"

/* Reserve and register the arena (once): 0 or -errno. */
int zio_arena_init(void);
/* Move the populated pages of app range [a, b) into spare.  Returns the
 * number of pages parked or -errno (pages that could not move remain). */
long zio_arena_park(uintptr_t a, uintptr_t b);
/* Fill app range [a, b) (registered, all absent) from spare pages.
 * Returns bytes filled from the start of the range. */
uint64_t zio_arena_refill(uintptr_t a, uintptr_t b);
/* A shadow holding a copy of [src, src+len) (page multiple): returns its
 * arena address, or 0 with errno set. */
uintptr_t zio_arena_shadow_fill(uintptr_t src, uint64_t len);
/* Move app pages [src, src+len) into a new shadow (no copy), all or
 * nothing: returns the shadow, or 0 with the pages where they were. */
uintptr_t zio_arena_shadow_take(uintptr_t src, uint64_t len);
/* A shadow's pages become spare (its origin was freed). */
void zio_arena_shadow_free(uintptr_t lo, uintptr_t hi);
/* Produce one page at absent dst with the bytes at src, from a spare
 * page (the fallback when UFFDIO_COPY fails).  0 or -errno. */
int zio_arena_page_in(uintptr_t dst, uintptr_t src);
/* Give spare memory above the cap back to the kernel (call unlocked). */
void zio_arena_trim(void);
/* fork: the child has no arena (the parent's mapping is unmapped). */
void zio_arena_fork_child(void);

#endif
