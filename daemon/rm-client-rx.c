/* SPDX-License-Identifier: MIT */
/*
 * RmClient receive path: every packet from the link goes through the reassembler
 * (RM_REASM_POLICY_CLIENT, rm-protocol.md section 4.2) in arrival order, and each whole
 * message is handled before the next packet is looked at. So a notification that the RM
 * queued before a reply (section 9, "Ordering facts") reaches its handlers before the
 * reply's callback runs, without any reordering buffer.
 *
 * What is not a valid reply or notification is counted and logged with its bytes:
 *   - a packet the reassembler drops (bad header, stray or mismatched continuation, too long);
 *   - a partial message aborted by a newer one (a matching reply in progress -> call -EIO);
 *   - a reply whose seq or msg_id is not the call on the wire (Linux ignores those too);
 *   - a notification with an ID we do not know; a REQUEST-type message from the RM.
 * Warnings are limited to RM_CLIENT_BAD_BURST per RM_CLIENT_BAD_WINDOW_USEC; past that the
 * same lines go out at debug level, so a hostile peer cannot flood the journal.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rm-client-internal.h"
#include "rm-error.h"
#include "rm-ids.h"
#include "rm-link.h"
#include "rm-wire.h"

#define RM_CLIENT_HEX_MAX 64u
#define RM_CLIENT_BAD_BURST 20u
#define RM_CLIENT_BAD_WINDOW_USEC (10u * 1000u * 1000u)
/* Notification IDs have bit 20 set (0x5110xxxx, 0x5610xxxx, 0x5F10xxxx), requests do not. */
#define RM_NOTIFY_ID_BIT 0x00100000u

bool rm_client_notification_known(uint32_t msg_id)
{
        return (msg_id & RM_NOTIFY_ID_BIT) && rm_msg_id_to_string(msg_id);
}

static int bad_input_level(RmClient *c)
{
        uint64_t now = rm_client_now_usec();

        if (now - c->log_window_start > RM_CLIENT_BAD_WINDOW_USEC) {
                if (c->log_window_count > RM_CLIENT_BAD_BURST)
                        log_warning("RM link: %u more reports of bad input were logged at "
                                    "debug level",
                                    c->log_window_count - RM_CLIENT_BAD_BURST);
                c->log_window_start = now;
                c->log_window_count = 0;
        }
        return c->log_window_count++ < RM_CLIENT_BAD_BURST ? LOG_WARNING : LOG_DEBUG;
}

/* "RM link (<link>): <what> (<total> bytes: <hex of the first len, at most 64>)" at a
 * rate-limited warning level. */
static void _printf_(5, 6)
    log_bad(RmClient *c, const uint8_t *bytes, size_t len, size_t total, const char *fmt, ...)
{
        char what[256], hex[LOG_HEX_BUF_SIZE(RM_CLIENT_HEX_MAX)];
        int level = bad_input_level(c);
        va_list ap;

        if (level > log_get_max_level())
                return;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        log_full(level, "RM link (%s): %s (%zu bytes: %s)", rm_link_describe(c->link), what, total,
                 log_hex(bytes, len, RM_CLIENT_HEX_MAX, hex, sizeof(hex)));
}

/* The same for a whole message: its header (re-packed, byte for byte what came in, since
 * the reassembler only accepts valid headers) followed by the start of its payload. */
#define log_bad_msg(c, h, payload, len, ...)                                                       \
        do {                                                                                       \
                uint8_t m_[RM_HEADER_SIZE + RM_CLIENT_HEX_MAX];                                    \
                size_t k_ = MIN((size_t)(len), (size_t)RM_CLIENT_HEX_MAX);                         \
                rm_header_pack((h), m_);                                                           \
                if (k_)                                                                            \
                        memcpy(m_ + RM_HEADER_SIZE, (payload), k_);                                \
                log_bad((c), m_, RM_HEADER_SIZE + k_, RM_HEADER_SIZE + (len), __VA_ARGS__);        \
        } while (0)

static const char *id_name(uint32_t msg_id)
{
        return rm_msg_id_to_string(msg_id) ?: "unknown";
}

static bool call_matches(const RmCall *call, const RmHeader *h)
{
        return call && !call->send_error && call->seq == h->seq && call->msg_id == h->msg_id;
}

static void handle_aborted(RmClient *c, const RmHeader *h)
{
        RmCall *call = c->inflight;

        c->stats.bad_packets++;
        if (h->type == RM_MSG_REPLY && call_matches(call, h)) {
                log_full(bad_input_level(c),
                         "RM link: reply to %s seq %u aborted mid-reassembly (%u continuation(s) "
                         "announced); failing the call",
                         id_name(h->msg_id), h->seq, h->num_fragments);
                rm_client_call_complete(c, call, -EIO, 0, NULL, 0);
                return;
        }
        log_full(bad_input_level(c),
                 "RM link: partial %s %s 0x%08x seq %u (%u continuation(s) announced) "
                 "discarded: interrupted by another message",
                 rm_msg_type_to_string(h->type) ?: "?", id_name(h->msg_id), h->msg_id, h->seq,
                 h->num_fragments);
}

static void handle_reply(RmClient *c, const RmHeader *h, const uint8_t *payload, size_t len)
{
        RmCall *call = c->inflight;
        const uint8_t *data;
        size_t data_len;
        uint32_t rm_err;
        int r;

        if (!call_matches(call, h)) {
                c->stats.unmatched_replies++;
                if (c->have_last_timeout && h->seq == c->last_timeout_seq &&
                    h->msg_id == c->last_timeout_msg_id)
                        log_info("RM link: late reply to %s seq %u (after its timeout) ignored",
                                 id_name(h->msg_id), h->seq);
                else if (call)
                        log_bad_msg(c, h, payload, len,
                                    "reply %s 0x%08x seq %u does not match the call on the wire "
                                    "(%s 0x%08x seq %u); ignored",
                                    id_name(h->msg_id), h->msg_id, h->seq, id_name(call->msg_id),
                                    call->msg_id, call->seq);
                else
                        log_bad_msg(c, h, payload, len,
                                    "reply %s 0x%08x seq %u with no call on the wire; ignored",
                                    id_name(h->msg_id), h->msg_id, h->seq);
                if (c->unmatched_fn)
                        c->unmatched_fn(c, h->msg_id, payload, len, c->unmatched_userdata);
                return;
        }

        c->stats.replies++;
        /* The reply we waited for is in: nothing else is due, so back to the loop instead of
         * a read() that would only say EAGAIN (a notification behind it wakes us again). */
        rm_link_yield(c->link);
        r = rm_reply_split(payload, len, &rm_err, &data, &data_len);
        if (r < 0) {
                log_bad_msg(c, h, payload, len, "reply to %s seq %u shorter than its error word",
                            id_name(h->msg_id), h->seq);
                rm_client_call_complete(c, call, -EBADMSG, 0, NULL, 0);
                return;
        }
        if (rm_err != RM_OK) {
                log_debug("RM call %s seq %u: RM error 0x%x", id_name(h->msg_id), h->seq, rm_err);
                rm_client_call_complete(c, call, -EREMOTEIO, rm_err, data, data_len);
                return;
        }
        log_debug("RM call %s seq %u: OK, %zu data bytes", id_name(h->msg_id), h->seq, data_len);
        rm_client_call_complete(c, call, 0, 0, data, data_len);
}

static void handlers_sweep(RmClient *c)
{
        RmNotifyHandler **pp = &c->handlers;

        while (*pp) {
                RmNotifyHandler *h = *pp;

                if (h->removed) {
                        *pp = h->next;
                        free(h);
                } else
                        pp = &h->next;
        }
        c->handlers_dirty = false;
}

static void handle_notification(RmClient *c, const RmHeader *h, const uint8_t *payload, size_t len)
{
        unsigned delivered = 0;
        uint64_t n;

        if (!rm_client_notification_known(h->msg_id)) {
                c->stats.unknown_notifications++;
                log_bad_msg(c, h, payload, len, "unknown notification 0x%08x (seq %u); dropped",
                            h->msg_id, h->seq);
                return;
        }
        c->stats.notifications++;
        n = ++c->notify_number;
        c->dispatch_depth++;
        for (RmNotifyHandler *hd = c->handlers; hd; hd = hd->next) {
                if (hd->removed || hd->since >= n)
                        continue;
                if (hd->msg_id != 0 && hd->msg_id != h->msg_id)
                        continue;
                hd->fn(c, h->msg_id, payload, len, hd->userdata);
                delivered++;
        }
        if (--c->dispatch_depth == 0 && c->handlers_dirty)
                handlers_sweep(c);
        if (delivered == 0)
                log_debug("RM notification %s (%zu bytes) has no subscriber", id_name(h->msg_id),
                          len);
}

void rm_client_link_recv(RmLink *l, const uint8_t *pkt, size_t len, void *userdata)
{
        RmClient *c = userdata;
        RmReasmResult res;

        c->stats.packets_received++;
        res = rm_reassembler_feed(&c->reasm, pkt, len);
        if (c->reasm.aborted)
                handle_aborted(c, &c->reasm.aborted_hdr);

        switch (res) {
        case RM_REASM_PARTIAL:
                break;
        case RM_REASM_DROPPED:
                c->stats.bad_packets++;
                log_bad(c, pkt, len, len, "packet dropped (%s)",
                        rm_drop_reason_to_string(c->reasm.drop_reason) ?: "?");
                break;
        case RM_REASM_COMPLETE: {
                const RmHeader h = c->reasm.hdr;

                if (h.type == RM_MSG_REPLY)
                        handle_reply(c, &h, c->reasm.payload, c->reasm.len);
                else if (h.type == RM_MSG_NOTIFICATION)
                        handle_notification(c, &h, c->reasm.payload, c->reasm.len);
                else {
                        c->stats.bad_packets++;
                        log_bad_msg(c, &h, c->reasm.payload, c->reasm.len,
                                    "%s 0x%08x seq %u from the RM (clients never get requests); "
                                    "dropped",
                                    rm_msg_type_to_string(h.type) ?: "?", h.msg_id, h.seq);
                }
                break;
        }
        }
        /* A completed call frees the wire: send the next one without another loop turn. */
        rm_client_pump_now(c);
}

void rm_client_link_state(RmLink *l, bool up, int error, void *userdata)
{
        RmClient *c = userdata;
        size_t pending = c->n_waiting + (c->inflight && c->inflight->cb ? 1 : 0);

        rm_reassembler_init(&c->reasm, RM_REASM_POLICY_CLIENT);
        c->have_last_timeout = false;
        if (!up) {
                if (pending > 0)
                        log_warning("RM link down: failing %zu pending RM call(s)", pending);
                rm_client_fail_all(c, -ENOTCONN);
        }
        if (c->link_fn)
                c->link_fn(c, up, error, c->link_userdata);
        if (up)
                rm_client_pump_now(c);
}

int rm_client_add_notify_handler(RmClient *c, uint32_t msg_id, RmNotifyFn fn, void *userdata,
                                 RmNotifyHandler **ret)
{
        RmNotifyHandler *h, **pp;

        if (!c || !fn)
                return -EINVAL;
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->msg_id = msg_id;
        h->fn = fn;
        h->userdata = userdata;
        h->since = c->notify_number; /* not for a notification being dispatched now */
        for (pp = &c->handlers; *pp; pp = &(*pp)->next)
                ;
        *pp = h;
        if (ret)
                *ret = h;
        return 0;
}

void rm_client_remove_notify_handler(RmClient *c, RmNotifyHandler *h)
{
        if (!c || !h)
                return;
        if (c->dispatch_depth > 0) {
                h->removed = true;
                c->handlers_dirty = true;
                return;
        }
        for (RmNotifyHandler **pp = &c->handlers; *pp; pp = &(*pp)->next)
                if (*pp == h) {
                        *pp = h->next;
                        free(h);
                        return;
                }
}
