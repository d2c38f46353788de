#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * ApiServer: the Varlink server of gunyahd on sd-event. Owns the listening sockets, every
 * client connection (ApiConn: peer credentials, input VarlinkBuffer, output queue, received
 * fds) and the call in flight on each (ApiCall). Interfaces are tables of methods
 * (ApiInterface / ApiMethod); org.varlink.service is built in.
 *
 * Protocol rules (varlink.org): replies in call order. A connection runs one call at a
 * time: later pipelined calls wait in its input buffer until the current one has its final
 * reply (so order holds even when a handler completes asynchronously). oneway calls get no
 * reply. A method flagged API_METHOD_STREAMS called with "more" may send intermediate
 * replies (api_call_notify(), "continues": true); without "more" those are dropped and only
 * the final reply goes out. API_METHOD_REQUIRES_MORE methods answer ExpectedMore without it.
 *
 * Bad input: a message that is not JSON, nests deeper than max_depth, holds a NUL or is
 * larger than max_message is answered with org.varlink.service.InvalidParameter naming
 * "message" (when no earlier reply is still queued) and closes the connection (the stream
 * cannot be trusted after it); a
 * JSON value that is not a valid call gets org.varlink.service.InvalidParameter naming the
 * offending key ("method", "parameters", "oneway", "more", "upgrade"; "" when the message is
 * not an object) and the connection goes on.
 *
 * Memory bounds per connection: input <= max_message + 1 bytes; output: while more than
 * max_output bytes wait to be written, the connection's input is not read (the peer's own
 * socket buffer fills and its writes block). A stream whose client does not read: when an
 * intermediate reply finds more than max_output bytes still queued, the connection is
 * closed (a Monitor client resumes from its last cursor, so nothing is lost). fds: at most
 * API_FDS_MAX held per connection; any more received are closed at once.
 *
 * Authorization: methods flagged API_METHOD_ADMIN need uid 0 or the admin group (primary or
 * supplementary group of the peer, from SO_PEERCRED / SO_PEERGROUPS: the credentials it
 * connected with). The group is looked up at the first admin call of a non-root peer (a
 * decimal GID needs no lookup), not at start. Others get PermissionDenied. Every admin call is
 * logged with the peer's uid, pid and method.
 *
 * Errors: negative errno from every fallible function.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct json_object;
typedef struct sd_event sd_event;
typedef struct ApiField ApiField;

typedef struct ApiServer ApiServer;
typedef struct ApiConn ApiConn;
typedef struct ApiCall ApiCall;

#define API_FDS_MAX 2u
#define API_DEFAULT_MAX_CONNECTIONS 1024u
#define API_DEFAULT_MAX_CONNECTIONS_PER_UID 256u
#define API_DEFAULT_MAX_OUTPUT (4u * 1024u * 1024u)
#define API_DEFAULT_ADMIN_GROUP "gunyah"

typedef struct ApiServerOptions {
        size_t max_message;             /* 0 = VARLINK_DEFAULT_MAX_MESSAGE (1 MiB) */
        unsigned max_depth;             /* 0 = VARLINK_DEFAULT_MAX_DEPTH */
        unsigned max_connections;       /* 0 = default */
        unsigned max_connections_per_uid; /* 0 = default */
        size_t max_output;              /* 0 = default */
        const char *admin_group;        /* NULL = API_DEFAULT_ADMIN_GROUP; name or decimal GID,
                                         * looked up once, at the first admin call */
        const char *version;            /* GetInfo version, NULL = GUNYAHD_VERSION */
} ApiServerOptions;

enum {
        API_METHOD_ADMIN = 1u << 0,         /* changes state: root or the admin group */
        API_METHOD_STREAMS = 1u << 1,       /* may send intermediate replies with "more" */
        API_METHOD_REQUIRES_MORE = 1u << 2, /* ExpectedMore without "more" */
};

/*
 * A method handler. parameters has passed the method's field table (if any). Return 0 when
 * the call got its final reply, or when the handler keeps the call to answer later
 * (api_call_ref() then, and one of the final-reply functions eventually); return a negative
 * errno to answer with the error api_error_from_errno() names for it (no detail).
 */
typedef int (*ApiMethodFunc)(ApiCall *call, struct json_object *parameters, void *userdata);

typedef struct ApiMethod {
        const char *name;        /* member name, e.g. "ListVMs" */
        ApiMethodFunc func;      /* NULL: declared by the interface, not served by this
                                  * build or configuration (MethodNotImplemented) */
        unsigned flags;          /* API_METHOD_* */
        const ApiField *fields;  /* parameter table (api-json.h), NULL = no check */
} ApiMethod;

typedef struct ApiInterface {
        const char *name;         /* e.g. "io.gunyah.Manager" */
        const char *description;  /* IDL text for GetInterfaceDescription */
        const ApiMethod *methods; /* terminated by { .name = NULL } */
} ApiInterface;

typedef struct ApiPeer {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        bool admin; /* uid 0 or member of the admin group (final during an admin call) */
} ApiPeer;

int api_server_new(sd_event *event, const ApiServerOptions *opts, ApiServer **ret);
/* Closes every connection (pending calls see their disconnect hook) and listener. NULL ok. */
ApiServer *api_server_free(ApiServer *s);
static inline void api_server_freep(ApiServer **p)
{
        if (*p)
                api_server_free(*p);
}

/* Register an interface; its methods get userdata. The tables must outlive the server.
 * -EEXIST if an interface of that name is registered, -ENOMEM. */
int api_server_add_interface(ApiServer *s, const ApiInterface *iface, void *userdata);
/* The same; free_userdata(userdata) runs when the server is freed. */
int api_server_add_interface_full(ApiServer *s, const ApiInterface *iface, void *userdata,
                                  void (*free_userdata)(void *));

/* Accept connections on a listening AF_UNIX stream socket (socket activation passes it in;
 * the server takes ownership and sets O_NONBLOCK on it). -errno of fcntl, -ENOMEM. */
int api_server_listen_fd(ApiServer *s, int fd);
/* Bind and listen at path (an existing socket file is replaced), mode applied with chmod.
 * -errno of socket/bind/listen; -ENAMETOOLONG. */
int api_server_listen_path(ApiServer *s, const char *path, mode_t mode);
/* Serve an already connected stream socket (tests, fuzzers: one end of a socketpair). The
 * server takes ownership of fd. Credentials come from SO_PEERCRED as for accepted ones.
 * Returns 0, -EUSERS over the connection limits (fd closed), -ENOMEM. */
int api_server_add_connection(ApiServer *s, int fd);

unsigned api_server_n_connections(const ApiServer *s);
/* Bytes queued for output, summed over all connections (tests, GetDaemonInfo). */
size_t api_server_queued_bytes(const ApiServer *s);
void api_server_get_limits(const ApiServer *s, size_t *ret_max_message, unsigned *ret_max_depth,
                           unsigned *ret_max_connections, unsigned *ret_max_per_uid);

/* --- calls --- */
ApiCall *api_call_ref(ApiCall *c);
ApiCall *api_call_unref(ApiCall *c);
static inline void api_call_unrefp(ApiCall **p)
{
        if (*p)
                api_call_unref(*p);
}

const char *api_call_method(const ApiCall *c); /* qualified */
bool api_call_more(const ApiCall *c);
bool api_call_oneway(const ApiCall *c);
const ApiPeer *api_call_peer(const ApiCall *c);
/* False once the client is gone (replies are then dropped). */
bool api_call_connected(const ApiCall *c);

/* Take the index-th fd received with this call's message (ownership passes to the caller).
 * -ENXIO when there is no such fd. */
int api_call_take_fd(ApiCall *c, unsigned index);

/* Called once if the client disconnects before the final reply (not called otherwise). */
typedef void (*ApiCallDisconnectFn)(ApiCall *c, void *userdata);
void api_call_set_disconnect(ApiCall *c, ApiCallDisconnectFn fn, void *userdata);

/*
 * Replies. parameters is consumed (its reference passes to the call; NULL = {}). The final
 * reply functions complete the call: the next pipelined call of the connection runs after.
 * They return 0, or -ENOTCONN when the client is gone (the call is completed anyway),
 * -EALREADY when the call was already completed.
 * api_call_notify() sends an intermediate reply when the call has "more" (else drops it,
 * returning 0); -ENOBUFS when the client lags (over max_output queued): the connection is
 * then closed.
 */
int api_call_reply(ApiCall *c, struct json_object *parameters);
int api_call_notify(ApiCall *c, struct json_object *parameters);
/* Outside a pass an intermediate reply waits for the next loop turn, so that what its
 * handler sends next leaves first (api-server.c). This one leaves in this turn: for handlers
 * with nothing to send after it (the Monitor fan-out, which runs below all other work). */
int api_call_notify_now(ApiCall *c, struct json_object *parameters);
int api_call_error(ApiCall *c, const char *error, struct json_object *parameters);
/* Error from errno via api_error_from_errno() (detail may be NULL). */
struct ApiErrorDetail;
int api_call_error_errno(ApiCall *c, int error, const struct ApiErrorDetail *detail);
int api_call_error_invalid_parameter(ApiCall *c, const char *parameter);

/* Register org.varlink.certification (test-only conformance interface, api-certification.c). */
int api_certification_register(ApiServer *s);
