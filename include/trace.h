/* SPDX-License-Identifier: MIT */
/*
 * trace.h - types shared by bpf/trace.bpf.c and zio-trace (user/cli/trace*.c).
 *
 * zio-trace finds the IO copy call sites of an unmodified program: the
 * BPF side keeps per-call-site counters in the "sites" hash, keyed by
 * (call-site ip, kind, libc function); user space reads and symbolises
 * them.  Fixed-width types only, no pointers: the layout is the same for
 * the BPF object and for whichever build of the tool reads it.
 */
#ifndef ZIO_TRACE_H
#define ZIO_TRACE_H

#ifdef __BPF__
/* vmlinux.h provides __u32/__u64 */
#else
#include <linux/types.h>
#endif
#include "zio.h"

/* Bumped whenever a struct below changes shape. */
#define ZIO_TRACE_ABI 2

/* Processes traced at once: the first and the children it forks. */
#define ZIO_TRACE_MAX_PROCS 64

/* Default elision threshold: copies of at least this many bytes are
 * candidates for elision, the runtime's own default (ZIO_THRESHOLD). */
#define ZIO_TRACE_THRESHOLD_DEFAULT ZIO_DEFAULT_THRESHOLD

/* Row kinds of the table. */
enum zio_trace_kind {
	ZIO_TRACE_APP = 0,	/* memcpy & co. of IO data inside the program */
	ZIO_TRACE_IOSTACK = 1,	/* IO data handed to an output API (the
				 * kernel copies it) */
};

/* The libc functions zio-trace probes.  The attach cookie carries one of
 * these, plus ZIO_TRACE_COOKIE_CHK for the *_chk copy entry points. */
enum zio_trace_fn {
	/* copies: (dst, src, n) */
	ZIO_FN_MEMCPY = 0,
	ZIO_FN_MEMMOVE,
	ZIO_FN_MEMPCPY,
	ZIO_FN_MEMCPY_CHK,
	ZIO_FN_MEMMOVE_CHK,
	/* input: (fd, buf, n) */
	ZIO_FN_READ,
	ZIO_FN_PREAD64,
	ZIO_FN_RECV,
	ZIO_FN_RECVFROM,
	/* input: (fd, iov, iovcnt) */
	ZIO_FN_READV,
	ZIO_FN_PREADV,
	/* input: (fd, msghdr, flags) */
	ZIO_FN_RECVMSG,
	/* output: (fd, buf, n) */
	ZIO_FN_WRITE,
	ZIO_FN_PWRITE64,
	ZIO_FN_SEND,
	ZIO_FN_SENDTO,
	/* output: (fd, iov, iovcnt) */
	ZIO_FN_WRITEV,
	ZIO_FN_PWRITEV,
	/* output: (fd, msghdr, flags) */
	ZIO_FN_SENDMSG,
	ZIO_FN_MAX,
};

/* How the IO functions pass their buffer. */
enum zio_trace_argstyle {
	ZIO_ARG_BUF = 0,	/* arg2 = buf, arg3 = length */
	ZIO_ARG_IOV = 1,	/* arg2 = struct iovec *, arg3 = count */
	ZIO_ARG_MSG = 2,	/* arg2 = struct msghdr * */
};

/* Attach cookie layout: bits 0-7 function, 8-9 arg style, bit 16 output,
 * bit 17 a *_chk copy entry (see the dedup note in trace.bpf.c). */
#define ZIO_TRACE_COOKIE(fn, style, out) \
	((__u64)(fn) | ((__u64)(style) << 8) | ((__u64)(out) << 16))
#define ZIO_TRACE_COOKIE_CHK (1ULL << 17)
#define ZIO_TRACE_COOKIE_FN(c) ((__u32)((c) & 0xff))
#define ZIO_TRACE_COOKIE_STYLE(c) ((__u32)(((c) >> 8) & 0x3))
#define ZIO_TRACE_COOKIE_OUT(c) ((__u32)(((c) >> 16) & 0x1))

/* Key of the "sites" hash. */
struct zio_trace_site_key {
	__u64 ip;	/* return address of the call: the call site */
	__u32 kind;	/* enum zio_trace_kind */
	__u32 fn;	/* enum zio_trace_fn */
};

/* Value of the "sites" hash; updated with atomic adds (threads). */
struct zio_trace_site_val {
	__u64 calls;		/* calls that copied IO data */
	__u64 bytes;		/* app: copy sizes; iostack: IO bytes output */
	__u64 elide_calls;	/* app copies >= threshold */
	__u64 elide_bytes;
};

/* Totals, kept as globals in the BPF object's .bss. */
struct zio_trace_totals {
	__u64 in_calls;		/* input calls that returned data */
	__u64 in_bytes;		/* bytes of IO input */
	__u64 copies;		/* probed copy calls (IO or not) */
	__u64 io_copies;	/* copies whose source held IO data */
	__u64 out_calls;	/* output calls that sent IO data */
	__u64 lost;		/* updates dropped: a map was full */
	__u64 truncated;	/* ranges longer than the page loop bound */
};

#endif /* ZIO_TRACE_H */
