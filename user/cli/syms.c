// SPDX-License-Identifier: MIT
/*
 * syms.c - the names and source lines of call sites for zio-trace and
 * zio-stat (the zio_syms part of syms.h; elf.c has maps and ELF tables).
 *
 * zio_syms names addresses through libdwfl, which also finds separate
 * debug files and reads DWARF line tables; it works from file offsets
 * and the files' own addresses, so that it needs no live process.
 */
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "syms.h"

/*
 * One file of the cache.  Each has a Dwfl of its own with the file as its
 * only module, reported at bias 0: module addresses are then the file's
 * own virtual addresses, whatever the address it is mapped at in each
 * process (one Dwfl per process would have to be rebuilt as its maps
 * change, and cannot hold two programs that share link addresses).
 */
struct zio_syms_file {
	char *path;
	Dwfl *dwfl;
	Dwfl_Module *mod;	/* NULL: not an ELF file libdwfl can read */
	struct zio_elf *elf;	/* segments and GOT, for PLT callees */
	bool elf_tried;		/* elf opened or failed: do not retry */
};

struct zio_syms {
	struct zio_syms_file *files;
	size_t nr;
	/* libdwfl keeps pointers to both: they live as long as s */
	Dwfl_Callbacks cb;
	char *debuginfo_path;	/* NULL: libdwfl's default */
};

struct zio_syms *zio_syms__new(void)
{
	const char *path = getenv("ZIO_DEBUGINFO_PATH");
	struct zio_syms *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (path && *path) {
		s->debuginfo_path = strdup(path);
		if (!s->debuginfo_path) {
			free(s);
			errno = ENOMEM;
			return NULL;
		}
	}
	/* The standard callbacks: debug files by build ID under each
	 * absolute directory of the path (.build-id/xx/yyyy.debug), then
	 * by .gnu_debuglink; find_elf is never called, as every module is
	 * reported from its file. */
	s->cb.find_elf = dwfl_build_id_find_elf;
	s->cb.find_debuginfo = dwfl_standard_find_debuginfo;
	s->cb.section_address = dwfl_offline_section_address;
	s->cb.debuginfo_path = &s->debuginfo_path;
	return s;
}

void zio_syms__free(struct zio_syms *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nr; i++) {
		if (s->files[i].dwfl)
			dwfl_end(s->files[i].dwfl);
		zio_elf__close(s->files[i].elf);
		free(s->files[i].path);
	}
	free(s->files);
	free(s->debuginfo_path);
	free(s);
}

/* Reports path to a Dwfl of its own.  Returns nothing: f->mod stays NULL
 * when libdwfl cannot read the file. */
static void file_report(struct zio_syms *s, struct zio_syms_file *f)
{
	f->dwfl = dwfl_begin(&s->cb);
	if (!f->dwfl)
		return;
	dwfl_report_begin(f->dwfl);
	f->mod = dwfl_report_elf(f->dwfl, zio_base_name(f->path), f->path, -1, 0,
				 true);
	if (dwfl_report_end(f->dwfl, NULL, NULL) || !f->mod) {
		dwfl_end(f->dwfl);
		f->dwfl = NULL;
		f->mod = NULL;
	}
}

/* Returns the cache entry of path, reporting the file once, or NULL when
 * out of memory. */
static struct zio_syms_file *file_of(struct zio_syms *s, const char *path)
{
	struct zio_syms_file *f;
	size_t i;

	for (i = 0; i < s->nr; i++)
		if (!strcmp(s->files[i].path, path))
			return &s->files[i];
	f = realloc(s->files, (s->nr + 1) * sizeof(*f));
	if (!f)
		return NULL;
	s->files = f;
	f = &s->files[s->nr];
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	if (!f->path)
		return NULL;
	file_report(s, f);
	s->nr++;
	return f;
}

/* Converts file offset off of elf to its virtual address.  Returns 0, or
 * -ENOENT when no PT_LOAD segment holds it. */
static int off_to_vaddr(Elf *elf, uint64_t off, uint64_t *vaddr)
{
	size_t i, nph;

	if (elf_getphdrnum(elf, &nph))
		return -ENOENT;
	for (i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (off >= ph.p_offset && off < ph.p_offset + ph.p_filesz) {
			*vaddr = off - ph.p_offset + ph.p_vaddr;
			return 0;
		}
	}
	return -ENOENT;
}

/* Maps a process address to its file and the file's virtual address.
 * Returns the file (*mapp: the mapping, NULL if none), or NULL when no
 * mapping holds ip or libdwfl cannot read its file. */
static struct zio_syms_file *resolve(struct zio_syms *s,
				     const struct zio_maps *maps, uint64_t ip,
				     uint64_t *vaddr, const struct zio_map **mapp)
{
	const struct zio_map *m = zio_maps__find(maps, ip);
	struct zio_syms_file *f;
	GElf_Addr bias;
	Elf *elf;

	*mapp = m;
	if (!m)
		return NULL;
	f = file_of(s, m->path);
	if (!f || !f->mod)
		return NULL;
	elf = dwfl_module_getelf(f->mod, &bias);
	if (!elf || off_to_vaddr(elf, ip - m->start + m->pgoff, vaddr))
		return NULL;
	return f;
}

/* Returns the name of the function that holds addr (*start: its first
 * address), or NULL.  Data symbols do not name code (a stripped file's
 * .dynsym may hold nothing else near it). */
static const char *func_at(Dwfl_Module *mod, uint64_t addr, uint64_t *start)
{
	const char *name;
	GElf_Off off;
	GElf_Sym sym;
	int type;

	name = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
	if (!name || !*name)
		return NULL;
	type = GELF_ST_TYPE(sym.st_info);
	if (type != STT_FUNC && type != STT_GNU_IFUNC)
		return NULL;
	*start = addr - off;
	return name;
}

int zio_syms__symbolise(struct zio_syms *s, const struct zio_maps *maps,
			uint64_t ip, char *buf, size_t sz, char *bin,
			size_t binsz)
{
	const struct zio_map *m;
	struct zio_syms_file *f;
	const char *name = NULL;
	uint64_t vaddr = 0, start = 0;

	f = resolve(s, maps, ip, &vaddr, &m);
	if (!m) {
		snprintf(buf, sz, "0x%llx", (unsigned long long)ip);
		snprintf(bin, binsz, "?");
		return -ENOENT;
	}
	snprintf(bin, binsz, "%s", zio_base_name(m->path));
	if (!f) {
		snprintf(buf, sz, "%s+0x%llx", bin,
			 (unsigned long long)(ip - m->start + m->pgoff));
		return 0;
	}
	/* ip - 1: a call that ends its function still belongs to it */
	if (vaddr)
		name = func_at(f->mod, vaddr - 1, &start);
	if (name)
		snprintf(buf, sz, "%s+0x%llx", name,
			 (unsigned long long)(vaddr - start));
	else
		snprintf(buf, sz, "%s+0x%llx", bin, (unsigned long long)vaddr);
	return 0;
}

int zio_syms__line(struct zio_syms *s, const struct zio_maps *maps,
		   uint64_t ip, char *buf, size_t sz)
{
	const struct zio_map *m;
	struct zio_syms_file *f;
	const char *file;
	uint64_t vaddr;
	Dwfl_Line *line;
	int lineno = 0;

	buf[0] = '\0';
	f = resolve(s, maps, ip, &vaddr, &m);
	if (!f || !vaddr)
		return -ENOENT;
	/* vaddr - 1: the call instruction, not the one after it */
	line = dwfl_module_getsrc(f->mod, vaddr - 1);
	file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
	if (!file || lineno <= 0)
		return -ENOENT;
	snprintf(buf, sz, "%s:%d", zio_base_name(file), lineno);
	return 0;
}

const char *zio_syms__plt_callee(struct zio_syms *s,
				 const struct zio_maps *maps, uint64_t ip)
{
	const struct zio_map *m;
	struct zio_syms_file *f;
	uint64_t vaddr;

	f = resolve(s, maps, ip, &vaddr, &m);
	if (!f)
		return NULL;
	if (!f->elf_tried) {
		f->elf = zio_elf__open_plt(f->path);
		f->elf_tried = true;
	}
	return f->elf ? zio_elf__plt_callee(f->elf, vaddr) : NULL;
}
