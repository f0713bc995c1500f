/* tsc — helpers of the merge tests (see lm_util.h). */
#include "lm_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/time.h"

void sim_init(struct sim *s, size_t k)
{
    memset(s, 0, sizeof *s);
    assert_true(k >= 1 && k <= SIM_MAX_NODES);
    s->k = k;
    for (size_t i = 0; i < k; i++) {
        s->ids[i] = i + 1;
        tsc_vclock_init(&s->clock[i]);
    }
    s->wall = 1000000;
    for (size_t i = 0; i < SIM_MAX_NODES; i++)
        s->last[i] = SIZE_MAX;
}

void sim_free(struct sim *s)
{
    for (size_t i = 0; i < s->k; i++)
        tsc_vclock_free(&s->clock[i]);
    for (size_t i = 0; i < s->n; i++) {
        tsc_vclock_free(&s->recs[i].clock);
        free((void *)s->recs[i].text);
    }
    free(s->recs);
    free(s->pmax);
    memset(s, 0, sizeof *s);
}

void sim_msg_init(struct sim_msg *m)
{
    tsc_vclock_init(&m->clock);
    m->lamport = 0;
}

void sim_msg_free(struct sim_msg *m)
{
    tsc_vclock_free(&m->clock);
    m->lamport = 0;
}

/* Tick node i's clock and Lamport time, and record the event. */
static size_t record(struct sim *s, size_t i, int kind)
{
    uint64_t seq;
    assert_int_equal(tsc_vclock_tick(&s->clock[i], s->ids[i], &seq), 0);
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->recs = realloc(s->recs, s->cap * sizeof *s->recs);
        s->pmax = realloc(s->pmax, s->cap * sizeof *s->pmax);
        assert_non_null(s->recs);
        assert_non_null(s->pmax);
    }
    struct tsc_logrec *r = &s->recs[s->n];
    tsc_logrec_init(r);
    r->node = s->ids[i];
    r->seq = seq;
    r->lamport = ++s->lamport[i];
    s->pmax[s->n] = r->lamport;
    s->last[i] = s->n;
    assert_int_equal(tsc_vclock_copy(&r->clock, &s->clock[i]), 0);
    s->wall += 10;
    r->wall_us = s->wall;
    r->run = 7;
    r->stage = 1;
    r->kind = (uint8_t)kind;
    int len = snprintf(s->text, sizeof s->text, "n%llu s%llu %s", (unsigned long long)r->node,
                       (unsigned long long)seq, tsc_logrec_kind_name(kind));
    char *t = malloc((size_t)len);
    memcpy(t, s->text, (size_t)len);
    r->text = (const uint8_t *)t;
    r->len = (size_t)len;
    return s->n++;
}

size_t sim_local(struct sim *s, size_t i)
{
    return record(s, i, TSC_LOGREC_STDOUT);
}

size_t sim_send(struct sim *s, size_t i, struct sim_msg *msg)
{
    size_t at = record(s, i, TSC_LOGREC_SEND);
    assert_int_equal(tsc_vclock_copy(&msg->clock, &s->clock[i]), 0);
    msg->lamport = s->lamport[i];
    return at;
}

size_t sim_recv(struct sim *s, size_t i, const struct sim_msg *msg)
{
    assert_int_equal(tsc_vclock_merge(&s->clock[i], &msg->clock), 0);
    /* The L before the receive stays the previous record's true promise:
     * the receive itself gets a larger time. */
    if (msg->lamport > s->lamport[i])
        s->lamport[i] = msg->lamport;
    return record(s, i, TSC_LOGREC_RECV);
}

void sim_adopt(struct sim *s, size_t i, uint64_t lamport)
{
    if (lamport <= s->lamport[i])
        return;
    s->lamport[i] = lamport;
    if (s->last[i] != SIZE_MAX)
        s->pmax[s->last[i]] = lamport;
}

struct tsc_logrec *sim_rec(struct sim *s, size_t i, uint64_t seq)
{
    for (size_t j = 0; j < s->n; j++)
        if (s->recs[j].node == s->ids[i] && s->recs[j].seq == seq)
            return &s->recs[j];
    return NULL;
}

void drv_init(struct drv *d, const struct tsc_logmerge_config *cfg, const uint64_t *nodes, size_t n)
{
    char errmsg[TSC_ERRMSG_SIZE];
    memset(d, 0, sizeof *d);
    if (cfg != NULL)
        d->cfg = *cfg;
    else
        tsc_logmerge_config_default(&d->cfg);
    assert_int_equal(tsc_logmerge_new(&d->m, &d->cfg, nodes, n, errmsg), 0);
    d->deadline = TSC_TIME_NEVER;
}

void drv_free(struct drv *d)
{
    tsc_logmerge_free(d->m);
    for (size_t i = 0; i < d->n_rel; i++)
        tsc_vclock_free(&d->rel[i].clock);
    free(d->rel);
    free(d->err);
    memset(d, 0, sizeof *d);
}

int drv_step(struct drv *d, const struct tsc_logmerge_event *ev)
{
    struct tsc_logmerge_update up;
    int rc = tsc_logmerge_step(d->m, ev, &up);
    const struct tsc_logmerge_stats *st = tsc_logmerge_stats(d->m);
    d->last_released = up.n_released;
    d->last_errors = up.n_errors;
    d->deadline = up.next_deadline;
    if (rc != 0) {
        assert_int_equal(up.n_released, 0);
        assert_int_equal(up.n_errors, 0);
        return rc;
    }
    if (ev->now > d->now)
        d->now = ev->now;
    /* Every record received is accounted for exactly once. */
    assert_int_equal(st->received, st->malformed + st->resends +
                                       st->errors[TSC_LOGMERGE_DUPLICATE] + st->buffered +
                                       st->released);
    assert_true(st->buffered <= d->cfg.max_records);
    assert_true(st->buffered_bytes <= d->cfg.max_bytes);
    assert_true(up.next_deadline > d->now);
    if (st->buffered == 0)
        assert_int_equal(up.next_deadline, TSC_TIME_NEVER);
    for (size_t i = 0; i < up.n_released; i++) {
        const struct tsc_logrec *r = up.released[i].rec;
        assert_int_equal(up.released[i].index, d->base + d->n_rel + 1);
        assert_int_equal(tsc_vclock_get(&r->clock, r->node), r->seq);
        assert_true(r->lamport >= 1);
        if (d->n_rel == d->cap_rel) {
            d->cap_rel = d->cap_rel ? 2 * d->cap_rel : 256;
            d->rel = realloc(d->rel, d->cap_rel * sizeof *d->rel);
            assert_non_null(d->rel);
        }
        struct rel *x = &d->rel[d->n_rel++];
        x->index = up.released[i].index;
        x->node = r->node;
        x->seq = r->seq;
        x->lamport = r->lamport;
        x->wall = r->wall_us;
        tsc_vclock_init(&x->clock);
        assert_int_equal(tsc_vclock_copy(&x->clock, &r->clock), 0);
    }
    assert_int_equal(st->released, d->n_rel);
    for (size_t i = 0; i < up.n_errors; i++) {
        if (d->n_err == d->cap_err) {
            d->cap_err = d->cap_err ? 2 * d->cap_err : 64;
            d->err = realloc(d->err, d->cap_err * sizeof *d->err);
            assert_non_null(d->err);
        }
        d->err[d->n_err++] = up.errors[i];
        /* What the sink stores: every error survives its encoding. */
        struct tsc_logmerge_error back;
        struct tsc_buf b;
        tsc_buf_init(&b);
        assert_int_equal(tsc_logmerge_error_encode(&up.errors[i], &b), 0);
        assert_int_equal(tsc_logmerge_error_decode(b.data, b.len, &back), 0);
        const struct tsc_logmerge_error *e = &up.errors[i];
        assert_int_equal(back.kind, e->kind);
        assert_int_equal(back.a_node, e->a_node);
        assert_int_equal(back.a_seq, e->a_seq);
        assert_int_equal(back.b_node, e->b_node);
        assert_int_equal(back.b_seq, e->b_seq);
        assert_int_equal(back.run, e->run);
        assert_int_equal(back.skew_us, e->skew_us);
        tsc_buf_free(&b);
    }
    return 0;
}

int drv_batch(struct drv *d, uint64_t now, uint64_t node, const struct tsc_logrec *recs, size_t n,
              const struct tsc_vclock *wm, uint64_t promise)
{
    struct tsc_logmerge_event ev = {.type = TSC_LOGMERGE_EV_BATCH,
                                    .now = now,
                                    .node = node,
                                    .records = recs,
                                    .n_records = n,
                                    .watermark = wm,
                                    .promise = wm != NULL ? promise : 0};
    return drv_step(d, &ev);
}

int drv_tick(struct drv *d, uint64_t now)
{
    struct tsc_logmerge_event ev = {.type = TSC_LOGMERGE_EV_TICK, .now = now};
    return drv_step(d, &ev);
}

int drv_done(struct drv *d, uint64_t now, uint64_t node, const struct tsc_vclock *wm,
             uint64_t promise)
{
    struct tsc_logmerge_event ev = {.type = TSC_LOGMERGE_EV_NODE_DONE,
                                    .now = now,
                                    .node = node,
                                    .watermark = wm,
                                    .promise = wm != NULL ? promise : 0};
    return drv_step(d, &ev);
}

int drv_flush(struct drv *d, uint64_t now)
{
    struct tsc_logmerge_event ev = {.type = TSC_LOGMERGE_EV_FLUSH, .now = now};
    return drv_step(d, &ev);
}

size_t drv_count(const struct drv *d, int kind)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n_err; i++)
        n += d->err[i].kind == kind;
    return n;
}

const struct tsc_logmerge_error *drv_find(const struct drv *d, int kind)
{
    for (size_t i = 0; i < d->n_err; i++)
        if (d->err[i].kind == kind)
            return &d->err[i];
    return NULL;
}
