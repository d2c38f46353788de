/* SPDX-License-Identifier: MIT */
/*
 * gunyah-rm-sim: option parsing, the host memory pool, and the poll() loop that drives the
 * RM link, the control socket and the timers (guest pace, VM_RESET steps, delay faults).
 * Readiness: with --ready-fd N the simulator writes "READY\n" to fd N and closes it once
 * both sockets listen; without it, "READY" is printed on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "sim.h"

uint64_t sim_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void sim_log(Sim *s, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        fputs("gunyah-rm-sim: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

void sim_debug(Sim *s, const char *fmt, ...)
{
        va_list ap;

        if (!s->opt.verbose)
                return;
        va_start(ap, fmt);
        fputs("gunyah-rm-sim: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

static int parse_size(const char *str, uint64_t *ret)
{
        char *end;
        uint64_t v, mul = 1;

        errno = 0;
        v = strtoull(str, &end, 0);
        if (errno || end == str)
                return -EINVAL;
        switch (*end) {
        case 'K':
        case 'k':
                mul = 1ull << 10;
                end++;
                break;
        case 'M':
        case 'm':
                mul = 1ull << 20;
                end++;
                break;
        case 'G':
        case 'g':
                mul = 1ull << 30;
                end++;
                break;
        default:
                break;
        }
        if (*end || v > UINT64_MAX / mul)
                return -EINVAL;
        *ret = v * mul;
        return 0;
}

/* FILE:IPA:SIZE, parsed from the right so FILE may contain ':' */
static int parse_pool(Sim *s, char *spec)
{
        char *c2 = strrchr(spec, ':'), *c1;

        if (!c2)
                return -EINVAL;
        *c2 = 0;
        c1 = strrchr(spec, ':');
        if (!c1)
                return -EINVAL;
        *c1 = 0;
        s->opt.pool_file = spec;
        if (parse_size(c1 + 1, &s->opt.pool_ipa) < 0 || parse_size(c2 + 1, &s->opt.pool_size) < 0)
                return -EINVAL;
        if (!*spec || !IS_ALIGNED(s->opt.pool_ipa, RM_PAGE_SIZE) ||
            !IS_ALIGNED(s->opt.pool_size, RM_PAGE_SIZE) || s->opt.pool_size == 0 ||
            s->opt.pool_ipa >= RM_ADDR_LIMIT || s->opt.pool_size > RM_ADDR_LIMIT - s->opt.pool_ipa)
                return -EINVAL;
        return 0;
}

static int pool_map(Sim *s)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        void *p;

        if (!s->opt.pool_file)
                return 0;
        fd = open(s->opt.pool_file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t)st.st_size < s->opt.pool_size && ftruncate(fd, (off_t)s->opt.pool_size) < 0)
                return -errno; /* sparse: nothing is written */
        p = mmap(NULL, s->opt.pool_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        s->pool = p;
        return 0;
}

void sim_restart(Sim *s, bool keep_state)
{
        sim_log(s, "restart (%s state)", keep_state ? "keeping" : "losing");
        sim_link_close_client(s);
        if (keep_state)
                return;
        sim_guest_forget_ops();
        sim_parcel_free_all(s);
        sim_vm_free_all(s);
        s->next_handle = 0;
        s->link.notif_seq = 0;
}

static void usage(FILE *f)
{
        fputs("Usage: gunyah-rm-sim (--listen PATH | --fd N) [options]\n"
              "  --listen PATH           AF_UNIX SOCK_SEQPACKET socket for the host (VMID 3)\n"
              "  --fd N                  serve an inherited connected SOCK_SEQPACKET socket\n"
              "  --pool FILE:IPA:SIZE    host memory pool (created sparse), e.g. "
              "/tmp/p:0x80000000:1G\n"
              "  --profile v17|open-rm   RM flavour (default v17)\n"
              "  --control PATH          Varlink control socket (io.gunyah.Simulator)\n"
              "  --strict-image-acl on|off  image parcel must be LEND [{vmid,RWX}] (default on)\n"
              "  --guest-pace-ms N       simulated guest step interval (default 5)\n"
              "  --ready-fd N            write READY to fd N when listening (else stdout)\n"
              "  -v, --verbose           log every packet in and out to stderr\n",
              f);
}

static int parse_args(Sim *s, int argc, char **argv)
{
        static const struct option opts[] = {
            {"listen", required_argument, NULL, 'l'},
            {"fd", required_argument, NULL, 'f'},
            {"pool", required_argument, NULL, 'p'},
            {"profile", required_argument, NULL, 'P'},
            {"control", required_argument, NULL, 'c'},
            {"strict-image-acl", required_argument, NULL, 'S'},
            {"guest-pace-ms", required_argument, NULL, 'g'},
            {"ready-fd", required_argument, NULL, 'r'},
            {"verbose", no_argument, NULL, 'v'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        int c;

        s->opt = (SimOptions){.fd = -1,
                              .ready_fd = -1,
                              .strict_image_acl = true,
                              .guest_pace_ms = 5,
                              .profile = SIM_PROFILE_V17};
        while ((c = getopt_long(argc, argv, "vh", opts, NULL)) >= 0) {
                switch (c) {
                case 'l':
                        s->opt.listen_path = optarg;
                        break;
                case 'f':
                        s->opt.fd = atoi(optarg);
                        break;
                case 'p':
                        if (parse_pool(s, optarg) < 0) {
                                sim_log(s, "invalid --pool '%s'", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'P':
                        if (strcmp(optarg, "v17") == 0)
                                s->opt.profile = SIM_PROFILE_V17;
                        else if (strcmp(optarg, "open-rm") == 0)
                                s->opt.profile = SIM_PROFILE_OPEN_RM;
                        else
                                return -EINVAL;
                        break;
                case 'c':
                        s->opt.control_path = optarg;
                        break;
                case 'S':
                        if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0)
                                return -EINVAL;
                        s->opt.strict_image_acl = strcmp(optarg, "on") == 0;
                        break;
                case 'g':
                        s->opt.guest_pace_ms = (unsigned)atoi(optarg);
                        break;
                case 'r':
                        s->opt.ready_fd = atoi(optarg);
                        break;
                case 'v':
                        s->opt.verbose = true;
                        break;
                case 'h':
                        usage(stdout);
                        exit(EXIT_SUCCESS);
                default:
                        return -EINVAL;
                }
        }
        if (optind != argc || (!s->opt.listen_path) == (s->opt.fd < 0)) {
                usage(stderr);
                return -EINVAL;
        }
        return 0;
}

static uint64_t min_deadline(uint64_t a, uint64_t b)
{
        if (!a)
                return b;
        if (!b)
                return a;
        return MIN(a, b);
}

static int run(Sim *s, int sfd)
{
        while (!s->quit) {
                struct pollfd pfd[3 + 1 + 16];
                int n = 0, timeout = -1, nc, r;
                uint64_t d, now;

                pfd[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
                pfd[n++] = (struct pollfd){.fd = s->link.fd < 0 ? s->link.listen_fd : -1,
                                           .events = POLLIN};
                pfd[n++] = (struct pollfd){.fd = s->link.fd, .events = POLLIN};
                nc = sim_control_pollfds(s, pfd + n, (int)ELEMENTSOF(pfd) - n);
                d = min_deadline(sim_link_next_deadline(s), sim_vm_next_deadline(s));
                now = sim_now_ms();
                if (sim_guest_has_ops())
                        timeout = 0;
                else if (d)
                        timeout = d <= now ? 0 : (int)MIN(d - now, 60000u);
                r = poll(pfd, (nfds_t)(n + nc), timeout);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r > 0 && (pfd[0].revents & POLLIN))
                        return 0; /* SIGTERM / SIGINT */
                if (r > 0 && (pfd[1].revents & POLLIN))
                        (void)sim_link_accept(s);
                if (r > 0 && pfd[2].fd >= 0 && pfd[2].fd == s->link.fd &&
                    (pfd[2].revents & (POLLIN | POLLHUP | POLLERR)))
                        sim_link_on_readable(s);
                if (r > 0)
                        sim_control_dispatch(s, pfd + n, nc);
                now = sim_now_ms();
                sim_link_tick(s, now);
                sim_vm_tick(s, now);
                sim_guest_run_ops(s);
                sim_link_flush(s);
        }
        return 0;
}

int main(int argc, char **argv)
{
        Sim *s = calloc(1, sizeof(*s));
        _cleanup_close_ int sfd = -1;
        sigset_t mask;
        int r;

        if (!s)
                return EXIT_FAILURE;
        if (parse_args(s, argc, argv) < 0) {
                free(s);
                return 2;
        }
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0) {
                sim_log(s, "signalfd: %m");
                free(s);
                return EXIT_FAILURE;
        }
        r = pool_map(s);
        if (r < 0)
                sim_log(s, "cannot map pool %s: %s", s->opt.pool_file, strerror(-r));
        if (r >= 0 && (r = sim_link_init(s)) < 0)
                sim_log(s, "cannot listen on %s: %s", s->opt.listen_path, strerror(-r));
        if (r >= 0 && (r = sim_control_init(s)) < 0)
                sim_log(s, "cannot listen on %s: %s", s->opt.control_path, strerror(-r));
        if (r >= 0) {
                if (s->opt.ready_fd >= 0) {
                        if (write(s->opt.ready_fd, "READY\n", 6) != 6)
                                sim_log(s, "cannot write to --ready-fd: %m");
                        close(s->opt.ready_fd);
                } else {
                        printf("READY\n");
                        fflush(stdout);
                }
                r = run(s, sfd);
        }
        sim_control_done(s);
        sim_link_done(s);
        sim_parcel_free_all(s);
        sim_vm_free_all(s);
        if (s->pool)
                munmap(s->pool, s->opt.pool_size);
        free(s);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
