#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * The arm64 Linux Image: header check, guest memory layout (kernel, initrd, DTB) and loading
 * into the pool before anything is lent. Facts from Linux Documentation/arch/arm64/booting.rst:
 * the 64-byte header holds code0/code1, text_offset (u64 LE at 8), image_size (u64 LE at 16),
 * flags (u64 LE at 24; bit 0 = big-endian), res2-4, magic "ARM\x64" (0x644d5241 LE at 0x38)
 * and res5 at 0x3C. image_size 0 means a pre-3.17 kernel: its size is the file size and
 * text_offset is 0x80000. The kernel sits text_offset bytes above a 2 MiB aligned base; the
 * DTB is 8-byte aligned and at most 2 MiB.
 *
 * Layout (offsets from the guest RAM base, which is the vm-config memory base-address):
 *   kernel   at text_offset, kernel_size = image_size (includes BSS)
 *   initrd   at the next 4 KiB boundary after text_offset + image_size (if any)
 *   DTB      at the next 4 KiB boundary after the initrd (or kernel), dtb_reserve bytes,
 *            ending within the first 512 MiB of RAM
 *   image_end = end of the DTB region: the whole layout must fit in memory_size.
 * Boot: PC = base + text_offset, X0 = DTB IPA, X1..X3 = 0.
 *
 * Error contract: negative errno; header and layout failures are -EINVAL (header) or -E2BIG
 * (does not fit) with *ret_reason set to a distinct static string. I/O errors are -errno.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool.h"

#define IMAGE_HEADER_SIZE 64u
#define IMAGE_MAGIC UINT32_C(0x644d5241) /* "ARM\x64" little-endian, at offset 0x38 */
#define IMAGE_MAGIC_OFFSET 0x38u
#define IMAGE_TEXT_OFFSET_LEGACY UINT64_C(0x80000)
#define IMAGE_FLAG_BE UINT64_C(1)
#define IMAGE_DTB_SIZE_MAX (UINT64_C(2) << 20)
#define IMAGE_DTB_RESERVE_DEFAULT (UINT64_C(64) << 10)
#define IMAGE_DTB_WINDOW (UINT64_C(512) << 20) /* DTB must end within this much of RAM */
#define IMAGE_PAGE UINT64_C(4096)

/* Distinct reasons (compare by pointer or strcmp). */
extern const char image_reason_truncated[];      /* file shorter than the header */
extern const char image_reason_bad_magic[];
extern const char image_reason_big_endian[];
extern const char image_reason_text_offset[];    /* not 4 KiB aligned, or >= 2 MiB */
extern const char image_reason_size_beyond[];    /* file larger than header image_size */
extern const char image_reason_empty[];          /* kernel of size 0 */
extern const char image_reason_kernel_fit[];     /* kernel does not fit in memory */
extern const char image_reason_initrd_fit[];     /* initrd does not fit */
extern const char image_reason_dtb_fit[];        /* DTB does not fit / beyond 512 MiB */
extern const char image_reason_dtb_size[];       /* DTB reserve > 2 MiB or 0 */

typedef struct ImageHeader {
        uint64_t text_offset; /* effective (0x80000 for legacy) */
        uint64_t image_size;  /* effective kernel footprint incl. BSS (file size for legacy) */
        uint64_t flags;
        uint64_t file_size;   /* bytes to copy from the file */
        bool legacy;          /* header image_size was 0 */
} ImageHeader;

/* Parse and validate the first len bytes of a file of file_size bytes. */
int image_header_parse(const uint8_t *p, size_t len, uint64_t file_size, ImageHeader *ret,
                       const char **ret_reason);
/* fstat + pread of the header from fd (offset 0). */
int image_header_read_fd(int fd, ImageHeader *ret, const char **ret_reason);

typedef struct ImageLayout {
        uint64_t base;          /* guest IPA of RAM (2 MiB aligned) */
        uint64_t memory_size;
        uint64_t kernel_offset; /* = text_offset */
        uint64_t kernel_file_size; /* bytes copied from the kernel file */
        uint64_t kernel_size;   /* footprint incl. BSS */
        uint64_t initrd_offset; /* 0 and size 0 when none */
        uint64_t initrd_size;
        uint64_t dtb_offset;    /* 4 KiB aligned */
        uint64_t dtb_size;      /* reserved bytes (4 KiB multiple, <= 2 MiB) */
        uint64_t image_end;     /* dtb_offset + dtb_size: bytes of RAM the image occupies */
} ImageLayout;

/* Place kernel, initrd (initrd_size 0 = none) and a DTB region of dtb_reserve bytes (rounded
 * up to 4 KiB) in RAM of memory_size at base. */
int image_layout_compute(const ImageHeader *h, uint64_t base, uint64_t memory_size,
                         uint64_t initrd_size, uint64_t dtb_reserve, ImageLayout *ret,
                         const char **ret_reason);

static inline uint64_t image_layout_entry_ipa(const ImageLayout *l)
{
        return l->base + l->kernel_offset;
}
static inline uint64_t image_layout_dtb_ipa(const ImageLayout *l)
{
        return l->base + l->dtb_offset;
}
static inline uint64_t image_layout_initrd_ipa(const ImageLayout *l)
{
        return l->base + l->initrd_offset;
}

typedef struct ImageBootContext {
        uint64_t pc;
        uint64_t x[4]; /* X0 = DTB IPA, X1..X3 = 0 */
} ImageBootContext;
void image_boot_context(const ImageLayout *l, ImageBootContext *ret);

/*
 * Copy the image into the VM's RAM, given as pool extents in guest order (guest offset 0 =
 * base): kernel file bytes at kernel_offset, initrd bytes at initrd_offset (initrd_fd < 0 =
 * none), dtb bytes at dtb_offset; every other byte of [0, image_end) is zeroed (BSS, gaps,
 * the rest of the DTB region). Reads use pread from offset 0; a file shorter than the layout
 * says is -EIO with *ret_reason set. dtb_len must be <= dtb_size.
 */
int image_load(Pool *pool, const PoolExtent *e, size_t n, const ImageLayout *l, int kernel_fd,
               int initrd_fd, const void *dtb, size_t dtb_len, const char **ret_reason);
/* Copy len bytes of fd (from file offset 0) to guest offset; helper of image_load(). */
int image_copy_fd(Pool *pool, const PoolExtent *e, size_t n, uint64_t guest_offset, int fd,
                  uint64_t len);
