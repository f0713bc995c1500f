/* tsc — sealed envelopes and the replay window: round trips, and tampered,
 * truncated, oversized, replayed, wrong-key and other-cluster input rejected
 * with the right code. Runs against both crypto tables. */
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

struct fx {
    struct tsc_wire w;
    uint8_t nonce[TSC_NONCE_BYTES];
    uint8_t body[200];
    struct tsc_envelope env;
    struct tsc_buf out, scratch;
};

static const struct tsc_crypto *table(void **state)
{
    return *state;
}

static void fx_init(struct fx *f, const struct tsc_crypto *c)
{
    uint8_t key[TSC_KEY_BYTES];
    for (int i = 0; i < TSC_KEY_BYTES; i++)
        key[i] = (uint8_t)(i * 3 + 1);
    tsc_wire_init(&f->w, key, c);
    for (int i = 0; i < TSC_NONCE_BYTES; i++)
        f->nonce[i] = (uint8_t)(0xa0 + i);
    for (size_t i = 0; i < sizeof f->body; i++)
        f->body[i] = (uint8_t)(i ^ 0x5a);
    memset(&f->env, 0, sizeof f->env);
    f->env.sender = 0x1122334455667788ull;
    f->env.seq = 77;
    f->env.type = TSC_MSG_PING;
    f->env.body = f->body;
    f->env.body_len = sizeof f->body;
    tsc_buf_init(&f->out);
    tsc_buf_init(&f->scratch);
}

static void fx_free(struct fx *f)
{
    tsc_buf_free(&f->out);
    tsc_buf_free(&f->scratch);
}

/* Open a copy of the frame held in an exact-size heap block, so ASan flags
 * any read outside [frame, frame+len). */
static int open_copy(struct fx *f, const uint8_t *p, size_t len, size_t max, struct tsc_envelope *e)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, p, len);
    int rc = tsc_wire_open(&f->w, copy, len, max, &f->scratch, e);
    free(copy);
    return rc;
}

static void test_round_trip(void **state)
{
    struct fx f;
    struct tsc_envelope e;
    fx_init(&f, table(state));
    static const size_t lens[] = {0, 1, 200, 255, 256, 1000, 70000};
    uint8_t *big = calloc(1, 70000);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        f.env.body = lens[i] <= sizeof f.body ? f.body : big;
        f.env.body_len = lens[i];
        f.env.seq = 1ull << (i * 9);
        f.env.sender = i == 0 ? 0 : f.env.sender;
        f.env.type = (uint8_t)(i == 3 ? TSC_MSG_TYPE_MAX : TSC_MSG_GOSSIP);
        tsc_buf_reset(&f.out);
        assert_int_equal(tsc_wire_seal(&f.w, &f.env, f.nonce, TSC_WIRE_MAX_FRAME, &f.out), 0);
        assert_true(f.out.len <= lens[i] + TSC_WIRE_OVERHEAD);
        assert_int_equal(f.out.data[0], TSC_WIRE_VERSION);
        assert_int_equal(open_copy(&f, f.out.data, f.out.len, TSC_WIRE_MAX_FRAME, &e), 0);
        assert_int_equal(e.version, TSC_WIRE_VERSION);
        assert_true(e.cluster == f.w.cluster);
        assert_true(e.sender == f.env.sender);
        assert_true(e.seq == f.env.seq);
        assert_int_equal(e.type, f.env.type);
        assert_int_equal(e.body_len, lens[i]);
        assert_true(lens[i] == 0 || memcmp(e.body, f.env.body, lens[i]) == 0);
    }
    /* Worst-case header sizes stay within TSC_WIRE_OVERHEAD. */
    f.env.sender = ~0ull;
    f.env.seq = ~0ull;
    f.env.body = big;
    f.env.body_len = 70000;
    tsc_buf_reset(&f.out);
    assert_int_equal(tsc_wire_seal(&f.w, &f.env, f.nonce, TSC_WIRE_MAX_FRAME, &f.out), 0);
    assert_true(f.out.len <= 70000 + TSC_WIRE_OVERHEAD);
    free(big);
    fx_free(&f);
}

static void test_seal_appends_and_limits(void **state)
{
    struct fx f;
    fx_init(&f, table(state));
    assert_int_equal(tsc_buf_append(&f.out, "xyz", 3), 0);
    assert_int_equal(tsc_wire_seal(&f.w, &f.env, f.nonce, TSC_WIRE_MAX_DATAGRAM, &f.out), 0);
    size_t one = f.out.len - 3;
    assert_memory_equal(f.out.data, "xyz", 3);
    struct tsc_envelope e;
    assert_int_equal(open_copy(&f, f.out.data + 3, one, TSC_WIRE_MAX_DATAGRAM, &e), 0);
    /* Limit exactly at the size passes, one less is TOOBIG and writes nothing. */
    size_t before = f.out.len;
    assert_int_equal(tsc_wire_seal(&f.w, &f.env, f.nonce, one - 1, &f.out), TSC_ETOOBIG);
    assert_int_equal(f.out.len, before);
    assert_int_equal(tsc_wire_seal(&f.w, &f.env, f.nonce, one, &f.out), 0);
    /* A body bigger than a datagram is refused. */
    uint8_t big[TSC_WIRE_MAX_DATAGRAM];
    memset(big, 1, sizeof big);
    f.env.body = big;
    f.env.body_len = sizeof big;
    before = f.out.len;
    assert_int_equal(tsc_wire_seal(&f.w, &f.env, f.nonce, TSC_WIRE_MAX_DATAGRAM, &f.out),
                     TSC_ETOOBIG);
    assert_int_equal(f.out.len, before);
    /* Invalid types are a caller bug. */
    f.env.body_len = 10;
    f.env.type = 0;
    assert_int_equal(tsc_wire_seal(&f.w, &f.env, f.nonce, TSC_WIRE_MAX_DATAGRAM, &f.out),
                     TSC_EINVAL);
    f.env.type = TSC_MSG_TYPE_MAX + 1;
    assert_int_equal(tsc_wire_seal(&f.w, &f.env, f.nonce, TSC_WIRE_MAX_DATAGRAM, &f.out),
                     TSC_EINVAL);
    assert_int_equal(f.out.len, before);
    fx_free(&f);
}

static void test_tampered(void **state)
{
    struct fx f;
    struct tsc_envelope e;
    fx_init(&f, table(state));
    assert_int_equal(tsc_wire_seal(&f.w, &f.env, f.nonce, TSC_WIRE_MAX_DATAGRAM, &f.out), 0);
    uint8_t *p = f.out.data;
    for (size_t i = 0; i < f.out.len; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            p[i] ^= (uint8_t)(1u << bit);
            int rc = open_copy(&f, p, f.out.len, TSC_WIRE_MAX_DATAGRAM, &e);
            assert_int_equal(rc, i == 0 ? TSC_EVERSION : TSC_EAUTH);
            p[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(open_copy(&f, p, f.out.len, TSC_WIRE_MAX_DATAGRAM, &e), 0);
    fx_free(&f);
}

static void test_truncated(void **state)
{
    struct fx f;
    struct tsc_envelope e;
    fx_init(&f, table(state));
    assert_int_equal(tsc_wire_seal(&f.w, &f.env, f.nonce, TSC_WIRE_MAX_DATAGRAM, &f.out), 0);
    for (size_t len = 0; len < f.out.len; len++) {
        int rc = open_copy(&f, f.out.data, len, TSC_WIRE_MAX_DATAGRAM, &e);
        if (len < 1 + TSC_NONCE_BYTES + TSC_TAG_BYTES)
            assert_int_equal(rc, TSC_EMALFORMED);
        else
            assert_int_equal(rc, TSC_EAUTH);
    }
    /* Extended by a byte: the tag no longer matches. */
    assert_int_equal(tsc_buf_append(&f.out, "", 1), 0);
    assert_int_equal(open_copy(&f, f.out.data, f.out.len, TSC_WIRE_MAX_DATAGRAM, &e), TSC_EAUTH);
    fx_free(&f);
}

static void test_oversized_and_version(void **state)
{
    struct fx f;
    struct tsc_envelope e;
    fx_init(&f, table(state));
    assert_int_equal(tsc_wire_seal(&f.w, &f.env, f.nonce, TSC_WIRE_MAX_DATAGRAM, &f.out), 0);
    /* Too big is decided on the length alone, before looking at any byte:
     * a NULL frame proves nothing is read. */
    assert_int_equal(
        tsc_wire_open(&f.w, NULL, TSC_WIRE_MAX_DATAGRAM + 1, TSC_WIRE_MAX_DATAGRAM, &f.scratch, &e),
        TSC_ETOOBIG);
    assert_int_equal(open_copy(&f, f.out.data, f.out.len, f.out.len - 1, &e), TSC_ETOOBIG);
    assert_int_equal(open_copy(&f, f.out.data, f.out.len, f.out.len, &e), 0);
    f.out.data[0] = TSC_WIRE_VERSION + 1;
    assert_int_equal(open_copy(&f, f.out.data, f.out.len, TSC_WIRE_MAX_DATAGRAM, &e), TSC_EVERSION);
    assert_int_equal(open_copy(&f, f.out.data, 1, TSC_WIRE_MAX_DATAGRAM, &e), TSC_EVERSION);
    fx_free(&f);
}

static void test_wrong_key_and_cluster(void **state)
{
    struct fx f;
    struct tsc_envelope e;
    fx_init(&f, table(state));
    assert_int_equal(tsc_wire_seal(&f.w, &f.env, f.nonce, TSC_WIRE_MAX_DATAGRAM, &f.out), 0);

    struct tsc_wire other;
    uint8_t key2[TSC_KEY_BYTES];
    memcpy(key2, f.w.key, sizeof key2);
    key2[0] ^= 1;
    tsc_wire_init(&other, key2, table(state));
    assert_int_equal(
        tsc_wire_open(&other, f.out.data, f.out.len, TSC_WIRE_MAX_DATAGRAM, &f.scratch, &e),
        TSC_EAUTH);

    /* Same key, other cluster id (e.g. another crypto table's derivation). */
    struct tsc_wire forged = f.w;
    forged.cluster ^= 0x8000;
    tsc_buf_reset(&f.out);
    assert_int_equal(tsc_wire_seal(&forged, &f.env, f.nonce, TSC_WIRE_MAX_DATAGRAM, &f.out), 0);
    assert_int_equal(open_copy(&f, f.out.data, f.out.len, TSC_WIRE_MAX_DATAGRAM, &e), TSC_ECLUSTER);

    /* The other crypto table cannot open it either. */
    struct tsc_wire swapped = f.w;
    swapped.crypto = table(state) == &tsc_crypto_sodium ? &tsc_crypto_cheap : &tsc_crypto_sodium;
    tsc_buf_reset(&f.out);
    assert_int_equal(tsc_wire_seal(&f.w, &f.env, f.nonce, TSC_WIRE_MAX_DATAGRAM, &f.out), 0);
    assert_int_equal(
        tsc_wire_open(&swapped, f.out.data, f.out.len, TSC_WIRE_MAX_DATAGRAM, &f.scratch, &e),
        TSC_EAUTH);
    fx_free(&f);
}

/* A plaintext that authenticates but is not a valid envelope. Built by
 * sealing by hand with the table, as a buggy or hostile key holder could. */
static int open_raw_plaintext(struct fx *f, const uint8_t *pt, size_t len)
{
    uint8_t frame[512];
    struct tsc_envelope e;
    frame[0] = TSC_WIRE_VERSION;
    memcpy(frame + 1, f->nonce, TSC_NONCE_BYTES);
    f->w.crypto->seal(frame + 1 + TSC_NONCE_BYTES, pt, len, frame, 1, f->nonce, f->w.key);
    return open_copy(f, frame, 1 + TSC_NONCE_BYTES + len + TSC_TAG_BYTES, 512, &e);
}

static void test_bad_plaintext(void **state)
{
    struct fx f;
    fx_init(&f, table(state));
    uint8_t pt[64];
    size_t n = 0;
    /* [1, cluster, 1, 1, 1, bin ""] is valid; variations are not. */
    pt[n++] = 0x96;
    pt[n++] = 1;
    pt[n++] = 0xcf;
    for (int i = 7; i >= 0; i--)
        pt[n++] = (uint8_t)(f.w.cluster >> (8 * i));
    pt[n++] = 1;
    pt[n++] = 1;
    pt[n++] = 1;
    pt[n++] = 0xc4;
    pt[n++] = 0;
    assert_int_equal(open_raw_plaintext(&f, pt, n), 0);
    assert_int_equal(open_raw_plaintext(&f, pt, 0), TSC_EMALFORMED);
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(open_raw_plaintext(&f, pt, cut), TSC_EMALFORMED);
    pt[n] = 0xc0; /* trailing byte */
    assert_int_equal(open_raw_plaintext(&f, pt, n + 1), TSC_EMALFORMED);
    pt[1] = 2; /* inner version differs */
    assert_int_equal(open_raw_plaintext(&f, pt, n), TSC_EVERSION);
    pt[1] = 1;
    pt[13] = 0; /* type 0 */
    assert_int_equal(open_raw_plaintext(&f, pt, n), TSC_EMALFORMED);
    pt[13] = 64; /* type > max */
    assert_int_equal(open_raw_plaintext(&f, pt, n), TSC_EMALFORMED);
    pt[13] = 1;
    pt[0] = 0x97; /* 7 fields */
    assert_int_equal(open_raw_plaintext(&f, pt, n), TSC_EMALFORMED);
    pt[0] = 0x96;
    pt[14] = 0xa0; /* body as str */
    assert_int_equal(open_raw_plaintext(&f, pt, n), TSC_EMALFORMED);
    fx_free(&f);
}

static void test_nomem(void **state)
{
    struct fx f;
    struct tsc_envelope e;
    fx_init(&f, table(state));
    tsc_alloc_fail_after(1);
    assert_int_equal(tsc_wire_seal(&f.w, &f.env, f.nonce, TSC_WIRE_MAX_DATAGRAM, &f.out),
                     TSC_ENOMEM);
    assert_int_equal(f.out.len, 0);
    assert_int_equal(tsc_wire_seal(&f.w, &f.env, f.nonce, TSC_WIRE_MAX_DATAGRAM, &f.out), 0);
    tsc_alloc_fail_after(1);
    assert_int_equal(
        tsc_wire_open(&f.w, f.out.data, f.out.len, TSC_WIRE_MAX_DATAGRAM, &f.scratch, &e),
        TSC_ENOMEM);
    tsc_alloc_fail_after(0);
    assert_int_equal(
        tsc_wire_open(&f.w, f.out.data, f.out.len, TSC_WIRE_MAX_DATAGRAM, &f.scratch, &e), 0);
    fx_free(&f);
}

static void test_replay_window(void **state)
{
    struct tsc_replay_window w = {0, 0};
    assert_int_equal(tsc_replay_check(&w, 0), TSC_EREPLAY);
    assert_int_equal(tsc_replay_check(&w, 1), 0);
    assert_int_equal(tsc_replay_check(&w, 1), TSC_EREPLAY);
    /* Reordering inside the window: each accepted once. */
    assert_int_equal(tsc_replay_check(&w, 5), 0);
    assert_int_equal(tsc_replay_check(&w, 3), 0);
    assert_int_equal(tsc_replay_check(&w, 4), 0);
    assert_int_equal(tsc_replay_check(&w, 2), 0);
    for (uint64_t s = 1; s <= 5; s++)
        assert_int_equal(tsc_replay_check(&w, s), TSC_EREPLAY);
    /* Window edge: top - 63 is still inside, top - 64 is too old. */
    assert_int_equal(tsc_replay_check(&w, 100), 0);
    assert_int_equal(tsc_replay_check(&w, 37), 0);
    assert_int_equal(tsc_replay_check(&w, 37), TSC_EREPLAY);
    assert_int_equal(tsc_replay_check(&w, 36), TSC_EREPLAY);
    assert_int_equal(tsc_replay_check(&w, 6), TSC_EREPLAY);
    /* A shift that keeps old bits: 37 is at distance 64 after top 101. */
    assert_int_equal(tsc_replay_check(&w, 101), 0);
    assert_int_equal(tsc_replay_check(&w, 38), 0);
    assert_int_equal(tsc_replay_check(&w, 100), TSC_EREPLAY);
    assert_int_equal(tsc_replay_check(&w, 37), TSC_EREPLAY);
    /* Big jumps clear the window. */
    assert_int_equal(tsc_replay_check(&w, 1000000), 0);
    assert_int_equal(tsc_replay_check(&w, 999999), 0);
    assert_int_equal(tsc_replay_check(&w, 101), TSC_EREPLAY);
    assert_int_equal(tsc_replay_check(&w, UINT64_MAX), 0);
    assert_int_equal(tsc_replay_check(&w, UINT64_MAX), TSC_EREPLAY);
    assert_int_equal(tsc_replay_check(&w, UINT64_MAX - 63), 0);
    assert_int_equal(tsc_replay_check(&w, UINT64_MAX - 64), TSC_EREPLAY);

    /* Against a model: a set of accepted numbers, over a shuffled stream
     * with duplicates. */
    struct tsc_replay_window m = {0, 0};
    static uint8_t seen[5000];
    memset(seen, 0, sizeof seen);
    uint64_t top = 0;
    uint32_t x = 99;
    for (int i = 0; i < 200000; i++) {
        x = x * 1664525u + 1013904223u;
        uint64_t base = (uint64_t)i / 50 + 1;
        uint64_t s = base + (x >> 16) % 80;
        if (s >= sizeof seen)
            continue;
        int want = (s + 64 > top && !seen[s]) ? 0 : TSC_EREPLAY;
        int got = tsc_replay_check(&m, s);
        assert_int_equal(got, want);
        if (got == 0) {
            seen[s] = 1;
            if (s > top)
                top = s;
        }
    }
}

int main(void)
{
    if (tsc_crypto_init() != 0)
        return 1;
    void *s = (void *)&tsc_crypto_sodium, *ch = (void *)&tsc_crypto_cheap;
#define BOTH(t) cmocka_unit_test_prestate(t, s), cmocka_unit_test_prestate(t, ch)
    const struct CMUnitTest tests[] = {
        BOTH(test_round_trip),
        BOTH(test_seal_appends_and_limits),
        BOTH(test_tampered),
        BOTH(test_truncated),
        BOTH(test_oversized_and_version),
        BOTH(test_wrong_key_and_cluster),
        BOTH(test_bad_plaintext),
        BOTH(test_nomem),
        cmocka_unit_test(test_replay_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
