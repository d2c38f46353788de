#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * RmClient: RM calls over an RmLink (rm-protocol.md sections 2-5 and 9).
 *
 * Owns: 16-bit cyclic sequence numbers, request fragmentation (RM_SEND_MAX_PAYLOAD), reply
 * and notification reassembly (RM_REASM_POLICY_CLIENT), reply matching, per-call timeouts,
 * notification fan-out, counters.
 *
 * Invariants:
 *  - Exactly one request is on the wire at a time (the RM parks one reply per client and
 *    drops an older parked reply if a client pipelines, section 4.4). Waiting calls sit in
 *    per-queue FIFOs served round-robin: rm_client_call() uses one shared queue, so its calls
 *    go out in call order; rm_client_call_queued(key) gives each key (e.g. a VMID) its own
 *    FIFO, so one busy VM cannot starve another while each VM keeps its own order.
 *  - A call is handed to the link inside rm_client_call*() when nothing is on the wire and
 *    no other call waits; otherwise from the loop, after the call ahead completes. Either
 *    way its callback runs later, from the loop (a failed send too).
 *  - All packets of one request are queued back to back on the link (never interleaved).
 *  - A reply completes the call on the wire only if seq AND msg_id match; anything else
 *    (reply to nothing, wrong msg_id, late reply after a timeout) is logged and ignored.
 *  - Packets are processed in arrival order: a notification that arrives before a reply
 *    has its handlers run before the call's callback.
 *  - Every call accepted by rm_client_call*() (return 0) gets its callback exactly once,
 *    always from the event loop except rm_call_cancel() / rm_client_free() (synchronous).
 *  - The timeout of a call runs from the moment its request is handed to the link (time in
 *    the queue does not count). After a timeout the next call is sent at once; the late
 *    reply, if any, is ignored. A cancelled call that is on the wire keeps the wire slot
 *    until its reply or its timeout, so the RM never sees two requests from us.
 *  - Hostile or broken input (bad header, wrong length, stray continuation, reply to
 *    nothing, unknown notification, request-type packets) is counted and logged with its
 *    bytes (hex, at most 64) at warning level, rate limited (then debug); it never
 *    completes a call except as documented for -EIO / -EBADMSG below.
 *
 * Callback errors (r): 0 RM_OK (data = reply data after the error word); -EREMOTEIO the RM
 * answered rm_error != 0 (data = whatever followed the error word); -ETIMEDOUT; -ENOTCONN
 * link lost (every pending and queued call); -ECANCELED rm_call_cancel() / rm_client_free();
 * -EIO the reply was aborted mid-reassembly; -EBADMSG the matching reply was shorter than
 * its 4-byte error word. rm_error is 0 unless r == -EREMOTEIO.
 * This module logs (it is the one place that sees link-level garbage); the manager logs
 * call failures it cares about.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef struct sd_event sd_event;
typedef struct RmLink RmLink;
typedef struct RmClient RmClient;
typedef struct RmCall RmCall;
typedef struct RmNotifyHandler RmNotifyHandler;

#define RM_CLIENT_DEFAULT_TIMEOUT_USEC (10u * 1000u * 1000u)
#define RM_CALL_QUEUE_DEFAULT UINT32_MAX /* the queue rm_client_call() uses */

typedef void (*RmCallFn)(RmClient *c, int r, uint32_t rm_error, const uint8_t *data,
                         size_t data_len, void *userdata);
/* payload is the notification's whole payload (no error word), valid during the call. */
typedef void (*RmNotifyFn)(RmClient *c, uint32_t msg_id, const uint8_t *payload, size_t len,
                           void *userdata);
/* Link state as seen by the client: called after pending calls were failed (down) or once the
 * link is usable (up). error as in RmLinkStateFn. */
typedef void (*RmClientLinkFn)(RmClient *c, bool up, int error, void *userdata);
/*
 * Latency hook (benchmarks): called once per completed call, before its callback.
 * queue_usec: from rm_client_call*() to the request handed to the link (0 if never sent);
 * rpc_usec: from handed to the link to completion (0 if never sent). CLOCK_MONOTONIC.
 */
typedef void (*RmLatencyFn)(RmClient *c, uint32_t msg_id, int r, uint64_t queue_usec,
                            uint64_t rpc_usec, void *userdata);

/*
 * Unmatched-reply hook: called for every reply that matches no call (a duplicate, a late
 * reply after its timeout, a reply to nothing), after it was counted and logged. payload is
 * the whole reply payload (error word first), valid during the call. A manager uses it to
 * notice side effects nobody waits for (a duplicated VM_ALLOCATE allocated a second VMID).
 */
typedef void (*RmUnmatchedFn)(RmClient *c, uint32_t msg_id, const uint8_t *payload, size_t len,
                              void *userdata);

typedef struct RmClientStats {
        uint64_t calls;         /* accepted by rm_client_call*() */
        uint64_t requests_sent; /* requests handed to the link */
        uint64_t packets_sent;
        uint64_t replies;   /* matching replies (RM_OK or not) */
        uint64_t rm_errors; /* replies with rm_error != 0 */
        uint64_t timeouts;
        uint64_t cancelled;
        uint64_t link_failures;     /* calls failed with -ENOTCONN */
        uint64_t aborted;           /* calls failed with -EIO / -EBADMSG */
        uint64_t notifications;     /* delivered (known IDs) */
        uint64_t bad_packets;       /* dropped by header/reassembly rules or wrong type */
        uint64_t unmatched_replies; /* reply to nothing / wrong msg_id / late */
        uint64_t unknown_notifications;
        uint64_t packets_received;
} RmClientStats;

/*
 * Create a client on link (borrowed: the link must outlive the client; the client installs
 * itself as the link's handlers). Does not start the link. Returns 0 or -ENOMEM.
 */
int rm_client_new(RmClient **ret, sd_event *e, RmLink *link);
/* Fails every pending and queued call with -ECANCELED (callbacks run), detaches from the
 * link. Must not be called from one of this client's callbacks. NULL-safe, returns NULL. */
RmClient *rm_client_free(RmClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(RmClient *, rm_client_free);

/* Default timeout for calls passing timeout_usec = 0 (initially 10 s; 0 restores that). */
void rm_client_set_default_timeout(RmClient *c, uint64_t usec);
void rm_client_set_link_handler(RmClient *c, RmClientLinkFn fn, void *userdata);
void rm_client_set_latency_hook(RmClient *c, RmLatencyFn fn, void *userdata);
void rm_client_set_unmatched_hook(RmClient *c, RmUnmatchedFn fn, void *userdata);
bool rm_client_is_connected(const RmClient *c);
void rm_client_get_stats(const RmClient *c, RmClientStats *ret);
/* Calls waiting (not on the wire) and whether one is on the wire. */
size_t rm_client_queued(const RmClient *c);
bool rm_client_busy(const RmClient *c);

/*
 * Start an RM call. payload (len bytes, may be NULL when len == 0) is copied.
 * timeout_usec 0 = the client default. ret_call (optional) receives a handle valid until
 * the callback has run; pass it to rm_call_cancel().
 * Returns 0 (callback will run exactly once), or, with no callback: -E2BIG len >
 * RM_SEND_MAX_PAYLOAD, -ENOTCONN link down, -ENOMEM, -EINVAL (no callback).
 */
int rm_client_call(RmClient *c, uint32_t msg_id, const void *payload, size_t len,
                   uint64_t timeout_usec, RmCallFn cb, void *userdata, RmCall **ret_call);
/* The same, in the FIFO of queue_key (see invariants; e.g. the VMID the call is about). */
int rm_client_call_queued(RmClient *c, uint32_t queue_key, uint32_t msg_id, const void *payload,
                          size_t len, uint64_t timeout_usec, RmCallFn cb, void *userdata,
                          RmCall **ret_call);

/* Run the callback now with -ECANCELED and forget the call. NULL-safe. Must not be called
 * for a call whose callback already ran. */
void rm_call_cancel(RmCall *call);
uint32_t rm_call_get_msg_id(const RmCall *call);

/*
 * The seq the next request will carry (then +1 per request, 65535 wraps to 0). A new client
 * starts at a random value so that a reply parked by the RM for a previous daemon instance
 * is unlikely to match; tests set it to get fixed bytes.
 */
void rm_client_set_next_seq(RmClient *c, uint16_t seq);

/*
 * Subscribe to notifications: msg_id = a notification ID, or 0 for all. Handlers run in
 * registration order for each notification, notifications in arrival order. ret (optional)
 * receives a handle for rm_client_remove_notify_handler(). Returns 0 or -ENOMEM.
 * Handlers may be added or removed from inside handlers.
 */
int rm_client_add_notify_handler(RmClient *c, uint32_t msg_id, RmNotifyFn fn, void *userdata,
                                 RmNotifyHandler **ret);
void rm_client_remove_notify_handler(RmClient *c, RmNotifyHandler *h); /* NULL-safe */

/* Is msg_id a notification ID this client delivers (section 9, plus the simulator's
 * extension range)? Anything else arriving as a notification is "unknown" and dropped. */
bool rm_client_notification_known(uint32_t msg_id);
