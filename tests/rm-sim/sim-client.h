#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * sim-client: what tests and benchmarks need to drive gunyah-rm-sim (static library
 * gunyah-sim-client). It spawns the simulator in a caller-owned directory, waits until it is
 * ready (--ready-fd), connects to its RM socket, maps its memory pool and makes Varlink calls
 * on its control socket (io.gunyah.Simulator, see io.gunyah.Simulator.varlink).
 *
 * Files in dir: rm.sock (the RM link, SOCK_SEQPACKET), control.sock (Varlink), pool (the
 * host memory pool file). The SimClient owns the child process; sim_client_free() stops it.
 * Errors are negative errno values; a Varlink error reply is -EREMOTEIO with its name.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct json_object;

typedef struct SimClient SimClient;

#define SIM_DEFAULT_POOL_IPA 0x80000000ull
#define SIM_DEFAULT_POOL_SIZE (256ull << 20)

typedef struct SimSpawnOptions {
        const char *binary;  /* NULL: $GUNYAH_RM_SIM, else $GUNYAH_BUILD_DIR/bin/gunyah-rm-sim */
        const char *profile; /* NULL: the simulator's default (v17) */
        uint64_t pool_ipa;   /* 0: SIM_DEFAULT_POOL_IPA */
        uint64_t pool_size;  /* 0: SIM_DEFAULT_POOL_SIZE */
        int guest_pace_ms;   /* < 0: the simulator's default; 0 is allowed */
        bool strict_image_acl_off;     /* pass --strict-image-acl off */
        bool verbose;                  /* pass -v (packet log on the child's stderr) */
        bool no_listen;                /* do not pass --listen (use sim_client_spawn_fd instead) */
        const char *const *extra_args; /* NULL-terminated, appended last; may be NULL */
        const char *wrapper; /* NULL: $GUNYAH_RM_SIM_WRAPPER (e.g. "valgrind"), may be NULL */
} SimSpawnOptions;

/* Spawn the simulator in dir (must exist) and wait (up to 30 s) until it is ready.
 * opts may be NULL. Returns 0, -ENOENT (binary missing), -ETIMEDOUT, -ECHILD (exited early). */
int sim_client_spawn(const char *dir, const SimSpawnOptions *opts, SimClient **ret);

/* SIGTERM, wait up to 10 s (then SIGKILL). Returns the exit status (>= 0, 128+sig when killed
 * by a signal) or -errno. Idempotent: a second call returns the same status. */
int sim_client_stop(SimClient *sim);
/* Stop if running, unmap, free. Accepts NULL. */
void sim_client_free(SimClient *sim);
static inline void sim_client_freep(SimClient **p)
{
        if (*p)
                sim_client_free(*p);
}

pid_t sim_client_pid(const SimClient *sim);
const char *sim_client_rm_path(const SimClient *sim);      /* dir/rm.sock */
const char *sim_client_control_path(const SimClient *sim); /* dir/control.sock */
const char *sim_client_pool_path(const SimClient *sim);    /* dir/pool */
uint64_t sim_client_pool_ipa(const SimClient *sim);
uint64_t sim_client_pool_size(const SimClient *sim);

/* Connect a new SOCK_SEQPACKET socket to the RM link (blocking, close-on-exec).
 * Retries for up to 5 s while the previous client is still attached. Returns the fd. */
int sim_client_connect_rm(const SimClient *sim);

/* The pool file mapped MAP_SHARED read/write (mapped on first use, unmapped by free).
 * Returns a pointer whose byte 0 is at IPA sim_client_pool_ipa(), or NULL. */
uint8_t *sim_client_pool(SimClient *sim);

/*
 * Varlink call on the control socket (one connection kept open, reconnected on need).
 * params is borrowed (NULL = {}). On success returns 0 and *ret_reply (optional) gets the
 * reply parameters (caller owns, json_object_put). On a Varlink error returns -EREMOTEIO and,
 * when ret_error is given, *ret_error = malloc'd error name; *ret_reply then holds the error
 * parameters. Other failures: -errno. Timeout 30 s.
 */
int sim_client_call_full(SimClient *sim, const char *method, struct json_object *params,
                         struct json_object **ret_reply, char **ret_error);
int sim_client_call(SimClient *sim, const char *method, struct json_object *params,
                    struct json_object **ret_reply);

/* Convenience: build params from a JSON text ("{\"vmid\":128}") and call. */
int sim_client_callf(SimClient *sim, const char *method, const char *params_json,
                     struct json_object **ret_reply);

/* GetState, then the VM entry of vmid (a new reference, NULL if absent). */
struct json_object *sim_client_get_vm(SimClient *sim, uint16_t vmid);
/* Poll GetState until the VM's field (e.g. "status", "osStatusName") equals value, up to
 * timeout_ms. Returns 0 or -ETIMEDOUT. */
int sim_client_wait_vm_field(SimClient *sim, uint16_t vmid, const char *field, const char *value,
                             unsigned timeout_ms);
