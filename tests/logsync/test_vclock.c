/* tsc — tests for compact vector clocks (logsync/vclock.h): the operations
 * as tables, the codec (round trips, every prefix of an encoding rejected,
 * malformed clocks rejected), the limits, and allocation failures leaving a
 * clock unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/error.h"
#include "logsync/vclock.h"

#define MAXP 8 /* pairs in a table row */

struct pairs {
    size_t n;
    uint64_t v[2 * MAXP]; /* node, count, node, count, ... */
};

static void mk(struct tsc_vclock *c, const struct pairs *p)
{
    tsc_vclock_reset(c);
    for (size_t i = 0; i < p->n; i++)
        assert_int_equal(tsc_vclock_set(c, p->v[2 * i], p->v[2 * i + 1]), 0);
}

static void assert_clock(const struct tsc_vclock *c, const struct pairs *p)
{
    assert_int_equal(c->n, p->n);
    for (size_t i = 0; i < p->n; i++) {
        assert_int_equal(c->e[i].node, p->v[2 * i]);
        assert_int_equal(c->e[i].count, p->v[2 * i + 1]);
    }
}

static void test_set_get(void **state)
{
    struct tsc_vclock c;
    tsc_vclock_init(&c);
    assert_int_equal(tsc_vclock_get(&c, 5), 0);
    assert_int_equal(tsc_vclock_set(&c, 0, 1), TSC_EINVAL);
    assert_int_equal(tsc_vclock_set(&c, 9, 3), 0);
    assert_int_equal(tsc_vclock_set(&c, 2, 1), 0);
    assert_int_equal(tsc_vclock_set(&c, 5, 7), 0);
    assert_int_equal(tsc_vclock_set(&c, 7, 0), 0); /* unset stays unset */
    struct pairs want = {3, {2, 1, 5, 7, 9, 3}};
    assert_clock(&c, &want);
    assert_int_equal(tsc_vclock_get(&c, 5), 7);
    assert_int_equal(tsc_vclock_get(&c, 6), 0);
    assert_int_equal(tsc_vclock_set(&c, 5, 0), 0); /* removes */
    struct pairs want2 = {2, {2, 1, 9, 3}};
    assert_clock(&c, &want2);
    uint64_t v = 0;
    assert_int_equal(tsc_vclock_tick(&c, 4, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(tsc_vclock_tick(&c, 9, NULL), 0);
    assert_int_equal(tsc_vclock_get(&c, 9), 4);
    assert_int_equal(tsc_vclock_tick(&c, 0, &v), TSC_EINVAL);
    /* A count that cannot grow is refused, the clock unchanged. */
    assert_int_equal(tsc_vclock_set(&c, 4, UINT64_MAX), 0);
    assert_int_equal(tsc_vclock_tick(&c, 4, &v), TSC_EFULL);
    assert_int_equal(tsc_vclock_get(&c, 4), UINT64_MAX);
    assert_int_equal(tsc_vclock_sum(&c), UINT64_MAX); /* saturates */
    tsc_vclock_free(&c);
    assert_int_equal(c.n, 0);
    assert_null(c.e);
}

static void test_compare_table(void **state)
{
    static const struct {
        struct pairs a, b;
        int want;
    } rows[] = {
        {{0, {0}}, {0, {0}}, TSC_VCLOCK_EQUAL},
        {{1, {1, 1}}, {1, {1, 1}}, TSC_VCLOCK_EQUAL},
        {{0, {0}}, {1, {3, 1}}, TSC_VCLOCK_BEFORE},
        {{1, {3, 1}}, {0, {0}}, TSC_VCLOCK_AFTER},
        {{1, {1, 1}}, {1, {1, 2}}, TSC_VCLOCK_BEFORE},
        {{2, {1, 2, 2, 1}}, {2, {1, 1, 2, 1}}, TSC_VCLOCK_AFTER},
        {{1, {1, 1}}, {1, {2, 1}}, TSC_VCLOCK_CONCURRENT},
        {{2, {1, 2, 3, 1}}, {2, {1, 3, 2, 1}}, TSC_VCLOCK_CONCURRENT},
        {{1, {1, 1}}, {2, {1, 1, 2, 5}}, TSC_VCLOCK_BEFORE},
        {{2, {1, 1, 9, 1}}, {2, {1, 1, 2, 5}}, TSC_VCLOCK_CONCURRENT},
        {{3, {1, 1, 2, 2, 3, 3}}, {3, {1, 1, 2, 2, 3, 4}}, TSC_VCLOCK_BEFORE},
        {{3, {1, 2, 2, 2, 3, 3}}, {3, {1, 1, 2, 2, 3, 4}}, TSC_VCLOCK_CONCURRENT},
    };
    struct tsc_vclock a, b;
    tsc_vclock_init(&a);
    tsc_vclock_init(&b);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        mk(&a, &rows[i].a);
        mk(&b, &rows[i].b);
        assert_int_equal(tsc_vclock_compare(&a, &b), rows[i].want);
        /* The relation is antisymmetric. */
        int rev = rows[i].want == TSC_VCLOCK_BEFORE  ? TSC_VCLOCK_AFTER
                  : rows[i].want == TSC_VCLOCK_AFTER ? TSC_VCLOCK_BEFORE
                                                     : rows[i].want;
        assert_int_equal(tsc_vclock_compare(&b, &a), rev);
        /* a < b implies sum(a) < sum(b): the merge's key. */
        if (rows[i].want == TSC_VCLOCK_BEFORE)
            assert_true(tsc_vclock_sum(&a) < tsc_vclock_sum(&b));
    }
    tsc_vclock_free(&a);
    tsc_vclock_free(&b);
}

static void test_merge_table(void **state)
{
    static const struct {
        struct pairs a, b, want;
    } rows[] = {
        {{0, {0}}, {0, {0}}, {0, {0}}},
        {{0, {0}}, {2, {1, 1, 2, 2}}, {2, {1, 1, 2, 2}}},
        {{2, {1, 1, 2, 2}}, {0, {0}}, {2, {1, 1, 2, 2}}},
        {{2, {1, 5, 3, 1}}, {2, {2, 2, 3, 4}}, {3, {1, 5, 2, 2, 3, 4}}},
        {{2, {4, 1, 5, 1}}, {2, {1, 1, 2, 1}}, {4, {1, 1, 2, 1, 4, 1, 5, 1}}},
        {{2, {1, 1, 2, 1}}, {2, {4, 1, 5, 1}}, {4, {1, 1, 2, 1, 4, 1, 5, 1}}},
        {{3, {1, 9, 5, 9, 9, 9}}, {3, {1, 1, 5, 10, 8, 1}}, {4, {1, 9, 5, 10, 8, 1, 9, 9}}},
    };
    struct tsc_vclock a, b, w;
    tsc_vclock_init(&a);
    tsc_vclock_init(&b);
    tsc_vclock_init(&w);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        mk(&a, &rows[i].a);
        mk(&b, &rows[i].b);
        assert_int_equal(tsc_vclock_merge(&a, &b), 0);
        assert_clock(&a, &rows[i].want);
        /* Commutative, and idempotent. */
        mk(&a, &rows[i].a);
        assert_int_equal(tsc_vclock_merge(&b, &a), 0);
        assert_clock(&b, &rows[i].want);
        assert_int_equal(tsc_vclock_merge(&b, &b), 0);
        assert_clock(&b, &rows[i].want);
        /* Both inputs are <= the merge. */
        mk(&w, &rows[i].want);
        int o = tsc_vclock_compare(&a, &w);
        assert_true(o == TSC_VCLOCK_BEFORE || o == TSC_VCLOCK_EQUAL);
    }
    assert_int_equal(tsc_vclock_copy(&w, &a), 0);
    assert_int_equal(tsc_vclock_compare(&w, &a), TSC_VCLOCK_EQUAL);
    tsc_vclock_free(&a);
    tsc_vclock_free(&b);
    tsc_vclock_free(&w);
}

static void test_project_table(void **state)
{
    static const struct {
        struct pairs src;
        size_t n;
        uint64_t nodes[6];
        struct pairs want;
    } rows[] = {
        {{3, {1, 1, 2, 2, 3, 3}}, 0, {0}, {0, {0}}},
        {{3, {1, 1, 2, 2, 3, 3}}, 2, {3, 1}, {2, {1, 1, 3, 3}}},
        {{3, {1, 1, 2, 2, 3, 3}}, 4, {2, 2, 9, 2}, {1, {2, 2}}},
        {{3, {1, 1, 2, 2, 3, 3}}, 6, {3, 2, 1, 4, 5, 6}, {3, {1, 1, 2, 2, 3, 3}}},
        {{0, {0}}, 2, {1, 2}, {0, {0}}},
        {{2, {10, 1, 20, 2}}, 3, {15, 5, 25}, {0, {0}}},
    };
    struct tsc_vclock s, d;
    tsc_vclock_init(&s);
    tsc_vclock_init(&d);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        mk(&s, &rows[i].src);
        mk(&d, &rows[i].src); /* something to overwrite */
        assert_int_equal(tsc_vclock_project(&d, &s, rows[i].nodes, rows[i].n), 0);
        assert_clock(&d, &rows[i].want);
        /* In place. */
        assert_int_equal(tsc_vclock_project(&s, &s, rows[i].nodes, rows[i].n), 0);
        assert_clock(&s, &rows[i].want);
    }
    assert_int_equal(tsc_vclock_project(&d, &s, NULL, 1), TSC_EINVAL);
    tsc_vclock_free(&s);
    tsc_vclock_free(&d);
}

/* Encode c, decode it back; every proper prefix must fail cleanly. */
static void round_trip(const struct tsc_vclock *c)
{
    struct tsc_buf b;
    struct tsc_mp_writer w;
    struct tsc_mp_reader r;
    struct tsc_vclock d;
    tsc_buf_init(&b);
    tsc_vclock_init(&d);
    tsc_mp_writer_init(&w, &b);
    tsc_vclock_pack(c, &w);
    assert_int_equal(tsc_mp_writer_status(&w), 0);
    tsc_mp_reader_init(&r, b.data, b.len);
    assert_int_equal(tsc_vclock_read(&r, &d), 0);
    assert_int_equal(tsc_mp_remaining(&r), 0);
    assert_int_equal(tsc_vclock_compare(c, &d), TSC_VCLOCK_EQUAL);
    assert_int_equal(d.n, c->n);
    size_t stride = b.len > 4096 ? b.len / 512 : 1;
    for (size_t cut = 0; cut < b.len; cut += stride) {
        uint8_t *p = malloc(cut ? cut : 1); /* exact size: ASan sees over-reads */
        memcpy(p, b.data, cut);
        tsc_mp_reader_init(&r, p, cut);
        assert_int_equal(tsc_vclock_read(&r, &d), TSC_EMALFORMED);
        assert_int_equal(d.n, 0);
        free(p);
    }
    tsc_vclock_free(&d);
    tsc_buf_free(&b);
}

static void test_codec_round_trip(void **state)
{
    struct tsc_vclock c;
    tsc_vclock_init(&c);
    round_trip(&c);
    static const struct pairs rows[] = {
        {1, {1, 1}},
        {3, {1, 127, 2, 128, 300, 65536}},
        {2, {UINT64_MAX - 1, UINT64_MAX, UINT64_MAX, 1}},
        {4, {7, 1, 0x100000000ull, 2, 0x100000001ull, 0xffffffffull, 0x1000000000000ull, 3}},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        mk(&c, &rows[i]);
        round_trip(&c);
    }
    /* The largest clock. */
    tsc_vclock_reset(&c);
    for (uint64_t k = 1; k <= TSC_VCLOCK_MAX_ENTRIES; k++)
        assert_int_equal(tsc_vclock_set(&c, k * 1000, k), 0);
    round_trip(&c);
    tsc_vclock_free(&c);
}

static int decode_bytes(const uint8_t *p, size_t n)
{
    struct tsc_mp_reader r;
    struct tsc_vclock c;
    tsc_vclock_init(&c);
    tsc_mp_reader_init(&r, p, n);
    int rc = tsc_vclock_read(&r, &c);
    if (rc != 0)
        assert_int_equal(c.n, 0);
    tsc_vclock_free(&c);
    return rc;
}

static void test_codec_malformed(void **state)
{
    static const struct {
        uint8_t p[12];
        size_t n;
        int want;
    } rows[] = {
        {{0x90}, 1, 0},                                      /* [] */
        {{0x92, 0x01, 0x01}, 3, 0},                          /* [1, 1] */
        {{0x91, 0x01}, 2, TSC_EMALFORMED},                   /* odd length */
        {{0x94, 0x02, 0x01, 0x01, 0x01}, 5, TSC_EMALFORMED}, /* unsorted */
        {{0x94, 0x01, 0x01, 0x01, 0x02}, 5, TSC_EMALFORMED}, /* repeated id */
        {{0x92, 0x00, 0x01}, 3, TSC_EMALFORMED},             /* id 0 */
        {{0x92, 0x01, 0x00}, 3, TSC_EMALFORMED},             /* count 0 */
        {{0x92, 0xff, 0x01}, 3, TSC_EMALFORMED},             /* negative id */
        {{0x92, 0xa1, 0x41, 0x01}, 4, TSC_EMALFORMED},       /* string id */
        {{0x80}, 1, TSC_EMALFORMED},                         /* a map */
        {{0xc0}, 1, TSC_EMALFORMED},                         /* nil */
        {{0xdd, 0xff, 0xff, 0xff, 0xff}, 5, TSC_EMALFORMED}, /* a huge count */
        {{0x92, 0xcf, 0, 0, 0, 0, 0, 0, 0, 1, 0x01}, 11, 0}, /* uint64 id */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        assert_int_equal(decode_bytes(rows[i].p, rows[i].n), rows[i].want);

    /* One entry more than TSC_VCLOCK_MAX_ENTRIES, otherwise well formed. */
    size_t n = TSC_VCLOCK_MAX_ENTRIES + 1;
    uint8_t *p = malloc(5 + n * 6), *q = p;
    *q++ = 0xdd;
    uint32_t len = (uint32_t)(2 * n);
    *q++ = (uint8_t)(len >> 24), *q++ = (uint8_t)(len >> 16), *q++ = (uint8_t)(len >> 8),
    *q++ = (uint8_t)len;
    for (size_t k = 1; k <= n; k++) {
        *q++ = 0xcd, *q++ = (uint8_t)(k >> 8), *q++ = (uint8_t)k;
        *q++ = 0x01;
    }
    assert_int_equal(decode_bytes(p, (size_t)(q - p)), TSC_EMALFORMED);
    free(p);
}

static void test_limits(void **state)
{
    struct tsc_vclock a, b;
    tsc_vclock_init(&a);
    tsc_vclock_init(&b);
    for (uint64_t k = 1; k <= TSC_VCLOCK_MAX_ENTRIES; k++)
        assert_int_equal(tsc_vclock_set(&a, 2 * k, 1), 0);
    assert_int_equal(tsc_vclock_set(&a, 1, 1), TSC_EFULL);
    assert_int_equal(tsc_vclock_tick(&a, 3, NULL), TSC_EFULL);
    assert_int_equal(tsc_vclock_tick(&a, 2, NULL), 0); /* an existing entry still ticks */
    /* A merge that would pass the limit fails and leaves dst as it was. */
    assert_int_equal(tsc_vclock_set(&b, 3, 9), 0);
    assert_int_equal(tsc_vclock_merge(&a, &b), TSC_EFULL);
    assert_int_equal(a.n, TSC_VCLOCK_MAX_ENTRIES);
    assert_int_equal(tsc_vclock_get(&a, 3), 0);
    assert_int_equal(tsc_vclock_get(&a, 2), 2);
    /* ... but one within the limit works. */
    assert_int_equal(tsc_vclock_set(&b, 3, 0), 0);
    assert_int_equal(tsc_vclock_set(&b, 4, 9), 0);
    assert_int_equal(tsc_vclock_merge(&a, &b), 0);
    assert_int_equal(tsc_vclock_get(&a, 4), 9);
    assert_int_equal(tsc_vclock_sum(&a), TSC_VCLOCK_MAX_ENTRIES + 1 + 8);
    tsc_vclock_free(&a);
    tsc_vclock_free(&b);
}

static void test_alloc_failure(void **state)
{
    struct tsc_vclock a, b;
    tsc_vclock_init(&a);
    tsc_vclock_init(&b);
    tsc_alloc_fail_after(1);
    assert_int_equal(tsc_vclock_set(&a, 1, 1), TSC_ENOMEM);
    assert_int_equal(a.n, 0);
    for (uint64_t k = 1; k <= 4; k++)
        assert_int_equal(tsc_vclock_set(&a, k, k), 0); /* capacity 4 */
    for (uint64_t k = 5; k <= 9; k++)
        assert_int_equal(tsc_vclock_set(&b, k, 1), 0);
    tsc_alloc_fail_after(1);
    assert_int_equal(tsc_vclock_merge(&a, &b), TSC_ENOMEM);
    assert_int_equal(a.n, 4);
    assert_int_equal(tsc_vclock_sum(&a), 10);
    tsc_alloc_fail_after(1);
    assert_int_equal(tsc_vclock_project(&a, &b, (const uint64_t[]){5, 6}, 2), TSC_ENOMEM);
    assert_int_equal(a.n, 4);
    tsc_alloc_fail_after(0);
    assert_int_equal(tsc_vclock_merge(&a, &b), 0);
    assert_int_equal(a.n, 9);
    tsc_vclock_free(&a);
    tsc_vclock_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_get),          cmocka_unit_test(test_compare_table),
        cmocka_unit_test(test_merge_table),      cmocka_unit_test(test_project_table),
        cmocka_unit_test(test_codec_round_trip), cmocka_unit_test(test_codec_malformed),
        cmocka_unit_test(test_limits),           cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
