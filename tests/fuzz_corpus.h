/* tsc — the seed corpus of the smoke tests that run fuzz targets without
 * libFuzzer (tests/{fuzz,logsync,wire,suite}): the seeds a target's seed
 * function emits, kept as exact-size copies, and the splice mutation they
 * share. Test-only; include after <cmocka.h>. */
#ifndef TSC_TESTS_FUZZ_CORPUS_H
#define TSC_TESTS_FUZZ_CORPUS_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/prng.h"

#define TSC_TEST_CORPUS_MAX 32

struct tsc_test_corpus {
    unsigned n;
    uint8_t *p[TSC_TEST_CORPUS_MAX];
    size_t len[TSC_TEST_CORPUS_MAX];
};

/* Add a copy of seed p (n bytes). */
static inline void tsc_test_corpus_add(struct tsc_test_corpus *c, const void *p, size_t n)
{
    assert_true(c->n < TSC_TEST_CORPUS_MAX);
    c->p[c->n] = malloc(n ? n : 1);
    assert_non_null(c->p[c->n]);
    if (n > 0)
        memcpy(c->p[c->n], p, n);
    c->len[c->n++] = n;
}

/* The emit callback of the targets' seed functions (fuzz/fuzz.h); ctx is
 * the corpus. */
static inline void tsc_test_corpus_collect(void *ctx, const char *name, const uint8_t *p, size_t n)
{
    (void)name;
    tsc_test_corpus_add(ctx, p, n);
}

static inline void tsc_test_corpus_free(struct tsc_test_corpus *c)
{
    for (unsigned i = 0; i < c->n; i++)
        free(c->p[i]);
    c->n = 0;
}

/* The splice mutation: from buf[at] on, the tail of a random seed (cut to
 * max bytes in all); *n becomes the new length. */
static inline void tsc_test_corpus_splice(struct tsc_prng *g, const struct tsc_test_corpus *c,
                                          uint8_t *buf, size_t at, size_t *n, size_t max)
{
    unsigned j = (unsigned)tsc_prng_below(g, c->n);
    size_t from = tsc_prng_below(g, c->len[j] + 1);
    size_t take = c->len[j] - from;
    if (at + take > max)
        take = max - at;
    memcpy(buf + at, c->p[j] + from, take);
    *n = at + take;
}

#endif
