#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Payload codecs for memory parcels (rm-protocol.md section 11), both directions, with the
 * same contract as rm-vm.h (encode: bytes or -ENOBUFS; decode: 0, -EBADMSG, -EPROTO, -E2BIG).
 *
 * Lists (ACL, SGL, attr, VMID) are a 4-byte header {u16 count, u16 ignored} followed by the
 * entries. A list count above RM_MAX_LIST_ENTRIES (512) decodes as -E2BIG, which the RM
 * answers with NORESOURCE (0x2). Decoders write into caller arrays: every list pointer of a
 * struct being decoded must point at RM_MAX_LIST_ENTRIES entries.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * List header helper shared by the list codecs (added): reads {u16 count, u16 ignored} at p
 * and checks count <= RM_MAX_LIST_ENTRIES (-E2BIG) and that count * entry_size bytes follow
 * within len (-EBADMSG; also when len < 4). Returns the bytes the whole list takes
 * (4 + count * entry_size) and the count in *ret_count.
 */
ssize_t rm_decode_list_header(const uint8_t *p, size_t len, size_t entry_size, size_t *ret_count);

typedef struct RmAclEntry {
        uint16_t vmid;
        uint8_t rights; /* RM_ACL_R | RM_ACL_W | RM_ACL_X */
        uint8_t res;
} RmAclEntry;

typedef struct RmSglEntry {
        uint64_t ipa; /* the owner's IPA */
        uint64_t size;
} RmSglEntry;

typedef struct RmAttrEntry {
        uint16_t attr; /* RmMemAttr */
        uint16_t vmid;
} RmAttrEntry;

/* MEM_LEND / MEM_SHARE / MEM_DONATE (section 11.2). Minimum 20 bytes; the lists must consume
 * the message exactly. The attr list may be absent on decode (has_attr_list = false); the
 * encoder always writes it (Linux does, with k = 0). */
typedef struct RmMemCreate {
        uint8_t mem_type; /* RmMemType */
        uint8_t flags;    /* RM_MEM_CREATE_FLAG_* */
        uint32_t label;
        size_t n_acl;
        RmAclEntry *acl;
        size_t n_sgl;
        RmSglEntry *sgl;
        bool has_attr_list;
        size_t n_attr;
        RmAttrEntry *attr;
} RmMemCreate;
ssize_t rm_encode_mem_create(uint8_t *buf, size_t cap, const RmMemCreate *m);
int rm_decode_mem_create(const uint8_t *p, size_t len, RmMemCreate *ret);
/* Reply data of LEND/SHARE/DONATE: u32 handle, exactly 4 bytes. */
ssize_t rm_encode_mem_create_reply(uint8_t *buf, size_t cap, uint32_t handle);
int rm_decode_mem_create_reply(const uint8_t *p, size_t len, uint32_t *ret_handle);

/* MEM_APPEND (section 11.3): {u32 handle, u8 flags, 3 res, SGL list}; min 12, exact. */
typedef struct RmMemAppend {
        uint32_t handle;
        uint8_t flags; /* RM_MEM_APPEND_FLAG_END */
        size_t n_sgl;
        RmSglEntry *sgl;
} RmMemAppend;
ssize_t rm_encode_mem_append(uint8_t *buf, size_t cap, const RmMemAppend *m);
int rm_decode_mem_append(const uint8_t *p, size_t len, RmMemAppend *ret);

/*
 * Splitting an SGL of any length into one create message plus MEM_APPEND chunks (section
 * 11.3, Linux's algorithm): message 0 is the create with entries [0, min(n, 512)) and the
 * APPEND flag set iff n > 512; message i > 0 is a MEM_APPEND with entries
 * [512 i, min(n, 512 (i + 1))); END is set on the last append only.
 */
size_t rm_sgl_message_count(size_t n_sgl);
void rm_sgl_message_range(size_t n_sgl, size_t index, size_t *ret_first, size_t *ret_count,
                          bool *ret_last);

/* MEM_ACCEPT (section 11.4): min 24 bytes, lists exact. As for create, the decoder accepts a
 * message whose trailing attr list is absent (n_attr = 0); the encoder always writes it. */
typedef struct RmMemAccept {
        uint32_t handle;
        uint8_t mem_type;
        uint8_t trans_type;
        uint8_t flags; /* RM_MEM_ACCEPT_FLAG_* */
        uint32_t label;
        size_t n_acl;
        RmAclEntry *acl;
        uint16_t map_vmid;
        size_t n_sgl; /* 0 = let the RM choose IPAs */
        RmSglEntry *sgl;
        size_t n_attr;
        RmAttrEntry *attr;
} RmMemAccept;
ssize_t rm_encode_mem_accept(uint8_t *buf, size_t cap, const RmMemAccept *m);
int rm_decode_mem_accept(const uint8_t *p, size_t len, RmMemAccept *ret);
/* Reply data when n_sgl was 0: {u16 count, u8 flags, u8 res, count x SGL}; exact. */
ssize_t rm_encode_mem_accept_reply(uint8_t *buf, size_t cap, uint8_t flags,
                                   const RmSglEntry *sgl, size_t n);
int rm_decode_mem_accept_reply(const uint8_t *p, size_t len, uint8_t *ret_flags, RmSglEntry *ret,
                               size_t cap, size_t *ret_n);

/* MEM_RELEASE / MEM_RECLAIM (section 11.5): {u32 handle, u8 flags, 3 res}; length >= 8
 * (the RM ignores trailing bytes). */
typedef struct RmMemHandleReq {
        uint32_t handle;
        uint8_t flags; /* RM_MEM_RELEASE_FLAG_SANITIZE */
} RmMemHandleReq;
ssize_t rm_encode_mem_handle_req(uint8_t *buf, size_t cap, const RmMemHandleReq *m);
int rm_decode_mem_handle_req(const uint8_t *p, size_t len, RmMemHandleReq *ret);

/* MEM_NOTIFY (section 11.6): {u32 handle, u8 flags, 3 res, u32 tag} then, for SHARED and
 * RECALL only, a VMID list {u16 n, u16 res, n x {u16 vmid, u16 res}}. Length >= 12; for
 * SHARED/RECALL the list header and its entries must be present (-EBADMSG otherwise).
 * Bytes after the fixed part (other flags) or after the list are ignored, as length >= 12. */
typedef struct RmMemNotify {
        uint32_t handle;
        uint8_t flags; /* exactly one RM_MEM_NOTIFY_* (checked by the RM, not the decoder) */
        uint32_t mem_info_tag;
        size_t n_vmids;
        uint16_t *vmids;
} RmMemNotify;
ssize_t rm_encode_mem_notify(uint8_t *buf, size_t cap, const RmMemNotify *m);
int rm_decode_mem_notify(const uint8_t *p, size_t len, RmMemNotify *ret);

/*
 * MEM_QCOM_LOOKUP_SGL 0x5100001A: find the handle of a parcel the caller owns from its
 * description. Not in rm-protocol.md; layout from the open RM (memparcel_msg.h lookup
 * request, memparcel.c lookup handler): u8 mem_type, 3 res, u32 label, ACL list, SGL list,
 * optional attr list. Minimum 16 bytes (the fixed part and the ACL and SGL list headers);
 * the lists must consume the message exactly. Reply data: u32 handle, exactly 4 bytes.
 * The RM matches only parcels owned by the caller in the SHARING state (finalized, accepted
 * by nobody), with the same mem_type, ACL (vmid and rights, in order), SGL (owner IPA and
 * size per region, in order) and attr list; the label is not compared. No match:
 * LOOKUP_FAILED (0xE). The encoder always writes the attr list header.
 */
typedef struct RmMemLookupSgl {
        uint8_t mem_type; /* RmMemType */
        uint32_t label;
        size_t n_acl;
        RmAclEntry *acl;
        size_t n_sgl;
        RmSglEntry *sgl;
        bool has_attr_list;
        size_t n_attr;
        RmAttrEntry *attr;
} RmMemLookupSgl;
ssize_t rm_encode_mem_lookup_sgl(uint8_t *buf, size_t cap, const RmMemLookupSgl *m);
int rm_decode_mem_lookup_sgl(const uint8_t *p, size_t len, RmMemLookupSgl *ret);
/* Reply data: u32 handle, exactly 4 bytes (-EBADMSG otherwise). */
ssize_t rm_encode_mem_lookup_sgl_reply(uint8_t *buf, size_t cap, uint32_t handle);
int rm_decode_mem_lookup_sgl_reply(const uint8_t *p, size_t len, uint32_t *ret_handle);
