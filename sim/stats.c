/* tsc — percentiles, the trace hash and JSON helpers of the simulator. */
#include "sim/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double tsc_sim_percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof(*v), cmp_double);
    if (p <= 0)
        return v[0];
    if (p >= 100)
        return v[n - 1];
    double rank = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)rank;
    double frac = rank - (double)lo;
    if (lo + 1 >= n)
        return v[n - 1];
    return v[lo] + frac * (v[lo + 1] - v[lo]);
}

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t round64(uint64_t acc, uint64_t in)
{
    acc += in * P2;
    acc = rotl64(acc, 31);
    return acc * P1;
}

uint64_t tsc_sim_hash_u64(uint64_t h, uint64_t v)
{
    h ^= round64(0, v);
    return rotl64(h, 27) * P1 + P3;
}

uint64_t tsc_sim_hash(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t i = 0;
    if (len >= 32) {
        /* Four independent lanes (xxHash64's layout): the multiplies of one
         * lane do not wait for the others', which is most of the speed. */
        uint64_t v[4] = {h + P1 + P2, h + P2, h, h - P1};
        for (; i + 32 <= len; i += 32)
            for (int k = 0; k < 4; k++) {
                uint64_t x;
                memcpy(&x, p + i + 8 * k, 8);
                v[k] = round64(v[k], x);
            }
        h = rotl64(v[0], 1) + rotl64(v[1], 7) + rotl64(v[2], 12) + rotl64(v[3], 18);
    }
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8); /* little-endian hosts only, like the rest of the sim */
        h = tsc_sim_hash_u64(h, w);
    }
    uint64_t tail = 0;
    for (size_t k = 0; i < len; i++, k++)
        tail |= (uint64_t)p[i] << (8 * k);
    /* The length goes in too, so "ab" + "" and "a" + "b" differ. */
    h = tsc_sim_hash_u64(h, tail ^ ((uint64_t)len << 56));
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    return h;
}

void tsc_sim_json_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void tsc_sim_json_num(FILE *f, double v, int digits)
{
    if (isnan(v) || isinf(v) || v < 0)
        fputs("null", f);
    else
        fprintf(f, "%.*f", digits, v);
}
