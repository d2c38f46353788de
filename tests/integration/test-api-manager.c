/* SPDX-License-Identifier: MIT */
/*
 * io.gunyah.Manager end to end: an ApiServer with the manager's interface on the loop of
 * the core harness (a Manager driving the real gunyah-rm-sim), clients speaking raw Varlink
 * on its socket. Every method, the named errors it can produce here, StartVM progress with
 * "more", Monitor snapshot / events / resume after a disconnect without a gap / expired
 * cursors, image fds over SCM_RIGHTS, and a hundred clients at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api-manager.h"
#include "api-server.h"
#include "api.h"
#include "core-harness.h"
#include "events.h"
#include "manager.h"
#include "test-varlink-server.h"
#include "test.h"

typedef struct Env {
        Core *core;
        ApiServer *s;
        char path[400];
} Env;

static void env_new(Env *env)
{
        env->core = core_new(&(CoreOpts){ .guest_pace_ms = 1 });
        ASSERT_OK(api_server_new(env->core->event, NULL, &env->s));
        ASSERT_OK(api_manager_register(env->s, env->core->m));
        snprintf(env->path, sizeof(env->path), "%s/api.sock", env->core->dir);
        ASSERT_OK(api_server_listen_path(env->s, env->path, 0600));
}

static void env_free(Env *env)
{
        env->s = api_server_free(env->s);
        core_free(env->core);
}

static void client_open(Env *env, TestClient *c)
{
        int fd = test_connect_path(env->path);
        ASSERT_OK(fd);
        test_client_init(c, fd);
}

/* One call, one reply; fails the test on anything but a reply. */
static void call(Env *env, TestClient *c, const char *json, VarlinkReply *ret)
{
        ASSERT_OK(test_send_msg(env->core->event, c, json));
        int r = test_recv_reply(env->core->event, c, ret);
        if (r != 1)
                TEST_FAIL_("%s: no reply (%d)", json, r);
}

static void call_ok(Env *env, TestClient *c, const char *json, VarlinkReply *ret)
{
        call(env, c, json, ret);
        if (ret->error)
                TEST_FAIL_("%s: %s %s", json, ret->error,
                           json_object_to_json_string(ret->parameters));
}

static void call_error(Env *env, TestClient *c, const char *json, const char *error)
{
        VarlinkReply r;
        call(env, c, json, &r);
        if (!r.error || strcmp(r.error, error) != 0)
                TEST_FAIL_("%s: got %s, want %s", json, r.error ? r.error : "success", error);
        varlink_reply_done(&r);
}

static struct json_object *get(struct json_object *o, const char *path)
{
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", path);
        for (char *save, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
                struct json_object *v;
                if (!json_object_object_get_ex(o, k, &v))
                        return NULL;
                o = v;
        }
        return o;
}

static const char *get_str(struct json_object *o, const char *path)
{
        struct json_object *v = get(o, path);
        return v ? json_object_get_string(v) : NULL;
}

static uint64_t cursor_seq(const char *cursor)
{
        uint64_t run, seq;
        ASSERT_OK(api_cursor_parse(cursor, &run, &seq));
        return seq;
}

TEST(daemon_info_and_introspection)
{
        Env env;
        env_new(&env);
        TestClient c;
        client_open(&env, &c);
        VarlinkReply r;
        call_ok(&env, &c, "{\"method\":\"io.gunyah.Manager.GetDaemonInfo\"}", &r);
        ASSERT_STREQ(get_str(r.parameters, "version"), GUNYAHD_VERSION);
        ASSERT_STREQ(get_str(r.parameters, "rmLink.state"), "up");
        ASSERT_TRUE(json_object_get_boolean(get(r.parameters, "rmLink.ready")));
        ASSERT_STREQ(get_str(r.parameters, "rmProfile"), "v17");
        ASSERT_TRUE(json_object_array_length(get(r.parameters, "capabilities")) >= 1);
        ASSERT_EQ(json_object_get_int64(get(r.parameters, "pool.size")), 512ll << 20);
        ASSERT_EQ(json_object_get_int64(get(r.parameters, "pool.quarantined")), 0);
        ASSERT_EQ(json_object_get_int64(get(r.parameters, "pool.quarantinedRanges")), 0);
        ASSERT_EQ(json_object_get_int64(get(r.parameters, "limits.maxMessageSize")), 1 << 20);
        varlink_reply_done(&r);
        call_ok(&env, &c,
                "{\"method\":\"org.varlink.service.GetInterfaceDescription\",\"parameters\":"
                "{\"interface\":\"io.gunyah.Manager\"}}",
                &r);
        ASSERT_STREQ(get_str(r.parameters, "description"), api_idl_manager);
        varlink_reply_done(&r);
        call_ok(&env, &c, "{\"method\":\"org.varlink.service.GetInfo\"}", &r);
        ASSERT_EQ(json_object_array_length(get(r.parameters, "interfaces")), 2);
        varlink_reply_done(&r);
        call_ok(&env, &c, "{\"method\":\"io.gunyah.Manager.ListVMs\",\"parameters\":null}", &r);
        ASSERT_EQ(json_object_array_length(get(r.parameters, "vms")), 0);
        varlink_reply_done(&r);
        call_error(&env, &c, "{\"method\":\"io.gunyah.Manager.Monitor\"}", API_ERROR_EXPECTED_MORE);
        call_error(&env, &c, "{\"method\":\"io.gunyah.Manager.ListVMs\",\"parameters\":{\"x\":1}}",
                   API_ERROR_INVALID_PARAMETER);
        test_client_done(&c);
        env_free(&env);
}

TEST(create_errors_and_image_fds)
{
        Env env;
        env_new(&env);
        TestClient c;
        client_open(&env, &c);
        VarlinkReply r;
        call_ok(&env, &c,
                "{\"method\":\"io.gunyah.Manager.CreateVM\",\"parameters\":{\"name\":\"a\","
                "\"memorySize\":67108864,\"kernel\":\"" CORE_KERNEL "\",\"cmdline\":\"quiet\"}}",
                &r);
        ASSERT_STREQ(get_str(r.parameters, "vm.name"), "a");
        ASSERT_STREQ(get_str(r.parameters, "vm.state"), "stopped");
        ASSERT_STREQ(get_str(r.parameters, "vm.kernel"), CORE_KERNEL);
        ASSERT_STREQ(get_str(r.parameters, "vm.cmdline"), "quiet");
        struct json_object *vmid = (void *)1;
        ASSERT_TRUE(json_object_object_get_ex(get(r.parameters, "vm"), "vmid", &vmid));
        ASSERT_TRUE(vmid == NULL); /* null: no VMID before the first start */
        varlink_reply_done(&r);
        call_error(&env, &c,
                   "{\"method\":\"io.gunyah.Manager.CreateVM\",\"parameters\":{\"name\":\"a\","
                   "\"memorySize\":67108864,\"kernel\":\"" CORE_KERNEL "\"}}",
                   API_ERROR_VM_EXISTS);
        static const char *const bad[] = {
                "{\"name\":\"b\",\"memorySize\":67108864,\"kernel\":\"../etc/passwd\"}",
                "{\"name\":\"b\",\"memorySize\":67108864,\"kernel\":\"/etc/passwd\"}",
                "{\"name\":\"b\",\"memorySize\":1000,\"kernel\":\"Image\"}",
                "{\"name\":\"-b\",\"memorySize\":67108864,\"kernel\":\"Image\"}",
                "{\"name\":\"b\",\"memorySize\":67108864}",
                "{\"name\":\"b\",\"memorySize\":67108864,\"kernel\":\"Image\",\"kernelFd\":0}",
                "{\"name\":\"b\",\"memorySize\":67108864,\"kernel\":\"Image\",\"vcpus\":0}",
                "{\"name\":\"b\",\"memorySize\":\"64M\",\"kernel\":\"Image\"}",
                "{\"name\":\"b\",\"memorySize\":67108864,\"kernelFd\":0}", /* no fd sent */
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char msg[512];
                snprintf(msg, sizeof(msg),
                         "{\"method\":\"io.gunyah.Manager.CreateVM\",\"parameters\":%s}", bad[i]);
                call_error(&env, &c, msg, API_ERROR_INVALID_PARAMETER);
        }
        call_error(&env, &c,
                   "{\"method\":\"io.gunyah.Manager.DescribeVM\",\"parameters\":{\"name\":\"zz\"}}",
                   API_ERROR_NO_SUCH_VM);

        /* Kernel as an fd: the image file, then a file that is no arm64 Image. */
        char img[512];
        snprintf(img, sizeof(img), "%s/%s", env.core->image_dir, CORE_KERNEL);
        int fds[2];
        fds[0] = open(img, O_RDONLY | O_CLOEXEC);
        ASSERT_OK(fds[0]);
        char junk[] = "/tmp/test-api-junk-XXXXXX";
        fds[1] = mkstemp(junk);
        ASSERT_OK(fds[1]);
        unlink(junk);
        ASSERT_EQ(write(fds[1], "not an image", 12), 12);
        for (int k = 0; k < 2; k++) {
                char msg[256];
                snprintf(msg, sizeof(msg),
                         "{\"method\":\"io.gunyah.Manager.CreateVM\",\"parameters\":{\"name\":"
                         "\"fd%d\",\"memorySize\":67108864,\"kernelFd\":0}}",
                         k);
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int))];
                } control = {};
                struct iovec iov = { .iov_base = msg, .iov_len = strlen(msg) + 1 };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                                     .msg_controllen = sizeof(control) };
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cm), &fds[k], sizeof(int));
                ASSERT_EQ(sendmsg(c.fd, &mh, MSG_NOSIGNAL), (ssize_t)iov.iov_len);
                ASSERT_EQ(test_recv_reply(env.core->event, &c, &r), 1);
                if (k == 0) {
                        ASSERT_TRUE(r.error == NULL);
                        ASSERT_STREQ(get_str(r.parameters, "vm.kernel"), "fd");
                } else {
                        ASSERT_STREQ(r.error, API_ERROR_INVALID_IMAGE);
                        ASSERT_STREQ(get_str(r.parameters, "parameter"), "kernelFd");
                }
                varlink_reply_done(&r);
                close(fds[k]);
        }
        /* The VM whose kernel came as an fd boots. */
        call_ok(&env, &c, "{\"method\":\"io.gunyah.Manager.StartVM\",\"parameters\":{\"name\":\"fd0\"}}",
                &r);
        ASSERT_STREQ(get_str(r.parameters, "stage"), "running");
        ASSERT_STREQ(get_str(r.parameters, "vm.state"), "running");
        varlink_reply_done(&r);
        call_ok(&env, &c,
                "{\"method\":\"io.gunyah.Manager.DestroyVM\",\"parameters\":{\"name\":\"fd0\"}}", &r);
        varlink_reply_done(&r);

        /* A symlink inside the image dir leading out of it: a valid Image out there, but the
         * daemon must not open it (RESOLVE_BENEATH). */
        char outside[512], link[512], cmd[1200];
        snprintf(outside, sizeof(outside), "%s/outside-Image", env.core->dir);
        snprintf(link, sizeof(link), "%s/evil", env.core->image_dir);
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", img, outside);
        ASSERT_EQ(system(cmd), 0);
        ASSERT_OK(symlink("../outside-Image", link));
        call_ok(&env, &c,
                "{\"method\":\"io.gunyah.Manager.CreateVM\",\"parameters\":{\"name\":\"evil\","
                "\"memorySize\":67108864,\"kernel\":\"evil\"}}",
                &r);
        varlink_reply_done(&r);
        call(&env, &c, "{\"method\":\"io.gunyah.Manager.StartVM\",\"parameters\":{\"name\":\"evil\"}}",
             &r);
        ASSERT_STREQ(r.error, API_ERROR_INVALID_IMAGE);
        varlink_reply_done(&r);
        call_ok(&env, &c, "{\"method\":\"io.gunyah.Manager.DescribeVM\",\"parameters\":{\"name\":\"evil\"}}",
                &r);
        ASSERT_STREQ(get_str(r.parameters, "vm.state"), "stopped");
        varlink_reply_done(&r);
        test_client_done(&c);
        core_assert_clean(env.core);
        env_free(&env);
}

typedef struct Stream {
        Env *env;
        TestClient c;
        uint64_t last;    /* seq of the last cursor seen */
        unsigned events;
        unsigned state_events;
} Stream;

/* Read Monitor replies until one for vm reaches state (or fail after the harness timeout). */
static void stream_until_state(Stream *st, const char *vm, const char *state)
{
        for (;;) {
                VarlinkReply r;
                int k = test_recv_reply(st->env->core->event, &st->c, &r);
                if (k != 1)
                        TEST_FAIL_("monitor ended (%d) before %s became %s", k, vm, state);
                ASSERT_TRUE(r.continues && !r.error);
                uint64_t seq = cursor_seq(get_str(r.parameters, "cursor"));
                struct json_object *ev = get(r.parameters, "event");
                if (ev) {
                        /* No gap, no duplicate: cursors count up by one. */
                        if (seq != st->last + 1)
                                TEST_FAIL_("cursor %" PRIu64 " after %" PRIu64, seq, st->last);
                        st->events++;
                        ASSERT_TRUE(get_str(ev, "kind") && get_str(ev, "details"));
                        ASSERT_TRUE(get_str(ev, "cause.kind"));
                }
                st->last = seq;
                bool hit = ev && get_str(ev, "vm") && strcmp(get_str(ev, "vm"), vm) == 0 &&
                           get_str(ev, "state") && strcmp(get_str(ev, "state"), state) == 0;
                varlink_reply_done(&r);
                if (hit)
                        return;
        }
}

TEST(lifecycle_progress_and_monitor)
{
        Env env;
        env_new(&env);
        TestClient c;
        client_open(&env, &c);
        Stream mon = { .env = &env };
        client_open(&env, &mon.c);
        VarlinkReply r;
        call_ok(&env, &c,
                "{\"method\":\"io.gunyah.Manager.CreateVM\",\"parameters\":{\"name\":\"web\","
                "\"memorySize\":67108864,\"vcpus\":2,\"kernel\":\"" CORE_KERNEL "\"}}",
                &r);
        varlink_reply_done(&r);

        /* Monitor: the snapshot first, with the VM and the cursor of the last event. */
        ASSERT_OK(test_send_msg(env.core->event, &mon.c,
                                "{\"method\":\"io.gunyah.Manager.Monitor\",\"more\":true}"));
        ASSERT_EQ(test_recv_reply(env.core->event, &mon.c, &r), 1);
        ASSERT_TRUE(r.continues);
        ASSERT_EQ(json_object_array_length(get(r.parameters, "snapshot")), 1);
        mon.last = cursor_seq(get_str(r.parameters, "cursor"));
        ASSERT_TRUE(mon.last >= 1);
        varlink_reply_done(&r);

        /* StartVM with more: stages in order, then "running". */
        ASSERT_OK(test_send_msg(env.core->event, &c,
                                "{\"method\":\"io.gunyah.Manager.StartVM\",\"more\":true,"
                                "\"parameters\":{\"name\":\"web\"}}"));
        unsigned n_progress = 0, n_lend = 0;
        int64_t last_step = 0;
        for (;;) {
                ASSERT_EQ(test_recv_reply(env.core->event, &c, &r), 1);
                ASSERT_TRUE(r.error == NULL);
                const char *stage = get_str(r.parameters, "stage");
                ASSERT_TRUE(stage != NULL);
                if (!r.continues) {
                        ASSERT_STREQ(stage, "running");
                        ASSERT_STREQ(get_str(r.parameters, "vm.state"), "running");
                        ASSERT_TRUE(json_object_get_int64(get(r.parameters, "vm.vmid")) > 0);
                        ASSERT_STREQ(get_str(r.parameters, "vm.bootConvention"), "v17");
                        ASSERT_TRUE(json_object_array_length(get(r.parameters, "vm.parcels")) >= 1);
                        varlink_reply_done(&r);
                        break;
                }
                n_progress++;
                int64_t step = json_object_get_int64(get(r.parameters, "step"));
                ASSERT_TRUE(step >= last_step);
                last_step = step;
                if (strcmp(stage, "lend") == 0) {
                        n_lend++;
                        ASSERT_TRUE(json_object_get_int64(get(r.parameters, "parcelSize")) > 0);
                }
                varlink_reply_done(&r);
        }
        fprintf(stderr, "StartVM: %u progress replies, %u lend\n", n_progress, n_lend);
        ASSERT_TRUE(n_progress >= 5 && n_lend >= 1);
        stream_until_state(&mon, "web", "running");

        call(&env, &c, "{\"method\":\"io.gunyah.Manager.StartVM\",\"parameters\":{\"name\":\"web\"}}",
             &r);
        ASSERT_STREQ(r.error, API_ERROR_INVALID_STATE);
        ASSERT_STREQ(get_str(r.parameters, "state"), "running");
        ASSERT_STREQ(get_str(r.parameters, "name"), "web");
        varlink_reply_done(&r);

        call_ok(&env, &c, "{\"method\":\"io.gunyah.Manager.DescribeVM\",\"parameters\":{\"name\":\"web\"}}",
                &r);
        ASSERT_STREQ(get_str(r.parameters, "vm.rmStatus"), "RUNNING");
        ASSERT_EQ(json_object_get_int64(get(r.parameters, "vm.vcpus")), 2);
        ASSERT_EQ(json_object_get_int64(get(r.parameters, "vm.memory.size")), 64 << 20);
        varlink_reply_done(&r);

        /* The monitor goes away; the VM is stopped meanwhile; resuming loses nothing. */
        uint64_t resume = mon.last;
        char cursor[API_CURSOR_MAX];
        {
                /* Recover the run id from a fresh snapshot cursor. */
                TestClient t;
                client_open(&env, &t);
                ASSERT_OK(test_send_msg(env.core->event, &t,
                                        "{\"method\":\"io.gunyah.Manager.Monitor\",\"more\":true}"));
                ASSERT_EQ(test_recv_reply(env.core->event, &t, &r), 1);
                uint64_t run, seq;
                ASSERT_OK(api_cursor_parse(get_str(r.parameters, "cursor"), &run, &seq));
                api_cursor_format(run, resume, cursor);
                varlink_reply_done(&r);
                test_client_done(&t);
        }
        test_client_done(&mon.c);
        call_ok(&env, &c,
                "{\"method\":\"io.gunyah.Manager.StopVM\",\"parameters\":{\"name\":\"web\","
                "\"force\":true}}",
                &r);
        ASSERT_STREQ(get_str(r.parameters, "vm.state"), "stopped");
        varlink_reply_done(&r);
        /* Stopping a stopped VM succeeds. */
        call_ok(&env, &c, "{\"method\":\"io.gunyah.Manager.StopVM\",\"parameters\":{\"name\":\"web\"}}",
                &r);
        varlink_reply_done(&r);

        client_open(&env, &mon.c);
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "{\"method\":\"io.gunyah.Manager.Monitor\",\"more\":true,\"parameters\":"
                 "{\"since\":\"%s\"}}", cursor);
        ASSERT_OK(test_send_msg(env.core->event, &mon.c, msg));
        mon.events = 0;
        stream_until_state(&mon, "web", "stopped");
        ASSERT_TRUE(mon.events >= 2);

        /* Cursors of another run, from the future, or malformed. */
        call_error(&env, &c,
                   "{\"method\":\"io.gunyah.Manager.Monitor\",\"more\":true,\"parameters\":"
                   "{\"since\":\"0000000000000001:1\"}}",
                   API_ERROR_CURSOR_EXPIRED);
        call_error(&env, &c,
                   "{\"method\":\"io.gunyah.Manager.Monitor\",\"more\":true,\"parameters\":"
                   "{\"since\":\"yesterday\"}}",
                   API_ERROR_INVALID_PARAMETER);

        call_ok(&env, &c, "{\"method\":\"io.gunyah.Manager.DestroyVM\",\"parameters\":{\"name\":\"web\"}}",
                &r);
        varlink_reply_done(&r);
        call_ok(&env, &c, "{\"method\":\"io.gunyah.Manager.ListVMs\"}", &r);
        ASSERT_EQ(json_object_array_length(get(r.parameters, "vms")), 0);
        varlink_reply_done(&r);
        call_error(&env, &c,
                   "{\"method\":\"io.gunyah.Manager.DestroyVM\",\"parameters\":{\"name\":\"web\"}}",
                   API_ERROR_NO_SUCH_VM);
        test_client_done(&mon.c);
        test_client_done(&c);
        core_assert_clean(env.core);
        env_free(&env);
}

/* Complete messages waiting in a client's socket (peeked: nothing is consumed). */
static unsigned queued_messages(TestClient *c)
{
        static char buf[1u << 20];
        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
        unsigned k = 0;
        for (ssize_t i = 0; i < n; i++)
                k += buf[i] == '\0';
        return k;
}

/* Read n events from a Monitor stream: cursors count up by one from *last, details in order. */
static void expect_events(Env *env, TestClient *c, uint64_t *last, unsigned n, const char *prefix,
                          unsigned first)
{
        for (unsigned i = 0; i < n; i++) {
                VarlinkReply r;
                char want[64];
                if (test_recv_reply(env->core->event, c, &r) != 1)
                        TEST_FAIL_("stream ended after %u of %u events", i, n);
                ASSERT_TRUE(r.continues && !r.error);
                uint64_t seq = cursor_seq(get_str(r.parameters, "cursor"));
                if (seq != *last + 1)
                        TEST_FAIL_("cursor %" PRIu64 " after %" PRIu64, seq, *last);
                *last = seq;
                snprintf(want, sizeof(want), "%s %u", prefix, first + i);
                ASSERT_STREQ(get_str(r.parameters, "event.details"), want);
                varlink_reply_done(&r);
        }
}

/* The Monitor fan-out sends a few events per loop turn at a priority below the API's: a
 * call that arrives during a burst is answered before the burst has reached every
 * subscriber, and every subscriber still gets every event once, in order, also when a burst
 * is larger than the backlog the fan-out lets a subscriber fall behind. */
TEST(monitor_fanout_yields_to_calls)
{
        enum { SUBS = 20, BURST = 100, BIG = 1300 };
        Env env;
        env_new(&env);
        static TestClient subs[SUBS];
        uint64_t last[SUBS];
        TestClient c;
        VarlinkReply r;
        EventLog *log = manager_get_event_log(env.core->m);

        for (unsigned i = 0; i < SUBS; i++) {
                client_open(&env, &subs[i]);
                ASSERT_OK(test_send_msg(env.core->event, &subs[i],
                                        "{\"method\":\"io.gunyah.Manager.Monitor\",\"more\":true}"));
                ASSERT_EQ(test_recv_reply(env.core->event, &subs[i], &r), 1);
                ASSERT_TRUE(get(r.parameters, "snapshot") != NULL);
                last[i] = cursor_seq(get_str(r.parameters, "cursor"));
                varlink_reply_done(&r);
        }
        client_open(&env, &c);

        /* a burst appended in one loop turn (as by a storm of RM notifications) */
        for (unsigned k = 0; k < BURST; k++)
                ASSERT_TRUE(event_log_append(log, EVENT_DAEMON, NULL, NULL, NULL, "burst %u", k) > 0);
        call_ok(&env, &c, "{\"method\":\"io.gunyah.Manager.ListVMs\"}", &r);
        varlink_reply_done(&r);
        unsigned delivered = 0;
        for (unsigned i = 0; i < SUBS; i++)
                delivered += queued_messages(&subs[i]);
        if (delivered >= SUBS * BURST / 2)
                TEST_FAIL_("ListVMs waited for %u of %u event sends", delivered, SUBS * BURST);
        for (unsigned i = 0; i < SUBS; i++)
                expect_events(&env, &subs[i], &last[i], BURST, "burst", 0);

        /* more than the backlog at once: caught up from the append, then the rest */
        for (unsigned k = 0; k < BIG; k++)
                ASSERT_TRUE(event_log_append(log, EVENT_DAEMON, NULL, NULL, NULL, "big %u", k) > 0);
        for (unsigned i = 0; i < SUBS; i++)
                expect_events(&env, &subs[i], &last[i], BIG, "big", 0);

        /* a subscriber that leaves mid-fan-out is dropped without harm to the others */
        for (unsigned k = 0; k < BURST; k++)
                ASSERT_TRUE(event_log_append(log, EVENT_DAEMON, NULL, NULL, NULL, "late %u", k) > 0);
        test_client_done(&subs[0]);
        for (unsigned i = 1; i < SUBS; i++)
                expect_events(&env, &subs[i], &last[i], BURST, "late", 0);
        for (unsigned i = 1; i < SUBS; i++)
                test_client_done(&subs[i]);
        test_client_done(&c);
        env_free(&env);
}

TEST(hundred_clients)
{
        Env env;
        env_new(&env);
        enum { N = 100 };
        static TestClient cs[N];
        for (int i = 0; i < N; i++)
                client_open(&env, &cs[i]);
        for (int i = 0; i < N; i++)
                ASSERT_OK(test_send_msg(env.core->event, &cs[i],
                                        "{\"method\":\"io.gunyah.Manager.ListVMs\"}"));
        for (int i = 0; i < N; i++) {
                VarlinkReply r;
                ASSERT_EQ(test_recv_reply(env.core->event, &cs[i], &r), 1);
                ASSERT_TRUE(r.error == NULL);
                varlink_reply_done(&r);
        }
        ASSERT_EQ(api_server_n_connections(env.s), N);
        for (int i = 0; i < N; i++)
                test_client_done(&cs[i]);
        env_free(&env);
}

TEST_MAIN()
