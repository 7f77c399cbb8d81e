/* SPDX-License-Identifier: MIT */
/*
 * xdp_load - loads and attaches the steering XDP program (bpf/steer.bpf.c)
 * for zio-run --xdp, pins its maps under /sys/fs/bpf/zio/<pid>/, and
 * removes what a killed earlier run left behind.  Linked into zio-run
 * only: libzio.so, preloaded into every program, stays free of libbpf
 * and libxdp.
 */
#ifndef ZIO_XDP_LOAD_H
#define ZIO_XDP_LOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>

enum zio_xdp_mode { ZIO_XDP_AUTO = 0, ZIO_XDP_NATIVE, ZIO_XDP_GENERIC };

struct zio_xdp_opts {
	const char *ifname;
	int queue;                 /* -1: every rx queue of the interface */
	enum zio_xdp_mode mode;
	int verbose;               /* libbpf/libxdp messages at -v */
	bool no_libxdp;            /* skip the libxdp dispatcher attempt */
};

struct zio_xdp {
	int ifindex;
	int nqueues;               /* rx queues of the interface */
	int mtu;
	uint8_t mac[6];
	int link_fd;               /* bpf_link (not close-on-exec), or -1 */
	bool dispatcher;           /* attached through libxdp's dispatcher */
	const char *mode;          /* "drv" or "skb" */
	const char *how;           /* "bpf_link" or "libxdp-dispatcher" */
	int stale_removed;         /* stale programs/pin dirs removed */
	char pin_dir[64];
	void *skel, *xprog;        /* private */
};

/* Load and attach.  Returns 0, or -errno with a message on stderr. */
int zio_xdp__load(const struct zio_xdp_opts *o, struct zio_xdp *x);
/* Detach and unpin (error paths of zio-run before it execs). */
void zio_xdp__destroy(struct zio_xdp *x);

#endif
