/* SPDX-License-Identifier: MIT */
/*
 * Guest devicetree builder over libfdt's sequential-write API. DtbWriter keeps the first
 * libfdt error ("sticky"), so the builder reads as a flat description of the tree and checks
 * once at the end. Facts: rm-protocol.md section 13 (the RM's vm-config parser); Linux
 * bindings for arm,psci-1.0, arm,armv8-timer, arm,gic-v3, arm,idle-state (Documentation/
 * devicetree/bindings); the RM requires a root node named exactly "memory" for RAM.
 */
#include <errno.h>
#include <inttypes.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtb.h"
#include "macro.h"

typedef struct DtbWriter {
        void *fdt;
        int err; /* first libfdt error (negative FDT_ERR_*), 0 if none */
} DtbWriter;

static void dtb_check(DtbWriter *w, int r)
{
        if (r < 0 && w->err == 0)
                w->err = r;
}

static void dtb_begin_node(DtbWriter *w, const char *name)
{
        if (!w->err)
                dtb_check(w, fdt_begin_node(w->fdt, name));
}

static void dtb_end_node(DtbWriter *w)
{
        if (!w->err)
                dtb_check(w, fdt_end_node(w->fdt));
}

static void dtb_prop(DtbWriter *w, const char *name, const void *val, size_t len)
{
        if (!w->err)
                dtb_check(w, fdt_property(w->fdt, name, val, (int)len));
}

static void dtb_prop_empty(DtbWriter *w, const char *name)
{
        dtb_prop(w, name, NULL, 0);
}

static void dtb_prop_u32(DtbWriter *w, const char *name, uint32_t v)
{
        fdt32_t c = cpu_to_fdt32(v);

        dtb_prop(w, name, &c, sizeof(c));
}

/* Cells, host order in, big-endian out. n <= VM_VCPUS_MAX * 3 for our uses. */
static void dtb_prop_u32_array(DtbWriter *w, const char *name, const uint32_t *v, size_t n)
{
        fdt32_t c[VM_VCPUS_MAX * 3];

        if (n > ELEMENTSOF(c)) {
                dtb_check(w, -FDT_ERR_BADVALUE);
                return;
        }
        for (size_t i = 0; i < n; i++)
                c[i] = cpu_to_fdt32(v[i]);
        dtb_prop(w, name, c, n * sizeof(c[0]));
}

/* u64 values as pairs of cells (#address-cells = #size-cells = 2). n <= 8. */
static void dtb_prop_u64_array(DtbWriter *w, const char *name, const uint64_t *v, size_t n)
{
        fdt64_t c[8];

        if (n > ELEMENTSOF(c)) {
                dtb_check(w, -FDT_ERR_BADVALUE);
                return;
        }
        for (size_t i = 0; i < n; i++)
                c[i] = cpu_to_fdt64(v[i]);
        dtb_prop(w, name, c, n * sizeof(c[0]));
}

static void dtb_prop_u64(DtbWriter *w, const char *name, uint64_t v)
{
        dtb_prop_u64_array(w, name, &v, 1);
}

static void dtb_prop_string(DtbWriter *w, const char *name, const char *s)
{
        dtb_prop(w, name, s, strlen(s) + 1);
}

static int fdt_err_to_errno(int err)
{
        switch (err) {
        case -FDT_ERR_NOSPACE:
                return -ENOSPC;
        case -FDT_ERR_NOTFOUND:
                return -ENOENT;
        default:
                return -EINVAL;
        }
}

static void build_chosen(DtbWriter *w, const VmConfig *c, const ImageLayout *l)
{
        dtb_begin_node(w, "chosen");
        dtb_prop_string(w, "bootargs", c->cmdline ? c->cmdline : "");
        if (l->initrd_size > 0) {
                dtb_prop_u64(w, "linux,initrd-start", image_layout_initrd_ipa(l));
                dtb_prop_u64(w, "linux,initrd-end", image_layout_initrd_ipa(l) + l->initrd_size);
        }
        dtb_end_node(w);
}

static void build_cpus(DtbWriter *w, const VmConfig *c)
{
        dtb_begin_node(w, "cpus");
        dtb_prop_u32(w, "#address-cells", 1);
        dtb_prop_u32(w, "#size-cells", 0);

        /* one shallow state so that every CPU has cpu-idle-states (the RM's PSCI rule for
         * hypervisor-scheduled VMs); PSCI standby, power_state 0x1 (original format) */
        dtb_begin_node(w, "idle-states");
        dtb_prop_string(w, "entry-method", "psci");
        dtb_begin_node(w, "cpu-sleep");
        dtb_prop_string(w, "compatible", "arm,idle-state");
        dtb_prop_u32(w, "arm,psci-suspend-param", 0x1);
        dtb_prop_u32(w, "entry-latency-us", 40);
        dtb_prop_u32(w, "exit-latency-us", 100);
        dtb_prop_u32(w, "min-residency-us", 150);
        dtb_prop_u32(w, "phandle", DTB_PHANDLE_IDLE);
        dtb_end_node(w);
        dtb_end_node(w);

        for (uint32_t i = 0; i < c->vcpus; i++) {
                uint32_t mpidr = ((i / 16) << 8) | (i % 16);
                char name[32];

                snprintf(name, sizeof(name), "cpu@%x", mpidr);
                dtb_begin_node(w, name);
                dtb_prop_string(w, "device_type", "cpu");
                dtb_prop_string(w, "compatible", "arm,armv8");
                dtb_prop_u32(w, "reg", mpidr);
                dtb_prop_string(w, "enable-method", "psci");
                dtb_prop_string(w, "status", i == 0 ? "okay" : "disabled");
                dtb_prop_u32(w, "cpu-idle-states", DTB_PHANDLE_IDLE);
                dtb_end_node(w);
        }
        dtb_end_node(w);
}

static void build_devices(DtbWriter *w, const VmConfig *c, char *gic_path, size_t gic_path_len)
{
        /* timer PPIs: secure phys 13, non-secure phys 14, virtual 11, hyp 10; level high */
        static const uint32_t timer_irqs[] = { 1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4 };
        char gic_name[32];

        dtb_begin_node(w, "psci");
        dtb_prop_string(w, "compatible", "arm,psci-1.0");
        dtb_prop_string(w, "method", "hvc");
        dtb_end_node(w);

        dtb_begin_node(w, "timer");
        dtb_prop_string(w, "compatible", "arm,armv8-timer");
        dtb_prop_u32_array(w, "interrupts", timer_irqs, ELEMENTSOF(timer_irqs));
        dtb_prop_empty(w, "always-on");
        dtb_end_node(w);

        snprintf(gic_name, sizeof(gic_name), "intc@%" PRIx64, DTB_GICD_BASE);
        snprintf(gic_path, gic_path_len, "/%s", gic_name);
        dtb_begin_node(w, gic_name);
        dtb_prop_string(w, "compatible", "arm,gic-v3");
        dtb_prop_empty(w, "interrupt-controller");
        dtb_prop_u32(w, "#interrupt-cells", 3);
        dtb_prop_u32(w, "#address-cells", 2);
        dtb_prop_u32(w, "#size-cells", 2);
        dtb_prop_u64_array(w, "reg",
                           (const uint64_t[]){ DTB_GICD_BASE, DTB_GICD_SIZE,
                                               dtb_gicr_base(c->vcpus),
                                               (uint64_t)c->vcpus * DTB_GICR_STRIDE },
                           4);
        dtb_prop_u32(w, "phandle", DTB_PHANDLE_GIC);
        dtb_end_node(w);
}

static void build_vm_config(DtbWriter *w, const VmConfig *c, const ImageLayout *l,
                            const DtbOptions *o, const char *gic_path)
{
        uint32_t map[VM_VCPUS_MAX];
        char guid[VM_UUID_STRING_MAX];

        vm_uuid_format(c->uuid, guid);
        for (uint32_t i = 0; i < c->vcpus; i++)
                map[i] = o && o->host_cpus ? i % o->host_cpus : i;

        dtb_begin_node(w, "gunyah-vm-config");
        dtb_prop_string(w, "image-name", c->name);
        dtb_prop_string(w, "vm-type", "aarch64-guest");
        dtb_prop_string(w, "os-type", "linux");
        dtb_prop_string(w, "vm-guid", guid);
        dtb_prop_u64(w, "kernel-entry-offset", l->kernel_offset);

        dtb_begin_node(w, "memory");
        dtb_prop_u32(w, "#address-cells", 2);
        dtb_prop_u32(w, "#size-cells", 2);
        dtb_prop_u64(w, "base-address", l->base);
        dtb_prop_u64(w, "size-min", c->memory_size);
        dtb_prop_u64(w, "size-max", c->memory_size);
        dtb_end_node(w);

        dtb_begin_node(w, "vcpus");
        dtb_prop_string(w, "affinity", "static");
        dtb_prop_u32_array(w, "affinity-map", map, c->vcpus);
        dtb_prop_string(w, "config", "/cpus");
        dtb_end_node(w);

        dtb_begin_node(w, "interrupts");
        dtb_prop_string(w, "config", gic_path);
        dtb_end_node(w);

        dtb_begin_node(w, "vdevices");
        dtb_prop_string(w, "generate", "/hypervisor");
        dtb_begin_node(w, "rm-rpc");
        dtb_prop_string(w, "vdevice-type", "rm-rpc");
        dtb_prop_empty(w, "console-dev");
        dtb_prop_u32(w, "message-size", 240);
        dtb_prop_u32(w, "queue-depth", 8);
        dtb_end_node(w);
        dtb_end_node(w);

        dtb_end_node(w);
}

static int build_into(void *buf, size_t cap, const VmConfig *c, const ImageLayout *l,
                      const DtbOptions *o)
{
        DtbWriter w = { .fdt = buf };
        char gic_path[40];

        dtb_check(&w, fdt_create(buf, (int)cap));
        if (!w.err)
                dtb_check(&w, fdt_finish_reservemap(buf));
        dtb_begin_node(&w, "");
        dtb_prop_u32(&w, "#address-cells", 2);
        dtb_prop_u32(&w, "#size-cells", 2);
        dtb_prop_string(&w, "compatible", DTB_COMPATIBLE);
        dtb_prop_string(&w, "model", DTB_MODEL);
        dtb_prop_u32(&w, "interrupt-parent", DTB_PHANDLE_GIC);

        build_chosen(&w, c, l);

        /* the RM accepts device_type "memory" only on a root node named exactly "memory" */
        dtb_begin_node(&w, "memory");
        dtb_prop_string(&w, "device_type", "memory");
        dtb_prop_u64_array(&w, "reg", (const uint64_t[]){ l->base, c->memory_size }, 2);
        dtb_end_node(&w);

        build_cpus(&w, c);
        build_devices(&w, c, gic_path, sizeof(gic_path));
        build_vm_config(&w, c, l, o, gic_path);
        dtb_end_node(&w);
        if (!w.err)
                dtb_check(&w, fdt_finish(buf));
        return w.err ? fdt_err_to_errno(w.err) : 0;
}

int dtb_build(const VmConfig *c, const ImageLayout *l, const DtbOptions *opts, void **ret,
              size_t *ret_size)
{
        size_t cap = 16384, limit = l->dtb_size ? (size_t)l->dtb_size : IMAGE_DTB_SIZE_MAX;
        void *buf = NULL, *out;
        size_t size;
        int r;

        if (!c->name || c->vcpus < 1 || c->vcpus > VM_VCPUS_MAX || limit > IMAGE_DTB_SIZE_MAX)
                return -EINVAL;
        for (;;) {
                free(buf);
                buf = malloc(cap);
                if (!buf)
                        return -ENOMEM;
                r = build_into(buf, cap, c, l, opts);
                if (r != -ENOSPC)
                        break;
                if (cap >= limit) {
                        r = -E2BIG;
                        break;
                }
                cap = MIN(cap * 2, limit);
        }
        if (r < 0) {
                free(buf);
                return r;
        }
        size = fdt_totalsize(buf);
        if (size > limit) {
                free(buf);
                return -E2BIG;
        }
        out = realloc(buf, size);
        *ret = out ? out : buf;
        *ret_size = size;
        return 0;
}
