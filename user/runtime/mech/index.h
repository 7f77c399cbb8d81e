/* SPDX-License-Identifier: MIT */
/*
 * The alias index (index.c): which app ranges are originals and which are
 * aliases of an origin.  Pure bookkeeping without system calls, under the
 * runtime lock; unit-tested (tests/unit/test_index.c).
 */
#ifndef ZIO_MECH_INDEX_H
#define ZIO_MECH_INDEX_H

#include "mech/tree.h"

enum zio_origin_kind { ZIO_ORIGIN_APP = 1, ZIO_ORIGIN_SHADOW = 2, ZIO_ORIGIN_UMEM = 3 };
enum zio_region_type { ZIO_R_ORIG = 1, ZIO_R_ALIAS = 2 };

struct zio_region;

struct zio_origin {
	uint64_t id;
	uint8_t kind;
	/*
	 * Origin byte `off` lives at address base + off.  For APP origins
	 * base is the app address of the received data; for SHADOW origins
	 * it is computed so that the same offsets land in the shadow pages.
	 */
	uintptr_t base;
	uint64_t len;
	/* APP: the one ORIG region holding its bytes (NULL once retired). */
	struct zio_region *region;
	/* APP: write-protected page range, [wp_lo, wp_hi). */
	uintptr_t wp_lo, wp_hi;
	/* SHADOW: the arena pages holding the bytes. */
	uintptr_t shadow_lo, shadow_hi;
	uint64_t ref_pages;          /* alias pages that read from it */
	uint32_t pins;               /* readers outside the lock (output...) */
	struct zio_region *aliases;  /* alias regions reading from it */
	uint64_t born_ns;
	uint64_t cookie;             /* UMEM: the owner's frame handle */
	uintptr_t in_site;           /* APP: the input call that received it */
	uint32_t copies;             /* elided copies that read from it */
	struct zio_origin *next_free;
};

struct zio_region {
	struct zio_node node;        /* node.start/end: app byte range */
	uint8_t type;
	struct zio_origin *o;
	/* Origin offset of node.start (ORIG: start - o->base). */
	uint64_t ooff;
	/* ALIAS: siblings reading from the same origin. */
	struct zio_region *onext, *oprev;
	uintptr_t site;              /* call site that created it */
	uint64_t born_ns;
	/* ALIAS: fault-around state: where a sequential reader faults next,
	 * and how many pages the last fault brought in */
	uintptr_t next_fault;
	uint32_t window;
};

struct zio_index {
	struct zio_tree regions;
	uint64_t n_orig, n_alias;    /* region counts by type */
	uint64_t alias_pages;
	uint64_t next_origin_id;
};

void zio_index_init(struct zio_index *ix);
/* Drop every region and origin (after fork in the child). */
void zio_index_reset(struct zio_index *ix);
struct zio_region *zio_region_at(struct zio_index *ix, uintptr_t addr);
struct zio_region *zio_region_first_overlap(struct zio_index *ix, uintptr_t a, uintptr_t b);
struct zio_region *zio_region_next(struct zio_index *ix, struct zio_region *r);

/* A new APP origin for [a, b), merged into an adjacent original that
 * ends at a when possible.  Caller made sure [a, b) holds no region.
 * Returns the region or NULL (ENOMEM). */
struct zio_region *zio_index_add_orig(struct zio_index *ix, uintptr_t a, uintptr_t b,
				      uintptr_t site, uint64_t now);
/* Record that pages [a, b) alias origin o from offset ooff; merged with
 * an adjacent alias of the same origin at the matching offset.  Caller
 * made sure [a, b) holds no region.  Returns the region or NULL. */
struct zio_region *zio_index_add_alias(struct zio_index *ix, uintptr_t a, uintptr_t b,
				       struct zio_origin *o, uint64_t ooff,
				       uintptr_t site, uint64_t now);
/* Remove [a, b) from region r (trimming or splitting it); updates origin
 * references.  Origins left without references or regions are freed. */
void zio_index_cut(struct zio_index *ix, struct zio_region *r, uintptr_t a, uintptr_t b);
/* Free an origin whose last user went away (no refs, no pins, no region). */
void zio_origin_put_if_unused(struct zio_index *ix, struct zio_origin *o);
struct zio_origin *zio_origin_new(struct zio_index *ix);
/* Called with the shadow extent of an origin being freed (arena). */
extern void (*zio_index_shadow_release)(uintptr_t lo, uintptr_t hi);
/* Called when an APP origin loses its region (policy learning). */
extern void (*zio_index_origin_end)(const struct zio_origin *o);
/* Called when a UMEM origin has no alias, pin or hold left (AF_XDP). */
extern void (*zio_index_umem_release)(struct zio_origin *o);
/* Announce a region's current shape to observers (USDT). */
void zio_probe_region(const struct zio_region *r);

/* Segment of a source range resolved through the index. */
struct zio_seg {
	uintptr_t addr;        /* start in the queried range */
	uint64_t len;
	struct zio_origin *o;  /* NULL: plain memory (not IO data) */
	uint64_t ooff;         /* origin offset of addr */
	uint8_t type;          /* region type when o != NULL */
};
/* Resolve [a, a+n) into at most max segments (alias-of-alias goes to the
 * ultimate origin).  Returns the number of segments, or -1 if more than
 * max would be needed. */
int zio_index_resolve(struct zio_index *ix, uintptr_t a, uint64_t n,
		      struct zio_seg *segs, int max);

/* Is origin byte range [off, off+len) of o stable and readable now? */
bool zio_origin_covers(const struct zio_origin *o, uint64_t off, uint64_t len);
/* The offsets [*lo, *hi) of o whose bytes are stable (what covers asks
 * about); false when there are none. */
bool zio_origin_span(const struct zio_origin *o, uint64_t *lo, uint64_t *hi);
static inline uintptr_t zio_origin_addr(const struct zio_origin *o, uint64_t off)
{
	return o->base + off;
}

#endif
