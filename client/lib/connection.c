/* SPDX-License-Identifier: MIT */
/*
 * libgunyahctl transport: address resolution, connect, the generic call (send with
 * SCM_RIGHTS, read replies with a deadline), and the last-error record with its errno map.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "api.h"
#include "gunyahctl-private.h"

static uint64_t now_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Milliseconds left until deadline for poll(): -1 = forever, 0 = expired. */
static int poll_timeout(uint64_t deadline)
{
        if (deadline == UINT64_MAX)
                return -1;
        uint64_t n = now_usec();
        if (n >= deadline)
                return 0;
        uint64_t ms = (deadline - n + 999) / 1000;
        return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static uint64_t deadline_after(uint64_t usec)
{
        if (usec == GUNYAHCTL_TIMEOUT_INFINITY)
                return UINT64_MAX;
        uint64_t n = now_usec();
        return usec > UINT64_MAX - 1 - n ? UINT64_MAX - 1 : n + usec;
}

/* Wait for events on h->fd until deadline: 0 when ready, -ETIMEDOUT, -errno. */
static int wait_fd(gunyahctl *h, short events, uint64_t deadline)
{
        for (;;) {
                struct pollfd p = { .fd = h->fd, .events = events };
                int r = poll(&p, 1, poll_timeout(deadline));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                return 0;
        }
}

static int resolve_address(const char *address, char **ret)
{
        if (!address || !*address) {
                address = secure_getenv(GUNYAHCTL_ADDRESS_ENV);
                if (!address || !*address)
                        address = GUNYAHCTL_DEFAULT_ADDRESS;
        }
        if (strncmp(address, "unix:", 5) == 0)
                address += 5;
        /* Only absolute or relative filesystem paths; abstract sockets are not used. */
        if (!*address || strlen(address) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
                return -EINVAL;
        char *a = strdup(address);
        if (!a)
                return -ENOMEM;
        *ret = a;
        return 0;
}

int client_ensure_connected(gunyahctl *h)
{
        if (h->fd >= 0)
                return 0;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t n = strlen(h->address);
        memcpy(sa.sun_path, h->address, n);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* A blocking connect honours SO_SNDTIMEO, so a full backlog waits at most the call
         * timeout; then the socket turns non-blocking for the poll-driven I/O. */
        if (h->timeout_usec != GUNYAHCTL_TIMEOUT_INFINITY) {
                struct timeval tv = { .tv_sec = (time_t)(h->timeout_usec / 1000000u),
                                      .tv_usec = (suseconds_t)(h->timeout_usec % 1000000u) };
                if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                        return -errno;
        }
        socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        int r;
        do
                r = connect(fd, (struct sockaddr *)&sa, salen);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return -errno;
        h->fd = TAKE_FD(fd);
        return 0;
}

int gunyahctl_connect(gunyahctl **ret, const char *address)
{
        if (!ret)
                return -EINVAL;
        gunyahctl *h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->fd = -1;
        h->timeout_usec = GUNYAHCTL_DEFAULT_TIMEOUT_USEC;
        varlink_buffer_init(&h->rbuf, GUNYAHCTL_MAX_REPLY);
        int r = resolve_address(address, &h->address);
        if (r >= 0)
                r = client_ensure_connected(h);
        if (r < 0) {
                gunyahctl_disconnect(h);
                return r;
        }
        *ret = h;
        return 0;
}

void client_close(gunyahctl *h)
{
        if (h->fd >= 0)
                close(h->fd);
        h->fd = -1;
        h->in_stream = false;
        varlink_buffer_free(&h->rbuf);
}

void client_error_clear(gunyahctl *h)
{
        free(h->error_name);
        free(h->error_parameters);
        json_object_put(h->error_object);
        h->error_name = h->error_parameters = NULL;
        h->error_object = NULL;
}

gunyahctl *gunyahctl_disconnect(gunyahctl *h)
{
        if (!h)
                return NULL;
        client_close(h);
        client_error_clear(h);
        free(h->address);
        free(h->cursor);
        free(h);
        return NULL;
}

const char *gunyahctl_get_address(const gunyahctl *h)
{
        return h ? h->address : NULL;
}

int gunyahctl_get_fd(const gunyahctl *h)
{
        if (!h)
                return -EINVAL;
        return h->fd >= 0 ? h->fd : -ENOTCONN;
}

int gunyahctl_set_timeout(gunyahctl *h, uint64_t usec)
{
        if (!h || usec == 0)
                return -EINVAL;
        h->timeout_usec = usec;
        return 0;
}

char *client_json_dup(struct json_object *o)
{
        const char *s = json_object_to_json_string_ext(
                o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        return s ? strdup(s) : NULL;
}

int client_error_set(gunyahctl *h, const VarlinkReply *reply)
{
        client_error_clear(h);
        h->error_name = strdup(reply->error);
        h->error_object = json_object_get(reply->parameters);
        h->error_parameters = client_json_dup(reply->parameters);
        if (!h->error_name || !h->error_parameters) {
                client_error_clear(h);
                return -ENOMEM;
        }
        /* The table of gunyahctl.h, kept in protocol/api.c beside the daemon's mapping. */
        return api_error_to_errno(reply->error);
}

const char *gunyahctl_error_name(const gunyahctl *h)
{
        return h ? h->error_name : NULL;
}

const char *gunyahctl_error_parameters_json(const gunyahctl *h)
{
        return h ? h->error_parameters : NULL;
}

static int error_get(const gunyahctl *h, const char *key, json_type type,
                     struct json_object **ret)
{
        if (!h || !key)
                return -EINVAL;
        if (!h->error_object)
                return -ENODATA;
        struct json_object *v;
        if (!json_object_object_get_ex(h->error_object, key, &v) || !v)
                return -ENOENT;
        if (!json_object_is_type(v, type))
                return -EMEDIUMTYPE;
        *ret = v;
        return 0;
}

int gunyahctl_error_get_string(const gunyahctl *h, const char *key, const char **ret)
{
        struct json_object *v;
        if (!ret)
                return -EINVAL;
        int r = error_get(h, key, json_type_string, &v);
        if (r < 0)
                return r;
        *ret = json_object_get_string(v);
        return 0;
}

int gunyahctl_error_get_int(const gunyahctl *h, const char *key, int64_t *ret)
{
        struct json_object *v;
        if (!ret)
                return -EINVAL;
        int r = error_get(h, key, json_type_int, &v);
        if (r < 0)
                return r;
        *ret = json_object_get_int64(v);
        return 0;
}

/* Send len bytes; the fds ride on the first sendmsg (the kernel delivers them with the
 * first byte, which the daemon reads together with the message). */
static int send_all(gunyahctl *h, const char *p, size_t len, const int *fds, size_t n_fds,
                    uint64_t deadline)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * GUNYAHCTL_MAX_FDS)];
        } control;
        while (len > 0) {
                struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
                if (n_fds > 0) {
                        memset(&control, 0, sizeof(control));
                        mh.msg_control = control.buf;
                        mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                        c->cmsg_level = SOL_SOCKET;
                        c->cmsg_type = SCM_RIGHTS;
                        c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                        memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
                }
                ssize_t n = sendmsg(h->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return errno == EPIPE ? -ECONNRESET : -errno;
                        int r = wait_fd(h, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                p += n;
                len -= (size_t)n;
                n_fds = 0;
        }
        return 0;
}

int client_send_call(gunyahctl *h, const char *method, struct json_object *parameters,
                         const int *fds, size_t n_fds, bool more)
{
        size_t len;
        _cleanup_free_ char *msg = varlink_format_call(method, parameters, false, more, &len);
        if (!msg)
                return -ENOMEM;
        int r = client_ensure_connected(h);
        if (r < 0)
                return r;
        r = send_all(h, msg, len, fds, n_fds, deadline_after(h->timeout_usec));
        if (r < 0)
                client_close(h);
        return r;
}

int client_read_reply(gunyahctl *h, uint64_t timeout_usec, bool keep_on_timeout,
                          VarlinkReply *ret)
{
        uint64_t deadline = deadline_after(timeout_usec);
        int r;
        for (;;) {
                const char *msg;
                size_t len;
                r = varlink_buffer_next(&h->rbuf, &msg, &len);
                if (r > 0) {
                        r = varlink_reply_parse(msg, len, VARLINK_DEFAULT_MAX_DEPTH, ret);
                        break;
                }
                if (r < 0)
                        break;
                ssize_t n = varlink_buffer_read(&h->rbuf, h->fd);
                if (n > 0)
                        continue;
                if (n == 0) {
                        r = -ECONNRESET;
                        break;
                }
                if (n != -EAGAIN) {
                        r = (int)n;
                        break;
                }
                r = wait_fd(h, POLLIN, deadline);
                if (r == -ETIMEDOUT && keep_on_timeout)
                        return -EAGAIN;
                if (r < 0)
                        break;
        }
        if (r < 0)
                client_close(h);
        return r;
}

static int call_check(gunyahctl *h, const char *method, size_t n_fds)
{
        if (!h || !method || n_fds > GUNYAHCTL_MAX_FDS ||
            !varlink_qualified_name_valid(method, NULL))
                return -EINVAL;
        if (h->in_stream)
                return -EBUSY;
        return 0;
}

int client_call_object(gunyahctl *h, const char *method, struct json_object *parameters,
                           const int *fds, size_t n_fds, gunyahctl_reply_fn on_continues,
                           void *userdata, char **ret_reply_json)
{
        if (h)
                client_error_clear(h);
        int r = call_check(h, method, n_fds);
        if (r < 0)
                return r;
        r = client_send_call(h, method, parameters, fds, n_fds, on_continues != NULL);
        if (r < 0)
                return r;
        for (;;) {
                VarlinkReply rep;
                r = client_read_reply(h, h->timeout_usec, false, &rep);
                if (r < 0)
                        return r;
                if (rep.error) {
                        /* An error ends the call; a stream may end with one too. */
                        r = client_error_set(h, &rep);
                        varlink_reply_done(&rep);
                        return r;
                }
                if (rep.continues) {
                        if (!on_continues) {
                                /* We did not ask for more: the stream is out of step. */
                                varlink_reply_done(&rep);
                                client_close(h);
                                return -EPROTO;
                        }
                        const char *s = json_object_to_json_string_ext(
                                rep.parameters,
                                JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
                        r = s ? on_continues(s, userdata) : -ENOMEM;
                        varlink_reply_done(&rep);
                        if (r < 0) {
                                client_close(h);
                                return r;
                        }
                        continue;
                }
                r = 0;
                if (ret_reply_json) {
                        *ret_reply_json = client_json_dup(rep.parameters);
                        if (!*ret_reply_json)
                                r = -ENOMEM;
                }
                varlink_reply_done(&rep);
                return r;
        }
}

/* Exactly one JSON object (whitespace around it allowed), nothing after it. */
static int parse_object(const char *text, struct json_object **ret)
{
        size_t len = strlen(text);
        if (len > INT32_MAX)
                return -EINVAL;
        struct json_tokener *tok = json_tokener_new_ex(VARLINK_DEFAULT_MAX_DEPTH);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        struct json_object *o = json_tokener_parse_ex(tok, text, (int)len);
        bool ok = o && json_tokener_get_error(tok) == json_tokener_success &&
                  json_object_is_type(o, json_type_object);
        for (size_t i = ok ? json_tokener_get_parse_end(tok) : len; ok && i < len; i++)
                if (!strchr(" \t\r\n", text[i]))
                        ok = false;
        json_tokener_free(tok);
        if (!ok) {
                json_object_put(o);
                return -EINVAL;
        }
        *ret = o;
        return 0;
}

int gunyahctl_call(gunyahctl *h, const char *method, const char *parameters_json,
                   const int *fds, size_t n_fds, gunyahctl_reply_fn on_continues,
                   void *userdata, char **ret_reply_json)
{
        if (h)
                client_error_clear(h);
        if ((n_fds > 0 && !fds))
                return -EINVAL;
        _cleanup_(json_object_putp) struct json_object *params = NULL;
        if (parameters_json) {
                int r = parse_object(parameters_json, &params);
                if (r < 0)
                        return r;
        }
        return client_call_object(h, method, params, fds, n_fds, on_continues, userdata,
                                      ret_reply_json);
}

int client_json_add_string(struct json_object *o, const char *key, const char *value)
{
        struct json_object *v = json_object_new_string(value);
        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

int client_json_add_int(struct json_object *o, const char *key, int64_t value)
{
        struct json_object *v = json_object_new_int64(value);
        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

int client_json_add_bool(struct json_object *o, const char *key, bool value)
{
        struct json_object *v = json_object_new_boolean(value);
        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}
