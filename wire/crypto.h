/* tsc — the cryptographic primitives behind the wire format, as a small table
 * of function pointers so the simulator can swap in a cheap (NOT secure)
 * stand-in for speed while every byte still passes through the real codec.
 *
 * tsc_crypto_sodium: XChaCha20-Poly1305-IETF for sealing, Ed25519 for
 * signatures, BLAKE2b for hashing (libsodium). All functions are pure: no
 * clock, no randomness; nonces and seeds come from the caller. */
#ifndef TSC_WIRE_CRYPTO_H
#define TSC_WIRE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define TSC_KEY_BYTES   32 /* cluster key */
#define TSC_PK_BYTES    32 /* node public key (Ed25519) */
#define TSC_SK_BYTES    64 /* node secret key (Ed25519, libsodium layout: seed || pk) */
#define TSC_SEED_BYTES  32 /* node key seed */
#define TSC_SIG_BYTES   64 /* Ed25519 signature */
#define TSC_NONCE_BYTES 24 /* XChaCha20 nonce */
#define TSC_TAG_BYTES   16 /* Poly1305 tag */

struct tsc_crypto {
    const char *name;
    /* c receives mlen + TSC_TAG_BYTES bytes. c and m may not overlap. */
    void (*seal)(uint8_t *c, const uint8_t *m, size_t mlen, const uint8_t *ad, size_t adlen,
                 const uint8_t nonce[TSC_NONCE_BYTES], const uint8_t key[TSC_KEY_BYTES]);
    /* m receives clen - TSC_TAG_BYTES bytes. Returns 0 or TSC_EAUTH. */
    int (*unseal)(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t *ad, size_t adlen,
                  const uint8_t nonce[TSC_NONCE_BYTES], const uint8_t key[TSC_KEY_BYTES]);
    void (*sign)(uint8_t sig[TSC_SIG_BYTES], const uint8_t *m, size_t mlen,
                 const uint8_t sk[TSC_SK_BYTES]);
    /* Returns 0 or TSC_ESIG. */
    int (*verify)(const uint8_t sig[TSC_SIG_BYTES], const uint8_t *m, size_t mlen,
                  const uint8_t pk[TSC_PK_BYTES]);
    /* outlen 8..64. */
    void (*hash)(uint8_t *out, size_t outlen, const uint8_t *in, size_t inlen);
    void (*keypair)(uint8_t pk[TSC_PK_BYTES], uint8_t sk[TSC_SK_BYTES],
                    const uint8_t seed[TSC_SEED_BYTES]);
};

extern const struct tsc_crypto tsc_crypto_sodium;
/* Simulator only: keyed 64-bit hashes in place of AEAD and signatures. Detects
 * corruption and wrong keys, resists no attacker. */
extern const struct tsc_crypto tsc_crypto_cheap;

/* Initialise libsodium once per process (idempotent). Returns 0 or TSC_EIO.
 * The only function here that is not pure; drivers call it at start-up. */
int tsc_crypto_init(void);

/* A node's id: the first 8 bytes of hash(pk), big-endian. Never 0. */
uint64_t tsc_crypto_node_id(const struct tsc_crypto *c, const uint8_t pk[TSC_PK_BYTES]);

/* The cluster id carried in every envelope: 8 bytes of hash("tsc-cluster" || key). */
uint64_t tsc_crypto_cluster_id(const struct tsc_crypto *c, const uint8_t key[TSC_KEY_BYTES]);

#endif
