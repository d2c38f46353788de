#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * The event log: every change the manager makes or observes, in order, with a cursor.
 *
 * Owns: a bounded ring of Event records (the "retained window") and the list of live
 * subscribers. Cursors are monotonic u64 starting at 1 in each daemon run; cursor 0 means
 * "before the first event". Every event records its CAUSE: an API call (peer uid/pid, passed
 * in by the API layer), an RM notification (its msg_id), or the daemon itself (recovery,
 * timeouts, link changes).
 *
 * Invariants: events are appended only by the manager, on the event loop thread; subscribers
 * are called synchronously from event_log_append(), in subscription order, after the event
 * is stored (so a subscriber may read it back). A subscriber may unsubscribe itself (or any
 * other) from inside its callback.
 *
 * Errors: negative errno. event_log_foreach_since() returns -ESTALE when events after the
 * given cursor have already left the window (or the cursor is from the future, e.g. from an
 * earlier daemon run): the caller must resynchronize from a snapshot.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum EventKind {
        EVENT_VM_CREATED,       /* a definition was recorded */
        EVENT_VM_STATE,         /* the daemon's VmState changed (details: "from -> to") */
        EVENT_VM_RM_STATUS,     /* NOTIFY_VM_STATUS: RM/OS/app status of the VM changed */
        EVENT_VM_PROGRESS,      /* a start stage began or a parcel was lent */
        EVENT_VM_EXITED,        /* the guest exited (details: type, code, flags, crash msg) */
        EVENT_VM_START_FAILED,  /* a start failed and was unwound (details: step and error) */
        EVENT_VM_PAGE_FAULT,    /* a demand-paging fault was served */
        EVENT_VM_MEMORY,        /* memory released by the guest was reclaimed */
        EVENT_VM_DESTROYED,     /* the VM and its records are gone */
        EVENT_VM_LOST,          /* the RM no longer knows the VM (RM restarted, state lost) */
        EVENT_RM_LINK,          /* the RM link went up or down */
        EVENT_DAEMON,           /* daemon-wide: recovery done, quarantined record, ... */
        _EVENT_KIND_MAX,
        _EVENT_KIND_INVALID = -22, /* -EINVAL */
} EventKind;

typedef enum EventCauseKind {
        EVENT_CAUSE_DAEMON,     /* the daemon on its own (recovery, timeout, unwind) */
        EVENT_CAUSE_API,        /* an API call: uid/pid of the peer, method name */
        EVENT_CAUSE_RM,         /* an RM notification: rm_msg_id */
        _EVENT_CAUSE_MAX,
        _EVENT_CAUSE_INVALID = -22,
} EventCauseKind;

typedef struct EventCause {
        EventCauseKind kind;
        uid_t uid;              /* EVENT_CAUSE_API */
        pid_t pid;              /* EVENT_CAUSE_API */
        const char *method;     /* EVENT_CAUSE_API: e.g. "io.gunyah.Manager.StartVM" (may be NULL) */
        uint32_t rm_msg_id;     /* EVENT_CAUSE_RM: e.g. RM_NOTIFY_VM_STATUS */
} EventCause;

#define EVENT_CAUSE_DAEMON_INIT ((EventCause){ .kind = EVENT_CAUSE_DAEMON })

typedef struct Event {
        uint64_t cursor;
        uint64_t timestamp_usec; /* CLOCK_REALTIME */
        EventKind kind;
        char *vm;               /* VM name, NULL for daemon-wide events */
        char *state;            /* the VM's VmState name after the event (NULL if no VM) */
        char *details;          /* human-readable one-liner, never NULL */
        EventCause cause;       /* cause.method points into this Event (copied) */
} Event;

typedef struct EventLog EventLog;
typedef struct EventSubscription EventSubscription;

typedef void (*EventFunc)(const Event *ev, void *userdata);

/* capacity: number of events retained (0 = default 4096). Returns 0 or -ENOMEM. */
int event_log_new(size_t capacity, EventLog **ret);
/* Frees the log and every subscription still registered (without calling them). NULL ok. */
EventLog *event_log_free(EventLog *log);

/* Append an event; calls the subscribers. vm and state may be NULL. Returns the new cursor
 * (> 0) or -ENOMEM (the event is then lost, but cursors stay monotonic). */
int64_t event_log_append(EventLog *log, EventKind kind, const char *vm, const char *state,
                         const EventCause *cause, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));

/* Call f for every retained event with cursor > cursor, oldest first. Returns the number of
 * events visited (>= 0), or -ESTALE when the window no longer holds every event after cursor
 * (cursor < first_retained - 1), or when cursor > last cursor. */
int event_log_foreach_since(EventLog *log, uint64_t cursor, EventFunc f, void *userdata);

/* The oldest retained event with a cursor above cursor, NULL if none. *ret_stale is set when
 * events after cursor have already left the window (as event_log_foreach_since's -ESTALE).
 * The pointer is valid until the next append. */
const Event *event_log_next(const EventLog *log, uint64_t cursor, bool *ret_stale);
uint64_t event_log_last_cursor(const EventLog *log);  /* 0 when nothing was appended yet */
uint64_t event_log_first_cursor(const EventLog *log); /* oldest retained, 0 when empty */

/* Subscribe to every event appended from now on. The subscription belongs to the caller:
 * free it with event_subscription_free() (safe from within the callback) before the log.
 * Returns 0 or -ENOMEM. */
int event_log_subscribe(EventLog *log, EventFunc f, void *userdata, EventSubscription **ret);
EventSubscription *event_subscription_free(EventSubscription *s);

const char *event_kind_to_string(EventKind k);   /* "vm-created", "vm-state", ... */
const char *event_cause_kind_to_string(EventCauseKind k); /* "daemon", "api", "rm" */

static inline void event_log_freep(EventLog **p)
{
        if (*p)
                event_log_free(*p);
}
static inline void event_subscription_freep(EventSubscription **p)
{
        if (*p)
                event_subscription_free(*p);
}
