#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * A fake RM for the rm-client unit tests: the test holds one end of a SOCK_SEQPACKET
 * socketpair, the client (over an fd RmLink) the other. The test reads the client's packets
 * and writes hand-made bytes back (taken from rm-protocol.md, never from our encoder).
 * All waits are bounded (FAKE_DEADLINE_USEC) and poll for a condition, not for a time.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "rm-client.h"
#include "rm-link.h"
#include "test.h"

#define FAKE_DEADLINE_USEC (20u * 1000u * 1000u)
#define FAKE_MAX_RESULTS 256

typedef struct CallResult {
        bool done;
        int r;
        uint32_t rm_error;
        uint8_t data[16384];
        size_t len;
        unsigned order; /* global event number when the callback ran */
} CallResult;

typedef struct Fake {
        sd_event *e;
        int rm_fd; /* the fake RM's end */
        RmLink *link;
        RmClient *client;
        unsigned events; /* event counter shared by calls and notifications */
        unsigned ups, downs;
        int down_error;
        /* notifications seen */
        unsigned n_notif;
        uint32_t notif_id[FAKE_MAX_RESULTS];
        unsigned notif_order[FAKE_MAX_RESULTS];
        size_t notif_len[FAKE_MAX_RESULTS];
        uint8_t notif_first[FAKE_MAX_RESULTS][16];
} Fake;

static inline uint64_t fake_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static Fake *fake_current; /* for callbacks that need the event counter */

static inline void fake_link_cb(RmClient *c, bool up, int error, void *userdata)
{
        Fake *f = userdata;

        if (up)
                f->ups++;
        else {
                f->downs++;
                f->down_error = error;
        }
}

static inline void fake_notify_cb(RmClient *c, uint32_t msg_id, const uint8_t *p, size_t len,
                                  void *userdata)
{
        Fake *f = userdata;

        if (f->n_notif < FAKE_MAX_RESULTS) {
                f->notif_id[f->n_notif] = msg_id;
                f->notif_order[f->n_notif] = ++f->events;
                f->notif_len[f->n_notif] = len;
                memcpy(f->notif_first[f->n_notif], p, len < 16 ? len : 16);
                f->n_notif++;
        }
}

static inline void fake_call_cb(RmClient *c, int r, uint32_t rm_error, const uint8_t *data,
                                size_t len, void *userdata)
{
        CallResult *res = userdata;

        ASSERT_TRUE(!res->done); /* exactly once */
        res->done = true;
        res->r = r;
        res->rm_error = rm_error;
        ASSERT_TRUE(len <= sizeof(res->data));
        if (len)
                memcpy(res->data, data, len);
        res->len = len;
        res->order = ++fake_current->events;
}

/* Run the loop until *flag or the deadline (fails the test). */
static inline void fake_run_until(Fake *f, const bool *flag)
{
        uint64_t end = fake_now() + FAKE_DEADLINE_USEC;

        while (!*flag) {
                ASSERT_TRUE(fake_now() < end);
                ASSERT_OK(sd_event_run(f->e, 50 * 1000));
        }
}

/* Run every source that is ready now (no waiting). */
static inline void fake_run_idle(Fake *f)
{
        for (int i = 0; i < 64; i++)
                if (sd_event_run(f->e, 0) <= 0)
                        break;
}

static inline void fake_init_with_fd(Fake *f, int client_fd, int rm_fd)
{
        memset(f, 0, sizeof(*f));
        fake_current = f;
        f->rm_fd = rm_fd;
        ASSERT_OK(sd_event_new(&f->e));
        ASSERT_OK(rm_link_new_fd(&f->link, f->e, client_fd));
        ASSERT_OK(rm_client_new(&f->client, f->e, f->link));
        rm_client_set_link_handler(f->client, fake_link_cb, f);
        ASSERT_OK(rm_client_add_notify_handler(f->client, 0, fake_notify_cb, f, NULL));
        ASSERT_OK(rm_link_start(f->link));
        {
                uint64_t end = fake_now() + FAKE_DEADLINE_USEC;

                while (f->ups == 0) {
                        ASSERT_TRUE(fake_now() < end);
                        ASSERT_OK(sd_event_run(f->e, 50 * 1000));
                }
        }
        ASSERT_TRUE(rm_client_is_connected(f->client));
}

static inline void fake_init(Fake *f)
{
        int sv[2];

        ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
        fake_init_with_fd(f, sv[0], sv[1]);
}

static inline void fake_done(Fake *f)
{
        f->client = rm_client_free(f->client);
        f->link = rm_link_free(f->link);
        if (f->rm_fd >= 0)
                close(f->rm_fd);
        f->e = sd_event_unref(f->e);
        fake_current = NULL;
}

/* The fake RM reads one packet, running the client's loop while it waits. */
static inline size_t fake_rm_read(Fake *f, uint8_t *buf, size_t cap)
{
        uint64_t end = fake_now() + FAKE_DEADLINE_USEC;

        for (;;) {
                ssize_t n = recv(f->rm_fd, buf, cap, MSG_DONTWAIT);

                if (n >= 0)
                        return (size_t)n;
                ASSERT_TRUE(errno == EAGAIN);
                ASSERT_TRUE(fake_now() < end);
                ASSERT_OK(sd_event_run(f->e, 10 * 1000));
        }
}

/* Nothing is waiting on the fake RM's side (after letting the client run what is ready). */
static inline bool fake_rm_idle(Fake *f)
{
        uint8_t buf[256];

        fake_run_idle(f);
        return recv(f->rm_fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN;
}

static inline void fake_rm_write(Fake *f, const uint8_t *p, size_t len)
{
        ASSERT_EQ(send(f->rm_fd, p, len, MSG_NOSIGNAL), (ssize_t)len);
}

#define FAKE_RM_WRITE(f, ...)                                                                      \
        do {                                                                                       \
                const uint8_t fw_b_[] = {__VA_ARGS__};                                             \
                fake_rm_write((f), fw_b_, sizeof(fw_b_));                                          \
        } while (0)

/* Read one packet and compare it with the expected bytes. */
#define FAKE_RM_EXPECT(f, ...)                                                                     \
        do {                                                                                       \
                const uint8_t fe_exp_[] = {__VA_ARGS__};                                           \
                uint8_t fe_got_[512];                                                              \
                size_t fe_n_ = fake_rm_read((f), fe_got_, sizeof(fe_got_));                        \
                ASSERT_EQ(fe_n_, sizeof(fe_exp_));                                                 \
                ASSERT_MEMEQ(fe_got_, fe_exp_, sizeof(fe_exp_));                                   \
        } while (0)
