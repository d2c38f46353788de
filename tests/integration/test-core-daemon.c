/* SPDX-License-Identifier: MIT */
/*
 * The gunyahd process itself: options from a configuration file (same names as the flags),
 * READY=1 on $NOTIFY_SOCKET only after recovery, the Varlink socket answering, SIGTERM
 * ending it cleanly; bad options refused with exit status 1.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core-harness.h"
#include "test.h"

static pid_t spawn_daemon(char *const argv[], const char *notify)
{
        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                if (notify)
                        setenv("NOTIFY_SOCKET", notify, 1);
                else
                        unsetenv("NOTIFY_SOCKET");
                execv(argv[0], argv);
                _exit(127);
        }
        return pid;
}

/* As spawn_daemon(), with stderr to a fresh file LOG. */
static pid_t spawn_daemon_log(char *const argv[], const char *log)
{
        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(126);
                unsetenv("NOTIFY_SOCKET");
                execv(argv[0], argv);
                _exit(127);
        }
        return pid;
}

static bool file_contains(const char *path, const char *needle)
{
        char buf[8192];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n < 0)
                return false;
        buf[n] = 0;
        if (!strstr(buf, needle)) {
                fprintf(stderr, "%s does not say '%s':\n%s\n", path, needle, buf);
                return false;
        }
        return true;
}

static int wait_exit(pid_t pid, unsigned timeout_ms)
{
        int status;
        for (unsigned i = 0; i < timeout_ms / 10; i++) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                usleep(10000);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -ETIMEDOUT;
}

TEST(daemon_config_ready_api_sigterm)
{
        Core *c = core_new(&(CoreOpts){ .no_manager = true, .guest_pace_ms = 1 });
        char conf[600], notify[600], api[600], bin[600], buf[4096];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *bd = getenv("GUNYAH_BUILD_DIR");
        FILE *f;
        int nfd, afd;

        ASSERT_TRUE(bd != NULL);
        snprintf(bin, sizeof(bin), "%s/bin/gunyahd", bd);
        snprintf(conf, sizeof(conf), "%s/gunyahd.conf", c->dir);
        snprintf(notify, sizeof(notify), "%s/notify", c->dir);
        snprintf(api, sizeof(api), "%s/api.sock", c->dir);
        f = fopen(conf, "we");
        ASSERT_TRUE(f != NULL);
        fprintf(f, "# gunyahd test configuration\nrm-socket = %s\npool = %s:0x%llx:0x%llx\n"
                   "state-dir = %s\nimage-dir = %s\napi-socket = %s\nrpc-timeout = 5s\n"
                   "stop-timeout=2s  # trailing comment\n",
                sim_client_rm_path(c->sim), sim_client_pool_path(c->sim),
                (unsigned long long)sim_client_pool_ipa(c->sim),
                (unsigned long long)sim_client_pool_size(c->sim), c->state_dir, c->image_dir, api);
        fclose(f);

        nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(nfd >= 0);
        ASSERT_TRUE(strlen(notify) < sizeof(sa.sun_path));
        memcpy(sa.sun_path, notify, strlen(notify) + 1);
        ASSERT_OK(bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0);

        char *argv[] = { bin, "--config", conf, "-v", NULL };
        pid_t pid = spawn_daemon(argv, notify);

        /* READY=1 arrives once recovery is done; STATUS= lines may come first. */
        bool ready = false;
        for (int i = 0; i < 600 && !ready; i++) {
                struct pollfd p = { .fd = nfd, .events = POLLIN };
                if (poll(&p, 1, 100) <= 0)
                        continue;
                ssize_t n = recv(nfd, buf, sizeof(buf) - 1, 0);
                ASSERT_TRUE(n > 0);
                buf[n] = 0;
                if (strstr(buf, "READY=1"))
                        ready = true;
        }
        ASSERT_TRUE(ready);
        ASSERT_TRUE(access(api, F_OK) == 0);

        /* The API answers (org.varlink.service.GetInfo, NUL-terminated JSON). */
        afd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(strlen(api) < sizeof(sa.sun_path));
        memcpy(sa.sun_path, api, strlen(api) + 1);
        ASSERT_OK(connect(afd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0);
        const char req[] = "{\"method\":\"org.varlink.service.GetInfo\"}";
        ASSERT_EQ(write(afd, req, sizeof(req)), (ssize_t)sizeof(req));
        size_t got = 0;
        while (got < sizeof(buf) - 1) {
                ssize_t n = read(afd, buf + got, sizeof(buf) - 1 - got);
                ASSERT_TRUE(n > 0);
                got += (size_t)n;
                if (memchr(buf, 0, got))
                        break;
        }
        buf[got] = 0;
        ASSERT_TRUE(strstr(buf, "io.gunyah.Manager") != NULL);
        close(afd);

        ASSERT_EQ(kill(pid, SIGTERM), 0);
        ASSERT_EQ(wait_exit(pid, 20000), 0);
        close(nfd);

        /* Bad options: exit status 1, nothing started. */
        char *bad[] = { bin, "--rm-socket", "/x", "--rm-device", "/y", NULL };
        ASSERT_EQ(wait_exit(spawn_daemon(bad, NULL), 20000), 1);
        char *bad2[] = { bin, "--config", "/nonexistent/gunyahd.conf", NULL };
        ASSERT_EQ(wait_exit(spawn_daemon(bad2, NULL), 20000), 1);
        char *bad3[] = { bin, "--rpc-timeout", "soon", "--pool", "x:1:2", NULL };
        ASSERT_EQ(wait_exit(spawn_daemon(bad3, NULL), 20000), 1);

        /* No --pool and a character device as the RM link: the device's pool is the
         * default, so gunyahd asks the device for it (/dev/null has none) instead of
         * asking for --pool; a link that is no device still needs --pool. */
        char log[PATH_MAX], state[PATH_MAX];
        snprintf(log, sizeof(log), "%s/no-pool.log", c->state_dir);
        snprintf(state, sizeof(state), "%s/no-pool-state", c->state_dir);
        char *nopool[] = { bin, "--rm-device", "/dev/null", "--state-dir", state, NULL };
        ASSERT_EQ(wait_exit(spawn_daemon_log(nopool, log), 20000), 1);
        ASSERT_TRUE(file_contains(log, "reports no VM memory pool"));
        char *nopool2[] = { bin, "--rm-socket", "/nonexistent", "--state-dir", state, NULL };
        ASSERT_EQ(wait_exit(spawn_daemon_log(nopool2, log), 20000), 1);
        ASSERT_TRUE(file_contains(log, "A host memory pool is required"));
        core_free(c);
}

TEST_MAIN()
