/* SPDX-License-Identifier: MIT */
/*
 * The simulated guests. A started guest walks os_status EARLY_BOOT -> BOOT -> RUN (one step
 * per pace interval, each reported with NOTIFY_VM_STATUS through VM_SET_STATUS semantics);
 * it exits by itself (VM_EXIT, code 0) one pace after NOTIFY_VM_SHUTDOWN unless told to
 * ignore shutdown requests; it accepts parcels announced with MEM_SHARED (MEM_ACCEPT, then
 * MEM_NOTIFY(ACCEPTED) so the owner gets MEM_ACCEPTED) and releases recalled ones; a
 * demand-paging fault blocks it until a parcel covering the IPA is accepted. Guest calls go
 * through the same parcel/VM functions a real guest's RPCs would reach, with its own VMID
 * as the caller. Accepted parcels are mapped contiguously at their first SGL address.
 */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "macro.h"
#include "rm-notify.h"
#include "sim.h"

static void schedule(Sim *s, SimVm *vm, int action, unsigned delay_ms)
{
        vm->guest_action = action;
        vm->guest_deadline = sim_now_ms() + delay_ms;
        if (vm->guest_deadline == 0)
                vm->guest_deadline = 1;
}

/* Deferred guest work on parcels (accept on MEM_SHARED, release on MEM_RECALL). */
#define GUEST_OPS 64
typedef struct GuestOp {
        uint16_t vmid;
        bool release;
        uint32_t handle;
        uint32_t tag;
} GuestOp;
static GuestOp guest_ops[GUEST_OPS];
static size_t n_guest_ops;

static bool vm_alive(const SimVm *vm)
{
        return vm->status == RM_VM_STATUS_RUNNING || vm->status == RM_VM_STATUS_PAUSED;
}

void sim_guest_started(Sim *s, SimVm *vm)
{
        vm->fault_blocked = false;
        schedule(s, vm, SIM_GUEST_BOOT_STEP, s->opt.guest_pace_ms);
}

static bool covered(Sim *s, SimVm *vm, uint64_t ipa)
{
        for (SimParcel *pc = s->parcels; pc; pc = pc->next) {
                SimAcl *a = sim_parcel_acl_of(pc, vm->vmid);
                if (a && a->accepted && ipa >= a->guest_ipa && ipa - a->guest_ipa < pc->size)
                        return true;
        }
        return false;
}

void sim_guest_check_fault(Sim *s, SimVm *vm)
{
        if (!vm->fault_blocked || !covered(s, vm, vm->fault_ipa))
                return;
        sim_debug(s, "vm 0x%x: fault at 0x%llx resolved", vm->vmid,
                  (unsigned long long)vm->fault_ipa);
        vm->fault_blocked = false;
        if (vm->guest_action == SIM_GUEST_BOOT_STEP && !vm->guest_deadline)
                schedule(s, vm, SIM_GUEST_BOOT_STEP, s->opt.guest_pace_ms);
}

static void run_guest_ops(Sim *s)
{
        size_t n = n_guest_ops;

        n_guest_ops = 0;
        for (size_t i = 0; i < n; i++) {
                GuestOp op = guest_ops[i];
                SimVm *vm = sim_vm_get(s, op.vmid);
                SimParcel *pc = sim_parcel_get(s, op.handle);

                if (!vm || !pc || !vm_alive(vm))
                        continue;
                if (op.release) {
                        if (sim_parcel_do_release(s, vm->vmid, op.handle) == RM_OK)
                                (void)sim_parcel_do_notify(s, vm->vmid, op.handle,
                                                           RM_MEM_NOTIFY_RELEASED, op.tag, NULL, 0);
                        continue;
                }
                if (sim_parcel_accept_for(s, pc, vm->vmid, pc->sgl[0].ipa) != RM_OK)
                        continue;
                (void)sim_parcel_do_notify(s, vm->vmid, op.handle, RM_MEM_NOTIFY_ACCEPTED, op.tag,
                                           NULL, 0);
                sim_guest_check_fault(s, vm);
        }
}

void sim_guest_notify(Sim *s, SimVm *vm, uint32_t msg_id, const uint8_t *p, size_t len)
{
        if (!vm_alive(vm))
                return; /* no guest to hear it */
        switch (msg_id) {
        case RM_NOTIFY_VM_SHUTDOWN:
                sim_debug(s, "vm 0x%x: guest got VM_SHUTDOWN%s", vm->vmid,
                          vm->ignore_shutdown ? " (ignored)" : "");
                if (!vm->ignore_shutdown)
                        schedule(s, vm, SIM_GUEST_SHUTDOWN_EXIT, s->opt.guest_pace_ms);
                break;
        case RM_NOTIFY_MEM_SHARED:
        case RM_NOTIFY_MEM_RECALL:
                if (len < 8 || n_guest_ops >= GUEST_OPS)
                        break;
                guest_ops[n_guest_ops++] = (GuestOp){
                    .vmid = vm->vmid,
                    .release = msg_id == RM_NOTIFY_MEM_RECALL,
                    .handle = le32_get(p),
                    .tag = msg_id == RM_NOTIFY_MEM_SHARED ? le32_get(p + 16) : le32_get(p + 4)};
                break;
        default:
                break;
        }
}

bool sim_guest_has_ops(void)
{
        return n_guest_ops > 0;
}

void sim_guest_run_ops(Sim *s)
{
        if (n_guest_ops > 0)
                run_guest_ops(s);
}

void sim_guest_forget_ops(void)
{
        n_guest_ops = 0;
}

void sim_guest_tick(Sim *s, SimVm *vm, uint64_t now)
{
        vm->guest_deadline = 0;
        if (!vm_alive(vm))
                return;
        switch (vm->guest_action) {
        case SIM_GUEST_BOOT_STEP:
                if (vm->fault_blocked)
                        return; /* resumes when the fault is resolved */
                if (vm->os_status < RM_OS_STATUS_EARLY_BOOT)
                        (void)sim_guest_set_status(s, vm, RM_OS_STATUS_EARLY_BOOT, vm->app_status);
                else if (vm->os_status < RM_OS_STATUS_BOOT)
                        (void)sim_guest_set_status(s, vm, RM_OS_STATUS_BOOT, vm->app_status);
                else if (vm->os_status < RM_OS_STATUS_RUN)
                        (void)sim_guest_set_status(s, vm, RM_OS_STATUS_RUN, vm->app_status);
                if (vm->os_status < RM_OS_STATUS_RUN && vm->os_status != RM_OS_STATUS_NONE)
                        schedule(s, vm, SIM_GUEST_BOOT_STEP, s->opt.guest_pace_ms);
                else
                        vm->guest_action = SIM_GUEST_NONE;
                break;
        case SIM_GUEST_SHUTDOWN_EXIT:
                vm->guest_action = SIM_GUEST_NONE;
                (void)sim_guest_exit(s, vm, RM_EXIT_TYPE_VM_EXIT, 0, 0, NULL, 0, 0, false);
                break;
        default:
                break;
        }
}

uint32_t sim_guest_set_status(Sim *s, SimVm *vm, uint8_t os_status, uint16_t app_status)
{
        if (!vm_alive(vm))
                return RM_ERROR_VM_STATE;
        if (os_status > RM_OS_STATUS_CRASHED)
                return RM_ERROR_ARGUMENT_INVALID;
        if (os_status != RM_OS_STATUS_NONE)
                vm->os_status = os_status;
        vm->app_status = app_status;
        sim_vm_send_status(s, vm);
        return RM_OK;
}

uint32_t sim_guest_exit(Sim *s, SimVm *vm, uint16_t type, int code, uint16_t flags,
                        const char *crash_msg, uint32_t reset_type, uint64_t cookie, bool smc64)
{
        uint32_t reason[4];
        unsigned n = 1;

        if (!vm_alive(vm))
                return RM_ERROR_VM_STATE;
        if (type > RM_EXIT_TYPE_ASYNC_HW_ERROR)
                return RM_ERROR_ARGUMENT_INVALID;
        if (type == RM_EXIT_TYPE_VM_EXIT) {
                /* VM_EXIT: exit_code 0, 1, 3, 4 only (2 UNKNOWN is refused) */
                if (code < 0)
                        code = RM_EXIT_CODE_NORMAL;
                if (code != 0 && code != 1 && code != 3 && code != 4)
                        return RM_ERROR_MSG_INVALID;
                if (vm->crash_fatal)
                        return RM_ERROR_ARGUMENT_INVALID;
        } else if (vm->no_shutdown || vm->crash_fatal) {
                return RM_ERROR_VM_STATE; /* EXITED is not a legal target for this VM */
        }
        if (crash_msg) { /* VM_SET_CRASH_MSG first; the RM keeps at most 192 bytes */
                vm->crash_len = MIN(strlen(crash_msg), (size_t)RM_MAX_CRASH_MSG);
                memcpy(vm->crash_msg, crash_msg, vm->crash_len);
                vm->crash_msg[vm->crash_len] = 0;
        }
        if (code < 0) {
                if (type == RM_EXIT_TYPE_SOFTWARE_ERROR)
                        code = RM_EXIT_CODE_UNKNOWN_ERROR; /* unexpected vCPU state */
                else
                        code =
                            vm->crash_len > 0 ? RM_EXIT_CODE_SOFTWARE_ERROR : RM_EXIT_CODE_NORMAL;
        }
        if (type == RM_EXIT_TYPE_PSCI_SYSTEM_RESET2) {
                if (smc64)
                        flags |= RM_EXIT_FLAG_SMC64;
                reason[1] = reset_type;
                reason[2] = (uint32_t)cookie;
                reason[3] = (uint32_t)(cookie >> 32);
                n = 4;
        }
        reason[0] = (uint32_t)flags | ((uint32_t)(code & 0xFF) << 16);
        sim_vm_exit(s, vm, type, reason, n);
        return RM_OK;
}

int sim_guest_page_fault(Sim *s, SimVm *vm, uint64_t ipa, uint32_t flags)
{
        RmNotifySimPageFault f = {.vmid = vm->vmid, .flags = flags, .ipa = ipa};
        uint8_t buf[16];
        bool in_dp = !vm->dp_set;

        if (!vm_alive(vm))
                return -ESRCH;
        if (vm->fault_blocked)
                return -EBUSY;
        for (size_t i = 0; i < vm->n_dp; i++)
                in_dp |= ipa >= vm->dp[i].base && ipa - vm->dp[i].base < vm->dp[i].size;
        if (!in_dp || covered(s, vm, ipa))
                return -EINVAL; /* no fault outside demand-paged, unmapped memory */
        vm->fault_blocked = true;
        vm->fault_ipa = ipa;
        if (rm_encode_notify_sim_page_fault(buf, sizeof(buf), &f) > 0)
                sim_notify(s, vm->owner, RM_NOTIFY_SIM_PAGE_FAULT, buf, sizeof(buf));
        return 0;
}
