/* SPDX-License-Identifier: MIT */
/* Scale limits against the simulator: 63 VMs at once (the RM's dynamic VMIDs) and the 64th
 * refused cleanly; a VM whose memory needs more than 512 SGL entries (MEM_APPEND). */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "core-harness.h"
#include "manager-internal.h"
#include "rm-error.h"
#include "rm-ids.h"
#include "test.h"

typedef struct Pending {
        unsigned done, ok;
} Pending;

static void start_done(Manager *m, Vm *vm, int r, const ManagerError *err, void *userdata)
{
        Pending *p = userdata;
        p->done++;
        if (r == 0)
                p->ok++;
        else
                fprintf(stderr, "start of %s failed: %s\n", vm_get_name(vm), err->message);
}

static bool all_done(Core *c, void *ud)
{
        Pending *p = ud;
        return p->done == 63;
}

TEST(sixty_three_vms_and_the_64th_refused)
{
        for (unsigned p = 0; p < 2; p++) {
                Core *c = core_new(&(CoreOpts){ .profile = core_profiles[p], .guest_pace_ms = 5,
                                                .pool_size = 1200ull << 20,
                                                .rpc_timeout_usec = 30 * 1000000ull });
                Pending pend = {};
                ManagerError err = {};
                char name[32];

                /* All 63 starts in flight at once: the per-VM queues interleave. */
                uint64_t t0 = core_now_usec();
                for (unsigned i = 0; i < 63; i++) {
                        snprintf(name, sizeof(name), "vm%02u", i);
                        Vm *vm = core_create(c, name, 16ull << 20, 1, false);
                        ASSERT_OK(manager_vm_start(c->m, vm, NULL, NULL, start_done, &pend, NULL, &err));
                }
                ASSERT_TRUE(core_run_until(c, all_done, &pend, 300000));
                ASSERT_EQ(pend.ok, 63);
                fprintf(stderr, "figure: %s: 63 concurrent starts (16 MiB each) in %.1f ms\n",
                        core_profiles[p], (core_now_usec() - t0) / 1000.0);
                ASSERT_EQ(core_sim_n_vms(c), 63);
                core_assert_consistent(c);

                Vm *extra = core_create(c, "vm63", 16ull << 20, 1, false);
                ASSERT_EQ(core_start(c, extra, &err), -EREMOTEIO);
                ASSERT_EQ(err.rm_msg_id, RM_VM_ALLOCATE);
                ASSERT_EQ(err.rm_error, RM_ERROR_NORESOURCE);
                ASSERT_EQ(vm_get_state(extra), VM_STATE_STOPPED);
                ASSERT_EQ(core_sim_n_vms(c), 63);
                core_assert_consistent(c);

                t0 = core_now_usec();
                for (unsigned i = 0; i < 64; i++) {
                        snprintf(name, sizeof(name), "vm%02u", i);
                        ASSERT_OK(core_destroy(c, name, &err));
                }
                fprintf(stderr, "figure: %s: 64 sequential destroys in %.1f ms\n",
                        core_profiles[p], (core_now_usec() - t0) / 1000.0);
                core_assert_clean(c);
                core_free(c);
        }
}

TEST(sgl_past_512_entries)
{
        for (unsigned p = 0; p < 2; p++) {
                Core *c = core_new(&(CoreOpts){ .profile = core_profiles[p], .guest_pace_ms = 1 });
                ManagerError err = {};
                Vm *vm = core_create(c, "shattered", 24ull << 20, 1, false);

                /* Every other granule: 6144 extents, 12 SGL messages (1 LEND + 11 APPEND). */
                pool_set_fragment_for_test(c->m->pool, true);
                uint64_t t0 = core_now_usec();
                ASSERT_OK(core_start(c, vm, &err));
                fprintf(stderr, "figure: %s: start with a 6144-entry SGL in %.1f ms\n",
                        core_profiles[p], (core_now_usec() - t0) / 1000.0);
                pool_set_fragment_for_test(c->m->pool, false);
                ASSERT_EQ(vm_get_state(vm), VM_STATE_RUNNING);
                ASSERT_EQ(vm_get_n_parcels(vm), 1);
                ASSERT_EQ(vm_get_parcel(vm, 0)->n_host, 6144);

                struct json_object *st = core_sim_state(c);
                struct json_object *parcels = json_object_object_get(st, "parcels");
                ASSERT_EQ(json_object_array_length(parcels), 1);
                struct json_object *pc = json_object_array_get_idx(parcels, 0);
                ASSERT_EQ(json_object_array_length(json_object_object_get(pc, "sgl")), 6144);
                ASSERT_STREQ(json_object_get_string(json_object_object_get(pc, "state")), "SHARED");
                json_object_put(st);
                core_assert_consistent(c);

                ASSERT_OK(core_destroy(c, "shattered", &err));
                core_assert_clean(c);
                core_free(c);
        }
}

TEST_MAIN()
