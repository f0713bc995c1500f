/* tsc — the run log: records of runs in the coordinator's replicated log, and
 * the messages between the coordinator and the participants.
 *
 * The replicated state of all runs is the sequence of committed run-log
 * records (gossip/election.h replicates them as APP entries). Every voter
 * applies them in log order, so every voter knows every run, and a new
 * coordinator resumes where the old one stopped (barrier/barrier.h):
 *   SUBMIT  a run: the suite (wire/suite.h bytes), its participants, the
 *           per-stage timeouts. The run id is the log index of this record.
 *   STAGE   the decided outcome of one stage of one run: one result per
 *           participant (in participant index order) and a diagnosis.
 *   CANCEL  the user cancelled a run.
 * Records are msgpack arrays [kind, ...]; decoding is total (any byte string
 * yields a record or TSC_EMALFORMED) and copies nothing: decoded pointers
 * point into the input bytes.
 *
 * Messages (bodies of sealed frames, wire/frame.h types TSC_MSG_STAGE_*):
 *   START   coordinator -> participant: run, stage, term, participant index,
 *           the rendered script, timeout.
 *   REPORT  participant -> coordinator: run, stage, the result; signed with
 *           the participant's Ed25519 key (wire/record.h blob format:
 *           [signed bytes, signature]), so a relay or another member cannot
 *           forge a machine's result.
 *   CANCEL  coordinator -> participant: kill the run's scripts now. */
#ifndef TSC_BARRIER_RUNLOG_H
#define TSC_BARRIER_RUNLOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/error.h"
#include "wire/crypto.h"

#define TSC_RUN_MAX_PARTICIPANTS 4096
#define TSC_RUN_MAX_STAGES       (3u * 1000 + 2) /* wire/suite.h TSC_SUITE_MAX_CASES */
#define TSC_RUN_MAX_DIAG         512             /* bytes of a diagnosis */
#define TSC_RUN_MAX_OUTPUT       (64u << 10)     /* bytes of output a participant keeps per stage */
#define TSC_RUN_NAME             64              /* machine names and roles, NUL included */

enum tsc_runlog_kind {
    TSC_RUNLOG_SUBMIT = 1,
    TSC_RUNLOG_STAGE = 2,
    TSC_RUNLOG_CANCEL = 3,
};

/* One participant's result of one stage. */
enum tsc_result_status {
    TSC_RESULT_PENDING = 0,   /* no result yet (never in a STAGE record) */
    TSC_RESULT_PASSED = 1,    /* exit status 0 */
    TSC_RESULT_FAILED = 2,    /* exit status != 0, or killed by a signal */
    TSC_RESULT_TIMEOUT = 3,   /* ran past the stage timeout; killed */
    TSC_RESULT_DEAD = 4,      /* membership said dead (or left) before it reported */
    TSC_RESULT_LOST = 5,      /* its agent restarted while the script ran */
    TSC_RESULT_CANCELLED = 6, /* killed by tscctl cancel */
    TSC_RESULT_ERROR = 7,     /* tsc could not run the script (spawn failed, ...) */
};

/* "passed", "failed", ... */
const char *tsc_result_status_name(int status);

struct tsc_stage_result {
    uint8_t status;            /* enum tsc_result_status */
    int32_t exit_code;         /* when the script exited */
    int32_t signal;            /* when a signal ended it; 0 otherwise */
    uint64_t start_us, end_us; /* the participant's wall clock, µs since the epoch */
    const uint8_t *output;     /* stdout+stderr (tail, bounded); borrowed */
    size_t output_len;
    const char *message; /* short reason from the participant or coordinator; may be "" */
    size_t message_len;
};

struct tsc_run_participant {
    uint64_t id;
    struct tsc_addr addr;
    char name[TSC_RUN_NAME];
    char role[TSC_RUN_NAME]; /* the first of its roles, "" when none */
};

struct tsc_runlog_submit {
    uint64_t nonce;        /* the client's request id: a resubmission is the same run */
    uint64_t submitted_us; /* coordinator's wall clock */
    char suite_name[TSC_RUN_NAME];
    uint32_t n_cases;               /* stages: 3 * n_cases + 2 */
    const uint64_t *timeouts_us_be; /* n_stages big-endian u64, borrowed; use tsc_runlog_timeout */
    size_t n_participants;
    struct tsc_run_participant *participants; /* decoder: allocated, free with tsc_runlog_free */
    const uint8_t *suite;                     /* wire/suite.h bytes, borrowed */
    size_t suite_len;
};

enum tsc_stage_outcome {
    TSC_STAGE_PASSED = 1,
    TSC_STAGE_FAILED = 2,
};

struct tsc_runlog_stage {
    uint64_t run;
    uint32_t stage;
    uint8_t outcome;                  /* enum tsc_stage_outcome */
    uint64_t decided_us;              /* coordinator's wall clock */
    char diagnosis[TSC_RUN_MAX_DIAG]; /* "" when passed */
    size_t n_results;                 /* = n_participants of the run */
    struct tsc_stage_result *results; /* decoder: allocated; outputs borrowed */
};

struct tsc_runlog_cancel {
    uint64_t run;
    uint64_t at_us;
    char reason[TSC_RUN_MAX_DIAG];
};

struct tsc_runlog {
    int kind; /* enum tsc_runlog_kind */
    struct tsc_runlog_submit submit;
    struct tsc_runlog_stage stage;
    struct tsc_runlog_cancel cancel;
};

/* Encoders append to out; 0, TSC_EINVAL (limits) or TSC_ENOMEM; out unchanged
 * on error. For SUBMIT, timeouts is n_stages host-order values. */
int tsc_runlog_encode_submit(const struct tsc_runlog_submit *s, const uint64_t *timeouts_us,
                             struct tsc_buf *out);
int tsc_runlog_encode_stage(const struct tsc_runlog_stage *s, struct tsc_buf *out);
int tsc_runlog_encode_cancel(const struct tsc_runlog_cancel *c, struct tsc_buf *out);

/* Decode one record; r needs no initialisation. 0, TSC_EMALFORMED,
 * TSC_ENOMEM; on error nothing stays allocated. */
int tsc_runlog_decode(const uint8_t *p, size_t len, struct tsc_runlog *r);
void tsc_runlog_free(struct tsc_runlog *r);

uint32_t tsc_runlog_n_stages(const struct tsc_runlog_submit *s);
uint64_t tsc_runlog_timeout(const struct tsc_runlog_submit *s, uint32_t stage);

/* ---- stage numbering (wire/suite.h) -------------------------------------- */

enum tsc_stage_kind {
    TSC_STAGE_SUITE_INIT = 0,
    TSC_STAGE_CASE_INIT,
    TSC_STAGE_CASE_RUN,
    TSC_STAGE_CASE_FINALIZE,
    TSC_STAGE_SUITE_FINALIZE,
};

/* Kind of stage k of a run with n_cases cases; *case_index (may be NULL) is
 * the case, or -1 for suite stages. */
int tsc_stage_kind(uint32_t n_cases, uint32_t k, int32_t *case_index);
/* "init", "run", "finalize" (case and suite stages alike). */
const char *tsc_stage_kind_name(int kind);

/* ---- messages ------------------------------------------------------------ */

struct tsc_stage_start {
    uint64_t run;
    uint32_t stage;
    uint64_t term;  /* the coordinator's term: fencing */
    uint32_t index; /* participant index */
    uint64_t timeout_us;
    const char *script; /* rendered; "" = nothing to run (report success) */
    size_t script_len;
    const char *case_name; /* "" in suite stages */
    size_t case_name_len;
    const char *role;
    size_t role_len;
    /* Files to follow on this machine while the run lasts (issue "Logs"):
     * rendered paths, one per line, each a shell word as the template
     * quoted it; "" = none. */
    const char *follow;
    size_t follow_len;
};

struct tsc_stage_report {
    uint64_t node;
    uint64_t run;
    uint32_t stage;
    uint64_t term; /* the START's term it answers */
    struct tsc_stage_result result;
};

struct tsc_stage_cancel {
    uint64_t run;
    uint64_t term;
    uint32_t stage; /* the stage to stop: a delayed CANCEL must not kill a later finalize */
};

int tsc_stage_start_encode(const struct tsc_stage_start *m, struct tsc_buf *out);
int tsc_stage_start_decode(const uint8_t *p, size_t len, struct tsc_stage_start *m);
/* Encode and sign with the participant's secret key. */
int tsc_stage_report_encode(const struct tsc_crypto *c, const uint8_t sk[TSC_SK_BYTES],
                            const struct tsc_stage_report *m, struct tsc_buf *out);
/* Decode without checking the signature; *signed_part/len: what is signed. */
int tsc_stage_report_decode(const uint8_t *p, size_t len, struct tsc_stage_report *m);
/* Check the signature of an encoded report against pk: 0 or TSC_ESIG/TSC_EMALFORMED. */
int tsc_stage_report_verify(const struct tsc_crypto *c, const uint8_t *p, size_t len,
                            const uint8_t pk[TSC_PK_BYTES]);
int tsc_stage_cancel_encode(const struct tsc_stage_cancel *m, struct tsc_buf *out);
int tsc_stage_cancel_decode(const uint8_t *p, size_t len, struct tsc_stage_cancel *m);

/* ---- a run as the records describe it (for status, results, history) ---- */

enum tsc_run_state {
    TSC_RUN_QUEUED = 1,
    TSC_RUN_RUNNING = 2,
    TSC_RUN_PASSED = 3,    /* finished, every stage passed */
    TSC_RUN_FAILED = 4,    /* finished, some stage failed */
    TSC_RUN_CANCELLED = 5, /* finished after tscctl cancel */
};
const char *tsc_run_state_name(int state);

enum tsc_case_state {
    TSC_CASE_PENDING = 0,
    TSC_CASE_PASSED = 1,
    TSC_CASE_FAILED = 2,
    TSC_CASE_SKIPPED = 3, /* suite init failed, or the run was cancelled before it */
};

/* Built from one SUBMIT record and the run's STAGE/CANCEL records, in log
 * order. Keeps pointers into the records' bytes: they must outlive it. */
struct tsc_run_view {
    uint64_t run;
    struct tsc_runlog_submit submit;
    uint32_t n_stages;
    struct tsc_runlog_stage **stages; /* [n_stages]; NULL = not decided */
    int cancelled;
    struct tsc_runlog_cancel cancel;
    int state;     /* enum tsc_run_state */
    uint32_t next; /* next stage to run (n_stages when finished) */
    /* owned copies of decoded records */
    struct tsc_runlog *recs;
    size_t n_recs;
};

/* Start a view from a SUBMIT record of log index `run`. */
int tsc_run_view_init(struct tsc_run_view *v, uint64_t run, const uint8_t *submit, size_t len);
/* Add a STAGE or CANCEL record of this run (others: TSC_EINVAL). */
int tsc_run_view_add(struct tsc_run_view *v, const uint8_t *rec, size_t len);
void tsc_run_view_free(struct tsc_run_view *v);
/* State of case i (derived from its three stages and suite init). */
int tsc_run_view_case_state(const struct tsc_run_view *v, uint32_t i);

/* The barrier's sequencing rule, shared by the engine and the views: the
 * stage that follows, given the outcomes so far (outcome[k] for k < next is
 * TSC_STAGE_PASSED/FAILED, or 0 for a stage that was skipped).
 *   - suite init failed: every case stage is skipped; suite finalize runs;
 *   - case init failed: the case's run is skipped; its finalize runs;
 *   - cancelled: every stage is skipped except the finalize of the case in
 *     progress (when its init ran) and suite finalize;
 *   - finalize stages always run.
 * `done` is the stage just decided; returns the next stage to run, or
 * n_stages when the run is over. */
uint32_t tsc_stage_next(uint32_t n_cases, const uint8_t *outcome, uint32_t done, int cancelled);

#endif
