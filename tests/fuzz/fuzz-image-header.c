/* SPDX-License-Identifier: MIT */
/*
 * arm64 Image header parser + layout. Input: 64+ header bytes, then 8 bytes file size,
 * 8 bytes memory size, 8 bytes initrd size, 4 bytes DTB reserve (missing bytes = 0).
 * Checks the invariants promised by image.h on every accepted input.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "image.h"

static uint64_t take64(const uint8_t *d, size_t size, size_t off)
{
        uint8_t b[8] = { 0 };

        if (off < size)
                memcpy(b, d + off, size - off < 8 ? size - off : 8);
        return le64_get(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ImageHeader h;
        ImageLayout l;
        const char *why = NULL;
        size_t hl = size < 64 ? size : 64;
        uint64_t file_size = take64(data, size, 64);
        uint64_t mem = take64(data, size, 72) & ~((UINT64_C(2) << 20) - 1);
        uint64_t initrd = take64(data, size, 80);
        uint64_t dtb = take64(data, size, 88) & 0xffffffff;

        if (image_header_parse(data, hl, file_size, &h, &why) < 0) {
                if (!why)
                        abort();
                return 0;
        }
        if (hl < 64 || h.image_size < h.file_size || h.text_offset % 4096)
                abort();
        if (image_layout_compute(&h, UINT64_C(0x80000000), mem, initrd, dtb, &l, &why) < 0) {
                if (!why)
                        abort();
                return 0;
        }
        if (l.image_end > mem || l.dtb_offset % 4096 || l.dtb_size > IMAGE_DTB_SIZE_MAX ||
            l.image_end > IMAGE_DTB_WINDOW || l.kernel_offset + l.kernel_size > l.dtb_offset ||
            (l.initrd_size && (l.initrd_offset % 4096 ||
                               l.initrd_offset < l.kernel_offset + l.kernel_size ||
                               l.initrd_offset + l.initrd_size > l.dtb_offset)))
                abort();
        return 0;
}
