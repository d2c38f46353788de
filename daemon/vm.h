#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * The Vm record and its state machine.
 *
 * Owns: one VM as the daemon knows it: its definition (VmConfig), the RM side (VMID, RM
 * status, OS/app status, exit details), the memory it holds (parcels: handle, guest IPA,
 * size, the host pool ranges behind them) and demand-paging counters.
 *
 * Invariants: vm_set_state() is the ONLY function that changes Vm.state, and only along the
 * transition table in vm.c (docs/design.md prints it); an illegal transition is refused with
 * -EINVAL and logged (it is a manager bug). Everything else is read through the accessors;
 * the fields are written by the manager (daemon/manager*.c) only. A Vm pointer stays valid
 * until the VM is destroyed (EVENT_VM_DESTROYED); API code must look VMs up by name again
 * after any callback boundary.
 *
 * Errors: negative errno.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool.h"

typedef struct VmConfig VmConfig; /* daemon/vm-config.h */
typedef struct Manager Manager;
typedef struct Vm Vm;

typedef enum VmState {
        VM_STATE_STOPPED,    /* defined; nothing held in the RM or the pool */
        VM_STATE_STARTING,   /* start sequence in progress (or unwinding) */
        VM_STATE_RUNNING,    /* VM_START succeeded; the guest runs */
        VM_STATE_STOPPING,   /* VM_STOP sent; waiting for the guest to exit */
        VM_STATE_EXITED,     /* the guest exited; the RM still holds the VM (released next) */
        VM_STATE_RELEASING,  /* VM_RESET, MEM_RECLAIM, VM_DEALLOCATE in progress */
        VM_STATE_FAILED,     /* RM/pool resources could not all be released; stop retries */
        VM_STATE_LOST,       /* the RM no longer knows the VM (its records were cleaned) */
        VM_STATE_DESTROYING, /* destroy in progress; the record disappears when done */
        VM_STATE_RECOVERING, /* loaded from the store at start-up, being checked with the RM */
        _VM_STATE_MAX,
        _VM_STATE_INVALID = -22, /* -EINVAL */
} VmState;

/* How the VM is (or was last) booted. */
typedef enum VmBootConvention {
        VM_BOOT_NONE,    /* not started yet */
        VM_BOOT_V17,     /* VM_SET_BOOT_CONTEXT: PC = kernel entry IPA, X0 = DTB IPA */
        VM_BOOT_OPEN_RM, /* open RM: PC = memory base + kernel-entry-offset (DT), X0 = DTB */
        _VM_BOOT_MAX,
        _VM_BOOT_INVALID = -22,
} VmBootConvention;

typedef enum VmParcelKind {
        VM_PARCEL_IMAGE,  /* kernel + initrd + DTB (+ RAM when not demand paged) */
        VM_PARCEL_DEMAND, /* a block lent on a demand-paging fault */
        _VM_PARCEL_KIND_MAX,
        _VM_PARCEL_KIND_INVALID = -22,
} VmParcelKind;

typedef struct VmParcel {
        VmParcelKind kind;
        uint32_t handle;    /* RM_MEM_HANDLE_INVALID until MEM_LEND answered */
        uint64_t guest_ipa; /* where the guest sees it */
        uint64_t size;
        bool accepted;      /* MEM_ACCEPTED seen (or consumed by VM_START) */
        bool complete;      /* every SGL chunk sent (MEM_APPEND END done) */
        bool pending;       /* MEM_LEND went out and no handle is confirmed (no reply, a
                             * garbled one, or the RM disowned the handle it gave): whether
                             * the RM holds it is resolved with MEM_QCOM_LOOKUP_SGL */
        bool looked_up;     /* the handle came from MEM_QCOM_LOOKUP_SGL */
        size_t n_host;      /* host pool ranges behind it (the SGL), in guest order */
        PoolExtent *host;
} VmParcel;

typedef struct VmExit {
        bool valid;
        uint16_t type;        /* RmExitType */
        uint8_t code;         /* RmExitCode (open RM numbering) */
        uint16_t flags;       /* exit flags (bits 15:0 of reason word 0) */
        uint32_t n_reason;    /* reason words as received (0..4) */
        uint32_t reason[4];
        char crash_msg[193];  /* VM_GET_CRASH_MSG, NUL-terminated, "" if none */
        uint64_t timestamp_usec; /* CLOCK_REALTIME */
} VmExit;

typedef struct VmPagingStats {
        uint64_t faults_served;
        uint64_t faults_failed;
        uint64_t bytes_lent;       /* currently lent on demand (decreases on reclaim) */
        uint64_t bytes_reclaimed;  /* total reclaimed after MEM_RELEASED */
        uint64_t latency_last_usec; /* fault event -> MEM_ACCEPTED */
        uint64_t latency_max_usec;
        uint64_t latency_total_usec; /* divide by faults_served for the mean */
} VmPagingStats;

/* --- read-only accessors (for the API layer) --- */
const char *vm_get_name(const Vm *vm);
const VmConfig *vm_get_config(const Vm *vm);
bool vm_is_persistent(const Vm *vm);
VmState vm_get_state(const Vm *vm);
uint16_t vm_get_vmid(const Vm *vm);        /* 0 when the RM holds nothing for it */
uint8_t vm_get_rm_status(const Vm *vm);    /* RmVmStatus, last known */
uint8_t vm_get_os_status(const Vm *vm);    /* RmOsStatus, last known */
uint16_t vm_get_app_status(const Vm *vm);
const VmExit *vm_get_exit(const Vm *vm);   /* NULL until the guest exited once */
VmBootConvention vm_get_boot_convention(const Vm *vm);
size_t vm_get_n_parcels(const Vm *vm);
const VmParcel *vm_get_parcel(const Vm *vm, size_t i); /* NULL past the end */
uint64_t vm_get_memory_base(const Vm *vm); /* guest IPA of RAM (0 until laid out) */
uint64_t vm_get_memory_size(const Vm *vm);
uint64_t vm_get_bytes_lent(const Vm *vm);  /* all parcels currently lent to the VM */
const VmPagingStats *vm_get_paging_stats(const Vm *vm);
/* Why the last start/stop/destroy failed (a sentence naming the step and the error), or
 * NULL when the last operation succeeded. */
const char *vm_get_last_error(const Vm *vm);

const char *vm_state_to_string(VmState s);     /* "stopped", "starting", ... */
VmState vm_state_from_string(const char *s);   /* _VM_STATE_INVALID if unknown */
const char *vm_boot_convention_to_string(VmBootConvention b); /* "none", "v17", "open-rm" */
const char *vm_parcel_kind_to_string(VmParcelKind k);         /* "image", "demand" */

/* Whether the table allows from -> to. */
bool vm_state_transition_allowed(VmState from, VmState to);
