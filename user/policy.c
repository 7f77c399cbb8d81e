// SPDX-License-Identifier: MIT
/*
 * Adaptive elision policy, per call site.  Eliding pays only when the
 * program leaves what it copied untouched: every materialised page costs
 * a fault round trip (~10 us) against a copy of ~0.1-0.3 us per page.
 * A call site whose aliases get touched more than half the time stops
 * being elided for a while (exponential back-off), then is retried, so a
 * program that touches everything runs at its plain speed.
 * All calls are made under the runtime lock.
 */
#include "zio_internal.h"
#include "probes.h"

#define SITES 4096           /* power of two */
#define MIN_SAMPLE_PAGES 32
#define MAX_BACKOFF 4096

struct site {
	uintptr_t ip;
	uint64_t elided_pages, touched_pages;
	uint32_t skip_left, backoff;
};

static struct site sites[SITES];

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

ZIO_HIDDEN void zio_policy_elided(uintptr_t ip, uint64_t bytes)
{
	struct site *s = lookup(ip);

	if (!s)
		return;
	s->elided_pages += bytes / ZIO_PAGE;
	if (s->elided_pages > 65536) {
		/* forget slowly: recent behaviour counts most */
		s->elided_pages /= 2;
		s->touched_pages /= 2;
		if (s->backoff > 16)
			s->backoff /= 2;
	}
}

ZIO_HIDDEN void zio_policy_touched(uintptr_t ip, uint64_t pages)
{
	struct site *s = lookup(ip);

	if (!s || !zio_opt.adaptive)
		return;
	s->touched_pages += pages;
	if (s->elided_pages >= MIN_SAMPLE_PAGES && s->touched_pages * 2 > s->elided_pages) {
		s->backoff = s->backoff ? (s->backoff * 2 > MAX_BACKOFF ? MAX_BACKOFF : s->backoff * 2)
					: 16;
		s->skip_left = s->backoff;
		s->elided_pages = s->touched_pages = 0;
	}
}

ZIO_HIDDEN void zio_policy_reset(void)
{
	for (unsigned i = 0; i < SITES; i++)
		sites[i] = (struct site){ 0 };
}
