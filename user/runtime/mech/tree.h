/* SPDX-License-Identifier: MIT */
/*
 * An AVL tree of non-overlapping [start, end) ranges, and extent sets
 * built on it (tree.c).  Pure bookkeeping: no system calls, no lock of
 * its own (callers hold the runtime lock); unit-tested.
 */
#ifndef ZIO_MECH_TREE_H
#define ZIO_MECH_TREE_H

#include "base/defs.h"

/* AVL tree of non-overlapping [start, end) ranges keyed by start. */
struct zio_node {
	struct zio_node *l, *r;
	int h;
	uintptr_t start, end;
	/* largest end - start in this subtree: first-fit in O(log n) */
	uintptr_t maxlen;
};
struct zio_tree {
	struct zio_node *root;
	size_t count;
};
void zio_tree_insert(struct zio_tree *t, struct zio_node *n);
void zio_tree_remove(struct zio_tree *t, struct zio_node *n);
/* Node with the largest start <= addr, or NULL. */
struct zio_node *zio_tree_floor(const struct zio_tree *t, uintptr_t addr);
/* Node with the smallest start > key, or NULL. */
struct zio_node *zio_tree_after(const struct zio_tree *t, uintptr_t key);
/* First node overlapping [a, b), or NULL. */
struct zio_node *zio_tree_first_overlap(const struct zio_tree *t, uintptr_t a, uintptr_t b);
struct zio_node *zio_tree_first(const struct zio_tree *t);
/* Recompute the subtree maxima along the path to the node keyed `start`
 * (after changing its start or end in place). */
void zio_tree_refresh(struct zio_tree *t, uintptr_t start);
/* Lowest node with end - start >= len, or NULL; O(log n). */
struct zio_node *zio_tree_first_fit(const struct zio_tree *t, uintptr_t len);

/* Extent set: a tree of coalesced [start, end) ranges (registered memory,
 * free arena space, spare pages).  Nodes come from a private slab. */
struct zio_extents {
	struct zio_tree t;
	uint64_t bytes;
};
int zio_extents_add(struct zio_extents *s, uintptr_t a, uintptr_t b);
void zio_extents_del(struct zio_extents *s, uintptr_t a, uintptr_t b);
bool zio_extents_covers(const struct zio_extents *s, uintptr_t a, uintptr_t b);
/* How many bytes of [a, b) are in the set. */
uint64_t zio_extents_bytes_in(const struct zio_extents *s, uintptr_t a, uintptr_t b);
/* Take up to len bytes from the lowest extent of at least `min` bytes
 * (min = 0: any).  Returns the bytes taken and their start in *a. */
uint64_t zio_extents_take(struct zio_extents *s, uint64_t len, uint64_t min, uintptr_t *a);
void zio_extents_clear(struct zio_extents *s);

#endif
