/* SPDX-License-Identifier: MIT */
/*
 * zio — names shared by the runtime (libzio.so), the launcher (zio-run)
 * and the tools: the environment variables that carry settings from
 * zio-run into every process it starts.
 */
#ifndef ZIO_H
#define ZIO_H

#define ZIO_ENV_OFF         "ZIO_OFF"         /* 1: interpose, never elide */
#define ZIO_ENV_THRESHOLD   "ZIO_THRESHOLD"   /* bytes: smallest copy elided */
#define ZIO_ENV_STATS       "ZIO_STATS"       /* 1: stats line at exit */
#define ZIO_ENV_LOG         "ZIO_LOG"         /* 0 quiet .. 3 debug */
#define ZIO_ENV_LOG_FILE    "ZIO_LOG_FILE"    /* log to this file (%p: pid) */
#define ZIO_ENV_LOG_RATE    "ZIO_LOG_RATE"    /* debug lines a second, 0: all */
#define ZIO_ENV_POOL_MAX    "ZIO_POOL_MAX"    /* bytes of spare pages kept */
#define ZIO_ENV_MAX_ALIASES "ZIO_MAX_ALIASES" /* live alias records cap */
#define ZIO_ENV_POLICY      "ZIO_POLICY"      /* adaptive | always */
#define ZIO_ENV_FAULT       "ZIO_FAULT_INJECT"/* failure injection spec */

/* Default threshold: copies below it are never worth the page-table work
 * (see tools/microbench for the measurement). */
#define ZIO_DEFAULT_THRESHOLD (64 * 1024)
/* ... and under zio-run --xdp (ZIO_XDP_ABI set), unless ZIO_THRESHOLD
 * says otherwise: an alias of a UMEM frame costs no write protection and
 * no original, only its index entry, so datagrams pay from 16 KiB
 * (tools/bench-udp.sh, sizes 4-32 KiB; docs/xdp.md). */
#define ZIO_XDP_DEFAULT_THRESHOLD (16 * 1024)

#endif
