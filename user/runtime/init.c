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
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "base/options.h"
#include "base/real.h"
#include "init.h"
#include "mech/arena.h"
#include "mech/state.h"
#include "mech/uffd.h"
#include "path/fault.h"
#include "path/fork.h"

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
	if (zio_opt.stats)
		zio_stats_fd = zio_real.fcntl(2, F_DUPFD_CLOEXEC, 256);
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

#define S(f) (unsigned long long)atomic_load(&zio_stats.f)

int zio_xsk_stats(char *buf, size_t len);

ZIO_HIDDEN void zio_print_stats(void)
{
	char line[2048];
	int n;

	n = zio_snprintf(line, sizeof(line),
		"zio: pid=%d elided_copies=%llu elided_bytes=%llu materialized_pages=%llu "
		"faults=%llu fallbacks=%llu wp_faults=%llu missing_faults=%llu "
		"zero_faults=%llu outputs_substituted=%llu output_bytes_from_origin=%llu "
		"retired_copy=%llu retired_move=%llu parked_pages=%llu refilled_pages=%llu "
		"vacated_pages=%llu vacant_faults=%llu "
		"inputs_tracked=%llu inputs_redirected=%llu policy_skips=%llu policy_declined=%llu "
		"policy_explores=%llu "
		"policy_untracked=%llu policy_promoted=%llu "
		"live_aliases=%llu "
		"fb_register=%llu fb_move=%llu fb_copy=%llu fb_wp=%llu fb_alloc=%llu "
		"fb_cap=%llu\n",
		(int)getpid(), S(elided_copies), S(elided_bytes), S(materialized_pages),
		S(faults), S(fallbacks), S(wp_faults), S(missing_faults), S(zero_faults),
		S(outputs_substituted), S(output_bytes_from_origin), S(retired_copy),
		S(retired_move), S(parked_pages), S(refilled_pages), S(vacated_pages),
		S(vacant_faults), S(inputs_tracked),
		S(inputs_redirected), S(policy_skips), S(policy_declined), S(policy_explores),
		S(policy_untracked), S(policy_promoted),
		(unsigned long long)atomic_load(&zio_live_aliases),
		S(fb_register), S(fb_move), S(fb_copy), S(fb_wp), S(fb_alloc), S(fb_cap));
	/* The AF_XDP layer's fields join the line (xsk_hooks.c). */
	if (n > 0 && n < (int)sizeof(line) - 1) {
		n--;
		n += zio_xsk_stats(line + n, sizeof(line) - 1 - (size_t)n);
		line[n++] = '\n';
	}
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	if (zio_stats_fd < 0 || syscall(SYS_write, zio_stats_fd, line, (size_t)n) != n)
		zio_write_stderr(line, (size_t)n);
}

__attribute__((destructor(101)))
static void zio_dtor(void)
{
	if (zio_opt.stats)
		zio_print_stats();
}
