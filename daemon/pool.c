/* SPDX-License-Identifier: MIT */
/*
 * Host memory pool: one bit per 4 KiB granule (1 = allocated). Free runs are found by
 * scanning 64-bit words with ctz, so every operation is linear in the words scanned and the
 * granules touched; 16 GiB of pool is a 512 KiB bitmap.
 *
 * A second bitmap, the same size, holds a "may be dirty" bit per granule (pool.h: "Dirty
 * tracking"). A clear bit on a free granule is a promise that the granule reads as zero.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "pool.h"

struct Pool {
        uint8_t *base;   /* mapping of the whole pool */
        bool owns_map;   /* pool_new_file() mapped it */
        uint64_t ipa;
        uint64_t size;
        uint64_t n_granules;
        uint64_t used;   /* granules set */
        uint64_t *bitmap;
        uint64_t *dirty; /* 1 = may hold data (see pool.h) */
        bool fragment_for_test;
};

/* ---- spec parsing ---- */

int pool_parse_size(const char *s, uint64_t *ret)
{
        uint64_t v = 0, mult = 1;
        unsigned base = 10;
        const char *p = s;
        bool any = false;

        if (!s || !*s)
                return -EINVAL;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
                base = 16;
                p += 2;
        }
        for (; *p; p++) {
                unsigned d;

                if (*p >= '0' && *p <= '9')
                        d = (unsigned)(*p - '0');
                else if (base == 16 && *p >= 'a' && *p <= 'f')
                        d = (unsigned)(*p - 'a' + 10);
                else if (base == 16 && *p >= 'A' && *p <= 'F')
                        d = (unsigned)(*p - 'A' + 10);
                else
                        break;
                if (v > (UINT64_MAX - d) / base)
                        return -ERANGE;
                v = v * base + d;
                any = true;
        }
        if (!any)
                return -EINVAL;
        if (*p) {
                switch (*p) {
                case 'k': case 'K': mult = UINT64_C(1) << 10; break;
                case 'm': case 'M': mult = UINT64_C(1) << 20; break;
                case 'g': case 'G': mult = UINT64_C(1) << 30; break;
                case 't': case 'T': mult = UINT64_C(1) << 40; break;
                default: return -EINVAL;
                }
                if (p[1] != '\0')
                        return -EINVAL;
        }
        if (v > UINT64_MAX / mult)
                return -ERANGE;
        *ret = v * mult;
        return 0;
}

void pool_spec_done(PoolSpec *spec)
{
        if (!spec)
                return;
        free(spec->path);
        *spec = (PoolSpec){ 0 };
}

int pool_spec_parse(const char *s, PoolSpec *ret)
{
        const char *c2, *c1;
        char *path, *ipa_s;
        uint64_t ipa, size;
        int r;

        if (!s)
                return -EINVAL;
        c2 = strrchr(s, ':');
        if (!c2 || c2 == s)
                return -EINVAL;
        for (c1 = c2 - 1; c1 > s && *c1 != ':'; c1--)
                ;
        if (*c1 != ':' || c1 == s)
                return -EINVAL;
        ipa_s = strndup(c1 + 1, (size_t)(c2 - c1 - 1));
        if (!ipa_s)
                return -ENOMEM;
        r = pool_parse_size(ipa_s, &ipa);
        free(ipa_s);
        if (r < 0)
                return -EINVAL;
        if (pool_parse_size(c2 + 1, &size) < 0)
                return -EINVAL;
        if (size == 0 || !IS_ALIGNED(ipa, POOL_BLOCK) || !IS_ALIGNED(size, POOL_BLOCK) ||
            ipa >= POOL_IPA_LIMIT || size > POOL_IPA_LIMIT - ipa)
                return -EINVAL;
        path = strndup(s, (size_t)(c1 - s));
        if (!path)
                return -ENOMEM;
        *ret = (PoolSpec){ .path = path, .ipa = ipa, .size = size };
        return 0;
}

/* ---- construction ---- */

static void bits_assign(uint64_t *bm, uint64_t first, uint64_t count, bool set);

static int pool_new_internal(Pool **ret, void *base, bool owns, uint64_t ipa, uint64_t size,
                             bool dirty)
{
        Pool *p;

        if (size == 0 || !IS_ALIGNED(ipa, POOL_BLOCK) || !IS_ALIGNED(size, POOL_BLOCK) ||
            ipa >= POOL_IPA_LIMIT || size > POOL_IPA_LIMIT - ipa)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->n_granules = size / POOL_GRANULE;
        p->bitmap = calloc((size_t)(p->n_granules / 64), sizeof(uint64_t));
        p->dirty = calloc((size_t)(p->n_granules / 64), sizeof(uint64_t));
        if (!p->bitmap || !p->dirty) {
                free(p->bitmap);
                free(p->dirty);
                free(p);
                return -ENOMEM;
        }
        if (dirty)
                memset(p->dirty, 0xff, (size_t)(p->n_granules / 64) * sizeof(uint64_t));
        p->base = base;
        p->owns_map = owns;
        p->ipa = ipa;
        p->size = size;
        *ret = p;
        return 0;
}

int pool_new_mapping(Pool **ret, void *base, uint64_t ipa, uint64_t size)
{
        if (!base)
                return -EINVAL;
        /* Nothing is known about a mapping handed in: every granule may hold data. */
        return pool_new_internal(ret, base, false, ipa, size, true);
}

/* Mark the granules of [0, size) of fd that may hold data dirty: SEEK_DATA/SEEK_HOLE report
 * holes, which read as zero; everything else is data. Any error but ENXIO (no data past the
 * offset) leaves the whole pool dirty. */
static void mark_file_data(Pool *p, int fd)
{
        off_t pos = 0, size = (off_t)p->size;

        while (pos < size) {
                off_t data = lseek(fd, pos, SEEK_DATA), hole;
                uint64_t first, last;

                if (data < 0) {
                        if (errno == ENXIO)
                                return;
                        break;
                }
                if (data >= size)
                        return;
                hole = lseek(fd, data, SEEK_HOLE);
                if (hole < 0 || hole <= data)
                        break;
                hole = MIN(hole, size);
                first = (uint64_t)data / POOL_GRANULE;
                last = ALIGN_TO((uint64_t)hole, POOL_GRANULE) / POOL_GRANULE;
                bits_assign(p->dirty, first, last - first, true);
                pos = hole;
        }
        if (pos < size)
                bits_assign(p->dirty, 0, p->n_granules, true);
}

int pool_new_file(Pool **ret, const char *path, uint64_t ipa, uint64_t size)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        void *m;
        int r;

        if (size == 0 || !IS_ALIGNED(size, POOL_BLOCK) || !IS_ALIGNED(ipa, POOL_BLOCK) ||
            ipa >= POOL_IPA_LIMIT || size > POOL_IPA_LIMIT - ipa)
                return -EINVAL;
        bool created = true;

        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST) {
                created = false;
                fd = open(path, O_RDWR | O_CLOEXEC);
        }
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t)st.st_size < size && ftruncate(fd, (off_t)size) < 0)
                return -errno;
        m = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED)
                return -errno;
        /* A file the daemon created, or an empty one it extended, is all zero; an existing
         * one may hold old data except in its holes. */
        r = pool_new_internal(ret, m, true, ipa, size, false);
        if (r < 0) {
                munmap(m, (size_t)size);
                return r;
        }
        if (!created && st.st_size > 0)
                mark_file_data(*ret, fd);
        return 0;
}

Pool *pool_free(Pool *p)
{
        if (!p)
                return NULL;
        if (p->owns_map && p->base)
                munmap(p->base, (size_t)p->size);
        free(p->bitmap);
        free(p->dirty);
        free(p);
        return NULL;
}

uint64_t pool_ipa(const Pool *p)
{
        return p->ipa;
}
uint64_t pool_size(const Pool *p)
{
        return p->size;
}
uint64_t pool_used(const Pool *p)
{
        return p->used * POOL_GRANULE;
}
uint64_t pool_available(const Pool *p)
{
        return p->size - p->used * POOL_GRANULE;
}

void pool_set_fragment_for_test(Pool *p, bool on)
{
        p->fragment_for_test = on;
}

/* ---- bitmap ---- */

/* First granule >= pos whose bit equals want (0 or 1); n_granules if none. */
static uint64_t bm_next(const Pool *p, uint64_t pos, bool want)
{
        uint64_t nw = p->n_granules / 64;

        while (pos < p->n_granules) {
                uint64_t w = pos / 64;
                uint64_t word = want ? p->bitmap[w] : ~p->bitmap[w];

                word &= ~UINT64_C(0) << (pos % 64);
                if (word)
                        return w * 64 + (uint64_t)__builtin_ctzll(word);
                pos = (w + 1) * 64;
                /* whole words of the wrong value: skip fast */
                while (pos / 64 < nw &&
                       p->bitmap[pos / 64] == (want ? UINT64_C(0) : ~UINT64_C(0)))
                        pos += 64;
        }
        return p->n_granules;
}

static void bits_assign(uint64_t *bm, uint64_t first, uint64_t count, bool set)
{
        uint64_t g = first, end = first + count;

        while (g < end) {
                uint64_t w = g / 64, bit = g % 64;
                uint64_t n = MIN(64 - bit, end - g);
                uint64_t mask = (n == 64 ? ~UINT64_C(0) : ((UINT64_C(1) << n) - 1)) << bit;

                if (set)
                        bm[w] |= mask;
                else
                        bm[w] &= ~mask;
                g += n;
        }
}

/* First granule in [pos, end) whose dirty bit is set; end if none. */
static uint64_t dirty_next(const Pool *p, uint64_t pos, uint64_t end)
{
        while (pos < end) {
                uint64_t w = pos / 64;
                uint64_t word = p->dirty[w] & (~UINT64_C(0) << (pos % 64));

                if (word)
                        return MIN(end, w * 64 + (uint64_t)__builtin_ctzll(word));
                pos = (w + 1) * 64;
        }
        return end;
}

/* First granule in [pos, end) whose dirty bit is clear; end if none. */
static uint64_t clean_next(const Pool *p, uint64_t pos, uint64_t end)
{
        while (pos < end) {
                uint64_t w = pos / 64;
                uint64_t word = ~p->dirty[w] & (~UINT64_C(0) << (pos % 64));

                if (word)
                        return MIN(end, w * 64 + (uint64_t)__builtin_ctzll(word));
                pos = (w + 1) * 64;
        }
        return end;
}

static void bm_assign(Pool *p, uint64_t first, uint64_t count, bool set)
{
        bits_assign(p->bitmap, first, count, set);
        if (set)
                p->used += count;
        else
                p->used -= count;
}

/* Whether every granule of [first, first+count) has value want. */
static bool bm_all(const Pool *p, uint64_t first, uint64_t count, bool want)
{
        uint64_t other = bm_next(p, first, !want);

        return other >= first + count;
}

static int range_to_granules(const Pool *p, uint64_t ipa, uint64_t size, uint64_t *ret_first,
                             uint64_t *ret_count)
{
        if (size == 0 || !IS_ALIGNED(ipa, POOL_GRANULE) || !IS_ALIGNED(size, POOL_GRANULE))
                return -EINVAL;
        if (ipa < p->ipa || ipa - p->ipa > p->size || size > p->size - (ipa - p->ipa))
                return -ERANGE;
        *ret_first = (ipa - p->ipa) / POOL_GRANULE;
        *ret_count = size / POOL_GRANULE;
        return 0;
}

/* ---- allocation ---- */

typedef struct ExtentList {
        PoolExtent *v;
        size_t n, cap;
} ExtentList;

static int extents_push(ExtentList *l, uint64_t ipa, uint64_t size)
{
        if (l->n > 0 && l->v[l->n - 1].ipa + l->v[l->n - 1].size == ipa) {
                l->v[l->n - 1].size += size;
                return 0;
        }
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                PoolExtent *v = realloc(l->v, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        l->v[l->n++] = (PoolExtent){ .ipa = ipa, .size = size };
        return 0;
}

/* First free run of count granules starting at a multiple of align; n_granules if none. */
static uint64_t find_run(const Pool *p, uint64_t count, uint64_t align)
{
        uint64_t pos = 0;

        for (;;) {
                uint64_t a = bm_next(p, pos, false), start, b;

                if (a >= p->n_granules)
                        return p->n_granules;
                start = ALIGN_TO(a, align);
                if (start >= p->n_granules)
                        return p->n_granules;
                /* start may be allocated: then b == start and the next round moves on */
                b = bm_next(p, start, true);
                if (b - start >= count)
                        return start;
                pos = MAX(b, a + 1);
        }
}

/* Test mode: take every other free granule (then any free one if the pool runs short),
 * marking them as it goes. On failure everything taken is given back. */
static int alloc_fragmented(Pool *p, uint64_t count, ExtentList *l)
{
        uint64_t pos = 0, got = 0;

        for (int pass = 0; pass < 2 && got < count; pass++) {
                for (pos = 0; got < count;) {
                        uint64_t a = bm_next(p, pos, false);

                        if (a >= p->n_granules)
                                break;
                        if (extents_push(l, p->ipa + a * POOL_GRANULE, POOL_GRANULE) < 0) {
                                for (size_t i = 0; i < l->n; i++)
                                        bm_assign(p, (l->v[i].ipa - p->ipa) / POOL_GRANULE,
                                                  l->v[i].size / POOL_GRANULE, false);
                                return -ENOMEM;
                        }
                        bm_assign(p, a, 1, true);
                        got++;
                        pos = pass == 0 ? bm_next(p, a + 1, false) + 1 : a + 1;
                }
        }
        return 0;
}

static int cmp_extent(const void *a, const void *b)
{
        const PoolExtent *x = a, *y = b;

        return x->ipa < y->ipa ? -1 : x->ipa > y->ipa;
}

int pool_alloc(Pool *p, uint64_t size, unsigned flags, PoolExtent **ret, size_t *ret_n)
{
        ExtentList l = { 0 };
        uint64_t count, start;
        int r = 0;

        if (size == 0)
                return -EINVAL;
        if (size > p->size)
                return -ENOMEM;
        count = ALIGN_TO(size, POOL_GRANULE) / POOL_GRANULE;
        if (count > p->n_granules - p->used)
                return -ENOMEM;

        if (p->fragment_for_test) {
                r = alloc_fragmented(p, count, &l);
                if (r < 0) {
                        free(l.v);
                        return r;
                }
                qsort(l.v, l.n, sizeof(*l.v), cmp_extent);
                *ret = l.v;
                *ret_n = l.n;
                return 0;
        } else {
                start = p->n_granules;
                if (flags & POOL_ALLOC_BASE)
                        start = find_run(p, count, POOL_BLOCK / POOL_GRANULE);
                if (start >= p->n_granules)
                        start = find_run(p, count, 1);
                if (start < p->n_granules) {
                        r = extents_push(&l, p->ipa + start * POOL_GRANULE,
                                         count * POOL_GRANULE);
                } else {
                        uint64_t pos = 0, got = 0;

                        while (got < count && r >= 0) {
                                uint64_t a = bm_next(p, pos, false);
                                uint64_t b = bm_next(p, a, true);
                                uint64_t n = MIN(b - a, count - got);

                                r = extents_push(&l, p->ipa + a * POOL_GRANULE,
                                                 n * POOL_GRANULE);
                                got += n;
                                pos = b;
                        }
                }
        }
        if (r < 0) {
                free(l.v);
                return r;
        }
        for (size_t i = 0; i < l.n; i++)
                bm_assign(p, (l.v[i].ipa - p->ipa) / POOL_GRANULE, l.v[i].size / POOL_GRANULE,
                          true);
        *ret = l.v;
        *ret_n = l.n;
        return 0;
}

int pool_reserve(Pool *p, uint64_t ipa, uint64_t size)
{
        uint64_t first, count;
        int r = range_to_granules(p, ipa, size, &first, &count);

        if (r < 0)
                return r;
        if (!bm_all(p, first, count, false))
                return -EEXIST;
        bm_assign(p, first, count, true);
        return 0;
}

bool pool_is_allocated(const Pool *p, uint64_t ipa, uint64_t size)
{
        uint64_t first, count;

        if (range_to_granules(p, ipa, size, &first, &count) < 0)
                return false;
        return bm_all(p, first, count, true);
}

static int release_extents(Pool *p, const PoolExtent *e, size_t n, bool zeroed);

int pool_release(Pool *p, uint64_t ipa, uint64_t size)
{
        return release_extents(p, &(PoolExtent){ .ipa = ipa, .size = size }, 1, false);
}

int pool_release_zeroed(Pool *p, uint64_t ipa, uint64_t size)
{
        return release_extents(p, &(PoolExtent){ .ipa = ipa, .size = size }, 1, true);
}

int pool_release_extents(Pool *p, const PoolExtent *e, size_t n)
{
        return release_extents(p, e, n, false);
}

int pool_mark_dirty(Pool *p, uint64_t ipa, uint64_t size)
{
        uint64_t first, count, start, end;
        int r;

        if (size == 0 || ipa > UINT64_MAX - size - POOL_GRANULE)
                return -EINVAL;
        start = ipa & ~(POOL_GRANULE - 1);
        end = ALIGN_TO(ipa + size, POOL_GRANULE);
        r = range_to_granules(p, start, end - start, &first, &count);
        if (r < 0)
                return r;
        bits_assign(p->dirty, first, count, true);
        return 0;
}

bool pool_is_dirty(const Pool *p, uint64_t ipa, uint64_t size)
{
        uint64_t first, count;

        if (range_to_granules(p, ipa, size, &first, &count) < 0)
                return true;
        return dirty_next(p, first, first + count) < first + count;
}

static int release_extents(Pool *p, const PoolExtent *e, size_t n, bool zeroed)
{
        uint64_t first, count;

        /* check all first, so a failing call changes nothing (overlapping duplicates within
         * e are caught by the second loop's re-check) */
        for (size_t i = 0; i < n; i++) {
                int r = range_to_granules(p, e[i].ipa, e[i].size, &first, &count);

                if (r < 0)
                        return r == -ERANGE ? -EINVAL : r;
                if (!bm_all(p, first, count, true))
                        return -EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
                range_to_granules(p, e[i].ipa, e[i].size, &first, &count);
                if (!bm_all(p, first, count, true)) {
                        /* duplicate within e: restore what this call cleared */
                        for (size_t j = 0; j < i; j++) {
                                uint64_t f2 = 0, c2 = 0;

                                range_to_granules(p, e[j].ipa, e[j].size, &f2, &c2);
                                bm_assign(p, f2, c2, true);
                        }
                        return -EINVAL;
                }
                bm_assign(p, first, count, false);
        }
        /* Whoever held the granules may have written them, unless the caller knows they
         * were zeroed (MEM_RECLAIM with SANITIZE succeeded). */
        for (size_t i = 0; i < n; i++) {
                range_to_granules(p, e[i].ipa, e[i].size, &first, &count);
                bits_assign(p->dirty, first, count, !zeroed);
        }
        return 0;
}

/* ---- translation ---- */

void *pool_ipa_to_ptr(const Pool *p, uint64_t ipa, uint64_t size)
{
        if (ipa < p->ipa || ipa - p->ipa > p->size || size > p->size - (ipa - p->ipa))
                return NULL;
        return p->base + (ipa - p->ipa);
}

int pool_ptr_to_ipa(const Pool *p, const void *ptr, uint64_t *ret)
{
        const uint8_t *c = ptr;

        if (c < p->base || (uint64_t)(c - p->base) >= p->size)
                return -ERANGE;
        *ret = p->ipa + (uint64_t)(c - p->base);
        return 0;
}

int pool_extents_lookup(const PoolExtent *e, size_t n, uint64_t offset, uint64_t *ret_ipa,
                        uint64_t *ret_contig)
{
        for (size_t i = 0; i < n; i++) {
                if (offset < e[i].size) {
                        *ret_ipa = e[i].ipa + offset;
                        *ret_contig = e[i].size - offset;
                        return 0;
                }
                offset -= e[i].size;
        }
        return -ERANGE;
}

uint64_t pool_extents_total(const PoolExtent *e, size_t n)
{
        uint64_t t = 0;

        for (size_t i = 0; i < n; i++)
                t += e[i].size;
        return t;
}

/* Walk [offset, offset+len) of guest RAM, calling fn on each host-contiguous piece. */
static int extents_walk(const Pool *p, const PoolExtent *e, size_t n, uint64_t offset, uint64_t len,
                        int (*fn)(const Pool *p, uint8_t *host, uint64_t done, uint64_t len,
                                  void *ud),
                        void *ud)
{
        uint64_t done = 0;
        size_t i = 0;

        if (len == 0)
                return 0;
        if (offset > UINT64_MAX - len || offset + len > pool_extents_total(e, n))
                return -ERANGE;
        while (i < n && offset >= e[i].size)
                offset -= e[i++].size;
        while (done < len) {
                uint64_t chunk = MIN(e[i].size - offset, len - done);
                uint8_t *host = pool_ipa_to_ptr(p, e[i].ipa + offset, chunk);
                int r;

                if (!host)
                        return -EFAULT;
                r = fn(p, host, done, chunk, ud);
                if (r < 0)
                        return r;
                done += chunk;
                offset = 0;
                i++;
        }
        return 0;
}

/* Zero [host, host + len): only the granules that may be dirty are written; a granule wholly
 * inside the piece is clean afterwards (one partly inside may hold data elsewhere). */
static void zero_piece(Pool *p, uint8_t *host, uint64_t len)
{
        uint64_t off = (uint64_t)(host - p->base), end = off + len;
        uint64_t g = off / POOL_GRANULE, g_end = ALIGN_TO(end, POOL_GRANULE) / POOL_GRANULE;

        for (;;) {
                uint64_t a = dirty_next(p, g, g_end), b, from, to, f_full, l_full;

                if (a >= g_end)
                        return;
                b = clean_next(p, a, g_end);
                from = MAX(off, a * POOL_GRANULE);
                to = MIN(end, b * POOL_GRANULE);
                memset(p->base + from, 0, (size_t)(to - from));
                f_full = ALIGN_TO(from, POOL_GRANULE) / POOL_GRANULE;
                l_full = to / POOL_GRANULE;
                if (l_full > f_full)
                        bits_assign(p->dirty, f_full, l_full - f_full, false);
                g = b;
        }
}

static int write_piece(const Pool *cp, uint8_t *host, uint64_t done, uint64_t len, void *ud)
{
        Pool *p = (Pool *)cp; /* pool_extents_write() passed a mutable pool */
        uint64_t off = (uint64_t)(host - p->base);

        if (!ud) {
                zero_piece(p, host, len);
                return 0;
        }
        bits_assign(p->dirty, off / POOL_GRANULE,
                    ALIGN_TO(off + len, POOL_GRANULE) / POOL_GRANULE - off / POOL_GRANULE, true);
        memcpy(host, (const uint8_t *)ud + done, (size_t)len);
        return 0;
}

static int read_piece(const Pool *p, uint8_t *host, uint64_t done, uint64_t len, void *ud)
{
        memcpy((uint8_t *)ud + done, host, (size_t)len);
        return 0;
}

int pool_extents_write(Pool *p, const PoolExtent *e, size_t n, uint64_t offset,
                       const void *buf, uint64_t len)
{
        return extents_walk(p, e, n, offset, len, write_piece, (void *)buf);
}

int pool_extents_read(const Pool *p, const PoolExtent *e, size_t n, uint64_t offset, void *buf,
                      uint64_t len)
{
        return extents_walk(p, e, n, offset, len, read_piece, buf);
}
