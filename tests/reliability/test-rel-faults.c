/* SPDX-License-Identifier: MIT */
/*
 * Fault matrix: every simulator fault at every RM call of start, stop, destroy and demand
 * paging, against the real gunyahd and gunyah-rm-sim.
 *
 * The calls are not hard-coded: a clean run of each operation is recorded by RelProxy (the
 * request message IDs gunyahd sends), then each case re-runs the operation with the proxy
 * gated on request number k: just before forwarding it, the fault is injected through the
 * simulator's io.gunyah.Simulator.InjectFault / Restart, so it lands on that request (kind
 * "in"), on its reply ("out"; or on a notification that overtakes it), or on the link.
 *
 * Invariants after each case: gunyahd alive; the operation's API call answered within
 * REL_CALL_TIMEOUT_MS; after ClearFaults the RM link is back and ready; the simulator's
 * GetState and the daemon's ListVMs/DescribeVM agree (rel_check_consistent); DestroyVM of
 * everything leaves the RM with no VM or parcel and the pool at its baseline.
 *
 *   test-rel-faults --full               every (operation, call, fault) case
 *   test-rel-faults --short --part N/M   each fault kind with kind index % M == N-1, once, at
 *                                        a seeded random call of a random operation
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <json-c/json.h>

#include "rel-harness.h"
#include "rel-proxy.h"
#include "rm-error.h"
#include "rm-ids.h"

enum { OP_START, OP_STOP, OP_DESTROY, OP_PAGING, OP__MAX };
static const char *const op_names[OP__MAX] = { "start", "stop", "destroy", "demand-paging" };

#define VM_NAME "fm"
#define VM_MEM (64ull << 20)
#define PAGE_FAULT_OFFSET (40ull << 20) /* inside RAM, beyond the image parcel */

typedef struct FaultKind {
        const char *name;
        const char *method; /* simulator method */
        const char *params; /* NULL: an RM error on the gated call's message ID */
} FaultKind;

static const FaultKind kinds[] = {
        { "drop-in", "InjectFault", "{\"kind\":\"drop\",\"direction\":\"in\"}" },
        { "drop-out", "InjectFault", "{\"kind\":\"drop\",\"direction\":\"out\"}" },
        { "duplicate-in", "InjectFault", "{\"kind\":\"duplicate\",\"direction\":\"in\"}" },
        { "duplicate-out", "InjectFault", "{\"kind\":\"duplicate\",\"direction\":\"out\"}" },
        { "corrupt-in", "InjectFault", "{\"kind\":\"corrupt\",\"direction\":\"in\"}" },
        { "corrupt-out", "InjectFault", "{\"kind\":\"corrupt\",\"direction\":\"out\"}" },
        { "corrupt-hdr-out", "InjectFault",
          "{\"kind\":\"corrupt\",\"direction\":\"out\",\"offset\":0}" },
        { "delay-out", "InjectFault",
          "{\"kind\":\"delay\",\"direction\":\"out\",\"delayMs\":300}" },
        { "delay-past-timeout", "InjectFault",
          "{\"kind\":\"delay\",\"direction\":\"out\",\"delayMs\":3000}" },
        { "rm-error", "InjectFault", NULL }, /* RM_ERROR_BUSY on the call's message ID */
        { "stall", "InjectFault", "{\"kind\":\"stall\"}" },
        { "link-close", "InjectFault", "{\"kind\":\"close\"}" },
        { "restart-keep-state", "Restart", "{\"keepState\":true}" },
        { "restart-lose-state", "Restart", "{\"keepState\":false}" },
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

typedef struct Gate {
        RelStack *s;
        const FaultKind *kind;
        int r;
        uint32_t msg_id;
} Gate;

static void gate_fire(void *ud, uint32_t msg_id, unsigned index)
{
        Gate *g = ud;
        char p[256];
        (void)index;
        if (g->kind->params)
                snprintf(p, sizeof(p), "%s", g->kind->params);
        else
                snprintf(p, sizeof(p), "{\"kind\":\"error\",\"msgId\":%u,\"error\":%u}", msg_id,
                         (unsigned)RM_ERROR_BUSY);
        g->msg_id = msg_id;
        g->r = rel_sim(g->s, g->kind->method, p, NULL);
}

static uint64_t sim_vm_blocked(RelStack *s, int vmid, bool *exists)
{
        struct json_object *st = NULL, *vms, *v;
        *exists = false;
        if (rel_sim(s, "GetState", NULL, &st) < 0)
                return 0;
        uint64_t ipa = 0;
        if (json_object_object_get_ex(st, "vms", &vms))
                for (size_t i = 0; i < json_object_array_length(vms); i++) {
                        struct json_object *vm = json_object_array_get_idx(vms, i);
                        if (json_object_object_get_ex(vm, "vmid", &v) && json_object_get_int(v) == vmid) {
                                *exists = true;
                                if (json_object_object_get_ex(vm, "blockedFaultIpa", &v) && v)
                                        ipa = (uint64_t)json_object_get_int64(v);
                        }
                }
        json_object_put(st);
        return ipa;
}

static int64_t faults_failed(RelStack *s)
{
        struct json_object *reply = NULL, *vm, *dp, *v;
        int64_t n = -1;
        if (rel_api(s, "DescribeVM", "{\"name\":\"" VM_NAME "\"}", REL_CALL_TIMEOUT_MS, &reply, NULL) == 0 &&
            json_object_object_get_ex(reply, "vm", &vm) &&
            json_object_object_get_ex(vm, "demandPaging", &dp) && dp &&
            json_object_object_get_ex(dp, "faultsFailed", &v))
                n = json_object_get_int64(v);
        json_object_put(reply);
        return n;
}

/* Bring the VM to the state the operation starts from (no fault armed). */
static void setup(RelStack *s, int op)
{
        char *err = NULL;
        int r = rel_create_vm(s, VM_NAME, VM_MEM, op == OP_PAGING, true, &err);
        REL_ASSERT(r == 0, "CreateVM: %s %s", strerror(-r), err ? err : "");
        if (op == OP_START)
                return;
        r = rel_api(s, "StartVM", "{\"name\":\"" VM_NAME "\"}", REL_CALL_TIMEOUT_MS, NULL, &err);
        REL_ASSERT(r == 0, "StartVM (setup): %s %s", strerror(-r), err ? err : "");
        /* wait until the guest runs, so stop has a guest to ask */
        uint64_t end = rel_now_usec() + 30000000u;
        char *st = NULL;
        while (rel_now_usec() < end) {
                free(st);
                st = rel_vm_state(s, VM_NAME);
                if (st && strcmp(st, "running") == 0)
                        break;
                rel_sleep_ms(20);
        }
        REL_ASSERT(st && strcmp(st, "running") == 0, "VM not running after start: %s", st);
        free(st);
}

typedef struct Outcome {
        int r;
        char *error;
        uint64_t usec;
} Outcome;

/* Run the operation; every API call must be answered within REL_CALL_TIMEOUT_MS. */
static Outcome run_op(RelStack *s, int op)
{
        Outcome o = { 0 };
        uint64_t t0 = rel_now_usec();
        switch (op) {
        case OP_START:
                o.r = rel_api(s, "StartVM", "{\"name\":\"" VM_NAME "\"}", REL_CALL_TIMEOUT_MS, NULL,
                              &o.error);
                break;
        case OP_STOP:
                o.r = rel_api(s, "StopVM", "{\"name\":\"" VM_NAME "\",\"timeout\":5}",
                              REL_CALL_TIMEOUT_MS, NULL, &o.error);
                break;
        case OP_DESTROY:
                o.r = rel_api(s, "DestroyVM", "{\"name\":\"" VM_NAME "\"}", REL_CALL_TIMEOUT_MS,
                              NULL, &o.error);
                break;
        case OP_PAGING: {
                int vmid = rel_vm_vmid(s, VM_NAME);
                char p[128];
                bool exists;
                REL_ASSERT(vmid >= 0, "paging VM has no vmid");
                snprintf(p, sizeof(p), "{\"vmid\":%d,\"ipa\":%llu}", vmid,
                         0x80000000ull + PAGE_FAULT_OFFSET);
                o.r = rel_sim(s, "RaisePageFault", p, NULL);
                if (o.r < 0) {
                        o.error = strdup("RaisePageFault refused");
                        break;
                }
                /* served (the guest unblocks), or given up and said so (faultsFailed), or
                 * the VM is gone: bounded either way */
                uint64_t end = t0 + (uint64_t)REL_CALL_TIMEOUT_MS * 1000u;
                o.r = -ETIMEDOUT;
                while (rel_now_usec() < end) {
                        if (!sim_vm_blocked(s, vmid, &exists) || !exists) {
                                o.r = 0;
                                break;
                        }
                        if (faults_failed(s) > 0) {
                                o.r = 0;
                                o.error = strdup("faultsFailed");
                                break;
                        }
                        rel_sleep_ms(20);
                }
                break;
        }
        }
        o.usec = rel_now_usec() - t0;
        return o;
}

typedef struct Counters {
        unsigned cases, ok, api_errors, not_reached, failed;
} Counters;

#define CASE_FAIL(...) (snprintf(fail, sizeof(fail), __VA_ARGS__), false)

/* One case; false (with fail filled) when an invariant broke: the stack is then suspect. */
static bool run_case(RelStack *s, int op, unsigned k, const uint32_t *seq, size_t nseq,
                     const FaultKind *kind, Counters *cnt, char *fail_out, size_t fail_n)
{
        char why[1024], fail[2400] = "";
        Gate g = { .s = s, .kind = kind, .r = 0 };
        const char *call = k < nseq ? rm_msg_id_to_string(seq[k]) : "?";
        bool ok = true;

        setup(s, op);
        rel_proxy_arm(s->proxy, (int)k, gate_fire, &g);
        Outcome o = run_op(s, op);
        bool fired = rel_proxy_fired(s->proxy);
        rel_proxy_disarm(s->proxy);
        REL_ASSERT(g.r == 0, "%s: injecting %s failed: %s", op_names[op], kind->name, strerror(-g.r));
        int r = rel_sim(s, "ClearFaults", NULL, NULL);
        REL_ASSERT(r == 0, "ClearFaults: %s", strerror(-r));
        if (o.r == -ETIMEDOUT)
                ok = CASE_FAIL("no answer within %d ms", REL_CALL_TIMEOUT_MS);
        else if (o.r != 0 && o.r != -EREMOTEIO)
                ok = CASE_FAIL("call failed: %s", strerror(-o.r));
        else if (!rel_daemon_alive(s))
                ok = CASE_FAIL("gunyahd died");
        else if ((r = rel_wait_ready(s, 60000)) < 0)
                ok = CASE_FAIL("RM link not ready again: %s", strerror(-r));
        else if (rel_wait_consistent(s, 60000, why, sizeof(why)) < 0) {
                ok = CASE_FAIL("daemon and RM disagree: %s", why);
                /* does a DestroyVM repair it, or is something leaked for good? */
                char why2[1024];
                bool repaired = rel_cleanup_all(s, 30000, why2, sizeof(why2)) == 0;
                size_t l = strlen(fail);
                snprintf(fail + l, sizeof(fail) - l, "; DestroyVM afterwards: %s",
                         repaired ? "repaired" : why2);
        } else if (rel_cleanup_all(s, 60000, why, sizeof(why)) < 0)
                ok = CASE_FAIL("leak: %s", why);
        printf("  %-14s #%-2u %-24s %-20s -> %-32s %6.2f s%s%s%s\n", op_names[op], k, call,
               kind->name, o.error ? o.error : "ok", o.usec / 1e6, fired ? "" : " (call not reached)",
               ok ? "" : "  FAIL: ", fail);
        cnt->cases++;
        if (!ok)
                cnt->failed++;
        else if (!fired)
                cnt->not_reached++;
        else if (o.error)
                cnt->api_errors++;
        else
                cnt->ok++;
        free(o.error);
        if (!ok)
                snprintf(fail_out, fail_n, "%s #%u %s / %s: %s", op_names[op], k, call, kind->name, fail);
        return ok;
}

static size_t record(RelStack *s, int op, uint32_t *seq, size_t max)
{
        char why[1024];
        setup(s, op);
        rel_proxy_arm(s->proxy, -1, NULL, NULL);
        Outcome o = run_op(s, op);
        REL_ASSERT(o.r == 0 && !o.error, "%s without faults failed: %s", op_names[op],
                   o.error ? o.error : strerror(-o.r));
        /* calls that follow the answer (release after a stop, ...) belong to the operation */
        rel_wait_consistent(s, 30000, why, sizeof(why));
        size_t n = rel_proxy_recorded(s->proxy, seq, max);
        rel_proxy_disarm(s->proxy);
        free(o.error);
        int r = rel_cleanup_all(s, 60000, why, sizeof(why));
        REL_ASSERT(r == 0, "cleanup after recording %s: %s", op_names[op], why);
        printf("%s: %zu RM calls:", op_names[op], n);
        for (size_t i = 0; i < n && i < max; i++)
                printf(" %s", rm_msg_id_to_string(seq[i]) ? rm_msg_id_to_string(seq[i]) : "?");
        printf("\n");
        return n < max ? n : max;
}

int main(int argc, char **argv)
{
        RelArgs a;
        unsigned part = 1, parts = 1;
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--part") == 0 && i + 1 < argc) {
                        sscanf(argv[i + 1], "%u/%u", &part, &parts);
                        memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 1) * sizeof(char *));
                        argc -= 2;
                        break;
                }
        rel_parse_args(argc, argv, &a);
        REL_ASSERT(parts >= 1 && part >= 1 && part <= parts, "--part N/M");
        uint64_t rng = a.seed;
        printf("test-rel-faults: %s mode, seed %" PRIu64 ", part %u/%u\n", a.full ? "full" : "short",
               a.seed, part, parts);

        RelStackOpts so = { .proxy = true, .rpc_timeout = "2s", .stop_timeout = "2s",
                            .guest_pace_ms = 1 };
        RelStack *s = rel_stack_new(&so);
        rel_daemon_start_or_skip(s);
        int r;

        uint32_t seqs[OP__MAX][128];
        size_t nseq[OP__MAX];
        for (int op = 0; op < OP__MAX; op++)
                nseq[op] = record(s, op, seqs[op], 128);

        Counters cnt = { 0 };
        uint64_t t0 = rel_now_usec();
        char failures[16][2600];
        unsigned nfail = 0;
        typedef struct Case {
                int op;
                unsigned k;
                size_t kind;
        } Case;
        Case *cases = calloc(OP__MAX * 128 * N_KINDS, sizeof(Case));
        size_t ncases = 0;
        if (a.full) {
                for (int op = 0; op < OP__MAX; op++)
                        for (unsigned k = 0; k < nseq[op]; k++)
                                for (size_t i = 0; i < N_KINDS; i++)
                                        if (i % parts == part - 1)
                                                cases[ncases++] = (Case){ op, k, i };
        } else {
                unsigned reps = a.count ? a.count : 1;
                for (unsigned rep = 0; rep < reps; rep++)
                        for (size_t i = 0; i < N_KINDS; i++) {
                                int op = (int)rel_rand_below(&rng, OP__MAX);
                                unsigned k = rel_rand_below(&rng, (unsigned)nseq[op]);
                                if (i % parts == part - 1)
                                        cases[ncases++] = (Case){ op, k, i };
                        }
        }
        for (size_t c = 0; c < ncases; c++) {
                const Case *x = &cases[c];
                char fail[2500];
                if (run_case(s, x->op, x->k, seqs[x->op], nseq[x->op], &kinds[x->kind], &cnt, fail,
                             sizeof(fail)))
                        continue;
                if (nfail < 16)
                        snprintf(failures[nfail], sizeof(failures[nfail]), "%s", fail);
                nfail++;
                /* the stack holds leftovers now: start a fresh one for the next case */
                fprintf(stderr, "  (daemon log of the failed case: %s)\n", s->log_path);
                setenv("REL_KEEP", "1", 1);
                rel_stack_free(s);
                unsetenv("REL_KEEP");
                s = rel_stack_new(&so);
                r = rel_daemon_start(s, 60000);
                REL_ASSERT(r == 0, "gunyahd did not become ready: %s", strerror(-r));
        }
        free(cases);
        for (unsigned i = 0; i < nfail && i < 16; i++)
                printf("FAILED: %s\n", failures[i]);
        printf("test-rel-faults: %u cases (%u answered ok, %u answered with an error, %u where "
               "the call was not reached, %u FAILED) in %.1f s\n",
               cnt.cases, cnt.ok, cnt.api_errors, cnt.not_reached, cnt.failed,
               (rel_now_usec() - t0) / 1e6);
        rel_stack_free(s);
        return cnt.failed ? 1 : 0;
}
