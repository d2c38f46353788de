/* SPDX-License-Identifier: MIT */
/*
 * Demand paging. The VM's RAM is split in two: the image parcel (kernel, initrd, DTB,
 * rounded up to 2 MiB) lent at start, and the demand-paged region after it, registered with
 * VM_SET_DEMAND_PAGING and cut into equal blocks so that the image parcel plus every block
 * stays within RM_MAX_PARCELS_PER_VM (64) parcels. A fault event (RM_NOTIFY_SIM_PAGE_FAULT,
 * the simulator's stand-in for the host kernel's fault report) is served by lending the
 * block that covers the IPA (zeroed first where it may hold data: the daemon writes to a range
 * only before lending it), then MEM_NOTIFY(SHARED) to the VM; MEM_ACCEPTED resolves the
 * fault. Memory the guest gives back (MEM_RELEASED) is reclaimed (MEM_RECLAIM with SANITIZE)
 * and freed to the pool clean (the RM zeroed it).
 *
 * Host placement: a block is backed, when the pool allows it, by the host range at the same
 * address as the guest block (the simulated guest maps a parcel at its first SGL address);
 * otherwise by any free granules. The mem_info_tag of a block is its guest page number
 * (guest IPA >> 12), so a borrower can place it without guessing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "manager-internal.h"
#include "rm-error.h"
#include "rm-ids.h"
#include "rm-mem.h"
#include "rm-notify.h"
#include "rm-types.h"

int vm_paging_setup(Vm *vm)
{
        uint64_t mem = vm->config.memory_size;

        return vm_paging_setup_image(vm, vm->config.demand_paging
                                                 ? MIN(ALIGN_TO(vm->layout.image_end, POOL_BLOCK), mem)
                                                 : mem);
}

int vm_paging_setup_image(Vm *vm, uint64_t image_parcel_size)
{
        uint64_t mem = vm->config.memory_size;

        free(vm->blocks);
        vm->blocks = NULL;
        vm->n_blocks = 0;
        vm->dp_base = vm->dp_size = vm->dp_block = 0;
        if (!vm->config.demand_paging) {
                vm->image_parcel_size = mem;
                return 0;
        }
        vm->image_parcel_size = MIN(image_parcel_size, mem);
        vm->dp_base = vm->config.memory_base + vm->image_parcel_size;
        vm->dp_size = mem - vm->image_parcel_size;
        if (vm->dp_size == 0)
                return 0;
        /* One parcel is the image: the blocks get the other 63. */
        uint64_t per = (vm->dp_size + (MANAGER_DP_MAX_PARCELS - 1) - 1) / (MANAGER_DP_MAX_PARCELS - 1);
        vm->dp_block = MAX(POOL_BLOCK, ALIGN_TO(per, POOL_BLOCK));
        vm->n_blocks = (vm->dp_size + vm->dp_block - 1) / vm->dp_block;
        vm->blocks = calloc(vm->n_blocks, sizeof(VmBlock));
        if (!vm->blocks)
                return -ENOMEM;
        for (size_t b = 0; b < vm->n_blocks; b++)
                vm->blocks[b].parcel = -1;
        return 0;
}

static void fault_failed(Vm *vm, size_t b, const char *why)
{
        vm->paging.faults_failed++;
        if (b < vm->n_blocks)
                vm->blocks[b].pending = false;
        log_vm_warning(vm->config.name, vm->vmid, "Demand-paging fault not served: %s", why);
        vm_event(vm, EVENT_VM_PAGE_FAULT, NULL, "fault not served: %s", why);
}

/* Undo a block whose lend or notify failed: reclaim if lent, free the pool range. */
static void block_drop_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                            void *userdata)
{
        uint64_t ipa = (uint64_t)(uintptr_t)userdata;
        int i = vm_find_parcel_ipa(vm, ipa);

        if (r < 0 && !(r == -EREMOTEIO && rm_error == RM_ERROR_HANDLE_INVALID)) {
                /* Keep it recorded: stop/destroy reclaims it later. */
                log_vm_warning(vm->config.name, vm->vmid, "MEM_RECLAIM of a failed block: %s",
                               r == -EREMOTEIO ? rm_error_to_string(rm_error) : strerror(-r));
                return;
        }
        if (i >= 0) {
                vm_release_ranges(vm, vm->parcels[i].host, vm->parcels[i].n_host);
                vm_remove_parcel(vm, (size_t)i);
                vm_save_runtime_later(vm);
        }
}

static void block_drop(Vm *vm, uint64_t ipa)
{
        int i = vm_find_parcel_ipa(vm, ipa);
        uint8_t buf[8];

        if (i < 0)
                return;
        if (vm->parcels[i].handle == RM_MEM_HANDLE_INVALID)
                return block_drop_done(vm, 0, 0, NULL, 0, (void *)(uintptr_t)ipa);
        RmMemHandleReq q = { .handle = vm->parcels[i].handle, .flags = RM_MEM_RELEASE_FLAG_SANITIZE };
        ssize_t n = rm_encode_mem_handle_req(buf, sizeof(buf), &q);
        vm_call(vm, RM_MEM_RECLAIM, buf, (size_t)n, block_drop_done, (void *)(uintptr_t)ipa);
}

static size_t block_of(const Vm *vm, uint64_t ipa)
{
        return (size_t)((ipa - vm->dp_base) / vm->dp_block);
}

/* A block's lend whose outcome is unknown was looked up (vm_parcel_resolve). */
static void block_resolved(Vm *vm, uint64_t ipa, VmResolve res, int r, void *userdata)
{
        size_t b = block_of(vm, ipa);
        int i = vm_find_parcel_ipa(vm, ipa);

        switch (res) {
        case VM_RESOLVE_LENT:
        case VM_RESOLVE_NOT_LENT:
                if (b < vm->n_blocks)
                        vm->blocks[b].pending = false;
                return block_drop(vm, ipa); /* reclaim it, or just free the range */
        case VM_RESOLVE_UNKNOWN:
                if (b < vm->n_blocks)
                        vm->blocks[b].pending = false;
                if (i >= 0)
                        vm_parcel_quarantine(vm, (size_t)i,
                                             "whether MEM_LEND happened is unknown and "
                                             "MEM_QCOM_LOOKUP_SGL cannot tell");
                return;
        case VM_RESOLVE_RETRY:
        default:
                /* Still pending (recorded): recovery at the next link-up, or the release
                 * of the VM, looks it up again. The block stays busy meanwhile. */
                if (b < vm->n_blocks)
                        vm->blocks[b].pending = true;
                log_vm_warning(vm->config.name, vm->vmid,
                               "Lend of the block at 0x%" PRIx64 " unresolved (%s): kept pending",
                               ipa, strerror(-r));
                return;
        }
}

void vm_paging_resolve_pending(Vm *vm)
{
        for (size_t i = 0; i < vm->n_parcels; i++) {
                VmParcel *p = &vm->parcels[i];
                if (p->pending && p->kind == VM_PARCEL_DEMAND && p->handle == RM_MEM_HANDLE_INVALID)
                        vm_parcel_resolve(vm, p->guest_ipa, block_resolved, NULL);
        }
}

static void block_notify_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                              void *userdata)
{
        uint64_t ipa = (uint64_t)(uintptr_t)userdata;
        size_t b = block_of(vm, ipa);
        int i = vm_find_parcel_ipa(vm, ipa);

        if (r == -EREMOTEIO && rm_error == RM_ERROR_HANDLE_INVALID && i >= 0 &&
            !vm->parcels[i].looked_up) {
                /* The RM does not know the handle its MEM_LEND reply carried: the reply was
                 * garbled. The parcel may exist under another handle: look it up. */
                fault_failed(vm, b, "MEM_NOTIFY: the RM does not know the lent handle");
                vm->parcels[i].handle = RM_MEM_HANDLE_INVALID;
                vm->parcels[i].pending = true;
                if (b < vm->n_blocks) {
                        vm->blocks[b].parcel = -1;
                        vm->blocks[b].pending = true;
                }
                (void)vm_save_runtime(vm);
                return vm_parcel_resolve(vm, ipa, block_resolved, NULL);
        }
        if (r < 0) {
                fault_failed(vm, b, r == -EREMOTEIO ? "MEM_NOTIFY refused by the RM"
                                                    : "MEM_NOTIFY failed");
                return block_drop(vm, ipa);
        }
        /* MEM_ACCEPTED (manager_on_mem_accepted) completes the fault. */
}

static void block_lent(Vm *vm, uint64_t ipa, int r, uint32_t rm_error, uint32_t msg_id,
                       void *userdata)
{
        size_t b = block_of(vm, ipa);
        int i = vm_find_parcel_ipa(vm, ipa);
        uint16_t vmid = vm->vmid;
        uint8_t buf[32];

        if (r < 0 || i < 0) {
                fault_failed(vm, b, r == -EREMOTEIO ? "MEM_LEND refused by the RM" : "lend failed");
                if (i >= 0 && vm->parcels[i].pending) {
                        /* No usable answer (or one we cannot trust): did the RM create it? */
                        vm->blocks[b].pending = true;
                        return vm_parcel_resolve(vm, ipa, block_resolved, NULL);
                }
                return block_drop(vm, ipa);
        }
        vm->blocks[b].parcel = i;
        RmMemNotify q = {
                .handle = vm->parcels[i].handle,
                .flags = RM_MEM_NOTIFY_SHARED,
                .mem_info_tag = (uint32_t)(ipa >> 12),
                .n_vmids = 1,
                .vmids = &vmid,
        };
        ssize_t n = rm_encode_mem_notify(buf, sizeof(buf), &q);
        vm_call(vm, RM_MEM_NOTIFY, buf, (size_t)n, block_notify_done, (void *)(uintptr_t)ipa);
}

static int block_alloc(Vm *vm, uint64_t ipa, uint64_t size, PoolExtent **ret, size_t *ret_n)
{
        Pool *pool = vm->manager->pool;

        /* Same host address as the guest block when that part of the pool is free. */
        if (ipa >= pool_ipa(pool) && ipa + size <= pool_ipa(pool) + pool_size(pool) &&
            pool_reserve(pool, ipa, size) == 0) {
                *ret = malloc(sizeof(PoolExtent));
                if (!*ret) {
                        (void)pool_release(pool, ipa, size);
                        return -ENOMEM;
                }
                (*ret)[0] = (PoolExtent){ .ipa = ipa, .size = size };
                *ret_n = 1;
                return 0;
        }
        return pool_alloc(pool, size, 0, ret, ret_n);
}

void manager_on_page_fault(Manager *m, const uint8_t *p, size_t len)
{
        _cleanup_free_ PoolExtent *e = NULL;
        RmNotifySimPageFault f;
        size_t n = 0, b;
        Vm *vm;
        int r;

        if (rm_decode_notify_sim_page_fault(p, len, &f) < 0) {
                log_warning("Malformed SIM_PAGE_FAULT notification ignored");
                return;
        }
        vm = manager_vm_lookup_vmid(m, f.vmid);
        if (!vm || vm->hidden) {
                log_warning("Page fault for unknown VMID %u ignored", f.vmid);
                return;
        }
        if (vm->state != VM_STATE_RUNNING || vm->dp_size == 0 || f.ipa < vm->dp_base ||
            f.ipa - vm->dp_base >= vm->dp_size)
                return fault_failed(vm, SIZE_MAX, "IPA outside the demand-paged region or VM not running");
        b = block_of(vm, f.ipa);
        if (vm->blocks[b].pending || vm->blocks[b].parcel >= 0 ||
            vm_find_parcel_ipa(vm, vm->dp_base + (uint64_t)b * vm->dp_block) >= 0) {
                log_vm_debug(vm->config.name, vm->vmid, "fault at 0x%" PRIx64 ": block %zu busy",
                             f.ipa, b);
                return;
        }
        uint64_t start = vm->dp_base + (uint64_t)b * vm->dp_block;
        uint64_t size = MIN(vm->dp_block, vm->dp_base + vm->dp_size - start);
        vm->blocks[b].pending = true;
        vm->blocks[b].fault_usec = manager_now_usec();

        r = block_alloc(vm, start, size, &e, &n);
        if (r < 0)
                return fault_failed(vm, b, "the host pool is exhausted");
        /* Zero before lending: after MEM_LEND the daemon never touches the range. Only the
         * granules that may hold data are written (pool.h, "Dirty tracking"): never handed
         * out since the pool was created, or given back by a sanitizing MEM_RECLAIM, they
         * are zero already. */
        r = pool_extents_write(m->pool, e, n, 0, NULL, size);
        if (r >= 0)
                r = vm_add_ranges(vm, e, n);
        if (r < 0) {
                (void)pool_release_extents(m->pool, e, n);
                return fault_failed(vm, b, "cannot prepare the block");
        }
        r = vm_add_parcel(vm, VM_PARCEL_DEMAND, start, e, n);
        if (r < 0) {
                vm_release_ranges(vm, e, n);
                return fault_failed(vm, b, "out of memory");
        }
        /* vm_lend() records the pending lend (one record write) before MEM_LEND goes out,
         * and the handle when it arrives. */
        log_vm_debug(vm->config.name, vm->vmid, "fault at 0x%" PRIx64 ": lending block %zu "
                     "[0x%" PRIx64 ", +0x%" PRIx64 ")", f.ipa, b, start, size);
        vm_lend(vm, start, block_lent, NULL);
}

static Vm *vm_by_handle(Manager *m, uint16_t vmid, uint32_t handle, int *ret_i)
{
        Vm *vm = manager_vm_lookup_vmid(m, vmid);

        if (vm && (*ret_i = vm_find_parcel(vm, handle)) >= 0)
                return vm;
        for (vm = m->vms; vm; vm = vm->next)
                if ((*ret_i = vm_find_parcel(vm, handle)) >= 0)
                        return vm;
        return NULL;
}

void manager_on_mem_accepted(Manager *m, const uint8_t *p, size_t len)
{
        RmNotifyMemOwner n;
        Vm *vm;
        int i;

        if (rm_decode_notify_mem_owner(p, len, &n) < 0)
                return log_warning("Malformed MEM_ACCEPTED ignored");
        vm = vm_by_handle(m, n.vmid, n.handle, &i);
        if (!vm)
                return log_debug("MEM_ACCEPTED for unknown parcel 0x%x", n.handle);
        VmParcel *pc = &vm->parcels[i];
        if (pc->accepted)
                return;
        pc->accepted = true;
        if (pc->kind == VM_PARCEL_DEMAND && vm->dp_block) {
                size_t b = block_of(vm, pc->guest_ipa);
                if (b < vm->n_blocks && vm->blocks[b].pending) {
                        uint64_t lat = manager_now_usec() - vm->blocks[b].fault_usec;
                        vm->blocks[b].pending = false;
                        vm->paging.faults_served++;
                        vm->paging.bytes_lent += pc->size;
                        vm->paging.latency_last_usec = lat;
                        vm->paging.latency_max_usec = MAX(vm->paging.latency_max_usec, lat);
                        vm->paging.latency_total_usec += lat;
                        EventCause cause = { .kind = EVENT_CAUSE_RM, .rm_msg_id = RM_NOTIFY_MEM_ACCEPTED };
                        vm_event(vm, EVENT_VM_PAGE_FAULT, &cause,
                                 "block at 0x%" PRIx64 " (%" PRIu64 " bytes) lent as parcel 0x%x in %" PRIu64 " us",
                                 pc->guest_ipa, pc->size, pc->handle, lat);
                }
        }
        vm_save_runtime_later(vm);
}

static void released_reclaim_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                                  void *userdata)
{
        uint32_t handle = (uint32_t)(uintptr_t)userdata;
        int i = vm_find_parcel(vm, handle);

        if (r < 0 && !(r == -EREMOTEIO && rm_error == RM_ERROR_HANDLE_INVALID)) {
                log_vm_warning(vm->config.name, vm->vmid, "MEM_RECLAIM of released parcel 0x%x: %s",
                               handle, r == -EREMOTEIO ? rm_error_to_string(rm_error) : strerror(-r));
                return;
        }
        if (i < 0)
                return;
        VmParcel *pc = &vm->parcels[i];
        uint64_t size = pc->size;
        if (pc->kind == VM_PARCEL_DEMAND)
                vm->paging.bytes_lent -= MIN(vm->paging.bytes_lent, size);
        vm->paging.bytes_reclaimed += size;
        /* An OK reply to MEM_RECLAIM with SANITIZE: the RM zeroed the parcel. */
        vm_release_parcel_reclaimed(vm, pc, r == 0);
        vm_remove_parcel(vm, (size_t)i);
        vm_save_runtime_later(vm);
        EventCause cause = { .kind = EVENT_CAUSE_RM, .rm_msg_id = RM_NOTIFY_MEM_RELEASED };
        vm_event(vm, EVENT_VM_MEMORY, &cause, "parcel 0x%x (%" PRIu64 " bytes) released by the guest and reclaimed",
                 handle, size);
}

void manager_on_mem_released(Manager *m, const uint8_t *p, size_t len)
{
        RmNotifyMemOwner n;
        uint8_t buf[8];
        Vm *vm;
        int i;

        if (rm_decode_notify_mem_owner(p, len, &n) < 0)
                return log_warning("Malformed MEM_RELEASED ignored");
        vm = vm_by_handle(m, n.vmid, n.handle, &i);
        if (!vm)
                return log_debug("MEM_RELEASED for unknown parcel 0x%x", n.handle);
        vm->parcels[i].accepted = false;
        /* During stop/destroy/reset the release loop reclaims everything itself. */
        if (vm->op || vm->state != VM_STATE_RUNNING) {
                vm_save_runtime_later(vm);
                return;
        }
        RmMemHandleReq q = { .handle = n.handle, .flags = RM_MEM_RELEASE_FLAG_SANITIZE };
        ssize_t k = rm_encode_mem_handle_req(buf, sizeof(buf), &q);
        vm_call(vm, RM_MEM_RECLAIM, buf, (size_t)k, released_reclaim_done,
                (void *)(uintptr_t)n.handle);
}
