/* tsc — the agent's side of logs (issue "Logs"): the drivers of the pure
 * shipping and sink engines (logsync/ship.h, logsync/sink.h). Internal to
 * agent/ (the functions take the agent and are called from its files).
 *
 *   logs.c       per-run streams on this agent: sequence numbers, vector
 *                clock and Lamport time; making records (the LOGLOCAL write
 *                comes before the shipper hears of a record); stamps on
 *                stage messages; restore of the streams at start-up.
 *   logs_ship.c  the tsc_logship driver: reads records back from LOGLOCAL
 *                into LOG_BATCH frames (<= TSC__LOGS_BATCH_BYTES) for the
 *                coordinator, handles LOG_ACK; retention of LOGLOCAL (the
 *                newest 32 streams, older ones once finished).
 *   logs_sink.c  the tsc_logsink driver on the acting coordinator: batches
 *                queued as they arrive and merged a few milliseconds' worth
 *                per loop turn, then the acknowledgements.
 *   logs_sinkstore.c  the sink's store: restore from LOGMETA; the merged
 *                records, errors and rows encoded into one synced write at
 *                a time, run on the libuv thread pool while the loop goes
 *                on (group commit). LOGS [run BE64][first BE64] holds a
 *                block: the encodings of merged records first, first + 1,
 *                ... (at most TSC_STORE_LOGS_BLOCK, about 64 KiB),
 *                concatenated, each a complete msgpack value (a reader walks
 *                them with tsc_mp_skip; an old one-record value is a block of
 *                one). A block holds consecutive indices of ONE sink update,
 *                so a late record (a filled hole) gets a block of its own;
 *                the reader of index i starts at [run][i - BLOCK + 1].
 *   logs_ctl.c   control ops log, send, recv (local), logs and log_index
 *                (coordinator), and LOG_MSG between stage scripts.
 *
 * Streams. An agent has one stream per run it takes part in (participant or
 * coordinator). Making a record (logsync/vclock.h's convention): a receive
 * first merges the carried clock and L = max(L, carried L); then the own
 * clock entry ticks (seq = clock[self]) and L = L + 1. The encoded record is
 * put into LOGLOCAL [run BE64][seq BE64] (WAL, not fsynced) before the
 * shipper is told (EV_PRODUCED). A closed stream (the run ended on this
 * node) is marked by the key [run BE64][UINT64_MAX] (empty value), so a
 * restarted agent restores it closed.
 *
 * Memory. Nothing is allocated for logs until a run makes a record here (or
 * the store holds records from before a restart): the engines, the stream
 * list and the buffers are created on first use.
 *
 * Work per loop turn is bounded (a few batches built, a few milliseconds of
 * merging, the sink's store writes off the loop): the same loop carries the
 * failure detector and the election heartbeats, whose timeouts are
 * 150-300 ms.
 *
 * Test hook: environment variable TSC_TEST_LOG_DROP="RUN:SEQ" (read at
 * start-up; RUN 0: every run). The shipper leaves record SEQ of run RUN out
 * of every batch (the record stays in LOGLOCAL), so the coordinator's merge
 * reports a GAP after its gap_wait. For the integration test only. */
#ifndef TSC_AGENT_LOGS_H
#define TSC_AGENT_LOGS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "logsync/logblock.h"
#include "logsync/merge.h"
#include "logsync/ship.h"
#include "logsync/sink.h"
#include "logsync/vclock.h"
#include "wire/control.h"
#include "wire/frame.h"

struct tsc_agent;
struct tsc__logsinkjob;

#define TSC__LOGS_BATCH_BYTES   (1u << 20) /* record bytes per LOG_BATCH */
#define TSC__LOGS_MAILBOX_MSGS  4096       /* messages waiting for `recv`, all runs */
#define TSC__LOGS_MAILBOX_BYTES (16u << 20)
#define TSC__LOGS_MAX_WAITS     256           /* deferred `recv` requests */
#define TSC__LOGS_MAX_RECV_MS   (600u * 1000) /* longest `recv` timeout */
#define TSC__LOGS_STAGE_NAME    (TSC_CONTROL_NAME + 16)
#define TSC__LOGS_KEY           16 /* [run BE64][seq BE64] */
/* LOGLOCAL [run][TSC__LOGS_PROMISE_SEQ]: the last Lamport promise shipped
 * (logs_ship.c writes it before a batch goes out, logs.c restores it). */
#define TSC__LOGS_PROMISE_SEQ (UINT64_MAX - 1)

/* A stamp carried by a message: the sender's Lamport time and run clock
 * right after its SEND/EVENT record (msgpack [lamport, clock]). */
struct tsc__logstamp {
    uint64_t lamport;
    struct tsc_vclock clock;
};

struct tsc__logstream {
    struct tsc__logstream *next;
    uint64_t run;
    uint64_t seq;     /* last record made (== clock[self]) */
    uint64_t lamport; /* L */
    struct tsc_vclock clock;
    uint32_t stage, case_index; /* what the agent is doing in the run now */
    uint32_t part_stage;        /* the stage the participant runs (script lines) */
    uint32_t part_case;
    char part_name[TSC__LOGS_STAGE_NAME]; /* its name, for the end record */
    int part_last;                        /* that stage is the run's last */
    int closed;
};

/* A record made but not yet written (logs.c): key and value in pend. */
struct tsc__logpend {
    uint64_t run, seq;
    size_t off, len; /* value bytes in tsc__logs.pend (the key is rebuilt) */
};

/* A message from another stage script waiting for `recv` (logs_ctl.c). */
struct tsc__logmsg {
    struct tsc__logmsg *next;
    uint64_t run, from, seq, lamport;
    struct tsc_vclock clock;
    size_t len;
    uint8_t text[];
};

/* A deferred `recv` request. */
struct tsc__logwait {
    struct tsc__logwait *next;
    uint64_t conn_id;
    int origin_tcp;
    uint64_t run, peer; /* peer 0: anyone */
    uint64_t deadline;  /* monotonic µs */
};

/* One operation of a sink write: key and value in the write's buffer. */
struct tsc__logsinkop {
    size_t koff, klen, voff, vlen;
};

/* What the sink collects for one synced store write (logs_sinkstore.c):
 * the encoded operations and the engine tokens that become durable with
 * it. The loop fills one while the thread pool writes another. */
struct tsc__logsinkwrite {
    struct tsc_buf buf;
    struct tsc__logsinkop *sops;
    size_t n_sops, cap_sops;
    uint64_t *tokens;
    size_t n_tokens, cap_tokens;
};

/* A batch (or a run's end) waiting for the sink engine (logs_sink.c): taken
 * in arrival order, a few milliseconds' worth per loop turn. */
struct tsc__logsinkin {
    uint64_t sender; /* 0: the end of `run` */
    uint64_t run;
    uint8_t *p;
    size_t len;
};

struct tsc__logs_counters {
    uint64_t records;      /* made on this agent */
    uint64_t shipped;      /* records sent in batches */
    uint64_t merged;       /* records the sink stored (coordinator) */
    uint64_t malformed;    /* LOG_* frames that did not decode or did not fit */
    uint64_t bad_stamps;   /* START/REPORT stamps that did not decode (ignored) */
    uint64_t msgs_dropped; /* LOG_MSGs refused: mailbox full, unknown run */
    uint64_t shed;         /* batches the sink refused while busy (resent) */
};

struct tsc__logs {
    int handles; /* the handles below were initialised */
    uv_timer_t ship_timer;
    uv_timer_t sink_timer;
    uv_timer_t recv_timer;
    uv_idle_t work; /* pending records, queued sends, the sink's intake and write */
    int work_on;

    /* streams (logs.c) */
    struct tsc__logstream *streams;
    size_t n_streams;
    struct tsc_buf pend; /* encoded records not yet written */
    struct tsc__logpend *pe;
    size_t n_pe, cap_pe;
    struct tsc_buf scratch;
    uint64_t drop_run, drop_seq; /* TSC_TEST_LOG_DROP (drop_seq 0: off) */

    /* shipping (logs_ship.c) */
    struct tsc_logship *ship;
    uint64_t sink, epoch;           /* what the engine was last told */
    struct tsc_logship_send *sends; /* asked for, not yet carried out */
    size_t n_sends, cap_sends;
    struct tsc_buf batch;
    int ship_busy; /* inside a ship step's update: queue, do not recurse */

    /* the sink (logs_sink.c, logs_sinkstore.c) */
    struct tsc_logsink *sk;
    uint64_t sk_term;          /* the election term it merges for */
    struct tsc__logsinkin *in; /* a ring of cap_in */
    size_t in_head, n_in, cap_in, in_bytes;
    struct tsc__logsinkwrite fill;    /* the next write, being encoded */
    struct tsc_logblock_enc blockenc; /* its LOGS blocks' scratch */
    struct tsc__logsinkjob *job;      /* the write on the thread pool (its buffers
                                       * are reused), or one that failed */
    uv_timer_t write_timer;           /* retry of a failed write */
    uint64_t nodes_told[64];          /* runs given EV_NODES by this engine (ring) */
    size_t n_told;

    /* control (logs_ctl.c) */
    struct tsc__logmsg *msgs;
    size_t n_msgs, msg_bytes;
    struct tsc__logwait *waits;
    size_t n_waits;

    /* the coordinator's stage event (runs.c): (run, stage) already told */
    uint64_t started_run;
    uint32_t started_stage;
    int started_any;

    /* followed files (logs_follow.c) */
    struct tsc_follow *follow;
    uv_timer_t follow_timer;
    struct tsc_buf follow_line;
    struct tsc__logs_counters c;
};

/* ---- logs_follow.c -------------------------------------------------------- */
/* Follow the files of a START's follow list (barrier/runlog.h) for run;
 * relative paths in workdir. Lines become FILE records of the run. */
void tsc__logs_follow(struct tsc_agent *a, uint64_t run, const char *workdir, const char *list,
                      size_t len);
/* Read run's files a last time and stop following them. */
void tsc__logs_follow_stop(struct tsc_agent *a, uint64_t run);
void tsc__logs_follow_free(struct tsc_agent *a);

/* ---- logs.c ------------------------------------------------------------ */

/* Restore the streams from LOGLOCAL (allocates only if it holds records)
 * and read TSC_TEST_LOG_DROP. Before the loop runs. 0 or TSC_ESTORE. */
int tsc__logs_open(struct tsc_agent *a, char *errmsg);
/* Initialise the handles (no allocation). */
void tsc__logs_start(struct tsc_agent *a);
/* Close the handles (part of tsc__agent_stop). */
void tsc__logs_close(struct tsc_agent *a);
/* Release everything (after the loop ended). */
void tsc__logs_free(struct tsc_agent *a);

/* Make a record of run in this agent's stream (created if needed): kind,
 * text (cut to TSC_LOGREC_MAX_TEXT), a carried stamp for a receive (may
 * be NULL), stage/case of the stream's context unless stage_override is
 * set (line records: stage and case given). The record is written before
 * the call returns when `commit`, else with the next commit (at the latest
 * at the end of the loop turn). *seq (may be NULL) gets its number.
 * 0, TSC_ESTATE (the stream is closed), TSC_ENOMEM, TSC_ESTORE. */
int tsc__logs_make(struct tsc_agent *a, uint64_t run, int kind, const void *text, size_t len,
                   const struct tsc__logstamp *carried, int commit, uint64_t *seq);
/* The same for a line of a stage script (no commit: the end of the loop
 * turn writes the lines of a read in one batch). */
void tsc__logs_line(struct tsc_agent *a, uint64_t run, uint32_t stage, int is_stderr,
                    const uint8_t *p, size_t len);
/* An EVENT record with printf text, committed at once. */
int tsc__logs_eventf(struct tsc_agent *a, uint64_t run, const struct tsc__logstamp *carried,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same with another kind (a RECV of a stage report). */
int tsc__logs_recordf(struct tsc_agent *a, uint64_t run, int kind,
                      const struct tsc__logstamp *carried, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* A stage's name in records: "suite.init", "suite.finalize" or
 * "CASE.init|run|finalize" (stage numbering: wire/suite.h). */
void tsc__logs_stage_name(char *out, size_t cap, const char *case_name, size_t case_len,
                          uint32_t stage);
/* Write every pending record (one store batch), then tell the shipper. */
int tsc__logs_commit(struct tsc_agent *a);
/* Ask for the work callback at the end of this loop turn. */
void tsc__logs_kick(struct tsc_agent *a);

/* The stream of run (NULL: none). */
struct tsc__logstream *tsc__logs_stream(struct tsc_agent *a, uint64_t run);
/* The stream of run, created when missing (NULL: out of memory). */
struct tsc__logstream *tsc__logs_stream_get(struct tsc_agent *a, uint64_t run);
/* Set what the agent is doing in run (stage, case) for its next records. */
void tsc__logs_set_stage(struct tsc_agent *a, uint64_t run, uint32_t stage, uint32_t case_index);
/* No more records of run on this agent: mark, tell the shipper. */
void tsc__logs_close_run(struct tsc_agent *a, uint64_t run);
/* The run this agent currently runs a stage of (0: none). */
uint64_t tsc__logs_current_run(struct tsc_agent *a);

/* Stamps: append [L, clock] of run's stream to body (nothing when there is
 * no stream). 0 or TSC_ENOMEM. */
int tsc__logs_stamp_append(struct tsc_agent *a, uint64_t run, struct tsc_buf *body);
/* Split a frame body into the message (*msg_len bytes) and the optional
 * stamp after it. 1: a stamp is in st (tsc_vclock_free it), 0: none (or a
 * malformed one, which is counted and ignored), -1: not even the message
 * is a msgpack value. */
int tsc__logs_stamp_split(struct tsc_agent *a, const uint8_t *p, size_t len, size_t *msg_len,
                          struct tsc__logstamp *st);

/* A member's name: label name=, else its id in hex. */
void tsc__logs_member_name(struct tsc_agent *a, uint64_t id, char *out, size_t cap);
/* Agent events into the runs this agent takes part in now. */
void tsc__logs_on_member(struct tsc_agent *a, uint64_t id, int status);
/* The coordinator or its term changed as this agent sees it (coord.c). */
void tsc__logs_on_coord(struct tsc_agent *a);

/* ---- logs_ship.c --------------------------------------------------------- */

/* Step the shipping engine with ev (now filled in) and queue its sends. */
void tsc__logship_step(struct tsc_agent *a, struct tsc_logship_event *ev);
/* Create the engine if needed (0 or TSC_ENOMEM). */
int tsc__logship_ensure(struct tsc_agent *a);
/* Tell the engine the sink this agent sees now (if it changed). */
void tsc__logship_sink(struct tsc_agent *a);
/* Carry out the queued sends (from the work callback). 1: some remain. */
int tsc__logship_flush(struct tsc_agent *a);
/* A LOG_ACK arrived. */
void tsc__logship_on_ack(struct tsc_agent *a, const struct tsc_envelope *env);
void tsc__logship_free(struct tsc_agent *a);

/* ---- logs_sink.c --------------------------------------------------------- */

/* A LOG_BATCH arrived (any agent; ignored unless acting coordinator). It
 * is queued (copied) and merged from the work callback; when the queue is
 * full, or the sink cannot take it yet, it is dropped unacknowledged (the
 * shipper resends) and counted as shed. */
void tsc__logsink_on_batch(struct tsc_agent *a, const struct tsc_envelope *env);
/* The run's last stage was decided (acting coordinator): queued behind the
 * batches that arrived before it. */
void tsc__logsink_run_end(struct tsc_agent *a, uint64_t run);
/* Leadership changed. A coordinator that stops acting keeps its engine
 * while it is still the leader of the same term (a lease that lapsed under
 * load comes back); otherwise the engine goes (logs_sinkstore.c keeps
 * what was written, drops the rest unacknowledged). */
void tsc__logsink_on_acting(struct tsc_agent *a, int acting);
/* Merge queued batches for up to a few milliseconds (work callback). */
void tsc__logsink_intake(struct tsc_agent *a);
/* Step the engine with ev (time filled in) and carry out its update. */
void tsc__logsink_step(struct tsc_agent *a, struct tsc_logsink_event *ev);
void tsc__logsink_free(struct tsc_agent *a);

/* ---- logs_sinkstore.c ---------------------------------------------------- */

/* Restore a new engine from LOGMETA and delete LOGS blocks beyond the
 * stored rows (a write cut short). *rows: rows restored. 0, TSC_ESTATE (the
 * previous engine's write is still running: try later), TSC_ESTORE or
 * TSC_ENOMEM. */
int tsc__logsink_restore(struct tsc_agent *a, size_t *rows, char *errmsg);
/* Add an update's merged records (LOGS blocks), errors and rows to the
 * next write, with its token. 0 or TSC_ENOMEM (nothing added). */
int tsc__logsink_encode(struct tsc_agent *a, const struct tsc_logsink_update *up);
/* Start the next write on the thread pool if none is running (work
 * callback); its tokens are stepped EV_DURABLE when it returns. */
void tsc__logsink_flush(struct tsc_agent *a);
/* The engine is gone: forget the next write; the running one finishes
 * without stepping anything. */
void tsc__logsink_discard(struct tsc_agent *a);
/* 1 while a write of a discarded engine still runs. */
int tsc__logsink_orphaned(const struct tsc_agent *a);
void tsc__logsink_store_free(struct tsc_agent *a);

/* LOGMETA rows (logs_sinkstore.c encodes them; logs_ctl.c reads them). */
int tsc__logsink_row_decode(const uint8_t *p, size_t len, struct tsc_logsink_row *row);

/* ---- logs_ctl.c ---------------------------------------------------------- */

/* Ops log, send, recv. Returns 0 with the body in out, 1 when the answer
 * is deferred (recv: tsc__agent_reply_later comes later), or a TSC_E*
 * with errmsg. */
int tsc__logs_control(struct tsc_agent *a, uint64_t conn_id, int origin_tcp,
                      const struct tsc_control_req *req, struct tsc_buf *out, char *errmsg);
/* Ops logs and log_index (acting coordinator). 0 or a TSC_E* with errmsg. */
int tsc__logs_control_coord(struct tsc_agent *a, const struct tsc_control_req *req,
                            struct tsc_buf *out, char *errmsg);
/* A LOG_MSG arrived. */
void tsc__logs_on_msg(struct tsc_agent *a, const struct tsc_envelope *env);
/* The run ended here: its messages nobody received are dropped. */
void tsc__logs_drop_msgs(struct tsc_agent *a, uint64_t run);
/* A message or a deadline may complete waiting `recv`s. */
void tsc__logs_check_waits(struct tsc_agent *a);
void tsc__logs_ctl_free(struct tsc_agent *a);

#endif
