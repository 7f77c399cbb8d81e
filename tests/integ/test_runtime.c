// SPDX-License-Identifier: MIT
/*
 * Integration tests of the runtime: small real programs (tests/progs/zt)
 * run under zio-run; each verifies every byte it sees, and the tests
 * check its verdict and the runtime's counters, so a run that elides
 * nothing cannot pass where elision is expected.
 */
#include <criterion/criterion.h>
#include <sys/stat.h>

#include "harness.h"

static char zio_run[512], zt[512];

static void setup(void)
{
	path_in_build(zio_run, sizeof(zio_run), "zio-run");
	path_in_build(zt, sizeof(zt), "tests/progs/zt");
}

TestSuite(runtime, .init = setup, .timeout = 120);

/* Run zt MODE under zio with --stats; check verdict, return the run. */
static struct run *zt_zio(const char *mode, const char *extra)
{
	static struct run r;
	char ok[64];

	need_uffd();
	if (extra)
		RUN(&r, 100, zio_run, "--stats", (char *)extra, "--", zt, (char *)mode);
	else
		RUN(&r, 100, zio_run, "--stats", "--", zt, (char *)mode);
	snprintf(ok, sizeof(ok), "zt: %s ok", mode);
	cr_assert_eq(r.status, 0, "zt %s under zio: status %d\nstdout: %s\nstderr: %s", mode,
		     r.status, r.out, r.err);
	cr_assert(strstr(r.out, ok), "zt %s: %s", mode, r.out);
	cr_assert_geq(stat_of(r.err, "elided_copies"), 0, "no stats line: %s", r.err);
	return &r;
}

Test(runtime, recv_memcpy_send_elides_and_the_peer_gets_identical_bytes)
{
	struct run *r = zt_zio("relay", NULL);

	cr_assert_geq(stat_of(r->err, "elided_copies"), 16, "%s", r->err);
	cr_assert_gt(stat_of(r->err, "outputs_substituted"), 0, "%s", r->err);
	/* most of the 8 x 512 KiB sent come from the originals: not the
	 * partial pages at either end, nor (inputs received into the arena)
	 * a page where one recv() ended and the next began, which is copied
	 * into the buffer: 4.11-4.19 MB seen */
	cr_assert_gt(stat_of(r->err, "output_bytes_from_origin"), 7 * 512 * 1024, "%s", r->err);
	cr_assert_eq(stat_of(r->err, "fallbacks"), 0, "%s", r->err);
}

Test(runtime, single_byte_loads_and_stores_inside_an_alias)
{
	struct run *r = zt_zio("touch", "--policy=always");

	cr_assert_eq(stat_of(r->err, "elided_copies"), 1, "%s", r->err);
	/* the final check reads every page: each alias page came in once */
	cr_assert_geq(stat_of(r->err, "missing_faults"), 2, "%s", r->err);
	cr_assert_leq(stat_of(r->err, "materialized_pages"), 64, "%s", r->err);
}

Test(runtime, stores_into_the_original_after_a_copy)
{
	struct run *r = zt_zio("store-orig", "--policy=always");

	cr_assert_geq(stat_of(r->err, "elided_copies"), 2, "%s", r->err);
	cr_assert_geq(stat_of(r->err, "wp_faults"), 1, "%s", r->err);
	cr_assert_geq(stat_of(r->err, "retired_copy") + stat_of(r->err, "retired_move"), 1,
		      "%s", r->err);
}

Test(runtime, overlapping_memmove)
{
	struct run *r = zt_zio("memmove", "--policy=always");

	cr_assert_geq(stat_of(r->err, "elided_copies"), 1, "%s", r->err);
}

/* The mechanism tests below pin the policy to "always": they check what
 * elision does to bytes, not whether the adaptive policy would elide. */
Test(runtime, free_and_realloc_of_aliases_and_originals)
{
	struct run *r = zt_zio("free", "--policy=always");

	cr_assert_geq(stat_of(r->err, "elided_copies"), 6, "%s", r->err);
}

Test(runtime, a_recycled_reply_buffer_stays_vacant_between_replies)
{
	struct run *r = zt_zio("vacant", "--policy=always");
	long long parked = stat_of(r->err, "parked_pages");

	/* 24 replies and 4 more copies into the same 256 KiB block, freed
	 * after each: its 62 whole pages are left vacant each time */
	cr_assert_geq(stat_of(r->err, "elided_copies"), 28, "%s", r->err);
	cr_assert_geq(stat_of(r->err, "vacated_pages"), 28 * 60, "%s", r->err);
	/* parked only when stores, calloc, a plain copy or an input had
	 * populated the block in between: the replies after the first
	 * park nothing */
	cr_assert_leq(parked, 6 * 64, "%s", r->err);
	/* stores, calloc and the parent after fork touch vacant pages: one
	 * fault refills the whole block, not one a page */
	cr_assert_geq(stat_of(r->err, "vacant_faults"), 2, "%s", r->err);
	cr_assert_leq(stat_of(r->err, "vacant_faults"), 8, "%s", r->err);
}

Test(runtime, an_end_page_that_flips_between_replies_is_copied_not_moved)
{
	struct run *r = zt_zio("edgeflip", "--policy=always");

	/* 24 replies into one recycled block, the copy a page later every
	 * other time: the page at each end of the run flips between alias
	 * and copied end.  Parked and refilled on every reply before (24 and
	 * 23 pages); now copied, and parked only when its rent is up. */
	cr_assert_geq(stat_of(r->err, "elided_copies"), 24, "%s", r->err);
	cr_assert_geq(stat_of(r->err, "edge_pages_copied"), 12, "%s", r->err);
	cr_assert_leq(stat_of(r->err, "parked_pages"), 8, "%s", r->err);
	cr_assert_leq(stat_of(r->err, "refilled_pages"), 8, "%s", r->err);
}

Test(runtime, fork_child_and_parent_read_the_data)
{
	struct run *r = zt_zio("fork", "--policy=always");

	cr_assert_geq(stat_of(r->err, "elided_copies"), 2, "%s", r->err);
	/* the parent materialised before fork: the child needed no fault */
	cr_assert_geq(stat_of(r->err, "materialized_pages"), 200, "%s", r->err);
}

Test(runtime, four_threads_copy_and_touch_concurrently)
{
	struct run *r = zt_zio("threads", "--policy=always");

	cr_assert_geq(stat_of(r->err, "elided_copies"), 40, "%s", r->err);
	cr_assert_gt(stat_of(r->err, "faults"), 0, "%s", r->err);
}

Test(runtime, kernel_reads_and_writes_aliases)
{
	struct run *r = zt_zio("kernel", "--policy=always");

	cr_assert_geq(stat_of(r->err, "elided_copies"), 2, "%s", r->err);
	cr_assert_gt(stat_of(r->err, "materialized_pages"), 0, "%s", r->err);
}

Test(runtime, a_program_that_touches_everything_is_still_correct)
{
	struct run *r = zt_zio("touchall", NULL);

	cr_assert_geq(stat_of(r->err, "elided_copies"), 1, "%s", r->err);
	/* the adaptive policy noticed and stopped eliding that call site */
	cr_assert_gt(stat_of(r->err, "policy_skips"), 0, "%s", r->err);
}

Test(runtime, sparse_reads_of_fresh_aliases_keep_their_elisions)
{
	struct run *r = zt_zio("sparse-fresh", NULL);

	/* 300 messages through four fresh buffers each; the reads of every
	 * tenth page of the last fault (13 a message), and cost less than
	 * faulting in the four buffers would have */
	cr_assert_geq(stat_of(r->err, "faults"), 300 * 10, "%s", r->err);
	cr_assert_geq(stat_of(r->err, "elided_copies"), 1100, "%s", r->err);
	cr_assert_eq(stat_of(r->err, "policy_skips"), 0, "%s", r->err);
}

Test(runtime, sparse_reads_of_reused_aliases_stop_their_elisions)
{
	struct run *r = zt_zio("sparse-pooled", NULL);

	/* the same reads cost more than copies into populated buffers: the
	 * copy site backs off, or the input site's originals are declined
	 * (and either is retried now and then: of 1200 copies, under half
	 * elided; 60-315 seen) */
	cr_assert_gt(stat_of(r->err, "policy_skips") + stat_of(r->err, "policy_declined"), 100,
		     "%s", r->err);
	cr_assert_lt(stat_of(r->err, "elided_copies"), 600, "%s", r->err);
}

Test(runtime, a_reused_receive_buffer_is_received_into_the_arena)
{
	struct run *r = zt_zio("rx-reuse", "--policy=always");

	/* 200 messages into one buffer, each in several recv()s, while the
	 * copies of the one before alias it: most recv()s land in the arena
	 * and leave the buffer aliased; the peer, the kept copies and the
	 * buffer itself at the end read every byte right */
	cr_assert_gt(stat_of(r->err, "inputs_redirected"), 300, "%s", r->err);
	cr_assert_geq(stat_of(r->err, "elided_copies"), 400, "%s", r->err);
}

Test(runtime, a_redirected_buffer_reads_back_what_was_received)
{
	struct run *r = zt_zio("rx-touch", "--policy=always");

	/* the same, and one message in 7 is read back from the buffer
	 * itself: through faults on its alias pages */
	cr_assert_gt(stat_of(r->err, "inputs_redirected"), 300, "%s", r->err);
	cr_assert_gt(stat_of(r->err, "faults"), 100, "%s", r->err);
}

Test(runtime, the_adaptive_policy_redirects_a_reused_receive_buffer)
{
	struct run *r = zt_zio("rx-whole", NULL);

	/* one read() a message: after the first few (while the first copies
	 * are learned) every one; the copies kept and read back later are
	 * not held against the buffer's input site (their declined copies
	 * read the received bytes from the arena, without faults) */
	cr_assert_gt(stat_of(r->err, "inputs_redirected"), 150, "%s", r->err);
}

Test(runtime, a_declined_input_site_only_notes_its_inputs)
{
	struct run *r = zt_zio("declined", NULL);

	/* one copy per 16-page original into a populated buffer: not worth it */
	cr_assert_gt(stat_of(r->err, "policy_declined"), 1000, "%s", r->err);
	/* so its inputs (1500 messages, one or more recv each) are noted, not
	 * tracked, after the first few */
	cr_assert_gt(stat_of(r->err, "policy_untracked"), 1400, "%s", r->err);
	cr_assert_lt(stat_of(r->err, "inputs_tracked"), 100, "%s", r->err);
	/* and one copy in 64 of them is explored: its source becomes an
	 * original then */
	cr_assert_gt(stat_of(r->err, "policy_explores"), 0, "%s", r->err);
	cr_assert_geq(stat_of(r->err, "policy_promoted"), stat_of(r->err, "policy_explores"), "%s",
		      r->err);
	cr_assert_gt(stat_of(r->err, "elided_copies"), 0, "%s", r->err);
}

Test(runtime, a_declined_input_site_comes_back_when_its_copies_pay)
{
	struct run *r = zt_zio("redeclined", NULL);

	cr_assert_gt(stat_of(r->err, "policy_untracked"), 100, "%s", r->err);
	/* the first copy into a fresh buffer finds its noted source worth an
	 * original, and the site is tracked again */
	cr_assert_gt(stat_of(r->err, "policy_promoted"), 0, "%s", r->err);
	/* the 300 pooled copies elide only explores; most of the 700 into
	 * fresh buffers are elided */
	cr_assert_gt(stat_of(r->err, "elided_copies"), 600, "%s", r->err);
}

Test(runtime, small_and_non_io_copies_are_not_elided)
{
	struct run *r = zt_zio("small", NULL);

	cr_assert_eq(stat_of(r->err, "elided_copies"), 0, "%s", r->err);
}

Test(runtime, off_loads_the_interposers_but_elides_nothing)
{
	struct run *r = zt_zio("relay", "--off");

	cr_assert_eq(stat_of(r->err, "elided_copies"), 0, "%s", r->err);
	cr_assert_eq(stat_of(r->err, "outputs_substituted"), 0, "%s", r->err);
}

Test(runtime, every_mode_passes_without_zio_too)
{
	const char *modes[] = { "relay", "touch", "store-orig", "memmove", "free", "fork",
				"threads", "kernel", "touchall", "small", "vacant", "edgeflip" };

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct run r;

		RUN(&r, 60, zt, (char *)modes[i]);
		cr_assert_eq(r.status, 0, "plain zt %s: %s %s", modes[i], r.out, r.err);
	}
}

Test(runtime, threshold_above_the_copy_size_elides_nothing)
{
	struct run *r = zt_zio("relay", "--threshold=1M");

	cr_assert_eq(stat_of(r->err, "elided_copies"), 0, "%s", r->err);
}

Test(runtime, hostile_environment_values_warn_and_use_defaults)
{
	struct run r;
	char *env[] = { "ZIO_THRESHOLD=12abc", "ZIO_POOL_MAX=-5", "ZIO_LOG=9",
			"ZIO_POLICY=sometimes", "ZIO_FAULT_INJECT=bogus", NULL };
	char *argv[] = { zio_run, "--stats", "--", zt, "relay", NULL };

	need_uffd();
	run_env(&r, 100, env, argv);
	cr_assert_eq(r.status, 0, "%s %s", r.out, r.err);
	cr_assert(strstr(r.err, "invalid ZIO_THRESHOLD='12abc'"), "%s", r.err);
	cr_assert(strstr(r.err, "invalid ZIO_POOL_MAX='-5'"), "%s", r.err);
	cr_assert(strstr(r.err, "invalid ZIO_POLICY='sometimes'"), "%s", r.err);
	cr_assert(strstr(r.err, "invalid ZIO_FAULT_INJECT entry 'bogus'"), "%s", r.err);
	/* the default threshold still elides the 512 KiB copies */
	cr_assert_geq(stat_of(r.err, "elided_copies"), 16, "%s", r.err);
}

/* ------------------------------------------------------------ zio-run */

Test(zio_run, usage_errors, .init = setup)
{
	struct run r;

	RUN(&r, 10, zio_run);
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "missing PROGRAM"), "%s", r.err);

	RUN(&r, 10, zio_run, "--threshold", "lots", "--", "true");
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "invalid --threshold 'lots'"), "%s", r.err);

	RUN(&r, 10, zio_run, "--threshold", "100", "--", "true");
	cr_assert_eq(r.status, 2, "below one page is refused");

	RUN(&r, 10, zio_run, "--bogus", "--", "true");
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "unrecognized option"), "%s", r.err);

	RUN(&r, 10, zio_run, "--policy", "never", "--", "true");
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "invalid --policy 'never'"), "%s", r.err);
}

Test(zio_run, missing_program_is_127_with_a_message, .init = setup)
{
	struct run r;

	RUN(&r, 10, zio_run, "--", "/nonexistent/zio-no-such-program");
	cr_assert_eq(r.status, 127);
	cr_assert(strstr(r.err, "zio-no-such-program: command not found"), "%s", r.err);
}

Test(zio_run, exits_with_the_program_status_and_passes_its_arguments, .init = setup)
{
	struct run r;

	RUN(&r, 10, zio_run, "--", "sh", "-c", "echo \"$0 $1\"; exit 7", "a", "--stats");
	cr_assert_eq(r.status, 7);
	cr_assert(strstr(r.out, "a --stats"), "the program's own options are its own: %s", r.out);
}

Test(zio_run, help_has_examples, .init = setup)
{
	struct run r;

	RUN(&r, 10, zio_run, "--help");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "EXAMPLES"), "%s", r.out);
	cr_assert(strstr(r.out, "--threshold"), "%s", r.out);
}

Test(zio_run, stats_line_has_the_documented_form, .init = setup)
{
	struct run r;
	int pid;
	long long a, b, c, d, e;

	need_uffd();
	RUN(&r, 10, zio_run, "--stats", "--", "true");
	cr_assert_eq(r.status, 0);
	cr_assert_eq(sscanf(strstr(r.err, "zio: "), "zio: pid=%d elided_copies=%lld elided_bytes=%lld "
			    "materialized_pages=%lld faults=%lld fallbacks=", &pid, &a, &b, &c, &d),
		     5, "%s", r.err);
	(void)e;
}
