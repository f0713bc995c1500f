/* tsc — runs the fuzz_runlog target (fuzz/fuzz_runlog.c) without libFuzzer,
 * so every build (and the ASan one) exercises it: valid seeds built here,
 * every prefix and single-bit flip of each, then deterministic random
 * mutations. The target aborts on a broken invariant; ASan/UBSan catch the
 * rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "barrier/runlog.h"
#include "common/prng.h"
#include "wire/crypto.h"

#ifdef TSC_SANITIZED_BUILD
#define MUTATIONS 3000
#else
#define MUTATIONS 6000
#endif
#define MAX_SEEDS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct corpus {
    unsigned n;
    struct tsc_buf b[MAX_SEEDS];
};

static struct tsc_buf *seed(struct corpus *c, uint8_t mode)
{
    assert_true(c->n < MAX_SEEDS);
    struct tsc_buf *b = &c->b[c->n++];
    tsc_buf_init(b);
    assert_int_equal(tsc_buf_append(b, &mode, 1), 0);
    return b;
}

/* Append a record as a [len u16 LE][bytes] chunk (mode 1 inputs). */
static void chunk(struct tsc_buf *b, const struct tsc_buf *rec)
{
    uint8_t len[2] = {(uint8_t)rec->len, (uint8_t)(rec->len >> 8)};
    assert_int_equal(tsc_buf_append(b, len, 2), 0);
    assert_int_equal(tsc_buf_append(b, rec->data, rec->len), 0);
}

static void stage_rec(struct tsc_buf *b, uint32_t stage, int failed)
{
    struct tsc_stage_result r[2] = {
        {.status = TSC_RESULT_PASSED, .output = (const uint8_t *)"o", .output_len = 1},
        {.status = failed ? TSC_RESULT_TIMEOUT : TSC_RESULT_PASSED,
         .message = "late",
         .message_len = 4}};
    struct tsc_runlog_stage s = {.run = 1,
                                 .stage = stage,
                                 .outcome = failed ? TSC_STAGE_FAILED : TSC_STAGE_PASSED,
                                 .n_results = 2,
                                 .results = r};
    if (failed)
        strcpy(s.diagnosis, "stage 'x' failed: b timed out after 1 s");
    tsc_buf_reset(b);
    assert_int_equal(tsc_runlog_encode_stage(&s, b), 0);
}

static void make_seeds(struct corpus *c)
{
    struct tsc_buf rec;
    struct tsc_run_participant p[2];
    uint64_t t[5] = {1, 2, 3, 4, 5};
    tsc_buf_init(&rec);
    memset(p, 0, sizeof p);
    p[0].id = 11;
    p[1].id = 22;
    strcpy(p[0].name, "a");
    strcpy(p[1].name, "b");
    struct tsc_runlog_submit s = {.nonce = 9, .n_cases = 1, .n_participants = 2, .participants = p};
    assert_int_equal(tsc_runlog_encode_submit(&s, t, seed(c, 0)), 0);
    stage_rec(&rec, 0, 0);
    assert_int_equal(tsc_buf_append(seed(c, 0), rec.data, rec.len), 0);
    struct tsc_runlog_cancel cr = {.run = 1, .reason = "stop"};
    assert_int_equal(tsc_runlog_encode_cancel(&cr, seed(c, 2)), 0);
    struct tsc_stage_start st = {1, 0, 3, 1, 100, "echo", 4, "c", 1, "db", 2, NULL, 0};
    assert_int_equal(tsc_stage_start_encode(&st, seed(c, 0)), 0);
    struct tsc_stage_cancel cm = {1, 3, 0};
    assert_int_equal(tsc_stage_cancel_encode(&cm, seed(c, 0)), 0);
    uint8_t pk[TSC_PK_BYTES], sk[TSC_SK_BYTES], sd[TSC_SEED_BYTES] = {1};
    tsc_crypto_cheap.keypair(pk, sk, sd);
    struct tsc_stage_report rp = {.node = tsc_crypto_node_id(&tsc_crypto_cheap, pk), .run = 1};
    rp.result.status = TSC_RESULT_FAILED;
    rp.result.exit_code = -1;
    assert_int_equal(tsc_stage_report_encode(&tsc_crypto_cheap, sk, &rp, seed(c, 0)), 0);
    /* Whole runs: passing; failing with a cancel in the middle. */
    struct tsc_buf *b = seed(c, 1);
    for (uint32_t k = 0; k < 5; k++) {
        stage_rec(&rec, k, 0);
        chunk(b, &rec);
    }
    b = seed(c, 3);
    stage_rec(&rec, 0, 0);
    chunk(b, &rec);
    stage_rec(&rec, 1, 1);
    chunk(b, &rec);
    tsc_buf_reset(&rec);
    assert_int_equal(tsc_runlog_encode_cancel(&cr, &rec), 0);
    chunk(b, &rec);
    stage_rec(&rec, 3, 0);
    chunk(b, &rec);
    stage_rec(&rec, 4, 1);
    chunk(b, &rec);
    tsc_buf_free(&rec);
}

static void test_seeds_prefixes_flips(void **state)
{
    struct corpus c = {0};
    make_seeds(&c);
    for (unsigned i = 0; i < c.n; i++) {
        uint8_t *x = c.b[i].data;
        size_t n = c.b[i].len;
        LLVMFuzzerTestOneInput(x, n);
        for (size_t cut = 0; cut < n; cut++)
            LLVMFuzzerTestOneInput(x, cut);
        for (size_t j = 1; j < n; j++)
            for (unsigned bit = 0; bit < 8; bit++) {
                x[j] ^= (uint8_t)(1u << bit);
                LLVMFuzzerTestOneInput(x, n);
                x[j] ^= (uint8_t)(1u << bit);
            }
        tsc_buf_free(&c.b[i]);
    }
}

static void test_random_mutations(void **state)
{
    struct corpus c = {0};
    struct tsc_prng g;
    uint8_t buf[2048];
    tsc_prng_seed(&g, 4242);
    make_seeds(&c);
    for (unsigned i = 0; i < c.n; i++) {
        for (int k = 0; k < MUTATIONS; k++) {
            size_t n = c.b[i].len < sizeof buf ? c.b[i].len : sizeof buf;
            memcpy(buf, c.b[i].data, n);
            int edits = 1 + (int)tsc_prng_below(&g, 4);
            for (int e = 0; e < edits && n > 1; e++) {
                size_t at = 1 + tsc_prng_below(&g, n - 1);
                switch (tsc_prng_below(&g, 4)) {
                case 0:
                    buf[at] = (uint8_t)tsc_prng_next(&g);
                    break;
                case 1: /* a msgpack type marker */
                    buf[at] = (uint8_t)(0xc0 + tsc_prng_below(&g, 0x20));
                    break;
                case 2:
                    n = at;
                    break;
                default: /* a small number: counts, lengths, kinds */
                    buf[at] = (uint8_t)tsc_prng_below(&g, 8);
                    break;
                }
            }
            LLVMFuzzerTestOneInput(buf, n);
        }
        tsc_buf_free(&c.b[i]);
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
