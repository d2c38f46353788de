/* SPDX-License-Identifier: MIT */
/* RelConn: the suites' blocking Varlink client (see rel-harness.h). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "rel-harness.h"

struct RelConn {
        int fd;
        char *buf;
        size_t len, cap;
};

int rel_conn_open(const char *path, RelConn **ret)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t n = strlen(path);
        if (n >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, n);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        RelConn *c = calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        c->fd = fd;
        *ret = c;
        return 0;
}

void rel_conn_free(RelConn *c)
{
        if (!c)
                return;
        if (c->fd >= 0)
                close(c->fd);
        free(c->buf);
        free(c);
}

int rel_conn_fd(const RelConn *c)
{
        return c->fd;
}

int rel_conn_send_raw(RelConn *c, const void *data, size_t len)
{
        const char *p = data;
        while (len > 0) {
                ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd pfd = { c->fd, POLLOUT, 0 };
                                if (poll(&pfd, 1, 30000) <= 0)
                                        return -ETIMEDOUT;
                                continue;
                        }
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int rel_conn_send(RelConn *c, const char *method, struct json_object *params, bool more)
{
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "method", json_object_new_string(method));
        json_object_object_add(o, "parameters",
                               params ? json_object_get(params) : json_object_new_object());
        if (more)
                json_object_object_add(o, "more", json_object_new_boolean(true));
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        int r = rel_conn_send_raw(c, s, strlen(s) + 1);
        json_object_put(o);
        return r;
}

static int64_t now_ms(void)
{
        return (int64_t)(rel_now_usec() / 1000);
}

int rel_conn_recv(RelConn *c, int timeout_ms, struct json_object **ret)
{
        int64_t deadline = now_ms() + timeout_ms;
        for (;;) {
                char *nul = c->len ? memchr(c->buf, 0, c->len) : NULL;
                if (nul) {
                        size_t mlen = (size_t)(nul - c->buf);
                        struct json_object *o = json_tokener_parse(c->buf);
                        memmove(c->buf, nul + 1, c->len - mlen - 1);
                        c->len -= mlen + 1;
                        if (!o || !json_object_is_type(o, json_type_object)) {
                                json_object_put(o);
                                return -EBADMSG;
                        }
                        *ret = o;
                        return 0;
                }
                /* timeout 0 still reads what is already there */
                int64_t left = deadline - now_ms();
                struct pollfd pfd = { c->fd, POLLIN, 0 };
                int r = poll(&pfd, 1, left > 0 ? (int)left : 0);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r == 0 && left <= 0)
                        return -ETIMEDOUT;
                if (r <= 0)
                        continue;
                if (c->cap - c->len < 65536) {
                        size_t cap = c->cap ? c->cap * 2 : 131072;
                        char *b = realloc(c->buf, cap);
                        if (!b)
                                return -ENOMEM;
                        c->buf = b;
                        c->cap = cap;
                }
                ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (n < 0)
                        return errno == ECONNRESET ? -ECONNRESET : -errno;
                if (n == 0)
                        return -ECONNRESET;
                c->len += (size_t)n;
        }
}

int rel_call(RelConn *c, const char *method, struct json_object *params, bool more,
             int timeout_ms, struct json_object **ret_params, char **ret_error)
{
        int64_t deadline = now_ms() + timeout_ms;
        int r = rel_conn_send(c, method, params, more);
        if (r < 0)
                return r;
        for (;;) {
                struct json_object *o = NULL, *v;
                int64_t left = deadline - now_ms();
                r = rel_conn_recv(c, left > 0 ? (int)left : 0, &o);
                if (r < 0)
                        return r;
                if (json_object_object_get_ex(o, "continues", &v) && json_object_get_boolean(v) &&
                    !json_object_object_get_ex(o, "error", NULL)) {
                        json_object_put(o);
                        continue;
                }
                struct json_object *p = NULL, *err = NULL;
                json_object_object_get_ex(o, "parameters", &p);
                if (ret_params)
                        *ret_params = p ? json_object_get(p) : json_object_new_object();
                if (json_object_object_get_ex(o, "error", &err)) {
                        if (ret_error)
                                *ret_error = strdup(json_object_get_string(err));
                        json_object_put(o);
                        return -EREMOTEIO;
                }
                json_object_put(o);
                return 0;
        }
}

int rel_callf(RelConn *c, const char *method, int timeout_ms, struct json_object **ret_params,
              char **ret_error, const char *fmt, ...)
{
        char *s = NULL;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        struct json_object *p = json_tokener_parse(s);
        free(s);
        if (!p)
                return -EINVAL;
        int r = rel_call(c, method, p, false, timeout_ms, ret_params, ret_error);
        json_object_put(p);
        return r;
}

int rel_call_once(const char *path, const char *method, const char *params_json, int timeout_ms,
                  struct json_object **ret_params, char **ret_error)
{
        RelConn *c = NULL;
        int r = rel_conn_open(path, &c);
        if (r < 0)
                return r;
        struct json_object *p = params_json ? json_tokener_parse(params_json) : NULL;
        if (params_json && !p) {
                rel_conn_free(c);
                return -EINVAL;
        }
        r = rel_call(c, method, p, false, timeout_ms, ret_params, ret_error);
        json_object_put(p);
        rel_conn_free(c);
        return r;
}

uint64_t rel_now_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void rel_sleep_ms(unsigned ms)
{
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

uint64_t rel_rand(uint64_t *state)
{
        uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

unsigned rel_rand_below(uint64_t *state, unsigned n)
{
        return n ? (unsigned)(rel_rand(state) % n) : 0;
}
