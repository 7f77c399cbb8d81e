/* SPDX-License-Identifier: MIT */
/*
 * Release (release.c): free, realloc, munmap, madvise, mremap.
 */
#ifndef ZIO_PATH_RELEASE_H
#define ZIO_PATH_RELEASE_H

#include "mech/alias.h"

/* [p, p+n) stops holding what it held (how: RELEASE for free, UNMAP for
 * munmap/madvise; unmapping: the range itself goes away). */
void zio_release(void *p, size_t n, enum zio_prep how, bool unmapping);
/* Before mremap moves or resizes [p, p+n): 0, or -1 when the range could
 * not be made safe (the caller then fails the call with ENOMEM). */
int zio_release_for_remap(void *p, size_t n);

/* A freed block stops holding the input noted there (the policy's notes). */
void zio_release_forget_noted(void *p, size_t n);
/* Does [p, p+n) hold originals or aliases now? */
bool zio_release_holds_regions(void *p, size_t n);

#endif
