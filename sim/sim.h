/* tsc — tscsim, the deterministic simulator: scenarios over thousands of
 * virtual nodes running the real SWIM engine, with a virtual clock, a
 * network model, injected faults and invariant checks.
 *
 *   tscsim converge  --nodes N --seed S [--loss P]
 *   tscsim crash     --nodes N --kill K --seed S [--loss P] [--duration SECONDS]
 *   tscsim partition --nodes N --seed S
 *   tscsim campaign  --seeds A..B --nodes N [--voters V] [--drift EPS]
 *   tscsim election  --nodes N --voters V --seed S
 *   tscsim failover  --nodes N --voters V --seeds A..B
 *   tscsim campaign  --runs ...        (runs and stage barriers under faults)
 *   tscsim barrier   --participants N --seed S [--cases C]
 *
 * This header is what main.c, the tests and bench_sim.c use: parse options,
 * run a scenario into a result, print the result (one JSON object with
 * --json). Everything below links only tsc_gossip, tsc_barrier, tsc_wire and
 * tsc_common: never libuv, RocksDB or libvirt. */
#ifndef TSC_SIM_SIM_H
#define TSC_SIM_SIM_H

#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

enum tsc_sim_scenario {
    TSC_SIM_CONVERGE = 1,
    TSC_SIM_CRASH,
    TSC_SIM_PARTITION,
    TSC_SIM_CAMPAIGN,
    TSC_SIM_ELECTION,
    TSC_SIM_FAILOVER,
    TSC_SIM_BARRIER,
    TSC_SIM_SCENARIO_MAX = TSC_SIM_BARRIER
};

enum tsc_sim_crypto {
    TSC_SIM_CRYPTO_CHEAP = 0, /* tsc_crypto_cheap: real codec, keyed hashes */
    TSC_SIM_CRYPTO_SODIUM,    /* tsc_crypto_sodium: the real thing */
};

struct tsc_sim_opts {
    int scenario;        /* enum tsc_sim_scenario */
    uint32_t nodes;      /* default 100 (campaign: 20) */
    uint64_t seed;       /* default 1 */
    uint64_t seed_first; /* campaign: --seeds A..B (default 1..10) */
    uint64_t seed_last;
    double loss;       /* datagram loss in [0, 1) */
    double dup;        /* datagram duplication in [0, 1) */
    uint32_t kill;     /* crash: nodes to kill (default 1) */
    double duration_s; /* crash: virtual seconds after the kill (default 30);
                          campaign: seconds of faults per seed (default 20) */
    double settle_s;   /* after bootstrap, before measuring (default 5) */
    int json;
    int crypto;                 /* enum tsc_sim_crypto */
    uint64_t probe_interval_ms; /* 0: the engine's default (200 ms) */
    const char *trace_path;     /* NULL: no trace */
    int verbose;                /* progress on stderr */
    int help;                   /* --help was given */
    uint32_t voters;            /* election: nodes 0..voters-1 have role voter; 0 = no
                                   election (default 0, campaign 5, election/failover 3) */
    double drift;               /* clock-rate bound: rates in [1-drift, 1+drift] (default 0.01) */
    uint64_t lease_us;          /* 0: from the drift bound (sim/coord.h) */
    int runs;                   /* campaign --runs: runs and stage barriers (sim/runs.h) */
    uint32_t cases;             /* barrier: test cases of the run (default 4: 14 stages) */
};

/* Defaults for a scenario (0 = converge). */
void tsc_sim_opts_default(struct tsc_sim_opts *o, int scenario);

/* Parse argv (argv[0] is the program, argv[1] the scenario). Returns 0, or
 * TSC_EINVAL with a message for the user in errmsg. --help sets o->help. */
int tsc_sim_args_parse(struct tsc_sim_opts *o, int argc, char **argv, char *errmsg);

/* Usage text. */
void tsc_sim_usage(FILE *f);

#define TSC_SIM_TEXT 512
/* barrier: participants of its one run (= nodes), as the run log allows */
#define TSC_SIM_MAX_PARTICIPANTS 4096
#define TSC_SIM_KINDS            24

/* Name of a violation kind, index of violations_by_kind ("self_suspect");
 * "?" beyond the last. */
const char *tsc_sim_violation_name(int kind);

struct tsc_sim_result {
    /* Every scenario. */
    uint64_t events; /* simulator events processed */
    double wall_s;
    double events_per_s; /* events / wall_s */
    double virtual_s;    /* virtual time simulated */
    uint64_t trace_hash; /* running hash of every delivery and fault */
    uint64_t violations; /* invariant violations (must be 0) */
    char first_violation[TSC_SIM_TEXT];
    uint64_t violations_by_kind[TSC_SIM_KINDS]; /* see tsc_sim_violation_name */
    uint64_t sent_msgs, sent_bytes, delivered_msgs;
    double bootstrap_s;      /* virtual time until everyone saw everyone alive */
    double quiesce_s;        /* then until the bootstrap's gossip had drained */
    int ok;                  /* the scenario's goal was reached and no violation */
    char note[TSC_SIM_TEXT]; /* why not ok */
    /* converge */
    int rounds_99, rounds_9999, rounds_100; /* gossip_interval periods; -1 never */
    double seconds_99, seconds_9999, seconds_100;
    double msgs_per_node_per_s, bytes_per_node_per_s;
    /* crash */
    uint32_t killed, detected;
    double detect_p50_s, detect_max_s; /* -1 when some kill was not detected */
    uint64_t false_positives;          /* (observer, live node) pairs ever dead */
    uint64_t suspicions;               /* live nodes seen suspect (refuted) */
    /* partition */
    double detect_s, reconverge_s;
    uint64_t heal_dead_marks; /* "dead" marks right after healing */
    /* election, failover, campaign */
    double first_coordinator_s; /* start until every live member knows one coordinator */
    uint64_t term;              /* the coordinator's term at the end */
    double failover_p50_s, failover_p99_s, failover_max_s;
    uint64_t failovers; /* failover: measured; campaign: leaderships after the first */
    uint64_t appends;   /* client records offered to an acting coordinator */
    uint64_t acked;     /* committed entries (every type) */
    uint64_t lease_us;  /* the lease the engines ran with */
    /* campaign */
    uint64_t seeds, failing_seeds, faults;
    int has_failing;
    uint64_t first_failing_seed;
    char replay[TSC_SIM_TEXT];
    /* runs (campaign --runs, barrier) */
    uint64_t runs_submitted, runs_finished, runs_passed, runs_failed, runs_cancelled;
    uint64_t stage_spawns, stages_decided, stages_lost;
    uint64_t coord_kills_mid_run; /* campaign: kill -9 of the coordinator during a run */
    uint64_t starts_fenced;       /* STARTs/CANCELs of a stale term dropped by participants */
    uint64_t reports_rejected;    /* REPORTs from a machine the coordinator did not know */
    /* barrier: stage transitions s -> s+1, each (last participant starts
     * s+1) - (last participant finished s); rtt_us is the network model's
     * round trip (2 x the median one-way latency) the _rtt figures use */
    uint64_t transitions;
    double transition_p50_s, transition_p99_s, transition_max_s;
    double transition_p50_rtt, transition_p99_rtt, transition_max_rtt;
    double rtt_us;
    double run_s; /* SUBMIT committed to the run's last STAGE record applied */
    /* p50 of the transition's parts, in RTT: last finish -> STAGE proposed
     * (the reports), proposed -> committed, committed -> last START */
    double report_p50_rtt, commit_p50_rtt, start_p50_rtt;
    /* round_us: p50 of one request/response round with every participant
     * in the same network model (max over participants of two one-way
     * latencies): what one "network round trip" costs at this size; the
     * _rounds figures are transitions in that unit */
    double round_us;
    double transition_p50_rounds, transition_p99_rounds, transition_max_rounds;
};

/* Run the scenario o->scenario. The result is filled even when the goal was
 * not reached (r->ok, r->note). Returns 0, or an error that stopped the run
 * (TSC_ENOMEM, TSC_EIO for the trace file, an engine failure) with errmsg. */
int tsc_sim_run(const struct tsc_sim_opts *o, struct tsc_sim_result *r, char *errmsg);

/* Each scenario on its own (tsc_sim_run dispatches to these). */
int tsc_sim_converge(const struct tsc_sim_opts *o, struct tsc_sim_result *r, char *errmsg);
int tsc_sim_crash(const struct tsc_sim_opts *o, struct tsc_sim_result *r, char *errmsg);
int tsc_sim_partition(const struct tsc_sim_opts *o, struct tsc_sim_result *r, char *errmsg);
int tsc_sim_campaign(const struct tsc_sim_opts *o, struct tsc_sim_result *r, char *errmsg);
int tsc_sim_election(const struct tsc_sim_opts *o, struct tsc_sim_result *r, char *errmsg);
int tsc_sim_failover(const struct tsc_sim_opts *o, struct tsc_sim_result *r, char *errmsg);
int tsc_sim_barrier(const struct tsc_sim_opts *o, struct tsc_sim_result *r, char *errmsg);

/* Print r: one JSON object on one line with o->json, "key: value" lines
 * otherwise. */
void tsc_sim_report(FILE *f, const struct tsc_sim_opts *o, const struct tsc_sim_result *r);

/* The scenario's name ("converge"), or NULL. */
const char *tsc_sim_scenario_name(int scenario);

#endif
