/* SPDX-License-Identifier: MIT */
/*
 * gunyah-rm-sim memory parcels (rm-protocol.md section 11; checklist 23-31): create rules
 * and codes, the 64-parcel limit, handles, a 1,000-entry SGL through MEM_APPEND, reclaim,
 * accept by the owner, MEM_NOTIFY rules and the exact MEM_SHARED / MEM_ACCEPTED payloads.
 */
#include <json-c/json.h>
#include <string.h>

#include "test-sim-harness.h"
#include "test.h"

#define LEND 0x51000012
#define SHARE 0x51000013
#define DONATE 0x51000010
#define POOL(off) (T_POOL_IPA + (off))

/* Create with explicit lists, built by hand. */
static uint32_t create(T *t, uint32_t id, uint8_t mem_type, uint8_t flags, const uint16_t *acl_vm,
                       const uint8_t *acl_r, size_t n_acl, const uint64_t *sgl, size_t n_sgl,
                       const uint16_t *attr, size_t n_attr, uint32_t *handle)
{
        W *w = calloc(1, sizeof(*w));
        uint8_t out[8];
        size_t olen;
        uint32_t e;

        ASSERT_TRUE(w);
        w_u8(w, mem_type);
        w_u8(w, 0);
        w_u8(w, flags);
        w_u8(w, 0);
        w_u32(w, 0x1234); /* label */
        w_u16(w, (uint16_t)n_acl);
        w_u16(w, 0);
        for (size_t i = 0; i < n_acl; i++) {
                w_u16(w, acl_vm[i]);
                w_u8(w, acl_r[i]);
                w_u8(w, 0);
        }
        w_u16(w, (uint16_t)n_sgl);
        w_u16(w, 0);
        for (size_t i = 0; i < n_sgl; i++) {
                w_u64(w, sgl[2 * i]);
                w_u64(w, sgl[2 * i + 1]);
        }
        w_u16(w, (uint16_t)n_attr);
        w_u16(w, 0);
        for (size_t i = 0; i < n_attr; i++) {
                w_u16(w, attr[2 * i]);     /* attr */
                w_u16(w, attr[2 * i + 1]); /* vmid */
        }
        e = t_call(t, id, w->b, w->n, out, &olen);
        if (e == 0 && handle) {
                ASSERT_EQ(olen, 4);
                *handle = (uint32_t)out[0] | (uint32_t)out[1] << 8 | (uint32_t)out[2] << 16 |
                          (uint32_t)out[3] << 24;
        }
        free(w);
        return e;
}

static uint32_t one(T *t, uint32_t id, uint16_t vmid, uint8_t rights, uint64_t ipa, uint64_t size)
{
        uint64_t sgl[2] = {ipa, size};
        return create(t, id, 0, 0, &vmid, &rights, 1, sgl, 1, NULL, 0, NULL);
}

static uint32_t handle_call(T *t, uint32_t id, uint32_t handle, uint8_t flags)
{
        uint8_t r[8] = {(uint8_t)handle,
                        (uint8_t)(handle >> 8),
                        (uint8_t)(handle >> 16),
                        (uint8_t)(handle >> 24),
                        flags,
                        0,
                        0,
                        0};
        return t_call(t, id, r, 8, NULL, NULL);
}

static uint32_t notify(T *t, uint32_t handle, uint8_t flags, uint32_t tag, const uint16_t *vmids,
                       size_t n, bool list)
{
        W w = {.n = 0};

        w_u32(&w, handle);
        w_u8(&w, flags);
        w_u8(&w, 0);
        w_u16(&w, 0);
        w_u32(&w, tag);
        if (list) {
                w_u16(&w, (uint16_t)n);
                w_u16(&w, 0);
                for (size_t i = 0; i < n; i++) {
                        w_u16(&w, vmids[i]);
                        w_u16(&w, 0);
                }
        }
        return t_call_w(t, 0x51000017, &w);
}

TEST(create_rules)
{
        uint16_t vm2[2] = {0x80, 0x80}, v80 = 0x80, host = 3;
        uint8_t r2[2] = {7, 7}, rw = 6;
        uint64_t sgl[2] = {POOL(0), 0x1000};
        uint32_t h = 99;
        T t;

        t_start(&t, NULL);
        ASSERT_EQ(one(&t, LEND, 0x80, 7, POOL(0), 0x1000), 0x6); /* VMID not allocated */
        ASSERT_EQ(t_alloc(&t), 0x80);
        ASSERT_EQ(create(&t, LEND, 0, 0, NULL, NULL, 0, sgl, 1, NULL, 0, NULL), 0x6); /* no ACL */
        ASSERT_EQ(create(&t, LEND, 0, 0, &v80, r2, 1, NULL, 0, NULL, 0, NULL), 0x6);  /* no SGL */
        ASSERT_EQ(create(&t, LEND, 0, 0, vm2, r2, 2, sgl, 1, NULL, 0, NULL), 0x6); /* duplicate */
        for (uint8_t r = 0; r < 4; r++)
                ASSERT_EQ(one(&t, LEND, 0x80, r, POOL(0), 0x1000), 0x6); /* no R */
        ASSERT_EQ(one(&t, LEND, 0x80, 8, POOL(0), 0x1000), 0x6);
        ASSERT_EQ(one(&t, LEND, 3, 7, POOL(0), 0x1000), 0x6);      /* LEND to the owner */
        ASSERT_EQ(one(&t, SHARE, 0x80, 7, POOL(0), 0x1000), 0x6);  /* SHARE without the owner */
        ASSERT_EQ(one(&t, DONATE, 0x80, 6, POOL(0), 0x1000), 0x3); /* DONATE needs RWX */
        {
                uint16_t two[2] = {0x80, 3};
                ASSERT_EQ(create(&t, DONATE, 0, 0, two, r2, 2, sgl, 1, NULL, 0, NULL), 0x6);
        }
        ASSERT_EQ(one(&t, LEND, 0x80, 7, POOL(0x800), 0x1000), 0x6); /* unaligned IPA */
        ASSERT_EQ(one(&t, LEND, 0x80, 7, POOL(0), 0x1800), 0x6);     /* unaligned size */
        ASSERT_EQ(one(&t, LEND, 0x80, 7, POOL(0), 0), 0x6);          /* empty range */
        ASSERT_EQ(one(&t, LEND, 0x80, 7, 1ull << 44, 0x1000), 0x6);  /* beyond 2^44 */
        ASSERT_EQ(one(&t, LEND, 0x80, 7, 0x1000, 0x1000), 0xA);      /* not the caller's */
        ASSERT_EQ(one(&t, LEND, 0x80, 7, POOL(SIM_DEFAULT_POOL_SIZE - 0x1000), 0x2000), 0xA);
        {
                uint64_t io[2] = {POOL(0), 0x1000};
                uint8_t rx = 5;
                uint16_t dev[2] = {1, 0x80}, norm[2] = {0, 0x80};
                ASSERT_EQ(create(&t, LEND, 1, 0, &v80, &rx, 1, io, 1, NULL, 0, NULL),
                          0x6); /* IO+X */
                ASSERT_EQ(create(&t, LEND, 1, 1, &v80, &rw, 1, io, 1, dev, 1, NULL),
                          0x6); /* IO sanitize */
                ASSERT_EQ(create(&t, LEND, 1, 0, &v80, &rw, 1, io, 1, norm, 1, NULL),
                          0x6); /* IO NORMAL */
                ASSERT_EQ(create(&t, LEND, 0, 0, &v80, &rw, 1, io, 1, dev, 1, NULL),
                          0x6); /* DEVICE */
                uint16_t bad[2] = {4, 0x80}, other[2] = {2, 0x81}, dup[4] = {2, 0x80, 3, 0x80};
                ASSERT_EQ(create(&t, LEND, 0, 0, &v80, &rw, 1, io, 1, bad, 1, NULL), 0x6);
                ASSERT_EQ(create(&t, LEND, 0, 0, &v80, &rw, 1, io, 1, other, 1, NULL), 0xD);
                ASSERT_EQ(create(&t, LEND, 0, 0, &v80, &rw, 1, io, 1, dup, 2, NULL), 0x6);
                ASSERT_EQ(create(&t, LEND, 1, 0, &v80, &rw, 1, io, 1, dev, 1, &h), 0);
                ASSERT_EQ(h, 0); /* handles start at 0 */
        }
        /* already lent memory is no longer the caller's */
        ASSERT_EQ(one(&t, LEND, 0x80, 7, POOL(0), 0x1000), 0xA);
        {
                uint64_t overlap[4] = {POOL(0x10000), 0x2000, POOL(0x11000), 0x1000};
                ASSERT_EQ(create(&t, LEND, 0, 0, &v80, &rw, 1, overlap, 2, NULL, 0, NULL), 0xA);
        }
        ASSERT_EQ(create(&t, SHARE, 0, 0, (uint16_t[]){3, 0x80}, r2, 2,
                         (uint64_t[]){POOL(0x20000), 0x1000}, 1, NULL, 0, &h),
                  0);
        ASSERT_EQ(h, 1);
        ASSERT_EQ(handle_call(&t, 0x51000015, 0, 0), 0); /* reclaim handle 0 */
        ASSERT_EQ(one(&t, LEND, 0x80, 7, POOL(0), 0x1000), 0);
        ASSERT_EQ(handle_call(&t, 0x51000015, 0, 0), 0x7); /* the counter went on: 2, not 0 */
        ASSERT_EQ(handle_call(&t, 0x51000015, 2, 0), 0);
        ASSERT_EQ(handle_call(&t, 0x51000015, 2, 0), 0x7);
        (void)host;
        t_stop(&t);
}

TEST(limit_64_parcels)
{
        T t;

        t_start(&t, NULL);
        ASSERT_EQ(t_alloc(&t), 0x80);
        for (unsigned i = 0; i < 64; i++)
                ASSERT_EQ(one(&t, LEND, 0x80, 7, POOL(i * 0x1000ull), 0x1000), 0);
        ASSERT_EQ(one(&t, LEND, 0x80, 7, POOL(0x100000), 0x1000), 0x3);
        ASSERT_EQ(handle_call(&t, 0x51000015, 17, 0), 0);
        ASSERT_EQ(one(&t, LEND, 0x80, 7, POOL(0x100000), 0x1000), 0);
        t_stop(&t);
}

static uint32_t append(T *t, uint32_t handle, uint8_t flags, size_t first, size_t n)
{
        W *w = calloc(1, sizeof(*w));
        uint32_t e;

        ASSERT_TRUE(w);
        w_u32(w, handle);
        w_u8(w, flags);
        w_u8(w, 0);
        w_u16(w, 0);
        w_u16(w, (uint16_t)n);
        w_u16(w, 0);
        for (size_t i = first; i < first + n; i++) {
                w_u64(w, POOL(0x1000000 + i * 0x2000)); /* every other page: no merging */
                w_u64(w, 0x1000);
        }
        e = t_call_w(t, 0x51000018, w);
        free(w);
        return e;
}

static const char *parcel_state(T *t, uint32_t handle, size_t *n_sgl)
{
        static char state[16];
        json_object *st, *parcels, *p, *v;

        ASSERT_OK(t_ctl(t, "GetState", NULL, &st));
        ASSERT_TRUE(json_object_object_get_ex(st, "parcels", &parcels));
        state[0] = 0;
        for (size_t i = 0; i < json_object_array_length(parcels); i++) {
                p = json_object_array_get_idx(parcels, i);
                json_object_object_get_ex(p, "handle", &v);
                if ((uint32_t)json_object_get_int64(v) != handle)
                        continue;
                json_object_object_get_ex(p, "state", &v);
                snprintf(state, sizeof(state), "%s", json_object_get_string(v));
                json_object_object_get_ex(p, "sgl", &v);
                *n_sgl = json_object_array_length(v);
        }
        json_object_put(st);
        return state;
}

TEST(sgl_of_1000_entries_through_append)
{
        uint64_t *sgl = calloc(2 * 1000, sizeof(uint64_t));
        uint16_t v80 = 0x80;
        uint8_t rwx = 7;
        uint32_t h;
        size_t n = 0;
        T t;

        ASSERT_TRUE(sgl);
        for (size_t i = 0; i < 1000; i++) {
                sgl[2 * i] = POOL(0x1000000 + i * 0x2000);
                sgl[2 * i + 1] = 0x1000;
        }
        t_start(&t, NULL);
        ASSERT_EQ(t_alloc(&t), 0x80);
        /* more than 512 entries in one message: NORESOURCE from the list reader */
        ASSERT_EQ(create(&t, LEND, 0, 0, &v80, &rwx, 1, sgl, 513, NULL, 0, NULL), 0x2);
        ASSERT_EQ(append(&t, 5, 1, 0, 1), 0x7); /* unknown handle */
        /* first 512 with APPEND (a ~36-packet request), then 488 with END */
        ASSERT_EQ(create(&t, LEND, 0, 2, &v80, &rwx, 1, sgl, 512, NULL, 0, &h), 0);
        ASSERT_STREQ(parcel_state(&t, h, &n), "OPEN");
        ASSERT_EQ(n, 512);
        ASSERT_EQ(append(&t, h, 0, 512, 0), 0x6); /* empty SGL */
        ASSERT_EQ(append(&t, h, 0, 100, 1), 0xA); /* a page already in the parcel */
        ASSERT_EQ(append(&t, h, 0, 512, 300), 0);
        ASSERT_EQ(append(&t, h, 1, 812, 188), 0);
        ASSERT_STREQ(parcel_state(&t, h, &n), "SHARING");
        ASSERT_EQ(n, 1000);
        ASSERT_EQ(append(&t, h, 1, 1000, 1), 0x3); /* finalized */
        ASSERT_EQ(handle_call(&t, 0x51000015, h, 0), 0);
        ASSERT_EQ(handle_call(&t, 0x51000015, h, 0), 0x7);
        free(sgl);
        t_stop(&t);
}

TEST(owner_cannot_accept_or_release)
{
        uint16_t acl[2] = {3, 0x80};
        uint8_t r[2] = {7, 6};
        uint32_t h;
        T t;

        t_start(&t, NULL);
        ASSERT_EQ(t_alloc(&t), 0x80);
        ASSERT_EQ(create(&t, SHARE, 0, 0, acl, r, 2, (uint64_t[]){POOL(0), 0x1000}, 1, NULL, 0, &h),
                  0);
        {
                W w = {.n = 0};
                w_u32(&w, h);
                w_u8(&w, 0);    /* mem_type */
                w_u8(&w, 2);    /* SHARE */
                w_u8(&w, 0x80); /* DONE */
                w_u8(&w, 0);
                w_u32(&w, 0);
                w_u32(&w, 0); /* ACL n = 0 */
                w_u32(&w, 0); /* SGL n = 0, map_vmid 0 */
                w_u32(&w, 0); /* attrs */
                ASSERT_EQ(t_call_w(&t, 0x51000011, &w), 0x3);
                w.b[0] ^= 0x40; /* unknown handle */
                ASSERT_EQ(t_call_w(&t, 0x51000011, &w), 0x7);
        }
        ASSERT_EQ(handle_call(&t, 0x51000014, h, 0), 0x3);     /* release by the owner */
        ASSERT_EQ(handle_call(&t, 0x51000014, h + 9, 0), 0x7); /* unknown */
        t_stop(&t);
}

/* MEM_QCOM_LOOKUP_SGL request built by hand from the open RM's layout: u8 mem_type, 3 res,
 * u32 label, ACL list, SGL list, then (attr >= 0) an attr list header with no entries. */
#define LOOKUP 0x5100001A
static uint32_t lookup(T *t, uint8_t mem_type, uint32_t label, uint16_t vmid, uint8_t rights,
                       const uint64_t *sgl, size_t n_sgl, bool attr, uint32_t *handle)
{
        W w = {.n = 0};
        uint8_t out[8];
        size_t olen = 0;
        uint32_t e;

        w_u8(&w, mem_type);
        w_u8(&w, 0);
        w_u16(&w, 0);
        w_u32(&w, label);
        w_u16(&w, 1);
        w_u16(&w, 0);
        w_u16(&w, vmid);
        w_u8(&w, rights);
        w_u8(&w, 0);
        w_u16(&w, (uint16_t)n_sgl);
        w_u16(&w, 0);
        for (size_t i = 0; i < n_sgl; i++) {
                w_u64(&w, sgl[2 * i]);
                w_u64(&w, sgl[2 * i + 1]);
        }
        if (attr)
                w_u32(&w, 0);
        e = t_call(t, LOOKUP, w.b, w.n, out, &olen);
        if (e == 0) {
                ASSERT_EQ(olen, 4);
                if (handle)
                        *handle = (uint32_t)out[0] | (uint32_t)out[1] << 8 |
                                  (uint32_t)out[2] << 16 | (uint32_t)out[3] << 24;
        } else
                ASSERT_EQ(olen, 0);
        return e;
}

TEST(notify_rules_and_mem_shared_layout)
{
        uint16_t acl[2] = {3, 0x80}, v80 = 0x80, host = 3, v81 = 0x81, v99 = 0x99;
        uint8_t r[2] = {7, 6};
        uint64_t sgl[4] = {POOL(0x4000), 0x2000, POOL(0x10000), 0x1000};
        uint32_t h;
        T t;

        t_start(&t, NULL);
        ASSERT_EQ(t_alloc(&t), 0x80);
        ASSERT_EQ(t_alloc(&t), 0x81);
        ASSERT_EQ(create(&t, SHARE, 0, 0, acl, r, 2, sgl, 2, NULL, 0, &h), 0);
        ASSERT_EQ(notify(&t, h + 1, 1, 0, &v80, 1, true), 0x7);
        for (uint8_t f = 0; f < 17; f++)
                if (f != 1 && f != 2 && f != 4 && f != 8)
                        ASSERT_EQ(notify(&t, h, f, 0, &v80, 1, true), 0x6);
        ASSERT_EQ(notify(&t, h, 1, 0, NULL, 0, true), 0x6);                        /* no VMIDs */
        ASSERT_EQ(notify(&t, h, 1, 0, (uint16_t[]){3, 0x80, 0x81}, 3, true), 0x6); /* > ACL */
        ASSERT_EQ(notify(&t, h, 1, 0, &v99, 1, true), 0xD);                        /* no such VM */
        ASSERT_EQ(notify(&t, h, 1, 0, &v81, 1, true), 0x6);                        /* not in ACL */
        /* SHARED to the host itself (it is in the ACL): MEM_SHARED with region sizes only */
        ASSERT_EQ(notify(&t, h, 1, 0xABCD, &host, 1, true), 0);
        {
                const uint8_t exp[] = {
                    (uint8_t)h, 0,    0, 0, 0,    2,    0, 0, /* handle, NORMAL, SHARE, flags, res
                                                               */
                    3,          0,    0, 0, 0x34, 0x12, 0, 0, /* owner 3, res, label 0x1234 */
                    0xCD,       0xAB, 0, 0,                   /* mem_info_tag */
                    2,          0,    0, 0, 3,    0,    7, 0, 0x80, 0,    6, 0, /* ACL */
                    2,          0,    0, 0,                                     /* 2 regions */
                    0,          0x20, 0, 0, 0,    0,    0, 0, 0,    0x10, 0, 0,
                    0,          0,    0, 0, 0,    0,    0, 0, /* no attrs */
                };
                t_expect_notif(&t, 0x51100011, exp, sizeof(exp));
        }
        ASSERT_EQ(notify(&t, h, 1, 0x1111, &v80, 1, true), 0x6); /* tag differs */
        /* SHARED to a VM in LOAD: its (absent) guest gets it, nothing comes back */
        ASSERT_EQ(notify(&t, h, 1, 0xABCD, &v80, 1, true), 0);
        t_no_notif(&t, 200);
        ASSERT_EQ(notify(&t, h, 8, 0xABCD, &v80, 1, true), 0); /* RECALL */
        t_no_notif(&t, 200);
        t_stop(&t);
}

TEST(notify_shared_to_ready_vm_is_accepted_by_rm)
{
        uint16_t v80 = 0x80;
        uint8_t rw = 6;
        uint32_t h;
        TVm vm;
        T t;

        t_start(&t, &(TOpts){.pace_ms = 600000});
        t_boot_vm(&t, &vm, 0x100000, 1); /* VM 0x80 RUNNING; make a READY one */
        ASSERT_EQ(t_alloc(&t), 0x81);
        (void)v80;
        {
                uint16_t v81 = 0x81;
                size_t dsz;
                uint8_t rwx = 7;
                uint32_t img;
                t_write_image(&t, 0x400000);
                dsz = t_write_dtb(&t, 0x400000 + (1u << 20), 1, 0x40000000, 0, DT_OK);
                ASSERT_EQ(t_parcel(&t, LEND, &v81, &rwx, 1, POOL(0x400000), 2u << 20, 0, 0, &img),
                          0);
                ASSERT_EQ(t_config_image(&t, 0x81, 0, img, 0, 1u << 20, 1u << 20, dsz), 0);
                t_expect_vm_status(&t, 0x81, 1, 0, 0);
                ASSERT_EQ(t_vmid_call(&t, 0x5600000B, 0x81), 0);
                t_expect_vm_status(&t, 0x81, 2, 0, 0);
                ASSERT_EQ(t_parcel(&t, LEND, &v81, &rw, 1, POOL(0x900000), 0x1000, 0, 0, &h), 0);
                ASSERT_EQ(notify(&t, h, 1, 7, &v81, 1, true), 0);
                /* MEM_ACCEPTED came before the reply */
                ASSERT_EQ(t.n_notifs, 1);
                const uint8_t acc[12] = {(uint8_t)h, 0, 0, 0, 0x81, 0, 0, 0, 7, 0, 0, 0};
                t_expect_notif(&t, 0x51100013, acc, sizeof(acc));
                ASSERT_EQ(handle_call(&t, 0x51000015, h, 0), 0xB); /* in use */
                /* accepted (SHARED): no longer found */
                ASSERT_EQ(
                    lookup(&t, 0, 0, 0x81, 6, (uint64_t[]){POOL(0x900000), 0x1000}, 1, true, NULL),
                    0xE);
        }
        t_stop(&t);
}

TEST(lookup_sgl_matching_and_codes)
{
        uint16_t v80 = 0x80;
        uint8_t rwx = 7;
        uint64_t sgl[4] = {POOL(0x4000), 0x2000, POOL(0x10000), 0x1000};
        uint64_t swapped[4] = {POOL(0x10000), 0x1000, POOL(0x4000), 0x2000};
        uint64_t shorter[4] = {POOL(0x4000), 0x1000, POOL(0x10000), 0x1000};
        uint64_t *big = calloc(2 * 600, sizeof(uint64_t));
        uint32_t h = 0xFFFFFFFF, got = 0, h2;
        size_t n;
        T t;

        ASSERT_TRUE(big);
        t_start(&t, NULL);
        ASSERT_EQ(t_alloc(&t), 0x80);
        ASSERT_EQ(lookup(&t, 0, 0, 0x80, 7, sgl, 2, true, NULL), 0xE); /* nothing lent yet */
        ASSERT_EQ(create(&t, LEND, 0, 0, &v80, &rwx, 1, sgl, 2, NULL, 0, &h), 0);
        ASSERT_EQ(lookup(&t, 0, 0, 0x80, 7, sgl, 2, true, &got), 0);
        ASSERT_EQ(got, h);
        got = 0xFFFFFFFF;
        ASSERT_EQ(lookup(&t, 0, 0x5555, 0x80, 7, sgl, 2, false, &got), 0); /* label, no attrs */
        ASSERT_EQ(got, h);
        ASSERT_EQ(lookup(&t, 1, 0, 0x80, 7, sgl, 2, true, NULL), 0xE);     /* mem_type */
        ASSERT_EQ(lookup(&t, 0, 0, 0x80, 6, sgl, 2, true, NULL), 0xE);     /* rights */
        ASSERT_EQ(lookup(&t, 0, 0, 0x81, 7, sgl, 2, true, NULL), 0xE);     /* vmid */
        ASSERT_EQ(lookup(&t, 0, 0, 0x80, 7, swapped, 2, true, NULL), 0xE); /* SGL order */
        ASSERT_EQ(lookup(&t, 0, 0, 0x80, 7, shorter, 2, true, NULL), 0xE); /* a size */
        ASSERT_EQ(lookup(&t, 0, 0, 0x80, 7, sgl, 1, true, NULL), 0xE);     /* a prefix */
        /* lengths: under 16 bytes, a trailing byte, a cut list are MSG_INVALID; 513 entries
         * NORESOURCE */
        {
                uint8_t raw[16] = {0};
                ASSERT_EQ(t_call(&t, LOOKUP, raw, 15, NULL, NULL), 0x4);
                ASSERT_EQ(t_call(&t, LOOKUP, raw, 16, NULL, NULL), 0xE); /* empty lists */
                W w = {.n = 0};
                w_u32(&w, 0);
                w_u32(&w, 0);
                w_u32(&w, 0);
                w_u32(&w, 0);
                w_u8(&w, 0);
                ASSERT_EQ(t_call_w(&t, LOOKUP, &w), 0x4);
                w.n = 0;
                w_u32(&w, 0);
                w_u32(&w, 0);
                w_u32(&w, 1); /* one ACL entry announced, none there */
                w_u32(&w, 0);
                ASSERT_EQ(t_call_w(&t, LOOKUP, &w), 0x4);
                w.n = 0;
                w_u32(&w, 0);
                w_u32(&w, 0);
                w_u32(&w, 0);
                w_u16(&w, 513);
                w_u16(&w, 0);
                ASSERT_EQ(t_call_w(&t, LOOKUP, &w), 0x2);
        }
        /* an open (APPEND) parcel is not SHARING: found only once finalized */
        for (size_t i = 0; i < 600; i++) {
                big[2 * i] = POOL(0x1000000 + i * 0x2000);
                big[2 * i + 1] = 0x1000;
        }
        ASSERT_EQ(create(&t, LEND, 0, 2, &v80, &rwx, 1, big, 300, NULL, 0, &h2), 0);
        ASSERT_STREQ(parcel_state(&t, h2, &n), "OPEN");
        ASSERT_EQ(lookup(&t, 0, 0, 0x80, 7, big, 300, true, NULL), 0xE);
        ASSERT_EQ(append(&t, h2, 1, 300, 100), 0);
        ASSERT_EQ(lookup(&t, 0, 0, 0x80, 7, big, 400, true, &got), 0);
        ASSERT_EQ(got, h2);
        /* reclaimed: gone */
        ASSERT_EQ(handle_call(&t, 0x51000015, h, 0), 0);
        ASSERT_EQ(lookup(&t, 0, 0, 0x80, 7, sgl, 2, true, NULL), 0xE);
        free(big);
        t_stop(&t);
}

TEST_MAIN()
