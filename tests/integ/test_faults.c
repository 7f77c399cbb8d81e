// SPDX-License-Identifier: MIT
/*
 * Faults and limits.  Every program of the integration suite (zt modes,
 * a fuzz program, the errno checks) runs with each failure point of the
 * runtime injected (ZIO_FAULT_INJECT=point=rate): every failure must fall
 * back to a real copy, be counted in `fallbacks`, and change no byte (the
 * programs verify every byte).  Then exhaustion: more aliases than the
 * VMA limit allows, more than the alias cap, no address space for the
 * arena, and zio-run without userfaultfd privilege.
 * The matrix (point x rate -> runs passed, fallbacks) goes to stderr.
 */
#include <criterion/criterion.h>
#include <pwd.h>
#include <sys/resource.h>

#include "harness.h"

static char zio_run[512], zt[512], zfuzz[512], zbad[512], zlimits[512];

static void setup(void)
{
	path_in_build(zio_run, sizeof(zio_run), "zio-run");
	path_in_build(zt, sizeof(zt), "tests/progs/zt");
	path_in_build(zfuzz, sizeof(zfuzz), "tests/progs/zfuzz");
	path_in_build(zbad, sizeof(zbad), "tests/progs/zbad");
	path_in_build(zlimits, sizeof(zlimits), "tests/progs/zlimits");
}

TestSuite(faults, .init = setup, .timeout = 300);

static const char *const zt_modes[] = { "relay", "touch", "store-orig", "memmove", "free",
					"fork", "threads", "kernel", "touchall", "small", "vacant",
					"edgeflip" };

/* One program under injection: returns its fallbacks, or -1 when it
 * failed (told on stderr); *elided gets its elided copies. */
static long long injected(const char *spec, char *const argv[], const char *ok,
			  long long *elided)
{
	static struct run r;
	char env_spec[128];
	char *env[] = { env_spec, NULL };

	snprintf(env_spec, sizeof(env_spec), "ZIO_FAULT_INJECT=%s", spec);
	run_env(&r, 120, env, argv);
	if (r.status != 0 || !strstr(r.out, ok) || stat_sum(r.err, "fallbacks") < 0) {
		fprintf(stderr, "  %s %s with %s: status %d: %.300s\n", argv[5], argv[6], env_spec,
			r.status, r.out);
		return -1;
	}
	*elided += stat_sum(r.err, "elided_copies");
	return stat_sum(r.err, "fallbacks");
}

/* The whole matrix row of one failure point: every program must pass,
 * and the failures must have been absorbed (counted as fallbacks), or
 * the runtime must have stayed off altogether (nothing elided). */
static void inject_row(const char *point)
{
	static const char *const rates[] = { "1", "0.3" };
	int failed = 0;

	need_uffd();
	for (size_t ri = 0; ri < 2; ri++) {
		char spec[64];
		long long fb = 0, elided = 0, f;
		int passed = 0, total = 0;

		snprintf(spec, sizeof(spec), "%s=%s", point, rates[ri]);
		for (size_t i = 0; i < sizeof(zt_modes) / sizeof(zt_modes[0]); i++) {
			char ok[64];
			char *argv[] = { zio_run, "--stats", "--policy", "always", "--", zt,
					 (char *)zt_modes[i], NULL };

			snprintf(ok, sizeof(ok), "zt: %s ok", zt_modes[i]);
			f = injected(spec, argv, ok, &elided);
			total++;
			if (f >= 0) {
				fb += f;
				passed++;
			}
		}
		{
			char *argv[] = { zio_run, "--stats", "--policy", "always", "--", zfuzz, "-s",
					 "7", "-n", "2000", "-X", "remap,madvise,free,writev", NULL };

			f = injected(spec, argv, " ok ", &elided);
			total++;
			if (f >= 0) {
				fb += f;
				passed++;
			}
		}
		{
			char *argv[] = { zio_run, "--stats", "--policy", "always", "--", zbad,
					 "errno", NULL };

			f = injected(spec, argv, "errno after elided copies", &elided);
			total++;
			if (f >= 0) {
				fb += f;
				passed++;
			}
		}
		fprintf(stderr, "  fault matrix: %-8s rate %-4s -> %2d/%2d programs passed, "
			"fallbacks=%lld, elided_copies=%lld\n", point, rates[ri], passed, total, fb,
			elided);
		failed += total - passed;
		cr_expect(fb > 0 || elided == 0, "%s: failures were neither absorbed nor "
			  "kept the runtime off", spec);
	}
	cr_assert_eq(failed, 0, "%s: %d programs failed under injection (above)", point, failed);
}

Test(faults, wp_failures_fall_back_and_change_no_byte) { inject_row("wp"); }

/*
 * DISABLED until their open bugs are fixed (tests/fuzz/pending/README.md
 * has each reproducer and diagnosis); each must pass as is:
 *   register=0.3  zfuzz seed 7 sees a wrong byte after a copy
 *   move          zt relay sends wrong bytes, zfuzz hangs: a retire whose
 *                 UFFDIO_MOVE failed is taken for a move ("retire")
 *   copy          a page UFFDIO_COPY cannot produce is served as zeros
 *                 and not counted ("materialize")
 *   alloc         zfuzz seed 7 reads a wrong byte after a failed shadow
 */
Test(faults, register_failures_fall_back_and_change_no_byte)
{
	inject_row("register");
}

Test(faults, move_failures_fall_back_and_change_no_byte)
{
	inject_row("move");
}

Test(faults, copy_failures_fall_back_and_change_no_byte)
{
	inject_row("copy");
}

Test(faults, alloc_failures_fall_back_and_change_no_byte)
{
	inject_row("alloc");
}

/* ------------------------------------------------------------ limits */

Test(faults, more_aliases_than_the_vma_limit_allows)
{
	static struct run r;

	need_uffd();
	/* 40000 aliases of one page each, a page apart: two VMAs each, more
	 * than vm.max_map_count (65530) allows; the copies beyond it fall
	 * back and every byte stays right. */
	RUN(&r, 200, zio_run, "--stats", "--policy", "always", "--threshold", "4K", "--", zlimits,
	    "vmas", "40000");
	cr_assert_eq(r.status, 0, "status %d\n%s\n%s", r.status, r.out, r.err);
	cr_assert(strstr(r.out, "zlimits: vmas ok"), "%s", r.out);
	cr_assert_gt(stat_sum(r.err, "elided_copies"), 1000, "%s", r.err);
	cr_assert_gt(stat_sum(r.err, "fallbacks"), 0, "%s", r.err);
}

Test(faults, more_aliases_than_the_cap_fall_back)
{
	static struct run r;
	char *env[] = { "ZIO_MAX_ALIASES=10", NULL };
	char *argv[] = { zio_run, "--stats", "--policy", "always", "--threshold", "4K", "--",
			 zlimits, "vmas", "200", NULL };

	need_uffd();
	run_env(&r, 60, env, argv);
	cr_assert_eq(r.status, 0, "status %d\n%s\n%s", r.status, r.out, r.err);
	cr_assert(strstr(r.out, "zlimits: vmas ok"), "%s", r.out);
	cr_assert_leq(stat_sum(r.err, "live_aliases"), 10, "%s", r.err);
	cr_assert_gt(stat_sum(r.err, "fb_cap"), 0, "%s", r.err);
}

Test(faults, no_address_space_for_the_runtime_runs_the_program_unchanged)
{
	static struct run r;

	need_uffd();
	/* RLIMIT_AS of 2 GiB: the runtime's 64 GiB arena reservation fails,
	 * the program does not notice */
	RUN(&r, 60, "sh", "-c", "ulimit -v 2097152 && exec \"$0\" --stats -- \"$1\" relay",
	    zio_run, zt);
	cr_assert_eq(r.status, 0, "status %d\n%s\n%s", r.status, r.out, r.err);
	cr_assert(strstr(r.out, "zt: relay ok"), "%s", r.out);
	cr_assert_lt(strlen(r.err), 2048, "%s", r.err);
}

Test(faults, memory_pressure_from_a_small_pool_and_many_live_aliases)
{
	static struct run r;

	need_uffd();
	RUN(&r, 120, zio_run, "--stats", "--policy", "always", "--pool-max", "0", "--", zlimits,
	    "pressure", "256");
	cr_assert_eq(r.status, 0, "status %d\n%s\n%s", r.status, r.out, r.err);
	cr_assert(strstr(r.out, "zlimits: pressure ok"), "%s", r.out);
	cr_assert_gt(stat_sum(r.err, "elided_copies"), 100, "%s", r.err);
}

Test(faults, without_userfaultfd_privilege_one_line_and_the_program_runs)
{
	static struct run r;
	int unpriv = sysctl_int("/proc/sys/vm/unprivileged_userfaultfd");

	if (geteuid() != 0 || unpriv != 0 || !getpwnam("nobody"))
		cr_skip_test("needs root, vm.unprivileged_userfaultfd=0 and user nobody");
	/* as nobody: no CAP_SYS_PTRACE, /dev/userfaultfd is root's only */
	RUN(&r, 60, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
	    zio_run, "--stats", "--", zt, "relay");
	if (r.status == 126 || r.status == 127)
		cr_skip_test("user nobody cannot run the build: %s", r.err);
	cr_assert_eq(r.status, 0, "status %d\n%s\n%s", r.status, r.out, r.err);
	cr_assert(strstr(r.out, "zt: relay ok"), "%s", r.out);
	cr_assert(strstr(r.err, "zio: userfaultfd with kernel-fault delivery unavailable"),
		  "%s", r.err);
	{
		/* exactly one line about it, and no elision */
		const char *p = strstr(r.err, "unavailable");

		cr_assert(!strstr(p + 1, "unavailable"), "said twice: %s", r.err);
		cr_assert_eq(stat_sum(r.err, "elided_copies"), 0, "%s", r.err);
	}
}
