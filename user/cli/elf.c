// SPDX-License-Identifier: MIT
/*
 * elf.c - process maps and ELF tables for zio-trace and zio-stat (the
 * zio_maps and zio_elf parts of syms.h; syms.c names call sites).
 *
 * zio_elf reads symbols from .symtab when a file has one and from
 * .dynsym otherwise: Debian strips .symtab, but programs such as
 * redis-server are linked with -rdynamic, so their functions stay in
 * .dynsym.  The idea of keeping a sorted array per file and
 * binary-searching it is bcc's trace_helpers.c (syms__find_addr).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "syms.h"

/* ---------------------------------------------------------------- maps */

struct zio_maps *zio_maps__load(pid_t pid)
{
	char path[64], line[4096], perms[8], name[4096];
	unsigned long long start, end, off, ino;
	unsigned int maj, min;
	struct zio_maps *m;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		goto err;
	while (fgets(line, sizeof(line), f)) {
		struct zio_map *mm;

		name[0] = '\0';
		n = sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %4095[^\n]",
			   &start, &end, perms, &off, &maj, &min, &ino, name);
		if (n < 7 || !ino || name[0] != '/')
			continue;
		mm = realloc(m->maps, (m->nr + 1) * sizeof(*m->maps));
		if (!mm)
			goto err;
		m->maps = mm;
		mm = &m->maps[m->nr];
		mm->path = strdup(name);
		if (!mm->path)
			goto err;
		mm->start = start;
		mm->end = end;
		mm->pgoff = off;
		mm->dev = makedev(maj, min);
		mm->ino = ino;
		mm->exec = perms[2] == 'x';
		m->nr++;
	}
	fclose(f);
	if (!m->nr) {	/* a zombie or a kernel thread: nothing to keep */
		zio_maps__free(m);
		errno = ESRCH;
		return NULL;
	}
	return m;
err:
	fclose(f);
	zio_maps__free(m);
	errno = ENOMEM;
	return NULL;
}

void zio_maps__free(struct zio_maps *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->nr; i++)
		free(m->maps[i].path);
	free(m->maps);
	free(m);
}

const struct zio_map *zio_maps__find(const struct zio_maps *m, uint64_t addr)
{
	size_t i;

	for (i = 0; m && i < m->nr; i++)
		if (addr >= m->maps[i].start && addr < m->maps[i].end)
			return &m->maps[i];
	return NULL;
}

const char *zio_base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

const struct zio_map *zio_maps__find_file(const struct zio_maps *m,
					  const char *prefix)
{
	size_t i;

	for (i = 0; m && i < m->nr; i++)
		if (!strncmp(zio_base_name(m->maps[i].path), prefix, strlen(prefix)))
			return &m->maps[i];
	return NULL;
}

/* ---------------------------------------------------------------- ELF */

struct zio_seg {
	uint64_t vaddr;
	uint64_t off;
	uint64_t filesz;
};

struct zio_got {
	uint64_t addr;		/* GOT slot */
	const char *name;	/* symbol the slot is relocated to */
};

struct zio_elf {
	int fd;
	Elf *elf;
	bool has_symtab;
	struct zio_sym *syms;	/* sorted by addr */
	size_t nr_syms;
	struct zio_seg *segs;
	size_t nr_segs;
	struct zio_got *got;	/* sorted by addr */
	size_t nr_got;
	char *strs;		/* all names, packed */
	size_t strs_len, strs_cap;
};

/* Names are copied out of libelf so that offsets stay valid as the pool
 * grows; they are turned into pointers once loading is done.  Returns the
 * offset of the copy, or -1 when out of memory. */
static long pool_add(struct zio_elf *e, const char *s)
{
	size_t n = strlen(s) + 1;
	long at;

	if (e->strs_len + n > e->strs_cap) {
		size_t cap = e->strs_cap ? e->strs_cap * 2 : 65536;
		char *p;

		while (cap < e->strs_len + n)
			cap *= 2;
		p = realloc(e->strs, cap);
		if (!p)
			return -1;
		e->strs = p;
		e->strs_cap = cap;
	}
	at = e->strs_len;
	memcpy(e->strs + at, s, n);
	e->strs_len += n;
	return at;
}

/* qsort order of symbols: by address.  Returns <0, 0 or >0. */
static int sym_cmp(const void *a, const void *b)
{
	const struct zio_sym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* a sized symbol first, then a global name (stable choice) */
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return 0;
}

/* qsort order of GOT slots: by address.  Returns <0, 0 or >0. */
static int got_cmp(const void *a, const void *b)
{
	const struct zio_got *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Adds the function symbols of a symbol table section.  Returns 0 or
 * -ENOMEM. */
static int load_symbols(struct zio_elf *e, Elf_Scn *scn, GElf_Shdr *sh)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t i, n;

	if (!data || !sh->sh_entsize)
		return 0;
	n = sh->sh_size / sh->sh_entsize;
	for (i = 0; i < n; i++) {
		struct zio_sym *s;
		const char *name;
		GElf_Sym sym;
		int type;
		long at;

		if (!gelf_getsym(data, i, &sym))
			continue;
		type = GELF_ST_TYPE(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) ||
		    sym.st_shndx == SHN_UNDEF || !sym.st_value)
			continue;
		name = elf_strptr(e->elf, sh->sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		at = pool_add(e, name);
		if (at < 0)
			return -ENOMEM;
		s = realloc(e->syms, (e->nr_syms + 1) * sizeof(*s));
		if (!s)
			return -ENOMEM;
		e->syms = s;
		s = &e->syms[e->nr_syms++];
		s->addr = sym.st_value;
		s->size = sym.st_size;
		s->type = type == STT_GNU_IFUNC ? ZIO_SYM_IFUNC : ZIO_SYM_FUNC;
		s->name = (const char *)(intptr_t)at;	/* fixed up later */
	}
	return 0;
}

/* Records which dynamic symbol each GOT slot is relocated to.  Returns 0
 * or -ENOMEM. */
static int load_got(struct zio_elf *e, Elf_Scn *scn, GElf_Shdr *sh)
{
	Elf_Data *data = elf_getdata(scn, NULL), *symdata;
	GElf_Shdr symsh;
	Elf_Scn *symscn;
	size_t i, n;

	if (!data || !sh->sh_entsize || !sh->sh_link)
		return 0;
	symscn = elf_getscn(e->elf, sh->sh_link);
	if (!symscn || !gelf_getshdr(symscn, &symsh) ||
	    symsh.sh_type != SHT_DYNSYM)
		return 0;
	symdata = elf_getdata(symscn, NULL);
	if (!symdata)
		return 0;
	n = sh->sh_size / sh->sh_entsize;
	for (i = 0; i < n; i++) {
		unsigned long type;
		struct zio_got *g;
		const char *name;
		GElf_Rela rela;
		GElf_Sym sym;
		long at;

		if (!gelf_getrela(data, i, &rela))
			continue;
		type = GELF_R_TYPE(rela.r_info);
		if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
			continue;
		if (!gelf_getsym(symdata, GELF_R_SYM(rela.r_info), &sym))
			continue;
		name = elf_strptr(e->elf, symsh.sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		at = pool_add(e, name);
		if (at < 0)
			return -ENOMEM;
		g = realloc(e->got, (e->nr_got + 1) * sizeof(*g));
		if (!g)
			return -ENOMEM;
		e->got = g;
		g = &e->got[e->nr_got++];
		g->addr = rela.r_offset;
		g->name = (const char *)(intptr_t)at;
	}
	return 0;
}

/* Opens path, with its function symbols when want_syms (naming a PLT
 * callee needs only the segments and relocations).  Returns the file, or
 * NULL plus errno (ENOEXEC: not an ELF file). */
static struct zio_elf *elf_open(const char *path, bool want_syms)
{
	struct zio_elf *e;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t i, nph;
	int err = -ENOMEM, pass;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = EINVAL;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		goto err_errno;
	e->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (e->fd < 0) {
		err = -errno;
		goto err;
	}
	e->elf = elf_begin(e->fd, ELF_C_READ, NULL);
	if (!e->elf || elf_kind(e->elf) != ELF_K_ELF ||
	    elf_getphdrnum(e->elf, &nph)) {
		err = -ENOEXEC;
		goto err;
	}

	for (i = 0; i < nph; i++) {
		GElf_Phdr ph;
		struct zio_seg *s;

		if (!gelf_getphdr(e->elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		s = realloc(e->segs, (e->nr_segs + 1) * sizeof(*s));
		if (!s)
			goto err;
		e->segs = s;
		s[e->nr_segs].vaddr = ph.p_vaddr;
		s[e->nr_segs].off = ph.p_offset;
		s[e->nr_segs].filesz = ph.p_filesz;
		e->nr_segs++;
	}

	/* .symtab when there is one (it holds .dynsym's names too), else
	 * .dynsym; then the relocations for PLT callee names. */
	while ((scn = elf_nextscn(e->elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB)
			e->has_symtab = true;
	for (pass = 0; pass < 2; pass++) {
		scn = NULL;
		while ((scn = elf_nextscn(e->elf, scn))) {
			if (!gelf_getshdr(scn, &sh))
				continue;
			if (pass == 0 && want_syms &&
			    sh.sh_type == (e->has_symtab ? SHT_SYMTAB : SHT_DYNSYM))
				err = load_symbols(e, scn, &sh);
			else if (pass == 1 && sh.sh_type == SHT_RELA)
				err = load_got(e, scn, &sh);
			else
				err = 0;
			if (err)
				goto err;
		}
	}
	for (i = 0; i < e->nr_syms; i++)
		e->syms[i].name = e->strs + (intptr_t)e->syms[i].name;
	for (i = 0; i < e->nr_got; i++)
		e->got[i].name = e->strs + (intptr_t)e->got[i].name;
	/* (NULL arrays when empty: qsort must not see them) */
	if (e->nr_syms)
		qsort(e->syms, e->nr_syms, sizeof(*e->syms), sym_cmp);
	if (e->nr_got)
		qsort(e->got, e->nr_got, sizeof(*e->got), got_cmp);
	return e;
err:
	zio_elf__close(e);
	errno = -err;
	return NULL;
err_errno:
	return NULL;
}

struct zio_elf *zio_elf__open(const char *path)
{
	return elf_open(path, true);
}

struct zio_elf *zio_elf__open_plt(const char *path)
{
	return elf_open(path, false);
}

void zio_elf__close(struct zio_elf *e)
{
	if (!e)
		return;
	if (e->elf)
		elf_end(e->elf);
	if (e->fd >= 0)
		close(e->fd);
	free(e->syms);
	free(e->segs);
	free(e->got);
	free(e->strs);
	free(e);
}

bool zio_elf__has_symtab(const struct zio_elf *e)
{
	return e->has_symtab;
}

int zio_elf__addr_to_off(const struct zio_elf *e, uint64_t addr, uint64_t *off)
{
	size_t i;

	for (i = 0; i < e->nr_segs; i++) {
		const struct zio_seg *s = &e->segs[i];

		if (addr >= s->vaddr && addr < s->vaddr + s->filesz) {
			*off = addr - s->vaddr + s->off;
			return 0;
		}
	}
	return -ENOENT;
}

const struct zio_sym *zio_elf__sym_at(const struct zio_elf *e, uint64_t addr)
{
	size_t lo = 0, hi = e->nr_syms;
	const struct zio_sym *s;

	/* last symbol with s->addr <= addr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (e->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	s = &e->syms[lo - 1];
	/* sym_cmp put the largest of equal-address symbols first */
	while (s > e->syms && (s - 1)->addr == s->addr)
		s--;
	if (s->size && addr >= s->addr + s->size)
		return NULL;
	return s;
}

void zio_elf__for_each_named(const struct zio_elf *e, const char *name,
			     void (*cb)(const struct zio_sym *s, void *arg),
			     void *arg)
{
	size_t i;

	for (i = 0; i < e->nr_syms; i++)
		if (!strcmp(e->syms[i].name, name))
			cb(&e->syms[i], arg);
}

/* Reads len bytes at ELF address addr.  Returns 0, -ENOENT when no
 * segment holds it, or -EIO. */
static int read_at(const struct zio_elf *e, uint64_t addr, void *buf,
		   size_t len)
{
	uint64_t off;

	if (zio_elf__addr_to_off(e, addr, &off))
		return -ENOENT;
	if (pread(e->fd, buf, len, off) != (ssize_t)len)
		return -EIO;
	return 0;
}

/* Returns the symbol the GOT slot at slot is relocated to, or NULL. */
static const char *got_name(const struct zio_elf *e, uint64_t slot)
{
	size_t lo = 0, hi = e->nr_got;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (e->got[mid].addr == slot)
			return e->got[mid].name;
		if (e->got[mid].addr < slot)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * The call before a return address is "e8 rel32" (call, maybe to a PLT
 * stub) or "ff 15 disp32" (call *GOT(%rip), -fno-plt).  A PLT stub, in
 * .plt, .plt.got or .plt.sec, is "[endbr64] [bnd] jmp *GOT(%rip)" =
 * "[f3 0f 1e fa] [f2] ff 25 disp32" (the lazy .plt pushes and jumps on
 * after it).  The GOT slot's relocation names the callee.
 */
const char *zio_elf__plt_callee(const struct zio_elf *e, uint64_t ret_addr)
{
	unsigned char c[16];
	int32_t rel;
	uint64_t target;
	size_t i;

	if (!e->nr_got || ret_addr < 6 || read_at(e, ret_addr - 6, c, 6))
		return NULL;
	if (c[0] == 0xff && c[1] == 0x15) {
		memcpy(&rel, c + 2, 4);
		return got_name(e, ret_addr + rel);
	}
	if (c[1] != 0xe8)
		return NULL;
	memcpy(&rel, c + 2, 4);
	target = ret_addr + rel;
	if (read_at(e, target, c, sizeof(c)))
		return NULL;
	i = 0;
	if (c[0] == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa)
		i = 4;
	if (c[i] == 0xf2)
		i++;
	if (i + 6 > sizeof(c) || c[i] != 0xff || c[i + 1] != 0x25)
		return NULL;
	memcpy(&rel, c + i + 2, 4);
	return got_name(e, target + i + 6 + rel);
}
