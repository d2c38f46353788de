/* SPDX-License-Identifier: MIT */
/*
 * protocol/varlink.c: NUL framing over real sockets (partial reads, several messages per
 * read, a message split across reads, the size limit without growth), strict parsing of
 * calls and replies, and formatting. Expected wire bytes are written by hand.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "test.h"
#include "varlink.h"

static void make_pair(int fds[2])
{
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds));
}

static void send_all(int fd, const void *p, size_t n)
{
        ASSERT_EQ(write(fd, p, n), (ssize_t)n);
}

TEST(buffer_partial_then_complete)
{
        int fds[2];
        make_pair(fds);
        VarlinkBuffer b;
        varlink_buffer_init(&b, 0);
        ASSERT_EQ(b.max_message, VARLINK_DEFAULT_MAX_MESSAGE);
        const char *msg;
        size_t len;

        ASSERT_EQ(varlink_buffer_read(&b, fds[0]), -EAGAIN);
        send_all(fds[1], "{\"method\":", 10);
        ASSERT_EQ(varlink_buffer_read(&b, fds[0]), 10);
        ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), 0);
        ASSERT_EQ(varlink_buffer_pending(&b), 10);
        send_all(fds[1], "\"a.b.C\"}\0{}", 11);
        ASSERT_EQ(varlink_buffer_read(&b, fds[0]), 11);
        ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), 1);
        ASSERT_EQ(len, 18);
        ASSERT_STREQ(msg, "{\"method\":\"a.b.C\"}");
        ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), 0);
        ASSERT_EQ(varlink_buffer_pending(&b), 2);
        send_all(fds[1], "\0", 1);
        ASSERT_EQ(varlink_buffer_read(&b, fds[0]), 1);
        ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), 1);
        ASSERT_STREQ(msg, "{}");
        ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), 0);
        close(fds[1]);
        ASSERT_EQ(varlink_buffer_read(&b, fds[0]), 0);
        close(fds[0]);
        varlink_buffer_free(&b);
}

TEST(buffer_several_per_read)
{
        int fds[2];
        make_pair(fds);
        VarlinkBuffer b;
        varlink_buffer_init(&b, 64);
        static const char wire[] = "{\"a\":1}\0{\"b\":2}\0\0{\"c\":3}\0{\"d\"";
        send_all(fds[1], wire, sizeof(wire) - 1);
        ASSERT_EQ(varlink_buffer_read(&b, fds[0]), (ssize_t)sizeof(wire) - 1);
        const char *msg;
        size_t len;
        const char *want[] = { "{\"a\":1}", "{\"b\":2}", "", "{\"c\":3}" };
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), 1);
                ASSERT_EQ(len, strlen(want[i]));
                ASSERT_STREQ(msg, want[i]);
        }
        ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), 0);
        ASSERT_EQ(varlink_buffer_pending(&b), 4);
        close(fds[0]);
        close(fds[1]);
        varlink_buffer_free(&b);
}

TEST(buffer_byte_by_byte)
{
        VarlinkBuffer b;
        varlink_buffer_init(&b, 128);
        static const char wire[] = "{\"method\":\"x.y.Z\",\"parameters\":{}}";
        const char *msg;
        size_t len;
        for (unsigned round = 0; round < 3; round++) {
                for (size_t i = 0; i < sizeof(wire); i++) { /* includes the NUL */
                        ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), 0);
                        ASSERT_OK(varlink_buffer_append(&b, wire + i, 1));
                }
                ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), 1);
                ASSERT_EQ(len, sizeof(wire) - 1);
                ASSERT_MEMEQ(msg, wire, sizeof(wire));
        }
        ASSERT_EQ(varlink_buffer_pending(&b), 0);
        varlink_buffer_free(&b);
}

TEST(buffer_limit_exact_and_over)
{
        enum { MAX = 8192 };
        int fds[2];
        make_pair(fds);
        VarlinkBuffer b;
        varlink_buffer_init(&b, MAX);
        _cleanup_free_ char *big = malloc(MAX + 1);
        memset(big, 'x', MAX);
        big[MAX] = 0;
        /* Exactly max_message bytes plus the NUL is accepted. */
        send_all(fds[1], big, MAX + 1);
        ssize_t total = 0;
        const char *msg;
        size_t len;
        int r = 0;
        for (unsigned i = 0; i < 100 && r == 0; i++) {
                ssize_t n = varlink_buffer_read(&b, fds[0]);
                ASSERT_TRUE(n > 0);
                total += n;
                r = varlink_buffer_next(&b, &msg, &len);
        }
        ASSERT_EQ(r, 1);
        ASSERT_EQ(total, MAX + 1);
        ASSERT_EQ(len, MAX);
        ASSERT_TRUE(b.cap <= MAX + 1);

        /* One byte more, without a NUL: -EMSGSIZE, and the buffer stops growing. */
        send_all(fds[1], big, MAX);
        send_all(fds[1], "yyyy", 4);
        ssize_t n = 0;
        for (unsigned i = 0; i < 100; i++) {
                n = varlink_buffer_read(&b, fds[0]);
                if (n < 0)
                        break;
                ASSERT_TRUE(n > 0);
                ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), 0);
        }
        ASSERT_EQ(n, -EMSGSIZE);
        ASSERT_TRUE(b.cap <= MAX + 1);
        ASSERT_EQ(varlink_buffer_read(&b, fds[0]), -EMSGSIZE);
        ASSERT_TRUE(b.cap <= MAX + 1);
        close(fds[0]);
        close(fds[1]);
        varlink_buffer_free(&b);
}

TEST(buffer_append_limit)
{
        VarlinkBuffer b;
        varlink_buffer_init(&b, 16);
        ASSERT_OK(varlink_buffer_append(&b, "0123456789abcdef", 16));
        ASSERT_EQ(varlink_buffer_append(&b, "g", 1), -EMSGSIZE);
        varlink_buffer_free(&b);
        varlink_buffer_init(&b, 16);
        /* Several whole messages in one chunk bigger than the limit are fine. */
        ASSERT_OK(varlink_buffer_append(&b, "0123456789\0abcdefghij\0xyz", 25));
        const char *msg;
        size_t len;
        ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), 1);
        ASSERT_STREQ(msg, "0123456789");
        ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), 1);
        ASSERT_STREQ(msg, "abcdefghij");
        ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), 0);
        /* But one message over the limit inside a chunk is refused by next(). */
        ASSERT_OK(varlink_buffer_append(&b, "\0", 1));
        ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), 1);
        ASSERT_STREQ(msg, "xyz");
        ASSERT_OK(varlink_buffer_append(&b, "0123456789abcdefXYZ\0", 20));
        ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), -EMSGSIZE);
        varlink_buffer_free(&b);
}

TEST(buffer_shrinks_when_idle)
{
        VarlinkBuffer b;
        varlink_buffer_init(&b, VARLINK_DEFAULT_MAX_MESSAGE);
        _cleanup_free_ char *big = calloc(1, 512 * 1024);
        memset(big, ' ', 512 * 1024 - 1);
        ASSERT_OK(varlink_buffer_append(&b, big, 512 * 1024));
        const char *msg;
        size_t len;
        ASSERT_EQ(varlink_buffer_next(&b, &msg, &len), 1);
        ASSERT_TRUE(b.cap >= 512 * 1024);
        ASSERT_OK(varlink_buffer_append(&b, "{}", 2));
        ASSERT_TRUE(b.cap <= 64 * 1024);
        varlink_buffer_free(&b);
}

static int parse_call(const char *s, VarlinkCall *c)
{
        return varlink_call_parse(s, strlen(s), 0, c);
}

TEST(call_parse_ok)
{
        VarlinkCall c;
        ASSERT_OK(parse_call("{\"method\":\"io.gunyah.Manager.ListVMs\"}", &c));
        ASSERT_STREQ(c.method, "io.gunyah.Manager.ListVMs");
        ASSERT_EQ(c.interface_end - c.method, 17);
        ASSERT_TRUE(json_object_is_type(c.parameters, json_type_object));
        ASSERT_EQ(json_object_object_length(c.parameters), 0);
        ASSERT_TRUE(!c.oneway && !c.more && !c.upgrade);
        varlink_call_done(&c);

        ASSERT_OK(parse_call(" {\"method\":\"a.b.C\",\"parameters\":null,\"more\":true} \n", &c));
        ASSERT_EQ(json_object_object_length(c.parameters), 0);
        ASSERT_TRUE(c.more && !c.oneway);
        varlink_call_done(&c);

        ASSERT_OK(parse_call("{\"parameters\":{},\"oneway\":true,\"method\":\"a.b.C\"}", &c));
        ASSERT_TRUE(c.oneway);
        ASSERT_EQ(json_object_object_length(c.parameters), 0);
        varlink_call_done(&c);

        ASSERT_OK(parse_call("{\"method\":\"a.b.C\",\"parameters\":{\"x\":[1,{\"y\":\"é\"}]},"
                             "\"upgrade\":false,\"org.example.ext\":{}}",
                             &c));
        struct json_object *x;
        ASSERT_TRUE(json_object_object_get_ex(c.parameters, "x", &x));
        ASSERT_EQ(json_object_array_length(x), 2);
        varlink_call_done(&c);
}

TEST(call_parse_bad_json)
{
        static const char *bad[] = {
                "",
                "{",
                "{\"method\":\"a.b.C\"} x",
                "{\"method\":\"a.b.C\"}{}",
                "{\"method\":'a.b.C'}",
                "{method:\"a.b.C\"}",
                "{\"method\":\"a.b.C\",}",
                "/* c */{\"method\":\"a.b.C\"}",
                "{\"method\":\"a.b.C\",\"parameters\":{\"x\":01}}",
                "{\"method\":\"a.b.C\",\"parameters\":{\"x\":NaN}}",
                "{\"method\":\"a.b.C\",\"parameters\":{\"x\":\"\xff\"}}",
                "{\"method\":\"a.b.C\",\"parameters\":{\"x\":\"\xc0\xaf\"}}",
                "{\"method\":\"a.b.C\",\"parameters\":{\"x\":\"\xed\xa0\x80\"}}",
                "{\"method\":\"a.b.C\",\"parameters\":{\"x\":\"a\tb\"}}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                VarlinkCall c;
                int r = parse_call(bad[i], &c);
                if (r != -EBADMSG)
                        TEST_FAIL_("case %zu: %d", i, r);
        }
        /* A NUL inside the message. */
        VarlinkCall c;
        ASSERT_EQ(varlink_call_parse("{\"method\":\"a.b.C\"}\0", 19, 0, &c), -EBADMSG);
        ASSERT_EQ(varlink_call_parse("{\"method\":\"a\0b.C\"}", 18, 0, &c), -EBADMSG);
}

TEST(call_parse_not_a_call)
{
        static const char *bad[] = {
                "null",
                "[]",
                "1",
                "\"a.b.C\"",
                "{}",
                "{\"method\":null}",
                "{\"method\":1}",
                "{\"method\":\"nodot\"}",
                "{\"method\":\"a.b.c\"}",
                "{\"method\":\"a.B\"}",
                "{\"method\":\"a..b.C\"}",
                "{\"method\":\".b.C\"}",
                "{\"method\":\"a.b.C-D\"}",
                "{\"method\":\"a.b.C\\u0000x\"}",
                "{\"method\":\"a.b.C\",\"parameters\":[]}",
                "{\"method\":\"a.b.C\",\"parameters\":\"x\"}",
                "{\"method\":\"a.b.C\",\"oneway\":1}",
                "{\"method\":\"a.b.C\",\"more\":\"true\"}",
                "{\"method\":\"a.b.C\",\"upgrade\":{}}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                VarlinkCall c;
                int r = parse_call(bad[i], &c);
                if (r != -EPROTO)
                        TEST_FAIL_("case %zu (%s): %d", i, bad[i], r);
        }
}

TEST(call_parse_error_field)
{
        static const struct {
                const char *msg, *field;
        } cases[] = {
                { "[]", "" },
                { "{\"parameters\":{}}", "method" },
                { "{\"method\":\"x\"}", "method" },
                { "{\"method\":\"a.b.C\",\"oneway\":0}", "oneway" },
                { "{\"method\":\"a.b.C\",\"more\":null,\"upgrade\":1}", "upgrade" },
                { "{\"method\":\"a.b.C\",\"parameters\":true}", "parameters" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                VarlinkCall c;
                const char *field = NULL;
                ASSERT_EQ(varlink_call_parse_ex(cases[i].msg, strlen(cases[i].msg), 0, &c, &field),
                          -EPROTO);
                ASSERT_STREQ(field, cases[i].field);
        }
}

static char *nested(unsigned depth)
{
        /* {"method":"a.b.C","parameters":{"x":[[[...]]]}}: depth + 2 levels in total. */
        size_t n = 64 + 2 * depth;
        char *s = malloc(n);
        size_t k = (size_t)snprintf(s, n, "{\"method\":\"a.b.C\",\"parameters\":{\"x\":");
        for (unsigned i = 0; i < depth; i++)
                s[k++] = '[';
        for (unsigned i = 0; i < depth; i++)
                s[k++] = ']';
        s[k++] = '}';
        s[k++] = '}';
        s[k] = 0;
        return s;
}

TEST(call_parse_depth)
{
        VarlinkCall c;
        /* max_depth counts every level, the call object included. */
        _cleanup_free_ char *ok = nested(VARLINK_DEFAULT_MAX_DEPTH - 2);
        ASSERT_OK(varlink_call_parse(ok, strlen(ok), VARLINK_DEFAULT_MAX_DEPTH, &c));
        varlink_call_done(&c);
        _cleanup_free_ char *deep = nested(VARLINK_DEFAULT_MAX_DEPTH - 1);
        ASSERT_EQ(varlink_call_parse(deep, strlen(deep), VARLINK_DEFAULT_MAX_DEPTH, &c),
                  -ELOOP);
        _cleanup_free_ char *bomb = nested(100000);
        ASSERT_EQ(varlink_call_parse(bomb, strlen(bomb), 0, &c), -ELOOP);
        ASSERT_EQ(varlink_call_parse(ok, strlen(ok), 8, &c), -ELOOP);
}

TEST(reply_parse)
{
        VarlinkReply r;
        const char *s = "{\"parameters\":{\"a\":1},\"continues\":true}";
        ASSERT_OK(varlink_reply_parse(s, strlen(s), 0, &r));
        ASSERT_TRUE(r.continues);
        ASSERT_TRUE(r.error == NULL);
        ASSERT_EQ(json_object_object_length(r.parameters), 1);
        varlink_reply_done(&r);

        s = "{\"error\":\"org.varlink.service.MethodNotFound\",\"parameters\":{\"method\":\"x\"}}";
        ASSERT_OK(varlink_reply_parse(s, strlen(s), 0, &r));
        ASSERT_STREQ(r.error, "org.varlink.service.MethodNotFound");
        ASSERT_TRUE(!r.continues);
        varlink_reply_done(&r);

        s = "{}";
        ASSERT_OK(varlink_reply_parse(s, strlen(s), 0, &r));
        ASSERT_TRUE(r.parameters && !r.error && !r.continues);
        varlink_reply_done(&r);

        static const char *proto[] = { "[]", "{\"error\":1}", "{\"error\":\"nodot\"}",
                                       "{\"continues\":1}", "{\"parameters\":[]}" };
        for (size_t i = 0; i < ELEMENTSOF(proto); i++)
                ASSERT_EQ(varlink_reply_parse(proto[i], strlen(proto[i]), 0, &r), -EPROTO);
        ASSERT_EQ(varlink_reply_parse("{} {}", 5, 0, &r), -EBADMSG);
}

TEST(format)
{
        size_t len;
        _cleanup_free_ char *a = varlink_format_reply(NULL, NULL, false, &len);
        static const char want_a[] = "{\"parameters\":{}}";
        ASSERT_EQ(len, sizeof(want_a));
        ASSERT_MEMEQ(a, want_a, sizeof(want_a));

        struct json_object *p = json_object_new_object();
        json_object_object_add(p, "path", json_object_new_string("/a/b"));
        _cleanup_free_ char *b = varlink_format_reply(p, "a.b.Err", true, &len);
        static const char want_b[] =
                "{\"parameters\":{\"path\":\"/a/b\"},\"continues\":true,\"error\":\"a.b.Err\"}";
        ASSERT_EQ(len, sizeof(want_b));
        ASSERT_MEMEQ(b, want_b, sizeof(want_b));

        _cleanup_free_ char *c = varlink_format_call("a.b.C", p, true, true, &len);
        static const char want_c[] = "{\"method\":\"a.b.C\",\"parameters\":{\"path\":\"/a/b\"},"
                                     "\"oneway\":true,\"more\":true}";
        ASSERT_EQ(len, sizeof(want_c));
        ASSERT_MEMEQ(c, want_c, sizeof(want_c));
        json_object_put(p);

        /* Round trip through the parser. */
        VarlinkCall call;
        ASSERT_OK(varlink_call_parse(c, len - 1, 0, &call));
        ASSERT_TRUE(call.oneway && call.more);
        varlink_call_done(&call);
}

TEST(names)
{
        ASSERT_TRUE(varlink_interface_name_valid("org.varlink.service", 19));
        ASSERT_TRUE(varlink_interface_name_valid("io.gunyah.Manager", 17));
        ASSERT_TRUE(varlink_interface_name_valid("a-b.c--d.e1", 11));
        ASSERT_TRUE(!varlink_interface_name_valid("a", 1));
        ASSERT_TRUE(!varlink_interface_name_valid("1a.b", 4));
        ASSERT_TRUE(!varlink_interface_name_valid("a.b-", 4));
        ASSERT_TRUE(!varlink_interface_name_valid("a.-b", 4));
        ASSERT_TRUE(!varlink_interface_name_valid("a.b.", 4));
        ASSERT_TRUE(!varlink_interface_name_valid("a_b.c", 5));
        ASSERT_TRUE(varlink_member_name_valid("GetInfo", 7));
        ASSERT_TRUE(!varlink_member_name_valid("getInfo", 7));
        ASSERT_TRUE(!varlink_member_name_valid("Get_Info", 8));
        ASSERT_TRUE(varlink_utf8_valid("\xf0\x9f\x98\x80", 4));
        ASSERT_TRUE(!varlink_utf8_valid("\xf0\x9f\x98", 3));
        ASSERT_TRUE(!varlink_utf8_valid("\xf4\x90\x80\x80", 4));
        ASSERT_TRUE(!varlink_utf8_valid("\xe0\x80\x80", 3));
}

/* One parse through a shared parser and one through a fresh tokener give the same verdict,
 * error field and tree. */
static void parse_both(VarlinkParser *p, const char *msg, size_t len, unsigned max_depth,
                       const char *what)
{
        VarlinkCall a = {}, b = {};
        const char *fa = "", *fb = "";
        int ra = varlink_parser_parse_call(p, msg, len, max_depth, &a, &fa);
        int rb = varlink_call_parse_ex(msg, len, max_depth, &b, &fb);
        if (ra != rb)
                TEST_FAIL_("%s: shared parser %d, fresh %d", what, ra, rb);
        if (ra == -EPROTO)
                ASSERT_STREQ(fa, fb);
        if (ra == 0) {
                ASSERT_STREQ(a.method, b.method);
                ASSERT_TRUE(a.oneway == b.oneway && a.more == b.more && a.upgrade == b.upgrade);
                const char *sa = json_object_to_json_string_ext(a.root, JSON_C_TO_STRING_PLAIN);
                const char *sb = json_object_to_json_string_ext(b.root, JSON_C_TO_STRING_PLAIN);
                if (strcmp(sa, sb) != 0)
                        TEST_FAIL_("%s: trees differ", what);
                varlink_call_done(&a);
                varlink_call_done(&b);
        }
}

TEST(parser_reuse_same_verdicts)
{
        /* Inputs that leave json-c's tokener in the middle of something, then ones that
         * would go wrong if any of it survived into the next message. */
        static const char *msgs[] = {
                "{\"method\":\"a.b.C\",\"parameters\":{\"s\":\"\\ud83d\"}}",
                "{\"method\":\"a.b.C\",\"parameters\":{\"s\":\"\\ude00\"}}",
                "{\"method\":\"a.b.C\",\"parameters\":{\"s\":\"\\ud83d\\ude00x\"}}",
                "{\"method\":\"a.b.C\",\"parameters\":{\"s\":\"\\u0000\"}}",
                "{\"method\":\"a.b.C\",\"parameters\":{\"s\":\"\\u00e9\\n\\\"\"}}",
                "{\"method\":\"a.b.C\",\"parameters\":{\"n\":-1.5e+300,\"m\":18446744073709551615}}",
                "{\"method\":\"a.b.C\",\"parameters\":{\"n\":1e999}}",
                "{\"method\":\"a.b.C\"",
                "{\"method\":\"a.b.C\",\"parameters\":{\"x\":tru}}",
                "{\"method\":\"a.b.C\",\"parameters\":{\"x\":\"",
                "{\"method\":\"a.b.C\",\"parameters\":{\"x\":[1,2,",
                "{\"method\":\"a.b.C\",\"parameters\":[]}",
                "{\"method\":\"a.b.C\",\"more\":1}",
                "{\"method\":\"a.b.C\",\"method\":\"d.e.F\"}",
                "{\"method\":\"a.b.C\"}  \r\n\t",
                "{\"method\":\"a.b.C\"} x",
                "{\"method\":\"a.b.C\",\"parameters\":{\"x\":\"\xff\"}}",
                "123",
                "-0.5e1",
                "12",
                "null",
                "\"str\"",
                "[]",
                "{}",
                "{\"method\":\"a.b.C\",\"oneway\":true,\"parameters\":{\"k\":{\"l\":[null,false]}}}",
        };
        VarlinkParser p = {};
        _cleanup_free_ char *ok = nested(VARLINK_DEFAULT_MAX_DEPTH - 2);
        _cleanup_free_ char *deep = nested(VARLINK_DEFAULT_MAX_DEPTH - 1);
        for (unsigned round = 0; round < 3; round++)
                for (size_t i = 0; i < ELEMENTSOF(msgs); i++)
                        for (size_t j = 0; j < ELEMENTSOF(msgs); j++) {
                                parse_both(&p, msgs[i], strlen(msgs[i]), 0, "first");
                                parse_both(&p, msgs[j], strlen(msgs[j]), 0, "second");
                                if (round == 1)
                                        parse_both(&p, deep, strlen(deep), 0, "deep");
                                if (round == 2)
                                        parse_both(&p, ok, strlen(ok), 8, "other depth");
                        }
        parse_both(&p, ok, strlen(ok), 0, "ok");
        ASSERT_TRUE(p.tok != NULL && p.depth == VARLINK_DEFAULT_MAX_DEPTH);
        parse_both(&p, ok, strlen(ok), 8, "too deep for 8");
        parse_both(&p, msgs[0], strlen(msgs[0]), 8, "depth 8");
        ASSERT_TRUE(p.tok != NULL && p.depth == 8);
        parse_both(&p, msgs[0], strlen(msgs[0]), 8, "depth 8 again");
        parse_both(&p, ok, strlen(ok), 0, "back to the default");
        ASSERT_TRUE(p.tok != NULL && p.depth == VARLINK_DEFAULT_MAX_DEPTH);

        /* A big message: same result, and the tokener (whose buffer grew) is not kept. */
        size_t n = 200 * 1024;
        _cleanup_free_ char *big = malloc(n + 64);
        ASSERT_TRUE(big != NULL);
        size_t k = (size_t)snprintf(big, 64, "{\"method\":\"a.b.C\",\"parameters\":{\"s\":\"");
        memset(big + k, 'a', n);
        k += n;
        memcpy(big + k, "\"}}", 4);
        parse_both(&p, big, strlen(big), 0, "big");
        ASSERT_TRUE(p.tok == NULL);
        parse_both(&p, msgs[0], strlen(msgs[0]), 0, "after big");
        ASSERT_TRUE(p.tok != NULL);
        varlink_parser_done(&p);
        ASSERT_TRUE(p.tok == NULL);
        varlink_parser_done(&p);
}

/* Every JSONTestSuite test_parsing file, in directory order, through one shared parser:
 * the same verdict as a fresh tokener for each. */
TEST(parser_reuse_json_test_suite)
{
        char dirpath[512];
        DIR *d = test_open_json_test_suite(dirpath, sizeof(dirpath));
        if (!d)
                TEST_FAIL_("JSONTestSuite not found (tried %s)", dirpath);
        VarlinkParser p = {};
        unsigned n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char path[1024];
                snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                ASSERT_TRUE(fd >= 0);
                static char buf[1024 * 1024];
                ssize_t len = read(fd, buf, sizeof(buf));
                close(fd);
                ASSERT_TRUE(len >= 0);
                for (unsigned depth = 0; depth <= 2; depth += 2)
                        parse_both(&p, buf, (size_t)len, depth, de->d_name);
                n++;
        }
        closedir(d);
        varlink_parser_done(&p);
        ASSERT_TRUE(n > 300);
}

TEST_MAIN()
