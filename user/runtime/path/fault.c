// SPDX-License-Identifier: MIT
/*
 * Faults: what the fault thread does with each report of the kernel's.
 * A write to a protected original retires it (or waits for the readers
 * that pinned it); a touch of an alias page gets the page its bytes;
 * an unmap, madvise or mremap we did not see drops what lived there.
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/faultinject.h"
#include "base/log.h"
#include "base/probes.h"
#include "base/real.h"
#include "mech/alias.h"
#include "mech/state.h"
#include "mech/uffd.h"
#include "path/fault.h"

static bool warned_lost;

ZIO_HIDDEN void zio_handle_wp_fault(uintptr_t addr)
{
	struct zio_region *r = zio_region_at(&zio.ix, addr);

	ZIO_STAT_ADD(wp_faults, 1);
	if (r && r->type == ZIO_R_ORIG && r->o->pins) {
		/* Another thread reads this original right now (an output or a
		 * copy, aliases or not): the store waits until it is done
		 * (zio_unpin).  With no room to remember it, the writer is woken
		 * still protected, and faults again. */
		pr_trace("write fault %#lx on o%llu waits for %u pins", (unsigned long)addr,
			 (unsigned long long)r->o->id, r->o->pins);
		if (zio.n_deferred < ZIO_MAX_DEFERRED)
			zio.deferred[zio.n_deferred++] = addr;
		else
			zio_uffd_wake(addr, ZIO_PAGE);
		return;
	}
	if (r && r->type == ZIO_R_ORIG && r->o->ref_pages) {
		struct zio_origin *o = r->o;

		pr_trace("write fault %#lx on o%llu (%llu alias pages): retire",
			 (unsigned long)addr, (unsigned long long)o->id,
			 (unsigned long long)o->ref_pages);
		/* On failure zio_retire has materialised what it could; the
		 * store goes ahead either way. */
		zio_retire(o, false);
	}
	else
		pr_trace("write fault %#lx: %s", (unsigned long)addr,
			 !r ? "no region" : r->type == ZIO_R_ORIG ? "original without aliases" :
			 "an alias");
	/* Nothing depends on the original any more: lift protection from all
	 * of it, so the program's next stores do not fault one by one. */
	if (r && r->type == ZIO_R_ORIG)
		zio_origin_unprotect(r->o);
	/* And always from the faulting page itself, which also wakes the
	 * writer: a protection bit left over from an earlier original (or a
	 * range we no longer track) must never leave a thread waiting. */
	zio_uffd_wp(addr, addr + ZIO_PAGE, false);
}

ZIO_HIDDEN void zio_handle_missing_fault(uintptr_t addr, bool write)
{
	struct zio_region *r = zio_region_at(&zio.ix, addr);
	int err;

	(void)write;
	if (r && r->type == ZIO_R_ALIAS) {
		/* Fault-around: a reader going through the alias page by page
		 * (a checksum, a compare) gets a growing window per fault, so a
		 * sequential pass costs a few round trips, not one per page. */
		uint32_t w = r->next_fault == addr && r->window ? r->window * 2 : 1;
		uintptr_t end;

		if (w > 64)
			w = 64;
		end = addr + (uintptr_t)w * ZIO_PAGE;
		if (end > r->node.end || end < addr)
			end = r->node.end;
		ZIO_STAT_ADD(missing_faults, 1);
		pr_trace("%s fault %#lx on alias of o%llu, %u pages", write ? "store" : "load",
			 (unsigned long)addr, (unsigned long long)r->o->id, w);
		zio_mat_cause = write ? ZIO_MAT_STORE : ZIO_MAT_LOAD;
		if (end > addr + ZIO_PAGE && !zio_materialize(r, addr, end)) {
			/* r still holds what follows the window (or is gone) */
			struct zio_region *t = zio_region_at(&zio.ix, end);

			if (t && t->type == ZIO_R_ALIAS) {
				t->next_fault = end;
				t->window = w;
			}
			return;
		}
		r->next_fault = addr + ZIO_PAGE;
		r->window = 1;
		for (int tries = 0; tries < 100; tries++) {
			/* Injected failures model transient ones: the retries of a
			 * faulting thread's page go through (a page a read-only
			 * mapping needs has no other way in than UFFDIO_COPY). */
			zio_fault_inject_off = tries > 0;
			err = zio_materialize(r, addr, addr + ZIO_PAGE);
			zio_fault_inject_off = false;
			if (!err)
				return;
			if (err == -EFAULT)
				break;
		}
		if (err != -EFAULT) {
			/* Could not produce the page now (out of memory...): never
			 * make one up.  The thread faults again and we try again. */
			zio_fallback(ZIO_FB_COPY);
			zio_uffd_wake(addr, ZIO_PAGE);
			return;
		}
		/* The origin is gone (an unmap we could not see coming): its
		 * bytes are lost; the page reads as zeros from now on. */
		zio_fallback(ZIO_FB_LOST);
		zio_index_cut(&zio.ix, r, addr, addr + ZIO_PAGE);
	}
	/* A vacant page (a freed alias's, alias.c): its whole extent gets
	 * pages now, and the faulting thread goes on below (present: woken). */
	if (zio.vacant.bytes && zio_vacant_touched(addr)) {
		pr_trace("fault %#lx on vacant pages", (unsigned long)addr);
		if (zio_app_present(addr, ZIO_PAGE)) {
			zio_uffd_wake(addr, ZIO_PAGE);
			return;
		}
	}
	/* A registered page that is no alias: absent anonymous memory reads
	 * as zeros, exactly as without us. */
	ZIO_STAT_ADD(zero_faults, 1);
	pr_trace("fault %#lx on no alias: zero page", (unsigned long)addr);
	err = zio_uffd_zeropage(addr, ZIO_PAGE);
	if (!err)
		return;
	if (err != -EEXIST && err != -EAGAIN) {
		static const char zero[ZIO_PAGE] __attribute__((aligned(4096)));

		/* No zero page to be had: a copy of one does the same. */
		if (!zio_uffd_copy(addr, (uintptr_t)zero, ZIO_PAGE))
			return;
	}
	/* Present already (or being changed): the faulting thread retries. */
	zio_uffd_wake(addr, ZIO_PAGE);
}

/*
 * The kernel tells us a registered range went away or moved, by a call
 * we did not see (raw syscalls, libc-internal calls).
 */
ZIO_HIDDEN void zio_handle_event_range(uintptr_t a, uintptr_t b, bool remap, uintptr_t to)
{
	struct zio_region *r;

	if (zio.arena_lo && a >= zio.arena_lo && b <= zio.arena_hi)
		return; /* our own trim */
	pr_trace("kernel event [%#lx,%#lx)%s", (unsigned long)a, (unsigned long)b,
		 remap ? " moved" : " gone");
	while ((r = zio_region_first_overlap(&zio.ix, a, b))) {
		if (remap && r->node.start >= a && r->node.end <= b) {
			/* The pages (and their registration) moved: so do we.
			 * Remove and re-insert under the new key. */
			uintptr_t delta = to - a;

			zio_tree_remove(&zio.ix.regions, &r->node);
			r->node.start += delta;
			r->node.end += delta;
			if (r->type == ZIO_R_ORIG) {
				r->o->base += delta;
				if (r->o->wp_hi > r->o->wp_lo) {
					r->o->wp_lo += delta;
					r->o->wp_hi += delta;
				}
			}
			zio_tree_insert(&zio.ix.regions, &r->node);
			/* mremap never overlaps old and new ranges: the region
			 * left [a, b) and the loop moves on. */
			continue;
		}
		if (r->type == ZIO_R_ORIG && r->o->ref_pages) {
			struct zio_origin *o = r->o;

			/* The bytes aliases depend on are gone before we could
			 * save them: those aliases read as zeros from now on. */
			if (!warned_lost) {
				warned_lost = true;
				pr_warn("an original with live aliases was unmapped behind "
					"the runtime's back (raw syscall?): aliases lost");
			}
			while (o->aliases) {
				struct zio_region *al = o->aliases;

				zio_fallback(ZIO_FB_LOST);
				zio_index_cut(&zio.ix, al, al->node.start, al->node.end);
			}
			continue;
		}
		zio_index_cut(&zio.ix, r, a, b);
	}
	if (remap) {
		/* Registrations moved with the pages (EVENT_REMAP keeps them). */
		struct zio_node *n;
		uintptr_t moved[32][2];
		int nm = 0;

		while (nm < 32 && (n = zio_tree_first_overlap(&zio.registered.t, a, b))) {
			uintptr_t lo = n->start > a ? n->start : a;
			uintptr_t hi = n->end < b ? n->end : b;

			moved[nm][0] = lo - a + to;
			moved[nm][1] = hi - a + to;
			nm++;
			zio_extents_del(&zio.registered, lo, hi);
		}
		zio_extents_del(&zio.registered, a, b);
		for (int i = 0; i < nm; i++)
			zio_extents_add(&zio.registered, moved[i][0], moved[i][1]);
	}
}

/* ------------------------------------------------------------ the thread */

/* One report of the kernel's (lock held). */
ZIO_HIDDEN void zio_fault_handle(const struct uffd_msg *m)
{
	switch (m->event) {
	case UFFD_EVENT_PAGEFAULT:
		ZIO_STAT_ADD(faults, 1);
		pr_trace("fault %#llx flags %#x by thread %u", (unsigned long long)m->arg.pagefault.address,
			 (unsigned)m->arg.pagefault.flags, m->arg.pagefault.feat.ptid);
		ZIO_PROBE2(fault_begin, m->arg.pagefault.address, m->arg.pagefault.flags);
		if (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)
			zio_handle_wp_fault(pg_dn(m->arg.pagefault.address));
		else
			zio_handle_missing_fault(pg_dn(m->arg.pagefault.address),
						 m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE);
		ZIO_PROBE1(fault_end, m->arg.pagefault.address);
		break;
	case UFFD_EVENT_REMOVE:
		ZIO_STAT_ADD(kernel_events, 1);
		zio_handle_event_range(m->arg.remove.start, m->arg.remove.end, false, 0);
		break;
	case UFFD_EVENT_UNMAP:
		ZIO_STAT_ADD(kernel_events, 1);
		zio_handle_event_range(m->arg.remove.start, m->arg.remove.end, false, 0);
		zio_uffd_forget(m->arg.remove.start, m->arg.remove.end);
		break;
	case UFFD_EVENT_REMAP:
		ZIO_STAT_ADD(kernel_events, 1);
		zio_handle_event_range(m->arg.remap.from, m->arg.remap.from + m->arg.remap.len,
				       true, m->arg.remap.to);
		break;
	default:
		break;
	}
}

static void *fault_thread(void *arg)
{
	struct pollfd pfd[2];
	struct uffd_msg msgs[32];
	sigset_t all;

	(void)arg;
	/* Signal handlers never run here: one that touched an alias would
	 * wait for this very thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	zio_in_runtime = 1;

	pfd[0] = (struct pollfd){ .fd = zio.uffd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = zio.wake_fd, .events = POLLIN };
	for (;;) {
		int n = zio_real.poll(pfd, 2, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			pr_warn("fault thread: failed to poll: %s", strerror(errno));
			return NULL;
		}
		if (pfd[1].revents)
			return NULL;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			return NULL;
		/* Messages are read under the lock so that an unmap the kernel
		 * reports is processed before any other thread can look at the
		 * index again (the unmapping thread resumes once it is read). */
		zio_lock();
		for (;;) {
			ssize_t r = (ssize_t)syscall(SYS_read, zio.uffd, msgs, sizeof(msgs));

			if (r <= 0)
				break;
			for (size_t i = 0; i < (size_t)r / sizeof(msgs[0]); i++)
				zio_fault_handle(&msgs[i]);
		}
		zio_unlock();   /* handles what was read meanwhile */
	}
}

ZIO_HIDDEN int zio_fault_thread_start(void)
{
	pthread_attr_t attr;
	int err;

	if (zio.thread_started)
		return 0;
	zio.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (zio.wake_fd < 0)
		return -errno;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* The thread must be born with every signal blocked: a program
	 * handler that ran on it before it blocked them itself, and touched
	 * an alias, would wait for its own thread forever. */
	{
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		err = pthread_create(&zio.fault_thread, &attr, fault_thread, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	pthread_attr_destroy(&attr);
	if (err) {
		zio_real.close(zio.wake_fd);
		zio.wake_fd = -1;
		return -err;
	}
	zio.thread_started = true;
	return 0;
}

/* fork, in the child: the parent's fault thread is not ours; a new one
 * starts on first use. */
ZIO_HIDDEN void zio_fault_fork_child(void)
{
	if (zio.wake_fd >= 0)
		zio_real.close(zio.wake_fd);
	zio.wake_fd = -1;
	zio.thread_started = false;
}
