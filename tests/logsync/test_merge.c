/* tsc — scenario tests of the merge engine (logsync/merge.h): the release
 * rule by (Lamport time, node) and promises, NODE_DONE, FLUSH, each
 * out-of-sequence error with the two records it names, forced releases
 * (max_wait and the memory bound), identical resends, malformed records and
 * bad events, resuming with tsc_logmerge_restore, and the reason for the
 * Lamport key: an idle node's rising promise lets the others through. Time
 * is in events: each test steps the engine at chosen instants and checks
 * next_deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/time.h"
#include "lm_util.h"

#define MAX_WAIT 1000
#define GAP_WAIT 500
#define SKEW_TOL 100

static struct tsc_logmerge_config small_cfg(void)
{
    struct tsc_logmerge_config c;
    tsc_logmerge_config_default(&c);
    c.max_wait = MAX_WAIT;
    c.gap_wait = GAP_WAIT;
    c.skew_tolerance = SKEW_TOL;
    return c;
}

static void assert_rel(const struct drv *d, size_t i, uint64_t node, uint64_t seq)
{
    assert_true(i < d->n_rel);
    assert_int_equal(d->rel[i].node, node);
    assert_int_equal(d->rel[i].seq, seq);
}

static void assert_err(const struct tsc_logmerge_error *e, int kind, uint64_t an, uint64_t as,
                       uint64_t bn, uint64_t bs)
{
    assert_non_null(e);
    assert_int_equal(e->kind, kind);
    assert_int_equal(e->a_node, an);
    assert_int_equal(e->a_seq, as);
    assert_int_equal(e->b_node, bn);
    assert_int_equal(e->b_seq, bs);
    assert_int_equal(e->run, 7);
}

static void test_release_rule(void **state)
{
    struct tsc_logmerge_config cfg = small_cfg();
    const uint64_t nodes[] = {1, 2};
    struct drv d;
    struct sim s;
    sim_init(&s, 2);
    for (int i = 0; i < 3; i++) {
        sim_local(&s, 0);
        sim_local(&s, 1);
    }
    struct tsc_logrec b1[3] = {*sim_rec(&s, 0, 1), *sim_rec(&s, 0, 2), *sim_rec(&s, 0, 3)};
    struct tsc_logrec b2[3] = {*sim_rec(&s, 1, 3), *sim_rec(&s, 1, 1), *sim_rec(&s, 1, 2)};
    drv_init(&d, &cfg, nodes, 2);
    assert_int_equal(drv_tick(&d, 1), 0);
    assert_int_equal(d.deadline, TSC_TIME_NEVER);
    /* Node 2's first record may still have key (1, 2): only (1, 1) is
     * certainly first. */
    assert_int_equal(drv_batch(&d, 10, 1, b1, 3, &s.clock[0], s.lamport[0]), 0);
    assert_int_equal(d.n_rel, 1);
    assert_rel(&d, 0, 1, 1);
    assert_int_equal(d.deadline, 10 + MAX_WAIT);
    assert_int_equal(drv_batch(&d, 20, 2, b2, 3, &s.clock[1], s.lamport[1]), 0);
    assert_int_equal(d.n_rel, 6);
    const uint64_t order[6][2] = {{1, 1}, {2, 1}, {1, 2}, {2, 2}, {1, 3}, {2, 3}};
    for (size_t i = 0; i < 6; i++)
        assert_rel(&d, i, order[i][0], order[i][1]);
    assert_int_equal(d.n_err, 0);
    assert_int_equal(d.deadline, TSC_TIME_NEVER);
    drv_free(&d);
    sim_free(&s);
}

/* A node's promise raises the bound on its next record's key once every
 * record up to its watermark's sequence is released; an older watermark
 * never lowers it, nor does a smaller promise with the same sequence. */
static void test_promise(void **state)
{
    struct tsc_logmerge_config cfg = small_cfg();
    const uint64_t nodes[] = {1, 2};
    struct drv d;
    struct sim s;
    sim_init(&s, 2);
    for (int i = 0; i < 5; i++)
        sim_local(&s, 0); /* L 1..5 */
    sim_local(&s, 1);     /* (2,1) L 1 */
    struct tsc_logrec b1[5];
    for (int i = 0; i < 5; i++)
        b1[i] = *sim_rec(&s, 0, (uint64_t)i + 1);
    drv_init(&d, &cfg, nodes, 2);
    assert_int_equal(drv_batch(&d, 0, 2, sim_rec(&s, 1, 1), 1, NULL, 0), 0);
    assert_int_equal(drv_batch(&d, 0, 1, b1, 5, NULL, 0), 0);
    /* Node 2's next record has a time >= 2: keys (1,1), (1,2), (2,1) go. */
    assert_int_equal(d.n_rel, 3);
    assert_rel(&d, 0, 1, 1);
    assert_rel(&d, 1, 2, 1);
    assert_rel(&d, 2, 1, 2);
    struct tsc_vclock wm1, wm2;
    tsc_vclock_init(&wm1);
    tsc_vclock_init(&wm2);
    assert_int_equal(tsc_vclock_copy(&wm1, &s.clock[1]), 0); /* {2:1} */
    /* An ACK brought time 3: node 2's next record is at least (4, 2). */
    sim_adopt(&s, 1, 3);
    assert_int_equal(drv_batch(&d, 1, 2, NULL, 0, &wm1, s.lamport[1]), 0);
    assert_int_equal(d.n_rel, 5); /* (3, 1) and (4, 1) */
    assert_rel(&d, 4, 1, 4);
    assert_int_equal(drv_batch(&d, 2, 2, NULL, 0, &wm1, 2), 0);
    assert_int_equal(d.n_rel, 5);
    struct tsc_vclock none;
    tsc_vclock_init(&none);
    assert_int_equal(drv_batch(&d, 2, 2, NULL, 0, &none, 9), 0); /* older: ignored */
    assert_int_equal(d.n_rel, 5);
    /* Its record 2 (time 4), then time 10 from an ACK; the heartbeat with
     * {2:2} and 10 comes before the record: 10 counts only once (2,2) is
     * released, and until then (1, 5) must wait for (2, 2). */
    size_t r22 = sim_local(&s, 1);
    assert_int_equal(s.recs[r22].lamport, 4);
    assert_int_equal(tsc_vclock_copy(&wm2, &s.clock[1]), 0);
    sim_adopt(&s, 1, 10);
    assert_int_equal(drv_batch(&d, 3, 2, NULL, 0, &wm2, s.lamport[1]), 0);
    assert_int_equal(d.n_rel, 5);
    assert_int_equal(drv_batch(&d, 4, 2, &s.recs[r22], 1, NULL, 0), 0);
    assert_int_equal(d.n_rel, 7);
    assert_rel(&d, 5, 2, 2);
    assert_rel(&d, 6, 1, 5);
    assert_int_equal(d.n_err, 0);
    assert_int_equal(d.deadline, TSC_TIME_NEVER);
    tsc_vclock_free(&wm1);
    tsc_vclock_free(&wm2);
    tsc_vclock_free(&none);
    drv_free(&d);
    sim_free(&s);
}

/* Why the key is the Lamport time: a node that logs nothing for a while
 * (or nothing at all) keeps sending heartbeats with its clock, which cannot
 * move without an event, and a promise, which can (it follows the
 * coordinator's time). The busy node's records go as the promise rises,
 * long before max_wait, and the idle node's later records still come after
 * them, without an error. */
static void test_idle_node_does_not_block(void **state)
{
    struct tsc_logmerge_config cfg = small_cfg();
    const uint64_t nodes[] = {1, 2, 3};
    struct drv d;
    struct sim s;
    sim_init(&s, 3);
    sim_local(&s, 2); /* node 3 logged once, at time 1, then went quiet */
    for (int i = 0; i < 100; i++)
        sim_local(&s, 0); /* node 1: times 1..100; node 2 never logs */
    drv_init(&d, &cfg, nodes, 3);
    assert_int_equal(drv_batch(&d, 10, 3, sim_rec(&s, 2, 1), 1, &s.clock[2], s.lamport[2]), 0);
    assert_int_equal(drv_batch(&d, 10, 1, s.recs + 1, 100, &s.clock[0], s.lamport[0]), 0);
    assert_int_equal(d.n_rel, 1); /* (1, 1): node 2 may still log at time 1 */
    /* Heartbeats: node 2 with an empty clock (it has made no record), node
     * 3 with {3:1}; both adopted time 50 from an ACK. */
    struct tsc_vclock none;
    tsc_vclock_init(&none);
    sim_adopt(&s, 1, 50);
    sim_adopt(&s, 2, 50);
    assert_int_equal(drv_batch(&d, 20, 2, NULL, 0, &none, s.lamport[1]), 0);
    assert_int_equal(d.n_rel, 3); /* (1,1) (3,1) (1,2); (1,3) waits for node 3 */
    assert_rel(&d, 1, 3, 1);
    assert_int_equal(drv_batch(&d, 20, 3, NULL, 0, &s.clock[2], s.lamport[2]), 0);
    /* Both next keys are >= (51, 2): node 1's records up to (51, 1) go. */
    assert_int_equal(d.n_rel, 52);
    assert_rel(&d, 51, 1, 51);
    sim_adopt(&s, 1, 100);
    sim_adopt(&s, 2, 100);
    assert_int_equal(drv_batch(&d, 30, 2, NULL, 0, &none, s.lamport[1]), 0);
    assert_int_equal(drv_batch(&d, 30, 3, NULL, 0, &s.clock[2], s.lamport[2]), 0);
    assert_int_equal(d.n_rel, 101);
    assert_int_equal(tsc_logmerge_stats(d.m)->buffered, 0);
    assert_int_equal(tsc_logmerge_stats(d.m)->forced, 0);
    assert_int_equal(d.deadline, TSC_TIME_NEVER);
    /* The promise held: their next records come after everything. */
    size_t a = sim_local(&s, 1), b = sim_local(&s, 2);
    assert_int_equal(s.recs[a].lamport, 101);
    assert_int_equal(drv_batch(&d, 40, 2, &s.recs[a], 1, &s.clock[1], s.lamport[1]), 0);
    assert_int_equal(drv_batch(&d, 40, 3, &s.recs[b], 1, &s.clock[2], s.lamport[2]), 0);
    assert_int_equal(drv_done(&d, 50, 1, &s.clock[0], s.lamport[0]), 0);
    assert_int_equal(d.n_rel, 103);
    assert_rel(&d, 101, 2, 1);
    assert_rel(&d, 102, 3, 2);
    assert_int_equal(d.n_err, 0);
    tsc_vclock_free(&none);
    drv_free(&d);
    sim_free(&s);
}

static void test_node_done(void **state)
{
    struct tsc_logmerge_config cfg = small_cfg();
    const uint64_t nodes[] = {1, 2};
    struct drv d;
    struct sim s;
    sim_init(&s, 3);
    for (int i = 0; i < 3; i++) {
        sim_local(&s, 0);
        sim_local(&s, 1);
    }
    struct tsc_logrec b1[3] = {*sim_rec(&s, 0, 1), *sim_rec(&s, 0, 2), *sim_rec(&s, 0, 3)};
    struct tsc_logrec b2[3] = {*sim_rec(&s, 1, 1), *sim_rec(&s, 1, 2), *sim_rec(&s, 1, 3)};
    /* Done at seq 3, but nothing received yet: its records may be on their
     * way, so it still blocks. */
    drv_init(&d, &cfg, nodes, 2);
    assert_int_equal(drv_done(&d, 0, 2, &s.clock[1], s.lamport[1]), 0);
    assert_int_equal(drv_batch(&d, 1, 1, b1, 3, &s.clock[0], s.lamport[0]), 0);
    assert_int_equal(d.n_rel, 1);
    assert_int_equal(drv_batch(&d, 2, 2, b2, 3, NULL, 0), 0);
    assert_int_equal(d.n_rel, 6);
    assert_int_equal(d.deadline, TSC_TIME_NEVER);
    drv_free(&d);
    /* Done without a watermark: never blocks. */
    const uint64_t nodes13[] = {1, 3};
    drv_init(&d, &cfg, nodes13, 2);
    assert_int_equal(drv_batch(&d, 1, 1, b1, 3, NULL, 0), 0);
    assert_int_equal(d.n_rel, 1);
    assert_int_equal(drv_done(&d, 2, 3, NULL, 0), 0);
    assert_int_equal(d.n_rel, 3);
    assert_int_equal(d.n_err, 0);
    drv_free(&d);
    sim_free(&s);
}

static void test_gap(void **state)
{
    struct tsc_logmerge_config cfg = small_cfg();
    const uint64_t nodes[] = {1, 2};
    struct drv d;
    struct sim s;
    sim_init(&s, 2);
    for (int i = 0; i < 5; i++)
        sim_local(&s, 0);
    struct tsc_logrec b[4] = {*sim_rec(&s, 0, 1), *sim_rec(&s, 0, 2), *sim_rec(&s, 0, 4),
                              *sim_rec(&s, 0, 5)};
    drv_init(&d, &cfg, nodes, 2);
    assert_int_equal(drv_done(&d, 0, 2, NULL, 0), 0);
    assert_int_equal(drv_batch(&d, 10, 1, b, 4, &s.clock[0], s.lamport[0]), 0);
    assert_int_equal(d.n_rel, 2);
    assert_int_equal(d.deadline, 10 + GAP_WAIT);
    assert_int_equal(drv_tick(&d, 10 + GAP_WAIT - 1), 0);
    assert_int_equal(d.n_rel, 2);
    assert_int_equal(d.n_err, 0);
    assert_int_equal(drv_tick(&d, 10 + GAP_WAIT), 0);
    assert_int_equal(d.n_err, 1);
    assert_err(&d.err[0], TSC_LOGMERGE_GAP, 1, 4, 1, 2);
    assert_int_equal(d.n_rel, 4);
    assert_rel(&d, 2, 1, 4);
    assert_rel(&d, 3, 1, 5);
    /* The missing record turns up after all: released at once, late. */
    assert_int_equal(drv_batch(&d, 600, 1, sim_rec(&s, 0, 3), 1, NULL, 0), 0);
    assert_int_equal(d.n_rel, 5);
    assert_rel(&d, 4, 1, 3);
    assert_int_equal(d.n_err, 2);
    assert_err(&d.err[1], TSC_LOGMERGE_LATE, 1, 3, 1, 5);
    drv_free(&d);

    /* A node's first record missing: nothing before it to name. */
    drv_init(&d, &cfg, nodes, 1);
    assert_int_equal(drv_batch(&d, 0, 1, sim_rec(&s, 0, 2), 1, NULL, 0), 0);
    assert_int_equal(d.n_rel, 0);
    assert_int_equal(drv_tick(&d, GAP_WAIT), 0);
    assert_int_equal(d.n_rel, 1);
    assert_err(drv_find(&d, TSC_LOGMERGE_GAP), TSC_LOGMERGE_GAP, 1, 2, 0, 0);
    drv_free(&d);
    sim_free(&s);
}

static void test_duplicates(void **state)
{
    struct tsc_logmerge_config cfg = small_cfg();
    const uint64_t nodes[] = {1, 2};
    struct drv d;
    struct sim s;
    sim_init(&s, 2);
    for (int i = 0; i < 3; i++)
        sim_local(&s, 0);
    struct tsc_logrec r1 = *sim_rec(&s, 0, 1), r2 = *sim_rec(&s, 0, 2);
    struct tsc_logrec b[3] = {r1, r2, r2};
    drv_init(&d, &cfg, nodes, 2);
    /* (1,1) goes, (1,2) waits for node 2; its copy in the same batch is a
     * resend. */
    assert_int_equal(drv_batch(&d, 0, 1, b, 3, NULL, 0), 0);
    assert_int_equal(d.n_rel, 1);
    assert_int_equal(tsc_logmerge_stats(d.m)->resends, 1);
    /* The same (node, seq) with other bytes, while buffered. */
    struct tsc_logrec x = r2;
    x.text = (const uint8_t *)"something else";
    x.len = 14;
    assert_int_equal(drv_batch(&d, 1, 1, &x, 1, NULL, 0), 0);
    assert_int_equal(d.n_err, 1);
    assert_err(&d.err[0], TSC_LOGMERGE_DUPLICATE, 1, 2, 1, 2);
    x = r2;
    x.wall_us++;
    assert_int_equal(drv_batch(&d, 1, 1, &x, 1, NULL, 0), 0);
    assert_int_equal(d.n_err, 2);
    x = r2; /* the Lamport time is part of the bytes */
    x.lamport++;
    assert_int_equal(drv_batch(&d, 1, 1, &x, 1, NULL, 0), 0);
    assert_int_equal(d.n_err, 3);
    assert_err(&d.err[2], TSC_LOGMERGE_DUPLICATE, 1, 2, 1, 2);
    assert_int_equal(drv_done(&d, 2, 2, NULL, 0), 0);
    assert_int_equal(d.n_rel, 2);
    assert_int_equal(d.rel[1].lamport, r2.lamport); /* the first copy won */
    /* After release: identical resends (a coordinator failover) are
     * dropped and counted; other bytes are a DUPLICATE. */
    struct tsc_logrec again[2] = {r1, r2};
    assert_int_equal(drv_batch(&d, 3, 1, again, 2, NULL, 0), 0);
    assert_int_equal(tsc_logmerge_stats(d.m)->resends, 3);
    assert_int_equal(d.n_err, 3);
    x = r1;
    x.run = 8;
    assert_int_equal(drv_batch(&d, 4, 1, &x, 1, NULL, 0), 0);
    assert_int_equal(d.n_err, 4);
    assert_int_equal(d.err[3].kind, TSC_LOGMERGE_DUPLICATE);
    assert_int_equal(d.err[3].a_seq, 1);
    assert_int_equal(d.err[3].run, 8);
    x = r2;
    x.lamport += 5;
    assert_int_equal(drv_batch(&d, 4, 1, &x, 1, NULL, 0), 0);
    assert_int_equal(d.n_err, 5);
    assert_err(&d.err[4], TSC_LOGMERGE_DUPLICATE, 1, 2, 1, 2);
    assert_int_equal(d.n_rel, 2);
    assert_int_equal(drv_count(&d, TSC_LOGMERGE_DUPLICATE), 5);
    assert_int_equal(tsc_logmerge_stats(d.m)->errors[TSC_LOGMERGE_DUPLICATE], 5);
    drv_free(&d);
    sim_free(&s);
}

/* (2,1) sends to node 1; (1,1) is the receive. Node 2's record never comes
 * in time: (1,1) waits max_wait, goes with MISSING_PAST; when (2,1) comes
 * after all it is LATE. */
static void test_missing_past_and_late(void **state)
{
    struct tsc_logmerge_config cfg = small_cfg();
    const uint64_t nodes[] = {1, 2};
    struct drv d;
    struct sim s;
    struct sim_msg msg;
    sim_msg_init(&msg);
    sim_init(&s, 2);
    sim_send(&s, 1, &msg);
    sim_recv(&s, 0, &msg);
    drv_init(&d, &cfg, nodes, 2);
    assert_int_equal(drv_batch(&d, 100, 1, sim_rec(&s, 0, 1), 1, &s.clock[0], s.lamport[0]), 0);
    assert_int_equal(d.n_rel, 0);
    assert_int_equal(d.deadline, 100 + MAX_WAIT);
    assert_int_equal(drv_tick(&d, 100 + MAX_WAIT - 1), 0);
    assert_int_equal(d.n_rel, 0);
    assert_int_equal(drv_tick(&d, 100 + MAX_WAIT), 0);
    assert_int_equal(d.n_rel, 1);
    assert_int_equal(d.n_err, 1);
    assert_err(&d.err[0], TSC_LOGMERGE_MISSING_PAST, 1, 1, 2, 1);
    assert_int_equal(tsc_logmerge_stats(d.m)->forced, 1);
    assert_int_equal(drv_batch(&d, 2000, 2, sim_rec(&s, 1, 1), 1, NULL, 0), 0);
    assert_int_equal(d.n_rel, 2);
    assert_rel(&d, 1, 2, 1);
    assert_int_equal(d.n_err, 2);
    assert_err(&d.err[1], TSC_LOGMERGE_LATE, 2, 1, 1, 1);
    /* Later records of node 1 still follow (2,1): no repeated report. */
    sim_local(&s, 0);
    assert_int_equal(drv_batch(&d, 2001, 1, sim_rec(&s, 0, 2), 1, NULL, 0), 0);
    assert_int_equal(drv_done(&d, 2002, 2, &s.clock[1], s.lamport[1]), 0);
    assert_int_equal(d.n_rel, 3);
    assert_int_equal(d.n_err, 2);
    drv_free(&d);
    sim_free(&s);
    sim_msg_free(&msg);
}

static void test_skew(void **state)
{
    struct tsc_logmerge_config cfg = small_cfg();
    const uint64_t nodes[] = {1, 2};
    struct drv d;
    struct sim s;
    struct sim_msg msg;
    sim_msg_init(&msg);
    sim_init(&s, 2);
    size_t send = sim_send(&s, 0, &msg);
    size_t recv = sim_recv(&s, 1, &msg);
    size_t own = sim_local(&s, 0);
    size_t back = sim_local(&s, 1);
    uint64_t w = s.recs[send].wall_us;
    s.recs[recv].wall_us = w - 500;           /* machine 2 is 500 µs behind */
    s.recs[own].wall_us = w - (SKEW_TOL - 1); /* within the tolerance */
    s.recs[back].wall_us = w - 500 - 300;     /* machine 2's clock stepped back */
    drv_init(&d, &cfg, nodes, 2);
    struct tsc_logrec b1[2] = {s.recs[send], s.recs[own]};
    assert_int_equal(drv_batch(&d, 0, 1, b1, 2, &s.clock[0], s.lamport[0]), 0);
    struct tsc_logrec b2[2] = {s.recs[recv], s.recs[back]};
    assert_int_equal(drv_batch(&d, 0, 2, b2, 2, &s.clock[1], s.lamport[1]), 0);
    assert_int_equal(drv_done(&d, 1, 1, &s.clock[0], s.lamport[0]), 0);
    assert_int_equal(drv_done(&d, 1, 2, &s.clock[1], s.lamport[1]), 0);
    assert_int_equal(d.n_rel, 4);
    assert_int_equal(d.n_err, 2);
    assert_err(&d.err[0], TSC_LOGMERGE_SKEW, 2, 1, 1, 1);
    assert_int_equal(d.err[0].skew_us, 500);
    assert_err(&d.err[1], TSC_LOGMERGE_SKEW, 2, 2, 2, 1);
    assert_int_equal(d.err[1].skew_us, 300);
    drv_free(&d);
    sim_free(&s);
    sim_msg_free(&msg);
}

static void test_memory_bound(void **state)
{
    struct tsc_logmerge_config cfg = small_cfg();
    const uint64_t nodes[] = {1, 2};
    struct drv d;
    struct sim s;
    sim_init(&s, 2);
    for (int i = 0; i < 60; i++)
        sim_local(&s, 0);
    cfg.max_records = 10;
    drv_init(&d, &cfg, nodes, 2);
    /* Node 2 blocks everything after (1,1). */
    assert_int_equal(drv_batch(&d, 0, 1, s.recs, 30, NULL, 0), 0);
    assert_int_equal(d.n_rel, 20);
    assert_int_equal(tsc_logmerge_stats(d.m)->buffered, 10);
    assert_int_equal(tsc_logmerge_stats(d.m)->forced, 19);
    for (size_t i = 30; i < 60; i++) { /* drv_step checks the bound */
        assert_int_equal(drv_batch(&d, 1, 1, &s.recs[i], 1, NULL, 0), 0);
        assert_int_equal(tsc_logmerge_stats(d.m)->buffered, 10);
    }
    for (size_t i = 0; i < d.n_rel; i++)
        assert_rel(&d, i, 1, i + 1);
    assert_int_equal(d.n_err, 0);
    drv_free(&d);
    /* The same with bytes: about three records' text and clock. */
    cfg.max_records = 1000;
    cfg.max_bytes = 3 * (s.recs[20].len + sizeof(struct tsc_vclock_entry));
    drv_init(&d, &cfg, nodes, 2);
    assert_int_equal(drv_batch(&d, 0, 1, s.recs + 20, 40, NULL, 0), 0);
    assert_int_equal(tsc_logmerge_stats(d.m)->buffered, 3);
    assert_int_equal(d.n_rel, 37);
    /* Forced out first: (1,21), with nothing of node 1 before it. */
    assert_int_equal(d.n_err, 1);
    assert_err(&d.err[0], TSC_LOGMERGE_GAP, 1, 21, 0, 0);
    drv_free(&d);
    sim_free(&s);
}

static void test_flush(void **state)
{
    struct tsc_logmerge_config cfg = small_cfg();
    const uint64_t nodes[] = {1, 2};
    struct drv d;
    struct sim s;
    sim_init(&s, 2);
    for (int i = 0; i < 4; i++)
        sim_local(&s, 0);
    struct tsc_logrec b[3] = {*sim_rec(&s, 0, 1), *sim_rec(&s, 0, 2), *sim_rec(&s, 0, 4)};
    drv_init(&d, &cfg, nodes, 2);
    assert_int_equal(drv_batch(&d, 0, 1, b, 3, NULL, 0), 0);
    assert_int_equal(d.n_rel, 1);
    assert_int_equal(drv_flush(&d, 1), 0);
    assert_int_equal(d.n_rel, 3);
    assert_rel(&d, 2, 1, 4);
    assert_int_equal(d.n_err, 1);
    assert_err(&d.err[0], TSC_LOGMERGE_GAP, 1, 4, 1, 2);
    assert_int_equal(tsc_logmerge_stats(d.m)->buffered, 0);
    assert_int_equal(tsc_logmerge_stats(d.m)->forced, 0);
    assert_int_equal(d.deadline, TSC_TIME_NEVER);
    drv_free(&d);
    sim_free(&s);
}

static void test_bad_input(void **state)
{
    char errmsg[TSC_ERRMSG_SIZE] = "";
    struct tsc_logmerge *m;
    const uint64_t bad[] = {1, 0};
    assert_int_equal(tsc_logmerge_new(&m, NULL, bad, 2, errmsg), TSC_EINVAL);
    assert_true(strlen(errmsg) > 0);
    assert_int_equal(tsc_logmerge_new(NULL, NULL, bad, 1, NULL), TSC_EINVAL);
    assert_int_equal(tsc_logmerge_new(&m, NULL, NULL, 1, NULL), TSC_EINVAL);
    tsc_logmerge_free(NULL);

    const uint64_t nodes[] = {1};
    struct tsc_logmerge_update up;
    struct tsc_logmerge_event ev = {.type = 99};
    assert_int_equal(tsc_logmerge_new(&m, NULL, nodes, 1, errmsg), 0);
    assert_int_equal(tsc_logmerge_step(m, &ev, &up), TSC_EINVAL);
    ev.type = 0;
    assert_int_equal(tsc_logmerge_step(m, &ev, &up), TSC_EINVAL);
    ev.type = TSC_LOGMERGE_EV_BATCH; /* node 0 */
    assert_int_equal(tsc_logmerge_step(m, &ev, &up), TSC_EINVAL);
    ev.node = 1;
    ev.n_records = 1; /* records NULL */
    assert_int_equal(tsc_logmerge_step(m, &ev, &up), TSC_EINVAL);
    ev.type = TSC_LOGMERGE_EV_NODE_DONE;
    ev.node = 0;
    assert_int_equal(tsc_logmerge_step(m, &ev, &up), TSC_EINVAL);
    assert_int_equal(tsc_logmerge_step(m, NULL, &up), TSC_EINVAL);
    assert_int_equal(tsc_logmerge_step(m, &ev, NULL), TSC_EINVAL);
    tsc_logmerge_free(m);

    /* Malformed records are counted and skipped; the rest of the batch
     * is taken. */
    struct drv d;
    struct sim s;
    sim_init(&s, 1);
    sim_local(&s, 0);
    sim_local(&s, 0);
    drv_init(&d, NULL, nodes, 1);
    struct tsc_logrec b[9];
    for (int i = 0; i < 9; i++)
        b[i] = *sim_rec(&s, 0, 2);
    struct tsc_vclock unsorted = {2, 2, (struct tsc_vclock_entry[]){{5, 1}, {1, 2}}};
    b[0].seq = 0;
    b[1].seq = 3; /* clock[node] != seq */
    b[2].node = 0;
    b[3].clock = unsorted;
    b[4].text = NULL;
    b[5].len = TSC_LOGREC_MAX_TEXT + 1;
    b[6].lamport = 0;
    b[7] = *sim_rec(&s, 0, 1);
    assert_int_equal(drv_batch(&d, 0, 1, b, 9, NULL, 0), 0);
    assert_int_equal(tsc_logmerge_stats(d.m)->malformed, 7);
    assert_int_equal(tsc_logmerge_stats(d.m)->received, 9);
    assert_int_equal(d.n_rel, 2);
    assert_int_equal(d.n_err, 0);
    drv_free(&d);
    sim_free(&s);
}

/* Resuming after a coordinator restart: the store says how far each node
 * was released (its last record's time and wall clock) and how far the
 * indices went. Two nodes; node 2 sends to node 1 before the restart. */
static void test_restore(void **state)
{
    struct tsc_logmerge_config cfg = small_cfg();
    const uint64_t nodes[] = {1, 2};
    struct drv d;
    struct sim s;
    struct sim_msg msg;
    sim_msg_init(&msg);
    sim_init(&s, 2);
    sim_local(&s, 1);
    sim_local(&s, 1);
    sim_send(&s, 1, &msg); /* (2,3) at time 3 */
    for (int i = 0; i < 3; i++)
        sim_local(&s, 0);
    size_t r14 = sim_recv(&s, 0, &msg); /* (1,4): max(3, 3) + 1 */
    assert_int_equal(s.recs[r14].lamport, 4);
    sim_local(&s, 0);

    /* (1,1..3) and (2,1..3) were released before, indices 1..6. */
    const struct tsc_logrec *l1 = sim_rec(&s, 0, 3), *l2 = sim_rec(&s, 1, 3);
    drv_init(&d, &cfg, nodes, 2);
    assert_int_equal(tsc_logmerge_restore(d.m, 1, 3, l1->lamport, l1->wall_us, 5), 0);
    assert_int_equal(tsc_logmerge_restore(d.m, 2, 3, l2->lamport, l2->wall_us, 7), 0);
    assert_int_equal(tsc_logmerge_restore(d.m, 1, 2, 1, 0, 3), 0); /* smaller: no effect */
    assert_int_equal(tsc_logmerge_restore(d.m, 0, 3, 3, 0, 7), TSC_EINVAL);
    assert_int_equal(tsc_logmerge_restore(NULL, 1, 3, 3, 0, 7), TSC_EINVAL);
    d.base = 6;

    /* The agent resends from the start: 1..3 are dropped as resends, their
     * bytes not compared (the engine never saw them); (1,4), whose past
     * (2,3) was released before the restart, goes at index 7; (1,5) waits
     * for node 2. */
    struct tsc_logrec b[5];
    for (uint64_t q = 1; q <= 5; q++)
        b[q - 1] = *sim_rec(&s, 0, q);
    b[1].text = (const uint8_t *)"other bytes";
    b[1].len = 11;
    assert_int_equal(drv_batch(&d, 10, 1, b, 5, &s.clock[0], s.lamport[0]), 0);
    assert_int_equal(tsc_logmerge_stats(d.m)->resends, 3);
    assert_int_equal(d.n_rel, 1);
    assert_int_equal(d.rel[0].index, 7);
    assert_rel(&d, 0, 1, 4);
    /* Node 2 took time 5 from an ACK: (1,5) goes. */
    sim_adopt(&s, 1, 5);
    assert_int_equal(drv_batch(&d, 11, 2, NULL, 0, &s.clock[1], s.lamport[1]), 0);
    assert_int_equal(d.n_rel, 2);
    assert_int_equal(d.rel[1].index, 8);
    assert_rel(&d, 1, 1, 5);
    /* Only before the first event. */
    assert_int_equal(tsc_logmerge_restore(d.m, 2, 10, 100, 0, 100), TSC_EINVAL);
    struct tsc_logrec b2[3] = {*sim_rec(&s, 1, 1), *sim_rec(&s, 1, 2), *sim_rec(&s, 1, 3)};
    assert_int_equal(drv_batch(&d, 12, 2, b2, 3, NULL, 0), 0);
    assert_int_equal(tsc_logmerge_stats(d.m)->resends, 6);
    /* A record of a new seq of node 2 is merged, at index 9. */
    size_t r24 = sim_local(&s, 1);
    assert_int_equal(drv_batch(&d, 13, 2, &s.recs[r24], 1, &s.clock[1], s.lamport[1]), 0);
    assert_int_equal(drv_done(&d, 14, 1, &s.clock[0], s.lamport[0]), 0);
    assert_int_equal(d.n_rel, 3);
    assert_int_equal(d.rel[2].index, 9);
    assert_rel(&d, 2, 2, 4);
    assert_int_equal(d.n_err, 0);
    assert_int_equal(tsc_logmerge_stats(d.m)->buffered, 0);
    drv_free(&d);
    sim_free(&s);
    sim_msg_free(&msg);
}

/* What the engine learns from a restore counts like a release: a record
 * with a smaller key than the restored node's last is LATE, and the
 * restored wall clock is what a node's next record is checked against. */
static void test_restore_late_and_skew(void **state)
{
    struct tsc_logmerge_config cfg = small_cfg();
    const uint64_t nodes[] = {1, 2};
    struct drv d;
    struct sim s;
    sim_init(&s, 2);
    for (int i = 0; i < 6; i++)
        sim_local(&s, 0);
    sim_adopt(&s, 1, 2);
    size_t r21 = sim_local(&s, 1); /* (2,1) at time 3 */
    const uint64_t wall = 5000000;
    drv_init(&d, &cfg, nodes, 2);
    assert_int_equal(tsc_logmerge_restore(d.m, 1, 5, 100, wall, 6), 0);
    d.base = 5;
    assert_int_equal(drv_batch(&d, 10, 2, &s.recs[r21], 1, &s.clock[1], s.lamport[1]), 0);
    assert_int_equal(d.n_rel, 1); /* at once, out of key order */
    assert_int_equal(d.rel[0].index, 6);
    assert_rel(&d, 0, 2, 1);
    assert_int_equal(d.n_err, 1);
    assert_err(&d.err[0], TSC_LOGMERGE_LATE, 2, 1, 1, 5);
    /* (1,6) at time 101, but its wall clock 500 µs before (1,5)'s. */
    struct tsc_logrec x = *sim_rec(&s, 0, 6);
    x.lamport = 101;
    x.wall_us = wall - 500;
    assert_int_equal(drv_batch(&d, 11, 1, &x, 1, NULL, 0), 0);
    assert_int_equal(d.n_rel, 1); /* node 2 may still log at time 4 */
    assert_int_equal(drv_done(&d, 12, 2, &s.clock[1], s.lamport[1]), 0);
    assert_int_equal(d.n_rel, 2);
    assert_int_equal(d.rel[1].index, 7);
    assert_rel(&d, 1, 1, 6);
    assert_int_equal(d.n_err, 2);
    assert_err(&d.err[1], TSC_LOGMERGE_SKEW, 1, 6, 1, 5);
    assert_int_equal(d.err[1].skew_us, 500);
    drv_free(&d);
    sim_free(&s);
}

/* Records of nodes not in the list join it: they block like the others. */
static void test_new_nodes(void **state)
{
    const uint64_t nodes[] = {1};
    struct drv d;
    struct sim s;
    sim_init(&s, 3);
    for (int i = 0; i < 3; i++) {
        sim_local(&s, 0);
        sim_local(&s, 2);
    }
    drv_init(&d, NULL, nodes, 1);
    assert_int_equal(drv_batch(&d, 0, 3, sim_rec(&s, 2, 1), 1, NULL, 0), 0);
    assert_int_equal(d.n_rel, 0); /* node 1 may still have (1, 1) */
    struct tsc_logrec b1[3] = {*sim_rec(&s, 0, 1), *sim_rec(&s, 0, 2), *sim_rec(&s, 0, 3)};
    assert_int_equal(drv_batch(&d, 0, 1, b1, 3, NULL, 0), 0);
    assert_int_equal(d.n_rel, 3); /* (1,1) (3,1) (1,2): then node 3's next time is >= 2 */
    assert_rel(&d, 1, 3, 1);
    drv_free(&d);
    sim_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_release_rule),
        cmocka_unit_test(test_promise),
        cmocka_unit_test(test_idle_node_does_not_block),
        cmocka_unit_test(test_node_done),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_missing_past_and_late),
        cmocka_unit_test(test_skew),
        cmocka_unit_test(test_memory_bound),
        cmocka_unit_test(test_flush),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_new_nodes),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_restore_late_and_skew),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
