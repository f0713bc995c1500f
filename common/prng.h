/* tsc — the engines' seeded pseudo-random generator (xoshiro256**, seeded
 * through splitmix64). Engines never use libc randomness: each owns one of these, so a
 * run is reproducible from (seed, events). Not for cryptographic use. */
#ifndef TSC_COMMON_PRNG_H
#define TSC_COMMON_PRNG_H

#include <stdint.h>

struct tsc_prng {
    uint64_t s[4];
};

/* Seed the generator; every seed (including 0) gives a valid state. */
void tsc_prng_seed(struct tsc_prng *p, uint64_t seed);

/* Next 64 uniformly distributed bits. */
uint64_t tsc_prng_next(struct tsc_prng *p);

/* Uniform integer in [0, n); n == 0 returns 0. Unbiased (Lemire's method). */
uint64_t tsc_prng_below(struct tsc_prng *p, uint64_t n);

/* Uniform double in [0, 1). */
double tsc_prng_double(struct tsc_prng *p);

/* Fisher-Yates shuffle of n uint32 indices. */
void tsc_prng_shuffle_u32(struct tsc_prng *p, uint32_t *v, uint32_t n);

#endif
