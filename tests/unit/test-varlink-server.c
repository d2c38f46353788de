/* SPDX-License-Identifier: MIT */
/*
 * daemon/api-server.c with a test interface: dispatch and standard errors, field tables,
 * org.varlink.service, pipelining and order with asynchronous replies, oneway, more,
 * fd passing, bad input (closed vs. error reply), size/depth/connection limits, a client
 * that never reads, authorization of a non-root peer, and every JSONTestSuite file.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "api-json.h"
#include "api-server.h"
#include "api.h"
#include "macro.h"
#include "test-varlink-server.h"
#include "test.h"

/* ---- the test interface ---- */

typedef struct EchoParams {
        const char *text;
        int64_t n;
        bool flag;
} EchoParams;

static const ApiField echo_fields[] = {
        { "text", API_JSON_STRING, API_FIELD_REQUIRED, offsetof(EchoParams, text) },
        { "n", API_JSON_INT, API_FIELD_BOUNDED, offsetof(EchoParams, n), 0, 100 },
        { "flag", API_JSON_BOOL, 0, offsetof(EchoParams, flag) },
        API_FIELD_END,
};

static unsigned echo_calls;

static int method_echo(ApiCall *call, struct json_object *parameters, void *userdata)
{
        EchoParams p = { .n = -1 };
        const char *field;
        ASSERT_OK(api_json_dispatch(parameters, echo_fields, &p, NULL, &field));
        echo_calls++;
        struct json_object *o = json_object_new_object();
        api_json_add_string(o, "text", p.text);
        api_json_add_int(o, "n", p.n);
        return api_call_reply(call, o);
}

static int method_admin(ApiCall *call, struct json_object *parameters, void *userdata)
{
        return api_call_reply(call, NULL);
}

/* Replies after a timer: later pipelined calls must still be answered after it. */
static int async_fire(sd_event_source *s, uint64_t usec, void *userdata)
{
        ApiCall *call = userdata;
        struct json_object *o = json_object_new_object();
        api_json_add_string(o, "text", "async");
        (void)api_call_reply(call, o);
        api_call_unref(call);
        sd_event_source_disable_unref(s);
        return 0;
}

static int method_async(ApiCall *call, struct json_object *parameters, void *userdata)
{
        sd_event *e = userdata;
        return sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 20000, 0, async_fire,
                                          api_call_ref(call));
}

/* Replies i = 0, 1, 2 continuing, then i = 3 final. */
static int stream_0_to_3(ApiCall *call)
{
        for (int i = 0; i < 3; i++) {
                struct json_object *o = json_object_new_object();
                api_json_add_int(o, "i", i);
                ASSERT_OK(api_call_notify(call, o));
        }
        struct json_object *o = json_object_new_object();
        api_json_add_int(o, "i", 3);
        return api_call_reply(call, o);
}

static int method_stream(ApiCall *call, struct json_object *parameters, void *userdata)
{
        return stream_0_to_3(call);
}

/* A stream whose events come from a timer (outside any pass of the server), as a StartVM's
 * progress comes from the RM link's handler. */
static unsigned later_fired;

static int later_fire(sd_event_source *s, uint64_t usec, void *userdata)
{
        ApiCall *call = userdata;
        ASSERT_OK(stream_0_to_3(call));
        api_call_unref(call);
        sd_event_source_disable_unref(s);
        later_fired++;
        return 0;
}

static int method_timed_stream(ApiCall *call, struct json_object *parameters, void *userdata)
{
        sd_event *e = userdata;
        return sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 1000, 0, later_fire,
                                          api_call_ref(call));
}

/* A stream that never ends: 64 KiB per event, an event every millisecond, until the
 * server gives up on the client. */
typedef struct Flood {
        ApiCall *call;
        sd_event_source *timer;
        bool disconnected;
        unsigned sent;
} Flood;
static Flood flood;

static void flood_disconnect(ApiCall *call, void *userdata)
{
        Flood *f = userdata;
        f->disconnected = true;
        f->timer = sd_event_source_disable_unref(f->timer);
        f->call = api_call_unref(f->call);
}

static int flood_fire(sd_event_source *s, uint64_t usec, void *userdata)
{
        Flood *f = userdata;
        static char blob[64 * 1024];
        memset(blob, 'x', sizeof(blob) - 1);
        struct json_object *o = json_object_new_object();
        api_json_add_string(o, "blob", blob);
        ApiCall *call = api_call_ref(f->call);
        int r = api_call_notify(call, o);
        api_call_unref(call);
        if (r < 0)
                return 0; /* disconnect hook ran */
        f->sent++;
        (void)sd_event_source_set_time_relative(s, 1000);
        (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int method_flood(ApiCall *call, struct json_object *parameters, void *userdata)
{
        sd_event *e = userdata;
        flood = (Flood){ .call = api_call_ref(call) };
        api_call_set_disconnect(call, flood_disconnect, &flood);
        return sd_event_add_time_relative(e, &flood.timer, CLOCK_MONOTONIC, 1000, 0, flood_fire,
                                          &flood);
}

static int method_read_fd(ApiCall *call, struct json_object *parameters, void *userdata)
{
        int fd = api_call_take_fd(call, 0);
        if (fd < 0)
                return api_call_error_invalid_parameter(call, "fd");
        char buf[64] = {};
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        close(fd);
        if (n < 0)
                return -errno;
        struct json_object *o = json_object_new_object();
        api_json_add_string(o, "text", buf);
        api_json_add_int(o, "more_fds", api_call_take_fd(call, 1) >= 0);
        return api_call_reply(call, o);
}

static int method_fail(ApiCall *call, struct json_object *parameters, void *userdata)
{
        return -ENOENT;
}

static const ApiMethod test_methods[] = {
        { "Echo", method_echo, 0, echo_fields },
        { "Admin", method_admin, API_METHOD_ADMIN, NULL },
        { "Async", method_async, 0, NULL },
        { "Stream", method_stream, API_METHOD_STREAMS | API_METHOD_REQUIRES_MORE, NULL },
        { "TimedStream", method_timed_stream, API_METHOD_STREAMS | API_METHOD_REQUIRES_MORE, NULL },
        { "Flood", method_flood, API_METHOD_STREAMS | API_METHOD_REQUIRES_MORE, NULL },
        { "ReadFd", method_read_fd, 0, NULL },
        { "Fail", method_fail, 0, NULL },
        { "Later", NULL, 0, NULL },
        { .name = NULL },
};

static const ApiInterface test_interface = {
        .name = "org.example.test",
        .description = "interface org.example.test\n\nmethod Echo(text: string, n: ?int, "
                       "flag: ?bool) -> (text: string, n: int)\n",
        .methods = test_methods,
};

/* ---- fixture ---- */

typedef struct Fixture {
        sd_event *e;
        ApiServer *s;
        char dir[64];
        char path[128];
} Fixture;

static void fixture_setup(Fixture *f, const ApiServerOptions *opts)
{
        ASSERT_OK(sd_event_new(&f->e));
        ASSERT_OK(api_server_new(f->e, opts, &f->s));
        ASSERT_OK(api_server_add_interface(f->s, &test_interface, f->e));
        strcpy(f->dir, "/tmp/test-varlink-server-XXXXXX");
        ASSERT_TRUE(mkdtemp(f->dir) != NULL);
        ASSERT_OK(chmod(f->dir, 0755));
        snprintf(f->path, sizeof(f->path), "%s/socket", f->dir);
        ASSERT_OK(api_server_listen_path(f->s, f->path, 0666));
}

static void fixture_teardown(Fixture *f)
{
        api_server_free(f->s);
        /* Drain pending sources (timers of test methods) before the loop goes. */
        sd_event_unref(f->e);
        unlink(f->path);
        rmdir(f->dir);
}

static void client_open(Fixture *f, TestClient *c)
{
        int fd = test_connect_path(f->path);
        ASSERT_OK(fd);
        test_client_init(c, fd);
}

/* Send one call, expect one reply; returns it (parse ok). */
static void call_once(Fixture *f, TestClient *c, const char *json, VarlinkReply *ret)
{
        ASSERT_OK(test_send_msg(f->e, c, json));
        ASSERT_EQ(test_recv_reply(f->e, c, ret), 1);
}

static void expect_error(Fixture *f, TestClient *c, const char *json, const char *error,
                         const char *key, const char *value)
{
        VarlinkReply r;
        call_once(f, c, json, &r);
        if (!r.error || strcmp(r.error, error) != 0)
                TEST_FAIL_("%s: got error %s, want %s", json, r.error ? r.error : "(none)",
                           error);
        if (key)
                ASSERT_STREQ(test_param_string(&r, key), value);
        varlink_reply_done(&r);
}

/* A message that cannot be a call: InvalidParameter("message"), then the close. */
static void expect_refused(Fixture *f, TestClient *c)
{
        char *m = NULL;
        int r = test_recv(f->e, c, &m);
        if (r != 1)
                TEST_FAIL_("expected an InvalidParameter reply before the close, got %d", r);
        VarlinkReply rep = {};
        ASSERT_OK(varlink_reply_parse(m, strlen(m), 0, &rep));
        ASSERT_STREQ(rep.error, API_ERROR_INVALID_PARAMETER);
        ASSERT_STREQ(test_param_string(&rep, "parameter"), "message");
        varlink_reply_done(&rep);
        free(m);
        m = NULL;
        r = test_recv(f->e, c, &m);
        if (r != 0)
                TEST_FAIL_("expected the server to close after refusing, got %d (%s)", r,
                           m ? m : "");
}

static void expect_closed(Fixture *f, TestClient *c)
{
        char *m = NULL;
        int r = test_recv(f->e, c, &m);
        if (r != 0)
                TEST_FAIL_("expected the server to close, got %d (%s)", r, m ? m : "");
}

/* ---- tests ---- */

TEST(service_get_info)
{
        Fixture f;
        fixture_setup(&f, NULL);
        TestClient c;
        client_open(&f, &c);
        VarlinkReply r;
        call_once(&f, &c, "{\"method\":\"org.varlink.service.GetInfo\"}", &r);
        ASSERT_TRUE(r.error == NULL);
        ASSERT_STREQ(test_param_string(&r, "product"), API_PRODUCT);
        ASSERT_STREQ(test_param_string(&r, "vendor"), API_VENDOR);
        ASSERT_STREQ(test_param_string(&r, "url"), API_URL);
        ASSERT_STREQ(test_param_string(&r, "version"), GUNYAHD_VERSION);
        struct json_object *ifaces;
        ASSERT_TRUE(json_object_object_get_ex(r.parameters, "interfaces", &ifaces));
        ASSERT_EQ(json_object_array_length(ifaces), 2);
        ASSERT_STREQ(json_object_get_string(json_object_array_get_idx(ifaces, 0)),
                     "org.varlink.service");
        ASSERT_STREQ(json_object_get_string(json_object_array_get_idx(ifaces, 1)),
                     "org.example.test");
        varlink_reply_done(&r);

        call_once(&f, &c,
                  "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
                  "\"parameters\":{\"interface\":\"org.varlink.service\"}}",
                  &r);
        ASSERT_STREQ(test_param_string(&r, "description"), api_idl_service);
        varlink_reply_done(&r);
        expect_error(&f, &c,
                     "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
                     "\"parameters\":{\"interface\":\"org.example.nope\"}}",
                     API_ERROR_INTERFACE_NOT_FOUND, "interface", "org.example.nope");
        expect_error(&f, &c, "{\"method\":\"org.varlink.service.GetInterfaceDescription\"}",
                     API_ERROR_INVALID_PARAMETER, "parameter", "interface");
        test_client_done(&c);
        fixture_teardown(&f);
}

TEST(dispatch_errors)
{
        Fixture f;
        fixture_setup(&f, NULL);
        TestClient c;
        client_open(&f, &c);
        expect_error(&f, &c, "{\"method\":\"org.example.nope.Echo\"}",
                     API_ERROR_INTERFACE_NOT_FOUND, "interface", "org.example.nope");
        expect_error(&f, &c, "{\"method\":\"org.example.test.Nope\"}",
                     API_ERROR_METHOD_NOT_FOUND, "method", "org.example.test.Nope");
        expect_error(&f, &c, "{\"method\":\"org.example.test.Later\"}",
                     API_ERROR_METHOD_NOT_IMPLEMENTED, "method", "org.example.test.Later");
        expect_error(&f, &c, "{\"method\":\"org.example.test.Echo\"}",
                     API_ERROR_INVALID_PARAMETER, "parameter", "text");
        expect_error(&f, &c, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"text\":1}}",
                     API_ERROR_INVALID_PARAMETER, "parameter", "text");
        expect_error(&f, &c,
                     "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"text\":\"a\","
                     "\"n\":101}}",
                     API_ERROR_INVALID_PARAMETER, "parameter", "n");
        expect_error(&f, &c,
                     "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"text\":\"a\","
                     "\"n\":1.5}}",
                     API_ERROR_INVALID_PARAMETER, "parameter", "n");
        expect_error(&f, &c,
                     "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"text\":\"a\","
                     "\"bogus\":1}}",
                     API_ERROR_INVALID_PARAMETER, "parameter", "bogus");
        expect_error(&f, &c,
                     "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"text\":\"a\\u0000b\"}}",
                     API_ERROR_INVALID_PARAMETER, "parameter", "text");
        expect_error(&f, &c, "{\"method\":\"org.example.test.Stream\"}",
                     API_ERROR_EXPECTED_MORE, NULL, NULL);
        expect_error(&f, &c, "{\"method\":\"org.example.test.Fail\"}", API_ERROR_NO_SUCH_VM, NULL,
                     NULL);
        expect_error(&f, &c, "{\"method\":\"org.example.test.Echo\",\"upgrade\":true}",
                     API_ERROR_INVALID_PARAMETER, "parameter", "upgrade");
        /* Valid JSON that is not a call: an error reply, and the connection goes on. */
        expect_error(&f, &c, "[1,2]", API_ERROR_INVALID_PARAMETER, "parameter", "");
        expect_error(&f, &c, "{\"method\":\"nodots\"}", API_ERROR_INVALID_PARAMETER, "parameter",
                     "method");
        expect_error(&f, &c, "{\"method\":\"a.b.C\",\"more\":\"yes\"}",
                     API_ERROR_INVALID_PARAMETER, "parameter", "more");

        /* Null, missing and {} parameters; vendor extensions ignored; null = absent. */
        VarlinkReply r;
        call_once(&f, &c,
                  "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"text\":\"hi\","
                  "\"n\":null,\"org.example.ext\":{\"x\":1}}}",
                  &r);
        ASSERT_TRUE(r.error == NULL);
        ASSERT_STREQ(test_param_string(&r, "text"), "hi");
        ASSERT_EQ(test_param_int(&r, "n"), -1);
        varlink_reply_done(&r);
        test_client_done(&c);
        fixture_teardown(&f);
}

TEST(pipelining_order_and_oneway)
{
        Fixture f;
        fixture_setup(&f, NULL);
        TestClient c;
        client_open(&f, &c);
        /* Four calls in one write: async first; the oneway one must not answer. */
        static const char wire[] =
                "{\"method\":\"org.example.test.Async\"}\0"
                "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"text\":\"one\"}}\0"
                "{\"method\":\"org.example.test.Echo\",\"oneway\":true,\"parameters\":{\"text\":\"x\"}}\0"
                "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"text\":\"two\"}}";
        echo_calls = 0;
        ASSERT_OK(test_send(f.e, &c, wire, sizeof(wire)));
        const char *want[] = { "async", "one", "two" };
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                VarlinkReply r;
                ASSERT_EQ(test_recv_reply(f.e, &c, &r), 1);
                ASSERT_TRUE(r.error == NULL);
                ASSERT_STREQ(test_param_string(&r, "text"), want[i]);
                varlink_reply_done(&r);
        }
        ASSERT_EQ(echo_calls, 3);
        test_client_done(&c);
        fixture_teardown(&f);
}

/* The replies of Stream and TimedStream: i = 0, 1, 2 continuing, then 3 final. */
static void expect_stream_0_to_3(Fixture *f, TestClient *c)
{
        for (int i = 0; i < 4; i++) {
                VarlinkReply r;
                ASSERT_EQ(test_recv_reply(f->e, c, &r), 1);
                ASSERT_EQ(test_param_int(&r, "i"), i);
                ASSERT_EQ(r.continues, i < 3);
                varlink_reply_done(&r);
        }
}

TEST(more_and_continues)
{
        Fixture f;
        fixture_setup(&f, NULL);
        TestClient c;
        client_open(&f, &c);
        ASSERT_OK(test_send_msg(f.e, &c, "{\"method\":\"org.example.test.Stream\",\"more\":true}"));
        expect_stream_0_to_3(&f, &c);
        /* more on a method that does not stream: one plain reply. */
        VarlinkReply r;
        call_once(&f, &c,
                  "{\"method\":\"org.example.test.Echo\",\"more\":true,\"parameters\":{\"text\":\"a\"}}",
                  &r);
        ASSERT_TRUE(!r.continues && !r.error);
        varlink_reply_done(&r);
        test_client_done(&c);
        fixture_teardown(&f);
}

TEST(fd_passing)
{
        Fixture f;
        fixture_setup(&f, NULL);
        TestClient c;
        client_open(&f, &c);
        char tmp[] = "/tmp/test-varlink-fd-XXXXXX";
        int fd = mkstemp(tmp);
        ASSERT_OK(fd);
        unlink(tmp);
        ASSERT_EQ(write(fd, "from the file", 13), 13);
        int extra[4];
        for (int i = 0; i < 4; i++)
                extra[i] = dup(fd);
        /* Five fds with one message: two are kept for the call, the rest closed. */
        static const char msg[] = "{\"method\":\"org.example.test.ReadFd\"}";
        int fds[5] = { fd, extra[0], extra[1], extra[2], extra[3] };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(fds))];
        } control = {};
        struct iovec iov = { .iov_base = (void *)msg, .iov_len = sizeof(msg) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof(control) };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(fds));
        memcpy(CMSG_DATA(cm), fds, sizeof(fds));
        ASSERT_EQ(sendmsg(c.fd, &mh, MSG_NOSIGNAL), (ssize_t)sizeof(msg));
        VarlinkReply r;
        ASSERT_EQ(test_recv_reply(f.e, &c, &r), 1);
        ASSERT_STREQ(test_param_string(&r, "text"), "from the file");
        ASSERT_EQ(test_param_int(&r, "more_fds"), 1);
        varlink_reply_done(&r);
        /* A call without fds does not see leftovers. */
        expect_error(&f, &c, "{\"method\":\"org.example.test.ReadFd\"}",
                     API_ERROR_INVALID_PARAMETER, "parameter", "fd");
        for (int i = 0; i < 5; i++)
                close(fds[i]);
        test_client_done(&c);
        fixture_teardown(&f);
}

static bool n_connections_is(void *userdata)
{
        void **a = userdata;
        return api_server_n_connections(a[0]) == (unsigned)(uintptr_t)a[1];
}

TEST(bad_messages_close_the_connection)
{
        ApiServerOptions o = { .max_message = 4096, .max_depth = 16 };
        Fixture f;
        fixture_setup(&f, &o);
        static const char *bad[] = {
                "{\"method\":\"org.example.test.Echo\"",        /* not JSON */
                "{\"method\":\"org.example.test.Echo\"} x",     /* trailing bytes */
                "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", /* depth */
                "{\"a\":\"\xff\"}",                              /* invalid UTF-8 */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                TestClient c;
                client_open(&f, &c);
                ASSERT_OK(test_send_msg(f.e, &c, bad[i]));
                expect_refused(&f, &c);
                test_client_done(&c);
        }
        /* Oversize: 4097 bytes without a NUL. The server refuses and closes; the buffer
         * never grew. */
        TestClient c;
        client_open(&f, &c);
        char big[5000];
        memset(big, ' ', sizeof(big));
        (void)test_send(f.e, &c, big, sizeof(big));
        expect_refused(&f, &c);
        test_client_done(&c);
        /* The server still serves. */
        client_open(&f, &c);
        VarlinkReply r;
        call_once(&f, &c, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"text\":\"ok\"}}",
                  &r);
        ASSERT_STREQ(test_param_string(&r, "text"), "ok");
        varlink_reply_done(&r);
        test_client_done(&c);
        void *arg[2] = { f.s, (void *)(uintptr_t)0 };
        ASSERT_TRUE(test_pump_until(f.e, n_connections_is, arg));
        fixture_teardown(&f);
}

TEST(connection_limits)
{
        ApiServerOptions o = { .max_connections = 4, .max_connections_per_uid = 3 };
        Fixture f;
        fixture_setup(&f, &o);
        TestClient c[5];
        for (int i = 0; i < 5; i++)
                client_open(&f, &c[i]);
        void *arg[2] = { f.s, (void *)(uintptr_t)3 };
        ASSERT_TRUE(test_pump_until(f.e, n_connections_is, arg));
        /* Per-uid limit 3: the last two were closed at accept. */
        for (int i = 3; i < 5; i++)
                expect_closed(&f, &c[i]);
        for (int i = 0; i < 3; i++) {
                VarlinkReply r;
                call_once(&f, &c[i], "{\"method\":\"org.example.test.Echo\",\"parameters\":"
                                     "{\"text\":\"ok\"}}", &r);
                ASSERT_TRUE(r.error == NULL);
                varlink_reply_done(&r);
        }
        test_client_done(&c[0]);
        arg[1] = (void *)(uintptr_t)2;
        ASSERT_TRUE(test_pump_until(f.e, n_connections_is, arg));
        client_open(&f, &c[0]);
        arg[1] = (void *)(uintptr_t)3;
        ASSERT_TRUE(test_pump_until(f.e, n_connections_is, arg));
        for (int i = 0; i < 5; i++)
                test_client_done(&c[i]);
        fixture_teardown(&f);
}

TEST(client_that_never_reads)
{
        ApiServerOptions o = { .max_output = 256 * 1024 };
        Fixture f;
        fixture_setup(&f, &o);
        TestClient c;
        client_open(&f, &c);
        /* A stream it never reads: the server disconnects it once output piles up. */
        ASSERT_OK(test_send_msg(f.e, &c, "{\"method\":\"org.example.test.Flood\",\"more\":true}"));
        size_t peak = 0;
        uint64_t end = test_now_usec() + 10000000u;
        while (!flood.disconnected && test_now_usec() < end) {
                (void)sd_event_run(f.e, 1000);
                peak = MAX(peak, api_server_queued_bytes(f.s));
        }
        ASSERT_TRUE(flood.disconnected);
        /* Never more than the limit plus one event of 64 KiB. */
        ASSERT_TRUE(peak <= o.max_output + 70 * 1024);
        ASSERT_TRUE(flood.sent > 4); /* the socket buffer took some first */
        fprintf(stderr, "flood: %u events sent, peak queue %zu bytes\n", flood.sent, peak);
        test_client_done(&c);

        /* Pipelined calls it never reads: the server stops reading it; the queue stays
         * bounded however much the client sends. */
        client_open(&f, &c);
        static char call[200];
        snprintf(call, sizeof(call), "{\"method\":\"org.example.test.Echo\",\"parameters\":"
                                     "{\"text\":\"%0100d\"}}", 0);
        size_t sent = 0;
        peak = 0;
        for (unsigned i = 0; i < 200000; i++) {
                ssize_t n = send(c.fd, call, strlen(call) + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        ASSERT_EQ(errno, EAGAIN);
                        /* Let the server run; it must stop reading at some point. */
                        for (int k = 0; k < 20; k++)
                                (void)sd_event_run(f.e, 0);
                        n = send(c.fd, call, strlen(call) + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                        if (n < 0)
                                break;
                }
                sent += (size_t)n;
                peak = MAX(peak, api_server_queued_bytes(f.s));
                if ((i & 63) == 0)
                        (void)sd_event_run(f.e, 0);
        }
        peak = MAX(peak, api_server_queued_bytes(f.s));
        fprintf(stderr, "pipelined: %zu bytes sent before the client blocked, peak queue %zu\n",
                sent, peak);
        ASSERT_TRUE(peak <= o.max_output + 1024);
        ASSERT_EQ(api_server_n_connections(f.s), 1);
        test_client_done(&c);
        fixture_teardown(&f);
}

/* For test_pump_until(): a counter reached a value. */
typedef struct CounterIs {
        const unsigned *counter;
        unsigned want;
} CounterIs;

static bool counter_is(void *userdata)
{
        const CounterIs *c = userdata;
        return *c->counter == c->want;
}

/* A synchronous call costs one loop turn: its reply is in the socket when the iteration
 * that read the call returns, and nothing (no EPOLLOUT, no defer) is left pending. */
TEST(synchronous_reply_in_one_turn)
{
        Fixture f;
        fixture_setup(&f, NULL);
        TestClient c;
        client_open(&f, &c);
        void *arg[2] = { f.s, (void *)(uintptr_t)1 };
        ASSERT_TRUE(test_pump_until(f.e, n_connections_is, arg));
        for (int i = 0; i < 3; i++) {
                echo_calls = 0;
                ASSERT_OK(test_send_msg(f.e, &c, "{\"method\":\"org.example.test.Echo\","
                                                 "\"parameters\":{\"text\":\"t\"}}"));
                CounterIs want = { &echo_calls, 1 };
                ASSERT_TRUE(test_pump_until(f.e, counter_is, &want));
                struct pollfd p = { .fd = c.fd, .events = POLLIN };
                ASSERT_EQ(poll(&p, 1, 0), 1);
                ASSERT_EQ(sd_event_run(f.e, 0), 0);
                VarlinkReply r;
                ASSERT_EQ(test_recv_reply(f.e, &c, &r), 1);
                ASSERT_STREQ(test_param_string(&r, "text"), "t");
                varlink_reply_done(&r);
                ASSERT_EQ(api_server_queued_bytes(f.s), 0);
        }
        test_client_done(&c);
        fixture_teardown(&f);
}

/* Notifications made outside a pass (a timer here, the RM link's handler in gunyahd) are
 * not written by the handler that makes them: they wait for the next loop turn, so what the
 * handler sends next (an RM request) leaves before the client is woken. Then they all leave
 * at once, the final reply with them, in order. */
TEST(notifications_outside_a_pass_leave_on_the_next_turn)
{
        Fixture f;
        fixture_setup(&f, NULL);
        TestClient c;
        client_open(&f, &c);
        later_fired = 0;
        ASSERT_OK(test_send_msg(f.e, &c, "{\"method\":\"org.example.test.TimedStream\",\"more\":true}"));
        CounterIs want = { &later_fired, 1 };
        ASSERT_TRUE(test_pump_until(f.e, counter_is, &want));
        struct pollfd p = { .fd = c.fd, .events = POLLIN };
        ASSERT_EQ(poll(&p, 1, 0), 0); /* held */
        ASSERT_TRUE(api_server_queued_bytes(f.s) > 0);
        ASSERT_EQ(sd_event_run(f.e, 0), 1); /* the flush */
        ASSERT_EQ(poll(&p, 1, 0), 1);
        ASSERT_EQ(api_server_queued_bytes(f.s), 0);
        expect_stream_0_to_3(&f, &c);
        test_client_done(&c);
        fixture_teardown(&f);
}

/* Replies larger than the socket buffer: the part the socket does not take is queued and
 * the next reply waits behind it, so both arrive whole and in order. */
TEST(large_replies_in_order)
{
        Fixture f;
        fixture_setup(&f, NULL);
        TestClient c;
        client_open(&f, &c);
        size_t big = 600 * 1024;
        _cleanup_free_ char *wire = malloc(2 * (big + 100));
        ASSERT_TRUE(wire != NULL);
        size_t len = 0;
        for (int k = 0; k < 2; k++) {
                len += (size_t)sprintf(wire + len, "{\"method\":\"org.example.test.Echo\","
                                                   "\"parameters\":{\"n\":%d,\"text\":\"", k);
                memset(wire + len, 'a' + k, big);
                len += big;
                len += (size_t)sprintf(wire + len, "\"}}");
                wire[len++] = '\0';
        }
        ASSERT_OK(test_send(f.e, &c, wire, len));
        for (int k = 0; k < 2; k++) {
                VarlinkReply r;
                ASSERT_EQ(test_recv_reply(f.e, &c, &r), 1);
                ASSERT_TRUE(r.error == NULL);
                ASSERT_EQ(test_param_int(&r, "n"), k);
                const char *t = test_param_string(&r, "text");
                ASSERT_TRUE(t != NULL);
                ASSERT_EQ(strlen(t), big);
                ASSERT_TRUE(t[0] == 'a' + k && t[big - 1] == 'a' + k);
                varlink_reply_done(&r);
        }
        ASSERT_EQ(api_server_queued_bytes(f.s), 0);
        test_client_done(&c);
        fixture_teardown(&f);
}

/* A client that sends and leaves: its oneway calls still run; a call in flight when it
 * leaves completes unobserved; the connection goes away without busy-looping. */
TEST(client_leaves)
{
        Fixture f;
        fixture_setup(&f, NULL);
        TestClient c;
        client_open(&f, &c);
        static const char wire[] =
                "{\"method\":\"org.example.test.Echo\",\"oneway\":true,\"parameters\":{\"text\":\"1\"}}\0"
                "{\"method\":\"org.example.test.Echo\",\"oneway\":true,\"parameters\":{\"text\":\"2\"}}";
        echo_calls = 0;
        ASSERT_OK(test_send(f.e, &c, wire, sizeof(wire)));
        test_client_done(&c);
        CounterIs want = { &echo_calls, 2 };
        ASSERT_TRUE(test_pump_until(f.e, counter_is, &want));
        void *arg[2] = { f.s, (void *)(uintptr_t)0 };
        ASSERT_TRUE(test_pump_until(f.e, n_connections_is, arg));

        client_open(&f, &c);
        ASSERT_OK(test_send_msg(f.e, &c, "{\"method\":\"org.example.test.Async\"}"));
        arg[1] = (void *)(uintptr_t)1;
        ASSERT_TRUE(test_pump_until(f.e, n_connections_is, arg));
        (void)sd_event_run(f.e, 0);
        test_client_done(&c);
        arg[1] = (void *)(uintptr_t)0;
        ASSERT_TRUE(test_pump_until(f.e, n_connections_is, arg));
        /* The timer still fires and answers into the void. */
        for (int i = 0; i < 50; i++)
                (void)sd_event_run(f.e, 2000);
        fixture_teardown(&f);
}

/* Connect as uid/gid 65534 with the given supplementary groups from a child, hand the
 * socket back: the parent runs the client side. */
static int connect_as_nobody(Fixture *f, const gid_t *groups, size_t n_groups)
{
        int sv[2];
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
        pid_t pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                close(sv[0]);
                if (setgroups(n_groups, groups) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                    setresuid(65534, 65534, 65534) < 0)
                        _exit(2);
                int fd = test_connect_path(f->path);
                if (fd < 0)
                        _exit(3);
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int))];
                } control = {};
                struct iovec iov = { .iov_base = "x", .iov_len = 1 };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                                     .msg_controllen = sizeof(control) };
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cm), &fd, sizeof(int));
                _exit(sendmsg(sv[1], &mh, 0) == 1 ? 0 : 4);
        }
        close(sv[1]);
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control;
        char x;
        struct iovec iov = { .iov_base = &x, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof(control) };
        ASSERT_EQ(recvmsg(sv[0], &mh, 0), 1);
        int status;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        int fd;
        memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
        close(sv[0]);
        return fd;
}

/* Run as uid/gid 65534 in a child: reads allowed, Admin refused. */
TEST(authorization)
{
        if (geteuid() != 0) {
                fprintf(stderr, "not root: skipping the non-root peer check\n");
                return;
        }
        ApiServerOptions o = { .admin_group = "no-such-group-for-gunyahd-tests" };
        Fixture f;
        fixture_setup(&f, &o);
        TestClient c;
        client_open(&f, &c);
        VarlinkReply r;
        call_once(&f, &c, "{\"method\":\"org.example.test.Admin\"}", &r);
        ASSERT_TRUE(r.error == NULL); /* root */
        varlink_reply_done(&r);
        test_client_done(&c);

        test_client_init(&c, connect_as_nobody(&f, NULL, 0));
        expect_error(&f, &c, "{\"method\":\"org.example.test.Admin\"}",
                     API_ERROR_PERMISSION_DENIED, NULL, NULL);
        call_once(&f, &c, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"text\":\"r\"}}",
                  &r);
        ASSERT_TRUE(r.error == NULL);
        varlink_reply_done(&r);
        test_client_done(&c);
        fixture_teardown(&f);
}

/* The admin group given as a decimal GID (no NSS lookup), matched as the peer's primary
 * group or as a supplementary one. */
TEST(authorization_numeric_gid)
{
        if (geteuid() != 0) {
                fprintf(stderr, "not root: skipping the non-root peer check\n");
                return;
        }
        static const char *const groups[] = { "65534", "4242" };
        for (size_t i = 0; i < ELEMENTSOF(groups); i++) {
                ApiServerOptions o = { .admin_group = groups[i] };
                Fixture f;
                fixture_setup(&f, &o);
                static const gid_t extra[] = { 4242 };
                TestClient c;
                test_client_init(&c, connect_as_nobody(&f, extra, ELEMENTSOF(extra)));
                VarlinkReply r;
                call_once(&f, &c, "{\"method\":\"org.example.test.Admin\"}", &r);
                ASSERT_TRUE(r.error == NULL);
                varlink_reply_done(&r);
                test_client_done(&c);
                /* another group: refused */
                test_client_init(&c, connect_as_nobody(&f, NULL, 0));
                if (i == 1)
                        expect_error(&f, &c, "{\"method\":\"org.example.test.Admin\"}",
                                     API_ERROR_PERMISSION_DENIED, NULL, NULL);
                test_client_done(&c);
                fixture_teardown(&f);
        }
}

/* Every file of JSONTestSuite/test_parsing as one message on a fresh connection:
 * n_ refused (InvalidParameter "message", then the connection closed; a file with a raw
 * NUL is two messages, and may get an error reply for its first part), y_ answered with an error (valid JSON, not a call),
 * i_ either way; the server serves on after each. */
TEST(json_test_suite)
{
        char dirpath[512];
        DIR *d = test_open_json_test_suite(dirpath, sizeof(dirpath));
        ASSERT_TRUE(d != NULL);
        Fixture f;
        fixture_setup(&f, NULL);
        unsigned n_y = 0, n_n = 0, n_i = 0;
        struct dirent *de;
        static char buf[1 << 20];
        while ((de = readdir(d))) {
                char kind = de->d_name[0];
                if (de->d_name[0] == '.' || (kind != 'y' && kind != 'n' && kind != 'i'))
                        continue;
                char p[1024];
                snprintf(p, sizeof(p), "%s/%s", dirpath, de->d_name);
                int fd = open(p, O_RDONLY | O_CLOEXEC);
                ASSERT_OK(fd);
                ssize_t len = read(fd, buf, sizeof(buf));
                close(fd);
                ASSERT_TRUE(len >= 0 && len < (ssize_t)sizeof(buf));
                bool has_nul = memchr(buf, 0, (size_t)len) != NULL;
                TestClient c;
                client_open(&f, &c);
                ASSERT_OK(test_send(f.e, &c, buf, (size_t)len));
                ASSERT_OK(test_send(f.e, &c, "", 1));
                char *m = NULL;
                int r = test_recv(f.e, &c, &m);
                ASSERT_TRUE(r >= 0);
                VarlinkReply rep = {};
                if (r == 1)
                        ASSERT_OK(varlink_reply_parse(m, strlen(m), 0, &rep));
                if (kind == 'y') {
                        if (r != 1 || !rep.error)
                                TEST_FAIL_("%s: want an error reply, got %d", de->d_name, r);
                        n_y++;
                } else if (kind == 'n') {
                        /* refused: an error reply (InvalidParameter "message", or for a file
                         * with a raw NUL maybe its first part's error), then the close */
                        if (r == 1 && !rep.error)
                                TEST_FAIL_("%s: want a refusal, got %s", de->d_name, m);
                        if (r == 1 && !has_nul &&
                            strcmp(test_param_string(&rep, "parameter"), "message") != 0)
                                TEST_FAIL_("%s: refused naming '%s', not 'message'",
                                           de->d_name, test_param_string(&rep, "parameter"));
                        char *m2 = NULL;
                        int r2 = r == 1 ? test_recv(f.e, &c, &m2) : 0;
                        for (int k = 0; r2 == 1 && has_nul && k < 4; k++) {
                                free(m2);
                                m2 = NULL;
                                r2 = test_recv(f.e, &c, &m2);
                        }
                        if (r2 != 0)
                                TEST_FAIL_("%s: want the connection closed, got %d %s",
                                           de->d_name, r2, m2 ? m2 : "");
                        free(m2);
                        n_n++;
                } else {
                        ASSERT_TRUE(r == 0 || rep.error);
                        n_i++;
                }
                varlink_reply_done(&rep);
                free(m);
                test_client_done(&c);
        }
        closedir(d);
        fprintf(stderr, "JSONTestSuite: %u y_, %u n_, %u i_\n", n_y, n_n, n_i);
        ASSERT_TRUE(n_y > 90 && n_n > 180);
        TestClient c;
        client_open(&f, &c);
        VarlinkReply r;
        call_once(&f, &c, "{\"method\":\"org.example.test.Echo\",\"parameters\":{\"text\":\"ok\"}}",
                  &r);
        ASSERT_TRUE(r.error == NULL);
        varlink_reply_done(&r);
        test_client_done(&c);
        fixture_teardown(&f);
}

TEST_MAIN()
