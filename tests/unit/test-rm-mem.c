/* SPDX-License-Identifier: MIT */
/*
 * Memory parcel payloads (rm-protocol.md section 11): golden bytes typed from the layout
 * tables, list header rules (count > 512 -> -E2BIG), exact-length rejections, and the
 * 1,000-entry SGL split into a create (512, APPEND) plus one MEM_APPEND (488, END).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rm-mem.h"
#include "rm-types.h"
#include "rm-wire.h"
#include "test.h"

static RmAclEntry acl[RM_MAX_LIST_ENTRIES];
static RmSglEntry sgl[RM_MAX_LIST_ENTRIES];
static RmAttrEntry attr[RM_MAX_LIST_ENTRIES];
static uint16_t vmids[RM_MAX_LIST_ENTRIES];
static uint8_t buf[16384];

static RmMemCreate create_out(void)
{
        return (RmMemCreate){ .acl = acl, .sgl = sgl, .attr = attr };
}

/* The DTB lend of Linux v17: one ACL entry {guest, RWX}, one SGL entry, empty attr list. */
static const uint8_t lend[40] = {
        0x00, 0x00, 0x00, 0x00,                         /* mem_type NORMAL, res, flags, res */
        0x00, 0x00, 0x00, 0x00,                         /* label */
        0x01, 0x00, 0x00, 0x00,                         /* ACL header: 1 */
        0x80, 0x00, 0x07, 0x00,                         /* {vmid 0x80, RWX} */
        0x01, 0x00, 0x00, 0x00,                         /* SGL header: 1 */
        0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, /* ipa 0x80000000 */
        0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* size 0x200000 */
        0x00, 0x00, 0x00, 0x00,                         /* attr header: 0 */
};

TEST(mem_lend_golden)
{
        RmAclEntry a = { .vmid = 0x80, .rights = RM_ACL_RWX };
        RmSglEntry s = { .ipa = 0x80000000, .size = 0x200000 };
        RmMemCreate d = create_out();
        ASSERT_EQ(rm_encode_mem_create(buf, sizeof(buf),
                                       &(RmMemCreate){ .n_acl = 1, .acl = &a, .n_sgl = 1,
                                                       .sgl = &s }),
                  40);
        ASSERT_MEMEQ(buf, lend, 40);
        ASSERT_EQ(rm_decode_mem_create(lend, 40, &d), 0);
        ASSERT_EQ(d.mem_type, 0);
        ASSERT_EQ(d.flags, 0);
        ASSERT_EQ(d.n_acl, 1);
        ASSERT_EQ(d.acl[0].vmid, 0x80);
        ASSERT_EQ(d.acl[0].rights, 7);
        ASSERT_EQ(d.n_sgl, 1);
        ASSERT_U64_EQ(d.sgl[0].ipa, 0x80000000);
        ASSERT_U64_EQ(d.sgl[0].size, 0x200000);
        ASSERT_TRUE(d.has_attr_list);
        ASSERT_EQ(d.n_attr, 0);
        ASSERT_EQ(rm_encode_mem_create(buf, 39, &(RmMemCreate){ .n_acl = 1, .acl = &a, .n_sgl = 1,
                                                                .sgl = &s }),
                  -ENOBUFS);
}

TEST(mem_share_golden_with_attrs)
{
        const uint8_t want[] = {
                0x01, 0x00, 0x01, 0x00,                         /* IO, flags SANITIZE */
                0x34, 0x12, 0x00, 0x00,                         /* label 0x1234 */
                0x02, 0x00, 0x00, 0x00,                         /* ACL header: 2 */
                0x03, 0x00, 0x06, 0x00, 0x81, 0x00, 0x04, 0x00, /* {3, RW} {0x81, R} */
                0x01, 0x00, 0x00, 0x00,                         /* SGL header: 1 */
                0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* ipa 0x1000 */
                0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* size 0x1000 */
                0x02, 0x00, 0x00, 0x00,                         /* attr header: 2 */
                0x01, 0x00, 0x03, 0x00, 0x01, 0x00, 0x81, 0x00, /* {DEVICE, 3} {DEVICE, 0x81} */
        };
        RmAclEntry a[2] = { { 3, RM_ACL_R | RM_ACL_W, 0 }, { 0x81, RM_ACL_R, 0 } };
        RmSglEntry s = { 0x1000, 0x1000 };
        RmAttrEntry t[2] = { { RM_MEM_ATTR_DEVICE, 3 }, { RM_MEM_ATTR_DEVICE, 0x81 } };
        RmMemCreate d = create_out();
        ASSERT_EQ(rm_encode_mem_create(buf, sizeof(buf),
                                       &(RmMemCreate){ .mem_type = RM_MEM_TYPE_IO,
                                                       .flags = RM_MEM_CREATE_FLAG_SANITIZE,
                                                       .label = 0x1234, .n_acl = 2, .acl = a,
                                                       .n_sgl = 1, .sgl = &s,
                                                       .has_attr_list = true, .n_attr = 2,
                                                       .attr = t }),
                  sizeof(want));
        ASSERT_MEMEQ(buf, want, sizeof(want));
        ASSERT_EQ(rm_decode_mem_create(want, sizeof(want), &d), 0);
        ASSERT_EQ(d.mem_type, 1);
        ASSERT_EQ(d.flags, 1);
        ASSERT_EQ(d.label, 0x1234);
        ASSERT_EQ(d.n_acl, 2);
        ASSERT_EQ(d.acl[1].vmid, 0x81);
        ASSERT_EQ(d.acl[1].rights, 4);
        ASSERT_EQ(d.n_attr, 2);
        ASSERT_EQ(d.attr[1].attr, 1);
        ASSERT_EQ(d.attr[1].vmid, 0x81);

        /* Rejections: one short, one long, count mismatch, over 512. */
        memcpy(buf, want, sizeof(want));
        ASSERT_EQ(rm_decode_mem_create(buf, sizeof(want) - 1, &d), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_create(buf, sizeof(want) + 1, &d), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_create(buf, sizeof(want) - 2, &d), -EBADMSG);
        buf[36 + 4] = 3; /* attr count 3 with 2 entries */
        ASSERT_EQ(rm_decode_mem_create(buf, sizeof(want), &d), -EBADMSG);
        buf[40] = 0x01;
        buf[41] = 0x02; /* attr count 513 */
        ASSERT_EQ(rm_decode_mem_create(buf, sizeof(want), &d), -E2BIG);
        memcpy(buf, want, sizeof(want));
        buf[8] = 0x01;
        buf[9] = 0x02; /* ACL count 513 */
        ASSERT_EQ(rm_decode_mem_create(buf, sizeof(want), &d), -E2BIG);
        memcpy(buf, want, sizeof(want));
        buf[20] = 0x01;
        buf[21] = 0x02; /* SGL count 513 */
        ASSERT_EQ(rm_decode_mem_create(buf, sizeof(want), &d), -E2BIG);
        memcpy(buf, want, sizeof(want));
        buf[8] = 1; /* ACL count 1: the 2nd entry is read as the SGL header (129 entries) */
        ASSERT_EQ(rm_decode_mem_create(buf, sizeof(want), &d), -EBADMSG);
}

TEST(mem_create_attr_list_absent_and_minimum)
{
        RmMemCreate d = create_out();
        /* The lend above without its attr header: 36 bytes, still valid for the RM. */
        ASSERT_EQ(rm_decode_mem_create(lend, 36, &d), 0);
        ASSERT_TRUE(!d.has_attr_list);
        ASSERT_EQ(d.n_attr, 0);
        /* Three empty lists: the 20-byte minimum (the RM then answers 0x6, not 0x4). */
        const uint8_t empty[20] = { 0 };
        ASSERT_EQ(rm_decode_mem_create(empty, 20, &d), 0);
        ASSERT_EQ(d.n_acl, 0);
        ASSERT_EQ(d.n_sgl, 0);
        ASSERT_TRUE(d.has_attr_list);
        ASSERT_EQ(rm_decode_mem_create(empty, 19, &d), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_create(empty, 0, &d), -EBADMSG);
}

TEST(list_header_helper)
{
        const uint8_t h2[] = { 0x02, 0x00, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8 };
        const uint8_t h513[] = { 0x01, 0x02, 0x00, 0x00 };
        const uint8_t h512[] = { 0x00, 0x02, 0x00, 0x00 };
        size_t n;
        ASSERT_EQ(rm_decode_list_header(h2, sizeof(h2), 4, &n), 12);
        ASSERT_EQ(n, 2);
        ASSERT_EQ(rm_decode_list_header(h2, 11, 4, &n), -EBADMSG);
        ASSERT_EQ(rm_decode_list_header(h2, 3, 4, &n), -EBADMSG);
        ASSERT_EQ(rm_decode_list_header(h513, 4, 4, &n), -E2BIG);
        ASSERT_EQ(rm_decode_list_header(h512, 4, 0, &n), 4);
        ASSERT_EQ(n, 512);
}

TEST(sgl_split_counts)
{
        size_t first, count;
        bool last;
        ASSERT_EQ(rm_sgl_message_count(0), 1);
        ASSERT_EQ(rm_sgl_message_count(1), 1);
        ASSERT_EQ(rm_sgl_message_count(512), 1);
        ASSERT_EQ(rm_sgl_message_count(513), 2);
        ASSERT_EQ(rm_sgl_message_count(1000), 2);
        ASSERT_EQ(rm_sgl_message_count(1024), 2);
        ASSERT_EQ(rm_sgl_message_count(1025), 3);
        rm_sgl_message_range(512, 0, &first, &count, &last);
        ASSERT_EQ(first, 0);
        ASSERT_EQ(count, 512);
        ASSERT_TRUE(last);
        rm_sgl_message_range(1025, 1, &first, &count, &last);
        ASSERT_EQ(first, 512);
        ASSERT_EQ(count, 512);
        ASSERT_TRUE(!last);
        rm_sgl_message_range(1025, 2, &first, &count, &last);
        ASSERT_EQ(first, 1024);
        ASSERT_EQ(count, 1);
        ASSERT_TRUE(last);
}

TEST(sgl_1000_split_512_488)
{
        RmSglEntry *all = calloc(1000, sizeof(*all));
        RmAclEntry a = { .vmid = 0x80, .rights = RM_ACL_RWX };
        size_t first, count;
        bool last;
        ssize_t n;

        ASSERT_TRUE(all);
        for (size_t i = 0; i < 1000; i++)
                all[i] = (RmSglEntry){ .ipa = 0x80000000ull + i * 0x2000, .size = 0x1000 };
        ASSERT_EQ(rm_sgl_message_count(1000), 2);

        /* Message 0: the create, first 512 entries, APPEND flag. */
        rm_sgl_message_range(1000, 0, &first, &count, &last);
        ASSERT_EQ(first, 0);
        ASSERT_EQ(count, 512);
        ASSERT_TRUE(!last);
        n = rm_encode_mem_create(buf, sizeof(buf),
                                 &(RmMemCreate){ .flags = last ? 0 : RM_MEM_CREATE_FLAG_APPEND,
                                                 .n_acl = 1, .acl = &a, .n_sgl = count,
                                                 .sgl = all + first });
        /* Section 11.3: 20 + 4n + 8192 bytes (about 36 packets). */
        ASSERT_EQ(n, 20 + 4 + 8192);
        ASSERT_EQ(rm_fragments_for((size_t)n, RM_SEND_MAX_PAYLOAD), 35);
        const uint8_t head[] = { 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0x01, 0x00, 0x00, 0x00, 0x80, 0x00, 0x07, 0x00,
                                 0x00, 0x02, 0x00, 0x00, /* SGL header: 512 */
                                 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
                                 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
        ASSERT_MEMEQ(buf, head, sizeof(head));
        /* entry 511: ipa 0x80000000 + 511 * 0x2000 = 0x803FE000 */
        const uint8_t e511[] = { 0x00, 0xe0, 0x3f, 0x80, 0, 0, 0, 0, 0x00, 0x10, 0, 0, 0, 0, 0, 0 };
        ASSERT_MEMEQ(buf + 20 + 511 * 16, e511, 16);
        const uint8_t tail[] = { 0x00, 0x00, 0x00, 0x00 };
        ASSERT_MEMEQ(buf + 20 + 512 * 16, tail, 4);

        RmMemCreate d = create_out();
        ASSERT_EQ(rm_decode_mem_create(buf, (size_t)n, &d), 0);
        ASSERT_EQ(d.flags, RM_MEM_CREATE_FLAG_APPEND);
        ASSERT_EQ(d.n_sgl, 512);
        ASSERT_U64_EQ(d.sgl[511].ipa, 0x803FE000ull);

        /* Message 1: MEM_APPEND with the remaining 488 and END. */
        rm_sgl_message_range(1000, 1, &first, &count, &last);
        ASSERT_EQ(first, 512);
        ASSERT_EQ(count, 488);
        ASSERT_TRUE(last);
        n = rm_encode_mem_append(buf, sizeof(buf),
                                 &(RmMemAppend){ .handle = 0x2a,
                                                 .flags = last ? RM_MEM_APPEND_FLAG_END : 0,
                                                 .n_sgl = count, .sgl = all + first });
        ASSERT_EQ(n, 12 + 488 * 16);
        const uint8_t ahead[] = { 0x2a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                  0xe8, 0x01, 0x00, 0x00, /* SGL header: 488 */
                                  0x00, 0x00, 0x40, 0x80, 0, 0, 0, 0 /* 0x80400000 */ };
        ASSERT_MEMEQ(buf, ahead, sizeof(ahead));
        RmMemAppend ap = { .sgl = sgl };
        ASSERT_EQ(rm_decode_mem_append(buf, (size_t)n, &ap), 0);
        ASSERT_EQ(ap.handle, 0x2a);
        ASSERT_EQ(ap.flags, RM_MEM_APPEND_FLAG_END);
        ASSERT_EQ(ap.n_sgl, 488);
        ASSERT_U64_EQ(ap.sgl[487].ipa, 0x80000000ull + 999 * 0x2000);
        free(all);
}

TEST(mem_append_rejects)
{
        const uint8_t want[] = { 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0x01, 0x00, 0x00, 0x00, 0x00, 0x20, 0, 0, 0, 0, 0, 0,
                                 0x00, 0x10, 0, 0, 0, 0, 0, 0 };
        RmMemAppend ap = { .sgl = sgl };
        RmSglEntry s = { 0x2000, 0x1000 };
        ASSERT_EQ(rm_encode_mem_append(buf, sizeof(buf),
                                       &(RmMemAppend){ .handle = 7, .n_sgl = 1, .sgl = &s }),
                  sizeof(want));
        ASSERT_MEMEQ(buf, want, sizeof(want));
        memcpy(buf, want, sizeof(want));
        ASSERT_EQ(rm_decode_mem_append(buf, sizeof(want), &ap), 0);
        ASSERT_EQ(rm_decode_mem_append(buf, sizeof(want) - 1, &ap), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_append(buf, sizeof(want) + 1, &ap), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_append(buf, 11, &ap), -EBADMSG);
        buf[8] = 0;
        ASSERT_EQ(rm_decode_mem_append(buf, 12, &ap), 0); /* empty SGL: RM says 0x6 */
        ASSERT_EQ(ap.n_sgl, 0);
        buf[8] = 2;
        ASSERT_EQ(rm_decode_mem_append(buf, sizeof(want), &ap), -EBADMSG);
        buf[8] = 0x01;
        buf[9] = 0x02;
        ASSERT_EQ(rm_decode_mem_append(buf, sizeof(want), &ap), -E2BIG);
}

TEST(mem_create_reply)
{
        const uint8_t want[] = { 0x00, 0x00, 0x00, 0x00 }; /* handle 0 is valid */
        uint32_t h = 1;
        ASSERT_EQ(rm_encode_mem_create_reply(buf, sizeof(buf), 0), 4);
        ASSERT_MEMEQ(buf, want, 4);
        ASSERT_EQ(rm_decode_mem_create_reply(want, 4, &h), 0);
        ASSERT_EQ(h, 0);
        ASSERT_EQ(rm_decode_mem_create_reply(buf, 3, &h), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_create_reply(buf, 5, &h), -EBADMSG);
}

TEST(mem_accept)
{
        /* The RM's own image accept: DONE | VALIDATE_ACL_ATTR | MAP_CONTIGUOUS, one IPA. */
        const uint8_t want[] = {
                0x05, 0x00, 0x00, 0x00, /* handle */
                0x00, 0x01, 0x92, 0x00, /* NORMAL, LEND, flags 0x92 */
                0x00, 0x00, 0x00, 0x00, /* label */
                0x01, 0x00, 0x00, 0x00, 0x80, 0x00, 0x07, 0x00, /* ACL {0x80, RWX} */
                0x01, 0x00, 0x00, 0x00,                         /* SGL count 1, map_vmid 0 */
                0x00, 0x00, 0x80, 0x28, 0, 0, 0, 0, 0x00, 0x00, 0x20, 0, 0, 0, 0, 0,
                0x00, 0x00, 0x00, 0x00, /* attr header: 0 */
        };
        RmAclEntry a = { 0x80, RM_ACL_RWX, 0 };
        RmSglEntry s = { 0x28800000, 0x200000 };
        RmMemAccept m = { .handle = 5, .trans_type = RM_TRANS_LEND,
                          .flags = RM_MEM_ACCEPT_FLAG_DONE |
                                   RM_MEM_ACCEPT_FLAG_VALIDATE_ACL_ATTR |
                                   RM_MEM_ACCEPT_FLAG_MAP_CONTIGUOUS,
                          .n_acl = 1, .acl = &a, .n_sgl = 1, .sgl = &s };
        RmMemAccept d = { .acl = acl, .sgl = sgl, .attr = attr };
        ASSERT_EQ(rm_encode_mem_accept(buf, sizeof(buf), &m), sizeof(want));
        ASSERT_MEMEQ(buf, want, sizeof(want));
        ASSERT_EQ(rm_decode_mem_accept(want, sizeof(want), &d), 0);
        ASSERT_EQ(d.handle, 5);
        ASSERT_EQ(d.trans_type, 1);
        ASSERT_EQ(d.flags, 0x92);
        ASSERT_EQ(d.n_acl, 1);
        ASSERT_EQ(d.n_sgl, 1);
        ASSERT_EQ(d.map_vmid, 0);
        ASSERT_U64_EQ(d.sgl[0].ipa, 0x28800000);
        ASSERT_EQ(d.n_attr, 0);

        /* map_vmid is the second half of the SGL header. */
        memcpy(buf, want, sizeof(want));
        buf[22] = 0x81;
        ASSERT_EQ(rm_decode_mem_accept(buf, sizeof(want), &d), 0);
        ASSERT_EQ(d.map_vmid, 0x81);
        m.map_vmid = 0x81;
        uint8_t again[sizeof(want)];
        ASSERT_EQ(rm_encode_mem_accept(again, sizeof(again), &m), sizeof(want));
        ASSERT_MEMEQ(again, buf, sizeof(want));

        ASSERT_EQ(rm_decode_mem_accept(buf, sizeof(want) - 1, &d), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_accept(buf, sizeof(want) + 1, &d), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_accept(buf, 23, &d), -EBADMSG);
        buf[20] = 2; /* SGL count 2, one entry */
        ASSERT_EQ(rm_decode_mem_accept(buf, sizeof(want), &d), -EBADMSG);
        buf[20] = 0x01;
        buf[21] = 0x02;
        ASSERT_EQ(rm_decode_mem_accept(buf, sizeof(want), &d), -E2BIG);
        memcpy(buf, want, sizeof(want));
        buf[12] = 0x01;
        buf[13] = 0x02; /* ACL count 513 */
        ASSERT_EQ(rm_decode_mem_accept(buf, sizeof(want), &d), -E2BIG);
        memcpy(buf, want, sizeof(want));
        buf[sizeof(want) - 4] = 0x01;
        buf[sizeof(want) - 3] = 0x02; /* attr count 513 */
        ASSERT_EQ(rm_decode_mem_accept(buf, sizeof(want), &d), -E2BIG);
        buf[sizeof(want) - 4] = 0x01;
        buf[sizeof(want) - 3] = 0x00; /* attr count 1, entry missing */
        ASSERT_EQ(rm_decode_mem_accept(buf, sizeof(want), &d), -EBADMSG);
        /* Minimum: 24 bytes, all lists empty. */
        const uint8_t min[24] = { 0x09 };
        ASSERT_EQ(rm_decode_mem_accept(min, 24, &d), 0);
        ASSERT_EQ(d.handle, 9);
        ASSERT_EQ(d.n_sgl, 0);
}

TEST(mem_accept_reply)
{
        const uint8_t want[] = { 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x80, 0x28, 0, 0, 0, 0,
                                 0x00, 0x00, 0x20, 0, 0, 0, 0, 0 };
        RmSglEntry s = { 0x28800000, 0x200000 }, d[2];
        uint8_t flags;
        size_t n;
        ASSERT_EQ(rm_encode_mem_accept_reply(buf, sizeof(buf),
                                             RM_MEM_ACCEPT_REPLY_FLAG_INCOMPLETE, &s, 1),
                  sizeof(want));
        ASSERT_MEMEQ(buf, want, sizeof(want));
        ASSERT_EQ(rm_decode_mem_accept_reply(want, sizeof(want), &flags, d, 2, &n), 0);
        ASSERT_EQ(flags, 1);
        ASSERT_EQ(n, 1);
        ASSERT_U64_EQ(d[0].size, 0x200000);
        ASSERT_EQ(rm_decode_mem_accept_reply(want, sizeof(want) - 1, &flags, d, 2, &n), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_accept_reply(buf, sizeof(want) + 1, &flags, d, 2, &n), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_accept_reply(want, 3, &flags, d, 2, &n), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_accept_reply(want, sizeof(want), &flags, d, 0, &n), -E2BIG);
        /* 513 entries with a matching length: over the per-reply limit. */
        memset(buf, 0, 4 + 513 * 16);
        buf[0] = 0x01;
        buf[1] = 0x02;
        ASSERT_EQ(rm_decode_mem_accept_reply(buf, 4 + 513 * 16, &flags, sgl,
                                             RM_MAX_LIST_ENTRIES, &n),
                  -E2BIG);
}

TEST(mem_handle_req)
{
        const uint8_t want[] = { 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00 };
        RmMemHandleReq d;
        ASSERT_EQ(rm_encode_mem_handle_req(buf, sizeof(buf),
                                           &(RmMemHandleReq){ 5, RM_MEM_RELEASE_FLAG_SANITIZE }),
                  8);
        ASSERT_MEMEQ(buf, want, 8);
        memcpy(buf, want, 8);
        ASSERT_EQ(rm_decode_mem_handle_req(buf, 8, &d), 0);
        ASSERT_EQ(d.handle, 5);
        ASSERT_EQ(d.flags, 1);
        ASSERT_EQ(rm_decode_mem_handle_req(buf, 7, &d), -EBADMSG);
        /* The RM ignores trailing bytes here (length >= 8). */
        ASSERT_EQ(rm_decode_mem_handle_req(buf, 9, &d), 0);
}

TEST(mem_notify)
{
        const uint8_t shared[] = { 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                   0x10, 0x00, 0x00, 0x00, /* tag */
                                   0x02, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00,
                                   0x81, 0x00, 0x00, 0x00 };
        const uint8_t released[] = { 0x05, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
                                     0x10, 0x00, 0x00, 0x00 };
        uint16_t v[2] = { 0x80, 0x81 };
        RmMemNotify d = { .vmids = vmids };
        ASSERT_EQ(rm_encode_mem_notify(buf, sizeof(buf),
                                       &(RmMemNotify){ 5, RM_MEM_NOTIFY_SHARED, 0x10, 2, v }),
                  sizeof(shared));
        ASSERT_MEMEQ(buf, shared, sizeof(shared));
        ASSERT_EQ(rm_encode_mem_notify(buf, sizeof(buf),
                                       &(RmMemNotify){ 5, RM_MEM_NOTIFY_RELEASED, 0x10, 2, v }),
                  sizeof(released));
        ASSERT_MEMEQ(buf, released, sizeof(released));
        ASSERT_EQ(rm_decode_mem_notify(shared, sizeof(shared), &d), 0);
        ASSERT_EQ(d.handle, 5);
        ASSERT_EQ(d.flags, 1);
        ASSERT_EQ(d.mem_info_tag, 0x10);
        ASSERT_EQ(d.n_vmids, 2);
        ASSERT_EQ(d.vmids[1], 0x81);
        ASSERT_EQ(rm_decode_mem_notify(released, sizeof(released), &d), 0);
        ASSERT_EQ(d.n_vmids, 0);
        ASSERT_EQ(rm_decode_mem_notify(released, 11, &d), -EBADMSG);
        /* SHARED/RECALL need the list header and all its entries. */
        ASSERT_EQ(rm_decode_mem_notify(shared, 12, &d), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_notify(shared, sizeof(shared) - 1, &d), -EBADMSG);
        memcpy(buf, shared, sizeof(shared));
        buf[4] = RM_MEM_NOTIFY_RECALL;
        ASSERT_EQ(rm_decode_mem_notify(buf, 12, &d), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_notify(buf, sizeof(shared), &d), 0);
        ASSERT_EQ(d.n_vmids, 2);
        buf[12] = 3;
        ASSERT_EQ(rm_decode_mem_notify(buf, sizeof(shared), &d), -EBADMSG);
        buf[12] = 0x01;
        buf[13] = 0x02;
        ASSERT_EQ(rm_decode_mem_notify(buf, sizeof(shared), &d), -E2BIG);
        /* RELEASED/ACCEPTED: length >= 12, trailing ignored. */
        buf[4] = RM_MEM_NOTIFY_ACCEPTED;
        ASSERT_EQ(rm_decode_mem_notify(buf, sizeof(shared), &d), 0);
        ASSERT_EQ(d.n_vmids, 0);
}

/* MEM_QCOM_LOOKUP_SGL, typed from the open RM's lookup request layout (memparcel_msg.h):
 * u8 mem_type, 3 res, u32 label, then the ACL, SGL and (optional) attr lists. */
static const uint8_t lookup[56] = {
        0x00, 0x00, 0x00, 0x00,                         /* mem_type NORMAL, 3 res */
        0x44, 0x33, 0x22, 0x11,                         /* label 0x11223344 */
        0x01, 0x00, 0x00, 0x00,                         /* ACL header: 1 */
        0x81, 0x00, 0x07, 0x00,                         /* {vmid 0x81, RWX} */
        0x02, 0x00, 0x00, 0x00,                         /* SGL header: 2 */
        0x00, 0x00, 0x40, 0x80, 0x00, 0x00, 0x00, 0x00, /* ipa 0x80400000 */
        0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* size 0x200000 */
        0x00, 0x10, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* ipa 0x100001000 */
        0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* size 0x3000 */
        0x00, 0x00, 0x00, 0x00,                         /* attr header: 0 */
};

TEST(mem_lookup_sgl_golden)
{
        RmAclEntry a = { .vmid = 0x81, .rights = RM_ACL_RWX };
        RmSglEntry s[2] = { { .ipa = 0x80400000, .size = 0x200000 },
                            { .ipa = 0x100001000, .size = 0x3000 } };
        RmMemLookupSgl d = { .acl = acl, .sgl = sgl, .attr = attr };
        uint32_t h = 0;

        ASSERT_EQ(rm_encode_mem_lookup_sgl(buf, sizeof(buf),
                                           &(RmMemLookupSgl){ .label = 0x11223344, .n_acl = 1,
                                                              .acl = &a, .n_sgl = 2, .sgl = s }),
                  56);
        ASSERT_MEMEQ(buf, lookup, 56);
        ASSERT_EQ(rm_encode_mem_lookup_sgl(buf, 55,
                                           &(RmMemLookupSgl){ .n_acl = 1, .acl = &a, .n_sgl = 2,
                                                              .sgl = s }),
                  -ENOBUFS);
        ASSERT_EQ(rm_decode_mem_lookup_sgl(lookup, 56, &d), 0);
        ASSERT_EQ(d.mem_type, 0);
        ASSERT_EQ(d.label, 0x11223344u);
        ASSERT_EQ(d.n_acl, 1);
        ASSERT_EQ(d.acl[0].vmid, 0x81);
        ASSERT_EQ(d.acl[0].rights, 7);
        ASSERT_EQ(d.n_sgl, 2);
        ASSERT_U64_EQ(d.sgl[1].ipa, 0x100001000ull);
        ASSERT_U64_EQ(d.sgl[1].size, 0x3000);
        ASSERT_TRUE(d.has_attr_list);
        ASSERT_EQ(d.n_attr, 0);
        /* the attr list may be absent */
        ASSERT_EQ(rm_decode_mem_lookup_sgl(lookup, 52, &d), 0);
        ASSERT_TRUE(!d.has_attr_list);
        /* exact length: a cut entry or a trailing byte is malformed */
        memcpy(buf, lookup, 56);
        ASSERT_EQ(rm_decode_mem_lookup_sgl(buf, 55, &d), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_lookup_sgl(buf, 51, &d), -EBADMSG);
        buf[56] = 0;
        ASSERT_EQ(rm_decode_mem_lookup_sgl(buf, 57, &d), -EBADMSG);
        /* minimum: fixed part plus empty ACL and SGL headers, 16 bytes */
        static const uint8_t empty[16] = { 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
        ASSERT_EQ(rm_decode_mem_lookup_sgl(empty, 16, &d), 0);
        ASSERT_EQ(d.mem_type, 1);
        ASSERT_EQ(d.n_acl, 0);
        ASSERT_EQ(d.n_sgl, 0);
        ASSERT_EQ(rm_decode_mem_lookup_sgl(empty, 15, &d), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_lookup_sgl(empty, 0, &d), -EBADMSG);
        /* a list count above 512 */
        buf[16] = 0x01;
        buf[17] = 0x02; /* SGL count 513 */
        ASSERT_EQ(rm_decode_mem_lookup_sgl(buf, 56, &d), -E2BIG);
        /* reply: a u32 handle, exactly */
        static const uint8_t reply[4] = { 0x2a, 0x00, 0x00, 0x00 };
        ASSERT_EQ(rm_encode_mem_lookup_sgl_reply(buf, sizeof(buf), 42), 4);
        ASSERT_MEMEQ(buf, reply, 4);
        ASSERT_EQ(rm_decode_mem_lookup_sgl_reply(reply, 4, &h), 0);
        ASSERT_EQ(h, 42u);
        ASSERT_EQ(rm_decode_mem_lookup_sgl_reply(reply, 3, &h), -EBADMSG);
        ASSERT_EQ(rm_decode_mem_lookup_sgl_reply(buf, 5, &h), -EBADMSG);
}

TEST_MAIN()
