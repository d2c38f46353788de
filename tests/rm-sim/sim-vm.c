/* SPDX-License-Identifier: MIT */
/*
 * VM calls and the VM state machine (rm-protocol.md sections 8.1, 8.2, 8.4, 12).
 * sim_vm_set_status() is the only place a VM's status changes; it emits NOTIFY_VM_STATUS to
 * the owner (the host is every VM's peer), so notifications precede the triggering reply.
 * Each handler checks in the RM's order: length, caller, unknown VMID, owner, state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "macro.h"
#include "rm-notify.h"
#include "sim.h"

#define SIM_HOST_OS_STATUS RM_OS_STATUS_RUN

SimVm *sim_vm_get(Sim *s, uint16_t vmid)
{
        return vmid < ELEMENTSOF(s->vms) ? s->vms[vmid] : NULL;
}

void sim_vm_send_status(Sim *s, SimVm *vm)
{
        RmNotifyVmStatus n = {.vmid = vm->vmid,
                              .vm_status = vm->status,
                              .os_status = vm->os_status,
                              .app_status = vm->app_status};
        uint8_t buf[8];
        ssize_t len = rm_encode_notify_vm_status(buf, sizeof(buf), &n);

        if (len > 0)
                sim_notify(s, vm->owner, RM_NOTIFY_VM_STATUS, buf, (size_t)len);
}

void sim_vm_set_status(Sim *s, SimVm *vm, uint8_t status)
{
        sim_debug(s, "vm 0x%x: %s -> %s", vm->vmid, rm_vm_status_to_string(vm->status),
                  rm_vm_status_to_string(status));
        vm->status = status;
        if (status != RM_VM_STATUS_RUNNING && status != RM_VM_STATUS_PAUSED) {
                vm->guest_deadline = 0;
                vm->guest_action = SIM_GUEST_NONE;
                vm->fault_blocked = false;
        }
        sim_vm_send_status(s, vm);
}

void sim_vm_exit(Sim *s, SimVm *vm, uint16_t exit_type, const uint32_t *reason, unsigned n)
{
        uint8_t buf[8 + RM_EXIT_REASON_MAX];
        RmNotifyVmExited e = {.vmid = vm->vmid, .exit_type = exit_type, .reason_size = 4 * n};
        ssize_t len;

        memcpy(e.reason, reason, n * sizeof(uint32_t));
        sim_vm_set_status(s, vm, RM_VM_STATUS_EXITED);
        vm->has_exit = true;
        vm->exit_type = exit_type;
        memcpy(vm->reason, reason, n * sizeof(uint32_t));
        vm->n_reason = n;
        len = rm_encode_notify_vm_exited(buf, sizeof(buf), &e);
        if (len > 0)
                sim_notify(s, vm->owner, RM_NOTIFY_VM_EXITED, buf, (size_t)len);
}

static void vm_free(Sim *s, SimVm *vm)
{
        s->vms[vm->vmid] = NULL;
        free(vm->dp);
        free(vm);
}

void sim_vm_free_all(Sim *s)
{
        for (size_t i = 0; i < ELEMENTSOF(s->vms); i++)
                if (s->vms[i])
                        vm_free(s, s->vms[i]);
}

/* Common prologue: decode {vmid, res}, then unknown VMID and ownership errors. */
static uint32_t vm_lookup(Sim *s, uint16_t caller, uint16_t vmid, uint32_t unknown_err,
                          uint32_t not_owner_err, SimVm **ret)
{
        SimVm *vm = sim_vm_get(s, vmid);

        if (!vm)
                return unknown_err;
        if (vm->owner != caller)
                return not_owner_err;
        *ret = vm;
        return RM_OK;
}

static uint32_t vmid_req(const uint8_t *p, size_t len, bool res_zero, uint16_t *ret)
{
        RmVmidReq q;

        if (rm_decode_vmid_req(p, len, res_zero, &q) < 0)
                return RM_ERROR_MSG_INVALID;
        *ret = q.vmid;
        return RM_OK;
}

static uint32_t put_u32(SimReply *r, uint32_t v)
{
        uint8_t b[4];

        le32_put(b, v);
        return sim_reply_put(r, b, 4) < 0 ? RM_ERROR_NOMEM : RM_OK;
}

/* ---- VM_ALLOCATE / VM_DEALLOCATE ---- */

static uint32_t h_allocate(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        uint16_t vmid;
        SimVm *vm;
        uint32_t e;

        if ((e = vmid_req(p, len, false, &vmid)))
                return e;
        if (caller != RM_VMID_HLOS)
                return RM_ERROR_DENIED;
        if (vmid == 0) {
                for (uint16_t v = RM_VMID_DYN_FIRST; v <= RM_VMID_DYN_LAST; v++)
                        if (!s->vms[v]) {
                                vmid = v;
                                break;
                        }
                if (vmid == 0)
                        return RM_ERROR_NORESOURCE;
        } else if (vmid < 4 || vmid > 31 || s->vms[vmid]) {
                /* explicit VMIDs: the qemu platform's secondary bitmap, 4..31 */
                return RM_ERROR_NORESOURCE;
        }
        vm = calloc(1, sizeof(*vm));
        if (!vm)
                return RM_ERROR_NOMEM;
        vm->vmid = vmid;
        vm->owner = caller;
        vm->status = RM_VM_STATUS_LOAD;
        s->vms[vmid] = vm;
        if (le16_get(p) == 0)
                return put_u32(r, vmid);
        return RM_OK;
}

static uint32_t h_deallocate(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        uint16_t vmid;
        SimVm *vm;
        uint32_t e;

        if ((e = vmid_req(p, len, false, &vmid)))
                return e;
        /* the open RM asserts on an unknown VMID; a correct RM says VMID_INVALID */
        if ((e = vm_lookup(s, caller, vmid, RM_ERROR_VMID_INVALID, RM_ERROR_DENIED, &vm)))
                return e;
        if (vm->status != RM_VM_STATUS_LOAD && vm->status != RM_VM_STATUS_RESET)
                return RM_ERROR_VM_STATE;
        vm_free(s, vm);
        return RM_OK;
}

/* ---- VM_CONFIG_IMAGE / VM_AUTH_IMAGE / VM_INIT ---- */

static uint32_t config_fail(Sim *s, SimVm *vm, uint32_t err)
{
        sim_vm_set_status(s, vm, RM_VM_STATUS_INIT_FAILED);
        return err;
}

static bool range_in(uint64_t off, uint64_t size, uint64_t total)
{
        return off <= total && size <= total - off;
}

static uint32_t h_config_image(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        RmVmConfigImage c;
        SimParcel *pc;
        SimVm *vm;
        uint32_t e;

        if (rm_decode_vm_config_image(p, len, &c) < 0)
                return RM_ERROR_MSG_INVALID;
        if (caller != RM_VMID_HLOS)
                return RM_ERROR_DENIED;
        if ((e = vm_lookup(s, caller, c.vmid, RM_ERROR_VMID_INVALID, RM_ERROR_DENIED, &vm)))
                return e;
        if (vm->status != RM_VM_STATUS_LOAD && vm->status != RM_VM_STATUS_RESET)
                return RM_ERROR_VM_STATE;
        pc = sim_parcel_get(s, c.handle);
        if (!pc || !sim_parcel_acl_of(pc, vm->vmid))
                return config_fail(s, vm, RM_ERROR_MEM_INVALID);
        if (!range_in(c.image_offset, c.image_size, pc->size) ||
            !range_in(c.dtb_offset, c.dtb_size, pc->size))
                return config_fail(s, vm, RM_ERROR_ARGUMENT_INVALID);
        if (c.auth > RM_AUTH_ANDROID)
                return config_fail(s, vm, RM_ERROR_ARGUMENT_INVALID);
        vm->configured = true;
        vm->auth = c.auth;
        vm->image_handle = c.handle;
        vm->image_offset = c.image_offset;
        vm->image_size = c.image_size;
        vm->dtb_offset = c.dtb_offset;
        vm->dtb_size = c.dtb_size;
        sim_vm_set_status(s, vm,
                          c.auth == RM_AUTH_PLATFORM ? RM_VM_STATUS_AUTH : RM_VM_STATUS_INIT);
        return RM_OK;
}

static uint32_t h_auth_image(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        SimVm *vm;
        uint32_t e;

        if (len < 4 || len != 4 + 8 * (size_t)le16_get(p + 2))
                return RM_ERROR_MSG_INVALID;
        if (caller != RM_VMID_HLOS)
                return RM_ERROR_DENIED;
        if ((e = vm_lookup(s, caller, le16_get(p), RM_ERROR_VMID_INVALID, RM_ERROR_DENIED, &vm)))
                return e;
        if (vm->status != RM_VM_STATUS_AUTH)
                return RM_ERROR_VM_STATE;
        /* no platform authentication exists here: every image is accepted */
        sim_vm_set_status(s, vm, RM_VM_STATUS_INIT);
        return RM_OK;
}

static uint32_t h_init(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        uint16_t vmid;
        SimParcel *pc;
        SimVm *vm;
        uint32_t e;

        if ((e = vmid_req(p, len, true, &vmid)))
                return e;
        if (caller != RM_VMID_HLOS)
                return RM_ERROR_DENIED;
        if ((e = vm_lookup(s, caller, vmid, RM_ERROR_VMID_INVALID, RM_ERROR_DENIED, &vm)))
                return e;
        if (vm->status != RM_VM_STATUS_INIT)
                return RM_ERROR_VM_STATE;
        pc = sim_parcel_get(s, vm->image_handle);
        if (!pc || pc->mem_type != RM_MEM_TYPE_NORMAL)
                return config_fail(s, vm, RM_ERROR_MEM_INVALID);
        e = sim_image_parse_dt(s, vm, pc);
        if (e)
                return config_fail(s, vm, e);
        sim_vm_set_status(s, vm, RM_VM_STATUS_READY);
        return RM_OK;
}

/* ---- VM_START / VM_STOP / VM_RESET ---- */

static bool parcel_is_private_for(const SimParcel *pc, uint16_t vmid)
{
        return !pc->open && pc->mem_type == RM_MEM_TYPE_NORMAL && pc->label == 0 &&
               pc->trans_type != RM_TRANS_SHARE && pc->n_acl == 1 && pc->acl[0].vmid == vmid &&
               pc->acl[0].rights == RM_ACL_RWX && !pc->acl[0].accepted &&
               (pc->n_attr == 0 || (pc->n_attr == 1 && pc->attr[0].attr == RM_MEM_ATTR_NORMAL));
}

static uint32_t start_fail(Sim *s, SimVm *vm)
{
        for (SimParcel *pc; (pc = sim_parcel_next_accepted_by(s, vm->vmid));)
                sim_parcel_release_for(s, pc, vm->vmid, false);
        return config_fail(s, vm, RM_ERROR_NORESOURCE);
}

uint64_t sim_vm_image_base(const SimVm *vm)
{
        return vm->layout_set ? vm->layout_base : vm->mem_base;
}

static uint32_t h_start(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        uint16_t vmid;
        SimParcel *img;
        SimVm *vm;
        uint32_t e;

        if (caller == RM_VMID_HYP)
                return RM_ERROR_DENIED;
        if ((e = vmid_req(p, len, false, &vmid)))
                return e;
        if ((e = vm_lookup(s, caller, vmid, RM_ERROR_VMID_INVALID, RM_ERROR_DENIED, &vm)))
                return e;
        if (vm->status != RM_VM_STATUS_READY)
                return RM_ERROR_VM_STATE;
        img = sim_parcel_get(s, vm->image_handle);
        if (!img || img->open || sim_parcel_acl_of(img, vm->vmid) == NULL)
                return start_fail(s, vm);
        if (s->opt.strict_image_acl && (img->trans_type != RM_TRANS_LEND || img->n_acl != 1 ||
                                        img->acl[0].rights != RM_ACL_RWX || img->n_attr != 0))
                return start_fail(s, vm);
        if (sim_parcel_accept_for(s, img, vm->vmid, sim_vm_image_base(vm)) != RM_OK)
                return start_fail(s, vm);
        /* every other parcel exclusive to the VM becomes private memory (identity IPA) */
        for (SimParcel *pc = s->parcels; pc; pc = pc->next)
                if (pc != img && parcel_is_private_for(pc, vm->vmid))
                        (void)sim_parcel_accept_for(s, pc, vm->vmid, pc->sgl[0].ipa);
        if (sim_image_check_boot(s, vm) != RM_OK)
                return start_fail(s, vm);
        vm->has_exit = false;
        vm->os_status = RM_OS_STATUS_NONE;
        sim_vm_set_status(s, vm, RM_VM_STATUS_RUNNING);
        sim_guest_started(s, vm);
        return RM_OK;
}

static uint32_t h_stop(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        static const uint32_t zero = 0;
        RmVmStop m;
        SimVm *vm;
        uint32_t e;
        uint8_t b[4];

        if (rm_decode_vm_stop(p, len, &m) < 0)
                return RM_ERROR_MSG_INVALID;
        if ((e = vm_lookup(s, caller, m.vmid, RM_ERROR_VMID_INVALID, RM_ERROR_VMID_INVALID, &vm)))
                return e;
        if ((vm->status != RM_VM_STATUS_RUNNING && vm->status != RM_VM_STATUS_PAUSED) ||
            vm->no_shutdown || vm->crash_fatal)
                return RM_ERROR_VM_STATE;
        if (m.flags & RM_VM_STOP_FLAG_FORCE) {
                sim_vm_exit(s, vm, RM_EXIT_TYPE_VM_STOP_FORCED, &zero, 1);
                return RM_OK;
        }
        le32_put(b, m.stop_reason);
        sim_notify(s, vm->vmid, RM_NOTIFY_VM_SHUTDOWN, b, sizeof(b));
        return RM_OK;
}

static uint32_t h_reset(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        uint16_t vmid;
        SimVm *vm;
        uint32_t e;

        if ((e = vmid_req(p, len, false, &vmid)))
                return e;
        if ((e = vm_lookup(s, caller, vmid, RM_ERROR_VMID_INVALID, RM_ERROR_VMID_INVALID, &vm)))
                return e;
        if (vm->no_reset || vm->crash_fatal)
                return RM_ERROR_DENIED;
        if (vm->status != RM_VM_STATUS_EXITED && vm->status != RM_VM_STATUS_READY &&
            vm->status != RM_VM_STATUS_INIT_FAILED)
                return RM_ERROR_VM_STATE;
        sim_vm_set_status(s, vm, RM_VM_STATUS_RESETTING);
        vm->reset_deadline = sim_now_ms(); /* continues after the reply, one step per loop */
        return RM_OK;
}

/* One asynchronous VM_RESET step: release one accepted parcel, or finish. */
static void reset_step(Sim *s, SimVm *vm)
{
        SimParcel *pc = sim_parcel_next_accepted_by(s, vm->vmid);

        if (pc) {
                sim_parcel_release_for(s, pc, vm->vmid, true);
                vm->reset_deadline = sim_now_ms();
                return;
        }
        vm->reset_deadline = 0;
        vm->name[0] = 0;
        vm->has_guid = false;
        vm->os_status = RM_OS_STATUS_NONE;
        vm->app_status = 0;
        vm->crash_len = 0;
        vm->crash_msg[0] = 0;
        vm->dt_parsed = false;
        vm->configured = false;
        vm->n_vcpus = 0;
        vm->layout_set = vm->dp_set = vm->pc_set = false;
        vm->x_set = 0;
        free(vm->dp);
        vm->dp = NULL;
        vm->n_dp = 0;
        vm->no_shutdown = vm->no_reset = vm->crash_fatal = vm->is_direct = false;
        vm->has_entry_offset = false;
        sim_vm_set_status(s, vm, RM_VM_STATUS_RESET);
}

void sim_vm_tick(Sim *s, uint64_t now)
{
        for (size_t i = 0; i < ELEMENTSOF(s->vms); i++) {
                SimVm *vm = s->vms[i];

                if (vm && vm->reset_deadline && vm->reset_deadline <= now)
                        reset_step(s, vm);
                vm = s->vms[i];
                if (vm && vm->guest_deadline && vm->guest_deadline <= now)
                        sim_guest_tick(s, vm, now);
        }
}

uint64_t sim_vm_next_deadline(Sim *s)
{
        uint64_t d = 0;

        for (size_t i = 0; i < ELEMENTSOF(s->vms); i++) {
                SimVm *vm = s->vms[i];

                if (!vm)
                        continue;
                if (vm->reset_deadline && (!d || vm->reset_deadline < d))
                        d = vm->reset_deadline;
                if (vm->guest_deadline && (!d || vm->guest_deadline < d))
                        d = vm->guest_deadline;
        }
        return d;
}

/* ---- queries ---- */

static uint32_t h_get_state(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        uint8_t b[4] = {RM_VM_STATUS_RUNNING, SIM_HOST_OS_STATUS, 0, 0};
        uint16_t vmid;
        SimVm *vm;
        uint32_t e;

        if ((e = vmid_req(p, len, false, &vmid)))
                return e;
        if (vmid == 0)
                vmid = caller;
        if (vmid != RM_VMID_HLOS) {
                vm = sim_vm_get(s, vmid);
                if (!vm)
                        return RM_ERROR_NORESOURCE;
                if (caller != vm->vmid && caller != vm->owner)
                        return RM_ERROR_DENIED;
                b[0] = vm->status;
                b[1] = vm->os_status;
                le16_put(b + 2, vm->app_status);
        }
        return sim_reply_put(r, b, sizeof(b)) < 0 ? RM_ERROR_NOMEM : RM_OK;
}

static uint32_t h_get_vmid(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        if (rm_decode_vm_get_vmid(p, len) < 0)
                return RM_ERROR_MSG_INVALID;
        return put_u32(r, caller);
}

static uint32_t h_get_owner(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        SimVm *self = sim_vm_get(s, caller);

        if (len != 0)
                return RM_ERROR_MSG_INVALID;
        return put_u32(r, self ? self->owner : RM_VMID_HYP);
}

static uint32_t h_get_peers(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        uint32_t n = 0, e;

        if (len != 0)
                return RM_ERROR_MSG_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(s->vms); i++)
                if (s->vms[i] && s->vms[i]->owner == caller)
                        n++;
        if ((e = put_u32(r, n)))
                return e;
        for (size_t i = 0; i < ELEMENTSOF(s->vms); i++)
                if (s->vms[i] && s->vms[i]->owner == caller && (e = put_u32(r, (uint32_t)i)))
                        return e;
        return RM_OK;
}

static uint32_t h_host_get_type(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        if (len != 0)
                return RM_ERROR_MSG_INVALID;
        return put_u32(r, 0x01000164u);
}

static uint32_t h_get_crash_msg(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        uint8_t b[4 + RM_MAX_CRASH_MSG + 4];
        uint16_t vmid;
        SimVm *vm;
        uint32_t e;
        ssize_t n;

        if ((e = vmid_req(p, len, false, &vmid)))
                return e;
        if ((e = vm_lookup(s, caller, vmid, RM_ERROR_VMID_INVALID, RM_ERROR_VMID_INVALID, &vm)))
                return e;
        n = rm_encode_vm_get_crash_msg_reply(b, sizeof(b), vm->crash_msg, vm->crash_len);
        if (n < 0)
                return RM_ERROR_NOMEM;
        return sim_reply_put(r, b, (size_t)n) < 0 ? RM_ERROR_NOMEM : RM_OK;
}

static void put_resource(SimReply *r, const RmHypResource *e)
{
        uint8_t b[RM_HYP_RESOURCE_SIZE];

        memset(b, 0, sizeof(b));
        b[0] = e->type;
        le16_put(b + 2, e->partner_vmid);
        le32_put(b + 4, e->handle);
        le32_put(b + 8, e->label);
        le64_put(b + 12, e->cap_id);
        le32_put(b + 20, e->virq_handle);
        le32_put(b + 24, e->virq);
        le64_put(b + 28, e->base);
        le64_put(b + 36, e->size);
        (void)sim_reply_put(r, b, sizeof(b));
}

static uint32_t h_get_hyp_resources(Sim *s, uint16_t caller, const uint8_t *p, size_t len,
                                    SimReply *r)
{
        uint16_t vmid;
        uint32_t n = 0, e;
        SimVm *vm;
        bool owner;
        bool v17 = s->opt.profile == SIM_PROFILE_V17;

        if ((e = vmid_req(p, len, false, &vmid)))
                return e;
        vm = sim_vm_get(s, vmid);
        if (!vm)
                return RM_ERROR_ARGUMENT_INVALID;
        if (!vm->configured)
                return RM_ERROR_NORESOURCE;
        owner = vm->owner == caller;
        if (owner && vm->dt_parsed)
                n = vm->n_vcpus + (v17 ? 5 : 0);
        if ((e = put_u32(r, n)))
                return e;
        if (!owner || !vm->dt_parsed)
                return RM_OK;
        for (unsigned i = 0; i < vm->n_vcpus; i++)
                put_resource(r, &(RmHypResource){.type = RM_RES_VIRTUAL_CPU,
                                                 .partner_vmid = vmid,
                                                 .label = i,
                                                 .cap_id = 0x10000u + vmid * 0x100u + i});
        if (v17) { /* v17 expects the address space and the four memory extents */
                put_resource(r, &(RmHypResource){.type = RM_RES_ADDR_SPACE,
                                                 .partner_vmid = vmid,
                                                 .label = 0,
                                                 .cap_id = 0x20000u + vmid * 0x100u});
                for (unsigned i = 0; i < 4; i++)
                        put_resource(r,
                                     &(RmHypResource){.type = RM_RES_MEM_EXTENT,
                                                      .partner_vmid = vmid,
                                                      .label = i,
                                                      .cap_id = 0x20000u + vmid * 0x100u + 1 + i});
        }
        return r->len == 4 + 4 + (size_t)n * RM_HYP_RESOURCE_SIZE ? RM_OK : RM_ERROR_NOMEM;
}

/* ---- guest-side calls arriving from the host ---- */

static uint32_t h_set_status(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        if (len != 4)
                return RM_ERROR_MSG_INVALID;
        return caller == RM_VMID_HLOS ? RM_ERROR_DENIED : RM_OK; /* secondary VMs only */
}

static uint32_t h_host_denied(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r)
{
        return RM_ERROR_DENIED; /* VM_EXIT / VM_SET_CRASH_MSG: the host cannot exit via RM */
}

/* sim-vm-v17.c */
uint32_t sim_vm_h_boot_context(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r);
uint32_t sim_vm_h_demand_paging(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *r);
uint32_t sim_vm_h_address_layout(Sim *s, uint16_t caller, const uint8_t *p, size_t len,
                                 SimReply *r);

static const struct {
        uint32_t id;
        SimHandler fn;
        bool v17_only;
} vm_table[] = {
    {RM_VM_ALLOCATE, h_allocate, false},
    {RM_VM_DEALLOCATE, h_deallocate, false},
    {RM_VM_START, h_start, false},
    {RM_VM_STOP, h_stop, false},
    {RM_VM_RESET, h_reset, false},
    {RM_VM_CONFIG_IMAGE, h_config_image, false},
    {RM_VM_AUTH_IMAGE, h_auth_image, false},
    {RM_VM_INIT, h_init, false},
    {RM_VM_GET_STATE, h_get_state, false},
    {RM_VM_GET_VMID, h_get_vmid, false},
    {RM_VM_GET_OWNER, h_get_owner, false},
    {RM_VM_GET_PEERS, h_get_peers, false},
    {RM_VM_HOST_GET_TYPE, h_host_get_type, false},
    {RM_VM_GET_CRASH_MSG, h_get_crash_msg, false},
    {RM_VM_GET_HYP_RESOURCES, h_get_hyp_resources, false},
    {RM_VM_SET_STATUS, h_set_status, false},
    {RM_VM_EXIT, h_host_denied, false},
    {RM_VM_SET_CRASH_MSG, h_host_denied, false},
    {RM_VM_SET_BOOT_CONTEXT, sim_vm_h_boot_context, true},
    {RM_VM_SET_DEMAND_PAGING, sim_vm_h_demand_paging, true},
    {RM_VM_SET_ADDRESS_LAYOUT, sim_vm_h_address_layout, true},
};

uint32_t sim_vm_handle(Sim *s, uint16_t caller, uint32_t msg_id, const uint8_t *p, size_t len,
                       SimReply *reply, bool *handled)
{
        for (size_t i = 0; i < ELEMENTSOF(vm_table); i++) {
                if (vm_table[i].id != msg_id)
                        continue;
                if (vm_table[i].v17_only && s->opt.profile != SIM_PROFILE_V17)
                        break;
                *handled = true;
                return vm_table[i].fn(s, caller, p, len, reply);
        }
        *handled = false;
        return RM_ERROR_UNIMPLEMENTED;
}

int sim_reply_put(SimReply *r, const void *data, size_t len)
{
        if (r->cap - r->len < len) {
                size_t cap = MAX(r->cap * 2, r->len + len + 64);
                uint8_t *b = realloc(r->buf, cap);
                if (!b)
                        return -ENOMEM;
                r->buf = b;
                r->cap = cap;
        }
        memcpy(r->buf + r->len, data, len);
        r->len += len;
        return 0;
}

void sim_dispatch(Sim *s, uint16_t caller, uint16_t seq, uint32_t msg_id, const uint8_t *p,
                  size_t len)
{
        SimReply r = {0};
        bool handled = false;
        uint32_t err;
        uint8_t zero[4] = {0};

        if (sim_reply_put(&r, zero, 4) < 0)
                return;
        err = sim_vm_handle(s, caller, msg_id, p, len, &r, &handled);
        if (!handled)
                err = sim_parcel_handle(s, caller, msg_id, p, len, &r, &handled);
        if (!handled)
                err = RM_ERROR_UNIMPLEMENTED;
        if (err != RM_OK)
                r.len = 4; /* no data accompanies an error */
        le32_put(r.buf, err);
        if (err != RM_OK)
                sim_debug(s, "request 0x%08x -> %s (0x%x)", msg_id,
                          rm_error_to_string(err) ? rm_error_to_string(err) : "?", err);
        if (len > RM_RECV_MAX_PAYLOAD || r.len > RM_RECV_MAX_PAYLOAD) {
                r.len = 4;
                le32_put(r.buf, RM_ERROR_NOMEM);
        }
        sim_link_reply(s, seq, msg_id, r.buf, r.len);
        free(r.buf);
}
