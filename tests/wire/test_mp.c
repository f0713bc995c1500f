/* tsc — tests for the msgpack writer and the bounds-checked reader. Every
 * value is also read from every proper prefix of its encoding, which must
 * fail cleanly (ASan catches any over-read). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/error.h"
#include "wire/mp.h"

/* Read one value of the expected kind; returns the reader's status. */
enum kind { K_UINT, K_BOOL, K_NIL, K_BIN, K_STR, K_ARRAY, K_MAP, K_SKIP };

static int read_kind(enum kind k, const uint8_t *p, size_t len, size_t *consumed)
{
    struct tsc_mp_reader r;
    uint64_t u;
    int b;
    uint32_t n;
    const uint8_t *bp;
    const char *s;
    int rc;
    tsc_mp_reader_init(&r, p, len);
    switch (k) {
    case K_UINT:
        rc = tsc_mp_read_uint(&r, &u);
        break;
    case K_BOOL:
        rc = tsc_mp_read_bool(&r, &b);
        break;
    case K_NIL:
        rc = tsc_mp_read_nil(&r);
        break;
    case K_BIN:
        rc = tsc_mp_read_bin(&r, &bp, &n);
        break;
    case K_STR:
        rc = tsc_mp_read_str(&r, &s, &n);
        break;
    case K_ARRAY:
        rc = tsc_mp_read_array(&r, &n);
        break;
    case K_MAP:
        rc = tsc_mp_read_map(&r, &n);
        break;
    default:
        rc = tsc_mp_skip(&r);
        break;
    }
    if (consumed)
        *consumed = len - tsc_mp_remaining(&r);
    return rc;
}

/* The full encoding reads (and skips) exactly; every prefix fails. The
 * prefix is copied into a heap block of exactly that size so ASan sees any
 * byte read past it. */
static void check_value(enum kind k, const uint8_t *p, size_t len)
{
    size_t used;
    assert_int_equal(read_kind(k, p, len, &used), 0);
    if (k != K_ARRAY && k != K_MAP) /* containers: only the header is read */
        assert_int_equal(used, len);
    assert_int_equal(read_kind(K_SKIP, p, len, &used), 0);
    assert_int_equal(used, len);
    for (size_t i = 0; i < len; i++) {
        uint8_t *cut = malloc(i ? i : 1);
        memcpy(cut, p, i);
        if (k != K_ARRAY && k != K_MAP)
            assert_int_equal(read_kind(k, cut, i, NULL), TSC_EMALFORMED);
        assert_int_equal(read_kind(K_SKIP, cut, i, NULL), TSC_EMALFORMED);
        free(cut);
    }
}

static void pack_to(struct tsc_buf *b, struct tsc_mp_writer *w)
{
    tsc_buf_reset(b);
    tsc_mp_writer_init(w, b);
}

static void test_uints(void **state)
{
    static const uint64_t vals[] = {0,     1,          127,        128,         255,
                                    256,   65535,      65536,      0xffffffffu, 0x100000000ull,
                                    ~0ull, 1ull << 40, 0x7fffffffu};
    struct tsc_buf b;
    struct tsc_mp_writer w;
    tsc_buf_init(&b);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        pack_to(&b, &w);
        msgpack_pack_uint64(&w.pk, vals[i]);
        assert_int_equal(tsc_mp_writer_status(&w), 0);
        struct tsc_mp_reader r;
        uint64_t v;
        tsc_mp_reader_init(&r, b.data, b.len);
        assert_int_equal(tsc_mp_read_uint(&r, &v), 0);
        assert_true(v == vals[i]);
        check_value(K_UINT, b.data, b.len);
    }
    /* Negative and signed forms are not uints. */
    pack_to(&b, &w);
    msgpack_pack_int64(&w.pk, -5);
    assert_int_equal(read_kind(K_UINT, b.data, b.len, NULL), TSC_EMALFORMED);
    check_value(K_SKIP, b.data, b.len);
    pack_to(&b, &w);
    msgpack_pack_int64(&w.pk, -100000);
    assert_int_equal(read_kind(K_UINT, b.data, b.len, NULL), TSC_EMALFORMED);
    check_value(K_SKIP, b.data, b.len);
    tsc_buf_free(&b);
}

static void test_bool_nil(void **state)
{
    const uint8_t t = 0xc3, f = 0xc2, nil = 0xc0;
    struct tsc_mp_reader r;
    int v = -1;
    tsc_mp_reader_init(&r, &t, 1);
    assert_int_equal(tsc_mp_read_bool(&r, &v), 0);
    assert_int_equal(v, 1);
    tsc_mp_reader_init(&r, &f, 1);
    assert_int_equal(tsc_mp_read_bool(&r, &v), 0);
    assert_int_equal(v, 0);
    check_value(K_BOOL, &t, 1);
    check_value(K_NIL, &nil, 1);
    assert_int_equal(read_kind(K_BOOL, &nil, 1, NULL), TSC_EMALFORMED);
    assert_int_equal(read_kind(K_NIL, &t, 1, NULL), TSC_EMALFORMED);
    assert_int_equal(read_kind(K_UINT, &t, 1, NULL), TSC_EMALFORMED);
}

static void test_bin_str(void **state)
{
    static const size_t sizes[] = {0, 1, 31, 32, 255, 256, 65535, 65536, 70000};
    uint8_t *payload = malloc(70000);
    for (size_t i = 0; i < 70000; i++)
        payload[i] = (uint8_t)(i * 7);
    struct tsc_buf b;
    struct tsc_mp_writer w;
    tsc_buf_init(&b);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        struct tsc_mp_reader r;
        const uint8_t *p;
        const char *s;
        uint32_t len;

        pack_to(&b, &w);
        msgpack_pack_bin(&w.pk, n);
        msgpack_pack_bin_body(&w.pk, payload, n);
        tsc_mp_reader_init(&r, b.data, b.len);
        assert_int_equal(tsc_mp_read_bin(&r, &p, &len), 0);
        assert_int_equal(len, n);
        assert_true(n == 0 || memcmp(p, payload, n) == 0);
        assert_int_equal(read_kind(K_STR, b.data, b.len, NULL), TSC_EMALFORMED);
        if (n <= 300)
            check_value(K_BIN, b.data, b.len);

        pack_to(&b, &w);
        msgpack_pack_str(&w.pk, n);
        msgpack_pack_str_body(&w.pk, payload, n);
        tsc_mp_reader_init(&r, b.data, b.len);
        assert_int_equal(tsc_mp_read_str(&r, &s, &len), 0);
        assert_int_equal(len, n);
        assert_true(n == 0 || memcmp(s, payload, n) == 0);
        assert_int_equal(read_kind(K_BIN, b.data, b.len, NULL), TSC_EMALFORMED);
        if (n <= 300)
            check_value(K_STR, b.data, b.len);
    }
    /* A declared length beyond the input is rejected without reading it. */
    const uint8_t big_bin[] = {0xc6, 0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    const uint8_t big_str[] = {0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'};
    assert_int_equal(read_kind(K_BIN, big_bin, sizeof big_bin, NULL), TSC_EMALFORMED);
    assert_int_equal(read_kind(K_STR, big_str, sizeof big_str, NULL), TSC_EMALFORMED);
    assert_int_equal(read_kind(K_SKIP, big_bin, sizeof big_bin, NULL), TSC_EMALFORMED);
    tsc_buf_free(&b);
    free(payload);
}

static void test_array_map(void **state)
{
    struct tsc_buf b;
    struct tsc_mp_writer w;
    static const uint32_t counts[] = {0, 3, 15, 16, 300, 70000};
    tsc_buf_init(&b);
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        uint32_t n = counts[i], got;
        struct tsc_mp_reader r;
        pack_to(&b, &w);
        msgpack_pack_array(&w.pk, n);
        for (uint32_t j = 0; j < n; j++)
            msgpack_pack_uint32(&w.pk, j);
        tsc_mp_reader_init(&r, b.data, b.len);
        assert_int_equal(tsc_mp_read_array(&r, &got), 0);
        assert_int_equal(got, n);
        for (uint32_t j = 0; j < n; j++) {
            uint64_t v;
            assert_int_equal(tsc_mp_read_uint(&r, &v), 0);
            assert_true(v == j);
        }
        assert_int_equal(tsc_mp_remaining(&r), 0);
        if (n <= 300)
            check_value(K_ARRAY, b.data, b.len);

        pack_to(&b, &w);
        msgpack_pack_map(&w.pk, n);
        for (uint32_t j = 0; j < n; j++) {
            msgpack_pack_uint32(&w.pk, j);
            msgpack_pack_nil(&w.pk);
        }
        tsc_mp_reader_init(&r, b.data, b.len);
        assert_int_equal(tsc_mp_read_map(&r, &got), 0);
        assert_int_equal(got, n);
        if (n <= 300)
            check_value(K_MAP, b.data, b.len);
        assert_int_equal(read_kind(K_ARRAY, b.data, b.len, NULL), TSC_EMALFORMED);
    }
    /* Counts larger than what remains: rejected before anyone sizes by them. */
    const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0, 0};
    const uint8_t arr16[] = {0xdc, 0x00, 0x03, 0, 0};
    const uint8_t fixarr[] = {0x93, 0, 0};
    const uint8_t map32[] = {0xdf, 0x80, 0, 0, 0, 0, 0};
    const uint8_t fixmap[] = {0x82, 0, 0, 0, 0xc0}; /* 2 pairs need 4 bytes */
    uint32_t n;
    struct tsc_mp_reader r;
    assert_int_equal(read_kind(K_ARRAY, arr32, sizeof arr32, NULL), TSC_EMALFORMED);
    assert_int_equal(read_kind(K_ARRAY, arr16, sizeof arr16, NULL), TSC_EMALFORMED);
    assert_int_equal(read_kind(K_ARRAY, fixarr, sizeof fixarr, NULL), TSC_EMALFORMED);
    assert_int_equal(read_kind(K_MAP, map32, sizeof map32, NULL), TSC_EMALFORMED);
    tsc_mp_reader_init(&r, fixmap, sizeof fixmap - 1);
    assert_int_equal(tsc_mp_read_map(&r, &n), TSC_EMALFORMED);
    tsc_mp_reader_init(&r, fixmap, sizeof fixmap);
    assert_int_equal(tsc_mp_read_map(&r, &n), 0);
    assert_int_equal(n, 2);
    tsc_buf_free(&b);
}

static void test_skip_all_types(void **state)
{
    struct tsc_buf b;
    struct tsc_mp_writer w;
    tsc_buf_init(&b);
    pack_to(&b, &w);
    msgpack_packer *pk = &w.pk;
    msgpack_pack_map(pk, 3);
    msgpack_pack_str(pk, 1);
    msgpack_pack_str_body(pk, "a", 1);
    msgpack_pack_array(pk, 14);
    msgpack_pack_int8(pk, -3);
    msgpack_pack_int16(pk, -300);
    msgpack_pack_int32(pk, -70000);
    msgpack_pack_int64(pk, -5000000000ll);
    msgpack_pack_float(pk, 1.5f);
    msgpack_pack_double(pk, 2.5);
    msgpack_pack_true(pk);
    msgpack_pack_nil(pk);
    msgpack_pack_ext(pk, 1, 7);
    msgpack_pack_ext_body(pk, "x", 1);
    msgpack_pack_ext(pk, 16, 7);
    msgpack_pack_ext_body(pk, "0123456789abcdef", 16);
    msgpack_pack_ext(pk, 3, 7);
    msgpack_pack_ext_body(pk, "abc", 3);
    msgpack_pack_ext(pk, 300, 7);
    for (int i = 0; i < 300; i++)
        msgpack_pack_ext_body(pk, "z", 1);
    msgpack_pack_uint64(pk, 1ull << 60);
    msgpack_pack_map(pk, 0);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, 1);
    msgpack_pack_bin(pk, 2);
    msgpack_pack_bin_body(pk, "\x01\x02", 2);
    msgpack_pack_uint8(pk, 2);
    msgpack_pack_map(pk, 1);
    msgpack_pack_int8(pk, 1);
    msgpack_pack_int8(pk, 2);
    msgpack_pack_int8(pk, 9); /* trailing value: not part of the map */
    assert_int_equal(tsc_mp_writer_status(&w), 0);
    check_value(K_SKIP, b.data, b.len - 1);
    struct tsc_mp_reader r;
    uint64_t v;
    tsc_mp_reader_init(&r, b.data, b.len);
    assert_int_equal(tsc_mp_skip(&r), 0);
    assert_int_equal(tsc_mp_read_uint(&r, &v), 0);
    assert_int_equal(v, 9);
    /* 0xc1 is never used. */
    const uint8_t c1[] = {0x91, 0xc1};
    assert_int_equal(read_kind(K_SKIP, c1, sizeof c1, NULL), TSC_EMALFORMED);
    tsc_buf_free(&b);
}

static void test_skip_depth(void **state)
{
    uint8_t buf[200000];
    size_t used;
    /* 32 nested arrays around a nil are fine, 33 are not. */
    memset(buf, 0x91, 32);
    buf[32] = 0xc0;
    assert_int_equal(read_kind(K_SKIP, buf, 33, &used), 0);
    assert_int_equal(used, 33);
    memset(buf, 0x91, 33);
    buf[33] = 0xc0;
    assert_int_equal(read_kind(K_SKIP, buf, 34, NULL), TSC_EMALFORMED);
    /* Very deep nesting costs nothing: rejected at depth 33. */
    memset(buf, 0x81, sizeof buf);
    assert_int_equal(read_kind(K_SKIP, buf, sizeof buf, NULL), TSC_EMALFORMED);
    /* Wide but shallow is fine: array16 of 60000 nils. */
    buf[0] = 0xdc;
    buf[1] = 60000 >> 8;
    buf[2] = 60000 & 0xff;
    memset(buf + 3, 0xc0, 60000);
    assert_int_equal(read_kind(K_SKIP, buf, 60003, &used), 0);
    assert_int_equal(used, 60003);
}

/* Every single byte value as a one-byte input, and garbage input of every
 * length: the reader must never crash and must stay in bounds. */
static void test_garbage(void **state)
{
    uint8_t x[64];
    uint32_t seed = 12345;
    for (int v = 0; v < 256; v++) {
        uint8_t *one = malloc(1);
        one[0] = (uint8_t)v;
        for (int k = K_UINT; k <= K_SKIP; k++)
            (void)read_kind((enum kind)k, one, 1, NULL);
        free(one);
    }
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(round % 64);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            x[i] = (uint8_t)(seed >> 16);
        }
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, x, len);
        size_t used;
        for (int k = K_UINT; k <= K_SKIP; k++) {
            if (read_kind((enum kind)k, p, len, &used) == 0)
                assert_true(used <= len);
        }
        free(p);
    }
}

static void test_writer_nomem(void **state)
{
    struct tsc_buf b;
    struct tsc_mp_writer w;
    tsc_buf_init(&b);
    tsc_mp_writer_init(&w, &b);
    tsc_alloc_fail_after(1);
    msgpack_pack_array(&w.pk, 2);
    msgpack_pack_uint8(&w.pk, 1);
    assert_int_equal(tsc_mp_writer_status(&w), TSC_ENOMEM);
    assert_int_equal(b.len, 0);
    tsc_alloc_fail_after(0);
    /* Once failed, later writes are refused too (no holes). */
    msgpack_pack_uint8(&w.pk, 1);
    assert_int_equal(b.len, 0);
    assert_int_equal(tsc_mp_writer_status(&w), TSC_ENOMEM);
    tsc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uints),          cmocka_unit_test(test_bool_nil),
        cmocka_unit_test(test_bin_str),        cmocka_unit_test(test_array_map),
        cmocka_unit_test(test_skip_all_types), cmocka_unit_test(test_skip_depth),
        cmocka_unit_test(test_garbage),        cmocka_unit_test(test_writer_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
