/* SPDX-License-Identifier: MIT */
/*
 * RmLink providers (device with flock, socket with reconnect, inherited fd), TX back-pressure
 * (EAGAIN waits for POLLOUT, nothing lost, no busy loop), odd packets; and log.c helpers.
 * Everything lives in a private temp dir; waits are bounded and poll for conditions.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "rm-ids.h"
#include "test-rm-client-fake.h"

typedef struct LinkCtx {
        unsigned ups, downs;
        int down_error;
        unsigned rx;
        size_t last_len;
        uint8_t last[1024];
        unsigned rx_seq_next; /* for ordered streams */
        bool rx_order_ok;
} LinkCtx;

static void link_recv(RmLink *l, const uint8_t *p, size_t len, void *u)
{
        LinkCtx *x = u;

        x->rx++;
        x->last_len = len;
        memcpy(x->last, p, len < sizeof(x->last) ? len : sizeof(x->last));
}

static void link_state(RmLink *l, bool up, int error, void *u)
{
        LinkCtx *x = u;

        if (up)
                x->ups++;
        else {
                x->downs++;
                x->down_error = error;
        }
}

static void run_until_count(sd_event *e, const unsigned *v, unsigned want)
{
        uint64_t end = fake_now() + FAKE_DEADLINE_USEC;

        while (*v < want) {
                ASSERT_TRUE(fake_now() < end);
                ASSERT_OK(sd_event_run(e, 20 * 1000));
        }
}

static char tmpdir[256];

static void make_tmpdir(void)
{
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-rm-link-XXXXXX");
        ASSERT_TRUE(mkdtemp(tmpdir) != NULL);
}

static void rm_tmpdir(const char *file)
{
        char p[512];

        snprintf(p, sizeof(p), "%s/%s", tmpdir, file);
        (void)unlink(p);
        (void)rmdir(tmpdir);
}

/* Device provider: exclusive flock. A FIFO stands in for the message device (it is
 * pollable and opens O_RDWR without a peer); a packet written loops back to us. */
TEST(device_flock_exclusive)
{
        char path[512];
        RmLink *l1 = NULL, *l2 = NULL;
        LinkCtx x = {0};
        sd_event *e;
        const uint8_t pkt[] = {0x21, 0x01, 0x05, 0x00, 0x04, 0x00,
                               0x00, 0x56, 0x80, 0x00, 0x00, 0x00};

        make_tmpdir();
        snprintf(path, sizeof(path), "%s/gunyah", tmpdir);
        ASSERT_OK(mkfifo(path, 0600));
        ASSERT_OK(sd_event_new(&e));

        ASSERT_OK(rm_link_new_device(&l1, e, path));
        rm_link_set_handlers(l1, link_recv, link_state, &x);
        ASSERT_EQ(rm_link_send(l1, pkt, sizeof(pkt)), -ENOTCONN); /* not started */
        ASSERT_OK(rm_link_start(l1));
        ASSERT_EQ(rm_link_start(l1), -EALREADY);
        run_until_count(e, &x.ups, 1);
        ASSERT_TRUE(rm_link_is_up(l1));
        ASSERT_STREQ(rm_link_kind_to_string(rm_link_get_kind(l1)), "device");

        /* a second owner is refused with -EBUSY */
        ASSERT_OK(rm_link_new_device(&l2, e, path));
        ASSERT_EQ(rm_link_start(l2), -EBUSY);
        l2 = rm_link_free(l2);

        /* the device carries packets (here: back to ourselves through the FIFO) */
        ASSERT_OK(rm_link_send(l1, pkt, sizeof(pkt)));
        run_until_count(e, &x.rx, 1);
        ASSERT_EQ(x.last_len, sizeof(pkt));
        ASSERT_MEMEQ(x.last, pkt, sizeof(pkt));

        /* once the owner is gone, the device can be taken */
        l1 = rm_link_free(l1);
        ASSERT_OK(rm_link_new_device(&l2, e, path));
        ASSERT_OK(rm_link_start(l2));
        l2 = rm_link_free(l2);

        /* a device fd opened (and locked) by the caller, e.g. for the pool ioctl/mmap */
        {
                int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
                LinkCtx y = {0};

                ASSERT_TRUE(fd >= 0);
                ASSERT_OK(flock(fd, LOCK_EX | LOCK_NB));
                ASSERT_OK(rm_link_new_device_fd(&l1, e, path, fd));
                rm_link_set_handlers(l1, link_recv, link_state, &y);
                ASSERT_OK(rm_link_start(l1));
                run_until_count(e, &y.ups, 1);
                ASSERT_STREQ(rm_link_kind_to_string(rm_link_get_kind(l1)), "device");
                ASSERT_OK(rm_link_new_device(&l2, e, path));
                ASSERT_EQ(rm_link_start(l2), -EBUSY);
                l2 = rm_link_free(l2);
                ASSERT_OK(rm_link_send(l1, pkt, sizeof(pkt)));
                run_until_count(e, &y.rx, 1);
                ASSERT_MEMEQ(y.last, pkt, sizeof(pkt));
                l1 = rm_link_free(l1);
        }

        /* a missing device is an error at start, not a retry loop */
        rm_tmpdir("gunyah");
        ASSERT_OK(rm_link_new_device(&l2, e, path));
        ASSERT_EQ(rm_link_start(l2), -ENOENT);
        l2 = rm_link_free(l2);
        sd_event_unref(e);
}

static int listen_at(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd;

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ASSERT_TRUE(fd >= 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        ASSERT_OK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
        ASSERT_OK(listen(fd, 4));
        return fd;
}

static int accept_with_loop(sd_event *e, int lfd)
{
        uint64_t end = fake_now() + FAKE_DEADLINE_USEC;

        for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                if (fd >= 0)
                        return fd;
                ASSERT_TRUE(errno == EAGAIN);
                ASSERT_TRUE(fake_now() < end);
                ASSERT_OK(sd_event_run(e, 10 * 1000));
        }
}

/* Socket provider: waits for the peer to exist, reconnects after the peer restarts; the
 * client fails the pending call with -ENOTCONN and works again after the reconnect. */
TEST(socket_reconnect)
{
        char path[512];
        Fake f;
        CallResult res = {0}, res2 = {0};
        RmLinkStats st;
        int lfd;

        make_tmpdir();
        snprintf(path, sizeof(path), "%s/rm.sock", tmpdir);
        memset(&f, 0, sizeof(f));
        fake_current = &f;
        ASSERT_OK(sd_event_new(&f.e));
        ASSERT_OK(rm_link_new_socket(&f.link, f.e, path));
        rm_link_set_backoff(f.link, 5 * 1000, 40 * 1000);
        ASSERT_OK(rm_client_new(&f.client, f.e, f.link));
        rm_client_set_link_handler(f.client, fake_link_cb, &f);
        ASSERT_OK(rm_link_start(f.link));

        /* no peer yet: a few failed attempts, still down */
        {
                uint64_t end = fake_now() + FAKE_DEADLINE_USEC;

                do {
                        ASSERT_TRUE(fake_now() < end);
                        ASSERT_OK(sd_event_run(f.e, 20 * 1000));
                        rm_link_get_stats(f.link, &st);
                } while (st.connect_failures < 3);
        }
        ASSERT_EQ(f.ups, 0);
        ASSERT_EQ(rm_client_call(f.client, RM_VM_START, ((const uint8_t[]){0x80, 0, 0, 0}), 4, 0,
                                 fake_call_cb, &res, NULL),
                  -ENOTCONN);

        lfd = listen_at(path);
        f.rm_fd = accept_with_loop(f.e, lfd);
        run_until_count(f.e, &f.ups, 1);

        rm_client_set_next_seq(f.client, 5);
        ASSERT_OK(rm_client_call(f.client, RM_VM_START, ((const uint8_t[]){0x80, 0, 0, 0}), 4, 0,
                                 fake_call_cb, &res, NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);

        /* the RM "restarts": connection and listener gone, call pending */
        close(f.rm_fd);
        close(lfd);
        unlink(path);
        fake_run_until(&f, &res.done);
        ASSERT_EQ(res.r, -ENOTCONN);
        ASSERT_EQ(f.downs, 1);
        ASSERT_TRUE(!rm_link_is_up(f.link));

        lfd = listen_at(path);
        f.rm_fd = accept_with_loop(f.e, lfd);
        run_until_count(f.e, &f.ups, 2);
        ASSERT_OK(rm_client_call(f.client, RM_VM_START, ((const uint8_t[]){0x80, 0, 0, 0}), 4, 0,
                                 fake_call_cb, &res2, NULL));
        FAKE_RM_EXPECT(&f, 0x21, 0x01, 0x06, 0x00, 0x04, 0x00, 0x00, 0x56, 0x80, 0x00, 0x00, 0x00);
        FAKE_RM_WRITE(&f, 0x21, 0x02, 0x06, 0x00, 0x04, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00);
        fake_run_until(&f, &res2.done);
        ASSERT_EQ(res2.r, 0);

        rm_link_get_stats(f.link, &st);
        ASSERT_EQ(st.connects, 2);
        ASSERT_EQ(st.disconnects, 1);
        close(lfd);
        fake_done(&f);
        rm_tmpdir("rm.sock");
}

/* An inherited fd that closes leaves the link down for good (nothing to reopen). */
TEST(fd_stays_down)
{
        RmLink *l;
        LinkCtx x = {0};
        sd_event *e;
        RmLinkStats st;
        int sv[2];

        ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
        ASSERT_OK(sd_event_new(&e));
        ASSERT_OK(rm_link_new_fd(&l, e, sv[0]));
        ASSERT_TRUE(strncmp(rm_link_describe(l), "fd ", 3) == 0);
        rm_link_set_handlers(l, link_recv, link_state, &x);
        ASSERT_OK(rm_link_start(l));
        run_until_count(e, &x.ups, 1);
        close(sv[1]);
        run_until_count(e, &x.downs, 1);
        ASSERT_EQ(x.down_error, -ECONNRESET);
        for (int i = 0; i < 10; i++)
                (void)sd_event_run(e, 10 * 1000);
        rm_link_get_stats(l, &st);
        ASSERT_EQ(x.ups, 1);
        ASSERT_EQ(st.connects, 1);
        ASSERT_EQ(st.connect_failures, 0);
        ASSERT_EQ(rm_link_send(l, (const uint8_t[]){0x21}, 1), -ENOTCONN);
        rm_link_free(l);
        sd_event_unref(e);
}

/* Writing to a peer that just closed must not raise SIGPIPE (default action: death); the
 * error surfaces as "link down" from the loop. */
TEST(no_sigpipe_on_dead_peer)
{
        const uint8_t pkt[] = {0x21, 0x01, 0x00, 0x00, 0x17, 0x00, 0x00, 0x56};
        RmLink *l;
        LinkCtx x = {0};
        sd_event *e;
        int sv[2];

        signal(SIGPIPE, SIG_DFL);
        ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
        ASSERT_OK(sd_event_new(&e));
        ASSERT_OK(rm_link_new_fd(&l, e, sv[0]));
        rm_link_set_handlers(l, link_recv, link_state, &x);
        ASSERT_OK(rm_link_start(l));
        run_until_count(e, &x.ups, 1);
        close(sv[1]);
        ASSERT_OK(rm_link_send(l, pkt, sizeof(pkt))); /* EPIPE inside, reported later */
        ASSERT_EQ(rm_link_send(l, pkt, sizeof(pkt)), -ENOTCONN);
        run_until_count(e, &x.downs, 1);
        ASSERT_TRUE(x.down_error == -EPIPE || x.down_error == -ECONNRESET);
        rm_link_free(l);
        sd_event_unref(e);
}

/* Packet sizes: the link refuses 0 and > 240 bytes to send; it passes up what it reads,
 * including an empty packet (not mistaken for EOF) and an oversize one (counted). */
TEST(odd_packets)
{
        uint8_t big[300] = {0x21};
        RmLink *l;
        LinkCtx x = {0};
        sd_event *e;
        RmLinkStats st;
        int sv[2];

        ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
        ASSERT_OK(sd_event_new(&e));
        ASSERT_OK(rm_link_new_fd(&l, e, sv[0]));
        rm_link_set_handlers(l, link_recv, link_state, &x);
        ASSERT_OK(rm_link_start(l));
        run_until_count(e, &x.ups, 1);
        ASSERT_EQ(rm_link_send(l, big, 0), -EMSGSIZE);
        ASSERT_EQ(rm_link_send(l, big, 241), -EMSGSIZE);
        ASSERT_OK(rm_link_send(l, big, 240));

        ASSERT_EQ(send(sv[1], big, 0, 0), 0);
        run_until_count(e, &x.rx, 1);
        ASSERT_EQ(x.last_len, 0);
        ASSERT_EQ(send(sv[1], big, 300, 0), 300);
        run_until_count(e, &x.rx, 2);
        ASSERT_EQ(x.last_len, 300);
        ASSERT_TRUE(rm_link_is_up(l));
        ASSERT_EQ(x.downs, 0);
        rm_link_get_stats(l, &st);
        ASSERT_EQ(st.rx_oversize, 1);
        ASSERT_EQ(st.tx_packets, 1);
        rm_link_free(l);
        close(sv[1]);
        sd_event_unref(e);
}

static void link_recv_yield(RmLink *l, const uint8_t *p, size_t len, void *u)
{
        link_recv(l, p, len, u);
        rm_link_yield(l);
}

/* rm_link_yield() from the receive callback: one packet per wakeup, none lost; the rest
 * arrives on the following (level-triggered) wakeups, in order. */
TEST(yield_reads_one_per_wakeup)
{
        uint8_t pkt[8] = {0x21};
        RmLink *l;
        LinkCtx x = {0};
        sd_event *e;
        int sv[2];

        ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
        ASSERT_OK(sd_event_new(&e));
        ASSERT_OK(rm_link_new_fd(&l, e, sv[0]));
        rm_link_set_handlers(l, link_recv_yield, link_state, &x);
        ASSERT_OK(rm_link_start(l));
        run_until_count(e, &x.ups, 1);
        for (uint8_t i = 0; i < 3; i++) {
                pkt[1] = i;
                ASSERT_EQ(send(sv[1], pkt, sizeof(pkt), 0), (ssize_t)sizeof(pkt));
        }
        for (unsigned i = 1; i <= 3; i++) {
                ASSERT_EQ(sd_event_run(e, 1000 * 1000), 1);
                ASSERT_EQ(x.rx, i);
                ASSERT_EQ(x.last[1], i - 1);
        }
        /* a peer hangup behind a yielded packet is still seen */
        ASSERT_EQ(send(sv[1], pkt, sizeof(pkt), 0), (ssize_t)sizeof(pkt));
        close(sv[1]);
        run_until_count(e, &x.downs, 1);
        ASSERT_EQ(x.rx, 4);
        ASSERT_EQ(x.down_error, -ECONNRESET);
        rm_link_free(l);
        sd_event_unref(e);
}

static uint64_t cpu_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Back-pressure: with a small send buffer and a peer that does not read, writes hit EAGAIN;
 * the link then sleeps until POLLOUT (the loop dispatches nothing while blocked) and, once
 * the peer reads, every packet arrives once and in order. */
TEST(eagain_waits_for_pollout)
{
        const unsigned N = 400;
        uint8_t pkt[240], got[512];
        RmLink *l;
        LinkCtx x = {0};
        sd_event *e;
        RmLinkStats st;
        int sv[2], sndbuf = 4096, dispatched = 0;
        uint64_t cpu0;

        ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
        ASSERT_OK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)));
        ASSERT_OK(sd_event_new(&e));
        ASSERT_OK(rm_link_new_fd(&l, e, sv[0]));
        rm_link_set_handlers(l, link_recv, link_state, &x);
        ASSERT_OK(rm_link_start(l));
        run_until_count(e, &x.ups, 1);

        for (unsigned i = 0; i < N; i++) {
                memset(pkt, (int)(i & 0xff), sizeof(pkt));
                pkt[0] = (uint8_t)i;
                pkt[1] = (uint8_t)(i >> 8);
                ASSERT_OK(rm_link_send(l, pkt, 240));
        }
        rm_link_get_stats(l, &st);
        ASSERT_TRUE(st.tx_eagain >= 1);
        ASSERT_TRUE(rm_link_tx_queued(l) > 0);

        /* blocked: 10 loop turns of 20 ms dispatch nothing and burn no CPU */
        cpu0 = cpu_usec();
        for (int i = 0; i < 10; i++) {
                int r = sd_event_run(e, 20 * 1000);

                ASSERT_OK(r);
                dispatched += r;
        }
        ASSERT_EQ(dispatched, 0);
        ASSERT_TRUE(cpu_usec() - cpu0 < 100 * 1000);
        ASSERT_TRUE(rm_link_tx_queued(l) > 0);

        for (unsigned i = 0; i < N; i++) {
                uint64_t end = fake_now() + FAKE_DEADLINE_USEC;
                ssize_t n;

                while ((n = recv(sv[1], got, sizeof(got), MSG_DONTWAIT)) < 0) {
                        ASSERT_TRUE(errno == EAGAIN);
                        ASSERT_TRUE(fake_now() < end);
                        ASSERT_OK(sd_event_run(e, 10 * 1000));
                }
                ASSERT_EQ(n, 240);
                ASSERT_EQ(got[0], i & 0xff);
                ASSERT_EQ(got[1], i >> 8);
                ASSERT_EQ(got[239], i & 0xff);
        }
        ASSERT_EQ(rm_link_tx_queued(l), 0);
        rm_link_get_stats(l, &st);
        ASSERT_EQ(st.tx_packets, N);
        ASSERT_TRUE(st.tx_wakeups >= 1);
        /* and nothing more */
        ASSERT_TRUE(recv(sv[1], got, sizeof(got), MSG_DONTWAIT) < 0 && errno == EAGAIN);
        rm_link_free(l);
        close(sv[1]);
        sd_event_unref(e);
}

/* The same through the client: 20 calls of the largest request (62 packets each) over a
 * small send buffer: every packet of every request arrives, in order, never interleaved. */
TEST(client_many_large_calls_small_sndbuf)
{
        static uint8_t payload[14384];
        CallResult *res;
        uint8_t got[512];
        int sv[2], sndbuf = 4096;
        RmLinkStats st;
        Fake f;

        for (size_t i = 0; i < sizeof(payload); i++)
                payload[i] = (uint8_t)(i ^ (i >> 8));
        res = calloc(20, sizeof(*res));
        ASSERT_TRUE(res != NULL);
        ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
        ASSERT_OK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)));
        fake_init_with_fd(&f, sv[0], sv[1]);
        rm_client_set_next_seq(f.client, 0x100);
        for (unsigned c = 0; c < 20; c++) {
                payload[0] = (uint8_t)c;
                ASSERT_OK(rm_client_call(f.client, RM_MEM_LEND, payload, sizeof(payload), 0,
                                         fake_call_cb, &res[c], NULL));
        }
        for (unsigned c = 0; c < 20; c++) {
                uint16_t seq = (uint16_t)(0x100 + c);

                for (unsigned i = 0; i < 62; i++) {
                        size_t n = fake_rm_read(&f, got, sizeof(got));

                        ASSERT_EQ(n, 240);
                        ASSERT_EQ(got[1], i == 0 ? 0xf5 : 0xf4);
                        ASSERT_EQ(got[2], seq & 0xff);
                        ASSERT_EQ(got[3], seq >> 8);
                        if (i == 0)
                                ASSERT_EQ(got[8], c);
                        else
                                ASSERT_MEMEQ(got + 8, payload + 232 * i, 232);
                }
                ASSERT_TRUE(!res[c].done);
                FAKE_RM_WRITE(&f, 0x21, 0x02, (uint8_t)seq, (uint8_t)(seq >> 8), 0x12, 0x00, 0x00,
                              0x51, 0x00, 0x00, 0x00, 0x00, (uint8_t)c, 0x00, 0x00, 0x00);
                fake_run_until(&f, &res[c].done);
                ASSERT_EQ(res[c].r, 0);
                ASSERT_EQ(res[c].data[0], c);
        }
        ASSERT_TRUE(fake_rm_idle(&f));
        rm_link_get_stats(f.link, &st);
        ASSERT_TRUE(st.tx_eagain >= 1);
        ASSERT_EQ(st.tx_packets, 20 * 62);
        free(res);
        fake_done(&f);
}

/* ---- log.c ---- */

static unsigned sink_n;
static char sink_msg[512];
static char sink_fields[4][128];
static int sink_level;

static void sink(int level, const char *msg, const char *const *fields, void *u)
{
        sink_n++;
        sink_level = level;
        snprintf(sink_msg, sizeof(sink_msg), "%s", msg);
        memset(sink_fields, 0, sizeof(sink_fields));
        for (int i = 0; fields && fields[i] && i < 4; i++)
                snprintf(sink_fields[i], sizeof(sink_fields[i]), "%s", fields[i]);
}

TEST(log_helpers)
{
        char hex[LOG_HEX_BUF_SIZE(4)];
        const uint8_t b[] = {0x21, 0x01, 0x05, 0x00, 0x04};

        ASSERT_EQ(log_level_from_string("debug"), LOG_DEBUG);
        ASSERT_EQ(log_level_from_string("warn"), LOG_WARNING);
        ASSERT_EQ(log_level_from_string("err"), LOG_ERR);
        ASSERT_EQ(log_level_from_string("6"), LOG_INFO);
        ASSERT_EQ(log_level_from_string("8"), -EINVAL);
        ASSERT_EQ(log_level_from_string("loud"), -EINVAL);
        ASSERT_STREQ(log_level_to_string(LOG_NOTICE), "notice");
        ASSERT_EQ(log_target_from_string("journal"), LOG_TARGET_JOURNAL);
        ASSERT_EQ(log_target_from_string("x"), _LOG_TARGET_INVALID);

        ASSERT_STREQ(log_hex(b, 3, 4, hex, sizeof(hex)), "21 01 05");
        ASSERT_STREQ(log_hex(b, 5, 4, hex, sizeof(hex)), "21 01 05 00...");
        ASSERT_STREQ(log_hex(b, 0, 4, hex, sizeof(hex)), "");

        log_set_target(LOG_TARGET_STDERR);
        log_set_sink(sink, NULL);
        log_set_max_level(LOG_INFO);
        ASSERT_EQ(log_error_errno(EBUSY, "busy: %m"), -EBUSY);
        ASSERT_EQ(log_error_errno(-EBUSY, "busy: %m"), -EBUSY);
        ASSERT_TRUE(strstr(sink_msg, "busy: Device or resource busy") != NULL);
        ASSERT_EQ(sink_level, LOG_ERR);

        sink_n = 0;
        log_debug("hidden %d", 1); /* above the max level: not even formatted */
        ASSERT_EQ(sink_n, 0);
        ASSERT_EQ(log_debug_errno(ENOENT, "hidden"), -ENOENT);

        log_vm_info("web1", 0x80, "VM %s started", "web1");
        ASSERT_EQ(sink_n, 1);
        ASSERT_STREQ(sink_msg, "VM web1 started");
        ASSERT_STREQ(sink_fields[0], "GUNYAH_VM=web1");
        ASSERT_STREQ(sink_fields[1], "GUNYAH_VMID=128");
        log_vm_warning("web2", -1, "no vmid yet");
        ASSERT_STREQ(sink_fields[0], "GUNYAH_VM=web2");
        ASSERT_STREQ(sink_fields[1], "");
        log_full_errno_fields(
            LOG_NOTICE, 0,
            LOG_FIELDS("MESSAGE_ID=0123456789abcdef0123456789abcdef", "GUNYAH_VMID=3"),
            "with fields");
        ASSERT_STREQ(sink_fields[1], "GUNYAH_VMID=3");

        /* journal target: sent to journald, or to stderr when there is none; never fails */
        log_set_target(LOG_TARGET_JOURNAL);
        ASSERT_EQ(log_vm_error_errno("web1", 0x80, -EIO, "to the journal: %m"), -EIO);
        ASSERT_STREQ(sink_msg, "to the journal: Input/output error");
        log_set_target(LOG_TARGET_STDERR);
        log_set_sink(NULL, NULL);
}

TEST_MAIN()
