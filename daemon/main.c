/* SPDX-License-Identifier: MIT */
/*
 * gunyahd: options, logging, the sd-event loop, signals, systemd notification, and the two
 * halves of the daemon: the manager (RM link, VMs, recovery) and, once recovery is done,
 * the Varlink API server. SIGTERM/SIGINT stop the daemon; VMs keep running in the RM and are
 * adopted by the next start.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "api-manager.h"
#include "api-server.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "options.h"

typedef struct Daemon {
        sd_event *event;
        Options opts;
        Manager *manager;
        ApiServer *api;
} Daemon;

static void daemon_status(Daemon *d)
{
        ManagerInfo info;

        manager_get_info(d->manager, &info);
        sd_notifyf(false, "STATUS=%zu VMs (%zu running), RM link %s (%s), pool %llu/%llu MiB used",
                   info.n_vms, info.n_running, manager_link_state_to_string(info.link),
                   info.rm_profile, (unsigned long long)(info.pool_used >> 20),
                   (unsigned long long)(info.pool_size >> 20));
}

static int daemon_start_api(Daemon *d)
{
        ApiServerOptions ao = { .admin_group = d->opts.admin_group, .version = GUNYAHD_VERSION };
        const char *path = d->opts.api_socket ? d->opts.api_socket : OPTIONS_DEFAULT_API_SOCKET;
        int n, r;

        r = api_server_new(d->event, &ao, &d->api);
        if (r < 0)
                return log_error_errno(r, "Cannot create the API server: %m");
        r = api_manager_register(d->api, d->manager);
        if (r < 0)
                return log_error_errno(r, "Cannot register io.gunyah.Manager: %m");
        if (d->opts.varlink_certification) {
                r = api_certification_register(d->api);
                if (r < 0)
                        return log_error_errno(r, "Cannot register org.varlink.certification: %m");
                log_notice("API: serving org.varlink.certification (test option)");
        }
        n = sd_listen_fds(true);
        if (n > 0) {
                for (int i = 0; i < n; i++) {
                        r = api_server_listen_fd(d->api, SD_LISTEN_FDS_START + i);
                        if (r < 0)
                                return log_error_errno(r, "Cannot serve the activated socket: %m");
                }
                log_info("API: %d socket-activated listener(s)", n);
                return 0;
        }
        {
                _cleanup_free_ char *dir = strdup(path);
                char *slash = dir ? strrchr(dir, '/') : NULL;
                if (slash && slash != dir) {
                        *slash = 0;
                        (void)mkdir(dir, 0755);
                }
        }
        r = api_server_listen_path(d->api, path, 0660);
        if (r < 0)
                return log_error_errno(r, "Cannot listen on %s: %m", path);
        log_info("API: listening on %s", path);
        return 0;
}

static void on_ready(Manager *m, int r, void *userdata)
{
        Daemon *d = userdata;

        if (r < 0) {
                log_error_errno(r, "Recovery failed: %m");
                return;
        }
        r = daemon_start_api(d);
        if (r < 0) {
                sd_event_exit(d->event, EXIT_FAILURE);
                return;
        }
        sd_notify(false, "READY=1");
        daemon_status(d);
        log_info("gunyahd " GUNYAHD_VERSION " ready");
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        Daemon *d = userdata;

        log_info("Received %s: stopping (VMs keep running in the RM)", strsignal((int)si->ssi_signo));
        sd_notify(false, "STOPPING=1\nSTATUS=Stopping");
        sd_event_exit(d->event, 0);
        return 0;
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Daemon *d = userdata;

        if (manager_is_ready(d->manager))
                daemon_status(d);
        sd_event_source_set_time_relative(s, 10 * 1000000ull);
        return 0;
}

static int run(Daemon *d, int argc, char *argv[])
{
        ManagerOptions mo = MANAGER_OPTIONS_INIT;
        sigset_t ss;
        int r;

        r = options_parse(&d->opts, argc, argv);
        if (r < 0)
                return r;
        if (d->opts.help) {
                options_usage(program_invocation_short_name);
                return 0;
        }
        if (d->opts.version) {
                printf("gunyahd %s\n", GUNYAHD_VERSION);
                return 0;
        }
        if (d->opts.verbose)
                log_set_max_level(d->opts.verbose > 1 ? LOG_DEBUG : LOG_INFO);

        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&d->event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m");
        (void)sd_event_set_watchdog(d->event, true); /* WATCHDOG=1 when WATCHDOG_USEC is set */
        r = sd_event_add_signal(d->event, NULL, SIGTERM, on_signal, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGINT, on_signal, d);
        if (r >= 0)
                r = sd_event_add_time_relative(d->event, NULL, CLOCK_MONOTONIC, 10 * 1000000ull,
                                               1000000, on_status_timer, d);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the event loop: %m");

        mo.rm_device = d->opts.rm_device;
        mo.rm_socket = d->opts.rm_socket;
        mo.rm_fd = d->opts.rm_fd;
        mo.pool_file = d->opts.pool_file;
        mo.pool_ipa = d->opts.pool_ipa;
        mo.pool_size = d->opts.pool_size;
        mo.pool_device = d->opts.pool_device;
        mo.state_dir = d->opts.state_dir;
        mo.runtime_dir = d->opts.runtime_dir;
        mo.image_dir = d->opts.image_dir;
        mo.rpc_timeout_usec = d->opts.rpc_timeout_usec;
        mo.stop_timeout_usec = d->opts.stop_timeout_usec;
        r = manager_new(d->event, &mo, &d->manager);
        if (r < 0)
                return r;
        sd_notify(false, "STATUS=Recovering: loading records, connecting to the RM");
        r = manager_start(d->manager, on_ready, d);
        if (r < 0)
                return r;
        r = sd_event_loop(d->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return r;
}

/* Each VM with a runtime record keeps its two files open (store.c), next to up to 1,000 API
 * connections by default: the usual soft limit of 1024 descriptors is too tight. Raise it
 * to the hard limit (at most 65536; gunyahd uses epoll, never select()). Under systemd the
 * unit's LimitNOFILE= does it and setrlimit() is filtered (@resources): failure is fine. */
static void raise_nofile(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max || rl.rlim_cur >= 65536)
                return;
        rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
}

int main(int argc, char *argv[])
{
        Daemon d = {};
        int r;

        log_setup("gunyahd");
        raise_nofile();
        options_init(&d.opts);
        r = run(&d, argc, argv);
        d.api = api_server_free(d.api);
        d.manager = manager_free(d.manager);
        sd_event_unref(d.event);
        options_done(&d.opts);
        return r < 0 ? EXIT_FAILURE : r;
}
