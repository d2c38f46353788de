/* SPDX-License-Identifier: MIT */
/*
 * gunyah-rm-sim VM calls (rm-protocol.md 8.1, 8.2, 8.4, 12; checklist 8, 10-13, 15-19, 21,
 * 22): state rules, error codes, notification order and exact payloads, VMID allocation and
 * exhaustion, hyp resources (a multi-packet reply), v17 calls.
 */
#include <string.h>

#include "test-sim-harness.h"
#include "test.h"

#define IMG_OFF 0x100000ull /* pool offset of the image parcel */
#define PSIZE (2ull << 20)
#define DTB_OFF (1ull << 20)

/* LEND an image parcel (Image + DTB written) to vmid; returns the handle. */
static uint32_t image_parcel(T *t, uint16_t vmid, uint64_t off, unsigned ncpus, size_t *dsz)
{
        uint8_t rwx = 7;
        uint32_t h;

        t_write_image(t, off);
        *dsz = t_write_dtb(t, off + DTB_OFF, ncpus, 0x40000000, 0, DT_OK);
        ASSERT_EQ(t_parcel(t, 0x51000012, &vmid, &rwx, 1, T_POOL_IPA + off, PSIZE, 0, 0, &h), 0);
        return h;
}

static void config_vm(T *t, uint16_t vmid, uint64_t off, unsigned ncpus)
{
        size_t dsz;
        uint32_t h = image_parcel(t, vmid, off, ncpus, &dsz);

        ASSERT_EQ(t_config_image(t, vmid, 0, h, 0, DTB_OFF, DTB_OFF, dsz), 0);
        ASSERT_EQ(t->n_notifs, 1); /* VM_STATUS came before the reply */
        t_expect_vm_status(t, vmid, 1, 0, 0);
}

TEST(allocate_rules_and_exhaustion)
{
        uint8_t out[16];
        size_t n;
        T t;

        t_start(&t, NULL);
        ASSERT_EQ(t_call(&t, 0x56000001, "\0\0\0\0", 4, out, &n), 0);
        ASSERT_EQ(n, 4);
        ASSERT_MEMEQ(out, "\x80\0\0\0", 4);
        /* explicit secondary VMID: empty success reply */
        ASSERT_EQ(t_call(&t, 0x56000001, "\x05\0\0\0", 4, out, &n), 0);
        ASSERT_EQ(n, 0);
        ASSERT_EQ(t_call(&t, 0x56000001, "\x05\0\0\0", 4, NULL, NULL), 0x2); /* taken */
        ASSERT_EQ(t_call(&t, 0x56000001, "\x28\0\0\0", 4, NULL, NULL), 0x2); /* out of range */
        ASSERT_EQ(t_call(&t, 0x56000001, "\x03\0\0\0", 4, NULL, NULL), 0x2); /* the host */
        for (unsigned v = 0x81; v <= 0xBE; v++)
                ASSERT_EQ(t_alloc(&t), v);
        ASSERT_EQ(t_call(&t, 0x56000001, "\0\0\0\0", 4, NULL, NULL), 0x2); /* 64th */
        /* freed VMIDs are reused lowest-first */
        ASSERT_EQ(t_vmid_call(&t, 0x56000002, 0x90), 0);
        ASSERT_EQ(t_vmid_call(&t, 0x56000002, 0x85), 0);
        ASSERT_EQ(t_alloc(&t), 0x85);
        ASSERT_EQ(t_alloc(&t), 0x90);
        t_no_notif(&t, 200); /* allocation and deallocation notify nobody */
        t_stop(&t);
}

TEST(deallocate_rules)
{
        T t;

        t_start(&t, NULL);
        ASSERT_EQ(t_vmid_call(&t, 0x56000002, 0x80), 0xD); /* unknown (open RM asserts) */
        ASSERT_EQ(t_alloc(&t), 0x80);
        config_vm(&t, 0x80, IMG_OFF, 1);
        ASSERT_EQ(t_vmid_call(&t, 0x56000002, 0x80), 0x14); /* INIT */
        ASSERT_EQ(t_vmid_call(&t, 0x56000006, 0x80), 0x14); /* INIT cannot be reset either */
        ASSERT_EQ(t_alloc(&t), 0x81);
        ASSERT_EQ(t_vmid_call(&t, 0x56000002, 0x81), 0); /* LOAD */
        ASSERT_EQ(t_vmid_call(&t, 0x56000002, 0x81), 0xD);
        t_stop(&t);
}

TEST(config_image_rules)
{
        uint8_t rwx = 7;
        uint16_t other;
        uint32_t h, h2;
        size_t dsz;
        T t;

        t_start(&t, NULL);
        ASSERT_EQ(t_config_image(&t, 0x80, 0, 0, 0, 0, 0, 0), 0xD);
        ASSERT_EQ(t_alloc(&t), 0x80);
        other = t_alloc(&t);
        h = image_parcel(&t, 0x80, IMG_OFF, 1, &dsz);
        /* a parcel that does not list the VM: MEM_INVALID and INIT_FAILED */
        ASSERT_EQ(
            t_parcel(&t, 0x51000012, &other, &rwx, 1, T_POOL_IPA + 0x800000, 0x1000, 0, 0, &h2), 0);
        ASSERT_EQ(t_config_image(&t, 0x80, 0, h2, 0, 0, 0, 0x1000), 0xA);
        t_expect_vm_status(&t, 0x80, 8, 0, 0);
        ASSERT_EQ(t_config_image(&t, 0x80, 0, h, 0, 0, 0, dsz), 0x14); /* INIT_FAILED */
        ASSERT_EQ(t_vmid_call(&t, 0x56000006, 0x80), 0);               /* reset it */
        t_expect_vm_status(&t, 0x80, 10, 0, 0);
        t_expect_vm_status(&t, 0x80, 11, 0, 0);
        /* unknown handle: 0xA */
        ASSERT_EQ(t_config_image(&t, 0x80, 0, 0x777, 0, 0, 0, 0x1000), 0xA);
        t_expect_vm_status(&t, 0x80, 8, 0, 0);
        ASSERT_EQ(t_vmid_call(&t, 0x56000006, 0x80), 0);
        t_expect_vm_status(&t, 0x80, 10, 0, 0);
        t_expect_vm_status(&t, 0x80, 11, 0, 0);
        /* offsets outside the parcel, and overflowing ones: 0x6 */
        ASSERT_EQ(t_config_image(&t, 0x80, 0, h, 0, PSIZE + 1, 0, 16), 0x6);
        t_expect_vm_status(&t, 0x80, 8, 0, 0);
        ASSERT_EQ(t_vmid_call(&t, 0x56000006, 0x80), 0);
        t_expect_vm_status(&t, 0x80, 10, 0, 0);
        t_expect_vm_status(&t, 0x80, 11, 0, 0);
        ASSERT_EQ(t_config_image(&t, 0x80, 0, h, 0, 0, ~0ull - 8, 16), 0x6);
        t_expect_vm_status(&t, 0x80, 8, 0, 0);
        ASSERT_EQ(t_vmid_call(&t, 0x56000006, 0x80), 0);
        t_expect_vm_status(&t, 0x80, 10, 0, 0);
        t_expect_vm_status(&t, 0x80, 11, 0, 0);
        /* unknown auth mechanism */
        ASSERT_EQ(t_config_image(&t, 0x80, 3, h, 0, 0, DTB_OFF, dsz), 0x6);
        t_expect_vm_status(&t, 0x80, 8, 0, 0);
        ASSERT_EQ(t_vmid_call(&t, 0x56000006, 0x80), 0);
        t_expect_vm_status(&t, 0x80, 10, 0, 0);
        t_expect_vm_status(&t, 0x80, 11, 0, 0);
        /* from RESET a good one works; auth PLATFORM goes to AUTH */
        ASSERT_EQ(t_config_image(&t, 0x80, 1, h, 0, DTB_OFF, DTB_OFF, dsz), 0);
        t_expect_vm_status(&t, 0x80, 6, 0, 0);
        ASSERT_EQ(t_config_image(&t, 0x80, 0, h, 0, DTB_OFF, DTB_OFF, dsz), 0x14);
        ASSERT_EQ(t_vmid_call(&t, 0x56000006, 0x80), 0x14); /* AUTH: stuck like INIT */
        ASSERT_EQ(t_vmid_call(&t, 0x56000002, 0x80), 0x14);
        ASSERT_EQ(t_vmid_call(&t, 0x5600000B, 0x80), 0x14);                /* VM_INIT needs INIT */
        ASSERT_EQ(t_call(&t, 0x5600000A, "\x80\0\0\0", 4, NULL, NULL), 0); /* AUTH_IMAGE */
        t_expect_vm_status(&t, 0x80, 1, 0, 0);
        t_no_notif(&t, 100);
        t_stop(&t);
}

TEST(init_start_stop_rules)
{
        static const uint8_t exited[12] = {0x80, 0, 7, 0, 4, 0, 0, 0, 0, 0, 0, 0};
        T t;

        t_start(&t, &(TOpts){.profile = "open-rm"});
        ASSERT_EQ(t_vmid_call(&t, 0x5600000B, 0x80), 0xD);
        ASSERT_EQ(t_vmid_call(&t, 0x56000004, 0x80), 0xD);
        ASSERT_EQ(t_call(&t, 0x56000005, "\x80\0\x01\0\0\0\0\0", 8, NULL, NULL), 0xD);
        ASSERT_EQ(t_alloc(&t), 0x80);
        ASSERT_EQ(t_vmid_call(&t, 0x5600000B, 0x80), 0x14); /* LOAD */
        ASSERT_EQ(t_vmid_call(&t, 0x56000004, 0x80), 0x14);
        ASSERT_EQ(t_call(&t, 0x56000005, "\x80\0\x01\0\0\0\0\0", 8, NULL, NULL), 0x14);
        config_vm(&t, 0x80, IMG_OFF, 2);
        ASSERT_EQ(t_vmid_call(&t, 0x56000004, 0x80), 0x14); /* INIT */
        ASSERT_EQ(t_vmid_call(&t, 0x5600000B, 0x80), 0);
        ASSERT_EQ(t.n_notifs, 1);
        t_expect_vm_status(&t, 0x80, 2, 0, 0);
        ASSERT_EQ(t_vmid_call(&t, 0x5600000B, 0x80), 0x14); /* READY */
        ASSERT_EQ(t_vmid_call(&t, 0x56000002, 0x80), 0x14);
        ASSERT_EQ(t_vmid_call(&t, 0x56000004, 0x80), 0);
        ASSERT_EQ(t.n_notifs, 1);
        t_expect_vm_status(&t, 0x80, 3, 0, 0);
        ASSERT_EQ(t_vmid_call(&t, 0x56000004, 0x80), 0x14); /* second start */
        ASSERT_EQ(t_vmid_call(&t, 0x56000006, 0x80), 0x14); /* RUNNING cannot be reset */
        /* force stop: VM_STATUS(EXITED), VM_EXITED{type 7, 4-byte reason 0}, then the reply */
        t_ctl(&t, "SetGuestPace", "{\"ms\":600000}", NULL); /* freeze the guest's boot walk */
        ASSERT_EQ(t_call(&t, 0x56000005, "\x80\0\x01\0\x03\0\0\0", 8, NULL, NULL), 0);
        ASSERT_TRUE(t.n_notifs >= 2);
        {
                TMsg m;
                /* the guest may have reported boot steps before: skip those */
                do
                        ASSERT_TRUE(t_next_notif(&t, &m, 1000));
                while (m.msg_id == 0x56100008 && m.p[4] == 3);
                ASSERT_U64_EQ(m.msg_id, 0x56100008);
                ASSERT_EQ(m.len, 8);
                ASSERT_EQ(m.p[4], 9);
        }
        t_expect_notif(&t, 0x56100001, exited, sizeof(exited));
        ASSERT_EQ(t_call(&t, 0x56000005, "\x80\0\x01\0\x03\0\0\0", 8, NULL, NULL), 0x14);
        ASSERT_EQ(t_vmid_call(&t, 0x56000004, 0x80), 0x14); /* EXITED */
        t_stop(&t);
}

TEST(reset_releases_parcels_then_reset)
{
        uint8_t rel[12];
        TVm vm;
        uint32_t extra;
        uint8_t rwx = 7;
        T t;

        t_start(&t, &(TOpts){.pace_ms = 600000});
        ASSERT_EQ(t_alloc(&t), 0x80); /* so that the booted VM is 0x81 */
        t_boot_vm(&t, &vm, IMG_OFF, 1);
        ASSERT_EQ(vm.vmid, 0x81);
        /* a second parcel exclusive to the VM becomes private memory at VM_START... so lend
         * it before: here lend after start and let the guest accept it via MEM_NOTIFY */
        ASSERT_EQ(t_parcel(&t, 0x51000012, &vm.vmid, &rwx, 1, T_POOL_IPA + 0x800000, 0x4000, 0, 0,
                           &extra),
                  0);
        {
                uint8_t n[20] = {(uint8_t)extra, 0, 0, 0, 1, 0, 0, 0, 0x44, 0, 0, 0, 1, 0, 0, 0,
                                 0x81,           0, 0, 0};
                ASSERT_EQ(t_call(&t, 0x51000017, n, sizeof(n), NULL, NULL), 0);
        }
        {
                uint8_t acc[12] = {(uint8_t)extra, 0, 0, 0, 0x81, 0, 0, 0, 0x44, 0, 0, 0};
                t_expect_notif(&t, 0x51100013, acc, sizeof(acc));
        }
        ASSERT_EQ(t_call(&t, 0x56000005, "\x81\0\x01\0\0\0\0\0", 8, NULL, NULL), 0);
        t_expect_vm_status(&t, 0x81, 9, 0, 0);
        {
                TMsg m;
                ASSERT_TRUE(t_next_notif(&t, &m, 1000));
                ASSERT_U64_EQ(m.msg_id, 0x56100001);
        }
        /* reclaim while accepted: MEM_INUSE */
        {
                uint8_t r[8] = {(uint8_t)vm.handle, 0, 0, 0, 0, 0, 0, 0};
                ASSERT_EQ(t_call(&t, 0x51000015, r, 8, NULL, NULL), 0xB);
        }
        ASSERT_EQ(t_vmid_call(&t, 0x56000006, 0x81), 0);
        ASSERT_EQ(t.n_notifs, 1);
        t_expect_vm_status(&t, 0x81, 10, 0, 0);
        /* then one MEM_RELEASED per accepted parcel (handle order is not specified) */
        for (int i = 0; i < 2; i++) {
                TMsg m;
                ASSERT_TRUE(t_next_notif(&t, &m, 5000));
                ASSERT_U64_EQ(m.msg_id, 0x51100012);
                ASSERT_EQ(m.len, 12);
                memcpy(rel, m.p, 12);
                ASSERT_TRUE(rel[0] == vm.handle || rel[0] == extra);
                ASSERT_MEMEQ(rel + 1, "\0\0\0\x81\0\0\0", 7);
                ASSERT_EQ(rel[8], rel[0] == extra ? 0x44 : 0);
        }
        t_expect_vm_status(&t, 0x81, 11, 0, 0);
        {
                uint8_t r[8] = {(uint8_t)vm.handle, 0, 0, 0, 0, 0, 0, 0};
                ASSERT_EQ(t_call(&t, 0x51000015, r, 8, NULL, NULL), 0);
        }
        ASSERT_EQ(t_vmid_call(&t, 0x56000002, 0x81), 0);
        t_stop(&t);
}

TEST(get_state_and_vmid)
{
        uint8_t out[16];
        size_t n;
        T t;

        t_start(&t, NULL);
        ASSERT_EQ(t_call(&t, 0x56000017, "\0\0\0\0", 4, out, &n), 0); /* self = the host */
        ASSERT_EQ(n, 4);
        ASSERT_MEMEQ(out, "\x03\x04\0\0", 4);
        ASSERT_EQ(t_vmid_call(&t, 0x56000017, 0x80), 0x2);
        ASSERT_EQ(t_alloc(&t), 0x80);
        ASSERT_EQ(t_call(&t, 0x56000017, "\x80\0\0\0", 4, out, &n), 0);
        ASSERT_EQ(n, 4);
        ASSERT_MEMEQ(out, "\x05\0\0\0", 4);
        ASSERT_EQ(t_call(&t, 0x56000024, NULL, 0, out, &n), 0);
        ASSERT_EQ(n, 4);
        ASSERT_MEMEQ(out, "\x03\0\0\0", 4);
        t_stop(&t);
}

static void check_hyp_resources(const char *profile, unsigned extra)
{
        uint8_t out[2048];
        size_t n;
        T t;

        t_start(&t, &(TOpts){.profile = profile});
        ASSERT_EQ(t_vmid_call(&t, 0x56000020, 0x80), 0x6); /* unknown VMID */
        ASSERT_EQ(t_alloc(&t), 0x80);
        ASSERT_EQ(t_vmid_call(&t, 0x56000020, 0x80), 0x2); /* before CONFIG_IMAGE */
        config_vm(&t, 0x80, IMG_OFF, 6);
        ASSERT_EQ(t_call(&t, 0x56000020, "\x80\0\0\0", 4, out, &n), 0);
        ASSERT_EQ(n, 4);
        ASSERT_MEMEQ(out, "\0\0\0\0", 4); /* no vCPUs before VM_INIT */
        ASSERT_EQ(t_vmid_call(&t, 0x5600000B, 0x80), 0);
        t_expect_vm_status(&t, 0x80, 2, 0, 0);
        /* 6 vCPUs (+ address space and 4 memory extents in v17): a multi-packet reply */
        ASSERT_EQ(t_call(&t, 0x56000020, "\x80\0\0\0", 4, out, &n), 0);
        ASSERT_EQ(n, 4 + 44 * (6 + extra));
        ASSERT_EQ(out[0], 6 + extra);
        ASSERT_MEMEQ(out + 1, "\0\0\0", 3);
        for (unsigned i = 0; i < 6; i++) {
                const uint8_t *e = out + 4 + 44 * i;
                ASSERT_EQ(e[0], 4); /* VIRTUAL_CPU */
                ASSERT_EQ(e[1], 0);
                ASSERT_EQ(e[2] | e[3] << 8, 0x80);
                ASSERT_EQ(e[8], i);                 /* label = CPU index */
                ASSERT_TRUE(e[12] | e[13] | e[14]); /* a capability id */
                ASSERT_MEMEQ(e + 28, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
        }
        for (unsigned i = 0; i < extra; i++) {
                const uint8_t *e = out + 4 + 44 * (6 + i);
                ASSERT_EQ(e[0], i == 0 ? 10 : 9); /* ADDR_SPACE, then MEM_EXTENT 0..3 */
                ASSERT_EQ(e[8], i == 0 ? 0 : i - 1);
        }
        t_stop(&t);
}

TEST(hyp_resources_v17)
{
        check_hyp_resources("v17", 5);
}

TEST(hyp_resources_open_rm)
{
        check_hyp_resources("open-rm", 0);
}

static uint32_t boot_ctx(T *t, uint16_t vmid, uint8_t set, uint8_t idx, uint64_t v)
{
        W w = {.n = 0};

        w_u16(&w, vmid);
        w_u8(&w, set);
        w_u8(&w, idx);
        w_u32(&w, 0);
        w_u64(&w, v);
        return t_call_w(t, 0x56000031, &w);
}

static uint32_t layout(T *t, uint16_t vmid, uint32_t id, uint64_t base, uint64_t size)
{
        W w = {.n = 0};

        w_u16(&w, vmid);
        w_u16(&w, 0);
        w_u32(&w, id);
        w_u64(&w, base);
        w_u64(&w, size);
        return t_call_w(t, 0x56000034, &w);
}

static uint32_t demand(T *t, uint16_t vmid, uint64_t base, uint64_t size)
{
        W w = {.n = 0};

        w_u16(&w, vmid);
        w_u16(&w, 0);
        w_u32(&w, 1);
        w_u64(&w, base);
        w_u64(&w, size);
        return t_call_w(t, 0x56000033, &w);
}

TEST(v17_calls_order_and_fields)
{
        T t;

        t_start(&t, NULL);
        ASSERT_EQ(boot_ctx(&t, 0x80, 1, 0, 0x40000000), 0xD);
        ASSERT_EQ(layout(&t, 0x80, 0, 0x40000000, PSIZE), 0xD);
        ASSERT_EQ(demand(&t, 0x80, 0x60000000, 0x100000), 0xD);
        ASSERT_EQ(t_alloc(&t), 0x80);
        ASSERT_EQ(demand(&t, 0x80, 0x60000000, 0x100000), 0x14); /* LOAD */
        ASSERT_EQ(layout(&t, 0x80, 0, 0x40000000, PSIZE), 0x14);
        config_vm(&t, 0x80, IMG_OFF, 1);
        ASSERT_EQ(boot_ctx(&t, 0x80, 1, 0, 0x40000000), 0x14);  /* INIT: too early */
        ASSERT_EQ(demand(&t, 0x80, 0x60000800, 0x100000), 0x6); /* unaligned */
        ASSERT_EQ(demand(&t, 0x80, 0x60000000, 0), 0x6);        /* empty */
        ASSERT_EQ(demand(&t, 0x80, 1ull << 44, 0x1000), 0x6);   /* beyond 2^44 */
        ASSERT_EQ(demand(&t, 0x80, 0x60000000, 0x100000), 0);
        ASSERT_EQ(layout(&t, 0x80, 2, 0x40000000, PSIZE), 0x6);  /* unknown range id */
        ASSERT_EQ(layout(&t, 0x80, 0, 0x40000800, PSIZE), 0x6);  /* unaligned */
        ASSERT_EQ(layout(&t, 0x80, 0, 0x40000000, 0x1000), 0x6); /* smaller than the parcel */
        ASSERT_EQ(layout(&t, 0x80, 0, 0x60000000, PSIZE), 0x6);  /* over demand-paged memory */
        ASSERT_EQ(layout(&t, 0x80, 0, 0x40000000, PSIZE), 0);
        ASSERT_EQ(demand(&t, 0x80, 0x70000000, 0x100000), 0x14); /* after ADDRESS_LAYOUT */
        ASSERT_EQ(t_vmid_call(&t, 0x5600000B, 0x80), 0);
        t_expect_vm_status(&t, 0x80, 2, 0, 0);
        ASSERT_EQ(demand(&t, 0x80, 0x70000000, 0x100000), 0x14); /* READY */
        ASSERT_EQ(layout(&t, 0x80, 0, 0x40000000, PSIZE), 0x14);
        ASSERT_EQ(boot_ctx(&t, 0x80, 0, 31, 0), 0x6);         /* X31 */
        ASSERT_EQ(boot_ctx(&t, 0x80, 2, 2, 0), 0x6);          /* SP_EL2 */
        ASSERT_EQ(boot_ctx(&t, 0x80, 1, 1, 0), 0x6);          /* PC index 1 */
        ASSERT_EQ(boot_ctx(&t, 0x80, 1, 0, 0x40000002), 0x6); /* unaligned PC */
        ASSERT_EQ(boot_ctx(&t, 0x80, 3, 0, 0), 0x6);          /* unknown register set */
        ASSERT_EQ(boot_ctx(&t, 0x80, 0, 30, 0), 0);
        ASSERT_EQ(boot_ctx(&t, 0x80, 2, 1, 0x40100000), 0);
        /* PC set to memory without an Image header: VM_START fails with 0x2, INIT_FAILED */
        ASSERT_EQ(boot_ctx(&t, 0x80, 1, 0, 0x40001000), 0);
        ASSERT_EQ(boot_ctx(&t, 0x80, 0, 0, 0x40000000 + DTB_OFF), 0);
        ASSERT_EQ(t_vmid_call(&t, 0x56000004, 0x80), 0x2);
        t_expect_vm_status(&t, 0x80, 8, 0, 0);
        t_stop(&t);
}

TEST_MAIN()
