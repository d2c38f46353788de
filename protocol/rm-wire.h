#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * The RM message-queue wire (rm-protocol.md sections 2-4): the 8-byte header, splitting a
 * logical message into 240-byte packets, and reassembling packets into messages.
 *
 * Invariants: a packet is never longer than RM_PACKET_MAX; every header field is encoded
 * byte by byte (byte 0 is always 0x21); nothing here allocates, blocks or logs.
 * Errors are negative errno values, each listed at its function.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RM_PACKET_MAX 240u
#define RM_HEADER_SIZE 8u
#define RM_PAYLOAD_PER_PACKET 232u     /* RM_PACKET_MAX - RM_HEADER_SIZE */
#define RM_API_VERSION 1u
#define RM_HEADER_WORDS 2u
#define RM_MAX_NUM_FRAGMENTS 62u       /* largest num_fragments a receiver accepts */
#define RM_SEND_MAX_PAYLOAD 14384u     /* our sender's cap: 62 packets (Linux's) */
#define RM_RECV_MAX_PAYLOAD 14616u     /* 63 packets x 232: the most a receiver may get */
#define RM_REPLY_ERR_SIZE 4u           /* every reply payload starts with a LE u32 RmError */

typedef enum RmMsgType {
        RM_MSG_CONTINUATION = 0,
        RM_MSG_REQUEST = 1,
        RM_MSG_REPLY = 2,
        RM_MSG_NOTIFICATION = 3,
} RmMsgType;

typedef struct RmHeader {
        uint8_t type;          /* RmMsgType */
        uint8_t num_fragments; /* additional packets after the first, 0..62 */
        uint16_t seq;
        uint32_t msg_id;
} RmHeader;

/* Write the 8 header bytes. type must be 0..3 and num_fragments 0..63 (asserted). */
void rm_header_pack(const RmHeader *h, uint8_t out[RM_HEADER_SIZE]);

/*
 * Parse and validate the header of one packet of len bytes.
 * Returns 0, or: -EBADMSG packet shorter than 8 bytes; -EPROTONOSUPPORT api_version != 1 or
 * header_words != 2; -E2BIG num_fragments > 62. (An RM drops all three silently.)
 */
int rm_header_unpack(const uint8_t *pkt, size_t len, RmHeader *ret);

/*
 * Number of continuation packets (the header's num_fragments) a payload of len bytes needs:
 * 0 for len <= 232, else ceil(len/232) - 1. Returns -E2BIG when len > max_payload
 * (callers pass RM_SEND_MAX_PAYLOAD for requests, RM_RECV_MAX_PAYLOAD for an RM's replies).
 */
int rm_fragments_for(size_t len, size_t max_payload);

/*
 * Build packet number index (0 = first) of a message. The first packet carries type, the
 * others RM_MSG_CONTINUATION; all carry the same seq, msg_id and num_fragments; packet i
 * carries payload bytes [232*i, min(len, 232*(i+1))). Returns the packet length (8..240),
 * -E2BIG if len exceeds max_payload, -EINVAL if index is past the last packet.
 */
ssize_t rm_packet_build(uint8_t type, uint16_t seq, uint32_t msg_id, const uint8_t *payload,
                        size_t len, size_t max_payload, size_t index, uint8_t out[RM_PACKET_MAX]);

/*
 * Receiver state machine (section 4.2). Two policies differ only on a continuation whose
 * identity does not match the message in progress:
 *   RM_REASM_POLICY_RM:     the RM receiving requests: drop that packet, keep the partial
 *                           message (identity = msg_id, seq and num_fragments).
 *   RM_REASM_POLICY_CLIENT: a client receiving replies/notifications (Linux): abort the
 *                           whole partial message (identity = msg_id and num_fragments).
 * Common rules: a packet with a bad header is dropped; a non-continuation packet while a
 * message is partial aborts the partial one and starts anew; a continuation with nothing
 * in progress is dropped; the message completes after num_fragments continuations.
 * Payloads never exceed RM_RECV_MAX_PAYLOAD, so the buffer is embedded (no allocation).
 */
typedef enum RmReasmPolicy {
        RM_REASM_POLICY_RM,
        RM_REASM_POLICY_CLIENT,
} RmReasmPolicy;

typedef enum RmReasmResult {
        RM_REASM_PARTIAL = 0,      /* packet taken, message not complete yet */
        RM_REASM_COMPLETE = 1,     /* r->hdr, r->payload, r->len hold a whole message */
        RM_REASM_DROPPED = 2,      /* packet ignored; r->drop_reason says why */
} RmReasmResult;

typedef enum RmDropReason {
        RM_DROP_NONE = 0,
        RM_DROP_BAD_HEADER,        /* short, wrong version/words, too many fragments */
        RM_DROP_STRAY_CONTINUATION,/* continuation with nothing in progress */
        RM_DROP_MISMATCH,          /* continuation of another message (policy RM) */
        RM_DROP_MISMATCH_ABORTED,  /* continuation of another message: partial aborted too */
        RM_DROP_TOO_LONG,          /* continuation longer than its share (never past the buffer) */
} RmDropReason;

typedef struct RmReassembler {
        RmReasmPolicy policy;
        bool active;              /* a multi-packet message is in progress */
        RmHeader hdr;             /* header of the message in progress / completed */
        size_t len;               /* payload bytes gathered */
        unsigned frags_seen;      /* continuations received so far */
        RmDropReason drop_reason; /* set when feed returns RM_REASM_DROPPED */
        bool aborted;             /* set when this feed discarded a partial message */
        RmHeader aborted_hdr;     /* ... whose header was this */
        uint8_t payload[RM_RECV_MAX_PAYLOAD];
} RmReassembler;

void rm_reassembler_init(RmReassembler *r, RmReasmPolicy policy);
/* Feed one packet of len bytes. Never reads past pkt[len-1] nor writes past r->payload.
 * r->aborted is reset at each call and set when a partial message was discarded. */
RmReasmResult rm_reassembler_feed(RmReassembler *r, const uint8_t *pkt, size_t len);

/* Reply helpers: every reply payload is u32 RmError + call data. */
int rm_reply_split(const uint8_t *payload, size_t len, uint32_t *ret_err, const uint8_t **ret_data,
                   size_t *ret_data_len); /* -EBADMSG if len < 4 */

const char *rm_msg_type_to_string(uint8_t type);
const char *rm_drop_reason_to_string(RmDropReason r);
