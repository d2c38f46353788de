/* SPDX-License-Identifier: MIT */
/*
 * The three v17 calls the open RM does not implement (rm-protocol.md 8.4), served in the
 * v17 profile only, in the v17 order: CONFIG_IMAGE -> DEMAND_PAGING (INIT) ->
 * ADDRESS_LAYOUT (INIT) -> VM_INIT -> BOOT_CONTEXT (READY) -> VM_START. The production RM's
 * rules are not public; the simulator applies the strictest reading that a correct client
 * passes: unknown VMID 0xD, not owner 0x3, wrong state 0x14, bad field 0x6.
 */
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sim.h"

uint32_t sim_vm_h_boot_context(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r);
uint32_t sim_vm_h_demand_paging(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r);
uint32_t sim_vm_h_address_layout(Sim *s, uint16_t caller, const uint8_t *p, size_t len,
                                 SimReply *r);

static uint32_t lookup(Sim *s, uint16_t caller, uint16_t vmid, uint8_t state, SimVm **ret)
{
        SimVm *vm = sim_vm_get(s, vmid);

        if (!vm)
                return RM_ERROR_VMID_INVALID;
        if (vm->owner != caller)
                return RM_ERROR_DENIED;
        if (vm->status != state)
                return RM_ERROR_VM_STATE;
        *ret = vm;
        return RM_OK;
}

static bool range_ok(uint64_t base, uint64_t size)
{
        return IS_ALIGNED(base, RM_PAGE_SIZE) && IS_ALIGNED(size, RM_PAGE_SIZE) && size > 0 &&
               base < RM_ADDR_LIMIT && size <= RM_ADDR_LIMIT - base;
}

uint32_t sim_vm_h_boot_context(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        RmVmBootContext c;
        SimVm *vm;
        uint32_t e;

        if (rm_decode_vm_set_boot_context(p, len, &c) < 0)
                return RM_ERROR_MSG_INVALID;
        if ((e = lookup(s, caller, c.vmid, RM_VM_STATUS_READY, &vm)))
                return e;
        /* the hypervisor's bounds (vcpu_register_write): X0-X30, PC 0, SP_EL0-1 */
        switch (c.reg_set) {
        case RM_REG_SET_X:
                if (c.reg_index > 30)
                        return RM_ERROR_ARGUMENT_INVALID;
                vm->x[c.reg_index] = c.value;
                vm->x_set |= 1u << c.reg_index;
                return RM_OK;
        case RM_REG_SET_PC:
                if (c.reg_index != 0 || (c.value & 3) || c.value >= RM_ADDR_LIMIT)
                        return RM_ERROR_ARGUMENT_INVALID;
                vm->pc = c.value;
                vm->pc_set = true;
                return RM_OK;
        case RM_REG_SET_SP:
                if (c.reg_index > 1)
                        return RM_ERROR_ARGUMENT_INVALID;
                vm->sp[c.reg_index] = c.value;
                return RM_OK;
        default:
                return RM_ERROR_ARGUMENT_INVALID;
        }
}

uint32_t sim_vm_h_demand_paging(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        size_t cap = len >= 8 ? (len - 8) / 16 + 1 : 1, n;
        _cleanup_free_ RmRange *ranges = malloc(cap * sizeof(*ranges));
        uint16_t vmid;
        SimVm *vm;
        uint32_t e;

        if (!ranges)
                return RM_ERROR_NOMEM;
        if (rm_decode_vm_set_demand_paging(p, len, &vmid, ranges, cap, &n) < 0)
                return RM_ERROR_MSG_INVALID;
        if ((e = lookup(s, caller, vmid, RM_VM_STATUS_INIT, &vm)))
                return e;
        if (vm->layout_set || vm->dp_set)
                return RM_ERROR_VM_STATE; /* v17 order: once, before ADDRESS_LAYOUT */
        if (n == 0)
                return RM_ERROR_ARGUMENT_INVALID;
        for (size_t i = 0; i < n; i++) {
                if (!range_ok(ranges[i].base, ranges[i].size))
                        return RM_ERROR_ARGUMENT_INVALID;
                for (size_t j = 0; j < i; j++)
                        if (ranges[i].base < ranges[j].base + ranges[j].size &&
                            ranges[j].base < ranges[i].base + ranges[i].size)
                                return RM_ERROR_ARGUMENT_INVALID;
        }
        vm->dp = TAKE_PTR(ranges);
        vm->n_dp = n;
        vm->dp_set = true;
        return RM_OK;
}

uint32_t sim_vm_h_address_layout(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        RmVmAddressLayout m;
        SimParcel *img;
        SimVm *vm;
        uint32_t e;

        if (rm_decode_vm_set_address_layout(p, len, &m) < 0)
                return RM_ERROR_MSG_INVALID;
        if ((e = lookup(s, caller, m.vmid, RM_VM_STATUS_INIT, &vm)))
                return e;
        if (m.range_id > RM_RANGE_FIRMWARE || !range_ok(m.base, m.size))
                return RM_ERROR_ARGUMENT_INVALID;
        if (m.range_id == RM_RANGE_FIRMWARE)
                return RM_OK; /* recorded nowhere: no firmware is loaded by the simulator */
        img = sim_parcel_get(s, vm->image_handle);
        if (vm->layout_set || !img || m.size < img->size)
                return RM_ERROR_ARGUMENT_INVALID;
        for (size_t i = 0; i < vm->n_dp; i++)
                if (m.base < vm->dp[i].base + vm->dp[i].size && vm->dp[i].base < m.base + m.size)
                        return RM_ERROR_ARGUMENT_INVALID; /* image overlaps demand-paged memory */
        vm->layout_set = true;
        vm->layout_base = m.base;
        vm->layout_size = m.size;
        return RM_OK;
}
