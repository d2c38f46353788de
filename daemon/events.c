/* SPDX-License-Identifier: MIT */
/* Event log: a ring of the last N events plus live subscribers (see events.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "macro.h"

#define EVENT_LOG_DEFAULT_CAPACITY 4096u

struct EventSubscription {
        EventLog *log;
        EventFunc f;
        void *userdata;
        bool dead;
        EventSubscription *next;
};

struct EventLog {
        Event *ring;
        size_t capacity;
        size_t n;          /* events held */
        size_t head;       /* index of the oldest */
        uint64_t last;     /* last cursor handed out */
        EventSubscription *subs;
        unsigned dispatching;
        bool subs_dirty;
};

static const char *const event_kind_table[_EVENT_KIND_MAX] = {
        [EVENT_VM_CREATED] = "vm-created",
        [EVENT_VM_STATE] = "vm-state",
        [EVENT_VM_RM_STATUS] = "vm-rm-status",
        [EVENT_VM_PROGRESS] = "vm-progress",
        [EVENT_VM_EXITED] = "vm-exited",
        [EVENT_VM_START_FAILED] = "vm-start-failed",
        [EVENT_VM_PAGE_FAULT] = "vm-page-fault",
        [EVENT_VM_MEMORY] = "vm-memory",
        [EVENT_VM_DESTROYED] = "vm-destroyed",
        [EVENT_VM_LOST] = "vm-lost",
        [EVENT_RM_LINK] = "rm-link",
        [EVENT_DAEMON] = "daemon",
};

static const char *const event_cause_table[_EVENT_CAUSE_MAX] = {
        [EVENT_CAUSE_DAEMON] = "daemon",
        [EVENT_CAUSE_API] = "api",
        [EVENT_CAUSE_RM] = "rm",
};

const char *event_kind_to_string(EventKind k)
{
        if ((int)k < 0 || k >= _EVENT_KIND_MAX)
                return NULL;
        return event_kind_table[k];
}

const char *event_cause_kind_to_string(EventCauseKind k)
{
        if ((int)k < 0 || k >= _EVENT_CAUSE_MAX)
                return NULL;
        return event_cause_table[k];
}

static void event_done(Event *ev)
{
        free(ev->vm);
        free(ev->state);
        free(ev->details);
        free((char *)ev->cause.method);
        *ev = (Event){};
}

int event_log_new(size_t capacity, EventLog **ret)
{
        EventLog *log = calloc(1, sizeof(*log));
        if (!log)
                return -ENOMEM;
        log->capacity = capacity ? capacity : EVENT_LOG_DEFAULT_CAPACITY;
        log->ring = calloc(log->capacity, sizeof(Event));
        if (!log->ring) {
                free(log);
                return -ENOMEM;
        }
        *ret = log;
        return 0;
}

EventLog *event_log_free(EventLog *log)
{
        if (!log)
                return NULL;
        for (size_t i = 0; i < log->n; i++)
                event_done(&log->ring[(log->head + i) % log->capacity]);
        free(log->ring);
        /* Subscriptions belong to their owners; detach them so a late free is harmless. */
        for (EventSubscription *s = log->subs, *next; s; s = next) {
                next = s->next;
                if (s->dead)
                        free(s);
                else
                        s->log = NULL;
        }
        free(log);
        return NULL;
}

static void event_log_gc_subs(EventLog *log)
{
        EventSubscription **pp = &log->subs;
        while (*pp) {
                if ((*pp)->dead) {
                        EventSubscription *d = *pp;
                        *pp = d->next;
                        free(d);
                } else
                        pp = &(*pp)->next;
        }
        log->subs_dirty = false;
}

int64_t event_log_append(EventLog *log, EventKind kind, const char *vm, const char *state,
                         const EventCause *cause, const char *fmt, ...)
{
        Event ev = { .cursor = ++log->last, .kind = kind };
        struct timespec ts;
        va_list ap;
        int r;

        clock_gettime(CLOCK_REALTIME, &ts);
        ev.timestamp_usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
        ev.cause = cause ? *cause : EVENT_CAUSE_DAEMON_INIT;
        ev.cause.method = NULL;
        va_start(ap, fmt);
        r = vasprintf(&ev.details, fmt, ap);
        va_end(ap);
        if (r < 0) {
                ev.details = NULL;
                return -ENOMEM;
        }
        if ((vm && !(ev.vm = strdup(vm))) || (state && !(ev.state = strdup(state))) ||
            (cause && cause->method && !(ev.cause.method = strdup(cause->method)))) {
                event_done(&ev);
                return -ENOMEM;
        }

        if (log->n == log->capacity) {
                event_done(&log->ring[log->head]);
                log->head = (log->head + 1) % log->capacity;
                log->n--;
        }
        size_t idx = (log->head + log->n) % log->capacity;
        log->ring[idx] = ev;
        log->n++;

        /* Subscribers may unsubscribe (themselves or others) or subscribe from inside. */
        log->dispatching++;
        for (EventSubscription *s = log->subs; s; s = s->next)
                if (!s->dead)
                        s->f(&log->ring[idx], s->userdata);
        log->dispatching--;
        if (!log->dispatching && log->subs_dirty)
                event_log_gc_subs(log);
        return (int64_t)ev.cursor;
}

uint64_t event_log_last_cursor(const EventLog *log)
{
        return log->last;
}

uint64_t event_log_first_cursor(const EventLog *log)
{
        return log->n ? log->ring[log->head].cursor : 0;
}

const Event *event_log_next(const EventLog *log, uint64_t cursor, bool *ret_stale)
{
        uint64_t first = event_log_first_cursor(log);
        size_t lo = 0, hi = log->n;

        *ret_stale = first > 0 && cursor + 1 < first;
        if (*ret_stale || cursor >= log->last)
                return NULL;
        /* Cursors are increasing along the ring (with gaps where an append failed): the
         * first one above cursor. */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (log->ring[(log->head + mid) % log->capacity].cursor <= cursor)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < log->n ? &log->ring[(log->head + lo) % log->capacity] : NULL;
}

int event_log_foreach_since(EventLog *log, uint64_t cursor, EventFunc f, void *userdata)
{
        uint64_t first = event_log_first_cursor(log);
        int visited = 0;

        if (cursor > log->last)
                return -ESTALE;
        if (cursor == log->last)
                return 0;
        /* Something after cursor exists; it must all still be retained. */
        if (log->n == 0 || cursor + 1 < first)
                return -ESTALE;
        for (size_t i = 0; i < log->n; i++) {
                const Event *ev = &log->ring[(log->head + i) % log->capacity];
                if (ev->cursor <= cursor)
                        continue;
                f(ev, userdata);
                visited++;
        }
        return visited;
}

int event_log_subscribe(EventLog *log, EventFunc f, void *userdata, EventSubscription **ret)
{
        EventSubscription *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (EventSubscription){ .log = log, .f = f, .userdata = userdata };
        /* Append at the tail: subscription order is call order. */
        EventSubscription **pp = &log->subs;
        while (*pp)
                pp = &(*pp)->next;
        *pp = s;
        *ret = s;
        return 0;
}

EventSubscription *event_subscription_free(EventSubscription *s)
{
        if (!s)
                return NULL;
        if (!s->log) {
                free(s);
                return NULL;
        }
        s->dead = true;
        if (s->log->dispatching)
                s->log->subs_dirty = true;
        else
                event_log_gc_subs(s->log);
        return NULL;
}
