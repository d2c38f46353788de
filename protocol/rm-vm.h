#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Payload codecs for the VM calls (rm-protocol.md section 8), both directions: the daemon
 * encodes requests and decodes reply data; the simulator decodes requests and encodes reply
 * data. Reply codecs work on the data AFTER the u32 error word (see rm_reply_split()).
 *
 * Contract of every function here:
 *   rm_encode_*(buf, cap, ...)   returns the number of bytes written, or -ENOBUFS.
 *   rm_decode_*(p, len, ...)     returns 0, or
 *       -EBADMSG  length is not what the call requires (fixed size, or header + n * entry),
 *       -EPROTO   a reserved field the RM checks is not zero (only where noted),
 *       -E2BIG    a count exceeds the limit or the caller's capacity.
 * The RM maps -EBADMSG and -EPROTO to MSG_INVALID (0x4); what it does with -E2BIG is per call.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* {u16 vmid, u16 res}: ALLOCATE, DEALLOCATE, START, RESET, INIT, GET_STATE,
 * GET_HYP_RESOURCES, GET_CRASH_MSG. Exactly 4 bytes. */
typedef struct RmVmidReq {
        uint16_t vmid;
        uint16_t res;
} RmVmidReq;
ssize_t rm_encode_vmid_req(uint8_t *buf, size_t cap, uint16_t vmid);
/* res_must_be_zero: VM_INIT's rule (-EPROTO when res != 0). */
int rm_decode_vmid_req(const uint8_t *p, size_t len, bool res_must_be_zero, RmVmidReq *ret);

/* VM_ALLOCATE reply data: u32 vmid when vmid 0 was requested, empty otherwise.
 * Decoder: exactly 4 bytes and the value fits in u16, else -EBADMSG. */
ssize_t rm_encode_vm_allocate_reply(uint8_t *buf, size_t cap, uint16_t vmid);
int rm_decode_vm_allocate_reply(const uint8_t *p, size_t len, uint16_t *ret_vmid);

/* VM_STOP: exactly 8 bytes. */
typedef struct RmVmStop {
        uint16_t vmid;
        uint8_t flags; /* RM_VM_STOP_FLAG_FORCE */
        uint8_t res;
        uint32_t stop_reason;
} RmVmStop;
ssize_t rm_encode_vm_stop(uint8_t *buf, size_t cap, const RmVmStop *m);
int rm_decode_vm_stop(const uint8_t *p, size_t len, RmVmStop *ret);

/* VM_CONFIG_IMAGE: exactly 40 bytes. */
typedef struct RmVmConfigImage {
        uint16_t vmid;
        uint16_t auth; /* RmAuth */
        uint32_t handle;
        uint64_t image_offset;
        uint64_t image_size;
        uint64_t dtb_offset;
        uint64_t dtb_size;
} RmVmConfigImage;
ssize_t rm_encode_vm_config_image(uint8_t *buf, size_t cap, const RmVmConfigImage *m);
int rm_decode_vm_config_image(const uint8_t *p, size_t len, RmVmConfigImage *ret);

/* VM_GET_STATE reply data: exactly 4 bytes. */
typedef struct RmVmState {
        uint8_t vm_status; /* RmVmStatus */
        uint8_t os_status; /* RmOsStatus */
        uint16_t app_status;
} RmVmState;
ssize_t rm_encode_vm_get_state_reply(uint8_t *buf, size_t cap, const RmVmState *s);
int rm_decode_vm_get_state_reply(const uint8_t *p, size_t len, RmVmState *ret);

/* VM_GET_VMID: request must be empty (decoder: len != 0 -> -EBADMSG); reply data u32. */
int rm_decode_vm_get_vmid(const uint8_t *p, size_t len);
ssize_t rm_encode_vm_get_vmid_reply(uint8_t *buf, size_t cap, uint32_t vmid);
int rm_decode_vm_get_vmid_reply(const uint8_t *p, size_t len, uint32_t *ret_vmid);

/* VM_GET_HYP_RESOURCES reply data: u32 n, then n x 44-byte entries; exactly 4 + 44n. */
#define RM_HYP_RESOURCE_SIZE 44u
typedef struct RmHypResource {
        uint8_t type; /* RmResourceType */
        uint8_t res;
        uint16_t partner_vmid;
        uint32_t handle;
        uint32_t label;
        uint64_t cap_id; /* wire: two u32, low word first */
        uint32_t virq_handle;
        uint32_t virq;
        uint64_t base;
        uint64_t size;
} RmHypResource;
ssize_t rm_encode_vm_get_hyp_resources_reply(uint8_t *buf, size_t cap, const RmHypResource *e,
                                             size_t n);
/* Fills up to cap entries; -E2BIG if the reply lists more than cap. */
int rm_decode_vm_get_hyp_resources_reply(const uint8_t *p, size_t len, RmHypResource *ret,
                                         size_t cap, size_t *ret_n);

/* VM_GET_CRASH_MSG reply data: u16 len, u16 0, message zero-padded to 4; exactly
 * 4 + ALIGN4(len). The decoder copies at most RM_MAX_CRASH_MSG bytes and NUL-terminates
 * (ret must hold RM_MAX_CRASH_MSG + 1); a longer len is -E2BIG. The encoder likewise
 * refuses len > RM_MAX_CRASH_MSG with -E2BIG (the RM truncates stored messages to 192). */
ssize_t rm_encode_vm_get_crash_msg_reply(uint8_t *buf, size_t cap, const char *msg, size_t len);
int rm_decode_vm_get_crash_msg_reply(const uint8_t *p, size_t len, char *ret, size_t *ret_len);

/* VM_SET_BOOT_CONTEXT (v17): exactly 16 bytes. */
typedef struct RmVmBootContext {
        uint16_t vmid;
        uint8_t reg_set; /* RmRegSet */
        uint8_t reg_index;
        uint32_t res;
        uint64_t value;
} RmVmBootContext;
ssize_t rm_encode_vm_set_boot_context(uint8_t *buf, size_t cap, const RmVmBootContext *m);
int rm_decode_vm_set_boot_context(const uint8_t *p, size_t len, RmVmBootContext *ret);

/* VM_SET_DEMAND_PAGING (v17): {u16 vmid, u16 res, u32 n, n x {u64 base, u64 size}};
 * exactly 8 + 16n. */
typedef struct RmRange {
        uint64_t base;
        uint64_t size;
} RmRange;
ssize_t rm_encode_vm_set_demand_paging(uint8_t *buf, size_t cap, uint16_t vmid,
                                       const RmRange *ranges, size_t n);
int rm_decode_vm_set_demand_paging(const uint8_t *p, size_t len, uint16_t *ret_vmid,
                                   RmRange *ret, size_t cap, size_t *ret_n);

/* VM_SET_ADDRESS_LAYOUT (v17): exactly 24 bytes. */
typedef struct RmVmAddressLayout {
        uint16_t vmid;
        uint16_t res;
        uint32_t range_id; /* RmRangeId */
        uint64_t base;
        uint64_t size;
} RmVmAddressLayout;
ssize_t rm_encode_vm_set_address_layout(uint8_t *buf, size_t cap, const RmVmAddressLayout *m);
int rm_decode_vm_set_address_layout(const uint8_t *p, size_t len, RmVmAddressLayout *ret);
