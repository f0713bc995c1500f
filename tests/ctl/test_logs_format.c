/* tsc — unit: `tscctl logs` output and filters (ctl/logs.h). Records made by
 * hand: three nodes (m1, m2 and an unnamed coordinator) exchange a message,
 * and their texts hold every byte a format could choke on (quotes,
 * backslashes, newlines, NUL and other controls, invalid UTF-8, U+2028).
 *
 * `test_logs_format --emit DIR` writes all.txt, all.jsonl, all.shiviz and
 * filtered.shiviz (m2's records with "x" in them);
 * validate_logs.py reads them back with python3's json and re (ShiViz's
 * regex with its named groups translated) and checks what ShiViz checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "barrier/runlog.h"
#include "ctl/logs.h"

#define M1    0xa1ull
#define M2    0xb2ull
#define COORD 0xc3ull
#define NREC  8
#define T0    1714564800000000ull /* 2024-05-01T12:00:00Z */

static const char hostile[] = "say \"hi\" \\ back\nnext\rline\x01\x1b[0m \xff\xc0 "
                              "\xe2\x80\xa8 tab\there \xc3\xa9 end";

struct fx {
    struct tsc_logrec r[NREC];
    uint64_t index[NREC];
    struct tsc_logs_names names;
    const char *case_names[2];
};

/* rec i: node, seq, clock entries (node, count) pairs, stage, case, kind, text */
static void rec(struct fx *x, int i, uint64_t node, uint64_t seq, const uint64_t *clock, size_t n,
                uint32_t stage, uint32_t ci, int kind, const char *text, size_t len)
{
    struct tsc_logrec *r = &x->r[i];
    tsc_logrec_init(r);
    r->node = node;
    r->seq = seq;
    for (size_t k = 0; k < n; k++)
        assert_int_equal(tsc_vclock_set(&r->clock, clock[2 * k], clock[2 * k + 1]), 0);
    r->lamport = (uint64_t)i + 1;
    r->wall_us = T0 + (uint64_t)i * 1500;
    r->run = 42;
    r->stage = stage;
    r->case_index = ci;
    r->kind = (uint8_t)kind;
    r->text = (const uint8_t *)text;
    r->len = len;
    x->index[i] = (uint64_t)i + 1;
}

/* m1 logs, sends to m2; m2 receives (merging m1's clock), replies; the
 * coordinator has its own events; m2's seq 4 is missing (a gap). */
static void fx_init(struct fx *x)
{
    static const uint64_t c0[] = {COORD, 1}, c1[] = {M1, 1}, c2[] = {M1, 2}, c3[] = {M1, 2, M2, 1},
                          c4[] = {M1, 2, M2, 2}, c5[] = {M1, 3, M2, 2},
                          c6[] = {M1, 2, M2, 3, COORD, 1}, c7[] = {M1, 2, M2, 5, COORD, 1};
    memset(x, 0, sizeof *x);
    rec(x, 0, COORD, 1, c0, 1, 0, TSC_LOGREC_NO_CASE, TSC_LOGREC_EVENT, "stage 0 start", 13);
    rec(x, 1, M1, 1, c1, 1, 5, 1, TSC_LOGREC_STDOUT, hostile, sizeof hostile - 1);
    rec(x, 2, M1, 2, c2, 1, 5, 1, TSC_LOGREC_SEND, "ping x", 6);
    rec(x, 3, M2, 1, c3, 2, 5, 1, TSC_LOGREC_RECV, "ping x", 6);
    rec(x, 4, M2, 2, c4, 2, 5, 1, TSC_LOGREC_SEND, "pong\0nul x", 10);
    rec(x, 5, M1, 3, c5, 2, 5, 1, TSC_LOGREC_RECV, "pong", 4);
    rec(x, 6, M2, 3, c6, 3, 6, 1, TSC_LOGREC_USER, "user x", 6);
    rec(x, 7, M2, 5, c7, 3, 13, TSC_LOGREC_NO_CASE, TSC_LOGREC_STDERR, "after the gap x", 15);
    tsc_logs_names_init(&x->names);
    assert_int_equal(tsc_logs_names_add(&x->names, M1, "m1"), 0);
    assert_int_equal(tsc_logs_names_add(&x->names, M2, "m 2\"q"), 0);
    tsc_logs_names_finish(&x->names);
    x->case_names[0] = "case_a";
    x->case_names[1] = "case_b";
}

static void fx_free(struct fx *x)
{
    for (int i = 0; i < NREC; i++)
        tsc_logrec_free(&x->r[i]);
    tsc_logs_names_free(&x->names);
}

/* Records through the filter, in one format, as a string. */
static char *render(struct fx *x, int format, const struct tsc_logs_filter *f, int with_errors)
{
    struct tsc_logs_writer w;
    char *buf = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&buf, &n);
    assert_non_null(out);
    tsc_logs_writer_init(&w, out, out, format, &x->names, x->case_names, 2);
    tsc_logs_write_start(&w);
    for (int i = 0; i < NREC; i++)
        if (f == NULL || tsc_logs_filter_match(f, &x->r[i]))
            assert_int_equal(tsc_logs_write_record(&w, x->index[i], &x->r[i]), 0);
    if (with_errors) {
        struct tsc_logmerge_error gap = {TSC_LOGMERGE_GAP, M2, 3, M2, 5, 42, 0};
        struct tsc_logmerge_error skew = {TSC_LOGMERGE_SKEW, M1, 3, M2, 2, 42, 1200};
        tsc_logs_write_error(&w, &gap);
        tsc_logs_write_error(&w, &skew);
    }
    tsc_logs_writer_free(&w);
    assert_int_equal(fclose(out), 0);
    return buf;
}

static void assert_has(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("missing \"%s\" in:\n%s", needle, hay);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* No raw control character but LF (and tab where allowed). */
static void assert_no_controls(const char *s, int tab_ok)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\n' && !(tab_ok && *p == '\t')) || *p == 0x7f)
            fail_msg("raw control 0x%02x at %zu", *p, (size_t)(p - (const unsigned char *)s));
}

static void test_text(void **state)
{
    struct fx x;
    fx_init(&x);
    char *t = render(&x, TSC_LOGS_TEXT, NULL, 1);
    assert_no_controls(t, 1);
    assert_int_equal(count(t, "\n"), NREC + 2);
    assert_has(t, "1  2024-05-01T12:00:00.000000Z  00000000000000c3  suite-init  event  "
                  "stage 0 start\n");
    assert_has(t, "2  2024-05-01T12:00:00.001500Z  m1  run/case_b  stdout  say \"hi\" \\ back\\n"
                  "next\\rline\xef\xbf\xbd\xef\xbf\xbd[0m \xef\xbf\xbd\xef\xbf\xbd \\u2028 "
                  "tab\there \xc3\xa9 end\n");
    assert_has(t,
               "5  2024-05-01T12:00:00.006000Z  m 2\"q  run/case_b  send  pong\xef\xbf\xbdnul x\n");
    assert_has(t, "7  2024-05-01T12:00:00.009000Z  m 2\"q  finalize/case_b  user  user x\n");
    assert_has(t,
               "8  2024-05-01T12:00:00.010500Z  m 2\"q  suite-finalize  stderr  after the gap x\n");
    assert_has(t, "out of sequence: gap: m 2\"q seq 3, m 2\"q seq 5\n"
                  "out of sequence: skew: m1 seq 3, m 2\"q seq 2, skew 1200 us\n");
    free(t);
    fx_free(&x);
}

static void test_jsonl(void **state)
{
    struct fx x;
    fx_init(&x);
    char *j = render(&x, TSC_LOGS_JSONL, NULL, 1);
    assert_no_controls(j, 0);
    assert_int_equal(count(j, "\n"), NREC + 2);
    assert_has(j, "{\"index\":2,\"node\":\"00000000000000a1\",\"name\":\"m1\",\"seq\":1,"
                  "\"lamport\":2,\"clock\":{\"m1\":1},\"wall_us\":1714564800001500,\"run\":42,"
                  "\"stage\":5,\"case\":1,\"case_name\":\"case_b\",\"stage_name\":\"run/case_b\","
                  "\"stage_kind\":\"run\",\"kind\":\"stdout\",\"text\":\"say \\\"hi\\\" \\\\ "
                  "back\\nnext\\rline\\u0001\\u001b[0m \\ufffd\\ufffd \\u2028 tab\\there "
                  "\xc3\xa9 end\"}\n");
    assert_has(j, "\"clock\":{\"m1\":2,\"m 2\\\"q\":5,\"00000000000000c3\":1}");
    assert_has(j, "\"case\":null,\"case_name\":null,\"stage_name\":\"suite-init\"");
    assert_has(j, "\"text\":\"pong\\u0000nul x\"");
    assert_has(j, "{\"error\":{\"kind\":\"gap\",\"run\":42,\"a\":{\"node\":\"00000000000000b2\","
                  "\"name\":\"m 2\\\"q\",\"seq\":3},\"b\":{\"node\":\"00000000000000b2\","
                  "\"name\":\"m 2\\\"q\",\"seq\":5},\"skew_us\":0}}\n");
    assert_has(j, "\"kind\":\"skew\"");
    assert_has(j, "\"skew_us\":1200}}\n");
    free(j);
    fx_free(&x);
}

static void test_shiviz(void **state)
{
    struct fx x;
    struct tsc_logs_filter f;
    char err[TSC_ERRMSG_SIZE];
    fx_init(&x);
    char *s = render(&x, TSC_LOGS_SHIVIZ, NULL, 0);
    assert_no_controls(s, 1);
    /* The regex, a blank line, two lines per record; hosts without spaces
     * or quotes; m2's seq 5 (after its gap) is its 4th event. */
    assert_true(strncmp(s, "(?<host>\\S*) (?<clock>{.*})\\n(?<event>.*)\n\n", 42) == 0);
    assert_int_equal(count(s, "\n"), 2 + 2 * NREC);
    assert_has(s, "\n\n00000000000000c3 {\"00000000000000c3\":1}\nstage 0 start\n");
    assert_has(s, "m1 {\"m1\":1}\nsay \"hi\" \\ back\\nnext\\rline");
    assert_has(s, "m_2_q {\"m_2_q\":1,\"m1\":2}\nping x\n");
    assert_has(s, "m_2_q {\"m_2_q\":3,\"m1\":2,\"00000000000000c3\":1}\nuser x\n");
    assert_has(s, "m_2_q {\"m_2_q\":4,\"m1\":2,\"00000000000000c3\":1}\nafter the gap x\n");
    free(s);

    /* Only m2, only texts ending in "x" (a NUL inside does not end the
     * text): m2's events are renumbered 1.. and m1 vanishes from the clocks. */
    tsc_logs_filter_init(&f);
    assert_int_equal(tsc_logs_filter_set_grep(&f, "x$", err), 0);
    f.has_node = 1;
    f.node = M2;
    s = render(&x, TSC_LOGS_SHIVIZ, &f, 0);
    assert_int_equal(count(s, "\n"), 2 + 2 * 4);
    assert_has(s, "\n\nm_2_q {\"m_2_q\":1}\nping x\nm_2_q {\"m_2_q\":2}\npong\xef\xbf\xbdnul x\n"
                  "m_2_q {\"m_2_q\":3}\nuser x\n");
    assert_has(s, "m_2_q {\"m_2_q\":4}\nafter the gap x\n");
    free(s);
    tsc_logs_filter_free(&f);
    fx_free(&x);
}

static void test_filters(void **state)
{
    struct fx x;
    struct tsc_logs_filter f;
    char err[TSC_ERRMSG_SIZE];
    uint64_t id;
    fx_init(&x);
    assert_int_equal(tsc_logs_parse_format("text"), TSC_LOGS_TEXT);
    assert_int_equal(tsc_logs_parse_format("jsonl"), TSC_LOGS_JSONL);
    assert_int_equal(tsc_logs_parse_format("shiviz"), TSC_LOGS_SHIVIZ);
    assert_int_equal(tsc_logs_parse_format("json"), 0);
    assert_int_equal(tsc_logs_parse_format(NULL), 0);

    assert_int_equal(tsc_logs_names_find(&x.names, "m1", &id), 0);
    assert_int_equal(id, M1);
    assert_int_equal(tsc_logs_names_find(&x.names, "c3", &id), 0);
    assert_int_equal(id, COORD);
    assert_int_equal(tsc_logs_names_find(&x.names, "m3", &id), TSC_ENOTFOUND);
    assert_int_equal(tsc_logs_names_find(&x.names, "00000000000000000", &id), TSC_ENOTFOUND);

    tsc_logs_filter_init(&f);
    assert_int_equal(tsc_logs_filter_set_case(&f, "case_b", x.case_names, 2), 0);
    assert_int_equal(f.case_index, 1);
    assert_int_equal(tsc_logs_filter_set_case(&f, "0", x.case_names, 2), 0);
    assert_int_equal(f.case_index, 0);
    assert_int_equal(tsc_logs_filter_set_case(&f, "2", x.case_names, 2), TSC_ENOTFOUND);
    assert_int_equal(tsc_logs_filter_set_case(&f, "case_z", x.case_names, 2), TSC_ENOTFOUND);
    assert_int_equal(tsc_logs_filter_set_case(&f, "case_b", x.case_names, 2), 0);
    assert_int_equal(tsc_logs_filter_set_stage(&f, "run"), 0);
    int hits = 0;
    for (int i = 0; i < NREC; i++)
        hits += tsc_logs_filter_match(&f, &x.r[i]) << i;
    assert_int_equal(hits, 0x3e); /* records 1..5: case_b run */
    tsc_logs_filter_free(&f);

    tsc_logs_filter_init(&f);
    assert_int_equal(tsc_logs_filter_set_stage(&f, "suite-finalize"), 0);
    assert_true(tsc_logs_filter_match(&f, &x.r[7]));
    assert_false(tsc_logs_filter_match(&f, &x.r[0]));
    assert_int_equal(tsc_logs_filter_set_stage(&f, "13"), 0);
    assert_int_equal(tsc_logs_filter_set_stage(&f, "runs"), TSC_EINVAL);
    assert_int_equal(tsc_logs_filter_set_stage(&f, "-1"), TSC_EINVAL);
    f.has_node = 1;
    f.node = M2;
    assert_true(tsc_logs_filter_match(&f, &x.r[7]));
    f.node = M1;
    assert_false(tsc_logs_filter_match(&f, &x.r[7]));
    assert_false(tsc_logs_filter_match_range(&f, 13, TSC_LOGREC_NO_CASE, M2));
    assert_true(tsc_logs_filter_match_range(&f, 13, TSC_LOGREC_NO_CASE, M1));
    tsc_logs_filter_free(&f);

    tsc_logs_filter_init(&f);
    assert_int_equal(tsc_logs_filter_set_grep(&f, "^p(i|o)ng", err), 0);
    hits = 0;
    for (int i = 0; i < NREC; i++)
        hits += tsc_logs_filter_match(&f, &x.r[i]);
    assert_int_equal(hits, 4);
    assert_int_equal(tsc_logs_filter_set_grep(&f, "(unclosed", err), TSC_EINVAL);
    assert_non_null(strstr(err, "(unclosed"));
    tsc_logs_filter_free(&f);

    assert_int_equal(tsc_logs_stage_kind(0, TSC_LOGREC_NO_CASE), TSC_STAGE_SUITE_INIT);
    assert_int_equal(tsc_logs_stage_kind(4, 1), TSC_STAGE_CASE_INIT);
    assert_int_equal(tsc_logs_stage_kind(6, 1), TSC_STAGE_CASE_FINALIZE);
    fx_free(&x);
}

/* Empty and duplicate names give way to ids, for every node that has one. */
static void test_names(void **state)
{
    struct tsc_logs_names n;
    char hex[17];
    tsc_logs_names_init(&n);
    assert_int_equal(tsc_logs_names_add(&n, 1, "db"), 0);
    assert_int_equal(tsc_logs_names_add(&n, 2, "db"), 0);
    assert_int_equal(tsc_logs_names_add(&n, 3, ""), 0);
    assert_int_equal(tsc_logs_names_add(&n, 4, "app"), 0);
    assert_int_equal(tsc_logs_names_add(&n, 4, "other"), 0); /* the first one stays */
    for (uint64_t id = 5; id < 40; id++)
        assert_int_equal(tsc_logs_names_add(&n, id, "x"), 0);
    tsc_logs_names_finish(&n);
    assert_string_equal(tsc_logs_names_get(&n, 1, hex), "0000000000000001");
    assert_string_equal(tsc_logs_names_get(&n, 2, hex), "0000000000000002");
    assert_string_equal(tsc_logs_names_get(&n, 3, hex), "0000000000000003");
    assert_string_equal(tsc_logs_names_get(&n, 4, hex), "app");
    assert_string_equal(tsc_logs_names_get(&n, 39, hex), "0000000000000027");
    assert_string_equal(tsc_logs_names_get(&n, 99, hex), "0000000000000063");
    tsc_logs_names_free(&n);
}

static int emit(const char *dir)
{
    static const struct {
        const char *file;
        int format, filtered;
    } outs[] = {{"all.txt", TSC_LOGS_TEXT, 0},
                {"all.jsonl", TSC_LOGS_JSONL, 0},
                {"all.shiviz", TSC_LOGS_SHIVIZ, 0},
                {"filtered.shiviz", TSC_LOGS_SHIVIZ, 1}};
    struct fx x;
    struct tsc_logs_filter f;
    char path[4096], err[TSC_ERRMSG_SIZE];
    fx_init(&x);
    tsc_logs_filter_init(&f);
    if (tsc_logs_filter_set_grep(&f, "x", err) != 0)
        return 1;
    f.has_node = 1;
    f.node = M2;
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        struct tsc_logs_writer w;
        snprintf(path, sizeof path, "%s/%s", dir, outs[i].file);
        FILE *out = fopen(path, "w");
        if (out == NULL)
            return 1;
        tsc_logs_writer_init(&w, out, out, outs[i].format, &x.names, x.case_names, 2);
        tsc_logs_write_start(&w);
        for (int k = 0; k < NREC; k++)
            if ((!outs[i].filtered || tsc_logs_filter_match(&f, &x.r[k])) &&
                tsc_logs_write_record(&w, x.index[k], &x.r[k]) != 0)
                return 1;
        if (outs[i].format == TSC_LOGS_JSONL) {
            struct tsc_logmerge_error gap = {TSC_LOGMERGE_GAP, M2, 3, M2, 5, 42, 0};
            tsc_logs_write_error(&w, &gap);
        }
        tsc_logs_writer_free(&w);
        if (fclose(out) != 0)
            return 1;
    }
    tsc_logs_filter_free(&f);
    fx_free(&x);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--emit") == 0)
        return emit(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),    cmocka_unit_test(test_jsonl), cmocka_unit_test(test_shiviz),
        cmocka_unit_test(test_filters), cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
