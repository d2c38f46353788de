#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Harness of the core integration tests: a real gunyah-rm-sim (spawned with sim-client in a
 * temp dir) and a Manager on an sd-event loop in this process, connected to the simulator's
 * RM socket and sharing its pool file. Synchronous wrappers run the loop until an
 * operation's completion callback fired (bounded by a timeout), so tests read linearly.
 * The simulator's GetState is the ground truth the tests compare the daemon's view with.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "manager.h"
#include "sim-client.h"

struct json_object;

#define CORE_KERNEL "Image"            /* in the image dir */
#define CORE_KERNEL_SIZE (1u << 20)
#define CORE_TIMEOUT_MS 60000u

typedef struct CoreOpts {
        const char *profile;        /* "v17" (default) or "open-rm" */
        uint64_t pool_size;         /* 0 = 512 MiB */
        int guest_pace_ms;          /* < 0 default of the simulator; 0 fastest */
        uint64_t rpc_timeout_usec;  /* 0 = 5 s */
        uint64_t stop_timeout_usec; /* 0 = 2 s */
        bool no_manager;            /* only the simulator (the test starts a driver) */
} CoreOpts;

typedef struct Core {
        char dir[256];
        char state_dir[300];
        char image_dir[300];
        char pool_spec[512];
        CoreOpts opts;
        SimClient *sim;
        sd_event *event;
        Manager *m;
        bool ready;
} Core;

/* Spawn the simulator and (unless no_manager) a manager; waits until it is ready. */
Core *core_new(const CoreOpts *o);
/* Free the manager, stop the simulator (asserting a clean exit), remove the temp dir. */
void core_free(Core *c);
/* Create a manager on the same simulator/state (after core_manager_free: a daemon restart). */
void core_manager_new(Core *c);
void core_manager_free(Core *c);

/* Run the loop until *flag is true (or pred returns true); asserts on timeout. */
void core_run_until_flag(Core *c, const bool *flag, unsigned timeout_ms);
bool core_run_until(Core *c, bool (*pred)(Core *c, void *ud), void *ud, unsigned timeout_ms);
/* Run the loop for ms milliseconds. */
void core_run_for(Core *c, unsigned ms);

Vm *core_create(Core *c, const char *name, uint64_t memory, unsigned vcpus, bool demand_paging);
/* Synchronous operations: return r of the completion (or the refusal), fill err. */
int core_start(Core *c, Vm *vm, ManagerError *err);
int core_stop(Core *c, Vm *vm, bool force, uint64_t timeout_usec, ManagerError *err);
int core_destroy(Core *c, const char *name, ManagerError *err);

/* Simulator state */
struct json_object *core_sim_state(Core *c);          /* GetState reply (caller puts) */
size_t core_sim_n_vms(Core *c);
size_t core_sim_n_parcels(Core *c);
/* Assert the RM holds nothing (no VM, no parcel) and the pool is unused. */
void core_assert_clean(Core *c);
/* Assert the simulator's VMs and parcels are exactly what the manager records. */
void core_assert_consistent(Core *c);
int core_simf(Core *c, const char *method, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

uint64_t core_now_usec(void); /* CLOCK_MONOTONIC */

/* Both profiles, for tests that run the same body twice. */
extern const char *const core_profiles[2];
