/* SPDX-License-Identifier: MIT */
/*
 * libgunyahctl against the real gunyahd and gunyah-rm-sim: every io.gunyah.Manager method,
 * StartVM progress streaming, and every named error of the interface (plus the
 * org.varlink.service ones a client can meet), each asserted by its exact name and, where
 * the IDL gives them, its parameters.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test-client-harness.h"
#include "test.h"

#define M "io.gunyah.Manager."
#define S "org.varlink.service."


static void expect_error(gunyahctl *c, int r, int want_errno, const char *want_name)
{
        if (r != want_errno || !gunyahctl_error_name(c) ||
            strcmp(gunyahctl_error_name(c), want_name) != 0)
                TEST_FAIL_("wanted %s (%d), got %d %s %s", want_name, want_errno, r,
                           gunyahctl_error_name(c) ?: "(no Varlink error)",
                           gunyahctl_error_parameters_json(c) ?: "");
}

static void expect_error_param(gunyahctl *c, const char *key, const char *value)
{
        const char *s = NULL;
        ASSERT_OK(gunyahctl_error_get_string(c, key, &s));
        ASSERT_STREQ(s, value);
}

/* Create a VM from an image in the image dir. */
static void create_vm(Harness *h, gunyahctl *c, const char *name, uint64_t memory)
{
        char path[256];
        h_image_in_dir(h, "Image", 2u << 20, path, sizeof(path));
        struct gunyahctl_vm_spec spec;
        gunyahctl_vm_spec_init(&spec);
        spec.name = name;
        spec.memory_bytes = memory;
        spec.kernel_path = "Image";
        ASSERT_OK(gunyahctl_create_vm(c, &spec, NULL));
}

typedef struct Progress {
        char stages[64][32];
        unsigned n;
        unsigned lend_replies;
        bool bad_step;
} Progress;

static int on_progress(const char *stage, const char *json, void *userdata)
{
        Progress *p = userdata;
        _json_ struct json_object *o = h_json(json);
        ASSERT_STREQ(h_jstr(o, "stage"), stage);
        int64_t step, steps, v;
        if (!h_jint(o, "step", &step) || !h_jint(o, "steps", &steps) || step < 1 ||
            step > steps)
                p->bad_step = true;
        if (strcmp(stage, "lend") == 0) {
                p->lend_replies++;
                if (!h_jint(o, "parcelHandle", &v) || !h_jint(o, "parcelSize", &v) || v <= 0)
                        p->bad_step = true;
        }
        if (p->n < 64)
                snprintf(p->stages[p->n++], sizeof(p->stages[0]), "%s", stage);
        return 0;
}

/* The documented stage order: every reported stage must follow it. */
static void check_stage_order(const Progress *p)
{
        static const char *const order[] = { "allocate",       "load-image", "lend",
                                             "config-image",   "demand-paging",
                                             "address-layout", "init",       "boot-context",
                                             "hyp-resources",  "start" };
        size_t pos = 0;
        ASSERT_TRUE(p->n >= 3);
        for (unsigned i = 0; i < p->n; i++) {
                size_t k = pos;
                while (k < ELEMENTSOF(order) && strcmp(order[k], p->stages[i]) != 0)
                        k++;
                if (k == ELEMENTSOF(order))
                        TEST_FAIL_("stage %s (reply %u) is unknown or out of order", p->stages[i],
                                   i);
                pos = k;
        }
        ASSERT_STREQ(p->stages[0], "allocate");
}

TEST(methods_progress_and_errors)
{
        Harness h;
        h_start(&h, NULL);
        gunyahctl *c = h_client(&h);
        char *reply = NULL;

        /* GetDaemonInfo */
        ASSERT_OK(gunyahctl_get_daemon_info(c, &reply));
        {
                _json_ struct json_object *o = h_json(reply);
                int64_t v;
                ASSERT_STREQ(h_jstr(o, "version"), GUNYAHD_VERSION);
                ASSERT_STREQ(h_jstr(o, "rmLink.state"), "up");
                ASSERT_TRUE(json_object_get_boolean(h_jget(o, "rmLink.ready")));
                ASSERT_STREQ(h_jstr(o, "rmProfile"), "v17");
                ASSERT_TRUE(h_jint(o, "pool.size", &v) && v == (int64_t)H_POOL_SIZE);
                ASSERT_TRUE(h_jint(o, "vmCount", &v) && v == 0);
                ASSERT_TRUE(h_jint(o, "limits.maxMessageSize", &v) && v > 0);
                ASSERT_TRUE(json_object_is_type(h_jget(o, "capabilities"), json_type_array));
        }
        free(reply);

        /* ListVMs: empty */
        ASSERT_OK(gunyahctl_list_vms(c, &reply));
        ASSERT_STREQ(reply, "{\"vms\":[]}");
        free(reply);

        /* NoSuchVM from every method that takes a name */
        expect_error(c, gunyahctl_describe_vm(c, "ghost", NULL), -ENOENT, M "NoSuchVM");
        expect_error_param(c, "name", "ghost");
        expect_error(c, gunyahctl_start_vm(c, "ghost", NULL, NULL, NULL), -ENOENT, M "NoSuchVM");
        expect_error(c, gunyahctl_stop_vm(c, "ghost", false, 0, NULL), -ENOENT, M "NoSuchVM");
        expect_error(c, gunyahctl_destroy_vm(c, "ghost", NULL), -ENOENT, M "NoSuchVM");

        /* CreateVM with the kernel passed as an fd from outside the image dir */
        char kernel[256];
        snprintf(kernel, sizeof(kernel), "%s/outside-Image", h.dir);
        h_write_image(kernel, 3u << 20, false);
        int kfd = open(kernel, O_RDONLY | O_CLOEXEC);
        ASSERT_OK(kfd);
        struct gunyahctl_vm_spec spec;
        gunyahctl_vm_spec_init(&spec);
        spec.name = "vm1";
        spec.vcpus = 2;
        spec.memory_bytes = 64u << 20;
        spec.kernel_fd = kfd;
        spec.cmdline = "console=hvc0";
        ASSERT_OK(gunyahctl_create_vm(c, &spec, &reply));
        {
                _json_ struct json_object *o = h_json(reply);
                int64_t v;
                ASSERT_STREQ(h_jstr(o, "vm.name"), "vm1");
                ASSERT_STREQ(h_jstr(o, "vm.state"), "stopped");
                ASSERT_STREQ(h_jstr(o, "vm.bootConvention"), "none");
                ASSERT_STREQ(h_jstr(o, "vm.kernel"), "fd");
                ASSERT_STREQ(h_jstr(o, "vm.cmdline"), "console=hvc0");
                ASSERT_TRUE(h_jint(o, "vm.vcpus", &v) && v == 2);
                ASSERT_TRUE(h_jint(o, "vm.memory.size", &v) && v == 64 << 20);
                ASSERT_TRUE(h_jget(o, "vm.vmid") == NULL);
        }
        free(reply);

        /* VMExists */
        expect_error(c, gunyahctl_create_vm(c, &spec, NULL), -EEXIST, M "VMExists");
        expect_error_param(c, "name", "vm1");
        close(kfd);

        /* InvalidImage: a broken header, passed as an fd */
        char bad[256];
        snprintf(bad, sizeof(bad), "%s/bad-Image", h.dir);
        h_write_image(bad, 1u << 20, true);
        int bfd = open(bad, O_RDONLY | O_CLOEXEC);
        ASSERT_OK(bfd);
        gunyahctl_vm_spec_init(&spec);
        spec.name = "bad";
        spec.memory_bytes = 64u << 20;
        spec.kernel_fd = bfd;
        expect_error(c, gunyahctl_create_vm(c, &spec, NULL), -ENOEXEC, M "InvalidImage");
        expect_error_param(c, "parameter", "kernelFd");
        close(bfd);
        /* InvalidImage: a name in the image dir that is not there (opened at start) */
        gunyahctl_vm_spec_init(&spec);
        spec.name = "bad";
        spec.memory_bytes = 64u << 20;
        spec.kernel_path = "no-such-Image";
        ASSERT_OK(gunyahctl_create_vm(c, &spec, NULL));
        expect_error(c, gunyahctl_start_vm(c, "bad", NULL, NULL, NULL), -ENOEXEC,
                     M "InvalidImage");
        expect_error_param(c, "parameter", "kernel");
        ASSERT_OK(gunyahctl_destroy_vm(c, "bad", NULL));
        /* InvalidParameter: a name the IDL does not allow, a path leaving the image dir */
        spec.kernel_path = "Image";
        spec.name = "bad/name";
        expect_error(c, gunyahctl_create_vm(c, &spec, NULL), -EINVAL, S "InvalidParameter");
        expect_error_param(c, "parameter", "name");
        spec.name = "bad";
        spec.kernel_path = "../outside-Image";
        expect_error(c, gunyahctl_create_vm(c, &spec, NULL), -EINVAL, S "InvalidParameter");
        expect_error_param(c, "parameter", "kernel");

        /* StartVM with progress */
        Progress p = {};
        ASSERT_OK(gunyahctl_start_vm(c, "vm1", on_progress, &p, &reply));
        check_stage_order(&p);
        ASSERT_TRUE(p.lend_replies >= 1);
        ASSERT_TRUE(!p.bad_step);
        ASSERT_STREQ(p.stages[p.n - 1], "start");
        {
                _json_ struct json_object *o = h_json(reply);
                ASSERT_STREQ(h_jstr(o, "stage"), "running");
                ASSERT_STREQ(h_jstr(o, "vm.state"), "running");
                ASSERT_STREQ(h_jstr(o, "vm.bootConvention"), "v17");
        }
        free(reply);

        /* InvalidState: starting a running VM */
        expect_error(c, gunyahctl_start_vm(c, "vm1", NULL, NULL, NULL), -EBUSY,
                     M "InvalidState");
        expect_error_param(c, "name", "vm1");
        expect_error_param(c, "state", "running");

        /* DescribeVM while running */
        ASSERT_OK(gunyahctl_describe_vm(c, "vm1", &reply));
        {
                _json_ struct json_object *o = h_json(reply);
                int64_t vmid, lent;
                ASSERT_TRUE(h_jint(o, "vm.vmid", &vmid) && vmid > 0);
                ASSERT_STREQ(h_jstr(o, "vm.rmStatus"), "RUNNING");
                ASSERT_TRUE(h_jint(o, "vm.memory.lent", &lent) && lent > 0);
                ASSERT_TRUE(json_object_array_length(h_jget(o, "vm.parcels")) >= 1);
                ASSERT_STREQ(h_jstr(o, "vm.parcels.0.kind"), "image");
        }
        free(reply);

        /* ListVMs */
        ASSERT_OK(gunyahctl_list_vms(c, &reply));
        {
                _json_ struct json_object *o = h_json(reply);
                ASSERT_EQ(json_object_array_length(h_jget(o, "vms")), 1);
                ASSERT_STREQ(h_jstr(o, "vms.0.name"), "vm1");
                ASSERT_STREQ(h_jstr(o, "vms.0.state"), "running");
        }
        free(reply);

        /* StopVM (graceful), then again: a stopped VM stops successfully */
        ASSERT_OK(gunyahctl_stop_vm(c, "vm1", false, 10, &reply));
        {
                _json_ struct json_object *o = h_json(reply);
                ASSERT_STREQ(h_jstr(o, "vm.state"), "stopped");
        }
        free(reply);
        ASSERT_OK(gunyahctl_stop_vm(c, "vm1", true, 0, NULL));

        /* OutOfMemory: two VMs of 160 MiB in a 256 MiB pool */
        create_vm(&h, c, "big1", 160u << 20);
        create_vm(&h, c, "big2", 160u << 20);
        ASSERT_OK(gunyahctl_start_vm(c, "big1", NULL, NULL, NULL));
        expect_error(c, gunyahctl_start_vm(c, "big2", NULL, NULL, NULL), -ENOSPC,
                     M "OutOfMemory");
        /* requested and available are optional (?int); when given they must make sense */
        int64_t req, avail;
        if (gunyahctl_error_get_int(c, "requested", &req) >= 0)
                ASSERT_TRUE(req >= 160 << 20);
        if (gunyahctl_error_get_int(c, "available", &avail) >= 0)
                ASSERT_TRUE(avail < 160 << 20);
        /* the failed start left big2 startable: nothing half-allocated */
        ASSERT_OK(gunyahctl_destroy_vm(c, "big1", NULL));
        ASSERT_OK(gunyahctl_start_vm(c, "big2", NULL, NULL, NULL));
        ASSERT_OK(gunyahctl_destroy_vm(c, "big2", NULL));

        /* RMError: the RM refuses VM_START */
        ASSERT_OK(sim_client_callf(h.sim, "io.gunyah.Simulator.InjectFault",
                                   "{\"kind\":\"error\",\"msgId\":1442840580,\"error\":3}", NULL));
        expect_error(c, gunyahctl_start_vm(c, "vm1", NULL, NULL, NULL), -EREMOTEIO,
                     M "RMError");
        expect_error_param(c, "call", "VM_START");
        expect_error_param(c, "name", "DENIED");
        int64_t code;
        ASSERT_OK(gunyahctl_error_get_int(c, "code", &code));
        ASSERT_EQ(code, 3);

        /* org.varlink.service errors a client can meet */
        expect_error(c, gunyahctl_call(c, M "Monitor", NULL, NULL, 0, NULL, NULL, NULL), -EPROTO,
                     S "ExpectedMore");
        expect_error(c, gunyahctl_call(c, M "NoSuchMethod", NULL, NULL, 0, NULL, NULL, NULL),
                     -EOPNOTSUPP, S "MethodNotFound");
        expect_error(c, gunyahctl_call(c, "org.example.Nothing.Here", NULL, NULL, 0, NULL, NULL,
                                       NULL),
                     -EOPNOTSUPP, S "InterfaceNotFound");
        expect_error(c, gunyahctl_call(c, M "DescribeVM", "{\"name\":5}", NULL, 0, NULL, NULL,
                                       NULL),
                     -EINVAL, S "InvalidParameter");
        expect_error_param(c, "parameter", "name");

        /* CursorExpired: a cursor of another daemon run */
        ASSERT_OK(gunyahctl_monitor_begin(c, "0000000000000001:1"));
        char *ev = NULL;
        expect_error(c, gunyahctl_monitor_next(c, 30000000, &ev), -ESTALE, M "CursorExpired");
        expect_error_param(c, "cursor", "0000000000000001:1");

        /* Timeout: the RM stops answering */
        ASSERT_OK(sim_client_callf(h.sim, "io.gunyah.Simulator.InjectFault",
                                   "{\"kind\":\"stall\"}", NULL));
        expect_error(c, gunyahctl_start_vm(c, "vm1", NULL, NULL, NULL), -ETIME, M "Timeout");
        ASSERT_OK(sim_client_callf(h.sim, "io.gunyah.Simulator.ClearFaults", NULL, NULL));

        /* RMUnavailable: the RM is gone */
        ASSERT_EQ(sim_client_stop(h.sim), 0);
        for (int i = 0; i < 500; i++) {
                ASSERT_OK(gunyahctl_get_daemon_info(c, &reply));
                _json_ struct json_object *o = h_json(reply);
                free(reply);
                if (strcmp(h_jstr(o, "rmLink.state") ?: "", "down") == 0)
                        break;
                usleep(20000);
        }
        expect_error(c, gunyahctl_start_vm(c, "vm1", NULL, NULL, NULL), -EHOSTDOWN,
                     M "RMUnavailable");

        /* DestroyVM of a VM the RM never ran (no RM needed), then it is gone */
        create_vm(&h, c, "defined-only", 32u << 20);
        ASSERT_OK(gunyahctl_destroy_vm(c, "defined-only", NULL));
        expect_error(c, gunyahctl_describe_vm(c, "defined-only", NULL), -ENOENT, M "NoSuchVM");

        gunyahctl_disconnect(c);
        h_stop(&h);
}

/* Kernel and initrd both passed as fds in one call (indices 0 and 1), the VM boots, and
 * the fds stay the caller's. */
TEST(kernel_and_initrd_fds)
{
        Harness h;
        h_start(&h, NULL);
        gunyahctl *c = h_client(&h);
        char kernel[256], initrd[256], *reply = NULL;
        snprintf(kernel, sizeof(kernel), "%s/k", h.dir);
        snprintf(initrd, sizeof(initrd), "%s/i", h.dir);
        h_write_image(kernel, 2u << 20, false);
        FILE *f = fopen(initrd, "we");
        ASSERT_TRUE(f);
        for (int i = 0; i < 300000; i++)
                fputc(i & 0xff, f);
        ASSERT_EQ(fclose(f), 0);
        int kfd = open(kernel, O_RDONLY | O_CLOEXEC), ifd = open(initrd, O_RDONLY | O_CLOEXEC);
        ASSERT_OK(kfd);
        ASSERT_OK(ifd);
        struct gunyahctl_vm_spec spec;
        gunyahctl_vm_spec_init(&spec);
        spec.name = "both";
        spec.memory_bytes = 64u << 20;
        spec.kernel_fd = kfd;
        spec.initrd_fd = ifd;
        spec.transient = true;
        ASSERT_OK(gunyahctl_create_vm(c, &spec, &reply));
        {
                _json_ struct json_object *o = h_json(reply);
                ASSERT_STREQ(h_jstr(o, "vm.kernel"), "fd");
                ASSERT_STREQ(h_jstr(o, "vm.initrd"), "fd");
                ASSERT_TRUE(!json_object_get_boolean(h_jget(o, "vm.persistent")));
        }
        free(reply);
        ASSERT_OK(fcntl(kfd, F_GETFD));
        ASSERT_OK(fcntl(ifd, F_GETFD));
        close(kfd);
        close(ifd);
        /* the daemon holds its own copies: the VM starts after we closed ours */
        ASSERT_OK(gunyahctl_start_vm(c, "both", NULL, NULL, &reply));
        {
                _json_ struct json_object *o = h_json(reply);
                ASSERT_STREQ(h_jstr(o, "vm.state"), "running");
        }
        free(reply);
        ASSERT_OK(gunyahctl_destroy_vm(c, "both", NULL));
        gunyahctl_disconnect(c);
        h_stop(&h);
}

/* The open-source RM has no demand paging: a VM that needs it is refused before anything is
 * allocated, and the same VM without it boots with the open RM's convention. */
TEST(unsupported_on_open_rm)
{
        Harness h;
        HarnessOptions o = { .profile = "open-rm" };
        h_start(&h, &o);
        gunyahctl *c = h_client(&h);
        char path[256], *reply = NULL;
        h_image_in_dir(&h, "Image", 2u << 20, path, sizeof(path));
        ASSERT_OK(gunyahctl_get_daemon_info(c, &reply));
        {
                _json_ struct json_object *info = h_json(reply);
                ASSERT_STREQ(h_jstr(info, "rmProfile"), "open-rm");
        }
        free(reply);
        struct gunyahctl_vm_spec spec;
        gunyahctl_vm_spec_init(&spec);
        spec.name = "paged";
        spec.memory_bytes = 64u << 20;
        spec.kernel_path = "Image";
        spec.demand_paging = true;
        int r = gunyahctl_create_vm(c, &spec, NULL);
        if (r >= 0)
                r = gunyahctl_start_vm(c, "paged", NULL, NULL, NULL);
        expect_error(c, r, -EOPNOTSUPP, M "Unsupported");
        const char *reason = NULL;
        ASSERT_OK(gunyahctl_error_get_string(c, "reason", &reason));
        ASSERT_TRUE(strlen(reason) > 0);

        spec.name = "plain";
        spec.demand_paging = false;
        ASSERT_OK(gunyahctl_create_vm(c, &spec, NULL));
        ASSERT_OK(gunyahctl_start_vm(c, "plain", NULL, NULL, &reply));
        {
                _json_ struct json_object *vm = h_json(reply);
                ASSERT_STREQ(h_jstr(vm, "vm.state"), "running");
                ASSERT_STREQ(h_jstr(vm, "vm.bootConvention"), "open-rm");
        }
        free(reply);
        ASSERT_OK(gunyahctl_destroy_vm(c, "plain", NULL));
        gunyahctl_disconnect(c);
        h_stop(&h);
}

TEST_MAIN()
