/* SPDX-License-Identifier: MIT */
/*
 * gunyahctl: command line client of gunyahd. main() parses the options, looks the verb up
 * in the verb table, connects and runs it; report_error() turns a failure into a message
 * and an exit code by error class.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"

static const Verb verbs[] = {
        { "list", "", 0, 0, 0, verb_list, "List every VM" },
        { "info", "NAME", 1, 1, 0, verb_info, "Show one VM in detail" },
        { "create", "NAME", 1, 1,
          OPT_VCPUS | OPT_MEMORY | OPT_KERNEL | OPT_KERNEL_PATH | OPT_INITRD |
                  OPT_INITRD_PATH | OPT_CMDLINE | OPT_DEMAND_PAGING | OPT_TRANSIENT |
                  OPT_MEMORY_BASE,
          verb_create, "Define a VM" },
        { "start", "NAME", 1, 1, 0, verb_start, "Boot a VM, showing its progress" },
        { "stop", "NAME", 1, 1, OPT_FORCE, verb_stop, "Shut a VM down (--force: at once)" },
        { "destroy", "NAME", 1, 1, 0, verb_destroy, "Stop a VM, free it and forget it" },
        { "monitor", "", 0, 0, OPT_SINCE | OPT_COUNT, verb_monitor,
          "Show every VM, then follow events" },
        { "daemon-info", "", 0, 0, 0, verb_daemon_info, "Show gunyahd's version, RM and pool" },
};

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: gunyahctl [OPTIONS] VERB [ARGS]\n"
                "\n"
                "Control VMs through gunyahd, the Gunyah hypervisor host daemon.\n"
                "\n"
                "Verbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                char head[64];
                snprintf(head, sizeof(head), "%s %s", verbs[i].name, verbs[i].args);
                fprintf(f, "  %-20s %s\n", head, verbs[i].help);
        }
        fprintf(f,
                "\n"
                "Options:\n"
                "  -h --help              Show this help\n"
                "     --version           Show the version\n"
                "  -A --address=ADDRESS   gunyahd's socket (path or unix:PATH; default\n"
                "                         $GUNYAHCTL_ADDRESS, else %s)\n"
                "  -j --json              Print the API's replies as JSON\n"
                "  -t --timeout=SECONDS   Call timeout; for stop, the graceful stop timeout\n"
                "create:\n"
                "  -c --vcpus=N           Virtual CPUs (default 1)\n"
                "  -m --memory=SIZE       RAM, e.g. 256M or 1G (required)\n"
                "  -k --kernel=FILE       Local arm64 Image, passed to gunyahd as an fd\n"
                "     --kernel-path=PATH  Kernel inside gunyahd's image directory\n"
                "  -i --initrd=FILE       Local initrd, passed as an fd\n"
                "     --initrd-path=PATH  Initrd inside gunyahd's image directory\n"
                "     --cmdline=STRING    Kernel command line\n"
                "     --memory-base=ADDR  Guest address of RAM (default 0x80000000)\n"
                "     --demand-paging     Lend RAM as the guest touches it\n"
                "     --transient         Forget the VM when destroyed or on daemon restart\n"
                "stop:\n"
                "  -f --force             Stop at once instead of asking the guest\n"
                "monitor:\n"
                "     --since=CURSOR      Resume after this event cursor\n"
                "  -n --count=N           Exit after N events\n"
                "\n"
                "See gunyahctl(1) for exit codes.\n",
                GUNYAHCTL_DEFAULT_ADDRESS);
}

enum {
        ARG_VERSION = 0x100,
        ARG_KERNEL_PATH,
        ARG_INITRD_PATH,
        ARG_CMDLINE,
        ARG_MEMORY_BASE,
        ARG_DEMAND_PAGING,
        ARG_TRANSIENT,
        ARG_SINCE,
};

static int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
        if (!s || !*s || *s == '-')
                return -EINVAL;
        errno = 0;
        char *end;
        unsigned long long v = strtoull(s, &end, 0);
        if (errno || *end || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_options(int argc, char **argv, Options *o)
{
        static const struct option long_options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "address", required_argument, NULL, 'A' },
                { "json", no_argument, NULL, 'j' },
                { "timeout", required_argument, NULL, 't' },
                { "vcpus", required_argument, NULL, 'c' },
                { "memory", required_argument, NULL, 'm' },
                { "kernel", required_argument, NULL, 'k' },
                { "kernel-path", required_argument, NULL, ARG_KERNEL_PATH },
                { "initrd", required_argument, NULL, 'i' },
                { "initrd-path", required_argument, NULL, ARG_INITRD_PATH },
                { "cmdline", required_argument, NULL, ARG_CMDLINE },
                { "memory-base", required_argument, NULL, ARG_MEMORY_BASE },
                { "demand-paging", no_argument, NULL, ARG_DEMAND_PAGING },
                { "transient", no_argument, NULL, ARG_TRANSIENT },
                { "force", no_argument, NULL, 'f' },
                { "since", required_argument, NULL, ARG_SINCE },
                { "count", required_argument, NULL, 'n' },
                {},
        };
        uint64_t v;
        int c;
        while ((c = getopt_long(argc, argv, "hA:jt:c:m:k:i:fn:", long_options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        usage(stdout);
                        exit(EXIT_OK);
                case ARG_VERSION:
                        printf("gunyahctl %s\n", GUNYAHD_VERSION);
                        exit(EXIT_OK);
                case 'A':
                        o->address = optarg;
                        break;
                case 'j':
                        o->json = true;
                        break;
                case 't':
                        if (parse_u64(optarg, UINT32_MAX, &o->timeout_sec) < 0 ||
                            o->timeout_sec == 0) {
                                fprintf(stderr, "gunyahctl: invalid --timeout: %s\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'c':
                        if (parse_u64(optarg, UINT32_MAX, &v) < 0 || v == 0) {
                                fprintf(stderr, "gunyahctl: invalid --vcpus: %s\n", optarg);
                                return -EINVAL;
                        }
                        o->vcpus = (uint32_t)v;
                        o->given |= OPT_VCPUS;
                        break;
                case 'm':
                        if (parse_bytes(optarg, &o->memory) < 0 || o->memory == 0) {
                                fprintf(stderr, "gunyahctl: invalid --memory: %s\n", optarg);
                                return -EINVAL;
                        }
                        o->given |= OPT_MEMORY;
                        break;
                case 'k':
                        o->kernel = optarg;
                        o->given |= OPT_KERNEL;
                        break;
                case ARG_KERNEL_PATH:
                        o->kernel_path = optarg;
                        o->given |= OPT_KERNEL_PATH;
                        break;
                case 'i':
                        o->initrd = optarg;
                        o->given |= OPT_INITRD;
                        break;
                case ARG_INITRD_PATH:
                        o->initrd_path = optarg;
                        o->given |= OPT_INITRD_PATH;
                        break;
                case ARG_CMDLINE:
                        o->cmdline = optarg;
                        o->given |= OPT_CMDLINE;
                        break;
                case ARG_MEMORY_BASE:
                        if (parse_u64(optarg, INT64_MAX, &o->memory_base) < 0) {
                                fprintf(stderr, "gunyahctl: invalid --memory-base: %s\n",
                                        optarg);
                                return -EINVAL;
                        }
                        o->given |= OPT_MEMORY_BASE;
                        break;
                case ARG_DEMAND_PAGING:
                        o->demand_paging = true;
                        o->given |= OPT_DEMAND_PAGING;
                        break;
                case ARG_TRANSIENT:
                        o->transient = true;
                        o->given |= OPT_TRANSIENT;
                        break;
                case 'f':
                        o->force = true;
                        o->given |= OPT_FORCE;
                        break;
                case ARG_SINCE:
                        o->since = optarg;
                        o->given |= OPT_SINCE;
                        break;
                case 'n':
                        if (parse_u64(optarg, UINT64_MAX, &o->count) < 0 || o->count == 0) {
                                fprintf(stderr, "gunyahctl: invalid --count: %s\n", optarg);
                                return -EINVAL;
                        }
                        o->given |= OPT_COUNT;
                        break;
                default:
                        return -EINVAL; /* getopt printed why */
                }
        }
        return 0;
}

static const Verb *verb_find(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(verbs[i].name, name) == 0)
                        return &verbs[i];
        return NULL;
}

int main(int argc, char **argv)
{
        Options o = {};
        output_init();
        if (parse_options(argc, argv, &o) < 0) {
                fprintf(stderr, "Try 'gunyahctl --help'.\n");
                return EXIT_USAGE;
        }
        const char *name = optind < argc ? argv[optind++] : "list";
        const Verb *verb = verb_find(name);
        if (!verb) {
                fprintf(stderr, "gunyahctl: unknown verb '%s'. Try 'gunyahctl --help'.\n", name);
                return EXIT_USAGE;
        }
        unsigned n_args = (unsigned)(argc - optind);
        if (n_args < verb->min_args || n_args > verb->max_args) {
                fprintf(stderr, "gunyahctl: usage: gunyahctl %s %s\n", verb->name, verb->args);
                return EXIT_USAGE;
        }
        if (o.given & ~verb->options) {
                fprintf(stderr, "gunyahctl: an option given does not apply to '%s'. "
                                "Try 'gunyahctl --help'.\n",
                        verb->name);
                return EXIT_USAGE;
        }

        gunyahctl *h = NULL;
        int r = gunyahctl_connect(&h, o.address);
        if (r < 0) {
                const char *address = o.address;
                if (!address || !*address)
                        address = getenv(GUNYAHCTL_ADDRESS_ENV);
                if (!address || !*address)
                        address = GUNYAHCTL_DEFAULT_ADDRESS;
                fprintf(stderr, "gunyahctl: cannot connect to gunyahd at %s: %s\n", address,
                        strerror(-r));
                return r == -EACCES || r == -EPERM ? EXIT_PERMISSION
                       : r == -EINVAL              ? EXIT_USAGE
                                                   : EXIT_UNAVAILABLE;
        }
        /* stop --timeout is the daemon's graceful wait: give the call that and a margin. */
        if (o.timeout_sec > 0)
                gunyahctl_set_timeout(h, (o.timeout_sec + (verb->run == verb_stop ? 30 : 0)) *
                                                 UINT64_C(1000000));
        int ret = verb->run(h, &o, argv + optind);
        gunyahctl_disconnect(h);
        if (fflush(stdout) != 0 && ret == EXIT_OK) {
                fprintf(stderr, "gunyahctl: cannot write output: %m\n");
                ret = EXIT_FAILURE_OTHER;
        }
        return ret;
}

/* ---- errors ---- */

typedef struct ErrorClass {
        const char *name; /* short name inside io.gunyah.Manager or org.varlink.service */
        int exit_code;
        /* A message from the error's parameters into buf. */
        void (*format)(gunyahctl *h, const char *what, char *buf, size_t size);
} ErrorClass;

static const char *param(gunyahctl *h, const char *key)
{
        const char *s = NULL;
        return gunyahctl_error_get_string(h, key, &s) >= 0 ? s : "?";
}

static void fmt_no_such_vm(gunyahctl *h, const char *what, char *buf, size_t size)
{
        snprintf(buf, size, "no such VM: %s", param(h, "name"));
}

static void fmt_vm_exists(gunyahctl *h, const char *what, char *buf, size_t size)
{
        snprintf(buf, size, "a VM named %s already exists", param(h, "name"));
}

static void fmt_invalid_state(gunyahctl *h, const char *what, char *buf, size_t size)
{
        snprintf(buf, size, "cannot %s: VM %s is %s", what, param(h, "name"),
                 param(h, "state"));
}

static void fmt_rm_error(gunyahctl *h, const char *what, char *buf, size_t size)
{
        int64_t code = 0;
        gunyahctl_error_get_int(h, "code", &code);
        snprintf(buf, size, "cannot %s: the Resource Manager refused %s: %s (%" PRId64 ")",
                 what, param(h, "call"), param(h, "name"), code);
}

static void fmt_rm_unavailable(gunyahctl *h, const char *what, char *buf, size_t size)
{
        snprintf(buf, size, "cannot %s: the link to the Resource Manager is down "
                            "(gunyahd reconnects on its own)", what);
}

static void fmt_out_of_memory(gunyahctl *h, const char *what, char *buf, size_t size)
{
        int64_t req = -1, avail = -1;
        char a[32] = "?", b[32] = "?";
        if (gunyahctl_error_get_int(h, "requested", &req) >= 0 && req >= 0)
                format_bytes((uint64_t)req, a, sizeof(a));
        if (gunyahctl_error_get_int(h, "available", &avail) >= 0 && avail >= 0)
                format_bytes((uint64_t)avail, b, sizeof(b));
        snprintf(buf, size, "cannot %s: the host pool is too small (requested %s, available %s)",
                 what, a, b);
}

static void fmt_timeout(gunyahctl *h, const char *what, char *buf, size_t size)
{
        snprintf(buf, size, "cannot %s: timed out waiting for %s", what, param(h, "operation"));
}

static void fmt_invalid_image(gunyahctl *h, const char *what, char *buf, size_t size)
{
        snprintf(buf, size, "cannot use the %s: %s", param(h, "parameter"), param(h, "reason"));
}

static void fmt_cursor_expired(gunyahctl *h, const char *what, char *buf, size_t size)
{
        snprintf(buf, size, "gunyahd no longer holds the events after cursor %s; "
                            "run monitor without --since", param(h, "cursor"));
}

static void fmt_system_error(gunyahctl *h, const char *what, char *buf, size_t size)
{
        int64_t e = 0;
        gunyahctl_error_get_int(h, "errno", &e);
        snprintf(buf, size, "cannot %s: gunyahd failed: %s", what,
                 e > 0 && e < INT_MAX ? strerror((int)e) : param(h, "errnoName"));
}

static void fmt_reason(gunyahctl *h, const char *what, char *buf, size_t size)
{
        snprintf(buf, size, "cannot %s: %s", what, param(h, "reason"));
}

static void fmt_permission(gunyahctl *h, const char *what, char *buf, size_t size)
{
        snprintf(buf, size, "cannot %s: permission denied (changes need root or gunyahd's "
                            "admin group)", what);
}

static void fmt_invalid_parameter(gunyahctl *h, const char *what, char *buf, size_t size)
{
        snprintf(buf, size, "cannot %s: gunyahd rejected parameter '%s'", what,
                 param(h, "parameter"));
}

static const ErrorClass error_classes[] = {
        { "io.gunyah.Manager.NoSuchVM", EXIT_NO_SUCH_VM, fmt_no_such_vm },
        { "io.gunyah.Manager.VMExists", EXIT_STATE, fmt_vm_exists },
        { "io.gunyah.Manager.InvalidState", EXIT_STATE, fmt_invalid_state },
        { "io.gunyah.Manager.RMError", EXIT_RM, fmt_rm_error },
        { "io.gunyah.Manager.OutOfMemory", EXIT_RM, fmt_out_of_memory },
        { "io.gunyah.Manager.Timeout", EXIT_RM, fmt_timeout },
        { "io.gunyah.Manager.RMUnavailable", EXIT_UNAVAILABLE, fmt_rm_unavailable },
        { "io.gunyah.Manager.InvalidImage", EXIT_USAGE, fmt_invalid_image },
        { "io.gunyah.Manager.CursorExpired", EXIT_FAILURE_OTHER, fmt_cursor_expired },
        { "io.gunyah.Manager.SystemError", EXIT_FAILURE_OTHER, fmt_system_error },
        { "io.gunyah.Manager.Unsupported", EXIT_RM, fmt_reason },
        { "io.gunyah.Manager.RMProtocolError", EXIT_RM, fmt_reason },
        { "org.varlink.service.PermissionDenied", EXIT_PERMISSION, fmt_permission },
        { "org.varlink.service.InvalidParameter", EXIT_USAGE, fmt_invalid_parameter },
};

int report_error(gunyahctl *h, int r, const char *what)
{
        const char *name = gunyahctl_error_name(h);
        char msg[512];
        if (!name) {
                fprintf(stderr, "gunyahctl: cannot %s: %s\n", what, strerror(-r));
                switch (-r) {
                case EACCES:
                case EPERM:
                        return EXIT_PERMISSION;
                case ENOENT:
                case ECONNREFUSED:
                case ECONNRESET:
                case EPIPE:
                case ETIMEDOUT:
                        return EXIT_UNAVAILABLE;
                case EINVAL:
                        return EXIT_USAGE;
                default:
                        return EXIT_FAILURE_OTHER;
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(error_classes); i++) {
                if (strcmp(error_classes[i].name, name) != 0)
                        continue;
                error_classes[i].format(h, what, msg, sizeof(msg));
                fprintf(stderr, "gunyahctl: %s\n", msg);
                return error_classes[i].exit_code;
        }
        fprintf(stderr, "gunyahctl: cannot %s: gunyahd answered %s %s\n", what, name,
                gunyahctl_error_parameters_json(h));
        return EXIT_FAILURE_OTHER;
}

/* ---- json readers ---- */

struct json_object *json_get(struct json_object *o, const char *key, json_type type)
{
        struct json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) || !v || !json_object_is_type(v, type))
                return NULL;
        return v;
}

const char *json_str(struct json_object *o, const char *key)
{
        struct json_object *v = json_get(o, key, json_type_string);
        return v ? json_object_get_string(v) : NULL;
}

bool json_int(struct json_object *o, const char *key, int64_t *ret)
{
        struct json_object *v = json_get(o, key, json_type_int);
        if (!v)
                return false;
        *ret = json_object_get_int64(v);
        return true;
}

void print_json_line(const char *json)
{
        fputs(json, stdout);
        fputc('\n', stdout);
        fflush(stdout);
}
