#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by manager*.c and vm.c: the Manager and Vm structs, the per-VM operation
 * (VmOp) and the helpers every sequence uses (RM calls bound to a VM, persistence, errors).
 * Not for the API layer: it uses manager.h and vm.h only.
 *
 * Invariants: one VmOp per VM at a time (vm->op); RM calls made for a VM count in
 * vm->n_calls and keep the Vm alive (a destroyed Vm is freed when its last call returned);
 * everything that changes what the RM or the pool holds for a VM is saved to its runtime
 * record before the next RM call (vm_save_runtime()).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "events.h"
#include "image.h"
#include "manager.h"
#include "pool.h"
#include "rm-client.h"
#include "rm-link.h"
#include "store.h"
#include "vm-config.h"
#include "vm.h"

#define MANAGER_RELEASE_MAX_ROUNDS 64u   /* release loop: bounded */
#define MANAGER_RESET_POLL_USEC (20u * 1000u)
#define MANAGER_RESET_WAIT_USEC (30ull * 1000000ull)
#define MANAGER_DP_MAX_PARCELS RM_MAX_PARCELS_PER_VM

typedef struct DeferCtx DeferCtx;

typedef enum VmOpKind {
        VM_OP_START,
        VM_OP_STOP,
        VM_OP_DESTROY,
        VM_OP_RELEASE, /* internal: after a guest exit, or orphan cleaning at recovery */
        VM_OP_RECOVER, /* internal: check with the RM after load / link-up */
        _VM_OP_KIND_MAX,
} VmOpKind;

struct VmOp {
        VmOpKind kind;
        Vm *vm;
        ManagerDoneFn done;
        ManagerProgressFn progress;
        void *userdata;
        bool detached;
        EventCause cause;
        char *cause_method; /* owned copy behind cause.method */
        int error;          /* first failure (start: the step that failed) */
        ManagerError err;
        unsigned step, n_steps;
        bool force;
        uint64_t timeout_usec;
        sd_event_source *defer;
        bool waits_sync; /* start accepted during a resync or VMID scan: runs after it */
        sd_event_source *wait_timer; /* ... for --rpc-timeout at most */
};

/* Continuation of the release loop. */
typedef void (*VmReleaseThen)(Vm *vm, int r, const ManagerError *err);

/* A block of the demand-paged region. */
typedef struct VmBlock {
        int parcel;       /* index in vm->parcels, -1 = not lent */
        bool pending;     /* lend in progress */
        uint64_t fault_usec; /* CLOCK_MONOTONIC of the fault being served */
} VmBlock;

struct Vm {
        Manager *manager;
        Vm *prev, *next;
        VmConfig config;
        bool hidden;        /* orphan found at recovery: not in the registry */
        bool record_dirty;  /* a progress-only change waits for the record flush */
        bool forget_if_empty; /* transient, loaded without a runtime record: forgotten after
                               * the first sync pass if it still holds nothing */
        bool dead;          /* destroyed; freed when n_calls drops to 0 */
        unsigned n_calls;
        VmState state;
        uint16_t vmid;
        uint8_t rm_status, os_status;
        uint16_t app_status;
        bool rm_status_known;
        VmExit exit;
        bool has_exit;
        bool crash_fetched; /* VM_GET_CRASH_MSG done for the current exit */
        VmBootConvention boot;
        VmParcel *parcels;
        size_t n_parcels;
        PoolExtent *ranges;  /* every pool range the VM holds (image RAM and blocks) */
        size_t n_ranges;
        ImageLayout layout;
        uint64_t image_parcel_size; /* RAM covered by the image parcel */
        uint64_t dp_base, dp_size, dp_block; /* demand-paged region (guest IPA) */
        VmBlock *blocks;
        size_t n_blocks;
        VmPagingStats paging;
        char *last_error;
        VmOp *op;
        int kernel_fd, initrd_fd;
        /* release loop */
        VmReleaseThen release_then;
        unsigned release_rounds;
        uint64_t release_deadline;
        sd_event_source *timer;
        bool release_waiting; /* timer is the release loop's poll for RESET */
        ManagerError release_err;
        int release_r;
        size_t reclaim_next;
        uint32_t reclaim_unknown; /* handle whose MEM_RECLAIM outcome is unknown */
        unsigned release_timeouts; /* calls of this release that timed out */
        /* stop */
        bool exit_seen_for_stop;
        /* start */
        void *dtb;
        size_t dtb_size;
        int load_kernel_fd, load_initrd_fd; /* opened for the start in progress */
        bool release_strict;  /* destroy/stop: fail on the first RM error (no retry) */
        unsigned release_action_failures;
};

struct Manager {
        sd_event *event;
        char *rm_device, *rm_socket, *pool_file, *state_dir, *runtime_dir, *image_dir;
        int rm_fd;
        uint64_t pool_ipa, pool_size;
        uint64_t rpc_timeout_usec, stop_timeout_usec;
        int image_dir_fd;
        Pool *pool;
        void *pool_map;      /* --pool device: the module's mapping */
        size_t pool_map_size;
        Store *store;
        EventLog *events;
        RmLink *link;
        RmClient *client;
        RmNotifyHandler *notify;
        Vm *vms, *vms_tail;
        size_t n_vms;
        ManagerLinkState link_state;
        bool started, ready, shutting_down;
        bool syncing;        /* probe + resync in progress after a link-up */
        bool caps_known;
        uint32_t caps;
        unsigned probe_pending;
        unsigned sync_pending;
        bool loaded;
        ManagerReadyFn ready_cb;
        void *ready_userdata;
        bool ready_called;
        sd_event_source *sync_defer;
        sd_event_source *record_flush; /* writes the records of VMs with record_dirty */
        Vm *hidden;          /* orphans being cleaned (not in the registry) */
        unsigned sync_phase;   /* 1 probing, 2 checking VMs, 0 idle */
        bool probe_failed;
        bool resync_again;
        bool scan_needed;      /* a VM_ALLOCATE outcome is unknown: look for orphan VMIDs */
        DeferCtx *defers;
        /* Pool ranges of parcels whose lend could not be resolved (MEM_QCOM_LOOKUP_SGL
         * unimplemented or unusable): kept reserved, never handed out again this run. */
        uint64_t pool_quarantined;
        size_t n_quarantined;
};

/* vm.c */
int vm_new(Manager *m, VmConfig *config, Vm **ret); /* moves *config */
Vm *vm_free(Vm *vm);
/* The one function that changes vm->state. Emits EVENT_VM_STATE and logs. -EINVAL when the
 * table forbids the transition (the state is left unchanged). */
int vm_set_state(Vm *vm, VmState state, const EventCause *cause);
void vm_set_last_error(Vm *vm, const char *msg);
int vm_add_parcel(Vm *vm, VmParcelKind kind, uint64_t guest_ipa, const PoolExtent *e, size_t n);
void vm_remove_parcel(Vm *vm, size_t i);
int vm_add_ranges(Vm *vm, const PoolExtent *e, size_t n);
/* Release ranges to the pool and drop them from vm->ranges. */
void vm_release_ranges(Vm *vm, const PoolExtent *e, size_t n);
/* Release the host ranges of a reclaimed parcel. sanitized: a MEM_RECLAIM with
 * RM_MEM_RELEASE_FLAG_SANITIZE was answered OK; the ranges then go back clean (pool.h, "Dirty
 * tracking") when the RM held the whole SGL, else dirty. */
void vm_release_parcel_reclaimed(Vm *vm, const VmParcel *p, bool sanitized);
void vm_release_all_ranges(Vm *vm);
int vm_find_parcel(const Vm *vm, uint32_t handle);
void vm_close_sources(Vm *vm);

/* manager.c */
void manager_vm_link(Manager *m, Vm *vm);
void manager_vm_unlink(Manager *m, Vm *vm);
/* RM call bound to a VM: the callback runs with the Vm alive (n_calls), or never when the
 * manager shuts down. Synchronous failures call cb before returning. */
typedef void (*VmCallFn)(Vm *vm, int r, uint32_t rm_error, const uint8_t *data, size_t len,
                         void *userdata);
void vm_call(Vm *vm, uint32_t msg_id, const void *payload, size_t len, VmCallFn cb,
             void *userdata);
/* Fill err for a failed RM call: "<CALL> failed: <RM error or errno>". Returns r. */
int manager_error_rm(ManagerError *err, uint32_t msg_id, int r, uint32_t rm_error);
int vm_save_runtime(Vm *vm);
/* A progress-only change (accepted, reclaimed, released, RM status): the record is written
 * after the loop has served everything more urgent (API calls, RM traffic, Monitor events),
 * once for all such changes of the VM meanwhile, or by the next vm_save_runtime(). Never for
 * what protects an RM resource (VMID, pending lend, handle): those are written at once. */
void vm_save_runtime_later(Vm *vm);
/* Write every record vm_save_runtime_later() left pending (at shutdown). */
void manager_flush_records(Manager *m);
int vm_save_definition(Vm *vm);
void vm_delete_records(Vm *vm, bool definition);
int64_t vm_event(Vm *vm, EventKind kind, const EventCause *cause, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
VmOp *vm_op_new(Vm *vm, VmOpKind kind, const EventCause *cause, ManagerDoneFn done,
                ManagerProgressFn progress, void *userdata);
/* Complete vm->op: calls done (unless detached) and frees it. */
void vm_op_finish(Vm *vm, int r, const ManagerError *err);
/* Run fn(vm) from the event loop (never inside the API call). */
int vm_op_defer(Vm *vm, void (*fn)(Vm *vm));
uint64_t manager_now_usec(void); /* CLOCK_MONOTONIC */
void manager_sync_done(Manager *m);
bool manager_rm_usable(const Manager *m);
void manager_destroy_vm(Manager *m, Vm *vm); /* unlink, delete records, event, free (deferred) */

/* manager-notify.c */
void manager_on_notify(RmClient *c, uint32_t msg_id, const uint8_t *payload, size_t len,
                       void *userdata);
void manager_on_link(RmClient *c, bool up, int error, void *userdata);
/* manager-start.c */
void manager_start_run(Vm *vm);
/* A resync or VMID scan ended (link up: run the starts that waited for it) or the link went
 * down (fail them with -ENOTCONN). */
void manager_run_waiting_starts(Manager *m, bool link_up);
/* manager-stop.c */
void vm_release_begin(Vm *vm, VmReleaseThen then);
/* NOTIFY_VM_STATUS said RESET: a release loop waiting for it goes on now. */
void vm_release_poke(Vm *vm);
void manager_stop_run(Vm *vm);
void manager_destroy_run(Vm *vm);
void manager_on_vm_exited(Manager *m, Vm *vm, const uint8_t *p, size_t len);
/* RUNNING VM whose guest exited: EXITED, then release it (crash message first). */
void vm_begin_exit_release(Vm *vm);
/* Lend the parcel at guest_ipa (already in vm->parcels, handle invalid) to the VM: MEM_LEND
 * with ACL [{vmid, RWX}], label 0, then MEM_APPEND chunks past 512 SGL entries. The handle is
 * recorded (and saved) as soon as the RM gives it. then gets r, rm_error and the failing call. */
typedef void (*VmLendThen)(Vm *vm, uint64_t guest_ipa, int r, uint32_t rm_error,
                           uint32_t msg_id, void *userdata);
void vm_lend(Vm *vm, uint64_t guest_ipa, VmLendThen then, void *userdata);
int vm_find_parcel_ipa(const Vm *vm, uint64_t guest_ipa);
/* Resolve the pending lend of the parcel at guest_ipa (VmParcel.pending) with
 * MEM_QCOM_LOOKUP_SGL {NORMAL, ACL [{vmid, RWX}], its SGL, no attrs}: the RM finds only
 * finished parcels nobody accepted, which a pending lend is (nothing was notified or
 * started with it). then gets one of: */
typedef enum VmResolve {
        VM_RESOLVE_LENT,     /* found: handle recorded (and saved), pending cleared */
        VM_RESOLVE_NOT_LENT, /* LOOKUP_FAILED: the RM holds nothing; pending cleared */
        VM_RESOLVE_RETRY,    /* no usable answer now (link, timeout): still pending */
        VM_RESOLVE_UNKNOWN,  /* cannot be resolved (UNIMPLEMENTED, another RM error, an SGL
                              * the lookup cannot carry): the caller quarantines */
} VmResolve;
typedef void (*VmResolveThen)(Vm *vm, uint64_t guest_ipa, VmResolve res, int r, void *userdata);
void vm_parcel_resolve(Vm *vm, uint64_t guest_ipa, VmResolveThen then, void *userdata);
/* Drop parcel i without giving its pool ranges back: they stay reserved for this run. */
void vm_parcel_quarantine(Vm *vm, size_t i, const char *why);
/* manager-paging.c */
void manager_on_page_fault(Manager *m, const uint8_t *p, size_t len);
void manager_on_mem_accepted(Manager *m, const uint8_t *p, size_t len);
void manager_on_mem_released(Manager *m, const uint8_t *p, size_t len);
int vm_paging_setup(Vm *vm);
/* Running VM (adopted, or link back): look up every pending block lend (free or reclaim). */
void vm_paging_resolve_pending(Vm *vm);
/* Demand-paging geometry for a given image parcel size (recovery: from the records). */
int vm_paging_setup_image(Vm *vm, uint64_t image_parcel_size);
/* An RM call's reply that says nothing about what the RM did: undecodable (-EBADMSG) or
 * aborted mid-reassembly (-EIO from rm-client). */
static inline bool rm_reply_garbled(int r)
{
        return r == -EBADMSG || r == -EIO;
}
/* manager-start.c: the openat2-less path walk (every component O_NOFOLLOW), for tests. */
int manager_open_beneath_nofollow(int dirfd, const char *path);
/* manager-recovery.c */
int manager_load(Manager *m);
void manager_on_link_up(Manager *m);
void manager_maybe_scan(Manager *m);
/* rm-client's unmatched-reply hook: a VM_ALLOCATE reply nobody waits for (the request was
 * duplicated on the way, or it answered after its timeout) may name a VMID nobody recorded. */
void manager_on_unmatched_reply(RmClient *c, uint32_t msg_id, const uint8_t *payload, size_t len,
                                void *userdata);
