// SPDX-License-Identifier: MIT
/*
 * UMEM frames (layout in xsk.h).  One AF_XDP socket per served queue, all
 * sharing one UMEM (XDP_SHARED_UMEM), each with its own fill/completion
 * rings and its own range of frame slots.
 *
 * Life of a slot:  free --refill--> fill ring --kernel--> rx ring
 *   --pull (ring.c)--> held (backlog, then aliases/pins of its origin)
 *   --> free.
 * A large payload's run of slots becomes a UMEM origin when delivered:
 * the slots go back only when zio_index_umem_release says its last
 * alias, pin and hold went (xs_umem_release, called under the runtime
 * lock, so it only flips bits).  When free slots run low the oldest
 * origins' aliases are materialised (xs_evict), so receive never starves.
 *
 * Lock order: xs.lock, then zio.lock.  Nothing under zio.lock takes
 * xs.lock (the release callback uses atomics only).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "base/probes.h"
#include "mech/alias.h"
#include "mech/state.h"
#include "xsk/xsk.h"

ZIO_HIDDEN struct xs_state xs = { .lock = PTHREAD_MUTEX_INITIALIZER, .link_fd = -1,
				  .xsks_map = -1, .ports_map = -1, .cnt_map = -1 };
ZIO_HIDDEN struct xs_stats xs_stats;

ZIO_HIDDEN void xs_lock(void)
{
	/* The program's handlers wait while we hold it (a handler calling
	 * recv on the same socket would deadlock otherwise). */
	zio_defer_begin();
	pthread_mutex_lock(&xs.lock);
}

ZIO_HIDDEN void xs_unlock(void)
{
	pthread_mutex_unlock(&xs.lock);
	zio_defer_end();
}

/* ------------------------------------------------------------ slots */

/* ------------------------------------------------------------ slots */

static inline uint32_t slot_queue(uint32_t slot)
{
	return slot / xs.frames;
}

ZIO_HIDDEN void xs_held_add(int64_t n)
{
	uint64_t h = atomic_fetch_add_explicit(&xs_stats.held, (uint64_t)n, memory_order_relaxed) +
		     (uint64_t)n;
	uint64_t m = atomic_load_explicit(&xs_stats.held_max, memory_order_relaxed);

	while (n > 0 && h > m &&
	       !atomic_compare_exchange_weak(&xs_stats.held_max, &m, h))
		;
}

ZIO_HIDDEN void xs_slots_release(uint32_t slot, uint32_t n)
{
	for (uint32_t s = slot; s < slot + n; s++)
		atomic_fetch_or_explicit(&xs.freemap[s / 64], 1ULL << (s % 64), memory_order_release);
	atomic_fetch_add_explicit(&xs.q[slot_queue(slot)].nfree, n, memory_order_release);
	xs_held_add(-(int64_t)n);
}

/* zio_index_umem_release: runtime lock held, never block. */
ZIO_HIDDEN void xs_umem_release(struct zio_origin *o)
{
	xs_slots_release((uint32_t)(o->cookie >> 8), (uint32_t)(o->cookie & 0xff));
}

/* Post free slots to the fill ring, in slot order from the cursor (see
 * xsk.h: consecutive fill entries receive contiguous bytes). */
ZIO_HIDDEN void xs_refill(struct xs_queue *q)
{
	struct xs_ring *r = &q->fill;
	uint32_t prod = *r->producer, cons = __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);
	uint32_t room = r->size - (prod - cons), n = 0, scanned = 0;
	uint64_t *ring = r->ring;

	while (n < room && scanned < q->nslots &&
	       atomic_load_explicit(&q->nfree, memory_order_acquire)) {
		uint32_t s = q->slot0 + q->cursor;
		uint64_t bit = 1ULL << (s % 64), w;

		w = atomic_load_explicit(&xs.freemap[s / 64], memory_order_acquire);
		if (!(w >> (s % 64))) {
			/* nothing free in the rest of this word */
			uint32_t skip = 64 - s % 64;

			if (q->cursor + skip >= q->nslots)
				skip = q->nslots - q->cursor;
			q->cursor = (q->cursor + skip) % q->nslots;
			scanned += skip;
			continue;
		}
		if (w & bit) {
			atomic_fetch_and_explicit(&xs.freemap[s / 64], ~bit, memory_order_acq_rel);
			atomic_fetch_sub_explicit(&q->nfree, 1, memory_order_relaxed);
			ring[(prod + n) & r->mask] = (uint64_t)s * xs.stride;
			n++;
		}
		q->cursor = (q->cursor + 1) % q->nslots;
		scanned++;
	}
	if (!n)
		return;
	__atomic_store_n(r->producer, prod + n, __ATOMIC_RELEASE);
	/* A zero-copy driver may sleep until told (need_wakeup). */
	if (xs.zerocopy && (__atomic_load_n(r->flags, __ATOMIC_ACQUIRE) & XDP_RING_NEED_WAKEUP))
		zio_real.recvfrom(q->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
}

static uint32_t fill_posted(struct xs_queue *q)
{
	return *q->fill.producer - __atomic_load_n(q->fill.consumer, __ATOMIC_ACQUIRE);
}

static void ages_push(struct zio_origin *o)
{
	if (xs.atail - xs.ahead == xs.asize)
		xs.ahead++;  /* forget the oldest; it is released the usual way */
	xs.ages[xs.atail % xs.asize].o = o;
	xs.ages[xs.atail % xs.asize].id = o->id;
	xs.atail++;
}

/* Free slots run low: materialise the oldest origins' aliases. */
ZIO_HIDDEN void xs_evict(struct xs_queue *q)
{
	if (atomic_load(&q->nfree) + fill_posted(q) >= xs.low_water)
		return;
	zio_lock();
	while (xs.ahead != xs.atail &&
	       atomic_load(&q->nfree) + fill_posted(q) < xs.low_water) {
		struct zio_origin *o = xs.ages[xs.ahead % xs.asize].o;

		if (o->id != xs.ages[xs.ahead % xs.asize].id || o->kind != ZIO_ORIGIN_UMEM) {
			xs.ahead++;  /* released already */
			continue;
		}
		if (o->pins)
			break;       /* still in the receive path or in flight */
		xs.ahead++;
		if (!zio_materialize_origin(o, ZIO_MAT_EVICT))
			XS_STAT_ADD(evicted, 1);
	}
	zio_unlock();
}

/* ------------------------------------------------------------ datagrams */

/* ------------------------------------------------------------ datagrams */

ZIO_HIDDEN struct xs_dgram *xs_dgram_alloc(void)
{
	struct xs_dgram *d = xs.dg_free;

	if (d) {
		xs.dg_free = d->next;
		return d;
	}
	{
		size_t chunk = 64 * sizeof(*d);
		struct xs_dgram *c = mmap(NULL, chunk, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (c == MAP_FAILED)
			return NULL;
		for (size_t i = 1; i < 64; i++) {
			c[i].next = xs.dg_free;
			xs.dg_free = &c[i];
		}
		return &c[0];
	}
}

/* The datagram leaves the backlog: frames without an origin go back at
 * once; origins lose our hold (and free their frames when unused). */
ZIO_HIDDEN void xs_dgram_free(struct xs_dgram *d)
{
	bool any = false;

	for (int i = 0; i < d->nruns; i++) {
		if (d->run[i].o)
			any = true;
		else
			xs_slots_release(d->run[i].slot, d->run[i].nslots);
	}
	if (any) {
		zio_lock();
		for (int i = 0; i < d->nruns; i++) {
			struct zio_origin *o = d->run[i].o;

			if (!o)
				continue;
			zio_pin_drop(o);
			zio_origin_put_if_unused(&zio.ix, o);
		}
		zio_unlock();
	}
	d->next = xs.dg_free;
	xs.dg_free = d;
}

/* The origin of run i of d (created on first large delivery, held by d
 * until it leaves the backlog).  Lock order: xs, then zio.  NULL if no
 * memory (the caller copies). */
ZIO_HIDDEN struct zio_origin *xs_run_origin(struct xs_dgram *d, int i)
{
	struct xs_run *r = &d->run[i];
	struct zio_origin *o;

	if (r->o)
		return r->o;
	zio_lock();
	o = zio_origin_new(&zio.ix);
	if (o) {
		o->kind = ZIO_ORIGIN_UMEM;
		o->base = (uintptr_t)xs_umem_ptr(r->off);
		o->len = r->len;
		o->cookie = ((uint64_t)r->slot << 8) | r->nslots;
		o->born_ns = zio_now_ns();
		zio_pin(o);
		ages_push(o);
	}
	zio_unlock();
	r->o = o;
	return o;
}
