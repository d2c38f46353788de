#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Harness of the reliability suites (tests/reliability/test-rel-*.c): the real gunyahd
 * process and the real gunyah-rm-sim, both spawned in a private temp dir, talked to over
 * their Varlink sockets exactly as clients would.
 *
 *   RelStack   the simulator (sim-client), optionally the RM proxy (rel-proxy.h) between
 *              gunyahd and the simulator, and gunyahd (fork/exec, restartable, killable).
 *   RelConn    a minimal blocking Varlink client with a deadline on every call, able to send
 *              raw bytes (hostile clients) and to read "more" streams.
 *   Invariants rel_check_consistent(): the simulator's GetState and the daemon's ListVMs /
 *              DescribeVM agree (every RM VMID and parcel belongs to exactly one daemon VM
 *              and the other way round); rel_cleanup_all(): DestroyVM on every VM leaves the
 *              RM without VMs or parcels and the daemon's pool usage at its baseline.
 *
 * Errors: negative errno; a Varlink error reply is -EREMOTEIO with its name returned.
 * Failures of the suites themselves go through REL_FAIL (message, then abort()).
 * The temp dir is kept (and its path printed) when a suite fails.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "sim-client.h"

struct json_object;
typedef struct RelProxy RelProxy;

#define REL_FAIL(...)                                                                          \
        do {                                                                                   \
                fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);                          \
                fprintf(stderr, __VA_ARGS__);                                                  \
                fputc('\n', stderr);                                                           \
                rel_on_failure();                                                              \
                abort();                                                                       \
        } while (0)
#define REL_ASSERT(x, ...)                                                                     \
        do {                                                                                   \
                if (!(x)) {                                                                    \
                        fprintf(stderr, "%s:%d: %s is false\n", __FILE__, __LINE__, #x);       \
                        REL_FAIL(__VA_ARGS__);                                                 \
                }                                                                              \
        } while (0)

/* ---- Varlink client ---- */
typedef struct RelConn RelConn;

int rel_conn_open(const char *path, RelConn **ret);
void rel_conn_free(RelConn *c);
int rel_conn_fd(const RelConn *c);
/* Send one call (params borrowed, NULL = {}). */
int rel_conn_send(RelConn *c, const char *method, struct json_object *params, bool more);
int rel_conn_send_raw(RelConn *c, const void *data, size_t len);
/* Receive one message (the whole object). -ETIMEDOUT, -ECONNRESET on EOF, -EBADMSG. */
int rel_conn_recv(RelConn *c, int timeout_ms, struct json_object **ret);
/* One call, one reply. *ret_params (optional) gets the reply or error parameters, *ret_error
 * (optional) the malloc'd error name. With more, intermediate replies are skipped. */
int rel_call(RelConn *c, const char *method, struct json_object *params, bool more,
             int timeout_ms, struct json_object **ret_params, char **ret_error);
/* params from a printf-formatted JSON text. */
int rel_callf(RelConn *c, const char *method, int timeout_ms, struct json_object **ret_params,
              char **ret_error, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Open, call, close (fresh connection each time; thread-safe). */
int rel_call_once(const char *path, const char *method, const char *params_json, int timeout_ms,
                  struct json_object **ret_params, char **ret_error);

/* ---- the stack ---- */
typedef struct RelStackOpts {
        const char *profile;      /* NULL: v17 */
        uint64_t pool_size;       /* 0: 512 MiB */
        bool proxy;               /* put a RelProxy between gunyahd and the simulator */
        const char *rpc_timeout;  /* gunyahd --rpc-timeout, NULL: 2s */
        const char *stop_timeout; /* gunyahd --stop-timeout, NULL: 2s */
        int guest_pace_ms;        /* < 0: simulator default */
        unsigned nofile;          /* gunyahd's RLIMIT_NOFILE, 0: inherit */
} RelStackOpts;

typedef struct RelStack {
        char dir[256];
        char api_path[320];
        char state_dir[320];
        char image_dir[320];
        char log_path[320];
        char pool_spec[400];
        RelStackOpts opts;
        SimClient *sim;
        RelProxy *proxy;
        pid_t daemon;
        unsigned daemon_starts;
        uint64_t pool_baseline;
} RelStack;

#define REL_KERNEL "Image"        /* 1 MiB arm64 Image in the image dir */
#define REL_CALL_TIMEOUT_MS 60000 /* every API call must be answered within this */

RelStack *rel_stack_new(const RelStackOpts *o);
/* Kill gunyahd (SIGTERM, then SIGKILL), stop the simulator, remove the dir. */
void rel_stack_free(RelStack *s);
/* Spawn gunyahd and wait (up to timeout_ms) until GetDaemonInfo says rmLink.ready. */
int rel_daemon_start(RelStack *s, unsigned timeout_ms);
/* The first start of a suite: exit(77) (skip) when gunyahd does not serve io.gunyah.Manager,
 * fail when it does not become ready. */
void rel_daemon_start_or_skip(RelStack *s);
/* Send sig and reap (SIGKILL for the crash soak). Returns the wait status or -errno. */
int rel_daemon_kill(RelStack *s, int sig);
/* true while gunyahd runs (reaps it when it died, reporting how). */
bool rel_daemon_alive(RelStack *s);
int rel_wait_ready(RelStack *s, unsigned timeout_ms);
/* Call the daemon on a fresh connection. */
int rel_api(RelStack *s, const char *method, const char *params_json, int timeout_ms,
            struct json_object **ret_params, char **ret_error);
/* Call the simulator's control interface. */
int rel_sim(RelStack *s, const char *method, const char *params_json,
            struct json_object **ret_params);
uint64_t rel_pool_used(RelStack *s);
/* Create a VM (kernel REL_KERNEL) */
int rel_create_vm(RelStack *s, const char *name, uint64_t memory, bool demand_paging,
                  bool transient, char **ret_error);

/* ---- invariants (why gets a sentence on failure) ---- */
int rel_check_consistent(RelStack *s, char *why, size_t n);
/* Poll until consistent and no VM is in a transitional state. */
int rel_wait_consistent(RelStack *s, unsigned timeout_ms, char *why, size_t n);
/* DestroyVM every VM (retried), then: no VM in the daemon, no VM or parcel in the RM, pool
 * usage at the baseline. */
int rel_cleanup_all(RelStack *s, unsigned timeout_ms, char *why, size_t n);

/* A known leaked RM parcel (a reported daemon bug): the checks no longer count it. */
void rel_ignore_parcel(uint32_t handle);

/* VM names of ListVMs (NULL-terminated, free with rel_strv_free). */
char **rel_list_vms(RelStack *s);
void rel_strv_free(char **v);
/* DescribeVM's state (malloc'd) or NULL. */
char *rel_vm_state(RelStack *s, const char *name);
/* vmid of the VM in the daemon's records, -1 when none */
int rel_vm_vmid(RelStack *s, const char *name);

/* ---- misc ---- */
uint64_t rel_now_usec(void); /* CLOCK_MONOTONIC */
void rel_sleep_ms(unsigned ms);
/* splitmix64: every suite prints its seed. */
uint64_t rel_rand(uint64_t *state);
unsigned rel_rand_below(uint64_t *state, unsigned n);
/* called by REL_FAIL: keep the stack's dir, print the daemon log's tail */
void rel_on_failure(void);
/* --short / --full / --seed N / --keep ; returns the mode (0 short, 1 full) */
typedef struct RelArgs {
        bool full;
        uint64_t seed;
        bool seed_given;
        unsigned count; /* --count N: override the mode's size, 0 = default */
        bool verbose;
} RelArgs;
void rel_parse_args(int argc, char **argv, RelArgs *a);
