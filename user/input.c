// SPDX-License-Identifier: MIT
/*
 * Input: recv/read and friends.  Before the kernel writes into the
 * buffer, whatever the buffer held that others depend on is made safe
 * (originals retire, aliases get their bytes since a short read leaves
 * part of them in place); after it, the bytes received become an
 * original that later copies may alias.
 */
#include <errno.h>

#include "zio_internal.h"

ZIO_HIDDEN ssize_t zio_input(int fd, const struct iovec *iov, int iovcnt, uintptr_t site,
			     ssize_t (*call)(void *ctx), void *ctx)
{
	int saved = errno, e;
	sigset_t old;
	ssize_t ret;
	uint64_t left;

	(void)fd;
	if (atomic_load_explicit(&zio_live_regions, memory_order_acquire)) {
		zio_lock(&old);
		for (int i = 0; i < iovcnt; i++) {
			uintptr_t a = (uintptr_t)iov[i].iov_base;

			if (iov[i].iov_len && zio_region_first_overlap(&zio.ix, a, a + iov[i].iov_len))
				zio_prepare_range(a, a + iov[i].iov_len, ZIO_PREP_INPUT);
		}
		zio_unlock(&old);
	}

	errno = saved;
	ret = call(ctx);
	e = errno;
	if (ret < (ssize_t)zio_opt.input_min) {
		errno = e;
		return ret;
	}

	zio_lock(&old);
	left = (uint64_t)ret;
	for (int i = 0; i < iovcnt && left; i++) {
		uintptr_t a = (uintptr_t)iov[i].iov_base;
		uint64_t len = iov[i].iov_len < left ? iov[i].iov_len : left;

		left -= len;
		if (len < zio_opt.input_min)
			continue;
		/* Another thread raced us into this buffer: leave it alone. */
		if (zio_region_first_overlap(&zio.ix, a, a + len))
			continue;
		if (zio_index_add_orig(&zio.ix, a, a + len, site, zio_now_ns()))
			ZIO_STAT_ADD(inputs_tracked, 1);
	}
	zio_unlock(&old);
	errno = e;
	return ret;
}
