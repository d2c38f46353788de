#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * gunyahctl internals: parsed options, the verb table entries, exit codes, and the small
 * json-c readers the verbs use on the API's replies (libgunyahctl hands replies out as
 * JSON text). Verbs return an exit code (EXIT_*), never a negative errno.
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "gunyahctl.h"
#include "macro.h"

/* Exit codes, one per error class (gunyahctl(1), EXIT STATUS). */
enum {
        EXIT_OK = 0,
        EXIT_FAILURE_OTHER = 1,  /* anything not below */
        EXIT_USAGE = 2,          /* bad command line, InvalidParameter, InvalidImage */
        EXIT_NO_SUCH_VM = 3,     /* NoSuchVM */
        EXIT_STATE = 4,          /* InvalidState, VMExists */
        EXIT_RM = 5,             /* RMError, OutOfMemory, Timeout, Unsupported, RMProtocolError */
        EXIT_UNAVAILABLE = 6,    /* RMUnavailable; gunyahd unreachable or the connection lost */
        EXIT_PERMISSION = 7,     /* PermissionDenied; the socket refused us */
};

/* Options, by bit, so each verb can say which it takes. */
enum {
        OPT_VCPUS = 1u << 0,
        OPT_MEMORY = 1u << 1,
        OPT_KERNEL = 1u << 2,
        OPT_KERNEL_PATH = 1u << 3,
        OPT_INITRD = 1u << 4,
        OPT_INITRD_PATH = 1u << 5,
        OPT_CMDLINE = 1u << 6,
        OPT_DEMAND_PAGING = 1u << 7,
        OPT_TRANSIENT = 1u << 8,
        OPT_MEMORY_BASE = 1u << 9,
        OPT_FORCE = 1u << 10,
        OPT_SINCE = 1u << 11,
        OPT_COUNT = 1u << 12,
};

typedef struct Options {
        const char *address;
        bool json;
        uint64_t timeout_sec; /* 0 = not given */
        unsigned given;       /* OPT_* seen on the command line */

        uint32_t vcpus;
        uint64_t memory;
        uint64_t memory_base;
        const char *kernel, *kernel_path, *initrd, *initrd_path, *cmdline;
        bool demand_paging, transient, force;
        const char *since;
        uint64_t count; /* monitor: stop after this many events, 0 = never */
} Options;

typedef struct Verb {
        const char *name;
        const char *args;        /* for usage */
        unsigned min_args, max_args;
        unsigned options;        /* OPT_* accepted */
        int (*run)(gunyahctl *h, const Options *o, char **args);
        const char *help;
} Verb;

int verb_create(gunyahctl *h, const Options *o, char **args);
int verb_start(gunyahctl *h, const Options *o, char **args);
int verb_stop(gunyahctl *h, const Options *o, char **args);
int verb_destroy(gunyahctl *h, const Options *o, char **args);
int verb_list(gunyahctl *h, const Options *o, char **args);
int verb_info(gunyahctl *h, const Options *o, char **args);
int verb_monitor(gunyahctl *h, const Options *o, char **args);
int verb_daemon_info(gunyahctl *h, const Options *o, char **args);

/* Print why a call failed (from the Varlink error if any) and return its exit code. */
int report_error(gunyahctl *h, int r, const char *what);
/* Print text as given by the API (one line) for --json. */
void print_json_line(const char *json);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct json_object *, json_object_put);

/* Readers: NULL / false when absent, null or of another type. */
const char *json_str(struct json_object *o, const char *key);
bool json_int(struct json_object *o, const char *key, int64_t *ret);
struct json_object *json_get(struct json_object *o, const char *key, json_type type);
