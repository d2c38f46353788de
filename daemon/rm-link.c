/* SPDX-License-Identifier: MIT */
/*
 * RmLink: one message fd to the RM, on sd-event (see rm-link.h for the contract).
 *
 * State: a link is "up" while it has an fd with an io source; it goes up only from the
 * event loop (the kick source for a first attempt, the retry timer after a failure) and
 * down only from the event loop (the io handler, or the kick source when a write failed
 * inside rm_link_send()). This keeps state callbacks out of callers' stacks: rm_link_send()
 * never calls back.
 *
 * TX: a ring of packets. rm_link_send() appends and flushes; a flush writes until the ring
 * is empty or the fd says EAGAIN, in which case the io source also asks for EPOLLOUT and the
 * rest goes out when the fd is writable again. EPOLLOUT is dropped as soon as the ring is
 * empty so a writable fd never wakes us up in vain (no busy loop).
 *
 * RX: on EPOLLIN the handler reads whole packets until EAGAIN, at most RM_LINK_READ_BUDGET
 * per wakeup; sd-event io sources are level-triggered, so what is left wakes us again after
 * other sources had their turn. The hypervisor raises the RX interrupt on the first queued
 * message whether or not the sender set PUSH (rm-protocol.md section 1, "Default
 * thresholds"), and the RM never sets PUSH, so the readiness must not be lost: the link reads
 * until EAGAIN unless the receiver calls rm_link_yield(), and stops early only on a fd whose
 * poll() stays readable while messages are queued (sockets; the host module keeps its
 * RX-ready bit set while msgq_recv reports "not empty").
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "log.h"
#include "rm-link.h"
#include "rm-wire.h"

/* Larger than any valid packet, so an oversize one is seen whole (for the log) and never
 * mistaken for a valid one. */
#define RM_LINK_RX_BUF 1024u

typedef struct RmLinkPacket {
        uint16_t len;
        uint8_t data[RM_PACKET_MAX];
} RmLinkPacket;

struct RmLink {
        sd_event *event;
        RmLinkKind kind;
        char *path; /* device / socket path; NULL for fd */
        int fd;     /* -1 while down (device, socket) */
        bool started;
        bool up;
        bool want_out;     /* io source currently includes EPOLLOUT */
        bool is_socket;    /* write with send(MSG_NOSIGNAL): no SIGPIPE on a dead peer */
        bool yield;        /* the receiver asked to stop reading after this packet */
        int pending_error; /* write error to turn into "down" from the loop */

        sd_event_source *io;
        sd_event_source *kick;  /* defer, ONESHOT when armed: first attempt, write errors */
        sd_event_source *retry; /* backoff timer */
        uint64_t backoff_min, backoff_max, backoff_cur;
        unsigned failed_attempts; /* since the last successful connect, for log levels */

        RmLinkPacket *txq; /* ring */
        size_t tx_head, tx_count, tx_cap;

        RmLinkRecvFn recv_fn;
        RmLinkStateFn state_fn;
        void *userdata;
        RmLinkStats stats;
        char description[128];
};

static const char *const kind_table[_RM_LINK_KIND_MAX] = {
    [RM_LINK_DEVICE] = "device",
    [RM_LINK_SOCKET] = "socket",
    [RM_LINK_FD] = "fd",
};

const char *rm_link_kind_to_string(RmLinkKind k)
{
        if ((unsigned)k >= _RM_LINK_KIND_MAX)
                return NULL;
        return kind_table[k];
}

static int link_alloc(RmLink **ret, sd_event *e, RmLinkKind kind, const char *path, int fd)
{
        RmLink *l;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->kind = kind;
        l->fd = fd;
        l->backoff_min = RM_LINK_BACKOFF_MIN_USEC;
        l->backoff_max = RM_LINK_BACKOFF_MAX_USEC;
        l->backoff_cur = l->backoff_min;
        if (path) {
                l->path = strdup(path);
                if (!l->path) {
                        free(l);
                        return -ENOMEM;
                }
                snprintf(l->description, sizeof(l->description), "%s %s", kind_table[kind], path);
        } else
                snprintf(l->description, sizeof(l->description), "fd %d", fd);
        l->event = sd_event_ref(e);
        *ret = l;
        return 0;
}

int rm_link_new_device(RmLink **ret, sd_event *e, const char *path)
{
        if (!ret || !e || !path || !*path)
                return -EINVAL;
        return link_alloc(ret, e, RM_LINK_DEVICE, path, -1);
}

int rm_link_new_socket(RmLink **ret, sd_event *e, const char *path)
{
        if (!ret || !e || !path || !*path)
                return -EINVAL;
        if (strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
                return -EINVAL;
        return link_alloc(ret, e, RM_LINK_SOCKET, path, -1);
}

static int link_new_with_fd(RmLink **ret, sd_event *e, RmLinkKind kind, const char *path, int fd)
{
        _cleanup_close_ int owned = fd;
        int flags, r;

        if (!ret || !e || fd < 0)
                return -EINVAL;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        flags = fcntl(fd, F_GETFD);
        if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
                return -errno;
        r = link_alloc(ret, e, kind, path, fd);
        if (r < 0)
                return r;
        TAKE_FD(owned);
        return 0;
}

int rm_link_new_fd(RmLink **ret, sd_event *e, int fd)
{
        return link_new_with_fd(ret, e, RM_LINK_FD, NULL, fd);
}

int rm_link_new_device_fd(RmLink **ret, sd_event *e, const char *path, int fd)
{
        if (!path || !*path) {
                if (fd >= 0)
                        close(fd);
                return -EINVAL;
        }
        return link_new_with_fd(ret, e, RM_LINK_DEVICE, path, fd);
}

static void link_tx_clear(RmLink *l)
{
        l->tx_head = 0;
        l->tx_count = 0;
}

static void link_close_fd(RmLink *l)
{
        l->io = sd_event_source_disable_unref(l->io);
        if (l->fd >= 0)
                close(l->fd);
        l->fd = -1;
        l->want_out = false;
}

RmLink *rm_link_free(RmLink *l)
{
        if (!l)
                return NULL;
        link_close_fd(l);
        l->kick = sd_event_source_disable_unref(l->kick);
        l->retry = sd_event_source_disable_unref(l->retry);
        sd_event_unref(l->event);
        free(l->txq);
        free(l->path);
        free(l);
        return NULL;
}

void rm_link_set_handlers(RmLink *l, RmLinkRecvFn recv, RmLinkStateFn state, void *userdata)
{
        l->recv_fn = recv;
        l->state_fn = state;
        l->userdata = userdata;
}

void rm_link_yield(RmLink *l)
{
        l->yield = true;
}

void rm_link_set_backoff(RmLink *l, uint64_t min_usec, uint64_t max_usec)
{
        if (min_usec == 0 || max_usec < min_usec)
                return;
        l->backoff_min = min_usec;
        l->backoff_max = max_usec;
        l->backoff_cur = min_usec;
}

bool rm_link_is_up(const RmLink *l)
{
        return l && l->up;
}

size_t rm_link_tx_queued(const RmLink *l)
{
        return l ? l->tx_count : 0;
}

RmLinkKind rm_link_get_kind(const RmLink *l)
{
        return l->kind;
}

const char *rm_link_describe(const RmLink *l)
{
        return l->description;
}

void rm_link_get_stats(const RmLink *l, RmLinkStats *ret)
{
        *ret = l->stats;
}

/* Open the device (unless the caller gave us its fd) and take the host-wide lock. Logs the
 * reason on failure. The host module also allows one opener only (open() -> EBUSY). */
static int link_open_device(RmLink *l, bool quiet)
{
        _cleanup_close_ int fd = -1;

        if (l->fd >= 0)
                fd = TAKE_FD(l->fd);
        else
                fd = open(l->path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 && errno == EBUSY)
                return log_full_errno(quiet ? LOG_DEBUG : LOG_ERR, EBUSY,
                                      "RM device %s is already open in another process; is "
                                      "another gunyahd running?",
                                      l->path);
        if (fd < 0)
                return log_full_errno(quiet ? LOG_DEBUG : LOG_ERR, errno,
                                      "Cannot open RM device %s: %m", l->path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return log_full_errno(quiet ? LOG_DEBUG : LOG_ERR, EBUSY,
                                              "RM device %s is already in use by another "
                                              "process (exclusive flock held); is another "
                                              "gunyahd running?",
                                              l->path);
                return log_full_errno(quiet ? LOG_DEBUG : LOG_ERR, errno,
                                      "Cannot lock RM device %s: %m", l->path);
        }
        l->fd = TAKE_FD(fd);
        return 0;
}

static int link_connect_socket(RmLink *l)
{
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        memcpy(sa.sun_path, l->path, strlen(l->path)); /* length checked at creation */
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                /* Non-blocking AF_UNIX connect() completes at once or fails (EAGAIN: the
                 * listener's backlog is full); either way the retry timer handles it. */
                return -errno;
        l->fd = TAKE_FD(fd);
        return 0;
}

static int link_io_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata);
static void link_schedule_retry(RmLink *l);

static int link_update_events(RmLink *l)
{
        bool want_out = l->tx_count > 0;

        if (!l->io || want_out == l->want_out)
                return 0;
        l->want_out = want_out;
        return sd_event_source_set_io_events(l->io, EPOLLIN | (want_out ? EPOLLOUT : 0));
}

/* An fd exists (opened, connected or inherited): watch it and announce "up". */
static void link_went_up(RmLink *l)
{
        struct stat st;
        int r;

        r = sd_event_add_io(l->event, &l->io, l->fd, EPOLLIN, link_io_handler, l);
        if (r < 0) {
                log_error_errno(r, "Cannot watch RM link %s: %m", l->description);
                link_close_fd(l);
                link_schedule_retry(l);
                return;
        }
        (void)sd_event_source_set_description(l->io, "rm-link-io");
        l->is_socket = fstat(l->fd, &st) >= 0 && S_ISSOCK(st.st_mode);
        l->up = true;
        l->want_out = false;
        l->pending_error = 0;
        l->backoff_cur = l->backoff_min;
        l->failed_attempts = 0;
        l->stats.connects++;
        log_info("RM link up (%s)", l->description);
        if (l->state_fn)
                l->state_fn(l, true, 0, l->userdata);
}

static void link_went_down(RmLink *l, int error)
{
        if (!l->up)
                return;
        l->up = false;
        l->pending_error = 0;
        l->stats.disconnects++;
        link_close_fd(l);
        link_tx_clear(l);
        if (l->kind == RM_LINK_FD)
                log_error_errno(error,
                                "RM link lost (%s): %m; an inherited fd cannot be "
                                "reopened, the link stays down",
                                l->description);
        else
                log_warning_errno(error, "RM link lost (%s): %m; reconnecting", l->description);
        if (l->state_fn)
                l->state_fn(l, false, error, l->userdata);
        /* The callback may have done anything but free us; reconnect if we still can. */
        if (!l->up && l->kind != RM_LINK_FD)
                link_schedule_retry(l);
}

/* One attempt to get an fd, from the loop. */
static void link_attempt(RmLink *l)
{
        int r = 0;

        if (l->up)
                return;
        if (l->fd < 0) {
                if (l->kind == RM_LINK_DEVICE)
                        r = link_open_device(l, true);
                else if (l->kind == RM_LINK_SOCKET)
                        r = link_connect_socket(l);
                else
                        return; /* an inherited fd that was lost: stay down */
        }
        if (r < 0) {
                l->stats.connect_failures++;
                if (l->failed_attempts++ == 0)
                        log_info_errno(r, "RM link %s not available yet: %m; retrying",
                                       l->description);
                else
                        log_debug_errno(r, "RM link %s: attempt %u failed: %m", l->description,
                                        l->failed_attempts);
                link_schedule_retry(l);
                return;
        }
        link_went_up(l);
}

static int link_retry_handler(sd_event_source *s, uint64_t usec, void *userdata)
{
        RmLink *l = userdata;

        link_attempt(l);
        return 0;
}

static void link_schedule_retry(RmLink *l)
{
        uint64_t delay = l->backoff_cur;
        int r;

        l->backoff_cur = MIN(l->backoff_cur * 2, l->backoff_max);
        l->retry = sd_event_source_disable_unref(l->retry);
        r = sd_event_add_time_relative(l->event, &l->retry, CLOCK_MONOTONIC, delay, 0,
                                       link_retry_handler, l);
        if (r < 0)
                log_error_errno(r, "Cannot schedule RM link retry for %s: %m", l->description);
        else
                (void)sd_event_source_set_description(l->retry, "rm-link-retry");
}

static int link_kick_handler(sd_event_source *s, void *userdata)
{
        RmLink *l = userdata;

        if (l->up && l->pending_error < 0)
                link_went_down(l, l->pending_error);
        else if (!l->up)
                link_attempt(l);
        return 0;
}

static void link_kick(RmLink *l)
{
        (void)sd_event_source_set_enabled(l->kick, SD_EVENT_ONESHOT);
}

int rm_link_start(RmLink *l)
{
        int r;

        if (!l)
                return -EINVAL;
        if (l->started)
                return -EALREADY;
        if (l->kind == RM_LINK_DEVICE) {
                r = link_open_device(l, false);
                if (r < 0)
                        return r;
        }
        r = sd_event_add_defer(l->event, &l->kick, link_kick_handler, l);
        if (r < 0)
                return r;
        (void)sd_event_source_set_description(l->kick, "rm-link-kick");
        l->started = true;
        link_kick(l);
        return 0;
}

/* Write queued packets until done or EAGAIN. A hard error is parked for the kick source. */
static void link_flush(RmLink *l)
{
        while (l->tx_count > 0 && l->pending_error == 0) {
                const RmLinkPacket *p = &l->txq[l->tx_head];
                ssize_t n;

                if (l->is_socket)
                        n = send(l->fd, p->data, p->len, MSG_NOSIGNAL);
                else
                        n = write(l->fd, p->data, p->len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        l->stats.tx_eagain++;
                        break;
                }
                if (n < 0 || (size_t)n != p->len) {
                        /* A message fd never writes part of a packet; if it did, the stream
                         * would be corrupt, so treat it as a broken link. */
                        l->pending_error = n < 0 ? -errno : -EIO;
                        link_kick(l);
                        break;
                }
                l->stats.tx_packets++;
                l->tx_head = (l->tx_head + 1) % l->tx_cap;
                l->tx_count--;
        }
        if (l->tx_count == 0)
                l->tx_head = 0;
        (void)link_update_events(l);
}

static int link_tx_grow(RmLink *l)
{
        size_t cap = l->tx_cap ? l->tx_cap * 2 : 16;
        RmLinkPacket *q;

        q = malloc(cap * sizeof(*q));
        if (!q)
                return -ENOMEM;
        /* Unroll the ring into the new array. */
        for (size_t i = 0; i < l->tx_count; i++)
                q[i] = l->txq[(l->tx_head + i) % l->tx_cap];
        free(l->txq);
        l->txq = q;
        l->tx_cap = cap;
        l->tx_head = 0;
        return 0;
}

int rm_link_send(RmLink *l, const uint8_t *pkt, size_t len)
{
        RmLinkPacket *p;
        int r;

        if (!l || !pkt)
                return -EINVAL;
        if (len == 0 || len > RM_PACKET_MAX)
                return -EMSGSIZE;
        if (!l->up || l->pending_error < 0)
                return -ENOTCONN;
        if (l->tx_count == l->tx_cap) {
                r = link_tx_grow(l);
                if (r < 0)
                        return r;
        }
        p = &l->txq[(l->tx_head + l->tx_count) % l->tx_cap];
        p->len = (uint16_t)len;
        memcpy(p->data, pkt, len);
        l->tx_count++;
        /* Packets behind an EAGAIN wait for POLLOUT: writing now would only fail again. */
        if (!l->want_out)
                link_flush(l);
        return 0;
}

/*
 * read() returning 0 is EOF on a socket whose peer closed, but on SOCK_SEQPACKET it is also
 * what an empty packet looks like. Ask poll(): after EOF the fd reports POLLHUP/POLLRDHUP;
 * after an empty packet it does not, and the empty packet is passed up (as garbage).
 */
static bool link_peer_gone(RmLink *l)
{
        struct pollfd p = {.fd = l->fd, .events = POLLIN | POLLRDHUP};

        if (poll(&p, 1, 0) < 0)
                return true;
        return p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL);
}

/* Read up to the budget. Returns 0 when the fd is drained (EAGAIN), 1 if the budget ran
 * out, or a negative errno (-ECONNRESET for EOF) when the link broke. */
static int link_read(RmLink *l)
{
        uint8_t buf[RM_LINK_RX_BUF];

        l->yield = false;
        for (unsigned i = 0; i < RM_LINK_READ_BUDGET; i++) {
                ssize_t n = read(l->fd, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n < 0)
                        return -errno;
                if (n == 0 && link_peer_gone(l))
                        return -ECONNRESET;
                l->stats.rx_packets++;
                if ((size_t)n > RM_PACKET_MAX)
                        l->stats.rx_oversize++;
                if (l->recv_fn)
                        l->recv_fn(l, buf, (size_t)n, l->userdata);
                if (!l->up || l->fd < 0)
                        return 0; /* a callback took the link down (not expected) */
                if (l->yield) {
                        l->yield = false;
                        return 1; /* maybe more: the level-triggered source tells */
                }
        }
        return 1;
}

static int link_io_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        RmLink *l = userdata;
        int r;

        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                r = link_read(l);
                if (r < 0) {
                        link_went_down(l, r);
                        return 0;
                }
                /* HUP with an empty queue (a device whose peer vanished) is a loss too. */
                if (r == 0 && (revents & (EPOLLHUP | EPOLLERR)) && !(revents & EPOLLIN)) {
                        link_went_down(l, -ECONNRESET);
                        return 0;
                }
        }
        if (l->up && (revents & EPOLLOUT)) {
                l->stats.tx_wakeups++;
                link_flush(l);
        }
        return 0;
}
