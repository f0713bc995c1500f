/* tsc — runs a logsync fuzz target (fuzz/fuzz_logmerge.c or
 * fuzz/fuzz_logship.c: CMake compiles this file once per target, naming its
 * seed function TSC_FUZZ_SEEDS and the seeds it must at least give
 * TSC_FUZZ_MIN_SEEDS) without libFuzzer, so every build, the ASan one
 * included, exercises it: each seed and its prefixes, deterministic random mutations of the seeds,
 * and random byte strings, with allocation failures enabled (TSC_FUZZ_OOM=1). The target aborts on
 * any broken invariant; ASan/UBSan catch the rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/prng.h"
#include "tests/fuzz_corpus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int TSC_FUZZ_SEEDS(void (*emit)(void *ctx, const char *name, const uint8_t *p, size_t n),
                   void *ctx);

#ifdef TSC_SANITIZED_BUILD
#define MUTATIONS 500
#define RANDOM    1000
#else
#define MUTATIONS 2000
#define RANDOM    5000
#endif
#define MAX_SEEDS 16 /* the most seeds a target may give */
#define MAX_INPUT 8192

/* An exact-size copy, so ASan sees any read past the end. */
static void run(const uint8_t *p, size_t n)
{
    uint8_t *x = calloc(n ? n : 1, 1); /* calloc: gcc -O2 sees no uninitialised read */
    if (n > 0)
        memcpy(x, p, n);
    LLVMFuzzerTestOneInput(x, n);
    free(x);
}

static int setup(void **state)
{
    setenv("TSC_FUZZ_OOM", "1", 1);
    struct tsc_test_corpus *c = calloc(1, sizeof *c);
    assert_int_equal(TSC_FUZZ_SEEDS(tsc_test_corpus_collect, c), 0);
    assert_true(c->n >= TSC_FUZZ_MIN_SEEDS);
    assert_true(c->n <= MAX_SEEDS);
    for (unsigned i = 0; i < c->n; i++)
        assert_true(c->len[i] <= MAX_INPUT);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct tsc_test_corpus *c = *state;
    if (c == NULL) /* setup failed */
        return 0;
    tsc_test_corpus_free(c);
    free(c);
    return 0;
}

static void test_seeds_and_prefixes(void **state)
{
    const struct tsc_test_corpus *c = *state;
    run(NULL, 0);
    for (unsigned i = 0; i < c->n; i++) {
        assert_true(c->len[i] > 16);
        for (size_t cut = 0; cut <= c->len[i]; cut++)
            run(c->p[i], cut);
    }
}

static void mutate(struct tsc_prng *g, const struct tsc_test_corpus *c, uint8_t *buf, size_t *n)
{
    int edits = 1 + (int)tsc_prng_below(g, 4);
    for (int e = 0; e<edits && * n> 1; e++) {
        size_t at = tsc_prng_below(g, *n);
        switch (tsc_prng_below(g, 6)) {
        case 0:
            buf[at] = (uint8_t)tsc_prng_next(g);
            break;
        case 1: /* a small number: opcodes, counts, modes */
            buf[at] = (uint8_t)tsc_prng_below(g, 16);
            break;
        case 2:
            *n = at + 1;
            break;
        case 3:
            if (*n < MAX_INPUT) {
                memmove(buf + at + 1, buf + at, *n - at);
                buf[at] = (uint8_t)tsc_prng_below(g, 64);
                (*n)++;
            }
            break;
        case 4:
            memmove(buf + at, buf + at + 1, *n - at - 1);
            (*n)--;
            break;
        default: /* the tail of another seed from here on */
            tsc_test_corpus_splice(g, c, buf, at, n, MAX_INPUT);
            break;
        }
    }
}

static void test_mutations(void **state)
{
    const struct tsc_test_corpus *c = *state;
    static uint8_t buf[MAX_INPUT];
    struct tsc_prng g;
    tsc_prng_seed(&g, 20250101);
    for (unsigned i = 0; i < c->n; i++) {
        for (int k = 0; k < MUTATIONS; k++) {
            size_t n = c->len[i];
            memcpy(buf, c->p[i], n);
            mutate(&g, c, buf, &n);
            run(buf, n);
        }
    }
}

static void test_random_bytes(void **state)
{
    static uint8_t buf[2048];
    struct tsc_prng g;
    tsc_prng_seed(&g, 4242);
    for (int k = 0; k < RANDOM; k++) {
        size_t n = tsc_prng_below(&g, sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)tsc_prng_next(&g);
        run(buf, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeds_and_prefixes),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_random_bytes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
