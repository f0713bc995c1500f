/* tsc — SWIM datagram bodies (item and byte limits) and push-pull bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/error.h"
#include "wire/frame.h"
#include "wire/swim.h"

static void test_datagram_round_trip(void **state)
{
    struct tsc_buf b;
    struct tsc_swim_writer w;
    struct tsc_swim_msg m;
    struct tsc_addr a = {0x7f000001, 7946};
    uint8_t items[3][300];
    const size_t lens[3] = {1, 100, 300};
    for (int i = 0; i < 3; i++)
        memset(items[i], 'a' + i, sizeof items[i]);
    tsc_buf_init(&b);
    assert_int_equal(tsc_buf_append(&b, "pre", 3), 0);
    assert_int_equal(tsc_swim_begin(&w, &b, 0xfffffffeu, 0x0102030405060708ull, a), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tsc_swim_add(&w, items[i], lens[i], 1400), 0);
    tsc_swim_finish(&w);
    assert_int_equal(w.start, 3);
    const uint8_t *body = b.data + w.start;
    size_t len = b.len - w.start;
    assert_int_equal(tsc_swim_decode(body, len, &m), 0);
    assert_int_equal(m.probe, 0xfffffffeu);
    assert_true(m.target == 0x0102030405060708ull);
    assert_true(tsc_addr_eq(&m.target_addr, &a));
    assert_int_equal(m.n_items, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(m.items[i].len, lens[i]);
        assert_memory_equal(m.items[i].blob, items[i], lens[i]);
        assert_true(m.items[i].blob >= body && m.items[i].blob + lens[i] <= body + len);
    }
    /* Every prefix fails, and so does one trailing byte. */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, body, cut);
        assert_int_equal(tsc_swim_decode(p, cut, &m), TSC_EMALFORMED);
        free(p);
    }
    assert_int_equal(tsc_buf_append(&b, "\xc0", 1), 0);
    assert_int_equal(tsc_swim_decode(b.data + w.start, b.len - w.start, &m), TSC_EMALFORMED);

    /* No items, zero fields. */
    struct tsc_addr zero = {0, 0};
    tsc_buf_reset(&b);
    assert_int_equal(tsc_swim_begin(&w, &b, 0, 0, zero), 0);
    tsc_swim_finish(&w);
    assert_int_equal(tsc_swim_decode(b.data, b.len, &m), 0);
    assert_int_equal(m.n_items, 0);
    assert_int_equal(m.probe, 0);
    tsc_buf_free(&b);
}

static void test_datagram_limits(void **state)
{
    struct tsc_buf b;
    struct tsc_swim_writer w;
    struct tsc_swim_msg m;
    struct tsc_addr a = {0xc6120001, 1};
    uint8_t item[100];
    memset(item, 7, sizeof item);
    const size_t limit = TSC_WIRE_MAX_DATAGRAM - TSC_WIRE_OVERHEAD;
    tsc_buf_init(&b);

    /* Byte limit: items of 102 encoded bytes until the body is full. */
    assert_int_equal(tsc_swim_begin(&w, &b, 1, 2, a), 0);
    unsigned n = 0;
    while (tsc_swim_add(&w, item, sizeof item, limit) == 0)
        n++;
    size_t full = b.len;
    assert_true(full <= limit);
    assert_true(full + 102 > limit);
    /* EFULL wrote nothing; a smaller item may still fit. */
    assert_int_equal(tsc_swim_add(&w, item, sizeof item, limit), TSC_EFULL);
    assert_int_equal(b.len, full);
    tsc_swim_finish(&w);
    assert_int_equal(tsc_swim_decode(b.data, b.len, &m), 0);
    assert_int_equal(m.n_items, n);
    /* The body, sealed, fits a datagram. */
    struct tsc_wire wire;
    uint8_t key[TSC_KEY_BYTES] = {1}, nonce[TSC_NONCE_BYTES] = {2};
    tsc_wire_init(&wire, key, &tsc_crypto_cheap);
    struct tsc_envelope env = {0, 0, ~0ull, ~0ull, TSC_MSG_PING, b.data, b.len};
    struct tsc_buf frame;
    tsc_buf_init(&frame);
    assert_int_equal(tsc_wire_seal(&wire, &env, nonce, TSC_WIRE_MAX_DATAGRAM, &frame), 0);
    tsc_buf_free(&frame);

    /* Item limit: tiny items stop at TSC_SWIM_MAX_ITEMS. */
    tsc_buf_reset(&b);
    assert_int_equal(tsc_swim_begin(&w, &b, 1, 2, a), 0);
    for (unsigned i = 0; i < TSC_SWIM_MAX_ITEMS; i++)
        assert_int_equal(tsc_swim_add(&w, item, 1, limit), 0);
    assert_int_equal(tsc_swim_add(&w, item, 1, limit), TSC_EFULL);
    tsc_swim_finish(&w);
    assert_int_equal(tsc_swim_decode(b.data, b.len, &m), 0);
    assert_int_equal(m.n_items, TSC_SWIM_MAX_ITEMS);

    /* A body claiming more items than the maximum is rejected. */
    tsc_buf_reset(&b);
    assert_int_equal(tsc_swim_begin(&w, &b, 1, 2, a), 0);
    for (unsigned i = 0; i < TSC_SWIM_MAX_ITEMS + 1; i++) {
        assert_int_equal(tsc_buf_append(&b, "\xc4\x01x", 3), 0);
        w.n_items++;
    }
    tsc_swim_finish(&w);
    assert_int_equal(tsc_swim_decode(b.data, b.len, &m), TSC_EMALFORMED);

    /* A limit smaller than the header: nothing fits. */
    tsc_buf_reset(&b);
    assert_int_equal(tsc_swim_begin(&w, &b, 1, 2, a), 0);
    assert_int_equal(tsc_swim_add(&w, item, 1, 3), TSC_EFULL);
    tsc_buf_free(&b);
}

static void test_datagram_malformed(void **state)
{
    struct tsc_swim_msg m;
    /* Hand-built: [1, 2, 3, 4, array16 [bin "x"]] is valid. */
    uint8_t ok[] = {0x95, 1, 2, 3, 4, 0xdc, 0, 1, 0xc4, 1, 'x'};
    assert_int_equal(tsc_swim_decode(ok, sizeof ok, &m), 0);
    uint8_t v[sizeof ok];
    memcpy(v, ok, sizeof ok);
    v[0] = 0x94; /* 4 fields */
    assert_int_equal(tsc_swim_decode(v, sizeof v, &m), TSC_EMALFORMED);
    memcpy(v, ok, sizeof ok);
    v[8] = 0xa1; /* item as str */
    assert_int_equal(tsc_swim_decode(v, sizeof v, &m), TSC_EMALFORMED);
    memcpy(v, ok, sizeof ok);
    v[4] = 0xcf; /* port as uint64: truncated and too big */
    assert_int_equal(tsc_swim_decode(v, sizeof v, &m), TSC_EMALFORMED);
    const uint8_t bigport[] = {0x95, 1, 2, 3, 0xce, 0, 1, 0, 0, 0x90};
    assert_int_equal(tsc_swim_decode(bigport, sizeof bigport, &m), TSC_EMALFORMED);
    const uint8_t bigprobe[] = {0x95, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 2, 3, 4, 0x90};
    assert_int_equal(tsc_swim_decode(bigprobe, sizeof bigprobe, &m), TSC_EMALFORMED);
    const uint8_t liar[] = {0x95, 1, 2, 3, 4, 0xdd, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(tsc_swim_decode(liar, sizeof liar, &m), TSC_EMALFORMED);
    assert_int_equal(tsc_swim_decode(NULL, 0, &m), TSC_EMALFORMED);
}

static void test_pushpull(void **state)
{
    struct tsc_buf b;
    struct tsc_mp_reader r;
    int join = -1;
    uint32_t count = 0;
    uint8_t blob[2000];
    memset(blob, 3, sizeof blob);
    tsc_buf_init(&b);
    assert_int_equal(tsc_pushpull_begin(&b, 1, 3), 0);
    assert_int_equal(tsc_pushpull_add(&b, blob, 10), 0);
    assert_int_equal(tsc_pushpull_add(&b, blob, 0), 0);
    assert_int_equal(tsc_pushpull_add(&b, blob, sizeof blob), 0);
    assert_int_equal(tsc_pushpull_read_begin(&r, b.data, b.len, &join, &count), 0);
    assert_int_equal(join, 1);
    assert_int_equal(count, 3);
    const size_t want[3] = {10, 0, sizeof blob};
    for (int i = 0; i < 3; i++) {
        const uint8_t *p;
        size_t len;
        assert_int_equal(tsc_pushpull_read_next(&r, &p, &len), 0);
        assert_int_equal(len, want[i]);
        assert_true(len == 0 || memcmp(p, blob, len) == 0);
    }
    assert_int_equal(tsc_mp_remaining(&r), 0);
    const uint8_t *p;
    size_t len;
    assert_int_equal(tsc_pushpull_read_next(&r, &p, &len), TSC_EMALFORMED);

    /* Every prefix: begin or some next fails. */
    for (size_t cut = 0; cut < b.len; cut++) {
        uint8_t *c = malloc(cut ? cut : 1);
        memcpy(c, b.data, cut);
        int rc = tsc_pushpull_read_begin(&r, c, cut, &join, &count);
        for (uint32_t i = 0; rc == 0 && i < count; i++)
            rc = tsc_pushpull_read_next(&r, &p, &len);
        assert_int_equal(rc, TSC_EMALFORMED);
        free(c);
    }

    /* join=false, no items. A declared count beyond the body is refused. */
    tsc_buf_reset(&b);
    assert_int_equal(tsc_pushpull_begin(&b, 0, 0), 0);
    assert_int_equal(tsc_pushpull_read_begin(&r, b.data, b.len, &join, &count), 0);
    assert_int_equal(join, 0);
    assert_int_equal(count, 0);
    tsc_buf_reset(&b);
    assert_int_equal(tsc_pushpull_begin(&b, 0, 1000000), 0);
    assert_int_equal(tsc_pushpull_read_begin(&r, b.data, b.len, &join, &count), TSC_EMALFORMED);
    const uint8_t notbool[] = {0x92, 1, 0x90};
    assert_int_equal(tsc_pushpull_read_begin(&r, notbool, sizeof notbool, &join, &count),
                     TSC_EMALFORMED);
    tsc_buf_free(&b);
}

static void test_nomem(void **state)
{
    struct tsc_buf b;
    struct tsc_swim_writer w;
    struct tsc_addr a = {1, 2};
    uint8_t item[200];
    memset(item, 1, sizeof item);
    tsc_buf_init(&b);
    tsc_alloc_fail_after(1);
    assert_int_equal(tsc_swim_begin(&w, &b, 1, 2, a), TSC_ENOMEM);
    assert_int_equal(b.len, 0);
    assert_int_equal(tsc_swim_begin(&w, &b, 1, 2, a), 0);
    size_t before = b.len;
    tsc_alloc_fail_after(1); /* the item needs the buffer to grow */
    assert_int_equal(tsc_swim_add(&w, item, sizeof item, 1400), TSC_ENOMEM);
    assert_int_equal(b.len, before);
    assert_int_equal(w.n_items, 0);
    assert_int_equal(tsc_swim_add(&w, item, sizeof item, 1400), 0);
    tsc_buf_free(&b);

    tsc_alloc_fail_after(1);
    assert_int_equal(tsc_pushpull_begin(&b, 1, 1), TSC_ENOMEM);
    assert_int_equal(b.len, 0);
    assert_int_equal(tsc_pushpull_begin(&b, 1, 1), 0);
    tsc_alloc_fail_after(1);
    assert_int_equal(tsc_pushpull_add(&b, item, sizeof item), TSC_ENOMEM);
    assert_int_equal(b.len, 7);
    tsc_alloc_fail_after(0);
    tsc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_datagram_round_trip),
        cmocka_unit_test(test_datagram_limits),
        cmocka_unit_test(test_datagram_malformed),
        cmocka_unit_test(test_pushpull),
        cmocka_unit_test(test_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
