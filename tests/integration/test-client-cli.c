/* SPDX-License-Identifier: MIT */
/*
 * The gunyahctl binary against the real gunyahd and gunyah-rm-sim: every verb with --json
 * (output parsed: one JSON object per line, the API's reply) and in human form (aligned
 * table, no escape codes when not on a tty), and the documented exit code of each error
 * class (gunyahctl(1), EXIT STATUS).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-client-harness.h"
#include "test.h"


typedef struct Run {
        int status;
        char *out;
        char *err;
} Run;

static Run run_env(Harness *h, const char *const *env, const char *const *argv)
{
        Run r = {};
        r.status = h_run_cli(h, &r.out, &r.err, env, argv);
        return r;
}

#define RUN(h, ...) run_env((h), NULL, (const char *const[]){ __VA_ARGS__, NULL })

static void run_done(Run *r)
{
        free(r->out);
        free(r->err);
}

static void expect_status(const Run *r, int status)
{
        if (r->status != status)
                TEST_FAIL_("exit status %d, wanted %d; stdout: %s; stderr: %s", r->status, status,
                           r->out, r->err);
}

/* Every line of out parses as a JSON object; returns the last one (caller puts). */
static struct json_object *json_lines(const char *out, size_t *ret_n)
{
        struct json_object *last = NULL;
        size_t n = 0;
        char *copy = strdup(out), *save = NULL;
        ASSERT_TRUE(copy);
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                json_object_put(last);
                last = h_json(line);
                n++;
        }
        free(copy);
        ASSERT_TRUE(last);
        if (ret_n)
                *ret_n = n;
        return last;
}

static void no_escapes(const Run *r)
{
        ASSERT_TRUE(strchr(r->out, '\033') == NULL);
        ASSERT_TRUE(strchr(r->err, '\033') == NULL);
}

TEST(cli_verbs_json_and_exit_codes)
{
        Harness h;
        h_start(&h, NULL);
        char kernel[256], bad[256], api_env[256];
        snprintf(kernel, sizeof(kernel), "%s/Image-local", h.dir);
        h_write_image(kernel, 2u << 20, false);
        snprintf(bad, sizeof(bad), "%s/Image-bad", h.dir);
        h_write_image(bad, 1u << 20, true);
        Run r;

        /* daemon-info */
        r = RUN(&h, "--json", "daemon-info");
        expect_status(&r, 0);
        {
                _json_ struct json_object *o = json_lines(r.out, NULL);
                ASSERT_STREQ(h_jstr(o, "version"), GUNYAHD_VERSION);
                ASSERT_STREQ(h_jstr(o, "rmLink.state"), "up");
        }
        run_done(&r);
        r = RUN(&h, "daemon-info");
        expect_status(&r, 0);
        no_escapes(&r);
        ASSERT_TRUE(strstr(r.out, "Version: " GUNYAHD_VERSION));
        run_done(&r);

        /* the address from the environment, with the unix: prefix */
        snprintf(api_env, sizeof(api_env), "GUNYAHCTL_ADDRESS=unix:%s", h.api);
        r = run_env(&h, (const char *const[]){ api_env, NULL },
                    (const char *const[]){ "--json", "list", NULL });
        expect_status(&r, 0);
        ASSERT_STREQ(r.out, "{\"vms\":[]}\n");
        run_done(&r);
        r = RUN(&h, "list");
        expect_status(&r, 0);
        ASSERT_STREQ(r.out, "No VMs.\n");
        run_done(&r);

        /* create: a local kernel goes as an fd */
        r = RUN(&h, "--json", "create", "v1", "--memory", "64M", "--vcpus", "2", "--kernel",
                kernel, "--cmdline", "console=hvc0 quiet");
        expect_status(&r, 0);
        {
                size_t n;
                _json_ struct json_object *o = json_lines(r.out, &n);
                int64_t v;
                ASSERT_EQ(n, 1);
                ASSERT_STREQ(h_jstr(o, "vm.name"), "v1");
                ASSERT_STREQ(h_jstr(o, "vm.kernel"), "fd");
                ASSERT_STREQ(h_jstr(o, "vm.cmdline"), "console=hvc0 quiet");
                ASSERT_TRUE(h_jint(o, "vm.memory.size", &v) && v == 64 << 20);
        }
        run_done(&r);
        /* a kernel in the image dir: opened by gunyahd when the VM starts */
        r = RUN(&h, "create", "v2", "--memory=32M", "--kernel-path=Image-in-dir", "--transient");
        expect_status(&r, 0);
        no_escapes(&r);
        ASSERT_TRUE(strncmp(r.out, "Created VM v2 (1 vCPU, 32 MiB), UUID ", 37) == 0);
        run_done(&r);
        r = RUN(&h, "start", "v2");
        expect_status(&r, 2); /* InvalidImage: not in the image dir yet */
        ASSERT_TRUE(strstr(r.err, "cannot use the kernel"));
        run_done(&r);
        char in_dir[256];
        h_image_in_dir(&h, "Image-in-dir", 1u << 20, in_dir, sizeof(in_dir));

        /* the error classes */
        r = RUN(&h, "create", "v1", "--memory", "64M", "--kernel", kernel);
        expect_status(&r, 4); /* VMExists */
        ASSERT_TRUE(strstr(r.err, "already exists"));
        run_done(&r);
        r = RUN(&h, "create", "v3", "--memory", "64M", "--kernel", bad);
        expect_status(&r, 2); /* InvalidImage */
        run_done(&r);
        r = RUN(&h, "create", "v3", "--memory", "64M", "--kernel", "/nonexistent/Image");
        expect_status(&r, 2); /* the local file cannot be opened */
        run_done(&r);
        r = RUN(&h, "info", "ghost");
        expect_status(&r, 3);
        ASSERT_TRUE(strstr(r.err, "no such VM: ghost"));
        run_done(&r);
        r = RUN(&h, "stop", "v1"); /* never started: already stopped, which succeeds */
        expect_status(&r, 0);
        ASSERT_STREQ(r.out, "VM v1 is stopped\n");
        run_done(&r);

        /* usage errors never reach the daemon */
        static const char *const usage[][6] = {
                { "frobnicate" },
                { "info" },
                { "info", "a", "b" },
                { "create", "x", "--kernel", "/dev/null" },      /* no --memory */
                { "create", "x", "--memory", "64M" },             /* no kernel */
                { "create", "x", "--memory", "lots", "-k", "K" }, /* bad size */
                { "list", "--force" },                            /* option of another verb */
                { "--bogus", "list" },
        };
        for (size_t i = 0; i < ELEMENTSOF(usage); i++) {
                const char *argv[8] = { 0 };
                for (size_t k = 0; k < 6 && usage[i][k]; k++)
                        argv[k] = usage[i][k];
                r = run_env(&h, NULL, argv);
                if (r.status != 2)
                        TEST_FAIL_("usage case %zu (%s): status %d", i, argv[0], r.status);
                run_done(&r);
        }

        /* start: --json streams the progress replies, then the final one */
        r = RUN(&h, "--json", "start", "v1");
        expect_status(&r, 0);
        {
                size_t n;
                _json_ struct json_object *o = json_lines(r.out, &n);
                ASSERT_TRUE(n >= 3);
                ASSERT_STREQ(h_jstr(o, "stage"), "running");
                ASSERT_STREQ(h_jstr(o, "vm.state"), "running");
                ASSERT_TRUE(strncmp(r.out, "{\"stage\":\"allocate\"", 19) == 0);
        }
        run_done(&r);
        /* start, human, not on a tty: plain lines, no bar */
        r = RUN(&h, "start", "v2");
        expect_status(&r, 0);
        no_escapes(&r);
        ASSERT_TRUE(strncmp(r.out, "[1/", 3) == 0 && strstr(r.out, "] allocate\n"));
        ASSERT_TRUE(strstr(r.out, "] lend: "));
        ASSERT_TRUE(strstr(r.out, "VM v2 is running (VMID "));
        ASSERT_TRUE(strchr(r.err, '\r') == NULL);
        run_done(&r);
        r = RUN(&h, "start", "v2");
        expect_status(&r, 4); /* InvalidState */
        ASSERT_TRUE(strstr(r.err, "cannot start the VM: VM v2 is running"));
        run_done(&r);

        /* list and info */
        r = RUN(&h, "--json", "list");
        expect_status(&r, 0);
        {
                _json_ struct json_object *o = json_lines(r.out, NULL);
                ASSERT_EQ(json_object_array_length(h_jget(o, "vms")), 2);
        }
        run_done(&r);
        r = RUN(&h, "list");
        expect_status(&r, 0);
        no_escapes(&r);
        ASSERT_TRUE(strncmp(r.out, "NAME  STATE    VMID", 19) == 0);
        ASSERT_TRUE(strstr(r.out, "\nv1    running  "));
        ASSERT_TRUE(strstr(r.out, "\nv2    running  "));
        run_done(&r);
        r = RUN(&h, "--json", "info", "v1");
        expect_status(&r, 0);
        {
                _json_ struct json_object *o = json_lines(r.out, NULL);
                ASSERT_STREQ(h_jstr(o, "vm.state"), "running");
                ASSERT_TRUE(h_jget(o, "vm.vmid") != NULL);
        }
        run_done(&r);
        r = RUN(&h, "info", "v1");
        expect_status(&r, 0);
        ASSERT_TRUE(strstr(r.out, "           State: running\n"));
        ASSERT_TRUE(strstr(r.out, "\nHANDLE  KIND"));
        run_done(&r);

        /* monitor: the snapshot, then nothing happens for a second */
        r = RUN(&h, "--json", "monitor", "--timeout", "1");
        expect_status(&r, 0);
        {
                size_t n;
                _json_ struct json_object *o = json_lines(r.out, &n);
                ASSERT_EQ(n, 1);
                ASSERT_EQ(json_object_array_length(h_jget(o, "snapshot")), 2);
        }
        run_done(&r);
        /* monitor --since: the events after a cursor, in human form, with their cause */
        {
                _json_ struct json_object *snap = NULL;
                r = RUN(&h, "--json", "monitor", "--timeout", "1");
                expect_status(&r, 0);
                snap = json_lines(r.out, NULL);
                char cursor[64];
                snprintf(cursor, sizeof(cursor), "%s", h_jstr(snap, "cursor"));
                run_done(&r);
                r = RUN(&h, "create", "v3", "--memory", "32M", "--kernel-path", "Image-in-dir");
                expect_status(&r, 0);
                run_done(&r);
                r = RUN(&h, "monitor", "--since", cursor, "--count", "1");
                expect_status(&r, 0);
                no_escapes(&r);
                ASSERT_TRUE(strstr(r.out, " vm-created "));
                ASSERT_TRUE(strstr(r.out, " v3 "));
                ASSERT_TRUE(strstr(r.out, "(uid 0 pid "));
                ASSERT_TRUE(strstr(r.out, " io.gunyah.Manager.CreateVM)\n"));
                run_done(&r);
                r = RUN(&h, "destroy", "v3");
                expect_status(&r, 0);
                run_done(&r);
        }
        r = RUN(&h, "monitor", "--since", "0000000000000001:1", "--timeout", "1");
        expect_status(&r, 1); /* CursorExpired */
        run_done(&r);

        /* stop and destroy */
        r = RUN(&h, "--json", "stop", "v1", "--force");
        expect_status(&r, 0);
        {
                _json_ struct json_object *o = json_lines(r.out, NULL);
                ASSERT_STREQ(h_jstr(o, "vm.state"), "stopped");
        }
        run_done(&r);
        r = RUN(&h, "stop", "v2", "--timeout", "10");
        expect_status(&r, 0);
        ASSERT_STREQ(r.out, "VM v2 is stopped\n");
        run_done(&r);
        r = RUN(&h, "destroy", "v1");
        expect_status(&r, 0);
        ASSERT_STREQ(r.out, "Destroyed VM v1\n");
        run_done(&r);
        r = RUN(&h, "--json", "destroy", "v1");
        expect_status(&r, 3);
        run_done(&r);

        /* RMError -> 5 */
        ASSERT_OK(sim_client_callf(h.sim, "io.gunyah.Simulator.InjectFault",
                                   "{\"kind\":\"error\",\"msgId\":1442840580,\"error\":3}", NULL));
        r = RUN(&h, "start", "v2");
        expect_status(&r, 5);
        ASSERT_TRUE(strstr(r.err, "VM_START"));
        run_done(&r);

        /* RMUnavailable -> 6, and a daemon that is not there -> 6 */
        ASSERT_EQ(sim_client_stop(h.sim), 0);
        for (int i = 0; i < 500; i++) {
                r = RUN(&h, "--json", "daemon-info");
                bool down = strstr(r.out, "\"state\":\"down\"") != NULL;
                run_done(&r);
                if (down)
                        break;
                usleep(20000);
        }
        r = RUN(&h, "start", "v2");
        expect_status(&r, 6);
        run_done(&r);
        r = run_env(&h, NULL, (const char *const[]){ "--address", "/nonexistent/sock", "list",
                                                     NULL });
        expect_status(&r, 6);
        ASSERT_TRUE(strstr(r.err, "cannot connect to gunyahd at /nonexistent/sock"));
        run_done(&r);

        h_stop(&h);
}

/* Run gunyahctl on a pseudo-terminal (script(1)), returning what the terminal showed. */
static char *on_tty(Harness *h, const char *env, const char *args, int *ret_status)
{
        char cmd[1024];
        snprintf(cmd, sizeof(cmd),
                 "env -u NO_COLOR %s TERM=xterm script -qec '%s/bin/gunyahctl --address=%s %s' "
                 "/dev/null </dev/null",
                 env, getenv("GUNYAH_BUILD_DIR"), h->api, args);
        FILE *f = popen(cmd, "r");
        ASSERT_TRUE(f);
        char *out = NULL;
        size_t len = 0;
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
                out = realloc(out, len + n + 1);
                ASSERT_TRUE(out);
                memcpy(out + len, chunk, n);
                len += n;
                out[len] = 0;
        }
        int status = pclose(f);
        ASSERT_TRUE(WIFEXITED(status));
        *ret_status = WEXITSTATUS(status);
        return out ? out : strdup("");
}

TEST(cli_on_a_terminal)
{
        Harness h;
        h_start(&h, NULL);
        char kernel[256];
        h_image_in_dir(&h, "Image", 2u << 20, kernel, sizeof(kernel));
        Run r = RUN(&h, "create", "t1", "--memory", "32M", "--kernel-path", "Image");
        expect_status(&r, 0);
        run_done(&r);

        int status;
        /* start: a progress bar redrawn in place, ending at 100 % */
        char *out = on_tty(&h, "", "start t1", &status);
        ASSERT_EQ(status, 0);
        ASSERT_TRUE(strstr(out, "\r\033[K["));
        ASSERT_TRUE(strstr(out, "100% start"));
        ASSERT_TRUE(strstr(out, "VM t1 is \033[32mrunning\033[0m"));
        free(out);
        /* colour on a terminal */
        out = on_tty(&h, "", "list", &status);
        ASSERT_EQ(status, 0);
        ASSERT_TRUE(strstr(out, "\033[1mNAME\033[0m"));
        ASSERT_TRUE(strstr(out, "\033[32mrunning\033[0m"));
        free(out);
        /* NO_COLOR: none, on a terminal too */
        out = on_tty(&h, "NO_COLOR=1", "list", &status);
        ASSERT_EQ(status, 0);
        ASSERT_TRUE(strstr(out, "running") && !strchr(out, '\033'));
        free(out);
        /* errors keep their exit status through the terminal */
        out = on_tty(&h, "", "info ghost", &status);
        ASSERT_EQ(status, 3);
        free(out);
        h_stop(&h);
}

TEST_MAIN()
