// SPDX-License-Identifier: MIT
/*
 * An AVL tree of non-overlapping [start, end) ranges keyed by start, and
 * the extent sets built on it.  Nothing here allocates with malloc (the
 * runtime interposes free and realloc, and may run inside them): extent
 * nodes come from a slab (mech/slab.h).
 */
#include <errno.h>

#include "mech/slab.h"
#include "mech/tree.h"

static int height(const struct zio_node *n)
{
	return n ? n->h : 0;
}

static uintptr_t maxlen(const struct zio_node *n)
{
	return n ? n->maxlen : 0;
}

static void fix(struct zio_node *n)
{
	int hl = height(n->l), hr = height(n->r);
	uintptr_t m = n->end - n->start;

	n->h = (hl > hr ? hl : hr) + 1;
	if (maxlen(n->l) > m)
		m = maxlen(n->l);
	if (maxlen(n->r) > m)
		m = maxlen(n->r);
	n->maxlen = m;
}

static void refresh(struct zio_node *n, uintptr_t start)
{
	if (!n)
		return;
	if (start < n->start)
		refresh(n->l, start);
	else if (start > n->start)
		refresh(n->r, start);
	fix(n);
}

ZIO_HIDDEN void zio_tree_refresh(struct zio_tree *t, uintptr_t start)
{
	refresh(t->root, start);
}

ZIO_HIDDEN struct zio_node *zio_tree_first_fit(const struct zio_tree *t, uintptr_t len)
{
	struct zio_node *n = t->root;

	if (!n || n->maxlen < len)
		return NULL;
	for (;;) {
		if (maxlen(n->l) >= len)
			n = n->l;
		else if (n->end - n->start >= len)
			return n;
		else
			n = n->r;    /* the maximum says it is there */
	}
}

static struct zio_node *rot_right(struct zio_node *n)
{
	struct zio_node *l = n->l;

	n->l = l->r;
	l->r = n;
	fix(n);
	fix(l);
	return l;
}

static struct zio_node *rot_left(struct zio_node *n)
{
	struct zio_node *r = n->r;

	n->r = r->l;
	r->l = n;
	fix(n);
	fix(r);
	return r;
}

static struct zio_node *balance(struct zio_node *n)
{
	int b;

	fix(n);
	b = height(n->l) - height(n->r);
	if (b > 1) {
		if (height(n->l->l) < height(n->l->r))
			n->l = rot_left(n->l);
		return rot_right(n);
	}
	if (b < -1) {
		if (height(n->r->r) < height(n->r->l))
			n->r = rot_right(n->r);
		return rot_left(n);
	}
	return n;
}

static struct zio_node *insert(struct zio_node *root, struct zio_node *n)
{
	if (!root)
		return n;
	if (n->start < root->start)
		root->l = insert(root->l, n);
	else
		root->r = insert(root->r, n);
	return balance(root);
}

ZIO_HIDDEN void zio_tree_insert(struct zio_tree *t, struct zio_node *n)
{
	n->l = n->r = NULL;
	n->h = 1;
	n->maxlen = n->end - n->start;
	t->root = insert(t->root, n);
	t->count++;
}

static struct zio_node *remove_min(struct zio_node *n, struct zio_node **min)
{
	if (!n->l) {
		*min = n;
		return n->r;
	}
	n->l = remove_min(n->l, min);
	return balance(n);
}

static struct zio_node *remove_node(struct zio_node *root, struct zio_node *n)
{
	struct zio_node *min;

	if (!root)
		return NULL;
	if (root == n) {
		if (!n->r)
			return n->l;
		root = remove_min(n->r, &min);
		min->r = root;
		min->l = n->l;
		return balance(min);
	}
	if (n->start < root->start)
		root->l = remove_node(root->l, n);
	else
		root->r = remove_node(root->r, n);
	return balance(root);
}

ZIO_HIDDEN void zio_tree_remove(struct zio_tree *t, struct zio_node *n)
{
	t->root = remove_node(t->root, n);
	t->count--;
}

ZIO_HIDDEN struct zio_node *zio_tree_floor(const struct zio_tree *t, uintptr_t addr)
{
	struct zio_node *n = t->root, *best = NULL;

	while (n) {
		if (n->start <= addr) {
			best = n;
			n = n->r;
		} else {
			n = n->l;
		}
	}
	return best;
}

ZIO_HIDDEN struct zio_node *zio_tree_after(const struct zio_tree *t, uintptr_t key)
{
	struct zio_node *n = t->root, *best = NULL;

	while (n) {
		if (n->start > key) {
			best = n;
			n = n->l;
		} else {
			n = n->r;
		}
	}
	return best;
}

ZIO_HIDDEN struct zio_node *zio_tree_first(const struct zio_tree *t)
{
	struct zio_node *n = t->root;

	while (n && n->l)
		n = n->l;
	return n;
}

ZIO_HIDDEN struct zio_node *zio_tree_first_overlap(const struct zio_tree *t, uintptr_t a,
						   uintptr_t b)
{
	struct zio_node *n = zio_tree_floor(t, a);

	if (n && n->end > a)
		return n;
	n = zio_tree_after(t, a);
	if (n && n->start < b)
		return n;
	return NULL;
}

/* extent nodes */
static struct zio_slab ext_slab = { .size = sizeof(struct zio_node), .chunk = 64 * 1024 };

/* ------------------------------------------------------------ extents */

ZIO_HIDDEN int zio_extents_add(struct zio_extents *s, uintptr_t a, uintptr_t b)
{
	struct zio_node *prev, *next, *n;

	if (a >= b)
		return 0;
	prev = zio_tree_floor(&s->t, a);
	next = zio_tree_after(&s->t, a);
	/* Callers only add ranges that are not in the set yet; coalesce with
	 * neighbours that touch. */
	if (prev && prev->end == a) {
		prev->end = b;
		if (next && next->start == b) {
			prev->end = next->end;
			zio_tree_remove(&s->t, next);
			zio_slab_free(&ext_slab, next);
		}
		zio_tree_refresh(&s->t, prev->start);
		s->bytes += b - a;
		return 0;
	}
	if (next && next->start == b) {
		/* start changes but order does not: no neighbour lies between */
		uintptr_t old = next->start;

		next->start = a;
		/* the key moved down, past no other key: the old path holds */
		(void)old;
		zio_tree_refresh(&s->t, a);
		s->bytes += b - a;
		return 0;
	}
	n = zio_slab_alloc(&ext_slab);
	if (!n)
		return -ENOMEM;
	n->start = a;
	n->end = b;
	zio_tree_insert(&s->t, n);
	s->bytes += b - a;
	return 0;
}

ZIO_HIDDEN void zio_extents_del(struct zio_extents *s, uintptr_t a, uintptr_t b)
{
	struct zio_node *n;

	while (a < b && (n = zio_tree_first_overlap(&s->t, a, b))) {
		uintptr_t lo = n->start > a ? n->start : a;
		uintptr_t hi = n->end < b ? n->end : b;

		s->bytes -= hi - lo;
		if (lo == n->start && hi == n->end) {
			zio_tree_remove(&s->t, n);
			zio_slab_free(&ext_slab, n);
		} else if (lo == n->start) {
			n->start = hi;
			zio_tree_refresh(&s->t, hi);
		} else if (hi == n->end) {
			n->end = lo;
			zio_tree_refresh(&s->t, n->start);
		} else {
			struct zio_node *tail = zio_slab_alloc(&ext_slab);

			if (!tail) {
				/* Cannot split: keep the tail, lose the head part.
				 * Losing set members is safe for every user (the set
				 * only ever under-reports). */
				s->bytes -= lo - n->start;
				n->start = hi;
				zio_tree_refresh(&s->t, hi);
				return;
			}
			tail->start = hi;
			tail->end = n->end;
			n->end = lo;
			zio_tree_refresh(&s->t, n->start);
			zio_tree_insert(&s->t, tail);
		}
		a = hi;
	}
}

ZIO_HIDDEN uint64_t zio_extents_bytes_in(const struct zio_extents *s, uintptr_t a, uintptr_t b)
{
	uint64_t bytes = 0;

	for (struct zio_node *n = zio_tree_first_overlap(&s->t, a, b); n && n->start < b;
	     n = zio_tree_after(&s->t, n->start))
		bytes += (n->end < b ? n->end : b) - (n->start > a ? n->start : a);
	return bytes;
}

ZIO_HIDDEN bool zio_extents_covers(const struct zio_extents *s, uintptr_t a, uintptr_t b)
{
	struct zio_node *n = zio_tree_floor(&s->t, a);

	return n && n->start <= a && n->end >= b;
}

ZIO_HIDDEN uint64_t zio_extents_take(struct zio_extents *s, uint64_t len, uint64_t min,
				     uintptr_t *a)
{
	struct zio_node *n = zio_tree_first_fit(&s->t, min ? min : 1);
	uint64_t got;

	if (!n)
		return 0;
	got = n->end - n->start;
	if (got > len)
		got = len;
	*a = n->start;
	zio_extents_del(s, n->start, n->start + got);
	return got;
}

ZIO_HIDDEN void zio_extents_clear(struct zio_extents *s)
{
	struct zio_node *n;

	while ((n = s->t.root)) {
		zio_tree_remove(&s->t, n);
		zio_slab_free(&ext_slab, n);
	}
	s->bytes = 0;
}
