/* SPDX-License-Identifier: MIT */
/*
 * gunyah-rm-sim at the packet level (rm-protocol.md sections 2-4, 7; checklist 1-4, 7, 9,
 * 20, 33): exact reply bytes, silent drops, request reassembly, UNIMPLEMENTED in both
 * profiles, and every fixed-length rule. All packets are written out by hand here.
 */
#include <string.h>

#include "test-sim-harness.h"
#include "test.h"

#define SILENCE_MS 300

/* Receive one packet and compare it with exp (exact bytes and length). */
static void expect_pkt(T *t, const uint8_t *exp, size_t len)
{
        uint8_t buf[1024];
        int n = t_recv_raw(t, buf, 10000);

        ASSERT_EQ(n, (long long)len);
        ASSERT_MEMEQ(buf, exp, len);
}

/* Request {msg_id, seq} with payload p; expect the err-only reply with code err. */
static void expect_err_reply(T *t, uint16_t seq, uint32_t id, const void *p, size_t len,
                             uint32_t err)
{
        uint8_t exp[12] = {0x21,
                           0x02,
                           (uint8_t)seq,
                           (uint8_t)(seq >> 8),
                           (uint8_t)id,
                           (uint8_t)(id >> 8),
                           (uint8_t)(id >> 16),
                           (uint8_t)(id >> 24),
                           (uint8_t)err,
                           (uint8_t)(err >> 8),
                           (uint8_t)(err >> 16),
                           (uint8_t)(err >> 24)};

        t_send_msg(t, 1, seq, id, p, len);
        expect_pkt(t, exp, sizeof(exp));
}

static const uint8_t get_vmid_req[8] = {0x21, 0x01, 0x05, 0x00, 0x24, 0x00, 0x00, 0x56};
static const uint8_t get_vmid_reply[16] = {0x21, 0x02, 0x05, 0x00, 0x24, 0x00, 0x00, 0x56,
                                           0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00};

TEST(get_vmid_exact_bytes)
{
        T t;

        t_start(&t, NULL);
        t_send_raw(&t, get_vmid_req, sizeof(get_vmid_req));
        expect_pkt(&t, get_vmid_reply, sizeof(get_vmid_reply));
        /* seq 0 is a valid sequence number, and 0xFFFF too */
        {
                uint8_t q[8] = {0x21, 0x01, 0xFF, 0xFF, 0x24, 0x00, 0x00, 0x56};
                uint8_t r[16] = {0x21, 0x02, 0xFF, 0xFF, 0x24, 0x00, 0x00, 0x56,
                                 0,    0,    0,    0,    3,    0,    0,    0};
                t_send_raw(&t, q, 8);
                expect_pkt(&t, r, 16);
        }
        t_stop(&t);
}

TEST(vm_start_example_from_section_2)
{
        /* the worked example: VM_START of VMID 0x80, seq 5 (here after a real allocation,
         * so the VM is in LOAD: the reply is VM_STATE) */
        static const uint8_t start[12] = {0x21, 0x01, 0x05, 0x00, 0x04, 0x00,
                                          0x00, 0x56, 0x80, 0x00, 0x00, 0x00};
        static const uint8_t reply[12] = {0x21, 0x02, 0x05, 0x00, 0x04, 0x00,
                                          0x00, 0x56, 0x14, 0x00, 0x00, 0x00};
        static const uint8_t unknown[12] = {0x21, 0x02, 0x05, 0x00, 0x04, 0x00,
                                            0x00, 0x56, 0x0D, 0x00, 0x00, 0x00};
        T t;

        t_start(&t, NULL);
        t_send_raw(&t, start, sizeof(start));
        expect_pkt(&t, unknown, sizeof(unknown)); /* no VM 0x80 yet: VMID_INVALID */
        ASSERT_EQ(t_alloc(&t), 0x80);
        t_send_raw(&t, start, sizeof(start));
        expect_pkt(&t, reply, sizeof(reply));
        t_stop(&t);
}

TEST(bad_headers_are_dropped_silently)
{
        static const uint8_t short7[7] = {0x21, 0x01, 0x01, 0x00, 0x24, 0x00, 0x00};
        static const uint8_t ver2[8] = {0x22, 0x01, 0x01, 0x00, 0x24, 0x00, 0x00, 0x56};
        static const uint8_t ver0[8] = {0x20, 0x01, 0x01, 0x00, 0x24, 0x00, 0x00, 0x56};
        static const uint8_t words3[8] = {0x31, 0x01, 0x01, 0x00, 0x24, 0x00, 0x00, 0x56};
        static const uint8_t words1[8] = {0x11, 0x01, 0x01, 0x00, 0x24, 0x00, 0x00, 0x56};
        static const uint8_t frags63[8] = {0x21, 0xFD, 0x01, 0x00, 0x24, 0x00, 0x00, 0x56};
        static const uint8_t empty[1] = {0x21};
        const struct {
                const uint8_t *p;
                size_t n;
        } bad[] = {
            {short7, 7}, {ver2, 8}, {ver0, 8}, {words3, 8}, {words1, 8}, {frags63, 8}, {empty, 1},
        };
        T t;

        t_start(&t, NULL);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                t_send_raw(&t, bad[i].p, bad[i].n);
                t_silence(&t, SILENCE_MS);
        }
        /* the link still works */
        t_send_raw(&t, get_vmid_req, sizeof(get_vmid_req));
        expect_pkt(&t, get_vmid_reply, sizeof(get_vmid_reply));
        t_stop(&t);
}

TEST(non_requests_are_not_answered)
{
        static const uint8_t reply_to_rm[12] = {0x21, 0x02, 0x01, 0x00, 0x24, 0x00,
                                                0x00, 0x56, 0,    0,    0,    0};
        static const uint8_t notif_to_rm[8] = {0x21, 0x03, 0x01, 0x00, 0x08, 0x00, 0x10, 0x56};
        static const uint8_t stray_cont[8] = {0x21, 0x04, 0x01, 0x00, 0x24, 0x00, 0x00, 0x56};
        static const uint8_t stray_cont0[8] = {0x21, 0x00, 0x01, 0x00, 0x24, 0x00, 0x00, 0x56};
        T t;

        t_start(&t, NULL);
        t_send_raw(&t, reply_to_rm, sizeof(reply_to_rm));
        t_silence(&t, SILENCE_MS);
        t_send_raw(&t, notif_to_rm, sizeof(notif_to_rm));
        t_silence(&t, SILENCE_MS);
        t_send_raw(&t, stray_cont, sizeof(stray_cont));
        t_silence(&t, SILENCE_MS);
        t_send_raw(&t, stray_cont0, sizeof(stray_cont0));
        t_silence(&t, SILENCE_MS);
        t_stop(&t);
}

/* The first packet of a 2-packet VM_GET_STATE-sized request: an unimplemented ID carrying
 * 300 bytes, so the reply (UNIMPLEMENTED) shows the whole message was taken. */
static void two_packet_request(uint8_t first[240], uint8_t second[76], uint16_t seq, uint32_t id)
{
        memset(first, 0xA5, 240);
        memset(second, 0x5A, 76);
        first[0] = second[0] = 0x21;
        first[1] = (1 << 2) | 1; /* one continuation follows, type request */
        second[1] = (1 << 2) | 0;
        first[2] = second[2] = (uint8_t)seq;
        first[3] = second[3] = (uint8_t)(seq >> 8);
        for (int i = 0; i < 4; i++)
                first[4 + i] = second[4 + i] = (uint8_t)(id >> (8 * i));
}

TEST(multi_packet_request_reassembled)
{
        uint8_t a[240], b[76];
        uint8_t unimpl[12] = {0x21, 0x02, 0x07, 0x00, 0x21, 0x00,
                              0x00, 0x56, 0xFF, 0xFF, 0xFF, 0xFF};
        T t;

        t_start(&t, NULL);
        two_packet_request(a, b, 7, 0x56000021);
        t_send_raw(&t, a, sizeof(a));
        t_silence(&t, SILENCE_MS); /* nothing until the message is complete */
        t_send_raw(&t, b, sizeof(b));
        expect_pkt(&t, unimpl, sizeof(unimpl));
        t_stop(&t);
}

TEST(mismatched_continuation_dropped_partial_kept)
{
        uint8_t a[240], b[76], bad[76];
        uint8_t unimpl[12] = {0x21, 0x02, 0x07, 0x00, 0x21, 0x00,
                              0x00, 0x56, 0xFF, 0xFF, 0xFF, 0xFF};
        T t;

        t_start(&t, NULL);
        two_packet_request(a, b, 7, 0x56000021);
        t_send_raw(&t, a, sizeof(a));
        memcpy(bad, b, sizeof(b));
        bad[2] = 8; /* other seq */
        t_send_raw(&t, bad, sizeof(bad));
        memcpy(bad, b, sizeof(b));
        bad[4] = 0x22; /* other msg_id */
        t_send_raw(&t, bad, sizeof(bad));
        memcpy(bad, b, sizeof(b));
        bad[1] = 2 << 2; /* other num_fragments */
        t_send_raw(&t, bad, sizeof(bad));
        t_silence(&t, SILENCE_MS);
        t_send_raw(&t, b, sizeof(b));
        expect_pkt(&t, unimpl, sizeof(unimpl));
        t_stop(&t);
}

TEST(new_request_discards_partial)
{
        uint8_t a[240], b[76];
        T t;

        t_start(&t, NULL);
        two_packet_request(a, b, 7, 0x56000021);
        t_send_raw(&t, a, sizeof(a));
        t_send_raw(&t, get_vmid_req, sizeof(get_vmid_req));
        expect_pkt(&t, get_vmid_reply, sizeof(get_vmid_reply));
        t_send_raw(&t, b, sizeof(b)); /* its message is gone: a stray continuation */
        t_silence(&t, SILENCE_MS);
        t_stop(&t);
}

TEST(largest_request_63_packets)
{
        static uint8_t big[14616];
        uint8_t unimpl[12] = {0x21, 0x02, 0x09, 0x00, 0x22, 0x00,
                              0x00, 0x56, 0xFF, 0xFF, 0xFF, 0xFF};
        T t;

        t_start(&t, NULL);
        memset(big, 0x11, sizeof(big));
        t_send_msg(&t, 1, 9, 0x56000022, big, sizeof(big)); /* 63 packets, num_fragments 62 */
        expect_pkt(&t, unimpl, sizeof(unimpl));
        t_stop(&t);
}

static void check_unimplemented(const char *profile, bool v17)
{
        static const uint32_t always[] = {0x56000021, 0x56000022, 0x56000055, 0x560000B1,
                                          0x56000007, 0x56000008, 0x5600000C, 0x00000001,
                                          0x00000002, 0x56000040, 0x5F000000};
        static const uint32_t v17_ids[] = {0x56000031, 0x56000033, 0x56000034};
        TOpts o = {.profile = profile};
        uint16_t seq = 100;
        T t;

        t_start(&t, &o);
        for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
                expect_err_reply(&t, seq++, always[i], "\0\0\0\0", 4, 0xFFFFFFFFu);
        for (size_t i = 0; i < 3; i++)
                /* v17: handled (an empty payload is the wrong length); open RM: unimplemented */
                expect_err_reply(&t, seq++, v17_ids[i], NULL, 0, v17 ? 0x4 : 0xFFFFFFFFu);
        t_stop(&t);
}

TEST(unimplemented_v17)
{
        check_unimplemented("v17", true);
}

TEST(unimplemented_open_rm)
{
        check_unimplemented("open-rm", false);
}

TEST(fixed_length_rules)
{
        static const uint32_t four[] = {0x56000001, 0x56000002, 0x56000004, 0x56000006,
                                        0x5600000B, 0x56000017, 0x56000020};
        static const size_t bad4[] = {0, 2, 3, 5, 8};
        static const uint8_t z[64];
        uint16_t seq = 1;
        T t;

        t_start(&t, NULL);
        for (size_t i = 0; i < sizeof(four) / sizeof(four[0]); i++)
                for (size_t j = 0; j < sizeof(bad4) / sizeof(bad4[0]); j++)
                        expect_err_reply(&t, seq++, four[i], z, bad4[j], 0x4);
        expect_err_reply(&t, seq++, 0x56000005, z, 4, 0x4); /* VM_STOP: 8 bytes */
        expect_err_reply(&t, seq++, 0x56000005, z, 7, 0x4);
        expect_err_reply(&t, seq++, 0x56000005, z, 9, 0x4);
        expect_err_reply(&t, seq++, 0x56000009, z, 39, 0x4); /* CONFIG_IMAGE: 40 */
        expect_err_reply(&t, seq++, 0x56000009, z, 41, 0x4);
        expect_err_reply(&t, seq++, 0x56000024, z, 1, 0x4); /* GET_VMID: empty */
        expect_err_reply(&t, seq++, 0x56000024, z, 4, 0x4);
        expect_err_reply(&t, seq++, 0x56000031, z, 15, 0x4); /* v17 BOOT_CONTEXT: 16 */
        expect_err_reply(&t, seq++, 0x56000031, z, 17, 0x4);
        expect_err_reply(&t, seq++, 0x56000034, z, 23, 0x4); /* ADDRESS_LAYOUT: 24 */
        expect_err_reply(&t, seq++, 0x56000034, z, 25, 0x4);
        expect_err_reply(&t, seq++, 0x56000033, z, 7, 0x4); /* DEMAND_PAGING: 8 + 16n */
        {
                uint8_t dp[24] = {0x80, 0, 0, 0, 1, 0, 0, 0}; /* n = 1 but 16 bytes short */
                expect_err_reply(&t, seq++, 0x56000033, dp, 16, 0x4);
                expect_err_reply(&t, seq++, 0x56000033, dp, 23, 0x4);
        }
        /* VM_INIT: the reserved half-word must be zero */
        ASSERT_EQ(t_alloc(&t), 0x80);
        expect_err_reply(&t, seq++, 0x5600000B, (uint8_t[]){0x80, 0, 1, 0}, 4, 0x4);
        /* the same with res 0 reaches the state check */
        expect_err_reply(&t, seq++, 0x5600000B, (uint8_t[]){0x80, 0, 0, 0}, 4, 0x14);
        t_stop(&t);
}

TEST(parcel_length_rules)
{
        static const uint8_t z[64];
        uint8_t lend[40] = {
            0, 0,    0, 0,    0,    0, 0, 0, /* mem_type, res, flags, res, label */
            1, 0,    0, 0,    0x80, 0, 7, 0, /* ACL: 1 entry {0x80, RWX} */
            1, 0,    0, 0,                   /* SGL: 1 entry */
            0, 0,    0, 0x80, 0,    0, 0, 0, /* ipa 0x80000000 */
            0, 0x10, 0, 0,    0,    0, 0, 0, /* size 0x1000 */
            0, 0,    0, 0,                   /* attr: 0 entries */
        };
        uint16_t seq = 1;
        T t;

        t_start(&t, NULL);
        expect_err_reply(&t, seq++, 0x51000012, z, 19, 0x4);    /* below 20 bytes */
        expect_err_reply(&t, seq++, 0x51000012, lend, 39, 0x4); /* lists do not fit */
        {
                uint8_t more[41];
                memcpy(more, lend, 40);
                more[40] = 0;
                expect_err_reply(&t, seq++, 0x51000012, more, 41, 0x4); /* trailing byte */
        }
        {
                uint8_t big[20] = {0};
                big[8] = 0x01; /* ACL count 513 */
                big[9] = 0x02;
                expect_err_reply(&t, seq++, 0x51000012, big, 20, 0x2);
        }
        expect_err_reply(&t, seq++, 0x51000018, z, 11, 0x4); /* APPEND: min 12 */
        expect_err_reply(&t, seq++, 0x51000011, z, 23, 0x4); /* ACCEPT: min 24 */
        expect_err_reply(&t, seq++, 0x51000014, z, 7, 0x4);  /* RELEASE: min 8 */
        expect_err_reply(&t, seq++, 0x51000015, z, 7, 0x4);  /* RECLAIM: min 8 */
        expect_err_reply(&t, seq++, 0x51000017, z, 11, 0x4); /* NOTIFY: min 12 */
        /* VMID 0x80 unknown: the ACL entry is invalid (0x6) once the length is right */
        expect_err_reply(&t, seq++, 0x51000012, lend, 40, 0x6);
        /* attr list may be absent altogether */
        ASSERT_EQ(t_alloc(&t), 0x80);
        {
                uint8_t out[8];
                size_t n;
                ASSERT_EQ(t_call(&t, 0x51000012, lend, 36, out, &n), 0);
                ASSERT_EQ(n, 4);
                ASSERT_EQ(out[0] | out[1] | out[2] | out[3], 0); /* first handle is 0 */
        }
        t_stop(&t);
}

TEST_MAIN()
