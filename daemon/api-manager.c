/* SPDX-License-Identifier: MIT */
/*
 * io.gunyah.Manager: the method table, and what the handler files share: the JSON of a VM
 * and of an event, the cause of a call, and the reply for a manager failure.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "api-json.h"
#include "api-manager.h"
#include "api.h"
#include "events.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "rm-error.h"
#include "rm-ids.h"
#include "rm-types.h"
#include "vm-config.h"
#include "vm.h"

static struct json_object *vm_exit_json(const VmExit *e)
{
        struct json_object *o = json_object_new_object();
        struct json_object *reason = json_object_new_array();
        if (!o || !reason) {
                json_object_put(o);
                json_object_put(reason);
                return NULL;
        }
        const char *type = rm_exit_type_to_string(e->type);
        api_json_add_string(o, "type", type ? type : "UNKNOWN");
        api_json_add_int(o, "typeNumber", e->type);
        api_json_add_nullable_string(o, "code", rm_exit_code_to_string(e->code));
        for (uint32_t i = 0; i < MIN(e->n_reason, (uint32_t)ELEMENTSOF(e->reason)); i++)
                (void)json_object_array_add(reason, json_object_new_int64(e->reason[i]));
        api_json_add(o, "reason", reason);
        api_json_add_nullable_string(o, "crashMessage", e->crash_msg[0] ? e->crash_msg : NULL);
        api_json_add_uint(o, "time", e->timestamp_usec);
        return o;
}

static struct json_object *vm_parcel_json(const VmParcel *p)
{
        struct json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        api_json_add_int(o, "handle", p->handle);
        api_json_add_string(o, "kind", vm_parcel_kind_to_string(p->kind));
        api_json_add_uint(o, "ipa", p->guest_ipa);
        api_json_add_uint(o, "size", p->size);
        api_json_add_uint(o, "extents", p->n_host);
        api_json_add_string(o, "state", !p->complete ? "lending" : p->accepted ? "accepted" : "lent");
        return o;
}

static struct json_object *vm_paging_json(const VmPagingStats *st)
{
        struct json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        api_json_add_uint(o, "faultsServed", st->faults_served);
        api_json_add_uint(o, "faultsFailed", st->faults_failed);
        api_json_add_uint(o, "bytesLent", st->bytes_lent);
        api_json_add_uint(o, "bytesReclaimed", st->bytes_reclaimed);
        api_json_add_uint(o, "latencyLast", st->latency_last_usec);
        api_json_add_uint(o, "latencyMax", st->latency_max_usec);
        api_json_add_uint(o, "latencyMean",
                          st->faults_served ? st->latency_total_usec / st->faults_served : 0);
        return o;
}

/* The fields VMSummary and VMInfo share. */
static void vm_common_json(struct json_object *o, const Vm *vm)
{
        const VmConfig *c = vm_get_config(vm);
        char uuid[VM_UUID_STRING_MAX];
        vm_uuid_format(c->uuid, uuid);
        uint16_t vmid = vm_get_vmid(vm);
        api_json_add_string(o, "name", vm_get_name(vm));
        api_json_add_string(o, "uuid", uuid);
        api_json_add_string(o, "state", vm_state_to_string(vm_get_state(vm)));
        if (vmid) {
                api_json_add_int(o, "vmid", vmid);
                api_json_add_nullable_string(o, "rmStatus",
                                             rm_vm_status_to_string(vm_get_rm_status(vm)));
                api_json_add_nullable_string(o, "osStatus",
                                             rm_os_status_to_string(vm_get_os_status(vm)));
        } else {
                api_json_add_null(o, "vmid");
                api_json_add_null(o, "rmStatus");
                api_json_add_null(o, "osStatus");
        }
        api_json_add_uint(o, "vcpus", c->vcpus);
}

struct json_object *api_vm_summary(const Vm *vm)
{
        struct json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        vm_common_json(o, vm);
        api_json_add_uint(o, "memorySize", vm_get_config(vm)->memory_size);
        return o;
}

struct json_object *api_vm_info(const Vm *vm)
{
        const VmConfig *c = vm_get_config(vm);
        struct json_object *o = json_object_new_object();
        struct json_object *mem = json_object_new_object();
        struct json_object *parcels = json_object_new_array();
        if (!o || !mem || !parcels) {
                json_object_put(o);
                json_object_put(mem);
                json_object_put(parcels);
                return NULL;
        }
        vm_common_json(o, vm);
        if (vm_get_vmid(vm))
                api_json_add_int(o, "appStatus", vm_get_app_status(vm));
        else
                api_json_add_null(o, "appStatus");
        uint64_t base = vm_get_memory_base(vm);
        api_json_add_uint(mem, "base", base ? base : c->memory_base);
        api_json_add_uint(mem, "size", c->memory_size);
        api_json_add_uint(mem, "lent", vm_get_bytes_lent(vm));
        api_json_add_bool(mem, "demandPaging", c->demand_paging);
        api_json_add(o, "memory", mem);
        api_json_add_string(o, "kernel", c->kernel);
        api_json_add_nullable_string(o, "initrd", c->initrd);
        api_json_add_string(o, "cmdline", c->cmdline ? c->cmdline : "");
        api_json_add_bool(o, "persistent", vm_is_persistent(vm));
        api_json_add_string(o, "bootConvention",
                            vm_boot_convention_to_string(vm_get_boot_convention(vm)));
        const VmExit *e = vm_get_exit(vm);
        api_json_add(o, "exit", e && e->valid ? vm_exit_json(e) : NULL);
        api_json_add_nullable_string(o, "lastError", vm_get_last_error(vm));
        for (size_t i = 0; i < vm_get_n_parcels(vm); i++) {
                struct json_object *p = vm_parcel_json(vm_get_parcel(vm, i));
                if (p)
                        (void)json_object_array_add(parcels, p);
        }
        api_json_add(o, "parcels", parcels);
        api_json_add(o, "demandPaging",
                     c->demand_paging ? vm_paging_json(vm_get_paging_stats(vm)) : NULL);
        return o;
}

struct json_object *api_event_json(const ApiManager *am, const Event *ev)
{
        struct json_object *o = json_object_new_object();
        struct json_object *cause = json_object_new_object();
        if (!o || !cause) {
                json_object_put(o);
                json_object_put(cause);
                return NULL;
        }
        char cursor[API_CURSOR_MAX];
        api_cursor_format(am->run_id, ev->cursor, cursor);
        api_json_add_string(o, "cursor", cursor);
        api_json_add_uint(o, "time", ev->timestamp_usec);
        api_json_add_string(o, "kind", event_kind_to_string(ev->kind));
        api_json_add_nullable_string(o, "vm", ev->vm);
        api_json_add_nullable_string(o, "state", ev->state);
        api_json_add_string(o, "details", ev->details);
        api_json_add_string(cause, "kind", event_cause_kind_to_string(ev->cause.kind));
        if (ev->cause.kind == EVENT_CAUSE_API) {
                api_json_add_uint(cause, "uid", ev->cause.uid);
                api_json_add_int(cause, "pid", ev->cause.pid);
                api_json_add_nullable_string(cause, "method", ev->cause.method);
        }
        if (ev->cause.kind == EVENT_CAUSE_RM)
                api_json_add_uint(cause, "rmMessageId", ev->cause.rm_msg_id);
        api_json_add(o, "cause", cause);
        return o;
}

void api_call_cause(ApiCall *call, EventCause *ret)
{
        const ApiPeer *peer = api_call_peer(call);
        *ret = (EventCause){ .kind = EVENT_CAUSE_API, .uid = peer->uid, .pid = peer->pid,
                             .method = api_call_method(call) };
}

int api_reply_manager_error(ApiCall *call, int r, const char *vm_name, const ManagerError *err)
{
        ApiErrorDetail d = { .vm = vm_name };
        if (err) {
                d.message = err->message[0] ? err->message : NULL;
                d.reason = d.message;
                if (r == -EBUSY)
                        d.state = vm_state_to_string(err->state);
                if (r == -EREMOTEIO) {
                        d.rm_call = rm_msg_id_to_string(err->rm_msg_id);
                        d.rm_code = err->rm_error;
                        d.rm_error_name = rm_error_to_string(err->rm_error);
                }
                if (r == -ETIMEDOUT && err->rm_msg_id)
                        d.operation = rm_msg_id_to_string(err->rm_msg_id);
        }
        if (r == -ENOEXEC || r == -EBADF)
                d.parameter = "kernel";
        if (r == -EINVAL)
                d.parameter = "parameters";
        if (r == -ENOENT && !vm_name)
                r = -EIO; /* not a missing VM: a file the manager could not find */
        log_debug("API %s%s%s failed: %s", api_call_method(call), vm_name ? " " : "",
                  vm_name ? vm_name : "", d.message ? d.message : strerror(-r));
        return api_call_error_errno(call, r, &d);
}

static const ApiMethod manager_methods[] = {
        { "CreateVM", api_vm_method_create, API_METHOD_ADMIN, api_vm_create_fields },
        { "StartVM", api_vm_method_start, API_METHOD_ADMIN | API_METHOD_STREAMS,
          api_vm_name_fields },
        { "StopVM", api_vm_method_stop, API_METHOD_ADMIN, api_vm_stop_fields },
        { "DestroyVM", api_vm_method_destroy, API_METHOD_ADMIN, api_vm_name_fields },
        { "ListVMs", api_vm_method_list, 0, (const ApiField[]){ API_FIELD_END } },
        { "DescribeVM", api_vm_method_describe, 0, api_vm_name_fields },
        { "Monitor", api_monitor_method, API_METHOD_STREAMS | API_METHOD_REQUIRES_MORE,
          api_monitor_fields },
        { "GetDaemonInfo", api_daemon_method_info, 0, (const ApiField[]){ API_FIELD_END } },
        { .name = NULL },
};

static const ApiInterface manager_interface = {
        .name = API_INTERFACE_MANAGER,
        .description = api_idl_manager,
        .methods = manager_methods,
};

static void api_manager_free(void *userdata)
{
        ApiManager *am = userdata;

        api_monitor_done(am);
        free(am);
}

int api_manager_register(ApiServer *s, Manager *m)
{
        ApiManager *am = calloc(1, sizeof(*am));
        if (!am)
                return -ENOMEM;
        am->manager = m;
        am->server = s;
        if (getrandom(&am->run_id, sizeof(am->run_id), 0) != (ssize_t)sizeof(am->run_id)) {
                free(am);
                return -EIO;
        }
        int r = api_server_add_interface_full(s, &manager_interface, am, api_manager_free);
        if (r < 0)
                free(am);
        return r;
}
