/* tsc — the control protocol between tscctl and an agent.
 *
 * Transport (not part of this codec): every message is one frame prefixed by a
 * 4-byte big-endian length, one request and one response per connection.
 *   - TCP, on the agent's gossip port: the message is the body of a sealed
 *     envelope (wire/frame.h) of type TSC_MSG_CONTROL_REQ / _RESP; tscctl
 *     sends with sender 0, seq = wall-clock µs and a random nonce. When the
 *     agent cannot open the request it answers the plaintext frame
 *     TSC_CONTROL_EAUTH_MARKER instead, so the CLI can say "wrong key".
 *   - Unix socket <data-dir>/tscd.sock (mode 0600): the message is sent as
 *     is, without sealing; access is decided by the file permission.
 *
 * Request:  msgpack map {"v": 1, "op": "members" | "stats" | "status"}
 * Response: msgpack map
 *   {"v": 1, "ok": true, "self": id, "members": [member...],
 *    "coord": id}                                                for members
 *   {"v": 1, "ok": true, "self": id, "stats": {name: uint, ...}} for stats
 *   {"v": 1, "ok": true, "self": id, "status": status}           for status
 *   {"v": 1, "ok": false, "code": TSC_E*, "error": str}          on failure
 * "coord" is the coordinator as the answering agent sees it (0: unknown).
 * status:   {"coord": id, "coord_ip": u32, "coord_port": u16, "term": u64,
 *            "role": enum tsc_election_role (0 = no engine), "voter": bool,
 *            "acting": bool, "commit": u64, "last": u64, "voters": [voter...]}
 * voter:    {"id": u64, "ip": u32, "port": u16, "status": enum tsc_status or
 *            255 (not a member), "match": u64 (only when known: the answering
 *            agent is the coordinator), "self": bool}
 * member:   {"id": u64, "ip": u32, "port": u16, "status": enum tsc_status,
 *            "inc": u64, "self": bool, "age_ms": u64, "record": bin}
 * "record" is the member's signed record blob (wire/record.h), so a client
 * can show roles, labels and readiness from the node's own words; "status"
 * is what the answering agent currently believes, which may differ from the
 * status inside the record (suspect and dead are claims made by others).
 *
 * Replay: every op is read-only today, so the agent keeps no replay window
 * for sender 0; a replayed request yields a sealed answer only key holders
 * can read. An op that changes state must add one (seq is wall-clock µs, so
 * a freshness window works without per-client state).
 *
 * Decoding is total: unknown keys are skipped, any byte string yields a
 * message or TSC_EMALFORMED, and memory grows only with decoded members. */
#ifndef TSC_WIRE_CONTROL_H
#define TSC_WIRE_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/error.h"

#define TSC_CONTROL_VERSION 1

/* Plaintext reply to a control frame the agent could not open. A sealed frame
 * is always longer than this, so the two cannot be confused. */
#define TSC_CONTROL_EAUTH_MARKER     "TSC-EAUTH"
#define TSC_CONTROL_EAUTH_MARKER_LEN 9

enum tsc_control_op {
    TSC_CONTROL_OP_MEMBERS = 1,
    TSC_CONTROL_OP_STATS = 2,
    TSC_CONTROL_OP_STATUS = 3,
    TSC_CONTROL_OP_RUN = 4,        /* submit a suite: "suite" (wire/suite.h bytes), "nonce" */
    TSC_CONTROL_OP_RUN_STATUS = 5, /* "run": progress of one run (0: the current one) */
    TSC_CONTROL_OP_CANCEL = 6,     /* "run" */
    TSC_CONTROL_OP_HISTORY = 7,    /* "suite" (filter, may be ""), "limit" */
    TSC_CONTROL_OP_RESULTS = 8,    /* "run": every run-log record of the run */
    /* Logs (wire/control_log.c; issue "Logs"): */
    TSC_CONTROL_OP_LOG = 9,        /* "run" (0: this agent's current run), "text": lines to log */
    TSC_CONTROL_OP_LOGS = 10,      /* "run", "from" (merged index), "limit": merged records */
    TSC_CONTROL_OP_SEND = 11,      /* "run", "peer" (node name or id), "text": a message */
    TSC_CONTROL_OP_RECV = 12,      /* "run", "peer" ("" = anyone), "timeout_ms" */
    TSC_CONTROL_OP_LOG_INDEX = 13, /* "run": ranges of merged records and the errors */
};

/* Ops that only the coordinator answers; any other agent forwards them. */
int tsc_control_op_is_coordinator(int op);

/* "members", "stats", "status", or "?". */
const char *tsc_control_op_name(int op);

#define TSC_CONTROL_NAME 64

/* Run ops ("run", "run_status", "cancel", "history", "results") add keys:
 *   "run": u64, "nonce": u64, "suite": bin, "suite_name": str, "limit": u32,
 *   "fwd": bool (set by an agent that forwards the request to the
 *   coordinator: the receiver answers or fails, it never forwards again).
 * Replay: "run" is de-duplicated by nonce and "cancel" is idempotent, so a
 * replayed sealed request changes nothing. */
/* Log ops add: "text": bin (log: one record per line, a trailing newline
 * ignored; send: the message), "peer": str, "from": u64, "timeout_ms": u32.
 * log, send and recv are answered by the agent they are sent to (a stage
 * script's own agent); logs and log_index by the coordinator. */
#define TSC_CONTROL_MAX_TEXT (1u << 20)
struct tsc_control_req {
    int op; /* enum tsc_control_op */
    uint64_t run;
    uint64_t nonce;
    const uint8_t *suite; /* borrowed from the decoded bytes */
    size_t suite_len;
    char suite_name[TSC_CONTROL_NAME];
    uint32_t limit;
    int forwarded;
    const uint8_t *text; /* borrowed; at most TSC_CONTROL_MAX_TEXT */
    size_t text_len;
    char peer[TSC_CONTROL_NAME];
    uint64_t from;
    uint32_t timeout_ms;
};

/* Append the encoded request to out. 0, TSC_EINVAL (unknown op) or
 * TSC_ENOMEM; out unchanged on error. */
int tsc_control_req_encode(const struct tsc_control_req *req, struct tsc_buf *out);

/* Decode a request. 0, TSC_EMALFORMED (not a request) or TSC_EINVAL (unknown
 * op or version); errmsg (may be NULL) says which. */
int tsc_control_req_decode(const uint8_t *p, size_t len, struct tsc_control_req *req, char *errmsg);

struct tsc_control_member {
    uint64_t id;
    struct tsc_addr addr;
    uint8_t status; /* enum tsc_status as the agent sees it */
    uint64_t incarnation;
    int is_self;
    uint64_t age_ms;       /* time in the current status */
    const uint8_t *record; /* signed record blob; borrowed (see below) */
    size_t record_len;
};

#define TSC_CONTROL_STAT_NAME 32
#define TSC_CONTROL_MAX_STATS 64

struct tsc_control_stat {
    char name[TSC_CONTROL_STAT_NAME]; /* NUL-terminated, [a-z0-9_] */
    uint64_t value;
};

#define TSC_CONTROL_MAX_VOTERS     15  /* = TSC_RAFT_MAX_VOTERS */
#define TSC_CONTROL_STATUS_UNKNOWN 255 /* a voter that is not (yet) a member */

struct tsc_control_voter {
    uint64_t id;
    struct tsc_addr addr;
    uint8_t status; /* enum tsc_status, or TSC_CONTROL_STATUS_UNKNOWN */
    int has_match;  /* match is known (the answering agent is the coordinator) */
    uint64_t match; /* highest log index known stored on that voter */
    int is_self;
};

/* The coordinator as one agent sees it (op "status"). */
struct tsc_control_status {
    uint64_t coordinator; /* 0: unknown */
    struct tsc_addr coordinator_addr;
    uint64_t term;
    int role;   /* enum tsc_election_role of the answering agent; 0 = none */
    int voter;  /* the answering agent is in the voter set */
    int acting; /* it is the coordinator and inside its lease */
    uint64_t commit, last_index;
    size_t n_voters;
    struct tsc_control_voter voters[TSC_CONTROL_MAX_VOTERS];
};

/* Encode a members response; coordinator is the answering agent's view
 * (0: unknown). members[i].record is copied into out.
 * 0 or TSC_ENOMEM; out unchanged on error. */
int tsc_control_resp_encode_members(uint64_t self, uint64_t coordinator,
                                    const struct tsc_control_member *members, size_t n,
                                    struct tsc_buf *out);

/* Encode a status response. 0, TSC_EINVAL (too many voters) or TSC_ENOMEM;
 * out unchanged on error. */
int tsc_control_resp_encode_status(uint64_t self, const struct tsc_control_status *st,
                                   struct tsc_buf *out);

/* Encode a stats response (names as given, at most TSC_CONTROL_MAX_STATS).
 * 0, TSC_EINVAL (too many, bad name) or TSC_ENOMEM; out unchanged on error. */
int tsc_control_resp_encode_stats(uint64_t self, const struct tsc_control_stat *stats, size_t n,
                                  struct tsc_buf *out);

/* Encode a failure: code is a TSC_E* value, message a human sentence
 * (truncated to TSC_ERRMSG_SIZE - 1 bytes). 0 or TSC_ENOMEM. */
int tsc_control_resp_encode_error(int code, const char *message, struct tsc_buf *out);

/* One run in a history answer. */
struct tsc_control_run_summary {
    uint64_t run;
    char suite[TSC_CONTROL_NAME];
    int state; /* enum tsc_run_state (barrier/runlog.h) */
    uint64_t submitted_us, ended_us;
    uint32_t n_cases, n_failed;
};

/* Progress of one run (op run_status):
 *   {"run", "state", "stage", "n_stages", "queued", "outcomes": bin (one
 *    byte per stage: 0 undecided, else enum tsc_stage_outcome),
 *    "reported": bin (one byte per participant: enum tsc_result_status of
 *    the current stage), "submit": bin (the SUBMIT record), "diag": str} */
struct tsc_control_progress {
    uint64_t run;
    int state;
    uint32_t stage, n_stages, queued;
    const uint8_t *outcomes; /* n_stages bytes; borrowed */
    const uint8_t *reported; /* n_reported bytes; borrowed */
    size_t n_reported;
    const uint8_t *submit; /* borrowed */
    size_t submit_len;
    char diagnosis[512]; /* the newest failed stage's diagnosis, or "" */
};

/* A borrowed byte string (records of op results). */
struct tsc_control_bytes {
    const uint8_t *p;
    size_t len;
};

#define TSC_CONTROL_MAX_HISTORY 10000
#define TSC_CONTROL_MAX_RECORDS (3u * 1000 + 8)

int tsc_control_resp_encode_run(uint64_t self, uint64_t run, struct tsc_buf *out);
int tsc_control_resp_encode_progress(uint64_t self, const struct tsc_control_progress *p,
                                     struct tsc_buf *out);
int tsc_control_resp_encode_records(uint64_t self, uint64_t run,
                                    const struct tsc_control_bytes *recs, size_t n,
                                    struct tsc_buf *out);
int tsc_control_resp_encode_history(uint64_t self, const struct tsc_control_run_summary *runs,
                                    size_t n, struct tsc_buf *out);

/* Merged log records of a run (op logs) or its errors (op log_index):
 *   {"run", "first": index of records[0], "records": [bin tsc_logrec],
 *    "merged": records merged so far, "errors": [bin tsc_logmerge_error],
 *    "finished": bool (every node of the run is done: nothing more comes)}
 * Encoding borrows the arrays; decoding allocates them (bytes borrowed). */
#define TSC_CONTROL_MAX_LOG_RECORDS 65536
#define TSC_CONTROL_MAX_LOG_ERRORS  65536
struct tsc_control_logs {
    uint64_t run, first, merged;
    int finished;
    struct tsc_control_bytes *records;
    size_t n_records;
    struct tsc_control_bytes *errors;
    size_t n_errors;
};

/* Op log_index: for each (stage, case, node) that has merged records, the
 * first and last merged index and the count, in order of first index:
 *   "ranges": [[stage, case, node, first, last, count], ...] beside "logs"
 * (with no records). */
#define TSC_CONTROL_MAX_LOG_RANGES 100000
struct tsc_control_log_range {
    uint32_t stage, case_index; /* case: TSC_LOGREC_NO_CASE (UINT32_MAX) when none */
    uint64_t node, first, last, count;
};

/* Op log and send: {"run", "seq": the (last) record's sequence number}.
 * Op recv: {"msg": {"run", "from", "seq", "text": bin}}. */
int tsc_control_resp_encode_seq(uint64_t self, uint64_t run, uint64_t seq, struct tsc_buf *out);
int tsc_control_resp_encode_logs(uint64_t self, const struct tsc_control_logs *l,
                                 struct tsc_buf *out);
int tsc_control_resp_encode_log_index(uint64_t self, const struct tsc_control_logs *l,
                                      const struct tsc_control_log_range *ranges, size_t n,
                                      struct tsc_buf *out);
int tsc_control_resp_encode_msg(uint64_t self, uint64_t run, uint64_t from, uint64_t seq,
                                const uint8_t *text, size_t len, struct tsc_buf *out);

/* Decoded response. members is allocated by the decoder (free it with
 * tsc_control_resp_free); each member's record points into the input bytes,
 * which must outlive the response. */
struct tsc_control_resp {
    int ok;
    int code;                               /* when !ok: TSC_E* from the agent */
    char error[TSC_ERRMSG_SIZE];            /* when !ok */
    uint64_t self;                          /* the answering agent's id */
    int has_members, has_stats, has_status; /* which payload was present */
    uint64_t coordinator;                   /* members: the agent's view; 0 unknown */
    struct tsc_control_status status;
    struct tsc_control_member *members;
    size_t n_members;
    struct tsc_control_stat stats[TSC_CONTROL_MAX_STATS];
    size_t n_stats;
    int has_run, has_progress, has_records, has_history;
    uint64_t run; /* op run: the run id; op results: the run */
    struct tsc_control_progress progress;
    struct tsc_control_bytes *records; /* allocated; bytes borrowed */
    size_t n_records;
    struct tsc_control_run_summary *history; /* allocated */
    size_t n_history;
    int has_seq, has_logs, has_msg, has_ranges;
    uint64_t seq;                         /* log, send (run in `run`) */
    struct tsc_control_logs logs;         /* logs, log_index: arrays allocated */
    struct tsc_control_log_range *ranges; /* log_index: allocated */
    size_t n_ranges;
    uint64_t msg_run, msg_from, msg_seq; /* recv */
    const uint8_t *msg_text;             /* borrowed */
    size_t msg_len;
};

/* Decode a response into r (which needs no initialisation). 0,
 * TSC_EMALFORMED or TSC_ENOMEM; on error nothing stays allocated. */
int tsc_control_resp_decode(const uint8_t *p, size_t len, struct tsc_control_resp *r);

/* Release what tsc_control_resp_decode allocated; r may be reused. */
void tsc_control_resp_free(struct tsc_control_resp *r);

/* Value of a named stat, or 0 when absent (*found, if not NULL, says which). */
uint64_t tsc_control_resp_stat(const struct tsc_control_resp *r, const char *name, int *found);

#endif
