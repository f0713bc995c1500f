/* tsc — the two crypto tables: libsodium for real clusters, and a cheap
 * stand-in for the simulator (see crypto.h). */
#include "wire/crypto.h"

#include "common/error.h"

#include <sodium.h>
#include <string.h>

/* ---- libsodium ---------------------------------------------------------- */

static void sodium_seal(uint8_t *c, const uint8_t *m, size_t mlen, const uint8_t *ad, size_t adlen,
                        const uint8_t nonce[TSC_NONCE_BYTES], const uint8_t key[TSC_KEY_BYTES])
{
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(c, &clen, m, mlen, ad, adlen, NULL, nonce, key);
}

static int sodium_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t *ad, size_t adlen,
                       const uint8_t nonce[TSC_NONCE_BYTES], const uint8_t key[TSC_KEY_BYTES])
{
    unsigned long long mlen;
    if (clen < TSC_TAG_BYTES)
        return TSC_EAUTH;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(m, &mlen, NULL, c, clen, ad, adlen, nonce,
                                                   key) != 0)
        return TSC_EAUTH;
    return 0;
}

static void sodium_sign(uint8_t sig[TSC_SIG_BYTES], const uint8_t *m, size_t mlen,
                        const uint8_t sk[TSC_SK_BYTES])
{
    crypto_sign_ed25519_detached(sig, NULL, m, mlen, sk);
}

static int sodium_verify(const uint8_t sig[TSC_SIG_BYTES], const uint8_t *m, size_t mlen,
                         const uint8_t pk[TSC_PK_BYTES])
{
    return crypto_sign_ed25519_verify_detached(sig, m, mlen, pk) == 0 ? 0 : TSC_ESIG;
}

/* BLAKE2b. libsodium's minimum output is 16 bytes; shorter outputs are the
 * prefix of a 16-byte hash, so an 8-byte id is always computed the same way. */
static void sodium_hash(uint8_t *out, size_t outlen, const uint8_t *in, size_t inlen)
{
    if (outlen < crypto_generichash_BYTES_MIN) {
        uint8_t tmp[crypto_generichash_BYTES_MIN];
        crypto_generichash(tmp, sizeof tmp, in, inlen, NULL, 0);
        memcpy(out, tmp, outlen);
        return;
    }
    if (outlen > crypto_generichash_BYTES_MAX)
        outlen = crypto_generichash_BYTES_MAX;
    crypto_generichash(out, outlen, in, inlen, NULL, 0);
}

static void sodium_keypair(uint8_t pk[TSC_PK_BYTES], uint8_t sk[TSC_SK_BYTES],
                           const uint8_t seed[TSC_SEED_BYTES])
{
    crypto_sign_ed25519_seed_keypair(pk, sk, seed);
}

const struct tsc_crypto tsc_crypto_sodium = {
    .name = "sodium",
    .seal = sodium_seal,
    .unseal = sodium_open,
    .sign = sodium_sign,
    .verify = sodium_verify,
    .hash = sodium_hash,
    .keypair = sodium_keypair,
};

/* ---- cheap (simulator only, NOT secure) --------------------------------- */

/* A streaming 64-bit hash built from xxHash64's round. Each round
 *     acc = rotl(acc + w * P2, 31) * P1
 * is a bijection of acc for a fixed word and of the word for a fixed acc (P1,
 * P2 odd), so changing any single 8-byte word of an equal-length input always
 * changes the state, and the final avalanche is a bijection too: a flipped
 * byte is detected with certainty, anything else with probability 1 - 2^-64.
 * Words are read little-endian so results do not depend on the host. */
#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull

struct cheap_h {
    uint64_t acc;
    uint64_t total;
    uint8_t tail[8];
    unsigned ntail;
};

static uint64_t rotl64(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void cheap_round(struct cheap_h *h, uint64_t w)
{
    h->acc = rotl64(h->acc + w * P2, 31) * P1;
}

static void cheap_init(struct cheap_h *h, uint64_t seed)
{
    h->acc = seed ^ P3;
    h->total = 0;
    h->ntail = 0;
}

static void cheap_update(struct cheap_h *h, const uint8_t *p, size_t n)
{
    h->total += n;
    if (h->ntail > 0) {
        while (n > 0 && h->ntail < 8) {
            h->tail[h->ntail++] = *p++;
            n--;
        }
        if (h->ntail < 8)
            return;
        cheap_round(h, load64(h->tail));
        h->ntail = 0;
    }
    while (n >= 8) {
        cheap_round(h, load64(p));
        p += 8;
        n -= 8;
    }
    memcpy(h->tail, p, n);
    h->ntail = (unsigned)n;
}

static void cheap_u64(struct cheap_h *h, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    cheap_update(h, b, 8);
}

/* Finish with a tweak, so one state yields several independent words. The
 * state is not modified. */
static uint64_t cheap_final(const struct cheap_h *h, uint64_t tweak)
{
    uint64_t acc = h->acc;
    uint64_t last = 0;
    for (unsigned i = 0; i < h->ntail; i++)
        last |= (uint64_t)h->tail[i] << (8 * i);
    acc = rotl64(acc + (last ^ ((uint64_t)h->ntail << 56)) * P2, 31) * P1;
    acc ^= h->total * P3;
    acc ^= tweak * P2;
    acc ^= acc >> 33;
    acc *= P2;
    acc ^= acc >> 29;
    acc *= P3;
    acc ^= acc >> 32;
    return acc;
}

static void store64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The AEAD stand-in's tag: two words of hash(key || nonce || adlen || ad || m). */
static void cheap_tag(uint8_t tag[TSC_TAG_BYTES], const uint8_t *m, size_t mlen, const uint8_t *ad,
                      size_t adlen, const uint8_t nonce[TSC_NONCE_BYTES],
                      const uint8_t key[TSC_KEY_BYTES])
{
    struct cheap_h h;
    cheap_init(&h, 0x7473632d61656164ull); /* "tsc-aead" */
    cheap_update(&h, key, TSC_KEY_BYTES);
    cheap_update(&h, nonce, TSC_NONCE_BYTES);
    cheap_u64(&h, adlen);
    if (adlen > 0)
        cheap_update(&h, ad, adlen);
    if (mlen > 0)
        cheap_update(&h, m, mlen);
    store64le(tag, cheap_final(&h, 1));
    store64le(tag + 8, cheap_final(&h, 2));
}

/* The plaintext travels as is: the simulator needs integrity, not secrecy. */
static void cheap_seal(uint8_t *c, const uint8_t *m, size_t mlen, const uint8_t *ad, size_t adlen,
                       const uint8_t nonce[TSC_NONCE_BYTES], const uint8_t key[TSC_KEY_BYTES])
{
    if (mlen > 0)
        memcpy(c, m, mlen);
    cheap_tag(c + mlen, m, mlen, ad, adlen, nonce, key);
}

static int cheap_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t *ad, size_t adlen,
                      const uint8_t nonce[TSC_NONCE_BYTES], const uint8_t key[TSC_KEY_BYTES])
{
    uint8_t tag[TSC_TAG_BYTES];
    if (clen < TSC_TAG_BYTES)
        return TSC_EAUTH;
    size_t mlen = clen - TSC_TAG_BYTES;
    cheap_tag(tag, c, mlen, ad, adlen, nonce, key);
    if (memcmp(tag, c + mlen, TSC_TAG_BYTES) != 0)
        return TSC_EAUTH;
    if (mlen > 0)
        memcpy(m, c, mlen);
    return 0;
}

/* The "signature" is hash(pk || m) spread over 64 bytes: anyone can forge it,
 * but it binds the message to the key and is checked from pk alone. */
static void cheap_sig(uint8_t sig[TSC_SIG_BYTES], const uint8_t *m, size_t mlen,
                      const uint8_t pk[TSC_PK_BYTES])
{
    struct cheap_h h;
    cheap_init(&h, 0x7473632d7369676eull); /* "tsc-sign" */
    cheap_update(&h, pk, TSC_PK_BYTES);
    if (mlen > 0)
        cheap_update(&h, m, mlen);
    for (unsigned i = 0; i < TSC_SIG_BYTES / 8; i++)
        store64le(sig + 8 * i, cheap_final(&h, i + 1));
}

static void cheap_sign(uint8_t sig[TSC_SIG_BYTES], const uint8_t *m, size_t mlen,
                       const uint8_t sk[TSC_SK_BYTES])
{
    cheap_sig(sig, m, mlen, sk + TSC_SEED_BYTES); /* sk = seed || pk */
}

static int cheap_verify(const uint8_t sig[TSC_SIG_BYTES], const uint8_t *m, size_t mlen,
                        const uint8_t pk[TSC_PK_BYTES])
{
    uint8_t want[TSC_SIG_BYTES];
    cheap_sig(want, m, mlen, pk);
    return memcmp(want, sig, TSC_SIG_BYTES) == 0 ? 0 : TSC_ESIG;
}

static void cheap_hash(uint8_t *out, size_t outlen, const uint8_t *in, size_t inlen)
{
    struct cheap_h h;
    uint8_t word[8];
    cheap_init(&h, 0x7473632d68617368ull); /* "tsc-hash" */
    if (inlen > 0)
        cheap_update(&h, in, inlen);
    for (size_t i = 0; i < outlen; i += 8) {
        store64le(word, cheap_final(&h, i / 8 + 1));
        memcpy(out + i, word, outlen - i < 8 ? outlen - i : 8);
    }
}

static void cheap_keypair(uint8_t pk[TSC_PK_BYTES], uint8_t sk[TSC_SK_BYTES],
                          const uint8_t seed[TSC_SEED_BYTES])
{
    struct cheap_h h;
    cheap_init(&h, 0x7473632d6b657973ull); /* "tsc-keys" */
    cheap_update(&h, seed, TSC_SEED_BYTES);
    for (unsigned i = 0; i < TSC_PK_BYTES / 8; i++)
        store64le(pk + 8 * i, cheap_final(&h, i + 1));
    memcpy(sk, seed, TSC_SEED_BYTES);
    memcpy(sk + TSC_SEED_BYTES, pk, TSC_PK_BYTES);
}

const struct tsc_crypto tsc_crypto_cheap = {
    .name = "cheap",
    .seal = cheap_seal,
    .unseal = cheap_open,
    .sign = cheap_sign,
    .verify = cheap_verify,
    .hash = cheap_hash,
    .keypair = cheap_keypair,
};

/* ---- shared ------------------------------------------------------------- */

int tsc_crypto_init(void)
{
    /* 0 on first success, 1 when already initialised, -1 on failure. */
    return sodium_init() < 0 ? TSC_EIO : 0;
}

static uint64_t load64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

uint64_t tsc_crypto_node_id(const struct tsc_crypto *c, const uint8_t pk[TSC_PK_BYTES])
{
    uint8_t h[8];
    c->hash(h, sizeof h, pk, TSC_PK_BYTES);
    uint64_t id = load64be(h);
    /* 0 means "unknown" on the wire (control requests, unnamed ping
     * targets); the odds are 2^-64 but the rule must hold. */
    return id != 0 ? id : 1;
}

uint64_t tsc_crypto_cluster_id(const struct tsc_crypto *c, const uint8_t key[TSC_KEY_BYTES])
{
    static const char label[] = "tsc-cluster";
    uint8_t in[sizeof label - 1 + TSC_KEY_BYTES];
    uint8_t h[8];
    memcpy(in, label, sizeof label - 1);
    memcpy(in + sizeof label - 1, key, TSC_KEY_BYTES);
    c->hash(h, sizeof h, in, sizeof in);
    sodium_memzero(in, sizeof in);
    return load64be(h);
}
