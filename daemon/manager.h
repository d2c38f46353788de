#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * The manager: the VM registry and the orchestration of RM RPC sequences.
 *
 * Owns: the RM link and client, the host memory pool, the store (--state-dir), the event
 * log and every Vm. It runs start / stop / destroy as asynchronous sequences of RM calls on
 * the caller's sd-event loop and reports through completion callbacks; RM notifications
 * drive each VM's state (vm_set_state(), the one transition function). See docs/design.md
 * for the sequences, their unwind rules and the recovery algorithm.
 *
 * Invariants: single-threaded (everything runs on the sd-event loop given to manager_new);
 * at most one operation (start/stop/destroy/release) runs per VM at a time, others are
 * refused with -EBUSY; a failed start unwinds every earlier step so nothing stays allocated
 * in the RM or the pool (exception: see VM_STATE_FAILED in vm.h); the daemon never writes to
 * a pool range once it is lent.
 *
 * Error contract (API errors are mapped from these in ONE place by the API layer):
 *   -EEXIST       VMExists: a VM with that name exists
 *   -ENOENT       NoSuchVM
 *   -EINVAL       InvalidArgument (bad configuration; err->message says which field)
 *   -ENOEXEC      InvalidImage: kernel/initrd unusable (err->message says why); no RM call made
 *   -EBUSY        InvalidState: the VM's state does not allow this (err->state holds it;
 *                 also when another operation is in progress on the VM)
 *   -EREMOTEIO    RMError: the RM refused; err->rm_msg_id is the call (rm_msg_id_to_string())
 *                 and err->rm_error the RmError code (rm_error_to_string())
 *   -EOPNOTSUPP   Unsupported: the RM lacks a capability the VM needs (demand paging on the
 *                 open RM); decided before anything is allocated
 *   -ENOMEM       OutOfMemory: the host pool cannot hold the VM (or malloc failed)
 *   -ENOTCONN     RMUnavailable: the RM link is down (calls in flight fail with it too)
 *   -ESHUTDOWN    RMUnavailable: the manager is shutting down / not ready yet
 *   -ETIMEDOUT    Timeout: the RM did not answer in --rpc-timeout
 *   -EBADMSG      RMProtocolError: the RM's reply could not be decoded
 *   -ESTALE       (Monitor) the cursor is older than the retained event window
 *   -EIO          the store could not write a record (err->message names the file)
 *   -EBADF        the VM's kernel/initrd is VM_SOURCE_FD and no fd was given
 *   (a kernel/initrd that cannot be opened under the image dir is -ENOEXEC too, with the
 *    file and its errno in err->message)
 * Every function fills *err (when non-NULL) on failure: err->message is always a sentence.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "events.h"
#include "vm.h"

typedef struct sd_event sd_event;
typedef struct Manager Manager;
typedef struct VmOp VmOp;

#define MANAGER_DEFAULT_RPC_TIMEOUT_USEC (10ull * 1000000ull)
#define MANAGER_DEFAULT_STOP_TIMEOUT_USEC (30ull * 1000000ull)
#define MANAGER_DEFAULT_STATE_DIR "/var/lib/gunyahd"

typedef struct ManagerOptions {
        /* RM link: exactly one of rm_device, rm_socket, rm_fd (>= 0). */
        const char *rm_device;      /* message character device, e.g. /dev/gunyah */
        const char *rm_socket;      /* SOCK_SEQPACKET path (gunyah-rm-sim) */
        int rm_fd;                  /* inherited message fd (the manager takes it); -1 = none */
        /* Host pool: pool_file + pool_ipa + pool_size, or pool_device (kernel module). */
        const char *pool_file;
        uint64_t pool_ipa;
        uint64_t pool_size;
        bool pool_device;
        const char *state_dir;      /* NULL = MANAGER_DEFAULT_STATE_DIR */
        /* Runtime records (this boot's RM state): NULL = systemd's $RUNTIME_DIRECTORY (its
         * first entry) when set, else <state_dir>/runtime as before. */
        const char *runtime_dir;
        const char *image_dir;      /* kernel/initrd paths of VmConfig are relative to it
                                     * (opened with RESOLVE_BENEATH); NULL = only fds */
        uint64_t rpc_timeout_usec;  /* 0 = default */
        uint64_t stop_timeout_usec; /* 0 = default: graceful stop waits this long, then FORCE */
        size_t event_log_capacity;  /* 0 = default */
} ManagerOptions;

#define MANAGER_OPTIONS_INIT ((ManagerOptions){ .rm_fd = -1 })

typedef struct ManagerError {
        uint32_t rm_msg_id;   /* -EREMOTEIO: the RM call that failed; 0 otherwise */
        uint32_t rm_error;    /* -EREMOTEIO: RmError */
        VmState state;        /* -EBUSY: the VM's state at the time */
        char message[256];    /* always set on failure */
} ManagerError;

typedef enum ManagerLinkState {
        MANAGER_LINK_DOWN,
        MANAGER_LINK_CONNECTING,
        MANAGER_LINK_UP,
        _MANAGER_LINK_STATE_MAX,
        _MANAGER_LINK_STATE_INVALID = -22,
} ManagerLinkState;

/* RM capabilities, learned by probing at every link-up (before any VM is started). */
#define MANAGER_CAP_BOOT_CONTEXT   0x1u /* VM_SET_BOOT_CONTEXT implemented */
#define MANAGER_CAP_DEMAND_PAGING  0x2u /* VM_SET_DEMAND_PAGING implemented */
#define MANAGER_CAP_ADDRESS_LAYOUT 0x4u /* VM_SET_ADDRESS_LAYOUT implemented */

typedef struct ManagerInfo {
        const char *version;        /* PROJECT_VERSION */
        ManagerLinkState link;
        const char *rm_transport;   /* "device", "socket" or "fd" */
        const char *rm_link;        /* e.g. "socket /run/sim.sock" (rm_link_describe) */
        bool ready;                 /* recovery done */
        bool caps_known;            /* the probe has completed on the current link */
        uint32_t caps;              /* MANAGER_CAP_* */
        const char *rm_profile;     /* "v17", "open-rm" (from caps) or "unknown" */
        uint64_t pool_ipa, pool_size, pool_used, pool_free, pool_largest_free;
        /* Part of pool_used kept reserved until the daemon restarts: ranges of lends whose
         * outcome could not be resolved (vm_parcel_quarantine), and how many. */
        uint64_t pool_quarantined;
        size_t n_quarantined;
        size_t n_vms, n_running;
        /* RM client counters since start: calls made; replies carrying an RM error (the
         * capability probe and the VMID scan of recovery expect some); calls that timed out
         * or died with the link; packets dropped as malformed; notifications received. */
        uint64_t rm_calls, rm_errors, rm_timeouts, rm_link_failures, rm_bad_packets;
        uint64_t rm_notifications;
} ManagerInfo;

/* One start progress report. stage is one of: "allocate", "load-image", "lend",
 * "config-image", "demand-paging", "address-layout", "init", "boot-context",
 * "hyp-resources", "start". For "lend", parcel_handle/parcel_bytes/sgl_entries describe the
 * parcel just lent (one report per parcel); other stages report before the RM call. */
typedef struct ManagerProgress {
        const char *stage;
        unsigned step;        /* 1-based index of the stage in this start */
        unsigned n_steps;     /* stages this start will run */
        uint32_t parcel_handle;
        uint64_t parcel_bytes;
        size_t sgl_entries;
        const char *detail;   /* e.g. "skipped: open RM" or NULL */
} ManagerProgress;

/* Completion: r = 0 or a negative errno per the contract above (err filled when r < 0).
 * vm is valid during the call only; for destroy it is freed right after (r == 0). The
 * callback may free its VmOp-holding objects but must not call manager_free(). */
typedef void (*ManagerDoneFn)(Manager *m, Vm *vm, int r, const ManagerError *err,
                              void *userdata);
typedef void (*ManagerProgressFn)(Manager *m, Vm *vm, const ManagerProgress *p, void *userdata);
/* Called once when recovery has finished (ready for API calls), with r < 0 when recovery
 * could not run at all (the manager stays usable and retries at the next link-up). */
typedef void (*ManagerReadyFn)(Manager *m, int r, void *userdata);

/* Create the manager: opens the pool and the store (state dir created if missing), creates
 * the event log. Does not touch the RM yet. Returns 0, -EINVAL (options), -ENOENT/-EACCES
 * (files), -EOPNOTSUPP (pool_device on a build without the host module uapi), -ENOMEM. */
int manager_new(sd_event *event, const ManagerOptions *opts, Manager **ret);
/* Stop everything the manager does (pending operations complete with -ESHUTDOWN, their
 * callbacks are called), close the link. VMs running in the RM keep running; their records
 * stay on disk for the next start. Accepts NULL, returns NULL. */
Manager *manager_free(Manager *m);

/* Load the store, connect the RM link, probe capabilities, recover (VM_GET_STATE for each
 * recorded VMID; adopt / clean / mark lost), rebuild pool accounting, then call ready.
 * Returns 0 (ready follows) or a negative errno when the link cannot even be set up. */
int manager_start(Manager *m, ManagerReadyFn ready, void *userdata);
bool manager_is_ready(const Manager *m);

/* Create a VM from a validated config. On success the manager takes over the contents of
 * *config (it is left vm_config_init()ed); on failure the caller keeps them.
 * persistent (copied into config->persistent): the definition is stored and survives daemon
 * restarts. transient: the definition is on disk only while the VM holds RM resources (so
 * recovery can adopt or clean it); a transient VM that is stopped when the daemon exits is
 * forgotten. Synchronous: no RM call. Returns 0, -EEXIST, -EINVAL, -EIO (store), -ESHUTDOWN (not ready). */
int manager_vm_create(Manager *m, VmConfig *config, bool persistent, const EventCause *cause,
                      Vm **ret, ManagerError *err);

/* Kernel / initrd given as open fds (sources VM_SOURCE_FD): the manager dups them and uses
 * them for the next starts (until replaced; -1 keeps the current one). Not persisted: after a
 * daemon restart such a VM needs new fds before it can start again (-EBADF from start). */
int manager_vm_set_sources(Manager *m, Vm *vm, int kernel_fd, int initrd_fd);

/*
 * Asynchronous operations. Each returns 0 when the operation was accepted (done will be
 * called exactly once, later, never from inside this call), or a negative errno when it was
 * refused up front (done is then not called; err says why). ret_op (may be NULL) receives a
 * handle that vm_op_detach() turns into fire-and-forget (the operation continues, its
 * callbacks are dropped), e.g. when the API client disconnects. The handle is invalid after
 * done ran.
 *
 * start: STOPPED or LOST -> STARTING -> RUNNING. Refused with -EBUSY in other states,
 *        -EOPNOTSUPP for demand paging on an RM without it, -ENOMEM when the pool is short,
 *        -ENOTCONN when the link is down. Failures after acceptance unwind and report the
 *        step in err (rm_msg_id) and in vm_get_last_error().
 * stop:  RUNNING -> STOPPING -> EXITED -> RELEASING -> STOPPED. graceful (force = false):
 *        VM_STOP without FORCE, wait for the guest to exit up to timeout_usec (0 = the
 *        --stop-timeout default), then VM_STOP(FORCE). Also releases a FAILED or EXITED VM's
 *        leftovers (retry). done runs once the RM and the pool hold nothing for the VM.
 * destroy: any state but DESTROYING: force stop if running, VM_RESET (wait for RESET), reclaim
 *        every parcel, VM_DEALLOCATE, free pool ranges, delete records, free the Vm
 *        (EVENT_VM_DESTROYED). A failure leaves the VM in FAILED (retry destroy).
 */
int manager_vm_start(Manager *m, Vm *vm, const EventCause *cause, ManagerProgressFn progress,
                     ManagerDoneFn done, void *userdata, VmOp **ret_op, ManagerError *err);
int manager_vm_stop(Manager *m, Vm *vm, bool force, uint64_t timeout_usec,
                    const EventCause *cause, ManagerDoneFn done, void *userdata,
                    VmOp **ret_op, ManagerError *err);
int manager_vm_destroy(Manager *m, Vm *vm, const EventCause *cause, ManagerDoneFn done,
                       void *userdata, VmOp **ret_op, ManagerError *err);
/* Drop the callbacks of an operation in flight (it still completes). NULL ok. */
void vm_op_detach(VmOp *op);

/* Registry */
Vm *manager_vm_lookup(Manager *m, const char *name);
Vm *manager_vm_lookup_vmid(Manager *m, uint16_t vmid);
/* Iterate in creation order: prev NULL gives the first VM; returns NULL after the last. */
Vm *manager_vm_next(Manager *m, Vm *prev);
size_t manager_vm_count(const Manager *m);

/* The event log (subscribe, read since cursor; see events.h). Owned by the manager. */
EventLog *manager_get_event_log(Manager *m);
sd_event *manager_get_event(Manager *m); /* the loop the manager runs on */

void manager_get_info(Manager *m, ManagerInfo *ret);
const char *manager_link_state_to_string(ManagerLinkState s); /* "down", "connecting", "up" */

/* Fill err (may be NULL) with a formatted message; returns r. For the manager's modules. */
int manager_error_set(ManagerError *err, int r, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static inline void manager_freep(Manager **p)
{
        if (*p)
                manager_free(*p);
}
