/* tsc — runs the fuzz_unseal target without libFuzzer, so every build (and
 * the ASan one) exercises it: each seed, every prefix and every single-bit
 * flip of it, then deterministic random mutations. The target aborts on any
 * broken invariant; ASan/UBSan catch the rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/prng.h"
#include "fuzz/fuzz.h"
#include "tests/fuzz_corpus.h"

#define MUTATIONS 20000

static void test_seeds_prefixes_flips(void **state)
{
    struct tsc_test_corpus c = {0};
    assert_int_equal(tsc_fuzz_seeds(tsc_test_corpus_collect, &c), 0);
    assert_true(c.n >= 10);
    for (unsigned i = 0; i < c.n; i++) {
        uint8_t *x = malloc(c.len[i]);
        memcpy(x, c.p[i], c.len[i]);
        LLVMFuzzerTestOneInput(x, c.len[i]);
        for (size_t cut = 0; cut < c.len[i]; cut++)
            LLVMFuzzerTestOneInput(x, cut);
        for (size_t j = 1; j < c.len[i]; j++) {
            for (unsigned bit = 0; bit < 8; bit++) {
                x[j] ^= (uint8_t)(1u << bit);
                LLVMFuzzerTestOneInput(x, c.len[i]);
                x[j] ^= (uint8_t)(1u << bit);
            }
        }
        free(x);
        free(c.p[i]);
    }
}

static void test_random_mutations(void **state)
{
    struct tsc_test_corpus c = {0};
    struct tsc_prng g;
    uint8_t buf[4096];
    tsc_prng_seed(&g, 20240601);
    assert_int_equal(tsc_fuzz_seeds(tsc_test_corpus_collect, &c), 0);
    for (unsigned i = 0; i < c.n; i++) {
        for (int k = 0; k < MUTATIONS; k++) {
            size_t n = c.len[i] < sizeof buf ? c.len[i] : sizeof buf;
            memcpy(buf, c.p[i], n);
            int edits = 1 + (int)tsc_prng_below(&g, 4);
            for (int e = 0; e < edits && n > 1; e++) {
                size_t at = 1 + tsc_prng_below(&g, n - 1);
                switch (tsc_prng_below(&g, 5)) {
                case 0: /* random byte */
                    buf[at] = (uint8_t)tsc_prng_next(&g);
                    break;
                case 1: /* interesting byte: a msgpack type marker */
                    buf[at] = (uint8_t)(0xc0 + tsc_prng_below(&g, 0x20));
                    break;
                case 2: /* truncate */
                    n = at;
                    break;
                case 3: /* insert a byte */
                    if (n < sizeof buf) {
                        memmove(buf + at + 1, buf + at, n - at);
                        buf[at] = (uint8_t)tsc_prng_next(&g);
                        n++;
                    }
                    break;
                default: /* delete a byte */
                    memmove(buf + at, buf + at + 1, n - at - 1);
                    n--;
                    break;
                }
            }
            uint8_t *x = malloc(n ? n : 1);
            memcpy(x, buf, n);
            LLVMFuzzerTestOneInput(x, n);
            free(x);
        }
        free(c.p[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeds_prefixes_flips),
        cmocka_unit_test(test_random_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
