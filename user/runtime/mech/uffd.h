/* SPDX-License-Identifier: MIT */
/*
 * userfaultfd: the descriptor and the ioctls the runtime uses (uffd.c).
 * Every function takes the runtime lock as held; they return 0 or -errno
 * unless said otherwise.  EAGAIN (the address space is changing) is
 * retried after reading the reports the kernel waits on.
 */
#ifndef ZIO_MECH_UFFD_H
#define ZIO_MECH_UFFD_H

#include "base/defs.h"

/* Open a descriptor with kernel-fault delivery: 0 or -errno. */
int zio_uffd_open(void);
/* Make app range [a, b) registered MISSING|WP (tracked in zio.registered;
 * only the parts not registered yet cost an ioctl). */
int zio_uffd_register(uintptr_t a, uintptr_t b);
/* Register [a, b) WP only (missing false) or MISSING|WP, untracked. */
int zio_uffd_register_mode(uintptr_t a, uintptr_t b, bool missing);
/* Drop [a, b) from the tracked registrations (it went away). */
void zio_uffd_forget(uintptr_t a, uintptr_t b);
int zio_uffd_unregister(uintptr_t a, uintptr_t b);
int zio_uffd_wp(uintptr_t a, uintptr_t b, bool on);
/* UFFDIO_COPY: 0, or -1 with errno. */
int zio_uffd_copy(uintptr_t dst, uintptr_t src, uint64_t len);
/* Move pages: 0 when all moved, else -errno; *moved = bytes moved. */
int zio_uffd_move(uintptr_t dst, uintptr_t src, uint64_t len, bool holes, uint64_t *moved);
int zio_uffd_zeropage(uintptr_t dst, uint64_t len);
int zio_uffd_wake(uintptr_t a, uint64_t len);
/* Reports read while an ioctl met EAGAIN: handle them (lock held). */
bool zio_uffd_has_pending(void);
void zio_uffd_process_pending(void);
/* fork: the child has no descriptor and nothing pending. */
void zio_uffd_fork_child(void);

#endif
