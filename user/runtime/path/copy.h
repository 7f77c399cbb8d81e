/* SPDX-License-Identifier: MIT */
/*
 * Copy (copy.c): memcpy/memmove of IO data, elided where it pays.
 */
#ifndef ZIO_PATH_COPY_H
#define ZIO_PATH_COPY_H

#include "mech/index.h"

/* Copy n bytes from src to dst as memcpy (memmove when is_move) would;
 * the page-aligned interior of dst becomes an alias of the source's
 * origin where it may.  Returns dst; errno unchanged. */
void *zio_copy(void *dst, const void *src, size_t n, bool is_move, uintptr_t site);
/* Copy n bytes of origin o (from ooff) to dst, eliding what it can (the
 * interior pages become aliases of o).  Takes the lock itself.  Returns
 * dst. */
void *zio_copy_from_origin(void *dst, struct zio_origin *o, uint64_t ooff, size_t n,
			   uintptr_t site);

#endif
