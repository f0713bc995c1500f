/* tsc — the simulated world: N nodes, each running the real SWIM engine
 * (gossip/gossip.h), a virtual clock, the event heap and the network model.
 *
 * One world is one deterministic run: everything random is drawn from the
 * world's PRNG or from seeds derived from the world seed, nothing reads a
 * clock, and events that are due at the same virtual microsecond run in the
 * order they were scheduled. The same config therefore gives a bit-identical
 * sequence of deliveries; trace_hash summarises it.
 *
 * Node i has address 198.18.(i>>8).(i&255):7946 and a keypair derived from
 * (seed, i). The world tracks, from the engines' change lists, what every
 * node believes about every other node (one packed word per pair), and
 * checks the invariants of sim/invariants.c after every step. */
#ifndef TSC_SIM_WORLD_H
#define TSC_SIM_WORLD_H

#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/prng.h"
#include "gossip/gossip.h"
#include "sim/heap.h"
#include "sim/net.h"
#include "wire/frame.h"

#define TSC_SIM_PORT      7946
#define TSC_SIM_NET_BASE  0xC6120000u /* 198.18.0.0; the /15 holds 131072 nodes */
#define TSC_SIM_MAX_NODES 131072u
#define TSC_SIM_NONE      UINT32_MAX

/* A pair's view: status in the low 3 bits (7 = unknown), incarnation above. */
#define TSC_SIM_UNKNOWN       7u
#define TSC_SIM_VIEW(inc, st) ((uint32_t)((inc) << 3) | (uint32_t)(st))
#define TSC_SIM_VIEW_ST(v)    ((v)&7u)
#define TSC_SIM_VIEW_INC(v)   ((uint64_t)((v) >> 3))
#define TSC_SIM_INC_MAX       ((1ull << 29) - 1)

enum tsc_sim_node_state {
    TSC_SIM_NODE_NEW = 0, /* never started */
    TSC_SIM_NODE_UP,
    TSC_SIM_NODE_DOWN, /* crashed, or stopped after leaving */
};

struct tsc_sim_node {
    struct tsc_gossip *g; /* NULL unless up */
    uint64_t id;
    struct tsc_addr addr;
    uint8_t pk[TSC_PK_BYTES];
    uint8_t sk[TSC_SK_BYTES];
    uint64_t deadline;     /* the engine's next deadline */
    uint64_t tick_at;      /* time of the pending TICK event, or TSC_TIME_NEVER */
    uint64_t self_inc;     /* highest incarnation this node gave itself */
    uint64_t life_inc;     /* the incarnation its current life started with */
    uint64_t bad_seen;     /* rejected auth+sig+malformed+cluster, last looked at */
    uint32_t lives;        /* engines created for it so far */
    uint32_t n_alive;      /* up observers (not itself) that see it alive */
    uint32_t n_susp;       /* ... suspect */
    uint32_t n_gone;       /* ... dead or left */
    uint32_t meta_version; /* bumped by SET_META */
    uint8_t state;         /* enum tsc_sim_node_state */
    uint8_t leaving;       /* LEAVE sent, waiting for leave_done */
    uint8_t left;          /* stopped after a graceful leave */
};

/* A message in flight; one slot may back two deliveries (duplication). */
struct tsc_sim_msg {
    uint8_t *data;
    uint32_t len;
    uint32_t cap;
    uint32_t refs;
    uint32_t next_free;
};

struct tsc_sim_world_config {
    uint64_t seed;
    uint32_t nodes;
    const struct tsc_crypto *crypto;
    struct tsc_gossip_config gossip;
    struct tsc_sim_net_config net;
    FILE *trace; /* borrowed; NULL for none */
};

struct tsc_sim_world;
struct tsc_sim_coord; /* sim/coord.h: the election, when enabled */
struct tsc_sim_runs;  /* sim/runs.h: runs and stage barriers, when enabled */

/* Called after every change the world records: observer obs now holds
 * (new_st, new_inc) for subject subj where it held (old_st, old_inc) (old_st
 * TSC_SIM_UNKNOWN: did not know it). */
typedef void (*tsc_sim_change_fn)(struct tsc_sim_world *w, uint32_t obs, uint32_t subj,
                                  unsigned old_st, uint64_t old_inc, unsigned new_st,
                                  uint64_t new_inc, void *arg);

/* A predicate checked at fixed virtual intervals by tsc_sim_world_run. */
typedef int (*tsc_sim_pred_fn)(struct tsc_sim_world *w, void *arg);

enum tsc_sim_violation_kind {
    TSC_SIM_V_SELF_SUSPECT = 0, /* a node sees itself suspect or dead */
    TSC_SIM_V_INC_DECREASE,     /* an observer's incarnation for a subject went down */
    TSC_SIM_V_TRANSITION,       /* illegal status change at the same incarnation */
    TSC_SIM_V_CHANGE_MISMATCH,  /* a change's old_status is not what it reported before */
    TSC_SIM_V_TOO_MANY,         /* more members than nodes ever created */
    TSC_SIM_V_UNKNOWN_ID,       /* a member id that is no node of the world */
    TSC_SIM_V_REJECTED,         /* a frame/record the engine rejected as bad */
    TSC_SIM_V_VIEW_MISMATCH,    /* the engine's view differs from its change list */
    TSC_SIM_V_NOT_CONVERGED,    /* no convergence after faults stopped */
    TSC_SIM_V_ENGINE_ERROR,     /* the engine returned an error */
    TSC_SIM_V_TWO_LEADERS,      /* two leaders in one term */
    TSC_SIM_V_ACKED,            /* a committed record lost or changed */
    TSC_SIM_V_ACTING,           /* two acting coordinators, or one without a majority */
    TSC_SIM_V_NO_COORD,         /* no single known coordinator after faults stopped */
    TSC_SIM_V_STORE,            /* the election's persistence contract broken */
    TSC_SIM_V_BARRIER,          /* a stage started before the one before it was over */
    TSC_SIM_V_TWICE,            /* a node started the same (run, stage) twice */
    TSC_SIM_V_DECIDED,          /* a decided stage differs, or a decision is untrue */
    TSC_SIM_V_RUN_STUCK,        /* a run did not finish after the faults stopped */
    TSC_SIM_V_MAX
};

struct tsc_sim_world {
    struct tsc_sim_world_config cfg;
    struct tsc_prng prng;
    struct tsc_wire wire;
    uint64_t now;
    uint32_t n;         /* nodes that can exist */
    uint32_t n_created; /* nodes started at least once */
    uint32_t n_up;
    struct tsc_sim_node *nodes;
    uint32_t *view;       /* n*n packed views, row = observer */
    uint64_t alive_pairs; /* (up observer, other up subject) pairs seen alive */

    uint64_t *map_id; /* open addressing id -> node index */
    uint32_t *map_idx;
    uint32_t map_mask;

    struct tsc_sim_heap heap;
    struct tsc_sim_net net;
    struct tsc_sim_msg *msgs;
    uint32_t n_msgs, cap_msgs, free_msg;
    struct tsc_buf meta;    /* scratch for encoded meta */
    struct tsc_buf scratch; /* for opening frames for the trace */

    /* Counters. */
    uint64_t events, steps;
    uint64_t sent_msgs, sent_bytes; /* every datagram/stream an engine emitted */
    uint64_t delivered_msgs, delivered_bytes;
    uint64_t unroutable; /* sent to an address that is no node */
    uint64_t trace_hash;
    FILE *trace;

    /* Invariants. */
    uint64_t violations;
    uint64_t by_kind[TSC_SIM_V_MAX];
    char first_violation[512];

    struct tsc_sim_coord *coord; /* NULL: no election */
    struct tsc_sim_runs *runs;   /* NULL: no runs */

    tsc_sim_change_fn on_change;
    void *change_arg;

    int err; /* fatal: the run cannot continue */
    char errmsg[TSC_ERRMSG_SIZE];
};

/* ---- world.c ---- */

/* Create a world with cfg->nodes possible nodes, none started. Returns 0,
 * TSC_EINVAL or TSC_ENOMEM with errmsg. */
int tsc_sim_world_new(struct tsc_sim_world **out, const struct tsc_sim_world_config *cfg,
                      char *errmsg);

/* Free every engine, message and table. NULL is fine. */
void tsc_sim_world_free(struct tsc_sim_world *w);

/* Schedule a control event (START, JOIN, ...) at time t. 0 or TSC_ENOMEM. */
int tsc_sim_world_schedule(struct tsc_sim_world *w, uint64_t t, uint32_t kind, uint32_t node,
                           uint32_t from, uint32_t arg);

/* Run events in order until virtual time `until` (inclusive), or until pred
 * (checked every check_us, and once at the start) returns nonzero. *met is
 * set to 1 in the latter case (met may be NULL). w->now is left at the
 * stopping time. Returns 0 or the fatal error (w->errmsg). */
int tsc_sim_world_run(struct tsc_sim_world *w, uint64_t until, tsc_sim_pred_fn pred, void *arg,
                      uint64_t check_us, int *met);

/* Node index of an address, or TSC_SIM_NONE. */
uint32_t tsc_sim_world_index_of(const struct tsc_sim_world *w, const struct tsc_addr *a);

/* Add a trace line and fold it into trace_hash (fault events and the like). */
void tsc_sim_world_note(struct tsc_sim_world *w, const char *what, uint32_t node, uint64_t arg);

/* Module-internal helpers shared by the files of sim/. */
uint32_t tsc__sim_lookup(const struct tsc_sim_world *w, uint64_t id); /* index or NONE */
void tsc__sim_map_put(struct tsc_sim_world *w, uint64_t id, uint32_t idx);
/* Copy len bytes into a pooled message slot (refs 0); TSC_SIM_NONE on OOM. */
uint32_t tsc__sim_msg_new(struct tsc_sim_world *w, const uint8_t *data, size_t len);
/* Put len bytes from node i on the network to address `to` (copied). 0 or
 * TSC_ENOMEM. */
int tsc__sim_send(struct tsc_sim_world *w, uint32_t i, const struct tsc_addr *to, int stream,
                  const uint8_t *data, size_t len);
/* A TICK came due for node i: step it, or re-arm if its deadline moved. */
int tsc__sim_node_tick(struct tsc_sim_world *w, uint32_t i);

/* ---- node.c ---- */

/* Create node i's engine now (first start or restart after a crash) and,
 * unless `first`, nothing else; joining is separate. 0 or an error (fatal). */
int tsc_sim_node_start(struct tsc_sim_world *w, uint32_t i);

/* Join node i through `pref` (a node index or TSC_SIM_NONE) and random up
 * nodes, k targets in all. Does nothing when no other node is up. */
int tsc_sim_node_join(struct tsc_sim_world *w, uint32_t i, uint32_t pref, unsigned k);

/* Crash node i: its engine is freed without a word; its messages in flight
 * still arrive, messages to it are lost. */
void tsc_sim_node_crash(struct tsc_sim_world *w, uint32_t i);

/* Restart a crashed node with its old identity, a higher incarnation and a
 * sequence start above every one it used, then join 3 random up nodes; while
 * it stays alone it retries every few seconds (an agent rejoins its stored
 * members the same way). */
int tsc_sim_node_restart(struct tsc_sim_world *w, uint32_t i);

/* Graceful leave: LEAVE now, stop when the engine says the announcement went
 * out (or after a bound). */
int tsc_sim_node_leave(struct tsc_sim_world *w, uint32_t i);

/* Change node i's readiness meta (bumps its incarnation). */
int tsc_sim_node_set_meta(struct tsc_sim_world *w, uint32_t i);

/* Step node i's engine with ev and apply the update (route messages, record
 * changes, check invariants, reschedule). 0 or a fatal error. */
int tsc_sim_node_step(struct tsc_sim_world *w, uint32_t i, struct tsc_gossip_event *ev);

/* A uniformly random up node other than `not`, or TSC_SIM_NONE. */
uint32_t tsc_sim_pick_up(struct tsc_sim_world *w, uint32_t not_this);

/* ---- invariants.c ---- */

/* Record one change reported by observer obs's engine and check it. */
void tsc_sim_inv_change(struct tsc_sim_world *w, uint32_t obs, const struct tsc_gossip_change *c);

/* Per-step checks on node i after a step (member count, rejected input). */
void tsc_sim_inv_after_step(struct tsc_sim_world *w, uint32_t i);

/* Count a violation; the first one's text is kept. */
void tsc_sim_violation(struct tsc_sim_world *w, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Forget observer i's row (its engine is gone), keeping the counters right. */
void tsc_sim_inv_drop_row(struct tsc_sim_world *w, uint32_t i);

/* Compare every up engine's member list with the tracked views; count
 * mismatches as violations. O(n^2). */
void tsc_sim_inv_verify_views(struct tsc_sim_world *w);

/* 1 when every up node sees every other up node alive, and no up node sees
 * a down node alive or suspect. */
int tsc_sim_converged(struct tsc_sim_world *w, void *unused);

/* 1 when every up node sees every other up node alive. */
int tsc_sim_all_alive(struct tsc_sim_world *w, void *unused);

/* Describe (into buf) one pair that keeps the world from converging. */
void tsc_sim_inv_explain(struct tsc_sim_world *w, char *buf, size_t len);

/* Name of a violation kind ("self_suspect"). */
const char *tsc_sim_violation_name(int kind);

#endif
