/* tsc — sim test: log shipping under faults (sim/logs.h, issue "Logs").
 *  - campaign --logs: hundreds of seeds of agent crashes and restarts,
 *    kill -9 of the sink and failover, step-downs, partitions (one-way too),
 *    loss, duplication and delay, while agents log and message each other:
 *    no record stored twice, no ACK ahead of the durable store, every
 *    record in the final sink's store exactly once in a causal order, no
 *    merge error (fewer seeds under ASan+UBSan); and the faults happened;
 *  - with the merge bounds tscd uses (--merge-defaults), long outages make
 *    GAPs, LATE and out-of-order records (allowed there), yet no record is
 *    lost or stored twice and no ACK covers a seq a GAP passed over: the
 *    agent resends it and the sink fills the hole;
 *  - a record dropped in transit forever is reported as a GAP (and nothing
 *    else is missing; the agent keeps it, unacknowledged), with and without
 *    faults;
 *  - the checks have teeth: hand-made violations are counted, and agents
 *    that forget their Lamport promise across a restart are caught;
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
#include "sim/logs.h"

#ifdef TSC_SANITIZED_BUILD
#define SEEDS          150
#define SEEDS_DEFAULTS 60
#else
#define SEEDS          300
#define SEEDS_DEFAULTS 200
#endif

static void print(const char *what, const struct tsc_sim_logs_opts *o,
                  const struct tsc_sim_logs_result *r)
{
    printf("# %s agents=%u seeds=%llu records=%llu stored=%llu dropped=%llu messages=%llu "
           "batches=%llu (lost %llu) acks=%llu (lost %llu) resent=%llu failovers=%llu "
           "sink_kills=%llu voter_crashes=%llu agent_restarts=%llu partitions=%llu faults=%llu "
           "merge_errors=%llu gaps=%llu violations=%llu virtual=%.0fs wall=%.2fs\n",
           what, o->agents, (unsigned long long)r->seeds, (unsigned long long)r->records,
           (unsigned long long)r->stored, (unsigned long long)r->dropped,
           (unsigned long long)r->messages, (unsigned long long)r->batches,
           (unsigned long long)r->batches_lost, (unsigned long long)r->acks,
           (unsigned long long)r->acks_lost, (unsigned long long)r->resent,
           (unsigned long long)r->failovers, (unsigned long long)r->sink_kills,
           (unsigned long long)r->voter_crashes, (unsigned long long)r->agent_restarts,
           (unsigned long long)r->partitions, (unsigned long long)r->faults,
           (unsigned long long)r->merge_errors, (unsigned long long)r->gaps,
           (unsigned long long)r->violations, r->virtual_s, r->wall_s);
}

static void run(const char *what, const struct tsc_sim_logs_opts *o, struct tsc_sim_logs_result *r)
{
    char em[TSC_ERRMSG_SIZE] = "";
    if (tsc_sim_logs_campaign(o, r, em))
        fail_msg("%s: %s", what, em);
    print(what, o, r);
}

static void campaign_logs(void **state)
{
    struct tsc_sim_logs_opts o;
    struct tsc_sim_logs_result r;
    (void)state;
    tsc_sim_logs_opts_default(&o);
    o.seed_first = 1;
    o.seed_last = SEEDS;
    run("campaign --logs", &o, &r);
    assert_int_equal(r.seeds, SEEDS);
    if (r.violations)
        fail_msg("%llu violations in %llu seeds; first: %s; replay: %s",
                 (unsigned long long)r.violations, (unsigned long long)r.failing_seeds,
                 r.first_violation, r.replay);
    assert_true(r.ok);
    assert_int_equal(r.stored, r.records);
    assert_int_equal(r.merge_errors, 0);
    /* The schedules really did what the checks are about. */
    assert_true(r.records > 500 * SEEDS);
    assert_true(r.messages > 10 * SEEDS);
    assert_true(r.failovers > SEEDS);
    assert_true(r.sink_kills > SEEDS / 2);
    assert_true(r.agent_restarts > SEEDS);
    assert_true(r.partitions > SEEDS);
    assert_true(r.batches_lost > 0 && r.acks_lost > 0);
    assert_true(r.resent > 0);
}

/* Outages longer than gap_wait: the merge passes over missing seqs (GAP)
 * and releases their resends LATE; merge errors and the causal order are
 * not checked here, everything else is. */
static void merge_defaults_lose_nothing(void **state)
{
    struct tsc_sim_logs_opts o;
    struct tsc_sim_logs_result r;
    (void)state;
    tsc_sim_logs_opts_default(&o);
    o.seed_first = 1;
    o.seed_last = SEEDS_DEFAULTS;
    o.merge_defaults = 1;
    run("campaign --logs --merge-defaults", &o, &r);
    assert_int_equal(r.seeds, SEEDS_DEFAULTS);
    static const int must_be_zero[] = {
        TSC_SIM_LV_TWICE, TSC_SIM_LV_ACK,   TSC_SIM_LV_LOST,   TSC_SIM_LV_CHANGED,
        TSC_SIM_LV_HOLE,  TSC_SIM_LV_STUCK, TSC_SIM_LV_ENGINE,
    };
    for (size_t i = 0; i < sizeof must_be_zero / sizeof must_be_zero[0]; i++)
        if (r.by_kind[must_be_zero[i]] != 0)
            fail_msg("%llu %s violations; first violation: %s; replay: %s",
                     (unsigned long long)r.by_kind[must_be_zero[i]],
                     tsc_sim_logs_violation_name(must_be_zero[i]), r.first_violation, r.replay);
    assert_int_equal(r.stored, r.records);
    /* The outages did make the merge pass over records that came later. */
    assert_true(r.gaps > 0);
    assert_true(r.merge_errors > r.gaps);
}

/* Agent 1's 5th record of run 1 never arrives: the merge passes over it
 * after gap_wait with a GAP that names its neighbours, and nothing else is
 * missing or out of order. */
static void dropped_record_is_a_gap(void **state)
{
    struct tsc_sim_logs_opts o;
    struct tsc_sim_logs_result r;
    (void)state;
    for (int faults = 0; faults < 2; faults++) {
        tsc_sim_logs_opts_default(&o);
        o.seed_first = o.seed_last = 7;
        o.no_faults = !faults;
        o.drop_run = 0;
        o.drop_agent = 1;
        o.drop_seq = 5;
        run(faults ? "dropped record, faults" : "dropped record, no faults", &o, &r);
        if (r.violations)
            fail_msg("%s", r.first_violation);
        assert_int_equal(r.dropped, 1);
        assert_true(r.gaps >= 1);
        assert_int_equal(r.stored, r.records - 1);
    }
}

/* ---- the checks have teeth ----------------------------------------------------- */

static void checks_have_teeth(void **state)
{
    struct tsc_sim_logs_opts o;
    struct tsc_sim_logs_result r;
    struct tsc_sim_lworld *w;
    char em[TSC_ERRMSG_SIZE] = "";
    (void)state;
    tsc_sim_logs_opts_default(&o);
    memset(&r, 0, sizeof r);
    assert_int_equal(tsc__sim_logs_new(&w, &o, 3, NULL, &r, em), 0);
    w->runs[0].id = 1;

    /* An ACK ahead of the durable store. */
    struct tsc_logack ack = {.run = 1, .node = w->agents[2].id, .epoch = 1, .have = 1};
    tsc__sim_logs_check_ack(w, 0, &ack);
    assert_int_equal(r.by_kind[TSC_SIM_LV_ACK], 2); /* not stored; and never produced */

    /* Any merge error, when nothing was dropped. */
    struct tsc_logmerge_error gap = {.kind = TSC_LOGMERGE_GAP,
                                     .a_node = w->agents[1].id,
                                     .a_seq = 6,
                                     .b_node = w->agents[1].id,
                                     .b_seq = 4,
                                     .run = 1};
    tsc__sim_logs_check_error(w, 0, &gap);
    assert_int_equal(r.by_kind[TSC_SIM_LV_MERGE_ERROR], 1);
    /* The GAP over a record dropped on purpose is fine; another is not. */
    struct tsc_sim_logs_opts drop = o;
    drop.drop_agent = 1;
    drop.drop_seq = 5;
    w->o = &drop;
    tsc__sim_logs_check_error(w, 0, &gap);
    assert_int_equal(r.by_kind[TSC_SIM_LV_MERGE_ERROR], 1);
    gap.b_seq = 5;
    tsc__sim_logs_check_error(w, 0, &gap);
    assert_int_equal(r.by_kind[TSC_SIM_LV_MERGE_ERROR], 2);
    w->o = &o;

    /* A record stored at an index that holds one already. */
    struct tsc_sim_lstore *s = &w->voters[0].store;
    s->recs[0] = tsc_calloc(1, sizeof *s->recs[0]);
    s->recs[0][0] =
        (struct tsc_sim_lsrec){.node = w->agents[0].id, .seq = 1, .enc = tsc_malloc(1), .len = 1};
    s->n_recs[0] = s->cap_recs[0] = 1;
    struct tsc_sim_lsrec again = {.node = w->agents[0].id, .seq = 2};
    tsc__sim_logs_check_store(w, 0, 0, 1, &again);
    assert_int_equal(r.by_kind[TSC_SIM_LV_TWICE], 1);
    assert_true(strstr(r.first_violation, "seed 3") != NULL);
    tsc__sim_logs_free(w);
}

/* An agent that restarts with the Lamport time of its last record, not the
 * promise it sent, makes records the merge has already passed: LATE (and
 * out of causal order in the store). The campaign must see it. */
static void forgotten_promise_is_caught(void **state)
{
    struct tsc_sim_logs_opts o;
    struct tsc_sim_logs_result r;
    (void)state;
    tsc_sim_logs_opts_default(&o);
    o.seed_first = 1;
    o.seed_last = 40;
    o.forget_promise = 1;
    run("forgotten promise", &o, &r);
    assert_true(r.by_kind[TSC_SIM_LV_MERGE_ERROR] > 0);
    assert_false(r.ok);
    assert_true(strstr(r.replay, "tscsim campaign --logs --seeds ") != NULL);
}

/* ---- determinism and the command line ------------------------------------------ */

static void same_seed_same_run(void **state)
{
    struct tsc_sim_logs_opts o;
    struct tsc_sim_logs_result a, b, c;
    (void)state;
    tsc_sim_logs_opts_default(&o);
    o.seed_first = o.seed_last = 11;
    o.duration_s = 10;
    run("seed 11", &o, &a);
    run("seed 11", &o, &b);
    o.seed_first = o.seed_last = 12;
    run("seed 12", &o, &c);
    assert_true(a.trace_hash == b.trace_hash);
    assert_true(a.events == b.events);
    assert_true(a.records == b.records);
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
        "campaign --logs --voters 3", "campaign --logs --runs",       "campaign --logs --nodes 65",
        "campaign --logs --nodes 2",  "campaign --logs --seeds 3..1", "converge --logs",
    };
    static const char *const keys[] = {"\"records\":",
                                       "\"records_stored\":",
                                       "\"failovers\":",
                                       "\"agent_restarts\":",
                                       "\"partitions\":",
                                       "\"sink_kills\":",
                                       "\"violations\":0",
                                       "\"wall_s\":",
                                       "\"seeds\":2",
                                       "\"ok\":true",
                                       NULL};
    char out[8192];
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = tscsim(bad[i], out, sizeof out);
        if (st != 2)
            fail_msg("'tscsim %s' exited %d, not 2: %s", bad[i], st, out);
    }
    int st = tscsim("campaign --logs --seeds 3..4 --nodes 4 --duration 8 --json", out, sizeof out);
    if (st != 0)
        fail_msg("tscsim campaign --logs exited %d: %s", st, out);
    for (const char *const *k = keys; *k; k++)
        if (!strstr(out, *k))
            fail_msg("no %s in %s", *k, out);
    st = tscsim("campaign --logs --seeds 5..5 --duration 5", out, sizeof out);
    if (st != 0 || !strstr(out, "records_stored"))
        fail_msg("tscsim campaign --logs (text) exited %d: %s", st, out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(checks_have_teeth),
        cmocka_unit_test(same_seed_same_run),
        cmocka_unit_test(command_line),
        cmocka_unit_test(dropped_record_is_a_gap),
        cmocka_unit_test(forgotten_promise_is_caught),
        cmocka_unit_test(campaign_logs),
        cmocka_unit_test(merge_defaults_lose_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
