/* SPDX-License-Identifier: MIT */
/*
 * Fixed-size objects from mmap'ed chunks, with a free list: the index's
 * regions and origins and the trees' extent nodes.  Nothing here uses
 * malloc (the runtime interposes free and realloc and may run inside
 * them) and nothing is given back to the system: a freed object waits on
 * the list for the next allocation of its slab.  The caller holds the
 * runtime lock (or is single-threaded, as the unit tests are).
 */
#ifndef ZIO_MECH_SLAB_H
#define ZIO_MECH_SLAB_H

#include <stddef.h>
#include <sys/mman.h>

struct zio_slab {
	size_t size;   /* of one object: at least a pointer */
	size_t chunk;  /* bytes mapped at a time */
	void *free;    /* the free list, linked through the objects */
};

/* An object of s->size bytes, or NULL when no chunk can be mapped. */
static inline void *zio_slab_alloc(struct zio_slab *s)
{
	void *p = s->free;

	if (!p) {
		char *c = mmap(NULL, s->chunk, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (c == MAP_FAILED)
			return NULL;
		for (size_t off = 0; off + s->size <= s->chunk; off += s->size) {
			*(void **)(c + off) = s->free;
			s->free = c + off;
		}
		p = s->free;
	}
	s->free = *(void **)p;
	return p;
}

static inline void zio_slab_free(struct zio_slab *s, void *p)
{
	*(void **)p = s->free;
	s->free = p;
}

#endif
