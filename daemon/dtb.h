#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * The guest devicetree: a pure function from (VmConfig, ImageLayout) to a flattened blob,
 * built with libfdt's sequential-write API. The blob describes the guest for Linux (root,
 * /chosen, /memory, /cpus, /psci, /timer, GICv3) and configures the VM for the RM
 * (/gunyah-vm-config, rm-protocol.md section 13).
 *
 * Choices (documented in docs/design.md):
 *  - vCPUs are hypervisor-scheduled: vcpus { affinity = "static"; affinity-map = <...> }
 *    (one entry per CPU). Proxy scheduling would need the host to run every vCPU through
 *    vcpu_run, which the host module does not offer; the RM's PSCI rule for non-proxy VMs is
 *    met by giving every CPU cpu-idle-states (one shallow "arm,idle-state").
 *  - cpu@N reg = MPIDR (Aff1 = N / 16, Aff0 = N % 16); cpu 0 "okay" (boot), others
 *    "disabled" (started by PSCI CPU_ON), enable-method "psci".
 *  - GICv3 distributor at DTB_GICD_BASE (64 KiB) and redistributors (128 KiB per vCPU)
 *    right below it; root interrupt-parent points at it. Timer PPIs 13, 14, 11, 10.
 *  - vdevices { generate = "/hypervisor"; rm-rpc { console-dev } } so the guest gets its RM
 *    channel and console; the RM allocates its interrupts.
 *  - kernel-entry-offset = text_offset, for the open RM's boot convention.
 *
 * Error contract: 0 or negative errno (libfdt errors become -ENOSPC / -EINVAL / -ENOMEM).
 * The output passes fdt_check_full().
 */
#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "vm-config.h"

#define DTB_GICD_BASE UINT64_C(0x3fff0000)
#define DTB_GICD_SIZE UINT64_C(0x10000)
#define DTB_GICR_STRIDE UINT64_C(0x20000) /* per vCPU */
#define DTB_PHANDLE_GIC 1u
#define DTB_PHANDLE_IDLE 2u
#define DTB_COMPATIBLE "linux,dummy-virt"
#define DTB_MODEL "gunyahd guest"

typedef struct DtbOptions {
        /* Physical CPUs the affinity-map may name: vCPU i -> CPU (i % host_cpus).
         * 0 = identity (vCPU i -> CPU i). */
        uint32_t host_cpus;
} DtbOptions;

/* Redistributor region base for n vCPUs (it ends at DTB_GICD_BASE). */
static inline uint64_t dtb_gicr_base(uint32_t vcpus)
{
        return DTB_GICD_BASE - (uint64_t)vcpus * DTB_GICR_STRIDE;
}

/* Build the guest DT for a validated config and its layout (initrd properties are emitted
 * when l->initrd_size > 0). opts may be NULL. On success *ret is a malloc'd blob of *ret_size
 * bytes (= fdt totalsize, packed), caller frees. -E2BIG if it would exceed l->dtb_size. */
int dtb_build(const VmConfig *c, const ImageLayout *l, const DtbOptions *opts, void **ret,
              size_t *ret_size);
