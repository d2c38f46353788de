#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Pool: the host memory the daemon lends to VMs. A range of host IPA [ipa, ipa + size) backed
 * by a shared mapping (a sparse file shared with the simulator, or a mapping handed in, e.g.
 * the host module's reserved region). Allocation is in 4 KiB granules tracked by a bitmap;
 * an allocation is a list of extents (host IPA + size) in ascending order, adjacent granules
 * merged.
 *
 * Invariants: ipa and size are 2 MiB aligned, ipa + size <= 2^44; used == number of set
 * granules * 4 KiB; every extent returned lies inside the pool and is 4 KiB aligned.
 * Cost: alloc/free/reserve are linear in the granules touched (plus a word scan).
 *
 * Error contract: negative errno. -ENOMEM when the pool lacks free granules, -EEXIST when a
 * reserve overlaps an allocated range, -EINVAL for misaligned or foreign ranges, -ERANGE for
 * ranges outside the pool. A failing call changes nothing.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POOL_GRANULE UINT64_C(4096)
#define POOL_BLOCK (UINT64_C(2) << 20) /* 2 MiB: pool and VM base alignment */
#define POOL_IPA_LIMIT (UINT64_C(1) << 44)

typedef struct Pool Pool;

typedef struct PoolExtent {
        uint64_t ipa;  /* host IPA, 4 KiB aligned */
        uint64_t size; /* bytes, multiple of 4 KiB, > 0 */
} PoolExtent;

/* "--pool FILE:IPA:SIZE" (the simulator's option has the same form). FILE may contain ':'
 * (the last two fields are split off from the right). IPA and SIZE accept decimal, 0x hex,
 * and a K/M/G/T suffix (binary); both must be 2 MiB aligned, SIZE > 0, IPA + SIZE <= 2^44. */
typedef struct PoolSpec {
        char *path; /* owned */
        uint64_t ipa;
        uint64_t size;
} PoolSpec;
int pool_spec_parse(const char *s, PoolSpec *ret);
void pool_spec_done(PoolSpec *spec);
/* A number with optional K/M/G/T suffix (powers of 1024); 0x prefix for hex. -EINVAL,
 * -ERANGE on overflow. */
int pool_parse_size(const char *s, uint64_t *ret);

/* Open (creating it sparse, mode 0600, when missing) and ftruncate the file to size, map it
 * MAP_SHARED read/write. An existing larger file is not shrunk. */
int pool_new_file(Pool **ret, const char *path, uint64_t ipa, uint64_t size);
/* Use an existing mapping of size bytes at base, for host IPA ipa. The pool does not unmap
 * it; the caller keeps it valid until pool_free(). */
int pool_new_mapping(Pool **ret, void *base, uint64_t ipa, uint64_t size);
/* Unmap (if the pool mapped it) and free. NULL-safe, returns NULL. */
Pool *pool_free(Pool *p);
static inline void pool_freep(Pool **p)
{
        if (*p)
                pool_free(*p);
}

uint64_t pool_ipa(const Pool *p);
uint64_t pool_size(const Pool *p);
uint64_t pool_used(const Pool *p);      /* bytes allocated or reserved */
uint64_t pool_available(const Pool *p); /* size - used */

/* Allocation policy flags. */
enum {
        /* Prefer one contiguous run starting 2 MiB aligned (the VM base); without it the
         * allocator still prefers contiguity but takes any granules, lowest first. */
        POOL_ALLOC_BASE = 1u << 0,
};

/* Allocate size bytes (rounded up to 4 KiB). On success *ret is a malloc'd array of *ret_n
 * extents (caller frees with free(), returns the memory with pool_release_extents()).
 * Order: a single 2 MiB aligned run when POOL_ALLOC_BASE and one exists; else one run of
 * any alignment if one exists; else lowest-address-first granules. -ENOMEM if the pool has
 * less than size free. In fragment-for-test mode see pool_set_fragment_for_test(). */
int pool_alloc(Pool *p, uint64_t size, unsigned flags, PoolExtent **ret, size_t *ret_n);
/* Give back extents (each must be fully allocated, else -EINVAL and nothing changes). */
int pool_release_extents(Pool *p, const PoolExtent *e, size_t n);
/* Mark [ipa, ipa + size) allocated (recovery rebuilds accounting from records). -EEXIST if
 * any granule is already allocated, -ERANGE outside the pool, -EINVAL misaligned/empty. */
int pool_reserve(Pool *p, uint64_t ipa, uint64_t size);
/* Give back one range (same checks as pool_release_extents). */
int pool_release(Pool *p, uint64_t ipa, uint64_t size);
/* Give back one range known to be zero (the RM sanitized it: a MEM_RECLAIM with
 * RM_MEM_RELEASE_FLAG_SANITIZE that succeeded). Same checks as pool_release(). */
int pool_release_zeroed(Pool *p, uint64_t ipa, uint64_t size);
/* Whether every granule of the range is allocated. */
bool pool_is_allocated(const Pool *p, uint64_t ipa, uint64_t size);

/*
 * Dirty tracking: one "may hold data" bit per granule, so that zeroing a range before a
 * lend writes only granules that may hold data.
 *  - Start: a pool file the daemon created, or an empty file it extended, is clean; an
 *    existing non-empty file is dirty except in its holes (SEEK_DATA/SEEK_HOLE; all dirty
 *    if the file system cannot tell); a mapping handed in (pool_new_mapping) is all dirty.
 *  - pool_alloc()/pool_reserve() keep the bits: the holder sees what the range held.
 *  - pool_release()/pool_release_extents() set the bits (the holder may have written);
 *    pool_release_zeroed() clears them.
 *  - pool_extents_write() with data sets the bits of the granules it touches; with NULL it
 *    writes zeros only over dirty granules and clears the bits of granules it covers wholly.
 *  - pool_mark_dirty(): for writes through pool_ipa_to_ptr() and for ranges whose history is
 *    unknown (recovery).
 * Only the holder of an allocated range may rely on its bits (it must not have let anyone
 * else write it, e.g. before MEM_LEND); a free granule with a clear bit reads as zero.
 */
/* Mark the granules [ipa, ipa + size) touches dirty (any alignment). -EINVAL when empty,
 * -ERANGE outside the pool. */
int pool_mark_dirty(Pool *p, uint64_t ipa, uint64_t size);
/* Whether any granule of the range may hold data (true for a foreign range). */
bool pool_is_dirty(const Pool *p, uint64_t ipa, uint64_t size);

/* Test mode: while on, pool_alloc() takes one granule, skips the next free one, and so on,
 * so an allocation of N granules yields N separate extents (forcing SGLs past 512 entries).
 * Skipped granules stay free. */
void pool_set_fragment_for_test(Pool *p, bool on);

/* Host pointer for [ipa, ipa + size) inside the mapping, or NULL if not entirely inside. */
void *pool_ipa_to_ptr(const Pool *p, uint64_t ipa, uint64_t size);
/* Host IPA of a pointer inside the mapping; -ERANGE otherwise. */
int pool_ptr_to_ipa(const Pool *p, const void *ptr, uint64_t *ret);

/*
 * A VM's RAM is the concatenation of its extents in order: guest offset 0 is extents[0].ipa.
 * Translate a guest offset into the host IPA backing it and the number of contiguous bytes
 * from there to the end of that extent. -ERANGE if offset is beyond the total.
 */
int pool_extents_lookup(const PoolExtent *e, size_t n, uint64_t offset, uint64_t *ret_ipa,
                        uint64_t *ret_contig);
/* Sum of the extents' sizes. */
uint64_t pool_extents_total(const PoolExtent *e, size_t n);
/* Copy len bytes from buf to guest offset (or zero them when buf is NULL: only granules that
 * may be dirty are written, see "Dirty tracking"), across extents. -ERANGE if the range is
 * not backed, -EFAULT if an extent is outside the pool. */
int pool_extents_write(Pool *p, const PoolExtent *e, size_t n, uint64_t offset,
                       const void *buf, uint64_t len);
/* Copy from guest offset into buf. Same errors. */
int pool_extents_read(const Pool *p, const PoolExtent *e, size_t n, uint64_t offset, void *buf,
                      uint64_t len);
