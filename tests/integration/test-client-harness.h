#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Harness for the client integration tests: a private temp dir with gunyah-rm-sim (through
 * sim-client) and the real gunyahd connected to it, ready when gunyahd sends READY=1 on a
 * NOTIFY_SOCKET the harness owns. Also: running the gunyahctl binary with its output
 * captured, and test kernel images. Every helper asserts (aborts the test) on failure.
 *
 * Binaries: $GUNYAH_BUILD_DIR/bin/{gunyahd,gunyahctl,gunyah-rm-sim}; $GUNYAHD_WRAPPER (e.g.
 * "valgrind") is put in front of gunyahd and $GUNYAHCTL_WRAPPER (split on spaces) in front
 * of gunyahctl when set.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "gunyahctl.h"
#include "macro.h"
#include "sim-client.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct json_object *, json_object_put);
#define _json_ _cleanup_(json_object_putp)

#define H_POOL_SIZE (256ull << 20)

typedef struct HarnessOptions {
        const char *profile;      /* simulator profile, NULL = v17 */
        const char *admin_group;  /* --admin-group, NULL = the daemon's default */
        const char *rpc_timeout;  /* --rpc-timeout, NULL = "3s" */
        const char *stop_timeout; /* --stop-timeout, NULL = "3s" */
} HarnessOptions;

typedef struct Harness {
        char dir[128];
        char api[192];     /* dir/api.sock */
        char images[192];  /* dir/images: the daemon's --image-dir */
        char state[192];   /* dir/state */
        char notify[192];  /* dir/notify: our NOTIFY_SOCKET */
        SimClient *sim;
        pid_t daemon;
        int notify_fd;
        HarnessOptions opts;
} Harness;

/* Create the dir, start the simulator and gunyahd, wait for READY=1 (60 s). */
void h_start(Harness *h, const HarnessOptions *o);
/* Start only gunyahd again (after h_stop_daemon), same dir and state. */
void h_start_daemon(Harness *h);
/* SIGTERM gunyahd, assert it exits 0 within 30 s. */
void h_stop_daemon(Harness *h);
/* Stop everything, assert clean exits, remove the dir. */
void h_stop(Harness *h);

/* A connected client handle (caller disconnects). */
gunyahctl *h_client(Harness *h);

/* Write a test arm64 Image of size bytes at path (bad_magic: a broken header). */
void h_write_image(const char *path, uint64_t size, bool bad_magic);
/* Same, as dir/images/name; returns a static-free path in out. */
void h_image_in_dir(Harness *h, const char *name, uint64_t size, char *out, size_t out_size);

/*
 * Run build/bin/gunyahctl --address=<api> with the NULL-terminated arguments, as uid/gid
 * (when uid >= 0; groups: n_groups supplementary groups). stdout and stderr are returned
 * malloc'd (caller frees; may be NULL to discard). Returns the exit status (128+sig when
 * killed). GUNYAHCTL_ADDRESS and NO_COLOR are cleared unless env (KEY=VALUE, NULL-ended)
 * sets them.
 */
int h_run_cli(Harness *h, char **ret_out, char **ret_err, const char *const *env,
              const char *const *argv);

/* The same as uid/gid with no supplementary groups. */
int h_run_cli_as(Harness *h, uid_t uid, gid_t gid, char **ret_out, char **ret_err,
                 const char *const *argv);

/* Run fn in a child process as uid/gid with the given supplementary groups, return its exit
 * status (the child's assertions abort it: 134). */
int h_run_as(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, int (*fn)(void *),
             void *userdata);

/* Wait until a VM reaches state (DescribeVM), up to timeout_ms. Returns 0 or -ETIMEDOUT. */
int h_wait_vm_state(gunyahctl *c, const char *name, const char *state, unsigned timeout_ms);
/* A string field of the reply's "vm" object, copied into out ("" when absent). */
void h_vm_field(const char *reply_json, const char *field, char *out, size_t size);

/* JSON helpers for replies: parse (asserting an object; caller json_object_put()s), and
 * read by a dotted path ("vm.memory.size"; array elements by index "vms.0.name"). A missing
 * path or a null gives NULL / false. */
struct json_object *h_json(const char *text);
struct json_object *h_jget(struct json_object *o, const char *path);
const char *h_jstr(struct json_object *o, const char *path);
bool h_jint(struct json_object *o, const char *path, int64_t *ret);
