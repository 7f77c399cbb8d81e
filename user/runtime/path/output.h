/* SPDX-License-Identifier: MIT */
/*
 * Output (output.c): send/write and friends; aliased ranges of the
 * buffers go out as their origins' bytes.
 */
#ifndef ZIO_PATH_OUTPUT_H
#define ZIO_PATH_OUTPUT_H

#include <sys/socket.h>
#include <sys/uio.h>

#include "base/defs.h"

enum { ZIO_OUT_SEND, ZIO_OUT_SENDTO, ZIO_OUT_SENDMSG, ZIO_OUT_WRITE, ZIO_OUT_WRITEV,
       ZIO_OUT_PWRITE, ZIO_OUT_PWRITEV };
/* The program's output call of this kind through the runtime.  Returns
 * what the libc call would (bytes, or -1 with errno). */
ssize_t zio_output(int kind, int fd, const struct iovec *iov, int iovcnt, int flags,
		   const struct sockaddr *to, socklen_t tolen, const struct msghdr *msg,
		   off_t off);

#endif
