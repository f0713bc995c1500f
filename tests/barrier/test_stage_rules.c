/* tsc — stage numbering and the skip rules (tsc_stage_kind,
 * tsc_stage_next), table-driven, and run views built from records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "barrier/runlog.h"

static void test_stage_kind(void **state)
{
    static const struct {
        uint32_t n_cases, k;
        int kind;
        int32_t ci;
    } t[] = {
        {0, 0, TSC_STAGE_SUITE_INIT, -1},
        {0, 1, TSC_STAGE_SUITE_FINALIZE, -1},
        {0, 2, -1, -1},
        {2, 0, TSC_STAGE_SUITE_INIT, -1},
        {2, 1, TSC_STAGE_CASE_INIT, 0},
        {2, 2, TSC_STAGE_CASE_RUN, 0},
        {2, 3, TSC_STAGE_CASE_FINALIZE, 0},
        {2, 4, TSC_STAGE_CASE_INIT, 1},
        {2, 6, TSC_STAGE_CASE_FINALIZE, 1},
        {2, 7, TSC_STAGE_SUITE_FINALIZE, -1},
        {2, 8, -1, -1},
        {1000, 3001, TSC_STAGE_SUITE_FINALIZE, -1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int32_t ci = 99;
        assert_int_equal(tsc_stage_kind(t[i].n_cases, t[i].k, &ci), t[i].kind);
        assert_int_equal(ci, t[i].ci);
        assert_int_equal(tsc_stage_kind(t[i].n_cases, t[i].k, NULL), t[i].kind);
    }
}

/* outcomes: one character per stage up to `done`: p passed, F failed,
 * - skipped. */
struct next_case {
    const char *what;
    uint32_t n_cases;
    const char *outcomes;
    int cancelled;
    uint32_t want;
};

static const struct next_case next_table[] = {
    {"no cases: suite init passed", 0, "p", 0, 1},
    {"no cases: suite init failed", 0, "F", 0, 1},
    {"no cases: suite finalize done", 0, "pp", 0, 2},
    {"suite init passed", 2, "p", 0, 1},
    {"suite init fails: only suite finalize", 2, "F", 0, 7},
    {"case init passed: its run", 2, "pp", 0, 2},
    {"case init fails: run skipped, finalize runs", 2, "pF", 0, 3},
    {"case run fails: finalize runs", 2, "ppF", 0, 3},
    {"case finalize fails: next case", 2, "pppF", 0, 4},
    {"after a failed init's finalize: next case", 2, "pF-p", 0, 4},
    {"last case done: suite finalize", 2, "ppppppp", 0, 7},
    {"suite finalize done: over", 2, "pppppppp", 0, 8},
    {"suite finalize failed: over", 2, "pF-pppFF", 0, 8},
    {"cancelled during suite init", 2, "F", 1, 7},
    {"cancelled after suite init passed", 2, "p", 1, 7},
    {"cancelled during case init: its finalize", 2, "pF", 1, 3},
    {"cancelled mid case run: its finalize", 2, "ppF", 1, 3},
    {"cancelled mid second case: its finalize", 2, "pppppF", 1, 6},
    {"cancelled in a case finalize: suite finalize", 2, "pppF", 1, 7},
    {"cancelled in suite finalize: over", 2, "ppppppppF", 1, 8},
};

static void test_stage_next_table(void **state)
{
    for (size_t i = 0; i < sizeof next_table / sizeof next_table[0]; i++) {
        const struct next_case *t = &next_table[i];
        uint8_t out[TSC_RUN_MAX_STAGES];
        uint32_t done = (uint32_t)strlen(t->outcomes) - 1;
        memset(out, 0xee, sizeof out); /* stages after `done` must not be read */
        for (uint32_t k = 0; k <= done; k++)
            out[k] = t->outcomes[k] == 'p'   ? TSC_STAGE_PASSED
                     : t->outcomes[k] == 'F' ? TSC_STAGE_FAILED
                                             : 0;
        uint32_t got = tsc_stage_next(t->n_cases, out, done, t->cancelled);
        if (got != t->want)
            fail_msg("%s: next %u, want %u", t->what, got, t->want);
    }
}

/* Whole runs: from suite init to the end, failing the stages in `fail`;
 * the stages visited, as a string of stage numbers. */
static void walk(uint32_t n_cases, const uint32_t *fail, size_t n_fail, char *path, size_t cap)
{
    uint8_t out[TSC_RUN_MAX_STAGES] = {0};
    uint32_t n_stages = 3 * n_cases + 2;
    size_t len = 0;
    path[0] = 0;
    for (uint32_t k = 0; k < n_stages;) {
        out[k] = TSC_STAGE_PASSED;
        for (size_t i = 0; i < n_fail; i++)
            if (fail[i] == k)
                out[k] = TSC_STAGE_FAILED;
        len += (size_t)snprintf(path + len, cap - len, "%s%u", len ? "," : "", k);
        k = tsc_stage_next(n_cases, out, k, 0);
    }
}

static void test_stage_next_walks(void **state)
{
    char path[256];
    const uint32_t case1_init[] = {4}, case0_run[] = {2}, suite_init[] = {0}, fins[] = {3, 6};
    walk(3, NULL, 0, path, sizeof path);
    assert_string_equal(path, "0,1,2,3,4,5,6,7,8,9,10");
    walk(3, case1_init, 1, path, sizeof path);
    assert_string_equal(path, "0,1,2,3,4,6,7,8,9,10");
    walk(3, case0_run, 1, path, sizeof path);
    assert_string_equal(path, "0,1,2,3,4,5,6,7,8,9,10");
    walk(3, suite_init, 1, path, sizeof path);
    assert_string_equal(path, "0,10");
    walk(3, fins, 2, path, sizeof path);
    assert_string_equal(path, "0,1,2,3,4,5,6,7,8,9,10");
    walk(0, NULL, 0, path, sizeof path);
    assert_string_equal(path, "0,1");
}

/* ---- views --------------------------------------------------------------- */

static struct tsc_buf submit_rec(uint32_t n_cases)
{
    struct tsc_run_participant p[2];
    uint64_t t[3 * 4 + 2];
    struct tsc_buf b;
    memset(p, 0, sizeof p);
    for (int i = 0; i < 2; i++) {
        p[i].id = 100 + (uint64_t)i;
        snprintf(p[i].name, sizeof p[i].name, "m%d", i);
    }
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
        t[k] = 1000;
    struct tsc_runlog_submit s = {.n_cases = n_cases, .n_participants = 2, .participants = p};
    tsc_buf_init(&b);
    assert_int_equal(tsc_runlog_encode_submit(&s, t, &b), 0);
    return b;
}

static struct tsc_buf stage_rec(uint64_t run, uint32_t stage, int outcome, size_t n)
{
    struct tsc_stage_result r[3] = {{.status = TSC_RESULT_PASSED},
                                    {.status = TSC_RESULT_PASSED},
                                    {.status = TSC_RESULT_PASSED}};
    struct tsc_runlog_stage s = {.run = run, .stage = stage, .outcome = (uint8_t)outcome};
    struct tsc_buf b;
    if (outcome == TSC_STAGE_FAILED) {
        r[1].status = TSC_RESULT_FAILED;
        strcpy(s.diagnosis, "m1 failed");
    }
    s.n_results = n;
    s.results = r;
    tsc_buf_init(&b);
    assert_int_equal(tsc_runlog_encode_stage(&s, &b), 0);
    return b;
}

/* Keep record bytes alive as long as the view: it points into them. */
static struct tsc_buf kept[32];
static size_t n_kept;

static int add(struct tsc_run_view *v, struct tsc_buf b)
{
    kept[n_kept++] = b;
    return tsc_run_view_add(v, b.data, b.len);
}

static void free_kept(void)
{
    while (n_kept > 0)
        tsc_buf_free(&kept[--n_kept]);
}

static void test_view(void **state)
{
    struct tsc_run_view v;
    struct tsc_buf sub = submit_rec(3);
    assert_int_equal(tsc_run_view_init(&v, 5, sub.data, sub.len), 0);
    assert_int_equal(v.n_stages, 11);
    assert_int_equal(v.state, TSC_RUN_QUEUED);
    assert_int_equal(add(&v, stage_rec(5, 0, TSC_STAGE_PASSED, 2)), 0);
    assert_int_equal(v.state, TSC_RUN_RUNNING);
    assert_int_equal(add(&v, stage_rec(5, 0, TSC_STAGE_FAILED, 2)), 0); /* a repeat: ignored */
    assert_int_equal(v.stages[0]->outcome, TSC_STAGE_PASSED);
    assert_int_equal(add(&v, stage_rec(5, 2, TSC_STAGE_PASSED, 2)), 0); /* not next: ignored */
    assert_null(v.stages[2]);
    assert_int_equal(add(&v, stage_rec(6, 1, TSC_STAGE_PASSED, 2)), TSC_EINVAL);
    assert_int_equal(add(&v, stage_rec(5, 1, TSC_STAGE_PASSED, 3)), TSC_EMALFORMED);
    assert_int_equal(add(&v, submit_rec(1)), TSC_EINVAL);
    const uint8_t junk[] = {0x93, 0x02};
    assert_int_equal(tsc_run_view_add(&v, junk, sizeof junk), TSC_EMALFORMED);
    /* case 0 passes; case 1's init fails; case 2 passes. */
    int outcomes[] = {0, 1, 1, 1, 2, 1, 1, 1, 1, 1};
    for (uint32_t k = 1; k <= 9; k++) {
        if (k == 5)
            continue; /* skipped: case 1's run */
        assert_int_equal(v.next, k);
        assert_int_equal(add(&v, stage_rec(5, k, outcomes[k], 2)), 0);
        if (k == 3)
            assert_int_equal(tsc_run_view_case_state(&v, 0), TSC_CASE_PASSED);
        if (k == 4)
            assert_int_equal(tsc_run_view_case_state(&v, 1), TSC_CASE_FAILED);
        if (k < 9)
            assert_int_equal(tsc_run_view_case_state(&v, 2), TSC_CASE_PENDING);
    }
    assert_int_equal(v.next, 10);
    assert_int_equal(add(&v, stage_rec(5, 10, TSC_STAGE_PASSED, 2)), 0);
    assert_int_equal(v.next, 11);
    assert_int_equal(v.state, TSC_RUN_FAILED);
    assert_int_equal(tsc_run_view_case_state(&v, 2), TSC_CASE_PASSED);
    assert_int_equal(tsc_run_view_case_state(&v, 3), -1);
    struct tsc_runlog_cancel c = {.run = 5, .reason = "late"};
    struct tsc_buf cb;
    tsc_buf_init(&cb);
    assert_int_equal(tsc_runlog_encode_cancel(&c, &cb), 0);
    assert_int_equal(add(&v, cb), 0); /* after the end: ignored */
    assert_false(v.cancelled);
    tsc_run_view_free(&v);
    free_kept();
    tsc_buf_free(&sub);
}

static void test_view_suite_init_fails_and_cancel(void **state)
{
    struct tsc_run_view v;
    struct tsc_buf sub = submit_rec(2);
    struct tsc_runlog_cancel c = {.run = 9, .reason = "stop"};
    struct tsc_buf cb;
    assert_int_equal(tsc_run_view_init(&v, 9, sub.data, sub.len), 0);
    assert_int_equal(add(&v, stage_rec(9, 0, TSC_STAGE_FAILED, 2)), 0);
    assert_int_equal(v.next, 7);
    assert_int_equal(tsc_run_view_case_state(&v, 0), TSC_CASE_SKIPPED);
    assert_int_equal(tsc_run_view_case_state(&v, 1), TSC_CASE_SKIPPED);
    tsc_run_view_free(&v);

    /* Cancelled before any stage was decided: CANCELLED, unless stage 0's
     * record still follows (it was running its suite init). */
    assert_int_equal(tsc_run_view_init(&v, 9, sub.data, sub.len), 0);
    tsc_buf_init(&cb);
    assert_int_equal(tsc_runlog_encode_cancel(&c, &cb), 0);
    assert_int_equal(add(&v, cb), 0);
    assert_int_equal(v.state, TSC_RUN_CANCELLED);
    assert_string_equal(v.cancel.reason, "stop");
    assert_int_equal(tsc_run_view_case_state(&v, 0), TSC_CASE_SKIPPED);
    assert_int_equal(add(&v, stage_rec(9, 0, TSC_STAGE_FAILED, 2)), 0);
    assert_int_equal(v.state, TSC_RUN_RUNNING);
    assert_int_equal(v.next, 7);
    assert_int_equal(add(&v, stage_rec(9, 7, TSC_STAGE_PASSED, 2)), 0);
    assert_int_equal(v.state, TSC_RUN_CANCELLED);
    tsc_run_view_free(&v);

    /* Cancelled mid case: the case's finalize, then suite finalize. */
    assert_int_equal(tsc_run_view_init(&v, 9, sub.data, sub.len), 0);
    assert_int_equal(add(&v, stage_rec(9, 0, TSC_STAGE_PASSED, 2)), 0);
    assert_int_equal(add(&v, stage_rec(9, 1, TSC_STAGE_PASSED, 2)), 0);
    tsc_buf_init(&cb);
    assert_int_equal(tsc_runlog_encode_cancel(&c, &cb), 0);
    assert_int_equal(add(&v, cb), 0);
    assert_int_equal(v.next, 2);
    assert_int_equal(add(&v, stage_rec(9, 2, TSC_STAGE_FAILED, 2)), 0);
    assert_int_equal(v.next, 3);
    assert_int_equal(add(&v, stage_rec(9, 3, TSC_STAGE_PASSED, 2)), 0);
    assert_int_equal(v.next, 7);
    assert_int_equal(tsc_run_view_case_state(&v, 0), TSC_CASE_FAILED);
    assert_int_equal(tsc_run_view_case_state(&v, 1), TSC_CASE_SKIPPED);
    assert_int_equal(add(&v, stage_rec(9, 7, TSC_STAGE_PASSED, 2)), 0);
    assert_int_equal(v.state, TSC_RUN_CANCELLED);
    tsc_run_view_free(&v);
    free_kept();
    tsc_buf_free(&sub);
    assert_int_equal(tsc_run_view_init(&v, 0, sub.data, sub.len), TSC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stage_kind),
        cmocka_unit_test(test_stage_next_table),
        cmocka_unit_test(test_stage_next_walks),
        cmocka_unit_test(test_view),
        cmocka_unit_test(test_view_suite_init_fails_and_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
