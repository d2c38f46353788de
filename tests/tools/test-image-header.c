/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "test-image-header.h"

static void put32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

void test_image_header_build(uint8_t hdr[TEST_IMAGE_HEADER_SIZE], uint64_t file_size,
                             const TestImageOpts *o)
{
        memset(hdr, 0, TEST_IMAGE_HEADER_SIZE);
        put32(hdr + 0, TEST_IMAGE_CODE0);
        put64(hdr + 8, o->legacy ? 0 : o->text_offset);
        put64(hdr + 16, o->legacy ? 0 : (o->image_size ? o->image_size : file_size));
        put64(hdr + 24, o->flags);
        put32(hdr + 0x38, o->bad_magic ? UINT32_C(0x12345678) : TEST_IMAGE_MAGIC);
}

uint8_t test_image_payload_byte(uint64_t off)
{
        static const char tag[8] = { 'G', 'U', 'N', 'Y', 'A', 'H', 'T', 'I' };
        uint64_t rec = off & ~UINT64_C(15);
        unsigned i = (unsigned)(off & 15);

        if (i < 8)
                return (uint8_t)tag[i];
        return (uint8_t)(rec >> (8 * (i - 8)));
}

int test_image_write_fd(int fd, uint64_t file_size, const TestImageOpts *o)
{
        uint8_t buf[65536];
        uint64_t off = 0;

        if (file_size < TEST_IMAGE_HEADER_SIZE)
                return -EINVAL;
        while (off < file_size) {
                size_t n = sizeof(buf);
                const uint8_t *p = buf;

                if (file_size - off < n)
                        n = (size_t)(file_size - off);
                for (size_t i = 0; i < n; i++)
                        buf[i] = test_image_payload_byte(off + i);
                if (off == 0)
                        test_image_header_build(buf, file_size, o);
                for (size_t left = n; left > 0;) {
                        ssize_t w = write(fd, p, left);

                        if (w < 0) {
                                if (errno == EINTR)
                                        continue;
                                return -errno;
                        }
                        p += w;
                        left -= (size_t)w;
                }
                off += n;
        }
        return 0;
}
