#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * RmLink: the message fd to the Resource Manager (architecture.md "The RM link"). One write()
 * sends one packet of 1..240 bytes, one read() returns one packet; POLLIN = not empty,
 * POLLOUT = not full. Three providers share everything but how the fd is obtained:
 *   device  --rm-device PATH: message character device, opened O_RDWR|O_NONBLOCK|O_CLOEXEC
 *           with flock(LOCK_EX|LOCK_NB); a second owner gets -EBUSY (logged with the path).
 *   socket  --rm-socket PATH: AF_UNIX SOCK_SEQPACKET; (re)connects with exponential backoff
 *           (50 ms doubling to 2 s) before the peer exists and after it goes away.
 *   fd      --rm-fd N: an inherited fd (taken over); when it closes the link stays down.
 * A lost device is reopened with the same backoff.
 *
 * Invariants: packets leave in the order rm_link_send() queued them, each whole, none
 * dropped while the link is up; EAGAIN on write waits for POLLOUT (no spinning); on POLLIN
 * the link reads until EAGAIN (at most RM_LINK_READ_BUDGET packets per wakeup, the rest on
 * the next level-triggered wakeup) unless the receiver calls rm_link_yield(). Up/down
 * changes are reported only from the event loop, never from inside rm_link_send(); going
 * down discards the TX queue.
 * Errors: negative errno; callbacks must not free the link.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef struct sd_event sd_event;
typedef struct RmLink RmLink;

#define RM_LINK_READ_BUDGET 256u
#define RM_LINK_BACKOFF_MIN_USEC (50u * 1000u)
#define RM_LINK_BACKOFF_MAX_USEC (2000u * 1000u)

typedef enum RmLinkKind {
        RM_LINK_DEVICE,
        RM_LINK_SOCKET,
        RM_LINK_FD,
        _RM_LINK_KIND_MAX,
} RmLinkKind;

/* One packet as read (len may exceed RM_PACKET_MAX: the receiver decides; never > 1024). */
typedef void (*RmLinkRecvFn)(RmLink *l, const uint8_t *pkt, size_t len, void *userdata);
/* up = true after connect/open, false when lost (error: the -errno that took it down, or
 * -ECONNRESET for a peer hangup / EOF). */
typedef void (*RmLinkStateFn)(RmLink *l, bool up, int error, void *userdata);

typedef struct RmLinkStats {
        uint64_t tx_packets;
        uint64_t rx_packets;
        uint64_t tx_eagain;   /* times a write hit EAGAIN and the link waited for POLLOUT */
        uint64_t tx_wakeups;  /* POLLOUT wakeups served */
        uint64_t rx_oversize; /* packets longer than RM_PACKET_MAX (still passed up) */
        uint64_t connects;    /* successful open/connects */
        uint64_t disconnects;
        uint64_t connect_failures;
} RmLinkStats;

/*
 * Constructors: the link is idle until rm_link_start(). new_device and new_socket copy path;
 * new_fd takes ownership of fd (closed at once on failure, else by rm_link_free) and sets
 * O_NONBLOCK and FD_CLOEXEC on it. Return 0 or -ENOMEM / -EINVAL (path empty or too long for a
 * socket).
 */
int rm_link_new_device(RmLink **ret, sd_event *e, const char *path);
int rm_link_new_socket(RmLink **ret, sd_event *e, const char *path);
int rm_link_new_fd(RmLink **ret, sd_event *e, int fd);
/*
 * A device link on an fd the caller already opened from path (e.g. to ioctl/mmap the pool
 * on the same fd, since the device allows one opener): takes ownership of fd like
 * rm_link_new_fd(); rm_link_start() takes the flock on it (a no-op if the caller holds it)
 * and, if the link is lost later, the device is reopened from path like any device link.
 */
int rm_link_new_device_fd(RmLink **ret, sd_event *e, const char *path, int fd);
/* Closes the fd, frees queued packets; no callbacks run. Accepts NULL, returns NULL. */
RmLink *rm_link_free(RmLink *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(RmLink *, rm_link_free);

void rm_link_set_handlers(RmLink *l, RmLinkRecvFn recv, RmLinkStateFn state, void *userdata);
/* From the receive callback: read no further packet in this wakeup. What is still queued is
 * read on the next one (the io source is level-triggered); this saves the read() that would
 * only return EAGAIN when the receiver knows nothing more is due (a reply it waited for). */
void rm_link_yield(RmLink *l);
/* Backoff for the socket and device providers (min > 0, max >= min), before start. */
void rm_link_set_backoff(RmLink *l, uint64_t min_usec, uint64_t max_usec);

/*
 * Begin: device: open + flock now (returns -ENOENT, -EACCES, -EBUSY "already owned", ...:
 * a daemon must not start without its device); socket: first connect attempt scheduled (a
 * missing peer is not an error, it is retried); fd: nothing to open. In every case the up
 * callback follows from the event loop. Returns 0 or a negative errno; -EALREADY if started.
 */
int rm_link_start(RmLink *l);

/*
 * Queue one packet (1..RM_PACKET_MAX bytes, copied) and write as much of the queue as the
 * fd takes now. Returns 0, -ENOTCONN if the link is down, -EMSGSIZE for a bad length,
 * -ENOMEM. A write error does not fail this call: the link goes down from the event loop
 * and the down callback reports it.
 */
int rm_link_send(RmLink *l, const uint8_t *pkt, size_t len);

bool rm_link_is_up(const RmLink *l);
size_t rm_link_tx_queued(const RmLink *l); /* packets not yet written */
RmLinkKind rm_link_get_kind(const RmLink *l);
const char *rm_link_describe(const RmLink *l); /* "device /dev/gunyah", "socket /x", "fd 3" */
void rm_link_get_stats(const RmLink *l, RmLinkStats *ret);
const char *rm_link_kind_to_string(RmLinkKind k);
