#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * gunyah-bench: measures gunyahd against its physical baseline and a real peer, each figure
 * side by side with its baseline in the same run (issue 6, docs/performance.md).
 *
 * Owns: timing (CLOCK_MONOTONIC ns), sample sets and their percentiles, the result table and
 * its JSON, the environment of one run (temp dir, simulators, daemons, the notify socket),
 * and the raw clients and servers used as baselines.
 *
 * Invariants: every latency figure is measured as alternating repetitions of both sides
 * (A B, B A, ...) after warm-up, with the same client code, message sizes and socket types;
 * the harness's own cost (timer, empty loop) is measured and reported, never subtracted.
 * Error contract: negative errno; a figure that cannot run is reported as skipped with why.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct json_object;

/* ---- time and samples (bench-util.c) ---- */
uint64_t bench_now_ns(void);

typedef struct Samples {
        uint64_t *v; /* ns */
        size_t n, cap;
} Samples;
int samples_add(Samples *s, uint64_t ns);
void samples_done(Samples *s);
/* p in [0, 100]; nearest-rank on a sorted copy. 0 when empty. */
uint64_t samples_pct(const Samples *s, double p);
double samples_mean(const Samples *s);
/* {"n","p50_us","p99_us","min_us","max_us","mean_us"} */
struct json_object *samples_json(const Samples *s);

/* ---- run configuration ---- */
typedef struct BenchConfig {
        bool smoke;
        unsigned reps;       /* repetitions per side */
        unsigned iters;      /* timed iterations per repetition */
        unsigned warmup;     /* untimed iterations before each repetition */
        double tput_secs;    /* duration of one throughput repetition */
        const char *only;    /* comma list of figure keys, NULL = all */
        const char *bindir;  /* where gunyahd, gunyah-rm-sim, gunyah-test-image live */
        const char *qemu;    /* qemu-system-aarch64 path */
        char workdir[256];   /* the run's temp dir */
        char statedir[256];  /* where daemons keep their state (disk, or tmpfs) */
        bool keep;           /* keep workdir */
} BenchConfig;

extern BenchConfig bench_cfg;
bool bench_selected(const char *key);

/* ---- results ---- */
typedef enum BenchVerdict {
        VERDICT_NONE,  /* reported figure, no target */
        VERDICT_MET,
        VERDICT_MISSED,
        VERDICT_SKIPPED,
} BenchVerdict;

/* One row of the table. value and baseline in unit; ratio = value / baseline (or as the
 * figure defines it, e.g. throughput share). */
void bench_row(const char *figure, const char *what, double value, double baseline,
               const char *unit, double ratio, const char *target, BenchVerdict v);
void bench_skip(const char *figure, const char *why);
/* Attach a detail object to the figure's JSON (taken). */
void bench_detail(const char *figure, struct json_object *detail);
void bench_print_table(void);
int bench_write_json(const char *path, struct json_object *machine);
int bench_exit_code(void); /* 0, or 1 when a figure failed to run (not a missed target) */
void bench_fail(const char *figure, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bench_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- harness loops ---- */
typedef int (*BenchOp)(void *ud);
/* warmup untimed calls, then iters timed ones into s. Returns 0 or the op's error. */
int bench_measure(BenchOp op, void *ud, unsigned warmup, unsigned iters, Samples *s);
/* Alternate A and B for reps repetitions (A first on even reps). */
int bench_ab(BenchOp a, void *ua, Samples *sa, BenchOp b, void *ub, Samples *sb);
/* Timer cost and empty-loop cost (p50 ns), measured once. */
void bench_overhead(uint64_t *ret_timer_ns, uint64_t *ret_loop_ns);

/* ---- processes and files (bench-env.c) ---- */
/* mkdir a subdir of the workdir; returns a malloc'd path. */
char *bench_subdir(const char *name);
/* The state directory of the environment in dir: statedir/<basename dir>-<leaf>, created
 * 0700; written to buf. */
int bench_state_dir(const char *dir, const char *leaf, char *buf, size_t size);
/* Spawn argv[0] (a path) with extra env (NULL-terminated "K=V", may be NULL), stdout and
 * stderr to logfile (NULL: inherit). nofile > 0 raises RLIMIT_NOFILE first. Returns pid. */
pid_t bench_spawn(char *const argv[], char *const env[], const char *logfile, unsigned nofile);
/* SIGTERM (or sig), wait up to 10 s, then SIGKILL. */
int bench_kill(pid_t pid, int sig);
/* RSS figures of a process in KiB: VmRSS, RssAnon, RssFile, RssShmem. */
int bench_rss(pid_t pid, long *rss, long *anon, long *file, long *shmem);

/* The notify socket (sd_notify): a datagram socket in the workdir. */
typedef struct NotifySock {
        int fd;
        char path[300];
} NotifySock;
int notify_open(NotifySock *n, const char *name);
void notify_close(NotifySock *n);
/* Wait for a datagram containing READY=1 (up to timeout_ms). 0 or -ETIMEDOUT. */
int notify_wait_ready(NotifySock *n, unsigned timeout_ms);

/* A gunyahd process on a simulator (SimClient). */
typedef struct SimClient SimClient;
typedef struct Daemon {
        pid_t pid;
        char api[300];
        char state[600];
        char runtime[320]; /* runtime records: dir/run, on tmpfs like /run/gunyahd */
        char images[300];
        uint64_t ready_ns; /* spawn to READY=1 */
} Daemon;
/* Spawn a simulator in dir with pool size (0 = 1 GiB) and guest pace 0. */
int bench_sim_spawn(const char *dir, uint64_t pool_size, SimClient **ret);
/* Spawn gunyahd on sim (RM socket path rm, pool file pool:ipa:size), state in dir/state,
 * runtime records in dir/run, images in dir/images, API at dir/api.sock; waits for READY=1
 * and measures it. */
int daemon_spawn(Daemon *d, const char *dir, const char *rm, const char *pool_spec,
                 unsigned nofile);
/* Start again with the same dirs (recovery). */
int daemon_respawn(Daemon *d, const char *rm, const char *pool_spec, unsigned nofile);
void daemon_stop(Daemon *d, int sig);
/* Make a test image (gunyah-test-image) of size bytes at path. */
int bench_make_image(const char *path, uint64_t size);

/* ---- raw stream client (bench-raw.c), shared by both sides of a comparison ---- */
typedef struct RawConn {
        int fd;
        char delim;   /* '\0' Varlink, '\n' QMP */
        char *buf;
        size_t len, cap;
        size_t last_reply; /* bytes of the last reply, delimiter included */
} RawConn;
int raw_connect(RawConn *c, const char *path, char delim);
void raw_close(RawConn *c);
/* Send msg (len bytes, delimiter included) and read one whole reply. */
int raw_roundtrip(RawConn *c, const void *msg, size_t len);
/* Read one whole reply (e.g. a greeting). */
int raw_read_reply(RawConn *c);
/* The last reply's text (delimiter replaced by NUL), valid until the next call. */
const char *raw_reply_text(RawConn *c);

/* An echo server process: replies to each delim-terminated message with reply_len bytes
 * (the last one delim). Single-threaded epoll, like the daemon's loop. */
pid_t echo_server_spawn(const char *path, char delim, size_t reply_len);

/* Throughput: n connections, each keeping one request in flight, for secs. ops/s. */
int raw_throughput(const char *path, char delim, const void *msg, size_t len, unsigned n,
                   double secs, double *ret_ops);

/* ---- figures ---- */
void fig_rm_rpc(void);        /* bench-rm.c */
void fig_lend(void);          /* bench-lend.c */
void fig_api(void);           /* bench-api.c: round trip, throughput, QMP */
void fig_lifecycle(void);     /* bench-vm.c */
void fig_paging(void);        /* bench-vm.c */
void fig_memory(void);        /* bench-daemon.c */
void fig_startup(void);       /* bench-daemon.c */
