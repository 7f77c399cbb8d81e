/* SPDX-License-Identifier: MIT */
/*
 * steer.h - types shared by bpf/steer.bpf.c (the XDP program that steers
 * UDP flows into AF_XDP sockets), its loader in zio-run
 * (user/cli/steer.c) and the runtime (user/xsk*.c), which reads and
 * writes the pinned maps with raw bpf() calls.
 *
 * Pinned under /sys/fs/bpf/zio/<pid>/ (names below), with BTF, so
 *   bpftool map dump pinned /sys/fs/bpf/zio/<pid>/zio_steer_cnt
 * shows the per-reason counters.  Fixed-width types only: the runtime
 * that reads them may be another build than the loader that pinned them,
 * so ZIO_STEER_ABI is bumped whenever anything here changes shape, and
 * zio-run passes it on (ZIO_XDP_ABI) for the runtime to check.
 */
#ifndef ZIO_STEER_H
#define ZIO_STEER_H

#ifdef __BPF__
/* vmlinux.h provides __u16/__u32/__u64 */
#else
#include <linux/types.h>
#endif

#define ZIO_STEER_ABI 1

/* Pinned map names (also the map names in the object). */
#define ZIO_STEER_XSKS  "zio_xsks"	/* XSKMAP: rx queue -> AF_XDP socket */
#define ZIO_STEER_PORTS "zio_ports"	/* hash: UDP port (host order) -> flags */
#define ZIO_STEER_CNT   "zio_steer_cnt"	/* per-CPU array of __u64, by reason */
#define ZIO_STEER_PROG  "zio_steer"	/* the program's name */

#define ZIO_STEER_MAX_PORTS  64
#define ZIO_STEER_MAX_QUEUES 256

/* Value of the ports map: the runtime sets ACTIVE while a socket of the
 * program is bound to the port (bind) and clears it on close, so
 * datagrams to a port nobody serves yet stay with the kernel. */
#define ZIO_PORT_ACTIVE 1u

/* Why a packet went where it went: index of the counters map. */
enum zio_steer_reason {
	ZIO_STEER_REDIRECT = 0,	/* into the AF_XDP socket of its queue */
	ZIO_STEER_NO_XSK,	/* port served, but no socket on that queue */
	ZIO_STEER_NOT_IP,	/* not IPv4/IPv6 (ARP, VLAN, ...) */
	ZIO_STEER_NOT_UDP,	/* IP but another protocol */
	ZIO_STEER_PORT,		/* UDP to a port that is not served */
	ZIO_STEER_TRUNC,	/* headers cut short */
	ZIO_STEER_IP_OPT,	/* IPv4 options or IPv6 extension headers */
	ZIO_STEER_FRAG,		/* IP fragment (only the first has ports) */
	ZIO_STEER_BAD_LEN,	/* IP or UDP length inconsistent */
	ZIO_STEER_OTHER_HOST,	/* not addressed to this interface's MAC */
	ZIO_STEER_NREASONS,
};

/* Read-only settings of the program (rodata), also read back by the
 * next zio-run to recognise a stale program and its owner. */
struct zio_steer_cfg {
	__u32 abi;		/* ZIO_STEER_ABI */
	__u32 owner_pid;	/* zio-run's pid = the program's pid */
	__u8 mac[6];		/* the interface's MAC; all zero: no check */
	__u8 pad[2];
};

#endif /* ZIO_STEER_H */

#ifndef __BPF__
/*
 * What zio-run passes to the runtime in every process it starts (the
 * runtime serves the program's sockets from AF_XDP rings only where all
 * of these are present and consistent).
 */
#define ZIO_ENV_XDP_IFACE   "ZIO_XDP_IFACE"    /* interface name */
#define ZIO_ENV_XDP_IFINDEX "ZIO_XDP_IFINDEX"  /* its index */
#define ZIO_ENV_XDP_QUEUES  "ZIO_XDP_QUEUES"   /* "0,1,..." rx queues to serve */
#define ZIO_ENV_XDP_PORTS   "ZIO_XDP_PORTS"    /* "9000,9001" UDP ports */
#define ZIO_ENV_XDP_PIN_DIR "ZIO_XDP_PIN_DIR"  /* /sys/fs/bpf/zio/<pid> */
#define ZIO_ENV_XDP_LINK_FD "ZIO_XDP_LINK_FD"  /* bpf_link fd, -1 if none */
#define ZIO_ENV_XDP_ABI     "ZIO_XDP_ABI"      /* ZIO_STEER_ABI of the loader */
#define ZIO_ENV_XDP_MODE    "ZIO_XDP_MODE"     /* attach mode obtained: drv|skb */
#define ZIO_ENV_XDP_MTU     "ZIO_XDP_MTU"      /* interface MTU */
#define ZIO_ENV_XDP_MAC     "ZIO_XDP_MAC"      /* interface MAC, 12 hex digits */
#define ZIO_ENV_XDP_FRAMES  "ZIO_XDP_FRAMES"   /* UMEM frames per queue */
#define ZIO_ENV_XDP_RING    "ZIO_XDP_RING"     /* entries of each ring */
#define ZIO_ENV_XDP_BIND    "ZIO_XDP_BIND"     /* auto|copy|zc: bind mode wanted */
#define ZIO_ENV_XDP_CSUM    "ZIO_XDP_CSUM"     /* 0: no UDP checksums, 1: in software */
#define ZIO_ENV_XDP_SPIN_US "ZIO_XDP_SPIN_US"  /* busy-poll budget, 0-10000 us */

/* Measured defaults (see tools/bench-udp.sh and the README). */
#define ZIO_XDP_DEFAULT_FRAMES 4096
#define ZIO_XDP_DEFAULT_RING   2048
#endif
