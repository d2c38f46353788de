#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Notification payload codecs (rm-protocol.md sections 9, 11.6). Notifications carry no
 * error word. Same contract as rm-vm.h: encode returns bytes or -ENOBUFS; decode returns 0,
 * -EBADMSG (length), -E2BIG (a count above the limit or the caller's capacity).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rm-mem.h"

/* NOTIFY_VM_STATUS: exactly 8 bytes. */
typedef struct RmNotifyVmStatus {
        uint16_t vmid;
        uint8_t vm_status;
        uint8_t os_status;
        uint16_t app_status;
} RmNotifyVmStatus;
ssize_t rm_encode_notify_vm_status(uint8_t *buf, size_t cap, const RmNotifyVmStatus *m);
int rm_decode_notify_vm_status(const uint8_t *p, size_t len, RmNotifyVmStatus *ret);

/* NOTIFY_VM_EXITED: {u16 vmid, u16 exit_type, u32 reason_size, reason bytes}; length must be
 * exactly 8 + reason_size, reason_size a multiple of 4 and at most RM_EXIT_REASON_MAX
 * (-E2BIG). Word 0 of the reason is exit_flags (bits 15:0) | exit_code << 16; PSCI
 * SYSTEM_RESET2 adds reset_type, cookie low, cookie high. The encoder writes reason[] as
 * given (exit_flags/exit_code are ignored) and refuses reason_size > 16 (-E2BIG) or not a
 * multiple of 4 (-EINVAL). */
#define RM_EXIT_REASON_MAX 16u
typedef struct RmNotifyVmExited {
        uint16_t vmid;
        uint16_t exit_type; /* RmExitType */
        uint32_t reason_size;
        uint32_t reason[RM_EXIT_REASON_MAX / 4];
        /* derived from reason[0] by the decoder (0 when reason_size is 0) */
        uint16_t exit_flags;
        uint8_t exit_code;
} RmNotifyVmExited;
ssize_t rm_encode_notify_vm_exited(uint8_t *buf, size_t cap, const RmNotifyVmExited *m);
int rm_decode_notify_vm_exited(const uint8_t *p, size_t len, RmNotifyVmExited *ret);

/* NOTIFY_VM_SHUTDOWN: u32 stop_reason, exactly 4 bytes. */
ssize_t rm_encode_notify_vm_shutdown(uint8_t *buf, size_t cap, uint32_t stop_reason);
int rm_decode_notify_vm_shutdown(const uint8_t *p, size_t len, uint32_t *ret);

/* MEM_RELEASED / MEM_ACCEPTED: {u32 handle, u16 vmid, u16 res, u32 tag}, exactly 12. */
typedef struct RmNotifyMemOwner {
        uint32_t handle;
        uint16_t vmid; /* the borrower */
        uint32_t mem_info_tag;
} RmNotifyMemOwner;
ssize_t rm_encode_notify_mem_owner(uint8_t *buf, size_t cap, const RmNotifyMemOwner *m);
int rm_decode_notify_mem_owner(const uint8_t *p, size_t len, RmNotifyMemOwner *ret);

/* MEM_RECALL: {u32 handle, u32 tag}, exactly 8. */
typedef struct RmNotifyMemRecall {
        uint32_t handle;
        uint32_t mem_info_tag;
} RmNotifyMemRecall;
ssize_t rm_encode_notify_mem_recall(uint8_t *buf, size_t cap, const RmNotifyMemRecall *m);
int rm_decode_notify_mem_recall(const uint8_t *p, size_t len, RmNotifyMemRecall *ret);

/* MEM_SHARED (section 11.6 table): region sizes only, no addresses. Exact length.
 * acl/attr must point at RM_MAX_LIST_ENTRIES entries, region_sizes likewise. */
typedef struct RmNotifyMemShared {
        uint32_t handle;
        uint8_t mem_type;
        uint8_t trans_type;
        uint8_t flags;
        uint16_t owner_vmid;
        uint32_t label;
        uint32_t mem_info_tag;
        size_t n_acl;
        RmAclEntry *acl;
        size_t n_regions;
        uint64_t *region_sizes;
        size_t n_attr;
        RmAttrEntry *attr;
} RmNotifyMemShared;
ssize_t rm_encode_notify_mem_shared(uint8_t *buf, size_t cap, const RmNotifyMemShared *m);
int rm_decode_notify_mem_shared(const uint8_t *p, size_t len, RmNotifyMemShared *ret);

/* Simulator extension RM_NOTIFY_SIM_PAGE_FAULT (rm-ids.h): exactly 16 bytes. */
#define RM_SIM_FAULT_WRITE 0x1u
#define RM_SIM_FAULT_EXEC 0x2u
typedef struct RmNotifySimPageFault {
        uint16_t vmid;
        uint32_t flags;
        uint64_t ipa;
} RmNotifySimPageFault;
ssize_t rm_encode_notify_sim_page_fault(uint8_t *buf, size_t cap, const RmNotifySimPageFault *m);
int rm_decode_notify_sim_page_fault(const uint8_t *p, size_t len, RmNotifySimPageFault *ret);
