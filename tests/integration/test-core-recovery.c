/* SPDX-License-Identifier: MIT */
/*
 * Persistence and recovery against the simulator:
 *  - a daemon restart adopts running VMs;
 *  - the daemon killed with SIGKILL at each step of a start (a forked child running its
 *    own manager on the same state dir and RM), then restarted: the RM and the pool end up
 *    consistent with the records, nothing leaks;
 *  - the RM restarted with its state lost: VMs marked lost, records and pool ranges cleaned;
 *    with its state kept: VMs still running after the resync;
 *  - corrupt records are quarantined, never fatal.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core-harness.h"
#include "manager-internal.h"
#include "rm-ids.h"
#include "rm-types.h"
#include "test.h"
#include "vm-config.h"

static bool state_is(Core *c, void *ud)
{
        Vm *vm = manager_vm_lookup(c->m, "victim");
        return vm && vm_get_state(vm) == *(VmState *)ud;
}

static void wait_victim(Core *c, VmState s)
{
        if (!core_run_until(c, state_is, &s, CORE_TIMEOUT_MS))
                TEST_FAIL_("victim never reached %s", vm_state_to_string(s));
}

static bool runtime_exists(Core *c, const char *name)
{
        char p[600];
        snprintf(p, sizeof(p), "%s/runtime/%s.json", c->state_dir, name);
        return access(p, F_OK) == 0;
}

TEST(daemon_restart_adopts_running_vms)
{
        for (unsigned p = 0; p < 2; p++) {
                Core *c = core_new(&(CoreOpts){ .profile = core_profiles[p], .guest_pace_ms = 1 });
                ManagerError err = {};
                Vm *vm = core_create(c, "victim", 32ull << 20, 2, false);
                ASSERT_OK(core_start(c, vm, &err));
                uint16_t vmid = vm_get_vmid(vm);
                ASSERT_TRUE(runtime_exists(c, "victim"));

                core_manager_free(c); /* the daemon exits; the VM keeps running in the RM */
                ASSERT_EQ(core_sim_n_vms(c), 1);
                core_manager_new(c);

                vm = manager_vm_lookup(c->m, "victim");
                ASSERT_TRUE(vm != NULL);
                ASSERT_EQ(vm_get_state(vm), VM_STATE_RUNNING);
                ASSERT_EQ(vm_get_vmid(vm), vmid);
                ASSERT_EQ(vm_get_boot_convention(vm), p == 0 ? VM_BOOT_V17 : VM_BOOT_OPEN_RM);
                core_assert_consistent(c);
                /* Adopted means fully manageable: a graceful stop works. */
                ASSERT_OK(core_stop(c, vm, false, 0, &err));
                core_assert_clean(c);
                ASSERT_TRUE(!runtime_exists(c, "victim"));
                core_free(c);
        }
}

static bool served2(Core *c, void *ud)
{
        return vm_get_paging_stats(ud)->faults_served >= 2;
}

TEST(restart_with_demand_paged_blocks_lent)
{
        Core *c = core_new(&(CoreOpts){ .guest_pace_ms = 1 });
        ManagerError err = {};
        Vm *vm = core_create(c, "victim", 64ull << 20, 1, true);
        ASSERT_OK(core_start(c, vm, &err));
        uint64_t dp = vm_get_memory_base(vm) + vm_get_parcel(vm, 0)->size;
        ASSERT_OK(core_simf(c, "RaisePageFault", "{\"vmid\":%u,\"ipa\":%llu}", vm_get_vmid(vm),
                            (unsigned long long)dp));
        for (int i = 0; i < 400 && vm_get_paging_stats(vm)->faults_served < 1; i++)
                core_run_for(c, 25);
        ASSERT_OK(core_simf(c, "RaisePageFault", "{\"vmid\":%u,\"ipa\":%llu}", vm_get_vmid(vm),
                            (unsigned long long)(dp + (40ull << 20))));
        ASSERT_TRUE(core_run_until(c, served2, vm, CORE_TIMEOUT_MS));
        ASSERT_EQ(vm_get_n_parcels(vm), 3);
        ManagerInfo before;
        manager_get_info(c->m, &before);

        core_manager_free(c);
        core_manager_new(c);
        vm = manager_vm_lookup(c->m, "victim");
        ASSERT_EQ(vm_get_state(vm), VM_STATE_RUNNING);
        ASSERT_EQ(vm_get_n_parcels(vm), 3);
        ManagerInfo after;
        manager_get_info(c->m, &after);
        ASSERT_U64_EQ(after.pool_used, before.pool_used); /* accounting rebuilt */
        core_assert_consistent(c);
        /* A new fault in another block is still served after the restart. */
        ASSERT_OK(core_simf(c, "RaisePageFault", "{\"vmid\":%u,\"ipa\":%llu}", vm_get_vmid(vm),
                            (unsigned long long)(dp + (20ull << 20))));
        for (int i = 0; i < 400 && vm_get_n_parcels(vm) < 4; i++)
                core_run_for(c, 25);
        ASSERT_EQ(vm_get_n_parcels(vm), 4);
        ASSERT_OK(core_destroy(c, "victim", &err));
        core_assert_clean(c);
        core_free(c);
}

/* ---- SIGKILL at each step of start ---- */

static const char *kill_stage;

static void child_progress(Manager *m, Vm *vm, const ManagerProgress *p, void *userdata)
{
        if (strcmp(p->stage, kill_stage) == 0)
                raise(SIGKILL);
}

static void child_done(Manager *m, Vm *vm, int r, const ManagerError *err, void *userdata)
{
        /* Reached only for the "running" case (or if the stage was never reported). */
        raise(SIGKILL);
}

static void child_ready(Manager *m, int r, void *userdata)
{
        *(bool *)userdata = true;
}

/* Latency hook: runs when a call completed, before its callback. */
static void kill_at_allocate_reply(RmClient *client, uint32_t msg_id, int r, uint64_t queue_usec,
                                   uint64_t rpc_usec, void *userdata)
{
        if (msg_id == RM_VM_ALLOCATE)
                raise(SIGKILL); /* the RM allocated; the VMID is not recorded yet */
}

static bool child_persistent = true, child_kill_at_allocate_reply;

static _Noreturn void child_main(Core *c, bool dp)
{
        ManagerOptions o = MANAGER_OPTIONS_INIT;
        sd_event *e = NULL;
        Manager *m = NULL;
        ManagerError err;
        VmConfig cfg;
        Vm *vm = NULL;
        bool ready = false;

        o.rm_socket = sim_client_rm_path(c->sim);
        o.pool_file = sim_client_pool_path(c->sim);
        o.pool_ipa = sim_client_pool_ipa(c->sim);
        o.pool_size = sim_client_pool_size(c->sim);
        o.state_dir = c->state_dir;
        o.image_dir = c->image_dir;
        if (sd_event_new(&e) < 0 || manager_new(e, &o, &m) < 0 || manager_start(m, child_ready, &ready) < 0)
                _exit(2);
        for (int i = 0; i < 2000 && !ready; i++)
                sd_event_run(e, 50000);
        if (!ready)
                _exit(3);
        if (child_kill_at_allocate_reply)
                rm_client_set_latency_hook(m->client, kill_at_allocate_reply, NULL);
        vm_config_init(&cfg);
        cfg.name = strdup("victim");
        cfg.kernel = strdup(CORE_KERNEL);
        cfg.memory_size = 64ull << 20;
        cfg.vcpus = 2;
        cfg.demand_paging = dp;
        if (manager_vm_create(m, &cfg, child_persistent, NULL, &vm, &err) < 0)
                _exit(4);
        if (manager_vm_start(m, vm, NULL, child_progress, child_done, NULL, NULL, &err) < 0)
                _exit(5);
        for (int i = 0; i < 2000; i++)
                sd_event_run(e, 50000);
        _exit(6);
}

static const char *const stages[] = {
        "allocate", "load-image", "lend", "config-image", "demand-paging", "address-layout",
        "init", "boot-context", "hyp-resources", "start", "running",
};

TEST(sigkill_at_each_start_step_then_recover)
{
        for (unsigned p = 0; p < 2; p++) {
                bool v17 = p == 0;
                for (size_t s = 0; s < sizeof(stages) / sizeof(stages[0]); s++) {
                        Core *c = core_new(&(CoreOpts){ .profile = core_profiles[p], .guest_pace_ms = 1,
                                                        .no_manager = true });
                        ManagerError err = {};
                        int status;
                        pid_t pid;

                        if (!v17 && strcmp(stages[s], "demand-paging") == 0) {
                                core_free(c);
                                continue;
                        }
                        kill_stage = stages[s];
                        fflush(NULL);
                        pid = fork();
                        ASSERT_TRUE(pid >= 0);
                        if (pid == 0)
                                child_main(c, v17);
                        ASSERT_EQ(waitpid(pid, &status, 0), pid);
                        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                                TEST_FAIL_("child at %s: status 0x%x", stages[s], status);

                        /* Restart: recovery must leave RM and pool consistent with records. */
                        core_manager_new(c);
                        Vm *vm = manager_vm_lookup(c->m, "victim");
                        ASSERT_TRUE(vm != NULL);
                        core_assert_consistent(c);
                        if (strcmp(stages[s], "running") == 0) {
                                ASSERT_EQ(vm_get_state(vm), VM_STATE_RUNNING);
                                ASSERT_EQ(core_sim_n_vms(c), 1);
                        } else {
                                if (vm_get_state(vm) != VM_STATE_STOPPED)
                                        TEST_FAIL_("after a kill at %s: %s", stages[s],
                                                   vm_state_to_string(vm_get_state(vm)));
                                core_assert_clean(c);
                                /* And it starts normally again. */
                                ASSERT_OK(core_start(c, vm, &err));
                        }
                        ASSERT_OK(core_destroy(c, "victim", &err));
                        core_assert_clean(c);
                        core_free(c);
                }
        }
}

/* A transient VM is kept only while it holds RM resources (manager.h): killed at any point
 * of its start before it runs, it must not come back as "stopped" after the restart. The
 * narrowest window: its definition is saved and the RM has answered VM_ALLOCATE, but the
 * VMID is not recorded (killed from rm-client's latency hook, which runs before the reply's
 * callback). The VMID scan cleans the allocation; the definition is forgotten. */
TEST(sigkill_during_transient_start_forgets_it)
{
        static const char *const points[] = { "allocate", "allocate-reply", "load-image", "lend" };
        char def[700];

        for (unsigned p = 0; p < 2; p++)
                for (size_t k = 0; k < sizeof(points) / sizeof(points[0]); k++) {
                        Core *c = core_new(&(CoreOpts){ .profile = core_profiles[p],
                                                        .guest_pace_ms = 1, .no_manager = true });
                        int status;
                        pid_t pid;

                        child_persistent = false;
                        child_kill_at_allocate_reply = strcmp(points[k], "allocate-reply") == 0;
                        kill_stage = child_kill_at_allocate_reply ? "none" : points[k];
                        fflush(NULL);
                        pid = fork();
                        ASSERT_TRUE(pid >= 0);
                        if (pid == 0)
                                child_main(c, false);
                        ASSERT_EQ(waitpid(pid, &status, 0), pid);
                        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                                TEST_FAIL_("child at %s: status 0x%x", points[k], status);
                        snprintf(def, sizeof(def), "%s/definitions/victim.json", c->state_dir);
                        if (strcmp(points[k], "allocate") != 0) {
                                /* the window is real: the definition is on disk */
                                ASSERT_TRUE(access(def, F_OK) == 0);
                        }
                        if (child_kill_at_allocate_reply)
                                ASSERT_EQ(core_sim_n_vms(c), 1); /* allocated, unrecorded */

                        core_manager_new(c);
                        if (manager_vm_lookup(c->m, "victim"))
                                TEST_FAIL_("%s profile, killed at %s: transient VM kept as %s",
                                           core_profiles[p],  points[k],
                                           vm_state_to_string(vm_get_state(
                                                   manager_vm_lookup(c->m, "victim"))));
                        ASSERT_TRUE(access(def, F_OK) != 0);
                        ASSERT_TRUE(!runtime_exists(c, "victim"));
                        core_assert_clean(c);
                        core_free(c);
                }
        child_persistent = true;
        child_kill_at_allocate_reply = false;
}

/* ---- RM restarts ---- */

TEST(rm_restart_state_lost)
{
        for (unsigned p = 0; p < 2; p++) {
                Core *c = core_new(&(CoreOpts){ .profile = core_profiles[p], .guest_pace_ms = 1 });
                ManagerError err = {};
                Vm *vm = core_create(c, "victim", 32ull << 20, 1, false);
                ASSERT_OK(core_start(c, vm, &err));

                ASSERT_OK(core_simf(c, "Restart", "{\"keepState\":false}"));
                wait_victim(c, VM_STATE_LOST);
                ASSERT_EQ(vm_get_vmid(vm), 0);
                ASSERT_EQ(vm_get_n_parcels(vm), 0);
                ASSERT_TRUE(!runtime_exists(c, "victim"));
                core_assert_clean(c);

                /* Once the resync is over, the VM starts again on the fresh RM. */
                for (int i = 0; i < 200 && (c->m->syncing || !c->m->caps_known); i++)
                        core_run_for(c, 25);
                ASSERT_OK(core_start(c, vm, &err));
                core_assert_consistent(c);
                ASSERT_OK(core_destroy(c, "victim", &err));
                core_assert_clean(c);
                core_free(c);
        }
}

TEST(rm_restart_state_kept)
{
        Core *c = core_new(&(CoreOpts){ .guest_pace_ms = 1 });
        ManagerError err = {};
        Vm *vm = core_create(c, "victim", 32ull << 20, 1, false);
        ASSERT_OK(core_start(c, vm, &err));
        uint16_t vmid = vm_get_vmid(vm);

        ASSERT_OK(core_simf(c, "Restart", "{\"keepState\":true}"));
        core_run_for(c, 200);
        for (int i = 0; i < 400 && (c->m->link_state != MANAGER_LINK_UP || c->m->syncing); i++)
                core_run_for(c, 25);
        ASSERT_EQ(vm_get_state(vm), VM_STATE_RUNNING);
        ASSERT_EQ(vm_get_vmid(vm), vmid);
        core_assert_consistent(c);
        ASSERT_OK(core_destroy(c, "victim", &err));
        core_assert_clean(c);
        core_free(c);
}

TEST(corrupt_records_quarantined)
{
        Core *c = core_new(&(CoreOpts){ .guest_pace_ms = 1 });
        ManagerError err = {};
        char p[700];
        int fd;

        core_create(c, "keeper", 32ull << 20, 1, false);
        core_manager_free(c);
        snprintf(p, sizeof(p), "%s/definitions/broken.json", c->state_dir);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, "{\"name\": 42", 11), 11);
        close(fd);
        snprintf(p, sizeof(p), "%s/runtime/keeper.json", c->state_dir);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, "garbage", 7), 7);
        close(fd);

        core_manager_new(c);
        Vm *vm = manager_vm_lookup(c->m, "keeper");
        ASSERT_TRUE(vm != NULL);
        ASSERT_TRUE(manager_vm_lookup(c->m, "broken") == NULL);
        snprintf(p, sizeof(p), "%s/quarantine", c->state_dir);
        ASSERT_TRUE(access(p, F_OK) == 0);
        ASSERT_OK(core_start(c, vm, &err));
        ASSERT_OK(core_destroy(c, "keeper", &err));
        core_assert_clean(c);
        core_free(c);
}

TEST_MAIN()
