// SPDX-License-Identifier: MIT
/*
 * trace_report.c - zio-trace's table: the "sites" map read, each call
 * site symbolised from the target's last maps, and printed as text (like
 * the "IO copy call sites" table of the zIO paper, OSDI '22) or JSON.
 * See trace_cli.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "trace.h"
#include "trace.skel.h"
#include "trace_priv.h"
#include "util.h"

struct row {
	struct zio_trace_site_key key;
	struct zio_trace_site_val val;
	char site[256];
	char bin[128];
	char line[128];		/* "file.c:123" (JSON only), or "" */
	const char *fn;
};

/* The rows and their sums, as the text and JSON forms print them. */
struct table {
	struct row *rows;
	size_t nr, n_app, n_io, n_el;
	__u64 app_calls, el_calls, el_bytes, app_bytes, io_calls, io_bytes;
	__u64 ops;		/* what the per-operation counts divide by */
	bool ops_given;		/* --ops, else the input calls */
};

/* x per operation of the table. */
static double per_op(const struct table *tb, __u64 x)
{
	return tb->ops ? (double)x / (double)tb->ops : 0;
}

/* qsort order of rows: app sites first, then by bytes, then by ip.
 * Returns <0, 0 or >0. */
static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->key.kind != y->key.kind)
		return x->key.kind < y->key.kind ? -1 : 1;
	if (x->val.bytes != y->val.bytes)
		return x->val.bytes > y->val.bytes ? -1 : 1;
	return x->key.ip < y->key.ip ? -1 : x->key.ip > y->key.ip;
}

/* Reads every entry of the sites map (fd) into tb->rows.  Returns 0, or
 * -errno with a message on stderr. */
static int read_sites(int fd, struct table *tb)
{
	struct zio_trace_site_key key, next, *prev = NULL;
	struct row *r;
	int err;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		r = realloc(tb->rows, (tb->nr + 1) * sizeof(*tb->rows));
		if (!r)
			return -ENOMEM;
		tb->rows = r;
		r = &tb->rows[tb->nr];
		memset(r, 0, sizeof(*r));
		r->key = next;
		if (bpf_map_lookup_elem(fd, &next, &r->val)) {
			err = -errno;
			pr_warn("zio-trace: failed to look up site: %s\n", strerror(-err));
			return err;
		}
		tb->nr++;
		key = next;
		prev = &key;
	}
	if (errno != ENOENT) {	/* the walk ends in ENOENT, else it failed */
		err = -errno;
		pr_warn("zio-trace: failed to walk sites: %s\n", strerror(-err));
		return err;
	}
	return 0;
}

/* Names every row's site, binary, source line and function, adds up the
 * sums and sorts the rows.  Returns nothing. */
static void name_rows(struct zio_tracer *t, struct zio_syms *syms, struct table *tb)
{
	for (size_t i = 0; i < tb->nr; i++) {
		struct row *r = &tb->rows[i];
		bool app = r->key.kind == ZIO_TRACE_APP;

		zio_syms__symbolise(syms, t->maps, r->key.ip, r->site, sizeof(r->site), r->bin,
				    sizeof(r->bin));
		zio_syms__line(syms, t->maps, r->key.ip, r->line, sizeof(r->line));
		/* The name the program called, when its call goes through a
		 * PLT slot of a function zio-trace probes. */
		r->fn = zio_tracer__fn_name(r->key.fn,
					    zio_syms__plt_callee(syms, t->maps, r->key.ip), app);
		if (app) {
			tb->n_app++;
			tb->n_el += r->val.elide_calls != 0;
			tb->app_calls += r->val.calls;
			tb->app_bytes += r->val.bytes;
			tb->el_calls += r->val.elide_calls;
			tb->el_bytes += r->val.elide_bytes;
		} else {
			tb->n_io++;
			tb->io_calls += r->val.calls;
			tb->io_bytes += r->val.bytes;
		}
	}
	tb->ops_given = t->o.ops != 0;
	tb->ops = tb->ops_given ? t->o.ops : t->skel->bss->totals.in_calls;
	if (tb->nr)   /* rows is NULL when nothing was traced */
		qsort(tb->rows, tb->nr, sizeof(*tb->rows), row_cmp);
}

/* The table as one JSON object on stdout.  Returns nothing. */
static void print_json(const struct zio_tracer *t, const struct table *tb)
{
	const struct zio_trace_totals *tot = &t->skel->bss->totals;

	printf("{\"pid\":%d,\"children\":%d,\"comm\":", (int)t->pid, t->nr_children);
	zio_print_json_str(t->comm);
	printf(",\"threshold\":%llu,\"io_input_bytes\":%llu,"
	       "\"io_input_calls\":%llu,\"copies\":%llu,"
	       "\"io_copies\":%llu,\"lost\":%llu,\"sites\":[",
	       (unsigned long long)t->o.threshold,
	       (unsigned long long)tot->in_bytes,
	       (unsigned long long)tot->in_calls,
	       (unsigned long long)tot->copies,
	       (unsigned long long)tot->io_copies,
	       (unsigned long long)tot->lost);
	for (size_t i = 0; i < tb->nr; i++) {
		const struct row *r = &tb->rows[i];

		printf("%s{\"kind\":\"%s\",\"fn\":\"%s\",\"site\":",
		       i ? "," : "",
		       r->key.kind == ZIO_TRACE_APP ? "app" : "iostack",
		       r->fn);
		zio_print_json_str(r->site);
		printf(",\"binary\":");
		zio_print_json_str(r->bin);
		printf(",\"line\":");
		zio_print_json_str(r->line);
		printf(",\"ip\":%llu,\"calls\":%llu,\"bytes\":%llu,"
		       "\"elidable_calls\":%llu,\"elidable_bytes\":%llu,"
		       "\"calls_per_op\":%.4f,\"bytes_per_op\":%.1f}",
		       (unsigned long long)r->key.ip,
		       (unsigned long long)r->val.calls,
		       (unsigned long long)r->val.bytes,
		       (unsigned long long)r->val.elide_calls,
		       (unsigned long long)r->val.elide_bytes,
		       per_op(tb, r->val.calls), per_op(tb, r->val.bytes));
	}
	printf("],\"summary\":{\"app_sites\":%zu,\"iostack_sites\":%zu,"
	       "\"elidable_sites\":%zu,"
	       "\"app_copies\":%llu,\"elidable_copies\":%llu,"
	       "\"elidable_bytes\":%llu,\"io_copies\":%llu,\"app_bytes\":%llu,"
	       "\"io_bytes\":%llu,\"ops\":%llu,\"ops_from\":\"%s\","
	       "\"app_copies_per_op\":%.4f,\"app_bytes_per_op\":%.1f,"
	       "\"io_copies_per_op\":%.4f,\"io_bytes_per_op\":%.1f}}\n",
	       tb->n_app, tb->n_io, tb->n_el,
	       (unsigned long long)tb->app_calls,
	       (unsigned long long)tb->el_calls,
	       (unsigned long long)tb->el_bytes, (unsigned long long)tb->io_calls,
	       (unsigned long long)tb->app_bytes, (unsigned long long)tb->io_bytes,
	       (unsigned long long)tb->ops,
	       tb->ops_given ? "option" : "input_calls", per_op(tb, tb->app_calls),
	       per_op(tb, tb->app_bytes), per_op(tb, tb->io_calls), per_op(tb, tb->io_bytes));
}

/* The table as text on stdout.  Returns nothing. */
static void print_text(const struct zio_tracer *t, const struct table *tb)
{
	const struct zio_trace_totals *tot = &t->skel->bss->totals;

	printf("IO copy call sites of PID %d (%s)", (int)t->pid, t->comm);
	if (t->nr_children)
		printf(" and %d child%s", t->nr_children, t->nr_children > 1 ? "ren" : "");
	printf(", threshold %llu\n", (unsigned long long)t->o.threshold);
	printf("IO input: %llu bytes in %llu calls; copies seen: %llu, of IO "
	       "data: %llu\n", (unsigned long long)tot->in_bytes,
	       (unsigned long long)tot->in_calls,
	       (unsigned long long)tot->copies,
	       (unsigned long long)tot->io_copies);
	printf("  %-8s %-13s %-44s %8s %12s %9s %9s %8s\n", "KIND", "FUNC",
	       "CALL SITE", "CALLS", "BYTES", "IO-SHARE", "ELIDABLE", "PER-OP");
	for (size_t i = 0; i < tb->nr; i++) {
		const struct row *r = &tb->rows[i];
		char where[sizeof(r->site) + sizeof(r->bin) + 4], el[24];
		double share;

		snprintf(where, sizeof(where), "%s (%s)", r->site, r->bin);
		share = tot->in_bytes ? 100.0 * r->val.bytes / tot->in_bytes : 0;
		if (r->key.kind == ZIO_TRACE_APP)
			snprintf(el, sizeof(el), "%llu",
				 (unsigned long long)r->val.elide_calls);
		else
			snprintf(el, sizeof(el), "-");
		printf("  %-8s %-13s %-44s %8llu %12llu %8.1f%% %9s %8.3f\n",
		       r->key.kind == ZIO_TRACE_APP ? "app" : "iostack", r->fn,
		       where, (unsigned long long)r->val.calls,
		       (unsigned long long)r->val.bytes, share, el, per_op(tb, r->val.calls));
	}
	printf("summary: app copy sites=%zu io-stack sites=%zu; zio would elide "
	       "%llu of %llu copies (%llu bytes) at threshold %llu, at %zu "
	       "sites\n", tb->n_app, tb->n_io, (unsigned long long)tb->el_calls,
	       (unsigned long long)tb->app_calls, (unsigned long long)tb->el_bytes,
	       (unsigned long long)t->o.threshold, tb->n_el);
	printf("per operation (%llu ops, %s): app copies %.3f (%.0f bytes), io-stack copies "
	       "%.3f (%.0f bytes)\n", (unsigned long long)tb->ops,
	       tb->ops_given ? "--ops" : "one per input call", per_op(tb, tb->app_calls),
	       per_op(tb, tb->app_bytes), per_op(tb, tb->io_calls), per_op(tb, tb->io_bytes));
	if (tot->lost || tot->truncated)
		printf("warning: %llu map updates lost, %llu ranges truncated\n",
		       (unsigned long long)tot->lost,
		       (unsigned long long)tot->truncated);
	if (!tot->copies && !tot->in_calls)
		printf("warning: no copy or input call seen (an idle "
		       "program, a static binary, or another libc than %s?)\n",
		       t->libc_path);
}

int zio_tracer__report(struct zio_tracer *t)
{
	int fd = bpf_map__fd(t->skel->maps.sites), err;
	struct table tb = {};
	struct zio_syms *syms;

	if (fd < 0) {
		pr_warn("zio-trace: failed to get the sites map: %s\n", strerror(-fd));
		return fd;
	}
	syms = zio_syms__new();
	if (!syms)
		return -ENOMEM;
	err = read_sites(fd, &tb);
	if (!err) {
		name_rows(t, syms, &tb);
		if (t->o.json)
			print_json(t, &tb);
		else
			print_text(t, &tb);
	}
	fflush(stdout);
	free(tb.rows);
	zio_syms__free(syms);
	return err;
}

void zio_tracer__reset(struct zio_tracer *t)
{
	int fd = bpf_map__fd(t->skel->maps.sites);
	struct zio_trace_site_key key;

	while (fd >= 0 && !bpf_map_get_next_key(fd, NULL, &key))
		if (bpf_map_delete_elem(fd, &key))
			break;
	/* IO input stays: its data is still marked, and later copies of
	 * it are shares of it */
	t->skel->bss->totals.copies = 0;
	t->skel->bss->totals.io_copies = 0;
	t->skel->bss->totals.out_calls = 0;
}
