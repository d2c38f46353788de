#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * BareRm: the baseline RM client of the benchmark: blocking SOCK_SEQPACKET, prebuilt packets
 * from protocol/rm-wire, no event loop, no queues (bench-rm.c). Errors: negative errno.
 */
#include <stddef.h>
#include <stdint.h>

#include "rm-wire.h"

typedef struct BareRm {
        int fd;
        uint16_t seq;
        uint64_t notifications; /* skipped while waiting for replies */
        RmReassembler reasm;    /* the last message received */
} BareRm;

/* A SOCK_SEQPACKET connection the simulator keeps (it closes all but one host client):
 * retries up to 5 s. Returns the fd or -errno. */
int rm_connect_exclusive(const char *path);
/* Connect (retrying while the simulator still serves a previous host client). */
int bare_open(BareRm *b, const char *path);
void bare_close(BareRm *b);
/* Send one request of any length (fragmented as rm-client does). */
int bare_send(BareRm *b, uint16_t seq, uint32_t msg_id, const uint8_t *payload, size_t len);
/* Read one whole message (reply or notification) into b->reasm. */
int bare_recv_msg(BareRm *b, RmHeader *ret_hdr);
/* Request and wait for its reply (notifications skipped and counted); the reply payload is
 * in b->reasm.payload / b->reasm.len. */
int bare_call(BareRm *b, uint32_t msg_id, const uint8_t *payload, size_t len,
              uint32_t *ret_rm_error);

/* A bare VM_GET_STATE prober: a VM allocated on the simulator and its prebuilt request. */
typedef struct BareProbe {
        BareRm b;
        uint16_t vmid;
        uint8_t pkt[RM_PACKET_MAX];
        size_t len;
} BareProbe;
/* Connect, VM_ALLOCATE(0), prebuild VM_GET_STATE(vmid). Connected on success. */
int bare_probe_open(BareProbe *p, const char *rm_path);
/* Prebuild the request for vmid (connection untouched). */
int bare_probe_packet(BareProbe *p, uint16_t vmid);
/* One round trip of the prebuilt packet (only its seq renewed); a BenchOp. */
int bare_probe_op(void *ud);
