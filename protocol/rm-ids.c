/* SPDX-License-Identifier: MIT */
/*
 * Names of every RM message and notification ID (rm-protocol.md section 7): one table, the
 * name being the rm-ids.h macro without its RM_ prefix.
 */
#include <stddef.h>

#include "macro.h"
#include "rm-ids.h"

typedef struct RmIdName {
        uint32_t id;
        const char *name;
} RmIdName;

#define ID(x) { RM_##x, #x }

static const RmIdName id_table[] = {
        ID(MEM_DONATE),
        ID(MEM_ACCEPT),
        ID(MEM_LEND),
        ID(MEM_SHARE),
        ID(MEM_RELEASE),
        ID(MEM_RECLAIM),
        ID(MEM_NOTIFY),
        ID(MEM_APPEND),
        ID(MEM_QCOM_LOOKUP_SGL),
        ID(FW_MILESTONE),
        ID(FW_SET_VM_FIRMWARE),
        ID(NOTIFY_MEM_SHARED),
        ID(NOTIFY_MEM_RELEASED),
        ID(NOTIFY_MEM_ACCEPTED),
        ID(NOTIFY_MEM_RECALL),
        ID(VM_ALLOCATE),
        ID(VM_DEALLOCATE),
        ID(VM_START),
        ID(VM_STOP),
        ID(VM_RESET),
        ID(VM_SUSPEND),
        ID(VM_RESUME),
        ID(VM_CONFIG_IMAGE),
        ID(VM_AUTH_IMAGE),
        ID(VM_INIT),
        ID(VM_SET_BOOT_CONTEXT_V16),
        ID(VM_GET_ID),
        ID(VM_LOOKUP_URI),
        ID(VM_LOOKUP_GUID),
        ID(VM_LOOKUP_NAME),
        ID(VM_GET_OWNER),
        ID(VM_GET_STATE),
        ID(VM_GET_CRASH_MSG),
        ID(VM_GET_HYP_RESOURCES),
        ID(VM_GET_HYP_CAPIDS),
        ID(VM_GET_HYP_IRQS),
        ID(VM_GET_VMID),
        ID(VM_GET_PEERS),
        ID(VM_SET_TIME_BASE),
        ID(VM_SET_BOOT_CONTEXT),
        ID(VM_SET_FIRMWARE_MEM),
        ID(VM_SET_DEMAND_PAGING),
        ID(VM_SET_ADDRESS_LAYOUT),
        ID(VM_IRQ_ACCEPT),
        ID(VM_IRQ_LEND),
        ID(VM_IRQ_RELEASE),
        ID(VM_IRQ_RECLAIM),
        ID(VM_IRQ_NOTIFY),
        ID(VM_IRQ_UNMAP),
        ID(VM_SET_STATUS),
        ID(VM_CONSOLE_OPEN),
        ID(VM_CONSOLE_CLOSE),
        ID(VM_CONSOLE_WRITE),
        ID(VM_CONSOLE_FLUSH),
        ID(VM_EXIT),
        ID(VM_SET_CRASH_MSG),
        ID(VM_HOST_GET_TYPE),
        ID(IPA_RESERVE),
        ID(IPA_UNRESERVE),
        ID(NOTIFY_VM_EXITED),
        ID(NOTIFY_VM_SHUTDOWN),
        ID(NOTIFY_VM_STATUS),
        ID(NOTIFY_VM_IRQ_LENT),
        ID(NOTIFY_VM_IRQ_RELEASED),
        ID(NOTIFY_VM_IRQ_ACCEPTED),
        ID(NOTIFY_VM_CONSOLE_CHARS),
        ID(NOTIFY_SIM_PAGE_FAULT),
};

#undef ID

const char *rm_msg_id_to_string(uint32_t msg_id)
{
        for (size_t i = 0; i < ELEMENTSOF(id_table); i++)
                if (id_table[i].id == msg_id)
                        return id_table[i].name;
        return NULL;
}
