/* tsc — helpers of the merge tests: a tiny simulated cluster that produces
 * log records by the vclock.h convention, with Lamport times as merge.h
 * defines them, and a driver for the engine that checks what every step
 * must satisfy and keeps what was released. */
#ifndef TSC_TESTS_LOGSYNC_LM_UTIL_H
#define TSC_TESTS_LOGSYNC_LM_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "logsync/merge.h"

#define SIM_MAX_NODES 8

/* A cluster of k nodes (ids 1..k unless set otherwise). Every event is a
 * record; records are kept (with their own clocks) in production order.
 * Each node also has a Lamport time: a local event or a send is L + 1, a
 * receive max(L, sender's L at the send) + 1, and sim_adopt moves L
 * forward without a record (an agent taking the coordinator's time from an
 * acknowledgement). */
struct sim {
    size_t k;
    uint64_t ids[SIM_MAX_NODES];
    struct tsc_vclock clock[SIM_MAX_NODES];
    uint64_t lamport[SIM_MAX_NODES]; /* current L: a true promise at any moment */
    size_t last[SIM_MAX_NODES];      /* index of the node's newest record, SIZE_MAX: none */
    uint64_t wall;                   /* advanced by 10 per event; tests may edit records */
    struct tsc_logrec *recs;
    /* pmax[j]: the largest L of recs[j]'s node while recs[j] was its newest
     * record, i.e. the largest true promise to send with recs[j]'s clock as
     * the watermark (any value from recs[j].lamport up to it is true). */
    uint64_t *pmax;
    size_t n, cap;
    char text[64]; /* every record's text is unique: "n<node> s<seq> <kind>" */
};

/* A message in flight: the sender's clock and Lamport time at the send. */
struct sim_msg {
    struct tsc_vclock clock;
    uint64_t lamport;
};

void sim_init(struct sim *s, size_t k);
void sim_free(struct sim *s);
void sim_msg_init(struct sim_msg *m);
void sim_msg_free(struct sim_msg *m);
/* Each returns the index of the new record in s->recs. */
size_t sim_local(struct sim *s, size_t i);
/* A send: msg (initialised by the caller) gets what travels. */
size_t sim_send(struct sim *s, size_t i, struct sim_msg *msg);
size_t sim_recv(struct sim *s, size_t i, const struct sim_msg *msg);
/* L = max(L, lamport), no record. */
void sim_adopt(struct sim *s, size_t i, uint64_t lamport);
/* The record of node i with sequence seq (1-based), or NULL. */
struct tsc_logrec *sim_rec(struct sim *s, size_t i, uint64_t seq);

/* A released record, as kept by the driver (the engine's copy dies at the
 * next step). */
struct rel {
    uint64_t index, node, seq, lamport;
    struct tsc_vclock clock;
    uint64_t wall;
};

struct drv {
    struct tsc_logmerge *m;
    struct tsc_logmerge_config cfg;
    uint64_t now;
    uint64_t base; /* indices already used (tsc_logmerge_restore) */
    struct rel *rel;
    size_t n_rel, cap_rel;
    struct tsc_logmerge_error *err;
    size_t n_err, cap_err;
    size_t last_released, last_errors; /* of the last step */
    uint64_t deadline;
};

void drv_init(struct drv *d, const struct tsc_logmerge_config *cfg, const uint64_t *nodes,
              size_t n);
void drv_free(struct drv *d);
/* Step and check: 0 or the step's code. */
int drv_step(struct drv *d, const struct tsc_logmerge_event *ev);
/* promise goes with wm (ignored when wm is NULL). */
int drv_batch(struct drv *d, uint64_t now, uint64_t node, const struct tsc_logrec *recs, size_t n,
              const struct tsc_vclock *wm, uint64_t promise);
int drv_tick(struct drv *d, uint64_t now);
int drv_done(struct drv *d, uint64_t now, uint64_t node, const struct tsc_vclock *wm,
             uint64_t promise);
int drv_flush(struct drv *d, uint64_t now);
/* Errors of a kind seen so far. */
size_t drv_count(const struct drv *d, int kind);
/* The first error of kind, or NULL. */
const struct tsc_logmerge_error *drv_find(const struct drv *d, int kind);

#endif
