#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Varlink framing (varlink.org): each message is one JSON object followed by a NUL byte on a
 * stream socket. Shared by the daemon's API server, gunyah-rm-sim's control socket and
 * libgunyahctl. Uses json-c; knows nothing of sd-event or of any interface.
 *
 * VarlinkBuffer gathers bytes from a non-blocking fd and yields whole messages; a message
 * that grows past max_message without a NUL is an error (-EMSGSIZE), never an allocation.
 * Parsing enforces a nesting-depth limit and rejects anything that is not exactly one JSON
 * object per message. Errors are negative errno values, listed per function.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct json_object;

#define VARLINK_DEFAULT_MAX_MESSAGE (1024u * 1024u) /* 1 MiB */
#define VARLINK_DEFAULT_MAX_DEPTH 64u

typedef struct VarlinkBuffer {
        char *data;
        size_t len;       /* bytes held */
        size_t start;     /* first byte not yet handed out */
        size_t cap;
        size_t max_message;
        size_t scanned;   /* [start, scanned) is known to hold no NUL (added by varlink.c) */
} VarlinkBuffer;

void varlink_buffer_init(VarlinkBuffer *b, size_t max_message);
void varlink_buffer_free(VarlinkBuffer *b);
/* Read what is available from fd (non-blocking). Returns bytes read (> 0), 0 on EOF,
 * -EAGAIN when nothing is ready, -EMSGSIZE when the pending message exceeds max_message,
 * -errno on read errors. */
ssize_t varlink_buffer_read(VarlinkBuffer *b, int fd);
/* Append bytes that arrived some other way (recvmsg with fds, tests, fuzzers).
 * Returns 0 or -EMSGSIZE. */
int varlink_buffer_append(VarlinkBuffer *b, const void *data, size_t len);
/* Next complete message: returns 1 and sets *ret_msg (NUL-terminated, valid until the next
 * call on b) and *ret_len (without the NUL); 0 if none is complete yet; -EMSGSIZE as above. */
int varlink_buffer_next(VarlinkBuffer *b, const char **ret_msg, size_t *ret_len);
/* Zero-copy receive (recvmsg with SCM_RIGHTS): reserve returns free space at the tail
 * (*ret_avail > 0) or -EMSGSIZE when the pending message already fills max_message + 1
 * bytes, -ENOMEM; commit records that n of those bytes were filled (n <= *ret_avail), then
 * returns 0 or -EMSGSIZE as varlink_buffer_append. Messages handed out by next() become
 * invalid on reserve. */
int varlink_buffer_reserve(VarlinkBuffer *b, void **ret_ptr, size_t *ret_avail);
int varlink_buffer_commit(VarlinkBuffer *b, size_t n);
/* Whether a whole message is waiting (next() would return 1), without taking it. Each byte
 * is scanned once over repeated calls. */
bool varlink_buffer_has_message(VarlinkBuffer *b);
/* Bytes held but not yet handed out (a partial message, or whole ones not yet taken). */
size_t varlink_buffer_pending(const VarlinkBuffer *b);

/* A parsed call. Owns root; method and parameters point into it. parameters is never NULL:
 * a missing, null or {} "parameters" all become an empty object. */
typedef struct VarlinkCall {
        struct json_object *root;
        const char *method;             /* "iface.Method" */
        const char *interface_end;      /* points at the '.' before the method name */
        struct json_object *parameters;
        bool oneway;
        bool more;
        bool upgrade;
} VarlinkCall;

/*
 * Parse one message as a call. Returns 0, or
 *   -EBADMSG  not valid JSON (strict: no trailing bytes, no comments, valid UTF-8), or a
 *             NUL inside the message,
 *   -ELOOP    nesting deeper than max_depth,
 *   -EPROTO   valid JSON but not a call: not an object, "method" missing or not a string of
 *             the form iface.Method, "parameters" not an object/null, a flag not a boolean.
 */
int varlink_call_parse(const char *msg, size_t len, unsigned max_depth, VarlinkCall *ret);
/* The same; on -EPROTO *reterr_field names the top-level key at fault ("method",
 * "parameters", "oneway", "more", "upgrade"), or "" when the message is not an object. */
int varlink_call_parse_ex(const char *msg, size_t len, unsigned max_depth, VarlinkCall *ret,
                          const char **reterr_field);

/*
 * A json-c tokener kept from one message to the next, so that a server parsing many calls
 * does not allocate and free one per message. Zero-initialized is empty; one user at a time
 * (not thread-safe). The result of a parse never depends on what the tokener parsed before:
 * it is reset before each message, and replaced when max_depth differs. A tokener that took
 * a message of more than 64 KiB is freed after it (its string buffer may have grown).
 */
typedef struct VarlinkParser {
        struct json_tokener *tok;
        unsigned depth; /* the max_depth tok was made for */
} VarlinkParser;
void varlink_parser_done(VarlinkParser *p);
/* varlink_call_parse_ex() with p's tokener (p NULL: a tokener for this message only). */
int varlink_parser_parse_call(VarlinkParser *p, const char *msg, size_t len,
                              unsigned max_depth, VarlinkCall *ret,
                              const char **reterr_field);
void varlink_call_done(VarlinkCall *c);

/* A parsed reply (client side). error is NULL on success. Same errors as above. */
typedef struct VarlinkReply {
        struct json_object *root;
        const char *error;
        struct json_object *parameters; /* never NULL */
        bool continues;
} VarlinkReply;
int varlink_reply_parse(const char *msg, size_t len, unsigned max_depth, VarlinkReply *ret);
void varlink_reply_done(VarlinkReply *r);

/* Serialize, NUL terminator included in *ret_len. The returned buffer is malloc'd.
 * parameters may be NULL (sent as {}). Return NULL on allocation failure. */
char *varlink_format_reply(struct json_object *parameters, const char *error, bool continues,
                           size_t *ret_len);
char *varlink_format_call(const char *method, struct json_object *parameters, bool oneway,
                          bool more, size_t *ret_len);

/* Name checks from the varlink.org grammar. An interface is a reverse-domain name
 * ([A-Za-z] then [-A-Za-z0-9], at least two dot-separated parts, no empty part, no part
 * starting or ending with '-'); a member (method, error, type) is [A-Z][A-Za-z0-9]*. */
bool varlink_interface_name_valid(const char *s, size_t len);
bool varlink_member_name_valid(const char *s, size_t len);
/* "iface.Member" as used by "method" and "error": sets *ret_dot to the last '.'. */
bool varlink_qualified_name_valid(const char *s, const char **ret_dot);
/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool varlink_utf8_valid(const char *s, size_t len);
