/* SPDX-License-Identifier: MIT */
/*
 * API error mapping (both directions) and Monitor cursor text. See api.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "macro.h"

typedef enum ApiErrorKind {
        API_ERR_NO_SUCH_VM,
        API_ERR_VM_EXISTS,
        API_ERR_INVALID_STATE,
        API_ERR_RM_ERROR,
        API_ERR_RM_UNAVAILABLE,
        API_ERR_OUT_OF_MEMORY,
        API_ERR_TIMEOUT,
        API_ERR_INVALID_IMAGE,
        API_ERR_CURSOR_EXPIRED,
        API_ERR_PERMISSION_DENIED,
        API_ERR_INVALID_PARAMETER,
        API_ERR_UNSUPPORTED,
        API_ERR_RM_PROTOCOL_ERROR,
        API_ERR_SYSTEM_ERROR,
} ApiErrorKind;

static const struct {
        int error;
        ApiErrorKind kind;
} errno_table[] = {
        { ENOENT, API_ERR_NO_SUCH_VM },
        { EEXIST, API_ERR_VM_EXISTS },
        { EBUSY, API_ERR_INVALID_STATE },
        { EREMOTEIO, API_ERR_RM_ERROR },
        { EHOSTDOWN, API_ERR_RM_UNAVAILABLE },
        { ENOTCONN, API_ERR_RM_UNAVAILABLE },
        { ESHUTDOWN, API_ERR_RM_UNAVAILABLE },
        { ENOLINK, API_ERR_RM_UNAVAILABLE },
        { ENOSPC, API_ERR_OUT_OF_MEMORY },
        { ENOMEM, API_ERR_OUT_OF_MEMORY },
        { ETIMEDOUT, API_ERR_TIMEOUT },
        { ETIME, API_ERR_TIMEOUT },
        { ENOEXEC, API_ERR_INVALID_IMAGE },
        { EBADF, API_ERR_INVALID_IMAGE },
        { EBADMSG, API_ERR_RM_PROTOCOL_ERROR },
        { ESTALE, API_ERR_CURSOR_EXPIRED },
        { EPERM, API_ERR_PERMISSION_DENIED },
        { EACCES, API_ERR_PERMISSION_DENIED },
        { EINVAL, API_ERR_INVALID_PARAMETER },
        { ERANGE, API_ERR_INVALID_PARAMETER },
        { E2BIG, API_ERR_INVALID_PARAMETER },
        { EOPNOTSUPP, API_ERR_UNSUPPORTED },
};

static const char *const kind_names[] = {
        [API_ERR_NO_SUCH_VM] = API_ERROR_NO_SUCH_VM,
        [API_ERR_VM_EXISTS] = API_ERROR_VM_EXISTS,
        [API_ERR_INVALID_STATE] = API_ERROR_INVALID_STATE,
        [API_ERR_RM_ERROR] = API_ERROR_RM_ERROR,
        [API_ERR_RM_UNAVAILABLE] = API_ERROR_RM_UNAVAILABLE,
        [API_ERR_OUT_OF_MEMORY] = API_ERROR_OUT_OF_MEMORY,
        [API_ERR_TIMEOUT] = API_ERROR_TIMEOUT,
        [API_ERR_INVALID_IMAGE] = API_ERROR_INVALID_IMAGE,
        [API_ERR_CURSOR_EXPIRED] = API_ERROR_CURSOR_EXPIRED,
        [API_ERR_PERMISSION_DENIED] = API_ERROR_PERMISSION_DENIED,
        [API_ERR_INVALID_PARAMETER] = API_ERROR_INVALID_PARAMETER,
        [API_ERR_UNSUPPORTED] = API_ERROR_UNSUPPORTED,
        [API_ERR_RM_PROTOCOL_ERROR] = API_ERROR_RM_PROTOCOL_ERROR,
        [API_ERR_SYSTEM_ERROR] = API_ERROR_SYSTEM_ERROR,
};

static void add_string(struct json_object *o, const char *key, const char *v)
{
        (void)json_object_object_add(o, key, json_object_new_string(v ? v : ""));
}

static void add_nullable_string(struct json_object *o, const char *key, const char *v)
{
        (void)json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

static void add_int(struct json_object *o, const char *key, int64_t v)
{
        (void)json_object_object_add(o, key, json_object_new_int64(v));
}

/* Parameters of each error, as the IDL declares them. */
static void fill_parameters(ApiErrorKind kind, int error, const ApiErrorDetail *d,
                            struct json_object *p)
{
        switch (kind) {
        case API_ERR_NO_SUCH_VM:
        case API_ERR_VM_EXISTS:
                add_string(p, "name", d->vm);
                break;
        case API_ERR_INVALID_STATE:
                add_string(p, "name", d->vm);
                add_string(p, "state", d->state ? d->state : "unknown");
                break;
        case API_ERR_RM_ERROR:
                add_string(p, "call", d->rm_call);
                add_int(p, "code", d->rm_code);
                add_nullable_string(p, "name", d->rm_error_name);
                if (d->message)
                        add_string(p, "message", d->message);
                break;
        case API_ERR_OUT_OF_MEMORY:
                if (d->has_memory) {
                        add_int(p, "requested", (int64_t)MIN(d->requested, (uint64_t)INT64_MAX));
                        add_int(p, "available", (int64_t)MIN(d->available, (uint64_t)INT64_MAX));
                }
                break;
        case API_ERR_TIMEOUT:
                if (d->operation)
                        add_string(p, "operation", d->operation);
                if (d->message)
                        add_string(p, "message", d->message);
                break;
        case API_ERR_INVALID_IMAGE:
                add_string(p, "parameter", d->parameter ? d->parameter : "kernel");
                add_string(p, "reason", d->reason ? d->reason : "unusable image");
                break;
        case API_ERR_CURSOR_EXPIRED:
                add_string(p, "cursor", d->cursor);
                add_nullable_string(p, "oldest", d->oldest);
                break;
        case API_ERR_INVALID_PARAMETER:
                add_string(p, "parameter", d->parameter);
                break;
        case API_ERR_UNSUPPORTED:
        case API_ERR_RM_PROTOCOL_ERROR:
                add_string(p, "reason", d->reason ? d->reason : d->message);
                break;
        case API_ERR_SYSTEM_ERROR:
                add_int(p, "errno", error);
                add_nullable_string(p, "errnoName", strerrorname_np(error));
                if (d->message)
                        add_string(p, "message", d->message);
                break;
        case API_ERR_RM_UNAVAILABLE:
        case API_ERR_PERMISSION_DENIED:
                break;
        }
}

const char *api_error_from_errno(int error, const ApiErrorDetail *detail,
                                 struct json_object **ret_parameters)
{
        static const ApiErrorDetail none = {};
        const ApiErrorDetail *d = detail ? detail : &none;
        error = error < 0 ? -error : error;
        ApiErrorKind kind = API_ERR_SYSTEM_ERROR;
        for (size_t i = 0; i < ELEMENTSOF(errno_table); i++)
                if (errno_table[i].error == error) {
                        kind = errno_table[i].kind;
                        break;
                }
        if (ret_parameters) {
                struct json_object *p = json_object_new_object();
                if (p)
                        fill_parameters(kind, error, d, p);
                *ret_parameters = p;
        }
        return kind_names[kind];
}

static const struct {
        const char *name;
        int error;
} name_table[] = {
        { API_ERROR_NO_SUCH_VM, -ENOENT },
        { API_ERROR_VM_EXISTS, -EEXIST },
        { API_ERROR_INVALID_STATE, -EBUSY },
        { API_ERROR_RM_ERROR, -EREMOTEIO },
        { API_ERROR_RM_UNAVAILABLE, -EHOSTDOWN },
        { API_ERROR_OUT_OF_MEMORY, -ENOSPC },
        { API_ERROR_TIMEOUT, -ETIME },
        { API_ERROR_INVALID_IMAGE, -ENOEXEC },
        { API_ERROR_UNSUPPORTED, -EOPNOTSUPP },
        { API_ERROR_RM_PROTOCOL_ERROR, -EBADMSG },
        { API_ERROR_CURSOR_EXPIRED, -ESTALE },
        { API_ERROR_PERMISSION_DENIED, -EPERM },
        { API_ERROR_INVALID_PARAMETER, -EINVAL },
        { API_ERROR_METHOD_NOT_FOUND, -EOPNOTSUPP },
        { API_ERROR_METHOD_NOT_IMPLEMENTED, -EOPNOTSUPP },
        { API_ERROR_INTERFACE_NOT_FOUND, -EOPNOTSUPP },
        { API_ERROR_EXPECTED_MORE, -EPROTO },
};

int api_error_to_errno(const char *name)
{
        if (!name)
                return -EREMOTE;
        for (size_t i = 0; i < ELEMENTSOF(name_table); i++)
                if (strcmp(name_table[i].name, name) == 0)
                        return name_table[i].error;
        return -EREMOTE;
}

void api_cursor_format(uint64_t run_id, uint64_t seq, char out[API_CURSOR_MAX])
{
        (void)snprintf(out, API_CURSOR_MAX, "%016" PRIx64 ":%" PRIu64, run_id, seq);
}

int api_cursor_parse(const char *s, uint64_t *ret_run_id, uint64_t *ret_seq)
{
        if (!s || strlen(s) < 18 || s[16] != ':')
                return -EINVAL;
        uint64_t run = 0, seq = 0;
        for (size_t i = 0; i < 16; i++) {
                char c = s[i];
                unsigned v;
                if (c >= '0' && c <= '9')
                        v = (unsigned)(c - '0');
                else if (c >= 'a' && c <= 'f')
                        v = (unsigned)(c - 'a' + 10);
                else
                        return -EINVAL;
                run = run << 4 | v;
        }
        const char *p = s + 17;
        if (*p == '0' && p[1]) /* no leading zeros: one spelling per cursor */
                return -EINVAL;
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                unsigned d = (unsigned)(*p - '0');
                if (seq > (UINT64_MAX - d) / 10)
                        return -EINVAL;
                seq = seq * 10 + d;
        }
        *ret_run_id = run;
        *ret_seq = seq;
        return 0;
}
