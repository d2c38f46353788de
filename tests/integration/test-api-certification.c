/* SPDX-License-Identifier: MIT */
/*
 * Conformance with an off-the-shelf Varlink client: Debian's varlink-go-certification in
 * client mode runs Start, Test01 .. Test11 and End (framing, every type, "more", "oneway")
 * against our server with org.varlink.certification enabled. Its path comes as argv[1].
 * Also checks that a certification run out of order is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "api-server.h"
#include "test-varlink-server.h"
#include "test.h"

static const char *client_path;

typedef struct Child {
        pid_t pid;
        int status;
        bool done;
} Child;

static bool child_done(void *userdata)
{
        Child *c = userdata;
        if (!c->done && waitpid(c->pid, &c->status, WNOHANG) == c->pid)
                c->done = true;
        return c->done;
}

typedef struct Fixture {
        sd_event *e;
        ApiServer *s;
        char dir[64], path[128];
} Fixture;

static void setup(Fixture *f)
{
        ASSERT_OK(sd_event_new(&f->e));
        ASSERT_OK(api_server_new(f->e, NULL, &f->s));
        ASSERT_OK(api_certification_register(f->s));
        strcpy(f->dir, "/tmp/test-api-cert-XXXXXX");
        ASSERT_TRUE(mkdtemp(f->dir) != NULL);
        snprintf(f->path, sizeof(f->path), "%s/socket", f->dir);
        ASSERT_OK(api_server_listen_path(f->s, f->path, 0600));
}

static void teardown(Fixture *f)
{
        api_server_free(f->s);
        sd_event_unref(f->e);
        unlink(f->path);
        rmdir(f->dir);
}

TEST(varlink_go_certification_client)
{
        if (!client_path || access(client_path, X_OK) < 0) {
                fprintf(stderr, "varlink-go-certification not installed\n");
                exit(77);
        }
        Fixture f;
        setup(&f);
        char addr[160], log[160];
        snprintf(addr, sizeof(addr), "-varlink=unix:%s", f.path);
        /* The client exits 0 even when a step fails ("Start() failed"): its transcript is
         * the verdict, and ends with "End: 'true'" when every step passed. */
        snprintf(log, sizeof(log), "%s/client.log", f.dir);
        Child child = { .pid = fork() };
        ASSERT_OK(child.pid);
        if (child.pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(126);
                execl(client_path, client_path, "-client", addr, (char *)NULL);
                _exit(127);
        }
        bool ok = test_pump_until(f.e, child_done, &child);
        if (!ok) {
                kill(child.pid, SIGKILL);
                (void)waitpid(child.pid, NULL, 0);
        }
        ASSERT_TRUE(ok);
        ASSERT_TRUE(WIFEXITED(child.status));
        ASSERT_EQ(WEXITSTATUS(child.status), 0);
        char out[16384] = "";
        FILE *fp = fopen(log, "re");
        ASSERT_TRUE(fp != NULL);
        size_t n = fread(out, 1, sizeof(out) - 1, fp);
        out[n] = 0;
        fclose(fp);
        fprintf(stderr, "%s", out);
        ASSERT_TRUE(strstr(out, "\nEnd: 'true'\n") != NULL);
        ASSERT_TRUE(strstr(out, "failed") == NULL);
        unlink(log);
        teardown(&f);
}

TEST(certification_refuses_wrong_order)
{
        Fixture f;
        setup(&f);
        int fd = test_connect_path(f.path);
        ASSERT_OK(fd);
        TestClient c;
        test_client_init(&c, fd);
        ASSERT_OK(test_send_msg(f.e, &c, "{\"method\":\"org.varlink.certification.Start\"}"));
        VarlinkReply r;
        ASSERT_EQ(test_recv_reply(f.e, &c, &r), 1);
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "{\"method\":\"org.varlink.certification.Test02\",\"parameters\":"
                 "{\"client_id\":\"%s\",\"bool\":true}}",
                 test_param_string(&r, "client_id"));
        varlink_reply_done(&r);
        ASSERT_OK(test_send_msg(f.e, &c, msg));
        ASSERT_EQ(test_recv_reply(f.e, &c, &r), 1);
        ASSERT_STREQ(r.error, "org.varlink.certification.CertificationError");
        varlink_reply_done(&r);
        ASSERT_OK(test_send_msg(f.e, &c, "{\"method\":\"org.varlink.certification.End\","
                                         "\"parameters\":{\"client_id\":\"nope\"}}"));
        ASSERT_EQ(test_recv_reply(f.e, &c, &r), 1);
        ASSERT_STREQ(r.error, "org.varlink.certification.ClientIdError");
        varlink_reply_done(&r);
        test_client_done(&c);
        teardown(&f);
}

TestCase test_cases_[TEST_MAX];
unsigned test_count_;
int main(int argc, char **argv)
{
        client_path = argc > 1 ? argv[1] : NULL;
        for (unsigned i = 0; i < test_count_; i++) {
                fprintf(stderr, "[ RUN  ] %s\n", test_cases_[i].name);
                test_cases_[i].fn();
                fprintf(stderr, "[  OK  ] %s\n", test_cases_[i].name);
        }
        printf("%u passed, 0 failed\n", test_count_);
        return 0;
}
