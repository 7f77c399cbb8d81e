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
 *
 * Last words (--stats): a process that a signal ends by its default
 * action runs no destructor, so its counters would never be printed.
 * For the signals whose default ends the process, while the program
 * leaves them at SIG_DFL, the kernel holds our wrapper instead; the
 * program sees SIG_DFL (sigaction reports what it set, and whatever it
 * sets replaces ours).  On such a signal the wrapper says the last words
 * (async-signal-safe, at once: no lock is needed for them, so nothing is
 * deferred), gives the kernel SIG_DFL back and lets the signal end the
 * process as it would have: a fault is left to happen again on return,
 * anything else is queued again with its own siginfo and unblocked.
 * The exit status, the core dump and what the parent sees are unchanged.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "base/real.h"
#include "base/signal.h"

#define NSIGS 65
/* the bit of signal sig (1..64) in pend_mask */
#define SIGBIT(sig) (1ULL << ((sig) - 1))

/* The program's own dispositions, as it set them, and what the kernel
 * holds for each. */
static struct sigaction prog_sa[NSIGS];
enum held {
	HELD_PROG,      /* the program's own disposition, as given */
	HELD_WRAPPED,   /* our wrapper, for the program's handler */
	HELD_LAST,      /* our wrapper, for the program's SIG_DFL (last words) */
};
static _Atomic unsigned char held[NSIGS];

/* Last words: the signals watched (bit SIGBIT), and what to say. */
static uint64_t watch_mask;
static void (*last_words_fn)(void);
static struct sigaction last_action(int sig);

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

static bool is_default(const struct sigaction *sa)
{
	return !(sa->sa_flags & SA_SIGINFO) && sa->sa_handler == SIG_DFL;
}

static bool is_handler(const struct sigaction *sa)
{
	return (sa->sa_flags & SA_SIGINFO) ? sa->sa_sigaction != NULL
	       : (sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN);
}

static bool watched(int sig)
{
	return sig > 0 && sig < NSIGS && (watch_mask & SIGBIT(sig));
}

/*
 * Changes of a disposition (the program's view, what the kernel holds)
 * are made one at a time once last words are on, since a handler may
 * make one too (SA_RESETHAND).  The word is the holder's pid: with every
 * signal blocked while it is held, only a fork child can find it taken
 * by a thread it does not have, and takes it over.
 */
static _Atomic pid_t change_lock;

static void change_begin(sigset_t *old)
{
	pid_t me = (pid_t)syscall(SYS_getpid), cur;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
	for (;;) {
		cur = 0;
		if (atomic_compare_exchange_weak(&change_lock, &cur, me))
			return;
		if (cur && cur != me &&
		    atomic_compare_exchange_weak(&change_lock, &cur, me))
			return;
		__builtin_ia32_pause();
	}
}

static void change_end(const sigset_t *old)
{
	atomic_store(&change_lock, 0);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* SA_RESETHAND, as the kernel applied it on delivery: the program's
 * disposition is SIG_DFL again; watched, the kernel gets ours again. */
static void reset_to_default(int sig)
{
	sigset_t m;

	if (!watched(sig)) {
		prog_sa[sig].sa_handler = SIG_DFL;
		prog_sa[sig].sa_flags &= ~SA_SIGINFO;
		held[sig] = HELD_PROG;
		return;
	}
	change_begin(&m);
	if (held[sig] == HELD_WRAPPED && (prog_sa[sig].sa_flags & SA_RESETHAND)) {
		struct sigaction mine = last_action(sig);

		prog_sa[sig].sa_handler = SIG_DFL;
		prog_sa[sig].sa_flags &= ~SA_SIGINFO;
		held[sig] = zio_real.sigaction(sig, &mine, NULL) ? HELD_PROG : HELD_LAST;
	}
	change_end(&m);
}

/* Would returning from the handler of this signal make it happen again?
 * A fault the kernel raised does, at the same instruction (as crash
 * handlers rely on); a machine check reported later does not. */
static bool refaults(int sig, const siginfo_t *info)
{
	int c = info->si_code;

	switch (sig) {
	case SIGSEGV:
		return c == SEGV_MAPERR || c == SEGV_ACCERR || c == SEGV_PKUERR;
	case SIGBUS:
		return c == BUS_ADRALN || c == BUS_ADRERR || c == BUS_OBJERR || c == BUS_MCEERR_AR;
	case SIGILL:
		return c >= ILL_ILLOPC && c <= ILL_BADSTK;
	case SIGFPE:
		return c >= FPE_INTDIV && c <= FPE_FLTSUB;
	default:
		return false;
	}
}

/*
 * A watched signal the program leaves at SIG_DFL: say the last words,
 * then let the default action happen as if we had not been there.
 * Async-signal-safe; returns only where the signal did not end the
 * process (a fault left to happen again, or a disposition the program
 * changed meanwhile).
 */
static void last_words(int sig, siginfo_t *info)
{
	struct sigaction dfl;
	sigset_t set;
	pid_t pid = (pid_t)syscall(SYS_getpid);
	long tid = syscall(SYS_gettid);
	int e = errno;

	if (last_words_fn)
		last_words_fn();
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	held[sig] = HELD_PROG;
	zio_real.sigaction(sig, &dfl, NULL);
	if (!refaults(sig, info)) {
		/* the same siginfo (a core's note, a tracer see the sender) */
		if (syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, info))
			syscall(SYS_tgkill, pid, tid, sig);
		sigemptyset(&set);
		sigaddset(&set, sig);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	errno = e;
}

/* Call the program's handler as the kernel would have. */
static void invoke(int sig, siginfo_t *info, void *uc)
{
	struct sigaction sa = prog_sa[sig];

	zio_sig_seq++;
	/* SA_RESETHAND: the kernel reset the disposition as it delivered */
	if (sa.sa_flags & SA_RESETHAND)
		reset_to_default(sig);
	if (sa.sa_flags & SA_SIGINFO) {
		if (sa.sa_sigaction)
			sa.sa_sigaction(sig, info, uc);
	} else if (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN) {
		sa.sa_handler(sig);
	}
}

static void wrapper(int sig, siginfo_t *info, void *uc)
{
	if (watched(sig) && is_default(&prog_sa[sig])) {
		last_words(sig, info);
		return;
	}
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

/* What the kernel holds for a watched signal left at SIG_DFL. */
static struct sigaction last_action(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = wrapper;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	/* a fault of a stack overflow gets its words said where the program
	 * keeps an alternate stack (else the kernel ends it at once) */
	if (synchronous(sig))
		sa.sa_flags |= SA_ONSTACK;
	sigfillset(&sa.sa_mask);
	return sa;
}

ZIO_HIDDEN int zio_signal_action(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction mine, prev, saved;
	enum held was, now;
	bool locked;
	sigset_t m;
	int r;

	resolve();
	if (!real_sigaction) {
		errno = ENOSYS;
		return -1;
	}
	if (sig <= 0 || sig >= NSIGS || sig == SIGKILL || sig == SIGSTOP ||
	    (synchronous(sig) && !watched(sig)))
		return real_sigaction(sig, act, old);
	if (!act) {
		r = real_sigaction(sig, NULL, old);
		if (!r && old && held[sig] != HELD_PROG)
			*old = prog_sa[sig];
		return r;
	}
	if (is_handler(act) && !synchronous(sig)) {
		mine = *act;
		mine.sa_flags |= SA_SIGINFO;
		mine.sa_sigaction = wrapper;
		now = HELD_WRAPPED;
	} else if (watched(sig) && is_default(act)) {
		mine = last_action(sig);
		now = HELD_LAST;
	} else {
		mine = *act;
		now = HELD_PROG;
	}
	locked = watch_mask != 0;
	if (locked)
		change_begin(&m);
	saved = prog_sa[sig];
	was = held[sig];
	/* Publish the program's disposition before the kernel can call us. */
	prog_sa[sig] = *act;
	r = real_sigaction(sig, &mine, &prev);
	if (r && now == HELD_LAST) {
		/* no last words for it, but the program's SIG_DFL */
		now = HELD_PROG;
		r = real_sigaction(sig, act, &prev);
	}
	if (r) {
		prog_sa[sig] = saved;
	} else {
		held[sig] = now;
		if (old)
			*old = was != HELD_PROG ? saved : prev;
	}
	if (locked)
		change_end(&m);
	return r;
}

ZIO_HIDDEN void zio_signals_last_words(void (*fn)(void))
{
	/* every signal whose default action ends the process, but SIGKILL;
	 * real-time ones are left alone (glibc keeps some for itself) */
	static const int fatal[] = {
		SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE,
		SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT,
		SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSYS,
	};
	sigset_t m;

	resolve();
	if (!real_sigaction || watch_mask)
		return;
	last_words_fn = fn;
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		watch_mask |= SIGBIT(fatal[i]);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
		int sig = fatal[i];
		struct sigaction cur, mine = last_action(sig);

		/* an inherited SIG_IGN (nohup, a shell's background job) stays */
		change_begin(&m);
		if (held[sig] == HELD_PROG && !real_sigaction(sig, NULL, &cur) && is_default(&cur)) {
			prog_sa[sig] = cur;
			if (!real_sigaction(sig, &mine, NULL))
				held[sig] = HELD_LAST;
		}
		change_end(&m);
	}
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
