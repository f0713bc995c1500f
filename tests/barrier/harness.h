/* tsc — a test bench for the barrier engines: K coordinator engines (voters)
 * that apply one shared log, N participant engines with simulated scripts,
 * and a network of encoded messages that the test delivers, duplicates or
 * drops by hand. Every message goes through the real codecs (START/CANCEL
 * encoded, REPORT signed with the cheap crypto table and verified).
 *
 * The bench checks, at every step, with cmocka asserts:
 *  - barrier: a coordinator emits START for (run, s) only after it applied
 *    the STAGE record of every earlier stage of the run that was started;
 *    when a participant spawns (run, s), no participant still runs an earlier
 *    stage unless the decided STAGE record gave up on it (TIMEOUT, DEAD,
 *    CANCELLED);
 *  - once: no participant spawns a (run, stage) twice, restarts included;
 *  - truth: a PASSED/FAILED/ERROR/LOST result in a STAGE record is what that
 *    participant really stored;
 *  - agreement: every coordinator finishes the same runs with the same
 *    states, in the same order. */
#ifndef TSC_TESTS_BARRIER_HARNESS_H
#define TSC_TESTS_BARRIER_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "barrier/barrier.h"
#include "common/buf.h"

#define H_MAX_PARTS   8
#define H_MAX_COORDS  3
#define H_MAX_RUNS    16
#define H_MAX_SCRIPTS 16

/* What a spawned script does. */
enum h_behave {
    H_PASS = 0,
    H_FAIL,  /* exits 1 */
    H_ERROR, /* the runner could not start it */
    H_HANG,  /* runs until killed or its timeout */
    H_STUCK, /* runs until killed: ignores its timeout (the runner lost track) */
    H_EMPTY, /* the rendered script is "" (the coordinator's driver decides) */
};

enum h_msg_kind { H_START = 1, H_REPORT, H_CANCEL };

struct h_msg {
    int kind;
    size_t to; /* participant index (START, CANCEL) or coordinator index (REPORT) */
    uint64_t from;
    uint8_t *bytes;
    size_t len;
};

struct h_script {
    uint64_t run;
    uint32_t stage;
    int behave;
    int killed;
    uint64_t deadline; /* the runner's timeout */
};

struct h_stored {
    uint64_t run;
    uint32_t stage;
    int state;
    uint8_t status;
};

struct h_part {
    struct tsc_part *eng;
    uint64_t id;
    uint8_t pk[32], sk[64];
    char name[16];
    int dead;
    struct h_script scripts[H_MAX_SCRIPTS];
    size_t n_scripts;
    struct h_stored *store; /* the driver's disk */
    size_t n_store;
    struct h_stored *spawned; /* every (run, stage) ever spawned */
    size_t n_spawned;
};

struct h_coord {
    struct tsc_barrier *eng;
    uint64_t id;
    uint64_t term;
    uint64_t deadline;
    size_t applied; /* log entries applied */
    uint64_t finished[H_MAX_RUNS * 2][2];
    size_t n_finished;
};

struct h_decided {
    uint64_t run;
    uint32_t stage;
    size_t index; /* log position + 1 of the record that decided it */
    uint8_t status[H_MAX_PARTS];
};

struct harness {
    struct tsc_barrier_config cfg;
    struct h_part parts[H_MAX_PARTS];
    size_t n_parts;
    struct h_coord coords[H_MAX_COORDS];
    size_t n_coords;
    size_t leader; /* index; n_coords = none */
    uint64_t term;
    uint64_t now;
    struct h_msg *net;
    size_t n_net, cap_net;
    struct tsc_buf *log; /* committed records */
    size_t n_log, cap_log;
    struct tsc_buf *pending; /* proposals not committed yet */
    size_t n_pending, cap_pending;
    uint64_t runs[H_MAX_RUNS]; /* submitted */
    size_t n_runs;
    uint64_t started[512][2]; /* (run, stage) that got a START */
    size_t n_started;
    struct h_decided decided[512];
    size_t n_decided;
    /* Behaviour of scripts: per (part, stage); default H_PASS. */
    int (*behave)(struct harness *h, size_t part, uint64_t run, uint32_t stage);
    void *ctx;
    uint64_t stage_timeout; /* µs, every stage */
    /* Allocation failures: every oom_every-th coordinator step fails its
     * oom_nth allocation (0: never); n_oom counts the steps that failed. */
    unsigned oom_every;
    unsigned long oom_nth, n_steps, n_oom;
};

void h_init(struct harness *h, size_t n_parts, size_t n_coords,
            const struct tsc_barrier_config *cfg);
void h_free(struct harness *h);

/* Make coordinator c the leader (the previous one steps down). */
void h_set_leader(struct harness *h, size_t c);
/* Replace coordinator c by a fresh engine that replays the whole log. */
void h_restart_coord(struct harness *h, size_t c);
/* Append a SUBMIT of every participant to the log; returns the run id. */
uint64_t h_submit(struct harness *h, uint32_t n_cases, uint64_t nonce);
/* Append a CANCEL. */
void h_cancel(struct harness *h, uint64_t run);
/* Commit every pending proposal, in order. */
void h_commit(struct harness *h);
/* Deliver message i of the network (removed unless keep). */
void h_deliver(struct harness *h, size_t i, int keep);
/* Finish every script that ends by itself or was killed; 1 if any. */
int h_finish_scripts(struct harness *h);
/* Membership: participant p is dead (it stops; the coordinators are told). */
void h_kill_part(struct harness *h, size_t p);
/* Participant p's agent restarts: a new engine restored from its store; its
 * scripts are gone. */
void h_restart_part(struct harness *h, size_t p);
/* Advance time to the next deadline (coordinators, script timeouts) no
 * later than limit, and tick; 0 if there was none. */
int h_advance(struct harness *h, uint64_t limit);
/* Deliver, finish, commit and advance until every submitted run finished or
 * the virtual time passes now + span. */
void h_settle(struct harness *h, uint64_t span);

/* Queries. */
int h_run_state(const struct harness *h, uint64_t run); /* 0: not finished */
const struct h_decided *h_decision(const struct harness *h, uint64_t run, uint32_t stage);
size_t h_spawns(const struct harness *h, size_t p, uint64_t run, uint32_t stage);
size_t h_count(const struct harness *h, int kind);
/* The STAGE record that decided (run, stage), decoded (free with
 * tsc_runlog_free); 0 or TSC_ENOTFOUND. */
int h_record(const struct harness *h, uint64_t run, uint32_t stage, struct tsc_runlog *rec);
int h_all_finished(const struct harness *h);
/* Every coordinator that applied the whole log finished the same runs alike. */
void h_check_agreement(const struct harness *h);

/* ---- shared by harness.c and harness_part.c ------------------------------ */

void *h__realloc(void *p, size_t n); /* fails the test when out of memory */
void h__push_msg(struct harness *h, int kind, size_t to, uint64_t from, const struct tsc_buf *b);
size_t h__coord_of(const struct harness *h, uint64_t id);
void h__part_step(struct harness *h, size_t p, struct tsc_part_event *ev);
/* What participant p's store holds for (run, stage): status, and *state. */
uint8_t h__stored_status(const struct h_part *p, uint64_t run, uint32_t stage, int *state);

#endif
