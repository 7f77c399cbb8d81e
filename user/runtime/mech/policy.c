// SPDX-License-Identifier: MIT
/*
 * Adaptive elision policy.  Two questions, both learned as the program
 * runs, both made under the runtime lock:
 *
 * 1. Per copy call site: are its aliases left untouched?  Every
 *    materialised page costs a fault round trip (15-36 us here) and a
 *    fill, against what the elided copy saved: ~0.2 us a page into a
 *    populated destination, ~2 us into a fresh one (the copy faults
 *    every page in).  A site whose touches cost more than three quarters
 *    of what its elisions saved stops being elided for a while
 *    (exponential back-off), then is retried.  So a program that reads
 *    10% of the pages of fresh reply buffers keeps its elisions (3.2x
 *    plain in the echo sweep), one that reads every other page does not.
 *
 * 2. Per input call site: does eliding copies of what it receives pay?
 *    The first alias of an original costs write protection, and if the
 *    buffer is received into again while aliases live (a pooled server)
 *    two page moves and a cold receive (its hot pages went to the
 *    shadow), or only the cold receive where that input is redirected
 *    (origin_page_ns); every further alias is nearly free and saves a
 *    whole copy.
 *    So it pays when the original gets enough copies: k, the copies per
 *    original, and how often originals retire are learned per input site
 *    and weighed with the cost constants measured by tools/microbench
 *    (ns per page).  Declined sites are still explored one first alias in
 *    EXPLORE, so the estimate follows the program; an explore that
 *    leaves the site declined doubles that interval (up to EXPLORE_MAX:
 *    an explored original costs its write protection and, when the
 *    program receives into it again, a fault), one that pays resets it.
 *    While a site is declined its inputs do not become originals: an
 *    original nobody aliases only costs index work, and live regions
 *    send every free, realloc and input through the index (redis SET of
 *    64 KiB values: 5% of the server's time).  Their pages are only
 *    noted in a page-indexed table (two stores per page); a large copy
 *    whose source is all noted pages of one site is then weighed as the
 *    first alias of an original of that site, and made one if it pays.
 *    What one copy site declines another may take later: redis declines
 *    the AOF copies of a SET's value, and takes the GET's copy of the
 *    same value into a fresh reply buffer, maybe minutes later.
 */
#include "base/log.h"
#include "base/options.h"
#include "base/probes.h"
#include "mech/policy.h"
#include "mech/policy_cost.h"
#include "mech/stats.h"

struct site {
	uintptr_t ip;
	uint64_t elided_pages;
	double saved_ns;        /* what its elided copies would have cost */
	double touch_ns;        /* what the touches of its aliases cost */
	double released, reused; /* alias pages freed vs copied over again */
	double present_frac;    /* share of its destinations' pages populated */
	bool present_known;     /* present_frac was measured at least once */
	uint32_t present_left;  /* uses of present_frac before mincore again */
	uint32_t skip_left, backoff;
	uint32_t later_declines;  /* later aliases declined (explore one in EXPLORE) */
	/* its recent destinations: where each started, and copied_bytes
	 * then (a destination used again within HOT_BYTES is hot) */
	uint64_t copied_bytes;
	struct { uintptr_t dst; uint64_t at; } recent[HOT_SLOTS];
	bool dst_hot;             /* the destination being weighed now */
	/* its copies made for real, timed (zio_policy_copy_timed) */
	double copy_page_ns;      /* EWMA, ns a page into populated memory */
	uint32_t timed;           /* samples in it */
	uint32_t since_sample;    /* elidable copies since a sampled one */
	bool timeable;            /* the copy being weighed: no fresh page */
};

static struct site sites[SITES];

struct insite {
	uintptr_t ip;
	uint32_t samples, since_explore;
	uint32_t explore_every;  /* 0: EXPLORE */
	bool explored;           /* an explore ran since the last decision */
	bool declined;           /* the last decision declined: inputs noted only */
	uint32_t ends;           /* originals ended (saturating) */
	double useful;           /* EWMA: share of them that had an elided copy */
	double k, retire;      /* EWMA of copies per original, retire rate */
};

static struct insite insites[SITES];

static struct insite *in_lookup(uintptr_t ip)
{
	uint64_t h = (uint64_t)ip * 0x9E3779B97F4A7C15ULL;

	for (unsigned i = 0; i < 16; i++) {
		struct insite *s = &insites[((h >> 52) + i) & (SITES - 1)];

		if (s->ip == ip)
			return s;
		if (!s->ip) {
			s->ip = ip;
			return s;
		}
	}
	return NULL;
}

ZIO_HIDDEN void zio_policy_origin_end(const struct zio_origin *o, bool retired)
{
	struct insite *s;

	if (o->kind != ZIO_ORIGIN_APP || !o->in_site || !(s = in_lookup(o->in_site)))
		return;
	s->useful = s->ends ? 0.9 * s->useful + (o->copies ? 0.1 : 0.0) : (o->copies ? 1.0 : 0.0);
	if (s->ends < UINT32_MAX)
		s->ends++;
	if (!o->copies)
		return;
	if (!s->samples) {
		s->k = o->copies;
		s->retire = retired;
	} else {
		s->k = 0.8 * s->k + 0.2 * o->copies;
		s->retire = 0.8 * s->retire + 0.2 * (retired ? 1.0 : 0.0);
	}
	if (s->samples < UINT32_MAX)
		s->samples++;
}

static void origin_end_cb(const struct zio_origin *o)
{
	zio_policy_origin_end(o, false);
}

static struct site *lookup(uintptr_t ip);

/* An alias of site ended: freed/unmapped (the destination was short
 * lived) or replaced by a new alias (a reused buffer). */
ZIO_HIDDEN void zio_policy_alias_end(uintptr_t ip, uint64_t pages, bool released)
{
	struct site *s = lookup(ip);

	if (!s)
		return;
	if (released)
		s->released += (double)pages;
	else
		s->reused += (double)pages;
	if (s->released + s->reused > 65536) {
		s->released /= 2;
		s->reused /= 2;
	}
}

/*
 * Vacant pages: the pages of an alias the program frees stay absent
 * instead of getting populated pages back, so that the next copy into the
 * same buffer (an allocator hands the recycled reply buffer out again)
 * parks nothing either.  What that saved (a park and a refill a page) is
 * weighed against what the program's own touches of vacant pages cost (a
 * fault round trip each, alias.c refilling the whole extent): above
 * TOUCH_LIMIT of it freed aliases are refilled again, one in EXPLORE
 * still left vacant so that the balance keeps being learned.
 */
static double vac_saved_ns, vac_touch_ns;
static uint32_t vac_refills;

static void vacant_halve(void)
{
	if (vac_saved_ns + vac_touch_ns > VACANT_HALVE) {
		vac_saved_ns /= 2;
		vac_touch_ns /= 2;
	}
}

static bool vacating(void)
{
	return !zio_opt.adaptive || vac_touch_ns <= TOUCH_LIMIT * vac_saved_ns;
}

ZIO_HIDDEN bool zio_policy_vacate(void)
{
	return vacating() || ++vac_refills % EXPLORE == 0;
}

ZIO_HIDDEN void zio_policy_vacant_reused(uint64_t pages)
{
	vac_saved_ns += (double)pages * NS_PARK_ROUND;
	vacant_halve();
}

ZIO_HIDDEN void zio_policy_vacant_touched(void)
{
	vac_touch_ns += NS_FAULT;
	vacant_halve();
}

/* What parking a populated destination page costs an alias of a site
 * whose destinations are freed at `release` rate: a park and a refill,
 * or only the park while freed aliases stay vacant. */
static double park_ns(double release)
{
	return release * (vacating() ? NS_PARK_ROUND / 2 : NS_PARK_ROUND);
}

ZIO_HIDDEN bool zio_policy_present_hint(uintptr_t ip, uint64_t pages, uint64_t *present)
{
	struct site *s = zio_opt.adaptive ? lookup(ip) : NULL;

	if (!s || !s->present_left)
		return false;
	s->present_left--;
	*present = (uint64_t)(s->present_frac * (double)pages + 0.5);
	return true;
}

ZIO_HIDDEN void zio_policy_present_seen(uintptr_t ip, uint64_t pages, uint64_t present)
{
	struct site *s = lookup(ip);

	if (!s || !pages)
		return;
	s->present_frac = (double)present / (double)pages;
	s->present_known = true;
	s->present_left = PRESENT_REUSE;
}

/*
 * The system calls an alias costs whatever its size: registering its
 * destination, moving its populated pages aside.  A destination that is
 * all alias pages already needs neither: the new alias replaces the old
 * one in the index.  (A UDP server receiving 16 KiB datagrams from AF_XDP
 * frames into one buffer and copying it on: each alias then saves four
 * pages' copies, ~1 us, which the fixed charge had cancelled, so every
 * such copy was declined.)
 */
static double alias_fixed_ns(uint64_t pages, uint64_t aliased)
{
	return aliased >= pages ? 0 : NS_ALIAS_FIXED;
}

ZIO_HIDDEN bool zio_policy_redirects;

/*
 * Is [d, +bytes) a destination that copy site wrote less than HOT_BYTES
 * of copies ago?  Then it is likely still in the cache and a copy into it
 * is cheap: a pool of a few buffers.  Remembered for the decisions about
 * this copy (cs->dst_hot); the site's recent destinations are updated.
 */
ZIO_HIDDEN void zio_policy_destination(uintptr_t copy_site, uintptr_t d, uint64_t bytes)
{
	struct site *cs = zio_opt.adaptive ? lookup(copy_site) : NULL;
	unsigned slot = 0;

	if (!cs)
		return;
	/* d's slot, or the least recently used one (a few compares,
	 * beside a copy of the threshold's size or more) */
	for (unsigned i = 0; i < HOT_SLOTS; i++) {
		if (cs->recent[i].dst == d) {
			slot = i;
			break;
		}
		if (cs->recent[i].at < cs->recent[slot].at)
			slot = i;
	}
	cs->dst_hot = cs->recent[slot].dst == d &&
		      cs->copied_bytes - cs->recent[slot].at < HOT_BYTES;
	cs->copied_bytes += bytes;
	cs->recent[slot].dst = d;
	cs->recent[slot].at = cs->copied_bytes;
}

/*
 * What a copy of site cs into populated memory costs a page: what its
 * copies made for real took, once TIMED_MIN of them were timed, else the
 * model's constant.  The constant was measured on one machine and one
 * sitting; a copy into a pool of buffers that fits this machine's cache
 * takes less (echo, pooled, 512 KiB, one copy into 64 MiB a stage: ~105
 * ns a page on a 32 MiB-L3 EPYC, where elision then cost 1.11x plain
 * server CPU a message).
 */
static double populated_ns(const struct site *cs)
{
	return cs && cs->timed >= TIMED_MIN ? cs->copy_page_ns : NS_COPY_POPULATED;
}

/*
 * Is this elidable copy one to make for real and time?  Only where the
 * measure could turn the decision: a destination with no fresh page
 * (timeable) and a saving less than TIME_MARGIN times what eliding costs;
 * one in TIME_LEARN of them until the site has TIMED_MIN samples, then one
 * in TIME_EVERY, so that a change of the program's pattern is seen.
 * Declined copies are all timed (copy.c): this is for sites that elide.
 */
static bool sample_due(struct site *cs, double save, double cost)
{
	if (!cs || !cs->timeable || save > TIME_MARGIN * cost)
		return false;
	return ++cs->since_sample % (cs->timed < TIMED_MIN ? TIME_LEARN : TIME_EVERY) == 0;
}

ZIO_HIDDEN void zio_policy_copy_timed(uintptr_t copy_site, uint64_t bytes, uint64_t ns)
{
	struct site *cs = zio_opt.adaptive ? lookup(copy_site) : NULL;
	uint64_t pages = bytes / ZIO_PAGE;
	double per;

	if (!cs || !cs->timeable || pages < MIN_SAMPLE_PAGES)
		return;
	cs->timeable = false;
	per = (double)ns / (double)pages;
	/* a preempted copy says nothing about copies */
	if (per > TIMED_MAX)
		return;
	cs->copy_page_ns = cs->timed ? 0.8 * cs->copy_page_ns + 0.2 * per : per;
	if (cs->timed < UINT32_MAX)
		cs->timed++;
}

/*
 * What one copy into a destination of copy site cs costs the program, by
 * the state of its pages.  Alias pages are absent: a plain copy into them
 * would move populated pages in first.  Not so into a hot destination (a
 * small pool's buffer, used again soon): it is in the cache, and a
 * declined copy refills it once, after which it stays populated.  Pricing
 * it as a cold one with the moves every time kept a two-buffer pool's
 * buffers aliased for ever, because they were: echo, pooled, 512 KiB, one
 * copy, two buffers a stage: 1.12x plain server CPU a message (perf:
 * write protection on and off 9%, against a memmove of 11%); one copy
 * into one buffer a stage, two copies: 1.08x.
 */
static double copy_ns(const struct site *cs, uint64_t present, uint64_t aliased, uint64_t fresh)
{
	double populated = populated_ns(cs);

	if (cs && cs->dst_hot)
		return (double)(present + aliased) * (populated < NS_COPY_HOT ? populated : NS_COPY_HOT) +
		       (double)fresh * NS_COPY_FRESH;
	return (double)(present + aliased) * populated + (double)aliased * NS_MOVE +
	       (double)fresh * NS_COPY_FRESH;
}

/*
 * What an original costs a page, by how often the program receives into
 * its buffer again while aliases live (retire).  An original that lives
 * out its aliases costs write protection on and off.  A retired one:
 * when inputs can be redirected (UFFDIO_MOVE, at least
 * REDIRECT_MIN_PAGES whole pages), the next input into the aliased
 * buffer lands in populated spare pages, a cold receive, and the buffer
 * is aliased to it again; only the buffer's first original was write
 * protected (echo, pooled, one copy of 512 KiB: 1.08-1.17x plain CPU
 * per message under --policy always, which this used to decline).
 * Otherwise its pages move into a shadow and spare pages move back in.
 */
static double origin_page_ns(double retire, uint64_t pages)
{
	if (zio_policy_redirects && pages >= REDIRECT_MIN_PAGES)
		return retire * (NS_COLD + NS_ALIAS) + (1 - retire) * (NS_WP + NS_UNWP);
	return NS_WP + retire * (2 * NS_MOVE + NS_COLD) + (1 - retire) * NS_UNWP;
}

ZIO_HIDDEN bool zio_policy_first_alias(uintptr_t in_site, uintptr_t copy_site, uint64_t pages,
				       uint64_t present, uint64_t aliased)
{
	double release = 0;
	struct site *cs;
	struct insite *s;
	double save, cost;
	uint64_t fresh;

	if (!zio_opt.adaptive || !(s = in_lookup(in_site)) || s->samples < 4)
		return true;
	if (!s->explore_every)
		s->explore_every = EXPLORE;
	if (present + aliased > pages)
		present = pages - aliased;
	if ((cs = lookup(copy_site)) && cs->released + cs->reused > 0)
		release = cs->released / (cs->released + cs->reused);
	fresh = pages - present - aliased;
	/* what one copy into such a destination costs the program */
	save = copy_ns(cs, present, aliased, fresh);
	/* what the original costs us, whatever its number of copies */
	cost = NS_ORIGIN_FIXED + (double)pages * origin_page_ns(s->retire, pages);
	/* and what each alias costs: its index and registration; and for a
	 * populated destination that the program then frees (a short-lived
	 * buffer, such as redis's AOF buffer), moving its pages aside and
	 * populated pages back, every time (only aside while freed aliases
	 * stay vacant).  A reused buffer pays the move once and stays an
	 * alias: amortised. */
	cost += s->k * (alias_fixed_ns(pages, aliased) + (double)pages * NS_ALIAS +
			(double)present * park_ns(release));
	if (s->k * save > cost) {
		if (sample_due(cs, s->k * save, cost)) {
			ZIO_STAT_ADD(policy_declined, 1);
			return false;
		}
		s->explore_every = EXPLORE;
		s->explored = s->declined = false;
		return true;
	}
	if (s->explored) {
		s->explored = false;
		if (s->explore_every < EXPLORE_MAX)
			s->explore_every *= 2;
	}
	if (++s->since_explore >= s->explore_every) {
		s->since_explore = 0;
		s->explored = true;
		ZIO_STAT_ADD(policy_explores, 1);
		return true;
	}
	s->declined = true;
	pr_debug("policy: declined first alias (site %#lx: k=%.2f retire=%.2f, %llu pages: "
		 "%llu present %llu aliased)", (unsigned long)in_site, s->k, s->retire,
		 (unsigned long long)pages, (unsigned long long)present,
		 (unsigned long long)aliased);
	ZIO_STAT_ADD(policy_declined, 1);
	return false;
}

/*
 * A later alias of an original (not its first) saves a copy into the
 * destination and costs its index entry; and when the destination is
 * populated and the copy site's destinations get freed (a recycled reply
 * buffer), parking those pages and refilling them at the free, every
 * time.  Redis GET of 256 KiB at pipeline 1 is that case: its replies go
 * to recycled buffers, and eliding cost more server CPU than the copies,
 * until freed aliases were left vacant: the next reply's block is then
 * all vacant pages (counted as aliased), with nothing to park.
 * Declined copies are explored one in EXPLORE, so the release rate and
 * the destination state keep being learned.
 */
ZIO_HIDDEN bool zio_policy_later_alias(uintptr_t copy_site, uint64_t pages, uint64_t present,
				       uint64_t aliased)
{
	struct site *cs;
	double release, save, cost;

	if (!zio_opt.adaptive || !(cs = lookup(copy_site)))
		return true;
	if (present + aliased > pages)
		present = pages - aliased;
	/* the copy can be timed if it is made (zio_policy_copy_timed) */
	cs->timeable = present + aliased >= pages && pages >= MIN_SAMPLE_PAGES;
	if (cs->released + cs->reused <= 0)
		return true;
	release = cs->released / (cs->released + cs->reused);
	save = copy_ns(cs, present, aliased, pages - present - aliased);
	cost = alias_fixed_ns(pages, aliased) + (double)pages * NS_ALIAS +
	       (double)present * park_ns(release);
	if (save > cost || ++cs->later_declines % EXPLORE == 0)
		return true;
	ZIO_STAT_ADD(policy_declined, 1);
	return false;
}

/*
 * Inputs of declined sites, by page: slot (page & LAZY_MASK) holds the
 * page number << LAZY_SHIFT | (insite index + 1).  Consecutive pages
 * take consecutive slots, so 1 GiB of such input is remembered.  An entry
 * is a hint that its page held input, never trusted for bytes: aliasing
 * any page is correct, only less useful when the hint is stale.
 */
#define LAZY_MASK  (LAZY_SLOTS - 1)
#define LAZY_SHIFT 13                   /* SITES + 1 fits below */
static uint64_t lazy[LAZY_SLOTS];
ZIO_HIDDEN _Atomic bool zio_lazy_live;

/*
 * Should the input of [a, b) at in_site become an original?  Not while
 * the site is declined, nor while its originals end without an elided
 * copy (a program that copies its input in ways that cannot be elided,
 * e.g. redis's 16 KiB values into buffers at another page offset): its
 * pages are noted instead.
 */
ZIO_HIDDEN bool zio_policy_track_input(uintptr_t in_site, uintptr_t a, uintptr_t b)
{
	struct insite *s;
	uint64_t tag;

	/* every APP original starts here (or at a promotion of what this
	 * noted), so the policy hears of their ends from now on */
	zio_index_origin_end = origin_end_cb;
	if (!zio_opt.adaptive || !(s = in_lookup(in_site)) ||
	    (!s->declined && (s->ends < USEFUL_ENDS || s->useful >= USEFUL_MIN)))
		return true;
	tag = (uint64_t)(s - insites) + 1;
	for (uintptr_t p = pg_dn(a) / ZIO_PAGE; p < pg_up(b) / ZIO_PAGE; p++)
		lazy[p & LAZY_MASK] = (uint64_t)p << LAZY_SHIFT | tag;
	atomic_store_explicit(&zio_lazy_live, true, memory_order_relaxed);
	ZIO_STAT_ADD(policy_untracked, 1);
	return false;
}

/*
 * [a, b) stops holding input (freed, or overwritten by a plain copy):
 * forget the notes of its whole pages, so copies of what the memory holds
 * next are not weighed as copies of input.
 */
ZIO_HIDDEN void zio_policy_forget_noted(uintptr_t a, uintptr_t b)
{
	for (uintptr_t p = pg_up(a) / ZIO_PAGE; p < pg_dn(b) / ZIO_PAGE; p++)
		if (lazy[p & LAZY_MASK] >> LAZY_SHIFT == p)
			lazy[p & LAZY_MASK] = 0;
}

/* Is the first whole page of [a, b) noted?  (Read without the lock: a
 * hint for whether zio_policy_forget_noted is worth taking it.) */
ZIO_HIDDEN bool zio_policy_maybe_noted(uintptr_t a, uintptr_t b)
{
	uintptr_t p = pg_up(a) / ZIO_PAGE;

	return p < pg_dn(b) / ZIO_PAGE &&
	       __atomic_load_n(&lazy[p & LAZY_MASK], __ATOMIC_RELAXED) >> LAZY_SHIFT == p;
}

/* The input site whose noted input covers every page of [a, b), or 0. */
ZIO_HIDDEN uintptr_t zio_policy_noted_input(uintptr_t a, uintptr_t b)
{
	uintptr_t p = pg_dn(a) / ZIO_PAGE, e = pg_up(b) / ZIO_PAGE;
	uint64_t first = lazy[p & LAZY_MASK], tag = first & ((1u << LAZY_SHIFT) - 1);

	if (!tag || first >> LAZY_SHIFT != p)
		return 0;
	for (p++; p < e; p++)
		if (lazy[p & LAZY_MASK] != ((uint64_t)p << LAZY_SHIFT | tag))
			return 0;
	return insites[tag - 1].ip;
}

static struct site *lookup(uintptr_t ip)
{
	uint64_t h = (uint64_t)ip * 0x9E3779B97F4A7C15ULL;

	for (unsigned i = 0; i < 16; i++) {
		struct site *s = &sites[((h >> 52) + i) & (SITES - 1)];

		if (s->ip == ip)
			return s;
		if (!s->ip) {
			s->ip = ip;
			return s;
		}
	}
	return NULL; /* table crowded: no policy for this site */
}

ZIO_HIDDEN bool zio_policy_allow(uintptr_t ip, uint64_t bytes)
{
	struct site *s;

	(void)bytes;
	if (!zio_opt.adaptive || !(s = lookup(ip)))
		return true;
	if (s->skip_left) {
		s->skip_left--;
		ZIO_STAT_ADD(policy_skips, 1);
		ZIO_PROBE1(policy_skip, ip);
		return false;
	}
	return true;
}

/*
 * A redirected input aliased `bytes` of its buffer: credit what the plain
 * way would have cost them (moved out and back, protected and
 * unprotected).  The buffer's alias pages carry the input site, so a
 * program that reads what it received pays its faults to that site, which
 * is weighed like a copy site and backs off the same way
 * (zio_policy_allow, asked by zio_redirect_begin).
 */
ZIO_HIDDEN void zio_policy_redirected(uintptr_t in_site, uint64_t bytes)
{
	struct site *s = lookup(in_site);

	if (!s)
		return;
	s->elided_pages += bytes / ZIO_PAGE;
	s->saved_ns += (double)(bytes / ZIO_PAGE) * (2 * NS_MOVE + NS_WP + NS_UNWP);
}

ZIO_HIDDEN void zio_policy_elided(uintptr_t ip, uint64_t bytes)
{
	struct site *s = lookup(ip);
	double f;

	if (!s)
		return;
	f = s->present_known ? s->present_frac : 1.0;
	s->timeable = false;
	s->elided_pages += bytes / ZIO_PAGE;
	/* the destination's state as the site last saw it (unknown: as if
	 * populated, the cheaper copy) */
	s->saved_ns += (double)(bytes / ZIO_PAGE) * (f * populated_ns(s) +
						      (1 - f) * NS_COPY_FRESH);
	if (s->elided_pages > 65536) {
		/* forget slowly: recent behaviour counts most */
		s->elided_pages /= 2;
		s->saved_ns /= 2;
		s->touch_ns /= 2;
		if (s->backoff > 16)
			s->backoff /= 2;
	}
}

ZIO_HIDDEN void zio_policy_touched(uintptr_t ip, uint64_t faults, uint64_t pages)
{
	struct site *s = lookup(ip);

	if (!s || !zio_opt.adaptive)
		return;
	/* A fault costs as much as copying a hundred populated pages, or ten
	 * fresh ones: weigh what the touches cost against what the site's
	 * elisions saved, not their page counts. */
	s->touch_ns += (double)faults * NS_FAULT + (double)pages * NS_FILL;
	if (s->elided_pages >= MIN_SAMPLE_PAGES && s->touch_ns > s->saved_ns * TOUCH_LIMIT) {
		s->backoff = s->backoff ? (s->backoff * 2 > MAX_BACKOFF ? MAX_BACKOFF : s->backoff * 2)
					: 16;
		s->skip_left = s->backoff;
		pr_debug("policy: site %#lx backs off %u (saved %.0f ns, touches %.0f ns)",
			 (unsigned long)ip, s->backoff, s->saved_ns, s->touch_ns);
		s->elided_pages = 0;
		s->saved_ns = 0;
		s->touch_ns = 0;
	}
}

ZIO_HIDDEN void zio_policy_fork_child(void)
{
	for (unsigned i = 0; i < SITES; i++) {
		sites[i] = (struct site){ 0 };
		insites[i] = (struct insite){ 0 };
	}
	vac_saved_ns = vac_touch_ns = 0;
	vac_refills = 0;
	/* the notes name insites by index: forget them (lazily) */
	atomic_store(&zio_lazy_live, false);
}
