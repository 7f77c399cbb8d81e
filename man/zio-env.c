// SPDX-License-Identifier: MIT
/*
 * zio-env — the ENVIRONMENT section of zio-run(1), printed from the
 * runtime's own table of ZIO_* settings (base/options.c, opt_table,
 * through zio_options_each), so that the man page lists every variable
 * with the default the runtime applies and cannot drift from it.
 *
 * Output: a help2man include fragment ("[ENVIRONMENT]" then one .TP
 * entry per variable), appended after the prose of man/zio-run.h2m.
 * Built and run at build time only; never installed.
 */
#include <stdio.h>
#include <string.h>

#include "base/options.h"

/* s as roff text: backslashes doubled, '-' as \- (no hyphenation of
 * names and ranges), a leading '.' or '\'' protected. */
static void roff(const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", stdout);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-')
			fputs("\\-", stdout);
		else
			putchar(*s);
	}
}

static void row(const char *name, const char *dflt, const char *what, void *ctx)
{
	int *n = ctx;

	printf(".TP\n.B %s\n", name);
	roff(what);
	if (*dflt) {
		fputs(" (default: ", stdout);
		roff(dflt);
		fputs(")", stdout);
	} else {
		fputs(" (default: unset)", stdout);
	}
	putchar('\n');
	(*n)++;
}

int main(void)
{
	int n = 0;

	puts("[ENVIRONMENT]");
	zio_options_each(row, &n);
	if (ferror(stdout) || fflush(stdout)) {
		perror("zio-env: failed to write");
		return 1;
	}
	return n == 0;
}
