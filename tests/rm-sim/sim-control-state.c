/* SPDX-License-Identifier: MIT */
/*
 * GetState: the whole RM state as JSON (types Vm, Parcel, Link of io.gunyah.Simulator).
 * Read-only; returns a new object or NULL on allocation failure.
 */
#include <json-c/json.h>

#include "macro.h"
#include "sim.h"

json_object *sim_control_state_json(Sim *s);

static const char *trans_name(uint8_t t)
{
        static const char *const names[] = {"DONATE", "LEND", "SHARE"};
        return t < ELEMENTSOF(names) ? names[t] : "?";
}

static void add_int(json_object *o, const char *k, int64_t v)
{
        json_object_object_add(o, k, json_object_new_int64(v));
}

static json_object *vm_json(Sim *s, SimVm *vm)
{
        json_object *o = json_object_new_object();
        json_object *acc = json_object_new_array();
        const char *st = rm_vm_status_to_string(vm->status);
        const char *os = rm_os_status_to_string(vm->os_status);

        add_int(o, "vmid", vm->vmid);
        json_object_object_add(o, "status", json_object_new_string(st ? st : "?"));
        add_int(o, "statusNumber", vm->status);
        add_int(o, "osStatus", vm->os_status);
        json_object_object_add(o, "osStatusName", json_object_new_string(os ? os : "?"));
        add_int(o, "appStatus", vm->app_status);
        add_int(o, "owner", vm->owner);
        for (SimParcel *pc = s->parcels; pc; pc = pc->next) {
                SimAcl *a = sim_parcel_acl_of(pc, vm->vmid);
                if (a && a->accepted)
                        json_object_array_add(acc, json_object_new_int64(pc->handle));
        }
        json_object_object_add(o, "parcelsAccepted", acc);
        if (vm->has_exit) {
                json_object *e = json_object_new_object(), *r = json_object_new_array();
                const char *tn = rm_exit_type_to_string(vm->exit_type);
                add_int(e, "type", vm->exit_type);
                json_object_object_add(e, "typeName", json_object_new_string(tn ? tn : "?"));
                for (unsigned i = 0; i < vm->n_reason; i++)
                        json_object_array_add(r, json_object_new_int64(vm->reason[i]));
                json_object_object_add(e, "reason", r);
                if (vm->crash_len)
                        json_object_object_add(e, "crashMessage",
                                               json_object_new_string(vm->crash_msg));
                json_object_object_add(o, "exit", e);
        }
        json_object_object_add(o, "ignoreShutdown", json_object_new_boolean(vm->ignore_shutdown));
        if (vm->fault_blocked)
                add_int(o, "blockedFaultIpa", (int64_t)vm->fault_ipa);
        if (vm->status == RM_VM_STATUS_RUNNING || vm->status == RM_VM_STATUS_PAUSED ||
            vm->status == RM_VM_STATUS_EXITED) {
                add_int(o, "bootPc", (int64_t)vm->pc);
                add_int(o, "bootX0", (int64_t)vm->x[0]);
        }
        if (vm->dt_parsed) {
                add_int(o, "memoryBase", (int64_t)sim_vm_image_base(vm));
                json_object_object_add(o, "imageName", json_object_new_string(vm->name));
        }
        return o;
}

static json_object *parcel_json(SimParcel *pc)
{
        json_object *o = json_object_new_object();
        json_object *acl = json_object_new_array(), *sgl = json_object_new_array();
        json_object *attrs = json_object_new_array(), *acc = json_object_new_array();
        bool shared = false;

        add_int(o, "handle", pc->handle);
        add_int(o, "owner", pc->owner);
        json_object_object_add(o, "transType", json_object_new_string(trans_name(pc->trans_type)));
        json_object_object_add(o, "memType",
                               json_object_new_string(pc->mem_type ? "IO" : "NORMAL"));
        for (size_t i = 0; i < pc->n_acl; i++) {
                json_object *e = json_object_new_object();
                add_int(e, "vmid", pc->acl[i].vmid);
                add_int(e, "rights", pc->acl[i].rights);
                json_object_array_add(acl, e);
                if (pc->acl[i].accepted) {
                        shared = true;
                        json_object_array_add(acc, json_object_new_int64(pc->acl[i].vmid));
                }
        }
        for (size_t i = 0; i < pc->n_sgl; i++) {
                json_object *e = json_object_new_object();
                add_int(e, "ipa", (int64_t)pc->sgl[i].ipa);
                add_int(e, "size", (int64_t)pc->sgl[i].size);
                json_object_array_add(sgl, e);
        }
        for (size_t i = 0; i < pc->n_attr; i++) {
                json_object *e = json_object_new_object();
                add_int(e, "attr", pc->attr[i].attr);
                add_int(e, "vmid", pc->attr[i].vmid);
                json_object_array_add(attrs, e);
        }
        json_object_object_add(o, "acl", acl);
        json_object_object_add(o, "sgl", sgl);
        json_object_object_add(o, "attrs", attrs);
        add_int(o, "label", pc->label);
        json_object_object_add(o, "state",
                               json_object_new_string(pc->open ? "OPEN"
                                                      : shared ? "SHARED"
                                                               : "SHARING"));
        json_object_object_add(o, "accepters", acc);
        if (pc->has_tag)
                add_int(o, "memInfoTag", pc->tag);
        json_object_object_add(o, "sanitize",
                               json_object_new_boolean(pc->flags & RM_MEM_CREATE_FLAG_SANITIZE));
        return o;
}

json_object *sim_control_state_json(Sim *s)
{
        json_object *o = json_object_new_object();
        json_object *vms = json_object_new_array(), *parcels = json_object_new_array();
        json_object *link = json_object_new_object();
        size_t n = 0;

        if (!o || !vms || !parcels || !link)
                return NULL;
        json_object_object_add(
            o, "profile",
            json_object_new_string(s->opt.profile == SIM_PROFILE_V17 ? "v17" : "open-rm"));
        for (size_t i = 0; i < ELEMENTSOF(s->vms); i++)
                if (s->vms[i])
                        json_object_array_add(vms, vm_json(s, s->vms[i]));
        /* parcels in handle order */
        for (SimParcel *pc = s->parcels; pc; pc = pc->next)
                n++;
        for (uint64_t last = 0, first = 1; n > 0; n--, first = 0) {
                SimParcel *best = NULL;
                for (SimParcel *pc = s->parcels; pc; pc = pc->next)
                        if ((first || pc->handle > last) && (!best || pc->handle < best->handle))
                                best = pc;
                if (!best)
                        break;
                json_object_array_add(parcels, parcel_json(best));
                last = best->handle;
        }
        json_object_object_add(o, "vms", vms);
        json_object_object_add(o, "parcels", parcels);
        json_object_object_add(link, "connected", json_object_new_boolean(s->link.fd >= 0));
        add_int(link, "packetsIn", (int64_t)s->link.packets_in);
        add_int(link, "packetsOut", (int64_t)s->link.packets_out);
        add_int(link, "droppedReplies", (int64_t)s->link.dropped_replies);
        add_int(link, "droppedNotifications", (int64_t)s->link.dropped_notifs);
        add_int(link, "pendingNotifications", (int64_t)s->link.n_notifs);
        json_object_object_add(link, "stalled", json_object_new_boolean(s->link.stalled));
        json_object_object_add(o, "link", link);
        return o;
}
