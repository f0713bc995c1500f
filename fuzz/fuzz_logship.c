/* tsc — libFuzzer target: the decoders of the log shipping messages
 * (logsync/ship.h), which take bytes from other agents and the coordinator.
 *
 * The whole input is decoded as each of LOG_BATCH, LOG_ACK and LOG_MSG.
 * Checks (abort on failure):
 *   - the result is 0 or the documented error, and a failed decode leaves
 *     nothing behind (no records, no clock, no text);
 *   - a decoded batch keeps its promises: records of its run and node with
 *     seqs first, first + 1, ..., texts inside the input;
 *   - re-encoding what decoded (a batch through tsc_logrec_encode of each
 *     record, as the driver does from its store) decodes to the same
 *     message, and encoding that again gives the same bytes;
 *   - with TSC_FUZZ_OOM=1, the n-th allocation of a decode failing gives
 *     TSC_ENOMEM or the same result, never a crash or a leak.
 * Memory is bounded by the input: counts are checked against the bytes left
 * before anything is allocated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "fuzz/script.h"
#include "logsync/ship.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_logship: invariant broken: %s (%s:%d)\n", #cond, __FILE__,       \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int tsc_fuzz_logship_seeds(void (*emit)(void *ctx, const char *name, const uint8_t *p, size_t n),
                           void *ctx);

static int inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
    return n == 0 || (p >= data && p + n <= data + size);
}

static void same_rec(const struct tsc_logrec *a, const struct tsc_logrec *b)
{
    CHECK(a->node == b->node && a->seq == b->seq && a->lamport == b->lamport);
    CHECK(a->wall_us == b->wall_us && a->run == b->run && a->stage == b->stage);
    CHECK(a->case_index == b->case_index && a->kind == b->kind && a->len == b->len);
    CHECK(a->len == 0 || memcmp(a->text, b->text, a->len) == 0);
    CHECK(tsc_vclock_compare(&a->clock, &b->clock) == TSC_VCLOCK_EQUAL);
}

/* Encode b as the driver would: each record encoded on its own first. */
static int batch_encode(const struct tsc_logbatch *b, struct tsc_buf *out)
{
    struct tsc_buf recs;
    const uint8_t **enc = NULL;
    size_t *len = NULL, *off = NULL;
    int rc = 0;
    tsc_buf_init(&recs);
    if (b->n > 0) {
        enc = tsc_calloc(b->n, sizeof *enc);
        len = tsc_calloc(b->n, sizeof *len);
        off = tsc_calloc(b->n, sizeof *off);
        if (enc == NULL || len == NULL || off == NULL)
            rc = TSC_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        off[i] = recs.len;
        rc = tsc_logrec_encode(&b->records[i], &recs);
        len[i] = recs.len - off[i];
    }
    for (size_t i = 0; rc == 0 && i < b->n; i++)
        enc[i] = recs.data + off[i];
    if (rc == 0)
        rc = tsc_logbatch_encode(b, enc, len, b->n, out);
    tsc_free(enc);
    tsc_free(len);
    tsc_free(off);
    tsc_buf_free(&recs);
    return rc;
}

static void check_batch(const uint8_t *data, size_t size)
{
    struct tsc_logbatch b, d, e;
    struct tsc_buf x, y;
    tsc_logbatch_init(&b);
    tsc_logbatch_init(&d);
    tsc_logbatch_init(&e);
    tsc_buf_init(&x);
    tsc_buf_init(&y);
    int rc = tsc_logbatch_decode(data, size, &b);
    CHECK(rc == 0 || rc == TSC_EMALFORMED || rc == TSC_ETOOBIG || rc == TSC_ENOMEM);
    if (rc != 0) {
        CHECK(b.n == 0 && b.records == NULL && b.watermark.n == 0);
    } else {
        CHECK(b.run != 0 && b.node != 0 && b.first != 0 && b.n <= TSC_LOGBATCH_MAX_RECORDS);
        for (size_t i = 0; i < b.n; i++) {
            const struct tsc_logrec *r = &b.records[i];
            CHECK(r->run == b.run && r->node == b.node && r->seq == b.first + i);
            CHECK(tsc_vclock_get(&r->clock, r->node) == r->seq);
            CHECK(inside(r->text, r->len, data, size));
        }
        int erc = batch_encode(&b, &x);
        CHECK(erc == 0 || erc == TSC_ENOMEM);
        if (erc == 0) {
            CHECK(tsc_logbatch_decode(x.data, x.len, &d) == 0);
            CHECK(d.run == b.run && d.node == b.node && d.epoch == b.epoch);
            CHECK(d.first == b.first && d.promise == b.promise && d.done == b.done);
            CHECK(tsc_vclock_compare(&d.watermark, &b.watermark) == TSC_VCLOCK_EQUAL);
            CHECK(d.n == b.n);
            for (size_t i = 0; i < b.n; i++)
                same_rec(&b.records[i], &d.records[i]);
            CHECK(batch_encode(&d, &y) == 0);
            CHECK(x.len == y.len && memcmp(x.data, y.data, x.len) == 0);
        }
    }
    if (tsc_fuzz_oom_enabled()) {
        for (unsigned long k = 1; k <= 3; k++) {
            tsc_alloc_fail_after(k);
            int orc = tsc_logbatch_decode(data, size, &e);
            tsc_alloc_fail_after(0);
            CHECK(orc == rc || orc == TSC_ENOMEM);
            if (orc != 0)
                CHECK(e.n == 0 && e.records == NULL && e.watermark.n == 0);
            else
                CHECK(e.n == b.n);
        }
    }
    tsc_logbatch_free(&b);
    tsc_logbatch_free(&d);
    tsc_logbatch_free(&e);
    tsc_buf_free(&x);
    tsc_buf_free(&y);
}

static void check_ack(const uint8_t *data, size_t size)
{
    struct tsc_logack a, d;
    struct tsc_buf x, y;
    tsc_buf_init(&x);
    tsc_buf_init(&y);
    int rc = tsc_logack_decode(data, size, &a);
    CHECK(rc == 0 || rc == TSC_EMALFORMED);
    if (rc == 0) {
        CHECK(a.run != 0 && a.node != 0 && (a.done == 0 || a.done == 1));
        int erc = tsc_logack_encode(&a, &x);
        CHECK(erc == 0 || erc == TSC_ENOMEM);
        if (erc == 0) {
            CHECK(tsc_logack_decode(x.data, x.len, &d) == 0);
            CHECK(d.run == a.run && d.node == a.node && d.epoch == a.epoch && d.have == a.have);
            CHECK(d.lamport == a.lamport && d.done == a.done);
            CHECK(tsc_logack_encode(&d, &y) == 0);
            CHECK(x.len == y.len && memcmp(x.data, y.data, x.len) == 0);
        }
    } else {
        CHECK(a.run == 0 && a.node == 0);
    }
    tsc_buf_free(&x);
    tsc_buf_free(&y);
}

static void check_msg(const uint8_t *data, size_t size)
{
    struct tsc_logmsg m, d;
    struct tsc_buf x, y;
    tsc_logmsg_init(&m);
    tsc_logmsg_init(&d);
    tsc_buf_init(&x);
    tsc_buf_init(&y);
    int rc = tsc_logmsg_decode(data, size, &m);
    CHECK(rc == 0 || rc == TSC_EMALFORMED || rc == TSC_ETOOBIG || rc == TSC_ENOMEM);
    if (rc == 0) {
        CHECK(m.len <= TSC_LOGMSG_MAX_TEXT && inside(m.text, m.len, data, size));
        CHECK(tsc_vclock_get(&m.clock, m.from) == m.seq);
        int erc = tsc_logmsg_encode(&m, &x);
        CHECK(erc == 0 || erc == TSC_ENOMEM);
        if (erc == 0) {
            CHECK(tsc_logmsg_decode(x.data, x.len, &d) == 0);
            CHECK(d.run == m.run && d.from == m.from && d.to == m.to && d.seq == m.seq);
            CHECK(d.lamport == m.lamport && d.len == m.len);
            CHECK(d.len == 0 || memcmp(d.text, m.text, d.len) == 0);
            CHECK(tsc_vclock_compare(&d.clock, &m.clock) == TSC_VCLOCK_EQUAL);
            CHECK(tsc_logmsg_encode(&d, &y) == 0);
            CHECK(x.len == y.len && memcmp(x.data, y.data, x.len) == 0);
        }
    } else {
        CHECK(m.clock.n == 0 && m.text == NULL && m.len == 0);
    }
    if (tsc_fuzz_oom_enabled()) {
        tsc_alloc_fail_after(1);
        int orc = tsc_logmsg_decode(data, size, &d);
        tsc_alloc_fail_after(0);
        CHECK(orc == rc || orc == TSC_ENOMEM);
    }
    tsc_logmsg_free(&m);
    tsc_logmsg_free(&d);
    tsc_buf_free(&x);
    tsc_buf_free(&y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_batch(data, size);
    check_ack(data, size);
    check_msg(data, size);
    return 0;
}

/* ---- seed inputs -------------------------------------------------------------- */

static const uint8_t filler[] = "a line of output that the fuzzer did not choose";

/* Records (run, node, first..first+n-1) into one buffer; enc/len point into it. */
static void seed_records(struct tsc_buf *recs, const uint8_t **enc, size_t *len, uint64_t run,
                         uint64_t node, uint64_t first, size_t n)
{
    size_t off[8];
    for (size_t i = 0; i < n; i++) {
        struct tsc_logrec r;
        tsc_logrec_init(&r);
        r.node = node;
        r.seq = first + i;
        tsc_vclock_set(&r.clock, node, first + i);
        tsc_vclock_set(&r.clock, node + 1, 2 + i);
        r.lamport = 100 + i;
        r.wall_us = 1700000000000000ull + i;
        r.run = run;
        r.stage = 1;
        r.kind = (uint8_t)(TSC_LOGREC_STDOUT + i % 7);
        r.text = filler;
        r.len = (i * 7) % sizeof filler;
        off[i] = recs->len;
        tsc_logrec_encode(&r, recs);
        len[i] = recs->len - off[i];
        tsc_logrec_free(&r);
    }
    for (size_t i = 0; i < n; i++)
        enc[i] = recs->data + off[i];
}

int tsc_fuzz_logship_seeds(void (*emit)(void *ctx, const char *name, const uint8_t *p, size_t n),
                           void *ctx)
{
    struct tsc_buf out, recs;
    const uint8_t *enc[8];
    size_t len[8];
    struct tsc_logbatch b;
    tsc_buf_init(&out);
    tsc_buf_init(&recs);

    /* batches: records, a probe, a DONE with a watermark, one of another node */
    static const struct {
        const char *name;
        uint64_t first;
        size_t n;
        int done, other;
    } batches[] = {{"batch", 5, 4, 0, 0},
                   {"probe", 1, 0, 0, 0},
                   {"done", 9, 8, 1, 0},
                   {"other-node", 1, 2, 0, 1}};
    for (size_t k = 0; k < sizeof batches / sizeof batches[0]; k++) {
        tsc_logbatch_init(&b);
        b.run = 0x1234567890ull;
        b.node = 3;
        b.epoch = 77;
        b.first = batches[k].first;
        b.promise = 4000;
        b.done = batches[k].done;
        tsc_vclock_set(&b.watermark, 3, batches[k].first + batches[k].n);
        tsc_vclock_set(&b.watermark, 9, 12);
        tsc_buf_reset(&recs);
        tsc_buf_reset(&out);
        seed_records(&recs, enc, len, b.run, batches[k].other ? 4 : 3, b.first, batches[k].n);
        if (tsc_logbatch_encode(&b, enc, len, batches[k].n, &out) == 0)
            emit(ctx, batches[k].name, out.data, out.len);
        tsc_logbatch_free(&b);
    }

    struct tsc_logack a = {.run = 0x1234567890ull,
                           .node = 3,
                           .epoch = 77,
                           .have = 0x100000000ull,
                           .lamport = 0xfedcba987654ull,
                           .done = 1};
    tsc_buf_reset(&out);
    if (tsc_logack_encode(&a, &out) == 0)
        emit(ctx, "ack", out.data, out.len);

    struct tsc_logmsg m;
    tsc_logmsg_init(&m);
    m.run = 0x1234567890ull;
    m.from = 3;
    m.to = 9;
    m.seq = 41;
    m.lamport = 300;
    tsc_vclock_set(&m.clock, 3, 41);
    tsc_vclock_set(&m.clock, 9, 17);
    m.text = filler;
    m.len = sizeof filler - 1;
    tsc_buf_reset(&out);
    if (tsc_logmsg_encode(&m, &out) == 0)
        emit(ctx, "msg", out.data, out.len);
    tsc_logmsg_free(&m);

    tsc_buf_free(&out);
    tsc_buf_free(&recs);
    return 0;
}
