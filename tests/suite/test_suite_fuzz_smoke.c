/* tsc — runs the fuzz_suite target without libFuzzer, so every build (and
 * the ASan one) exercises it: the example suites of data/ and their msgpack
 * encodings, every prefix and every single-bit flip of each, then
 * deterministic random mutations. The target aborts on any broken
 * invariant; ASan/UBSan catch the rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/prng.h"
#include "ctl/suite_yaml.h"
#include "tests/fuzz_corpus.h"
#include "wire/suite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUTATIONS 20000

static const char *const yaml_seeds[] = {
    "full.yaml",
    "bad_indent.yaml",
    "unknown_key.yaml",
    "missing_name.yaml",
    "duplicate_case.yaml",
    "bad_timeout.yaml",
    "unknown_var_inline.yaml",
    "missing_script.yaml",
    "unknown_var_file.yaml",
};

/* The YAML files, the encodings of the suites that load, and a YAML text
 * that uses every feature the fuzzer can reach without files. */
static void build_corpus(struct tsc_test_corpus *c)
{
    for (size_t i = 0; i < sizeof yaml_seeds / sizeof *yaml_seeds; i++) {
        char path[512], buf[8192];
        snprintf(path, sizeof path, "%s/%s", TSC_SUITE_DATA, yaml_seeds[i]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        tsc_test_corpus_add(c, buf, n);

        struct tsc_suite s;
        char err[TSC_ERRMSG_SIZE];
        if (tsc_suite_load(path, &s, err) == 0) {
            struct tsc_buf b;
            tsc_buf_init(&b);
            assert_int_equal(tsc_suite_encode(&s, &b, err), 0);
            tsc_test_corpus_add(c, b.data, b.len);
            tsc_buf_free(&b);
            tsc_suite_free(&s);
        }
    }
    const char *inline_only = "suite: s\nmachines: {names: [a], roles: [r]}\nvars: {v: 1}\n"
                              "timeout: 2m\ninit: echo {{ v }}\ncases:\n- name: c\n  run:\n"
                              "    r: |\n      x {{ tsc.name }}\n    all: y\n    timeout: 5s\n"
                              "finalize: 'z {{ tsc.open }}'\n";
    tsc_test_corpus_add(c, inline_only, strlen(inline_only));
    struct tsc_suite s;
    struct tsc_buf b;
    char err[TSC_ERRMSG_SIZE];
    assert_int_equal(tsc_suite_parse("i", inline_only, strlen(inline_only), NULL, &s, err), 0);
    tsc_buf_init(&b);
    assert_int_equal(tsc_suite_encode(&s, &b, err), 0);
    tsc_test_corpus_add(c, b.data, b.len);
    tsc_buf_free(&b);
    tsc_suite_free(&s);
}

static void test_seeds_prefixes_flips(void **state)
{
    struct tsc_test_corpus c = {0};
    build_corpus(&c);
    assert_true(c.n >= 12);
    for (unsigned i = 0; i < c.n; i++) {
        for (size_t cut = 0; cut <= c.len[i]; cut++) {
            /* Exactly cut bytes, so ASan sees any over-read. */
            uint8_t *x = malloc(cut ? cut : 1);
            memcpy(x, c.p[i], cut);
            LLVMFuzzerTestOneInput(x, cut);
            free(x);
        }
        uint8_t *x = malloc(c.len[i]);
        memcpy(x, c.p[i], c.len[i]);
        for (size_t j = 0; j < c.len[i]; j++) {
            for (unsigned bit = 0; bit < 8; bit++) {
                x[j] ^= (uint8_t)(1u << bit);
                LLVMFuzzerTestOneInput(x, c.len[i]);
                x[j] ^= (uint8_t)(1u << bit);
            }
        }
        free(x);
    }
    tsc_test_corpus_free(&c);
}

static void test_random_mutations(void **state)
{
    static const char *const tokens[] = {"{{", "}}", ": ",  "\n- ", "&a ", "*a",    "{file: x}",
                                         "'",  "\"", "|\n", ">\n",  "\t",  "---\n", "#"};
    struct tsc_test_corpus c = {0};
    struct tsc_prng g;
    uint8_t buf[8192];
    tsc_prng_seed(&g, 20240607);
    build_corpus(&c);
    for (unsigned i = 0; i < c.n; i++) {
        for (int k = 0; k < MUTATIONS; k++) {
            size_t n = c.len[i] < sizeof buf ? c.len[i] : sizeof buf;
            memcpy(buf, c.p[i], n);
            int edits = 1 + (int)tsc_prng_below(&g, 4);
            for (int e = 0; e < edits && n > 1; e++) {
                size_t at = tsc_prng_below(&g, n);
                switch (tsc_prng_below(&g, 4)) {
                case 0: /* random byte */
                    buf[at] = (uint8_t)tsc_prng_next(&g);
                    break;
                case 1: /* truncate */
                    n = at + 1;
                    break;
                case 2: { /* a token that matters to one of the parsers */
                    const char *t = tokens[tsc_prng_below(&g, sizeof tokens / sizeof *tokens)];
                    size_t tl = strlen(t);
                    if (at + tl <= n)
                        memcpy(buf + at, t, tl);
                    break;
                }
                default: /* delete one byte */
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
    }
    tsc_test_corpus_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeds_prefixes_flips),
        cmocka_unit_test(test_random_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
