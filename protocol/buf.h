#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Bounded little-endian reader and writer. Every field of the RM wire is encoded byte by
 * byte through these helpers; nothing is ever memcpy'd from a packed struct.
 *
 * BufReader: each get_*() checks the remaining length first and returns -EBADMSG without
 * moving when the field does not fit. BufWriter: each put_*() returns -ENOBUFS when the
 * output would overflow. Both are header-only and allocation-free.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t le16_get(const uint8_t *p)
{
        return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t le32_get(const uint8_t *p)
{
        return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
               ((uint32_t)p[3] << 24);
}
static inline uint64_t le64_get(const uint8_t *p)
{
        return (uint64_t)le32_get(p) | ((uint64_t)le32_get(p + 4) << 32);
}
static inline void le16_put(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}
static inline void le32_put(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
}
static inline void le64_put(uint8_t *p, uint64_t v)
{
        le32_put(p, (uint32_t)v);
        le32_put(p + 4, (uint32_t)(v >> 32));
}

typedef struct BufReader {
        const uint8_t *p;
        size_t len; /* bytes left */
} BufReader;

static inline BufReader buf_reader(const void *p, size_t len)
{
        return (BufReader){ .p = p, .len = len };
}
static inline int buf_skip(BufReader *r, size_t n)
{
        if (r->len < n)
                return -EBADMSG;
        r->p += n;
        r->len -= n;
        return 0;
}
static inline int buf_get_u8(BufReader *r, uint8_t *v)
{
        if (r->len < 1)
                return -EBADMSG;
        *v = r->p[0];
        return buf_skip(r, 1);
}
static inline int buf_get_le16(BufReader *r, uint16_t *v)
{
        if (r->len < 2)
                return -EBADMSG;
        *v = le16_get(r->p);
        return buf_skip(r, 2);
}
static inline int buf_get_le32(BufReader *r, uint32_t *v)
{
        if (r->len < 4)
                return -EBADMSG;
        *v = le32_get(r->p);
        return buf_skip(r, 4);
}
static inline int buf_get_le64(BufReader *r, uint64_t *v)
{
        if (r->len < 8)
                return -EBADMSG;
        *v = le64_get(r->p);
        return buf_skip(r, 8);
}
static inline int buf_get_bytes(BufReader *r, void *out, size_t n)
{
        if (r->len < n)
                return -EBADMSG;
        memcpy(out, r->p, n);
        return buf_skip(r, n);
}

typedef struct BufWriter {
        uint8_t *p;
        size_t cap;
        size_t len; /* bytes written */
} BufWriter;

static inline BufWriter buf_writer(void *p, size_t cap)
{
        return (BufWriter){ .p = p, .cap = cap, .len = 0 };
}
static inline int buf_put_bytes(BufWriter *w, const void *src, size_t n)
{
        if (w->cap - w->len < n)
                return -ENOBUFS;
        if (n)
                memcpy(w->p + w->len, src, n);
        w->len += n;
        return 0;
}
static inline int buf_put_zero(BufWriter *w, size_t n)
{
        if (w->cap - w->len < n)
                return -ENOBUFS;
        memset(w->p + w->len, 0, n);
        w->len += n;
        return 0;
}
static inline int buf_put_u8(BufWriter *w, uint8_t v)
{
        return buf_put_bytes(w, &v, 1);
}
static inline int buf_put_le16(BufWriter *w, uint16_t v)
{
        if (w->cap - w->len < 2)
                return -ENOBUFS;
        le16_put(w->p + w->len, v);
        w->len += 2;
        return 0;
}
static inline int buf_put_le32(BufWriter *w, uint32_t v)
{
        if (w->cap - w->len < 4)
                return -ENOBUFS;
        le32_put(w->p + w->len, v);
        w->len += 4;
        return 0;
}
static inline int buf_put_le64(BufWriter *w, uint64_t v)
{
        if (w->cap - w->len < 8)
                return -ENOBUFS;
        le64_put(w->p + w->len, v);
        w->len += 8;
        return 0;
}
