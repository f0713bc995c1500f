/* tsc — sim test: 200 seeds of random faults (crashes, restarts, leaves,
 * partitions incl. one-way, loss, duplication, delays) on a small cluster;
 * every invariant holds after every step and every seed converges once the
 * faults stop. A failure names the seed and the command that replays it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "sim/sim.h"

static void campaign_200_seeds(void **state)
{
    struct tsc_sim_opts o;
    struct tsc_sim_result r;
    char em[TSC_ERRMSG_SIZE] = "";
    tsc_sim_opts_default(&o, TSC_SIM_CAMPAIGN);
    o.nodes = 20;
    o.seed_first = 1;
    o.seed_last = 200;
    o.duration_s = 15;
    int rc = tsc_sim_campaign(&o, &r, em);
    if (rc)
        fail_msg("campaign: %s", em);
    printf("# campaign n=%u seeds=%llu faults=%llu events=%llu wall=%.2fs violations=%llu "
           "failing_seeds=%llu\n",
           o.nodes, (unsigned long long)r.seeds, (unsigned long long)r.faults,
           (unsigned long long)r.events, r.wall_s, (unsigned long long)r.violations,
           (unsigned long long)r.failing_seeds);
    assert_int_equal(r.seeds, 200);
    assert_true(r.faults > 200 * 10); /* the schedules really did something */
    if (r.violations)
        fail_msg("%llu violations in %llu seeds; first: %s; replay: %s",
                 (unsigned long long)r.violations, (unsigned long long)r.failing_seeds,
                 r.first_violation, r.replay);
    assert_false(r.has_failing);
    assert_true(r.ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(campaign_200_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
