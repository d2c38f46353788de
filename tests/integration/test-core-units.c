/* SPDX-License-Identifier: MIT */
/* Unit tests of the core's pure parts: the event log window and subscribers, the VM state
 * transition table, daemon options and the configuration file. No simulator. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "manager-internal.h"
#include "options.h"
#include "test.h"
#include "vm.h"

typedef struct Seen {
        uint64_t cursors[64];
        unsigned n;
        EventSubscription *self;
        bool drop_self;
} Seen;

static void seen(const Event *ev, void *ud)
{
        Seen *s = ud;
        if (s->n < 64)
                s->cursors[s->n++] = ev->cursor;
        if (s->drop_self) {
                event_subscription_free(s->self);
                s->self = NULL;
                s->drop_self = false;
        }
}

TEST(event_log_window_and_cursors)
{
        EventLog *log = NULL;
        EventCause api = { .kind = EVENT_CAUSE_API, .uid = 1000, .pid = 42, .method = "io.gunyah.Manager.StartVM" };
        Seen s = {};

        ASSERT_OK(event_log_new(4, &log));
        ASSERT_EQ(event_log_last_cursor(log), 0);
        ASSERT_EQ(event_log_foreach_since(log, 0, seen, &s), 0);
        for (int i = 1; i <= 3; i++)
                ASSERT_EQ(event_log_append(log, EVENT_VM_STATE, "a", "running", &api, "n=%d", i), i);
        ASSERT_EQ(event_log_foreach_since(log, 0, seen, &s), 3);
        ASSERT_EQ(s.cursors[0], 1);
        ASSERT_EQ(s.cursors[2], 3);
        /* 3 more: the window holds cursors 3..6 now. */
        for (int i = 4; i <= 6; i++)
                ASSERT_EQ(event_log_append(log, EVENT_DAEMON, NULL, NULL, NULL, "d%d", i), i);
        ASSERT_EQ(event_log_first_cursor(log), 3);
        s.n = 0;
        ASSERT_EQ(event_log_foreach_since(log, 2, seen, &s), 4); /* 3..6: nothing lost */
        ASSERT_EQ(event_log_foreach_since(log, 1, seen, &s), -ESTALE); /* 2 is gone */
        ASSERT_EQ(event_log_foreach_since(log, 0, seen, &s), -ESTALE);
        ASSERT_EQ(event_log_foreach_since(log, 6, seen, &s), 0);
        ASSERT_EQ(event_log_foreach_since(log, 7, seen, &s), -ESTALE); /* from the future */
        event_log_free(log);
}

static void check_cause(const Event *ev, void *ud)
{
        ASSERT_EQ(ev->cause.kind, EVENT_CAUSE_API);
        ASSERT_EQ(ev->cause.uid, 1000);
        ASSERT_EQ(ev->cause.pid, 42);
        ASSERT_STREQ(ev->cause.method, "io.gunyah.Manager.StartVM");
        ASSERT_STREQ(ev->vm, "a");
        ASSERT_STREQ(ev->state, "running");
        ASSERT_STREQ(ev->details, "x 7");
        ASSERT_TRUE(ev->timestamp_usec > 0);
        (*(int *)ud)++;
}

TEST(event_log_subscribers)
{
        EventLog *log = NULL;
        EventCause api = { .kind = EVENT_CAUSE_API, .uid = 1000, .pid = 42, .method = "io.gunyah.Manager.StartVM" };
        Seen a = {}, b = {};
        EventSubscription *sb = NULL, *sc = NULL;
        int checked = 0;

        ASSERT_OK(event_log_new(0, &log));
        ASSERT_OK(event_log_subscribe(log, seen, &a, &a.self));
        ASSERT_OK(event_log_subscribe(log, seen, &b, &sb));
        ASSERT_OK(event_log_subscribe(log, check_cause, &checked, &sc));
        a.drop_self = true; /* unsubscribes from inside its callback */
        ASSERT_TRUE(event_log_append(log, EVENT_VM_CREATED, "a", "running", &api, "x %d", 7) > 0);
        ASSERT_EQ(a.n, 1);
        ASSERT_EQ(b.n, 1);
        ASSERT_EQ(checked, 1);
        event_subscription_free(sc);
        ASSERT_TRUE(event_log_append(log, EVENT_DAEMON, NULL, NULL, NULL, "y") > 0);
        ASSERT_EQ(a.n, 1);
        ASSERT_EQ(b.n, 2);
        /* A subscription outliving its log is still freeable. */
        event_log_free(log);
        event_subscription_free(sb);
        ASSERT_STREQ(event_kind_to_string(EVENT_VM_PAGE_FAULT), "vm-page-fault");
        ASSERT_STREQ(event_cause_kind_to_string(EVENT_CAUSE_RM), "rm");
        ASSERT_TRUE(event_kind_to_string(_EVENT_KIND_MAX) == NULL);
}

TEST(vm_state_table)
{
        /* The lifecycle paths the manager takes are allowed ... */
        static const VmState path[] = { VM_STATE_STOPPED, VM_STATE_STARTING, VM_STATE_RUNNING,
                                        VM_STATE_STOPPING, VM_STATE_EXITED, VM_STATE_RELEASING,
                                        VM_STATE_STOPPED };
        for (size_t i = 0; i + 1 < sizeof(path) / sizeof(path[0]); i++)
                ASSERT_TRUE(vm_state_transition_allowed(path[i], path[i + 1]));
        ASSERT_TRUE(vm_state_transition_allowed(VM_STATE_STARTING, VM_STATE_RELEASING));
        ASSERT_TRUE(vm_state_transition_allowed(VM_STATE_RECOVERING, VM_STATE_RUNNING));
        ASSERT_TRUE(vm_state_transition_allowed(VM_STATE_RUNNING, VM_STATE_LOST));
        ASSERT_TRUE(vm_state_transition_allowed(VM_STATE_FAILED, VM_STATE_RELEASING));
        /* ... and shortcuts that would skip releasing are not. */
        ASSERT_TRUE(!vm_state_transition_allowed(VM_STATE_RUNNING, VM_STATE_STOPPED));
        ASSERT_TRUE(!vm_state_transition_allowed(VM_STATE_RUNNING, VM_STATE_STARTING));
        ASSERT_TRUE(!vm_state_transition_allowed(VM_STATE_EXITED, VM_STATE_STOPPED));
        ASSERT_TRUE(!vm_state_transition_allowed(VM_STATE_FAILED, VM_STATE_STARTING));
        ASSERT_TRUE(!vm_state_transition_allowed(VM_STATE_DESTROYING, VM_STATE_RUNNING));
        ASSERT_TRUE(!vm_state_transition_allowed(VM_STATE_STOPPED, VM_STATE_RUNNING));
        ASSERT_TRUE(!vm_state_transition_allowed(_VM_STATE_MAX, VM_STATE_STOPPED));
        ASSERT_TRUE(!vm_state_transition_allowed(VM_STATE_STOPPED, _VM_STATE_INVALID));
        /* Every state has a name that parses back. */
        for (int s = 0; s < _VM_STATE_MAX; s++)
                ASSERT_EQ(vm_state_from_string(vm_state_to_string((VmState)s)), s);
        ASSERT_EQ(vm_state_from_string("bogus"), _VM_STATE_INVALID);
        ASSERT_STREQ(vm_boot_convention_to_string(VM_BOOT_OPEN_RM), "open-rm");
        ASSERT_STREQ(vm_parcel_kind_to_string(VM_PARCEL_DEMAND), "demand");
}

TEST(options_durations)
{
        uint64_t u = 0;
        ASSERT_OK(options_parse_duration("10", &u));
        ASSERT_U64_EQ(u, 10000000);
        ASSERT_OK(options_parse_duration("500ms", &u));
        ASSERT_U64_EQ(u, 500000);
        ASSERT_OK(options_parse_duration("2min", &u));
        ASSERT_U64_EQ(u, 120000000);
        ASSERT_OK(options_parse_duration("1h", &u));
        ASSERT_U64_EQ(u, 3600000000ull);
        ASSERT_EQ(options_parse_duration("0", &u), -EINVAL);
        ASSERT_EQ(options_parse_duration("5 s", &u), -EINVAL);
        ASSERT_EQ(options_parse_duration("-5", &u), -EINVAL);
        ASSERT_EQ(options_parse_duration("99999999999999999999", &u), -ERANGE);
        ASSERT_EQ(options_parse_duration("18446744073709551615h", &u), -ERANGE);
}

TEST(options_file_then_flags)
{
        char path[] = "/tmp/test-core-conf-XXXXXX";
        int fd = mkstemp(path);
        Options o;
        FILE *f;

        ASSERT_TRUE(fd >= 0);
        f = fdopen(fd, "w");
        fprintf(f, "# comment\n\n  rm-socket = /run/sim.sock  \npool = /tmp/pool:0x80000000:256M\n"
                   "state-dir=/tmp/state # trailing\nrpc-timeout = 3s\nstop-timeout = 250ms\n");
        fclose(f);

        options_init(&o);
        char *argv[] = { "gunyahd", "--config", path, "--state-dir", "/tmp/other", "-v", "-v", NULL };
        ASSERT_OK(options_parse(&o, 7, argv));
        ASSERT_STREQ(o.rm_socket, "/run/sim.sock");
        ASSERT_STREQ(o.pool_file, "/tmp/pool");
        ASSERT_U64_EQ(o.pool_ipa, 0x80000000);
        ASSERT_U64_EQ(o.pool_size, 256ull << 20);
        ASSERT_STREQ(o.state_dir, "/tmp/other"); /* flags win over the file */
        ASSERT_U64_EQ(o.rpc_timeout_usec, 3000000);
        ASSERT_U64_EQ(o.stop_timeout_usec, 250000);
        ASSERT_EQ(o.verbose, 2);
        ASSERT_EQ(o.rm_fd, -1);
        options_done(&o);

        /* Errors: unknown name in the file, two link kinds, pool device form. */
        f = fopen(path, "w");
        fprintf(f, "no-such-option = 1\n");
        fclose(f);
        options_init(&o);
        char *argv2[] = { "gunyahd", "--config", path, NULL };
        ASSERT_EQ(options_parse(&o, 3, argv2), -EINVAL);
        options_done(&o);

        options_init(&o);
        char *argv3[] = { "gunyahd", "--config", "/nonexistent.conf", NULL };
        ASSERT_TRUE(options_parse(&o, 3, argv3) < 0);
        options_done(&o);

        f = fopen(path, "w");
        fclose(f);
        options_init(&o);
        char *argv4[] = { "gunyahd", "--config", path, "--rm-fd", "3", "--rm-socket", "/x", NULL };
        ASSERT_EQ(options_parse(&o, 7, argv4), -EINVAL);
        options_done(&o);

        options_init(&o);
        char *argv5[] = { "gunyahd", "--config", path, "--pool", "device", "--rm-fd", "7", NULL };
        ASSERT_OK(options_parse(&o, 7, argv5));
        ASSERT_TRUE(o.pool_device);
        ASSERT_EQ(o.rm_fd, 7);
        options_done(&o);

        options_init(&o);
        char *argv6[] = { "gunyahd", "--config", path, "--pool", "/p:0x1000:4096", NULL };
        ASSERT_EQ(options_parse(&o, 5, argv6), -EINVAL); /* not 2 MiB aligned */
        options_done(&o);
        unlink(path);
}

/* The fallback for kernels without openat2: no symlink anywhere on the path, so neither a
 * symlinked file nor a symlinked directory leads out of the image directory. */
TEST(open_beneath_without_openat2)
{
        char root[] = "/tmp/test-core-units.XXXXXX", p[256];
        ASSERT_TRUE(mkdtemp(root) != NULL);
        snprintf(p, sizeof(p), "%s/images", root);
        ASSERT_OK(mkdir(p, 0700));
        snprintf(p, sizeof(p), "%s/images/sub", root);
        ASSERT_OK(mkdir(p, 0700));
        snprintf(p, sizeof(p), "%s/outside", root);
        ASSERT_OK(mkdir(p, 0700));
        const char *files[] = { "images/sub/Image", "outside/Image" };
        for (size_t i = 0; i < 2; i++) {
                snprintf(p, sizeof(p), "%s/%s", root, files[i]);
                int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                ASSERT_OK(fd);
                close(fd);
        }
        char target[256];
        snprintf(target, sizeof(target), "%s/outside", root);
        snprintf(p, sizeof(p), "%s/images/linkdir", root);
        ASSERT_OK(symlink(target, p));
        snprintf(target, sizeof(target), "%s/outside/Image", root);
        snprintf(p, sizeof(p), "%s/images/link", root);
        ASSERT_OK(symlink(target, p));

        snprintf(p, sizeof(p), "%s/images", root);
        int dfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
        ASSERT_OK(dfd);
        int fd = manager_open_beneath_nofollow(dfd, "sub/Image");
        ASSERT_OK(fd);
        close(fd);
        ASSERT_EQ(manager_open_beneath_nofollow(dfd, "linkdir/Image"), -1);
        ASSERT_TRUE(errno == ELOOP || errno == ENOTDIR);
        ASSERT_EQ(manager_open_beneath_nofollow(dfd, "link"), -1);
        ASSERT_EQ(errno, ELOOP);
        ASSERT_EQ(manager_open_beneath_nofollow(dfd, "sub/missing"), -1);
        ASSERT_EQ(errno, ENOENT);
        close(dfd);

        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
        ASSERT_EQ(system(cmd), 0);
}

TEST_MAIN()
