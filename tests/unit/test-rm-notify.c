/* SPDX-License-Identifier: MIT */
/*
 * Notification payloads (rm-protocol.md sections 9 and 11.6): golden bytes typed from the
 * tables, checked both ways, plus every length rule.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "rm-notify.h"
#include "rm-types.h"
#include "test.h"

static uint8_t buf[8192];

TEST(vm_status)
{
        const uint8_t want[] = { 0x80, 0x00, 0x00, 0x00, 0x03, 0x04, 0x02, 0x01 };
        RmNotifyVmStatus d;
        ASSERT_EQ(rm_encode_notify_vm_status(buf, sizeof(buf),
                                             &(RmNotifyVmStatus){ 0x80, 3, 4, 0x0102 }),
                  8);
        ASSERT_MEMEQ(buf, want, 8);
        ASSERT_EQ(rm_decode_notify_vm_status(want, 8, &d), 0);
        ASSERT_EQ(d.vmid, 0x80);
        ASSERT_EQ(d.vm_status, RM_VM_STATUS_RUNNING);
        ASSERT_EQ(d.os_status, RM_OS_STATUS_RUN);
        ASSERT_EQ(d.app_status, 0x0102);
        ASSERT_EQ(rm_decode_notify_vm_status(buf, 7, &d), -EBADMSG);
        ASSERT_EQ(rm_decode_notify_vm_status(buf, 9, &d), -EBADMSG);
        ASSERT_EQ(rm_encode_notify_vm_status(buf, 7, &d), -ENOBUFS);
}

TEST(vm_exited_force_stop)
{
        /* Force VM_STOP: type 7, reason size 4, word 0 = 0. */
        const uint8_t want[] = { 0x80, 0x00, 0x07, 0x00, 0x04, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00 };
        RmNotifyVmExited d, m = { .vmid = 0x80, .exit_type = RM_EXIT_TYPE_VM_STOP_FORCED,
                                  .reason_size = 4 };
        ASSERT_EQ(rm_encode_notify_vm_exited(buf, sizeof(buf), &m), 12);
        ASSERT_MEMEQ(buf, want, 12);
        ASSERT_EQ(rm_decode_notify_vm_exited(want, 12, &d), 0);
        ASSERT_EQ(d.vmid, 0x80);
        ASSERT_EQ(d.exit_type, 7);
        ASSERT_EQ(d.reason_size, 4);
        ASSERT_EQ(d.exit_flags, 0);
        ASSERT_EQ(d.exit_code, 0);
}

TEST(vm_exited_reason_word)
{
        /* Guest VM_EXIT with RESTART and SOFTWARE_ERROR: word 0 = 0x0001 | 1 << 16. */
        const uint8_t want[] = { 0x81, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
                                 0x01, 0x00, 0x01, 0x00 };
        RmNotifyVmExited d, m = { .vmid = 0x81, .exit_type = RM_EXIT_TYPE_VM_EXIT,
                                  .reason_size = 4,
                                  .reason = { RM_EXIT_FLAG_RESTART |
                                              (RM_EXIT_CODE_SOFTWARE_ERROR << 16) } };
        ASSERT_EQ(rm_encode_notify_vm_exited(buf, sizeof(buf), &m), 12);
        ASSERT_MEMEQ(buf, want, 12);
        ASSERT_EQ(rm_decode_notify_vm_exited(want, 12, &d), 0);
        ASSERT_EQ(d.exit_flags, RM_EXIT_FLAG_RESTART);
        ASSERT_EQ(d.exit_code, RM_EXIT_CODE_SOFTWARE_ERROR);
        ASSERT_EQ(d.reason[0], 0x00010001);
}

TEST(vm_exited_reset2)
{
        /* PSCI SYSTEM_RESET2, SMC64: 3 extra words reset_type, cookie low, cookie high. */
        const uint8_t want[] = { 0x82, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x00,
                                 0x00, 0x80, 0x00, 0x00, /* flags 0x8000, code 0 */
                                 0x01, 0x00, 0x00, 0x80, /* reset_type 0x80000001 */
                                 0xef, 0xbe, 0xad, 0xde, /* cookie low */
                                 0x78, 0x56, 0x34, 0x12 /* cookie high */ };
        RmNotifyVmExited d;
        RmNotifyVmExited m = { .vmid = 0x82, .exit_type = RM_EXIT_TYPE_PSCI_SYSTEM_RESET2,
                               .reason_size = 16,
                               .reason = { RM_EXIT_FLAG_SMC64, 0x80000001, 0xdeadbeef,
                                           0x12345678 } };
        ASSERT_EQ(rm_encode_notify_vm_exited(buf, sizeof(buf), &m), 24);
        ASSERT_MEMEQ(buf, want, 24);
        ASSERT_EQ(rm_decode_notify_vm_exited(want, 24, &d), 0);
        ASSERT_EQ(d.exit_type, 3);
        ASSERT_EQ(d.reason_size, 16);
        ASSERT_EQ(d.exit_flags, 0x8000);
        ASSERT_EQ(d.exit_code, 0);
        ASSERT_EQ(d.reason[1], 0x80000001u);
        ASSERT_EQ(d.reason[2], 0xdeadbeefu);
        ASSERT_EQ(d.reason[3], 0x12345678u);

        /* Length rules: exactly 8 + size, size a multiple of 4, at most 16. */
        memcpy(buf, want, sizeof(want));
        ASSERT_EQ(rm_decode_notify_vm_exited(buf, 23, &d), -EBADMSG);
        ASSERT_EQ(rm_decode_notify_vm_exited(buf, 25, &d), -EBADMSG);
        ASSERT_EQ(rm_decode_notify_vm_exited(buf, 7, &d), -EBADMSG);
        buf[4] = 20;
        ASSERT_EQ(rm_decode_notify_vm_exited(buf, 28, &d), -E2BIG);
        buf[4] = 6;
        ASSERT_EQ(rm_decode_notify_vm_exited(buf, 14, &d), -EBADMSG);
        buf[4] = 0;
        ASSERT_EQ(rm_decode_notify_vm_exited(buf, 8, &d), 0);
        ASSERT_EQ(d.reason_size, 0);
        ASSERT_EQ(d.exit_flags, 0);
        m.reason_size = 20;
        ASSERT_EQ(rm_encode_notify_vm_exited(buf, sizeof(buf), &m), -E2BIG);
        m.reason_size = 6;
        ASSERT_EQ(rm_encode_notify_vm_exited(buf, sizeof(buf), &m), -EINVAL);
        m.reason_size = 16;
        ASSERT_EQ(rm_encode_notify_vm_exited(buf, 23, &m), -ENOBUFS);
}

TEST(vm_shutdown)
{
        const uint8_t want[] = { 0x01, 0x00, 0x00, 0x00 };
        uint32_t r;
        ASSERT_EQ(rm_encode_notify_vm_shutdown(buf, sizeof(buf), RM_STOP_REASON_RESTART), 4);
        ASSERT_MEMEQ(buf, want, 4);
        ASSERT_EQ(rm_decode_notify_vm_shutdown(want, 4, &r), 0);
        ASSERT_EQ(r, 1);
        ASSERT_EQ(rm_decode_notify_vm_shutdown(buf, 3, &r), -EBADMSG);
        ASSERT_EQ(rm_decode_notify_vm_shutdown(buf, 5, &r), -EBADMSG);
}

TEST(mem_owner_and_recall)
{
        const uint8_t owner[] = { 0x05, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00,
                                  0x10, 0x00, 0x00, 0x00 };
        const uint8_t recall[] = { 0x05, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00 };
        RmNotifyMemOwner o;
        RmNotifyMemRecall r;
        ASSERT_EQ(rm_encode_notify_mem_owner(buf, sizeof(buf),
                                             &(RmNotifyMemOwner){ 5, 0x80, 0x10 }),
                  12);
        ASSERT_MEMEQ(buf, owner, 12);
        ASSERT_EQ(rm_decode_notify_mem_owner(owner, 12, &o), 0);
        ASSERT_EQ(o.handle, 5);
        ASSERT_EQ(o.vmid, 0x80);
        ASSERT_EQ(o.mem_info_tag, 0x10);
        ASSERT_EQ(rm_decode_notify_mem_owner(buf, 11, &o), -EBADMSG);
        ASSERT_EQ(rm_decode_notify_mem_owner(buf, 13, &o), -EBADMSG);
        ASSERT_EQ(rm_encode_notify_mem_recall(buf, sizeof(buf), &(RmNotifyMemRecall){ 5, 0x10 }),
                  8);
        ASSERT_MEMEQ(buf, recall, 8);
        ASSERT_EQ(rm_decode_notify_mem_recall(recall, 8, &r), 0);
        ASSERT_EQ(r.handle, 5);
        ASSERT_EQ(r.mem_info_tag, 0x10);
        ASSERT_EQ(rm_decode_notify_mem_recall(buf, 7, &r), -EBADMSG);
        ASSERT_EQ(rm_decode_notify_mem_recall(buf, 9, &r), -EBADMSG);
}

/* MEM_SHARED laid out by the offsets of the section 11.6 table. */
static const uint8_t shared[] = {
        0x05, 0x00, 0x00, 0x00,                         /*  0 handle */
        0x00, 0x02, 0x01, 0x00,                         /*  4 NORMAL, SHARE, sanitized, res */
        0x03, 0x00, 0x00, 0x00,                         /*  8 owner vmid 3, res */
        0x34, 0x12, 0x00, 0x00,                         /* 12 label */
        0x10, 0x00, 0x00, 0x00,                         /* 16 mem_info_tag */
        0x02, 0x00, 0x00, 0x00,                         /* 20 ACL header: 2 */
        0x03, 0x00, 0x07, 0x00, 0x80, 0x00, 0x06, 0x00, /* 24 {3 RWX} {0x80 RW} */
        0x02, 0x00, 0x00, 0x00,                         /* 32 region header: 2 */
        0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* 36 size 0x200000 */
        0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 44 size 0x1000 */
        0x01, 0x00, 0x00, 0x00,                         /* 52 attr header: 1 */
        0x00, 0x00, 0x80, 0x00,                         /* 56 {NORMAL, 0x80} */
};

TEST(mem_shared)
{
        static RmAclEntry acl[RM_MAX_LIST_ENTRIES];
        static RmAttrEntry attr[RM_MAX_LIST_ENTRIES];
        static uint64_t sizes[RM_MAX_LIST_ENTRIES];
        RmAclEntry a[2] = { { 3, RM_ACL_RWX, 0 }, { 0x80, RM_ACL_R | RM_ACL_W, 0 } };
        uint64_t s[2] = { 0x200000, 0x1000 };
        RmAttrEntry t = { RM_MEM_ATTR_NORMAL, 0x80 };
        RmNotifyMemShared m = { .handle = 5, .trans_type = RM_TRANS_SHARE, .flags = 1,
                                .owner_vmid = 3, .label = 0x1234, .mem_info_tag = 0x10,
                                .n_acl = 2, .acl = a, .n_regions = 2, .region_sizes = s,
                                .n_attr = 1, .attr = &t };
        RmNotifyMemShared d = { .acl = acl, .region_sizes = sizes, .attr = attr };

        ASSERT_EQ(rm_encode_notify_mem_shared(buf, sizeof(buf), &m), sizeof(shared));
        ASSERT_MEMEQ(buf, shared, sizeof(shared));
        ASSERT_EQ(rm_decode_notify_mem_shared(shared, sizeof(shared), &d), 0);
        ASSERT_EQ(d.handle, 5);
        ASSERT_EQ(d.mem_type, 0);
        ASSERT_EQ(d.trans_type, 2);
        ASSERT_EQ(d.flags, 1);
        ASSERT_EQ(d.owner_vmid, 3);
        ASSERT_EQ(d.label, 0x1234);
        ASSERT_EQ(d.mem_info_tag, 0x10);
        ASSERT_EQ(d.n_acl, 2);
        ASSERT_EQ(d.acl[1].vmid, 0x80);
        ASSERT_EQ(d.acl[1].rights, 6);
        ASSERT_EQ(d.n_regions, 2);
        ASSERT_U64_EQ(d.region_sizes[0], 0x200000);
        ASSERT_U64_EQ(d.region_sizes[1], 0x1000);
        ASSERT_EQ(d.n_attr, 1);
        ASSERT_EQ(d.attr[0].vmid, 0x80);

        memcpy(buf, shared, sizeof(shared));
        ASSERT_EQ(rm_decode_notify_mem_shared(buf, sizeof(shared) - 1, &d), -EBADMSG);
        ASSERT_EQ(rm_decode_notify_mem_shared(buf, sizeof(shared) + 1, &d), -EBADMSG);
        ASSERT_EQ(rm_decode_notify_mem_shared(buf, 56, &d), -EBADMSG); /* attr entry missing */
        ASSERT_EQ(rm_decode_notify_mem_shared(buf, 52, &d), -EBADMSG); /* attr header missing */
        ASSERT_EQ(rm_decode_notify_mem_shared(buf, 19, &d), -EBADMSG);
        buf[32] = 3; /* region count mismatch */
        ASSERT_EQ(rm_decode_notify_mem_shared(buf, sizeof(shared), &d), -EBADMSG);
        buf[32] = 0x01;
        buf[33] = 0x02; /* 513 regions */
        ASSERT_EQ(rm_decode_notify_mem_shared(buf, sizeof(shared), &d), -E2BIG);
        memcpy(buf, shared, sizeof(shared));
        buf[20] = 0x01;
        buf[21] = 0x02; /* 513 ACL entries */
        ASSERT_EQ(rm_decode_notify_mem_shared(buf, sizeof(shared), &d), -E2BIG);
        memcpy(buf, shared, sizeof(shared));
        buf[52] = 0x01;
        buf[53] = 0x02; /* 513 attrs */
        ASSERT_EQ(rm_decode_notify_mem_shared(buf, sizeof(shared), &d), -E2BIG);
        buf[52] = 2; /* attr count mismatch */
        buf[53] = 0;
        ASSERT_EQ(rm_decode_notify_mem_shared(buf, sizeof(shared), &d), -EBADMSG);
        ASSERT_EQ(rm_encode_notify_mem_shared(buf, sizeof(shared) - 1, &m), -ENOBUFS);
}

TEST(sim_page_fault)
{
        const uint8_t want[] = { 0x80, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00 };
        RmNotifySimPageFault d;
        ASSERT_EQ(rm_encode_notify_sim_page_fault(
                          buf, sizeof(buf),
                          &(RmNotifySimPageFault){ 0x80, RM_SIM_FAULT_WRITE, 0x80001000 }),
                  16);
        ASSERT_MEMEQ(buf, want, 16);
        ASSERT_EQ(rm_decode_notify_sim_page_fault(want, 16, &d), 0);
        ASSERT_EQ(d.vmid, 0x80);
        ASSERT_EQ(d.flags, 1);
        ASSERT_U64_EQ(d.ipa, 0x80001000);
        ASSERT_EQ(rm_decode_notify_sim_page_fault(buf, 15, &d), -EBADMSG);
        ASSERT_EQ(rm_decode_notify_sim_page_fault(buf, 17, &d), -EBADMSG);
}

TEST_MAIN()
