/* tsc — integration: five real tscd processes on 127.0.0.1 form a cluster
 * through one seed; kill -9 one and every other marks it dead; restart it
 * from its data dir without --join and it is alive again everywhere;
 * SIGTERM another and the rest see it `left`.
 *
 * The tests run in order and share the cluster (cmocka group state): each
 * scenario starts from where the previous one left the cluster, as an
 * operator's session would. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define N       5
#define WAIT_MS 30000

static struct th_agent ag[N];
static char ids[N][17];
static char key[512];
static const char *const fast[] = {"--probe-interval-ms", "200", NULL};

static void dump_all(void)
{
    for (int i = 0; i < N; i++)
        th_dump_log(&ag[i]);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            dump_all();                                                                            \
            fail_msg(__VA_ARGS__);                                                                 \
        }                                                                                          \
    } while (0)

static int group_setup(void **state)
{
    th_init();
    return th_keygen("cluster.key", key, sizeof key);
}

static int group_teardown(void **state)
{
    th_kill_all();
    return 0;
}

static void test_form_cluster(void **state)
{
    char seed[32];
    th_agent_init(&ag[0], "seed", key, NULL);
    CHECK(th_agent_start(&ag[0], fast) == 0, "seed did not start");
    snprintf(seed, sizeof seed, "127.0.0.1:%d", ag[0].port);
    for (int i = 1; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "agent%d", i);
        th_agent_init(&ag[i], name, key, seed);
        CHECK(th_agent_start(&ag[i], fast) == 0, "%s did not start", name);
    }
    for (int i = 0; i < N; i++) {
        CHECK(th_wait_members(&ag[i], N, "alive", WAIT_MS) == 0, "%s does not see %d alive",
              ag[i].name, N);
        CHECK(th_self_id(&ag[i], ids[i]) == 0, "%s: no self entry", ag[i].name);
    }
}

static void test_kill9_detected_dead(void **state)
{
    const int victim = 2;
    CHECK(th_agent_signal(&ag[victim], SIGKILL, 1, 5000) == 128 + SIGKILL, "kill -9 failed");
    for (int i = 0; i < N; i++) {
        if (i == victim)
            continue;
        CHECK(th_wait_status(&ag[i], ids[victim], "dead", WAIT_MS) == 0, "%s does not mark %s dead",
              ag[i].name, ids[victim]);
    }
}

static void test_restart_alive_again(void **state)
{
    const int victim = 2;
    struct th_member m[TH_MAX_MEMBERS];
    char id[17];
    uint64_t inc_before = 0;
    int n = th_members(&ag[0], m, TH_MAX_MEMBERS);
    for (int i = 0; i < n; i++)
        if (strcmp(m[i].id, ids[victim]) == 0)
            inc_before = m[i].incarnation;
    /* Same data dir, no --join: it must find the cluster from its store. */
    ag[victim].join[0] = '\0';
    CHECK(th_agent_start(&ag[victim], fast) == 0, "restart failed");
    CHECK(th_self_id(&ag[victim], id) == 0 && strcmp(id, ids[victim]) == 0,
          "restarted agent has another id (%s, was %s)", id, ids[victim]);
    for (int i = 0; i < N; i++)
        CHECK(th_wait_members(&ag[i], N, "alive", WAIT_MS) == 0,
              "%s does not see all %d alive after the restart", ag[i].name, N);
    n = th_members(&ag[0], m, TH_MAX_MEMBERS);
    for (int i = 0; i < n; i++)
        if (strcmp(m[i].id, ids[victim]) == 0)
            CHECK(m[i].incarnation > inc_before, "incarnation did not grow (%llu -> %llu)",
                  (unsigned long long)inc_before, (unsigned long long)m[i].incarnation);
}

static void test_sigterm_gives_left(void **state)
{
    const int leaver = 4;
    int st = th_agent_signal(&ag[leaver], SIGTERM, 1, 10000);
    CHECK(st == 0, "SIGTERM: tscd exited with %d, want 0", st);
    for (int i = 0; i < N; i++) {
        if (i == leaver)
            continue;
        CHECK(th_wait_status(&ag[i], ids[leaver], "left", WAIT_MS) == 0,
              "%s does not show %s as left", ag[i].name, ids[leaver]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_cluster),
        cmocka_unit_test(test_kill9_detected_dead),
        cmocka_unit_test(test_restart_alive_again),
        cmocka_unit_test(test_sigterm_gives_left),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
