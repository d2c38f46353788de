/* SPDX-License-Identifier: MIT */
/*
 * Load: 1,000 concurrent connections to the real gunyahd, 100 of them Monitor subscribers of
 * which a quarter never read, while VM events are generated (the simulated guest's
 * VM_SET_STATUS, through io.gunyah.Simulator.SetGuestStatus: one vm-rm-status event each,
 * plus start/stop cycles), 200 events per second.
 *
 * The connections come from 4 unprivileged uids (forked children; gunyahd allows
 * maxConnectionsPerUser = 256 per uid and maxConnections = 1024 in all, see GetDaemonInfo
 * limits), so the 1,000 fit. Every idle connection proves it is served by one
 * GetDaemonInfo call; every subscriber gets its snapshot.
 *
 * Measured: gunyahd's VmRSS (/proc) before, with the connections open and after the event
 * storm; the p99 latency of ListVMs from another client, idle (no other connection) and under
 * the load, both by the same sampler (one call every 5-25 ms, jittered). Invariants: gunyahd
 * alive; all 1,000 connections served; the readers received the events; RSS growth stays
 * within the daemon's documented output bound (max_output = 4 MiB per unread stream,
 * api-server.h) plus 64 MiB (not under ASan); no reading subscriber is disconnected and each
 * gets every event; --full: p99 under load <= 3x idle. The short mode (ctest, on a shared
 * 2-core machine, maybe under ASan, where the percentiles measure the scheduler) reports the
 * latency figures without judging them.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "rel-harness.h"

#define N_CHILDREN 4
#define N_CONNS 1000
#define N_MONITORS 100
#define N_SILENT 25
#define UID_BASE 61000

typedef struct Child {
        pid_t pid;
        int to_child, from_child;
        unsigned idle, monitors, silent;
} Child;

static long rss_kib(pid_t pid)
{
        char path[64], line[256];
        long kib = -1;
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

static bool under_asan(pid_t pid)
{
        char path[64], line[512];
        bool found = false;
        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
        FILE *f = fopen(path, "re");
        while (f && !found && fgets(line, sizeof(line), f))
                found = strstr(line, "libasan") != NULL;
        if (f)
                fclose(f);
        return found;
}

/* user + system CPU time of pid, in milliseconds */
static long cpu_ms(pid_t pid)
{
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        const char *p = strrchr(buf, ')');
        unsigned long ut = 0, st = 0;
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
                return -1;
        return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

/* Latency sampler: ListVMs on its own connection at jittered intervals, uncorrelated with
 * the event generator, until stop is set. Every other sample is a control instead: the same
 * round trip to a trivial echo process (echo_fd), so the figures show how much of a p99 is
 * the machine (scheduling two vCPUs among the load) rather than gunyahd. */
typedef struct Sampler {
        const char *api;
        uint64_t *lat;
        unsigned max, n;
        uint64_t *echo_lat; /* same capacity */
        unsigned n_echo;
        int echo_fd;
        uint64_t rng;
        volatile bool stop;
        int error;
} Sampler;

static int echo_round_trip(int fd)
{
        static const char msg[] = "{\"method\":\"io.gunyah.Manager.ListVMs\"}";
        char buf[sizeof(msg)];
        size_t got = 0;
        if (write(fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
                return -EIO;
        while (got < sizeof(msg)) {
                ssize_t n = read(fd, buf + got, sizeof(msg) - got);
                if (n <= 0)
                        return -EIO;
                got += (size_t)n;
        }
        return 0;
}

static void *sampler_main(void *arg)
{
        Sampler *sp = arg;
        RelConn *c = NULL;
        if (rel_conn_open(sp->api, &c) < 0) {
                sp->error = -1;
                return NULL;
        }
        for (unsigned i = 0; !sp->stop && sp->n < sp->max; i++) {
                uint64_t t = rel_now_usec();
                if (i % 2 && sp->echo_fd >= 0) {
                        if (echo_round_trip(sp->echo_fd) < 0) {
                                sp->error = -3;
                                break;
                        }
                        sp->echo_lat[sp->n_echo++] = rel_now_usec() - t;
                } else {
                        if (rel_call(c, "io.gunyah.Manager.ListVMs", NULL, false, REL_CALL_TIMEOUT_MS,
                                     NULL, NULL) < 0) {
                                sp->error = -1;
                                break;
                        }
                        sp->lat[sp->n++] = rel_now_usec() - t;
                }
                rel_sleep_ms(5 + rel_rand_below(&sp->rng, 20));
        }
        rel_conn_free(c);
        return NULL;
}

/* The control peer: a process that writes back what it reads (ends at EOF). */
static pid_t echo_spawn(int *ret_fd)
{
        int sv[2];
        REL_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
        pid_t pid = fork();
        REL_ASSERT(pid >= 0, "fork");
        if (pid == 0) {
                char buf[4096];
                /* dies with the test, and holds none of ctest's pipes if the test fails */
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (null >= 0) {
                        dup2(null, STDOUT_FILENO);
                        dup2(null, STDERR_FILENO);
                }
                close(sv[0]);
                for (;;) {
                        ssize_t n = read(sv[1], buf, sizeof(buf));
                        if (n <= 0 || write(sv[1], buf, (size_t)n) != n)
                                _exit(0);
                }
        }
        close(sv[1]);
        *ret_fd = sv[0];
        return pid;
}

static uint64_t pct(uint64_t *v, unsigned n, unsigned p)
{
        qsort(v, n, sizeof(uint64_t), cmp_u64);
        return n ? v[(n * p) / 100 < n ? (n * p) / 100 : n - 1] : 0;
}

/* Run a sampler to the end; its p50 and p99 in microseconds. */
static uint64_t sample_p99(Sampler *sp, uint64_t *ret_p50)
{
        pthread_t t;
        REL_ASSERT(pthread_create(&t, NULL, sampler_main, sp) == 0, "pthread_create");
        pthread_join(t, NULL);
        REL_ASSERT(sp->error == 0 && sp->n >= 20, "latency sampler failed (%d, %u samples)", sp->error,
                   sp->n);
        *ret_p50 = pct(sp->lat, sp->n, 50);
        return pct(sp->lat, sp->n, 99);
}

/* The child: open its connections as uid, report, relay events until told to stop. */
static void child_main(const char *api, uid_t uid, Child *ch, int in_fd, int out_fd)
{
        if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
                _exit(3);
        unsigned n = ch->idle + ch->monitors;
        RelConn **c = calloc(n, sizeof(*c));
        unsigned served = 0, subscribed = 0;
        for (unsigned i = 0; i < n; i++)
                if (rel_conn_open(api, &c[i]) < 0)
                        c[i] = NULL;
        /* pipelined: send on every connection, then read every answer */
        for (unsigned i = 0; i < n; i++)
                if (c[i])
                        (void)(i < ch->idle ? rel_conn_send(c[i], "io.gunyah.Manager.GetDaemonInfo", NULL, false)
                                            : rel_conn_send(c[i], "io.gunyah.Manager.Monitor", NULL, true));
        for (unsigned i = 0; i < n; i++) {
                struct json_object *m = NULL;
                if (!c[i] || (i >= ch->idle + ch->monitors - ch->silent && i >= ch->idle))
                        continue; /* silent subscribers never read, not even the snapshot */
                if (rel_conn_recv(c[i], REL_CALL_TIMEOUT_MS, &m) == 0 &&
                    !json_object_object_get_ex(m, "error", NULL))
                        (void)(i < ch->idle ? served++ : subscribed++);
                json_object_put(m);
        }
        dprintf(out_fd, "%u %u\n", served, subscribed);
        /* readers: consume events until the parent closes in_fd */
        uint64_t *events = calloc(n, sizeof(uint64_t));
        unsigned readers_closed = 0;
        bool stopping = false;
        uint64_t drain_end = 0, want = UINT64_MAX;
        for (;;) {
                struct pollfd pfd[N_CONNS + 1];
                unsigned map[N_CONNS + 1], k = 0;
                pfd[k] = (struct pollfd){ stopping ? -1 : in_fd, POLLIN, 0 };
                map[k++] = UINT32_MAX;
                for (unsigned i = ch->idle; i < ch->idle + ch->monitors - ch->silent; i++)
                        if (c[i]) {
                                pfd[k] = (struct pollfd){ rel_conn_fd(c[i]), POLLIN, 0 };
                                map[k++] = i;
                        }
                if (stopping && rel_now_usec() > drain_end)
                        break;
                if (stopping) {
                        /* drained: every open reader has the events the parent sent, or (no
                         * count given) the streams were quiet for 1 s */
                        bool all = want != UINT64_MAX;
                        for (unsigned j = 1; j < k && all; j++)
                                all = events[map[j]] >= want;
                        if (all)
                                break;
                }
                int pr = poll(pfd, k, 1000);
                if (pr < 0)
                        continue;
                if (pr == 0 && stopping && want == UINT64_MAX)
                        break;
                if (pfd[0].revents && !stopping) {
                        /* the parent writes how many events each reader must see, then
                         * closes: on a loaded machine the last events may still be on
                         * their way, so a quiet second is no proof of a drained stream */
                        char num[32] = "";
                        ssize_t got = read(in_fd, num, sizeof(num) - 1);
                        if (got > 0) {
                                num[got] = 0;
                                want = strtoull(num, NULL, 10);
                        }
                        stopping = true;
                        drain_end = rel_now_usec() + 60000000u;
                }
                for (unsigned j = 1; j < k; j++) {
                        struct json_object *m = NULL;
                        if (!pfd[j].revents)
                                continue;
                        int r;
                        while ((r = rel_conn_recv(c[map[j]], 0, &m)) == 0) {
                                events[map[j]]++;
                                json_object_put(m);
                                m = NULL;
                        }
                        if (r != -ETIMEDOUT) { /* closed by the daemon: stop polling it */
                                rel_conn_free(c[map[j]]);
                                c[map[j]] = NULL;
                                readers_closed++;
                        }
                }
        }
        uint64_t min_events = UINT64_MAX;
        unsigned silent_open = 0;
        for (unsigned i = ch->idle; i < ch->idle + ch->monitors - ch->silent; i++)
                if (events[i] < min_events)
                        min_events = events[i];
        for (unsigned i = ch->idle + ch->monitors - ch->silent; i < n; i++) {
                /* has the daemon closed this silent stream? (peek: EOF after the data) */
                struct pollfd p = { c[i] ? rel_conn_fd(c[i]) : -1, POLLRDHUP, 0 };
                if (c[i] && !(poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP))))
                        silent_open++;
        }
        dprintf(out_fd, "%" PRIu64 " %u %u\n", min_events == UINT64_MAX ? 0 : min_events, silent_open,
                readers_closed);
        for (unsigned i = 0; i < n; i++)
                rel_conn_free(c[i]);
        free(c);
        free(events);
        _exit(0);
}

static void read_line(int fd, char *buf, size_t n)
{
        size_t len = 0;
        while (len + 1 < n) {
                struct pollfd p = { fd, POLLIN, 0 };
                REL_ASSERT(poll(&p, 1, 120000) > 0, "child did not answer");
                ssize_t k = read(fd, buf + len, 1);
                REL_ASSERT(k == 1, "child pipe closed");
                if (buf[len] == '\n')
                        break;
                len++;
        }
        buf[len] = 0;
}

int main(int argc, char **argv)
{
        RelArgs a;
        rel_parse_args(argc, argv, &a);
        if (geteuid() != 0) {
                printf("test-rel-load: needs root (connections from several uids); skipped\n");
                return 77;
        }
        /* a steady event rate (each event goes to 100 subscribers): enough in --full for the
         * silent subscribers' queues to reach the daemon's 4 MiB cap */
        unsigned events_target = a.count ? a.count : a.full ? 16000 : 1500;
        const unsigned rate = 200; /* events per second */
        unsigned samples = a.full ? 4000 : 300;
        unsigned idle_samples = a.full ? 600 : 100;
        printf("test-rel-load: %s mode, seed %" PRIu64 ", %u connections, %u subscribers (%u silent), "
               "%u status events\n", a.full ? "full" : "short", a.seed, N_CONNS, N_MONITORS, N_SILENT,
               events_target);
        struct rlimit rl = { 8192, 8192 };
        REL_ASSERT(setrlimit(RLIMIT_NOFILE, &rl) == 0, "RLIMIT_NOFILE: %m");

        RelStack *s = rel_stack_new(&(RelStackOpts){ .guest_pace_ms = 1, .nofile = 4096 });
        rel_daemon_start_or_skip(s);
        int r;
        REL_ASSERT(chmod(s->dir, 0755) == 0 && chmod(s->api_path, 0666) == 0, "chmod");
        char *err = NULL;
        REL_ASSERT(rel_create_vm(s, "load0", 32ull << 20, false, true, &err) == 0, "create");
        REL_ASSERT(rel_create_vm(s, "load1", 32ull << 20, false, true, &err) == 0, "create");
        REL_ASSERT(rel_api(s, "StartVM", "{\"name\":\"load0\"}", REL_CALL_TIMEOUT_MS, NULL, &err) == 0,
                   "start: %s", err);
        int vmid = rel_vm_vmid(s, "load0");

        long rss0 = rss_kib(s->daemon);
        /* Idle: the same sampler (same pacing, same kind of connection) with nothing else
         * running. Back-to-back calls would keep both CPUs awake and give a figure that the
         * paced sampler under load cannot be compared with (on this VM a paced call pays the
         * wake-up of an idle vCPU: p50 ~130 us against ~35 us back to back). */
        int echo_fd = -1;
        pid_t echo_pid = echo_spawn(&echo_fd);
        Sampler idle = { .api = s->api_path, .lat = calloc(idle_samples, sizeof(uint64_t)),
                         .max = idle_samples, .echo_lat = calloc(idle_samples, sizeof(uint64_t)),
                         .echo_fd = echo_fd, .rng = a.seed ^ 0x5a5a };
        uint64_t idle50, idle99 = sample_p99(&idle, &idle50);
        uint64_t echo_idle50 = pct(idle.echo_lat, idle.n_echo, 50);
        uint64_t echo_idle99 = pct(idle.echo_lat, idle.n_echo, 99);
        free(idle.lat);
        free(idle.echo_lat);
        printf("idle: ListVMs p50 %" PRIu64 " us, p99 %" PRIu64 " us (%u samples, 5-25 ms apart); "
               "control (echo process, same pacing) p50 %" PRIu64 " us, p99 %" PRIu64 " us; "
               "gunyahd RSS %ld KiB\n", idle50, idle99, idle_samples, echo_idle50, echo_idle99, rss0);

        Child ch[N_CHILDREN];
        unsigned idle_left = N_CONNS - N_MONITORS, mon_left = N_MONITORS, silent_left = N_SILENT;
        for (int i = 0; i < N_CHILDREN; i++) {
                int down[2], up[2];
                ch[i] = (Child){ .idle = idle_left / (unsigned)(N_CHILDREN - i),
                                 .monitors = mon_left / (unsigned)(N_CHILDREN - i),
                                 .silent = silent_left / (unsigned)(N_CHILDREN - i) };
                idle_left -= ch[i].idle;
                mon_left -= ch[i].monitors;
                silent_left -= ch[i].silent;
                REL_ASSERT(pipe(down) == 0 && pipe(up) == 0, "pipe");
                pid_t pid = fork();
                REL_ASSERT(pid >= 0, "fork");
                if (pid == 0) {
                        close(down[1]);
                        close(up[0]);
                        /* the pipes of the children before: their EOF must not wait for us */
                        for (int j = 0; j < i; j++) {
                                close(ch[j].to_child);
                                close(ch[j].from_child);
                        }
                        child_main(s->api_path, (uid_t)(UID_BASE + i), &ch[i], down[0], up[1]);
                }
                close(down[0]);
                close(up[1]);
                ch[i].pid = pid;
                ch[i].to_child = down[1];
                ch[i].from_child = up[0];
        }
        unsigned served = 0, subscribed = 0;
        for (int i = 0; i < N_CHILDREN; i++) {
                char line[128];
                unsigned a1 = 0, a2 = 0;
                read_line(ch[i].from_child, line, sizeof(line));
                sscanf(line, "%u %u", &a1, &a2);
                served += a1;
                subscribed += a2;
        }
        long rss1 = rss_kib(s->daemon);
        printf("connected: %u of %u idle connections served, %u of %u reading subscribers got "
               "their snapshot; gunyahd RSS %ld KiB\n", served, N_CONNS - N_MONITORS, subscribed,
               N_MONITORS - N_SILENT, rss1);
        REL_ASSERT(served == N_CONNS - N_MONITORS, "only %u connections served", served);
        REL_ASSERT(subscribed == N_MONITORS - N_SILENT, "only %u subscribers", subscribed);

        /* the event storm, with latency sampled meanwhile by another thread */
        uint64_t t0 = rel_now_usec();
        long cpu0 = cpu_ms(s->daemon);
        Sampler sp = { .api = s->api_path, .lat = calloc(samples, sizeof(uint64_t)), .max = samples,
                       .echo_lat = calloc(samples, sizeof(uint64_t)), .echo_fd = echo_fd,
                       .rng = a.seed };
        pthread_t sampler;
        REL_ASSERT(pthread_create(&sampler, NULL, sampler_main, &sp) == 0, "pthread_create");
        for (unsigned e = 0; e < events_target; e++) {
                char p[128];
                snprintf(p, sizeof(p), "{\"vmid\":%d,\"osStatus\":0,\"appStatus\":%u}", vmid, e % 60000 + 1);
                r = rel_sim(s, "SetGuestStatus", p, NULL);
                REL_ASSERT(r == 0, "SetGuestStatus: %s", strerror(-r));
                if (e % 500 == 250) { /* a start/stop cycle of the other VM now and then */
                        (void)rel_api(s, "StartVM", "{\"name\":\"load1\"}", REL_CALL_TIMEOUT_MS, NULL, NULL);
                        (void)rel_api(s, "StopVM", "{\"name\":\"load1\",\"force\":true}", REL_CALL_TIMEOUT_MS, NULL, NULL);
                }
                REL_ASSERT(e % 1000 || rel_daemon_alive(s), "gunyahd died");
                uint64_t due = t0 + (uint64_t)(e + 1) * 1000000u / rate, now = rel_now_usec();
                if (due > now)
                        rel_sleep_ms((unsigned)((due - now) / 1000u));
        }
        sp.stop = true;
        pthread_join(sampler, NULL);
        REL_ASSERT(sp.error == 0 && sp.n >= 20, "latency sampler failed (%u samples)", sp.n);
        uint64_t *lat = sp.lat;
        unsigned nlat = sp.n;
        double secs = (rel_now_usec() - t0) / 1e6;
        long cpu1 = cpu_ms(s->daemon);
        qsort(lat, nlat, sizeof(uint64_t), cmp_u64);
        uint64_t load50 = lat[nlat / 2], load99 = lat[(nlat * 99) / 100];
        free(lat);
        uint64_t echo_load50 = pct(sp.echo_lat, sp.n_echo, 50), echo_load99 = pct(sp.echo_lat, sp.n_echo, 99);
        free(sp.echo_lat);
        close(echo_fd);
        kill(echo_pid, SIGKILL);
        waitpid(echo_pid, NULL, 0);
        long rss2 = rss_kib(s->daemon);
        REL_ASSERT(rel_daemon_alive(s), "gunyahd died under load");
        /* The RM keeps at most 256 pending notifications and drops the oldest past that
         * (rm-protocol.md 4.4): a daemon slower than the event rate (ASan, a starved CPU)
         * never receives those. Every notification it did receive must reach every reader. */
        uint64_t dropped = 0;
        struct json_object *st = NULL, *link = NULL, *v = NULL;
        r = rel_sim(s, "GetState", NULL, &st);
        REL_ASSERT(r == 0, "simulator GetState: %s", strerror(-r));
        if (json_object_object_get_ex(st, "link", &link) &&
            json_object_object_get_ex(link, "droppedNotifications", &v))
                dropped = (uint64_t)json_object_get_int64(v);
        json_object_put(st);
        unsigned expected = dropped >= events_target ? 0 : events_target - (unsigned)dropped;

        uint64_t min_events = UINT64_MAX;
        unsigned silent_open = 0, readers_closed = 0;
        for (int i = 0; i < N_CHILDREN; i++) {
                char line[128];
                uint64_t me = 0;
                unsigned so = 0, rc = 0;
                dprintf(ch[i].to_child, "%u\n", expected);
                close(ch[i].to_child);
                read_line(ch[i].from_child, line, sizeof(line));
                sscanf(line, "%" SCNu64 " %u %u", &me, &so, &rc);
                readers_closed += rc;
                if (me < min_events)
                        min_events = me;
                silent_open += so;
                close(ch[i].from_child);
                int status;
                waitpid(ch[i].pid, &status, 0);
        }
        printf("load: %u events in %.1f s (%.0f/s) to %u subscribers; fewest events a reader got: %"
               PRIu64 "; silent subscribers still connected: %u of %u; reading subscribers "
               "disconnected by gunyahd: %u\n", events_target, secs, events_target / secs, N_MONITORS,
               min_events, silent_open, N_SILENT, readers_closed);
        printf("load: gunyahd used %.2f s of CPU in %.1f s (%.0f%%)\n", (cpu1 - cpu0) / 1e3, secs,
               (cpu1 - cpu0) / 10.0 / secs);
        printf("load: ListVMs p50 %" PRIu64 " us, p99 %" PRIu64 " us (idle p99 %" PRIu64
               " us, ratio %.2f); gunyahd RSS %ld KiB -> %ld KiB -> %ld KiB\n", load50, load99, idle99,
               (double)load99 / (double)(idle99 ? idle99 : 1), rss0, rss1, rss2);
        printf("load: control (echo process, same pacing) p50 %" PRIu64 " us, p99 %" PRIu64
               " us (idle p99 %" PRIu64 " us, ratio %.2f): what the machine alone does to a round "
               "trip under this load\n", echo_load50, echo_load99, echo_idle99,
               (double)echo_load99 / (double)(echo_idle99 ? echo_idle99 : 1));
        REL_ASSERT(readers_closed == 0, "gunyahd disconnected %u reading subscribers", readers_closed);
        /* one vm-rm-status event per SetGuestStatus the daemon was sent, plus those of the
         * start/stop cycles */
        printf("load: the RM dropped %" PRIu64 " of %u status notifications (queue full: the "
               "daemon fell behind the link)\n", dropped, events_target);
        REL_ASSERT(min_events >= expected,
                   "a reading subscriber got only %" PRIu64 " events of %u", min_events, expected);
        if (a.full && !under_asan(s->daemon))
                REL_ASSERT(dropped == 0, "the RM dropped %" PRIu64 " notifications", dropped);
        long bound = rss0 + (long)N_SILENT * 4096 + 65536;
        if (under_asan(s->daemon)) /* shadow memory and the free quarantine make RSS meaningless */
                printf("load: gunyahd runs under ASan: RSS bound not checked\n");
        else
                REL_ASSERT(rss2 <= bound, "gunyahd RSS %ld KiB exceeds the bound %ld KiB", rss2, bound);
        /* The latency criterion is --full's: on a shared 2-core CI machine (and under ASan) the
         * daemon is starved by other processes and the percentiles measure the scheduler. */
        if (a.full)
                REL_ASSERT(load99 <= 3 * idle99, "p99 under load %" PRIu64 " us > 3 x idle p99 %" PRIu64
                           " us", load99, idle99);
        char why[1024];
        r = rel_cleanup_all(s, 60000, why, sizeof(why));
        REL_ASSERT(r == 0, "leak: %s", why);
        REL_ASSERT(chmod(s->dir, 0700) == 0, "chmod");
        printf("test-rel-load: every invariant held\n");
        rel_stack_free(s);
        return 0;
}
