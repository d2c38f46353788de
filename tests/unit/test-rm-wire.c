/* SPDX-License-Identifier: MIT */
/*
 * RM wire: header, fragmentation, reassembly (rm-protocol.md sections 2-5). Every golden
 * byte string below is typed in from rm-protocol.md, never produced by our encoder.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "rm-error.h"
#include "rm-ids.h"
#include "rm-types.h"
#include "rm-vm.h"
#include "rm-wire.h"
#include "test.h"

/* Section 2 worked example: VM_START of VMID 0x80, seq 5. */
static const uint8_t vm_start_req[] = { 0x21, 0x01, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56,
                                        0x80, 0x00, 0x00, 0x00 };
static const uint8_t vm_start_reply[] = { 0x21, 0x02, 0x05, 0x00, 0x04, 0x00, 0x00, 0x56,
                                          0x00, 0x00, 0x00, 0x00 };

TEST(vm_start_request_build)
{
        uint8_t payload[4], pkt[RM_PACKET_MAX];
        ASSERT_EQ(rm_encode_vmid_req(payload, sizeof(payload), 0x80), 4);
        ASSERT_EQ(rm_packet_build(RM_MSG_REQUEST, 5, RM_VM_START, payload, 4, RM_SEND_MAX_PAYLOAD,
                                  0, pkt),
                  sizeof(vm_start_req));
        ASSERT_MEMEQ(pkt, vm_start_req, sizeof(vm_start_req));
}

TEST(vm_start_request_parse)
{
        RmHeader h;
        RmVmidReq q;
        ASSERT_EQ(rm_header_unpack(vm_start_req, sizeof(vm_start_req), &h), 0);
        ASSERT_EQ(h.type, RM_MSG_REQUEST);
        ASSERT_EQ(h.num_fragments, 0);
        ASSERT_EQ(h.seq, 5);
        ASSERT_EQ(h.msg_id, 0x56000004u);
        ASSERT_EQ(rm_decode_vmid_req(vm_start_req + 8, 4, false, &q), 0);
        ASSERT_EQ(q.vmid, 0x80);
        ASSERT_EQ(q.res, 0);
}

TEST(vm_start_reply_both_ways)
{
        uint8_t err[4] = { 0 }, pkt[RM_PACKET_MAX];
        RmReassembler r;
        uint32_t code = 0xdead;
        const uint8_t *data;
        size_t dlen = 99;

        ASSERT_EQ(rm_packet_build(RM_MSG_REPLY, 5, RM_VM_START, err, 4, RM_RECV_MAX_PAYLOAD, 0,
                                  pkt),
                  sizeof(vm_start_reply));
        ASSERT_MEMEQ(pkt, vm_start_reply, sizeof(vm_start_reply));

        rm_reassembler_init(&r, RM_REASM_POLICY_CLIENT);
        ASSERT_EQ(rm_reassembler_feed(&r, vm_start_reply, sizeof(vm_start_reply)),
                  RM_REASM_COMPLETE);
        ASSERT_EQ(r.hdr.type, RM_MSG_REPLY);
        ASSERT_EQ(r.hdr.seq, 5);
        ASSERT_EQ(r.hdr.msg_id, RM_VM_START);
        ASSERT_EQ(r.len, 4);
        ASSERT_EQ(rm_reply_split(r.payload, r.len, &code, &data, &dlen), 0);
        ASSERT_EQ(code, RM_OK);
        ASSERT_EQ(dlen, 0);
        ASSERT_TRUE(data == r.payload + 4);
}

TEST(header_byte1_values)
{
        /* Section 2: single request 0x01, reply 0x02, notification 0x03; first packet of a
         * 3-packet request 0x09, its continuations 0x08. */
        uint8_t out[RM_HEADER_SIZE];
        const struct {
                uint8_t type, nf, byte1;
        } cases[] = { { 1, 0, 0x01 }, { 2, 0, 0x02 }, { 3, 0, 0x03 }, { 1, 2, 0x09 },
                      { 0, 2, 0x08 }, { 0, 62, 0xf8 }, { 3, 63, 0xff } };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                rm_header_pack(&(RmHeader){ .type = cases[i].type,
                                            .num_fragments = cases[i].nf,
                                            .seq = 0x1234,
                                            .msg_id = 0x51000012 },
                               out);
                const uint8_t want[] = { 0x21, cases[i].byte1, 0x34, 0x12, 0x12, 0x00, 0x00, 0x51 };
                ASSERT_MEMEQ(out, want, 8);
        }
}

TEST(header_parse_hand_bytes)
{
        const uint8_t first[] = { 0x21, 0x09, 0xff, 0xff, 0x01, 0x00, 0x10, 0x56 };
        const uint8_t cont[] = { 0x21, 0x08, 0x00, 0x00, 0x01, 0x00, 0x10, 0x56 };
        RmHeader h;
        ASSERT_EQ(rm_header_unpack(first, 8, &h), 0);
        ASSERT_EQ(h.type, RM_MSG_REQUEST);
        ASSERT_EQ(h.num_fragments, 2);
        ASSERT_EQ(h.seq, 0xffff);
        ASSERT_EQ(h.msg_id, 0x56100001u);
        ASSERT_EQ(rm_header_unpack(cont, 8, &h), 0);
        ASSERT_EQ(h.type, RM_MSG_CONTINUATION);
        ASSERT_EQ(h.num_fragments, 2);
        ASSERT_EQ(h.seq, 0);
}

TEST(header_three_packet_request_build)
{
        uint8_t payload[600], pkt[RM_PACKET_MAX];
        for (size_t i = 0; i < sizeof(payload); i++)
                payload[i] = (uint8_t)(i * 7);
        for (size_t i = 0; i < 3; i++) {
                ssize_t n = rm_packet_build(RM_MSG_REQUEST, 0x0102, 0x51000013, payload,
                                            sizeof(payload), RM_SEND_MAX_PAYLOAD, i, pkt);
                const uint8_t want[] = { 0x21, i == 0 ? 0x09 : 0x08, 0x02, 0x01,
                                         0x13, 0x00, 0x00, 0x51 };
                ASSERT_EQ(n, i < 2 ? 240 : 8 + 600 - 464);
                ASSERT_MEMEQ(pkt, want, 8);
                ASSERT_MEMEQ(pkt + 8, payload + 232 * i, (size_t)n - 8);
        }
        ASSERT_EQ(rm_packet_build(RM_MSG_REQUEST, 0, 0, payload, sizeof(payload),
                                  RM_SEND_MAX_PAYLOAD, 3, pkt),
                  -EINVAL);
}

TEST(header_rejects)
{
        uint8_t p[8] = { 0x21, 0x01, 0, 0, 0, 0, 0, 0 };
        RmHeader h;
        for (size_t len = 0; len < 8; len++)
                ASSERT_EQ(rm_header_unpack(p, len, &h), -EBADMSG);
        p[0] = 0x11; /* header_words 1 */
        ASSERT_EQ(rm_header_unpack(p, 8, &h), -EPROTONOSUPPORT);
        p[0] = 0x22; /* api_version 2 */
        ASSERT_EQ(rm_header_unpack(p, 8, &h), -EPROTONOSUPPORT);
        p[0] = 0x12;
        ASSERT_EQ(rm_header_unpack(p, 8, &h), -EPROTONOSUPPORT);
        p[0] = 0x21;
        p[1] = 0xf9; /* num_fragments 62 */
        ASSERT_EQ(rm_header_unpack(p, 8, &h), 0);
        ASSERT_EQ(h.num_fragments, 62);
        p[1] = 0xfd; /* num_fragments 63 */
        ASSERT_EQ(rm_header_unpack(p, 8, &h), -E2BIG);
}

TEST(fragment_counts)
{
        ASSERT_EQ(rm_fragments_for(0, RM_SEND_MAX_PAYLOAD), 0);
        ASSERT_EQ(rm_fragments_for(1, RM_SEND_MAX_PAYLOAD), 0);
        ASSERT_EQ(rm_fragments_for(232, RM_SEND_MAX_PAYLOAD), 0);
        ASSERT_EQ(rm_fragments_for(233, RM_SEND_MAX_PAYLOAD), 1);
        ASSERT_EQ(rm_fragments_for(464, RM_SEND_MAX_PAYLOAD), 1);
        ASSERT_EQ(rm_fragments_for(465, RM_SEND_MAX_PAYLOAD), 2);
        ASSERT_EQ(rm_fragments_for(14384, RM_SEND_MAX_PAYLOAD), 61);
        ASSERT_EQ(rm_fragments_for(14385, RM_SEND_MAX_PAYLOAD), -E2BIG);
        ASSERT_EQ(rm_fragments_for(14385, RM_RECV_MAX_PAYLOAD), 62);
        ASSERT_EQ(rm_fragments_for(14616, RM_RECV_MAX_PAYLOAD), 62);
        ASSERT_EQ(rm_fragments_for(14617, RM_RECV_MAX_PAYLOAD), -E2BIG);
        ASSERT_EQ(RM_SEND_MAX_PAYLOAD, 232 * 62);
        ASSERT_EQ(RM_RECV_MAX_PAYLOAD, 232 * 63);
}

TEST(packet_build_sizes)
{
        static uint8_t big[RM_RECV_MAX_PAYLOAD + 1];
        uint8_t pkt[RM_PACKET_MAX];

        /* An empty payload is one 8-byte packet. */
        ASSERT_EQ(rm_packet_build(RM_MSG_REQUEST, 1, RM_VM_GET_VMID, NULL, 0,
                                  RM_SEND_MAX_PAYLOAD, 0, pkt),
                  8);
        const uint8_t get_vmid[] = { 0x21, 0x01, 0x01, 0x00, 0x24, 0x00, 0x00, 0x56 };
        ASSERT_MEMEQ(pkt, get_vmid, 8);
        ASSERT_EQ(rm_packet_build(RM_MSG_REQUEST, 1, 1, big, 232, RM_SEND_MAX_PAYLOAD, 0, pkt),
                  240);
        ASSERT_EQ(rm_packet_build(RM_MSG_REQUEST, 1, 1, big, 233, RM_SEND_MAX_PAYLOAD, 1, pkt),
                  9);
        ASSERT_EQ(rm_packet_build(RM_MSG_REQUEST, 1, 1, big, 14385, RM_SEND_MAX_PAYLOAD, 0, pkt),
                  -E2BIG);
        ASSERT_EQ(rm_packet_build(RM_MSG_REPLY, 1, 1, big, 14616, RM_RECV_MAX_PAYLOAD, 62, pkt),
                  240);
        ASSERT_EQ(pkt[1], 0xf8);
        ASSERT_EQ(rm_packet_build(RM_MSG_REPLY, 1, 1, big, 14617, RM_RECV_MAX_PAYLOAD, 0, pkt),
                  -E2BIG);
        /* A cap above what the 6-bit field and receivers allow is still refused. */
        ASSERT_EQ(rm_packet_build(RM_MSG_REPLY, 1, 1, big, 14617, sizeof(big), 0, pkt), -E2BIG);
}

/* ---- reassembly (section 4.2) ---- */

static size_t mkpkt(uint8_t *out, uint8_t type, uint8_t nf, uint16_t seq, uint32_t id,
                    uint8_t fill, size_t plen)
{
        out[0] = 0x21;
        out[1] = (uint8_t)((nf << 2) | type);
        out[2] = (uint8_t)seq;
        out[3] = (uint8_t)(seq >> 8);
        out[4] = (uint8_t)id;
        out[5] = (uint8_t)(id >> 8);
        out[6] = (uint8_t)(id >> 16);
        out[7] = (uint8_t)(id >> 24);
        memset(out + 8, fill, plen);
        return 8 + plen;
}

static const RmReasmPolicy policies[] = { RM_REASM_POLICY_RM, RM_REASM_POLICY_CLIENT };

TEST(reasm_single_packet)
{
        uint8_t p[RM_PACKET_MAX];
        RmReassembler r;
        for (size_t i = 0; i < 2; i++) {
                rm_reassembler_init(&r, policies[i]);
                size_t n = mkpkt(p, 3, 0, 9, RM_NOTIFY_VM_STATUS, 0xab, 8);
                ASSERT_EQ(rm_reassembler_feed(&r, p, n), RM_REASM_COMPLETE);
                ASSERT_EQ(r.len, 8);
                ASSERT_EQ(r.hdr.type, 3);
                ASSERT_EQ(r.payload[7], 0xab);
                ASSERT_TRUE(!r.active);
                ASSERT_TRUE(!r.aborted);
                /* After completion a continuation is stray. */
                n = mkpkt(p, 0, 0, 9, RM_NOTIFY_VM_STATUS, 0, 4);
                ASSERT_EQ(rm_reassembler_feed(&r, p, n), RM_REASM_DROPPED);
                ASSERT_EQ(r.drop_reason, RM_DROP_STRAY_CONTINUATION);
        }
}

TEST(reasm_completes_at_num_fragments)
{
        uint8_t p[RM_PACKET_MAX];
        RmReassembler r;
        for (size_t i = 0; i < 2; i++) {
                rm_reassembler_init(&r, policies[i]);
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 1, 3, 7, 0x51000012, 1, 232)),
                          RM_REASM_PARTIAL);
                ASSERT_TRUE(r.active);
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 0, 3, 7, 0x51000012, 2, 232)),
                          RM_REASM_PARTIAL);
                /* A short middle packet is taken as is (the RM appends what arrives). */
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 0, 3, 7, 0x51000012, 3, 100)),
                          RM_REASM_PARTIAL);
                ASSERT_EQ(r.frags_seen, 2);
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 0, 3, 7, 0x51000012, 4, 10)),
                          RM_REASM_COMPLETE);
                ASSERT_EQ(r.len, 232 + 232 + 100 + 10);
                ASSERT_EQ(r.payload[0], 1);
                ASSERT_EQ(r.payload[232], 2);
                ASSERT_EQ(r.payload[464], 3);
                ASSERT_EQ(r.payload[564], 4);
                ASSERT_EQ(r.payload[573], 4);
                ASSERT_EQ(r.hdr.type, 1);
                ASSERT_EQ(r.hdr.num_fragments, 3);
                ASSERT_TRUE(!r.active);
                /* One more continuation: nothing in progress. */
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 0, 3, 7, 0x51000012, 5, 10)),
                          RM_REASM_DROPPED);
                ASSERT_EQ(r.drop_reason, RM_DROP_STRAY_CONTINUATION);
        }
}

TEST(reasm_new_message_aborts_partial)
{
        uint8_t p[RM_PACKET_MAX];
        RmReassembler r;
        for (size_t i = 0; i < 2; i++) {
                rm_reassembler_init(&r, policies[i]);
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 1, 2, 1, 0x51000012, 1, 232)),
                          RM_REASM_PARTIAL);
                ASSERT_TRUE(!r.aborted);
                /* A new first packet (any non-continuation type) restarts. */
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 2, 1, 2, 0x56000004, 9, 232)),
                          RM_REASM_PARTIAL);
                ASSERT_TRUE(r.aborted);
                ASSERT_EQ(r.aborted_hdr.msg_id, 0x51000012u);
                ASSERT_EQ(r.aborted_hdr.seq, 1);
                ASSERT_EQ(r.aborted_hdr.num_fragments, 2);
                ASSERT_EQ(r.hdr.msg_id, 0x56000004u);
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 0, 1, 2, 0x56000004, 8, 4)),
                          RM_REASM_COMPLETE);
                ASSERT_TRUE(!r.aborted); /* reset at each feed */
                ASSERT_EQ(r.len, 236);
                ASSERT_EQ(r.payload[0], 9);
                ASSERT_EQ(r.payload[235], 8);
                /* A single-packet message also aborts a partial one and completes at once. */
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 1, 2, 3, 0x51000012, 1, 232)),
                          RM_REASM_PARTIAL);
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 3, 0, 4, 0x56100008, 6, 8)),
                          RM_REASM_COMPLETE);
                ASSERT_TRUE(r.aborted);
                ASSERT_EQ(r.aborted_hdr.seq, 3);
                ASSERT_EQ(r.len, 8);
        }
}

TEST(reasm_stray_continuation)
{
        uint8_t p[RM_PACKET_MAX];
        RmReassembler r;
        for (size_t i = 0; i < 2; i++) {
                rm_reassembler_init(&r, policies[i]);
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 0, 1, 1, 0x51000012, 1, 232)),
                          RM_REASM_DROPPED);
                ASSERT_EQ(r.drop_reason, RM_DROP_STRAY_CONTINUATION);
                ASSERT_TRUE(!r.active);
                ASSERT_TRUE(!r.aborted);
        }
}

/* Feed a 2-continuation message's first packet, then a continuation differing as given. */
static RmReasmResult mismatch_case(RmReassembler *r, RmReasmPolicy pol, uint32_t id, uint8_t nf,
                                   uint16_t seq)
{
        uint8_t p[RM_PACKET_MAX];
        rm_reassembler_init(r, pol);
        ASSERT_EQ(rm_reassembler_feed(r, p, mkpkt(p, 1, 2, 10, 0x51000013, 1, 232)),
                  RM_REASM_PARTIAL);
        ASSERT_EQ(rm_reassembler_feed(r, p, mkpkt(p, 0, 2, 10, 0x51000013, 2, 232)),
                  RM_REASM_PARTIAL);
        return rm_reassembler_feed(r, p, mkpkt(p, 0, nf, seq, id, 3, 50));
}

/* Finish the message of mismatch_case() with a correct last continuation. */
static RmReasmResult mismatch_finish(RmReassembler *r)
{
        uint8_t p[RM_PACKET_MAX];
        return rm_reassembler_feed(r, p, mkpkt(p, 0, 2, 10, 0x51000013, 4, 20));
}

TEST(reasm_mismatch_policy_rm)
{
        RmReassembler r;
        /* msg_id, num_fragments, seq: each makes the RM drop the packet and keep the rest. */
        const struct {
                uint32_t id;
                uint8_t nf;
                uint16_t seq;
        } cases[] = { { 0x51000012, 2, 10 }, { 0x51000013, 3, 10 }, { 0x51000013, 2, 11 } };
        for (size_t i = 0; i < 3; i++) {
                ASSERT_EQ(mismatch_case(&r, RM_REASM_POLICY_RM, cases[i].id, cases[i].nf,
                                        cases[i].seq),
                          RM_REASM_DROPPED);
                ASSERT_EQ(r.drop_reason, RM_DROP_MISMATCH);
                ASSERT_TRUE(!r.aborted);
                ASSERT_TRUE(r.active);
                ASSERT_EQ(r.len, 464);
                ASSERT_EQ(mismatch_finish(&r), RM_REASM_COMPLETE);
                ASSERT_EQ(r.len, 484);
                ASSERT_EQ(r.payload[464], 4);
        }
}

TEST(reasm_mismatch_policy_client)
{
        RmReassembler r;
        /* msg_id or num_fragments: Linux aborts the whole message. */
        ASSERT_EQ(mismatch_case(&r, RM_REASM_POLICY_CLIENT, 0x51000012, 2, 10), RM_REASM_DROPPED);
        ASSERT_EQ(r.drop_reason, RM_DROP_MISMATCH_ABORTED);
        ASSERT_TRUE(r.aborted);
        ASSERT_EQ(r.aborted_hdr.msg_id, 0x51000013u);
        ASSERT_TRUE(!r.active);
        ASSERT_EQ(mismatch_finish(&r), RM_REASM_DROPPED);
        ASSERT_EQ(r.drop_reason, RM_DROP_STRAY_CONTINUATION);

        ASSERT_EQ(mismatch_case(&r, RM_REASM_POLICY_CLIENT, 0x51000013, 1, 10), RM_REASM_DROPPED);
        ASSERT_EQ(r.drop_reason, RM_DROP_MISMATCH_ABORTED);
        ASSERT_TRUE(r.aborted);
        ASSERT_EQ(mismatch_finish(&r), RM_REASM_DROPPED);

        /* seq is not part of Linux's identity: the continuation is taken. */
        ASSERT_EQ(mismatch_case(&r, RM_REASM_POLICY_CLIENT, 0x51000013, 2, 11), RM_REASM_COMPLETE);
        ASSERT_TRUE(!r.aborted);
        ASSERT_EQ(r.len, 514);
        ASSERT_EQ(r.hdr.seq, 10);
}

TEST(reasm_num_fragments_limit)
{
        uint8_t p[RM_PACKET_MAX];
        RmReassembler r;
        for (size_t i = 0; i < 2; i++) {
                rm_reassembler_init(&r, policies[i]);
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 1, 62, 1, 1, 0, 232)),
                          RM_REASM_PARTIAL);
                /* 63 fails header validation: dropped, the partial message is untouched. */
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 1, 63, 2, 2, 0, 232)),
                          RM_REASM_DROPPED);
                ASSERT_EQ(r.drop_reason, RM_DROP_BAD_HEADER);
                ASSERT_TRUE(r.active);
                ASSERT_TRUE(!r.aborted);
                ASSERT_EQ(r.hdr.num_fragments, 62);
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 0, 63, 1, 1, 0, 232)),
                          RM_REASM_DROPPED);
                ASSERT_EQ(r.drop_reason, RM_DROP_BAD_HEADER);
        }
}

TEST(reasm_63_packet_message)
{
        static uint8_t msg[RM_RECV_MAX_PAYLOAD];
        uint8_t p[RM_PACKET_MAX];
        RmReassembler *r = malloc(sizeof(*r));
        ASSERT_TRUE(r);
        for (size_t i = 0; i < sizeof(msg); i++)
                msg[i] = (uint8_t)(i ^ (i >> 8));
        for (size_t k = 0; k < 2; k++) {
                rm_reassembler_init(r, policies[k]);
                for (size_t i = 0; i < 63; i++) {
                        ssize_t n = rm_packet_build(RM_MSG_REPLY, 77, RM_VM_GET_HYP_RESOURCES, msg,
                                                    sizeof(msg), RM_RECV_MAX_PAYLOAD, i, p);
                        ASSERT_EQ(n, 240);
                        ASSERT_EQ(rm_reassembler_feed(r, p, (size_t)n),
                                  i == 62 ? RM_REASM_COMPLETE : RM_REASM_PARTIAL);
                }
                ASSERT_EQ(r->len, 14616);
                ASSERT_EQ(r->hdr.num_fragments, 62);
                ASSERT_MEMEQ(r->payload, msg, sizeof(msg));
        }
        free(r);
}

TEST(reasm_oversize_never_past_buffer)
{
        /* The reassembler is followed by a guard; oversize packets must not touch it. */
        struct {
                RmReassembler r;
                uint8_t guard[512];
        } *s = malloc(sizeof(*s));
        static uint8_t p[1024];
        ASSERT_TRUE(s);
        for (size_t k = 0; k < 2; k++) {
                rm_reassembler_init(&s->r, policies[k]);
                memset(s->guard, 0x5a, sizeof(s->guard));
                ASSERT_EQ(rm_reassembler_feed(&s->r, p, mkpkt(p, 1, 62, 1, 1, 0x11, 232)),
                          RM_REASM_PARTIAL);
                for (size_t i = 0; i < 61; i++)
                        ASSERT_EQ(rm_reassembler_feed(&s->r, p, mkpkt(p, 0, 62, 1, 1, 0x22, 232)),
                                  RM_REASM_PARTIAL);
                /* A last continuation far longer than a packet: refused whole. */
                ASSERT_EQ(rm_reassembler_feed(&s->r, p, mkpkt(p, 0, 62, 1, 1, 0x33, 1000)),
                          RM_REASM_DROPPED);
                ASSERT_EQ(s->r.drop_reason, RM_DROP_TOO_LONG);
                ASSERT_EQ(s->r.len, 62 * 232);
                ASSERT_TRUE(s->r.active);
                /* 241 bytes: one too many. */
                ASSERT_EQ(rm_reassembler_feed(&s->r, p, mkpkt(p, 0, 62, 1, 1, 0x33, 233)),
                          RM_REASM_DROPPED);
                ASSERT_EQ(s->r.drop_reason, RM_DROP_TOO_LONG);
                /* Same for a first packet. */
                ASSERT_EQ(rm_reassembler_feed(&s->r, p, mkpkt(p, 1, 0, 2, 2, 0x44, 233)),
                          RM_REASM_DROPPED);
                ASSERT_EQ(s->r.drop_reason, RM_DROP_TOO_LONG);
                ASSERT_TRUE(s->r.active);
                ASSERT_EQ(rm_reassembler_feed(&s->r, p, mkpkt(p, 0, 62, 1, 1, 0x33, 232)),
                          RM_REASM_COMPLETE);
                ASSERT_EQ(s->r.len, 14616);
                ASSERT_EQ(s->r.payload[14615], 0x33);
                for (size_t i = 0; i < sizeof(s->guard); i++)
                        ASSERT_EQ(s->guard[i], 0x5a);
        }
        free(s);
}

TEST(reasm_short_and_bad_packets)
{
        uint8_t p[RM_PACKET_MAX];
        RmReassembler r;
        for (size_t k = 0; k < 2; k++) {
                rm_reassembler_init(&r, policies[k]);
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 1, 1, 1, 1, 0x11, 232)),
                          RM_REASM_PARTIAL);
                for (size_t len = 0; len < 8; len++) {
                        ASSERT_EQ(rm_reassembler_feed(&r, p, len), RM_REASM_DROPPED);
                        ASSERT_EQ(r.drop_reason, RM_DROP_BAD_HEADER);
                }
                ASSERT_EQ(rm_reassembler_feed(&r, NULL, 0), RM_REASM_DROPPED);
                mkpkt(p, 0, 1, 1, 1, 0x22, 4);
                p[0] = 0x31;
                ASSERT_EQ(rm_reassembler_feed(&r, p, 12), RM_REASM_DROPPED);
                ASSERT_EQ(r.drop_reason, RM_DROP_BAD_HEADER);
                ASSERT_TRUE(r.active);
                /* A header-only continuation is a valid (empty) fragment. */
                ASSERT_EQ(rm_reassembler_feed(&r, p, mkpkt(p, 0, 1, 1, 1, 0, 0)),
                          RM_REASM_COMPLETE);
                ASSERT_EQ(r.len, 232);
        }
}

TEST(reply_split)
{
        const uint8_t reply[] = { 0x14, 0x00, 0x00, 0x00, 0xaa };
        uint32_t e;
        const uint8_t *d;
        size_t n;
        ASSERT_EQ(rm_reply_split(reply, 3, &e, &d, &n), -EBADMSG);
        ASSERT_EQ(rm_reply_split(reply, 5, &e, &d, &n), 0);
        ASSERT_EQ(e, RM_ERROR_VM_STATE);
        ASSERT_EQ(n, 1);
        ASSERT_EQ(d[0], 0xaa);
}

TEST(names_and_errno)
{
        ASSERT_STREQ(rm_msg_type_to_string(0), "CONTINUATION");
        ASSERT_STREQ(rm_msg_type_to_string(3), "NOTIFICATION");
        ASSERT_TRUE(rm_msg_type_to_string(4) == NULL);
        ASSERT_STREQ(rm_drop_reason_to_string(RM_DROP_TOO_LONG), "too-long");
        ASSERT_STREQ(rm_error_to_string(0), "OK");
        ASSERT_STREQ(rm_error_to_string(0x4), "MSG_INVALID");
        ASSERT_STREQ(rm_error_to_string(0x12), "IN_USE");
        ASSERT_STREQ(rm_error_to_string(0x13), "IRQ_NOT_MAPPED");
        ASSERT_STREQ(rm_error_to_string(0x14), "VM_STATE");
        ASSERT_STREQ(rm_error_to_string(0xFFFFFFFFu), "UNIMPLEMENTED");
        ASSERT_TRUE(rm_error_to_string(0x15) == NULL);
        /* Linux's table (section 5.2). */
        ASSERT_EQ(rm_error_to_errno(0x0), 0);
        ASSERT_EQ(rm_error_to_errno(0xFFFFFFFFu), -EOPNOTSUPP);
        ASSERT_EQ(rm_error_to_errno(0x1), -ENOMEM);
        ASSERT_EQ(rm_error_to_errno(0x2), -ENODEV);
        ASSERT_EQ(rm_error_to_errno(0x3), -EPERM);
        ASSERT_EQ(rm_error_to_errno(0x4), -EINVAL);
        ASSERT_EQ(rm_error_to_errno(0x5), -EBUSY);
        for (uint32_t c = 0x6; c <= 0x11; c++)
                ASSERT_EQ(rm_error_to_errno(c), -EINVAL);
        for (uint32_t c = 0x12; c <= 0x14; c++)
                ASSERT_EQ(rm_error_to_errno(c), -EBADMSG);
        ASSERT_EQ(rm_error_to_errno(0x15), -EBADMSG);
        /* The codes themselves stay distinct. */
        ASSERT_EQ(RM_ERROR_IN_USE, 0x12);
        ASSERT_EQ(RM_ERROR_IRQ_NOT_MAPPED, 0x13);
        ASSERT_EQ(RM_ERROR_VM_STATE, 0x14);

        ASSERT_STREQ(rm_msg_id_to_string(0x56000004), "VM_START");
        ASSERT_STREQ(rm_msg_id_to_string(0x51000018), "MEM_APPEND");
        ASSERT_STREQ(rm_msg_id_to_string(0x56100001), "NOTIFY_VM_EXITED");
        ASSERT_STREQ(rm_msg_id_to_string(0x51100011), "NOTIFY_MEM_SHARED");
        ASSERT_STREQ(rm_msg_id_to_string(0x56000034), "VM_SET_ADDRESS_LAYOUT");
        ASSERT_TRUE(rm_msg_id_to_string(0x56000003) == NULL);

        ASSERT_STREQ(rm_vm_status_to_string(5), "LOAD");
        ASSERT_STREQ(rm_vm_status_to_string(8), "INIT_FAILED");
        ASSERT_STREQ(rm_vm_status_to_string(11), "RESET");
        ASSERT_TRUE(rm_vm_status_to_string(7) == NULL);
        ASSERT_TRUE(rm_vm_status_to_string(12) == NULL);
        ASSERT_STREQ(rm_os_status_to_string(7), "CRASHED");
        ASSERT_TRUE(rm_os_status_to_string(8) == NULL);
        ASSERT_STREQ(rm_exit_type_to_string(7), "VM_STOP_FORCED");
        ASSERT_STREQ(rm_exit_type_to_string(3), "PSCI_SYSTEM_RESET2");
        ASSERT_STREQ(rm_exit_code_to_string(2), "UNKNOWN_ERROR");
        ASSERT_STREQ(rm_resource_type_to_string(4), "VIRTUAL_CPU");
        ASSERT_STREQ(rm_resource_type_to_string(10), "ADDR_SPACE");
        ASSERT_TRUE(rm_resource_type_to_string(11) == NULL);
}

TEST_MAIN()
