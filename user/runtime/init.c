// SPDX-License-Identifier: MIT
/*
 * Start-up and shut-down of the runtime.  The constructor runs early
 * (priority 101, like mimalloc's) and only does what cannot wait: read
 * the settings, resolve libc, and find out whether userfaultfd with
 * kernel-fault delivery is available (one line if not).  The fault
 * thread and the arena start on first use, so a program that never
 * copies IO data never sees either.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/options.h"
#include "base/real.h"
#include "base/signal.h"
#include "init.h"
#include "mech/arena.h"
#include "mech/policy.h"
#include "mech/state.h"
#include "mech/uffd.h"
#include "path/fault.h"
#include "path/fork.h"
#include "xsk/hooks.h"

ZIO_HIDDEN _Atomic int zio_initialized;

static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int ready;
static int zio_stats_fd = -1;      /* --stats: our own copy of stderr */


ZIO_HIDDEN int zio_ensure_ready(void)
{
	int err = 0;

	if (likely(atomic_load_explicit(&ready, memory_order_acquire) == 1))
		return 0;
	if (!zio.uffd_ok)
		return -ENOSYS;
	pthread_mutex_lock(&ready_lock);
	if (ready == 1)
		goto out;
	if (ready < 0) {
		err = -ENOSYS;
		goto out;
	}
	zio_in_runtime++;
	if (zio.uffd < 0)
		err = zio_uffd_open();
	if (!err)
		err = zio_fault_thread_start();
	zio_in_runtime--;
	if (!err) {
		zio_lock();
		err = zio_arena_init();
		zio_unlock();
	}
	if (err) {
		pr_warn("failed to start the runtime: %s: elision off", strerror(-err));
		atomic_store(&zio_active, 0);
		ready = -1;
	} else {
		atomic_store_explicit(&ready, 1, memory_order_release);
	}
out:
	pthread_mutex_unlock(&ready_lock);
	return err;
}

ZIO_HIDDEN void zio_init_fork_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	ready_lock = fresh;
	if (ready == 1)
		ready = 0;
}

static void atfork_prepare(void) { zio_fork_prepare(); }
static void atfork_parent(void) { zio_fork_parent(); }
static void atfork_child(void) { zio_fork_child(); }

/*
 * The one line saying that elision is off for want of userfaultfd with
 * kernel-fault delivery, naming the way to get it that fits this
 * machine: the device node and its permissions where it exists (Linux
 * 6.1+: an administrator can give one group access to it), else the
 * sysctl, else that the kernel lacks both.  stat and access are plain
 * system calls here, nothing libzio.so interposes.
 */
static void uffd_unavailable(int err)
{
	char how[192] = "", line[384];
	struct stat st;
	int n;

	if (err == -ENOSYS)
		zio_snprintf(how, sizeof(how), "; this kernel has no userfaultfd "
			     "(CONFIG_USERFAULTFD)");
	else if (err == -EOPNOTSUPP)
		zio_snprintf(how, sizeof(how), "; this kernel lacks userfaultfd "
			     "write-protection (Linux 5.7+)");
	else if ((err == -EPERM || err == -EACCES) && !stat("/dev/userfaultfd", &st))
		zio_snprintf(how, sizeof(how), "; needs read-write access to /dev/userfaultfd "
			     "(mode %04o uid %u gid %u here) or CAP_SYS_PTRACE, see zio-run(1)",
			     (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
			     (unsigned)st.st_gid);
	else if ((err == -EPERM || err == -EACCES) &&
		 !access("/proc/sys/vm/unprivileged_userfaultfd", F_OK))
		zio_snprintf(how, sizeof(how), "; needs CAP_SYS_PTRACE or sysctl "
			     "vm.unprivileged_userfaultfd=1, see zio-run(1)");
	else if (err == -EPERM || err == -EACCES)
		zio_snprintf(how, sizeof(how), "; needs CAP_SYS_PTRACE: this kernel has neither "
			     "/dev/userfaultfd nor vm.unprivileged_userfaultfd");
	n = zio_snprintf(line, sizeof(line), "zio: userfaultfd with kernel-fault delivery "
			 "unavailable (%s%s): running with elision off\n", strerror(-err), how);
	if (n >= (int)sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	zio_write_stderr(line, (size_t)n);
}

__attribute__((constructor(101)))
static void zio_ctor(int argc, char **argv, char **envp)
{
	int err;

	(void)argc;
	(void)argv;
	zio_in_runtime++;
	zio_real_init();
	zio_options_load(envp);
	/* The stats line must outlive the program's own stderr: coreutils
	 * close it in an atexit handler (close_stdout) that runs before our
	 * destructor, and the line was lost. */
	if (zio_opt.stats) {
		zio_stats_fd = zio_real.fcntl(2, F_DUPFD_CLOEXEC, 256);
		/* ... and a signal that ends the process by its default action
		 * runs no destructor: its handler says the line instead. */
		zio_signals_last_words(zio_print_stats);
	}
	zio_index_init(&zio.ix);
	zio_index_shadow_release = zio_arena_shadow_free;
	zio.pid = getpid();
	if (!zio_opt.off) {
		err = zio_uffd_open();
		if (err) {
			/* Say it once, whatever the log level: the user asked for
			 * zio and does not get it. */
			uffd_unavailable(err);
		} else {
			zio.uffd_ok = true;
			zio_policy_redirects = zio.have_move;
			atomic_store(&zio_active, 1);
		}
	}
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	atomic_store(&zio_initialized, 1);
	zio_in_runtime--;
	pr_info("runtime loaded (pid %d, threshold %llu, %s)", (int)zio.pid,
		(unsigned long long)zio_opt.threshold,
		zio_opt.off ? "off" : zio.uffd_ok ? "on" : "unavailable");
}

/* ------------------------------------------------------------ --stats */

/* The counters of the line, in its order (live_aliases is not one of
 * zio_stats: NOFF). */
#define NOFF ((size_t)-1)
#define F(f) { #f, offsetof(struct zio_stats, f) }
static const struct {
	const char *name;
	size_t off;
} stats_fields[] = {
	F(elided_copies), F(elided_bytes), F(materialized_pages), F(faults), F(fallbacks),
	F(wp_faults), F(missing_faults), F(zero_faults), F(outputs_substituted),
	F(output_bytes_from_origin), F(retired_copy), F(retired_move), F(parked_pages),
	F(refilled_pages), F(edge_pages_copied), F(vacated_pages), F(vacant_faults), F(inputs_tracked),
	F(inputs_redirected), F(policy_skips), F(policy_declined), F(policy_explores),
	F(policy_untracked), F(policy_promoted), { "live_aliases", NOFF },
	F(fb_register), F(fb_move), F(fb_copy), F(fb_wp), F(fb_alloc), F(fb_cap),
};
#undef F

/* The line is made in a signal handler too: no stdio, only these. */
struct line {
	char *b;
	size_t n, cap;       /* cap leaves room for the newline */
};

static void put_str(struct line *l, const char *s)
{
	while (*s && l->n < l->cap)
		l->b[l->n++] = *s++;
}

static void put_u64(struct line *l, uint64_t v)
{
	char d[20];
	int k = 0;

	do
		d[k++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (k && l->n < l->cap)
		l->b[l->n++] = d[--k];
}

/* Write the line to our copy of stderr (else stderr).  A reader gone
 * from the pipe costs the program no SIGPIPE: the one the write raises
 * is taken back (all signals are blocked here). */
static void stats_write(const char *s, size_t n)
{
	bool epipe = false, had;
	sigset_t pend, pipe_set;
	long w;

	sigpending(&pend);
	had = sigismember(&pend, SIGPIPE);
	w = zio_stats_fd < 0 ? -1 : syscall(SYS_write, zio_stats_fd, s, n);
	epipe = w < 0 && errno == EPIPE;
	if (w != (long)n) {
		zio_write_stderr(s, n);
		epipe = epipe || errno == EPIPE;
	}
	if (epipe && !had) {
		struct timespec now = { 0, 0 };

		sigemptyset(&pipe_set);
		sigaddset(&pipe_set, SIGPIPE);
		sigtimedwait(&pipe_set, NULL, &now);
	}
}

/* The pid whose line is out, or its negation while the line is made:
 * once per process, whichever way it ends (a fork child has its own). */
static _Atomic pid_t line_pid;

static bool line_claim(pid_t me)
{
	pid_t cur = atomic_load(&line_pid);

	for (;;) {
		if (cur == me)
			return false;
		if (cur == -me) {
			/* another thread of ours is saying it: let it finish
			 * (a second, at most) before the process ends */
			struct timespec ms = { 0, 1000000 };

			for (int i = 0; i < 1000 && atomic_load(&line_pid) == -me; i++)
				nanosleep(&ms, NULL);
			return false;
		}
		if (atomic_compare_exchange_weak(&line_pid, &cur, -me))
			return true;
	}
}

/*
 * The --stats line, once per process: from the destructor, or from the
 * handler of a signal that ends the process by its default action
 * (base/signal.c), so async-signal-safe: atomic loads, digits by hand,
 * raw writes.  The AF_XDP fields come from zio_xsk_stats, which formats
 * with vsnprintf (integers and strings: no allocation in glibc).
 */
ZIO_HIDDEN void zio_print_stats(void)
{
	char buf[2048];
	struct line l = { buf, 0, sizeof(buf) - 1 };
	pid_t me = (pid_t)syscall(SYS_getpid);
	sigset_t all, old;
	int e = errno;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (!line_claim(me))
		goto out;
	put_str(&l, "zio: pid=");
	put_u64(&l, (uint64_t)me);
	for (size_t i = 0; i < sizeof(stats_fields) / sizeof(stats_fields[0]); i++) {
		const _Atomic uint64_t *v = stats_fields[i].off == NOFF ? &zio_live_aliases :
			(const _Atomic uint64_t *)((const char *)&zio_stats + stats_fields[i].off);

		put_str(&l, " ");
		put_str(&l, stats_fields[i].name);
		put_str(&l, "=");
		put_u64(&l, atomic_load(v));
	}
	/* The AF_XDP layer's fields join the line (xsk/sock.c). */
	if (l.n < l.cap)
		l.n += (size_t)zio_xsk_stats(buf + l.n, l.cap - l.n + 1);
	if (l.n > l.cap)
		l.n = l.cap;
	buf[l.n++] = '\n';
	stats_write(buf, l.n);
	atomic_store(&line_pid, me);
out:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
}

__attribute__((destructor(101)))
static void zio_dtor(void)
{
	if (zio_opt.stats)
		zio_print_stats();
}
