// SPDX-License-Identifier: MIT
/*
 * fork: a child must see real bytes, but userfaultfd registrations do
 * not survive into it (we do not ask for UFFD_FEATURE_EVENT_FORK).  So
 * the parent materialises every alias before the fork, holding the lock
 * across it (the jemalloc pattern: locks taken in a fixed order before
 * fork, re-created in the child), and the child starts a fresh runtime:
 * new descriptor and fault thread on first use, empty index, no arena.
 * vfork/posix_spawn children share our memory and our fault thread, and
 * need nothing.
 */
#include <errno.h>
#include <unistd.h>

#include "init.h"
#include "mech/alias.h"
#include "mech/arena.h"
#include "mech/policy.h"
#include "mech/state.h"
#include "mech/uffd.h"
#include "path/fault.h"
#include "path/fork.h"
#include "xsk/hooks.h"

static bool fork_locked;

ZIO_HIDDEN void zio_fork_prepare(void)
{
	if (!zio.uffd_ok)
		return;
	zio_lock();
	fork_locked = true;
	if (zio.ix.n_alias)
		zio_materialize_all();
}

ZIO_HIDDEN void zio_fork_parent(void)
{
	if (!fork_locked)
		return;
	fork_locked = false;
	zio_unlock();
}

/*
 * In the child, each module starts over, in a fixed order: the AF_XDP
 * rings stay the parent's (whether or not elision is on); then the state
 * and its lock (the hooks after may take it), signals, the fault thread,
 * the descriptor, the arena, the policy, and start-up on first use.
 */
ZIO_HIDDEN void zio_fork_child(void)
{
	zio_xsk_fork_child();
	if (!fork_locked)
		return;
	fork_locked = false;
	zio_state_fork_child();
	zio_signals_fork_child();
	zio_fault_fork_child();
	zio_uffd_fork_child();
	zio_arena_fork_child();
	zio_policy_fork_child();
	zio_init_fork_child();
}
