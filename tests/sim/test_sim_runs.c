/* tsc — sim test: runs and stage barriers in the simulator (sim/runs.h).
 *  - campaign --runs: 400 seeds of faults (crashes and restarts of
 *    participants, kill -9 of the coordinator during runs, partitions incl.
 *    one-way, loss, duplication, delay, clock rates) while a client submits
 *    and cancels runs through the coordinator: 0 violations of the barrier,
 *    "never twice", "decided records never change" and "every run
 *    finishes" (fewer seeds under ASan+UBSan);
 *  - the checks have teeth: fed a start out of turn, a second start of a
 *    stage, and a start while a machine the decision did not give up still
 *    runs the stage before, they count violations;
 *  - barrier: one run on 50 nodes passes every stage, and its transitions
 *    are measured (figures within what the network model allows);
 *  - the same seed gives the same run; the command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "sim/coord.h"
#include "sim/runs.h"
#include "sim/sim.h"

#ifdef TSC_SANITIZED_BUILD
#define SEEDS 150
#else
#define SEEDS 400
#endif

static void campaign_runs(void **state)
{
    struct tsc_sim_opts o;
    struct tsc_sim_result r;
    char em[TSC_ERRMSG_SIZE] = "";
    (void)state;
    tsc_sim_opts_default(&o, TSC_SIM_CAMPAIGN);
    o.runs = 1;
    o.nodes = 10;
    o.seed_first = 1;
    o.seed_last = SEEDS;
    o.duration_s = 15;
    int rc = tsc_sim_campaign(&o, &r, em);
    if (rc)
        fail_msg("campaign --runs: %s", em);
    printf("# campaign --runs n=%u seeds=%llu faults=%llu runs=%llu (passed %llu, failed %llu, "
           "cancelled %llu) stages=%llu spawns=%llu lost=%llu coordinator kills in a run=%llu "
           "wall=%.2fs violations=%llu\n",
           o.nodes, (unsigned long long)r.seeds, (unsigned long long)r.faults,
           (unsigned long long)r.runs_submitted, (unsigned long long)r.runs_passed,
           (unsigned long long)r.runs_failed, (unsigned long long)r.runs_cancelled,
           (unsigned long long)r.stages_decided, (unsigned long long)r.stage_spawns,
           (unsigned long long)r.stages_lost, (unsigned long long)r.coord_kills_mid_run, r.wall_s,
           (unsigned long long)r.violations);
    assert_int_equal(r.seeds, SEEDS);
    if (r.violations)
        fail_msg("%llu violations in %llu seeds; first: %s; replay: %s",
                 (unsigned long long)r.violations, (unsigned long long)r.failing_seeds,
                 r.first_violation, r.replay);
    assert_true(r.ok);
    /* The schedules really exercised what the checks are about. */
    assert_true(r.runs_submitted >= 3 * SEEDS);
    assert_int_equal(r.runs_finished, r.runs_submitted);
    assert_true(r.runs_passed > 0 && r.runs_failed > 0 && r.runs_cancelled > 0);
    assert_true(r.stage_spawns > 10 * SEEDS);
    assert_true(r.stages_lost > 0);
    assert_true(r.coord_kills_mid_run > SEEDS / 2);
}

/* ---- the checks have teeth -------------------------------------------------- */

static struct tsc_sim_world *small_world(void)
{
    struct tsc_sim_world_config cfg;
    struct tsc_sim_world *w;
    struct tsc_sim_runs_config rc;
    char em[TSC_ERRMSG_SIZE] = "";
    memset(&cfg, 0, sizeof cfg);
    cfg.seed = 5;
    cfg.nodes = 3;
    cfg.crypto = &tsc_crypto_cheap;
    tsc_gossip_config_default(&cfg.gossip);
    tsc_sim_net_config_default(&cfg.net);
    assert_int_equal(tsc_sim_world_new(&w, &cfg, em), 0);
    assert_int_equal(tsc_sim_coord_enable(w, 3, 0.01, 0, 0, em), 0);
    tsc_sim_runs_config_default(&rc);
    rc.submit_every_us = 0;
    assert_int_equal(tsc_sim_runs_enable(w, &rc, em), 0);
    return w;
}

static void commit(struct tsc_sim_world *w, uint64_t index, const struct tsc_buf *b)
{
    struct tsc_election_entry x = {
        .index = index, .term = 1, .type = TSC_RAFT_ENTRY_DATA, .data = b->data, .len = b->len};
    assert_int_equal(tsc__sim_runs_oracle(w, &x), 0);
}

static void checks_have_teeth(void **state)
{
    struct tsc_sim_world *w = small_world();
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_buf b;
    (void)state;
    tsc_buf_init(&b);

    /* A run whose SUBMIT is not committed must not start; nor twice. */
    tsc__sim_runs_check_start(w, 0, 1, 0, 0);
    assert_int_equal(w->by_kind[TSC_SIM_V_BARRIER], 1);
    tsc__sim_runs_check_start(w, 0, 1, 0, 0);
    assert_int_equal(w->by_kind[TSC_SIM_V_TWICE], 1);

    /* Run 1 on nodes 1 and 2, one case (5 stages). */
    struct tsc_run_participant ps[2];
    memset(ps, 0, sizeof ps);
    for (int k = 0; k < 2; k++) {
        ps[k].id = w->nodes[k + 1].id;
        ps[k].addr = w->nodes[k + 1].addr;
        snprintf(ps[k].name, sizeof ps[k].name, "n%d", k + 1);
    }
    uint64_t timeouts[5] = {1000, 1000, 1000, 1000, 1000};
    static const uint8_t suite[] = {0x80}; /* any bytes: the checks do not read them */
    struct tsc_runlog_submit sub = {.nonce = 7,
                                    .suite_name = "t",
                                    .n_cases = 1,
                                    .n_participants = 2,
                                    .participants = ps,
                                    .suite = suite,
                                    .suite_len = sizeof suite};
    assert_int_equal(tsc_runlog_encode_submit(&sub, timeouts, &b), 0);
    commit(w, 1, &b);
    uint64_t v = w->violations;
    tsc__sim_runs_check_start(w, 1, 1, 0, 0); /* its turn: fine */
    assert_int_equal(w->violations, v);
    tsc__sim_runs_check_start(w, 2, 1, 1, 1); /* stage 0 not decided yet */
    assert_int_equal(w->violations, v + 1);

    /* Stage 0 decided: node 1 PASSED (and stored so), node 2 TIMEOUT. */
    struct tsc_sim_pstage *d = tsc_calloc(1, sizeof *d);
    d->run = 1;
    d->state = TSC_PART_DONE;
    d->status = TSC_RESULT_PASSED;
    rs->r[1].disk = d;
    rs->r[1].n_disk = rs->r[1].cap_disk = 1;
    struct tsc_stage_result res[2] = {{.status = TSC_RESULT_PASSED, .message = ""},
                                      {.status = TSC_RESULT_TIMEOUT, .message = ""}};
    struct tsc_runlog_stage st = {
        .run = 1, .stage = 0, .outcome = TSC_STAGE_FAILED, .n_results = 2, .results = res};
    snprintf(st.diagnosis, sizeof st.diagnosis, "n2 timed out");
    tsc_buf_reset(&b);
    assert_int_equal(tsc_runlog_encode_stage(&st, &b), 0);
    commit(w, 2, &b);
    assert_int_equal(w->by_kind[TSC_SIM_V_DECIDED], 0); /* the decision is true */
    assert_non_null(tsc__sim_runs_decision(rs, 1, 0));

    /* Suite init failed: the case is skipped, suite finalize (stage 4) is
     * next. Node 2 still runs stage 0, but was given up (TIMEOUT): fine. */
    struct tsc_sim_script *sc = tsc_calloc(1, sizeof *sc);
    sc[0] = (struct tsc_sim_script){.run = 1, .stage = 0, .index = 1};
    rs->r[2].scripts = sc;
    rs->r[2].n_scripts = rs->r[2].cap_scripts = 1;
    v = w->violations;
    tsc__sim_runs_check_start(w, 1, 1, 4, 0);
    assert_int_equal(w->violations, v);
    /* Node 1, which the decision says PASSED, still runs stage 0: crossed. */
    sc = tsc_calloc(1, sizeof *sc);
    sc[0] = (struct tsc_sim_script){.run = 1, .stage = 0, .index = 0};
    rs->r[1].scripts = sc;
    rs->r[1].n_scripts = rs->r[1].cap_scripts = 1;
    uint64_t crossed = w->by_kind[TSC_SIM_V_BARRIER];
    tsc__sim_runs_check_start(w, 0, 1, 4, 1);
    assert_int_equal(w->by_kind[TSC_SIM_V_BARRIER], crossed + 1);
    /* A stage the committed log skipped never starts. */
    rs->r[1].n_scripts = rs->r[2].n_scripts = 0;
    tsc__sim_runs_check_start(w, 0, 1, 2, 0);
    assert_int_equal(w->by_kind[TSC_SIM_V_BARRIER], crossed + 2);
    assert_int_equal(w->by_kind[TSC_SIM_V_TWICE], 1);
    /* Liveness: run 1 is not over. */
    assert_false(tsc_sim_runs_idle(w, NULL));
    tsc_buf_free(&b);
    tsc_sim_world_free(w);
}

/* ---- the barrier scenario ---------------------------------------------------- */

static void barrier_50(void **state)
{
    struct tsc_sim_opts o;
    struct tsc_sim_result r;
    char em[TSC_ERRMSG_SIZE] = "";
    (void)state;
    tsc_sim_opts_default(&o, TSC_SIM_BARRIER);
    o.nodes = 50;
    o.seed = 2;
    if (tsc_sim_barrier(&o, &r, em))
        fail_msg("barrier: %s", em);
    printf("# barrier n=50 cases=%u: transition p50 %.2f p99 %.2f max %.2f RTT (RTT %.0f us; "
           "reports %.2f, commit %.2f, starts %.2f), run %.3f s\n",
           o.cases, r.transition_p50_rtt, r.transition_p99_rtt, r.transition_max_rtt, r.rtt_us,
           r.report_p50_rtt, r.commit_p50_rtt, r.start_p50_rtt, r.run_s);
    if (!r.ok)
        fail_msg("barrier: %s (first violation: %s)", r.note,
                 r.violations ? r.first_violation : "-");
    assert_int_equal(r.violations, 0);
    assert_int_equal(r.runs_passed, 1);
    assert_int_equal(r.transitions, 3 * o.cases + 1);
    assert_int_equal(r.stage_spawns, 50 * (3 * o.cases + 2));
    assert_true(r.rtt_us == 1000);
    /* A report and a START are a stream each (3 one-way latencies of at
     * least 200 µs), and the record is committed in between: never below
     * 1.2 RTT; and no timer waits in the path, so far below a second. */
    assert_true(r.transition_p50_rtt >= 1.2);
    assert_true(r.transition_p50_rtt <= r.transition_p99_rtt);
    assert_true(r.transition_p99_rtt <= r.transition_max_rtt);
    assert_true(r.transition_max_s < 0.2);
    assert_true(r.run_s > 0 && r.run_s < 5);
}

/* ---- determinism and the command line ------------------------------------------ */

static void run_seed(uint64_t seed, struct tsc_sim_result *r)
{
    struct tsc_sim_opts o;
    char em[TSC_ERRMSG_SIZE] = "";
    tsc_sim_opts_default(&o, TSC_SIM_CAMPAIGN);
    o.runs = 1;
    o.nodes = 8;
    o.seed_first = o.seed_last = seed;
    o.duration_s = 10;
    if (tsc_sim_campaign(&o, r, em))
        fail_msg("campaign: %s", em);
    assert_true(r->stage_spawns > 0);
}

static void same_seed_same_run(void **state)
{
    struct tsc_sim_result a, b, c;
    (void)state;
    run_seed(21, &a);
    run_seed(21, &b);
    run_seed(22, &c);
    assert_true(a.trace_hash == b.trace_hash);
    assert_true(a.events == b.events);
    assert_true(a.stage_spawns == b.stage_spawns);
    assert_true(a.trace_hash != c.trace_hash);
}

static int tscsim(const char *args, char *out, size_t cap)
{
    char cmd[1024];
    const char *bin = getenv("TSC_BIN_DIR");
    snprintf(cmd, sizeof cmd, "%s/tscsim %s 2>&1", bin ? bin : "bin", args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void command_line(void **state)
{
    static const char *const bad[] = {
        "barrier --participants 0",
        "barrier --participants 5000",
        "barrier --cases 17",
        "barrier --runs",
        "campaign --runs --voters 0",
        "converge --participants 5",
        "campaign --runs --participants 3",
    };
    static const char *const keys[] = {"\"transition_p50_rtt\":",
                                       "\"transition_p99_rtt\":",
                                       "\"transition_max_rtt\":",
                                       "\"transition_p50_s\":",
                                       "\"rtt_ms\":",
                                       "\"run_s\":",
                                       "\"violations\":0",
                                       "\"ok\":true",
                                       NULL};
    char out[8192];
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = tscsim(bad[i], out, sizeof out);
        if (st != 2)
            fail_msg("'tscsim %s' exited %d, not 2: %s", bad[i], st, out);
    }
    int st = tscsim("barrier --participants 20 --seed 3 --cases 2 --json", out, sizeof out);
    if (st != 0)
        fail_msg("tscsim barrier exited %d: %s", st, out);
    for (const char *const *k = keys; *k; k++)
        if (!strstr(out, *k))
            fail_msg("no %s in %s", *k, out);
    st = tscsim("campaign --runs --seeds 3..4 --nodes 8 --duration 8 --json", out, sizeof out);
    if (st != 0)
        fail_msg("tscsim campaign --runs exited %d: %s", st, out);
    assert_non_null(strstr(out, "\"runs_finished\":"));
    assert_non_null(strstr(out, "\"violations\":0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(checks_have_teeth),  cmocka_unit_test(barrier_50),
        cmocka_unit_test(same_seed_same_run), cmocka_unit_test(command_line),
        cmocka_unit_test(campaign_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
