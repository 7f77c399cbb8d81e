// SPDX-License-Identifier: MIT
/*
 * zsig — a program that a signal ends, for the tests of --stats' last
 * words (tests/integ/test_signals.c).  Each mode first relays a few
 * messages (recv, then memcpy: copies the runtime elides), prints
 * "zsig: ready" and waits for the test's signal, or ends itself by one.
 *
 *   idle       pause until a signal ends it
 *   busy       two threads relay without end while the signal comes
 *   handler    its own SIGTERM handler (after checking that SIGTERM,
 *              SIGINT and SIGSEGV read SIG_DFL): exits 0 from it
 *   resethand  a SA_RESETHAND handler: the first SIGTERM runs it, the
 *              second ends the process
 *   segv       a store through NULL (no core: not dumpable)
 *   abort      abort() (no core)
 *   pipe       a write to a pipe nobody reads, SIGPIPE at SIG_DFL
 *   fork       a child paused, killed by SIGTERM from its parent
 *   query      each watched signal as the program sees it (sigaction)
 *              and as the kernel holds it (raw rt_sigaction)
 *   exec       exec itself in mode query
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *mode = "?";

#define FAIL(...) do { \
	printf("zsig: %s FAIL ", mode); printf(__VA_ARGS__); printf("\n"); \
	fflush(stdout); exit(1); } while (0)

#include "feed.h"

#define MSG (512 << 10)

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	CHECK(p, "malloc %zu", n);
	return p;
}

/* recv then memcpy, and check the copy (its pages are read) */
static void relay(int rounds, unsigned seed)
{
	unsigned char *in = xmalloc(MSG), *out = xmalloc(MSG);

	for (int r = 0; r < rounds; r++) {
		receive(in, MSG, seed + (unsigned)r);
		memcpy(out, in, MSG);
		expect(out, MSG, seed + (unsigned)r, 0, "copy");
	}
	free(in);
	free(out);
}

static void ready(const char *what)
{
	printf("zsig: %s\n", what);
	fflush(stdout);
}

static const char *view(const struct sigaction *sa)
{
	if (!(sa->sa_flags & SA_SIGINFO) && sa->sa_handler == SIG_DFL)
		return "dfl";
	if (!(sa->sa_flags & SA_SIGINFO) && sa->sa_handler == SIG_IGN)
		return "ign";
	return "handler";
}

static const char *prog_view(int sig)
{
	struct sigaction sa;

	CHECK(!sigaction(sig, NULL, &sa), "sigaction %d: %s", sig, strerror(errno));
	return view(&sa);
}

/* what the kernel holds, past any sigaction interposed */
static const char *kernel_view(int sig)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		unsigned long mask;
	} k;

	CHECK(!syscall(SYS_rt_sigaction, sig, NULL, &k, sizeof(k.mask)), "rt_sigaction %d", sig);
	if (k.handler == (void *)SIG_DFL)
		return "dfl";
	if (k.handler == (void *)SIG_IGN)
		return "ign";
	return "handler";
}

static void no_core(void)
{
	CHECK(!prctl(PR_SET_DUMPABLE, 0), "prctl: %s", strerror(errno));
}

/* ------------------------------------------------------------ modes */

static void mode_idle(void)
{
	relay(3, 1);
	ready("ready");
	for (;;)
		pause();
}

static void *busy_thread(void *arg)
{
	for (unsigned r = 0;; r++)
		relay(1, (unsigned)(uintptr_t)arg + r);
	return NULL;
}

static void mode_busy(void)
{
	pthread_t t;

	relay(2, 1);
	CHECK(!pthread_create(&t, NULL, busy_thread, (void *)(uintptr_t)100), "pthread_create");
	ready("ready");
	busy_thread((void *)(uintptr_t)200);
}

static volatile sig_atomic_t got;

static void on_term(int sig)
{
	static const char msg[] = "zsig: handler ran\n";

	(void)sig;
	got++;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		got = -1;
}

static void mode_handler(void)
{
	struct sigaction sa, old;

	sighandler_t h;

	relay(3, 1);
	printf("zsig: before SIGTERM=%s SIGINT=%s SIGSEGV=%s", prog_view(SIGTERM),
	       prog_view(SIGINT), prog_view(SIGSEGV));
	h = signal(SIGINT, SIG_DFL);
	printf(" signal()=%s\n", h == SIG_DFL ? "dfl" : h == SIG_IGN ? "ign" : "handler");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	CHECK(!sigaction(SIGTERM, &sa, &old), "sigaction: %s", strerror(errno));
	printf("zsig: replaced %s\n", view(&old));
	CHECK(!sigaction(SIGTERM, NULL, &sa) && sa.sa_handler == on_term,
	      "sigaction does not report the handler");
	ready("ready");
	while (!got)
		pause();
	relay(1, 9);
	ready("exiting");
	exit(0);
}

static void mode_resethand(void)
{
	struct sigaction sa;

	relay(3, 1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	CHECK(!sigaction(SIGTERM, &sa, NULL), "sigaction: %s", strerror(errno));
	ready("ready");
	while (!got)
		pause();
	printf("zsig: after SIGTERM=%s\n", prog_view(SIGTERM));
	ready("ready again");
	for (;;)
		pause();
}

/* A store into a page with no access: a real fault, and no undefined
 * behaviour for a sanitizer to stop first (a store through NULL made the
 * UBSan build exit 1 instead of crashing). */
static void mode_segv(void)
{
	volatile int *nowhere;
	void *p;

	relay(3, 1);
	no_core();
	p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		FAIL("mmap: %s", strerror(errno));
	nowhere = p;
	ready("crashing");
	*nowhere = 1;
	FAIL("survived a store into a page with no access");
}

static void mode_abort(void)
{
	relay(3, 1);
	no_core();
	ready("aborting");
	abort();
}

static void mode_pipe(void)
{
	int p[2];

	relay(3, 1);
	CHECK(!pipe(p), "pipe");
	close(p[0]);
	ready("writing");
	if (write(p[1], "x", 1) < 0)
		FAIL("write returned: %s", strerror(errno));
	FAIL("write returned");
}

static void mode_fork(void)
{
	pid_t pid;
	int st;

	relay(3, 1);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		relay(2, 50);
		for (;;)
			pause();
	}
	usleep(300000);
	kill(pid, SIGTERM);
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "child: status %#x", st);
	printf("zsig: child %d killed by SIGTERM\n", (int)pid);
	exit(0);
}

static void mode_query(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1,
				    SIGALRM, SIGSEGV, SIGBUS, SIGABRT, SIGCHLD, SIGWINCH };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		printf("zsig: %s prog=%s kernel=%s\n", sigabbrev_np(sigs[i]),
		       prog_view(sigs[i]), kernel_view(sigs[i]));
	/* the program's SIG_IGN replaces ours; its SIG_DFL again is ours */
	signal(SIGUSR1, SIG_IGN);
	printf("zsig: USR1 ignored prog=%s kernel=%s\n", prog_view(SIGUSR1), kernel_view(SIGUSR1));
	signal(SIGUSR1, SIG_DFL);
	printf("zsig: USR1 again prog=%s kernel=%s\n", prog_view(SIGUSR1), kernel_view(SIGUSR1));
	exit(0);
}

static char *self;

static void mode_exec(void)
{
	relay(1, 1);
	execl(self, self, "query", (char *)NULL);
	FAIL("exec: %s", strerror(errno));
}

static const struct {
	const char *name;
	void (*fn)(void);
} modes[] = {
	{ "idle", mode_idle }, { "busy", mode_busy }, { "handler", mode_handler },
	{ "resethand", mode_resethand }, { "segv", mode_segv }, { "abort", mode_abort },
	{ "pipe", mode_pipe }, { "fork", mode_fork }, { "query", mode_query },
	{ "exec", mode_exec },
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: zsig MODE (idle busy handler resethand segv abort pipe "
			"fork query exec)\n");
		return 2;
	}
	self = argv[0];
	mode = argv[1];
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(modes[i].name, mode)) {
			modes[i].fn();
			return 0;
		}
	fprintf(stderr, "zsig: unknown mode %s\n", mode);
	return 2;
}
