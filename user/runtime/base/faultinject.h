/* SPDX-License-Identifier: MIT */
/*
 * Failure injection for the tests (ZIO_FAULT_INJECT=point[=rate],...):
 * every injected failure must be absorbed by a fallback.
 */
#ifndef ZIO_BASE_FAULTINJECT_H
#define ZIO_BASE_FAULTINJECT_H

#include "base/defs.h"

enum zio_fault_point { ZIO_FI_REGISTER, ZIO_FI_MOVE, ZIO_FI_COPY, ZIO_FI_WP, ZIO_FI_ALLOC,
		       ZIO_FI_MAX };
/* Read a ZIO_FAULT_INJECT spec; bad entries get a warning each. */
void zio_fault_inject_parse(const char *spec);
/* Should this operation fail now? */
bool zio_fault_inject(enum zio_fault_point p);
/* Set by a thread whose retries must go through (see path/fault.c). */
extern __thread bool zio_fault_inject_off __attribute__((tls_model("initial-exec")));

#endif
