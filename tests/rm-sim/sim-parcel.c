/* SPDX-License-Identifier: MIT */
/*
 * Memory parcels (rm-protocol.md section 11): create (LEND/SHARE/DONATE), APPEND, ACCEPT,
 * RELEASE, RECLAIM, NOTIFY, with the RM's validation order and error codes. A parcel's
 * memory is the caller's pool: SGL ranges outside the pool, or already lent, are memory the
 * caller does not own (MEM_INVALID). Handles come from one global counter starting at 0,
 * skipping handles in use and 0xFFFFFFFF.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "macro.h"
#include "rm-notify.h"
#include "sim.h"

SimParcel *sim_parcel_get(Sim *s, uint32_t handle)
{
        for (SimParcel *pc = s->parcels; pc; pc = pc->next)
                if (pc->handle == handle)
                        return pc;
        return NULL;
}

SimAcl *sim_parcel_acl_of(SimParcel *pc, uint16_t vmid)
{
        for (size_t i = 0; i < pc->n_acl; i++)
                if (pc->acl[i].vmid == vmid)
                        return &pc->acl[i];
        return NULL;
}

static bool parcel_accepted(const SimParcel *pc)
{
        for (size_t i = 0; i < pc->n_acl; i++)
                if (pc->acl[i].accepted)
                        return true;
        return false;
}

static void parcel_free(SimParcel *pc)
{
        if (!pc)
                return;
        free(pc->acl);
        free(pc->sgl);
        free(pc->attr);
        free(pc);
}

static void parcel_unlink(Sim *s, SimParcel *pc)
{
        for (SimParcel **pp = &s->parcels; *pp; pp = &(*pp)->next)
                if (*pp == pc) {
                        *pp = pc->next;
                        break;
                }
        parcel_free(pc);
}

void sim_parcel_free_all(Sim *s)
{
        while (s->parcels) {
                SimParcel *pc = s->parcels;
                s->parcels = pc->next;
                parcel_free(pc);
        }
}

uint8_t *sim_pool_ptr(Sim *s, uint64_t ipa, uint64_t len)
{
        if (ipa < s->opt.pool_ipa || len > s->opt.pool_size ||
            ipa - s->opt.pool_ipa > s->opt.pool_size - len)
                return NULL;
        return s->pool + (ipa - s->opt.pool_ipa);
}

int sim_parcel_read(Sim *s, const SimParcel *pc, uint64_t off, void *buf, size_t len)
{
        uint8_t *out = buf;

        for (size_t i = 0; i < pc->n_sgl && len > 0; i++) {
                uint64_t sz = pc->sgl[i].size;
                size_t n;
                uint8_t *src;

                if (off >= sz) {
                        off -= sz;
                        continue;
                }
                n = (size_t)MIN((uint64_t)len, sz - off);
                src = sim_pool_ptr(s, pc->sgl[i].ipa + off, n);
                if (!src)
                        return -EFAULT;
                memcpy(out, src, n);
                out += n;
                len -= n;
                off = 0;
        }
        return len == 0 ? 0 : -EFAULT;
}

static bool vmid_known(Sim *s, uint16_t vmid)
{
        return vmid == RM_VMID_HLOS || vmid == RM_VMID_RM || sim_vm_get(s, vmid) != NULL;
}

static bool overlaps(uint64_t a, uint64_t as, uint64_t b, uint64_t bs)
{
        return a < b + bs && b < a + as;
}

/* Is [ipa, ipa+size) memory the owner may still give away (in its pool, not lent)? */
static bool range_owned(Sim *s, uint16_t owner, uint8_t trans, const RmSglEntry *e,
                        const RmSglEntry *same, size_t n_same)
{
        if (owner != RM_VMID_HLOS || !sim_pool_ptr(s, e->ipa, e->size))
                return false;
        for (size_t i = 0; i < n_same; i++)
                if (&same[i] != e && overlaps(e->ipa, e->size, same[i].ipa, same[i].size))
                        return false;
        for (SimParcel *pc = s->parcels; pc; pc = pc->next) {
                if (pc->owner != owner)
                        continue;
                if (trans == RM_TRANS_SHARE && pc->trans_type == RM_TRANS_SHARE)
                        continue; /* shared memory stays mapped in its owner */
                for (size_t i = 0; i < pc->n_sgl; i++)
                        if (overlaps(e->ipa, e->size, pc->sgl[i].ipa, pc->sgl[i].size))
                                return false;
        }
        return true;
}

static uint32_t sgl_check(Sim *s, uint16_t owner, uint8_t trans, const RmSglEntry *e, size_t n,
                          const RmSglEntry *more, size_t n_more)
{
        for (size_t i = 0; i < n; i++)
                if (!IS_ALIGNED(e[i].ipa, RM_PAGE_SIZE) || !IS_ALIGNED(e[i].size, RM_PAGE_SIZE) ||
                    e[i].size == 0 || e[i].ipa >= RM_ADDR_LIMIT || e[i].size >= RM_ADDR_LIMIT ||
                    e[i].ipa + e[i].size > RM_ADDR_LIMIT)
                        return RM_ERROR_ARGUMENT_INVALID;
        for (size_t i = 0; i < n; i++) {
                if (!range_owned(s, owner, trans, &e[i], e, n))
                        return RM_ERROR_MEM_INVALID;
                for (size_t j = 0; j < n_more; j++)
                        if (overlaps(e[i].ipa, e[i].size, more[j].ipa, more[j].size))
                                return RM_ERROR_MEM_INVALID;
        }
        return RM_OK;
}

static bool rights_valid(uint8_t r)
{
        return r == 4 || r == 5 || r == 6 || r == 7;
}

static unsigned parcels_owned(Sim *s, uint16_t owner)
{
        unsigned n = 0;

        for (SimParcel *pc = s->parcels; pc; pc = pc->next)
                n += pc->owner == owner;
        return n;
}

static uint32_t create_validate(Sim *s, uint16_t caller, uint8_t trans, const RmMemCreate *m)
{
        bool io = m->mem_type == RM_MEM_TYPE_IO;
        bool self = false;
        uint32_t e;

        if (m->n_acl == 0 || m->n_sgl == 0 || (trans == RM_TRANS_DONATE && m->n_acl > 1))
                return RM_ERROR_ARGUMENT_INVALID;
        if (parcels_owned(s, caller) >= RM_MAX_PARCELS_PER_VM)
                return RM_ERROR_DENIED;
        if (m->mem_type > RM_MEM_TYPE_IO || (io && (m->flags & RM_MEM_CREATE_FLAG_SANITIZE)))
                return RM_ERROR_ARGUMENT_INVALID;
        for (size_t i = 0; i < m->n_acl; i++) {
                const RmAclEntry *a = &m->acl[i];
                for (size_t j = 0; j < i; j++)
                        if (m->acl[j].vmid == a->vmid)
                                return RM_ERROR_ARGUMENT_INVALID;
                if (!vmid_known(s, a->vmid) || !rights_valid(a->rights))
                        return RM_ERROR_ARGUMENT_INVALID;
                if (io && (a->rights & RM_ACL_X))
                        return RM_ERROR_ARGUMENT_INVALID;
                if (trans == RM_TRANS_DONATE && a->rights != (io ? 6 : RM_ACL_RWX))
                        return RM_ERROR_DENIED;
                self |= a->vmid == caller;
        }
        if (self != (trans == RM_TRANS_SHARE))
                return RM_ERROR_ARGUMENT_INVALID;
        for (size_t i = 0; i < m->n_attr; i++) {
                const RmAttrEntry *a = &m->attr[i];
                bool in_acl = false;
                for (size_t j = 0; j < i; j++)
                        if (m->attr[j].vmid == a->vmid)
                                return RM_ERROR_ARGUMENT_INVALID;
                if (a->attr > RM_MEM_ATTR_CACHED || io != (a->attr == RM_MEM_ATTR_DEVICE))
                        return RM_ERROR_ARGUMENT_INVALID;
                if (trans == RM_TRANS_DONATE &&
                    a->attr != (io ? RM_MEM_ATTR_DEVICE : RM_MEM_ATTR_NORMAL))
                        return RM_ERROR_ARGUMENT_INVALID;
                for (size_t j = 0; j < m->n_acl; j++)
                        in_acl |= m->acl[j].vmid == a->vmid;
                if (!in_acl)
                        return RM_ERROR_VMID_INVALID;
        }
        e = sgl_check(s, caller, trans, m->sgl, m->n_sgl, NULL, 0);
        return e;
}

static uint32_t alloc_handle(Sim *s)
{
        for (;;) {
                uint32_t h = s->next_handle++;
                if (h != RM_MEM_HANDLE_INVALID && !sim_parcel_get(s, h))
                        return h;
        }
}

static void sanitize(Sim *s, const RmSglEntry *e, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                uint8_t *p = sim_pool_ptr(s, e[i].ipa, e[i].size);
                if (p)
                        memset(p, 0, e[i].size);
        }
}

typedef struct ListBufs {
        RmAclEntry acl[RM_MAX_LIST_ENTRIES];
        RmSglEntry sgl[RM_MAX_LIST_ENTRIES];
        RmAttrEntry attr[RM_MAX_LIST_ENTRIES];
        uint16_t vmids[RM_MAX_LIST_ENTRIES];
} ListBufs;

static uint32_t decode_err(int r)
{
        return r == -E2BIG ? RM_ERROR_NORESOURCE : RM_ERROR_MSG_INVALID;
}

static uint32_t h_create(Sim *s, uint16_t caller, uint8_t trans, const uint8_t *p, size_t len,
                         SimReply *reply)
{
        _cleanup_free_ ListBufs *b = malloc(sizeof(*b));
        RmMemCreate m;
        SimParcel *pc;
        uint32_t e;
        uint8_t out[4];
        int r;

        if (!b)
                return RM_ERROR_NOMEM;
        m = (RmMemCreate){.acl = b->acl, .sgl = b->sgl, .attr = b->attr};
        r = rm_decode_mem_create(p, len, &m);
        if (r < 0)
                return decode_err(r);
        e = create_validate(s, caller, trans, &m);
        if (e)
                return e;
        pc = calloc(1, sizeof(*pc));
        if (!pc)
                return RM_ERROR_NOMEM;
        pc->acl = calloc(m.n_acl, sizeof(*pc->acl));
        pc->sgl = malloc(m.n_sgl * sizeof(*pc->sgl));
        pc->attr = malloc((m.n_attr ? m.n_attr : 1) * sizeof(*pc->attr));
        if (!pc->acl || !pc->sgl || !pc->attr) {
                parcel_free(pc);
                return RM_ERROR_NOMEM;
        }
        for (size_t i = 0; i < m.n_acl; i++)
                pc->acl[i] = (SimAcl){.vmid = m.acl[i].vmid, .rights = m.acl[i].rights};
        memcpy(pc->sgl, m.sgl, m.n_sgl * sizeof(*pc->sgl));
        if (m.n_attr)
                memcpy(pc->attr, m.attr, m.n_attr * sizeof(*pc->attr));
        pc->n_acl = m.n_acl;
        pc->n_sgl = m.n_sgl;
        pc->n_attr = m.n_attr;
        for (size_t i = 0; i < m.n_sgl; i++)
                pc->size += m.sgl[i].size;
        pc->owner = caller;
        pc->trans_type = trans;
        pc->mem_type = m.mem_type;
        pc->flags = m.flags;
        pc->label = m.label;
        pc->open = m.flags & RM_MEM_CREATE_FLAG_APPEND;
        pc->handle = alloc_handle(s);
        if (m.flags & RM_MEM_CREATE_FLAG_SANITIZE)
                sanitize(s, m.sgl, m.n_sgl);
        pc->next = s->parcels;
        s->parcels = pc;
        le32_put(out, pc->handle);
        return sim_reply_put(reply, out, 4) < 0 ? RM_ERROR_NOMEM : RM_OK;
}

static uint32_t h_append(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *reply)
{
        _cleanup_free_ ListBufs *b = malloc(sizeof(*b));
        RmMemAppend m;
        SimParcel *pc;
        RmSglEntry *n;
        uint32_t e;
        int r;

        if (!b)
                return RM_ERROR_NOMEM;
        m = (RmMemAppend){.sgl = b->sgl};
        r = rm_decode_mem_append(p, len, &m);
        if (r < 0)
                return decode_err(r);
        if (m.n_sgl == 0)
                return RM_ERROR_ARGUMENT_INVALID;
        pc = sim_parcel_get(s, m.handle);
        if (!pc)
                return RM_ERROR_HANDLE_INVALID;
        if (pc->owner != caller || !pc->open)
                return RM_ERROR_DENIED;
        e = sgl_check(s, caller, pc->trans_type, m.sgl, m.n_sgl, NULL, 0);
        if (e)
                return e;
        n = realloc(pc->sgl, (pc->n_sgl + m.n_sgl) * sizeof(*n));
        if (!n)
                return RM_ERROR_NOMEM;
        pc->sgl = n;
        memcpy(pc->sgl + pc->n_sgl, m.sgl, m.n_sgl * sizeof(*n));
        pc->n_sgl += m.n_sgl;
        for (size_t i = 0; i < m.n_sgl; i++)
                pc->size += m.sgl[i].size;
        if (pc->flags & RM_MEM_CREATE_FLAG_SANITIZE)
                sanitize(s, m.sgl, m.n_sgl);
        if (m.flags & RM_MEM_APPEND_FLAG_END)
                pc->open = false;
        return RM_OK;
}

uint32_t sim_parcel_accept_for(Sim *s, SimParcel *pc, uint16_t vmid, uint64_t guest_ipa)
{
        SimAcl *a = sim_parcel_acl_of(pc, vmid);

        if (!a)
                return RM_ERROR_VMID_INVALID;
        if (a->accepted || pc->owner == vmid)
                return RM_ERROR_DENIED;
        a->accepted = true;
        a->guest_ipa = guest_ipa;
        return RM_OK;
}

void sim_parcel_release_for(Sim *s, SimParcel *pc, uint16_t vmid, bool notify_owner)
{
        SimAcl *a = sim_parcel_acl_of(pc, vmid);
        RmNotifyMemOwner n = {.handle = pc->handle, .vmid = vmid, .mem_info_tag = pc->tag};
        uint8_t buf[12];

        if (!a || !a->accepted)
                return;
        a->accepted = false;
        if (notify_owner && rm_encode_notify_mem_owner(buf, sizeof(buf), &n) > 0)
                sim_notify(s, pc->owner, RM_NOTIFY_MEM_RELEASED, buf, sizeof(buf));
}

SimParcel *sim_parcel_next_accepted_by(Sim *s, uint16_t vmid)
{
        for (SimParcel *pc = s->parcels; pc; pc = pc->next) {
                SimAcl *a = sim_parcel_acl_of(pc, vmid);
                if (a && a->accepted)
                        return pc;
        }
        return NULL;
}

static uint32_t h_accept(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *reply)
{
        _cleanup_free_ ListBufs *b = malloc(sizeof(*b));
        RmMemAccept m;
        SimParcel *pc;
        SimAcl *a;
        int r;

        if (!b)
                return RM_ERROR_NOMEM;
        m = (RmMemAccept){.acl = b->acl, .sgl = b->sgl, .attr = b->attr};
        r = rm_decode_mem_accept(p, len, &m);
        if (r < 0)
                return decode_err(r);
        pc = sim_parcel_get(s, m.handle);
        if (!pc)
                return RM_ERROR_HANDLE_INVALID;
        if (pc->owner == caller)
                return RM_ERROR_DENIED;
        if (m.mem_type != pc->mem_type || m.trans_type != pc->trans_type)
                return RM_ERROR_ARGUMENT_INVALID;
        a = sim_parcel_acl_of(pc, caller);
        if (!a)
                return RM_ERROR_VMID_INVALID;
        if (a->accepted || (m.flags & RM_MEM_ACCEPT_FLAG_MAP_OTHER) || m.map_vmid != 0)
                return RM_ERROR_DENIED;
        if (m.flags & RM_MEM_ACCEPT_FLAG_VALIDATE_ACL_ATTR) {
                if (m.n_acl != pc->n_acl || m.n_attr != pc->n_attr)
                        return RM_ERROR_VALIDATE_FAILED;
                for (size_t i = 0; i < m.n_acl; i++)
                        if (m.acl[i].vmid != pc->acl[i].vmid ||
                            m.acl[i].rights != pc->acl[i].rights)
                                return RM_ERROR_VALIDATE_FAILED;
                for (size_t i = 0; i < m.n_attr; i++)
                        if (m.attr[i].vmid != pc->attr[i].vmid ||
                            m.attr[i].attr != pc->attr[i].attr)
                                return RM_ERROR_VALIDATE_FAILED;
        }
        if ((m.flags & RM_MEM_ACCEPT_FLAG_VALIDATE_LABEL) && m.label != pc->label)
                return RM_ERROR_VALIDATE_FAILED;
        if ((m.flags & RM_MEM_ACCEPT_FLAG_VALIDATE_SANITIZED) &&
            !(pc->flags & RM_MEM_CREATE_FLAG_SANITIZE))
                return RM_ERROR_VALIDATE_FAILED;
        if ((m.flags & RM_MEM_ACCEPT_FLAG_MAP_CONTIGUOUS) && pc->mem_type == RM_MEM_TYPE_IO)
                return RM_ERROR_ARGUMENT_INVALID;
        if ((m.flags & RM_MEM_ACCEPT_FLAG_SANITIZE) &&
            (pc->mem_type == RM_MEM_TYPE_IO || !(a->rights & RM_ACL_W)))
                return RM_ERROR_ARGUMENT_INVALID;
        if (m.n_sgl > 0) {
                size_t want = (m.flags & RM_MEM_ACCEPT_FLAG_MAP_CONTIGUOUS) ? 1 : pc->n_sgl;
                if (m.n_sgl != want)
                        return RM_ERROR_ARGUMENT_INVALID;
                for (size_t i = 0; i < m.n_sgl; i++)
                        if (m.sgl[i].size != (want == 1 ? pc->size : pc->sgl[i].size))
                                return RM_ERROR_ARGUMENT_INVALID;
        }
        a->accepted = true;
        a->guest_ipa = m.n_sgl > 0 ? m.sgl[0].ipa : pc->sgl[0].ipa;
        if (m.n_sgl == 0) {
                /* the RM chooses the IPAs: the simulator maps at the owner's addresses */
                size_t n = MIN(pc->n_sgl, (size_t)RM_MAX_LIST_ENTRIES);
                uint8_t hdr[4] = {(uint8_t)n, (uint8_t)(n >> 8),
                                  pc->n_sgl > n ? RM_MEM_ACCEPT_REPLY_FLAG_INCOMPLETE : 0, 0};
                (void)sim_reply_put(reply, hdr, 4);
                for (size_t i = 0; i < n; i++) {
                        uint8_t e[16];
                        le64_put(e, pc->sgl[i].ipa);
                        le64_put(e + 8, pc->sgl[i].size);
                        (void)sim_reply_put(reply, e, 16);
                }
        }
        if (pc->trans_type == RM_TRANS_DONATE && (m.flags & RM_MEM_ACCEPT_FLAG_DONE))
                parcel_unlink(s, pc); /* the donation is complete */
        return RM_OK;
}

uint32_t sim_parcel_do_release(Sim *s, uint16_t caller, uint32_t handle)
{
        SimParcel *pc = sim_parcel_get(s, handle);
        SimAcl *a;

        if (!pc)
                return RM_ERROR_HANDLE_INVALID;
        if (pc->owner == caller)
                return RM_ERROR_DENIED;
        a = sim_parcel_acl_of(pc, caller);
        if (!a)
                return RM_ERROR_HANDLE_INVALID;
        if (!a->accepted)
                return RM_ERROR_MEM_RELEASED;
        a->accepted = false;
        return RM_OK;
}

static uint32_t h_release(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *reply)
{
        RmMemHandleReq m;
        SimParcel *pc;

        if (rm_decode_mem_handle_req(p, len, &m) < 0)
                return RM_ERROR_MSG_INVALID;
        pc = sim_parcel_get(s, m.handle);
        if (pc && pc->owner != caller && (m.flags & RM_MEM_RELEASE_FLAG_SANITIZE)) {
                SimAcl *a = sim_parcel_acl_of(pc, caller);
                if (pc->mem_type == RM_MEM_TYPE_IO || (a && !(a->rights & RM_ACL_W)))
                        return RM_ERROR_ARGUMENT_INVALID;
        }
        return sim_parcel_do_release(s, caller, m.handle);
}

static uint32_t h_reclaim(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *reply)
{
        RmMemHandleReq m;
        SimParcel *pc;

        if (rm_decode_mem_handle_req(p, len, &m) < 0)
                return RM_ERROR_MSG_INVALID;
        pc = sim_parcel_get(s, m.handle);
        if (!pc)
                return RM_ERROR_HANDLE_INVALID;
        if (pc->owner != caller)
                return RM_ERROR_DENIED;
        if (parcel_accepted(pc))
                return RM_ERROR_MEM_INUSE;
        if ((m.flags & RM_MEM_RELEASE_FLAG_SANITIZE) && pc->mem_type == RM_MEM_TYPE_IO)
                return RM_ERROR_ARGUMENT_INVALID;
        if (m.flags & RM_MEM_RELEASE_FLAG_SANITIZE)
                sanitize(s, pc->sgl, pc->n_sgl);
        parcel_unlink(s, pc);
        return RM_OK;
}

static void notify_owner(Sim *s, SimParcel *pc, uint32_t id, uint16_t vmid)
{
        RmNotifyMemOwner n = {.handle = pc->handle, .vmid = vmid, .mem_info_tag = pc->tag};
        uint8_t buf[12];

        if (rm_encode_notify_mem_owner(buf, sizeof(buf), &n) > 0)
                sim_notify(s, pc->owner, id, buf, sizeof(buf));
}

static void send_shared(Sim *s, SimParcel *pc, uint16_t to)
{
        _cleanup_free_ ListBufs *b = malloc(sizeof(*b));
        _cleanup_free_ uint64_t *sizes = malloc(RM_MAX_LIST_ENTRIES * sizeof(uint64_t));
        _cleanup_free_ uint8_t *buf = malloc(RM_RECV_MAX_PAYLOAD);
        RmNotifyMemShared n;
        ssize_t len;

        if (!b || !sizes || !buf)
                return;
        for (size_t i = 0; i < pc->n_acl; i++)
                b->acl[i] = (RmAclEntry){.vmid = pc->acl[i].vmid, .rights = pc->acl[i].rights};
        n = (RmNotifyMemShared){.handle = pc->handle,
                                .mem_type = pc->mem_type,
                                .trans_type = pc->trans_type,
                                .flags = pc->flags & RM_MEM_CREATE_FLAG_SANITIZE,
                                .owner_vmid = pc->owner,
                                .label = pc->label,
                                .mem_info_tag = pc->tag,
                                .n_acl = pc->n_acl,
                                .acl = b->acl,
                                .n_regions = MIN(pc->n_sgl, (size_t)RM_MAX_LIST_ENTRIES),
                                .region_sizes = sizes,
                                .n_attr = pc->n_attr,
                                .attr = pc->attr};
        for (size_t i = 0; i < n.n_regions; i++)
                sizes[i] = pc->sgl[i].size;
        len = rm_encode_notify_mem_shared(buf, RM_RECV_MAX_PAYLOAD, &n);
        if (len > 0)
                sim_notify(s, to, RM_NOTIFY_MEM_SHARED, buf, (size_t)len);
}

uint32_t sim_parcel_do_notify(Sim *s, uint16_t caller, uint32_t handle, uint8_t flags, uint32_t tag,
                              const uint16_t *vmids, size_t n)
{
        SimParcel *pc = sim_parcel_get(s, handle);
        SimAcl *a;

        if (!pc)
                return RM_ERROR_HANDLE_INVALID;
        if (pc->has_tag && pc->tag != tag)
                return RM_ERROR_ARGUMENT_INVALID;
        switch (flags) {
        case RM_MEM_NOTIFY_SHARED:
        case RM_MEM_NOTIFY_RECALL:
                if (pc->owner != caller)
                        return RM_ERROR_DENIED;
                if (n == 0 || n > pc->n_acl)
                        return RM_ERROR_ARGUMENT_INVALID;
                for (size_t i = 0; i < n; i++) {
                        if (!vmid_known(s, vmids[i]))
                                return RM_ERROR_VMID_INVALID;
                        if (!sim_parcel_acl_of(pc, vmids[i]))
                                return RM_ERROR_ARGUMENT_INVALID;
                }
                if (flags == RM_MEM_NOTIFY_SHARED && !pc->has_tag) {
                        pc->has_tag = true;
                        pc->tag = tag;
                }
                for (size_t i = 0; i < n; i++) {
                        SimVm *vm = sim_vm_get(s, vmids[i]);
                        if (flags == RM_MEM_NOTIFY_RECALL) {
                                uint8_t b[8];
                                le32_put(b, pc->handle);
                                le32_put(b + 4, pc->tag);
                                sim_notify(s, vmids[i], RM_NOTIFY_MEM_RECALL, b, sizeof(b));
                        } else if (vm && vm->status == RM_VM_STATUS_READY) {
                                /* the RM accepts on behalf of a VM that is not running yet */
                                if (sim_parcel_accept_for(s, pc, vm->vmid, pc->sgl[0].ipa) == RM_OK)
                                        notify_owner(s, pc, RM_NOTIFY_MEM_ACCEPTED, vm->vmid);
                                else
                                        notify_owner(s, pc, RM_NOTIFY_MEM_RELEASED, vm->vmid);
                        } else {
                                send_shared(s, pc, vmids[i]);
                        }
                        pc = sim_parcel_get(s, handle); /* a guest may not delete it, but be safe */
                        if (!pc)
                                break;
                }
                return RM_OK;
        case RM_MEM_NOTIFY_RELEASED:
        case RM_MEM_NOTIFY_ACCEPTED:
                a = sim_parcel_acl_of(pc, caller);
                if (!a)
                        return RM_ERROR_HANDLE_INVALID;
                if (flags == RM_MEM_NOTIFY_ACCEPTED && !a->accepted)
                        return RM_ERROR_MEM_RELEASED;
                if (flags == RM_MEM_NOTIFY_RELEASED && a->accepted)
                        return RM_ERROR_MEM_INUSE;
                notify_owner(s, pc,
                             flags == RM_MEM_NOTIFY_ACCEPTED ? RM_NOTIFY_MEM_ACCEPTED
                                                             : RM_NOTIFY_MEM_RELEASED,
                             caller);
                return RM_OK;
        default:
                return RM_ERROR_ARGUMENT_INVALID;
        }
}

static uint32_t h_notify(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *reply)
{
        _cleanup_free_ ListBufs *b = malloc(sizeof(*b));
        RmMemNotify m;
        uint8_t flags;
        int r;

        if (!b)
                return RM_ERROR_NOMEM;
        if (len < 12)
                return RM_ERROR_MSG_INVALID;
        flags = p[4];
        if (flags != RM_MEM_NOTIFY_SHARED && flags != RM_MEM_NOTIFY_RELEASED &&
            flags != RM_MEM_NOTIFY_ACCEPTED && flags != RM_MEM_NOTIFY_RECALL) {
                SimParcel *pc = sim_parcel_get(s, le32_get(p));
                if (!pc)
                        return RM_ERROR_HANDLE_INVALID;
                if (pc->has_tag && pc->tag != le32_get(p + 8))
                        return RM_ERROR_ARGUMENT_INVALID;
                return RM_ERROR_ARGUMENT_INVALID;
        }
        m = (RmMemNotify){.vmids = b->vmids};
        r = rm_decode_mem_notify(p, len, &m);
        if (r < 0)
                return decode_err(r);
        return sim_parcel_do_notify(s, caller, m.handle, m.flags, m.mem_info_tag, m.vmids,
                                    m.n_vmids);
}

/* MEM_QCOM_LOOKUP_SGL (the open RM's memparcel lookup): the oldest parcel the caller owns in
 * SHARING (finalized, accepted by nobody) whose mem_type, ACL (vmid and rights), SGL and attr
 * list equal the request's, entry by entry in order. The label is not compared. */
static bool lookup_matches(const SimParcel *pc, uint16_t caller, const RmMemLookupSgl *m)
{
        if (pc->owner != caller || pc->open || parcel_accepted(pc) || pc->mem_type != m->mem_type ||
            pc->n_acl != m->n_acl || pc->n_sgl != m->n_sgl || pc->n_attr != m->n_attr)
                return false;
        for (size_t i = 0; i < m->n_acl; i++)
                if (pc->acl[i].vmid != m->acl[i].vmid || pc->acl[i].rights != m->acl[i].rights)
                        return false;
        for (size_t i = 0; i < m->n_sgl; i++)
                if (pc->sgl[i].ipa != m->sgl[i].ipa || pc->sgl[i].size != m->sgl[i].size)
                        return false;
        for (size_t i = 0; i < m->n_attr; i++)
                if (pc->attr[i].attr != m->attr[i].attr || pc->attr[i].vmid != m->attr[i].vmid)
                        return false;
        return true;
}

static uint32_t h_lookup_sgl(Sim *s, uint16_t caller, const uint8_t *p, size_t len, SimReply *reply)
{
        _cleanup_free_ ListBufs *b = malloc(sizeof(*b));
        const SimParcel *found = NULL;
        RmMemLookupSgl m;
        uint8_t out[4];
        int r;

        if (!b)
                return RM_ERROR_NOMEM;
        m = (RmMemLookupSgl){.acl = b->acl, .sgl = b->sgl, .attr = b->attr};
        r = rm_decode_mem_lookup_sgl(p, len, &m);
        if (r < 0)
                return decode_err(r);
        /* s->parcels is newest first; the RM walks its list oldest first. */
        for (const SimParcel *pc = s->parcels; pc; pc = pc->next)
                if (lookup_matches(pc, caller, &m))
                        found = pc;
        if (!found)
                return RM_ERROR_LOOKUP_FAILED;
        le32_put(out, found->handle);
        return sim_reply_put(reply, out, 4) < 0 ? RM_ERROR_NOMEM : RM_OK;
}

static uint32_t h_lend(Sim *s, uint16_t c, const uint8_t *p, size_t len, SimReply *r)
{
        return h_create(s, c, RM_TRANS_LEND, p, len, r);
}
static uint32_t h_share(Sim *s, uint16_t c, const uint8_t *p, size_t len, SimReply *r)
{
        return h_create(s, c, RM_TRANS_SHARE, p, len, r);
}
static uint32_t h_donate(Sim *s, uint16_t c, const uint8_t *p, size_t len, SimReply *r)
{
        return h_create(s, c, RM_TRANS_DONATE, p, len, r);
}

static const struct {
        uint32_t id;
        SimHandler fn;
} parcel_table[] = {
    {RM_MEM_LEND, h_lend},       {RM_MEM_SHARE, h_share},   {RM_MEM_DONATE, h_donate},
    {RM_MEM_APPEND, h_append},   {RM_MEM_ACCEPT, h_accept}, {RM_MEM_RELEASE, h_release},
    {RM_MEM_RECLAIM, h_reclaim}, {RM_MEM_NOTIFY, h_notify}, {RM_MEM_QCOM_LOOKUP_SGL, h_lookup_sgl},
};

uint32_t sim_parcel_handle(Sim *s, uint16_t caller, uint32_t msg_id, const uint8_t *p, size_t len,
                           SimReply *reply, bool *handled)
{
        for (size_t i = 0; i < ELEMENTSOF(parcel_table); i++)
                if (parcel_table[i].id == msg_id) {
                        *handled = true;
                        return parcel_table[i].fn(s, caller, p, len, reply);
                }
        *handled = false;
        return RM_ERROR_UNIMPLEMENTED;
}
