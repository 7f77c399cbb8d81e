// SPDX-License-Identifier: MIT
/*
 * Bad input: the program must see exactly what it would see without zio
 * when its calls fail — the same results and errno values, the same
 * crash for a bad pointer (never a hang in the fault thread), and a
 * hostile setting of any ZIO_* knob costs one clear warning and the
 * default, never a failure.
 */
#include <criterion/criterion.h>

#include "harness.h"

static char zio_run[512], zbad[512], zt[512];

static void setup(void)
{
	path_in_build(zio_run, sizeof(zio_run), "zio-run");
	path_in_build(zbad, sizeof(zbad), "tests/progs/zbad");
	path_in_build(zt, sizeof(zt), "tests/progs/zt");
}

TestSuite(badinput, .init = setup, .timeout = 120);

Test(badinput, every_failing_call_returns_and_sets_errno_as_without_zio)
{
	static struct run plain, z;

	need_uffd();
	RUN(&plain, 60, zbad, "errno");
	cr_assert_eq(plain.status, 0, "plain: %s %s", plain.out, plain.err);
	RUN(&z, 60, zio_run, "--stats", "--", zbad, "errno");
	cr_assert_eq(z.status, 0, "zio: %s %s", z.out, z.err);
	cr_assert_str_eq(z.out, plain.out, "results differ.\nplain:\n%s\nzio:\n%s", plain.out, z.out);
	cr_assert(strstr(plain.out, "EINTR") && strstr(plain.out, "EAGAIN") &&
		  strstr(plain.out, "EFAULT") && strstr(plain.out, "EBADF"), "%s", plain.out);
	/* the calls ran against live aliases: the runtime's paths, not its
	 * pass-through */
	cr_assert_geq(stat_of(z.err, "elided_copies"), 2, "%s", z.err);
}

static void crashes_like_plain(const char *mode)
{
	struct run plain, z;

	need_uffd();
	RUN(&plain, 30, zbad, (char *)mode);
	RUN(&z, 30, zio_run, "--", zbad, (char *)mode);
	cr_assert_neq(z.status, -1, "%s hung under zio", mode);
	cr_assert_eq(z.status, plain.status, "%s: plain status %d, zio %d\n%s%s", mode,
		     plain.status, z.status, z.out, z.err);
}

Test(badinput, memcpy_from_an_unmapped_address_is_sigsegv)
{
	crashes_like_plain("segv-src");
	cr_assert_eq(139 - 128, SIGSEGV);
}

Test(badinput, memcpy_of_an_alias_running_into_a_hole_is_sigsegv)
{
	crashes_like_plain("segv-tail");
}

Test(badinput, memcpy_of_io_data_to_an_unmapped_address_is_sigsegv)
{
	crashes_like_plain("segv-dst");
}

Test(badinput, memcpy_of_nearly_size_max_bytes_behaves_as_without_zio)
{
	crashes_like_plain("segv-huge");
}

Test(badinput, a_program_that_recovers_from_sigsegv_in_a_copy_keeps_working)
{
	struct run z;

	need_uffd();
	RUN(&z, 60, zio_run, "--stats", "--", zbad, "segv-recover");
	cr_assert_eq(z.status, 0, "status %d\n%s%s", z.status, z.out, z.err);
	cr_assert(strstr(z.out, "segv-recover ok caught=3"), "%s", z.out);
	cr_assert_geq(stat_of(z.err, "elided_copies"), 2, "%s", z.err);
}

/* ------------------------------------------------------------ settings */

struct hostile {
	const char *setting;   /* NAME=VALUE */
	const char *warning;   /* expected in stderr, or NULL: accepted */
};

static const struct hostile hostile[] = {
	{ "ZIO_THRESHOLD=", "invalid ZIO_THRESHOLD=''" },
	{ "ZIO_THRESHOLD=-1", "invalid ZIO_THRESHOLD='-1'" },
	{ "ZIO_THRESHOLD=100", "invalid ZIO_THRESHOLD='100'" },
	{ "ZIO_THRESHOLD=0x10000", "invalid ZIO_THRESHOLD='0x10000'" },
	{ "ZIO_THRESHOLD=99999999999999999999999", "invalid ZIO_THRESHOLD='9999999999" },
	{ "ZIO_THRESHOLD=64KB", "invalid ZIO_THRESHOLD='64KB'" },
	{ "ZIO_THRESHOLD=17179869184G", "invalid ZIO_THRESHOLD='17179869184G'" },
	{ "ZIO_POOL_MAX=lots", "invalid ZIO_POOL_MAX='lots'" },
	{ "ZIO_POOL_MAX=2048G", "invalid ZIO_POOL_MAX='2048G'" },
	{ "ZIO_MAX_ALIASES=0", "invalid ZIO_MAX_ALIASES='0'" },
	{ "ZIO_MAX_ALIASES=1K", "invalid ZIO_MAX_ALIASES='1K'" },
	{ "ZIO_MAX_ALIASES= 5", "invalid ZIO_MAX_ALIASES=' 5'" },
	{ "ZIO_LOG=9", "invalid ZIO_LOG='9'" },
	{ "ZIO_LOG=-1", "invalid ZIO_LOG='-1'" },
	{ "ZIO_OFF=2", "invalid ZIO_OFF='2'" },
	{ "ZIO_OFF=maybe", "invalid ZIO_OFF='maybe'" },
	{ "ZIO_STATS=%s%s%n", "invalid ZIO_STATS='%s%s%n'" },
	{ "ZIO_POLICY=", "invalid ZIO_POLICY=''" },
	{ "ZIO_POLICY=ALWAYS", "invalid ZIO_POLICY='ALWAYS'" },
	{ "ZIO_FAULT_INJECT=register=2", "invalid ZIO_FAULT_INJECT entry 'register=2'" },
	{ "ZIO_FAULT_INJECT=move=0", "invalid ZIO_FAULT_INJECT entry 'move=0'" },
	{ "ZIO_FAULT_INJECT=wp=.", "invalid ZIO_FAULT_INJECT entry 'wp=.'" },
	{ "ZIO_FAULT_INJECT=copy=1e-3", "invalid ZIO_FAULT_INJECT entry 'copy=1e-3'" },
	{ "ZIO_FAULT_INJECT=,,alloc==1", "invalid ZIO_FAULT_INJECT entry 'alloc==1'" },
};

Test(badinput, a_hostile_value_of_every_knob_warns_once_and_uses_the_default)
{
	need_uffd();
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		static struct run r;
		char *env[] = { (char *)hostile[i].setting, "ZIO_STATS=1", NULL };
		char *argv[] = { zt, "relay", NULL };
		char preload[600];
		const char *w = hostile[i].warning;
		const char *hit;

		/* ZIO_STATS is set after the hostile one only when that is not
		 * itself the knob under test (putenv keeps the last). */
		if (!strncmp(hostile[i].setting, "ZIO_STATS=", 10))
			env[1] = NULL;
		snprintf(preload, sizeof(preload), "LD_PRELOAD=%s/libzio.so", build_dir());
		{
			char *full[] = { preload, env[0], env[1], NULL };

			run_env(&r, 60, full, argv);
		}
		cr_assert_eq(r.status, 0, "%s: status %d\n%s%s", hostile[i].setting, r.status,
			     r.out, r.err);
		cr_assert(strstr(r.out, "zt: relay ok"), "%s: %s", hostile[i].setting, r.out);
		hit = strstr(r.err, w);
		cr_assert(hit, "%s: no warning '%s' in:\n%s", hostile[i].setting, w, r.err);
		cr_assert(!strstr(hit + 1, w), "%s: warned twice:\n%s", hostile[i].setting, r.err);
		cr_assert(strstr(r.err, "default") || strstr(r.err, "ignored"),
			  "%s: the warning must say what is used instead:\n%s",
			  hostile[i].setting, r.err);
		/* the default threshold still elides the 512 KiB copies */
		if (env[1])
			cr_assert_geq(stat_of(r.err, "elided_copies"), 16, "%s:\n%s",
				      hostile[i].setting, r.err);
	}
}

Test(badinput, a_ten_kilobyte_value_is_cut_short_in_the_warning)
{
	static char big[16384];
	static struct run r;
	char preload[600];

	need_uffd();
	strcpy(big, "ZIO_THRESHOLD=");
	memset(big + strlen(big), '9', 10240);
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s/libzio.so", build_dir());
	run_env(&r, 60, (char *[]){ preload, big, "ZIO_STATS=1", NULL },
		(char *[]){ zt, "relay", NULL });
	cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
	cr_assert(strstr(r.err, "invalid ZIO_THRESHOLD="), "%s", r.err);
	cr_assert_lt(strlen(r.err), 4096, "a flood of a warning: %zu bytes", strlen(r.err));
	cr_assert_geq(stat_of(r.err, "elided_copies"), 16, "%s", r.err);
}
