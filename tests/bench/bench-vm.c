/* SPDX-License-Identifier: MIT */
/*
 * Figures "lifecycle" and "paging".
 *
 * lifecycle: CreateVM, StartVM (with its progress replies: per-stage times), StopVM and
 * DestroyVM of a 256 MiB VM on gunyahd, against the sum of the same RM round trips plus the
 * image copy. The RM exchange is captured once (untimed) by a SOCK_SEQPACKET proxy between a
 * daemon and its simulator, together with the bytes the daemon wrote into the pool; each
 * baseline repetition then copies those bytes into a fresh simulator's pool (memcpy) and
 * replays the captured requests with a bare client, reading every packet the RM sent in the
 * capture (so waits for notifications count on both sides).
 *
 * paging: a fault raised on the simulator's control socket (RaisePageFault) until the daemon
 * reports it served (Monitor event vm-page-fault at MEM_ACCEPTED), against four bare RM
 * round trips plus one control-socket round trip on a twin simulator.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench-bare.h"
#include "bench-vm.h"
#include "bench.h"
#include "gunyahctl.h"
#include "buf.h"
#include "rm-ids.h"
#include "rm-vm.h"
#include "sim-client.h"

enum { PH_CREATE, PH_START, PH_STOP, PH_DESTROY, _PH_MAX };
static const char *const phase_name[_PH_MAX] = { "create", "start", "stop", "destroy" };

/* ---- capture proxy ---- */

typedef struct Pkt {
        uint8_t to_rm; /* 1: daemon -> RM */
        uint8_t phase;
        uint16_t len;
        uint8_t data[RM_PACKET_MAX];
} Pkt;

typedef struct Proxy {
        int lfd, stop[2];
        char upstream[256];
        pthread_t thread;
        atomic_int recording; /* -1 off, else the phase */
        Pkt *pkts;
        size_t n, cap;
        int error;
} Proxy;

static void proxy_record(Proxy *p, bool to_rm, const uint8_t *d, ssize_t n)
{
        int ph = atomic_load(&p->recording);

        if (ph < 0 || n <= 0 || n > (ssize_t)RM_PACKET_MAX)
                return;
        if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 1024;
                Pkt *np = realloc(p->pkts, cap * sizeof(*np));
                if (!np) {
                        p->error = -ENOMEM;
                        return;
                }
                p->pkts = np;
                p->cap = cap;
        }
        Pkt *k = &p->pkts[p->n++];
        k->to_rm = to_rm;
        k->phase = (uint8_t)ph;
        k->len = (uint16_t)n;
        memcpy(k->data, d, (size_t)n);
}

static void *proxy_main(void *ud)
{
        Proxy *p = ud;
        int down = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC), up = -1;

        if (down >= 0)
                up = rm_connect_exclusive(p->upstream);
        if (down < 0 || up < 0) {
                p->error = down < 0 ? -errno : up;
                goto out;
        }
        for (;;) {
                struct pollfd f[3] = { { .fd = down, .events = POLLIN },
                                       { .fd = up, .events = POLLIN },
                                       { .fd = p->stop[0], .events = POLLIN } };
                uint8_t buf[1024];
                if (poll(f, 3, -1) < 0 && errno != EINTR)
                        break;
                if (f[2].revents)
                        break;
                for (int i = 0; i < 2; i++) {
                        if (!f[i].revents)
                                continue;
                        ssize_t n = read(f[i].fd, buf, sizeof(buf));
                        if (n <= 0)
                                goto out;
                        /* record before forwarding: the order of the capture is causal */
                        proxy_record(p, i == 0, buf, n);
                        if (write(i == 0 ? up : down, buf, (size_t)n) != n)
                                goto out;
                }
        }
out:
        if (down >= 0)
                close(down);
        if (up >= 0)
                close(up);
        return NULL;
}

static int proxy_start(Proxy *p, const char *path, const char *upstream)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        *p = (Proxy){ .lfd = -1, .stop = { -1, -1 } };
        atomic_store(&p->recording, -1);
        snprintf(p->upstream, sizeof(p->upstream), "%s", upstream);
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        p->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(p->lfd, 1) < 0 || pipe2(p->stop, O_CLOEXEC) < 0)
                return -errno;
        return -pthread_create(&p->thread, NULL, proxy_main, p);
}

static void proxy_stop(Proxy *p)
{
        if (p->stop[1] >= 0) {
                (void)!write(p->stop[1], "x", 1);
                pthread_join(p->thread, NULL);
                close(p->stop[0]);
                close(p->stop[1]);
        }
        if (p->lfd >= 0)
                close(p->lfd);
}

/* ---- pool snapshot: what the daemon wrote (data extents of the sparse pool file) ---- */

typedef struct Chunk {
        uint64_t off;
        size_t len;
        uint8_t *data;
} Chunk;

static int snapshot_pool(const char *path, Chunk **ret, size_t *ret_n, uint64_t *ret_bytes)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        Chunk *c = NULL;
        size_t n = 0;
        uint64_t bytes = 0;
        off_t pos = 0;

        if (fd < 0)
                return -errno;
        for (;;) {
                off_t d = lseek(fd, pos, SEEK_DATA);
                if (d < 0)
                        break;
                off_t h = lseek(fd, d, SEEK_HOLE);
                if (h <= d)
                        break;
                Chunk *nc = realloc(c, (n + 1) * sizeof(*c));
                if (!nc)
                        break;
                c = nc;
                c[n] = (Chunk){ .off = (uint64_t)d, .len = (size_t)(h - d) };
                c[n].data = malloc(c[n].len);
                if (!c[n].data || pread(fd, c[n].data, c[n].len, d) != (ssize_t)c[n].len) {
                        free(c[n].data);
                        break;
                }
                bytes += c[n].len;
                n++;
                pos = h;
        }
        close(fd);
        *ret = c;
        *ret_n = n;
        *ret_bytes = bytes;
        return 0;
}

/* ---- the daemon side ---- */

#define MAX_STAGES 16
typedef struct StageTimes {
        char name[MAX_STAGES][24];
        Samples s[MAX_STAGES];
        size_t n;
        uint64_t last;
        int cur;
} StageTimes;

static int stage_index(StageTimes *st, const char *name)
{
        for (size_t i = 0; i < st->n; i++)
                if (!strcmp(st->name[i], name))
                        return (int)i;
        if (st->n == MAX_STAGES)
                return -1;
        snprintf(st->name[st->n], sizeof(st->name[0]), "%s", name);
        return (int)st->n++;
}

static int on_progress(const char *stage, const char *json, void *ud)
{
        StageTimes *st = ud;
        uint64_t now = bench_now_ns();

        (void)json;
        if (st->cur >= 0)
                samples_add(&st->s[st->cur], now - st->last);
        st->cur = stage_index(st, stage);
        st->last = now;
        return 0;
}

typedef struct Snapshot {
        const char *pool_path; /* snapshot the pool right after the start */
        Chunk *ch;
        size_t n;
        uint64_t bytes;
} Snapshot;

static int snapshot_pool(const char *path, Chunk **ret, size_t *ret_n, uint64_t *ret_bytes);

static int lifecycle_once(gunyahctl *h, const char *name, uint64_t mem, Samples *ph,
                          StageTimes *st, Proxy *cap, Snapshot *snap)
{
        uint64_t t[_PH_MAX + 1];
        int r;

        t[0] = bench_now_ns();
        if (cap)
                atomic_store(&cap->recording, PH_CREATE);
        if ((r = vm_create(h, name, mem, false)) < 0)
                return r;
        t[1] = bench_now_ns();
        if (cap)
                atomic_store(&cap->recording, PH_START);
        if (st) {
                st->cur = -1;
                st->last = t[1];
        }
        if ((r = gunyahctl_start_vm(h, name, st ? on_progress : NULL, st, NULL)) < 0)
                return r;
        if (snap && (r = snapshot_pool(snap->pool_path, &snap->ch, &snap->n, &snap->bytes)) < 0)
                return r;
        t[2] = bench_now_ns();
        if (st && st->cur >= 0)
                samples_add(&st->s[st->cur], t[2] - st->last);
        if (cap)
                atomic_store(&cap->recording, PH_STOP);
        if ((r = gunyahctl_stop_vm(h, name, false, 0, NULL)) < 0)
                return r;
        t[3] = bench_now_ns();
        if (cap)
                atomic_store(&cap->recording, PH_DESTROY);
        if ((r = gunyahctl_destroy_vm(h, name, NULL)) < 0)
                return r;
        t[4] = bench_now_ns();
        if (cap)
                atomic_store(&cap->recording, -1);
        for (int i = 0; ph && i < _PH_MAX; i++)
                samples_add(&ph[i], t[i + 1] - t[i]);
        return 0;
}

/* ---- the baseline: replay on a simulator of its own ---- */

/*
 * The replay's simulator lives as long as the daemon's (so both have their pool mapped and
 * faulted in after the warm-up); what differs from one lifecycle to the next on it is the
 * memparcel handle (a counter), so the handle of each LEND reply is mapped to the captured
 * one and patched into the requests that carry it (MEM_APPEND, MEM_RECLAIM, MEM_RELEASE,
 * MEM_NOTIFY at payload offset 0, VM_CONFIG_IMAGE at offset 4). VMIDs are reused by the
 * simulator (lowest free), and every reply's error word is compared with the capture.
 */
typedef struct Replay {
        SimClient *sim;
        BareRm b;
        uint8_t *pool;
        uint32_t map_from[8], map_to[8];
        size_t n_map;
        size_t reordered; /* packets received in another order than captured */
} Replay;

static void replay_patch(Replay *rp, uint8_t *pkt, size_t len)
{
        uint32_t id = (uint32_t)pkt[4] | pkt[5] << 8 | pkt[6] << 16 | (uint32_t)pkt[7] << 24;
        size_t off;

        if ((pkt[1] & 3) != RM_MSG_REQUEST)
                return;
        if (id == RM_MEM_APPEND || id == RM_MEM_RECLAIM || id == RM_MEM_RELEASE ||
            id == RM_MEM_NOTIFY)
                off = RM_HEADER_SIZE;
        else if (id == RM_VM_CONFIG_IMAGE)
                off = RM_HEADER_SIZE + 4;
        else
                return;
        if (off + 4 > len)
                return;
        uint32_t h = le32_get(pkt + off);
        for (size_t i = 0; i < rp->n_map; i++)
                if (rp->map_from[i] == h)
                        le32_put(pkt + off, rp->map_to[i]);
}

static int replay_run(Replay *rp, const Pkt *pk, size_t n, const Chunk *ch, size_t n_ch,
                      Samples *copy, Samples *ph, size_t *mismatch)
{
        uint64_t t[_PH_MAX] = { 0 };

        rp->n_map = 0;
        uint64_t t0 = bench_now_ns();
        for (size_t i = 0; i < n_ch; i++)
                memcpy(rp->pool + ch[i].off, ch[i].data, ch[i].len);
        uint64_t t1 = bench_now_ns();
        if (copy)
                samples_add(copy, t1 - t0);
        uint64_t last = t1;
        int cur = pk && n ? pk[0].phase : 0;
        for (size_t i = 0; i < n; i++) {
                uint8_t buf[1024];
                if (pk[i].phase != cur) {
                        uint64_t now = bench_now_ns();
                        t[cur] += now - last;
                        last = now;
                        cur = pk[i].phase;
                }
                if (pk[i].to_rm) {
                        memcpy(buf, pk[i].data, pk[i].len);
                        replay_patch(rp, buf, pk[i].len);
                        if (write(rp->b.fd, buf, pk[i].len) != pk[i].len)
                                return -errno;
                        continue;
                }
                struct pollfd f = { .fd = rp->b.fd, .events = POLLIN };
                if (poll(&f, 1, 10000) <= 0)
                        return -ETIMEDOUT;
                ssize_t k = read(rp->b.fd, buf, sizeof(buf));
                if (k <= 0)
                        return k < 0 ? -errno : -ECONNRESET;
                uint32_t id = le32_get(buf + 4);
                if (k >= 16 && (buf[1] & 3) == RM_MSG_REPLY && pk[i].len >= 16 &&
                    (id == RM_MEM_LEND || id == RM_MEM_SHARE || id == RM_MEM_DONATE) &&
                    rp->n_map < 8) {
                        rp->map_from[rp->n_map] = le32_get(pk[i].data + 12);
                        rp->map_to[rp->n_map++] = le32_get(buf + 12);
                }
                /* Notifications and replies may arrive in another order than in the capture
                 * (timing); that is counted as a reorder. A reply whose error word differs from
                 * the captured reply to the same call (nearby) is a real mismatch. */
                if (k < 12 || buf[1] != pk[i].data[1] || memcmp(buf + 4, pk[i].data + 4, 4))
                        rp->reordered++;
                if (k >= 12 && (buf[1] & 3) == RM_MSG_REPLY) {
                        bool found = false;
                        for (size_t j = i > 8 ? i - 8 : 0; j < n && j < i + 8 && !found; j++)
                                if (!pk[j].to_rm && pk[j].len >= 12 && (pk[j].data[1] & 3) == RM_MSG_REPLY &&
                                    !memcmp(pk[j].data + 4, buf + 4, 4)) {
                                        found = true;
                                        if (memcmp(pk[j].data + 8, buf + 8, 4))
                                                (*mismatch)++;
                                }
                        if (!found)
                                (*mismatch)++;
                }
        }
        t[cur] += bench_now_ns() - last;
        for (int i = 0; ph && i < _PH_MAX; i++)
                samples_add(&ph[i], t[i]);
        return 0;
}

static int replay_open(Replay *rp, const char *dir, uint64_t pool_size)
{
        int r = bench_sim_spawn(dir, pool_size, &rp->sim);

        if (r < 0)
                return r;
        rp->pool = sim_client_pool(rp->sim);
        if (!rp->pool)
                return -ENOMEM;
        return bare_open(&rp->b, sim_client_rm_path(rp->sim));
}

static void replay_close(Replay *rp)
{
        bare_close(&rp->b);
        sim_client_free(rp->sim);
}

void fig_lifecycle(void)
{
        const uint64_t mem = bench_cfg.smoke ? (64u << 20) : (256u << 20);
        const unsigned reps = bench_cfg.smoke ? 2 : 2 * bench_cfg.reps;
        Stack cap_st = { 0 }, st = { 0 };
        Proxy px = { .lfd = -1, .stop = { -1, -1 } };
        Samples dph[_PH_MAX] = { 0 }, bph[_PH_MAX] = { 0 }, copy = { 0 };
        StageTimes stages = { .cur = -1 };
        Chunk *ch = NULL;
        size_t n_ch = 0, mismatch = 0;
        uint64_t snap_bytes = 0;
        gunyahctl *h = NULL;
        char proxy_path[600], what[96];
        int r;

        if (!bench_selected("lifecycle"))
                return;

        /* 1. capture (untimed): daemon -> proxy -> simulator */
        r = stack_open(&cap_st, "lifecycle-capture", 1ull << 30, 0);
        /* stack_open started the daemon on the simulator directly: restart it on the proxy */
        if (r >= 0) {
                daemon_stop(&cap_st.d, SIGTERM);
                snprintf(proxy_path, sizeof(proxy_path), "%s/proxy.sock", cap_st.dir);
                r = proxy_start(&px, proxy_path, sim_client_rm_path(cap_st.sim));
        }
        if (r >= 0)
                r = daemon_respawn(&cap_st.d, proxy_path, cap_st.pool_spec, 0);
        if (r >= 0)
                r = gunyahctl_connect(&h, cap_st.d.api);
        if (r >= 0) {
                /* the pool file is fresh: what it holds after the start is what the daemon
                 * wrote (kernel, DTB and the zeroed gaps of the image parcel) */
                Snapshot snap = { .pool_path = sim_client_pool_path(cap_st.sim) };
                r = lifecycle_once(h, "capture", mem, NULL, NULL, &px, &snap);
                ch = snap.ch;
                n_ch = snap.n;
                snap_bytes = snap.bytes;
                if (r < 0)
                        bench_log("lifecycle capture: %s (%s)", strerror(-r),
                                  gunyahctl_error_name(h) ?: "-");
        }
        h = gunyahctl_disconnect(h);
        daemon_stop(&cap_st.d, SIGTERM);
        proxy_stop(&px);
        if (r < 0 || px.error < 0 || px.n == 0) {
                bench_fail("lifecycle", "capture: %s", strerror(-(r < 0 ? r : px.error < 0 ? px.error : EIO)));
                goto out;
        }

        if (getenv("GUNYAH_BENCH_DEBUG"))
                for (size_t i = 0; i < px.n; i++)
                        fprintf(stderr, "capture %zu phase %s %s type %u msg_id 0x%08x len %u\n", i,
                                phase_name[px.pkts[i].phase], px.pkts[i].to_rm ? "->rm" : "<-rm",
                                px.pkts[i].data[1] & 3, px.pkts[i].data[4] | px.pkts[i].data[5] << 8 |
                                px.pkts[i].data[6] << 16 | (uint32_t)px.pkts[i].data[7] << 24,
                                px.pkts[i].len);
        /* 2. timed: daemon and replay, alternating */
        r = stack_open(&st, "lifecycle", 1ull << 30, 0);
        if (r >= 0)
                r = gunyahctl_connect(&h, st.d.api);
        if (r >= 0)
                r = lifecycle_once(h, "warmup", mem, NULL, NULL, NULL, NULL);
        char *rdir = bench_subdir("lifecycle-replay");
        Replay rp = { .b.fd = -1 };
        if (r >= 0)
                r = rdir ? replay_open(&rp, rdir, 1ull << 30) : -ENOMEM;
        if (r >= 0) /* warm-up, as on the daemon's side */
                r = replay_run(&rp, px.pkts, px.n, ch, n_ch, NULL, NULL, &mismatch);
        for (unsigned i = 0; r >= 0 && i < reps; i++) {
                char name[32];
                snprintf(name, sizeof(name), "life%u", i);
                if (i & 1) {
                        r = replay_run(&rp, px.pkts, px.n, ch, n_ch, &copy, bph, &mismatch);
                        if (r >= 0)
                                r = lifecycle_once(h, name, mem, dph, &stages, NULL, NULL);
                } else {
                        r = lifecycle_once(h, name, mem, dph, &stages, NULL, NULL);
                        if (r >= 0)
                                r = replay_run(&rp, px.pkts, px.n, ch, n_ch, &copy, bph, &mismatch);
                }
        }
        size_t reordered = rp.reordered;
        replay_close(&rp);
        free(rdir);
        if (r < 0) {
                bench_fail("lifecycle", "%s (%s)", strerror(-r), h ? gunyahctl_error_name(h) ?: "-" : "-");
                goto out;
        }
        double dsum = 0, bsum = samples_pct(&copy, 50) / 1e6;
        struct json_object *d = json_object_new_object(), *stj = json_object_new_object();
        for (int i = 0; i < _PH_MAX; i++) {
                double a = samples_pct(&dph[i], 50) / 1e6, b = samples_pct(&bph[i], 50) / 1e6;
                dsum += a;
                bsum += b;
                snprintf(what, sizeof(what), "  %s (median; baseline: its RM exchange)",
                         phase_name[i]);
                bench_row("lifecycle", what, a, b, "ms", b > 0 ? a / b : NAN, NULL, VERDICT_NONE);
                json_object_object_add(d, phase_name[i], samples_json(&dph[i]));
        }
        for (size_t i = 0; i < stages.n; i++) {
                snprintf(what, sizeof(what), "    start stage %s", stages.name[i]);
                bench_row("lifecycle", what, samples_pct(&stages.s[i], 50) / 1e6, NAN, "ms", NAN,
                          NULL, VERDICT_NONE);
                json_object_object_add(stj, stages.name[i], samples_json(&stages.s[i]));
        }
        snprintf(what, sizeof(what), "  image copy (memcpy of %llu KiB)",
                 (unsigned long long)(snap_bytes >> 10));
        bench_row("lifecycle", what, NAN, samples_pct(&copy, 50) / 1e6, "ms", NAN, NULL,
                  VERDICT_NONE);
        snprintf(what, sizeof(what), "create+start+stop+destroy, %llu MiB (sum of medians)",
                 (unsigned long long)(mem >> 20));
        bench_row("lifecycle", what, dsum, bsum, "ms", dsum / bsum, "<= 1.5x",
                  dsum / bsum <= 1.5 ? VERDICT_MET : VERDICT_MISSED);
        json_object_object_add(d, "start_stages", stj);
        json_object_object_add(d, "replay_packets", json_object_new_int64((int64_t)px.n));
        json_object_object_add(d, "replay_reply_mismatches", json_object_new_int64((int64_t)mismatch));
        json_object_object_add(d, "replay_reordered_packets", json_object_new_int64((int64_t)reordered));
        json_object_object_add(d, "image_copy", samples_json(&copy));
        json_object_object_add(d, "image_bytes", json_object_new_int64((int64_t)snap_bytes));
        for (int i = 0; i < _PH_MAX; i++) {
                char k[32];
                snprintf(k, sizeof(k), "replay_%s", phase_name[i]);
                json_object_object_add(d, k, samples_json(&bph[i]));
        }
        bench_detail("lifecycle", d);
        if (mismatch)
                bench_log("lifecycle: %zu replayed replies differ from the capture", mismatch);
out:
        gunyahctl_disconnect(h);
        stack_close(&st);
        stack_close(&cap_st);
        for (size_t i = 0; i < n_ch; i++)
                free(ch[i].data);
        free(ch);
        free(px.pkts);
        for (int i = 0; i < _PH_MAX; i++) {
                samples_done(&dph[i]);
                samples_done(&bph[i]);
        }
        for (size_t i = 0; i < stages.n; i++)
                samples_done(&stages.s[i]);
        samples_done(&copy);
}
