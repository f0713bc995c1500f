/* tsc — unit: agent/follow.h with real files in a temporary directory:
 * appended lines, partial lines, a file that appears later, truncation,
 * rotation, long lines, stop, and the unquoting of rendered paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/follow.h"
#include "common/error.h"

struct seen {
    char lines[64][256];
    size_t n;
    uint64_t run;
};

static void on_line(void *ctx, uint64_t run, const char *path, const char *line, size_t len)
{
    struct seen *s = ctx;
    (void)path;
    assert_true(s->n < 64);
    snprintf(s->lines[s->n], sizeof s->lines[s->n], "%.*s", (int)(len > 200 ? 200 : len), line);
    s->n++;
    s->run = run;
}

static void append(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "a");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_follow_files(void **state)
{
    char dir[] = "/tmp/tsc-follow-XXXXXX", p[512], q[512], list[600];
    struct tsc_follow *f;
    struct seen s;
    memset(&s, 0, sizeof s);
    assert_non_null(mkdtemp(dir));
    append(dir, "a.log", "before the run\n");
    assert_int_equal(tsc_follow_new(&f, on_line, &s), 0);
    /* a.log by absolute path: it existed before the run, so it is read from
     * its end; 'later log' relative (the run's directory): from 0. */
    snprintf(list, sizeof list, "%s/a.log\n'later log'\n\n", dir);
    assert_int_equal(tsc_follow_set(f, 7, dir, list, strlen(list)), 0);
    assert_int_equal(tsc_follow_count(f), 2);
    /* Same list again: nothing new is followed. */
    assert_int_equal(tsc_follow_set(f, 7, dir, list, strlen(list)), 0);
    assert_int_equal(tsc_follow_count(f), 2);

    /* What was in an absolute path before is not the run's; a partial line
     * waits. */
    append(dir, "a.log", "one\ntw");
    assert_int_equal(tsc_follow_poll(f), 1);
    assert_string_equal(s.lines[0], "one");
    assert_int_equal(s.run, 7);
    append(dir, "a.log", "o\n");
    assert_int_equal(tsc_follow_poll(f), 1);
    assert_string_equal(s.lines[1], "two");

    /* A file that appears later is read from its start. */
    append(dir, "later log", "l1\nl2\n");
    assert_int_equal(tsc_follow_poll(f), 2);
    assert_string_equal(s.lines[3], "l2");

    /* Truncation: read again from 0. */
    snprintf(p, sizeof p, "%s/a.log", dir);
    assert_int_equal(truncate(p, 0), 0);
    append(dir, "a.log", "x\n");
    assert_int_equal(tsc_follow_poll(f), 1);
    assert_string_equal(s.lines[4], "x");

    /* Rotation: the old file's tail first, then the new file. */
    append(dir, "a.log", "old tail\n");
    snprintf(q, sizeof q, "%s/a.log.1", dir);
    assert_int_equal(rename(p, q), 0);
    append(dir, "a.log", "new 1\n");
    assert_int_equal(tsc_follow_poll(f), 2);
    assert_string_equal(s.lines[5], "old tail");
    assert_string_equal(s.lines[6], "new 1");

    /* A long line comes in pieces; stop passes on a partial line. */
    char big[TSC_FOLLOW_MAX_LINE + 11];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    append(dir, "a.log", big);
    append(dir, "a.log", "\npartial");
    assert_int_equal(tsc_follow_poll(f), 2);
    assert_int_equal(strlen(s.lines[7]), 200); /* on_line keeps 200 bytes of a piece */
    assert_string_equal(s.lines[8], "zzzzzzzzzz");
    tsc_follow_stop(f, 7);
    assert_string_equal(s.lines[9], "partial");
    assert_int_equal(tsc_follow_count(f), 0);
    assert_int_equal(tsc_follow_poll(f), 0);
    tsc_follow_free(f);

    unlink(p);
    unlink(q);
    snprintf(p, sizeof p, "%s/later log", dir);
    unlink(p);
    assert_int_equal(rmdir(dir), 0);
}

static void test_unquote(void **state)
{
    char out[64];
    assert_int_equal(tsc_follow_unquote("  /var/log/'b'.log ", 19, out, sizeof out), 0);
    assert_string_equal(out, "/var/log/b.log");
    const char *q = "'it'\\''s'";
    assert_int_equal(tsc_follow_unquote(q, strlen(q), out, sizeof out), 0);
    assert_string_equal(out, "it's");
    assert_int_equal(tsc_follow_unquote("a\\ b", 4, out, sizeof out), 0);
    assert_string_equal(out, "a b");
    assert_int_equal(tsc_follow_unquote("'open", 5, out, sizeof out), TSC_EINVAL);
    assert_int_equal(tsc_follow_unquote("abcdef", 6, out, 4), TSC_EINVAL);
    /* Too many files: the rest are refused. */
    struct tsc_follow *f;
    struct seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(tsc_follow_new(&f, on_line, &s), 0);
    char list[TSC_FOLLOW_MAX_FILES * 16 + 32];
    size_t n = 0;
    for (int i = 0; i <= TSC_FOLLOW_MAX_FILES; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "/nonexistent/%d\n", i);
    assert_int_equal(tsc_follow_set(f, 1, "/", list, n), TSC_EFULL);
    assert_int_equal(tsc_follow_count(f), TSC_FOLLOW_MAX_FILES);
    assert_int_equal(tsc_follow_set(f, 2, "/", "'bad", 4), TSC_EINVAL);
    tsc_follow_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_follow_files),
                                       cmocka_unit_test(test_unquote)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
