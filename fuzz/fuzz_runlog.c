/* tsc — libFuzzer target: the run-log records and the barrier messages
 * (barrier/runlog.h), and the coordinator engine applying them
 * (barrier/barrier.h).
 *
 * Input: one mode byte, then the payload.
 *   mode even  the payload is one record/message, fed to every decoder
 *              (run-log record, START, REPORT with signature check, CANCEL),
 *              to a run view as its SUBMIT and as a record added to a view
 *              of a fixed valid SUBMIT, and to a coordinator engine as an
 *              applied record (alone, and after that SUBMIT as leader);
 *   mode odd   the payload is a list of records [len u16 LE][bytes]...,
 *              applied in turn to a leader engine and a view that both start
 *              from the fixed SUBMIT (run 1), with a TICK between them, so
 *              STAGE and CANCEL records reach the sequencing code.
 * Checks (abort on failure):
 *   - a record that decodes re-encodes, and the re-encoding decodes to the
 *     same fields (the decoder accepts nothing the encoder refuses);
 *   - messages: START and CANCEL likewise;
 *   - the engine returns 0 for every applied record, its progress stays
 *     within the run (stage < n_stages, reported <= participants), what it
 *     proposes is a valid record, and after a TICK at t its next deadline
 *     lies after t;
 *   - the view's next stage never exceeds n_stages and never goes back
 *     except for the documented reopening after an early cancel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "barrier/barrier.h"
#include "barrier/runlog.h"
#include "common/time.h"
#include "wire/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_runlog: invariant broken: %s (%s:%d)\n", #cond, __FILE__,        \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_RECORDS 64

static struct tsc_buf fixed_submit;

/* Run 1: two machines, one case, 1 s stages. */
static void make_submit(void)
{
    struct tsc_run_participant p[2];
    uint64_t t[5] = {1000000, 1000000, 1000000, 1000000, 1000000};
    memset(p, 0, sizeof p);
    p[0].id = 11;
    p[1].id = 22;
    strcpy(p[0].name, "a");
    strcpy(p[1].name, "b");
    struct tsc_runlog_submit s = {.nonce = 5, .n_cases = 1, .n_participants = 2, .participants = p};
    strcpy(s.suite_name, "fz");
    tsc_buf_init(&fixed_submit);
    CHECK(tsc_runlog_encode_submit(&s, t, &fixed_submit) == 0);
}

static void same_result(const struct tsc_stage_result *a, const struct tsc_stage_result *b)
{
    CHECK(a->status == b->status && a->exit_code == b->exit_code && a->signal == b->signal);
    CHECK(a->start_us == b->start_us && a->end_us == b->end_us);
    CHECK(a->output_len == b->output_len && a->message_len == b->message_len);
    CHECK(a->output_len == 0 || memcmp(a->output, b->output, a->output_len) == 0);
    CHECK(a->message_len == 0 || memcmp(a->message, b->message, a->message_len) == 0);
}

static void check_record(const uint8_t *p, size_t n)
{
    struct tsc_runlog a, b;
    struct tsc_buf out;
    if (tsc_runlog_decode(p, n, &a) != 0)
        return;
    tsc_buf_init(&out);
    if (a.kind == TSC_RUNLOG_SUBMIT) {
        uint32_t ns = tsc_runlog_n_stages(&a.submit);
        uint64_t *t = malloc(ns * sizeof *t);
        CHECK(t != NULL);
        for (uint32_t k = 0; k < ns; k++)
            t[k] = tsc_runlog_timeout(&a.submit, k);
        CHECK(tsc_runlog_encode_submit(&a.submit, t, &out) == 0);
        free(t);
    } else if (a.kind == TSC_RUNLOG_STAGE) {
        CHECK(tsc_runlog_encode_stage(&a.stage, &out) == 0);
    } else {
        CHECK(tsc_runlog_encode_cancel(&a.cancel, &out) == 0);
    }
    CHECK(tsc_runlog_decode(out.data, out.len, &b) == 0);
    CHECK(a.kind == b.kind);
    if (a.kind == TSC_RUNLOG_SUBMIT) {
        CHECK(a.submit.nonce == b.submit.nonce && a.submit.n_cases == b.submit.n_cases);
        CHECK(a.submit.n_participants == b.submit.n_participants);
        CHECK(strcmp(a.submit.suite_name, b.submit.suite_name) == 0);
        for (size_t i = 0; i < a.submit.n_participants; i++) {
            CHECK(a.submit.participants[i].id == b.submit.participants[i].id);
            CHECK(strcmp(a.submit.participants[i].name, b.submit.participants[i].name) == 0);
        }
        for (uint32_t k = 0; k < tsc_runlog_n_stages(&a.submit); k++)
            CHECK(tsc_runlog_timeout(&a.submit, k) == tsc_runlog_timeout(&b.submit, k));
        CHECK(a.submit.suite_len == b.submit.suite_len);
    } else if (a.kind == TSC_RUNLOG_STAGE) {
        CHECK(a.stage.run == b.stage.run && a.stage.stage == b.stage.stage);
        CHECK(a.stage.outcome == b.stage.outcome && a.stage.n_results == b.stage.n_results);
        CHECK(strcmp(a.stage.diagnosis, b.stage.diagnosis) == 0);
        for (size_t i = 0; i < a.stage.n_results; i++)
            same_result(&a.stage.results[i], &b.stage.results[i]);
    } else {
        CHECK(a.cancel.run == b.cancel.run && strcmp(a.cancel.reason, b.cancel.reason) == 0);
    }
    tsc_runlog_free(&a);
    tsc_runlog_free(&b);
    tsc_buf_free(&out);
}

static void check_messages(const uint8_t *p, size_t n)
{
    struct tsc_stage_start s, s2;
    struct tsc_stage_report r;
    struct tsc_stage_cancel c, c2;
    struct tsc_buf out;
    uint8_t pk[TSC_PK_BYTES];
    tsc_buf_init(&out);
    if (tsc_stage_start_decode(p, n, &s) == 0) {
        CHECK(tsc_stage_start_encode(&s, &out) == 0);
        CHECK(tsc_stage_start_decode(out.data, out.len, &s2) == 0);
        CHECK(s.run == s2.run && s.stage == s2.stage && s.term == s2.term);
        CHECK(s.script_len == s2.script_len && s.role_len == s2.role_len);
    }
    if (tsc_stage_report_decode(p, n, &r) == 0) {
        CHECK(r.node != 0 && r.run != 0 && r.stage < TSC_RUN_MAX_STAGES);
        CHECK(r.result.status != TSC_RESULT_PENDING);
        CHECK(r.result.output_len <= TSC_RUN_MAX_OUTPUT);
    }
    memset(pk, 7, sizeof pk);
    int rc = tsc_stage_report_verify(&tsc_crypto_cheap, p, n, pk);
    CHECK(rc == 0 || rc == TSC_ESIG || rc == TSC_EMALFORMED);
    tsc_buf_reset(&out);
    if (tsc_stage_cancel_decode(p, n, &c) == 0) {
        CHECK(tsc_stage_cancel_encode(&c, &out) == 0);
        CHECK(tsc_stage_cancel_decode(out.data, out.len, &c2) == 0);
        CHECK(c.run == c2.run && c.term == c2.term);
    }
    tsc_buf_free(&out);
}

struct bench {
    struct tsc_barrier *b;
    struct tsc_run_view v;
    int have_view;
    uint64_t index, now;
};

static void apply(struct bench *x, const uint8_t *p, size_t n)
{
    struct tsc_barrier_update up;
    struct tsc_barrier_event ev = {
        .type = TSC_BARRIER_EV_APPLY, .index = ++x->index, .data = p, .len = n};
    ev.now = x->now;
    CHECK(tsc_barrier_step(x->b, &ev, &up) == 0);
    CHECK(up.n_proposals <= 1);
    for (size_t i = 0; i < up.n_proposals; i++)
        check_record(up.proposals[i].data, up.proposals[i].len);
    struct tsc_barrier_progress pr;
    tsc_barrier_progress(x->b, &pr);
    CHECK(pr.run == 0 || pr.stage < pr.n_stages);
    CHECK(pr.n_reported <= pr.n_participants);
    x->now += TSC_MSEC(700);
    ev.type = TSC_BARRIER_EV_TICK;
    ev.now = x->now;
    CHECK(tsc_barrier_step(x->b, &ev, &up) == 0);
    CHECK(up.next_deadline > x->now); /* everything due was done */
}

static void bench_start(struct bench *x)
{
    struct tsc_barrier_update up;
    struct tsc_barrier_event ev = {.type = TSC_BARRIER_EV_LEADER, .is_leader = 1, .term = 1};
    memset(x, 0, sizeof *x);
    x->now = TSC_SEC(100);
    CHECK(tsc_barrier_new(&x->b, NULL, NULL) == 0);
    ev.now = x->now;
    CHECK(tsc_barrier_step(x->b, &ev, &up) == 0);
    apply(x, fixed_submit.data, fixed_submit.len);
    CHECK(tsc_run_view_init(&x->v, 1, fixed_submit.data, fixed_submit.len) == 0);
    x->have_view = 1;
}

static void bench_add(struct bench *x, const uint8_t *p, size_t n)
{
    uint32_t before = x->v.next;
    apply(x, p, n);
    int rc = tsc_run_view_add(&x->v, p, n);
    CHECK(rc == 0 || rc == TSC_EINVAL || rc == TSC_EMALFORMED);
    CHECK(x->v.next <= x->v.n_stages);
    CHECK(x->v.next >= before || (x->v.cancelled && x->v.stages[0] != NULL));
    for (uint32_t i = 0; i < x->v.submit.n_cases; i++) {
        int cs = tsc_run_view_case_state(&x->v, i);
        CHECK(cs >= TSC_CASE_PENDING && cs <= TSC_CASE_SKIPPED);
    }
}

static void bench_end(struct bench *x)
{
    tsc_barrier_free(x->b);
    if (x->have_view)
        tsc_run_view_free(&x->v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bench x;
    if (fixed_submit.data == NULL)
        make_submit();
    if (size == 0)
        return 0;
    uint8_t mode = data[0];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    if (mode % 2 == 0) {
        check_record(p, n);
        check_messages(p, n);
        struct tsc_run_view v;
        if (tsc_run_view_init(&v, 1, p, n) == 0) {
            CHECK(v.n_stages == tsc_runlog_n_stages(&v.submit));
            tsc_run_view_free(&v);
        }
        struct tsc_barrier *alone;
        struct tsc_barrier_update up;
        struct tsc_barrier_event ev = {
            .type = TSC_BARRIER_EV_APPLY, .index = 1, .data = p, .len = n};
        CHECK(tsc_barrier_new(&alone, NULL, NULL) == 0);
        CHECK(tsc_barrier_step(alone, &ev, &up) == 0);
        tsc_barrier_free(alone);
        bench_start(&x);
        bench_add(&x, p, n);
        bench_end(&x);
        return 0;
    }
    bench_start(&x);
    for (int i = 0; i < MAX_RECORDS && n >= 2; i++) {
        size_t len = (size_t)p[0] | (size_t)p[1] << 8;
        p += 2;
        n -= 2;
        if (len > n)
            len = n;
        bench_add(&x, p, len);
        p += len;
        n -= len;
    }
    bench_end(&x);
    return 0;
}
