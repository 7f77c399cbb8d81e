/* SPDX-License-Identifier: MIT */
/*
 * The program's signal handlers, wrapped (signal.c): an asynchronous
 * signal that lands on a thread holding the runtime lock (or pins) waits
 * until that thread lets go, then runs with its siginfo and sa_mask.
 * With last words on, a signal the program leaves at its default action
 * says them before it ends the process.
 */
#ifndef ZIO_BASE_SIGNAL_H
#define ZIO_BASE_SIGNAL_H

#include <signal.h>

#include "base/defs.h"

/* Deferral depth: a thread with depth > 0 holds the lock or pins; the
 * program's handlers wait until it ends. */
extern __thread int zio_lock_depth __attribute__((tls_model("initial-exec")));
static inline void zio_defer_begin(void)
{
	zio_lock_depth++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}
/* Leave a deferral period; at depth 0 run the handlers that waited. */
void zio_defer_end(void);
bool zio_signals_pending(void);
void zio_signals_flush(void);
/* Program handlers run on this thread so far (a waiter that spins in
 * user space tells from it that a blocking call would be interrupted). */
extern __thread uint32_t zio_sig_seq;

/* sigaction as the program sees it: its own handler is recorded and the
 * kernel gets our wrapper.  0, or -1 with errno, as sigaction(2). */
int zio_signal_action(int sig, const struct sigaction *act, struct sigaction *old);
/* signal(), bsd_signal(), sysv_signal(): sigaction with these flags.
 * Returns the previous handler or SIG_ERR. */
sighandler_t zio_signal_install(int sig, sighandler_t h, int flags);
/* Would a blocking call interrupted by a signal be restarted?  True only
 * if every handled signal has SA_RESTART (we cannot tell which fired). */
bool zio_all_handlers_restart(void);

/*
 * Last words: from now on, every signal whose default action ends the
 * process (SIGKILL aside), while the program leaves it at SIG_DFL, calls
 * fn (async-signal-safe; any thread, once per signal) just before that
 * action happens, unchanged.  The program still sees SIG_DFL; what it
 * sets replaces ours.  Once, from the constructor.
 */
void zio_signals_last_words(void (*fn)(void));

/* fork: the child starts with nothing deferred. */
void zio_signals_fork_child(void);

#endif
