/* SPDX-License-Identifier: MIT */
/*
 * Stop, destroy, guest exits, lending, and the release loop that all of them (and a failed
 * start, and recovery) use to give back what the RM and the pool hold for a VM.
 *
 * The release loop asks the RM for the VM's state and acts on it until nothing is left
 * (rm-protocol.md section 12 legal states):
 *   RUNNING/PAUSED -> VM_STOP(FORCE)          EXITED -> VM_GET_CRASH_MSG once, VM_RESET
 *   READY/INIT_FAILED -> VM_RESET             RESETTING -> wait (NOTIFY_VM_STATUS or poll)
 *   INIT -> VM_INIT (its success gives READY, its failure INIT_FAILED: both can be reset;
 *           the open RM can neither reset nor deallocate a VM left in INIT)
 *   LOAD/RESET -> MEM_RECLAIM every parcel, VM_DEALLOCATE
 *   unknown VMID -> the RM forgot it: only reclaim what handles still exist
 * then every pool range is freed and the runtime record deleted. Bounded by
 * MANAGER_RELEASE_MAX_ROUNDS and MANAGER_RESET_WAIT_USEC. In strict mode (stop, destroy)
 * the first RM error ends the loop with that error; otherwise (unwinding a start, guest
 * exits, recovery) an RM error on an action is retried up to 3 times.
 *
 * A reply that cannot be decoded (-EBADMSG: malformed, or an error word no RM sends) says
 * nothing about what the RM did, nor does a timeout (the reply may have been lost), in
 * either mode: the loop re-reads the truth from the RM instead of failing (after a timeout
 * RELEASE_TIMEOUT_RETRIES times per release). An action (VM_STOP, VM_RESET, VM_INIT,
 * VM_DEALLOCATE) is followed by VM_GET_STATE as usual (VM_DEALLOCATE that took effect: the
 * VMID is unknown); a VM_GET_STATE is asked again; a MEM_RECLAIM is sent again, and
 * HANDLE_INVALID for that retry means the first one took effect. Each retry is a round.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "manager-internal.h"
#include "rm-error.h"
#include "rm-ids.h"
#include "rm-mem.h"
#include "rm-notify.h"
#include "rm-types.h"
#include "rm-vm.h"

#define RELEASE_ACTION_RETRIES 3u
#define RELEASE_TIMEOUT_RETRIES 2u /* per release: an RM that does not answer fails it soon */

/* ======================= lending ======================= */

typedef struct LendCtx {
        uint64_t guest_ipa;
        size_t msg;
        VmLendThen then;
        void *userdata;
} LendCtx;

static void lend_send(Vm *vm, LendCtx *ctx);

static void lend_finish(Vm *vm, LendCtx *ctx, int r, uint32_t rm_error, uint32_t msg_id)
{
        LendCtx c = *ctx;
        free(ctx);
        c.then(vm, c.guest_ipa, r, rm_error, msg_id, c.userdata);
}

static void lend_reply(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                       void *userdata)
{
        LendCtx *ctx = userdata;
        int i = vm_find_parcel_ipa(vm, ctx->guest_ipa);
        uint32_t msg_id = ctx->msg == 0 ? RM_MEM_LEND : RM_MEM_APPEND;
        size_t first, count;
        bool last;

        if (r < 0)
                return lend_finish(vm, ctx, r, rm_error, msg_id);
        if (i < 0)
                return lend_finish(vm, ctx, -ENOENT, 0, msg_id);
        VmParcel *p = &vm->parcels[i];
        if (ctx->msg == 0) {
                uint32_t handle;
                if (rm_decode_mem_create_reply(d, n, &handle) < 0 ||
                    handle == RM_MEM_HANDLE_INVALID)
                        return lend_finish(vm, ctx, -EBADMSG, 0, msg_id);
                p->handle = handle;
                p->pending = false;
                /* The handle goes to disk before anything else: recovery must reclaim it.
                 * If it cannot, the lend fails (msg_id 0): the caller reclaims the handle. */
                r = vm_save_runtime(vm);
                if (r < 0)
                        return lend_finish(vm, ctx, r, 0, 0);
        }
        rm_sgl_message_range(p->n_host, ctx->msg, &first, &count, &last);
        if (last) {
                p->complete = true;
                return lend_finish(vm, ctx, 0, 0, msg_id);
        }
        ctx->msg++;
        lend_send(vm, ctx);
}

/* What a lend of parcel p says to the RM, shared by MEM_LEND/MEM_APPEND and the
 * MEM_QCOM_LOOKUP_SGL that finds it again (the RM matches the lookup field by field): the
 * ACL, and the SGL entries [first, first + count) (calloc'd; NULL without memory). */
static RmAclEntry lend_acl(const Vm *vm)
{
        return (RmAclEntry){ .vmid = vm->vmid, .rights = RM_ACL_RWX };
}

static RmSglEntry *lend_sgl(const VmParcel *p, size_t first, size_t count)
{
        RmSglEntry *sgl = calloc(MAX(count, (size_t)1), sizeof(RmSglEntry));
        if (!sgl)
                return NULL;
        for (size_t k = 0; k < count; k++)
                sgl[k] = (RmSglEntry){ .ipa = p->host[first + k].ipa,
                                       .size = p->host[first + k].size };
        return sgl;
}

/* Room for one lend, append or lookup message of count SGL entries and one ACL entry. */
#define LEND_MSG_CAP(count) (64 + (count) * 16)

static void lend_send(Vm *vm, LendCtx *ctx)
{
        int i = vm_find_parcel_ipa(vm, ctx->guest_ipa);
        _cleanup_free_ RmSglEntry *sgl = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t first, count, cap;
        bool last;
        ssize_t n;
        int r;

        if (i < 0)
                return lend_finish(vm, ctx, -ENOENT, 0, RM_MEM_LEND);
        VmParcel *p = &vm->parcels[i];
        rm_sgl_message_range(p->n_host, ctx->msg, &first, &count, &last);
        sgl = lend_sgl(p, first, count);
        cap = LEND_MSG_CAP(count);
        buf = malloc(cap);
        if (!sgl || !buf)
                return lend_finish(vm, ctx, -ENOMEM, 0, RM_MEM_LEND);
        if (ctx->msg == 0) {
                RmAclEntry acl = lend_acl(vm);
                RmMemCreate c = {
                        .mem_type = RM_MEM_TYPE_NORMAL,
                        .flags = last ? 0 : RM_MEM_CREATE_FLAG_APPEND,
                        .label = 0,
                        .n_acl = 1,
                        .acl = &acl,
                        .n_sgl = count,
                        .sgl = sgl,
                        .has_attr_list = true,
                };
                n = rm_encode_mem_create(buf, cap, &c);
                if (n < 0)
                        return lend_finish(vm, ctx, (int)n, 0, RM_MEM_LEND);
                /* From here until a handle is recorded the RM may hold the parcel without
                 * us knowing its handle: record the pending lend first (its SGL is in the
                 * record), so a restart can look it up instead of leaking it. */
                p->pending = true;
                r = vm_save_runtime(vm);
                if (r < 0) {
                        p->pending = false; /* not sent: the RM holds nothing */
                        return lend_finish(vm, ctx, r, 0, 0);
                }
                vm_call(vm, RM_MEM_LEND, buf, (size_t)n, lend_reply, ctx);
        } else {
                RmMemAppend a = {
                        .handle = p->handle,
                        .flags = last ? RM_MEM_APPEND_FLAG_END : 0,
                        .n_sgl = count,
                        .sgl = sgl,
                };
                n = rm_encode_mem_append(buf, cap, &a);
                if (n < 0)
                        return lend_finish(vm, ctx, (int)n, 0, RM_MEM_APPEND);
                vm_call(vm, RM_MEM_APPEND, buf, (size_t)n, lend_reply, ctx);
        }
}

/* then gets msg_id 0 when a record write failed: the pending lend before MEM_LEND (nothing
 * was sent) or the handle after its reply (the parcel has its handle, for reclaiming). */
void vm_lend(Vm *vm, uint64_t guest_ipa, VmLendThen then, void *userdata)
{
        LendCtx *ctx = malloc(sizeof(*ctx));

        if (!ctx)
                return then(vm, guest_ipa, -ENOMEM, 0, RM_MEM_LEND, userdata);
        *ctx = (LendCtx){ .guest_ipa = guest_ipa, .then = then, .userdata = userdata };
        lend_send(vm, ctx);
}

/* ======================= pending lends ======================= */

typedef struct ResolveCtx {
        uint64_t guest_ipa;
        VmResolveThen then;
        void *userdata;
} ResolveCtx;

static void resolve_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                         void *userdata)
{
        ResolveCtx c = *(ResolveCtx *)userdata;
        int i = vm_find_parcel_ipa(vm, c.guest_ipa);
        uint32_t handle;
        VmResolve res;

        free(userdata);
        if (i < 0)
                return c.then(vm, c.guest_ipa, VM_RESOLVE_NOT_LENT, -ENOENT, c.userdata);
        VmParcel *p = &vm->parcels[i];
        if (r == 0 && rm_decode_mem_lookup_sgl_reply(d, n, &handle) == 0 &&
            handle != RM_MEM_HANDLE_INVALID) {
                p->handle = handle;
                p->pending = false;
                p->looked_up = true;
                p->complete = true;
                (void)vm_save_runtime(vm);
                log_vm_info(vm->config.name, vm->vmid ? vm->vmid : -1,
                            "Pending lend at 0x%" PRIx64
                            " resolved: the RM holds it as parcel 0x%x",
                            c.guest_ipa, handle);
                res = VM_RESOLVE_LENT;
        } else if (r == -EREMOTEIO && rm_error == RM_ERROR_LOOKUP_FAILED) {
                p->pending = false;
                log_vm_info(vm->config.name, vm->vmid ? vm->vmid : -1,
                            "Pending lend at 0x%" PRIx64 " resolved: the RM holds no such parcel",
                            c.guest_ipa);
                res = VM_RESOLVE_NOT_LENT;
        } else if (r == -EREMOTEIO || r == 0)
                res = VM_RESOLVE_UNKNOWN; /* UNIMPLEMENTED, another RM error, a bad reply */
        else
                res = VM_RESOLVE_RETRY;
        if (r == 0 && res == VM_RESOLVE_UNKNOWN)
                r = -EBADMSG;
        c.then(vm, c.guest_ipa, res, r, c.userdata);
}

void vm_parcel_resolve(Vm *vm, uint64_t guest_ipa, VmResolveThen then, void *userdata)
{
        int i = vm_find_parcel_ipa(vm, guest_ipa);
        _cleanup_free_ RmSglEntry *sgl = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        ResolveCtx *ctx;
        size_t cap;
        ssize_t n;

        if (i < 0)
                return then(vm, guest_ipa, VM_RESOLVE_NOT_LENT, -ENOENT, userdata);
        VmParcel *p = &vm->parcels[i];
        /* Over 512 entries the lend went out with APPEND: an open parcel is never found,
         * and one list cannot carry the SGL anyway. */
        if (p->n_host == 0 || p->n_host > RM_MAX_LIST_ENTRIES)
                return then(vm, guest_ipa, VM_RESOLVE_UNKNOWN, -E2BIG, userdata);
        sgl = lend_sgl(p, 0, p->n_host);
        cap = LEND_MSG_CAP(p->n_host);
        buf = malloc(cap);
        ctx = malloc(sizeof(*ctx));
        if (!sgl || !buf || !ctx) {
                free(ctx);
                return then(vm, guest_ipa, VM_RESOLVE_RETRY, -ENOMEM, userdata);
        }
        RmAclEntry acl = lend_acl(vm);
        RmMemLookupSgl q = { .mem_type = RM_MEM_TYPE_NORMAL, .n_acl = 1, .acl = &acl,
                             .n_sgl = p->n_host, .sgl = sgl };
        n = rm_encode_mem_lookup_sgl(buf, cap, &q);
        if (n < 0) {
                free(ctx);
                return then(vm, guest_ipa, VM_RESOLVE_UNKNOWN, (int)n, userdata);
        }
        *ctx = (ResolveCtx){ .guest_ipa = guest_ipa, .then = then, .userdata = userdata };
        vm_call(vm, RM_MEM_QCOM_LOOKUP_SGL, buf, (size_t)n, resolve_done, ctx);
}

void vm_parcel_quarantine(Vm *vm, size_t i, const char *why)
{
        Manager *m = vm->manager;

        if (i >= vm->n_parcels)
                return;
        VmParcel *p = &vm->parcels[i];
        for (size_t k = 0; k < p->n_host; k++)
                for (size_t j = 0; j < vm->n_ranges; j++)
                        if (vm->ranges[j].ipa == p->host[k].ipa &&
                            vm->ranges[j].size == p->host[k].size) {
                                vm->ranges[j] = vm->ranges[--vm->n_ranges];
                                break;
                        }
        m->pool_quarantined += p->size;
        m->n_quarantined++;
        log_vm_error(vm->config.name, vm->vmid ? vm->vmid : -1,
                     "Pool range of the lend at 0x%" PRIx64 " (%" PRIu64 " bytes, %zu extents "
                     "from 0x%" PRIx64 ") quarantined until the daemon restarts: %s",
                     p->guest_ipa, p->size, p->n_host, p->n_host ? p->host[0].ipa : 0, why);
        vm_event(vm, EVENT_VM_MEMORY, NULL,
                 "pool range at 0x%" PRIx64 " (%" PRIu64 " bytes) quarantined: %s",
                 p->n_host ? p->host[0].ipa : 0, p->size, why);
        vm_remove_parcel(vm, i);
        (void)vm_save_runtime(vm);
}

/* ======================= release loop ======================= */

static void release_step(Vm *vm);

/* r says the outcome of the call is unknown: an undecodable reply, or none in time (the
 * RM may have acted and its reply was lost). Logs it; false when the loop is out of rounds
 * or, for timeouts, out of RELEASE_TIMEOUT_RETRIES (it then fails with the error). */
static bool release_outcome_unknown(Vm *vm, uint32_t msg_id, int r)
{
        if (vm->release_rounds >= MANAGER_RELEASE_MAX_ROUNDS)
                return false;
        if (r == -ETIMEDOUT) {
                if (++vm->release_timeouts > RELEASE_TIMEOUT_RETRIES)
                        return false;
        } else if (!rm_reply_garbled(r))
                return false;
        log_vm_warning(vm->config.name, vm->vmid ? vm->vmid : -1,
                       "%s: %s, outcome unknown: asking the RM again",
                       rm_msg_id_to_string(msg_id) ?: "RM call",
                       r == -ETIMEDOUT ? "no reply in time" : "garbled reply");
        return true;
}

static void release_end(Vm *vm, int r, const ManagerError *err)
{
        VmReleaseThen then = vm->release_then;

        vm->release_then = NULL;
        vm->timer = sd_event_source_disable_unref(vm->timer);
        if (vm->release_waiting) {
                vm->release_waiting = false;
                vm->n_calls--;
        }
        then(vm, r, err);
}

static void release_fail(Vm *vm, uint32_t msg_id, int r, uint32_t rm_error)
{
        ManagerError e;

        /* the classified error: an aborted reassembly (-EIO) is a malformed reply */
        release_end(vm, manager_error_rm(&e, msg_id, r, rm_error), &e);
}

static void release_finish(Vm *vm)
{
        /* Nothing left in the RM: give the pool back, forget the record. */
        vm_release_all_ranges(vm);
        for (size_t i = vm->n_parcels; i > 0; i--)
                vm_remove_parcel(vm, i - 1);
        for (size_t b = 0; b < vm->n_blocks; b++)
                vm->blocks[b] = (VmBlock){ .parcel = -1 };
        vm->vmid = 0;
        vm->rm_status = RM_VM_STATUS_NONE;
        vm->os_status = 0;
        vm->app_status = 0;
        vm->rm_status_known = false;
        (void)vm_save_runtime(vm); /* vmid 0: deletes the runtime record */
        log_vm_info(vm->config.name, -1, "VM %s released: nothing held in the RM or the pool",
                    vm->config.name);
        release_end(vm, 0, NULL);
}

/* Generic: an action call came back; loop to re-read the state. */
static void release_action_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                                void *userdata)
{
        uint32_t msg_id = (uint32_t)(uintptr_t)userdata;

        if (release_outcome_unknown(vm, msg_id, r))
                return release_step(vm); /* VM_GET_STATE tells what it did */
        if (r < 0) {
                bool retry = !vm->release_strict && r == -EREMOTEIO &&
                             ++vm->release_action_failures <= RELEASE_ACTION_RETRIES;
                /* VM_INIT used to leave INIT may fail: INIT_FAILED is what we wanted. */
                if (msg_id == RM_VM_INIT && r == -EREMOTEIO)
                        retry = true;
                /* VM_STATE: the VM moved meanwhile (e.g. exited); re-read it. */
                if (r == -EREMOTEIO && rm_error == RM_ERROR_VM_STATE &&
                    vm->release_action_failures <= RELEASE_ACTION_RETRIES)
                        retry = true;
                if (!retry)
                        return release_fail(vm, msg_id, r, rm_error);
                log_vm_warning(vm->config.name, vm->vmid, "%s failed (RM error 0x%x), retrying",
                               rm_msg_id_to_string(msg_id), rm_error);
        }
        release_step(vm);
}

static void release_call(Vm *vm, uint32_t msg_id)
{
        uint8_t buf[8];
        ssize_t n;

        if (msg_id == RM_VM_STOP) {
                RmVmStop s = { .vmid = vm->vmid, .flags = RM_VM_STOP_FLAG_FORCE,
                               .stop_reason = RM_STOP_REASON_FORCE_STOP };
                n = rm_encode_vm_stop(buf, sizeof(buf), &s);
        } else
                n = rm_encode_vmid_req(buf, sizeof(buf), vm->vmid);
        vm_call(vm, msg_id, buf, (size_t)n, release_action_done, (void *)(uintptr_t)msg_id);
}

static void release_dealloc_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                                 void *userdata)
{
        /* Garbled: VM_GET_STATE answers NORESOURCE if it took effect. */
        if (release_outcome_unknown(vm, RM_VM_DEALLOCATE, r))
                return release_step(vm);
        if (r < 0 && !(r == -EREMOTEIO && rm_error == RM_ERROR_VMID_INVALID)) {
                if (!vm->release_strict && r == -EREMOTEIO &&
                    ++vm->release_action_failures <= RELEASE_ACTION_RETRIES)
                        return release_step(vm);
                return release_fail(vm, RM_VM_DEALLOCATE, r, rm_error);
        }
        log_vm_debug(vm->config.name, vm->vmid, "VMID %u deallocated", vm->vmid);
        vm->vmid = 0;
        release_finish(vm);
}

static void release_reclaim_next(Vm *vm, bool then_dealloc);

static void release_reclaim_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                                 void *userdata)
{
        bool then_dealloc = (bool)(uintptr_t)userdata;
        size_t i = vm->reclaim_next;
        uint32_t handle = i < vm->n_parcels ? vm->parcels[i].handle : RM_MEM_HANDLE_INVALID;

        if (release_outcome_unknown(vm, RM_MEM_RECLAIM, r)) {
                /* Send it again: HANDLE_INVALID then means the first one took effect. */
                vm->release_rounds++;
                vm->reclaim_unknown = handle;
                return release_reclaim_next(vm, then_dealloc);
        }
        /* Only an OK reply to this MEM_RECLAIM (sent with SANITIZE) proves the RM zeroed
         * the parcel; any other way out gives the range back as dirty. */
        bool sanitized = r == 0;

        if (r == -EREMOTEIO && rm_error == RM_ERROR_HANDLE_INVALID &&
            handle != RM_MEM_HANDLE_INVALID && handle == vm->reclaim_unknown) {
                log_vm_info(vm->config.name, vm->vmid ? vm->vmid : -1,
                            "parcel 0x%x: the MEM_RECLAIM whose reply was garbled took effect",
                            handle);
                r = 0;
        }
        if (r < 0 && !(r == -EREMOTEIO && rm_error == RM_ERROR_HANDLE_INVALID)) {
                if (!vm->release_strict && r == -EREMOTEIO &&
                    ++vm->release_action_failures <= RELEASE_ACTION_RETRIES)
                        return release_reclaim_next(vm, then_dealloc);
                return release_fail(vm, RM_MEM_RECLAIM, r, rm_error);
        }
        if (i < vm->n_parcels && r < 0 && !vm->parcels[i].looked_up) {
                /* The RM does not know this handle: either it forgot the parcel, or the
                 * handle we recorded was not the one it gave (a garbled MEM_LEND reply).
                 * Look the parcel up by its SGL before letting its pool range go. */
                VmParcel *p = &vm->parcels[i];
                log_vm_warning(vm->config.name, vm->vmid ? vm->vmid : -1,
                               "MEM_RECLAIM: the RM does not know parcel 0x%x; looking it up",
                               p->handle);
                p->handle = RM_MEM_HANDLE_INVALID;
                p->pending = true;
                p->looked_up = true; /* a suspect handle: UNIMPLEMENTED lets it go */
                return release_reclaim_next(vm, then_dealloc);
        }
        if (i < vm->n_parcels) {
                VmParcel *p = &vm->parcels[i];
                log_vm_debug(vm->config.name, vm->vmid ? vm->vmid : -1, "parcel 0x%x reclaimed",
                             p->handle);
                vm_release_parcel_reclaimed(vm, p, sanitized);
                vm_remove_parcel(vm, i);
                vm_save_runtime_later(vm);
        }
        release_reclaim_next(vm, then_dealloc);
}

static void release_resolved(Vm *vm, uint64_t guest_ipa, VmResolve res, int r, void *userdata)
{
        bool then_dealloc = (bool)(uintptr_t)userdata;
        int i = vm_find_parcel_ipa(vm, guest_ipa);

        if (i >= 0 && res == VM_RESOLVE_UNKNOWN) {
                VmParcel *p = &vm->parcels[i];
                if (p->looked_up) {
                        /* only the handle was suspect: the RM's HANDLE_INVALID stands */
                        p->pending = false;
                } else {
                        char why[128];
                        snprintf(why, sizeof(why), "whether MEM_LEND happened is unknown and "
                                 "MEM_QCOM_LOOKUP_SGL cannot tell (%s)",
                                 r == -EREMOTEIO ? "RM error" : strerror(-r));
                        vm_parcel_quarantine(vm, (size_t)i, why);
                }
        } else if (res == VM_RESOLVE_RETRY) {
                if (!release_outcome_unknown(vm, RM_MEM_QCOM_LOOKUP_SGL, r))
                        return release_fail(vm, RM_MEM_QCOM_LOOKUP_SGL, r, 0);
                vm->release_rounds++; /* a garbled lookup: ask again */
        }
        release_reclaim_next(vm, then_dealloc);
}

/* Reclaim parcels from the last one down; parcels without a handle were never lent, except
 * pending ones (MEM_LEND outcome unknown), which are looked up first. */
static void release_reclaim_next(Vm *vm, bool then_dealloc)
{
        while (vm->n_parcels > 0 && vm->parcels[vm->n_parcels - 1].handle == RM_MEM_HANDLE_INVALID) {
                VmParcel *p = &vm->parcels[vm->n_parcels - 1];
                if (p->pending)
                        return vm_parcel_resolve(vm, p->guest_ipa, release_resolved,
                                                 (void *)(uintptr_t)then_dealloc);
                vm_release_ranges(vm, p->host, p->n_host);
                vm_remove_parcel(vm, vm->n_parcels - 1);
        }
        if (vm->n_parcels > 0) {
                uint8_t buf[8];
                RmMemHandleReq q = { .handle = vm->parcels[vm->n_parcels - 1].handle,
                                     .flags = RM_MEM_RELEASE_FLAG_SANITIZE };
                vm->reclaim_next = vm->n_parcels - 1;
                ssize_t n = rm_encode_mem_handle_req(buf, sizeof(buf), &q);
                return vm_call(vm, RM_MEM_RECLAIM, buf, (size_t)n, release_reclaim_done,
                               (void *)(uintptr_t)then_dealloc);
        }
        if (then_dealloc && vm->vmid) {
                uint8_t buf[4];
                ssize_t n = rm_encode_vmid_req(buf, sizeof(buf), vm->vmid);
                return vm_call(vm, RM_VM_DEALLOCATE, buf, (size_t)n, release_dealloc_done, NULL);
        }
        release_finish(vm);
}

static void release_crash_msg_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                                   void *userdata)
{
        size_t len = 0;

        vm->crash_fetched = true;
        if (r == 0 && rm_decode_vm_get_crash_msg_reply(d, n, vm->exit.crash_msg, &len) < 0)
                vm->exit.crash_msg[0] = 0;
        else if (r < 0)
                log_vm_warning(vm->config.name, vm->vmid, "VM_GET_CRASH_MSG failed: %s",
                               r == -EREMOTEIO ? rm_error_to_string(rm_error) : strerror(-r));
        if (vm->has_exit) {
                EventCause cause = { .kind = EVENT_CAUSE_RM, .rm_msg_id = RM_NOTIFY_VM_EXITED };
                const char *t = rm_exit_type_to_string(vm->exit.type);
                const char *c = rm_exit_code_to_string(vm->exit.code);
                vm_event(vm, EVENT_VM_EXITED, &cause,
                         "exit type %s (%u), code %s (%u), flags 0x%04x%s%s%s", t ? t : "?",
                         vm->exit.type, c ? c : "?", vm->exit.code, vm->exit.flags,
                         vm->exit.crash_msg[0] ? ", crash message \"" : "", vm->exit.crash_msg,
                         vm->exit.crash_msg[0] ? "\"" : "");
                log_vm_info(vm->config.name, vm->vmid, "VM %s exited: %s code %u flags 0x%x%s%s",
                            vm->config.name, t ? t : "?", vm->exit.code, vm->exit.flags,
                            vm->exit.crash_msg[0] ? ": " : "", vm->exit.crash_msg);
        }
        release_step(vm);
}

static int release_timer_cb(sd_event_source *s, uint64_t usec, void *userdata)
{
        Vm *vm = userdata;

        vm->timer = sd_event_source_disable_unref(vm->timer);
        vm->release_waiting = false;
        vm->n_calls--;
        if (vm->manager->shutting_down || vm->dead)
                return 0;
        release_step(vm);
        return 0;
}

static void release_wait(Vm *vm)
{
        int r;

        if (manager_now_usec() > vm->release_deadline) {
                ManagerError e;
                manager_error_set(&e, -ETIMEDOUT, "VM %s did not reach RESET in time",
                                  vm->config.name);
                return release_end(vm, -ETIMEDOUT, &e);
        }
        r = sd_event_add_time_relative(vm->manager->event, &vm->timer, CLOCK_MONOTONIC,
                                       MANAGER_RESET_POLL_USEC, 1000, release_timer_cb, vm);
        if (r < 0) {
                ManagerError e;
                manager_error_set(&e, r, "Cannot arm a timer: %s", strerror(-r));
                return release_end(vm, r, &e);
        }
        vm->n_calls++; /* the timer holds the Vm like a call */
        vm->release_waiting = true;
}

/* The poll timer has 1 ms of accuracy, within which sd-event aligns wake-ups: poking it to
 * "now" let a stop wait up to 1 ms after the RM said RESET (~1.03 ms in every 256 MiB stop
 * of gunyah-bench, a fifth of the stop's RM work). The next round runs at once instead. */
void vm_release_poke(Vm *vm)
{
        if (!vm->release_waiting || !vm->timer)
                return;
        vm->timer = sd_event_source_disable_unref(vm->timer);
        vm->release_waiting = false;
        vm->n_calls--;
        if (vm->manager->shutting_down || vm->dead)
                return;
        release_step(vm);
}

static void release_state_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                               void *userdata)
{
        RmVmState st;

        if (r == -EREMOTEIO && rm_error == RM_ERROR_NORESOURCE) {
                /* The RM does not know the VMID (any more): only handles may remain. */
                log_vm_info(vm->config.name, vm->vmid, "the RM no longer knows VMID %u", vm->vmid);
                vm->vmid = 0;
                return release_reclaim_next(vm, false);
        }
        if (r == 0 && rm_decode_vm_get_state_reply(d, n, &st) < 0)
                r = -EBADMSG;
        if (release_outcome_unknown(vm, RM_VM_GET_STATE, r))
                return release_step(vm);
        if (r < 0)
                return release_fail(vm, RM_VM_GET_STATE, r, rm_error);
        vm->rm_status = st.vm_status;
        vm->os_status = st.os_status;
        vm->app_status = st.app_status;
        vm->rm_status_known = true;

        switch (st.vm_status) {
        case RM_VM_STATUS_RUNNING:
        case RM_VM_STATUS_PAUSED:
                return release_call(vm, RM_VM_STOP);
        case RM_VM_STATUS_INIT:
                return release_call(vm, RM_VM_INIT);
        case RM_VM_STATUS_EXITED:
                if (vm->has_exit && !vm->crash_fetched) {
                        uint8_t buf[4];
                        ssize_t k = rm_encode_vmid_req(buf, sizeof(buf), vm->vmid);
                        return vm_call(vm, RM_VM_GET_CRASH_MSG, buf, (size_t)k,
                                       release_crash_msg_done, NULL);
                }
                return release_call(vm, RM_VM_RESET);
        case RM_VM_STATUS_READY:
        case RM_VM_STATUS_INIT_FAILED:
                return release_call(vm, RM_VM_RESET);
        case RM_VM_STATUS_RESETTING:
                return release_wait(vm);
        case RM_VM_STATUS_LOAD:
        case RM_VM_STATUS_RESET:
                return release_reclaim_next(vm, true);
        default: {
                ManagerError e;
                manager_error_set(&e, -EBUSY,
                                  "VM %s is in RM state %s, which can be neither reset nor "
                                  "deallocated", vm->config.name,
                                  rm_vm_status_to_string(st.vm_status) ?: "?");
                e.state = vm->state;
                return release_end(vm, -EBUSY, &e);
        }
        }
}

static void release_step(Vm *vm)
{
        uint8_t buf[4];

        if (++vm->release_rounds > MANAGER_RELEASE_MAX_ROUNDS) {
                ManagerError e;
                manager_error_set(&e, -ETIMEDOUT, "VM %s: release did not converge",
                                  vm->config.name);
                return release_end(vm, -ETIMEDOUT, &e);
        }
        if (vm->vmid == 0)
                return release_reclaim_next(vm, false);
        ssize_t n = rm_encode_vmid_req(buf, sizeof(buf), vm->vmid);
        vm_call(vm, RM_VM_GET_STATE, buf, (size_t)n, release_state_done, NULL);
}

void vm_release_begin(Vm *vm, VmReleaseThen then)
{
        vm->release_then = then;
        vm->release_rounds = 0;
        vm->release_action_failures = 0;
        vm->reclaim_unknown = RM_MEM_HANDLE_INVALID;
        vm->release_timeouts = 0;
        vm->release_deadline = manager_now_usec() + MANAGER_RESET_WAIT_USEC;
        release_step(vm);
}

/* ======================= stop ======================= */

static void stop_released(Vm *vm, int r, const ManagerError *err)
{
        VmOp *op = vm->op;

        if (r < 0) {
                vm_set_state(vm, VM_STATE_FAILED, &op->cause);
                return vm_op_finish(vm, r, err);
        }
        vm_set_state(vm, VM_STATE_STOPPED, &op->cause);
        if (!vm->config.persistent)
                vm_delete_records(vm, true);
        vm_op_finish(vm, 0, NULL);
}

static void stop_release(Vm *vm)
{
        VmOp *op = vm->op;

        vm->timer = sd_event_source_disable_unref(vm->timer);
        if (vm->state == VM_STATE_STOPPING || vm->state == VM_STATE_RUNNING)
                vm_set_state(vm, VM_STATE_EXITED, &op->cause);
        vm_set_state(vm, VM_STATE_RELEASING, &op->cause);
        vm->release_strict = true;
        vm_release_begin(vm, stop_released);
}

static void stop_force_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                            void *userdata)
{
        /* VM_STATE: it exited meanwhile. A garbled reply: whether it stopped is unknown, the
         * release loop asks (and forces the stop again if needed). Anything else is a
         * failure to stop. */
        if (r < 0 && !rm_reply_garbled(r) && !(r == -EREMOTEIO && rm_error == RM_ERROR_VM_STATE)) {
                ManagerError e;
                r = manager_error_rm(&e, RM_VM_STOP, r, rm_error);
                vm_set_state(vm, VM_STATE_RUNNING, &vm->op->cause);
                return vm_op_finish(vm, r, &e);
        }
        stop_release(vm);
}

static void stop_force(Vm *vm)
{
        uint8_t buf[8];
        RmVmStop s = { .vmid = vm->vmid, .flags = RM_VM_STOP_FLAG_FORCE,
                       .stop_reason = RM_STOP_REASON_FORCE_STOP };

        ssize_t n = rm_encode_vm_stop(buf, sizeof(buf), &s);
        vm_call(vm, RM_VM_STOP, buf, (size_t)n, stop_force_done, NULL);
}

static int stop_timeout_cb(sd_event_source *s, uint64_t usec, void *userdata)
{
        Vm *vm = userdata;

        vm->timer = sd_event_source_disable_unref(vm->timer);
        vm->n_calls--;
        if (vm->manager->shutting_down || vm->dead || !vm->op)
                return 0;
        log_vm_notice(vm->config.name, vm->vmid,
                      "VM %s did not shut down within the stop timeout: forcing", vm->config.name);
        vm_event(vm, EVENT_VM_PROGRESS, &vm->op->cause, "graceful stop timed out: forcing");
        stop_force(vm);
        return 0;
}

static void stop_graceful_done(Vm *vm, int r, uint32_t rm_error, const uint8_t *d, size_t n,
                               void *userdata)
{
        VmOp *op = vm->op;
        int k;

        if (vm->exit_seen_for_stop)
                return stop_release(vm); /* the guest already went down */
        if (r < 0) {
                /* The RM refused a graceful stop (e.g. no-shutdown VM): force it. */
                log_vm_notice(vm->config.name, vm->vmid, "graceful VM_STOP refused (%s): forcing",
                              r == -EREMOTEIO ? rm_error_to_string(rm_error) : strerror(-r));
                return stop_force(vm);
        }
        k = sd_event_add_time_relative(vm->manager->event, &vm->timer, CLOCK_MONOTONIC,
                                       op->timeout_usec, 10000, stop_timeout_cb, vm);
        if (k < 0)
                return stop_force(vm);
        vm->n_calls++;
}

static void stop_begin(Vm *vm)
{
        VmOp *op = vm->op;
        uint8_t buf[8];

        vm->exit_seen_for_stop = false;
        if (vm->state == VM_STATE_FAILED || vm->state == VM_STATE_EXITED)
                return stop_release(vm);
        if (vm->state == VM_STATE_RUNNING)
                vm_set_state(vm, VM_STATE_STOPPING, &op->cause);
        if (op->force)
                return stop_force(vm);
        RmVmStop s = { .vmid = vm->vmid, .flags = 0, .stop_reason = RM_STOP_REASON_SHUTDOWN };
        ssize_t n = rm_encode_vm_stop(buf, sizeof(buf), &s);
        vm_call(vm, RM_VM_STOP, buf, (size_t)n, stop_graceful_done, NULL);
}

void manager_stop_run(Vm *vm)
{
        stop_begin(vm);
}

int manager_vm_stop(Manager *m, Vm *vm, bool force, uint64_t timeout_usec,
                    const EventCause *cause, ManagerDoneFn done, void *userdata, VmOp **ret_op,
                    ManagerError *err)
{
        VmOp *op;
        int r;

        if (vm->op || (vm->state != VM_STATE_RUNNING && vm->state != VM_STATE_FAILED &&
                       vm->state != VM_STATE_EXITED)) {
                manager_error_set(err, -EBUSY, "VM %s is %s%s", vm->config.name,
                                  vm_state_to_string(vm->state),
                                  vm->op ? " (an operation is in progress)" : "");
                if (err)
                        err->state = vm->state;
                return -EBUSY;
        }
        if (!manager_rm_usable(m))
                return manager_error_set(err, m->shutting_down ? -ESHUTDOWN : -ENOTCONN,
                                         "The RM is not available");
        op = vm_op_new(vm, VM_OP_STOP, cause, done, NULL, userdata);
        if (!op)
                return manager_error_set(err, -ENOMEM, "Out of memory");
        op->force = force;
        op->timeout_usec = timeout_usec ? timeout_usec : m->stop_timeout_usec;
        r = vm_op_defer(vm, manager_stop_run);
        if (r < 0) {
                vm->op = NULL;
                free(op->cause_method);
                free(op);
                return manager_error_set(err, r, "Cannot schedule the stop");
        }
        if (ret_op)
                *ret_op = op;
        return 0;
}

/* ======================= destroy ======================= */

static void destroy_released(Vm *vm, int r, const ManagerError *err)
{
        Manager *m = vm->manager;

        if (r < 0) {
                vm_set_state(vm, VM_STATE_FAILED, &vm->op->cause);
                return vm_op_finish(vm, r, err);
        }
        log_vm_info(vm->config.name, -1, "VM %s destroyed", vm->config.name);
        manager_destroy_vm(m, vm);
        vm_op_finish(vm, 0, NULL);
        if (vm->n_calls == 0)
                vm_free(vm);
}

void manager_destroy_run(Vm *vm)
{
        if (vm->vmid == 0 && vm->n_parcels == 0 && vm->n_ranges == 0)
                return destroy_released(vm, 0, NULL);
        vm->release_strict = true;
        vm_release_begin(vm, destroy_released);
}

int manager_vm_destroy(Manager *m, Vm *vm, const EventCause *cause, ManagerDoneFn done,
                       void *userdata, VmOp **ret_op, ManagerError *err)
{
        VmOp *op;
        int r;

        if (vm->op || vm->state == VM_STATE_DESTROYING || vm->state == VM_STATE_RECOVERING) {
                manager_error_set(err, -EBUSY, "VM %s is %s%s", vm->config.name,
                                  vm_state_to_string(vm->state),
                                  vm->op ? " (an operation is in progress)" : "");
                if (err)
                        err->state = vm->state;
                return -EBUSY;
        }
        if (m->shutting_down)
                return manager_error_set(err, -ESHUTDOWN, "The daemon is shutting down");
        if ((vm->vmid || vm->n_parcels) && !manager_rm_usable(m))
                return manager_error_set(err, -ENOTCONN, "The RM is not available");
        op = vm_op_new(vm, VM_OP_DESTROY, cause, done, NULL, userdata);
        if (!op)
                return manager_error_set(err, -ENOMEM, "Out of memory");
        r = vm_op_defer(vm, manager_destroy_run);
        if (r < 0) {
                vm->op = NULL;
                free(op->cause_method);
                free(op);
                return manager_error_set(err, r, "Cannot schedule the destroy");
        }
        vm_set_state(vm, VM_STATE_DESTROYING, cause);
        if (ret_op)
                *ret_op = op;
        return 0;
}

/* ======================= guest exits ======================= */

static void exit_released(Vm *vm, int r, const ManagerError *err)
{
        VmOp *op = vm->op;

        if (r < 0) {
                vm_set_state(vm, VM_STATE_FAILED, &op->cause);
                return vm_op_finish(vm, r, err);
        }
        vm_set_state(vm, VM_STATE_STOPPED, &op->cause);
        if (!vm->config.persistent)
                vm_delete_records(vm, true);
        vm_op_finish(vm, 0, NULL);
}

static void exit_release_run(Vm *vm)
{
        vm_set_state(vm, VM_STATE_RELEASING, &vm->op->cause);
        vm->release_strict = false;
        vm_release_begin(vm, exit_released);
}

void manager_on_vm_exited(Manager *m, Vm *vm, const uint8_t *p, size_t len)
{
        RmNotifyVmExited ex;

        if (rm_decode_notify_vm_exited(p, len, &ex) < 0) {
                log_vm_warning(vm->config.name, vm->vmid, "Malformed NOTIFY_VM_EXITED ignored");
                return;
        }
        vm->exit = (VmExit){
                .valid = true,
                .type = ex.exit_type,
                .code = ex.exit_code,
                .flags = ex.exit_flags,
                .n_reason = ex.reason_size / 4,
        };
        memcpy(vm->exit.reason, ex.reason, sizeof(vm->exit.reason));
        vm->exit.timestamp_usec = (uint64_t)0;
        {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                vm->exit.timestamp_usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
        }
        vm->has_exit = true;
        vm->crash_fetched = false;
        vm->rm_status = RM_VM_STATUS_EXITED;

        if (vm->op) {
                /* A stop waiting for the guest: go on at once. Others handle EXITED in their
                 * release loop (crash message included). */
                if (vm->op->kind == VM_OP_STOP && vm->state == VM_STATE_STOPPING) {
                        vm->exit_seen_for_stop = true;
                        if (vm->timer) {
                                vm->timer = sd_event_source_disable_unref(vm->timer);
                                vm->n_calls--;
                                stop_release(vm);
                        }
                }
                return;
        }
        if (vm->state != VM_STATE_RUNNING)
                return; /* a start in flight picks it up when VM_START answers */
        vm_begin_exit_release(vm);
}

void vm_begin_exit_release(Vm *vm)
{
        EventCause cause = { .kind = EVENT_CAUSE_RM, .rm_msg_id = RM_NOTIFY_VM_EXITED };

        vm_set_state(vm, VM_STATE_EXITED, &cause);
        if (!vm_op_new(vm, VM_OP_RELEASE, &cause, NULL, NULL, NULL)) {
                log_vm_error(vm->config.name, vm->vmid, "Out of memory: VM left in EXITED");
                return;
        }
        if (vm_op_defer(vm, exit_release_run) < 0)
                vm_op_finish(vm, -ENOMEM, NULL);
}
