// SPDX-License-Identifier: MIT
/*
 * Unit tests of the one byte-count grammar (include/zio_parse.h) that
 * ZIO_* values and the tools' --threshold share: digits with an optional
 * K, M or G (powers of 1024), nothing else; -EINVAL for what is not a
 * count, -ERANGE for one outside [min, max] or beyond 64 bits.
 */
#include <criterion/criterion.h>

#include "zio_parse.h"

#define SENTINEL 0x5a5a5a5a5a5a5a5aULL

/* Parse s; *out stays SENTINEL unless it succeeded. */
static int parse(const char *s, bool suffix, uint64_t min, uint64_t max, uint64_t *out)
{
	*out = SENTINEL;
	return zio_parse_u64(s, suffix, min, max, out);
}

Test(parse, digits_and_suffixes)
{
	static const struct { const char *s; uint64_t v; } ok[] = {
		{ "0", 0 }, { "7", 7 }, { "0042", 42 }, { "65536", 65536 },
		{ "1k", 1024 }, { "1K", 1024 }, { "64K", 65536 }, { "3m", 3 << 20 }, { "3M", 3 << 20 },
		{ "1g", 1ULL << 30 }, { "5G", 5ULL << 30 }, { "0K", 0 },
		{ "17179869183G", 17179869183ULL << 30 },
		{ "18446744073709551609", 18446744073709551609ULL },
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(parse(ok[i].s, true, 0, UINT64_MAX, &v), 0, "%s", ok[i].s);
		cr_assert_eq(v, ok[i].v, "%s: %llu", ok[i].s, (unsigned long long)v);
	}
}

Test(parse, not_a_count)
{
	static const char *const no[] = {
		"", "K", "-1", "+1", " 1", "1 ", "1KB", "1KK", "1T", "1k2", "0x10", "1.5K", "1,024",
		"1e3",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		cr_assert_eq(parse(no[i], true, 0, UINT64_MAX, &v), -EINVAL, "'%s'", no[i]);
		cr_assert_eq(v, SENTINEL, "'%s' leaves *out alone", no[i]);
	}
	cr_assert_eq(parse(NULL, true, 0, UINT64_MAX, &v), -EINVAL);
	cr_assert_eq(v, SENTINEL);
}

/* Without suffixes (counts), a suffix is just a bad character. */
Test(parse, no_suffix_when_not_asked)
{
	uint64_t v;

	cr_assert_eq(parse("64K", false, 0, UINT64_MAX, &v), -EINVAL);
	cr_assert_eq(parse("1g", false, 0, UINT64_MAX, &v), -EINVAL);
	cr_assert_eq(parse("65536", false, 0, UINT64_MAX, &v), 0);
	cr_assert_eq(v, 65536);
}

/* The range is inclusive at both ends and applies after the suffix. */
Test(parse, range_is_inclusive)
{
	uint64_t v;

	cr_assert_eq(parse("4096", true, 4096, 1ULL << 40, &v), 0);
	cr_assert_eq(parse("4K", true, 4096, 1ULL << 40, &v), 0);
	cr_assert_eq(v, 4096);
	cr_assert_eq(parse("1024G", true, 4096, 1ULL << 40, &v), 0);
	cr_assert_eq(v, 1ULL << 40);
	cr_assert_eq(parse("4095", true, 4096, 1ULL << 40, &v), -ERANGE);
	cr_assert_eq(parse("3K", true, 4096, 1ULL << 40, &v), -ERANGE);
	cr_assert_eq(parse("1025G", true, 4096, 1ULL << 40, &v), -ERANGE);
	cr_assert_eq(parse("1099511627777", true, 4096, 1ULL << 40, &v), -ERANGE);
	cr_assert_eq(v, SENTINEL);
}

/* Nothing wraps: a count or a product beyond 64 bits is out of range. */
Test(parse, overflow_is_out_of_range)
{
	static const char *const big[] = {
		"18446744073709551616", "99999999999999999999", "184467440737095516150",
		"17179869184G", "17592186044416M", "18014398509481984K",
		"000000000000000000000000000018446744073709551616",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		cr_assert_eq(parse(big[i], true, 0, UINT64_MAX, &v), -ERANGE, "%s", big[i]);
		cr_assert_eq(v, SENTINEL, "%s", big[i]);
	}
	/* leading zeros are no overflow */
	cr_assert_eq(parse("00000000000000000000000000001", true, 0, UINT64_MAX, &v), 0);
	cr_assert_eq(v, 1);
}
