/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rel-proxy.h"
#include "rm-wire.h"

#define REL_PROXY_RECORD_MAX 512u

struct RelProxy {
        pthread_t thread;
        pthread_mutex_t lock;
        char upstream[256];
        int listen_fd, down_fd, up_fd;
        int wake[2];
        bool quit;
        /* gate, under lock */
        int target;
        RelGateFn gate;
        void *gate_ud;
        bool fired;
        unsigned n_requests;
        uint32_t record[REL_PROXY_RECORD_MAX];
        unsigned connections;
};

static int unix_addr(const char *path, struct sockaddr_un *sa, socklen_t *len)
{
        size_t n = strlen(path);
        if (n >= sizeof(sa->sun_path))
                return -ENAMETOOLONG;
        memset(sa, 0, sizeof(*sa));
        sa->sun_family = AF_UNIX;
        memcpy(sa->sun_path, path, n);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        return 0;
}

static int connect_upstream(const char *path)
{
        struct sockaddr_un sa;
        socklen_t len;
        if (unix_addr(path, &sa, &len) < 0)
                return -1;
        /* the simulator serves one client at a time: retry while it drops the last one */
        for (int i = 0; i < 500; i++) {
                int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return -1;
                if (connect(fd, (struct sockaddr *)&sa, len) == 0)
                        return fd;
                close(fd);
                struct timespec ts = { 0, 10 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        return -1;
}

static void close_pair(RelProxy *p)
{
        if (p->down_fd >= 0)
                close(p->down_fd);
        if (p->up_fd >= 0)
                close(p->up_fd);
        p->down_fd = p->up_fd = -1;
}

static void on_request(RelProxy *p, const uint8_t *pkt, size_t len)
{
        RmHeader h;
        RelGateFn fn = NULL;
        void *ud = NULL;
        unsigned index = 0;

        if (rm_header_unpack(pkt, len, &h) < 0 || h.type != RM_MSG_REQUEST)
                return;
        pthread_mutex_lock(&p->lock);
        index = p->n_requests++;
        if (index < REL_PROXY_RECORD_MAX)
                p->record[index] = h.msg_id;
        if (p->gate && !p->fired && p->target >= 0 && index == (unsigned)p->target) {
                fn = p->gate;
                ud = p->gate_ud;
                p->fired = true;
        }
        pthread_mutex_unlock(&p->lock);
        if (fn)
                fn(ud, h.msg_id, index);
}

/* Relay one packet from `from` to `to`; false when either side is gone. */
static bool relay(RelProxy *p, int from, int to, bool is_request_dir)
{
        uint8_t buf[4096];
        ssize_t n = recv(from, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return true;
        if (n <= 0)
                return false;
        if (is_request_dir)
                on_request(p, buf, (size_t)n);
        /* the gate may have closed the upstream link (close/restart faults): then the send
         * fails and the pair is closed, as a real link loss would */
        if (to < 0 || send(to, buf, (size_t)n, MSG_NOSIGNAL) != n)
                return false;
        return true;
}

static void *proxy_main(void *arg)
{
        RelProxy *p = arg;
        for (;;) {
                struct pollfd pfd[4];
                int n = 0;
                pfd[n++] = (struct pollfd){ .fd = p->wake[0], .events = POLLIN };
                if (p->down_fd < 0)
                        pfd[n++] = (struct pollfd){ .fd = p->listen_fd, .events = POLLIN };
                else {
                        pfd[n++] = (struct pollfd){ .fd = p->down_fd, .events = POLLIN };
                        pfd[n++] = (struct pollfd){ .fd = p->up_fd, .events = POLLIN };
                }
                if (poll(pfd, (nfds_t)n, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pfd[0].revents)
                        break;
                if (p->down_fd < 0) {
                        if (!pfd[1].revents)
                                continue;
                        int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                        if (fd < 0)
                                continue;
                        p->down_fd = fd;
                        p->up_fd = connect_upstream(p->upstream);
                        if (p->up_fd < 0) {
                                close_pair(p);
                                continue;
                        }
                        pthread_mutex_lock(&p->lock);
                        p->connections++;
                        pthread_mutex_unlock(&p->lock);
                        continue;
                }
                bool ok = true;
                if (pfd[1].revents)
                        ok = relay(p, p->down_fd, p->up_fd, true);
                if (ok && pfd[2].revents)
                        ok = relay(p, p->up_fd, p->down_fd, false);
                if (!ok)
                        close_pair(p);
        }
        close_pair(p);
        return NULL;
}

int rel_proxy_new(const char *listen_path, const char *upstream_path, RelProxy **ret)
{
        struct sockaddr_un sa;
        socklen_t len;
        RelProxy *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->down_fd = p->up_fd = -1;
        p->target = -1;
        pthread_mutex_init(&p->lock, NULL);
        snprintf(p->upstream, sizeof(p->upstream), "%s", upstream_path);
        if (pipe2(p->wake, O_CLOEXEC) < 0)
                goto fail;
        p->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (p->listen_fd < 0 || unix_addr(listen_path, &sa, &len) < 0)
                goto fail;
        unlink(listen_path);
        if (bind(p->listen_fd, (struct sockaddr *)&sa, len) < 0 || listen(p->listen_fd, 8) < 0)
                goto fail;
        if (pthread_create(&p->thread, NULL, proxy_main, p) != 0)
                goto fail;
        *ret = p;
        return 0;
fail:;
        int r = -errno;
        if (p->listen_fd >= 0)
                close(p->listen_fd);
        free(p);
        return r < 0 ? r : -EIO;
}

void rel_proxy_free(RelProxy *p)
{
        if (!p)
                return;
        (void)!write(p->wake[1], "q", 1);
        pthread_join(p->thread, NULL);
        close(p->listen_fd);
        close(p->wake[0]);
        close(p->wake[1]);
        pthread_mutex_destroy(&p->lock);
        free(p);
}

void rel_proxy_arm(RelProxy *p, int target, RelGateFn fn, void *userdata)
{
        pthread_mutex_lock(&p->lock);
        p->target = target;
        p->gate = fn;
        p->gate_ud = userdata;
        p->fired = false;
        p->n_requests = 0;
        pthread_mutex_unlock(&p->lock);
}

void rel_proxy_disarm(RelProxy *p)
{
        pthread_mutex_lock(&p->lock);
        p->target = -1;
        p->gate = NULL;
        pthread_mutex_unlock(&p->lock);
}

size_t rel_proxy_recorded(RelProxy *p, uint32_t *ids, size_t max)
{
        pthread_mutex_lock(&p->lock);
        size_t n = p->n_requests;
        for (size_t i = 0; i < n && i < max && i < REL_PROXY_RECORD_MAX; i++)
                ids[i] = p->record[i];
        pthread_mutex_unlock(&p->lock);
        return n;
}

bool rel_proxy_fired(RelProxy *p)
{
        pthread_mutex_lock(&p->lock);
        bool f = p->fired;
        pthread_mutex_unlock(&p->lock);
        return f;
}

unsigned rel_proxy_connections(RelProxy *p)
{
        pthread_mutex_lock(&p->lock);
        unsigned n = p->connections;
        pthread_mutex_unlock(&p->lock);
        return n;
}
