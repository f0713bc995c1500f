/* tsc — tests for the log record codec (logsync/merge.h: tsc_logrec_*):
 * round trips (the Lamport time included), every prefix rejected, records
 * that break an invariant (a Lamport time of 0 among them) rejected on both
 * sides, and the names of kinds and merge errors. */
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
#include "tests/logsync/logrec_assert.h"

static void make(struct tsc_logrec *r, uint64_t node, uint64_t seq, const char *text)
{
    tsc_logrec_init(r);
    r->node = node;
    r->seq = seq;
    assert_int_equal(tsc_vclock_set(&r->clock, node, seq), 0);
    r->lamport = seq + 10;
    r->wall_us = 1700000000000000ull + seq;
    r->run = 42;
    r->stage = 3;
    r->case_index = TSC_LOGREC_NO_CASE;
    r->kind = TSC_LOGREC_STDOUT;
    r->text = (const uint8_t *)text;
    r->len = text ? strlen(text) : 0;
}

static void round_trip(const struct tsc_logrec *r)
{
    struct tsc_buf b;
    struct tsc_logrec d;
    tsc_buf_init(&b);
    tsc_logrec_init(&d);
    assert_int_equal(tsc_logrec_encode(r, &b), 0);
    assert_int_equal(tsc_logrec_decode(b.data, b.len, &d), 0);
    assert_same(r, &d);
    assert_true(d.len == 0 || (d.text >= b.data && d.text + d.len <= b.data + b.len));
    size_t stride = b.len > 2048 ? b.len / 256 : 1;
    for (size_t cut = 0; cut < b.len; cut += stride) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, b.data, cut);
        assert_int_not_equal(tsc_logrec_decode(p, cut, &d), 0);
        assert_int_equal(d.clock.n, 0);
        assert_null(d.text);
        free(p);
    }
    /* A trailing byte is not part of a record. */
    assert_int_equal(tsc_buf_append(&b, "\x00", 1), 0);
    assert_int_equal(tsc_logrec_decode(b.data, b.len, &d), TSC_EMALFORMED);
    tsc_logrec_free(&d);
    tsc_buf_free(&b);
}

static void test_round_trip(void **state)
{
    struct tsc_logrec r;
    make(&r, 7, 1, "hello");
    round_trip(&r);
    tsc_logrec_free(&r);

    make(&r, UINT64_MAX, UINT64_MAX, "");
    assert_int_equal(tsc_vclock_set(&r.clock, 1, 5), 0);
    r.lamport = UINT64_MAX;
    r.wall_us = UINT64_MAX;
    r.run = UINT64_MAX;
    r.stage = UINT32_MAX;
    r.case_index = 0;
    r.kind = TSC_LOGREC_RECV;
    round_trip(&r);
    tsc_logrec_free(&r);

    /* A receive with a clock of many nodes, and the largest text. */
    uint8_t *big = malloc(TSC_LOGREC_MAX_TEXT);
    for (size_t i = 0; i < TSC_LOGREC_MAX_TEXT; i++)
        big[i] = (uint8_t)(i * 7);
    make(&r, 3, 10, NULL);
    r.lamport = 1; /* the smallest */
    for (uint64_t k = 1; k <= 64; k++)
        if (k != 3)
            assert_int_equal(tsc_vclock_set(&r.clock, k, k * 1000), 0);
    r.text = big;
    r.len = TSC_LOGREC_MAX_TEXT;
    r.kind = TSC_LOGREC_FILE;
    r.case_index = 17;
    round_trip(&r);
    tsc_logrec_free(&r);
    free(big);
}

/* The ten fields written by hand, so that each can be wrong. */
struct raw {
    uint64_t node, seq, lamport, wall, run, stage, case_index, kind;
    uint64_t clock[4]; /* pairs */
    size_t clock_pairs;
    int lamport_str; /* the Lamport time as a str instead of a uint */
    int fields;      /* array length written; the fields after 10 are extra uints */
    int text_str;    /* text as a str instead of bin */
    size_t text_len;
};

static void pack_raw(const struct raw *x, struct tsc_buf *b)
{
    static uint8_t text[TSC_LOGREC_MAX_TEXT + 1];
    struct tsc_mp_writer w;
    tsc_buf_reset(b);
    tsc_mp_writer_init(&w, b);
    msgpack_pack_array(&w.pk, (size_t)x->fields);
    uint64_t head[2] = {x->node, x->seq};
    uint64_t tail[6] = {x->lamport, x->wall, x->run, x->stage, x->case_index, x->kind};
    int k = 0;
    for (int i = 0; i < 2 && k < x->fields; i++, k++)
        msgpack_pack_uint64(&w.pk, head[i]);
    if (k++ < x->fields) {
        msgpack_pack_array(&w.pk, 2 * x->clock_pairs);
        for (size_t i = 0; i < 2 * x->clock_pairs; i++)
            msgpack_pack_uint64(&w.pk, x->clock[i]);
    }
    for (int i = 0; i < 6 && k < x->fields; i++, k++) {
        if (i == 0 && x->lamport_str) {
            msgpack_pack_str(&w.pk, 1);
            msgpack_pack_str_body(&w.pk, "7", 1);
        } else {
            msgpack_pack_uint64(&w.pk, tail[i]);
        }
    }
    if (k++ < x->fields) {
        if (x->text_str) {
            msgpack_pack_str(&w.pk, x->text_len);
            msgpack_pack_str_body(&w.pk, text, x->text_len);
        } else {
            msgpack_pack_bin(&w.pk, x->text_len);
            msgpack_pack_bin_body(&w.pk, text, x->text_len);
        }
    }
    for (; k < x->fields; k++)
        msgpack_pack_uint64(&w.pk, 0);
    assert_int_equal(tsc_mp_writer_status(&w), 0);
}

static void test_malformed(void **state)
{
    const struct raw good = {.node = 2,
                             .seq = 3,
                             .lamport = 17,
                             .wall = 1,
                             .run = 1,
                             .stage = 0,
                             .case_index = 0,
                             .kind = TSC_LOGREC_EVENT,
                             .clock = {1, 9, 2, 3},
                             .clock_pairs = 2,
                             .fields = 10,
                             .text_len = 4};
    struct raw rows[24];
    int want[24], n = 0;
    rows[n] = good, want[n++] = 0;
    rows[n] = good, rows[n].fields = 9, want[n++] = TSC_EMALFORMED; /* the old layout */
    rows[n] = good, rows[n].fields = 11, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].lamport = 0, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].lamport = 1, want[n++] = 0;
    rows[n] = good, rows[n].lamport = UINT64_MAX, want[n++] = 0;
    rows[n] = good, rows[n].lamport_str = 1, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].node = 0, rows[n].clock[0] = 0, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].seq = 0, rows[n].clock[3] = 0, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].seq = 4, want[n++] = TSC_EMALFORMED;      /* clock[node] != seq */
    rows[n] = good, rows[n].node = 5, want[n++] = TSC_EMALFORMED;     /* own entry missing */
    rows[n] = good, rows[n].clock[2] = 1, want[n++] = TSC_EMALFORMED; /* unsorted clock */
    rows[n] = good, rows[n].kind = 0, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].kind = TSC_LOGREC_RECV + 1, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].stage = (uint64_t)UINT32_MAX + 1, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].case_index = (uint64_t)UINT32_MAX + 1, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].text_str = 1, want[n++] = TSC_EMALFORMED;
    rows[n] = good, rows[n].text_len = TSC_LOGREC_MAX_TEXT, want[n++] = 0;
    rows[n] = good, rows[n].text_len = TSC_LOGREC_MAX_TEXT + 1, want[n++] = TSC_ETOOBIG;

    struct tsc_buf b;
    struct tsc_logrec d;
    tsc_buf_init(&b);
    tsc_logrec_init(&d);
    for (int i = 0; i < n; i++) {
        pack_raw(&rows[i], &b);
        int rc = tsc_logrec_decode(b.data, b.len, &d);
        assert_int_equal(rc, want[i]);
        if (rc == 0) {
            assert_int_equal(d.node, rows[i].node);
            assert_int_equal(d.seq, rows[i].seq);
            assert_int_equal(d.lamport, rows[i].lamport);
            assert_int_equal(d.wall_us, rows[i].wall);
            assert_int_equal(d.len, rows[i].text_len);
        } else {
            assert_int_equal(d.clock.n, 0);
        }
    }
    static const uint8_t junk[][4] = {{0x90}, {0xc0}, {0x9a, 0x01}, {0xdd, 0xff, 0xff, 0xff}};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        assert_int_equal(tsc_logrec_decode(junk[i], sizeof junk[i], &d), TSC_EMALFORMED);
    assert_int_equal(tsc_logrec_decode(NULL, 0, &d), TSC_EMALFORMED);
    tsc_logrec_free(&d);
    tsc_buf_free(&b);
}

static void test_encode_rejects(void **state)
{
    struct tsc_logrec r;
    struct tsc_buf b;
    tsc_buf_init(&b);
    assert_int_equal(tsc_buf_append(&b, "xy", 2), 0);
    /* Longer than the buffer's first allocation, so encoding must grow it. */
    const char *text = "a line of a stage script's standard output, long enough to need more "
                       "room than the buffer has";
    make(&r, 2, 3, text);
    r.seq = 4; /* clock[node] is 3 */
    assert_int_equal(tsc_logrec_encode(&r, &b), TSC_EINVAL);
    r.seq = 3;
    r.kind = 0;
    assert_int_equal(tsc_logrec_encode(&r, &b), TSC_EINVAL);
    r.kind = TSC_LOGREC_USER;
    r.lamport = 0;
    assert_int_equal(tsc_logrec_encode(&r, &b), TSC_EINVAL);
    r.lamport = 1;
    r.text = NULL;
    assert_int_equal(tsc_logrec_encode(&r, &b), TSC_EINVAL);
    r.text = (const uint8_t *)text;
    r.len = TSC_LOGREC_MAX_TEXT + 1;
    assert_int_equal(tsc_logrec_encode(&r, &b), TSC_ETOOBIG);
    r.len = strlen(text);
    assert_int_equal(b.len, 2);
    /* Out of memory: the buffer keeps what it had. */
    tsc_alloc_fail_after(1);
    assert_int_equal(tsc_logrec_encode(&r, &b), TSC_ENOMEM);
    tsc_alloc_fail_after(0);
    assert_int_equal(b.len, 2);
    /* Appends after what is there. */
    assert_int_equal(tsc_logrec_encode(&r, &b), 0);
    struct tsc_logrec d;
    tsc_logrec_init(&d);
    assert_int_equal(tsc_logrec_decode(b.data + 2, b.len - 2, &d), 0);
    assert_same(&r, &d);
    tsc_logrec_free(&d);
    tsc_logrec_free(&r);
    tsc_buf_free(&b);
}

static void test_names(void **state)
{
    assert_string_equal(tsc_logrec_kind_name(TSC_LOGREC_STDOUT), "stdout");
    assert_string_equal(tsc_logrec_kind_name(TSC_LOGREC_STDERR), "stderr");
    assert_string_equal(tsc_logrec_kind_name(TSC_LOGREC_EVENT), "event");
    assert_string_equal(tsc_logrec_kind_name(TSC_LOGREC_FILE), "file");
    assert_string_equal(tsc_logrec_kind_name(TSC_LOGREC_USER), "user");
    assert_string_equal(tsc_logrec_kind_name(TSC_LOGREC_SEND), "send");
    assert_string_equal(tsc_logrec_kind_name(TSC_LOGREC_RECV), "recv");
    assert_string_equal(tsc_logrec_kind_name(0), "?");
    assert_string_equal(tsc_logrec_kind_name(99), "?");
    assert_string_equal(tsc_logmerge_error_name(TSC_LOGMERGE_GAP), "gap");
    assert_string_equal(tsc_logmerge_error_name(TSC_LOGMERGE_DUPLICATE), "duplicate");
    assert_string_equal(tsc_logmerge_error_name(TSC_LOGMERGE_MISSING_PAST), "missing-past");
    assert_string_equal(tsc_logmerge_error_name(TSC_LOGMERGE_LATE), "late");
    assert_string_equal(tsc_logmerge_error_name(TSC_LOGMERGE_SKEW), "skew");
    assert_string_equal(tsc_logmerge_error_name(0), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
