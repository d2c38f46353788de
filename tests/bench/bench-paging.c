/* SPDX-License-Identifier: MIT */
/*
 * Figure "paging": demand-paging fault service. gunyahd side: RaisePageFault on the
 * simulator's control socket, until the daemon's Monitor stream reports the fault served
 * (event vm-page-fault, sent at MEM_ACCEPTED). Baseline, interleaved fault by fault: the
 * same control-socket round trip (SetGuestPace) plus four bare VM_GET_STATE round trips on
 * a twin simulator (the RM work of a fault is MEM_LEND, MEM_NOTIFY, the guest's MEM_ACCEPT
 * and the MEM_ACCEPTED notification).
 */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-bare.h"
#include "bench-vm.h"
#include "bench.h"
#include "gunyahctl.h"
#include "sim-client.h"

#define FAULTS_PER_VM 32u

static int64_t jget_int(struct json_object *o, const char *path)
{
        char buf[128], *save = NULL;
        struct json_object *x = o;

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
                if (!json_object_object_get_ex(x, k, &x))
                        return -1;
        return json_object_get_int64(x);
}

/* The demand-paged region of a VM: after its image parcel, to the end of RAM. */
static int vm_layout(gunyahctl *h, const char *name, uint16_t *vmid, uint64_t *start,
                     uint64_t *end)
{
        char *reply = NULL;
        struct json_object *o, *vm, *parcels;
        int r = gunyahctl_describe_vm(h, name, &reply);

        if (r < 0)
                return r;
        o = json_tokener_parse(reply);
        free(reply);
        if (!o || !json_object_object_get_ex(o, "vm", &vm)) {
                json_object_put(o);
                return -EBADMSG;
        }
        *vmid = (uint16_t)jget_int(vm, "vmid");
        *end = (uint64_t)jget_int(vm, "memory.base") + (uint64_t)jget_int(vm, "memory.size");
        *start = 0;
        if (json_object_object_get_ex(vm, "parcels", &parcels))
                for (size_t i = 0; i < json_object_array_length(parcels); i++) {
                        struct json_object *p = json_object_array_get_idx(parcels, i), *k;
                        if (json_object_object_get_ex(p, "kind", &k) &&
                            !strcmp(json_object_get_string(k), "image"))
                                *start = (uint64_t)jget_int(p, "ipa") + (uint64_t)jget_int(p, "size");
                }
        json_object_put(o);
        return *start && *end > *start ? 0 : -EBADMSG;
}

/* Read Monitor events until one of kind for vm: 0 with its details in buf, < 0 error. */
static int wait_vm_event(gunyahctl *mon, const char *vm, const char *kind, char *buf, size_t size)
{
        for (;;) {
                char *ev = NULL;
                int r = gunyahctl_monitor_next(mon, 10000000, &ev);
                if (r <= 0)
                        return r < 0 ? r : -ECONNRESET;
                struct json_object *o = json_tokener_parse(ev), *e, *k, *v, *d;
                free(ev);
                bool found = o && json_object_object_get_ex(o, "event", &e) &&
                             json_object_object_get_ex(e, "kind", &k) &&
                             !strcmp(json_object_get_string(k), kind) &&
                             json_object_object_get_ex(e, "vm", &v) &&
                             !strcmp(json_object_get_string(v), vm);
                if (found)
                        snprintf(buf, size, "%s",
                                 json_object_object_get_ex(e, "details", &d) ? json_object_get_string(d) : "");
                json_object_put(o);
                if (found)
                        return 0;
        }
}

/* Wait for the vm-page-fault event of vm. 1 served, 0 not served, < 0 error. */
static int wait_fault_event(gunyahctl *mon, const char *vm)
{
        char details[256];
        int r = wait_vm_event(mon, vm, "vm-page-fault", details, sizeof(details));

        return r < 0 ? r : !strstr(details, "not served");
}

/* Wait for the guest of vm to reach os RUN (its last boot step): the simulated guest walks
 * EARLY_BOOT -> BOOT -> RUN one pace (5 ms) apart after VM_START, and each step is an RM
 * notification, a record write and a Monitor event. Faults raised meanwhile would share the
 * daemon's, the simulator's and this process's time with that traffic, which the baseline's
 * twin simulator (no VM) never has: both sides are measured on a settled system. */
static int wait_guest_running(gunyahctl *mon, const char *vm)
{
        char details[256];

        for (;;) {
                int r = wait_vm_event(mon, vm, "vm-rm-status", details, sizeof(details));
                if (r < 0 || strstr(details, "os RUN"))
                        return r;
        }
}

typedef struct Twin {
        SimClient *sim;
        BareProbe p;
} Twin;

static int twin_op(Twin *t)
{
        int r = sim_client_callf(t->sim, "io.gunyah.Simulator.SetGuestPace", "{\"ms\":0}", NULL);

        for (int i = 0; r >= 0 && i < 4; i++)
                r = bare_probe_op(&t->p);
        return r;
}

void fig_paging(void)
{
        const unsigned n_vms = bench_cfg.smoke ? 1 : 8;
        Stack st = { 0 };
        Twin tw = { .p.b.fd = -1 };
        gunyahctl *h = NULL, *mon = NULL;
        Samples sa = { 0 }, sb = { 0 };
        char *tdir = NULL;
        int r;

        if (!bench_selected("paging"))
                return;
        r = stack_open(&st, "paging", 1ull << 30, 0);
        tdir = bench_subdir("paging-twin");
        if (r >= 0)
                r = tdir ? bench_sim_spawn(tdir, 1ull << 30, &tw.sim) : -errno;
        if (r >= 0)
                r = bare_probe_open(&tw.p, sim_client_rm_path(tw.sim));
        if (r >= 0)
                r = gunyahctl_connect(&h, st.d.api);
        if (r >= 0)
                r = gunyahctl_connect(&mon, st.d.api);
        if (r >= 0)
                r = gunyahctl_monitor_begin(mon, NULL);
        if (r >= 0) {
                char *snap = NULL;
                r = gunyahctl_monitor_next(mon, 10000000, &snap); /* the snapshot */
                free(snap);
        }
        if (r < 0) {
                bench_fail("paging", "setup: %s", strerror(-r));
                goto out;
        }
        int64_t daemon_mean = -1, daemon_max = -1;
        for (unsigned v = 0; v < n_vms && r >= 0; v++) {
                char name[32];
                uint16_t vmid;
                uint64_t start, end;
                snprintf(name, sizeof(name), "dp%u", v);
                r = vm_create(h, name, 128u << 20, true);
                if (r >= 0)
                        r = gunyahctl_start_vm(h, name, NULL, NULL, NULL);
                if (r >= 0)
                        r = wait_guest_running(mon, name);
                if (r >= 0)
                        r = vm_layout(h, name, &vmid, &start, &end);
                if (r < 0) {
                        bench_fail("paging", "VM %s: %s (%s)", name, strerror(-r),
                                   gunyahctl_error_name(h) ?: "-");
                        break;
                }
                uint64_t step = ((end - start) / FAULTS_PER_VM) & ~4095ull;
                for (unsigned i = 0; i < FAULTS_PER_VM; i++) {
                        char params[96];
                        snprintf(params, sizeof(params), "{\"vmid\":%u,\"ipa\":%llu}", vmid,
                                 (unsigned long long)(start + i * step + 4096));
                        bool warm = v == 0 && i < 2;
                        uint64_t t0 = bench_now_ns();
                        r = sim_client_callf(st.sim, "io.gunyah.Simulator.RaisePageFault", params, NULL);
                        if (r >= 0)
                                r = wait_fault_event(mon, name);
                        uint64_t t1 = bench_now_ns();
                        if (r <= 0) {
                                bench_fail("paging", "fault %u of %s: %s", i, name,
                                           r == 0 ? "not served" : strerror(-r));
                                r = -EIO;
                                break;
                        }
                        if (!warm)
                                samples_add(&sa, t1 - t0);
                        t0 = bench_now_ns();
                        r = twin_op(&tw);
                        t1 = bench_now_ns();
                        if (r < 0) {
                                bench_fail("paging", "baseline: %s", strerror(-r));
                                break;
                        }
                        if (!warm)
                                samples_add(&sb, t1 - t0);
                }
                if (r >= 0) {
                        char *reply = NULL;
                        if (gunyahctl_describe_vm(h, name, &reply) >= 0) {
                                struct json_object *o = json_tokener_parse(reply), *vm;
                                if (o && json_object_object_get_ex(o, "vm", &vm)) {
                                        daemon_mean = jget_int(vm, "demandPaging.latencyMean");
                                        daemon_max = jget_int(vm, "demandPaging.latencyMax");
                                }
                                json_object_put(o);
                        }
                        free(reply);
                        r = gunyahctl_stop_vm(h, name, true, 0, NULL);
                        if (r >= 0)
                                r = gunyahctl_destroy_vm(h, name, NULL);
                        if (r < 0)
                                bench_fail("paging", "stop/destroy %s: %s", name, strerror(-r));
                }
        }
        if (r >= 0 && sa.n) {
                double a50 = samples_pct(&sa, 50) / 1e3, b50 = samples_pct(&sb, 50) / 1e3;
                double a99 = samples_pct(&sa, 99) / 1e3, b99 = samples_pct(&sb, 99) / 1e3;
                bench_row("paging", "fault to MEM_ACCEPTED, p50 (vs 4 RM RTs + ctl)", a50, b50,
                          "us", a50 / b50, "<= 1.5x", a50 / b50 <= 1.5 ? VERDICT_MET : VERDICT_MISSED);
                bench_row("paging", "fault to MEM_ACCEPTED, p99 (vs 4 RM RTs + ctl)", a99, b99,
                          "us", a99 / b99, "<= 1.5x", a99 / b99 <= 1.5 ? VERDICT_MET : VERDICT_MISSED);
                bench_row("paging", "daemon's own latencyMean / Max (last VM)", (double)daemon_mean,
                          (double)daemon_max, "us", NAN, NULL, VERDICT_NONE);
                struct json_object *d = json_object_new_object();
                json_object_object_add(d, "gunyahd", samples_json(&sa));
                json_object_object_add(d, "baseline", samples_json(&sb));
                json_object_object_add(d, "daemon_latency_mean_us", json_object_new_int64(daemon_mean));
                json_object_object_add(d, "daemon_latency_max_us", json_object_new_int64(daemon_max));
                bench_detail("paging", d);
        }
out:
        gunyahctl_disconnect(mon);
        gunyahctl_disconnect(h);
        bare_close(&tw.p.b);
        sim_client_free(tw.sim);
        free(tdir);
        stack_close(&st);
        samples_done(&sa);
        samples_done(&sb);
}
