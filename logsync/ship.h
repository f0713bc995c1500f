/* tsc — shipping log records from an agent to the coordinator without loss,
 * as a pure engine (issue "Logs"), and the three messages it needs.
 *
 *   tsc_logship_step(s, &event, &update)
 *
 * An agent writes every record to its own store before it ships it (the
 * driver's job: agent/logs.c), so "shipping" is only about which sequence
 * numbers of which run stream must go to the coordinator next. One engine
 * per agent keeps one stream per run that has records on this agent:
 *
 *   produced  highest seq written to the local store (records 1..produced)
 *   acked     highest seq the CURRENT sink said is durable in its store
 *   sent      highest seq sent to the current sink (acked <= sent <= produced)
 *
 * The sink is the coordinator (node id + term, "epoch"); records are sent
 * to whichever sink is current. When the sink changes (failover, or a
 * restart of this agent), acked and sent fall back to 0 for every stream:
 * the new sink's store may lack what the old one acknowledged, so the first
 * batch to it is a probe (no records) whose acknowledgement says what it
 * has (`have`), and sending resumes from have + 1. Records are never taken
 * out of the local store by this engine; deleting old runs is the driver's
 * retention policy, never before the current sink acknowledged them.
 *
 * Flow: at most window records in flight (sent - acked); a batch carries at
 * most batch_records (the driver may send fewer when a byte limit is hit and
 * says so with EV_SENT). No progress of acked for retry_us after a send:
 * go back to acked + 1 (go-back-N; the sink drops what it has); each such
 * timeout without progress doubles the stream's wait, up to retry_max_us,
 * and progress brings it back to retry_us (TCP's RTO backoff, RFC 6298
 * §5.5): a sink that is merely slow (a loaded coordinator) is not sent
 * its whole window again every second by every agent. While a
 * stream is open and nothing else went out for heartbeat_us, an empty batch
 * (a heartbeat) carries the node's watermark and Lamport promise, so the
 * merge need not wait for an idle node (merge.h), and the acknowledgement
 * brings back the sink's Lamport time for the next promise. A closed stream
 * (the run ended on this node) sends its last batch with done = 1 and stops
 * once that is acknowledged.
 *
 * Pure: no clock (event.now), no I/O, no randomness. */
#ifndef TSC_LOGSYNC_SHIP_H
#define TSC_LOGSYNC_SHIP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "logsync/merge.h"
#include "logsync/vclock.h"

/* ---- messages (sealed frames between agents; logsync/shipmsg.c) ---------------- */

/* TSC_MSG_LOG_BATCH, agent -> coordinator, stream:
 *   [run, node, epoch, first, promise, watermark(clock), done(bool), records]
 * records: array of bin, each a tsc_logrec encoding (merge.h), with seqs
 * first, first+1, ... in order (none: a probe or a heartbeat). */
#define TSC_LOGBATCH_MAX_RECORDS 65536

struct tsc_logbatch {
    uint64_t run, node, epoch;
    uint64_t first;              /* seq of records[0] (when n > 0); else produced + 1 */
    uint64_t promise;            /* merge.h: later records have a larger Lamport time */
    struct tsc_vclock watermark; /* node's clock for the run when sent (own = produced) */
    int done;                    /* the node will produce nothing after watermark's own */
    struct tsc_logrec *records;  /* decoded: allocated, texts point into the input */
    size_t n;
};

void tsc_logbatch_init(struct tsc_logbatch *b);
void tsc_logbatch_free(struct tsc_logbatch *b);
/* Encode the head and then records given already encoded (enc[i], len[i]),
 * so the driver can copy bytes from its store without decoding them. */
int tsc_logbatch_encode(const struct tsc_logbatch *b, const uint8_t *const *enc, const size_t *len,
                        size_t n, struct tsc_buf *out);
/* Decode (total): TSC_EMALFORMED for anything that is not a batch, including
 * records of another run or node, or seqs that are not first, first+1, ...;
 * TSC_ETOOBIG beyond TSC_LOGBATCH_MAX_RECORDS; TSC_ENOMEM. */
int tsc_logbatch_decode(const uint8_t *p, size_t len, struct tsc_logbatch *b);

/* TSC_MSG_LOG_ACK, coordinator -> agent, datagram:
 *   [run, node, epoch, have, lamport, done(bool)]
 * have: records 1..have of (run, node) are durable in the sink's store (a
 * gap the merge skipped keeps have below it until the records arrive, so the
 * agent resends them); lamport: the largest Lamport time
 * the sink has received in this run; done: the sink has the node's DONE. */
struct tsc_logack {
    uint64_t run, node, epoch, have, lamport;
    int done;
};
int tsc_logack_encode(const struct tsc_logack *a, struct tsc_buf *out);
int tsc_logack_decode(const uint8_t *p, size_t len, struct tsc_logack *a);

/* TSC_MSG_LOG_MSG, agent -> agent, stream: a message between two stage
 * scripts (`tscctl send` / `tscctl recv`):
 *   [run, from, to, seq, lamport, clock, text(bin)]
 * seq/clock/lamport: those of the sender's SEND record. */
#define TSC_LOGMSG_MAX_TEXT (64u << 10)
struct tsc_logmsg {
    uint64_t run, from, to, seq, lamport;
    struct tsc_vclock clock;
    const uint8_t *text; /* decoded: points into the input */
    size_t len;
};
void tsc_logmsg_init(struct tsc_logmsg *m);
void tsc_logmsg_free(struct tsc_logmsg *m);
int tsc_logmsg_encode(const struct tsc_logmsg *m, struct tsc_buf *out);
int tsc_logmsg_decode(const uint8_t *p, size_t len, struct tsc_logmsg *m);

/* ---- the shipping engine ---------------------------------------------------------- */

struct tsc_logship;

struct tsc_logship_config {
    uint64_t node;         /* this agent's id (!= 0) */
    size_t window;         /* records in flight per stream; default 65536 */
    size_t batch_records;  /* per batch; default 4096 */
    uint64_t heartbeat_us; /* default 50 ms */
    uint64_t retry_us;     /* default 1 s */
    uint64_t retry_max_us; /* default 8 s; below retry_us counts as retry_us */
    size_t max_streams;    /* default 256; TSC_EFULL beyond */
};
void tsc_logship_config_default(struct tsc_logship_config *c);

int tsc_logship_new(struct tsc_logship **out, const struct tsc_logship_config *cfg, char *errmsg);
void tsc_logship_free(struct tsc_logship *s);

enum tsc_logship_event_type {
    TSC_LOGSHIP_EV_TICK = 1,
    TSC_LOGSHIP_EV_PRODUCED, /* run, seq: the record seq (== produced + 1) is in the store;
                                a new run opens its stream */
    TSC_LOGSHIP_EV_RESTORE,  /* run, seq = produced, done: a stream found in the store
                                at start-up (before the first SINK) */
    TSC_LOGSHIP_EV_CLOSE,    /* run: no more records on this node (run ended) */
    TSC_LOGSHIP_EV_SINK,     /* sink, epoch: the coordinator changed (sink 0: unknown) */
    TSC_LOGSHIP_EV_ACK,      /* ack: from the sink (ignored unless sink/epoch current) */
    TSC_LOGSHIP_EV_SENT,     /* run, seq: the batch the last update asked for went out
                                ending at seq (fewer than asked: a byte limit) */
    TSC_LOGSHIP_EV_FAILED,   /* run: the send failed (no connection): retry later */
    TSC_LOGSHIP_EV_FORGET,   /* run: the driver deleted the stream's records */
};

struct tsc_logship_event {
    int type;
    uint64_t now;
    uint64_t run, seq;
    int done;
    uint64_t sink, epoch;
    const struct tsc_logack *ack;
};

/* One batch to send now: records first..last of run (last = first - 1: a
 * probe or heartbeat) with done set when it completes a closed stream. The
 * driver reads them from its store, fills node, epoch, promise and
 * watermark, sends to `sink`, and answers with EV_SENT (or EV_FAILED). */
struct tsc_logship_send {
    uint64_t run, first, last;
    uint64_t sink, epoch;
    int done;
};

struct tsc_logship_update {
    const struct tsc_logship_send *sends; /* engine-owned until the next step */
    size_t n_sends;
    uint64_t lamport;       /* the largest Lamport time acknowledged by the sink in
                               ack's run (0: none): the driver moves its time there */
    uint64_t next_deadline; /* TSC_TIME_NEVER when idle */
};

/* 0, TSC_EINVAL (bad event), TSC_EFULL (max_streams), TSC_ENOMEM; the engine
 * is unchanged by a failed event. */
int tsc_logship_step(struct tsc_logship *s, const struct tsc_logship_event *ev,
                     struct tsc_logship_update *up);

/* A stream's state (for `tscctl stats`, tests and the retention policy). */
struct tsc_logship_stream {
    uint64_t run, produced, acked, sent;
    int closed, finished; /* finished: closed and the DONE acknowledged */
};
/* 0 or TSC_ENOTFOUND. */
int tsc_logship_stream(const struct tsc_logship *s, uint64_t run, struct tsc_logship_stream *out);

struct tsc_logship_stats {
    uint64_t batches, records_sent, resent, heartbeats, acks, stale_acks, streams;
};
const struct tsc_logship_stats *tsc_logship_stats(const struct tsc_logship *s);

#endif
