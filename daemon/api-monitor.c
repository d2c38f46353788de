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
 * Live events are fanned out by a low-priority source, a few sends per loop turn, each
 * event's reply built and serialized once for all subscribers (monitor_on_event()).
 *
 * A client that does not read is disconnected by the server once its queue passes the
 * output limit (api-server.h); it resumes with its last cursor and loses nothing the
 * daemon still holds.
 */
#include <errno.h>
#include <json-c/json.h>
#include <json-c/printbuf.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <systemd/sd-event.h>

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

/* Sends per dispatch of the fan-out source: an API call that arrives meanwhile waits for at
 * most this many (a few microseconds each) before it is served. */
#define MONITOR_SENDS_PER_DISPATCH 16
/* A subscriber this many events behind gets them at once, from the append: the retained
 * window (4096 events) must still hold what it has not been sent. */
#define MONITOR_BACKLOG_MAX 512

struct Monitor {
        ApiManager *am;
        ApiCall *call;
        EventSubscription *sub;
        uint64_t sent;    /* last cursor sent (or covered by the snapshot / the replay) */
        uint64_t pending; /* last cursor appended since it subscribed */
        Monitor *dirty_prev, *dirty_next;
        bool dirty; /* in am's list of subscribers with events to send */
        bool busy;  /* inside the method or a send: the hook must not free mon */
        bool gone;  /* the client left (the disconnect hook ran) */
};

static void monitor_undirty(Monitor *mon)
{
        ApiManager *am = mon->am;

        if (!mon->dirty)
                return;
        if (mon->dirty_prev)
                mon->dirty_prev->dirty_next = mon->dirty_next;
        else
                am->monitor_dirty_head = mon->dirty_next;
        if (mon->dirty_next)
                mon->dirty_next->dirty_prev = mon->dirty_prev;
        else
                am->monitor_dirty_tail = mon->dirty_prev;
        mon->dirty_prev = mon->dirty_next = NULL;
        mon->dirty = false;
}

/* Put mon at the end of the line of subscribers with events to send (no-op if in it). */
static void monitor_dirty(Monitor *mon)
{
        ApiManager *am = mon->am;

        if (mon->dirty)
                return;
        mon->dirty = true;
        mon->dirty_prev = am->monitor_dirty_tail;
        if (am->monitor_dirty_tail)
                am->monitor_dirty_tail->dirty_next = mon;
        else
                am->monitor_dirty_head = mon;
        am->monitor_dirty_tail = mon;
}

static void monitor_free(Monitor *mon)
{
        monitor_undirty(mon);
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
        monitor_undirty(mon);
        if (!mon->busy)
                monitor_free(mon);
}

/* The reply text of a cached event is serialized once: every later serialization of the
 * parameters object (one per subscriber; the API server's reply writer hands a value with
 * userdata to json-c, api-server.c) copies it. */
typedef struct CachedText {
        size_t len;
        char text[];
} CachedText;

static int cached_text_to_json(struct json_object *jso, struct printbuf *pb, int level, int flags)
{
        const CachedText *t = json_object_get_userdata(jso);
        (void)level;
        (void)flags;
        return printbuf_memappend(pb, t->text, (int)t->len) < 0 ? -1 : 0;
}

static void cached_text_free(struct json_object *jso, void *userdata)
{
        (void)jso;
        free(userdata);
}

/* The reply parameters of an event ({"cursor": ..., "event": {...}}), built once per event
 * for all subscribers. Returns a new reference, NULL on allocation failure. */
static struct json_object *monitor_event_params(ApiManager *am, const Event *ev)
{
        size_t slot = ev->cursor % API_MONITOR_CACHE;
        if (am->monitor_cache[slot].params && am->monitor_cache[slot].cursor == ev->cursor)
                return json_object_get(am->monitor_cache[slot].params);
        struct json_object *o = json_object_new_object();
        struct json_object *e = api_event_json(am, ev);
        if (!o || !e) {
                json_object_put(o);
                json_object_put(e);
                return NULL;
        }
        api_json_add_string(o, "cursor", json_object_get_string(json_object_object_get(e, "cursor")));
        api_json_add(o, "event", e);
        size_t len;
        /* the flags every reply is serialized with (api-server.c, protocol/varlink.c) */
        const char *text = json_object_to_json_string_length(
                o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        CachedText *t = text ? malloc(sizeof(*t) + len + 1) : NULL;
        if (t) {
                t->len = len;
                memcpy(t->text, text, len + 1);
                json_object_set_serializer(o, cached_text_to_json, t, cached_text_free);
        }
        json_object_put(am->monitor_cache[slot].params);
        am->monitor_cache[slot].cursor = ev->cursor;
        am->monitor_cache[slot].params = json_object_get(o);
        return o;
}

/* Send one event. Returns 0, or -ENOBUFS/-ENOTCONN when the client is gone. */
static int monitor_send(Monitor *mon, const Event *ev)
{
        if (mon->gone)
                return -ENOTCONN;
        mon->sent = ev->cursor;
        struct json_object *o = monitor_event_params(mon->am, ev);
        if (!o)
                return -ENOMEM;
        return api_call_notify_now(mon->call, o);
}

/* Send what mon has pending, at most *budget events. Returns false when mon is freed. */
static bool monitor_deliver(Monitor *mon, unsigned *budget)
{
        EventLog *log = manager_get_event_log(mon->am->manager);
        int r = 0;

        mon->busy = true;
        while (r >= 0 && !mon->gone && mon->sent < mon->pending && *budget > 0) {
                bool stale;
                const Event *ev = event_log_next(log, mon->sent, &stale);
                if (stale) {
                        /* cannot happen with MONITOR_BACKLOG_MAX below the window; if it
                         * did, the client must resume from its cursor (CursorExpired) */
                        char cursor[API_CURSOR_MAX];
                        api_cursor_format(mon->am->run_id, mon->sent, cursor);
                        log_warning("Monitor: events after %s left the window unsent, ending the stream",
                                    cursor);
                        ApiErrorDetail d = { .cursor = cursor };
                        api_call_set_disconnect(mon->call, NULL, NULL);
                        (void)api_call_error_errno(mon->call, -ESTALE, &d);
                        mon->sub = event_subscription_free(mon->sub);
                        mon->gone = true; /* freed below, the stream has ended */
                        break;
                }
                if (!ev || ev->cursor > mon->pending) {
                        mon->sent = mon->pending; /* lost appends (-ENOMEM) leave gaps */
                        break;
                }
                r = monitor_send(mon, ev);
                (*budget)--;
        }
        mon->busy = false;
        if (mon->gone) {
                monitor_free(mon); /* the hook already dropped the subscription */
                return false;
        }
        if (r < 0)
                log_debug_errno(r, "Monitor: cannot send an event: %m");
        return true;
}

static int monitor_drain(sd_event_source *source, void *userdata)
{
        ApiManager *am = userdata;
        unsigned budget = MONITOR_SENDS_PER_DISPATCH;

        while (am->monitor_dirty_head && budget > 0) {
                Monitor *mon = am->monitor_dirty_head;
                monitor_undirty(mon);
                if (monitor_deliver(mon, &budget) && !mon->gone && mon->sent < mon->pending)
                        monitor_dirty(mon); /* out of budget: back in line behind the others */
        }
        if (!am->monitor_dirty_head)
                (void)sd_event_source_set_enabled(source, SD_EVENT_OFF);
        return 0;
}

/* Events reach a subscriber from a defer source below the API's priority: the append (in
 * the middle of an RM reply or an API call) only marks the subscriber, and the source sends
 * a few events per loop turn, so calls on other connections are served between them instead
 * of waiting for a whole fan-out to every subscriber. Each subscriber still gets every event
 * in order; one that falls MONITOR_BACKLOG_MAX behind is caught up at once. */
static void monitor_on_event(const Event *ev, void *userdata)
{
        Monitor *mon = userdata;
        ApiManager *am = mon->am;

        mon->pending = ev->cursor;
        if (!am->monitor_drain) {
                int r = sd_event_add_defer(manager_get_event(am->manager), &am->monitor_drain,
                                           monitor_drain, am);
                if (r >= 0)
                        r = sd_event_source_set_priority(am->monitor_drain, SD_EVENT_PRIORITY_IDLE);
                if (r < 0) {
                        am->monitor_drain = sd_event_source_disable_unref(am->monitor_drain);
                        log_warning_errno(r, "Monitor: no fan-out source, sending at once: %m");
                }
        }
        if (!am->monitor_drain || mon->pending - mon->sent >= MONITOR_BACKLOG_MAX) {
                unsigned budget = UINT_MAX;
                monitor_undirty(mon);
                (void)monitor_deliver(mon, &budget);
                return;
        }
        monitor_dirty(mon);
        (void)sd_event_source_set_enabled(am->monitor_drain, SD_EVENT_ON);
}

void api_monitor_done(ApiManager *am)
{
        while (am->monitor_dirty_head)
                monitor_undirty(am->monitor_dirty_head);
        am->monitor_drain = sd_event_source_disable_unref(am->monitor_drain);
        for (size_t i = 0; i < API_MONITOR_CACHE; i++)
        {
                json_object_put(am->monitor_cache[i].params);
                am->monitor_cache[i].params = NULL;
        }
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
        mon->sent = mon->pending = event_log_last_cursor(manager_get_event_log(m));
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
                mon->sent = mon->pending = event_log_last_cursor(log);
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
