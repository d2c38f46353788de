/* SPDX-License-Identifier: MIT */
/* RM notifications that drive VM state (NOTIFY_VM_STATUS, NOTIFY_VM_EXITED, memory and
 * demand-paging events: one dispatch table) and RM link up/down. */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "manager-internal.h"
#include "rm-ids.h"
#include "rm-notify.h"
#include "rm-types.h"

/* ---- RM notifications ---- */

static void manager_on_vm_status(Manager *m, const uint8_t *p, size_t len)
{
        RmNotifyVmStatus st;
        Vm *vm;

        if (rm_decode_notify_vm_status(p, len, &st) < 0) {
                log_warning("Malformed NOTIFY_VM_STATUS (%zu bytes), ignored", len);
                return;
        }
        vm = manager_vm_lookup_vmid(m, st.vmid);
        if (!vm) {
                log_debug("NOTIFY_VM_STATUS for unknown VMID %u", st.vmid);
                return;
        }
        bool changed = vm->rm_status != st.vm_status || vm->os_status != st.os_status ||
                       vm->app_status != st.app_status;
        vm->rm_status = st.vm_status;
        vm->os_status = st.os_status;
        vm->app_status = st.app_status;
        vm->rm_status_known = true;
        if (changed) {
                EventCause cause = { .kind = EVENT_CAUSE_RM, .rm_msg_id = RM_NOTIFY_VM_STATUS };
                const char *vs = rm_vm_status_to_string(st.vm_status);
                const char *os = rm_os_status_to_string(st.os_status);
                vm_event(vm, EVENT_VM_RM_STATUS, &cause, "rm %s, os %s, app %u",
                         vs ? vs : "?", os ? os : "?", st.app_status);
        }
        /* The release loop waits for RESET: it goes on now instead of at its next poll. */
        if (st.vm_status == RM_VM_STATUS_RESET)
                vm_release_poke(vm);
}

static void manager_on_exited(Manager *m, const uint8_t *p, size_t len)
{
        uint16_t vmid = len >= 2 ? (uint16_t)(p[0] | p[1] << 8) : 0;
        Vm *vm = manager_vm_lookup_vmid(m, vmid);

        if (vm)
                manager_on_vm_exited(m, vm, p, len);
        else
                log_debug("NOTIFY_VM_EXITED for unknown VMID %u", vmid);
}

static const struct {
        uint32_t msg_id;
        void (*handle)(Manager *m, const uint8_t *p, size_t len);
} notify_table[] = {
        { RM_NOTIFY_VM_STATUS, manager_on_vm_status },
        { RM_NOTIFY_VM_EXITED, manager_on_exited },
        { RM_NOTIFY_SIM_PAGE_FAULT, manager_on_page_fault },
        { RM_NOTIFY_MEM_ACCEPTED, manager_on_mem_accepted },
        { RM_NOTIFY_MEM_RELEASED, manager_on_mem_released },
};

void manager_on_notify(RmClient *c, uint32_t msg_id, const uint8_t *payload, size_t len,
                       void *userdata)
{
        Manager *m = userdata;

        if (m->shutting_down)
                return;
        for (size_t i = 0; i < ELEMENTSOF(notify_table); i++)
                if (notify_table[i].msg_id == msg_id)
                        return notify_table[i].handle(m, payload, len);
        log_debug("RM notification 0x%08x (%s) not used by the manager", msg_id,
                  rm_msg_id_to_string(msg_id) ?: "?");
}

void manager_on_link(RmClient *c, bool up, int error, void *userdata)
{
        Manager *m = userdata;

        if (m->shutting_down)
                return;
        if (up) {
                m->link_state = MANAGER_LINK_UP;
                log_debug("RM link up: re-synchronizing"); /* rm-link logs the event */
                event_log_append(m->events, EVENT_RM_LINK, NULL, NULL, NULL, "up");
                manager_on_link_up(m);
        } else {
                m->link_state = MANAGER_LINK_CONNECTING;
                m->caps_known = false;
                log_debug_errno(error, "RM link down: %m"); /* rm-link logs the event */
                event_log_append(m->events, EVENT_RM_LINK, NULL, NULL, NULL, "down: %s",
                                 strerror(error < 0 ? -error : error));
                manager_run_waiting_starts(m, false);
        }
}

