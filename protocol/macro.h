#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Small helpers used everywhere: scope-based cleanup in the systemd style, array sizes,
 * ownership transfer. Header-only, no dependencies beyond libc.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define ALIGN4(x) (((x) + 3u) & ~(size_t)3u)
#define ALIGN_TO(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a)-1)) == 0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Take ownership of a pointer / fd, leaving NULL / -1 behind. */
#define TAKE_PTR(p)                                                                            \
        ({                                                                                     \
                __typeof__(p) _p_ = (p);                                                       \
                (p) = NULL;                                                                    \
                _p_;                                                                           \
        })
#define TAKE_FD(fd)                                                                            \
        ({                                                                                     \
                int _fd_ = (fd);                                                               \
                (fd) = -1;                                                                     \
                _fd_;                                                                          \
        })

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                \
        static inline void func##p(type *p)                                                    \
        {                                                                                      \
                if (*p)                                                                        \
                        func(*p);                                                              \
        }

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)
