/* SPDX-License-Identifier: MIT */
/*
 * syms.h - symbol resolution for zio-trace and zio-stat: process maps,
 * ELF tables and the names and source lines of call sites.
 *
 * Names: zio_<object>__<verb> for the three objects (zio_maps, zio_elf,
 * zio_syms), as everywhere in user/cli/ (see util.h).
 *
 * zio_maps: a snapshot of /proc/PID/maps (file-backed mappings only),
 * taken while the process lives, so that call sites can be symbolised
 * after it has exited.
 * zio_elf: the function symbols of one ELF file, from .symtab when the
 * file has one, else from .dynsym (stripped Debian binaries), plus its
 * PT_LOAD segments and the PLT slots' symbol names: what zio-trace needs
 * to place uprobes on libc by name, and to name a PLT stub's callee,
 * which elfutils does not do.
 * zio_syms: names and lines of addresses in a process, through elfutils'
 * libdwfl (as perf does): symbols from .symtab, .dynsym or a separate
 * debug file, lines from DWARF, debug files found under /usr/lib/debug
 * by build ID (Debian's -dbgsym packages) or by .gnu_debuglink.
 */
#ifndef ZIO_CLI_SYMS_H
#define ZIO_CLI_SYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct zio_map {
	uint64_t start;
	uint64_t end;
	uint64_t pgoff;
	dev_t dev;
	ino_t ino;
	bool exec;
	char *path;
};

struct zio_maps {
	struct zio_map *maps;
	size_t nr;
};

/* Reads /proc/PID/maps.  Returns the snapshot, or NULL plus errno on
 * failure (ESRCH: a zombie or a kernel thread, nothing mapped). */
struct zio_maps *zio_maps__load(pid_t pid);
/* Frees a snapshot; NULL is fine.  Returns nothing. */
void zio_maps__free(struct zio_maps *m);
/* Returns the mapping that holds addr, or NULL. */
const struct zio_map *zio_maps__find(const struct zio_maps *m, uint64_t addr);
/* Returns the part of path after its last '/'. */
const char *zio_base_name(const char *path);
/* Returns the first mapping whose file's base name starts with prefix
 * (e.g. "libc.so"), or NULL. */
const struct zio_map *zio_maps__find_file(const struct zio_maps *m,
					  const char *prefix);

enum zio_sym_type {
	ZIO_SYM_FUNC = 0,
	ZIO_SYM_IFUNC = 1,	/* value is the resolver, not the code */
};

struct zio_sym {
	uint64_t addr;		/* ELF virtual address */
	uint64_t size;
	int type;		/* enum zio_sym_type */
	const char *name;	/* owned by the zio_elf */
};

struct zio_elf;

/* Loads the symbols of path.  Returns the file, or NULL plus errno on
 * failure (ENOEXEC: not an ELF file). */
struct zio_elf *zio_elf__open(const char *path);
/* Loads only what zio_elf__plt_callee needs (segments, GOT names), for
 * files whose symbols libdwfl reads.  Returns as zio_elf__open. */
struct zio_elf *zio_elf__open_plt(const char *path);
/* Closes and frees; NULL is fine.  Returns nothing. */
void zio_elf__close(struct zio_elf *e);
/* Returns whether the symbols came from .symtab (false: .dynsym only). */
bool zio_elf__has_symtab(const struct zio_elf *e);
/* Converts an ELF virtual address to a file offset.  Returns 0 on
 * success, -ENOENT when no PT_LOAD segment holds it. */
int zio_elf__addr_to_off(const struct zio_elf *e, uint64_t addr, uint64_t *off);
/* Returns the function symbol that contains addr, or NULL. */
const struct zio_sym *zio_elf__sym_at(const struct zio_elf *e, uint64_t addr);
/* Calls cb for every function symbol named name (every symbol version).
 * Returns nothing. */
void zio_elf__for_each_named(const struct zio_elf *e, const char *name,
			     void (*cb)(const struct zio_sym *s, void *arg),
			     void *arg);
/*
 * Names the function that the call instruction ending at addr (a return
 * address) calls through the PLT or the GOT, e.g. "memmove" for
 * "call memmove@plt".  Returns the name (owned by e) or NULL when the
 * call is direct, indirect through a register, or not recognised.
 */
const char *zio_elf__plt_callee(const struct zio_elf *e, uint64_t ret_addr);

/*
 * Symbolisation of addresses in a process: maps + a cache of the files
 * they name, each reported to libdwfl on its own at its link-time
 * addresses, so that one cache serves every process, whatever the load
 * address, live or gone.  Debug files are looked for along the path in
 * ZIO_DEBUGINFO_PATH (libdwfl's syntax), by default
 * ":.debug:/usr/lib/debug"; a debuginfod server only when
 * DEBUGINFOD_URLS names one (libdwfl's own rule).
 */
struct zio_syms;

/* Returns an empty symboliser, or NULL plus errno (ENOMEM). */
struct zio_syms *zio_syms__new(void);
/* Frees it and every cached file; NULL is fine.  Returns nothing. */
void zio_syms__free(struct zio_syms *s);
/*
 * Writes "function+0xoff" (or "binary+0xaddr" when no symbol covers it)
 * to buf, and the binary's base name to bin.  ip is a return address.
 * Returns 0, or -ENOENT when no mapping of maps holds ip (buf then holds
 * "0x<ip>").
 */
int zio_syms__symbolise(struct zio_syms *s, const struct zio_maps *maps,
			uint64_t ip, char *buf, size_t sz, char *bin,
			size_t binsz);
/*
 * Writes "file.c:123" of the call that returns to ip to buf (the file's
 * base name).  Returns 0, or -ENOENT when the binary has no line table
 * for it (buf then holds "").
 */
int zio_syms__line(struct zio_syms *s, const struct zio_maps *maps,
		   uint64_t ip, char *buf, size_t sz);
/* Names the PLT callee of the call that returns to ip (see
 * zio_elf__plt_callee), or NULL. */
const char *zio_syms__plt_callee(struct zio_syms *s,
				 const struct zio_maps *maps, uint64_t ip);

#endif /* ZIO_CLI_SYMS_H */
