/* tsc — bodies of the coordinator election and replication messages
 * (gossip/election.h), carried inside a sealed envelope (wire/frame.h). The
 * candidate or leader is the envelope's sender, so no body repeats it.
 *
 *   RAFT_VOTE         [term, last_index, last_term, flags]
 *                     flags: TSC_RAFT_VOTE_PRE (pre-vote, thesis §9.6: term is
 *                     the one the sender WOULD use; nobody changes term for it),
 *                     TSC_RAFT_VOTE_TRANSFER (the leader asked for this election
 *                     with TimeoutNow, thesis §3.10: bypasses leader stickiness).
 *   RAFT_VOTE_RESP    [term, granted(bool), prevote(bool)]
 *   RAFT_APPEND       [term, prev_index, prev_term, commit, stamp, entries]
 *                     entries = array32 of [term, type, data(bin)];
 *                     stamp = the leader's clock when it sent this, echoed back
 *                     so the leader can date a majority's contact (its lease).
 *   RAFT_APPEND_RESP  [term, success(bool), index, stamp]
 *                     index = the follower's match index on success, else the
 *                     highest index the leader should try next (a hint).
 *   RAFT_TIMEOUT_NOW  [term]
 *
 * A CONFIG entry's data is [voter id, ...] (array of uint, at most
 * TSC_RAFT_MAX_VOTERS). Decoders accept exactly these shapes and nothing after
 * them; every read is bounds-checked (wire/mp.h). */
#ifndef TSC_WIRE_RAFT_H
#define TSC_WIRE_RAFT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "wire/mp.h"

#define TSC_RAFT_VOTE_PRE      0x1u
#define TSC_RAFT_VOTE_TRANSFER 0x2u
#define TSC_RAFT_MAX_VOTERS    15
/* Terms above this are malformed: a node that adopts a term can still add
 * one (a candidate's increment) without wrapping to 0. */
#define TSC_RAFT_MAX_TERM (UINT64_C(1) << 62)

enum tsc_raft_entry_type {
    TSC_RAFT_ENTRY_DATA = 1,   /* an opaque record of the replicated state */
    TSC_RAFT_ENTRY_NOOP = 2,   /* a new leader's first entry (thesis §6.4) */
    TSC_RAFT_ENTRY_CONFIG = 3, /* the voter set from here on (thesis §4.1) */
};

struct tsc_raft_vote {
    uint64_t term;
    uint64_t last_index;
    uint64_t last_term;
    unsigned flags; /* TSC_RAFT_VOTE_* */
};

struct tsc_raft_vote_resp {
    uint64_t term;
    int granted;
    int prevote;
};

/* A decoded AppendEntries header; `entries` is positioned at the first entry
 * and yields exactly n_entries of them through tsc_raft_append_next. */
struct tsc_raft_append {
    uint64_t term;
    uint64_t prev_index;
    uint64_t prev_term;
    uint64_t commit;
    uint64_t stamp;
    uint32_t n_entries;
    struct tsc_mp_reader entries;
};

struct tsc_raft_entry_view {
    uint64_t term;
    uint8_t type; /* enum tsc_raft_entry_type */
    const uint8_t *data;
    uint32_t len;
};

struct tsc_raft_append_resp {
    uint64_t term;
    int success;
    uint64_t index;
    uint64_t stamp;
};

/* Incremental AppendEntries writer: header, then entries while they fit. */
struct tsc_raft_append_writer {
    struct tsc_buf *buf;
    size_t start;    /* offset of the body in buf */
    size_t count_at; /* offset of the array32 count to patch */
    uint32_t n_entries;
};

/* Each encoder appends one body to buf. 0 or TSC_ENOMEM (buf unchanged). */
int tsc_raft_vote_encode(struct tsc_buf *buf, const struct tsc_raft_vote *m);
int tsc_raft_vote_resp_encode(struct tsc_buf *buf, const struct tsc_raft_vote_resp *m);
int tsc_raft_append_resp_encode(struct tsc_buf *buf, const struct tsc_raft_append_resp *m);
int tsc_raft_timeout_now_encode(struct tsc_buf *buf, uint64_t term);

/* Begin an AppendEntries body (m->n_entries and m->entries are ignored).
 * 0 or TSC_ENOMEM. */
int tsc_raft_append_begin(struct tsc_raft_append_writer *w, struct tsc_buf *buf,
                          const struct tsc_raft_append *m);
/* Add one entry if the body stays <= limit bytes. 0, TSC_EFULL (nothing
 * written) or TSC_ENOMEM. */
int tsc_raft_append_add(struct tsc_raft_append_writer *w, uint64_t term, uint8_t type,
                        const uint8_t *data, size_t len, size_t limit);
/* Patch the entry count. The body is buf->data[w->start .. buf->len). */
void tsc_raft_append_finish(struct tsc_raft_append_writer *w);

/* Decoders: 0 or TSC_EMALFORMED. Pointers in the results point into body. */
int tsc_raft_vote_decode(const uint8_t *body, size_t len, struct tsc_raft_vote *m);
int tsc_raft_vote_resp_decode(const uint8_t *body, size_t len, struct tsc_raft_vote_resp *m);
int tsc_raft_append_resp_decode(const uint8_t *body, size_t len, struct tsc_raft_append_resp *m);
int tsc_raft_timeout_now_decode(const uint8_t *body, size_t len, uint64_t *term);
/* Validates every entry (types, shapes, trailing bytes) before returning, so
 * a caller may apply entries one by one without ever meeting a bad one. */
int tsc_raft_append_decode(const uint8_t *body, size_t len, struct tsc_raft_append *m);
/* The next entry of a decoded AppendEntries. 0 or TSC_EMALFORMED. */
int tsc_raft_append_next(struct tsc_raft_append *m, struct tsc_raft_entry_view *e);

/* CONFIG entry payload. encode: 0, TSC_EINVAL (n > TSC_RAFT_MAX_VOTERS) or
 * TSC_ENOMEM. decode: ids must hold TSC_RAFT_MAX_VOTERS; 0 or TSC_EMALFORMED
 * (also for a zero id, duplicates, or too many). */
int tsc_raft_config_encode(struct tsc_buf *buf, const uint64_t *ids, size_t n);
int tsc_raft_config_decode(const uint8_t *data, size_t len, uint64_t *ids, size_t *n);

#endif
