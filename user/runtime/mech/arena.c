// SPDX-License-Identifier: MIT
/*
 * The arena: one large reservation of zio-owned virtual memory,
 * registered with the userfaultfd (UFFDIO_MOVE needs its destination
 * registered), that holds
 *   - spare pages: populated pages moved aside from alias destinations,
 *     handed back when the program needs populated memory there again
 *     (populating fresh memory costs ~1.8 us a page here; moving one
 *     ~80 ns), and
 *   - shadows: the bytes of retired originals.
 * Invariant: every page of a spare extent or a shadow is populated, so
 * reading or writing them can never fault.  Pages that may be swapped
 * out go to `junk` instead and are returned to the kernel by trim.
 * The caller holds the runtime lock, except for zio_arena_trim.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>

#include "base/faultinject.h"
#include "base/log.h"
#include "base/options.h"
#include "base/real.h"
#include "mech/arena.h"
#include "mech/state.h"
#include "mech/uffd.h"

#define ARENA_SIZE (64ULL << 30)

static struct zio_extents junk;   /* moved-aside pages of unknown state */
static bool have_swap;

ZIO_HIDDEN int zio_arena_init(void)
{
	struct sysinfo si;
	void *p;
	int err;

	if (zio.arena_lo)
		return 0;
	have_swap = !sysinfo(&si) && si.totalswap > 0;
	p = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* WP mode only (never MISSING): should a hole of the arena ever be
	 * touched, the kernel fills it instead of our own fault thread. */
	err = zio_uffd_register_mode((uintptr_t)p, (uintptr_t)p + ARENA_SIZE, false);
	if (!err && zio_extents_add(&zio.arena_free, (uintptr_t)p, (uintptr_t)p + ARENA_SIZE))
		err = -ENOMEM;
	if (err) {
		zio_real.munmap(p, ARENA_SIZE);
		return err;
	}
	zio.arena_lo = (uintptr_t)p;
	zio.arena_hi = zio.arena_lo + ARENA_SIZE;
	return 0;
}

/*
 * Move app pages [src, src+len) into a new arena extent.  Returns the
 * extent (0 if no arena space) and the bytes moved from its start.
 */
static uintptr_t move_in(uintptr_t src, uint64_t len, bool holes, uint64_t *moved)
{
	uintptr_t dst;

	*moved = 0;
	if (zio_extents_take(&zio.arena_free, len, len, &dst) != len)
		return 0;
	zio_uffd_move(dst, src, len, holes, moved);
	if (*moved < len)
		zio_extents_add(&zio.arena_free, dst + *moved, dst + len);
	return dst;
}

/*
 * Move the populated pages of app range [a, b) aside into spare, all or
 * nothing: if a page refuses to move (shared with a child after fork, a
 * VMA boundary...), the pages moved so far go back to where they were,
 * so the program never sees them missing.  Returns the pages parked, or
 * -errno with the range as it was.
 */
ZIO_HIDDEN long zio_arena_park(uintptr_t a, uintptr_t b)
{
	struct moved_run { uintptr_t src, dst; uint64_t len; bool resident; } done[64];
	unsigned char vec[512];
	uint64_t parked = 0;
	uintptr_t cur = a;
	int ndone = 0;
	long ret = 0;

	if (!zio.have_move)
		return -EOPNOTSUPP;
	while (cur < b && !ret) {
		uintptr_t hi = b - cur > sizeof(vec) * ZIO_PAGE ? cur + sizeof(vec) * ZIO_PAGE : b;
		size_t np = (hi - cur) / ZIO_PAGE, i = 0;

		if (mincore((void *)cur, hi - cur, vec)) {
			ret = -errno;
			break;
		}
		while (i < np && !ret) {
			size_t j = i;
			bool present = vec[i] & 1;
			uintptr_t dst;
			uint64_t len, moved;

			while (j < np && (bool)(vec[j] & 1) == present)
				j++;
			len = (j - i) * ZIO_PAGE;
			if (!present && !have_swap) {
				/* Never populated: nothing to move. */
				i = j;
				continue;
			}
			if (ndone == (int)(sizeof(done) / sizeof(done[0]))) {
				ret = -E2BIG;
				break;
			}
			/* Absent pages may be swap entries when swap exists: move
			 * them (holes allowed); they go to junk below. */
			dst = move_in(cur + i * ZIO_PAGE, len, !present, &moved);
			if (!dst) {
				ret = -ENOMEM;
				break;
			}
			if (moved)
				done[ndone++] = (struct moved_run){ cur + i * ZIO_PAGE, dst, moved,
								    present };
			if (moved < len)
				ret = -EBUSY;
			i = j;
		}
		cur = hi;
	}
	if (ret) {
		/* put everything back */
		for (int k = 0; k < ndone; k++) {
			uint64_t back = 0;

			zio_uffd_move(done[k].src, done[k].dst, done[k].len, true, &back);
			if (back < done[k].len &&
			    zio_uffd_copy(done[k].src + back, done[k].dst + back, done[k].len - back))
				pr_warn("failed to put parked pages back: %s", strerror(errno));
			if (back < done[k].len)
				zio_extents_add(&junk, done[k].dst + back, done[k].dst + done[k].len);
			zio_extents_add(&zio.arena_free, done[k].dst, done[k].dst + back);
		}
		return ret;
	}
	for (int k = 0; k < ndone; k++) {
		/* a run moved with holes allowed may hold swap entries or holes:
		 * junk, for trim; a run of resident pages is spare */
		if (!done[k].resident) {
			zio_extents_add(&junk, done[k].dst, done[k].dst + done[k].len);
			continue;
		}
		zio_extents_add(&zio.spare, done[k].dst, done[k].dst + done[k].len);
		parked += done[k].len / ZIO_PAGE;
	}
	ZIO_STAT_ADD(parked_pages, parked);
	return (long)parked;
}

ZIO_HIDDEN uint64_t zio_arena_refill(uintptr_t a, uintptr_t b)
{
	uintptr_t cur = a;

	if (!zio.have_move)
		return 0;
	while (cur < b) {
		uintptr_t src;
		uint64_t got = zio_extents_take(&zio.spare, b - cur, 0, &src), moved;

		if (!got)
			break;
		zio_uffd_move(cur, src, got, false, &moved);
		zio_extents_add(&zio.arena_free, src, src + moved);
		cur += moved;
		if (moved < got) {
			/* What did not move is still spare. */
			zio_extents_add(&zio.spare, src + moved, src + got);
			break;
		}
	}
	ZIO_STAT_ADD(refilled_pages, (cur - a) / ZIO_PAGE);
	return cur - a;
}

ZIO_HIDDEN uintptr_t zio_arena_shadow_fill(uintptr_t src, uint64_t len)
{
	uintptr_t sh, sp;
	uint64_t got, done = 0;

	if (zio_fault_inject(ZIO_FI_ALLOC)) {
		errno = ENOMEM;
		return 0;
	}
	/* One spare extent big enough: a copy into populated memory costs a
	 * tenth of a copy into fresh memory, and no page moves at all. */
	got = zio_extents_take(&zio.spare, len, len, &sp);
	if (got == len) {
		zio_raw_copy((void *)sp, (const void *)src, len);
		return sp;
	}
	if (got)
		zio_extents_add(&zio.spare, sp, sp + got);
	if (zio_extents_take(&zio.arena_free, len, len, &sh) != len) {
		errno = ENOMEM;
		return 0;
	}
	/* Gather smaller spare pieces into the shadow, copying as we go. */
	while (done < len && zio.have_move) {
		uint64_t moved;

		got = zio_extents_take(&zio.spare, len - done, 0, &sp);
		if (!got)
			break;
		zio_uffd_move(sh + done, sp, got, false, &moved);
		zio_extents_add(&zio.arena_free, sp, sp + moved);
		if (moved < got)
			zio_extents_add(&zio.spare, sp + moved, sp + got);
		zio_raw_copy((void *)(sh + done), (const void *)(src + done), moved);
		done += moved;
		if (moved < got)
			break;
	}
	/* The rest: UFFDIO_COPY allocates and copies in one step. */
	if (done < len && zio_uffd_copy(sh + done, src + done, len - done)) {
		int e = errno;

		if (done)
			zio_extents_add(&zio.spare, sh, sh + done);
		/* part of it may have been filled: neither free nor spare until
		 * trim has given it back to the kernel */
		zio_extents_add(&junk, sh + done, sh + len);
		errno = e;
		return 0;
	}
	return sh;
}

/*
 * Move the app pages [src, src+len) (registered, all present) into a new
 * shadow, all or nothing: UFFDIO_MOVE stops at the first page it may not
 * move (shared after fork, a VMA boundary...), and a half-moved original
 * would be neither here nor there.  Returns the shadow, or 0 with every
 * page back where it was (ENOMEM/EBUSY...).  On the rare failure to put a
 * page back, the original gets its bytes by copy from the shadow, so the
 * program never sees a hole.
 */
ZIO_HIDDEN uintptr_t zio_arena_shadow_take(uintptr_t src, uint64_t len)
{
	uintptr_t dst;
	uint64_t moved = 0, back = 0;

	if (zio_extents_take(&zio.arena_free, len, len, &dst) != len)
		return 0;
	zio_uffd_move(dst, src, len, false, &moved);
	if (moved == len)
		return dst;
	if (moved)
		zio_uffd_move(src, dst, moved, false, &back);
	if (back < moved &&
	    zio_uffd_copy(src + back, dst + back, moved - back)) {
		pr_warn("failed to put %llu bytes back into an original: %s",
			(unsigned long long)(moved - back), strerror(errno));
	}
	/* pages that stayed in the arena are populated: spare; the rest of
	 * the extent is empty again */
	if (back < moved)
		zio_extents_add(&zio.spare, dst + back, dst + moved);
	zio_extents_add(&zio.arena_free, dst, dst + back);
	zio_extents_add(&zio.arena_free, dst + moved, dst + len);
	errno = EBUSY;
	return 0;
}

ZIO_HIDDEN int zio_arena_page_in(uintptr_t dst, uintptr_t src)
{
	uintptr_t sp;
	uint64_t moved;
	bool spare = zio_extents_take(&zio.spare, ZIO_PAGE, 0, &sp) == ZIO_PAGE;
	int err;

	/* No spare page: an empty arena page does, our own store populates
	 * it (the arena is registered for write protection only, so the
	 * kernel fills it, not our fault thread). */
	if (!spare && zio_extents_take(&zio.arena_free, ZIO_PAGE, ZIO_PAGE, &sp) != ZIO_PAGE)
		return -ENOMEM;
	zio_raw_copy((void *)sp, (const void *)src, ZIO_PAGE);
	err = zio_uffd_move(dst, sp, ZIO_PAGE, false, &moved);
	if (err) {
		/* populated now either way */
		zio_extents_add(&zio.spare, sp, sp + ZIO_PAGE);
		return err;
	}
	/* UFFDIO_MOVE wakes whoever waits on dst */
	zio_extents_add(&zio.arena_free, sp, sp + ZIO_PAGE);
	return 0;
}

ZIO_HIDDEN void zio_arena_shadow_free(uintptr_t lo, uintptr_t hi)
{
	/* Shadow pages are populated: they become spare. */
	zio_extents_add(&zio.spare, lo, hi);
}

ZIO_HIDDEN void zio_arena_trim(void)
{
	uintptr_t lo[16];
	uint64_t len[16];
	int n = 0;

	if (!zio.arena_lo || (zio.spare.bytes <= zio_opt.pool_max && !junk.bytes))
		return;
	zio_lock();
	while (n < 16 && junk.bytes) {
		len[n] = zio_extents_take(&junk, junk.bytes, 0, &lo[n]);
		if (!len[n])
			break;
		n++;
	}
	while (n < 16 && zio.spare.bytes > zio_opt.pool_max) {
		len[n] = zio_extents_take(&zio.spare, zio.spare.bytes - zio_opt.pool_max, 0, &lo[n]);
		if (!len[n])
			break;
		n++;
	}
	zio_unlock();
	/* Unlocked: the arena is registered, so the kernel reports this
	 * madvise to our fault thread and waits until it has been read. */
	for (int i = 0; i < n; i++)
		zio_real.madvise((void *)lo[i], len[i], MADV_DONTNEED);
	zio_lock();
	for (int i = 0; i < n; i++)
		zio_extents_add(&zio.arena_free, lo[i], lo[i] + len[i]);
	zio_unlock();
}

ZIO_HIDDEN void zio_arena_fork_child(void)
{
	if (zio.arena_lo)
		zio_real.munmap((void *)zio.arena_lo, ARENA_SIZE);
	zio.arena_lo = zio.arena_hi = 0;
	zio_extents_clear(&zio.arena_free);
	zio_extents_clear(&zio.spare);
	zio_extents_clear(&junk);
}
