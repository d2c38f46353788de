/* SPDX-License-Identifier: MIT */
/* Harness for the client integration tests (see test-client-harness.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test-client-harness.h"
#include "test-image-header.h"
#include "test.h"

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *build_dir(void)
{
        const char *b = getenv("GUNYAH_BUILD_DIR");
        ASSERT_TRUE(b && *b);
        return b;
}

static void bin_path(const char *name, char *out, size_t size)
{
        snprintf(out, size, "%s/bin/%s", build_dir(), name);
        if (access(out, X_OK) < 0)
                TEST_FAIL_("%s is not built (%s)", out, strerror(errno));
}

static void notify_open(Harness *h)
{
        h->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_OK(h->notify_fd);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        ASSERT_TRUE(strlen(h->notify) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, h->notify);
        unlink(h->notify);
        ASSERT_OK(bind(h->notify_fd, (struct sockaddr *)&sa, sizeof(sa)));
}

static void notify_close(Harness *h)
{
        if (h->notify_fd >= 0)
                close(h->notify_fd);
        h->notify_fd = -1;
        unlink(h->notify);
}

/* Wait for READY=1 from gunyahd, failing early if it exits. */
static void wait_ready(Harness *h)
{
        uint64_t deadline = now_ms() + 60000;
        for (;;) {
                int status;
                pid_t p = waitpid(h->daemon, &status, WNOHANG);
                if (p == h->daemon)
                        TEST_FAIL_("gunyahd exited before READY=1 (status 0x%x)", status);
                uint64_t n = now_ms();
                if (n >= deadline)
                        TEST_FAIL_("%s", "gunyahd sent no READY=1 within 60 s");
                struct pollfd pfd = { .fd = h->notify_fd, .events = POLLIN };
                int r = poll(&pfd, 1, 200);
                if (r <= 0)
                        continue;
                char buf[4096];
                ssize_t len = recv(h->notify_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
                if (len <= 0)
                        continue;
                buf[len] = 0;
                for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                        if (strcmp(line, "READY=1") == 0) {
                                /* Later STATUS= datagrams would only queue up: stop
                                 * listening (sd_notify ignores a missing socket). */
                                notify_close(h);
                                return;
                        }
        }
}

void h_start_daemon(Harness *h)
{
        char gunyahd[PATH_MAX], pool[PATH_MAX + 64], rm[PATH_MAX + 16];
        bin_path("gunyahd", gunyahd, sizeof(gunyahd));
        snprintf(pool, sizeof(pool), "--pool=%s:0x%llx:0x%llx", sim_client_pool_path(h->sim),
                 (unsigned long long)sim_client_pool_ipa(h->sim),
                 (unsigned long long)sim_client_pool_size(h->sim));
        snprintf(rm, sizeof(rm), "--rm-socket=%s", sim_client_rm_path(h->sim));
        char state[256], images[256], api[256], rpc[64], stop[64], admin[128];
        snprintf(state, sizeof(state), "--state-dir=%s", h->state);
        snprintf(images, sizeof(images), "--image-dir=%s", h->images);
        snprintf(api, sizeof(api), "--api-socket=%s", h->api);
        snprintf(rpc, sizeof(rpc), "--rpc-timeout=%s",
                 h->opts.rpc_timeout ? h->opts.rpc_timeout : "3s");
        snprintf(stop, sizeof(stop), "--stop-timeout=%s",
                 h->opts.stop_timeout ? h->opts.stop_timeout : "3s");
        snprintf(admin, sizeof(admin), "--admin-group=%s",
                 h->opts.admin_group ? h->opts.admin_group : "");
        const char *argv[16];
        size_t n = 0;
        const char *wrapper = getenv("GUNYAHD_WRAPPER");
        if (wrapper && *wrapper)
                argv[n++] = wrapper;
        argv[n++] = gunyahd;
        argv[n++] = "--config=/dev/null";
        argv[n++] = rm;
        argv[n++] = pool;
        argv[n++] = state;
        argv[n++] = images;
        argv[n++] = api;
        argv[n++] = rpc;
        argv[n++] = stop;
        if (h->opts.admin_group)
                argv[n++] = admin;
        argv[n] = NULL;

        notify_open(h);
        h->daemon = fork();
        ASSERT_OK(h->daemon);
        if (h->daemon == 0) {
                /* A test that aborts must not leave gunyahd behind (ctest would wait on
                 * its output pipe). */
                if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
                        _exit(127);
                setenv("NOTIFY_SOCKET", h->notify, 1);
                unsetenv("LISTEN_FDS");
                unsetenv("LISTEN_PID");
                execvp(argv[0], (char *const *)argv);
                _exit(127);
        }
        wait_ready(h);
}

void h_start(Harness *h, const HarnessOptions *o)
{
        memset(h, 0, sizeof(*h));
        h->notify_fd = -1;
        h->daemon = -1;
        if (o)
                h->opts = *o;
        strcpy(h->dir, "/tmp/test-client-XXXXXX");
        ASSERT_TRUE(mkdtemp(h->dir));
        /* Others (the nobody client of the authorization test) may reach the socket. */
        ASSERT_OK(chmod(h->dir, 0755));
        snprintf(h->api, sizeof(h->api), "%s/api.sock", h->dir);
        snprintf(h->images, sizeof(h->images), "%s/images", h->dir);
        snprintf(h->state, sizeof(h->state), "%s/state", h->dir);
        snprintf(h->notify, sizeof(h->notify), "%s/notify", h->dir);
        ASSERT_OK(mkdir(h->images, 0755));
        ASSERT_OK(mkdir(h->state, 0700));
        SimSpawnOptions so = { .profile = h->opts.profile, .pool_size = H_POOL_SIZE,
                               .guest_pace_ms = 2 };
        ASSERT_OK(sim_client_spawn(h->dir, &so, &h->sim));
        h_start_daemon(h);
}

void h_stop_daemon(Harness *h)
{
        if (h->daemon <= 0)
                return;
        ASSERT_OK(kill(h->daemon, SIGTERM));
        uint64_t deadline = now_ms() + 30000;
        int status = 0;
        for (;;) {
                pid_t p = waitpid(h->daemon, &status, WNOHANG);
                if (p == h->daemon)
                        break;
                if (now_ms() >= deadline) {
                        kill(h->daemon, SIGKILL);
                        waitpid(h->daemon, &status, 0);
                        TEST_FAIL_("%s", "gunyahd did not stop within 30 s of SIGTERM");
                }
                usleep(10000);
        }
        h->daemon = -1;
        notify_close(h);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                TEST_FAIL_("gunyahd exited with status 0x%x", status);
}

static void rm_rf(const char *path)
{
        char cmd[PATH_MAX + 16];
        ASSERT_TRUE(strncmp(path, "/tmp/test-client-", 17) == 0);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
        ASSERT_EQ(system(cmd), 0);
}

void h_stop(Harness *h)
{
        h_stop_daemon(h);
        int status = sim_client_stop(h->sim);
        sim_client_free(h->sim);
        h->sim = NULL;
        ASSERT_EQ(status, 0);
        rm_rf(h->dir);
}

gunyahctl *h_client(Harness *h)
{
        gunyahctl *c = NULL;
        ASSERT_OK(gunyahctl_connect(&c, h->api));
        return c;
}

void h_write_image(const char *path, uint64_t size, bool bad_magic)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ASSERT_OK(fd);
        TestImageOpts o = { .bad_magic = bad_magic };
        ASSERT_OK(test_image_write_fd(fd, size, &o));
        ASSERT_OK(close(fd));
}

void h_image_in_dir(Harness *h, const char *name, uint64_t size, char *out, size_t out_size)
{
        snprintf(out, out_size, "%s/%s", h->images, name);
        h_write_image(out, size, false);
}

static void drop_privileges(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups)
{
        if (setgroups(n_groups, groups) < 0 || setresgid(gid, gid, gid) < 0 ||
            setresuid(uid, uid, uid) < 0)
                _exit(126);
}

int h_run_as(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, int (*fn)(void *),
             void *userdata)
{
        fflush(NULL);
        pid_t pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                drop_privileges(uid, gid, groups, n_groups);
                _exit(fn(userdata));
        }
        int status;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Read both pipes to EOF (60 s at most) so that neither fills while we wait on the other. */
static void drain(int out_fd, int err_fd, char **ret_out, char **ret_err)
{
        char *buf[2] = { NULL, NULL };
        size_t len[2] = { 0, 0 };
        int fds[2] = { out_fd, err_fd };
        uint64_t deadline = now_ms() + 60000;
        while (fds[0] >= 0 || fds[1] >= 0) {
                struct pollfd p[2] = { { .fd = fds[0], .events = POLLIN },
                                       { .fd = fds[1], .events = POLLIN } };
                uint64_t n = now_ms();
                if (n >= deadline)
                        TEST_FAIL_("%s", "gunyahctl did not finish within 60 s");
                int r = poll(p, 2, (int)(deadline - n));
                if (r < 0 && errno == EINTR)
                        continue;
                ASSERT_OK(r);
                for (int i = 0; i < 2; i++) {
                        if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        char chunk[4096];
                        ssize_t k = read(fds[i], chunk, sizeof(chunk));
                        if (k <= 0) {
                                close(fds[i]);
                                fds[i] = -1;
                                continue;
                        }
                        char *nb = realloc(buf[i], len[i] + (size_t)k + 1);
                        ASSERT_TRUE(nb);
                        memcpy(nb + len[i], chunk, (size_t)k);
                        len[i] += (size_t)k;
                        nb[len[i]] = 0;
                        buf[i] = nb;
                }
        }
        for (int i = 0; i < 2; i++)
                if (!buf[i])
                        buf[i] = strdup("");
        if (ret_out)
                *ret_out = buf[0];
        else
                free(buf[0]);
        if (ret_err)
                *ret_err = buf[1];
        else
                free(buf[1]);
}

typedef struct CliCreds {
        bool set;
        uid_t uid;
        gid_t gid;
        const gid_t *groups;
        size_t n_groups;
} CliCreds;

static void copy_file(const char *from, const char *to, mode_t mode)
{
        static char buf[1 << 16];
        int in = open(from, O_RDONLY | O_CLOEXEC);
        ASSERT_OK(in);
        int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        ASSERT_OK(out);
        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));
                ASSERT_TRUE(n >= 0);
                if (n == 0)
                        break;
                ASSERT_EQ(write(out, buf, (size_t)n), n);
        }
        close(in);
        ASSERT_OK(fchmod(out, mode));
        close(out);
}

/*
 * gunyahctl for another uid: the build tree may sit in a directory only root can enter (a
 * checkout under mktemp -d is 0700), so the binary and libgunyahctl.so.0 are copied into the
 * harness's own world-readable directory once, and that copy runs with LD_LIBRARY_PATH there.
 */
static void cli_copy_for_others(Harness *h, char *binary, size_t size, char *libdir,
                                size_t libdir_size)
{
        char src[PATH_MAX], lib[PATH_MAX];
        snprintf(libdir, libdir_size, "%s/cli", h->dir);
        snprintf(binary, size, "%s/gunyahctl", libdir);
        if (access(binary, X_OK) == 0)
                return;
        ASSERT_TRUE(mkdir(libdir, 0755) == 0 || errno == EEXIST);
        bin_path("gunyahctl", src, sizeof(src));
        copy_file(src, binary, 0755);
        snprintf(src, sizeof(src), "%s/lib/libgunyahctl.so.0", build_dir());
        snprintf(lib, sizeof(lib), "%s/libgunyahctl.so.0", libdir);
        copy_file(src, lib, 0644);
}

static int run_cli_as(Harness *h, const CliCreds *creds, char **ret_out, char **ret_err,
                      const char *const *env, const char *const *argv)
{
        char binary[PATH_MAX], address[256], libdir[PATH_MAX] = "";
        if (creds && creds->set && creds->uid != 0)
                cli_copy_for_others(h, binary, sizeof(binary), libdir, sizeof(libdir));
        else
                bin_path("gunyahctl", binary, sizeof(binary));
        snprintf(address, sizeof(address), "--address=%s", h->api);
        bool env_address = false;
        for (size_t i = 0; env && env[i]; i++)
                if (strncmp(env[i], GUNYAHCTL_ADDRESS_ENV "=", strlen(GUNYAHCTL_ADDRESS_ENV) + 1) ==
                    0)
                        env_address = true;
        const char *args[64];
        size_t n = 0;
        /* $GUNYAHCTL_WRAPPER, split on spaces (e.g. "valgrind -q --error-exitcode=99") */
        char wrapper[256] = "";
        const char *w = getenv("GUNYAHCTL_WRAPPER");
        if (w)
                snprintf(wrapper, sizeof(wrapper), "%s", w);
        char *save = NULL;
        for (char *word = strtok_r(wrapper, " ", &save); word && n < 16;
             word = strtok_r(NULL, " ", &save))
                args[n++] = word;
        args[n++] = binary;
        if (!env_address)
                args[n++] = address;
        for (size_t i = 0; argv[i]; i++) {
                ASSERT_TRUE(n < sizeof(args) / sizeof(args[0]) - 1);
                args[n++] = argv[i];
        }
        args[n] = NULL;

        int out[2], err[2];
        ASSERT_OK(pipe2(out, O_CLOEXEC));
        ASSERT_OK(pipe2(err, O_CLOEXEC));
        fflush(NULL);
        pid_t pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                        _exit(127);
                dup2(out[1], STDOUT_FILENO);
                dup2(err[1], STDERR_FILENO);
                int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (devnull >= 0)
                        dup2(devnull, STDIN_FILENO);
                unsetenv(GUNYAHCTL_ADDRESS_ENV);
                unsetenv("NO_COLOR");
                for (size_t i = 0; env && env[i]; i++)
                        putenv((char *)env[i]);
                if (libdir[0])
                        setenv("LD_LIBRARY_PATH", libdir, 1);
                if (creds && creds->set)
                        drop_privileges(creds->uid, creds->gid, creds->groups, creds->n_groups);
                execvp(args[0], (char *const *)args);
                _exit(127);
        }
        close(out[1]);
        close(err[1]);
        drain(out[0], err[0], ret_out, ret_err);
        int status;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int h_run_cli(Harness *h, char **ret_out, char **ret_err, const char *const *env,
              const char *const *argv)
{
        return run_cli_as(h, NULL, ret_out, ret_err, env, argv);
}

int h_run_cli_as(Harness *h, uid_t uid, gid_t gid, char **ret_out, char **ret_err,
                 const char *const *argv)
{
        CliCreds c = { .set = true, .uid = uid, .gid = gid };
        return run_cli_as(h, &c, ret_out, ret_err, NULL, argv);
}

void h_vm_field(const char *reply_json, const char *field, char *out, size_t size)
{
        out[0] = 0;
        struct json_object *root = json_tokener_parse(reply_json), *vm, *v;
        if (root && json_object_object_get_ex(root, "vm", &vm) &&
            json_object_object_get_ex(vm, field, &v) && v)
                snprintf(out, size, "%s", json_object_get_string(v));
        json_object_put(root);
}

int h_wait_vm_state(gunyahctl *c, const char *name, const char *state, unsigned timeout_ms)
{
        uint64_t deadline = now_ms() + timeout_ms;
        for (;;) {
                char *reply = NULL, got[64];
                ASSERT_OK(gunyahctl_describe_vm(c, name, &reply));
                h_vm_field(reply, "state", got, sizeof(got));
                free(reply);
                if (strcmp(got, state) == 0)
                        return 0;
                if (now_ms() >= deadline)
                        return -ETIMEDOUT;
                usleep(20000);
        }
}

struct json_object *h_json(const char *text)
{
        ASSERT_TRUE(text);
        struct json_object *o = json_tokener_parse(text);
        if (!o || !json_object_is_type(o, json_type_object))
                TEST_FAIL_("not a JSON object: %s", text);
        return o;
}

struct json_object *h_jget(struct json_object *o, const char *path)
{
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", path);
        char *save = NULL;
        for (char *part = strtok_r(buf, ".", &save); part && o; part = strtok_r(NULL, ".", &save)) {
                if (json_object_is_type(o, json_type_array)) {
                        char *end;
                        long i = strtol(part, &end, 10);
                        if (*end || i < 0 || (size_t)i >= json_object_array_length(o))
                                return NULL;
                        o = json_object_array_get_idx(o, (size_t)i);
                } else if (json_object_is_type(o, json_type_object)) {
                        struct json_object *v;
                        if (!json_object_object_get_ex(o, part, &v))
                                return NULL;
                        o = v;
                } else
                        return NULL;
        }
        return o;
}

const char *h_jstr(struct json_object *o, const char *path)
{
        struct json_object *v = h_jget(o, path);
        return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

bool h_jint(struct json_object *o, const char *path, int64_t *ret)
{
        struct json_object *v = h_jget(o, path);
        if (!v || !json_object_is_type(v, json_type_int))
                return false;
        *ret = json_object_get_int64(v);
        return true;
}
