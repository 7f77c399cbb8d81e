/* SPDX-License-Identifier: MIT */
/*
 * The runtime's state, its lock, fallbacks and pins (state.c); the
 * counters it resets at fork are in stats.h.
 */
#ifndef ZIO_MECH_STATE_H
#define ZIO_MECH_STATE_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/signal.h"
#include "mech/index.h"
#include "mech/stats.h"

/* A failure absorbed by a real copy: counted by reason (ZIO_FB_*),
 * announced to observers. */
void zio_fallback(int reason);

struct zio_state {
	pthread_mutex_t lock;
	int uffd;                    /* -1 until set up */
	bool uffd_ok;                /* kernel-fault capable userfaultfd */
	bool have_move;              /* UFFDIO_MOVE available */
	bool thread_started;
	pthread_t fault_thread;
	int wake_fd;                 /* eventfd to stop the fault thread */
	struct zio_index ix;
	struct zio_extents registered; /* app ranges registered MISSING|WP */
	/* Vacant app pages, a part of `registered`: pages of a freed alias
	 * left absent for the next copy into them (alias.c), no live byte on
	 * any of them; the first touch refills the whole extent (fault.c). */
	struct zio_extents vacant;
	/* arena */
	uintptr_t arena_lo, arena_hi;
	struct zio_extents arena_free;   /* empty virtual space */
	struct zio_extents spare;        /* populated spare pages */
	/* WP faults that wait for pins to drop */
#define ZIO_MAX_DEFERRED 256
	uintptr_t deferred[ZIO_MAX_DEFERRED];
	int n_deferred;
	/* Threads waiting for pins on originals to drop (zio_wait_unpinned),
	 * woken by zio_unpin. */
	pthread_cond_t unpinned;
	int pin_waiters;
	/* Pins held on all origins (zio_pin, zio_pin_drop): while none is,
	 * nothing can be pinned, and a change need not look (hot paths). */
	uint64_t pins_held;
	pid_t pid;
};
extern struct zio_state zio;
/* Elision possible right now (cheap check for the hot paths). */
extern _Atomic int zio_active;
/* Count of regions (originals + aliases); hot paths skip the index at 0. */
extern _Atomic uint64_t zio_live_regions;
extern _Atomic uint64_t zio_live_aliases;
/* Cause of the materialisations the current thread makes (ZIO_MAT_*). */
extern __thread int zio_mat_cause __attribute__((tls_model("initial-exec")));

/* The runtime lock (a mutex, not a signal mask: asynchronous signals that
 * arrive while a thread holds it are deferred by our handler wrapper,
 * signal.c).  zio_unlock first handles the reports an ioctl read while it
 * waited. */
void zio_lock(void);
void zio_unlock(void);
uint64_t zio_now_ns(void);

/* Pin o for a reader outside the lock, and let one pin go (lock held):
 * every pin is taken and dropped through these two, which keep
 * zio.pins_held. */
static inline void zio_pin(struct zio_origin *o)
{
	o->pins++;
	zio.pins_held++;
}

static inline void zio_pin_drop(struct zio_origin *o)
{
	o->pins--;
	zio.pins_held--;
}

/* Let go of origins pinned by a reader outside the lock; stores that
 * waited for them go ahead. */
void zio_unpin(struct zio_origin **pins, int n);
/* Pins on an original mean another thread reads its app bytes outside
 * the lock right now (an output or a copy, at the address it resolved):
 * they must not change, move or go until it is done.  A thread about to
 * change [a, b) (input, copy, release) waits here, lock held, until no
 * original there is pinned, as its store would wait in the fault
 * handler.  Never called by the fault thread.  Returns whether it
 * waited (the index may have changed meanwhile). */
bool zio_wait_unpinned(uintptr_t a, uintptr_t b);

/* fork: the child's state starts empty (state.c's part of it). */
void zio_state_fork_child(void);

#endif
