/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the RM reassembler (rm-wire.h) under both policies. The input is a sequence of
 * packets, each a 1-byte length L then L bytes (the last one truncated to what is left),
 * so packets of 0..255 bytes are tried, including the 241..255 bytes no queue delivers.
 * Invariants checked after every feed abort the run when broken.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rm-wire.h"

#define CHECK(x)                                                                               \
        do {                                                                                   \
                if (!(x))                                                                      \
                        abort();                                                               \
        } while (0)

static void check_state(const RmReassembler *r, RmReasmResult res)
{
        CHECK(r->len <= RM_RECV_MAX_PAYLOAD);
        CHECK(r->hdr.num_fragments <= RM_MAX_NUM_FRAGMENTS);
        CHECK(r->frags_seen <= r->hdr.num_fragments);
        /* Each packet brings at most 232 bytes. */
        CHECK(r->len <= (size_t)(r->frags_seen + 1) * RM_PAYLOAD_PER_PACKET);
        switch (res) {
        case RM_REASM_PARTIAL:
                CHECK(r->active);
                CHECK(r->frags_seen < r->hdr.num_fragments);
                CHECK(r->drop_reason == RM_DROP_NONE);
                break;
        case RM_REASM_COMPLETE:
                CHECK(!r->active);
                CHECK(r->frags_seen == r->hdr.num_fragments);
                CHECK(r->hdr.type != RM_MSG_CONTINUATION);
                CHECK(r->drop_reason == RM_DROP_NONE);
                break;
        case RM_REASM_DROPPED:
                CHECK(r->drop_reason != RM_DROP_NONE);
                CHECK(rm_drop_reason_to_string(r->drop_reason) != NULL);
                /* Only the client policy aborts on a mismatch. */
                if (r->drop_reason == RM_DROP_MISMATCH)
                        CHECK(r->policy == RM_REASM_POLICY_RM && r->active && !r->aborted);
                if (r->drop_reason == RM_DROP_MISMATCH_ABORTED)
                        CHECK(r->policy == RM_REASM_POLICY_CLIENT && !r->active && r->aborted);
                break;
        default:
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static RmReassembler rm, client;
        size_t off = 0;

        rm_reassembler_init(&rm, RM_REASM_POLICY_RM);
        rm_reassembler_init(&client, RM_REASM_POLICY_CLIENT);
        while (off < size) {
                size_t n = data[off++];
                if (n > size - off)
                        n = size - off;
                /* Copy so that reading past the packet is caught by ASan. */
                uint8_t *pkt = malloc(n ? n : 1);
                if (!pkt)
                        return 0;
                memcpy(pkt, data + off, n);
                off += n;

                RmReasmResult a = rm_reassembler_feed(&rm, pkt, n);
                check_state(&rm, a);
                RmReasmResult b = rm_reassembler_feed(&client, pkt, n);
                check_state(&client, b);
                /* The policies differ only on mismatched continuations. */
                if (a == RM_REASM_COMPLETE && b == RM_REASM_COMPLETE) {
                        CHECK(rm.len == client.len);
                        CHECK(memcmp(rm.payload, client.payload, rm.len) == 0);
                }
                free(pkt);
        }
        return 0;
}
