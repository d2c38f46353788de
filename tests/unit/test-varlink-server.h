#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * A tiny single-threaded Varlink client for the server tests: the test drives the server's
 * sd-event loop itself between client steps (no threads, no fixed sleeps), and every wait
 * is bounded (10 s of loop iterations).
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "varlink.h"

typedef struct TestClient {
        int fd;
        VarlinkBuffer in;
} TestClient;

static inline uint64_t test_now_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline void test_client_init(TestClient *c, int fd)
{
        c->fd = fd;
        varlink_buffer_init(&c->in, 16u * 1024u * 1024u);
}

static inline void test_client_done(TestClient *c)
{
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        varlink_buffer_free(&c->in);
}

static inline int test_connect_path(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* Write all of buf (the client fd is non-blocking: pump the loop while the socket is full). */
static inline int test_send(sd_event *e, TestClient *c, const void *buf, size_t len)
{
        const char *p = buf;
        uint64_t end = test_now_usec() + 10000000u;
        while (len > 0) {
                ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN)
                        return -errno;
                if (n > 0) {
                        p += n;
                        len -= (size_t)n;
                        continue;
                }
                if (test_now_usec() > end)
                        return -ETIMEDOUT;
                (void)sd_event_run(e, 1000);
        }
        return 0;
}

static inline int test_send_msg(sd_event *e, TestClient *c, const char *json)
{
        return test_send(e, c, json, strlen(json) + 1); /* with the NUL */
}

/*
 * Wait for the next message from the server. Returns 1 with *ret (NUL-terminated copy,
 * caller frees), 0 on EOF (the server closed), -ETIMEDOUT.
 */
static inline int test_recv(sd_event *e, TestClient *c, char **ret)
{
        uint64_t end = test_now_usec() + 10000000u;
        for (;;) {
                const char *m;
                size_t len;
                int r = varlink_buffer_next(&c->in, &m, &len);
                if (r < 0)
                        return r;
                if (r > 0) {
                        *ret = strndup(m, len);
                        return 1;
                }
                ssize_t n = varlink_buffer_read(&c->in, c->fd);
                if (n == 0)
                        return 0;
                if (n == -ECONNRESET)
                        return 0;
                if (n < 0 && n != -EAGAIN)
                        return (int)n;
                if (n > 0)
                        continue;
                if (test_now_usec() > end)
                        return -ETIMEDOUT;
                (void)sd_event_run(e, 1000);
        }
}

/* Receive and parse one reply. 1 with *ret filled, 0 on EOF. */
static inline int test_recv_reply(sd_event *e, TestClient *c, VarlinkReply *ret)
{
        char *m = NULL;
        int r = test_recv(e, c, &m);
        if (r <= 0)
                return r;
        r = varlink_reply_parse(m, strlen(m), 0, ret);
        free(m);
        return r < 0 ? r : 1;
}

/* Pump the loop until cond(userdata) is true; false after 10 s. */
static inline bool test_pump_until(sd_event *e, bool (*cond)(void *), void *userdata)
{
        uint64_t end = test_now_usec() + 10000000u;
        while (!cond(userdata)) {
                if (test_now_usec() > end)
                        return false;
                (void)sd_event_run(e, 1000);
        }
        return true;
}

static inline const char *test_param_string(const VarlinkReply *r, const char *key)
{
        struct json_object *v;
        if (!json_object_object_get_ex(r->parameters, key, &v) || !v)
                return NULL;
        return json_object_get_string(v);
}

static inline int64_t test_param_int(const VarlinkReply *r, const char *key)
{
        struct json_object *v;
        if (!json_object_object_get_ex(r->parameters, key, &v) || !v)
                return -1;
        return json_object_get_int64(v);
}
