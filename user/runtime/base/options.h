/* SPDX-License-Identifier: MIT */
/*
 * Settings of the runtime: every ZIO_* variable, read once from the
 * environment block by the constructor (options.c holds the one table:
 * name, kind, where it goes, default and range in one row each).
 */
#ifndef ZIO_BASE_OPTIONS_H
#define ZIO_BASE_OPTIONS_H

#include "base/defs.h"

#define ZIO_XDP_MAX_LIST 64

struct zio_int_list {
	int n;
	int v[ZIO_XDP_MAX_LIST];
};

/* zio-run --xdp hands its loader's results to the runtime (steer.h). */
struct zio_xdp_options {
	int abi;                   /* ZIO_XDP_ABI: the loader's ZIO_STEER_ABI, -1 unset */
	char iface[17];            /* ZIO_XDP_IFACE */
	int ifindex;               /* ZIO_XDP_IFINDEX */
	int mtu;                   /* ZIO_XDP_MTU */
	int link_fd;               /* ZIO_XDP_LINK_FD: bpf_link, -1 none */
	char mode[8];              /* ZIO_XDP_MODE: drv|skb (for the stats line) */
	char pin_dir[128];         /* ZIO_XDP_PIN_DIR: the steering maps */
	char bind[8];              /* ZIO_XDP_BIND: auto|copy|zc */
	uint8_t mac[6];            /* ZIO_XDP_MAC (all zero: unset) */
	uint64_t frames, ring;     /* ZIO_XDP_FRAMES, ZIO_XDP_RING (per queue) */
	int csum;                  /* ZIO_XDP_CSUM: -1 unset (checksums, offloaded
				    * where the NIC can), 0 off, 1 in software */
	uint64_t spin_us;          /* ZIO_XDP_SPIN_US: busy-poll budget */
	struct zio_int_list queues;  /* ZIO_XDP_QUEUES */
	struct zio_int_list ports;   /* ZIO_XDP_PORTS */
};

struct zio_options {
	bool off;              /* ZIO_OFF: elide nothing */
	bool stats;            /* ZIO_STATS: print counters at exit */
	uint64_t threshold;    /* ZIO_THRESHOLD: smallest copy elided */
	uint64_t input_min;    /* smallest input tracked as an original */
	uint64_t pool_max;     /* ZIO_POOL_MAX: spare bytes kept */
	uint64_t max_aliases;  /* ZIO_MAX_ALIASES: live alias records cap */
	bool adaptive;         /* ZIO_POLICY=adaptive (false: always) */
	struct zio_xdp_options xdp;
};
extern struct zio_options zio_opt;

/* Set every option to its default, then read ZIO_* from envp: a bad
 * value gets one warning and the default, never a failure. */
void zio_options_load(char **envp);
/* Value of NAME in envp, or NULL, without calling getenv (safe very early). */
const char *zio_env_get(char **envp, const char *name);

/* One line per ZIO_* variable with its default, for documentation and
 * tests: calls out(name, default-as-text, what) for each row. */
void zio_options_each(void (*out)(const char *name, const char *dflt, const char *what,
				  void *ctx), void *ctx);

#endif
