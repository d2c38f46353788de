/* SPDX-License-Identifier: MIT */
/*
 * Figure "lend": lending 1, 4 and 16 GiB at worst-case fragmentation (every SGL entry one
 * 4 KiB granule: the pool's fragment-for-test mode), by the daemon's own manager code (the
 * gunyahd-core library, in this process, on sd-event) against the raw link carrying the same
 * bytes.
 *
 * Both sides talk to the same "sink RM": a child process that reassembles each request and
 * answers RM_OK at once (a handle for MEM_LEND, a VMID for VM_ALLOCATE). gunyah-rm-sim is not
 * used here: its overlap check is quadratic in the SGL entries of a parcel (see
 * docs/performance.md), which would measure the simulator, not the daemon.
 *
 * Baselines, same bytes, same SOCK_SEQPACKET socket type, same sink:
 *  - request/reply: a bare client sends the same MEM_LEND + MEM_APPEND messages (built from
 *    the daemon's extents with protocol/rm-mem) and waits for each reply, as the RM protocol
 *    requires (one request in flight);
 *  - streaming: the same packets written back to back to a reader that only counts them
 *    (what the link carries with no protocol at all).
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "bench-bare.h"
#include "bench.h"
#include "manager-internal.h"
#include "manager.h"
#include "pool.h"
#include "buf.h"
#include "rm-client.h"
#include "rm-error.h"
#include "rm-ids.h"
#include "rm-mem.h"
#include "rm-types.h"
#include "rm-vm.h"
#include "rm-wire.h"
#include "vm-config.h"

/* ---- sink RM ---- */

static size_t sink_reply(uint32_t msg_id, const uint8_t *req, size_t len, uint32_t *handle,
                         uint8_t *out, size_t cap)
{
        ssize_t n = 0;

        memset(out, 0, 4); /* RM_OK */
        switch (msg_id) {
        case RM_VM_ALLOCATE:
                n = rm_encode_vm_allocate_reply(out + 4, cap - 4, 0x41);
                break;
        case RM_MEM_LEND:
        case RM_MEM_SHARE:
        case RM_MEM_DONATE:
                n = rm_encode_mem_create_reply(out + 4, cap - 4, (*handle)++);
                break;
        case RM_VM_GET_HYP_RESOURCES:
                n = rm_encode_vm_get_hyp_resources_reply(out + 4, cap - 4, NULL, 0);
                break;
        case RM_VM_GET_STATE: {
                /* only the VM this sink allocated exists (recovery scans VMIDs) */
                RmVmState st = { .vm_status = RM_VM_STATUS_READY };
                if (len < 2 || (req[0] | req[1] << 8) != 0x41) {
                        le32_put(out, RM_ERROR_VMID_INVALID);
                        return 4;
                }
                n = rm_encode_vm_get_state_reply(out + 4, cap - 4, &st);
                break;
        }
        default:
                break;
        }
        return 4 + (size_t)(n > 0 ? n : 0);
}

static void sink_serve(int fd)
{
        static RmReassembler ra;
        uint8_t pkt[1024], reply[256], out[RM_PACKET_MAX];
        uint32_t handle = 0x1000;

        rm_reassembler_init(&ra, RM_REASM_POLICY_RM);
        for (;;) {
                ssize_t n = read(fd, pkt, sizeof(pkt));
                if (n <= 0)
                        return;
                if (rm_reassembler_feed(&ra, pkt, (size_t)n) != RM_REASM_COMPLETE ||
                    ra.hdr.type != RM_MSG_REQUEST)
                        continue;
                size_t len = sink_reply(ra.hdr.msg_id, ra.payload, ra.len, &handle, reply, sizeof(reply));
                int frags = rm_fragments_for(len, RM_RECV_MAX_PAYLOAD);
                for (int i = 0; i <= frags; i++) {
                        ssize_t k = rm_packet_build(RM_MSG_REPLY, ra.hdr.seq, ra.hdr.msg_id, reply,
                                                    len, RM_RECV_MAX_PAYLOAD, (size_t)i, out);
                        if (k < 0 || write(fd, out, (size_t)k) != k)
                                return;
                }
        }
}

static pid_t sink_spawn(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        pid_t pid;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        unlink(path);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0)
                return -errno;
        pid = fork();
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (;;) {
                        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                        if (fd < 0)
                                _exit(1);
                        sink_serve(fd);
                        close(fd);
                }
        }
        close(lfd);
        return pid;
}

/* ---- the daemon's side: a Manager on the sink ---- */

typedef struct LendRun {
        sd_event *e;
        Manager *m;
        bool ready, done;
        int r;
        uint64_t first_send, last_done;
        uint64_t gap_total, gap_max; /* daemon time between a reply and its next request */
        unsigned msgs;
        uint64_t packets_before;
        PoolExtent *ext; /* copy of the image parcel's host extents */
        size_t n_ext;
        uint16_t vmid;
} LendRun;

static void on_ready(Manager *m, int r, void *ud)
{
        LendRun *l = ud;
        (void)m;
        l->ready = true;
        l->r = r;
}

static void on_latency(RmClient *c, uint32_t msg_id, int r, uint64_t queue_usec,
                       uint64_t rpc_usec, void *ud)
{
        LendRun *l = ud;
        uint64_t now = bench_now_ns();
        RmClientStats st;

        (void)queue_usec;
        if (r < 0 || (msg_id != RM_MEM_LEND && msg_id != RM_MEM_APPEND))
                return;
        if (!l->msgs) {
                l->first_send = now - rpc_usec * 1000;
                rm_client_get_stats(c, &st);
                l->packets_before = st.packets_sent;
        } else {
                uint64_t sent = now - rpc_usec * 1000;
                uint64_t gap = sent > l->last_done ? sent - l->last_done : 0;
                l->gap_total += gap;
                if (gap > l->gap_max)
                        l->gap_max = gap;
        }
        l->last_done = now;
        l->msgs++;
}

static void on_done(Manager *m, Vm *vm, int r, const ManagerError *err, void *ud)
{
        LendRun *l = ud;
        (void)m;
        l->done = true;
        l->r = r;
        if (r < 0)
                bench_log("lend: start: %s", err ? err->message : "?");
        if (vm && vm->n_parcels > 0 && !l->ext) {
                const VmParcel *p = &vm->parcels[0];
                l->ext = malloc(p->n_host * sizeof(*l->ext));
                if (l->ext) {
                        memcpy(l->ext, p->host, p->n_host * sizeof(*l->ext));
                        l->n_ext = p->n_host;
                }
                l->vmid = vm->vmid;
        }
}

static int run_until(LendRun *l, const bool *flag, unsigned secs)
{
        uint64_t end = bench_now_ns() + (uint64_t)secs * 1000000000ull;
        int r;

        while (!*flag) {
                if (bench_now_ns() > end)
                        return -ETIMEDOUT;
                if ((r = sd_event_run(l->e, 100000)) < 0)
                        return r;
        }
        return 0;
}

static int daemon_lend(const char *dir, const char *sink, uint64_t size, unsigned run,
                       LendRun *l)
{
        ManagerOptions o = MANAGER_OPTIONS_INIT;
        char pool[600], state[600], runtime[640], images[600], img[700];
        ManagerError err = { 0 };
        VmConfig cfg;
        Vm *vm = NULL;
        int r;

        snprintf(pool, sizeof(pool), "%s/pool", dir);
        char leaf[32];
        snprintf(leaf, sizeof(leaf), "state-%u", run);
        if ((r = bench_state_dir(dir, leaf, state, sizeof(state))) < 0)
                return r;
        snprintf(images, sizeof(images), "%s/images", dir);
        snprintf(runtime, sizeof(runtime), "%s/run-%u", dir, run);
        snprintf(img, sizeof(img), "%s/Image", images);
        unlink(pool);
        mkdir(images, 0755);
        if ((r = bench_make_image(img, 2u << 20)) < 0)
                return r;
        o.rm_socket = sink;
        o.pool_file = pool;
        o.pool_ipa = 0x80000000ull;
        o.pool_size = 2 * size + (256ull << 20);
        o.state_dir = state;
        o.runtime_dir = runtime;
        o.image_dir = images;
        if ((r = sd_event_new(&l->e)) < 0 || (r = manager_new(l->e, &o, &l->m)) < 0 ||
            (r = manager_start(l->m, on_ready, l)) < 0 || (r = run_until(l, &l->ready, 30)) < 0)
                return r;
        pool_set_fragment_for_test(l->m->pool, true);
        rm_client_set_latency_hook(l->m->client, on_latency, l);

        vm_config_init(&cfg);
        cfg.name = strdup("lend");
        cfg.kernel = strdup("Image");
        cfg.memory_size = size;
        r = manager_vm_create(l->m, &cfg, false, NULL, &vm, &err);
        vm_config_done(&cfg);
        if (r < 0) {
                bench_log("lend: create: %s", err.message);
                return r;
        }
        r = manager_vm_start(l->m, vm, NULL, NULL, on_done, l, NULL, &err);
        if (r < 0) {
                bench_log("lend: start: %s", err.message);
                return r;
        }
        r = run_until(l, &l->done, 600);
        return r < 0 ? r : l->r;
}

static void daemon_lend_free(LendRun *l)
{
        l->m = manager_free(l->m);
        l->e = sd_event_unref(l->e);
}

/* ---- the same messages, prebuilt as packets ---- */

typedef struct Packets {
        uint8_t *data; /* n x RM_PACKET_MAX */
        uint16_t *len;
        uint32_t *msg_end; /* per message: index one past its last packet */
        size_t n, n_msgs;
        uint64_t bytes;
} Packets;

static int build_packets(const PoolExtent *ext, size_t n_ext, uint16_t vmid, Packets *pk)
{
        size_t n_msgs = rm_sgl_message_count(n_ext);
        size_t cap_pk = n_msgs * 40 + 8;
        RmSglEntry *sgl = malloc(RM_MAX_LIST_ENTRIES * sizeof(*sgl));
        uint8_t *msg = malloc(RM_SEND_MAX_PAYLOAD);
        RmAclEntry acl = { .vmid = vmid, .rights = RM_ACL_R | RM_ACL_W | RM_ACL_X };

        *pk = (Packets){ 0 };
        pk->data = malloc(cap_pk * RM_PACKET_MAX);
        pk->len = malloc(cap_pk * sizeof(*pk->len));
        pk->msg_end = malloc(n_msgs * sizeof(*pk->msg_end));
        if (!sgl || !msg || !pk->data || !pk->len || !pk->msg_end) {
                free(sgl);
                free(msg);
                return -ENOMEM;
        }
        for (size_t m = 0; m < n_msgs; m++) {
                size_t first, count;
                bool last;
                ssize_t len;
                rm_sgl_message_range(n_ext, m, &first, &count, &last);
                for (size_t i = 0; i < count; i++)
                        sgl[i] = (RmSglEntry){ .ipa = ext[first + i].ipa, .size = ext[first + i].size };
                if (m == 0) {
                        RmMemCreate c = { .mem_type = RM_MEM_TYPE_NORMAL,
                                          .flags = n_msgs > 1 ? RM_MEM_CREATE_FLAG_APPEND : 0,
                                          .n_acl = 1, .acl = &acl, .n_sgl = count, .sgl = sgl,
                                          .has_attr_list = true };
                        len = rm_encode_mem_create(msg, RM_SEND_MAX_PAYLOAD, &c);
                } else {
                        RmMemAppend a = { .handle = 0x1000,
                                          .flags = last ? RM_MEM_APPEND_FLAG_END : 0,
                                          .n_sgl = count, .sgl = sgl };
                        len = rm_encode_mem_append(msg, RM_SEND_MAX_PAYLOAD, &a);
                }
                if (len < 0)
                        goto fail;
                int frags = rm_fragments_for((size_t)len, RM_SEND_MAX_PAYLOAD);
                for (int f = 0; f <= frags; f++) {
                        if (pk->n == cap_pk)
                                goto fail;
                        ssize_t k = rm_packet_build(RM_MSG_REQUEST, (uint16_t)m,
                                                    m ? RM_MEM_APPEND : RM_MEM_LEND, msg, (size_t)len,
                                                    RM_SEND_MAX_PAYLOAD, (size_t)f,
                                                    pk->data + pk->n * RM_PACKET_MAX);
                        if (k < 0)
                                goto fail;
                        pk->len[pk->n++] = (uint16_t)k;
                        pk->bytes += (uint64_t)k;
                }
                pk->msg_end[m] = (uint32_t)pk->n;
        }
        pk->n_msgs = n_msgs;
        free(sgl);
        free(msg);
        return 0;
fail:
        free(sgl);
        free(msg);
        return -EINVAL;
}

static void packets_free(Packets *pk)
{
        free(pk->data);
        free(pk->len);
        free(pk->msg_end);
}

static int bare_lend(const char *sink, const Packets *pk, uint64_t *ret_ns)
{
        BareRm b;
        size_t p = 0;
        int r = bare_open(&b, sink);

        if (r < 0)
                return r;
        uint64_t t0 = bench_now_ns();
        for (size_t m = 0; m < pk->n_msgs && r >= 0; m++) {
                for (; p < pk->msg_end[m]; p++)
                        if (write(b.fd, pk->data + p * RM_PACKET_MAX, pk->len[p]) != pk->len[p]) {
                                r = -errno;
                                break;
                        }
                RmHeader h;
                if (r >= 0)
                        r = bare_recv_msg(&b, &h);
        }
        *ret_ns = bench_now_ns() - t0;
        bare_close(&b);
        return r;
}

static int stream_lend(const Packets *pk, uint64_t *ret_ns)
{
        int sv[2];
        pid_t pid;
        char ack;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        pid = fork();
        if (pid == 0) {
                uint8_t buf[1024];
                close(sv[0]);
                for (size_t i = 0; i < pk->n; i++)
                        if (read(sv[1], buf, sizeof(buf)) <= 0)
                                _exit(1);
                _exit(write(sv[1], "k", 1) == 1 ? 0 : 1);
        }
        close(sv[1]);
        uint64_t t0 = bench_now_ns();
        for (size_t i = 0; i < pk->n; i++)
                if (write(sv[0], pk->data + i * RM_PACKET_MAX, pk->len[i]) != pk->len[i])
                        break;
        int ok = read(sv[0], &ack, 1) == 1;
        *ret_ns = bench_now_ns() - t0;
        close(sv[0]);
        waitpid(pid, NULL, 0);
        return ok ? 0 : -EIO;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

void fig_lend(void)
{
        static const uint64_t full[] = { 1ull << 30, 4ull << 30, 16ull << 30 };
        static const uint64_t smoke[] = { 64ull << 20 };
        const uint64_t *sizes = bench_cfg.smoke ? smoke : full;
        const size_t n_sizes = bench_cfg.smoke ? 1 : 3;
        const unsigned reps = bench_cfg.smoke ? 1 : bench_cfg.reps < 3 ? bench_cfg.reps : 3;
        struct json_object *d;
        double gbps[3] = { 0 };
        char *dir, sink[600];
        pid_t sink_pid;

        if (!bench_selected("lend"))
                return;
        dir = bench_subdir("lend");
        snprintf(sink, sizeof(sink), "%s/sink.sock", dir ? dir : "/tmp");
        sink_pid = dir ? sink_spawn(sink) : -ENOMEM;
        if (sink_pid < 0) {
                bench_fail("lend", "sink RM: %s", strerror((int)-sink_pid));
                free(dir);
                return;
        }
        d = json_object_new_array();
        for (size_t k = 0; k < n_sizes; k++) {
                uint64_t size = sizes[k], tdm[3], tbm[3], tsm[3], gap_total = 0, gap_max = 0;
                Packets pk = { 0 };
                size_t n_ext = 0, msgs = 0, pkts = 0;
                int r = 0;
                for (unsigned rep = 0; rep < reps && r >= 0; rep++) {
                        LendRun l = { 0 };
                        r = daemon_lend(dir, sink, size, (unsigned)(k * reps + rep), &l);
                        if (r >= 0 && (!l.ext || !l.msgs))
                                r = -EIO;
                        if (r >= 0) {
                                RmClientStats st;
                                rm_client_get_stats(l.m->client, &st);
                                tdm[rep] = l.last_done - l.first_send;
                                gap_total = l.gap_total;
                                gap_max = l.gap_max;
                                n_ext = l.n_ext;
                                msgs = l.msgs;
                                pkts = (size_t)(st.packets_sent - l.packets_before);
                                if (!pk.n)
                                        r = build_packets(l.ext, l.n_ext, l.vmid, &pk);
                        }
                        free(l.ext);
                        daemon_lend_free(&l);
                        if (r >= 0)
                                r = bare_lend(sink, &pk, &tbm[rep]);
                        if (r >= 0)
                                r = stream_lend(&pk, &tsm[rep]);
                }
                if (r < 0) {
                        bench_fail("lend", "%llu MiB: %s", (unsigned long long)(size >> 20),
                                   strerror(-r));
                        packets_free(&pk);
                        break;
                }
                qsort(tdm, reps, sizeof(uint64_t), cmp_u64);
                qsort(tbm, reps, sizeof(uint64_t), cmp_u64);
                qsort(tsm, reps, sizeof(uint64_t), cmp_u64);
                double td = tdm[reps / 2] / 1e9, tb = tbm[reps / 2] / 1e9, ts = tsm[reps / 2] / 1e9;
                double gib = (double)size / (1ull << 30);
                char what[96];
                gbps[k] = gib / td;
                snprintf(what, sizeof(what), "lend %.3g GiB, %zu x 4 KiB SGL entries (GiB/s)", gib,
                         n_ext);
                bench_row("lend", what, gib / td, gib / tb, "GiB/s", tb / td,
                          ">= 0.50x req/reply link", tb / td >= 0.5 ? VERDICT_MET : VERDICT_MISSED);
                snprintf(what, sizeof(what), "  same, vs streaming link (no replies)");
                bench_row("lend", what, gib / td, gib / ts, "GiB/s", ts / td, NULL, VERDICT_NONE);
                struct json_object *o = json_object_new_object();
                json_object_object_add(o, "bytes", json_object_new_int64((int64_t)size));
                json_object_object_add(o, "sgl_entries", json_object_new_int64((int64_t)n_ext));
                json_object_object_add(o, "daemon_messages", json_object_new_int64((int64_t)msgs));
                json_object_object_add(o, "daemon_packets", json_object_new_int64((int64_t)pkts));
                json_object_object_add(o, "baseline_messages", json_object_new_int64((int64_t)pk.n_msgs));
                json_object_object_add(o, "baseline_packets", json_object_new_int64((int64_t)pk.n));
                json_object_object_add(o, "link_bytes", json_object_new_int64((int64_t)pk.bytes));
                json_object_object_add(o, "daemon_s", json_object_new_double(td));
                json_object_object_add(o, "req_reply_s", json_object_new_double(tb));
                json_object_object_add(o, "stream_s", json_object_new_double(ts));
                json_object_object_add(o, "daemon_gaps_s", json_object_new_double(gap_total / 1e9));
                json_object_object_add(o, "daemon_max_gap_s", json_object_new_double(gap_max / 1e9));
                snprintf(what, sizeof(what), "  daemon time between reply and next request: total, max");
                bench_row("lend", what, gap_total / 1e6, gap_max / 1e6, "ms", NAN, NULL, VERDICT_NONE);
                json_object_array_add(d, o);
                packets_free(&pk);
        }
        if (!bench_cfg.smoke && gbps[0] > 0 && gbps[2] > 0) {
                double lo = fmin(gbps[0], fmin(gbps[1], gbps[2]));
                double hi = fmax(gbps[0], fmax(gbps[1], gbps[2]));
                bench_row("lend", "linearity: slowest / fastest GiB/s over sizes", lo / hi, NAN, "",
                          NAN, ">= 0.80 (linear)", lo / hi >= 0.8 ? VERDICT_MET : VERDICT_MISSED);
        }
        bench_detail("lend", d);
        bench_kill(sink_pid, SIGKILL);
        free(dir);
}
