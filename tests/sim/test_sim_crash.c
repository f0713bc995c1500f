/* tsc — sim test: failure detection. Kill nodes of a converged cluster and
 * require that every live node marks each of them dead within the issue's
 * bound (3 s at 1000 nodes with a 200 ms probe interval), and that no live
 * node is ever marked dead, also under 5 % datagram loss. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "sim/sim.h"

/* Full size in the normal build; a fifth under ASan+UBSan, which is slower. */
#ifdef TSC_SANITIZED_BUILD
#define BIG    200
#define MID    100
#define LOSS_S 60
#else
#define BIG    1000
#define MID    300
#define LOSS_S 120
#endif

static void run(uint32_t nodes, uint32_t kill, double loss, double duration, uint64_t seed,
                struct tsc_sim_result *r)
{
    struct tsc_sim_opts o;
    char em[TSC_ERRMSG_SIZE] = "";
    tsc_sim_opts_default(&o, TSC_SIM_CRASH);
    o.nodes = nodes;
    o.kill = kill;
    o.loss = loss;
    o.duration_s = duration;
    o.seed = seed;
    o.settle_s = 1;
    int rc = tsc_sim_crash(&o, r, em);
    if (rc)
        fail_msg("crash: %s", em);
    printf("# crash n=%u kill=%u loss=%.2f duration=%.0fs: detected=%u detect_p50_s=%.3f "
           "detect_max_s=%.3f false_positives=%llu suspicions=%llu wall=%.2fs %s\n",
           nodes, kill, loss, duration, r->detected, r->detect_p50_s, r->detect_max_s,
           (unsigned long long)r->false_positives, (unsigned long long)r->suspicions, r->wall_s,
           r->note);
    if (r->violations)
        fail_msg("%llu violations; first: %s", (unsigned long long)r->violations,
                 r->first_violation);
    assert_int_equal(r->detected, kill);
    assert_int_equal(r->false_positives, 0);
    assert_true(r->ok);
}

static void crash_1000_detected_within_3s(void **state)
{
    struct tsc_sim_result r;
    run(BIG, 5, 0, 15, 1, &r);
    assert_true(r.detect_p50_s > 0 && r.detect_p50_s <= r.detect_max_s);
    assert_true(r.detect_max_s <= 3.0);
}

static void crash_under_loss_no_false_positive(void **state)
{
    struct tsc_sim_result r;
    run(MID, 3, 0.05, LOSS_S, 2, &r);
    /* Loss slows detection down but must not stop it. */
    assert_true(r.detect_max_s > 0 && r.detect_max_s <= 10.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crash_1000_detected_within_3s),
        cmocka_unit_test(crash_under_loss_no_false_positive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
