/* tsc — runs an engine fuzz target (fuzz_gossip or fuzz_election, chosen at
 * build time by TSC_FUZZ_SEEDS, the target's seed function) without
 * libFuzzer, so every build, the ASan one included, exercises it: each seed
 * and its prefixes, then deterministic random mutations of the seeds
 * (byte edits, small numbers where the scripts keep their choices,
 * insertions, deletions, truncations, splices of two seeds). The target
 * aborts on any broken engine invariant; ASan/UBSan catch the rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/prng.h"
#include "fuzz/fuzz.h"
#include "tests/fuzz_corpus.h"

#ifndef TSC_FUZZ_SEEDS
#error "define TSC_FUZZ_SEEDS to the target's seed function"
#endif
#ifndef MUTATIONS
#define MUTATIONS 500 /* per seed: some 4000 inputs in all */
#endif
#define MAX_INPUT 4096

/* Hand the target an exact-size copy so ASan sees reads past its end.
 * With TSC_FUZZ_DUMP=FILE set, each input is written to FILE first, so
 * after a crash FILE holds the input that caused it (for the fuzz target's
 * reproducer: bin/fuzz_<target> FILE). */
static void run(const uint8_t *p, size_t n)
{
    const char *dump = getenv("TSC_FUZZ_DUMP");
    if (dump != NULL) {
        FILE *f = fopen(dump, "wb");
        if (f != NULL) {
            if (n > 0)
                fwrite(p, 1, n, f);
            fclose(f);
        }
    }
    uint8_t *x = malloc(n ? n : 1);
    if (n > 0)
        memcpy(x, p, n);
    LLVMFuzzerTestOneInput(x, n);
    free(x);
}

static void test_seeds_and_prefixes(void **state)
{
    struct tsc_test_corpus c = {0};
    assert_int_equal(TSC_FUZZ_SEEDS(tsc_test_corpus_collect, &c), 0);
    assert_true(c.n >= 6);
    run(NULL, 0);
    for (unsigned i = 0; i < c.n; i++) {
        size_t stride = c.len[i] > 128 ? c.len[i] / 64 : 1;
        for (size_t cut = 0; cut <= c.len[i]; cut += stride)
            run(c.p[i], cut);
        run(c.p[i], c.len[i]);
    }
    tsc_test_corpus_free(&c);
}

static void mutate(struct tsc_prng *g, const struct tsc_test_corpus *c, uint8_t *buf, size_t *n)
{
    int edits = 1 + (int)tsc_prng_below(g, 4);
    for (int e = 0; e<edits && * n> 1; e++) {
        size_t at = tsc_prng_below(g, *n);
        switch (tsc_prng_below(g, 7)) {
        case 0: /* random byte */
            buf[at] = (uint8_t)tsc_prng_next(g);
            break;
        case 1: /* a small number: opcodes, selectors, modes */
            buf[at] = (uint8_t)tsc_prng_below(g, 16);
            break;
        case 2: /* truncate */
            *n = at + 1;
            break;
        case 3: /* insert a byte */
            if (*n < MAX_INPUT) {
                memmove(buf + at + 1, buf + at, *n - at);
                buf[at] = (uint8_t)tsc_prng_below(g, 16);
                (*n)++;
            }
            break;
        case 4: /* delete a byte */
            memmove(buf + at, buf + at + 1, *n - at - 1);
            (*n)--;
            break;
        case 5: /* flip one bit */
            buf[at] ^= (uint8_t)(1u << tsc_prng_below(g, 8));
            break;
        default: /* splice: the tail of another seed from here on */
            tsc_test_corpus_splice(g, c, buf, at, n, MAX_INPUT);
            break;
        }
    }
}

static void test_random_mutations(void **state)
{
    struct tsc_test_corpus c = {0};
    struct tsc_prng g;
    static uint8_t buf[MAX_INPUT];
    tsc_prng_seed(&g, 20240601);
    assert_int_equal(TSC_FUZZ_SEEDS(tsc_test_corpus_collect, &c), 0);
    for (unsigned i = 0; i < c.n; i++) {
        for (int k = 0; k < MUTATIONS; k++) {
            size_t n = c.len[i] < MAX_INPUT ? c.len[i] : MAX_INPUT;
            memcpy(buf, c.p[i], n);
            mutate(&g, &c, buf, &n);
            run(buf, n);
        }
    }
    tsc_test_corpus_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeds_and_prefixes),
        cmocka_unit_test(test_random_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
