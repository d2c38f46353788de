#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * RM enumerations (rm-protocol.md sections 8, 10, 11): VM status, OS status, exit types and
 * codes, resource types, memory rights/types/flags, auth mechanisms, boot-context register
 * sets. Each enum has a *_to_string() returning a static name or NULL when out of range.
 */
#include <stdint.h>

typedef enum RmVmStatus {
        RM_VM_STATUS_NONE = 0,
        RM_VM_STATUS_INIT = 1,
        RM_VM_STATUS_READY = 2,
        RM_VM_STATUS_RUNNING = 3,
        RM_VM_STATUS_PAUSED = 4,
        RM_VM_STATUS_LOAD = 5,
        RM_VM_STATUS_AUTH = 6,
        RM_VM_STATUS_INIT_FAILED = 8,
        RM_VM_STATUS_EXITED = 9,
        RM_VM_STATUS_RESETTING = 10,
        RM_VM_STATUS_RESET = 11,
} RmVmStatus;

typedef enum RmOsStatus {
        RM_OS_STATUS_NONE = 0,
        RM_OS_STATUS_EARLY_BOOT = 1,
        RM_OS_STATUS_BOOT = 2,
        RM_OS_STATUS_INIT = 3,
        RM_OS_STATUS_RUN = 4,
        RM_OS_STATUS_SHUTDOWN = 5,
        RM_OS_STATUS_HALTED = 6,
        RM_OS_STATUS_CRASHED = 7,
} RmOsStatus;

typedef enum RmExitType {
        RM_EXIT_TYPE_VM_EXIT = 0,
        RM_EXIT_TYPE_PLATFORM_OFF = 1,
        RM_EXIT_TYPE_PLATFORM_RESET = 2,
        RM_EXIT_TYPE_PSCI_SYSTEM_RESET2 = 3,
        RM_EXIT_TYPE_WATCHDOG_BITE = 4,
        RM_EXIT_TYPE_SOFTWARE_ERROR = 5,
        RM_EXIT_TYPE_ASYNC_HW_ERROR = 6,
        RM_EXIT_TYPE_VM_STOP_FORCED = 7,
} RmExitType;

/* Exit codes as the open RM numbers them (bits 23:16 of exit reason word 0). */
typedef enum RmExitCode {
        RM_EXIT_CODE_NORMAL = 0,
        RM_EXIT_CODE_SOFTWARE_ERROR = 1,
        RM_EXIT_CODE_UNKNOWN_ERROR = 2,
        RM_EXIT_CODE_BUS_ERROR = 3,
        RM_EXIT_CODE_DEVICE_ERROR = 4,
} RmExitCode;
#define RM_EXIT_FLAG_RESTART 0x0001u
#define RM_EXIT_FLAG_SMC64 0x8000u

/* VM_STOP */
#define RM_VM_STOP_FLAG_FORCE 0x01u
typedef enum RmStopReason {
        RM_STOP_REASON_SHUTDOWN = 0,
        RM_STOP_REASON_RESTART = 1,
        RM_STOP_REASON_CRASH = 2,
        RM_STOP_REASON_FORCE_STOP = 3,
} RmStopReason;

/* VM_CONFIG_IMAGE auth mechanisms */
typedef enum RmAuth {
        RM_AUTH_NONE = 0,
        RM_AUTH_PLATFORM = 1,
        RM_AUTH_ANDROID = 2,
} RmAuth;

/* Hyp resource types; 9 and 10 are v17-only (not produced by the open RM). */
typedef enum RmResourceType {
        RM_RES_DOORBELL_SRC = 0,
        RM_RES_DOORBELL = 1,
        RM_RES_MSG_QUEUE_SEND = 2,
        RM_RES_MSG_QUEUE_RECV = 3,
        RM_RES_VIRTUAL_CPU = 4,
        RM_RES_VIRTUAL_PM = 5,
        RM_RES_VIRTIO_MMIO = 6,
        RM_RES_VRTC = 7,
        RM_RES_WATCHDOG = 8,
        RM_RES_MEM_EXTENT = 9,
        RM_RES_ADDR_SPACE = 10,
} RmResourceType;

/* VM_SET_BOOT_CONTEXT register sets */
typedef enum RmRegSet {
        RM_REG_SET_X = 0,
        RM_REG_SET_PC = 1,
        RM_REG_SET_SP = 2,
} RmRegSet;

/* VM_SET_ADDRESS_LAYOUT range ids */
typedef enum RmRangeId {
        RM_RANGE_IMAGE = 0,
        RM_RANGE_FIRMWARE = 1,
} RmRangeId;

/* Memory parcels (section 11.1) */
#define RM_ACL_X 0x1u
#define RM_ACL_W 0x2u
#define RM_ACL_R 0x4u
#define RM_ACL_RWX (RM_ACL_R | RM_ACL_W | RM_ACL_X)
typedef enum RmMemType {
        RM_MEM_TYPE_NORMAL = 0,
        RM_MEM_TYPE_IO = 1,
} RmMemType;
typedef enum RmTransType {
        RM_TRANS_DONATE = 0,
        RM_TRANS_LEND = 1,
        RM_TRANS_SHARE = 2,
} RmTransType;
typedef enum RmMemAttr {
        RM_MEM_ATTR_NORMAL = 0,
        RM_MEM_ATTR_DEVICE = 1,
        RM_MEM_ATTR_UNCACHED = 2,
        RM_MEM_ATTR_CACHED = 3,
} RmMemAttr;
#define RM_MEM_CREATE_FLAG_SANITIZE 0x01u
#define RM_MEM_CREATE_FLAG_APPEND 0x02u
#define RM_MEM_APPEND_FLAG_END 0x01u
#define RM_MEM_ACCEPT_FLAG_VALIDATE_SANITIZED 0x01u
#define RM_MEM_ACCEPT_FLAG_VALIDATE_ACL_ATTR 0x02u
#define RM_MEM_ACCEPT_FLAG_VALIDATE_LABEL 0x04u
#define RM_MEM_ACCEPT_FLAG_MAP_OTHER 0x08u
#define RM_MEM_ACCEPT_FLAG_MAP_CONTIGUOUS 0x10u
#define RM_MEM_ACCEPT_FLAG_SANITIZE 0x20u
#define RM_MEM_ACCEPT_FLAG_DONE 0x80u
#define RM_MEM_ACCEPT_REPLY_FLAG_INCOMPLETE 0x01u
#define RM_MEM_RELEASE_FLAG_SANITIZE 0x01u
#define RM_MEM_NOTIFY_SHARED 0x01u
#define RM_MEM_NOTIFY_RELEASED 0x02u
#define RM_MEM_NOTIFY_ACCEPTED 0x04u
#define RM_MEM_NOTIFY_RECALL 0x08u

/* Limits (sections 4.5, 6) */
#define RM_MAX_LIST_ENTRIES 512u
#define RM_MAX_PARCELS_PER_VM 64u
#define RM_PAGE_SIZE 4096u
#define RM_ADDR_LIMIT (1ull << 44)
#define RM_MAX_CRASH_MSG 192u
#define RM_MAX_NAME 80u

const char *rm_vm_status_to_string(uint32_t s);  /* "LOAD", "RUNNING", ... */
const char *rm_os_status_to_string(uint32_t s);  /* "EARLY_BOOT", ... */
const char *rm_exit_type_to_string(uint32_t t);  /* "VM_EXIT", "WATCHDOG_BITE", ... */
const char *rm_exit_code_to_string(uint32_t c);  /* "NORMAL", ... (open RM numbering) */
const char *rm_resource_type_to_string(uint32_t t);
