/* SPDX-License-Identifier: MIT */
/* Manager: construction, the VM registry, RM calls bound to VMs, persistence helpers, RM
 * notifications that drive VM state, daemon info. Sequences live in manager-*.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uapi/linux/gunyah-host.h"

#include "log.h"
#include "macro.h"
#include "manager-internal.h"
#include "rm-error.h"
#include "rm-ids.h"
#include "rm-notify.h"
#include "rm-types.h"

static const char *const link_state_table[_MANAGER_LINK_STATE_MAX] = {
        [MANAGER_LINK_DOWN] = "down",
        [MANAGER_LINK_CONNECTING] = "connecting",
        [MANAGER_LINK_UP] = "up",
};

const char *manager_link_state_to_string(ManagerLinkState s)
{
        return (int)s >= 0 && s < _MANAGER_LINK_STATE_MAX ? link_state_table[s] : NULL;
}

uint64_t manager_now_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int manager_error_set(ManagerError *err, int r, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return r;
        *err = (ManagerError){ .state = _VM_STATE_INVALID };
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        return r;
}

int manager_error_rm(ManagerError *err, uint32_t msg_id, int r, uint32_t rm_error)
{
        const char *call = rm_msg_id_to_string(msg_id);
        char callbuf[16];

        if (!call) {
                snprintf(callbuf, sizeof(callbuf), "0x%08x", msg_id);
                call = callbuf;
        }
        if (r == -EREMOTEIO) {
                const char *name = rm_error_to_string(rm_error);
                manager_error_set(err, r, "%s failed: RM error %s (0x%x)", call,
                                  name ? name : "unknown", rm_error);
        } else if (r == -ECANCELED || r == -ESHUTDOWN) {
                r = -ESHUTDOWN;
                manager_error_set(err, r, "%s abandoned: the daemon is shutting down", call);
        } else if (r == -EIO || r == -EBADMSG) {
                r = -EBADMSG;
                manager_error_set(err, r, "%s failed: malformed reply from the RM", call);
        } else
                manager_error_set(err, r, "%s failed: %s", call, strerror(-r));
        if (err) {
                err->rm_msg_id = msg_id;
                err->rm_error = r == -EREMOTEIO ? rm_error : 0;
        }
        return r;
}

/* ---- registry ---- */

void manager_vm_link(Manager *m, Vm *vm)
{
        vm->prev = m->vms_tail;
        vm->next = NULL;
        if (m->vms_tail)
                m->vms_tail->next = vm;
        else
                m->vms = vm;
        m->vms_tail = vm;
        m->n_vms++;
}

void manager_vm_unlink(Manager *m, Vm *vm)
{
        if (vm->prev)
                vm->prev->next = vm->next;
        else if (m->vms == vm)
                m->vms = vm->next;
        if (vm->next)
                vm->next->prev = vm->prev;
        else if (m->vms_tail == vm)
                m->vms_tail = vm->prev;
        vm->prev = vm->next = NULL;
        m->n_vms--;
}

Vm *manager_vm_lookup(Manager *m, const char *name)
{
        for (Vm *vm = m->vms; vm; vm = vm->next)
                if (strcmp(vm->config.name, name) == 0)
                        return vm;
        return NULL;
}

Vm *manager_vm_lookup_vmid(Manager *m, uint16_t vmid)
{
        if (vmid == 0)
                return NULL;
        for (Vm *vm = m->vms; vm; vm = vm->next)
                if (vm->vmid == vmid)
                        return vm;
        for (Vm *vm = m->hidden; vm; vm = vm->next)
                if (vm->vmid == vmid)
                        return vm;
        return NULL;
}

Vm *manager_vm_next(Manager *m, Vm *prev)
{
        return prev ? prev->next : m->vms;
}

size_t manager_vm_count(const Manager *m)
{
        return m->n_vms;
}

sd_event *manager_get_event(Manager *m)
{
        return m->event;
}

EventLog *manager_get_event_log(Manager *m)
{
        return m->events;
}

bool manager_is_ready(const Manager *m)
{
        return m->ready;
}

bool manager_rm_usable(const Manager *m)
{
        return m->link_state == MANAGER_LINK_UP && !m->syncing && !m->shutting_down;
}

/* Largest run of free granules (the pool API has no such query; one bitmap walk). */
static uint64_t pool_largest_free(const Pool *p)
{
        uint64_t best = 0, run = 0, base = pool_ipa(p), size = pool_size(p);

        for (uint64_t off = 0; off < size; off += POOL_GRANULE) {
                if (pool_is_allocated(p, base + off, POOL_GRANULE))
                        run = 0;
                else if ((run += POOL_GRANULE) > best)
                        best = run;
        }
        return best;
}

void manager_get_info(Manager *m, ManagerInfo *ret)
{
        RmClientStats st = {};
        size_t running = 0;

        for (Vm *vm = m->vms; vm; vm = vm->next)
                if (vm->state == VM_STATE_RUNNING)
                        running++;
        if (m->client)
                rm_client_get_stats(m->client, &st);
        *ret = (ManagerInfo){
                .version = GUNYAHD_VERSION,
                .link = m->link_state,
                .rm_transport = m->link ? rm_link_kind_to_string(rm_link_get_kind(m->link))
                                : m->rm_socket ? "socket" : m->rm_fd >= 0 ? "fd" : "device",
                .rm_link = m->link ? rm_link_describe(m->link) : NULL,
                .ready = m->ready,
                .caps_known = m->caps_known,
                .caps = m->caps,
                .rm_profile = !m->caps_known ? "unknown"
                              : (m->caps & MANAGER_CAP_BOOT_CONTEXT) ? "v17"
                                                                     : "open-rm",
                .pool_ipa = pool_ipa(m->pool),
                .pool_size = pool_size(m->pool),
                .pool_used = pool_used(m->pool),
                .pool_free = pool_available(m->pool),
                .pool_largest_free = pool_largest_free(m->pool),
                .pool_quarantined = m->pool_quarantined,
                .n_quarantined = m->n_quarantined,
                .n_vms = m->n_vms,
                .n_running = running,
                .rm_calls = st.calls,
                .rm_errors = st.rm_errors,
                .rm_timeouts = st.timeouts,
                .rm_link_failures = st.link_failures,
                .rm_bad_packets = st.bad_packets + st.unmatched_replies + st.unknown_notifications,
                .rm_notifications = st.notifications,
        };
}

/* ---- events ---- */

int64_t vm_event(Vm *vm, EventKind kind, const EventCause *cause, const char *fmt, ...)
{
        _cleanup_free_ char *text = NULL;
        va_list ap;
        int r;

        if (vm->hidden)
                return 0;
        va_start(ap, fmt);
        r = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return event_log_append(vm->manager->events, kind, vm->config.name,
                                vm_state_to_string(vm->state), cause, "%s", text);
}

/* ---- RM calls bound to a VM ---- */

typedef struct VmCallCtx {
        Vm *vm;
        VmCallFn cb;
        void *userdata;
        uint32_t msg_id;
} VmCallCtx;

static void vm_maybe_free_dead(Vm *vm)
{
        if (vm->dead && vm->n_calls == 0 && !vm->op)
                vm_free(vm);
}

static void vm_call_done(RmClient *c, int r, uint32_t rm_error, const uint8_t *data, size_t len,
                         void *userdata)
{
        VmCallCtx *ctx = userdata;
        Vm *vm = ctx->vm;
        VmCallFn cb = ctx->cb;
        void *ud = ctx->userdata;
        uint32_t msg_id = ctx->msg_id;

        free(ctx);
        vm->n_calls--;
        if (vm->manager->shutting_down || vm->dead) {
                vm_maybe_free_dead(vm);
                return;
        }
        if (r == -EREMOTEIO && !rm_error_to_string(rm_error)) {
                /* No RM error has this code: the error word was garbled on the way, so
                 * whether the RM acted is unknown. -EBADMSG tells the callers so. */
                log_vm_warning(vm->config.name, vm->vmid ? vm->vmid : -1,
                               "%s: reply with an error code no RM sends (0x%x): garbled, "
                               "outcome unknown", rm_msg_id_to_string(msg_id) ?: "RM call",
                               rm_error);
                r = -EBADMSG;
                rm_error = 0;
        }
        if (r == -EREMOTEIO)
                log_vm_debug(vm->config.name, vm->vmid ? vm->vmid : -1, "RM error 0x%x",
                             rm_error);
        cb(vm, r, rm_error, data, len, ud);
}

void vm_call(Vm *vm, uint32_t msg_id, const void *payload, size_t len, VmCallFn cb,
             void *userdata)
{
        Manager *m = vm->manager;
        VmCallCtx *ctx;
        int r;

        if (!m->client || m->link_state != MANAGER_LINK_UP) {
                cb(vm, -ENOTCONN, 0, NULL, 0, userdata);
                return;
        }
        ctx = malloc(sizeof(*ctx));
        if (!ctx) {
                cb(vm, -ENOMEM, 0, NULL, 0, userdata);
                return;
        }
        *ctx = (VmCallCtx){ .vm = vm, .cb = cb, .userdata = userdata, .msg_id = msg_id };
        vm->n_calls++;
        /* Per-VM FIFO: one VM's sequence keeps its order, VMs do not starve each other. */
        r = rm_client_call_queued(m->client, vm->vmid ? vm->vmid : 0x10000u,
                                  msg_id, payload, len, m->rpc_timeout_usec, vm_call_done, ctx,
                                  NULL);
        if (r < 0) {
                vm->n_calls--;
                free(ctx);
                cb(vm, r, 0, NULL, 0, userdata);
        }
}

/* ---- persistence ---- */

int vm_save_definition(Vm *vm)
{
        int r = store_save_definition(vm->manager->store, &vm->config);
        if (r < 0)
                log_vm_error_errno(vm->config.name, vm->vmid ? vm->vmid : -1, r,
                                   "Failed to save the definition of VM %s: %m",
                                   vm->config.name);
        return r;
}

void manager_flush_records(Manager *m)
{
        for (Vm *vm = m->vms; vm; vm = vm->next)
                if (vm->record_dirty && !vm->dead)
                        (void)vm_save_runtime(vm);
        if (m->record_flush)
                (void)sd_event_source_set_enabled(m->record_flush, SD_EVENT_OFF);
}

static int on_record_flush(sd_event_source *s, void *userdata)
{
        (void)s;
        manager_flush_records(userdata);
        return 0;
}

void vm_save_runtime_later(Vm *vm)
{
        Manager *m = vm->manager;
        int r = 0;

        if (vm->hidden)
                return;
        vm->record_dirty = true;
        if (!m->record_flush) {
                r = sd_event_add_defer(m->event, &m->record_flush, on_record_flush, m);
                /* after the Monitor fan-out (SD_EVENT_PRIORITY_IDLE), see api-monitor.c */
                if (r >= 0)
                        r = sd_event_source_set_priority(m->record_flush, SD_EVENT_PRIORITY_IDLE + 1);
                if (r < 0)
                        m->record_flush = sd_event_source_disable_unref(m->record_flush);
        }
        if (r >= 0 && m->record_flush)
                r = sd_event_source_set_enabled(m->record_flush, SD_EVENT_ON);
        if (r < 0 || !m->record_flush)
                (void)vm_save_runtime(vm); /* no source: write it now */
}

int vm_save_runtime(Vm *vm)
{
        Manager *m = vm->manager;
        _cleanup_free_ StoreParcel *parcels = NULL;
        StoreRuntime rt;
        size_t n = 0;
        int r;

        if (vm->hidden)
                return 0;
        vm->record_dirty = false;
        if (vm->vmid == 0) {
                r = store_delete_runtime(m->store, vm->config.name);
                return r == -ENOENT ? 0 : r;
        }
        parcels = calloc(MAX(vm->n_parcels, (size_t)1), sizeof(StoreParcel));
        if (!parcels)
                return -ENOMEM;
        for (size_t i = 0; i < vm->n_parcels && n < STORE_PARCELS_MAX; i++) {
                const VmParcel *p = &vm->parcels[i];
                if (p->handle == RM_MEM_HANDLE_INVALID && !p->pending)
                        continue;
                parcels[n++] = (StoreParcel){
                        .handle = p->handle,
                        .label = 0,
                        .guest_offset = p->guest_ipa - vm->config.memory_base,
                        .accepted = p->accepted,
                        .pending = p->handle == RM_MEM_HANDLE_INVALID,
                        .sgl = p->host,
                        .n_sgl = p->n_host,
                };
        }
        rt = (StoreRuntime){
                .name = vm->config.name,
                .vmid = vm->vmid,
                .rm_status = vm->rm_status,
                .boot = vm->boot == VM_BOOT_OPEN_RM ? STORE_BOOT_OPEN_RM : STORE_BOOT_V17,
                .parcels = parcels,
                .n_parcels = n,
                .ranges = vm->ranges,
                .n_ranges = vm->n_ranges,
        };
        r = store_save_runtime(m->store, &rt);
        if (r < 0)
                log_vm_error_errno(vm->config.name, vm->vmid, r,
                                   "Failed to save the runtime record of VM %s: %m",
                                   vm->config.name);
        return r;
}

void vm_delete_records(Vm *vm, bool definition)
{
        Manager *m = vm->manager;
        int r;

        if (vm->hidden)
                return;
        vm->record_dirty = false;
        r = store_delete_runtime(m->store, vm->config.name);
        if (r < 0 && r != -ENOENT)
                log_vm_warning_errno(vm->config.name, -1, r, "Failed to delete runtime record: %m");
        if (!definition)
                return;
        r = store_delete_definition(m->store, vm->config.name);
        if (r < 0 && r != -ENOENT)
                log_vm_warning_errno(vm->config.name, -1, r, "Failed to delete definition: %m");
}

/* ---- operations ---- */

VmOp *vm_op_new(Vm *vm, VmOpKind kind, const EventCause *cause, ManagerDoneFn done,
                ManagerProgressFn progress, void *userdata)
{
        VmOp *op = calloc(1, sizeof(*op));
        if (!op)
                return NULL;
        *op = (VmOp){ .kind = kind, .vm = vm, .done = done, .progress = progress,
                      .userdata = userdata };
        op->cause = cause ? *cause : EVENT_CAUSE_DAEMON_INIT;
        op->cause.method = NULL;
        if (cause && cause->method) {
                op->cause_method = strdup(cause->method);
                op->cause.method = op->cause_method;
        }
        vm->op = op;
        return op;
}

void vm_op_detach(VmOp *op)
{
        if (op)
                op->detached = true;
}

void vm_op_finish(Vm *vm, int r, const ManagerError *err)
{
        VmOp *op = vm->op;
        ManagerError e = {};

        if (!op)
                return;
        vm->op = NULL;
        sd_event_source_disable_unref(op->defer);
        sd_event_source_disable_unref(op->wait_timer);
        if (r < 0 && err)
                e = *err;
        if (r < 0 && !e.message[0])
                manager_error_set(&e, r, "%s", strerror(-r));
        if (r < 0)
                vm_set_last_error(vm, e.message);
        else if (op->kind == VM_OP_START || op->kind == VM_OP_STOP)
                vm_set_last_error(vm, NULL);
        Manager *m = vm->manager;
        if (!op->detached && op->done)
                op->done(m, vm, r, r < 0 ? &e : NULL, op->userdata);
        free(op->cause_method);
        free(op);
        manager_maybe_scan(m);
}

struct DeferCtx {
        Vm *vm;
        void (*fn)(Vm *vm);
        sd_event_source *source;
        DeferCtx *next;
};

static void defer_unlink(Manager *m, DeferCtx *d)
{
        for (DeferCtx **pp = &m->defers; *pp; pp = &(*pp)->next)
                if (*pp == d) {
                        *pp = d->next;
                        break;
                }
        sd_event_source_disable_unref(d->source);
        d->vm->n_calls--;
        free(d);
}

static int defer_ctx_cb(sd_event_source *s, void *userdata)
{
        DeferCtx *d = userdata;
        Vm *vm = d->vm;
        void (*fn)(Vm *) = d->fn;

        defer_unlink(vm->manager, d);
        if (vm->manager->shutting_down || vm->dead) {
                vm_maybe_free_dead(vm);
                return 0;
        }
        fn(vm);
        return 0;
}

int vm_op_defer(Vm *vm, void (*fn)(Vm *vm))
{
        Manager *m = vm->manager;
        DeferCtx *d = calloc(1, sizeof(*d));
        int r;

        if (!d)
                return -ENOMEM;
        *d = (DeferCtx){ .vm = vm, .fn = fn };
        r = sd_event_add_defer(m->event, &d->source, defer_ctx_cb, d);
        if (r < 0) {
                free(d);
                return r;
        }
        vm->n_calls++;
        d->next = m->defers;
        m->defers = d;
        return 0;
}

void manager_destroy_vm(Manager *m, Vm *vm)
{
        EventCause cause = vm->op ? vm->op->cause : EVENT_CAUSE_DAEMON_INIT;

        vm_delete_records(vm, true);
        vm_release_all_ranges(vm);
        if (!vm->hidden) {
                event_log_append(m->events, EVENT_VM_DESTROYED, vm->config.name, NULL, &cause,
                                 "destroyed");
                manager_vm_unlink(m, vm);
        } else {
                Vm **pp = &m->hidden;
                while (*pp && *pp != vm)
                        pp = &(*pp)->next;
                if (*pp)
                        *pp = vm->next;
        }
        vm->dead = true;
}

/* ---- create ---- */

int manager_vm_create(Manager *m, VmConfig *config, bool persistent, const EventCause *cause,
                      Vm **ret, ManagerError *err)
{
        const char *field = NULL;
        Vm *vm;
        int r;

        if (m->shutting_down || !m->loaded)
                return manager_error_set(err, -ESHUTDOWN, "The daemon is not ready");
        r = vm_config_validate(config, pool_size(m->pool), &field);
        if (r < 0)
                return manager_error_set(err, -EINVAL, "Invalid VM configuration: %s",
                                         field ? field : "?");
        if (manager_vm_lookup(m, config->name))
                return manager_error_set(err, -EEXIST, "A VM named %s exists", config->name);
        if (vm_uuid_is_null(config->uuid)) {
                r = vm_uuid_generate(config->uuid);
                if (r < 0)
                        return manager_error_set(err, r, "Cannot generate a UUID: %s",
                                                 strerror(-r));
        }
        config->persistent = persistent;
        if (persistent) {
                r = store_save_definition(m->store, config);
                if (r < 0)
                        return manager_error_set(err, -EIO, "Cannot store the definition of %s: %s",
                                                 config->name, strerror(-r));
        }
        r = vm_new(m, config, &vm);
        if (r < 0) {
                if (persistent)
                        (void)store_delete_definition(m->store, config->name);
                return manager_error_set(err, r, "Out of memory");
        }
        manager_vm_link(m, vm);
        log_vm_info(vm->config.name, -1, "VM %s created (%s, %u vCPUs, %" PRIu64 " MiB%s)",
                    vm->config.name, persistent ? "persistent" : "transient", vm->config.vcpus,
                    vm->config.memory_size >> 20, vm->config.demand_paging ? ", demand paging" : "");
        vm_event(vm, EVENT_VM_CREATED, cause, "created: %u vCPUs, %" PRIu64 " bytes%s%s",
                 vm->config.vcpus, vm->config.memory_size,
                 vm->config.demand_paging ? ", demand paging" : "",
                 persistent ? ", persistent" : ", transient");
        if (ret)
                *ret = vm;
        return 0;
}

int manager_vm_set_sources(Manager *m, Vm *vm, int kernel_fd, int initrd_fd)
{
        int k = -1, i = -1;

        if (kernel_fd >= 0 && (k = fcntl(kernel_fd, F_DUPFD_CLOEXEC, 3)) < 0)
                return -errno;
        if (initrd_fd >= 0 && (i = fcntl(initrd_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
                int r = -errno;
                if (k >= 0)
                        close(k);
                return r;
        }
        if (k >= 0) {
                if (vm->kernel_fd >= 0)
                        close(vm->kernel_fd);
                vm->kernel_fd = k;
        }
        if (i >= 0) {
                if (vm->initrd_fd >= 0)
                        close(vm->initrd_fd);
                vm->initrd_fd = i;
        }
        return 0;
}

/* ---- construction ---- */

/* --pool device: the host module reports the pool (GUNYAH_HOST_GET_POOL) and maps it on the
 * same fd that carries the RM link (one opener per device), so the device is opened here
 * and handed to the link as --rm-fd. */
static int manager_open_pool_device(Manager *m)
{
        struct gunyah_host_pool hp = {};
        _cleanup_close_ int fd = -1;
        void *p;

        if (m->rm_socket || m->rm_fd >= 0)
                return log_error_errno(-EINVAL, "--pool device needs the RM device (--rm-device)");
        fd = open(m->rm_device, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(-errno, "Cannot open %s: %m", m->rm_device);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return log_error_errno(-errno, "%s is owned by another process: %m", m->rm_device);
        if (ioctl(fd, GUNYAH_HOST_GET_POOL, &hp) < 0)
                return log_error_errno(-errno, "%s reports no VM memory pool: %m", m->rm_device);
        if (hp.api_version != GUNYAH_HOST_API_VERSION)
                return log_error_errno(-EPROTONOSUPPORT, "%s speaks host API %u, not %u",
                                       m->rm_device, hp.api_version, GUNYAH_HOST_API_VERSION);
        p = mmap(NULL, hp.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return log_error_errno(-errno, "Cannot map the pool of %s: %m", m->rm_device);
        m->pool_map = p;
        m->pool_map_size = hp.size;
        m->pool_ipa = hp.ipa_base;
        m->pool_size = hp.size;
        int r = pool_new_mapping(&m->pool, p, hp.ipa_base, hp.size);
        if (r < 0)
                return log_error_errno(r, "Unusable pool [0x%llx, +0x%llx) from %s: %m",
                                       (unsigned long long)hp.ipa_base,
                                       (unsigned long long)hp.size, m->rm_device);
        m->rm_fd = TAKE_FD(fd);
        free(m->pool_file);
        m->pool_file = strdup(m->rm_device);
        return 0;
}

static int strdup_opt(const char *s, char **ret)
{
        *ret = NULL;
        if (s && !(*ret = strdup(s)))
                return -ENOMEM;
        return 0;
}

int manager_new(sd_event *event, const ManagerOptions *o, Manager **ret)
{
        _cleanup_(manager_freep) Manager *m = NULL;
        int r, n_links;

        n_links = !!o->rm_device + !!o->rm_socket + (o->rm_fd >= 0);
        if (n_links > 1)
                return log_error_errno(-EINVAL, "Give only one of --rm-device, --rm-socket, --rm-fd");
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->image_dir_fd = -1;
        m->rm_fd = -1;
        m->event = sd_event_ref(event);
        if (strdup_opt(o->rm_device, &m->rm_device) < 0 ||
            strdup_opt(o->rm_socket, &m->rm_socket) < 0 ||
            strdup_opt(o->pool_file, &m->pool_file) < 0 ||
            strdup_opt(o->state_dir ? o->state_dir : MANAGER_DEFAULT_STATE_DIR, &m->state_dir) < 0 ||
            strdup_opt(o->image_dir, &m->image_dir) < 0)
                return -ENOMEM;
        if (o->runtime_dir) {
                if (strdup_opt(o->runtime_dir, &m->runtime_dir) < 0)
                        return -ENOMEM;
        } else {
                /* systemd's RuntimeDirectory= (gunyahd.service): "a:b" for several */
                const char *env = getenv("RUNTIME_DIRECTORY");
                if (env && *env == '/' &&
                    !(m->runtime_dir = strndup(env, strcspn(env, ":"))))
                        return -ENOMEM;
        }
        if (n_links == 0 && !(m->rm_device = strdup("/dev/gunyah")))
                return -ENOMEM;
        m->rm_fd = o->rm_fd;
        m->pool_ipa = o->pool_ipa;
        m->pool_size = o->pool_size;
        m->rpc_timeout_usec = o->rpc_timeout_usec ? o->rpc_timeout_usec
                                                  : MANAGER_DEFAULT_RPC_TIMEOUT_USEC;
        m->stop_timeout_usec = o->stop_timeout_usec ? o->stop_timeout_usec
                                                    : MANAGER_DEFAULT_STOP_TIMEOUT_USEC;
        m->link_state = MANAGER_LINK_DOWN;

        /* Without --pool, a host whose RM link is the module's device takes the module's
         * pool (issue: "--pool device, and the default when /dev/gunyah exists"). */
        bool pool_device = o->pool_device;
        struct stat st;
        if (!pool_device && !m->pool_file && m->rm_device && stat(m->rm_device, &st) == 0 &&
            S_ISCHR(st.st_mode)) {
                log_info("No --pool given: using the VM memory pool of %s", m->rm_device);
                pool_device = true;
        }
        if (pool_device) {
                r = manager_open_pool_device(m);
                if (r < 0)
                        return r;
        } else if (!m->pool_file || m->pool_size == 0)
                return log_error_errno(-EINVAL,
                                       "A host memory pool is required (--pool FILE:IPA:SIZE, "
                                       "or --pool device with the host module's device)");
        if (!m->pool) {
                r = pool_new_file(&m->pool, m->pool_file, m->pool_ipa, m->pool_size);
                if (r < 0)
                        return log_error_errno(r, "Cannot open the pool %s: %m", m->pool_file);
        }
        r = store_open(&m->store, m->state_dir, m->runtime_dir);
        if (r < 0)
                return log_error_errno(r, "Cannot open the state directory %s%s%s: %m",
                                       m->state_dir, m->runtime_dir ? " or the runtime directory " : "",
                                       m->runtime_dir ? m->runtime_dir : "");
        if (m->image_dir) {
                m->image_dir_fd = open(m->image_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (m->image_dir_fd < 0)
                        return log_error_errno(-errno, "Cannot open the image directory %s: %m",
                                               m->image_dir);
        }
        r = event_log_new(o->event_log_capacity, &m->events);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

static void manager_fail_ops(Manager *m, Vm *list)
{
        for (Vm *vm = list; vm; vm = vm->next) {
                if (!vm->op)
                        continue;
                ManagerError e;
                manager_error_set(&e, -ESHUTDOWN, "The daemon is shutting down");
                vm_op_finish(vm, -ESHUTDOWN, &e);
        }
}

Manager *manager_free(Manager *m)
{
        if (!m)
                return NULL;
        m->shutting_down = true;
        manager_fail_ops(m, m->vms);
        manager_fail_ops(m, m->hidden);
        manager_flush_records(m);
        m->record_flush = sd_event_source_disable_unref(m->record_flush);
        /* Cancels every call: their callbacks see shutting_down and only drop references. */
        if (m->notify)
                rm_client_remove_notify_handler(m->client, m->notify);
        m->client = rm_client_free(m->client);
        m->link = rm_link_free(m->link);
        sd_event_source_disable_unref(m->sync_defer);
        while (m->defers)
                defer_unlink(m, m->defers);
        while (m->vms) {
                Vm *vm = m->vms;
                manager_vm_unlink(m, vm);
                vm_free(vm);
        }
        while (m->hidden) {
                Vm *vm = m->hidden;
                m->hidden = vm->next;
                vm_free(vm);
        }
        event_log_free(m->events);
        store_free(m->store);
        pool_free(m->pool);
        if (m->pool_map)
                munmap(m->pool_map, m->pool_map_size);
        if (m->rm_fd >= 0 && !m->link)
                close(m->rm_fd);
        if (m->image_dir_fd >= 0)
                close(m->image_dir_fd);
        free(m->rm_device);
        free(m->rm_socket);
        free(m->pool_file);
        free(m->state_dir);
        free(m->runtime_dir);
        free(m->image_dir);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

int manager_start(Manager *m, ManagerReadyFn ready, void *userdata)
{
        int r;

        if (m->started)
                return -EALREADY;
        m->ready_cb = ready;
        m->ready_userdata = userdata;
        r = manager_load(m);
        if (r < 0)
                return r;
        if (m->rm_socket)
                r = rm_link_new_socket(&m->link, m->event, m->rm_socket);
        else if (m->rm_fd >= 0 && m->rm_device)
                /* --pool device opened the device to map the pool: keep that fd, and let the
                 * link reopen the device from its path if it is ever lost. */
                r = rm_link_new_device_fd(&m->link, m->event, m->rm_device, TAKE_FD(m->rm_fd));
        else if (m->rm_fd >= 0)
                r = rm_link_new_fd(&m->link, m->event, TAKE_FD(m->rm_fd));
        else
                r = rm_link_new_device(&m->link, m->event, m->rm_device);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the RM link: %m");
        r = rm_client_new(&m->client, m->event, m->link);
        if (r < 0)
                return r;
        rm_client_set_default_timeout(m->client, m->rpc_timeout_usec);
        rm_client_set_link_handler(m->client, manager_on_link, m);
        rm_client_set_unmatched_hook(m->client, manager_on_unmatched_reply, m);
        r = rm_client_add_notify_handler(m->client, 0, manager_on_notify, m, &m->notify);
        if (r < 0)
                return r;
        m->link_state = MANAGER_LINK_CONNECTING;
        r = rm_link_start(m->link);
        if (r < 0)
                return log_error_errno(r, "Cannot start the RM link (%s): %m",
                                       rm_link_describe(m->link));
        m->started = true;
        log_info("Manager started: RM link %s, pool %s at 0x%" PRIx64 " (%" PRIu64 " MiB), state %s, "
                 "runtime records %s%s",
                 rm_link_describe(m->link), m->pool_file, m->pool_ipa, m->pool_size >> 20,
                 m->state_dir, m->runtime_dir ? m->runtime_dir : m->state_dir,
                 m->runtime_dir ? "/records" : "/runtime");
        return 0;
}
