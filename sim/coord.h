/* tsc — the coordinator election inside the simulator: every simulated node
 * runs the pure election engine (gossip/election.h) next to its SWIM engine,
 * driven the way agent/coord.c drives it in tscd:
 *  - one port: every delivered frame is opened once to read its envelope
 *    type; RAFT types (16..31) go to the election engine as the original
 *    sealed bytes, everything else (and what does not open) to SWIM;
 *  - durability: term, vote and log live in a per-node in-memory "disk" that
 *    survives the node's crash and restart; an update's state is written
 *    there before its frames go out, and a restart feeds it back
 *    (struct tsc_election_restore);
 *  - voters: nodes 0..voters-1 carry the role `voter` in their meta. Node 0,
 *    the one node the bootstrap starts without a join, with an empty log,
 *    bootstraps a one-voter configuration with itself; the leader adds alive
 *    members with role voter one at a time (ADD_VOTER) and removes voters
 *    whose membership status is `left` (REMOVE_VOTER); the engine gets every
 *    member's address (EV_PEERS) whenever membership changes;
 *  - visible in membership: labels coordinator=<hex> and term=<n> in the
 *    node's own record, at most every 100 ms. A node that is in its engine's
 *    voter set knows the coordinator from its engine; any other node from
 *    the labels of alive members (highest term wins, never itself). That is
 *    what "a member knows the coordinator" means in every scenario.
 *
 * Clock rates. Each node's election engine sees its own local clock,
 * local = offset + rate * t, with rate drawn uniformly from [1-drift,
 * 1+drift]. The SWIM engine keeps the true virtual time (its timers decide
 * liveness only, never safety). The lease is set from the drift bound, see
 * tsc__sim_coord_lease().
 *
 * Internal to the simulator library. */
#ifndef TSC_SIM_COORD_H
#define TSC_SIM_COORD_H

#include <stdint.h>

#include "gossip/election.h"
#include "sim/world.h"
#include "wire/record.h"

/* One node's stored election state (the simulator's RocksDB). */
struct tsc_sim_disk {
    uint64_t term, voted_for, commit;
    struct tsc_election_entry *log; /* data owned */
    size_t n, cap;
};

struct tsc_sim_cnode {
    struct tsc_election *e; /* NULL unless the node is up */
    struct tsc_sim_disk disk;
    double rate;         /* local clock rate */
    double offset;       /* local clock at virtual time 0 (rebased when the rate changes) */
    uint64_t last_local; /* local clocks never go back */
    uint64_t bad_seen;   /* frames the engine rejected as forged/malformed, last seen */
    uint64_t deadline;   /* next engine deadline, virtual µs */
    uint64_t tick_at;    /* pending ETICK, or TSC_TIME_NEVER */
    uint64_t pub_leader, pub_term;
    uint64_t next_meta, next_reconcile; /* virtual µs */
    uint64_t view_leader, view_term;    /* what this node recognises */
    uint8_t voter_role;
    uint8_t view_dirty;
};

struct tsc_sim_coord {
    uint32_t voters; /* nodes 0..voters-1 have role voter */
    double drift;
    struct tsc_election_config cfg;
    struct tsc_sim_cnode *c; /* one per node */
    /* invariant state */
    /* link[a][b] for voter-role nodes a, b: TSC_TIME_NEVER while they are
     * both up and can exchange messages both ways, else the virtual time
     * they last could (0: never). */
    uint64_t link[TSC_RAFT_MAX_VOTERS][TSC_RAFT_MAX_VOTERS];
    uint64_t *term_leader; /* node id + 1 of the leader per term, 0 none */
    size_t cap_terms;
    struct tsc_election_entry *acked; /* the committed log as first reported */
    uint64_t *acked_term; /* term of the node that first reported it: >= the committing term */
    size_t n_acked, cap_acked;
    uint64_t max_term;
    uint64_t leaderships; /* became-leader events */
    uint64_t appends, appends_ok;
    uint64_t client_seq;
    uint64_t client_every; /* µs between client appends; 0 = no client */
    /* The watch: the first virtual time at which one coordinator other than
     * node watch_not is known to every up node, checked whenever a view can
     * change (after every election step and membership change), so the
     * scenarios' times are exact, not sampled. */
    uint8_t watching;
    uint32_t watch_not; /* TSC_SIM_NONE: any coordinator */
    uint8_t watch_all;  /* every node of the world must be up (first election) */
    uint64_t watch_at;
};

/* Start watching for agreement on a coordinator other than node `not`
 * (TSC_SIM_NONE: any), with all_up: only once every node has started;
 * checks at once. */
void tsc_sim_coord_watch(struct tsc_sim_world *w, uint32_t not_this, int all_up);
/* Predicate: the watch has seen its agreement (co->watch_at is set). */
int tsc_sim_coord_watch_done(struct tsc_sim_world *w, void *unused);

/* The lease for a drift bound: the old leader's lease (lease/r_min real
 * time) must end before a follower that answered it may vote for someone
 * else (T_min/r_max real time), so lease <= T_min (1-drift)/(1+drift). */
uint64_t tsc__sim_coord_lease(uint64_t election_timeout_min, double drift);

/* Enable the election on world w (before any node starts). voters >= 1,
 * drift in [0, 0.1); lease_us: 0 for tsc__sim_coord_lease(). client_every_us: period of the
 * client's appends (0: none). 0, TSC_EINVAL or TSC_ENOMEM with errmsg. */
int tsc_sim_coord_enable(struct tsc_sim_world *w, uint32_t voters, double drift, uint64_t lease_us,
                         uint64_t client_every_us, char *errmsg);
/* Free every engine, disk and table of the election (world teardown). */
void tsc__sim_coord_world_free(struct tsc_sim_world *w);

/* Life cycle hooks called by node.c (no-ops without an election). */
int tsc__sim_coord_start(struct tsc_sim_world *w, uint32_t i);
void tsc__sim_coord_crash(struct tsc_sim_world *w, uint32_t i);
int tsc__sim_coord_leave(struct tsc_sim_world *w, uint32_t i);
/* Node i's membership changed (its SWIM engine reported changes). */
int tsc__sim_coord_membership(struct tsc_sim_world *w, uint32_t i);
/* Add role voter and the coordinator labels to node i's meta. */
void tsc__sim_coord_meta(struct tsc_sim_world *w, uint32_t i, struct tsc_meta *m);

/* World hooks (world.c): a RAFT frame for node i, an ETICK, the client. */
int tsc__sim_coord_deliver(struct tsc_sim_world *w, uint32_t i, uint32_t from, int stream,
                           const uint8_t *data, size_t len);
int tsc__sim_coord_tick(struct tsc_sim_world *w, uint32_t i);
int tsc__sim_coord_client(struct tsc_sim_world *w);

/* Node i's local clock at virtual time t (monotonic per node). */
uint64_t tsc__sim_coord_local(struct tsc_sim_world *w, uint32_t i, uint64_t t);
/* Change node i's clock rate from now on, keeping its local clock continuous. */
void tsc_sim_coord_set_rate(struct tsc_sim_world *w, uint32_t i, double rate);

/* Node i is an acting coordinator (leader inside its lease, not leaving),
 * as tsc__coord_acting in tscd. */
int tsc__sim_coord_acting(struct tsc_sim_world *w, uint32_t i);
/* EV_APPEND on node i if it acts (else *result = TSC_ESTATE); *result is the
 * engine's answer. 0 or a fatal error. */
int tsc__sim_coord_append(struct tsc_sim_world *w, uint32_t i, const uint8_t *data, size_t len,
                          int *result);

/* The coordinator node i recognises (0: none); *term its term. */
uint64_t tsc_sim_coord_view(struct tsc_sim_world *w, uint32_t i, uint64_t *term);

/* ---- coord_check.c ---- */

/* After every election step of node i: persistence, election safety,
 * committed records, acting leaders. */
void tsc__sim_coord_after_step(struct tsc_sim_world *w, uint32_t i,
                               const struct tsc_election_update *up);
/* After every fault (crash, restart, partition, heal): which voters can
 * still exchange messages (the links the acting check needs). */
void tsc_sim_coord_reach_update(struct tsc_sim_world *w);
/* The node index of the one coordinator every up node knows, or
 * TSC_SIM_NONE. The coordinator must be a leader inside its lease and no
 * other up node may be a leader. */
uint32_t tsc_sim_coord_agreed(struct tsc_sim_world *w);
/* Predicate for tsc_sim_world_run: tsc_sim_coord_agreed != NONE. */
int tsc_sim_coord_agreed_pred(struct tsc_sim_world *w, void *unused);
/* Like agreed_pred, and the leader's voter set has all `voters` nodes. */
int tsc_sim_coord_ready_pred(struct tsc_sim_world *w, void *unused);
/* End-of-run checks: every up node's committed prefix is the acked one. */
void tsc_sim_coord_verify(struct tsc_sim_world *w);
/* Why there is no agreed coordinator, for a violation message. */
void tsc_sim_coord_explain(struct tsc_sim_world *w, char *buf, size_t len);

#endif
