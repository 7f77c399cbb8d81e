/* SPDX-License-Identifier: MIT */
/*
 * What every file of libzio.so needs: visibility, branch hints and page
 * arithmetic.  Everything in the runtime is hidden (-fvisibility=hidden);
 * only the interposed libc symbols of interpose.c leave the library
 * (libzio.map).
 *
 * Vocabulary (docs/runtime.md has the whole map)
 *   original  app memory that received input (recv/read...) and that
 *             aliases may depend on; write-protected with userfaultfd
 *             while it has dependants.
 *   shadow    zio-owned pages holding the bytes of a retired original
 *             (one whose app memory was about to change while aliases
 *             still needed its old bytes).  Shadows never change.
 *   origin    the object an alias reads from: an original (APP), a
 *             shadow (SHADOW) or an AF_XDP frame (UMEM).  Aliases point
 *             at the origin object, so retiring an original re-points all
 *             of them at once.
 *   alias     page-aligned app range whose pages are absent (userfaultfd
 *             MISSING) and whose bytes are defined as origin bytes.
 *   spare     populated pages parked in the arena (moved aside from
 *             alias destinations) and handed back to the program when it
 *             needs populated memory again.
 */
#ifndef ZIO_BASE_DEFS_H
#define ZIO_BASE_DEFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ZIO_HIDDEN __attribute__((visibility("hidden")))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define ZIO_PAGE      4096UL
#define ZIO_PAGE_MASK (~(ZIO_PAGE - 1))
static inline uintptr_t pg_dn(uintptr_t a) { return a & ZIO_PAGE_MASK; }
static inline uintptr_t pg_up(uintptr_t a) { return (a + ZIO_PAGE - 1) & ZIO_PAGE_MASK; }

/* Thread-local recursion guard: the interposers pass straight through to
 * libc while it is set (calls the runtime makes, or the fault thread). */
extern __thread int zio_in_runtime __attribute__((tls_model("initial-exec")));

#endif
