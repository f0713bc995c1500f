/* tsc — election engine internals shared by gossip/election*.c (not public).
 * Names with a double underscore are module-internal across files. */
#ifndef TSC_GOSSIP_ELECTION_INTERNAL_H
#define TSC_GOSSIP_ELECTION_INTERNAL_H

#include "common/buf.h"
#include "common/prng.h"
#include "common/time.h"
#include "gossip/election.h"
#include "wire/frame.h"
#include "wire/raft.h"

#define TSC__EMAX_PEERS     1024         /* address book + senders, bounded */
#define TSC__ESTREAM_BUDGET (256u << 10) /* body bytes of an AppendEntries stream frame */

/* Everything this node knows about another node. Leader-only fields are
 * reset when this node becomes leader (Raft §5.3, Figure 2). */
struct tsc__epeer {
    uint64_t id;
    struct tsc_addr addr;
    int has_addr;
    struct tsc_replay_window replay;
    uint64_t next_index;  /* leader: next entry to send */
    uint64_t match_index; /* leader: highest index known stored there */
    uint64_t contact;     /* leader: newest echoed stamp (our clock) */
    int granted;          /* candidate: (pre-)vote granted in this round */
};

struct tsc_election {
    struct tsc_election_config cfg;
    const struct tsc_wire *wire;
    struct tsc_prng prng;
    uint64_t self_id;
    uint64_t seq;

    /* Persistent state (Raft Figure 2): the driver stores it from updates. */
    uint64_t term;
    uint64_t voted_for;
    struct tsc_election_entry *log; /* log[i] is index i + 1; data owned */
    size_t n_log, cap_log;

    /* Volatile state. */
    int role;
    uint64_t leader_id;
    uint64_t commit;
    uint64_t last_heard;        /* follower: last valid message from the leader */
    uint64_t election_deadline; /* not leader: when to campaign */
    uint64_t round_started;     /* (pre-)candidate: when this round's requests left;
                                   leader: when it won */
    uint64_t next_heartbeat;    /* leader */
    int leaving;
    uint64_t transfer_target; /* leader: 0 = no transfer in progress */
    uint64_t transfer_deadline;
    int transfer_sent;

    /* The voter set: the newest CONFIG entry in the log (thesis §4.1). */
    uint64_t voters[TSC_RAFT_MAX_VOTERS];
    size_t n_voters;
    uint64_t config_index; /* index of that entry; 0 = none */

    struct tsc__epeer *peers;
    size_t n_peers, cap_peers;

    /* Per step. */
    uint64_t now;
    int persist_state;
    uint64_t log_from; /* lowest log index changed this step; 0 = none */
    uint64_t commit_before;
    uint64_t appended;
    struct tsc_buf body, scratch, out_data, tmp;
    struct tsc__eout {
        int kind;
        uint64_t to_id;
        struct tsc_addr to;
        size_t off, len;
    } * out_recs;
    size_t n_out, cap_out;
    struct tsc_election_out *outs;
    size_t cap_outs;
    int oom;

    struct tsc_election_stats stats;
};

/* ---- election.c: transport ----------------------------------------------- */

/* Seal body as a message of `type` to peer `to` (kind: TSC_ELECTION_OUT_*).
 * A peer without an address gets nothing (the driver has not told us where
 * it is yet); 0 or TSC_ENOMEM. */
int tsc__election_send(struct tsc_election *e, int kind, uint64_t to, uint8_t type,
                       const uint8_t *body, size_t len);
struct tsc__epeer *tsc__election_peer(struct tsc_election *e, uint64_t id);
/* Find or add; NULL when the table is full or out of memory (e->oom set). */
struct tsc__epeer *tsc__election_peer_add(struct tsc_election *e, uint64_t id);
uint64_t tsc__election_random_timeout(struct tsc_election *e);

/* ---- election_vote.c: roles, (pre-)votes, lease, transfer --------------- */

int tsc__election_is_voter(const struct tsc_election *e, uint64_t id);
size_t tsc__election_quorum(const struct tsc_election *e);
/* Adopt a term (higher than ours): follower, no vote, leader unknown. */
void tsc__election_new_term(struct tsc_election *e, uint64_t term);
void tsc__election_become_follower(struct tsc_election *e, uint64_t leader);
int tsc__election_start_prevote(struct tsc_election *e);
int tsc__election_start_election(struct tsc_election *e, int transfer);
int tsc__election_on_vote(struct tsc_election *e, uint64_t from, const struct tsc_raft_vote *m);
int tsc__election_on_vote_resp(struct tsc_election *e, uint64_t from,
                               const struct tsc_raft_vote_resp *m);
int tsc__election_on_timeout_now(struct tsc_election *e, uint64_t from, uint64_t term);
/* The send time of the newest request answered by a majority (leader). */
uint64_t tsc__election_quorum_contact(const struct tsc_election *e, uint64_t now);
/* When the leader must have heard from a majority again or step down. */
uint64_t tsc__election_lease_deadline(const struct tsc_election *e);
uint64_t tsc__election_stepdown_deadline(const struct tsc_election *e);
/* Leader timers: lease check, heartbeat, transfer. */
int tsc__election_leader_tick(struct tsc_election *e);
int tsc__election_leave(struct tsc_election *e);
/* Leader: the transfer target may have caught up; send TimeoutNow if so. */
int tsc__election_transfer_check(struct tsc_election *e);

/* ---- election_log.c: the log, replication, commit ------------------------ */

uint64_t tsc__election_last_index(const struct tsc_election *e);
uint64_t tsc__election_term_at(const struct tsc_election *e, uint64_t index); /* 0 if none */
/* Append one entry (data copied). 0 or TSC_ENOMEM. */
int tsc__election_log_append(struct tsc_election *e, uint64_t term, uint8_t type,
                             const uint8_t *data, size_t len);
void tsc__election_log_truncate(struct tsc_election *e, uint64_t from);
/* Recompute the voter set from the newest CONFIG entry. */
void tsc__election_load_config(struct tsc_election *e);
int tsc__election_send_append(struct tsc_election *e, struct tsc__epeer *p);
int tsc__election_broadcast_append(struct tsc_election *e);
int tsc__election_on_append(struct tsc_election *e, uint64_t from, struct tsc_raft_append *m);
int tsc__election_on_append_resp(struct tsc_election *e, uint64_t from,
                                 const struct tsc_raft_append_resp *m);
/* Leader: raise the commit index to the majority match of this term. */
void tsc__election_advance_commit(struct tsc_election *e);
int tsc__election_cmd_append(struct tsc_election *e, const uint8_t *data, size_t len);
int tsc__election_cmd_config(struct tsc_election *e, uint64_t id, int add);
int tsc__election_cmd_bootstrap(struct tsc_election *e, const uint64_t *ids, size_t n);

#endif
