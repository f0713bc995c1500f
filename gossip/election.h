/* tsc — coordinator election and a small replicated state, as a pure engine.
 *
 *   tsc_election_step(e, &event, &update)
 *
 * Like the SWIM engine (gossip/gossip.h): time arrives in event.now (µs on the
 * driver's monotonic clock), randomness comes from the engine's own PRNG, and
 * everything to send comes back in the update as sealed frames addressed to a
 * node id and address. The engine never does I/O: what must be durable comes
 * back in the update too, and the driver writes it (RocksDB with the WAL on in
 * the agent, memory in the simulator) BEFORE it sends the update's frames and
 * before the next step. The engine therefore treats its own log as durable as
 * soon as a step returns.
 *
 * Protocol: Raft (Ongaro & Ousterhout, USENIX ATC 2014; "Consensus: Bridging
 * Theory and Practice", Ongaro's thesis, 2014) among the voter set.
 *  - Terms (§5.1). Every message carries its sender's term. A higher term makes
 *    the receiver a follower of that term; a lower one is never acted upon
 *    (fencing): requests are refused with the receiver's term, answers are
 *    dropped. tsc_election_term() and tsc_election_leader() let the agent fence
 *    coordinator commands the same way.
 *  - Election (§5.2): a follower that hears from no leader for a randomised
 *    election timeout (default 150..300 ms, from the engine PRNG) campaigns.
 *    It first runs a PRE-VOTE (thesis §9.6): it asks for votes for term+1
 *    without changing any term, and only a majority of pre-votes lets it bump
 *    its term and ask for real votes. A node cut off from the majority
 *    therefore keeps its term, and rejoining cannot depose a healthy leader.
 *  - Vote rules (§5.2, §5.4.1): one vote per term, persisted with the term
 *    before the answer leaves; granted only to a candidate whose log is at
 *    least as up to date (last term, then last index). Leader stickiness
 *    (thesis §4.2.3): a node that heard from a live leader within the minimum
 *    election timeout grants neither votes nor pre-votes (and does not adopt
 *    the candidate's term), unless the request carries the TRANSFER flag.
 *  - Lease ("a minority side never coordinates"): every AppendEntries carries
 *    the leader's send time, echoed in the answer. A leader that has no
 *    answer from a majority to a request sent within the last `lease` µs
 *    stops acting, and steps down one minimum election timeout later unless
 *    late answers renew the lease first (a loaded host). With lease <= the
 *    minimum election timeout, the old leader stops acting before any
 *    follower that heard from it will vote for anyone else (assuming bounded
 *    clock-rate drift; shorten the lease by the drift bound if clocks may
 *    run at different rates).
 *    tsc_election_acting() says whether this node is a leader inside its lease.
 *  - Replication (§5.3): AppendEntries with the (prev_index, prev_term)
 *    consistency check; a conflicting suffix is truncated; the leader backs
 *    next_index off using the follower's hint. Heartbeats are empty
 *    AppendEntries every heartbeat interval (default 50 ms). Batches are cut
 *    to fit a datagram (TSC_WIRE_MAX_DATAGRAM); an entry too large for one
 *    goes alone in a stream frame (TSC_ELECTION_OUT_STREAM).
 *  - Commit (§5.3, §5.4.2): the leader's commit index is the highest index
 *    stored on a majority whose entry has the leader's current term; a new
 *    leader appends a NOOP entry (thesis §6.4) so that earlier entries commit
 *    promptly. A record counts as acknowledged only once committed; the
 *    update reports newly committed entries in order.
 *  - Leadership transfer (thesis §3.10): on LEAVE the leader stops taking new
 *    records, brings the most up-to-date follower's log up to its own and
 *    sends it TimeoutNow; that follower campaigns at once (no pre-vote, with
 *    the TRANSFER flag). A transfer that has not finished within an election
 *    timeout is abandoned and the leader resumes.
 *  - Voter set (thesis §4.1, single-server changes): the voter set is the
 *    newest CONFIG entry in the node's log, committed or not, and takes
 *    effect on each node as soon as that entry is APPENDED to its log
 *    (reverting if the entry is truncated away). Changes add or remove ONE
 *    voter at a time, only through the leader, and only when (a) no earlier
 *    CONFIG entry is uncommitted and (b) an entry of the leader's current
 *    term is committed (the fix Ongaro posted to raft-dev in 2015). Any two
 *    successive sets then share a majority, so two leaders can never be
 *    elected for one term by the old and the new set. A leader that removes
 *    itself steps down once the removal commits. A new voter is caught up by
 *    the ordinary AppendEntries repair (no non-voting catch-up phase yet).
 *  - Bootstrap: EV_BOOTSTRAP on a node with an empty log writes entry 1
 *    (term 1, CONFIG with the initial voters); nodes bootstrapped with the
 *    same set get identical entries. A node with no CONFIG entry is not a
 *    voter and never campaigns: it waits to be told by a leader. A set of
 *    exactly this node elects itself at once.
 *  - Restart = a new engine fed the persisted term, vote and log
 *    (struct tsc_election_restore); it resumes as a follower.
 *
 * Transport: frames are sealed like gossip's (wire/frame.h, types 16..31 of
 * wire/raft.h) and must reach this engine, not the SWIM one: the driver either
 * gives the election its own port or opens each frame once and routes by
 * envelope type. Each engine keeps its own replay windows, so give the two
 * engines of a node distinct PRNG seeds (the nonce's random part).
 *
 * Not implemented: log compaction/snapshots (the log is kept in memory;
 * meant for a small state), non-voting catch-up before a voter is added, and
 * pipelining of AppendEntries (one batch per follower per round trip). */
#ifndef TSC_GOSSIP_ELECTION_H
#define TSC_GOSSIP_ELECTION_H

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "wire/frame.h"
#include "wire/raft.h"

struct tsc_election;

struct tsc_election_config {
    uint64_t seed;                 /* PRNG seed; give each engine of a process its own */
    uint64_t heartbeat_interval;   /* µs between AppendEntries rounds; default 50 ms */
    uint64_t election_timeout_min; /* µs; default 150 ms */
    uint64_t election_timeout_max; /* µs, exclusive; default 300 ms */
    uint64_t lease;                /* µs; 0 = election_timeout_min (the default) */
    size_t max_datagram;           /* sealed bytes; default TSC_WIRE_MAX_DATAGRAM */
    size_t max_record;             /* bytes per appended record; default 64 KiB */
};

/* Fill c with the defaults above. */
void tsc_election_config_default(struct tsc_election_config *c);

/* A log entry. Indexes start at 1. */
struct tsc_election_entry {
    uint64_t index;
    uint64_t term;
    uint8_t type; /* enum tsc_raft_entry_type */
    const uint8_t *data;
    size_t len;
};

/* What the driver persisted, given back at start (all zero for a fresh
 * node). entries: the whole log, indexes 1..n_entries in order; copied. */
struct tsc_election_restore {
    uint64_t term;
    uint64_t voted_for; /* 0: none */
    const struct tsc_election_entry *entries;
    size_t n_entries;
    uint64_t commit; /* optional hint: an index the driver saw committed */
};

/* Create an engine for node self_id. wire must outlive the engine; restore
 * is copied. seq_start: first envelope seq, above any seq this node id ever
 * used with this engine (the agent passes wall-clock µs). Returns 0,
 * TSC_EINVAL (bad config or restore; errmsg says why) or TSC_ENOMEM. */
int tsc_election_new(struct tsc_election **out, const struct tsc_election_config *cfg,
                     const struct tsc_wire *wire, uint64_t self_id, uint64_t seq_start,
                     const struct tsc_election_restore *restore, uint64_t now, char *errmsg);

void tsc_election_free(struct tsc_election *e);

/* Where a node can be reached: from membership (gossip). */
struct tsc_election_peer {
    uint64_t id;
    struct tsc_addr addr;
};

enum tsc_election_event_type {
    TSC_ELECTION_EV_TICK = 1,     /* time passed (deadline reached) */
    TSC_ELECTION_EV_DATAGRAM,     /* data/len: a sealed datagram from `from` */
    TSC_ELECTION_EV_STREAM,       /* data/len: a sealed stream frame */
    TSC_ELECTION_EV_PEERS,        /* peers/n_peers: addresses of (at least) the voters;
                                     replaces the address book */
    TSC_ELECTION_EV_BOOTSTRAP,    /* ids/n_ids: the initial voter set (§ Bootstrap);
                                     TSC_ESTATE unless the log is empty */
    TSC_ELECTION_EV_APPEND,       /* data/len: replicate a record; leader only, else
                                     TSC_ESTATE; update.appended_index says where */
    TSC_ELECTION_EV_ADD_VOTER,    /* id: add a voter (thesis §4.1); leader only */
    TSC_ELECTION_EV_REMOVE_VOTER, /* id: remove a voter; leader only */
    TSC_ELECTION_EV_LEAVE,        /* graceful leave: hand leadership over, never campaign */
};

struct tsc_election_event {
    int type;
    uint64_t now;
    struct tsc_addr from;
    const uint8_t *data;
    size_t len;
    const struct tsc_election_peer *peers;
    size_t n_peers;
    const uint64_t *ids;
    size_t n_ids;
    uint64_t id;
};

enum tsc_election_out_kind {
    TSC_ELECTION_OUT_DATAGRAM = 1, /* one UDP datagram */
    TSC_ELECTION_OUT_STREAM,       /* one frame on a stream connection */
};

struct tsc_election_out {
    int kind;
    uint64_t to_id;
    struct tsc_addr to;
    const uint8_t *data; /* sealed frame; valid until the next step or free */
    size_t len;
};

enum tsc_election_role {
    TSC_ELECTION_FOLLOWER = 1,
    TSC_ELECTION_PRECANDIDATE, /* running a pre-vote (thesis §9.6) */
    TSC_ELECTION_CANDIDATE,
    TSC_ELECTION_LEADER,
};

/* Everything one step produced. Arrays and entry data are owned by the engine
 * and valid until the next step or tsc_election_free. The driver must, in
 * this order and before sending `out` or stepping again:
 *   1. if persist_state: store (term, voted_for);
 *   2. if log_from: delete stored entries with index >= log_from, then store
 *      `entries` (which start at index log_from).
 * Then apply `committed` to the state machine, then send `out`. */
struct tsc_election_update {
    const struct tsc_election_out *out;
    size_t n_out;
    int persist_state;
    uint64_t term;
    uint64_t voted_for;
    uint64_t log_from; /* 0: the log did not change */
    const struct tsc_election_entry *entries;
    size_t n_entries;
    const struct tsc_election_entry *committed; /* newly committed, in index order */
    size_t n_committed;
    uint64_t commit_index;
    uint64_t appended_index; /* EV_APPEND/ADD/REMOVE: index of the new entry */
    uint64_t leader_id;      /* as known after this step; 0 = unknown */
    int role;                /* enum tsc_election_role after this step */
    int leader_changed;      /* leader_id or term differs from before the step */
    uint64_t next_deadline;  /* absolute µs: step again (TICK) no later than this */
    int leave_done;          /* after LEAVE: leadership handed over (or never held) */
};

/* Apply one event. Bad input from the network is counted in the stats and
 * otherwise ignored: the return is 0 for any datagram or stream frame.
 * Returns TSC_EINVAL for a bad event, TSC_ESTATE for a command this node
 * cannot take now (not the leader, a transfer or config change in progress,
 * BOOTSTRAP on a non-empty log), TSC_ETOOBIG for a record over max_record,
 * TSC_ENOMEM. The update is filled in every case. */
int tsc_election_step(struct tsc_election *e, const struct tsc_election_event *ev,
                      struct tsc_election_update *up);

/* Counters for operators and tests. */
struct tsc_election_stats {
    uint64_t rx, tx, rx_bytes, tx_bytes;
    uint64_t rejected;        /* sum of the reasons below */
    uint64_t rejected_auth;   /* wrong key or tampered */
    uint64_t rejected_replay; /* duplicate or stale sequence, or our own frame */
    uint64_t rejected_malformed;
    uint64_t rejected_cluster;
    uint64_t stale_term; /* messages with a lower term: fenced off */
    uint64_t prevotes;   /* pre-vote rounds started */
    uint64_t elections;  /* real elections started (term bumps by this node) */
    uint64_t became_leader;
    uint64_t lease_stepdowns; /* leaderships ended by an expired lease */
    uint64_t transfers;       /* TimeoutNow sent */
};

const struct tsc_election_stats *tsc_election_stats(const struct tsc_election *e);

/* Queries. All O(1) unless noted. */
uint64_t tsc_election_self_id(const struct tsc_election *e);
uint64_t tsc_election_term(const struct tsc_election *e);
uint64_t tsc_election_leader(const struct tsc_election *e); /* 0 = unknown */
int tsc_election_role(const struct tsc_election *e);        /* enum tsc_election_role */
/* 1 when this node is the leader and its lease covers `now`. */
int tsc_election_acting(const struct tsc_election *e, uint64_t now);
uint64_t tsc_election_commit_index(const struct tsc_election *e);
uint64_t tsc_election_last_index(const struct tsc_election *e);
/* Entry at index (1..last). 0 or TSC_ENOTFOUND. data valid until the next step. */
int tsc_election_entry_at(const struct tsc_election *e, uint64_t index,
                          struct tsc_election_entry *out);
/* The current voter set (ids valid until the next step). */
size_t tsc_election_voters(const struct tsc_election *e, const uint64_t **ids);
int tsc_election_is_voter(const struct tsc_election *e, uint64_t id);
/* Leader only: the highest log index known stored on node id (this node:
 * its last index). 0, or TSC_ENOTFOUND when not the leader or id unknown. */
int tsc_election_match_index(const struct tsc_election *e, uint64_t id, uint64_t *match);

#endif
