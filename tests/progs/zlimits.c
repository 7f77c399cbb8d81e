// SPDX-License-Identifier: MIT
/*
 * zlimits — the runtime at its limits; every byte verified.
 *
 *   zlimits vmas N      N one-page aliases a page apart (two VMAs each):
 *                       past vm.max_map_count, or past ZIO_MAX_ALIASES,
 *                       the copies must fall back, never fail
 *   zlimits pressure N  N rounds of 1 MiB received and copied, all the
 *                       aliases kept live, half their originals freed
 *                       (shadows), then everything read back
 * Prints "zlimits: MODE ok" or "zlimits: MODE FAIL ..." (exit 1).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define PG 4096UL

static const char *mode = "?";

#define FAIL(...) do { \
	printf("zlimits: %s FAIL ", mode); printf(__VA_ARGS__); printf("\n"); \
	fflush(stdout); exit(1); } while (0)

#include "feed.h"

static void mode_vmas(size_t n)
{
	const size_t src_pages = 64;
	unsigned char *src = mmap(NULL, src_pages * PG, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *dst = mmap(NULL, n * 2 * PG, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (src == MAP_FAILED || dst == MAP_FAILED)
		FAIL("mmap: %s", strerror(errno));
	receive(src, src_pages * PG, 9);
	for (size_t i = 0; i < n; i++)
		memcpy(dst + i * 2 * PG, src + (i % src_pages) * PG, PG);
	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = dst + i * 2 * PG;
		size_t s = (i % src_pages) * PG;

		for (size_t k = 0; k < PG; k += 509)
			if (p[k] != pat(s + k, 9))
				FAIL("alias %zu byte %zu is 0x%02x, expected 0x%02x", i, k, p[k],
				     pat(s + k, 9));
		if (p[PG] != 0)
			FAIL("gap page after alias %zu is not zero", i);
	}
}

static void mode_pressure(size_t n)
{
	const size_t len = 1 << 20;
	unsigned char **al = calloc(n, sizeof(*al)), **in = calloc(n, sizeof(*in));

	for (size_t r = 0; r < n; r++) {
		in[r] = malloc(len);
		al[r] = malloc(len);
		if (!in[r] || !al[r])
			FAIL("malloc");
		receive(in[r], len, (unsigned)r);
		memcpy(al[r], in[r], len);
		if (r & 1) {
			free(in[r]);            /* the alias outlives its original */
			in[r] = NULL;
		}
	}
	for (size_t r = 0; r < n; r++) {
		for (size_t i = 0; i < len; i += 997)
			if (al[r][i] != pat(i, (unsigned)r))
				FAIL("round %zu byte %zu", r, i);
		if (in[r] && in[r][len - 1] != pat(len - 1, (unsigned)r))
			FAIL("original %zu", r);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: zlimits vmas|pressure N\n");
		return 2;
	}
	mode = argv[1];
	if (!strcmp(mode, "vmas"))
		mode_vmas(strtoul(argv[2], NULL, 10));
	else if (!strcmp(mode, "pressure"))
		mode_pressure(strtoul(argv[2], NULL, 10));
	else
		return 2;
	printf("zlimits: %s ok\n", mode);
	return 0;
}
