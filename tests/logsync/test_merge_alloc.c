/* tsc — the merge engine under allocation failure (merge.h: "TSC_ENOMEM
 * (the engine is unchanged by the failed event)").
 *
 * A scripted run (a random causal history of three nodes, with Lamport
 * jumps, delivered in batches with resends, watermarks and promises, TICKs,
 * NODE_DONE and a FLUSH) is
 * replayed with the n-th allocation of each step failing, for every n until
 * the step succeeds. A failed step must report nothing and change no
 * counter; retried, the run must release exactly the reference sequence.
 * Failures after a batch is accepted may only put releases off (the step
 * then asks to be stepped again at once). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/prng.h"
#include "common/time.h"
#include "lm_util.h"

#define K        3
#define EVENTS   240
#define MAX_EVTS 400

struct script {
    size_t n, n_batches;
    struct tsc_logmerge_event ev[MAX_EVTS];
    struct tsc_logrec *batch[MAX_EVTS];
};

struct trace {
    size_t n_rel, n_err;
    uint64_t rel[2 * 2 * EVENTS];
    struct tsc_logmerge_error err[64];
};

static void build(struct tsc_prng *g, struct sim *s, struct script *sc)
{
    struct sim_msg msg[K];
    int have[K] = {0};
    for (size_t i = 0; i < K; i++)
        sim_msg_init(&msg[i]);
    for (size_t e = 0; e < EVENTS; e++) {
        size_t i = tsc_prng_below(g, K);
        unsigned what = (unsigned)tsc_prng_below(g, 5);
        if (what == 4) { /* an ACK with another node's time */
            sim_adopt(s, i, s->lamport[tsc_prng_below(g, K)] + tsc_prng_below(g, 3));
            e--; /* not an event: EVENTS records still */
        } else if (what == 0 && have[i]) {
            sim_recv(s, i, &msg[i]);
            have[i] = 0;
        } else if (what == 1) {
            size_t to = (i + 1 + tsc_prng_below(g, K - 1)) % K;
            sim_send(s, i, &msg[to]);
            have[to] = 1;
        } else {
            sim_local(s, i);
        }
    }
    for (size_t i = 0; i < K; i++)
        sim_msg_free(&msg[i]);

    /* Each node sends its records in order, in batches of 1..6, plus a copy
     * of its previous batch's last record; nodes take turns at random. */
    uint64_t next[K] = {1, 1, 1}, now = 0;
    memset(sc, 0, sizeof *sc);
    for (;;) {
        size_t i = tsc_prng_below(g, K), tries = 0;
        while (sim_rec(s, i, next[i]) == NULL && tries++ < K)
            i = (i + 1) % K;
        if (sim_rec(s, i, next[i]) == NULL)
            break;
        struct tsc_logrec *b = calloc(8, sizeof *b);
        size_t n = 0, want = 1 + tsc_prng_below(g, 6);
        if (next[i] > 1)
            b[n++] = *sim_rec(s, i, next[i] - 1);
        while (n < want + 1 && sim_rec(s, i, next[i]) != NULL)
            b[n++] = *sim_rec(s, i, next[i]++);
        struct tsc_logmerge_event *ev = &sc->ev[sc->n];
        ev->type = TSC_LOGMERGE_EV_BATCH;
        ev->now = now += tsc_prng_below(g, 50);
        ev->node = s->ids[i];
        ev->records = b;
        ev->n_records = n;
        if (tsc_prng_below(g, 2)) {
            const struct tsc_logrec *w = sim_rec(s, i, next[i] - 1);
            ev->watermark = &w->clock;
            ev->promise = s->pmax[w - s->recs];
        }
        sc->batch[sc->n++] = b;
        sc->n_batches++;
        if (tsc_prng_below(g, 4) == 0)
            sc->ev[sc->n++] =
                (struct tsc_logmerge_event){.type = TSC_LOGMERGE_EV_TICK, .now = now += 10};
    }
    sc->ev[sc->n++] = (struct tsc_logmerge_event){.type = TSC_LOGMERGE_EV_NODE_DONE,
                                                  .now = now,
                                                  .node = 1,
                                                  .watermark = &s->clock[0],
                                                  .promise = s->lamport[0]};
    sc->ev[sc->n++] = (struct tsc_logmerge_event){.type = TSC_LOGMERGE_EV_NODE_DONE,
                                                  .now = now,
                                                  .node = 2,
                                                  .watermark = &s->clock[1],
                                                  .promise = s->lamport[1]};
    sc->ev[sc->n++] = (struct tsc_logmerge_event){.type = TSC_LOGMERGE_EV_FLUSH, .now = now};
    assert_true(sc->n <= MAX_EVTS);
}

static void keep(struct trace *t, const struct tsc_logmerge_update *up)
{
    for (size_t i = 0; i < up->n_released; i++) {
        assert_true(t->n_rel + 2 <= sizeof t->rel / sizeof t->rel[0]);
        assert_int_equal(up->released[i].index, t->n_rel / 2 + 1);
        t->rel[t->n_rel++] = up->released[i].rec->node;
        t->rel[t->n_rel++] = up->released[i].rec->seq;
    }
    for (size_t i = 0; i < up->n_errors; i++) {
        assert_true(t->n_err < 64);
        t->err[t->n_err++] = up->errors[i];
    }
}

static void run(const struct script *sc, struct trace *t, int inject, size_t *failures)
{
    const uint64_t nodes[K] = {1, 2, 3};
    struct tsc_logmerge *m;
    struct tsc_logmerge_update up;
    memset(t, 0, sizeof *t);
    assert_int_equal(tsc_logmerge_new(&m, NULL, nodes, K, NULL), 0);
    for (size_t e = 0; e < sc->n; e++) {
        for (unsigned long k = 1;; k++) {
            struct tsc_logmerge_stats before = *tsc_logmerge_stats(m);
            if (inject)
                tsc_alloc_fail_after(k);
            int rc = tsc_logmerge_step(m, &sc->ev[e], &up);
            tsc_alloc_fail_after(0);
            if (rc == TSC_ENOMEM) {
                assert_true(inject);
                assert_int_equal(up.n_released, 0);
                assert_int_equal(up.n_errors, 0);
                assert_memory_equal(&before, tsc_logmerge_stats(m), sizeof before);
                (*failures)++;
                continue;
            }
            assert_int_equal(rc, 0);
            keep(t, &up);
            break;
        }
    }
    /* Releases put off by a failure come with the next steps. */
    for (int i = 0; i < 100 && tsc_logmerge_stats(m)->buffered > 0; i++) {
        struct tsc_logmerge_event flush = {.type = TSC_LOGMERGE_EV_FLUSH,
                                           .now = sc->ev[sc->n - 1].now};
        assert_int_equal(tsc_logmerge_step(m, &flush, &up), 0);
        keep(t, &up);
    }
    assert_int_equal(tsc_logmerge_stats(m)->buffered, 0);
    tsc_logmerge_free(m);
}

static void test_every_allocation_fails_once(void **state)
{
    struct tsc_prng g;
    tsc_prng_seed(&g, 77);
    for (int round = 0; round < 3; round++) {
        struct sim s;
        static struct script sc;
        static struct trace ref, got;
        size_t failures = 0;
        sim_init(&s, K);
        build(&g, &s, &sc);
        run(&sc, &ref, 0, &failures);
        assert_int_equal(ref.n_rel, 2 * s.n);
        run(&sc, &got, 1, &failures);
        assert_true(failures >= sc.n_batches); /* every batch failed at least once */
        assert_int_equal(got.n_rel, ref.n_rel);
        assert_memory_equal(got.rel, ref.rel, ref.n_rel * sizeof ref.rel[0]);
        assert_int_equal(got.n_err, ref.n_err);
        printf("logmerge alloc: %zu events, %zu records, %zu failed steps\n", sc.n, s.n, failures);
        for (size_t i = 0; i < sc.n; i++)
            free(sc.batch[i]);
        sim_free(&s);
    }
}

static void test_new_fails_cleanly(void **state)
{
    const uint64_t nodes[K] = {1, 2, 3};
    char errmsg[TSC_ERRMSG_SIZE];
    struct tsc_logmerge *m;
    int ok = 0;
    for (unsigned long k = 1; k < 10 && !ok; k++) {
        tsc_alloc_fail_after(k);
        int rc = tsc_logmerge_new(&m, NULL, nodes, K, errmsg);
        tsc_alloc_fail_after(0);
        if (rc == 0) {
            ok = 1;
            tsc_logmerge_free(m);
        } else {
            assert_int_equal(rc, TSC_ENOMEM);
            assert_null(m);
            assert_true(strlen(errmsg) > 0);
        }
    }
    assert_true(ok);
}

/* Fail only reallocations to one size: the update's error array growing. */
static size_t fail_size;

static void *h_malloc(void *ctx, size_t n)
{
    return malloc(n ? n : 1);
}

static void *h_realloc(void *ctx, void *p, size_t n)
{
    return n == fail_size ? NULL : realloc(p, n ? n : 1);
}

static void h_free(void *ctx, void *p)
{
    free(p);
}

/* A release that finds no room is put off: the step succeeds, asks to be
 * stepped again at once, and the next step goes on where it stopped. */
static void test_release_put_off(void **state)
{
    const uint64_t nodes[] = {1, 2};
    struct tsc_logmerge_update up;
    struct tsc_logmerge *m;
    struct sim s;
    sim_init(&s, 1);
    for (int i = 0; i < 200; i++)
        sim_local(&s, 0);
    assert_int_equal(tsc_logmerge_new(&m, NULL, nodes, 2, NULL), 0);
    /* Every other record, one per batch: the error array stays small. */
    for (size_t i = 1; i < 200; i += 2) {
        struct tsc_logmerge_event ev = {.type = TSC_LOGMERGE_EV_BATCH,
                                        .now = 5,
                                        .node = 1,
                                        .records = &s.recs[i],
                                        .n_records = 1};
        assert_int_equal(tsc_logmerge_step(m, &ev, &up), 0);
        assert_int_equal(up.n_released, 0);
    }
    const struct tsc_alloc_hook hook = {h_malloc, h_realloc, h_free, NULL};
    fail_size = 32 * sizeof(struct tsc_logmerge_error);
    tsc_alloc_set_hook(&hook);
    struct tsc_logmerge_event flush = {.type = TSC_LOGMERGE_EV_FLUSH, .now = 6};
    assert_int_equal(tsc_logmerge_step(m, &flush, &up), 0);
    tsc_alloc_set_hook(NULL);
    size_t first = up.n_released;
    assert_true(first > 0 && first < 100);
    assert_int_equal(up.n_errors, first); /* a GAP each */
    assert_int_equal(up.next_deadline, 6);
    assert_int_equal(tsc_logmerge_stats(m)->buffered, 100 - first);
    struct tsc_logmerge_event tick = {.type = TSC_LOGMERGE_EV_TICK, .now = 6};
    assert_int_equal(tsc_logmerge_step(m, &tick, &up), 0);
    assert_int_equal(up.n_released, 100 - first);
    assert_int_equal(up.released[0].index, first + 1);
    assert_int_equal(up.released[0].rec->seq, 2 * first + 2);
    assert_int_equal(up.errors[0].kind, TSC_LOGMERGE_GAP);
    assert_int_equal(up.errors[0].b_seq, 2 * first);
    assert_int_equal(up.next_deadline, TSC_TIME_NEVER);
    assert_int_equal(tsc_logmerge_stats(m)->errors[TSC_LOGMERGE_GAP], 100);
    tsc_logmerge_free(m);
    sim_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails_once),
        cmocka_unit_test(test_new_fails_cleanly),
        cmocka_unit_test(test_release_put_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
