/* tsc — log records and their causal merge, as a pure engine (issue "Logs").
 *
 *   tsc_logmerge_step(m, &event, &update)
 *
 * One engine merges the records of one run, coming from its nodes (the
 * participants and the coordinator) in batches, in any order, with
 * duplicates, gaps and delays, into ONE sequence:
 *
 *   Order. Records are released in increasing key (Lamport time, node
 *   id). Every record carries a Lamport time besides its vector clock:
 *   1 + the larger of its node's previous record's and, for a receive, the
 *   sender's. If a happened before b then lamport(a) < lamport(b), so the
 *   order is a linear extension of the causal order, and the same set of
 *   records always gives the same sequence, whatever the arrival order
 *   (ties: node id; one node's records never tie, their times strictly
 *   increase). Why not the sum of the clock: a node's Lamport time may jump
 *   forward without a record (a promise, below), so an idle node does not
 *   hold back the others; a clock sum cannot move without an event.
 *
 *   Streaming, bounded. A buffered record is released once no record with
 *   a smaller key can still arrive: for every other node m whose next
 *   record (delivered[m] + 1) is not buffered, the key of that future record
 *   is at least (lb[m], m), with lb[m] = 1 + the larger of the Lamport time
 *   of m's last released record and, when every record up to the sequence
 *   of m's last watermark is released, the promise sent with it (m promised
 *   that its records after that sequence have a larger time; an agent keeps
 *   its promise by moving its Lamport time to the coordinator's, which the
 *   acknowledgements carry: logsync/ship.h). A node that is done
 *   (EV_NODE_DONE) never blocks. A record that waited max_wait (event time)
 *   is released anyway; so is the smallest one when more than max_records
 *   or max_bytes are buffered. Memory is O(buffered records + nodes).
 *
 *   Out of sequence, each reported as an error naming both records:
 *   - GAP: record (n, s) is the smallest buffered record of n but
 *     delivered[n] + 1 < s for gap_wait: (n, delivered[n]) and (n, s) are
 *     named; the missing sequence numbers are skipped.
 *   - DUPLICATE: a second record (n, s) with different bytes (an identical
 *     resend, e.g. after a coordinator failover, is dropped silently and
 *     counted; bytes of the last TSC_LOGMERGE_HISTORY records per node are
 *     remembered by a 64-bit hash).
 *   - MISSING_PAST: a record released while its causal past was not all
 *     released (some m with delivered[m] < clock[m]): names it and (m,
 *     clock[m]).
 *   - LATE: a record that arrives after a record with a larger key was
 *     released (it is released at once, out of key order).
 *   - SKEW: a record whose wall clock is earlier, by more than
 *     skew_tolerance, than the wall clock of a record it causally follows
 *     (the previous record of its node, or (m, clock[m]) of another node m
 *     when that one's wall time is still remembered): clocks of two
 *     machines disagree.
 *
 * Pure: no clock (event.now is µs on the driver's monotonic clock), no I/O,
 * no randomness. */
#ifndef TSC_LOGSYNC_MERGE_H
#define TSC_LOGSYNC_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "logsync/vclock.h"

#define TSC_LOGREC_MAX_TEXT  (64u << 10) /* bytes of one record's text */
#define TSC_LOGREC_NO_CASE   UINT32_MAX
#define TSC_LOGMERGE_HISTORY 1024 /* per node: (seq, hash, wall) of recent releases */

enum tsc_logrec_kind {
    TSC_LOGREC_STDOUT = 1, /* a line of a stage script's stdout */
    TSC_LOGREC_STDERR = 2,
    TSC_LOGREC_EVENT = 3, /* the agent's own: stage start/end, membership, coordinator */
    TSC_LOGREC_FILE = 4,  /* a line of a file the suite names */
    TSC_LOGREC_USER = 5,  /* tscctl log, the control socket */
    TSC_LOGREC_SEND = 6,  /* a message sent through tsc (its clock travels with it) */
    TSC_LOGREC_RECV = 7,  /* a message received (after merging the carried clock) */
};

/* "stdout", "stderr", ... or "?". */
const char *tsc_logrec_kind_name(int kind);

struct tsc_logrec {
    uint64_t node; /* origin */
    uint64_t seq;  /* per node, from 1, no gaps; == clock[node] */
    struct tsc_vclock clock;
    uint64_t lamport; /* >= 1; the merge key (see above) */
    uint64_t wall_us; /* origin's wall clock */
    uint64_t run;
    uint32_t stage;      /* flattened stage index (wire/suite.h) */
    uint32_t case_index; /* TSC_LOGREC_NO_CASE in suite stages and outside stages */
    uint8_t kind;        /* enum tsc_logrec_kind */
    const uint8_t *text; /* borrowed */
    size_t len;
};

/* Encoding (msgpack array [node, seq, clock, lamport, wall, run, stage,
 * case, kind, text(bin)]). Decode: total; r->clock is allocated (tsc_logrec_free), text
 * points into p. A record whose clock[node] != seq is TSC_EMALFORMED. */
int tsc_logrec_encode(const struct tsc_logrec *r, struct tsc_buf *out);
int tsc_logrec_decode(const uint8_t *p, size_t len, struct tsc_logrec *r);
void tsc_logrec_init(struct tsc_logrec *r);
void tsc_logrec_free(struct tsc_logrec *r);

/* ---- the merge engine -------------------------------------------------------- */

struct tsc_logmerge;

struct tsc_logmerge_config {
    uint64_t max_wait;       /* µs a record may wait for earlier keys; default 5 s */
    uint64_t gap_wait;       /* µs before a missing sequence number is a GAP; default 2 s */
    size_t max_records;      /* buffered; default 1,000,000 */
    size_t max_bytes;        /* buffered text + clocks; default 64 MiB */
    uint64_t skew_tolerance; /* µs; default 1 ms */
};

void tsc_logmerge_config_default(struct tsc_logmerge_config *c);

/* nodes: the run's nodes (participants and coordinator); records of other
 * nodes are accepted too (they join the set). 0, TSC_EINVAL, TSC_ENOMEM. */
int tsc_logmerge_new(struct tsc_logmerge **out, const struct tsc_logmerge_config *cfg,
                     const uint64_t *nodes, size_t n_nodes, char *errmsg);
void tsc_logmerge_free(struct tsc_logmerge *m);

enum tsc_logmerge_event_type {
    TSC_LOGMERGE_EV_TICK = 1,
    TSC_LOGMERGE_EV_BATCH,     /* node, records/n: a batch from node (records copied);
                                  watermark: node's clock when it sent the batch (its
                                  own count = the highest seq it has produced) and
                                  promise: every later record of node has a larger
                                  Lamport time */
    TSC_LOGMERGE_EV_NODE_DONE, /* node: it will produce no record of this run after
                                  watermark's count (e.g. the run ended, or it left) */
    TSC_LOGMERGE_EV_FLUSH,     /* release everything buffered now (end of the run) */
};

struct tsc_logmerge_event {
    int type;
    uint64_t now;
    uint64_t node;
    const struct tsc_logrec *records;
    size_t n_records;
    const struct tsc_vclock *watermark; /* may be NULL */
    uint64_t promise;                   /* with watermark (0: none) */
};

enum tsc_logmerge_error_kind {
    TSC_LOGMERGE_GAP = 1,
    TSC_LOGMERGE_DUPLICATE,
    TSC_LOGMERGE_MISSING_PAST,
    TSC_LOGMERGE_LATE,
    TSC_LOGMERGE_SKEW,
};

/* "gap", "duplicate", "missing-past", "late", "skew". */
const char *tsc_logmerge_error_name(int kind);

struct tsc_logmerge_error {
    int kind;
    uint64_t a_node, a_seq; /* the record reported */
    uint64_t b_node, b_seq; /* the other record it is about (0, 0 when none) */
    uint64_t run;
    int64_t skew_us; /* SKEW: how far a's wall clock is before b's */
};

/* A released record: its position in the merged sequence (1, 2, ...) and
 * the record (engine-owned, valid until the next step). */
struct tsc_logmerge_out {
    uint64_t index;
    const struct tsc_logrec *rec;
};

struct tsc_logmerge_update {
    const struct tsc_logmerge_out *released;
    size_t n_released;
    const struct tsc_logmerge_error *errors;
    size_t n_errors;
    uint64_t next_deadline; /* step again (TICK) no later than this; TSC_TIME_NEVER */
};

/* Apply one event. 0, TSC_EINVAL (bad event), TSC_ENOMEM (the engine is
 * unchanged by the failed event). Malformed records in a batch (seq 0,
 * clock[node] != seq, node 0) are counted and skipped. */
int tsc_logmerge_step(struct tsc_logmerge *m, const struct tsc_logmerge_event *ev,
                      struct tsc_logmerge_update *up);

/* Resume a run's merge after a restart from what the store holds: node's
 * records 1..delivered were released before (the last one with Lamport
 * time last_lamport and wall clock last_wall), and released indices start
 * after next_index - 1 (the largest given wins). Only before the first
 * event. Resent records up to delivered are then counted as resends
 * without their bytes being compared (the engine did not see them).
 * 0, TSC_EINVAL (node 0, or after an event), TSC_ENOMEM. */
int tsc_logmerge_restore(struct tsc_logmerge *m, uint64_t node, uint64_t delivered,
                         uint64_t last_lamport, uint64_t last_wall, uint64_t next_index);

/* An error on the wire and in the store: msgpack array [kind, a_node,
 * a_seq, b_node, b_seq, run, skew_us]. Decode is total: TSC_EMALFORMED for
 * anything else (logsync/logerr.c). */
int tsc_logmerge_error_encode(const struct tsc_logmerge_error *e, struct tsc_buf *out);
int tsc_logmerge_error_decode(const uint8_t *p, size_t len, struct tsc_logmerge_error *e);

struct tsc_logmerge_stats {
    uint64_t received, released, buffered, buffered_bytes;
    uint64_t resends;   /* identical duplicates dropped */
    uint64_t malformed; /* skipped records */
    uint64_t forced;    /* released by max_wait or the memory bound */
    uint64_t errors[6]; /* by enum tsc_logmerge_error_kind */
};
const struct tsc_logmerge_stats *tsc_logmerge_stats(const struct tsc_logmerge *m);

#endif
