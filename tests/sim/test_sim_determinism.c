/* tsc — sim test: the same seed gives a bit-identical run (same trace file,
 * same trace_hash, same counters), in one process and across processes; a
 * different seed gives a different run. Loss and duplication are on, so the
 * network model's randomness is covered too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim/sim.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    p[n] = 0;
    *len = (size_t)n;
    return p;
}

static void run(int scenario, uint64_t seed, const char *trace, struct tsc_sim_result *r)
{
    struct tsc_sim_opts o;
    char em[TSC_ERRMSG_SIZE] = "";
    tsc_sim_opts_default(&o, scenario);
    o.nodes = scenario == TSC_SIM_CAMPAIGN ? 12 : 60;
    o.seed = seed;
    o.seed_first = seed;
    o.seed_last = seed + 1;
    o.kill = 2;
    o.loss = scenario == TSC_SIM_CAMPAIGN ? 0 : 0.05;
    o.dup = scenario == TSC_SIM_CAMPAIGN ? 0 : 0.02;
    o.duration_s = 10;
    o.settle_s = 1;
    o.trace_path = trace;
    int rc = tsc_sim_run(&o, r, em);
    if (rc)
        fail_msg("run: %s", em);
    assert_true(r->events > 1000);
}

static void same_seed_same_trace(void **state)
{
    static const int scenarios[] = {TSC_SIM_CONVERGE, TSC_SIM_CRASH, TSC_SIM_CAMPAIGN};
    char a[] = "/tmp/tsc-sim-det-a-XXXXXX", b[] = "/tmp/tsc-sim-det-b-XXXXXX";
    int fa = mkstemp(a), fb = mkstemp(b);
    assert_true(fa >= 0 && fb >= 0);
    for (size_t k = 0; k < sizeof(scenarios) / sizeof(scenarios[0]); k++) {
        struct tsc_sim_result r1, r2, r3;
        run(scenarios[k], 11, a, &r1);
        run(scenarios[k], 11, b, &r2);
        run(scenarios[k], 12, NULL, &r3);
        printf("# %s: hash %016llx (again %016llx, seed 12: %016llx), %llu events\n",
               tsc_sim_scenario_name(scenarios[k]), (unsigned long long)r1.trace_hash,
               (unsigned long long)r2.trace_hash, (unsigned long long)r3.trace_hash,
               (unsigned long long)r1.events);
        assert_true(r1.trace_hash == r2.trace_hash);
        assert_true(r1.events == r2.events);
        assert_true(r1.sent_bytes == r2.sent_bytes);
        assert_true(r1.trace_hash != r3.trace_hash);
        size_t la, lb;
        char *ta = slurp(a, &la), *tb = slurp(b, &lb);
        assert_true(la > 10000);
        assert_int_equal(la, lb);
        assert_memory_equal(ta, tb, la);
        free(ta);
        free(tb);
    }
    close(fa);
    close(fb);
    unlink(a);
    unlink(b);
}

/* Two processes of the tscsim binary agree too (no hidden state such as
 * addresses or the wall clock leaks into the run). */
static void same_seed_across_processes(void **state)
{
    const char *bin = getenv("TSC_BIN_DIR");
    if (!bin)
        skip();
    char cmd[512], out[2][4096];
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof(cmd),
                 "%s/tscsim crash --nodes 40 --kill 1 --seed 5 --loss 0.1 "
                 "--duration 5 --json",
                 bin);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        size_t n = fread(out[i], 1, sizeof(out[i]) - 1, p);
        out[i][n] = 0;
        assert_int_equal(pclose(p), 0);
    }
    const char *h0 = strstr(out[0], "\"trace_hash\":"), *h1 = strstr(out[1], "\"trace_hash\":");
    assert_non_null(h0);
    assert_non_null(h1);
    assert_memory_equal(h0, h1, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_seed_same_trace),
        cmocka_unit_test(same_seed_across_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
