/* SPDX-License-Identifier: MIT */
/*
 * arm64 Image header check, guest layout and loading. Header facts: Linux
 * Documentation/arch/arm64/booting.rst (section "Call the kernel image"): every header field
 * is little-endian; magic 0x644d5241 at 0x38; image_size 0 = kernel older than 3.17 with
 * text_offset 0x80000; flags bit 0 = kernel endianness (1 = big-endian).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "image.h"
#include "macro.h"

const char image_reason_truncated[] = "file is shorter than the 64-byte arm64 Image header";
const char image_reason_bad_magic[] = "bad magic: no \"ARM\\x64\" at offset 0x38, not an arm64 Image";
const char image_reason_big_endian[] = "big-endian kernel (header flags bit 0); only little-endian is supported";
const char image_reason_text_offset[] = "text_offset is not 4 KiB aligned or not below 2 MiB";
const char image_reason_size_beyond[] = "file is larger than the image_size its header declares";
const char image_reason_empty[] = "header image_size is smaller than the header itself";
const char image_reason_kernel_fit[] = "kernel (text_offset + image_size) does not fit in the VM's memory";
const char image_reason_initrd_fit[] = "initrd does not fit in the VM's memory after the kernel";
const char image_reason_dtb_fit[] = "devicetree does not fit after the initrd within the VM's memory and its first 512 MiB";
const char image_reason_dtb_size[] = "devicetree size is 0 or above the 2 MiB arm64 limit";
static const char reason_base[] = "guest memory base is not 2 MiB aligned";
static const char reason_file_short[] = "file is shorter than its recorded size (changed while loading?)";

static int reason(const char **ret_reason, const char *why, int err)
{
        if (ret_reason)
                *ret_reason = why;
        return err;
}

int image_header_parse(const uint8_t *p, size_t len, uint64_t file_size, ImageHeader *ret,
                       const char **ret_reason)
{
        ImageHeader h = { .file_size = file_size };
        uint64_t text_offset, image_size, flags;

        if (len < IMAGE_HEADER_SIZE || file_size < IMAGE_HEADER_SIZE)
                return reason(ret_reason, image_reason_truncated, -EINVAL);
        if (le32_get(p + IMAGE_MAGIC_OFFSET) != IMAGE_MAGIC)
                return reason(ret_reason, image_reason_bad_magic, -EINVAL);
        text_offset = le64_get(p + 8);
        image_size = le64_get(p + 16);
        flags = le64_get(p + 24);

        if (image_size == 0) {
                /* pre-3.17: fields before the magic were not defined; use the fixed values */
                h.legacy = true;
                h.text_offset = IMAGE_TEXT_OFFSET_LEGACY;
                h.image_size = file_size;
                h.flags = 0;
        } else {
                if (flags & IMAGE_FLAG_BE)
                        return reason(ret_reason, image_reason_big_endian, -EINVAL);
                if (!IS_ALIGNED(text_offset, IMAGE_PAGE) || text_offset >= (UINT64_C(2) << 20))
                        return reason(ret_reason, image_reason_text_offset, -EINVAL);
                if (image_size < IMAGE_HEADER_SIZE)
                        return reason(ret_reason, image_reason_empty, -EINVAL);
                if (file_size > image_size)
                        return reason(ret_reason, image_reason_size_beyond, -EINVAL);
                h.text_offset = text_offset;
                h.image_size = image_size;
                h.flags = flags;
        }
        *ret = h;
        return 0;
}

int image_header_read_fd(int fd, ImageHeader *ret, const char **ret_reason)
{
        uint8_t hdr[IMAGE_HEADER_SIZE];
        struct stat st;
        size_t got = 0;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        while (got < sizeof(hdr)) {
                ssize_t n = pread(fd, hdr + got, sizeof(hdr) - got, (off_t)got);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        return image_header_parse(hdr, got, (uint64_t)st.st_size, ret, ret_reason);
}

int image_layout_compute(const ImageHeader *h, uint64_t base, uint64_t memory_size,
                         uint64_t initrd_size, uint64_t dtb_reserve, ImageLayout *ret,
                         const char **ret_reason)
{
        ImageLayout l = { .base = base, .memory_size = memory_size };
        uint64_t end;

        if (!IS_ALIGNED(base, UINT64_C(2) << 20))
                return reason(ret_reason, reason_base, -EINVAL);
        if (dtb_reserve == 0 || dtb_reserve > IMAGE_DTB_SIZE_MAX)
                return reason(ret_reason, image_reason_dtb_size, -EINVAL);

        l.kernel_offset = h->text_offset;
        l.kernel_file_size = h->file_size;
        l.kernel_size = h->image_size;
        if (h->image_size > memory_size || h->text_offset > memory_size - h->image_size)
                return reason(ret_reason, image_reason_kernel_fit, -E2BIG);
        end = h->text_offset + h->image_size;

        if (initrd_size > 0) {
                l.initrd_offset = ALIGN_TO(end, IMAGE_PAGE);
                l.initrd_size = initrd_size;
                if (l.initrd_offset > memory_size || initrd_size > memory_size - l.initrd_offset)
                        return reason(ret_reason, image_reason_initrd_fit, -E2BIG);
                end = l.initrd_offset + initrd_size;
        }

        l.dtb_offset = ALIGN_TO(end, IMAGE_PAGE);
        l.dtb_size = ALIGN_TO(dtb_reserve, IMAGE_PAGE);
        if (l.dtb_offset > memory_size || l.dtb_size > memory_size - l.dtb_offset ||
            l.dtb_offset + l.dtb_size > IMAGE_DTB_WINDOW)
                return reason(ret_reason, image_reason_dtb_fit, -E2BIG);
        l.image_end = l.dtb_offset + l.dtb_size;
        *ret = l;
        return 0;
}

void image_boot_context(const ImageLayout *l, ImageBootContext *ret)
{
        *ret = (ImageBootContext){
                .pc = image_layout_entry_ipa(l),
                .x = { image_layout_dtb_ipa(l), 0, 0, 0 },
        };
}

int image_copy_fd(Pool *pool, const PoolExtent *e, size_t n, uint64_t guest_offset, int fd,
                  uint64_t len)
{
        uint64_t done = 0;

        if (guest_offset > UINT64_MAX - len || guest_offset + len > pool_extents_total(e, n))
                return -ERANGE;
        while (done < len) {
                uint64_t ipa, contig;
                uint8_t *host;
                ssize_t r;
                int k = pool_extents_lookup(e, n, guest_offset + done, &ipa, &contig);

                if (k < 0)
                        return k;
                contig = MIN(contig, len - done);
                contig = MIN(contig, UINT64_C(1) << 30); /* bounded pread */
                host = pool_ipa_to_ptr(pool, ipa, contig);
                if (!host)
                        return -EFAULT;
                /* before the read: a short or failed one may still have written */
                (void)pool_mark_dirty(pool, ipa, contig);
                r = pread(fd, host, (size_t)contig, (off_t)done);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        return -EIO;
                done += (uint64_t)r;
        }
        return 0;
}

/* Zero [from, to) of guest RAM. */
static int zero_range(Pool *pool, const PoolExtent *e, size_t n, uint64_t from, uint64_t to)
{
        if (to <= from)
                return 0;
        return pool_extents_write(pool, e, n, from, NULL, to - from);
}

int image_load(Pool *pool, const PoolExtent *e, size_t n, const ImageLayout *l, int kernel_fd,
               int initrd_fd, const void *dtb, size_t dtb_len, const char **ret_reason)
{
        uint64_t kernel_end = l->kernel_offset + l->kernel_file_size;
        uint64_t next = l->initrd_size > 0 ? l->initrd_offset : l->dtb_offset;
        int r;

        if (dtb_len > l->dtb_size || (initrd_fd >= 0) != (l->initrd_size > 0) ||
            pool_extents_total(e, n) < l->image_end)
                return -EINVAL;

        r = zero_range(pool, e, n, 0, l->kernel_offset);
        if (r < 0)
                return r;
        r = image_copy_fd(pool, e, n, l->kernel_offset, kernel_fd, l->kernel_file_size);
        if (r == -EIO)
                return reason(ret_reason, reason_file_short, r);
        if (r < 0)
                return r;
        r = zero_range(pool, e, n, kernel_end, next);
        if (r < 0)
                return r;
        if (l->initrd_size > 0) {
                r = image_copy_fd(pool, e, n, l->initrd_offset, initrd_fd, l->initrd_size);
                if (r == -EIO)
                        return reason(ret_reason, reason_file_short, r);
                if (r < 0)
                        return r;
                r = zero_range(pool, e, n, l->initrd_offset + l->initrd_size, l->dtb_offset);
                if (r < 0)
                        return r;
        }
        r = pool_extents_write(pool, e, n, l->dtb_offset, dtb, dtb_len);
        if (r < 0)
                return r;
        return zero_range(pool, e, n, l->dtb_offset + dtb_len, l->image_end);
}
