// SPDX-License-Identifier: MIT
/*
 * Settings of the runtime: one table of every ZIO_* name with its kind,
 * where it goes, its default and its range, read straight from the
 * environment block at start-up (no getenv, no malloc: the constructor
 * may run before libc is fully set up for us).  A bad value gets one
 * warning and the default, never a failure (mimalloc's options.c).
 *
 * Until the constructor has run, zio_opt is all zero: a threshold of 0
 * with no live region and elision inactive sends every call to libc.
 */
#include <errno.h>
#include <string.h>

#include "zio.h"
#include "zio_parse.h"
#include "steer.h"
#include "base/faultinject.h"
#include "base/log.h"
#include "base/options.h"
#include "base/real.h"

ZIO_HIDDEN struct zio_options zio_opt;

enum opt_kind {
	OPT_BOOL,    /* bool: 1/yes/true or 0/no/false/empty */
	OPT_BYTES,   /* uint64_t: digits with K/M/G */
	OPT_COUNT,   /* uint64_t: digits */
	OPT_INT,     /* int: digits, a leading - allowed when min < 0 */
	OPT_LEVEL,   /* int: the log level */
	OPT_POLICY,  /* bool adaptive: adaptive | always */
	OPT_TRI,     /* int: unset -1, 0 or 1 */
	OPT_STR,     /* char[max]: copied whole, or refused */
	OPT_MAC,     /* uint8_t[6]: 12 hex digits */
	OPT_LIST,    /* struct zio_int_list: comma-separated numbers in range */
	OPT_CALL,    /* parsed by fn (it warns itself) */
};

struct opt_desc {
	const char *name;
	enum opt_kind kind;
	void *dst;
	int64_t dflt;          /* numeric kinds */
	const char *sdflt;     /* OPT_STR */
	int64_t min, max;      /* range; OPT_STR: max is the buffer size */
	const char *what;      /* for the docs */
	void (*fn)(const char *val);
	/* the warning's "expected ..." when the range is better said in
	 * units of its own (then it names the default too) */
	const char *range;
};

static void load_fault_inject(const char *v) { zio_fault_inject_parse(v); }
static void load_log_file(const char *v) { zio_log_open(v); }

#define XO(f) (&zio_opt.xdp.f)

static const struct opt_desc opt_table[] = {
	/* logging first: the warnings about the others obey it */
	{ .name = ZIO_ENV_LOG, .kind = OPT_LEVEL, .dst = &zio_log_level, .dflt = ZIO_LOG_WARN,
	  .max = 3, .what = "0 quiet, 1 warnings, 2 info, 3 the debug trace" },
	{ .name = ZIO_ENV_LOG_FILE, .kind = OPT_CALL,
	  .what = "log to this file instead of stderr (%p: the pid)", .fn = load_log_file },
	{ .name = ZIO_ENV_LOG_RATE, .kind = OPT_COUNT, .dst = &zio_log_rate, .dflt = 2000,
	  .max = 1LL << 32, .what = "debug trace lines a second, 0: all" },
	{ .name = ZIO_ENV_OFF, .kind = OPT_BOOL, .dst = &zio_opt.off, .max = 1,
	  .what = "interpose, elide nothing" },
	{ .name = ZIO_ENV_STATS, .kind = OPT_BOOL, .dst = &zio_opt.stats, .max = 1,
	  .what = "print a line of counters when each process ends" },
	{ .name = ZIO_ENV_THRESHOLD, .kind = OPT_BYTES, .dst = &zio_opt.threshold,
	  .dflt = ZIO_DEFAULT_THRESHOLD, .min = 4096, .max = 1LL << 40,
	  .what = "the smallest copy elided (16K by default under zio-run --xdp)" },
	{ .name = ZIO_ENV_POOL_MAX, .kind = OPT_BYTES, .dst = &zio_opt.pool_max,
	  .dflt = 256LL << 20, .max = 1LL << 40, .what = "spare page memory kept" },
	{ .name = ZIO_ENV_MAX_ALIASES, .kind = OPT_COUNT, .dst = &zio_opt.max_aliases,
	  .dflt = 1LL << 20, .min = 1, .max = 1LL << 32, .what = "live alias records at most" },
	{ .name = ZIO_ENV_POLICY, .kind = OPT_POLICY, .dst = &zio_opt.adaptive, .dflt = 1,
	  .max = 1, .what = "adaptive (elide what pays) or always" },
	{ .name = ZIO_ENV_FAULT, .kind = OPT_CALL,
	  .what = "failure injection for tests: register,move,copy,wp,alloc[=rate]",
	  .fn = load_fault_inject },
	/* zio-run --xdp: what its loader set up (steer.h) */
	{ .name = ZIO_ENV_XDP_ABI, .kind = OPT_INT, .dst = XO(abi), .dflt = -1, .max = 1 << 30,
	  .what = "the loader's steering ABI" },
	{ .name = ZIO_ENV_XDP_IFACE, .kind = OPT_STR, .dst = XO(iface), .sdflt = "",
	  .max = sizeof(zio_opt.xdp.iface), .what = "the interface" },
	{ .name = ZIO_ENV_XDP_IFINDEX, .kind = OPT_INT, .dst = XO(ifindex), .min = 1,
	  .max = 1 << 30, .what = "its index" },
	{ .name = ZIO_ENV_XDP_MTU, .kind = OPT_INT, .dst = XO(mtu), .dflt = 1500, .min = 68,
	  .max = 65535, .what = "its MTU" },
	{ .name = ZIO_ENV_XDP_LINK_FD, .kind = OPT_INT, .dst = XO(link_fd), .dflt = -1, .min = -1,
	  .max = 1 << 20, .what = "the bpf_link descriptor, -1 none" },
	{ .name = ZIO_ENV_XDP_MODE, .kind = OPT_STR, .dst = XO(mode), .sdflt = "?",
	  .max = sizeof(zio_opt.xdp.mode), .what = "the attach mode obtained (drv, skb)" },
	{ .name = ZIO_ENV_XDP_PIN_DIR, .kind = OPT_STR, .dst = XO(pin_dir), .sdflt = "",
	  .max = sizeof(zio_opt.xdp.pin_dir), .what = "where the steering maps are pinned" },
	{ .name = ZIO_ENV_XDP_BIND, .kind = OPT_STR, .dst = XO(bind), .sdflt = "auto",
	  .max = sizeof(zio_opt.xdp.bind), .what = "AF_XDP bind: auto, copy or zc" },
	{ .name = ZIO_ENV_XDP_MAC, .kind = OPT_MAC, .dst = XO(mac),
	  .what = "the interface's MAC, 12 hex digits" },
	{ .name = ZIO_ENV_XDP_FRAMES, .kind = OPT_COUNT, .dst = XO(frames),
	  .dflt = ZIO_XDP_DEFAULT_FRAMES, .min = 64, .max = 1 << 22,
	  .what = "UMEM frames per queue" },
	{ .name = ZIO_ENV_XDP_RING, .kind = OPT_COUNT, .dst = XO(ring),
	  .dflt = ZIO_XDP_DEFAULT_RING, .min = 64, .max = 65536,
	  .what = "entries of each ring, a power of two" },
	{ .name = ZIO_ENV_XDP_CSUM, .kind = OPT_TRI, .dst = XO(csum), .dflt = -1, .max = 1,
	  .what = "UDP checksums: 0 none (IPv4), 1 in software; unset: offloaded where possible" },
	{ .name = ZIO_ENV_XDP_SPIN_US, .kind = OPT_COUNT, .dst = XO(spin_us), .dflt = 50,
	  .max = 10000, .what = "busy-poll budget before a blocking wait, in us",
	  .range = "0-10000 us" },
	{ .name = ZIO_ENV_XDP_QUEUES, .kind = OPT_LIST, .dst = XO(queues), .max = 1 << 16,
	  .what = "the receive queues served, 0,1,..." },
	{ .name = ZIO_ENV_XDP_PORTS, .kind = OPT_LIST, .dst = XO(ports), .min = 1, .max = 65535,
	  .what = "the UDP ports served, 9000,9001,..." },
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

/* Digits (and a leading '-' when allowed) into *out; 0 or -EINVAL. */
static int parse_int(const char *s, size_t n, bool neg_ok, int64_t *out)
{
	bool neg = n && *s == '-' && neg_ok;
	uint64_t v = 0;
	size_t i = neg;

	if (i == n)
		return -EINVAL;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10 || v > (1ULL << 62))
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void set_default(const struct opt_desc *d)
{
	switch (d->kind) {
	case OPT_BOOL: case OPT_POLICY:
		*(bool *)d->dst = d->dflt != 0;
		break;
	case OPT_BYTES: case OPT_COUNT:
		*(uint64_t *)d->dst = (uint64_t)d->dflt;
		break;
	case OPT_INT: case OPT_LEVEL: case OPT_TRI:
		*(int *)d->dst = (int)d->dflt;
		break;
	case OPT_STR:
		strncpy(d->dst, d->sdflt, (size_t)d->max - 1);
		((char *)d->dst)[d->max - 1] = 0;
		break;
	case OPT_MAC:
		memset(d->dst, 0, 6);
		break;
	case OPT_LIST:
		((struct zio_int_list *)d->dst)->n = 0;
		break;
	case OPT_CALL:
		break;
	}
}

/* Parse val into d's destination.  Returns 0, or -EINVAL with the
 * destination unchanged. */
static int parse_value(const struct opt_desc *d, const char *val)
{
	int64_t v;
	uint64_t u;

	switch (d->kind) {
	case OPT_BOOL:
		if (!strcmp(val, "1") || !strcmp(val, "yes") || !strcmp(val, "true"))
			*(bool *)d->dst = true;
		else if (!strcmp(val, "0") || !strcmp(val, "no") || !strcmp(val, "false") || !*val)
			*(bool *)d->dst = false;
		else
			return -EINVAL;
		return 0;
	case OPT_POLICY:
		if (strcmp(val, "adaptive") && strcmp(val, "always"))
			return -EINVAL;
		*(bool *)d->dst = !strcmp(val, "adaptive");
		return 0;
	case OPT_BYTES: case OPT_COUNT:
		if (zio_parse_u64(val, d->kind == OPT_BYTES, (uint64_t)d->min, (uint64_t)d->max, &u))
			return -EINVAL;
		*(uint64_t *)d->dst = u;
		return 0;
	case OPT_INT: case OPT_LEVEL: case OPT_TRI:
		if (parse_int(val, strlen(val), d->min < 0, &v) || v < d->min || v > d->max)
			return -EINVAL;
		*(int *)d->dst = (int)v;
		return 0;
	case OPT_STR:
		if (strlen(val) >= (size_t)d->max)
			return -EINVAL;
		zio_raw_copy(d->dst, val, strlen(val) + 1);
		return 0;
	case OPT_MAC: {
		uint8_t mac[6];

		if (strlen(val) != 12)
			return -EINVAL;
		for (int i = 0; i < 6; i++) {
			int hi = hexval(val[2 * i]), lo = hexval(val[2 * i + 1]);

			if (hi < 0 || lo < 0)
				return -EINVAL;
			mac[i] = (uint8_t)(hi << 4 | lo);
		}
		zio_raw_copy(d->dst, mac, 6);
		return 0;
	}
	case OPT_LIST: {
		struct zio_int_list l = { 0 };
		const char *p = val;

		while (*p) {
			size_t n = strcspn(p, ",");

			if (l.n == ZIO_XDP_MAX_LIST || parse_int(p, n, false, &v) || v < d->min ||
			    v > d->max)
				return -EINVAL;
			l.v[l.n++] = (int)v;
			p += n;
			if (*p == ',' && *++p == 0)
				return -EINVAL;
		}
		zio_raw_copy(d->dst, &l, sizeof(l));
		return 0;
	}
	case OPT_CALL:
		d->fn(val);
		return 0;
	}
	return -EINVAL;
}

/* What the warning says a value must be. */
static void expected(const struct opt_desc *d, char *buf, size_t len)
{
	switch (d->kind) {
	case OPT_BOOL: zio_snprintf(buf, len, "0 or 1"); return;
	case OPT_POLICY: zio_snprintf(buf, len, "adaptive or always"); return;
	case OPT_BYTES: case OPT_COUNT: case OPT_INT: case OPT_LEVEL: case OPT_TRI:
		zio_snprintf(buf, len, "%s %lld..%lld", d->kind == OPT_BYTES ? "bytes" : "a number",
			     (long long)d->min, (long long)d->max);
		return;
	default:
		zio_snprintf(buf, len, "%s", d->what);
		return;
	}
}

static void apply(const struct opt_desc *d, const char *val)
{
	char want[96];

	if (!parse_value(d, val))
		return;
	if (d->range) {
		pr_warn("invalid %s='%.40s' (expected %s): using %lld", d->name, val, d->range,
			(long long)d->dflt);
		return;
	}
	expected(d, want, sizeof(want));
	pr_warn("invalid %s='%.40s' (expected %s): using default", d->name, val, want);
}

ZIO_HIDDEN void zio_options_load(char **envp)
{
	const size_t n = sizeof(opt_table) / sizeof(opt_table[0]);
	const char *v;

	for (size_t i = 0; i < n; i++)
		set_default(&opt_table[i]);
	zio_opt.input_min = 4096;
	/* Where and how much to log first, so that warnings about the other
	 * values obey it. */
	for (size_t i = 0; i < n; i++)
		if ((opt_table[i].kind == OPT_LEVEL || opt_table[i].fn == load_log_file) &&
		    (v = zio_env_get(envp, opt_table[i].name)))
			apply(&opt_table[i], v);
	for (size_t i = 0; i < n; i++) {
		if (opt_table[i].kind == OPT_LEVEL || opt_table[i].fn == load_log_file)
			continue;
		if ((v = zio_env_get(envp, opt_table[i].name)))
			apply(&opt_table[i], v);
	}
	/* Under --xdp the datagrams a UMEM frame holds are the IO data, and
	 * aliasing a frame is cheap (include/zio.h): a lower default. */
	if (zio_opt.xdp.abi >= 0 && !zio_env_get(envp, ZIO_ENV_THRESHOLD))
		zio_opt.threshold = ZIO_XDP_DEFAULT_THRESHOLD;
	/* An input smaller than a page can never back a whole alias page. */
	if (zio_opt.input_min > zio_opt.threshold)
		zio_opt.input_min = zio_opt.threshold;
}

ZIO_HIDDEN void zio_options_each(void (*out)(const char *name, const char *dflt,
					     const char *what, void *ctx), void *ctx)
{
	for (size_t i = 0; i < sizeof(opt_table) / sizeof(opt_table[0]); i++) {
		const struct opt_desc *d = &opt_table[i];
		char dflt[64];

		switch (d->kind) {
		case OPT_STR: zio_snprintf(dflt, sizeof(dflt), "%s", d->sdflt); break;
		case OPT_POLICY: zio_snprintf(dflt, sizeof(dflt), "adaptive"); break;
		case OPT_TRI: zio_snprintf(dflt, sizeof(dflt), "unset"); break;
		case OPT_MAC: case OPT_LIST: case OPT_CALL: dflt[0] = 0; break;
		default: zio_snprintf(dflt, sizeof(dflt), "%lld", (long long)d->dflt); break;
		}
		out(d->name, dflt, d->what, ctx);
	}
}
