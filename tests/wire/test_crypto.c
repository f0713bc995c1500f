/* tsc — the generic contract of a crypto table, run against both the
 * libsodium table and the simulator's cheap one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "wire/crypto.h"

static void fill(uint8_t *p, size_t n, uint8_t start)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(start + i * 13);
}

static void test_seal_open(void **state)
{
    const struct tsc_crypto *c = *state;
    uint8_t key[TSC_KEY_BYTES], key2[TSC_KEY_BYTES], nonce[TSC_NONCE_BYTES];
    uint8_t m[300], ct[300 + TSC_TAG_BYTES], out[300];
    const uint8_t ad[3] = {1, 2, 3};
    fill(key, sizeof key, 1);
    fill(key2, sizeof key2, 1);
    key2[31] ^= 1;
    fill(nonce, sizeof nonce, 7);
    fill(m, sizeof m, 9);
    for (size_t mlen = 0; mlen <= sizeof m; mlen += 37) {
        c->seal(ct, m, mlen, ad, sizeof ad, nonce, key);
        size_t clen = mlen + TSC_TAG_BYTES;
        assert_int_equal(c->unseal(out, ct, clen, ad, sizeof ad, nonce, key), 0);
        assert_true(mlen == 0 || memcmp(out, m, mlen) == 0);
        /* Wrong key, wrong nonce, wrong ad, every flipped byte: EAUTH. */
        assert_int_equal(c->unseal(out, ct, clen, ad, sizeof ad, nonce, key2), TSC_EAUTH);
        uint8_t n2[TSC_NONCE_BYTES];
        memcpy(n2, nonce, sizeof n2);
        n2[5] ^= 0x40;
        assert_int_equal(c->unseal(out, ct, clen, ad, sizeof ad, n2, key), TSC_EAUTH);
        assert_int_equal(c->unseal(out, ct, clen, ad, 2, nonce, key), TSC_EAUTH);
        for (size_t i = 0; i < clen; i++) {
            for (int bit = 0; bit < 8; bit += 7) {
                ct[i] ^= (uint8_t)(1u << bit);
                assert_int_equal(c->unseal(out, ct, clen, ad, sizeof ad, nonce, key), TSC_EAUTH);
                ct[i] ^= (uint8_t)(1u << bit);
            }
        }
        /* Shortened: EAUTH, also below the tag size. */
        for (size_t cut = 0; cut < clen; cut += 5)
            assert_int_equal(c->unseal(out, ct, cut, ad, sizeof ad, nonce, key), TSC_EAUTH);
    }
}

static void test_sign_verify(void **state)
{
    const struct tsc_crypto *c = *state;
    uint8_t seed[TSC_SEED_BYTES], pk[TSC_PK_BYTES], sk[TSC_SK_BYTES];
    uint8_t pk2[TSC_PK_BYTES], sk2[TSC_SK_BYTES], sig[TSC_SIG_BYTES], m[100];
    fill(seed, sizeof seed, 3);
    fill(m, sizeof m, 4);
    c->keypair(pk, sk, seed);
    seed[0] ^= 1;
    c->keypair(pk2, sk2, seed);
    assert_memory_not_equal(pk, pk2, TSC_PK_BYTES);
    /* libsodium's layout, kept by every table: sk = seed || pk. */
    assert_memory_equal(sk + TSC_SEED_BYTES, pk, TSC_PK_BYTES);

    c->sign(sig, m, sizeof m, sk);
    assert_int_equal(c->verify(sig, m, sizeof m, pk), 0);
    assert_int_equal(c->verify(sig, m, sizeof m, pk2), TSC_ESIG);
    assert_int_equal(c->verify(sig, m, sizeof m - 1, pk), TSC_ESIG);
    for (size_t i = 0; i < sizeof m; i++) {
        m[i] ^= 0x10;
        assert_int_equal(c->verify(sig, m, sizeof m, pk), TSC_ESIG);
        m[i] ^= 0x10;
    }
    for (size_t i = 0; i < TSC_SIG_BYTES; i++) {
        sig[i] ^= 0x01;
        assert_int_equal(c->verify(sig, m, sizeof m, pk), TSC_ESIG);
        sig[i] ^= 0x01;
    }
    /* Empty messages are signable. */
    c->sign(sig, NULL, 0, sk);
    assert_int_equal(c->verify(sig, NULL, 0, pk), 0);
}

static void test_keypair_deterministic(void **state)
{
    const struct tsc_crypto *c = *state;
    uint8_t seed[TSC_SEED_BYTES], pk[TSC_PK_BYTES], sk[TSC_SK_BYTES];
    uint8_t pk2[TSC_PK_BYTES], sk2[TSC_SK_BYTES];
    uint64_t ids[64];
    fill(seed, sizeof seed, 42);
    c->keypair(pk, sk, seed);
    c->keypair(pk2, sk2, seed);
    assert_memory_equal(pk, pk2, TSC_PK_BYTES);
    assert_memory_equal(sk, sk2, TSC_SK_BYTES);
    /* Distinct seeds: distinct keys and ids. */
    for (int i = 0; i < 64; i++) {
        memset(seed, 0, sizeof seed);
        seed[i % 32] = (uint8_t)(1 + i / 32);
        c->keypair(pk, sk, seed);
        ids[i] = tsc_crypto_node_id(c, pk);
        assert_true(ids[i] != 0);
        for (int j = 0; j < i; j++)
            assert_true(ids[i] != ids[j]);
    }
}

static void test_hash_ids(void **state)
{
    const struct tsc_crypto *c = *state;
    uint8_t a[64], b[64], in[50];
    fill(in, sizeof in, 5);
    for (size_t outlen = 8; outlen <= 64; outlen += 8) {
        c->hash(a, outlen, in, sizeof in);
        c->hash(b, outlen, in, sizeof in);
        assert_memory_equal(a, b, outlen);
        in[49] ^= 1;
        c->hash(b, outlen, in, sizeof in);
        assert_memory_not_equal(a, b, outlen);
        in[49] ^= 1;
    }
    uint8_t k1[TSC_KEY_BYTES] = {0}, k2[TSC_KEY_BYTES] = {0};
    k2[0] = 1;
    assert_true(tsc_crypto_cluster_id(c, k1) == tsc_crypto_cluster_id(c, k1));
    assert_true(tsc_crypto_cluster_id(c, k1) != tsc_crypto_cluster_id(c, k2));
    uint8_t pk[TSC_PK_BYTES] = {0};
    assert_true(tsc_crypto_node_id(c, pk) != 0);
}

/* Known answers pin the cheap table: the simulator's traces depend on it
 * being bit-identical across builds and hosts. */
static void test_cheap_stable(void **state)
{
    uint8_t seed[TSC_SEED_BYTES] = {0}, pk[TSC_PK_BYTES], sk[TSC_SK_BYTES];
    uint8_t pk2[TSC_PK_BYTES], sk2[TSC_SK_BYTES];
    tsc_crypto_cheap.keypair(pk, sk, seed);
    tsc_crypto_cheap.keypair(pk2, sk2, seed);
    assert_memory_equal(pk, pk2, sizeof pk);
    uint8_t key[TSC_KEY_BYTES] = {0};
    assert_true(tsc_crypto_node_id(&tsc_crypto_cheap, pk) == 0x7efd91257519c7e3ull);
    assert_true(tsc_crypto_cluster_id(&tsc_crypto_cheap, key) == 0xa25e8b1ecbe1923bull);
    /* And libsodium's, which must never change either: ids are persisted. */
    tsc_crypto_sodium.keypair(pk, sk, seed);
    assert_true(tsc_crypto_node_id(&tsc_crypto_sodium, pk) == 0xc53e63da79ed4fa1ull);
    assert_true(tsc_crypto_cluster_id(&tsc_crypto_sodium, key) == 0x0a37ec8d1ad1e780ull);
    assert_string_equal(tsc_crypto_cheap.name, "cheap");
    assert_string_equal(tsc_crypto_sodium.name, "sodium");
}

int main(void)
{
    if (tsc_crypto_init() != 0)
        return 1;
    const void *s = &tsc_crypto_sodium, *ch = &tsc_crypto_cheap;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_seal_open, (void *)s),
        cmocka_unit_test_prestate(test_seal_open, (void *)ch),
        cmocka_unit_test_prestate(test_sign_verify, (void *)s),
        cmocka_unit_test_prestate(test_sign_verify, (void *)ch),
        cmocka_unit_test_prestate(test_keypair_deterministic, (void *)s),
        cmocka_unit_test_prestate(test_keypair_deterministic, (void *)ch),
        cmocka_unit_test_prestate(test_hash_ids, (void *)s),
        cmocka_unit_test_prestate(test_hash_ids, (void *)ch),
        cmocka_unit_test(test_cheap_stable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
