/* tsc — unit: barrier/plan.h. A START carries the script rendered for its
 * machine: the suite's variables and the machine's tsc.* values, each one
 * shell word in single quotes; a machine with no script for a stage gets an
 * empty one; bad input is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "barrier/plan.h"

/* The SUBMIT of run 7: a suite of one case whose run stage has a script for
 * role "server" only, on participants a (server) and b (client). */
static void make_submit(struct tsc_buf *rec)
{
    struct tsc_suite_script run_script = {"server",
                                          "echo {{ greeting }} {{ tsc.name }} {{ tsc.index }} "
                                          "{{ tsc.count }} {{ tsc.machines }} {{ tsc.stage }}"};
    struct tsc_suite_var var = {"greeting", "it's"};
    struct tsc_suite_script follow = {"client", "app.log\n/var/log/{{ tsc.name }}.log"};
    struct tsc_suite_case c;
    struct tsc_suite s;
    struct tsc_buf suite;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    memset(&c, 0, sizeof c);
    memset(&s, 0, sizeof s);
    c.name = "c1";
    c.stage[TSC_CASE_RUN].n_scripts = 1;
    c.stage[TSC_CASE_RUN].scripts = &run_script;
    s.name = "plan";
    s.follow.n_scripts = 1;
    s.follow.scripts = &follow;
    s.n_vars = 1;
    s.vars = &var;
    s.n_cases = 1;
    s.cases = &c;
    tsc_buf_init(&suite);
    assert_int_equal(tsc_suite_encode(&s, &suite, errmsg), 0);

    struct tsc_run_participant parts[2];
    memset(parts, 0, sizeof parts);
    parts[0].id = 11;
    parts[0].addr.ip = 0x7f000001;
    snprintf(parts[0].name, sizeof parts[0].name, "a");
    snprintf(parts[0].role, sizeof parts[0].role, "server");
    parts[1].id = 12;
    parts[1].addr.ip = 0x7f000002;
    snprintf(parts[1].name, sizeof parts[1].name, "b");
    snprintf(parts[1].role, sizeof parts[1].role, "client");
    struct tsc_runlog_submit sub;
    memset(&sub, 0, sizeof sub);
    sub.nonce = 1;
    snprintf(sub.suite_name, sizeof sub.suite_name, "plan");
    sub.n_cases = 1;
    sub.n_participants = 2;
    sub.participants = parts;
    sub.suite = suite.data;
    sub.suite_len = suite.len;
    uint64_t timeouts[5] = {1, 2, 3, 4, 5};
    assert_int_equal(tsc_runlog_encode_submit(&sub, timeouts, rec), 0);
    tsc_buf_free(&suite);
}

static void test_render(void **state)
{
    struct tsc_buf rec, script;
    struct tsc_run_plan p;
    struct tsc_stage_start m;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    tsc_buf_init(&rec);
    tsc_buf_init(&script);
    make_submit(&rec);
    tsc_run_plan_init(&p);
    assert_int_equal(tsc_run_plan_load(&p, 7, rec.data, rec.len, errmsg), 0);
    /* Loading the same run again keeps what is there. */
    assert_int_equal(tsc_run_plan_load(&p, 7, rec.data, rec.len, errmsg), 0);

    /* Stage 2 = case c1 run; participant 0 is the server. */
    assert_int_equal(tsc_run_plan_start(&p, 2, 0, 9, 30, &script, &m, errmsg), 0);
    assert_string_equal(m.script, "echo 'it'\\''s' 'a' '0' '2' 'a=127.0.0.1 b=127.0.0.2' 'run'");
    assert_int_equal(m.script_len, strlen(m.script));
    assert_int_equal(m.run, 7);
    assert_int_equal(m.stage, 2);
    assert_int_equal(m.term, 9);
    assert_int_equal(m.index, 0);
    assert_int_equal(m.timeout_us, 30);
    assert_int_equal(m.case_name_len, 2);
    assert_memory_equal(m.case_name, "c1", 2);
    assert_memory_equal(m.role, "server", 6);
    assert_int_equal(m.follow_len, 0); /* the follow list is for clients */

    /* The client has no script for it but files to follow, rendered and
     * quoted like a script; the START carries them. Suite stages have no
     * case. */
    assert_int_equal(tsc_run_plan_start(&p, 2, 1, 9, 30, &script, &m, errmsg), 0);
    assert_int_equal(m.script_len, 0);
    const char *want = "app.log\n/var/log/'b'.log";
    assert_int_equal(m.follow_len, strlen(want));
    assert_memory_equal(m.follow, want, strlen(want));
    struct tsc_buf enc;
    struct tsc_stage_start back;
    tsc_buf_init(&enc);
    assert_int_equal(tsc_stage_start_encode(&m, &enc), 0);
    assert_int_equal(tsc_stage_start_decode(enc.data, enc.len, &back), 0);
    assert_int_equal(back.follow_len, strlen(want));
    assert_memory_equal(back.follow, want, strlen(want));
    tsc_buf_free(&enc);
    assert_int_equal(tsc_run_plan_start(&p, 0, 1, 9, 30, &script, &m, errmsg), 0);
    assert_int_equal(m.case_name_len, 0);

    /* Out of range. */
    assert_int_equal(tsc_run_plan_start(&p, 2, 2, 9, 30, &script, &m, errmsg), TSC_EINVAL);
    assert_int_equal(tsc_run_plan_start(&p, 5, 0, 9, 30, &script, &m, errmsg), TSC_EINVAL);
    tsc_run_plan_free(&p);

    /* Bytes that are not a SUBMIT load nothing. */
    tsc_run_plan_init(&p);
    assert_int_not_equal(tsc_run_plan_load(&p, 8, rec.data, rec.len / 2, errmsg), 0);
    assert_int_equal(tsc_run_plan_start(&p, 0, 0, 1, 1, &script, &m, errmsg), TSC_EINVAL);
    tsc_run_plan_free(&p);
    tsc_buf_free(&script);
    tsc_buf_free(&rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_render)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
