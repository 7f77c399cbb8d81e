// SPDX-License-Identifier: MIT
/*
 * Settings of the runtime: a table of ZIO_* names with defaults, read
 * straight from the environment block at start-up (no getenv, no malloc:
 * the constructor may run before libc is fully set up for us).  A bad
 * value gets one warning and the default, never a failure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zio.h"
#include "zio_internal.h"

ZIO_HIDDEN struct zio_options zio_opt = {
	.threshold = ZIO_DEFAULT_THRESHOLD,
	.input_min = 4096,
	.pool_max = 256ULL << 20,
	.max_aliases = 1ULL << 20,
	.adaptive = true,
};

enum opt_kind { OPT_BOOL, OPT_BYTES, OPT_COUNT, OPT_LEVEL, OPT_POLICY, OPT_PATH };

struct opt_desc {
	const char *name;
	enum opt_kind kind;
	void *dst;
	uint64_t min, max;
};

static int zio_log_level_opt = -1;

static const struct opt_desc opt_table[] = {
	{ ZIO_ENV_OFF,         OPT_BOOL,  &zio_opt.off, 0, 1 },
	{ ZIO_ENV_STATS,       OPT_BOOL,  &zio_opt.stats, 0, 1 },
	{ ZIO_ENV_THRESHOLD,   OPT_BYTES, &zio_opt.threshold, 4096, 1ULL << 40 },
	{ ZIO_ENV_POOL_MAX,    OPT_BYTES, &zio_opt.pool_max, 0, 1ULL << 40 },
	{ ZIO_ENV_MAX_ALIASES, OPT_COUNT, &zio_opt.max_aliases, 1, 1ULL << 32 },
	{ ZIO_ENV_LOG,         OPT_LEVEL, &zio_log_level_opt, 0, 3 },
	{ ZIO_ENV_POLICY,      OPT_POLICY, &zio_opt.adaptive, 0, 1 },
	{ ZIO_ENV_LOG_FILE,    OPT_PATH,  NULL, 0, 0 },
	{ ZIO_ENV_LOG_RATE,    OPT_COUNT, &zio_log_rate, 0, 1ULL << 32 },
};

ZIO_HIDDEN const char *zio_env_get(char **envp, const char *name)
{
	size_t n = strlen(name);

	if (!envp)
		return NULL;
	for (char **e = envp; *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* Parse digits with an optional K/M/G suffix.  Returns 0 or -EINVAL. */
static int parse_u64(const char *s, bool suffix, uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (!*p)
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		return -EINVAL;
	if (suffix) {
		switch (*p) {
		case 'k': case 'K': mul = 1ULL << 10; p++; break;
		case 'm': case 'M': mul = 1ULL << 20; p++; break;
		case 'g': case 'G': mul = 1ULL << 30; p++; break;
		}
	}
	if (*p)
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static void apply(const struct opt_desc *d, const char *val)
{
	uint64_t v;

	switch (d->kind) {
	case OPT_PATH:
		zio_log_open(val);
		return;
	case OPT_BOOL:
		if (!strcmp(val, "1") || !strcmp(val, "yes") || !strcmp(val, "true"))
			*(bool *)d->dst = true;
		else if (!strcmp(val, "0") || !strcmp(val, "no") || !strcmp(val, "false") || !*val)
			*(bool *)d->dst = false;
		else
			pr_warn("invalid %s='%.40s' (expected 0 or 1): using default", d->name, val);
		return;
	case OPT_POLICY:
		if (!strcmp(val, "adaptive"))
			zio_opt.adaptive = true;
		else if (!strcmp(val, "always"))
			zio_opt.adaptive = false;
		else
			pr_warn("invalid %s='%.40s' (expected adaptive or always): using default",
				d->name, val);
		return;
	case OPT_BYTES:
	case OPT_COUNT:
	case OPT_LEVEL:
		if (parse_u64(val, d->kind == OPT_BYTES, &v) || v < d->min || v > d->max) {
			pr_warn("invalid %s='%.40s' (expected %s %llu..%llu): using default",
				d->name, val, d->kind == OPT_BYTES ? "bytes" : "a number",
				(unsigned long long)d->min, (unsigned long long)d->max);
			return;
		}
		if (d->kind == OPT_LEVEL)
			*(int *)d->dst = (int)v;
		else
			*(uint64_t *)d->dst = v;
		return;
	}
}

ZIO_HIDDEN void zio_options_load(char **envp)
{
	const char *v;

	/* Where and how much to log first, so that warnings about the other
	 * values obey it. */
	for (size_t i = 0; i < sizeof(opt_table) / sizeof(opt_table[0]); i++)
		if (opt_table[i].kind == OPT_LEVEL || opt_table[i].kind == OPT_PATH)
			if ((v = zio_env_get(envp, opt_table[i].name)))
				apply(&opt_table[i], v);
	if (zio_log_level_opt >= 0)
		zio_log_level = zio_log_level_opt;
	for (size_t i = 0; i < sizeof(opt_table) / sizeof(opt_table[0]); i++) {
		if (opt_table[i].kind == OPT_LEVEL || opt_table[i].kind == OPT_PATH)
			continue;
		v = zio_env_get(envp, opt_table[i].name);
		if (v)
			apply(&opt_table[i], v);
	}
	/* An input smaller than a page can never back a whole alias page. */
	if (zio_opt.input_min > zio_opt.threshold)
		zio_opt.input_min = zio_opt.threshold;
}
