// SPDX-License-Identifier: MIT
/*
 * Unit tests of the policy's cost model (mech/policy.c): the decisions
 * docs/runtime.md "Policy" and the comment at the top of policy.c state,
 * weighed with the model's own constants (mech/policy_cost.h).  Criterion
 * runs every test in a process of its own, so each starts with empty
 * site tables.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "base/options.h"
#include "mech/policy.h"
#include "mech/policy_cost.h"
#include "mech/stats.h"

#define P ZIO_PAGE

/* The adaptive policy, as a program started without ZIO_* settings. */
static void adaptive(void)
{
	zio_options_load(NULL);
	cr_assert(zio_opt.adaptive, "the default policy is adaptive");
}

TestSuite(policy, .init = adaptive);

/* ------------------------------------------------------------ helpers */

/* One elided copy of `pages` pages at site. */
static void elide(uintptr_t site, uint64_t pages)
{
	zio_policy_elided(site, pages * P);
}

/* How many zio_policy_allow answers are false before the first true
 * (at most limit+1 asked). */
static unsigned skips_before_allow(uintptr_t site, unsigned limit)
{
	unsigned n = 0;

	while (n <= limit && !zio_policy_allow(site, 64 * 1024))
		n++;
	return n;
}

/* n originals received at in_site ended, each with `copies` elided
 * copies; retired: they were received into again while aliased. */
static void originals_ended(uintptr_t in_site, uint32_t copies, bool retired, int n)
{
	for (int i = 0; i < n; i++) {
		struct zio_origin o = { .kind = ZIO_ORIGIN_APP, .in_site = in_site, .copies = copies };

		zio_policy_origin_end(&o, retired);
	}
}

/* ------------------------------------------------------------ copy sites */

Test(policy, a_new_site_is_allowed)
{
	cr_assert(zio_policy_allow(0x401000, 1 << 20));
	cr_assert_eq(zio_stats.policy_skips, 0);
}

/* The design's rule: back off when the touches cost more than 3/4 of what
 * the elisions saved, not at it (fresh destinations: NS_COPY_FRESH a page). */
Test(policy, backs_off_when_touches_cost_more_than_three_quarters_of_the_saving)
{
	const uintptr_t site = 0x401000;
	const double limit = MIN_SAMPLE_PAGES * NS_COPY_FRESH * TOUCH_LIMIT;
	const double two_faults = 2 * (NS_FAULT + NS_FILL);
	unsigned fills = (unsigned)((limit - two_faults) / NS_FILL);

	cr_assert_gt(limit, two_faults, "the case needs room for two faults");
	zio_policy_present_seen(site, 16, 0);   /* destinations are fresh */
	elide(site, MIN_SAMPLE_PAGES / 2);
	elide(site, MIN_SAMPLE_PAGES / 2);
	zio_policy_touched(site, 2, 2);
	cr_assert(zio_policy_allow(site, 1 << 16), "two faults cost %.0f of %.0f", two_faults,
		  limit);
	zio_policy_touched(site, 0, fills);     /* up to the limit, no further */
	cr_assert_leq(two_faults + fills * NS_FILL, limit);
	cr_assert(zio_policy_allow(site, 1 << 16), "at (not above) the limit: still eliding");
	zio_policy_touched(site, 0, 1);
	cr_assert_gt(two_faults + (fills + 1) * NS_FILL, limit);
	cr_assert_not(zio_policy_allow(site, 1 << 16), "above the limit: backed off");
	cr_assert_eq(zio_stats.policy_skips, 1);
}

/* Fewer than MIN_SAMPLE_PAGES elided pages are no evidence: touches alone
 * never back a site off; the page that completes the sample does. */
Test(policy, no_back_off_before_a_sample_of_pages)
{
	const uintptr_t site = 0x402000;

	zio_policy_present_seen(site, 16, 0);
	elide(site, MIN_SAMPLE_PAGES - 1);
	zio_policy_touched(site, 100, 100);
	cr_assert(zio_policy_allow(site, 1 << 16));
	elide(site, 1);
	zio_policy_touched(site, 0, 0);
	cr_assert_not(zio_policy_allow(site, 1 << 16));
}

/* Each back-off skips the site for twice as many copies as the last one
 * (16 first, up to MAX_BACKOFF), then the site is retried. */
Test(policy, back_off_is_exponential_then_retried)
{
	const uintptr_t site = 0x403000;
	unsigned want = 16;

	zio_policy_present_seen(site, 16, 0);
	for (int round = 0; round < 12; round++) {
		elide(site, MIN_SAMPLE_PAGES);
		cr_assert(zio_policy_allow(site, 1 << 16), "round %d: retried", round);
		zio_policy_touched(site, 10, 10);
		cr_assert_eq(skips_before_allow(site, MAX_BACKOFF + 1), want, "round %d", round);
		want = want * 2 > MAX_BACKOFF ? MAX_BACKOFF : want * 2;
	}
	cr_assert_eq(want, MAX_BACKOFF, "the rounds reached the cap");
}

/* After 65536 elided pages the site's history is halved, and so is a long
 * back-off: recent behaviour counts most. */
Test(policy, history_is_forgotten_slowly)
{
	const uintptr_t site = 0x404000;

	zio_policy_present_seen(site, 16, 0);
	for (unsigned want = 16; want <= 64; want *= 2) {
		elide(site, MIN_SAMPLE_PAGES);
		zio_policy_touched(site, 10, 10);
		cr_assert_eq(skips_before_allow(site, 200), want);
	}
	elide(site, 65537);                     /* halves: back-off 64 -> 32 */
	zio_policy_touched(site, 3000, 3000);
	cr_assert_eq(skips_before_allow(site, 200), 64, "32 doubled, not 64 doubled");
}

/*
 * The echo sweep's case (docs/runtime.md): one copy site copies each
 * message through 4 fresh buffers, and the program reads 10% of the last
 * one's pages: the site keeps eliding.  Reading every other page, or 10%
 * of reused (populated) buffers, backs it off.
 */
static unsigned echo(uintptr_t site, unsigned copies, unsigned pages, unsigned touched,
		     bool populated, unsigned messages)
{
	unsigned declined = 0;

	zio_policy_present_seen(site, pages, populated ? pages : 0);
	for (unsigned m = 0; m < messages; m++) {
		bool go = true;

		for (unsigned c = 0; c < copies; c++) {
			if (!zio_policy_allow(site, pages * P)) {
				go = false;
				continue;
			}
			elide(site, pages);
		}
		if (!go) {
			declined++;
			continue;
		}
		zio_policy_touched(site, touched, touched);
	}
	return declined;
}

Test(policy, reading_ten_percent_of_fresh_buffers_after_four_copies_keeps_eliding)
{
	cr_assert_eq(echo(0x405000, 4, 20, 2, false, 2000), 0);
	cr_assert_eq(zio_stats.policy_skips, 0);
}

Test(policy, reading_every_other_page_backs_off)
{
	cr_assert_gt(echo(0x405000, 4, 20, 10, false, 2000), 0);
	cr_assert_gt(zio_stats.policy_skips, 0);
}

Test(policy, reading_ten_percent_of_reused_buffers_backs_off)
{
	cr_assert_gt(echo(0x405000, 4, 20, 2, true, 2000), 0);
}

/*
 * The same rule for any number of copies k per touched buffer and share
 * t of its pages touched: a site backs off exactly when
 *   t * (NS_FAULT + NS_FILL) > TOUCH_LIMIT * k * (cost of a copy a page).
 * With one copy into a fresh buffer, 10% read is already too much
 * (20.8 us per read page against 0.75 * 10 * 1.9 us): the policy.c
 * comment's "10% of fresh reply buffers" holds from two copies on.
 */
Test(policy, back_off_follows_the_cost_formula)
{
	static const struct { unsigned k, touched; bool populated; } cases[] = {
		{ 1, 1, false }, { 1, 2, false }, { 2, 2, false }, { 2, 3, false },
		{ 4, 2, false }, { 4, 5, false }, { 4, 6, false }, { 8, 10, false },
		{ 8, 20, false }, { 1, 0, true }, { 8, 1, true }, { 16, 1, true },
	};
	const unsigned pages = 20;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* a site of its own per case: sites are learned independently */
		uintptr_t site = 0x500000 + i * 0x1000;
		double per_page = cases[i].populated ? NS_COPY_POPULATED : NS_COPY_FRESH;
		bool want_off = cases[i].touched * (double)(NS_FAULT + NS_FILL) >
				TOUCH_LIMIT * cases[i].k * pages * per_page;
		unsigned declined = echo(site, cases[i].k, pages, cases[i].touched,
					 cases[i].populated, 400);

		cr_assert_eq(declined > 0, want_off, "k=%u touched %u/%u %s: declined %u",
			     cases[i].k, cases[i].touched, pages,
			     cases[i].populated ? "populated" : "fresh", declined);
	}
}

/* Before its first mincore answer a site's savings count as copies into
 * populated memory, the cheaper kind. */
Test(policy, unknown_destinations_count_as_populated)
{
	const uintptr_t known = 0x406000, unknown = 0x407000;
	const double limit = MIN_SAMPLE_PAGES * NS_COPY_POPULATED * TOUCH_LIMIT;
	unsigned fills = (unsigned)(limit / NS_FILL) + 1;

	zio_policy_present_seen(known, 16, 0);
	elide(known, MIN_SAMPLE_PAGES);
	elide(unknown, MIN_SAMPLE_PAGES);
	zio_policy_touched(known, 0, fills);
	zio_policy_touched(unknown, 0, fills);
	cr_assert(zio_policy_allow(known, 1 << 16));
	cr_assert_not(zio_policy_allow(unknown, 1 << 16));
}

/* A redirected input credits the two moves and the protection a page it
 * spared; a program that then reads its buffer backs the input site off. */
Test(policy, redirect_credits_moves_and_protection_to_the_input_site)
{
	const uintptr_t in_site = 0x408000;
	const double saved = MIN_SAMPLE_PAGES * (2.0 * NS_MOVE + NS_WP + NS_UNWP);
	unsigned fills = (unsigned)(saved * TOUCH_LIMIT / NS_FILL);

	zio_policy_redirected(in_site, MIN_SAMPLE_PAGES * P);
	zio_policy_touched(in_site, 0, fills);
	cr_assert(zio_policy_allow(in_site, 1 << 16), "%u fills within %.0f", fills, saved);
	zio_policy_touched(in_site, 0, 1);
	cr_assert_not(zio_policy_allow(in_site, 1 << 16));
}

/* SITES slots, 16 probes: a site whose probe run is full gets no policy
 * (allowed always) rather than evicting another. */
Test(policy, a_crowded_table_leaves_sites_without_policy)
{
	uintptr_t ips[17];
	int n = 0;
	uint64_t bucket = ((uint64_t)0x1000 * 0x9E3779B97F4A7C15ULL) >> 52;

	for (uintptr_t ip = 0x1000; n < 17; ip += 16)
		if ((((uint64_t)ip * 0x9E3779B97F4A7C15ULL) >> 52) == bucket)
			ips[n++] = ip;
	for (int i = 0; i < 17; i++) {
		zio_policy_present_seen(ips[i], 16, 0);
		elide(ips[i], MIN_SAMPLE_PAGES);
		zio_policy_touched(ips[i], 100, 100);
	}
	for (int i = 0; i < 16; i++)
		cr_assert_not(zio_policy_allow(ips[i], 1 << 16), "site %d has a policy", i);
	cr_assert(zio_policy_allow(ips[16], 1 << 16), "the 17th site has none");
	/* input sites likewise: the 17th is never declined */
	for (int i = 0; i < 17; i++)
		originals_ended(ips[i], 1, true, 8);
	for (int i = 0; i < 16; i++)
		cr_assert_not(zio_policy_first_alias(ips[i], 0x9000, 16, 16, 0));
	cr_assert(zio_policy_first_alias(ips[16], 0x9000, 16, 16, 0));
}

/* ------------------------------------------------------------ first alias */

Test(policy, first_alias_is_made_while_the_input_site_learns)
{
	const uintptr_t in_site = 0x410000;

	/* a pooled server's populated destination, one copy: declined once
	 * learned (below), made before 4 samples */
	originals_ended(in_site, 1, true, 3);
	cr_assert(zio_policy_first_alias(in_site, 0x9000, 16, 16, 0));
	originals_ended(in_site, 1, true, 1);
	cr_assert_not(zio_policy_first_alias(in_site, 0x9000, 16, 16, 0));
	cr_assert_eq(zio_stats.policy_declined, 1);
}

Test(policy, originals_without_copies_are_no_sample)
{
	const uintptr_t in_site = 0x411000;

	originals_ended(in_site, 0, true, 100);
	cr_assert(zio_policy_first_alias(in_site, 0x9000, 16, 16, 0), "nothing learned of k");
}

/* Only APP originals with an input site teach an input site. */
Test(policy, only_app_originals_are_samples)
{
	const uintptr_t in_site = 0x412000;

	for (int i = 0; i < 8; i++) {
		struct zio_origin o = { .kind = ZIO_ORIGIN_SHADOW, .in_site = in_site, .copies = 1 };

		zio_policy_origin_end(&o, true);
	}
	cr_assert(zio_policy_first_alias(in_site, 0x9000, 16, 16, 0));
}

/*
 * One copy per original (k = 1) of a 16-page message into a pooled
 * server's buffer (retired: received into again while aliased).  Fresh
 * destination: saves 16 * NS_COPY_FRESH, worth the original; populated
 * or already aliased: saves too little for write protection, two moves
 * and a cold receive a page.
 */
Test(policy, first_alias_by_destination_state)
{
	const uintptr_t in_site = 0x413000;

	originals_ended(in_site, 1, true, 4);
	cr_assert(zio_policy_first_alias(in_site, 0x9000, 16, 0, 0), "fresh");
	cr_assert_not(zio_policy_first_alias(in_site, 0x9000, 16, 16, 0), "populated");
	cr_assert_not(zio_policy_first_alias(in_site, 0x9000, 16, 0, 16), "aliased");
	/* half fresh is enough: 8 * 1900 + 8 * 170 against ~8000 + 1400 */
	cr_assert(zio_policy_first_alias(in_site, 0x9000, 16, 8, 0), "half fresh");
}

/*
 * With redirected inputs (UFFDIO_MOVE) a retired original costs a cold
 * receive and re-aliasing a page, no protection and no moves: one copy
 * of a 128-page message into an aliased destination (a pooled server's
 * reused buffer) pays; 16 pages still do not (the fixed costs), nor do
 * fewer whole pages than a redirect takes, weighed as before.
 */
Test(policy, first_alias_of_a_retired_original_with_redirected_inputs)
{
	const uintptr_t in_site = 0x418000;

	originals_ended(in_site, 1, true, 4);
	cr_assert_not(zio_policy_first_alias(in_site, 0x9000, 128, 0, 128), "no redirect");
	zio_policy_redirects = true;
	cr_assert(zio_policy_first_alias(in_site, 0x9000, 128, 0, 128), "128 pages aliased");
	cr_assert_not(zio_policy_first_alias(in_site, 0x9000, 16, 0, 16), "16 pages aliased");
	cr_assert_not(zio_policy_first_alias(in_site, 0x9000, 128, 128, 0), "128 populated");
	cr_assert(zio_policy_first_alias(in_site, 0x9000, 3, 0, 0), "3 fresh");
	/* an original that lives out its aliases: protection on and off */
	originals_ended(in_site + 0x1000, 1, false, 4);
	cr_assert(zio_policy_first_alias(in_site + 0x1000, 0x9000, 128, 0, 128));
}

/*
 * The same 128-page aliased destination, one copy per retired original,
 * redirected inputs: a destination the copy site wrote less than
 * HOT_BYTES of copies ago (a pool of two buffers) is hot: in the cache,
 * and refilling its alias pages a once-only cost, so the first alias is
 * declined; one of a deep pool (not among the site's recent destinations,
 * or used longer ago) is still made.
 */
Test(policy, first_alias_into_a_hot_destination_is_declined)
{
	const uintptr_t in_site = 0x419000, site = 0x9100;
	const uint64_t msg = 128 * P;
	const uintptr_t a = 0x7f0000000000, b = a + msg;

	zio_policy_redirects = true;
	originals_ended(in_site, 1, true, 4);
	zio_policy_destination(site, a, msg);
	cr_assert(zio_policy_first_alias(in_site, site, 128, 0, 128), "first use of a");
	zio_policy_destination(site, b, msg);
	cr_assert(zio_policy_first_alias(in_site, site, 128, 0, 128), "first use of b");
	zio_policy_destination(site, a, msg);
	cr_assert_not(zio_policy_first_alias(in_site, site, 128, 0, 128), "a again, hot");
	/* HOT_BYTES of other destinations later, a is cold again */
	for (uintptr_t d = b + msg; d < b + msg + HOT_BYTES; d += msg)
		zio_policy_destination(site, d, msg);
	zio_policy_destination(site, a, msg);
	cr_assert(zio_policy_first_alias(in_site, site, 128, 0, 128), "a after HOT_BYTES, cold");
	/* another site's destinations are its own */
	zio_policy_destination(site + 0x10, a, msg);
	cr_assert(zio_policy_first_alias(in_site, site + 0x10, 128, 0, 128), "other site");
}

/*
 * Copies made for real are timed (copy.c): once a copy site has TIMED_MIN
 * samples, what they took a page replaces NS_COPY_POPULATED.  The pooled
 * echo server's single copy of 128 pages into an aliased buffer, elided
 * with the constant (128 * (170 + 80) against the cold receive and the
 * alias), is declined where such a copy takes 100 ns a page (a pool that
 * fits this machine's cache) and still made where it takes 300.
 */
static bool weigh_aliased(uintptr_t in_site, uintptr_t site, uint64_t pages)
{
	return zio_policy_later_alias(site, pages, 0, pages) &&
	       zio_policy_first_alias(in_site, site, pages, 0, pages);
}

static void timed_copies(uintptr_t site, uint64_t pages, double ns_a_page, int n)
{
	for (int i = 0; i < n; i++) {
		zio_policy_later_alias(site, pages, 0, pages);  /* the copy weighed */
		zio_policy_copy_timed(site, pages * P, (uint64_t)(ns_a_page * (double)pages));
	}
}

Test(policy, a_sites_timed_copies_replace_the_copy_constant)
{
	const uintptr_t in_site = 0x41a000, cheap = 0x9200, dear = 0x9300;

	zio_policy_redirects = true;
	originals_ended(in_site, 1, true, 4);
	cr_assert(weigh_aliased(in_site, cheap, 128), "the constant: elided");
	timed_copies(cheap, 128, 100, TIMED_MIN - 1);
	cr_assert(weigh_aliased(in_site, cheap, 128), "%d samples: still the constant",
		  TIMED_MIN - 1);
	timed_copies(cheap, 128, 100, 1);
	cr_assert_not(weigh_aliased(in_site, cheap, 128), "100 ns a page: declined");
	timed_copies(dear, 128, 300, TIMED_MIN);
	cr_assert(weigh_aliased(in_site, dear, 128), "300 ns a page: elided");
}

/* A copy whose destination had fresh pages, or that took more than
 * TIMED_MAX a page (preempted), is no sample. */
Test(policy, fresh_destinations_and_preempted_copies_are_no_sample)
{
	const uintptr_t in_site = 0x41b000, site = 0x9400;

	zio_policy_redirects = true;
	originals_ended(in_site, 1, true, 4);
	for (int i = 0; i < TIMED_MIN; i++) {
		zio_policy_later_alias(site, 128, 0, 64);       /* half fresh */
		zio_policy_copy_timed(site, 128 * P, 128 * 100);
	}
	timed_copies(site, 128, TIMED_MAX + 1, TIMED_MIN);
	timed_copies(site, 128, 100, TIMED_MIN - 1);
	cr_assert(weigh_aliased(in_site, site, 128), "%d samples only", TIMED_MIN - 1);
	/* a copy that was elided is no sample either */
	zio_policy_later_alias(site, 128, 0, 128);
	zio_policy_elided(site, 128 * P);
	zio_policy_copy_timed(site, 128 * P, 128 * 100);
	cr_assert(weigh_aliased(in_site, site, 128), "still %d samples", TIMED_MIN - 1);
	timed_copies(site, 128, 100, 1);
	cr_assert_not(weigh_aliased(in_site, site, 128), "%d samples", TIMED_MIN);
}

/* A site that elides gets no timed copies by itself: where the saving
 * is within TIME_MARGIN of the cost, one elidable copy in TIME_LEARN is
 * made for real while the site learns; a clear saving (fresh pages) never. */
Test(policy, a_marginal_site_makes_one_copy_in_time_learn_for_real)
{
	const uintptr_t in_site = 0x41c000, site = 0x9500;
	int declined = 0;

	zio_policy_redirects = true;
	originals_ended(in_site, 1, true, 4);
	for (int i = 1; i <= 2 * TIME_LEARN; i++) {
		bool made = weigh_aliased(in_site, site, 128);

		cr_assert(made == (i % TIME_LEARN != 0), "copy %d", i);
		declined += !made;
	}
	cr_assert_eq(declined, 2);
	for (int i = 0; i < 2 * TIME_LEARN; i++)
		cr_assert(zio_policy_later_alias(site, 128, 0, 0) &&
			  zio_policy_first_alias(in_site, site, 128, 0, 0), "fresh %d", i);
}

/* What the original costs is paid once, whatever its copies: a populated
 * destination pays from k copies per original on, where
 *   k * save > cost + k * (NS_ALIAS_FIXED + pages * NS_ALIAS). */
static unsigned k_that_pays(bool retired, uint64_t pages)
{
	double save = (double)pages * NS_COPY_POPULATED;
	double cost = NS_ORIGIN_FIXED + (double)pages * (NS_WP + (retired ?
			2 * NS_MOVE + NS_COLD : NS_UNWP));
	double alias = NS_ALIAS_FIXED + (double)pages * NS_ALIAS;

	return (unsigned)floor(cost / (save - alias)) + 1;
}

Test(policy, first_alias_by_copies_per_original)
{
	for (int retired = 0; retired <= 1; retired++) {
		unsigned k = k_that_pays(retired, 16);
		uintptr_t below = 0x414000 + retired * 0x2000, at = below + 0x1000;

		cr_assert(k > 1 && k < 20, "k=%u", k);
		originals_ended(below, k - 1, retired, 4);
		originals_ended(at, k, retired, 4);
		cr_assert_not(zio_policy_first_alias(below, 0x9000, 16, 16, 0), "k=%u retired=%d",
			      k - 1, retired);
		cr_assert(zio_policy_first_alias(at, 0x9000, 16, 16, 0), "k=%u retired=%d", k,
			  retired);
	}
	/* the pooled case (retired) costs more: it needs more copies */
	cr_assert_gt(k_that_pays(true, 16), k_that_pays(false, 16));
}

/* A copy site whose populated destinations get freed pays, per alias,
 * moving their pages aside and populated ones back (NS_PARK_ROUND a
 * page); one whose destinations are copied over again does not. */
Test(policy, first_alias_charges_the_release_of_populated_destinations)
{
	const uintptr_t in_site = 0x418000, freed = 0x9000, reused = 0xa000;
	unsigned k = k_that_pays(true, 16);

	originals_ended(in_site, k, true, 4);
	zio_policy_alias_end(freed, 16, true);
	zio_policy_alias_end(reused, 16, false);
	cr_assert(zio_policy_first_alias(in_site, reused, 16, 16, 0));
	cr_assert_not(zio_policy_first_alias(in_site, freed, 16, 16, 0));
	/* a fresh destination has nothing to park */
	cr_assert(zio_policy_first_alias(in_site, freed, 16, 0, 0));
}

/* present + aliased never exceed pages: the excess is taken off present
 * (a destination counted twice would make "fresh" pages out of nothing). */
Test(policy, first_alias_clamps_present_pages)
{
	const uintptr_t in_site = 0x419000;

	originals_ended(in_site, 1, true, 4);
	cr_assert_not(zio_policy_first_alias(in_site, 0x9000, 16, 16, 16));
	cr_assert_not(zio_policy_first_alias(in_site, 0x9000, 16, 16, 8));
}

/* A declined input site is still explored one first alias in EXPLORE; an
 * explore after which it is still declined doubles the interval, up to
 * EXPLORE_MAX. */
Test(policy, declined_site_is_explored_with_a_doubling_interval)
{
	const uintptr_t in_site = 0x41a000;
	unsigned every = EXPLORE;

	originals_ended(in_site, 1, true, 4);
	for (int round = 0; round < 8; round++) {
		for (unsigned i = 1; i < every; i++)
			cr_assert_not(zio_policy_first_alias(in_site, 0x9000, 16, 16, 0),
				      "round %d, decision %u of %u", round, i, every);
		cr_assert(zio_policy_first_alias(in_site, 0x9000, 16, 16, 0),
			  "round %d: decision %u explores", round, every);
		cr_assert_eq(zio_stats.policy_explores, (uint64_t)round + 1);
		every = every * 2 > EXPLORE_MAX ? EXPLORE_MAX : every * 2;
	}
	cr_assert_eq(every, EXPLORE_MAX, "the rounds reached the cap");
}

/* A decision that pays resets the interval to EXPLORE. */
Test(policy, a_decision_that_pays_resets_the_explore_interval)
{
	const uintptr_t in_site = 0x41b000;

	originals_ended(in_site, 1, true, 4);
	for (int i = 0; i < EXPLORE + 2 * EXPLORE; i++)   /* explores at 64 and 192 */
		zio_policy_first_alias(in_site, 0x9000, 16, 16, 0);
	cr_assert_eq(zio_stats.policy_explores, 2);
	cr_assert(zio_policy_first_alias(in_site, 0x9000, 16, 0, 0), "a fresh one pays");
	for (int i = 1; i < EXPLORE; i++)
		cr_assert_not(zio_policy_first_alias(in_site, 0x9000, 16, 16, 0));
	cr_assert(zio_policy_first_alias(in_site, 0x9000, 16, 16, 0), "explored after 64");
	cr_assert_eq(zio_stats.policy_explores, 3);
}

/* ------------------------------------------------------------ later aliases */

/* Populated destinations that the program frees: a later alias saves a
 * populated copy and pays its parking round trip: declined, explored one
 * in EXPLORE.  Without release data, or fresh, or reused: made. */
Test(policy, later_alias_by_release_rate)
{
	const uintptr_t freed = 0x420000, reused = 0x421000, unknown = 0x422000;

	zio_policy_alias_end(freed, 16, true);
	zio_policy_alias_end(reused, 16, false);
	cr_assert(zio_policy_later_alias(unknown, 16, 16, 0));
	cr_assert(zio_policy_later_alias(reused, 16, 16, 0));
	cr_assert(zio_policy_later_alias(freed, 16, 0, 0), "fresh");
	for (int i = 1; i < EXPLORE; i++)
		cr_assert_not(zio_policy_later_alias(freed, 16, 16, 0), "decision %d", i);
	cr_assert(zio_policy_later_alias(freed, 16, 16, 0), "one in %d explored", EXPLORE);
	cr_assert_eq(zio_stats.policy_declined, EXPLORE - 1);
	/* its freed aliases left vacant, the next copy into the same block
	 * finds them as absent pages with nothing to park: made */
	cr_assert(zio_policy_later_alias(freed, 16, 0, 16), "vacant");
}

/* A small copy into a destination that is all aliases already (a UDP
 * server's receive buffer, 16 KiB datagrams) replaces the alias in the
 * index, no system call: made.  The same four pages populated pay a
 * park and the fixed cost of the system calls: declined. */
Test(policy, later_alias_over_an_alias_pays_no_fixed_cost)
{
	const uintptr_t site = 0x423000;

	zio_policy_alias_end(site, 4, false);
	cr_assert(zio_policy_later_alias(site, 4, 0, 4), "4 pages over an alias");
	cr_assert_not(zio_policy_later_alias(site, 4, 4, 0), "4 populated pages");
	cr_assert_not(zio_policy_later_alias(site, 4, 1, 3), "one of them populated");
}

/* ------------------------------------------------------------ vacant pages */

/* Freed aliases are left vacant until touching vacant pages costs more
 * than three quarters of what re-aliasing them saved; then refilled, one
 * in EXPLORE still left vacant; savings bring it back. */
Test(policy, vacant_while_touches_cost_less_than_reuse_saves)
{
	int vacated = 0;

	cr_assert(zio_policy_vacate(), "nothing learned yet: vacant");
	/* one fault against 64 pages re-aliased: 20 us < 0.75 * 32 us */
	zio_policy_vacant_reused(64);
	zio_policy_vacant_touched();
	cr_assert(zio_policy_vacate());
	/* a second fault: 40 us > 24 us */
	zio_policy_vacant_touched();
	for (int i = 0; i < 2 * EXPLORE; i++)
		vacated += zio_policy_vacate();
	cr_assert_eq(vacated, 2, "one in %d left vacant while refilling", EXPLORE);
	/* 64 more pages re-aliased: 40 us < 0.75 * 64 us */
	zio_policy_vacant_reused(64);
	cr_assert(zio_policy_vacate());
}

/* While freed aliases stay vacant a populated destination page costs
 * only its park (250 ns), and vacant pages count as alias pages (a copy
 * into them would have cost a refill, 80 ns, as well).  For a site whose
 * destinations are all freed: 16 populated pages save 16 * 170 = 2720 ns
 * against 1000 + 16 * 25 + 16 * 250 = 5400 (declined); 12 populated and
 * 4 vacant save 2720 + 4 * 80 = 3040 against 1000 + 400 + 12 * 250 = 4400
 * (declined); 16 vacant save 2720 + 1280 = 4000 against 1400 (made). */
Test(policy, vacant_pages_count_as_alias_pages)
{
	const uintptr_t freed = 0x470000;

	zio_policy_alias_end(freed, 16, true);
	cr_assert_not(zio_policy_later_alias(freed, 16, 16, 0));
	cr_assert_not(zio_policy_later_alias(freed, 16, 12, 4));
	cr_assert(zio_policy_later_alias(freed, 16, 0, 16));
}

/* ------------------------------------------------------------ noted inputs */

/* Every input site starts tracked; tracking installs the index's
 * origin-end hook through which the policy learns. */
Test(policy, track_input_installs_the_origin_end_hook)
{
	const uintptr_t in_site = 0x430000;
	struct zio_origin o = { .kind = ZIO_ORIGIN_APP, .in_site = in_site, .copies = 1 };

	cr_assert_null(zio_index_origin_end);
	cr_assert(zio_policy_track_input(in_site, 100 * P, 104 * P));
	cr_assert_not_null(zio_index_origin_end);
	for (int i = 0; i < 4; i++)
		zio_index_origin_end(&o);
	/* learned through the hook: k = 1, never retired: declined for a
	 * populated destination */
	cr_assert_not(zio_policy_first_alias(in_site, 0x9000, 16, 16, 0));
}

/* A declined site's inputs are only noted, by page (partial pages too). */
Test(policy, a_declined_sites_inputs_are_noted_not_tracked)
{
	const uintptr_t in_site = 0x431000;
	const uintptr_t a = 100 * P + 10, b = 104 * P + 1;   /* pages 100-104 */

	originals_ended(in_site, 1, true, 4);
	cr_assert_not(zio_policy_first_alias(in_site, 0x9000, 16, 16, 0));
	cr_assert_not(atomic_load(&zio_lazy_live));
	cr_assert_not(zio_policy_track_input(in_site, a, b));
	cr_assert(atomic_load(&zio_lazy_live));
	cr_assert_eq(zio_stats.policy_untracked, 1);
	cr_assert_eq(zio_policy_noted_input(a, b), in_site);
	cr_assert_eq(zio_policy_noted_input(100 * P, 105 * P), in_site, "whole pages");
	cr_assert_eq(zio_policy_noted_input(104 * P + 100, 104 * P + 200), in_site);
	cr_assert_eq(zio_policy_noted_input(100 * P, 106 * P), 0, "page 105 is not noted");
	cr_assert_eq(zio_policy_noted_input(99 * P, 101 * P), 0, "page 99 is not noted");
	cr_assert_eq(zio_policy_noted_input(200 * P, 201 * P), 0);
	/* a later decision that pays tracks the site's inputs again */
	cr_assert(zio_policy_first_alias(in_site, 0x9000, 16, 0, 0));
	cr_assert(zio_policy_track_input(in_site, 300 * P, 301 * P));
}

/* A site whose originals end without an elided copy (an EWMA below
 * USEFUL_MIN after USEFUL_ENDS ends) is noted only, though not declined. */
Test(policy, useless_originals_stop_being_tracked)
{
	const uintptr_t in_site = 0x432000;

	originals_ended(in_site, 0, false, USEFUL_ENDS - 1);
	cr_assert(zio_policy_track_input(in_site, 10 * P, 11 * P), "too few ends to judge");
	originals_ended(in_site, 0, false, 1);
	cr_assert_not(zio_policy_track_input(in_site, 10 * P, 11 * P));
	cr_assert_eq(zio_policy_noted_input(10 * P, 11 * P), in_site);
}

Test(policy, originals_with_some_copies_stay_tracked)
{
	const uintptr_t in_site = 0x433000;

	/* one original in five copied: the share stays above USEFUL_MIN */
	for (int i = 0; i < 10 * USEFUL_ENDS; i++)
		originals_ended(in_site, i % 5 == 0, false, 1);
	cr_assert(zio_policy_track_input(in_site, 10 * P, 11 * P));
	/* then none copied for a while: it drops below */
	originals_ended(in_site, 0, false, 40);
	cr_assert_not(zio_policy_track_input(in_site, 10 * P, 11 * P));
}

/* A noted range belongs to one site: a copy spanning two sites' notes is
 * no first alias of either. */
Test(policy, noted_input_names_one_site)
{
	const uintptr_t s1 = 0x434000, s2 = 0x435000;

	originals_ended(s1, 0, false, USEFUL_ENDS);
	originals_ended(s2, 0, false, USEFUL_ENDS);
	cr_assert_not(zio_policy_track_input(s1, 10 * P, 15 * P));
	cr_assert_not(zio_policy_track_input(s2, 15 * P, 20 * P));
	cr_assert_eq(zio_policy_noted_input(10 * P, 15 * P), s1);
	cr_assert_eq(zio_policy_noted_input(15 * P, 20 * P), s2);
	cr_assert_eq(zio_policy_noted_input(10 * P, 20 * P), 0);
	/* a later input over the same pages takes them */
	cr_assert_not(zio_policy_track_input(s2, 10 * P, 15 * P));
	cr_assert_eq(zio_policy_noted_input(10 * P, 20 * P), s2);
}

/* Forgetting drops the notes of whole pages only: a partly rewritten
 * page may still hold input. */
Test(policy, forget_noted_drops_whole_pages)
{
	const uintptr_t in_site = 0x436000;

	originals_ended(in_site, 0, false, USEFUL_ENDS);
	cr_assert_not(zio_policy_track_input(in_site, 10 * P, 20 * P));
	cr_assert(zio_policy_maybe_noted(11 * P, 12 * P));
	zio_policy_forget_noted(10 * P + 1, 20 * P);
	cr_assert_eq(zio_policy_noted_input(10 * P, 11 * P), in_site, "page 10 partly kept");
	for (uintptr_t p = 11; p < 20; p++) {
		cr_assert_eq(zio_policy_noted_input(p * P, (p + 1) * P), 0, "page %lu",
			     (unsigned long)p);
		cr_assert_not(zio_policy_maybe_noted(p * P, (p + 1) * P));
	}
	cr_assert(zio_policy_maybe_noted(10 * P, 11 * P));
	/* no whole page in the range: nothing to ask */
	cr_assert_not(zio_policy_maybe_noted(10 * P + 1, 11 * P + 5));
	zio_policy_forget_noted(10 * P, 11 * P);
	cr_assert_eq(zio_policy_noted_input(10 * P, 11 * P), 0);
}

/* The table is indexed by page modulo LAZY_SLOTS: a colliding page takes
 * the slot, and the older note is gone rather than misread. */
Test(policy, a_colliding_page_replaces_a_note)
{
	const uintptr_t s1 = 0x437000, s2 = 0x438000;
	const uintptr_t p = 1000, q = p + LAZY_SLOTS;

	originals_ended(s1, 0, false, USEFUL_ENDS);
	originals_ended(s2, 0, false, USEFUL_ENDS);
	cr_assert_not(zio_policy_track_input(s1, p * P, (p + 1) * P));
	cr_assert_not(zio_policy_track_input(s2, q * P, (q + 1) * P));
	cr_assert_eq(zio_policy_noted_input(p * P, (p + 1) * P), 0);
	cr_assert_eq(zio_policy_noted_input(q * P, (q + 1) * P), s2);
	/* forgetting p does not drop q's note in the same slot */
	zio_policy_forget_noted(p * P, (p + 1) * P);
	cr_assert_eq(zio_policy_noted_input(q * P, (q + 1) * P), s2);
}

/* ------------------------------------------------------------ destination state */

/* A site's mincore answer is reused PRESENT_REUSE times, scaled to the
 * copy's pages, then asked again. */
Test(policy, present_hint_reuses_the_last_mincore_answer)
{
	const uintptr_t site = 0x440000;
	uint64_t present = 99;

	cr_assert_not(zio_policy_present_hint(site, 8, &present), "never measured");
	zio_policy_present_seen(site, 0, 0);     /* no pages: no answer */
	cr_assert_not(zio_policy_present_hint(site, 8, &present));
	zio_policy_present_seen(site, 4, 1);     /* a quarter populated */
	for (int i = 0; i < PRESENT_REUSE; i++) {
		uint64_t pages = i % 2 ? 8 : 10;

		cr_assert(zio_policy_present_hint(site, pages, &present), "use %d", i);
		cr_assert_eq(present, pages == 8 ? 2 : 3, "%lu pages: %lu",
			     (unsigned long)pages, (unsigned long)present);
	}
	cr_assert_not(zio_policy_present_hint(site, 8, &present), "time to ask mincore");
}

/* ------------------------------------------------------------ always, fork */

Test(policy, policy_always_elides_everything)
{
	char *env[] = { "ZIO_POLICY=always", NULL };
	const uintptr_t site = 0x450000, in_site = 0x451000;
	uint64_t present;

	zio_options_load(env);
	cr_assert_not(zio_opt.adaptive);
	zio_policy_present_seen(site, 16, 0);
	cr_assert_not(zio_policy_present_hint(site, 16, &present));
	elide(site, MIN_SAMPLE_PAGES);
	zio_policy_touched(site, 100, 100);
	cr_assert(zio_policy_allow(site, 1 << 16));
	originals_ended(in_site, 1, true, 4);
	zio_policy_alias_end(site, 16, true);
	cr_assert(zio_policy_first_alias(in_site, site, 16, 16, 0));
	cr_assert(zio_policy_later_alias(site, 16, 16, 0));
	originals_ended(in_site, 0, false, USEFUL_ENDS);
	cr_assert(zio_policy_track_input(in_site, 10 * P, 11 * P));
	cr_assert_eq(zio_stats.policy_skips + zio_stats.policy_declined +
		     zio_stats.policy_untracked, 0);
}

/* The child of a fork learns afresh: back-offs, declines, destination
 * states and notes of the parent are gone. */
Test(policy, fork_child_starts_afresh)
{
	const uintptr_t site = 0x460000, in_site = 0x461000;
	uint64_t present;

	zio_policy_present_seen(site, 16, 0);
	elide(site, MIN_SAMPLE_PAGES);
	zio_policy_touched(site, 100, 100);
	originals_ended(in_site, 1, true, 4);
	cr_assert_not(zio_policy_first_alias(in_site, 0x9000, 16, 16, 0));
	cr_assert_not(zio_policy_track_input(in_site, 10 * P, 12 * P));
	cr_assert_eq(zio_policy_noted_input(10 * P, 12 * P), in_site);
	cr_assert_not(zio_policy_allow(site, 1 << 16));

	zio_policy_fork_child();
	cr_assert_not(atomic_load(&zio_lazy_live));
	cr_assert_eq(zio_policy_noted_input(10 * P, 12 * P), 0);
	cr_assert(zio_policy_allow(site, 1 << 16), "no back-off inherited");
	cr_assert_not(zio_policy_present_hint(site, 16, &present));
	cr_assert(zio_policy_first_alias(in_site, 0x9000, 16, 16, 0), "learning again");
	cr_assert(zio_policy_track_input(in_site, 10 * P, 12 * P));
	/* and it learns the same way */
	originals_ended(in_site, 1, true, 4);
	cr_assert_not(zio_policy_first_alias(in_site, 0x9000, 16, 16, 0));
}
