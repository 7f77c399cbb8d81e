// SPDX-License-Identifier: MIT
/*
 * util.c - one copy of each helper the command-line tools share.  See
 * util.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "observe.h"
#include "zio_parse.h"
#include "util.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

/* ---------------------------------------------------------------- numbers */

int zio_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end || (errno && errno != ERANGE))
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int zio_parse_bytes(const char *s, long long min, long long max, long long *out)
{
	uint64_t v;
	int err;

	if (min < 0 || max < min)
		return -EINVAL;
	/* the runtime reads ZIO_* byte counts with the same grammar */
	err = zio_parse_u64(s, true, (uint64_t)min, (uint64_t)max, &v);
	if (!err)
		*out = (long long)v;
	return err;
}

int zio_setenv_ll(const char *name, long long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", v);
	return setenv(name, num, 1);
}

/* ---------------------------------------------------------------- output */

void zio_print_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

uint64_t zio_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int zio_exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

/* ---------------------------------------------------------------- messages */

static int verbosity;

void zio_print_init(int level)
{
	verbosity = level;
	libbpf_set_print(zio_print_libbpf);
}

bool zio_print_on(int level)
{
	return level <= verbosity;
}

int zio_vprint(int level, const char *fmt, va_list ap)
{
	if (!zio_print_on(level))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int zio_print(int level, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = zio_vprint(level, fmt, ap);
	va_end(ap);
	return n;
}

int zio_print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return zio_vprint((int)level + 1, fmt, ap);
}

/* ---------------------------------------------------------------- pins */

int zio_mount_bpffs(void)
{
	struct statfs st;

	if (!statfs(ZIO_BPFFS, &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mkdir(ZIO_BPFFS, 0755) && errno != EEXIST)
		return -errno;
	/* mode=0700, as systemd mounts it: pins are for root. */
	if (mount("bpf", ZIO_BPFFS, "bpf", 0, "mode=0700"))
		return -errno;
	return 0;
}

uint64_t zio_pid_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields restart after the
	 * last ')'; starttime is field 22, the 20th after it. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p)
		start = strtoull(p + 1, NULL, 10);
	return start;
}

bool zio_pid_alive(pid_t pid, uint64_t start)
{
	if (pid <= 0)
		return false;
	/* EPERM: there is a process, it is just not ours to signal. */
	if (kill(pid, 0) && errno != EPERM)
		return false;
	return !start || zio_pid_start_time(pid) == start;
}

void zio_remove_pins(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d) {
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(dir);
}

/* The observe info map of dir, if it has one.  Returns 0 or -errno. */
static int read_obs_info(const char *dir, struct zio_obs_info *info)
{
	char path[PATH_MAX];
	__u32 key = 0;
	int fd, err = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/info", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	if (bpf_map_lookup_elem(fd, &key, info))
		err = -errno;
	close(fd);
	return err;
}

/*
 * Whether the pins in dir (ZIO_PIN_ROOT/<pid>) are stale.  One liveness
 * rule for both kinds, zio_pid_alive: a pid is alive when kill(pid, 0)
 * succeeds or fails with EPERM and, where the directory recorded a start
 * time, /proc/PID/stat still gives that start time (else the pid was
 * reused by another process).
 *
 * What is recorded differs, and each kind is held to the most it records:
 *  - observe maps (zio-run --observe) carry an info map with the observed
 *    pid, its observer and both start times.  Nobody updates the maps
 *    once the observer is gone, so they are stale when either is gone,
 *    even if the program lives on.
 *  - steering maps (zio-run --xdp) and a half-made observe directory
 *    (info not pinned yet, or of another ABI) record nothing but the pid
 *    of the directory's name: the zio-run that made them, whose program
 *    keeps that pid across exec.  No start time, so kill(pid, 0) alone.
 *    The observe loader's own rule for these was already that; the XDP
 *    loader's (kill(pid, 0) not ESRCH) differed only in counting errors
 *    other than EPERM as alive, and it never looked at the info map.
 */
static bool pins_stale(const char *dir, pid_t pid)
{
	struct zio_obs_info info;

	if (!read_obs_info(dir, &info) && info.abi == ZIO_OBS_ABI)
		return !zio_pid_alive((pid_t)info.pid, info.pid_start) ||
		       !zio_pid_alive((pid_t)info.observer, info.observer_start);
	return !zio_pid_alive(pid, 0);
}

/*
 * A stale directory goes whole, whatever is in it: ZIO_PIN_ROOT is zio's
 * (mode 0700) and only zio's two loaders pin there, so anything else in a
 * stale directory is a half-made pin of theirs.
 */
int zio_reap_pins(void)
{
	struct dirent *de;
	int reaped = 0;
	DIR *d;

	d = opendir(ZIO_PIN_ROOT);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char dir[PATH_MAX];
		long pid;

		if (zio_parse_long(de->d_name, 1, INT_MAX, &pid))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", ZIO_PIN_ROOT, de->d_name);
		if (pins_stale(dir, (pid_t)pid)) {
			zio_remove_pins(dir);
			reaped++;
		}
	}
	closedir(d);
	return reaped;
}
