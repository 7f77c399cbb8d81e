// SPDX-License-Identifier: MIT
/*
 * fork: a child must see real bytes, but userfaultfd registrations do
 * not survive into it (we do not ask for UFFD_FEATURE_EVENT_FORK).  So
 * the parent materialises every alias before the fork, holding the lock
 * across it (the jemalloc pattern: locks taken in a fixed order before
 * fork, re-created in the child), and the child starts a fresh runtime:
 * new descriptor and fault thread on first use, empty index, no arena.
 * vfork/posix_spawn children share our memory and our fault thread, and
 * need nothing.
 */
#include <errno.h>
#include <unistd.h>

#include "zio_internal.h"

static bool fork_locked;

ZIO_HIDDEN void zio_fork_prepare(void)
{
	if (!zio.uffd_ok)
		return;
	zio_lock();
	fork_locked = true;
	if (zio.ix.n_alias)
		zio_materialize_all();
}

ZIO_HIDDEN void zio_fork_parent(void)
{
	if (!fork_locked)
		return;
	fork_locked = false;
	zio_unlock();
}

ZIO_HIDDEN void zio_fork_child(void)
{
	extern void zio_ready_reset_child(void);
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	if (!fork_locked)
		return;
	fork_locked = false;
	zio.lock = fresh;
	zio.unpinned = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
	zio.pin_waiters = 0;
	zio_in_runtime = 0;
	zio_signals_child();
	/* The parent's registrations and fault thread are not ours. */
	if (zio.uffd >= 0)
		close(zio.uffd);
	if (zio.wake_fd >= 0)
		close(zio.wake_fd);
	zio.uffd = -1;
	zio.wake_fd = -1;
	zio.thread_started = false;
	zio.n_deferred = 0;
	zio_index_reset(&zio.ix);
	zio_extents_clear(&zio.registered);
	zio_arena_reset_child();
	zio_ready_reset_child();
	zio.pid = getpid();
	for (_Atomic uint64_t *p = (_Atomic uint64_t *)&zio_stats;
	     p < (_Atomic uint64_t *)(&zio_stats + 1); p++)
		atomic_store(p, 0);
	atomic_store(&zio_live_regions, 0);
	atomic_store(&zio_live_aliases, 0);
}
