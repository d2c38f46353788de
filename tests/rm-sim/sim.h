#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * gunyah-rm-sim internals: one Sim holds the whole RM state (VMs, parcels, the host link,
 * the simulated guests, the control server). Single-threaded, driven by a poll() loop.
 *
 * Modules: sim-link.c (RM link: packets, reassembly, output queue, fault injection),
 * sim-vm.c (VM calls and the VM state machine: sim_vm_set_status() is the one function that
 * changes a VM's status), sim-parcel.c (memory parcels), sim-image.c (DTB and boot image
 * checks against the pool), sim-guest.c (the simulated guests), sim-control.c (Varlink).
 *
 * Handlers return an RM error code (uint32_t); they never return errno values to the wire.
 * Internal helpers use negative errno.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rm-error.h"
#include "rm-ids.h"
#include "rm-mem.h"
#include "rm-types.h"
#include "rm-vm.h"
#include "rm-wire.h"

typedef struct Sim Sim;

typedef enum SimProfile {
        SIM_PROFILE_V17,
        SIM_PROFILE_OPEN_RM,
} SimProfile;

/* ---- parcels ---- */
typedef struct SimAcl {
        uint16_t vmid;
        uint8_t rights;
        bool accepted;
        uint64_t guest_ipa; /* where the borrower mapped it (contiguous) */
} SimAcl;

typedef struct SimParcel {
        uint32_t handle;
        uint16_t owner;
        uint8_t trans_type;
        uint8_t mem_type;
        uint8_t flags;
        uint32_t label;
        bool open; /* created with APPEND, END not seen yet */
        bool has_tag;
        uint32_t tag;
        size_t n_acl;
        SimAcl *acl;
        size_t n_sgl;
        RmSglEntry *sgl;
        size_t n_attr;
        RmAttrEntry *attr;
        uint64_t size; /* sum of the SGL sizes */
        struct SimParcel *next;
} SimParcel;

/* ---- VMs ---- */
#define SIM_MAX_VCPUS 64
typedef struct SimVm {
        uint16_t vmid;
        uint16_t owner;
        uint8_t status;
        uint8_t os_status;
        uint16_t app_status;

        /* VM_CONFIG_IMAGE */
        bool configured;
        uint16_t auth;
        uint32_t image_handle;
        uint64_t image_offset, image_size, dtb_offset, dtb_size;

        /* from the vm-config DT (VM_INIT) */
        bool dt_parsed;
        char name[RM_MAX_NAME];
        bool has_guid;
        uint8_t guid[16];
        uint64_t mem_base;
        uint64_t mem_size_max;
        bool has_entry_offset;
        uint64_t entry_offset;
        unsigned n_vcpus;
        bool no_shutdown, no_reset, crash_fatal, is_direct;

        /* v17 calls */
        bool layout_set;
        uint64_t layout_base, layout_size;
        bool dp_set;
        size_t n_dp;
        RmRange *dp;
        bool pc_set;
        uint64_t pc;
        uint64_t x[32];
        uint32_t x_set; /* bit i: X[i] set */
        uint64_t sp[3];

        /* exit info (NOTIFY_VM_EXITED as sent) */
        bool has_exit;
        uint16_t exit_type;
        uint32_t reason[4];
        unsigned n_reason;
        char crash_msg[RM_MAX_CRASH_MSG + 1];
        size_t crash_len;

        /* simulated guest */
        bool ignore_shutdown;
        bool fault_blocked;
        uint64_t fault_ipa;
        uint64_t guest_deadline; /* 0: nothing scheduled */
        int guest_action;        /* SimGuestAction */
        uint64_t reset_deadline; /* VM_RESET progress step */
} SimVm;

/* ---- host link output ---- */
typedef struct SimMsg {
        uint8_t type;
        uint16_t seq;
        uint32_t msg_id;
        size_t len;
        uint8_t *payload;
        struct SimMsg *next;
} SimMsg;

typedef struct SimPkt {
        uint64_t due; /* delayed packets: monotonic ms */
        size_t len;
        uint8_t data[RM_PACKET_MAX];
        struct SimPkt *next;
} SimPkt;

#define SIM_WINDOW 8       /* packets written ahead of the client (queue depth) */
#define SIM_MAX_NOTIFS 256 /* pending notifications (rm-rpc-fifo.c) */

typedef enum SimFaultKind {
        SIM_FAULT_DROP,
        SIM_FAULT_DUPLICATE,
        SIM_FAULT_CORRUPT,
        SIM_FAULT_DELAY,
        _SIM_FAULT_PKT_MAX,
} SimFaultKind;

typedef struct SimPktFaults {
        unsigned count[_SIM_FAULT_PKT_MAX];
        unsigned delay_ms;
        int corrupt_offset; /* -1: last byte */
} SimPktFaults;

typedef struct SimErrorFault {
        uint32_t msg_id;
        uint32_t error;
        unsigned count;
} SimErrorFault;

typedef struct SimLink {
        int listen_fd;
        int fd; /* connected client, -1 when none */
        RmReassembler *reasm;
        /* output: message in transmission, pending reply slot, notification queue */
        SimMsg *tx;
        size_t tx_index; /* next packet of tx */
        size_t tx_total;
        SimMsg *pending_reply;
        SimMsg *notif_head, *notif_tail;
        size_t n_notifs;
        uint16_t notif_seq;
        /* window accounting: bytes of each written packet still unread (SIOCOUTQ) */
        unsigned inflight_sizes[64];
        unsigned n_inflight;
        /* packets held by a delay fault, in order */
        SimPkt *out_delayed_head, *out_delayed_tail;
        SimPkt *in_delayed_head, *in_delayed_tail;
        SimPktFaults fin, fout;
        SimErrorFault errf[16];
        bool stalled;
        uint64_t packets_in, packets_out, dropped_replies, dropped_notifs;
} SimLink;

typedef struct SimOptions {
        const char *listen_path;
        int fd;
        const char *pool_file;
        uint64_t pool_ipa, pool_size;
        SimProfile profile;
        const char *control_path;
        bool strict_image_acl;
        unsigned guest_pace_ms;
        bool verbose;
        int ready_fd;
} SimOptions;

struct SimControl;
struct pollfd;

struct Sim {
        SimOptions opt;
        uint8_t *pool;
        SimVm *vms[256]; /* indexed by VMID */
        SimParcel *parcels;
        uint32_t next_handle;
        SimLink link;
        struct SimControl *control;
        bool quit;
};

/* time */
uint64_t sim_now_ms(void);

/* logging (stderr) */
void sim_log(Sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_debug(Sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* sim-link.c */
int sim_link_init(Sim *s);
void sim_link_done(Sim *s);
void sim_link_close_client(Sim *s);
void sim_link_reset_output(Sim *s);
int sim_link_accept(Sim *s);
void sim_link_on_readable(Sim *s);
void sim_link_flush(Sim *s);
uint64_t sim_link_next_deadline(Sim *s);
void sim_link_tick(Sim *s, uint64_t now);
bool sim_link_wants_pollout(Sim *s);
/* queue a reply (payload = err + data) to the host */
void sim_link_reply(Sim *s, uint16_t seq, uint32_t msg_id, const uint8_t *payload, size_t len);
/* deliver a notification to vmid: the host link for VMID 3, the simulated guest otherwise */
void sim_notify(Sim *s, uint16_t to_vmid, uint32_t msg_id, const uint8_t *payload, size_t len);

/* request dispatch (sim-vm.c): handles one reassembled request from caller */
void sim_dispatch(Sim *s, uint16_t caller, uint16_t seq, uint32_t msg_id, const uint8_t *p,
                  size_t len);
typedef struct SimReply {
        uint8_t *buf; /* err + data, grows */
        size_t len, cap;
} SimReply;
int sim_reply_put(SimReply *r, const void *data, size_t len);
typedef uint32_t (*SimHandler)(Sim *s, uint16_t caller, const uint8_t *p, size_t len,
                               SimReply *reply);

/* sim-vm.c */
SimVm *sim_vm_get(Sim *s, uint16_t vmid);
void sim_vm_set_status(Sim *s, SimVm *vm, uint8_t status);
void sim_vm_send_status(Sim *s, SimVm *vm);
void sim_vm_exit(Sim *s, SimVm *vm, uint16_t exit_type, const uint32_t *reason, unsigned n);
void sim_vm_free_all(Sim *s);
uint32_t sim_vm_handle(Sim *s, uint16_t caller, uint32_t msg_id, const uint8_t *p, size_t len,
                       SimReply *reply, bool *handled);
void sim_vm_tick(Sim *s, uint64_t now);
uint64_t sim_vm_next_deadline(Sim *s);

/* sim-parcel.c */
SimParcel *sim_parcel_get(Sim *s, uint32_t handle);
uint32_t sim_parcel_handle(Sim *s, uint16_t caller, uint32_t msg_id, const uint8_t *p, size_t len,
                           SimReply *reply, bool *handled);
/* RM-internal accept of a parcel for vmid at guest_ipa (VM_START, guest accept) */
uint32_t sim_parcel_accept_for(Sim *s, SimParcel *pc, uint16_t vmid, uint64_t guest_ipa);
/* RM-internal release (VM_RESET): unmap and tell the owner with MEM_RELEASED */
void sim_parcel_release_for(Sim *s, SimParcel *pc, uint16_t vmid, bool notify_owner);
SimParcel *sim_parcel_next_accepted_by(Sim *s, uint16_t vmid);
uint32_t sim_parcel_do_release(Sim *s, uint16_t caller, uint32_t handle);
uint32_t sim_parcel_do_notify(Sim *s, uint16_t caller, uint32_t handle, uint8_t flags, uint32_t tag,
                              const uint16_t *vmids, size_t n);
int sim_parcel_read(Sim *s, const SimParcel *pc, uint64_t off, void *buf, size_t len);
void sim_parcel_free_all(Sim *s);
uint8_t *sim_pool_ptr(Sim *s, uint64_t ipa, uint64_t len);
SimAcl *sim_parcel_acl_of(SimParcel *pc, uint16_t vmid);

/* sim-image.c */
uint32_t sim_image_parse_dt(Sim *s, SimVm *vm, SimParcel *pc);
uint32_t sim_image_check_boot(Sim *s, SimVm *vm);
int sim_vm_read_guest(Sim *s, SimVm *vm, uint64_t gaddr, void *buf, size_t len);

/* sim-guest.c */
typedef enum SimGuestAction {
        SIM_GUEST_NONE,
        SIM_GUEST_BOOT_STEP,
        SIM_GUEST_SHUTDOWN_EXIT,
} SimGuestAction;
void sim_guest_started(Sim *s, SimVm *vm);
void sim_guest_notify(Sim *s, SimVm *vm, uint32_t msg_id, const uint8_t *p, size_t len);
void sim_guest_tick(Sim *s, SimVm *vm, uint64_t now);
uint32_t sim_guest_exit(Sim *s, SimVm *vm, uint16_t type, int code, uint16_t flags,
                        const char *crash_msg, uint32_t reset_type, uint64_t cookie, bool smc64);
uint32_t sim_guest_set_status(Sim *s, SimVm *vm, uint8_t os_status, uint16_t app_status);
int sim_guest_page_fault(Sim *s, SimVm *vm, uint64_t ipa, uint32_t flags);
void sim_guest_check_fault(Sim *s, SimVm *vm);
bool sim_guest_has_ops(void);
void sim_guest_run_ops(Sim *s);
void sim_guest_forget_ops(void);
uint64_t sim_vm_image_base(const SimVm *vm);

/* sim-control.c */
int sim_control_init(Sim *s);
void sim_control_done(Sim *s);
int sim_control_pollfds(Sim *s, struct pollfd *pfd, int max);
void sim_control_dispatch(Sim *s, struct pollfd *pfd, int n);
void sim_restart(Sim *s, bool keep_state);
