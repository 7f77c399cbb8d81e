/* SPDX-License-Identifier: MIT */
/*
 * The one byte-count grammar of zio, shared by the runtime (ZIO_* values)
 * and the command-line tools (--threshold and friends): decimal digits
 * with an optional K, M or G suffix (powers of 1024), nothing else.
 * Header-only: the runtime links no tool code, the tools no runtime code.
 */
#ifndef ZIO_PARSE_H
#define ZIO_PARSE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

/* Parse s into *out, within [min, max].  Returns 0, -EINVAL (not a byte
 * count) or -ERANGE (outside the range, or overflow). */
static inline int zio_parse_u64(const char *s, bool suffix, uint64_t min, uint64_t max,
				uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (!s || !*p)
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
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
		return -ERANGE;
	v *= mul;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

#endif
