/* SPDX-License-Identifier: MIT */
/*
 * fuzz-rm-client: the daemon's RM client (daemon/rm-client*.c on daemon/rm-link.c) fed a
 * hostile RM over a SOCK_SEQPACKET socketpair, interleaved with calls and cancellations.
 *
 * The input is a program of one-byte opcodes with their operands:
 *   0 call       msg_id (index into a table of real request IDs), payload length, payload
 *   1 raw        a packet of any bytes (0..240 long)
 *   2 reply      a reply to the request now on the wire: same seq and msg_id unless the
 *                operand says otherwise, a fuzzed num_fragments and payload (then continuation
 *                packets, some with a mismatched identity)
 *   3 notify     a notification (ID from the RM's table or any), fuzzed fragments/payload
 *   4 cancel     rm_call_cancel() on an outstanding call
 *   5 run        one event loop iteration
 * Checked besides the sanitizers: every accepted call gets exactly one callback, with an
 * error code from the documented set, and no callback after rm_client_free().
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "log.h"
#include "rm-client.h"
#include "rm-ids.h"
#include "rm-link.h"
#include "rm-wire.h"

#define MAX_CALLS 64

typedef struct Input {
        const uint8_t *p;
        size_t left;
} Input;

static uint8_t take(Input *in)
{
        if (!in->left)
                return 0;
        in->left--;
        return *in->p++;
}

static size_t take_bytes(Input *in, uint8_t *out, size_t n)
{
        if (n > in->left)
                n = in->left;
        memcpy(out, in->p, n);
        in->p += n;
        in->left -= n;
        return n;
}

typedef struct Slot {
        RmCall *call;
        unsigned callbacks;
        bool active;
} Slot;

static Slot slots[MAX_CALLS];
static bool freed;

static void call_cb(RmClient *c, int r, uint32_t rm_error, const uint8_t *data, size_t len,
                    void *userdata)
{
        Slot *s = userdata;
        (void)c;
        if (freed && r != -ECANCELED)
                abort(); /* a callback after free that is not the cancellation */
        if (++s->callbacks != 1)
                abort(); /* exactly once */
        switch (r) {
        case 0:
        case -ETIMEDOUT:
        case -ENOTCONN:
        case -ECANCELED:
        case -EIO:
        case -EBADMSG:
                if (rm_error != 0)
                        abort();
                break;
        case -EREMOTEIO:
                if (rm_error == 0)
                        abort();
                break;
        default:
                abort();
        }
        /* touch the data so ASan sees an out-of-bounds length */
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < len; i++)
                sink ^= data[i];
        (void)sink;
        s->call = NULL;
        s->active = false;
}

static void notify_cb(RmClient *c, uint32_t msg_id, const uint8_t *payload, size_t len, void *u)
{
        volatile uint8_t sink = 0;
        (void)c, (void)msg_id, (void)u;
        for (size_t i = 0; i < len; i++)
                sink ^= payload[i];
        (void)sink;
}

static void quiet(int level, const char *message, const char *const *fields, void *u)
{
        (void)level, (void)message, (void)fields, (void)u;
}

static const uint32_t requests[] = {
        RM_VM_ALLOCATE, RM_VM_START, RM_VM_STOP, RM_VM_RESET, RM_VM_GET_STATE, RM_MEM_LEND,
        RM_MEM_APPEND, RM_MEM_RECLAIM, RM_MEM_NOTIFY, RM_VM_CONFIG_IMAGE, RM_VM_INIT,
        RM_VM_SET_BOOT_CONTEXT, RM_VM_GET_HYP_RESOURCES, RM_VM_DEALLOCATE,
};
static const uint32_t notifications[] = {
        RM_NOTIFY_MEM_SHARED, RM_NOTIFY_MEM_RELEASED, RM_NOTIFY_MEM_ACCEPTED, RM_NOTIFY_MEM_RECALL,
        RM_NOTIFY_VM_EXITED, RM_NOTIFY_VM_SHUTDOWN, RM_NOTIFY_VM_STATUS, RM_NOTIFY_VM_IRQ_LENT,
        RM_NOTIFY_VM_CONSOLE_CHARS, RM_NOTIFY_SIM_PAGE_FAULT,
};

/* Drain what the client wrote; remember the header of the last request packet. */
static void drain(int fd, RmHeader *last, bool *have)
{
        uint8_t buf[512];
        ssize_t n;
        while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
                RmHeader h;
                if (rm_header_unpack(buf, (size_t)n, &h) == 0 && h.type == RM_MSG_REQUEST) {
                        *last = h;
                        *have = true;
                }
        }
}

static void send_message(int fd, Input *in, uint8_t type, uint16_t seq, uint32_t msg_id)
{
        uint8_t pkt[RM_PACKET_MAX];
        uint8_t nfrag = take(in) % 4;
        if (take(in) == 0xff)
                nfrag = take(in); /* any value, up to 255 */
        RmHeader h = { .type = type, .num_fragments = nfrag & 63, .seq = seq, .msg_id = msg_id };
        for (unsigned i = 0; i <= nfrag && i < 8; i++) {
                size_t len = RM_HEADER_SIZE + (take(in) % (RM_PAYLOAD_PER_PACKET + 1));
                rm_header_pack(&h, pkt);
                if (nfrag > 63)
                        pkt[1] = nfrag; /* raw byte: the header packer asserts 0..63 */
                memset(pkt + RM_HEADER_SIZE, 0, len - RM_HEADER_SIZE);
                take_bytes(in, pkt + RM_HEADER_SIZE, len - RM_HEADER_SIZE);
                (void)send(fd, pkt, len, MSG_DONTWAIT | MSG_NOSIGNAL);
                h.type = RM_MSG_CONTINUATION;
                uint8_t twist = take(in);
                if (twist == 1)
                        h.msg_id ^= 1; /* a continuation of another message */
                else if (twist == 2)
                        h.seq++;
                else if (twist == 3)
                        h.num_fragments = (h.num_fragments + 1) & 63;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static bool init;
        sd_event *e = NULL;
        RmLink *link = NULL;
        RmClient *c = NULL;
        int sv[2];
        Input in = { data, size };
        RmHeader last = { 0 };
        bool have_last = false;

        if (!init) {
                /* messages are formatted and passed to the sink only up to the maximum level:
                 * FUZZ_LOG=1 formats everything (slow: it also goes to stderr) */
                log_set_sink(quiet, NULL);
                log_set_max_level(getenv("FUZZ_LOG") ? LOG_DEBUG : LOG_ERR);
                init = true;
        }
        memset(slots, 0, sizeof(slots));
        freed = false;
        if (sd_event_new(&e) < 0)
                return 0;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
                sd_event_unref(e);
                return 0;
        }
        if (rm_link_new_fd(&link, e, sv[0]) < 0 || rm_client_new(&c, e, link) < 0)
                goto out;
        rm_client_add_notify_handler(c, 0, notify_cb, NULL, NULL);
        rm_client_set_next_seq(c, (uint16_t)(take(&in) | take(&in) << 8));
        if (rm_link_start(link) < 0)
                goto out;
        for (int i = 0; i < 4; i++)
                sd_event_run(e, 0);

        for (unsigned steps = 0; in.left && steps < 512; steps++) {
                uint8_t op = take(&in) % 6;
                switch (op) {
                case 0: {
                        uint32_t id = requests[take(&in) % (sizeof(requests) / sizeof(*requests))];
                        uint8_t payload[300];
                        size_t len = take(&in);
                        len = take_bytes(&in, payload, len);
                        for (unsigned k = 0; k < MAX_CALLS; k++)
                                if (!slots[k].active) {
                                        slots[k] = (Slot){ .active = true };
                                        /* a long timeout: no wall-clock dependence */
                                        if (rm_client_call(c, id, payload, len, 3600ull * 1000000u,
                                                           call_cb, &slots[k], &slots[k].call) < 0)
                                                slots[k] = (Slot){ 0 };
                                        break;
                                }
                        break;
                }
                case 1: {
                        uint8_t pkt[RM_PACKET_MAX];
                        size_t len = take(&in) % (RM_PACKET_MAX + 1);
                        len = take_bytes(&in, pkt, len);
                        if (len)
                                (void)send(sv[1], pkt, len, MSG_DONTWAIT | MSG_NOSIGNAL);
                        break;
                }
                case 2: {
                        drain(sv[1], &last, &have_last);
                        uint8_t how = take(&in);
                        uint16_t seq = have_last ? last.seq : 0;
                        uint32_t id = have_last ? last.msg_id : requests[0];
                        if (how == 1)
                                seq++;
                        else if (how == 2)
                                id ^= 0x10;
                        send_message(sv[1], &in, RM_MSG_REPLY, seq, id);
                        break;
                }
                case 3: {
                        uint8_t k = take(&in);
                        uint32_t id = k < 0xf0 ? notifications[k % (sizeof(notifications) / sizeof(*notifications))]
                                               : (uint32_t)take(&in) << 24 | (uint32_t)take(&in);
                        send_message(sv[1], &in, RM_MSG_NOTIFICATION, (uint16_t)take(&in), id);
                        break;
                }
                case 4: {
                        Slot *s = &slots[take(&in) % MAX_CALLS];
                        if (s->active && s->call)
                                rm_call_cancel(s->call);
                        break;
                }
                case 5:
                        break;
                }
                for (int i = 0; i < 3; i++)
                        sd_event_run(e, 0);
                drain(sv[1], &last, &have_last);
        }
out:
        freed = true;
        rm_client_free(c);
        for (unsigned k = 0; k < MAX_CALLS; k++)
                if (slots[k].active && slots[k].callbacks == 0)
                        abort(); /* an accepted call never completed, not even on free */
        rm_link_free(link);
        close(sv[1]);
        sd_event_unref(e);
        return 0;
}
