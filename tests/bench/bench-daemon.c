/* SPDX-License-Identifier: MIT */
/*
 * Figures "memory" (the daemon's RSS idle, with 63 VMs, with 1,000 idle connections) and
 * "startup" (spawn to READY=1 with empty state; recovery after SIGKILL with N running VMs).
 * Both run the real gunyahd binary on a real gunyah-rm-sim.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-vm.h"
#include "bench.h"
#include "gunyahctl.h"
#include "sim-client.h"

#define GETINFO_MSG "{\"method\":\"org.varlink.service.GetInfo\"}"

/* ---- a sim + daemon pair ---- */

int stack_open(Stack *s, const char *name, uint64_t pool_size, unsigned nofile)
{
        char pool[512];
        int r;

        *s = (Stack){ 0 };
        s->dir = bench_subdir(name);
        if (!s->dir)
                return -errno;
        r = bench_sim_spawn(s->dir, pool_size, &s->sim);
        if (r < 0)
                return r;
        snprintf(pool, sizeof(pool), "%s:0x%llx:0x%llx", sim_client_pool_path(s->sim),
                 (unsigned long long)sim_client_pool_ipa(s->sim),
                 (unsigned long long)sim_client_pool_size(s->sim));
        s->pool_spec = strdup(pool);
        r = daemon_spawn(&s->d, s->dir, sim_client_rm_path(s->sim), pool, nofile);
        if (r < 0)
                return r;
        char img[600];
        snprintf(img, sizeof(img), "%s/Image", s->d.images);
        return bench_make_image(img, 2u << 20);
}

int stack_restart(Stack *s, int sig, unsigned nofile)
{
        daemon_stop(&s->d, sig);
        return daemon_respawn(&s->d, sim_client_rm_path(s->sim), s->pool_spec, nofile);
}

void stack_close(Stack *s)
{
        daemon_stop(&s->d, SIGTERM);
        sim_client_free(s->sim);
        free(s->pool_spec);
        free(s->dir);
        *s = (Stack){ 0 };
}

int vm_create(gunyahctl *h, const char *name, uint64_t mem, bool demand_paging)
{
        struct gunyahctl_vm_spec spec;

        gunyahctl_vm_spec_init(&spec);
        spec.name = name;
        spec.memory_bytes = mem;
        spec.kernel_path = "Image";
        spec.demand_paging = demand_paging;
        return gunyahctl_create_vm(h, &spec, NULL);
}

int vms_create_start(Stack *s, unsigned n, uint64_t mem)
{
        gunyahctl *h = NULL;
        int r = gunyahctl_connect(&h, s->d.api);

        for (unsigned i = 0; r >= 0 && i < n; i++) {
                char name[32];
                snprintf(name, sizeof(name), "vm%u", i);
                r = vm_create(h, name, mem, false);
                if (r >= 0)
                        r = gunyahctl_start_vm(h, name, NULL, NULL, NULL);
                if (r < 0)
                        bench_log("%s: %s (%s)", name, strerror(-r), gunyahctl_error_name(h) ?: "-");
        }
        gunyahctl_disconnect(h);
        return r;
}

/* ---- memory ---- */

typedef struct Rss {
        long rss, anon, file, shmem;
} Rss;

static int rss_settled(pid_t pid, Rss *r)
{
        usleep(200000);
        return bench_rss(pid, &r->rss, &r->anon, &r->file, &r->shmem);
}

static struct json_object *rss_json(const Rss *r)
{
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "VmRSS_KiB", json_object_new_int64(r->rss));
        json_object_object_add(o, "RssAnon_KiB", json_object_new_int64(r->anon));
        json_object_object_add(o, "RssFile_KiB", json_object_new_int64(r->file));
        json_object_object_add(o, "RssShmem_KiB", json_object_new_int64(r->shmem));
        return o;
}

/* Rss by mapping name ("libsystemd.so.0", "[heap]", "[anon]"), largest first, into rows
 * and a JSON object: where the idle figure goes. */
static struct json_object *rss_by_mapping(pid_t pid, unsigned top)
{
        char path[64], line[512], name[256] = "[anon]";
        struct { char name[64]; long kib; } m[128];
        size_t n = 0;
        struct json_object *o = json_object_new_object();
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return o;
        while (fgets(line, sizeof(line), f)) {
                long kib;
                if (sscanf(line, "Rss: %ld kB", &kib) == 1) {
                        const char *b = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
                        size_t i;
                        for (i = 0; i < n && strcmp(m[i].name, b); i++)
                                ;
                        if (i == n && n < 128)
                                snprintf(m[n++].name, sizeof(m[0].name), "%.63s", b), m[i].kib = 0;
                        if (i < n)
                                m[i].kib += kib;
                        continue;
                }
                /* a mapping header: "start-end perms off dev inode [path]" */
                unsigned long a, z;
                int pos = 0;
                if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &a, &z, &pos) >= 2 && pos > 0) {
                        char *p = line + pos;
                        p[strcspn(p, "\n")] = 0;
                        snprintf(name, sizeof(name), "%.255s", *p ? p : "[anon]");
                }
        }
        fclose(f);
        for (unsigned k = 0; k < top && k < n; k++) {
                size_t best = k;
                for (size_t i = k + 1; i < n; i++)
                        if (m[i].kib > m[best].kib)
                                best = i;
                typeof(m[0]) t = m[k];
                m[k] = m[best];
                m[best] = t;
                char what[96];
                snprintf(what, sizeof(what), "  idle RSS in %.60s", m[k].name);
                bench_row("memory", what, (double)m[k].kib, NAN, "KiB", NAN, NULL, VERDICT_NONE);
                json_object_object_add(o, m[k].name, json_object_new_int64(m[k].kib));
        }
        return o;
}

static long rollup_pss(pid_t pid)
{
        char path[64], line[256];
        long pss = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
        f = fopen(path, "re");
        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "Pss: %ld kB", &pss) == 1)
                        break;
        if (f)
                fclose(f);
        return pss;
}

static int one_call(const char *api)
{
        RawConn c;
        int r = raw_connect(&c, api, '\0');
        if (r >= 0)
                r = raw_roundtrip(&c, GETINFO_MSG, sizeof(GETINFO_MSG));
        raw_close(&c);
        return r;
}

/* Open per_child connections in each of n_children processes running as distinct uids
 * (the daemon limits connections per uid), one GetInfo on each, then hold them idle. */
static int hold_connections(const char *api, unsigned n_children, unsigned per_child,
                            pid_t *pids, int *release_fd)
{
        int ready[2], release[2];

        if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(release, O_CLOEXEC) < 0)
                return -errno;
        for (unsigned k = 0; k < n_children; k++) {
                pid_t p = fork();
                if (p < 0)
                        return -errno;
                if (p == 0) {
                        uid_t uid = 61000 + k;
                        RawConn *c = calloc(per_child, sizeof(*c));
                        char ok = 1;
                        close(ready[0]);
                        close(release[1]);
                        if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
                            setresuid(uid, uid, uid) < 0)
                                ok = 0;
                        for (unsigned i = 0; ok && i < per_child; i++)
                                if (raw_connect(&c[i], api, '\0') < 0 ||
                                    raw_roundtrip(&c[i], GETINFO_MSG, sizeof(GETINFO_MSG)) < 0)
                                        ok = 0;
                        if (write(ready[1], &ok, 1) != 1)
                                _exit(1);
                        char b;
                        while (read(release[0], &b, 1) > 0)
                                ;
                        _exit(0);
                }
                pids[k] = p;
        }
        close(ready[1]);
        close(release[0]);
        *release_fd = release[1];
        for (unsigned k = 0; k < n_children; k++) {
                char ok = 0;
                if (read(ready[0], &ok, 1) != 1 || !ok) {
                        close(ready[0]);
                        return -ECONNREFUSED;
                }
        }
        close(ready[0]);
        return 0;
}

void fig_memory(void)
{
        Stack s;
        Rss idle, vms, conns;
        const unsigned n_vms = bench_cfg.smoke ? 4 : 63, children = 4;
        const unsigned per_child = bench_cfg.smoke ? 25 : 250;
        struct json_object *d;
        pid_t pids[4] = { 0 };
        int release = -1, r;
        char what[96];

        if (!bench_selected("memory"))
                return;
        d = json_object_new_object();
        /* connections first, on a daemon with no VM (so per-connection = delta / count) */
        r = stack_open(&s, "memory-conns", 1ull << 30, 4096);
        if (r < 0) {
                bench_fail("memory", "sim + gunyahd: %s", strerror(-r));
                goto out;
        }
        chmod(bench_cfg.workdir, 0755);
        chmod(s.dir, 0755);
        chmod(s.d.api, 0666);
        one_call(s.d.api);
        rss_settled(s.d.pid, &idle);
        double idle_mib = idle.rss / 1024.0;
        bench_row("memory", "RSS idle (VmRSS)", idle_mib, NAN, "MiB", NAN, "< 4 MiB",
                  idle_mib < 4.0 ? VERDICT_MET : VERDICT_MISSED);
        bench_row("memory", "RSS idle, anonymous (RssAnon)", idle.anon / 1024.0, NAN, "MiB", NAN,
                  NULL, VERDICT_NONE);
        long pss = rollup_pss(s.d.pid);
        bench_row("memory", "PSS idle (shared pages divided by sharers)", pss / 1024.0, NAN,
                  "MiB", NAN, NULL, VERDICT_NONE);
        json_object_object_add(d, "idle_pss_KiB", json_object_new_int64(pss));
        json_object_object_add(d, "idle", rss_json(&idle));
        json_object_object_add(d, "idle_by_mapping", rss_by_mapping(s.d.pid, 6));

        r = hold_connections(s.d.api, children, per_child, pids, &release);
        if (r < 0) {
                bench_fail("memory", "%u connections: %s", children * per_child, strerror(-r));
        } else {
                rss_settled(s.d.pid, &conns);
                unsigned n = children * per_child;
                double per = (double)(conns.rss - idle.rss) / n;
                double per_anon = (double)(conns.anon - idle.anon) / n;
                snprintf(what, sizeof(what), "RSS with %u idle connections", n);
                bench_row("memory", what, conns.rss / 1024.0, idle_mib, "MiB", NAN, NULL,
                          VERDICT_NONE);
                bench_row("memory", "per connection (VmRSS delta / count)", per, NAN, "KiB", NAN,
                          NULL, VERDICT_NONE);
                bench_row("memory", "per connection (RssAnon delta / count)", per_anon, NAN, "KiB",
                          NAN, NULL, VERDICT_NONE);
                json_object_object_add(d, "connections", rss_json(&conns));
                json_object_object_add(d, "n_connections", json_object_new_int((int)n));
        }
        if (release >= 0)
                close(release);
        for (unsigned k = 0; k < children; k++)
                if (pids[k] > 0)
                        waitpid(pids[k], NULL, 0);
        stack_close(&s);

        /* VMs */
        r = stack_open(&s, "memory-vms", 4ull << 30, 0);
        if (r >= 0) {
                one_call(s.d.api);
                rss_settled(s.d.pid, &idle);
                r = vms_create_start(&s, n_vms, 32u << 20);
        }
        if (r < 0) {
                bench_fail("memory", "%u VMs: %s", n_vms, strerror(-r));
        } else {
                rss_settled(s.d.pid, &vms);
                snprintf(what, sizeof(what), "RSS with %u running VMs (32 MiB each)", n_vms);
                bench_row("memory", what, vms.rss / 1024.0, idle.rss / 1024.0, "MiB", NAN, NULL,
                          VERDICT_NONE);
                bench_row("memory", "per VM (RssAnon delta / count)",
                          (double)(vms.anon - idle.anon) / n_vms, NAN, "KiB", NAN, NULL,
                          VERDICT_NONE);
                bench_row("memory", "per VM (RssFile+RssShmem delta / count: pool pages)",
                          (double)(vms.file + vms.shmem - idle.file - idle.shmem) / n_vms, NAN,
                          "KiB", NAN, NULL, VERDICT_NONE);
                json_object_object_add(d, "idle_before_vms", rss_json(&idle));
                json_object_object_add(d, "vms", rss_json(&vms));
                json_object_object_add(d, "n_vms", json_object_new_int((int)n_vms));
        }
        stack_close(&s);
out:
        bench_detail("memory", d);
}

/* ---- start-up and recovery ---- */

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, size_t n)
{
        qsort(v, n, sizeof(*v), cmp_u64);
        return v[n / 2];
}

static uint64_t spawn_true_ns(void)
{
        char *argv[] = { "/bin/true", NULL };
        uint64_t t0 = bench_now_ns();
        pid_t p = bench_spawn(argv, NULL, NULL, 0);
        if (p > 0)
                waitpid(p, NULL, 0);
        return bench_now_ns() - t0;
}

void fig_startup(void)
{
        static const unsigned full_n[] = { 8, 16, 32, 63 }, smoke_n[] = { 2, 4 };
        const unsigned *ns = bench_cfg.smoke ? smoke_n : full_n;
        const size_t k_n = bench_cfg.smoke ? 2 : 4;
        const unsigned reps = bench_cfg.reps;
        struct json_object *d = json_object_new_object(), *rec = json_object_new_array();
        uint64_t v[16], t[16];
        double xs[4], ys[4];
        Stack s;
        int r;

        if (!bench_selected("startup")) {
                json_object_put(d);
                json_object_put(rec);
                return;
        }
        /* empty state: a fresh state dir each time, same simulator */
        r = stack_open(&s, "startup-empty", 1ull << 30, 0);
        for (unsigned i = 0; r >= 0 && i < reps; i++) {
                char leaf[32];
                daemon_stop(&s.d, SIGTERM);
                snprintf(leaf, sizeof(leaf), "state-%u", i);
                r = bench_state_dir(s.dir, leaf, s.d.state, sizeof(s.d.state));
                if (r >= 0)
                        r = daemon_respawn(&s.d, sim_client_rm_path(s.sim), s.pool_spec, 0);
                v[i] = s.d.ready_ns;
                t[i] = spawn_true_ns();
        }
        stack_close(&s);
        if (r < 0) {
                bench_fail("startup", "empty state: %s", strerror(-r));
        } else {
                double ms = median(v, reps) / 1e6, base = median(t, reps) / 1e6;
                bench_row("startup", "start to READY=1, empty state (median)", ms, base, "ms",
                          ms / base, NULL, VERDICT_NONE);
                json_object_object_add(d, "empty_ready_ms_median", json_object_new_double(ms));
                json_object_object_add(d, "spawn_true_ms_median", json_object_new_double(base));
        }

        /* recovery after SIGKILL with n running VMs */
        size_t got = 0;
        for (size_t k = 0; k < k_n; k++) {
                char name[32];
                snprintf(name, sizeof(name), "recovery-%u", ns[k]);
                r = stack_open(&s, name, 4ull << 30, 0);
                if (r >= 0)
                        r = vms_create_start(&s, ns[k], 32u << 20);
                for (unsigned i = 0; r >= 0 && i < reps; i++) {
                        r = stack_restart(&s, SIGKILL, 0);
                        v[i] = s.d.ready_ns;
                }
                if (r >= 0) {
                        /* every VM still there and running after the last recovery? */
                        gunyahctl *h = NULL;
                        char *reply = NULL;
                        if (gunyahctl_connect(&h, s.d.api) >= 0 &&
                            gunyahctl_get_daemon_info(h, &reply) >= 0) {
                                struct json_object *o = json_tokener_parse(reply), *x;
                                if (o && json_object_object_get_ex(o, "runningCount", &x) &&
                                    json_object_get_int(x) != (int)ns[k]) {
                                        bench_log("recovery %u: %d running after recovery",
                                                  ns[k], json_object_get_int(x));
                                        r = -EIO;
                                }
                                json_object_put(o);
                        }
                        free(reply);
                        gunyahctl_disconnect(h);
                }
                stack_close(&s);
                if (r < 0) {
                        bench_fail("startup", "recovery with %u VMs: %s", ns[k], strerror(-r));
                        break;
                }
                xs[got] = ns[k];
                ys[got] = median(v, reps) / 1e6;
                char what[96];
                snprintf(what, sizeof(what), "recovery to READY=1 after SIGKILL, %u VMs", ns[k]);
                bench_row("startup", what, ys[got], NAN, "ms", NAN, NULL, VERDICT_NONE);
                struct json_object *o = json_object_new_object();
                json_object_object_add(o, "vms", json_object_new_int((int)ns[k]));
                json_object_object_add(o, "ready_ms_median", json_object_new_double(ys[got]));
                json_object_array_add(rec, o);
                got++;
        }
        json_object_object_add(d, "recovery", rec);
        if (got >= 2) {
                /* least squares y = a + b x, and R^2 */
                double mx = 0, my = 0, sxx = 0, sxy = 0, syy = 0;
                for (size_t i = 0; i < got; i++) {
                        mx += xs[i] / got;
                        my += ys[i] / got;
                }
                for (size_t i = 0; i < got; i++) {
                        sxx += (xs[i] - mx) * (xs[i] - mx);
                        sxy += (xs[i] - mx) * (ys[i] - my);
                        syy += (ys[i] - my) * (ys[i] - my);
                }
                double b = sxy / sxx, a = my - b * mx, r2 = syy > 0 ? sxy * sxy / (sxx * syy) : 1;
                bench_row("startup", "recovery slope (least squares)", b, NAN, "ms/VM", NAN, NULL,
                          VERDICT_NONE);
                /* Linear, not worse: the time per VM at the largest count is at most 1.25x
                 * the time per VM at the smallest (a fixed start-up cost only lowers it). */
                double grow = (ys[got - 1] / xs[got - 1]) / (ys[0] / xs[0]);
                bench_row("startup", "recovery fit R^2 (noise-sensitive)", r2, NAN, "", NAN, NULL,
                          VERDICT_NONE);
                bench_row("startup", "recovery ms/VM at largest / at smallest count", grow, NAN,
                          "", NAN, "<= 1.25 (not superlinear)",
                          got < 3 ? VERDICT_NONE : grow <= 1.25 ? VERDICT_MET : VERDICT_MISSED);
                json_object_object_add(d, "per_vm_growth", json_object_new_double(grow));
                json_object_object_add(d, "fit_intercept_ms", json_object_new_double(a));
                json_object_object_add(d, "fit_slope_ms_per_vm", json_object_new_double(b));
                json_object_object_add(d, "fit_r2", json_object_new_double(r2));
        }
        bench_detail("startup", d);
}
