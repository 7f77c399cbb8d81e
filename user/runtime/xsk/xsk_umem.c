// SPDX-License-Identifier: MIT
/*
 * AF_XDP rings and UMEM frames (layout in xsk.h).  One AF_XDP socket per
 * served queue, all sharing one UMEM (XDP_SHARED_UMEM), each with its own
 * fill/completion rings and its own range of frame slots.
 *
 * Life of a slot:  free --refill--> fill ring --kernel--> rx ring
 *   --pull--> held (backlog, then aliases/pins of its origin) --> free.
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
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

#include "xsk.h"
#include "probes.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

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

static inline uint32_t slot_queue(uint32_t slot)
{
	return slot / xs.frames;
}

static void held_add(int64_t n)
{
	uint64_t h = atomic_fetch_add_explicit(&xs_stats.held, (uint64_t)n, memory_order_relaxed) +
		     (uint64_t)n;
	uint64_t m = atomic_load_explicit(&xs_stats.held_max, memory_order_relaxed);

	while (n > 0 && h > m &&
	       !atomic_compare_exchange_weak(&xs_stats.held_max, &m, h))
		;
}

static void slots_release(uint32_t slot, uint32_t n)
{
	for (uint32_t s = slot; s < slot + n; s++)
		atomic_fetch_or_explicit(&xs.freemap[s / 64], 1ULL << (s % 64), memory_order_release);
	atomic_fetch_add_explicit(&xs.q[slot_queue(slot)].nfree, n, memory_order_release);
	held_add(-(int64_t)n);
}

/* zio_index_umem_release: runtime lock held, never block. */
static void xs_umem_release(struct zio_origin *o)
{
	slots_release((uint32_t)(o->cookie >> 8), (uint32_t)(o->cookie & 0xff));
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
			slots_release(d->run[i].slot, d->run[i].nslots);
	}
	if (any) {
		zio_lock();
		for (int i = 0; i < d->nruns; i++) {
			struct zio_origin *o = d->run[i].o;

			if (!o)
				continue;
			o->pins--;
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
		o->pins = 1;
		ages_push(o);
	}
	zio_unlock();
	r->o = o;
	return o;
}

static void chain_drop(const struct xdp_desc *dd, int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t off = (dd[i].addr & XSK_UNALIGNED_BUF_ADDR_MASK) +
			       (dd[i].addr >> XSK_UNALIGNED_BUF_OFFSET_SHIFT);

		slots_release((uint32_t)((off - XS_HEADROOM) / xs.stride), 1);
	}
	XS_STAT_ADD(dropped, 1);
}

/* One complete descriptor chain: parse, cut into runs, hand to the
 * socket of its port. */
static void chain_take(struct xs_queue *q, const struct xdp_desc *dd, int n)
{
	struct xs_dgram *d;
	struct xs_sock *s;
	uint8_t smac[6];
	uint32_t hlen, want;
	uint64_t off0;

	held_add(n);
	off0 = (dd[0].addr & XSK_UNALIGNED_BUF_ADDR_MASK) + (dd[0].addr >> XSK_UNALIGNED_BUF_OFFSET_SHIFT);
	d = xs_dgram_alloc();
	if (!d || xs_parse(xs_umem_ptr(off0), dd[0].len, d, &hlen, smac)) {
		if (d) {
			d->next = xs.dg_free;
			xs.dg_free = d;
		}
		chain_drop(dd, n);
		return;
	}
	d->q = (uint16_t)(q - xs.q);
	d->nruns = 0;
	want = d->len;
	for (int i = 0; i < n; i++) {
		uint64_t off = (dd[i].addr & XSK_UNALIGNED_BUF_ADDR_MASK) +
			       (dd[i].addr >> XSK_UNALIGNED_BUF_OFFSET_SHIFT);
		uint32_t len = dd[i].len, slot = (uint32_t)((off - XS_HEADROOM) / xs.stride);
		struct xs_run *r = d->nruns ? &d->run[d->nruns - 1] : NULL;

		if (i == 0) {
			off += hlen;
			len -= hlen;
		}
		if (len > want)
			len = want;  /* Ethernet padding of a short frame */
		want -= len;
		if (r && r->off + r->len == off && r->slot + r->nslots == slot) {
			r->len += len;
			r->nslots++;
			continue;
		}
		if (d->nruns == XS_MAX_RUNS) {
			d->next = xs.dg_free;
			xs.dg_free = d;
			chain_drop(dd, n);
			return;
		}
		d->run[d->nruns++] = (struct xs_run){ .off = off, .len = len, .slot = slot,
						      .nslots = 1 };
	}
	if (want) {
		/* shorter than its UDP header says: the program never gets it */
		d->next = xs.dg_free;
		xs.dg_free = d;
		chain_drop(dd, n);
		return;
	}
	xs_neigh_learn(&d->src, smac, &d->dst, d->q);
	s = xs_sock_for_port(d->dport);
	if (!s || (s->family == AF_INET && !d->v4) || (s->v6only && d->v4) ||
	    (!s->bound_any && memcmp(&s->bound, &d->dst, sizeof(d->dst))) ||
	    (s->connected && (memcmp(&s->peer, &d->src, sizeof(d->src)) ||
			      s->peer_port != d->sport))) {
		/* no socket of the program would get it from the kernel either */
		xs_dgram_free(d);
		XS_STAT_ADD(dropped, 1);
		return;
	}
	d->next = NULL;
	if (s->tail)
		s->tail->next = d;
	else
		s->head = d;
	s->tail = d;
	s->count++;
	XS_STAT_ADD(rx, 1);
}

ZIO_HIDDEN int xs_rx_pull(struct xs_queue *q)
{
	struct xs_ring *r = &q->rx;
	uint32_t cons = *r->consumer, prod = __atomic_load_n(r->producer, __ATOMIC_ACQUIRE);
	struct xdp_desc *ring = r->ring;
	int got = 0;

	while (cons != prod) {
		struct xdp_desc dd[XS_MAX_RX_DESC];
		uint32_t j = cons;
		int n = 0;
		bool done = false;

		while (j != prod) {
			struct xdp_desc e = ring[j & r->mask];

			j++;
			if (n < XS_MAX_RX_DESC)
				dd[n] = e;
			n++;
			if (!(e.options & XDP_PKT_CONTD)) {
				done = true;
				break;
			}
		}
		if (!done)
			break;  /* the rest of the chain is not published yet */
		if (n > XS_MAX_RX_DESC) {
			held_add(n);
			for (uint32_t k = cons; k != j; k++) {
				struct xdp_desc e = ring[k & r->mask];

				chain_drop(&e, 1);
			}
		} else {
			chain_take(q, dd, n);
			got++;
		}
		cons = j;
	}
	__atomic_store_n(r->consumer, cons, __ATOMIC_RELEASE);
	if (got || atomic_load(&q->nfree))
		xs_refill(q);
	return got;
}

/* ------------------------------------------------------------ transmit */

ZIO_HIDDEN void xs_reap(struct xs_queue *q)
{
	struct xs_ring *r = &q->comp;
	uint32_t cons = *r->consumer, prod = __atomic_load_n(r->producer, __ATOMIC_ACQUIRE);
	struct zio_origin *pins[64];
	int np = 0;

	if (cons == prod)
		return;
	q->comp_acc += prod - cons;
	__atomic_store_n(r->consumer, prod, __ATOMIC_RELEASE);
	/* Completions come in submission order (one skb per packet in copy
	 * mode, ring order in a driver): match them by count. */
	while (q->fhead != q->ftail) {
		struct xs_txpkt *p = &q->fifo[q->fhead % q->fsize];

		if (q->comp_acc < p->ndesc)
			break;
		q->comp_acc -= p->ndesc;
		for (int i = 0; i < p->nchunks; i++)
			q->txfree[q->ntxfree++] = p->chunk[i];
		for (int i = 0; i < p->npins; i++) {
			if (np == 64) {
				zio_unpin(pins, np);
				np = 0;
			}
			pins[np++] = p->pin[i];
		}
		q->fhead++;
	}
	if (np)
		zio_unpin(pins, np);
}

ZIO_HIDDEN void xs_kick(struct xs_queue *q)
{
	/* Copy mode transmits inside this call, at most 32 descriptors at a
	 * time: kick until the ring is drained (or the kernel pushes back). */
	for (int i = 0; i < 16; i++) {
		uint32_t cons = __atomic_load_n(q->tx.consumer, __ATOMIC_ACQUIRE);

		if (cons == *q->tx.producer)
			return;
		if (zio_real.sendto(q->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
		    errno != EAGAIN && errno != EBUSY && errno != ENOBUFS)
			return;
		xs_reap(q);
	}
}

static uint32_t chunk_get(struct xs_queue *q)
{
	if (!q->ntxfree)
		xs_reap(q);
	return q->ntxfree ? q->txfree[--q->ntxfree] : UINT32_MAX;
}

static inline uint64_t chunk_off(struct xs_queue *q, uint32_t c)
{
	(void)q;
	return xs.tx_base + (uint64_t)c * XS_CHUNK;
}

/*
 * Queue one datagram: hdr (hlen bytes) then the payload segments.  UMEM
 * segments (seg->o set, pinned by the caller; the pins pass to the packet
 * and go at completion) become descriptors pointing at the original
 * frames; other bytes are copied into TX chunks.  More than 18
 * descriptors: everything is copied instead.  The UDP checksum is
 * completed over the payload at csum_off.
 */
ZIO_HIDDEN int xs_tx(struct xs_queue *q, const uint8_t *hdr, uint32_t hlen,
		     const struct xs_segment *seg, int nseg, uint32_t csum_off, uint32_t seed)
{
	struct xdp_desc dd[XS_MAX_DESC];
	struct xs_txpkt pk = { 0 };
	uint32_t prod, cons, nd = 0, fill = 0, cur = UINT32_MAX, sum = seed, pos = 0, ndesc = 1;
	bool copy_all = false;
	uint8_t *cp = NULL;

	xs_reap(q);
	/* descriptors needed when UMEM segments are referenced in place */
	uint32_t piece = xs.txmd ? XS_CHUNK - XS_TXMD_LEN : XS_CHUNK, hoff = 0;

	for (int i = 0; i < nseg; i++)
		if (seg[i].o)
			ndesc += (seg[i].len + piece - 1) / piece + 1;
	if (ndesc > XS_MAX_DESC)
		copy_all = true;
	prod = *q->tx.producer;
	cons = __atomic_load_n(q->tx.consumer, __ATOMIC_ACQUIRE);
	if (q->tx.size - (prod - cons) < XS_MAX_DESC || q->ftail - q->fhead >= q->fsize ||
	    q->ntxfree < XS_MAX_DESC) {
		xs_reap(q);
		cons = __atomic_load_n(q->tx.consumer, __ATOMIC_ACQUIRE);
		if (q->tx.size - (prod - cons) < XS_MAX_DESC || q->ftail - q->fhead >= q->fsize ||
		    q->ntxfree < XS_MAX_DESC)
			return -EAGAIN;
	}
	cur = chunk_get(q);
	if (xs.txmd) {
		/* struct xsk_tx_metadata sits right before the frame: ask the
		 * kernel (or NIC) to finish the UDP checksum, as the kernel's
		 * own UDP does (CHECKSUM_PARTIAL). */
		uint8_t *md = xs_umem_ptr(chunk_off(q, cur) + XS_TX_DATA - XS_TXMD_LEN);
		uint64_t f = XS_TXMD_FLAGS_CHECKSUM;
		uint16_t start = (uint16_t)(csum_off - 6), offs = 6;

		zio_raw_copy(md, &f, 8);
		zio_raw_copy(md + 8, &start, 2);
		zio_raw_copy(md + 10, &offs, 2);
		hoff = XS_TX_DATA;
	}
	cp = xs_umem_ptr(chunk_off(q, cur) + hoff);
	zio_raw_copy(cp, hdr, hlen);
	pk.chunk[pk.nchunks++] = cur;
	dd[nd++] = (struct xdp_desc){ .addr = chunk_off(q, cur) + hoff, .len = hlen,
				      .options = xs.txmd ? XDP_TX_METADATA : 0 };
	fill = hoff + hlen;
	for (int i = 0; i < nseg; i++) {
		const uint8_t *p = seg[i].o ? xs_umem_ptr(seg[i].umem_off) : seg[i].p;
		uint32_t left = seg[i].len;

		if (!xs.txmd)
			sum = xs_csum_add(sum, p, left, pos & 1);
		pos += left;
		if (seg[i].o && !copy_all) {
			while (left) {
				uint32_t n = left < piece ? left : piece;

				dd[nd++] = (struct xdp_desc){ .addr = (uint64_t)(p - xs.umem), .len = n };
				p += n;
				left -= n;
				XS_STAT_ADD(tx_desc_umem, 1);
			}
			cur = UINT32_MAX;  /* later copies start a fresh chunk */
			continue;
		}
		XS_STAT_ADD(copied_bytes, left);
		while (left) {
			uint32_t n;

			if (cur == UINT32_MAX || fill == XS_CHUNK) {
				cur = chunk_get(q);
				if (cur == UINT32_MAX || nd == XS_MAX_DESC)
					goto undo;
				pk.chunk[pk.nchunks++] = cur;
				/* with metadata every descriptor is checked as if it
				 * had some before it */
				fill = xs.txmd ? XS_TXMD_LEN : 0;
				dd[nd++] = (struct xdp_desc){ .addr = chunk_off(q, cur) + fill, .len = 0 };
				XS_STAT_ADD(tx_desc_copy, 1);
			}
			n = XS_CHUNK - fill < left ? XS_CHUNK - fill : left;
			zio_raw_copy(xs_umem_ptr(chunk_off(q, cur) + fill), p, n);
			dd[nd - 1].len += n;
			fill += n;
			p += n;
			left -= n;
		}
	}
	if (xs.txmd) {
		/* the folded pseudo header sum, not complemented */
		uint16_t c = (uint16_t)~xs_csum_fold(seed);

		cp[csum_off] = (uint8_t)(c >> 8);
		cp[csum_off + 1] = (uint8_t)c;
	} else {
		uint16_t c;

		sum = xs_csum_add(sum, hdr + csum_off - 6, 8, false);
		c = xs_csum_fold(sum);
		if (!xs.csum && hdr[12] == 0x08 && hdr[13] == 0x00)
			c = 0;          /* IPv4 allows "no checksum" */
		else if (!c)
			c = 0xffff;
		cp[csum_off] = (uint8_t)(c >> 8);
		cp[csum_off + 1] = (uint8_t)c;
	}
	for (int i = 0; i < nseg; i++)
		if (seg[i].o)
			pk.pin[pk.npins++] = seg[i].o;
	if (copy_all) {
		/* copied: the pins are not needed past this point */
		zio_unpin(pk.pin, pk.npins);
		pk.npins = 0;
	}
	for (uint32_t i = 0; i < nd; i++) {
		struct xdp_desc *t = &((struct xdp_desc *)q->tx.ring)[(prod + i) & q->tx.mask];

		*t = dd[i];
		t->options = dd[i].options | (i + 1 < nd ? XDP_PKT_CONTD : 0);
	}
	pk.ndesc = (uint16_t)nd;
	q->fifo[q->ftail++ % q->fsize] = pk;
	__atomic_store_n(q->tx.producer, prod + nd, __ATOMIC_RELEASE);
	xs_kick(q);
	XS_STAT_ADD(tx, 1);
	return 0;
undo:
	for (int i = 0; i < pk.nchunks; i++)
		q->txfree[q->ntxfree++] = pk.chunk[i];
	return -EAGAIN;
}

/* ------------------------------------------------------------ setup */

static long sys_bpf(int cmd, union bpf_attr *a)
{
	return syscall(SYS_bpf, cmd, a, sizeof(*a));
}

static int obj_get(const char *dir, const char *name)
{
	char path[256];
	union bpf_attr a;

	zio_snprintf(path, sizeof(path), "%s/%s", dir, name);
	memset(&a, 0, sizeof(a));
	a.pathname = (uint64_t)(uintptr_t)path;
	return (int)sys_bpf(BPF_OBJ_GET, &a);
}

ZIO_HIDDEN int xs_map_update(int fd, const void *key, const void *val)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	a.key = (uint64_t)(uintptr_t)key;
	a.value = (uint64_t)(uintptr_t)val;
	return sys_bpf(BPF_MAP_UPDATE_ELEM, &a) ? -errno : 0;
}

ZIO_HIDDEN int xs_map_lookup(int fd, const void *key, void *val)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	a.key = (uint64_t)(uintptr_t)key;
	a.value = (uint64_t)(uintptr_t)val;
	return sys_bpf(BPF_MAP_LOOKUP_ELEM, &a) ? -errno : 0;
}

static int ring_map(int fd, struct xs_ring *r, const struct xdp_ring_offset *o, uint64_t pgoff,
		    size_t elem)
{
	size_t len = o->desc + (size_t)r->size * elem;
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
			  (off_t)pgoff);

	if (m == MAP_FAILED)
		return -errno;
	r->map = m;
	r->map_len = len;
	r->producer = (uint32_t *)(m + o->producer);
	r->consumer = (uint32_t *)(m + o->consumer);
	r->flags = (uint32_t *)(m + o->flags);
	r->ring = m + o->desc;
	r->mask = r->size - 1;
	/* The rings are ours alone: a child of fork must not share them. */
	zio_real.madvise(m, len, MADV_DONTFORK);
	return 0;
}

/* Create, map and bind the AF_XDP socket of queue q (the first one
 * registers the UMEM).  Returns 0 or -errno. */
static int queue_open(struct xs_queue *q, bool first, const char *bind_mode)
{
	struct xdp_mmap_offsets off;
	socklen_t ol = sizeof(off);
	struct sockaddr_xdp sx = { .sxdp_family = AF_XDP, .sxdp_ifindex = (uint32_t)xs.ifindex,
				   .sxdp_queue_id = (uint32_t)q->qid };
	uint32_t n = xs.ring;
	int fd, err;

	fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	q->fd = fd;
	if (first) {
		struct {
			uint64_t addr, len;
			uint32_t chunk_size, headroom, flags, tx_metadata_len;
		} mr = { (uint64_t)(uintptr_t)xs.umem, xs.umem_len, XS_CHUNK, 0,
			 XDP_UMEM_UNALIGNED_CHUNK_FLAG | XS_UMEM_TX_METADATA_LEN, XS_TXMD_LEN };

		/* TX metadata (checksum offload) where the kernel has it (6.11+),
		 * unless software checksums were asked for */
		xs.txmd = xs.csum && !getenv("ZIO_XDP_CSUM");
		if (!xs.txmd || setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr))) {
			xs.txmd = false;
			mr.flags = XDP_UMEM_UNALIGNED_CHUNK_FLAG;
			mr.tx_metadata_len = 0;
			if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr) - 4))
				return -errno;
		}
	}
	q->fill.size = q->comp.size = q->rx.size = q->tx.size = n;
	if (setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &n, sizeof(n)) ||
	    setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &n, sizeof(n)) ||
	    setsockopt(fd, SOL_XDP, XDP_RX_RING, &n, sizeof(n)) ||
	    setsockopt(fd, SOL_XDP, XDP_TX_RING, &n, sizeof(n)) ||
	    getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &ol))
		return -errno;
	if ((err = ring_map(fd, &q->fill, &off.fr, XDP_UMEM_PGOFF_FILL_RING, sizeof(uint64_t))) ||
	    (err = ring_map(fd, &q->comp, &off.cr, XDP_UMEM_PGOFF_COMPLETION_RING, sizeof(uint64_t))) ||
	    (err = ring_map(fd, &q->rx, &off.rx, XDP_PGOFF_RX_RING, sizeof(struct xdp_desc))) ||
	    (err = ring_map(fd, &q->tx, &off.tx, XDP_PGOFF_TX_RING, sizeof(struct xdp_desc))))
		return err;
	if (!first) {
		sx.sxdp_flags = XDP_SHARED_UMEM;
		sx.sxdp_shared_umem_fd = (uint32_t)xs.q[0].fd;
		return bind(fd, (struct sockaddr *)&sx, sizeof(sx)) ? -errno : 0;
	}
	/* Zero-copy first where allowed; veth says EOPNOTSUPP. */
	if (strcmp(bind_mode, "copy")) {
		sx.sxdp_flags = XDP_USE_NEED_WAKEUP | XDP_USE_SG | XDP_ZEROCOPY;
		if (!bind(fd, (struct sockaddr *)&sx, sizeof(sx)))
			return 0;
		err = -errno;
		if (!strcmp(bind_mode, "zc"))
			return err;
		pr_info("xdp: zero-copy bind on %s queue %d refused (%s): copy mode", xs.ifname,
			q->qid, strerror(-err));
	}
	sx.sxdp_flags = XDP_USE_NEED_WAKEUP | XDP_USE_SG | XDP_COPY;
	return bind(fd, (struct sockaddr *)&sx, sizeof(sx)) ? -errno : 0;
}

ZIO_HIDDEN int xs_setup(void)
{
	const char *bind_mode = getenv(ZIO_ENV_XDP_BIND);
	uint64_t rx_len, tx_chunks;
	int err = 0;

	if (!bind_mode)
		bind_mode = "auto";
	xs.xsks_map = obj_get(xs.pin_dir, ZIO_STEER_XSKS);
	xs.ports_map = obj_get(xs.pin_dir, ZIO_STEER_PORTS);
	xs.cnt_map = obj_get(xs.pin_dir, ZIO_STEER_CNT);
	if (xs.xsks_map < 0 || xs.ports_map < 0) {
		err = -errno;
		pr_warn("xdp: failed to open the maps pinned in %s: %s", xs.pin_dir, strerror(-err));
		return err;
	}
	/* Sized for the 4096 stride, so either bind mode fits. */
	xs.nslots = xs.frames * (uint32_t)xs.nq;
	rx_len = XS_HEADROOM + (uint64_t)xs.nslots * XS_CHUNK;
	tx_chunks = xs.ring < 1024 ? xs.ring : 1024;
	xs.tx_base = pg_up(rx_len);
	xs.umem_len = xs.tx_base + tx_chunks * XS_CHUNK * (uint64_t)xs.nq;
	xs.umem = mmap(NULL, xs.umem_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (xs.umem == MAP_FAILED) {
		err = -errno;
		xs.umem = NULL;
		return err;
	}
	zio_real.madvise(xs.umem, xs.umem_len, MADV_DONTFORK);
	xs.freemap = mmap(NULL, pg_up((xs.nslots + 63) / 64 * 8), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	xs.asize = xs.nslots;
	xs.ages = mmap(NULL, pg_up(xs.asize * sizeof(*xs.ages)), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (xs.freemap == MAP_FAILED || xs.ages == MAP_FAILED)
		return -ENOMEM;
	for (uint32_t s = 0; s < xs.nslots; s++)
		xs.freemap[s / 64] |= 1ULL << (s % 64);

	for (int i = 0; i < xs.nq && !err; i++) {
		struct xs_queue *q = &xs.q[i];

		q->qid = xs.qids[i];
		q->fd = -1;
		q->slot0 = (uint32_t)i * xs.frames;
		q->nslots = xs.frames;
		atomic_store(&q->nfree, xs.frames);
		q->tx0 = (uint32_t)(i * tx_chunks);
		q->ntx = (uint32_t)tx_chunks;
		q->fsize = xs.ring;
		q->txfree = mmap(NULL, pg_up(q->ntx * sizeof(uint32_t)), PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		q->fifo = mmap(NULL, pg_up(q->fsize * sizeof(struct xs_txpkt)),
			       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (q->txfree == MAP_FAILED || q->fifo == MAP_FAILED) {
			err = -ENOMEM;
			break;
		}
		for (uint32_t c = 0; c < q->ntx; c++)
			q->txfree[q->ntxfree++] = q->tx0 + q->ntx - 1 - c;
		err = queue_open(q, i == 0, bind_mode);
		if (err) {
			pr_warn("xdp: failed to bind an AF_XDP socket to %s queue %d: %s", xs.ifname,
				q->qid, strerror(-err));
			break;
		}
		if (i == 0) {
			struct xdp_options xo;
			socklen_t l = sizeof(xo);

			xs.zerocopy = !getsockopt(q->fd, SOL_XDP, XDP_OPTIONS, &xo, &l) &&
				      (xo.flags & XDP_OPTIONS_ZEROCOPY);
			/* Copy mode: slots touch (contiguous chains); zero-copy:
			 * one chunk per page (xsk.h). */
			xs.stride = xs.zerocopy ? XS_CHUNK : XS_FRAME_LEN;
		}
	}
	if (err)
		return err;
	xs.low_water = xs.frames / 4;
	if (xs.low_water < 2 * XS_MAX_DESC)
		xs.low_water = 2 * XS_MAX_DESC;
	if (xs.low_water > xs.ring / 2)
		xs.low_water = xs.ring / 2;
	zio_index_umem_release = xs_umem_release;
	for (int i = 0; i < xs.nq; i++) {
		uint32_t key = (uint32_t)xs.q[i].qid, val = (uint32_t)xs.q[i].fd;

		xs_refill(&xs.q[i]);
		err = xs_map_update(xs.xsks_map, &key, &val);
		if (err) {
			pr_warn("xdp: failed to insert the AF_XDP socket of queue %d: %s",
				xs.q[i].qid, strerror(-err));
			return err;
		}
	}
	pr_info("xdp: %s: %d queue(s), %s mode, %s bind, %u frames/queue, rings %u", xs.ifname,
		xs.nq, xs.mode, xs.zerocopy ? "zero-copy" : "copy", xs.frames, xs.ring);
	return 0;
}
