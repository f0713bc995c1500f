/* tsc — tests for the codec of merge errors (logsync/logerr.c, merge.h:
 * tsc_logmerge_error_encode/decode), the form in which the sink stores a
 * run's out-of-sequence reports and tscctl reads them: round trips of every
 * kind with extreme values, encoding that refuses unknown kinds and leaves
 * the buffer as it was on failure, and decoding that is total: every
 * truncation, a trailing byte, a wrong field count or type, an unknown
 * kind and an out-of-range skew are TSC_EMALFORMED, with the output zeroed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/error.h"
#include "logsync/merge.h"
#include "wire/mp.h"

static const struct tsc_logmerge_error zero;

static void assert_error_equal(const struct tsc_logmerge_error *a,
                               const struct tsc_logmerge_error *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->a_node, b->a_node);
    assert_int_equal(a->a_seq, b->a_seq);
    assert_int_equal(a->b_node, b->b_node);
    assert_int_equal(a->b_seq, b->b_seq);
    assert_int_equal(a->run, b->run);
    assert_int_equal(a->skew_us, b->skew_us);
}

/* Encode, decode back, and reject every proper prefix and one byte more. */
static void round_trip(const struct tsc_logmerge_error *e)
{
    struct tsc_buf b;
    struct tsc_logmerge_error d;
    tsc_buf_init(&b);
    assert_int_equal(tsc_logmerge_error_encode(e, &b), 0);
    assert_int_equal(tsc_logmerge_error_decode(b.data, b.len, &d), 0);
    assert_error_equal(&d, e);
    for (size_t cut = 0; cut < b.len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1); /* exact size: ASan sees an overread */
        memcpy(p, b.data, cut);
        memset(&d, 0x5a, sizeof d);
        assert_int_equal(tsc_logmerge_error_decode(p, cut, &d), TSC_EMALFORMED);
        assert_error_equal(&d, &zero);
        free(p);
    }
    assert_int_equal(tsc_buf_append(&b, "\x00", 1), 0);
    assert_int_equal(tsc_logmerge_error_decode(b.data, b.len, &d), TSC_EMALFORMED);
    assert_error_equal(&d, &zero);
    tsc_buf_free(&b);
}

static void test_round_trip_every_kind(void **state)
{
    for (int kind = TSC_LOGMERGE_GAP; kind <= TSC_LOGMERGE_SKEW; kind++) {
        struct tsc_logmerge_error e = {.kind = kind,
                                       .a_node = 0x1000 + (uint64_t)kind,
                                       .a_seq = 7,
                                       .b_node = 0x2000,
                                       .b_seq = 6,
                                       .run = 42,
                                       .skew_us = kind == TSC_LOGMERGE_SKEW ? 1500 : 0};
        round_trip(&e);
        /* The largest values each field can hold. */
        e.a_node = e.a_seq = e.b_node = e.b_seq = e.run = UINT64_MAX;
        e.skew_us = INT64_MAX;
        round_trip(&e);
        /* "none" for the other record (a GAP at a node's first record). */
        e.b_node = e.b_seq = 0;
        e.skew_us = 0;
        round_trip(&e);
    }
}

static void test_encode(void **state)
{
    struct tsc_buf b;
    struct tsc_logmerge_error e = {
        .kind = TSC_LOGMERGE_LATE, .a_node = 3, .a_seq = 9, .b_node = 1, .b_seq = 5, .run = 2};
    struct tsc_logmerge_error d;
    /* 60 bytes: the buffer's first 64 cannot hold an encoding as well. */
    static const char pre[61] = "a prefix that the codec must leave alone, sixty bytes long..";
    tsc_buf_init(&b);
    assert_int_equal(tsc_buf_append(&b, pre, 60), 0);
    /* Unknown kinds are refused, the buffer untouched. */
    const int bad[] = {0, TSC_LOGMERGE_SKEW + 1, -1, 255};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.kind = bad[i];
        assert_int_equal(tsc_logmerge_error_encode(&e, &b), TSC_EINVAL);
        assert_int_equal(b.len, 60);
    }
    /* Out of memory: the buffer keeps what it had. */
    e.kind = TSC_LOGMERGE_LATE;
    e.a_node = e.b_node = e.run = UINT64_MAX;
    tsc_alloc_fail_after(1);
    int rc = tsc_logmerge_error_encode(&e, &b);
    tsc_alloc_fail_after(0);
    assert_int_equal(rc, TSC_ENOMEM);
    assert_int_equal(b.len, 60);
    assert_memory_equal(b.data, pre, 60);
    /* Appends after what is there. */
    assert_int_equal(tsc_logmerge_error_encode(&e, &b), 0);
    assert_memory_equal(b.data, pre, 60);
    assert_int_equal(tsc_logmerge_error_decode(b.data + 60, b.len - 60, &d), 0);
    assert_error_equal(&d, &e);
    /* A negative skew is not a SKEW the engine reports: stored as 0. */
    tsc_buf_reset(&b);
    e.kind = TSC_LOGMERGE_SKEW;
    e.skew_us = -5;
    assert_int_equal(tsc_logmerge_error_encode(&e, &b), 0);
    assert_int_equal(tsc_logmerge_error_decode(b.data, b.len, &d), 0);
    assert_int_equal(d.skew_us, 0);
    assert_int_equal(d.kind, TSC_LOGMERGE_SKEW);
    tsc_buf_free(&b);
}

/* The seven fields written by hand, so that each can be wrong. */
struct raw {
    uint64_t v[7]; /* kind, a_node, a_seq, b_node, b_seq, run, skew_us */
    int fields;    /* array length written; fields past 7 are extra uints */
    int odd;       /* field with another msgpack type, -1: none */
    int odd_type;  /* 0 str, 1 nil, 2 negative int, 3 bool */
};

static void pack_raw(const struct raw *x, struct tsc_buf *b)
{
    struct tsc_mp_writer w;
    tsc_buf_reset(b);
    tsc_mp_writer_init(&w, b);
    msgpack_pack_array(&w.pk, (size_t)x->fields);
    for (int i = 0; i < x->fields; i++) {
        if (i == x->odd) {
            switch (x->odd_type) {
            case 0:
                msgpack_pack_str(&w.pk, 1);
                msgpack_pack_str_body(&w.pk, "1", 1);
                break;
            case 1:
                msgpack_pack_nil(&w.pk);
                break;
            case 2:
                msgpack_pack_int64(&w.pk, -1);
                break;
            default:
                msgpack_pack_true(&w.pk);
                break;
            }
        } else {
            msgpack_pack_uint64(&w.pk, i < 7 ? x->v[i] : 0);
        }
    }
    assert_int_equal(tsc_mp_writer_status(&w), 0);
}

static void test_decode_rejects(void **state)
{
    const struct raw good = {.v = {TSC_LOGMERGE_GAP, 1, 4, 1, 2, 9, 0}, .fields = 7, .odd = -1};
    struct raw rows[64];
    int want[64], n = 0;
    rows[n] = good, want[n++] = 0;
    rows[n] = good, rows[n].fields = 6, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].fields = 8, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].fields = 0, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].v[0] = 0, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].v[0] = TSC_LOGMERGE_SKEW + 1, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].v[0] = 255, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].v[0] = (uint64_t)1 << 32 | TSC_LOGMERGE_GAP, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].v[0] = TSC_LOGMERGE_SKEW, want[n++] = 0;
    rows[n] = good, rows[n].v[6] = (uint64_t)INT64_MAX, want[n++] = 0;
    rows[n] = good, rows[n].v[6] = (uint64_t)INT64_MAX + 1, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].v[6] = UINT64_MAX, want[n++] = TSC_EMALFORMED;
    for (int f = 0; f < 7; f++)
        for (int t = 0; t < 4; t++)
            rows[n] = good, rows[n].odd = f, rows[n].odd_type = t, want[n++] = TSC_EMALFORMED;
    assert_true(n <= 64);

    struct tsc_buf b;
    struct tsc_logmerge_error d;
    tsc_buf_init(&b);
    for (int i = 0; i < n; i++) {
        pack_raw(&rows[i], &b);
        memset(&d, 0x5a, sizeof d);
        int rc = tsc_logmerge_error_decode(b.data, b.len, &d);
        assert_int_equal(rc, want[i]);
        if (rc == 0) {
            assert_int_equal(d.kind, (int)rows[i].v[0]);
            assert_int_equal(d.a_node, rows[i].v[1]);
            assert_int_equal(d.a_seq, rows[i].v[2]);
            assert_int_equal(d.b_node, rows[i].v[3]);
            assert_int_equal(d.b_seq, rows[i].v[4]);
            assert_int_equal(d.run, rows[i].v[5]);
            assert_int_equal(d.skew_us, (int64_t)rows[i].v[6]);
        } else {
            assert_error_equal(&d, &zero);
        }
    }
    /* Not an error at all: a map, nil, a bin, a log record's array head
     * whose count claims more than there is, nothing. */
    static const uint8_t junk[][5] = {
        {0x87}, {0xc0}, {0xc4, 0x01, 0x00}, {0xdd, 0xff, 0xff, 0xff, 0xff}, {0x97, 0x01}};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        assert_int_equal(tsc_logmerge_error_decode(junk[i], sizeof junk[i], &d), TSC_EMALFORMED);
    assert_int_equal(tsc_logmerge_error_decode(NULL, 0, &d), TSC_EMALFORMED);
    assert_error_equal(&d, &zero);
    tsc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_kind),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_decode_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
