/* SPDX-License-Identifier: MIT */
/*
 * protocol/api.c: the errno -> Varlink error mapping with its parameters, the reverse
 * mapping used by clients, Monitor cursor text, and the embedded interface descriptions.
 */
#include <errno.h>
#include <json-c/json.h>

#include "api.h"
#include "test.h"

static const char *param_string(struct json_object *p, const char *key)
{
        struct json_object *v;
        if (!json_object_object_get_ex(p, key, &v) || !v)
                return NULL;
        return json_object_get_string(v);
}

static int64_t param_int(struct json_object *p, const char *key)
{
        struct json_object *v;
        ASSERT_TRUE(json_object_object_get_ex(p, key, &v));
        ASSERT_TRUE(json_object_is_type(v, json_type_int));
        return json_object_get_int64(v);
}

TEST(error_names)
{
        static const struct {
                int error;
                const char *name;
        } table[] = {
                { -ENOENT, API_ERROR_NO_SUCH_VM },
                { -EEXIST, API_ERROR_VM_EXISTS },
                { -EBUSY, API_ERROR_INVALID_STATE },
                { -EREMOTEIO, API_ERROR_RM_ERROR },
                { -EHOSTDOWN, API_ERROR_RM_UNAVAILABLE },
                { -ENOTCONN, API_ERROR_RM_UNAVAILABLE },
                { -ENOSPC, API_ERROR_OUT_OF_MEMORY },
                { -ETIMEDOUT, API_ERROR_TIMEOUT },
                { -ENOEXEC, API_ERROR_INVALID_IMAGE },
                { -ESTALE, API_ERROR_CURSOR_EXPIRED },
                { -EPERM, API_ERROR_PERMISSION_DENIED },
                { EACCES, API_ERROR_PERMISSION_DENIED },
                { -EINVAL, API_ERROR_INVALID_PARAMETER },
                { -EOPNOTSUPP, API_ERROR_UNSUPPORTED },
                { -EBADMSG, API_ERROR_RM_PROTOCOL_ERROR },
                { -EBADF, API_ERROR_INVALID_IMAGE },
                { -EIO, API_ERROR_SYSTEM_ERROR },
        };
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
                struct json_object *p = NULL;
                ASSERT_STREQ(api_error_from_errno(table[i].error, NULL, &p), table[i].name);
                ASSERT_TRUE(json_object_is_type(p, json_type_object));
                json_object_put(p);
        }
}

TEST(error_parameters)
{
        struct json_object *p;
        ApiErrorDetail d = { .vm = "web1", .state = "running" };
        ASSERT_STREQ(api_error_from_errno(-EBUSY, &d, &p), API_ERROR_INVALID_STATE);
        ASSERT_STREQ(param_string(p, "name"), "web1");
        ASSERT_STREQ(param_string(p, "state"), "running");
        json_object_put(p);

        d = (ApiErrorDetail){ .rm_call = "VM_START", .rm_code = 0x14, .rm_error_name = "VM_STATE" };
        ASSERT_STREQ(api_error_from_errno(-EREMOTEIO, &d, &p), API_ERROR_RM_ERROR);
        ASSERT_STREQ(param_string(p, "call"), "VM_START");
        ASSERT_EQ(param_int(p, "code"), 0x14);
        ASSERT_STREQ(param_string(p, "name"), "VM_STATE");
        json_object_put(p);

        d = (ApiErrorDetail){ .rm_call = "VM_STOP", .rm_code = 0xFFFFFFFFu };
        ASSERT_STREQ(api_error_from_errno(-EREMOTEIO, &d, &p), API_ERROR_RM_ERROR);
        ASSERT_EQ(param_int(p, "code"), 0xFFFFFFFFll);
        json_object_put(p);

        d = (ApiErrorDetail){ .parameter = "memorySize" };
        ASSERT_STREQ(api_error_from_errno(-EINVAL, &d, &p), API_ERROR_INVALID_PARAMETER);
        ASSERT_STREQ(param_string(p, "parameter"), "memorySize");
        json_object_put(p);

        d = (ApiErrorDetail){ .has_memory = true, .requested = 1u << 30, .available = 4096 };
        ASSERT_STREQ(api_error_from_errno(-ENOSPC, &d, &p), API_ERROR_OUT_OF_MEMORY);
        ASSERT_EQ(param_int(p, "requested"), 1 << 30);
        ASSERT_EQ(param_int(p, "available"), 4096);
        json_object_put(p);

        ASSERT_STREQ(api_error_from_errno(-EIO, NULL, &p), API_ERROR_SYSTEM_ERROR);
        ASSERT_EQ(param_int(p, "errno"), EIO);
        ASSERT_STREQ(param_string(p, "errnoName"), "EIO");
        json_object_put(p);

        d = (ApiErrorDetail){ .cursor = "x", .oldest = NULL };
        ASSERT_STREQ(api_error_from_errno(-ESTALE, &d, &p), API_ERROR_CURSOR_EXPIRED);
        struct json_object *v = (void *)1;
        ASSERT_TRUE(json_object_object_get_ex(p, "oldest", &v));
        ASSERT_TRUE(v == NULL);
        json_object_put(p);
}

TEST(error_reverse)
{
        ASSERT_EQ(api_error_to_errno(API_ERROR_NO_SUCH_VM), -ENOENT);
        ASSERT_EQ(api_error_to_errno(API_ERROR_INVALID_STATE), -EBUSY);
        ASSERT_EQ(api_error_to_errno(API_ERROR_CURSOR_EXPIRED), -ESTALE);
        ASSERT_EQ(api_error_to_errno(API_ERROR_EXPECTED_MORE), -EPROTO);
        ASSERT_EQ(api_error_to_errno("org.example.Other"), -EREMOTE);
        ASSERT_EQ(api_error_to_errno(NULL), -EREMOTE);
        /* Every error the daemon names maps back to the errno it came from (first of its row). */
        static const int errors[] = { ENOENT, EEXIST, EBUSY, EREMOTEIO, ESTALE, EPERM, EINVAL,
                                      ENOEXEC };
        for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
                ASSERT_EQ(api_error_to_errno(api_error_from_errno(errors[i], NULL, NULL)),
                          -errors[i]);
}

TEST(cursor)
{
        char buf[API_CURSOR_MAX];
        api_cursor_format(0x0123456789abcdefull, 42, buf);
        ASSERT_STREQ(buf, "0123456789abcdef:42");
        uint64_t run, seq;
        ASSERT_OK(api_cursor_parse(buf, &run, &seq));
        ASSERT_U64_EQ(run, 0x0123456789abcdefull);
        ASSERT_U64_EQ(seq, 42);
        api_cursor_format(UINT64_MAX, UINT64_MAX, buf);
        ASSERT_OK(api_cursor_parse(buf, &run, &seq));
        ASSERT_U64_EQ(seq, UINT64_MAX);
        static const char *bad[] = { "", "0123456789abcdef", "0123456789abcdef:",
                                     "0123456789ABCDEF:1", "0123456789abcde:1",
                                     "0123456789abcdef:01", "0123456789abcdef:1x",
                                     "0123456789abcdef:18446744073709551616", "g123456789abcdef:1" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ASSERT_EQ(api_cursor_parse(bad[i], &run, &seq), -EINVAL);
        ASSERT_OK(api_cursor_parse("0000000000000000:0", &run, &seq));
}

TEST(idl_embedded)
{
        ASSERT_TRUE(strstr(api_idl_manager, "\ninterface io.gunyah.Manager\n") != NULL);
        ASSERT_TRUE(strncmp(api_idl_service, "# ", 2) == 0);
        ASSERT_TRUE(strstr(api_idl_service, "\ninterface org.varlink.service\n") != NULL);
        ASSERT_TRUE(strstr(api_idl_certification, "\ninterface org.varlink.certification\n"));
        static const char *methods[] = { "CreateVM", "StartVM", "StopVM", "DestroyVM",
                                         "ListVMs", "DescribeVM", "Monitor", "GetDaemonInfo" };
        char needle[64];
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
                snprintf(needle, sizeof(needle), "\nmethod %s(", methods[i]);
                ASSERT_TRUE(strstr(api_idl_manager, needle) != NULL);
        }
}

TEST_MAIN()
