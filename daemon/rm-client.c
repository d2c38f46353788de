/* SPDX-License-Identifier: MIT */
/*
 * RmClient: calls, queues, sequence numbers and timeouts (see rm-client.h for the contract).
 * The receive path (reassembly, reply matching, notification fan-out, logging of bad
 * input) is in rm-client-rx.c; both share rm-client-internal.h.
 *
 * Call life cycle:
 *   rm_client_call*()  -> waiting in the FIFO of its queue key; when nothing is on the wire
 *                         and nothing else waits, it is sent at once (client_send_next()),
 *                         otherwise the pump sends it from a defer source or after a
 *                         completion. A send that fails leaves the call in flight with
 *                         send_error set; the pump completes it from the loop, so a callback
 *                         never runs on the caller's stack.
 *   client_send_next() -> the head call of the next queue in round-robin order gets the next
 *                         seq, all its packets go to the link back to back, the deadline is
 *                         set (client_arm_timer(): the timer is armed lazily, see there)
 *   reply / timeout / link loss / cancel -> call_complete(): unlinked, latency hook, callback,
 *                         freed; then the pump sends the next one.
 * A cancelled call that is on the wire becomes a "zombie" (callback already run, cb = NULL)
 * that holds the wire slot until its reply or its deadline, so we never pipeline.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "log.h"
#include "rm-client-internal.h"
#include "rm-ids.h"
#include "rm-link.h"
#include "rm-wire.h"

uint64_t rm_client_now_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int client_pump_handler(sd_event_source *s, void *userdata);
static int client_timer_handler(sd_event_source *s, uint64_t usec, void *userdata);

int rm_client_new(RmClient **ret, sd_event *e, RmLink *link)
{
        RmClient *c;
        uint16_t seq = 0;
        int r;

        if (!ret || !e || !link)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(e);
        c->link = link;
        c->default_timeout = RM_CLIENT_DEFAULT_TIMEOUT_USEC;
        rm_reassembler_init(&c->reasm, RM_REASM_POLICY_CLIENT);
        if (getrandom(&seq, sizeof(seq), GRND_NONBLOCK) != sizeof(seq))
                seq = (uint16_t)rm_client_now_usec();
        c->next_seq = seq;

        r = sd_event_add_defer(e, &c->pump, client_pump_handler, c);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_enabled(c->pump, SD_EVENT_OFF);
        (void)sd_event_source_set_description(c->pump, "rm-client-pump");
        /* The deadline is set per call; created disabled. */
        r = sd_event_add_time(e, &c->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, client_timer_handler,
                              c);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        (void)sd_event_source_set_description(c->timer, "rm-client-timeout");

        rm_link_set_handlers(link, rm_client_link_recv, rm_client_link_state, c);
        *ret = c;
        return 0;
fail:
        c->pump = sd_event_source_disable_unref(c->pump);
        sd_event_unref(c->event);
        free(c);
        return r;
}

void rm_client_set_default_timeout(RmClient *c, uint64_t usec)
{
        c->default_timeout = usec ? usec : RM_CLIENT_DEFAULT_TIMEOUT_USEC;
}

void rm_client_set_link_handler(RmClient *c, RmClientLinkFn fn, void *userdata)
{
        c->link_fn = fn;
        c->link_userdata = userdata;
}

void rm_client_set_latency_hook(RmClient *c, RmLatencyFn fn, void *userdata)
{
        c->latency_fn = fn;
        c->latency_userdata = userdata;
}

void rm_client_set_unmatched_hook(RmClient *c, RmUnmatchedFn fn, void *userdata)
{
        c->unmatched_fn = fn;
        c->unmatched_userdata = userdata;
}

void rm_client_set_next_seq(RmClient *c, uint16_t seq)
{
        c->next_seq = seq;
}

bool rm_client_is_connected(const RmClient *c)
{
        return c && rm_link_is_up(c->link);
}

void rm_client_get_stats(const RmClient *c, RmClientStats *ret)
{
        *ret = c->stats;
}

size_t rm_client_queued(const RmClient *c)
{
        return c->n_waiting;
}

bool rm_client_busy(const RmClient *c)
{
        return c->inflight != NULL;
}

uint32_t rm_call_get_msg_id(const RmCall *call)
{
        return call->msg_id;
}

/* ---- queues: a FIFO per key, non-empty queues in a ring served round-robin ---- */

static RmCallQueue *queue_find(RmClient *c, uint32_t key)
{
        for (RmCallQueue *q = c->ring_head; q; q = q->next)
                if (q->key == key)
                        return q;
        return NULL;
}

static void ring_append(RmClient *c, RmCallQueue *q)
{
        q->next = NULL;
        if (c->ring_tail)
                c->ring_tail->next = q;
        else
                c->ring_head = q;
        c->ring_tail = q;
}

static void ring_remove(RmClient *c, RmCallQueue *q)
{
        RmCallQueue **pp = &c->ring_head, *prev = NULL;

        for (; *pp && *pp != q; pp = &(*pp)->next)
                prev = *pp;
        if (!*pp)
                return;
        *pp = q->next;
        if (c->ring_tail == q)
                c->ring_tail = prev;
        q->next = NULL;
}

static int queue_push(RmClient *c, RmCall *call)
{
        RmCallQueue *q = queue_find(c, call->queue_key);

        if (!q) {
                q = calloc(1, sizeof(*q));
                if (!q)
                        return -ENOMEM;
                q->key = call->queue_key;
                ring_append(c, q);
        }
        call->queue = q;
        call->prev = q->tail;
        call->next = NULL;
        if (q->tail)
                q->tail->next = call;
        else
                q->head = call;
        q->tail = call;
        c->n_waiting++;
        return 0;
}

/* Unlink a waiting call; an emptied queue leaves the ring and is freed. */
static void queue_unlink(RmClient *c, RmCall *call)
{
        RmCallQueue *q = call->queue;

        if (!q)
                return;
        if (call->prev)
                call->prev->next = call->next;
        else
                q->head = call->next;
        if (call->next)
                call->next->prev = call->prev;
        else
                q->tail = call->prev;
        call->queue = NULL;
        call->next = call->prev = NULL;
        c->n_waiting--;
        if (!q->head) {
                ring_remove(c, q);
                free(q);
        }
}

/* Next call in round-robin order: the head of the first queue, whose queue then moves to
 * the back of the ring. The key served last yields to the others even when its queue
 * emptied and came back since (a call sent at once from rm_client_call*() empties its queue
 * before the calls behind it arrive). */
static RmCall *queue_pop_next(RmClient *c)
{
        RmCallQueue *q = c->ring_head;
        RmCall *call;

        if (!q)
                return NULL;
        if (c->have_last_key && q->key == c->last_key && q->next) {
                ring_remove(c, q);
                ring_append(c, q);
                q = c->ring_head;
        }
        call = q->head;
        c->last_key = q->key;
        c->have_last_key = true;
        queue_unlink(c, call);
        /* q still exists iff it has more calls: rotate it to the back. */
        if (c->ring_head == q && q->head) {
                ring_remove(c, q);
                ring_append(c, q);
        }
        return call;
}

/* ---- completion ---- */

void rm_client_call_complete(RmClient *c, RmCall *call, int r, uint32_t rm_error,
                             const uint8_t *data, size_t data_len)
{
        uint64_t now = rm_client_now_usec();
        RmCallFn cb = call->cb;

        /* The timer stays armed (see client_arm_timer()). */
        if (call == c->inflight)
                c->inflight = NULL;
        else
                queue_unlink(c, call);

        if (cb) {
                switch (r) {
                case 0:
                        break;
                case -EREMOTEIO:
                        c->stats.rm_errors++;
                        break;
                case -ETIMEDOUT:
                        c->stats.timeouts++;
                        break;
                case -ECANCELED:
                        c->stats.cancelled++;
                        break;
                case -ENOTCONN:
                        c->stats.link_failures++;
                        break;
                default:
                        c->stats.aborted++;
                        break;
                }
                if (c->latency_fn)
                        c->latency_fn(c, call->msg_id, r,
                                      call->t_sent ? call->t_sent - call->t_submit : 0,
                                      call->t_sent ? now - call->t_sent : 0, c->latency_userdata);
                cb(c, r, r == -EREMOTEIO ? rm_error : 0, r >= 0 || r == -EREMOTEIO ? data : NULL,
                   r >= 0 || r == -EREMOTEIO ? data_len : 0, call->userdata);
        }
        free(call);
        rm_client_schedule_pump(c);
}

void rm_client_fail_all(RmClient *c, int r)
{
        RmCall *call;

        if (c->inflight)
                rm_client_call_complete(c, c->inflight, r, 0, NULL, 0);
        /* Callbacks may cancel or add calls; take one at a time. */
        while ((call = c->ring_head ? c->ring_head->head : NULL))
                rm_client_call_complete(c, call, r, 0, NULL, 0);
}

void rm_call_cancel(RmCall *call)
{
        RmClient *c;

        if (!call)
                return;
        c = call->client;
        if (call == c->inflight) {
                /* Keep the wire slot: the RM will still answer this seq. */
                RmCallFn cb = call->cb;

                if (!cb)
                        return; /* already a zombie */
                call->cb = NULL;
                c->stats.cancelled++;
                cb(c, -ECANCELED, 0, NULL, 0, call->userdata);
                return;
        }
        rm_client_call_complete(c, call, -ECANCELED, 0, NULL, 0);
}

RmClient *rm_client_free(RmClient *c)
{
        RmNotifyHandler *h, *next;

        if (!c)
                return NULL;
        c->closing = true;
        rm_client_fail_all(c, -ECANCELED);
        /* A zombie in flight has no callback left. */
        free(c->inflight);
        c->inflight = NULL;
        rm_link_set_handlers(c->link, NULL, NULL, NULL);
        for (h = c->handlers; h; h = next) {
                next = h->next;
                free(h);
        }
        c->pump = sd_event_source_disable_unref(c->pump);
        c->timer = sd_event_source_disable_unref(c->timer);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

/* ---- sending ---- */

void rm_client_schedule_pump(RmClient *c)
{
        bool work = c->inflight ? c->inflight->send_error < 0 : c->n_waiting > 0;

        if (work && c->pump)
                (void)sd_event_source_set_enabled(c->pump, SD_EVENT_ONESHOT);
}

/*
 * Make the timer fire no later than deadline. It is armed lazily: left armed when a call
 * completes, moved only when a new deadline is earlier than the armed one (or the timer is
 * off); when it fires before the deadline of the call then in flight, the handler re-arms it
 * for that deadline. Each move costs sd-event a timerfd_settime(), which disarming after
 * every reply and arming before every request paid twice per call.
 */
static int client_arm_timer(RmClient *c, uint64_t deadline)
{
        int r;

        if (c->timer_at != 0 && c->timer_at <= deadline)
                return 0;
        r = sd_event_source_set_time(c->timer, deadline);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
        c->timer_at = r >= 0 ? deadline : 0;
        return r;
}

/* Put every packet of call on the link, back to back. */
static int client_send(RmClient *c, RmCall *call)
{
        uint8_t pkt[RM_PACKET_MAX];
        int nf, r;

        nf = rm_fragments_for(call->len, RM_SEND_MAX_PAYLOAD);
        if (nf < 0)
                return nf; /* checked at submission */
        for (int i = 0; i <= nf; i++) {
                ssize_t n = rm_packet_build(RM_MSG_REQUEST, call->seq, call->msg_id, call->payload,
                                            call->len, RM_SEND_MAX_PAYLOAD, (size_t)i, pkt);
                if (n < 0)
                        return (int)n;
                /* After the first packet only -ENOMEM can fail here (the link was up for the
                 * first one and goes down only from the loop). A partial request then ends
                 * with a timeout: the RM discards it when our next request starts. */
                r = rm_link_send(c->link, pkt, (size_t)n);
                if (r < 0)
                        return i == 0 ? r : 0;
                c->stats.packets_sent++;
        }
        return 0;
}

/* Put the next waiting call on the wire and set its deadline. Never calls back: a call that
 * could not be sent (or got no timer) stays in flight with send_error set, for client_pump()
 * to complete from the loop. */
static void client_send_next(RmClient *c)
{
        RmCall *call = queue_pop_next(c);
        int r;

        call->seq = c->next_seq++;
        call->t_sent = rm_client_now_usec();
        c->inflight = call;
        r = client_send(c, call);
        if (r < 0) {
                log_warning_errno(r, "Cannot send RM call %s (seq %u): %m",
                                  rm_msg_id_to_string(call->msg_id) ?: "?", call->seq);
                call->t_sent = 0;
                call->send_error = r;
                return;
        }
        c->stats.requests_sent++;
        log_debug("RM call %s 0x%08x seq %u sent (%zu payload bytes)",
                  rm_msg_id_to_string(call->msg_id) ?: "?", call->msg_id, call->seq, call->len);
        call->deadline = call->t_sent + call->timeout;
        r = client_arm_timer(c, call->deadline);
        if (r < 0)
                /* Without a timer the call could wait forever: fail it (from the loop). */
                call->send_error = r;
}

static void client_pump(RmClient *c)
{
        for (;;) {
                RmCall *call = c->inflight;

                if (call && call->send_error < 0) {
                        rm_client_call_complete(c, call, call->send_error, 0, NULL, 0);
                        continue;
                }
                if (call || c->n_waiting == 0)
                        return;
                if (!rm_link_is_up(c->link)) {
                        rm_client_fail_all(c, -ENOTCONN);
                        return;
                }
                client_send_next(c);
        }
}

static int client_pump_handler(sd_event_source *s, void *userdata)
{
        client_pump(userdata);
        return 0;
}

void rm_client_pump_now(RmClient *c)
{
        client_pump(c);
}

static int client_timer_handler(sd_event_source *s, uint64_t usec, void *userdata)
{
        RmClient *c = userdata;
        RmCall *call = c->inflight;
        int r;

        c->timer_at = 0; /* ONESHOT: off now */
        if (!call || call->send_error < 0)
                return 0; /* armed for a call that completed; the pump fails a lost send */
        if (call->deadline > rm_client_now_usec()) {
                /* Armed for an earlier call's deadline: wait for this one's. */
                r = client_arm_timer(c, call->deadline);
                if (r >= 0)
                        return 0;
                rm_client_call_complete(c, call, r, 0, NULL, 0);
                client_pump(c);
                return 0;
        }
        c->last_timeout_seq = call->seq;
        c->last_timeout_msg_id = call->msg_id;
        c->have_last_timeout = true;
        log_warning("RM call %s 0x%08x seq %u timed out after %" PRIu64 " ms%s",
                    rm_msg_id_to_string(call->msg_id) ?: "?", call->msg_id, call->seq,
                    call->timeout / 1000, call->cb ? "" : " (already cancelled)");
        rm_client_call_complete(c, call, -ETIMEDOUT, 0, NULL, 0);
        client_pump(c);
        return 0;
}

int rm_client_call_queued(RmClient *c, uint32_t queue_key, uint32_t msg_id, const void *payload,
                          size_t len, uint64_t timeout_usec, RmCallFn cb, void *userdata,
                          RmCall **ret_call)
{
        RmCall *call;
        int r;

        if (!c || !cb || (len > 0 && !payload))
                return -EINVAL;
        if (len > RM_SEND_MAX_PAYLOAD)
                return -E2BIG;
        if (c->closing || !rm_link_is_up(c->link))
                return -ENOTCONN;

        call = calloc(1, sizeof(*call) + len);
        if (!call)
                return -ENOMEM;
        call->client = c;
        call->queue_key = queue_key;
        call->msg_id = msg_id;
        call->len = len;
        if (len)
                memcpy(call->payload, payload, len);
        call->timeout = timeout_usec ? timeout_usec : c->default_timeout;
        call->cb = cb;
        call->userdata = userdata;
        call->t_submit = rm_client_now_usec();
        r = queue_push(c, call);
        if (r < 0) {
                free(call);
                return r;
        }
        c->stats.calls++;
        if (ret_call)
                *ret_call = call;
        /* Nothing on the wire and nothing else waiting: no fairness to keep, send it now
         * instead of one loop turn later. */
        if (!c->inflight && c->n_waiting == 1)
                client_send_next(c);
        rm_client_schedule_pump(c);
        return 0;
}

int rm_client_call(RmClient *c, uint32_t msg_id, const void *payload, size_t len,
                   uint64_t timeout_usec, RmCallFn cb, void *userdata, RmCall **ret_call)
{
        return rm_client_call_queued(c, RM_CALL_QUEUE_DEFAULT, msg_id, payload, len, timeout_usec,
                                     cb, userdata, ret_call);
}
