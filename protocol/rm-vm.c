/* SPDX-License-Identifier: MIT */
/*
 * VM call payloads (rm-protocol.md section 8). Fixed-size messages are read and written by
 * their documented offsets; list replies through BufReader. Every decoder checks the exact
 * length first and never reads a byte it has not checked.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "macro.h"
#include "rm-types.h"
#include "rm-vm.h"

/* {u16 vmid, u16 res} */
#define VMID_REQ_SIZE 4u
#define VM_STOP_SIZE 8u
#define VM_CONFIG_IMAGE_SIZE 40u
#define VM_STATE_SIZE 4u
#define U32_SIZE 4u
#define VM_BOOT_CONTEXT_SIZE 16u
#define VM_DEMAND_PAGING_HDR 8u
#define RM_RANGE_SIZE 16u
#define VM_ADDRESS_LAYOUT_SIZE 24u
#define CRASH_MSG_HDR 4u

static ssize_t encode_u32(uint8_t *buf, size_t cap, uint32_t v)
{
        if (cap < U32_SIZE)
                return -ENOBUFS;
        le32_put(buf, v);
        return U32_SIZE;
}

static int decode_u32(const uint8_t *p, size_t len, uint32_t *ret)
{
        if (len != U32_SIZE)
                return -EBADMSG;
        *ret = le32_get(p);
        return 0;
}

ssize_t rm_encode_vmid_req(uint8_t *buf, size_t cap, uint16_t vmid)
{
        if (cap < VMID_REQ_SIZE)
                return -ENOBUFS;
        le16_put(buf, vmid);
        le16_put(buf + 2, 0);
        return VMID_REQ_SIZE;
}

int rm_decode_vmid_req(const uint8_t *p, size_t len, bool res_must_be_zero, RmVmidReq *ret)
{
        RmVmidReq m;

        if (len != VMID_REQ_SIZE)
                return -EBADMSG;
        m.vmid = le16_get(p);
        m.res = le16_get(p + 2);
        if (res_must_be_zero && m.res != 0)
                return -EPROTO;
        *ret = m;
        return 0;
}

ssize_t rm_encode_vm_allocate_reply(uint8_t *buf, size_t cap, uint16_t vmid)
{
        return encode_u32(buf, cap, vmid);
}

int rm_decode_vm_allocate_reply(const uint8_t *p, size_t len, uint16_t *ret_vmid)
{
        uint32_t v;
        int r;

        r = decode_u32(p, len, &v);
        if (r < 0)
                return r;
        if (v > UINT16_MAX)
                return -EBADMSG;
        *ret_vmid = (uint16_t)v;
        return 0;
}

ssize_t rm_encode_vm_stop(uint8_t *buf, size_t cap, const RmVmStop *m)
{
        if (cap < VM_STOP_SIZE)
                return -ENOBUFS;
        le16_put(buf, m->vmid);
        buf[2] = m->flags;
        buf[3] = m->res;
        le32_put(buf + 4, m->stop_reason);
        return VM_STOP_SIZE;
}

int rm_decode_vm_stop(const uint8_t *p, size_t len, RmVmStop *ret)
{
        if (len != VM_STOP_SIZE)
                return -EBADMSG;
        *ret = (RmVmStop){
                .vmid = le16_get(p),
                .flags = p[2],
                .res = p[3],
                .stop_reason = le32_get(p + 4),
        };
        return 0;
}

ssize_t rm_encode_vm_config_image(uint8_t *buf, size_t cap, const RmVmConfigImage *m)
{
        if (cap < VM_CONFIG_IMAGE_SIZE)
                return -ENOBUFS;
        le16_put(buf, m->vmid);
        le16_put(buf + 2, m->auth);
        le32_put(buf + 4, m->handle);
        le64_put(buf + 8, m->image_offset);
        le64_put(buf + 16, m->image_size);
        le64_put(buf + 24, m->dtb_offset);
        le64_put(buf + 32, m->dtb_size);
        return VM_CONFIG_IMAGE_SIZE;
}

int rm_decode_vm_config_image(const uint8_t *p, size_t len, RmVmConfigImage *ret)
{
        if (len != VM_CONFIG_IMAGE_SIZE)
                return -EBADMSG;
        *ret = (RmVmConfigImage){
                .vmid = le16_get(p),
                .auth = le16_get(p + 2),
                .handle = le32_get(p + 4),
                .image_offset = le64_get(p + 8),
                .image_size = le64_get(p + 16),
                .dtb_offset = le64_get(p + 24),
                .dtb_size = le64_get(p + 32),
        };
        return 0;
}

ssize_t rm_encode_vm_get_state_reply(uint8_t *buf, size_t cap, const RmVmState *s)
{
        if (cap < VM_STATE_SIZE)
                return -ENOBUFS;
        buf[0] = s->vm_status;
        buf[1] = s->os_status;
        le16_put(buf + 2, s->app_status);
        return VM_STATE_SIZE;
}

int rm_decode_vm_get_state_reply(const uint8_t *p, size_t len, RmVmState *ret)
{
        if (len != VM_STATE_SIZE)
                return -EBADMSG;
        *ret = (RmVmState){ .vm_status = p[0], .os_status = p[1], .app_status = le16_get(p + 2) };
        return 0;
}

int rm_decode_vm_get_vmid(const uint8_t *p, size_t len)
{
        (void)p;
        return len == 0 ? 0 : -EBADMSG;
}

ssize_t rm_encode_vm_get_vmid_reply(uint8_t *buf, size_t cap, uint32_t vmid)
{
        return encode_u32(buf, cap, vmid);
}

int rm_decode_vm_get_vmid_reply(const uint8_t *p, size_t len, uint32_t *ret_vmid)
{
        return decode_u32(p, len, ret_vmid);
}

/* One 44-byte hyp-resource entry, by the offsets of section 8.2. */
static void hyp_resource_put(uint8_t *q, const RmHypResource *e)
{
        q[0] = e->type;
        q[1] = e->res;
        le16_put(q + 2, e->partner_vmid);
        le32_put(q + 4, e->handle);
        le32_put(q + 8, e->label);
        le32_put(q + 12, (uint32_t)e->cap_id);
        le32_put(q + 16, (uint32_t)(e->cap_id >> 32));
        le32_put(q + 20, e->virq_handle);
        le32_put(q + 24, e->virq);
        le64_put(q + 28, e->base);
        le64_put(q + 36, e->size);
}

static void hyp_resource_get(const uint8_t *q, RmHypResource *e)
{
        *e = (RmHypResource){
                .type = q[0],
                .res = q[1],
                .partner_vmid = le16_get(q + 2),
                .handle = le32_get(q + 4),
                .label = le32_get(q + 8),
                .cap_id = (uint64_t)le32_get(q + 12) | ((uint64_t)le32_get(q + 16) << 32),
                .virq_handle = le32_get(q + 20),
                .virq = le32_get(q + 24),
                .base = le64_get(q + 28),
                .size = le64_get(q + 36),
        };
}

ssize_t rm_encode_vm_get_hyp_resources_reply(uint8_t *buf, size_t cap, const RmHypResource *e,
                                             size_t n)
{
        size_t need;

        if (n > UINT32_MAX || n > (SIZE_MAX - U32_SIZE) / RM_HYP_RESOURCE_SIZE)
                return -ENOBUFS;
        need = U32_SIZE + n * RM_HYP_RESOURCE_SIZE;
        if (cap < need)
                return -ENOBUFS;
        le32_put(buf, (uint32_t)n);
        for (size_t i = 0; i < n; i++)
                hyp_resource_put(buf + U32_SIZE + i * RM_HYP_RESOURCE_SIZE, &e[i]);
        return (ssize_t)need;
}

int rm_decode_vm_get_hyp_resources_reply(const uint8_t *p, size_t len, RmHypResource *ret,
                                         size_t cap, size_t *ret_n)
{
        uint32_t n;

        if (len < U32_SIZE)
                return -EBADMSG;
        n = le32_get(p);
        /* Exactly 4 + 44 n, as Linux requires; compare without multiplying n. */
        if ((len - U32_SIZE) % RM_HYP_RESOURCE_SIZE != 0 ||
            (len - U32_SIZE) / RM_HYP_RESOURCE_SIZE != n)
                return -EBADMSG;
        if (n > cap)
                return -E2BIG;
        for (size_t i = 0; i < n; i++)
                hyp_resource_get(p + U32_SIZE + i * RM_HYP_RESOURCE_SIZE, &ret[i]);
        *ret_n = n;
        return 0;
}

ssize_t rm_encode_vm_get_crash_msg_reply(uint8_t *buf, size_t cap, const char *msg, size_t len)
{
        size_t need;

        assert(msg || len == 0);
        if (len > RM_MAX_CRASH_MSG)
                return -E2BIG;
        need = CRASH_MSG_HDR + ALIGN4(len);
        if (cap < need)
                return -ENOBUFS;
        le16_put(buf, (uint16_t)len);
        le16_put(buf + 2, 0);
        if (len)
                memcpy(buf + CRASH_MSG_HDR, msg, len);
        memset(buf + CRASH_MSG_HDR + len, 0, ALIGN4(len) - len);
        return (ssize_t)need;
}

int rm_decode_vm_get_crash_msg_reply(const uint8_t *p, size_t len, char *ret, size_t *ret_len)
{
        uint16_t n;

        if (len < CRASH_MSG_HDR)
                return -EBADMSG;
        n = le16_get(p);
        if (len != CRASH_MSG_HDR + ALIGN4((size_t)n))
                return -EBADMSG;
        if (n > RM_MAX_CRASH_MSG)
                return -E2BIG;
        memcpy(ret, p + CRASH_MSG_HDR, n);
        ret[n] = '\0';
        *ret_len = n;
        return 0;
}

ssize_t rm_encode_vm_set_boot_context(uint8_t *buf, size_t cap, const RmVmBootContext *m)
{
        if (cap < VM_BOOT_CONTEXT_SIZE)
                return -ENOBUFS;
        le16_put(buf, m->vmid);
        buf[2] = m->reg_set;
        buf[3] = m->reg_index;
        le32_put(buf + 4, m->res);
        le64_put(buf + 8, m->value);
        return VM_BOOT_CONTEXT_SIZE;
}

int rm_decode_vm_set_boot_context(const uint8_t *p, size_t len, RmVmBootContext *ret)
{
        if (len != VM_BOOT_CONTEXT_SIZE)
                return -EBADMSG;
        *ret = (RmVmBootContext){
                .vmid = le16_get(p),
                .reg_set = p[2],
                .reg_index = p[3],
                .res = le32_get(p + 4),
                .value = le64_get(p + 8),
        };
        return 0;
}

ssize_t rm_encode_vm_set_demand_paging(uint8_t *buf, size_t cap, uint16_t vmid,
                                       const RmRange *ranges, size_t n)
{
        size_t need;

        if (n > UINT32_MAX || n > (SIZE_MAX - VM_DEMAND_PAGING_HDR) / RM_RANGE_SIZE)
                return -ENOBUFS;
        need = VM_DEMAND_PAGING_HDR + n * RM_RANGE_SIZE;
        if (cap < need)
                return -ENOBUFS;
        le16_put(buf, vmid);
        le16_put(buf + 2, 0);
        le32_put(buf + 4, (uint32_t)n);
        for (size_t i = 0; i < n; i++) {
                le64_put(buf + VM_DEMAND_PAGING_HDR + i * RM_RANGE_SIZE, ranges[i].base);
                le64_put(buf + VM_DEMAND_PAGING_HDR + i * RM_RANGE_SIZE + 8, ranges[i].size);
        }
        return (ssize_t)need;
}

int rm_decode_vm_set_demand_paging(const uint8_t *p, size_t len, uint16_t *ret_vmid,
                                   RmRange *ret, size_t cap, size_t *ret_n)
{
        uint32_t n;

        if (len < VM_DEMAND_PAGING_HDR)
                return -EBADMSG;
        n = le32_get(p + 4);
        if ((len - VM_DEMAND_PAGING_HDR) % RM_RANGE_SIZE != 0 ||
            (len - VM_DEMAND_PAGING_HDR) / RM_RANGE_SIZE != n)
                return -EBADMSG;
        if (n > cap)
                return -E2BIG;
        for (size_t i = 0; i < n; i++) {
                const uint8_t *q = p + VM_DEMAND_PAGING_HDR + i * RM_RANGE_SIZE;
                ret[i] = (RmRange){ .base = le64_get(q), .size = le64_get(q + 8) };
        }
        *ret_vmid = le16_get(p);
        *ret_n = n;
        return 0;
}

ssize_t rm_encode_vm_set_address_layout(uint8_t *buf, size_t cap, const RmVmAddressLayout *m)
{
        if (cap < VM_ADDRESS_LAYOUT_SIZE)
                return -ENOBUFS;
        le16_put(buf, m->vmid);
        le16_put(buf + 2, m->res);
        le32_put(buf + 4, m->range_id);
        le64_put(buf + 8, m->base);
        le64_put(buf + 16, m->size);
        return VM_ADDRESS_LAYOUT_SIZE;
}

int rm_decode_vm_set_address_layout(const uint8_t *p, size_t len, RmVmAddressLayout *ret)
{
        if (len != VM_ADDRESS_LAYOUT_SIZE)
                return -EBADMSG;
        *ret = (RmVmAddressLayout){
                .vmid = le16_get(p),
                .res = le16_get(p + 2),
                .range_id = le32_get(p + 4),
                .base = le64_get(p + 8),
                .size = le64_get(p + 16),
        };
        return 0;
}
