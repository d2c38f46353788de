/* SPDX-License-Identifier: MIT */
/*
 * The RM link to the host (VMID 3): a SOCK_SEQPACKET socket where one packet is one
 * message-queue message. Input goes through the RM reassembler (policy RM); output follows
 * the RM's per-client buffering (rm-protocol.md 4.4): one message in transmission, one
 * pending-reply slot (a second parked reply drops the first), up to 256 pending
 * notifications (oldest dropped), reply flushed before notifications, never two messages
 * interleaved. At most SIM_WINDOW packets are written ahead of the client: the unread bytes
 * of the socket (SIOCOUTQ) tell how many of our packets the client has not read yet.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "macro.h"
#include "sim.h"

static void log_packet(Sim *s, const char *dir, const uint8_t *p, size_t len, const char *note)
{
        RmHeader h;
        const char *name;

        if (!s->opt.verbose)
                return;
        if (rm_header_unpack(p, len, &h) < 0) {
                sim_debug(s, "%s bad packet len=%zu%s%s", dir, len, note ? " " : "",
                          note ? note : "");
                return;
        }
        name = rm_msg_id_to_string(h.msg_id);
        sim_debug(s, "%s %s seq=%u msg_id=0x%08x%s%s%s frags=%u len=%zu%s%s", dir,
                  rm_msg_type_to_string(h.type), h.seq, h.msg_id, name ? " (" : "",
                  name ? name : "", name ? ")" : "", h.num_fragments, len, note ? " " : "",
                  note ? note : "");
}

int sim_link_init(Sim *s)
{
        SimLink *l = &s->link;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        l->listen_fd = -1;
        l->fd = -1;
        l->fout.corrupt_offset = -1;
        l->fin.corrupt_offset = -1;
        l->reasm = malloc(sizeof(*l->reasm));
        if (!l->reasm)
                return -ENOMEM;
        rm_reassembler_init(l->reasm, RM_REASM_POLICY_RM);

        if (s->opt.fd >= 0) {
                l->fd = s->opt.fd;
                return 0;
        }
        if (strlen(s->opt.listen_path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, s->opt.listen_path);
        l->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (l->listen_fd < 0)
                return -errno;
        (void)unlink(sa.sun_path);
        if (bind(l->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(l->listen_fd, 4) < 0)
                return -errno;
        return 0;
}

static void msg_free(SimMsg *m)
{
        if (m)
                free(m->payload);
        free(m);
}

static void pkt_list_free(SimPkt **head, SimPkt **tail)
{
        while (*head) {
                SimPkt *p = *head;
                *head = p->next;
                free(p);
        }
        *tail = NULL;
}

void sim_link_reset_output(Sim *s)
{
        SimLink *l = &s->link;

        msg_free(l->tx);
        l->tx = NULL;
        msg_free(l->pending_reply);
        l->pending_reply = NULL;
        while (l->notif_head) {
                SimMsg *m = l->notif_head;
                l->notif_head = m->next;
                msg_free(m);
        }
        l->notif_tail = NULL;
        l->n_notifs = 0;
        l->n_inflight = 0;
        pkt_list_free(&l->out_delayed_head, &l->out_delayed_tail);
        pkt_list_free(&l->in_delayed_head, &l->in_delayed_tail);
        rm_reassembler_init(l->reasm, RM_REASM_POLICY_RM);
}

void sim_link_close_client(Sim *s)
{
        SimLink *l = &s->link;

        if (l->fd >= 0) {
                sim_debug(s, "link: client disconnected");
                close(l->fd);
        }
        l->fd = -1;
        sim_link_reset_output(s);
        if (l->listen_fd < 0 && s->opt.fd >= 0)
                s->quit = true; /* --fd: nothing to wait for */
}

void sim_link_done(Sim *s)
{
        SimLink *l = &s->link;

        sim_link_close_client(s);
        if (l->listen_fd >= 0) {
                close(l->listen_fd);
                if (s->opt.listen_path)
                        (void)unlink(s->opt.listen_path);
        }
        l->listen_fd = -1;
        free(l->reasm);
        l->reasm = NULL;
}

int sim_link_accept(Sim *s)
{
        SimLink *l = &s->link;
        int fd;

        fd = accept4(l->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (l->fd >= 0) { /* one client at a time */
                close(fd);
                return -EBUSY;
        }
        l->fd = fd;
        sim_link_reset_output(s);
        sim_debug(s, "link: client connected");
        return 0;
}

/* ---------------- window accounting ---------------- */

static int outq_bytes(int fd)
{
        int q = 0;

        if (ioctl(fd, SIOCOUTQ, &q) < 0)
                return -errno;
        return q;
}

static unsigned link_outstanding(Sim *s)
{
        SimLink *l = &s->link;
        long sum = 0;
        int q;

        q = outq_bytes(l->fd);
        if (q <= 0) {
                l->n_inflight = 0;
                return 0;
        }
        for (unsigned i = 0; i < l->n_inflight; i++)
                sum += l->inflight_sizes[i];
        while (l->n_inflight > 0 && sum > q) {
                sum -= l->inflight_sizes[0];
                memmove(l->inflight_sizes, l->inflight_sizes + 1,
                        (l->n_inflight - 1) * sizeof(l->inflight_sizes[0]));
                l->n_inflight--;
        }
        return l->n_inflight;
}

static unsigned delayed_count(SimPkt *p)
{
        unsigned n = 0;

        for (; p; p = p->next)
                n++;
        return n;
}

static bool window_open(Sim *s)
{
        SimLink *l = &s->link;

        if (l->fd < 0)
                return false;
        return link_outstanding(s) + delayed_count(l->out_delayed_head) < SIM_WINDOW;
}

/* Write one packet now. Returns 0, -EAGAIN (socket full), or -errno (link closed). */
static int raw_write(Sim *s, const uint8_t *data, size_t len)
{
        SimLink *l = &s->link;
        int before, after;
        ssize_t n;

        before = outq_bytes(l->fd);
        n = send(l->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
                        return -EAGAIN;
                return -errno;
        }
        after = outq_bytes(l->fd);
        if (l->n_inflight < ELEMENTSOF(l->inflight_sizes)) {
                /* the true size of this packet in the socket; if the client read in between,
                 * the difference is short and the count is conservative for a moment */
                int sz = after - before;
                l->inflight_sizes[l->n_inflight++] = sz > 0 ? (unsigned)sz : 1;
        }
        l->packets_out++;
        log_packet(s, "out", data, len, NULL);
        return 0;
}

static int out_delayed_push(Sim *s, const uint8_t *data, size_t len, uint64_t due)
{
        SimLink *l = &s->link;
        SimPkt *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        if (l->out_delayed_tail && l->out_delayed_tail->due > due)
                due = l->out_delayed_tail->due;
        p->due = due;
        p->len = len;
        memcpy(p->data, data, len);
        if (l->out_delayed_tail)
                l->out_delayed_tail->next = p;
        else
                l->out_delayed_head = p;
        l->out_delayed_tail = p;
        return 0;
}

/* Emit a packet through the outgoing fault filter. Returns 0 or -EAGAIN/-errno. */
static int emit_packet(Sim *s, const uint8_t *pkt, size_t len)
{
        SimLink *l = &s->link;
        SimPktFaults *f = &l->fout;
        uint8_t data[RM_PACKET_MAX];
        int r;

        memcpy(data, pkt, len);
        if (f->count[SIM_FAULT_DROP] > 0) {
                f->count[SIM_FAULT_DROP]--;
                log_packet(s, "out", data, len, "(dropped by fault injection)");
                return 0;
        }
        if (f->count[SIM_FAULT_CORRUPT] > 0) {
                size_t off = f->corrupt_offset >= 0 ? (size_t)f->corrupt_offset : len - 1;
                f->count[SIM_FAULT_CORRUPT]--;
                if (off < len)
                        data[off] ^= 0xFF;
        }
        if (f->count[SIM_FAULT_DELAY] > 0) {
                f->count[SIM_FAULT_DELAY]--;
                return out_delayed_push(s, data, len, sim_now_ms() + f->delay_ms);
        }
        if (l->out_delayed_head)
                return out_delayed_push(s, data, len, 0);
        r = raw_write(s, data, len);
        if (r < 0)
                return r;
        if (f->count[SIM_FAULT_DUPLICATE] > 0) {
                f->count[SIM_FAULT_DUPLICATE]--;
                (void)raw_write(s, data, len);
        }
        return 0;
}

static void link_failed(Sim *s, int r)
{
        sim_debug(s, "link: write failed: %s", strerror(-r));
        sim_link_close_client(s);
}

static void start_next(Sim *s)
{
        SimLink *l = &s->link;
        SimMsg *m;

        if (l->pending_reply) {
                m = TAKE_PTR(l->pending_reply);
        } else if (l->notif_head) {
                m = l->notif_head;
                l->notif_head = m->next;
                if (!l->notif_head)
                        l->notif_tail = NULL;
                l->n_notifs--;
                m->seq = l->notif_seq++; /* a fresh number for each transmission attempt */
        } else {
                return;
        }
        m->next = NULL;
        l->tx = m;
        l->tx_index = 0;
        l->tx_total = (size_t)rm_fragments_for(m->len, RM_RECV_MAX_PAYLOAD) + 1;
}

void sim_link_flush(Sim *s)
{
        SimLink *l = &s->link;
        uint64_t now = sim_now_ms();
        int r;

        if (l->fd < 0)
                return;
        /* delayed packets first: they are older than anything in tx */
        while (l->out_delayed_head && l->out_delayed_head->due <= now) {
                SimPkt *p = l->out_delayed_head;
                if (link_outstanding(s) >= SIM_WINDOW)
                        return;
                r = raw_write(s, p->data, p->len);
                if (r == -EAGAIN)
                        return;
                if (r < 0)
                        return link_failed(s, r);
                l->out_delayed_head = p->next;
                if (!l->out_delayed_head)
                        l->out_delayed_tail = NULL;
                free(p);
        }
        for (;;) {
                uint8_t pkt[RM_PACKET_MAX];
                ssize_t n;

                /* a message starts only when its first packet can be written (the RM parks
                 * it otherwise: pending reply slot / notification queue) */
                if (!window_open(s))
                        return;
                if (!l->tx)
                        start_next(s);
                if (!l->tx)
                        return;
                n = rm_packet_build(l->tx->type, l->tx->seq, l->tx->msg_id, l->tx->payload,
                                    l->tx->len, RM_RECV_MAX_PAYLOAD, l->tx_index, pkt);
                if (n < 0) {
                        sim_log(s, "cannot build packet: %s", strerror((int)-n));
                        msg_free(TAKE_PTR(l->tx));
                        continue;
                }
                r = emit_packet(s, pkt, (size_t)n);
                if (r == -EAGAIN)
                        return;
                if (r < 0)
                        return link_failed(s, r);
                if (++l->tx_index >= l->tx_total)
                        msg_free(TAKE_PTR(l->tx));
        }
}

static SimMsg *msg_new(uint8_t type, uint16_t seq, uint32_t msg_id, const uint8_t *p, size_t len)
{
        SimMsg *m = calloc(1, sizeof(*m));

        if (!m)
                return NULL;
        m->payload = malloc(len ? len : 1);
        if (!m->payload) {
                free(m);
                return NULL;
        }
        if (len)
                memcpy(m->payload, p, len);
        m->type = type;
        m->seq = seq;
        m->msg_id = msg_id;
        m->len = len;
        return m;
}

/* Can a new message start right now (nothing mid-TX, nothing queued, room in the queue)? */
static bool can_start_now(Sim *s)
{
        SimLink *l = &s->link;

        return !l->tx && !l->pending_reply && !l->notif_head && window_open(s);
}

void sim_link_reply(Sim *s, uint16_t seq, uint32_t msg_id, const uint8_t *payload, size_t len)
{
        SimLink *l = &s->link;
        SimMsg *m;

        if (l->fd < 0)
                return;
        m = msg_new(RM_MSG_REPLY, seq, msg_id, payload, len);
        if (!m)
                return;
        if (can_start_now(s)) {
                l->pending_reply = m;
                sim_link_flush(s);
                return;
        }
        if (l->pending_reply) {
                sim_debug(s, "link: dropped pending reply seq=%u msg_id=0x%08x",
                          l->pending_reply->seq, l->pending_reply->msg_id);
                l->dropped_replies++;
                msg_free(l->pending_reply);
        }
        l->pending_reply = m;
}

static void host_notify(Sim *s, uint32_t msg_id, const uint8_t *payload, size_t len)
{
        SimLink *l = &s->link;
        SimMsg *m;

        if (l->fd < 0)
                return;
        m = msg_new(RM_MSG_NOTIFICATION, 0, msg_id, payload, len);
        if (!m)
                return;
        if (can_start_now(s)) {
                m->seq = l->notif_seq++;
                l->tx = m;
                l->tx_index = 0;
                l->tx_total = (size_t)rm_fragments_for(len, RM_RECV_MAX_PAYLOAD) + 1;
                sim_link_flush(s);
                return;
        }
        if (!l->tx && !l->pending_reply && !l->notif_head)
                l->notif_seq++; /* the first attempt failed (queue full): number used */
        if (l->n_notifs >= SIM_MAX_NOTIFS) {
                SimMsg *old = l->notif_head;
                l->notif_head = old->next;
                if (!l->notif_head)
                        l->notif_tail = NULL;
                msg_free(old);
                l->n_notifs--;
                l->dropped_notifs++;
        }
        if (l->notif_tail)
                l->notif_tail->next = m;
        else
                l->notif_head = m;
        l->notif_tail = m;
        l->n_notifs++;
}

void sim_notify(Sim *s, uint16_t to_vmid, uint32_t msg_id, const uint8_t *payload, size_t len)
{
        SimVm *vm;

        if (to_vmid == RM_VMID_HLOS) {
                host_notify(s, msg_id, payload, len);
                return;
        }
        vm = sim_vm_get(s, to_vmid);
        if (vm)
                sim_guest_notify(s, vm, msg_id, payload, len);
}

/* ---------------- input ---------------- */

static void process_packet(Sim *s, const uint8_t *data, size_t len)
{
        SimLink *l = &s->link;
        RmReasmResult res;

        log_packet(s, "in ", data, len, NULL);
        res = rm_reassembler_feed(l->reasm, data, len);
        if (res == RM_REASM_DROPPED) {
                sim_debug(s, "in  packet dropped: %s",
                          rm_drop_reason_to_string(l->reasm->drop_reason));
                return;
        }
        if (res != RM_REASM_COMPLETE)
                return;
        if (l->reasm->hdr.type != RM_MSG_REQUEST) {
                sim_debug(s, "in  %s message to the RM ignored",
                          rm_msg_type_to_string(l->reasm->hdr.type));
                return;
        }
        if (l->stalled) {
                sim_debug(s, "in  request seq=%u not answered (stalled)", l->reasm->hdr.seq);
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(l->errf); i++) {
                SimErrorFault *e = &l->errf[i];
                uint8_t err[4];

                if (e->count == 0 || e->msg_id != l->reasm->hdr.msg_id)
                        continue;
                e->count--;
                le32_put(err, e->error);
                sim_link_reply(s, l->reasm->hdr.seq, e->msg_id, err, sizeof(err));
                return;
        }
        sim_dispatch(s, RM_VMID_HLOS, l->reasm->hdr.seq, l->reasm->hdr.msg_id, l->reasm->payload,
                     l->reasm->len);
}

static int in_delayed_push(Sim *s, const uint8_t *data, size_t len, uint64_t due)
{
        SimLink *l = &s->link;
        SimPkt *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        if (l->in_delayed_tail && l->in_delayed_tail->due > due)
                due = l->in_delayed_tail->due;
        p->due = due;
        p->len = len;
        memcpy(p->data, data, len);
        if (l->in_delayed_tail)
                l->in_delayed_tail->next = p;
        else
                l->in_delayed_head = p;
        l->in_delayed_tail = p;
        return 0;
}

static void filter_in(Sim *s, uint8_t *data, size_t len)
{
        SimLink *l = &s->link;
        SimPktFaults *f = &l->fin;

        if (f->count[SIM_FAULT_DROP] > 0) {
                f->count[SIM_FAULT_DROP]--;
                log_packet(s, "in ", data, len, "(dropped by fault injection)");
                return;
        }
        if (f->count[SIM_FAULT_CORRUPT] > 0 && len > 0) {
                size_t off = f->corrupt_offset >= 0 ? (size_t)f->corrupt_offset : len - 1;
                f->count[SIM_FAULT_CORRUPT]--;
                if (off < len)
                        data[off] ^= 0xFF;
        }
        if (f->count[SIM_FAULT_DELAY] > 0) {
                f->count[SIM_FAULT_DELAY]--;
                (void)in_delayed_push(s, data, len, sim_now_ms() + f->delay_ms);
                return;
        }
        if (l->in_delayed_head) {
                (void)in_delayed_push(s, data, len, 0);
                return;
        }
        process_packet(s, data, len);
        if (f->count[SIM_FAULT_DUPLICATE] > 0 && s->link.fd >= 0) {
                f->count[SIM_FAULT_DUPLICATE]--;
                process_packet(s, data, len);
        }
}

void sim_link_on_readable(Sim *s)
{
        SimLink *l = &s->link;

        /* bounded: at most 64 packets per wake-up, so timers and control still run */
        for (unsigned i = 0; i < 64 && l->fd >= 0; i++) {
                uint8_t data[1024];
                ssize_t n = recv(l->fd, data, sizeof(data), MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                                break;
                        sim_link_close_client(s);
                        break;
                }
                if (n == 0) {
                        sim_link_close_client(s);
                        break;
                }
                l->packets_in++;
                if ((size_t)n > RM_PACKET_MAX) {
                        /* a message queue never delivers more than its message size */
                        sim_debug(s, "in  packet of %zd bytes > 240 dropped", n);
                        continue;
                }
                filter_in(s, data, (size_t)n);
        }
        sim_link_flush(s);
}

uint64_t sim_link_next_deadline(Sim *s)
{
        SimLink *l = &s->link;
        uint64_t d = 0;

        if (l->fd < 0)
                return 0;
        if (l->in_delayed_head)
                d = l->in_delayed_head->due;
        if (l->out_delayed_head && (!d || l->out_delayed_head->due < d))
                d = l->out_delayed_head->due;
        /* output waiting for the client to read: re-check the queue soon */
        if (l->tx || l->pending_reply || l->notif_head || l->out_delayed_head) {
                uint64_t soon = sim_now_ms() + 2;
                if (!d || soon < d)
                        d = soon;
        }
        return d;
}

bool sim_link_wants_pollout(Sim *s)
{
        (void)s;
        return false; /* window polling (2 ms) covers a full socket as well */
}

void sim_link_tick(Sim *s, uint64_t now)
{
        SimLink *l = &s->link;

        while (l->fd >= 0 && l->in_delayed_head && l->in_delayed_head->due <= now) {
                SimPkt *p = l->in_delayed_head;
                l->in_delayed_head = p->next;
                if (!l->in_delayed_head)
                        l->in_delayed_tail = NULL;
                process_packet(s, p->data, p->len);
                free(p);
        }
        sim_link_flush(s);
}
