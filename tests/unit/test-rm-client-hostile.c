/* SPDX-License-Identifier: MIT */
/*
 * rm-client against broken or hostile input from the link (rm-protocol.md sections 2, 4.2):
 * every case is logged with its bytes, counted, never crashes and never wedges the client;
 * after each one a normal call still works.
 */
#include <stdio.h>

#include "rm-error.h"
#include "rm-ids.h"
#include "test-rm-client-fake.h"

typedef struct LogCapture {
        unsigned warnings, debugs;
        char last[2048];
        bool saw_hex;
        const char *want_hex;
} LogCapture;

static LogCapture cap;

static void sink(int level, const char *msg, const char *const *fields, void *u)
{
        if (level == LOG_WARNING) {
                cap.warnings++;
                snprintf(cap.last, sizeof(cap.last), "%s", msg);
                if (cap.want_hex && strstr(msg, cap.want_hex))
                        cap.saw_hex = true;
        } else if (level == LOG_DEBUG)
                cap.debugs++;
}

static void cap_reset(const char *want_hex)
{
        memset(&cap, 0, sizeof(cap));
        cap.want_hex = want_hex;
        log_set_sink(sink, NULL);
}

/* A VM_GET_STATE round trip with the given seq, to prove the client still works. */
static void round_trip(Fake *f, uint16_t seq)
{
        CallResult res = {0};

        rm_client_set_next_seq(f->client, seq);
        ASSERT_OK(rm_client_call(f->client, RM_VM_GET_STATE,
                                 ((const uint8_t[]){0x80, 0x00, 0x00, 0x00}), 4, 0, fake_call_cb,
                                 &res, NULL));
        FAKE_RM_EXPECT(f, 0x21, 0x01, (uint8_t)seq, (uint8_t)(seq >> 8), 0x17, 0x00, 0x00, 0x56,
                       0x80, 0x00, 0x00, 0x00);
        FAKE_RM_WRITE(f, 0x21, 0x02, (uint8_t)seq, (uint8_t)(seq >> 8), 0x17, 0x00, 0x00, 0x56,
                      0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00);
        fake_run_until(f, &res.done);
        ASSERT_EQ(res.r, 0);
        ASSERT_EQ(res.len, 4);
        ASSERT_EQ(res.data[0], 0x03);
}

/* Start a VM_START (seq 5) and check its request bytes. */
static void start_call(Fake *f, CallResult *res)
{
        rm_client_set_next_seq(f->client, 5);
        ASSERT_OK(rm_client_call(f->client, RM_VM_START,
                                 ((const uint8_t[]){0x80, 0x00, 0x00, 0x00}), 4, 0, fake_call_cb,
                                 res, NULL));
        FAKE_RM_EXPECT(f, 0x21, 0x01, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
}

static void reply_ok_seq5(Fake *f, CallResult *res)
{
        FAKE_RM_WRITE(f, 0x21, 0x02, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        fake_run_until(f, &res->done);
        ASSERT_EQ(res->r, 0);
}

/* Bad headers: short, wrong version, wrong header words, too many fragments, oversize,
 * empty. All dropped (the RM drops the same silently, section 2); the call survives. */
TEST(bad_headers)
{
        uint8_t big[300];
        CallResult res = {0};
        RmClientStats st;
        Fake f;

        cap_reset("21 3e 05 00 04 00 00 56");
        fake_init(&f);
        start_call(&f, &res);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x05, 0x00, 0x04);                               /* 5 bytes */
        FAKE_RM_WRITE(&f, 0x22, 0x02, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0, 0, 0, 0); /* v2 */
        FAKE_RM_WRITE(&f, 0x31, 0x02, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0, 0, 0, 0); /* 3 words */
        /* num_fragments 63 on a reply: (63 << 2) | 2 = 0xfe; 0x3e = (15<<2)|2 is allowed but
         * then interrupted below. */
        FAKE_RM_WRITE(&f, 0x21, 0xfe, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0, 0, 0, 0);
        memset(big, 0, sizeof(big));
        memcpy(big, (const uint8_t[]){0x21, 0x02, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56}, 8);
        fake_rm_write(&f, big, sizeof(big)); /* 300 > 240 */
        fake_rm_write(&f, big, 0);           /* empty packet: not EOF */
        fake_run_idle(&f);
        ASSERT_TRUE(!res.done);
        ASSERT_TRUE(rm_client_is_connected(f.client));
        rm_client_get_stats(f.client, &st);
        ASSERT_EQ(st.bad_packets, 6);
        ASSERT_EQ(st.packets_received, 6);
        ASSERT_TRUE(cap.warnings >= 6);
        reply_ok_seq5(&f, &res);

        /* the hex of a bad packet is in the log line */
        cap_reset("21 3e 05 00 04 00 00 56");
        FAKE_RM_WRITE(&f, 0x21, 0x3e, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x03, 0x00, 0x00, 0x08, 0x00, 0x10, 0x56, 0x80, 0x00, 0x00, 0x00,
                      0x03, 0x00, 0x00, 0x00);
        {
                uint64_t end = fake_now() + FAKE_DEADLINE_USEC;

                while (f.n_notif < 1) {
                        ASSERT_TRUE(fake_now() < end);
                        ASSERT_OK(sd_event_run(f.e, 50 * 1000));
                }
        }
        round_trip(&f, 100);
        log_set_sink(NULL, NULL);
        fake_done(&f);
}

/* Continuation with nothing in progress; a REQUEST-type message from the RM; a reply with
 * no call on the wire: all logged with bytes and ignored. */
TEST(stray_messages)
{
        RmClientStats st;
        Fake f;

        cap_reset("21 01 07 00 04 00 00 56 80 00 00 00");
        fake_init(&f);
        FAKE_RM_WRITE(&f, 0x21, 0x00, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x01, 0x07, 0x00, 0x04, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x07, 0x00, 0x04, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        {
                uint64_t end = fake_now() + FAKE_DEADLINE_USEC;

                do {
                        ASSERT_TRUE(fake_now() < end);
                        ASSERT_OK(sd_event_run(f.e, 50 * 1000));
                        rm_client_get_stats(f.client, &st);
                } while (st.packets_received < 3);
        }
        ASSERT_EQ(st.bad_packets, 2);
        ASSERT_EQ(st.unmatched_replies, 1);
        ASSERT_TRUE(cap.saw_hex);
        round_trip(&f, 7);
        log_set_sink(NULL, NULL);
        fake_done(&f);
}

/* A notification ID we do not know is dropped, not delivered; so is a request ID sent as a
 * notification. */
TEST(unknown_notification)
{
        RmClientStats st;
        Fake f;

        cap_reset(NULL);
        fake_init(&f);
        FAKE_RM_WRITE(&f, 0x21, 0x03, 0x00, 0x00, 0x99, 0x00, 0x10, 0x56, 0x01, 0x02);
        FAKE_RM_WRITE(&f, 0x21, 0x03, 0x01, 0x00, 0x04, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        /* then a real one, to know when to stop */
        FAKE_RM_WRITE(&f, 0x21, 0x03, 0x02, 0x00, 0x08, 0x00, 0x10, 0x56, 0x80, 0x00, 0x00, 0x00,
                      0x03, 0x00, 0x00, 0x00);
        {
                uint64_t end = fake_now() + FAKE_DEADLINE_USEC;

                while (f.n_notif < 1) {
                        ASSERT_TRUE(fake_now() < end);
                        ASSERT_OK(sd_event_run(f.e, 50 * 1000));
                }
        }
        ASSERT_EQ(f.n_notif, 1);
        ASSERT_U64_EQ(f.notif_id[0], RM_NOTIFY_VM_STATUS);
        rm_client_get_stats(f.client, &st);
        ASSERT_EQ(st.unknown_notifications, 2);
        ASSERT_EQ(st.notifications, 1);
        ASSERT_TRUE(cap.warnings >= 2);
        ASSERT_TRUE(!rm_client_notification_known(RM_VM_START));
        ASSERT_TRUE(rm_client_notification_known(RM_NOTIFY_MEM_ACCEPTED));
        round_trip(&f, 1);
        log_set_sink(NULL, NULL);
        fake_done(&f);
}

/* A reply in progress interrupted by a new message: the call fails with -EIO (Linux does
 * the same, section 4.2), then the interrupting notification is delivered. */
TEST(reply_aborted_by_new_message)
{
        uint8_t pkt[240];
        CallResult res = {0};
        Fake f;

        cap_reset(NULL);
        fake_init(&f);
        start_call(&f, &res);
        memset(pkt, 0xab, sizeof(pkt));
        /* reply, 2 continuations announced: (2<<2)|2 = 0x0a */
        memcpy(pkt, (const uint8_t[]){0x21, 0x0a, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0, 0, 0, 0},
               12);
        fake_rm_write(&f, pkt, 240);
        FAKE_RM_WRITE(&f, 0x21, 0x03, 0x00, 0x00, 0x08, 0x00, 0x10, 0x56, 0x80, 0x00, 0x00, 0x00,
                      0x03, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, -EIO);
        fake_run_idle(&f);
        ASSERT_EQ(f.n_notif, 1);
        ASSERT_TRUE(res.order < f.notif_order[0]);
        round_trip(&f, 0x200);
        log_set_sink(NULL, NULL);
        fake_done(&f);
}

/* A continuation of another message (different msg_id, or different num_fragments) aborts
 * the reply in progress (client policy). */
TEST(reply_aborted_by_mismatched_continuation)
{
        uint8_t pkt[240];
        CallResult res = {0}, res2 = {0};
        Fake f;

        cap_reset(NULL);
        fake_init(&f);
        start_call(&f, &res);
        memset(pkt, 0, sizeof(pkt));
        memcpy(pkt, (const uint8_t[]){0x21, 0x06, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56}, 8);
        fake_rm_write(&f, pkt, 240);
        /* continuation with msg_id VM_STOP */
        FAKE_RM_WRITE(&f, 0x21, 0x04, 0x05, 0x00, 0x05, 0x00, 0x00, 0x56, 0x01);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, -EIO);

        /* again with num_fragments changing from 1 to 2 */
        rm_client_set_next_seq(f.client, 6);
        ASSERT_OK(rm_client_call(f.client, RM_VM_START, ((const uint8_t[]){0x80, 0x00, 0x00, 0x00}),
                                 4, 0, fake_call_cb, &res2, NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x06, 0x00, 0x04, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        memcpy(pkt, (const uint8_t[]){0x21, 0x06, 0x06, 0x00, 0x04, 0x00, 0x00, 0x56}, 8);
        fake_rm_write(&f, pkt, 240);
        FAKE_RM_WRITE(&f, 0x21, 0x08, 0x06, 0x00, 0x04, 0x00, 0x00, 0x56, 0x01);
        fake_run_until(&f, &res2.done);
        ASSERT_EQ(res2.r, -EIO);
        round_trip(&f, 0x300);
        log_set_sink(NULL, NULL);
        fake_done(&f);
}

/* A matching reply without its 4-byte error word fails the call with -EBADMSG. */
TEST(reply_too_short)
{
        CallResult res = {0};
        Fake f;

        cap_reset(NULL);
        fake_init(&f);
        start_call(&f, &res);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0x00, 0x00);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, -EBADMSG);
        ASSERT_EQ(res.rm_error, 0);
        round_trip(&f, 9);
        log_set_sink(NULL, NULL);
        fake_done(&f);
}

/* A partial notification interrupted by the reply: the notification is lost (logged), the
 * reply completes the call. */
TEST(notification_aborted_by_reply)
{
        uint8_t pkt[240];
        CallResult res = {0};
        Fake f;

        cap_reset(NULL);
        fake_init(&f);
        start_call(&f, &res);
        memset(pkt, 0, sizeof(pkt));
        memcpy(pkt, (const uint8_t[]){0x21, 0x07, 0x00, 0x00, 0x80, 0x00, 0x10, 0x56}, 8);
        fake_rm_write(&f, pkt, 240);
        reply_ok_seq5(&f, &res);
        ASSERT_EQ(f.n_notif, 0);
        log_set_sink(NULL, NULL);
        fake_done(&f);
}

/* The largest reply an RM can send: 63 packets, 14616 payload bytes (section 4.5). */
TEST(largest_reply)
{
        uint8_t pkt[240];
        CallResult res = {0};
        Fake f;

        fake_init(&f);
        start_call(&f, &res);
        for (unsigned i = 0; i < 63; i++) {
                memcpy(pkt,
                       (const uint8_t[]){0x21, i == 0 ? 0xfa : 0xf8, 0x05, 0x00, 0x04, 0x00, 0x00,
                                         0x56},
                       8);
                for (unsigned k = 0; k < 232; k++)
                        pkt[8 + k] = (uint8_t)(i + k);
                if (i == 0)
                        memset(pkt + 8, 0, 4); /* RM_OK */
                fake_rm_write(&f, pkt, 240);
                if (i % 8 == 7)
                        fake_run_idle(&f); /* let the client drain the socket */
        }
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, 0);
        ASSERT_EQ(res.len, 14616 - 4);
        ASSERT_EQ(res.data[0], 4); /* pkt[12] = 0 + 4 */
        ASSERT_EQ(res.data[228], (uint8_t)(1 + 0));
        fake_done(&f);
}

/* A flood of garbage: warnings are rate limited, the loop stays responsive, nothing breaks. */
TEST(flood_rate_limited)
{
        RmClientStats st;
        Fake f;

        cap_reset(NULL);
        fake_init(&f);
        for (unsigned i = 0; i < 2000; i++) {
                FAKE_RM_WRITE(&f, 0x21, 0x00, (uint8_t)i, 0x00, 0x04, 0x00, 0x00, 0x56, 0xee);
                if (i % 32 == 31)
                        fake_run_idle(&f);
        }
        {
                uint64_t end = fake_now() + FAKE_DEADLINE_USEC;

                do {
                        ASSERT_TRUE(fake_now() < end);
                        ASSERT_OK(sd_event_run(f.e, 50 * 1000));
                        rm_client_get_stats(f.client, &st);
                } while (st.packets_received < 2000);
        }
        ASSERT_EQ(st.bad_packets, 2000);
        ASSERT_TRUE(cap.warnings <= 21);
        round_trip(&f, 11);
        log_set_sink(NULL, NULL);
        fake_done(&f);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (uint32_t)(rng_state >> 11);
}

/* Random packets, half with a plausible header (seq/msg_id near the call on the wire, any
 * type and fragment count): the client must survive and still work. */
TEST(random_input)
{
        static const uint32_t ids[] = {RM_VM_START,         RM_VM_STOP, RM_NOTIFY_VM_STATUS,
                                       RM_NOTIFY_VM_EXITED, 0xdeadbeef, 0};
        uint8_t pkt[300];
        CallResult res = {0};
        Fake f;

        log_set_max_level(LOG_ERR); /* thousands of expected warnings */
        fake_init(&f);
        start_call(&f, &res);
        for (unsigned i = 0; i < 5000; i++) {
                size_t len = rng() % 260;

                for (size_t k = 0; k < len; k++)
                        pkt[k] = (uint8_t)rng();
                if (len >= 8 && rng() % 2) {
                        uint32_t id = ids[rng() % ELEMENTSOF(ids)];
                        uint16_t seq = (uint16_t)(rng() % 3 ? 5 : rng());

                        pkt[0] = 0x21;
                        pkt[1] = (uint8_t)(((rng() % 4 ? rng() % 4 : rng() % 64) << 2) | rng() % 4);
                        pkt[2] = (uint8_t)seq;
                        pkt[3] = (uint8_t)(seq >> 8);
                        pkt[4] = (uint8_t)id;
                        pkt[5] = (uint8_t)(id >> 8);
                        pkt[6] = (uint8_t)(id >> 16);
                        pkt[7] = (uint8_t)(id >> 24);
                }
                fake_rm_write(&f, pkt, len);
                if (i % 16 == 15)
                        fake_run_idle(&f);
        }
        fake_run_idle(&f);
        ASSERT_TRUE(rm_client_is_connected(f.client));
        if (!res.done)
                reply_ok_seq5(&f, &res);
        log_set_max_level(LOG_INFO);
        round_trip(&f, 0x777);
        fake_done(&f);
}

TEST_MAIN()
