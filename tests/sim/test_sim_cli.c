/* tsc — sim test: the tscsim command line. Bad input gives a clear message
 * on stderr and exit status 2; --json prints one object with exactly the
 * keys the checks depend on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

static const char *bin(void)
{
    const char *b = getenv("TSC_BIN_DIR");
    return b ? b : "bin";
}

/* Run tscsim with args; stdout into out; returns the exit status. */
static int tscsim(const char *args, char *out, size_t cap, int with_stderr)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/tscsim %s%s", bin(), args, with_stderr ? " 2>&1" : "");
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void bad_input_exits_2(void **state)
{
    static const char *const bad[] = {
        "",
        "nonsense",
        "converge --nodes 0",
        "converge --nodes abc",
        "crash --kill 5 --nodes 5",
        "campaign --seeds 9..1",
        "converge --loss 2",
        "converge --crypto rot13",
        "converge --x",
        "partition --kill 1",
    };
    char out[4096];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int st = tscsim(bad[i], out, sizeof(out), 1);
        if (st != 2)
            fail_msg("'tscsim %s' exited %d, not 2: %s", bad[i], st, out);
        assert_non_null(strstr(out, "tscsim: "));
    }
    assert_int_equal(tscsim("--help", out, sizeof(out), 0), 0);
    assert_non_null(strstr(out, "usage"));
}

static void json_keys(const char *args, const char *const *keys)
{
    char out[8192];
    int st = tscsim(args, out, sizeof(out), 0);
    if (st != 0)
        fail_msg("'tscsim %s' exited %d: %s", args, st, out);
    /* One object on one line. */
    assert_true(out[0] == '{');
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_true(nl[-1] == '}' && nl[1] == 0);
    for (; *keys; keys++) {
        char k[64];
        snprintf(k, sizeof(k), "\"%s\":", *keys);
        if (!strstr(out, k))
            fail_msg("'tscsim %s': no key %s in %s", args, k, out);
    }
}

static void json_has_the_keys(void **state)
{
    static const char *const common[] = {"events", "events_per_s", "trace_hash", "violations",
                                         NULL};
    static const char *const conv[] = {
        "rounds_99",           "rounds_9999",          "rounds_100", "seconds_9999",
        "msgs_per_node_per_s", "bytes_per_node_per_s", NULL};
    static const char *const crash[] = {"detect_p50_s", "detect_max_s", "false_positives", NULL};
    static const char *const part[] = {"detect_s", "reconverge_s", NULL};
    static const char *const camp[] = {"seeds",  "violations", "first_failing_seed",
                                       "replay", "wall_s",     NULL};
    json_keys("converge --nodes 30 --seed 2 --loss 0.05 --settle 1 --json", conv);
    json_keys("converge --nodes 30 --seed 2 --settle 1 --json", common);
    json_keys("crash --nodes 30 --kill 2 --seed 2 --duration 10 --json", crash);
    json_keys("partition --nodes 30 --seed 2 --json", part);
    json_keys("campaign --seeds 1..2 --nodes 10 --json", camp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_input_exits_2),
        cmocka_unit_test(json_has_the_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
