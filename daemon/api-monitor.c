/* SPDX-License-Identifier: MIT */
/*
 * io.gunyah.Manager.Monitor: a stream of the manager's event log.
 *
 * Without "since": the first reply is a snapshot of every VM with the cursor of the last
 * event it reflects, then one reply per event. With "since": every retained event after it,
 * then live ones. Both run synchronously on the event loop before subscribing, so no event
 * can fall between the snapshot (or the replay) and the subscription. A cursor of another
 * daemon run, from the future, or older than the retained window is CursorExpired.
 *
 * A client that does not read is disconnected by the server once its queue passes the
 * output limit (api-server.h); it resumes with its last cursor and loses nothing the
 * daemon still holds.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <string.h>

#include "api-json.h"
#include "api-manager.h"
#include "api.h"
#include "events.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "vm.h"

typedef struct MonitorParams {
        const char *since;
} MonitorParams;

const ApiField api_monitor_fields[] = {
        { "since", API_JSON_STRING, API_FIELD_BOUNDED, offsetof(MonitorParams, since), 1,
          API_CURSOR_MAX - 1 },
        API_FIELD_END,
};

typedef struct Monitor {
        ApiManager *am;
        ApiCall *call;
        EventSubscription *sub;
        bool busy; /* inside the method or a send: the hook must not free mon */
        bool gone; /* the client left (the disconnect hook ran) */
} Monitor;

static void monitor_free(Monitor *mon)
{
        event_subscription_free(mon->sub);
        api_call_unref(mon->call);
        free(mon);
}

static void monitor_disconnect(ApiCall *call, void *userdata)
{
        Monitor *mon = userdata;
        mon->gone = true;
        /* Safe from inside an event callback too (events.h). */
        mon->sub = event_subscription_free(mon->sub);
        if (!mon->busy)
                monitor_free(mon);
}

/* Send one event. Returns 0, or -ENOBUFS/-ENOTCONN when the client is gone. */
static int monitor_send(Monitor *mon, const Event *ev)
{
        if (mon->gone)
                return -ENOTCONN;
        struct json_object *o = json_object_new_object();
        struct json_object *e = api_event_json(mon->am, ev);
        if (!o || !e) {
                json_object_put(o);
                json_object_put(e);
                return -ENOMEM;
        }
        api_json_add_string(o, "cursor", json_object_get_string(json_object_object_get(e, "cursor")));
        api_json_add(o, "event", e);
        return api_call_notify(mon->call, o);
}

static void monitor_on_event(const Event *ev, void *userdata)
{
        Monitor *mon = userdata;
        mon->busy = true;
        int r = monitor_send(mon, ev);
        mon->busy = false;
        if (mon->gone) {
                monitor_free(mon); /* the hook already dropped the subscription */
                return;
        }
        if (r < 0)
                log_debug_errno(r, "Monitor: cannot send an event: %m");
}

static void monitor_replay(const Event *ev, void *userdata)
{
        Monitor *mon = userdata;
        (void)monitor_send(mon, ev);
}

static int monitor_snapshot(Monitor *mon)
{
        Manager *m = mon->am->manager;
        struct json_object *o = json_object_new_object();
        struct json_object *vms = json_object_new_array();
        if (!o || !vms) {
                json_object_put(o);
                json_object_put(vms);
                return -ENOMEM;
        }
        for (Vm *vm = manager_vm_next(m, NULL); vm; vm = manager_vm_next(m, vm)) {
                struct json_object *info = api_vm_info(vm);
                if (!info || json_object_array_add(vms, info) < 0) {
                        json_object_put(info);
                        json_object_put(vms);
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        char cursor[API_CURSOR_MAX];
        api_cursor_format(mon->am->run_id, event_log_last_cursor(manager_get_event_log(m)),
                          cursor);
        api_json_add_string(o, "cursor", cursor);
        api_json_add(o, "snapshot", vms);
        return api_call_notify(mon->call, o);
}

static int reply_cursor_expired(ApiCall *call, const ApiManager *am, const char *since)
{
        EventLog *log = manager_get_event_log(am->manager);
        uint64_t first = event_log_first_cursor(log);
        char oldest[API_CURSOR_MAX];
        if (first > 0)
                api_cursor_format(am->run_id, first - 1, oldest);
        ApiErrorDetail d = { .cursor = since, .oldest = first > 0 ? oldest : NULL };
        return api_call_error_errno(call, -ESTALE, &d);
}

int api_monitor_method(ApiCall *call, struct json_object *parameters, void *userdata)
{
        ApiManager *am = userdata;
        MonitorParams p = {};
        const char *field;
        if (api_json_dispatch(parameters, api_monitor_fields, &p, NULL, &field) < 0)
                return api_call_error_invalid_parameter(call, field);
        EventLog *log = manager_get_event_log(am->manager);
        uint64_t run = 0, seq = 0;
        if (p.since) {
                if (api_cursor_parse(p.since, &run, &seq) < 0)
                        return api_call_error_invalid_parameter(call, "since");
                if (run != am->run_id || seq > event_log_last_cursor(log))
                        return reply_cursor_expired(call, am, p.since);
        }
        Monitor *mon = calloc(1, sizeof(*mon));
        if (!mon)
                return -ENOMEM;
        mon->am = am;
        mon->call = api_call_ref(call);
        mon->busy = true;
        api_call_set_disconnect(call, monitor_disconnect, mon);
        int r;
        if (p.since) {
                r = event_log_foreach_since(log, seq, monitor_replay, mon);
                if (r == -ESTALE && !mon->gone) {
                        api_call_set_disconnect(call, NULL, NULL);
                        monitor_free(mon);
                        return reply_cursor_expired(call, am, p.since);
                }
        } else
                r = monitor_snapshot(mon);
        if (r >= 0 && !mon->gone)
                r = event_log_subscribe(log, monitor_on_event, mon, &mon->sub);
        mon->busy = false;
        if (mon->gone) {
                /* The client could not take the replay or the snapshot: it is gone. */
                monitor_free(mon);
                return 0;
        }
        if (r < 0) {
                api_call_set_disconnect(call, NULL, NULL);
                monitor_free(mon);
                return r;
        }
        /* From now on the stream ends only when the client leaves (monitor_disconnect). */
        return 0;
}
