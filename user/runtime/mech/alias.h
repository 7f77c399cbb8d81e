/* SPDX-License-Identifier: MIT */
/*
 * The life of aliases and originals (alias.c): materialise, retire, make
 * a range safe to change.  Lock held for all of them.
 */
#ifndef ZIO_MECH_ALIAS_H
#define ZIO_MECH_ALIAS_H

#include "mech/index.h"

/* How a range is about to change (zio_prepare_range). */
enum zio_prep {
	ZIO_PREP_OVERWRITE,  /* a copy writes it: aliases materialised */
	ZIO_PREP_INPUT,      /* an input writes it: the same (it may be short) */
	ZIO_PREP_RELEASE,    /* freed: aliases dropped, spare pages put back */
	ZIO_PREP_UNMAP,      /* unmapped: aliases dropped */
};
/* Make [a, b) safe to change as `how` says: originals in it with
 * dependants retire (their bytes go to a shadow), aliases are
 * materialised or dropped.  0 or -errno. */
int zio_prepare_range(uintptr_t a, uintptr_t b, enum zio_prep how);
/* Materialise alias pages [a, b) of region r (page aligned): they get
 * their bytes and leave the alias.  0 or -errno (pages left as aliases). */
int zio_materialize(struct zio_region *r, uintptr_t a, uintptr_t b);
/* Every alias of o gets its bytes (o's last references go).  0 or -errno. */
int zio_materialize_origin(struct zio_origin *o, int cause);
/* Every alias in the process gets its bytes (before fork). */
void zio_materialize_all(void);
/* The app bytes of original o are about to change (or die, content_dead:
 * its pages may then move instead of being copied): its aliases get a
 * shadow to read from.  1 when pages moved, 0 when copied (or nothing
 * depended on them); on failure every dependant is materialised instead,
 * and only if that fails too -errno. */
int zio_retire(struct zio_origin *o, bool content_dead);
/* Lift the write protection of an original (all of its hull). */
void zio_origin_unprotect(struct zio_origin *o);
/* Vacant pages of [a, b) (page aligned) get populated pages (alias.c). */
void zio_vacant_fill(uintptr_t a, uintptr_t b);
/* A fault at addr: if it is vacant, its extent gets pages and the policy
 * learns the touch; returns whether it was. */
bool zio_vacant_touched(uintptr_t addr);
/* Are all pages of [a, a+len) present?  Guards every read of app memory
 * made under the lock: a hole there would fault into our own thread. */
bool zio_app_present(uintptr_t a, uint64_t len);

#endif
