/* SPDX-License-Identifier: MIT */
/* Core against the real simulator: lifecycle, exits, stop timeout, events, both profiles. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "core-harness.h"
#include "rm-types.h"
#include "vm-config.h"
#include "test.h"

static bool vm_state_is(Core *c, void *ud)
{
        const char *const *a = ud;
        Vm *vm = manager_vm_lookup(c->m, a[0]);
        return vm && strcmp(vm_state_to_string(vm_get_state(vm)), a[1]) == 0;
}

static void wait_state(Core *c, const char *name, const char *state)
{
        const char *a[2] = { name, state };
        if (!core_run_until(c, vm_state_is, a, CORE_TIMEOUT_MS))
                TEST_FAIL_("VM %s never reached %s", name, state);
}

typedef struct Collect {
        unsigned n;
        unsigned created, state, exited, destroyed;
        uint64_t last;
} Collect;

static void collect(const Event *ev, void *ud)
{
        Collect *k = ud;
        ASSERT_TRUE(ev->cursor > k->last);
        k->last = ev->cursor;
        k->n++;
        ASSERT_TRUE(ev->details != NULL);
        ASSERT_TRUE(event_kind_to_string(ev->kind) != NULL);
        if (ev->kind == EVENT_VM_CREATED)
                k->created++;
        if (ev->kind == EVENT_VM_STATE)
                k->state++;
        if (ev->kind == EVENT_VM_EXITED)
                k->exited++;
        if (ev->kind == EVENT_VM_DESTROYED)
                k->destroyed++;
}

TEST(lifecycle_both_profiles)
{
        for (unsigned p = 0; p < 2; p++) {
                Core *c = core_new(&(CoreOpts){ .profile = core_profiles[p], .guest_pace_ms = 1 });
                ManagerError err = {};
                ManagerInfo info;
                Collect live = {}, replay = {};
                EventSubscription *sub = NULL;

                manager_get_info(c->m, &info);
                ASSERT_TRUE(info.ready);
                ASSERT_TRUE(info.caps_known);
                ASSERT_STREQ(info.rm_profile, core_profiles[p]);
                ASSERT_STREQ(info.rm_transport, "socket");
                ASSERT_TRUE(info.rm_link && strstr(info.rm_link, "rm.sock"));
                ASSERT_U64_EQ(info.pool_largest_free, info.pool_size);
                ASSERT_OK(event_log_subscribe(manager_get_event_log(c->m), collect, &live, &sub));

                Vm *vm = core_create(c, "web1", 64ull << 20, 2, false);
                ASSERT_EQ(vm_get_state(vm), VM_STATE_STOPPED);
                uint64_t t0 = core_now_usec();
                ASSERT_OK(core_start(c, vm, &err));
                fprintf(stderr, "figure: %s: start of a 64 MiB VM in %.1f ms\n", core_profiles[p],
                        (core_now_usec() - t0) / 1000.0);
                ASSERT_EQ(vm_get_state(vm), VM_STATE_RUNNING);
                ASSERT_TRUE(vm_get_vmid(vm) >= 0x80);
                ASSERT_EQ(vm_get_boot_convention(vm), p == 0 ? VM_BOOT_V17 : VM_BOOT_OPEN_RM);
                ASSERT_EQ(vm_get_n_parcels(vm), 1);
                ASSERT_U64_EQ(vm_get_parcel(vm, 0)->size, 64ull << 20);
                ASSERT_TRUE(vm_get_parcel(vm, 0)->accepted);
                ASSERT_OK(sim_client_wait_vm_field(c->sim, vm_get_vmid(vm), "osStatusName", "RUN",
                                                   CORE_TIMEOUT_MS));
                core_assert_consistent(c);

                /* A second start is refused with the state. */
                ASSERT_EQ(core_start(c, vm, &err), -EBUSY);
                ASSERT_EQ(err.state, VM_STATE_RUNNING);

                /* Graceful stop: the guest shuts down, everything is given back. */
                ASSERT_OK(core_stop(c, vm, false, 0, &err));
                ASSERT_EQ(vm_get_state(vm), VM_STATE_STOPPED);
                ASSERT_TRUE(vm_get_exit(vm) != NULL);
                ASSERT_EQ(vm_get_vmid(vm), 0);
                core_assert_clean(c);

                /* Start again, destroy while running. */
                ASSERT_OK(core_start(c, vm, &err));
                ASSERT_OK(core_destroy(c, "web1", &err));
                ASSERT_TRUE(manager_vm_lookup(c->m, "web1") == NULL);
                core_assert_clean(c);

                ASSERT_TRUE(live.created == 1 && live.destroyed == 1 && live.state >= 8);
                ASSERT_TRUE(event_log_foreach_since(manager_get_event_log(c->m), 0, collect,
                                                    &replay) > 0);
                ASSERT_EQ(event_log_foreach_since(manager_get_event_log(c->m), live.last,
                                                  collect, &replay), 0);
                ASSERT_EQ(event_log_foreach_since(manager_get_event_log(c->m), live.last + 5,
                                                  collect, &replay), -ESTALE);
                event_subscription_free(sub);
                core_free(c);
        }
}

TEST(create_errors)
{
        Core *c = core_new(NULL);
        VmConfig cfg;
        ManagerError err = {};

        core_create(c, "dup", 32ull << 20, 1, false);
        vm_config_init(&cfg);
        cfg.name = strdup("dup");
        cfg.kernel = strdup(CORE_KERNEL);
        cfg.memory_size = 32ull << 20;
        ASSERT_EQ(manager_vm_create(c->m, &cfg, true, NULL, NULL, &err), -EEXIST);
        free(cfg.name);
        cfg.name = strdup("bad name!");
        ASSERT_EQ(manager_vm_create(c->m, &cfg, true, NULL, NULL, &err), -EINVAL);
        vm_config_done(&cfg);

        /* A kernel that is not there fails before any RM call. */
        vm_config_init(&cfg);
        cfg.name = strdup("nokernel");
        cfg.kernel = strdup("missing/Image");
        cfg.memory_size = 32ull << 20;
        Vm *vm = NULL;
        ASSERT_OK(manager_vm_create(c->m, &cfg, false, NULL, &vm, &err));
        vm_config_done(&cfg);
        ASSERT_EQ(core_start(c, vm, &err), -ENOEXEC);
        ASSERT_TRUE(strstr(err.message, "missing/Image") != NULL);
        core_assert_clean(c);
        core_free(c);
}

static const struct {
        const char *type;
        uint16_t number;
        int code;
        const char *crash;
} exits[] = {
        { "VM_EXIT", RM_EXIT_TYPE_VM_EXIT, 3, NULL },
        { "PLATFORM_OFF", RM_EXIT_TYPE_PLATFORM_OFF, -1, NULL },
        { "PLATFORM_RESET", RM_EXIT_TYPE_PLATFORM_RESET, -1, NULL },
        { "PSCI_SYSTEM_RESET2", RM_EXIT_TYPE_PSCI_SYSTEM_RESET2, -1, NULL },
        { "WATCHDOG_BITE", RM_EXIT_TYPE_WATCHDOG_BITE, -1, "watchdog: hung task" },
        { "SOFTWARE_ERROR", RM_EXIT_TYPE_SOFTWARE_ERROR, -1, "Kernel panic - not syncing" },
        { "ASYNC_HW_ERROR", RM_EXIT_TYPE_ASYNC_HW_ERROR, -1, NULL },
};

TEST(every_exit_type)
{
        Core *c = core_new(&(CoreOpts){ .guest_pace_ms = 1 });
        ManagerError err = {};
        Vm *vm = core_create(c, "exits", 32ull << 20, 1, false);

        for (size_t i = 0; i < sizeof(exits) / sizeof(exits[0]); i++) {
                char params[512];
                ASSERT_OK(core_start(c, vm, &err));
                int n = snprintf(params, sizeof(params), "{\"vmid\":%u,\"type\":\"%s\"",
                                 vm_get_vmid(vm), exits[i].type);
                if (exits[i].code >= 0)
                        n += snprintf(params + n, sizeof(params) - n, ",\"code\":%d,\"flags\":1",
                                      exits[i].code);
                if (exits[i].crash)
                        n += snprintf(params + n, sizeof(params) - n, ",\"crashMessage\":\"%s\"",
                                      exits[i].crash);
                if (exits[i].number == RM_EXIT_TYPE_PSCI_SYSTEM_RESET2)
                        n += snprintf(params + n, sizeof(params) - n,
                                      ",\"resetType\":1,\"cookie\":4660,\"smc64\":true");
                snprintf(params + n, sizeof(params) - n, "}");
                ASSERT_OK(sim_client_callf(c->sim, "io.gunyah.Simulator.GuestExit", params, NULL));
                wait_state(c, "exits", "stopped");
                const VmExit *ex = vm_get_exit(vm);
                ASSERT_TRUE(ex != NULL);
                ASSERT_EQ(ex->type, exits[i].number);
                if (exits[i].code >= 0) {
                        ASSERT_EQ(ex->code, exits[i].code);
                        ASSERT_EQ(ex->flags & 1, 1);
                }
                if (exits[i].crash) {
                        ASSERT_STREQ(ex->crash_msg, exits[i].crash);
                        /* a crash message turns a watchdog's default code into 1 */
                        if (exits[i].number == RM_EXIT_TYPE_WATCHDOG_BITE)
                                ASSERT_EQ(ex->code, 1);
                }
                if (exits[i].number == RM_EXIT_TYPE_PSCI_SYSTEM_RESET2) {
                        ASSERT_EQ(ex->n_reason, 4);
                        ASSERT_EQ(ex->reason[1], 1);
                        ASSERT_EQ(ex->reason[2], 4660);
                        ASSERT_TRUE(ex->flags & 0x8000);
                }
                core_assert_clean(c);
        }
        core_free(c);
}

TEST(graceful_stop_times_out_into_force)
{
        for (unsigned p = 0; p < 2; p++) {
                Core *c = core_new(&(CoreOpts){ .profile = core_profiles[p], .guest_pace_ms = 1 });
                ManagerError err = {};
                Vm *vm = core_create(c, "stubborn", 32ull << 20, 1, false);

                ASSERT_OK(core_start(c, vm, &err));
                ASSERT_OK(core_simf(c, "SetGuestIgnoreShutdown", "{\"vmid\":%u,\"ignore\":true}",
                                    vm_get_vmid(vm)));
                uint64_t t0 = core_now_usec();
                ASSERT_OK(core_stop(c, vm, false, 300 * 1000, &err));
                uint64_t dt = core_now_usec() - t0;
                ASSERT_TRUE(dt >= 300 * 1000);
                ASSERT_EQ(vm_get_state(vm), VM_STATE_STOPPED);
                ASSERT_EQ(vm_get_exit(vm)->type, RM_EXIT_TYPE_VM_STOP_FORCED);
                core_assert_clean(c);

                /* Force stop right away. */
                ASSERT_OK(core_start(c, vm, &err));
                ASSERT_OK(core_stop(c, vm, true, 0, &err));
                ASSERT_EQ(vm_get_exit(vm)->type, RM_EXIT_TYPE_VM_STOP_FORCED);
                core_assert_clean(c);
                core_free(c);
        }
}

typedef struct CauseCheck {
        unsigned api_events;
} CauseCheck;

static void check_api_cause(const Event *ev, void *ud)
{
        CauseCheck *k = ud;
        if (ev->cause.kind == EVENT_CAUSE_API) {
                ASSERT_EQ(ev->cause.uid, 4242);
                ASSERT_EQ(ev->cause.pid, 777);
                ASSERT_STREQ(ev->cause.method, "io.gunyah.Manager.StartVM");
                k->api_events++;
        }
}

static void done_flag(Manager *m, Vm *vm, int r, const ManagerError *err, void *userdata)
{
        ASSERT_OK(r);
        *(bool *)userdata = true;
}

TEST(transient_vm_fd_kernel_and_api_cause)
{
        Core *c = core_new(&(CoreOpts){ .guest_pace_ms = 1 });
        EventCause cause = { .kind = EVENT_CAUSE_API, .uid = 4242, .pid = 777,
                             .method = "io.gunyah.Manager.StartVM" };
        ManagerError err = {};
        CauseCheck k = {};
        EventSubscription *sub = NULL;
        VmConfig cfg;
        Vm *vm = NULL;
        char path[600];
        bool done = false;

        vm_config_init(&cfg);
        cfg.name = strdup("temp");
        cfg.kernel = strdup(VM_SOURCE_FD);
        cfg.memory_size = 32ull << 20;
        ASSERT_OK(manager_vm_create(c->m, &cfg, false, NULL, &vm, &err));
        vm_config_done(&cfg);
        snprintf(path, sizeof(path), "%s/definitions/temp.json", c->state_dir);
        ASSERT_TRUE(access(path, F_OK) < 0); /* transient: not on disk while stopped */

        /* No kernel fd yet: refused before any RM call. */
        ASSERT_EQ(core_start(c, vm, &err), -EBADF);
        snprintf(path, sizeof(path), "%s/%s", c->image_dir, CORE_KERNEL);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(manager_vm_set_sources(c->m, vm, fd, -1));
        close(fd);

        ASSERT_OK(event_log_subscribe(manager_get_event_log(c->m), check_api_cause, &k, &sub));
        ASSERT_OK(manager_vm_start(c->m, vm, &cause, NULL, done_flag, &done, NULL, &err));
        core_run_until_flag(c, &done, CORE_TIMEOUT_MS);
        ASSERT_TRUE(k.api_events >= 3); /* starting, progress..., running */
        event_subscription_free(sub);
        snprintf(path, sizeof(path), "%s/definitions/temp.json", c->state_dir);
        ASSERT_TRUE(access(path, F_OK) == 0); /* on disk while the RM holds it */

        ASSERT_OK(core_stop(c, vm, true, 0, &err));
        ASSERT_TRUE(access(path, F_OK) < 0);
        ASSERT_EQ(vm_get_state(vm), VM_STATE_STOPPED);
        /* The fd stays usable for the next start. */
        ASSERT_OK(core_start(c, vm, &err));
        ASSERT_OK(core_destroy(c, "temp", &err));
        core_assert_clean(c);
        core_free(c);
}

TEST_MAIN()
