#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * io.gunyah.Manager: the method handlers (api-vm.c, api-monitor.c, api-daemon.c) on top of
 * the manager. Thin by design: check parameters (field tables), call the manager, turn its
 * result into JSON; errors go through api_error_from_errno() (protocol/api.c), the one
 * mapping, with the manager's detail.
 *
 * api_manager_register() adds the interface to an ApiServer; the Manager must outlive the
 * server. Monitor cursors carry a random run id drawn here, so a cursor of an earlier
 * daemon run is refused (CursorExpired) instead of being confused with this run's events.
 */
#include <stdint.h>

#include "api-json.h"
#include "api-server.h"

typedef struct Manager Manager;
typedef struct Vm Vm;
typedef struct ManagerError ManagerError;
typedef struct Event Event;
typedef struct EventCause EventCause;

int api_manager_register(ApiServer *s, Manager *m);

/* --- shared by the handler files --- */
typedef struct Monitor Monitor;
typedef struct sd_event_source sd_event_source;
#define API_MONITOR_CACHE 64 /* events whose reply text is kept for the next subscribers */

typedef struct ApiManager {
        Manager *manager;
        ApiServer *server;
        uint64_t run_id;
        /* Monitor fan-out (api-monitor.c): subscribers with events not yet sent, in the order
         * they got them, drained by a low-priority source a few sends at a time; each event's
         * reply parameters are built and serialized once for all of them. */
        sd_event_source *monitor_drain;
        Monitor *monitor_dirty_head, *monitor_dirty_tail;
        struct {
                uint64_t cursor;
                struct json_object *params;
        } monitor_cache[API_MONITOR_CACHE];
} ApiManager;

void api_monitor_done(ApiManager *am); /* frees the fan-out's source and cache */

/* JSON of a VM: the IDL's VMInfo (full) and VMSummary. NULL on allocation failure. */
struct json_object *api_vm_info(const Vm *vm);
struct json_object *api_vm_summary(const Vm *vm);
/* JSON of an event (the IDL's Event), with its cursor text. */
struct json_object *api_event_json(const ApiManager *am, const Event *ev);
/* The cause to record for this call (uid, pid, method). */
void api_call_cause(ApiCall *call, EventCause *ret);
/* Final error reply for a manager failure r with its detail (err may be NULL). */
int api_reply_manager_error(ApiCall *call, int r, const char *vm_name, const ManagerError *err);

/* The method tables of each file. */
int api_vm_method_create(ApiCall *call, struct json_object *parameters, void *userdata);
int api_vm_method_start(ApiCall *call, struct json_object *parameters, void *userdata);
int api_vm_method_stop(ApiCall *call, struct json_object *parameters, void *userdata);
int api_vm_method_destroy(ApiCall *call, struct json_object *parameters, void *userdata);
int api_vm_method_list(ApiCall *call, struct json_object *parameters, void *userdata);
int api_vm_method_describe(ApiCall *call, struct json_object *parameters, void *userdata);
int api_monitor_method(ApiCall *call, struct json_object *parameters, void *userdata);
int api_daemon_method_info(ApiCall *call, struct json_object *parameters, void *userdata);

extern const ApiField api_vm_create_fields[];
extern const ApiField api_vm_name_fields[];
extern const ApiField api_vm_stop_fields[];
extern const ApiField api_monitor_fields[];
