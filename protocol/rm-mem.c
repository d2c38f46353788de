/* SPDX-License-Identifier: MIT */
/*
 * Memory parcel payloads (rm-protocol.md section 11). A list is a 4-byte header {u16 count,
 * u16 ignored} and count fixed-size entries; a count above 512 is -E2BIG before anything else
 * about that list is checked, the way the RM's list reader answers NORESOURCE. Lists must
 * consume the message exactly (-EBADMSG otherwise), except where noted.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "macro.h"
#include "rm-mem.h"
#include "rm-types.h"

#define LIST_HDR 4u
#define ACL_ENTRY 4u
#define SGL_ENTRY 16u
#define ATTR_ENTRY 4u
#define VMID_ENTRY 4u
#define MEM_CREATE_MIN 20u
#define MEM_CREATE_FIXED 8u
#define MEM_APPEND_FIXED 8u
#define MEM_APPEND_MIN 12u
#define MEM_ACCEPT_FIXED 12u
#define MEM_ACCEPT_MIN 24u
#define MEM_HANDLE_REQ_SIZE 8u
#define MEM_NOTIFY_FIXED 12u
#define ACCEPT_REPLY_HDR 4u
#define MEM_LOOKUP_FIXED 8u
#define MEM_LOOKUP_MIN 16u

ssize_t rm_decode_list_header(const uint8_t *p, size_t len, size_t entry_size, size_t *ret_count)
{
        uint16_t n;

        if (len < LIST_HDR)
                return -EBADMSG;
        n = le16_get(p);
        if (n > RM_MAX_LIST_ENTRIES)
                return -E2BIG;
        if (len - LIST_HDR < (size_t)n * entry_size)
                return -EBADMSG;
        *ret_count = n;
        return (ssize_t)(LIST_HDR + (size_t)n * entry_size);
}

/* Read a list header through a reader, leaving the reader at the first entry. */
static int list_begin(BufReader *r, size_t entry_size, size_t *ret_count)
{
        ssize_t k = rm_decode_list_header(r->p, r->len, entry_size, ret_count);
        if (k < 0)
                return (int)k;
        return buf_skip(r, LIST_HDR);
}

static void acl_get(BufReader *r, RmAclEntry *e, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                e[i] = (RmAclEntry){ .vmid = le16_get(r->p), .rights = r->p[2], .res = r->p[3] };
                (void)buf_skip(r, ACL_ENTRY);
        }
}

static void sgl_get(BufReader *r, RmSglEntry *e, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                e[i] = (RmSglEntry){ .ipa = le64_get(r->p), .size = le64_get(r->p + 8) };
                (void)buf_skip(r, SGL_ENTRY);
        }
}

static void attr_get(BufReader *r, RmAttrEntry *e, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                e[i] = (RmAttrEntry){ .attr = le16_get(r->p), .vmid = le16_get(r->p + 2) };
                (void)buf_skip(r, ATTR_ENTRY);
        }
}

/* Writers: the caller has checked the room, so the puts cannot fail. */
static void list_hdr_put(BufWriter *w, size_t n, uint16_t second)
{
        (void)buf_put_le16(w, (uint16_t)n);
        (void)buf_put_le16(w, second);
}

static void acl_put(BufWriter *w, const RmAclEntry *e, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                (void)buf_put_le16(w, e[i].vmid);
                (void)buf_put_u8(w, e[i].rights);
                (void)buf_put_u8(w, e[i].res);
        }
}

static void sgl_put(BufWriter *w, const RmSglEntry *e, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                (void)buf_put_le64(w, e[i].ipa);
                (void)buf_put_le64(w, e[i].size);
        }
}

static void attr_put(BufWriter *w, const RmAttrEntry *e, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                (void)buf_put_le16(w, e[i].attr);
                (void)buf_put_le16(w, e[i].vmid);
        }
}

/* A count must fit the u16 of a list header; the RM's 512 limit is for the RM to enforce
 * (tests send 513 entries on purpose). */
static bool counts_fit(size_t a, size_t b, size_t c)
{
        return a <= UINT16_MAX && b <= UINT16_MAX && c <= UINT16_MAX;
}

/* The ACL, SGL and attr lists that follow the 8-byte fixed part of MEM_LEND/SHARE/DONATE
 * and of MEM_QCOM_LOOKUP_SGL: their size, and writing them (the attr list always written, as
 * Linux does, even with no entries). */
static size_t mem_lists_size(size_t n_acl, size_t n_sgl, size_t n_attr)
{
        return LIST_HDR + n_acl * ACL_ENTRY + LIST_HDR + n_sgl * SGL_ENTRY + LIST_HDR +
               n_attr * ATTR_ENTRY;
}

static void mem_lists_put(BufWriter *w, const RmAclEntry *acl, size_t n_acl,
                          const RmSglEntry *sgl, size_t n_sgl, const RmAttrEntry *attr,
                          size_t n_attr)
{
        list_hdr_put(w, n_acl, 0);
        acl_put(w, acl, n_acl);
        list_hdr_put(w, n_sgl, 0);
        sgl_put(w, sgl, n_sgl);
        list_hdr_put(w, n_attr, 0);
        attr_put(w, attr, n_attr);
}

/* Read the three lists up to the end of the message; the attr list may be absent altogether
 * (the RM's list reader allows it). Nothing may follow them. */
static int mem_lists_get(BufReader *r, RmAclEntry *acl, size_t *n_acl, RmSglEntry *sgl,
                         size_t *n_sgl, bool *has_attr, RmAttrEntry *attr, size_t *n_attr)
{
        int k = list_begin(r, ACL_ENTRY, n_acl);
        if (k < 0)
                return k;
        acl_get(r, acl, *n_acl);
        k = list_begin(r, SGL_ENTRY, n_sgl);
        if (k < 0)
                return k;
        sgl_get(r, sgl, *n_sgl);
        *n_attr = 0;
        *has_attr = r->len > 0;
        if (*has_attr) {
                k = list_begin(r, ATTR_ENTRY, n_attr);
                if (k < 0)
                        return k;
                attr_get(r, attr, *n_attr);
        }
        return r->len == 0 ? 0 : -EBADMSG;
}

ssize_t rm_encode_mem_create(uint8_t *buf, size_t cap, const RmMemCreate *m)
{
        BufWriter w = buf_writer(buf, cap);
        size_t need;

        if (!counts_fit(m->n_acl, m->n_sgl, m->n_attr))
                return -E2BIG;
        need = MEM_CREATE_FIXED + mem_lists_size(m->n_acl, m->n_sgl, m->n_attr);
        if (cap < need)
                return -ENOBUFS;

        (void)buf_put_u8(&w, m->mem_type);
        (void)buf_put_u8(&w, 0);
        (void)buf_put_u8(&w, m->flags);
        (void)buf_put_u8(&w, 0);
        (void)buf_put_le32(&w, m->label);
        mem_lists_put(&w, m->acl, m->n_acl, m->sgl, m->n_sgl, m->attr, m->n_attr);
        assert(w.len == need);
        return (ssize_t)need;
}

int rm_decode_mem_create(const uint8_t *p, size_t len, RmMemCreate *ret)
{
        BufReader r = buf_reader(p, len);
        size_t n_acl, n_sgl, n_attr;
        int k;

        if (len < MEM_CREATE_MIN)
                return -EBADMSG;
        ret->mem_type = p[0];
        ret->flags = p[2];
        ret->label = le32_get(p + 4);
        (void)buf_skip(&r, MEM_CREATE_FIXED);
        k = mem_lists_get(&r, ret->acl, &n_acl, ret->sgl, &n_sgl, &ret->has_attr_list,
                          ret->attr, &n_attr);
        if (k < 0)
                return k;
        ret->n_acl = n_acl;
        ret->n_sgl = n_sgl;
        ret->n_attr = n_attr;
        return 0;
}

ssize_t rm_encode_mem_create_reply(uint8_t *buf, size_t cap, uint32_t handle)
{
        if (cap < 4)
                return -ENOBUFS;
        le32_put(buf, handle);
        return 4;
}

int rm_decode_mem_create_reply(const uint8_t *p, size_t len, uint32_t *ret_handle)
{
        if (len != 4)
                return -EBADMSG;
        *ret_handle = le32_get(p);
        return 0;
}

ssize_t rm_encode_mem_append(uint8_t *buf, size_t cap, const RmMemAppend *m)
{
        BufWriter w = buf_writer(buf, cap);
        size_t need;

        if (m->n_sgl > UINT16_MAX)
                return -E2BIG;
        need = MEM_APPEND_FIXED + LIST_HDR + m->n_sgl * SGL_ENTRY;
        if (cap < need)
                return -ENOBUFS;
        (void)buf_put_le32(&w, m->handle);
        (void)buf_put_u8(&w, m->flags);
        (void)buf_put_zero(&w, 3);
        list_hdr_put(&w, m->n_sgl, 0);
        sgl_put(&w, m->sgl, m->n_sgl);
        return (ssize_t)need;
}

int rm_decode_mem_append(const uint8_t *p, size_t len, RmMemAppend *ret)
{
        BufReader r = buf_reader(p, len);
        size_t n;
        int k;

        if (len < MEM_APPEND_MIN)
                return -EBADMSG;
        (void)buf_skip(&r, MEM_APPEND_FIXED);
        k = list_begin(&r, SGL_ENTRY, &n);
        if (k < 0)
                return k;
        if (r.len != n * SGL_ENTRY)
                return -EBADMSG;
        ret->handle = le32_get(p);
        ret->flags = p[4];
        sgl_get(&r, ret->sgl, n);
        ret->n_sgl = n;
        return 0;
}

size_t rm_sgl_message_count(size_t n_sgl)
{
        /* An empty SGL still takes the create message (the RM rejects it with 0x6). */
        if (n_sgl <= RM_MAX_LIST_ENTRIES)
                return 1;
        return (n_sgl + RM_MAX_LIST_ENTRIES - 1) / RM_MAX_LIST_ENTRIES;
}

void rm_sgl_message_range(size_t n_sgl, size_t index, size_t *ret_first, size_t *ret_count,
                          bool *ret_last)
{
        size_t total = rm_sgl_message_count(n_sgl);
        size_t first;

        assert(index < total);
        first = index * RM_MAX_LIST_ENTRIES;
        if (ret_first)
                *ret_first = first;
        if (ret_count)
                *ret_count = MIN(n_sgl - first, (size_t)RM_MAX_LIST_ENTRIES);
        if (ret_last)
                *ret_last = index + 1 == total;
}

ssize_t rm_encode_mem_accept(uint8_t *buf, size_t cap, const RmMemAccept *m)
{
        BufWriter w = buf_writer(buf, cap);
        size_t need;

        if (!counts_fit(m->n_acl, m->n_sgl, m->n_attr))
                return -E2BIG;
        need = MEM_ACCEPT_FIXED + LIST_HDR + m->n_acl * ACL_ENTRY + LIST_HDR +
               m->n_sgl * SGL_ENTRY + LIST_HDR + m->n_attr * ATTR_ENTRY;
        if (cap < need)
                return -ENOBUFS;
        (void)buf_put_le32(&w, m->handle);
        (void)buf_put_u8(&w, m->mem_type);
        (void)buf_put_u8(&w, m->trans_type);
        (void)buf_put_u8(&w, m->flags);
        (void)buf_put_u8(&w, 0);
        (void)buf_put_le32(&w, m->label);
        list_hdr_put(&w, m->n_acl, 0);
        acl_put(&w, m->acl, m->n_acl);
        /* The SGL header's second half-word is map_vmid here (section 11.4). */
        list_hdr_put(&w, m->n_sgl, m->map_vmid);
        sgl_put(&w, m->sgl, m->n_sgl);
        list_hdr_put(&w, m->n_attr, 0);
        attr_put(&w, m->attr, m->n_attr);
        return (ssize_t)need;
}

int rm_decode_mem_accept(const uint8_t *p, size_t len, RmMemAccept *ret)
{
        BufReader r = buf_reader(p, len);
        size_t n_acl, n_sgl, n_attr = 0;
        uint16_t map_vmid;
        int k;

        if (len < MEM_ACCEPT_MIN)
                return -EBADMSG;
        ret->handle = le32_get(p);
        ret->mem_type = p[4];
        ret->trans_type = p[5];
        ret->flags = p[6];
        ret->label = le32_get(p + 8);
        (void)buf_skip(&r, MEM_ACCEPT_FIXED);

        k = list_begin(&r, ACL_ENTRY, &n_acl);
        if (k < 0)
                return k;
        acl_get(&r, ret->acl, n_acl);

        if (r.len < LIST_HDR)
                return -EBADMSG;
        map_vmid = le16_get(r.p + 2);
        k = list_begin(&r, SGL_ENTRY, &n_sgl);
        if (k < 0)
                return k;
        sgl_get(&r, ret->sgl, n_sgl);

        /* As for create, the RM's list reader lets the trailing attr list be absent. */
        if (r.len > 0) {
                k = list_begin(&r, ATTR_ENTRY, &n_attr);
                if (k < 0)
                        return k;
                attr_get(&r, ret->attr, n_attr);
        }
        if (r.len != 0)
                return -EBADMSG;

        ret->n_acl = n_acl;
        ret->map_vmid = map_vmid;
        ret->n_sgl = n_sgl;
        ret->n_attr = n_attr;
        return 0;
}

ssize_t rm_encode_mem_accept_reply(uint8_t *buf, size_t cap, uint8_t flags,
                                   const RmSglEntry *sgl, size_t n)
{
        BufWriter w = buf_writer(buf, cap);
        size_t need;

        if (n > UINT16_MAX)
                return -E2BIG;
        need = ACCEPT_REPLY_HDR + n * SGL_ENTRY;
        if (cap < need)
                return -ENOBUFS;
        (void)buf_put_le16(&w, (uint16_t)n);
        (void)buf_put_u8(&w, flags);
        (void)buf_put_u8(&w, 0);
        sgl_put(&w, sgl, n);
        return (ssize_t)need;
}

int rm_decode_mem_accept_reply(const uint8_t *p, size_t len, uint8_t *ret_flags, RmSglEntry *ret,
                               size_t cap, size_t *ret_n)
{
        BufReader r = buf_reader(p, len);
        size_t n;

        if (len < ACCEPT_REPLY_HDR)
                return -EBADMSG;
        n = le16_get(p);
        if (len - ACCEPT_REPLY_HDR != n * SGL_ENTRY)
                return -EBADMSG;
        if (n > RM_MAX_LIST_ENTRIES || n > cap)
                return -E2BIG;
        (void)buf_skip(&r, ACCEPT_REPLY_HDR);
        sgl_get(&r, ret, n);
        *ret_flags = p[2];
        *ret_n = n;
        return 0;
}

ssize_t rm_encode_mem_handle_req(uint8_t *buf, size_t cap, const RmMemHandleReq *m)
{
        if (cap < MEM_HANDLE_REQ_SIZE)
                return -ENOBUFS;
        le32_put(buf, m->handle);
        buf[4] = m->flags;
        memset(buf + 5, 0, 3);
        return MEM_HANDLE_REQ_SIZE;
}

int rm_decode_mem_handle_req(const uint8_t *p, size_t len, RmMemHandleReq *ret)
{
        /* Length >= 8: the RM ignores trailing bytes. */
        if (len < MEM_HANDLE_REQ_SIZE)
                return -EBADMSG;
        *ret = (RmMemHandleReq){ .handle = le32_get(p), .flags = p[4] };
        return 0;
}

/* Only SHARED and RECALL carry the VMID list (section 11.6). */
static bool mem_notify_has_list(uint8_t flags)
{
        return flags == RM_MEM_NOTIFY_SHARED || flags == RM_MEM_NOTIFY_RECALL;
}

ssize_t rm_encode_mem_notify(uint8_t *buf, size_t cap, const RmMemNotify *m)
{
        BufWriter w = buf_writer(buf, cap);
        bool list = mem_notify_has_list(m->flags);
        size_t need;

        if (list && m->n_vmids > UINT16_MAX)
                return -E2BIG;
        need = MEM_NOTIFY_FIXED + (list ? LIST_HDR + m->n_vmids * VMID_ENTRY : 0);
        if (cap < need)
                return -ENOBUFS;
        (void)buf_put_le32(&w, m->handle);
        (void)buf_put_u8(&w, m->flags);
        (void)buf_put_zero(&w, 3);
        (void)buf_put_le32(&w, m->mem_info_tag);
        if (list) {
                list_hdr_put(&w, m->n_vmids, 0);
                for (size_t i = 0; i < m->n_vmids; i++) {
                        (void)buf_put_le16(&w, m->vmids[i]);
                        (void)buf_put_le16(&w, 0);
                }
        }
        return (ssize_t)need;
}

int rm_decode_mem_notify(const uint8_t *p, size_t len, RmMemNotify *ret)
{
        BufReader r = buf_reader(p, len);
        size_t n = 0;
        int k;

        if (len < MEM_NOTIFY_FIXED)
                return -EBADMSG;
        ret->handle = le32_get(p);
        ret->flags = p[4];
        ret->mem_info_tag = le32_get(p + 8);
        (void)buf_skip(&r, MEM_NOTIFY_FIXED);
        if (mem_notify_has_list(ret->flags)) {
                k = list_begin(&r, VMID_ENTRY, &n);
                if (k < 0)
                        return k;
                for (size_t i = 0; i < n; i++)
                        ret->vmids[i] = le16_get(r.p + i * VMID_ENTRY);
        }
        /* Anything after the fixed part (and the list, when there is one) is ignored. */
        ret->n_vmids = n;
        return 0;
}

ssize_t rm_encode_mem_lookup_sgl(uint8_t *buf, size_t cap, const RmMemLookupSgl *m)
{
        BufWriter w = buf_writer(buf, cap);
        size_t need;

        if (!counts_fit(m->n_acl, m->n_sgl, m->n_attr))
                return -E2BIG;
        need = MEM_LOOKUP_FIXED + mem_lists_size(m->n_acl, m->n_sgl, m->n_attr);
        if (cap < need)
                return -ENOBUFS;
        (void)buf_put_u8(&w, m->mem_type);
        (void)buf_put_zero(&w, 3);
        (void)buf_put_le32(&w, m->label);
        mem_lists_put(&w, m->acl, m->n_acl, m->sgl, m->n_sgl, m->attr, m->n_attr);
        assert(w.len == need);
        return (ssize_t)need;
}

int rm_decode_mem_lookup_sgl(const uint8_t *p, size_t len, RmMemLookupSgl *ret)
{
        BufReader r = buf_reader(p, len);
        size_t n_acl, n_sgl, n_attr;
        int k;

        if (len < MEM_LOOKUP_MIN)
                return -EBADMSG;
        (void)buf_skip(&r, MEM_LOOKUP_FIXED);
        k = mem_lists_get(&r, ret->acl, &n_acl, ret->sgl, &n_sgl, &ret->has_attr_list,
                          ret->attr, &n_attr);
        if (k < 0)
                return k;
        ret->mem_type = p[0];
        ret->label = le32_get(p + 4);
        ret->n_acl = n_acl;
        ret->n_sgl = n_sgl;
        ret->n_attr = n_attr;
        return 0;
}

ssize_t rm_encode_mem_lookup_sgl_reply(uint8_t *buf, size_t cap, uint32_t handle)
{
        return rm_encode_mem_create_reply(buf, cap, handle);
}

int rm_decode_mem_lookup_sgl_reply(const uint8_t *p, size_t len, uint32_t *ret_handle)
{
        return rm_decode_mem_create_reply(p, len, ret_handle);
}
