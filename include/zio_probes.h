/* SPDX-License-Identifier: MIT */
/*
 * The USDT probes of libzio.so (provider "zio") and the values their
 * arguments take.  Shared by the runtime and the BPF programs that
 * attach to the probes (zio-run --observe, zio-stat), so both sides agree
 * on every number.  Probes cost a nop while nothing is attached.
 *
 *   zio:region_set   (start, end, type, origin_id, origin_kind, origin_addr, site, born_ns)
 *                    a region of the alias index now covers [start, end):
 *                    new, grown, trimmed or re-pointed (origin retired)
 *   zio:region_del   (start)               the region starting there is gone
 *   zio:elide        (site, bytes)         a copy was elided (bytes aliased)
 *   zio:materialize  (addr, pages, cause, site)  alias pages got real bytes;
 *                    site: call site that made the alias (0: unknown)
 *   zio:fault_begin  (addr, flags)         fault thread took a fault (uffd flags)
 *   zio:fault_end    (addr)                ... and resolved it
 *   zio:fallback     (reason)              a failure fell back to a real copy
 *   zio:output       (fd, bytes, from_origin)  an output call had aliases substituted
 *   zio:retire       (origin_id, bytes, moved) an original's bytes went to a shadow
 *   zio:policy_skip  (site)                the policy declined to elide at site
 */
#ifndef ZIO_PROBES_H
#define ZIO_PROBES_H

#define ZIO_PROBES_VERSION 1

/* region types */
#define ZIO_REGION_ORIG  1
#define ZIO_REGION_ALIAS 2

/* origin kinds */
#define ZIO_KIND_APP    1   /* app buffer that received input */
#define ZIO_KIND_SHADOW 2   /* retired original's bytes, zio-owned */
#define ZIO_KIND_UMEM   3   /* AF_XDP UMEM frame */

/* materialize causes */
#define ZIO_MAT_LOAD       1  /* program (or kernel) read an alias page */
#define ZIO_MAT_STORE      2  /* program (or kernel) wrote an alias page */
#define ZIO_MAT_WRITE_ORIG 3  /* the original changed and could not retire */
#define ZIO_MAT_RELEASE    4  /* memory released with part of a page live */
#define ZIO_MAT_INPUT      5  /* input into an alias */
#define ZIO_MAT_OVERWRITE  6  /* a copy wrote part of an alias page */
#define ZIO_MAT_FORK       7  /* before fork */
#define ZIO_MAT_EVICT      8  /* UMEM frames ran low */
#define ZIO_MAT_MAX        9

/* fallback reasons */
#define ZIO_FB_REGISTER 1
#define ZIO_FB_MOVE     2
#define ZIO_FB_COPY     3
#define ZIO_FB_WP       4
#define ZIO_FB_ALLOC    5
#define ZIO_FB_CAP      6
#define ZIO_FB_LOST     7
#define ZIO_FB_MAX      8

#endif
