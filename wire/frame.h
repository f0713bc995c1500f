/* tsc — the sealed envelope that every datagram and stream frame carries.
 *
 * Frame on the wire:   [version:1][nonce:24][ciphertext + tag]
 * Plaintext:           msgpack array [version, cluster, sender, seq, type, body(bin)]
 * Associated data:     the first byte (version).
 *
 * The nonce is chosen by the sender: tsc uses sender id (8) || seq (8) ||
 * 8 bytes from the sender's PRNG, unique for a key as long as (sender, seq)
 * never repeats, which the sequence-number rules guarantee. Stream frames are
 * additionally prefixed by a 4-byte big-endian length by the driver (not
 * part of this codec). */
#ifndef TSC_WIRE_FRAME_H
#define TSC_WIRE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "wire/crypto.h"

#define TSC_WIRE_VERSION      1
#define TSC_WIRE_MAX_DATAGRAM 1400       /* sealed bytes, per SWIM packet */
#define TSC_WIRE_MAX_FRAME    (8u << 20) /* sealed bytes, per stream frame */
/* Sealed size minus body size is at most this (header, nonce, tag, envelope). */
#define TSC_WIRE_OVERHEAD (1 + TSC_NONCE_BYTES + TSC_TAG_BYTES + 48)

enum tsc_msg_type {
    TSC_MSG_PING = 1,
    TSC_MSG_ACK = 2,
    TSC_MSG_PING_REQ = 3,
    TSC_MSG_NACK = 4,
    TSC_MSG_GOSSIP = 5,
    TSC_MSG_PUSHPULL_REQ = 6,
    TSC_MSG_PUSHPULL_RESP = 7,
    /* 16..31: coordinator election and replication (wire/raft.h) */
    TSC_MSG_RAFT_VOTE = 16,        /* RequestVote or pre-vote */
    TSC_MSG_RAFT_VOTE_RESP = 17,   /* its answer */
    TSC_MSG_RAFT_APPEND = 18,      /* AppendEntries (also the heartbeat) */
    TSC_MSG_RAFT_APPEND_RESP = 19, /* its answer */
    TSC_MSG_RAFT_TIMEOUT_NOW = 20, /* leadership transfer: campaign now */
    TSC_MSG_CONTROL_REQ = 32,
    TSC_MSG_CONTROL_RESP = 33,
    TSC_MSG_STAGE_START = 40,  /* barrier/runlog.h: coordinator -> participant */
    TSC_MSG_STAGE_REPORT = 41, /* participant -> coordinator, signed */
    TSC_MSG_STAGE_CANCEL = 42, /* coordinator -> participant */
    TSC_MSG_LOG_BATCH = 43,    /* logsync/ship.h: agent -> coordinator, stream */
    TSC_MSG_LOG_ACK = 44,      /* coordinator -> agent, datagram */
    TSC_MSG_LOG_MSG = 45,      /* agent -> agent: a message between stage scripts */
    TSC_MSG_TYPE_MAX = 63
};

struct tsc_envelope {
    uint8_t version;
    uint64_t cluster;
    uint64_t sender; /* node id; 0 for tscctl control requests */
    uint64_t seq;
    uint8_t type; /* enum tsc_msg_type */
    const uint8_t *body;
    size_t body_len;
};

/* Key context shared by everything that seals or opens frames of a cluster. */
struct tsc_wire {
    uint8_t key[TSC_KEY_BYTES];
    uint64_t cluster;
    const struct tsc_crypto *crypto;
};

/* Copy the key and derive the cluster id. crypto must outlive w. */
void tsc_wire_init(struct tsc_wire *w, const uint8_t key[TSC_KEY_BYTES],
                   const struct tsc_crypto *crypto);

/* Encode env (version and cluster are taken from w, not env) and seal it,
 * appending the frame to out. Returns 0, TSC_ENOMEM or TSC_ETOOBIG (frame
 * would exceed max_len). On error out->len is unchanged. */
int tsc_wire_seal(const struct tsc_wire *w, const struct tsc_envelope *env,
                  const uint8_t nonce[TSC_NONCE_BYTES], size_t max_len, struct tsc_buf *out);

/* Open and decode a frame. The plaintext goes into scratch (reset first);
 * env->body points into scratch and stays valid until scratch changes.
 * Returns 0, TSC_ETOOBIG (len > max_len), TSC_EVERSION, TSC_EAUTH (wrong key
 * or tampered), TSC_EMALFORMED, TSC_ECLUSTER, TSC_ENOMEM. Never reads outside
 * [frame, frame+len). */
int tsc_wire_open(const struct tsc_wire *w, const uint8_t *frame, size_t len, size_t max_len,
                  struct tsc_buf *scratch, struct tsc_envelope *env);

/* Anti-replay window per sender (RFC 4303 §3.4.3 style): accepts each seq at
 * most once, and nothing older than top - 64. */
struct tsc_replay_window {
    uint64_t top;  /* highest seq accepted; 0 = nothing yet */
    uint64_t bits; /* bit i set: top - i accepted */
};

/* Returns 0 and records seq, or TSC_EREPLAY (duplicate or too old). */
int tsc_replay_check(struct tsc_replay_window *w, uint64_t seq);

#endif
