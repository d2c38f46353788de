/* SPDX-License-Identifier: MIT */
/*
 * Fuzz every payload decoder of rm-vm.h, rm-mem.h (MEM_QCOM_LOOKUP_SGL too) and rm-notify.h.
 * The first input byte picks the decoder, the rest is the payload (copied to an exact-size
 * heap buffer so ASan sees any read past it). When a decode succeeds, the fields are
 * re-encoded, decoded again and compared field by field: the codec must round-trip whatever
 * it accepts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rm-mem.h"
#include "rm-notify.h"
#include "rm-types.h"
#include "rm-vm.h"
#include "rm-wire.h"

#define CHECK(x)                                                                               \
        do {                                                                                   \
                if (!(x))                                                                      \
                        abort();                                                               \
        } while (0)
#define ELEMS(x) (sizeof(x) / sizeof((x)[0]))
#define L RM_MAX_LIST_ENTRIES

static uint8_t enc[65536];

/* Two sets of list storage: first decode, second decode. */
static RmAclEntry acl[2][L];
static RmSglEntry sgl[2][L];
static RmAttrEntry attr[2][L];
static uint16_t vmids[2][L];
static uint64_t sizes[2][L];
static RmHypResource hyp[2][64];
static RmRange ranges[2][1024];

static size_t reencode(ssize_t n)
{
        CHECK(n >= 0);
        CHECK((size_t)n <= sizeof(enc));
        return (size_t)n;
}

static void acl_eq(const RmAclEntry *a, const RmAclEntry *b, size_t n)
{
        for (size_t i = 0; i < n; i++)
                CHECK(a[i].vmid == b[i].vmid && a[i].rights == b[i].rights &&
                      a[i].res == b[i].res);
}
static void sgl_eq(const RmSglEntry *a, const RmSglEntry *b, size_t n)
{
        for (size_t i = 0; i < n; i++)
                CHECK(a[i].ipa == b[i].ipa && a[i].size == b[i].size);
}
static void attr_eq(const RmAttrEntry *a, const RmAttrEntry *b, size_t n)
{
        for (size_t i = 0; i < n; i++)
                CHECK(a[i].attr == b[i].attr && a[i].vmid == b[i].vmid);
}

/* The ACL, SGL and attribute lists of two decoded MEM_* messages are the same. */
#define MEM_LISTS_EQ(a, b)                                                                     \
        do {                                                                                   \
                CHECK((a).n_acl == (b).n_acl && (a).n_sgl == (b).n_sgl &&                      \
                      (a).n_attr == (b).n_attr);                                               \
                acl_eq((a).acl, (b).acl, (a).n_acl);                                           \
                sgl_eq((a).sgl, (b).sgl, (a).n_sgl);                                           \
                attr_eq((a).attr, (b).attr, (a).n_attr);                                       \
        } while (0)

static void f_vmid_req(const uint8_t *p, size_t n, bool strict)
{
        RmVmidReq a, b;
        if (rm_decode_vmid_req(p, n, strict, &a) < 0)
                return;
        size_t k = reencode(rm_encode_vmid_req(enc, sizeof(enc), a.vmid));
        CHECK(rm_decode_vmid_req(enc, k, true, &b) == 0);
        CHECK(a.vmid == b.vmid && b.res == 0);
}
static void f_vmid_req_lax(const uint8_t *p, size_t n)
{
        f_vmid_req(p, n, false);
}
static void f_vmid_req_strict(const uint8_t *p, size_t n)
{
        f_vmid_req(p, n, true);
}

static void f_vm_allocate_reply(const uint8_t *p, size_t n)
{
        uint16_t a, b;
        if (rm_decode_vm_allocate_reply(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_vm_allocate_reply(enc, sizeof(enc), a));
        CHECK(rm_decode_vm_allocate_reply(enc, k, &b) == 0 && a == b);
}

static void f_vm_stop(const uint8_t *p, size_t n)
{
        RmVmStop a, b;
        if (rm_decode_vm_stop(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_vm_stop(enc, sizeof(enc), &a));
        CHECK(rm_decode_vm_stop(enc, k, &b) == 0);
        CHECK(a.vmid == b.vmid && a.flags == b.flags && a.res == b.res &&
              a.stop_reason == b.stop_reason);
        CHECK(k == n && memcmp(enc, p, n) == 0);
}

static void f_vm_config_image(const uint8_t *p, size_t n)
{
        RmVmConfigImage a, b;
        if (rm_decode_vm_config_image(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_vm_config_image(enc, sizeof(enc), &a));
        CHECK(rm_decode_vm_config_image(enc, k, &b) == 0);
        CHECK(a.vmid == b.vmid && a.auth == b.auth && a.handle == b.handle &&
              a.image_offset == b.image_offset && a.image_size == b.image_size &&
              a.dtb_offset == b.dtb_offset && a.dtb_size == b.dtb_size);
        CHECK(k == n && memcmp(enc, p, n) == 0);
}

static void f_vm_get_state_reply(const uint8_t *p, size_t n)
{
        RmVmState a, b;
        if (rm_decode_vm_get_state_reply(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_vm_get_state_reply(enc, sizeof(enc), &a));
        CHECK(rm_decode_vm_get_state_reply(enc, k, &b) == 0);
        CHECK(a.vm_status == b.vm_status && a.os_status == b.os_status &&
              a.app_status == b.app_status);
}

static void f_vm_get_vmid(const uint8_t *p, size_t n)
{
        uint32_t a, b;
        CHECK((rm_decode_vm_get_vmid(p, n) == 0) == (n == 0));
        if (rm_decode_vm_get_vmid_reply(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_vm_get_vmid_reply(enc, sizeof(enc), a));
        CHECK(rm_decode_vm_get_vmid_reply(enc, k, &b) == 0 && a == b);
}

static void f_hyp_resources(const uint8_t *p, size_t n)
{
        size_t na, nb;
        if (rm_decode_vm_get_hyp_resources_reply(p, n, hyp[0], ELEMS(hyp[0]), &na) < 0)
                return;
        CHECK(n == 4 + na * RM_HYP_RESOURCE_SIZE);
        size_t k = reencode(rm_encode_vm_get_hyp_resources_reply(enc, sizeof(enc), hyp[0], na));
        CHECK(rm_decode_vm_get_hyp_resources_reply(enc, k, hyp[1], ELEMS(hyp[1]), &nb) == 0);
        CHECK(na == nb);
        for (size_t i = 0; i < na; i++) {
                const RmHypResource *a = &hyp[0][i], *b = &hyp[1][i];
                CHECK(a->type == b->type && a->res == b->res &&
                      a->partner_vmid == b->partner_vmid && a->handle == b->handle &&
                      a->label == b->label && a->cap_id == b->cap_id &&
                      a->virq_handle == b->virq_handle && a->virq == b->virq &&
                      a->base == b->base && a->size == b->size);
        }
        CHECK(k == n && memcmp(enc, p, n) == 0);
}

static void f_crash_msg(const uint8_t *p, size_t n)
{
        char a[RM_MAX_CRASH_MSG + 1], b[RM_MAX_CRASH_MSG + 1];
        size_t na, nb;
        if (rm_decode_vm_get_crash_msg_reply(p, n, a, &na) < 0)
                return;
        CHECK(na <= RM_MAX_CRASH_MSG && a[na] == '\0');
        size_t k = reencode(rm_encode_vm_get_crash_msg_reply(enc, sizeof(enc), a, na));
        CHECK(k == n);
        CHECK(rm_decode_vm_get_crash_msg_reply(enc, k, b, &nb) == 0);
        CHECK(na == nb && memcmp(a, b, na) == 0);
}

static void f_boot_context(const uint8_t *p, size_t n)
{
        RmVmBootContext a, b;
        if (rm_decode_vm_set_boot_context(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_vm_set_boot_context(enc, sizeof(enc), &a));
        CHECK(rm_decode_vm_set_boot_context(enc, k, &b) == 0);
        CHECK(a.vmid == b.vmid && a.reg_set == b.reg_set && a.reg_index == b.reg_index &&
              a.res == b.res && a.value == b.value);
        CHECK(k == n && memcmp(enc, p, n) == 0);
}

static void f_demand_paging(const uint8_t *p, size_t n)
{
        uint16_t va, vb;
        size_t na, nb;
        if (rm_decode_vm_set_demand_paging(p, n, &va, ranges[0], ELEMS(ranges[0]), &na) < 0)
                return;
        size_t k = reencode(rm_encode_vm_set_demand_paging(enc, sizeof(enc), va, ranges[0], na));
        CHECK(rm_decode_vm_set_demand_paging(enc, k, &vb, ranges[1], ELEMS(ranges[1]), &nb) == 0);
        CHECK(va == vb && na == nb);
        for (size_t i = 0; i < na; i++)
                CHECK(ranges[0][i].base == ranges[1][i].base &&
                      ranges[0][i].size == ranges[1][i].size);
}

static void f_address_layout(const uint8_t *p, size_t n)
{
        RmVmAddressLayout a, b;
        if (rm_decode_vm_set_address_layout(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_vm_set_address_layout(enc, sizeof(enc), &a));
        CHECK(rm_decode_vm_set_address_layout(enc, k, &b) == 0);
        CHECK(a.vmid == b.vmid && a.res == b.res && a.range_id == b.range_id &&
              a.base == b.base && a.size == b.size);
        CHECK(k == n && memcmp(enc, p, n) == 0);
}

static void f_mem_create(const uint8_t *p, size_t n)
{
        RmMemCreate a = { .acl = acl[0], .sgl = sgl[0], .attr = attr[0] };
        RmMemCreate b = { .acl = acl[1], .sgl = sgl[1], .attr = attr[1] };
        if (rm_decode_mem_create(p, n, &a) < 0)
                return;
        CHECK(a.n_acl <= L && a.n_sgl <= L && a.n_attr <= L);
        size_t k = reencode(rm_encode_mem_create(enc, sizeof(enc), &a));
        CHECK(rm_decode_mem_create(enc, k, &b) == 0);
        CHECK(a.mem_type == b.mem_type && a.flags == b.flags && a.label == b.label);
        CHECK(b.has_attr_list);
        MEM_LISTS_EQ(a, b);
}

static void f_mem_lookup_sgl(const uint8_t *p, size_t n)
{
        RmMemLookupSgl a = { .acl = acl[0], .sgl = sgl[0], .attr = attr[0] };
        RmMemLookupSgl b = { .acl = acl[1], .sgl = sgl[1], .attr = attr[1] };
        if (rm_decode_mem_lookup_sgl(p, n, &a) < 0)
                return;
        CHECK(a.n_acl <= L && a.n_sgl <= L && a.n_attr <= L);
        CHECK(a.has_attr_list || a.n_attr == 0);
        size_t k = reencode(rm_encode_mem_lookup_sgl(enc, sizeof(enc), &a));
        CHECK(rm_decode_mem_lookup_sgl(enc, k, &b) == 0);
        CHECK(a.mem_type == b.mem_type && a.label == b.label);
        MEM_LISTS_EQ(a, b);
}

static void f_mem_lookup_sgl_reply(const uint8_t *p, size_t n)
{
        uint32_t a, b;
        if (rm_decode_mem_lookup_sgl_reply(p, n, &a) < 0)
                return;
        CHECK(n == 4);
        size_t k = reencode(rm_encode_mem_lookup_sgl_reply(enc, sizeof(enc), a));
        CHECK(rm_decode_mem_lookup_sgl_reply(enc, k, &b) == 0 && a == b);
}

static void f_mem_create_reply(const uint8_t *p, size_t n)
{
        uint32_t a, b;
        if (rm_decode_mem_create_reply(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_mem_create_reply(enc, sizeof(enc), a));
        CHECK(rm_decode_mem_create_reply(enc, k, &b) == 0 && a == b);
}

static void f_mem_append(const uint8_t *p, size_t n)
{
        RmMemAppend a = { .sgl = sgl[0] }, b = { .sgl = sgl[1] };
        if (rm_decode_mem_append(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_mem_append(enc, sizeof(enc), &a));
        CHECK(rm_decode_mem_append(enc, k, &b) == 0);
        CHECK(a.handle == b.handle && a.flags == b.flags && a.n_sgl == b.n_sgl);
        sgl_eq(a.sgl, b.sgl, a.n_sgl);
}

static void f_mem_accept(const uint8_t *p, size_t n)
{
        RmMemAccept a = { .acl = acl[0], .sgl = sgl[0], .attr = attr[0] };
        RmMemAccept b = { .acl = acl[1], .sgl = sgl[1], .attr = attr[1] };
        if (rm_decode_mem_accept(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_mem_accept(enc, sizeof(enc), &a));
        CHECK(rm_decode_mem_accept(enc, k, &b) == 0);
        CHECK(a.handle == b.handle && a.mem_type == b.mem_type && a.trans_type == b.trans_type &&
              a.flags == b.flags && a.label == b.label && a.map_vmid == b.map_vmid);
        MEM_LISTS_EQ(a, b);
}

static void f_mem_accept_reply(const uint8_t *p, size_t n)
{
        uint8_t fa, fb;
        size_t na, nb;
        if (rm_decode_mem_accept_reply(p, n, &fa, sgl[0], L, &na) < 0)
                return;
        size_t k = reencode(rm_encode_mem_accept_reply(enc, sizeof(enc), fa, sgl[0], na));
        CHECK(rm_decode_mem_accept_reply(enc, k, &fb, sgl[1], L, &nb) == 0);
        CHECK(fa == fb && na == nb);
        sgl_eq(sgl[0], sgl[1], na);
}

static void f_mem_handle_req(const uint8_t *p, size_t n)
{
        RmMemHandleReq a, b;
        if (rm_decode_mem_handle_req(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_mem_handle_req(enc, sizeof(enc), &a));
        CHECK(rm_decode_mem_handle_req(enc, k, &b) == 0);
        CHECK(a.handle == b.handle && a.flags == b.flags);
}

static void f_mem_notify(const uint8_t *p, size_t n)
{
        RmMemNotify a = { .vmids = vmids[0] }, b = { .vmids = vmids[1] };
        if (rm_decode_mem_notify(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_mem_notify(enc, sizeof(enc), &a));
        CHECK(rm_decode_mem_notify(enc, k, &b) == 0);
        CHECK(a.handle == b.handle && a.flags == b.flags && a.mem_info_tag == b.mem_info_tag &&
              a.n_vmids == b.n_vmids);
        for (size_t i = 0; i < a.n_vmids; i++)
                CHECK(a.vmids[i] == b.vmids[i]);
}

static void f_notify_vm_status(const uint8_t *p, size_t n)
{
        RmNotifyVmStatus a, b;
        if (rm_decode_notify_vm_status(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_notify_vm_status(enc, sizeof(enc), &a));
        CHECK(rm_decode_notify_vm_status(enc, k, &b) == 0);
        CHECK(a.vmid == b.vmid && a.vm_status == b.vm_status && a.os_status == b.os_status &&
              a.app_status == b.app_status);
}

static void f_notify_vm_exited(const uint8_t *p, size_t n)
{
        RmNotifyVmExited a, b;
        if (rm_decode_notify_vm_exited(p, n, &a) < 0)
                return;
        CHECK(a.reason_size <= RM_EXIT_REASON_MAX && a.reason_size % 4 == 0);
        size_t k = reencode(rm_encode_notify_vm_exited(enc, sizeof(enc), &a));
        CHECK(rm_decode_notify_vm_exited(enc, k, &b) == 0);
        CHECK(a.vmid == b.vmid && a.exit_type == b.exit_type && a.reason_size == b.reason_size &&
              a.exit_flags == b.exit_flags && a.exit_code == b.exit_code);
        for (size_t i = 0; i < a.reason_size / 4; i++)
                CHECK(a.reason[i] == b.reason[i]);
        CHECK(k == n && memcmp(enc, p, n) == 0);
}

static void f_notify_vm_shutdown(const uint8_t *p, size_t n)
{
        uint32_t a, b;
        if (rm_decode_notify_vm_shutdown(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_notify_vm_shutdown(enc, sizeof(enc), a));
        CHECK(rm_decode_notify_vm_shutdown(enc, k, &b) == 0 && a == b);
}

static void f_notify_mem_owner(const uint8_t *p, size_t n)
{
        RmNotifyMemOwner a, b;
        if (rm_decode_notify_mem_owner(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_notify_mem_owner(enc, sizeof(enc), &a));
        CHECK(rm_decode_notify_mem_owner(enc, k, &b) == 0);
        CHECK(a.handle == b.handle && a.vmid == b.vmid && a.mem_info_tag == b.mem_info_tag);
}

static void f_notify_mem_recall(const uint8_t *p, size_t n)
{
        RmNotifyMemRecall a, b;
        if (rm_decode_notify_mem_recall(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_notify_mem_recall(enc, sizeof(enc), &a));
        CHECK(rm_decode_notify_mem_recall(enc, k, &b) == 0);
        CHECK(a.handle == b.handle && a.mem_info_tag == b.mem_info_tag);
        CHECK(k == n && memcmp(enc, p, n) == 0);
}

static void f_notify_mem_shared(const uint8_t *p, size_t n)
{
        RmNotifyMemShared a = { .acl = acl[0], .region_sizes = sizes[0], .attr = attr[0] };
        RmNotifyMemShared b = { .acl = acl[1], .region_sizes = sizes[1], .attr = attr[1] };
        if (rm_decode_notify_mem_shared(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_notify_mem_shared(enc, sizeof(enc), &a));
        CHECK(rm_decode_notify_mem_shared(enc, k, &b) == 0);
        CHECK(a.handle == b.handle && a.mem_type == b.mem_type && a.trans_type == b.trans_type &&
              a.flags == b.flags && a.owner_vmid == b.owner_vmid && a.label == b.label &&
              a.mem_info_tag == b.mem_info_tag);
        CHECK(a.n_acl == b.n_acl && a.n_regions == b.n_regions && a.n_attr == b.n_attr);
        acl_eq(a.acl, b.acl, a.n_acl);
        for (size_t i = 0; i < a.n_regions; i++)
                CHECK(a.region_sizes[i] == b.region_sizes[i]);
        attr_eq(a.attr, b.attr, a.n_attr);
}

static void f_sim_page_fault(const uint8_t *p, size_t n)
{
        RmNotifySimPageFault a, b;
        if (rm_decode_notify_sim_page_fault(p, n, &a) < 0)
                return;
        size_t k = reencode(rm_encode_notify_sim_page_fault(enc, sizeof(enc), &a));
        CHECK(rm_decode_notify_sim_page_fault(enc, k, &b) == 0);
        CHECK(a.vmid == b.vmid && a.flags == b.flags && a.ipa == b.ipa);
}

static void f_reply_and_list(const uint8_t *p, size_t n)
{
        uint32_t err;
        const uint8_t *data;
        size_t dlen, count;
        if (rm_reply_split(p, n, &err, &data, &dlen) == 0)
                CHECK(data == p + 4 && dlen == n - 4);
        else
                CHECK(n < 4);
        ssize_t k = rm_decode_list_header(p, n, 4, &count);
        if (k >= 0)
                CHECK(count <= L && (size_t)k == 4 + 4 * count && (size_t)k <= n);
}

static void (*const decoders[])(const uint8_t *p, size_t n) = {
        f_vmid_req_lax,      f_vmid_req_strict,   f_vm_allocate_reply,  f_vm_stop,
        f_vm_config_image,   f_vm_get_state_reply, f_vm_get_vmid,       f_hyp_resources,
        f_crash_msg,         f_boot_context,      f_demand_paging,      f_address_layout,
        f_mem_create,        f_mem_create_reply,  f_mem_append,         f_mem_accept,
        f_mem_accept_reply,  f_mem_handle_req,    f_mem_notify,         f_notify_vm_status,
        f_notify_vm_exited,  f_notify_vm_shutdown, f_notify_mem_owner,  f_notify_mem_recall,
        f_notify_mem_shared, f_sim_page_fault,    f_reply_and_list,     f_mem_lookup_sgl,
        f_mem_lookup_sgl_reply,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        size_t n = size - 1;
        uint8_t *p = malloc(n ? n : 1);
        if (!p)
                return 0;
        memcpy(p, data + 1, n);
        decoders[data[0] % ELEMS(decoders)](p, n);
        free(p);
        return 0;
}
