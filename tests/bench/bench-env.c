/* SPDX-License-Identifier: MIT */
/* The run's environment: directories, child processes, RSS, the notify socket, simulators
 * (through sim-client) and gunyahd processes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "sim-client.h"

extern char **environ;

char *bench_subdir(const char *name)
{
        char *p;

        if (asprintf(&p, "%s/%s", bench_cfg.workdir, name) < 0)
                return NULL;
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
                free(p);
                return NULL;
        }
        return p;
}

int bench_state_dir(const char *dir, const char *leaf, char *buf, size_t size)
{
        const char *base = strrchr(dir, '/');
        int n;

        n = snprintf(buf, size, "%s/%s-%s", bench_cfg.statedir, base ? base + 1 : dir, leaf);
        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

pid_t bench_spawn(char *const argv[], char *const env[], const char *logfile, unsigned nofile)
{
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid == 0) {
                if (logfile) {
                        int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                        if (fd >= 0) {
                                dup2(fd, 1);
                                dup2(fd, 2);
                        }
                }
                if (nofile) {
                        struct rlimit rl = { nofile, nofile };
                        setrlimit(RLIMIT_NOFILE, &rl);
                }
                for (size_t i = 0; env && env[i]; i++)
                        putenv(env[i]);
                execv(argv[0], argv);
                _exit(127);
        }
        return pid;
}

int bench_kill(pid_t pid, int sig)
{
        int status;

        if (pid <= 0)
                return 0;
        kill(pid, sig ? sig : SIGTERM);
        for (unsigned i = 0; i < 1000; i++) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid)
                        return status;
                if (r < 0)
                        return -errno;
                usleep(10000);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return status;
}

int bench_rss(pid_t pid, long *rss, long *anon, long *file, long *shmem)
{
        char path[64], line[256];
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        *rss = *anon = *file = *shmem = -1;
        while (fgets(line, sizeof(line), f)) {
                sscanf(line, "VmRSS: %ld", rss);
                sscanf(line, "RssAnon: %ld", anon);
                sscanf(line, "RssFile: %ld", file);
                sscanf(line, "RssShmem: %ld", shmem);
        }
        fclose(f);
        return 0;
}

int notify_open(NotifySock *n, const char *name)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        snprintf(n->path, sizeof(n->path), "%s/%s", bench_cfg.workdir, name);
        if (strlen(n->path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        unlink(n->path);
        memcpy(sa.sun_path, n->path, strlen(n->path) + 1);
        n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (n->fd < 0)
                return -errno;
        if (bind(n->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(n->fd);
                n->fd = -1;
                return r;
        }
        return 0;
}

void notify_close(NotifySock *n)
{
        if (n->fd >= 0)
                close(n->fd);
        n->fd = -1;
        unlink(n->path);
}

int notify_wait_ready(NotifySock *n, unsigned timeout_ms)
{
        uint64_t end = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;

        for (;;) {
                uint64_t now = bench_now_ns();
                struct pollfd p = { .fd = n->fd, .events = POLLIN };
                char buf[4096];
                if (now >= end)
                        return -ETIMEDOUT;
                int r = poll(&p, 1, (int)((end - now) / 1000000ull) + 1);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r <= 0)
                        continue;
                ssize_t k = recv(n->fd, buf, sizeof(buf) - 1, 0);
                if (k < 0)
                        continue;
                buf[k] = 0;
                for (char *l = buf; l && *l;) {
                        if (!strncmp(l, "READY=1", 7) && (l[7] == '\n' || !l[7]))
                                return 0;
                        l = strchr(l, '\n');
                        if (l)
                                l++;
                }
        }
}

int bench_sim_spawn(const char *dir, uint64_t pool_size, SimClient **ret)
{
        char bin[512];
        SimSpawnOptions o = {
                .binary = bin,
                .pool_size = pool_size ? pool_size : (1ull << 30),
                .guest_pace_ms = 0,
        };

        snprintf(bin, sizeof(bin), "%s/gunyah-rm-sim", bench_cfg.bindir);
        return sim_client_spawn(dir, &o, ret);
}

static int daemon_exec(Daemon *d, const char *rm, const char *pool_spec, unsigned nofile)
{
        char bin[512], log[700], env_notify[400];
        NotifySock n = { .fd = -1 };
        int r;

        snprintf(bin, sizeof(bin), "%s/gunyahd", bench_cfg.bindir);
        r = notify_open(&n, "notify.sock");
        if (r < 0)
                return r;
        snprintf(env_notify, sizeof(env_notify), "NOTIFY_SOCKET=%s", n.path);
        snprintf(log, sizeof(log), "%s.log", d->state);
        char *argv[] = { bin, "--rm-socket", (char *)rm, "--pool", (char *)pool_spec,
                         "--state-dir", d->state, "--runtime-dir", d->runtime, "--image-dir",
                         d->images, "--api-socket", d->api, NULL };
        char *env[] = { env_notify, NULL };
        uint64_t t0 = bench_now_ns();
        d->pid = bench_spawn(argv, env, log, nofile);
        if (d->pid < 0) {
                notify_close(&n);
                return (int)d->pid;
        }
        r = notify_wait_ready(&n, 60000);
        d->ready_ns = bench_now_ns() - t0;
        notify_close(&n);
        if (r < 0) {
                bench_log("gunyahd did not send READY=1 (see %s)", log);
                bench_kill(d->pid, SIGKILL);
                d->pid = 0;
        }
        return r;
}

int daemon_spawn(Daemon *d, const char *dir, const char *rm, const char *pool_spec,
                 unsigned nofile)
{
        *d = (Daemon){ 0 };
        snprintf(d->api, sizeof(d->api), "%s/api.sock", dir);
        snprintf(d->images, sizeof(d->images), "%s/images", dir);
        snprintf(d->runtime, sizeof(d->runtime), "%s/run", dir);
        mkdir(d->images, 0755);
        int r = bench_state_dir(dir, "state", d->state, sizeof(d->state));
        if (r < 0)
                return r;
        return daemon_exec(d, rm, pool_spec, nofile);
}

int daemon_respawn(Daemon *d, const char *rm, const char *pool_spec, unsigned nofile)
{
        return daemon_exec(d, rm, pool_spec, nofile);
}

void daemon_stop(Daemon *d, int sig)
{
        if (d->pid > 0)
                bench_kill(d->pid, sig);
        d->pid = 0;
}

int bench_make_image(const char *path, uint64_t size)
{
        char bin[512], sz[32];
        int status;

        snprintf(bin, sizeof(bin), "%s/gunyah-test-image", bench_cfg.bindir);
        snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
        char *argv[] = { bin, (char *)path, sz, NULL };
        pid_t pid = bench_spawn(argv, NULL, "/dev/null", 0);
        if (pid < 0)
                return (int)pid;
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}
