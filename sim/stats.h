/* tsc — small numeric helpers of the simulator: percentiles, a fast 64-bit
 * hash for the trace, and JSON value printing. Pure; no allocation except
 * where noted. */
#ifndef TSC_SIM_STATS_H
#define TSC_SIM_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The p-th percentile (p in [0, 100]) of v[0..n), by linear interpolation
 * between closest ranks (p=50 of {1,2,3,4} is 2.5). Sorts v in place.
 * Returns NAN when n == 0. */
double tsc_sim_percentile(double *v, size_t n, double p);

/* Hash len bytes, continuing from h (start with TSC_SIM_HASH_INIT). Reads
 * eight bytes per step (xxHash64's round function), so hashing every
 * delivered byte costs a few percent of a step, not most of it. */
#define TSC_SIM_HASH_INIT 0xcbf29ce484222325ULL
uint64_t tsc_sim_hash(uint64_t h, const void *data, size_t len);

/* Mix one 64-bit value into h. */
uint64_t tsc_sim_hash_u64(uint64_t h, uint64_t v);

/* Print s as a JSON string literal (quotes, escapes); NULL prints null. */
void tsc_sim_json_str(FILE *f, const char *s);

/* Print a double with `digits` decimals; NaN and negatives print null (the
 * scenarios use -1 for "never happened"). */
void tsc_sim_json_num(FILE *f, double v, int digits);

#endif
