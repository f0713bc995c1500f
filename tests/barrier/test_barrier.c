/* tsc — the coordinator and participant engines together (harness.h):
 * the happy path, the skip rules at work, timeouts, deaths, failover,
 * participant restarts, cancel, the queue. The harness checks the barrier
 * invariant, "spawned at most once" and agreement between voters at every
 * step; these tests add what each scenario must end with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/time.h"
#include "tests/barrier/harness.h"

/* Behaviours by (participant, stage) from a small table in h->ctx. */
struct rule {
    size_t part;
    uint32_t stage;
    int behave;
};
struct rules {
    struct rule r[8];
    size_t n;
};

static int by_rules(struct harness *h, size_t part, uint64_t run, uint32_t stage)
{
    const struct rules *rs = h->ctx;
    for (size_t i = 0; rs != NULL && i < rs->n; i++)
        if (rs->r[i].part == part && rs->r[i].stage == stage)
            return rs->r[i].behave;
    return H_PASS;
}

static void with_rules(struct harness *h, struct rules *rs)
{
    h->behave = by_rules;
    h->ctx = rs;
}

/* Outcome of (run, stage): PASSED/FAILED, or 0 when it never ran. */
static int outcome(const struct harness *h, uint64_t run, uint32_t stage)
{
    struct tsc_runlog rec;
    if (h_record(h, run, stage, &rec) != 0)
        return 0;
    int o = rec.stage.outcome;
    tsc_runlog_free(&rec);
    return o;
}

static void assert_diagnosis(const struct harness *h, uint64_t run, uint32_t stage,
                             const char *want)
{
    struct tsc_runlog rec;
    assert_int_equal(h_record(h, run, stage, &rec), 0);
    if (strcmp(rec.stage.diagnosis, want) != 0)
        fail_msg("diagnosis '%s', want '%s'", rec.stage.diagnosis, want);
    tsc_runlog_free(&rec);
}

static void assert_outcomes(const struct harness *h, uint64_t run, const char *want)
{
    for (uint32_t k = 0; want[k] != 0; k++) {
        int o = outcome(h, run, k);
        char got = o == TSC_STAGE_PASSED ? 'p' : o == TSC_STAGE_FAILED ? 'F' : '-';
        if (got != want[k])
            fail_msg("stage %u: got %c, want %c (all: %s)", k, got, want[k], want);
    }
}

static void test_happy_path(void **state)
{
    struct harness h;
    h_init(&h, 3, 1, NULL);
    uint64_t run = h_submit(&h, 2, 77);
    h_settle(&h, TSC_SEC(600));
    assert_int_equal(h_run_state(&h, run), TSC_RUN_PASSED);
    assert_outcomes(&h, run, "pppppppp");
    for (size_t p = 0; p < 3; p++)
        for (uint32_t k = 0; k < 8; k++)
            assert_int_equal(h_spawns(&h, p, run, k), 1);
    assert_diagnosis(&h, run, 3, "");
    const struct tsc_barrier_stats *st = tsc_barrier_stats(h.coords[0].eng);
    assert_int_equal(st->starts, 24); /* nobody needed a second START */
    assert_int_equal(st->reports, 24);
    assert_int_equal(tsc_barrier_find_nonce(h.coords[0].eng, 77), run);
    h_free(&h);
}

static void test_suite_init_fails(void **state)
{
    struct harness h;
    struct rules rs = {{{1, 0, H_FAIL}}, 1};
    h_init(&h, 3, 2, NULL);
    with_rules(&h, &rs);
    uint64_t run = h_submit(&h, 2, 0);
    h_settle(&h, TSC_SEC(600));
    assert_int_equal(h_run_state(&h, run), TSC_RUN_FAILED);
    assert_outcomes(&h, run, "F------p");
    for (uint32_t k = 1; k < 7; k++)
        assert_int_equal(h_spawns(&h, 0, run, k), 0);
    assert_diagnosis(&h, run, 0, "stage 'suite init' failed: node2 failed (exit 1)");
    h_free(&h);
}

static void test_case_failures(void **state)
{
    struct harness h;
    /* case 0's run fails on node1; case 1's init fails on node3. */
    struct rules rs = {{{0, 2, H_FAIL}, {2, 4, H_ERROR}}, 2};
    h_init(&h, 3, 1, NULL);
    with_rules(&h, &rs);
    uint64_t run = h_submit(&h, 3, 0);
    h_settle(&h, TSC_SEC(600));
    assert_int_equal(h_run_state(&h, run), TSC_RUN_FAILED);
    /* c0 init run fin | c1 init (run skipped) fin | c2 all | suite fin */
    assert_outcomes(&h, run, "ppFpF-ppppp");
    assert_diagnosis(&h, run, 2, "stage 'case c0 run' failed: node1 failed (exit 1)");
    assert_diagnosis(&h, run, 4, "stage 'case c1 init' failed: node3 error: spawn: no such file");
    /* The failed output travels cut: the tail a report carries. */
    struct tsc_runlog rec;
    assert_int_equal(h_record(&h, run, 2, &rec), 0);
    assert_int_equal(rec.stage.results[0].output_len, 4096);
    assert_int_equal(rec.stage.results[1].output_len, 3);
    tsc_runlog_free(&rec);
    h_free(&h);
}

static void test_timeout(void **state)
{
    struct harness h;
    struct rules rs = {{{2, 2, H_STUCK}}, 1};
    h_init(&h, 3, 1, NULL);
    with_rules(&h, &rs);
    uint64_t run = h_submit(&h, 1, 0);
    /* Up to the START of the case's run stage, and past it. */
    for (int i = 0; i < 50 && h_decision(&h, run, 1) == NULL; i++) {
        while (h.n_net > 0)
            h_deliver(&h, 0, 0);
        h_finish_scripts(&h);
        h_commit(&h);
    }
    while (h.n_net > 0)
        h_deliver(&h, 0, 0);
    h_finish_scripts(&h);
    uint64_t t0 = h.now;
    assert_null(h_decision(&h, run, 2));
    /* Retries go out every second, the timeout fires at 30 s + grace. */
    while (h_count(&h, H_CANCEL) == 0) {
        assert_true(h_advance(&h, t0 + TSC_SEC(40)));
        while (h_count(&h, H_START) > 0)
            h_deliver(&h, 0, 0);
    }
    assert_true(h.now >= t0 + TSC_SEC(32));
    assert_true(h.now < t0 + TSC_SEC(33));
    assert_int_equal(tsc_barrier_stats(h.coords[0].eng)->timeouts, 1);
    assert_int_equal(h_spawns(&h, 2, run, 2), 1); /* retries were answered, not respawned */
    h_settle(&h, TSC_SEC(600));
    assert_int_equal(h_run_state(&h, run), TSC_RUN_FAILED);
    assert_outcomes(&h, run, "ppFpp");
    assert_diagnosis(&h, run, 2, "stage 'case c0 run' failed: node3 timed out after 30 s");
    struct tsc_runlog rec;
    assert_int_equal(h_record(&h, run, 2, &rec), 0);
    assert_int_equal(rec.stage.results[2].status, TSC_RESULT_TIMEOUT);
    tsc_runlog_free(&rec);
    h_free(&h);
}

static void test_dead_member(void **state)
{
    struct harness h;
    struct rules rs = {{{1, 1, H_STUCK}}, 1};
    h_init(&h, 3, 2, NULL);
    with_rules(&h, &rs);
    uint64_t run = h_submit(&h, 1, 0);
    for (int i = 0; i < 20; i++) {
        while (h.n_net > 0)
            h_deliver(&h, 0, 0);
        h_finish_scripts(&h);
        h_commit(&h);
    }
    assert_null(h_decision(&h, run, 1)); /* node2 is stuck in case init */
    h_kill_part(&h, 1);
    h_settle(&h, TSC_SEC(600));
    assert_int_equal(h_run_state(&h, run), TSC_RUN_FAILED);
    assert_outcomes(&h, run, "pF-FF");
    assert_diagnosis(&h, run, 1, "stage 'case c0 init' failed: node2 dead");
    assert_diagnosis(&h, run, 4, "stage 'suite finalize' failed: node2 dead");
    h_free(&h);
}

static void test_dead_before_start(void **state)
{
    struct harness h;
    h_init(&h, 3, 1, NULL);
    h_kill_part(&h, 0);
    uint64_t run = h_submit(&h, 0, 0);
    h_settle(&h, TSC_SEC(600));
    assert_int_equal(h_run_state(&h, run), TSC_RUN_FAILED);
    assert_outcomes(&h, run, "FF");
    assert_int_equal(tsc_barrier_stats(h.coords[0].eng)->starts, 4); /* none to node1 */
    assert_diagnosis(&h, run, 0, "stage 'suite init' failed: node1 dead");
    h_free(&h);
}

/* A second voter that applied the same records takes over mid-stage: it
 * starts the stage again, finished participants answer from memory. */
static void test_failover_mid_stage(void **state)
{
    struct harness h;
    struct rules rs = {{{2, 0, H_HANG}}, 1};
    h_init(&h, 3, 3, NULL);
    with_rules(&h, &rs);
    uint64_t run = h_submit(&h, 1, 0);
    while (h.n_net > 0)
        h_deliver(&h, 0, 0);
    h_finish_scripts(&h);
    while (h.n_net > 0)
        h_deliver(&h, 0, 0); /* two reports reach the old leader */
    h.now += TSC_SEC(10);
    h_set_leader(&h, 1);
    assert_int_equal(h_count(&h, H_START), 3);
    uint64_t t1 = h.now;
    h_settle(&h, TSC_SEC(600));
    assert_int_equal(h_run_state(&h, run), TSC_RUN_FAILED);
    for (size_t p = 0; p < 3; p++) /* suite init failed: only the suite stages ran */
        for (uint32_t k = 0; k < 5; k++)
            assert_int_equal(h_spawns(&h, p, run, k), k == 0 || k == 4 ? 1 : 0);
    const struct tsc_part_stats *ps = tsc_part_stats(h.parts[0].eng);
    assert_true(ps->repeats >= 1);
    /* node3's own runner timed it out after 30 s (its timeout ran from its
     * spawn); the new leader's clock would have waited until t1 + 32 s. */
    assert_diagnosis(&h, run, 0, "stage 'suite init' failed: node3 timed out after 30 s");
    assert_true(h.now > t1);
    h_free(&h);
}

/* The new leader measures the timeout from its own first START. */
static void test_failover_timeout_clock(void **state)
{
    struct harness h;
    struct rules rs = {{{0, 0, H_STUCK}}, 1};
    h_init(&h, 2, 2, NULL);
    with_rules(&h, &rs);
    uint64_t run = h_submit(&h, 0, 0);
    uint64_t t0 = h.now;
    h_settle(&h, TSC_SEC(20));
    assert_null(h_decision(&h, run, 0));
    h_restart_coord(&h, 1); /* a fresh engine from the log alone */
    h_set_leader(&h, 1);
    uint64_t t1 = h.now;
    assert_true(t1 >= t0 + TSC_SEC(19));
    while (h_decision(&h, run, 0) == NULL) {
        while (h.n_net > 0)
            h_deliver(&h, 0, 0);
        h_finish_scripts(&h);
        h_commit(&h);
        if (h_decision(&h, run, 0) == NULL)
            assert_true(h_advance(&h, t1 + TSC_SEC(60)));
    }
    assert_true(h.now >= t1 + TSC_SEC(32));
    h_settle(&h, TSC_SEC(600));
    assert_int_equal(h_run_state(&h, run), TSC_RUN_FAILED);
    assert_int_equal(h_spawns(&h, 0, run, 0), 1);
    h_free(&h);
}

static void test_participant_restart(void **state)
{
    struct harness h;
    struct rules rs = {{{1, 0, H_STUCK}}, 1};
    h_init(&h, 3, 1, NULL);
    with_rules(&h, &rs);
    uint64_t run = h_submit(&h, 0, 0);
    while (h.n_net > 0)
        h_deliver(&h, 0, 0);
    h_finish_scripts(&h);
    assert_int_equal(tsc_part_state(h.parts[1].eng, run, 0), TSC_PART_STARTED);
    h_restart_part(&h, 1);
    assert_int_equal(tsc_part_state(h.parts[1].eng, run, 0), TSC_PART_DONE);
    assert_int_equal(tsc_part_stats(h.parts[1].eng)->lost, 1);
    h_settle(&h, TSC_SEC(600));
    assert_int_equal(h_spawns(&h, 1, run, 0), 1);
    assert_int_equal(h_run_state(&h, run), TSC_RUN_FAILED);
    assert_outcomes(&h, run, "Fp");
    assert_diagnosis(&h, run, 0, "stage 'suite init' failed: node2 lost (its agent restarted)");
    h_free(&h);
}

static void test_cancel(void **state)
{
    struct harness h;
    struct rules rs = {{{0, 2, H_STUCK}, {1, 2, H_STUCK}}, 2};
    h_init(&h, 2, 2, NULL);
    with_rules(&h, &rs);
    uint64_t run = h_submit(&h, 2, 0);
    uint64_t queued = h_submit(&h, 1, 0);
    h_settle(&h, TSC_SEC(5));
    assert_null(h_decision(&h, run, 2));
    h_cancel(&h, queued); /* waiting behind: ends at once */
    assert_int_equal(h_run_state(&h, queued), TSC_RUN_CANCELLED);
    h_cancel(&h, run);
    assert_int_equal(h_count(&h, H_CANCEL), 2);
    h_settle(&h, TSC_SEC(600));
    assert_int_equal(h_run_state(&h, run), TSC_RUN_CANCELLED);
    /* c0: init, run (cancelled), finalize | c1 skipped | suite finalize */
    assert_outcomes(&h, run, "ppFp---p");
    assert_diagnosis(&h, run, 2, "stage 'case c0 run' failed: node1 cancelled; node2 cancelled");
    for (uint32_t k = 0; k < 5; k++)
        assert_int_equal(h_spawns(&h, 0, queued, k), 0);
    h_free(&h);
}

static void test_runs_in_order(void **state)
{
    struct harness h;
    h_init(&h, 2, 1, NULL);
    uint64_t a = h_submit(&h, 1, 1);
    uint64_t b = h_submit(&h, 1, 2);
    struct tsc_barrier_progress pr;
    tsc_barrier_progress(h.coords[0].eng, &pr);
    assert_int_equal(pr.run, a);
    assert_int_equal(pr.n_queued, 1);
    assert_int_equal(pr.n_stages, 5);
    const uint8_t *data;
    size_t len;
    assert_int_equal(tsc_barrier_run_submit(h.coords[0].eng, b, &data, &len), 0);
    assert_int_equal(len, h.log[b - 1].len);
    h_settle(&h, TSC_SEC(600));
    assert_int_equal(h.coords[0].n_finished, 2);
    assert_int_equal(h.coords[0].finished[0][0], a);
    assert_int_equal(h.coords[0].finished[1][0], b);
    /* Every START of run b came after every START of run a. */
    int seen_b = 0;
    for (size_t i = 0; i < h.n_started; i++) {
        if (h.started[i][0] == b)
            seen_b = 1;
        else
            assert_false(seen_b);
    }
    assert_int_equal(tsc_barrier_run_submit(h.coords[0].eng, b, &data, &len), TSC_ENOTFOUND);
    assert_int_equal(tsc_barrier_find_nonce(h.coords[0].eng, 2), b);
    h_free(&h);
}

static void test_queue_full_and_nonce(void **state)
{
    struct harness h;
    struct tsc_barrier_config cfg;
    tsc_barrier_config_default(&cfg);
    cfg.max_queue = 2;
    h_init(&h, 2, 2, &cfg);
    uint64_t a = h_submit(&h, 0, 10);
    uint64_t b = h_submit(&h, 0, 11);
    uint64_t c = h_submit(&h, 0, 12);
    assert_int_equal(h_run_state(&h, c), TSC_RUN_FAILED); /* at once, on every voter */
    h_check_agreement(&h);
    h_submit(&h, 0, 10); /* a client's retry: the same run */
    h.n_runs--;
    assert_int_equal(tsc_barrier_find_nonce(h.coords[1].eng, 10), a);
    assert_int_equal(tsc_barrier_find_nonce(h.coords[1].eng, 12), c);
    h_settle(&h, TSC_SEC(600));
    assert_int_equal(h_run_state(&h, a), TSC_RUN_PASSED);
    assert_int_equal(h_run_state(&h, b), TSC_RUN_PASSED);
    assert_int_equal(h.coords[0].n_finished, 3);
    h_free(&h);
}

/* Outputs are cut so that a STAGE record fits max_record. */
static void test_record_size(void **state)
{
    struct harness h;
    struct tsc_barrier_config cfg;
    struct rules rs = {{{0, 0, H_FAIL}, {1, 0, H_FAIL}, {2, 0, H_FAIL}, {3, 0, H_FAIL}}, 4};
    tsc_barrier_config_default(&cfg);
    cfg.max_record = 8192;
    h_init(&h, 8, 1, &cfg);
    with_rules(&h, &rs);
    uint64_t run = h_submit(&h, 0, 0);
    h_settle(&h, TSC_SEC(600));
    const struct h_decided *d = h_decision(&h, run, 0);
    assert_non_null(d);
    assert_true(h.log[d->index - 1].len <= 8192);
    struct tsc_runlog rec;
    assert_int_equal(h_record(&h, run, 0, &rec), 0);
    assert_int_equal(rec.stage.results[0].output_len, (8192 - 4096) / 8);
    assert_int_equal(rec.stage.results[0].output[0], 'x');
    tsc_runlog_free(&rec);
    h_free(&h);
}

/* Allocation failures in the coordinators: a failed APPLY is applied
 * again, lost STARTs and reports come back through the retries; the run
 * still passes and the voters still agree (ASan: nothing leaks). */
static void test_out_of_memory(void **state)
{
    unsigned long failed = 0;
    for (unsigned every = 2; every <= 5; every += 3)
        for (unsigned long nth = 1; nth <= 12; nth++) {
            struct harness h;
            h_init(&h, 3, 2, NULL);
            h.oom_every = every;
            h.oom_nth = nth;
            uint64_t run = h_submit(&h, 2, 0);
            h_settle(&h, TSC_SEC(600));
            assert_int_equal(h_run_state(&h, run), TSC_RUN_PASSED);
            for (size_t p = 0; p < 3; p++)
                for (uint32_t k = 0; k < 8; k++)
                    assert_int_equal(h_spawns(&h, p, run, k), 1);
            failed += h.n_oom;
            h_free(&h);
        }
    assert_true(failed > 20);
}

/* The engine alone, on a clock that starts at 0 (the simulator's). */
static void test_clock_from_zero(void **state)
{
    struct tsc_barrier *b;
    struct tsc_barrier_update up;
    struct tsc_run_participant p = {.id = 7, .name = "solo"};
    uint64_t t[2] = {TSC_SEC(5), TSC_SEC(5)};
    struct tsc_buf rec;
    tsc_buf_init(&rec);
    struct tsc_runlog_submit s = {.n_participants = 1, .participants = &p};
    assert_int_equal(tsc_runlog_encode_submit(&s, t, &rec), 0);
    assert_int_equal(tsc_barrier_new(&b, NULL, NULL), 0);
    struct tsc_barrier_event ev = {.type = TSC_BARRIER_EV_LEADER, .is_leader = 1, .term = 1};
    assert_int_equal(tsc_barrier_step(b, &ev, &up), 0);
    assert_int_equal(up.next_deadline, TSC_TIME_NEVER);
    ev = (struct tsc_barrier_event){
        .type = TSC_BARRIER_EV_APPLY, .index = 1, .data = rec.data, .len = rec.len};
    assert_int_equal(tsc_barrier_step(b, &ev, &up), 0);
    assert_int_equal(up.n_starts, 1);
    assert_int_equal(up.starts[0].timeout_us, TSC_SEC(5));
    assert_int_equal(up.next_deadline, TSC_SEC(1)); /* the retry */
    ev = (struct tsc_barrier_event){.type = TSC_BARRIER_EV_TICK, .now = TSC_SEC(7)};
    assert_int_equal(tsc_barrier_step(b, &ev, &up), 0);
    assert_int_equal(up.n_cancels, 1);
    assert_int_equal(up.n_proposals, 1);
    assert_int_equal(tsc_barrier_current_result(b, 1, 0), TSC_RESULT_TIMEOUT);
    assert_int_equal(tsc_barrier_step(b, &ev, &up), 0); /* the same time again: nothing new */
    assert_int_equal(up.n_proposals, 0);
    assert_int_equal(up.next_deadline, TSC_SEC(9));
    ev = (struct tsc_barrier_event){.type = 99};
    assert_int_equal(tsc_barrier_step(b, &ev, &up), TSC_EINVAL);
    ev = (struct tsc_barrier_event){.type = TSC_BARRIER_EV_APPLY, .index = 0};
    assert_int_equal(tsc_barrier_step(b, &ev, &up), TSC_EINVAL);
    tsc_barrier_free(b);
    tsc_buf_free(&rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_happy_path),          cmocka_unit_test(test_suite_init_fails),
        cmocka_unit_test(test_case_failures),       cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_dead_member),         cmocka_unit_test(test_dead_before_start),
        cmocka_unit_test(test_failover_mid_stage),  cmocka_unit_test(test_failover_timeout_clock),
        cmocka_unit_test(test_participant_restart), cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_runs_in_order),       cmocka_unit_test(test_queue_full_and_nonce),
        cmocka_unit_test(test_record_size),         cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_clock_from_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
