// SPDX-License-Identifier: MIT
/*
 * Unit tests of the alias index and the range tree under it: overlap
 * queries, split, merge, alias of alias, origin lifetimes.  These link
 * the runtime's objects directly; nothing is preloaded.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "mech/index.h"

#define P ZIO_PAGE

/* ------------------------------------------------------------ tree */

struct tnode {
	struct zio_node n;
};

static int tree_height(struct zio_node *n)
{
	int l, r;

	if (!n)
		return 0;
	l = tree_height(n->l);
	r = tree_height(n->r);
	cr_assert(abs(l - r) <= 1, "AVL balance violated");
	return (l > r ? l : r) + 1;
}

Test(tree, floor_after_overlap_match_brute_force)
{
	enum { N = 2000 };
	static struct tnode nodes[N];
	struct zio_tree t = { 0 };
	unsigned x = 12345;

	/* ranges [10i, 10i+5) inserted in a shuffled order */
	int order[N];
	for (int i = 0; i < N; i++)
		order[i] = i;
	for (int i = N - 1; i > 0; i--) {
		x = x * 1103515245 + 12345;
		int j = (int)(x % (unsigned)(i + 1)), tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	for (int i = 0; i < N; i++) {
		nodes[order[i]].n.start = (uintptr_t)order[i] * 10 + 100;
		nodes[order[i]].n.end = (uintptr_t)order[i] * 10 + 105;
		zio_tree_insert(&t, &nodes[order[i]].n);
	}
	cr_assert_eq(t.count, N);
	cr_assert_leq(tree_height(t.root), 16, "height %d too large", tree_height(t.root));

	for (uintptr_t a = 0; a < N * 10 + 200; a += 3) {
		struct zio_node *f = zio_tree_floor(&t, a), *af = zio_tree_after(&t, a);
		struct zio_node *ov = zio_tree_first_overlap(&t, a, a + 7);
		struct zio_node *bf = NULL, *baf = NULL, *bov = NULL;

		for (int i = 0; i < N; i++) {
			struct zio_node *n = &nodes[i].n;

			if (n->start <= a && (!bf || n->start > bf->start))
				bf = n;
			if (n->start > a && (!baf || n->start < baf->start))
				baf = n;
			if (n->start < a + 7 && n->end > a && (!bov || n->start < bov->start))
				bov = n;
		}
		cr_assert_eq(f, bf, "floor(%lu)", (unsigned long)a);
		cr_assert_eq(af, baf, "after(%lu)", (unsigned long)a);
		cr_assert_eq(ov, bov, "first_overlap(%lu)", (unsigned long)a);
	}
	/* remove every other node and check again */
	for (int i = 0; i < N; i += 2)
		zio_tree_remove(&t, &nodes[i].n);
	cr_assert_eq(t.count, N / 2);
	tree_height(t.root);
	for (int i = 0; i < N; i++) {
		struct zio_node *f = zio_tree_floor(&t, nodes[i].n.start);

		if (i & 1)
			cr_assert_eq(f, &nodes[i].n);
		else
			cr_assert_neq(f, &nodes[i].n);
	}
}

/* ------------------------------------------------------------ extents */

Test(extents, add_coalesces_del_splits_take_first_fit)
{
	struct zio_extents s = { 0 };
	uintptr_t a;

	cr_assert_eq(zio_extents_add(&s, 0x1000, 0x3000), 0);
	cr_assert_eq(zio_extents_add(&s, 0x5000, 0x6000), 0);
	cr_assert_eq(zio_extents_add(&s, 0x3000, 0x5000), 0); /* bridges both */
	cr_assert_eq(s.t.count, 1);
	cr_assert_eq(s.bytes, 0x5000);
	cr_assert(zio_extents_covers(&s, 0x1000, 0x6000));
	cr_assert_not(zio_extents_covers(&s, 0x1000, 0x7000));

	zio_extents_del(&s, 0x2000, 0x3000);                  /* split */
	cr_assert_eq(s.t.count, 2);
	cr_assert_eq(s.bytes, 0x4000);
	cr_assert_not(zio_extents_covers(&s, 0x1000, 0x4000));
	cr_assert(zio_extents_covers(&s, 0x3000, 0x6000));

	/* first fit of at least 0x2000 skips the 0x1000 extent */
	cr_assert_eq(zio_extents_take(&s, 0x2000, 0x2000, &a), 0x2000);
	cr_assert_eq(a, 0x3000);
	cr_assert_eq(s.bytes, 0x2000);
	/* any fit takes the lowest, partly */
	cr_assert_eq(zio_extents_take(&s, 0x800, 0, &a), 0x800);
	cr_assert_eq(a, 0x1000);
	cr_assert_eq(zio_extents_take(&s, 0x100000, 0x100000, &a), 0);
	zio_extents_clear(&s);
	cr_assert_eq(s.bytes, 0);
	cr_assert_null(s.t.root);
}

/* ------------------------------------------------------------ index */

static struct zio_index ix;
static int shadow_released;

static void on_shadow_release(uintptr_t lo, uintptr_t hi)
{
	(void)lo;
	(void)hi;
	shadow_released++;
}

static void setup(void)
{
	zio_index_init(&ix);
	zio_index_shadow_release = on_shadow_release;
	shadow_released = 0;
}

TestSuite(index, .init = setup);

Test(index, consecutive_inputs_merge_into_one_original)
{
	struct zio_region *r1 = zio_index_add_orig(&ix, 0x10010, 0x20010, 1, 0);
	struct zio_region *r2 = zio_index_add_orig(&ix, 0x20010, 0x50010, 1, 0);

	cr_assert_not_null(r1);
	cr_assert_eq(r1, r2, "an input continuing an original extends it");
	cr_assert_eq(r1->node.end, 0x50010);
	cr_assert_eq(r1->o->len, 0x40000);
	cr_assert_eq(ix.n_orig, 1);
	/* interior pages only are stable */
	cr_assert(zio_origin_covers(r1->o, 0x1000 - 0x10, P));
	cr_assert_not(zio_origin_covers(r1->o, 0, P), "partial head page is not stable");
	cr_assert_not(zio_origin_covers(r1->o, 0x40000 - 0x10, P), "nor the tail page");
}

Test(index, alias_of_alias_resolves_to_the_origin)
{
	struct zio_region *orig = zio_index_add_orig(&ix, 0x100000, 0x180000, 1, 0);
	struct zio_origin *o = orig->o;
	struct zio_seg segs[8];
	int n;

	/* dst A aliases orig pages 2..9 */
	cr_assert_not_null(zio_index_add_alias(&ix, 0x400000, 0x408000, o, 0x2000, 2, 0));
	cr_assert_eq(o->ref_pages, 8);

	/* resolving a range inside A yields the original, offset included */
	n = zio_index_resolve(&ix, 0x401800, 0x3000, segs, 8);
	cr_assert_eq(n, 1);
	cr_assert_eq(segs[0].o, o);
	cr_assert_eq(segs[0].type, ZIO_R_ALIAS);
	cr_assert_eq(segs[0].ooff, 0x2000 + 0x1800);

	/* a copy of A (B = alias of A) records the origin, not A */
	cr_assert_not_null(zio_index_add_alias(&ix, 0x600000, 0x603000, segs[0].o,
					       segs[0].ooff - 0x800, 3, 0));
	n = zio_index_resolve(&ix, 0x600000, 0x1000, segs, 8);
	cr_assert_eq(n, 1);
	cr_assert_eq(segs[0].o, o);
	cr_assert_eq(zio_origin_addr(o, segs[0].ooff), 0x100000 + 0x3000);
	cr_assert_eq(o->ref_pages, 11);
	cr_assert_eq(ix.n_alias, 2);
}

Test(index, adjacent_aliases_merge_only_when_contiguous_in_the_origin)
{
	struct zio_origin *o = zio_index_add_orig(&ix, 0x100000, 0x200000, 1, 0)->o;
	struct zio_region *a, *b, *c;

	a = zio_index_add_alias(&ix, 0x500000, 0x504000, o, 0x1000, 2, 0);
	b = zio_index_add_alias(&ix, 0x504000, 0x506000, o, 0x5000, 2, 0);
	cr_assert_eq(a, b, "continuation merges");
	cr_assert_eq(a->node.end, 0x506000);
	c = zio_index_add_alias(&ix, 0x506000, 0x507000, o, 0x9000, 2, 0);
	cr_assert_neq(c, a, "a jump in the origin offset does not merge");
	cr_assert_eq(ix.n_alias, 2);
	cr_assert_eq(o->ref_pages, 7);
	cr_assert_eq(ix.alias_pages, 7);
}

Test(index, cut_trims_and_splits_aliases_keeping_offsets)
{
	struct zio_origin *o = zio_index_add_orig(&ix, 0x100000, 0x200000, 1, 0)->o;
	struct zio_region *a = zio_index_add_alias(&ix, 0x500000, 0x510000, o, 0x4000, 2, 0);
	struct zio_region *tail;
	struct zio_seg segs[8];
	int n;

	zio_index_cut(&ix, a, 0x500000, 0x501000);         /* trim head */
	cr_assert_eq(a->node.start, 0x501000);
	cr_assert_eq(a->ooff, 0x5000);
	zio_index_cut(&ix, a, 0x50f000, 0x510000);         /* trim tail */
	cr_assert_eq(a->node.end, 0x50f000);
	zio_index_cut(&ix, a, 0x505000, 0x507000);         /* split */
	cr_assert_eq(ix.n_alias, 2);
	cr_assert_eq(o->ref_pages, 16 - 4);
	tail = zio_region_at(&ix, 0x507000);
	cr_assert_not_null(tail);
	cr_assert_neq(tail, a);
	cr_assert_eq(tail->ooff, 0x4000 + 0x7000);
	cr_assert_null(zio_region_at(&ix, 0x506000), "the cut range holds nothing");

	n = zio_index_resolve(&ix, 0x504000, 0x4000, segs, 8);
	cr_assert_eq(n, 3, "alias, gap, alias");
	cr_assert_not_null(segs[0].o);
	cr_assert_null(segs[1].o);
	cr_assert_eq(segs[1].len, 0x2000);
	cr_assert_eq(segs[2].ooff, 0x4000 + 0x7000);
}

Test(index, splitting_an_original_gives_the_tail_its_own_origin)
{
	struct zio_region *r = zio_index_add_orig(&ix, 0x100000, 0x140000, 1, 0);
	struct zio_origin *o = r->o;
	struct zio_region *t;

	zio_index_cut(&ix, r, 0x110000, 0x120000);
	t = zio_region_at(&ix, 0x120000);
	cr_assert_not_null(t);
	cr_assert_neq(t->o, o);
	cr_assert_eq(t->o->base, o->base, "same base: offsets stay valid");
	cr_assert_eq(t->ooff, 0x20000);
	cr_assert_eq(t->o->region, t);
	cr_assert_eq(o->region, r);
	cr_assert_eq(ix.n_orig, 2);
	cr_assert(zio_origin_covers(t->o, 0x21000, P));
	cr_assert_not(zio_origin_covers(o, 0x21000, P), "the head no longer holds the tail");
}

Test(index, shadow_origin_is_released_with_its_last_alias)
{
	struct zio_region *r = zio_index_add_orig(&ix, 0x100000, 0x140000, 1, 0);
	struct zio_origin *o = r->o;
	struct zio_region *a, *b;

	a = zio_index_add_alias(&ix, 0x500000, 0x508000, o, 0, 2, 0);
	b = zio_index_add_alias(&ix, 0x700000, 0x702000, o, 0x8000, 2, 0);
	/* retire by hand: the region leaves the origin, which becomes a shadow */
	o->region = NULL;
	o->kind = ZIO_ORIGIN_SHADOW;
	o->shadow_lo = 0x9000000;
	o->shadow_hi = 0x9040000;
	o->base = 0x9000000;
	zio_index_cut(&ix, r, r->node.start, r->node.end);
	cr_assert_eq(ix.n_orig, 0);
	cr_assert(zio_origin_covers(o, 0x1000, P));

	zio_index_cut(&ix, a, 0x500000, 0x508000);
	cr_assert_eq(shadow_released, 0, "b still reads from it");
	o->pins++;
	zio_index_cut(&ix, b, 0x700000, 0x702000);
	cr_assert_eq(shadow_released, 0, "a pinned origin stays");
	o->pins--;
	zio_origin_put_if_unused(&ix, o);
	cr_assert_eq(shadow_released, 1);
	cr_assert_eq(ix.n_alias, 0);
	cr_assert_eq(ix.alias_pages, 0);
}

Test(index, resolve_reports_overflow)
{
	struct zio_origin *o = zio_index_add_orig(&ix, 0x100000, 0x200000, 1, 0)->o;
	struct zio_seg segs[3];

	for (int i = 0; i < 4; i++)
		zio_index_add_alias(&ix, 0x500000 + (uintptr_t)i * 0x2000,
				    0x501000 + (uintptr_t)i * 0x2000, o, (uint64_t)i * 0x10000, 2, 0);
	cr_assert_eq(zio_index_resolve(&ix, 0x500000, 0x8000, segs, 3), -1);
	cr_assert_eq(zio_index_resolve(&ix, 0x500000, 0x3000, segs, 3), 3);
}

/* ------------------------------------------------------------ first fit */

static uintptr_t check_max(struct zio_node *n)
{
	uintptr_t m, l, r;

	if (!n)
		return 0;
	l = check_max(n->l);
	r = check_max(n->r);
	m = n->end - n->start;
	if (l > m)
		m = l;
	if (r > m)
		m = r;
	cr_assert_eq(n->maxlen, m, "stale subtree maximum at [%#lx, %#lx)",
		     (unsigned long)n->start, (unsigned long)n->end);
	return m;
}

Test(extents, first_fit_and_bytes_in_match_brute_force_under_random_churn)
{
	enum { SPACE = 4096, OPS = 20000 };
	static unsigned char in[SPACE];         /* page i is in the set */
	struct zio_extents s = { 0 };
	unsigned x = 99;

	memset(in, 0, sizeof(in));
	for (int op = 0; op < OPS; op++) {
		unsigned a, len;

		x = x * 1103515245 + 12345;
		a = (x >> 8) % SPACE;
		x = x * 1103515245 + 12345;
		len = 1 + (x >> 8) % 64;
		if (a + len > SPACE)
			len = SPACE - a;
		x = x * 1103515245 + 12345;
		if ((x >> 8) % 3 == 0) {
			/* add only the pages not yet in the set, as callers do */
			for (unsigned i = a; i < a + len; i++)
				if (!in[i]) {
					cr_assert_eq(zio_extents_add(&s, (uintptr_t)i * P, (uintptr_t)(i + 1) * P), 0);
					in[i] = 1;
				}
		} else if ((x >> 8) % 3 == 1) {
			zio_extents_del(&s, (uintptr_t)a * P, (uintptr_t)(a + len) * P);
			memset(in + a, 0, len);
		} else {
			uintptr_t got_at = 0;
			uint64_t got = zio_extents_take(&s, (uint64_t)len * P, (uint64_t)len * P, &got_at);
			long want = -1;

			/* brute force: lowest run of >= len pages */
			for (unsigned i = 0, run = 0; i < SPACE; i++) {
				run = in[i] ? run + 1 : 0;
				if (!in[i])
					continue;
				if (i == 0 || !in[i - 1]) {
					unsigned j = i;

					while (j < SPACE && in[j])
						j++;
					if (j - i >= len) {
						want = i;
						break;
					}
				}
			}
			if (want < 0) {
				cr_assert_eq(got, 0);
			} else {
				cr_assert_eq(got, (uint64_t)len * P);
				cr_assert_eq(got_at, (uintptr_t)want * P, "first fit at %#lx, expected page %ld",
					     (unsigned long)got_at, want);
				memset(in + want, 0, len);
			}
		}
		check_max(s.t.root);
		{
			uint64_t bytes = 0;

			for (unsigned i = 0; i < SPACE; i++)
				bytes += in[i] ? P : 0;
			cr_assert_eq(s.bytes, bytes, "byte count after op %d", op);
		}
		{
			/* the bytes of a random range in the set, byte offsets
			 * inside pages included */
			uintptr_t lo, hi;
			uint64_t want = 0;

			x = x * 1103515245 + 12345;
			lo = (x >> 8) % (SPACE * P);
			x = x * 1103515245 + 12345;
			hi = lo + (x >> 8) % (256 * P);
			if (hi > SPACE * P)
				hi = SPACE * P;
			for (uintptr_t i = lo / P; i * P < hi; i++) {
				uintptr_t a = i * P > lo ? i * P : lo, b = (i + 1) * P < hi ? (i + 1) * P : hi;

				want += in[i] ? b - a : 0;
			}
			cr_assert_eq(zio_extents_bytes_in(&s, lo, hi), want,
				     "bytes in [%#lx, %#lx) after op %d", (unsigned long)lo,
				     (unsigned long)hi, op);
		}
	}
	zio_extents_clear(&s);
}
