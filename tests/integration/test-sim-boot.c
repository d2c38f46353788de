/* SPDX-License-Identifier: MIT */
/*
 * gunyah-rm-sim full life cycles at the byte level with a real DTB and an arm64 Image header
 * written into the pool (checklist 11-16, 19, 35, 14 and the deep checks of issue 3): both
 * profiles, the guest's boot walk, graceful stop, reset and teardown; every DT rule that
 * makes VM_INIT fail; every boot check that makes VM_START fail.
 */
#include <json-c/json.h>
#include <string.h>

#include "test-sim-harness.h"
#include "test.h"

#define IMG_OFF 0x200000ull
#define PSIZE (2ull << 20)
#define DTB_OFF (1ull << 20)
#define BASE 0x40000000ull

static void expect_exited(T *t, uint16_t vmid, uint16_t type, uint32_t word0)
{
        uint8_t e[12] = {(uint8_t)vmid,
                         (uint8_t)(vmid >> 8),
                         (uint8_t)type,
                         (uint8_t)(type >> 8),
                         4,
                         0,
                         0,
                         0,
                         (uint8_t)word0,
                         (uint8_t)(word0 >> 8),
                         (uint8_t)(word0 >> 16),
                         (uint8_t)(word0 >> 24)};
        t_expect_notif(t, 0x56100001, e, sizeof(e));
}

static void life_cycle(const char *profile)
{
        uint8_t rel[12];
        json_object *vm;
        TVm v;
        T t;

        t_start(&t, &(TOpts){.profile = profile});
        t_boot_vm(&t, &v, IMG_OFF, 2);
        /* the guest boots: EARLY_BOOT, BOOT, RUN */
        t_expect_vm_status(&t, v.vmid, 3, 1, 0);
        t_expect_vm_status(&t, v.vmid, 3, 2, 0);
        t_expect_vm_status(&t, v.vmid, 3, 4, 0);
        {
                uint8_t out[8];
                size_t n;
                uint8_t q[4] = {(uint8_t)v.vmid, 0, 0, 0};
                ASSERT_EQ(t_call(&t, 0x56000017, q, 4, out, &n), 0);
                ASSERT_EQ(n, 4);
                ASSERT_MEMEQ(out, "\x03\x04\0\0", 4);
        }
        vm = sim_client_get_vm(t.sim, v.vmid);
        ASSERT_TRUE(vm);
        {
                json_object *f;
                ASSERT_TRUE(json_object_object_get_ex(vm, "bootPc", &f));
                ASSERT_U64_EQ(json_object_get_int64(f), BASE);
                ASSERT_TRUE(json_object_object_get_ex(vm, "bootX0", &f));
                ASSERT_U64_EQ(json_object_get_int64(f), BASE + DTB_OFF);
                ASSERT_TRUE(json_object_object_get_ex(vm, "imageName", &f));
                ASSERT_STREQ(json_object_get_string(f), "test-vm");
        }
        json_object_put(vm);
        /* graceful stop: OK now, the guest exits by itself (VM_EXIT, code 0) */
        {
                uint8_t stop[8] = {(uint8_t)v.vmid, 0, 0, 0, 0, 0, 0, 0};
                ASSERT_EQ(t_call(&t, 0x56000005, stop, 8, NULL, NULL), 0);
        }
        t_expect_vm_status(&t, v.vmid, 9, 4, 0);
        expect_exited(&t, v.vmid, 0, 0);
        /* reset: RESETTING, reply, MEM_RELEASED of the image parcel, RESET (os status cleared) */
        ASSERT_EQ(t_vmid_call(&t, 0x56000006, v.vmid), 0);
        t_expect_vm_status(&t, v.vmid, 10, 4, 0);
        {
                TMsg m;
                ASSERT_TRUE(t_next_notif(&t, &m, 5000));
                ASSERT_U64_EQ(m.msg_id, 0x51100012);
                ASSERT_EQ(m.len, 12);
                memcpy(rel, m.p, 12);
                ASSERT_MEMEQ(
                    rel,
                    ((uint8_t[]){(uint8_t)v.handle, 0, 0, 0, (uint8_t)v.vmid, 0, 0, 0, 0, 0, 0, 0}),
                    12);
        }
        t_expect_vm_status(&t, v.vmid, 11, 0, 0);
        {
                uint8_t r[8] = {(uint8_t)v.handle, 0, 0, 0, 0, 0, 0, 0};
                ASSERT_EQ(t_call(&t, 0x51000015, r, 8, NULL, NULL), 0);
        }
        ASSERT_EQ(t_vmid_call(&t, 0x56000002, v.vmid), 0);
        t_no_notif(&t, 100);
        /* and the same VMID boots again */
        t_boot_vm(&t, &v, IMG_OFF, 1);
        ASSERT_EQ(v.vmid, 0x80);
        t_stop(&t);
}

TEST(life_cycle_v17)
{
        life_cycle("v17");
}

TEST(life_cycle_open_rm)
{
        life_cycle("open-rm");
}

/* Configure a VM whose DTB is the given variant; returns VM_INIT's error. */
static uint32_t init_with(T *t, int variant, unsigned ncpus, uint16_t *ret_vmid)
{
        uint16_t vmid = t_alloc(t);
        uint8_t rwx = 7;
        uint32_t h, e;
        size_t dsz;
        uint64_t off = IMG_OFF + (uint64_t)(vmid - 0x80) * PSIZE;

        t_write_image(t, off);
        dsz = t_write_dtb(t, off + DTB_OFF, ncpus, BASE, 0, variant);
        ASSERT_EQ(t_parcel(t, 0x51000012, &vmid, &rwx, 1, T_POOL_IPA + off, PSIZE, 0, 0, &h), 0);
        ASSERT_EQ(t_config_image(t, vmid, 0, h, 0, DTB_OFF, DTB_OFF, dsz), 0);
        t_expect_vm_status(t, vmid, 1, 0, 0);
        e = t_vmid_call(t, 0x5600000B, vmid);
        t_expect_vm_status(t, vmid, e ? 8 : 2, 0, 0);
        if (ret_vmid)
                *ret_vmid = vmid;
        return e;
}

TEST(dt_rules_fail_vm_init)
{
        static const int bad[] = {DT_NO_IMAGE_NAME,    DT_STRAY_MEMORY,  DT_NO_AFFINITY_MAP,
                                  DT_NO_BOOT_CPU,      DT_BAD_GUID,      DT_BAD_AFFINITY_LEN,
                                  DT_NO_ENABLE_METHOD, DT_BAD_IRQ_CELLS, DT_NO_CONFIG_NODE,
                                  DT_BAD_BASE_ALIGN};
        uint16_t vmid;
        T t;

        t_start(&t, NULL);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ASSERT_EQ(init_with(&t, bad[i], 2, &vmid), 0xA);
                /* INIT_FAILED can be reset */
                ASSERT_EQ(t_vmid_call(&t, 0x56000006, vmid), 0);
                t_expect_vm_status(&t, vmid, 10, 0, 0);
                t_expect_vm_status(&t, vmid, 11, 0, 0);
        }
        ASSERT_EQ(init_with(&t, DT_PROXY_NO_MAP, 2, NULL), 0);
        ASSERT_EQ(init_with(&t, DT_OK, 1, NULL), 0);
        /* crash-fatal implies no-reset: VM_RESET of the READY VM is DENIED */
        ASSERT_EQ(init_with(&t, DT_CRASH_FATAL, 1, &vmid), 0);
        ASSERT_EQ(t_vmid_call(&t, 0x56000006, vmid), 0x3);
        t_stop(&t);
}

TEST(dtb_header_and_size_checks)
{
        uint16_t vmid;
        uint8_t rwx = 7;
        uint32_t h;
        size_t dsz;
        T t;

        t_start(&t, NULL);
        vmid = t_alloc(&t);
        t_write_image(&t, IMG_OFF);
        dsz = t_write_dtb(&t, IMG_OFF + DTB_OFF, 1, BASE, 0, DT_OK);
        ASSERT_EQ(t_parcel(&t, 0x51000012, &vmid, &rwx, 1, T_POOL_IPA + IMG_OFF, PSIZE, 0, 0, &h),
                  0);
        /* dtb_size smaller than the FDT's totalsize */
        ASSERT_EQ(t_config_image(&t, vmid, 0, h, 0, DTB_OFF, DTB_OFF, dsz - 4), 0);
        t_expect_vm_status(&t, vmid, 1, 0, 0);
        ASSERT_EQ(t_vmid_call(&t, 0x5600000B, vmid), 0xA);
        t_expect_vm_status(&t, vmid, 8, 0, 0);
        ASSERT_EQ(t_vmid_call(&t, 0x56000006, vmid), 0);
        t_expect_vm_status(&t, vmid, 10, 0, 0);
        t_expect_vm_status(&t, vmid, 11, 0, 0);
        /* not an FDT at dtb_offset (the kernel is there) */
        ASSERT_EQ(t_config_image(&t, vmid, 0, h, 0, DTB_OFF, 0, dsz), 0);
        t_expect_vm_status(&t, vmid, 1, 0, 0);
        ASSERT_EQ(t_vmid_call(&t, 0x5600000B, vmid), 0xA);
        t_expect_vm_status(&t, vmid, 8, 0, 0);
        t_stop(&t);
}

/* Boot up to READY with the image parcel lent with these rights/trans type, then start. */
static uint32_t start_with(T *t, uint32_t trans, uint8_t rights, bool image_magic, bool reclaim)
{
        uint16_t vmid = t_alloc(t), acl[2] = {vmid, 3};
        uint8_t r[2] = {rights, 7};
        uint32_t h, e;
        size_t dsz;
        uint64_t off = IMG_OFF + (uint64_t)(vmid - 0x80) * PSIZE;

        if (image_magic)
                t_write_image(t, off);
        else
                memset(sim_client_pool(t->sim) + off, 0, 64);
        dsz = t_write_dtb(t, off + DTB_OFF, 1, BASE, 0, DT_OK);
        ASSERT_EQ(t_parcel(t, trans, acl, r, trans == 0x51000013 ? 2 : 1, T_POOL_IPA + off, PSIZE,
                           0, 0, &h),
                  0);
        ASSERT_EQ(t_config_image(t, vmid, 0, h, 0, DTB_OFF, DTB_OFF, dsz), 0);
        t_expect_vm_status(t, vmid, 1, 0, 0);
        ASSERT_EQ(t_vmid_call(t, 0x5600000B, vmid), 0);
        t_expect_vm_status(t, vmid, 2, 0, 0);
        if (reclaim) {
                uint8_t q[8] = {(uint8_t)h, 0, 0, 0, 0, 0, 0, 0};
                ASSERT_EQ(t_call(t, 0x51000015, q, 8, NULL, NULL), 0);
        }
        e = t_vmid_call(t, 0x56000004, vmid);
        t_expect_vm_status(t, vmid, e ? 8 : 3, 0, 0);
        return e;
}

TEST(boot_checks_fail_vm_start)
{
        T t;

        t_start(&t, &(TOpts){.profile = "open-rm", .pace_ms = 600000});
        ASSERT_EQ(start_with(&t, 0x51000012, 7, false, false), 0x2); /* no Image header */
        ASSERT_EQ(start_with(&t, 0x51000012, 6, true, false), 0x2);  /* not RWX */
        ASSERT_EQ(start_with(&t, 0x51000013, 7, true, false), 0x2);  /* SHARE, 2 entries */
        ASSERT_EQ(start_with(&t, 0x51000012, 7, true, true), 0x2);   /* parcel reclaimed */
        ASSERT_EQ(start_with(&t, 0x51000012, 7, true, false), 0);
        t_stop(&t);
        /* with --strict-image-acl off, RW and SHARE image parcels boot */
        t_start(&t, &(TOpts){.profile = "open-rm", .pace_ms = 600000, .acl_off = true});
        ASSERT_EQ(start_with(&t, 0x51000012, 6, true, false), 0);
        ASSERT_EQ(start_with(&t, 0x51000013, 7, true, false), 0);
        ASSERT_EQ(start_with(&t, 0x51000012, 7, false, false), 0x2); /* Image still checked */
        t_stop(&t);
}

TEST(open_rm_entry_offset_and_v17_fallback)
{
        uint16_t vmid;
        uint8_t rwx = 7;
        uint32_t h;
        size_t dsz;
        T t;

        /* open-rm: PC = base + kernel-entry-offset (0x1000 here), X0 = base + dtb_offset */
        t_start(&t, &(TOpts){.profile = "open-rm", .pace_ms = 600000});
        vmid = t_alloc(&t);
        memset(sim_client_pool(t.sim) + IMG_OFF, 0, 0x2000);
        t_write_image(&t, IMG_OFF + 0x1000);
        dsz = t_write_dtb(&t, IMG_OFF + DTB_OFF, 1, BASE, 0x1000, DT_OK);
        ASSERT_EQ(t_parcel(&t, 0x51000012, &vmid, &rwx, 1, T_POOL_IPA + IMG_OFF, PSIZE, 0, 0, &h),
                  0);
        ASSERT_EQ(t_config_image(&t, vmid, 0, h, 0, DTB_OFF, DTB_OFF, dsz), 0);
        t_expect_vm_status(&t, vmid, 1, 0, 0);
        ASSERT_EQ(t_vmid_call(&t, 0x5600000B, vmid), 0);
        t_expect_vm_status(&t, vmid, 2, 0, 0);
        ASSERT_EQ(t_vmid_call(&t, 0x56000004, vmid), 0);
        t_expect_vm_status(&t, vmid, 3, 0, 0);
        t_stop(&t);
        /* v17 without VM_SET_BOOT_CONTEXT boots the open RM's way too */
        t_start(&t, &(TOpts){.pace_ms = 600000});
        vmid = t_alloc(&t);
        t_write_image(&t, IMG_OFF);
        dsz = t_write_dtb(&t, IMG_OFF + DTB_OFF, 1, BASE, 0, DT_OK);
        ASSERT_EQ(t_parcel(&t, 0x51000012, &vmid, &rwx, 1, T_POOL_IPA + IMG_OFF, PSIZE, 0, 0, &h),
                  0);
        ASSERT_EQ(t_config_image(&t, vmid, 0, h, 0, DTB_OFF, DTB_OFF, dsz), 0);
        t_expect_vm_status(&t, vmid, 1, 0, 0);
        ASSERT_EQ(t_vmid_call(&t, 0x5600000B, vmid), 0);
        t_expect_vm_status(&t, vmid, 2, 0, 0);
        /* but a boot context PC with X0 unset fails */
        {
                W w = {.n = 0};
                w_u16(&w, vmid);
                w_u8(&w, 1);
                w_u8(&w, 0);
                w_u32(&w, 0);
                w_u64(&w, BASE);
                ASSERT_EQ(t_call_w(&t, 0x56000031, &w), 0);
        }
        ASSERT_EQ(t_vmid_call(&t, 0x56000004, vmid), 0x2);
        t_expect_vm_status(&t, vmid, 8, 0, 0);
        t_stop(&t);
}

TEST_MAIN()
