// SPDX-License-Identifier: MIT
/*
 * The alias index: which app ranges are originals (received IO data) and
 * which are aliases of an origin.  Pure bookkeeping, no system calls, so
 * it is unit-tested on its own (tests/unit/test_index.c).  The caller
 * holds the runtime lock.
 *
 *   app memory   [ orig R ............ ]      [ alias A1 ]   [ alias A2 ]
 *                      |                           |               |
 *   origins          O(APP, base=R) <--------------+---------------+
 *
 * An alias never points at another alias: a copy of an alias resolves to
 * the ultimate origin, so when an original retires (its bytes move to a
 * shadow) every alias follows by the one origin pointer.
 */
#include <errno.h>
#include <string.h>

#include "base/probes.h"
#include "mech/index.h"
#include "mech/slab.h"

static struct zio_slab region_slab = { .size = sizeof(struct zio_region), .chunk = 256 * 1024 };
static struct zio_slab origin_slab = { .size = sizeof(struct zio_origin), .chunk = 256 * 1024 };

ZIO_HIDDEN void (*zio_index_shadow_release)(uintptr_t lo, uintptr_t hi);
ZIO_HIDDEN void (*zio_index_umem_release)(struct zio_origin *o);
ZIO_HIDDEN void (*zio_index_origin_end)(const struct zio_origin *o);

ZIO_HIDDEN void zio_index_init(struct zio_index *ix)
{
	memset(ix, 0, sizeof(*ix));
	ix->next_origin_id = 1;
}

ZIO_HIDDEN void zio_index_reset(struct zio_index *ix)
{
	struct zio_node *n;

	/* Origins are reachable only through regions or shadows we are about
	 * to forget; their slab memory is simply leaked to the free list of
	 * the slab by the region walk. */
	while ((n = ix->regions.root)) {
		struct zio_region *r = (struct zio_region *)n;

		zio_tree_remove(&ix->regions, n);
		zio_slab_free(&region_slab, r);
	}
	origin_slab.free = NULL;
	zio_index_init(ix);
}

ZIO_HIDDEN struct zio_origin *zio_origin_new(struct zio_index *ix)
{
	struct zio_origin *o = zio_slab_alloc(&origin_slab);

	if (!o)
		return NULL;
	memset(o, 0, sizeof(*o));
	o->id = ix->next_origin_id++;
	return o;
}

ZIO_HIDDEN void zio_origin_put_if_unused(struct zio_index *ix, struct zio_origin *o)
{
	(void)ix;
	if (!o || o->ref_pages || o->pins || o->region || o->aliases)
		return;
	if (o->kind == ZIO_ORIGIN_SHADOW && o->shadow_hi > o->shadow_lo &&
	    zio_index_shadow_release)
		zio_index_shadow_release(o->shadow_lo, o->shadow_hi);
	/* A UMEM frame goes back to its owner (the fill ring) only now. */
	if (o->kind == ZIO_ORIGIN_UMEM && zio_index_umem_release)
		zio_index_umem_release(o);
	zio_slab_free(&origin_slab, o);
}

ZIO_HIDDEN bool zio_origin_span(const struct zio_origin *o, uint64_t *lo, uint64_t *hi)
{
	uintptr_t a, b;

	if (o->kind == ZIO_ORIGIN_UMEM) {
		/* frames are zio-owned and never change while held */
		*lo = 0;
		*hi = o->len;
		return o->len > 0;
	}
	if (o->kind == ZIO_ORIGIN_SHADOW) {
		a = o->shadow_lo;
		b = o->shadow_hi;
	} else if (o->region) {
		/* APP: only whole pages inside the region are stable enough to
		 * alias (the partial pages at its ends share bytes with other
		 * objects). */
		a = pg_up(o->region->node.start);
		b = pg_dn(o->region->node.end);
	} else {
		return false;
	}
	*lo = a > o->base ? a - o->base : 0;
	*hi = b > o->base ? b - o->base : 0;
	if (*hi > o->len)
		*hi = o->len;
	return *lo < *hi;
}

ZIO_HIDDEN bool zio_origin_covers(const struct zio_origin *o, uint64_t off, uint64_t len)
{
	uint64_t lo, hi;

	return zio_origin_span(o, &lo, &hi) && off >= lo && off <= hi && len <= hi - off;
}

ZIO_HIDDEN struct zio_region *zio_region_at(struct zio_index *ix, uintptr_t addr)
{
	struct zio_node *n = zio_tree_floor(&ix->regions, addr);

	return n && n->end > addr ? (struct zio_region *)n : NULL;
}

ZIO_HIDDEN struct zio_region *zio_region_first_overlap(struct zio_index *ix, uintptr_t a,
						       uintptr_t b)
{
	return (struct zio_region *)zio_tree_first_overlap(&ix->regions, a, b);
}

ZIO_HIDDEN struct zio_region *zio_region_next(struct zio_index *ix, struct zio_region *r)
{
	return (struct zio_region *)zio_tree_after(&ix->regions, r->node.start);
}

/* Mirror of the index for observers (zio-run --observe): every shape
 * change of a region is announced. */
ZIO_HIDDEN void zio_probe_region(const struct zio_region *r)
{
	ZIO_PROBE8(region_set, r->node.start, r->node.end, r->type, r->o->id, r->o->kind,
		   zio_origin_addr(r->o, r->ooff), r->site, r->born_ns);
}

static void probe_del(uintptr_t start)
{
	ZIO_PROBE1(region_del, start);
}

static void alias_link(struct zio_region *r)
{
	struct zio_origin *o = r->o;

	r->oprev = NULL;
	r->onext = o->aliases;
	if (o->aliases)
		o->aliases->oprev = r;
	o->aliases = r;
}

static void alias_unlink(struct zio_region *r)
{
	struct zio_origin *o = r->o;

	if (r->oprev)
		r->oprev->onext = r->onext;
	else
		o->aliases = r->onext;
	if (r->onext)
		r->onext->oprev = r->oprev;
	r->onext = r->oprev = NULL;
}

static void region_counts(struct zio_index *ix, struct zio_region *r, int dir)
{
	/* alias_pages is kept by the callers, who know which pages moved */
	if (r->type == ZIO_R_ORIG)
		ix->n_orig += (uint64_t)dir;
	else
		ix->n_alias += (uint64_t)dir;
}

ZIO_HIDDEN struct zio_region *zio_index_add_orig(struct zio_index *ix, uintptr_t a,
						 uintptr_t b, uintptr_t site, uint64_t now)
{
	struct zio_region *prev = zio_region_at(ix, a ? a - 1 : 0);
	struct zio_origin *o;
	struct zio_region *r;

	/* Consecutive inputs into one buffer (a loop of recv into buf+off)
	 * form one original, so a later copy of the whole message can alias
	 * it as a whole. */
	if (a && prev && prev->type == ZIO_R_ORIG && prev->node.end == a &&
	    prev->o->region == prev) {
		struct zio_node *next = zio_tree_after(&ix->regions, prev->node.start);

		if (!next || next->start >= b) {
			prev->node.end = b;
			prev->o->len = b - prev->o->base;
			zio_probe_region(prev);
			return prev;
		}
	}
	o = zio_origin_new(ix);
	r = zio_slab_alloc(&region_slab);
	if (!o || !r) {
		if (o)
			zio_slab_free(&origin_slab, o);
		if (r)
			zio_slab_free(&region_slab, r);
		errno = ENOMEM;
		return NULL;
	}
	memset(r, 0, sizeof(*r));
	o->kind = ZIO_ORIGIN_APP;
	o->base = a;
	o->len = b - a;
	o->region = r;
	o->born_ns = now;
	o->in_site = site;
	r->node.start = a;
	r->node.end = b;
	r->type = ZIO_R_ORIG;
	r->o = o;
	r->ooff = 0;
	r->site = site;
	r->born_ns = now;
	zio_tree_insert(&ix->regions, &r->node);
	region_counts(ix, r, 1);
	zio_probe_region(r);
	return r;
}

ZIO_HIDDEN struct zio_region *zio_index_add_alias(struct zio_index *ix, uintptr_t a,
						  uintptr_t b, struct zio_origin *o,
						  uint64_t ooff, uintptr_t site, uint64_t now)
{
	struct zio_region *prev = a ? zio_region_at(ix, a - 1) : NULL;
	struct zio_region *r;
	uint64_t pages = (b - a) / ZIO_PAGE;

	/* A large copy done in several memcpy calls, or a copy of a copy,
	 * continues the previous alias: keep one record. */
	if (prev && prev->type == ZIO_R_ALIAS && prev->o == o && prev->node.end == a &&
	    prev->ooff + (a - prev->node.start) == ooff) {
		struct zio_node *next = zio_tree_after(&ix->regions, prev->node.start);

		if (!next || next->start >= b) {
			prev->node.end = b;
			o->ref_pages += pages;
			ix->alias_pages += pages;
			zio_probe_region(prev);
			return prev;
		}
	}
	r = zio_slab_alloc(&region_slab);
	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	memset(r, 0, sizeof(*r));
	r->node.start = a;
	r->node.end = b;
	r->type = ZIO_R_ALIAS;
	r->o = o;
	r->ooff = ooff;
	r->site = site;
	r->born_ns = now;
	o->ref_pages += pages;
	ix->alias_pages += pages;
	alias_link(r);
	zio_tree_insert(&ix->regions, &r->node);
	region_counts(ix, r, 1);
	zio_probe_region(r);
	return r;
}

ZIO_HIDDEN void zio_index_cut(struct zio_index *ix, struct zio_region *r, uintptr_t a,
			      uintptr_t b)
{
	struct zio_origin *o = r->o;
	uintptr_t lo = r->node.start > a ? r->node.start : a;
	uintptr_t hi = r->node.end < b ? r->node.end : b;

	if (lo >= hi)
		return;
	if (r->type == ZIO_R_ALIAS) {
		uint64_t pages = (hi - lo) / ZIO_PAGE;

		o->ref_pages -= pages;
		ix->alias_pages -= pages;
	}
	if (lo == r->node.start && hi == r->node.end) {
		probe_del(r->node.start);
		region_counts(ix, r, -1);
		zio_tree_remove(&ix->regions, &r->node);
		if (r->type == ZIO_R_ALIAS) {
			alias_unlink(r);
		} else if (o->region == r) {
			if (zio_index_origin_end)
				zio_index_origin_end(o);
			o->region = NULL;
		}
		zio_slab_free(&region_slab, r);
		zio_origin_put_if_unused(ix, o);
		return;
	}
	if (lo == r->node.start) {
		/* the key changes, but no other region lies in [lo, hi) */
		probe_del(r->node.start);
		r->ooff += hi - r->node.start;
		r->node.start = hi;
		zio_probe_region(r);
		return;
	}
	if (hi == r->node.end) {
		r->node.end = lo;
		zio_probe_region(r);
		return;
	}
	/* Split: the tail becomes its own region.  An original's tail gets a
	 * new origin object with the same base (offsets stay valid); the
	 * caller only splits originals that no alias depends on. */
	{
		struct zio_region *t = zio_slab_alloc(&region_slab);
		struct zio_origin *to = NULL;

		if (t && r->type == ZIO_R_ORIG) {
			to = zio_origin_new(ix);
			if (!to) {
				zio_slab_free(&region_slab, t);
				t = NULL;
			}
		}
		if (!t) {
			/* Out of memory: forget the tail; forgetting an original
			 * only loses an elision opportunity, and an alias tail
			 * is only cut when it is being materialised or dropped
			 * by the caller anyway. */
			if (r->type == ZIO_R_ALIAS) {
				uint64_t pages = (r->node.end - hi) / ZIO_PAGE;

				o->ref_pages -= pages;
				ix->alias_pages -= pages;
			}
			r->node.end = lo;
			zio_probe_region(r);
			return;
		}
		*t = *r;
		t->node.start = hi;
		t->ooff = r->ooff + (hi - r->node.start);
		r->node.end = lo;
		if (r->type == ZIO_R_ORIG) {
			/* each piece claims protection only over its own pages;
			 * a leftover protected page elsewhere is lifted by its
			 * first write fault */
			if (o->wp_hi > pg_up(lo))
				o->wp_hi = pg_up(lo) > o->wp_lo ? pg_up(lo) : o->wp_lo;
		}
		if (r->type == ZIO_R_ALIAS) {
			alias_link(t);
		} else {
			*to = *o;
			to->id = ix->next_origin_id++;
			if (to->wp_lo < pg_dn(hi))
				to->wp_lo = pg_dn(hi) < to->wp_hi ? pg_dn(hi) : to->wp_hi;
			to->region = t;
			to->aliases = NULL;
			to->ref_pages = 0;
			to->pins = 0;
			to->copies = 0;
			t->o = to;
			t->ooff = hi - to->base;
		}
		zio_tree_insert(&ix->regions, &t->node);
		region_counts(ix, t, 1);
		zio_probe_region(r);
		zio_probe_region(t);
	}
}

ZIO_HIDDEN int zio_index_resolve(struct zio_index *ix, uintptr_t a, uint64_t n,
				 struct zio_seg *segs, int max)
{
	uintptr_t end = a + n, cur = a;
	struct zio_region *r = zio_region_first_overlap(ix, a, end);
	int k = 0;

	while (cur < end) {
		if (k == max)
			return -1;
		if (!r || r->node.start >= end) {
			segs[k++] = (struct zio_seg){ .addr = cur, .len = end - cur };
			break;
		}
		if (r->node.start > cur) {
			segs[k++] = (struct zio_seg){ .addr = cur, .len = r->node.start - cur };
			cur = r->node.start;
			continue;
		}
		{
			uintptr_t hi = r->node.end < end ? r->node.end : end;

			segs[k++] = (struct zio_seg){
				.addr = cur,
				.len = hi - cur,
				.o = r->o,
				.ooff = r->ooff + (cur - r->node.start),
				.type = r->type,
			};
			cur = hi;
		}
		r = zio_region_next(ix, r);
	}
	return k;
}
