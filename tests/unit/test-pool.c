/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "pool.h"
#include "test.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define POOL_IPA UINT64_C(0x100000000)

/* A pool over an anonymous mapping (the "given mapping" constructor). */
static Pool *anon_pool(uint64_t size, void **ret_map)
{
        void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        Pool *p = NULL;

        ASSERT_TRUE(m != MAP_FAILED);
        ASSERT_OK(pool_new_mapping(&p, m, POOL_IPA, size));
        *ret_map = m;
        return p;
}

static void drop_pool(Pool *p, void *m, uint64_t size)
{
        pool_free(p);
        munmap(m, size);
}

TEST(parse_size)
{
        uint64_t v;

        ASSERT_OK(pool_parse_size("4096", &v));
        ASSERT_U64_EQ(v, 4096);
        ASSERT_OK(pool_parse_size("2M", &v));
        ASSERT_U64_EQ(v, 2 * MiB);
        ASSERT_OK(pool_parse_size("1g", &v));
        ASSERT_U64_EQ(v, GiB);
        ASSERT_OK(pool_parse_size("3K", &v));
        ASSERT_U64_EQ(v, 3072);
        ASSERT_OK(pool_parse_size("0x80000000", &v));
        ASSERT_U64_EQ(v, 0x80000000);
        ASSERT_OK(pool_parse_size("0x10M", &v));
        ASSERT_U64_EQ(v, 16 * MiB);
        ASSERT_OK(pool_parse_size("010", &v)); /* decimal, not octal */
        ASSERT_U64_EQ(v, 10);
        ASSERT_EQ(pool_parse_size("", &v), -EINVAL);
        ASSERT_EQ(pool_parse_size("M", &v), -EINVAL);
        ASSERT_EQ(pool_parse_size("12Q", &v), -EINVAL);
        ASSERT_EQ(pool_parse_size("12MB", &v), -EINVAL);
        ASSERT_EQ(pool_parse_size("-1", &v), -EINVAL);
        ASSERT_EQ(pool_parse_size(" 1", &v), -EINVAL);
        ASSERT_EQ(pool_parse_size("0x", &v), -EINVAL);
        ASSERT_EQ(pool_parse_size("99999999999999999999", &v), -ERANGE);
        ASSERT_EQ(pool_parse_size("17179869184G", &v), -ERANGE);
}

TEST(parse_spec)
{
        PoolSpec s;

        ASSERT_OK(pool_spec_parse("/tmp/pool.img:0x80000000:512M", &s));
        ASSERT_STREQ(s.path, "/tmp/pool.img");
        ASSERT_U64_EQ(s.ipa, 0x80000000);
        ASSERT_U64_EQ(s.size, 512 * MiB);
        pool_spec_done(&s);
        ASSERT_TRUE(s.path == NULL);

        /* the path may contain ':' (split from the right) */
        ASSERT_OK(pool_spec_parse("/tmp/a:b:2G:4M", &s));
        ASSERT_STREQ(s.path, "/tmp/a:b");
        ASSERT_U64_EQ(s.ipa, 2 * GiB);
        ASSERT_U64_EQ(s.size, 4 * MiB);
        pool_spec_done(&s);

        ASSERT_EQ(pool_spec_parse("/tmp/p:0x80001000:2M", &s), -EINVAL); /* IPA not 2M */
        ASSERT_EQ(pool_spec_parse("/tmp/p:2G:3M", &s), -EINVAL);         /* size not 2M */
        ASSERT_EQ(pool_spec_parse("/tmp/p:2G:0", &s), -EINVAL);
        ASSERT_EQ(pool_spec_parse("/tmp/p:0xFFFFFE00000:4M", &s), -EINVAL); /* beyond 2^44 */
        ASSERT_OK(pool_spec_parse("/tmp/p:0xFFFFFE00000:2M", &s)); /* ends exactly at 2^44 */
        pool_spec_done(&s);
        ASSERT_EQ(pool_spec_parse(":2G:2M", &s), -EINVAL);
        ASSERT_EQ(pool_spec_parse("/tmp/p:2G", &s), -EINVAL);
        ASSERT_EQ(pool_spec_parse("/tmp/p", &s), -EINVAL);
        ASSERT_EQ(pool_spec_parse("/tmp/p:x:2M", &s), -EINVAL);
}

TEST(file_pool_shared_and_sparse)
{
        char path[] = "/tmp/test-pool-XXXXXX";
        int fd = mkstemp(path);
        Pool *p = NULL;
        uint8_t *ptr;
        uint8_t byte = 0;
        uint64_t ipa;
        struct stat st;

        ASSERT_TRUE(fd >= 0);
        close(fd);
        unlink(path); /* pool_new_file creates it */
        ASSERT_OK(pool_new_file(&p, path, POOL_IPA, 8 * MiB));
        ASSERT_OK(stat(path, &st));
        ASSERT_U64_EQ(st.st_size, 8 * MiB);
        ASSERT_TRUE((uint64_t)st.st_blocks * 512 < 8 * MiB); /* sparse */
        ASSERT_U64_EQ(pool_ipa(p), POOL_IPA);
        ASSERT_U64_EQ(pool_size(p), 8 * MiB);
        ptr = pool_ipa_to_ptr(p, POOL_IPA + 12288, 4096);
        ASSERT_TRUE(ptr != NULL);
        ptr[5] = 0xA5;
        ASSERT_OK(pool_ptr_to_ipa(p, ptr + 5, &ipa));
        ASSERT_U64_EQ(ipa, POOL_IPA + 12293);
        ASSERT_TRUE(pool_ipa_to_ptr(p, POOL_IPA + 8 * MiB - 4096, 8192) == NULL);
        ASSERT_TRUE(pool_ipa_to_ptr(p, POOL_IPA - 4096, 4096) == NULL);
        ASSERT_EQ(pool_ptr_to_ipa(p, ptr + 8 * MiB, &ipa), -ERANGE);
        pool_free(p);

        /* MAP_SHARED: the byte reached the file */
        fd = open(path, O_RDONLY);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(pread(fd, &byte, 1, 12288 + 5), 1);
        ASSERT_EQ(byte, 0xA5);
        close(fd);

        ASSERT_EQ(pool_new_file(&p, path, POOL_IPA + 4096, 8 * MiB), -EINVAL);
        ASSERT_EQ(pool_new_file(&p, "/nonexistent-dir/x", POOL_IPA, 8 * MiB), -ENOENT);
        unlink(path);
}

TEST(alloc_base_contiguous_and_free)
{
        void *m;
        Pool *p = anon_pool(64 * MiB, &m);
        PoolExtent *e = NULL, *e2 = NULL;
        size_t n = 0, n2 = 0;

        /* take one granule so the next base allocation must skip to the next 2 MiB */
        ASSERT_OK(pool_alloc(p, 4096, 0, &e2, &n2));
        ASSERT_EQ(n2, 1);
        ASSERT_U64_EQ(e2[0].ipa, POOL_IPA);
        ASSERT_U64_EQ(pool_used(p), 4096);

        ASSERT_OK(pool_alloc(p, 16 * MiB, POOL_ALLOC_BASE, &e, &n));
        ASSERT_EQ(n, 1);
        ASSERT_U64_EQ(e[0].ipa, POOL_IPA + 2 * MiB);
        ASSERT_U64_EQ(e[0].size, 16 * MiB);
        ASSERT_U64_EQ(pool_used(p), 16 * MiB + 4096);
        ASSERT_U64_EQ(pool_available(p), 48 * MiB - 4096);
        ASSERT_TRUE(pool_is_allocated(p, e[0].ipa, e[0].size));

        /* without BASE the hole after the first granule is used */
        {
                PoolExtent *e3;
                size_t n3;

                ASSERT_OK(pool_alloc(p, 8192, 0, &e3, &n3));
                ASSERT_EQ(n3, 1);
                ASSERT_U64_EQ(e3[0].ipa, POOL_IPA + 4096);
                ASSERT_OK(pool_release_extents(p, e3, n3));
                free(e3);
        }

        /* size is rounded up to granules */
        ASSERT_OK(pool_release_extents(p, e2, n2));
        free(e2);
        ASSERT_OK(pool_alloc(p, 100, 0, &e2, &n2));
        ASSERT_U64_EQ(e2[0].size, 4096);

        /* double free is refused and changes nothing */
        ASSERT_OK(pool_release_extents(p, e, n));
        ASSERT_EQ(pool_release_extents(p, e, n), -EINVAL);
        ASSERT_U64_EQ(pool_used(p), 4096);
        ASSERT_OK(pool_release_extents(p, e2, n2));
        ASSERT_U64_EQ(pool_used(p), 0);
        /* a duplicate inside one call is refused atomically */
        ASSERT_OK(pool_reserve(p, POOL_IPA, 4096));
        {
                PoolExtent dup[2] = { { POOL_IPA, 4096 }, { POOL_IPA, 4096 } };

                ASSERT_EQ(pool_release_extents(p, dup, 2), -EINVAL);
                ASSERT_U64_EQ(pool_used(p), 4096);
                ASSERT_TRUE(pool_is_allocated(p, POOL_IPA, 4096));
        }
        ASSERT_OK(pool_release(p, POOL_IPA, 4096));
        ASSERT_EQ(pool_release(p, POOL_IPA + 3, 4096), -EINVAL);
        ASSERT_EQ(pool_release(p, POOL_IPA + 64 * MiB, 4096), -EINVAL);
        free(e);
        free(e2);
        drop_pool(p, m, 64 * MiB);
}

TEST(out_of_memory)
{
        void *m;
        Pool *p = anon_pool(8 * MiB, &m);
        PoolExtent *e = NULL, *e2 = NULL;
        size_t n, n2;

        ASSERT_EQ(pool_alloc(p, 8 * MiB + 4096, 0, &e, &n), -ENOMEM);
        ASSERT_EQ(pool_alloc(p, 0, 0, &e, &n), -EINVAL);
        ASSERT_OK(pool_alloc(p, 6 * MiB, POOL_ALLOC_BASE, &e, &n));
        ASSERT_EQ(pool_alloc(p, 2 * MiB + 4096, 0, &e2, &n2), -ENOMEM);
        ASSERT_U64_EQ(pool_used(p), 6 * MiB); /* the failed call changed nothing */
        ASSERT_OK(pool_alloc(p, 2 * MiB, 0, &e2, &n2));
        ASSERT_U64_EQ(pool_available(p), 0);
        free(e);
        e = NULL;
        ASSERT_EQ(pool_alloc(p, 4096, 0, &e, &n), -ENOMEM);
        ASSERT_TRUE(e == NULL);
        free(e2);
        drop_pool(p, m, 8 * MiB);
}

TEST(fragmented_fallback)
{
        void *m;
        Pool *p = anon_pool(8 * MiB, &m);
        PoolExtent *e = NULL;
        size_t n;
        uint64_t g;

        /* reserve every other granule: 1024 free single granules remain */
        for (g = 0; g < 2048; g += 2)
                ASSERT_OK(pool_reserve(p, POOL_IPA + g * 4096, 4096));
        ASSERT_U64_EQ(pool_available(p), 4 * MiB);
        ASSERT_OK(pool_alloc(p, 4 * MiB, POOL_ALLOC_BASE, &e, &n));
        ASSERT_EQ(n, 1024);
        for (size_t i = 0; i < n; i++) {
                ASSERT_U64_EQ(e[i].ipa, POOL_IPA + (2 * i + 1) * 4096);
                ASSERT_U64_EQ(e[i].size, 4096);
        }
        ASSERT_U64_EQ(pool_extents_total(e, n), 4 * MiB);
        ASSERT_U64_EQ(pool_available(p), 0);
        ASSERT_OK(pool_release_extents(p, e, n));
        free(e);

        /* mixed: a 3-granule hole, then singles; lowest first with merging */
        ASSERT_OK(pool_release(p, POOL_IPA, 4096)); /* granules 0,1 free -> run 0..1 */
        ASSERT_OK(pool_alloc(p, 5 * 4096, 0, &e, &n));
        ASSERT_EQ(n, 4);
        ASSERT_U64_EQ(e[0].ipa, POOL_IPA);
        ASSERT_U64_EQ(e[0].size, 8192);
        ASSERT_U64_EQ(e[1].ipa, POOL_IPA + 3 * 4096);
        ASSERT_U64_EQ(e[3].ipa, POOL_IPA + 7 * 4096);
        free(e);
        drop_pool(p, m, 8 * MiB);
}

TEST(reserve)
{
        void *m;
        Pool *p = anon_pool(16 * MiB, &m);
        PoolExtent *e;
        size_t n;

        ASSERT_OK(pool_reserve(p, POOL_IPA + 2 * MiB, 4 * MiB));
        ASSERT_U64_EQ(pool_used(p), 4 * MiB);
        ASSERT_EQ(pool_reserve(p, POOL_IPA + 6 * MiB - 4096, 8192), -EEXIST);
        ASSERT_EQ(pool_reserve(p, POOL_IPA, 2 * MiB + 4096), -EEXIST);
        ASSERT_U64_EQ(pool_used(p), 4 * MiB);
        ASSERT_EQ(pool_reserve(p, POOL_IPA + 16 * MiB, 4096), -ERANGE);
        ASSERT_EQ(pool_reserve(p, POOL_IPA - 4096, 8192), -ERANGE);
        ASSERT_EQ(pool_reserve(p, POOL_IPA + 15 * MiB, 2 * MiB), -ERANGE);
        ASSERT_EQ(pool_reserve(p, POOL_IPA + 100, 4096), -EINVAL);
        ASSERT_EQ(pool_reserve(p, POOL_IPA, 0), -EINVAL);
        /* allocation avoids the reserved range */
        ASSERT_OK(pool_alloc(p, 8 * MiB, POOL_ALLOC_BASE, &e, &n));
        ASSERT_EQ(n, 1);
        ASSERT_U64_EQ(e[0].ipa, POOL_IPA + 6 * MiB);
        free(e);
        drop_pool(p, m, 16 * MiB);
}

TEST(fragment_for_test_mode)
{
        void *m;
        Pool *p = anon_pool(16 * MiB, &m);
        PoolExtent *e;
        size_t n;

        pool_set_fragment_for_test(p, true);
        /* 600 granules -> 600 extents (> 512 SGL entries), every other granule */
        ASSERT_OK(pool_alloc(p, 600 * 4096, POOL_ALLOC_BASE, &e, &n));
        ASSERT_EQ(n, 600);
        for (size_t i = 0; i < n; i++) {
                ASSERT_U64_EQ(e[i].ipa, POOL_IPA + 2 * i * 4096);
                ASSERT_U64_EQ(e[i].size, 4096);
        }
        ASSERT_U64_EQ(pool_used(p), 600 * 4096);
        ASSERT_OK(pool_release_extents(p, e, n));
        free(e);
        /* the pool too small to skip: the rest is taken as is */
        ASSERT_OK(pool_alloc(p, 16 * MiB, 0, &e, &n));
        ASSERT_U64_EQ(pool_extents_total(e, n), 16 * MiB);
        ASSERT_U64_EQ(pool_available(p), 0);
        for (size_t i = 1; i < n; i++)
                ASSERT_TRUE(e[i - 1].ipa + e[i - 1].size <= e[i].ipa);
        ASSERT_OK(pool_release_extents(p, e, n));
        free(e);
        pool_set_fragment_for_test(p, false);
        ASSERT_OK(pool_alloc(p, 16 * MiB, 0, &e, &n));
        ASSERT_EQ(n, 1);
        free(e);
        drop_pool(p, m, 16 * MiB);
}

TEST(extents_translate_and_copy)
{
        void *m;
        Pool *p = anon_pool(8 * MiB, &m);
        /* guest RAM = 3 host extents, out of host order */
        PoolExtent e[3] = {
                { POOL_IPA + 4 * MiB, 8192 },
                { POOL_IPA + 4096, 4096 },
                { POOL_IPA + 1 * MiB, 16384 },
        };
        uint8_t buf[20000], back[20000];
        uint64_t ipa, contig;

        ASSERT_OK(pool_extents_lookup(e, 3, 0, &ipa, &contig));
        ASSERT_U64_EQ(ipa, POOL_IPA + 4 * MiB);
        ASSERT_U64_EQ(contig, 8192);
        ASSERT_OK(pool_extents_lookup(e, 3, 8192 + 100, &ipa, &contig));
        ASSERT_U64_EQ(ipa, POOL_IPA + 4096 + 100);
        ASSERT_U64_EQ(contig, 4096 - 100);
        ASSERT_OK(pool_extents_lookup(e, 3, 12288, &ipa, &contig));
        ASSERT_U64_EQ(ipa, POOL_IPA + 1 * MiB);
        ASSERT_EQ(pool_extents_lookup(e, 3, 28672, &ipa, &contig), -ERANGE);

        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (uint8_t)(i * 7 + 3);
        ASSERT_OK(pool_extents_write(p, e, 3, 1000, buf, sizeof(buf)));
        /* bytes land in the right host places */
        ASSERT_EQ(((uint8_t *)m)[4 * MiB + 1000], buf[0]);
        ASSERT_EQ(((uint8_t *)m)[4096], buf[8192 - 1000]);
        ASSERT_EQ(((uint8_t *)m)[1 * MiB], buf[12288 - 1000]);
        ASSERT_OK(pool_extents_read(p, e, 3, 1000, back, sizeof(back)));
        ASSERT_MEMEQ(back, buf, sizeof(buf));
        ASSERT_OK(pool_extents_write(p, e, 3, 8000, NULL, 500));
        ASSERT_EQ(((uint8_t *)m)[4 * MiB + 8191], 0);
        ASSERT_EQ(((uint8_t *)m)[4096 + 307], 0);
        ASSERT_EQ(((uint8_t *)m)[4096 + 308], buf[8192 + 308 - 1000]);
        ASSERT_EQ(pool_extents_write(p, e, 3, 28000, buf, 1000), -ERANGE);
        {
                PoolExtent bad = { POOL_IPA + 9 * MiB, 4096 };

                ASSERT_EQ(pool_extents_write(p, &bad, 1, 0, buf, 10), -EFAULT);
        }
        drop_pool(p, m, 8 * MiB);
}

/* ---- dirty tracking: which granules a zeroing write must touch ---- */

static bool all_zero(const uint8_t *b, uint64_t n)
{
        for (uint64_t i = 0; i < n; i++)
                if (b[i])
                        return false;
        return true;
}

/* A file the pool creates is clean; the daemon's writes make granules dirty, a zeroing
 * write cleans what it covers wholly, a release makes them dirty, a zeroed release clean. */
TEST(dirty_tracking_alloc_write_free)
{
        char path[] = "/tmp/test-pool-XXXXXX";
        int fd = mkstemp(path);
        Pool *p = NULL;
        PoolExtent *e = NULL;
        size_t n = 0;
        uint8_t data[100], *host;

        ASSERT_TRUE(fd >= 0);
        close(fd);
        unlink(path);
        ASSERT_OK(pool_new_file(&p, path, POOL_IPA, 8 * MiB));
        ASSERT_TRUE(!pool_is_dirty(p, POOL_IPA, 8 * MiB));
        ASSERT_TRUE(pool_is_dirty(p, POOL_IPA + 8 * MiB, 4096)); /* foreign: unknown */

        ASSERT_OK(pool_alloc(p, 2 * MiB, POOL_ALLOC_BASE, &e, &n));
        ASSERT_EQ(n, 1);
        ASSERT_U64_EQ(e[0].ipa, POOL_IPA);
        ASSERT_TRUE(!pool_is_dirty(p, POOL_IPA, 2 * MiB)); /* alloc keeps the bits */
        host = pool_ipa_to_ptr(p, POOL_IPA, 2 * MiB);

        /* a write (image load) dirties the granules it touches: 5000..5100 is granule 1 */
        memset(data, 0x5A, sizeof(data));
        ASSERT_OK(pool_extents_write(p, e, n, 5000, data, sizeof(data)));
        ASSERT_TRUE(!pool_is_dirty(p, POOL_IPA, 4096));
        ASSERT_TRUE(pool_is_dirty(p, POOL_IPA + 4096, 4096));
        ASSERT_TRUE(!pool_is_dirty(p, POOL_IPA + 8192, 2 * MiB - 8192));
        /* a write across a granule boundary dirties both */
        ASSERT_OK(pool_extents_write(p, e, n, 3 * 4096 - 10, data, 20));
        ASSERT_TRUE(pool_is_dirty(p, POOL_IPA + 2 * 4096, 4096));
        ASSERT_TRUE(pool_is_dirty(p, POOL_IPA + 3 * 4096, 4096));

        /* zeroing part of a dirty granule zeroes that part and leaves it dirty */
        ASSERT_OK(pool_extents_write(p, e, n, 5000, NULL, 50));
        ASSERT_TRUE(all_zero(host + 5000, 50));
        ASSERT_EQ(host[5050], 0x5A);
        ASSERT_TRUE(pool_is_dirty(p, POOL_IPA + 4096, 4096));
        /* zeroing it wholly cleans it */
        ASSERT_OK(pool_extents_write(p, e, n, 4096, NULL, 4096));
        ASSERT_TRUE(all_zero(host + 4096, 4096));
        ASSERT_TRUE(!pool_is_dirty(p, POOL_IPA + 4096, 4096));

        /* what zeroing skips: a clean granule is not written (a planted byte shows it; a
         * real clean granule is zero) */
        host[100 * 4096 + 7] = 0x77;
        ASSERT_OK(pool_extents_write(p, e, n, 0, NULL, 2 * MiB));
        ASSERT_EQ(host[100 * 4096 + 7], 0x77);
        ASSERT_TRUE(all_zero(host + 2 * 4096, 2 * 4096)); /* the dirty ones were zeroed */
        ASSERT_TRUE(!pool_is_dirty(p, POOL_IPA, 2 * MiB));
        host[100 * 4096 + 7] = 0;

        /* the guest writes (through the mapping); a release without a sanitize guarantee
         * makes the range dirty, and the next holder's zeroing write clears it */
        memset(host + 64 * 4096, 0xC3, 3 * 4096);
        ASSERT_OK(pool_release_extents(p, e, n));
        ASSERT_TRUE(pool_is_dirty(p, POOL_IPA, 4096));
        ASSERT_TRUE(pool_is_dirty(p, POOL_IPA + 2 * MiB - 4096, 4096));
        ASSERT_TRUE(!pool_is_dirty(p, POOL_IPA + 2 * MiB, 6 * MiB));
        free(e);
        ASSERT_OK(pool_alloc(p, 2 * MiB, POOL_ALLOC_BASE, &e, &n));
        ASSERT_U64_EQ(e[0].ipa, POOL_IPA);
        ASSERT_TRUE(pool_is_dirty(p, POOL_IPA, 2 * MiB));
        ASSERT_OK(pool_extents_write(p, e, n, 0, NULL, 2 * MiB));
        ASSERT_TRUE(all_zero(host, 2 * MiB));
        ASSERT_TRUE(!pool_is_dirty(p, POOL_IPA, 2 * MiB));

        /* a range the RM sanitized (MEM_RECLAIM with SANITIZE) comes back clean */
        memset(host + 8192, 0xC3, 4096);
        memset(host + 8192, 0, 4096); /* the RM's sanitize */
        ASSERT_OK(pool_release_zeroed(p, e[0].ipa, e[0].size));
        ASSERT_TRUE(!pool_is_dirty(p, POOL_IPA, 8 * MiB));
        free(e);

        /* a failing release changes no bit */
        ASSERT_OK(pool_reserve(p, POOL_IPA, 8192));
        ASSERT_EQ(pool_release(p, POOL_IPA, 3 * 4096), -EINVAL);
        ASSERT_TRUE(!pool_is_dirty(p, POOL_IPA, 8 * MiB));
        ASSERT_EQ(pool_release_zeroed(p, POOL_IPA + 4 * MiB, 4096), -EINVAL);
        ASSERT_OK(pool_release(p, POOL_IPA, 8192));
        ASSERT_TRUE(pool_is_dirty(p, POOL_IPA, 8192));
        ASSERT_TRUE(!pool_is_dirty(p, POOL_IPA + 8192, 8 * MiB - 8192));

        /* pool_mark_dirty: any alignment, rounded out to granules; range checked */
        ASSERT_OK(pool_mark_dirty(p, POOL_IPA + 3 * MiB + 4095, 2));
        ASSERT_TRUE(pool_is_dirty(p, POOL_IPA + 3 * MiB, 4096));
        ASSERT_TRUE(pool_is_dirty(p, POOL_IPA + 3 * MiB + 4096, 4096));
        ASSERT_TRUE(!pool_is_dirty(p, POOL_IPA + 3 * MiB + 8192, 4096));
        ASSERT_EQ(pool_mark_dirty(p, POOL_IPA + 8 * MiB - 1, 2), -ERANGE);
        ASSERT_EQ(pool_mark_dirty(p, POOL_IPA - 1, 1), -ERANGE);
        ASSERT_EQ(pool_mark_dirty(p, POOL_IPA, 0), -EINVAL);
        pool_free(p);
        unlink(path);
}

/* An existing pool file may hold old data: only its holes are trusted to be zero. */
TEST(dirty_tracking_existing_file)
{
        char path[] = "/tmp/test-pool-XXXXXX";
        int fd = mkstemp(path);
        Pool *p = NULL;
        PoolExtent *e = NULL;
        size_t n = 0;
        uint8_t junk[3 * 4096];
        uint8_t *host;

        ASSERT_TRUE(fd >= 0);
        memset(junk, 0xEE, sizeof(junk));
        ASSERT_OK(ftruncate(fd, (off_t)(4 * MiB)));
        ASSERT_EQ(pwrite(fd, junk, sizeof(junk), (off_t)(1 * MiB + 100)), (ssize_t)sizeof(junk));
        close(fd);

        /* larger than the file: the extension is a hole too */
        ASSERT_OK(pool_new_file(&p, path, POOL_IPA, 8 * MiB));
        ASSERT_TRUE(pool_is_dirty(p, POOL_IPA + 1 * MiB, 4096));
        ASSERT_TRUE(pool_is_dirty(p, POOL_IPA + 1 * MiB + 3 * 4096, 4096));
        /* holes are clean (a file system without SEEK_HOLE reports all data: all dirty) */
        if (!pool_is_dirty(p, POOL_IPA, 1 * MiB)) {
                ASSERT_TRUE(!pool_is_dirty(p, POOL_IPA + 2 * MiB, 6 * MiB));
        }
        ASSERT_OK(pool_alloc(p, 8 * MiB, POOL_ALLOC_BASE, &e, &n));
        ASSERT_OK(pool_extents_write(p, e, n, 0, NULL, 8 * MiB));
        host = pool_ipa_to_ptr(p, POOL_IPA, 8 * MiB);
        ASSERT_TRUE(all_zero(host, 8 * MiB));
        ASSERT_TRUE(!pool_is_dirty(p, POOL_IPA, 8 * MiB));
        free(e);
        pool_free(p);

        /* a file that is all data: everything dirty */
        fd = open(path, O_RDWR);
        ASSERT_TRUE(fd >= 0);
        for (uint64_t off = 0; off < 8 * MiB; off += sizeof(junk)) {
                size_t k = (size_t)MIN(sizeof(junk), 8 * MiB - off);

                ASSERT_EQ(pwrite(fd, junk, k, (off_t)off), (ssize_t)k);
        }
        close(fd);
        ASSERT_OK(pool_new_file(&p, path, POOL_IPA, 8 * MiB));
        for (uint64_t off = 0; off < 8 * MiB; off += 4096)
                ASSERT_TRUE(pool_is_dirty(p, POOL_IPA + off, 4096));
        pool_free(p);
        unlink(path);
}

/* Nothing is known about a mapping handed in: all dirty. */
TEST(dirty_tracking_mapping_all_dirty)
{
        void *m;
        Pool *p = anon_pool(4 * MiB, &m);
        PoolExtent *e = NULL;
        size_t n = 0;

        for (uint64_t off = 0; off < 4 * MiB; off += 4096)
                ASSERT_TRUE(pool_is_dirty(p, POOL_IPA + off, 4096));
        memset(m, 0x11, 4 * MiB);
        ASSERT_OK(pool_alloc(p, 4 * MiB, 0, &e, &n));
        ASSERT_OK(pool_extents_write(p, e, n, 0, NULL, 4 * MiB));
        ASSERT_TRUE(all_zero(m, 4 * MiB));
        free(e);
        drop_pool(p, m, 4 * MiB);
}

/* Model check: random allocs (fragmented or not), writes, zeroing writes, foreign writes
 * to held ranges, releases with and without a sanitize; after every step, every free
 * granule with a clear bit reads as zero, and a zeroing write leaves its range zero. */
TEST(dirty_tracking_random_model)
{
        void *m;
        const uint64_t size = 4 * MiB, ng = size / 4096;
        Pool *p = anon_pool(size, &m);
        uint8_t *base = m;
        struct Held {
                PoolExtent *e;
                size_t n;
                uint64_t total;
        } held[16] = { 0 };
        unsigned seed = 12345;

        /* start from zero memory that the pool knows is zero */
        {
                PoolExtent *e;
                size_t n;

                ASSERT_OK(pool_alloc(p, size, 0, &e, &n));
                memset(base, 0, size);
                ASSERT_OK(pool_release_zeroed(p, e[0].ipa, e[0].size));
                free(e);
        }
        for (int step = 0; step < 4000; step++) {
                unsigned op = (unsigned)rand_r(&seed) % 6;
                struct Held *h = &held[(unsigned)rand_r(&seed) % 16];

                if (!h->e) {
                        uint64_t sz = (1 + (uint64_t)rand_r(&seed) % 64) * 4096;

                        pool_set_fragment_for_test(p, rand_r(&seed) % 2);
                        if (pool_alloc(p, sz, 0, &h->e, &h->n) < 0)
                                h->e = NULL;
                        else
                                h->total = sz;
                        pool_set_fragment_for_test(p, false);
                        continue;
                }
                uint64_t off = (uint64_t)rand_r(&seed) % h->total;
                uint64_t len = 1 + (uint64_t)rand_r(&seed) % (h->total - off);
                switch (op) {
                case 0: { /* the daemon writes data */
                        uint8_t *buf = malloc(len);
                        ASSERT_TRUE(buf != NULL);
                        memset(buf, 0xA0 | (step & 15), len);
                        ASSERT_OK(pool_extents_write(p, h->e, h->n, off, buf, len));
                        free(buf);
                        break;
                }
                case 1: { /* the daemon zeroes (before a lend) */
                        uint8_t *back = malloc(len);
                        ASSERT_TRUE(back != NULL);
                        ASSERT_OK(pool_extents_write(p, h->e, h->n, off, NULL, len));
                        ASSERT_OK(pool_extents_read(p, h->e, h->n, off, back, len));
                        ASSERT_TRUE(all_zero(back, len));
                        free(back);
                        break;
                }
                case 2: { /* lent: the guest writes through the mapping, then gives it back */
                        for (size_t i = 0; i < h->n; i++)
                                memset(base + (h->e[i].ipa - POOL_IPA), 0xB7,
                                       (size_t)MIN(h->e[i].size, 4096));
                        ASSERT_OK(pool_release_extents(p, h->e, h->n));
                        free(h->e);
                        h->e = NULL;
                        break;
                }
                case 3: { /* reclaimed with SANITIZE: the RM zeroed it */
                        for (size_t i = 0; i < h->n; i++)
                                memset(base + (h->e[i].ipa - POOL_IPA), 0, (size_t)h->e[i].size);
                        for (size_t i = 0; i < h->n; i++)
                                ASSERT_OK(pool_release_zeroed(p, h->e[i].ipa, h->e[i].size));
                        free(h->e);
                        h->e = NULL;
                        break;
                }
                default: { /* written through a pointer (image_copy_fd) */
                        uint64_t ipa, contig;
                        ASSERT_OK(pool_extents_lookup(h->e, h->n, off, &ipa, &contig));
                        len = MIN(len, contig);
                        ASSERT_OK(pool_mark_dirty(p, ipa, len));
                        memset(pool_ipa_to_ptr(p, ipa, len), 0x3C, len);
                        break;
                }
                }
                /* the invariant */
                if (step % 50 == 0 || op >= 2)
                        for (uint64_t g = 0; g < ng; g++)
                                if (!pool_is_allocated(p, POOL_IPA + g * 4096, 4096) &&
                                    !pool_is_dirty(p, POOL_IPA + g * 4096, 4096))
                                        ASSERT_TRUE(all_zero(base + g * 4096, 4096));
        }
        for (size_t i = 0; i < 16; i++)
                free(held[i].e);
        drop_pool(p, m, size);
}

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 16 GiB at 4 KiB fragmentation: 4 Mi extents, must be linear (seconds, not hours). */
TEST(lend_16g_fragmented_is_linear)
{
        uint64_t size = 32 * GiB;
        void *m = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        Pool *p = NULL;
        PoolExtent *e;
        size_t n;
        double t0, t1, t2;

        ASSERT_TRUE(m != MAP_FAILED);
        ASSERT_OK(pool_new_mapping(&p, m, POOL_IPA, size));
        pool_set_fragment_for_test(p, true);
        t0 = now();
        ASSERT_OK(pool_alloc(p, 16 * GiB, POOL_ALLOC_BASE, &e, &n));
        t1 = now();
        ASSERT_EQ(n, 4u << 20);
        ASSERT_U64_EQ(pool_used(p), 16 * GiB);
        ASSERT_OK(pool_release_extents(p, e, n));
        t2 = now();
        ASSERT_U64_EQ(pool_used(p), 0);
        fprintf(stderr, "16 GiB in %zu extents: alloc %.3f s, free %.3f s\n", n, t1 - t0, t2 - t1);
        /* generous bound for a loaded 2-core machine under ASan; quadratic would be hours */
        ASSERT_TRUE(t1 - t0 < 60.0 && t2 - t1 < 60.0);
        free(e);
        pool_set_fragment_for_test(p, false);
        t0 = now();
        ASSERT_OK(pool_alloc(p, 16 * GiB, POOL_ALLOC_BASE, &e, &n));
        ASSERT_EQ(n, 1);
        fprintf(stderr, "16 GiB contiguous: alloc %.6f s\n", now() - t0);
        free(e);
        pool_free(p);
        munmap(m, size);
}

TEST_MAIN()
