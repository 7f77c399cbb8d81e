// SPDX-License-Identifier: MIT
/*
 * Redirected input: a pooled server receives into the same buffer while
 * the copies of its last message still alias it.  The input is received
 * into a populated spare extent of the arena instead, and the buffer's
 * whole pages become aliases of it (see zio_redirect_begin).
 */
#include <errno.h>
#include <string.h>

#include "base/log.h"
#include "base/probes.h"
#include "base/real.h"
#include "mech/alias.h"
#include "mech/policy.h"
#include "mech/state.h"
#include "path/input.h"

/* Whole pages [lo, hi) are alias pages (absent, each in some alias). */
static bool all_alias(uintptr_t lo, uintptr_t hi)
{
	while (lo < hi) {
		struct zio_region *r = zio_region_first_overlap(&zio.ix, lo, hi);

		if (!r || r->type != ZIO_R_ALIAS || r->node.start > lo)
			return false;
		lo = r->node.end;
	}
	return true;
}

/*
 * A pooled server receives into the same buffer while copies of what it
 * received last still alias it.  The plain way costs two page moves a
 * page (the buffer's pages into a shadow, spare pages back in to receive
 * into) and write protection of the new original.  Receiving into a
 * spare arena extent instead costs neither: the buffer's whole pages
 * simply become aliases of it, as the copies of it are.
 *
 * Set up when the whole pages the input is expected to write (exp: what
 * is queued) are alias pages already, or an original with dependants
 * (retired into aliases of its shadow first).  Any present page there
 * would have to be copied into, and the copies of the buffer would then
 * materialise and park it stage after stage (echo, pooled, 4 copies:
 * 6,600 instead of 8,900 replies/s when present pages were let in).
 * The input itself may write all of len: the extent covers it, and the
 * kernel never writes into the buffer's alias pages (each such write
 * would cost a fault round trip).  Then the caller receives into rd->sb,
 * and zio_redirect_end puts the bytes in place.  False: receive as usual.
 * Called with the lock held.
 */
ZIO_HIDDEN bool zio_redirect_begin(struct zio_redirect *rd, uintptr_t a, uint64_t len,
				   uintptr_t site, uint64_t exp)
{
	uintptr_t lo = pg_up(a), hi = pg_dn(a + (exp < len ? exp : len)), sp;
	uint64_t span = pg_up(a + len) - pg_dn(a);
	struct zio_region *r;

	if (!zio.have_move || hi < lo + REDIRECT_MIN_PAGES * ZIO_PAGE ||
	    !zio_policy_allow(site, len))
		return false;
	r = zio_region_first_overlap(&zio.ix, lo, hi);
	if (!r || (r->type == ZIO_R_ORIG &&
		   !(r->o->kind == ZIO_ORIGIN_APP && r->o->ref_pages && !r->o->pins)))
		return false;
	/* One populated spare extent, as the dead shadows of earlier inputs
	 * left it: moving pages together would cost what we save. */
	if (zio_extents_take(&zio.spare, span, span, &sp) != span)
		return false;
	if (r->type == ZIO_R_ORIG && zio_retire_for_input(r, a, hi, NULL, NULL, 0, site, true)) {
		zio_extents_add(&zio.spare, sp, sp + span);
		return false;
	}
	if (!all_alias(lo, hi)) {
		zio_extents_add(&zio.spare, sp, sp + span);
		return false;
	}
	pr_trace("redirect input [%#lx,+%llu) (expect %llu) into %#lx", (unsigned long)a,
		 (unsigned long long)len, (unsigned long long)exp, (unsigned long)sp);
	*rd = (struct zio_redirect){ .a = a, .len = len, .sp = sp, .span = span,
				     .sb = sp + (a & (ZIO_PAGE - 1)), .site = site };
	return true;
}

/*
 * The input wrote n bytes (or failed: n <= 0) at rd->sb.  The whole
 * pages of [a, a+n) that are alias pages become aliases of the received
 * bytes; every other byte (the partial pages at either end, pages a
 * racing thread populated meanwhile) is made safe to overwrite under the
 * lock and copied in after it (stores into app memory must not happen
 * under the lock: they may fault).  Takes and drops the lock itself.
 */
ZIO_HIDDEN void zio_redirect_end(struct zio_redirect *rd, ssize_t n)
{
	struct { uintptr_t lo, hi; } cp[REDIRECT_MAX_COPIES];
	uintptr_t a = rd->a, e = a + (n > 0 ? (uint64_t)n : 0), ilo = pg_up(a), ihi = pg_dn(e);
	struct zio_origin *o = NULL;
	uint64_t now = zio_now_ns(), aliased = 0;
	int ncp = 0;

	zio_lock();
	zio_wait_unpinned(a, e);
	if (n <= 0) {
		zio_extents_add(&zio.spare, rd->sp, rd->sp + rd->span);
		zio_unlock();
		return;
	}
	if (ihi > ilo && (o = zio_origin_new(&zio.ix))) {
		uintptr_t used = pg_up(rd->sb + (uint64_t)n);

		*o = (struct zio_origin){ .id = o->id, .kind = ZIO_ORIGIN_SHADOW, .base = rd->sb,
					  .len = (uint64_t)n, .shadow_lo = rd->sp, .shadow_hi = used,
					  .in_site = rd->site, .born_ns = now };
		zio_pin(o);   /* ours until the bytes are copied in */
		/* what the input did not reach is spare again (still populated) */
		if (used < rd->sp + rd->span)
			zio_extents_add(&zio.spare, used, rd->sp + rd->span);
	}
	if (!o)
		ilo = ihi = e;   /* nothing to alias: copy it all */
	/* [a, ilo) and [ihi, e) are copied; the interior's alias pages are
	 * re-aliased, the rest of it copied. */
	cp[ncp++] = (typeof(cp[0])){ a, ilo < e ? ilo : e };
	for (uintptr_t cur = ilo; cur < ihi;) {
		struct zio_region *r = zio_region_first_overlap(&zio.ix, cur, ihi);
		uintptr_t end = !r ? ihi : r->node.start > cur ? r->node.start :
			r->node.end < ihi ? r->node.end : ihi;

		if (r && r->node.start <= cur && r->type == ZIO_R_ALIAS) {
			zio_index_cut(&zio.ix, r, cur, end);
			if (zio_index_add_alias(&zio.ix, cur, end, o, cur - a, rd->site, now)) {
				aliased += end - cur;
				cur = end;
				continue;
			}
			/* absent now and no alias: its bytes come by copy below
			 * (a store into it takes the kernel's own fault) */
		}
		if (ncp >= REDIRECT_MAX_COPIES - 2) {
			/* too fragmented: copy the rest as one */
			cp[ncp++] = (typeof(cp[0])){ cur, ihi };
			break;
		}
		if (ncp && cp[ncp - 1].hi == cur)
			cp[ncp - 1].hi = end;
		else
			cp[ncp++] = (typeof(cp[0])){ cur, end };
		cur = end;
	}
	if (ihi >= ilo && ihi < e)
		cp[ncp++] = (typeof(cp[0])){ ihi, e };
	for (int i = 0; i < ncp; i++)
		if (cp[i].lo < cp[i].hi && zio_region_first_overlap(&zio.ix, cp[i].lo, cp[i].hi))
			zio_prepare_range(cp[i].lo, cp[i].hi, ZIO_PREP_OVERWRITE);
	ZIO_STAT_ADD(inputs_redirected, 1);
	pr_trace("redirected [%#lx,+%zd) -> o%llu at %#lx: %llu bytes aliased, %d pieces copied",
		 (unsigned long)a, n, o ? (unsigned long long)o->id : 0ULL, (unsigned long)rd->sb,
		 (unsigned long long)aliased, ncp);
	ZIO_PROBE2(redirect, rd->site, aliased);
	if (aliased)
		zio_policy_redirected(rd->site, aliased);
	zio_unlock();

	for (int i = 0; i < ncp; i++)
		if (cp[i].lo < cp[i].hi)
			zio_raw_copy((void *)cp[i].lo, (const void *)(rd->sb + (cp[i].lo - a)),
				     cp[i].hi - cp[i].lo);

	zio_lock();
	if (o) {
		zio_pin_drop(o);
		zio_origin_put_if_unused(&zio.ix, o);
	} else {
		zio_extents_add(&zio.spare, rd->sp, rd->sp + rd->span);
	}
	zio_unlock();
}
