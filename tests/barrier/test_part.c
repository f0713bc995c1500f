/* tsc — the participant engine alone: spawn once, answer repeats from
 * memory, fencing by term and by stage order, restarts (LOST), empty
 * scripts, cancel, the bounded memory of runs, allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "barrier/barrier.h"
#include "common/alloc.h"

#define SELF 0x5e1f

static struct tsc_part_update up;

static int start(struct tsc_part *p, uint64_t from, uint64_t run, uint32_t stage, uint64_t term,
                 const char *script)
{
    struct tsc_stage_start m = {.run = run,
                                .stage = stage,
                                .term = term,
                                .timeout_us = 1000,
                                .script = script,
                                .script_len = strlen(script),
                                .case_name = "",
                                .role = ""};
    struct tsc_part_event ev = {.type = TSC_PART_EV_START, .from = from, .start = &m};
    int rc = tsc_part_step(p, &ev, &up);
    if (up.spawn)
        assert_ptr_equal(up.start, &m); /* the driver's own START, for the script */
    up.start = NULL;
    return rc;
}

static int done(struct tsc_part *p, uint64_t run, uint32_t stage, uint8_t status,
                const uint8_t *out, size_t out_len)
{
    struct tsc_stage_result r = {.status = status,
                                 .exit_code = status == TSC_RESULT_PASSED ? 0 : 1,
                                 .output = out,
                                 .output_len = out_len,
                                 .message = "m",
                                 .message_len = 1};
    struct tsc_part_event ev = {.type = TSC_PART_EV_DONE, .run = run, .stage = stage, .result = &r};
    return tsc_part_step(p, &ev, &up);
}

static void test_spawn_once(void **state)
{
    struct tsc_part *p;
    static uint8_t out[6000];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (uint8_t)i;
    assert_int_equal(tsc_part_new(&p, SELF), 0);
    assert_int_equal(start(p, 1, 10, 0, 3, "true"), 0);
    assert_true(up.persist_started && up.spawn);
    assert_int_equal(up.run, 10);
    assert_int_equal(up.stage, 0);
    assert_int_equal(tsc_part_state(p, 10, 0), TSC_PART_STARTED);
    /* A repeat while it runs: nothing to do, nothing to say yet. */
    assert_int_equal(start(p, 2, 10, 0, 4, "true"), 0);
    assert_false(up.spawn || up.persist_started || up.n_reports);
    assert_int_equal(done(p, 10, 0, TSC_RESULT_FAILED, out, sizeof out), 0);
    assert_true(up.persist_done);
    assert_int_equal(up.result->status, TSC_RESULT_FAILED);
    assert_int_equal(up.n_reports, 1);
    /* The report goes to whoever asked last, with that START's term. */
    assert_int_equal(up.reports[0].to, 2);
    assert_int_equal(up.reports[0].report.term, 4);
    assert_int_equal(up.reports[0].report.node, SELF);
    assert_int_equal(up.reports[0].report.result.output_len, TSC_PART_MAX_REPORT_OUTPUT);
    assert_memory_equal(up.reports[0].report.result.output,
                        out + sizeof out - TSC_PART_MAX_REPORT_OUTPUT, TSC_PART_MAX_REPORT_OUTPUT);
    /* Later repeats are answered from memory. */
    assert_int_equal(start(p, 3, 10, 0, 5, "true"), 0);
    assert_false(up.spawn);
    assert_int_equal(up.n_reports, 1);
    assert_int_equal(up.reports[0].to, 3);
    assert_int_equal(up.reports[0].report.result.status, TSC_RESULT_FAILED);
    /* A second DONE for it changes nothing. */
    assert_int_equal(done(p, 10, 0, TSC_RESULT_PASSED, NULL, 0), 0);
    assert_false(up.persist_done);
    const struct tsc_part_stats *st = tsc_part_stats(p);
    assert_int_equal(st->spawned, 1);
    assert_int_equal(st->repeats, 2);
    tsc_part_free(p);
}

static void test_fencing(void **state)
{
    struct tsc_part *p;
    assert_int_equal(tsc_part_new(&p, SELF), 0);
    assert_int_equal(start(p, 1, 10, 0, 7, "x"), 0);
    assert_true(up.spawn);
    assert_int_equal(done(p, 10, 0, TSC_RESULT_PASSED, NULL, 0), 0);
    /* A deposed coordinator (term 5) asks for the next stage: dropped. */
    assert_int_equal(start(p, 9, 10, 1, 5, "x"), 0);
    assert_false(up.spawn || up.n_reports);
    assert_int_equal(tsc_part_state(p, 10, 1), TSC_PART_NONE);
    struct tsc_part_event ev = {.type = TSC_PART_EV_CANCEL, .run = 10, .term = 6};
    assert_int_equal(tsc_part_step(p, &ev, &up), 0);
    assert_false(up.kill);
    assert_int_equal(tsc_part_stats(p)->fenced, 2);
    /* The current term's START runs. */
    assert_int_equal(start(p, 1, 10, 1, 7, "x"), 0);
    assert_true(up.spawn);
    ev.term = 7;
    /* A late CANCEL for stage 0 must not kill what runs now (stage 1). */
    ev.stage = 0;
    assert_int_equal(tsc_part_step(p, &ev, &up), 0);
    assert_false(up.kill);
    ev.stage = 1;
    assert_int_equal(tsc_part_step(p, &ev, &up), 0);
    assert_true(up.kill);
    assert_int_equal(up.kill_run, 10);
    assert_int_equal(tsc_part_stats(p)->cancels, 1);
    tsc_part_free(p);
}

/* Stages only move forward: an earlier stage never runs after a later one,
 * and a later one waits until the earlier script is gone. */
static void test_stage_order(void **state)
{
    struct tsc_part *p;
    assert_int_equal(tsc_part_new(&p, SELF), 0);
    assert_int_equal(start(p, 1, 10, 2, 1, "x"), 0);
    assert_true(up.spawn);
    /* Stage 3 while 2 still runs (its CANCEL was lost): kill, don't run. */
    assert_int_equal(start(p, 1, 10, 3, 1, "x"), 0);
    assert_false(up.spawn);
    assert_true(up.kill);
    assert_int_equal(up.kill_run, 10);
    assert_int_equal(tsc_part_state(p, 10, 3), TSC_PART_NONE);
    assert_int_equal(done(p, 10, 2, TSC_RESULT_CANCELLED, NULL, 0), 0);
    assert_int_equal(start(p, 1, 10, 3, 1, "x"), 0); /* the retry */
    assert_true(up.spawn);
    assert_int_equal(done(p, 10, 3, TSC_RESULT_PASSED, NULL, 0), 0);
    /* Stage 1 was decided without us: never run it now. */
    assert_int_equal(start(p, 1, 10, 1, 1, "x"), 0);
    assert_false(up.spawn);
    assert_int_equal(tsc_part_stats(p)->fenced, 1);
    /* A new run starts fresh; the old one cannot come back. */
    assert_int_equal(start(p, 1, 11, 0, 1, "x"), 0);
    assert_true(up.spawn);
    assert_int_equal(done(p, 11, 0, TSC_RESULT_PASSED, NULL, 0), 0);
    assert_int_equal(start(p, 1, 10, 4, 1, "x"), 0);
    assert_false(up.spawn);
    tsc_part_free(p);
}

static void test_empty_script(void **state)
{
    struct tsc_part *p;
    assert_int_equal(tsc_part_new(&p, SELF), 0);
    assert_int_equal(start(p, 1, 10, 0, 1, ""), 0);
    assert_false(up.spawn || up.persist_started);
    assert_true(up.persist_done);
    assert_int_equal(up.result->status, TSC_RESULT_PASSED);
    assert_int_equal(up.n_reports, 1);
    assert_int_equal(tsc_part_state(p, 10, 0), TSC_PART_DONE);
    tsc_part_free(p);
}

static void test_restart(void **state)
{
    struct tsc_part *p;
    struct tsc_stage_result ok = {
        .status = TSC_RESULT_PASSED, .output = (const uint8_t *)"hi", .output_len = 2};
    assert_int_equal(tsc_part_new(&p, SELF), 0);
    struct tsc_part_event ev = {
        .type = TSC_PART_EV_RESTORE, .run = 10, .stage = 0, .state = TSC_PART_DONE, .result = &ok};
    assert_int_equal(tsc_part_step(p, &ev, &up), 0);
    assert_false(up.persist_done); /* already stored */
    ev.stage = 1;
    ev.state = TSC_PART_STARTED;
    ev.result = NULL;
    assert_int_equal(tsc_part_step(p, &ev, &up), 0);
    assert_true(up.persist_done);
    assert_int_equal(up.result->status, TSC_RESULT_LOST);
    assert_int_equal(tsc_part_stats(p)->lost, 1);
    /* The coordinator asks again: the stored answers, no script. */
    assert_int_equal(start(p, 4, 10, 0, 2, "x"), 0);
    assert_false(up.spawn);
    assert_int_equal(up.reports[0].report.result.status, TSC_RESULT_PASSED);
    assert_memory_equal(up.reports[0].report.result.output, "hi", 2);
    assert_int_equal(start(p, 4, 10, 1, 2, "x"), 0);
    assert_false(up.spawn);
    assert_int_equal(up.reports[0].report.result.status, TSC_RESULT_LOST);
    assert_int_equal(start(p, 4, 10, 2, 2, "x"), 0);
    assert_true(up.spawn);
    ev.state = 9;
    assert_int_equal(tsc_part_step(p, &ev, &up), TSC_EINVAL);
    tsc_part_free(p);
}

/* Only the last four runs are kept; a START for a forgotten run is dropped,
 * since that very stage may have run before. */
static void test_bounded_memory(void **state)
{
    struct tsc_part *p;
    assert_int_equal(tsc_part_new(&p, SELF), 0);
    for (uint64_t run = 1; run <= 6; run++) {
        assert_int_equal(start(p, 1, run, 0, 1, "x"), 0);
        assert_true(up.spawn);
        assert_int_equal(done(p, run, 0, TSC_RESULT_PASSED, NULL, 0), 0);
    }
    assert_int_equal(tsc_part_state(p, 2, 0), TSC_PART_NONE);
    assert_int_equal(tsc_part_state(p, 3, 0), TSC_PART_DONE);
    assert_int_equal(tsc_part_state(p, 6, 0), TSC_PART_DONE);
    uint64_t fenced = tsc_part_stats(p)->fenced;
    assert_int_equal(start(p, 1, 2, 0, 1, "x"), 0);
    assert_false(up.spawn || up.n_reports);
    assert_int_equal(tsc_part_stats(p)->fenced, fenced + 1);
    /* A restore of a run older than everything kept is forgotten too. */
    struct tsc_part_event ev = {.type = TSC_PART_EV_RESTORE, .run = 1, .state = TSC_PART_STARTED};
    assert_int_equal(tsc_part_step(p, &ev, &up), 0);
    assert_false(up.persist_done);
    tsc_part_free(p);
}

static void test_bad_events_and_oom(void **state)
{
    struct tsc_part *p;
    struct tsc_part_event ev = {.type = 99};
    assert_int_equal(tsc_part_new(&p, 0), TSC_EINVAL);
    assert_int_equal(tsc_part_new(&p, SELF), 0);
    assert_int_equal(tsc_part_step(p, &ev, &up), TSC_EINVAL);
    ev.type = TSC_PART_EV_START;
    assert_int_equal(tsc_part_step(p, &ev, &up), TSC_EINVAL);
    ev.type = TSC_PART_EV_DONE;
    assert_int_equal(tsc_part_step(p, &ev, &up), TSC_EINVAL);
    /* DONE for something never started: ignored. */
    assert_int_equal(done(p, 10, 0, TSC_RESULT_PASSED, NULL, 0), 0);
    assert_false(up.persist_done || up.n_reports);
    assert_int_equal(start(p, 1, 10, 0, 1, "x"), 0);
    tsc_alloc_fail_after(1);
    assert_int_equal(done(p, 10, 0, TSC_RESULT_PASSED, (const uint8_t *)"o", 1), TSC_ENOMEM);
    tsc_alloc_fail_after(0);
    assert_int_equal(tsc_part_state(p, 10, 0), TSC_PART_STARTED);
    assert_int_equal(done(p, 10, 0, TSC_RESULT_PASSED, (const uint8_t *)"o", 1), 0);
    assert_int_equal(tsc_part_state(p, 10, 0), TSC_PART_DONE);
    tsc_part_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_once),
        cmocka_unit_test(test_fencing),
        cmocka_unit_test(test_stage_order),
        cmocka_unit_test(test_empty_script),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_bounded_memory),
        cmocka_unit_test(test_bad_events_and_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
