/* tsc — run-log records and barrier messages: round trips, limits on both
 * sides, truncation (every prefix of a valid encoding is an error), trailing
 * bytes, allocation failures, and REPORT signatures against both crypto
 * tables (verify, tamper, wrong key). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "barrier/runlog.h"
#include "common/alloc.h"
#include "wire/mp.h"

static struct tsc_run_participant parts[3];
static uint64_t timeouts[8];
static const uint8_t suite_bytes[] = {0x81, 0xa1, 'v', 0x01};

static void sample_submit(struct tsc_runlog_submit *s)
{
    memset(parts, 0, sizeof parts);
    for (int i = 0; i < 3; i++) {
        parts[i].id = 0x1000 + (uint64_t)i * 0x10000000000ull;
        parts[i].addr.ip = 0xc6120001u + (uint32_t)i;
        parts[i].addr.port = (uint16_t)(7946 + i);
        snprintf(parts[i].name, sizeof parts[i].name, "node%d", i);
        strcpy(parts[i].role, i == 0 ? "" : "db");
    }
    memset(parts[2].name, 'n', TSC_RUN_NAME - 1); /* the longest name */
    parts[2].name[TSC_RUN_NAME - 1] = 0;
    for (int k = 0; k < 8; k++)
        timeouts[k] = 1000000ull * (uint64_t)(k + 1) + (k == 7 ? (1ull << 40) : 0);
    memset(s, 0, sizeof *s);
    s->nonce = 0xfeedfacecafebeefull;
    s->submitted_us = 1700000000000000ull;
    strcpy(s->suite_name, "set-get");
    s->n_cases = 2;
    s->n_participants = 3;
    s->participants = parts;
    s->suite = suite_bytes;
    s->suite_len = sizeof suite_bytes;
}

/* Every proper prefix is an error, and so is one byte too many. */
static void check_prefixes(const struct tsc_buf *b)
{
    struct tsc_runlog rec;
    for (size_t n = 0; n < b->len; n++)
        assert_int_not_equal(tsc_runlog_decode(b->data, n, &rec), 0);
    struct tsc_buf more;
    tsc_buf_init(&more);
    assert_int_equal(tsc_buf_append(&more, b->data, b->len), 0);
    assert_int_equal(tsc_buf_append(&more, "\xc0", 1), 0);
    assert_int_equal(tsc_runlog_decode(more.data, more.len, &rec), TSC_EMALFORMED);
    tsc_buf_free(&more);
}

static void test_submit_round_trip(void **state)
{
    struct tsc_runlog_submit s;
    struct tsc_runlog rec;
    struct tsc_buf b;
    sample_submit(&s);
    tsc_buf_init(&b);
    assert_int_equal(tsc_runlog_encode_submit(&s, timeouts, &b), 0);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), 0);
    assert_int_equal(rec.kind, TSC_RUNLOG_SUBMIT);
    const struct tsc_runlog_submit *d = &rec.submit;
    assert_int_equal(d->nonce, s.nonce);
    assert_int_equal(d->submitted_us, s.submitted_us);
    assert_string_equal(d->suite_name, "set-get");
    assert_int_equal(d->n_cases, 2);
    assert_int_equal(tsc_runlog_n_stages(d), 8);
    for (uint32_t k = 0; k < 8; k++)
        assert_int_equal(tsc_runlog_timeout(d, k), timeouts[k]);
    assert_int_equal(tsc_runlog_timeout(d, 8), 0);
    assert_int_equal(d->n_participants, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(d->participants[i].id, parts[i].id);
        assert_int_equal(d->participants[i].addr.ip, parts[i].addr.ip);
        assert_int_equal(d->participants[i].addr.port, parts[i].addr.port);
        assert_string_equal(d->participants[i].name, parts[i].name);
        assert_string_equal(d->participants[i].role, parts[i].role);
    }
    assert_int_equal(d->suite_len, sizeof suite_bytes);
    assert_memory_equal(d->suite, suite_bytes, sizeof suite_bytes);
    assert_true(d->suite >= b.data && d->suite < b.data + b.len); /* borrowed */
    tsc_runlog_free(&rec);
    check_prefixes(&b);
    tsc_buf_free(&b);
}

static void test_submit_limits(void **state)
{
    struct tsc_runlog_submit s;
    struct tsc_buf b;
    tsc_buf_init(&b);
    assert_int_equal(tsc_buf_append(&b, "x", 1), 0);
    sample_submit(&s);
    memset(parts[1].name, 'a', TSC_RUN_NAME); /* no room for the NUL */
    assert_int_equal(tsc_runlog_encode_submit(&s, timeouts, &b), TSC_EINVAL);
    sample_submit(&s);
    parts[1].name[0] = 0;
    assert_int_equal(tsc_runlog_encode_submit(&s, timeouts, &b), TSC_EINVAL);
    sample_submit(&s);
    parts[2].id = parts[0].id;
    assert_int_equal(tsc_runlog_encode_submit(&s, timeouts, &b), TSC_EINVAL);
    sample_submit(&s);
    parts[1].id = 0;
    assert_int_equal(tsc_runlog_encode_submit(&s, timeouts, &b), TSC_EINVAL);
    sample_submit(&s);
    s.n_participants = 0;
    assert_int_equal(tsc_runlog_encode_submit(&s, timeouts, &b), TSC_EINVAL);
    sample_submit(&s);
    s.n_participants = TSC_RUN_MAX_PARTICIPANTS + 1;
    assert_int_equal(tsc_runlog_encode_submit(&s, timeouts, &b), TSC_EINVAL);
    sample_submit(&s);
    s.n_cases = (TSC_RUN_MAX_STAGES - 2) / 3 + 1;
    assert_int_equal(tsc_runlog_encode_submit(&s, timeouts, &b), TSC_EINVAL);
    assert_int_equal(b.len, 1); /* out unchanged */
    tsc_buf_free(&b);
}

/* A SUBMIT written by hand, to break the limits the encoder keeps. */
static void craft_submit(struct tsc_buf *b, size_t name_len, uint32_t n_cases, int tdelta,
                         int dup_ids)
{
    struct tsc_mp_writer w;
    char name[100];
    memset(name, 'n', sizeof name);
    tsc_buf_reset(b);
    tsc_mp_writer_init(&w, b);
    msgpack_packer *pk = &w.pk;
    msgpack_pack_array(pk, 8);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint64(pk, 1);
    msgpack_pack_uint64(pk, 2);
    msgpack_pack_str_with_body(pk, "s", 1);
    msgpack_pack_uint32(pk, n_cases);
    size_t tlen = (3 * (size_t)n_cases + 2) * 8 + (size_t)tdelta;
    msgpack_pack_bin(pk, tlen);
    for (size_t i = 0; i < tlen; i++)
        msgpack_pack_bin_body(pk, "\x01", 1);
    msgpack_pack_array(pk, 2);
    for (int i = 0; i < 2; i++) {
        msgpack_pack_array(pk, 5);
        msgpack_pack_uint64(pk, dup_ids ? 7 : 7 + (uint64_t)i);
        msgpack_pack_uint32(pk, 1);
        msgpack_pack_uint16(pk, 2);
        msgpack_pack_str_with_body(pk, name, i == 1 ? name_len : 3);
        msgpack_pack_str_with_body(pk, "", 0);
    }
    msgpack_pack_bin_with_body(pk, "", 0);
    assert_int_equal(tsc_mp_writer_status(&w), 0);
}

static void test_submit_decoder_limits(void **state)
{
    struct tsc_runlog rec;
    struct tsc_buf b;
    tsc_buf_init(&b);
    craft_submit(&b, TSC_RUN_NAME - 1, 1, 0, 0);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), 0);
    tsc_runlog_free(&rec);
    craft_submit(&b, TSC_RUN_NAME, 1, 0, 0);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), TSC_EMALFORMED);
    craft_submit(&b, 0, 1, 0, 0);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), TSC_EMALFORMED);
    craft_submit(&b, 3, 1, 8, 0);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), TSC_EMALFORMED);
    craft_submit(&b, 3, 1, 0, 1);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), TSC_EMALFORMED);
    craft_submit(&b, 3, 1000, 0, 0);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), 0);
    assert_int_equal(tsc_runlog_n_stages(&rec.submit), TSC_RUN_MAX_STAGES);
    tsc_runlog_free(&rec);
    craft_submit(&b, 3, 1001, 0, 0);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), TSC_EMALFORMED);
    /* An array header that claims more than the input holds. */
    const uint8_t lie[] = {0x98, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(tsc_runlog_decode(lie, sizeof lie, &rec), TSC_EMALFORMED);
    const uint8_t kind9[] = {0x92, 0x09, 0x01};
    assert_int_equal(tsc_runlog_decode(kind9, sizeof kind9, &rec), TSC_EMALFORMED);
    assert_int_equal(tsc_runlog_decode(NULL, 0, &rec), TSC_EMALFORMED);
    tsc_buf_free(&b);
}

static uint8_t big_output[TSC_RUN_MAX_OUTPUT + 1];

static void sample_stage(struct tsc_runlog_stage *s, struct tsc_stage_result *res)
{
    memset(s, 0, sizeof *s);
    memset(res, 0, 3 * sizeof *res);
    s->run = 42;
    s->stage = 5;
    s->outcome = TSC_STAGE_FAILED;
    s->decided_us = 99;
    strcpy(s->diagnosis, "stage 'case a run' failed: node1 failed (exit -3)");
    res[0] = (struct tsc_stage_result){TSC_RESULT_FAILED,       -3, 0,         1, 2,
                                       (const uint8_t *)"tail", 4,  "exit -3", 7};
    res[1] = (struct tsc_stage_result){TSC_RESULT_TIMEOUT, 0, -2000000000, 3, 4, NULL, 0, "", 0};
    res[2] = (struct tsc_stage_result){TSC_RESULT_PASSED,  0,    9, UINT64_MAX, 0, big_output,
                                       TSC_RUN_MAX_OUTPUT, NULL, 0};
    s->n_results = 3;
    s->results = res;
}

static void test_stage_round_trip(void **state)
{
    struct tsc_runlog_stage s;
    struct tsc_stage_result res[3];
    struct tsc_runlog rec;
    struct tsc_buf b;
    sample_stage(&s, res);
    tsc_buf_init(&b);
    assert_int_equal(tsc_runlog_encode_stage(&s, &b), 0);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), 0);
    assert_int_equal(rec.kind, TSC_RUNLOG_STAGE);
    assert_int_equal(rec.stage.run, 42);
    assert_int_equal(rec.stage.stage, 5);
    assert_int_equal(rec.stage.outcome, TSC_STAGE_FAILED);
    assert_int_equal(rec.stage.decided_us, 99);
    assert_string_equal(rec.stage.diagnosis, s.diagnosis);
    assert_int_equal(rec.stage.n_results, 3);
    for (int i = 0; i < 3; i++) {
        const struct tsc_stage_result *x = &rec.stage.results[i], *y = &res[i];
        assert_int_equal(x->status, y->status);
        assert_int_equal(x->exit_code, y->exit_code);
        assert_int_equal(x->signal, y->signal);
        assert_int_equal(x->start_us, y->start_us);
        assert_int_equal(x->end_us, y->end_us);
        assert_int_equal(x->output_len, y->output_len);
        assert_int_equal(x->message_len, y->message_len);
        if (y->output_len)
            assert_memory_equal(x->output, y->output, y->output_len);
        if (y->message_len)
            assert_memory_equal(x->message, y->message, y->message_len);
    }
    tsc_runlog_free(&rec);
    check_prefixes(&b);
    /* Allocation failure while decoding: an error, nothing kept. */
    tsc_alloc_fail_after(1);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), TSC_ENOMEM);
    tsc_alloc_fail_after(0);

    res[2].output_len = TSC_RUN_MAX_OUTPUT + 1;
    tsc_buf_reset(&b);
    assert_int_equal(tsc_runlog_encode_stage(&s, &b), TSC_EINVAL);
    res[2].output_len = 0;
    res[2].status = TSC_RESULT_PENDING;
    assert_int_equal(tsc_runlog_encode_stage(&s, &b), TSC_EINVAL);
    res[2].status = TSC_RESULT_ERROR + 1;
    assert_int_equal(tsc_runlog_encode_stage(&s, &b), TSC_EINVAL);
    res[2].status = TSC_RESULT_PASSED;
    s.outcome = 0;
    assert_int_equal(tsc_runlog_encode_stage(&s, &b), TSC_EINVAL);
    s.outcome = TSC_STAGE_PASSED;
    s.stage = TSC_RUN_MAX_STAGES;
    assert_int_equal(tsc_runlog_encode_stage(&s, &b), TSC_EINVAL);
    s.stage = 1;
    memset(s.diagnosis, 'd', sizeof s.diagnosis);
    assert_int_equal(tsc_runlog_encode_stage(&s, &b), TSC_EINVAL);
    assert_int_equal(b.len, 0);
    tsc_buf_free(&b);
}

/* A STAGE with one result, its output `out` bytes and its diagnosis `diag`
 * bytes, written by hand. */
static void craft_stage(struct tsc_buf *b, size_t out, size_t diag, uint8_t status)
{
    static char d[TSC_RUN_MAX_DIAG + 1];
    struct tsc_mp_writer w;
    memset(d, 'd', sizeof d);
    tsc_buf_reset(b);
    tsc_mp_writer_init(&w, b);
    msgpack_packer *pk = &w.pk;
    msgpack_pack_array(pk, 7);
    msgpack_pack_uint8(pk, 2);
    msgpack_pack_uint64(pk, 3);
    msgpack_pack_uint32(pk, 0);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint64(pk, 0);
    msgpack_pack_str_with_body(pk, d, diag);
    msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, 7);
    msgpack_pack_uint8(pk, status);
    msgpack_pack_int64(pk, -5);
    msgpack_pack_int64(pk, (int64_t)INT32_MAX + (status == 4)); /* DEAD: one too big */
    msgpack_pack_uint64(pk, 0);
    msgpack_pack_uint64(pk, 0);
    msgpack_pack_bin_with_body(pk, big_output, out);
    msgpack_pack_str_with_body(pk, "", 0);
    assert_int_equal(tsc_mp_writer_status(&w), 0);
}

static void test_stage_decoder_limits(void **state)
{
    struct tsc_runlog rec;
    struct tsc_buf b;
    tsc_buf_init(&b);
    craft_stage(&b, TSC_RUN_MAX_OUTPUT, TSC_RUN_MAX_DIAG - 1, TSC_RESULT_PASSED);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), 0);
    assert_int_equal(rec.stage.results[0].exit_code, -5);
    assert_int_equal(rec.stage.results[0].signal, INT32_MAX);
    tsc_runlog_free(&rec);
    craft_stage(&b, TSC_RUN_MAX_OUTPUT + 1, 0, TSC_RESULT_PASSED);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), TSC_EMALFORMED);
    craft_stage(&b, 0, TSC_RUN_MAX_DIAG, TSC_RESULT_PASSED);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), TSC_EMALFORMED);
    craft_stage(&b, 0, 0, TSC_RESULT_PENDING);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), TSC_EMALFORMED);
    craft_stage(&b, 0, 0, TSC_RESULT_DEAD);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), TSC_EMALFORMED);
    tsc_buf_free(&b);
}

static void test_cancel_round_trip(void **state)
{
    struct tsc_runlog_cancel c = {.run = 7, .at_us = 8, .reason = "operator said so"};
    struct tsc_runlog rec;
    struct tsc_buf b;
    tsc_buf_init(&b);
    assert_int_equal(tsc_runlog_encode_cancel(&c, &b), 0);
    assert_int_equal(tsc_runlog_decode(b.data, b.len, &rec), 0);
    assert_int_equal(rec.kind, TSC_RUNLOG_CANCEL);
    assert_int_equal(rec.cancel.run, 7);
    assert_int_equal(rec.cancel.at_us, 8);
    assert_string_equal(rec.cancel.reason, "operator said so");
    check_prefixes(&b);
    c.run = 0;
    tsc_buf_reset(&b);
    assert_int_equal(tsc_runlog_encode_cancel(&c, &b), TSC_EINVAL);
    tsc_buf_free(&b);
}

static void test_start_and_cancel_messages(void **state)
{
    struct tsc_stage_start m = {9, 3,    17, 2,    30000000, "echo hi\n", 8, "case-a",
                                6, "db", 2,  NULL, 0},
                           d;
    struct tsc_stage_cancel c = {9, 17, 4}, dc;
    struct tsc_buf b;
    tsc_buf_init(&b);
    assert_int_equal(tsc_stage_start_encode(&m, &b), 0);
    assert_int_equal(tsc_stage_start_decode(b.data, b.len, &d), 0);
    assert_int_equal(d.run, 9);
    assert_int_equal(d.stage, 3);
    assert_int_equal(d.term, 17);
    assert_int_equal(d.index, 2);
    assert_int_equal(d.timeout_us, 30000000);
    assert_int_equal(d.script_len, 8);
    assert_memory_equal(d.script, "echo hi\n", 8);
    assert_int_equal(d.case_name_len, 6);
    assert_memory_equal(d.case_name, "case-a", 6);
    assert_int_equal(d.role_len, 2);
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(tsc_stage_start_decode(b.data, n, &d), TSC_EMALFORMED);
    char longname[TSC_RUN_NAME];
    memset(longname, 'c', sizeof longname);
    m.case_name = longname;
    m.case_name_len = TSC_RUN_NAME;
    tsc_buf_reset(&b);
    assert_int_equal(tsc_stage_start_encode(&m, &b), TSC_EINVAL);
    m.case_name_len = 0;
    m.index = TSC_RUN_MAX_PARTICIPANTS;
    assert_int_equal(tsc_stage_start_encode(&m, &b), TSC_EINVAL);

    assert_int_equal(tsc_stage_cancel_encode(&c, &b), 0);
    assert_int_equal(tsc_stage_cancel_decode(b.data, b.len, &dc), 0);
    assert_int_equal(dc.run, 9);
    assert_int_equal(dc.term, 17);
    assert_int_equal(dc.stage, 4);
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(tsc_stage_cancel_decode(b.data, n, &dc), TSC_EMALFORMED);
    tsc_buf_free(&b);
}

static void test_report_signature(void **state)
{
    const struct tsc_crypto *c = *state;
    uint8_t seed[TSC_SEED_BYTES], pk[TSC_PK_BYTES], sk[TSC_SK_BYTES];
    uint8_t pk2[TSC_PK_BYTES], sk2[TSC_SK_BYTES];
    struct tsc_stage_report m, d;
    struct tsc_buf b;
    memset(seed, 3, sizeof seed);
    c->keypair(pk, sk, seed);
    memset(seed, 4, sizeof seed);
    c->keypair(pk2, sk2, seed);
    memset(&m, 0, sizeof m);
    m.node = tsc_crypto_node_id(c, pk);
    m.run = 12;
    m.stage = 4;
    m.term = 6;
    m.result = (struct tsc_stage_result){TSC_RESULT_FAILED,      2, 0,        10, 20,
                                         (const uint8_t *)"out", 3, "exit 2", 6};
    tsc_buf_init(&b);
    assert_int_equal(tsc_stage_report_encode(c, sk, &m, &b), 0);
    assert_int_equal(tsc_stage_report_decode(b.data, b.len, &d), 0);
    assert_int_equal(d.node, m.node);
    assert_int_equal(d.run, 12);
    assert_int_equal(d.stage, 4);
    assert_int_equal(d.term, 6);
    assert_int_equal(d.result.status, TSC_RESULT_FAILED);
    assert_int_equal(d.result.exit_code, 2);
    assert_memory_equal(d.result.output, "out", 3);
    assert_memory_equal(d.result.message, "exit 2", 6);
    assert_int_equal(tsc_stage_report_verify(c, b.data, b.len, pk), 0);
    assert_int_equal(tsc_stage_report_verify(c, b.data, b.len, pk2), TSC_ESIG);
    for (size_t i = 0; i < b.len; i++) { /* no flipped byte gets through */
        b.data[i] ^= 0x20;
        assert_int_not_equal(tsc_stage_report_verify(c, b.data, b.len, pk), 0);
        b.data[i] ^= 0x20;
    }
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(tsc_stage_report_decode(b.data, n, &d), TSC_EMALFORMED);
    /* A node cannot sign a report in another node's name. */
    size_t len = b.len;
    assert_int_equal(tsc_stage_report_encode(c, sk2, &m, &b), TSC_EINVAL);
    assert_int_equal(b.len, len);
    m.result.status = TSC_RESULT_PENDING;
    assert_int_equal(tsc_stage_report_encode(c, sk, &m, &b), TSC_EINVAL);
    tsc_buf_free(&b);
}

static void test_names(void **state)
{
    assert_string_equal(tsc_result_status_name(TSC_RESULT_TIMEOUT), "timeout");
    assert_string_equal(tsc_result_status_name(TSC_RESULT_LOST), "lost");
    assert_string_equal(tsc_result_status_name(99), "?");
    assert_string_equal(tsc_run_state_name(TSC_RUN_CANCELLED), "cancelled");
    assert_string_equal(tsc_run_state_name(0), "?");
    assert_string_equal(tsc_stage_kind_name(TSC_STAGE_SUITE_FINALIZE), "finalize");
    assert_string_equal(tsc_stage_kind_name(TSC_STAGE_CASE_RUN), "run");
    assert_string_equal(tsc_stage_kind_name(TSC_STAGE_SUITE_INIT), "init");
}

static int setup_sodium(void **state)
{
    assert_int_equal(tsc_crypto_init(), 0);
    *state = (void *)&tsc_crypto_sodium;
    return 0;
}

static int setup_cheap(void **state)
{
    *state = (void *)&tsc_crypto_cheap;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_round_trip),
        cmocka_unit_test(test_submit_limits),
        cmocka_unit_test(test_submit_decoder_limits),
        cmocka_unit_test(test_stage_round_trip),
        cmocka_unit_test(test_stage_decoder_limits),
        cmocka_unit_test(test_cancel_round_trip),
        cmocka_unit_test(test_start_and_cancel_messages),
        cmocka_unit_test_setup(test_report_signature, setup_cheap),
        cmocka_unit_test_setup(test_report_signature, setup_sodium),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
