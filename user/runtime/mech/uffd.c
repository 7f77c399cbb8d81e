// SPDX-License-Identifier: MIT
/*
 * userfaultfd: set-up and the ioctls the runtime uses (the fault thread
 * that reads the descriptor is in path/fault.c).
 *
 * The descriptor is created without UFFD_USER_MODE_ONLY so faults taken
 * by the kernel itself (copy_to_user into an alias during read(), a
 * write() of an alias to a pipe...) are delivered to us too and the
 * kernel sees the right bytes instead of EFAULT.  That needs privilege
 * (CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1, or /dev/userfaultfd);
 * without it elision is off.
 *
 * Debian's kernel headers (6.1) predate UFFDIO_MOVE (6.8); its ABI is
 * spelled out here.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sched.h>
#include <unistd.h>

#include "base/faultinject.h"
#include "base/log.h"
#include "base/real.h"
#include "mech/state.h"
#include "mech/uffd.h"
#include "path/fault.h"

#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1ULL << 16)
#endif
#ifndef UFFDIO_MOVE
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE        ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
	__u64 mode;
	__s64 move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, 0x05, struct uffdio_move)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

static uint64_t uffd_features;

/* Create a descriptor that can take kernel faults.  Returns fd or -errno. */
static int uffd_create(void)
{
	int fd, dev, err;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		return fd;
	err = errno;
	/* Unprivileged processes may still get full descriptors through the
	 * device node when its permissions allow (Linux >= 6.1). */
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = zio_real.ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		zio_real.close(dev);
		if (fd >= 0)
			return fd;
	}
	return -err;
}

ZIO_HIDDEN int zio_uffd_open(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	uint64_t want = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_EVENT_REMAP |
			UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP |
			UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_MOVE;
	int probe, fd;

	/* UFFDIO_API may be called once per descriptor: ask a throw-away one
	 * what this kernel supports, then enable that on the real one. */
	probe = uffd_create();
	if (probe < 0)
		return probe;
	if (zio_real.ioctl(probe, UFFDIO_API, &api)) {
		int e = errno;

		zio_real.close(probe);
		return -e;
	}
	zio_real.close(probe);
	if (!(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
		return -EOPNOTSUPP;
	want &= api.features;

	fd = uffd_create();
	if (fd < 0)
		return fd;
	memset(&api, 0, sizeof(api));
	api.api = UFFD_API;
	api.features = want;
	if (zio_real.ioctl(fd, UFFDIO_API, &api)) {
		int e = errno;

		zio_real.close(fd);
		return -e;
	}
	uffd_features = want;
	zio.have_move = want & UFFD_FEATURE_MOVE;
	zio.uffd = fd;
	return 0;
}

ZIO_HIDDEN int zio_uffd_register_mode(uintptr_t a, uintptr_t b, bool missing)
{
	struct uffdio_register reg = {
		.range = { .start = a, .len = b - a },
		.mode = UFFDIO_REGISTER_MODE_WP | (missing ? UFFDIO_REGISTER_MODE_MISSING : 0),
	};

	if (zio_fault_inject(ZIO_FI_REGISTER))
		return -EIO;
	pr_trace("register [%#lx,%#lx)%s", (unsigned long)a, (unsigned long)b,
		 missing ? "" : " (write protection only)");
	if (zio_real.ioctl(zio.uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	return 0;
}

/*
 * Make sure app range [a, b) (page aligned) is registered MISSING|WP.
 * Only the parts not registered yet cost an ioctl.  Returns 0 or -errno.
 */
ZIO_HIDDEN int zio_uffd_register(uintptr_t a, uintptr_t b)
{
	uintptr_t cur = a;

	while (cur < b) {
		struct zio_node *n = zio_tree_floor(&zio.registered.t, cur);
		uintptr_t gap_hi;
		int err;

		if (n && n->end > cur) {
			cur = n->end;
			continue;
		}
		n = zio_tree_after(&zio.registered.t, cur);
		gap_hi = n && n->start < b ? n->start : b;
		err = zio_uffd_register_mode(cur, gap_hi, true);
		if (err)
			return err;
		if (zio_extents_add(&zio.registered, cur, gap_hi)) {
			/* Cannot track it: undo, so we never hold registrations
			 * we do not know about. */
			zio_uffd_unregister(cur, gap_hi);
			return -ENOMEM;
		}
		cur = gap_hi;
	}
	return 0;
}

ZIO_HIDDEN void zio_uffd_forget(uintptr_t a, uintptr_t b)
{
	zio_extents_del(&zio.registered, a, b);
	zio_extents_del(&zio.vacant, a, b);
}

ZIO_HIDDEN int zio_uffd_unregister(uintptr_t a, uintptr_t b)
{
	struct uffdio_range r = { .start = a, .len = b - a };

	if (a >= b)
		return 0;
	zio_extents_del(&zio.registered, a, b);
	/* vacant pages read as zero pages from now on: they were free */
	zio_extents_del(&zio.vacant, a, b);
	pr_trace("unregister [%#lx,%#lx)", (unsigned long)a, (unsigned long)b);
	if (zio_real.ioctl(zio.uffd, UFFDIO_UNREGISTER, &r))
		return -errno;
	return 0;
}

/*
 * EAGAIN from a uffd ioctl means the address space is changing: an unmap,
 * madvise or mremap elsewhere has a report for us queued (or about to be)
 * and waits until it is read.  The reader is whoever holds the runtime
 * lock -- us.  So read what is queued (it is handled once the current
 * operation is done, in order), give the other thread a moment, retry.
 * Returns true to retry, false when it has gone on too long (~1 s).
 */
#define PENDING_MAX 256
static struct uffd_msg pending[PENDING_MAX];
static int npending;

static void drain_events(void)
{
	while (npending < PENDING_MAX) {
		ssize_t r = (ssize_t)syscall(SYS_read, zio.uffd, pending + npending,
					     sizeof(pending[0]) * (size_t)(PENDING_MAX - npending));

		if (r <= 0)
			break;
		npending += (int)((size_t)r / sizeof(pending[0]));
	}
}

static bool changing_retry(int *tries)
{
	if (++*tries > 20000)
		return false;
	drain_events();
	if (*tries > 100)
		usleep(50);
	else
		sched_yield();
	return true;
}

ZIO_HIDDEN int zio_uffd_wp(uintptr_t a, uintptr_t b, bool on)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = a, .len = b - a },
		.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	if (a >= b)
		return 0;
	if (on && zio_fault_inject(ZIO_FI_WP))
		return -EIO;
	for (int tries = 0;;) {
		if (!zio_real.ioctl(zio.uffd, UFFDIO_WRITEPROTECT, &wp))
			return 0;
		if (errno != EAGAIN || !changing_retry(&tries))
			return -errno;
	}
}

/* Returns 0 or -1 with errno; EAGAIN (mmap changing) is retried. */
ZIO_HIDDEN int zio_uffd_copy(uintptr_t dst, uintptr_t src, uint64_t len)
{
	if (zio_fault_inject(ZIO_FI_COPY)) {
		errno = EIO;
		return -1;
	}
	for (int tries = 0; len;) {
		struct uffdio_copy c = { .dst = dst, .src = src, .len = len };

		if (!zio_real.ioctl(zio.uffd, UFFDIO_COPY, &c))
			return 0;
		if (errno == EAGAIN && c.copy > 0) {
			dst += (uint64_t)c.copy;
			src += (uint64_t)c.copy;
			len -= (uint64_t)c.copy;
			continue;
		}
		if (errno != EAGAIN || !changing_retry(&tries))
			return -1;
	}
	return 0;
}

/*
 * Move pages from src to dst (dst absent and registered).  Returns 0 when
 * all len bytes moved, else -errno; *moved tells how many bytes did.
 */
ZIO_HIDDEN int zio_uffd_move(uintptr_t dst, uintptr_t src, uint64_t len, bool holes,
			     uint64_t *moved)
{
	uint64_t done = 0;

	*moved = 0;
	if (!zio.have_move)
		return -EOPNOTSUPP;
	if (zio_fault_inject(ZIO_FI_MOVE))
		return -EIO;
	for (int tries = 0; done < len;) {
		struct uffdio_move m = {
			.dst = dst + done,
			.src = src + done,
			.len = len - done,
			.mode = holes ? UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES : 0,
		};

		if (!zio_real.ioctl(zio.uffd, UFFDIO_MOVE, &m)) {
			done = len;
			break;
		}
		if (errno != EAGAIN) {
			*moved = done;
			return -errno;
		}
		if (m.move > 0)
			done += (uint64_t)m.move;
		else if (!changing_retry(&tries))
			break;
	}
	*moved = done;
	return done == len ? 0 : -EAGAIN;
}

ZIO_HIDDEN int zio_uffd_zeropage(uintptr_t dst, uint64_t len)
{
	for (int tries = 0;;) {
		struct uffdio_zeropage z = { .range = { .start = dst, .len = len } };

		if (!zio_real.ioctl(zio.uffd, UFFDIO_ZEROPAGE, &z))
			return 0;
		if (errno != EAGAIN || !changing_retry(&tries))
			return -errno;
	}
}

ZIO_HIDDEN int zio_uffd_wake(uintptr_t a, uint64_t len)
{
	struct uffdio_range r = { .start = a, .len = len };

	if (zio_real.ioctl(zio.uffd, UFFDIO_WAKE, &r))
		return -errno;
	return 0;
}

/* ------------------------------------------------------------ pending */

/* Handle what was read while an ioctl waited (lock held). */
ZIO_HIDDEN void zio_uffd_process_pending(void)
{
	/* handling may read more (a nested EAGAIN): take them in order */
	for (int i = 0; i < npending; i++)
		zio_fault_handle(&pending[i]);
	npending = 0;
}

ZIO_HIDDEN void zio_uffd_fork_child(void)
{
	/* The parent's descriptor and registrations are not ours. */
	if (zio.uffd >= 0)
		zio_real.close(zio.uffd);
	zio.uffd = -1;
	zio_extents_clear(&zio.registered);
	zio_extents_clear(&zio.vacant);
	npending = 0;
}

ZIO_HIDDEN bool zio_uffd_has_pending(void)
{
	return npending > 0;
}
