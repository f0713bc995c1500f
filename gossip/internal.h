/* tsc — gossip engine internals shared by the files of gossip/ (not public).
 * Names with a double underscore are module-internal across files. */
#ifndef TSC_GOSSIP_INTERNAL_H
#define TSC_GOSSIP_INTERNAL_H

#include "common/buf.h"
#include "common/prng.h"
#include "common/time.h"
#include "gossip/gossip.h"
#include "wire/frame.h"
#include "wire/record.h"
#include "wire/swim.h"

#define TSC__NO_INDEX    UINT32_MAX
#define TSC__MAX_CONFIRM 8  /* accusers remembered per suspicion */
#define TSC__MAX_RELAYS  64 /* PING_REQ requests this node relays at once */
#define TSC__MAX_SEEDS   16 /* JOIN addresses remembered for retries */
/* Incarnations stop here, so a refutation (claimed + 1) can never wrap to 0:
 * records above it and claims at or above it are malformed. */
#define TSC__MAX_INCARNATION (UINT64_C(1) << 62)
#define TSC__MAX_BCASTS      1024 /* pending updates; the oldest news gives way beyond */

/* One accusation that is pending: Lifeguard §3.2 dynamic suspicion. */
struct tsc__suspicion {
    uint64_t start;                          /* µs, when this node started suspecting */
    uint64_t deadline;                       /* µs, when the suspect is declared dead */
    unsigned n_confirm;                      /* independent accusers beyond the first */
    uint64_t accusers[TSC__MAX_CONFIRM + 1]; /* first accuser at [0] */
};

struct tsc__member {
    uint64_t id;
    struct tsc_addr addr;
    uint64_t incarnation; /* of the newest accepted record or claim */
    uint8_t status;       /* enum tsc_status */
    uint8_t pk[TSC_PK_BYTES];
    uint64_t status_since;
    uint8_t *record; /* signed self record blob (owned) */
    uint32_t record_len;
    uint8_t *claim; /* newest accepted suspect/dead claim blob while not alive (owned) */
    uint32_t claim_len;
    struct tsc__suspicion *susp; /* non-NULL while SUSPECT */
    struct tsc_replay_window replay;
};

/* A piggybacked update waiting for dissemination (SWIM §4.1). */
struct tsc__bcast {
    uint64_t subject; /* member the item is about */
    uint64_t accuser; /* 0 for records; the accuser for claims */
    uint8_t kind;     /* TSC_BLOB_RECORD or TSC_BLOB_CLAIM */
    uint8_t status;   /* record/claim status, to order invalidations */
    uint32_t transmits;
    uint8_t *blob; /* owned */
    uint32_t len;
};

/* A PING_REQ this node is serving for someone else (SWIM §3.1). */
struct tsc__relay {
    int used;
    uint32_t my_probe;  /* probe number of the PING we sent to the target */
    uint32_t req_probe; /* the requester's probe number */
    struct tsc_addr requester;
    uint64_t nack_at; /* µs, send NACK if no ACK by then (Lifeguard §4.3) */
    uint64_t expire;
    int nacked;
};

/* This node's own outstanding probe. */
struct tsc__probe {
    int active;
    uint64_t target;
    uint32_t probe_no;
    uint64_t started;
    uint64_t indirect_at; /* µs, send PING_REQs if no ACK by then */
    uint64_t period_end;  /* µs, the probe fails if no ACK by then */
    int acked;
    int indirect_sent;
    unsigned nacks_expected;
    unsigned nacks_got;
};

struct tsc__out_rec {
    int kind;
    struct tsc_addr to;
    size_t off, len;
};

struct tsc_gossip {
    struct tsc_gossip_config cfg;
    const struct tsc_wire *wire;
    const struct tsc_crypto *crypto;
    struct tsc_prng prng;

    /* identity */
    uint64_t self_id;
    uint8_t sk[TSC_SK_BYTES];
    uint8_t *meta;
    size_t meta_len;
    uint64_t seq;
    uint32_t self_index;

    /* members: dense array + open-addressing index by id */
    struct tsc__member *members;
    uint32_t n_members, cap_members;
    uint32_t *index; /* slots hold member indices or TSC__NO_INDEX */
    uint32_t index_cap;
    uint32_t n_alive; /* alive + suspect, including self */

    /* members currently suspect (indices), scanned for deadlines */
    uint32_t *suspects;
    uint32_t n_suspects, cap_suspects;

    /* probe order (SWIM §4.3: round-robin over a shuffled list) */
    uint32_t *probe_list;
    uint32_t probe_len, probe_cap, probe_pos;
    struct tsc__probe probe;
    uint32_t next_probe_no;
    uint64_t next_probe_at;

    struct tsc__relay relays[TSC__MAX_RELAYS];

    /* dissemination queue */
    struct tsc__bcast *bcasts;
    uint32_t n_bcasts, cap_bcasts;
    uint32_t *order, *bucket; /* piggyback ordering scratch */
    uint32_t cap_order, cap_bucket;
    uint64_t next_gossip_at;

    /* push-pull, join and reconnection */
    uint64_t next_pushpull_at;
    uint64_t next_reconnect_at;
    struct tsc_addr seeds[TSC__MAX_SEEDS];
    unsigned n_seeds;
    uint64_t next_join_retry_at;
    uint64_t join_until;
    uint64_t next_pull_unknown_at; /* rate limit of tsc__gossip_pull_unknown */

    /* graceful leave */
    int leaving;
    uint64_t leave_deadline;

    /* step outputs */
    struct tsc_buf out_data;
    struct tsc__out_rec *out_recs;
    size_t n_out, cap_out;
    struct tsc_gossip_out *outs;
    size_t cap_outs;
    struct tsc_gossip_change *changes;
    size_t n_changes, cap_changes;

    /* scratch */
    struct tsc_buf scratch; /* opened plaintext */
    struct tsc_buf body;    /* body being built */
    struct tsc_buf tmp;     /* blob being built */

    struct tsc_gossip_stats stats;
    int oom; /* an allocation failed during this step */
    uint64_t last_now;
    int quiet_merge; /* merging the answer to our join: learn, do not re-gossip */
};

/* members.c */
struct tsc__member *tsc__gossip_find(struct tsc_gossip *g, uint64_t id);
int tsc__gossip_add_member(struct tsc_gossip *g, const struct tsc_record *rec, const uint8_t *blob,
                           size_t len, uint64_t now, uint32_t *index);
void tsc__gossip_set_status(struct tsc_gossip *g, struct tsc__member *m, uint8_t status,
                            uint64_t incarnation, uint64_t now);
void tsc__gossip_note_change(struct tsc_gossip *g, const struct tsc__member *m, uint8_t old_status);
int tsc__gossip_apply_blob(struct tsc_gossip *g, const uint8_t *blob, size_t len, uint64_t now,
                           uint64_t via);
int tsc__gossip_accuse(struct tsc_gossip *g, struct tsc__member *m, uint8_t status,
                       uint64_t incarnation, uint64_t now);
void tsc__gossip_check_suspects(struct tsc_gossip *g, uint64_t now);
uint64_t tsc__gossip_suspect_deadline(const struct tsc_gossip *g);
int tsc__gossip_resign_self(struct tsc_gossip *g, uint64_t incarnation, uint8_t status,
                            uint64_t now);
void tsc__gossip_members_free(struct tsc_gossip *g);

/* broadcast.c */
int tsc__gossip_enqueue(struct tsc_gossip *g, uint8_t kind, uint64_t subject, uint64_t accuser,
                        uint8_t status, const uint8_t *blob, size_t len);
/* Fill a datagram body writer with pending items, fewest transmits first.
 * `first` (may be NULL) is a subject whose items go first (buddy system). */
int tsc__gossip_piggyback(struct tsc_gossip *g, struct tsc_swim_writer *w, size_t limit,
                          uint64_t first);
uint32_t tsc__gossip_retransmit_limit(const struct tsc_gossip *g);
int tsc__gossip_gossip_round(struct tsc_gossip *g, uint64_t now);
int tsc__gossip_self_pending(const struct tsc_gossip *g);

/* gossip.c */
int tsc__gossip_send(struct tsc_gossip *g, int kind, struct tsc_addr to, uint8_t type,
                     const uint8_t *body, size_t len);
int tsc__gossip_send_swim(struct tsc_gossip *g, struct tsc_addr to, uint8_t type, uint32_t probe,
                          uint64_t target, struct tsc_addr target_addr, uint64_t first);
int tsc__gossip_send_swim_kind(struct tsc_gossip *g, int kind, struct tsc_addr to, uint8_t type,
                               uint32_t probe, uint64_t target, struct tsc_addr target_addr,
                               uint64_t first);
uint64_t tsc__gossip_scaled(const struct tsc_gossip *g, uint64_t base);

/* probe.c */
int tsc__gossip_probe_tick(struct tsc_gossip *g, uint64_t now);
int tsc__gossip_on_swim(struct tsc_gossip *g, uint8_t type, const struct tsc_swim_msg *m,
                        struct tsc_addr from, uint64_t now);
uint64_t tsc__gossip_probe_deadline(const struct tsc_gossip *g);
int tsc__gossip_relay_tick(struct tsc_gossip *g, uint64_t now);
void tsc__gossip_probe_list_add(struct tsc_gossip *g, uint32_t index);

/* pushpull.c */
int tsc__gossip_pushpull_send(struct tsc_gossip *g, struct tsc_addr to, uint8_t type, int join);
int tsc__gossip_on_stream(struct tsc_gossip *g, const struct tsc_envelope *env, uint64_t now);
int tsc__gossip_pushpull_tick(struct tsc_gossip *g, uint64_t now);
int tsc__gossip_pull_unknown(struct tsc_gossip *g, struct tsc_addr from, uint64_t now);

#endif
