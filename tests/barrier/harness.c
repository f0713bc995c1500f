/* tsc — the barrier test bench (see harness.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "barrier/runlog.h"
#include "common/alloc.h"
#include "common/time.h"
#include "tests/barrier/harness.h"
#include "wire/crypto.h"
#include "wire/mp.h"

#define C (&tsc_crypto_cheap)

void *h__realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    assert_non_null(q);
    return q;
}

void h__push_msg(struct harness *h, int kind, size_t to, uint64_t from, const struct tsc_buf *b)
{
    if (h->n_net == h->cap_net) {
        h->cap_net = h->cap_net ? 2 * h->cap_net : 64;
        h->net = h__realloc(h->net, h->cap_net * sizeof *h->net);
    }
    struct h_msg *m = &h->net[h->n_net++];
    m->kind = kind;
    m->to = to;
    m->from = from;
    m->len = b->len;
    m->bytes = h__realloc(NULL, b->len);
    memcpy(m->bytes, b->data, b->len);
}

static size_t part_of(const struct harness *h, uint64_t id)
{
    for (size_t i = 0; i < h->n_parts; i++)
        if (h->parts[i].id == id)
            return i;
    fail_msg("unknown participant %llx", (unsigned long long)id);
    return 0;
}

size_t h__coord_of(const struct harness *h, uint64_t id)
{
    for (size_t i = 0; i < h->n_coords; i++)
        if (h->coords[i].id == id)
            return i;
    fail_msg("unknown coordinator %llx", (unsigned long long)id);
    return 0;
}

const struct h_decided *h_decision(const struct harness *h, uint64_t run, uint32_t stage)
{
    for (size_t i = 0; i < h->n_decided; i++)
        if (h->decided[i].run == run && h->decided[i].stage == stage)
            return &h->decided[i];
    return NULL;
}

/* ---- coordinators -------------------------------------------------------- */

static void check_start(struct harness *h, size_t c, const struct tsc_barrier_start *s)
{
    int seen = 0;
    for (size_t i = 0; i < h->n_started; i++) {
        if (h->started[i][0] != s->run)
            continue;
        if (h->started[i][1] == s->stage)
            seen = 1;
        if (h->started[i][1] < s->stage) {
            const struct h_decided *d = h_decision(h, s->run, (uint32_t)h->started[i][1]);
            assert_non_null(d); /* START for a later stage before this one was decided */
            assert_true(d->index <= h->coords[c].applied);
        }
    }
    if (!seen) {
        assert_true(h->n_started < 512);
        h->started[h->n_started][0] = s->run;
        h->started[h->n_started++][1] = s->stage;
    }
}

static void coord_update(struct harness *h, size_t c, const struct tsc_barrier_update *up)
{
    struct h_coord *co = &h->coords[c];
    struct tsc_buf b;
    tsc_buf_init(&b);
    for (size_t i = 0; i < up->n_starts; i++) {
        const struct tsc_barrier_start *s = &up->starts[i];
        size_t p = part_of(h, s->node);
        int how = h->behave ? h->behave(h, p, s->run, s->stage) : H_PASS;
        const char *script = how == H_EMPTY ? "" : "echo stage";
        char case_name[16];
        snprintf(case_name, sizeof case_name, "case%u", s->stage);
        struct tsc_stage_start m = {
            s->run,    s->stage,          co->term, s->index, s->timeout_us, script, strlen(script),
            case_name, strlen(case_name), "db",     2,        NULL,          0};
        check_start(h, c, s);
        assert_int_equal(s->index, p);
        tsc_buf_reset(&b);
        assert_int_equal(tsc_stage_start_encode(&m, &b), 0);
        h__push_msg(h, H_START, p, co->id, &b);
    }
    for (size_t i = 0; i < up->n_cancels; i++) {
        struct tsc_stage_cancel m = {up->cancels[i].run, co->term, up->cancels[i].stage};
        tsc_buf_reset(&b);
        assert_int_equal(tsc_stage_cancel_encode(&m, &b), 0);
        h__push_msg(h, H_CANCEL, part_of(h, up->cancels[i].node), co->id, &b);
    }
    for (size_t i = 0; i < up->n_proposals; i++) {
        if (h->n_pending == h->cap_pending) {
            h->cap_pending = h->cap_pending ? 2 * h->cap_pending : 16;
            h->pending = h__realloc(h->pending, h->cap_pending * sizeof *h->pending);
        }
        struct tsc_buf *p = &h->pending[h->n_pending++];
        tsc_buf_init(p);
        assert_int_equal(tsc_buf_append(p, up->proposals[i].data, up->proposals[i].len), 0);
    }
    for (size_t i = 0; i < up->n_finished; i++) {
        assert_true(co->n_finished < H_MAX_RUNS * 2);
        co->finished[co->n_finished][0] = up->finished[i].run;
        co->finished[co->n_finished++][1] = (uint64_t)up->finished[i].state;
    }
    co->deadline = up->next_deadline;
    tsc_buf_free(&b);
}

static void coord_step(struct harness *h, size_t c, struct tsc_barrier_event *ev)
{
    struct tsc_barrier_update up;
    ev->now = h->now;
    ev->wall_us = h->now + TSC_SEC(1700000000);
    int inject = h->oom_every != 0 && ++h->n_steps % h->oom_every == 0;
    if (inject)
        tsc_alloc_fail_after(h->oom_nth);
    int rc = tsc_barrier_step(h->coords[c].eng, ev, &up);
    tsc_alloc_fail_after(0);
    if (rc == TSC_ENOMEM && inject) {
        h->n_oom++;
        coord_update(h, c, &up);
        if (ev->type != TSC_BARRIER_EV_APPLY)
            return; /* a lost report or START: the retries recover it */
        rc = tsc_barrier_step(h->coords[c].eng, ev, &up); /* the driver applies it again */
    }
    assert_int_equal(rc, 0);
    coord_update(h, c, &up);
}

static void apply_new(struct harness *h, size_t c)
{
    while (h->coords[c].applied < h->n_log) {
        size_t i = h->coords[c].applied++;
        struct tsc_barrier_event ev = {.type = TSC_BARRIER_EV_APPLY,
                                       .index = i + 1,
                                       .data = h->log[i].data,
                                       .len = h->log[i].len};
        coord_step(h, c, &ev);
    }
}

/* The first STAGE record of (run, stage) in the log is the one every
 * engine applies; what it says of a participant's own result must be true. */
static void note_decision(struct harness *h, const uint8_t *p, size_t len)
{
    struct tsc_runlog rec;
    assert_int_equal(tsc_runlog_decode(p, len, &rec), 0);
    if (rec.kind == TSC_RUNLOG_STAGE && h_decision(h, rec.stage.run, rec.stage.stage) == NULL) {
        assert_true(h->n_decided < 512);
        assert_int_equal(rec.stage.n_results, h->n_parts);
        struct h_decided *d = &h->decided[h->n_decided++];
        d->run = rec.stage.run;
        d->stage = rec.stage.stage;
        d->index = h->n_log;
        for (size_t i = 0; i < h->n_parts; i++) {
            uint8_t st = rec.stage.results[i].status;
            int state;
            d->status[i] = st;
            if (st == TSC_RESULT_PASSED || st == TSC_RESULT_FAILED || st == TSC_RESULT_ERROR ||
                st == TSC_RESULT_LOST) {
                assert_int_equal(h__stored_status(&h->parts[i], d->run, d->stage, &state), st);
                assert_int_equal(state, TSC_PART_DONE);
            }
        }
    }
    tsc_runlog_free(&rec);
}

static void log_append(struct harness *h, const uint8_t *p, size_t len)
{
    if (h->n_log == h->cap_log) {
        h->cap_log = h->cap_log ? 2 * h->cap_log : 64;
        h->log = h__realloc(h->log, h->cap_log * sizeof *h->log);
    }
    tsc_buf_init(&h->log[h->n_log]);
    assert_int_equal(tsc_buf_append(&h->log[h->n_log], p, len), 0);
    h->n_log++;
    note_decision(h, p, len);
    for (size_t c = 0; c < h->n_coords; c++)
        apply_new(h, c);
}

void h_commit(struct harness *h)
{
    /* Proposals made while committing are committed in the next call. */
    size_t n = h->n_pending;
    struct tsc_buf *batch = h->pending;
    h->pending = NULL;
    h->n_pending = h->cap_pending = 0;
    for (size_t i = 0; i < n; i++) {
        log_append(h, batch[i].data, batch[i].len);
        tsc_buf_free(&batch[i]);
    }
    free(batch);
}

void h_set_leader(struct harness *h, size_t c)
{
    struct tsc_barrier_event ev = {.type = TSC_BARRIER_EV_LEADER};
    if (h->leader < h->n_coords) {
        ev.is_leader = 0;
        ev.term = h->coords[h->leader].term;
        coord_step(h, h->leader, &ev);
    }
    h->term++;
    h->leader = c;
    h->coords[c].term = h->term;
    ev.is_leader = 1;
    ev.term = h->term;
    coord_step(h, c, &ev);
}

void h_restart_coord(struct harness *h, size_t c)
{
    struct h_coord *co = &h->coords[c];
    tsc_barrier_free(co->eng);
    assert_int_equal(tsc_barrier_new(&co->eng, &h->cfg, NULL), 0);
    co->applied = 0;
    co->n_finished = 0;
    co->deadline = TSC_TIME_NEVER;
    if (h->leader == c)
        h->leader = h->n_coords;
    for (size_t p = 0; p < h->n_parts; p++) /* the driver tells it who is dead */
        if (h->parts[p].dead) {
            struct tsc_barrier_event ev = {.type = TSC_BARRIER_EV_MEMBER, .node = h->parts[p].id};
            coord_step(h, c, &ev);
        }
    apply_new(h, c);
}

uint64_t h_submit(struct harness *h, uint32_t n_cases, uint64_t nonce)
{
    struct tsc_run_participant ps[H_MAX_PARTS];
    uint64_t timeouts[3 * 16 + 2];
    struct tsc_buf suite, rec;
    struct tsc_mp_writer w;
    assert_true(n_cases <= 16);
    tsc_buf_init(&suite);
    tsc_buf_init(&rec);
    tsc_mp_writer_init(&w, &suite);
    msgpack_pack_map(&w.pk, 2);
    msgpack_pack_str_with_body(&w.pk, "name", 4);
    msgpack_pack_str_with_body(&w.pk, "kv", 2);
    msgpack_pack_str_with_body(&w.pk, "cases", 5);
    msgpack_pack_array(&w.pk, n_cases);
    for (uint32_t i = 0; i < n_cases; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%u", i);
        msgpack_pack_map(&w.pk, 1);
        msgpack_pack_str_with_body(&w.pk, "name", 4);
        msgpack_pack_str_with_body(&w.pk, name, strlen(name));
    }
    memset(ps, 0, sizeof ps);
    for (size_t i = 0; i < h->n_parts; i++) {
        ps[i].id = h->parts[i].id;
        ps[i].addr.ip = 0x7f000001;
        ps[i].addr.port = (uint16_t)(7000 + i);
        strcpy(ps[i].name, h->parts[i].name);
        strcpy(ps[i].role, "db");
    }
    for (uint32_t k = 0; k < 3 * n_cases + 2; k++)
        timeouts[k] = h->stage_timeout;
    struct tsc_runlog_submit s = {.nonce = nonce,
                                  .submitted_us = 1,
                                  .suite_name = "kv",
                                  .n_cases = n_cases,
                                  .n_participants = h->n_parts,
                                  .participants = ps,
                                  .suite = suite.data,
                                  .suite_len = suite.len};
    assert_int_equal(tsc_runlog_encode_submit(&s, timeouts, &rec), 0);
    log_append(h, rec.data, rec.len);
    tsc_buf_free(&suite);
    tsc_buf_free(&rec);
    assert_true(h->n_runs < H_MAX_RUNS);
    h->runs[h->n_runs++] = h->n_log;
    return h->n_log;
}

void h_cancel(struct harness *h, uint64_t run)
{
    struct tsc_buf rec;
    struct tsc_runlog_cancel c = {.run = run, .at_us = 5, .reason = "by the test"};
    tsc_buf_init(&rec);
    assert_int_equal(tsc_runlog_encode_cancel(&c, &rec), 0);
    log_append(h, rec.data, rec.len);
    tsc_buf_free(&rec);
}

/* ---- participants -------------------------------------------------------- */

void h_deliver(struct harness *h, size_t i, int keep)
{
    struct h_msg m = h->net[i];
    if (!keep) { /* in order: the scenario tests deliver FIFO */
        memmove(&h->net[i], &h->net[i + 1], (h->n_net - i - 1) * sizeof *h->net);
        h->n_net--;
    }
    if (m.kind == H_REPORT) {
        struct tsc_stage_report r;
        assert_int_equal(tsc_stage_report_decode(m.bytes, m.len, &r), 0);
        assert_int_equal(
            tsc_stage_report_verify(C, m.bytes, m.len, h->parts[part_of(h, r.node)].pk), 0);
        struct tsc_barrier_event ev = {.type = TSC_BARRIER_EV_REPORT, .report = &r};
        coord_step(h, m.to, &ev);
    } else if (!h->parts[m.to].dead) {
        struct tsc_part_event ev = {.from = m.from};
        struct tsc_stage_start s;
        struct tsc_stage_cancel c;
        if (m.kind == H_START) {
            assert_int_equal(tsc_stage_start_decode(m.bytes, m.len, &s), 0);
            ev.type = TSC_PART_EV_START;
            ev.start = &s;
        } else {
            assert_int_equal(tsc_stage_cancel_decode(m.bytes, m.len, &c), 0);
            ev.type = TSC_PART_EV_CANCEL;
            ev.run = c.run;
            ev.term = c.term;
            ev.stage = c.stage;
        }
        h__part_step(h, m.to, &ev);
    }
    if (!keep)
        free(m.bytes);
}

void h_kill_part(struct harness *h, size_t p)
{
    h->parts[p].dead = 1;
    for (size_t c = 0; c < h->n_coords; c++) {
        struct tsc_barrier_event ev = {.type = TSC_BARRIER_EV_MEMBER, .node = h->parts[p].id};
        coord_step(h, c, &ev);
    }
}

int h_advance(struct harness *h, uint64_t limit)
{
    uint64_t d = TSC_TIME_NEVER;
    for (size_t c = 0; c < h->n_coords; c++)
        if (h->coords[c].deadline < d)
            d = h->coords[c].deadline;
    for (size_t p = 0; p < h->n_parts; p++)
        for (size_t i = 0; i < h->parts[p].n_scripts && !h->parts[p].dead; i++)
            if (h->parts[p].scripts[i].deadline < d && h->parts[p].scripts[i].behave == H_HANG &&
                !h->parts[p].scripts[i].killed)
                d = h->parts[p].scripts[i].deadline;
    if (d == TSC_TIME_NEVER || d > limit)
        return 0;
    if (d > h->now)
        h->now = d;
    for (size_t c = 0; c < h->n_coords; c++)
        if (h->coords[c].deadline <= h->now) {
            struct tsc_barrier_event ev = {.type = TSC_BARRIER_EV_TICK};
            coord_step(h, c, &ev);
        }
    return 1;
}

int h_run_state(const struct harness *h, uint64_t run)
{
    size_t c = h->leader < h->n_coords ? h->leader : 0;
    for (size_t i = 0; i < h->coords[c].n_finished; i++)
        if (h->coords[c].finished[i][0] == run)
            return (int)h->coords[c].finished[i][1];
    return 0;
}

int h_all_finished(const struct harness *h)
{
    for (size_t i = 0; i < h->n_runs; i++)
        if (h_run_state(h, h->runs[i]) == 0)
            return 0;
    return 1;
}

void h_check_agreement(const struct harness *h)
{
    const struct h_coord *a = &h->coords[0];
    for (size_t c = 1; c < h->n_coords; c++) {
        const struct h_coord *b = &h->coords[c];
        assert_int_equal(a->applied, b->applied);
        assert_int_equal(a->n_finished, b->n_finished);
        assert_memory_equal(a->finished, b->finished, a->n_finished * sizeof a->finished[0]);
    }
}

void h_settle(struct harness *h, uint64_t span)
{
    uint64_t limit = h->now + span;
    for (int guard = 0; guard < 100000; guard++) {
        int progress = 0;
        while (h->n_net > 0) {
            h_deliver(h, 0, 0);
            progress = 1;
        }
        progress |= h_finish_scripts(h);
        if (h->n_pending > 0) {
            h_commit(h);
            progress = 1;
        }
        if (progress)
            continue;
        if (h_all_finished(h) || !h_advance(h, limit))
            break;
    }
    h_check_agreement(h);
}

int h_record(const struct harness *h, uint64_t run, uint32_t stage, struct tsc_runlog *rec)
{
    const struct h_decided *d = h_decision(h, run, stage);
    if (d == NULL)
        return TSC_ENOTFOUND;
    return tsc_runlog_decode(h->log[d->index - 1].data, h->log[d->index - 1].len, rec);
}

size_t h_count(const struct harness *h, int kind)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_net; i++)
        n += h->net[i].kind == kind;
    return n;
}

/* ---- set-up -------------------------------------------------------------- */

void h_init(struct harness *h, size_t n_parts, size_t n_coords,
            const struct tsc_barrier_config *cfg)
{
    memset(h, 0, sizeof *h);
    assert_true(n_parts <= H_MAX_PARTS && n_coords <= H_MAX_COORDS && n_coords > 0);
    if (cfg != NULL)
        h->cfg = *cfg;
    else
        tsc_barrier_config_default(&h->cfg);
    h->n_parts = n_parts;
    h->n_coords = n_coords;
    h->now = TSC_SEC(1000);
    h->stage_timeout = TSC_SEC(30);
    for (size_t p = 0; p < n_parts; p++) {
        struct h_part *pa = &h->parts[p];
        uint8_t seed[32];
        memset(seed, (int)(p + 1), sizeof seed);
        C->keypair(pa->pk, pa->sk, seed);
        pa->id = tsc_crypto_node_id(C, pa->pk);
        snprintf(pa->name, sizeof pa->name, "node%u", (unsigned)(p + 1) % 100);
        assert_int_equal(tsc_part_new(&pa->eng, pa->id), 0);
    }
    for (size_t c = 0; c < n_coords; c++) {
        h->coords[c].id = 0xc0000 + c;
        h->coords[c].deadline = TSC_TIME_NEVER;
        assert_int_equal(tsc_barrier_new(&h->coords[c].eng, &h->cfg, NULL), 0);
    }
    h->leader = n_coords;
    h_set_leader(h, 0);
}

void h_free(struct harness *h)
{
    for (size_t p = 0; p < h->n_parts; p++) {
        tsc_part_free(h->parts[p].eng);
        free(h->parts[p].store);
        free(h->parts[p].spawned);
    }
    for (size_t c = 0; c < h->n_coords; c++)
        tsc_barrier_free(h->coords[c].eng);
    for (size_t i = 0; i < h->n_net; i++)
        free(h->net[i].bytes);
    free(h->net);
    for (size_t i = 0; i < h->n_log; i++)
        tsc_buf_free(&h->log[i]);
    free(h->log);
    for (size_t i = 0; i < h->n_pending; i++)
        tsc_buf_free(&h->pending[i]);
    free(h->pending);
    memset(h, 0, sizeof *h);
}
