/* SPDX-License-Identifier: MIT */
/*
 * observe_load.h - loader of bpf/observe.bpf.c for zio-run --observe and
 * zio-stat.
 *
 * Not part of libzio.so (which is preloaded into every observed program):
 * everything that needs libbpf lives on the observer's side.
 *
 * zio_observe: one loaded copy of the BPF programs and their maps, whose
 * USDT probes are attached to any number of processes by PID (the kernel
 * then traps only in those).  zio-run uses one copy per program, with
 * the region mirror on and the maps pinned; zio-stat one copy for all the
 * processes it watches, region mirror off.
 */
#ifndef ZIO_OBSERVE_LOAD_H
#define ZIO_OBSERVE_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ZIO_OBS_BPFFS    "/sys/fs/bpf"
#define ZIO_OBS_PIN_ROOT "/sys/fs/bpf/zio"

struct zio_observe;
struct observe_bpf;

/*
 * Opens and loads the BPF programs; regions: also mirror the alias index
 * (aliases, originals maps).  Returns the object, or NULL with errno set
 * (EPERM without BPF privilege).
 */
struct zio_observe *zio_observe__open(bool regions);
/* Detaches from every process, removes the pins, frees.  NULL is fine. */
void zio_observe__destroy(struct zio_observe *o);
/* The skeleton, for reading the maps. */
struct observe_bpf *zio_observe__skel(struct zio_observe *o);

/*
 * Attaches every probe of the runtime library lib to process pid.  lib
 * need not be mapped yet (zio-run attaches before the program execs).
 * Returns 0, or -errno (-ENOENT: lib has no zio probes).
 */
int zio_observe__attach(struct zio_observe *o, pid_t pid, const char *lib);
/* Drops the probes attached to pid, if any. */
void zio_observe__detach(struct zio_observe *o, pid_t pid);
bool zio_observe__attached(const struct zio_observe *o, pid_t pid);
/* Number of processes attached, and the i-th of them. */
size_t zio_observe__nr_pids(const struct zio_observe *o);
pid_t zio_observe__pid(const struct zio_observe *o, size_t i);

/*
 * Pins the maps as ZIO_OBS_PIN_ROOT/<pid>/<map> (mounting bpffs at
 * ZIO_OBS_BPFFS if needed) and records pid and ourselves in the info map
 * so that a later reaper can tell when the pins are stale.  Returns 0 or
 * -errno; on failure nothing stays pinned.
 */
int zio_observe__pin(struct zio_observe *o, pid_t pid);
/* Removes the pins made by zio_observe__pin (also done by destroy). */
void zio_observe__unpin(struct zio_observe *o);

/* Mounts bpffs at ZIO_OBS_BPFFS unless one is there.  0 or -errno. */
int zio_observe__mount_bpffs(void);
/*
 * Removes ZIO_OBS_PIN_ROOT/<pid>/ directories whose process or whose
 * observer is gone (exited, killed, or the PID reused).  Returns the
 * number removed, or -errno when the root cannot be read (0 if absent).
 */
int zio_observe__reap(void);

/*
 * Finds the zio runtime (a file named libzio*.so) mapped by pid and
 * writes a path to it that stays valid even if the file was replaced
 * since (/proc/PID/map_files/...).  Returns 0, -ENOENT when pid does not
 * map it, or -errno.
 */
int zio_observe__find_lib(pid_t pid, char *buf, size_t len);

/* Start time of pid in clock ticks since boot (/proc/PID/stat field 22),
 * or 0 when pid does not exist. */
uint64_t zio_observe__start_time(pid_t pid);

/*
 * zio-run --observe: runs argv (execvp) in a child that waits until the
 * probes are attached and the maps pinned, forwards SIGINT, SIGTERM,
 * SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to us by another process,
 * waits for it and removes the pins.  When BPF is not available, says so
 * in one line on stderr and runs the program unobserved.  Returns the
 * exit status for zio-run: the program's, 128+signal if it was killed,
 * 127 if argv[0] was not found, 126 if it could not be executed.
 * verbose > 0 shows libbpf's warnings, > 2 its debug messages.
 */
int zio_observe__run(char *const argv[], const char *lib, int verbose);

#endif /* ZIO_OBSERVE_LOAD_H */
