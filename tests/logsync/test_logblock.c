/* tsc — tests for the LOGS block codec (logsync/logblock.h): random blocks
 * in merge-like order with late records, jumps and changes of stage, case
 * and kind round-trip field by field; blocks of the first format are still
 * read; every prefix and single-byte change of a block is either read as
 * a prefix of good records then an error, or as records that satisfy the
 * record codec's checks (never a crash, never a record past the block);
 * records the record codec would refuse are refused; and the point of it:
 * a typical block is much smaller than the records' wire encodings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/prng.h"
#include "logsync/logblock.h"
#include "tests/logsync/logrec_assert.h"

#define MAXN  300
#define NODES 9

struct gen {
    struct tsc_logrec r[MAXN];
    const struct tsc_logrec *p[MAXN];
    uint8_t text[MAXN][120];
    size_t n;
};

/* n records of run 7 from NODES nodes with 64-bit ids, as the merge would
 * release them (clocks grow, sends and receives), with now and then a late
 * record (an older seq and a smaller clock), a seq jump, a stage, case or
 * kind change, a Lamport time or wall clock that goes back, and empty or
 * long texts. */
static void gen(struct gen *g, struct tsc_prng *rng, size_t n)
{
    struct tsc_vclock clock[NODES];
    uint64_t ids[NODES], lamport = 1;
    for (size_t i = 0; i < NODES; i++) {
        tsc_vclock_init(&clock[i]);
        ids[i] = 0x8000000000000000ull | tsc_prng_next(rng);
    }
    g->n = n;
    for (size_t i = 0; i < n; i++) {
        size_t k = tsc_prng_below(rng, NODES);
        struct tsc_logrec *r = &g->r[i];
        tsc_logrec_init(r);
        if (tsc_prng_below(rng, 8) == 0) /* a receive */
            assert_int_equal(tsc_vclock_merge(&clock[k], &clock[tsc_prng_below(rng, NODES)]), 0);
        uint64_t seq;
        assert_int_equal(tsc_vclock_tick(&clock[k], ids[k], &seq), 0);
        if (tsc_prng_below(rng, 20) == 0) /* a jump (a gap) */
            assert_int_equal(tsc_vclock_set(&clock[k], ids[k], seq += 5), 0);
        assert_int_equal(tsc_vclock_copy(&r->clock, &clock[k]), 0);
        if (seq > 3 && tsc_prng_below(rng, 25) == 0) { /* late: an older record */
            tsc_vclock_reset(&r->clock);
            seq = 1 + tsc_prng_below(rng, seq - 1);
            assert_int_equal(tsc_vclock_set(&r->clock, ids[k], seq), 0);
        }
        r->node = ids[k];
        r->seq = seq;
        lamport += tsc_prng_below(rng, 3);
        r->lamport = tsc_prng_below(rng, 30) == 0 && lamport > 10 ? lamport - 9 : lamport;
        r->wall_us = 1700000000000000ull + i * 10 - tsc_prng_below(rng, 40);
        r->run = 7;
        r->stage = tsc_prng_below(rng, 10) == 0 ? (uint32_t)tsc_prng_below(rng, 5) : 2;
        r->case_index = tsc_prng_below(rng, 10) == 0 ? TSC_LOGREC_NO_CASE : (uint32_t)(i / 50);
        r->kind =
            (uint8_t)(TSC_LOGREC_STDOUT +
                      (tsc_prng_below(rng, 6) == 0 ? tsc_prng_below(rng, TSC_LOGREC_RECV) : 0));
        size_t len = tsc_prng_below(rng, 12) == 0 ? 0 : 1 + tsc_prng_below(rng, 119);
        for (size_t j = 0; j < len; j++)
            g->text[i][j] = (uint8_t)('a' + tsc_prng_below(rng, 26));
        r->text = len ? g->text[i] : NULL;
        r->len = len;
        g->p[i] = r;
    }
    for (size_t i = 0; i < NODES; i++)
        tsc_vclock_free(&clock[i]);
}

static void gen_free(struct gen *g)
{
    for (size_t i = 0; i < g->n; i++)
        tsc_logrec_free(&g->r[i]);
}

/* Read the block back; the number of records read. */
static size_t read_all(const uint8_t *p, size_t len, const struct gen *want)
{
    struct tsc_logblock_dec d;
    struct tsc_logrec r;
    size_t n = 0;
    int rc;
    tsc_logblock_dec_init(&d);
    tsc_logrec_init(&r);
    assert_int_equal(tsc_logblock_open(&d, p, len), 0);
    while ((rc = tsc_logblock_next(&d, &r)) == 0) {
        assert_true(n < want->n);
        assert_same(&want->r[n], &r);
        n++;
    }
    assert_int_equal(rc, TSC_ENOTFOUND);
    tsc_logrec_free(&r);
    tsc_logblock_dec_free(&d);
    return n;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct tsc_prng rng;
    struct tsc_logblock_enc e;
    struct tsc_buf out;
    static struct gen g;
    tsc_prng_seed(&rng, 11);
    tsc_logblock_enc_init(&e);
    tsc_buf_init(&out);
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + tsc_prng_below(&rng, round % 10 == 0 ? MAXN : 40);
        gen(&g, &rng, n);
        tsc_buf_reset(&out);
        assert_int_equal(tsc_logblock_encode(&e, 7, g.p, n, &out), 0);
        assert_int_equal(read_all(out.data, out.len, &g), n);
        /* Appended after other bytes: the block is what was added. */
        size_t at = out.len;
        assert_int_equal(tsc_logblock_encode(&e, 7, g.p, n, &out), 0);
        assert_int_equal(read_all(out.data + at, out.len - at, &g), n);
        gen_free(&g);
    }
    tsc_buf_free(&out);
    tsc_logblock_enc_free(&e);
}

/* The first format: records' wire encodings one after the other. */
static void test_legacy(void **state)
{
    (void)state;
    struct tsc_prng rng;
    struct tsc_buf out;
    static struct gen g;
    tsc_prng_seed(&rng, 12);
    tsc_buf_init(&out);
    gen(&g, &rng, 50);
    for (size_t i = 0; i < g.n; i++)
        assert_int_equal(tsc_logrec_encode(&g.r[i], &out), 0);
    assert_int_equal(read_all(out.data, out.len, &g), 50);
    gen_free(&g);
    tsc_buf_free(&out);
}

/* Every prefix and every single-byte change: no crash, no read past the
 * block (ASan), and what is read is a record the record codec would take. */
static void test_damaged(void **state)
{
    (void)state;
    struct tsc_prng rng;
    struct tsc_logblock_enc e;
    struct tsc_logblock_dec d;
    struct tsc_logrec r;
    struct tsc_buf out, scratch;
    static struct gen g;
    tsc_prng_seed(&rng, 13);
    tsc_logblock_enc_init(&e);
    tsc_logblock_dec_init(&d);
    tsc_logrec_init(&r);
    tsc_buf_init(&out);
    tsc_buf_init(&scratch);
    gen(&g, &rng, 30);
    assert_int_equal(tsc_logblock_encode(&e, 7, g.p, g.n, &out), 0);
    for (size_t cut = 0; cut <= out.len; cut++) {
        for (int flip = 0; flip < (cut == out.len ? 3 : 1); flip++) {
            uint8_t *p = malloc(cut ? cut : 1);
            memcpy(p, out.data, cut);
            if (flip && cut > 0)
                p[tsc_prng_below(&rng, cut)] ^= (uint8_t)(1 + tsc_prng_below(&rng, 255));
            size_t n = 0;
            int rc = tsc_logblock_open(&d, p, cut);
            if (rc == 0) {
                while ((rc = tsc_logblock_next(&d, &r)) == 0) {
                    n++;
                    tsc_buf_reset(&scratch);
                    assert_int_equal(tsc_logrec_encode(&r, &scratch), 0);
                    if (!flip)
                        assert_same(&g.r[n - 1], &r);
                }
                assert_true(rc == TSC_ENOTFOUND || rc == TSC_EMALFORMED || rc == TSC_ETOOBIG);
                if (cut < out.len && !flip)
                    assert_int_not_equal(rc, TSC_ENOTFOUND); /* a prefix is not whole */
            }
            assert_true(n <= g.n || flip);
            free(p);
        }
    }
    gen_free(&g);
    tsc_buf_free(&out);
    tsc_buf_free(&scratch);
    tsc_logrec_free(&r);
    tsc_logblock_dec_free(&d);
    tsc_logblock_enc_free(&e);
}

static void test_refused(void **state)
{
    (void)state;
    struct tsc_prng rng;
    struct tsc_logblock_enc e;
    struct tsc_buf out;
    static struct gen g;
    tsc_prng_seed(&rng, 14);
    tsc_logblock_enc_init(&e);
    tsc_buf_init(&out);
    gen(&g, &rng, 5);
    assert_int_equal(tsc_logblock_encode(&e, 7, g.p, 0, &out), TSC_EINVAL);
    assert_int_equal(tsc_logblock_encode(&e, 8, g.p, 5, &out), TSC_EINVAL); /* another run */
    g.r[3].seq++;                                                           /* clock[node] != seq */
    assert_int_equal(tsc_logblock_encode(&e, 7, g.p, 5, &out), TSC_EINVAL);
    g.r[3].seq--;
    g.r[2].kind = 0;
    assert_int_equal(tsc_logblock_encode(&e, 7, g.p, 5, &out), TSC_EINVAL);
    g.r[2].kind = TSC_LOGREC_STDERR;
    g.r[1].lamport = 0;
    assert_int_equal(tsc_logblock_encode(&e, 7, g.p, 5, &out), TSC_EINVAL);
    g.r[1].lamport = 3;
    g.r[0].len = TSC_LOGREC_MAX_TEXT + 1;
    assert_int_equal(tsc_logblock_encode(&e, 7, g.p, 5, &out), TSC_ETOOBIG);
    g.r[0].len = 0;
    assert_int_equal(out.len, 0);
    assert_int_equal(tsc_logblock_encode(&e, 7, g.p, 5, &out), 0);
    assert_true(out.len > 0);
    gen_free(&g);
    tsc_buf_free(&out);
    tsc_logblock_enc_free(&e);
}

/* What the codec is for: 256 records of 100 bytes from 8 nodes with
 * 64-bit ids, in merge order, take far fewer bytes than their wire
 * encodings. */
static void test_compact(void **state)
{
    (void)state;
    struct tsc_prng rng;
    struct tsc_logblock_enc e;
    struct tsc_buf block, wire;
    static struct tsc_logrec r[256];
    static const struct tsc_logrec *p[256];
    static uint8_t text[100];
    struct tsc_vclock clock[8];
    uint64_t ids[8];
    tsc_prng_seed(&rng, 15);
    memset(text, 'x', sizeof text);
    for (size_t i = 0; i < 8; i++)
        ids[i] = tsc_prng_next(&rng) | 1ull << 63;
    for (size_t i = 0; i < 8; i++) {
        tsc_vclock_init(&clock[i]);
        for (size_t j = 0; j < 8; j++) /* a run that has been going for a while */
            assert_int_equal(tsc_vclock_set(&clock[i], ids[j], 100000 + j), 0);
    }
    for (size_t i = 0; i < 256; i++) {
        size_t k = tsc_prng_below(&rng, 8);
        if (tsc_prng_below(&rng, 33) == 0)
            assert_int_equal(tsc_vclock_merge(&clock[k], &clock[(k + 1) % 8]), 0);
        uint64_t seq;
        assert_int_equal(tsc_vclock_tick(&clock[k], ids[k], &seq), 0);
        tsc_logrec_init(&r[i]);
        assert_int_equal(tsc_vclock_copy(&r[i].clock, &clock[k]), 0);
        r[i] = (struct tsc_logrec){.node = ids[k],
                                   .seq = seq,
                                   .clock = r[i].clock,
                                   .lamport = 5000000 + i,
                                   .wall_us = 1700000000000000ull + i * 3,
                                   .run = 9,
                                   .stage = 4,
                                   .case_index = 1,
                                   .kind = TSC_LOGREC_STDOUT,
                                   .text = text,
                                   .len = sizeof text};
        p[i] = &r[i];
    }
    tsc_logblock_enc_init(&e);
    tsc_buf_init(&block);
    tsc_buf_init(&wire);
    assert_int_equal(tsc_logblock_encode(&e, 9, p, 256, &block), 0);
    for (size_t i = 0; i < 256; i++)
        assert_int_equal(tsc_logrec_encode(&r[i], &wire), 0);
    print_message("256 records: block %zu bytes, wire %zu bytes\n", block.len, wire.len);
    assert_true(block.len * 100 < wire.len * 55);
    for (size_t i = 0; i < 256; i++)
        tsc_logrec_free(&r[i]);
    for (size_t i = 0; i < 8; i++)
        tsc_vclock_free(&clock[i]);
    tsc_buf_free(&block);
    tsc_buf_free(&wire);
    tsc_logblock_enc_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_legacy),
        cmocka_unit_test(test_damaged),    cmocka_unit_test(test_refused),
        cmocka_unit_test(test_compact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
