/* SPDX-License-Identifier: MIT */
/*
 * gunyah-bench: options, machine facts, the harness's own overhead, and the figures in turn.
 * Exit status: 0 when every selected figure ran (met or missed), 1 when one failed to run,
 * 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static void usage(FILE *f)
{
        fprintf(f,
                "usage: gunyah-bench [--smoke] [--json FILE] [--only LIST] [--reps N] [--iters N]\n"
                "                    [--secs S] [--qemu PATH] [--state-tmpfs] [--keep]\n"
                "  --smoke      seconds-long run for CI (fewer repetitions, small sizes)\n"
                "  --json FILE  write every figure, its samples summary and the machine to FILE\n"
                "  --only LIST  comma list of: overhead,rm-rpc,api-rtt,api-tput,qmp,lifecycle,\n"
                "               lend,paging,memory,startup\n"
                "  --reps N     repetitions per side (alternating A/B)\n"
                "  --iters N    timed iterations per repetition\n"
                "  --secs S     seconds per throughput repetition\n"
                "  --qemu PATH  qemu-system-aarch64 for the QMP peer\n"
                "  --state-tmpfs  daemons keep their state in /dev/shm (fsync almost free):\n"
                "               separates the daemon's own cost from the disk's (runtime\n"
                "               records are on tmpfs either way, as in /run/gunyahd)\n"
                "  --keep       keep the work directory\n");
}

static char *cpu_model(void)
{
        char line[256];
        FILE *f = fopen("/proc/cpuinfo", "re");
        char *r = NULL;

        while (f && fgets(line, sizeof(line), f)) {
                if (!strncmp(line, "model name", 10)) {
                        char *p = strchr(line, ':');
                        if (p) {
                                p += 2;
                                p[strcspn(p, "\n")] = 0;
                                r = strdup(p);
                        }
                        break;
                }
        }
        if (f)
                fclose(f);
        return r ? r : strdup("unknown");
}

static struct json_object *machine_json(uint64_t timer_ns, uint64_t loop_ns)
{
        struct json_object *m = json_object_new_object();
        struct utsname u;
        char *cpu = cpu_model();

        uname(&u);
        json_object_object_add(m, "nproc", json_object_new_int((int)sysconf(_SC_NPROCESSORS_ONLN)));
        json_object_object_add(m, "cpu", json_object_new_string(cpu));
        json_object_object_add(m, "kernel", json_object_new_string(u.release));
        json_object_object_add(m, "smoke", json_object_new_boolean(bench_cfg.smoke));
        json_object_object_add(m, "workdir", json_object_new_string(bench_cfg.workdir));
        json_object_object_add(m, "statedir", json_object_new_string(bench_cfg.statedir));
        json_object_object_add(m, "reps", json_object_new_int((int)bench_cfg.reps));
        json_object_object_add(m, "iters", json_object_new_int((int)bench_cfg.iters));
        json_object_object_add(m, "warmup", json_object_new_int((int)bench_cfg.warmup));
        json_object_object_add(m, "timer_cost_ns", json_object_new_int64((int64_t)timer_ns));
        json_object_object_add(m, "loop_cost_ns", json_object_new_int64((int64_t)loop_ns));
        free(cpu);
        return m;
}

static void rm_rf(const char *dir)
{
        char *argv[] = { "/bin/rm", "-rf", (char *)dir, NULL };
        pid_t p = bench_spawn(argv, NULL, NULL, 0);
        if (p > 0)
                waitpid(p, NULL, 0);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "smoke", no_argument, NULL, 's' },   { "json", required_argument, NULL, 'j' },
                { "only", required_argument, NULL, 'o' }, { "reps", required_argument, NULL, 'r' },
                { "iters", required_argument, NULL, 'i' }, { "secs", required_argument, NULL, 'S' },
                { "qemu", required_argument, NULL, 'q' }, { "keep", no_argument, NULL, 'k' },
                { "state-tmpfs", no_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },    {},
        };
        const char *json = NULL;
        bool tmpfs = false;
        unsigned reps = 0, iters = 0;
        double secs = 0;
        char exe[4096];
        int c;

        bench_cfg.qemu = "/usr/bin/qemu-system-aarch64";
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 's': bench_cfg.smoke = true; break;
                case 'j': json = optarg; break;
                case 'o': bench_cfg.only = optarg; break;
                case 'r': reps = (unsigned)atoi(optarg); break;
                case 'i': iters = (unsigned)atoi(optarg); break;
                case 'S': secs = atof(optarg); break;
                case 'q': bench_cfg.qemu = optarg; break;
                case 'k': bench_cfg.keep = true; break;
                case 't': tmpfs = true; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind != argc) {
                usage(stderr);
                return 2;
        }
        bench_cfg.reps = reps ? reps : bench_cfg.smoke ? 2 : 5;
        bench_cfg.iters = iters ? iters : bench_cfg.smoke ? 200 : 2000;
        bench_cfg.warmup = bench_cfg.smoke ? 20 : 200;
        bench_cfg.tput_secs = secs > 0 ? secs : bench_cfg.smoke ? 0.2 : 2.0;

        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n < 0) {
                perror("readlink /proc/self/exe");
                return 1;
        }
        exe[n] = 0;
        bench_cfg.bindir = strdup(dirname(exe));
        /* Pools (host RAM on hardware) live on tmpfs when there is one, so that neither side
         * of a comparison pays for disk writeback of pool pages; daemon state lives on disk
         * (as /var/lib/gunyahd does) unless --state-tmpfs; runtime records live in the work
         * directory, on tmpfs (as /run/gunyahd/runtime does under systemd). */
        snprintf(bench_cfg.workdir, sizeof(bench_cfg.workdir), "%s/gunyah-bench-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(bench_cfg.workdir)) {
                perror("mkdtemp");
                return 1;
        }
        snprintf(bench_cfg.statedir, sizeof(bench_cfg.statedir), "%s/gunyah-bench-state-XXXXXX",
                 tmpfs ? "/dev/shm" : "/tmp");
        if (!mkdtemp(bench_cfg.statedir)) {
                perror("mkdtemp (state)");
                return 1;
        }
        signal(SIGPIPE, SIG_IGN);
        /* 1,000 client connections and their peers need more than 1024 fds. */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 8192) {
                rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
                setrlimit(RLIMIT_NOFILE, &rl);
        }

        uint64_t timer_ns, loop_ns;
        bench_overhead(&timer_ns, &loop_ns);
        bench_row("overhead", "clock_gettime pair (p50)", timer_ns / 1e3, NAN, "us", NAN, NULL,
                  VERDICT_NONE);
        bench_row("overhead", "harness loop, empty op (p50)", loop_ns / 1e3, NAN, "us", NAN,
                  NULL, VERDICT_NONE);

        fig_rm_rpc();
        fig_api();
        fig_lifecycle();
        fig_lend();
        fig_paging();
        fig_memory();
        fig_startup();

        bench_print_table();
        if (json && bench_write_json(json, machine_json(timer_ns, loop_ns)) < 0)
                fprintf(stderr, "gunyah-bench: cannot write %s\n", json);
        if (!bench_cfg.keep) {
                rm_rf(bench_cfg.statedir);
                rm_rf(bench_cfg.workdir);
        }
        else
                fprintf(stderr, "gunyah-bench: kept %s and %s\n", bench_cfg.workdir,
                        bench_cfg.statedir);
        return bench_exit_code();
}
