/* tsc — sim test: the election engine next to SWIM on every simulated node.
 *  - election: a cluster elects one coordinator that every member knows,
 *    with 3 and with 5 voters, and the coordinator adds every voter;
 *  - failover: kill -9 of the coordinator, over 100 seeds: p50 <= 300 ms
 *    and p99 <= 1 s until every live member knows a new one (the issue's
 *    targets);
 *  - campaign: 1,000 seeds of faults (partitions incl. one-way, crashes and
 *    restarts of voters and of the coordinator, loss, duplication, delay,
 *    clock rates within 1 +- 1%) with the election's invariants checked
 *    after every step: 0 violations. TSC_SIM_ELECTION_SEEDS overrides the
 *    number of seeds (the sanitizer build may use fewer);
 *  - the acting check has teeth: with the lease left at the minimum
 *    election timeout and clocks drifting 5%, two coordinators act at once
 *    in some seed, and the campaign says so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "sim/sim.h"

static void run(struct tsc_sim_opts *o, struct tsc_sim_result *r)
{
    char em[TSC_ERRMSG_SIZE] = "";
    int rc = tsc_sim_run(o, r, em);
    if (rc)
        fail_msg("%s: %s", tsc_sim_scenario_name(o->scenario), em);
}

static void election_at(uint32_t nodes, uint32_t voters, uint64_t seed)
{
    struct tsc_sim_opts o;
    struct tsc_sim_result r;
    tsc_sim_opts_default(&o, TSC_SIM_ELECTION);
    o.nodes = nodes;
    o.voters = voters;
    o.seed = seed;
    run(&o, &r);
    printf("# election n=%u voters=%u: first_coordinator_s=%.6f term=%llu violations=%llu\n", nodes,
           voters, r.first_coordinator_s, (unsigned long long)r.term,
           (unsigned long long)r.violations);
    if (!r.ok)
        fail_msg("election n=%u voters=%u: %s (first violation: %s)", nodes, voters, r.note,
                 r.violations ? r.first_violation : "-");
    assert_true(r.first_coordinator_s >= 0 && r.first_coordinator_s < 1.0);
    assert_true(r.term >= 1);
    assert_int_equal(r.violations, 0);
}

static void election_3_and_5_voters(void **state)
{
    (void)state;
    election_at(20, 3, 1);
    election_at(20, 5, 2);
    election_at(7, 5, 3);
}

static void failover_at(uint32_t nodes, uint32_t voters)
{
    struct tsc_sim_opts o;
    struct tsc_sim_result r;
    tsc_sim_opts_default(&o, TSC_SIM_FAILOVER);
    o.nodes = nodes;
    o.voters = voters;
    o.seed_first = 1;
    o.seed_last = 100;
    run(&o, &r);
    printf("# failover n=%u voters=%u seeds=100: p50=%.3fs p99=%.3fs max=%.3fs violations=%llu\n",
           nodes, voters, r.failover_p50_s, r.failover_p99_s, r.failover_max_s,
           (unsigned long long)r.violations);
    if (!r.ok)
        fail_msg("failover: %s; replay: %s", r.note, r.has_failing ? r.replay : "-");
    assert_int_equal(r.failovers, 100);
    assert_true(r.failover_p50_s <= 0.300);
    assert_true(r.failover_p99_s <= 1.0);
    assert_int_equal(r.violations, 0);
}

static void failover_targets(void **state)
{
    (void)state;
    failover_at(7, 5);
    failover_at(7, 3);
}

static void campaign_with_election(void **state)
{
    (void)state;
    struct tsc_sim_opts o;
    struct tsc_sim_result r;
    uint64_t seeds = 1000;
    const char *env = getenv("TSC_SIM_ELECTION_SEEDS");
    if (env && *env)
        seeds = strtoull(env, NULL, 10);
    if (seeds == 0)
        seeds = 1;
    tsc_sim_opts_default(&o, TSC_SIM_CAMPAIGN);
    o.nodes = 7;
    o.voters = 5;
    o.duration_s = 12;
    o.seed_first = 1;
    o.seed_last = seeds;
    run(&o, &r);
    printf("# campaign n=7 voters=5 seeds=%llu: faults=%llu leaderships=%llu appends=%llu "
           "acked=%llu events=%llu wall=%.2fs violations=%llu\n",
           (unsigned long long)r.seeds, (unsigned long long)r.faults,
           (unsigned long long)r.failovers, (unsigned long long)r.appends,
           (unsigned long long)r.acked, (unsigned long long)r.events, r.wall_s,
           (unsigned long long)r.violations);
    assert_int_equal(r.seeds, seeds);
    assert_true(r.failovers > seeds); /* coordinators really did change */
    assert_true(r.acked > seeds * 50);
    if (r.violations)
        fail_msg("%llu violations in %llu seeds; first: %s; replay: %s",
                 (unsigned long long)r.violations, (unsigned long long)r.failing_seeds,
                 r.first_violation, r.replay);
    assert_true(r.ok);
}

static void lease_without_drift_margin_is_caught(void **state)
{
    (void)state;
    struct tsc_sim_opts o;
    struct tsc_sim_result r;
    tsc_sim_opts_default(&o, TSC_SIM_CAMPAIGN);
    o.nodes = 7;
    o.voters = 5;
    o.duration_s = 12;
    o.seed_first = 1;
    o.seed_last = 300;
    o.drift = 0.05;
    o.lease_us = 150000; /* = election_timeout_min: no room for drift */
    run(&o, &r);
    printf("# lease 150 ms, drift 5%%: %llu violations, first: %s\n",
           (unsigned long long)r.violations, r.violations ? r.first_violation : "-");
    assert_true(r.violations > 0);
    assert_false(r.ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(election_3_and_5_voters),
        cmocka_unit_test(failover_targets),
        cmocka_unit_test(campaign_with_election),
        cmocka_unit_test(lease_without_drift_margin_is_caught),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
