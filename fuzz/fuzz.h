/* tsc — shared by the fuzz targets, their seed corpus generator and the
 * smoke tests that run the targets without libFuzzer.
 *
 * Input format of fuzz_unseal: the first byte selects a mode, the rest is the
 * payload, so the fuzzer can reach the decoders behind the AEAD:
 *   0  payload is a sealed frame (libsodium table, fixed key)
 *   1  payload is a sealed frame (cheap table, fixed key)
 *   2  payload is an envelope plaintext: the target seals it itself, then
 *      opens it (reaches the envelope decoder)
 *   3  payload is a message body: SWIM datagram, push-pull, record, claim or
 *      meta
 * In every mode the payload is also fed to every body decoder. */
#ifndef TSC_FUZZ_FUZZ_H
#define TSC_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "wire/crypto.h"

enum {
    TSC_FUZZ_FRAME_SODIUM = 0,
    TSC_FUZZ_FRAME_CHEAP = 1,
    TSC_FUZZ_PLAINTEXT = 2,
    TSC_FUZZ_BODY = 3,
    TSC_FUZZ_MODES = 4
};

/* The fixed cluster key: key[i] = i. */
void tsc_fuzz_key(uint8_t key[TSC_KEY_BYTES]);

/* Build the seed inputs (mode byte included) and hand each to emit. Returns
 * 0 or a TSC_E* code. */
int tsc_fuzz_seeds(void (*emit)(void *ctx, const char *name, const uint8_t *p, size_t n),
                   void *ctx);

/* Seed scripts of fuzz_gossip and fuzz_election (fuzz/script.h), the same
 * way. */
int tsc_fuzz_gossip_seeds(void (*emit)(void *ctx, const char *name, const uint8_t *p, size_t n),
                          void *ctx);
int tsc_fuzz_election_seeds(void (*emit)(void *ctx, const char *name, const uint8_t *p, size_t n),
                            void *ctx);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
