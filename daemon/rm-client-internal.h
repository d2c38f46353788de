#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by rm-client.c (calls, queues, timeouts) and rm-client-rx.c (receive
 * path). Not for other modules: use rm-client.h.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>

#include "rm-client.h"
#include "rm-wire.h"

typedef struct sd_event_source sd_event_source;
typedef struct RmCallQueue RmCallQueue;

struct RmCall {
        RmClient *client;
        RmCall *next, *prev; /* in queue while waiting */
        RmCallQueue *queue;  /* NULL once on the wire */
        uint32_t queue_key;
        uint32_t msg_id;
        uint16_t seq; /* valid once sent */
        RmCallFn cb;  /* NULL: cancelled while on the wire (zombie) */
        void *userdata;
        uint64_t timeout; /* usec, from the moment it is sent */
        uint64_t t_submit, t_sent;
        uint64_t deadline; /* CLOCK_MONOTONIC usec, set when sent */
        int send_error;    /* in flight but not sent (or no timer): the pump fails it */
        size_t len;
        uint8_t payload[];
};

struct RmCallQueue {
        uint32_t key;
        RmCall *head, *tail;
        RmCallQueue *next; /* ring of non-empty queues */
};

struct RmNotifyHandler {
        RmNotifyHandler *next;
        uint32_t msg_id; /* 0 = all */
        RmNotifyFn fn;
        void *userdata;
        uint64_t since; /* not called for notifications numbered <= since */
        bool removed;
};

struct RmClient {
        sd_event *event;
        RmLink *link;
        uint64_t default_timeout;
        uint16_t next_seq;

        bool closing;     /* rm_client_free() runs: no new calls */
        RmCall *inflight; /* the one request on the wire, or NULL */
        RmCallQueue *ring_head, *ring_tail;
        uint32_t last_key; /* queue key of the call sent last (round-robin) */
        bool have_last_key;
        size_t n_waiting;
        sd_event_source *pump;  /* defer: sends the next call from the loop */
        sd_event_source *timer; /* deadline of the call in flight (armed lazily) */
        uint64_t timer_at;      /* the time the timer is armed for, 0 = off */

        bool have_last_timeout; /* to tell a late reply from a stray one in the log */
        uint16_t last_timeout_seq;
        uint32_t last_timeout_msg_id;

        RmReassembler reasm;

        RmNotifyHandler *handlers;
        uint64_t notify_number; /* notifications dispatched so far */
        unsigned dispatch_depth;
        bool handlers_dirty;

        uint64_t log_window_start; /* rate limit of warnings about bad input */
        unsigned log_window_count;

        RmClientLinkFn link_fn;
        void *link_userdata;
        RmLatencyFn latency_fn;
        void *latency_userdata;
        RmUnmatchedFn unmatched_fn;
        void *unmatched_userdata;
        RmClientStats stats;
};

uint64_t rm_client_now_usec(void);
/* Unlink call (in flight or waiting), run its callback (unless a zombie), free it. */
void rm_client_call_complete(RmClient *c, RmCall *call, int r, uint32_t rm_error,
                             const uint8_t *data, size_t data_len);
void rm_client_fail_all(RmClient *c, int r);
void rm_client_schedule_pump(RmClient *c);
void rm_client_pump_now(RmClient *c);

/* RmLink handlers (rm-client-rx.c). */
void rm_client_link_recv(RmLink *l, const uint8_t *pkt, size_t len, void *userdata);
void rm_client_link_state(RmLink *l, bool up, int error, void *userdata);
