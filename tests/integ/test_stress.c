// SPDX-License-Identifier: MIT
/*
 * Stress: threads, signal storms, fork/spawn storms, mprotect/mremap and
 * start-up order, each bounded to a few seconds (tests/progs/zstress and
 * zearly verify every byte themselves).  A run that elides nothing could
 * pass any of these, so each also requires elided copies.
 */
#include <criterion/criterion.h>

#include "harness.h"

static char zio_run[512], zstress[512], zearly[512];

static void setup(void)
{
	path_in_build(zio_run, sizeof(zio_run), "zio-run");
	path_in_build(zstress, sizeof(zstress), "tests/progs/zstress");
	path_in_build(zearly, sizeof(zearly), "tests/progs/zearly");
}

TestSuite(stress, .init = setup, .timeout = 120);

/* Run zstress MODE under zio --stats (with extra env entries); check its
 * verdict; returns the run. */
static struct run *stress(const char *mode, char *const *env)
{
	static struct run r;
	char ok[64];
	char *argv[] = { zio_run, "--stats", "--policy", "always", "--", zstress, (char *)mode,
			 NULL };

	need_uffd();
	run_env(&r, 60, env, argv);
	snprintf(ok, sizeof(ok), "zstress: %s ok", mode);
	cr_assert_neq(r.status, -1, "zstress %s hung\nstdout: %s\nstderr: %s", mode, r.out, r.err);
	cr_assert_eq(r.status, 0, "zstress %s: status %d\nstdout: %s\nstderr: %s", mode, r.status,
		     r.out, r.err);
	cr_assert(strstr(r.out, ok), "zstress %s: %s", mode, r.out);
	return &r;
}

/* (Open once: an alias page of a thread's private buffer read as zeros;
 * fixed in 29f38b2, tests/fuzz/pending/README.md.) */
Test(stress, eight_threads_copy_touch_and_release_aliases_of_shared_originals)
{
	char *env[] = { "ZSTRESS_THREADS=8", NULL };
	struct run *r = stress("threads", env);

	cr_assert_geq(stat_sum(r->err, "elided_copies"), 100, "%s", r->err);
	cr_assert_gt(stat_sum(r->err, "faults"), 0, "%s", r->err);
}

/*
 * Six threads share memory the way memcached's workers do (zslab: a slab
 * that recycles chunks without free(), replies sent while others receive
 * into the chunks their aliases read), twice as long as the fuzz seeds.
 */
Test(stress, six_threads_recycle_slab_chunks_while_replies_alias_them)
{
	static struct run r;
	char zslab[512];
	char *argv[] = { zio_run, "--stats", "--policy", "always", "--", zslab, "-s", "7", "-t",
			 "6", "-n", "1500", NULL };

	need_uffd();
	path_in_build(zslab, sizeof(zslab), "tests/progs/zslab");
	run_env(&r, 100, NULL, argv);
	cr_assert_eq(r.status, 0, "zslab: status %d\n%s%s", r.status, r.out, r.err);
	cr_assert(strstr(r.out, "zslab: seed=7 workers=6 ops=9000 ok"), "%s", r.out);
	cr_assert_geq(stat_sum(r.err, "elided_copies"), 300, "%s", r.err);
	cr_assert_gt(stat_sum(r.err, "inputs_redirected"), 0, "%s", r.err);
}

Test(stress, sigalrm_storm_handler_reads_and_writes_aliases)
{
	struct run *r = stress("sigstorm", NULL);

	cr_assert_geq(stat_sum(r->err, "elided_copies"), 100, "%s", r->err);
	cr_assert_gt(stat_sum(r->err, "missing_faults"), 0, "%s", r->err);
}

Test(stress, fork_storm_with_live_aliases)
{
	struct run *r = stress("forkstorm", NULL);

	/* After a fork the parent's destination pages are shared with the
	 * child and cannot be moved aside: those copies fall back (counted),
	 * which is correct, if slower. */
	cr_assert_geq(stat_sum(r->err, "elided_copies"), 2, "%s", r->err);
}

Test(stress, posix_spawn_vfork_and_execve_with_live_aliases)
{
	struct run *r = stress("spawn", NULL);

	/* the last image (after execve) prints its own line; the children
	 * read the alias through a pipe and check it */
	cr_assert_geq(stat_sum(r->err, "elided_copies"), 0, "%s", r->err);
}

Test(stress, mprotect_and_mremap_over_aliases_and_originals)
{
	struct run *r = stress("mprotect", NULL);

	cr_assert_geq(stat_sum(r->err, "elided_copies"), 12, "%s", r->err);
	cr_assert_eq(stat_sum(r->err, "fb_alloc"), 0, "%s", r->err);
}

Test(stress, exit_from_a_thread_with_live_aliases)
{
	struct run *r = stress("exitthread", NULL);

	cr_assert_geq(stat_sum(r->err, "elided_copies"), 1, "%s", r->err);
}

Test(stress, memcpy_before_constructors_from_constructors_and_inside_malloc)
{
	static struct run r;

	need_uffd();
	RUN(&r, 60, zio_run, "--stats", "--policy", "always", "--", zearly);
	cr_assert_eq(r.status, 0, "status %d\n%s%s", r.status, r.out, r.err);
	cr_assert(strstr(r.out, "zearly: ok"), "%s", r.out);
	cr_assert_geq(stat_sum(r.err, "elided_copies"), 6, "%s", r.err);
	RUN(&r, 60, zearly);
	cr_assert_eq(r.status, 0, "plain: %s%s", r.out, r.err);
}
