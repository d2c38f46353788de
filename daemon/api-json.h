#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Field tables: check a method's "parameters" object against a table and store the values
 * into a C struct (systemd's sd_json_dispatch idea, on json-c).
 *
 * Rules: a field of the wrong JSON type, out of its bounds, or missing while required, is an
 * InvalidParameter naming it. null counts as absent (Varlink "?T"), so a required field may
 * not be null. Unknown fields are refused (InvalidParameter naming the field): a client that
 * sends a field this daemon does not know expects it to take effect, so silently ignoring it
 * would be worse (e.g. demandPaging to an old daemon). Keys containing a '.' are vendor
 * extensions in reverse-domain form (varlink.org) and are ignored. Strings must not contain
 * NUL (a \u0000 escape).
 *
 * Stored values point into the parameters object (strings, objects): valid while it lives.
 * Errors: -EINVAL with *reterr_field set to the offending key (static or inside the object).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

static inline void json_object_putp(struct json_object **p)
{
        if (*p)
                json_object_put(*p);
}

typedef enum ApiJsonType {
        API_JSON_STRING, /* const char * */
        API_JSON_INT,    /* int64_t */
        API_JSON_UINT,   /* uint64_t (a JSON integer >= 0) */
        API_JSON_BOOL,   /* bool */
        API_JSON_FLOAT,  /* double (a JSON integer is accepted too) */
        API_JSON_OBJECT, /* struct json_object * */
        API_JSON_ARRAY,  /* struct json_object * */
        API_JSON_ANY,    /* struct json_object * (any type, null stays absent) */
} ApiJsonType;

enum {
        API_FIELD_REQUIRED = 1u << 0,
        API_FIELD_BOUNDED = 1u << 1, /* INT/UINT: value in [min, max]; STRING: length */
};

typedef struct ApiField {
        const char *name;
        ApiJsonType type;
        unsigned flags;
        size_t offset; /* of the value in the target struct */
        int64_t min;
        int64_t max;
} ApiField;

/* Tables end with an entry whose name is NULL, and have at most 64 entries. */
#define API_FIELD_END { .name = NULL }

/*
 * Check params (an object; NULL = empty) against fields and store each present value at
 * target + offset (target NULL: check only). *ret_present (may be NULL) gets bit i set for every field i present (and
 * not null). Returns 0 or -EINVAL (*reterr_field names the key).
 */
int api_json_dispatch(struct json_object *params, const ApiField *fields, void *target,
                      uint64_t *ret_present, const char **reterr_field);

/* Whether field `name` of the table was present (by bit from api_json_dispatch). */
bool api_json_present(const ApiField *fields, uint64_t present, const char *name);

/* Small builders that never fail the caller: on allocation failure the key is missing.
 * A key written as a string literal is kept by pointer (JSON_C_OBJECT_ADD_CONSTANT_KEY), any
 * other key is copied as json_object_object_add() does: the macros pass
 * __builtin_constant_p(key), which is true only for a literal (static, never written). The
 * JSON is the same either way. */
#define API_JSON_KEY(key) (key), __builtin_constant_p(key)
void api_json_add_string_k(struct json_object *o, const char *key, bool key_const,
                           const char *v);
void api_json_add_nullable_string_k(struct json_object *o, const char *key, bool key_const,
                                    const char *v);
void api_json_add_int_k(struct json_object *o, const char *key, bool key_const, int64_t v);
/* capped at INT64_MAX */
void api_json_add_uint_k(struct json_object *o, const char *key, bool key_const, uint64_t v);
void api_json_add_bool_k(struct json_object *o, const char *key, bool key_const, bool v);
/* Takes ownership of v (NULL adds null). */
void api_json_add_k(struct json_object *o, const char *key, bool key_const,
                    struct json_object *v);
#define api_json_add_string(o, key, v) api_json_add_string_k((o), API_JSON_KEY(key), (v))
#define api_json_add_nullable_string(o, key, v) \
        api_json_add_nullable_string_k((o), API_JSON_KEY(key), (v))
#define api_json_add_int(o, key, v) api_json_add_int_k((o), API_JSON_KEY(key), (v))
#define api_json_add_uint(o, key, v) api_json_add_uint_k((o), API_JSON_KEY(key), (v))
#define api_json_add_bool(o, key, v) api_json_add_bool_k((o), API_JSON_KEY(key), (v))
#define api_json_add_null(o, key) api_json_add_k((o), API_JSON_KEY(key), NULL)
#define api_json_add(o, key, v) api_json_add_k((o), API_JSON_KEY(key), (v))
