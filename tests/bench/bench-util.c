/* SPDX-License-Identifier: MIT */
/* Timing, samples, the result table and its JSON, and the measuring loops. */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

BenchConfig bench_cfg;

uint64_t bench_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int samples_add(Samples *s, uint64_t ns)
{
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 256;
                uint64_t *v = realloc(s->v, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                s->v = v;
                s->cap = cap;
        }
        s->v[s->n++] = ns;
        return 0;
}

void samples_done(Samples *s)
{
        free(s->v);
        *s = (Samples){ 0 };
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

uint64_t samples_pct(const Samples *s, double p)
{
        uint64_t *c, r;
        size_t i;

        if (!s->n)
                return 0;
        c = malloc(s->n * sizeof(*c));
        if (!c)
                return 0;
        memcpy(c, s->v, s->n * sizeof(*c));
        qsort(c, s->n, sizeof(*c), cmp_u64);
        i = (size_t)ceil(p / 100.0 * (double)s->n);
        i = i ? i - 1 : 0;
        if (i >= s->n)
                i = s->n - 1;
        r = c[i];
        free(c);
        return r;
}

double samples_mean(const Samples *s)
{
        double sum = 0;

        for (size_t i = 0; i < s->n; i++)
                sum += (double)s->v[i];
        return s->n ? sum / (double)s->n : 0;
}

struct json_object *samples_json(const Samples *s)
{
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "n", json_object_new_int64((int64_t)s->n));
        json_object_object_add(o, "p50_us", json_object_new_double(samples_pct(s, 50) / 1e3));
        json_object_object_add(o, "p99_us", json_object_new_double(samples_pct(s, 99) / 1e3));
        json_object_object_add(o, "min_us", json_object_new_double(samples_pct(s, 0) / 1e3));
        json_object_object_add(o, "max_us", json_object_new_double(samples_pct(s, 100) / 1e3));
        json_object_object_add(o, "mean_us", json_object_new_double(samples_mean(s) / 1e3));
        return o;
}

bool bench_selected(const char *key)
{
        const char *p = bench_cfg.only;
        size_t k = strlen(key);

        if (!p)
                return true;
        while (*p) {
                size_t n = strcspn(p, ",");
                if (n == k && !strncmp(p, key, k))
                        return true;
                p += n;
                if (*p)
                        p++;
        }
        return false;
}

/* ---- results ---- */

typedef struct Row {
        char figure[48];
        char what[96];
        double value, baseline, ratio;
        char unit[16];
        char target[48];
        BenchVerdict verdict;
} Row;

static Row *rows;
static size_t n_rows;
static struct json_object *details;
static int failures;

static const char *verdict_str(BenchVerdict v)
{
        static const char *const t[] = { "reported", "met", "MISSED", "skipped" };
        return t[v];
}

void bench_row(const char *figure, const char *what, double value, double baseline,
               const char *unit, double ratio, const char *target, BenchVerdict v)
{
        Row *r = realloc(rows, (n_rows + 1) * sizeof(*r));

        if (!r)
                return;
        rows = r;
        r = &rows[n_rows++];
        *r = (Row){ .value = value, .baseline = baseline, .ratio = ratio, .verdict = v };
        snprintf(r->figure, sizeof(r->figure), "%s", figure);
        snprintf(r->what, sizeof(r->what), "%s", what);
        snprintf(r->unit, sizeof(r->unit), "%s", unit);
        snprintf(r->target, sizeof(r->target), "%s", target ? target : "");
}

void bench_skip(const char *figure, const char *why)
{
        bench_row(figure, why, NAN, NAN, "", NAN, NULL, VERDICT_SKIPPED);
}

void bench_fail(const char *figure, const char *fmt, ...)
{
        char why[96];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        fprintf(stderr, "gunyah-bench: %s failed: %s\n", figure, why);
        bench_skip(figure, why);
        failures++;
}

void bench_log(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        fprintf(stderr, "gunyah-bench: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

void bench_detail(const char *figure, struct json_object *detail)
{
        if (!details)
                details = json_object_new_object();
        json_object_object_add(details, figure, detail);
}

static void fmt_num(char *buf, size_t n, double v)
{
        if (isnan(v))
                snprintf(buf, n, "-");
        else if (fabs(v) >= 100000)
                snprintf(buf, n, "%.0f", v);
        else if (fabs(v) >= 100)
                snprintf(buf, n, "%.1f", v);
        else
                snprintf(buf, n, "%.2f", v);
}

void bench_print_table(void)
{
        printf("%-22s %-46s %12s %12s %-6s %7s  %-22s %s\n", "figure", "measure", "gunyahd",
               "baseline", "unit", "ratio", "target", "verdict");
        for (size_t i = 0; i < n_rows; i++) {
                Row *r = &rows[i];
                char v[32], b[32], q[32];
                fmt_num(v, sizeof(v), r->value);
                fmt_num(b, sizeof(b), r->baseline);
                fmt_num(q, sizeof(q), r->ratio);
                printf("%-22s %-46s %12s %12s %-6s %7s  %-22s %s\n", r->figure, r->what, v, b,
                       r->unit, q, r->target, verdict_str(r->verdict));
        }
        fflush(stdout);
}

static struct json_object *num_or_null(double v)
{
        return isnan(v) ? NULL : json_object_new_double(v);
}

int bench_write_json(const char *path, struct json_object *machine)
{
        struct json_object *root = json_object_new_object(), *a = json_object_new_array();
        int r;

        json_object_object_add(root, "machine", machine);
        for (size_t i = 0; i < n_rows; i++) {
                Row *w = &rows[i];
                struct json_object *o = json_object_new_object();
                json_object_object_add(o, "figure", json_object_new_string(w->figure));
                json_object_object_add(o, "measure", json_object_new_string(w->what));
                json_object_object_add(o, "value", num_or_null(w->value));
                json_object_object_add(o, "baseline", num_or_null(w->baseline));
                json_object_object_add(o, "unit", json_object_new_string(w->unit));
                json_object_object_add(o, "ratio", num_or_null(w->ratio));
                json_object_object_add(o, "target", json_object_new_string(w->target));
                json_object_object_add(o, "verdict", json_object_new_string(verdict_str(w->verdict)));
                json_object_array_add(a, o);
        }
        json_object_object_add(root, "rows", a);
        json_object_object_add(root, "details", details ? json_object_get(details) : NULL);
        r = json_object_to_file_ext(path, root, JSON_C_TO_STRING_PRETTY);
        json_object_put(root);
        return r < 0 ? -EIO : 0;
}

int bench_exit_code(void)
{
        return failures ? 1 : 0;
}

/* ---- loops ---- */

int bench_measure(BenchOp op, void *ud, unsigned warmup, unsigned iters, Samples *s)
{
        int r;

        for (unsigned i = 0; i < warmup; i++)
                if ((r = op(ud)) < 0)
                        return r;
        for (unsigned i = 0; i < iters; i++) {
                uint64_t t0 = bench_now_ns();
                r = op(ud);
                uint64_t t1 = bench_now_ns();
                if (r < 0)
                        return r;
                samples_add(s, t1 - t0);
        }
        return 0;
}

int bench_ab(BenchOp a, void *ua, Samples *sa, BenchOp b, void *ub, Samples *sb)
{
        int r;

        for (unsigned rep = 0; rep < bench_cfg.reps; rep++) {
                bool a_first = !(rep & 1);
                r = bench_measure(a_first ? a : b, a_first ? ua : ub, bench_cfg.warmup,
                                  bench_cfg.iters, a_first ? sa : sb);
                if (r < 0)
                        return r;
                r = bench_measure(a_first ? b : a, a_first ? ub : ua, bench_cfg.warmup,
                                  bench_cfg.iters, a_first ? sb : sa);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int noop(void *ud)
{
        __asm__ volatile("" ::"r"(ud) : "memory");
        return 0;
}

void bench_overhead(uint64_t *ret_timer_ns, uint64_t *ret_loop_ns)
{
        Samples t = { 0 }, l = { 0 };

        for (unsigned i = 0; i < 100000; i++) {
                uint64_t a = bench_now_ns(), b = bench_now_ns();
                if (i % 10 == 0)
                        samples_add(&t, b - a);
        }
        bench_measure(noop, NULL, 1000, 10000, &l);
        *ret_timer_ns = samples_pct(&t, 50);
        *ret_loop_ns = samples_pct(&l, 50);
        samples_done(&t);
        samples_done(&l);
}
