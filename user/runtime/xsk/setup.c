// SPDX-License-Identifier: MIT
/*
 * Setting up AF_XDP: the maps zio-run's loader pinned (raw bpf(2): the
 * runtime links neither libbpf nor libxdp), the UMEM, and one socket per
 * served queue with its four rings mapped.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

#include "xsk/xsk.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

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
static int queue_open(struct xs_queue *q, bool first)
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
		xs.txmd = xs.csum_offload;
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
		return zio_real.bind(fd, (struct sockaddr *)&sx, sizeof(sx)) ? -errno : 0;
	}
	/* Zero-copy first where allowed; veth says EOPNOTSUPP. */
	if (strcmp(xs.bind_mode, "copy")) {
		sx.sxdp_flags = XDP_USE_NEED_WAKEUP | XDP_USE_SG | XDP_ZEROCOPY;
		if (!zio_real.bind(fd, (struct sockaddr *)&sx, sizeof(sx)))
			return 0;
		err = -errno;
		if (!strcmp(xs.bind_mode, "zc"))
			return err;
		pr_info("xdp: zero-copy bind on %s queue %d refused (%s): copy mode", xs.ifname,
			q->qid, strerror(-err));
	}
	sx.sxdp_flags = XDP_USE_NEED_WAKEUP | XDP_USE_SG | XDP_COPY;
	return zio_real.bind(fd, (struct sockaddr *)&sx, sizeof(sx)) ? -errno : 0;
}

/* The UMEM and the slot bitmaps, sized for the 4096 stride so that
 * either bind mode fits.  0 or -errno. */
static int umem_alloc(uint64_t tx_chunks)
{
	uint64_t rx_len;

	xs.nslots = xs.frames * (uint32_t)xs.nq;
	rx_len = XS_HEADROOM + (uint64_t)xs.nslots * XS_CHUNK;
	xs.tx_base = pg_up(rx_len);
	xs.umem_len = xs.tx_base + tx_chunks * XS_CHUNK * (uint64_t)xs.nq;
	xs.umem = mmap(NULL, xs.umem_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (xs.umem == MAP_FAILED) {
		xs.umem = NULL;
		return -errno;
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
	return 0;
}

/* Queue i: its slots and TX chunks, then its AF_XDP socket (the first
 * one learns whether the bind is zero-copy).  0 or -errno. */
static int queue_setup(int i, uint64_t tx_chunks)
{
	struct xs_queue *q = &xs.q[i];
	int err;

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
	if (q->txfree == MAP_FAILED || q->fifo == MAP_FAILED)
		return -ENOMEM;
	for (uint32_t c = 0; c < q->ntx; c++)
		q->txfree[q->ntxfree++] = q->tx0 + q->ntx - 1 - c;
	err = queue_open(q, i == 0);
	if (err) {
		pr_warn("xdp: failed to bind an AF_XDP socket to %s queue %d: %s", xs.ifname,
			q->qid, strerror(-err));
		return err;
	}
	if (i == 0) {
		struct xdp_options xo;
		socklen_t l = sizeof(xo);

		xs.zerocopy = !getsockopt(q->fd, SOL_XDP, XDP_OPTIONS, &xo, &l) &&
			      (xo.flags & XDP_OPTIONS_ZEROCOPY);
		/* Copy mode: slots touch (contiguous chains); zero-copy: one
		 * chunk per page (xsk.h). */
		xs.stride = xs.zerocopy ? XS_CHUNK : XS_FRAME_LEN;
	}
	return 0;
}

/* The UMEM, one AF_XDP socket per configured queue, their fill rings
 * filled and their sockets in the steering program's XSKMAP.  Lock
 * held.  0 or -errno. */
ZIO_HIDDEN int xs_setup(void)
{
	uint64_t tx_chunks = xs.ring < 1024 ? xs.ring : 1024;
	int err;

	xs.xsks_map = obj_get(xs.pin_dir, ZIO_STEER_XSKS);
	xs.ports_map = obj_get(xs.pin_dir, ZIO_STEER_PORTS);
	xs.cnt_map = obj_get(xs.pin_dir, ZIO_STEER_CNT);
	if (xs.xsks_map < 0 || xs.ports_map < 0) {
		err = -errno;
		pr_warn("xdp: failed to open the maps pinned in %s: %s", xs.pin_dir, strerror(-err));
		return err;
	}
	err = umem_alloc(tx_chunks);
	for (int i = 0; i < xs.nq && !err; i++)
		err = queue_setup(i, tx_chunks);
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
