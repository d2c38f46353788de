/* SPDX-License-Identifier: MIT */
/* RelStack: gunyah-rm-sim (+ RelProxy) + gunyahd, and the invariant checks (rel-harness.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "rel-harness.h"
#include "rel-proxy.h"
#include "test-image-header.h"

static RelStack *current_stack;
static uint32_t ignored_parcels[256];
static size_t n_ignored_parcels;

void rel_ignore_parcel(uint32_t handle)
{
        if (n_ignored_parcels < sizeof(ignored_parcels) / sizeof(*ignored_parcels))
                ignored_parcels[n_ignored_parcels++] = handle;
}

static bool parcel_ignored(int64_t handle)
{
        for (size_t i = 0; i < n_ignored_parcels; i++)
                if (ignored_parcels[i] == handle)
                        return true;
        return false;
}

void rel_on_failure(void)
{
        RelStack *s = current_stack;
        if (!s)
                return;
        fprintf(stderr, "reliability: kept %s (daemon log %s); last lines:\n", s->dir, s->log_path);
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "tail -n 40 '%s' >&2", s->log_path);
        (void)!system(cmd);
        if (s->daemon > 0)
                kill(s->daemon, SIGKILL);
}

static const char *gunyahd_path(char *buf, size_t n)
{
        const char *e = getenv("GUNYAHD");
        if (e && *e)
                return e;
        e = getenv("GUNYAH_BUILD_DIR");
        snprintf(buf, n, "%s/bin/gunyahd", e && *e ? e : ".");
        return buf;
}

static int write_kernel(const char *path)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        TestImageOpts io = { 0 };
        int r = test_image_write_fd(fd, 1u << 20, &io);
        close(fd);
        return r;
}

RelStack *rel_stack_new(const RelStackOpts *o)
{
        RelStack *s = calloc(1, sizeof(*s));
        REL_ASSERT(s, "calloc");
        if (o)
                s->opts = *o;
        if (!s->opts.pool_size)
                s->opts.pool_size = 512ull << 20;
        if (!s->opts.rpc_timeout)
                s->opts.rpc_timeout = "2s";
        if (!s->opts.stop_timeout)
                s->opts.stop_timeout = "2s";
        const char *tmp = getenv("TMPDIR");
        snprintf(s->dir, sizeof(s->dir), "%s/gunyah-rel-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        REL_ASSERT(mkdtemp(s->dir), "mkdtemp %s: %m", s->dir);
        current_stack = s;
        snprintf(s->api_path, sizeof(s->api_path), "%s/api.sock", s->dir);
        snprintf(s->state_dir, sizeof(s->state_dir), "%s/state", s->dir);
        snprintf(s->image_dir, sizeof(s->image_dir), "%s/images", s->dir);
        snprintf(s->log_path, sizeof(s->log_path), "%s/gunyahd.log", s->dir);
        REL_ASSERT(mkdir(s->state_dir, 0700) == 0, "mkdir state");
        REL_ASSERT(mkdir(s->image_dir, 0755) == 0, "mkdir images");
        char kpath[400];
        snprintf(kpath, sizeof(kpath), "%s/%s", s->image_dir, REL_KERNEL);
        REL_ASSERT(write_kernel(kpath) == 0, "write kernel");

        SimSpawnOptions so = { .profile = s->opts.profile, .pool_size = s->opts.pool_size,
                               .guest_pace_ms = s->opts.guest_pace_ms };
        int r = sim_client_spawn(s->dir, &so, &s->sim);
        REL_ASSERT(r == 0, "spawn gunyah-rm-sim: %s", strerror(-r));
        snprintf(s->pool_spec, sizeof(s->pool_spec), "%s:0x%" PRIx64 ":%" PRIu64 "M",
                 sim_client_pool_path(s->sim), sim_client_pool_ipa(s->sim),
                 sim_client_pool_size(s->sim) >> 20);
        if (s->opts.proxy) {
                char ppath[320];
                snprintf(ppath, sizeof(ppath), "%s/proxy.sock", s->dir);
                r = rel_proxy_new(ppath, sim_client_rm_path(s->sim), &s->proxy);
                REL_ASSERT(r == 0, "proxy: %s", strerror(-r));
        }
        return s;
}

void rel_stack_free(RelStack *s)
{
        if (!s)
                return;
        if (s->daemon > 0) {
                /* a clean SIGTERM exit; under ASan this is also where leaks are reported */
                int status = rel_daemon_kill(s, SIGTERM);
                REL_ASSERT(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                           "gunyahd did not exit cleanly on SIGTERM (status 0x%x)", status);
        }
        rel_proxy_free(s->proxy);
        sim_client_free(s->sim);
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
        if (!getenv("REL_KEEP"))
                (void)!system(cmd);
        if (current_stack == s)
                current_stack = NULL;
        free(s);
}

int rel_daemon_start(RelStack *s, unsigned timeout_ms)
{
        char bin[400], rm[320];
        REL_ASSERT(s->daemon <= 0, "daemon already running");
        if (s->proxy)
                snprintf(rm, sizeof(rm), "%s/proxy.sock", s->dir);
        else
                snprintf(rm, sizeof(rm), "%s", sim_client_rm_path(s->sim));
        const char *argv[] = { gunyahd_path(bin, sizeof(bin)), "--rm-socket", rm,
                               "--pool", s->pool_spec, "--state-dir", s->state_dir,
                               "--image-dir", s->image_dir, "--api-socket", s->api_path,
                               "--rpc-timeout", s->opts.rpc_timeout,
                               "--stop-timeout", s->opts.stop_timeout,
                               "--config", "/dev/null", getenv("REL_VERBOSE") ? "-vv" : "-v",
                               NULL };
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                if (s->opts.nofile) {
                        struct rlimit rl = { s->opts.nofile, s->opts.nofile };
                        setrlimit(RLIMIT_NOFILE, &rl);
                }
                int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
                if (fd >= 0) {
                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                int nul = open("/dev/null", O_RDONLY);
                if (nul >= 0)
                        dup2(nul, 0);
                execv(argv[0], (char *const *)argv);
                _exit(127);
        }
        s->daemon = pid;
        s->daemon_starts++;
        int r = rel_wait_ready(s, timeout_ms);
        if (r == 0 && s->daemon_starts == 1)
                s->pool_baseline = rel_pool_used(s);
        return r;
}

void rel_daemon_start_or_skip(RelStack *s)
{
        int r = rel_daemon_start(s, 60000);
        if (r == -EPROTONOSUPPORT) {
                printf("SKIP: this gunyahd does not serve io.gunyah.Manager yet\n");
                rel_stack_free(s);
                exit(77);
        }
        REL_ASSERT(r == 0, "gunyahd did not become ready: %s", strerror(-r));
}

int rel_daemon_kill(RelStack *s, int sig)
{
        int status = 0;
        if (s->daemon <= 0)
                return -ESRCH;
        kill(s->daemon, sig);
        for (int i = 0; i < 2000; i++) {
                pid_t r = waitpid(s->daemon, &status, WNOHANG);
                if (r == s->daemon) {
                        s->daemon = 0;
                        return status;
                }
                if (i == 1000)
                        kill(s->daemon, SIGKILL);
                rel_sleep_ms(10);
        }
        return -ETIMEDOUT;
}

bool rel_daemon_alive(RelStack *s)
{
        int status;
        if (s->daemon <= 0)
                return false;
        pid_t r = waitpid(s->daemon, &status, WNOHANG);
        if (r == 0)
                return true;
        if (WIFSIGNALED(status))
                fprintf(stderr, "gunyahd died by signal %d\n", WTERMSIG(status));
        else
                fprintf(stderr, "gunyahd exited with status %d\n", WEXITSTATUS(status));
        s->daemon = 0;
        return false;
}

int rel_api(RelStack *s, const char *method, const char *params_json, int timeout_ms,
            struct json_object **ret_params, char **ret_error)
{
        char m[128];
        snprintf(m, sizeof(m), "io.gunyah.Manager.%s", method);
        return rel_call_once(s->api_path, m, params_json, timeout_ms, ret_params, ret_error);
}

int rel_sim(RelStack *s, const char *method, const char *params_json,
            struct json_object **ret_params)
{
        char m[128];
        snprintf(m, sizeof(m), "io.gunyah.Simulator.%s", method);
        return rel_call_once(sim_client_control_path(s->sim), m, params_json, 30000, ret_params,
                             NULL);
}

static int64_t jint(struct json_object *o, const char *key, int64_t dflt)
{
        struct json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) || !v)
                return dflt;
        return json_object_get_int64(v);
}

static const char *jstr(struct json_object *o, const char *key)
{
        struct json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) || !v ||
            !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

int rel_wait_ready(RelStack *s, unsigned timeout_ms)
{
        uint64_t end = rel_now_usec() + (uint64_t)timeout_ms * 1000u;
        while (rel_now_usec() < end) {
                struct json_object *info = NULL, *link;
                char *err = NULL;
                if (!rel_daemon_alive(s))
                        return -ECHILD;
                int r = rel_api(s, "GetDaemonInfo", NULL, 5000, &info, &err);
                if (r == -EREMOTEIO && strcmp(err, "org.varlink.service.InterfaceNotFound") == 0) {
                        free(err);
                        json_object_put(info);
                        return -EPROTONOSUPPORT;
                }
                free(err);
                if (r == 0) {
                        bool ready = json_object_object_get_ex(info, "rmLink", &link) &&
                                     jint(link, "ready", 0) &&
                                     strcmp(jstr(link, "state") ? jstr(link, "state") : "", "up") == 0;
                        json_object_put(info);
                        if (ready)
                                return 0;
                } else
                        json_object_put(info);
                rel_sleep_ms(50);
        }
        return -ETIMEDOUT;
}

uint64_t rel_pool_used(RelStack *s)
{
        struct json_object *info = NULL, *pool;
        int r = rel_api(s, "GetDaemonInfo", NULL, REL_CALL_TIMEOUT_MS, &info, NULL);
        REL_ASSERT(r == 0, "GetDaemonInfo: %s", strerror(-r));
        REL_ASSERT(json_object_object_get_ex(info, "pool", &pool), "no pool in GetDaemonInfo");
        uint64_t used = (uint64_t)jint(pool, "used", -1);
        json_object_put(info);
        return used;
}

int rel_create_vm(RelStack *s, const char *name, uint64_t memory, bool demand_paging,
                  bool transient, char **ret_error)
{
        char p[512];
        snprintf(p, sizeof(p),
                 "{\"name\":\"%s\",\"memorySize\":%" PRIu64 ",\"vcpus\":1,\"kernel\":\"%s\","
                 "\"cmdline\":\"console=hvc0\",\"demandPaging\":%s,\"transient\":%s}",
                 name, memory, REL_KERNEL, demand_paging ? "true" : "false",
                 transient ? "true" : "false");
        return rel_api(s, "CreateVM", p, REL_CALL_TIMEOUT_MS, NULL, ret_error);
}

char **rel_list_vms(RelStack *s)
{
        struct json_object *reply = NULL, *vms;
        if (rel_api(s, "ListVMs", NULL, REL_CALL_TIMEOUT_MS, &reply, NULL) < 0 ||
            !json_object_object_get_ex(reply, "vms", &vms)) {
                json_object_put(reply);
                return NULL;
        }
        size_t n = json_object_array_length(vms);
        char **v = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; v && i < n; i++)
                v[i] = strdup(jstr(json_object_array_get_idx(vms, i), "name"));
        json_object_put(reply);
        return v;
}

void rel_strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static struct json_object *describe(RelStack *s, const char *name)
{
        struct json_object *reply = NULL, *vm;
        char p[300];
        snprintf(p, sizeof(p), "{\"name\":\"%s\"}", name);
        if (rel_api(s, "DescribeVM", p, REL_CALL_TIMEOUT_MS, &reply, NULL) < 0 ||
            !json_object_object_get_ex(reply, "vm", &vm)) {
                json_object_put(reply);
                return NULL;
        }
        json_object_get(vm);
        json_object_put(reply);
        return vm;
}

char *rel_vm_state(RelStack *s, const char *name)
{
        struct json_object *vm = describe(s, name);
        char *st = vm && jstr(vm, "state") ? strdup(jstr(vm, "state")) : NULL;
        json_object_put(vm);
        return st;
}

int rel_vm_vmid(RelStack *s, const char *name)
{
        struct json_object *vm = describe(s, name);
        int v = (int)jint(vm, "vmid", -1);
        json_object_put(vm);
        return v;
}

static bool transitional(const char *state)
{
        static const char *const t[] = { "starting", "stopping", "releasing", "destroying",
                                         "recovering" };
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
                if (state && strcmp(state, t[i]) == 0)
                        return true;
        return false;
}

#define WHY(...) (snprintf(why, n, __VA_ARGS__), -EUCLEAN)

/* Returns 0 when consistent, -EAGAIN when a VM is in a transitional state, -EUCLEAN. */
int rel_check_consistent(RelStack *s, char *why, size_t n)
{
        struct json_object *st = NULL, *svms, *sparcels;
        int r = rel_sim(s, "GetState", NULL, &st);
        if (r < 0)
                return WHY("simulator GetState failed: %s", strerror(-r));
        json_object_object_get_ex(st, "vms", &svms);
        json_object_object_get_ex(st, "parcels", &sparcels);
        size_t nsv = svms ? json_object_array_length(svms) : 0;
        size_t nsp = sparcels ? json_object_array_length(sparcels) : 0;
        char **names = rel_list_vms(s);
        if (!names) {
                json_object_put(st);
                return WHY("ListVMs failed");
        }
        size_t nd = 0;
        while (names[nd])
                nd++;
        struct json_object **d = calloc(nd + 1, sizeof(*d));
        int ret = 0;
        for (size_t i = 0; i < nd && ret == 0; i++) {
                d[i] = describe(s, names[i]);
                if (!d[i])
                        ret = WHY("DescribeVM %s failed (listed by ListVMs)", names[i]);
                else if (transitional(jstr(d[i], "state")))
                        ret = (snprintf(why, n, "VM %s is %s", names[i], jstr(d[i], "state")), -EAGAIN);
        }
        /* every RM VM belongs to exactly one daemon VM; statuses agree */
        for (size_t i = 0; i < nsv && ret == 0; i++) {
                struct json_object *sv = json_object_array_get_idx(svms, i);
                int64_t vmid = jint(sv, "vmid", -1);
                size_t owners = 0, who = 0;
                for (size_t j = 0; j < nd; j++)
                        if (jint(d[j], "vmid", -1) == vmid) {
                                owners++;
                                who = j;
                        }
                if (owners != 1)
                        ret = WHY("RM VM %" PRId64 " (%s) is recorded by %zu daemon VMs", vmid,
                                  jstr(sv, "status"), owners);
                else {
                        const char *ds = jstr(d[who], "rmStatus"), *ss = jstr(sv, "status");
                        if (!ds || !ss || strcmp(ds, ss) != 0)
                                ret = WHY("VM %s (vmid %" PRId64 ", %s): daemon says rmStatus %s, "
                                          "RM says %s", names[who], vmid, jstr(d[who], "state"),
                                          ds ? ds : "null", ss ? ss : "null");
                }
        }
        /* every daemon VMID exists in the RM; a stopped VM holds nothing */
        for (size_t j = 0; j < nd && ret == 0; j++) {
                int64_t vmid = jint(d[j], "vmid", -1);
                const char *state = jstr(d[j], "state");
                struct json_object *parcels = NULL;
                json_object_object_get_ex(d[j], "parcels", &parcels);
                size_t np = parcels ? json_object_array_length(parcels) : 0;
                if (state && strcmp(state, "stopped") == 0 && (vmid >= 0 || np))
                        ret = WHY("VM %s is stopped but holds vmid %" PRId64 " and %zu parcels",
                                  names[j], vmid, np);
                bool found = vmid < 0;
                for (size_t i = 0; i < nsv && !found; i++)
                        found = jint(json_object_array_get_idx(svms, i), "vmid", -2) == vmid;
                if (!found && ret == 0)
                        ret = WHY("VM %s (%s) holds vmid %" PRId64 " the RM does not know", names[j],
                                  state, vmid);
                for (size_t k = 0; k < np && ret == 0; k++) {
                        int64_t h = jint(json_object_array_get_idx(parcels, k), "handle", -1);
                        /* a parcel whose MEM_LEND was not answered: no handle yet */
                        if (h == 0xffffffff)
                                continue;
                        bool in_rm = false;
                        for (size_t i = 0; i < nsp && !in_rm; i++)
                                in_rm = jint(json_object_array_get_idx(sparcels, i), "handle", -2) == h;
                        if (!in_rm)
                                ret = WHY("VM %s records parcel 0x%" PRIx64 " the RM does not know",
                                          names[j], h);
                }
        }
        /* every RM parcel belongs to exactly one daemon VM */
        for (size_t i = 0; i < nsp && ret == 0; i++) {
                struct json_object *sp = json_object_array_get_idx(sparcels, i);
                int64_t h = jint(sp, "handle", -1);
                size_t owners = 0;
                if (parcel_ignored(h))
                        continue;
                for (size_t j = 0; j < nd; j++) {
                        struct json_object *parcels = NULL;
                        json_object_object_get_ex(d[j], "parcels", &parcels);
                        for (size_t k = 0; parcels && k < json_object_array_length(parcels); k++)
                                if (jint(json_object_array_get_idx(parcels, k), "handle", -1) == h)
                                        owners++;
                }
                if (owners != 1)
                        ret = WHY("RM parcel 0x%" PRIx64 " (%s) is recorded by %zu daemon VMs", h,
                                  jstr(sp, "state"), owners);
        }
        for (size_t i = 0; i < nd; i++)
                json_object_put(d[i]);
        free(d);
        rel_strv_free(names);
        json_object_put(st);
        return ret;
}

int rel_wait_consistent(RelStack *s, unsigned timeout_ms, char *why, size_t n)
{
        uint64_t end = rel_now_usec() + (uint64_t)timeout_ms * 1000u, since = 0;
        char last[1024] = "";
        int r;
        do {
                if (!rel_daemon_alive(s))
                        return WHY("gunyahd is not running");
                r = rel_check_consistent(s, why, n);
                if (r == 0)
                        return 0;
                /* the same disagreement with every VM settled for 15 s: it is not transient */
                if (r != -EAGAIN && strcmp(last, why) == 0) {
                        if (rel_now_usec() - since > 15000000u)
                                return r;
                } else {
                        snprintf(last, sizeof(last), "%s", why);
                        since = rel_now_usec();
                }
                rel_sleep_ms(100);
        } while (rel_now_usec() < end);
        return r == -EAGAIN ? -EUCLEAN : r;
}

int rel_cleanup_all(RelStack *s, unsigned timeout_ms, char *why, size_t n)
{
        uint64_t end = rel_now_usec() + (uint64_t)timeout_ms * 1000u;
        char last[512] = "";
        for (;;) {
                if (!rel_daemon_alive(s))
                        return WHY("gunyahd is not running");
                char **names = rel_list_vms(s);
                if (!names)
                        return WHY("ListVMs failed");
                bool empty = !names[0];
                for (size_t i = 0; names[i]; i++) {
                        char p[300], *err = NULL;
                        struct json_object *ep = NULL;
                        snprintf(p, sizeof(p), "{\"name\":\"%s\"}", names[i]);
                        int r = rel_api(s, "DestroyVM", p, REL_CALL_TIMEOUT_MS, &ep, &err);
                        if (r < 0 && r != -EREMOTEIO)
                                snprintf(last, sizeof(last), "DestroyVM %s: %s", names[i], strerror(-r));
                        else if (r < 0)
                                snprintf(last, sizeof(last), "DestroyVM %s: %s %s", names[i], err,
                                         json_object_to_json_string(ep));
                        free(err);
                        json_object_put(ep);
                }
                rel_strv_free(names);
                if (empty) {
                        struct json_object *st = NULL, *a;
                        int r = rel_sim(s, "GetState", NULL, &st);
                        size_t nv = 0, np = 0;
                        if (r == 0 && json_object_object_get_ex(st, "vms", &a))
                                nv = json_object_array_length(a);
                        if (r == 0 && json_object_object_get_ex(st, "parcels", &a))
                                for (size_t i = 0; i < json_object_array_length(a); i++)
                                        np += !parcel_ignored(jint(json_object_array_get_idx(a, i), "handle", -1));
                        json_object_put(st);
                        uint64_t used = rel_pool_used(s);
                        if (r == 0 && nv == 0 && np == 0 && used == s->pool_baseline)
                                return 0;
                        snprintf(last, sizeof(last),
                                 "after destroying every VM the RM holds %zu VMs and %zu parcels, "
                                 "pool used %" PRIu64 " (baseline %" PRIu64 ")", nv, np, used,
                                 s->pool_baseline);
                }
                if (rel_now_usec() >= end)
                        return WHY("%s", last);
                rel_sleep_ms(200);
        }
}

void rel_parse_args(int argc, char **argv, RelArgs *a)
{
        static const struct option opts[] = {
                { "short", no_argument, NULL, 's' }, { "full", no_argument, NULL, 'f' },
                { "seed", required_argument, NULL, 'S' }, { "count", required_argument, NULL, 'n' },
                { "verbose", no_argument, NULL, 'v' }, {}
        };
        int c;
        *a = (RelArgs){ .seed = 1 };
        while ((c = getopt_long(argc, argv, "sfS:n:v", opts, NULL)) >= 0)
                switch (c) {
                case 's': a->full = false; break;
                case 'f': a->full = true; break;
                case 'S': a->seed = strtoull(optarg, NULL, 0); a->seed_given = true; break;
                case 'n': a->count = (unsigned)strtoul(optarg, NULL, 0); break;
                case 'v': a->verbose = true; break;
                default:
                        fprintf(stderr, "usage: %s [--short|--full] [--seed N] [--count N] [-v]\n",
                                argv[0]);
                        exit(2);
                }
        setvbuf(stdout, NULL, _IOLBF, 0);
}
