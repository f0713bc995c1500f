/* tsc — unit tests of the election message bodies (wire/raft.h): round
 * trips, the datagram limit of the AppendEntries writer, and rejection of
 * every truncation and of malformed shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/prng.h"
#include "wire/raft.h"

static void test_vote_round_trip(void **state)
{
    (void)state;
    struct tsc_buf b;
    tsc_buf_init(&b);
    struct tsc_raft_vote v = {.term = 1ull << 40,
                              .last_index = 77,
                              .last_term = 9,
                              .flags = TSC_RAFT_VOTE_PRE | TSC_RAFT_VOTE_TRANSFER};
    assert_int_equal(tsc_raft_vote_encode(&b, &v), 0);
    struct tsc_raft_vote d;
    assert_int_equal(tsc_raft_vote_decode(b.data, b.len, &d), 0);
    assert_int_equal(d.term, v.term);
    assert_int_equal(d.last_index, 77);
    assert_int_equal(d.last_term, 9);
    assert_int_equal(d.flags, v.flags);
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(tsc_raft_vote_decode(b.data, n, &d), TSC_EMALFORMED);

    tsc_buf_reset(&b);
    struct tsc_raft_vote_resp r = {.term = 5, .granted = 1, .prevote = 0}, dr;
    assert_int_equal(tsc_raft_vote_resp_encode(&b, &r), 0);
    assert_int_equal(tsc_raft_vote_resp_decode(b.data, b.len, &dr), 0);
    assert_int_equal(dr.term, 5);
    assert_true(dr.granted);
    assert_false(dr.prevote);

    tsc_buf_reset(&b);
    struct tsc_raft_append_resp a = {.term = 3, .success = 0, .index = 12, .stamp = 999}, da;
    assert_int_equal(tsc_raft_append_resp_encode(&b, &a), 0);
    assert_int_equal(tsc_raft_append_resp_decode(b.data, b.len, &da), 0);
    assert_int_equal(da.index, 12);
    assert_int_equal(da.stamp, 999);
    assert_false(da.success);

    tsc_buf_reset(&b);
    uint64_t t;
    assert_int_equal(tsc_raft_timeout_now_encode(&b, 42), 0);
    assert_int_equal(tsc_raft_timeout_now_decode(b.data, b.len, &t), 0);
    assert_int_equal(t, 42);
    /* trailing bytes are refused */
    uint8_t extra = 0;
    assert_int_equal(tsc_buf_append(&b, &extra, 1), 0);
    assert_int_equal(tsc_raft_timeout_now_decode(b.data, b.len, &t), TSC_EMALFORMED);
    /* unknown vote flags are refused */
    tsc_buf_reset(&b);
    v.flags = 0x10;
    assert_int_equal(tsc_raft_vote_encode(&b, &v), 0);
    assert_int_equal(tsc_raft_vote_decode(b.data, b.len, &d), TSC_EMALFORMED);
    tsc_buf_free(&b);
}

static void test_append_round_trip_and_limit(void **state)
{
    (void)state;
    struct tsc_buf b;
    tsc_buf_init(&b);
    struct tsc_raft_append h = {
        .term = 7, .prev_index = 10, .prev_term = 6, .commit = 9, .stamp = 123456};
    struct tsc_raft_append_writer w;
    assert_int_equal(tsc_raft_append_begin(&w, &b, &h), 0);
    uint8_t data[300];
    memset(data, 0xab, sizeof data);
    int added = 0;
    while (tsc_raft_append_add(&w, 7, TSC_RAFT_ENTRY_DATA, data, sizeof data, 1300) == 0)
        added++;
    assert_int_equal(added, 4);
    assert_true(b.len <= 1300);
    tsc_raft_append_finish(&w);
    struct tsc_raft_append m;
    assert_int_equal(tsc_raft_append_decode(b.data, b.len, &m), 0);
    assert_int_equal(m.n_entries, 4);
    assert_int_equal(m.prev_index, 10);
    assert_int_equal(m.stamp, 123456);
    for (int i = 0; i < 4; i++) {
        struct tsc_raft_entry_view e;
        assert_int_equal(tsc_raft_append_next(&m, &e), 0);
        assert_int_equal(e.term, 7);
        assert_int_equal(e.type, TSC_RAFT_ENTRY_DATA);
        assert_int_equal(e.len, sizeof data);
        assert_memory_equal(e.data, data, sizeof data);
    }
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(tsc_raft_append_decode(b.data, n, &m), TSC_EMALFORMED);

    /* an entry with a term above the message's term is refused */
    tsc_buf_reset(&b);
    assert_int_equal(tsc_raft_append_begin(&w, &b, &h), 0);
    assert_int_equal(tsc_raft_append_add(&w, 8, TSC_RAFT_ENTRY_NOOP, NULL, 0, 1000), 0);
    tsc_raft_append_finish(&w);
    assert_int_equal(tsc_raft_append_decode(b.data, b.len, &m), TSC_EMALFORMED);
    /* and an unknown entry type */
    tsc_buf_reset(&b);
    assert_int_equal(tsc_raft_append_begin(&w, &b, &h), 0);
    assert_int_equal(tsc_raft_append_add(&w, 7, 9, NULL, 0, 1000), 0);
    tsc_raft_append_finish(&w);
    assert_int_equal(tsc_raft_append_decode(b.data, b.len, &m), TSC_EMALFORMED);
    tsc_buf_free(&b);
}

static void test_config_codec(void **state)
{
    (void)state;
    struct tsc_buf b;
    tsc_buf_init(&b);
    uint64_t ids[TSC_RAFT_MAX_VOTERS + 1] = {5, 1ull << 63, 77};
    uint64_t out[TSC_RAFT_MAX_VOTERS];
    size_t n;
    assert_int_equal(tsc_raft_config_encode(&b, ids, 3), 0);
    assert_int_equal(tsc_raft_config_decode(b.data, b.len, out, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(out[1], 1ull << 63);
    tsc_buf_reset(&b);
    ids[2] = 5; /* duplicate */
    assert_int_equal(tsc_raft_config_encode(&b, ids, 3), 0);
    assert_int_equal(tsc_raft_config_decode(b.data, b.len, out, &n), TSC_EMALFORMED);
    tsc_buf_reset(&b);
    ids[2] = 0; /* reserved id */
    assert_int_equal(tsc_raft_config_encode(&b, ids, 3), 0);
    assert_int_equal(tsc_raft_config_decode(b.data, b.len, out, &n), TSC_EMALFORMED);
    assert_int_equal(tsc_raft_config_encode(&b, ids, TSC_RAFT_MAX_VOTERS + 1), TSC_EINVAL);
    tsc_buf_free(&b);
}

/* Random bytes never crash a decoder, whatever they claim. */
static void test_decoders_survive_garbage(void **state)
{
    (void)state;
    struct tsc_prng r;
    tsc_prng_seed(&r, 4);
    uint8_t buf[256];
    for (int k = 0; k < 200000; k++) {
        size_t n = tsc_prng_below(&r, sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)tsc_prng_next(&r);
        if (n > 0)
            buf[0] = (uint8_t)(0x91 + tsc_prng_below(&r, 6)); /* plausible arrays */
        struct tsc_raft_vote v;
        struct tsc_raft_vote_resp vr;
        struct tsc_raft_append a;
        struct tsc_raft_append_resp ar;
        uint64_t t, ids[TSC_RAFT_MAX_VOTERS];
        size_t c;
        tsc_raft_vote_decode(buf, n, &v);
        tsc_raft_vote_resp_decode(buf, n, &vr);
        tsc_raft_append_resp_decode(buf, n, &ar);
        tsc_raft_timeout_now_decode(buf, n, &t);
        tsc_raft_config_decode(buf, n, ids, &c);
        if (tsc_raft_append_decode(buf, n, &a) == 0) {
            struct tsc_raft_entry_view e;
            for (uint32_t i = 0; i < a.n_entries; i++)
                assert_int_equal(tsc_raft_append_next(&a, &e), 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vote_round_trip),
        cmocka_unit_test(test_append_round_trip_and_limit),
        cmocka_unit_test(test_config_codec),
        cmocka_unit_test(test_decoders_survive_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
