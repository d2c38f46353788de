/* SPDX-License-Identifier: MIT */
/*
 * Authorization by peer credentials, against the real gunyahd: clients run in forked
 * children as uid/gid nobody (the test runs as root). Reads are open to anyone who can
 * connect; every change (CreateVM, StartVM, StopVM, DestroyVM) is refused with
 * org.varlink.service.PermissionDenied unless the peer is root or in the admin group
 * (--admin-group, here "users"), which a supplementary group is enough for. The CLI maps
 * the refusal to exit status 7.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test-client-harness.h"
#include "test.h"

#define DENIED "org.varlink.service.PermissionDenied"

/* In the child: assertions abort it, the parent sees a non-zero status. */
static void expect_denied(gunyahctl *c, int r)
{
        if (r != -EPERM || strcmp(gunyahctl_error_name(c) ?: "", DENIED) != 0)
                TEST_FAIL_("wanted %s, got %d %s", DENIED, r, gunyahctl_error_name(c) ?: "-");
}

static int reader_child(void *userdata)
{
        Harness *h = userdata;
        ASSERT_EQ(getuid(), 65534);
        gunyahctl *c = h_client(h);
        char *reply = NULL;
        /* reads */
        ASSERT_OK(gunyahctl_list_vms(c, &reply));
        ASSERT_TRUE(strstr(reply, "\"rootvm\""));
        free(reply);
        ASSERT_OK(gunyahctl_get_daemon_info(c, NULL));
        ASSERT_OK(gunyahctl_describe_vm(c, "rootvm", NULL));
        ASSERT_EQ(gunyahctl_describe_vm(c, "ghost", NULL), -ENOENT);
        ASSERT_STREQ(gunyahctl_error_name(c), "io.gunyah.Manager.NoSuchVM");
        ASSERT_OK(gunyahctl_call(c, "org.varlink.service.GetInfo", NULL, NULL, 0, NULL, NULL,
                                 NULL));
        /* changes */
        struct gunyahctl_vm_spec spec;
        gunyahctl_vm_spec_init(&spec);
        spec.name = "nobodys";
        spec.memory_bytes = 32u << 20;
        spec.kernel_path = "Image";
        expect_denied(c, gunyahctl_create_vm(c, &spec, NULL));
        expect_denied(c, gunyahctl_start_vm(c, "rootvm", NULL, NULL, NULL));
        expect_denied(c, gunyahctl_stop_vm(c, "rootvm", true, 0, NULL));
        expect_denied(c, gunyahctl_destroy_vm(c, "rootvm", NULL));
        /* a refused change does not hide whether the VM exists: still denied */
        expect_denied(c, gunyahctl_destroy_vm(c, "ghost", NULL));
        /* Monitor is a read */
        ASSERT_OK(gunyahctl_monitor_begin(c, NULL));
        ASSERT_EQ(gunyahctl_monitor_next(c, 30000000, &reply), 1);
        ASSERT_TRUE(strstr(reply, "\"snapshot\""));
        free(reply);
        gunyahctl_disconnect(c);
        return 0;
}

static int admin_group_child(void *userdata)
{
        Harness *h = userdata;
        ASSERT_EQ(getuid(), 65534);
        gunyahctl *c = h_client(h);
        struct gunyahctl_vm_spec spec;
        gunyahctl_vm_spec_init(&spec);
        spec.name = "groupvm";
        spec.memory_bytes = 32u << 20;
        spec.kernel_path = "Image";
        ASSERT_OK(gunyahctl_create_vm(c, &spec, NULL));
        ASSERT_OK(gunyahctl_destroy_vm(c, "groupvm", NULL));
        gunyahctl_disconnect(c);
        return 0;
}

TEST(peer_credentials)
{
        struct group *users = getgrnam("users");
        ASSERT_TRUE(users != NULL);
        gid_t admin_gid = users->gr_gid;
        ASSERT_EQ(getuid(), 0);

        Harness h;
        HarnessOptions o = { .admin_group = "users" };
        h_start(&h, &o);
        /* the daemon's socket is 0660 root: let nobody reach it, as the group would */
        ASSERT_OK(chmod(h.api, 0666));
        char path[256];
        h_image_in_dir(&h, "Image", 1u << 20, path, sizeof(path));

        gunyahctl *root = h_client(&h);
        struct gunyahctl_vm_spec spec;
        gunyahctl_vm_spec_init(&spec);
        spec.name = "rootvm";
        spec.memory_bytes = 32u << 20;
        spec.kernel_path = "Image";
        ASSERT_OK(gunyahctl_create_vm(root, &spec, NULL));

        ASSERT_EQ(h_run_as(65534, 65534, NULL, 0, reader_child, &h), 0);
        ASSERT_EQ(h_run_as(65534, 65534, &admin_gid, 1, admin_group_child, &h), 0);

        /* the CLI as nobody: reads work, changes exit with 7 */
        char *out = NULL, *err = NULL;
        const char *list[] = { "--json", "list", NULL };
        ASSERT_EQ(h_run_cli_as(&h, 65534, 65534, &out, &err, list), 0);
        ASSERT_TRUE(strstr(out, "\"rootvm\""));
        free(out);
        free(err);
        const char *destroy[] = { "destroy", "rootvm", NULL };
        ASSERT_EQ(h_run_cli_as(&h, 65534, 65534, &out, &err, destroy), 7);
        ASSERT_TRUE(strstr(err, "permission denied"));
        free(out);
        free(err);

        /* nothing changed behind root's back */
        char *reply = NULL;
        ASSERT_OK(gunyahctl_list_vms(root, &reply));
        ASSERT_TRUE(strstr(reply, "\"rootvm\"") && !strstr(reply, "groupvm") &&
                    !strstr(reply, "nobodys"));
        free(reply);
        ASSERT_OK(gunyahctl_destroy_vm(root, "rootvm", NULL));
        gunyahctl_disconnect(root);
        h_stop(&h);
}

TEST_MAIN()
