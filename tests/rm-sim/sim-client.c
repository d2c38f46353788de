/* SPDX-License-Identifier: MIT */
/*
 * sim-client: spawn gunyah-rm-sim, wait for READY on a pipe (--ready-fd), connect to its
 * sockets, map its pool, and make blocking Varlink calls with a timeout. See sim-client.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "sim-client.h"
#include "varlink.h"

struct SimClient {
        pid_t pid;
        int status; /* exit status once stopped, -1 before */
        char rm_path[PATH_MAX];
        char control_path[PATH_MAX];
        char pool_path[PATH_MAX];
        uint64_t pool_ipa, pool_size;
        uint8_t *pool;
        int control_fd;
        VarlinkBuffer in;
};

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *find_binary(const SimSpawnOptions *o)
{
        static char path[PATH_MAX];
        const char *e;

        if (o && o->binary)
                return o->binary;
        if ((e = getenv("GUNYAH_RM_SIM")) && *e)
                return e;
        if ((e = getenv("GUNYAH_BUILD_DIR")) && *e) {
                snprintf(path, sizeof(path), "%s/bin/gunyah-rm-sim", e);
                return path;
        }
#ifdef GUNYAH_RM_SIM_DEFAULT_PATH
        return GUNYAH_RM_SIM_DEFAULT_PATH;
#else
        return "gunyah-rm-sim";
#endif
}

int sim_client_spawn(const char *dir, const SimSpawnOptions *opts, SimClient **ret)
{
        const SimSpawnOptions none = {.guest_pace_ms = -1};
        const SimSpawnOptions *o = opts ? opts : &none;
        const char *bin = find_binary(o), *wrapper = o->wrapper;
        char pool_arg[PATH_MAX + 64], ready_arg[16], pace_arg[16];
        const char *argv[64];
        size_t argc = 0;
        SimClient *sim;
        int pipefd[2];
        char buf[16];
        uint64_t deadline;
        ssize_t n = 0;

        if (access(bin, X_OK) < 0)
                return -ENOENT;
        sim = calloc(1, sizeof(*sim));
        if (!sim)
                return -ENOMEM;
        sim->status = -1;
        sim->control_fd = -1;
        sim->pool_ipa = o->pool_ipa ? o->pool_ipa : SIM_DEFAULT_POOL_IPA;
        sim->pool_size = o->pool_size ? o->pool_size : SIM_DEFAULT_POOL_SIZE;
        snprintf(sim->rm_path, sizeof(sim->rm_path), "%s/rm.sock", dir);
        snprintf(sim->control_path, sizeof(sim->control_path), "%s/control.sock", dir);
        snprintf(sim->pool_path, sizeof(sim->pool_path), "%s/pool", dir);
        snprintf(pool_arg, sizeof(pool_arg), "%s:0x%llx:%llu", sim->pool_path,
                 (unsigned long long)sim->pool_ipa, (unsigned long long)sim->pool_size);
        if (pipe2(pipefd, O_CLOEXEC) < 0) {
                free(sim);
                return -errno;
        }
        snprintf(ready_arg, sizeof(ready_arg), "%d", pipefd[1]);
        if (!wrapper)
                wrapper = getenv("GUNYAH_RM_SIM_WRAPPER");
        if (wrapper && *wrapper)
                argv[argc++] = wrapper;
        argv[argc++] = bin;
        if (!o->no_listen) {
                argv[argc++] = "--listen";
                argv[argc++] = sim->rm_path;
        }
        argv[argc++] = "--control";
        argv[argc++] = sim->control_path;
        argv[argc++] = "--pool";
        argv[argc++] = pool_arg;
        argv[argc++] = "--ready-fd";
        argv[argc++] = ready_arg;
        if (o->profile) {
                argv[argc++] = "--profile";
                argv[argc++] = o->profile;
        }
        if (o->guest_pace_ms >= 0 && opts) {
                snprintf(pace_arg, sizeof(pace_arg), "%d", o->guest_pace_ms);
                argv[argc++] = "--guest-pace-ms";
                argv[argc++] = pace_arg;
        }
        if (o->strict_image_acl_off) {
                argv[argc++] = "--strict-image-acl";
                argv[argc++] = "off";
        }
        if (o->verbose)
                argv[argc++] = "-v";
        for (size_t i = 0; o->extra_args && o->extra_args[i] && argc < ELEMENTSOF(argv) - 1; i++)
                argv[argc++] = o->extra_args[i];
        argv[argc] = NULL;

        sim->pid = fork();
        if (sim->pid < 0) {
                close(pipefd[0]);
                close(pipefd[1]);
                free(sim);
                return -errno;
        }
        if (sim->pid == 0) {
                /* die with the test program, even when it aborts */
                (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
                int fd = fcntl(pipefd[1], F_DUPFD, 0); /* without CLOEXEC, same number string */
                if (fd < 0 || dup2(fd, pipefd[1]) < 0)
                        _exit(127);
                close(fd);
                execvp(argv[0], (char *const *)argv);
                _exit(127);
        }
        close(pipefd[1]);
        deadline = now_ms() + 30000;
        for (;;) {
                struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
                uint64_t t = now_ms();
                if (t >= deadline) {
                        n = -ETIMEDOUT;
                        break;
                }
                if (poll(&p, 1, (int)(deadline - t)) <= 0)
                        continue;
                n = read(pipefd[0], buf, sizeof(buf));
                if (n >= 5 && memcmp(buf, "READY", 5) == 0)
                        break;
                if (n <= 0) {
                        n = -ECHILD;
                        break;
                }
        }
        close(pipefd[0]);
        if (n < 0) {
                int r = (int)n;
                sim_client_free(sim);
                return r;
        }
        *ret = sim;
        return 0;
}

int sim_client_stop(SimClient *sim)
{
        uint64_t deadline;
        int st;

        if (!sim || sim->pid <= 0)
                return sim ? sim->status : -EINVAL;
        (void)kill(sim->pid, SIGTERM);
        deadline = now_ms() + 10000;
        for (;;) {
                pid_t p = waitpid(sim->pid, &st, WNOHANG);
                if (p == sim->pid)
                        break;
                if (p < 0)
                        return -errno;
                if (now_ms() > deadline) {
                        (void)kill(sim->pid, SIGKILL);
                        (void)waitpid(sim->pid, &st, 0);
                        break;
                }
                usleep(2000);
        }
        sim->pid = 0;
        sim->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return sim->status;
}

void sim_client_free(SimClient *sim)
{
        if (!sim)
                return;
        (void)sim_client_stop(sim);
        if (sim->pool)
                munmap(sim->pool, sim->pool_size);
        if (sim->control_fd >= 0) {
                close(sim->control_fd);
                varlink_buffer_free(&sim->in);
        }
        free(sim);
}

pid_t sim_client_pid(const SimClient *sim)
{
        return sim->pid;
}
const char *sim_client_rm_path(const SimClient *sim)
{
        return sim->rm_path;
}
const char *sim_client_control_path(const SimClient *sim)
{
        return sim->control_path;
}
const char *sim_client_pool_path(const SimClient *sim)
{
        return sim->pool_path;
}
uint64_t sim_client_pool_ipa(const SimClient *sim)
{
        return sim->pool_ipa;
}
uint64_t sim_client_pool_size(const SimClient *sim)
{
        return sim->pool_size;
}

static int connect_unix(const char *path, int type)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int sim_client_connect_rm(const SimClient *sim)
{
        uint64_t deadline = now_ms() + 5000;

        for (;;) {
                int fd = connect_unix(sim->rm_path, SOCK_SEQPACKET);
                if (fd >= 0 || now_ms() > deadline)
                        return fd;
                usleep(10000);
        }
}

uint8_t *sim_client_pool(SimClient *sim)
{
        _cleanup_close_ int fd = -1;
        void *p;

        if (sim->pool)
                return sim->pool;
        fd = open(sim->pool_path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        p = mmap(NULL, sim->pool_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return NULL;
        sim->pool = p;
        return sim->pool;
}

static int control_connect(SimClient *sim)
{
        int fd;

        if (sim->control_fd >= 0)
                return 0;
        fd = connect_unix(sim->control_path, SOCK_STREAM);
        if (fd < 0)
                return fd;
        sim->control_fd = fd;
        varlink_buffer_init(&sim->in, 64u << 20);
        return 0;
}

static void control_drop(SimClient *sim)
{
        if (sim->control_fd >= 0) {
                close(sim->control_fd);
                varlink_buffer_free(&sim->in);
        }
        sim->control_fd = -1;
}

int sim_client_call_full(SimClient *sim, const char *method, struct json_object *params,
                         struct json_object **ret_reply, char **ret_error)
{
        _cleanup_free_ char *msg = NULL;
        uint64_t deadline = now_ms() + 30000;
        size_t len, off = 0;
        int r;

        if (ret_reply)
                *ret_reply = NULL;
        if (ret_error)
                *ret_error = NULL;
        r = control_connect(sim);
        if (r < 0)
                return r;
        msg = varlink_format_call(method, params, false, false, &len);
        if (!msg)
                return -ENOMEM;
        while (off < len) {
                ssize_t n = send(sim->control_fd, msg + off, len - off, MSG_NOSIGNAL);
                if (n < 0) {
                        r = -errno;
                        control_drop(sim);
                        return r;
                }
                off += (size_t)n;
        }
        for (;;) {
                const char *m;
                size_t mlen;
                struct pollfd p = {.fd = sim->control_fd, .events = POLLIN};
                VarlinkReply rep;
                uint64_t t;
                ssize_t n;

                r = varlink_buffer_next(&sim->in, &m, &mlen);
                if (r < 0) {
                        control_drop(sim);
                        return r;
                }
                if (r > 0) {
                        r = varlink_reply_parse(m, mlen, VARLINK_DEFAULT_MAX_DEPTH, &rep);
                        if (r < 0) {
                                control_drop(sim);
                                return r;
                        }
                        if (ret_reply)
                                *ret_reply = json_object_get(rep.parameters);
                        r = 0;
                        if (rep.error) {
                                r = -EREMOTEIO;
                                if (ret_error)
                                        *ret_error = strdup(rep.error);
                        }
                        varlink_reply_done(&rep);
                        return r;
                }
                t = now_ms();
                if (t >= deadline) {
                        control_drop(sim);
                        return -ETIMEDOUT;
                }
                if (poll(&p, 1, (int)(deadline - t)) <= 0)
                        continue;
                n = varlink_buffer_read(&sim->in, sim->control_fd);
                if (n == 0 || (n < 0 && n != -EAGAIN)) {
                        control_drop(sim);
                        return n == 0 ? -ECONNRESET : (int)n;
                }
        }
}

int sim_client_call(SimClient *sim, const char *method, struct json_object *params,
                    struct json_object **ret_reply)
{
        return sim_client_call_full(sim, method, params, ret_reply, NULL);
}

int sim_client_callf(SimClient *sim, const char *method, const char *params_json,
                     struct json_object **ret_reply)
{
        json_object *p = params_json ? json_tokener_parse(params_json) : NULL;
        int r;

        if (params_json && !p)
                return -EINVAL;
        r = sim_client_call(sim, method, p, ret_reply);
        json_object_put(p);
        return r;
}

struct json_object *sim_client_get_vm(SimClient *sim, uint16_t vmid)
{
        json_object *st = NULL, *vms, *res = NULL;

        if (sim_client_call(sim, "io.gunyah.Simulator.GetState", NULL, &st) < 0)
                return NULL;
        if (json_object_object_get_ex(st, "vms", &vms))
                for (size_t i = 0; i < json_object_array_length(vms); i++) {
                        json_object *vm = json_object_array_get_idx(vms, i), *id;
                        if (json_object_object_get_ex(vm, "vmid", &id) &&
                            json_object_get_int(id) == vmid) {
                                res = json_object_get(vm);
                                break;
                        }
                }
        json_object_put(st);
        return res;
}

int sim_client_wait_vm_field(SimClient *sim, uint16_t vmid, const char *field, const char *value,
                             unsigned timeout_ms)
{
        uint64_t deadline = now_ms() + timeout_ms;

        for (;;) {
                json_object *vm = sim_client_get_vm(sim, vmid), *f;
                bool ok = false;

                if (vm && json_object_object_get_ex(vm, field, &f))
                        ok = strcmp(json_object_get_string(f), value) == 0;
                json_object_put(vm);
                if (ok)
                        return 0;
                if (now_ms() > deadline)
                        return -ETIMEDOUT;
                usleep(2000);
        }
}
