/* SPDX-License-Identifier: MIT */
/* USDT probe points of the runtime; see include/zio_probes.h. */
#ifndef ZIO_USER_PROBES_H
#define ZIO_USER_PROBES_H

#include "zio_probes.h"

#if __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#define ZIO_PROBE1(n, a)                      DTRACE_PROBE1(zio, n, a)
#define ZIO_PROBE2(n, a, b)                   DTRACE_PROBE2(zio, n, a, b)
#define ZIO_PROBE3(n, a, b, c)                DTRACE_PROBE3(zio, n, a, b, c)
#define ZIO_PROBE4(n, a, b, c, d)             DTRACE_PROBE4(zio, n, a, b, c, d)
#define ZIO_PROBE8(n, a, b, c, d, e, f, g, h) DTRACE_PROBE8(zio, n, a, b, c, d, e, f, g, h)
#else
#define ZIO_PROBE1(n, a)                      do { } while (0)
#define ZIO_PROBE2(n, a, b)                   do { } while (0)
#define ZIO_PROBE3(n, a, b, c)                do { } while (0)
#define ZIO_PROBE4(n, a, b, c, d)             do { } while (0)
#define ZIO_PROBE8(n, a, b, c, d, e, f, g, h) do { } while (0)
#endif

#endif
