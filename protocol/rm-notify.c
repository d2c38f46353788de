/* SPDX-License-Identifier: MIT */
/*
 * Notification payloads (rm-protocol.md sections 9 and 11.6). No error word; each decoder
 * checks the exact length before reading.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "macro.h"
#include "rm-notify.h"
#include "rm-types.h"

#define VM_STATUS_SIZE 8u
#define VM_EXITED_HDR 8u
#define VM_SHUTDOWN_SIZE 4u
#define MEM_OWNER_SIZE 12u
#define MEM_RECALL_SIZE 8u
#define MEM_SHARED_FIXED 20u
#define LIST_HDR 4u
#define ACL_ENTRY 4u
#define REGION_ENTRY 8u
#define ATTR_ENTRY 4u
#define SIM_PAGE_FAULT_SIZE 16u

ssize_t rm_encode_notify_vm_status(uint8_t *buf, size_t cap, const RmNotifyVmStatus *m)
{
        if (cap < VM_STATUS_SIZE)
                return -ENOBUFS;
        le16_put(buf, m->vmid);
        le16_put(buf + 2, 0);
        buf[4] = m->vm_status;
        buf[5] = m->os_status;
        le16_put(buf + 6, m->app_status);
        return VM_STATUS_SIZE;
}

int rm_decode_notify_vm_status(const uint8_t *p, size_t len, RmNotifyVmStatus *ret)
{
        if (len != VM_STATUS_SIZE)
                return -EBADMSG;
        *ret = (RmNotifyVmStatus){
                .vmid = le16_get(p),
                .vm_status = p[4],
                .os_status = p[5],
                .app_status = le16_get(p + 6),
        };
        return 0;
}

ssize_t rm_encode_notify_vm_exited(uint8_t *buf, size_t cap, const RmNotifyVmExited *m)
{
        size_t need;

        /* The reason words are written as given; exit_flags/exit_code are decoder outputs. */
        if (m->reason_size > RM_EXIT_REASON_MAX)
                return -E2BIG;
        if (m->reason_size % 4 != 0)
                return -EINVAL;
        need = VM_EXITED_HDR + m->reason_size;
        if (cap < need)
                return -ENOBUFS;
        le16_put(buf, m->vmid);
        le16_put(buf + 2, m->exit_type);
        le32_put(buf + 4, m->reason_size);
        for (size_t i = 0; i < m->reason_size / 4; i++)
                le32_put(buf + VM_EXITED_HDR + 4 * i, m->reason[i]);
        return (ssize_t)need;
}

int rm_decode_notify_vm_exited(const uint8_t *p, size_t len, RmNotifyVmExited *ret)
{
        RmNotifyVmExited m = { 0 };

        if (len < VM_EXITED_HDR)
                return -EBADMSG;
        m.vmid = le16_get(p);
        m.exit_type = le16_get(p + 2);
        m.reason_size = le32_get(p + 4);
        if (m.reason_size > RM_EXIT_REASON_MAX)
                return -E2BIG;
        if (m.reason_size % 4 != 0 || len != VM_EXITED_HDR + m.reason_size)
                return -EBADMSG;
        for (size_t i = 0; i < m.reason_size / 4; i++)
                m.reason[i] = le32_get(p + VM_EXITED_HDR + 4 * i);
        /* Word 0: exit_flags in bits 15:0, exit_code in bits 23:16 (section 9). */
        if (m.reason_size > 0) {
                m.exit_flags = (uint16_t)m.reason[0];
                m.exit_code = (uint8_t)(m.reason[0] >> 16);
        }
        *ret = m;
        return 0;
}

ssize_t rm_encode_notify_vm_shutdown(uint8_t *buf, size_t cap, uint32_t stop_reason)
{
        if (cap < VM_SHUTDOWN_SIZE)
                return -ENOBUFS;
        le32_put(buf, stop_reason);
        return VM_SHUTDOWN_SIZE;
}

int rm_decode_notify_vm_shutdown(const uint8_t *p, size_t len, uint32_t *ret)
{
        if (len != VM_SHUTDOWN_SIZE)
                return -EBADMSG;
        *ret = le32_get(p);
        return 0;
}

ssize_t rm_encode_notify_mem_owner(uint8_t *buf, size_t cap, const RmNotifyMemOwner *m)
{
        if (cap < MEM_OWNER_SIZE)
                return -ENOBUFS;
        le32_put(buf, m->handle);
        le16_put(buf + 4, m->vmid);
        le16_put(buf + 6, 0);
        le32_put(buf + 8, m->mem_info_tag);
        return MEM_OWNER_SIZE;
}

int rm_decode_notify_mem_owner(const uint8_t *p, size_t len, RmNotifyMemOwner *ret)
{
        if (len != MEM_OWNER_SIZE)
                return -EBADMSG;
        *ret = (RmNotifyMemOwner){
                .handle = le32_get(p),
                .vmid = le16_get(p + 4),
                .mem_info_tag = le32_get(p + 8),
        };
        return 0;
}

ssize_t rm_encode_notify_mem_recall(uint8_t *buf, size_t cap, const RmNotifyMemRecall *m)
{
        if (cap < MEM_RECALL_SIZE)
                return -ENOBUFS;
        le32_put(buf, m->handle);
        le32_put(buf + 4, m->mem_info_tag);
        return MEM_RECALL_SIZE;
}

int rm_decode_notify_mem_recall(const uint8_t *p, size_t len, RmNotifyMemRecall *ret)
{
        if (len != MEM_RECALL_SIZE)
                return -EBADMSG;
        *ret = (RmNotifyMemRecall){ .handle = le32_get(p), .mem_info_tag = le32_get(p + 4) };
        return 0;
}

ssize_t rm_encode_notify_mem_shared(uint8_t *buf, size_t cap, const RmNotifyMemShared *m)
{
        BufWriter w = buf_writer(buf, cap);
        size_t need;

        if (m->n_acl > UINT16_MAX || m->n_regions > UINT16_MAX || m->n_attr > UINT16_MAX)
                return -E2BIG;
        need = MEM_SHARED_FIXED + LIST_HDR + m->n_acl * ACL_ENTRY + LIST_HDR +
               m->n_regions * REGION_ENTRY + LIST_HDR + m->n_attr * ATTR_ENTRY;
        if (cap < need)
                return -ENOBUFS;
        /* Room was checked above: none of the puts below can fail. */
        (void)buf_put_le32(&w, m->handle);
        (void)buf_put_u8(&w, m->mem_type);
        (void)buf_put_u8(&w, m->trans_type);
        (void)buf_put_u8(&w, m->flags);
        (void)buf_put_u8(&w, 0);
        (void)buf_put_le16(&w, m->owner_vmid);
        (void)buf_put_le16(&w, 0);
        (void)buf_put_le32(&w, m->label);
        (void)buf_put_le32(&w, m->mem_info_tag);
        (void)buf_put_le16(&w, (uint16_t)m->n_acl);
        (void)buf_put_le16(&w, 0);
        for (size_t i = 0; i < m->n_acl; i++) {
                (void)buf_put_le16(&w, m->acl[i].vmid);
                (void)buf_put_u8(&w, m->acl[i].rights);
                (void)buf_put_u8(&w, m->acl[i].res);
        }
        (void)buf_put_le16(&w, (uint16_t)m->n_regions);
        (void)buf_put_le16(&w, 0);
        for (size_t i = 0; i < m->n_regions; i++)
                (void)buf_put_le64(&w, m->region_sizes[i]);
        (void)buf_put_le16(&w, (uint16_t)m->n_attr);
        (void)buf_put_le16(&w, 0);
        for (size_t i = 0; i < m->n_attr; i++) {
                (void)buf_put_le16(&w, m->attr[i].attr);
                (void)buf_put_le16(&w, m->attr[i].vmid);
        }
        assert(w.len == need);
        return (ssize_t)need;
}

/* Parse one list at *off (section 11.6: ACL, region sizes, attrs all have 4-byte headers). */
static int shared_list(const uint8_t *p, size_t len, size_t *off, size_t entry, size_t *ret_n)
{
        ssize_t k = rm_decode_list_header(p + *off, len - *off, entry, ret_n);
        if (k < 0)
                return (int)k;
        *off += (size_t)k;
        return 0;
}

int rm_decode_notify_mem_shared(const uint8_t *p, size_t len, RmNotifyMemShared *ret)
{
        size_t off = MEM_SHARED_FIXED, n_acl, n_regions, n_attr, acl_at, reg_at, attr_at;
        int k;

        if (len < MEM_SHARED_FIXED)
                return -EBADMSG;
        acl_at = off + LIST_HDR;
        k = shared_list(p, len, &off, ACL_ENTRY, &n_acl);
        if (k < 0)
                return k;
        reg_at = off + LIST_HDR;
        k = shared_list(p, len, &off, REGION_ENTRY, &n_regions);
        if (k < 0)
                return k;
        attr_at = off + LIST_HDR;
        k = shared_list(p, len, &off, ATTR_ENTRY, &n_attr);
        if (k < 0)
                return k;
        if (off != len)
                return -EBADMSG;

        ret->handle = le32_get(p);
        ret->mem_type = p[4];
        ret->trans_type = p[5];
        ret->flags = p[6];
        ret->owner_vmid = le16_get(p + 8);
        ret->label = le32_get(p + 12);
        ret->mem_info_tag = le32_get(p + 16);
        for (size_t i = 0; i < n_acl; i++) {
                const uint8_t *q = p + acl_at + i * ACL_ENTRY;
                ret->acl[i] = (RmAclEntry){ .vmid = le16_get(q), .rights = q[2], .res = q[3] };
        }
        for (size_t i = 0; i < n_regions; i++)
                ret->region_sizes[i] = le64_get(p + reg_at + i * REGION_ENTRY);
        for (size_t i = 0; i < n_attr; i++) {
                const uint8_t *q = p + attr_at + i * ATTR_ENTRY;
                ret->attr[i] = (RmAttrEntry){ .attr = le16_get(q), .vmid = le16_get(q + 2) };
        }
        ret->n_acl = n_acl;
        ret->n_regions = n_regions;
        ret->n_attr = n_attr;
        return 0;
}

ssize_t rm_encode_notify_sim_page_fault(uint8_t *buf, size_t cap, const RmNotifySimPageFault *m)
{
        if (cap < SIM_PAGE_FAULT_SIZE)
                return -ENOBUFS;
        le16_put(buf, m->vmid);
        le16_put(buf + 2, 0);
        le32_put(buf + 4, m->flags);
        le64_put(buf + 8, m->ipa);
        return SIM_PAGE_FAULT_SIZE;
}

int rm_decode_notify_sim_page_fault(const uint8_t *p, size_t len, RmNotifySimPageFault *ret)
{
        if (len != SIM_PAGE_FAULT_SIZE)
                return -EBADMSG;
        *ret = (RmNotifySimPageFault){
                .vmid = le16_get(p),
                .flags = le32_get(p + 4),
                .ipa = le64_get(p + 8),
        };
        return 0;
}
