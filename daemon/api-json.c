/* SPDX-License-Identifier: MIT */
/*
 * Field-table dispatch of Varlink parameters (see api-json.h).
 */
#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "api-json.h"
#include "macro.h"

static int store_int(const ApiField *f, struct json_object *v, void *dst)
{
        if (!json_object_is_type(v, json_type_int))
                return -EINVAL;
        int64_t i = json_object_get_int64(v);
        uint64_t u = json_object_get_uint64(v);
        /* json-c keeps integers above INT64_MAX as uint64: get_int64 then saturates. */
        bool big = i == INT64_MAX && u > (uint64_t)INT64_MAX;
        if (f->type == API_JSON_INT) {
                if (big)
                        return -EINVAL;
                if ((f->flags & API_FIELD_BOUNDED) && (i < f->min || i > f->max))
                        return -EINVAL;
                memcpy(dst, &i, sizeof(i));
                return 0;
        }
        if (i < 0)
                return -EINVAL;
        if (!big)
                u = (uint64_t)i;
        if ((f->flags & API_FIELD_BOUNDED) &&
            (big || (int64_t)u < f->min || (int64_t)u > f->max))
                return -EINVAL;
        memcpy(dst, &u, sizeof(u));
        return 0;
}

static int store_string(const ApiField *f, struct json_object *v, void *dst)
{
        if (!json_object_is_type(v, json_type_string))
                return -EINVAL;
        const char *s = json_object_get_string(v);
        size_t n = (size_t)json_object_get_string_len(v);
        if (strlen(s) != n)
                return -EINVAL;
        if ((f->flags & API_FIELD_BOUNDED) && ((int64_t)n < f->min || (int64_t)n > f->max))
                return -EINVAL;
        memcpy(dst, &s, sizeof(s));
        return 0;
}

static int store(const ApiField *f, struct json_object *v, void *dst)
{
        switch (f->type) {
        case API_JSON_STRING:
                return store_string(f, v, dst);
        case API_JSON_INT:
        case API_JSON_UINT:
                return store_int(f, v, dst);
        case API_JSON_BOOL: {
                if (!json_object_is_type(v, json_type_boolean))
                        return -EINVAL;
                bool b = json_object_get_boolean(v);
                memcpy(dst, &b, sizeof(b));
                return 0;
        }
        case API_JSON_FLOAT: {
                if (!json_object_is_type(v, json_type_double) &&
                    !json_object_is_type(v, json_type_int))
                        return -EINVAL;
                double d = json_object_get_double(v);
                memcpy(dst, &d, sizeof(d));
                return 0;
        }
        case API_JSON_OBJECT:
        case API_JSON_ARRAY:
        case API_JSON_ANY:
                if (f->type == API_JSON_OBJECT && !json_object_is_type(v, json_type_object))
                        return -EINVAL;
                if (f->type == API_JSON_ARRAY && !json_object_is_type(v, json_type_array))
                        return -EINVAL;
                memcpy(dst, &v, sizeof(v));
                return 0;
        }
        return -EINVAL;
}

static const ApiField *find_field(const ApiField *fields, const char *key, size_t *ret_index)
{
        for (size_t i = 0; fields && fields[i].name; i++)
                if (strcmp(fields[i].name, key) == 0) {
                        *ret_index = i;
                        return &fields[i];
                }
        return NULL;
}

int api_json_dispatch(struct json_object *params, const ApiField *fields, void *target,
                      uint64_t *ret_present, const char **reterr_field)
{
        uint64_t present = 0;
        if (params) {
                if (!json_object_is_type(params, json_type_object)) {
                        *reterr_field = "parameters";
                        return -EINVAL;
                }
                json_object_object_foreach(params, key, v) {
                        size_t i;
                        const ApiField *f = find_field(fields, key, &i);
                        if (!f) {
                                if (strchr(key, '.'))
                                        continue; /* vendor extension */
                                *reterr_field = key;
                                return -EINVAL;
                        }
                        if (!v)
                                continue; /* null: absent */
                        union {
                                int64_t i;
                                double d;
                                void *p;
                        } scratch; /* validation only (target NULL) */
                        void *dst = target ? (uint8_t *)target + f->offset : (void *)&scratch;
                        if (i >= 64 || store(f, v, dst) < 0) {
                                *reterr_field = f->name;
                                return -EINVAL;
                        }
                        present |= UINT64_C(1) << i;
                }
        }
        for (size_t i = 0; fields && fields[i].name; i++)
                if ((fields[i].flags & API_FIELD_REQUIRED) && !(present & (UINT64_C(1) << i))) {
                        *reterr_field = fields[i].name;
                        return -EINVAL;
                }
        if (ret_present)
                *ret_present = present;
        return 0;
}

bool api_json_present(const ApiField *fields, uint64_t present, const char *name)
{
        size_t i;
        return find_field(fields, name, &i) && i < 64 && (present & (UINT64_C(1) << i));
}

void api_json_add_k(struct json_object *o, const char *key, bool key_const,
                    struct json_object *v)
{
        if (json_object_object_add_ex(o, key, v,
                                      key_const ? JSON_C_OBJECT_ADD_CONSTANT_KEY : 0) < 0)
                json_object_put(v);
}

void api_json_add_string_k(struct json_object *o, const char *key, bool key_const,
                           const char *v)
{
        struct json_object *s = json_object_new_string(v ? v : "");
        if (s)
                api_json_add_k(o, key, key_const, s);
}

void api_json_add_nullable_string_k(struct json_object *o, const char *key, bool key_const,
                                    const char *v)
{
        if (v)
                api_json_add_string_k(o, key, key_const, v);
        else
                api_json_add_k(o, key, key_const, NULL);
}

void api_json_add_int_k(struct json_object *o, const char *key, bool key_const, int64_t v)
{
        struct json_object *i = json_object_new_int64(v);
        if (i)
                api_json_add_k(o, key, key_const, i);
}

void api_json_add_uint_k(struct json_object *o, const char *key, bool key_const, uint64_t v)
{
        api_json_add_int_k(o, key, key_const, (int64_t)MIN(v, (uint64_t)INT64_MAX));
}

void api_json_add_bool_k(struct json_object *o, const char *key, bool key_const, bool v)
{
        struct json_object *b = json_object_new_boolean(v);
        if (b)
                api_json_add_k(o, key, key_const, b);
}
