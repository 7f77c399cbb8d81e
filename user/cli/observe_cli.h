/* SPDX-License-Identifier: MIT */
/*
 * observe_cli.h - loader of bpf/observe.bpf.c for zio-run --observe and
 * zio-stat.  (Not observe.h: that is include/observe.h, the maps' layout
 * that BPF and user space share; see steer_cli.h.)
 *
 * Not part of libzio.so (which is preloaded into every observed program):
 * everything that needs libbpf lives on the observer's side.
 *
 * zio_observe: one loaded copy of the BPF programs and their maps, whose
 * USDT probes are attached to any number of processes by PID (the kernel
 * then traps only in those).  zio-run uses one copy per program, with
 * the region mirror on and the maps pinned; zio-stat one copy for all the
 * processes it watches, region mirror off.
 *
 * Names: zio_observe__<verb> on struct zio_observe (see util.h).  The pin
 * root, the bpffs mount and the reaper of stale pins are util.h's, shared
 * with the --xdp loader.
 */
#ifndef ZIO_CLI_OBSERVE_H
#define ZIO_CLI_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct zio_observe;
struct observe_bpf;

/*
 * Opens and loads the BPF programs; regions: also mirror the alias index
 * (aliases, originals maps).  Returns the object, or NULL with errno set
 * (EPERM without BPF privilege).
 */
struct zio_observe *zio_observe__open(bool regions);
/* Detaches from every process, removes the pins, frees.  NULL is fine.
 * Returns nothing. */
void zio_observe__destroy(struct zio_observe *o);
/* Returns the skeleton, for reading the maps (never NULL). */
struct observe_bpf *zio_observe__skel(struct zio_observe *o);

/*
 * Attaches every probe of the runtime library lib to process pid.  lib
 * need not be mapped yet (zio-run attaches before the program execs).
 * Returns 0, or -errno (-ENOENT: lib has no zio probes).
 */
int zio_observe__attach(struct zio_observe *o, pid_t pid, const char *lib);
/* Drops the probes attached to pid, if any.  Returns nothing. */
void zio_observe__detach(struct zio_observe *o, pid_t pid);
/* Returns whether probes are attached to pid. */
bool zio_observe__attached(const struct zio_observe *o, pid_t pid);
/* Return the number of processes attached, and the i-th of them (0 when
 * i is out of range). */
size_t zio_observe__nr_pids(const struct zio_observe *o);
pid_t zio_observe__pid(const struct zio_observe *o, size_t i);

/*
 * Pins the maps as ZIO_PIN_ROOT/<pid>/<map> (mounting bpffs at ZIO_BPFFS
 * if needed) and records pid and ourselves, with start times, in the info
 * map so that zio_reap_pins can tell when the pins are stale.  Returns 0
 * or -errno; on failure nothing stays pinned.
 */
int zio_observe__pin(struct zio_observe *o, pid_t pid);
/* Removes the pins made by zio_observe__pin (also done by destroy); NULL
 * is fine.  Returns nothing. */
void zio_observe__unpin(struct zio_observe *o);

/*
 * Finds the zio runtime (a file named libzio*.so) mapped by pid and
 * writes a path to it that stays valid even if the file was replaced
 * since (/proc/PID/map_files/...).  Returns 0, -ENOENT when pid does not
 * map it, or -errno.
 */
int zio_observe__find_lib(pid_t pid, char *buf, size_t len);

/*
 * zio-run --observe: runs argv (execvp) in a child that waits until the
 * probes are attached and the maps pinned, forwards SIGINT, SIGTERM,
 * SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to us by another process,
 * waits for it and removes the pins.  When BPF is not available, says so
 * in one line on stderr and runs the program unobserved.  Returns the
 * exit status for zio-run: the program's, 128+signal if it was killed,
 * 127 if argv[0] was not found, 126 if it could not be executed.
 * Messages go through util.h's printer (zio_print_init first).
 */
int zio_observe__run(char *const argv[], const char *lib);

#endif /* ZIO_CLI_OBSERVE_H */
