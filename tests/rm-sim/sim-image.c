/* SPDX-License-Identifier: MIT */
/*
 * Deep checks of what the client wrote into memory (rm-protocol.md 8.1 VM_INIT, 13, 11.7):
 * at VM_INIT the vm-config DTB is read from the image parcel at dtb_offset and validated with
 * libfdt and the RM's parser rules (any failure: MEM_INVALID 0xA); at VM_START the boot PC
 * must land on an arm64 Image header ("ARM\x64" at +0x38) in memory the VM accepted and X0 on
 * a valid FDT (else NORESOURCE 0x2). Reads go through the parcels' SGLs into the pool.
 */
#include <ctype.h>
#include <errno.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "macro.h"
#include "sim.h"

#define DTB_MAX (4u << 20)
#define PLATFORM_SVM_BASE 0x28800000ull /* qemu platform default IPA base */
#define SZ_2M (2ull << 20)

int sim_vm_read_guest(Sim *s, SimVm *vm, uint64_t g, void *buf, size_t len)
{
        for (SimParcel *pc = s->parcels; pc; pc = pc->next) {
                SimAcl *a = sim_parcel_acl_of(pc, vm->vmid);

                if (!a || !a->accepted || g < a->guest_ipa || g - a->guest_ipa >= pc->size ||
                    len > pc->size - (g - a->guest_ipa))
                        continue;
                return sim_parcel_read(s, pc, g - a->guest_ipa, buf, len);
        }
        return -EFAULT;
}

static bool prop_u64(const void *fdt, int node, const char *name, int cells, uint64_t *ret)
{
        int len;
        const uint8_t *p = fdt_getprop(fdt, node, name, &len);

        if (!p)
                return false;
        if (cells == 1 && len == 4)
                *ret = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
        else if (cells == 2 && len == 8)
                *ret = fdt64_ld((const fdt64_t *)p);
        else
                *ret = UINT64_MAX; /* wrong size: reported by the caller via the sentinel */
        return true;
}

static bool is_string(const void *fdt, int node, const char *name, size_t max)
{
        int len;
        const char *p = fdt_getprop(fdt, node, name, &len);

        return p && len > 1 && (size_t)len <= max && memchr(p, 0, (size_t)len) == p + len - 1;
}

static bool guid_parse(const char *g, uint8_t out[16])
{
        static const int dash[] = {8, 13, 18, 23};
        size_t o = 0;

        if (strlen(g) != 36)
                return false;
        for (size_t i = 0; i < 36; i++) {
                bool want_dash = false;
                for (size_t d = 0; d < ELEMENTSOF(dash); d++)
                        want_dash |= (int)i == dash[d];
                if (want_dash != (g[i] == '-'))
                        return false;
                if (!want_dash && !isxdigit((unsigned char)g[i]))
                        return false;
        }
        for (size_t i = 0; i < 36 && o < 16; i += 2) {
                char hex[3];
                if (g[i] == '-')
                        i++;
                hex[0] = g[i];
                hex[1] = g[i + 1];
                hex[2] = 0;
                out[o++] = (uint8_t)strtoul(hex, NULL, 16);
        }
        return o == 16;
}

static int parse_config_node(const void *fdt, SimVm *vm, int cfg)
{
        int len, acells = fdt_address_cells(fdt, 0);
        const char *str;
        uint64_t v;

        if (!is_string(fdt, cfg, "image-name", RM_MAX_NAME))
                return -EINVAL;
        str = fdt_getprop(fdt, cfg, "image-name", &len);
        memcpy(vm->name, str, (size_t)len);
        if (fdt_getprop(fdt, cfg, "vm-uri", &len) && !is_string(fdt, cfg, "vm-uri", RM_MAX_NAME))
                return -EINVAL;
        for (const char *const *n = (const char *const[]){"vm-type", "os-type", "vendor",
                                                          "kernel-entry-segment", NULL};
             *n; n++)
                if (fdt_getprop(fdt, cfg, *n, &len) && !is_string(fdt, cfg, *n, 4096))
                        return -EINVAL;
        str = fdt_getprop(fdt, cfg, "vm-guid", &len);
        if (str) {
                if (!is_string(fdt, cfg, "vm-guid", 64) || !guid_parse(str, vm->guid))
                        return -EINVAL;
                vm->has_guid = true;
        }
        if (prop_u64(fdt, cfg, "kernel-entry-offset", acells < 0 ? 2 : acells, &v)) {
                if (v == UINT64_MAX)
                        return -EINVAL;
                vm->has_entry_offset = true;
                vm->entry_offset = v;
        }
        str = fdt_getprop(fdt, cfg, "vm-attrs", &len);
        for (int off = 0; str && off < len;) {
                const char *a = str + off;
                size_t n = strnlen(a, (size_t)(len - off));
                if ((int)n == len - off)
                        return -EINVAL; /* not NUL-terminated */
                if (strcmp(a, "crash-fatal") == 0)
                        vm->crash_fatal = true;
                else if (strcmp(a, "no-shutdown") == 0)
                        vm->no_shutdown = true;
                else if (strcmp(a, "no-reset") == 0)
                        vm->no_reset = true;
                off += (int)n + 1;
        }
        return 0;
}

static int parse_memory(const void *fdt, SimVm *vm, int cfg)
{
        int mem = fdt_subnode_offset(fdt, cfg, "memory");
        int ac, sc;
        uint64_t v;

        vm->mem_base = PLATFORM_SVM_BASE;
        vm->mem_size_max = 0x07ffffffull;
        if (mem < 0)
                return mem == -FDT_ERR_NOTFOUND ? 0 : -EINVAL;
        ac = fdt_address_cells(fdt, mem);
        sc = fdt_size_cells(fdt, mem);
        if (ac < 1 || ac > 2 || sc < 1 || sc > 2)
                return -EINVAL;
        vm->is_direct = fdt_getprop(fdt, mem, "is-direct", NULL) != NULL;
        if (prop_u64(fdt, mem, "base-address", ac, &v)) {
                if (v == UINT64_MAX || !IS_ALIGNED(v, RM_PAGE_SIZE) || v > UINT64_MAX - SZ_2M)
                        return -EINVAL;
                vm->mem_base = ALIGN_TO(v, SZ_2M); /* the RM rounds up, with a warning */
                vm->mem_size_max = UINT64_MAX - vm->mem_base;
        }
        if (prop_u64(fdt, mem, "size-max", sc, &v)) {
                if (v == UINT64_MAX || !IS_ALIGNED(v, RM_PAGE_SIZE) ||
                    v > UINT64_MAX - vm->mem_base)
                        return -EINVAL;
                vm->mem_size_max = v;
        }
        if (prop_u64(fdt, mem, "size-min", sc, &v) &&
            (v == UINT64_MAX || !IS_ALIGNED(v, RM_PAGE_SIZE)))
                return -EINVAL;
        if (prop_u64(fdt, mem, "firmware-address", ac, &v) &&
            (v == UINT64_MAX || !IS_ALIGNED(v, RM_PAGE_SIZE)))
                return -EINVAL;
        if (prop_u64(fdt, mem, "firmware-size-max", sc, &v) &&
            (v == UINT64_MAX || !IS_ALIGNED(v, RM_PAGE_SIZE)))
                return -EINVAL;
        return 0;
}

static bool has_enable_method(const void *fdt, int node)
{
        int len;
        const char *m = fdt_getprop(fdt, node, "enable-method", &len);

        return m && len > 0 && m[len - 1] == 0 &&
               (strcmp(m, "psci") == 0 || strcmp(m, "qcom,gunyah-hvc") == 0);
}

static int parse_vcpus(const void *fdt, SimVm *vm, int cfg, bool psci)
{
        int vc = fdt_subnode_offset(fdt, cfg, "vcpus");
        const char *aff, *path = "/cpus";
        int len, cpus, node, n = 0, boot = 0, map_len = 0;
        bool proxy = false, first_unset_used = false, idle_all = true;

        if (vc < 0)
                return -EINVAL;
        aff = fdt_getprop(fdt, vc, "affinity", &len);
        if (aff) {
                if (len < 1 || aff[len - 1] != 0)
                        return -EINVAL;
                if (strcmp(aff, "proxy") == 0)
                        proxy = true;
                else if (strcmp(aff, "static") && strcmp(aff, "sticky") && strcmp(aff, "pinned"))
                        return -EINVAL;
        }
        if (fdt_getprop(fdt, vc, "config", &len)) {
                if (!is_string(fdt, vc, "config", 256))
                        return -EINVAL;
                path = fdt_getprop(fdt, vc, "config", NULL);
        }
        cpus = fdt_path_offset(fdt, path);
        if (cpus < 0)
                return -EINVAL;
        fdt_for_each_subnode(node, fdt, cpus)
        {
                const char *dt = fdt_getprop(fdt, node, "device_type", &len);
                const char *st;
                bool is_boot;

                if (!dt || len < 1 || dt[len - 1] != 0 || strcmp(dt, "cpu") != 0)
                        continue;
                st = fdt_getprop(fdt, node, "status", &len);
                if (st && (len < 1 || st[len - 1] != 0))
                        return -EINVAL;
                if (st && strncmp(st, "fail", 4) == 0)
                        continue;
                if (st && strcmp(st, "okay") != 0 && strcmp(st, "disabled") != 0)
                        return -EINVAL;
                is_boot = st ? strcmp(st, "okay") == 0 : !first_unset_used;
                if (!st)
                        first_unset_used = true;
                boot += is_boot;
                if (!is_boot && !has_enable_method(fdt, node) && !has_enable_method(fdt, cpus))
                        return -EINVAL;
                idle_all &= fdt_getprop(fdt, node, "cpu-idle-states", NULL) != NULL;
                n++;
        }
        if (n == 0 || boot == 0 || n > SIM_MAX_VCPUS)
                return -EINVAL;
        if (!proxy) {
                if (!fdt_getprop(fdt, vc, "affinity-map", &map_len) || map_len != 4 * n)
                        return -EINVAL;
                if (psci && !idle_all)
                        return -EINVAL;
        }
        vm->n_vcpus = (unsigned)n;
        return 0;
}

static bool irq_cells_ok(const uint8_t *p, int len, int expected)
{
        static const struct {
                uint32_t add, end;
        } types[] = {
            {32, 1020},
            {16, 32},
            {4096, 5120},
            {1056, 1120},
        };

        if (expected >= 0 ? len != 12 * expected : len % 12 != 0)
                return false;
        for (int i = 0; i < len; i += 12) {
                uint32_t type = fdt32_ld((const fdt32_t *)(p + i));
                uint32_t num = fdt32_ld((const fdt32_t *)(p + i + 4));
                uint32_t flags = fdt32_ld((const fdt32_t *)(p + i + 8));
                if (type >= ELEMENTSOF(types) || num > types[type].end - types[type].add - 1)
                        return false;
                if ((flags & 0xF) != 1 && (flags & 0xF) != 4)
                        return false;
        }
        return true;
}

static int check_vdevice(const void *fdt, int node, const char *type)
{
        static const struct {
                const char *type;
                int irqs;          /* -1: any multiple of 3 cells */
                bool peer_default; /* peer-default required */
                bool peer_or_default;
        } kinds[] = {
            {"rm-rpc", 2, false, false},
            {"doorbell", 1, false, true},
            {"doorbell-source", 0, false, true},
            {"message-queue", 1, true, false},
            {"message-queue-pair", 2, false, true},
            {"shm", -1, true, false},
            {"shm-doorbell", -1, true, false},
            {"virtio-mmio", -1, true, false},
            {"iomem", -1, true, false},
            {"vsmmu-v2", -1, false, false},
            {"vrtc-pl031", -1, false, false},
        };
        const uint8_t *irq;
        int len, k = -1;

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
                if (strcmp(kinds[i].type, type) == 0)
                        k = (int)i;
        if (k < 0)
                return -EINVAL;
        irq = fdt_getprop(fdt, node, "interrupts", &len);
        if (irq && !irq_cells_ok(irq, len, kinds[k].irqs))
                return -EINVAL;
        if (kinds[k].peer_default && !fdt_getprop(fdt, node, "peer-default", NULL))
                return -EINVAL;
        if (kinds[k].peer_or_default && !fdt_getprop(fdt, node, "peer-default", NULL) &&
            !fdt_getprop(fdt, node, "peer", NULL))
                return -EINVAL;
        if (strcmp(type, "message-queue") == 0 && !!fdt_getprop(fdt, node, "is-sender", NULL) ==
                                                      !!fdt_getprop(fdt, node, "is-receiver", NULL))
                return -EINVAL;
        if (strcmp(type, "vsmmu-v2") == 0)
                for (const char *const *n =
                         (const char *const[]){"smmu-handle", "patch", "num-cbs", "num-smrs", NULL};
                     *n; n++)
                        if (!fdt_getprop(fdt, node, *n, NULL))
                                return -EINVAL;
        if (strncmp(type, "shm", 3) == 0) {
                int mem = fdt_subnode_offset(fdt, node, "memory");
                if (mem < 0 || !fdt_getprop(fdt, mem, "label", NULL) ||
                    !!fdt_getprop(fdt, mem, "base", NULL) ==
                        !!fdt_getprop(fdt, mem, "allocate-base", NULL))
                        return -EINVAL;
        }
        return 0;
}

/* Whole-tree rules: memory nodes, PSCI, vdevices. */
static int walk_tree(const void *fdt, bool *ret_psci)
{
        int node = 0, depth = 0, len, dlen;

        *ret_psci = false;
        while ((node = fdt_next_node(fdt, node, &depth)) >= 0 && depth > 0) {
                const char *name = fdt_get_name(fdt, node, NULL);
                const char *dt = fdt_getprop(fdt, node, "device_type", &dlen);
                const char *vt = fdt_getprop(fdt, node, "vdevice-type", &len);

                if (dt && dlen > 0 && strncmp(dt, "memory", (size_t)dlen) == 0 &&
                    (depth != 1 || !name || strcmp(name, "memory") != 0))
                        return -EINVAL;
                if (fdt_node_check_compatible(fdt, node, "arm,psci-0.2") == 0 ||
                    fdt_node_check_compatible(fdt, node, "arm,psci-1.0") == 0)
                        *ret_psci = true;
                if (vt) {
                        if (len < 1 || vt[len - 1] != 0 || check_vdevice(fdt, node, vt) < 0)
                                return -EINVAL;
                }
        }
        return 0;
}

static int validate_dt(const void *fdt, size_t size, SimVm *vm)
{
        int cfg, irq, len, r;
        bool psci;

        if (fdt_check_full(fdt, size) != 0)
                return -EINVAL;
        r = walk_tree(fdt, &psci);
        if (r < 0)
                return r;
        cfg = fdt_path_offset(fdt, "/gunyah-vm-config");
        if (cfg < 0)
                cfg = fdt_path_offset(fdt, "/qcom,vm-config");
        if (cfg < 0)
                return -EINVAL;
        if ((r = parse_config_node(fdt, vm, cfg)) < 0 || (r = parse_memory(fdt, vm, cfg)) < 0 ||
            (r = parse_vcpus(fdt, vm, cfg, psci)) < 0)
                return r;
        irq = fdt_subnode_offset(fdt, cfg, "interrupts");
        if (irq >= 0) {
                const char *c = fdt_getprop(fdt, irq, "config", &len);
                if (!c)
                        return -EINVAL;
                /* a path, or (with a warning in the RM) a phandle */
                if (len == 4 && c[len - 1] != 0) {
                        if (fdt_node_offset_by_phandle(fdt, fdt32_ld((const fdt32_t *)c)) < 0)
                                return -EINVAL;
                } else if (!is_string(fdt, irq, "config", 256) || fdt_path_offset(fdt, c) < 0) {
                        return -EINVAL;
                }
        }
        return 0;
}

uint32_t sim_image_parse_dt(Sim *s, SimVm *vm, SimParcel *pc)
{
        uint8_t hdr[sizeof(struct fdt_header)];
        _cleanup_free_ uint8_t *dtb = NULL;
        size_t total;

        if (vm->dtb_size < sizeof(hdr) || vm->dtb_offset > pc->size ||
            vm->dtb_size > pc->size - vm->dtb_offset)
                return RM_ERROR_MEM_INVALID;
        if (sim_parcel_read(s, pc, vm->dtb_offset, hdr, sizeof(hdr)) < 0 ||
            fdt_check_header(hdr) != 0)
                return RM_ERROR_MEM_INVALID;
        total = fdt_totalsize(hdr);
        if (total > vm->dtb_size || total > DTB_MAX)
                return RM_ERROR_MEM_INVALID;
        dtb = malloc(total);
        if (!dtb || sim_parcel_read(s, pc, vm->dtb_offset, dtb, total) < 0)
                return RM_ERROR_MEM_INVALID;
        vm->no_shutdown = vm->no_reset = vm->crash_fatal = vm->has_entry_offset = false;
        if (validate_dt(dtb, total, vm) < 0) {
                sim_debug(s, "vm 0x%x: vm-config DT rejected", vm->vmid);
                return RM_ERROR_MEM_INVALID;
        }
        vm->dt_parsed = true;
        return RM_OK;
}

static bool guest_fdt_valid(Sim *s, SimVm *vm, uint64_t g)
{
        uint8_t hdr[sizeof(struct fdt_header)];
        _cleanup_free_ uint8_t *dtb = NULL;
        size_t total;

        if (sim_vm_read_guest(s, vm, g, hdr, sizeof(hdr)) < 0 || fdt_check_header(hdr) != 0)
                return false;
        total = fdt_totalsize(hdr);
        if (total > DTB_MAX || !(dtb = malloc(total)))
                return false;
        return sim_vm_read_guest(s, vm, g, dtb, total) == 0 && fdt_check_full(dtb, total) == 0;
}

uint32_t sim_image_check_boot(Sim *s, SimVm *vm)
{
        static const uint8_t magic[4] = {'A', 'R', 'M', 0x64};
        uint64_t base = sim_vm_image_base(vm), pc, x0;
        uint8_t head[64];

        if (s->opt.profile == SIM_PROFILE_V17 && vm->pc_set) {
                pc = vm->pc;
                if (!(vm->x_set & 1u))
                        return RM_ERROR_NORESOURCE;
                x0 = vm->x[0];
        } else {
                pc = base + (vm->has_entry_offset ? vm->entry_offset : 0);
                x0 = base + vm->dtb_offset;
        }
        if (sim_vm_read_guest(s, vm, pc, head, sizeof(head)) < 0 ||
            memcmp(head + 0x38, magic, sizeof(magic)) != 0) {
                sim_debug(s, "vm 0x%x: no arm64 Image header at PC 0x%llx", vm->vmid,
                          (unsigned long long)pc);
                return RM_ERROR_NORESOURCE;
        }
        if (!guest_fdt_valid(s, vm, x0)) {
                sim_debug(s, "vm 0x%x: no valid FDT at X0 0x%llx", vm->vmid,
                          (unsigned long long)x0);
                return RM_ERROR_NORESOURCE;
        }
        vm->pc = pc;
        vm->x[0] = x0;
        return RM_OK;
}
