#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * RelProxy: a transparent SOCK_SEQPACKET relay between gunyahd (which connects to
 * listen_path) and gunyah-rm-sim's RM socket, run on its own thread. It exists so the fault
 * matrix can hit one chosen RM call: it counts the requests gunyahd sends after
 * rel_proxy_arm() and, just before forwarding request number `target`, calls the gate
 * function (which injects a fault through the simulator's control interface, so the fault
 * lands on exactly that request or on its reply). Packets are never altered by the proxy.
 *
 * Either side closing closes the other (a simulator Restart or "close" fault reaches
 * gunyahd as a link close); the next connection from gunyahd gets a new upstream link.
 * Thread safety: every function may be called from the test's thread while the proxy runs;
 * the gate runs on the proxy thread.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct RelProxy RelProxy;
/* Called on the proxy thread before the request is forwarded. */
typedef void (*RelGateFn)(void *userdata, uint32_t msg_id, unsigned index);

int rel_proxy_new(const char *listen_path, const char *upstream_path, RelProxy **ret);
void rel_proxy_free(RelProxy *p);
/* Reset the request count and the record; target < 0 only records. */
void rel_proxy_arm(RelProxy *p, int target, RelGateFn fn, void *userdata);
void rel_proxy_disarm(RelProxy *p);
/* Message IDs of the requests seen since rel_proxy_arm(), in order; returns the count
 * (which may exceed max). */
size_t rel_proxy_recorded(RelProxy *p, uint32_t *ids, size_t max);
bool rel_proxy_fired(RelProxy *p);
/* Connections from gunyahd accepted so far. */
unsigned rel_proxy_connections(RelProxy *p);
