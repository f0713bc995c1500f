/* tsc — integration: the command-line contracts of tscctl and tscd.
 * tscctl exit codes: 0 ok, 1 other error, 2 bad arguments, 3 no agent,
 * 4 wrong key; keygen writes a 0600 key and refuses to overwrite without
 * --force; tscd rejects bad flags with exit 2. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "harness.h"

static struct th_agent agent;
static char key[512], other_key[512], addr[32], bin_ctl[512], bin_d[512];

static int group_setup(void **state)
{
    th_init();
    th_bin("tscctl", bin_ctl, sizeof bin_ctl);
    th_bin("tscd", bin_d, sizeof bin_d);
    if (th_keygen("cluster.key", key, sizeof key) != 0 ||
        th_keygen("other.key", other_key, sizeof other_key) != 0)
        return -1;
    th_agent_init(&agent, "agent", key, NULL);
    if (th_agent_start(&agent, NULL) != 0)
        return -1;
    snprintf(addr, sizeof addr, "127.0.0.1:%d", agent.port);
    return 0;
}

static int group_teardown(void **state)
{
    th_kill_all();
    return 0;
}

/* Run argv (NULL-terminated) and return the exit status; its stderr goes to
 * the test log, so each case shows the message a user would see. */
static int run(const char *const *argv)
{
    char out[1 << 14], err[2048];
    int st = th_run(argv, out, sizeof out, err, sizeof err, 15000);
    if (err[0])
        fprintf(stderr, "  [%s %s] exit %d: %s", argv[1] ? argv[1] : "", argv[2] ? argv[2] : "", st,
                err);
    return st;
}

static void test_ok(void **state)
{
    const char *a[] = {bin_ctl, "members", "--socket", agent.sock, NULL};
    const char *b[] = {bin_ctl, "members", "--json", "--agent", addr, "--key", key, NULL};
    const char *c[] = {bin_ctl, "stats", "--agent=", NULL};
    const char *d[] = {bin_ctl, "stats", "--socket", agent.sock, "--json", NULL};
    assert_int_equal(run(a), 0);
    assert_int_equal(run(b), 0);
    assert_int_equal(run(c), 2); /* "--agent=" with an empty address */
    assert_int_equal(run(d), 0);
}

/* stats --every: a reading every MS until stopped (here by timeout(1)
 * after 1 s: at 50 ms, far more than 3 JSON lines, each a whole object). */
static void test_stats_every(void **state)
{
    char out[1 << 16], err[2048];
    const char *a[] = {"/usr/bin/timeout", "1",        bin_ctl,    "stats", "--every", "50",
                       "--json",           "--socket", agent.sock, NULL};
    int st = th_run(a, out, sizeof out, err, sizeof err, 15000);
    assert_int_equal(st, 124); /* timeout's "the command was still running" */
    size_t lines = 0;
    for (char *p = out, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        assert_true(p[0] == '{' && nl[-1] == '}');
        lines++;
    }
    assert_true(lines >= 3);
    /* With no agent the first reading fails: exit 3, no loop. */
    char nosock[600];
    snprintf(nosock, sizeof nosock, "%s/nowhere/tscd.sock", th_root());
    const char *b[] = {bin_ctl, "stats", "--every", "50", "--socket", nosock, NULL};
    assert_int_equal(run(b), 3);
}

static void test_no_agent_is_3(void **state)
{
    char free_addr[32], nosock[600];
    snprintf(free_addr, sizeof free_addr, "127.0.0.1:%d", th_free_port());
    snprintf(nosock, sizeof nosock, "%s/nowhere/tscd.sock", th_root());
    const char *a[] = {bin_ctl, "members", "--agent", free_addr, "--key", key, NULL};
    const char *b[] = {bin_ctl, "members", "--socket", nosock, NULL};
    assert_int_equal(run(a), 3);
    assert_int_equal(run(b), 3);
}

static void test_wrong_key_is_4(void **state)
{
    const char *a[] = {bin_ctl, "members", "--agent", addr, "--key", other_key, NULL};
    const char *b[] = {bin_ctl, "stats", "--agent", addr, "--key", other_key, "--json", NULL};
    assert_int_equal(run(a), 4);
    assert_int_equal(run(b), 4);
}

static void test_bad_arguments_are_2(void **state)
{
    const char *cases[][8] = {
        {bin_ctl, NULL},
        {bin_ctl, "frobnicate", NULL},
        {bin_ctl, "members", "extra", "--socket", agent.sock, NULL},
        {bin_ctl, "results", "--format", "xml", "--socket", agent.sock, NULL},
        {bin_ctl, "watch", "not-a-run", "--socket", agent.sock, NULL},
        {bin_ctl, "members", "--agent", addr, NULL},
        {bin_ctl, "members", "--agent", "not-an-address", "--key", key, NULL},
        {bin_ctl, "members", "--bogus", "--socket", agent.sock, NULL},
        {bin_ctl, "members", "--socket", agent.sock, "--agent", addr, "--key", key},
        {bin_ctl, "members", "--socket", NULL},
        {bin_ctl, "keygen", NULL},
        {bin_ctl, "members", "--timeout-ms", "soon", "--socket", agent.sock, NULL},
        {bin_ctl, "stats", "--every", "0", "--socket", agent.sock, NULL},
        {bin_ctl, "stats", "--every", "soon", "--socket", agent.sock, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[9];
        memcpy(argv, cases[i], sizeof cases[i]);
        argv[8] = NULL;
        assert_int_equal(run(argv), 2);
    }
}

static void test_keygen(void **state)
{
    char path[600], before[128], after[128];
    struct stat st;
    snprintf(path, sizeof path, "%s/new.key", th_root());
    const char *gen[] = {bin_ctl, "keygen", path, NULL};
    const char *force[] = {bin_ctl, "keygen", path, "--force", NULL};
    assert_int_equal(run(gen), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65); /* 64 hex characters and a newline */
    FILE *f = fopen(path, "r");
    assert_non_null(fgets(before, sizeof before, f));
    fclose(f);
    assert_int_equal(run(gen), 1); /* refuses to overwrite */
    assert_int_equal(run(force), 0);
    f = fopen(path, "r");
    assert_non_null(fgets(after, sizeof after, f));
    fclose(f);
    assert_string_not_equal(before, after);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_tscd_bad_flags_are_2(void **state)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/flags", th_root());
    const char *cases[][8] = {
        {bin_d, NULL},
        {bin_d, "--data-dir", dir, NULL},
        {bin_d, "--data-dir", dir, "--key", key, "--frobnicate", NULL},
        {bin_d, "--data-dir", dir, "--key", key, "--label", "novalue", NULL},
        {bin_d, "--data-dir", dir, "--key", key, "--bind", "1.2.3:4", NULL},
        {bin_d, "--data-dir", dir, "--key", key, "--probe-interval-ms", "-5", NULL},
        {bin_d, "--data-dir", dir, "--key", key, "--role", "has space", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[9];
        memcpy(argv, cases[i], sizeof cases[i]);
        argv[8] = NULL;
        assert_int_equal(run(argv), 2);
    }
    /* A key file that does not exist is a start-up failure, not usage. */
    const char *nokey[] = {bin_d, "--data-dir", dir, "--key", "/nonexistent/key", NULL};
    assert_int_equal(run(nokey), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_stats_every),
        cmocka_unit_test(test_no_agent_is_3),
        cmocka_unit_test(test_wrong_key_is_4),
        cmocka_unit_test(test_bad_arguments_are_2),
        cmocka_unit_test(test_keygen),
        cmocka_unit_test(test_tscd_bad_flags_are_2),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
