// SPDX-License-Identifier: MIT
/*
 * Signals.  A handler that runs on a thread holding the runtime lock and
 * touches an alias would wait forever for the fault thread, which needs
 * that lock.  Blocking every signal around each critical section costs
 * two system calls (~400 ns here) on every large copy, input and output;
 * instead the program's handlers are wrapped, and an asynchronous signal
 * that lands while its thread holds the lock is deferred until the lock
 * is released, then handed to the program's handler with its original
 * siginfo and its sa_mask applied (the approach of language runtimes that
 * must not be interrupted inside their own critical sections).
 * Synchronous signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS)
 * are never deferred.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "base/real.h"
#include "base/signal.h"

#define NSIGS 65
/* the bit of signal sig (1..64) in pend_mask */
#define SIGBIT(sig) (1ULL << ((sig) - 1))

/* The program's own dispositions, as it set them. */
static struct sigaction prog_sa[NSIGS];
static _Atomic bool wrapped[NSIGS];

ZIO_HIDDEN __thread int zio_lock_depth __attribute__((tls_model("initial-exec")));
/* Program handlers run on this thread (a waiter that spins in user space
 * tells from it that a blocking call would have been interrupted). */
ZIO_HIDDEN __thread uint32_t zio_sig_seq __attribute__((tls_model("initial-exec")));

struct pending {
	int sig;
	siginfo_t info;
};
static __thread struct pending pend[8] __attribute__((tls_model("initial-exec")));
static __thread int npend __attribute__((tls_model("initial-exec")));
static __thread uint64_t pend_mask __attribute__((tls_model("initial-exec")));


static bool synchronous(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
	       sig == SIGTRAP || sig == SIGSYS;
}

/* Call the program's handler as the kernel would have. */
static void invoke(int sig, siginfo_t *info, void *uc)
{
	struct sigaction sa = prog_sa[sig];

	zio_sig_seq++;
	/* SA_RESETHAND: the kernel reset the disposition as it delivered */
	if (sa.sa_flags & SA_RESETHAND) {
		prog_sa[sig].sa_handler = SIG_DFL;
		prog_sa[sig].sa_flags &= ~SA_SIGINFO;
		wrapped[sig] = false;
	}
	if (sa.sa_flags & SA_SIGINFO) {
		if (sa.sa_sigaction)
			sa.sa_sigaction(sig, info, uc);
	} else if (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN) {
		sa.sa_handler(sig);
	}
}

static void wrapper(int sig, siginfo_t *info, void *uc)
{
	if (sig > 0 && sig < NSIGS && zio_lock_depth > 0 && !synchronous(sig)) {
		int e = errno;

		/* Standard signals coalesce in the kernel too; real-time ones
		 * queue, up to what we can hold. */
		if (sig < SIGRTMIN && (pend_mask & SIGBIT(sig)))
			return;
		if (npend < (int)(sizeof(pend) / sizeof(pend[0]))) {
			pend[npend].sig = sig;
			pend[npend].info = *info;
			npend++;
			pend_mask |= SIGBIT(sig);
		}
		errno = e;
		return;
	}
	invoke(sig, info, uc);
}

/* Deliver what arrived while the lock was held (called with depth 0). */
ZIO_HIDDEN void zio_signals_flush(void)
{
	while (npend > 0) {
		struct pending p = pend[0];
		struct sigaction *sa = &prog_sa[p.sig];
		bool dfl;
		sigset_t mask, old;
		ucontext_t uc;
		int e = errno;

		for (int i = 1; i < npend; i++)
			pend[i - 1] = pend[i];
		npend--;
		pend_mask &= ~SIGBIT(p.sig);
		mask = sa->sa_mask;
		if (!(sa->sa_flags & SA_NODEFER))
			sigaddset(&mask, p.sig);
		dfl = !(sa->sa_flags & SA_SIGINFO) &&
		      (sa->sa_handler == SIG_DFL || sa->sa_handler == SIG_IGN);
		pthread_sigmask(SIG_BLOCK, &mask, &old);
		getcontext(&uc);
		if (dfl) {
			/* The disposition changed back meanwhile (SA_RESETHAND or
			 * the program): let the kernel apply it. */
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), p.sig);
			errno = e;
			continue;
		}
		invoke(p.sig, &p.info, &uc);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		errno = e;
	}
}

#define real_sigaction zio_real.sigaction

static void resolve(void)
{
	if (!zio_real.sigaction && !zio_in_runtime) {
		zio_in_runtime++;
		zio_real_init();
		zio_in_runtime--;
	}
}

ZIO_HIDDEN bool zio_signals_pending(void)
{
	return npend > 0;
}

ZIO_HIDDEN int zio_signal_action(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction mine, prev_kernel;
	bool handler;
	int r;

	resolve();
	if (!real_sigaction) {
		errno = ENOSYS;
		return -1;
	}
	if (sig <= 0 || sig >= NSIGS || synchronous(sig) || sig == SIGKILL || sig == SIGSTOP)
		return real_sigaction(sig, act, old);
	if (!act) {
		r = real_sigaction(sig, NULL, old);
		if (!r && old && wrapped[sig])
			*old = prog_sa[sig];
		return r;
	}
	handler = (act->sa_flags & SA_SIGINFO) ? act->sa_sigaction != NULL
		  : (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN);
	if (!handler) {
		r = real_sigaction(sig, act, &prev_kernel);
		if (!r) {
			if (old)
				*old = wrapped[sig] ? prog_sa[sig] : prev_kernel;
			wrapped[sig] = false;
			prog_sa[sig] = *act;
		}
		return r;
	}
	mine = *act;
	mine.sa_flags |= SA_SIGINFO;
	mine.sa_sigaction = wrapper;
	{
		struct sigaction saved = prog_sa[sig];
		bool was = wrapped[sig];

		/* Publish the program's handler before the kernel can call us. */
		prog_sa[sig] = *act;
		r = real_sigaction(sig, &mine, &prev_kernel);
		if (r) {
			prog_sa[sig] = saved;
			return r;
		}
		if (old)
			*old = was ? saved : prev_kernel;
		wrapped[sig] = true;
	}
	return 0;
}

ZIO_HIDDEN sighandler_t zio_signal_install(int sig, sighandler_t h, int flags)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (!(flags & SA_NODEFER))
		sigaddset(&sa.sa_mask, sig);
	if (zio_signal_action(sig, &sa, &old))
		return SIG_ERR;
	return old.sa_handler;
}

ZIO_HIDDEN bool zio_all_handlers_restart(void)
{
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (zio_signal_action(sig, NULL, &sa))
			continue;
		if (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN &&
		    !(sa.sa_flags & SA_RESTART))
			return false;
	}
	return true;
}

ZIO_HIDDEN void zio_signals_fork_child(void)
{
	npend = 0;
	pend_mask = 0;
	zio_lock_depth = 0;
}
