/* SPDX-License-Identifier: MIT */
/*
 * The policy (policy.c): per call site, what eliding costs against what
 * it saves (docs/runtime.md "Policy").  Called under the runtime lock.
 */
#ifndef ZIO_MECH_POLICY_H
#define ZIO_MECH_POLICY_H

#include <stdatomic.h>

#include "mech/index.h"

/* May a copy (or a redirect) at site go ahead by the site's back-off? */
bool zio_policy_allow(uintptr_t site, uint64_t bytes);
void zio_policy_redirected(uintptr_t in_site, uint64_t bytes);
/* Inputs into aliased buffers can be redirected (UFFDIO_MOVE): set at
 * start, weighs what a retired original costs.  An input is redirected
 * only when it is expected to write this many whole pages or more. */
#define REDIRECT_MIN_PAGES  4
extern bool zio_policy_redirects;
/* Should the first alias of an original received at in_site be made?
 * pages: destination pages to alias; present: of those, populated;
 * aliased: of those, aliases now (absent, but populated for a copy). */
bool zio_policy_first_alias(uintptr_t in_site, uintptr_t copy_site, uint64_t pages,
			    uint64_t present, uint64_t aliased);
/* The destination of the copy at copy_site about to be weighed: hot
 * (written by the site a short while ago) or not. */
void zio_policy_destination(uintptr_t copy_site, uintptr_t d, uint64_t bytes);
/* Should a later (not first) alias of an original be made at site? */
bool zio_policy_later_alias(uintptr_t copy_site, uint64_t pages, uint64_t present,
			    uint64_t aliased);
/* Should the input of [a, b) received at in_site become an original?
 * (false: it is only noted, see zio_policy_noted_input) */
bool zio_policy_track_input(uintptr_t in_site, uintptr_t a, uintptr_t b);
/* The input site whose noted (untracked) input covers [a, b), or 0. */
uintptr_t zio_policy_noted_input(uintptr_t a, uintptr_t b);
extern _Atomic bool zio_lazy_live;  /* some input was noted */
/* [a, b) no longer holds input: drop its notes (under the lock) */
void zio_policy_forget_noted(uintptr_t a, uintptr_t b);
bool zio_policy_maybe_noted(uintptr_t a, uintptr_t b);  /* lock-free hint */
/* The populated pages of a copy destination of site: a recent mincore
 * answer scaled to pages (false: ask mincore and report it with
 * zio_policy_present_seen). */
bool zio_policy_present_hint(uintptr_t site, uint64_t pages, uint64_t *present);
void zio_policy_present_seen(uintptr_t site, uint64_t pages, uint64_t present);
/* An alias made at site ended: freed/unmapped, or copied over again. */
void zio_policy_alias_end(uintptr_t site, uint64_t pages, bool released);
/* Vacant pages (alias.c): are a freed alias's pages left absent for the
 * next copy into them, rather than refilled?  Learned for the process:
 * what re-aliasing vacant pages saved against what touching them cost. */
bool zio_policy_vacate(void);
/* `pages` vacant pages became an alias again (no park, no refill). */
void zio_policy_vacant_reused(uint64_t pages);
/* The program touched vacant pages: a fault round trip. */
void zio_policy_vacant_touched(void);
/* An original stops being one (overwritten, released, retired). */
void zio_policy_origin_end(const struct zio_origin *o, bool retired);
void zio_policy_elided(uintptr_t site, uint64_t bytes);
/* A copy of site made for real took ns (its destination as last weighed:
 * kept only when it had no fresh page).  Lock held. */
void zio_policy_copy_timed(uintptr_t site, uint64_t bytes, uint64_t ns);
/* Aliases of site got materialised: by `faults` fault round trips
 * (0: no fault, e.g. before an input) and `pages` page fills. */
void zio_policy_touched(uintptr_t site, uint64_t faults, uint64_t pages);
/* fork: the child learns afresh. */
void zio_policy_fork_child(void);

#endif
