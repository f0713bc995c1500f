/* tsc — tests for the compiled suite (wire/suite.h): names, checks, the
 * codec (round trip, every truncated prefix, bit flips, hand-made hostile
 * encodings, allocation failures) and the stage helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/error.h"
#include "suite_util.h"
#include "wire/mp.h"
#include "wire/suite.h"

static void build_full(struct tsc_suite *s)
{
    memset(s, 0, sizeof *s);
    s->name = xstr("redis-replication");
    add_string(&s->names, &s->n_names, "node1");
    add_string(&s->names, &s->n_names, "node2");
    add_string(&s->roles, &s->n_roles, "server");
    add_var(s, "port", "6379");
    add_var(s, "greeting", "it's a \"test\"\n$(no)");
    s->timeout_ms = 30000;
    add_script(&s->init, "", "echo init {{ tsc.name }} {{ port }}");
    s->init.timeout_ms = 5000;
    add_script(&s->finalize, "server", "redis-cli -p {{ port }} shutdown");
    add_script(&s->finalize, "", "true");
    struct tsc_suite_case *c = add_case(s, "write-read");
    add_script(&c->stage[TSC_CASE_INIT], "server", "redis-server --port {{ port }} &");
    add_script(&c->stage[TSC_CASE_RUN], "client", "echo {{ greeting }} {{ tsc.machines }}");
    add_script(&c->stage[TSC_CASE_RUN], "server", "sleep 1");
    c->stage[TSC_CASE_RUN].timeout_ms = 60000;
    c = add_case(s, "empty");
    (void)c;
}

static void encode_ok(const struct tsc_suite *s, struct tsc_buf *b)
{
    char err[TSC_ERRMSG_SIZE] = "";
    tsc_buf_init(b);
    int rc = tsc_suite_encode(s, b, err);
    if (rc != 0)
        fail_msg("encode: %s", err);
}

static void test_check_name(void **state)
{
    char err[TSC_ERRMSG_SIZE];
    char n63[64], n64[65];
    memset(n63, 'a', 63);
    n63[63] = '\0';
    memset(n64, 'a', 64);
    n64[64] = '\0';
    const char *good[] = {"a", "node-1", "A_b.c", "0", "a-", n63};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(tsc_suite_check_name(good[i], err), 0);
    const char *bad[] = {"", "-a", ".a", "a b", "a/b", "\xc3\xa9", "a\n", n64, "{{x}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(tsc_suite_check_name(bad[i], err), TSC_EINVAL);
    tsc_suite_check_name("a b", err);
    assert_string_equal(err, "name 'a b' contains ' ' (allowed: A-Z a-z 0-9 _ . -)");
    tsc_suite_check_name("a\n", err);
    assert_string_equal(err, "name 'a\\x0a' contains '\\x0a' (allowed: A-Z a-z 0-9 _ . -)");
    assert_int_equal(tsc_suite_check_name(NULL, err), TSC_EINVAL);
}

static void test_round_trip(void **state)
{
    struct tsc_suite s, d;
    struct tsc_buf b, b2;
    char err[TSC_ERRMSG_SIZE] = "";
    build_full(&s);
    encode_ok(&s, &b);
    assert_int_equal(tsc_suite_decode(b.data, b.len, &d, err), 0);
    assert_true(suite_equal(&s, &d));
    encode_ok(&d, &b2);
    assert_int_equal(b.len, b2.len);
    assert_memory_equal(b.data, b2.data, b.len);
    tsc_suite_free(&d);
    tsc_buf_free(&b2);

    /* Encode appends; on error the buffer is as it was. */
    size_t len = b.len;
    assert_int_equal(tsc_suite_encode(&s, &b, err), 0);
    assert_int_equal(b.len, 2 * len);
    assert_memory_equal(b.data, b.data + len, len);
    tsc_buf_free(&b);

    /* The minimal suite: just a name. */
    tsc_suite_free(&s);
    s.name = xstr("x");
    encode_ok(&s, &b);
    assert_int_equal(tsc_suite_decode(b.data, b.len, &d, err), 0);
    assert_true(suite_equal(&s, &d));
    assert_int_equal(tsc_suite_n_stages(&d), 2);
    tsc_suite_free(&d);
    tsc_suite_free(&s);
    tsc_buf_free(&b);
}

static void test_truncations_and_flips(void **state)
{
    struct tsc_suite s, d;
    struct tsc_buf b;
    char err[TSC_ERRMSG_SIZE];
    build_full(&s);
    encode_ok(&s, &b);
    tsc_suite_free(&s);
    for (size_t cut = 0; cut < b.len; cut++) {
        /* A copy of exactly cut bytes, so ASan sees any over-read. */
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, b.data, cut);
        err[0] = '\0';
        assert_int_equal(tsc_suite_decode(p, cut, &d, err), TSC_EMALFORMED);
        assert_true(strncmp(err, "suite: ", 7) == 0);
        assert_null(d.name);
        assert_null(d.cases);
        free(p);
    }
    int decoded = 0;
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b.data[i] ^= (uint8_t)(1u << bit);
            int rc = tsc_suite_decode(b.data, b.len, &d, err);
            assert_true(rc == 0 || rc == TSC_EMALFORMED || rc == TSC_ETOOBIG || rc == TSC_EINVAL);
            if (rc == 0) {
                struct tsc_buf again;
                struct tsc_suite d2;
                encode_ok(&d, &again);
                assert_int_equal(tsc_suite_decode(again.data, again.len, &d2, err), 0);
                assert_true(suite_equal(&d, &d2));
                tsc_suite_free(&d2);
                tsc_buf_free(&again);
                tsc_suite_free(&d);
                decoded++;
            }
            b.data[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_true(decoded > 0); /* flips inside script text still decode */
    tsc_buf_free(&b);
}

/* Encoding fails with msg; so does tsc_suite_check unless only the total
 * size is wrong (which only encoding finds). */
static void expect_encode_error(struct tsc_suite *s, const char *msg)
{
    int size_only = strstr(msg, "over the limit") != NULL;
    struct tsc_buf b;
    char err[TSC_ERRMSG_SIZE] = "";
    tsc_buf_init(&b);
    assert_int_equal(tsc_buf_append(&b, "xyz", 3), 0);
    assert_int_equal(tsc_suite_encode(s, &b, err), TSC_EINVAL);
    assert_int_equal(tsc_suite_check(s, NULL), size_only ? 0 : TSC_EINVAL);
    if (strstr(err, msg) == NULL)
        fail_msg("expected '%s' in '%s'", msg, err);
    assert_int_equal(b.len, 3);
    tsc_buf_free(&b);
    tsc_suite_free(s);
}

static void test_check_rejects(void **state)
{
    struct tsc_suite s;
    build_full(&s);
    add_script(&s.cases[0].stage[TSC_CASE_FINALIZE], "db", "echo {{ nope }}");
    expect_encode_error(&s, "case 'write-read' finalize, role 'db': unknown variable 'nope'");

    build_full(&s);
    add_script(&s.init, "server", "echo {{ bad");
    expect_encode_error(&s, "suite init, role 'server': unterminated placeholder");

    build_full(&s);
    add_case(&s, "empty");
    expect_encode_error(&s, "case 'empty' appears twice");

    build_full(&s);
    add_var(&s, "port", "1");
    expect_encode_error(&s, "variable 'port' appears twice");

    build_full(&s);
    add_var(&s, "tsc.x", "1");
    expect_encode_error(&s, "names tsc.* are reserved");

    build_full(&s);
    tsc_free(s.name);
    s.name = xstr("-x");
    expect_encode_error(&s, "suite name: name '-x' starts with '-'");

    build_full(&s);
    add_string(&s.roles, &s.n_roles, "a b");
    expect_encode_error(&s, "machine role: name 'a b' contains ' '");

    build_full(&s);
    add_string(&s.names, &s.n_names, "node1");
    expect_encode_error(&s, "machine name 'node1' appears twice");

    build_full(&s);
    add_script(&s.finalize, "server", "again");
    expect_encode_error(&s, "suite finalize: two scripts for role 'server'");

    build_full(&s);
    for (int i = 0; i < TSC_SUITE_MAX_SCRIPTS + 1; i++) {
        char role[8];
        snprintf(role, sizeof role, "r%d", i);
        add_script(&s.cases[1].stage[TSC_CASE_RUN], role, "x");
    }
    expect_encode_error(&s, "case 'empty' run: more than 16 scripts");

    build_full(&s);
    s.cases[1].stage[TSC_CASE_INIT].timeout_ms = TSC_SUITE_MAX_TIMEOUT_MS + 1;
    expect_encode_error(&s, "case 'empty' init: timeout over");

    /* Within every per-field limit, over the total. */
    build_full(&s);
    char *big = malloc(TSC_SUITE_MAX_SCRIPT + 1);
    memset(big, 'x', TSC_SUITE_MAX_SCRIPT);
    big[TSC_SUITE_MAX_SCRIPT] = '\0';
    for (int i = 0; i < 9; i++) {
        char role[8];
        snprintf(role, sizeof role, "r%d", i);
        add_script(&s.cases[1].stage[TSC_CASE_RUN], role, big);
    }
    free(big);
    expect_encode_error(&s, "over the limit of 524288 bytes");
}

/* Hand-made encodings through the same writer the codec uses. */
static void pack_s(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static int decode_with(void (*fill)(msgpack_packer *pk), char *err)
{
    struct tsc_buf b;
    struct tsc_mp_writer w;
    struct tsc_suite d;
    tsc_buf_init(&b);
    tsc_mp_writer_init(&w, &b);
    fill(&w.pk);
    assert_int_equal(tsc_mp_writer_status(&w), 0);
    err[0] = '\0';
    int rc = tsc_suite_decode(b.data, b.len, &d, err);
    if (rc == 0) {
        assert_string_equal(d.name, "n");
        tsc_suite_free(&d);
    } else {
        assert_null(d.name);
    }
    tsc_buf_free(&b);
    return rc;
}

static void fill_unknown_keys(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 4);
    pack_s(pk, "future");
    msgpack_pack_array(pk, 2);
    msgpack_pack_nil(pk);
    msgpack_pack_true(pk);
    pack_s(pk, "v");
    msgpack_pack_uint8(pk, 1);
    pack_s(pk, "name");
    pack_s(pk, "n");
    pack_s(pk, "init");
    msgpack_pack_map(pk, 1);
    pack_s(pk, "also-future");
    msgpack_pack_int8(pk, -3);
}

static void fill_version_2(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    pack_s(pk, "v");
    msgpack_pack_uint8(pk, 2);
    pack_s(pk, "name");
    pack_s(pk, "n");
}

static void fill_no_version(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    pack_s(pk, "name");
    pack_s(pk, "n");
}

static void fill_duplicate_key(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    pack_s(pk, "v");
    msgpack_pack_uint8(pk, 1);
    pack_s(pk, "name");
    pack_s(pk, "n");
    pack_s(pk, "name");
    pack_s(pk, "m");
}

static void fill_too_many_cases(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    pack_s(pk, "v");
    msgpack_pack_uint8(pk, 1);
    pack_s(pk, "name");
    pack_s(pk, "n");
    pack_s(pk, "cases");
    msgpack_pack_array(pk, TSC_SUITE_MAX_CASES + 1);
    for (int i = 0; i < TSC_SUITE_MAX_CASES + 1; i++)
        msgpack_pack_nil(pk);
}

static void fill_nul_in_script(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    pack_s(pk, "v");
    msgpack_pack_uint8(pk, 1);
    pack_s(pk, "name");
    pack_s(pk, "n");
    pack_s(pk, "finalize");
    msgpack_pack_map(pk, 1);
    pack_s(pk, "scripts");
    msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, 2);
    pack_s(pk, "");
    msgpack_pack_str_with_body(pk, "a\0b", 3);
}

static void fill_unknown_variable(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    pack_s(pk, "v");
    msgpack_pack_uint8(pk, 1);
    pack_s(pk, "name");
    pack_s(pk, "n");
    pack_s(pk, "init");
    msgpack_pack_map(pk, 1);
    pack_s(pk, "scripts");
    msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, 2);
    pack_s(pk, "");
    pack_s(pk, "echo {{ x }}");
}

static void fill_trailing(msgpack_packer *pk)
{
    fill_version_2(pk);
    msgpack_pack_nil(pk);
}

static void fill_long_name(msgpack_packer *pk)
{
    char n[100];
    memset(n, 'a', sizeof n - 1);
    n[sizeof n - 1] = '\0';
    msgpack_pack_map(pk, 2);
    pack_s(pk, "v");
    msgpack_pack_uint8(pk, 1);
    pack_s(pk, "name");
    pack_s(pk, n);
}

static void test_decode_rejects(void **state)
{
    char err[TSC_ERRMSG_SIZE];
    assert_int_equal(decode_with(fill_unknown_keys, err), 0);
    assert_int_equal(decode_with(fill_version_2, err), TSC_EMALFORMED);
    assert_string_equal(err, "suite: v: unsupported version 2 (expected 1)");
    assert_int_equal(decode_with(fill_no_version, err), TSC_EMALFORMED);
    assert_int_equal(decode_with(fill_duplicate_key, err), TSC_EMALFORMED);
    assert_string_equal(err, "suite: top level.name: appears twice");
    assert_int_equal(decode_with(fill_too_many_cases, err), TSC_ETOOBIG);
    assert_string_equal(err, "suite: cases: 1001 entries, over the limit of 1000");
    assert_int_equal(decode_with(fill_nul_in_script, err), TSC_EMALFORMED);
    assert_string_equal(err, "suite: finalize.scripts[0]: contains a NUL byte");
    assert_int_equal(decode_with(fill_unknown_variable, err), TSC_EINVAL);
    assert_string_equal(err, "suite: suite init, role 'all': unknown variable 'x'");
    assert_int_equal(decode_with(fill_trailing, err), TSC_EMALFORMED);
    assert_int_equal(decode_with(fill_long_name, err), TSC_ETOOBIG);
    assert_string_equal(err, "suite: name: 99 bytes, over the limit of 63");

    struct tsc_suite d;
    uint8_t *huge = calloc(1, TSC_SUITE_MAX_ENCODED + 1);
    assert_int_equal(tsc_suite_decode(huge, TSC_SUITE_MAX_ENCODED + 1, &d, err), TSC_ETOOBIG);
    free(huge);
    assert_int_equal(tsc_suite_decode((const uint8_t *)"", 0, &d, err), TSC_EMALFORMED);
    assert_int_equal(tsc_suite_decode((const uint8_t *)"\xc1", 1, &d, err), TSC_EMALFORMED);
}

static void test_decode_out_of_memory(void **state)
{
    struct tsc_suite s, d;
    struct tsc_buf b;
    char err[TSC_ERRMSG_SIZE];
    build_full(&s);
    encode_ok(&s, &b);
    int rc = TSC_ENOMEM;
    unsigned long n;
    for (n = 1; rc != 0 && n < 1000; n++) {
        tsc_alloc_fail_after(n);
        rc = tsc_suite_decode(b.data, b.len, &d, err);
        tsc_alloc_fail_after(0);
        assert_true(rc == 0 || rc == TSC_ENOMEM);
        if (rc != 0)
            assert_null(d.name);
    }
    assert_int_equal(rc, 0);
    assert_true(n > 10);
    assert_true(suite_equal(&s, &d));
    tsc_suite_free(&d);

    /* Encoding: out of memory leaves the buffer as it was. */
    for (n = 1, rc = TSC_ENOMEM; rc != 0 && n < 100; n++) {
        struct tsc_buf o;
        tsc_buf_init(&o);
        tsc_alloc_fail_after(n);
        rc = tsc_suite_encode(&s, &o, err);
        tsc_alloc_fail_after(0);
        if (rc != 0) {
            assert_int_equal(rc, TSC_ENOMEM);
            assert_int_equal(o.len, 0);
        }
        tsc_buf_free(&o);
    }
    assert_int_equal(rc, 0);
    tsc_suite_free(&s);
    tsc_buf_free(&b);
}

static void test_script_for(void **state)
{
    struct tsc_suite_stage st = {0};
    add_script(&st, "server", "S");
    add_script(&st, "client", "C");
    add_script(&st, "", "ALL");
    add_script(&st, "db", "D");
    const char *client[] = {"client"};
    const char *db_server[] = {"db", "server"}; /* suite order wins, not the machine's */
    const char *other[] = {"other"};
    assert_string_equal(tsc_suite_script_for(&st, client, 1)->text, "C");
    assert_string_equal(tsc_suite_script_for(&st, db_server, 2)->text, "S");
    assert_string_equal(tsc_suite_script_for(&st, other, 1)->text, "ALL");
    assert_string_equal(tsc_suite_script_for(&st, NULL, 0)->text, "ALL");
    assert_string_equal(tsc_suite_script_for(&st, db_server, 1)->text, "D");

    struct tsc_suite_stage no_all = {0};
    add_script(&no_all, "server", "S");
    assert_null(tsc_suite_script_for(&no_all, other, 1));
    assert_null(tsc_suite_script_for(&no_all, NULL, 0));
    struct tsc_suite_stage empty = {0};
    assert_null(tsc_suite_script_for(&empty, client, 1));

    struct tsc_suite s = {0};
    s.init = st;
    s.finalize = no_all;
    s.name = xstr("x");
    tsc_suite_free(&s);
}

static void test_stages(void **state)
{
    struct tsc_suite s;
    build_full(&s);
    assert_int_equal(tsc_suite_n_stages(&s), 8);
    assert_ptr_equal(tsc_suite_stage_at(&s, 0), &s.init);
    assert_ptr_equal(tsc_suite_stage_at(&s, 1), &s.cases[0].stage[TSC_CASE_INIT]);
    assert_ptr_equal(tsc_suite_stage_at(&s, 2), &s.cases[0].stage[TSC_CASE_RUN]);
    assert_ptr_equal(tsc_suite_stage_at(&s, 3), &s.cases[0].stage[TSC_CASE_FINALIZE]);
    assert_ptr_equal(tsc_suite_stage_at(&s, 4), &s.cases[1].stage[TSC_CASE_INIT]);
    assert_ptr_equal(tsc_suite_stage_at(&s, 6), &s.cases[1].stage[TSC_CASE_FINALIZE]);
    assert_ptr_equal(tsc_suite_stage_at(&s, 7), &s.finalize);
    assert_null(tsc_suite_stage_at(&s, 8));
    assert_null(tsc_suite_stage_at(&s, UINT32_MAX));
    assert_int_equal(tsc_suite_timeout_ms(&s, 0), 5000);  /* its own */
    assert_int_equal(tsc_suite_timeout_ms(&s, 2), 60000); /* its own */
    assert_int_equal(tsc_suite_timeout_ms(&s, 1), 30000); /* the suite's */
    assert_int_equal(tsc_suite_timeout_ms(&s, 7), 30000);
    s.timeout_ms = 0;
    assert_int_equal(tsc_suite_timeout_ms(&s, 7), TSC_SUITE_DEFAULT_TIMEOUT_MS);
    tsc_suite_free(&s);
    assert_null(s.name);
    assert_int_equal(tsc_suite_n_stages(&s), 2);
    assert_ptr_equal(tsc_suite_stage_at(&s, 1), &s.finalize);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_name),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_truncations_and_flips),
        cmocka_unit_test(test_check_rejects),
        cmocka_unit_test(test_decode_rejects),
        cmocka_unit_test(test_decode_out_of_memory),
        cmocka_unit_test(test_script_for),
        cmocka_unit_test(test_stages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
