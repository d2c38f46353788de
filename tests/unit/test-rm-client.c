/* SPDX-License-Identifier: MIT */
/*
 * rm-client against a fake RM on a SOCK_SEQPACKET socketpair: exact request bytes, replies
 * and notifications written by hand from rm-protocol.md (sections 2, 4, 5, 8.1, 9).
 */
#include <fcntl.h>
#include <poll.h>
#include <time.h>

#include "rm-error.h"
#include "rm-ids.h"
#include "test-rm-client-fake.h"

#define VMID_80 0x80, 0x00, 0x00, 0x00

/* rm-protocol.md section 2, worked example: VM_START of VMID 0x80 with seq 5. */
TEST(vm_start_round_trip)
{
        const uint8_t payload[] = {VMID_80};
        CallResult res = {0};
        RmClientStats st;
        Fake f;

        fake_init(&f);
        rm_client_set_next_seq(f.client, 5);
        ASSERT_OK(rm_client_call(f.client, RM_VM_START, payload, sizeof(payload), 0, fake_call_cb,
                                 &res, NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        ASSERT_TRUE(!res.done);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, 0);
        ASSERT_EQ(res.rm_error, 0);
        ASSERT_EQ(res.len, 0);

        rm_client_get_stats(f.client, &st);
        ASSERT_EQ(st.calls, 1);
        ASSERT_EQ(st.requests_sent, 1);
        ASSERT_EQ(st.packets_sent, 1);
        ASSERT_EQ(st.replies, 1);
        ASSERT_EQ(st.bad_packets, 0);
        fake_done(&f);
}

/* VM_ALLOCATE(vmid 0) answered with the allocated VMID after the error word (section 8.1);
 * also a zero-length request (VM_GET_VMID-like) goes out as a bare header. */
TEST(reply_data_and_empty_request)
{
        const uint8_t payload[] = {0x00, 0x00, 0x00, 0x00};
        CallResult res = {0}, res2 = {0};
        Fake f;

        fake_init(&f);
        rm_client_set_next_seq(f.client, 0x0107);
        ASSERT_OK(rm_client_call(f.client, RM_VM_ALLOCATE, payload, sizeof(payload), 0,
                                 fake_call_cb, &res, NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x07, 0x01, 0x01, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x07, 0x01, 0x01, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00,
                      0x80, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, 0);
        ASSERT_EQ(res.len, 4);
        ASSERT_MEMEQ(res.data, ((const uint8_t[]){0x80, 0x00, 0x00, 0x00}), 4);

        /* VM_GET_VMID 0x56000024: no payload. */
        ASSERT_OK(rm_client_call(f.client, RM_VM_GET_VMID, NULL, 0, 0, fake_call_cb, &res2, NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x08, 0x01, 0x24, 0x00, 0x00, 0x56);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x08, 0x01, 0x24, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00,
                      0x03, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res2.done);
        ASSERT_EQ(res2.r, 0);
        ASSERT_EQ(res2.len, 4);
        ASSERT_EQ(res2.data[0], 0x03);
        fake_done(&f);
}

/* A non-zero RmError stays an RM error: -EREMOTEIO plus the code (section 5.2). */
TEST(rm_error_reply)
{
        const uint8_t payload[] = {VMID_80};
        CallResult res = {0}, res2 = {0};
        RmClientStats st;
        Fake f;

        fake_init(&f);
        rm_client_set_next_seq(f.client, 5);
        ASSERT_OK(rm_client_call(f.client, RM_VM_START, payload, sizeof(payload), 0, fake_call_cb,
                                 &res, NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        /* 0x14 VM_STATE */
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0x14, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, -EREMOTEIO);
        ASSERT_EQ(res.rm_error, RM_ERROR_VM_STATE);

        /* UNIMPLEMENTED 0xFFFFFFFF for VM_SET_BOOT_CONTEXT 0x56000031 on the open RM, with
         * a trailing word kept as data (the RM only does that for two calls, but the client
         * must not care). */
        ASSERT_OK(rm_client_call(f.client, RM_VM_SET_BOOT_CONTEXT, payload, sizeof(payload), 0,
                                 fake_call_cb, &res2, NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x06, 0x00, 0x31, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x06, 0x00, 0x31, 0x00, 0x00, 0x56, 0xff, 0xff, 0xff, 0xff,
                      0x01, 0x02, 0x03, 0x04);
        fake_run_until(&f, &res2.done);
        ASSERT_EQ(res2.r, -EREMOTEIO);
        ASSERT_U64_EQ(res2.rm_error, RM_ERROR_UNIMPLEMENTED);
        ASSERT_EQ(res2.len, 4);

        rm_client_get_stats(f.client, &st);
        ASSERT_EQ(st.rm_errors, 2);
        fake_done(&f);
}

static void fill_pattern(uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)(i * 7 + 3);
}

/* 500 bytes = 3 packets: first 0x09 ((2<<2)|1), continuations 0x08 (section 2), payload
 * split 232 + 232 + 36 (section 4.1). */
TEST(fragmented_request)
{
        uint8_t payload[500], got[512];
        CallResult res = {0};
        size_t n;
        Fake f;

        fill_pattern(payload, sizeof(payload));
        fake_init(&f);
        rm_client_set_next_seq(f.client, 0x1234);
        ASSERT_OK(rm_client_call(f.client, RM_MEM_LEND, payload, sizeof(payload), 0, fake_call_cb,
                                 &res, NULL));
        n = fake_rm_read(&f, got, sizeof(got));
        ASSERT_EQ(n, 240);
        ASSERT_MEMEQ(got, ((const uint8_t[]){0x21, 0x09, 0x34, 0x12, 0x12, 0x00, 0x00, 0x51}), 8);
        ASSERT_MEMEQ(got + 8, payload, 232);
        n = fake_rm_read(&f, got, sizeof(got));
        ASSERT_EQ(n, 240);
        ASSERT_MEMEQ(got, ((const uint8_t[]){0x21, 0x08, 0x34, 0x12, 0x12, 0x00, 0x00, 0x51}), 8);
        ASSERT_MEMEQ(got + 8, payload + 232, 232);
        n = fake_rm_read(&f, got, sizeof(got));
        ASSERT_EQ(n, 8 + 36);
        ASSERT_MEMEQ(got, ((const uint8_t[]){0x21, 0x08, 0x34, 0x12, 0x12, 0x00, 0x00, 0x51}), 8);
        ASSERT_MEMEQ(got + 8, payload + 464, 36);
        ASSERT_TRUE(fake_rm_idle(&f));

        /* MEM_LEND reply: err + u32 handle */
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x34, 0x12, 0x12, 0x00, 0x00, 0x51, 0x00, 0x00, 0x00, 0x00,
                      0x2a, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, 0);
        ASSERT_EQ(res.len, 4);
        ASSERT_EQ(res.data[0], 0x2a);
        fake_done(&f);
}

/* The largest request: 14384 bytes = 62 packets, num_fragments 61 -> byte 1 = 0xf5; one
 * byte more fails locally with -E2BIG and nothing is sent. */
TEST(request_size_limit)
{
        static uint8_t payload[14385];
        uint8_t got[512];
        CallResult res = {0};
        Fake f;

        fill_pattern(payload, sizeof(payload));
        fake_init(&f);
        rm_client_set_next_seq(f.client, 1);
        ASSERT_EQ(
            rm_client_call(f.client, RM_MEM_LEND, payload, 14385, 0, fake_call_cb, &res, NULL),
            -E2BIG);
        ASSERT_TRUE(fake_rm_idle(&f));
        ASSERT_OK(
            rm_client_call(f.client, RM_MEM_LEND, payload, 14384, 0, fake_call_cb, &res, NULL));
        for (unsigned i = 0; i < 62; i++) {
                size_t n = fake_rm_read(&f, got, sizeof(got));

                ASSERT_EQ(n, 240); /* 14384 = 62 x 232 exactly */
                ASSERT_EQ(got[0], 0x21);
                ASSERT_EQ(got[1], i == 0 ? 0xf5 : 0xf4);
                ASSERT_EQ(got[2], 0x01);
                ASSERT_EQ(got[3], 0x00);
                ASSERT_MEMEQ(got + 4, ((const uint8_t[]){0x12, 0x00, 0x00, 0x51}), 4);
                ASSERT_MEMEQ(got + 8, payload + 232 * i, 232);
        }
        ASSERT_TRUE(fake_rm_idle(&f));
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x01, 0x00, 0x12, 0x00, 0x00, 0x51, 0x00, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, 0);
        fake_done(&f);
}

/* A reply in two packets: first 0x06 ((1<<2)|2) with err + 228 data bytes, then a 0x04
 * continuation with 72 more (rm-protocol.md section 5.1: data starts at packet offset 12). */
TEST(fragmented_reply)
{
        uint8_t pkt[240], data[300];
        CallResult res = {0};
        Fake f;

        fill_pattern(data, sizeof(data));
        fake_init(&f);
        rm_client_set_next_seq(f.client, 0x0a0b);
        ASSERT_OK(rm_client_call(f.client, RM_VM_GET_HYP_RESOURCES, ((const uint8_t[]){VMID_80}), 4,
                                 0, fake_call_cb, &res, NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x0b, 0x0a, 0x20, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);

        memcpy(pkt, (const uint8_t[]){0x21, 0x06, 0x0b, 0x0a, 0x20, 0x00, 0x00, 0x56, 0, 0, 0, 0},
               12);
        memcpy(pkt + 12, data, 228);
        fake_rm_write(&f, pkt, 240);
        fake_run_idle(&f);
        ASSERT_TRUE(!res.done);
        memcpy(pkt, (const uint8_t[]){0x21, 0x04, 0x0b, 0x0a, 0x20, 0x00, 0x00, 0x56}, 8);
        memcpy(pkt + 8, data + 228, 72);
        fake_rm_write(&f, pkt, 80);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, 0);
        ASSERT_EQ(res.len, 300);
        ASSERT_MEMEQ(res.data, data, 300);
        fake_done(&f);
}

/* Only one request on the wire until its reply (section 4.4); calls go out in FIFO order. */
TEST(fifo_one_in_flight)
{
        CallResult res[3] = {0};
        Fake f;

        fake_init(&f);
        rm_client_set_next_seq(f.client, 0x20);
        for (unsigned i = 0; i < 3; i++) {
                const uint8_t p[] = {(uint8_t)(0x80 + i), 0x00, 0x00, 0x00};

                ASSERT_OK(rm_client_call(f.client, RM_VM_GET_STATE, p, sizeof(p), 0, fake_call_cb,
                                         &res[i], NULL));
        }
        /* The first went to the link at once (nothing was on the wire), the others wait. */
        ASSERT_TRUE(rm_client_busy(f.client));
        ASSERT_EQ(rm_client_queued(f.client), 2);
        for (unsigned i = 0; i < 3; i++) {
                FAKE_RM_EXPECT(&f, 0x21, 0x01, (uint8_t)(0x20 + i), 0x00, 0x17, 0x00, 0x00, 0x56,
                               (uint8_t)(0x80 + i), 0x00, 0x00, 0x00);
                /* nothing else until the reply */
                ASSERT_TRUE(fake_rm_idle(&f));
                ASSERT_TRUE(rm_client_busy(f.client));
                ASSERT_EQ(rm_client_queued(f.client), 2 - i);
                FAKE_RM_WRITE(&f, 0x21, 0x02, (uint8_t)(0x20 + i), 0x00, 0x17, 0x00, 0x00, 0x56,
                              0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00);
                fake_run_until(&f, &res[i].done);
                ASSERT_EQ(res[i].r, 0);
        }
        ASSERT_TRUE(res[0].order < res[1].order && res[1].order < res[2].order);
        ASSERT_TRUE(!rm_client_busy(f.client));
        fake_done(&f);
}

/* Queue keys: round-robin between keys, FIFO within one (architecture.md "no starvation"). */
TEST(per_queue_round_robin)
{
        CallResult res[4] = {0};
        /* A1 A2 A3 (key 0x80) then B1 (key 0x81): on the wire A1 B1 A2 A3. */
        const uint8_t keys[4] = {0x80, 0x80, 0x80, 0x81};
        const unsigned wire_order[4] = {0, 3, 1, 2};
        Fake f;

        fake_init(&f);
        rm_client_set_next_seq(f.client, 0);
        for (unsigned i = 0; i < 4; i++) {
                const uint8_t p[] = {keys[i], 0x00, (uint8_t)i, 0x00};

                ASSERT_OK(rm_client_call_queued(f.client, keys[i], RM_VM_GET_STATE, p, sizeof(p), 0,
                                                fake_call_cb, &res[i], NULL));
        }
        for (unsigned k = 0; k < 4; k++) {
                unsigned i = wire_order[k];

                FAKE_RM_EXPECT(&f, 0x21, 0x01, (uint8_t)k, 0x00, 0x17, 0x00, 0x00, 0x56, keys[i],
                               0x00, (uint8_t)i, 0x00);
                FAKE_RM_WRITE(&f, 0x21, 0x02, (uint8_t)k, 0x00, 0x17, 0x00, 0x00, 0x56, 0x00, 0x00,
                              0x00, 0x00);
                fake_run_until(&f, &res[i].done);
        }
        fake_done(&f);
}

/* 16-bit cyclic seq: 65535 is followed by 0 (section 4.3). */
TEST(seq_wraps)
{
        CallResult res[2] = {0};
        Fake f;

        fake_init(&f);
        rm_client_set_next_seq(f.client, 0xffff);
        ASSERT_OK(rm_client_call(f.client, RM_VM_START, ((const uint8_t[]){VMID_80}), 4, 0,
                                 fake_call_cb, &res[0], NULL));
        ASSERT_OK(rm_client_call(f.client, RM_VM_START, ((const uint8_t[]){VMID_80}), 4, 0,
                                 fake_call_cb, &res[1], NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0xff, 0xff, 0x04, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0xff, 0xff, 0x04, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res[0].done);
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x00, 0x00, 0x04, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x00, 0x00, 0x04, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res[1].done);
        ASSERT_EQ(res[0].r, 0);
        ASSERT_EQ(res[1].r, 0);
        fake_done(&f);
}

/* Replies match by seq AND msg_id (section 4.2); others are ignored and counted. */
TEST(reply_mismatch_ignored)
{
        CallResult res = {0};
        RmClientStats st;
        Fake f;

        fake_init(&f);
        rm_client_set_next_seq(f.client, 5);
        ASSERT_OK(rm_client_call(f.client, RM_VM_START, ((const uint8_t[]){VMID_80}), 4, 0,
                                 fake_call_cb, &res, NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        /* wrong seq (6) */
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x06, 0x00, 0x04, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        /* right seq, wrong msg_id (VM_STOP 0x56000005) */
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x05, 0x00, 0x05, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        fake_run_idle(&f);
        ASSERT_TRUE(!res.done);
        rm_client_get_stats(f.client, &st);
        ASSERT_EQ(st.unmatched_replies, 2);
        ASSERT_TRUE(rm_client_busy(f.client));
        /* now the right one, with an RM error to prove the right bytes are used */
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0x05, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, -EREMOTEIO);
        ASSERT_EQ(res.rm_error, RM_ERROR_BUSY);
        fake_done(&f);
}

/* Force VM_STOP: the RM sends NOTIFY_VM_STATUS(EXITED) and NOTIFY_VM_EXITED before the reply
 * (section 8.1 / 9 "Ordering facts"); handlers run in that order, then the callback. */
TEST(notifications_before_reply)
{
        CallResult res = {0};
        Fake f;

        fake_init(&f);
        rm_client_set_next_seq(f.client, 9);
        ASSERT_OK(
            rm_client_call(f.client, RM_VM_STOP,
                           ((const uint8_t[]){0x80, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00}), 8,
                           0, fake_call_cb, &res, NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x09, 0x00, 0x05, 0x00, 0x00, 0x56, 0x80, 0x00, 0x01, 0x00,
                       0x03, 0x00, 0x00, 0x00);
        /* all three queued before the client reads any */
        FAKE_RM_WRITE(&f, 0x21, 0x03, 0x00, 0x00, 0x08, 0x00, 0x10, 0x56, 0x80, 0x00, 0x00, 0x00,
                      0x09, 0x00, 0x00, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x03, 0x01, 0x00, 0x01, 0x00, 0x10, 0x56, 0x80, 0x00, 0x07, 0x00,
                      0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x09, 0x00, 0x05, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, 0);
        ASSERT_EQ(f.n_notif, 2);
        ASSERT_U64_EQ(f.notif_id[0], RM_NOTIFY_VM_STATUS);
        ASSERT_U64_EQ(f.notif_id[1], RM_NOTIFY_VM_EXITED);
        ASSERT_EQ(f.notif_len[0], 8);
        ASSERT_EQ(f.notif_first[0][4], 9); /* EXITED */
        ASSERT_EQ(f.notif_len[1], 12);
        ASSERT_EQ(f.notif_first[1][2], 7); /* VM_STOP_FORCED */
        ASSERT_TRUE(f.notif_order[0] < f.notif_order[1]);
        ASSERT_TRUE(f.notif_order[1] < res.order);
        fake_done(&f);
}

/* A timed-out call frees the wire; its late reply is ignored; the next call works. */
TEST(timeout_late_reply_next_ok)
{
        CallResult res = {0}, res2 = {0};
        RmClientStats st;
        Fake f;

        fake_init(&f);
        rm_client_set_next_seq(f.client, 0x40);
        ASSERT_OK(rm_client_call(f.client, RM_VM_RESET, ((const uint8_t[]){VMID_80}), 4, 100 * 1000,
                                 fake_call_cb, &res, NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x40, 0x00, 0x06, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, -ETIMEDOUT);

        ASSERT_OK(rm_client_call(f.client, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}), 4, 0,
                                 fake_call_cb, &res2, NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x41, 0x00, 0x17, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        /* the late reply to 0x40 arrives first */
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x40, 0x00, 0x06, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x41, 0x00, 0x17, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00,
                      0x09, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res2.done);
        ASSERT_EQ(res2.r, 0);
        ASSERT_EQ(res2.len, 4);
        rm_client_get_stats(f.client, &st);
        ASSERT_EQ(st.timeouts, 1);
        ASSERT_EQ(st.unmatched_replies, 1);
        fake_done(&f);
}

/* With nothing on the wire a call reaches the link inside rm_client_call() (no loop turn);
 * its callback still runs from the loop. */
TEST(sent_at_once_when_idle)
{
        CallResult res = {0};
        Fake f;

        fake_init(&f);
        rm_client_set_next_seq(f.client, 0x30);
        ASSERT_OK(rm_client_call(f.client, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}), 4, 0,
                                 fake_call_cb, &res, NULL));
        ASSERT_TRUE(rm_client_busy(f.client));
        ASSERT_EQ(rm_client_queued(f.client), 0);
        {
                uint8_t buf[256];
                struct pollfd p = {.fd = f.rm_fd, .events = POLLIN};

                /* already in the fake RM's socket, before any loop iteration */
                ASSERT_EQ(poll(&p, 1, 0), 1);
                ASSERT_EQ(fake_rm_read(&f, buf, sizeof(buf)), 12);
                ASSERT_EQ(buf[2], 0x30);
        }
        ASSERT_TRUE(!res.done);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x30, 0x00, 0x17, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, 0);
        fake_done(&f);
}

/* A send that fails inside rm_client_call() (the link broke on an earlier write, not yet
 * noticed by the loop) never runs the callback on the caller's stack: the call is accepted
 * and fails from the loop. */
TEST(failed_send_completes_from_the_loop)
{
        static const uint8_t junk[12] = {0x21, 0x01};
        CallResult res = {0};
        RmClientStats st;
        Fake f;

        fake_init(&f);
        close(f.rm_fd);
        f.rm_fd = -1;
        /* A raw write finds the peer gone (EPIPE): the link parks the error for the loop and
         * refuses every later packet, while still up until the loop notices. */
        ASSERT_OK(rm_link_send(f.link, junk, sizeof(junk)));
        ASSERT_TRUE(rm_client_is_connected(f.client));
        ASSERT_OK(rm_client_call(f.client, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}), 4, 0,
                                 fake_call_cb, &res, NULL));
        ASSERT_TRUE(!res.done);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, -ENOTCONN);
        fake_run_idle(&f);
        ASSERT_TRUE(!rm_client_busy(f.client));
        ASSERT_EQ(rm_client_queued(f.client), 0);
        rm_client_get_stats(f.client, &st);
        ASSERT_EQ(st.requests_sent, 0);
        fake_done(&f);
}

/* The timer is armed lazily: after a fast reply to a short-timeout call it stays armed for
 * that call's deadline; a later call with a longer timeout must not time out then, but at its
 * own deadline. A call with an earlier deadline than the armed one must time out on time. */
TEST(lazy_timer_deadlines)
{
        CallResult res[3] = {0};
        uint64_t t0;
        Fake f;

        fake_init(&f);
        rm_client_set_next_seq(f.client, 0x50);
        /* 1: 100 ms, answered at once */
        ASSERT_OK(rm_client_call(f.client, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}), 4,
                                 100 * 1000, fake_call_cb, &res[0], NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x50, 0x00, 0x17, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x50, 0x00, 0x17, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res[0].done);
        ASSERT_EQ(res[0].r, 0);
        /* 2: 600 ms, never answered: it outlives the 100 ms the timer was armed for */
        t0 = fake_now();
        ASSERT_OK(rm_client_call(f.client, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}), 4,
                                 600 * 1000, fake_call_cb, &res[1], NULL));
        fake_run_until(&f, &res[1].done);
        ASSERT_EQ(res[1].r, -ETIMEDOUT);
        ASSERT_TRUE(fake_now() - t0 >= 600 * 1000);
        /* 3: a 10 s call answered at once, then a 150 ms call that is never answered: the
         * armed 10 s deadline is moved earlier */
        ASSERT_OK(rm_client_call(f.client, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}), 4,
                                 10 * 1000 * 1000, fake_call_cb, &res[2], NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x51, 0x00, 0x17, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x52, 0x00, 0x17, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x52, 0x00, 0x17, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res[2].done);
        ASSERT_EQ(res[2].r, 0);
        {
                CallResult late = {0};

                t0 = fake_now();
                ASSERT_OK(rm_client_call(f.client, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}),
                                         4, 150 * 1000, fake_call_cb, &late, NULL));
                fake_run_until(&f, &late.done);
                ASSERT_EQ(late.r, -ETIMEDOUT);
                /* on time: its deadline plus sd-event's default accuracy (250 ms), far from
                 * the 10 s the timer was armed for */
                ASSERT_TRUE(fake_now() - t0 >= 150 * 1000);
                ASSERT_TRUE(fake_now() - t0 < 2 * 1000 * 1000);
        }
        fake_done(&f);
}

/* The default timeout is configurable. */
TEST(default_timeout)
{
        CallResult res = {0};
        uint64_t t0;
        Fake f;

        fake_init(&f);
        rm_client_set_default_timeout(f.client, 150 * 1000);
        t0 = fake_now();
        ASSERT_OK(rm_client_call(f.client, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}), 4, 0,
                                 fake_call_cb, &res, NULL));
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, -ETIMEDOUT);
        ASSERT_TRUE(fake_now() - t0 >= 150 * 1000);
        fake_done(&f);
}

/* Link loss fails the call on the wire and every queued one with -ENOTCONN; new calls are
 * refused; the manager's handler hears about it. */
TEST(link_close_fails_all)
{
        CallResult res[3] = {0};
        RmClientStats st;
        Fake f;

        fake_init(&f);
        for (unsigned i = 0; i < 3; i++)
                ASSERT_OK(rm_client_call(f.client, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}), 4,
                                         0, fake_call_cb, &res[i], NULL));
        {
                uint8_t buf[256];

                (void)fake_rm_read(&f, buf, sizeof(buf));
        }
        close(f.rm_fd);
        f.rm_fd = -1;
        fake_run_until(&f, &res[2].done);
        for (unsigned i = 0; i < 3; i++)
                ASSERT_EQ(res[i].r, -ENOTCONN);
        ASSERT_EQ(f.downs, 1);
        ASSERT_EQ(f.down_error, -ECONNRESET);
        ASSERT_TRUE(!rm_client_is_connected(f.client));
        ASSERT_EQ(rm_client_call(f.client, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}), 4, 0,
                                 fake_call_cb, &res[0], NULL),
                  -ENOTCONN);
        rm_client_get_stats(f.client, &st);
        ASSERT_EQ(st.link_failures, 3);
        fake_done(&f);
}

/* Cancel: a waiting call completes at once; the call on the wire completes at once but keeps
 * the wire until its reply, so the next request never overlaps it. */
TEST(cancel)
{
        CallResult res[3] = {0};
        RmCall *calls[3];
        Fake f;

        fake_init(&f);
        rm_client_set_next_seq(f.client, 0x50);
        for (unsigned i = 0; i < 3; i++)
                ASSERT_OK(rm_client_call(f.client, RM_VM_GET_STATE,
                                         ((const uint8_t[]){(uint8_t)(0x80 + i), 0, 0, 0}), 4, 0,
                                         fake_call_cb, &res[i], &calls[i]));
        rm_call_cancel(calls[1]);
        ASSERT_TRUE(res[1].done);
        ASSERT_EQ(res[1].r, -ECANCELED);

        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x50, 0x00, 0x17, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        rm_call_cancel(calls[0]);
        ASSERT_TRUE(res[0].done);
        ASSERT_EQ(res[0].r, -ECANCELED);
        ASSERT_TRUE(fake_rm_idle(&f)); /* call 2 waits for the reply to 0x50 */
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x50, 0x00, 0x17, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x51, 0x00, 0x17, 0x00, 0x00, 0x56, 0x82, 0x00, 0x00, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x51, 0x00, 0x17, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res[2].done);
        ASSERT_EQ(res[2].r, 0);
        fake_done(&f);
}

static unsigned resubmit_refused;

/* A callback that tries to start another call, as a retry loop would. */
static void resubmit_cb(RmClient *c, int r, uint32_t e, const uint8_t *d, size_t n, void *u)
{
        ASSERT_EQ(r, -ECANCELED);
        ASSERT_EQ(rm_client_call(c, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}), 4, 0,
                                 resubmit_cb, u, NULL),
                  -ENOTCONN);
        resubmit_refused++;
}

/* rm_client_free() cancels everything with callbacks, and refuses calls made from them. */
TEST(free_cancels)
{
        CallResult res[2] = {0};
        Fake f;

        fake_init(&f);
        for (unsigned i = 0; i < 2; i++)
                ASSERT_OK(rm_client_call(f.client, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}), 4,
                                         0, fake_call_cb, &res[i], NULL));
        ASSERT_OK(rm_client_call(f.client, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}), 4, 0,
                                 resubmit_cb, NULL, NULL));
        fake_run_idle(&f);
        f.client = rm_client_free(f.client);
        ASSERT_EQ(res[0].r, -ECANCELED);
        ASSERT_EQ(res[1].r, -ECANCELED);
        ASSERT_EQ(resubmit_refused, 1);
        fake_done(&f);
}

typedef struct NotifyCtx {
        RmClient *c;
        RmNotifyHandler *self;
        unsigned calls;
        RmNotifyHandler *added;
        Fake *f;
} NotifyCtx;

static void notify_remove_self(RmClient *c, uint32_t id, const uint8_t *p, size_t len, void *u)
{
        NotifyCtx *ctx = u;

        ctx->calls++;
        rm_client_remove_notify_handler(c, ctx->self);
        /* a handler added now sees the next notification, not this one */
        ASSERT_OK(rm_client_add_notify_handler(c, RM_NOTIFY_VM_STATUS, fake_notify_cb, ctx->f,
                                               &ctx->added));
}

/* Filters by ID, removal and addition from inside a handler, unknown IDs not delivered. */
TEST(notify_handlers)
{
        NotifyCtx ctx = {0};
        Fake f;

        fake_init(&f);
        ctx.f = &f;
        ASSERT_OK(rm_client_add_notify_handler(f.client, RM_NOTIFY_VM_STATUS, notify_remove_self,
                                               &ctx, &ctx.self));
        /* NOTIFY_VM_STATUS twice, then MEM_RELEASED (0x51100012): handle, vmid, res, tag */
        FAKE_RM_WRITE(&f, 0x21, 0x03, 0x00, 0x00, 0x08, 0x00, 0x10, 0x56, 0x80, 0x00, 0x00, 0x00,
                      0x03, 0x04, 0x00, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x03, 0x01, 0x00, 0x08, 0x00, 0x10, 0x56, 0x80, 0x00, 0x00, 0x00,
                      0x09, 0x00, 0x00, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x03, 0x02, 0x00, 0x12, 0x00, 0x10, 0x51, 0x07, 0x00, 0x00, 0x00,
                      0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00);
        {
                uint64_t end = fake_now() + FAKE_DEADLINE_USEC;

                while (f.n_notif < 4) {
                        ASSERT_TRUE(fake_now() < end);
                        ASSERT_OK(sd_event_run(f.e, 50 * 1000));
                }
        }
        ASSERT_EQ(ctx.calls, 1);
        /* catch-all: 3; the handler added during the first: the second VM_STATUS only */
        ASSERT_EQ(f.n_notif, 4);
        ASSERT_U64_EQ(f.notif_id[0], RM_NOTIFY_VM_STATUS);
        ASSERT_U64_EQ(f.notif_id[1], RM_NOTIFY_VM_STATUS);
        ASSERT_U64_EQ(f.notif_id[2], RM_NOTIFY_VM_STATUS);
        ASSERT_U64_EQ(f.notif_id[3], RM_NOTIFY_MEM_RELEASED);
        ASSERT_EQ(f.notif_first[1][4], 9);
        ASSERT_EQ(f.notif_first[2][4], 9);
        rm_client_remove_notify_handler(f.client, ctx.added);
        fake_done(&f);
}

typedef struct Latency {
        unsigned n;
        uint32_t msg_id;
        int r;
        uint64_t rpc;
} Latency;

static void latency_cb(RmClient *c, uint32_t msg_id, int r, uint64_t q, uint64_t rpc, void *u)
{
        Latency *l = u;

        l->n++;
        l->msg_id = msg_id;
        l->r = r;
        l->rpc = rpc;
}

TEST(latency_hook)
{
        CallResult res = {0};
        Latency lat = {0};
        Fake f;

        fake_init(&f);
        rm_client_set_latency_hook(f.client, latency_cb, &lat);
        rm_client_set_next_seq(f.client, 5);
        ASSERT_OK(rm_client_call(f.client, RM_VM_START, ((const uint8_t[]){VMID_80}), 4, 0,
                                 fake_call_cb, &res, NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        usleep(2000);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(lat.n, 1);
        ASSERT_U64_EQ(lat.msg_id, RM_VM_START);
        ASSERT_EQ(lat.r, 0);
        ASSERT_TRUE(lat.rpc >= 2000);
        fake_done(&f);
}

/* Callbacks chain the next call from inside the callback (the manager's usual pattern). */
typedef struct Chain {
        Fake *f;
        unsigned left;
        unsigned completed;
        CallResult scratch;
} Chain;

static void chain_cb(RmClient *c, int r, uint32_t e, const uint8_t *d, size_t n, void *u)
{
        Chain *ch = u;

        ASSERT_EQ(r, 0);
        ch->completed++;
        if (ch->left > 0) {
                ch->left--;
                ASSERT_OK(rm_client_call(c, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}), 4, 0,
                                         chain_cb, ch, NULL));
        }
}

TEST(chained_calls)
{
        Chain ch = {.left = 9};
        uint8_t buf[256];
        Fake f;

        fake_init(&f);
        ch.f = &f;
        rm_client_set_next_seq(f.client, 0xfffa);
        ASSERT_OK(rm_client_call(f.client, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}), 4, 0,
                                 chain_cb, &ch, NULL));
        for (unsigned i = 0; i < 10; i++) {
                uint16_t seq = (uint16_t)(0xfffa + i);
                size_t n = fake_rm_read(&f, buf, sizeof(buf));

                ASSERT_EQ(n, 12);
                ASSERT_EQ(buf[2], seq & 0xff);
                ASSERT_EQ(buf[3], seq >> 8);
                FAKE_RM_WRITE(&f, 0x21, 0x02, (uint8_t)(seq & 0xff), (uint8_t)(seq >> 8), 0x17,
                              0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        }
        {
                uint64_t end = fake_now() + FAKE_DEADLINE_USEC;

                while (ch.completed < 10) {
                        ASSERT_TRUE(fake_now() < end);
                        ASSERT_OK(sd_event_run(f.e, 50 * 1000));
                }
        }
        fake_done(&f);
}

typedef struct LatencyHist {
        unsigned n;
        uint64_t v[5000];
} LatencyHist;

static void hist_cb(RmClient *c, uint32_t msg_id, int r, uint64_t q, uint64_t rpc, void *u)
{
        LatencyHist *h = u;

        if (h->n < ELEMENTSOF(h->v))
                h->v[h->n++] = rpc;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

/* Not a timing assertion: 5000 sequential round trips through the fake RM (same thread),
 * every one checked, with the latency hook's figures printed for the record. */
TEST(round_trip_figures)
{
        static LatencyHist h;
        uint8_t buf[256];
        uint64_t t0, dt;
        Fake f;

        fake_init(&f);
        rm_client_set_latency_hook(f.client, hist_cb, &h);
        rm_client_set_next_seq(f.client, 0);
        t0 = fake_now();
        for (unsigned i = 0; i < ELEMENTSOF(h.v); i++) {
                CallResult res = {0};
                uint16_t seq = (uint16_t)i;

                ASSERT_OK(rm_client_call(f.client, RM_VM_GET_STATE, ((const uint8_t[]){VMID_80}), 4,
                                         0, fake_call_cb, &res, NULL));
                ASSERT_EQ(fake_rm_read(&f, buf, sizeof(buf)), 12);
                ASSERT_EQ(buf[2], seq & 0xff);
                ASSERT_EQ(buf[3], seq >> 8);
                FAKE_RM_WRITE(&f, 0x21, 0x02, (uint8_t)seq, (uint8_t)(seq >> 8), 0x17, 0x00, 0x00,
                              0x56, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00);
                fake_run_until(&f, &res.done);
                ASSERT_EQ(res.r, 0);
        }
        dt = fake_now() - t0;
        ASSERT_EQ(h.n, ELEMENTSOF(h.v));
        qsort(h.v, h.n, sizeof(h.v[0]), cmp_u64);
        fprintf(stderr,
                "figures: %u round trips in %" PRIu64 " ms (%.0f calls/s); rpc latency "
                "p50 %" PRIu64 " us, p99 %" PRIu64 " us, max %" PRIu64 " us\n",
                h.n, dt / 1000, h.n * 1e6 / (double)(dt ? dt : 1), h.v[h.n / 2],
                h.v[h.n * 99 / 100], h.v[h.n - 1]);
        fake_done(&f);
}

TEST_MAIN()
