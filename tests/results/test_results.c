/* tsc — tscctl's results formatters (ctl/results.h): table, JSON, JUnit and
 * TAP of runs that passed, failed, failed in suite init, are still running
 * or were cancelled, with script output full of bytes that each format must
 * escape. The views are built by hand from the public structs, as
 * tsc_run_view_add would build them.
 *
 * With the run's log index (failures_logs), failed stages show their log
 * ranges, the command that shows them and their out-of-sequence errors.
 *
 * `test_results --emit DIR` writes every fixture in every format to DIR
 * (NAME.txt, .json, .xml, .tap); validate.sh feeds those to xmllint
 * (docs/junit.xsd), prove and python3's JSON parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "ctl/results.h"

#define MAXP    3
#define MAXC    4
#define MAXS    (3 * MAXC + 2)
#define BASE_US 1714564800000000ull /* 2024-05-01T12:00:00Z */

struct fx {
    struct tsc_run_view v;
    struct tsc_run_participant parts[MAXP];
    struct tsc_runlog_stage st[MAXS];
    struct tsc_runlog_stage *stp[MAXS];
    struct tsc_stage_result res[MAXS][MAXP];
    char out[MAXS][MAXP][32];
    struct tsc_suite suite;
    struct tsc_suite_case cases[MAXC];
    char names[MAXC][64];
    int with_logs; /* write with the log section below */
    struct tsc_results_logs logs;
    struct tsc_control_log_range ranges[8];
    struct tsc_results_log_error errs[4];
};

/* Everything a script can print that a format could choke on. */
static const char nasty[] = "line1 \"quoted\" 'single' & <tag>\n"
                            "\0nul\x01soh\x1b[31mred\x1b[0m\n"
                            "bad: \xff \xc0\xaf \xe2\x82 \xed\xa0\x80 \xef\xbf\xbe end\n"
                            "]]> </system-out> <![CDATA[x]]>\n"
                            "not ok 1 - fake\n"
                            "ok 99 - fake\n"
                            "Bail out! fake\n"
                            "1..3\n"
                            "  ---\n"
                            "  ...\n"
                            "---\n"
                            "crlf\r\n"
                            "utf8 \xc3\xa9 \xe4\xb8\xad \xf0\x9f\x8e\x89 \xe2\x80\xa8 ls\n"
                            "last line no newline";
static const char nasty_msg[] = "exit 1: \"bad\" <&> \x01\nnext\xff";
static const char nasty_diag[] = "m2 failed: <\"&'>\x02 \\ end";
static char thirty_lines[30 * 9];

static void fx_init(struct fx *x, size_t n_parts, uint32_t n_cases)
{
    static const char *const case_names[MAXC] = {"case_a", "case_b", "case_c", "case_d"};
    memset(x, 0, sizeof *x);
    x->v.run = 42;
    x->v.submit.submitted_us = BASE_US;
    snprintf(x->v.submit.suite_name, sizeof x->v.submit.suite_name, "demo");
    x->v.submit.n_cases = n_cases;
    x->v.submit.n_participants = n_parts;
    x->v.submit.participants = x->parts;
    for (size_t j = 0; j < n_parts; j++) {
        x->parts[j].id = 0xabc0000000000000ull + j;
        x->parts[j].addr.ip = 0x7f000001;
        x->parts[j].addr.port = (uint16_t)(7000 + j);
        snprintf(x->parts[j].name, sizeof x->parts[j].name, "m%zu", j + 1);
        snprintf(x->parts[j].role, sizeof x->parts[j].role, "%s", j ? "app" : "db");
    }
    x->v.n_stages = 3 * n_cases + 2;
    x->v.stages = x->stp;
    x->v.state = TSC_RUN_RUNNING;
    x->suite.name = "demo";
    x->suite.n_cases = n_cases;
    x->suite.cases = x->cases;
    for (uint32_t i = 0; i < n_cases; i++) {
        snprintf(x->names[i], sizeof x->names[i], "%s", case_names[i]);
        x->cases[i].name = x->names[i];
    }
}

/* Stage k decided; every machine passed in 250 ms (+1 ms per index). */
static void fx_decide(struct fx *x, uint32_t k, int outcome, const char *diag)
{
    struct tsc_runlog_stage *st = &x->st[k];
    st->run = x->v.run;
    st->stage = k;
    st->outcome = (uint8_t)outcome;
    st->decided_us = BASE_US + (k + 1) * 10000000ull;
    snprintf(st->diagnosis, sizeof st->diagnosis, "%s", diag);
    st->n_results = x->v.submit.n_participants;
    st->results = x->res[k];
    for (size_t j = 0; j < st->n_results; j++) {
        struct tsc_stage_result *r = &x->res[k][j];
        r->status = TSC_RESULT_PASSED;
        r->start_us = BASE_US + k * 10000000ull + j * 1000;
        r->end_us = r->start_us + 250000 + j * 1000;
        snprintf(x->out[k][j], sizeof x->out[k][j], "out-%u-%zu\n", k, j);
        r->output = (const uint8_t *)x->out[k][j];
        r->output_len = strlen(x->out[k][j]);
        r->message = "";
    }
    x->stp[k] = st;
    if (x->v.next <= k)
        x->v.next = k + 1;
}

static void fx_result(struct fx *x, uint32_t k, size_t j, int status, int exit_code, int sig,
                      const char *msg, size_t msg_len, const char *out, size_t out_len)
{
    struct tsc_stage_result *r = &x->res[k][j];
    r->status = (uint8_t)status;
    r->exit_code = exit_code;
    r->signal = sig;
    r->message = msg;
    r->message_len = msg_len;
    r->output = (const uint8_t *)out;
    r->output_len = out_len;
}

static void fx_pass(struct fx *x, uint32_t from, uint32_t to)
{
    for (uint32_t k = from; k <= to; k++)
        fx_decide(x, k, TSC_STAGE_PASSED, "");
}

static void fx_finish(struct fx *x, int state)
{
    x->v.state = state;
    x->v.next = x->v.n_stages;
}

/* ---- the fixtures ---------------------------------------------------------- */

static void fx_all_pass(struct fx *x)
{
    fx_init(x, 2, 2);
    fx_pass(x, 0, 7);
    fx_finish(x, TSC_RUN_PASSED);
}

/* case_a passes; case_b's run fails (m2 exit 1 with nasty output, m3 killed
 * by signal 9 after 30 lines); case_c's init fails, its run is skipped;
 * case_d passes; suite finalize times out on m3. */
static void fx_failures(struct fx *x)
{
    fx_init(x, 3, 4);
    snprintf(x->names[3], sizeof x->names[3], "case_d#TODO");
    snprintf(x->parts[2].name, sizeof x->parts[2].name, "m3&<'\"");
    fx_pass(x, 0, 4);
    fx_decide(x, 5, TSC_STAGE_FAILED, nasty_diag);
    fx_result(x, 5, 1, TSC_RESULT_FAILED, 1, 0, nasty_msg, sizeof nasty_msg - 1, nasty,
              sizeof nasty - 1);
    fx_result(x, 5, 2, TSC_RESULT_FAILED, 0, 9, "", 0, thirty_lines, strlen(thirty_lines));
    fx_pass(x, 6, 6);
    fx_decide(x, 7, TSC_STAGE_FAILED, "case_c init: m1 could not run the script");
    fx_result(x, 7, 0, TSC_RESULT_ERROR, 0, 0, "spawn failed", 12, "", 0);
    fx_pass(x, 9, 12);
    fx_decide(x, 13, TSC_STAGE_FAILED, "suite finalize: m3 timed out after 300 s");
    fx_result(x, 13, 2, TSC_RESULT_TIMEOUT, 0, 0, "killed", 6, "slow\n", 5);
    fx_finish(x, TSC_RUN_FAILED);
}

static void fx_init_failed(struct fx *x)
{
    fx_init(x, 2, 3);
    fx_decide(x, 0, TSC_STAGE_FAILED, "suite init: m1 exited 2");
    fx_result(x, 0, 0, TSC_RESULT_FAILED, 2, 0, "", 0, "no database\n", 12);
    fx_pass(x, 10, 10);
    fx_finish(x, TSC_RUN_FAILED);
}

/* case_a passed, case_b's init passed and its run is under way. */
static void fx_running(struct fx *x)
{
    fx_init(x, 2, 3);
    fx_pass(x, 0, 4);
}

static void fx_cancelled(struct fx *x)
{
    fx_init(x, 2, 3);
    fx_pass(x, 0, 4);
    fx_decide(x, 5, TSC_STAGE_FAILED, "cancelled by the user");
    fx_result(x, 5, 0, TSC_RESULT_CANCELLED, 0, 15, "", 0, "", 0);
    fx_result(x, 5, 1, TSC_RESULT_CANCELLED, 0, 15, "", 0, "", 0);
    fx_pass(x, 6, 6);
    fx_pass(x, 10, 10);
    x->v.cancelled = 1;
    x->v.cancel.run = 42;
    x->v.cancel.at_us = BASE_US + 55000000ull;
    snprintf(x->v.cancel.reason, sizeof x->v.cancel.reason, "stop <now>");
    fx_finish(x, TSC_RUN_CANCELLED);
}

/* The failures run with its log index: ranges of case_b run (stage 5) for
 * m2, m3 and the coordinator (no participant: shown by its id), of suite
 * finalize (13) for m3, of passing stages; errors: a gap in m2's records
 * inside stage 5, a skew whose second record is in stage 5, a duplicate
 * whose stage is not known (summary only). */
#define COORD_ID 0xc0c0000000000001ull
static void fx_failures_logs(struct fx *x)
{
    static const struct tsc_control_log_range ranges[] = {
        {0, TSC_LOGREC_NO_CASE, 0xabc0000000000000ull, 1, 4, 4},
        {5, 1, 0xabc0000000000001ull, 40, 90, 30},
        {5, 1, 0xabc0000000000002ull, 41, 95, 20},
        {5, 1, COORD_ID, 39, 39, 1},
        {6, 1, 0xabc0000000000001ull, 96, 99, 4},
        {13, TSC_LOGREC_NO_CASE, 0xabc0000000000002ull, 200, 210, 11},
    };
    fx_failures(x);
    memcpy(x->ranges, ranges, sizeof ranges);
    memset(x->errs, 0, sizeof x->errs);
    x->errs[0].e = (struct tsc_logmerge_error){
        TSC_LOGMERGE_GAP, 0xabc0000000000001ull, 12, 0xabc0000000000001ull, 15, 42, 0};
    x->errs[0].a_stage = 5;
    x->errs[0].b_stage = 5;
    x->errs[1].e = (struct tsc_logmerge_error){
        TSC_LOGMERGE_SKEW, 0xabc0000000000000ull, 3, 0xabc0000000000002ull, 7, 42, 2500};
    x->errs[1].a_stage = TSC_RESULTS_NO_STAGE;
    x->errs[1].b_stage = 5;
    x->errs[2].e = (struct tsc_logmerge_error){TSC_LOGMERGE_DUPLICATE, COORD_ID, 9, 0, 0, 42, 0};
    x->errs[2].a_stage = x->errs[2].b_stage = TSC_RESULTS_NO_STAGE;
    x->logs =
        (struct tsc_results_logs){x->ranges, sizeof ranges / sizeof ranges[0], x->errs, 3, 210, 1};
    x->with_logs = 1;
}

static const struct {
    const char *name;
    void (*build)(struct fx *);
} fixtures[] = {
    {"all_pass", fx_all_pass}, {"failures", fx_failures},   {"init_failed", fx_init_failed},
    {"running", fx_running},   {"cancelled", fx_cancelled}, {"failures_logs", fx_failures_logs},
};

/* ---- helpers ---------------------------------------------------------------- */

/* The output of one format as a NUL-terminated string (*len without it). */
static char *render(const struct fx *x, int format, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    assert_int_equal(
        tsc_results_write_logs(f, format, &x->v, &x->suite, x->with_logs ? &x->logs : NULL), 0);
    assert_int_equal(fclose(f), 0);
    if (len != NULL)
        *len = n;
    return buf;
}

static void assert_has(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("missing \"%s\" in:\n%s", needle, hay);
}

static void assert_lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle) != NULL)
        fail_msg("unexpected \"%s\" in:\n%s", needle, hay);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Strict UTF-8 (no overlong forms, surrogates or values past U+10FFFF) and
 * no control characters other than those allowed. */
static void assert_clean_utf8(const char *s, size_t n, const char *allowed_controls)
{
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        size_t len = c < 0x80                 ? 1
                     : c >= 0xc2 && c <= 0xdf ? 2
                     : (c & 0xf0) == 0xe0     ? 3
                     : c >= 0xf0 && c <= 0xf4 ? 4
                                              : 0;
        if (len == 0 || i + len > n)
            fail_msg("bad UTF-8 lead byte 0x%02x at %zu", c, i);
        uint32_t cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                fail_msg("bad UTF-8 continuation at %zu", i + k);
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            fail_msg("overlong or invalid code point U+%x at %zu", cp, i);
        if ((cp < 0x20 && strchr(allowed_controls, (int)cp) == NULL) || cp == 0x7f)
            fail_msg("raw control character 0x%02x at %zu", cp, i);
        i += len;
    }
}

/* The line of s that starts with prefix (a copy, without '\n'), or fail. */
static void line_starting(const char *s, const char *prefix, char *out, size_t cap)
{
    for (const char *p = s; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, prefix, strlen(prefix)) == 0) {
            size_t n = strcspn(p, "\n");
            assert_true(n < cap);
            memcpy(out, p, n);
            out[n] = '\0';
            return;
        }
    }
    fail_msg("no line starting \"%s\" in:\n%s", prefix, s);
}

/* ---- the tests -------------------------------------------------------------- */

static void test_parse_format(void **state)
{
    assert_int_equal(tsc_results_parse_format("table"), TSC_RESULTS_TABLE);
    assert_int_equal(tsc_results_parse_format("json"), TSC_RESULTS_JSON);
    assert_int_equal(tsc_results_parse_format("junit"), TSC_RESULTS_JUNIT);
    assert_int_equal(tsc_results_parse_format("tap"), TSC_RESULTS_TAP);
    assert_int_equal(tsc_results_parse_format("TAP"), 0);
    assert_int_equal(tsc_results_parse_format("xml"), 0);
    assert_int_equal(tsc_results_parse_format(""), 0);
    assert_int_equal(tsc_results_parse_format(NULL), 0);
}

static void test_table_all_pass(void **state)
{
    struct fx x;
    char line[256], *at;
    fx_all_pass(&x);
    char *t = render(&x, TSC_RESULTS_TABLE, NULL);
    assert_has(t, "run 42  suite demo  passed  submitted 2024-05-01T12:00:00Z  2 machines\n");
    assert_has(t, "cases: 2 passed, 0 failed, 0 skipped, 0 pending\n");
    /* 8 stages x 2 machines, aligned: every status column starts where the
     * header's STATUS does. */
    line_starting(t, "CASE ", line, sizeof line);
    size_t col = (size_t)(strstr(line, "STATUS") - line);
    assert_int_equal(count(t, " passed    "), 16);
    for (at = strstr(t, "\ncase_a "); at != NULL; at = strstr(at + 1, "\ncase_")) {
        assert_memory_equal(at + 1 + col, "passed", 6);
        assert_true(at[col] == ' ');
    }
    line_starting(t, "(suite)", line, sizeof line);
    assert_memory_equal(line + col, "passed", 6);
    assert_has(t, "case_b   run       m2       passed       0.251s\n");
    assert_lacks(t, "FAILED");
    free(t);
}

static void test_table_failures(void **state)
{
    struct fx x;
    size_t n;
    fx_failures(&x);
    char *t = render(&x, TSC_RESULTS_TABLE, &n);
    assert_clean_utf8(t, n, "\n\t");
    assert_has(t, "cases: 2 passed, 2 failed, 0 skipped, 0 pending\n");
    assert_has(t, "case_c       run       -        skipped           -\n");
    /* The diagnosis, then each failing machine and the tail of its output. */
    assert_has(
        t, "\nFAILED case_b run: m2 failed: <\"&'>\xef\xbf\xbd \\ end\n"
           "  m2: failed, exit 1: exit 1: \"bad\" <&> \xef\xbf\xbd\xef\xbf\xbdnext\xef\xbf\xbd\n"
           "    line1 \"quoted\" 'single' & <tag>\n"
           "    \xef\xbf\xbdnul\xef\xbf\xbdsoh\xef\xbf\xbd[31mred\xef\xbf\xbd[0m\n");
    assert_has(t, "    not ok 1 - fake\n");
    assert_has(t, "    crlf\n    utf8 \xc3\xa9 \xe4\xb8\xad \xf0\x9f\x8e\x89 \xe2\x80\xa8 ls\n"
                  "    last line no newline\n");
    assert_has(t, "  m3&<'\": failed, signal 9\n    [... 80 bytes before]\n    line-11\n");
    assert_has(t, "    line-30\n");
    assert_lacks(t, "line-10");
    assert_lacks(t, "  m1: passed"); /* only failing machines get details */
    assert_has(t, "\nFAILED case_c init: case_c init: m1 could not run the script\n"
                  "  m1: error: spawn failed\n    (no output)\n");
    assert_has(t, "\nFAILED suite finalize: suite finalize: m3 timed out after 300 s\n"
                  "  m3&<'\": timeout: killed\n    slow\n");
    free(t);
}

static void test_table_tail_is_bounded(void **state)
{
    static char big[20000];
    struct fx x;
    size_t n;
    memset(big, 'x', sizeof big);
    memcpy(big + sizeof big - 4, "\xe4\xb8\xad!", 4); /* ends in a 3-byte character */
    fx_failures(&x);
    fx_result(&x, 5, 1, TSC_RESULT_FAILED, 1, 0, "", 0, big, sizeof big);
    char *t = render(&x, TSC_RESULTS_TABLE, &n);
    assert_clean_utf8(t, n, "\n\t");
    assert_has(t, "    [... 15904 bytes before]\n    xxxx");
    assert_true(n < sizeof big / 2); /* not the whole output */
    free(t);
    /* Cut inside a character: the cut moves forward to the next one. */
    memcpy(big + sizeof big - 4097, "\xe4\xb8\xad", 3);
    fx_result(&x, 5, 1, TSC_RESULT_FAILED, 1, 0, "", 0, big, sizeof big);
    t = render(&x, TSC_RESULTS_TABLE, &n);
    assert_clean_utf8(t, n, "\n\t");
    assert_has(t, "    [... 15906 bytes before]\n    xxxx");
    free(t);
}

static void test_table_running_and_cancelled(void **state)
{
    struct fx x;
    fx_running(&x);
    char *t = render(&x, TSC_RESULTS_TABLE, NULL);
    assert_has(t, "  running  ");
    assert_has(t, "cases: 1 passed, 0 failed, 0 skipped, 2 pending\n");
    assert_has(t, "case_b   run       -        pending");
    assert_has(t, "(suite)  finalize  -        pending");
    free(t);
    fx_cancelled(&x);
    t = render(&x, TSC_RESULTS_TABLE, NULL);
    assert_has(t, "cases: 1 passed, 1 failed, 1 skipped, 0 pending\ncancelled: stop <now>\n");
    assert_has(t, "case_c   init      -        skipped");
    assert_has(t, "  m1: cancelled, signal 15\n");
    free(t);
}

static void test_json(void **state)
{
    struct fx x;
    size_t n;
    fx_failures(&x);
    char *j = render(&x, TSC_RESULTS_JSON, &n);
    assert_clean_utf8(j, n, "\n");
    assert_int_equal(count(j, "\n"), 1);
    assert_has(j, "{\"run\":42,\"suite\":\"demo\",\"state\":\"failed\","
                  "\"submitted_us\":1714564800000000,\"cancel\":null,\"participants\":[");
    assert_has(j, "{\"id\":\"abc0000000000002\",\"name\":\"m3&<'\\\"\",\"role\":\"app\","
                  "\"address\":\"127.0.0.1:7002\"}");
    assert_has(
        j, "\"output\":\"line1 \\\"quoted\\\" 'single' & <tag>\\n"
           "\\u0000nul\\u0001soh\\u001b[31mred\\u001b[0m\\n"
           "bad: \\ufffd \\ufffd\\ufffd \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd \xef\xbf\xbe end\\n"
           "]]> </system-out> <![CDATA[x]]>\\nnot ok 1 - fake\\n");
    assert_has(j, "crlf\\r\\nutf8 \xc3\xa9 \xe4\xb8\xad \xf0\x9f\x8e\x89 \\u2028 ls\\n"
                  "last line no newline\"");
    assert_has(j, "\"message\":\"exit 1: \\\"bad\\\" <&> \\u0001\\nnext\\ufffd\"");
    assert_has(j, "\"diagnosis\":\"m2 failed: <\\\"&'>\\u0002 \\\\ end\"");
    assert_has(j, "{\"node\":\"abc0000000000001\",\"name\":\"m2\",\"status\":\"failed\","
                  "\"exit_code\":1,\"signal\":0,\"start_us\":1714564850001000,"
                  "\"end_us\":1714564850252000,");
    assert_has(j, "{\"index\":8,\"kind\":\"run\",\"case\":\"case_c\",\"outcome\":\"skipped\","
                  "\"decided_us\":null,\"diagnosis\":\"\",\"results\":[]}");
    assert_has(j, "{\"index\":0,\"kind\":\"init\",\"case\":null,\"outcome\":\"passed\"");
    assert_has(j, "\"cases\":[{\"name\":\"case_a\",\"state\":\"passed\",\"stages\":[1,2,3]},"
                  "{\"name\":\"case_b\",\"state\":\"failed\",\"stages\":[4,5,6]},"
                  "{\"name\":\"case_c\",\"state\":\"failed\",\"stages\":[7,8,9]},"
                  "{\"name\":\"case_d#TODO\",\"state\":\"passed\",\"stages\":[10,11,12]}]}\n");
    assert_int_equal(count(j, "\"index\":"), 14);
    free(j);

    fx_running(&x);
    j = render(&x, TSC_RESULTS_JSON, NULL);
    assert_has(j, "\"state\":\"running\"");
    assert_has(j, "{\"index\":5,\"kind\":\"run\",\"case\":\"case_b\",\"outcome\":\"pending\"");
    assert_has(j, "{\"name\":\"case_b\",\"state\":\"pending\"");
    free(j);
    fx_cancelled(&x);
    j = render(&x, TSC_RESULTS_JSON, NULL);
    assert_has(j, "\"cancel\":{\"at_us\":1714564855000000,\"reason\":\"stop <now>\"}");
    assert_has(j, "{\"name\":\"case_c\",\"state\":\"skipped\"");
    free(j);
}

static void test_junit_failures(void **state)
{
    struct fx x;
    size_t n;
    fx_failures(&x);
    char *s = render(&x, TSC_RESULTS_JUNIT, &n);
    assert_clean_utf8(s, n, "\n\t");
    assert_has(s,
               "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"demo\" tests=\"5\" "
               "failures=\"3\" errors=\"0\" skipped=\"0\" time=\"");
    assert_has(s, "<testsuite name=\"demo\" tests=\"5\" failures=\"3\" errors=\"0\" skipped=\"0\" "
                  "time=\"3.302\" timestamp=\"2024-05-01T12:00:00\">");
    assert_has(s, "<property name=\"tsc.run\" value=\"42\"/>");
    assert_int_equal(count(s, "<testcase "), 5);
    assert_lacks(s, "name=\"suite init\"");
    assert_has(s, "<testcase classname=\"demo\" name=\"case_a\" time=\"0.762\">\n"
                  "      <system-out>== m1 init (passed) ==\nout-1-0\n== m2 init (passed) ==\n");
    assert_has(s, "<testcase classname=\"demo\" name=\"case_d#TODO\"");
    assert_has(s, "<testcase classname=\"demo\" name=\"suite finalize\" time=\"0.254\">\n"
                  "      <failure message=\"suite finalize: m3 timed out after 300 s\" "
                  "type=\"finalize\">suite finalize: suite finalize: m3 timed out after 300 s\n");
    /* The short message is the diagnosis; the text every result of the stage. */
    assert_has(s,
               "<failure message=\"m2 failed: &lt;&quot;&amp;&apos;&gt;\xef\xbf\xbd \\ end\" "
               "type=\"run\">case_b run: m2 failed: &lt;&quot;&amp;&apos;&gt;\xef\xbf\xbd \\ end\n"
               "  m1: passed\n"
               "  m2: failed, exit 1: exit 1: &quot;bad&quot; &lt;&amp;&gt; \xef\xbf\xbd\n"
               "next\xef\xbf\xbd\n"
               "  m3&amp;&lt;&apos;&quot;: failed, signal 9\n</failure>\n");
    /* Output: every byte escaped or replaced, nothing closes the element. */
    assert_has(s, "== m2 run (failed) ==\nline1 &quot;quoted&quot; &apos;single&apos; &amp; "
                  "&lt;tag&gt;\n\xef\xbf\xbdnul\xef\xbf\xbdsoh\xef\xbf\xbd[31mred");
    assert_has(s, "bad: \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
                  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd end\n"
                  "]]&gt; &lt;/system-out&gt; &lt;![CDATA[x]]&gt;\n");
    assert_has(s, "crlf&#13;\n");
    assert_has(s, "last line no newline\n== m3&amp;&lt;&apos;&quot; run (failed) ==\n");
    assert_lacks(s, "]]>");
    assert_int_equal(count(s, "</system-out>"), 5);
    /* case_c: its init failed; the skipped run has no block, finalize has. */
    assert_has(s, "type=\"init\">case_c init: case_c init: m1 could not run the script\n"
                  "  m1: error: spawn failed\n");
    assert_has(s, "== m1 init (error) ==\n== m2 init (passed) ==\nout-7-1\n");
    assert_has(s, "out-7-2\n== m1 finalize (passed) ==\nout-9-0\n");
    free(s);
}

static void test_junit_skipped_and_pending(void **state)
{
    struct fx x;
    fx_init_failed(&x);
    char *s = render(&x, TSC_RESULTS_JUNIT, NULL);
    assert_has(s, "tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"3\"");
    assert_has(s, "<testcase classname=\"demo\" name=\"suite init\" time=\"0.252\">\n"
                  "      <failure message=\"suite init: m1 exited 2\" type=\"init\">");
    assert_has(s, "<testcase classname=\"demo\" name=\"case_a\" time=\"0.000\">\n"
                  "      <skipped message=\"suite init failed\"/>\n    </testcase>\n");
    assert_int_equal(count(s, "<skipped message=\"suite init failed\"/>"), 3);
    assert_lacks(s, "name=\"suite finalize\"");
    free(s);

    fx_running(&x);
    s = render(&x, TSC_RESULTS_JUNIT, NULL);
    assert_has(s, "tests=\"3\" failures=\"0\" errors=\"2\" skipped=\"0\"");
    assert_has(s, "<testcase classname=\"demo\" name=\"case_b\" time=\"0.252\">\n"
                  "      <error message=\"pending: the run has not finished\" type=\"pending\"/>\n"
                  "      <system-out>== m1 init (passed) ==\n");
    free(s);

    fx_cancelled(&x);
    s = render(&x, TSC_RESULTS_JUNIT, NULL);
    assert_has(s, "tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\"");
    assert_has(s, "<skipped message=\"run cancelled\"/>");
    free(s);
}

/* Every line is TAP: version, plan, a test line, a "# " comment, or a YAML
 * line indented by two inside a ---/... block that follows a test line. */
static void assert_tap_grammar(const char *t, unsigned plan)
{
    unsigned tests = 0;
    int in_yaml = 0, after_test = 0;
    assert_true(strncmp(t, "TAP version 13\n", 15) == 0);
    for (const char *p = t + 15; *p; p = strchr(p, '\n') + 1) {
        assert_non_null(strchr(p, '\n'));
        if (in_yaml) {
            assert_true(strncmp(p, "  ", 2) == 0);
            in_yaml = strncmp(p, "  ...\n", 6) != 0;
            continue;
        }
        if (strncmp(p, "  ---\n", 6) == 0) {
            assert_true(after_test);
            in_yaml = 1;
        } else if (strncmp(p, "ok ", 3) == 0 || strncmp(p, "not ok ", 7) == 0) {
            unsigned num = (unsigned)strtoul(p + (*p == 'o' ? 3 : 7), NULL, 10);
            assert_int_equal(num, ++tests);
        } else if (strncmp(p, "1..", 3) == 0) {
            assert_int_equal(strtoul(p + 3, NULL, 10), plan);
            assert_int_equal(tests, 0);
        } else if (strncmp(p, "# ", 2) != 0) {
            fail_msg("not a TAP line: %.40s", p);
        }
        after_test = *p == 'o' || *p == 'n';
    }
    assert_false(in_yaml);
    assert_int_equal(tests, plan);
}

static void test_tap(void **state)
{
    struct fx x;
    size_t n;
    fx_all_pass(&x);
    char *t = render(&x, TSC_RESULTS_TAP, NULL);
    assert_string_equal(t, "TAP version 13\n1..2\nok 1 - case_a\nok 2 - case_b\n");
    free(t);

    fx_failures(&x);
    t = render(&x, TSC_RESULTS_TAP, &n);
    assert_clean_utf8(t, n, "\n\t");
    assert_tap_grammar(t, 5);
    assert_has(t, "TAP version 13\n1..5\nok 1 - case_a\nnot ok 2 - case_b\n  ---\n"
                  "  message: \"m2 failed: <\\x22&'>\\x02 \\x5c end\"\n"
                  "  severity: fail\n  failures:\n"
                  "    - machine: \"m2\"\n      stage: run\n      status: failed\n"
                  "      exit_code: 1\n      signal: 0\n"
                  "      message: \"exit 1: \\x22bad\\x22 <&> \\x01\\x0anext\xef\xbf\xbd\"\n"
                  "    - machine: \"m3&<'\\x22\"\n      stage: run\n      status: failed\n"
                  "      exit_code: 0\n      signal: 9\n      message: \"\"\n  ...\n"
                  "# m2 case_b run (failed), last lines of output:\n"
                  "#   line1 \"quoted\" 'single' & <tag>\n");
    assert_has(t, "#   not ok 1 - fake\n#   ok 99 - fake\n#   Bail out! fake\n#   1..3\n"
                  "#     ---\n#     ...\n#   ---\n#   crlf\n");
    assert_has(t, "# m3&<'\" case_b run (failed), last lines of output:\n#   [... 80 bytes");
    assert_has(t, "\nnot ok 3 - case_c\n  ---\n  message: \"case_c init: m1 could not run");
    assert_has(t, "\nok 4 - case_d_TODO\nnot ok 5 - suite finalize\n");
    free(t);

    fx_init_failed(&x);
    t = render(&x, TSC_RESULTS_TAP, NULL);
    assert_tap_grammar(t, 4);
    assert_has(t, "1..4\nnot ok 1 - suite init\n  ---\n  message: \"suite init: m1 exited 2\"\n");
    assert_has(t, "# m1 suite init (failed), last lines of output:\n#   no database\n"
                  "ok 2 - case_a # SKIP suite init failed\n"
                  "ok 3 - case_b # SKIP suite init failed\n"
                  "ok 4 - case_c # SKIP suite init failed\n");
    free(t);

    fx_running(&x);
    t = render(&x, TSC_RESULTS_TAP, NULL);
    assert_tap_grammar(t, 3);
    assert_has(t, "ok 1 - case_a\nnot ok 2 - case_b\n  ---\n"
                  "  message: \"pending: the run has not finished\"\n  severity: pending\n  ...\n"
                  "not ok 3 - case_c\n");
    free(t);

    fx_cancelled(&x);
    t = render(&x, TSC_RESULTS_TAP, NULL);
    assert_tap_grammar(t, 3);
    assert_has(t, "not ok 2 - case_b\n");
    assert_has(t, "ok 3 - case_c # SKIP run cancelled\n");
    free(t);

    fx_init(&x, 1, 0); /* no cases, nothing failed: a plan that skips all */
    fx_pass(&x, 0, 1);
    fx_finish(&x, TSC_RUN_PASSED);
    t = render(&x, TSC_RESULTS_TAP, NULL);
    assert_string_equal(t, "TAP version 13\n1..0 # SKIP no test cases\n");
    free(t);
}

/* Views that do not add up (no suite, more results than participants,
 * fewer stage slots than cases, unknown codes) still give output. */
static void test_odd_views(void **state)
{
    struct fx x;
    fx_failures(&x);
    x.v.stages[2]->n_results = MAXP; /* still 3 but results NULL below */
    x.v.stages[2]->results = NULL;
    x.v.stages[3]->outcome = 77;
    x.res[5][0].status = 200;
    x.v.submit.n_participants = 2; /* stage results have 3 */
    x.v.n_stages = 6;              /* the records of 6.. are not there */
    x.v.state = 99;
    for (int f = TSC_RESULTS_TABLE; f <= TSC_RESULTS_TAP; f++) {
        char *buf = NULL;
        size_t n = 0;
        FILE *out = open_memstream(&buf, &n);
        assert_int_equal(tsc_results_write(out, f, &x.v, NULL), 0);
        fclose(out);
        assert_clean_utf8(buf, n, "\n\t");
        assert_has(buf, "case-1");
        assert_has(buf, f == TSC_RESULTS_JSON ? "\"node\":null,\"name\":\"#2\"" : "#2");
        free(buf);
    }
}

static void test_errors(void **state)
{
    struct fx x;
    fx_all_pass(&x);
    FILE *ro = fopen("/dev/null", "r");
    assert_non_null(ro);
    for (int f = TSC_RESULTS_TABLE; f <= TSC_RESULTS_TAP; f++)
        assert_int_equal(tsc_results_write(ro, f, &x.v, &x.suite), TSC_EIO);
    fclose(ro);
    FILE *out = tmpfile();
    assert_non_null(out);
    assert_int_equal(tsc_results_write(out, 0, &x.v, &x.suite), TSC_EINVAL);
    assert_int_equal(tsc_results_write(out, 5, &x.v, &x.suite), TSC_EINVAL);
    assert_int_equal(tsc_results_write(out, TSC_RESULTS_JSON, NULL, &x.suite), TSC_EINVAL);
    assert_int_equal(ftell(out), 0);
    fclose(out);
}

/* ---- the log section ----------------------------------------------------------- */

static void test_logs_table(void **state)
{
    static struct fx x;
    size_t n;
    fx_failures_logs(&x);
    char *t = render(&x, TSC_RESULTS_TABLE, &n);
    assert_clean_utf8(t, n, "\n\t");
    /* Under case_b run's FAILED block: each node's range and its command,
     * then the errors that name a record of the stage. */
    assert_has(t, "    line-30\n"
                  "  logs of m2: records 40-90 (30): tscctl logs 42 --case case_b --node m2\n"
                  "  logs of m3&<'\": records 41-95 (20): "
                  "tscctl logs 42 --case case_b --node 'm3&<'\\''\"'\n"
                  "  logs of c0c0000000000001: records 39-39 (1): "
                  "tscctl logs 42 --case case_b --node c0c0000000000001\n"
                  "  out of sequence: gap: m2 seq 12, m2 seq 15\n"
                  "  out of sequence: skew: m1 seq 3, m3&<'\" seq 7, skew 2500 us\n");
    assert_has(t, "  m3&<'\": timeout: killed\n    slow\n"
                  "  logs of m3&<'\": records 200-210 (11): "
                  "tscctl logs 42 --stage suite-finalize --node 'm3&<'\\''\"'\n");
    /* The passing stages' ranges are not shown; case_c init failed without logs. */
    assert_lacks(t, "records 96-99");
    assert_lacks(t, "records 1-4");
    assert_has(t, "  m1: error: spawn failed\n    (no output)\n\nFAILED suite finalize");
    /* The summary names every error, the unattributed duplicate too. */
    assert_has(t, "\nlogs: 210 records merged, 3 out-of-sequence errors\n"
                  "  gap: m2 seq 12, m2 seq 15\n"
                  "  skew: m1 seq 3, m3&<'\" seq 7, skew 2500 us\n"
                  "  duplicate: c0c0000000000001 seq 9\n");
    assert_int_equal(count(t, "duplicate"), 1);
    free(t);

    /* Unfinished merge, no errors; without an index nothing at all. */
    x.logs.finished = 0;
    x.logs.n_errors = 0;
    t = render(&x, TSC_RESULTS_TABLE, NULL);
    assert_has(t, "\nlogs: 210 records merged so far, 0 out-of-sequence errors\n");
    assert_lacks(t, "out of sequence:");
    free(t);
    x.with_logs = 0;
    t = render(&x, TSC_RESULTS_TABLE, NULL);
    assert_lacks(t, "logs");
    free(t);
}

/* Two participants with one name: both are shown (and selected) by id. */
static void test_logs_ambiguous_names(void **state)
{
    static struct fx x;
    fx_failures_logs(&x);
    snprintf(x.parts[2].name, sizeof x.parts[2].name, "m2");
    char *t = render(&x, TSC_RESULTS_TABLE, NULL);
    assert_has(t, "  logs of abc0000000000001: records 40-90 (30): "
                  "tscctl logs 42 --case case_b --node abc0000000000001\n");
    assert_has(t, "  out of sequence: gap: abc0000000000001 seq 12, abc0000000000001 seq 15\n");
    free(t);
}

static void test_logs_json(void **state)
{
    static struct fx x;
    size_t n;
    fx_failures_logs(&x);
    char *j = render(&x, TSC_RESULTS_JSON, &n);
    assert_clean_utf8(j, n, "\n");
    assert_int_equal(count(j, "\n"), 1);
    assert_has(j, "\"results\":[],\"logs\":{\"ranges\":[],\"errors\":[]}}");
    assert_has(j, ",\"logs\":{\"ranges\":[{\"node\":\"abc0000000000001\",\"name\":\"m2\","
                  "\"first\":40,\"last\":90,\"count\":30,"
                  "\"command\":\"tscctl logs 42 --case case_b --node m2\"},"
                  "{\"node\":\"abc0000000000002\",\"name\":\"m3&<'\\\"\",\"first\":41,");
    assert_has(j, "\"errors\":[{\"kind\":\"gap\",\"a\":{\"node\":\"abc0000000000001\","
                  "\"name\":\"m2\",\"seq\":12,\"stage\":5},\"b\":{\"node\":\"abc0000000000001\","
                  "\"name\":\"m2\",\"seq\":15,\"stage\":5},\"skew_us\":0,"
                  "\"text\":\"gap: m2 seq 12, m2 seq 15\"},");
    assert_has(j, "\"logs\":{\"merged\":210,\"finished\":true,\"errors\":[");
    assert_has(j, "{\"kind\":\"duplicate\",\"a\":{\"node\":\"c0c0000000000001\","
                  "\"name\":\"c0c0000000000001\",\"seq\":9,\"stage\":null},\"b\":null,"
                  "\"skew_us\":0,\"text\":\"duplicate: c0c0000000000001 seq 9\"}]}}\n");
    /* One logs object per stage and one at the top. */
    assert_int_equal(count(j, "\"logs\":{"), 15);
    free(j);
}

static void test_logs_junit_and_tap(void **state)
{
    static struct fx x;
    size_t n;
    fx_failures_logs(&x);
    char *s = render(&x, TSC_RESULTS_JUNIT, &n);
    assert_clean_utf8(s, n, "\n\t");
    assert_has(s, "<property name=\"tsc.log_records\" value=\"210\"/>\n"
                  "      <property name=\"tsc.log_errors\" value=\"3\"/>\n    </properties>\n");
    assert_has(s, "  m3&amp;&lt;&apos;&quot;: failed, signal 9\n"
                  "  logs of m2: records 40-90 (30): tscctl logs 42 --case case_b --node m2\n"
                  "  logs of m3&amp;&lt;&apos;&quot;: records 41-95 (20): tscctl logs 42 --case "
                  "case_b --node &apos;m3&amp;&lt;&apos;\\&apos;&apos;&quot;&apos;\n");
    assert_has(s, "  out of sequence: gap: m2 seq 12, m2 seq 15\n");
    assert_has(s, "    </testcase>\n    <system-out>logs: 210 records merged, 3 out-of-sequence "
                  "errors\n  gap: m2 seq 12, m2 seq 15\n");
    assert_has(s, "</system-out>\n  </testsuite>\n</testsuites>\n");
    free(s);

    char *t = render(&x, TSC_RESULTS_TAP, &n);
    assert_clean_utf8(t, n, "\n\t");
    assert_tap_grammar(t, 5);
    assert_has(t, "#   line-30\n"
                  "# logs of m2: records 40-90 (30): tscctl logs 42 --case case_b --node m2\n");
    assert_has(t, "# out of sequence: skew: m1 seq 3, m3&<'\" seq 7, skew 2500 us\n"
                  "not ok 3 - case_c\n");
    assert_has(t, "# logs of m3&<'\": records 200-210 (11): "
                  "tscctl logs 42 --stage suite-finalize --node 'm3&<'\\''\"'\n");
    assert_has(t, "not ok 5 - suite finalize\n");
    assert_true(strstr(t, "# logs: 210 records merged, 3 out-of-sequence errors\n"
                          "#   gap: m2 seq 12, m2 seq 15\n") > strstr(t, "not ok 5"));
    free(t);
}

/* Write every fixture in every format to dir, for validate.sh. */
static int emit(const char *dir)
{
    static const char *const ext[] = {"", "txt", "json", "xml", "tap"};
    static struct fx x;
    char path[4096];
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        fixtures[i].build(&x);
        for (int f = TSC_RESULTS_TABLE; f <= TSC_RESULTS_TAP; f++) {
            snprintf(path, sizeof path, "%s/%s.%s", dir, fixtures[i].name, ext[f]);
            FILE *out = fopen(path, "w");
            if (out == NULL ||
                tsc_results_write_logs(out, f, &x.v, &x.suite, x.with_logs ? &x.logs : NULL) != 0 ||
                fclose(out) != 0) {
                fprintf(stderr, "test_results: cannot write %s\n", path);
                return 1;
            }
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 0; i < 30; i++)
        snprintf(thirty_lines + 8 * i, 9, "line-%02d\n", i + 1);
    if (argc == 3 && strcmp(argv[1], "--emit") == 0)
        return emit(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format),
        cmocka_unit_test(test_table_all_pass),
        cmocka_unit_test(test_table_failures),
        cmocka_unit_test(test_table_tail_is_bounded),
        cmocka_unit_test(test_table_running_and_cancelled),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_junit_failures),
        cmocka_unit_test(test_junit_skipped_and_pending),
        cmocka_unit_test(test_tap),
        cmocka_unit_test(test_odd_views),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_logs_table),
        cmocka_unit_test(test_logs_ambiguous_names),
        cmocka_unit_test(test_logs_json),
        cmocka_unit_test(test_logs_junit_and_tap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
