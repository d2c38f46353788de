/* SPDX-License-Identifier: MIT */
/* The raw stream client both sides of a comparison use, the echo server baseline, and the
 * multi-connection throughput driver. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"

static int unix_connect(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int raw_connect(RawConn *c, const char *path, char delim)
{
        *c = (RawConn){ .delim = delim };
        c->fd = unix_connect(path);
        if (c->fd < 0)
                return c->fd;
        c->cap = 65536;
        c->buf = malloc(c->cap);
        if (!c->buf) {
                close(c->fd);
                return -ENOMEM;
        }
        return 0;
}

void raw_close(RawConn *c)
{
        if (c->fd >= 0)
                close(c->fd);
        free(c->buf);
        *c = (RawConn){ .fd = -1 };
}

static int send_all(int fd, const void *msg, size_t len)
{
        const char *p = msg;

        while (len) {
                ssize_t k = send(fd, p, len, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                len -= (size_t)k;
        }
        return 0;
}

int raw_read_reply(RawConn *c)
{
        /* drop the previous reply */
        if (c->last_reply) {
                memmove(c->buf, c->buf + c->last_reply, c->len - c->last_reply);
                c->len -= c->last_reply;
                c->last_reply = 0;
        }
        for (;;) {
                char *e = memchr(c->buf, c->delim, c->len);
                if (e) {
                        c->last_reply = (size_t)(e - c->buf) + 1;
                        return 0;
                }
                if (c->len == c->cap) {
                        char *b = realloc(c->buf, c->cap * 2);
                        if (!b)
                                return -ENOMEM;
                        c->buf = b;
                        c->cap *= 2;
                }
                ssize_t k = read(c->fd, c->buf + c->len, c->cap - c->len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -ECONNRESET;
                c->len += (size_t)k;
        }
}

int raw_roundtrip(RawConn *c, const void *msg, size_t len)
{
        int r = send_all(c->fd, msg, len);
        if (r < 0)
                return r;
        return raw_read_reply(c);
}

const char *raw_reply_text(RawConn *c)
{
        if (!c->last_reply)
                return "";
        c->buf[c->last_reply - 1] = 0;
        return c->buf;
}

/* ---- echo server ---- */

static void echo_loop(int lfd, char delim, size_t reply_len)
{
        char *reply = malloc(reply_len), buf[65536];
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };

        if (!reply || ep < 0)
                _exit(1);
        memset(reply, 'x', reply_len);
        reply[0] = '{';
        reply[reply_len - 2] = '}';
        reply[reply_len - 1] = delim;
        epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
        for (;;) {
                struct epoll_event evs[64];
                int n = epoll_wait(ep, evs, 64, -1);
                for (int i = 0; i < n; i++) {
                        int fd = evs[i].data.fd;
                        if (fd == lfd) {
                                int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                                if (c >= 0) {
                                        struct epoll_event ce = { .events = EPOLLIN, .data.fd = c };
                                        epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                                }
                                continue;
                        }
                        ssize_t k = read(fd, buf, sizeof(buf));
                        if (k <= 0) {
                                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                                close(fd);
                                continue;
                        }
                        for (ssize_t j = 0; j < k; j++)
                                if (buf[j] == delim && send_all(fd, reply, reply_len) < 0)
                                        break;
                }
        }
}

pid_t echo_server_spawn(const char *path, char delim, size_t reply_len)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int lfd;
        pid_t pid;

        if (strlen(path) >= sizeof(sa.sun_path) || reply_len < 3)
                return -EINVAL;
        strcpy(sa.sun_path, path);
        unlink(path);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0)
                return -errno;
        if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
                int r = -errno;
                close(lfd);
                return r;
        }
        pid = fork();
        if (pid < 0) {
                close(lfd);
                return -errno;
        }
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                echo_loop(lfd, delim, reply_len);
                _exit(0);
        }
        close(lfd);
        return pid;
}

/* ---- throughput ---- */

int raw_throughput(const char *path, char delim, const void *msg, size_t len, unsigned n,
                   double secs, double *ret_ops)
{
        RawConn *c = calloc(n, sizeof(*c));
        int ep = epoll_create1(EPOLL_CLOEXEC), r = 0;
        uint64_t ops = 0, t0, end;

        if (!c || ep < 0) {
                free(c);
                return -ENOMEM;
        }
        for (unsigned i = 0; i < n; i++)
                c[i].fd = -1;
        for (unsigned i = 0; i < n; i++) {
                r = raw_connect(&c[i], path, delim);
                if (r < 0)
                        goto out;
                /* one warm-up round trip per connection */
                r = raw_roundtrip(&c[i], msg, len);
                if (r < 0)
                        goto out;
                struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
                epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
        }
        t0 = bench_now_ns();
        end = t0 + (uint64_t)(secs * 1e9);
        for (unsigned i = 0; i < n; i++)
                if ((r = send_all(c[i].fd, msg, len)) < 0)
                        goto out;
        for (;;) {
                struct epoll_event evs[64];
                int k = epoll_wait(ep, evs, 64, 1000);
                uint64_t now = bench_now_ns();
                if (k < 0 && errno != EINTR) {
                        r = -errno;
                        goto out;
                }
                for (int j = 0; j < k; j++) {
                        RawConn *rc = &c[evs[j].data.u32];
                        /* read what is there; count whole replies */
                        if (rc->len == rc->cap)
                                rc->len = 0;
                        ssize_t got = read(rc->fd, rc->buf + rc->len, rc->cap - rc->len);
                        if (got <= 0) {
                                r = got < 0 ? -errno : -ECONNRESET;
                                goto out;
                        }
                        rc->len += (size_t)got;
                        char *e;
                        while ((e = memchr(rc->buf, delim, rc->len))) {
                                size_t used = (size_t)(e - rc->buf) + 1;
                                memmove(rc->buf, rc->buf + used, rc->len - used);
                                rc->len -= used;
                                ops++;
                                if (now < end && (r = send_all(rc->fd, msg, len)) < 0)
                                        goto out;
                        }
                }
                if (now >= end) {
                        /* stop issuing; wait for what is in flight to count the time fairly */
                        *ret_ops = (double)ops / ((double)(now - t0) / 1e9);
                        break;
                }
        }
out:
        for (unsigned i = 0; i < n; i++)
                if (c[i].fd >= 0)
                        raw_close(&c[i]);
        free(c);
        close(ep);
        return r;
}
