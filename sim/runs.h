/* tsc — runs inside the simulator: the stage-barrier engines
 * (barrier/barrier.h) on every simulated node, driven the way tscd drives
 * them (agent/runs.c, agent/participant.c), next to the election
 * (sim/coord.h), which replicates their run-log records.
 *
 * Coordinator side (runs.c), on every node:
 *  - the committed DATA entries the election engine reports go to the
 *    node's barrier engine as EV_APPLY, in the election step that reports
 *    them, before its frames go out (as agent/coord.c);
 *  - after every election step (and on every barrier tick, at least once a
 *    second, as the agent's runs timer), a change of "this node acts as
 *    coordinator" (tsc_election_acting, not leaving) or of its term is
 *    given to the barrier engine as EV_LEADER;
 *  - proposals wait until the election step that produced them has been
 *    consumed, then go to the election engine as EV_APPEND, on the acting
 *    leader only;
 *  - STARTs are rendered from the run's suite (SUBMIT record) and sent, like
 *    CANCELs, as sealed frames on a stream (a TCP connection per frame in
 *    tscd: three one-way latencies in the network model), also to the node
 *    itself (loopback, 50 µs); a REPORT is verified against the sender's key
 *    from membership and given as EV_REPORT; membership's dead/left (and
 *    back) is EV_MEMBER.
 *  - restart: a new barrier engine, rebuilt from the node's election log as
 *    the election engine reports the commits again (the election engine is
 *    restored without a commit hint, as in tscd).
 * Participant side (runs_part.c): a START is fenced by the term of the
 * coordinator the node recognises (tsc_sim_coord_view, as
 * tsc__coord_fence), then goes to the participant engine. Its "disk" is a
 * per-node table of (run, stage) -> STARTED/DONE + result that survives
 * crashes, written before a spawn and before a report. A spawn is a
 * simulated script: it ends after a duration drawn from the node's PRNG
 * (passes, fails, hangs until the stage timeout, or hangs until killed); a
 * kill ends it 200 µs later as CANCELLED; a crash kills every script of the
 * node without a word, and the restarted node reports LOST for it.
 *
 * Checks (runs_check.c) and the client (runs_client.c) are described there.
 * Internal to the simulator library. */
#ifndef TSC_SIM_RUNS_H
#define TSC_SIM_RUNS_H

#include <stdint.h>

#include "barrier/barrier.h"
#include "barrier/plan.h"
#include "gossip/election.h"
#include "sim/world.h"
#include "wire/suite.h"

/* Bytes of one replicated run record, as tscd (agent/agent.h). */
#define TSC_SIM_RUN_MAX_RECORD (240u << 10)
#define TSC_SIM_LOOPBACK_US    50  /* a frame to the node itself */
#define TSC_SIM_KILL_US        200 /* SIGKILL to the callback that reports it */
#define TSC_SIM_RUNS_MAX_CASES 16
#define TSC_SIM_SCRIPT         "sim-work" /* the text of every stage that has a script */

struct tsc_sim_runs_config {
    uint64_t submit_every_us; /* client: mean µs between new runs; 0 = none */
    uint32_t cases_min, cases_max;
    uint32_t parts_max;        /* participants per run: 1..parts_max alive members; 0 = all */
    uint64_t stage_timeout_ms; /* every stage */
    uint64_t dur_max_us;       /* a script that ends runs uniform [0, dur_max_us] */
    double p_fail;             /* exits 1 */
    double p_hang;             /* runs until the stage timeout (TIMEOUT) */
    double p_stuck;            /* runs until killed (the runner lost its timer) */
    double p_empty;            /* a case stage has no script (reports at once) */
    double p_cancel;           /* per new run: the client also cancels the current one */
    int measure;               /* record per-stage times of the first run */
};

/* One (run, stage) on a node's disk: agent/participant.c's "results". */
struct tsc_sim_pstage {
    uint64_t run;
    uint32_t stage;
    uint8_t state;  /* TSC_PART_STARTED / TSC_PART_DONE */
    uint8_t status; /* DONE: the result */
    int32_t exit_code, signal;
    uint64_t start_us, end_us;
    char message[64];
};

/* A simulated script. */
struct tsc_sim_script {
    uint64_t run;
    uint32_t stage;
    uint32_t index;   /* participant index in the run */
    uint32_t token;   /* of the SCRIPT event that ends it */
    uint64_t started; /* virtual µs */
    uint8_t status;   /* what it ends with */
    uint8_t killed;
};

struct tsc_sim_rnode {
    struct tsc_barrier *b; /* NULL unless up */
    struct tsc_part *p;
    struct tsc_sim_pstage *disk; /* sorted by (run, stage); survives crashes */
    size_t n_disk, cap_disk;
    struct tsc_sim_script *scripts; /* die with the node */
    size_t n_scripts, cap_scripts;
    struct tsc_buf *pending; /* proposals waiting for the election step to end */
    size_t n_pending, cap_pending;
    struct tsc_prng prng; /* the node's: script durations and outcomes */
    uint64_t deadline, tick_at;
    uint64_t term;
    int acting;
    uint8_t in_coord_step, busy;
    uint64_t seq; /* envelope seq of its stage frames */
    /* The run it renders STARTs for, decoded once (as agent/runs.c). */
    struct tsc_run_plan plan;
    /* Checker: every (run << 16 | stage) this node ever started, sorted. */
    uint64_t *started;
    size_t n_started, cap_started;
};

/* A stage decided by the committed log: the first STAGE record for it that
 * the log applies (checker). */
struct tsc_sim_decided {
    uint64_t run;
    uint32_t stage;
    uint64_t hash, index; /* of the record bytes; its log index */
    uint8_t *status;      /* per participant index */
    size_t n;
};

/* A run the client wants submitted (its nonce makes retries one run). */
struct tsc_sim_want {
    uint64_t nonce;
    uint32_t n_cases;
    uint64_t next_try;
};

struct tsc_sim_runs {
    struct tsc_sim_runs_config cfg;
    struct tsc_barrier_config bcfg;
    struct tsc_sim_rnode *r; /* one per node */
    struct tsc_prng prng;    /* nonces, the client */
    struct tsc_buf body, sealed, scratch, msg, script;
    uint32_t tokens;
    /* client */
    int client_on;      /* new runs are submitted (campaign: while the faults last) */
    uint64_t client_at; /* the pending RCLIENT event; TSC_TIME_NEVER: none */
    uint64_t next_submit;
    uint64_t nonces;
    struct tsc_sim_want *want;
    size_t n_want, cap_want;
    /* checker: the committed log applied once, in order, by an engine that
     * never leads; the stages it decided; the runs and nonces it knows */
    struct tsc_barrier *oracle;
    uint64_t oracle_next; /* next log index it expects */
    struct tsc_sim_decided *dec;
    size_t n_dec, cap_dec;
    uint64_t *nonce_seen; /* nonces of committed SUBMITs, sorted */
    size_t n_nonce, cap_nonce;
    uint64_t *run_ids; /* runs of committed SUBMITs (log index), ascending */
    size_t n_runs, cap_runs;
    /* counters */
    uint64_t submitted, finished, passed, failed, cancelled;
    uint64_t spawns, starts_sent, cancels_sent, reports_sent, rejected, lost, fenced, decisions;
    uint64_t kills_mid_run; /* the coordinator killed while a run was in progress */
    /* measure (the first run only) */
    uint64_t m_run;
    uint32_t m_stages;
    uint64_t m_submit, m_done; /* virtual µs: SUBMIT committed, run finished */
    uint64_t *m_finish, *m_start, *m_prop, *m_commit; /* per stage; 0 = never */
};

/* ---- runs.c: set-up, the coordinator side, frames ---- */

/* Defaults: a small campaign's runs (2 s stages, scripts up to 400 ms). */
void tsc_sim_runs_config_default(struct tsc_sim_runs_config *c);

/* Enable runs on world w (the election must be enabled, no node started).
 * 0, TSC_EINVAL or TSC_ENOMEM with errmsg. */
int tsc_sim_runs_enable(struct tsc_sim_world *w, const struct tsc_sim_runs_config *cfg,
                        char *errmsg);
void tsc__sim_runs_world_free(struct tsc_sim_world *w);

/* Life cycle (node.c): before the election engine starts; after a crash. */
int tsc__sim_runs_start(struct tsc_sim_world *w, uint32_t i);
void tsc__sim_runs_crash(struct tsc_sim_world *w, uint32_t i);
/* Membership changes of node i (its SWIM update). */
int tsc__sim_runs_members(struct tsc_sim_world *w, uint32_t i,
                          const struct tsc_gossip_change *changes, size_t n);
/* Election hooks (coord.c): inside the step, committed entries; after it. */
int tsc__sim_runs_committed(struct tsc_sim_world *w, uint32_t i,
                            const struct tsc_election_update *up);
int tsc__sim_runs_after_coord_step(struct tsc_sim_world *w, uint32_t i);
/* World hooks (world.c): the barrier deadline; a stage frame for node i
 * (env opened by the world; its body is copied before use). */
int tsc__sim_runs_tick(struct tsc_sim_world *w, uint32_t i);
int tsc__sim_runs_deliver(struct tsc_sim_world *w, uint32_t i, uint32_t from,
                          const struct tsc_envelope *env);
/* Seal body as a frame of `type` from node i and put it on a stream to
 * node j (loopback when j == i). 0 or a fatal error. */
int tsc__sim_runs_send(struct tsc_sim_world *w, uint32_t i, uint32_t j, int type,
                       const uint8_t *body, size_t len);
/* Node j's index from a member id as node i's membership knows it, or
 * TSC_SIM_NONE; *pk its key (may be NULL). */
uint32_t tsc__sim_runs_member(struct tsc_sim_world *w, uint32_t i, uint64_t id, const uint8_t **pk);
/* Step node i's barrier engine with ev (now filled in) and carry out the
 * update. 0 or a fatal error. */
int tsc__sim_runs_bstep(struct tsc_sim_world *w, uint32_t i, struct tsc_barrier_event *ev);

/* ---- runs_part.c: the participant side ---- */

int tsc__sim_runs_part_start(struct tsc_sim_world *w, uint32_t i, uint64_t from,
                             const uint8_t *body, size_t len);
int tsc__sim_runs_part_cancel(struct tsc_sim_world *w, uint32_t i, uint64_t from,
                              const uint8_t *body, size_t len);
/* A SCRIPT event: the script with this token on node i ends (if it still
 * runs). */
int tsc__sim_runs_script_end(struct tsc_sim_world *w, uint32_t i, uint32_t token);
/* Create node i's participant engine and feed it the disk (RESTORE). */
int tsc__sim_runs_part_open(struct tsc_sim_world *w, uint32_t i);
/* Node i crashed: its scripts are gone. */
void tsc__sim_runs_part_crash(struct tsc_sim_world *w, uint32_t i);

/* ---- runs_check.c: the invariants ---- */

/* A committed entry, in log order, the first time any node reports it. */
int tsc__sim_runs_oracle(struct tsc_sim_world *w, const struct tsc_election_entry *x);
/* Before node i's barrier engine applies a STAGE record that decides the
 * stage in progress there: it must be the decided one. */
void tsc__sim_runs_check_apply(struct tsc_sim_world *w, uint32_t i, uint64_t index,
                               const uint8_t *data, size_t len);
/* Node i starts (run, stage) as participant `index` (a spawn, or a stage
 * with nothing to run): the barrier, and never twice. */
void tsc__sim_runs_check_start(struct tsc_sim_world *w, uint32_t i, uint64_t run, uint32_t stage,
                               uint32_t index);
/* The decision of (run, stage), or NULL. */
const struct tsc_sim_decided *tsc__sim_runs_decision(const struct tsc_sim_runs *rs, uint64_t run,
                                                     uint32_t stage);
/* Predicate: every run the client wanted was submitted and every submitted
 * run has finished. */
int tsc_sim_runs_idle(struct tsc_sim_world *w, void *unused);
/* Why not idle, for a violation message. */
void tsc_sim_runs_explain(struct tsc_sim_world *w, char *buf, size_t len);
/* The campaign kills the coordinator: count it if a run is in progress. */
void tsc_sim_runs_note_kill(struct tsc_sim_world *w);

/* ---- runs_client.c: submissions ---- */

/* Ask for one more run of n_cases (0: drawn from the config); the client
 * submits it through the acting coordinator until it is committed. */
int tsc_sim_runs_want(struct tsc_sim_world *w, uint32_t n_cases);
/* The client's event: new runs while client_on, retries, cancels. */
int tsc__sim_runs_client(struct tsc_sim_world *w);

#endif
