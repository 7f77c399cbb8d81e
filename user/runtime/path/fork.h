/* SPDX-License-Identifier: MIT */
/*
 * fork (fork.c): prepare, parent and child hooks, each module's in a
 * fixed order.
 */
#ifndef ZIO_PATH_FORK_H
#define ZIO_PATH_FORK_H

void zio_fork_prepare(void);
void zio_fork_parent(void);
void zio_fork_child(void);

#endif
