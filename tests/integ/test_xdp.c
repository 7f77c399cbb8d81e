// SPDX-License-Identifier: MIT
/*
 * Integration tests of the AF_XDP path (zio-run --xdp): an unmodified
 * UDP echo server (tools/udpecho: plain sockets, in-app copies between
 * receive and reply) runs under zio-run --xdp in one network namespace,
 * and a verifying client in the other, across a veth pair the test
 * creates (tools/zio-netns.sh) and removes.  The client checks every
 * byte of every reply; the tests check the runtime's and the steering
 * program's counters, so a run where the ring path did not carry the
 * data (or elided nothing) cannot pass.  Skipped, in one line, where
 * not root or where XDP cannot be attached.
 */
#include <criterion/criterion.h>
#include <sys/stat.h>

#include "harness.h"

static char zio_run[512], udpecho[512], rawpkt[512], netns[512];
static char ns_a[32], ns_b[32], if_a[32], if_b[32], ip4_a[32], ip4_b[32], ip6_a[64];
static int id;
static bool topo_up;

static void setup(void)
{
	struct run r;

	path_in_build(zio_run, sizeof(zio_run), "zio-run");
	path_in_build(udpecho, sizeof(udpecho), "tools/udpecho");
	path_in_build(rawpkt, sizeof(rawpkt), "tests/progs/rawpkt");
	path_in_build(netns, sizeof(netns), "../tools/zio-netns.sh");
	id = 100 + getpid() % 100;
	snprintf(ns_a, sizeof(ns_a), "zio-a%d", id);
	snprintf(ns_b, sizeof(ns_b), "zio-b%d", id);
	snprintf(if_a, sizeof(if_a), "zio-va%d", id);
	snprintf(if_b, sizeof(if_b), "zio-vb%d", id);
	snprintf(ip4_a, sizeof(ip4_a), "198.18.%d.1", id);
	snprintf(ip4_b, sizeof(ip4_b), "198.18.%d.2", id);
	snprintf(ip6_a, sizeof(ip6_a), "fd00:5a10:%d::1", id);
	topo_up = false;
	if (geteuid() != 0)
		return;
	{
		char sid[8];

		snprintf(sid, sizeof(sid), "%d", id);
		RUN(&r, 30, netns, "up", sid);
	}
	topo_up = r.status == 0;
}

static pid_t live_server;

static void teardown(void)
{
	char sid[8];
	struct run r;

	/* a failed assertion left its server running */
	if (live_server > 0) {
		kill(live_server, SIGKILL);
		waitpid(live_server, NULL, 0);
		live_server = 0;
	}
	if (!topo_up)
		return;
	snprintf(sid, sizeof(sid), "%d", id);
	RUN(&r, 30, netns, "down", sid);
}

TestSuite(xdp, .init = setup, .fini = teardown, .timeout = 120);

static void need_xdp(void)
{
	static int avail = -1;

	if (geteuid() != 0)
		cr_skip_test("needs root (network namespaces, XDP, AF_XDP)");
	if (!topo_up)
		cr_skip_test("cannot create the veth test topology here");
	if (avail < 0) {
		struct run r;

		RUN(&r, 30, "ip", "netns", "exec", ns_a, zio_run, "--xdp", if_a, "--xdp-ports",
		    "9000", "--", "true");
		avail = r.status == 0;
		if (!avail)
			cr_log_warn("zio-run --xdp: %s", r.err);
	}
	if (!avail)
		cr_skip_test("XDP cannot be attached here");
}

struct server {
	pid_t pid;
	char out[256], err[256];
	char errtext[1 << 16];
};

/* Start `zio-run --stats ZARGS --xdp IF_A --xdp-ports 9000 -- udpecho
 * server SARGS` in namespace A; returns once it listens. */
static void server_start(struct server *s, const char *zargs, const char *sargs)
{
	char cmd[2048], line[256] = "";
	FILE *f;

	snprintf(s->out, sizeof(s->out), "/tmp/zio-xdp-test.%d.out", getpid());
	snprintf(s->err, sizeof(s->err), "/tmp/zio-xdp-test.%d.err", getpid());
	snprintf(cmd, sizeof(cmd),
		 "exec ip netns exec %s %s --stats %s --xdp %s --xdp-ports 9000 -- %s server "
		 "--port 9000 %s >%s 2>%s",
		 ns_a, zio_run, zargs, if_a, udpecho, sargs, s->out, s->err);
	s->pid = fork();
	if (s->pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	live_server = s->pid;
	for (int i = 0; i < 100; i++) {
		usleep(50000);
		f = fopen(s->out, "r");
		if (f) {
			bool ok = fgets(line, sizeof(line), f) && strstr(line, "listening");

			fclose(f);
			if (ok)
				return;
		}
	}
	cr_assert_fail("server did not start: %s", line);
}

/* SIGTERM the server; its stderr (with the stats line) into s->errtext. */
static int server_stop(struct server *s)
{
	int st = 0;
	FILE *f;
	size_t n = 0;

	kill(s->pid, SIGTERM);
	waitpid(s->pid, &st, 0);
	live_server = 0;
	f = fopen(s->err, "r");
	if (f) {
		n = fread(s->errtext, 1, sizeof(s->errtext) - 1, f);
		fclose(f);
	}
	s->errtext[n] = '\0';
	unlink(s->out);
	unlink(s->err);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void client(const char *addr, const char *sizes, const char *count)
{
	struct run r;

	RUN(&r, 60, "ip", "netns", "exec", ns_b, udpecho, "client", "--addr", (char *)addr,
	    "--port", "9000", "--sizes", (char *)sizes, "--count", (char *)count);
	cr_assert_eq(r.status, 0, "client: %s %s", r.out, r.err);
	cr_assert(strstr(r.out, "mismatched=0 lost=0"), "client: %s %s", r.out, r.err);
}

#define SIZES "1,2,100,1472,1473,3000,3841,4096,7681,8192,16384,32768,32769,40000,61440"

/* One echo run: every size, every byte; the ring path carried it all. */
static void echo_case(const char *addr, const char *mode, const char *api)
{
	struct server s;
	char sargs[256];

	need_xdp();
	snprintf(sargs, sizeof(sargs), "--copies 2 --mode %s --api %s", mode, api);
	server_start(&s, "", sargs);
	client(addr, SIZES, "2");
	cr_assert_eq(server_stop(&s), 0, "server: %s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "xdp_rx"), 30, "%s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "xdp_tx"), 30, "%s", s.errtext);
	cr_assert_eq(stat_of(s.errtext, "xdp_fallback"), 0, "%s", s.errtext);
	cr_assert_gt(stat_of(s.errtext, "elided_copies"), 0, "%s", s.errtext);
	cr_assert_gt(stat_of(s.errtext, "xdp_tx_desc_umem"), 0, "%s", s.errtext);
}

Test(xdp, ipv4_blocking_recvfrom_every_size)
{
	echo_case(ip4_a, "block", "recvfrom");
}

Test(xdp, ipv6_blocking_recvmsg_every_size)
{
	echo_case(ip6_a, "block", "recvmsg");
}

Test(xdp, ipv4_nonblocking_poll_recv)
{
	echo_case(ip4_a, "nonblock", "recv");
}

Test(xdp, ipv6_epoll_recvmmsg)
{
	echo_case(ip6_a, "epoll", "recvmmsg");
}

Test(xdp, ipv4_select_read)
{
	echo_case(ip4_a, "select", "read");
}

/* xsk_eintr under zio-run --xdp on port 9000 with `spin_env` set: a
 * receive every 3 ms while a timer interrupts it; must succeed. */
static void run_xsk_eintr(struct run *r, const char *spin_env)
{
	char prog[512];

	need_xdp();
	path_in_build(prog, sizeof(prog), "tests/progs/xsk_eintr");
	RUN(r, 30, "ip", "netns", "exec", ns_a, "env", (char *)spin_env, zio_run, "--stats",
	    "--xdp", if_a, "--xdp-ports", "9000", "--", prog, "9000", "3000");
	cr_assert_eq(r->status, 0, "out: %s err: %s", r->out, r->err);
}

/* A signal that lands while a blocking receive busy-polls the rings
 * interrupts it (EINTR), as it would a kernel socket's wait. */
Test(xdp, signal_during_the_receive_spin_gives_eintr)
{
	struct run r;

	/* spin 10 ms, timer 3 ms: receives 2 and 3 are in the spin then */
	run_xsk_eintr(&r, "ZIO_XDP_SPIN_US=10000");
	cr_assert(strstr(r.out, "eintr=3"), "%s", r.out);
	cr_assert_lt(stat_of(r.err, "xdp_spin_miss"), 1, "the spin ran to its end: %s", r.err);
}

/* A bad ZIO_XDP_SPIN_US is named in one warning and the default used:
 * the spin still runs (and the program still gets its EINTRs). */
Test(xdp, bad_spin_value_warns_and_uses_the_default)
{
	struct run r;

	run_xsk_eintr(&r, "ZIO_XDP_SPIN_US=12ms");
	cr_assert(strstr(r.err, "invalid ZIO_XDP_SPIN_US='12ms' (expected 0-10000 us): using 50"),
		  "%s", r.err);
	cr_assert(strstr(r.out, "eintr=3"), "%s", r.out);
}

/* zio-run's defaults under --xdp: 16 KiB datagrams received into one
 * buffer and copied twice stay elided once the policy has learned the
 * sites (each later alias replaces the last one over the same pages).
 * Before, the fixed cost of an alias's system calls outweighed four
 * pages' copies and the policy declined all but the first ~70. */
Test(xdp, sixteen_kilobyte_datagrams_stay_elided_with_the_defaults)
{
	struct server s;

	need_xdp();
	server_start(&s, "", "--copies 2");
	client(ip4_a, "16384", "400");
	cr_assert_eq(server_stop(&s), 0, "server: %s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "elided_copies"), 3 * 300, "%s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "xdp_aliased_bytes"), 300 * 16384, "%s", s.errtext);
}

/* Page-multiple payloads into page-aligned buffers: every payload byte
 * stays in its UMEM frame from receive to transmit. */
Test(xdp, large_datagrams_copy_no_payload_byte)
{
	struct server s;

	need_xdp();
	server_start(&s, "", "--copies 2");
	client(ip4_a, "32768,61440", "10");
	cr_assert_eq(server_stop(&s), 0, "server: %s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "elided_copies"), 40, "%s", s.errtext);
	/* the 4 bytes of nothing else: QUIT is not sent here, so 0 */
	cr_assert_eq(stat_of(s.errtext, "xdp_copied_bytes"), 0, "%s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "xdp_aliased_bytes"), 10 * (32768 + 61440), "%s",
		      s.errtext);
	cr_assert_geq(stat_of(s.errtext, "xdp_tx_desc_umem"), 10 * (8 + 15), "%s", s.errtext);
}

/* Malformed, fragmented and non-UDP packets go to the kernel, counted;
 * the server keeps working, and datagrams the kernel got (IP options,
 * fragments of an oversized datagram) still reach it. */
Test(xdp, malformed_and_fragmented_packets_are_passed_and_counted)
{
	struct server s;
	char mac[32] = "";
	struct run r;
	FILE *p;
	char cmd[256];

	need_xdp();
	snprintf(cmd, sizeof(cmd), "ip -n %s -o link show %s", ns_a, if_a);
	p = popen(cmd, "r");
	if (p) {
		char line[512];

		if (fgets(line, sizeof(line), p)) {
			char *e = strstr(line, "link/ether ");

			if (e)
				sscanf(e + 11, "%31s", mac);
		}
		pclose(p);
	}
	cr_assert(mac[0], "no MAC for %s", if_a);
	server_start(&s, "", "--copies 1");
	RUN(&r, 20, "ip", "netns", "exec", ns_b, rawpkt, if_b, mac, ip4_b, ip4_a, "9000");
	cr_assert_eq(r.status, 0, "rawpkt: %s %s", r.out, r.err);
	/* 65000 B does not fit the 65000 MTU: it travels as IP fragments */
	client(ip4_a, "100,65000,61440,100", "2");
	cr_assert_eq(server_stop(&s), 0, "server: %s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "xdp_trunc"), 1, "%s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "xdp_ip_opt"), 2, "%s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "xdp_frag"), 3, "%s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "xdp_bad_len"), 2, "%s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "xdp_not_udp"), 1, "%s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "xdp_port"), 1, "%s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "xdp_not_ip"), 1, "%s", s.errtext);
	/* the options datagram and the two 65000 B ones came via the kernel */
	cr_assert_geq(stat_of(s.errtext, "xdp_rx_kernel"), 3, "%s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "xdp_rx"), 6, "%s", s.errtext);
}

/* A tiny UMEM: the oldest aliases are materialised to free frames, and
 * nothing is lost. */
Test(xdp, frame_exhaustion_loses_nothing)
{
	struct server s;

	need_xdp();
	server_start(&s, "--xdp-frames 64 --xdp-ring 64", "--copies 2");
	client(ip4_a, "61440,32768,61440,100,61440", "12");
	cr_assert_eq(server_stop(&s), 0, "server: %s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "xdp_rx"), 60, "%s", s.errtext);
	cr_assert_eq(stat_of(s.errtext, "xdp_dropped"), 0, "%s", s.errtext);
	cr_assert_leq(stat_of(s.errtext, "frames_held_max"), 64, "%s", s.errtext);
}

static bool xdp_attached(void)
{
	char cmd[256], line[512];
	bool any = false;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ip -n %s -d link show %s", ns_a, if_a);
	p = popen(cmd, "r");
	if (!p)
		return false;
	while (fgets(line, sizeof(line), p))
		any |= strstr(line, "prog/xdp") != NULL || strstr(line, "xdpgeneric") != NULL;
	pclose(p);
	return any;
}

/* SIGKILL leaves no XDP program behind, and a new run works at once. */
Test(xdp, sigkill_leaves_no_program_and_rerun_works)
{
	struct server s;
	int st;

	need_xdp();
	server_start(&s, "", "--copies 1");
	cr_assert(xdp_attached(), "no XDP program while the server runs");
	client(ip4_a, "100,61440", "1");
	kill(s.pid, SIGKILL);
	waitpid(s.pid, &st, 0);
	live_server = 0;
	unlink(s.out);
	unlink(s.err);
	for (int i = 0; i < 50 && xdp_attached(); i++)
		usleep(20000);
	cr_assert(!xdp_attached(), "XDP program left attached after SIGKILL");
	server_start(&s, "", "--copies 1");
	client(ip6_a, "100,61440", "2");
	cr_assert_eq(server_stop(&s), 0, "server: %s", s.errtext);
	cr_assert_geq(stat_of(s.errtext, "xdp_rx"), 4, "%s", s.errtext);
	cr_assert(!xdp_attached(), "XDP program left attached after exit");
}
