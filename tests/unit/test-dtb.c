/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>

#include "dtb.h"
#include "test.h"

#define MiB (UINT64_C(1) << 20)

static const uint8_t uuid[16] = { 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x43, 0x04,
                                  0x85, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c };

static void make(VmConfig *c, ImageLayout *l, uint32_t vcpus, bool initrd, const char *cmdline)
{
        ImageHeader h = { .text_offset = 0x80000, .image_size = 8 * MiB, .file_size = MiB };

        vm_config_init(c);
        c->name = strdup("dt-guest");
        c->vcpus = vcpus;
        c->memory_size = 128 * MiB;
        c->kernel = strdup("Image");
        c->cmdline = cmdline ? strdup(cmdline) : NULL;
        memcpy(c->uuid, uuid, 16);
        ASSERT_OK(vm_config_validate(c, 0, NULL));
        ASSERT_OK(image_layout_compute(&h, c->memory_base, c->memory_size,
                                       initrd ? 3 * MiB + 100 : 0, IMAGE_DTB_RESERVE_DEFAULT, l,
                                       NULL));
}

static int node(const void *fdt, const char *path)
{
        int off = fdt_path_offset(fdt, path);

        if (off < 0)
                TEST_FAIL_("node %s missing: %s", path, fdt_strerror(off));
        return off;
}

static const void *prop(const void *fdt, const char *path, const char *name, int *len)
{
        const void *v = fdt_getprop(fdt, node(fdt, path), name, len);

        if (!v)
                TEST_FAIL_("%s:%s missing", path, name);
        return v;
}

static void expect_str(const void *fdt, const char *path, const char *name, const char *want)
{
        int len;
        const char *v = prop(fdt, path, name, &len);

        ASSERT_EQ(len, (int)strlen(want) + 1);
        ASSERT_MEMEQ(v, want, (size_t)len);
}

static void expect_u32(const void *fdt, const char *path, const char *name, uint32_t want)
{
        int len;
        const uint8_t *v = prop(fdt, path, name, &len);
        uint8_t be[4] = { (uint8_t)(want >> 24), (uint8_t)(want >> 16), (uint8_t)(want >> 8),
                          (uint8_t)want };

        ASSERT_EQ(len, 4);
        ASSERT_MEMEQ(v, be, 4);
}

/* Cells as big-endian bytes, compared against hand-written bytes. */
static void expect_bytes(const void *fdt, const char *path, const char *name, const void *want,
                         int want_len)
{
        int len;
        const void *v = prop(fdt, path, name, &len);

        ASSERT_EQ(len, want_len);
        ASSERT_MEMEQ(v, want, (size_t)len);
}

static void expect_empty(const void *fdt, const char *path, const char *name)
{
        int len;

        prop(fdt, path, name, &len);
        ASSERT_EQ(len, 0);
}

static void expect_absent(const void *fdt, const char *path, const char *name)
{
        int len;

        ASSERT_TRUE(fdt_getprop(fdt, node(fdt, path), name, &len) == NULL);
}

TEST(full_tree_property_by_property)
{
        VmConfig c;
        ImageLayout l;
        void *fdt = NULL;
        size_t size = 0;

        make(&c, &l, 2, true, "console=hvc0 rdinit=/init");
        ASSERT_OK(dtb_build(&c, &l, NULL, &fdt, &size));
        ASSERT_EQ(fdt_check_full(fdt, size), 0);
        ASSERT_EQ(fdt_totalsize(fdt), size);
        ASSERT_TRUE(size <= l.dtb_size);

        /* root */
        expect_u32(fdt, "/", "#address-cells", 2);
        expect_u32(fdt, "/", "#size-cells", 2);
        expect_str(fdt, "/", "compatible", "linux,dummy-virt");
        expect_str(fdt, "/", "model", "gunyahd guest");
        expect_u32(fdt, "/", "interrupt-parent", 1);

        /* /chosen: bootargs, initrd at base + 0x80000 + 8 MiB, end = start + size */
        expect_str(fdt, "/chosen", "bootargs", "console=hvc0 rdinit=/init");
        expect_bytes(fdt, "/chosen", "linux,initrd-start",
                     (uint8_t[]){ 0, 0, 0, 0, 0x80, 0x88, 0x00, 0x00 }, 8);
        expect_bytes(fdt, "/chosen", "linux,initrd-end",
                     (uint8_t[]){ 0, 0, 0, 0, 0x80, 0xb8, 0x00, 0x64 }, 8);

        /* /memory: reg = <0 0x80000000 0 0x08000000> */
        expect_str(fdt, "/memory", "device_type", "memory");
        expect_bytes(fdt, "/memory", "reg",
                     (uint8_t[]){ 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x08, 0, 0, 0 }, 16);

        /* /cpus */
        expect_u32(fdt, "/cpus", "#address-cells", 1);
        expect_u32(fdt, "/cpus", "#size-cells", 0);
        expect_str(fdt, "/cpus/idle-states", "entry-method", "psci");
        expect_str(fdt, "/cpus/idle-states/cpu-sleep", "compatible", "arm,idle-state");
        expect_u32(fdt, "/cpus/idle-states/cpu-sleep", "phandle", 2);
        expect_u32(fdt, "/cpus/idle-states/cpu-sleep", "arm,psci-suspend-param", 1);
        expect_str(fdt, "/cpus/cpu@0", "device_type", "cpu");
        expect_str(fdt, "/cpus/cpu@0", "compatible", "arm,armv8");
        expect_u32(fdt, "/cpus/cpu@0", "reg", 0);
        expect_str(fdt, "/cpus/cpu@0", "enable-method", "psci");
        expect_str(fdt, "/cpus/cpu@0", "status", "okay");
        expect_u32(fdt, "/cpus/cpu@0", "cpu-idle-states", 2);
        expect_u32(fdt, "/cpus/cpu@1", "reg", 1);
        expect_str(fdt, "/cpus/cpu@1", "status", "disabled");
        expect_u32(fdt, "/cpus/cpu@1", "cpu-idle-states", 2);
        ASSERT_TRUE(fdt_path_offset(fdt, "/cpus/cpu@2") < 0);

        /* /psci, /timer */
        expect_str(fdt, "/psci", "compatible", "arm,psci-1.0");
        expect_str(fdt, "/psci", "method", "hvc");
        expect_str(fdt, "/timer", "compatible", "arm,armv8-timer");
        expect_empty(fdt, "/timer", "always-on");
        expect_bytes(fdt, "/timer", "interrupts",
                     (uint8_t[]){ 0, 0, 0, 1, 0, 0, 0, 13, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 14,
                                  0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 11, 0, 0, 0, 4, 0, 0, 0, 1,
                                  0, 0, 0, 10, 0, 0, 0, 4 },
                     48);

        /* GICv3: GICD 0x3fff0000 + 64 KiB, GICR 2 x 128 KiB below it */
        expect_str(fdt, "/intc@3fff0000", "compatible", "arm,gic-v3");
        expect_empty(fdt, "/intc@3fff0000", "interrupt-controller");
        expect_u32(fdt, "/intc@3fff0000", "#interrupt-cells", 3);
        expect_u32(fdt, "/intc@3fff0000", "phandle", 1);
        expect_bytes(fdt, "/intc@3fff0000", "reg",
                     (uint8_t[]){ 0, 0, 0, 0, 0x3f, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0,
                                  0, 0, 0, 0, 0x3f, 0xfb, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0 },
                     32);
        ASSERT_EQ(fdt_node_offset_by_phandle(fdt, 1), node(fdt, "/intc@3fff0000"));

        /* /gunyah-vm-config */
        expect_str(fdt, "/gunyah-vm-config", "image-name", "dt-guest");
        expect_str(fdt, "/gunyah-vm-config", "vm-type", "aarch64-guest");
        expect_str(fdt, "/gunyah-vm-config", "os-type", "linux");
        expect_str(fdt, "/gunyah-vm-config", "vm-guid", "deadbeef-0102-4304-8506-0708090a0b0c");
        expect_bytes(fdt, "/gunyah-vm-config", "kernel-entry-offset",
                     (uint8_t[]){ 0, 0, 0, 0, 0, 0x08, 0, 0 }, 8);
        expect_u32(fdt, "/gunyah-vm-config/memory", "#address-cells", 2);
        expect_u32(fdt, "/gunyah-vm-config/memory", "#size-cells", 2);
        expect_bytes(fdt, "/gunyah-vm-config/memory", "base-address",
                     (uint8_t[]){ 0, 0, 0, 0, 0x80, 0, 0, 0 }, 8);
        expect_bytes(fdt, "/gunyah-vm-config/memory", "size-min",
                     (uint8_t[]){ 0, 0, 0, 0, 0x08, 0, 0, 0 }, 8);
        expect_bytes(fdt, "/gunyah-vm-config/memory", "size-max",
                     (uint8_t[]){ 0, 0, 0, 0, 0x08, 0, 0, 0 }, 8);
        expect_str(fdt, "/gunyah-vm-config/vcpus", "affinity", "static");
        expect_str(fdt, "/gunyah-vm-config/vcpus", "config", "/cpus");
        expect_bytes(fdt, "/gunyah-vm-config/vcpus", "affinity-map",
                     (uint8_t[]){ 0, 0, 0, 0, 0, 0, 0, 1 }, 8);
        expect_str(fdt, "/gunyah-vm-config/interrupts", "config", "/intc@3fff0000");
        ASSERT_TRUE(fdt_path_offset(fdt, "/intc@3fff0000") >= 0);
        expect_str(fdt, "/gunyah-vm-config/vdevices", "generate", "/hypervisor");
        expect_str(fdt, "/gunyah-vm-config/vdevices/rm-rpc", "vdevice-type", "rm-rpc");
        expect_empty(fdt, "/gunyah-vm-config/vdevices/rm-rpc", "console-dev");
        expect_u32(fdt, "/gunyah-vm-config/vdevices/rm-rpc", "message-size", 240);
        expect_u32(fdt, "/gunyah-vm-config/vdevices/rm-rpc", "queue-depth", 8);

        free(fdt);
        vm_config_done(&c);
}

/* RM section 13 rules that a parser enforces, checked generically over the tree. */
TEST(rm_rules_many_cpus)
{
        VmConfig c;
        ImageLayout l;
        void *fdt = NULL;
        size_t size = 0;
        DtbOptions o = { .host_cpus = 8 };
        int off, len, boot = 0, cpus = 0;
        const fdt32_t *map;

        make(&c, &l, VM_VCPUS_MAX, false, NULL);
        ASSERT_OK(dtb_build(&c, &l, &o, &fdt, &size));
        ASSERT_EQ(fdt_check_full(fdt, size), 0);

        /* no initrd: no initrd properties; empty bootargs */
        expect_absent(fdt, "/chosen", "linux,initrd-start");
        expect_absent(fdt, "/chosen", "linux,initrd-end");
        expect_str(fdt, "/chosen", "bootargs", "");

        /* only the root-level node named exactly "memory" has device_type memory */
        for (off = fdt_next_node(fdt, -1, NULL); off >= 0; off = fdt_next_node(fdt, off, NULL)) {
                const char *dt = fdt_getprop(fdt, off, "device_type", &len);

                if (dt && strcmp(dt, "memory") == 0) {
                        ASSERT_STREQ(fdt_get_name(fdt, off, NULL), "memory");
                        ASSERT_EQ(fdt_parent_offset(fdt, off), 0);
                }
        }
        /* every cpu: idle states (PSCI in a non-proxy VM), psci enable, one boot CPU */
        fdt_for_each_subnode(off, fdt, node(fdt, "/cpus")) {
                const char *dt = fdt_getprop(fdt, off, "device_type", &len);
                const char *st;

                if (!dt || strcmp(dt, "cpu") != 0)
                        continue;
                cpus++;
                ASSERT_TRUE(fdt_getprop(fdt, off, "cpu-idle-states", &len) != NULL);
                ASSERT_STREQ(fdt_getprop(fdt, off, "enable-method", &len), "psci");
                st = fdt_getprop(fdt, off, "status", &len);
                boot += strcmp(st, "okay") == 0;
        }
        ASSERT_EQ(cpus, VM_VCPUS_MAX);
        ASSERT_EQ(boot, 1);
        /* MPIDR clusters of 16: cpu 17 = Aff1 1, Aff0 1 */
        expect_u32(fdt, "/cpus/cpu@101", "reg", 0x101);
        expect_u32(fdt, "/cpus/cpu@30f", "reg", 0x30f);

        /* affinity-map: one entry per CPU, i % host_cpus */
        map = prop(fdt, "/gunyah-vm-config/vcpus", "affinity-map", &len);
        ASSERT_EQ(len, 4 * VM_VCPUS_MAX);
        for (int i = 0; i < (int)VM_VCPUS_MAX; i++)
                ASSERT_EQ(fdt32_to_cpu(map[i]), i % 8);
        /* GICR sized for 64 vCPUs (8 MiB) */
        {
                const uint8_t *reg = prop(fdt, "/intc@3fff0000", "reg", &len);
                fdt64_t v[4];

                ASSERT_EQ(len, 32);
                memcpy(v, reg, sizeof(v)); /* properties are only 4-byte aligned */
                ASSERT_U64_EQ(fdt64_to_cpu(v[2]), 0x3fff0000 - 64 * 0x20000);
                ASSERT_U64_EQ(fdt64_to_cpu(v[3]), 64 * 0x20000);
        }
        /* image-name < 80 and vm-guid in RM form */
        ASSERT_TRUE(strlen(prop(fdt, "/gunyah-vm-config", "image-name", &len)) < 80);
        ASSERT_EQ(strlen(prop(fdt, "/gunyah-vm-config", "vm-guid", &len)), 36);
        /* PSCI is enabled by a compatible node */
        ASSERT_TRUE(fdt_node_offset_by_compatible(fdt, -1, "arm,psci-1.0") >= 0);
        free(fdt);
        vm_config_done(&c);
}

TEST(size_limit_and_bad_input)
{
        VmConfig c;
        ImageLayout l;
        void *fdt = NULL;
        size_t size = 0;

        make(&c, &l, 4, true, NULL);
        l.dtb_size = 512; /* far too small */
        ASSERT_EQ(dtb_build(&c, &l, NULL, &fdt, &size), -E2BIG);
        ASSERT_TRUE(fdt == NULL);
        l.dtb_size = IMAGE_DTB_RESERVE_DEFAULT;
        c.vcpus = 0;
        ASSERT_EQ(dtb_build(&c, &l, NULL, &fdt, &size), -EINVAL);
        c.vcpus = VM_VCPUS_MAX + 1;
        ASSERT_EQ(dtb_build(&c, &l, NULL, &fdt, &size), -EINVAL);
        /* a long command line grows the buffer past its first guess */
        c.vcpus = 1;
        free(c.cmdline);
        c.cmdline = malloc(VM_CMDLINE_MAX + 1);
        memset(c.cmdline, 'k', VM_CMDLINE_MAX);
        c.cmdline[VM_CMDLINE_MAX] = '\0';
        ASSERT_OK(dtb_build(&c, &l, NULL, &fdt, &size));
        ASSERT_EQ(fdt_check_full(fdt, size), 0);
        {
                int len;
                const char *b = prop(fdt, "/chosen", "bootargs", &len);

                ASSERT_EQ(len, VM_CMDLINE_MAX + 1);
                ASSERT_EQ(b[VM_CMDLINE_MAX - 1], 'k');
        }
        free(fdt);
        vm_config_done(&c);
}

TEST_MAIN()
