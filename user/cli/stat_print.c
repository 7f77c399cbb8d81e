// SPDX-License-Identifier: MIT
/*
 * stat_print.c - one interval of zio-stat, as text (the histogram drawn
 * like bcc's print_log2_hist in trace_helpers.c) or as one JSON object
 * with the names of the --stats line.  See stat.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "observe.h"
#include "stat.h"
#include "util.h"

/* ---------------------------------------------------------------- names */

static const char *const mat_names[ZIO_MAT_MAX] = {
	[0] = "unknown",
	[ZIO_MAT_LOAD] = "load",
	[ZIO_MAT_STORE] = "store",
	[ZIO_MAT_WRITE_ORIG] = "write_orig",
	[ZIO_MAT_RELEASE] = "release",
	[ZIO_MAT_INPUT] = "input",
	[ZIO_MAT_OVERWRITE] = "overwrite",
	[ZIO_MAT_FORK] = "fork",
	[ZIO_MAT_EVICT] = "evict",
};

static const char *const fb_names[ZIO_FB_MAX] = {
	[0] = "unknown",
	[ZIO_FB_REGISTER] = "register",
	[ZIO_FB_MOVE] = "move",
	[ZIO_FB_COPY] = "copy",
	[ZIO_FB_WP] = "wp",
	[ZIO_FB_ALLOC] = "alloc",
	[ZIO_FB_CAP] = "cap",
	[ZIO_FB_LOST] = "lost",
};

/* ---------------------------------------------------------------- latency */

/* Returns the sum of the n counters at v. */
static __u64 sum(const __u64 *v, int n)
{
	__u64 t = 0;

	for (int i = 0; i < n; i++)
		t += v[i];
	return t;
}

/* The p-th percentile (0 < p < 100) of a log2 histogram in ns, linearly
 * interpolated inside its slot; 0 when empty. */
static double percentile(const __u64 *lat, double p)
{
	__u64 total = sum(lat, ZIO_OBS_LAT_SLOTS), cum = 0;
	double want;

	if (!total)
		return 0;
	want = p / 100.0 * (double)total;
	for (int s = 0; s < ZIO_OBS_LAT_SLOTS; s++) {
		double lo = s ? (double)(1ULL << s) : 0, hi = (double)(2ULL << s);

		if (!lat[s])
			continue;
		if ((double)(cum + lat[s]) >= want)
			return lo + (hi - lo) * (want - (double)cum) / (double)lat[s];
		cum += lat[s];
	}
	return 0;
}

/* The histogram as bcc's print_log2_hist draws it.  Returns nothing. */
static void print_hist(const __u64 *lat)
{
	int first = -1, last = -1;
	__u64 max = 0;

	for (int s = 0; s < ZIO_OBS_LAT_SLOTS; s++) {
		if (!lat[s])
			continue;
		if (first < 0)
			first = s;
		last = s;
		if (lat[s] > max)
			max = lat[s];
	}
	if (first < 0)
		return;
	printf("  %25s : count    distribution\n", "fault latency (ns)");
	for (int s = first; s <= last; s++) {
		unsigned long long lo = s ? 1ULL << s : 0, hi = (2ULL << s) - 1;
		int stars = (int)(lat[s] * 40 / max);

		printf("  %11llu -> %-10llu : %-8llu |%-40.*s|\n", lo, hi,
		       (unsigned long long)lat[s], stars,
		       "****************************************");
	}
	printf("  p50 %.1f us  p99 %.1f us\n", percentile(lat, 50) / 1000,
	       percentile(lat, 99) / 1000);
}

/* ---------------------------------------------------------------- output */

/* Writes b as B, KiB, MiB or GiB into buf.  Returns buf. */
static const char *human(__u64 b, char *buf, size_t n)
{
	if (b >= 1ULL << 30)
		snprintf(buf, n, "%.1f GiB", (double)b / (1ULL << 30));
	else if (b >= 1ULL << 20)
		snprintf(buf, n, "%.1f MiB", (double)b / (1ULL << 20));
	else if (b >= 1ULL << 10)
		snprintf(buf, n, "%.1f KiB", (double)b / (1ULL << 10));
	else
		snprintf(buf, n, "%llu B", (unsigned long long)b);
	return buf;
}

/* Prints ": name count, ..." of the non-zero counters, unknown (slot 0)
 * last, and a newline.  Returns nothing. */
static void print_by(const char *const *names, const __u64 *v, int n)
{
	bool any = false;

	for (int i = 1; i <= n; i++) {
		int k = i % n;  /* unknown (slot 0) last */

		if (!v[k])
			continue;
		printf("%s %s %llu", any ? "," : ":", names[k], (unsigned long long)v[k]);
		any = true;
	}
	printf("\n");
}

void zio_stat__print_text(struct zio_stat *s, const struct zio_stat_snap *d,
			  const struct zio_stat_print_opts *o)
{
	const struct zio_obs_counters *c = &d->c;
	char b1[32], b2[32];
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	if (o->timestamp) {
		strftime(b1, sizeof(b1), "%H:%M:%S", &tm);
		printf("%s  ", b1);
	}
	printf("[%zu process%s]\n", zio_stat__nr_pids(s), zio_stat__nr_pids(s) == 1 ? "" : "es");
	printf("  elided        %llu copies, %s\n", (unsigned long long)c->elided_copies,
	       human(c->elided_bytes, b1, sizeof(b1)));
	printf("  materialized  %llu pages",
	       (unsigned long long)sum(c->materialized_pages, ZIO_MAT_MAX));
	print_by(mat_names, c->materialized_pages, ZIO_MAT_MAX);
	printf("  fallbacks     %llu", (unsigned long long)sum(c->fallbacks, ZIO_FB_MAX));
	print_by(fb_names, c->fallbacks, ZIO_FB_MAX);
	printf("  faults        %llu\n", (unsigned long long)c->faults);
	printf("  outputs       %llu served from originals, %s of %s from originals\n",
	       (unsigned long long)c->outputs, human(c->output_bytes_from_origin, b1, sizeof(b1)),
	       human(c->output_bytes, b2, sizeof(b2)));
	printf("  retired       %llu copied, %llu moved, %s\n",
	       (unsigned long long)c->retired_copy, (unsigned long long)c->retired_move,
	       human(c->retired_bytes, b1, sizeof(b1)));
	printf("  redirected    %llu inputs, %s of their buffers aliased\n",
	       (unsigned long long)c->inputs_redirected,
	       human(c->redirected_bytes, b1, sizeof(b1)));
	printf("  policy skips  %llu\n", (unsigned long long)c->policy_skips);
	if (c->lost)
		printf("  lost updates  %llu (a BPF map was full)\n", (unsigned long long)c->lost);
	print_hist(d->lat);
	if (o->top && d->nsites) {
		printf("  %-52s %7s %7s %10s %9s %6s\n", "CALL SITE", "PID", "ELIDED", "BYTES",
		       "MAT.PAGES", "SKIPS");
		for (size_t i = 0; i < d->nsites && i < (size_t)o->top; i++) {
			const struct zio_stat_site *st = &d->sites[i];
			struct zio_stat_site_name n;
			char where[sizeof(n.sym) + sizeof(n.bin) + sizeof(n.line) + 4];

			zio_stat__name_site(s, st, &n);
			snprintf(where, sizeof(where), "%s [%s]%s%s", n.sym, n.bin,
				 n.line[0] ? " " : "", n.line);
			printf("  %-52s %7u %7llu %10s %9llu %6llu\n", where, st->k.pid,
			       (unsigned long long)st->v.elided_copies,
			       human(st->v.elided_bytes, b1, sizeof(b1)),
			       (unsigned long long)st->v.materialized_pages,
			       (unsigned long long)st->v.policy_skips);
		}
	}
	printf("\n");
	fflush(stdout);
}

void zio_stat__print_json(struct zio_stat *s, const struct zio_stat_snap *d,
			  const struct zio_stat_print_opts *o, double interval_s)
{
	const struct zio_obs_counters *c = &d->c;
	struct timespec ts;
	char tbuf[32];
	time_t t;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = ts.tv_sec;
	localtime_r(&t, &tm);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
	printf("{\"time\":\"%s\",\"interval_s\":%.3f,\"pids\":[", tbuf, interval_s);
	for (size_t i = 0; i < zio_stat__nr_pids(s); i++)
		printf("%s%d", i ? "," : "", (int)zio_stat__pid(s, i));
	printf("],\"elided_copies\":%llu,\"elided_bytes\":%llu",
	       (unsigned long long)c->elided_copies, (unsigned long long)c->elided_bytes);
	printf(",\"materialized_pages\":%llu,\"materialized_by_cause\":{",
	       (unsigned long long)sum(c->materialized_pages, ZIO_MAT_MAX));
	for (int i = 0; i < ZIO_MAT_MAX; i++)
		printf("%s\"%s\":%llu", i ? "," : "", mat_names[i],
		       (unsigned long long)c->materialized_pages[i]);
	printf("},\"fallbacks\":%llu,\"fallbacks_by_reason\":{",
	       (unsigned long long)sum(c->fallbacks, ZIO_FB_MAX));
	for (int i = 0; i < ZIO_FB_MAX; i++)
		printf("%s\"%s\":%llu", i ? "," : "", fb_names[i],
		       (unsigned long long)c->fallbacks[i]);
	printf("},\"faults\":%llu,\"outputs_substituted\":%llu,\"output_bytes\":%llu,"
	       "\"output_bytes_from_origin\":%llu,\"retired_copy\":%llu,\"retired_move\":%llu,"
	       "\"retired_bytes\":%llu,\"inputs_redirected\":%llu,\"redirected_bytes\":%llu,"
	       "\"policy_skips\":%llu,\"lost_updates\":%llu",
	       (unsigned long long)c->faults, (unsigned long long)c->outputs,
	       (unsigned long long)c->output_bytes,
	       (unsigned long long)c->output_bytes_from_origin,
	       (unsigned long long)c->retired_copy, (unsigned long long)c->retired_move,
	       (unsigned long long)c->retired_bytes, (unsigned long long)c->inputs_redirected,
	       (unsigned long long)c->redirected_bytes, (unsigned long long)c->policy_skips,
	       (unsigned long long)c->lost);
	printf(",\"fault_latency_ns\":{\"count\":%llu,\"p50\":%.0f,\"p99\":%.0f,\"hist\":[",
	       (unsigned long long)sum(d->lat, ZIO_OBS_LAT_SLOTS), percentile(d->lat, 50),
	       percentile(d->lat, 99));
	for (int k = 0, first = 1; k < ZIO_OBS_LAT_SLOTS; k++) {
		if (!d->lat[k])
			continue;
		printf("%s{\"lo\":%llu,\"hi\":%llu,\"count\":%llu}", first ? "" : ",",
		       k ? 1ULL << k : 0ULL, (2ULL << k) - 1, (unsigned long long)d->lat[k]);
		first = 0;
	}
	printf("]},\"sites\":[");
	for (size_t i = 0; i < d->nsites && i < (size_t)o->top; i++) {
		const struct zio_stat_site *st = &d->sites[i];
		struct zio_stat_site_name n;

		zio_stat__name_site(s, st, &n);
		printf("%s{\"pid\":%u,\"ip\":\"0x%llx\",\"sym\":", i ? "," : "", st->k.pid,
		       (unsigned long long)st->k.ip);
		zio_print_json_str(n.sym);
		printf(",\"bin\":");
		zio_print_json_str(n.bin);
		printf(",\"line\":");
		zio_print_json_str(n.line);
		printf(",\"elided_copies\":%llu,\"elided_bytes\":%llu,\"materialized_pages\":%llu,"
		       "\"policy_skips\":%llu}",
		       (unsigned long long)st->v.elided_copies,
		       (unsigned long long)st->v.elided_bytes,
		       (unsigned long long)st->v.materialized_pages,
		       (unsigned long long)st->v.policy_skips);
	}
	printf("]}\n");
	fflush(stdout);
}

