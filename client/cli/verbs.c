/* SPDX-License-Identifier: MIT */
/*
 * gunyahctl verbs: each calls one libgunyahctl function and prints the reply, as JSON
 * (--json: the API's reply as is, one object per line) or for people.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"

/* Parse a reply we were handed; a daemon reply that is not an object is a failure. */
static int parse_reply(const char *json, struct json_object **ret)
{
        struct json_object *o = json_tokener_parse(json);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                fprintf(stderr, "gunyahctl: gunyahd sent a reply that is not a JSON object\n");
                return EXIT_FAILURE_OTHER;
        }
        *ret = o;
        return EXIT_OK;
}

/* What reply_dispatch() returns when the caller should print *ret_root for people. */
#define REPLY_PRINT_HUMAN (-1)

/* The common end of a call: a failed call is reported (its exit code returned); with --json
 * the reply is printed as it came (EXIT_OK); otherwise it is parsed into *ret_root and
 * REPLY_PRINT_HUMAN is returned. */
static int reply_dispatch(gunyahctl *h, int r, const char *reply, const Options *o,
                          const char *what, struct json_object **ret_root)
{
        int ret;

        if (r < 0)
                return report_error(h, r, what);
        if (o->json) {
                print_json_line(reply);
                return EXIT_OK;
        }
        ret = parse_reply(reply, ret_root);
        return ret == EXIT_OK ? REPLY_PRINT_HUMAN : ret;
}

static const char *bytes_str(struct json_object *o, const char *key, char *buf, size_t size)
{
        int64_t v;
        if (!json_int(o, key, &v) || v < 0)
                return NULL;
        return format_bytes((uint64_t)v, buf, size);
}

/* An integer field in decimal, or in hex with hex set. */
static const char *int_str(struct json_object *o, const char *key, bool hex, char *buf,
                           size_t size)
{
        int64_t v;
        if (!json_int(o, key, &v))
                return NULL;
        if (hex)
                snprintf(buf, size, "0x%" PRIx64, (uint64_t)v);
        else
                snprintf(buf, size, "%" PRId64, v);
        return buf;
}

static int open_image(const char *path, const char *what, int *ret_fd)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                fprintf(stderr, "gunyahctl: cannot open %s %s: %m\n", what, path);
                return EXIT_USAGE;
        }
        *ret_fd = fd;
        return EXIT_OK;
}

int verb_create(gunyahctl *h, const Options *o, char **args)
{
        if (!(o->given & OPT_MEMORY)) {
                fprintf(stderr, "gunyahctl: create needs --memory\n");
                return EXIT_USAGE;
        }
        if (!!o->kernel == !!o->kernel_path || (o->initrd && o->initrd_path)) {
                fprintf(stderr, "gunyahctl: create needs one of --kernel or --kernel-path, and "
                                "at most one of --initrd or --initrd-path\n");
                return EXIT_USAGE;
        }
        struct gunyahctl_vm_spec spec;
        gunyahctl_vm_spec_init(&spec);
        spec.name = args[0];
        spec.vcpus = o->vcpus;
        spec.memory_bytes = o->memory;
        spec.memory_base = o->memory_base;
        spec.kernel_path = o->kernel_path;
        spec.initrd_path = o->initrd_path;
        spec.cmdline = o->cmdline;
        spec.demand_paging = o->demand_paging;
        spec.transient = o->transient;
        _cleanup_close_ int kernel_fd = -1, initrd_fd = -1;
        int ret;
        if (o->kernel && (ret = open_image(o->kernel, "kernel", &kernel_fd)) != EXIT_OK)
                return ret;
        if (o->initrd && (ret = open_image(o->initrd, "initrd", &initrd_fd)) != EXIT_OK)
                return ret;
        spec.kernel_fd = kernel_fd;
        spec.initrd_fd = initrd_fd;

        _cleanup_free_ char *reply = NULL;
        int r = gunyahctl_create_vm(h, &spec, &reply);
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        ret = reply_dispatch(h, r, reply, o, "create the VM", &root);
        if (ret != REPLY_PRINT_HUMAN)
                return ret;
        struct json_object *vm = json_get(root, "vm", json_type_object);
        char mem[32];
        int64_t vcpus = 0;
        json_int(vm, "vcpus", &vcpus);
        printf("Created VM %s (%" PRId64 " vCPU%s, %s), UUID %s\n", args[0], vcpus,
               vcpus == 1 ? "" : "s",
               format_bytes(o->memory, mem, sizeof(mem)), json_str(vm, "uuid") ?: "-");
        return EXIT_OK;
}

/* ---- start, with progress ---- */

typedef struct StartWatch {
        const Options *o;
        bool bar;
} StartWatch;

/* One progress reply: stage, step of steps (when the daemon counts them) and detail. */
static int start_progress(const char *stage, const char *json, void *userdata)
{
        StartWatch *w = userdata;
        if (w->o->json) {
                print_json_line(json);
                return 0;
        }
        _cleanup_(json_object_putp) struct json_object *p = json_tokener_parse(json);
        char label[200], count[48] = "";
        int64_t step = 0, steps = 0;
        bool counted = json_int(p, "step", &step) && json_int(p, "steps", &steps) && step >= 0 &&
                       steps > 0 && step <= steps;
        if (counted)
                snprintf(count, sizeof(count), "[%" PRId64 "/%" PRId64 "] ", step, steps);
        const char *detail = json_str(p, "detail");
        snprintf(label, sizeof(label), "%s%s%s%s", count, stage, detail ? ": " : "",
                 detail ?: "");
        if (w->bar)
                progress_bar_draw(counted ? (unsigned)step : 0, counted ? (unsigned)steps : 1,
                                  label + strlen(count));
        else {
                printf("%s\n", label);
                fflush(stdout);
        }
        return 0;
}

int verb_start(gunyahctl *h, const Options *o, char **args)
{
        StartWatch w = { .o = o, .bar = !o->json && output_stderr_is_tty() };
        _cleanup_free_ char *reply = NULL;
        int r = gunyahctl_start_vm(h, args[0], start_progress, &w, &reply);
        if (w.bar)
                progress_bar_clear();
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        int ret = reply_dispatch(h, r, reply, o, "start the VM", &root);
        if (ret != REPLY_PRINT_HUMAN)
                return ret;
        struct json_object *vm = json_get(root, "vm", json_type_object);
        const char *state = json_str(vm, "state") ?: json_str(root, "stage") ?: "started";
        int64_t vmid = -1;
        json_int(vm, "vmid", &vmid);
        printf("VM %s is %s%s%s (VMID %" PRId64 ")\n", args[0],
               output_colour(output_state_colour(state)), state, output_reset(), vmid);
        return EXIT_OK;
}

int verb_stop(gunyahctl *h, const Options *o, char **args)
{
        _cleanup_free_ char *reply = NULL;
        uint32_t timeout = o->timeout_sec > UINT32_MAX ? UINT32_MAX : (uint32_t)o->timeout_sec;
        int r = gunyahctl_stop_vm(h, args[0], o->force, timeout, &reply);
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        int ret = reply_dispatch(h, r, reply, o, "stop the VM", &root);
        if (ret != REPLY_PRINT_HUMAN)
                return ret;
        const char *state = json_str(json_get(root, "vm", json_type_object), "state") ?: "-";
        printf("VM %s is %s%s%s\n", args[0], output_colour(output_state_colour(state)), state,
               output_reset());
        return EXIT_OK;
}

int verb_destroy(gunyahctl *h, const Options *o, char **args)
{
        _cleanup_free_ char *reply = NULL;
        int r = gunyahctl_destroy_vm(h, args[0], &reply);
        if (r < 0)
                return report_error(h, r, "destroy the VM");
        if (o->json)
                print_json_line(reply);
        else
                printf("Destroyed VM %s\n", args[0]);
        return EXIT_OK;
}

/* ---- list and info ---- */

static int vm_table_add(Table *t, struct json_object *vm)
{
        char vmid[24], vcpus[24], mem[32];
        const char *state = json_str(vm, "state");
        int64_t size;
        if (!json_int(vm, "memorySize", &size)) {
                struct json_object *m = json_get(vm, "memory", json_type_object);
                if (!json_int(m, "size", &size))
                        size = -1;
        }
        int r = 0;
        r |= table_add(t, json_str(vm, "name"), COLOUR_NONE);
        r |= table_add(t, state, output_state_colour(state));
        r |= table_add(t, int_str(vm, "vmid", false, vmid, sizeof(vmid)), COLOUR_NONE);
        r |= table_add(t, json_str(vm, "rmStatus"), COLOUR_NONE);
        r |= table_add(t, json_str(vm, "osStatus"), COLOUR_NONE);
        r |= table_add(t, int_str(vm, "vcpus", false, vcpus, sizeof(vcpus)), COLOUR_NONE);
        r |= table_add(t, size >= 0 ? format_bytes((uint64_t)size, mem, sizeof(mem)) : NULL,
                       COLOUR_NONE);
        return r < 0 ? -ENOMEM : 0;
}

static int print_vm_table(struct json_object *vms)
{
        static const char *const headers[] = { "NAME",      "STATE", "VMID",  "RM STATUS",
                                               "OS STATUS", "VCPUS", "MEMORY" };
        Table *t = table_new(ELEMENTSOF(headers), headers);
        if (!t)
                return -ENOMEM;
        size_t n = vms ? json_object_array_length(vms) : 0;
        for (size_t i = 0; i < n; i++)
                if (vm_table_add(t, json_object_array_get_idx(vms, i)) < 0) {
                        table_free(t);
                        return -ENOMEM;
                }
        table_print(t);
        table_free(t);
        return 0;
}

int verb_list(gunyahctl *h, const Options *o, char **args)
{
        _cleanup_free_ char *reply = NULL;
        int r = gunyahctl_list_vms(h, &reply);
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        int ret = reply_dispatch(h, r, reply, o, "list VMs", &root);
        if (ret != REPLY_PRINT_HUMAN)
                return ret;
        struct json_object *vms = json_get(root, "vms", json_type_array);
        if (!vms || json_object_array_length(vms) == 0) {
                printf("No VMs.\n");
                return EXIT_OK;
        }
        return print_vm_table(vms) < 0 ? EXIT_FAILURE_OTHER : EXIT_OK;
}

static void kv(const char *key, const char *value, Colour c)
{
        printf("%16s: %s%s%s\n", key, output_colour(c), value ? value : "-",
               *output_colour(c) ? output_reset() : "");
}

static void print_parcels(struct json_object *parcels)
{
        static const char *const headers[] = { "HANDLE", "KIND", "IPA", "SIZE", "EXTENTS",
                                               "STATE" };
        size_t n = parcels ? json_object_array_length(parcels) : 0;
        if (n == 0)
                return;
        Table *t = table_new(ELEMENTSOF(headers), headers);
        if (!t)
                return;
        for (size_t i = 0; i < n; i++) {
                struct json_object *p = json_object_array_get_idx(parcels, i);
                char a[24], b[24], c[32], d[24];
                table_add(t, int_str(p, "handle", false, a, sizeof(a)), COLOUR_NONE);
                table_add(t, json_str(p, "kind"), COLOUR_NONE);
                table_add(t, int_str(p, "ipa", true, b, sizeof(b)), COLOUR_NONE);
                table_add(t, bytes_str(p, "size", c, sizeof(c)), COLOUR_NONE);
                table_add(t, int_str(p, "extents", false, d, sizeof(d)), COLOUR_NONE);
                table_add(t, json_str(p, "state"), COLOUR_NONE);
        }
        printf("\n");
        table_print(t);
        table_free(t);
}

static void print_vm_info(struct json_object *vm)
{
        char buf[64], buf2[64];
        const char *state = json_str(vm, "state");
        struct json_object *mem = json_get(vm, "memory", json_type_object);
        struct json_object *dp = json_get(vm, "demandPaging", json_type_object);
        struct json_object *ex = json_get(vm, "exit", json_type_object);
        kv("Name", json_str(vm, "name"), COLOUR_BOLD);
        kv("UUID", json_str(vm, "uuid"), COLOUR_NONE);
        kv("State", state, output_state_colour(state));
        kv("VMID", int_str(vm, "vmid", false, buf, sizeof(buf)), COLOUR_NONE);
        kv("RM status", json_str(vm, "rmStatus"), COLOUR_NONE);
        kv("OS status", json_str(vm, "osStatus"), COLOUR_NONE);
        kv("vCPUs", int_str(vm, "vcpus", false, buf, sizeof(buf)), COLOUR_NONE);
        kv("Memory", bytes_str(mem, "size", buf, sizeof(buf)), COLOUR_NONE);
        kv("Memory base", int_str(mem, "base", true, buf, sizeof(buf)), COLOUR_NONE);
        kv("Memory lent", bytes_str(mem, "lent", buf, sizeof(buf)), COLOUR_NONE);
        kv("Kernel", json_str(vm, "kernel"), COLOUR_NONE);
        kv("Initrd", json_str(vm, "initrd"), COLOUR_NONE);
        kv("Command line", json_str(vm, "cmdline"), COLOUR_NONE);
        struct json_object *pers = json_get(vm, "persistent", json_type_boolean);
        kv("Persistent", pers ? (json_object_get_boolean(pers) ? "yes" : "no") : NULL,
           COLOUR_NONE);
        kv("Boot convention", json_str(vm, "bootConvention"), COLOUR_NONE);
        if (dp) {
                int64_t served = 0, failed = 0, mean = 0;
                json_int(dp, "faultsServed", &served);
                json_int(dp, "faultsFailed", &failed);
                json_int(dp, "latencyMean", &mean);
                snprintf(buf2, sizeof(buf2),
                         "%" PRId64 " faults served, %" PRId64 " failed, %s lent, mean %" PRId64
                         " us",
                         served, failed, bytes_str(dp, "bytesLent", buf, sizeof(buf)) ?: "-",
                         mean);
                kv("Demand paging", buf2, COLOUR_NONE);
        }
        const char *last_error = json_str(vm, "lastError");
        if (last_error)
                kv("Last error", last_error, COLOUR_RED);
        if (ex) {
                const char *code = json_str(ex, "code");
                const char *crash = json_str(ex, "crashMessage");
                snprintf(buf2, sizeof(buf2), "%s%s%s", json_str(ex, "type") ?: "?",
                         code ? " " : "", code ?: "");
                kv("Exit", buf2, COLOUR_YELLOW);
                if (crash)
                        kv("Crash message", crash, COLOUR_RED);
        }
        print_parcels(json_get(vm, "parcels", json_type_array));
}

int verb_info(gunyahctl *h, const Options *o, char **args)
{
        _cleanup_free_ char *reply = NULL;
        int r = gunyahctl_describe_vm(h, args[0], &reply);
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        int ret = reply_dispatch(h, r, reply, o, "describe the VM", &root);
        if (ret != REPLY_PRINT_HUMAN)
                return ret;
        print_vm_info(json_get(root, "vm", json_type_object));
        return EXIT_OK;
}

/* ---- monitor ---- */

static void print_event(struct json_object *ev)
{
        char when[32], cause[96] = "";
        int64_t t = 0, uid, pid, id;
        json_int(ev, "time", &t);
        struct json_object *c = json_get(ev, "cause", json_type_object);
        const char *kind = json_str(c, "kind");
        if (kind && strcmp(kind, "api") == 0 && json_int(c, "uid", &uid) &&
            json_int(c, "pid", &pid))
                snprintf(cause, sizeof(cause), " (uid %" PRId64 " pid %" PRId64 " %s)", uid,
                         pid, json_str(c, "method") ?: "");
        else if (kind && strcmp(kind, "rm") == 0 && json_int(c, "rmMessageId", &id))
                snprintf(cause, sizeof(cause), " (RM 0x%08" PRIx64 ")", id);
        else if (kind)
                snprintf(cause, sizeof(cause), " (%s)", kind);
        const char *state = json_str(ev, "state");
        printf("%s  %-16s %-16s %s%-10s%s %s%s\n", format_time_usec(t, when, sizeof(when)),
               json_str(ev, "kind") ?: "-", json_str(ev, "vm") ?: "-",
               output_colour(output_state_colour(state)), state ?: "-",
               *output_colour(output_state_colour(state)) ? output_reset() : "",
               json_str(ev, "details") ?: "", cause);
        fflush(stdout);
}

int verb_monitor(gunyahctl *h, const Options *o, char **args)
{
        int r = gunyahctl_monitor_begin(h, o->since);
        if (r < 0)
                return report_error(h, r, "monitor");
        uint64_t timeout = o->timeout_sec ? o->timeout_sec * UINT64_C(1000000)
                                          : GUNYAHCTL_TIMEOUT_INFINITY;
        uint64_t events = 0;
        for (;;) {
                _cleanup_free_ char *reply = NULL;
                r = gunyahctl_monitor_next(h, timeout, &reply);
                if (r == -EAGAIN)
                        break; /* --timeout seconds without an event */
                if (r < 0)
                        return report_error(h, r, "monitor");
                _cleanup_(json_object_putp) struct json_object *root = NULL;
                int ret = parse_reply(reply, &root);
                if (ret != EXIT_OK)
                        return ret;
                struct json_object *snap = json_get(root, "snapshot", json_type_array);
                struct json_object *ev = json_get(root, "event", json_type_object);
                if (o->json)
                        print_json_line(reply);
                else {
                        if (snap && print_vm_table(snap) < 0)
                                return EXIT_FAILURE_OTHER;
                        if (ev)
                                print_event(ev);
                }
                if (r == 0)
                        break; /* the daemon ended the stream */
                if (ev && o->count && ++events >= o->count)
                        break;
        }
        const char *cursor = gunyahctl_monitor_cursor(h);
        if (!o->json && cursor && output_stderr_is_tty())
                fprintf(stderr, "Resume with: gunyahctl monitor --since=%s\n", cursor);
        gunyahctl_monitor_end(h);
        return EXIT_OK;
}

/* ---- daemon-info ---- */

int verb_daemon_info(gunyahctl *h, const Options *o, char **args)
{
        _cleanup_free_ char *reply = NULL;
        int r = gunyahctl_get_daemon_info(h, &reply);
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        int ret = reply_dispatch(h, r, reply, o, "get the daemon's information", &root);
        if (ret != REPLY_PRINT_HUMAN)
                return ret;
        char buf2[200];
        struct json_object *link = json_get(root, "rmLink", json_type_object);
        struct json_object *pool = json_get(root, "pool", json_type_object);
        struct json_object *caps = json_get(root, "capabilities", json_type_array);
        struct json_object *ready = json_get(link, "ready", json_type_boolean);
        const char *link_state = json_str(link, "state");
        int64_t calls = 0, rm_errors = 0, timeouts = 0, link_failures = 0, bad = 0;
        json_int(link, "calls", &calls);
        json_int(link, "rmErrors", &rm_errors);
        json_int(link, "timeouts", &timeouts);
        json_int(link, "linkFailures", &link_failures);
        json_int(link, "badPackets", &bad);
        kv("Version", json_str(root, "version"), COLOUR_BOLD);
        snprintf(buf2, sizeof(buf2), "%s%s", link_state ?: "-",
                 ready && !json_object_get_boolean(ready) ? " (recovering)" : "");
        kv("RM link", buf2, output_state_colour(link_state));
        kv("RM transport", json_str(link, "description"), COLOUR_NONE);
        snprintf(buf2, sizeof(buf2),
                 "%" PRId64 " made, %" PRId64 " answered with an RM error, %" PRId64
                 " timed out, %" PRId64 " lost with the link",
                 calls, rm_errors, timeouts, link_failures);
        kv("RM calls", buf2, COLOUR_NONE);
        if (bad > 0) {
                snprintf(buf2, sizeof(buf2), "%" PRId64, bad);
                kv("Bad RM packets", buf2, COLOUR_RED);
        }
        kv("RM profile", json_str(root, "rmProfile"), COLOUR_NONE);
        buf2[0] = 0;
        for (size_t i = 0; caps && i < json_object_array_length(caps); i++) {
                const char *c = json_object_get_string(json_object_array_get_idx(caps, i));
                size_t len = strlen(buf2);
                snprintf(buf2 + len, sizeof(buf2) - len, "%s%s", i ? ", " : "", c ?: "");
        }
        kv("Capabilities", caps ? (buf2[0] ? buf2 : "none") : NULL, COLOUR_NONE);
        int64_t n_vms = 0, n_running = 0;
        json_int(root, "vmCount", &n_vms);
        json_int(root, "runningCount", &n_running);
        snprintf(buf2, sizeof(buf2), "%" PRId64 " (%" PRId64 " running)", n_vms, n_running);
        kv("VMs", buf2, COLOUR_NONE);
        if (pool) {
                char u[32], z[32], f[32];
                int64_t ipa = 0;
                json_int(pool, "ipa", &ipa);
                snprintf(buf2, sizeof(buf2), "%s used of %s at 0x%" PRIx64 ", largest free %s",
                         bytes_str(pool, "used", u, sizeof(u)) ?: "-",
                         bytes_str(pool, "size", z, sizeof(z)) ?: "-", (uint64_t)ipa,
                         bytes_str(pool, "largestFree", f, sizeof(f)) ?: "-");
                int64_t q = 0;
                if (json_int(pool, "quarantined", &q) && q > 0) {
                        size_t len = strlen(buf2);
                        snprintf(buf2 + len, sizeof(buf2) - len, ", %s quarantined",
                                 bytes_str(pool, "quarantined", f, sizeof(f)) ?: "-");
                }
                kv("Pool", buf2, COLOUR_NONE);
        }
        return EXIT_OK;
}
