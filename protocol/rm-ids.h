#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Every RM message and notification ID, in one place (rm-protocol.md section 7).
 * Names follow the open RM where it has one, the v17 Linux driver otherwise.
 * rm_msg_id_to_string() returns the name without the RM_ prefix ("VM_START"), or NULL
 * for an ID not in the table.
 */
#include <stdint.h>

/* Memory parcels (0x51...) */
#define RM_MEM_DONATE 0x51000010u
#define RM_MEM_ACCEPT 0x51000011u
#define RM_MEM_LEND 0x51000012u
#define RM_MEM_SHARE 0x51000013u
#define RM_MEM_RELEASE 0x51000014u
#define RM_MEM_RECLAIM 0x51000015u
#define RM_MEM_NOTIFY 0x51000017u
#define RM_MEM_APPEND 0x51000018u
#define RM_MEM_QCOM_LOOKUP_SGL 0x5100001Au
#define RM_FW_MILESTONE 0x51000020u
#define RM_FW_SET_VM_FIRMWARE 0x51000021u

/* Memory notifications */
#define RM_NOTIFY_MEM_SHARED 0x51100011u
#define RM_NOTIFY_MEM_RELEASED 0x51100012u
#define RM_NOTIFY_MEM_ACCEPTED 0x51100013u
#define RM_NOTIFY_MEM_RECALL 0x51100014u

/* VM management (0x56...) */
#define RM_VM_ALLOCATE 0x56000001u
#define RM_VM_DEALLOCATE 0x56000002u
#define RM_VM_START 0x56000004u
#define RM_VM_STOP 0x56000005u
#define RM_VM_RESET 0x56000006u
#define RM_VM_SUSPEND 0x56000007u /* commented out in the open RM: UNIMPLEMENTED */
#define RM_VM_RESUME 0x56000008u  /* idem */
#define RM_VM_CONFIG_IMAGE 0x56000009u
#define RM_VM_AUTH_IMAGE 0x5600000Au
#define RM_VM_INIT 0x5600000Bu
#define RM_VM_SET_BOOT_CONTEXT_V16 0x5600000Cu /* v16 only; UNIMPLEMENTED everywhere now */
#define RM_VM_GET_ID 0x56000010u
#define RM_VM_LOOKUP_URI 0x56000011u
#define RM_VM_LOOKUP_GUID 0x56000012u
#define RM_VM_LOOKUP_NAME 0x56000013u
#define RM_VM_GET_OWNER 0x56000015u
#define RM_VM_GET_STATE 0x56000017u
#define RM_VM_GET_CRASH_MSG 0x56000019u
#define RM_VM_GET_HYP_RESOURCES 0x56000020u
#define RM_VM_GET_HYP_CAPIDS 0x56000021u /* UNIMPLEMENTED ("v2") */
#define RM_VM_GET_HYP_IRQS 0x56000022u   /* UNIMPLEMENTED ("v2") */
#define RM_VM_GET_VMID 0x56000024u
#define RM_VM_GET_PEERS 0x56000025u
#define RM_VM_SET_TIME_BASE 0x56000030u
#define RM_VM_SET_BOOT_CONTEXT 0x56000031u /* v17; open RM: UNIMPLEMENTED */
#define RM_VM_SET_FIRMWARE_MEM 0x56000032u
#define RM_VM_SET_DEMAND_PAGING 0x56000033u  /* v17; open RM: UNIMPLEMENTED */
#define RM_VM_SET_ADDRESS_LAYOUT 0x56000034u /* v17; open RM: UNIMPLEMENTED */
#define RM_VM_IRQ_ACCEPT 0x56000050u
#define RM_VM_IRQ_LEND 0x56000051u
#define RM_VM_IRQ_RELEASE 0x56000052u
#define RM_VM_IRQ_RECLAIM 0x56000053u
#define RM_VM_IRQ_NOTIFY 0x56000054u
#define RM_VM_IRQ_UNMAP 0x56000055u /* UNIMPLEMENTED */
#define RM_VM_SET_STATUS 0x56000080u
#define RM_VM_CONSOLE_OPEN 0x56000081u
#define RM_VM_CONSOLE_CLOSE 0x56000082u
#define RM_VM_CONSOLE_WRITE 0x56000083u
#define RM_VM_CONSOLE_FLUSH 0x56000084u
#define RM_VM_EXIT 0x56000085u
#define RM_VM_SET_CRASH_MSG 0x56000086u
#define RM_VM_HOST_GET_TYPE 0x560000A0u
#define RM_IPA_RESERVE 0x560000B0u
#define RM_IPA_UNRESERVE 0x560000B1u /* UNIMPLEMENTED */

/* VM notifications */
#define RM_NOTIFY_VM_EXITED 0x56100001u
#define RM_NOTIFY_VM_SHUTDOWN 0x56100002u
#define RM_NOTIFY_VM_STATUS 0x56100008u
#define RM_NOTIFY_VM_IRQ_LENT 0x56100011u
#define RM_NOTIFY_VM_IRQ_RELEASED 0x56100012u
#define RM_NOTIFY_VM_IRQ_ACCEPTED 0x56100013u
#define RM_NOTIFY_VM_CONSOLE_CHARS 0x56100080u

/*
 * Simulator extension (not part of the RM protocol): a private notification ID range for
 * events that on hardware come from the host kernel, not the RM. gunyah-rm-sim only ever
 * sends these; docs/simulator.md documents each one.
 *
 * RM_NOTIFY_SIM_PAGE_FAULT payload (16 bytes): u16 vmid, u16 res, u32 flags (bit0 write,
 * bit1 exec), u64 faulting guest IPA.
 */
#define RM_SIM_EXT_BASE 0x5F000000u
#define RM_NOTIFY_SIM_PAGE_FAULT 0x5F100001u

/* VMIDs (section 6) */
#define RM_VMID_HYP 0x0000u
#define RM_VMID_HLOS 0x0003u
#define RM_VMID_DYN_FIRST 0x0080u
#define RM_VMID_DYN_LAST 0x00BEu /* 63 dynamic VMIDs */
#define RM_VMID_DYN_COUNT 63u
#define RM_VMID_RM 0x00FFu
#define RM_VMID_INVALID 0xFFFFu
#define RM_MEM_HANDLE_INVALID 0xFFFFFFFFu

const char *rm_msg_id_to_string(uint32_t msg_id);
