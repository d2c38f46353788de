/* SPDX-License-Identifier: MIT */
/*
 * VM call payloads (rm-protocol.md section 8). Golden bytes are laid out by hand from the
 * offset tables of the doc; each is checked both ways (encode == bytes, decode == fields),
 * and every length rule is checked one short and one long.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "rm-types.h"
#include "rm-vm.h"
#include "test.h"

#define ASSERT_ENCODES(call, want)                                                             \
        do {                                                                                   \
                uint8_t out_[512];                                                             \
                memset(out_, 0xee, sizeof(out_));                                              \
                ASSERT_EQ(call, sizeof(want));                                                 \
                ASSERT_MEMEQ(out_, want, sizeof(want));                                        \
        } while (0)
#define OUT out_, sizeof(out_)

/* Bytes of a fixed-size message, one too short and one too long, all fail. */
#define ASSERT_LEN_EXACT(decode_call_with_len, n)                                              \
        do {                                                                                   \
                size_t len_;                                                                   \
                len_ = (n)-1;                                                                  \
                ASSERT_EQ(decode_call_with_len, -EBADMSG);                                     \
                len_ = (n) + 1;                                                                \
                ASSERT_EQ(decode_call_with_len, -EBADMSG);                                     \
                len_ = 0;                                                                      \
                ASSERT_EQ(decode_call_with_len, -EBADMSG);                                     \
        } while (0)

static uint8_t big[1024];

TEST(vmid_req)
{
        const uint8_t want[] = { 0x80, 0x00, 0x00, 0x00 };
        const uint8_t res1[] = { 0x80, 0x00, 0x01, 0x00 };
        RmVmidReq q;
        ASSERT_ENCODES(rm_encode_vmid_req(OUT, 0x80), want);
        ASSERT_EQ(rm_decode_vmid_req(want, 4, true, &q), 0);
        ASSERT_EQ(q.vmid, 0x80);
        /* VM_INIT checks the reserved half-word; the others do not. */
        ASSERT_EQ(rm_decode_vmid_req(res1, 4, true, &q), -EPROTO);
        ASSERT_EQ(rm_decode_vmid_req(res1, 4, false, &q), 0);
        ASSERT_EQ(q.res, 1);
        memcpy(big, want, 4);
        ASSERT_LEN_EXACT(rm_decode_vmid_req(big, len_, false, &q), 4);
        uint8_t small[3];
        ASSERT_EQ(rm_encode_vmid_req(small, 3, 1), -ENOBUFS);
}

TEST(vm_allocate_reply)
{
        const uint8_t want[] = { 0x81, 0x00, 0x00, 0x00 };
        const uint8_t too_big[] = { 0x00, 0x00, 0x01, 0x00 };
        uint16_t v;
        ASSERT_ENCODES(rm_encode_vm_allocate_reply(OUT, 0x81), want);
        ASSERT_EQ(rm_decode_vm_allocate_reply(want, 4, &v), 0);
        ASSERT_EQ(v, 0x81);
        ASSERT_EQ(rm_decode_vm_allocate_reply(too_big, 4, &v), -EBADMSG);
        ASSERT_LEN_EXACT(rm_decode_vm_allocate_reply(big, len_, &v), 4);
}

TEST(vm_stop)
{
        /* Linux v17: FORCE, reason 3 (FORCE_STOP). */
        const uint8_t want[] = { 0x80, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00 };
        RmVmStop m;
        ASSERT_ENCODES(rm_encode_vm_stop(OUT, &(RmVmStop){ .vmid = 0x80,
                                                           .flags = RM_VM_STOP_FLAG_FORCE,
                                                           .stop_reason =
                                                                   RM_STOP_REASON_FORCE_STOP }),
                       want);
        ASSERT_EQ(rm_decode_vm_stop(want, 8, &m), 0);
        ASSERT_EQ(m.vmid, 0x80);
        ASSERT_EQ(m.flags, 1);
        ASSERT_EQ(m.res, 0);
        ASSERT_EQ(m.stop_reason, 3);
        ASSERT_LEN_EXACT(rm_decode_vm_stop(big, len_, &m), 8);
}

TEST(vm_config_image)
{
        const uint8_t want[40] = {
                0x81, 0x00, 0x02, 0x00,                         /* vmid, auth ANDROID */
                0x44, 0x33, 0x22, 0x11,                         /* handle */
                0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* image_offset 0x1000 */
                0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* image_size 0x200000 */
                0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, /* dtb_offset 0x300000 */
                0x45, 0x23, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* dtb_size */
        };
        const RmVmConfigImage m = { .vmid = 0x81, .auth = RM_AUTH_ANDROID, .handle = 0x11223344,
                                    .image_offset = 0x1000, .image_size = 0x200000,
                                    .dtb_offset = 0x300000, .dtb_size = 0x0100000000002345ull };
        RmVmConfigImage d;
        ASSERT_ENCODES(rm_encode_vm_config_image(OUT, &m), want);
        ASSERT_EQ(rm_decode_vm_config_image(want, 40, &d), 0);
        ASSERT_TRUE(memcmp(&d, &m, sizeof(m)) == 0);
        ASSERT_LEN_EXACT(rm_decode_vm_config_image(big, len_, &d), 40);
        ASSERT_EQ(rm_encode_vm_config_image(big, 39, &m), -ENOBUFS);
}

TEST(vm_get_state_reply)
{
        const uint8_t want[] = { 0x03, 0x04, 0x01, 0x00 };
        RmVmState s;
        ASSERT_ENCODES(rm_encode_vm_get_state_reply(OUT, &(RmVmState){ .vm_status = 3,
                                                                       .os_status = 4,
                                                                       .app_status = 1 }),
                       want);
        ASSERT_EQ(rm_decode_vm_get_state_reply(want, 4, &s), 0);
        ASSERT_EQ(s.vm_status, RM_VM_STATUS_RUNNING);
        ASSERT_EQ(s.os_status, RM_OS_STATUS_RUN);
        ASSERT_EQ(s.app_status, 1);
        ASSERT_LEN_EXACT(rm_decode_vm_get_state_reply(big, len_, &s), 4);
}

TEST(vm_get_vmid)
{
        const uint8_t want[] = { 0x03, 0x00, 0x00, 0x00 };
        uint32_t v;
        ASSERT_EQ(rm_decode_vm_get_vmid(NULL, 0), 0);
        ASSERT_EQ(rm_decode_vm_get_vmid(big, 1), -EBADMSG);
        ASSERT_EQ(rm_decode_vm_get_vmid(big, 4), -EBADMSG);
        ASSERT_ENCODES(rm_encode_vm_get_vmid_reply(OUT, 3), want);
        ASSERT_EQ(rm_decode_vm_get_vmid_reply(want, 4, &v), 0);
        ASSERT_EQ(v, 3);
        ASSERT_LEN_EXACT(rm_decode_vm_get_vmid_reply(big, len_, &v), 4);
}

/* One vCPU entry laid out by the offsets of the section 8.2 table. */
static const uint8_t hyp_entry[44] = {
        0x04,                                           /*  0 type VIRTUAL_CPU */
        0x00,                                           /*  1 res */
        0x80, 0x00,                                     /*  2 partner vmid */
        0x00, 0x00, 0x00, 0x00,                         /*  4 handle */
        0x01, 0x00, 0x00, 0x00,                         /*  8 label: CPU 1 */
        0x07, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, /* 12 cap id, low word first */
        0x00, 0x00, 0x00, 0x00,                         /* 20 virq handle */
        0x20, 0x00, 0x00, 0x00,                         /* 24 virq */
        0x00, 0x50, 0x34, 0x12, 0x00, 0x00, 0x00, 0x00, /* 28 base */
        0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 36 size */
};
static const RmHypResource hyp_fields = {
        .type = RM_RES_VIRTUAL_CPU, .partner_vmid = 0x80, .label = 1,
        .cap_id = 0x0000000500000007ull, .virq = 0x20, .base = 0x12345000, .size = 0x1000,
};

TEST(vm_get_hyp_resources_reply)
{
        uint8_t want[4 + 2 * 44] = { 0x02, 0x00, 0x00, 0x00 };
        RmHypResource e[2] = { hyp_fields, hyp_fields }, d[2];
        size_t n = 99;

        e[1].type = RM_RES_WATCHDOG;
        memcpy(want + 4, hyp_entry, 44);
        memcpy(want + 48, hyp_entry, 44);
        want[48] = 0x08;
        ASSERT_ENCODES(rm_encode_vm_get_hyp_resources_reply(OUT, e, 2), want);
        ASSERT_EQ(rm_decode_vm_get_hyp_resources_reply(want, sizeof(want), d, 2, &n), 0);
        ASSERT_EQ(n, 2);
        ASSERT_EQ(d[0].type, 4);
        ASSERT_EQ(d[0].partner_vmid, 0x80);
        ASSERT_EQ(d[0].label, 1);
        ASSERT_U64_EQ(d[0].cap_id, 0x0000000500000007ull);
        ASSERT_EQ(d[0].virq, 0x20);
        ASSERT_U64_EQ(d[0].base, 0x12345000);
        ASSERT_U64_EQ(d[0].size, 0x1000);
        ASSERT_EQ(d[1].type, 8);
        /* Exactly 4 + 44 n. */
        ASSERT_EQ(rm_decode_vm_get_hyp_resources_reply(want, sizeof(want) - 1, d, 2, &n),
                  -EBADMSG);
        memcpy(big, want, sizeof(want));
        ASSERT_EQ(rm_decode_vm_get_hyp_resources_reply(big, sizeof(want) + 1, d, 2, &n), -EBADMSG);
        ASSERT_EQ(rm_decode_vm_get_hyp_resources_reply(want, 48, d, 2, &n), -EBADMSG);
        ASSERT_EQ(rm_decode_vm_get_hyp_resources_reply(want, 3, d, 2, &n), -EBADMSG);
        big[0] = 3; /* count mismatch */
        ASSERT_EQ(rm_decode_vm_get_hyp_resources_reply(big, sizeof(want), d, 2, &n), -EBADMSG);
        ASSERT_EQ(rm_decode_vm_get_hyp_resources_reply(want, sizeof(want), d, 1, &n), -E2BIG);
        const uint8_t empty[] = { 0, 0, 0, 0 };
        ASSERT_EQ(rm_decode_vm_get_hyp_resources_reply(empty, 4, NULL, 0, &n), 0);
        ASSERT_EQ(n, 0);
}

TEST(vm_get_crash_msg_reply)
{
        const uint8_t oops[] = { 0x04, 0x00, 0x00, 0x00, 'o', 'o', 'p', 's' };
        const uint8_t hello[] = { 0x05, 0x00, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o', 0, 0, 0 };
        const uint8_t none[] = { 0x00, 0x00, 0x00, 0x00 };
        char s[RM_MAX_CRASH_MSG + 1];
        size_t n;
        ASSERT_ENCODES(rm_encode_vm_get_crash_msg_reply(OUT, "oops", 4), oops);
        ASSERT_ENCODES(rm_encode_vm_get_crash_msg_reply(OUT, "hello", 5), hello);
        ASSERT_ENCODES(rm_encode_vm_get_crash_msg_reply(OUT, NULL, 0), none);
        ASSERT_EQ(rm_decode_vm_get_crash_msg_reply(hello, 12, s, &n), 0);
        ASSERT_EQ(n, 5);
        ASSERT_STREQ(s, "hello");
        ASSERT_EQ(rm_decode_vm_get_crash_msg_reply(none, 4, s, &n), 0);
        ASSERT_EQ(n, 0);
        ASSERT_STREQ(s, "");
        memcpy(big, hello, sizeof(hello));
        ASSERT_LEN_EXACT(rm_decode_vm_get_crash_msg_reply(big, len_, s, &n), 12);
        ASSERT_EQ(rm_decode_vm_get_crash_msg_reply(big, 9, s, &n), -EBADMSG); /* no padding */
        /* 193 bytes is more than the RM ever stores. */
        memset(big, 'x', sizeof(big));
        big[0] = 193;
        big[1] = 0;
        ASSERT_EQ(rm_decode_vm_get_crash_msg_reply(big, 4 + 196, s, &n), -E2BIG);
        big[0] = 192;
        ASSERT_EQ(rm_decode_vm_get_crash_msg_reply(big, 4 + 192, s, &n), 0);
        ASSERT_EQ(n, 192);
        ASSERT_EQ(strlen(s), 192);
        ASSERT_EQ(rm_encode_vm_get_crash_msg_reply(big, sizeof(big), s, 193), -E2BIG);
        ASSERT_EQ(rm_encode_vm_get_crash_msg_reply(big, 11, "hello", 5), -ENOBUFS);
}

TEST(vm_set_boot_context)
{
        /* PC = 0x80000000 */
        const uint8_t want[16] = { 0x80, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00 };
        const uint8_t x5[16] = { 0x81, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00,
                                 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 };
        RmVmBootContext m;
        ASSERT_ENCODES(rm_encode_vm_set_boot_context(OUT, &(RmVmBootContext){
                                                                  .vmid = 0x80,
                                                                  .reg_set = RM_REG_SET_PC,
                                                                  .value = 0x80000000 }),
                       want);
        ASSERT_EQ(rm_decode_vm_set_boot_context(x5, 16, &m), 0);
        ASSERT_EQ(m.vmid, 0x81);
        ASSERT_EQ(m.reg_set, RM_REG_SET_X);
        ASSERT_EQ(m.reg_index, 5);
        ASSERT_U64_EQ(m.value, 0x1122334455667788ull);
        ASSERT_LEN_EXACT(rm_decode_vm_set_boot_context(big, len_, &m), 16);
}

TEST(vm_set_demand_paging)
{
        const uint8_t want[40] = {
                0x80, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
                0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, /* base 0x40000000 */
                0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, /* size 0x10000000 */
                0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* base 1 << 32 */
                0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* size 0x200000 */
        };
        const RmRange r[2] = { { 0x40000000, 0x10000000 }, { 1ull << 32, 0x200000 } };
        RmRange d[2];
        uint16_t vmid;
        size_t n;
        ASSERT_ENCODES(rm_encode_vm_set_demand_paging(OUT, 0x80, r, 2), want);
        ASSERT_EQ(rm_decode_vm_set_demand_paging(want, 40, &vmid, d, 2, &n), 0);
        ASSERT_EQ(vmid, 0x80);
        ASSERT_EQ(n, 2);
        ASSERT_U64_EQ(d[1].base, 1ull << 32);
        ASSERT_U64_EQ(d[0].size, 0x10000000);
        memcpy(big, want, 40);
        ASSERT_EQ(rm_decode_vm_set_demand_paging(big, 39, &vmid, d, 2, &n), -EBADMSG);
        ASSERT_EQ(rm_decode_vm_set_demand_paging(big, 41, &vmid, d, 2, &n), -EBADMSG);
        ASSERT_EQ(rm_decode_vm_set_demand_paging(big, 24, &vmid, d, 2, &n), -EBADMSG);
        ASSERT_EQ(rm_decode_vm_set_demand_paging(big, 7, &vmid, d, 2, &n), -EBADMSG);
        big[4] = 3;
        ASSERT_EQ(rm_decode_vm_set_demand_paging(big, 40, &vmid, d, 2, &n), -EBADMSG);
        ASSERT_EQ(rm_decode_vm_set_demand_paging(want, 40, &vmid, d, 1, &n), -E2BIG);
}

TEST(vm_set_address_layout)
{
        const uint8_t want[24] = {
                0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,
        };
        RmVmAddressLayout m;
        ASSERT_ENCODES(rm_encode_vm_set_address_layout(OUT, &(RmVmAddressLayout){
                                                                    .vmid = 0x80,
                                                                    .range_id = RM_RANGE_IMAGE,
                                                                    .base = 0x80000000,
                                                                    .size = 0x200000 }),
                       want);
        ASSERT_EQ(rm_decode_vm_set_address_layout(want, 24, &m), 0);
        ASSERT_EQ(m.vmid, 0x80);
        ASSERT_EQ(m.range_id, 0);
        ASSERT_U64_EQ(m.base, 0x80000000);
        ASSERT_U64_EQ(m.size, 0x200000);
        ASSERT_LEN_EXACT(rm_decode_vm_set_address_layout(big, len_, &m), 24);
}

TEST_MAIN()
