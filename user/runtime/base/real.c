// SPDX-License-Identifier: MIT
/*
 * The table of libc's real functions, looked up once with
 * dlsym(RTLD_NEXT) (the pattern of libvma's get_orig_funcs): everything
 * zio does not own passes straight through to these.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>

#include "base/real.h"

ZIO_HIDDEN struct zio_real zio_real;
ZIO_HIDDEN bool zio_have_avx2;

static pthread_once_t real_once = PTHREAD_ONCE_INIT;

#define LOOKUP(name) \
	(*(void **)&zio_real.name = dlsym(RTLD_NEXT, #name))

static void real_init_once(void)
{
	/* memmove first: until it is known, zio_raw_copy loops byte-wise,
	 * and dlsym itself may copy. */
	LOOKUP(memmove);
	LOOKUP(memcpy);
	LOOKUP(recv);
	LOOKUP(recvfrom);
	LOOKUP(recvmsg);
	LOOKUP(read);
	LOOKUP(readv);
	LOOKUP(pread);
	LOOKUP(preadv);
	LOOKUP(send);
	LOOKUP(sendto);
	LOOKUP(sendmsg);
	LOOKUP(write);
	LOOKUP(writev);
	LOOKUP(pwrite);
	LOOKUP(pwritev);
	LOOKUP(free);
	LOOKUP(malloc);
	LOOKUP(realloc);
	LOOKUP(malloc_usable_size);
	LOOKUP(munmap);
	LOOKUP(mremap);
	LOOKUP(madvise);
	LOOKUP(_Fork);
	LOOKUP(sigaction);
	LOOKUP(recvmmsg);
	LOOKUP(sendmmsg);
	LOOKUP(bind);
	LOOKUP(connect);
	LOOKUP(close);
	LOOKUP(dup);
	LOOKUP(dup2);
	LOOKUP(dup3);
	LOOKUP(fcntl);
	LOOKUP(ioctl);
	LOOKUP(poll);
	LOOKUP(ppoll);
	LOOKUP(select);
	LOOKUP(pselect);
	LOOKUP(epoll_ctl);
	LOOKUP(epoll_wait);
	LOOKUP(epoll_pwait);
#if defined(__x86_64__)
	/* libgcc's CPU model is filled by its own constructor, which may not
	 * have run yet; its check includes the OS's XSAVE state (XCR0). */
	__builtin_cpu_init();
	zio_have_avx2 = __builtin_cpu_supports("avx2");
#endif
}

ZIO_HIDDEN void zio_real_init(void)
{
	pthread_once(&real_once, real_init_once);
}

/*
 * A copy that never re-enters an interposer.  The loop is only used
 * while the table is being filled (dlsym may copy): the build disables
 * loop-idiom recognition for the runtime so it stays a loop.
 */
ZIO_HIDDEN void zio_raw_copy(void *dst, const void *src, size_t n)
{
	void *(*mm)(void *, const void *, size_t) =
		__atomic_load_n(&zio_real.memmove, __ATOMIC_ACQUIRE);
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (likely(mm != NULL)) {
		mm(dst, src, n);
		return;
	}
	if (d < s || d >= s + n) {
#if defined(__x86_64__)
		__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
#else
		while (n--)
			*d++ = *s++;
#endif
	} else {
		d += n;
		s += n;
		while (n--)
			*--d = *--s;
	}
}
