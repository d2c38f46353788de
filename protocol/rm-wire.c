/* SPDX-License-Identifier: MIT */
/*
 * RM message-queue wire: header, fragmentation and reassembly (rm-protocol.md sections 2-4).
 * Every header field is written and read byte by byte; no packed structs.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "macro.h"
#include "rm-wire.h"

/* Byte 0: api_version in bits 3:0, header_words in bits 7:4 (section 2): always 0x21. */
#define RM_HEADER_BYTE0 ((uint8_t)((RM_HEADER_WORDS << 4) | RM_API_VERSION))

void rm_header_pack(const RmHeader *h, uint8_t out[RM_HEADER_SIZE])
{
        assert(h);
        assert(h->type <= RM_MSG_NOTIFICATION);
        assert(h->num_fragments <= 63);

        out[0] = RM_HEADER_BYTE0;
        out[1] = (uint8_t)((h->num_fragments << 2) | h->type);
        le16_put(out + 2, h->seq);
        le32_put(out + 4, h->msg_id);
}

int rm_header_unpack(const uint8_t *pkt, size_t len, RmHeader *ret)
{
        uint8_t nf;

        if (!pkt || len < RM_HEADER_SIZE)
                return -EBADMSG;
        if ((pkt[0] & 0x0f) != RM_API_VERSION || (pkt[0] >> 4) != RM_HEADER_WORDS)
                return -EPROTONOSUPPORT;
        nf = pkt[1] >> 2;
        if (nf > RM_MAX_NUM_FRAGMENTS)
                return -E2BIG;
        if (ret)
                *ret = (RmHeader){
                        .type = pkt[1] & 0x03,
                        .num_fragments = nf,
                        .seq = le16_get(pkt + 2),
                        .msg_id = le32_get(pkt + 4),
                };
        return 0;
}

int rm_fragments_for(size_t len, size_t max_payload)
{
        if (len > max_payload)
                return -E2BIG;
        /* ceil(len / 232) - 1 packets beyond the first; 0 for an empty payload. */
        if (len <= RM_PAYLOAD_PER_PACKET)
                return 0;
        return (int)((len + RM_PAYLOAD_PER_PACKET - 1) / RM_PAYLOAD_PER_PACKET - 1);
}

ssize_t rm_packet_build(uint8_t type, uint16_t seq, uint32_t msg_id, const uint8_t *payload,
                        size_t len, size_t max_payload, size_t index, uint8_t out[RM_PACKET_MAX])
{
        size_t off, n;
        int nf;

        assert(type <= RM_MSG_NOTIFICATION);
        assert(payload || len == 0);

        nf = rm_fragments_for(len, max_payload);
        if (nf < 0)
                return nf;
        /* 63 packets is the most the 6-bit field and a receiver allow. */
        if (nf > (int)RM_MAX_NUM_FRAGMENTS)
                return -E2BIG;
        if (index > (size_t)nf)
                return -EINVAL;

        rm_header_pack(
                &(RmHeader){
                        .type = index == 0 ? type : RM_MSG_CONTINUATION,
                        .num_fragments = (uint8_t)nf,
                        .seq = seq,
                        .msg_id = msg_id,
                },
                out);

        off = index * RM_PAYLOAD_PER_PACKET;
        n = MIN(len - off, (size_t)RM_PAYLOAD_PER_PACKET);
        if (n)
                memcpy(out + RM_HEADER_SIZE, payload + off, n);
        return (ssize_t)(RM_HEADER_SIZE + n);
}

void rm_reassembler_init(RmReassembler *r, RmReasmPolicy policy)
{
        assert(r);
        assert(policy == RM_REASM_POLICY_RM || policy == RM_REASM_POLICY_CLIENT);

        r->policy = policy;
        r->active = false;
        r->hdr = (RmHeader){ 0 };
        r->len = 0;
        r->frags_seen = 0;
        r->drop_reason = RM_DROP_NONE;
        r->aborted = false;
        r->aborted_hdr = (RmHeader){ 0 };
}

static RmReasmResult reasm_drop(RmReassembler *r, RmDropReason why)
{
        r->drop_reason = why;
        return RM_REASM_DROPPED;
}

/* Discard the message in progress, remembering its header for the caller. */
static void reasm_abort(RmReassembler *r)
{
        r->aborted = true;
        r->aborted_hdr = r->hdr;
        r->active = false;
        r->len = 0;
        r->frags_seen = 0;
}

/* Does a continuation's header belong to the message in progress? Section 4.2: the RM
 * compares msg_id, num_fragments and seq; Linux compares msg_id and num_fragments only. */
static bool reasm_same_message(const RmReassembler *r, const RmHeader *h)
{
        if (h->msg_id != r->hdr.msg_id || h->num_fragments != r->hdr.num_fragments)
                return false;
        if (r->policy == RM_REASM_POLICY_RM && h->seq != r->hdr.seq)
                return false;
        return true;
}

static RmReasmResult reasm_first(RmReassembler *r, const RmHeader *h, const uint8_t *data,
                                 size_t n)
{
        /* A new message while another is partial: the old one is discarded (both sides). */
        if (r->active)
                reasm_abort(r);

        r->hdr = *h;
        r->len = n;
        r->frags_seen = 0;
        if (n)
                memcpy(r->payload, data, n);
        if (h->num_fragments == 0) {
                r->active = false;
                return RM_REASM_COMPLETE;
        }
        r->active = true;
        return RM_REASM_PARTIAL;
}

static RmReasmResult reasm_continuation(RmReassembler *r, const RmHeader *h, const uint8_t *data,
                                        size_t n)
{
        if (!r->active)
                return reasm_drop(r, RM_DROP_STRAY_CONTINUATION);

        if (!reasm_same_message(r, h)) {
                if (r->policy == RM_REASM_POLICY_RM)
                        return reasm_drop(r, RM_DROP_MISMATCH);
                reasm_abort(r);
                return reasm_drop(r, RM_DROP_MISMATCH_ABORTED);
        }

        /* Packets are at most 240 bytes and num_fragments at most 62, so at most 63 x 232
         * bytes arrive; the check keeps the buffer safe even if those limits change. */
        if (n > sizeof(r->payload) - r->len)
                return reasm_drop(r, RM_DROP_TOO_LONG);

        if (n)
                memcpy(r->payload + r->len, data, n);
        r->len += n;
        r->frags_seen++;
        if (r->frags_seen < r->hdr.num_fragments)
                return RM_REASM_PARTIAL;
        r->active = false;
        return RM_REASM_COMPLETE;
}

RmReasmResult rm_reassembler_feed(RmReassembler *r, const uint8_t *pkt, size_t len)
{
        RmHeader h;

        assert(r);

        r->aborted = false;
        r->drop_reason = RM_DROP_NONE;

        if (rm_header_unpack(pkt, len, &h) < 0)
                return reasm_drop(r, RM_DROP_BAD_HEADER);
        /* A message queue never delivers more than 240 bytes; a longer packet would carry more
         * than its 232-byte share of the message. */
        if (len > RM_PACKET_MAX)
                return reasm_drop(r, RM_DROP_TOO_LONG);

        if (h.type == RM_MSG_CONTINUATION)
                return reasm_continuation(r, &h, pkt + RM_HEADER_SIZE, len - RM_HEADER_SIZE);
        return reasm_first(r, &h, pkt + RM_HEADER_SIZE, len - RM_HEADER_SIZE);
}

int rm_reply_split(const uint8_t *payload, size_t len, uint32_t *ret_err, const uint8_t **ret_data,
                   size_t *ret_data_len)
{
        if (!payload || len < RM_REPLY_ERR_SIZE)
                return -EBADMSG;
        if (ret_err)
                *ret_err = le32_get(payload);
        if (ret_data)
                *ret_data = payload + RM_REPLY_ERR_SIZE;
        if (ret_data_len)
                *ret_data_len = len - RM_REPLY_ERR_SIZE;
        return 0;
}

static const char *const msg_type_table[] = {
        [RM_MSG_CONTINUATION] = "CONTINUATION",
        [RM_MSG_REQUEST] = "REQUEST",
        [RM_MSG_REPLY] = "REPLY",
        [RM_MSG_NOTIFICATION] = "NOTIFICATION",
};

const char *rm_msg_type_to_string(uint8_t type)
{
        if (type >= ELEMENTSOF(msg_type_table))
                return NULL;
        return msg_type_table[type];
}

static const char *const drop_reason_table[] = {
        [RM_DROP_NONE] = "none",
        [RM_DROP_BAD_HEADER] = "bad-header",
        [RM_DROP_STRAY_CONTINUATION] = "stray-continuation",
        [RM_DROP_MISMATCH] = "mismatch",
        [RM_DROP_MISMATCH_ABORTED] = "mismatch-aborted",
        [RM_DROP_TOO_LONG] = "too-long",
};

const char *rm_drop_reason_to_string(RmDropReason r)
{
        if ((unsigned)r >= ELEMENTSOF(drop_reason_table))
                return NULL;
        return drop_reason_table[r];
}
