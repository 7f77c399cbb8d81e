// SPDX-License-Identifier: MIT
/*
 * trace.bpf.c - the copy tracer behind zio-trace.
 *
 * Uprobes on libc's input functions (read, recv, ...) record which bytes
 * of the traced process hold IO input; uprobes on its copy functions
 * (memcpy, memmove, ...) follow that data from buffer to buffer, and
 * count each copy of it at its call site; uprobes on its output functions
 * (write, send, ...) count IO data handed to the kernel.  All probes are
 * attached to the traced processes' PIDs (see user/cli/trace.c), so
 * nothing here filters by PID; a fork of a traced process is announced
 * on the `forks` ring (zio_fork), and zio-trace attaches to the child too
 * (nginx's workers, redis's rewrite child).  IO marks are per process.
 *
 * Where the IO data is: the "io_pages" hash, one entry per 4 KiB page of
 * the process that holds IO bytes, with the hull [lo, hi) of those bytes
 * inside the page:
 *
 *        page 0x7f00..10          page 0x7f00..11        page 0x7f00..12
 *   +------------------------+------------------------+------------------+
 *   |         ############## | ###################### | #######          |
 *   +------------------------+------------------------+------------------+
 *    ^lo=0x900               ^lo=0       hi=0x1000^    ^lo=0  ^hi=0x700
 *    key 0x7f0010: {0x900, 0x1000}  key ..11: {0, 0x1000}  key ..12: {0, 0x700}
 *
 * A range [addr, addr+len) is looked up page by page (bpf_loop over
 * len/4096 + 1 keys, bounded by ZIO_TRACE_MAX_PAGES); each hit adds the
 * intersection of the range with that page's hull.  This gives O(pages)
 * lookups with no range tree in BPF, at the price of one inexactness: two
 * IO islands in one page merge into their hull.  The hash is LRU, so a
 * long trace forgets the oldest IO data instead of failing.
 *
 * Life of a mark: input returning n > 0 bytes marks them; a copy whose
 * source overlaps IO data first clears its whole destination, then marks
 * the destination bytes that face the source's IO hull (a chain: a copy of
 * a copy is IO data too); a copy of non-IO data clears its destination.
 * Stores that do not go through a probed copy are invisible (a limit).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "trace.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define PAGE_SHIFT_ 12
#define PAGE_SIZE_ (1ULL << PAGE_SHIFT_)
/* Longest range followed, in pages (256 MiB); longer ones are cut. */
#define ZIO_TRACE_MAX_PAGES (1U << 16)
/* iovecs followed per readv/writev/recvmsg/sendmsg call. */
#define ZIO_TRACE_MAX_IOV 64

/* Tunables, set by zio-trace before load. */
const volatile __u64 threshold = ZIO_TRACE_THRESHOLD_DEFAULT;
const volatile __u64 min_input = 1;
/* Copies shorter than this (app: copy size; iostack: IO bytes output)
 * are followed but not counted. */
const volatile __u64 min_copy = 1;

struct zio_trace_totals totals = {};
/* Exit stops asked for by zio_exit, for user space to tell them apart
 * from a job-control stop. */
__u64 exit_stops = 0;

struct io_span {
	__u32 lo;	/* first IO byte in the page */
	__u32 hi;	/* one past the last IO byte */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 18);	/* 1 GiB of IO data */
	__type(key, __u64);		/* tgid << 40 | page number (addr >> 12) */
	__type(value, struct io_span);
} io_pages SEC(".maps");

/* The traced processes (by tgid): their forks are followed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZIO_TRACE_MAX_PROCS);
	__type(key, __u32);
	__type(value, __u8);
} traced SEC(".maps");

/* Children of traced processes, for zio-trace to attach to. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} forks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct zio_trace_site_key);
	__type(value, struct zio_trace_site_val);
} sites SEC(".maps");

/* An IO call between its entry and return probes. */
struct io_call {
	__u64 ip;	/* call site */
	__u64 arg;	/* buf or struct iovec * */
	__u64 cnt;	/* length or iovec count */
	__u64 cookie;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);		/* pid_tgid */
	__type(value, struct io_call);
} inflight SEC(".maps");

/*
 * glibc's __memcpy_chk/__memmove_chk check the size and then fall through
 * or jump into the memmove implementation, which is probed too: both
 * probes fire for one call, with the same stack pointer and arguments.
 * The _chk probe counts the copy and leaves this note; the next copy
 * probe on the thread that sees the same (sp, dst, src, n) skips it.
 */
struct chk_note {
	__u64 sp;
	__u64 dst;
	__u64 src;
	__u64 n;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);		/* tid */
	__type(value, struct chk_note);
} chk_notes SEC(".maps");

struct range_ctx {
	__u64 start;
	__u64 end;
	__u64 first_page;
	__u64 tg;	/* the process's part of the io_pages keys */
	__u64 io_bytes;	/* scan: IO bytes in [start, end) */
	__u64 io_lo;	/* scan: hull of those bytes */
	__u64 io_hi;
};

static __always_inline __u64 min_u64(__u64 a, __u64 b)
{
	return a < b ? a : b;
}

static __always_inline __u64 max_u64(__u64 a, __u64 b)
{
	return a > b ? a : b;
}

static __always_inline void total_add(__u64 *field, __u64 v)
{
	__sync_fetch_and_add(field, v);
}

static long scan_cb(__u32 i, void *data)
{
	struct range_ctx *c = data;
	__u64 page = c->first_page + i, key = c->tg | page;
	__u64 base = page << PAGE_SHIFT_;
	struct io_span *s;
	__u64 a, b;

	if (base >= c->end)
		return 1;
	s = bpf_map_lookup_elem(&io_pages, &key);
	if (!s)
		return 0;
	a = max_u64(c->start, base + s->lo);
	b = min_u64(c->end, base + s->hi);
	if (a >= b)
		return 0;
	c->io_bytes += b - a;
	if (!c->io_lo || a < c->io_lo)
		c->io_lo = a;
	if (b > c->io_hi)
		c->io_hi = b;
	return 0;
}

static long mark_cb(__u32 i, void *data)
{
	struct range_ctx *c = data;
	__u64 page = c->first_page + i, key = c->tg | page;
	__u64 base = page << PAGE_SHIFT_;
	struct io_span span, *s;

	if (base >= c->end)
		return 1;
	span.lo = max_u64(c->start, base) - base;
	span.hi = min_u64(c->end, base + PAGE_SIZE_) - base;
	s = bpf_map_lookup_elem(&io_pages, &key);
	if (s) {
		if (span.lo < s->lo)
			s->lo = span.lo;
		if (span.hi > s->hi)
			s->hi = span.hi;
		return 0;
	}
	if (bpf_map_update_elem(&io_pages, &key, &span, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&io_pages, &key))
		total_add(&totals.lost, 1);
	return 0;
}

static long clear_cb(__u32 i, void *data)
{
	struct range_ctx *c = data;
	__u64 page = c->first_page + i, key = c->tg | page;
	__u64 base = page << PAGE_SHIFT_;
	struct io_span *s;
	__u32 a, b;

	if (base >= c->end)
		return 1;
	s = bpf_map_lookup_elem(&io_pages, &key);
	if (!s)
		return 0;
	a = max_u64(c->start, base) - base;
	b = min_u64(c->end, base + PAGE_SIZE_) - base;
	if (a <= s->lo && b >= s->hi)
		bpf_map_delete_elem(&io_pages, &key);
	else if (a <= s->lo && b > s->lo)
		s->lo = b;	/* overwrote the head of the IO bytes */
	else if (a < s->hi && b >= s->hi)
		s->hi = a;	/* ... or their tail */
	/* a hole in the middle keeps the hull: conservative */
	return 0;
}

/* Runs cb over the pages of [addr, addr+len); returns the context. */
static __always_inline void range_walk(struct range_ctx *c, __u64 addr,
				       __u64 len, void *cb)
{
	__u64 pages;

	c->start = addr;
	c->end = addr + len;
	c->first_page = addr >> PAGE_SHIFT_;
	c->tg = (bpf_get_current_pid_tgid() >> 32) << 40;
	c->io_bytes = 0;
	c->io_lo = 0;
	c->io_hi = 0;
	if (!len || c->end < addr)
		return;
	pages = ((c->end - 1) >> PAGE_SHIFT_) - c->first_page + 1;
	if (pages > ZIO_TRACE_MAX_PAGES) {
		total_add(&totals.truncated, 1);
		pages = ZIO_TRACE_MAX_PAGES;
	}
	bpf_loop(pages, cb, c, 0);
}

static __always_inline void count_site(__u64 ip, __u32 kind, __u32 fn,
				       __u64 bytes, __u64 copy_len)
{
	struct zio_trace_site_key key = { .ip = ip, .kind = kind, .fn = fn };
	struct zio_trace_site_val zero = {}, *v;

	v = bpf_map_lookup_elem(&sites, &key);
	if (!v) {
		bpf_map_update_elem(&sites, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&sites, &key);
		if (!v) {
			total_add(&totals.lost, 1);
			return;
		}
	}
	__sync_fetch_and_add(&v->calls, 1);
	__sync_fetch_and_add(&v->bytes, bytes);
	if (kind == ZIO_TRACE_APP && copy_len >= threshold) {
		__sync_fetch_and_add(&v->elide_calls, 1);
		__sync_fetch_and_add(&v->elide_bytes, copy_len);
	}
}

/* The return address at function entry: the call site. */
static __always_inline __u64 entry_ret_ip(struct pt_regs *ctx)
{
	__u64 ip = 0;

	bpf_probe_read_user(&ip, sizeof(ip), (void *)PT_REGS_SP(ctx));
	return ip;
}

SEC("uprobe")
int BPF_KPROBE(zio_copy, void *dst, const void *src, size_t n)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 sp = PT_REGS_SP(ctx);
	struct chk_note *note;
	struct range_ctx c;
	__u64 d = (__u64)dst, s = (__u64)src;

	if (!n)
		return 0;
	if (cookie & ZIO_TRACE_COOKIE_CHK) {
		struct chk_note nn = { .sp = sp, .dst = d, .src = s, .n = n };

		bpf_map_update_elem(&chk_notes, &tid, &nn, BPF_ANY);
	} else {
		note = bpf_map_lookup_elem(&chk_notes, &tid);
		if (note && note->sp == sp && note->dst == d &&
		    note->src == s && note->n == n) {
			bpf_map_delete_elem(&chk_notes, &tid);
			return 0;	/* counted at the _chk entry */
		}
	}

	total_add(&totals.copies, 1);
	range_walk(&c, s, n, scan_cb);
	if (!c.io_bytes) {
		range_walk(&c, d, n, clear_cb);
		return 0;
	}
	total_add(&totals.io_copies, 1);
	{
		__u64 lo = c.io_lo - s, hi = c.io_hi - s;

		range_walk(&c, d, n, clear_cb);
		range_walk(&c, d + lo, hi - lo, mark_cb);
	}
	if (n >= min_copy)
		count_site(entry_ret_ip(ctx), ZIO_TRACE_APP,
			   ZIO_TRACE_COOKIE_FN(cookie), n, n);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(zio_io_enter, long fd, void *arg, long cnt)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct io_call call = {};

	call.cookie = bpf_get_attach_cookie(ctx);
	call.ip = entry_ret_ip(ctx);
	call.arg = (__u64)arg;
	call.cnt = cnt;
	if (ZIO_TRACE_COOKIE_STYLE(call.cookie) == ZIO_ARG_MSG) {
		struct user_msghdr *msg = arg;
		__u64 iov = 0, iovlen = 0;

		bpf_probe_read_user(&iov, sizeof(iov), &msg->msg_iov);
		bpf_probe_read_user(&iovlen, sizeof(iovlen), &msg->msg_iovlen);
		call.arg = iov;
		call.cnt = iovlen;
	}
	bpf_map_update_elem(&inflight, &id, &call, BPF_ANY);
	return 0;
}

/*
 * Input: marks the bytes the call returned, iovec by iovec.
 * Output: counts the IO bytes among those the call took.
 */
SEC("uretprobe")
int BPF_KRETPROBE(zio_io_exit, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct io_call *call;
	struct range_ctx c;
	__u64 cookie, left, io = 0, arg, cnt, ip;
	__u32 out, style, i;

	call = bpf_map_lookup_elem(&inflight, &id);
	if (!call)
		return 0;
	cookie = call->cookie;
	arg = call->arg;
	cnt = call->cnt;
	ip = call->ip;
	bpf_map_delete_elem(&inflight, &id);
	if (ret <= 0)
		return 0;
	out = ZIO_TRACE_COOKIE_OUT(cookie);
	style = ZIO_TRACE_COOKIE_STYLE(cookie);
	if (!out && (__u64)ret < min_input)
		return 0;

	left = ret;
	if (style == ZIO_ARG_BUF) {
		if (out)
			range_walk(&c, arg, left, scan_cb);
		else
			range_walk(&c, arg, left, mark_cb);
		io = c.io_bytes;
	} else {
		for (i = 0; i < ZIO_TRACE_MAX_IOV; i++) {
			struct iovec v = {};
			__u64 take;

			if (i >= cnt || !left)
				break;
			if (bpf_probe_read_user(&v, sizeof(v),
						(struct iovec *)arg + i))
				break;
			take = min_u64((__u64)v.iov_len, left);
			if (out)
				range_walk(&c, (__u64)v.iov_base, take,
					   scan_cb);
			else
				range_walk(&c, (__u64)v.iov_base, take,
					   mark_cb);
			io += c.io_bytes;
			left -= take;
		}
	}

	if (!out) {
		total_add(&totals.in_calls, 1);
		total_add(&totals.in_bytes, ret);
		return 0;
	}
	if (!io || io < min_copy)
		return 0;
	total_add(&totals.out_calls, 1);
	count_site(ip, ZIO_TRACE_IOSTACK, ZIO_TRACE_COOKIE_FN(cookie), io, 0);
	return 0;
}

/*
 * On _exit, the traced child stops itself so that zio-trace can read its
 * maps (needed to symbolise call sites) before they go; zio-trace then
 * continues it.  Attached only to a child zio-trace started.
 */
SEC("uprobe")
int BPF_KPROBE(zio_exit)
{
	__sync_fetch_and_add(&exit_stops, 1);
	bpf_send_signal(19 /* SIGSTOP */);
	return 0;
}

/*
 * A traced process forked: the child is traced too (its memory is a copy,
 * its IO marks start empty), and zio-trace attaches its probes to it.
 * Threads (same tgid) need nothing: the probes follow the process.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(zio_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;
	__u32 *slot;

	if (ptgid == ctgid || !bpf_map_lookup_elem(&traced, &ptgid))
		return 0;
	if (bpf_map_update_elem(&traced, &ctgid, &one, BPF_ANY))
		return 0;
	slot = bpf_ringbuf_reserve(&forks, sizeof(*slot), 0);
	if (!slot)
		return 0;
	*slot = ctgid;
	bpf_ringbuf_submit(slot, 0);
	return 0;
}
