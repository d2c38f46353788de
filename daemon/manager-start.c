/* SPDX-License-Identifier: MIT */
/*
 * Start: the v17 order (architecture.md "VM lifecycle", rm-protocol.md section 12):
 *   VM_ALLOCATE(0) -> load kernel/initrd/DTB into the pool -> MEM_LEND image parcel
 *   (+ MEM_APPEND) -> VM_CONFIG_IMAGE -> VM_SET_DEMAND_PAGING (if any) ->
 *   VM_SET_ADDRESS_LAYOUT -> VM_INIT -> VM_SET_BOOT_CONTEXT (PC, X0..X3) ->
 *   VM_GET_HYP_RESOURCES -> VM_START.
 * The open RM answers UNIMPLEMENTED to the three v17 calls; the layout is the same for both
 * conventions (the DT carries kernel-entry-offset, the DTB sits in the image parcel at
 * dtb_offset), so the manager skips what the RM lacks. Capabilities are probed at link-up,
 * so a VM needing demand paging on the open RM is refused before anything is allocated.
 * Any failure hands over to the release loop (manager-stop.c), which unwinds whatever the
 * RM and the pool hold for the VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dtb.h"
#include "log.h"
#include "macro.h"
#include "manager-internal.h"
#include "rm-error.h"
#include "rm-ids.h"
#include "rm-types.h"
#include "rm-vm.h"

typedef struct StartStep {
        const char *name;
        void (*run)(Vm *vm);
} StartStep;

static void step_allocate(Vm *vm);
static void step_load(Vm *vm);
static void step_lend(Vm *vm);
static void step_config_image(Vm *vm);
static void step_demand_paging(Vm *vm);
static void step_address_layout(Vm *vm);
static void step_init(Vm *vm);
static void step_boot_context(Vm *vm);
static void step_hyp_resources(Vm *vm);
static void step_start(Vm *vm);

static const StartStep start_steps[] = {
        { "allocate", step_allocate },
        { "load-image", step_load },
        { "lend", step_lend },
        { "config-image", step_config_image },
        { "demand-paging", step_demand_paging },
        { "address-layout", step_address_layout },
        { "init", step_init },
        { "boot-context", step_boot_context },
        { "hyp-resources", step_hyp_resources },
        { "start", step_start },
};

static bool vm_has_dp(const Vm *vm)
{
        return vm->config.demand_paging && vm->dp_size > 0;
}

static void start_progress(Vm *vm, const char *detail, uint32_t handle, uint64_t bytes,
                           size_t sgl)
{
        VmOp *op = vm->op;
        ManagerProgress p = {
                .stage = start_steps[op->step].name,
                .step = op->step + 1 - (!vm_has_dp(vm) && op->step > 4 ? 1 : 0),
                .n_steps = op->n_steps,
                .parcel_handle = handle,
                .parcel_bytes = bytes,
                .sgl_entries = sgl,
                .detail = detail,
        };

        vm_event(vm, EVENT_VM_PROGRESS, &op->cause, "%s%s%s", p.stage, detail ? ": " : "",
                 detail ? detail : "");
        if (!op->detached && op->progress)
                op->progress(vm->manager, vm, &p, op->userdata);
}

static void start_unwound(Vm *vm, int r, const ManagerError *err)
{
        VmOp *op = vm->op;

        if (r < 0) {
                /* The RM or the pool still holds something: keep it recorded, retry later. */
                log_vm_error(vm->config.name, vm->vmid ? vm->vmid : -1,
                             "Unwinding the failed start left resources: %s", err->message);
                vm_set_state(vm, VM_STATE_FAILED, &op->cause);
        } else {
                vm_set_state(vm, VM_STATE_STOPPED, &op->cause);
                if (!vm->config.persistent)
                        vm_delete_records(vm, true);
        }
        vm_event(vm, EVENT_VM_START_FAILED, &op->cause, "%s", op->err.message);
        vm_op_finish(vm, op->error, &op->err);
}

static void start_fail(Vm *vm, int r, const ManagerError *err)
{
        VmOp *op = vm->op;

        op->error = r;
        op->err = *err;
        log_vm_error(vm->config.name, vm->vmid ? vm->vmid : -1, "Start of VM %s failed at %s: %s",
                     vm->config.name, start_steps[op->step].name, err->message);
        if (vm->load_kernel_fd >= 0)
                close(vm->load_kernel_fd);
        if (vm->load_initrd_fd >= 0)
                close(vm->load_initrd_fd);
        vm->load_kernel_fd = vm->load_initrd_fd = -1;
        free(vm->dtb);
        vm->dtb = NULL;
        /* Unwinding a failed start retries transient RM errors: nothing may stay behind. */
        vm->release_strict = false;
        vm_set_state(vm, VM_STATE_RELEASING, &op->cause);
        vm_release_begin(vm, start_unwound);
}

/* A record write that protects what the RM holds failed (vm_save_runtime() logged it): a
 * daemon restart could not recover what follows, so the start fails and is unwound. */
static void start_fail_store(Vm *vm, int r, const char *what)
{
        const char *why = r == -EINVAL  ? "the record fails validation"
                          : r == -E2BIG ? "the record is over 64 MiB"
                                        : strerror(-r);
        ManagerError e;

        manager_error_set(&e, -EIO,
                          "Cannot write %s/%s.json (%s) %s; a daemon restart could not recover "
                          "the VM: start undone",
                          vm->vmid ? "runtime" : "definitions", vm->config.name, why, what);
        start_fail(vm, -EIO, &e);
}

static void start_fail_rm(Vm *vm, uint32_t msg_id, int r, uint32_t rm_error)
{
        ManagerError e;
        /* the classified error: an aborted reassembly (-EIO) is a malformed reply */
        start_fail(vm, manager_error_rm(&e, msg_id, r, rm_error), &e);
}

static void start_run_step(Vm *vm)
{
        VmOp *op = vm->op;

        if (op->step >= ELEMENTSOF(start_steps))
                return;
        start_steps[op->step].run(vm);
}

static void start_next(Vm *vm)
{
        vm->op->step++;
        start_run_step(vm);
}

/* ---- allocate ---- */

static void allocate_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                          void *userdata)
{
        uint16_t vmid;

        if (r < 0) {
                /* No answer (or a garbled one): the RM may have allocated a VMID anyway. */
                if (r != -EREMOTEIO && r != -ENOTCONN && r != -ENOMEM)
                        vm->manager->scan_needed = true;
                return start_fail_rm(vm, RM_VM_ALLOCATE, r, rm_error);
        }
        if (rm_decode_vm_allocate_reply(d, n, &vmid) < 0 || vmid == 0) {
                ManagerError e;
                manager_error_set(&e, -EBADMSG, "VM_ALLOCATE failed: malformed reply");
                e.rm_msg_id = RM_VM_ALLOCATE;
                vm->manager->scan_needed = true;
                return start_fail(vm, -EBADMSG, &e);
        }
        vm->vmid = vmid;
        vm->rm_status = RM_VM_STATUS_LOAD;
        vm->rm_status_known = true;
        log_vm_info(vm->config.name, vmid, "VM %s allocated VMID %u", vm->config.name, vmid);
        /* Record the VMID before anything else happens: recovery must find it. Without the
         * record a restart could not adopt the VM (the VMID scan would only release it) nor
         * know what gets lent to it: fail and unwind instead. */
        r = vm_save_runtime(vm);
        if (r < 0)
                return start_fail_store(vm, r, "after VM_ALLOCATE");
        start_next(vm);
}

static void step_allocate(Vm *vm)
{
        uint8_t buf[4];

        start_progress(vm, NULL, 0, 0, 0);
        /* Recovery needs the definition while the RM holds the VM; a state directory that
         * cannot take it will not take the runtime record either: fail before VM_ALLOCATE. */
        if (!vm->config.persistent) {
                int r = vm_save_definition(vm);
                if (r < 0)
                        return start_fail_store(vm, r, "before VM_ALLOCATE");
        }
        ssize_t n = rm_encode_vmid_req(buf, sizeof(buf), 0);
        vm_call(vm, RM_VM_ALLOCATE, buf, (size_t)n, allocate_done, NULL);
}

/* ---- load ---- */

static void step_load(Vm *vm)
{
        Manager *m = vm->manager;
        _cleanup_free_ PoolExtent *e = NULL;
        const char *reason = NULL;
        ManagerError err;
        size_t n = 0;
        int r;

        start_progress(vm, NULL, 0, vm->image_parcel_size, 0);
        r = pool_alloc(m->pool, vm->image_parcel_size, POOL_ALLOC_BASE, &e, &n);
        if (r < 0) {
                manager_error_set(&err, -ENOMEM,
                                  "The host pool cannot hold %" PRIu64 " bytes for VM %s (%" PRIu64
                                  " free)",
                                  vm->image_parcel_size, vm->config.name, pool_available(m->pool));
                return start_fail(vm, -ENOMEM, &err);
        }
        r = vm_add_ranges(vm, e, n);
        if (r < 0) {
                (void)pool_release_extents(m->pool, e, n);
                manager_error_set(&err, r, "Out of memory");
                return start_fail(vm, r, &err);
        }
        /* Not recorded yet: the ranges stay the daemon's own memory (a restart rebuilds the
         * pool from the records and finds them free) until the pending lend is recorded
         * before MEM_LEND, which fails the start if it cannot be. */
        r = dtb_build(&vm->config, &vm->layout, NULL, &vm->dtb, &vm->dtb_size);
        if (r < 0) {
                manager_error_set(&err, r == -E2BIG ? -ENOEXEC : r,
                                  "Cannot build the devicetree of VM %s: %s", vm->config.name,
                                  strerror(-r));
                return start_fail(vm, err.message[0] && r == -E2BIG ? -ENOEXEC : r, &err);
        }
        r = image_load(m->pool, e, n, &vm->layout, vm->load_kernel_fd, vm->load_initrd_fd,
                       vm->dtb, vm->dtb_size, &reason);
        if (r < 0) {
                manager_error_set(&err, -ENOEXEC, "Cannot load the image of VM %s: %s",
                                  vm->config.name, reason ? reason : strerror(-r));
                return start_fail(vm, -ENOEXEC, &err);
        }
        if (vm->load_kernel_fd >= 0)
                close(vm->load_kernel_fd);
        if (vm->load_initrd_fd >= 0)
                close(vm->load_initrd_fd);
        vm->load_kernel_fd = vm->load_initrd_fd = -1;
        r = vm_add_parcel(vm, VM_PARCEL_IMAGE, vm->config.memory_base, e, n);
        if (r < 0) {
                manager_error_set(&err, r, "Out of memory");
                return start_fail(vm, r, &err);
        }
        start_next(vm);
}

/* ---- lend ---- */

static void lend_done(Vm *vm, uint64_t guest_ipa, int r, uint32_t rm_error, uint32_t msg_id,
                      void *userdata)
{
        int i = vm_find_parcel_ipa(vm, guest_ipa);

        if (r < 0 && msg_id == 0) { /* vm_lend(): the record write failed */
                bool lent = i >= 0 && vm->parcels[i].handle != RM_MEM_HANDLE_INVALID;

                return start_fail_store(vm, r,
                                        lent ? "after the MEM_LEND reply" : "before MEM_LEND");
        }
        if (r < 0)
                return start_fail_rm(vm, msg_id, r, rm_error);
        if (i >= 0) {
                const VmParcel *p = &vm->parcels[i];
                char detail[64];
                snprintf(detail, sizeof(detail), "parcel 0x%x, %zu SGL entries", p->handle,
                         p->n_host);
                start_progress(vm, detail, p->handle, p->size, p->n_host);
        }
        start_next(vm);
}

static void step_lend(Vm *vm)
{
        vm_lend(vm, vm->config.memory_base, lend_done, NULL);
}

/* ---- config image ---- */

static void config_image_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                              void *userdata)
{
        if (r < 0)
                return start_fail_rm(vm, RM_VM_CONFIG_IMAGE, r, rm_error);
        vm->rm_status = RM_VM_STATUS_INIT;
        start_next(vm);
}

static void step_config_image(Vm *vm)
{
        int i = vm_find_parcel_ipa(vm, vm->config.memory_base);
        uint8_t buf[40];
        RmVmConfigImage c = {
                .vmid = vm->vmid,
                .auth = RM_AUTH_NONE,
                .handle = i >= 0 ? vm->parcels[i].handle : RM_MEM_HANDLE_INVALID,
                .image_offset = vm->layout.kernel_offset,
                .image_size = vm->layout.kernel_size,
                .dtb_offset = vm->layout.dtb_offset,
                .dtb_size = vm->layout.dtb_size,
        };

        start_progress(vm, NULL, c.handle, 0, 0);
        ssize_t n = rm_encode_vm_config_image(buf, sizeof(buf), &c);
        vm_call(vm, RM_VM_CONFIG_IMAGE, buf, (size_t)n, config_image_done, NULL);
}

/* ---- demand paging ---- */

static void demand_paging_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                               void *userdata)
{
        Manager *m = vm->manager;

        if (r == -EREMOTEIO && rm_error == RM_ERROR_UNIMPLEMENTED) {
                ManagerError e;
                m->caps &= ~MANAGER_CAP_DEMAND_PAGING;
                manager_error_set(&e, -EOPNOTSUPP,
                                  "VM %s needs demand paging, which this RM does not implement "
                                  "(VM_SET_DEMAND_PAGING answered UNIMPLEMENTED)",
                                  vm->config.name);
                e.rm_msg_id = RM_VM_SET_DEMAND_PAGING;
                return start_fail(vm, -EOPNOTSUPP, &e);
        }
        if (r < 0)
                return start_fail_rm(vm, RM_VM_SET_DEMAND_PAGING, r, rm_error);
        m->caps |= MANAGER_CAP_DEMAND_PAGING;
        start_next(vm);
}

static void step_demand_paging(Vm *vm)
{
        RmRange range = { .base = vm->dp_base, .size = vm->dp_size };
        uint8_t buf[8 + 16];

        if (!vm_has_dp(vm))
                return start_next(vm); /* not counted in n_steps */
        start_progress(vm, NULL, 0, vm->dp_size, 0);
        ssize_t n = rm_encode_vm_set_demand_paging(buf, sizeof(buf), vm->vmid, &range, 1);
        vm_call(vm, RM_VM_SET_DEMAND_PAGING, buf, (size_t)n, demand_paging_done, NULL);
}

/* ---- address layout ---- */

static void address_layout_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                                void *userdata)
{
        Manager *m = vm->manager;

        if (r == -EREMOTEIO && rm_error == RM_ERROR_UNIMPLEMENTED) {
                m->caps &= ~MANAGER_CAP_ADDRESS_LAYOUT;
                log_vm_info(vm->config.name, vm->vmid,
                            "VM_SET_ADDRESS_LAYOUT is not implemented: open RM convention");
                vm->boot = VM_BOOT_OPEN_RM;
                return start_next(vm);
        }
        if (r < 0)
                return start_fail_rm(vm, RM_VM_SET_ADDRESS_LAYOUT, r, rm_error);
        m->caps |= MANAGER_CAP_ADDRESS_LAYOUT;
        start_next(vm);
}

static void step_address_layout(Vm *vm)
{
        Manager *m = vm->manager;
        uint8_t buf[24];
        RmVmAddressLayout l = {
                .vmid = vm->vmid,
                .range_id = RM_RANGE_IMAGE,
                .base = vm->config.memory_base,
                .size = vm->image_parcel_size,
        };

        if (m->caps_known && !(m->caps & MANAGER_CAP_ADDRESS_LAYOUT)) {
                start_progress(vm, "skipped: the RM has no VM_SET_ADDRESS_LAYOUT (open RM)", 0,
                               0, 0);
                return start_next(vm);
        }
        start_progress(vm, NULL, 0, l.size, 0);
        ssize_t n = rm_encode_vm_set_address_layout(buf, sizeof(buf), &l);
        vm_call(vm, RM_VM_SET_ADDRESS_LAYOUT, buf, (size_t)n, address_layout_done, NULL);
}

/* ---- init ---- */

static void init_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                      void *userdata)
{
        if (r < 0)
                return start_fail_rm(vm, RM_VM_INIT, r, rm_error);
        vm->rm_status = RM_VM_STATUS_READY;
        start_next(vm);
}

static void step_init(Vm *vm)
{
        uint8_t buf[4];

        start_progress(vm, NULL, 0, 0, 0);
        ssize_t n = rm_encode_vmid_req(buf, sizeof(buf), vm->vmid);
        vm_call(vm, RM_VM_INIT, buf, (size_t)n, init_done, NULL);
}

/* ---- boot context: PC, then X0..X3 (one call per register, as Linux v17 does) ---- */

#define BOOT_REGS 5u

static void boot_context_send(Vm *vm, unsigned idx);

static void boot_context_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                              void *userdata)
{
        Manager *m = vm->manager;
        unsigned idx = (unsigned)(uintptr_t)userdata;

        if (r == -EREMOTEIO && rm_error == RM_ERROR_UNIMPLEMENTED && idx == 0) {
                m->caps &= ~MANAGER_CAP_BOOT_CONTEXT;
                log_vm_info(vm->config.name, vm->vmid,
                            "VM_SET_BOOT_CONTEXT is not implemented: open RM boot convention "
                            "(kernel-entry-offset in the DT, DTB via VM_CONFIG_IMAGE)");
                vm->boot = VM_BOOT_OPEN_RM;
                return start_next(vm);
        }
        if (r < 0)
                return start_fail_rm(vm, RM_VM_SET_BOOT_CONTEXT, r, rm_error);
        m->caps |= MANAGER_CAP_BOOT_CONTEXT;
        if (idx + 1 < BOOT_REGS)
                return boot_context_send(vm, idx + 1);
        vm->boot = VM_BOOT_V17;
        start_next(vm);
}

static void boot_context_send(Vm *vm, unsigned idx)
{
        ImageBootContext bc;
        uint8_t buf[16];
        RmVmBootContext c = { .vmid = vm->vmid };

        image_boot_context(&vm->layout, &bc);
        if (idx == 0) {
                c.reg_set = RM_REG_SET_PC;
                c.value = bc.pc;
        } else {
                c.reg_set = RM_REG_SET_X;
                c.reg_index = (uint8_t)(idx - 1);
                c.value = bc.x[idx - 1];
        }
        ssize_t n = rm_encode_vm_set_boot_context(buf, sizeof(buf), &c);
        vm_call(vm, RM_VM_SET_BOOT_CONTEXT, buf, (size_t)n, boot_context_done,
                (void *)(uintptr_t)idx);
}

static void step_boot_context(Vm *vm)
{
        Manager *m = vm->manager;

        if (vm->boot == VM_BOOT_OPEN_RM || (m->caps_known && !(m->caps & MANAGER_CAP_BOOT_CONTEXT))) {
                vm->boot = VM_BOOT_OPEN_RM;
                start_progress(vm, "skipped: open RM boot convention (kernel-entry-offset in the DT)",
                               0, 0, 0);
                return start_next(vm);
        }
        start_progress(vm, NULL, 0, 0, 0);
        boot_context_send(vm, 0);
}

/* ---- hyp resources ---- */

static void hyp_resources_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                               void *userdata)
{
        if (r < 0)
                return start_fail_rm(vm, RM_VM_GET_HYP_RESOURCES, r, rm_error);
        if (n < 4 || (n - 4) % RM_HYP_RESOURCE_SIZE != 0 ||
            (uint64_t)(d[0] | d[1] << 8 | d[2] << 16 | (uint64_t)d[3] << 24) * RM_HYP_RESOURCE_SIZE !=
                    n - 4) {
                ManagerError e;
                manager_error_set(&e, -EBADMSG, "VM_GET_HYP_RESOURCES failed: malformed reply");
                e.rm_msg_id = RM_VM_GET_HYP_RESOURCES;
                return start_fail(vm, -EBADMSG, &e);
        }
        log_vm_debug(vm->config.name, vm->vmid, "%zu hypervisor resources",
                     (n - 4) / RM_HYP_RESOURCE_SIZE);
        start_next(vm);
}

static void step_hyp_resources(Vm *vm)
{
        uint8_t buf[4];

        start_progress(vm, NULL, 0, 0, 0);
        ssize_t n = rm_encode_vmid_req(buf, sizeof(buf), vm->vmid);
        vm_call(vm, RM_VM_GET_HYP_RESOURCES, buf, (size_t)n, hyp_resources_done, NULL);
}

/* ---- start ---- */

static void start_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                       void *userdata)
{
        VmOp *op = vm->op;
        int i;

        if (r < 0)
                return start_fail_rm(vm, RM_VM_START, r, rm_error);
        vm->rm_status = RM_VM_STATUS_RUNNING;
        /* VM_START made the RM accept the image parcel for the VM (section 11.7). */
        i = vm_find_parcel_ipa(vm, vm->config.memory_base);
        if (i >= 0)
                vm->parcels[i].accepted = true;
        free(vm->dtb);
        vm->dtb = NULL;
        /* Progress only (RM status, accepted): the record already holds the VMID and the
         * parcel, and recovery reads the status from the RM. */
        vm_save_runtime_later(vm);
        vm_set_state(vm, VM_STATE_RUNNING, &op->cause);
        log_vm_info(vm->config.name, vm->vmid, "VM %s running (VMID %u, %s boot)",
                    vm->config.name, vm->vmid, vm_boot_convention_to_string(vm->boot));
        vm_op_finish(vm, 0, NULL);
        /* The guest already exited while VM_START's reply was on its way. */
        if (vm->has_exit && !vm->op && vm->state == VM_STATE_RUNNING)
                vm_begin_exit_release(vm);
}

static void step_start(Vm *vm)
{
        uint8_t buf[4];

        start_progress(vm, NULL, 0, 0, 0);
        ssize_t n = rm_encode_vmid_req(buf, sizeof(buf), vm->vmid);
        vm_call(vm, RM_VM_START, buf, (size_t)n, start_done, NULL);
}

static int start_wait_timeout(sd_event_source *s, uint64_t usec, void *userdata);

void manager_start_run(Vm *vm)
{
        Manager *m = vm->manager;

        vm->op->step = 0;
        /* A resync or a VMID scan is running: an allocation now would look like an orphan
         * to the scan (and the resync may still be releasing what we would reuse). Wait,
         * for --rpc-timeout at most (a scan against an RM that does not answer can take
         * 63 timeouts). */
        if (m->syncing && m->link_state == MANAGER_LINK_UP && !m->shutting_down) {
                vm->op->waits_sync = true;
                log_vm_debug(vm->config.name, -1, "start waits for the RM synchronization");
                if (sd_event_add_time_relative(m->event, &vm->op->wait_timer, CLOCK_MONOTONIC,
                                               m->rpc_timeout_usec, 10000, start_wait_timeout,
                                               vm) >= 0)
                        return;
                vm->op->waits_sync = false;
                ManagerError e;
                manager_error_set(&e, -ENOTCONN, "The RM is synchronizing");
                return start_fail(vm, -ENOTCONN, &e);
        }
        start_run_step(vm);
}

static void start_wait_end(Vm *vm, bool link_up, const char *why)
{
        vm->op->waits_sync = false;
        vm->op->wait_timer = sd_event_source_disable_unref(vm->op->wait_timer);
        if (link_up)
                return start_run_step(vm);
        ManagerError e;
        manager_error_set(&e, -ENOTCONN, "The start of VM %s waited for the RM synchronization: %s",
                          vm->config.name, why);
        start_fail(vm, -ENOTCONN, &e);
}

static int start_wait_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        Vm *vm = userdata;

        if (vm->op && vm->op->kind == VM_OP_START && vm->op->waits_sync)
                start_wait_end(vm, false, "it did not finish in time");
        return 0;
}

void manager_run_waiting_starts(Manager *m, bool link_up)
{
        for (Vm *vm = m->vms, *next; vm; vm = next) {
                next = vm->next;
                if (vm->op && vm->op->kind == VM_OP_START && vm->op->waits_sync)
                        start_wait_end(vm, link_up, "the RM link went down");
        }
}

/* ---- synchronous checks, before anything is allocated ---- */

/*
 * Kernels before 5.6 (and valgrind) lack openat2. The fallback walks PATH one component at a
 * time from DIRFD, refusing a symlink at every step (O_NOFOLLOW): a symlinked directory in
 * the middle cannot lead out of the image directory either. PATH has no "." or ".."
 * component and is relative (vm_source_is_valid). Returns an fd or -1 with errno set.
 */
int manager_open_beneath_nofollow(int dirfd, const char *path)
{
        char comp[VM_PATH_MAX + 1];
        _cleanup_close_ int dir = -1;
        const char *p = path;

        for (;;) {
                const char *slash = strchr(p, '/');
                size_t len = slash ? (size_t)(slash - p) : strlen(p);
                if (len == 0 || len >= sizeof(comp)) {
                        errno = EINVAL;
                        return -1;
                }
                memcpy(comp, p, len);
                comp[len] = 0;
                int from = dir >= 0 ? dir : dirfd;
                if (!slash)
                        return openat(from, comp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                int next = openat(from, comp, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (next < 0)
                        return -1;
                if (dir >= 0)
                        close(dir);
                dir = next;
                p = slash + 1;
        }
}

static int open_source(Manager *m, const char *path, int given_fd, const char *what,
                       ManagerError *err)
{
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        int fd;

        if (strcmp(path, VM_SOURCE_FD) == 0) {
                if (given_fd < 0)
                        return manager_error_set(err, -EBADF,
                                                 "The %s was passed as a file descriptor; pass it "
                                                 "again before starting", what);
                fd = fcntl(given_fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return manager_error_set(err, -EBADF, "Cannot use the %s fd: %m", what);
                return fd; /* loading uses pread: the file position does not matter */
        }
        if (m->image_dir_fd < 0)
                return manager_error_set(err, -ENOEXEC,
                                         "The %s %s is a path but no image directory is configured",
                                         what, path);
        fd = (int)syscall(SYS_openat2, m->image_dir_fd, path, &how, sizeof(how));
        if (fd < 0 && errno == ENOSYS && vm_source_is_valid(path))
                fd = manager_open_beneath_nofollow(m->image_dir_fd, path);
        if (fd < 0)
                return manager_error_set(err, -ENOEXEC, "Cannot open the %s %s: %s", what, path,
                                         strerror(errno));
        return fd;
}

int manager_vm_start(Manager *m, Vm *vm, const EventCause *cause, ManagerProgressFn progress,
                     ManagerDoneFn done, void *userdata, VmOp **ret_op, ManagerError *err)
{
        _cleanup_close_ int kfd = -1, ifd = -1;
        ImageHeader h;
        const char *reason = NULL;
        uint64_t initrd_size = 0;
        struct stat st;
        VmOp *op;
        int r;

        if (vm->op || (vm->state != VM_STATE_STOPPED && vm->state != VM_STATE_LOST)) {
                manager_error_set(err, -EBUSY, "VM %s is %s%s", vm->config.name,
                                  vm_state_to_string(vm->state),
                                  vm->op ? " (an operation is in progress)" : "");
                if (err)
                        err->state = vm->state;
                return -EBUSY;
        }
        if (m->shutting_down)
                return manager_error_set(err, -ESHUTDOWN, "The daemon is shutting down");
        /* During a resync or VMID scan (link up) the start is accepted and waits for it
         * (manager_start_run). */
        if (m->link_state != MANAGER_LINK_UP)
                return manager_error_set(err, -ENOTCONN, "The RM is not available (link %s)",
                                         manager_link_state_to_string(m->link_state));
        if (vm->config.demand_paging && m->caps_known && !(m->caps & MANAGER_CAP_DEMAND_PAGING))
                return manager_error_set(err, -EOPNOTSUPP,
                                         "VM %s needs demand paging, which this RM (open RM) does "
                                         "not implement", vm->config.name);

        kfd = open_source(m, vm->config.kernel, vm->kernel_fd, "kernel", err);
        if (kfd < 0)
                return kfd;
        r = image_header_read_fd(kfd, &h, &reason);
        if (r < 0)
                return manager_error_set(err, -ENOEXEC, "Bad kernel image %s: %s",
                                         vm->config.kernel, reason ? reason : strerror(-r));
        if (vm->config.initrd) {
                ifd = open_source(m, vm->config.initrd, vm->initrd_fd, "initrd", err);
                if (ifd < 0)
                        return ifd;
                if (fstat(ifd, &st) < 0)
                        return manager_error_set(err, -ENOEXEC, "Cannot stat the initrd: %m");
                initrd_size = (uint64_t)st.st_size;
        }
        r = image_layout_compute(&h, vm->config.memory_base, vm->config.memory_size, initrd_size,
                                 IMAGE_DTB_RESERVE_DEFAULT, &vm->layout, &reason);
        if (r < 0)
                return manager_error_set(err, -ENOEXEC, "The image does not fit VM %s: %s",
                                         vm->config.name, reason ? reason : strerror(-r));
        r = vm_paging_setup(vm);
        if (r < 0)
                return manager_error_set(err, r, "Out of memory");
        if (pool_available(m->pool) < vm->image_parcel_size)
                return manager_error_set(err, -ENOMEM,
                                         "The host pool has %" PRIu64 " bytes free, VM %s needs %" PRIu64,
                                         pool_available(m->pool), vm->config.name,
                                         vm->image_parcel_size);

        op = vm_op_new(vm, VM_OP_START, cause, done, progress, userdata);
        if (!op)
                return manager_error_set(err, -ENOMEM, "Out of memory");
        op->n_steps = (unsigned)ELEMENTSOF(start_steps) - (vm_has_dp(vm) ? 0 : 1);
        r = vm_op_defer(vm, manager_start_run);
        if (r < 0) {
                vm->op = NULL;
                free(op->cause_method);
                free(op);
                return manager_error_set(err, r, "Cannot schedule the start: %s", strerror(-r));
        }
        vm->load_kernel_fd = TAKE_FD(kfd);
        vm->load_initrd_fd = TAKE_FD(ifd);
        vm->has_exit = false;
        vm->exit = (VmExit){};
        vm->paging = (VmPagingStats){};
        vm->boot = m->caps_known ? ((m->caps & MANAGER_CAP_BOOT_CONTEXT) ? VM_BOOT_V17 : VM_BOOT_OPEN_RM)
                                 : VM_BOOT_V17;
        vm_set_state(vm, VM_STATE_STARTING, cause);
        if (ret_op)
                *ret_op = op;
        return 0;
}
