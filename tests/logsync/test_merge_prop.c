/* tsc — property test of the merge engine (the issue asks for it).
 *
 * Each round builds a random causal history: K nodes (2..8) do local
 * events, sends and receives, each one a record by the vclock.h convention
 * (a send carries the sender's ticked clock and Lamport time; a receive
 * merges them, then ticks), and now and then a node moves its Lamport time
 * forward without a record, as an agent does when an acknowledgement
 * brings the coordinator's time. The records then reach the engine in
 * random batches: random nodes in turn, records of a node in random order,
 * identical duplicates, random (but true) watermarks with random (but
 * true) promises, empty batches that only carry a watermark (also from
 * nodes that have sent nothing yet), TICKs, all well within max_wait;
 * NODE_DONE for every node at the end. Then:
 *   - every record was released exactly once, the duplicates counted as
 *     resends, and no error was reported, nothing forced;
 *   - the sequence is a linear extension of the causal order, checked with
 *     the clocks: no record happened before one released earlier;
 *   - it equals the records sorted by (lamport, node): the same set of
 *     records gives the same sequence whatever the delivery.
 * The drivers' checks (lm_util.c) run after every step too: accounting,
 * indices, the next deadline, the error codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/prng.h"
#include "common/time.h"
#include "lm_util.h"

#ifdef TSC_SANITIZED_BUILD
#define ROUNDS 1000 /* ASan+UBSan are some 5x slower */
#else
#define ROUNDS 3000
#endif
#define MAX_EVENTS 400

struct msg {
    size_t to;
    struct sim_msg m;
};

/* A random history in s: n_events events of k nodes. */
static void make_history(struct tsc_prng *g, struct sim *s, size_t n_events, size_t *adopts)
{
    struct msg *flight = calloc(n_events, sizeof *flight);
    size_t n_flight = 0;
    for (size_t e = 0; e < n_events; e++) {
        size_t i = tsc_prng_below(g, s->k);
        unsigned what = (unsigned)tsc_prng_below(g, 12);
        size_t pick = n_flight;
        if (what >= 7 && what < 10) /* a receive, if something is on its way to i */
            for (size_t f = 0; f < n_flight && pick == n_flight; f++)
                if (flight[(f + e) % n_flight].to == i)
                    pick = (f + e) % n_flight;
        if (what >= 10) {
            /* An acknowledgement with the coordinator's time: as far as
             * the furthest node, or some node's time, or a jump ahead. */
            uint64_t x = 0;
            size_t how = tsc_prng_below(g, 3);
            for (size_t j = 0; j < s->k; j++)
                if (how == 0 && s->lamport[j] > x)
                    x = s->lamport[j];
            if (how == 1)
                x = s->lamport[tsc_prng_below(g, s->k)];
            if (how == 2)
                x = s->lamport[i] + 1 + tsc_prng_below(g, 30);
            sim_adopt(s, i, x);
            (*adopts)++;
        } else if (what >= 7 && pick < n_flight) {
            sim_recv(s, i, &flight[pick].m);
            sim_msg_free(&flight[pick].m);
            flight[pick] = flight[--n_flight];
        } else if (what >= 5) {
            struct msg *m = &flight[n_flight++];
            m->to = (i + 1 + tsc_prng_below(g, s->k - 1)) % s->k;
            sim_msg_init(&m->m);
            sim_send(s, i, &m->m);
        } else {
            sim_local(s, i);
        }
    }
    for (size_t f = 0; f < n_flight; f++)
        sim_msg_free(&flight[f].m);
    free(flight);
}

/* A true promise to send with node i's watermark at its record seq w (0:
 * before its first record): a time the node really had then (up to
 * pmax), or the tightest true one, just below its next record's time. */
static uint64_t promise_at(struct tsc_prng *g, const struct sim *s, size_t *const *of,
                           const size_t *n_of, size_t i, uint64_t w)
{
    uint64_t lo = w > 0 ? s->recs[of[i][w - 1]].lamport : 0;
    uint64_t hi = w > 0 ? s->pmax[of[i][w - 1]] : 0;
    if (w < n_of[i] && (w == 0 || tsc_prng_below(g, 4) == 0))
        hi = s->recs[of[i][w]].lamport - 1;
    else if (w == 0)
        hi = s->lamport[i]; /* it never makes a record */
    return lo + tsc_prng_below(g, hi - lo + 1);
}

static const struct sim *sort_sim;

static int by_key(const void *a, const void *b)
{
    const struct tsc_logrec *x = &sort_sim->recs[*(const size_t *)a];
    const struct tsc_logrec *y = &sort_sim->recs[*(const size_t *)b];
    if (x->lamport != y->lamport)
        return x->lamport < y->lamport ? -1 : 1;
    return x->node < y->node ? -1 : x->node > y->node;
}

struct round_stats {
    size_t records, batches, dups, wms, early, adopts, idle_wms;
};

static void one_round(struct tsc_prng *g, struct round_stats *rs)
{
    struct sim s;
    size_t k = 2 + tsc_prng_below(g, SIM_MAX_NODES - 1);
    sim_init(&s, k);
    make_history(g, &s, 10 + tsc_prng_below(g, MAX_EVENTS - 10), &rs->adopts);

    /* Each node's records in seq order, and which are still to deliver. */
    size_t *of[SIM_MAX_NODES], n_of[SIM_MAX_NODES] = {0};
    size_t *todo[SIM_MAX_NODES], n_todo[SIM_MAX_NODES], sent_max[SIM_MAX_NODES] = {0};
    for (size_t i = 0; i < k; i++) {
        of[i] = malloc((s.n + 1) * sizeof *of[i]);
        todo[i] = malloc((s.n + 1) * sizeof *todo[i]);
    }
    for (size_t j = 0; j < s.n; j++) {
        size_t i = s.recs[j].node - 1;
        of[i][n_of[i]++] = j;
    }
    size_t left = 0;
    for (size_t i = 0; i < k; i++) {
        memcpy(todo[i], of[i], n_of[i] * sizeof *of[i]);
        n_todo[i] = n_of[i];
        left += n_of[i];
    }

    struct tsc_logmerge_config cfg;
    tsc_logmerge_config_default(&cfg);
    cfg.max_wait = TSC_SEC(1000); /* time below stays under a few seconds */
    cfg.gap_wait = TSC_SEC(1000);
    struct drv d;
    drv_init(&d, &cfg, s.ids, k);
    uint64_t now = 0;
    size_t dups = 0;
    struct tsc_logrec batch[24];
    while (left > 0) {
        size_t i = tsc_prng_below(g, k);
        while (n_todo[i] == 0)
            i = (i + 1) % k;
        size_t n = 0, want = 1 + tsc_prng_below(g, 8);
        while (n < want && n_todo[i] > 0) {
            size_t at = tsc_prng_below(g, n_todo[i]);
            size_t j = todo[i][at];
            todo[i][at] = todo[i][--n_todo[i]];
            batch[n++] = s.recs[j];
            if (s.recs[j].seq > sent_max[i])
                sent_max[i] = s.recs[j].seq;
            left--;
        }
        /* Identical copies of records already sent (or in this batch). */
        while (tsc_prng_below(g, 5) == 0 && n < 16) {
            uint64_t seq = 1 + tsc_prng_below(g, sent_max[i]);
            batch[n++] = s.recs[of[i][seq - 1]];
            dups++;
        }
        for (size_t a = n; a > 1; a--) { /* the batch in random order */
            size_t b = tsc_prng_below(g, a);
            struct tsc_logrec t = batch[a - 1];
            batch[a - 1] = batch[b];
            batch[b] = t;
        }
        /* A true watermark: the clock of some record the node had produced
         * when it sent this batch (at least everything sent so far). */
        const struct tsc_vclock *wm = NULL;
        uint64_t promise = 0;
        if (tsc_prng_below(g, 3) != 0) {
            size_t w = sent_max[i] + tsc_prng_below(g, n_of[i] - sent_max[i] + 1);
            wm = &s.recs[of[i][w - 1]].clock;
            promise = promise_at(g, &s, of, n_of, i, w);
            rs->wms++;
        }
        now += tsc_prng_below(g, 1000);
        assert_int_equal(drv_batch(&d, now, s.ids[i], batch, n, wm, promise), 0);
        rs->batches++;
        if (tsc_prng_below(g, 5) == 0) {
            now += tsc_prng_below(g, 1000);
            assert_int_equal(drv_tick(&d, now), 0);
        }
        if (tsc_prng_below(g, 8) == 0) { /* a watermark alone: a heartbeat */
            size_t h = tsc_prng_below(g, k);
            uint64_t p = promise_at(g, &s, of, n_of, h, sent_max[h]);
            if (sent_max[h] > 0) {
                assert_int_equal(
                    drv_batch(&d, now, s.ids[h], NULL, 0, &s.recs[of[h][sent_max[h] - 1]].clock, p),
                    0);
            } else { /* nothing produced yet: an empty clock */
                struct tsc_vclock none;
                tsc_vclock_init(&none);
                assert_int_equal(drv_batch(&d, now, s.ids[h], NULL, 0, &none, p), 0);
                rs->idle_wms++;
            }
        }
    }
    rs->early += d.n_rel; /* released while streaming, before any NODE_DONE */
    uint32_t order[SIM_MAX_NODES];
    for (uint32_t i = 0; i < k; i++)
        order[i] = i;
    tsc_prng_shuffle_u32(g, order, (uint32_t)k);
    for (size_t o = 0; o < k; o++) {
        size_t i = order[o];
        now += tsc_prng_below(g, 100);
        assert_int_equal(drv_done(&d, now, s.ids[i], &s.clock[i], s.lamport[i]), 0);
    }

    /* Everything, once, no error. */
    const struct tsc_logmerge_stats *st = tsc_logmerge_stats(d.m);
    assert_int_equal(d.n_err, 0);
    assert_int_equal(st->buffered, 0);
    assert_int_equal(st->resends, dups);
    assert_int_equal(st->forced, 0);
    assert_int_equal(d.n_rel, s.n);
    assert_int_equal(d.deadline, TSC_TIME_NEVER);

    /* The same as sorting by (lamport, node), which is unique. */
    size_t *want = malloc((s.n + 1) * sizeof *want);
    for (size_t j = 0; j < s.n; j++)
        want[j] = j;
    sort_sim = &s;
    qsort(want, s.n, sizeof *want, by_key);
    for (size_t j = 0; j < s.n; j++) {
        assert_int_equal(d.rel[j].node, s.recs[want[j]].node);
        assert_int_equal(d.rel[j].seq, s.recs[want[j]].seq);
        assert_int_equal(d.rel[j].lamport, s.recs[want[j]].lamport);
        assert_int_equal(tsc_vclock_compare(&d.rel[j].clock, &s.recs[want[j]].clock),
                         TSC_VCLOCK_EQUAL);
    }
    /* A linear extension of happened-before, by the clocks themselves. */
    for (size_t b = 0; b < d.n_rel; b++)
        for (size_t a = 0; a < b; a++)
            assert_int_not_equal(tsc_vclock_compare(&d.rel[b].clock, &d.rel[a].clock),
                                 TSC_VCLOCK_BEFORE);

    rs->records += s.n;
    rs->dups += dups;
    free(want);
    for (size_t i = 0; i < k; i++) {
        free(of[i]);
        free(todo[i]);
    }
    drv_free(&d);
    sim_free(&s);
}

static void test_random_histories(void **state)
{
    struct tsc_prng g;
    struct round_stats rs = {0};
    tsc_prng_seed(&g, 0x6c6f67);
    for (int r = 0; r < ROUNDS; r++)
        one_round(&g, &rs);
    printf("logmerge property: %d histories, %zu records (%zu released before NODE_DONE), "
           "%zu batches, %zu watermarks (%zu before a node's first record), %zu duplicates, "
           "%zu Lamport jumps\n",
           ROUNDS, rs.records, rs.early, rs.batches, rs.wms, rs.idle_wms, rs.dups, rs.adopts);
    /* The merge streams: most records go before the end of the run. */
    assert_true(rs.early > rs.records / 2);
    assert_true(rs.adopts > 0 && rs.idle_wms > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_histories),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
