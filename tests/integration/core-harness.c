/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core-harness.h"
#include "log.h"
#include "pool.h"
#include "test-image-header.h"
#include "test.h"
#include "vm-config.h"

const char *const core_profiles[2] = { "v17", "open-rm" };

uint64_t core_now_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void on_ready(Manager *m, int r, void *userdata)
{
        Core *c = userdata;
        ASSERT_OK(r);
        c->ready = true;
}

void core_manager_new(Core *c)
{
        ManagerOptions o = MANAGER_OPTIONS_INIT;

        o.rm_socket = sim_client_rm_path(c->sim);
        o.pool_file = sim_client_pool_path(c->sim);
        o.pool_ipa = sim_client_pool_ipa(c->sim);
        o.pool_size = sim_client_pool_size(c->sim);
        o.state_dir = c->state_dir;
        o.image_dir = c->image_dir;
        o.rpc_timeout_usec = c->opts.rpc_timeout_usec ? c->opts.rpc_timeout_usec : 5000000;
        o.stop_timeout_usec = c->opts.stop_timeout_usec ? c->opts.stop_timeout_usec : 2000000;
        c->ready = false;
        ASSERT_OK(manager_new(c->event, &o, &c->m));
        ASSERT_OK(manager_start(c->m, on_ready, c));
        core_run_until_flag(c, &c->ready, CORE_TIMEOUT_MS);
}

void core_manager_free(Core *c)
{
        c->m = manager_free(c->m);
        c->ready = false;
}

Core *core_new(const CoreOpts *o)
{
        Core *c = calloc(1, sizeof(*c));
        SimSpawnOptions so = {};
        char path[512];
        int fd;

        ASSERT_TRUE(c);
        if (o)
                c->opts = *o;
        if (!c->opts.profile)
                c->opts.profile = "v17";
        snprintf(c->dir, sizeof(c->dir), "/tmp/test-core-XXXXXX");
        ASSERT_TRUE(mkdtemp(c->dir));
        snprintf(c->state_dir, sizeof(c->state_dir), "%s/state", c->dir);
        snprintf(c->image_dir, sizeof(c->image_dir), "%s/images", c->dir);
        ASSERT_OK(mkdir(c->image_dir, 0700) < 0 ? -errno : 0);
        snprintf(path, sizeof(path), "%s/%s", c->image_dir, CORE_KERNEL);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(test_image_write_fd(fd, CORE_KERNEL_SIZE, &(TestImageOpts){}));
        close(fd);

        so.profile = c->opts.profile;
        so.pool_size = c->opts.pool_size ? c->opts.pool_size : (512ull << 20);
        so.guest_pace_ms = c->opts.guest_pace_ms;
        ASSERT_OK(sim_client_spawn(c->dir, &so, &c->sim));
        ASSERT_OK(sd_event_new(&c->event));
        if (!getenv("CORE_VERBOSE"))
                log_set_max_level(LOG_WARNING);
        if (!c->opts.no_manager)
                core_manager_new(c);
        return c;
}

void core_free(Core *c)
{
        char cmd[600];
        int st;

        if (!c)
                return;
        core_manager_free(c);
        st = sim_client_stop(c->sim);
        sim_client_free(c->sim);
        sd_event_unref(c->event);
        ASSERT_EQ(st, 0);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
        (void)system(cmd);
        free(c);
}

bool core_run_until(Core *c, bool (*pred)(Core *c, void *ud), void *ud, unsigned timeout_ms)
{
        uint64_t deadline = core_now_usec() + (uint64_t)timeout_ms * 1000;

        while (!pred(c, ud)) {
                if (core_now_usec() > deadline)
                        return false;
                ASSERT_OK(sd_event_run(c->event, 50 * 1000));
        }
        return true;
}

static bool flag_pred(Core *c, void *ud)
{
        return *(const bool *)ud;
}

void core_run_until_flag(Core *c, const bool *flag, unsigned timeout_ms)
{
        if (!core_run_until(c, flag_pred, (void *)flag, timeout_ms))
                TEST_FAIL_("timed out after %u ms", timeout_ms);
}

static bool never(Core *c, void *ud)
{
        return false;
}

void core_run_for(Core *c, unsigned ms)
{
        (void)core_run_until(c, never, NULL, ms);
}

Vm *core_create(Core *c, const char *name, uint64_t memory, unsigned vcpus, bool demand_paging)
{
        VmConfig cfg;
        ManagerError err = {};
        Vm *vm = NULL;
        int r;

        vm_config_init(&cfg);
        cfg.name = strdup(name);
        cfg.kernel = strdup(CORE_KERNEL);
        cfg.cmdline = strdup("console=hvc0");
        cfg.memory_size = memory;
        cfg.vcpus = vcpus;
        cfg.demand_paging = demand_paging;
        r = manager_vm_create(c->m, &cfg, true, NULL, &vm, &err);
        if (r < 0)
                TEST_FAIL_("create %s: %s", name, err.message);
        vm_config_done(&cfg);
        return vm;
}

typedef struct OpResult {
        bool done;
        int r;
        ManagerError err;
} OpResult;

static void op_done(Manager *m, Vm *vm, int r, const ManagerError *err, void *userdata)
{
        OpResult *res = userdata;
        res->done = true;
        res->r = r;
        if (err)
                res->err = *err;
}

static int op_wait(Core *c, int r, OpResult *res, ManagerError *err)
{
        if (r < 0) {
                if (err)
                        *err = res->err;
                return r;
        }
        core_run_until_flag(c, &res->done, CORE_TIMEOUT_MS);
        if (err)
                *err = res->err;
        return res->r;
}

int core_start(Core *c, Vm *vm, ManagerError *err)
{
        OpResult res = {};
        int r = manager_vm_start(c->m, vm, NULL, NULL, op_done, &res, NULL, &res.err);
        return op_wait(c, r, &res, err);
}

int core_stop(Core *c, Vm *vm, bool force, uint64_t timeout_usec, ManagerError *err)
{
        OpResult res = {};
        int r = manager_vm_stop(c->m, vm, force, timeout_usec, NULL, op_done, &res, NULL, &res.err);
        return op_wait(c, r, &res, err);
}

int core_destroy(Core *c, const char *name, ManagerError *err)
{
        OpResult res = {};
        Vm *vm = manager_vm_lookup(c->m, name);
        ASSERT_TRUE(vm);
        int r = manager_vm_destroy(c->m, vm, NULL, op_done, &res, NULL, &res.err);
        return op_wait(c, r, &res, err);
}

struct json_object *core_sim_state(Core *c)
{
        struct json_object *reply = NULL;
        ASSERT_OK(sim_client_call(c->sim, "io.gunyah.Simulator.GetState", NULL, &reply));
        return reply;
}

static size_t count_array(Core *c, const char *key)
{
        struct json_object *st = core_sim_state(c), *a;
        size_t n;

        ASSERT_TRUE(json_object_object_get_ex(st, key, &a));
        n = json_object_array_length(a);
        json_object_put(st);
        return n;
}

size_t core_sim_n_vms(Core *c)
{
        return count_array(c, "vms");
}

size_t core_sim_n_parcels(Core *c)
{
        return count_array(c, "parcels");
}

void core_assert_clean(Core *c)
{
        struct json_object *st = core_sim_state(c);
        size_t vms = json_object_array_length(json_object_object_get(st, "vms"));
        size_t parcels = json_object_array_length(json_object_object_get(st, "parcels"));
        if (vms || parcels)
                TEST_FAIL_("the RM still holds %zu VMs and %zu parcels: %s", vms, parcels,
                           json_object_to_json_string(st));
        json_object_put(st);
        if (c->m) {
                ManagerInfo info;
                manager_get_info(c->m, &info);
                ASSERT_EQ(info.pool_used, 0);
        }
}

static bool manager_has_parcel(Core *c, uint32_t handle, uint16_t *ret_vmid)
{
        for (Vm *vm = manager_vm_next(c->m, NULL); vm; vm = manager_vm_next(c->m, vm))
                for (size_t i = 0; i < vm_get_n_parcels(vm); i++)
                        if (vm_get_parcel(vm, i)->handle == handle) {
                                *ret_vmid = vm_get_vmid(vm);
                                return true;
                        }
        return false;
}

void core_assert_consistent(Core *c)
{
        struct json_object *st = core_sim_state(c);
        struct json_object *vms = json_object_object_get(st, "vms");
        struct json_object *parcels = json_object_object_get(st, "parcels");
        size_t n_vmids = 0, n_parcels = 0;
        uint64_t used = 0;
        ManagerInfo info;

        for (size_t i = 0; i < json_object_array_length(vms); i++) {
                int vmid = json_object_get_int(
                        json_object_object_get(json_object_array_get_idx(vms, i), "vmid"));
                Vm *vm = manager_vm_lookup_vmid(c->m, (uint16_t)vmid);
                if (!vm)
                        TEST_FAIL_("RM VMID %d unknown to the manager: %s", vmid,
                                   json_object_to_json_string(st));
        }
        for (size_t i = 0; i < json_object_array_length(parcels); i++) {
                int64_t h = json_object_get_int64(
                        json_object_object_get(json_object_array_get_idx(parcels, i), "handle"));
                uint16_t vmid = 0;
                if (!manager_has_parcel(c, (uint32_t)h, &vmid))
                        TEST_FAIL_("RM parcel 0x%" PRIx64 " unknown to the manager: %s", h,
                                   json_object_to_json_string(st));
        }
        for (Vm *vm = manager_vm_next(c->m, NULL); vm; vm = manager_vm_next(c->m, vm)) {
                if (vm_get_vmid(vm))
                        n_vmids++;
                for (size_t i = 0; i < vm_get_n_parcels(vm); i++) {
                        if (vm_get_parcel(vm, i)->handle != 0xFFFFFFFFu)
                                n_parcels++;
                        used += vm_get_parcel(vm, i)->size;
                }
        }
        ASSERT_EQ(n_vmids, json_object_array_length(vms));
        ASSERT_EQ(n_parcels, json_object_array_length(parcels));
        manager_get_info(c->m, &info);
        /* quarantined ranges stay reserved without belonging to a parcel any more */
        ASSERT_U64_EQ(info.pool_used, used + info.pool_quarantined);
        json_object_put(st);
}

int core_simf(Core *c, const char *method, const char *fmt, ...)
{
        char buf[1024], m[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        snprintf(m, sizeof(m), "io.gunyah.Simulator.%s", method);
        return sim_client_callf(c->sim, m, buf, NULL);
}
