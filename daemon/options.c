/* SPDX-License-Identifier: MIT */
/* Daemon options: flags and /etc/gunyahd/gunyahd.conf, one table for both. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "options.h"
#include "pool.h"

typedef enum OptKind { OPT_STRING, OPT_FD, OPT_POOL, OPT_DURATION } OptKind;

typedef struct OptionDef {
        const char *name;
        OptKind kind;
        size_t offset; /* of the char* / int / uint64_t field */
        const char *help;
} OptionDef;

#define OFF(f) offsetof(Options, f)
static const OptionDef option_table[] = {
        { "rm-device", OPT_STRING, OFF(rm_device), "PATH  RM message device (default /dev/gunyah)" },
        { "rm-socket", OPT_STRING, OFF(rm_socket), "PATH  RM over a SOCK_SEQPACKET socket (gunyah-rm-sim)" },
        { "rm-fd", OPT_FD, OFF(rm_fd), "N     RM over an inherited message fd" },
        { "pool", OPT_POOL, 0, "FILE:IPA:SIZE | device  host memory pool" },
        { "state-dir", OPT_STRING, OFF(state_dir), "DIR   persistent state (default /var/lib/gunyahd)" },
        { "runtime-dir", OPT_STRING, OFF(runtime_dir), "DIR   records of this boot's VMs (default $RUNTIME_DIRECTORY, else STATE-DIR/runtime)" },
        { "image-dir", OPT_STRING, OFF(image_dir), "DIR   kernels and initrds clients may name" },
        { "api-socket", OPT_STRING, OFF(api_socket), "PATH  Varlink socket (default " OPTIONS_DEFAULT_API_SOCKET ")" },
        { "admin-group", OPT_STRING, OFF(admin_group), "NAME  group (or decimal GID) allowed to change state (default gunyah)" },
        { "rpc-timeout", OPT_DURATION, OFF(rpc_timeout_usec), "TIME  per RM call (default 10s)" },
        { "stop-timeout", OPT_DURATION, OFF(stop_timeout_usec), "TIME  graceful stop before FORCE (default 30s)" },
};
#undef OFF

void options_init(Options *o)
{
        *o = (Options){ .rm_fd = -1 };
}

void options_done(Options *o)
{
        free(o->rm_device);
        free(o->rm_socket);
        free(o->pool_file);
        free(o->state_dir);
        free(o->runtime_dir);
        free(o->image_dir);
        free(o->api_socket);
        free(o->admin_group);
        free(o->config);
        options_init(o);
}

int options_parse_duration(const char *s, uint64_t *ret_usec)
{
        static const struct { const char *suffix; uint64_t mult; } units[] = {
                { "us", 1 }, { "ms", 1000 }, { "s", 1000000 }, { "sec", 1000000 },
                { "min", 60000000 }, { "m", 60000000 }, { "h", 3600000000ull }, { "", 1000000 },
        };
        char *end;
        unsigned long long v;

        if (!s || !isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno)
                return -ERANGE;
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                if (strcmp(end, units[i].suffix) != 0)
                        continue;
                if (v > UINT64_MAX / units[i].mult)
                        return -ERANGE;
                if (v == 0)
                        return -EINVAL;
                *ret_usec = v * units[i].mult;
                return 0;
        }
        return -EINVAL;
}

int options_set(Options *o, const char *name, const char *value, const char *origin)
{
        for (size_t i = 0; i < ELEMENTSOF(option_table); i++) {
                const OptionDef *d = &option_table[i];
                void *field = (uint8_t *)o + d->offset;
                char *end;
                int r;

                if (strcmp(d->name, name) != 0)
                        continue;
                switch (d->kind) {
                case OPT_STRING: {
                        char **p = field, *c = strdup(value);
                        if (!c)
                                return -ENOMEM;
                        free(*p);
                        *p = c;
                        return 0;
                }
                case OPT_FD: {
                        long v;
                        errno = 0;
                        v = strtol(value, &end, 10);
                        if (errno || *end || v < 0 || v > 65535) {
                                log_error("%s: --%s: not a file descriptor: %s", origin, name, value);
                                return -EINVAL;
                        }
                        *(int *)field = (int)v;
                        return 0;
                }
                case OPT_DURATION:
                        r = options_parse_duration(value, field);
                        if (r < 0)
                                log_error("%s: --%s: not a duration (e.g. 10s, 500ms): %s", origin,
                                          name, value);
                        return r < 0 ? -EINVAL : 0;
                case OPT_POOL: {
                        PoolSpec spec = {};
                        if (strcmp(value, "device") == 0) {
                                o->pool_device = true;
                                return 0;
                        }
                        r = pool_spec_parse(value, &spec);
                        if (r < 0) {
                                log_error("%s: --pool: expected FILE:IPA:SIZE (IPA and SIZE 2 MiB "
                                          "aligned) or 'device': %s", origin, value);
                                return -EINVAL;
                        }
                        free(o->pool_file);
                        o->pool_file = TAKE_PTR(spec.path);
                        o->pool_ipa = spec.ipa;
                        o->pool_size = spec.size;
                        o->pool_device = false;
                        pool_spec_done(&spec);
                        return 0;
                }
                }
        }
        log_error("%s: unknown option '%s'", origin, name);
        return -EINVAL;
}

static char *strip(char *s)
{
        char *e;
        while (isspace((unsigned char)*s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
                *--e = 0;
        return s;
}

int options_load_file(Options *o, const char *path, bool must_exist)
{
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        unsigned lineno = 0;
        FILE *f;
        int r = 0;

        f = fopen(path, "re");
        if (!f) {
                if (errno == ENOENT && !must_exist)
                        return 0;
                return log_error_errno(-errno, "Cannot read the configuration %s: %m", path);
        }
        while (getline(&line, &cap, f) > 0) {
                char origin[512], *s, *eq, *hash;
                lineno++;
                hash = strchr(line, '#');
                if (hash)
                        *hash = 0;
                s = strip(line);
                if (!*s)
                        continue;
                snprintf(origin, sizeof(origin), "%s:%u", path, lineno);
                eq = strchr(s, '=');
                if (!eq) {
                        log_error("%s: expected 'name = value'", origin);
                        r = -EINVAL;
                        break;
                }
                *eq = 0;
                r = options_set(o, strip(s), strip(eq + 1), origin);
                if (r < 0)
                        break;
        }
        fclose(f);
        return r;
}

void options_usage(const char *prog)
{
        printf("Usage: %s [OPTIONS]\n\nThe Gunyah host daemon.\n\n", prog);
        for (size_t i = 0; i < ELEMENTSOF(option_table); i++)
                printf("  --%-13s %s\n", option_table[i].name, option_table[i].help);
        printf("  --config      FILE  configuration (default " OPTIONS_DEFAULT_CONFIG
               "), same names as the flags\n"
               "  -v, --verbose       more logging (repeat for debug)\n"
               "  -h, --help          this text\n"
               "      --version       print the version\n"
               "      --varlink-certification  (tests only) serve org.varlink.certification\n");
}

int options_parse(Options *o, int argc, char *argv[])
{
        struct option longopts[ELEMENTSOF(option_table) + 6];
        size_t n = 0;
        int c, r;

        for (size_t i = 0; i < ELEMENTSOF(option_table); i++)
                longopts[n++] = (struct option){ option_table[i].name, required_argument, NULL,
                                                 0x100 + (int)i };
        longopts[n++] = (struct option){ "config", required_argument, NULL, 'c' };
        longopts[n++] = (struct option){ "verbose", no_argument, NULL, 'v' };
        longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
        longopts[n++] = (struct option){ "version", no_argument, NULL, 'V' };
        /* Test-only, command line only: conformance runs of varlink-go-certification. */
        longopts[n++] = (struct option){ "varlink-certification", no_argument, NULL, 'C' };
        longopts[n] = (struct option){};

        /* Pass 1: find --config; the file applies before the flags. */
        opterr = 0;
        optind = 0; /* glibc: full re-initialization (options_parse may run twice) */
        while ((c = getopt_long(argc, argv, "hvc:", longopts, NULL)) >= 0)
                if (c == 'c') {
                        free(o->config);
                        o->config = strdup(optarg);
                        if (!o->config)
                                return -ENOMEM;
                }
        r = options_load_file(o, o->config ? o->config : OPTIONS_DEFAULT_CONFIG, !!o->config);
        if (r < 0)
                return r;

        opterr = 1;
        optind = 0; /* glibc: full re-initialization (options_parse may run twice) */
        while ((c = getopt_long(argc, argv, "hvc:", longopts, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        o->help = true;
                        break;
                case 'V':
                        o->version = true;
                        break;
                case 'C':
                        o->varlink_certification = true;
                        break;
                case 'v':
                        o->verbose++;
                        break;
                case 'c':
                        break;
                case '?':
                        return -EINVAL;
                default:
                        if (c < 0x100 || c >= 0x100 + (int)ELEMENTSOF(option_table))
                                return -EINVAL;
                        r = options_set(o, option_table[c - 0x100].name, optarg, "command line");
                        if (r < 0)
                                return r;
                }
        }
        if (optind < argc) {
                log_error("Unexpected argument: %s", argv[optind]);
                return -EINVAL;
        }
        if (!!o->rm_device + !!o->rm_socket + (o->rm_fd >= 0) > 1) {
                log_error("Give only one of --rm-device, --rm-socket, --rm-fd");
                return -EINVAL;
        }
        return 0;
}
