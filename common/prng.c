/* tsc — xoshiro256** (Blackman & Vigna, 2018) with splitmix64 seeding. */
#include "common/prng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void tsc_prng_seed(struct tsc_prng *p, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        p->s[i] = splitmix64(&x);
}

uint64_t tsc_prng_next(struct tsc_prng *p)
{
    uint64_t *s = p->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t tsc_prng_below(struct tsc_prng *p, uint64_t n)
{
    if (n == 0)
        return 0;
    /* Lemire's nearly-divisionless method, with rejection for exactness. */
    unsigned __int128 m = (unsigned __int128)tsc_prng_next(p) * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
        uint64_t t = -n % n;
        while (l < t) {
            m = (unsigned __int128)tsc_prng_next(p) * n;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double tsc_prng_double(struct tsc_prng *p)
{
    return (double)(tsc_prng_next(p) >> 11) * (1.0 / 9007199254740992.0);
}

void tsc_prng_shuffle_u32(struct tsc_prng *p, uint32_t *v, uint32_t n)
{
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = (uint32_t)tsc_prng_below(p, i);
        uint32_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}
