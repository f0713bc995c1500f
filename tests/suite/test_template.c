/* tsc — tests for script templates: the placeholder scanner, rendering, and
 * the quoting that keeps every value one shell word. The quoting is proven
 * the only way that counts: rendered scripts run through /bin/sh and must
 * print each hostile value back byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/error.h"
#include "common/template.h"

struct seen {
    int n;
    char names[8][32];
    size_t offsets[8];
};

static int collect(void *ctx, const char *name, size_t name_len, size_t offset)
{
    struct seen *s = ctx;
    assert_true(s->n < 8 && name_len < 32);
    memcpy(s->names[s->n], name, name_len);
    s->names[s->n][name_len] = '\0';
    s->offsets[s->n++] = offset;
    return 0;
}

static void test_scan_finds_placeholders(void **state)
{
    const char *t = "a={{x}} b={{  tsc.name\t}} {c} }} { { d\n{{ y-1.z_2 }}";
    struct seen s = {0};
    char err[TSC_ERRMSG_SIZE] = "";
    assert_int_equal(tsc_template_scan(t, strlen(t), collect, &s, NULL, err), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.names[0], "x");
    assert_int_equal(s.offsets[0], 2);
    assert_string_equal(s.names[1], "tsc.name");
    assert_int_equal(s.offsets[1], 10);
    assert_string_equal(s.names[2], "y-1.z_2");
    assert_int_equal(s.offsets[2], strchr(t, '\n') + 1 - t);
}

static int stop_at_second(void *ctx, const char *name, size_t name_len, size_t offset)
{
    int *n = ctx;
    return ++*n == 2 ? 77 : 0;
}

static void test_scan_visitor_stops(void **state)
{
    const char *t = "{{a}}{{b}}{{c}}";
    int n = 0;
    assert_int_equal(tsc_template_scan(t, strlen(t), stop_at_second, &n, NULL, NULL), 77);
    assert_int_equal(n, 2);
}

static void expect_bad(const char *t, size_t offset, const char *reason)
{
    struct seen s = {0};
    size_t off = 999;
    char err[TSC_ERRMSG_SIZE] = "";
    assert_int_equal(tsc_template_scan(t, strlen(t), collect, &s, &off, err), TSC_EMALFORMED);
    assert_int_equal(off, offset);
    assert_non_null(strstr(err, reason));
}

static void test_scan_errors(void **state)
{
    expect_bad("echo {{ x", 5, "unterminated placeholder");
    expect_bad("{{ x }} {{ y\n}}", 8, "unterminated placeholder"); /* never across lines */
    expect_bad("a {{}}", 2, "bad placeholder name");
    expect_bad("a {{ }}", 2, "bad placeholder name");
    expect_bad("{{ a b }}", 0, "bad placeholder name");
    expect_bad("{{ $x }}", 0, "bad placeholder name");
    expect_bad("{{{ x }}", 0, "bad placeholder name");
    expect_bad("x{{", 1, "unterminated placeholder");
    char longname[200];
    memset(longname, 'a', sizeof longname);
    memcpy(longname, "{{", 2);
    memcpy(longname + sizeof longname - 3, "}}", 3);
    expect_bad(longname, 0, "bad placeholder name");
}

static void test_builtins(void **state)
{
    const char *names[] = {"tsc.name", "tsc.address", "tsc.role", "tsc.index",    "tsc.count",
                           "tsc.run",  "tsc.stage",   "tsc.case", "tsc.machines", "tsc.open"};
    assert_int_equal(tsc_template_n_builtins, 10);
    for (size_t i = 0; i < 10; i++)
        assert_true(tsc_template_is_builtin(names[i], strlen(names[i])));
    assert_false(tsc_template_is_builtin("tsc.nam", 7));
    assert_false(tsc_template_is_builtin("tsc.namex", 9));
    assert_false(tsc_template_is_builtin("name", 4));
}

static void test_render(void **state)
{
    struct tsc_template_value vals[] = {
        {"port", "6379"}, {"tsc.name", "node1"}, {"port", "7000"}, {"empty", ""}};
    const char *t = "redis --port {{ port }} --name {{tsc.name}} {{ empty }} {{ tsc.open }} x }}";
    struct tsc_buf out;
    char err[TSC_ERRMSG_SIZE];
    tsc_buf_init(&out);
    assert_int_equal(tsc_buf_append(&out, "#", 1), 0);
    assert_int_equal(tsc_template_render(t, strlen(t), vals, 4, &out, NULL, err), 0);
    assert_string_equal((char *)out.data, "#redis --port '7000' --name 'node1' '' {{ x }}");
    assert_int_equal(out.len, strlen((char *)out.data));

    /* Unknown name: an error naming it, and out as it was. */
    size_t off = 0;
    size_t before = out.len;
    t = "ok {{ port }} {{ nope }}";
    assert_int_equal(tsc_template_render(t, strlen(t), vals, 4, &out, &off, err), TSC_ENOTFOUND);
    assert_string_equal(err, "unknown variable 'nope'");
    assert_int_equal(off, 14);
    assert_int_equal(out.len, before);

    t = "bad {{ x";
    assert_int_equal(tsc_template_render(t, strlen(t), vals, 4, &out, &off, err), TSC_EMALFORMED);
    assert_int_equal(off, 4);
    assert_int_equal(out.len, before);

    /* Bytes after the text's length are not part of it. */
    tsc_buf_reset(&out);
    assert_int_equal(tsc_template_render("ab{{ port }}", 2, vals, 4, &out, NULL, err), 0);
    assert_string_equal((char *)out.data, "ab");
    tsc_buf_free(&out);
}

static void test_render_out_of_memory(void **state)
{
    struct tsc_template_value vals[] = {{"v", "value"}};
    const char *t = "echo {{ v }} and some more text after it";
    for (unsigned long n = 1; n < 20; n++) {
        struct tsc_buf out;
        tsc_buf_init(&out);
        tsc_alloc_fail_after(n);
        int rc = tsc_template_render(t, strlen(t), vals, 1, &out, NULL, NULL);
        tsc_alloc_fail_after(0);
        if (rc == 0) {
            assert_string_equal((char *)out.data, "echo 'value' and some more text after it");
        } else {
            assert_int_equal(rc, TSC_ENOMEM);
            assert_int_equal(out.len, 0);
        }
        tsc_buf_free(&out);
    }
}

static void test_quote(void **state)
{
    struct tsc_buf out;
    tsc_buf_init(&out);
    assert_int_equal(tsc_template_quote("it's", &out), 0);
    assert_int_equal(tsc_template_quote("", &out), 0);
    assert_int_equal(tsc_template_quote("''", &out), 0);
    /* 'it'\''s'  then ''  then ''\'''\''' */
    const char *want = "'it'\\''s'"
                       "''"
                       "''\\'''\\'''";
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    tsc_buf_free(&out);
}

/* Render `printf %s {{ v }}` with v = value, run it with /bin/sh and return
 * what it printed (malloc'ed). */
static char *run_rendered(const char *value, size_t *len)
{
    struct tsc_template_value vals[] = {{"v", value}};
    const char *t = "printf %s {{ v }}";
    struct tsc_buf script;
    char err[TSC_ERRMSG_SIZE];
    tsc_buf_init(&script);
    assert_int_equal(tsc_template_render(t, strlen(t), vals, 1, &script, NULL, err), 0);
    char path[] = "/tmp/tsc-template-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(script.data, 1, script.len, f), script.len);
    fclose(f);
    tsc_buf_free(&script);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "/bin/sh %s", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *buf = malloc(8192);
    *len = fread(buf, 1, 8192, p);
    assert_int_equal(pclose(p), 0);
    unlink(path);
    return buf;
}

static void test_quoted_values_reach_the_shell_literally(void **state)
{
    const char *values[] = {
        "'; rm -rf ~; '",
        "",
        "plain",
        "two\nlines\n",
        "$(touch /tmp/tsc-template-pwned)",
        "`touch /tmp/tsc-template-pwned`",
        "back\\slash\\\\ and \\n and \\'",
        "'",
        "''",
        "\"double\" $HOME ${HOME} * ? [a] ~ & | ; < > ( ) # !",
        " leading and trailing spaces ",
        "tab\there",
        "'\\''",
        "\xc3\xa9t\xc3\xa9 \x01\x7f\xff",
    };
    unlink("/tmp/tsc-template-pwned");
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        size_t len;
        char *got = run_rendered(values[i], &len);
        assert_int_equal(len, strlen(values[i]));
        assert_memory_equal(got, values[i], len);
        free(got);
    }
    FILE *pwned = fopen("/tmp/tsc-template-pwned", "r");
    assert_null(pwned);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_finds_placeholders),
        cmocka_unit_test(test_scan_visitor_stops),
        cmocka_unit_test(test_scan_errors),
        cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_render_out_of_memory),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_quoted_values_reach_the_shell_literally),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
