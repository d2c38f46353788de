/* SPDX-License-Identifier: MIT */
/*
 * Crash soak: random lifecycle operations (create persistent/transient, start, stop,
 * force-stop, destroy, guest exit) over several VMs, with SIGKILL of gunyahd at random
 * moments (idle, or a random 0-40 ms after sending an operation) and restarts. Seeded; the
 * seed is printed and --seed replays the same sequence of operations.
 *
 * Invariants: every call not cut by a kill is answered within REL_CALL_TIMEOUT_MS and gunyahd
 * stays alive; after each restart gunyahd becomes ready, daemon and RM agree
 * (rel_check_consistent: no VMID or parcel the daemon does not own), every persistent VM
 * defined before the kill is listed (none lost), no destroyed VM comes back, a transient VM
 * is kept only while it holds RM resources (manager.h); at the end DestroyVM of everything leaves the RM empty and the pool at its
 * baseline.
 *
 *   --strict: accepted and ignored (every invariant is checked; the orphan parcel after a
 *             kill during MEM_LEND is fixed: the pending lend is recorded and looked up)
 *   test-rel-soak --short   60 operations, 4 VMs        test-rel-soak --full   400, 8 VMs
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>

#include <json-c/json.h>

#include "rel-harness.h"

#define MAX_VMS 8
#define VM_MEM (16ull << 20)

typedef struct Model {
        bool defined;
        bool persistent;
        bool uncertain; /* an operation that may have changed `defined` was cut by a kill */
} Model;

enum { OP_CREATE, OP_START, OP_STOP, OP_STOP_FORCE, OP_DESTROY, OP_GUEST_EXIT, OP_KILL_IDLE,
       OP_KILL_DURING, OP__MAX };
static const char *const op_names[OP__MAX] = { "create", "start", "stop", "stop --force",
                                               "destroy", "guest-exit", "kill (idle)",
                                               "kill (during an operation)" };
/* weights: lifecycle operations dominate, one kill in ~7 operations */
static const unsigned op_weight[OP__MAX] = { 4, 5, 3, 2, 3, 2, 1, 2 };

static unsigned pick_op(uint64_t *rng)
{
        unsigned total = 0, x;
        for (unsigned i = 0; i < OP__MAX; i++)
                total += op_weight[i];
        x = rel_rand_below(rng, total);
        for (unsigned i = 0; i < OP__MAX; i++) {
                if (x < op_weight[i])
                        return i;
                x -= op_weight[i];
        }
        return 0;
}

static bool error_is(const char *err, const char *name)
{
        return err && strcmp(err, name) == 0;
}

/* Allowed error replies of a lifecycle call made without faults. */
static bool acceptable_error(const char *err)
{
        static const char *const ok[] = { "io.gunyah.Manager.InvalidState", "io.gunyah.Manager.NoSuchVM",
                                          "io.gunyah.Manager.VMExists", "io.gunyah.Manager.Timeout" };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                if (error_is(err, ok[i]))
                        return true;
        return false;
}

static void wait_consistent_after_kill(RelStack *s, unsigned step)
{
        char why[1024];
        if (rel_wait_consistent(s, 60000, why, sizeof(why)) == 0)
                return;
        REL_FAIL("step %u: after restart daemon and RM disagree: %s", step, why);
}

static void check_after_restart(RelStack *s, Model *m, unsigned nvms, unsigned step)
{
        wait_consistent_after_kill(s, step);
        char **names = rel_list_vms(s);
        REL_ASSERT(names, "ListVMs after restart");
        for (unsigned i = 0; i < nvms; i++) {
                char name[16];
                bool listed = false;
                snprintf(name, sizeof(name), "s%u", i);
                for (size_t j = 0; names[j]; j++)
                        listed |= strcmp(names[j], name) == 0;
                if (m[i].uncertain)
                        m[i].uncertain = false;
                else if (m[i].defined && m[i].persistent)
                        REL_ASSERT(listed, "step %u: persistent VM %s lost by the restart", step, name);
                else if (!m[i].defined)
                        REL_ASSERT(!listed, "step %u: destroyed VM %s came back", step, name);
                /* manager.h: a transient VM is kept only while it holds RM resources (recovery
                 * adopts it); one that was stopped is forgotten */
                if (listed && !m[i].persistent) {
                        char *st = rel_vm_state(s, name);
                        REL_ASSERT(st, "DescribeVM %s", name);
                        REL_ASSERT(strcmp(st, "stopped") != 0,
                                   "step %u: transient VM %s survived the restart as %s", step,
                                   name, st);
                        free(st);
                }
                m[i].defined = listed;
        }
        rel_strv_free(names);
}

static void params_for(char *p, size_t n, unsigned op, const char *name)
{
        switch (op) {
        case OP_STOP:
                snprintf(p, n, "{\"name\":\"%s\",\"timeout\":3}", name);
                break;
        case OP_STOP_FORCE:
                snprintf(p, n, "{\"name\":\"%s\",\"force\":true}", name);
                break;
        default:
                snprintf(p, n, "{\"name\":\"%s\"}", name);
        }
}

static const char *method_for(unsigned op)
{
        switch (op) {
        case OP_START: return "io.gunyah.Manager.StartVM";
        case OP_STOP:
        case OP_STOP_FORCE: return "io.gunyah.Manager.StopVM";
        case OP_DESTROY: return "io.gunyah.Manager.DestroyVM";
        default: return NULL;
        }
}

int main(int argc, char **argv)
{
        RelArgs a;
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--strict") == 0) {
                        /* accepted for old command lines: the soak is always strict now */
                        memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(char *));
                        argc--;
                        break;
                }
        rel_parse_args(argc, argv, &a);
        unsigned nops = a.count ? a.count : a.full ? 400 : 60;
        unsigned nvms = a.full ? 8 : 4;
        uint64_t rng = a.seed;
        printf("test-rel-soak: seed %" PRIu64 ", %u operations over %u VMs\n", a.seed, nops, nvms);

        RelStackOpts so = { .rpc_timeout = "3s", .stop_timeout = "2s", .guest_pace_ms = 1 };
        RelStack *s = rel_stack_new(&so);
        rel_daemon_start_or_skip(s);
        int r;

        Model m[MAX_VMS] = { 0 };
        unsigned kills = 0, counts[OP__MAX] = { 0 }, errors = 0;
        uint64_t t0 = rel_now_usec();
        for (unsigned step = 0; step < nops; step++) {
                unsigned op = pick_op(&rng), i = rel_rand_below(&rng, nvms);
                /* mostly act on VMs that exist: an undefined one is usually created first */
                if (!m[i].defined && op != OP_KILL_IDLE && op != OP_KILL_DURING &&
                    rel_rand_below(&rng, 4) != 0)
                        op = OP_CREATE;
                char name[16], p[256], *err = NULL;
                snprintf(name, sizeof(name), "s%u", i);
                counts[op]++;
                if (a.verbose)
                        printf("  %7.2f s %3u %-28s %s\n", (rel_now_usec() - t0) / 1e6, step, op_names[op], name);
                switch (op) {
                case OP_CREATE: {
                        bool persistent = rel_rand_below(&rng, 4) != 0;
                        r = rel_create_vm(s, name, VM_MEM, false, !persistent, &err);
                        REL_ASSERT(r == 0 || r == -EREMOTEIO, "step %u: CreateVM %s: %s", step, name,
                                   strerror(-r));
                        if (r == 0)
                                m[i] = (Model){ .defined = true, .persistent = persistent };
                        else
                                REL_ASSERT(error_is(err, "io.gunyah.Manager.VMExists") && m[i].defined,
                                           "step %u: CreateVM %s: %s", step, name, err);
                        break;
                }
                case OP_START:
                case OP_STOP:
                case OP_STOP_FORCE:
                case OP_DESTROY: {
                        char mm[64];
                        params_for(p, sizeof(p), op, name);
                        snprintf(mm, sizeof(mm), "%s", method_for(op) + strlen("io.gunyah.Manager."));
                        r = rel_api(s, mm, p, REL_CALL_TIMEOUT_MS, NULL, &err);
                        REL_ASSERT(r == 0 || r == -EREMOTEIO, "step %u: %s %s: no answer: %s", step,
                                   op_names[op], name, strerror(-r));
                        if (r < 0) {
                                errors++;
                                REL_ASSERT(acceptable_error(err), "step %u: %s %s: %s", step,
                                           op_names[op], name, err);
                                if (error_is(err, "io.gunyah.Manager.NoSuchVM"))
                                        REL_ASSERT(!m[i].defined, "step %u: %s: NoSuchVM for a defined VM %s",
                                                   step, op_names[op], name);
                        } else if (op == OP_DESTROY)
                                m[i].defined = false;
                        else
                                REL_ASSERT(m[i].defined, "step %u: %s succeeded on undefined VM %s", step,
                                           op_names[op], name);
                        break;
                }
                case OP_GUEST_EXIT: {
                        int vmid = m[i].defined ? rel_vm_vmid(s, name) : -1;
                        if (vmid < 0)
                                break;
                        snprintf(p, sizeof(p), "{\"vmid\":%d,\"type\":\"PLATFORM_OFF\"}", vmid);
                        (void)rel_sim(s, "GuestExit", p, NULL); /* refused unless running */
                        break;
                }
                case OP_KILL_IDLE:
                case OP_KILL_DURING: {
                        RelConn *c = NULL;
                        if (op == OP_KILL_DURING) {
                                static const unsigned ops[] = { OP_START, OP_START, OP_STOP_FORCE,
                                                                OP_DESTROY, OP_CREATE };
                                unsigned inner = ops[rel_rand_below(&rng, 5)];
                                unsigned delay = rel_rand_below(&rng, 40);
                                REL_ASSERT(rel_conn_open(s->api_path, &c) == 0, "connect");
                                if (inner == OP_CREATE) {
                                        bool persistent = rel_rand_below(&rng, 4) != 0;
                                        snprintf(p, sizeof(p),
                                                 "{\"name\":\"%s\",\"memorySize\":%llu,\"kernel\":\"%s\","
                                                 "\"transient\":%s}", name, VM_MEM, REL_KERNEL,
                                                 persistent ? "false" : "true");
                                        struct json_object *jp = json_tokener_parse(p);
                                        rel_conn_send(c, "io.gunyah.Manager.CreateVM", jp, false);
                                        json_object_put(jp);
                                        if (!m[i].defined)
                                                m[i] = (Model){ .uncertain = true, .persistent = persistent };
                                } else {
                                        params_for(p, sizeof(p), inner, name);
                                        struct json_object *jp = json_tokener_parse(p);
                                        rel_conn_send(c, method_for(inner), jp, false);
                                        json_object_put(jp);
                                        if (inner == OP_DESTROY && m[i].defined)
                                                m[i].uncertain = true;
                                }
                                rel_sleep_ms(delay);
                                if (a.verbose)
                                        printf("      (%s %s, kill after %u ms)\n", op_names[inner], name, delay);
                        }
                        REL_ASSERT(rel_daemon_alive(s), "step %u: gunyahd died before the kill", step);
                        rel_daemon_kill(s, SIGKILL);
                        rel_conn_free(c);
                        kills++;
                        r = rel_daemon_start(s, 60000);
                        REL_ASSERT(r == 0, "step %u: gunyahd not ready after restart: %s", step,
                                   strerror(-r));
                        check_after_restart(s, m, nvms, step);
                        break;
                }
                }
                free(err);
                REL_ASSERT(rel_daemon_alive(s), "step %u (%s %s): gunyahd died", step, op_names[op], name);
                if (step % 10 == 9) {
                        char why[1024];
                        r = rel_wait_consistent(s, 60000, why, sizeof(why));
                        REL_ASSERT(r == 0, "step %u: daemon and RM disagree: %s", step, why);
                }
        }
        char why[1024];
        r = rel_wait_consistent(s, 60000, why, sizeof(why));
        REL_ASSERT(r == 0, "end: daemon and RM disagree: %s", why);
        r = rel_cleanup_all(s, 120000, why, sizeof(why));
        REL_ASSERT(r == 0, "end: leak: %s", why);
        printf("test-rel-soak: %u operations (%u answered with an expected error), %u SIGKILLs and "
               "restarts in %.1f s: every invariant held\n", nops, errors, kills,
               (rel_now_usec() - t0) / 1e6);
        for (unsigned i = 0; i < OP__MAX; i++)
                printf("  %-28s %u\n", op_names[i], counts[i]);
        rel_stack_free(s);
        return 0;
}
