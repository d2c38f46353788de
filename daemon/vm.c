/* SPDX-License-Identifier: MIT */
/* The Vm record: accessors, the state transition table and vm_set_state(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "manager-internal.h"
#include "rm-ids.h"
#include "rm-mem.h"

static const char *const vm_state_table[_VM_STATE_MAX] = {
        [VM_STATE_STOPPED] = "stopped",       [VM_STATE_STARTING] = "starting",
        [VM_STATE_RUNNING] = "running",       [VM_STATE_STOPPING] = "stopping",
        [VM_STATE_EXITED] = "exited",         [VM_STATE_RELEASING] = "releasing",
        [VM_STATE_FAILED] = "failed",         [VM_STATE_LOST] = "lost",
        [VM_STATE_DESTROYING] = "destroying", [VM_STATE_RECOVERING] = "recovering",
};

#define S(x) (1u << VM_STATE_##x)
/* transitions[from] = set of states vm_set_state() may enter from there (docs/design.md). */
static const unsigned vm_transitions[_VM_STATE_MAX] = {
        [VM_STATE_STOPPED] = S(STARTING) | S(RECOVERING) | S(DESTROYING),
        [VM_STATE_STARTING] = S(RUNNING) | S(RELEASING) | S(FAILED) | S(LOST) | S(EXITED) |
                              S(STOPPED),
        [VM_STATE_RUNNING] = S(STOPPING) | S(EXITED) | S(LOST) | S(DESTROYING),
        [VM_STATE_STOPPING] = S(EXITED) | S(RUNNING) | S(LOST) | S(DESTROYING) | S(FAILED),
        [VM_STATE_EXITED] = S(RELEASING) | S(DESTROYING) | S(LOST) | S(FAILED),
        [VM_STATE_RELEASING] = S(STOPPED) | S(FAILED) | S(LOST),
        [VM_STATE_FAILED] = S(RELEASING) | S(DESTROYING) | S(LOST),
        [VM_STATE_LOST] = S(STARTING) | S(DESTROYING),
        [VM_STATE_DESTROYING] = S(FAILED) | S(LOST),
        [VM_STATE_RECOVERING] = S(RUNNING) | S(EXITED) | S(RELEASING) | S(LOST) | S(FAILED) |
                                S(STOPPED),
};
#undef S

static const char *const vm_boot_table[_VM_BOOT_MAX] = {
        [VM_BOOT_NONE] = "none",
        [VM_BOOT_V17] = "v17",
        [VM_BOOT_OPEN_RM] = "open-rm",
};

static const char *const vm_parcel_kind_table[_VM_PARCEL_KIND_MAX] = {
        [VM_PARCEL_IMAGE] = "image",
        [VM_PARCEL_DEMAND] = "demand",
};

const char *vm_state_to_string(VmState s)
{
        return (int)s >= 0 && s < _VM_STATE_MAX ? vm_state_table[s] : NULL;
}

VmState vm_state_from_string(const char *s)
{
        for (int i = 0; s && i < _VM_STATE_MAX; i++)
                if (strcmp(vm_state_table[i], s) == 0)
                        return (VmState)i;
        return _VM_STATE_INVALID;
}

const char *vm_boot_convention_to_string(VmBootConvention b)
{
        return (int)b >= 0 && b < _VM_BOOT_MAX ? vm_boot_table[b] : NULL;
}

const char *vm_parcel_kind_to_string(VmParcelKind k)
{
        return (int)k >= 0 && k < _VM_PARCEL_KIND_MAX ? vm_parcel_kind_table[k] : NULL;
}

bool vm_state_transition_allowed(VmState from, VmState to)
{
        if ((int)from < 0 || from >= _VM_STATE_MAX || (int)to < 0 || to >= _VM_STATE_MAX)
                return false;
        return vm_transitions[from] & (1u << to);
}

int vm_set_state(Vm *vm, VmState state, const EventCause *cause)
{
        VmState old = vm->state;

        if (old == state)
                return 0;
        if (!vm_state_transition_allowed(old, state)) {
                log_vm_error(vm->config.name, vm->vmid ? vm->vmid : -1,
                             "Refusing VM state transition %s -> %s (manager bug)",
                             vm_state_to_string(old), vm_state_to_string(state));
                return -EINVAL;
        }
        vm->state = state;
        log_vm_info(vm->config.name, vm->vmid ? vm->vmid : -1, "VM %s: %s -> %s",
                    vm->config.name, vm_state_to_string(old), vm_state_to_string(state));
        vm_event(vm, EVENT_VM_STATE, cause, "%s -> %s", vm_state_to_string(old),
                 vm_state_to_string(state));
        return 0;
}

int vm_new(Manager *m, VmConfig *config, Vm **ret)
{
        Vm *vm = calloc(1, sizeof(*vm));
        if (!vm)
                return -ENOMEM;
        vm->manager = m;
        vm->config = *config;
        vm_config_init(config);
        vm->state = VM_STATE_STOPPED;
        vm->kernel_fd = vm->initrd_fd = -1;
        vm->load_kernel_fd = vm->load_initrd_fd = -1;
        *ret = vm;
        return 0;
}

void vm_close_sources(Vm *vm)
{
        if (vm->kernel_fd >= 0)
                close(vm->kernel_fd);
        if (vm->initrd_fd >= 0)
                close(vm->initrd_fd);
        vm->kernel_fd = vm->initrd_fd = -1;
        if (vm->load_kernel_fd >= 0)
                close(vm->load_kernel_fd);
        if (vm->load_initrd_fd >= 0)
                close(vm->load_initrd_fd);
        vm->load_kernel_fd = vm->load_initrd_fd = -1;
}

Vm *vm_free(Vm *vm)
{
        if (!vm)
                return NULL;
        for (size_t i = 0; i < vm->n_parcels; i++)
                free(vm->parcels[i].host);
        free(vm->parcels);
        free(vm->ranges);
        free(vm->blocks);
        free(vm->last_error);
        free(vm->dtb);
        sd_event_source_disable_unref(vm->timer);
        vm_close_sources(vm);
        vm_config_done(&vm->config);
        free(vm);
        return NULL;
}

void vm_set_last_error(Vm *vm, const char *msg)
{
        free(vm->last_error);
        vm->last_error = msg ? strdup(msg) : NULL;
}

int vm_add_parcel(Vm *vm, VmParcelKind kind, uint64_t guest_ipa, const PoolExtent *e, size_t n)
{
        VmParcel *p = reallocarray(vm->parcels, vm->n_parcels + 1, sizeof(VmParcel));
        if (!p)
                return -ENOMEM;
        vm->parcels = p;
        VmParcel *np = &p[vm->n_parcels];
        *np = (VmParcel){ .kind = kind, .handle = RM_MEM_HANDLE_INVALID, .guest_ipa = guest_ipa };
        np->host = malloc(MAX(n, (size_t)1) * sizeof(PoolExtent));
        if (!np->host)
                return -ENOMEM;
        memcpy(np->host, e, n * sizeof(PoolExtent));
        np->n_host = n;
        np->size = pool_extents_total(e, n);
        return (int)vm->n_parcels++;
}

void vm_remove_parcel(Vm *vm, size_t i)
{
        if (i >= vm->n_parcels)
                return;
        free(vm->parcels[i].host);
        memmove(&vm->parcels[i], &vm->parcels[i + 1],
                (vm->n_parcels - i - 1) * sizeof(VmParcel));
        vm->n_parcels--;
        /* Block indices refer to parcels by index: shift them. */
        for (size_t b = 0; b < vm->n_blocks; b++) {
                if (vm->blocks[b].parcel == (int)i)
                        vm->blocks[b].parcel = -1;
                else if (vm->blocks[b].parcel > (int)i)
                        vm->blocks[b].parcel--;
        }
}

int vm_find_parcel(const Vm *vm, uint32_t handle)
{
        for (size_t i = 0; i < vm->n_parcels; i++)
                if (vm->parcels[i].handle == handle && handle != RM_MEM_HANDLE_INVALID)
                        return (int)i;
        return -ENOENT;
}

int vm_find_parcel_ipa(const Vm *vm, uint64_t guest_ipa)
{
        for (size_t i = 0; i < vm->n_parcels; i++)
                if (vm->parcels[i].guest_ipa == guest_ipa)
                        return (int)i;
        return -ENOENT;
}

int vm_add_ranges(Vm *vm, const PoolExtent *e, size_t n)
{
        PoolExtent *r = reallocarray(vm->ranges, vm->n_ranges + n + 1, sizeof(PoolExtent));
        if (!r)
                return -ENOMEM;
        vm->ranges = r;
        memcpy(&r[vm->n_ranges], e, n * sizeof(PoolExtent));
        vm->n_ranges += n;
        return 0;
}

static void release_ranges(Vm *vm, const PoolExtent *e, size_t n, bool zeroed)
{
        for (size_t i = 0; i < n; i++) {
                for (size_t j = 0; j < vm->n_ranges; j++) {
                        if (vm->ranges[j].ipa != e[i].ipa || vm->ranges[j].size != e[i].size)
                                continue;
                        if (zeroed)
                                (void)pool_release_zeroed(vm->manager->pool, e[i].ipa, e[i].size);
                        else
                                (void)pool_release(vm->manager->pool, e[i].ipa, e[i].size);
                        vm->ranges[j] = vm->ranges[--vm->n_ranges];
                        break;
                }
        }
}

void vm_release_ranges(Vm *vm, const PoolExtent *e, size_t n)
{
        release_ranges(vm, e, n, false);
}

void vm_release_parcel_reclaimed(Vm *vm, const VmParcel *p, bool sanitized)
{
        size_t first, count;
        bool one_message;

        /* The RM zeroed what it held of the parcel. That is all of p->host only when the SGL
         * went out whole in one MEM_LEND (no MEM_APPEND that a crash or an error may have
         * cut short), the lend completed, and the handle is our own (not a lookup's). */
        rm_sgl_message_range(p->n_host, 0, &first, &count, &one_message);
        release_ranges(vm, p->host, p->n_host,
                       sanitized && one_message && p->complete && !p->looked_up);
}

void vm_release_all_ranges(Vm *vm)
{
        for (size_t j = 0; j < vm->n_ranges; j++)
                (void)pool_release(vm->manager->pool, vm->ranges[j].ipa, vm->ranges[j].size);
        vm->n_ranges = 0;
}

/* --- accessors --- */
const char *vm_get_name(const Vm *vm)
{
        return vm->config.name;
}
const VmConfig *vm_get_config(const Vm *vm)
{
        return &vm->config;
}
bool vm_is_persistent(const Vm *vm)
{
        return vm->config.persistent;
}
VmState vm_get_state(const Vm *vm)
{
        return vm->state;
}
uint16_t vm_get_vmid(const Vm *vm)
{
        return vm->vmid;
}
uint8_t vm_get_rm_status(const Vm *vm)
{
        return vm->rm_status;
}
uint8_t vm_get_os_status(const Vm *vm)
{
        return vm->os_status;
}
uint16_t vm_get_app_status(const Vm *vm)
{
        return vm->app_status;
}
const VmExit *vm_get_exit(const Vm *vm)
{
        return vm->has_exit ? &vm->exit : NULL;
}
VmBootConvention vm_get_boot_convention(const Vm *vm)
{
        return vm->boot;
}
size_t vm_get_n_parcels(const Vm *vm)
{
        return vm->n_parcels;
}
const VmParcel *vm_get_parcel(const Vm *vm, size_t i)
{
        return i < vm->n_parcels ? &vm->parcels[i] : NULL;
}
uint64_t vm_get_memory_base(const Vm *vm)
{
        return vm->config.memory_base;
}
uint64_t vm_get_memory_size(const Vm *vm)
{
        return vm->config.memory_size;
}
uint64_t vm_get_bytes_lent(const Vm *vm)
{
        uint64_t t = 0;
        for (size_t i = 0; i < vm->n_parcels; i++)
                if (vm->parcels[i].handle != RM_MEM_HANDLE_INVALID)
                        t += vm->parcels[i].size;
        return t;
}
const VmPagingStats *vm_get_paging_stats(const Vm *vm)
{
        return &vm->paging;
}
const char *vm_get_last_error(const Vm *vm)
{
        return vm->last_error;
}
