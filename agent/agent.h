/* tsc — the agent: the only place that wires the engines to real I/O.
 *
 * One libuv loop on one thread drives the pure SWIM engine (gossip/) and the
 * coordinator election engine (gossip/election.h) on one UDP+TCP port:
 * packets and stream frames from the network become events, the engines'
 * updates become packets, timer deadlines, log lines and store writes. Files:
 *   main.c           flags -> struct tsc_agent_config
 *   agent.c          start-up, the step driver, timers, signals, leave, stop
 *   net_uv.c         UDP socket, TCP listener and streams, the Unix socket
 *   control.c        frames that arrive on streams: push-pull, raft, control
 *   coord.c          the election driver: routing, voters, coordinator meta
 *   coord_store.c    election term, vote and log in the store
 *   state.c          node key, incarnation and members in the store
 *   runs.c           the coordinator side of runs: the barrier engine's driver
 *   runs_store.c     applied run records, summaries and history in the store
 *   runs_ctl.c       the run control ops (run, run_status, cancel, history, results)
 *   participant.c    the participant side: stage scripts through runner.c
 *   logs*.c          logs: streams, shipping, the sink, the log ops (logs.h)
 *   store_rocksdb.c  the store adapter;  log.c  the log;  keyfile.c  --key */
#ifndef TSC_AGENT_AGENT_H
#define TSC_AGENT_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "agent/logs.h"
#include "agent/runner.h"
#include "agent/store.h"
#include "barrier/barrier.h"
#include "barrier/plan.h"
#include "common/addr.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/time.h"
#include "gossip/election.h"
#include "gossip/gossip.h"
#include "wire/control.h"
#include "wire/frame.h"
#include "wire/record.h"
#include "wire/suite.h"

#define TSC_AGENT_MAX_JOIN     32
#define TSC_AGENT_DEFAULT_PORT 7946
#define TSC_AGENT_SOCKET_NAME  "tscd.sock"
#define TSC_AGENT_LEAVE_CAP_MS 2000 /* SIGTERM: give up waiting for leave_done */

struct tsc_agent_config {
    const char *data_dir;
    uint8_t key[TSC_KEY_BYTES];
    struct tsc_addr bind;
    struct tsc_addr advertise; /* = bind unless --advertise */
    struct tsc_addr joins[TSC_AGENT_MAX_JOIN];
    size_t n_joins;
    struct tsc_meta meta;
    struct tsc_gossip_config gossip;
};

/* Run an agent until SIGTERM/SIGINT (graceful leave) or a fatal error.
 * Returns 0 after a clean stop, or a TSC_E* code with errmsg set when the
 * agent could not start (store locked, address in use, ...). */
int tsc_agent_run(const struct tsc_agent_config *cfg, char *errmsg);

/* ---- module-internal (agent/ files only) -------------------------------- */

/* Counters kept by the driver beside the engine's; shown by `tscctl stats`. */
struct tsc__agent_counters {
    uint64_t conns_accepted;  /* incoming TCP + Unix connections */
    uint64_t conns_dropped;   /* refused: too many open connections */
    uint64_t frame_errors;    /* bad length prefix, truncated frame, idle timeout */
    uint64_t udp_send_errors; /* datagrams the kernel would not take */
    uint64_t streams_out;     /* outgoing stream frames written */
    uint64_t streams_failed;  /* outgoing connect/write failures */
    uint64_t control_requests;
    uint64_t control_rejected; /* control frames that could not be opened or decoded */
    uint64_t store_errors;
};

/* Bits of tsc_agent.handles_open. */
#define TSC__H_TIMER       1
#define TSC__H_LEAVE_TIMER 2
#define TSC__H_SIGTERM     4
#define TSC__H_SIGINT      8
#define TSC__H_UDP         16
#define TSC__H_TCP         32
#define TSC__H_CTL         64
#define TSC__H_COORD_TIMER 128
#define TSC__H_RUNS_TIMER  256
#define TSC__H_DUE         512
#define TSC__H_TURN        1024

/* Protocol work a timer made due (tsc__agent_due). */
#define TSC__DUE_GOSSIP 1u /* the gossip engine's TICK (agent.c) */
#define TSC__DUE_COORD  2u /* the election engine's TICK (coord.c) */

/* Bytes of one replicated run record (the election engine allows up to
 * 256 KiB less framing): a SUBMIT carries the suite, a STAGE the results. */
#define TSC__RUN_MAX_RECORD (240u << 10)

/* The election driver's state (coord.c). */
struct tsc__coord {
    struct tsc_election *e;
    uv_timer_t timer;              /* the election engine's next deadline */
    uint64_t stored_last;          /* highest log index in the store */
    uint64_t pub_leader, pub_term; /* coordinator/term last put in our meta */
    uint64_t next_meta_us;         /* rate limit for SET_META */
    uint64_t next_reconcile_us;    /* leader: next voter-set check */
    uint64_t last_leader, last_term;
    int leave_done; /* after LEAVE: leadership handed over (or never held) */
    int is_voter_role;
};

/* Runs: both barrier engines and their drivers (runs.c, participant.c). */
struct tsc__runs {
    struct tsc_barrier *b; /* coordinator side, fed on every voter */
    struct tsc_part *p;    /* participant side */
    struct tsc_runner runner;
    uv_timer_t timer; /* the barrier engine's next deadline */
    int acting;       /* what the barrier engine was last told */
    uint64_t term;
    /* Proposals and applies wait here while the election engine is inside
     * a step (its update must be consumed before it runs again). */
    struct tsc_buf *pending;
    size_t n_pending, cap_pending;
    int in_coord_step;
    int flushing;             /* runs.c: tsc__runs_after_coord_step is on the stack */
    int done_stored;          /* participant.c: the DONE being stepped is stored already */
    struct tsc_run_plan plan; /* the run STARTs are sent for, decoded once */
    const struct tsc__logstamp *start_stamp; /* participant.c: the START being stepped's */
    char work_root[4096];
};

union tsc__handle {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
};

struct tsc__conn; /* mem.c: unmap clean executable pages that only start-up used. */
void tsc__agent_trim_startup_pages(void);

/* net_uv.c */

struct tsc_agent {
    uv_loop_t loop;
    struct tsc_agent_config cfg;
    struct tsc_wire wire;
    struct tsc_gossip *gossip;
    struct tsc_store store;
    int store_open;

    uint64_t self_id;
    uint8_t pk[TSC_PK_BYTES];
    uint8_t sk[TSC_SK_BYTES];
    uint64_t incarnation; /* highest own incarnation written to the store */
    uint64_t started_us;  /* monotonic */
    uint64_t last_ctl_seq;
    uint64_t last_refutations; /* engine stat; a change means our incarnation moved */

    uv_udp_t udp;
    uv_tcp_t tcp;
    uv_pipe_t ctl;
    uv_timer_t timer;       /* the engine's next deadline */
    uv_timer_t leave_timer; /* TSC_AGENT_LEAVE_CAP_MS after SIGTERM */
    uv_signal_t sigterm, sigint;
    uv_idle_t due_idle;   /* keeps the poll from blocking while work is due */
    uv_check_t due_check; /* runs due work right after the poll */
    unsigned due;         /* TSC__DUE_* */
    int handles_open;     /* TSC__H_* bits: the handles above that were initialised */
    char sock_path[108];

    struct tsc__conn *conns;   /* every open connection, both directions */
    union tsc__handle discard; /* accepts and closes a connection when out of memory */
    int discard_busy;
    size_t n_conns_in, n_conns_out, n_conns_unix;
    uv_prepare_t turn_start; /* net_uv.c: per-turn read budget */
    size_t turn_read;        /* peers' stream bytes read this turn */
    size_t n_paused;         /* connections paused until the next turn */

    struct tsc_buf scratch; /* plaintext of frames opened by the driver */
    struct tsc_buf body;    /* control response bodies */

    struct tsc_addr rejoin[TSC_AGENT_MAX_JOIN]; /* --join, or the stored members */
    size_t n_rejoin;
    uint64_t next_rejoin_us, rejoin_backoff_us;
    int was_joined;

    struct tsc_gossip_stats last_stats; /* for the rate-limited rejection summary */
    uint64_t next_summary_us;
    uint64_t next_sweep_us;
    uint64_t trim_mark, trim_since; /* maybe_trim: log counters, when they last moved */
    int trimmed;
    uint64_t next_auth_warn_us; /* rate limit for "peer has another key" */

    struct tsc__coord coord;
    struct tsc__runs runs;
    struct tsc__logs logs;
    uint64_t next_conn_id;
    uint64_t net_defer_us; /* how long the next deferred reply may wait (0: default) */

    int leaving, stopping;
    int gossip_left; /* leaving: the engine's LEFT announcement went out */
    struct tsc__agent_counters c;
    uint8_t udp_buf[65536];
};

/* Monotonic µs (libuv's high-resolution clock): the engines' `now`. */
uint64_t tsc__agent_now(void);
/* Wall-clock µs (CLOCK_REALTIME): sequence numbers that outlive a restart. */
uint64_t tsc__agent_wall_us(void);

/* Feed one event to the engine (ev->now is filled in) and carry out the
 * update: send, log, persist, re-arm the timer. No-op once stopping. */
/* A protocol timer fired: run its work (TSC__DUE_*) in this loop turn's
 * check phase, after the sockets were polled once, not now (agent.c). */
void tsc__agent_due(struct tsc_agent *a, unsigned what);
void tsc__agent_step(struct tsc_agent *a, struct tsc_gossip_event *ev);

/* Start the graceful leave (first SIGTERM) or stop at once (second). */
void tsc__agent_leave(struct tsc_agent *a);
/* Stop once both engines finished leaving. */
void tsc__agent_leave_progress(struct tsc_agent *a);
/* Close every handle; uv_run returns once the close callbacks ran. */
void tsc__agent_stop(struct tsc_agent *a);

/* mem.c: unmap clean executable pages that only start-up used. */
void tsc__agent_trim_startup_pages(void);

/* net_uv.c */
int tsc__net_start(struct tsc_agent *a, char *errmsg);
void tsc__net_send_datagram(struct tsc_agent *a, const struct tsc_addr *to, const uint8_t *data,
                            size_t len);
/* Copy data, connect to `to`, write [len BE][data], close. */
void tsc__net_send_stream(struct tsc_agent *a, const struct tsc_addr *to, const uint8_t *data,
                          size_t len);
/* Is there room for one more outgoing connection (log batches wait when
 * not, rather than fail)? With `to`, also fewer than `max` of them open
 * to that address (NULL: any). */
int tsc__net_stream_room(struct tsc_agent *a, const struct tsc_addr *to, size_t max);
/* Close connections past their deadline. */
void tsc__net_sweep(struct tsc_agent *a, uint64_t now);
/* Close every network handle and connection (part of tsc__agent_stop). */
void tsc__net_close(struct tsc_agent *a);

/* control.c: a complete frame arrived on an incoming TCP (sealed) or Unix
 * (plaintext) connection. On return `reply` holds the frame to send back
 * (without the length prefix), or is empty for "just close". */
/* A stage or log message (START, REPORT, CANCEL, LOG_BATCH, LOG_ACK,
 * LOG_MSG) opened from a stream or a datagram: handled (1), or not one (0). */
int tsc__agent_on_stage_frame(struct tsc_agent *a, const struct tsc_envelope *env);
/* Seal body as a frame of `type` from this agent (sender = self, seq =
 * wall-clock µs kept increasing, random nonce). 0 or the wire's error. */
int tsc__agent_seal(struct tsc_agent *a, int type, const uint8_t *body, size_t len,
                    struct tsc_buf *out);
/* Both return 1 when the reply is deferred (the request was forwarded to
 * the coordinator; tsc__net_reply(conn_id) comes later), else 0. */
int tsc__agent_on_tcp_frame(struct tsc_agent *a, uint64_t conn_id, const struct tsc_addr *from,
                            const uint8_t *frame, size_t len, struct tsc_buf *reply);
int tsc__agent_on_unix_frame(struct tsc_agent *a, uint64_t conn_id, const uint8_t *msg, size_t len,
                             struct tsc_buf *reply);

/* coord.c: the coordinator election driver (see the comment there). */
/* Load the persisted election state and create the engine (before the loop). */
int tsc__coord_open(struct tsc_agent *a, char *errmsg);
/* Start its timer; bootstrap a one-voter configuration if the rule says so. */
void tsc__coord_start(struct tsc_agent *a);
/* A sealed frame whose envelope type is a RAFT one (16..31). */
void tsc__coord_on_frame(struct tsc_agent *a, int stream, const struct tsc_addr *from,
                         const uint8_t *data, size_t len);
/* Membership changed: new address book, voter-set check. */
void tsc__coord_on_membership(struct tsc_agent *a);
/* Graceful leave: hand leadership over. */
void tsc__coord_leave(struct tsc_agent *a);
void tsc__coord_close(struct tsc_agent *a);
/* The election timer's work (after the poll: tsc__agent_due). */
void tsc__coord_tick(struct tsc_agent *a);
void tsc__coord_free(struct tsc_agent *a);
/* Fencing: the coordinator this agent recognises and its term (from its own
 * engine, or, for a non-voter, the highest term announced in membership).
 * Returns the coordinator id (0: unknown). */
uint64_t tsc__coord_view(struct tsc_agent *a, uint64_t *term, struct tsc_addr *addr);
/* Fencing: 0 when a coordinator command of `term` may be obeyed, TSC_ESTALE
 * when it comes from a lower term than this agent knows. */
int tsc__coord_fence(struct tsc_agent *a, uint64_t term);
/* Fill a status answer (tscctl status). */
void tsc__coord_status(struct tsc_agent *a, struct tsc_control_status *st);

/* Replicate a record (leader only). 0 with *index, or TSC_ESTATE (not the
 * acting coordinator), TSC_ETOOBIG, TSC_ENOMEM. Never call from inside an
 * election step (runs.c queues instead). */
int tsc__coord_append(struct tsc_agent *a, const uint8_t *data, size_t len, uint64_t *index);
/* Is this agent the acting coordinator (leader inside its lease)? */
int tsc__coord_acting(struct tsc_agent *a);

/* runs.c */
int tsc__runs_open(struct tsc_agent *a, char *errmsg);
void tsc__runs_start(struct tsc_agent *a);
void tsc__runs_close(struct tsc_agent *a);
void tsc__runs_free(struct tsc_agent *a);
/* A committed DATA entry of the election log (called inside an election step). */
void tsc__runs_apply(struct tsc_agent *a, const struct tsc_election_entry *e);
/* After every top-level election step: leadership check, queued work. */
void tsc__runs_after_coord_step(struct tsc_agent *a);
/* A member's status changed. */
void tsc__runs_on_member(struct tsc_agent *a, uint64_t id, int alive);
/* A sealed STAGE_REPORT frame's opened envelope. */
void tsc__runs_on_report(struct tsc_agent *a, const struct tsc_envelope *env);
/* Send a sealed message of type `type` with body to a node (stream). */
void tsc__runs_send(struct tsc_agent *a, const struct tsc_addr *to, int type, const uint8_t *body,
                    size_t len);
/* Look a member up: its address and, with pk != NULL, its public key. */
int tsc__runs_member(struct tsc_agent *a, uint64_t id, struct tsc_addr *addr,
                     uint8_t pk[TSC_PK_BYTES]);

/* runs_store.c */
/* Store an applied record (SUBMIT/STAGE/CANCEL) and update the summary. */
void tsc__runs_store_record(struct tsc_agent *a, uint64_t index, const struct tsc_runlog *r,
                            const uint8_t *data, size_t len);
/* The run finished (state: enum tsc_run_state). */
void tsc__runs_store_finished(struct tsc_agent *a, uint64_t run, int state);
/* Every stored record of run, in order (SUBMIT first). recs[i] point into
 * *hold. 0, TSC_ENOTFOUND, TSC_ESTORE, TSC_ENOMEM. */
int tsc__runs_store_load(struct tsc_agent *a, uint64_t run, struct tsc_control_bytes **recs,
                         size_t *n, struct tsc_buf *hold, char *errmsg);
/* History, newest first. *out allocated. */
int tsc__runs_store_history(struct tsc_agent *a, const char *suite, uint32_t limit,
                            struct tsc_control_run_summary **out, size_t *n, char *errmsg);
/* The newest run id (0: none). */
uint64_t tsc__runs_store_last(struct tsc_agent *a);

/* runs_ctl.c: a run op. Returns 0 with the body in out, or a TSC_E* with
 * errmsg (the caller encodes the error). */
int tsc__runs_control(struct tsc_agent *a, const struct tsc_control_req *req, struct tsc_buf *out,
                      char *errmsg);

/* participant.c */
int tsc__part_open(struct tsc_agent *a, char *errmsg);
void tsc__part_on_start(struct tsc_agent *a, const struct tsc_envelope *env);
void tsc__part_on_cancel(struct tsc_agent *a, const struct tsc_envelope *env);
void tsc__part_close(struct tsc_agent *a);
void tsc__part_free(struct tsc_agent *a);

/* Deferred control replies (net_uv.c): a handler that forwards a request
 * answers later with tsc__net_reply(conn_id, frame). */
void tsc__net_reply(struct tsc_agent *a, uint64_t conn_id, const uint8_t *frame, size_t len);
/* Send `sealed` (a CONTROL_REQ) to the coordinator at `to` and hand its
 * reply frame (or NULL on failure) to tsc__agent_on_forwarded. */
void tsc__net_forward(struct tsc_agent *a, uint64_t conn_id, int origin_tcp,
                      const struct tsc_addr *to, const uint8_t *sealed, size_t len);
/* control.c: answer a deferred request with body (sealed when it came over
 * TCP). */
void tsc__agent_reply_later(struct tsc_agent *a, uint64_t conn_id, int origin_tcp,
                            const uint8_t *body, size_t len);
/* control.c: the forwarded request's answer arrived (frame NULL: failed). */
void tsc__agent_on_forwarded(struct tsc_agent *a, uint64_t conn_id, int origin_tcp,
                             const uint8_t *frame, size_t len, const char *why);

/* coord_store.c */
/* Read term, vote and log; entries/data live in *hold until freed by the
 * caller (tsc_free(*entries); tsc_buf_free(hold)). */
int tsc__coord_store_load(struct tsc_agent *a, struct tsc_election_restore *r,
                          struct tsc_election_entry **entries, struct tsc_buf *hold, char *errmsg);
/* Persist what an update says must be durable, synchronously, in one batch. */
int tsc__coord_store_persist(struct tsc_agent *a, const struct tsc_election_update *up,
                             char *errmsg);

/* state.c */
/* Load or create the node key; bump and store the incarnation. */
int tsc__state_load(struct tsc_agent *a, char *errmsg);
/* Fill a->rejoin from the stored members (when no --join was given). */
void tsc__state_load_rejoin(struct tsc_agent *a);
/* Persist what a step changed (members, own incarnation). */
void tsc__state_on_changes(struct tsc_agent *a, const struct tsc_gossip_change *ch, size_t n);

#endif
