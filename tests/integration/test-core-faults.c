/* SPDX-License-Identifier: MIT */
/*
 * Faults injected through the simulator's control socket at every step of start and
 * destroy: the manager answers with the RM error of that step, stays up, and afterwards the
 * simulator holds no VMID, parcel or accepted range the manager does not account for (after
 * a failed start: nothing at all).
 */
#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "core-harness.h"
#include "manager-internal.h"
#include "rm-error.h"
#include "rm-ids.h"
#include "test.h"

static const uint32_t start_steps[] = {
        RM_VM_ALLOCATE,         RM_MEM_LEND,         RM_MEM_APPEND,
        RM_VM_CONFIG_IMAGE,     RM_VM_SET_DEMAND_PAGING, RM_VM_SET_ADDRESS_LAYOUT,
        RM_VM_INIT,             RM_VM_SET_BOOT_CONTEXT, RM_VM_GET_HYP_RESOURCES,
        RM_VM_START,
};

static void inject(Core *c, uint32_t msg_id, uint32_t error)
{
        ASSERT_OK(core_simf(c, "InjectFault", "{\"kind\":\"error\",\"msgId\":%u,\"error\":%u}",
                            msg_id, error));
}

TEST(fault_at_every_start_step)
{
        for (unsigned p = 0; p < 2; p++) {
                bool v17 = p == 0;
                Core *c = core_new(&(CoreOpts){ .profile = core_profiles[p], .guest_pace_ms = 1 });
                ManagerError err = {};
                /* demand paging (v17 only) so that VM_SET_DEMAND_PAGING is on the path;
                 * a fragmented pool so that MEM_APPEND is too. */
                Vm *vm0 = core_create(c, "faulty", 32ull << 20, 1, v17);
                /* MEM_APPEND: a VM whose RAM becomes > 512 SGL entries (8192 granules). */
                Vm *big = core_create(c, "faulty-big", 32ull << 20, 1, false);

                for (size_t i = 0; i < sizeof(start_steps) / sizeof(start_steps[0]); i++) {
                        uint32_t id = start_steps[i];
                        if (!v17 && (id == RM_VM_SET_DEMAND_PAGING || id == RM_VM_SET_ADDRESS_LAYOUT ||
                                     id == RM_VM_SET_BOOT_CONTEXT))
                                continue; /* never sent to the open RM */
                        Vm *vm = id == RM_MEM_APPEND ? big : vm0;
                        pool_set_fragment_for_test(c->m->pool, id == RM_MEM_APPEND);
                        ASSERT_OK(core_simf(c, "ClearFaults", "{}"));
                        inject(c, id, RM_ERROR_NORESOURCE);
                        int r = core_start(c, vm, &err);
                        if (r != -EREMOTEIO || err.rm_msg_id != id)
                                TEST_FAIL_("fault at %s: r=%d, msg 0x%x: %s", rm_msg_id_to_string(id),
                                           r, err.rm_msg_id, err.message);
                        ASSERT_EQ(err.rm_error, RM_ERROR_NORESOURCE);
                        ASSERT_TRUE(strstr(vm_get_last_error(vm), rm_msg_id_to_string(id)) != NULL);
                        ASSERT_EQ(vm_get_state(vm), VM_STATE_STOPPED);
                        core_assert_clean(c);
                }
                pool_set_fragment_for_test(c->m->pool, false);
                ASSERT_OK(core_simf(c, "ClearFaults", "{}"));
                /* Still fully working afterwards. */
                Vm *vm = vm0;
                ASSERT_OK(core_start(c, vm, &err));
                ASSERT_OK(core_destroy(c, "faulty", &err));
                core_assert_clean(c);
                core_free(c);
        }
}

static const uint32_t destroy_steps[] = {
        RM_VM_GET_STATE, RM_VM_STOP, RM_VM_GET_CRASH_MSG, RM_VM_RESET, RM_MEM_RECLAIM, RM_VM_DEALLOCATE,
};

TEST(fault_at_every_destroy_step)
{
        for (unsigned p = 0; p < 2; p++) {
                Core *c = core_new(&(CoreOpts){ .profile = core_profiles[p], .guest_pace_ms = 1 });
                ManagerError err = {};

                for (size_t i = 0; i < sizeof(destroy_steps) / sizeof(destroy_steps[0]); i++) {
                        uint32_t id = destroy_steps[i];
                        Vm *vm = core_create(c, "doomed", 32ull << 20, 1, false);
                        ASSERT_OK(core_start(c, vm, &err));
                        inject(c, id, RM_ERROR_DENIED);
                        int r = core_destroy(c, "doomed", &err);
                        if (id == RM_VM_GET_CRASH_MSG) {
                                /* Exit details are best effort: destroy goes on. */
                                ASSERT_OK(r);
                        } else {
                                if (r != -EREMOTEIO || err.rm_msg_id != id)
                                        TEST_FAIL_("fault at %s: r=%d msg 0x%x: %s",
                                                   rm_msg_id_to_string(id), r, err.rm_msg_id,
                                                   err.message);
                                vm = manager_vm_lookup(c->m, "doomed");
                                ASSERT_TRUE(vm != NULL);
                                ASSERT_EQ(vm_get_state(vm), VM_STATE_FAILED);
                                /* What is left is exactly what the manager still records. */
                                core_assert_consistent(c);
                                ASSERT_OK(core_destroy(c, "doomed", &err));
                        }
                        ASSERT_TRUE(manager_vm_lookup(c->m, "doomed") == NULL);
                        core_assert_clean(c);
                }
                core_free(c);
        }
}

/*
 * Short enough that the lost-packet and stall cases end quickly, long enough that a call the
 * RM does answer (MEM_RECLAIM sanitizes the VM's memory in the simulator) never times out on a
 * loaded machine or under ASan: 400-500 ms did, in a CI pass running beside other work.
 */
#define FAULT_RPC_TIMEOUT_USEC (2000 * 1000)

static bool scan_over(Core *c, void *ud)
{
        return !c->m->syncing && !c->m->scan_needed;
}

TEST(lost_or_garbled_packets_during_start)
{
        static const char *const faults[] = {
                "{\"kind\":\"drop\",\"direction\":\"out\"}",   /* VM_ALLOCATE's reply */
                "{\"kind\":\"drop\",\"direction\":\"in\"}",    /* VM_ALLOCATE itself */
                "{\"kind\":\"corrupt\",\"direction\":\"out\"}", /* its VMID's top byte */
        };
        static const int expect[] = { -ETIMEDOUT, -ETIMEDOUT, -EBADMSG };

        for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
                CoreOpts o = { .guest_pace_ms = 1, .rpc_timeout_usec = FAULT_RPC_TIMEOUT_USEC };
                Core *c = core_new(&o);
                ManagerError err = {};
                Vm *vm = core_create(c, "lossy", 32ull << 20, 1, false);

                ASSERT_OK(core_simf(c, "InjectFault", "%s", faults[i]));
                int r = core_start(c, vm, &err);
                if (r != expect[i])
                        TEST_FAIL_("fault %s: r=%d: %s", faults[i], r, err.message);
                ASSERT_EQ(vm_get_state(vm), VM_STATE_STOPPED);
                /* An allocation whose answer was lost is found by the VMID scan. */
                ASSERT_TRUE(core_run_until(c, scan_over, NULL, CORE_TIMEOUT_MS));
                core_assert_clean(c);
                ASSERT_OK(core_start(c, vm, &err));
                ASSERT_OK(core_destroy(c, "lossy", &err));
                core_assert_clean(c);
                core_free(c);
        }
}

typedef struct CloseAt {
        Core *c;
        const char *stage;
        bool done;
        int r;
} CloseAt;

static void close_progress(Manager *m, Vm *vm, const ManagerProgress *p, void *userdata)
{
        CloseAt *k = userdata;
        if (strcmp(p->stage, k->stage) == 0)
                ASSERT_OK(core_simf(k->c, "InjectFault", "{\"kind\":\"close\"}"));
}

static void close_done(Manager *m, Vm *vm, int r, const ManagerError *err, void *userdata)
{
        CloseAt *k = userdata;
        k->done = true;
        k->r = r;
}

static bool settled(Core *c, void *ud)
{
        Vm *vm = ud;
        return c->m->link_state == MANAGER_LINK_UP && !c->m->syncing && c->m->caps_known &&
               vm_get_state(vm) == VM_STATE_STOPPED;
}

TEST(link_lost_during_start_then_resync)
{
        static const char *const stages[] = { "lend", "config-image", "init", "start" };

        for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++) {
                Core *c = core_new(&(CoreOpts){ .guest_pace_ms = 1 });
                ManagerError err = {};
                Vm *vm = core_create(c, "cut", 32ull << 20, 1, false);
                CloseAt k = { .c = c, .stage = stages[i] };

                ASSERT_OK(manager_vm_start(c->m, vm, NULL, close_progress, close_done, &k, NULL, &err));
                core_run_until_flag(c, &k.done, CORE_TIMEOUT_MS);
                if (k.r == 0) {
                        /* The RM answered VM_START before the link went: a running VM that
                         * the resync adopts. */
                        ASSERT_EQ(strcmp(stages[i], "start"), 0);
                        ASSERT_OK(core_destroy(c, "cut", &err));
                } else {
                        ASSERT_EQ(k.r, -ENOTCONN);
                        /* After the reconnect the resync releases what the RM holds. */
                        ASSERT_TRUE(core_run_until(c, settled, vm, CORE_TIMEOUT_MS));
                }
                core_assert_clean(c);
                core_free(c);
        }
}

TEST(rm_link_stall_and_close)
{
        Core *c = core_new(
                &(CoreOpts){ .guest_pace_ms = 1, .rpc_timeout_usec = FAULT_RPC_TIMEOUT_USEC });
        ManagerError err = {};
        Vm *vm = core_create(c, "stall", 32ull << 20, 1, false);

        /* The RM stops answering: the start fails with a timeout and stays unwound once the
         * RM answers again (the unwinding itself times out while stalled: FAILED, then the
         * next link-up / stop cleans it). */
        ASSERT_OK(core_simf(c, "InjectFault", "{\"kind\":\"stall\"}"));
        int r = core_start(c, vm, &err);
        ASSERT_EQ(r, -ETIMEDOUT);
        ASSERT_OK(core_simf(c, "ClearFaults", "{}"));
        ASSERT_TRUE(core_run_until(c, scan_over, NULL, CORE_TIMEOUT_MS));
        if (vm_get_state(vm) == VM_STATE_FAILED)
                ASSERT_OK(core_stop(c, vm, true, 0, &err));
        ASSERT_EQ(vm_get_state(vm), VM_STATE_STOPPED);
        core_assert_clean(c);

        /* The link closes under a running VM: the manager reconnects, resynchronizes and
         * still knows the VM. */
        ASSERT_OK(core_start(c, vm, &err));
        ASSERT_OK(core_simf(c, "InjectFault", "{\"kind\":\"close\"}"));
        core_run_for(c, 300);
        ManagerInfo info;
        for (int i = 0; i < 200; i++) {
                manager_get_info(c->m, &info);
                if (info.link == MANAGER_LINK_UP && info.caps_known && !c->m->syncing)
                        break;
                core_run_for(c, 50);
        }
        ASSERT_EQ(info.link, MANAGER_LINK_UP);
        ASSERT_EQ(vm_get_state(vm), VM_STATE_RUNNING);
        core_assert_consistent(c);
        ASSERT_OK(core_destroy(c, "stall", &err));
        core_assert_clean(c);
        core_free(c);
}

TEST_MAIN()
