/* SPDX-License-Identifier: MIT */
/*
 * Private declarations of the AF_XDP socket layer (user/runtime/xsk/).
 * The rest of the runtime sees only xsk/hooks.h.
 *
 *   sock.c   the program's served sockets: bind, connect, close, dup;
 *            the settings; the stats line
 *   recv.c   receive: the backlog, else the kernel socket
 *   send.c   send: the tx ring, else the kernel socket
 *   wait.c   poll, select, epoll readiness
 *   umem.c   UMEM frame slots (fill, release, eviction), datagrams
 *   ring.c   rx pull of descriptor chains, transmit and completions
 *   setup.c  maps, UMEM, sockets and rings
 *   pkt.c    header parsing and building, checksums, link addresses
 *
 * Names: what crosses files inside xsk/ is xs_*; what the rest of the
 * runtime calls is zio_xsk_* (hooks.h).
 *
 * UMEM frame layout (copy mode).  The UMEM is registered in unaligned
 * chunk mode, and fill addresses are chosen so that the data areas of
 * consecutive slots touch: slot s receives at 256 + s*3840, and its
 * chunk (fill address s*3840, 256 B headroom the kernel does not write
 * in copy mode) overlaps the tail of slot s-1's data.  The fill ring is
 * refilled in slot order, so a datagram spread over a descriptor chain
 * lies contiguous in the UMEM, and a 60 KB payload is one run of bytes
 * that whole program pages can alias:
 *
 *   UMEM  |256|  slot 0 data 3840 | slot 1 data 3840 | slot 2 ...      |TX chunks (4096)...|
 *          ^fill addr of slot 0   ^ fill addr of slot 1 is 3840 (its headroom
 *                                   is slot 0's last 256 bytes)
 *
 * A zero-copy bind cannot do this (a chunk may not cross a page unless
 * the pages are physically contiguous): slots then stride 4096 and runs
 * are one frame each.
 */
#ifndef ZIO_XSK_H
#define ZIO_XSK_H

#include <linux/if_xdp.h>
#include <netinet/in.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "steer.h"
#include "base/log.h"
#include "base/real.h"
#include "mech/index.h"
#include "xsk/hooks.h"

#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif

#ifndef XDP_TX_METADATA
#define XDP_TX_METADATA (1 << 1)          /* descriptor option */
#endif
#define XS_UMEM_TX_METADATA_LEN (1 << 2)  /* xdp_umem_reg flag (6.11+) */
#define XS_TXMD_FLAGS_CHECKSUM (1 << 1)
#define XS_TXMD_LEN   24u                 /* struct xsk_tx_metadata */
#define XS_TX_DATA    64u                 /* header offset in a TX chunk */

#define XS_HEADROOM   256u          /* XDP_PACKET_HEADROOM */
#define XS_CHUNK      4096u
#define XS_FRAME_LEN  (XS_CHUNK - XS_HEADROOM)
#define XS_MAX_DESC   18            /* MAX_SKB_FRAGS + 1: what TX takes */
#define XS_MAX_RX_DESC 24
#define XS_MAX_RUNS   8
#define XS_MAX_QUEUES 64
#define XS_MAX_SOCKS  64
#define XS_SPIN_NS_DEFAULT 50000u   /* ZIO_XDP_SPIN_US */
#define XS_MAX_FD     65536
#define IF_NAMESIZE_  16

struct xs_ring {
	uint32_t *producer, *consumer, *flags;
	void *ring;
	uint32_t mask, size;
	void *map;
	size_t map_len;
};

/* One piece of a datagram's payload that is contiguous in the UMEM. */
struct xs_run {
	uint64_t off;               /* UMEM offset of its first payload byte */
	uint32_t len;
	uint32_t slot, nslots;      /* the frame slots it occupies */
	struct zio_origin *o;       /* its origin once delivered large */
};

/* A received datagram waiting in a socket's backlog. */
struct xs_dgram {
	struct xs_dgram *next;
	uint16_t q, nruns;
	uint32_t len;               /* payload bytes */
	struct in6_addr src, dst;   /* IPv4 as v4-mapped */
	uint16_t sport, dport;      /* host order */
	bool v4;
	struct xs_run run[XS_MAX_RUNS];
};

struct xs_txpkt {
	uint16_t ndesc, nchunks, npins;
	uint32_t chunk[XS_MAX_DESC];
	struct zio_origin *pin[XS_MAX_DESC];
};

struct xs_queue {
	int qid, fd;
	struct xs_ring fill, comp, rx, tx;
	uint32_t slot0, nslots;     /* slots of this queue */
	uint32_t cursor;            /* next slot to consider for the fill ring */
	_Atomic uint32_t nfree;     /* free (not posted, not held) slots */
	uint32_t tx0, ntx;          /* TX chunks of this queue */
	uint32_t *txfree;
	uint32_t ntxfree;
	struct xs_txpkt *fifo;      /* in-flight TX packets, oldest first */
	uint32_t fhead, ftail, fsize;
	uint32_t comp_acc;          /* completions not yet matched to a packet */
};

/* A program socket served from the rings (shared by its dup'd fds). */
struct xs_sock {
	int refs;
	int family;                 /* AF_INET or AF_INET6 */
	bool v6only;
	uint16_t port;
	struct in6_addr bound;      /* :: or v4-mapped 0.0.0.0 when any */
	bool bound_any;
	bool connected;
	struct in6_addr peer;
	uint16_t peer_port;
	struct xs_dgram *head, *tail;
	uint32_t count;
	uint32_t kernel_turn;       /* look at the kernel socket now and then */
	int nonblock_cache;         /* last F_GETFL answer: 0 unknown, 1 blocking, 2 not;
				     * a hint only (spin before asking again) */
};

struct xs_state {
	pthread_mutex_t lock;
	bool configured;            /* ZIO_XDP_* present and sane */
	bool up;                    /* UMEM and sockets created */
	bool failed;                /* setup failed once: kernel sockets only */
	bool zerocopy;
	char ifname[IF_NAMESIZE_ + 1];
	int ifindex, mtu, link_fd;
	uint8_t mac[6];
	char pin_dir[128];
	char mode[8];
	int xsks_map, ports_map, cnt_map;
	uint16_t ports[ZIO_STEER_MAX_PORTS];
	int nports;
	int qids[XS_MAX_QUEUES];
	int nq;
	struct xs_queue q[XS_MAX_QUEUES];
	uint32_t frames, ring;      /* per queue */
	uint8_t *umem;
	uint64_t umem_len;
	uint32_t stride;            /* slot stride: 3840 (copy) or 4096 (zc) */
	uint32_t nslots;            /* all queues */
	uint64_t tx_base;           /* UMEM offset of the TX chunks */
	_Atomic uint64_t *freemap;  /* bit per slot: free */
	uint32_t low_water;
	struct xs_dgram *dg_free;
	/* oldest-first live UMEM origins, for eviction */
	struct { struct zio_origin *o; uint64_t id; } *ages;
	uint32_t ahead, atail, asize;
	pid_t pid;
	uint32_t ip_id;
	bool csum;                  /* compute UDP checksums (else IPv4: 0) */
	bool csum_offload;          /* ... through TX metadata where the kernel can */
	bool txmd;                  /* TX metadata: checksum offload */
	char bind_mode[8];          /* ZIO_XDP_BIND: auto, copy or zc */
	uint32_t spin_ns;           /* busy-poll budget before a blocking wait */
};

extern struct xs_state xs;

struct xs_stats {
	_Atomic uint64_t rx, rx_kernel, tx, tx_kernel, fallback, copied_bytes, aliased_bytes,
		evicted, dropped, held, held_max, tx_desc_umem, tx_desc_copy, spin_hit, spin_miss;
};
extern struct xs_stats xs_stats;
#define XS_STAT_ADD(f, v) atomic_fetch_add_explicit(&xs_stats.f, (v), memory_order_relaxed)

/* A receive's answer when fd stopped being served meanwhile. */
#define XS_NOT_SERVED (-ENOTSOCK - 1000)

/* sock.c: the served sockets, by descriptor (0: not ours, else index+1) */
extern uint8_t xs_fd2sock[XS_MAX_FD];
extern struct xs_sock xs_socks[XS_MAX_SOCKS];
static inline struct xs_sock *xs_sock_of(int fd)
{
	if ((unsigned)fd >= XS_MAX_FD || !xs_fd2sock[fd])
		return NULL;
	return &xs_socks[xs_fd2sock[fd] - 1];
}
/* The served socket bound to port, or NULL. */
struct xs_sock *xs_sock_for_port(uint16_t port);

/* recv.c */
ssize_t xs_recv_one(int fd, struct msghdr *msg, int flags, uintptr_t site);

/* wait.c (xs lock held) */
void xs_wait_forget_fd(int fd);
void xs_wait_forget_epfd(int fd);

/* umem.c */
void xs_lock(void);
void xs_unlock(void);
void xs_refill(struct xs_queue *q);
void xs_evict(struct xs_queue *q);
struct xs_dgram *xs_dgram_alloc(void);
void xs_dgram_free(struct xs_dgram *d);           /* lock held; drops frames/holds */
/* The origin of run i of d (created on first large delivery, held by d
 * until it leaves the backlog).  NULL if no memory (the caller copies). */
struct zio_origin *xs_run_origin(struct xs_dgram *d, int i);
void xs_slots_release(uint32_t slot, uint32_t n);
void xs_held_add(int64_t n);
void xs_umem_release(struct zio_origin *o);
static inline void *xs_umem_ptr(uint64_t off) { return xs.umem + off; }

/* ring.c */
int xs_rx_pull(struct xs_queue *q);                /* datagrams moved to backlogs */
void xs_pull_all(void);
void xs_reap(struct xs_queue *q);
void xs_kick(struct xs_queue *q);
struct xs_segment { const void *p; uint32_t len; struct zio_origin *o; uint64_t umem_off; };
/* Send one datagram: headers + payload segments.  Returns 0, or -errno
 * (nothing queued: the caller falls back to the kernel socket). */
int xs_tx(struct xs_queue *q, const uint8_t *hdr, uint32_t hlen, const struct xs_segment *seg,
	  int nseg, uint32_t csum_off, uint32_t csum_seed);

/* setup.c */
int xs_setup(void);                                /* 0 or -errno */
int xs_map_update(int fd, const void *key, const void *val);
int xs_map_lookup(int fd, const void *key, void *val);

/* pkt.c */
/* Parse the headers of a received chain; 0 or -EINVAL. */
int xs_parse(const uint8_t *p, uint32_t len, struct xs_dgram *d, uint32_t *hlen,
	     uint8_t src_mac[6]);
void xs_neigh_learn(const struct in6_addr *peer, const uint8_t mac[6], const struct in6_addr *local,
		    int q);
/* Link address and local address for a peer; 0 or -ENOENT. */
int xs_neigh_lookup(const struct in6_addr *peer, bool v4, uint8_t mac[6], struct in6_addr *local,
		    int *q);
/* Build Ethernet/IP/UDP headers; returns their length.  *csum_off is
 * where the UDP checksum goes, *seed the pseudo header's sum. */
uint32_t xs_build_hdr(uint8_t *h, const uint8_t dmac[6], const struct in6_addr *src,
		      uint16_t sport, const struct in6_addr *dst, uint16_t dport, bool v4,
		      uint32_t plen, uint32_t *csum_off, uint32_t *seed);
uint32_t xs_csum_add(uint32_t sum, const void *p, size_t len, bool odd);
uint16_t xs_csum_fold(uint32_t sum);

#endif
