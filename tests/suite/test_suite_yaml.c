/* tsc — tests for the suite file parser (ctl/suite_yaml.h): the example
 * suites under data/ and small inline ones. Every error is asserted in full,
 * "FILE:LINE:COLUMN: message", because the position is the point. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/error.h"
#include "ctl/suite_yaml.h"
#include "suite_util.h"
#include "wire/suite.h"

#define DATA TSC_SUITE_DATA

/* Load data/file and expect rc with errmsg "DATA/file:" + msg. */
static void expect_load_error(const char *file, int rc, const char *msg)
{
    char path[512], want[1024], err[TSC_ERRMSG_SIZE] = "";
    struct tsc_suite s;
    snprintf(path, sizeof path, "%s/%s", DATA, file);
    snprintf(want, sizeof want, "%s:%s", path, msg);
    int got = tsc_suite_load(path, &s, err);
    if (got != rc || strcmp(err, want) != 0)
        fail_msg("%s: got %s '%s'\nwant %s '%s'", file, tsc_errname(got), err, tsc_errname(rc),
                 want);
    assert_null(s.name);
    assert_null(s.cases);
}

/* Parse text (named "t.yaml") and expect rc with errmsg "t.yaml:" + msg. */
static void expect_parse_error(const char *text, int rc, const char *msg)
{
    char want[512], err[TSC_ERRMSG_SIZE] = "";
    struct tsc_suite s;
    snprintf(want, sizeof want, "t.yaml:%s", msg);
    int got = tsc_suite_parse("t.yaml", text, strlen(text), DATA, &s, err);
    if (got != rc || strcmp(err, want) != 0)
        fail_msg("got %s '%s'\nwant %s '%s'\nfor:\n%s", tsc_errname(got), err, tsc_errname(rc),
                 want, text);
    assert_null(s.name);
}

static void test_invalid_files(void **state)
{
    expect_load_error("bad_indent.yaml", TSC_EINVAL,
                      "5:4: did not find expected '-' indicator (while parsing a block "
                      "collection at 3:3)");
    expect_load_error("unknown_key.yaml", TSC_EINVAL,
                      "4:5: unknown key 'rnu'; expected one of name, init, run, finalize");
    expect_load_error("missing_name.yaml", TSC_EINVAL, "2:1: missing 'suite: NAME'");
    expect_load_error("duplicate_case.yaml", TSC_EINVAL,
                      "6:11: duplicate case name 'a' (first at 3:11)");
    expect_load_error("unknown_var_inline.yaml", TSC_EINVAL, "8:23: unknown variable 'prot'");
    expect_load_error("bad_timeout.yaml", TSC_EINVAL,
                      "2:10: bad timeout '30 seconds'; expected a positive whole number of "
                      "seconds or one with a unit: 500ms, 30s, 2m, 1h");
    expect_load_error("missing_script.yaml", TSC_EIO,
                      "3:15: cannot read script file '" DATA
                      "/scripts/no-such-script.sh': No such file or directory");

    /* In a script file: the script's path and the position inside it. */
    char err[TSC_ERRMSG_SIZE];
    struct tsc_suite s;
    assert_int_equal(tsc_suite_load(DATA "/unknown_var_file.yaml", &s, err), TSC_EINVAL);
    assert_string_equal(err, DATA "/scripts/unknown-var.sh:3:21: unknown variable 'host'");

    assert_int_equal(tsc_suite_load(DATA "/no-such-suite.yaml", &s, err), TSC_EIO);
    assert_string_equal(err, DATA "/no-such-suite.yaml: No such file or directory");
    assert_int_equal(tsc_suite_load(DATA, &s, err), TSC_EIO);
    assert_null(s.name);
}

static void test_full_suite(void **state)
{
    struct tsc_suite s, d;
    struct tsc_buf b;
    char err[TSC_ERRMSG_SIZE] = "";
    int rc = tsc_suite_load(DATA "/full.yaml", &s, err);
    if (rc != 0)
        fail_msg("%s", err);
    assert_string_equal(s.name, "redis-replication");
    assert_int_equal(s.n_names, 2);
    assert_string_equal(s.names[1], "node2");
    assert_int_equal(s.n_roles, 2);
    assert_string_equal(s.roles[0], "server");
    assert_int_equal(s.n_vars, 4);
    assert_string_equal(s.vars[0].name, "port");
    assert_string_equal(s.vars[0].value, "6379");
    assert_string_equal(s.vars[2].value, "false");
    assert_string_equal(s.vars[3].value, "it's \"quoted\" $(not run)");
    assert_int_equal(s.timeout_ms, 30000);
    assert_int_equal(s.init.n_scripts, 1);
    assert_string_equal(s.init.scripts[0].role, "");
    assert_string_equal(s.init.scripts[0].text,
                        "echo \"suite init on\" {{ tsc.name }} {{ tsc.address }}\n"
                        "mkdir -p /tmp/redis-{{ tsc.run }}\n");
    assert_int_equal(s.n_cases, 2);

    const struct tsc_suite_case *c = &s.cases[0];
    assert_string_equal(c->name, "write-then-read");
    assert_int_equal(c->stage[TSC_CASE_INIT].timeout_ms, 60000);
    assert_int_equal(c->stage[TSC_CASE_INIT].n_scripts, 1);
    assert_string_equal(c->stage[TSC_CASE_INIT].scripts[0].role, "server");
    assert_non_null(strstr(c->stage[TSC_CASE_INIT].scripts[0].text,
                           "redis-server --port {{ port }} --daemonize yes\n"));
    const struct tsc_suite_stage *run = &c->stage[TSC_CASE_RUN];
    assert_int_equal(run->n_scripts, 2);
    assert_string_equal(run->scripts[0].role, "client");
    assert_string_equal(run->scripts[1].role, "");
    assert_string_equal(run->scripts[1].text,
                        "echo {{ tsc.role }} idles in {{ tsc.case }}/{{ tsc.stage }}");
    assert_string_equal(c->stage[TSC_CASE_FINALIZE].scripts[0].text,
                        "redis-cli -p {{ port }} shutdown nosave || true\n");

    c = &s.cases[1];
    assert_string_equal(c->stage[TSC_CASE_RUN].scripts[0].text,
                        "echo folded {{ replicas }} {{ banner }}\n");
    assert_int_equal(c->stage[TSC_CASE_INIT].n_scripts, 0);
    assert_int_equal(s.finalize.timeout_ms, 500);
    assert_int_equal(s.finalize.n_scripts, 2);
    assert_string_equal(s.finalize.scripts[1].text,
                        "rm -rf /tmp/redis-{{ tsc.run }} {{ tsc.open }}");
    assert_int_equal(tsc_suite_timeout_ms(&s, 1), 60000);
    assert_int_equal(tsc_suite_timeout_ms(&s, 2), 30000);
    assert_int_equal(tsc_suite_timeout_ms(&s, 7), 500);

    /* YAML -> struct -> msgpack -> struct: equal. */
    tsc_buf_init(&b);
    assert_int_equal(tsc_suite_encode(&s, &b, err), 0);
    assert_int_equal(tsc_suite_decode(b.data, b.len, &d, err), 0);
    assert_true(suite_equal(&s, &d));
    tsc_suite_free(&d);
    tsc_buf_free(&b);
    tsc_suite_free(&s);

    /* The same text in memory: without a base directory, files are an error. */
    FILE *f = fopen(DATA "/full.yaml", "rb");
    assert_non_null(f);
    char text[4096];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    assert_int_equal(tsc_suite_parse("mem", text, n, DATA, &s, err), 0);
    tsc_suite_free(&s);
    assert_int_equal(tsc_suite_parse("mem", text, n, NULL, &s, err), TSC_EINVAL);
    assert_string_equal(err, "mem:21:22: scripts by path need a suite file to be relative to");
}

static void test_structure_errors(void **state)
{
    expect_parse_error("", TSC_EINVAL, "1:1: empty suite file; expected a map with 'suite: NAME'");
    expect_parse_error("# only a comment\n", TSC_EINVAL,
                       "2:1: empty suite file; expected a map with 'suite: NAME'");
    expect_parse_error("- a\n", TSC_EINVAL,
                       "1:1: a suite file must be a map (suite:, cases:, ...), not a list");
    expect_parse_error("suite: a\n---\nsuite: b\n", TSC_EINVAL,
                       "2:1: a second YAML document; a suite file holds one");
    expect_parse_error("suite: a\nsuite: b\n", TSC_EINVAL,
                       "2:1: duplicate key 'suite' (first at 1:1)");
    expect_parse_error("suite: a\nsuit: b\n", TSC_EINVAL,
                       "2:1: unknown key 'suit'; expected one of suite, machines, vars, timeout, "
                       "init, cases, finalize, follow");
    expect_parse_error("suite: a\nmachines:\n  names: [a]\n  nodes: [b]\n", TSC_EINVAL,
                       "4:3: unknown key 'nodes'; expected one of names, roles");
    expect_parse_error("suite: [a]\n", TSC_EINVAL, "1:8: suite name must be a name, not a list");
    expect_parse_error("suite:\n", TSC_EINVAL, "1:7: suite name must be a name, not empty (null)");
    expect_parse_error("suite: a b\n", TSC_EINVAL,
                       "1:8: bad suite name: name 'a b' contains ' ' (allowed: A-Z a-z 0-9 _ . -)");
    expect_parse_error("suite: a\ncases: {}\n", TSC_EINVAL,
                       "2:8: 'cases' must be a list of cases, not a map");
    expect_parse_error("suite: a\ncases:\n  - run: x\n", TSC_EINVAL, "3:5: case without 'name:'");
    expect_parse_error("suite: a\ncases:\n  - x\n", TSC_EINVAL,
                       "3:5: each case must be a map (name:, init:, run:, finalize:), not a "
                       "string");
    expect_parse_error("suite: a\ncases:\n  - name: c\n    run: [x]\n", TSC_EINVAL,
                       "4:10: run of case 'c' must be a script or a map of role: script, not a "
                       "list");
    expect_parse_error("suite: a\ncases:\n  - name: c\n    run:\n      db: [x]\n", TSC_EINVAL,
                       "5:11: the script for 'db' must be a string or {file: PATH}, not a list");
    expect_parse_error("suite: a\ninit:\n  db: x\n  db: y\n", TSC_EINVAL,
                       "4:3: duplicate key 'db' (first at 3:3)");
    expect_parse_error("suite: a\ninit:\n  all: x\n  timeout: 1s\n  timeout: 2s\n", TSC_EINVAL,
                       "5:3: duplicate key 'timeout' (first at 4:3)");
    expect_parse_error("suite: a\ninit:\n  -db: x\n", TSC_EINVAL,
                       "3:3: bad role '-db' in suite init: name '-db' starts with '-'");
    expect_parse_error("suite: a\ninit:\n  db: {path: x}\n", TSC_EINVAL,
                       "3:8: unknown key 'path'; expected one of file");
    expect_parse_error("suite: a\ninit:\n  db: {}\n", TSC_EINVAL, "3:7: expected {file: PATH}");
    expect_parse_error("suite: a\nmachines:\n  names: [a, b, a]\n", TSC_EINVAL,
                       "3:17: machine name 'a' appears twice (first at 3:11)");
    expect_parse_error("suite: a\nmachines: [a]\n", TSC_EINVAL,
                       "2:11: 'machines' must be a map (names:, roles:), not a list");
    expect_parse_error("suite: a\ninit: {file: x.sh}\n", TSC_EINVAL,
                       "2:8: 'file' is not a role; for one script file for every role write "
                       "'all: {file: PATH}'");
    expect_parse_error("suite: a\ninit:\n  \"a\\0\": x\n", TSC_EINVAL,
                       "3:3: a key contains a NUL byte");
    expect_parse_error("suite: a\n[x]: y\n", TSC_EINVAL,
                       "2:1: expected a key (a string), not a list");
}

static void test_vars_and_timeouts(void **state)
{
    expect_parse_error("suite: a\nvars:\n  tsc.name: x\n", TSC_EINVAL,
                       "3:3: variable 'tsc.name': names tsc.* are reserved for tsc's values");
    expect_parse_error("suite: a\nvars:\n  x:\n", TSC_EINVAL,
                       "3:5: variable 'x' must be a string, number or boolean, not empty (null)");
    expect_parse_error("suite: a\nvars:\n  x: {a: 1}\n", TSC_EINVAL,
                       "3:6: variable 'x' must be a string, number or boolean, not a map");
    expect_parse_error("suite: a\nvars:\n  x: 1\n  x: 2\n", TSC_EINVAL,
                       "4:3: duplicate key 'x' (first at 3:3)");
    expect_parse_error("suite: a\nvars:\n  a b: 1\n", TSC_EINVAL,
                       "3:3: bad variable name: name 'a b' contains ' ' (allowed: A-Z a-z 0-9 _ . "
                       "-)");
    expect_parse_error("suite: a\nvars:\n  x: \"a\\0b\"\n", TSC_EINVAL,
                       "3:6: variable 'x' contains a NUL byte");
    expect_parse_error("suite: a\nvars: [x]\n", TSC_EINVAL,
                       "2:7: 'vars' must be a map of name: value, not a list");
    expect_parse_error("suite: a\ntimeout: 0\n", TSC_EINVAL,
                       "2:10: bad timeout '0'; expected a positive whole number of seconds or one "
                       "with a unit: 500ms, 30s, 2m, 1h");
    expect_parse_error("suite: a\ntimeout: 1.5s\n", TSC_EINVAL,
                       "2:10: bad timeout '1.5s'; expected a positive whole number of seconds or "
                       "one with a unit: 500ms, 30s, 2m, 1h");
    expect_parse_error("suite: a\ntimeout: 169h\n", TSC_ETOOBIG,
                       "2:10: timeout '169h' is over the limit of 7 days");
    expect_parse_error("suite: a\ntimeout: 99999999999999999999\n", TSC_EINVAL,
                       "2:10: bad timeout '99999999999999999999'; expected a positive whole "
                       "number of seconds or one with a unit: 500ms, 30s, 2m, 1h");

    struct tsc_suite s;
    char err[TSC_ERRMSG_SIZE];
    const char *ok = "suite: a\ntimeout: 168h\nvars:\n  e: ''\n  n: 1.5\n  t: yes\n"
                     "init:\n  timeout: 250ms\n";
    assert_int_equal(tsc_suite_parse("t", ok, strlen(ok), NULL, &s, err), 0);
    assert_int_equal(s.timeout_ms, 168ull * 3600 * 1000);
    assert_int_equal(s.init.timeout_ms, 250);
    assert_int_equal(s.init.n_scripts, 0);
    assert_string_equal(s.vars[0].value, "");
    assert_string_equal(s.vars[1].value, "1.5");
    assert_string_equal(s.vars[2].value, "yes");
    tsc_suite_free(&s);
    ok = "suite: a\ntimeout: 45\n";
    assert_int_equal(tsc_suite_parse("t", ok, strlen(ok), NULL, &s, err), 0);
    assert_int_equal(s.timeout_ms, 45000);
    tsc_suite_free(&s);
}

static void test_yaml_features_rejected(void **state)
{
    expect_parse_error("suite: a\nvars:\n  x: &v 1\n  y: *v\n", TSC_EINVAL,
                       "3:6: anchors (&v) are not supported");
    expect_parse_error("suite: a\ninit: *v\n", TSC_EINVAL, "2:7: aliases (*v) are not supported");
    expect_parse_error("suite: !!str a\n", TSC_EINVAL,
                       "1:8: tags (tag:yaml.org,2002:str) are not supported");
    expect_parse_error("suite: a\n\tinit: x\n", TSC_EINVAL,
                       "2:1: found a tab character that violates indentation (while scanning a "
                       "plain scalar at 1:8)");
    expect_parse_error("suite: \"a\xff\"\n", TSC_EINVAL, "1:10: invalid leading UTF-8 octet");
}

/* Placeholder positions in each scalar style, in the file and in a script. */
static void test_placeholder_positions(void **state)
{
    /* Plain, on one line and folded over two. */
    expect_parse_error("suite: a\ninit: echo {{ x }}\n", TSC_EINVAL, "2:12: unknown variable 'x'");
    expect_parse_error("suite: a\ninit: echo {{ tsc.name }}\n  and {{ y }}\n", TSC_EINVAL,
                       "3:7: unknown variable 'y'");
    /* Literal, with braces in the header's comment and a tab inside. */
    expect_parse_error("suite: a\ninit: | # {{ not-a-placeholder\n  a\n\n  \tb {{ z }}\n",
                       TSC_EINVAL, "5:6: unknown variable 'z'");
    /* Folded and quoted: the scalar's start. */
    expect_parse_error("suite: a\ninit: >\n  a\n  b {{ z }}\n", TSC_EINVAL,
                       "2:7: unknown variable 'z'");
    expect_parse_error("suite: a\ninit: \"a\\n {{ z }}\"\n", TSC_EINVAL,
                       "2:7: unknown variable 'z'");
    /* CRLF line ends and UTF-8 count as libyaml counts them: one each. */
    expect_parse_error("suite: a\r\ninit: |\r\n  \xc3\xa9\xc3\xa9 {{ w }}\r\n", TSC_EINVAL,
                       "3:6: unknown variable 'w'");
    /* Bad placeholders report the reason. */
    expect_parse_error("suite: a\ncases:\n  - name: c\n    run: echo {{ x\n", TSC_EINVAL,
                       "4:15: unterminated placeholder (no '}}' on the same line; write "
                       "{{ tsc.open }} for a literal '{{')");
    /* follow: paths are templates too, checked and located the same way. */
    expect_parse_error("suite: a\nfollow:\n  all: |\n    x.log\n    {{ nope }}.log\n", TSC_EINVAL,
                       "5:5: unknown variable 'nope'");
    /* Variables may be defined after the scripts that use them. */
    struct tsc_suite s;
    char err[TSC_ERRMSG_SIZE];
    const char *ok = "suite: a\ninit: echo {{ later }}\nvars: {later: 1}\n";
    assert_int_equal(tsc_suite_parse("t", ok, strlen(ok), NULL, &s, err), 0);
    tsc_suite_free(&s);
}

/* follow: one path per line per role, in the compiled suite and through
 * its encoding; a suite without it encodes as before (no "follow" key). */
static void test_follow(void **state)
{
    struct tsc_suite s, d;
    struct tsc_buf b;
    char err[TSC_ERRMSG_SIZE] = "";
    const char *text =
        "suite: f\nfollow:\n  all: |\n    redis.log\n    /var/log/{{ tsc.name }}.log\n"
        "  db: /tmp/db.log\ninit: true\n";
    assert_int_equal(tsc_suite_parse("t.yaml", text, strlen(text), NULL, &s, err), 0);
    assert_int_equal(s.follow.n_scripts, 2);
    assert_string_equal(s.follow.scripts[0].role, "");
    assert_string_equal(s.follow.scripts[0].text, "redis.log\n/var/log/{{ tsc.name }}.log\n");
    assert_string_equal(s.follow.scripts[1].role, "db");
    tsc_buf_init(&b);
    assert_int_equal(tsc_suite_encode(&s, &b, err), 0);
    assert_int_equal(tsc_suite_decode(b.data, b.len, &d, err), 0);
    assert_int_equal(d.follow.n_scripts, 2);
    assert_string_equal(d.follow.scripts[1].text, "/tmp/db.log");
    tsc_suite_free(&d);
    tsc_suite_free(&s);
    tsc_buf_reset(&b);
    const char *plain = "suite: f\ninit: true\n";
    assert_int_equal(tsc_suite_parse("t.yaml", plain, strlen(plain), NULL, &s, err), 0);
    assert_int_equal(tsc_suite_encode(&s, &b, err), 0);
    assert_null(memmem(b.data, b.len, "follow", 6));
    tsc_suite_free(&s);
    tsc_buf_free(&b);
}

static void test_limits(void **state)
{
    /* 17 scripts in one stage. */
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "suite: a\ninit:\n");
    for (int i = 0; i < TSC_SUITE_MAX_SCRIPTS + 1; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "  r%d: x\n", i);
    expect_parse_error(text, TSC_ETOOBIG, "19:3: more than 16 scripts in suite init");

    /* A script over 64 KiB. */
    size_t big = TSC_SUITE_MAX_SCRIPT + 16;
    char *t = malloc(big + 64);
    n = (size_t)sprintf(t, "suite: a\nfinalize: ");
    memset(t + n, 'x', TSC_SUITE_MAX_SCRIPT + 1);
    t[n + TSC_SUITE_MAX_SCRIPT + 1] = '\0';
    expect_parse_error(t, TSC_ETOOBIG, "2:11: suite finalize is over the limit of 65536 bytes");
    free(t);

    /* 1001 cases. */
    size_t cap = 64 + 20 * (TSC_SUITE_MAX_CASES + 1);
    t = malloc(cap);
    n = (size_t)sprintf(t, "suite: a\ncases:\n");
    for (int i = 0; i <= TSC_SUITE_MAX_CASES; i++)
        n += (size_t)snprintf(t + n, cap - n, "- name: c%d\n", i);
    expect_parse_error(t, TSC_ETOOBIG, "1003:3: more than 1000 cases");
    free(t);

    /* Each script within its limit, the whole over the encoded limit. */
    cap = 16 * (TSC_SUITE_MAX_SCRIPT + 64);
    t = malloc(cap);
    n = (size_t)sprintf(t, "suite: a\ninit:\n");
    for (int i = 0; i < 9; i++) {
        n += (size_t)sprintf(t + n, "  r%d: ", i);
        memset(t + n, 'y', TSC_SUITE_MAX_SCRIPT);
        n += TSC_SUITE_MAX_SCRIPT;
        t[n++] = '\n';
    }
    t[n] = '\0';
    expect_parse_error(t, TSC_ETOOBIG, "1:1: the encoded suite is over the limit of 524288 bytes");
    free(t);

    struct tsc_suite s;
    char err[TSC_ERRMSG_SIZE];
    assert_int_equal(tsc_suite_parse("t", "", (4u << 20) + 1, NULL, &s, err), TSC_ETOOBIG);
    assert_string_equal(err, "t:1:1: the suite file is over the limit of 4194304 bytes");
}

static void test_out_of_memory(void **state)
{
    char path[512], err[TSC_ERRMSG_SIZE];
    struct tsc_suite s;
    snprintf(path, sizeof path, "%s/full.yaml", DATA);
    int rc = TSC_ENOMEM;
    unsigned long n;
    for (n = 1; rc != 0 && n < 5000; n++) {
        tsc_alloc_fail_after(n);
        rc = tsc_suite_load(path, &s, err);
        tsc_alloc_fail_after(0);
        assert_true(rc == 0 || rc == TSC_ENOMEM);
        if (rc != 0)
            assert_null(s.name);
    }
    assert_int_equal(rc, 0);
    assert_true(n > 20);
    tsc_suite_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_files),
        cmocka_unit_test(test_full_suite),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_vars_and_timeouts),
        cmocka_unit_test(test_yaml_features_rejected),
        cmocka_unit_test(test_placeholder_positions),
        cmocka_unit_test(test_follow),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
