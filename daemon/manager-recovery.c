/* SPDX-License-Identifier: MIT */
/*
 * Recovery and re-synchronization.
 *
 * At start (manager_load): every definition becomes a Vm; every runtime record is attached
 * to its Vm (VMID, parcels, pool ranges: the pool's accounting is rebuilt with
 * pool_reserve()), and the Vm enters RECOVERING. A record without a definition becomes a
 * hidden orphan, cleaned and forgotten. A corrupt record was quarantined by the store; we
 * log it and go on.
 *
 * At every link-up (manager_on_link_up): probe the RM's capabilities (VM_SET_BOOT_CONTEXT,
 * VM_SET_DEMAND_PAGING, VM_SET_ADDRESS_LAYOUT on VMID 0xFFFF: UNIMPLEMENTED means the call
 * does not exist, any other answer that it does), then VM_GET_STATE for every VM holding a
 * VMID: running -> adopted; unknown to the RM -> LOST (records and pool ranges dropped);
 * anything else -> released (reset, reclaim, deallocate). Then every dynamic VMID nobody
 * claims is asked for: one that exists is ours (only the host allocates VMs) but unrecorded
 * (the daemon died between VM_ALLOCATE's reply and the record), and is cleaned. New starts
 * wait (-ENOTCONN) until this is done; READY follows the first completed pass.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "manager-internal.h"
#include "rm-error.h"
#include "rm-ids.h"
#include "rm-types.h"
#include "rm-vm.h"
#include "rm-wire.h"

#define PROBE_VMID RM_VMID_INVALID

static void sync_step_done(Manager *m);

/* ---- load ---- */

static int vm_attach_runtime(Manager *m, Vm *vm, const StoreRuntime *rt)
{
        uint64_t image_size = 0;
        int r;

        vm->vmid = rt->vmid;
        vm->rm_status = rt->rm_status;
        vm->boot = rt->boot == STORE_BOOT_OPEN_RM ? VM_BOOT_OPEN_RM : VM_BOOT_V17;
        for (size_t i = 0; i < rt->n_ranges; i++) {
                r = pool_reserve(m->pool, rt->ranges[i].ipa, rt->ranges[i].size);
                if (r < 0) {
                        log_vm_error_errno(vm->config.name, vm->vmid, r,
                                           "Pool range [0x%" PRIx64 ", +0x%" PRIx64
                                           ") of the record cannot be reserved: %m",
                                           rt->ranges[i].ipa, rt->ranges[i].size);
                        continue;
                }
                /* lent to a guest that may have written it while the daemon was away */
                (void)pool_mark_dirty(m->pool, rt->ranges[i].ipa, rt->ranges[i].size);
                r = vm_add_ranges(vm, &rt->ranges[i], 1);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < rt->n_parcels; i++) {
                const StoreParcel *sp = &rt->parcels[i];
                uint64_t ipa = vm->config.memory_base + sp->guest_offset;
                r = vm_add_parcel(vm, sp->guest_offset == 0 ? VM_PARCEL_IMAGE : VM_PARCEL_DEMAND,
                                  ipa, sp->sgl, sp->n_sgl);
                if (r < 0)
                        return r;
                vm->parcels[r].handle = sp->pending ? RM_MEM_HANDLE_INVALID : sp->handle;
                vm->parcels[r].pending = sp->pending;
                vm->parcels[r].accepted = sp->accepted;
                vm->parcels[r].complete = !sp->pending;
                if (sp->pending)
                        log_vm_info(vm->config.name, vm->vmid,
                                    "Record holds a pending lend at guest offset 0x%" PRIx64
                                    " (%zu extents): it will be looked up in the RM",
                                    sp->guest_offset, sp->n_sgl);
                if (sp->guest_offset == 0)
                        image_size = vm->parcels[r].size;
        }
        if (vm->config.demand_paging && image_size > 0) {
                r = vm_paging_setup_image(vm, image_size);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < vm->n_parcels; i++) {
                        VmParcel *p = &vm->parcels[i];
                        if (p->kind != VM_PARCEL_DEMAND || p->pending || p->guest_ipa < vm->dp_base ||
                            p->guest_ipa - vm->dp_base >= vm->dp_size)
                                continue;
                        size_t b = (size_t)((p->guest_ipa - vm->dp_base) / vm->dp_block);
                        vm->blocks[b].parcel = (int)i;
                        if (p->accepted)
                                vm->paging.bytes_lent += p->size;
                }
        }
        return 0;
}

int manager_load(Manager *m)
{
        StoreLoad l = {};
        int r;

        r = store_load(m->store, &l);
        if (r < 0)
                return log_error_errno(r, "Cannot load the state directory %s: %m", m->state_dir);
        for (size_t i = 0; i < l.n_quarantined; i++) {
                log_warning("Quarantined record %s: %s", l.quarantined[i].file,
                            l.quarantined[i].reason);
                event_log_append(m->events, EVENT_DAEMON, NULL, NULL, NULL,
                                 "record %s quarantined: %s", l.quarantined[i].file,
                                 l.quarantined[i].reason);
        }
        for (size_t i = 0; i < l.n_definitions; i++) {
                Vm *vm;
                if (manager_vm_lookup(m, l.definitions[i].name))
                        continue;
                r = vm_new(m, &l.definitions[i], &vm);
                if (r < 0)
                        goto finish;
                manager_vm_link(m, vm);
        }
        for (size_t i = 0; i < l.n_runtimes; i++) {
                StoreRuntime *rt = &l.runtimes[i];
                Vm *vm = manager_vm_lookup(m, rt->name);
                if (!vm) {
                        VmConfig c;
                        vm_config_init(&c);
                        c.name = strdup(rt->name);
                        if (!c.name) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        r = vm_new(m, &c, &vm);
                        if (r < 0) {
                                vm_config_done(&c);
                                goto finish;
                        }
                        vm->hidden = true;
                        vm->next = m->hidden;
                        m->hidden = vm;
                        log_warning("Runtime record %s has no definition: cleaning VMID %u",
                                    rt->name, rt->vmid);
                }
                r = vm_attach_runtime(m, vm, rt);
                if (r < 0)
                        goto finish;
                if (!vm->hidden)
                        vm_set_state(vm, VM_STATE_RECOVERING, NULL);
        }
        /* A transient definition without a runtime record: the daemon died after saving
         * it for a start and before recording the VMID (or after deleting the runtime
         * record of a release and before the definition). It holds nothing recorded;
         * what VM_ALLOCATE may have left is an unclaimed VMID, which the VMID scan of the
         * first sync pass cleans. After that pass it is forgotten (forget_empty_transients). */
        for (Vm *vm = m->vms; vm; vm = vm->next)
                if (!vm->config.persistent && vm->state == VM_STATE_STOPPED && vm->vmid == 0)
                        vm->forget_if_empty = true;
        m->loaded = true;
        log_info("Loaded %zu VM definitions and %zu runtime records (%zu quarantined)",
                 l.n_definitions, l.n_runtimes, l.n_quarantined);
        r = 0;
finish:
        store_load_done(&l);
        return r;
}

/* ---- per-VM check with the RM ---- */

static void recover_finish(Vm *vm, int r, const ManagerError *err)
{
        Manager *m = vm->manager;

        vm_op_finish(vm, r, err);
        if (vm->hidden && r >= 0)
                manager_destroy_vm(m, vm);
        if (vm->dead && vm->n_calls == 0)
                vm_free(vm);
        sync_step_done(m);
}

static void vm_mark_lost(Vm *vm)
{
        EventCause cause = EVENT_CAUSE_DAEMON_INIT;
        uint16_t vmid = vm->vmid;

        vm_release_all_ranges(vm);
        for (size_t i = vm->n_parcels; i > 0; i--)
                vm_remove_parcel(vm, i - 1);
        vm->vmid = 0;
        vm->rm_status = RM_VM_STATUS_NONE;
        vm->os_status = 0;
        vm->rm_status_known = false;
        if (vm->hidden)
                return;
        vm_delete_records(vm, !vm->config.persistent);
        if (vm->state == VM_STATE_STOPPING)
                vm_set_state(vm, VM_STATE_EXITED, &cause);
        vm_set_state(vm, VM_STATE_LOST, &cause);
        log_vm_warning(vm->config.name, -1, "VM %s is lost: the RM no longer knows VMID %u",
                       vm->config.name, vmid);
        vm_event(vm, EVENT_VM_LOST, &cause, "the RM no longer knows VMID %u", vmid);
}

static void recover_released(Vm *vm, int r, const ManagerError *err)
{
        EventCause cause = EVENT_CAUSE_DAEMON_INIT;

        if (!vm->hidden) {
                if (r < 0)
                        vm_set_state(vm, VM_STATE_FAILED, &cause);
                else {
                        vm_set_state(vm, VM_STATE_STOPPED, &cause);
                        /* manager.h: a transient VM is kept only while it holds RM
                         * resources; released now, it is forgotten. */
                        if (!vm->config.persistent) {
                                log_vm_info(vm->config.name, -1,
                                            "Transient VM %s released by recovery: forgotten",
                                            vm->config.name);
                                manager_destroy_vm(vm->manager, vm);
                        }
                }
        }
        recover_finish(vm, r, err);
}

static void recover_release(Vm *vm)
{
        EventCause cause = EVENT_CAUSE_DAEMON_INIT;

        if (!vm->hidden) {
                if (vm->state == VM_STATE_RUNNING || vm->state == VM_STATE_STOPPING)
                        vm_set_state(vm, VM_STATE_EXITED, &cause);
                vm_set_state(vm, VM_STATE_RELEASING, &cause);
        }
        vm->release_strict = false;
        vm_release_begin(vm, recover_released);
}

static void recover_state_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                               void *userdata)
{
        EventCause cause = EVENT_CAUSE_DAEMON_INIT;
        RmVmState st;

        if (r == -EREMOTEIO && rm_error == RM_ERROR_NORESOURCE) {
                vm_mark_lost(vm);
                return recover_finish(vm, 0, NULL);
        }
        if (r < 0 || rm_decode_vm_get_state_reply(d, n, &st) < 0) {
                ManagerError e;
                manager_error_rm(&e, RM_VM_GET_STATE, r < 0 ? r : -EBADMSG, rm_error);
                if (vm->state == VM_STATE_RECOVERING)
                        vm_set_state(vm, VM_STATE_FAILED, &cause);
                return recover_finish(vm, e.rm_msg_id ? r : -EBADMSG, &e);
        }
        vm->rm_status = st.vm_status;
        vm->os_status = st.os_status;
        vm->app_status = st.app_status;
        vm->rm_status_known = true;
        if (!vm->hidden && (st.vm_status == RM_VM_STATUS_RUNNING || st.vm_status == RM_VM_STATUS_PAUSED) &&
            (vm->state == VM_STATE_RECOVERING || vm->state == VM_STATE_RUNNING)) {
                if (vm->state == VM_STATE_RECOVERING) {
                        log_vm_info(vm->config.name, vm->vmid, "VM %s adopted: still running as VMID %u",
                                    vm->config.name, vm->vmid);
                        vm_set_state(vm, VM_STATE_RUNNING, &cause);
                }
                /* Faults whose lend died with the link: serve them again when re-raised. */
                for (size_t b = 0; b < vm->n_blocks; b++)
                        if (vm->blocks[b].parcel < 0)
                                vm->blocks[b].pending = false;
                (void)vm_save_runtime(vm);
                /* Block lends whose outcome is unknown (daemon killed, link lost): look
                 * them up; found ones are reclaimed (never notified), the rest freed. */
                vm_paging_resolve_pending(vm);
                return recover_finish(vm, 0, NULL);
        }
        log_vm_info(vm->config.name, vm->vmid, "VM %s found in RM state %s: releasing it",
                    vm->config.name, rm_vm_status_to_string(st.vm_status) ?: "?");
        recover_release(vm);
}

static void recover_run(Vm *vm)
{
        uint8_t buf[4];
        ssize_t n = rm_encode_vmid_req(buf, sizeof(buf), vm->vmid);
        vm_call(vm, RM_VM_GET_STATE, buf, (size_t)n, recover_state_done, NULL);
}

static void recover_vm(Manager *m, Vm *vm)
{
        if (vm->op || vm->vmid == 0 || vm->dead)
                return;
        if (!vm_op_new(vm, VM_OP_RECOVER, NULL, NULL, NULL, NULL))
                return;
        m->sync_pending++;
        recover_run(vm);
}

/* ---- VMID scan ---- */

typedef struct ScanCtx {
        Manager *m;
        uint16_t vmid;
} ScanCtx;

static void scan_done(RmClient *c, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                      void *userdata)
{
        ScanCtx *ctx = userdata;
        Manager *m = ctx->m;
        uint16_t vmid = ctx->vmid;
        VmConfig cfg;
        Vm *vm;

        free(ctx);
        if (m->shutting_down)
                return;
        if (r == 0 && !manager_vm_lookup_vmid(m, vmid)) {
                log_warning("VMID %u exists in the RM but in no record: cleaning it", vmid);
                vm_config_init(&cfg);
                if (asprintf(&cfg.name, "orphan-vmid-%u", vmid) >= 0 && vm_new(m, &cfg, &vm) >= 0) {
                        vm->hidden = true;
                        vm->vmid = vmid;
                        vm->next = m->hidden;
                        m->hidden = vm;
                        recover_vm(m, vm);
                } else
                        vm_config_done(&cfg);
        }
        sync_step_done(m);
}

static void scan_vmids(Manager *m)
{
        for (uint16_t vmid = RM_VMID_DYN_FIRST; vmid <= RM_VMID_DYN_LAST; vmid++) {
                uint8_t buf[4];
                ScanCtx *ctx;
                if (manager_vm_lookup_vmid(m, vmid))
                        continue;
                ctx = malloc(sizeof(*ctx));
                if (!ctx)
                        return;
                *ctx = (ScanCtx){ .m = m, .vmid = vmid };
                ssize_t n = rm_encode_vmid_req(buf, sizeof(buf), vmid);
                m->sync_pending++;
                if (rm_client_call(m->client, RM_VM_GET_STATE, buf, (size_t)n, 0, scan_done, ctx,
                                   NULL) < 0) {
                        free(ctx);
                        m->sync_pending--;
                }
        }
}

/* ---- capability probe ---- */

typedef struct ProbeCtx {
        Manager *m;
        uint32_t cap;
} ProbeCtx;

static void probe_done(RmClient *c, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                       void *userdata)
{
        ProbeCtx *ctx = userdata;
        Manager *m = ctx->m;
        uint32_t cap = ctx->cap;

        free(ctx);
        if (m->shutting_down)
                return;
        if (r == 0 || (r == -EREMOTEIO && rm_error != RM_ERROR_UNIMPLEMENTED))
                m->caps |= cap;
        else if (r == -EREMOTEIO)
                m->caps &= ~cap;
        else
                m->probe_failed = true;
        sync_step_done(m);
}

static void probe(Manager *m, uint32_t msg_id, uint32_t cap)
{
        uint8_t buf[24] = {};
        ProbeCtx *ctx = malloc(sizeof(*ctx));
        ssize_t n;

        if (!ctx)
                return;
        *ctx = (ProbeCtx){ .m = m, .cap = cap };
        if (msg_id == RM_VM_SET_BOOT_CONTEXT) {
                RmVmBootContext b = { .vmid = PROBE_VMID, .reg_set = RM_REG_SET_PC };
                n = rm_encode_vm_set_boot_context(buf, sizeof(buf), &b);
        } else if (msg_id == RM_VM_SET_DEMAND_PAGING) {
                n = rm_encode_vm_set_demand_paging(buf, sizeof(buf), PROBE_VMID, NULL, 0);
        } else {
                RmVmAddressLayout l = { .vmid = PROBE_VMID, .range_id = RM_RANGE_IMAGE };
                n = rm_encode_vm_set_address_layout(buf, sizeof(buf), &l);
        }
        m->sync_pending++;
        if (n < 0 || rm_client_call(m->client, msg_id, buf, (size_t)n, 0, probe_done, ctx, NULL) < 0) {
                free(ctx);
                m->sync_pending--;
                m->probe_failed = true;
        }
}

/* ---- the sync pass ---- */

/* manager.h: a transient VM is kept only while it holds RM resources. Those loaded without
 * a runtime record (manager_load) are known to hold nothing once a sync pass, VMID scan
 * included, completed. */
static void forget_empty_transients(Manager *m)
{
        for (Vm *vm = m->vms, *next; vm; vm = next) {
                next = vm->next;
                if (!vm->forget_if_empty)
                        continue;
                vm->forget_if_empty = false;
                if (vm->config.persistent || vm->op || vm->state != VM_STATE_STOPPED ||
                    vm->vmid || vm->n_parcels || vm->n_ranges)
                        continue;
                log_vm_info(vm->config.name, -1,
                            "Transient VM %s holds nothing in the RM (its start or release was "
                            "cut short): forgotten", vm->config.name);
                manager_destroy_vm(m, vm);
                if (vm->n_calls == 0)
                        vm_free(vm);
        }
}

static void sync_phase2(Manager *m)
{
        m->sync_phase = 2;
        m->sync_pending++; /* guard while starting the checks */
        for (Vm *vm = m->vms, *next; vm; vm = next) {
                next = vm->next;
                recover_vm(m, vm);
        }
        for (Vm *vm = m->hidden, *next; vm; vm = next) {
                next = vm->next;
                recover_vm(m, vm);
        }
        scan_vmids(m);
        sync_step_done(m);
}

static void sync_step_done(Manager *m)
{
        if (m->sync_pending > 0)
                m->sync_pending--;
        if (m->sync_pending > 0 || m->shutting_down)
                return;
        if (m->sync_phase == 1) {
                if (!m->probe_failed) {
                        m->caps_known = true;
                        log_info("RM capabilities: boot context %s, demand paging %s, address "
                                 "layout %s (%s boot convention)",
                                 m->caps & MANAGER_CAP_BOOT_CONTEXT ? "yes" : "no",
                                 m->caps & MANAGER_CAP_DEMAND_PAGING ? "yes" : "no",
                                 m->caps & MANAGER_CAP_ADDRESS_LAYOUT ? "yes" : "no",
                                 m->caps & MANAGER_CAP_BOOT_CONTEXT ? "v17" : "open-rm");
                        event_log_append(m->events, EVENT_DAEMON, NULL, NULL, NULL,
                                         "RM capabilities: 0x%x (%s)", m->caps,
                                         m->caps & MANAGER_CAP_BOOT_CONTEXT ? "v17" : "open-rm");
                }
                return sync_phase2(m);
        }
        if (m->sync_phase != 2)
                return;
        m->sync_phase = 0;
        m->syncing = false;
        if (m->link_state != MANAGER_LINK_UP)
                return;
        if (m->resync_again) {
                m->resync_again = false;
                return manager_on_link_up(m);
        }
        forget_empty_transients(m);
        log_info("Synchronized with the RM: %zu VMs", m->n_vms);
        manager_run_waiting_starts(m, true);
        if (!m->ready) {
                m->ready = true;
                event_log_append(m->events, EVENT_DAEMON, NULL, NULL, NULL,
                                 "ready: recovery done, %zu VMs", m->n_vms);
                if (m->ready_cb)
                        m->ready_cb(m, 0, m->ready_userdata);
        }
}

/* After a VM_ALLOCATE whose outcome is unknown (timeout, garbled reply), the RM may hold a
 * VMID nobody recorded. Scan for it as soon as no other allocation is in flight (a VMID
 * being allocated right now would look the same); new starts wait meanwhile. */
void manager_maybe_scan(Manager *m)
{
        if (!m->scan_needed || m->syncing || m->shutting_down || m->link_state != MANAGER_LINK_UP)
                return;
        for (Vm *vm = m->vms; vm; vm = vm->next)
                if (vm->op && vm->op->kind == VM_OP_START && vm->vmid == 0 &&
                    !vm->op->waits_sync)
                        return; /* re-checked when that operation ends */
        m->scan_needed = false;
        log_info("Scanning the RM for VMIDs left by an unanswered VM_ALLOCATE");
        m->syncing = true;
        m->sync_phase = 2;
        m->sync_pending = 1; /* guard */
        scan_vmids(m);
        sync_step_done(m);
}

void manager_on_unmatched_reply(RmClient *c, uint32_t msg_id, const uint8_t *payload, size_t len,
                                void *userdata)
{
        Manager *m = userdata;
        const uint8_t *d;
        uint32_t rm_error;
        uint16_t vmid;
        size_t n;

        if (msg_id != RM_VM_ALLOCATE || m->shutting_down)
                return;
        if (rm_reply_split(payload, len, &rm_error, &d, &n) == 0) {
                if (rm_error != RM_OK && rm_error_to_string(rm_error))
                        return; /* refused: nothing was allocated */
                if (rm_error == RM_OK && rm_decode_vm_allocate_reply(d, n, &vmid) == 0 &&
                    manager_vm_lookup_vmid(m, vmid))
                        return; /* a VMID we hold: the same reply twice */
        }
        log_warning("A VM_ALLOCATE reply nobody waits for may name a VMID nobody recorded: "
                    "scanning the RM");
        m->scan_needed = true;
        manager_maybe_scan(m);
}

void manager_on_link_up(Manager *m)
{
        if (m->syncing) {
                /* A previous pass is still draining (its calls fail with -ENOTCONN); run a
                 * fresh one when it ends. */
                m->resync_again = true;
                return;
        }
        m->syncing = true;
        m->scan_needed = false; /* this pass scans */
        m->sync_phase = 1;
        m->probe_failed = false;
        m->caps = 0;
        m->sync_pending = 1; /* guard */
        probe(m, RM_VM_SET_BOOT_CONTEXT, MANAGER_CAP_BOOT_CONTEXT);
        probe(m, RM_VM_SET_DEMAND_PAGING, MANAGER_CAP_DEMAND_PAGING);
        probe(m, RM_VM_SET_ADDRESS_LAYOUT, MANAGER_CAP_ADDRESS_LAYOUT);
        sync_step_done(m);
}
