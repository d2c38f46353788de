/* SPDX-License-Identifier: MIT */
/*
 * libgunyahctl against a small scripted Varlink server in this process (a thread on a Unix
 * socket in a temp dir): address resolution, framing split across writes, error names and
 * parameters, fd passing, StartVM progress, timeouts and reconnects, the Monitor iterator
 * with resume, malformed replies. The server side parses with json-c on its own and never
 * uses the library under test.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "gunyahctl.h"
#include "test.h"

typedef struct Server Server;
typedef void (*ScriptFn)(Server *s);

struct Server {
        char dir[64];
        char path[128];
        int listen_fd;
        pthread_t thread;
        ScriptFn script;
        /* the connection being served, and bytes read past the last message */
        int conn;
        char buf[65536];
        size_t len;
        /* the last call received */
        struct json_object *call;
        int fds[8];
        size_t n_fds;
        int sync[2]; /* the client tells the server to go on */
};

static void *server_main(void *arg)
{
        Server *s = arg;
        s->script(s);
        return NULL;
}

static void server_start(Server *s, ScriptFn script)
{
        memset(s, 0, sizeof(*s));
        s->conn = -1;
        strcpy(s->dir, "/tmp/test-client-lib-XXXXXX");
        ASSERT_TRUE(mkdtemp(s->dir));
        snprintf(s->path, sizeof(s->path), "%s/sock", s->dir);
        s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_OK(s->listen_fd);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, s->path);
        ASSERT_OK(bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)));
        ASSERT_OK(listen(s->listen_fd, 16));
        s->script = script;
        ASSERT_OK(pipe2(s->sync, O_CLOEXEC));
        ASSERT_EQ(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(Server *s)
{
        ASSERT_EQ(pthread_join(s->thread, NULL), 0);
        if (s->conn >= 0)
                close(s->conn);
        close(s->listen_fd);
        json_object_put(s->call);
        close(s->sync[0]);
        close(s->sync[1]);
        unlink(s->path);
        rmdir(s->dir);
}

/* Server side: accept the next connection (waiting at most 30 s). */
static void srv_accept(Server *s)
{
        struct pollfd p = { .fd = s->listen_fd, .events = POLLIN };
        ASSERT_EQ(poll(&p, 1, 30000), 1);
        if (s->conn >= 0)
                close(s->conn);
        s->conn = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        ASSERT_OK(s->conn);
        s->len = 0;
}

/* Read one NUL-terminated call; fds that arrive with it are collected. Returns false on
 * EOF. */
static bool srv_recv(Server *s)
{
        for (size_t i = 0; i < s->n_fds; i++)
                close(s->fds[i]);
        s->n_fds = 0;
        for (;;) {
                char *nul = memchr(s->buf, 0, s->len);
                if (nul) {
                        size_t n = (size_t)(nul - s->buf);
                        json_object_put(s->call);
                        s->call = json_tokener_parse(s->buf);
                        ASSERT_TRUE(s->call);
                        memmove(s->buf, nul + 1, s->len - n - 1);
                        s->len -= n + 1;
                        return true;
                }
                ASSERT_TRUE(s->len < sizeof(s->buf));
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int) * 8)];
                } control;
                struct iovec iov = { .iov_base = s->buf + s->len,
                                     .iov_len = sizeof(s->buf) - s->len };
                struct msghdr mh = { .msg_iov = &iov,
                                     .msg_iovlen = 1,
                                     .msg_control = control.buf,
                                     .msg_controllen = sizeof(control.buf) };
                ssize_t n = recvmsg(s->conn, &mh, MSG_CMSG_CLOEXEC);
                ASSERT_OK(n);
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                                continue;
                        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        ASSERT_TRUE(s->n_fds + k <= 8);
                        memcpy(s->fds + s->n_fds, CMSG_DATA(c), k * sizeof(int));
                        s->n_fds += k;
                }
                if (n == 0)
                        return false;
                s->len += (size_t)n;
        }
}

static void srv_write(Server *s, const void *p, size_t n)
{
        while (n > 0) {
                ssize_t k = send(s->conn, p, n, MSG_NOSIGNAL);
                ASSERT_TRUE(k > 0);
                p = (const char *)p + k;
                n -= (size_t)k;
        }
}

/* Send one message (the NUL is added). */
static void srv_send(Server *s, const char *json)
{
        srv_write(s, json, strlen(json) + 1);
}

static const char *call_method(Server *s)
{
        struct json_object *m;
        ASSERT_TRUE(json_object_object_get_ex(s->call, "method", &m));
        return json_object_get_string(m);
}

static struct json_object *call_param(Server *s, const char *key)
{
        struct json_object *p, *v;
        if (!json_object_object_get_ex(s->call, "parameters", &p) ||
            !json_object_object_get_ex(p, key, &v))
                return NULL;
        return v;
}

static bool call_flag(Server *s, const char *key)
{
        struct json_object *v;
        return json_object_object_get_ex(s->call, key, &v) && json_object_get_boolean(v);
}

static gunyahctl *client(Server *s)
{
        gunyahctl *h = NULL;
        char addr[160];
        snprintf(addr, sizeof(addr), "unix:%s", s->path);
        ASSERT_OK(gunyahctl_connect(&h, addr));
        return h;
}

/* ---- address resolution ---- */

static void script_accept_three(Server *s)
{
        for (int i = 0; i < 3; i++) {
                srv_accept(s);
                ASSERT_TRUE(!srv_recv(s)); /* the client closes without a call */
        }
}

TEST(address)
{
        Server s;
        server_start(&s, script_accept_three);
        gunyahctl *h = NULL;
        /* plain path */
        ASSERT_OK(gunyahctl_connect(&h, s.path));
        ASSERT_STREQ(gunyahctl_get_address(h), s.path);
        int fd = gunyahctl_get_fd(h);
        ASSERT_OK(fd);
        ASSERT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        h = gunyahctl_disconnect(h);
        ASSERT_TRUE(h == NULL);
        /* unix: prefix */
        h = client(&s);
        ASSERT_STREQ(gunyahctl_get_address(h), s.path);
        gunyahctl_disconnect(h);
        /* the environment when no address is given */
        ASSERT_OK(setenv(GUNYAHCTL_ADDRESS_ENV, s.path, 1));
        ASSERT_OK(gunyahctl_connect(&h, NULL));
        ASSERT_STREQ(gunyahctl_get_address(h), s.path);
        gunyahctl_disconnect(h);
        ASSERT_OK(unsetenv(GUNYAHCTL_ADDRESS_ENV));
        server_stop(&s);

        /* the default, nothing listening there in a test; and the errors */
        h = (gunyahctl *)&s; /* untouched on failure */
        ASSERT_EQ(gunyahctl_connect(&h, "/nonexistent/gunyahd.sock"), -ENOENT);
        ASSERT_TRUE(h == (gunyahctl *)&s);
        char longpath[200];
        memset(longpath, 'a', sizeof(longpath) - 1);
        longpath[sizeof(longpath) - 1] = 0;
        ASSERT_EQ(gunyahctl_connect(&h, longpath), -EINVAL);
        ASSERT_EQ(gunyahctl_connect(&h, "unix:"), -EINVAL);
        ASSERT_EQ(gunyahctl_connect(NULL, s.path), -EINVAL);
        ASSERT_TRUE(gunyahctl_disconnect(NULL) == NULL);
}

/* ---- plain calls, framing, errors ---- */

static void script_calls(Server *s)
{
        srv_accept(s);
        /* 1: ListVMs, reply split in three writes */
        ASSERT_TRUE(srv_recv(s));
        ASSERT_STREQ(call_method(s), "io.gunyah.Manager.ListVMs");
        ASSERT_TRUE(!call_flag(s, "more") && !call_flag(s, "oneway"));
        const char *reply = "{\"parameters\":{\"vms\":[{\"name\":\"a\",\"state\":\"defined\"}]}}";
        srv_write(s, reply, 7);
        usleep(20000);
        srv_write(s, reply + 7, 20);
        usleep(20000);
        srv_write(s, reply + 27, strlen(reply) + 1 - 27);
        /* 2: DescribeVM -> NoSuchVM */
        ASSERT_TRUE(srv_recv(s));
        ASSERT_STREQ(call_method(s), "io.gunyah.Manager.DescribeVM");
        ASSERT_STREQ(json_object_get_string(call_param(s, "name")), "ghost");
        srv_send(s, "{\"error\":\"io.gunyah.Manager.NoSuchVM\","
                    "\"parameters\":{\"name\":\"ghost\"}}");
        /* 3: GetDaemonInfo, no parameters at all in the reply */
        ASSERT_TRUE(srv_recv(s));
        ASSERT_STREQ(call_method(s), "io.gunyah.Manager.GetDaemonInfo");
        srv_send(s, "{}");
        /* 4: StopVM -> InvalidState, with an int parameter to read as one */
        ASSERT_TRUE(srv_recv(s));
        ASSERT_STREQ(call_method(s), "io.gunyah.Manager.StopVM");
        ASSERT_TRUE(json_object_get_boolean(call_param(s, "force")));
        ASSERT_EQ(json_object_get_int(call_param(s, "timeout")), 7);
        srv_send(s, "{\"error\":\"io.gunyah.Manager.InvalidState\",\"parameters\":"
                    "{\"name\":\"a\",\"state\":\"defined\",\"n\":3}}");
        /* 5: an error name nobody knows */
        ASSERT_TRUE(srv_recv(s));
        ASSERT_STREQ(call_method(s), "org.example.Other.Method");
        ASSERT_EQ(json_object_get_int(call_param(s, "x")), 1);
        srv_send(s, "{\"error\":\"org.example.Other.Weird\"}");
        /* 6: DestroyVM, answered together with the reply to the next call (7) in one write:
         * the client must keep the second message buffered for the next call. */
        ASSERT_TRUE(srv_recv(s));
        ASSERT_STREQ(call_method(s), "io.gunyah.Manager.DestroyVM");
        static const char two[] = "{\"parameters\":{}}\0{\"parameters\":{\"vms\":[]}}";
        srv_write(s, two, sizeof(two));
        ASSERT_TRUE(srv_recv(s));
        ASSERT_STREQ(call_method(s), "io.gunyah.Manager.ListVMs");
        /* 8: StopVM without force/timeout sends neither */
        ASSERT_TRUE(srv_recv(s));
        ASSERT_TRUE(call_param(s, "force") == NULL && call_param(s, "timeout") == NULL);
        srv_send(s, "{\"parameters\":{\"vm\":{\"name\":\"a\",\"state\":\"stopped\"}}}");
        ASSERT_TRUE(!srv_recv(s));
}

TEST(calls_and_errors)
{
        Server s;
        server_start(&s, script_calls);
        gunyahctl *h = client(&s);
        char *reply = NULL;

        ASSERT_OK(gunyahctl_list_vms(h, &reply));
        ASSERT_STREQ(reply, "{\"vms\":[{\"name\":\"a\",\"state\":\"defined\"}]}");
        ASSERT_TRUE(gunyahctl_error_name(h) == NULL);
        free(reply);

        reply = (char *)"untouched";
        ASSERT_EQ(gunyahctl_describe_vm(h, "ghost", &reply), -ENOENT);
        ASSERT_STREQ(reply, "untouched");
        ASSERT_STREQ(gunyahctl_error_name(h), "io.gunyah.Manager.NoSuchVM");
        ASSERT_STREQ(gunyahctl_error_parameters_json(h), "{\"name\":\"ghost\"}");
        const char *str;
        ASSERT_OK(gunyahctl_error_get_string(h, "name", &str));
        ASSERT_STREQ(str, "ghost");
        int64_t v;
        ASSERT_EQ(gunyahctl_error_get_int(h, "name", &v), -EMEDIUMTYPE);
        ASSERT_EQ(gunyahctl_error_get_string(h, "missing", &str), -ENOENT);

        ASSERT_OK(gunyahctl_get_daemon_info(h, &reply));
        ASSERT_STREQ(reply, "{}");
        free(reply);
        /* a success clears the error */
        ASSERT_TRUE(gunyahctl_error_name(h) == NULL);
        ASSERT_TRUE(gunyahctl_error_parameters_json(h) == NULL);
        ASSERT_EQ(gunyahctl_error_get_string(h, "name", &str), -ENODATA);

        ASSERT_EQ(gunyahctl_stop_vm(h, "a", true, 7, NULL), -EBUSY);
        ASSERT_STREQ(gunyahctl_error_name(h), "io.gunyah.Manager.InvalidState");
        ASSERT_OK(gunyahctl_error_get_string(h, "state", &str));
        ASSERT_STREQ(str, "defined");
        ASSERT_OK(gunyahctl_error_get_int(h, "n", &v));
        ASSERT_EQ(v, 3);

        ASSERT_EQ(gunyahctl_call(h, "org.example.Other.Method", "{\"x\":1}", NULL, 0, NULL, NULL,
                                 &reply),
                  -EREMOTE);
        ASSERT_STREQ(gunyahctl_error_name(h), "org.example.Other.Weird");
        ASSERT_STREQ(gunyahctl_error_parameters_json(h), "{}");

        ASSERT_OK(gunyahctl_destroy_vm(h, "a", NULL));
        ASSERT_OK(gunyahctl_call(h, "io.gunyah.Manager.ListVMs", NULL, NULL, 0, NULL, NULL,
                                 &reply));
        ASSERT_STREQ(reply, "{\"vms\":[]}");
        free(reply);
        ASSERT_OK(gunyahctl_stop_vm(h, "a", false, 0, &reply));
        ASSERT_STREQ(reply, "{\"vm\":{\"name\":\"a\",\"state\":\"stopped\"}}");
        free(reply);

        /* Bad arguments are refused before anything is sent. */
        ASSERT_EQ(gunyahctl_call(h, "nodot", NULL, NULL, 0, NULL, NULL, NULL), -EINVAL);
        ASSERT_EQ(gunyahctl_call(h, "a.b.C", "[1]", NULL, 0, NULL, NULL, NULL), -EINVAL);
        ASSERT_EQ(gunyahctl_call(h, "a.b.C", "{bad", NULL, 0, NULL, NULL, NULL), -EINVAL);
        ASSERT_EQ(gunyahctl_call(h, "a.b.C", "{} x", NULL, 0, NULL, NULL, NULL), -EINVAL);
        ASSERT_EQ(gunyahctl_call(h, "a.b.C", "{}{}", NULL, 0, NULL, NULL, NULL), -EINVAL);
        ASSERT_EQ(gunyahctl_call(h, "a.b.C", "null", NULL, 0, NULL, NULL, NULL), -EINVAL);
        ASSERT_EQ(gunyahctl_call(h, "a.b.C", "{\"a\":1,}", NULL, 0, NULL, NULL, NULL), -EINVAL);
        int fds[9] = { 0 };
        ASSERT_EQ(gunyahctl_call(h, "a.b.C", NULL, fds, 9, NULL, NULL, NULL), -EINVAL);
        ASSERT_EQ(gunyahctl_call(h, "a.b.C", NULL, NULL, 1, NULL, NULL, NULL), -EINVAL);
        ASSERT_EQ(gunyahctl_describe_vm(h, NULL, NULL), -EINVAL);
        ASSERT_EQ(gunyahctl_set_timeout(h, 0), -EINVAL);
        ASSERT_EQ(gunyahctl_list_vms(NULL, NULL), -EINVAL);
        gunyahctl_disconnect(h);
        server_stop(&s);
}

/* ---- CreateVM and fd passing ---- */

static void script_create(Server *s)
{
        srv_accept(s);
        /* kernel as fd, initrd as a path */
        ASSERT_TRUE(srv_recv(s));
        ASSERT_STREQ(call_method(s), "io.gunyah.Manager.CreateVM");
        ASSERT_STREQ(json_object_get_string(call_param(s, "name")), "vm1");
        ASSERT_EQ(json_object_get_int64(call_param(s, "memorySize")), 256ll << 20);
        ASSERT_EQ(json_object_get_int(call_param(s, "vcpus")), 2);
        ASSERT_EQ(json_object_get_int(call_param(s, "kernelFd")), 0);
        ASSERT_TRUE(call_param(s, "kernel") == NULL);
        ASSERT_STREQ(json_object_get_string(call_param(s, "initrd")), "images/initrd");
        ASSERT_TRUE(call_param(s, "initrdFd") == NULL);
        ASSERT_STREQ(json_object_get_string(call_param(s, "cmdline")), "console=hvc0");
        ASSERT_TRUE(json_object_get_boolean(call_param(s, "demandPaging")));
        ASSERT_TRUE(call_param(s, "transient") == NULL);
        ASSERT_TRUE(call_param(s, "memoryBase") == NULL);
        ASSERT_EQ(s->n_fds, 1);
        char got[16] = { 0 };
        ASSERT_EQ(pread(s->fds[0], got, sizeof(got), 0), 8);
        ASSERT_STREQ(got, "KERNEL!!");
        srv_send(s, "{\"parameters\":{\"vm\":{\"name\":\"vm1\"}}}");
        /* both as fds, plus transient and memoryBase */
        ASSERT_TRUE(srv_recv(s));
        ASSERT_EQ(json_object_get_int(call_param(s, "kernelFd")), 0);
        ASSERT_EQ(json_object_get_int(call_param(s, "initrdFd")), 1);
        ASSERT_TRUE(json_object_get_boolean(call_param(s, "transient")));
        ASSERT_EQ(json_object_get_int64(call_param(s, "memoryBase")), 0x40000000);
        ASSERT_TRUE(call_param(s, "vcpus") == NULL);
        ASSERT_EQ(s->n_fds, 2);
        memset(got, 0, sizeof(got));
        ASSERT_EQ(pread(s->fds[1], got, sizeof(got), 0), 6);
        ASSERT_STREQ(got, "INITRD");
        srv_send(s, "{\"error\":\"io.gunyah.Manager.InvalidImage\",\"parameters\":"
                    "{\"parameter\":\"kernel\",\"reason\":\"no arm64 Image header\"}}");
        /* kernel path only */
        ASSERT_TRUE(srv_recv(s));
        ASSERT_STREQ(json_object_get_string(call_param(s, "kernel")), "Image");
        ASSERT_EQ(s->n_fds, 0);
        srv_send(s, "{\"error\":\"io.gunyah.Manager.VMExists\",\"parameters\":{\"name\":\"vm1\"}}");
        ASSERT_TRUE(!srv_recv(s));
        for (size_t i = 0; i < s->n_fds; i++)
                close(s->fds[i]);
}

static int memfd_with(const char *name, const char *content)
{
        int fd = memfd_create(name, MFD_CLOEXEC);
        ASSERT_OK(fd);
        ASSERT_EQ(write(fd, content, strlen(content)), (ssize_t)strlen(content));
        return fd;
}

TEST(create_and_fd_passing)
{
        Server s;
        server_start(&s, script_create);
        gunyahctl *h = client(&s);
        int kfd = memfd_with("kernel", "KERNEL!!");
        int ifd = memfd_with("initrd", "INITRD");

        struct gunyahctl_vm_spec spec;
        gunyahctl_vm_spec_init(&spec);
        ASSERT_EQ(spec.kernel_fd, -1);
        ASSERT_EQ(spec.initrd_fd, -1);
        spec.name = "vm1";
        spec.vcpus = 2;
        spec.memory_bytes = 256u << 20;
        spec.kernel_fd = kfd;
        spec.initrd_path = "images/initrd";
        spec.cmdline = "console=hvc0";
        spec.demand_paging = true;
        char *reply = NULL;
        ASSERT_OK(gunyahctl_create_vm(h, &spec, &reply));
        ASSERT_STREQ(reply, "{\"vm\":{\"name\":\"vm1\"}}");
        free(reply);
        /* the caller keeps its fds */
        ASSERT_OK(fcntl(kfd, F_GETFD));

        gunyahctl_vm_spec_init(&spec);
        spec.name = "vm1";
        spec.memory_bytes = 64u << 20;
        spec.memory_base = 0x40000000;
        spec.kernel_fd = kfd;
        spec.initrd_fd = ifd;
        spec.transient = true;
        ASSERT_EQ(gunyahctl_create_vm(h, &spec, NULL), -ENOEXEC);
        const char *str;
        ASSERT_OK(gunyahctl_error_get_string(h, "reason", &str));
        ASSERT_STREQ(str, "no arm64 Image header");

        gunyahctl_vm_spec_init(&spec);
        spec.name = "vm1";
        spec.memory_bytes = 64u << 20;
        spec.kernel_path = "Image";
        ASSERT_EQ(gunyahctl_create_vm(h, &spec, NULL), -EEXIST);
        ASSERT_STREQ(gunyahctl_error_name(h), "io.gunyah.Manager.VMExists");

        /* incomplete specs never reach the daemon */
        spec.kernel_fd = kfd; /* both forms */
        ASSERT_EQ(gunyahctl_create_vm(h, &spec, NULL), -EINVAL);
        gunyahctl_vm_spec_init(&spec);
        spec.name = "x";
        spec.memory_bytes = 1 << 20;
        ASSERT_EQ(gunyahctl_create_vm(h, &spec, NULL), -EINVAL); /* no kernel */
        spec.kernel_path = "Image";
        spec.memory_bytes = 0;
        ASSERT_EQ(gunyahctl_create_vm(h, &spec, NULL), -EINVAL); /* no memory */
        spec.memory_bytes = 1 << 20;
        spec.struct_size = 8;
        ASSERT_EQ(gunyahctl_create_vm(h, &spec, NULL), -EINVAL); /* not initialised */
        gunyahctl_disconnect(h);
        server_stop(&s);
        close(kfd);
        close(ifd);
}

/* ---- StartVM progress, callbacks stopping a stream, timeouts, reconnects ---- */

static void script_start(Server *s)
{
        srv_accept(s);
        ASSERT_TRUE(srv_recv(s));
        ASSERT_STREQ(call_method(s), "io.gunyah.Manager.StartVM");
        ASSERT_TRUE(call_flag(s, "more"));
        srv_send(s, "{\"parameters\":{\"stage\":\"allocate\"},\"continues\":true}");
        srv_send(s, "{\"parameters\":{\"stage\":\"lend\",\"parcelIndex\":0,\"parcelCount\":2},"
                    "\"continues\":true}");
        srv_send(s, "{\"parameters\":{\"stage\":\"lend\",\"parcelIndex\":1,\"parcelCount\":2},"
                    "\"continues\":true}");
        srv_send(s, "{\"parameters\":{\"stage\":\"running\",\"vm\":{\"state\":\"running\"}}}");
        /* without a progress callback: no "more" */
        ASSERT_TRUE(srv_recv(s));
        ASSERT_TRUE(!call_flag(s, "more"));
        srv_send(s, "{\"parameters\":{\"stage\":\"running\"}}");
        /* a callback that stops after the first reply: the client hangs up */
        ASSERT_TRUE(srv_recv(s));
        srv_send(s, "{\"parameters\":{\"stage\":\"allocate\"},\"continues\":true}");
        ASSERT_TRUE(!srv_recv(s));
        /* reconnect; then a call we never answer: the client times out and hangs up */
        srv_accept(s);
        ASSERT_TRUE(srv_recv(s));
        ASSERT_STREQ(call_method(s), "io.gunyah.Manager.ListVMs");
        ASSERT_TRUE(!srv_recv(s));
        /* reconnect; a "continues" reply to a call without "more": protocol error */
        srv_accept(s);
        ASSERT_TRUE(srv_recv(s));
        srv_send(s, "{\"parameters\":{},\"continues\":true}");
        ASSERT_TRUE(!srv_recv(s));
        /* reconnect; not JSON */
        srv_accept(s);
        ASSERT_TRUE(srv_recv(s));
        srv_send(s, "{\"parameters\":nope}");
        ASSERT_TRUE(!srv_recv(s));
        /* reconnect; hang up mid-reply */
        srv_accept(s);
        ASSERT_TRUE(srv_recv(s));
        srv_write(s, "{\"param", 7);
        close(s->conn);
        s->conn = -1;
        /* reconnect; a normal call still works afterwards */
        srv_accept(s);
        ASSERT_TRUE(srv_recv(s));
        srv_send(s, "{\"parameters\":{\"vms\":[]}}");
        ASSERT_TRUE(!srv_recv(s));
}

typedef struct Seen {
        char stages[8][32];
        unsigned n;
        int stop_with;
} Seen;

static int on_progress(const char *stage, const char *json, void *userdata)
{
        Seen *seen = userdata;
        ASSERT_TRUE(seen->n < 8);
        ASSERT_TRUE(strstr(json, stage) != NULL);
        snprintf(seen->stages[seen->n++], sizeof(seen->stages[0]), "%s", stage);
        return seen->stop_with;
}

TEST(start_progress_timeouts_reconnect)
{
        Server s;
        server_start(&s, script_start);
        gunyahctl *h = client(&s);
        Seen seen = {};
        char *reply = NULL;
        ASSERT_OK(gunyahctl_start_vm(h, "a", on_progress, &seen, &reply));
        ASSERT_EQ(seen.n, 3);
        ASSERT_STREQ(seen.stages[0], "allocate");
        ASSERT_STREQ(seen.stages[1], "lend");
        ASSERT_STREQ(seen.stages[2], "lend");
        ASSERT_STREQ(reply, "{\"stage\":\"running\",\"vm\":{\"state\":\"running\"}}");
        free(reply);
        ASSERT_OK(gunyahctl_start_vm(h, "a", NULL, NULL, NULL));

        seen = (Seen){ .stop_with = -ECANCELED };
        ASSERT_EQ(gunyahctl_start_vm(h, "a", on_progress, &seen, NULL), -ECANCELED);
        ASSERT_EQ(seen.n, 1);
        ASSERT_EQ(gunyahctl_get_fd(h), -ENOTCONN);

        ASSERT_OK(gunyahctl_set_timeout(h, 300000));
        ASSERT_EQ(gunyahctl_list_vms(h, NULL), -ETIMEDOUT);
        ASSERT_EQ(gunyahctl_get_fd(h), -ENOTCONN);
        ASSERT_OK(gunyahctl_set_timeout(h, 30000000));
        ASSERT_EQ(gunyahctl_list_vms(h, NULL), -EPROTO);
        ASSERT_EQ(gunyahctl_list_vms(h, NULL), -EBADMSG);
        ASSERT_TRUE(gunyahctl_error_name(h) == NULL);
        ASSERT_EQ(gunyahctl_list_vms(h, NULL), -ECONNRESET);
        ASSERT_OK(gunyahctl_list_vms(h, &reply));
        ASSERT_STREQ(reply, "{\"vms\":[]}");
        free(reply);
        gunyahctl_disconnect(h);
        server_stop(&s);
}

/* ---- Monitor ---- */

static void script_monitor(Server *s)
{
        srv_accept(s);
        ASSERT_TRUE(srv_recv(s));
        ASSERT_STREQ(call_method(s), "io.gunyah.Manager.Monitor");
        ASSERT_TRUE(call_flag(s, "more"));
        ASSERT_TRUE(call_param(s, "since") == NULL);
        srv_send(s, "{\"parameters\":{\"cursor\":\"00000000000000aa:4\",\"snapshot\":[]},"
                    "\"continues\":true}");
        srv_send(s, "{\"parameters\":{\"cursor\":\"00000000000000aa:5\",\"event\":"
                    "{\"kind\":\"vm-created\",\"vm\":\"a\"}},\"continues\":true}");
        /* the client reads both, waits with timeout 0, then we drop the connection */
        char c;
        ASSERT_EQ(read(s->sync[0], &c, 1), 1);
        close(s->conn);
        s->conn = -1;
        /* resume */
        srv_accept(s);
        ASSERT_TRUE(srv_recv(s));
        ASSERT_STREQ(json_object_get_string(call_param(s, "since")), "00000000000000aa:5");
        srv_send(s, "{\"parameters\":{\"cursor\":\"00000000000000aa:6\",\"event\":"
                    "{\"kind\":\"vm-state\",\"vm\":\"a\"}},\"continues\":true}");
        srv_send(s, "{\"parameters\":{\"cursor\":\"00000000000000aa:7\",\"event\":"
                    "{\"kind\":\"daemon\"}}}");
        /* a stale cursor */
        ASSERT_TRUE(srv_recv(s));
        ASSERT_STREQ(json_object_get_string(call_param(s, "since")), "00000000000000aa:1");
        srv_send(s, "{\"error\":\"io.gunyah.Manager.CursorExpired\",\"parameters\":"
                    "{\"cursor\":\"00000000000000aa:1\",\"oldest\":\"00000000000000aa:3\"}}");
        /* the client ends a stream on its own: it hangs up */
        ASSERT_TRUE(srv_recv(s));
        srv_send(s, "{\"parameters\":{\"cursor\":\"00000000000000aa:7\",\"snapshot\":[]},"
                    "\"continues\":true}");
        ASSERT_TRUE(!srv_recv(s));
        srv_accept(s);
        ASSERT_TRUE(srv_recv(s));
        ASSERT_STREQ(call_method(s), "io.gunyah.Manager.ListVMs");
        srv_send(s, "{\"parameters\":{\"vms\":[]}}");
        ASSERT_TRUE(!srv_recv(s));
}

TEST(monitor_resume)
{
        Server s;
        server_start(&s, script_monitor);
        gunyahctl *h = client(&s);
        char *ev = NULL;
        ASSERT_TRUE(gunyahctl_monitor_cursor(h) == NULL);
        ASSERT_EQ(gunyahctl_monitor_next(h, 0, &ev), -ENOTCONN);
        ASSERT_OK(gunyahctl_monitor_begin(h, NULL));
        ASSERT_EQ(gunyahctl_monitor_begin(h, NULL), -EBUSY);
        ASSERT_EQ(gunyahctl_list_vms(h, NULL), -EBUSY);
        ASSERT_EQ(gunyahctl_monitor_next(h, GUNYAHCTL_TIMEOUT_INFINITY, &ev), 1);
        ASSERT_TRUE(strstr(ev, "\"snapshot\":[]"));
        free(ev);
        ASSERT_STREQ(gunyahctl_monitor_cursor(h), "00000000000000aa:4");
        ASSERT_EQ(gunyahctl_monitor_next(h, 10000000, &ev), 1);
        ASSERT_TRUE(strstr(ev, "vm-created"));
        free(ev);
        ASSERT_STREQ(gunyahctl_monitor_cursor(h), "00000000000000aa:5");
        ASSERT_EQ(gunyahctl_monitor_next(h, 0, &ev), -EAGAIN);
        ASSERT_EQ(write(s.sync[1], "x", 1), 1);
        ASSERT_EQ(gunyahctl_monitor_next(h, 10000000, &ev), -ECONNRESET);
        /* the cursor survives the failure; resume from it (the handle reconnects) */
        ASSERT_STREQ(gunyahctl_monitor_cursor(h), "00000000000000aa:5");
        ASSERT_OK(gunyahctl_monitor_begin(h, gunyahctl_monitor_cursor(h)));
        ASSERT_EQ(gunyahctl_monitor_next(h, 10000000, &ev), 1);
        ASSERT_TRUE(strstr(ev, "vm-state"));
        free(ev);
        /* the last reply without "continues" ends the stream */
        ASSERT_EQ(gunyahctl_monitor_next(h, 10000000, &ev), 0);
        ASSERT_TRUE(strstr(ev, "\"daemon\""));
        free(ev);
        ASSERT_STREQ(gunyahctl_monitor_cursor(h), "00000000000000aa:7");
        ASSERT_EQ(gunyahctl_monitor_next(h, 0, &ev), -ENOTCONN);

        ASSERT_OK(gunyahctl_monitor_begin(h, "00000000000000aa:1"));
        ASSERT_EQ(gunyahctl_monitor_next(h, 10000000, &ev), -ESTALE);
        ASSERT_STREQ(gunyahctl_error_name(h), "io.gunyah.Manager.CursorExpired");
        const char *oldest;
        ASSERT_OK(gunyahctl_error_get_string(h, "oldest", &oldest));
        ASSERT_STREQ(oldest, "00000000000000aa:3");
        /* an error ends the stream but keeps the connection */
        ASSERT_OK(gunyahctl_get_fd(h));

        ASSERT_OK(gunyahctl_monitor_begin(h, NULL));
        ASSERT_EQ(gunyahctl_monitor_next(h, 10000000, &ev), 1);
        free(ev);
        gunyahctl_monitor_end(h);
        ASSERT_EQ(gunyahctl_get_fd(h), -ENOTCONN);
        gunyahctl_monitor_end(h); /* no-op */
        gunyahctl_monitor_end(NULL);
        ASSERT_OK(gunyahctl_list_vms(h, NULL));
        gunyahctl_disconnect(h);
        server_stop(&s);
}

/* ---- a peer that hangs up at once: no SIGPIPE, a clean error ---- */

static void script_hangup(Server *s)
{
        srv_accept(s);
        close(s->conn);
        s->conn = -1;
}

TEST(hangup_no_sigpipe)
{
        /* SIGPIPE stays at its default (fatal) action: the library must not raise it. */
        signal(SIGPIPE, SIG_DFL);
        Server s;
        server_start(&s, script_hangup);
        gunyahctl *h = client(&s);
        server_stop(&s); /* the server closed its end and its listener */
        /* a large call so that the write itself meets the closed peer */
        size_t n = 1 << 20;
        char *big = malloc(n + 32);
        ASSERT_TRUE(big);
        memcpy(big, "{\"k\":\"", 6);
        memset(big + 6, 'x', n);
        memcpy(big + 6 + n, "\"}", 3);
        int r = gunyahctl_call(h, "a.b.C", big, NULL, 0, NULL, NULL, NULL);
        ASSERT_TRUE(r == -ECONNRESET || r == -ENOENT || r == -ECONNREFUSED);
        free(big);
        gunyahctl_disconnect(h);
}

TEST_MAIN()
