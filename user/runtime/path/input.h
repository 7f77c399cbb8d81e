/* SPDX-License-Identifier: MIT */
/*
 * Input (input.c, redirect.c): recv/read and friends.
 */
#ifndef ZIO_PATH_INPUT_H
#define ZIO_PATH_INPUT_H

#include <sys/uio.h>

#include "mech/index.h"
#include "mech/policy.h"

/* The program's input call through the runtime: call(ctx) performs it
 * (libc's recv/read...), the runtime makes the buffers safe before and
 * records what was received after.  bufp: where call() takes its one
 * buffer from (NULL: it cannot be pointed elsewhere), so the input can be
 * received into the arena.  Returns what call() returned, errno as it
 * left it. */
ssize_t zio_input(int fd, const struct iovec *iov, int iovcnt, uintptr_t site,
		  ssize_t (*call)(void *ctx), void *ctx, void **bufp, off_t off, bool positional,
		  int flags);

/* What a short input must put back: [lo, hi) reads as origin o from ooff
 * (held: its pages count as references of o meanwhile). */
struct zio_restore {
	uintptr_t lo, hi;
	struct zio_origin *o;
	uint64_t ooff;
};
/* Input into [a, a+len) is coming and expected to write `expect` bytes:
 * make that safe cheaply.  Fills rs with what to restore if the input is
 * shorter; returns the number of entries.  Lock held. */
int zio_prepare_input(uintptr_t a, uint64_t len, uint64_t expect, struct zio_restore *rs,
		      int max, uintptr_t site);
/* After the input wrote n bytes at a: put back what it did not write and
 * let the held origins go.  Lock held. */
void zio_finish_input(uintptr_t a, uint64_t n, struct zio_restore *rs, int nrs);
/* Original r has dependants and an input is expected to write [a, hi) of
 * it: retire it by moving its pages into a shadow.  0, or -1 when nothing
 * was moved (r unchanged, or retired by copy).  Lock held. */
int zio_retire_for_input(struct zio_region *r, uintptr_t a, uintptr_t hi,
			 struct zio_restore *rs, int *nrs, int max, uintptr_t site, bool redirect);

/* An input received into a spare arena extent instead (redirect.c);
 * REDIRECT_MIN_PAGES is in mech/policy.h (the policy weighs it too). */
#define REDIRECT_MAX_COPIES 16
struct zio_redirect {
	uintptr_t a;            /* the program's buffer */
	uint64_t len;
	uintptr_t sp, sb;       /* the extent; where byte a lands in it */
	uint64_t span;
	uintptr_t site;
};
/* Set up a redirected input of [a, a+len), exp bytes expected (lock
 * held).  True: receive into rd->sb, then call zio_redirect_end. */
bool zio_redirect_begin(struct zio_redirect *rd, uintptr_t a, uint64_t len, uintptr_t site,
			uint64_t exp);
/* The redirected input returned n: put its bytes in place (takes the
 * lock itself). */
void zio_redirect_end(struct zio_redirect *rd, ssize_t n);

/* A socket's SO_RCVTIMEO or SO_SNDTIMEO (opt) in milliseconds, rounded
 * up; -1 when it has none. */
int zio_sock_timeo_ms(int fd, int opt);

#endif
