/* tsc — stage barriers, as two pure engines: the coordinator's and the
 * participant's.
 *
 *   tsc_barrier_step(b, &event, &update)       on every voter (coordinator side)
 *   tsc_part_step(p, &event, &update)          on every agent (participant side)
 *
 * Like the other engines: time arrives in event.now (µs, the driver's
 * monotonic clock), nothing here reads a clock, touches a socket, a file or a
 * store. What must be sent, proposed to the replicated log, persisted or
 * spawned comes back in the update.
 *
 * Coordinator side. Every voter feeds the committed run-log records
 * (barrier/runlog.h) in log order (EV_APPLY); that is the replicated state:
 * the queue of runs, the stage each run is at, and the decided outcome of
 * every stage. Only the acting coordinator (EV_LEADER with is_leader = 1)
 * acts on it. Runs are executed one at a time, in submission order.
 *  - For the current stage of the current run, the coordinator emits a START
 *    for every participant that has not reported, and re-emits it every
 *    retry_interval until that participant reports (no other retransmission
 *    exists: a START is idempotent at the participant, which answers a repeat
 *    with its stored result).
 *  - A REPORT (verified by the driver) records that participant's result.
 *  - A participant that membership calls dead (EV_MEMBER alive = 0) gets the
 *    result DEAD; one that has not reported by the stage's timeout plus
 *    `grace` gets TIMEOUT (and a CANCEL is emitted to kill its script).
 *  - When every participant has a result, the coordinator PROPOSES a STAGE
 *    record (outcome, results, diagnosis naming each machine that did not
 *    pass). It does not start the next stage until that record is APPLIED
 *    (committed): the decision is replicated before anyone acts on it, so a
 *    new coordinator never decides the same stage differently from what
 *    participants already saw. A proposal that is not applied within
 *    propose_retry is proposed again (a record for an already decided stage
 *    is ignored on apply, so duplicates are harmless).
 *  - Invariant: START for stage s+1 is emitted only after the STAGE record
 *    of s is applied, i.e. after every participant reported s (or was
 *    declared dead / timed out and sent a CANCEL).
 *  - Cancel: the driver proposes a CANCEL record; on apply, CANCELs go to
 *    every participant, the current stage is decided with CANCELLED results
 *    for those still running, and only finalize stages still run
 *    (tsc_stage_next).
 *  - After a failover, the new coordinator has the same applied state and no
 *    reports: it re-sends START for the current stage; participants that
 *    finished answer with their stored result, none runs a script twice.
 *
 * Participant side. For each (run, stage) the participant engine remembers
 * NOTHING / STARTED / DONE. The driver persists STARTED before spawning the
 * script and the result when it ends (update.persist_*), and restores both
 * at start (EV_RESTORE): a stage found STARTED after a restart is reported
 * LOST, never run again. A START from a term lower than the highest seen is
 * ignored (fencing). The engine keeps the results of the most recent runs
 * in memory (bounded: the last 4 runs), each output cut to its last
 * TSC_PART_MAX_REPORT_OUTPUT bytes, which is what a REPORT carries; the
 * driver stores the whole output (up to TSC_RUN_MAX_OUTPUT) itself.
 *
 * Stage numbering and the skip rules: barrier/runlog.h (tsc_stage_next). */
#ifndef TSC_BARRIER_BARRIER_H
#define TSC_BARRIER_BARRIER_H

#include <stddef.h>
#include <stdint.h>

#include "barrier/runlog.h"
#include "common/buf.h"
#include "common/error.h"

/* ---- coordinator side ---------------------------------------------------- */

struct tsc_barrier;

struct tsc_barrier_config {
    uint64_t retry_interval; /* µs between STARTs to a silent participant; default 1 s */
    uint64_t propose_retry;  /* µs before a STAGE proposal is made again; default 2 s */
    uint64_t grace;          /* µs past a stage's timeout before TIMEOUT; default 2 s */
    size_t max_record;       /* bytes of one STAGE record; outputs are cut to fit; default 1 MiB */
    size_t max_output;       /* bytes of output per participant in a STAGE record; default 4 KiB */
    size_t max_queue;        /* runs queued or running; default 64 */
};

void tsc_barrier_config_default(struct tsc_barrier_config *c);

/* Create an engine. 0, TSC_EINVAL or TSC_ENOMEM. */
int tsc_barrier_new(struct tsc_barrier **out, const struct tsc_barrier_config *cfg, char *errmsg);
void tsc_barrier_free(struct tsc_barrier *b);

enum tsc_barrier_event_type {
    TSC_BARRIER_EV_TICK = 1,
    TSC_BARRIER_EV_APPLY,  /* index, data/len: a committed run-log record */
    TSC_BARRIER_EV_LEADER, /* is_leader, term: this node is (no longer) the acting coordinator */
    TSC_BARRIER_EV_REPORT, /* report: a verified REPORT from report->node */
    TSC_BARRIER_EV_MEMBER, /* node, alive: membership's view of a node changed */
};

struct tsc_barrier_event {
    int type;
    uint64_t now;     /* monotonic µs */
    uint64_t wall_us; /* wall clock µs (for decided_us); may be 0 */
    uint64_t index;
    const uint8_t *data;
    size_t len;
    int is_leader;
    uint64_t term;
    const struct tsc_stage_report *report;
    uint64_t node;
    int alive;
};

/* START for one participant; the driver renders the script (it has the suite
 * bytes: tsc_barrier_run_submit) and sends it. */
struct tsc_barrier_start {
    uint64_t node;
    struct tsc_addr addr;
    uint64_t run;
    uint32_t stage;
    uint32_t index; /* participant index */
    uint64_t timeout_us;
};

struct tsc_barrier_cancel {
    uint64_t node;
    struct tsc_addr addr;
    uint64_t run;
    uint32_t stage; /* kill the scripts of this stage (or earlier ones), not later ones */
};

/* A run that ended in this step (applied: every voter sees it). */
struct tsc_barrier_finished {
    uint64_t run;
    int state; /* TSC_RUN_PASSED / FAILED / CANCELLED */
};

/* Everything one step produced; owned by the engine, valid until the next
 * step. Proposals are encoded run-log records to append to the replicated
 * log (leader only); the engine learns their fate through EV_APPLY. */
struct tsc_barrier_update {
    const struct tsc_barrier_start *starts;
    size_t n_starts;
    const struct tsc_barrier_cancel *cancels;
    size_t n_cancels;
    const struct tsc_buf *proposals;
    size_t n_proposals;
    const struct tsc_barrier_finished *finished;
    size_t n_finished;
    uint64_t next_deadline; /* TSC_TIME_NEVER when nothing is waiting */
};

/* Apply one event. 0; TSC_EINVAL for a bad event; TSC_ENOMEM. A malformed
 * applied record is counted and skipped (returns 0): every voter skips it
 * alike. A report for another run/stage, from a non-participant, or a repeat
 * is ignored. The update is filled in every case. */
int tsc_barrier_step(struct tsc_barrier *b, const struct tsc_barrier_event *ev,
                     struct tsc_barrier_update *up);

/* Queries (all voters; O(1) or O(participants)). */
struct tsc_barrier_progress {
    uint64_t run; /* 0: no run in progress */
    uint32_t stage, n_stages;
    size_t n_participants, n_reported;
    size_t n_queued; /* runs waiting behind it */
};
void tsc_barrier_progress(const struct tsc_barrier *b, struct tsc_barrier_progress *p);

/* The SUBMIT record of a queued or running run (bytes valid until the next
 * step), or TSC_ENOTFOUND. */
int tsc_barrier_run_submit(const struct tsc_barrier *b, uint64_t run, const uint8_t **data,
                           size_t *len);
/* Result of participant i of the current stage of `run` (PENDING if none). */
int tsc_barrier_current_result(const struct tsc_barrier *b, uint64_t run, size_t i);

/* The run a nonce submitted, if it is known (queued, running or among the
 * last max_queue finished), else 0: de-duplicates a resubmitted request. */
uint64_t tsc_barrier_find_nonce(const struct tsc_barrier *b, uint64_t nonce);

struct tsc_barrier_stats {
    uint64_t applied, malformed, reports, reports_ignored, starts, proposals, timeouts, deaths;
};
const struct tsc_barrier_stats *tsc_barrier_stats(const struct tsc_barrier *b);

/* ---- participant side ---------------------------------------------------- */

struct tsc_part;

#define TSC_PART_MAX_REPORT_OUTPUT 4096

int tsc_part_new(struct tsc_part **out, uint64_t self_id);
void tsc_part_free(struct tsc_part *p);

enum tsc_part_stage_state {
    TSC_PART_NONE = 0,
    TSC_PART_STARTED = 1, /* persisted before the script was spawned */
    TSC_PART_DONE = 2,    /* result persisted */
};

enum tsc_part_event_type {
    TSC_PART_EV_START = 1, /* start, from: a decoded START (fenced below) */
    TSC_PART_EV_DONE,      /* run, stage, result: the script ended */
    TSC_PART_EV_CANCEL,    /* run, stage, term: kill the run's scripts of stages <= stage */
    TSC_PART_EV_RESTORE, /* run, stage, state, result: what the store holds (before any other event)
                          */
};

struct tsc_part_event {
    int type;
    uint64_t now;
    uint64_t from; /* coordinator node id (START, CANCEL) */
    const struct tsc_stage_start *start;
    uint64_t run;
    uint32_t stage;
    uint64_t term;
    int state;                             /* RESTORE */
    const struct tsc_stage_result *result; /* DONE, RESTORE (state DONE) */
};

struct tsc_part_report {
    uint64_t to; /* coordinator id the report goes to */
    struct tsc_stage_report report;
};

/* What the driver must do, in this order: persist (durably), kill, spawn,
 * send reports. */
struct tsc_part_update {
    int persist_started; /* persist (run, stage) STARTED, then spawn */
    int persist_done;    /* persist the result of (run, stage) */
    uint64_t run;
    uint32_t stage;
    const struct tsc_stage_result *result; /* persist_done: what to store */
    int spawn;                             /* spawn `start`'s script for (run, stage) */
    const struct tsc_stage_start *start;
    int kill; /* kill every script of kill_run */
    uint64_t kill_run;
    const struct tsc_part_report *reports;
    size_t n_reports;
};

int tsc_part_step(struct tsc_part *p, const struct tsc_part_event *ev, struct tsc_part_update *up);

/* State of (run, stage) as the engine knows it. */
int tsc_part_state(const struct tsc_part *p, uint64_t run, uint32_t stage);

struct tsc_part_stats {
    uint64_t starts, spawned, repeats, fenced, lost, cancels;
};
const struct tsc_part_stats *tsc_part_stats(const struct tsc_part *p);

#endif
