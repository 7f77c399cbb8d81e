// SPDX-License-Identifier: MIT
/*
 * Unit tests of the option table (base/options.c): the default of every
 * row, every kind of value, one warning and the default for a bad value,
 * the order in which the logger's own settings are read, and
 * zio_options_each.  The logger writes with a raw write(2) to fd 2, so
 * the warnings are caught by pointing fd 2 at a memory file meanwhile.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zio.h"
#include "steer.h"
#include "base/faultinject.h"
#include "base/log.h"
#include "base/options.h"

static char err[16384];

/* zio_options_load(envp) with fd 2 caught; returns the lines logged,
 * their text in err. */
static int load(char **envp)
{
	int fd = memfd_create("zio-stderr", 0), saved = dup(2), lines = 0;
	ssize_t n;

	cr_assert(fd >= 0 && saved >= 0);
	cr_assert_eq(dup2(fd, 2), 2);
	zio_options_load(envp);
	cr_assert_eq(dup2(saved, 2), 2);
	close(saved);
	n = pread(fd, err, sizeof(err) - 1, 0);
	close(fd);
	err[n > 0 ? n : 0] = 0;
	for (const char *p = err; *p; p++)
		lines += *p == '\n';
	return lines;
}

/* The environment NAME=VAL alone; returns the lines logged. */
static int load1(const char *name, const char *val)
{
	char kv[512];
	char *env[] = { kv, NULL };

	snprintf(kv, sizeof(kv), "%s=%s", name, val);
	return load(env);
}

/* NAME=VAL is accepted: nothing logged. */
static void good(const char *name, const char *val)
{
	int n = load1(name, val);

	cr_assert_eq(n, 0, "%s='%s' is valid, yet: %s", name, val, err);
}

/* NAME=VAL is refused: one warning naming it, and the default. */
static void bad(const char *name, const char *val)
{
	char want[160];
	int n = load1(name, val);

	cr_assert_eq(n, 1, "%s='%s': %d lines: %s", name, val, n, err);
	snprintf(want, sizeof(want), "zio: invalid %s='%.40s' (expected ", name, val);
	cr_assert(strstr(err, want), "%s='%s' warns: %s", name, val, err);
	cr_assert(strstr(err, "using "), "and says what it uses: %s", err);
}

/* ------------------------------------------------------------ defaults */

Test(options, defaults_of_every_row)
{
	static const uint8_t zero_mac[6];

	memset(&zio_opt, 0xa5, sizeof(zio_opt));
	zio_log_level = 7;
	zio_log_rate = 5;
	cr_assert_eq(load(NULL), 0);
	cr_assert_eq(zio_log_level, ZIO_LOG_WARN);
	cr_assert_eq(zio_log_rate, 2000);
	cr_assert_not(zio_opt.off);
	cr_assert_not(zio_opt.stats);
	cr_assert_eq(zio_opt.threshold, ZIO_DEFAULT_THRESHOLD);
	cr_assert_eq(zio_opt.threshold, 65536);
	cr_assert_eq(zio_opt.input_min, 4096);
	cr_assert_eq(zio_opt.pool_max, 256ULL << 20);
	cr_assert_eq(zio_opt.max_aliases, 1ULL << 20);
	cr_assert(zio_opt.adaptive);
	cr_assert_eq(zio_opt.xdp.abi, -1);
	cr_assert_str_eq(zio_opt.xdp.iface, "");
	cr_assert_eq(zio_opt.xdp.ifindex, 0);
	cr_assert_eq(zio_opt.xdp.mtu, 1500);
	cr_assert_eq(zio_opt.xdp.link_fd, -1);
	cr_assert_str_eq(zio_opt.xdp.mode, "?");
	cr_assert_str_eq(zio_opt.xdp.pin_dir, "");
	cr_assert_str_eq(zio_opt.xdp.bind, "auto");
	cr_assert_arr_eq(zio_opt.xdp.mac, zero_mac, 6);
	cr_assert_eq(zio_opt.xdp.frames, ZIO_XDP_DEFAULT_FRAMES);
	cr_assert_eq(zio_opt.xdp.ring, ZIO_XDP_DEFAULT_RING);
	cr_assert_eq(zio_opt.xdp.csum, -1);
	cr_assert_eq(zio_opt.xdp.spin_us, 50);
	cr_assert_eq(zio_opt.xdp.queues.n, 0);
	cr_assert_eq(zio_opt.xdp.ports.n, 0);
}

/* Unset and an empty environment are the same; other names are ignored,
 * and a name must match whole. */
Test(options, only_whole_names_are_read)
{
	char *env[] = { "PATH=/bin", "ZIO_THRESHOLDX=4096", "XZIO_OFF=1", "ZIO_OF=1", NULL };

	cr_assert_eq(load(env), 0);
	cr_assert_eq(zio_opt.threshold, 65536);
	cr_assert_not(zio_opt.off);
}

Test(options, env_get_takes_the_first_whole_match)
{
	char *env[] = { "ZIO_OFFSET=1", "ZIO_OFF=yes", "ZIO_OFF=no", "ZIO_LOG=", NULL };

	cr_assert_str_eq(zio_env_get(env, "ZIO_OFF"), "yes");
	cr_assert_str_eq(zio_env_get(env, "ZIO_LOG"), "");
	cr_assert_null(zio_env_get(env, "ZIO_OF"));
	cr_assert_null(zio_env_get(env, "ZIO_STATS"));
	cr_assert_null(zio_env_get(NULL, "ZIO_OFF"));
}

/* ------------------------------------------------------------ kinds */

Test(options, bool_values)
{
	static const char *const yes[] = { "1", "yes", "true" };
	static const char *const no[] = { "0", "no", "false", "" };
	static const char *const nonsense[] = { "2", "on", "TRUE", "yes ", "-1", "01" };
	static const char *const names[] = { ZIO_ENV_OFF, ZIO_ENV_STATS };

	for (int k = 0; k < 2; k++) {
		bool *f = k ? &zio_opt.stats : &zio_opt.off;

		for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
			good(names[k], yes[i]);
			cr_assert(*f, "%s=%s", names[k], yes[i]);
		}
		for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
			good(names[k], no[i]);
			cr_assert_not(*f, "%s=%s", names[k], no[i]);
		}
		for (size_t i = 0; i < sizeof(nonsense) / sizeof(nonsense[0]); i++) {
			bad(names[k], nonsense[i]);
			cr_assert_not(*f, "%s=%s: the default", names[k], nonsense[i]);
			cr_assert(strstr(err, "(expected 0 or 1): using default"), "%s", err);
		}
	}
}

Test(options, bytes_with_suffixes)
{
	static const struct { const char *v; uint64_t want; } ok[] = {
		{ "4096", 4096 }, { "4K", 4096 }, { "128k", 128 << 10 }, { "1M", 1 << 20 },
		{ "3m", 3 << 20 }, { "1G", 1ULL << 30 }, { "2g", 2ULL << 30 },
		{ "1024G", 1ULL << 40 }, { "1099511627776", 1ULL << 40 },
	};
	static const char *const nonsense[] = {
		"4095", "3K", "1025G", "1099511627777", "1T", "64KB", "K", "", " 64K", "64K ",
		"-4096", "+4096", "0x1000", "1.5M", "99999999999999999999", "18446744073709551616",
		"17179869184G",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		good(ZIO_ENV_THRESHOLD, ok[i].v);
		cr_assert_eq(zio_opt.threshold, ok[i].want, "ZIO_THRESHOLD=%s", ok[i].v);
	}
	for (size_t i = 0; i < sizeof(nonsense) / sizeof(nonsense[0]); i++) {
		bad(ZIO_ENV_THRESHOLD, nonsense[i]);
		cr_assert_eq(zio_opt.threshold, 65536, "ZIO_THRESHOLD=%s", nonsense[i]);
		cr_assert(strstr(err, "(expected bytes 4096..1099511627776): using default"), "%s",
			  err);
	}
	/* the pool may be empty */
	good(ZIO_ENV_POOL_MAX, "0");
	cr_assert_eq(zio_opt.pool_max, 0);
	good(ZIO_ENV_POOL_MAX, "512M");
	cr_assert_eq(zio_opt.pool_max, 512ULL << 20);
	bad(ZIO_ENV_POOL_MAX, "2048G");
	cr_assert_eq(zio_opt.pool_max, 256ULL << 20);
}

/* Counts are plain digits within their range: no suffix. */
Test(options, counts)
{
	static const struct { const char *name; const char *v; bool ok; uint64_t want; } c[] = {
		{ ZIO_ENV_MAX_ALIASES, "1", true, 1 },
		{ ZIO_ENV_MAX_ALIASES, "4294967296", true, 1ULL << 32 },
		{ ZIO_ENV_MAX_ALIASES, "4294967297", false, 1 << 20 },
		{ ZIO_ENV_MAX_ALIASES, "0", false, 1 << 20 },
		{ ZIO_ENV_MAX_ALIASES, "10K", false, 1 << 20 },
		{ ZIO_ENV_LOG_RATE, "0", true, 0 },
		{ ZIO_ENV_LOG_RATE, "5000", true, 5000 },
		{ ZIO_ENV_LOG_RATE, "1k", false, 2000 },
		{ ZIO_ENV_XDP_FRAMES, "64", true, 64 },
		{ ZIO_ENV_XDP_FRAMES, "63", false, ZIO_XDP_DEFAULT_FRAMES },
		{ ZIO_ENV_XDP_FRAMES, "4194304", true, 4194304 },
		{ ZIO_ENV_XDP_FRAMES, "4194305", false, ZIO_XDP_DEFAULT_FRAMES },
		{ ZIO_ENV_XDP_RING, "65536", true, 65536 },
		{ ZIO_ENV_XDP_RING, "65537", false, ZIO_XDP_DEFAULT_RING },
		{ ZIO_ENV_XDP_RING, "63", false, ZIO_XDP_DEFAULT_RING },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint64_t got;

		if (c[i].ok)
			good(c[i].name, c[i].v);
		else
			bad(c[i].name, c[i].v);
		got = !strcmp(c[i].name, ZIO_ENV_MAX_ALIASES) ? zio_opt.max_aliases :
		      !strcmp(c[i].name, ZIO_ENV_LOG_RATE) ? zio_log_rate :
		      !strcmp(c[i].name, ZIO_ENV_XDP_FRAMES) ? zio_opt.xdp.frames : zio_opt.xdp.ring;
		cr_assert_eq(got, c[i].want, "%s=%s: %lu", c[i].name, c[i].v, (unsigned long)got);
		if (!c[i].ok)
			cr_assert(strstr(err, "(expected a number "), "%s", err);
	}
}

/* Ints: a leading '-' only where the range goes below zero. */
Test(options, ints_with_ranges)
{
	static const struct { const char *name; const char *v; bool ok; int want; } c[] = {
		{ ZIO_ENV_XDP_MTU, "68", true, 68 },
		{ ZIO_ENV_XDP_MTU, "65535", true, 65535 },
		{ ZIO_ENV_XDP_MTU, "67", false, 1500 },
		{ ZIO_ENV_XDP_MTU, "65536", false, 1500 },
		{ ZIO_ENV_XDP_MTU, "-1500", false, 1500 },
		{ ZIO_ENV_XDP_MTU, "1500x", false, 1500 },
		{ ZIO_ENV_XDP_MTU, "", false, 1500 },
		{ ZIO_ENV_XDP_LINK_FD, "-1", true, -1 },
		{ ZIO_ENV_XDP_LINK_FD, "7", true, 7 },
		{ ZIO_ENV_XDP_LINK_FD, "1048576", true, 1 << 20 },
		{ ZIO_ENV_XDP_LINK_FD, "1048577", false, -1 },
		{ ZIO_ENV_XDP_LINK_FD, "-2", false, -1 },
		{ ZIO_ENV_XDP_LINK_FD, "--1", false, -1 },
		{ ZIO_ENV_XDP_LINK_FD, "-", false, -1 },
		{ ZIO_ENV_XDP_IFINDEX, "1", true, 1 },
		{ ZIO_ENV_XDP_IFINDEX, "0", false, 0 },
		{ ZIO_ENV_XDP_IFINDEX, "-1", false, 0 },
		{ ZIO_ENV_XDP_ABI, "0", true, 0 },
		{ ZIO_ENV_XDP_ABI, "1073741824", true, 1 << 30 },
		{ ZIO_ENV_XDP_ABI, "1073741825", false, -1 },
		{ ZIO_ENV_XDP_ABI, "-1", false, -1 },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int got;

		if (c[i].ok)
			good(c[i].name, c[i].v);
		else
			bad(c[i].name, c[i].v);
		got = !strcmp(c[i].name, ZIO_ENV_XDP_MTU) ? zio_opt.xdp.mtu :
		      !strcmp(c[i].name, ZIO_ENV_XDP_LINK_FD) ? zio_opt.xdp.link_fd :
		      !strcmp(c[i].name, ZIO_ENV_XDP_IFINDEX) ? zio_opt.xdp.ifindex : zio_opt.xdp.abi;
		cr_assert_eq(got, c[i].want, "%s=%s: %d", c[i].name, c[i].v, got);
	}
}

Test(options, log_level)
{
	for (int l = 0; l <= 3; l++) {
		char v[4];

		snprintf(v, sizeof(v), "%d", l);
		good(ZIO_ENV_LOG, v);
		cr_assert_eq(zio_log_level, l);
	}
	bad(ZIO_ENV_LOG, "4");
	cr_assert_eq(zio_log_level, ZIO_LOG_WARN);
	bad(ZIO_ENV_LOG, "-1");
	bad(ZIO_ENV_LOG, "debug");
	bad(ZIO_ENV_LOG, "");
	cr_assert(strstr(err, "(expected a number 0..3)"), "%s", err);
	cr_assert_eq(zio_log_level, ZIO_LOG_WARN);
}

/* The logger's settings are read first, wherever they stand in the
 * environment: the warnings about the others obey them. */
Test(options, warnings_obey_the_log_level_set_anywhere)
{
	char *quiet[] = { "ZIO_OFF=maybe", "ZIO_THRESHOLD=1", "ZIO_LOG=0", NULL };
	char *warn[] = { "ZIO_OFF=maybe", "ZIO_THRESHOLD=1", "ZIO_LOG=1", NULL };
	char *debug[] = { "ZIO_OFF=maybe", "ZIO_LOG=3", NULL };

	cr_assert_eq(load(quiet), 0, "%s", err);
	cr_assert_eq(load(warn), 2, "%s", err);
	cr_assert(strstr(err, "ZIO_OFF") && strstr(err, "ZIO_THRESHOLD"));
	cr_assert_eq(load(debug), 1, "%s", err);
}

Test(options, policy_values)
{
	static const char *const nonsense[] = { "Always", "", "adaptive ", "1", "never" };

	good(ZIO_ENV_POLICY, "always");
	cr_assert_not(zio_opt.adaptive);
	good(ZIO_ENV_POLICY, "adaptive");
	cr_assert(zio_opt.adaptive);
	for (size_t i = 0; i < sizeof(nonsense) / sizeof(nonsense[0]); i++) {
		bad(ZIO_ENV_POLICY, nonsense[i]);
		cr_assert(zio_opt.adaptive, "ZIO_POLICY=%s: the default", nonsense[i]);
		cr_assert(strstr(err, "(expected adaptive or always): using default"), "%s", err);
	}
}

/* ZIO_XDP_CSUM: unset (-1, offloaded where possible), 0 or 1; -1 itself
 * is no value one can give. */
Test(options, tri_state_csum)
{
	static const char *const nonsense[] = { "2", "-1", "yes", "" };

	cr_assert_eq(load(NULL), 0);
	cr_assert_eq(zio_opt.xdp.csum, -1);
	good(ZIO_ENV_XDP_CSUM, "0");
	cr_assert_eq(zio_opt.xdp.csum, 0);
	good(ZIO_ENV_XDP_CSUM, "1");
	cr_assert_eq(zio_opt.xdp.csum, 1);
	for (size_t i = 0; i < sizeof(nonsense) / sizeof(nonsense[0]); i++) {
		bad(ZIO_ENV_XDP_CSUM, nonsense[i]);
		cr_assert_eq(zio_opt.xdp.csum, -1, "ZIO_XDP_CSUM=%s", nonsense[i]);
	}
}

/* Strings are taken whole if they fit their buffer with its NUL, else
 * refused (never cut). */
Test(options, strings_with_their_size_limit)
{
	static const struct {
		const char *name;
		char *dst;
		size_t size;
		const char *dflt;
	} s[] = {
		{ ZIO_ENV_XDP_IFACE, zio_opt.xdp.iface, sizeof(zio_opt.xdp.iface), "" },
		{ ZIO_ENV_XDP_MODE, zio_opt.xdp.mode, sizeof(zio_opt.xdp.mode), "?" },
		{ ZIO_ENV_XDP_PIN_DIR, zio_opt.xdp.pin_dir, sizeof(zio_opt.xdp.pin_dir), "" },
		{ ZIO_ENV_XDP_BIND, zio_opt.xdp.bind, sizeof(zio_opt.xdp.bind), "auto" },
	};
	char v[256];

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		memset(v, 'a' + (int)i, sizeof(v));
		v[s[i].size - 1] = 0;              /* the longest that fits */
		good(s[i].name, v);
		cr_assert_str_eq(s[i].dst, v, "%s", s[i].name);
		v[s[i].size - 1] = 'z';            /* one more */
		v[s[i].size] = 0;
		bad(s[i].name, v);
		cr_assert_str_eq(s[i].dst, s[i].dflt, "%s", s[i].name);
		good(s[i].name, "");
		cr_assert_str_eq(s[i].dst, "", "%s: empty is a value", s[i].name);
	}
	good(ZIO_ENV_XDP_BIND, "zc");
	cr_assert_str_eq(zio_opt.xdp.bind, "zc");
}

Test(options, mac)
{
	static const uint8_t want[6] = { 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f };
	static const uint8_t zero[6];
	static const char *const nonsense[] = {
		"0a1b2c3d4e5", "0a1b2c3d4e5f0", "0a:1b:2c:3d:4e:5f", "0a1b2c3d4e5g", "", " a1b2c3d4e5f",
	};

	good(ZIO_ENV_XDP_MAC, "0a1B2c3D4e5F");
	cr_assert_arr_eq(zio_opt.xdp.mac, want, 6);
	good(ZIO_ENV_XDP_MAC, "FFFFFFFFFFFF");
	cr_assert_eq(zio_opt.xdp.mac[0] & zio_opt.xdp.mac[5], 0xff);
	for (size_t i = 0; i < sizeof(nonsense) / sizeof(nonsense[0]); i++) {
		bad(ZIO_ENV_XDP_MAC, nonsense[i]);
		cr_assert_arr_eq(zio_opt.xdp.mac, zero, 6, "ZIO_XDP_MAC=%s", nonsense[i]);
	}
}

Test(options, comma_lists)
{
	static const char *const nonsense[] = { "65537", "1,", ",1", "1,,2", "a", "-1", " 1", "1 ",
						"1;2" };
	char v[512];
	int o = 0;

	good(ZIO_ENV_XDP_QUEUES, "0");
	cr_assert_eq(zio_opt.xdp.queues.n, 1);
	cr_assert_eq(zio_opt.xdp.queues.v[0], 0);
	good(ZIO_ENV_XDP_QUEUES, "3,0,65536");
	cr_assert_eq(zio_opt.xdp.queues.n, 3);
	cr_assert(zio_opt.xdp.queues.v[0] == 3 && zio_opt.xdp.queues.v[1] == 0 &&
		  zio_opt.xdp.queues.v[2] == 65536);
	good(ZIO_ENV_XDP_QUEUES, "");
	cr_assert_eq(zio_opt.xdp.queues.n, 0, "empty: no queues");
	for (size_t i = 0; i < sizeof(nonsense) / sizeof(nonsense[0]); i++) {
		bad(ZIO_ENV_XDP_QUEUES, nonsense[i]);
		cr_assert_eq(zio_opt.xdp.queues.n, 0, "ZIO_XDP_QUEUES=%s", nonsense[i]);
	}
	/* ZIO_XDP_MAX_LIST entries at most */
	for (int i = 0; i < ZIO_XDP_MAX_LIST; i++)
		o += snprintf(v + o, sizeof(v) - (size_t)o, "%s%d", i ? "," : "", i);
	good(ZIO_ENV_XDP_QUEUES, v);
	cr_assert_eq(zio_opt.xdp.queues.n, ZIO_XDP_MAX_LIST);
	cr_assert_eq(zio_opt.xdp.queues.v[ZIO_XDP_MAX_LIST - 1], ZIO_XDP_MAX_LIST - 1);
	snprintf(v + o, sizeof(v) - (size_t)o, ",%d", ZIO_XDP_MAX_LIST);
	bad(ZIO_ENV_XDP_QUEUES, v);
	cr_assert_eq(zio_opt.xdp.queues.n, 0);

	good(ZIO_ENV_XDP_PORTS, "9000,9001");
	cr_assert_eq(zio_opt.xdp.ports.n, 2);
	cr_assert(zio_opt.xdp.ports.v[0] == 9000 && zio_opt.xdp.ports.v[1] == 9001);
	good(ZIO_ENV_XDP_PORTS, "1,65535");
	bad(ZIO_ENV_XDP_PORTS, "0");
	bad(ZIO_ENV_XDP_PORTS, "9000,65536");
	cr_assert_eq(zio_opt.xdp.ports.n, 0, "a bad entry refuses the whole list");
}

/* A row with a range of its own words says it, and the default's value. */
Test(options, spin_us_warning_names_its_range_and_default)
{
	good(ZIO_ENV_XDP_SPIN_US, "0");
	cr_assert_eq(zio_opt.xdp.spin_us, 0);
	good(ZIO_ENV_XDP_SPIN_US, "10000");
	cr_assert_eq(zio_opt.xdp.spin_us, 10000);
	cr_assert_eq(load1(ZIO_ENV_XDP_SPIN_US, "10001"), 1);
	cr_assert_str_eq(err, "zio: invalid ZIO_XDP_SPIN_US='10001' (expected 0-10000 us): "
			 "using 50\n");
	cr_assert_eq(zio_opt.xdp.spin_us, 50);
}

/* A bad value is quoted, cut at 40 bytes. */
Test(options, warning_quotes_at_most_40_bytes)
{
	char v[101];

	memset(v, 'x', 100);
	v[100] = 0;
	cr_assert_eq(load1(ZIO_ENV_OFF, v), 1);
	cr_assert(strstr(err, "='xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' (expected"), "%s", err);
}

/* Every bad value is one line, and the good ones around it still count. */
Test(options, each_bad_value_warns_once)
{
	char *env[] = { "ZIO_OFF=2", "ZIO_STATS=1", "ZIO_THRESHOLD=1T", "ZIO_POOL_MAX=1M",
			"ZIO_XDP_MAC=xx", "ZIO_XDP_PORTS=9000", "ZIO_POLICY=sometimes", NULL };

	cr_assert_eq(load(env), 4, "%s", err);
	cr_assert(zio_opt.stats);
	cr_assert_eq(zio_opt.pool_max, 1 << 20);
	cr_assert_eq(zio_opt.xdp.ports.n, 1);
	cr_assert_eq(zio_opt.threshold, 65536);
}

/* input_min (4096) never exceeds the threshold: ZIO_THRESHOLD's own
 * range starts there, so the smallest threshold leaves it as it is. */
Test(options, threshold_and_input_min)
{
	good(ZIO_ENV_THRESHOLD, "4096");
	cr_assert_eq(zio_opt.threshold, 4096);
	cr_assert_eq(zio_opt.input_min, 4096);
	bad(ZIO_ENV_THRESHOLD, "4095");
	cr_assert_eq(zio_opt.input_min, 4096);
	good(ZIO_ENV_THRESHOLD, "1G");
	cr_assert_eq(zio_opt.input_min, 4096);
}

/* Under zio-run --xdp (ZIO_XDP_ABI set) the default threshold is the
 * datagrams' one; a threshold given still wins, wherever it stands. */
Test(options, xdp_lowers_the_default_threshold_only)
{
	char *xdp[] = { ZIO_ENV_XDP_ABI "=1", NULL };
	char *both[] = { ZIO_ENV_THRESHOLD "=128K", ZIO_ENV_XDP_ABI "=1", NULL };
	char *after[] = { ZIO_ENV_XDP_ABI "=1", ZIO_ENV_THRESHOLD "=64K", NULL };

	zio_options_load(xdp);
	cr_assert_eq(zio_opt.threshold, ZIO_XDP_DEFAULT_THRESHOLD);
	cr_assert_eq(ZIO_XDP_DEFAULT_THRESHOLD, 16 * 1024);
	zio_options_load(both);
	cr_assert_eq(zio_opt.threshold, 128 * 1024);
	zio_options_load(after);
	cr_assert_eq(zio_opt.threshold, ZIO_DEFAULT_THRESHOLD);
	zio_options_load(NULL);
	cr_assert_eq(zio_opt.threshold, ZIO_DEFAULT_THRESHOLD);
}

/* ZIO_LOG_FILE is opened before the other values are read (its %p is
 * the pid), so their warnings land in it, not on stderr. */
Test(options, log_file_takes_the_warnings)
{
	char dir[] = "/tmp/zio-ut.XXXXXX", kv[128], path[128], buf[512];
	char *env[] = { "ZIO_OFF=maybe", kv, NULL };
	ssize_t n;
	int fd;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(kv, sizeof(kv), "ZIO_LOG_FILE=%s/log.%%p", dir);
	snprintf(path, sizeof(path), "%s/log.%d", dir, (int)getpid());
	cr_assert_eq(load(env), 0, "stderr: %s", err);
	fd = open(path, O_RDONLY);
	cr_assert(fd >= 0, "%s exists", path);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert_gt(n, 0);
	buf[n] = 0;
	unlink(path);
	rmdir(dir);
	cr_assert(strstr(buf, "zio: invalid ZIO_OFF='maybe'"), "%s", buf);
}

/* ZIO_FAULT_INJECT goes to its own parser, which warns per bad entry. */
Test(options, fault_inject_is_parsed_by_its_module)
{
	cr_assert_not(zio_fault_inject(ZIO_FI_MOVE));
	cr_assert_eq(load1(ZIO_ENV_FAULT, "move,bogus"), 1);
	cr_assert(strstr(err, "invalid ZIO_FAULT_INJECT entry 'bogus'"), "%s", err);
	cr_assert(zio_fault_inject(ZIO_FI_MOVE), "move at rate 1 always fails");
	cr_assert_not(zio_fault_inject(ZIO_FI_COPY));
}

/* ------------------------------------------------------------ zio_options_each */

struct row {
	const char *name, *dflt;
};

static const struct row rows[] = {
	{ ZIO_ENV_LOG, "1" }, { ZIO_ENV_LOG_FILE, "" }, { ZIO_ENV_LOG_RATE, "2000" },
	{ ZIO_ENV_OFF, "0" }, { ZIO_ENV_STATS, "0" }, { ZIO_ENV_THRESHOLD, "65536" },
	{ ZIO_ENV_POOL_MAX, "268435456" }, { ZIO_ENV_MAX_ALIASES, "1048576" },
	{ ZIO_ENV_POLICY, "adaptive" }, { ZIO_ENV_FAULT, "" }, { ZIO_ENV_XDP_ABI, "-1" },
	{ ZIO_ENV_XDP_IFACE, "" }, { ZIO_ENV_XDP_IFINDEX, "0" }, { ZIO_ENV_XDP_MTU, "1500" },
	{ ZIO_ENV_XDP_LINK_FD, "-1" }, { ZIO_ENV_XDP_MODE, "?" }, { ZIO_ENV_XDP_PIN_DIR, "" },
	{ ZIO_ENV_XDP_BIND, "auto" }, { ZIO_ENV_XDP_MAC, "" }, { ZIO_ENV_XDP_FRAMES, "4096" },
	{ ZIO_ENV_XDP_RING, "2048" }, { ZIO_ENV_XDP_CSUM, "unset" }, { ZIO_ENV_XDP_SPIN_US, "50" },
	{ ZIO_ENV_XDP_QUEUES, "" }, { ZIO_ENV_XDP_PORTS, "" },
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

struct seen {
	int n;
	int count[NROWS];
};

static void each_row(const char *name, const char *dflt, const char *what, void *ctx)
{
	struct seen *s = ctx;
	size_t i;

	s->n++;
	for (i = 0; i < NROWS; i++)
		if (!strcmp(rows[i].name, name))
			break;
	cr_assert_lt(i, NROWS, "unexpected row %s", name);
	s->count[i]++;
	cr_assert_str_eq(dflt, rows[i].dflt, "%s", name);
	cr_assert(what && *what, "%s says what it is", name);
}

Test(options, each_lists_every_row_once_with_its_default)
{
	struct seen s = { 0 };

	zio_options_each(each_row, &s);
	cr_assert_eq(s.n, (int)NROWS);
	for (size_t i = 0; i < NROWS; i++)
		cr_assert_eq(s.count[i], 1, "%s listed %d times", rows[i].name, s.count[i]);
}

/* A default as listed, given back as the value, is accepted and is the
 * default.  Not for the rows whose default means "unset" and lies
 * outside what one may give (ZIO_XDP_ABI -1, ZIO_XDP_IFINDEX 0,
 * ZIO_XDP_CSUM), nor the empty ones of MAC/CALL rows. */
Test(options, listed_defaults_read_back)
{
	struct zio_options dflt;

	cr_assert_eq(load(NULL), 0);
	dflt = zio_opt;
	for (size_t i = 0; i < NROWS; i++) {
		const char *n = rows[i].name;

		if (!strcmp(n, ZIO_ENV_XDP_ABI) || !strcmp(n, ZIO_ENV_XDP_IFINDEX) ||
		    !strcmp(n, ZIO_ENV_XDP_CSUM) || !strcmp(n, ZIO_ENV_XDP_MAC) ||
		    !strcmp(n, ZIO_ENV_LOG_FILE) || !strcmp(n, ZIO_ENV_FAULT))
			continue;
		good(n, rows[i].dflt);
		cr_assert(!memcmp(&zio_opt, &dflt, sizeof(dflt)), "%s=%s is the default", n,
			  rows[i].dflt);
		cr_assert(zio_log_level == ZIO_LOG_WARN && zio_log_rate == 2000, "%s", n);
	}
	bad(ZIO_ENV_XDP_ABI, "-1");
	bad(ZIO_ENV_XDP_IFINDEX, "0");
}
