/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "image.h"
#include "test-image-header.h"
#include "test.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define BASE UINT64_C(0x80000000)

/* Golden header written by hand from booting.rst (not by our builder): text_offset 0x80000,
 * image_size 0x1234000, flags 0xa (LE, 4K pages, placement anywhere), magic "ARM\x64". */
static const uint8_t golden[64] = {
        0x4d, 0x5a, 0x00, 0x91, 0xff, 0x3f, 0x59, 0x14, /* code0 / code1 (as in real kernels) */
        0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, /* text_offset */
        0x00, 0x40, 0x23, 0x01, 0x00, 0x00, 0x00, 0x00, /* image_size */
        0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* flags */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* res2-4 */
        'A', 'R', 'M', 0x64,                            /* magic */
        0x40, 0x00, 0x00, 0x00,                         /* res5 (PE offset) */
};

TEST(golden_header)
{
        ImageHeader h;
        const char *why = NULL;

        ASSERT_OK(image_header_parse(golden, sizeof(golden), 0x1000000, &h, &why));
        ASSERT_U64_EQ(h.text_offset, 0x80000);
        ASSERT_U64_EQ(h.image_size, 0x1234000);
        ASSERT_U64_EQ(h.flags, 0xa);
        ASSERT_U64_EQ(h.file_size, 0x1000000);
        ASSERT_TRUE(!h.legacy);
        ASSERT_TRUE(why == NULL);
}

static const char *reject(const uint8_t *hdr, size_t len, uint64_t file_size)
{
        ImageHeader h;
        const char *why = NULL;

        ASSERT_EQ(image_header_parse(hdr, len, file_size, &h, &why), -EINVAL);
        ASSERT_TRUE(why != NULL);
        return why;
}

TEST(rejections_have_distinct_reasons)
{
        uint8_t h[64];
        const char *r[6];

        r[0] = reject(golden, 63, 0x1000000);
        ASSERT_TRUE(r[0] == image_reason_truncated);
        ASSERT_TRUE(reject(golden, 64, 40) == image_reason_truncated);

        memcpy(h, golden, 64);
        h[0x3b] = 0x65;
        r[1] = reject(h, 64, 0x1000000);
        ASSERT_TRUE(r[1] == image_reason_bad_magic);

        memcpy(h, golden, 64);
        h[24] |= 1;
        r[2] = reject(h, 64, 0x1000000);
        ASSERT_TRUE(r[2] == image_reason_big_endian);

        memcpy(h, golden, 64);
        h[8] = 0x10; /* text_offset 0x80010 */
        r[3] = reject(h, 64, 0x1000000);
        ASSERT_TRUE(r[3] == image_reason_text_offset);
        memcpy(h, golden, 64);
        h[10] = 0x20; /* text_offset 0x200000 */
        ASSERT_TRUE(reject(h, 64, 0x1000000) == image_reason_text_offset);

        /* file larger than the header's image_size */
        r[4] = reject(golden, 64, 0x1234001);
        ASSERT_TRUE(r[4] == image_reason_size_beyond);

        memcpy(h, golden, 64);
        memset(h + 16, 0, 8);
        h[16] = 32; /* image_size 32 < header */
        r[5] = reject(h, 64, 64);
        ASSERT_TRUE(r[5] == image_reason_empty);

        for (size_t i = 0; i < 6; i++)
                for (size_t j = i + 1; j < 6; j++)
                        ASSERT_TRUE(strcmp(r[i], r[j]) != 0);
}

TEST(legacy_header)
{
        uint8_t h[64];
        ImageHeader ih;

        memcpy(h, golden, 64);
        memset(h + 8, 0xee, 8);   /* text_offset: undefined endianness pre-3.17, ignored */
        memset(h + 16, 0, 8);     /* image_size 0 */
        memset(h + 24, 0xff, 8);  /* flags did not exist: ignored */
        ASSERT_OK(image_header_parse(h, 64, 5 * MiB + 123, &ih, NULL));
        ASSERT_TRUE(ih.legacy);
        ASSERT_U64_EQ(ih.text_offset, IMAGE_TEXT_OFFSET_LEGACY);
        ASSERT_U64_EQ(ih.image_size, 5 * MiB + 123);
        ASSERT_U64_EQ(ih.flags, 0);
}

static ImageHeader hdr(uint64_t text_offset, uint64_t image_size)
{
        return (ImageHeader){ .text_offset = text_offset, .image_size = image_size,
                              .file_size = image_size / 2 };
}

TEST(layout_placement)
{
        ImageHeader h = hdr(0x80000, 10 * MiB + 0x123);
        ImageLayout l;
        ImageBootContext bc;

        ASSERT_OK(image_layout_compute(&h, BASE, 64 * MiB, 3 * MiB + 5, 20000, &l, NULL));
        ASSERT_U64_EQ(l.base, BASE);
        ASSERT_U64_EQ(l.kernel_offset, 0x80000);
        ASSERT_U64_EQ(l.kernel_size, 10 * MiB + 0x123);
        ASSERT_U64_EQ(l.kernel_file_size, h.file_size);
        /* initrd after the whole kernel footprint (incl. BSS), page aligned */
        ASSERT_U64_EQ(l.initrd_offset, 0x80000 + 10 * MiB + 0x1000);
        ASSERT_U64_EQ(l.initrd_size, 3 * MiB + 5);
        /* DTB after the initrd, page aligned, reserve rounded up to 4 KiB */
        ASSERT_U64_EQ(l.dtb_offset, l.initrd_offset + 3 * MiB + 0x1000);
        ASSERT_U64_EQ(l.dtb_size, 20480);
        ASSERT_U64_EQ(l.image_end, l.dtb_offset + 20480);
        ASSERT_U64_EQ(l.dtb_offset % 8, 0);
        ASSERT_U64_EQ(image_layout_entry_ipa(&l), BASE + 0x80000);
        ASSERT_U64_EQ(image_layout_dtb_ipa(&l), BASE + l.dtb_offset);
        ASSERT_U64_EQ(image_layout_initrd_ipa(&l), BASE + l.initrd_offset);

        image_boot_context(&l, &bc);
        ASSERT_U64_EQ(bc.pc, BASE + 0x80000);
        ASSERT_U64_EQ(bc.x[0], BASE + l.dtb_offset);
        ASSERT_U64_EQ(bc.x[1], 0);
        ASSERT_U64_EQ(bc.x[2], 0);
        ASSERT_U64_EQ(bc.x[3], 0);

        /* no initrd: DTB right after the kernel */
        ASSERT_OK(image_layout_compute(&h, BASE, 64 * MiB, 0, IMAGE_DTB_RESERVE_DEFAULT, &l,
                                       NULL));
        ASSERT_U64_EQ(l.initrd_offset, 0);
        ASSERT_U64_EQ(l.initrd_size, 0);
        ASSERT_U64_EQ(l.dtb_offset, 0x80000 + 10 * MiB + 0x1000);
        ASSERT_U64_EQ(l.dtb_size, IMAGE_DTB_RESERVE_DEFAULT);
}

static const char *layout_fail(const ImageHeader *h, uint64_t mem, uint64_t initrd,
                               uint64_t dtb, int err)
{
        ImageLayout l;
        const char *why = NULL;

        ASSERT_EQ(image_layout_compute(h, BASE, mem, initrd, dtb, &l, &why), err);
        ASSERT_TRUE(why != NULL);
        return why;
}

TEST(layout_rejections)
{
        ImageHeader h = hdr(0x80000, 10 * MiB);
        ImageHeader huge = hdr(0, UINT64_MAX - 10);
        ImageLayout l;

        ASSERT_TRUE(layout_fail(&h, 10 * MiB, 0, 4096, -E2BIG) == image_reason_kernel_fit);
        ASSERT_TRUE(layout_fail(&huge, 64 * MiB, 0, 4096, -E2BIG) == image_reason_kernel_fit);
        ASSERT_TRUE(layout_fail(&h, 16 * MiB, 6 * MiB, 4096, -E2BIG) == image_reason_initrd_fit);
        ASSERT_TRUE(layout_fail(&h, 16 * MiB, UINT64_MAX, 4096, -E2BIG) ==
                    image_reason_initrd_fit);
        /* exactly fits: kernel end 10.5 MiB, initrd to 16 MiB - 64 KiB, DTB 64 KiB */
        ASSERT_OK(image_layout_compute(&h, BASE, 16 * MiB, 16 * MiB - 64 * KiB - (10 * MiB + 0x80000),
                                       64 * KiB, &l, NULL));
        ASSERT_U64_EQ(l.image_end, 16 * MiB);
        ASSERT_TRUE(layout_fail(&h, 16 * MiB, 16 * MiB - 64 * KiB - (10 * MiB + 0x80000) + 1,
                                64 * KiB, -E2BIG) == image_reason_dtb_fit);
        /* the DTB must end within the first 512 MiB of RAM even when RAM is larger */
        ASSERT_TRUE(layout_fail(&h, 1024 * MiB, 500 * MiB, 2 * MiB, -E2BIG) ==
                    image_reason_dtb_fit);
        ASSERT_TRUE(layout_fail(&h, 64 * MiB, 0, 0, -EINVAL) == image_reason_dtb_size);
        ASSERT_TRUE(layout_fail(&h, 64 * MiB, 0, 2 * MiB + 1, -EINVAL) == image_reason_dtb_size);
        ASSERT_OK(image_layout_compute(&h, BASE, 64 * MiB, 0, 2 * MiB, &l, NULL));
        {
                const char *why = NULL;

                ASSERT_EQ(image_layout_compute(&h, BASE + 4096, 64 * MiB, 0, 4096, &l, &why),
                          -EINVAL);
                ASSERT_TRUE(why != NULL);
        }
}

static int memfd_with(const void *data, size_t len)
{
        int fd = memfd_create("img", MFD_CLOEXEC);

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, data, len), (ssize_t)len);
        return fd;
}

TEST(read_fd_and_tool_builder)
{
        TestImageOpts o = { .text_offset = 0x80000, .image_size = 2 * MiB };
        ImageHeader h;
        const char *why = NULL;
        int fd = memfd_create("img", MFD_CLOEXEC);

        ASSERT_OK(test_image_write_fd(fd, 300 * KiB, &o));
        ASSERT_OK(image_header_read_fd(fd, &h, &why));
        ASSERT_U64_EQ(h.text_offset, 0x80000);
        ASSERT_U64_EQ(h.image_size, 2 * MiB);
        ASSERT_U64_EQ(h.file_size, 300 * KiB);
        close(fd);

        fd = memfd_with(golden, 30);
        ASSERT_EQ(image_header_read_fd(fd, &h, &why), -EINVAL);
        ASSERT_TRUE(why == image_reason_truncated);
        close(fd);

        o.flags = 1;
        fd = memfd_create("img", MFD_CLOEXEC);
        ASSERT_OK(test_image_write_fd(fd, 8 * KiB, &o));
        ASSERT_EQ(image_header_read_fd(fd, &h, &why), -EINVAL);
        ASSERT_TRUE(why == image_reason_big_endian);
        close(fd);
}

/* The CLI tool (README demo, integration tests) writes what the parser accepts. */
TEST(tool_cli_output_parses)
{
        const char *bd = getenv("GUNYAH_BUILD_DIR");
        char cmd[1024], path[] = "/tmp/test-image-cli-XXXXXX";
        ImageHeader h;
        const char *why = NULL;
        int fd = mkstemp(path);

        ASSERT_TRUE(fd >= 0);
        close(fd);
        if (!bd || access(bd, F_OK) != 0) {
                fprintf(stderr, "GUNYAH_BUILD_DIR not set, skipping the CLI check\n");
                unlink(path);
                return;
        }
        snprintf(cmd, sizeof(cmd), "%s/bin/gunyah-test-image --text-offset 0x80000 --image-size 4M %s 1M",
                 bd, path);
        ASSERT_EQ(system(cmd), 0);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT_OK(image_header_read_fd(fd, &h, &why));
        ASSERT_U64_EQ(h.text_offset, 0x80000);
        ASSERT_U64_EQ(h.image_size, 4 * MiB);
        ASSERT_U64_EQ(h.file_size, 1 * MiB);
        close(fd);
        snprintf(cmd, sizeof(cmd), "%s/bin/gunyah-test-image --big-endian %s 64K", bd, path);
        ASSERT_EQ(system(cmd), 0);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT_EQ(image_header_read_fd(fd, &h, &why), -EINVAL);
        ASSERT_TRUE(why == image_reason_big_endian);
        close(fd);
        snprintf(cmd, sizeof(cmd), "%s/bin/gunyah-test-image %s 10 2>/dev/null", bd, path);
        ASSERT_TRUE(system(cmd) != 0);
        unlink(path);
}

TEST(load_into_fragmented_pool)
{
        const uint64_t pool_ipa = 0x40000000, pool_sz = 16 * MiB;
        void *m = mmap(NULL, pool_sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        TestImageOpts o = { .text_offset = 0x80000, .image_size = 1 * MiB };
        uint64_t kfile = 700 * KiB + 13, initrd_len = 50000;
        uint8_t *initrd = malloc(initrd_len), *back = malloc(4 * MiB), dtb[3000];
        Pool *p = NULL;
        PoolExtent *e;
        size_t n;
        ImageHeader h;
        ImageLayout l;
        const char *why = NULL;
        int kfd, ifd;

        ASSERT_TRUE(m != MAP_FAILED);
        memset(m, 0xff, pool_sz); /* stale data from a previous VM */
        ASSERT_OK(pool_new_mapping(&p, m, pool_ipa, pool_sz));
        pool_set_fragment_for_test(p, true);
        ASSERT_OK(pool_alloc(p, 4 * MiB, POOL_ALLOC_BASE, &e, &n));
        ASSERT_EQ(n, 1024); /* 4 KiB extents: every copy crosses extent boundaries */

        kfd = memfd_create("k", MFD_CLOEXEC);
        ASSERT_OK(test_image_write_fd(kfd, kfile, &o));
        for (size_t i = 0; i < initrd_len; i++)
                initrd[i] = (uint8_t)(i * 31 + 1);
        ifd = memfd_with(initrd, initrd_len);
        for (size_t i = 0; i < sizeof(dtb); i++)
                dtb[i] = (uint8_t)(0xd0 ^ i);

        ASSERT_OK(image_header_read_fd(kfd, &h, &why));
        ASSERT_OK(image_layout_compute(&h, BASE, 4 * MiB, initrd_len, sizeof(dtb), &l, &why));
        ASSERT_OK(image_load(p, e, n, &l, kfd, ifd, dtb, sizeof(dtb), &why));

        ASSERT_OK(pool_extents_read(p, e, n, 0, back, l.image_end));
        for (uint64_t i = 0; i < l.kernel_offset; i++)
                ASSERT_EQ(back[i], 0);
        /* kernel: header then the recognizable payload */
        ASSERT_EQ(back[l.kernel_offset + 0x38], 'A');
        ASSERT_EQ(back[l.kernel_offset + 0x3b], 0x64);
        for (uint64_t i = 64; i < kfile; i++)
                ASSERT_EQ(back[l.kernel_offset + i], test_image_payload_byte(i));
        /* BSS and the gap up to the initrd are zero */
        for (uint64_t i = l.kernel_offset + kfile; i < l.initrd_offset; i++)
                ASSERT_EQ(back[i], 0);
        ASSERT_MEMEQ(back + l.initrd_offset, initrd, initrd_len);
        for (uint64_t i = l.initrd_offset + initrd_len; i < l.dtb_offset; i++)
                ASSERT_EQ(back[i], 0);
        ASSERT_MEMEQ(back + l.dtb_offset, dtb, sizeof(dtb));
        for (uint64_t i = l.dtb_offset + sizeof(dtb); i < l.image_end; i++)
                ASSERT_EQ(back[i], 0);
        /* beyond image_end nothing was touched */
        {
                uint8_t after;

                ASSERT_OK(pool_extents_read(p, e, n, l.image_end, &after, 1));
                ASSERT_EQ(after, 0xff);
        }

        /* the kernel file shrank after the header was read: -EIO with a reason */
        ASSERT_EQ(ftruncate(kfd, 4096), 0);
        why = NULL;
        ASSERT_EQ(image_load(p, e, n, &l, kfd, ifd, dtb, sizeof(dtb), &why), -EIO);
        ASSERT_TRUE(why != NULL);
        /* misuse: DTB larger than its region, initrd fd without initrd in the layout */
        ASSERT_EQ(image_load(p, e, n, &l, kfd, ifd, back, l.dtb_size + 1, NULL), -EINVAL);
        ASSERT_EQ(image_load(p, e, n, &l, kfd, -1, dtb, sizeof(dtb), NULL), -EINVAL);
        /* RAM extents shorter than the image */
        ASSERT_EQ(image_load(p, e, 2, &l, kfd, ifd, dtb, sizeof(dtb), NULL), -EINVAL);

        close(kfd);
        close(ifd);
        free(e);
        free(initrd);
        free(back);
        pool_free(p);
        munmap(m, pool_sz);
}

TEST_MAIN()
