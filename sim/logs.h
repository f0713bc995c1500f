/* tsc — log shipping in the simulator (issue "Logs"): the real shipping
 * engine (logsync/ship.h) on every agent and the real sink (logsync/sink.h)
 * on the coordinator, under coordinator crash and failover, partitions,
 * agent restarts, loss, duplication and delay.
 *
 *   tscsim campaign --logs --seeds A..B [--nodes N] [--duration S] [--json]
 *
 * The model (a world of its own, next to the SWIM world of sim/world.h; it
 * reuses the event heap and the network model):
 *  - N agents (--nodes, default 5), each with a tsc_logship engine and, per
 *    run, a durable record list (LOGLOCAL: written before EV_PRODUCED, kept
 *    across crashes), a vector clock and a Lamport time made as
 *    agent/logs.c makes them (receive: merge the carried clock and L =
 *    max(L, carried); tick; L + 1). Records come at random times (and in
 *    bursts); now and then a record is a SEND whose clock travels to another
 *    participant in a LOG_MSG stream frame, which records a RECV. An ACK
 *    moves L up to the sink's Lamport time; the promise a batch carries is
 *    written to the agent's store before the batch goes out, and a
 *    restarted agent takes L = max(last record, stored promise).
 *  - 3 voter nodes with a durable store each; one of them is the sink. The
 *    election is scripted, not simulated: a kill -9 of the sink, a partition
 *    that cuts it from both other voters, or a step-down makes another up
 *    voter the sink after an election delay, with epoch = term + 1
 *    (strictly increasing). A voter runs a tsc_logsink engine only while it
 *    is the sink: taking over creates it and restores it from the voter's
 *    store (EV_RESTORE), then EV_NODES / EV_RUN_END for the runs; stepping
 *    down lets its submitted writes finish and frees it. A write becomes
 *    durable after a random store latency, in submission order (one WAL),
 *    and EV_DURABLE is stepped then; a crash loses writes not yet durable.
 *    Each agent hears of a new sink (EV_SINK) after its own gossip delay.
 *  - LOG_BATCH and LOG_MSG are streams (a connection per frame, as tscd),
 *    lost when a partition or a crash separates the ends, reordered by their
 *    latencies; LOG_ACK is a datagram (loss, duplication).
 *  - 3 runs per seed with random participants; two end while the faults
 *    last, the third when they stop; a run's end closes its streams
 *    (EV_CLOSE, also after an agent restart) and is EV_RUN_END at the sink.
 *  - The merge's bounds (max_wait, gap_wait, run_end_wait) are set above the
 *    longest outage a schedule can make, so any merge error is a bug; with
 *    the defaults (5 s, 2 s, 10 s) a long partition explains GAP, LATE and
 *    MISSING_PAST by design.
 *
 * Invariants (logs_check.c), with the seed and the last faults:
 *  1. no voter's store ever holds one (run, node, seq) twice, nor two
 *     records at one index;
 *  2. an ACK's `have` is covered by its voter's durable store (records, or a
 *     stored GAP that passed over them) when it is sent;
 *  3. at the end (healed, every node up, one sink, every run over and
 *     quiet) the final sink's store holds every produced record exactly
 *     once, byte for byte, at indices 1..n of its run, in an order that is
 *     a linear extension of the causal order;
 *  4. no merge error, except, with a record dropped on purpose, the GAP
 *     over it (which must appear) and MISSING_PAST naming it.
 *
 * Internal to the simulator library. */
#ifndef TSC_SIM_LOGS_H
#define TSC_SIM_LOGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/prng.h"
#include "logsync/merge.h"
#include "logsync/ship.h"
#include "logsync/sink.h"
#include "logsync/vclock.h"
#include "sim/heap.h"
#include "sim/net.h"

#define TSC_SIM_LOGS_VOTERS     3
#define TSC_SIM_LOGS_RUNS       3
#define TSC_SIM_LOGS_MAX_AGENTS 64
#define TSC_SIM_LOGS_NONE       UINT32_MAX

/* ---- the public side: options, result, campaign, report ------------------------- */

struct tsc_sim_logs_opts {
    uint64_t seed_first, seed_last; /* --seeds A..B (default 1..10) */
    uint32_t agents;                /* --nodes (default 5) */
    double duration_s;              /* virtual seconds of faults per seed (default 20) */
    int json, verbose;
    const char *trace_path; /* NULL: no trace */
    /* Deliberate trouble (tests): drop record (run index drop_run, agent
     * drop_agent, seq drop_seq) from every batch forever (drop_seq 0: none);
     * agents that forget their promise when they restart (a driver bug the
     * checks must catch); no faults at all. */
    uint32_t drop_run, drop_agent;
    uint64_t drop_seq;
    int forget_promise;
    int no_faults;
    /* The sink's merge bounds as tscd has them (tsc_logsink_config_default)
     * instead of above the longest outage (--merge-defaults): errors and
     * GAP-skipped records that long outages explain show up as violations. */
    int merge_defaults;
};

void tsc_sim_logs_opts_default(struct tsc_sim_logs_opts *o);

enum tsc_sim_logs_violation {
    TSC_SIM_LV_TWICE = 0,   /* a store holds a (run, node, seq) twice, or reuses an index */
    TSC_SIM_LV_ACK,         /* an ACK covers a record its store does not hold */
    TSC_SIM_LV_LOST,        /* a produced record missing from the final store */
    TSC_SIM_LV_CHANGED,     /* stored bytes differ from the agent's */
    TSC_SIM_LV_HOLE,        /* merged indices of a run are not 1..n */
    TSC_SIM_LV_ORDER,       /* merged order is not a linear extension of causality */
    TSC_SIM_LV_MERGE_ERROR, /* a merge error the scenario does not explain */
    TSC_SIM_LV_NO_GAP,      /* a record dropped on purpose was not reported */
    TSC_SIM_LV_STUCK,       /* not finished and quiet after the faults */
    TSC_SIM_LV_ENGINE,      /* an engine or codec refused honest input */
    TSC_SIM_LV_MAX
};

/* "stored_twice", ...; "?" beyond the last. */
const char *tsc_sim_logs_violation_name(int kind);

struct tsc_sim_logs_result {
    uint64_t seeds, failing_seeds, first_failing_seed;
    int has_failing, ok;
    uint64_t events, trace_hash;
    double virtual_s, wall_s;
    uint64_t records;  /* produced */
    uint64_t stored;   /* in the final sinks' stores */
    uint64_t dropped;  /* dropped on purpose */
    uint64_t messages; /* SEND -> RECV pairs delivered */
    uint64_t batches, batches_lost, acks, acks_lost, resent, probes;
    uint64_t failovers, sink_kills, voter_crashes, agent_restarts, partitions, faults;
    uint64_t merge_errors, gaps; /* errors the sinks emitted; GAPs among them */
    uint64_t violations, by_kind[TSC_SIM_LV_MAX];
    char first_violation[1024];
    char replay[256];
    char note[256];
};

/* Every seed of o: one world each, faults, the end checks. r is reset.
 * 0, or an error that stopped the campaign (TSC_ENOMEM, TSC_EIO for the
 * trace) with errmsg; violations are in r. */
int tsc_sim_logs_campaign(const struct tsc_sim_logs_opts *o, struct tsc_sim_logs_result *r,
                          char *errmsg);

/* One JSON object on one line (o->json), or "key: value" lines. */
void tsc_sim_logs_report(FILE *f, const struct tsc_sim_logs_opts *o,
                         const struct tsc_sim_logs_result *r);

/* `tscsim campaign --logs ...` (main.c): the exit status (0 ok, 1 a
 * violation, 2 bad command line, 3 the run failed), or -1 when argv is not
 * a campaign --logs (main goes on as before). The other campaign flags keep
 * their meaning (--nodes: agents, default 5; --seeds, --duration, --json,
 * --verbose, --trace); the election's and --runs do not apply. */
int tsc_sim_logs_main(int argc, char **argv);

/* ---- the world (internal) -------------------------------------------------------- */

enum tsc_sim_logs_ev {
    TSC_SIM_LEV_ATICK = 1, /* an agent's ship deadline (from: life) */
    TSC_SIM_LEV_VTICK,     /* a voter's sink deadline (from: life) */
    TSC_SIM_LEV_DURABLE,   /* a voter's oldest write is durable (from: life) */
    TSC_SIM_LEV_DELIVER,   /* message slot msg arrives */
    TSC_SIM_LEV_PRODUCE,   /* an agent makes records */
    TSC_SIM_LEV_SINKINFO,  /* agent node hears of sink change msg (index of w->sinks) */
    TSC_SIM_LEV_ARESTART,  /* an agent comes back */
    TSC_SIM_LEV_VRESTART,  /* a voter comes back */
    TSC_SIM_LEV_ELECT,     /* the election after a sink loss ends (msg: its number) */
    TSC_SIM_LEV_RUN,       /* run msg starts (from 0) or ends (from 1) */
};

enum { TSC_SIM_LMSG_BATCH = 1, TSC_SIM_LMSG_ACK, TSC_SIM_LMSG_MSG };

/* A message in flight (one slot per copy). */
struct tsc_sim_lmsg {
    uint8_t *data;
    uint32_t len, cap;
    uint32_t from, to, to_life;
    uint8_t kind, stream;
    uint32_t next_free;
};

struct tsc_sim_lrec {
    uint8_t *enc;
    uint32_t len;
};

/* One (agent, run): durable part (the store's LOGLOCAL) and volatile part. */
struct tsc_sim_lstream {
    struct tsc_sim_lrec *recs; /* seq s at recs[s - 1] */
    size_t n, cap;
    uint64_t promise_saved; /* highest promise sent (stored first) */
    int closed;             /* EV_CLOSE given (stored) */
    /* volatile: lost with the process, rebuilt from the records */
    struct tsc_vclock clock;
    uint64_t lamport;
    int loaded;
};

struct tsc_sim_lagent {
    struct tsc_logship *ship; /* NULL while down */
    uint64_t id;
    uint32_t life;
    int up;
    uint64_t epoch; /* of the sink it knows */
    uint32_t sink;  /* voter index it knows, or NONE */
    uint64_t deadline, tick_at;
    struct tsc_sim_lstream st[TSC_SIM_LOGS_RUNS];
    struct tsc_prng prng;
};

struct tsc_sim_lrun {
    uint64_t id;
    uint8_t part[TSC_SIM_LOGS_MAX_AGENTS];
    uint64_t nodes[TSC_SIM_LOGS_MAX_AGENTS];
    size_t n_nodes;
    uint64_t start_at, end_at;
    uint64_t start_epoch; /* of the sink that started it: an agent takes part once it knows it */
    int started, ended;
};

/* One stored merged record of a voter's store. */
struct tsc_sim_lsrec {
    uint64_t node, seq;
    uint8_t *enc;
    uint32_t len;
};

/* Per (run, agent) in a store: seq -> index (0: none, UINT64_MAX: passed
 * over by a stored GAP), and how far 1..contig is all covered. */
struct tsc_sim_lmark {
    uint64_t *idx;
    size_t cap;
    uint64_t contig;
};

/* A voter's durable store: LOGS, LOGMETA rows and errors. */
struct tsc_sim_lstore {
    struct tsc_sim_lsrec *recs[TSC_SIM_LOGS_RUNS]; /* index i at [i - 1] */
    size_t n_recs[TSC_SIM_LOGS_RUNS], cap_recs[TSC_SIM_LOGS_RUNS];
    struct tsc_logmerge_error *errs[TSC_SIM_LOGS_RUNS];
    size_t n_errs[TSC_SIM_LOGS_RUNS], cap_errs[TSC_SIM_LOGS_RUNS];
    struct tsc_logsink_row *rows;
    size_t n_rows, cap_rows;
    struct tsc_sim_lmark *marks; /* [run * agents + agent] */
};

/* One write handed to the store, durable at `at`. */
struct tsc_sim_lwrite {
    uint64_t token, at;
    struct tsc_sim_lsrec *recs;
    uint64_t *rec_run, *rec_index;
    size_t n_recs;
    struct tsc_logmerge_error *errs;
    size_t n_errs;
    struct tsc_logsink_row *rows;
    size_t n_rows;
};

struct tsc_sim_lvoter {
    uint64_t id;
    int up;
    uint32_t life;
    struct tsc_logsink *k; /* only while it is the sink */
    uint64_t deadline, tick_at;
    struct tsc_sim_lstore store;
    struct tsc_sim_lwrite *pending; /* FIFO */
    size_t n_pending, cap_pending;
    uint64_t last_at; /* durable time of the newest pending write */
};

/* A sink change: voter index and epoch. */
struct tsc_sim_lsink {
    uint32_t voter;
    uint64_t epoch;
};

#define TSC_SIM_LOGS_TRACE 12 /* fault lines kept for a violation's report */

struct tsc_sim_lworld {
    const struct tsc_sim_logs_opts *o;
    uint64_t seed;
    struct tsc_prng prng;
    struct tsc_sim_heap heap;
    struct tsc_sim_net net;
    struct tsc_sim_net_config net_cfg; /* calm */
    uint64_t now;
    uint32_t n_agents; /* nodes 0..n_agents-1; voters after them */
    struct tsc_sim_lagent *agents;
    struct tsc_sim_lvoter voters[TSC_SIM_LOGS_VOTERS];
    struct tsc_sim_lrun runs[TSC_SIM_LOGS_RUNS];
    struct tsc_logship_config ship_cfg;
    struct tsc_logsink_config sink_cfg;
    /* sinks[0..n_sinks) in epoch order; the last is current */
    struct tsc_sim_lsink *sinks;
    size_t n_sinks, cap_sinks;
    uint32_t sink;      /* voter acting as sink now, or NONE (election under way) */
    uint32_t elections; /* number of the election under way (ELECT events) */
    struct tsc_sim_lmsg *msgs;
    uint32_t n_msgs, cap_msgs, free_msg;
    struct tsc_buf buf, buf2;
    FILE *trace;
    uint64_t trace_hash;
    char last[TSC_SIM_LOGS_TRACE][112];
    unsigned n_last;
    struct tsc_sim_logs_result *r;
    uint64_t violations;
    int err;
    char errmsg[TSC_ERRMSG_SIZE];
    int final; /* the end checks run: a stuck engine is reported there */
};

/* ---- logs.c: the world, the event loop, the network ---- */

int tsc__sim_logs_new(struct tsc_sim_lworld **out, const struct tsc_sim_logs_opts *o, uint64_t seed,
                      FILE *trace, struct tsc_sim_logs_result *r, char *errmsg);
void tsc__sim_logs_free(struct tsc_sim_lworld *w);
/* Run events up to `until`, or until pred(w) (checked every 100 ms) is 1. */
int tsc__sim_logs_run(struct tsc_sim_lworld *w, uint64_t until,
                      int (*pred)(struct tsc_sim_lworld *), int *met);
/* Put bytes from node `from` to node `to` on the network (copied). */
int tsc__sim_logs_send(struct tsc_sim_lworld *w, uint32_t from, uint32_t to, int kind, int stream,
                       const uint8_t *data, size_t len, int *lost);
/* A trace line (faults, failovers), folded into the hash; the last few are
 * kept for a violation's report. */
void tsc__sim_logs_note(struct tsc_sim_lworld *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A detail line for --trace only (batches, acks, writes); not hashed. */
void tsc__sim_logs_dbg(struct tsc_sim_lworld *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Arm a TICK for node (agent or voter index) at deadline. */
int tsc__sim_logs_arm(struct tsc_sim_lworld *w, int voter, uint32_t i, uint64_t deadline);

/* ---- logs_agent.c: agents ---- */

int tsc__sim_logs_agent_start(struct tsc_sim_lworld *w, uint32_t i);
void tsc__sim_logs_agent_crash(struct tsc_sim_lworld *w, uint32_t i);
int tsc__sim_logs_agent_tick(struct tsc_sim_lworld *w, uint32_t i);
int tsc__sim_logs_agent_produce(struct tsc_sim_lworld *w, uint32_t i);
int tsc__sim_logs_agent_sink(struct tsc_sim_lworld *w, uint32_t i, size_t change);
int tsc__sim_logs_agent_deliver(struct tsc_sim_lworld *w, uint32_t i, const struct tsc_sim_lmsg *m);
/* Run r started (a first EVENT record on each up participant) or ended
 * (streams closed). */
int tsc__sim_logs_agent_run(struct tsc_sim_lworld *w, uint32_t i, uint32_t r, int end);
void tsc__sim_logs_agent_free(struct tsc_sim_lagent *a);

/* ---- logs_sink.c: voters, the store, the sink, failover ---- */

/* Voter v takes over as sink with a new epoch (engine restored from its
 * store); the old sink, if up, steps down. Agents hear of it later. */
int tsc__sim_logs_takeover(struct tsc_sim_lworld *w, uint32_t v);
void tsc__sim_logs_voter_crash(struct tsc_sim_lworld *w, uint32_t v);
int tsc__sim_logs_voter_restart(struct tsc_sim_lworld *w, uint32_t v);
int tsc__sim_logs_voter_tick(struct tsc_sim_lworld *w, uint32_t v);
int tsc__sim_logs_voter_durable(struct tsc_sim_lworld *w, uint32_t v);
int tsc__sim_logs_voter_deliver(struct tsc_sim_lworld *w, uint32_t v, const struct tsc_sim_lmsg *m);
/* Run r ended: EV_RUN_END at the sink. Run r started: EV_NODES. */
int tsc__sim_logs_voter_run(struct tsc_sim_lworld *w, uint32_t r, int end);
/* n_marks: agents * TSC_SIM_LOGS_RUNS */
void tsc__sim_logs_voter_free(struct tsc_sim_lvoter *v, size_t n_marks);
/* Voter index of a node id, or NONE. */
uint32_t tsc__sim_logs_voter_of(const struct tsc_sim_lworld *w, uint64_t id);
/* Agent index of a node id, or NONE. */
uint32_t tsc__sim_logs_agent_of(const struct tsc_sim_lworld *w, uint64_t id);

/* ---- logs_check.c: invariants ---- */

void tsc__sim_logs_violation(struct tsc_sim_lworld *w, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Invariant 1 for one record a write puts into voter v's store. */
void tsc__sim_logs_check_store(struct tsc_sim_lworld *w, uint32_t v, uint32_t r, uint64_t index,
                               const struct tsc_sim_lsrec *x);
/* Invariant 2 for an ACK voter v is about to send. */
void tsc__sim_logs_check_ack(struct tsc_sim_lworld *w, uint32_t v, const struct tsc_logack *a);
/* Invariant 4 for an error a sink emitted. */
void tsc__sim_logs_check_error(struct tsc_sim_lworld *w, uint32_t v,
                               const struct tsc_logmerge_error *e);
/* 1 when the final sink has finished every run and every agent's streams
 * are finished. */
int tsc__sim_logs_quiet(struct tsc_sim_lworld *w);
/* Invariants 3 and 4 on the final sink's store; what keeps it from being
 * quiet when it is not. */
void tsc__sim_logs_check_end(struct tsc_sim_lworld *w, int quiet);
/* Run index of a run id, or NONE. */
uint32_t tsc__sim_logs_run_of(const struct tsc_sim_lworld *w, uint64_t run);

#endif
