// SPDX-License-Identifier: MIT
/*
 * Copy: the room memcpy/memmove land in when the copy is large and IO
 * data exists.  A copy whose source is IO data (an original, or an alias
 * of one) copies its partial head and tail pages for real and records
 * the page-aligned interior of the destination as an alias of the
 * source's origin:
 *
 *   src   ..[==|=====IO data (origin O, offset x)=====|==]..
 *   dst   [hd|  p0 ....... alias of O @ x' ....... p1  |tl]
 *          ^ real copy                          real copy ^
 *
 * The destination's populated interior pages are moved aside (spare)
 * rather than dropped, so the program never pays to populate them again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#include "base/log.h"
#include "base/options.h"
#include "base/probes.h"
#include "base/real.h"
#include "init.h"
#include "mech/alias.h"
#include "mech/arena.h"
#include "mech/policy.h"
#include "mech/state.h"
#include "mech/uffd.h"
#include "path/copy.h"

#define MAX_SEGS   64
#define MAX_RUNS   32
#define MAX_PIECES 96
#define MAX_PINS   16

struct run {
	uintptr_t p0, p1;
	struct zio_origin *o;
	uint64_t ooff;
	uint64_t got;          /* bytes from p0 actually aliased (install_run) */
};

struct piece {
	uintptr_t dst, src;
	uint64_t len;
};

struct span {
	uintptr_t lo, hi;
};

/* Is [a, b) covered by the spans (sorted, non-overlapping)? */
static bool spans_cover(const struct span *s, int n, uintptr_t a, uintptr_t b)
{
	for (int i = 0; i < n && a < b; i++)
		if (s[i].lo <= a && s[i].hi > a)
			a = s[i].hi;
	return a >= b;
}

/*
 * Which destination pages can alias a single origin?  Page p of dst reads
 * source bytes [s + (p - d), +PAGE); it can alias when those bytes lie in
 * one resolved segment whose origin holds them stably.  Within a segment
 * those pages are one interval (the segment's bounds and its origin's
 * stable span, zio_origin_span), so each segment is one run, or none:
 * no loop over pages.
 */
static int plan_runs(uintptr_t d, uintptr_t s, uint64_t n, const struct zio_seg *segs,
		     int nseg, struct run *runs, uint64_t *alias_bytes)
{
	uintptr_t first = pg_up(d), end = pg_dn(d + n);
	int nr = 0;

	*alias_bytes = 0;
	for (int j = 0; j < nseg && first < end; j++) {
		const struct zio_seg *g = &segs[j];
		uint64_t lo, hi, t_lo, t_hi, ooff;
		uintptr_t p0, p1;

		/* t = sa - g->addr for the source address sa of a page: the
		 * page lies in the segment, its origin bytes in the span */
		if (!g->o || g->len < ZIO_PAGE || !zio_origin_span(g->o, &lo, &hi) ||
		    hi < g->ooff + ZIO_PAGE)
			continue;
		t_lo = lo > g->ooff ? lo - g->ooff : 0;
		t_hi = g->len - ZIO_PAGE;
		if (t_hi > hi - ZIO_PAGE - g->ooff)
			t_hi = hi - ZIO_PAGE - g->ooff;
		if (t_lo > t_hi)
			continue;
		/* the pages p = d + (sa - s) with such an sa */
		p0 = pg_up(d + (g->addr + t_lo - s));
		p1 = pg_dn(d + (g->addr + t_hi - s)) + ZIO_PAGE;
		if (g->addr + t_lo < s || p0 < first)   /* (resolve starts at s) */
			p0 = first;
		if (p1 > end)
			p1 = end;
		if (p0 >= p1)
			continue;
		ooff = g->ooff + (s + (p0 - d) - g->addr);
		if (nr && runs[nr - 1].p1 == p0 && runs[nr - 1].o == g->o &&
		    runs[nr - 1].ooff + (p0 - runs[nr - 1].p0) == ooff) {
			runs[nr - 1].p1 = p1;
		} else {
			if (nr == MAX_RUNS)
				break;
			runs[nr++] = (struct run){ p0, p1, g->o, ooff, 0 };
		}
		*alias_bytes += p1 - p0;
	}
	return nr;
}

/* Write-protect the app pages of origin o that bytes [off, off+len) live
 * on (registering them first).  Returns 0 or -errno. */
static int origin_protect(struct zio_origin *o, uint64_t off, uint64_t len)
{
	uintptr_t lo = pg_dn(o->base + off), hi = pg_up(o->base + off + len);
	int err;

	if (o->kind != ZIO_ORIGIN_APP)
		return 0;
	if (o->wp_hi > o->wp_lo && lo >= o->wp_lo && hi <= o->wp_hi)
		return 0;
	/* One protected hull per original: protecting a few extra pages of
	 * the same received buffer costs less than tracking holes. */
	if (o->wp_hi > o->wp_lo) {
		if (o->wp_lo < lo)
			lo = o->wp_lo;
		if (o->wp_hi > hi)
			hi = o->wp_hi;
	}
	/* Register the original's whole interior, not just these pages: one
	 * registered range stays one VMA, so retiring it can move all its
	 * pages at once (a move never crosses a VMA boundary). */
	if (o->region && pg_up(o->region->node.start) <= lo && pg_dn(o->region->node.end) >= hi)
		err = zio_uffd_register(pg_up(o->region->node.start), pg_dn(o->region->node.end));
	else
		err = zio_uffd_register(lo, hi);
	if (err)
		return err;
	pr_trace("protect o%llu [%#lx,%#lx)", (unsigned long long)o->id, (unsigned long)lo,
		 (unsigned long)hi);
	if (o->wp_hi > o->wp_lo) {
		err = zio_uffd_wp(lo, o->wp_lo, true);
		if (!err)
			err = zio_uffd_wp(o->wp_hi, hi, true);
	} else {
		err = zio_uffd_wp(lo, hi, true);
	}
	if (err)
		return err;
	o->wp_lo = lo;
	o->wp_hi = hi;
	return 0;
}

/* Install run r as an alias.  Returns the bytes aliased from r->p0 (the
 * rest must be copied for real). */
static uint64_t install_run(struct run *r, uintptr_t site, uint64_t now, bool absent)
{
	uint64_t len = r->p1 - r->p0;
	long parked;
	int err;

	/* Registering splits the destination's VMA.  A fresh mapping has no
	 * anon_vma yet, and pieces populated apart get different ones and
	 * never merge again: moves and mremap (which cannot span VMAs) fail
	 * on such a mapping forever.  Populating one page first gives the
	 * whole VMA its anon_vma before the split (the page is overwritten by
	 * this copy anyway, and parked as spare below). */
	if (!zio_extents_covers(&zio.registered, r->p0, r->p0 + ZIO_PAGE))
		/* best effort: should it fail, the mapping only keeps its old
		 * VMA layout, and moves that cannot span it fall back */
		(void)zio_real.madvise((void *)r->p0, ZIO_PAGE, MADV_POPULATE_WRITE);
	err = zio_uffd_register(r->p0, r->p1);
	if (err) {
		zio_fallback(ZIO_FB_REGISTER);
		return 0;
	}
	err = origin_protect(r->o, r->ooff, len);
	if (err) {
		zio_fallback(ZIO_FB_WP);
		return 0;
	}
	parked = absent ? 0 : zio_arena_park(r->p0, r->p1);
	if (parked < 0) {
		/* all or nothing: the pages are back where they were, and the
		 * copy is made for real */
		zio_fallback(ZIO_FB_MOVE);
		return 0;
	}
	/* Vacant pages under them are the alias now (no park was needed). */
	if (zio.vacant.bytes) {
		uint64_t v = zio_extents_bytes_in(&zio.vacant, r->p0, r->p1);

		if (v) {
			zio_extents_del(&zio.vacant, r->p0, r->p1);
			zio_policy_vacant_reused(v / ZIO_PAGE);
		}
	}
	/* The old aliases under these pages give way to the new one. */
	{
		struct zio_region *old;

		while ((old = zio_region_first_overlap(&zio.ix, r->p0, r->p1)) &&
		       old->type == ZIO_R_ALIAS) {
			uintptr_t lo = old->node.start > r->p0 ? old->node.start : r->p0;
			uintptr_t hi = old->node.end < r->p1 ? old->node.end : r->p1;

			zio_policy_alias_end(old->site, (hi - lo) / ZIO_PAGE, false);
			zio_index_cut(&zio.ix, old, r->p0, r->p1);
		}
	}
	if (!zio_index_add_alias(&zio.ix, r->p0, r->p1, r->o, r->ooff, site, now)) {
		/* out of memory with the old aliases gone: the pages get the new
		 * bytes in place, whole, before anyone can see them absent */
		if (zio_uffd_copy(r->p0, zio_origin_addr(r->o, r->ooff), len) && errno != EEXIST)
			zio_arena_refill(r->p0, r->p1);
		zio_fallback(ZIO_FB_ALLOC);
		return 0;
	}
	r->o->copies++;
	pr_trace("alias [%#lx,%#lx) of o%llu+%#llx (%s, site %#lx)", (unsigned long)r->p0,
		 (unsigned long)r->p1, (unsigned long long)r->o->id, (unsigned long long)r->ooff,
		 r->o->kind == ZIO_ORIGIN_APP ? "original" :
		 r->o->kind == ZIO_ORIGIN_SHADOW ? "shadow" : "frame", (unsigned long)site);
	return len;
}

static int add_pin(struct zio_origin **pins, int *np, struct zio_origin *o)
{
	for (int i = 0; i < *np; i++)
		if (pins[i] == o)
			return 0;
	if (*np == MAX_PINS)
		return -1;
	zio_pin(o);
	pins[(*np)++] = o;
	return 0;
}

/*
 * The real-copy part: dst bytes [x, y) read source s + (x - d).  Alias
 * parts of the source read from their origin (pinned: a shadow cannot
 * go, an original cannot change until we are done), so copying never
 * faults on the source's alias pages.
 */
static int plan_pieces(uintptr_t d, uintptr_t s, uintptr_t x, uintptr_t y,
		       const struct zio_seg *segs, int nseg, struct piece *pc, int np,
		       struct zio_origin **pins, int *npins)
{
	uintptr_t sa = s + (x - d), sb = s + (y - d);

	for (int j = 0; j < nseg && sa < sb; j++) {
		const struct zio_seg *g = &segs[j];
		uintptr_t lo, hi;

		if (g->addr + g->len <= sa)
			continue;
		lo = sa;
		hi = g->addr + g->len < sb ? g->addr + g->len : sb;
		if (np == MAX_PIECES)
			return -1;
		pc[np] = (struct piece){ .dst = d + (lo - s), .src = lo, .len = hi - lo };
		if (g->o && g->type == ZIO_R_ALIAS) {
			uint64_t ooff = g->ooff + (lo - g->addr);

			if (zio_origin_covers(g->o, ooff, hi - lo) &&
			    !add_pin(pins, npins, g->o))
				pc[np].src = zio_origin_addr(g->o, ooff);
		}
		np++;
		sa = hi;
	}
	return np;
}

/* Does any segment read through an alias? */
static bool source_aliased(const struct zio_seg *segs, int nseg)
{
	for (int i = 0; i < nseg; i++)
		if (segs[i].o && segs[i].type == ZIO_R_ALIAS)
			return true;
	return false;
}

/* Pages of [a, b) that are aliases now, or vacant (alias.c): to a copy
 * both are absent pages that need no park. */
static uint64_t alias_pages_in(uintptr_t a, uintptr_t b)
{
	uint64_t pages = zio.vacant.bytes ? zio_extents_bytes_in(&zio.vacant, a, b) / ZIO_PAGE : 0;

	for (struct zio_region *r = zio_region_first_overlap(&zio.ix, a, b);
	     r && r->node.start < b; r = zio_region_next(&zio.ix, r)) {
		uintptr_t lo = r->node.start > a ? r->node.start : a;
		uintptr_t hi = r->node.end < b ? r->node.end : b;

		if (r->type == ZIO_R_ALIAS)
			pages += (hi - lo) / ZIO_PAGE;
	}
	return pages;
}

/* How many pages of [lo, hi) (page-aligned) are present; -1 if mincore
 * fails. */
static int64_t present_pages(uintptr_t lo, uintptr_t hi)
{
	unsigned char vec[256];
	int64_t present = 0;

	for (uintptr_t p = lo; p < hi; p += sizeof(vec) * ZIO_PAGE) {
		uintptr_t e = hi - p > sizeof(vec) * ZIO_PAGE ? p + sizeof(vec) * ZIO_PAGE : hi;

		if (mincore((void *)p, e - p, vec))
			return -1;
		for (size_t i = 0; i < (e - p) / ZIO_PAGE; i++)
			present += vec[i] & 1;
	}
	return present;
}

/*
 * Does an alias of [d, d+n) pay?  Asks the policy with the state of the
 * destination (aliases already, populated: a recent mincore answer of the
 * site or mincore now, and the rest fresh): what any alias into it costs
 * (zio_policy_later_alias) decides first, even while the original's input
 * site is still being learned; for the first alias of an original
 * received at in_site (0: not a first alias), what the original costs too.
 */
static bool alias_pays(uintptr_t in_site, uintptr_t d, size_t n, uintptr_t site)
{
	uintptr_t lo = pg_up(d), hi = pg_dn(d + n);
	uint64_t pages = (hi - lo) / ZIO_PAGE, aliased, present = 0;

	if (!zio_opt.adaptive || !pages)
		return true;
	zio_policy_destination(site, lo, pages * ZIO_PAGE);
	aliased = alias_pages_in(lo, hi);
	if (aliased < pages && !zio_policy_present_hint(site, pages - aliased, &present)) {
		int64_t p = present_pages(lo, hi);

		if (p < 0)
			return true;
		/* aliases read as absent: count the other pages only */
		present = (uint64_t)p > pages - aliased ? pages - aliased : (uint64_t)p;
		zio_policy_present_seen(site, pages - aliased, present);
	}
	return zio_policy_later_alias(site, pages, present, aliased) &&
	       (!in_site || zio_policy_first_alias(in_site, site, pages, present, aliased));
}

/* The same for the runs of a planned copy: is it the first alias of one
 * of their originals? */
static bool runs_pay(const struct run *runs, int nr, uintptr_t d, size_t n, uintptr_t site)
{
	for (int i = 0; i < nr; i++)
		if (runs[i].o->kind == ZIO_ORIGIN_APP && !runs[i].o->ref_pages)
			return alias_pays(runs[i].o->in_site, d, n, site);
	return alias_pays(0, d, n, site);
}

/*
 * A source that is no region may be input the policy only noted
 * (zio_policy_track_input): if this copy would pay as the first alias of
 * such an original, and every page of the source is present (write
 * protection does not stick to a page that is not there, and a page the
 * program unmapped and mapped again may not be), the source becomes one
 * now.  Returns whether it did (the policy has then decided).
 */
static bool promote_noted(uintptr_t s, size_t n, uintptr_t d, uintptr_t site)
{
	uintptr_t in_site;

	if (!atomic_load_explicit(&zio_lazy_live, memory_order_relaxed) ||
	    !(in_site = zio_policy_noted_input(s, s + n)) ||
	    !alias_pays(in_site, d, n, site) ||
	    present_pages(pg_dn(s), pg_up(s + n)) != (int64_t)((pg_up(s + n) - pg_dn(s)) / ZIO_PAGE) ||
	    !zio_index_add_orig(&zio.ix, s, s + n, in_site, zio_now_ns()))
		return false;
	ZIO_STAT_ADD(policy_promoted, 1);
	return true;
}

/* Outside the lock: the planned pieces, then the pins they read through
 * let go (signals stay deferred until then: zio_defer_begin). */
static void copy_pieces(const struct piece *pc, int npc, struct zio_origin **pins, int npins)
{
	for (int i = 0; i < npc; i++)
		zio_raw_copy((void *)pc[i].dst, (const void *)pc[i].src, pc[i].len);
	if (npins) {
		zio_unpin(pins, npins);
		zio_defer_end();
	}
}

static void *plain_copy(void *dst, const void *src, size_t n, bool is_move)
{
	if (is_move && zio_real.memmove)
		return zio_real.memmove(dst, src, n);
	if (zio_real.memcpy)
		return zio_real.memcpy(dst, src, n);
	zio_raw_copy(dst, src, n);
	return dst;
}

/* A copy the policy declined, made and timed: what such copies cost
 * here weighs the site's next decisions (zio_policy_copy_timed). */
static void timed_copy(void *dst, const void *src, size_t n, bool is_move, uintptr_t site)
{
	uint64_t start = zio_now_ns(), took;

	plain_copy(dst, src, n, is_move);
	took = zio_now_ns() - start;
	zio_lock();
	zio_policy_copy_timed(site, n, took);
	zio_unlock();
}

/* One copy being planned: its source segments, the destination runs that
 * become aliases, the pieces copied for real and the origins they read
 * through (pinned). */
struct plan {
	uintptr_t d, s;
	size_t n;
	struct zio_seg segs[MAX_SEGS];
	struct run runs[MAX_RUNS];
	struct piece pc[MAX_PIECES];
	struct zio_origin *pins[MAX_PINS];
	struct span absent[MAX_RUNS];   /* alias pages under the runs */
	int nseg, nr, npc, npins, nabsent;
	uint64_t alias_bytes;
};

/* Resolve the source (fixed: the caller's origin) and plan the runs.
 * Returns whether the policy has decided already (a promoted source). */
static bool plan_source(struct plan *p, const struct zio_seg *fixed, uintptr_t site)
{
	bool decided = false;

	if (fixed) {
		p->segs[0] = *fixed;
		p->segs[0].addr = p->s;
		p->segs[0].len = p->n;
		p->nseg = 1;
	} else {
		p->nseg = zio_index_resolve(&zio.ix, p->s, p->n, p->segs, MAX_SEGS);
		if (p->nseg == 1 && !p->segs[0].o && promote_noted(p->s, p->n, p->d, site)) {
			p->nseg = zio_index_resolve(&zio.ix, p->s, p->n, p->segs, MAX_SEGS);
			decided = true;
		}
	}
	p->nr = p->nseg > 0 ? plan_runs(p->d, p->s, p->n, p->segs, p->nseg, p->runs,
					&p->alias_bytes) : 0;
	return decided;
}

/*
 * Not elided: a plain copy, with what it overwrites made safe first.  Its
 * source's alias pages are read from their origins: faulting them in
 * would cost a round trip each, and charge the touches to whoever made
 * those aliases (a declined copy of a received buffer would turn its
 * input site off).  Lock held on entry, released.  Returns true when the
 * copy is done, false when the caller still has to make it.
 */
static bool copy_declined(struct plan *p, bool fixed, uintptr_t site)
{
	if (p->nr && zio.ix.n_alias + (uint64_t)p->nr > zio_opt.max_aliases)
		zio_fallback(ZIO_FB_CAP);
	if (p->nseg > 0 && (p->nseg > 1 || p->segs[0].o))
		pr_trace("copy [%#lx,+%zu) <- %#lx (site %#lx): not elided", (unsigned long)p->d,
			 p->n, (unsigned long)p->s, (unsigned long)site);
	if (zio_region_first_overlap(&zio.ix, p->d, p->d + p->n))
		zio_prepare_range(p->d, p->d + p->n, ZIO_PREP_OVERWRITE);
	else if (zio.vacant.bytes)
		zio_vacant_fill(pg_dn(p->d), pg_up(p->d + p->n));
	if (atomic_load_explicit(&zio_lazy_live, memory_order_relaxed))
		zio_policy_forget_noted(p->d, p->d + p->n);
	p->npc = 0;
	if (!fixed && p->nseg > 0 && source_aliased(p->segs, p->nseg) &&
	    (p->nseg = zio_index_resolve(&zio.ix, p->s, p->n, p->segs, MAX_SEGS)) > 0)
		p->npc = plan_pieces(p->d, p->s, p->d, p->d + p->n, p->segs, p->nseg, p->pc, 0,
				     p->pins, &p->npins);
	if (p->npins)
		zio_defer_begin();
	zio_unlock();
	/* (planning may have failed half way: its pins go too) */
	copy_pieces(p->pc, p->npc > 0 ? p->npc : 0, p->pins, p->npins);
	return p->npc > 0;
}

/*
 * Make dst safe to overwrite, except for the aliases under the pages
 * about to be re-aliased: those stay until the new alias replaces them in
 * the same critical section (install_run), so a concurrent reader sees
 * old bytes or new ones, never a hole, even if installing fails; they are
 * recorded as absent spans.  Originals under them do change, and are
 * prepared.  0 or -errno.
 */
static int prepare_dst(struct plan *p)
{
	uintptr_t c = p->d;
	int err = 0;

	p->nabsent = 0;
	for (int i = 0; i < p->nr && !err; i++) {
		struct zio_region *r;
		uintptr_t x = p->runs[i].p0;

		if (c < x)
			err = zio_prepare_range(c, x, ZIO_PREP_OVERWRITE);
		while (!err && x < p->runs[i].p1 &&
		       (r = zio_region_first_overlap(&zio.ix, x, p->runs[i].p1))) {
			uintptr_t lo = r->node.start > x ? r->node.start : x;
			uintptr_t hi = r->node.end < p->runs[i].p1 ? r->node.end : p->runs[i].p1;

			if (r->type == ZIO_R_ORIG)
				err = zio_prepare_range(lo, hi, ZIO_PREP_OVERWRITE);
			else if (p->nabsent < MAX_RUNS)
				p->absent[p->nabsent++] = (struct span){ lo, hi };
			x = hi;
		}
		c = p->runs[i].p1;
	}
	if (!err && c < p->d + p->n)
		err = zio_prepare_range(c, p->d + p->n, ZIO_PREP_OVERWRITE);
	return err;
}

/* Are the pages [a, b) of the destination absent: aliases being
 * replaced (prepare_dst) or vacant?  Nothing to park there. */
static bool dst_absent(const struct plan *p, uintptr_t a, uintptr_t b)
{
	return spans_cover(p->absent, p->nabsent, a, b) ||
	       (zio.vacant.bytes && zio_extents_covers(&zio.vacant, a, b));
}

/*
 * A run absent but for its first or last page: that page is copied for
 * real instead of parked, for a while.  A recycled reply buffer whose run
 * ends one page earlier or later from one copy to the next (Redis GET:
 * whether the original holds the source's last page depends on the key)
 * would otherwise park that page on one copy (a mincore of the run and a
 * move) and refill it on the next (another move); copied, it stays
 * populated.  Renting, not buying: a page is parked after `rent` copies,
 * first EDGE_RENT, about what one park costs (2026-12-08, this 2-core
 * EPYC: a 4 KiB copy from a cold source 0.9 us, a mincore of 59 pages
 * 2.9 us, a one-page UFFDIO_MOVE 2.4 us), so that a page populated once
 * by chance does not cost a copy on every later copy; each time the same
 * page comes back populated after its park (it was refilled: it flips),
 * its rent doubles, up to EDGE_RENT_MAX.
 */
#define EDGE_SLOTS    64    /* a power of two; direct-mapped by page */
#define EDGE_RENT      6
#define EDGE_RENT_MAX 96

static struct {
	uintptr_t page;
	unsigned copies, rent;
} edge_rent[EDGE_SLOTS];

/* May populated page pg be copied for real once more?  Lock held. */
static bool edge_rent_again(uintptr_t pg)
{
	unsigned i = (unsigned)(((pg / ZIO_PAGE) * 0x9e3779b97f4a7c15ULL) >> 58) & (EDGE_SLOTS - 1);

	if (edge_rent[i].page != pg) {
		edge_rent[i].page = pg;
		edge_rent[i].copies = 0;
		edge_rent[i].rent = EDGE_RENT;
	}
	if (++edge_rent[i].copies <= edge_rent[i].rent)
		return true;
	edge_rent[i].copies = 0;
	if (edge_rent[i].rent < EDGE_RENT_MAX)
		edge_rent[i].rent *= 2;
	return false;
}

/* Only a page with no alias on it is trimmed (nothing to replace there):
 * prepare_dst recorded every alias under the runs as absent, or removed
 * it, unless it ran out of room for them.  Returns whether the run is
 * absent now. */
static bool trim_populated_ends(const struct plan *p, struct run *r)
{
	uintptr_t a = r->p0, b = r->p1;

	if (b - a < 3 * ZIO_PAGE || p->nabsent == MAX_RUNS)
		return false;
	if (!dst_absent(p, a, a + ZIO_PAGE))
		a += ZIO_PAGE;
	if (!dst_absent(p, b - ZIO_PAGE, b))
		b -= ZIO_PAGE;
	if ((a == r->p0 && b == r->p1) || !dst_absent(p, a, b))
		return false;
	if ((a != r->p0 && !edge_rent_again(r->p0)) || (b != r->p1 && !edge_rent_again(b)))
		return false;
	ZIO_STAT_ADD(edge_pages_copied, (a - r->p0 + r->p1 - b) / ZIO_PAGE);
	r->ooff += a - r->p0;
	r->p0 = a;
	r->p1 = b;
	return true;
}

/* Install every run as an alias and plan the real copies around them.
 * Returns the bytes elided (p->npc < 0: too fragmented to plan). */
static uint64_t install_runs(struct plan *p, uintptr_t site)
{
	uint64_t now = zio_now_ns(), elided = 0;
	uintptr_t cur = p->d;

	p->npc = 0;
	for (int i = 0; i <= p->nr && p->npc >= 0; i++) {
		struct run *r = i < p->nr ? &p->runs[i] : NULL;
		uintptr_t x = r ? r->p0 : p->d + p->n;

		if (r) {
			/* alias pages and vacant ones are absent: nothing to park
			 * (and no mincore to find that out) */
			bool absent = dst_absent(p, r->p0, r->p1) || trim_populated_ends(p, r);

			x = r->p0;
			r->got = install_run(r, site, now, absent);
			elided += r->got;
		}
		if (cur < x)
			p->npc = plan_pieces(p->d, p->s, cur, x, p->segs, p->nseg, p->pc, p->npc,
					     p->pins, &p->npins);
		if (r) {
			cur = r->p0 + r->got;
			if (cur < r->p1 && p->npc >= 0)
				p->npc = plan_pieces(p->d, p->s, cur, r->p1, p->segs, p->nseg, p->pc,
						     p->npc, p->pins, &p->npins);
			cur = r->p1;
		}
	}
	return elided;
}

/* Too fragmented to plan: copy what is not aliased straight from the
 * source (its alias pages fault in, which is correct), including the part
 * of a run that could not be aliased (its pages would not move: shared
 * with a child since a fork). */
static void copy_unplanned(const struct plan *p)
{
	uintptr_t cur = p->d, d = p->d, s = p->s;

	for (int i = 0; i < p->nr; i++) {
		if (cur < p->runs[i].p0)
			zio_raw_copy((void *)cur, (const void *)(s + (cur - d)), p->runs[i].p0 - cur);
		cur = p->runs[i].p0 + p->runs[i].got;
		if (cur < p->runs[i].p1)
			zio_raw_copy((void *)cur, (const void *)(s + (cur - d)), p->runs[i].p1 - cur);
		cur = p->runs[i].p1;
	}
	if (cur < d + p->n)
		zio_raw_copy((void *)cur, (const void *)(s + (cur - d)), d + p->n - cur);
}

/*
 * The copy.  `fixed`, when given, is the whole source already resolved
 * (an origin the caller owns, such as a UMEM frame); src is then only a
 * nominal address for the arithmetic.  Returns dst; errno unchanged.
 */
static void *copy_impl(void *dst, const void *src, size_t n, bool is_move, uintptr_t site,
		       const struct zio_seg *fixed)
{
	struct plan p = { .d = (uintptr_t)dst, .s = (uintptr_t)src, .n = n };
	bool overlap = !fixed && p.d < p.s + n && p.s < p.d + n, decided, weighed = false;
	int saved = errno;
	uint64_t elided;

	if (overlap || zio_ensure_ready())
		goto plain;
	zio_lock();
	/* An original under dst that another thread reads right now must not
	 * change, nor have its pages moved away by an alias over it. */
	zio_wait_unpinned(p.d, p.d + n);
	decided = plan_source(&p, fixed, site);
	if (p.nr && !decided && !runs_pay(p.runs, p.nr, p.d, n, site)) {
		p.nr = 0;
		weighed = true;
	}
	if (!p.nr || p.alias_bytes < ZIO_PAGE || !zio_policy_allow(site, p.alias_bytes) ||
	    zio.ix.n_alias + (uint64_t)p.nr > zio_opt.max_aliases) {
		if (copy_declined(&p, fixed, site)) {
			errno = saved;
			return dst;
		}
		if (weighed && !fixed) {
			timed_copy(dst, src, n, is_move, site);
			errno = saved;
			return dst;
		}
		goto plain;
	}
	if (prepare_dst(&p)) {
		zio_unlock();
		zio_fallback(ZIO_FB_COPY);
		goto plain;
	}
	/* Preparing may have retired or split origins: resolve again. */
	if (!fixed)
		p.nseg = zio_index_resolve(&zio.ix, p.s, n, p.segs, MAX_SEGS);
	p.nr = p.nseg > 0 ? plan_runs(p.d, p.s, n, p.segs, p.nseg, p.runs, &p.alias_bytes) : 0;
	elided = install_runs(&p, site);
	pr_trace("copy [%#lx,+%zu) <- %#lx (site %#lx): %llu bytes elided, %d pieces copied",
		 (unsigned long)p.d, n, (unsigned long)p.s, (unsigned long)site,
		 (unsigned long long)elided, p.npc);
	if (elided) {
		ZIO_STAT_ADD(elided_copies, 1);
		ZIO_STAT_ADD(elided_bytes, elided);
		ZIO_PROBE2(elide, site, elided);
		zio_policy_elided(site, elided);
	}
	/* While origins are pinned for us, a handler of ours storing into one
	 * would wait for us: keep signals deferred until they are unpinned. */
	if (p.npins)
		zio_defer_begin();
	zio_unlock();
	if (p.npc < 0) {
		copy_unplanned(&p);
		p.npc = 0;
	}
	copy_pieces(p.pc, p.npc, p.pins, p.npins);
	errno = saved;
	return dst;

plain:
	errno = saved;
	if (fixed) {
		/* the caller holds the origin: its bytes are stable */
		zio_raw_copy(dst, (const void *)zio_origin_addr(fixed->o, fixed->ooff), n);
		return dst;
	}
	return plain_copy(dst, src, n, is_move || overlap);
}

ZIO_HIDDEN void *zio_copy(void *dst, const void *src, size_t n, bool is_move, uintptr_t site)
{
	return copy_impl(dst, src, n, is_move, site, NULL);
}

ZIO_HIDDEN void *zio_copy_from_origin(void *dst, struct zio_origin *o, uint64_t ooff, size_t n,
				      uintptr_t site)
{
	struct zio_seg seg = { .o = o, .ooff = ooff, .type = ZIO_R_ALIAS };

	/* Any address works as the nominal source: page arithmetic only
	 * needs its offset inside a page to match the origin's. */
	return copy_impl(dst, (const void *)(uintptr_t)(0x100000000000ULL + (zio_origin_addr(o, ooff) & (ZIO_PAGE - 1))),
			 n, false, site, &seg);
}
