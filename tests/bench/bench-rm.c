/* SPDX-License-Identifier: MIT */
/*
 * Figure "rm-rpc": one RM RPC (VM_GET_STATE) through the daemon's rm-client on sd-event,
 * against a bare client that writes the same prebuilt packet to the same gunyah-rm-sim and
 * reads the reply with blocking read(2). Same process, same SOCK_SEQPACKET socket type, same
 * simulator; the two sides alternate (the simulator serves one host client at a time).
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "bench-bare.h"
#include "bench.h"
#include "rm-client.h"
#include "rm-ids.h"
#include "rm-link.h"
#include "rm-vm.h"
#include "rm-wire.h"
#include "sim-client.h"

int rm_connect_exclusive(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        /* The simulator serves one host client and closes any other at once: retry while the
         * previous one detaches; a connection not closed within 20 ms is ours. */
        for (unsigned i = 0; i < 500; i++) {
                int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return -errno;
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                        struct pollfd p = { .fd = fd, .events = POLLIN };
                        if (poll(&p, 1, 20) == 0)
                                return fd;
                        if (!(p.revents & (POLLHUP | POLLERR)))
                                return fd;
                }
                close(fd);
                usleep(10000);
        }
        return -EBUSY;
}

int bare_open(BareRm *b, const char *path)
{
        *b = (BareRm){ .fd = -1, .seq = 1 };
        rm_reassembler_init(&b->reasm, RM_REASM_POLICY_CLIENT);
        b->fd = rm_connect_exclusive(path);
        return b->fd < 0 ? b->fd : 0;
}

void bare_close(BareRm *b)
{
        if (b->fd >= 0)
                close(b->fd);
        b->fd = -1;
}

int bare_send(BareRm *b, uint16_t seq, uint32_t msg_id, const uint8_t *payload, size_t len)
{
        int frags = rm_fragments_for(len, RM_SEND_MAX_PAYLOAD);
        uint8_t pkt[RM_PACKET_MAX];

        if (frags < 0)
                return frags;
        for (int i = 0; i <= frags; i++) {
                ssize_t n = rm_packet_build(RM_MSG_REQUEST, seq, msg_id, payload, len,
                                            RM_SEND_MAX_PAYLOAD, (size_t)i, pkt);
                if (n < 0)
                        return (int)n;
                if (write(b->fd, pkt, (size_t)n) != n)
                        return -errno;
        }
        return 0;
}

int bare_recv_msg(BareRm *b, RmHeader *ret_hdr)
{
        uint8_t pkt[1024];

        for (;;) {
                ssize_t n = read(b->fd, pkt, sizeof(pkt));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ECONNRESET;
                if (rm_reassembler_feed(&b->reasm, pkt, (size_t)n) == RM_REASM_COMPLETE) {
                        *ret_hdr = b->reasm.hdr;
                        return 0;
                }
        }
}

int bare_call(BareRm *b, uint32_t msg_id, const uint8_t *payload, size_t len,
              uint32_t *ret_rm_error)
{
        uint16_t seq = b->seq++;
        RmHeader h;
        int r = bare_send(b, seq, msg_id, payload, len);

        if (r < 0)
                return r;
        for (;;) {
                r = bare_recv_msg(b, &h);
                if (r < 0)
                        return r;
                if (h.type == RM_MSG_REPLY && h.seq == seq && h.msg_id == msg_id)
                        break;
                b->notifications++;
        }
        if (ret_rm_error) {
                const uint8_t *d;
                size_t dl;
                r = rm_reply_split(b->reasm.payload, b->reasm.len, ret_rm_error, &d, &dl);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- the two sides ---- */

int bare_probe_op(void *ud)
{
        BareProbe *s = ud;
        uint16_t seq = s->b.seq++;
        RmHeader h;
        int r;

        /* the prebuilt packet, with only its seq field (bytes 2..3) renewed */
        s->pkt[2] = (uint8_t)seq;
        s->pkt[3] = (uint8_t)(seq >> 8);
        if (write(s->b.fd, s->pkt, s->len) != (ssize_t)s->len)
                return -errno;
        do {
                r = bare_recv_msg(&s->b, &h);
                if (r < 0)
                        return r;
        } while (h.type != RM_MSG_REPLY || h.seq != seq);
        return 0;
}

int bare_probe_packet(BareProbe *p, uint16_t vmid)
{
        uint8_t payload[4];
        ssize_t n;

        p->vmid = vmid;
        rm_encode_vmid_req(payload, sizeof(payload), vmid);
        n = rm_packet_build(RM_MSG_REQUEST, 0, RM_VM_GET_STATE, payload, 4, RM_SEND_MAX_PAYLOAD,
                            0, p->pkt);
        if (n < 0)
                return (int)n;
        p->len = (size_t)n;
        return 0;
}

int bare_probe_open(BareProbe *p, const char *rm_path)
{
        uint8_t payload[4];
        uint32_t err = 0;
        uint16_t vmid;
        int r;

        rm_encode_vmid_req(payload, sizeof(payload), 0);
        if ((r = bare_open(&p->b, rm_path)) < 0)
                return r;
        if ((r = bare_call(&p->b, RM_VM_ALLOCATE, payload, 4, &err)) < 0 ||
            (err ? (r = -EREMOTEIO) : 0) ||
            (r = rm_decode_vm_allocate_reply(p->b.reasm.payload + 4, p->b.reasm.len - 4, &vmid)) < 0 ||
            (r = bare_probe_packet(p, vmid)) < 0) {
                bare_close(&p->b);
                return r;
        }
        return 0;
}

typedef struct ClientSide {
        sd_event *e;
        RmLink *link;
        RmClient *c;
        uint8_t payload[4];
        bool up, done;
        int r;
} ClientSide;

static void client_link(RmClient *c, bool up, int error, void *ud)
{
        ClientSide *s = ud;
        (void)c;
        (void)error;
        s->up = up;
}

static void client_cb(RmClient *c, int r, uint32_t rm_error, const uint8_t *d, size_t n, void *ud)
{
        ClientSide *s = ud;
        (void)c;
        (void)rm_error;
        (void)d;
        (void)n;
        s->r = r;
        s->done = true;
}

static int client_op(void *ud)
{
        ClientSide *s = ud;
        int r;

        s->done = false;
        r = rm_client_call(s->c, RM_VM_GET_STATE, s->payload, sizeof(s->payload), 0, client_cb,
                           s, NULL);
        if (r < 0)
                return r;
        while (!s->done)
                if ((r = sd_event_run(s->e, UINT64_MAX)) < 0)
                        return r;
        return s->r;
}

static void client_close(ClientSide *s)
{
        s->c = rm_client_free(s->c);
        s->link = rm_link_free(s->link);
        s->e = sd_event_unref(s->e);
}

static int client_open(ClientSide *s, const char *path, uint16_t vmid)
{
        int r;

        s->up = false;
        rm_encode_vmid_req(s->payload, sizeof(s->payload), vmid);
        if ((r = sd_event_new(&s->e)) < 0 || (r = rm_link_new_socket(&s->link, s->e, path)) < 0 ||
            (r = rm_client_new(&s->c, s->e, s->link)) < 0)
                return r;
        rm_link_set_backoff(s->link, 5000, 20000);
        rm_client_set_link_handler(s->c, client_link, s);
        if ((r = rm_link_start(s->link)) < 0)
                return r;
        uint64_t end = bench_now_ns() + 10000000000ull;
        while (!s->up && bench_now_ns() < end)
                if ((r = sd_event_run(s->e, 100000)) < 0)
                        return r;
        /* the simulator closes a second host client at once: let a refusal show, reconnect */
        uint64_t settle = bench_now_ns() + 30000000ull;
        while (bench_now_ns() < settle || (!s->up && bench_now_ns() < end))
                if ((r = sd_event_run(s->e, 10000)) < 0)
                        return r;
        return s->up ? 0 : -ETIMEDOUT;
}

void fig_rm_rpc(void)
{
        SimClient *sim = NULL;
        char *dir;
        BareProbe b;
        ClientSide c = { 0 };
        Samples sa = { 0 }, sb = { 0 };
        uint16_t vmid = 0;
        int r;

        if (!bench_selected("rm-rpc"))
                return;
        dir = bench_subdir("rm-rpc");
        r = dir ? bench_sim_spawn(dir, 0, &sim) : -errno;
        if (r < 0) {
                bench_fail("rm-rpc", "sim: %s", strerror(-r));
                goto out;
        }
        /* a VM to ask about */
        r = bare_probe_open(&b, sim_client_rm_path(sim));
        if (r < 0) {
                bench_fail("rm-rpc", "VM_ALLOCATE: %s", strerror(-r));
                goto out;
        }
        bare_close(&b.b);
        vmid = b.vmid;

        for (unsigned rep = 0; rep < bench_cfg.reps; rep++) {
                for (int side = 0; side < 2; side++) {
                        bool bare = (side == 0) == !(rep & 1);
                        if (bare) {
                                r = bare_open(&b.b, sim_client_rm_path(sim));
                                if (r >= 0)
                                        r = bench_measure(bare_probe_op, &b, bench_cfg.warmup,
                                                          bench_cfg.iters, &sb);
                                bare_close(&b.b);
                        } else {
                                r = client_open(&c, sim_client_rm_path(sim), vmid);
                                if (r >= 0)
                                        r = bench_measure(client_op, &c, bench_cfg.warmup,
                                                          bench_cfg.iters, &sa);
                                client_close(&c);
                        }
                        if (r < 0) {
                                bench_fail("rm-rpc", "%s side: %s", bare ? "bare" : "rm-client",
                                           strerror(-r));
                                goto out;
                        }
                }
        }
        double a50 = samples_pct(&sa, 50) / 1e3, b50 = samples_pct(&sb, 50) / 1e3;
        double a99 = samples_pct(&sa, 99) / 1e3, b99 = samples_pct(&sb, 99) / 1e3;
        bench_row("rm-rpc", "VM_GET_STATE via rm-client vs bare, p50", a50, b50, "us", a50 / b50,
                  "<= 1.2x", a50 / b50 <= 1.2 ? VERDICT_MET : VERDICT_MISSED);
        bench_row("rm-rpc", "VM_GET_STATE via rm-client vs bare, p99", a99, b99, "us", a99 / b99,
                  NULL, VERDICT_NONE);
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "rm_client", samples_json(&sa));
        json_object_object_add(d, "bare", samples_json(&sb));
        bench_detail("rm-rpc", d);
out:
        samples_done(&sa);
        samples_done(&sb);
        sim_client_free(sim);
        free(dir);
}
