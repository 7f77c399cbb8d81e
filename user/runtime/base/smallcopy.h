/* SPDX-License-Identifier: MIT */
/*
 * The memcpy/memmove interposers' own copies of up to 256 bytes
 * (interpose.c): most of a program's copies, done without the jump on to
 * libc.
 */
#ifndef ZIO_BASE_SMALLCOPY_H
#define ZIO_BASE_SMALLCOPY_H

#include "base/real.h"

/*
 * Small copies are most of a program's memcpy calls.  Jumping on to
 * libc's memcpy from here costs a second indirect branch on each of
 * them; copying up to 64 bytes right here costs less than that branch.
 * Every byte is loaded before any is stored, so overlap is harmless
 * (memmove gets the same code).
 */
typedef uint64_t u64u __attribute__((may_alias, aligned(1)));
typedef uint32_t u32u __attribute__((may_alias, aligned(1)));
typedef uint16_t u16u __attribute__((may_alias, aligned(1)));
typedef char v16u __attribute__((vector_size(16), may_alias, aligned(1)));

static inline __attribute__((always_inline)) void copy_le64(void *d, const void *s, size_t n)
{
	char *dc = d;
	const char *sc = s;

	if (n >= 16) {
		if (n > 32) {
			v16u a = *(const v16u *)sc, b = *(const v16u *)(sc + 16);
			v16u c = *(const v16u *)(sc + n - 32), e = *(const v16u *)(sc + n - 16);

			*(v16u *)dc = a;
			*(v16u *)(dc + 16) = b;
			*(v16u *)(dc + n - 32) = c;
			*(v16u *)(dc + n - 16) = e;
		} else {
			v16u a = *(const v16u *)sc, b = *(const v16u *)(sc + n - 16);

			*(v16u *)dc = a;
			*(v16u *)(dc + n - 16) = b;
		}
	} else if (n >= 8) {
		uint64_t a = *(const u64u *)sc, b = *(const u64u *)(sc + n - 8);

		*(u64u *)dc = a;
		*(u64u *)(dc + n - 8) = b;
	} else if (n >= 4) {
		uint32_t a = *(const u32u *)sc, b = *(const u32u *)(sc + n - 4);

		*(u32u *)dc = a;
		*(u32u *)(dc + n - 4) = b;
	} else if (n >= 2) {
		uint16_t a = *(const u16u *)sc, b = *(const u16u *)(sc + n - 2);

		*(u16u *)dc = a;
		*(u16u *)(dc + n - 2) = b;
	} else if (n) {
		*dc = *sc;
	}
}

/*
 * 33-256 bytes: libc's copy here is 32-byte AVX (or wider) loads and
 * stores, and the jump on to it costs more than the copy's own stores
 * (tools/smallcopy: +0.5 ns at 128 B, +0.8 ns at 256 B, 25-35%).  So copy
 * them here too, with the same 32-byte moves, where the CPU has AVX2
 * (the runtime itself is built for baseline x86-64, hence the asm; every
 * vector register is caller-saved, and vzeroupper leaves no dirty upper
 * state behind, as libc's own copy does).  First and last 32-byte
 * blocks overlap in the middle; every byte is loaded before any is
 * stored, so memmove gets the same code.
 */
#if defined(__x86_64__)

static inline __attribute__((always_inline)) bool copy_le256(void *d, const void *s, size_t n)
{
	if (!zio_have_avx2)
		return false;
	if (n <= 64)
		__asm__ volatile(
			"vmovdqu (%[s]), %%ymm0\n\t"
			"vmovdqu -32(%[s],%[n]), %%ymm1\n\t"
			"vmovdqu %%ymm0, (%[d])\n\t"
			"vmovdqu %%ymm1, -32(%[d],%[n])\n\t"
			"vzeroupper"
			: : [d] "r"(d), [s] "r"(s), [n] "r"(n)
			: "xmm0", "xmm1", "memory");
	else if (n <= 128)
		__asm__ volatile(
			"vmovdqu (%[s]), %%ymm0\n\t"
			"vmovdqu 32(%[s]), %%ymm1\n\t"
			"vmovdqu -64(%[s],%[n]), %%ymm2\n\t"
			"vmovdqu -32(%[s],%[n]), %%ymm3\n\t"
			"vmovdqu %%ymm0, (%[d])\n\t"
			"vmovdqu %%ymm1, 32(%[d])\n\t"
			"vmovdqu %%ymm2, -64(%[d],%[n])\n\t"
			"vmovdqu %%ymm3, -32(%[d],%[n])\n\t"
			"vzeroupper"
			: : [d] "r"(d), [s] "r"(s), [n] "r"(n)
			: "xmm0", "xmm1", "xmm2", "xmm3", "memory");
	else
		__asm__ volatile(
			"vmovdqu (%[s]), %%ymm0\n\t"
			"vmovdqu 32(%[s]), %%ymm1\n\t"
			"vmovdqu 64(%[s]), %%ymm2\n\t"
			"vmovdqu 96(%[s]), %%ymm3\n\t"
			"vmovdqu -128(%[s],%[n]), %%ymm4\n\t"
			"vmovdqu -96(%[s],%[n]), %%ymm5\n\t"
			"vmovdqu -64(%[s],%[n]), %%ymm6\n\t"
			"vmovdqu -32(%[s],%[n]), %%ymm7\n\t"
			"vmovdqu %%ymm0, (%[d])\n\t"
			"vmovdqu %%ymm1, 32(%[d])\n\t"
			"vmovdqu %%ymm2, 64(%[d])\n\t"
			"vmovdqu %%ymm3, 96(%[d])\n\t"
			"vmovdqu %%ymm4, -128(%[d],%[n])\n\t"
			"vmovdqu %%ymm5, -96(%[d],%[n])\n\t"
			"vmovdqu %%ymm6, -64(%[d],%[n])\n\t"
			"vmovdqu %%ymm7, -32(%[d],%[n])\n\t"
			"vzeroupper"
			: : [d] "r"(d), [s] "r"(s), [n] "r"(n)
			: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
			  "memory");
	return true;
}
#else
static inline bool copy_le256(void *d, const void *s, size_t n)
{
	(void)d, (void)s, (void)n;
	return false;
}
#endif

#endif
