/* tsc — sim test: dissemination at 1000 nodes. One node changes its
 * readiness (a new signed record, a higher incarnation); the issue's
 * targets: 99.99 % of 1000 nodes hold it within 8 gossip rounds without
 * loss and within 10 at 10 % loss. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "sim/sim.h"

/* Full size in the normal build; a fifth under ASan+UBSan, which is slower. */
#ifdef TSC_SANITIZED_BUILD
#define BIG 200
#else
#define BIG 1000
#endif

static void run(uint32_t nodes, double loss, uint64_t seed, struct tsc_sim_result *r)
{
    struct tsc_sim_opts o;
    char em[TSC_ERRMSG_SIZE] = "";
    tsc_sim_opts_default(&o, TSC_SIM_CONVERGE);
    o.nodes = nodes;
    o.loss = loss;
    o.seed = seed;
    o.settle_s = 1;
    int rc = tsc_sim_converge(&o, r, em);
    if (rc)
        fail_msg("converge: %s", em);
    printf("# converge n=%u loss=%.2f: rounds_99=%d rounds_9999=%d rounds_100=%d "
           "seconds_9999=%.3f msgs/node/s=%.1f bytes/node/s=%.0f events=%llu wall=%.2fs %s\n",
           nodes, loss, r->rounds_99, r->rounds_9999, r->rounds_100, r->seconds_9999,
           r->msgs_per_node_per_s, r->bytes_per_node_per_s, (unsigned long long)r->events,
           r->wall_s, r->note);
    if (r->violations)
        fail_msg("%llu violations; first: %s", (unsigned long long)r->violations,
                 r->first_violation);
    assert_true(r->ok);
    /* Ordered thresholds, all reached, and a sane steady state. */
    assert_true(r->rounds_99 >= 0 && r->rounds_99 <= r->rounds_9999);
    assert_true(r->rounds_9999 <= r->rounds_100);
    assert_true(r->seconds_9999 > 0);
    assert_true(r->msgs_per_node_per_s > 0 && r->bytes_per_node_per_s > 0);
}

static void converge_1000_no_loss(void **state)
{
    struct tsc_sim_result r;
    run(BIG, 0, 1, &r);
    assert_true(r.rounds_9999 <= 8);
}

static void converge_1000_ten_percent_loss(void **state)
{
    struct tsc_sim_result r;
    run(BIG, 0.10, 2, &r);
    assert_true(r.rounds_9999 <= 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(converge_1000_no_loss),
        cmocka_unit_test(converge_1000_ten_percent_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
