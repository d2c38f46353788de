/* SPDX-License-Identifier: MIT */
/*
 * gunyah-rm-sim fault injection and output buffering (checklist 4-6, 32 and the fault kinds
 * of issue 3): drop / duplicate / corrupt / delay in both directions, forced RM errors,
 * stall, close, restart with state kept or lost, the 8-packet window, the single pending
 * reply slot and the 256-notification queue.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test-sim-harness.h"
#include "test.h"

static const uint8_t req[8] = {0x21, 0x01, 0x05, 0x00, 0x24, 0x00, 0x00, 0x56};
static const uint8_t rep[16] = {0x21, 0x02, 0x05, 0x00, 0x24, 0x00, 0x00, 0x56,
                                0,    0,    0,    0,    3,    0,    0,    0};

static void expect_rep(T *t, const uint8_t *exp, size_t len)
{
        uint8_t b[1024];
        int n = t_recv_raw(t, b, 10000);

        ASSERT_EQ(n, (long long)len);
        ASSERT_MEMEQ(b, exp, len);
}

static uint64_t ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t link_field(T *t, const char *name)
{
        json_object *st, *l, *f;
        int64_t v;

        ASSERT_OK(t_ctl(t, "GetState", NULL, &st));
        ASSERT_TRUE(json_object_object_get_ex(st, "link", &l));
        ASSERT_TRUE(json_object_object_get_ex(l, name, &f));
        v = json_object_get_int64(f);
        json_object_put(st);
        return v;
}

static void wait_link_field(T *t, const char *name, int64_t value)
{
        for (int i = 0; i < 5000; i++) {
                if (link_field(t, name) == value)
                        return;
                usleep(2000);
        }
        TEST_FAIL_("link.%s never became %lld (is %lld)", name, (long long)value,
                   (long long)link_field(t, name));
}

TEST(packet_faults_out)
{
        uint8_t corrupt[16];
        uint64_t t0;
        T t;

        t_start(&t, NULL);
        ASSERT_OK(t_ctl(&t, "InjectFault", "{\"kind\":\"drop\",\"direction\":\"out\"}", NULL));
        t_send_raw(&t, req, 8);
        t_silence(&t, 300);
        t_send_raw(&t, req, 8);
        expect_rep(&t, rep, 16);

        ASSERT_OK(t_ctl(&t, "InjectFault", "{\"kind\":\"duplicate\",\"direction\":\"out\"}", NULL));
        t_send_raw(&t, req, 8);
        expect_rep(&t, rep, 16);
        expect_rep(&t, rep, 16);
        t_silence(&t, 200);

        ASSERT_OK(t_ctl(&t, "InjectFault",
                        "{\"kind\":\"corrupt\",\"direction\":\"out\",\"offset\":0}", NULL));
        t_send_raw(&t, req, 8);
        memcpy(corrupt, rep, 16);
        corrupt[0] = 0xDE;
        expect_rep(&t, corrupt, 16);
        ASSERT_OK(t_ctl(&t, "InjectFault", "{\"kind\":\"corrupt\",\"direction\":\"out\"}", NULL));
        t_send_raw(&t, req, 8);
        memcpy(corrupt, rep, 16);
        corrupt[15] = 0xFF; /* default: the last byte */
        expect_rep(&t, corrupt, 16);

        ASSERT_OK(t_ctl(&t, "InjectFault",
                        "{\"kind\":\"delay\",\"direction\":\"out\",\"delayMs\":400}", NULL));
        t0 = ms();
        t_send_raw(&t, req, 8);
        t_send_raw(&t, req, 8); /* queued behind the delayed one: order is kept */
        expect_rep(&t, rep, 16);
        ASSERT_TRUE(ms() - t0 >= 350);
        expect_rep(&t, rep, 16);
        t_stop(&t);
}

TEST(packet_faults_in)
{
        uint64_t t0;
        T t;

        t_start(&t, NULL);
        ASSERT_OK(
            t_ctl(&t, "InjectFault", "{\"kind\":\"drop\",\"direction\":\"in\",\"count\":2}", NULL));
        t_send_raw(&t, req, 8);
        t_send_raw(&t, req, 8);
        t_silence(&t, 300);
        t_send_raw(&t, req, 8);
        expect_rep(&t, rep, 16);

        ASSERT_OK(t_ctl(&t, "InjectFault", "{\"kind\":\"duplicate\",\"direction\":\"in\"}", NULL));
        t_send_raw(&t, req, 8);
        expect_rep(&t, rep, 16);
        expect_rep(&t, rep, 16);

        ASSERT_OK(t_ctl(&t, "InjectFault",
                        "{\"kind\":\"corrupt\",\"direction\":\"in\",\"offset\":0}", NULL));
        t_send_raw(&t, req, 8); /* byte 0 becomes 0xDE: a bad header, dropped silently */
        t_silence(&t, 300);

        ASSERT_OK(t_ctl(&t, "InjectFault",
                        "{\"kind\":\"delay\",\"direction\":\"in\",\"delayMs\":400}", NULL));
        t0 = ms();
        t_send_raw(&t, req, 8);
        expect_rep(&t, rep, 16);
        ASSERT_TRUE(ms() - t0 >= 350);
        t_stop(&t);
}

TEST(forced_error_stall_close)
{
        static const uint8_t busy[12] = {0x21, 0x02, 0x05, 0x00, 0x24, 0x00,
                                         0x00, 0x56, 5,    0,    0,    0};
        uint8_t out[8];
        size_t n;
        T t;

        t_start(&t, NULL);
        ASSERT_OK(t_ctl(&t, "InjectFault",
                        "{\"kind\":\"error\",\"msgId\":1442840612,\"error\":5,\"count\":2}", NULL));
        t_send_raw(&t, req, 8);
        expect_rep(&t, busy, 12);
        t_send_raw(&t, req, 8);
        expect_rep(&t, busy, 12);
        t_send_raw(&t, req, 8);
        expect_rep(&t, rep, 16);

        ASSERT_OK(t_ctl(&t, "InjectFault", "{\"kind\":\"stall\"}", NULL));
        t_send_raw(&t, req, 8);
        t_silence(&t, 300);
        ASSERT_OK(t_ctl(&t, "ClearFaults", NULL, NULL));
        t_send_raw(&t, req, 8);
        expect_rep(&t, rep, 16);

        /* close: the client sees EOF; state survives a reconnect */
        ASSERT_EQ(t_alloc(&t), 0x80);
        ASSERT_OK(t_ctl(&t, "InjectFault", "{\"kind\":\"close\"}", NULL));
        ASSERT_EQ(t_recv_raw(&t, out, 5000), 0);
        t_reconnect(&t);
        ASSERT_EQ(t_call(&t, 0x56000017, "\x80\0\0\0", 4, out, &n), 0);
        ASSERT_MEMEQ(out, "\x05\0\0\0", 4);
        t_stop(&t);
}

TEST(restart_keeps_or_loses_state)
{
        uint8_t out[8], rwx = 7;
        uint16_t v80 = 0x80;
        uint32_t h;
        size_t n;
        T t;

        t_start(&t, NULL);
        ASSERT_EQ(t_alloc(&t), 0x80);
        ASSERT_EQ(t_parcel(&t, 0x51000012, &v80, &rwx, 1, T_POOL_IPA, 0x1000, 0, 0, &h), 0);
        ASSERT_EQ(h, 0);
        ASSERT_OK(t_ctl(&t, "Restart", "{\"keepState\":true}", NULL));
        ASSERT_EQ(t_recv_raw(&t, out, 5000), 0);
        t_reconnect(&t);
        ASSERT_EQ(t_call(&t, 0x56000017, "\x80\0\0\0", 4, out, &n), 0);
        ASSERT_EQ(t_parcel(&t, 0x51000012, &v80, &rwx, 1, T_POOL_IPA + 0x1000, 0x1000, 0, 0, &h),
                  0);
        ASSERT_EQ(h, 1);
        ASSERT_OK(t_ctl(&t, "Restart", "{\"keepState\":false}", NULL));
        ASSERT_EQ(t_recv_raw(&t, out, 5000), 0);
        t_reconnect(&t);
        ASSERT_EQ(t_call(&t, 0x56000017, "\x80\0\0\0", 4, NULL, NULL), 0x2); /* gone */
        ASSERT_EQ(t_alloc(&t), 0x80);
        ASSERT_EQ(t_parcel(&t, 0x51000012, &v80, &rwx, 1, T_POOL_IPA, 0x1000, 0, 0, &h), 0);
        ASSERT_EQ(h, 0); /* memory and handles were given back */
        t_stop(&t);
}

static void set_app(T *t, uint16_t vmid, unsigned app)
{
        char p[96];

        snprintf(p, sizeof(p), "{\"vmid\":%u,\"osStatus\":0,\"appStatus\":%u}", vmid, app);
        ASSERT_OK(t_ctl(t, "SetGuestStatus", p, NULL));
}

static void expect_app(T *t, uint16_t vmid, unsigned app)
{
        TMsg m;

        ASSERT_TRUE(t_recv_msg(t, &m, 10000));
        ASSERT_EQ(m.type, 3);
        ASSERT_U64_EQ(m.msg_id, 0x56100008);
        ASSERT_EQ(m.len, 8);
        ASSERT_EQ(m.p[0] | m.p[1] << 8, vmid);
        ASSERT_EQ(m.p[6] | m.p[7] << 8, app);
}

TEST(window_of_8_and_one_pending_reply)
{
        TVm v;
        T t;

        t_start(&t, &(TOpts){.pace_ms = 600000});
        t_boot_vm(&t, &v, 0x100000, 1);
        for (unsigned i = 1; i <= 20; i++)
                set_app(&t, v.vmid, i);
        /* the client reads nothing: 8 packets are in its queue, 12 wait in the RM */
        wait_link_field(&t, "pendingNotifications", 12);
        /* two pipelined requests while the queue is full: the second drops the first */
        {
                uint8_t a[8] = {0x21, 0x01, 0x00, 0x01, 0x24, 0x00, 0x00, 0x56};
                uint8_t b[8] = {0x21, 0x01, 0x01, 0x01, 0x24, 0x00, 0x00, 0x56};
                t_send_raw(&t, a, 8);
                t_send_raw(&t, b, 8);
        }
        wait_link_field(&t, "droppedReplies", 1);
        for (unsigned i = 1; i <= 8; i++)
                expect_app(&t, v.vmid, i);
        /* the pending reply is flushed before the pending notifications */
        {
                const uint8_t r[16] = {0x21, 0x02, 0x01, 0x01, 0x24, 0x00, 0x00, 0x56,
                                       0,    0,    0,    0,    3,    0,    0,    0};
                expect_rep(&t, r, 16);
        }
        for (unsigned i = 9; i <= 20; i++)
                expect_app(&t, v.vmid, i);
        t_silence(&t, 200);
        t_stop(&t);
}

TEST(notification_queue_of_256)
{
        TVm v;
        T t;

        t_start(&t, &(TOpts){.pace_ms = 600000});
        t_boot_vm(&t, &v, 0x100000, 1);
        for (unsigned i = 1; i <= 300; i++)
                set_app(&t, v.vmid, i);
        /* 8 written, 292 wanted to wait: the 36 oldest of those are dropped */
        wait_link_field(&t, "pendingNotifications", 256);
        ASSERT_EQ(link_field(&t, "droppedNotifications"), 36);
        for (unsigned i = 1; i <= 8; i++)
                expect_app(&t, v.vmid, i);
        for (unsigned i = 45; i <= 300; i++)
                expect_app(&t, v.vmid, i);
        t_silence(&t, 200);
        t_stop(&t);
}

TEST_MAIN()
