/* SPDX-License-Identifier: MIT */
/*
 * Figures "api-rtt", "api-tput" and "qmp": the control API's round trip and throughput
 * against a raw AF_UNIX echo server answering with a reply of the same size, and against
 * QEMU's QMP on a paused qemu-system-aarch64. Every side is driven by the same raw client
 * (bench-raw.c); the only difference with QMP is the framing byte (NUL vs newline).
 */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "gunyahctl.h"
#include "sim-client.h"

#define DESCRIBE_REQ "{\"method\":\"io.gunyah.Manager.DescribeVM\",\"parameters\":{\"name\":\"bench0\"}}"
#define GETINFO_REQ "{\"method\":\"org.varlink.service.GetInfo\"}"
#define QMP_REQ "{\"execute\":\"query-status\"}\n"

typedef struct ApiEnv {
        char *dir;
        SimClient *sim;
        Daemon d;
        bool manager;     /* io.gunyah.Manager answers (else GetInfo is used) */
        char req[256];    /* the request, NUL included */
        size_t req_len;
        size_t reply_len; /* the daemon's reply, NUL included */
        const char *method;
} ApiEnv;

/* A RawConn followed by its request, for bench_ab. */
typedef struct ReqConn {
        RawConn c;
        const char *req;
        size_t len;
} ReqConn;

static int req_op(void *ud)
{
        ReqConn *r = ud;
        return raw_roundtrip(&r->c, r->req, r->len);
}

static int api_env_open(ApiEnv *e)
{
        char pool[512], img[512];
        int r;

        *e = (ApiEnv){ 0 };
        e->dir = bench_subdir("api");
        if (!e->dir)
                return -errno;
        r = bench_sim_spawn(e->dir, 1ull << 30, &e->sim);
        if (r < 0)
                return r;
        snprintf(pool, sizeof(pool), "%s:0x%llx:0x%llx", sim_client_pool_path(e->sim),
                 (unsigned long long)sim_client_pool_ipa(e->sim),
                 (unsigned long long)sim_client_pool_size(e->sim));
        r = daemon_spawn(&e->d, e->dir, sim_client_rm_path(e->sim), pool, 0);
        if (r < 0)
                return r;
        snprintf(img, sizeof(img), "%s/Image", e->d.images);
        r = bench_make_image(img, 2u << 20);
        if (r < 0)
                return r;

        /* Does the daemon serve io.gunyah.Manager yet? Create the VM DescribeVM reads. */
        gunyahctl *h = NULL;
        r = gunyahctl_connect(&h, e->d.api);
        if (r < 0)
                return r;
        struct gunyahctl_vm_spec spec;
        gunyahctl_vm_spec_init(&spec);
        spec.name = "bench0";
        spec.memory_bytes = 64u << 20;
        spec.kernel_path = "Image";
        r = gunyahctl_create_vm(h, &spec, NULL);
        e->manager = r >= 0;
        if (r < 0)
                bench_log("api: CreateVM failed (%s, %s): measuring GetInfo instead of DescribeVM",
                          strerror(-r), gunyahctl_error_name(h) ?: "-");
        gunyahctl_disconnect(h);
        e->method = e->manager ? "DescribeVM" : "GetInfo";
        e->req_len = (size_t)snprintf(e->req, sizeof(e->req), "%s",
                                      e->manager ? DESCRIBE_REQ : GETINFO_REQ) + 1;

        RawConn c;
        r = raw_connect(&c, e->d.api, '\0');
        if (r < 0)
                return r;
        r = raw_roundtrip(&c, e->req, e->req_len);
        e->reply_len = c.last_reply;
        if (r >= 0 && strstr(raw_reply_text(&c), "\"error\""))
                r = -EREMOTEIO;
        raw_close(&c);
        return r;
}

static void api_env_close(ApiEnv *e)
{
        daemon_stop(&e->d, SIGTERM);
        sim_client_free(e->sim);
        free(e->dir);
}

static void rtt_rows(const char *fig, const char *method, Samples *a, Samples *b,
                     double p50_target)
{
        char what[96], target[48];
        double a50 = samples_pct(a, 50) / 1e3, b50 = samples_pct(b, 50) / 1e3;
        double a99 = samples_pct(a, 99) / 1e3, b99 = samples_pct(b, 99) / 1e3;

        snprintf(what, sizeof(what), "%s round trip p50 (vs echo, same sizes)", method);
        snprintf(target, sizeof(target), "<= %.1fx", p50_target);
        bench_row(fig, what, a50, b50, "us", a50 / b50, target,
                  a50 / b50 <= p50_target ? VERDICT_MET : VERDICT_MISSED);
        snprintf(what, sizeof(what), "%s round trip p99 (vs echo, same sizes)", method);
        bench_row(fig, what, a99, b99, "us", a99 / b99, NULL, VERDICT_NONE);
}

static void libgunyahctl_row(ApiEnv *e, Samples *raw)
{
        gunyahctl *h = NULL;
        Samples s = { 0 };

        if (gunyahctl_connect(&h, e->d.api) < 0)
                return;
        for (unsigned rep = 0; rep < bench_cfg.reps; rep++) {
                for (unsigned i = 0; i < bench_cfg.warmup + bench_cfg.iters; i++) {
                        char *reply = NULL;
                        uint64_t t0 = bench_now_ns();
                        int r = e->manager ? gunyahctl_describe_vm(h, "bench0", &reply)
                                           : gunyahctl_call(h, "org.varlink.service.GetInfo",
                                                            NULL, NULL, 0, NULL, NULL, &reply);
                        uint64_t t1 = bench_now_ns();
                        free(reply);
                        if (r < 0)
                                goto out;
                        if (i >= bench_cfg.warmup)
                                samples_add(&s, t1 - t0);
                }
        }
        double v = samples_pct(&s, 50) / 1e3, b = samples_pct(raw, 50) / 1e3;
        char what[96];
        snprintf(what, sizeof(what), "%s p50 via libgunyahctl (vs raw client)", e->method);
        bench_row("api-rtt", what, v, b, "us", v / b, NULL, VERDICT_NONE);
out:
        samples_done(&s);
        gunyahctl_disconnect(h);
}

static void fig_api_rtt(ApiEnv *e, const char *echo_path)
{
        ReqConn a = { .req = e->req, .len = e->req_len }, b = a;
        Samples sa = { 0 }, sb = { 0 };
        int r;

        if ((r = raw_connect(&a.c, e->d.api, '\0')) < 0 ||
            (r = raw_connect(&b.c, echo_path, '\0')) < 0) {
                bench_fail("api-rtt", "connect: %s", strerror(-r));
                goto out;
        }
        r = bench_ab(req_op, &a, &sa, req_op, &b, &sb);
        if (r < 0) {
                bench_fail("api-rtt", "round trip: %s", strerror(-r));
                goto out;
        }
        rtt_rows("api-rtt", e->method, &sa, &sb, 2.0);
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "method", json_object_new_string(e->method));
        json_object_object_add(d, "request_bytes", json_object_new_int64((int64_t)e->req_len));
        json_object_object_add(d, "reply_bytes", json_object_new_int64((int64_t)e->reply_len));
        json_object_object_add(d, "gunyahd", samples_json(&sa));
        json_object_object_add(d, "echo", samples_json(&sb));
        bench_detail("api-rtt", d);
        libgunyahctl_row(e, &sa);
out:
        raw_close(&a.c);
        raw_close(&b.c);
        samples_done(&sa);
        samples_done(&sb);
}

static int cmp_d(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static void fig_api_tput(ApiEnv *e, const char *echo_path)
{
        static const unsigned clients[] = { 1, 16, 64 };
        struct json_object *d = json_object_new_object();

        for (size_t k = 0; k < sizeof(clients) / sizeof(clients[0]); k++) {
                unsigned n = clients[k];
                double *va = calloc(bench_cfg.reps, sizeof(double));
                double *vb = calloc(bench_cfg.reps, sizeof(double));
                int r = 0;
                for (unsigned rep = 0; rep < bench_cfg.reps && r >= 0; rep++) {
                        bool a_first = !(rep & 1);
                        for (int side = 0; side < 2 && r >= 0; side++) {
                                bool daemon = a_first ? side == 0 : side == 1;
                                r = raw_throughput(daemon ? e->d.api : echo_path, '\0', e->req,
                                                   e->req_len, n, bench_cfg.tput_secs,
                                                   daemon ? &va[rep] : &vb[rep]);
                        }
                }
                if (r < 0) {
                        bench_fail("api-tput", "%u clients: %s", n, strerror(-r));
                } else {
                        qsort(va, bench_cfg.reps, sizeof(double), cmp_d);
                        qsort(vb, bench_cfg.reps, sizeof(double), cmp_d);
                        double ma = va[bench_cfg.reps / 2], mb = vb[bench_cfg.reps / 2];
                        char what[96];
                        snprintf(what, sizeof(what), "%s throughput, %u client%s (median)",
                                 e->method, n, n > 1 ? "s" : "");
                        bench_row("api-tput", what, ma, mb, "ops/s", ma / mb, ">= 0.50x",
                                  ma / mb >= 0.5 ? VERDICT_MET : VERDICT_MISSED);
                        char key[16];
                        snprintf(key, sizeof(key), "clients_%u", n);
                        struct json_object *o = json_object_new_object();
                        json_object_object_add(o, "gunyahd_ops_median", json_object_new_double(ma));
                        json_object_object_add(o, "echo_ops_median", json_object_new_double(mb));
                        json_object_object_add(o, "reps", json_object_new_int((int)bench_cfg.reps));
                        json_object_object_add(o, "secs_per_rep", json_object_new_double(bench_cfg.tput_secs));
                        json_object_object_add(d, key, o);
                }
                free(va);
                free(vb);
        }
        bench_detail("api-tput", d);
}

static int wait_path(const char *path, unsigned ms)
{
        for (unsigned i = 0; i < ms / 10; i++) {
                if (access(path, F_OK) == 0)
                        return 0;
                usleep(10000);
        }
        return -ETIMEDOUT;
}

static void fig_qmp(ApiEnv *e)
{
        char qmp_path[512], chardev[600], log[512];
        ReqConn a = { .req = e->req, .len = e->req_len }, b = { .req = QMP_REQ, .len = strlen(QMP_REQ) };
        Samples sa = { 0 }, sb = { 0 };
        pid_t qemu;
        int r;

        a.c.fd = b.c.fd = -1;
        if (access(bench_cfg.qemu, X_OK) < 0) {
                bench_skip("qmp", "qemu-system-aarch64 not installed (apt qemu-system-arm)");
                return;
        }
        snprintf(qmp_path, sizeof(qmp_path), "%s/qmp.sock", e->dir);
        snprintf(chardev, sizeof(chardev), "unix:%s,server,nowait", qmp_path);
        snprintf(log, sizeof(log), "%s/qemu.log", e->dir);
        char *argv[] = { (char *)bench_cfg.qemu, "-machine", "virt", "-cpu", "cortex-a57",
                         "-nographic", "-S", "-qmp", chardev, "-display", "none", "-nodefaults",
                         NULL };
        qemu = bench_spawn(argv, NULL, log, 0);
        if (qemu < 0 || wait_path(qmp_path, 30000) < 0) {
                bench_fail("qmp", "qemu did not open its QMP socket (see %s)", log);
                bench_kill(qemu, SIGKILL);
                return;
        }
        for (unsigned i = 0; i < 100; i++) {
                r = raw_connect(&b.c, qmp_path, '\n');
                if (r >= 0)
                        break;
                usleep(20000);
        }
        if (r < 0 || (r = raw_read_reply(&b.c)) < 0 ||
            (r = raw_roundtrip(&b.c, "{\"execute\":\"qmp_capabilities\"}\n", 31)) < 0 ||
            (r = raw_roundtrip(&b.c, b.req, b.len)) < 0) {
                bench_fail("qmp", "QMP handshake: %s", strerror(-r));
                goto out;
        }
        if (!strstr(raw_reply_text(&b.c), "\"return\"")) {
                bench_fail("qmp", "query-status failed: %.60s", raw_reply_text(&b.c));
                goto out;
        }
        size_t qmp_reply = b.c.last_reply;
        if ((r = raw_connect(&a.c, e->d.api, '\0')) < 0) {
                bench_fail("qmp", "connect gunyahd: %s", strerror(-r));
                goto out;
        }
        r = bench_ab(req_op, &a, &sa, req_op, &b, &sb);
        if (r < 0) {
                bench_fail("qmp", "round trip: %s", strerror(-r));
                goto out;
        }
        double a50 = samples_pct(&sa, 50) / 1e3, b50 = samples_pct(&sb, 50) / 1e3;
        double a99 = samples_pct(&sa, 99) / 1e3, b99 = samples_pct(&sb, 99) / 1e3;
        char what[96];
        snprintf(what, sizeof(what), "%s vs QMP query-status, p50", e->method);
        bench_row("qmp", what, a50, b50, "us", a50 / b50, "<= 0.5x",
                  a50 / b50 <= 0.5 ? VERDICT_MET : VERDICT_MISSED);
        snprintf(what, sizeof(what), "%s vs QMP query-status, p99", e->method);
        bench_row("qmp", what, a99, b99, "us", a99 / b99, NULL, VERDICT_NONE);
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "gunyahd_method", json_object_new_string(e->method));
        json_object_object_add(d, "gunyahd_reply_bytes", json_object_new_int64((int64_t)e->reply_len));
        json_object_object_add(d, "qmp_reply_bytes", json_object_new_int64((int64_t)qmp_reply));
        json_object_object_add(d, "gunyahd", samples_json(&sa));
        json_object_object_add(d, "qmp", samples_json(&sb));
        bench_detail("qmp", d);
out:
        if (a.c.buf || a.c.fd >= 0)
                raw_close(&a.c);
        if (b.c.buf || b.c.fd >= 0)
                raw_close(&b.c);
        samples_done(&sa);
        samples_done(&sb);
        bench_kill(qemu, SIGTERM);
}

void fig_api(void)
{
        char echo_path[512];
        ApiEnv e;
        pid_t echo = -1;
        int r;

        if (!bench_selected("api-rtt") && !bench_selected("api-tput") && !bench_selected("qmp"))
                return;
        r = api_env_open(&e);
        if (r < 0) {
                bench_fail("api-rtt", "cannot start sim + gunyahd: %s", strerror(-r));
                goto out;
        }
        snprintf(echo_path, sizeof(echo_path), "%s/echo.sock", e.dir);
        echo = echo_server_spawn(echo_path, '\0', e.reply_len);
        if (echo < 0) {
                bench_fail("api-rtt", "echo server: %s", strerror((int)-echo));
                goto out;
        }
        if (bench_selected("api-rtt"))
                fig_api_rtt(&e, echo_path);
        if (bench_selected("api-tput"))
                fig_api_tput(&e, echo_path);
        if (bench_selected("qmp"))
                fig_qmp(&e);
out:
        if (echo > 0)
                bench_kill(echo, SIGKILL);
        api_env_close(&e);
}
