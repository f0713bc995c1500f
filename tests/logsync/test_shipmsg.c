/* tsc — tests for the log shipping messages (logsync/ship.h: LOG_BATCH,
 * LOG_ACK, LOG_MSG): round trips, every prefix and trailing bytes rejected,
 * wrong types, batches whose records are out of sequence or of another
 * run or node, the record limit, and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/error.h"
#include "logsync/ship.h"

#define RUN  42
#define NODE 7

/* Encoded records of (run, node), seqs from first. */
struct recs {
    struct tsc_buf b[8];
    const uint8_t *enc[8];
    size_t len[8];
    size_t n;
};

static void encode_rec(struct tsc_buf *out, uint64_t run, uint64_t node, uint64_t seq,
                       const char *text)
{
    struct tsc_logrec r;
    tsc_logrec_init(&r);
    r.node = node;
    r.seq = seq;
    assert_int_equal(tsc_vclock_set(&r.clock, node, seq), 0);
    assert_int_equal(tsc_vclock_set(&r.clock, node + 1, 3), 0);
    r.lamport = 10 + seq;
    r.wall_us = 1700000000000000ull + seq;
    r.run = run;
    r.stage = 2;
    r.kind = TSC_LOGREC_STDOUT;
    r.text = (const uint8_t *)text;
    r.len = strlen(text);
    tsc_buf_init(out);
    assert_int_equal(tsc_logrec_encode(&r, out), 0);
    tsc_logrec_free(&r);
}

static void recs_make(struct recs *x, size_t n, uint64_t first)
{
    static const char *texts[] = {"one", "two", "", "four", "five", "six", "seven", "eight"};
    assert_true(n <= 8);
    x->n = n;
    for (size_t i = 0; i < n; i++) {
        encode_rec(&x->b[i], RUN, NODE, first + i, texts[i]);
        x->enc[i] = x->b[i].data;
        x->len[i] = x->b[i].len;
    }
}

static void recs_free(struct recs *x)
{
    for (size_t i = 0; i < x->n; i++)
        tsc_buf_free(&x->b[i]);
}

static void head(struct tsc_logbatch *b, uint64_t first)
{
    tsc_logbatch_init(b);
    b->run = RUN;
    b->node = NODE;
    b->epoch = 9;
    b->first = first;
    b->promise = 77;
    b->done = 1;
    assert_int_equal(tsc_vclock_set(&b->watermark, NODE, 12), 0);
    assert_int_equal(tsc_vclock_set(&b->watermark, 1, 4), 0);
}

/* Exact-size copies, so ASan catches reads past the end. */
static int decode_batch_copy(const uint8_t *p, size_t n, struct tsc_logbatch *b)
{
    uint8_t *x = malloc(n ? n : 1);
    memcpy(x, p, n);
    int rc = tsc_logbatch_decode(x, n, b);
    tsc_logbatch_free(b); /* texts point into x */
    free(x);
    return rc;
}

static void test_batch_round_trip(void **state)
{
    (void)state;
    struct recs x;
    struct tsc_logbatch b, d;
    struct tsc_buf out;
    recs_make(&x, 5, 3);
    head(&b, 3);
    tsc_buf_init(&out);
    assert_int_equal(tsc_logbatch_encode(&b, x.enc, x.len, x.n, &out), 0);
    tsc_logbatch_init(&d);
    assert_int_equal(tsc_logbatch_decode(out.data, out.len, &d), 0);
    assert_int_equal(d.run, RUN);
    assert_int_equal(d.node, NODE);
    assert_int_equal(d.epoch, 9);
    assert_int_equal(d.first, 3);
    assert_int_equal(d.promise, 77);
    assert_int_equal(d.done, 1);
    assert_int_equal(tsc_vclock_compare(&d.watermark, &b.watermark), TSC_VCLOCK_EQUAL);
    assert_int_equal(d.n, 5);
    for (size_t i = 0; i < d.n; i++) {
        assert_int_equal(d.records[i].seq, 3 + i);
        assert_int_equal(d.records[i].run, RUN);
        assert_int_equal(d.records[i].lamport, 13 + i);
        assert_true(d.records[i].len == 0 ||
                    (d.records[i].text > out.data && d.records[i].text < out.data + out.len));
    }
    assert_memory_equal(d.records[3].text, "four", 4);

    /* Decoding into a used batch releases what it held. */
    assert_int_equal(tsc_logbatch_decode(out.data, out.len, &d), 0);
    assert_int_equal(d.n, 5);

    /* Every prefix is rejected, and so is a trailing byte. */
    for (size_t cut = 0; cut < out.len; cut++)
        assert_int_equal(decode_batch_copy(out.data, cut, &d), TSC_EMALFORMED);
    assert_int_equal(tsc_buf_append(&out, "\xc0", 1), 0);
    assert_int_equal(decode_batch_copy(out.data, out.len, &d), TSC_EMALFORMED);
    assert_int_equal(d.n, 0);
    assert_null(d.records);

    tsc_logbatch_free(&d);
    tsc_logbatch_free(&b);
    tsc_buf_free(&out);
    recs_free(&x);
}

static void test_batch_empty(void **state)
{
    (void)state;
    struct tsc_logbatch b, d;
    struct tsc_buf out;
    head(&b, 1);
    b.done = 0;
    tsc_vclock_reset(&b.watermark);
    tsc_buf_init(&out);
    assert_int_equal(tsc_logbatch_encode(&b, NULL, NULL, 0, &out), 0);
    tsc_logbatch_init(&d);
    assert_int_equal(tsc_logbatch_decode(out.data, out.len, &d), 0);
    assert_int_equal(d.n, 0);
    assert_null(d.records);
    assert_int_equal(d.first, 1);
    assert_int_equal(d.done, 0);
    assert_int_equal(d.watermark.n, 0);
    for (size_t cut = 0; cut < out.len; cut++)
        assert_int_equal(decode_batch_copy(out.data, cut, &d), TSC_EMALFORMED);
    tsc_logbatch_free(&d);
    tsc_logbatch_free(&b);
    tsc_buf_free(&out);
}

static void test_batch_encode_rejects(void **state)
{
    (void)state;
    struct recs x;
    struct tsc_logbatch b;
    struct tsc_buf out;
    recs_make(&x, 2, 1);
    head(&b, 1);
    tsc_buf_init(&out);
    b.run = 0;
    assert_int_equal(tsc_logbatch_encode(&b, x.enc, x.len, 2, &out), TSC_EINVAL);
    b.run = RUN;
    b.node = 0;
    assert_int_equal(tsc_logbatch_encode(&b, x.enc, x.len, 2, &out), TSC_EINVAL);
    b.node = NODE;
    b.first = 0;
    assert_int_equal(tsc_logbatch_encode(&b, x.enc, x.len, 2, &out), TSC_EINVAL);
    b.first = 1;
    assert_int_equal(tsc_logbatch_encode(&b, NULL, x.len, 2, &out), TSC_EINVAL);
    assert_int_equal(tsc_logbatch_encode(&b, x.enc, x.len, TSC_LOGBATCH_MAX_RECORDS + 1, &out),
                     TSC_ETOOBIG);
    assert_int_equal(out.len, 0);
    /* Allocation failure: out unchanged. */
    assert_int_equal(tsc_buf_append(&out, "ab", 2), 0);
    tsc_buf_free(&out);
    tsc_alloc_fail_after(1);
    int rc = tsc_logbatch_encode(&b, x.enc, x.len, 2, &out);
    tsc_alloc_fail_after(0);
    assert_int_equal(rc, TSC_ENOMEM);
    assert_int_equal(out.len, 0);
    tsc_logbatch_free(&b);
    tsc_buf_free(&out);
    recs_free(&x);
}

/* A batch written by hand: head fields, then records as given. */
static void handmade(struct tsc_buf *out, uint64_t run, uint64_t node, uint64_t first,
                     const struct tsc_buf *r, size_t n)
{
    struct tsc_mp_writer w;
    tsc_buf_init(out);
    tsc_mp_writer_init(&w, out);
    msgpack_pack_array(&w.pk, 8);
    msgpack_pack_uint64(&w.pk, run);
    msgpack_pack_uint64(&w.pk, node);
    msgpack_pack_uint64(&w.pk, 1);
    msgpack_pack_uint64(&w.pk, first);
    msgpack_pack_uint64(&w.pk, 5);
    msgpack_pack_array(&w.pk, 0);
    msgpack_pack_false(&w.pk);
    msgpack_pack_array(&w.pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_bin(&w.pk, (uint32_t)r[i].len);
        msgpack_pack_bin_body(&w.pk, r[i].data, r[i].len);
    }
    assert_int_equal(tsc_mp_writer_status(&w), 0);
}

static int decode_handmade(uint64_t run, uint64_t node, uint64_t first, const struct tsc_buf *r,
                           size_t n)
{
    struct tsc_buf out;
    struct tsc_logbatch d;
    handmade(&out, run, node, first, r, n);
    tsc_logbatch_init(&d);
    int rc = tsc_logbatch_decode(out.data, out.len, &d);
    if (rc != 0) {
        assert_int_equal(d.n, 0);
        assert_null(d.records);
        assert_int_equal(d.watermark.n, 0);
    }
    tsc_logbatch_free(&d);
    tsc_buf_free(&out);
    return rc;
}

static void test_batch_sequence(void **state)
{
    (void)state;
    struct tsc_buf r[4];
    encode_rec(&r[0], RUN, NODE, 1, "a");
    encode_rec(&r[1], RUN, NODE, 2, "b");
    encode_rec(&r[2], RUN, NODE, 4, "d");     /* a hole before it */
    encode_rec(&r[3], RUN + 1, NODE, 3, "c"); /* another run */
    assert_int_equal(decode_handmade(RUN, NODE, 1, r, 2), 0);
    assert_int_equal(decode_handmade(RUN, NODE, 2, r, 2), TSC_EMALFORMED);     /* first wrong */
    assert_int_equal(decode_handmade(RUN, NODE, 1, r, 3), TSC_EMALFORMED);     /* hole */
    assert_int_equal(decode_handmade(RUN, NODE, 4, &r[2], 1), 0);              /* alone: fine */
    assert_int_equal(decode_handmade(RUN, NODE, 3, &r[3], 1), TSC_EMALFORMED); /* run */
    assert_int_equal(decode_handmade(RUN + 1, NODE, 3, &r[3], 1), 0);
    assert_int_equal(decode_handmade(RUN, NODE + 1, 1, r, 2), TSC_EMALFORMED); /* node */
    struct tsc_buf rev[2] = {r[1], r[0]};
    assert_int_equal(decode_handmade(RUN, NODE, 1, rev, 2), TSC_EMALFORMED); /* order */
    struct tsc_buf dup[2] = {r[0], r[0]};
    assert_int_equal(decode_handmade(RUN, NODE, 1, dup, 2), TSC_EMALFORMED);
    /* Head fields that cannot be: run, node or first 0. */
    assert_int_equal(decode_handmade(0, NODE, 1, NULL, 0), TSC_EMALFORMED);
    assert_int_equal(decode_handmade(RUN, 0, 1, NULL, 0), TSC_EMALFORMED);
    assert_int_equal(decode_handmade(RUN, NODE, 0, NULL, 0), TSC_EMALFORMED);
    /* first + n would overflow */
    assert_int_equal(decode_handmade(RUN, NODE, UINT64_MAX, r, 1), TSC_EMALFORMED);
    /* A record that does not decode. */
    struct tsc_buf junk;
    tsc_buf_init(&junk);
    assert_int_equal(tsc_buf_append(&junk, "\x93\x01\x02\x03", 4), 0);
    assert_int_equal(decode_handmade(RUN, NODE, 1, &junk, 1), TSC_EMALFORMED);
    struct tsc_buf cut = r[0];
    cut.len--;
    assert_int_equal(decode_handmade(RUN, NODE, 1, &cut, 1), TSC_EMALFORMED);
    tsc_buf_free(&junk);
    for (int i = 0; i < 4; i++)
        tsc_buf_free(&r[i]);
}

/* Wrong types in each position of the head, and records that are not bin. */
static void test_batch_types(void **state)
{
    (void)state;
    struct tsc_buf rec;
    encode_rec(&rec, RUN, NODE, 1, "x");
    static const uint64_t fields[5] = {RUN, NODE, 1, 1, 1};
    for (int bad = -1; bad < 10; bad++) { /* -1: nothing wrong */
        struct tsc_buf out;
        struct tsc_mp_writer w;
        tsc_buf_init(&out);
        tsc_mp_writer_init(&w, &out);
        msgpack_pack_array(&w.pk, bad == 9 ? 7 : 8);
        for (int f = 0; f < 5; f++) {
            if (bad == f)
                msgpack_pack_str_with_body(&w.pk, "1", 1);
            else
                msgpack_pack_uint64(&w.pk, fields[f]);
        }
        if (bad == 5)
            msgpack_pack_uint64(&w.pk, 1); /* watermark not an array */
        else
            msgpack_pack_array(&w.pk, 0);
        if (bad == 6)
            msgpack_pack_uint64(&w.pk, 1); /* done not a bool */
        else
            msgpack_pack_true(&w.pk);
        if (bad == 9) {
            /* a field missing: the records are not there */
        } else if (bad == 7) {
            msgpack_pack_map(&w.pk, 0); /* records not an array */
        } else {
            msgpack_pack_array(&w.pk, 1);
            if (bad == 8) /* the record as a str, not a bin */
                msgpack_pack_str_with_body(&w.pk, rec.data, rec.len);
            else {
                msgpack_pack_bin(&w.pk, (uint32_t)rec.len);
                msgpack_pack_bin_body(&w.pk, rec.data, rec.len);
            }
        }
        assert_int_equal(tsc_mp_writer_status(&w), 0);
        struct tsc_logbatch d;
        tsc_logbatch_init(&d);
        int rc = tsc_logbatch_decode(out.data, out.len, &d);
        if (bad == -1)
            assert_int_equal(rc, 0);
        else
            assert_int_equal(rc, TSC_EMALFORMED);
        tsc_logbatch_free(&d);
        tsc_buf_free(&out);
    }
    tsc_buf_free(&rec);
}

static void test_batch_too_many(void **state)
{
    (void)state;
    /* A records array that declares more than the limit, with enough bytes
     * behind it that the count itself is plausible. */
    struct tsc_buf out;
    struct tsc_mp_writer w;
    tsc_buf_init(&out);
    tsc_mp_writer_init(&w, &out);
    msgpack_pack_array(&w.pk, 8);
    for (int f = 0; f < 5; f++)
        msgpack_pack_uint64(&w.pk, 1);
    msgpack_pack_array(&w.pk, 0);
    msgpack_pack_false(&w.pk);
    msgpack_pack_array(&w.pk, TSC_LOGBATCH_MAX_RECORDS + 1);
    for (uint32_t i = 0; i <= TSC_LOGBATCH_MAX_RECORDS; i++)
        msgpack_pack_bin(&w.pk, 0);
    assert_int_equal(tsc_mp_writer_status(&w), 0);
    struct tsc_logbatch d;
    tsc_logbatch_init(&d);
    assert_int_equal(tsc_logbatch_decode(out.data, out.len, &d), TSC_ETOOBIG);
    assert_int_equal(d.n, 0);
    /* A count larger than the bytes left is malformed at once. */
    assert_int_equal(tsc_logbatch_decode(out.data, 64, &d), TSC_EMALFORMED);
    tsc_logbatch_free(&d);
    tsc_buf_free(&out);
}

static void test_batch_oom(void **state)
{
    (void)state;
    struct recs x;
    struct tsc_logbatch b, d;
    struct tsc_buf out;
    recs_make(&x, 4, 1);
    head(&b, 1);
    tsc_buf_init(&out);
    assert_int_equal(tsc_logbatch_encode(&b, x.enc, x.len, x.n, &out), 0);
    tsc_logbatch_init(&d);
    int rc = TSC_ENOMEM, fails = 0;
    for (unsigned long k = 1; rc == TSC_ENOMEM; k++) {
        tsc_alloc_fail_after(k);
        rc = tsc_logbatch_decode(out.data, out.len, &d);
        tsc_alloc_fail_after(0);
        if (rc == TSC_ENOMEM) {
            fails++;
            assert_int_equal(d.n, 0);
            assert_null(d.records);
        }
    }
    assert_int_equal(rc, 0);
    assert_true(fails >= 2); /* the watermark, the array, each record's clock */
    assert_int_equal(d.n, 4);
    tsc_logbatch_free(&d);
    tsc_logbatch_free(&b);
    tsc_buf_free(&out);
    recs_free(&x);
}

static void test_ack(void **state)
{
    (void)state;
    struct tsc_logack a = {
        .run = RUN, .node = NODE, .epoch = 3, .have = 1000000, .lamport = UINT64_MAX, .done = 1};
    struct tsc_logack d;
    struct tsc_buf out;
    tsc_buf_init(&out);
    assert_int_equal(tsc_logack_encode(&a, &out), 0);
    assert_int_equal(tsc_logack_decode(out.data, out.len, &d), 0);
    assert_int_equal(d.run, a.run);
    assert_int_equal(d.node, a.node);
    assert_int_equal(d.epoch, a.epoch);
    assert_int_equal(d.have, a.have);
    assert_true(d.lamport == UINT64_MAX);
    assert_int_equal(d.done, 1);
    for (size_t cut = 0; cut < out.len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, out.data, cut);
        assert_int_equal(tsc_logack_decode(p, cut, &d), TSC_EMALFORMED);
        assert_int_equal(d.run, 0);
        free(p);
    }
    assert_int_equal(tsc_buf_append(&out, "\x00", 1), 0);
    assert_int_equal(tsc_logack_decode(out.data, out.len, &d), TSC_EMALFORMED);

    a.done = 0;
    tsc_buf_reset(&out);
    assert_int_equal(tsc_logack_encode(&a, &out), 0);
    assert_int_equal(tsc_logack_decode(out.data, out.len, &d), 0);
    assert_int_equal(d.done, 0);

    a.node = 0;
    assert_int_equal(tsc_logack_encode(&a, &out), TSC_EINVAL);
    /* Wrong types: done as an int, have as a str, a field too many. */
    static const uint8_t bad1[] = {0x96, 1, 2, 3, 4, 5, 1};
    static const uint8_t bad2[] = {0x96, 1, 2, 3, 0xa1, '4', 5, 0xc3};
    static const uint8_t bad3[] = {0x97, 1, 2, 3, 4, 5, 0xc3, 0};
    static const uint8_t bad4[] = {0x96, 0, 2, 3, 4, 5, 0xc3}; /* run 0 */
    static const uint8_t good[] = {0x96, 1, 2, 3, 4, 5, 0xc3};
    assert_int_equal(tsc_logack_decode(bad1, sizeof bad1, &d), TSC_EMALFORMED);
    assert_int_equal(tsc_logack_decode(bad2, sizeof bad2, &d), TSC_EMALFORMED);
    assert_int_equal(tsc_logack_decode(bad3, sizeof bad3, &d), TSC_EMALFORMED);
    assert_int_equal(tsc_logack_decode(bad4, sizeof bad4, &d), TSC_EMALFORMED);
    assert_int_equal(tsc_logack_decode(good, sizeof good, &d), 0);
    assert_int_equal(d.have, 4);
    assert_int_equal(d.done, 1);
    tsc_buf_free(&out);
}

static void make_msg(struct tsc_logmsg *m, const char *text)
{
    tsc_logmsg_init(m);
    m->run = RUN;
    m->from = NODE;
    m->to = 3;
    m->seq = 17;
    m->lamport = 99;
    assert_int_equal(tsc_vclock_set(&m->clock, NODE, 17), 0);
    assert_int_equal(tsc_vclock_set(&m->clock, 3, 5), 0);
    m->text = (const uint8_t *)text;
    m->len = strlen(text);
}

static void test_msg(void **state)
{
    (void)state;
    struct tsc_logmsg m, d;
    struct tsc_buf out;
    make_msg(&m, "ping 1");
    tsc_buf_init(&out);
    assert_int_equal(tsc_logmsg_encode(&m, &out), 0);
    tsc_logmsg_init(&d);
    assert_int_equal(tsc_logmsg_decode(out.data, out.len, &d), 0);
    assert_int_equal(d.run, RUN);
    assert_int_equal(d.from, NODE);
    assert_int_equal(d.to, 3);
    assert_int_equal(d.seq, 17);
    assert_int_equal(d.lamport, 99);
    assert_int_equal(tsc_vclock_compare(&d.clock, &m.clock), TSC_VCLOCK_EQUAL);
    assert_int_equal(d.len, 6);
    assert_memory_equal(d.text, "ping 1", 6);
    assert_true(d.text > out.data && d.text + d.len <= out.data + out.len);
    for (size_t cut = 0; cut < out.len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, out.data, cut);
        assert_int_equal(tsc_logmsg_decode(p, cut, &d), TSC_EMALFORMED);
        assert_int_equal(d.clock.n, 0);
        assert_null(d.text);
        free(p);
    }
    assert_int_equal(tsc_buf_append(&out, "\x00", 1), 0);
    assert_int_equal(tsc_logmsg_decode(out.data, out.len, &d), TSC_EMALFORMED);

    /* The clock's own entry must be the SEND record's seq. */
    tsc_buf_reset(&out);
    m.seq = 16;
    assert_int_equal(tsc_logmsg_encode(&m, &out), TSC_EINVAL);
    m.seq = 17;
    m.from = 0;
    assert_int_equal(tsc_logmsg_encode(&m, &out), TSC_EINVAL);
    m.from = NODE;
    m.text = NULL;
    assert_int_equal(tsc_logmsg_encode(&m, &out), TSC_EINVAL);
    assert_int_equal(out.len, 0);

    /* A message whose own entry disagrees, written by hand. */
    struct tsc_mp_writer w;
    tsc_mp_writer_init(&w, &out);
    msgpack_pack_array(&w.pk, 7);
    msgpack_pack_uint64(&w.pk, RUN);
    msgpack_pack_uint64(&w.pk, NODE);
    msgpack_pack_uint64(&w.pk, 3);
    msgpack_pack_uint64(&w.pk, 17);
    msgpack_pack_uint64(&w.pk, 99);
    msgpack_pack_array(&w.pk, 2);
    msgpack_pack_uint64(&w.pk, NODE);
    msgpack_pack_uint64(&w.pk, 18);
    msgpack_pack_bin(&w.pk, 0);
    assert_int_equal(tsc_mp_writer_status(&w), 0);
    assert_int_equal(tsc_logmsg_decode(out.data, out.len, &d), TSC_EMALFORMED);

    /* Text limit on both sides. */
    size_t big = TSC_LOGMSG_MAX_TEXT + 1;
    char *text = malloc(big + 1);
    memset(text, 'x', big);
    text[big] = 0;
    m.text = (const uint8_t *)text;
    m.len = big;
    assert_int_equal(tsc_logmsg_encode(&m, &out), TSC_ETOOBIG);
    m.len = big - 1;
    tsc_buf_reset(&out);
    assert_int_equal(tsc_logmsg_encode(&m, &out), 0);
    assert_int_equal(tsc_logmsg_decode(out.data, out.len, &d), 0);
    assert_int_equal(d.len, big - 1);
    tsc_buf_reset(&out);
    tsc_mp_writer_init(&w, &out);
    msgpack_pack_array(&w.pk, 7);
    msgpack_pack_uint64(&w.pk, RUN);
    msgpack_pack_uint64(&w.pk, NODE);
    msgpack_pack_uint64(&w.pk, 3);
    msgpack_pack_uint64(&w.pk, 17);
    msgpack_pack_uint64(&w.pk, 99);
    tsc_vclock_pack(&m.clock, &w);
    msgpack_pack_bin(&w.pk, (uint32_t)big);
    msgpack_pack_bin_body(&w.pk, text, big);
    assert_int_equal(tsc_mp_writer_status(&w), 0);
    assert_int_equal(tsc_logmsg_decode(out.data, out.len, &d), TSC_ETOOBIG);
    free(text);

    /* Decoding reuses d's clock; allocation failure is reported. */
    tsc_logmsg_free(&m);
    make_msg(&m, "");
    tsc_buf_reset(&out);
    assert_int_equal(tsc_logmsg_encode(&m, &out), 0);
    tsc_logmsg_free(&d);
    tsc_alloc_fail_after(1);
    int rc = tsc_logmsg_decode(out.data, out.len, &d);
    tsc_alloc_fail_after(0);
    assert_int_equal(rc, TSC_ENOMEM);
    assert_int_equal(tsc_logmsg_decode(out.data, out.len, &d), 0);
    assert_int_equal(d.len, 0);

    tsc_logmsg_free(&d);
    tsc_logmsg_free(&m);
    tsc_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_round_trip),
        cmocka_unit_test(test_batch_empty),
        cmocka_unit_test(test_batch_encode_rejects),
        cmocka_unit_test(test_batch_sequence),
        cmocka_unit_test(test_batch_types),
        cmocka_unit_test(test_batch_too_many),
        cmocka_unit_test(test_batch_oom),
        cmocka_unit_test(test_ack),
        cmocka_unit_test(test_msg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
