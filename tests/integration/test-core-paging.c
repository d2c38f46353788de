/* SPDX-License-Identifier: MIT */
/* Demand paging against the simulator: faults served, memory released and reclaimed; the
 * open RM refuses demand paging before anything is allocated. */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core-harness.h"
#include "manager-internal.h"
#include "pool.h"
#include "rm-error.h"
#include "rm-ids.h"
#include "rm-types.h"
#include "test.h"

typedef struct Want {
        Vm *vm;
        uint64_t served;
} Want;

static bool served(Core *c, void *ud)
{
        Want *w = ud;
        return vm_get_paging_stats(w->vm)->faults_served >= w->served;
}

static bool sim_unblocked(Core *c, void *ud)
{
        Vm *vm = ud;
        struct json_object *v = sim_client_get_vm(c->sim, vm_get_vmid(vm));
        struct json_object *f = v ? json_object_object_get(v, "blockedFaultIpa") : NULL;
        bool r = v && f == NULL;
        json_object_put(v);
        return r;
}

static size_t n_demand(Vm *vm)
{
        size_t n = 0;
        for (size_t i = 0; i < vm_get_n_parcels(vm); i++)
                n += vm_get_parcel(vm, i)->kind == VM_PARCEL_DEMAND;
        return n;
}

static bool reclaimed(Core *c, void *ud)
{
        return n_demand(ud) == 0;
}

TEST(demand_paging_v17)
{
        Core *c = core_new(&(CoreOpts){ .profile = "v17", .guest_pace_ms = 1 });
        ManagerError err = {};
        Vm *vm = core_create(c, "lazy", 128ull << 20, 2, true);

        ASSERT_OK(core_start(c, vm, &err));
        ASSERT_EQ(vm_get_n_parcels(vm), 1);
        uint64_t image = vm_get_parcel(vm, 0)->size;
        ASSERT_TRUE(image < (128ull << 20));
        uint64_t dp_base = vm_get_memory_base(vm) + image;

        /* Three faults in three different blocks, one twice. */
        uint64_t ipas[] = { dp_base + 0x1000, dp_base + (64ull << 20), vm_get_memory_base(vm) + (128ull << 20) - 8 };
        for (size_t i = 0; i < 3; i++) {
                ASSERT_OK(core_simf(c, "RaisePageFault", "{\"vmid\":%u,\"ipa\":%" PRIu64 ",\"write\":true}",
                                    vm_get_vmid(vm), ipas[i]));
                Want w = { vm, i + 1 };
                ASSERT_TRUE(core_run_until(c, served, &w, CORE_TIMEOUT_MS));
                ASSERT_TRUE(core_run_until(c, sim_unblocked, vm, CORE_TIMEOUT_MS));
        }
        /* A fault in a block already lent is not a fault for the simulator (covered). */
        ASSERT_TRUE(core_simf(c, "RaisePageFault", "{\"vmid\":%u,\"ipa\":%" PRIu64 "}",
                              vm_get_vmid(vm), ipas[0] + 0x2000) < 0);
        const VmPagingStats *st = vm_get_paging_stats(vm);
        ASSERT_EQ(st->faults_served, 3);
        ASSERT_EQ(st->faults_failed, 0);
        ASSERT_TRUE(st->bytes_lent > 0);
        ASSERT_TRUE(st->latency_max_usec > 0);
        ASSERT_EQ(n_demand(vm), 3);
        fprintf(stderr, "figure: 3 faults served, latency mean %.0f us, max %llu us, block %llu MiB\n",
                st->latency_total_usec / 3.0, (unsigned long long)st->latency_max_usec,
                (unsigned long long)(vm_get_parcel(vm, 1)->size >> 20));
        ASSERT_TRUE(vm_get_n_parcels(vm) <= 64);
        core_assert_consistent(c);

        /* The guest gives every demand-paged block back: reclaimed into the pool. */
        uint64_t lent = st->bytes_lent;
        for (size_t i = 0; i < vm_get_n_parcels(vm); i++) {
                const VmParcel *p = vm_get_parcel(vm, i);
                if (p->kind != VM_PARCEL_DEMAND)
                        continue;
                ASSERT_OK(core_simf(c, "GuestReleaseParcel", "{\"vmid\":%u,\"handle\":%u}",
                                    vm_get_vmid(vm), p->handle));
        }
        ASSERT_TRUE(core_run_until(c, reclaimed, vm, CORE_TIMEOUT_MS));
        ASSERT_EQ(st->bytes_lent, 0);
        ASSERT_U64_EQ(st->bytes_reclaimed, lent);
        core_assert_consistent(c);

        /* Fault again after the release: served again. */
        ASSERT_OK(core_simf(c, "RaisePageFault", "{\"vmid\":%u,\"ipa\":%" PRIu64 "}",
                            vm_get_vmid(vm), ipas[1]));
        Want w = { vm, 4 };
        ASSERT_TRUE(core_run_until(c, served, &w, CORE_TIMEOUT_MS));

        ASSERT_OK(core_destroy(c, "lazy", &err));
        core_assert_clean(c);
        core_free(c);
}

/* ---- pending lends: MEM_LEND without a usable answer, resolved with MEM_QCOM_LOOKUP_SGL ---- */

static bool block_settled(Core *c, void *ud)
{
        Vm *vm = ud;
        return vm_get_paging_stats(vm)->faults_failed >= 1 && !vm->n_calls;
}

static const VmParcel *pending_parcel(Vm *vm)
{
        for (size_t i = 0; i < vm_get_n_parcels(vm); i++)
                if (vm_get_parcel(vm, i)->pending)
                        return vm_get_parcel(vm, i);
        return NULL;
}

/* MEM_LEND refused (BUSY) leaves the outcome to be confirmed; MEM_QCOM_LOOKUP_SGL answered
 * with an RM error (DENIED) cannot tell: the block's pool range is quarantined, shown by
 * GetDaemonInfo (ManagerInfo), never handed out again, and survives the VM's destroy. */
TEST(pending_lend_lookup_refused_quarantines_the_range)
{
        Core *c = core_new(&(CoreOpts){ .profile = "v17", .guest_pace_ms = 1 });
        ManagerError err = {};
        ManagerInfo info;
        Vm *vm = core_create(c, "lazy", 128ull << 20, 1, true);

        ASSERT_OK(core_start(c, vm, &err));
        uint64_t dp_base = vm_get_memory_base(vm) + vm_get_parcel(vm, 0)->size;
        manager_get_info(c->m, &info);
        uint64_t used_running = info.pool_used;
        ASSERT_U64_EQ(info.pool_quarantined, 0);
        ASSERT_EQ(info.n_quarantined, 0);

        ASSERT_OK(core_simf(c, "InjectFault", "{\"kind\":\"error\",\"msgId\":%u,\"error\":%u}",
                            RM_MEM_LEND, RM_ERROR_BUSY));
        ASSERT_OK(core_simf(c, "InjectFault", "{\"kind\":\"error\",\"msgId\":%u,\"error\":%u}",
                            RM_MEM_QCOM_LOOKUP_SGL, RM_ERROR_DENIED));
        ASSERT_OK(core_simf(c, "RaisePageFault", "{\"vmid\":%u,\"ipa\":%" PRIu64 "}",
                            vm_get_vmid(vm), dp_base + 0x1000));
        ASSERT_TRUE(core_run_until(c, block_settled, vm, CORE_TIMEOUT_MS));
        core_run_for(c, 50);

        manager_get_info(c->m, &info);
        ASSERT_EQ(info.n_quarantined, 1);
        ASSERT_U64_EQ(info.pool_quarantined, vm->dp_block);
        ASSERT_U64_EQ(info.pool_used, used_running + vm->dp_block); /* still reserved */
        ASSERT_TRUE(pending_parcel(vm) == NULL);
        ASSERT_EQ(n_demand(vm), 0);
        ASSERT_EQ(core_sim_n_parcels(c), 1); /* the RM holds only the image parcel */
        core_assert_consistent(c);

        ASSERT_OK(core_simf(c, "ClearFaults", "{}"));
        ASSERT_OK(core_destroy(c, "lazy", &err));
        ASSERT_EQ(core_sim_n_vms(c), 0);
        ASSERT_EQ(core_sim_n_parcels(c), 0);
        manager_get_info(c->m, &info);
        ASSERT_U64_EQ(info.pool_used, info.pool_quarantined);
        ASSERT_EQ(info.n_quarantined, 1);
        core_free(c);
}

/* MEM_LEND and its MEM_QCOM_LOOKUP_SGL both lost (no answer: timeouts): the lend stays
 * pending (recorded, block busy, nothing quarantined); the destroy looks it up again, the RM
 * answers LOOKUP_FAILED (the lend never reached it) and the range goes back to the pool. */
TEST(pending_lend_unanswered_lookup_stays_pending)
{
        Core *c = core_new(&(CoreOpts){ .profile = "v17", .guest_pace_ms = 1,
                                        .rpc_timeout_usec = 2000000 });
        ManagerError err = {};
        ManagerInfo info;
        Vm *vm = core_create(c, "lazy", 128ull << 20, 1, true);

        ASSERT_OK(core_start(c, vm, &err));
        uint64_t dp_base = vm_get_memory_base(vm) + vm_get_parcel(vm, 0)->size;

        ASSERT_OK(core_simf(c, "InjectFault", "{\"kind\":\"drop\",\"direction\":\"in\",\"count\":2}"));
        ASSERT_OK(core_simf(c, "RaisePageFault", "{\"vmid\":%u,\"ipa\":%" PRIu64 "}",
                            vm_get_vmid(vm), dp_base + 0x1000));
        ASSERT_TRUE(core_run_until(c, block_settled, vm, CORE_TIMEOUT_MS));
        core_run_for(c, 50);

        const VmParcel *p = pending_parcel(vm);
        ASSERT_TRUE(p != NULL);
        ASSERT_TRUE(p->handle == RM_MEM_HANDLE_INVALID);
        ASSERT_TRUE(vm->blocks[0].pending); /* busy until resolved */
        manager_get_info(c->m, &info);
        ASSERT_EQ(info.n_quarantined, 0);
        ASSERT_U64_EQ(info.pool_quarantined, 0);
        ASSERT_EQ(core_sim_n_parcels(c), 1);
        char path[700], *rec = NULL;
        snprintf(path, sizeof(path), "%s/runtime/lazy.json", c->state_dir);
        struct json_object *j = json_object_from_file(path);
        ASSERT_TRUE(j != NULL);
        rec = strdup(json_object_to_json_string(j));
        json_object_put(j);
        ASSERT_TRUE(strstr(rec, "\"pending\":true") != NULL || strstr(rec, "\"pending\": true") != NULL);
        free(rec);

        ASSERT_OK(core_simf(c, "ClearFaults", "{}"));
        ASSERT_OK(core_destroy(c, "lazy", &err));
        manager_get_info(c->m, &info);
        ASSERT_EQ(info.n_quarantined, 0);
        core_assert_clean(c);
        core_free(c);
}

TEST(demand_paging_refused_on_open_rm)
{
        Core *c = core_new(&(CoreOpts){ .profile = "open-rm", .guest_pace_ms = 1 });
        ManagerError err = {};
        Vm *vm = core_create(c, "lazy", 64ull << 20, 1, true);

        ASSERT_EQ(core_start(c, vm, &err), -EOPNOTSUPP);
        ASSERT_TRUE(strstr(err.message, "demand paging") != NULL);
        ASSERT_EQ(vm_get_state(vm), VM_STATE_STOPPED);
        core_assert_clean(c);
        core_free(c);
}

TEST(image_parcel_released_by_guest)
{
        Core *c = core_new(&(CoreOpts){ .profile = "v17", .guest_pace_ms = 1 });
        ManagerError err = {};
        Vm *vm = core_create(c, "giver", 32ull << 20, 1, false);

        ASSERT_OK(core_start(c, vm, &err));
        ASSERT_OK(core_simf(c, "GuestReleaseParcel", "{\"vmid\":%u,\"handle\":%u}",
                            vm_get_vmid(vm), vm_get_parcel(vm, 0)->handle));
        for (int i = 0; i < 400 && vm_get_n_parcels(vm) > 0; i++)
                core_run_for(c, 25);
        ASSERT_EQ(vm_get_n_parcels(vm), 0);
        core_assert_consistent(c);
        ASSERT_OK(core_destroy(c, "giver", &err));
        core_assert_clean(c);
        core_free(c);
}

/* ---- a block the guest receives holds nothing of a former holder ---- */

static const VmParcel *first_demand(Vm *vm)
{
        for (size_t i = 0; i < vm_get_n_parcels(vm); i++)
                if (vm_get_parcel(vm, i)->kind == VM_PARCEL_DEMAND)
                        return vm_get_parcel(vm, i);
        return NULL;
}

/* Start a demand-paged VM and fault in the block at guest IPA ipa; its parcel. */
static const VmParcel *start_and_fault(Core *c, Vm *vm, uint64_t ipa)
{
        ManagerError err = {};

        ASSERT_OK(core_start(c, vm, &err));
        ASSERT_OK(core_simf(c, "RaisePageFault", "{\"vmid\":%u,\"ipa\":%" PRIu64 ",\"write\":true}",
                            vm_get_vmid(vm), ipa));
        Want w = { vm, 1 };
        ASSERT_TRUE(core_run_until(c, served, &w, CORE_TIMEOUT_MS));
        ASSERT_TRUE(core_run_until(c, sim_unblocked, vm, CORE_TIMEOUT_MS));
        const VmParcel *p = first_demand(vm);
        ASSERT_TRUE(p != NULL);
        return p;
}

/* Host memory of a parcel as the simulator (the RM, the guest) sees it in the pool file. */
static uint8_t *sim_host(Core *c, uint64_t ipa)
{
        uint8_t *pool = sim_client_pool(c->sim);
        ASSERT_TRUE(pool != NULL);
        return pool + (ipa - sim_client_pool_ipa(c->sim));
}

static void assert_parcel_zero(Core *c, const VmParcel *p)
{
        for (size_t i = 0; i < p->n_host; i++) {
                const uint8_t *h = sim_host(c, p->host[i].ipa);
                for (uint64_t k = 0; k < p->host[i].size; k++)
                        if (h[k] != 0) {
                                fprintf(stderr, "byte 0x%02x at host IPA 0x%" PRIx64 "\n", h[k],
                                        p->host[i].ipa + k);
                                ASSERT_TRUE(h[k] == 0);
                        }
        }
}

/*
 * VM "first" writes all over its demand-paged block and is destroyed (MEM_RECLAIM with
 * SANITIZE: the pool takes the range back clean, the daemon does not zero it again); VM
 * "second" faults the same block onto the same host range: it reads zero. Then the daemon
 * restarts and finds old data in the free range of the pool file (dirty, SEEK_DATA): VM
 * "third" gets that range zeroed.
 */
TEST(demand_block_is_zero_after_another_vm)
{
        Core *c = core_new(&(CoreOpts){ .profile = "v17", .guest_pace_ms = 1 });
        ManagerError err = {};
        Vm *a = core_create(c, "first", 128ull << 20, 1, true);
        uint64_t fault_ipa = vm_get_memory_base(a) + (64ull << 20) + 0x1000;

        const VmParcel *pa = start_and_fault(c, a, fault_ipa);
        ASSERT_TRUE(pa->n_host >= 1);
        uint64_t host_ipa = pa->host[0].ipa, host_size = pa->host[0].size;
        for (size_t i = 0; i < pa->n_host; i++) /* the guest writes */
                memset(sim_host(c, pa->host[i].ipa), 0xA5, pa->host[i].size);
        ASSERT_OK(core_destroy(c, "first", &err));
        /* the RM zeroed it; the pool knows */
        ASSERT_TRUE(!pool_is_dirty(c->m->pool, host_ipa, host_size));

        Vm *b = core_create(c, "second", 128ull << 20, 1, true);
        const VmParcel *pb = start_and_fault(c, b, fault_ipa);
        ASSERT_U64_EQ(pb->host[0].ipa, host_ipa); /* the same host range */
        assert_parcel_zero(c, pb);
        for (size_t i = 0; i < pb->n_host; i++)
                memset(sim_host(c, pb->host[i].ipa), 0x5A, pb->host[i].size);
        ASSERT_OK(core_destroy(c, "second", &err));
        core_assert_clean(c);

        /* old data in the pool file across a daemon restart */
        core_manager_free(c);
        memset(sim_host(c, host_ipa), 0xEE, host_size);
        core_manager_new(c);
        ASSERT_TRUE(pool_is_dirty(c->m->pool, host_ipa, 4096));
        Vm *t = core_create(c, "third", 128ull << 20, 1, true);
        const VmParcel *pt = start_and_fault(c, t, fault_ipa);
        ASSERT_U64_EQ(pt->host[0].ipa, host_ipa);
        assert_parcel_zero(c, pt);
        ASSERT_OK(core_destroy(c, "third", &err));
        core_assert_clean(c);
        core_free(c);
}

/* A sanitizing MEM_RECLAIM gives the range back clean only when the RM held the whole SGL:
 * a parcel sent with MEM_APPEND (over 512 entries) comes back dirty. */
TEST(sanitized_reclaim_is_clean_only_for_a_whole_sgl)
{
        Core *c = core_new(&(CoreOpts){ .profile = "v17", .guest_pace_ms = 1 });
        ManagerError err = {};
        Vm *vm = core_create(c, "whole", 32ull << 20, 1, false);

        ASSERT_OK(core_start(c, vm, &err));
        const VmParcel *p = vm_get_parcel(vm, 0);
        ASSERT_EQ(p->n_host, 1);
        uint64_t ipa = p->host[0].ipa, size = p->host[0].size;
        ASSERT_TRUE(pool_is_dirty(c->m->pool, ipa, size)); /* the image was written */
        ASSERT_OK(core_destroy(c, "whole", &err));
        ASSERT_TRUE(!pool_is_dirty(c->m->pool, ipa, size));

        pool_set_fragment_for_test(c->m->pool, true);
        vm = core_create(c, "split", 32ull << 20, 1, false);
        ASSERT_OK(core_start(c, vm, &err));
        p = vm_get_parcel(vm, 0);
        ASSERT_TRUE(p->n_host > 512);
        size_t n = p->n_host;
        PoolExtent *host = malloc(n * sizeof(*host));
        ASSERT_TRUE(host != NULL);
        memcpy(host, p->host, n * sizeof(*host));
        ASSERT_OK(core_destroy(c, "split", &err));
        for (size_t i = 0; i < n; i++)
                ASSERT_TRUE(pool_is_dirty(c->m->pool, host[i].ipa, host[i].size));
        free(host);
        pool_set_fragment_for_test(c->m->pool, false);
        core_assert_clean(c);
        core_free(c);
}

TEST_MAIN()
