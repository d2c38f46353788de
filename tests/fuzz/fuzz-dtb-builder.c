/* SPDX-License-Identifier: MIT */
/*
 * Devicetree builder. Input: byte 0 vCPUs, byte 1 flags (bit0 initrd), byte 2 host CPUs,
 * byte 3 memory size in 16 MiB units, bytes 4..67 the name (to the first NUL), the rest the
 * command line. Whatever vm_config_validate() accepts must build into a tree that passes
 * fdt_check_full() and carries the name and command line unchanged.
 */
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>

#include "dtb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        VmConfig c;
        ImageHeader h = { .text_offset = 0x80000, .image_size = 4 << 20, .file_size = 1 << 20 };
        ImageLayout l;
        DtbOptions o = { 0 };
        char name[65] = { 0 };
        char *cmdline = NULL;
        void *fdt = NULL;
        size_t fdt_size = 0;
        int len;
        const char *v;

        if (size < 4)
                return 0;
        memcpy(name, data + 4, size - 4 < 64 ? size - 4 : 64);
        if (size > 68) {
                cmdline = strndup((const char *)data + 68, size - 68);
                if (!cmdline)
                        return 0;
        }
        vm_config_init(&c);
        c.name = name;
        c.vcpus = data[0];
        c.memory_size = (uint64_t)(data[3] + 1) << 24;
        c.kernel = (char *)"Image";
        c.cmdline = cmdline;
        memcpy(c.uuid, data, size < 16 ? size : 16);
        o.host_cpus = data[2];
        if (vm_config_validate(&c, 0, NULL) < 0 ||
            image_layout_compute(&h, c.memory_base, c.memory_size, (data[1] & 1) ? 12345 : 0,
                                 IMAGE_DTB_RESERVE_DEFAULT, &l, NULL) < 0) {
                free(cmdline);
                return 0;
        }
        if (dtb_build(&c, &l, &o, &fdt, &fdt_size) < 0)
                abort(); /* a valid config always fits the default reserve */
        if (fdt_check_full(fdt, fdt_size) != 0)
                abort();
        v = fdt_getprop(fdt, fdt_path_offset(fdt, "/gunyah-vm-config"), "image-name", &len);
        if (!v || strcmp(v, name) != 0)
                abort();
        v = fdt_getprop(fdt, fdt_path_offset(fdt, "/chosen"), "bootargs", &len);
        if (!v || strcmp(v, cmdline ? cmdline : "") != 0)
                abort();
        v = fdt_getprop(fdt, fdt_path_offset(fdt, "/gunyah-vm-config/vcpus"), "affinity-map",
                        &len);
        if (!v || len != (int)(4 * c.vcpus))
                abort();
        free(fdt);
        free(cmdline);
        return 0;
}
