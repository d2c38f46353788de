#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Builder for test arm64 Image files (tests only; the daemon only parses). Field layout from
 * Linux Documentation/arch/arm64/booting.rst: code0 u32 @0, code1 u32 @4, text_offset u64 @8,
 * image_size u64 @16, flags u64 @24, res2-4 u64 @32..55, magic u32 0x644d5241 @0x38, res5
 * u32 @0x3C; all little-endian.
 *
 * The payload after the 64-byte header is recognizable: every 16-byte record at file offset
 * o holds "GUNYAHTI" followed by o as u64 LE (test_image_payload_byte() gives any byte).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TEST_IMAGE_HEADER_SIZE 64u
#define TEST_IMAGE_MAGIC UINT32_C(0x644d5241)
#define TEST_IMAGE_CODE0 UINT32_C(0x14000010) /* "b #0x40": branch over the header */

typedef struct TestImageOpts {
        uint64_t text_offset; /* default 0 (modern kernels) */
        uint64_t image_size;  /* 0 = file size (or legacy when legacy is set) */
        uint64_t flags;       /* default 0: little-endian, page size unspecified */
        bool legacy;          /* write image_size = 0 and text_offset = 0 */
        bool bad_magic;
} TestImageOpts;

void test_image_header_build(uint8_t hdr[TEST_IMAGE_HEADER_SIZE], uint64_t file_size,
                             const TestImageOpts *o);
uint8_t test_image_payload_byte(uint64_t file_offset);
/* Write a whole image of file_size bytes (>= 64) to fd. 0 or -errno. */
int test_image_write_fd(int fd, uint64_t file_size, const TestImageOpts *o);
