/* SPDX-License-Identifier: MIT */
/*
 * steer_cli.h - the loader of the steering XDP program (bpf/steer.bpf.c)
 * behind zio-run --xdp: attaches it, pins its maps under
 * /sys/fs/bpf/zio/<pid>/, removes what a killed earlier run left behind,
 * and hands the runtime what it needs (the ZIO_XDP_* settings of
 * include/steer.h).  Linked into zio-run only: libzio.so, preloaded into
 * every program, stays free of libbpf and libxdp.
 *
 * Named steer_cli.h, not steer.h: include/steer.h is the header the BPF
 * program, the runtime and this loader share, and both are on the tools'
 * include path.  The same holds for observe_cli.h and trace_cli.h.
 *
 * Names: zio_steer__<verb> on struct zio_steer (see util.h).
 */
#ifndef ZIO_CLI_STEER_H
#define ZIO_CLI_STEER_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>

enum zio_steer_mode {
	ZIO_STEER_MODE_AUTO = 0,	/* native, else generic */
	ZIO_STEER_MODE_NATIVE,
	ZIO_STEER_MODE_GENERIC,
};

struct zio_steer_opts {
	const char *ifname;
	int queue;                 /* -1: every rx queue of the interface */
	enum zio_steer_mode mode;
	bool no_libxdp;            /* skip the libxdp dispatcher attempt */
	/* Passed on to the runtime by zio_steer__setenv: */
	const char *ports;         /* "9000,9001", checked by the caller */
	long long frames, ring;    /* 0: the runtime's default */
	const char *bind;          /* auto|copy|zc, NULL: the runtime's default */
};

struct zio_steer {
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

/* Loads and attaches.  Returns 0, or -errno with a message on stderr. */
int zio_steer__load(const struct zio_steer_opts *o, struct zio_steer *x);
/*
 * Sets the ZIO_XDP_* environment that tells the runtime in PROGRAM where
 * the loaded program's maps and link are and which queues and ports it
 * serves.  Returns 0, or -errno (x stays loaded).
 */
int zio_steer__setenv(const struct zio_steer *x, const struct zio_steer_opts *o);
/* Detaches and unpins (error paths of zio-run before it execs).  Returns
 * nothing; x may be half loaded. */
void zio_steer__destroy(struct zio_steer *x);

#endif /* ZIO_CLI_STEER_H */
