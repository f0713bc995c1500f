/* tsc — sim test: split the cluster into two halves; each side must mark
 * the whole other side dead (and nobody on its own side), and after healing
 * every node must see every node alive again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "sim/sim.h"

static void partition_and_heal(void **state)
{
    static const uint32_t sizes[] = {10, 200};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct tsc_sim_opts o;
        struct tsc_sim_result r;
        char em[TSC_ERRMSG_SIZE] = "";
        tsc_sim_opts_default(&o, TSC_SIM_PARTITION);
        o.nodes = sizes[k];
        o.seed = 3 + k;
        o.settle_s = 1;
        int rc = tsc_sim_partition(&o, &r, em);
        if (rc)
            fail_msg("partition: %s", em);
        printf("# partition n=%u: detect_s=%.3f reconverge_s=%.3f false_positives=%llu "
               "heal_dead_marks=%llu wall=%.2fs %s\n",
               o.nodes, r.detect_s, r.reconverge_s, (unsigned long long)r.false_positives,
               (unsigned long long)r.heal_dead_marks, r.wall_s, r.note);
        if (r.violations)
            fail_msg("%llu violations; first: %s", (unsigned long long)r.violations,
                     r.first_violation);
        assert_true(r.ok);
        assert_int_equal(r.false_positives, 0);
        /* Detection is bounded by the suspicion timeout (Lifeguard: at
         * most β·α·log10(n)·interval), healing by the reconnect interval. */
        assert_true(r.detect_s > 0 && r.detect_s <= 30);
        assert_true(r.reconverge_s >= 0 && r.reconverge_s <= 60);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(partition_and_heal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
