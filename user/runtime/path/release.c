// SPDX-License-Identifier: MIT
/*
 * Release: free, realloc, munmap, madvise, mremap.  Memory whose contents
 * stop mattering drops its aliases without materialising anything; an
 * original that dies while aliases depend on it hands its very pages to
 * a shadow (no copy), and the allocator gets populated spare pages back.
 */
#include <errno.h>

#include "mech/policy.h"
#include "mech/state.h"
#include "mech/uffd.h"
#include "path/release.h"

ZIO_HIDDEN void zio_release(void *p, size_t n, enum zio_prep how, bool unmapping)
{
	uintptr_t a = (uintptr_t)p;
	int saved = errno;

	if (!n || a + n < a)
		return;
	zio_lock();
	/* Another thread may be sending an original here (through an alias
	 * of it): the memory goes back to the allocator, or away, only when
	 * it is done. */
	zio_wait_unpinned(a, a + n);
	if (zio_region_first_overlap(&zio.ix, a, a + n))
		zio_prepare_range(a, a + n, how);
	if (atomic_load_explicit(&zio_lazy_live, memory_order_relaxed))
		zio_policy_forget_noted(a, a + n);
	/* Unregister before the unmap: a registered range makes the kernel
	 * report the unmap to our fault thread and wait for it to be read
	 * (a context switch per munmap); an unregister is one short ioctl. */
	if (unmapping && zio_tree_first_overlap(&zio.registered.t, pg_dn(a), pg_up(a + n)))
		zio_uffd_unregister(pg_dn(a), pg_up(a + n));
	/* Pages given back with madvise come back as zero pages when the
	 * allocator reuses them: that is the kernel's job, not a trip through
	 * our fault thread for each page (tens of us here). */
	else if (how == ZIO_PREP_UNMAP &&
		 zio_tree_first_overlap(&zio.registered.t, pg_dn(a), pg_up(a + n)))
		zio_uffd_unregister(pg_dn(a), pg_up(a + n));
	zio_unlock();
	errno = saved;
}

/*
 * Before mremap moves or resizes [p, p+n): the moved pages must carry
 * their real bytes, since the new range is a new registration story.
 * Returns 0, or -1 when the range could not be made safe (the caller
 * then fails the call with errno, rather than risk a wrong byte).
 */
ZIO_HIDDEN int zio_release_for_remap(void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p;
	int err = 0, saved = errno;

	zio_lock();
	zio_wait_unpinned(a, a + n);
	if (zio_region_first_overlap(&zio.ix, a, a + n))
		err = zio_prepare_range(a, a + n, ZIO_PREP_INPUT);
	if (atomic_load_explicit(&zio_lazy_live, memory_order_relaxed))
		zio_policy_forget_noted(a, a + n);
	/* The moved range must not keep a registration we stop tracking. */
	if (!err && zio_tree_first_overlap(&zio.registered.t, pg_dn(a), pg_up(a + n)))
		zio_uffd_unregister(pg_dn(a), pg_up(a + n));
	zio_unlock();
	errno = saved;
	return err ? -1 : 0;
}

/* A block freed: its pages stop holding the input noted there (policy.c). */
ZIO_HIDDEN void zio_release_forget_noted(void *p, size_t n)
{
	if (!atomic_load_explicit(&zio_lazy_live, memory_order_relaxed) ||
	    !zio_policy_maybe_noted((uintptr_t)p, (uintptr_t)p + n))
		return;
	zio_lock();
	zio_policy_forget_noted((uintptr_t)p, (uintptr_t)p + n);
	zio_unlock();
}

/* Does [p, p+n) hold IO data or aliases? */
ZIO_HIDDEN bool zio_release_holds_regions(void *p, size_t n)
{
	bool any;

	zio_lock();
	any = zio_region_first_overlap(&zio.ix, (uintptr_t)p, (uintptr_t)p + n) != NULL;
	zio_unlock();
	return any;
}
