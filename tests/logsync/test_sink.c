/* tsc — scenario tests of the sink engine (logsync/sink.h), driven like the
 * coordinator drives it: a tiny in-memory store takes each update's write
 * when the test says it is durable (EV_DURABLE), loses it on a simulated
 * crash, and feeds its rows back with EV_RESTORE to a new engine. Agents
 * are simulated nodes that make records by the vclock.h / Lamport
 * convention and ship them as struct batches. Covered: acks only after
 * DURABLE; resends dropped and acknowledged; probes answered with the
 * durable have; two nodes' interleaved batches stored in (lamport, node)
 * order; a dropped record stored as a GAP error of the run, the ack kept
 * below the hole it leaves until a resend fills it (LATE), also across a
 * crash and after the run was forced to its end; RUN_END with a
 * silent node; crash, restore and resend (each record stored once, indices
 * continue); max_open_runs; bad events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/time.h"
#include "logsync/sink.h"

#define MAX_RECS  512 /* per node */
#define MAX_RUNS  8   /* run ids 1..MAX_RUNS-1 */
#define MAX_IDX   2048
#define MAX_ROWS  64
#define MAX_ERRS  64
#define MAX_PEND  16
#define MAX_ACKS  1024
#define GAP_WAIT  500
#define MAX_WAIT  100000
#define END_WAIT  1000
#define TEXT_SIZE 32

/* ---- simulated agents ------------------------------------------------------------ */

struct node {
    uint64_t id, run, lamport;
    struct tsc_vclock clock;
    struct tsc_logrec recs[MAX_RECS]; /* recs[s - 1] is seq s */
    char text[MAX_RECS][TEXT_SIZE];
    size_t n;
};

struct msg {
    struct tsc_vclock clock;
    uint64_t lamport;
};

static void node_init(struct node *n, uint64_t id, uint64_t run)
{
    memset(n, 0, sizeof *n);
    n->id = id;
    n->run = run;
    tsc_vclock_init(&n->clock);
    for (size_t i = 0; i < MAX_RECS; i++)
        tsc_logrec_init(&n->recs[i]);
}

static void node_free(struct node *n)
{
    tsc_vclock_free(&n->clock);
    for (size_t i = 0; i < MAX_RECS; i++)
        tsc_logrec_free(&n->recs[i]);
}

/* One record; a receive first merges the message's clock and time. */
static struct tsc_logrec *node_rec(struct node *n, const struct msg *in, int kind)
{
    uint64_t seq;
    assert_true(n->n < MAX_RECS);
    if (in != NULL) {
        assert_int_equal(tsc_vclock_merge(&n->clock, &in->clock), 0);
        if (in->lamport > n->lamport)
            n->lamport = in->lamport;
    }
    assert_int_equal(tsc_vclock_tick(&n->clock, n->id, &seq), 0);
    n->lamport++;
    struct tsc_logrec *x = &n->recs[n->n];
    assert_int_equal(tsc_vclock_copy(&x->clock, &n->clock), 0);
    x->node = n->id;
    x->seq = seq;
    x->lamport = n->lamport;
    x->wall_us = 1000 + n->lamport;
    x->run = n->run;
    x->stage = 1;
    x->kind = (uint8_t)kind;
    snprintf(n->text[n->n], TEXT_SIZE, "n%llu s%llu", (unsigned long long)n->id,
             (unsigned long long)seq);
    x->text = (const uint8_t *)n->text[n->n];
    x->len = strlen(n->text[n->n]);
    n->n++;
    return x;
}

static void node_local(struct node *n, size_t count)
{
    for (size_t i = 0; i < count; i++)
        node_rec(n, NULL, TSC_LOGREC_STDOUT);
}

static void node_send(struct node *n, struct msg *out)
{
    node_rec(n, NULL, TSC_LOGREC_SEND);
    tsc_vclock_init(&out->clock);
    assert_int_equal(tsc_vclock_copy(&out->clock, &n->clock), 0);
    out->lamport = n->lamport;
}

static void node_recv(struct node *n, struct msg *in)
{
    node_rec(n, in, TSC_LOGREC_RECV);
    tsc_vclock_free(&in->clock);
}

/* Records first..last of n (last = first - 1: a probe), as the agent's
 * shipper would send them; the watermark is the node's current clock. */
static struct tsc_logbatch batch(struct node *n, uint64_t first, uint64_t last, int done)
{
    struct tsc_logbatch b;
    memset(&b, 0, sizeof b);
    b.run = n->run;
    b.node = n->id;
    b.epoch = 7;
    b.first = first;
    b.promise = n->lamport;
    b.watermark = n->clock;
    b.done = done;
    b.n = last + 1 - first;
    b.records = b.n > 0 ? &n->recs[first - 1] : NULL;
    return b;
}

/* ---- the store and the driver ---------------------------------------------------- */

struct srec {
    int used;
    uint64_t node, seq, lamport;
    char text[TEXT_SIZE];
};

struct serr {
    uint64_t run, n;
    struct tsc_logmerge_error e;
};

/* What one update asks to store, copied at once (records are borrowed). */
struct pending {
    uint64_t token;
    size_t n_recs, n_rows, n_errs;
    uint64_t run[MAX_IDX], index[MAX_IDX];
    struct srec rec[MAX_IDX];
    struct tsc_logsink_row rows[MAX_ROWS];
    struct serr errs[MAX_ERRS];
};

struct drv {
    struct tsc_logsink *k;
    struct tsc_logsink_config cfg;
    uint64_t now, deadline;
    int autodurable;
    /* the store */
    struct srec recs[MAX_RUNS][MAX_IDX];
    struct tsc_logsink_row rows[MAX_ROWS];
    size_t n_rows;
    struct serr errs[MAX_ERRS];
    size_t n_errs;
    /* written, not yet durable */
    struct pending *pend[MAX_PEND];
    size_t n_pend;
    /* what the engine said */
    struct tsc_logack acks[MAX_ACKS];
    size_t n_acks, last_acks;
    uint64_t finished[MAX_RUNS];
    size_t n_finished;
    size_t last_writes;
    uint64_t last_token;
};

static void drv_new_engine(struct drv *d)
{
    assert_int_equal(tsc_logsink_new(&d->k, &d->cfg, NULL), 0);
}

static void drv_init(struct drv *d, size_t max_open)
{
    memset(d, 0, sizeof *d);
    tsc_logsink_config_default(&d->cfg);
    d->cfg.merge.gap_wait = GAP_WAIT;
    d->cfg.merge.max_wait = MAX_WAIT;
    d->cfg.merge.skew_tolerance = UINT32_MAX;
    d->cfg.run_end_wait = END_WAIT;
    if (max_open)
        d->cfg.max_open_runs = max_open;
    d->autodurable = 1;
    d->now = 1;
    drv_new_engine(d);
}

static void drv_free(struct drv *d)
{
    for (size_t i = 0; i < d->n_pend; i++)
        free(d->pend[i]);
    tsc_logsink_free(d->k);
}

static void take(struct drv *d, const struct tsc_logsink_update *up);

static void drv_step(struct drv *d, struct tsc_logsink_event *ev)
{
    struct tsc_logsink_update up;
    ev->now = d->now;
    assert_int_equal(tsc_logsink_step(d->k, ev, &up), 0);
    take(d, &up);
}

/* The store's write of p (one atomic batch). */
static void apply(struct drv *d, const struct pending *p)
{
    for (size_t i = 0; i < p->n_recs; i++) {
        assert_true(p->run[i] < MAX_RUNS && p->index[i] < MAX_IDX);
        struct srec *s = &d->recs[p->run[i]][p->index[i]];
        assert_false(s->used); /* an index is written once */
        *s = p->rec[i];
    }
    for (size_t i = 0; i < p->n_rows; i++) {
        size_t j = 0;
        while (j < d->n_rows &&
               (d->rows[j].run != p->rows[i].run || d->rows[j].node != p->rows[i].node))
            j++;
        assert_true(j < MAX_ROWS);
        d->rows[j] = p->rows[i];
        if (j == d->n_rows)
            d->n_rows++;
    }
    for (size_t i = 0; i < p->n_errs; i++) {
        assert_true(d->n_errs < MAX_ERRS);
        d->errs[d->n_errs++] = p->errs[i];
    }
}

/* The oldest pending write is durable. */
static void drv_durable(struct drv *d)
{
    assert_true(d->n_pend > 0);
    struct pending *p = d->pend[0];
    memmove(d->pend, d->pend + 1, (d->n_pend - 1) * sizeof *d->pend);
    d->n_pend--;
    apply(d, p);
    struct tsc_logsink_event ev = {.type = TSC_LOGSINK_EV_DURABLE, .token = p->token};
    free(p);
    drv_step(d, &ev);
}

static void take(struct drv *d, const struct tsc_logsink_update *up)
{
    d->last_acks = up->n_acks;
    d->last_writes = up->n_writes;
    d->deadline = up->next_deadline;
    for (size_t i = 0; i < up->n_acks; i++) {
        assert_true(d->n_acks < MAX_ACKS);
        d->acks[d->n_acks++] = up->acks[i].ack;
    }
    for (size_t i = 0; i < up->n_finished; i++) {
        assert_true(d->n_finished < MAX_RUNS);
        d->finished[d->n_finished++] = up->finished[i];
    }
    if (up->token == 0) {
        assert_int_equal(up->n_writes + up->n_rows + up->n_errors, 0);
        return;
    }
    assert_true(up->token > d->last_token);
    d->last_token = up->token;
    struct pending *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->token = up->token;
    for (size_t i = 0; i < up->n_writes; i++) {
        const struct tsc_logrec *x = up->writes[i].rec;
        struct srec *s = &p->rec[p->n_recs];
        assert_int_equal(x->run, up->writes[i].run);
        p->run[p->n_recs] = up->writes[i].run;
        p->index[p->n_recs] = up->writes[i].index;
        s->used = 1;
        s->node = x->node;
        s->seq = x->seq;
        s->lamport = x->lamport;
        assert_true(x->len < TEXT_SIZE);
        memcpy(s->text, x->text, x->len);
        p->n_recs++;
    }
    assert_true(up->n_rows <= MAX_ROWS && up->n_errors <= MAX_ERRS);
    memcpy(p->rows, up->rows, up->n_rows * sizeof *up->rows);
    p->n_rows = up->n_rows;
    /* Errors are numbered per run in the order emitted, continuing from
     * what the run had before this update. */
    for (size_t i = 0; i < up->n_errors; i++) {
        const struct tsc_logmerge_error *e = &up->errors[i];
        struct tsc_logsink_run info;
        size_t later = 0;
        assert_int_equal(tsc_logsink_run(d->k, e->run, &info), 0);
        for (size_t j = i + 1; j < up->n_errors; j++)
            later += up->errors[j].run == e->run;
        p->errs[i].run = e->run;
        p->errs[i].n = info.errors - later;
        p->errs[i].e = *e;
    }
    p->n_errs = up->n_errors;
    assert_true(d->n_pend < MAX_PEND);
    d->pend[d->n_pend++] = p;
    if (d->autodurable)
        drv_durable(d);
}

static void drv_batch(struct drv *d, const struct tsc_logbatch *b)
{
    struct tsc_logsink_event ev = {.type = TSC_LOGSINK_EV_BATCH, .batch = b};
    drv_step(d, &ev);
}

static void drv_tick(struct drv *d, uint64_t now)
{
    struct tsc_logsink_event ev = {.type = TSC_LOGSINK_EV_TICK};
    d->now = now;
    drv_step(d, &ev);
}

static void drv_nodes(struct drv *d, uint64_t run, const uint64_t *nodes, size_t n)
{
    struct tsc_logsink_event ev = {
        .type = TSC_LOGSINK_EV_NODES, .run = run, .nodes = nodes, .n_nodes = n};
    drv_step(d, &ev);
}

/* A crash: the write in flight is lost; a new engine restores the table. */
static void drv_crash(struct drv *d)
{
    for (size_t i = 0; i < d->n_pend; i++)
        free(d->pend[i]);
    d->n_pend = 0;
    tsc_logsink_free(d->k);
    drv_new_engine(d);
    d->last_token = 0;
    for (size_t i = 0; i < d->n_rows; i++) {
        struct tsc_logsink_event ev = {.type = TSC_LOGSINK_EV_RESTORE, .row = &d->rows[i]};
        drv_step(d, &ev);
    }
}

static const struct tsc_logack *last_ack(const struct drv *d, uint64_t node)
{
    for (size_t i = d->n_acks; i > 0; i--)
        if (d->acks[i - 1].node == node)
            return &d->acks[i - 1];
    return NULL;
}

static const struct tsc_logsink_row *row_of(const struct drv *d, uint64_t run, uint64_t node)
{
    for (size_t i = 0; i < d->n_rows; i++)
        if (d->rows[i].run == run && d->rows[i].node == node)
            return &d->rows[i];
    return NULL;
}

/* Stored records of run: 1..n without holes, each (node, seq) once, the
 * text the node wrote, in (lamport, node) order; returns n. */
static size_t check_store(const struct drv *d, uint64_t run, struct node *const *nodes, size_t k)
{
    size_t n = 0;
    while (n + 1 < MAX_IDX && d->recs[run][n + 1].used)
        n++;
    for (size_t i = n + 1; i < MAX_IDX; i++)
        assert_false(d->recs[run][i].used);
    for (size_t i = 1; i <= n; i++) {
        const struct srec *s = &d->recs[run][i];
        const struct node *o = NULL;
        for (size_t j = 0; j < k; j++)
            if (nodes[j]->id == s->node)
                o = nodes[j];
        assert_non_null(o);
        assert_true(s->seq >= 1 && s->seq <= o->n);
        assert_string_equal(s->text, o->text[s->seq - 1]);
        for (size_t j = 1; j < i; j++)
            assert_false(d->recs[run][j].node == s->node && d->recs[run][j].seq == s->seq);
        if (i > 1) {
            const struct srec *p = &d->recs[run][i - 1];
            assert_true(p->lamport < s->lamport || (p->lamport == s->lamport && p->node < s->node));
        }
    }
    return n;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_ack_after_durable(void **state)
{
    (void)state;
    struct drv d;
    struct node a;
    const uint64_t ids[] = {10};
    drv_init(&d, 0);
    d.autodurable = 0;
    node_init(&a, 10, 1);
    drv_nodes(&d, 1, ids, 1);
    drv_durable(&d); /* the new row */
    node_local(&a, 3);
    struct tsc_logbatch b = batch(&a, 1, 3, 0);
    drv_batch(&d, &b);
    assert_int_equal(d.last_writes, 3);
    assert_int_equal(d.last_acks, 0); /* not durable yet: no ack */
    assert_int_equal(d.n_pend, 1);
    assert_null(last_ack(&d, 10));
    drv_durable(&d);
    const struct tsc_logack *ack = last_ack(&d, 10);
    assert_non_null(ack);
    assert_int_equal(ack->run, 1);
    assert_int_equal(ack->epoch, 7);
    assert_int_equal(ack->have, 3);
    assert_int_equal(ack->lamport, 3);
    assert_int_equal(ack->done, 0);
    const struct tsc_logsink_row *row = row_of(&d, 1, 10);
    assert_non_null(row);
    assert_int_equal(row->delivered, 3);
    assert_int_equal(row->last_lamport, 3);
    assert_int_equal(row->next_index, 4);
    struct node *all[] = {&a};
    assert_int_equal(check_store(&d, 1, all, 1), 3);
    node_free(&a);
    drv_free(&d);
}

static void test_resend_and_probe(void **state)
{
    (void)state;
    struct drv d;
    struct node a;
    const uint64_t ids[] = {10};
    drv_init(&d, 0);
    node_init(&a, 10, 1);
    drv_nodes(&d, 1, ids, 1);
    node_local(&a, 5);
    struct tsc_logbatch b = batch(&a, 1, 3, 0);
    drv_batch(&d, &b);
    assert_int_equal(last_ack(&d, 10)->have, 3);
    /* A resend: nothing to store, acknowledged at once. */
    size_t acks = d.n_acks;
    drv_batch(&d, &b);
    assert_int_equal(d.last_writes, 0);
    assert_int_equal(d.n_acks, acks + 1);
    assert_int_equal(last_ack(&d, 10)->have, 3);
    assert_int_equal(tsc_logsink_stats(d.k)->resends, 3);
    /* Overlapping: only 4 and 5 are new. */
    d.autodurable = 0;
    b = batch(&a, 2, 5, 0);
    drv_batch(&d, &b);
    assert_int_equal(d.last_writes, 2);
    /* A probe while that write is in flight: the durable have. */
    struct tsc_logbatch p = batch(&a, 6, 5, 0);
    drv_batch(&d, &p);
    assert_int_equal(d.last_acks, 1);
    assert_int_equal(last_ack(&d, 10)->have, 3);
    assert_int_equal(last_ack(&d, 10)->lamport, 5);
    assert_int_equal(tsc_logsink_stats(d.k)->probes, 1);
    drv_durable(&d);
    assert_int_equal(last_ack(&d, 10)->have, 5);
    struct node *all[] = {&a};
    assert_int_equal(check_store(&d, 1, all, 1), 5);
    assert_int_equal(tsc_logsink_stats(d.k)->resends, 5);
    node_free(&a);
    drv_free(&d);
}

/* Two nodes exchange messages; their batches arrive interleaved and split
 * differently; the store holds the (lamport, node) order, each send before
 * its receive, and DONE from both finishes the run. */
static void test_two_nodes_interleaved(void **state)
{
    (void)state;
    struct drv d;
    struct node a, b;
    const uint64_t ids[] = {10, 20};
    struct msg m;
    drv_init(&d, 0);
    node_init(&a, 10, 2);
    node_init(&b, 20, 2);
    drv_nodes(&d, 2, ids, 2);
    for (int round = 0; round < 20; round++) {
        node_local(&a, (size_t)round % 3);
        node_send(&a, &m);
        node_local(&b, (size_t)round % 4 + 1);
        node_recv(&b, &m);
        node_send(&b, &m);
        node_recv(&a, &m);
    }
    uint64_t sa = 1, sb = 1;
    while (sa <= a.n || sb <= b.n) {
        uint64_t la = sa + 6 <= a.n ? sa + 6 : a.n, lb = sb + 4 <= b.n ? sb + 4 : b.n;
        if (sb <= b.n) {
            struct tsc_logbatch x = batch(&b, sb, lb, lb == b.n);
            drv_batch(&d, &x);
            sb = lb + 1;
        }
        if (sa <= a.n) {
            struct tsc_logbatch x = batch(&a, sa, la, la == a.n);
            drv_batch(&d, &x);
            sa = la + 1;
        }
    }
    struct node *all[] = {&a, &b};
    assert_int_equal(check_store(&d, 2, all, 2), a.n + b.n);
    /* every SEND of a stored before the RECV of b that follows it */
    for (size_t i = 1; i <= a.n + b.n; i++) {
        const struct srec *s = &d.recs[2][i];
        const struct tsc_logrec *x = &(s->node == 10 ? &a : &b)->recs[s->seq - 1];
        const struct node *o = s->node == 10 ? &b : &a;
        uint64_t dep = tsc_vclock_get(&x->clock, o->id);
        for (size_t j = i + 1; dep > 0 && j <= a.n + b.n; j++)
            assert_false(d.recs[2][j].node == o->id && d.recs[2][j].seq <= dep);
    }
    assert_int_equal(d.n_errs, 0);
    assert_int_equal(d.n_finished, 1);
    assert_int_equal(d.finished[0], 2);
    assert_true(last_ack(&d, 10)->done);
    assert_true(last_ack(&d, 20)->done);
    assert_int_equal(last_ack(&d, 10)->have, a.n);
    assert_int_equal(last_ack(&d, 20)->have, b.n);
    assert_true(row_of(&d, 2, 10)->finished && row_of(&d, 2, 20)->finished);
    struct tsc_logsink_run info;
    assert_int_equal(tsc_logsink_run(d.k, 2, &info), 0);
    assert_int_equal(info.merged, a.n + b.n);
    assert_true(info.finished && !info.open);
    assert_int_equal(info.done_nodes, 2);
    assert_int_equal(d.deadline, TSC_TIME_NEVER);
    node_free(&a);
    node_free(&b);
    drv_free(&d);
}

static void test_gap_stored(void **state)
{
    (void)state;
    struct drv d;
    struct node a;
    const uint64_t ids[] = {10};
    drv_init(&d, 0);
    node_init(&a, 10, 3);
    drv_nodes(&d, 3, ids, 1);
    node_local(&a, 5);
    struct tsc_logbatch b1 = batch(&a, 1, 2, 0), b2 = batch(&a, 4, 5, 0);
    drv_batch(&d, &b1);
    drv_batch(&d, &b2); /* record 3 was lost on the way */
    assert_int_equal(d.last_writes, 0);
    assert_int_equal(last_ack(&d, 10)->have, 2);
    assert_int_equal(d.deadline, d.now + GAP_WAIT);
    drv_tick(&d, d.now + GAP_WAIT - 1);
    assert_int_equal(d.n_errs, 0);
    drv_tick(&d, d.now + 1);
    assert_int_equal(d.n_errs, 1);
    assert_int_equal(d.errs[0].run, 3);
    assert_int_equal(d.errs[0].n, 1);
    assert_int_equal(d.errs[0].e.kind, TSC_LOGMERGE_GAP);
    assert_int_equal(d.errs[0].e.a_node, 10);
    assert_int_equal(d.errs[0].e.a_seq, 4);
    assert_int_equal(d.errs[0].e.b_seq, 2);
    assert_int_equal(row_of(&d, 3, 10)->delivered, 5);
    assert_int_equal(row_of(&d, 3, 10)->n_errors, 1);
    /* Record 3 is not stored: the ack stays below it, the row keeps it. */
    assert_int_equal(last_ack(&d, 10)->have, 2);
    assert_int_equal(row_of(&d, 3, 10)->hole_lo, 3);
    assert_int_equal(row_of(&d, 3, 10)->hole_hi, 3);
    assert_int_equal(d.recs[3][3].seq, 4);
    assert_int_equal(d.recs[3][4].seq, 5);
    assert_false(d.recs[3][5].used);
    node_free(&a);
    drv_free(&d);
}

/* Stored records of node id in run: how many times seq is there, and at
 * which index (the last one). */
static size_t stored_count(const struct drv *d, uint64_t run, uint64_t id, uint64_t seq,
                           uint64_t *index)
{
    size_t n = 0;
    for (uint64_t i = 1; i < MAX_IDX; i++) {
        const struct srec *s = &d->recs[run][i];
        if (s->used && s->node == id && s->seq == seq) {
            n++;
            if (index != NULL)
                *index = i;
        }
    }
    return n;
}

/* Node 10's records 1..9 of run 3 (4..6 lost, then a GAP after gap_wait)
 * stored so far; returns with the GAP durable. */
static void hole_setup(struct drv *d, struct node *a, int done)
{
    const uint64_t ids[] = {10};
    drv_init(d, 0);
    node_init(a, 10, 3);
    drv_nodes(d, 3, ids, 1);
    node_local(a, 9);
    struct tsc_logbatch b1 = batch(a, 1, 3, 0), b2 = batch(a, 7, 9, done);
    drv_batch(d, &b1);
    drv_batch(d, &b2);
    drv_tick(d, d->now + GAP_WAIT);
    assert_int_equal(d->n_errs, 1);
    assert_int_equal(d->errs[0].e.kind, TSC_LOGMERGE_GAP);
    assert_int_equal(d->errs[0].e.b_seq, 3);
    assert_int_equal(d->errs[0].e.a_seq, 7);
    assert_int_equal(row_of(d, 3, 10)->delivered, 9);
    assert_int_equal(row_of(d, 3, 10)->hole_lo, 4);
    assert_int_equal(row_of(d, 3, 10)->hole_hi, 6);
    assert_int_equal(row_of(d, 3, 10)->done, 0);
    assert_int_equal(last_ack(d, 10)->have, 3);
    assert_int_equal(last_ack(d, 10)->done, 0);
    assert_int_equal(stored_count(d, 3, 10, 5, NULL), 0);
    /* A probe still hears have 3: the agent resends from 4. */
    struct tsc_logbatch p = batch(a, 10, 9, done);
    drv_batch(d, &p);
    assert_int_equal(last_ack(d, 10)->have, 3);
}

/* The resend after the GAP (go-back-N from have + 1, the stored ones
 * too): the missing records are stored once, each a LATE error naming
 * the record after the hole; the ack then covers everything. */
static void resend_fills(struct drv *d, struct node *a, int done, uint64_t first_index)
{
    size_t errs = d->n_errs;
    struct tsc_logbatch part = batch(a, 4, 4, 0);
    drv_batch(d, &part);
    assert_int_equal(last_ack(d, 10)->have, 4);
    assert_int_equal(row_of(d, 3, 10)->hole_lo, 5);
    struct tsc_logbatch rest = batch(a, 4, 9, done);
    drv_batch(d, &rest);
    assert_int_equal(last_ack(d, 10)->have, 9);
    assert_int_equal(row_of(d, 3, 10)->hole_lo, 0);
    assert_int_equal(row_of(d, 3, 10)->hole_hi, 0);
    for (uint64_t q = 1; q <= 9; q++) {
        uint64_t at = 0;
        assert_int_equal(stored_count(d, 3, 10, q, &at), 1);
        if (q >= 4 && q <= 6)
            assert_int_equal(at, first_index + q - 4);
    }
    assert_false(d->recs[3][10].used);
    assert_int_equal(d->n_errs, errs + 3);
    for (size_t i = errs; i < d->n_errs; i++) {
        assert_int_equal(d->errs[i].e.kind, TSC_LOGMERGE_LATE);
        assert_int_equal(d->errs[i].e.a_seq, 4 + (i - errs));
        assert_int_equal(d->errs[i].e.b_node, 10);
        assert_int_equal(d->errs[i].e.b_seq, 7);
        assert_int_equal(d->errs[i].n, i + 1);
    }
    /* Again: nothing more is stored. */
    drv_batch(d, &rest);
    assert_int_equal(d->last_writes, 0);
    assert_int_equal(last_ack(d, 10)->have, 9);
}

static void test_hole_filled(void **state)
{
    (void)state;
    struct drv d;
    struct node a;
    hole_setup(&d, &a, 1);
    /* DONE came with 7..9, but a node with a hole is not complete. */
    assert_int_equal(d.n_finished, 0);
    resend_fills(&d, &a, 1, 7);
    assert_true(last_ack(&d, 10)->done);
    assert_true(row_of(&d, 3, 10)->done);
    assert_int_equal(d.n_finished, 1);
    assert_int_equal(d.finished[0], 3);
    node_free(&a);
    drv_free(&d);
}

/* The same across a crash: the stored row keeps the hole, the restored
 * sink acknowledges below it, and the resend fills it. */
static void test_hole_across_crash(void **state)
{
    (void)state;
    struct drv d;
    struct node a;
    hole_setup(&d, &a, 0);
    drv_crash(&d);
    struct tsc_logbatch p = batch(&a, 10, 9, 0);
    drv_batch(&d, &p);
    assert_int_equal(last_ack(&d, 10)->have, 3);
    resend_fills(&d, &a, 1, 7);
    assert_true(last_ack(&d, 10)->done);
    /* Once more after a crash: the filled hole is gone from the row. */
    drv_crash(&d);
    drv_batch(&d, &p);
    assert_int_equal(last_ack(&d, 10)->have, 9);
    node_free(&a);
    drv_free(&d);
}

/* A hole that is not filled in time: the run ends after RUN_END +
 * run_end_wait as before; the ack still stays below the hole, and records
 * that come later are stored all the same. */
static void test_hole_run_forced_end(void **state)
{
    (void)state;
    struct drv d;
    struct node a;
    hole_setup(&d, &a, 1);
    struct tsc_logsink_event ev = {.type = TSC_LOGSINK_EV_RUN_END, .run = 3};
    drv_step(&d, &ev);
    drv_tick(&d, d.now + END_WAIT);
    assert_int_equal(d.n_finished, 1);
    assert_true(row_of(&d, 3, 10)->finished);
    assert_int_equal(row_of(&d, 3, 10)->hole_lo, 4);
    struct tsc_logbatch p = batch(&a, 10, 9, 1);
    drv_batch(&d, &p);
    assert_int_equal(last_ack(&d, 10)->have, 3);
    resend_fills(&d, &a, 1, 7);
    struct tsc_logsink_run info;
    assert_int_equal(tsc_logsink_run(d.k, 3, &info), 0);
    assert_int_equal(info.merged, 9);
    assert_true(info.finished);
    node_free(&a);
    drv_free(&d);
}

static void test_run_end_silent_node(void **state)
{
    (void)state;
    struct drv d;
    struct node a;
    const uint64_t ids[] = {10, 5};
    drv_init(&d, 0);
    node_init(&a, 10, 4);
    drv_nodes(&d, 4, ids, 2);
    node_local(&a, 4);
    struct tsc_logbatch b = batch(&a, 1, 4, 1);
    drv_batch(&d, &b);
    /* Node 5 never spoke: its first record may still come before (1, 10). */
    assert_int_equal(d.recs[4][1].used, 0);
    assert_int_equal(d.n_finished, 0);
    /* Nothing of node 10 is merged yet, so no acknowledgement may say it
     * is done (a stored "done" would let a restored merge skip its records). */
    const struct tsc_logack *k0 = last_ack(&d, 10);
    assert_true(k0 == NULL || (k0->done == 0 && k0->have == 0));
    struct tsc_logsink_event ev = {.type = TSC_LOGSINK_EV_RUN_END, .run = 4};
    d.now = 100;
    drv_step(&d, &ev);
    assert_int_equal(d.deadline, 100 + END_WAIT);
    drv_tick(&d, 100 + END_WAIT - 1);
    assert_int_equal(d.n_finished, 0);
    drv_tick(&d, 100 + END_WAIT);
    assert_int_equal(d.n_finished, 1);
    assert_int_equal(d.finished[0], 4);
    struct node *all[] = {&a};
    assert_int_equal(check_store(&d, 4, all, 1), 4);
    assert_true(row_of(&d, 4, 5)->done && row_of(&d, 4, 5)->finished);
    assert_int_equal(row_of(&d, 4, 10)->delivered, 4);
    assert_int_equal(last_ack(&d, 10)->have, 4);
    assert_int_equal(d.deadline, TSC_TIME_NEVER);
    /* A resend to the finished run: acknowledged, nothing stored. */
    drv_batch(&d, &b);
    assert_int_equal(d.last_writes, 0);
    assert_int_equal(d.last_acks, 1);
    assert_int_equal(tsc_logsink_stats(d.k)->finishes, 1);
    node_free(&a);
    drv_free(&d);
}

/* A node that is behind, not silent: new records after RUN_END restart the
 * wait, so they are merged in order instead of after a forced end (found
 * in the 8-agent flood: a node whose batches the coordinator shed was
 * declared done while it still shipped). A heartbeat does not restart it. */
static void test_run_end_waits_for_progress(void **state)
{
    (void)state;
    struct drv d;
    struct node a;
    const uint64_t ids[] = {10, 5};
    drv_init(&d, 0);
    node_init(&a, 10, 4);
    drv_nodes(&d, 4, ids, 2);
    node_local(&a, 6);
    struct tsc_logbatch b = batch(&a, 1, 2, 0);
    drv_batch(&d, &b);
    struct tsc_logsink_event ev = {.type = TSC_LOGSINK_EV_RUN_END, .run = 4};
    d.now = 100;
    drv_step(&d, &ev);
    drv_tick(&d, 100 + END_WAIT - 1);
    struct tsc_logbatch c = batch(&a, 3, 4, 0);
    drv_batch(&d, &c);
    assert_int_equal(d.deadline, 100 + END_WAIT - 1 + END_WAIT);
    drv_tick(&d, 100 + END_WAIT);
    assert_int_equal(d.n_finished, 0);
    /* A heartbeat (no records) keeps nothing open. */
    drv_tick(&d, 100 + 2 * END_WAIT - 2);
    struct tsc_logbatch h = batch(&a, 5, 4, 0);
    drv_batch(&d, &h);
    assert_int_equal(d.deadline, 100 + END_WAIT - 1 + END_WAIT);
    drv_tick(&d, 100 + END_WAIT - 1 + END_WAIT);
    assert_int_equal(d.n_finished, 1);
    struct node *all[] = {&a};
    assert_int_equal(check_store(&d, 4, all, 1), 4);
    node_free(&a);
    drv_free(&d);
}

/* Crash with a write in flight; the agents resend everything after their
 * durable have (and some of what is stored): each record once, indices
 * continue from the stored table. */
static void test_crash_restore_resend(void **state)
{
    (void)state;
    struct drv d;
    struct node a, b;
    const uint64_t ids[] = {10, 20};
    struct msg m;
    drv_init(&d, 0);
    node_init(&a, 10, 5);
    node_init(&b, 20, 5);
    drv_nodes(&d, 5, ids, 2);
    for (int i = 0; i < 10; i++) {
        node_local(&a, 2);
        node_send(&a, &m);
        node_recv(&b, &m);
        node_local(&b, 1);
    }
    struct tsc_logbatch x = batch(&a, 1, 15, 0), y = batch(&b, 1, 10, 0);
    drv_batch(&d, &x);
    drv_batch(&d, &y);
    size_t stored = 0;
    while (stored + 1 < MAX_IDX && d.recs[5][stored + 1].used)
        stored++;
    assert_true(stored > 0);
    uint64_t have_a = last_ack(&d, 10)->have, have_b = last_ack(&d, 20)->have;
    /* More, but the write is lost in the crash. */
    d.autodurable = 0;
    x = batch(&a, 16, a.n, 0);
    y = batch(&b, 11, b.n, 0);
    drv_batch(&d, &y);
    drv_batch(&d, &x);
    assert_true(d.n_pend > 0);
    drv_crash(&d);
    d.autodurable = 1;
    struct tsc_logsink_run info;
    assert_int_equal(tsc_logsink_run(d.k, 5, &info), 0);
    assert_int_equal(info.merged, stored);
    /* The agents probe the new sink, then resend from have + 1 (node b a
     * bit earlier: resends are dropped). */
    struct tsc_logbatch pa = batch(&a, a.n + 1, a.n, 0);
    drv_batch(&d, &pa);
    assert_int_equal(last_ack(&d, 10)->have, have_a);
    x = batch(&a, have_a + 1, a.n, 1);
    y = batch(&b, have_b > 3 ? have_b - 3 : 1, b.n, 1);
    drv_batch(&d, &x);
    drv_batch(&d, &y);
    struct node *all[] = {&a, &b};
    assert_int_equal(check_store(&d, 5, all, 2), a.n + b.n);
    assert_int_equal(d.n_errs, 0);
    assert_int_equal(d.n_finished, 1);
    assert_int_equal(last_ack(&d, 10)->have, a.n);
    assert_int_equal(last_ack(&d, 20)->have, b.n);
    node_free(&a);
    node_free(&b);
    drv_free(&d);
}

/* With room for two open runs a third finishes the oldest (flushing it);
 * a later batch with new records reopens it and its indices continue. */
static void test_max_open_runs(void **state)
{
    (void)state;
    struct drv d;
    struct node n1, n2, n3, q1;
    drv_init(&d, 2);
    node_init(&n1, 10, 1);
    node_init(&q1, 5, 1);
    node_init(&n2, 10, 2);
    node_init(&n3, 10, 3);
    const uint64_t ids[] = {10, 5};
    drv_nodes(&d, 1, ids, 2); /* run 1 waits for node 5: (1, 5) < (1, 10) */
    node_local(&n1, 3);
    node_local(&n2, 2);
    node_local(&n3, 2);
    struct tsc_logbatch b1 = batch(&n1, 1, 3, 0), b2 = batch(&n2, 1, 2, 0),
                        b3 = batch(&n3, 1, 2, 0);
    drv_batch(&d, &b1);
    assert_false(d.recs[1][1].used);
    drv_batch(&d, &b2);
    assert_int_equal(d.n_finished, 0);
    drv_batch(&d, &b3);
    assert_int_equal(d.n_finished, 1);
    assert_int_equal(d.finished[0], 1);
    struct node *all1[] = {&n1, &q1};
    assert_int_equal(check_store(&d, 1, all1, 2), 3);
    struct tsc_logsink_run info;
    assert_int_equal(tsc_logsink_run(d.k, 1, &info), 0);
    assert_true(info.finished && !info.open);
    assert_int_equal(tsc_logsink_run(d.k, 2, &info), 0);
    assert_true(info.open);
    assert_true(row_of(&d, 1, 10)->finished);
    /* Node 5 turns up late: run 1 reopens (run 2 is now the oldest). */
    node_local(&q1, 2);
    struct tsc_logbatch bq = batch(&q1, 1, 2, 1);
    drv_batch(&d, &bq);
    assert_int_equal(d.n_finished, 2);
    assert_int_equal(d.finished[1], 2);
    assert_int_equal(tsc_logsink_run(d.k, 1, &info), 0);
    assert_true(info.open && !info.finished);
    assert_int_equal(row_of(&d, 1, 5)->finished, 0);
    /* its records come after what was stored (they are late: errors say so) */
    assert_int_equal(d.recs[1][4].node, 5);
    assert_int_equal(d.recs[1][5].node, 5);
    assert_true(d.n_errs > 0);
    assert_int_equal(d.errs[0].run, 1);
    assert_int_equal(tsc_logsink_stats(d.k)->opens, 4);
    node_free(&n1);
    node_free(&n2);
    node_free(&n3);
    node_free(&q1);
    drv_free(&d);
}

/* A DONE batch steps the merge twice (its records, then NODE_DONE): what
 * the first step released must still be intact in the one update (the
 * sanitizer build catches a record freed by the second step). */
static void test_done_batch_two_merge_steps(void **state)
{
    (void)state;
    struct drv d;
    struct node a, b;
    const uint64_t ids[] = {10, 20};
    drv_init(&d, 0);
    d.autodurable = 0;
    node_init(&a, 10, 6);
    node_init(&b, 20, 6);
    drv_nodes(&d, 6, ids, 2);
    drv_durable(&d);
    node_local(&b, 3);
    node_local(&a, 2);
    struct tsc_logbatch xb = batch(&b, 1, 3, 0), xa = batch(&a, 1, 2, 1);
    drv_batch(&d, &xb);
    assert_int_equal(d.last_writes, 0); /* (1, 10) may still come */
    drv_batch(&d, &xa);
    /* (1,10) (1,20) (2,10) (2,20) by the batch, (3,20) once node 10 is done */
    assert_int_equal(d.last_writes, 5);
    assert_int_equal(d.n_pend, 1);
    const struct pending *p = d.pend[0];
    const uint64_t order[5][2] = {{10, 1}, {20, 1}, {10, 2}, {20, 2}, {20, 3}};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(p->index[i], i + 1);
        assert_int_equal(p->rec[i].node, order[i][0]);
        assert_int_equal(p->rec[i].seq, order[i][1]);
        assert_string_equal(p->rec[i].text, (order[i][0] == 10 ? &a : &b)->text[order[i][1] - 1]);
    }
    drv_durable(&d);
    assert_int_equal(last_ack(&d, 10)->have, 2);
    assert_true(last_ack(&d, 10)->done);
    assert_int_equal(last_ack(&d, 20)->have, 3);
    node_free(&a);
    node_free(&b);
    drv_free(&d);
}

static void test_bad_events(void **state)
{
    (void)state;
    struct drv d;
    struct node a;
    struct tsc_logsink_update up;
    drv_init(&d, 0);
    node_init(&a, 10, 1);
    node_local(&a, 1);
    struct tsc_logbatch b = batch(&a, 1, 1, 0);
    b.node = 0;
    struct tsc_logsink_event ev = {.type = TSC_LOGSINK_EV_BATCH, .batch = &b};
    assert_int_equal(tsc_logsink_step(d.k, &ev, &up), TSC_EINVAL);
    b = batch(&a, 1, 1, 0);
    b.run = 0;
    assert_int_equal(tsc_logsink_step(d.k, &ev, &up), TSC_EINVAL);
    b = batch(&a, 1, 1, 0);
    b.node = 11; /* a record of another node */
    assert_int_equal(tsc_logsink_step(d.k, &ev, &up), TSC_EINVAL);
    struct tsc_logsink_event dur = {.type = TSC_LOGSINK_EV_DURABLE, .token = 1};
    assert_int_equal(tsc_logsink_step(d.k, &dur, &up), TSC_EINVAL);
    struct tsc_logsink_event odd = {.type = 99};
    assert_int_equal(tsc_logsink_step(d.k, &odd, &up), TSC_EINVAL);
    struct tsc_logsink_row row = {.run = 1, .node = 10};
    struct tsc_logsink_event rs = {.type = TSC_LOGSINK_EV_RESTORE, .row = &row};
    assert_int_equal(tsc_logsink_step(d.k, &rs, &up), TSC_EINVAL); /* not first */
    assert_int_equal(tsc_logsink_step(d.k, NULL, &up), TSC_EINVAL);
    assert_int_equal(up.token, 0);
    assert_int_equal(tsc_logsink_run(d.k, 1, &(struct tsc_logsink_run){0}), TSC_ENOTFOUND);
    node_free(&a);
    drv_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ack_after_durable),
        cmocka_unit_test(test_resend_and_probe),
        cmocka_unit_test(test_two_nodes_interleaved),
        cmocka_unit_test(test_gap_stored),
        cmocka_unit_test(test_hole_filled),
        cmocka_unit_test(test_hole_across_crash),
        cmocka_unit_test(test_hole_run_forced_end),
        cmocka_unit_test(test_run_end_silent_node),
        cmocka_unit_test(test_run_end_waits_for_progress),
        cmocka_unit_test(test_crash_restore_resend),
        cmocka_unit_test(test_max_open_runs),
        cmocka_unit_test(test_done_batch_two_merge_steps),
        cmocka_unit_test(test_bad_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
