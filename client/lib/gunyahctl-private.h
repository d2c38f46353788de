#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Internals of libgunyahctl shared by its files: the handle, the transport (connect, send a
 * call with fds, read one reply), the last-error record, and the json-c helpers the method
 * wrappers use. Nothing here is exported (gunyahctl.sym exports gunyahctl_* only).
 *
 * Invariants: fd >= 0 exactly while connected; in_stream only while connected and a "more"
 * call (Monitor) still has replies to come; error_* all set or all NULL.
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "gunyahctl.h"
#include "macro.h"
#include "varlink.h"

/* Replies can carry every VM of a big host: allow more than the daemon takes as input. */
#define GUNYAHCTL_MAX_REPLY (16u * 1024u * 1024u)
#define GUNYAHCTL_MAX_FDS 8u

struct gunyahctl {
        char *address;          /* socket path */
        int fd;                 /* -1 when not connected */
        uint64_t timeout_usec;  /* per send and per reply */
        VarlinkBuffer rbuf;

        char *error_name;       /* last Varlink error, or NULL */
        char *error_parameters; /* its parameters as JSON text */
        struct json_object *error_object;

        bool in_stream;         /* a Monitor stream is open */
        char *cursor;           /* last Monitor cursor, as opaque text */
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct json_object *, json_object_put);

/* Forget the last error. */
void client_error_clear(gunyahctl *h);
/* Close the connection (after a transport failure or to end a stream). */
void client_close(gunyahctl *h);
/* Connect if not connected. 0 or -errno. */
int client_ensure_connected(gunyahctl *h);
/* Send one call, with fds attached to its first byte. 0 or -errno (connection closed). */
int client_send_call(gunyahctl *h, const char *method, struct json_object *parameters,
                         const int *fds, size_t n_fds, bool more);
/*
 * Read the next reply within timeout_usec. Returns 0 with *ret filled (caller calls
 * varlink_reply_done()); on timeout -EAGAIN with the connection kept if keep_on_timeout
 * (the Monitor iterator's own wait), else -ETIMEDOUT; any other -errno closes the
 * connection. A reply carrying a Varlink error is returned as is (0), see
 * client_error_set().
 */
int client_read_reply(gunyahctl *h, uint64_t timeout_usec, bool keep_on_timeout,
                          VarlinkReply *ret);
/* A call on an already-built parameter object (NULL = none): clears the last error, checks
 * the handle is not streaming, then as gunyahctl_call(). */
int client_call_object(gunyahctl *h, const char *method, struct json_object *parameters,
                           const int *fds, size_t n_fds, gunyahctl_reply_fn on_continues,
                           void *userdata, char **ret_reply_json);
/* Record the Varlink error of reply and return its errno (negative). */
int client_error_set(gunyahctl *h, const VarlinkReply *reply);
/* JSON text of an object (plain, no slash escaping), malloc'd; NULL on ENOMEM. */
char *client_json_dup(struct json_object *o);

/* json-c builders returning -ENOMEM on failure. */
int client_json_add_string(struct json_object *o, const char *key, const char *value);
int client_json_add_int(struct json_object *o, const char *key, int64_t value);
int client_json_add_bool(struct json_object *o, const char *key, bool value);
