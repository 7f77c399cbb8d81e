// SPDX-License-Identifier: MIT
/*
 * Failure injection for the tests: ZIO_FAULT_INJECT=point[=rate],...
 * with points register, move, copy, wp, alloc and a rate in (0, 1]
 * (default 1).  Every injected failure must be absorbed by a fallback.
 */
#include <string.h>

#include "zio.h"
#include "base/faultinject.h"
#include "base/log.h"

static uint32_t rate[ZIO_FI_MAX];     /* out of 2^32 - 1 */
static bool any;
static uint64_t rng = 0x2545F4914F6CDD1DULL;

static const char *const names[ZIO_FI_MAX] = {
	[ZIO_FI_REGISTER] = "register", [ZIO_FI_MOVE] = "move", [ZIO_FI_COPY] = "copy",
	[ZIO_FI_WP] = "wp", [ZIO_FI_ALLOC] = "alloc",
};

/* Parse a rate like 1, 0.25 or .5 into a fraction of 2^32-1. */
static int parse_rate(const char *s, size_t n, uint32_t *out)
{
	double v = 0, scale = 1;
	bool dot = false, digit = false;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.' && !dot) {
			dot = true;
		} else if (s[i] >= '0' && s[i] <= '9') {
			digit = true;
			if (dot) {
				scale /= 10;
				v += (s[i] - '0') * scale;
			} else {
				v = v * 10 + (s[i] - '0');
			}
		} else {
			return -1;
		}
	}
	if (!digit || v <= 0 || v > 1)
		return -1;
	*out = (uint32_t)(v * 4294967295.0);
	return 0;
}

ZIO_HIDDEN void zio_fault_inject_parse(const char *spec)
{
	const char *p = spec;

	if (!spec || !*spec)
		return;
	while (*p) {
		size_t n = strcspn(p, ","), name_len = strcspn(p, "=,");
		uint32_t r = UINT32_MAX;
		int i;

		for (i = 0; i < ZIO_FI_MAX; i++)
			if (strlen(names[i]) == name_len && !strncmp(p, names[i], name_len))
				break;
		if (i == ZIO_FI_MAX ||
		    (name_len < n && parse_rate(p + name_len + 1, n - name_len - 1, &r))) {
			pr_warn("invalid %s entry '%.*s' (expected register|move|copy|wp|alloc"
				"[=rate in (0,1]]): ignored", ZIO_ENV_FAULT, (int)n, p);
		} else {
			rate[i] = r;
			any = true;
		}
		p += n;
		if (*p == ',')
			p++;
	}
}

ZIO_HIDDEN __thread bool zio_fault_inject_off __attribute__((tls_model("initial-exec")));

ZIO_HIDDEN bool zio_fault_inject(enum zio_fault_point pt)
{
	uint64_t x;

	if (likely(!any) || !rate[pt] || zio_fault_inject_off)
		return false;
	/* xorshift64: deterministic per process, no libc involved */
	x = __atomic_load_n(&rng, __ATOMIC_RELAXED);
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	__atomic_store_n(&rng, x, __ATOMIC_RELAXED);
	return (uint32_t)(x >> 32) <= rate[pt];
}
