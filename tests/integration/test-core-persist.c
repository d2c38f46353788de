/* SPDX-License-Identifier: MIT */
/*
 * Record writes that fail during a start (a full, read-only or failing state directory,
 * injected with store_set_write_fault_for_test()). A write that protects what the RM holds
 * (the VMID after VM_ALLOCATE, the pending lend before MEM_LEND, the handle after the
 * MEM_LEND reply, a transient VM's definition before VM_ALLOCATE) fails the start with -EIO
 * and a message naming the file, and the start is unwound: the simulator holds nothing and
 * no record stays. A write that only records progress (the pool ranges after loading, the
 * status after VM_START) is logged and the start goes on.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core-harness.h"
#include "manager-internal.h"
#include "store.h"
#include "test.h"

static bool record_exists(Core *c, const char *sub, const char *name)
{
        char p[600];

        snprintf(p, sizeof(p), "%s/%s/%s.json", c->state_dir, sub, name);
        return access(p, F_OK) == 0;
}

/* The runtime record writes of a start, in order (persistent VM, image parcel only). */
static const struct {
        const char *what; /* NULL: progress only, the start goes on */
} start_writes[] = {
        { "after VM_ALLOCATE" },
        /* (no write after step_load: the pool ranges are not recorded until the pending
         * lend is, see manager-start.c) */
        { "before MEM_LEND" },
        { "after the MEM_LEND reply" },
        { NULL }, /* RUNNING after VM_START */
};

static unsigned start_write(const char *what)
{
        for (unsigned k = 0; k < ELEMENTSOF(start_writes); k++)
                if (start_writes[k].what && strcmp(start_writes[k].what, what) == 0)
                        return k;
        TEST_FAIL_("no start write %s", what);
        return 0;
}

static void expect_undone(Core *c, Vm *vm, int r, const ManagerError *err, const char *what,
                          const char *file)
{
        if (r != -EIO || !strstr(err->message, file) || !strstr(err->message, what) ||
            !strstr(err->message, strerror(ENOSPC)))
                TEST_FAIL_("expected -EIO naming %s %s: r=%d: %s", file, what, r, err->message);
        ASSERT_EQ(err->rm_msg_id, 0);
        ASSERT_EQ(vm_get_state(vm), VM_STATE_STOPPED);
        ASSERT_TRUE(strstr(vm_get_last_error(vm), file) != NULL);
        core_assert_clean(c);
}

TEST(one_failed_write_at_each_start_save)
{
        for (unsigned p = 0; p < 2; p++) {
                Core *c = core_new(&(CoreOpts){ .profile = core_profiles[p], .guest_pace_ms = 1 });
                ManagerError err = {};
                Vm *vm = core_create(c, "persist", 32ull << 20, 1, false);

                for (unsigned k = 0; k < ELEMENTSOF(start_writes); k++) {
                        store_set_write_fault_for_test(-ENOSPC, k, 1);
                        int r = core_start(c, vm, &err);
                        store_set_write_fault_for_test(0, 0, 0);
                        if (start_writes[k].what) {
                                expect_undone(c, vm, r, &err, start_writes[k].what,
                                              "runtime/persist.json");
                                ASSERT_TRUE(!record_exists(c, "runtime", "persist"));
                                continue;
                        }
                        if (r < 0)
                                TEST_FAIL_("write %u failed the start: %s", k, err.message);
                        ASSERT_EQ(vm_get_state(vm), VM_STATE_RUNNING);
                        /* the next write brought the record up to date */
                        if (k < ELEMENTSOF(start_writes) - 1)
                                ASSERT_TRUE(record_exists(c, "runtime", "persist"));
                        core_assert_consistent(c);
                        ASSERT_OK(core_stop(c, vm, true, 0, &err));
                        core_assert_clean(c);
                }
                /* the definition survived all of it */
                ASSERT_TRUE(record_exists(c, "definitions", "persist"));
                ASSERT_OK(core_start(c, vm, &err));
                ASSERT_OK(core_destroy(c, "persist", &err));
                core_assert_clean(c);
                core_free(c);
        }
}

TEST(state_dir_full_from_each_start_save_on)
{
        Core *c = core_new(&(CoreOpts){ .guest_pace_ms = 1 });
        ManagerError err = {};
        Vm *vm = core_create(c, "full", 32ull << 20, 1, false);

        for (unsigned k = 0; k < ELEMENTSOF(start_writes); k++) {
                /* every write from the k-th on fails, the unwind's too (deletes work) */
                store_set_write_fault_for_test(-ENOSPC, k, 0);
                int r = core_start(c, vm, &err);
                if (start_writes[k].what)
                        expect_undone(c, vm, r, &err, start_writes[k].what, "runtime/full.json");
                else {
                        ASSERT_OK(r);
                        ASSERT_OK(core_stop(c, vm, true, 0, &err));
                        core_assert_clean(c);
                }
                store_set_write_fault_for_test(0, 0, 0);
                ASSERT_TRUE(!record_exists(c, "runtime", "full"));
        }
        ASSERT_OK(core_destroy(c, "full", &err));
        core_assert_clean(c);
        core_free(c);
}

TEST(handle_write_fails_while_appends_remain)
{
        /* A fragmented pool: the SGL needs MEM_LEND + MEM_APPENDs; the handle write after
         * MEM_LEND fails, the parcel is still open in the RM and must be reclaimed. */
        Core *c = core_new(&(CoreOpts){ .guest_pace_ms = 1 });
        ManagerError err = {};
        Vm *vm = core_create(c, "frag", 32ull << 20, 1, false);

        pool_set_fragment_for_test(c->m->pool, true);
        store_set_write_fault_for_test(-ENOSPC, start_write("after the MEM_LEND reply"), 1);
        int r = core_start(c, vm, &err);
        store_set_write_fault_for_test(0, 0, 0);
        expect_undone(c, vm, r, &err, "after the MEM_LEND reply", "runtime/frag.json");
        ASSERT_OK(core_start(c, vm, &err));
        ASSERT_TRUE(vm_get_parcel(vm, 0)->n_host > 512);
        ASSERT_OK(core_destroy(c, "frag", &err));
        core_assert_clean(c);
        core_free(c);
}

TEST(transient_definition_write_fails_before_allocate)
{
        Core *c = core_new(&(CoreOpts){ .guest_pace_ms = 1 });
        ManagerError err = {};
        VmConfig cfg;
        Vm *vm = NULL;

        vm_config_init(&cfg);
        cfg.name = strdup("transient");
        cfg.kernel = strdup(CORE_KERNEL);
        cfg.memory_size = 32ull << 20;
        cfg.vcpus = 1;
        ASSERT_OK(manager_vm_create(c->m, &cfg, false, NULL, &vm, &err));
        vm_config_done(&cfg);
        store_set_write_fault_for_test(-ENOSPC, 0, 1);
        int r = core_start(c, vm, &err);
        store_set_write_fault_for_test(0, 0, 0);
        if (r != -EIO || !strstr(err.message, "definitions/transient.json") ||
            !strstr(err.message, "before VM_ALLOCATE"))
                TEST_FAIL_("r=%d: %s", r, err.message);
        core_assert_clean(c);
        ASSERT_TRUE(!record_exists(c, "runtime", "transient"));
        ASSERT_TRUE(!record_exists(c, "definitions", "transient"));
        core_free(c);
}

/* ---- demand paging: the fault's two writes (pending lend, handle) ---- */

static size_t n_demand(Vm *vm)
{
        size_t n = 0;

        for (size_t i = 0; i < vm_get_n_parcels(vm); i++)
                n += vm_get_parcel(vm, i)->kind == VM_PARCEL_DEMAND;
        return n;
}

typedef struct Settled {
        Vm *vm;
        uint64_t failed, served;
} Settled;

static bool fault_settled(Core *c, void *ud)
{
        Settled *s = ud;
        const VmPagingStats *st = vm_get_paging_stats(s->vm);

        return st->faults_failed >= s->failed && st->faults_served >= s->served &&
               !s->vm->n_calls;
}

TEST(fault_record_write_fails)
{
        Core *c = core_new(&(CoreOpts){ .profile = "v17", .guest_pace_ms = 1 });

        /* write 0: the pending lend (MEM_LEND not sent); write 1: the handle (reclaimed).
         * A fresh VM each time: the simulated guest stays blocked on a fault not served. */
        for (unsigned k = 0; k < 2; k++) {
                ManagerError err = {};
                ManagerInfo info;
                Vm *vm = core_create(c, "lazy", 128ull << 20, 1, true);
                Settled s = { vm, 1, 0 };

                ASSERT_OK(core_start(c, vm, &err));
                uint64_t dp_base = vm_get_memory_base(vm) + vm_get_parcel(vm, 0)->size;
                manager_get_info(c->m, &info);
                uint64_t used_running = info.pool_used;

                store_set_write_fault_for_test(-ENOSPC, k, 1);
                ASSERT_OK(core_simf(c, "RaisePageFault", "{\"vmid\":%u,\"ipa\":%" PRIu64 "}",
                                    vm_get_vmid(vm), dp_base + 0x1000));
                ASSERT_TRUE(core_run_until(c, fault_settled, &s, CORE_TIMEOUT_MS));
                core_run_for(c, 50);
                store_set_write_fault_for_test(0, 0, 0);
                ASSERT_EQ(vm_get_paging_stats(vm)->faults_served, 0);
                ASSERT_EQ(n_demand(vm), 0);
                ASSERT_EQ(core_sim_n_parcels(c), 1); /* only the image parcel */
                manager_get_info(c->m, &info);
                ASSERT_U64_EQ(info.pool_used, used_running);
                core_assert_consistent(c);
                ASSERT_OK(core_destroy(c, "lazy", &err));
                core_assert_clean(c);
        }
        core_free(c);
}

TEST_MAIN()
