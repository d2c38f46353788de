#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Internals of the API server shared by api-server.c and api-service.c (the built-in
 * org.varlink.service). Not for handlers: they use api-server.h only.
 */
#include <stdbool.h>
#include <stdint.h>

#include "api-server.h"
#include "varlink.h"

typedef struct sd_event_source sd_event_source;

typedef struct ApiInterfaceReg {
        const ApiInterface *iface;
        void *userdata;
        void (*free_userdata)(void *);
} ApiInterfaceReg;

typedef struct ApiListener {
        ApiServer *server;
        int fd;
        sd_event_source *io;
        sd_event_source *retry; /* re-enables io after an accept failure */
        struct ApiListener *next;
} ApiListener;

typedef struct ApiOut {
        struct ApiOut *next;
        size_t len, off;
        char data[];
} ApiOut;

/* The server's two FIFO lists of connections (to run on the next loop turn, to flush at the
 * end of a pass). A queued connection holds a reference; its link says whether it is in. */
typedef enum ApiConnListKind {
        API_CONN_LIST_PENDING,
        API_CONN_LIST_FLUSH,
        _API_CONN_LIST_MAX,
} ApiConnListKind;

typedef struct ApiConnLink {
        bool queued;
        ApiConn *next;
} ApiConnLink;

typedef struct ApiConnList {
        ApiConnListKind kind;
        ApiConn *head, *tail;
} ApiConnList;

struct ApiConn {
        unsigned n_ref;
        ApiServer *server;
        ApiConn *prev, *next;
        int fd;
        uint32_t events;        /* mask in the server's epoll set (EPOLLIN, EPOLLOUT) */
        bool in_epoll;          /* fd is in the server's epoll set */
        ApiConnLink links[_API_CONN_LIST_MAX]; /* on the server's pending / flush list */
        ApiPeer peer;
        VarlinkBuffer in;
        uint64_t in_total;      /* bytes received on the stream */
        uint64_t in_taken;      /* bytes handed out as messages (NUL included) */
        ApiOut *out_head, *out_tail;
        char *held;             /* a reply made during a pass, sent at its end (out_head is
                                 * NULL while it is held) */
        size_t held_len;
        size_t out_bytes;       /* queued, held included */
        int fds[API_FDS_MAX];   /* received, not yet attached to a call */
        uint64_t fd_at[API_FDS_MAX]; /* stream offset where each arrived */
        unsigned n_fds;
        ApiCall *current;       /* the call waiting for its final reply */
        bool eof;               /* the peer will send nothing more */
        bool output_dead;       /* writes failed: replies are dropped */
        bool processing;        /* conn_process() runs: it sets the epoll mask at its end */
        bool admin_checked;     /* peer.admin is final (see conn_peer_admin()) */
        bool closed;
};

struct ApiCall {
        unsigned n_ref;
        ApiConn *conn; /* referenced until the final reply or the disconnect */
        ApiPeer peer;
        VarlinkCall vc;
        int fds[API_FDS_MAX];
        unsigned n_fds;
        bool completed;
        ApiCallDisconnectFn disconnect;
        void *disconnect_userdata;
};

struct ApiServer {
        sd_event *event;
        ApiServerOptions opts;
        char *admin_group;   /* name or decimal GID, looked up at the first admin call */
        bool admin_resolved; /* admin_gid/have_admin_gid are final */
        gid_t admin_gid;
        bool have_admin_gid;
        ApiInterfaceReg *ifaces;
        size_t n_ifaces;
        ApiListener *listeners;
        ApiConn *conns;
        unsigned n_conns;
        /* Every connection's fd is in this epoll set of the server's own; sd-event sees only
         * the set (conns_io), whose handler serves the ready connections of one epoll_wait. */
        int epoll_fd;
        sd_event_source *conns_io;
        /* Connections to run on the next loop turn whatever their fd says: a call completed
         * outside conn_process(), or whole messages left over when a pass's budget ran out. */
        ApiConnList pending;
        sd_event_source *pending_src;
        /* While a pass runs, replies are held and these connections send them at its end.
         * Stream notifications made outside a pass (a StartVM's progress, written from the RM
         * link's handler) are held the same way and sent by flush_src on the next loop turn,
         * after the handler's own RM request went out. */
        bool in_pass;
        ApiConnList flush;
        sd_event_source *flush_src;
        /* One json-c tokener for every connection's calls (a message is parsed whole). */
        VarlinkParser parser;
};

/* api-service.c: registers org.varlink.service (GetInfo, GetInterfaceDescription). */
int api_service_register(ApiServer *s);
