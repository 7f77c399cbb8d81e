// SPDX-License-Identifier: MIT
/*
 * The rings: receive (descriptor chains pulled from the rx rings into the
 * sockets' backlogs) and transmit (packets onto the tx rings, completions
 * reaped).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mech/state.h"
#include "xsk/xsk.h"

/* ------------------------------------------------------------ receive */

static void chain_drop(const struct xdp_desc *dd, int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t off = (dd[i].addr & XSK_UNALIGNED_BUF_ADDR_MASK) +
			       (dd[i].addr >> XSK_UNALIGNED_BUF_OFFSET_SHIFT);

		xs_slots_release((uint32_t)((off - XS_HEADROOM) / xs.stride), 1);
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

	xs_held_add(n);
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
			xs_held_add(n);
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

/* Every queue's rx ring into the backlogs (xs lock held). */
ZIO_HIDDEN void xs_pull_all(void)
{
	for (int i = 0; i < xs.nq; i++)
		xs_rx_pull(&xs.q[i]);
}

/* ------------------------------------------------------------ transmit */

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

/* Room on q for a packet of at most XS_MAX_DESC descriptors: ring slots,
 * a fifo entry and TX chunks, reaping completions first.  Returns the
 * ring's producer index, or -EAGAIN. */
static int64_t tx_room(struct xs_queue *q)
{
	uint32_t prod = *q->tx.producer, cons;

	for (int pass = 0; pass < 2; pass++) {
		cons = __atomic_load_n(q->tx.consumer, __ATOMIC_ACQUIRE);
		if (q->tx.size - (prod - cons) >= XS_MAX_DESC && q->ftail - q->fhead < q->fsize &&
		    q->ntxfree >= XS_MAX_DESC)
			return prod;
		xs_reap(q);
	}
	return -EAGAIN;
}

/* The first chunk: TX metadata (when offloading checksums) and the
 * headers.  Returns the headers' address in the UMEM. */
static uint8_t *tx_header(struct xs_queue *q, struct xs_txpkt *pk, struct xdp_desc *dd,
			  const uint8_t *hdr, uint32_t hlen, uint32_t csum_off, uint32_t *fill)
{
	uint32_t cur = chunk_get(q), hoff = 0;
	uint8_t *cp;

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
	pk->chunk[pk->nchunks++] = cur;
	*dd = (struct xdp_desc){ .addr = chunk_off(q, cur) + hoff, .len = hlen,
				 .options = xs.txmd ? XDP_TX_METADATA : 0 };
	*fill = hoff + hlen;
	return cp;
}

/* The payload: UMEM segments as descriptors pointing at their frames
 * (unless copy_all), the rest copied into TX chunks.  Adds to *nd and
 * the checksum *sum.  0, or -EAGAIN (out of chunks or descriptors). */
static int tx_payload(struct xs_queue *q, struct xs_txpkt *pk, struct xdp_desc *dd, uint32_t *nd,
		      const struct xs_segment *seg, int nseg, bool copy_all, uint32_t fill,
		      uint32_t *sum)
{
	uint32_t piece = xs.txmd ? XS_CHUNK - XS_TXMD_LEN : XS_CHUNK, pos = 0, cur = UINT32_MAX;

	/* the header chunk is the one being filled */
	cur = pk->chunk[0];
	for (int i = 0; i < nseg; i++) {
		const uint8_t *p = seg[i].o ? xs_umem_ptr(seg[i].umem_off) : seg[i].p;
		uint32_t left = seg[i].len;

		if (!xs.txmd)
			*sum = xs_csum_add(*sum, p, left, pos & 1);
		pos += left;
		if (seg[i].o && !copy_all) {
			while (left) {
				uint32_t n = left < piece ? left : piece;

				dd[(*nd)++] = (struct xdp_desc){ .addr = (uint64_t)(p - xs.umem), .len = n };
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
				if (cur == UINT32_MAX || *nd == XS_MAX_DESC)
					return -EAGAIN;
				pk->chunk[pk->nchunks++] = cur;
				/* with metadata every descriptor is checked as if it
				 * had some before it */
				fill = xs.txmd ? XS_TXMD_LEN : 0;
				dd[(*nd)++] = (struct xdp_desc){ .addr = chunk_off(q, cur) + fill, .len = 0 };
				XS_STAT_ADD(tx_desc_copy, 1);
			}
			n = XS_CHUNK - fill < left ? XS_CHUNK - fill : left;
			zio_raw_copy(xs_umem_ptr(chunk_off(q, cur) + fill), p, n);
			dd[*nd - 1].len += n;
			fill += n;
			p += n;
			left -= n;
		}
	}
	return 0;
}

/* The UDP checksum at cp + csum_off: the pseudo header's folded sum for
 * the NIC to finish (offload), else the whole sum. */
static void tx_checksum(uint8_t *cp, const uint8_t *hdr, uint32_t csum_off, uint32_t seed,
			uint32_t sum)
{
	uint16_t c;

	if (xs.txmd) {
		/* the folded pseudo header sum, not complemented */
		c = (uint16_t)~xs_csum_fold(seed);
	} else {
		sum = xs_csum_add(sum, hdr + csum_off - 6, 8, false);
		c = xs_csum_fold(sum);
		if (!xs.csum && hdr[12] == 0x08 && hdr[13] == 0x00)
			c = 0;          /* IPv4 allows "no checksum" */
		else if (!c)
			c = 0xffff;
	}
	cp[csum_off] = (uint8_t)(c >> 8);
	cp[csum_off + 1] = (uint8_t)c;
}

/*
 * Queue one datagram: hdr (hlen bytes) then the payload segments.  UMEM
 * segments (seg->o set, pinned by the caller; the pins pass to the packet
 * and go at completion) become descriptors pointing at the original
 * frames; other bytes are copied into TX chunks.  More than 18
 * descriptors: everything is copied instead.  The UDP checksum is
 * completed over the payload at csum_off.  Returns 0, or -errno
 * (nothing queued: the caller falls back to the kernel socket).
 */
ZIO_HIDDEN int xs_tx(struct xs_queue *q, const uint8_t *hdr, uint32_t hlen,
		     const struct xs_segment *seg, int nseg, uint32_t csum_off, uint32_t seed)
{
	struct xdp_desc dd[XS_MAX_DESC];
	struct xs_txpkt pk = { 0 };
	uint32_t piece = xs.txmd ? XS_CHUNK - XS_TXMD_LEN : XS_CHUNK;
	uint32_t nd = 1, fill, sum = seed, ndesc = 1, prod;
	int64_t room;
	uint8_t *cp;

	xs_reap(q);
	/* descriptors needed when UMEM segments are referenced in place */
	for (int i = 0; i < nseg; i++)
		if (seg[i].o)
			ndesc += (seg[i].len + piece - 1) / piece + 1;
	room = tx_room(q);
	if (room < 0)
		return (int)room;
	prod = (uint32_t)room;
	cp = tx_header(q, &pk, &dd[0], hdr, hlen, csum_off, &fill);
	if (tx_payload(q, &pk, dd, &nd, seg, nseg, ndesc > XS_MAX_DESC, fill, &sum)) {
		for (int i = 0; i < pk.nchunks; i++)
			q->txfree[q->ntxfree++] = pk.chunk[i];
		return -EAGAIN;
	}
	tx_checksum(cp, hdr, csum_off, seed, sum);
	for (int i = 0; i < nseg; i++)
		if (seg[i].o)
			pk.pin[pk.npins++] = seg[i].o;
	if (ndesc > XS_MAX_DESC) {
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
}
