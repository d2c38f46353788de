/* SPDX-License-Identifier: MIT */
/*
 * The Varlink server: listeners, connections, the call in flight, dispatch through the
 * interface tables, authorization. Rules and limits are described in api-server.h.
 *
 * Lifetimes: ApiConn and ApiCall are reference counted. The server's list holds one
 * reference on each open connection; a call holds one on its connection until its final
 * reply or the disconnect; the dispatcher holds one on each while a handler runs, so a
 * handler may complete or lose its call (or the connection may close) at any point.
 *
 * I/O: a connection reads only when it needs input (no call in flight, no whole message
 * waiting, output below max_output); otherwise its input stays in the kernel's socket
 * buffer, which is what bounds a client that pipelines or does not read. EPOLLHUP (the peer
 * closed) is always reported, so a client that leaves during a long call is noticed.
 * A reply goes to the socket when nothing is queued ahead of it; only what the socket does
 * not take waits in the output queue for EPOLLOUT. While conn_process() runs the calls of a
 * connection, replies neither touch the epoll mask nor kick the defer source:
 * conn_process() sets the mask once at its end, so a synchronous call costs one loop turn.
 * Replies made during a pass (below) are held, one per connection and without a copy, and
 * all leave at the end of the pass: a client busy on many connections then finds them
 * together, and is woken once for the lot instead of once per reply (a wake-up per reply,
 * between two calls' work, cost more than the calls).
 *
 * Event sources: the connections are not sd-event sources each. Their fds are in an epoll
 * set of the server's own, which sd-event watches as one io source (conns_io): its handler
 * takes up to CONNS_PER_PASS ready connections from one epoll_wait() and serves each once
 * (flush, read, at most MESSAGES_PER_PASS calls), so 64 busy clients cost one pass instead of
 * 64 loop turns each re-reporting every ready fd. The set is level-triggered: what a pass
 * leaves (more ready fds, unread input) is reported again. A connection that must run
 * without its fd becoming ready (a call completed from elsewhere, whole messages left when
 * its budget ran out) goes on the pending list, run by one defer source on the next turn.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "api-json.h"
#include "api-server-internal.h"
#include "api.h"
#include "json-out.h"
#include "log.h"
#include "macro.h"
#include "varlink.h"

#define READS_PER_WAKEUP 8u
#define CONNS_PER_PASS 64u
#define MESSAGES_PER_PASS 16u
#define HELD_MAX (64u * 1024u) /* replies of one connection held in a pass (see conn_queue()) */
#define ACCEPTS_PER_WAKEUP 16u
#define ACCEPT_RETRY_USEC (100u * 1000u)

static void conn_close(ApiConn *c);
static void conn_kick(ApiConn *c);
static void conn_update_events(ApiConn *c);

/* ---- references ---- */

static ApiConn *conn_ref(ApiConn *c)
{
        c->n_ref++;
        return c;
}

static void conn_free_fds(ApiConn *c)
{
        for (unsigned i = 0; i < c->n_fds; i++)
                close(c->fds[i]);
        c->n_fds = 0;
}

/* Output queued past this when a connection goes is handed back to the kernel at once: a
 * Monitor client that never read leaves up to max_output (4 MiB) of small blocks, which the
 * allocator would otherwise keep (rel-load: 25 such clients left 124 MiB resident). */
#define API_TRIM_AFTER (1u << 20)

static void conn_free_output(ApiConn *c)
{
        bool trim = c->out_bytes > API_TRIM_AFTER;
        free(c->held);
        c->held = NULL;
        c->held_len = 0;
        while (c->out_head) {
                ApiOut *o = c->out_head;
                c->out_head = o->next;
                free(o);
        }
        c->out_tail = NULL;
        c->out_bytes = 0;
        if (trim)
                (void)malloc_trim(0);
}

static ApiConn *conn_unref(ApiConn *c)
{
        if (!c || --c->n_ref > 0)
                return NULL;
        if (c->fd >= 0)
                close(c->fd);
        conn_free_fds(c);
        conn_free_output(c);
        varlink_buffer_free(&c->in);
        free(c);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(ApiConn *, conn_unref);

ApiCall *api_call_ref(ApiCall *c)
{
        c->n_ref++;
        return c;
}

static void call_close_fds(ApiCall *c)
{
        for (unsigned i = 0; i < c->n_fds; i++)
                if (c->fds[i] >= 0)
                        close(c->fds[i]);
        c->n_fds = 0;
}

ApiCall *api_call_unref(ApiCall *c)
{
        if (!c || --c->n_ref > 0)
                return NULL;
        call_close_fds(c);
        conn_unref(c->conn);
        varlink_call_done(&c->vc);
        free(c);
        return NULL;
}

/* ---- accessors ---- */

const char *api_call_method(const ApiCall *c)
{
        return c->vc.method;
}

bool api_call_more(const ApiCall *c)
{
        return c->vc.more;
}

bool api_call_oneway(const ApiCall *c)
{
        return c->vc.oneway;
}

const ApiPeer *api_call_peer(const ApiCall *c)
{
        return &c->peer;
}

bool api_call_connected(const ApiCall *c)
{
        return c->conn && !c->conn->closed;
}

int api_call_take_fd(ApiCall *c, unsigned index)
{
        if (index >= c->n_fds || c->fds[index] < 0)
                return -ENXIO;
        return TAKE_FD(c->fds[index]);
}

void api_call_set_disconnect(ApiCall *c, ApiCallDisconnectFn fn, void *userdata)
{
        c->disconnect = fn;
        c->disconnect_userdata = userdata;
}

/* ---- output ---- */

/* The peer stopped reading for good (EPIPE, ECONNRESET): keep serving what it sent (oneway
 * calls before a close), drop every reply. */
static void conn_output_failed(ApiConn *c, int error)
{
        log_debug_errno(error, "API connection: write failed, dropping output: %m");
        c->output_dead = true;
        conn_free_output(c);
}

/* Send or queue one serialized message (NUL included; data is consumed). When nothing is
 * queued ahead of it, it goes to the socket at once and only what the socket did not take is
 * queued; the rest leaves on EPOLLOUT. Inside conn_process() the epoll mask is left for
 * conn_process() to set once at its end. Output to a peer that stopped reading for good
 * (EPIPE) is dropped. */
static int conn_write(ApiConn *c, char *data, size_t len)
{
        _cleanup_free_ char *m = data;
        size_t off = 0;

        if (c->closed || c->output_dead)
                return c->closed ? -ENOTCONN : 0;
        if (!c->out_head) {
                ssize_t n = send(c->fd, m, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        conn_output_failed(c, errno);
                        return 0;
                }
                if (n > 0)
                        off = (size_t)n;
                if (off == len)
                        return 0;
        }
        ApiOut *o = malloc(sizeof(*o) + (len - off));
        if (!o)
                return -ENOMEM;
        o->next = NULL;
        o->len = len - off;
        o->off = 0;
        memcpy(o->data, m + off, len - off);
        if (c->out_tail)
                c->out_tail->next = o;
        else
                c->out_head = o;
        c->out_tail = o;
        c->out_bytes += len - off;
        if (!c->processing)
                conn_update_events(c);
        return 0;
}

/* Write the held reply (see conn_queue()). */
static int conn_release_held(ApiConn *c)
{
        if (!c->held)
                return 0;
        size_t len = c->held_len;
        c->out_bytes -= len;
        c->held_len = 0;
        return conn_write(c, TAKE_PTR(c->held), len);
}

/* Append c to l with a reference; false if it was in l already. */
static bool conn_list_push(ApiConnList *l, ApiConn *c)
{
        ApiConnLink *link = &c->links[l->kind];

        if (link->queued)
                return false;
        link->queued = true;
        conn_ref(c);
        if (l->tail)
                l->tail->links[l->kind].next = c;
        else
                l->head = c;
        l->tail = c;
        return true;
}

/* Take the first connection off l; the caller owns the list's reference. NULL if empty. */
static ApiConn *conn_list_pop(ApiConnList *l)
{
        ApiConn *c = l->head;

        if (!c)
                return NULL;
        l->head = c->links[l->kind].next;
        if (!l->head)
                l->tail = NULL;
        c->links[l->kind] = (ApiConnLink){};
        return c;
}

static void conn_list_clear(ApiConnList *l)
{
        ApiConn *c;

        while ((c = conn_list_pop(l)))
                conn_unref(c); /* the list's reference */
}

static void server_flush_later(ApiServer *s, ApiConn *c)
{
        (void)conn_list_push(&s->flush, c);
}

/* As conn_write(); during a pass, a reply with nothing ahead of it is held (not copied) and
 * sent at the end of the pass. Further replies of the same connection in the pass (pipelined
 * calls, stream notifications) are appended to it up to HELD_MAX bytes, so they leave in
 * one send; past that the held ones are sent first, so order holds. A stream notification
 * outside a pass (later) is held until flush_src runs on the next loop turn: the handler
 * that made it (an RM reply's, say) first sends what it sends next, and the client's
 * wake-up no longer stands between the daemon and the RM (docs/performance.md). */
static int conn_queue(ApiConn *c, char *data, size_t len, bool later)
{
        ApiServer *s = c->server;

        if (c->closed || c->output_dead) {
                free(data);
                return c->closed ? -ENOTCONN : 0;
        }
        bool hold = s->in_pass;
        if (!hold && later && s->flush_src && !c->held && !c->out_head)
                hold = sd_event_source_set_enabled(s->flush_src, SD_EVENT_ONESHOT) >= 0;
        if (hold && !c->held && !c->out_head) {
                c->held = data;
                c->held_len = len;
                c->out_bytes += len;
                server_flush_later(s, c);
                return 0;
        }
        if (c->held && c->held_len + len <= HELD_MAX) {
                char *n = realloc(c->held, c->held_len + len);
                if (n) {
                        memcpy(n + c->held_len, data, len);
                        free(data);
                        c->held = n;
                        c->held_len += len;
                        c->out_bytes += len;
                        return 0;
                }
        }
        int r = conn_release_held(c);
        if (r < 0) {
                free(data);
                return r;
        }
        return conn_write(c, data, len);
}

static int conn_flush(ApiConn *c)
{
        while (c->out_head) {
                ApiOut *o = c->out_head;
                ssize_t n = send(c->fd, o->data + o->off, o->len - o->off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        conn_output_failed(c, errno);
                        return 0;
                }
                o->off += (size_t)n;
                c->out_bytes -= (size_t)n;
                if (o->off < o->len)
                        continue;
                c->out_head = o->next;
                if (!c->out_head)
                        c->out_tail = NULL;
                free(o);
        }
        return 0;
}

/* ---- replies ---- */

static void call_complete(ApiCall *call)
{
        call->completed = true;
        call_close_fds(call);
        ApiConn *c = TAKE_PTR(call->conn);
        if (!c)
                return;
        if (c->current == call) {
                c->current = NULL;
                api_call_unref(call); /* the connection's reference */
        }
        /* Inside conn_process() its loop runs the next message; otherwise a loop turn
         * does (never from the handler's stack). */
        if (!c->processing)
                conn_kick(c);
        conn_unref(c);
}

/* ---- reply serialization ---- */

/*
 * A reply is serialized here rather than by varlink_format_reply(): that one builds an
 * envelope object around the parameters, lets json-c print it into a printbuf grown by
 * doubling (integers through snprintf) and copies the result out; this writes the same bytes
 * straight into one buffer. The output is byte for byte json-c's with JSON_C_TO_STRING_PLAIN
 * | JSON_C_TO_STRING_NOSLASHESCAPE (as varlink_format_reply() uses): keys in insertion
 * order, no spaces, json-c's string escapes. json-c itself prints what this does not
 * reproduce: doubles (json-c's %.17g rules, or the text they were parsed from) and any value
 * that carries userdata (a value with its own serializer, json_object_set_serializer(), as
 * api-monitor.c's cached event text: such a serializer must be given userdata).
 */
#define REPLY_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static void reply_put_json(JsonOut *b, struct json_object *o)
{
        if (!o) {
                json_out_puts(b, "null");
                return;
        }
        json_type t = json_object_get_type(o);
        if (t == json_type_double || json_object_get_userdata(o)) {
                size_t n;
                const char *text = json_object_to_json_string_length(o, REPLY_JSON_FLAGS, &n);
                if (text)
                        json_out_put(b, text, n);
                else
                        b->oom = true;
                return;
        }
        switch (t) {
        case json_type_null:
                json_out_puts(b, "null");
                break;
        case json_type_boolean:
                if (json_object_get_boolean(o))
                        json_out_puts(b, "true");
                else
                        json_out_puts(b, "false");
                break;
        case json_type_int: {
                /* Stored as int64, or as uint64 above INT64_MAX (get_int64 then saturates). */
                int64_t i = json_object_get_int64(o);
                uint64_t u = i == INT64_MAX ? json_object_get_uint64(o) : 0;
                if (u > (uint64_t)INT64_MAX)
                        json_out_u64(b, u, false);
                else
                        json_out_u64(b, i < 0 ? -(uint64_t)i : (uint64_t)i, i < 0);
                break;
        }
        case json_type_string:
                json_out_string(b, json_object_get_string(o), (size_t)json_object_get_string_len(o), false);
                break;
        case json_type_object: {
                bool first = true;
                json_out_puts(b, "{");
                json_object_object_foreach(o, key, val) {
                        if (!first)
                                json_out_puts(b, ",");
                        first = false;
                        json_out_string(b, key, strlen(key), false);
                        json_out_puts(b, ":");
                        reply_put_json(b, val);
                }
                json_out_puts(b, "}");
                break;
        }
        case json_type_array: {
                size_t n = json_object_array_length(o);
                json_out_puts(b, "[");
                for (size_t i = 0; i < n; i++) {
                        if (i > 0)
                                json_out_puts(b, ",");
                        reply_put_json(b, json_object_array_get_idx(o, i));
                }
                json_out_puts(b, "]");
                break;
        }
        default: /* json_type_double: above */
                b->oom = true;
        }
}

/* The bytes varlink_format_reply() returns (NUL included, *ret_len counts it): {"parameters":
 * P[,"continues":true][,"error":E]}, P = {} when parameters is NULL. NULL on ENOMEM. */
static char *reply_format(struct json_object *parameters, const char *error, bool continues,
                          size_t *ret_len)
{
        JsonOut b = { 0 };

        if (!json_out_reserve(&b, 512))
                return NULL;
        json_out_puts(&b, "{\"parameters\":");
        if (parameters)
                reply_put_json(&b, parameters);
        else
                json_out_puts(&b, "{}");
        if (continues)
                json_out_puts(&b, ",\"continues\":true");
        if (error) {
                json_out_puts(&b, ",\"error\":");
                json_out_string(&b, error, strlen(error), false);
        }
        json_out_put(&b, "}", 2); /* and the NUL */
        if (b.oom) {
                free(b.data);
                return NULL;
        }
        *ret_len = b.len;
        return b.data;
}

static int call_send(ApiCall *call, struct json_object *parameters, const char *error,
                     bool continues, bool later)
{
        _cleanup_(json_object_putp) struct json_object *p = parameters;
        if (call->completed)
                return -EALREADY;
        bool final = !continues;
        int r = 0;
        if (!api_call_connected(call))
                r = -ENOTCONN;
        else if (!call->vc.oneway && (final || call->vc.more)) {
                ApiConn *c = call->conn;
                if (continues && c->out_bytes > c->server->opts.max_output) {
                        log_info("API client uid=%u pid=%u does not read its %s stream "
                                 "(%zu bytes queued), disconnecting",
                                 (unsigned)call->peer.uid, (unsigned)call->peer.pid,
                                 call->vc.method, c->out_bytes);
                        conn_close(c);
                        return -ENOBUFS;
                }
                size_t len;
                char *m = reply_format(p, error, continues, &len);
                r = m ? conn_queue(c, m, len, later) : -ENOMEM;
                if (r == -ENOMEM) {
                        log_error("API: out of memory for a reply, closing the connection");
                        conn_close(c);
                }
        }
        if (final)
                call_complete(call);
        return r;
}

int api_call_reply(ApiCall *c, struct json_object *parameters)
{
        return call_send(c, parameters, NULL, false, false);
}

int api_call_notify(ApiCall *c, struct json_object *parameters)
{
        return call_send(c, parameters, NULL, true, true);
}

int api_call_notify_now(ApiCall *c, struct json_object *parameters)
{
        return call_send(c, parameters, NULL, true, false);
}

int api_call_error(ApiCall *c, const char *error, struct json_object *parameters)
{
        return call_send(c, parameters, error, false, false);
}

int api_call_error_errno(ApiCall *c, int error, const struct ApiErrorDetail *detail)
{
        struct json_object *p = NULL;
        const char *name = api_error_from_errno(error, detail, &p);
        return api_call_error(c, name, p);
}

int api_call_error_invalid_parameter(ApiCall *c, const char *parameter)
{
        struct json_object *p = json_object_new_object();
        if (p)
                api_json_add_string(p, "parameter", parameter);
        return api_call_error(c, API_ERROR_INVALID_PARAMETER, p);
}

static int call_error_string(ApiCall *c, const char *error, const char *key, const char *value)
{
        struct json_object *p = json_object_new_object();
        if (p)
                api_json_add_string(p, key, value);
        return api_call_error(c, error, p);
}

/* ---- dispatch ---- */

static const ApiInterfaceReg *server_find_interface(ApiServer *s, const char *name, size_t len)
{
        for (size_t i = 0; i < s->n_ifaces; i++)
                if (strlen(s->ifaces[i].iface->name) == len &&
                    memcmp(s->ifaces[i].iface->name, name, len) == 0)
                        return &s->ifaces[i];
        return NULL;
}

static const ApiMethod *interface_find_method(const ApiInterface *iface, const char *member)
{
        for (const ApiMethod *m = iface->methods; m && m->name; m++)
                if (strcmp(m->name, member) == 0)
                        return m;
        return NULL;
}

static bool peer_in_group(int fd, gid_t gid)
{
        gid_t small[64];
        socklen_t len = sizeof(small);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, small, &len) == 0) {
                for (size_t i = 0; i < len / sizeof(gid_t); i++)
                        if (small[i] == gid)
                                return true;
                return false;
        }
        if (errno != ERANGE || len == 0)
                return false;
        _cleanup_free_ gid_t *big = malloc(len);
        if (!big || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, big, &len) < 0)
                return false;
        for (size_t i = 0; i < len / sizeof(gid_t); i++)
                if (big[i] == gid)
                        return true;
        return false;
}

/* The admin group is looked up at the first admin call of a peer that is not root, not at
 * start: the NSS lookup loads libnss_systemd (and libm) into an otherwise idle daemon. The
 * result, found or not, is kept. A number is taken as a GID without any lookup. */
static void server_resolve_admin(ApiServer *s)
{
        struct group gr, *res = NULL;
        char buf[4096];

        if (s->admin_resolved)
                return;
        s->admin_resolved = true;
        int r = getgrnam_r(s->admin_group, &gr, buf, sizeof(buf), &res);
        if (r != 0 || !res) {
                log_warning("API: admin group \"%s\" not found: only root may change state",
                            s->admin_group);
                return;
        }
        s->admin_gid = res->gr_gid;
        s->have_admin_gid = true;
}

/* uid 0, or the admin group as primary or supplementary group (SO_PEERGROUPS: the groups
 * the peer had when it connected). Checked once per connection. */
static bool conn_peer_admin(ApiConn *c)
{
        ApiServer *s = c->server;

        if (c->peer.admin || c->admin_checked)
                return c->peer.admin;
        c->admin_checked = true;
        server_resolve_admin(s);
        c->peer.admin = s->have_admin_gid &&
                        (c->peer.gid == s->admin_gid || peer_in_group(c->fd, s->admin_gid));
        return c->peer.admin;
}

static void log_admin_call(const ApiCall *call)
{
        char uid[32], pid[32];
        snprintf(uid, sizeof(uid), "GUNYAH_UID=%u", (unsigned)call->peer.uid);
        snprintf(pid, sizeof(pid), "GUNYAH_PID=%u", (unsigned)call->peer.pid);
        log_full_errno_fields(LOG_INFO, 0, LOG_FIELDS(uid, pid), "API call %s by uid=%u pid=%u",
                              call->vc.method, (unsigned)call->peer.uid,
                              (unsigned)call->peer.pid);
}

/* Run one parsed call whose fds are attached. Consumes the dispatcher's reference. */
static void call_run(ApiConn *c, ApiCall *call)
{
        const VarlinkCall *vc = &call->vc;
        const ApiInterfaceReg *reg = server_find_interface(c->server, vc->method,
                                                           (size_t)(vc->interface_end - vc->method));
        if (!reg) {
                char iface[256];
                snprintf(iface, sizeof(iface), "%.*s", (int)(vc->interface_end - vc->method),
                         vc->method);
                (void)call_error_string(call, API_ERROR_INTERFACE_NOT_FOUND, "interface", iface);
                return;
        }
        const ApiMethod *m = interface_find_method(reg->iface, vc->interface_end + 1);
        if (!m) {
                (void)call_error_string(call, API_ERROR_METHOD_NOT_FOUND, "method", vc->method);
                return;
        }
        if (!m->func) {
                (void)call_error_string(call, API_ERROR_METHOD_NOT_IMPLEMENTED, "method",
                                        vc->method);
                return;
        }
        if (vc->upgrade) {
                (void)api_call_error_invalid_parameter(call, "upgrade");
                return;
        }
        if ((m->flags & API_METHOD_REQUIRES_MORE) && !vc->more) {
                (void)api_call_error(call, API_ERROR_EXPECTED_MORE, NULL);
                return;
        }
        if (m->flags & API_METHOD_ADMIN) {
                call->peer.admin = conn_peer_admin(c);
                if (!call->peer.admin) {
                        log_notice("API call %s by uid=%u pid=%u refused: not root nor in the "
                                   "admin group", vc->method, (unsigned)call->peer.uid,
                                   (unsigned)call->peer.pid);
                        (void)api_call_error(call, API_ERROR_PERMISSION_DENIED, NULL);
                        return;
                }
                log_admin_call(call);
        }
        const char *field = NULL;
        if (m->fields && api_json_dispatch(vc->parameters, m->fields, NULL, NULL, &field) < 0) {
                (void)api_call_error_invalid_parameter(call, field);
                return;
        }
        int r = m->func(call, vc->parameters, reg->userdata);
        if (r < 0 && !call->completed)
                (void)api_call_error_errno(call, r, NULL);
}

/* Hand the fds that arrived with bytes [start, end] of the stream to the call; fds that
 * arrived before start belonged to an earlier message that did not take them: close. */
static void conn_attach_fds(ApiConn *c, ApiCall *call, uint64_t start, uint64_t end)
{
        unsigned keep = 0;
        for (unsigned i = 0; i < c->n_fds; i++) {
                if (c->fd_at[i] < start)
                        close(c->fds[i]);
                else if (c->fd_at[i] <= end && call->n_fds < API_FDS_MAX)
                        call->fds[call->n_fds++] = c->fds[i];
                else {
                        c->fds[keep] = c->fds[i];
                        c->fd_at[keep++] = c->fd_at[i];
                }
        }
        c->n_fds = keep;
}

/*
 * A message that cannot be a call (not JSON, nested too deep, invalid UTF-8, over the size
 * limit): the stream cannot be trusted past it, so the connection closes, but first the
 * client is told why, as Varlink's InvalidParameter naming "message" — when no earlier reply
 * is still queued (replies stay in order) and the socket takes it at once.
 */
static void conn_refuse(ApiConn *c, const char *why)
{
        static const char reply[] = "{\"error\":\"" API_ERROR_INVALID_PARAMETER "\","
                                    "\"parameters\":{\"parameter\":\"message\"}}";
        log_debug("API connection uid=%u: message %s (limits: %zu bytes, depth %u): refused, "
                  "closing", (unsigned)c->peer.uid, why, c->server->opts.max_message,
                  c->server->opts.max_depth);
        if (conn_release_held(c) >= 0 && !c->out_head && !c->output_dead && c->fd >= 0)
                (void)send(c->fd, reply, sizeof(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
        conn_close(c);
}

static void conn_dispatch(ApiConn *c, const char *msg, size_t len)
{
        uint64_t start = c->in_taken;
        c->in_taken += len + 1;
        ApiCall *call = calloc(1, sizeof(*call));
        if (!call) {
                conn_close(c);
                return;
        }
        call->n_ref = 1;
        call->peer = c->peer;
        const char *field = "";
        int r = varlink_parser_parse_call(&c->server->parser, msg, len, c->server->opts.max_depth,
                                          &call->vc, &field);
        if (r < 0 && r != -EPROTO) {
                free(call);
                conn_refuse(c, r == -ELOOP ? "too deeply nested" : "not a JSON object");
                return;
        }
        call->conn = conn_ref(c);
        c->current = api_call_ref(call); /* the connection's reference */
        conn_attach_fds(c, call, start, start + len);
        if (r == -EPROTO)
                (void)api_call_error_invalid_parameter(call, field);
        else
                call_run(c, call);
        api_call_unref(call);
}

/* After the peer's EOF: close once every call ran and every reply left (a partial message
 * at the end can never complete and is dropped); a connection due to run again (pending)
 * decides then. Otherwise set the epoll mask. */
static void conn_settle(ApiConn *c)
{
        if (c->closed)
                return;
        if (c->eof && !c->links[API_CONN_LIST_PENDING].queued && !c->current && (!c->out_bytes || c->output_dead))
                conn_close(c);
        else
                conn_update_events(c);
}

static bool conn_may_run(ApiConn *c)
{
        return !c->closed && !c->current && c->out_bytes <= c->server->opts.max_output;
}

/* Run whole messages while nothing is in flight and the client keeps up, at most
 * MESSAGES_PER_PASS of them (one client pipelining calls does not hold up the others).
 * Returns true when the budget ran out with a whole message still waiting to run. */
static bool conn_process_messages(ApiConn *c)
{
        for (unsigned i = 0; i < MESSAGES_PER_PASS; i++) {
                if (!conn_may_run(c))
                        return false;
                const char *msg;
                size_t len;
                int r = varlink_buffer_next(&c->in, &msg, &len);
                if (r < 0) {
                        conn_refuse(c, "over the message size limit");
                        return false;
                }
                if (r == 0)
                        return false;
                conn_dispatch(c, msg, len);
        }
        return conn_may_run(c) && varlink_buffer_has_message(&c->in);
}

static void conn_process(ApiConn *c)
{
        _cleanup_(conn_unrefp) _unused_ ApiConn *hold = conn_ref(c);
        bool was_processing = c->processing;

        c->processing = true;
        bool more = conn_process_messages(c);
        c->processing = was_processing;
        if (c->closed)
                return;
        /* Messages left by the budget run on the next loop turn: their fd may never be
         * reported again (the input is already in the buffer, EPOLLIN is off). */
        if (more)
                conn_kick(c);
        conn_settle(c);
}

/* ---- input ---- */

static void conn_take_cmsg(ApiConn *c, struct msghdr *mh, uint64_t at)
{
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int *fds = (int *)(void *)CMSG_DATA(cm);
                for (size_t i = 0; i < n; i++) {
                        if (c->n_fds < API_FDS_MAX) {
                                c->fds[c->n_fds] = fds[i];
                                c->fd_at[c->n_fds++] = at;
                        } else
                                close(fds[i]);
                }
        }
}

/* One recvmsg into the buffer. Returns > 0 bytes, 0 EOF, -EAGAIN, or another -errno. */
static int conn_recv(ApiConn *c)
{
        void *p;
        size_t avail;
        int r = varlink_buffer_reserve(&c->in, &p, &avail);
        if (r < 0)
                return r;
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(int) * 8)];
        } control;
        struct iovec iov = { .iov_base = p, .iov_len = avail };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof(control) };
        ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
                return errno == EINTR ? -EAGAIN : -errno;
        conn_take_cmsg(c, &mh, c->in_total);
        if (mh.msg_flags & MSG_CTRUNC)
                log_debug("API connection uid=%u: too many fds in one message, extra closed",
                          (unsigned)c->peer.uid);
        if (n == 0)
                return 0;
        c->in_total += (uint64_t)n;
        r = varlink_buffer_commit(&c->in, (size_t)n);
        return r < 0 ? r : (int)MIN(n, (ssize_t)INT32_MAX);
}

static bool conn_wants_input(ApiConn *c)
{
        return !c->closed && !c->eof && !c->current && !varlink_buffer_has_message(&c->in) &&
               c->out_bytes <= c->server->opts.max_output;
}

/* Read until a whole message is in, the socket is empty, or the budget is spent. */
static void conn_read(ApiConn *c)
{
        for (unsigned i = 0; i < READS_PER_WAKEUP && conn_wants_input(c); i++) {
                int r = conn_recv(c);
                if (r == -EAGAIN)
                        return;
                if (r == 0) {
                        c->eof = true;
                        return;
                }
                if (r == -EMSGSIZE) {
                        conn_refuse(c, "over the message size limit");
                        return;
                }
                if (r < 0) {
                        if (r != -ECONNRESET)
                                log_debug_errno(r, "API connection uid=%u: read failed, closing",
                                                (unsigned)c->peer.uid);
                        conn_close(c);
                        return;
                }
        }
}

/* One ready connection of a pass: revents as epoll_wait() reported them. */
static void conn_on_io(ApiConn *c, uint32_t revents)
{
        _cleanup_(conn_unrefp) _unused_ ApiConn *hold = conn_ref(c);
        if (revents & EPOLLOUT)
                (void)conn_flush(c);
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                conn_read(c);
        if (!c->closed)
                conn_process(c);
        /* The peer is gone (EPOLLHUP is reported whatever the mask) and we are not reading
         * what it left: a call in flight, or output it will never take. Nothing can reach it
         * any more; closing also stops the level-triggered wakeups. */
        if (!c->closed && (revents & (EPOLLHUP | EPOLLERR)) && !conn_wants_input(c))
                conn_close(c);
}

/* The server's epoll set is readable: serve the connections one epoll_wait() reports, each
 * once. A handler may close any connection (a Monitor client that lags, say), so each one
 * reported is held until the pass ends and skipped once closed. */
static void server_pass_begin(ApiServer *s)
{
        s->in_pass = true;
}

/* Send the replies held during the pass, then settle their connections. */
static void server_pass_end(ApiServer *s)
{
        ApiConn *c;

        s->in_pass = false;
        while ((c = conn_list_pop(&s->flush))) {
                if (!c->closed) {
                        if (conn_release_held(c) == -ENOMEM) {
                                log_error("API: out of memory for a reply, closing the connection");
                                conn_close(c);
                        } else
                                conn_settle(c);
                }
                conn_unref(c); /* the list's reference */
        }
}

static int server_on_flush(sd_event_source *src, void *userdata)
{
        server_pass_end(userdata);
        return 0;
}

static int server_on_conns(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        ApiServer *s = userdata;
        struct epoll_event evs[CONNS_PER_PASS];

        int n = epoll_wait(s->epoll_fd, evs, (int)CONNS_PER_PASS, 0);
        if (n < 0) {
                if (errno != EINTR)
                        log_warning_errno(errno, "API: epoll_wait on the connections failed: %m");
                return 0;
        }
        for (int i = 0; i < n; i++)
                conn_ref(evs[i].data.ptr);
        server_pass_begin(s);
        for (int i = 0; i < n; i++) {
                ApiConn *c = evs[i].data.ptr;
                if (!c->closed)
                        conn_on_io(c, evs[i].events);
        }
        server_pass_end(s);
        for (int i = 0; i < n; i++)
                conn_unref(evs[i].data.ptr);
        return 0;
}

/* Run every connection that was on the pending list when the turn began, once; those that
 * queue themselves again meanwhile wait for the next turn. */
static int server_on_pending(sd_event_source *src, void *userdata)
{
        ApiServer *s = userdata;
        ApiConnList turn = s->pending;
        ApiConn *c;

        s->pending = (ApiConnList){ .kind = API_CONN_LIST_PENDING };
        server_pass_begin(s);
        while ((c = conn_list_pop(&turn))) {
                if (!c->closed)
                        conn_process(c);
                conn_unref(c); /* the list's reference */
        }
        server_pass_end(s);
        return 0;
}

/* Run the connection's queued messages on the next loop turn (never from the caller's
 * stack). */
static void conn_kick(ApiConn *c)
{
        ApiServer *s = c->server;

        if (c->closed || !s->pending_src)
                return;
        bool was_empty = !s->pending.head;
        if (conn_list_push(&s->pending, c) && was_empty)
                (void)sd_event_source_set_enabled(s->pending_src, SD_EVENT_ONESHOT);
}

static void conn_update_events(ApiConn *c)
{
        if (c->closed || !c->in_epoll)
                return;
        uint32_t ev = 0;
        if (conn_wants_input(c))
                ev |= EPOLLIN;
        if (c->out_head) /* not for a held reply: it leaves at the end of the pass */
                ev |= EPOLLOUT;
        if (ev == c->events)
                return;
        struct epoll_event e = { .events = ev, .data.ptr = c };
        if (epoll_ctl(c->server->epoll_fd, EPOLL_CTL_MOD, c->fd, &e) < 0) {
                /* Left as it was; the next update tries again. */
                log_debug_errno(errno, "API connection uid=%u: epoll_ctl failed: %m",
                                (unsigned)c->peer.uid);
                return;
        }
        c->events = ev;
}

static void conn_close(ApiConn *c)
{
        if (c->closed)
                return;
        c->closed = true;
        _cleanup_(conn_unrefp) _unused_ ApiConn *hold = conn_ref(c);
        ApiServer *s = c->server;
        if (c->in_epoll) {
                (void)epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
                c->in_epoll = false;
        }
        if (c->fd >= 0) {
                close(c->fd);
                c->fd = -1;
        }
        conn_free_output(c);
        conn_free_fds(c);
        varlink_buffer_free(&c->in);
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
        s->n_conns--;
        ApiCall *call = TAKE_PTR(c->current);
        if (call) {
                call->conn = NULL;
                conn_unref(c); /* the call's reference */
                if (call->disconnect)
                        call->disconnect(call, call->disconnect_userdata);
                api_call_unref(call); /* the connection's reference */
        }
        conn_unref(c); /* the list's reference */
}

/* ---- connections ---- */

static unsigned server_count_uid(const ApiServer *s, uid_t uid)
{
        unsigned n = 0;
        for (const ApiConn *c = s->conns; c; c = c->next)
                if (c->peer.uid == uid)
                        n++;
        return n;
}

int api_server_add_connection(ApiServer *s, int fd)
{
        _cleanup_close_ int owned = fd;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        if (s->n_conns >= s->opts.max_connections ||
            server_count_uid(s, cred.uid) >= s->opts.max_connections_per_uid) {
                log_debug("API: refusing a connection of uid=%u pid=%u: %u connections open",
                          (unsigned)cred.uid, (unsigned)cred.pid, s->n_conns);
                return -EUSERS;
        }
        ApiConn *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->n_ref = 1;
        c->server = s;
        c->fd = -1;
        c->peer = (ApiPeer){ .uid = cred.uid, .gid = cred.gid, .pid = cred.pid };
        c->peer.admin = cred.uid == 0; /* the admin group: conn_peer_admin(), when needed */
        varlink_buffer_init(&c->in, s->opts.max_message);
        struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &e) < 0) {
                int r = -errno;
                conn_unref(c);
                return r;
        }
        c->events = EPOLLIN;
        c->in_epoll = true;
        c->fd = TAKE_FD(owned);
        c->next = s->conns;
        if (s->conns)
                s->conns->prev = c;
        s->conns = c;
        s->n_conns++;
        return 0;
}

static int listener_on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata);

static int listener_retry(sd_event_source *src, uint64_t usec, void *userdata)
{
        ApiListener *l = userdata;
        (void)sd_event_source_set_enabled(l->io, SD_EVENT_ON);
        return 0;
}

static int listener_on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        ApiListener *l = userdata;
        for (unsigned i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                                return 0;
                        /* EMFILE and friends: pause accepting instead of spinning. */
                        log_warning_errno(errno, "API: accept failed, pausing 100 ms: %m");
                        (void)sd_event_source_set_enabled(l->io, SD_EVENT_OFF);
                        (void)sd_event_source_set_time_relative(l->retry, ACCEPT_RETRY_USEC);
                        (void)sd_event_source_set_enabled(l->retry, SD_EVENT_ONESHOT);
                        return 0;
                }
                int r = api_server_add_connection(l->server, cfd);
                if (r < 0 && r != -EUSERS)
                        log_warning_errno(r, "API: cannot serve a new connection: %m");
        }
        return 0;
}

int api_server_listen_fd(ApiServer *s, int fd)
{
        _cleanup_close_ int owned = fd;
        int fl = fcntl(fd, F_GETFL);

        /* systemd passes blocking sockets unless NonBlocking=yes; the listener accepts until
         * EAGAIN and must never block in accept(). */
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return -errno;
        ApiListener *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->server = s;
        l->fd = -1;
        int r = sd_event_add_io(s->event, &l->io, fd, EPOLLIN, listener_on_io, l);
        if (r >= 0)
                r = sd_event_add_time_relative(s->event, &l->retry, CLOCK_MONOTONIC,
                                               ACCEPT_RETRY_USEC, 0, listener_retry, l);
        if (r >= 0)
                r = sd_event_source_set_enabled(l->retry, SD_EVENT_OFF);
        if (r < 0) {
                sd_event_source_disable_unref(l->io);
                sd_event_source_disable_unref(l->retry);
                free(l);
                return r;
        }
        l->fd = TAKE_FD(owned);
        l->next = s->listeners;
        s->listeners = l;
        return 0;
}

int api_server_listen_path(ApiServer *s, const char *path, mode_t mode)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void)unlink(path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        if (chmod(path, mode) < 0 || listen(fd, SOMAXCONN) < 0)
                return -errno;
        return api_server_listen_fd(s, TAKE_FD(fd));
}

/* ---- server ---- */

/* A decimal GID ("1234"), nothing else. */
static int parse_gid(const char *name, gid_t *ret)
{
        unsigned long v = 0;

        if (!*name)
                return -EINVAL;
        for (const char *p = name; *p; p++) {
                if (!isdigit((unsigned char)*p))
                        return -EINVAL;
                v = v * 10 + (unsigned long)(*p - '0');
                if (v >= (gid_t)-1) /* (gid_t)-1 is "no group" */
                        return -ERANGE;
        }
        *ret = (gid_t)v;
        return 0;
}

int api_server_new(sd_event *event, const ApiServerOptions *opts, ApiServer **ret)
{
        static const ApiServerOptions none = {};
        const ApiServerOptions *o = opts ? opts : &none;
        ApiServer *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(event);
        s->epoll_fd = -1;
        s->pending.kind = API_CONN_LIST_PENDING;
        s->flush.kind = API_CONN_LIST_FLUSH;
        s->opts = *o;
        if (!s->opts.max_message)
                s->opts.max_message = VARLINK_DEFAULT_MAX_MESSAGE;
        if (!s->opts.max_depth)
                s->opts.max_depth = VARLINK_DEFAULT_MAX_DEPTH;
        if (!s->opts.max_connections)
                s->opts.max_connections = API_DEFAULT_MAX_CONNECTIONS;
        if (!s->opts.max_connections_per_uid)
                s->opts.max_connections_per_uid = API_DEFAULT_MAX_CONNECTIONS_PER_UID;
        if (!s->opts.max_output)
                s->opts.max_output = API_DEFAULT_MAX_OUTPUT;
        s->opts.version = o->version ? o->version : GUNYAHD_VERSION;
        s->opts.admin_group = NULL; /* kept in s->admin_group */
        const char *group = o->admin_group ? o->admin_group : API_DEFAULT_ADMIN_GROUP;
        s->admin_group = strdup(group);
        if (!s->admin_group) {
                api_server_free(s);
                return -ENOMEM;
        }
        if (parse_gid(group, &s->admin_gid) == 0) {
                s->have_admin_gid = true;
                s->admin_resolved = true;
        }
        int r = 0;
        s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (s->epoll_fd < 0)
                r = -errno;
        if (r >= 0)
                r = sd_event_add_io(s->event, &s->conns_io, s->epoll_fd, EPOLLIN,
                                    server_on_conns, s);
        if (r >= 0)
                r = sd_event_add_defer(s->event, &s->pending_src, server_on_pending, s);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->pending_src, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_defer(s->event, &s->flush_src, server_on_flush, s);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->flush_src, SD_EVENT_OFF);
        if (r >= 0)
                r = api_service_register(s);
        if (r < 0) {
                api_server_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

ApiServer *api_server_free(ApiServer *s)
{
        if (!s)
                return NULL;
        while (s->conns)
                conn_close(s->conns);
        conn_list_clear(&s->pending);
        s->in_pass = false;
        conn_list_clear(&s->flush);
        s->conns_io = sd_event_source_disable_unref(s->conns_io);
        s->pending_src = sd_event_source_disable_unref(s->pending_src);
        s->flush_src = sd_event_source_disable_unref(s->flush_src);
        if (s->epoll_fd >= 0)
                close(s->epoll_fd);
        while (s->listeners) {
                ApiListener *l = s->listeners;
                s->listeners = l->next;
                sd_event_source_disable_unref(l->io);
                sd_event_source_disable_unref(l->retry);
                if (l->fd >= 0)
                        close(l->fd);
                free(l);
        }
        for (size_t i = 0; i < s->n_ifaces; i++)
                if (s->ifaces[i].free_userdata)
                        s->ifaces[i].free_userdata(s->ifaces[i].userdata);
        free(s->ifaces);
        free(s->admin_group);
        varlink_parser_done(&s->parser);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

int api_server_add_interface_full(ApiServer *s, const ApiInterface *iface, void *userdata,
                                  void (*free_userdata)(void *))
{
        if (server_find_interface(s, iface->name, strlen(iface->name)))
                return -EEXIST;
        ApiInterfaceReg *n = realloc(s->ifaces, (s->n_ifaces + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        s->ifaces = n;
        s->ifaces[s->n_ifaces++] = (ApiInterfaceReg){ .iface = iface, .userdata = userdata,
                                                      .free_userdata = free_userdata };
        return 0;
}

int api_server_add_interface(ApiServer *s, const ApiInterface *iface, void *userdata)
{
        return api_server_add_interface_full(s, iface, userdata, NULL);
}

unsigned api_server_n_connections(const ApiServer *s)
{
        return s->n_conns;
}

size_t api_server_queued_bytes(const ApiServer *s)
{
        size_t n = 0;
        for (const ApiConn *c = s->conns; c; c = c->next)
                n += c->out_bytes;
        return n;
}

void api_server_get_limits(const ApiServer *s, size_t *ret_max_message, unsigned *ret_max_depth,
                           unsigned *ret_max_connections, unsigned *ret_max_per_uid)
{
        if (ret_max_message)
                *ret_max_message = s->opts.max_message;
        if (ret_max_depth)
                *ret_max_depth = s->opts.max_depth;
        if (ret_max_connections)
                *ret_max_connections = s->opts.max_connections;
        if (ret_max_per_uid)
                *ret_max_per_uid = s->opts.max_connections_per_uid;
}
