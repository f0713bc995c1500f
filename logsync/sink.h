/* tsc — the coordinator's side of log shipping, as a pure engine (issue
 * "Logs"): batches in, merged records and acknowledgements out.
 *
 *   tsc_logsink_step(k, &event, &update)
 *
 * One engine per coordinator holds one merge engine (merge.h) per open run
 * and, for every run it has ever stored, a small table per node: delivered
 * (records 1..delivered are merged into the store, or skipped over as a
 * reported GAP), the holes such GAPs left, the last one's Lamport time and
 * wall clock, and whether the node is done. Batches (ship.h) feed the run's merge; released
 * records, errors and the changed table rows are handed to the driver as one write with a token;
 * the driver makes it durable (one synced RocksDB batch) and steps EV_DURABLE(token); only then
 * does an acknowledgement say `have` covers those records. So an agent never hears "durable" for a
 * record the store could still lose, and it keeps every record the sink did not acknowledge
 * (ship.h) — a sink that crashes loses nothing acknowledged.
 *
 * De-duplication on (node, seq): a record at or below delivered is a resend
 * (after a failover, a retry, a restart of either side) and is dropped by the
 * merge (counted; different bytes are a DUPLICATE error). A probe or
 * heartbeat is answered at once with the durable `have`.
 *
 * Holes. A GAP lets the merge pass over missing seqs, but the agent still
 * holds them (a lost batch, a partition): the acknowledged `have` is the
 * highest h such that records 1..h are all durably stored, i.e. just below
 * the lowest hole, so the agent resends from there. A record that then
 * arrives inside a hole is stored by the sink at the run's next index (a
 * LATE error names it and the record after the hole), also in a finished
 * run; the hole shrinks. A node with a hole is not complete; a run finishes
 * anyway run_end_wait after EV_RUN_END or after the last batch that brought
 * new records, whichever is later (the hole stays, and is still filled if
 * the records come). The stored row keeps the lowest hole.
 *
 * After a restart the driver restores the table from its store (EV_RESTORE,
 * before anything else); a batch for a run without an open merge reopens it
 * from the table (tsc_logmerge_restore), so resent records are recognised
 * and indices continue. A run is finished when every node it knows is done
 * (their DONE batches, or, for the silent ones, run_end_wait after
 * EV_RUN_END during which no node that is not done delivered a new record):
 * everything is flushed, the merge is freed, `finished` says so.
 *
 * Pure: no clock (event.now), no I/O, no randomness. */
#ifndef TSC_LOGSYNC_SINK_H
#define TSC_LOGSYNC_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "logsync/merge.h"
#include "logsync/ship.h"

struct tsc_logsink;

struct tsc_logsink_config {
    struct tsc_logmerge_config merge;
    size_t max_open_runs;  /* merges open at once; default 8 (the oldest is finished) */
    uint64_t run_end_wait; /* µs of silence after EV_RUN_END before nodes are done; 10 s */
    size_t max_runs;       /* table rows kept, by run (oldest dropped); default 4096 */
};
void tsc_logsink_config_default(struct tsc_logsink_config *c);

int tsc_logsink_new(struct tsc_logsink **out, const struct tsc_logsink_config *cfg, char *errmsg);
void tsc_logsink_free(struct tsc_logsink *k);

enum tsc_logsink_event_type {
    TSC_LOGSINK_EV_TICK = 1,
    TSC_LOGSINK_EV_BATCH,   /* batch (decoded, ship.h), from the agent batch->node */
    TSC_LOGSINK_EV_DURABLE, /* token: the write of that update is durable */
    TSC_LOGSINK_EV_RESTORE, /* row: from the store, before any other event */
    TSC_LOGSINK_EV_NODES,   /* run, nodes/n_nodes: the run's participants and coordinator */
    TSC_LOGSINK_EV_RUN_END, /* run: its last stage was decided */
};

/* One (run, node) row of the table. */
struct tsc_logsink_row {
    uint64_t run, node;
    uint64_t delivered, last_lamport, last_wall;
    uint64_t next_index; /* the run's next merged index (same for every row of a run) */
    uint64_t n_errors;   /* the run's errors stored so far (same for every row of a run) */
    /* The lowest hole a GAP left below delivered: seqs hole_lo..hole_hi are
     * not stored (0, 0: none). The acknowledged have is hole_lo - 1. */
    uint64_t hole_lo, hole_hi;
    int done;     /* every record up to the node's DONE stored, no hole (or the run forced) */
    int finished; /* the run is finished (same for every row of a run) */
};

struct tsc_logsink_event {
    int type;
    uint64_t now;
    const struct tsc_logbatch *batch;
    uint64_t token;
    const struct tsc_logsink_row *row;
    uint64_t run;
    const uint64_t *nodes;
    size_t n_nodes;
};

/* A merged record to store under (run, index); rec borrowed until the next step. */
struct tsc_logsink_write {
    uint64_t run, index;
    const struct tsc_logrec *rec;
};

/* An acknowledgement to send to node ack.node (ship.h). */
struct tsc_logsink_ack {
    struct tsc_logack ack;
};

struct tsc_logsink_update {
    /* To store, all in ONE atomic durable write; then step EV_DURABLE(token).
     * token is 0 when there is nothing to store. */
    const struct tsc_logsink_write *writes;
    size_t n_writes;
    const struct tsc_logmerge_error *errors; /* per run: stored under (run, error number) */
    size_t n_errors;
    const struct tsc_logsink_row *rows; /* changed rows to store (for EV_RESTORE) */
    size_t n_rows;
    uint64_t token;
    /* To send now (their `have` is durable already). */
    const struct tsc_logsink_ack *acks;
    size_t n_acks;
    const uint64_t *finished; /* runs finished by this step */
    size_t n_finished;
    uint64_t next_deadline; /* TSC_TIME_NEVER when idle */
};

/* 0, TSC_EINVAL (bad event, or a batch whose node/run is 0), TSC_ENOMEM.
 * Only one write may be outstanding per token; tokens increase. Errors
 * counted per run are numbered from 1 in the order they are emitted
 * (tsc_logsink_run_errors gives the count). */
int tsc_logsink_step(struct tsc_logsink *k, const struct tsc_logsink_event *ev,
                     struct tsc_logsink_update *up);

/* What the sink knows of a run: merged records so far (next_index - 1),
 * errors so far, finished. 0 or TSC_ENOTFOUND. */
struct tsc_logsink_run {
    uint64_t run, merged, errors;
    size_t nodes, done_nodes;
    int open, finished;
};
int tsc_logsink_run(const struct tsc_logsink *k, uint64_t run, struct tsc_logsink_run *out);

struct tsc_logsink_stats {
    uint64_t batches, records, resends, probes, acks, writes, opens, finishes;
};
const struct tsc_logsink_stats *tsc_logsink_stats(const struct tsc_logsink *k);

#endif
