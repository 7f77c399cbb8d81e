// SPDX-License-Identifier: MIT
/*
 * Privileges as a user meets them.  zt relay runs as user nobody (no
 * CAP_SYS_PTRACE) under zio-run in a mount namespace of its own that
 * shows the machine each case is about, and the runtime's one line
 * must name the way to get userfaultfd that fits it:
 *   /dev/userfaultfd root's only       -> the node and its permissions
 *   no node, the sysctl                -> vm.unprivileged_userfaultfd=1
 *   neither                            -> what this kernel lacks
 * and a node whose group nobody is in (what docs/udev/60-userfaultfd.rules
 * makes) gives elision without any other privilege.  The namespaces keep
 * the host's /dev and /proc/sys as they are.
 */
#include <criterion/criterion.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include "harness.h"

static char zio_run[512], zt[512];

static void setup(void)
{
	path_in_build(zio_run, sizeof(zio_run), "zio-run");
	path_in_build(zt, sizeof(zt), "tests/progs/zt");
}

TestSuite(privileges, .init = setup, .timeout = 120);

/* Skips unless root, with user nobody, vm.unprivileged_userfaultfd=0
 * and the tools the cases use. */
static void need_host(void)
{
	int unpriv = sysctl_int("/proc/sys/vm/unprivileged_userfaultfd");

	if (geteuid() != 0 || unpriv != 0 || !getpwnam("nobody"))
		cr_skip_test("needs root, vm.unprivileged_userfaultfd=0 and user nobody");
	if (system("command -v unshare >/dev/null && command -v setpriv >/dev/null && "
		   "command -v mknod >/dev/null"))
		cr_skip_test("needs unshare, setpriv and mknod (util-linux, coreutils)");
	need_uffd();
}

/* Run zt relay as nobody (groups: only gid, or none if gid < 0) after
 * the shell commands prep in a private mount namespace. */
static void run_as_nobody(struct run *r, const char *prep, long gid)
{
	char script[2048], groups[64];

	if (gid >= 0)
		snprintf(groups, sizeof(groups), "--groups=%ld", gid);
	else
		snprintf(groups, sizeof(groups), "--clear-groups");
	snprintf(script, sizeof(script),
		 "set -e; %s; exec setpriv --reuid=nobody --regid=nogroup %s -- "
		 "'%s' --stats -- '%s' relay", prep, groups, zio_run, zt);
	RUN(r, 60, "unshare", "--mount", "--propagation", "private", "sh", "-c", script);
	if (r->status == 126 || r->status == 127)
		cr_skip_test("user nobody cannot run the build: %s", r->err);
	cr_assert_eq(r->status, 0, "status %d\n%s\n%s", r->status, r->out, r->err);
	cr_assert(strstr(r->out, "zt: relay ok"), "%s", r->out);
}

/* The one "unavailable" line on stderr, checked to be there once and to
 * leave elision off. */
static const char *unavailable_line(const struct run *r)
{
	static const char what[] = "zio: userfaultfd with kernel-fault delivery unavailable";
	const char *p = strstr(r->err, what);

	cr_assert(p, "no unavailable line: %s", r->err);
	cr_assert(!strstr(p + 1, what), "said twice: %s", r->err);
	cr_assert_eq(stat_sum(r->err, "elided_copies"), 0, "%s", r->err);
	return p;
}

Test(privileges, node_of_root_only_names_the_node_and_its_mode)
{
	static struct run r;
	struct stat st;
	const char *p;

	need_host();
	if (stat("/dev/userfaultfd", &st))
		cr_skip_test("no /dev/userfaultfd on this machine");
	/* a node of the host's kind, root's only whatever the host's says */
	run_as_nobody(&r, "mknod -m 0600 /tmp/zio-uffd-$$ c 10 257; "
		      "mount --bind /tmp/zio-uffd-$$ /dev/userfaultfd; rm /tmp/zio-uffd-$$", -1);
	p = unavailable_line(&r);
	cr_assert(strstr(p, "needs read-write access to /dev/userfaultfd (mode 0600 uid 0 gid 0"),
		  "%s", p);
	cr_assert(!strstr(p, "vm.unprivileged_userfaultfd"), "%s", p);
}

Test(privileges, no_node_names_the_sysctl)
{
	static struct run r;
	const char *p;

	need_host();
	run_as_nobody(&r, "mount -t tmpfs zio-nodev /dev", -1);
	p = unavailable_line(&r);
	cr_assert(strstr(p, "needs CAP_SYS_PTRACE or sysctl vm.unprivileged_userfaultfd=1"),
		  "%s", p);
	cr_assert(!strstr(p, "/dev/userfaultfd"), "%s", p);
}

Test(privileges, neither_node_nor_sysctl_says_what_the_kernel_lacks)
{
	static struct run r;
	const char *p;

	need_host();
	run_as_nobody(&r, "mount -t tmpfs zio-nodev /dev; mount -t tmpfs zio-nosys /proc/sys/vm",
		      -1);
	p = unavailable_line(&r);
	cr_assert(strstr(p, "this kernel has neither /dev/userfaultfd nor "
			 "vm.unprivileged_userfaultfd"), "%s", p);
}

Test(privileges, a_group_owning_the_node_is_enough_to_elide)
{
	static struct run r;
	char prep[256];
	long gid = 0;

	need_host();
	if (access("/dev/userfaultfd", F_OK))
		cr_skip_test("no /dev/userfaultfd on this machine");
	/* a gid no group has: nobody is given it, the node is its group's */
	for (long g = 64000; g < 65000 && !gid; g++)
		if (!getgrgid((gid_t)g))
			gid = g;
	if (!gid)
		cr_skip_test("no free gid in 64000-64999");
	snprintf(prep, sizeof(prep), "mknod -m 0660 /tmp/zio-uffd-$$ c 10 257; "
		 "chgrp %ld /tmp/zio-uffd-$$; mount --bind /tmp/zio-uffd-$$ /dev/userfaultfd; "
		 "rm /tmp/zio-uffd-$$", gid);
	run_as_nobody(&r, prep, gid);
	cr_assert(!strstr(r.err, "unavailable"), "%s", r.err);
	cr_assert_gt(stat_sum(r.err, "elided_copies"), 0, "%s", r.err);
}
