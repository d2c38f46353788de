/* SPDX-License-Identifier: MIT */
/*
 * daemon/api-json.c: field tables (types, bounds, required, null = absent, unknown fields
 * refused, vendor extensions ignored, NUL in strings refused) and the small builders.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <string.h>

#include "api-json.h"
#include "test.h"

typedef struct P {
        const char *name;
        int64_t i;
        uint64_t u;
        bool b;
        double f;
        struct json_object *o;
        struct json_object *a;
} P;

static const ApiField fields[] = {
        { "name", API_JSON_STRING, API_FIELD_REQUIRED | API_FIELD_BOUNDED, offsetof(P, name), 1, 8 },
        { "i", API_JSON_INT, API_FIELD_BOUNDED, offsetof(P, i), -5, 5 },
        { "u", API_JSON_UINT, 0, offsetof(P, u) },
        { "b", API_JSON_BOOL, 0, offsetof(P, b) },
        { "f", API_JSON_FLOAT, 0, offsetof(P, f) },
        { "o", API_JSON_OBJECT, 0, offsetof(P, o) },
        { "a", API_JSON_ARRAY, 0, offsetof(P, a) },
        API_FIELD_END,
};

static int run(const char *json, P *p, uint64_t *present, const char **field)
{
        struct json_object *o = json_tokener_parse(json);
        ASSERT_TRUE(o != NULL);
        *p = (P){ .i = 99 };
        *field = NULL;
        static char field_copy[64];
        int r = api_json_dispatch(o, fields, p, present, field);
        if (r == 0 && p->name)
                p->name = strdup(p->name);
        if (r < 0 && *field) { /* it may point into o */
                snprintf(field_copy, sizeof(field_copy), "%s", *field);
                *field = field_copy;
        }
        json_object_put(o);
        return r;
}

TEST(dispatch_ok)
{
        P p;
        uint64_t present;
        const char *field;
        ASSERT_OK(run("{\"name\":\"vm1\",\"i\":-5,\"u\":18446744073709551615,\"b\":true,"
                      "\"f\":2,\"o\":{},\"a\":[],\"org.example.x\":7}",
                      &p, &present, &field));
        ASSERT_STREQ(p.name, "vm1");
        ASSERT_EQ(p.i, -5);
        ASSERT_U64_EQ(p.u, UINT64_MAX);
        ASSERT_TRUE(p.b);
        ASSERT_TRUE(p.f == 2.0);
        ASSERT_TRUE(api_json_present(fields, present, "o"));
        ASSERT_TRUE(api_json_present(fields, present, "u"));
        free((char *)p.name);

        ASSERT_OK(run("{\"name\":\"x\",\"i\":null}", &p, &present, &field));
        ASSERT_EQ(p.i, 99); /* null: absent, untouched */
        ASSERT_TRUE(!api_json_present(fields, present, "i"));
        ASSERT_TRUE(api_json_present(fields, present, "name"));
        free((char *)p.name);
}

TEST(dispatch_errors)
{
        static const struct {
                const char *json, *field;
        } cases[] = {
                { "{}", "name" },
                { "{\"name\":null}", "name" },
                { "{\"name\":\"\"}", "name" },
                { "{\"name\":\"123456789\"}", "name" },
                { "{\"name\":\"a\\u0000b\"}", "name" },
                { "{\"name\":1}", "name" },
                { "{\"name\":\"a\",\"i\":6}", "i" },
                { "{\"name\":\"a\",\"i\":-6}", "i" },
                { "{\"name\":\"a\",\"i\":1.0}", "i" },
                { "{\"name\":\"a\",\"i\":\"1\"}", "i" },
                { "{\"name\":\"a\",\"u\":-1}", "u" },
                { "{\"name\":\"a\",\"b\":1}", "b" },
                { "{\"name\":\"a\",\"f\":\"1\"}", "f" },
                { "{\"name\":\"a\",\"o\":[]}", "o" },
                { "{\"name\":\"a\",\"a\":{}}", "a" },
                { "{\"name\":\"a\",\"extra\":1}", "extra" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                P p;
                uint64_t present;
                const char *field;
                ASSERT_EQ(run(cases[i].json, &p, &present, &field), -EINVAL);
                ASSERT_STREQ(field, cases[i].field);
        }
}

TEST(validate_only_and_builders)
{
        struct json_object *o = json_tokener_parse("{\"name\":\"ab\"}");
        const char *field;
        ASSERT_OK(api_json_dispatch(o, fields, NULL, NULL, &field));
        json_object_put(o);
        ASSERT_OK(api_json_dispatch(NULL, (const ApiField[]){ API_FIELD_END }, NULL, NULL, &field));

        o = json_object_new_object();
        api_json_add_string(o, "s", "x");
        api_json_add_nullable_string(o, "n", NULL);
        api_json_add_uint(o, "u", UINT64_MAX);
        api_json_add_int(o, "i", -1);
        api_json_add_bool(o, "b", false);
        ASSERT_STREQ(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                     "{\"s\":\"x\",\"n\":null,\"u\":9223372036854775807,\"i\":-1,\"b\":false}");
        json_object_put(o);
}

/* A literal key is kept by pointer, any other key is copied: a key built in a buffer that
 * changes afterwards, or passed through a parameter, still names its member. Same JSON as
 * json_object_object_add(). */
static void add_through(struct json_object *o, const char *key, int64_t v)
{
        api_json_add_int(o, key, v);
}

TEST(builder_keys)
{
        struct json_object *o = json_object_new_object();
        struct json_object *ref = json_object_new_object();
        char key[8] = "k1";
        api_json_add_string(o, "lit", "a");
        api_json_add_int(o, key, 1);
        add_through(o, key, 2); /* the same key: replaces the value */
        strcpy(key, "k2");
        add_through(o, key, 3);
        strcpy(key, "zz");
        api_json_add(o, "lit", json_object_new_string("b"));
        api_json_add_null(o, "nul");
        json_object_object_add(ref, "lit", json_object_new_string("b"));
        json_object_object_add(ref, "k1", json_object_new_int64(2));
        json_object_object_add(ref, "k2", json_object_new_int64(3));
        json_object_object_add(ref, "nul", NULL);
        ASSERT_STREQ(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                     "{\"lit\":\"b\",\"k1\":2,\"k2\":3,\"nul\":null}");
        ASSERT_STREQ(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                     json_object_to_json_string_ext(ref, JSON_C_TO_STRING_PLAIN));
        struct json_object *copy = NULL;
        ASSERT_OK(json_object_deep_copy(o, &copy, NULL));
        json_object_put(o);
        ASSERT_STREQ(json_object_to_json_string_ext(copy, JSON_C_TO_STRING_PLAIN),
                     json_object_to_json_string_ext(ref, JSON_C_TO_STRING_PLAIN));
        json_object_put(copy);
        json_object_put(ref);
}

TEST_MAIN()
