// SPDX-License-Identifier: MIT
/*
 * Hooks of the AF_XDP socket layer into the interposers.  Until a
 * program is run with --xdp no descriptor is ours and every call falls
 * through to the kernel socket path.
 */
#include "zio_internal.h"

ZIO_HIDDEN _Atomic int zio_xsk_enabled;

ZIO_HIDDEN bool zio_xsk_recvmsg(int fd, struct msghdr *msg, int flags, ssize_t *ret)
{
	(void)fd;
	(void)msg;
	(void)flags;
	(void)ret;
	return false;
}

ZIO_HIDDEN bool zio_xsk_sendmsg(int fd, const struct msghdr *msg, int flags, ssize_t *ret)
{
	(void)fd;
	(void)msg;
	(void)flags;
	(void)ret;
	return false;
}
