/* SPDX-License-Identifier: MIT */
/*
 * Internal interfaces of libzio.so.  Everything here is hidden
 * (-fvisibility=hidden); only the interposed libc symbols leave the
 * library (libzio.map).
 *
 * Vocabulary
 *   original  app memory that received input (recv/read...) and that
 *             aliases may depend on; write-protected with userfaultfd
 *             while it has dependants.
 *   shadow    zio-owned pages holding the bytes of a retired original
 *             (one whose app memory was about to change while aliases
 *             still needed its old bytes).  Shadows never change.
 *   origin    the object an alias reads from: an original (APP) or a
 *             shadow (SHADOW).  Aliases point at the origin object, so
 *             retiring an original re-points all of them at once.
 *   alias     page-aligned app range whose pages are absent (userfaultfd
 *             MISSING) and whose bytes are defined as origin bytes.
 *   spare     populated pages parked in the arena (moved aside from
 *             alias destinations) and handed back to the program when it
 *             needs populated memory again.
 */
#ifndef ZIO_INTERNAL_H
#define ZIO_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/socket.h>

#define ZIO_HIDDEN __attribute__((visibility("hidden")))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define ZIO_PAGE      4096UL
#define ZIO_PAGE_MASK (~(ZIO_PAGE - 1))
static inline uintptr_t pg_dn(uintptr_t a) { return a & ZIO_PAGE_MASK; }
static inline uintptr_t pg_up(uintptr_t a) { return (a + ZIO_PAGE - 1) & ZIO_PAGE_MASK; }

/* ------------------------------------------------------------ logging */
enum { ZIO_LOG_QUIET, ZIO_LOG_WARN, ZIO_LOG_INFO, ZIO_LOG_DEBUG };
extern int zio_log_level;
void zio_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define pr_warn(...)  do { if (zio_log_level >= ZIO_LOG_WARN)  zio_log(ZIO_LOG_WARN, __VA_ARGS__); } while (0)
#define pr_info(...)  do { if (zio_log_level >= ZIO_LOG_INFO)  zio_log(ZIO_LOG_INFO, __VA_ARGS__); } while (0)
#define pr_debug(...) do { if (zio_log_level >= ZIO_LOG_DEBUG) zio_log(ZIO_LOG_DEBUG, __VA_ARGS__); } while (0)
/*
 * The debug trace (ZIO_LOG=3): one line per decision of the data path --
 * which input made which original, which copy aliased what, which retire,
 * redirect, fault or drop ran on which thread.  Off by default; the test
 * is one predictable branch, and the small-copy fast path never reaches
 * a call site.  Lines carry the thread id and a timestamp, go to
 * ZIO_LOG_FILE when set (else stderr), and are rate-limited
 * (ZIO_LOG_RATE lines a second, 0: unlimited), with the number left out
 * said in the next line that passes.
 */
void zio_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define pr_trace(...) do { if (unlikely(zio_log_level >= ZIO_LOG_DEBUG)) zio_trace(__VA_ARGS__); } while (0)
/* Where log lines go (ZIO_LOG_FILE, opened at start-up): -1 is stderr. */
void zio_log_open(const char *path);
extern uint64_t zio_log_rate;
/* Write a string to stderr with a raw syscall (never the interposed write). */
void zio_write_stderr(const char *s, size_t n);
/* snprintf into a caller buffer without touching malloc. */
int zio_snprintf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------ options */
struct zio_options {
	bool off;              /* ZIO_OFF: elide nothing */
	bool stats;            /* ZIO_STATS: print counters at exit */
	uint64_t threshold;    /* ZIO_THRESHOLD: smallest copy elided */
	uint64_t input_min;    /* smallest input tracked as an original */
	uint64_t pool_max;     /* ZIO_POOL_MAX: spare bytes kept */
	uint64_t max_aliases;  /* ZIO_MAX_ALIASES: live alias records cap */
	bool adaptive;         /* ZIO_POLICY=adaptive */
};
extern struct zio_options zio_opt;
/* Read ZIO_* from environ; a bad value gets one warning and the default. */
void zio_options_load(char **envp);
/* Value of NAME in envp, or NULL, without calling getenv (safe very early). */
const char *zio_env_get(char **envp, const char *name);

/* ------------------------------------------------------------ real libc */
struct zio_real {
	void *(*memcpy)(void *, const void *, size_t);
	void *(*memmove)(void *, const void *, size_t);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*pread)(int, void *, size_t, off_t);
	ssize_t (*preadv)(int, const struct iovec *, int, off_t);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*pwrite)(int, const void *, size_t, off_t);
	ssize_t (*pwritev)(int, const struct iovec *, int, off_t);
	void (*free)(void *);
	void *(*malloc)(size_t);
	void *(*realloc)(void *, size_t);
	size_t (*malloc_usable_size)(void *);
	int (*munmap)(void *, size_t);
	void *(*mremap)(void *, size_t, size_t, int, ...);
	int (*madvise)(void *, size_t, int);
	pid_t (*_Fork)(void);
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
};
extern struct zio_real zio_real;
/* 32-byte copies of 65-256 bytes in the memcpy interposer (x86-64) */
extern bool zio_have_avx2;
/* Resolve the table once (idempotent, thread-safe). */
void zio_real_init(void);
/* Copy without any interposition: libc's memmove once known, else a loop. */
void zio_raw_copy(void *dst, const void *src, size_t n);

/* ------------------------------------------------------------ tree */
/* AVL tree of non-overlapping [start, end) ranges keyed by start. */
struct zio_node {
	struct zio_node *l, *r;
	int h;
	uintptr_t start, end;
	/* largest end - start in this subtree: first-fit in O(log n) */
	uintptr_t maxlen;
};
struct zio_tree {
	struct zio_node *root;
	size_t count;
};
void zio_tree_insert(struct zio_tree *t, struct zio_node *n);
void zio_tree_remove(struct zio_tree *t, struct zio_node *n);
/* Node with the largest start <= addr, or NULL. */
struct zio_node *zio_tree_floor(const struct zio_tree *t, uintptr_t addr);
/* Node with the smallest start > key, or NULL. */
struct zio_node *zio_tree_after(const struct zio_tree *t, uintptr_t key);
/* First node overlapping [a, b), or NULL. */
struct zio_node *zio_tree_first_overlap(const struct zio_tree *t, uintptr_t a, uintptr_t b);
struct zio_node *zio_tree_first(const struct zio_tree *t);
/* Recompute the subtree maxima along the path to the node keyed `start`
 * (after changing its start or end in place). */
void zio_tree_refresh(struct zio_tree *t, uintptr_t start);
/* Lowest node with end - start >= len, or NULL; O(log n). */
struct zio_node *zio_tree_first_fit(const struct zio_tree *t, uintptr_t len);

/* Extent set: a tree of coalesced [start, end) ranges (registered memory,
 * free arena space, spare pages).  Nodes come from a private slab. */
struct zio_extents {
	struct zio_tree t;
	uint64_t bytes;
};
int zio_extents_add(struct zio_extents *s, uintptr_t a, uintptr_t b);
void zio_extents_del(struct zio_extents *s, uintptr_t a, uintptr_t b);
bool zio_extents_covers(const struct zio_extents *s, uintptr_t a, uintptr_t b);
/* Take up to len bytes from the lowest extent of at least `min` bytes
 * (min = 0: any).  Returns the bytes taken and their start in *a. */
uint64_t zio_extents_take(struct zio_extents *s, uint64_t len, uint64_t min, uintptr_t *a);
void zio_extents_clear(struct zio_extents *s);

/* ------------------------------------------------------------ index */
enum zio_origin_kind { ZIO_ORIGIN_APP = 1, ZIO_ORIGIN_SHADOW = 2, ZIO_ORIGIN_UMEM = 3 };
enum zio_region_type { ZIO_R_ORIG = 1, ZIO_R_ALIAS = 2 };

struct zio_region;

struct zio_origin {
	uint64_t id;
	uint8_t kind;
	/*
	 * Origin byte `off` lives at address base + off.  For APP origins
	 * base is the app address of the received data; for SHADOW origins
	 * it is computed so that the same offsets land in the shadow pages.
	 */
	uintptr_t base;
	uint64_t len;
	/* APP: the one ORIG region holding its bytes (NULL once retired). */
	struct zio_region *region;
	/* APP: write-protected page range, [wp_lo, wp_hi). */
	uintptr_t wp_lo, wp_hi;
	/* SHADOW: the arena pages holding the bytes. */
	uintptr_t shadow_lo, shadow_hi;
	uint64_t ref_pages;          /* alias pages that read from it */
	uint32_t pins;               /* readers outside the lock (output...) */
	struct zio_region *aliases;  /* alias regions reading from it */
	uint64_t born_ns;
	uint64_t cookie;             /* UMEM: the owner's frame handle */
	uintptr_t in_site;           /* APP: the input call that received it */
	uint32_t copies;             /* elided copies that read from it */
	struct zio_origin *next_free;
};

struct zio_region {
	struct zio_node node;        /* node.start/end: app byte range */
	uint8_t type;
	struct zio_origin *o;
	/* Origin offset of node.start (ORIG: start - o->base). */
	uint64_t ooff;
	/* ALIAS: siblings reading from the same origin. */
	struct zio_region *onext, *oprev;
	uintptr_t site;              /* call site that created it */
	uint64_t born_ns;
	/* ALIAS: fault-around state: where a sequential reader faults next,
	 * and how many pages the last fault brought in */
	uintptr_t next_fault;
	uint32_t window;
};

struct zio_index {
	struct zio_tree regions;
	uint64_t n_orig, n_alias;    /* region counts by type */
	uint64_t alias_pages;
	uint64_t next_origin_id;
};

void zio_index_init(struct zio_index *ix);
/* Drop every region and origin (after fork in the child). */
void zio_index_reset(struct zio_index *ix);
struct zio_region *zio_region_at(struct zio_index *ix, uintptr_t addr);
struct zio_region *zio_region_first_overlap(struct zio_index *ix, uintptr_t a, uintptr_t b);
struct zio_region *zio_region_next(struct zio_index *ix, struct zio_region *r);

/* A new APP origin for [a, b), merged into an adjacent original that
 * ends at a when possible.  Caller made sure [a, b) holds no region.
 * Returns the region or NULL (ENOMEM). */
struct zio_region *zio_index_add_orig(struct zio_index *ix, uintptr_t a, uintptr_t b,
				      uintptr_t site, uint64_t now);
/* Record that pages [a, b) alias origin o from offset ooff; merged with
 * an adjacent alias of the same origin at the matching offset.  Caller
 * made sure [a, b) holds no region.  Returns the region or NULL. */
struct zio_region *zio_index_add_alias(struct zio_index *ix, uintptr_t a, uintptr_t b,
				       struct zio_origin *o, uint64_t ooff,
				       uintptr_t site, uint64_t now);
/* Remove [a, b) from region r (trimming or splitting it); updates origin
 * references.  Origins left without references or regions are freed. */
void zio_index_cut(struct zio_index *ix, struct zio_region *r, uintptr_t a, uintptr_t b);
/* Free an origin whose last user went away (no refs, no pins, no region). */
void zio_origin_put_if_unused(struct zio_index *ix, struct zio_origin *o);
struct zio_origin *zio_origin_new(struct zio_index *ix);
/* Called with the shadow extent of an origin being freed (arena). */
extern void (*zio_index_shadow_release)(uintptr_t lo, uintptr_t hi);
/* Called when an APP origin loses its region (policy learning). */
extern void (*zio_index_origin_end)(const struct zio_origin *o);
/* Called when a UMEM origin has no alias, pin or hold left (AF_XDP). */
extern void (*zio_index_umem_release)(struct zio_origin *o);
/* Announce a region's current shape to observers (USDT). */
void zio_probe_region(const struct zio_region *r);

/* Segment of a source range resolved through the index. */
struct zio_seg {
	uintptr_t addr;        /* start in the queried range */
	uint64_t len;
	struct zio_origin *o;  /* NULL: plain memory (not IO data) */
	uint64_t ooff;         /* origin offset of addr */
	uint8_t type;          /* region type when o != NULL */
};
/* Resolve [a, a+n) into at most max segments (alias-of-alias goes to the
 * ultimate origin).  Returns the number of segments, or -1 if more than
 * max would be needed. */
int zio_index_resolve(struct zio_index *ix, uintptr_t a, uint64_t n,
		      struct zio_seg *segs, int max);

/* Is origin byte range [off, off+len) of o stable and readable now? */
bool zio_origin_covers(const struct zio_origin *o, uint64_t off, uint64_t len);
static inline uintptr_t zio_origin_addr(const struct zio_origin *o, uint64_t off)
{
	return o->base + off;
}

/* ------------------------------------------------------------ stats */
struct zio_stats {
	_Atomic uint64_t elided_copies, elided_bytes;
	_Atomic uint64_t materialized_pages, faults, fallbacks;
	_Atomic uint64_t wp_faults, missing_faults, zero_faults, kernel_events;
	_Atomic uint64_t outputs_substituted, output_bytes_from_origin;
	_Atomic uint64_t retired_copy, retired_move, parked_pages, refilled_pages;
	_Atomic uint64_t inputs_tracked, policy_skips, policy_declined, policy_explores;
	_Atomic uint64_t policy_untracked, policy_promoted, inputs_redirected;
	_Atomic uint64_t fb_register, fb_move, fb_copy, fb_wp, fb_alloc, fb_cap;
};
extern struct zio_stats zio_stats;
#define ZIO_STAT_ADD(f, v) atomic_fetch_add_explicit(&zio_stats.f, (v), memory_order_relaxed)
/* A failure absorbed by a real copy: counted by reason, announced. */
void zio_fallback(int reason);

/* ------------------------------------------------------------ state */
struct zio_state {
	pthread_mutex_t lock;
	int uffd;                    /* -1 until set up */
	bool uffd_ok;                /* kernel-fault capable userfaultfd */
	bool have_move;              /* UFFDIO_MOVE available */
	bool thread_started;
	pthread_t fault_thread;
	int wake_fd;                 /* eventfd to stop the fault thread */
	struct zio_index ix;
	struct zio_extents registered; /* app ranges registered MISSING|WP */
	/* arena */
	uintptr_t arena_lo, arena_hi;
	struct zio_extents arena_free;   /* empty virtual space */
	struct zio_extents spare;        /* populated spare pages */
	/* WP faults that wait for pins to drop */
#define ZIO_MAX_DEFERRED 256
	uintptr_t deferred[ZIO_MAX_DEFERRED];
	int n_deferred;
	/* Threads waiting for pins on originals to drop (zio_wait_unpinned),
	 * woken by zio_unpin. */
	pthread_cond_t unpinned;
	int pin_waiters;
	pid_t pid;
};
extern struct zio_state zio;
/* Elision possible right now (cheap check for the hot paths). */
extern _Atomic int zio_active;
/* Count of regions (originals + aliases); hot paths skip the index at 0. */
extern _Atomic uint64_t zio_live_regions;
extern _Atomic uint64_t zio_live_aliases;

/* The runtime lock (a mutex, not a signal mask: asynchronous signals that
 * arrive while a thread holds it are deferred by our handler wrapper,
 * signal.c).  zio_unlock first handles the reports an ioctl read while it
 * waited. */
void zio_lock(void);
void zio_unlock(void);
/* Deferral of asynchronous signals (signal.c): a thread with depth > 0
 * holds the lock or pins; the program's handlers wait until it ends. */
extern __thread int zio_lock_depth __attribute__((tls_model("initial-exec")));
static inline void zio_defer_begin(void)
{
	zio_lock_depth++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}
void zio_defer_end(void);
bool zio_signals_pending(void);
void zio_signals_flush(void);
void zio_signals_child(void);
uint64_t zio_now_ns(void);

/* ------------------------------------------------------------ uffd */
int zio_uffd_open(void);                  /* 0 or -errno */
int zio_uffd_register(uintptr_t a, uintptr_t b);   /* MISSING|WP, tracked */
int zio_uffd_register_mode(uintptr_t a, uintptr_t b, bool missing); /* untracked */
void zio_uffd_forget(uintptr_t a, uintptr_t b);    /* drop from tracking */
int zio_uffd_unregister(uintptr_t a, uintptr_t b);
int zio_uffd_wp(uintptr_t a, uintptr_t b, bool on);
int zio_uffd_copy(uintptr_t dst, uintptr_t src, uint64_t len);
/* Move pages: 0 when all moved, else -errno; *moved = bytes moved. */
int zio_uffd_move(uintptr_t dst, uintptr_t src, uint64_t len, bool holes, uint64_t *moved);
int zio_uffd_zeropage(uintptr_t dst, uint64_t len);
int zio_uffd_wake(uintptr_t a, uint64_t len);
/* Reports read while an ioctl met EAGAIN: handle them (lock held). */
bool zio_uffd_has_pending(void);
void zio_uffd_process_pending(void);

/* ------------------------------------------------------------ arena */
int zio_arena_init(void);
/* Move the populated pages of app range [a, b) into spare.  Returns the
 * number of pages parked or -errno (pages that could not move remain). */
long zio_arena_park(uintptr_t a, uintptr_t b);
/* Fill app range [a, b) (registered, all absent) from spare pages.
 * Returns bytes filled from the start of the range. */
uint64_t zio_arena_refill(uintptr_t a, uintptr_t b);
/* A shadow holding a copy of [src, src+len) (page multiple): returns its
 * arena address, or 0 with errno set. */
uintptr_t zio_arena_shadow_fill(uintptr_t src, uint64_t len);
/* Move app pages [src, src+len) into a new shadow (no copy), all or
 * nothing: returns the shadow, or 0 with the pages where they were. */
uintptr_t zio_arena_shadow_take(uintptr_t src, uint64_t len);
void zio_arena_shadow_free(uintptr_t lo, uintptr_t hi);
/* Produce one page at absent dst with the bytes at src, from a spare
 * page (the fallback when UFFDIO_COPY fails).  0 or -errno. */
int zio_arena_page_in(uintptr_t dst, uintptr_t src);
void zio_arena_reset_child(void);
/* Give spare memory above the cap back to the kernel (call unlocked). */
void zio_arena_trim(void);

/* ------------------------------------------------------------ core */
/* Make [a, b) safe to overwrite with new bytes of the program's:
 * originals in it lose their dependants' claim (retired), aliases are
 * dropped when `keep` is false or materialised when true (their content
 * must survive because the overwrite may be partial). */
enum zio_prep { ZIO_PREP_OVERWRITE, ZIO_PREP_INPUT, ZIO_PREP_RELEASE, ZIO_PREP_UNMAP };
int zio_prepare_range(uintptr_t a, uintptr_t b, enum zio_prep how);
/* Input into [a, a+len) is coming and expected to write `expect` bytes:
 * make that safe cheaply (see core.c).  Fills rs with what to restore if
 * the input is shorter; returns the number of entries. */
struct zio_restore {
	uintptr_t lo, hi;
	struct zio_origin *o;     /* held: its pages count as references */
	uint64_t ooff;
};
int zio_prepare_input(uintptr_t a, uint64_t len, uint64_t expect, struct zio_restore *rs,
		      int max, uintptr_t site);
void zio_finish_input(uintptr_t a, uint64_t n, struct zio_restore *rs, int nrs);

/* An input received into a spare arena extent instead (core.c). */
#define REDIRECT_MIN_PAGES  4
#define REDIRECT_MAX_COPIES 16
struct zio_redirect {
	uintptr_t a;            /* the program's buffer */
	uint64_t len;
	uintptr_t sp, sb;       /* the extent; where byte a lands in it */
	uint64_t span;
	uintptr_t site;
};
bool zio_redirect_begin(struct zio_redirect *rd, uintptr_t a, uint64_t len, uintptr_t site,
			uint64_t exp);
void zio_redirect_end(struct zio_redirect *rd, ssize_t n);
/* Are all pages of [a, a+len) present?  Guards every read of app memory
 * made under the lock: a hole there would fault into our own thread. */
bool zio_app_present(uintptr_t a, uint64_t len);
/* Lift the write protection of an original (all of its hull). */
void zio_origin_unprotect(struct zio_origin *o);
/* Original r has dependants and an input is expected to write [a, hi) of
 * it: retire it by moving its pages into a shadow (path/input.c).  0, or
 * -1 when nothing was moved. */
int zio_retire_for_input(struct zio_region *r, uintptr_t a, uintptr_t hi,
			 struct zio_restore *rs, int *nrs, int max, uintptr_t site, bool redirect);
/* Materialise alias pages [a, b) of region r (page aligned). */
int zio_materialize(struct zio_region *r, uintptr_t a, uintptr_t b);
/* Copy the bytes of an original to a shadow; aliases follow the origin. */
int zio_retire(struct zio_origin *o, bool content_dead);
void zio_unpin(struct zio_origin **pins, int n);
/* Pins on an original mean another thread reads its app bytes outside
 * the lock right now (an output or a copy, at the address it resolved):
 * they must not change, move or go until it is done.  A thread about to
 * change [a, b) (input, copy, release) waits here, lock held, until no
 * original there is pinned, as its store would wait in the fault
 * handler.  Never called by the fault thread.  Returns whether it
 * waited (the index may have changed meanwhile). */
bool zio_wait_unpinned(uintptr_t a, uintptr_t b);
/* The fault thread (path/fault.c): started once, 0 or -errno. */
int zio_fault_thread_start(void);
struct uffd_msg;
void zio_fault_handle(const struct uffd_msg *m);
void zio_handle_wp_fault(uintptr_t addr);
void zio_handle_missing_fault(uintptr_t addr, bool write);
void zio_handle_event_range(uintptr_t a, uintptr_t b, bool remap_to, uintptr_t to);
void zio_materialize_all(void);
int zio_ensure_ready(void);   /* uffd thread up: 0 or -errno */

/* Every alias of o gets its bytes (o's last references go).  Lock held.
 * 0 or -errno. */
int zio_materialize_origin(struct zio_origin *o, int cause);

/* ------------------------------------------------------------ AF_XDP hooks */
/*
 * The AF_XDP socket layer (user/xsk*.c) owns some descriptors; the
 * interposers ask it first.  Each returns true when it handled the call
 * (result in *ret, errno set as libc would), false to fall through.
 */
extern _Atomic int zio_xsk_enabled;
bool zio_xsk_recvmsg(int fd, struct msghdr *msg, int flags, ssize_t *ret);
bool zio_xsk_sendmsg(int fd, const struct msghdr *msg, int flags, ssize_t *ret);
/* Copy n bytes of origin o (from ooff) to dst, eliding what it can (the
 * interior pages become aliases of o).  Takes the lock itself. */
void *zio_copy_from_origin(void *dst, struct zio_origin *o, uint64_t ooff, size_t n,
			   uintptr_t site);

/* data path (copy.c, input.c, output.c, release.c, fork.c) */
void *zio_copy(void *dst, const void *src, size_t n, bool is_move, uintptr_t site);
/* bufp: where call() takes its one buffer from (NULL: it cannot be
 * pointed elsewhere), so the input can be received into the arena. */
ssize_t zio_input(int fd, const struct iovec *iov, int iovcnt, uintptr_t site,
		  ssize_t (*call)(void *ctx), void *ctx, void **bufp, off_t off, bool positional,
		  int flags);
ssize_t zio_output(int kind, int fd, const struct iovec *iov, int iovcnt, int flags,
		   const struct sockaddr *to, socklen_t tolen, const struct msghdr *msg,
		   off_t off);
void zio_release(void *p, size_t n, enum zio_prep how, bool unmapping);
void zio_fork_prepare(void);
void zio_fork_parent(void);
void zio_fork_child(void);

/* Would a blocking call interrupted by a signal be restarted?  True only
 * if every handled signal has SA_RESTART (we cannot tell which fired). */
bool zio_all_handlers_restart(void);
extern __thread uint32_t zio_sig_seq;

/* output kinds */
enum { ZIO_OUT_SEND, ZIO_OUT_SENDTO, ZIO_OUT_SENDMSG, ZIO_OUT_WRITE, ZIO_OUT_WRITEV,
       ZIO_OUT_PWRITE, ZIO_OUT_PWRITEV };

/* policy.c (called under the lock) */
bool zio_policy_allow(uintptr_t site, uint64_t bytes);
void zio_policy_redirected(uintptr_t in_site, uint64_t bytes);
/* Should the first alias of an original received at in_site be made?
 * pages: destination pages to alias; present: of those, populated;
 * aliased: of those, aliases now (absent, but populated for a copy). */
bool zio_policy_first_alias(uintptr_t in_site, uintptr_t copy_site, uint64_t pages,
			    uint64_t present, uint64_t aliased);
/* Should a later (not first) alias of an original be made at site? */
bool zio_policy_later_alias(uintptr_t copy_site, uint64_t pages, uint64_t present,
			    uint64_t aliased);
/* Should the input of [a, b) received at in_site become an original?
 * (false: it is only noted, see zio_policy_noted_input) */
bool zio_policy_track_input(uintptr_t in_site, uintptr_t a, uintptr_t b);
/* The input site whose noted (untracked) input covers [a, b), or 0. */
uintptr_t zio_policy_noted_input(uintptr_t a, uintptr_t b);
extern _Atomic bool zio_lazy_live;  /* some input was noted */
/* [a, b) no longer holds input: drop its notes (under the lock) */
void zio_policy_forget_noted(uintptr_t a, uintptr_t b);
bool zio_policy_maybe_noted(uintptr_t a, uintptr_t b);  /* lock-free hint */
/* The populated pages of a copy destination of site: a recent mincore
 * answer scaled to pages (false: ask mincore and report it with
 * zio_policy_present_seen). */
bool zio_policy_present_hint(uintptr_t site, uint64_t pages, uint64_t *present);
void zio_policy_present_seen(uintptr_t site, uint64_t pages, uint64_t present);
/* An alias made at site ended: freed/unmapped, or copied over again. */
void zio_policy_alias_end(uintptr_t site, uint64_t pages, bool released);
/* An original stops being one (overwritten, released, retired). */
void zio_policy_origin_end(const struct zio_origin *o, bool retired);
void zio_policy_elided(uintptr_t site, uint64_t bytes);
/* Aliases of site got materialised: by `faults` fault round trips
 * (0: no fault, e.g. before an input) and `pages` page fills. */
void zio_policy_touched(uintptr_t site, uint64_t faults, uint64_t pages);

/* release.c */
int zio_release_for_remap(void *p, size_t n);

/* init.c */
extern _Atomic int zio_initialized;
void zio_init(void);
void zio_print_stats(void);

/* fault injection (tests): returns true when this operation should fail */
enum zio_fault_point { ZIO_FI_REGISTER, ZIO_FI_MOVE, ZIO_FI_COPY, ZIO_FI_WP, ZIO_FI_ALLOC,
		       ZIO_FI_MAX };
bool zio_fault_inject(enum zio_fault_point p);
extern __thread bool zio_fault_inject_off __attribute__((tls_model("initial-exec")));

/* Cause of the materialisations the current thread makes (ZIO_MAT_*). */
extern __thread int zio_mat_cause __attribute__((tls_model("initial-exec")));

/* thread-local recursion guard: interposers pass through while set */
extern __thread int zio_in_runtime __attribute__((tls_model("initial-exec")));

#endif
