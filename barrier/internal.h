/* tsc — barrier/ internals shared across its files (not public). Names with
 * a double underscore are module-internal. */
#ifndef TSC_BARRIER_INTERNAL_H
#define TSC_BARRIER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "barrier/barrier.h"
#include "barrier/runlog.h"
#include "common/buf.h"
#include "wire/mp.h"

/* The kind tag inside a signed REPORT: the frame type of the message, so the
 * signed bytes can never be mistaken for a node record or a claim
 * (wire/record.h kinds 1 and 2). */
#define TSC__REPORT_KIND 41

/* ---- runlog.c: msgpack pieces shared by the records and the messages ---- */

/* Pack bytes as bin / str; a zero length needs no pointer. */
void tsc__barrier_pack_bin(msgpack_packer *pk, const void *p, size_t n);
void tsc__barrier_pack_str(msgpack_packer *pk, const char *s, size_t n);

/* A str of fewer than cap bytes without NUL, copied NUL-terminated into out
 * (cap bytes). 0 or TSC_EMALFORMED. */
int tsc__barrier_read_cstr(struct tsc_mp_reader *r, char *out, size_t cap);
/* A str of at most max bytes, borrowed. */
int tsc__barrier_read_str(struct tsc_mp_reader *r, size_t max, const char **s, size_t *len);
/* A uint no larger than max. */
int tsc__barrier_read_max(struct tsc_mp_reader *r, uint64_t max, uint64_t *v);
/* Any msgpack integer that fits an int32. */
int tsc__barrier_read_i32(struct tsc_mp_reader *r, int32_t *v);

/* A stage result is 7 fields [status, exit, signal, start, end, output,
 * message]: an array of its own in a STAGE record, inline in a REPORT.
 * Status PENDING is refused both ways. */
#define TSC__RESULT_FIELDS 7
int tsc__barrier_result_ok(const struct tsc_stage_result *res);
void tsc__barrier_pack_result_fields(msgpack_packer *pk, const struct tsc_stage_result *res);
int tsc__barrier_read_result_fields(struct tsc_mp_reader *r, struct tsc_stage_result *res);

/* ---- view.c: labels for diagnoses ---------------------------------------- */

/* "suite init", "case set-get run", "case #3 finalize" (when the suite bytes
 * do not name case 3): the stage as people call it. Always NUL-terminated. */
void tsc__barrier_stage_label(const struct tsc_runlog_submit *s, uint32_t stage, char *out,
                              size_t cap);

/* ---- the coordinator engine (barrier.c, barrier_stage.c) ----------------- */

/* A queued or running run: what its SUBMIT said and how far it got. Every
 * field here derives from applied records only, so it is the same on every
 * voter. */
struct tsc__brun {
    uint64_t id;
    uint8_t *bytes; /* the SUBMIT record, owned; rec points into it */
    size_t len;
    struct tsc_runlog rec;
    uint32_t n_stages;
    uint8_t *outcome; /* [n_stages]: TSC_STAGE_PASSED/FAILED, 0 = not run */
    uint32_t next;    /* the stage in progress */
    int cancelled;
    uint32_t cancel_stage; /* the stage in progress when CANCEL was applied */
    struct tsc__bid {
        uint64_t id;
        uint32_t index;
    } * by_id; /* participants sorted by id */
};

/* One participant's result of the current stage. Volatile: what this
 * engine heard (reports, membership, its own timeouts), not replicated. */
struct tsc__bslot {
    struct tsc_stage_result res; /* PENDING = none yet; output and message owned */
    uint64_t retry;              /* leader: when to send START again */
};

/* A finished run, remembered for tsc_barrier_find_nonce. */
struct tsc__bdone {
    uint64_t nonce, run;
};

struct tsc_barrier {
    struct tsc_barrier_config cfg;
    struct tsc_barrier_stats stats;
    uint64_t last_index; /* of the newest applied record */
    int leader;
    uint64_t term;
    uint64_t now, wall;

    struct tsc__brun **queue; /* [0] is the run in progress */
    size_t n_queue, cap_queue;
    struct tsc__bdone *done; /* ring of cfg.max_queue */
    size_t n_done, done_head;
    uint64_t *dead; /* sorted ids membership calls dead */
    size_t n_dead, cap_dead;

    /* The current stage of queue[0]. */
    struct tsc__bslot *slots;
    size_t n_slots, cap_slots;
    size_t out_cap; /* bytes of output kept per participant */
    int timing;     /* leader: it sent this stage's first START at stage_t0 */
    uint64_t stage_t0;
    struct tsc_buf proposal;
    int proposed;
    uint64_t proposed_at;

    /* Per step. */
    struct tsc_barrier_start *starts;
    size_t n_starts, cap_starts;
    struct tsc_barrier_cancel *cancels;
    size_t n_cancels, cap_cancels;
    struct tsc_barrier_finished finished[2];
    size_t n_finished;
    int n_proposals;
    int oom;
};

/* barrier_stage.c */
/* Index of participant `node` in run r, or -1. */
long tsc__barrier_find(const struct tsc__brun *r, uint64_t node);
int tsc__barrier_is_dead(const struct tsc_barrier *b, uint64_t node);
/* Prepare the slots for queue[0]'s stage `next` (dead participants: DEAD). */
int tsc__barrier_begin_stage(struct tsc_barrier *b);
/* Give every slot still PENDING this result; with `kill`, the leader also
 * sends each of them a CANCEL (to stop its script). */
void tsc__barrier_settle(struct tsc_barrier *b, uint8_t status, const char *message, int kill);
void tsc__barrier_emit_cancel(struct tsc_barrier *b, size_t i);
/* A result for slot i (copied, output cut to out_cap); 0 if it was PENDING. */
int tsc__barrier_set_result(struct tsc_barrier *b, size_t i, const struct tsc_stage_result *res);
/* Leader: START, timeouts, proposal. */
void tsc__barrier_act(struct tsc_barrier *b);
uint64_t tsc__barrier_deadline(const struct tsc_barrier *b);
void tsc__barrier_slots_free(struct tsc_barrier *b);

#endif
