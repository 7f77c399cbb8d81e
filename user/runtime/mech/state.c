// SPDX-License-Identifier: MIT
/*
 * The runtime's state and its lock, the counters, and pins.
 *
 * Lock rules (they are what keeps the runtime free of deadlocks):
 *   - every look at the index holds zio.lock; a thread holding it (or
 *     pins) defers the program's asynchronous signal handlers until it
 *     lets go (signal.c), so a handler never touches an alias while its
 *     thread holds the lock;
 *   - while holding it we never touch memory that could fault into
 *     userfaultfd (alias pages, write-protected originals, registered
 *     holes): only origins and shadows, which are populated, and our
 *     own arena pages;
 *   - while holding it we never munmap/madvise/mremap registered memory
 *     (the kernel would wait for our fault thread, which needs the lock).
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/probes.h"
#include "base/real.h"
#include "mech/state.h"
#include "mech/uffd.h"
#include "path/fault.h"

ZIO_HIDDEN struct zio_state zio = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.unpinned = PTHREAD_COND_INITIALIZER,
	.uffd = -1,
	.wake_fd = -1,
};
ZIO_HIDDEN _Atomic int zio_active;
ZIO_HIDDEN _Atomic uint64_t zio_live_regions;
ZIO_HIDDEN _Atomic uint64_t zio_live_aliases;
ZIO_HIDDEN __thread int zio_in_runtime __attribute__((tls_model("initial-exec")));
ZIO_HIDDEN __thread int zio_mat_cause __attribute__((tls_model("initial-exec")));

ZIO_HIDDEN void zio_fallback(int reason)
{
	ZIO_STAT_ADD(fallbacks, 1);
	switch (reason) {
	case ZIO_FB_REGISTER: ZIO_STAT_ADD(fb_register, 1); break;
	case ZIO_FB_MOVE:     ZIO_STAT_ADD(fb_move, 1); break;
	case ZIO_FB_COPY:     ZIO_STAT_ADD(fb_copy, 1); break;
	case ZIO_FB_WP:       ZIO_STAT_ADD(fb_wp, 1); break;
	case ZIO_FB_ALLOC:    ZIO_STAT_ADD(fb_alloc, 1); break;
	case ZIO_FB_CAP:      ZIO_STAT_ADD(fb_cap, 1); break;
	default: break;
	}
	ZIO_PROBE1(fallback, reason);
}

ZIO_HIDDEN uint64_t zio_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * The runtime lock.  Asynchronous signals that arrive while a thread
 * holds it are deferred by our handler wrapper (signal.c) until
 * zio_unlock: the depth is raised before the mutex is taken, so no
 * program handler can run on a thread that holds the lock.
 */
ZIO_HIDDEN void zio_lock(void)
{
	zio_lock_depth++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pthread_mutex_lock(&zio.lock);
	zio_in_runtime++;
}

ZIO_HIDDEN void zio_unlock(void)
{
	/* Reports read while an ioctl waited are handled before anyone else
	 * may look at the index. */
	if (unlikely(zio_uffd_has_pending()))
		zio_uffd_process_pending();
	atomic_store_explicit(&zio_live_regions, zio.ix.n_orig + zio.ix.n_alias,
			      memory_order_release);
	atomic_store_explicit(&zio_live_aliases, zio.ix.n_alias, memory_order_release);
	zio_in_runtime--;
	pthread_mutex_unlock(&zio.lock);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	zio_defer_end();
}

/* Leave a deferral period (lock or pins): run the handlers that waited. */
ZIO_HIDDEN void zio_defer_end(void)
{
	if (--zio_lock_depth == 0 && unlikely(zio_signals_pending()))
		zio_signals_flush();
}


/* ------------------------------------------------------------ pins */

ZIO_HIDDEN void zio_unpin(struct zio_origin **pins, int n)
{
	if (!n)
		return;
	zio_lock();
	for (int i = 0; i < n; i++) {
		zio_pin_drop(pins[i]);
		zio_origin_put_if_unused(&zio.ix, pins[i]);
	}
	if (zio.pin_waiters)
		pthread_cond_broadcast(&zio.unpinned);
	/* Stores that waited for these readers may go now. */
	if (zio.n_deferred) {
		uintptr_t d[ZIO_MAX_DEFERRED];
		int nd = zio.n_deferred;

		zio_raw_copy(d, zio.deferred, sizeof(d[0]) * (size_t)nd);
		zio.n_deferred = 0;
		for (int i = 0; i < nd; i++)
			zio_handle_wp_fault(d[i]);
	}
	zio_unlock();
}

/* The first original overlapping [a, b) that is pinned, or NULL. */
static struct zio_origin *pinned_original(uintptr_t a, uintptr_t b)
{
	for (struct zio_region *r = zio_region_first_overlap(&zio.ix, a, b);
	     r && r->node.start < b; r = zio_region_next(&zio.ix, r))
		if (r->type == ZIO_R_ORIG && r->o->pins)
			return r->o;
	return NULL;
}

ZIO_HIDDEN bool zio_wait_unpinned(uintptr_t a, uintptr_t b)
{
	struct zio_origin *o;
	bool waited = false;

	while (zio.pins_held && (o = pinned_original(a, b))) {
		pr_trace("change of [%#lx,%#lx) waits for %u pins on o%llu", (unsigned long)a,
			 (unsigned long)b, o->pins, (unsigned long long)o->id);
		zio.pin_waiters++;
		pthread_cond_wait(&zio.unpinned, &zio.lock);
		zio.pin_waiters--;
		waited = true;
	}
	return waited;
}

/* fork, in the child: a fresh lock, nothing deferred, an empty index and
 * counters from zero (the parent held the lock across the fork). */
ZIO_HIDDEN void zio_state_fork_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	zio.lock = fresh;
	zio.unpinned = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
	zio.pin_waiters = 0;
	zio.pins_held = 0;
	zio.n_deferred = 0;
	zio_in_runtime = 0;
	zio_index_reset(&zio.ix);
	zio.pid = getpid();
	for (_Atomic uint64_t *p = (_Atomic uint64_t *)&zio_stats;
	     p < (_Atomic uint64_t *)(&zio_stats + 1); p++)
		atomic_store(p, 0);
	atomic_store(&zio_live_regions, 0);
	atomic_store(&zio_live_aliases, 0);
}
