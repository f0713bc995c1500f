/* tsc — the barrier test bench, participant side (see harness.h): the
 * driver's store, spawning with the invariant checks, simulated scripts,
 * agent restarts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "barrier/runlog.h"
#include "tests/barrier/harness.h"
#include "wire/crypto.h"

#define C (&tsc_crypto_cheap)

uint8_t h__stored_status(const struct h_part *p, uint64_t run, uint32_t stage, int *state)
{
    for (size_t i = 0; i < p->n_store; i++)
        if (p->store[i].run == run && p->store[i].stage == stage) {
            *state = p->store[i].state;
            return p->store[i].status;
        }
    *state = TSC_PART_NONE;
    return 0;
}

static int before(uint64_t r0, uint32_t s0, uint64_t r1, uint32_t s1)
{
    return r0 < r1 || (r0 == r1 && s0 < s1);
}

static void store(struct h_part *p, uint64_t run, uint32_t stage, int state, uint8_t status)
{
    for (size_t i = 0; i < p->n_store; i++)
        if (p->store[i].run == run && p->store[i].stage == stage) {
            assert_true(state == TSC_PART_DONE); /* STARTED is written once, first */
            p->store[i].state = state;
            p->store[i].status = status;
            return;
        }
    p->store = h__realloc(p->store, (p->n_store + 1) * sizeof *p->store);
    p->store[p->n_store++] = (struct h_stored){run, stage, state, status};
}

static void check_spawn(struct harness *h, size_t p, uint64_t run, uint32_t stage)
{
    struct h_part *pa = &h->parts[p];
    for (size_t i = 0; i < pa->n_spawned; i++)
        assert_false(pa->spawned[i].run == run && pa->spawned[i].stage == stage);
    assert_int_equal(pa->n_scripts, 0); /* its own earlier script ended */
    for (size_t q = 0; q < h->n_parts; q++)
        for (size_t i = 0; i < h->parts[q].n_scripts; i++) {
            const struct h_script *s = &h->parts[q].scripts[i];
            if (!before(s->run, s->stage, run, stage))
                continue;
            const struct h_decided *d = h_decision(h, s->run, s->stage);
            assert_non_null(d);
            assert_true(d->status[q] == TSC_RESULT_TIMEOUT || d->status[q] == TSC_RESULT_DEAD ||
                        d->status[q] == TSC_RESULT_CANCELLED);
        }
    pa->spawned = h__realloc(pa->spawned, (pa->n_spawned + 1) * sizeof *pa->spawned);
    pa->spawned[pa->n_spawned++] = (struct h_stored){run, stage, TSC_PART_STARTED, 0};
}

static void part_update(struct harness *h, size_t p, const struct tsc_part_update *up)
{
    struct h_part *pa = &h->parts[p];
    struct tsc_buf b;
    if (up->persist_started)
        store(pa, up->run, up->stage, TSC_PART_STARTED, 0);
    if (up->persist_done)
        store(pa, up->run, up->stage, TSC_PART_DONE, up->result->status);
    if (up->kill)
        for (size_t i = 0; i < pa->n_scripts; i++)
            if (pa->scripts[i].run == up->kill_run)
                pa->scripts[i].killed = 1;
    if (up->spawn) {
        assert_true(up->persist_started);
        check_spawn(h, p, up->start->run, up->start->stage);
        assert_true(pa->n_scripts < H_MAX_SCRIPTS);
        struct h_script *s = &pa->scripts[pa->n_scripts++];
        s->run = up->start->run;
        s->stage = up->start->stage;
        s->behave = h->behave ? h->behave(h, p, s->run, s->stage) : H_PASS;
        s->killed = 0;
        s->deadline = h->now + up->start->timeout_us;
    }
    tsc_buf_init(&b);
    for (size_t i = 0; i < up->n_reports; i++) {
        assert_int_equal(up->reports[i].report.node, pa->id);
        assert_int_equal(tsc_stage_report_encode(C, pa->sk, &up->reports[i].report, &b), 0);
        h__push_msg(h, H_REPORT, h__coord_of(h, up->reports[i].to), pa->id, &b);
        tsc_buf_reset(&b);
    }
    tsc_buf_free(&b);
}

void h__part_step(struct harness *h, size_t p, struct tsc_part_event *ev)
{
    struct tsc_part_update up;
    ev->now = h->now;
    assert_int_equal(tsc_part_step(h->parts[p].eng, ev, &up), 0);
    part_update(h, p, &up);
}

int h_finish_scripts(struct harness *h)
{
    static uint8_t out[5000];
    int any = 0;
    memset(out, 'x', sizeof out);
    for (size_t p = 0; p < h->n_parts; p++) {
        struct h_part *pa = &h->parts[p];
        for (size_t i = 0; i < pa->n_scripts && !pa->dead;) {
            struct h_script s = pa->scripts[i];
            struct tsc_stage_result r = {.start_us = 10, .end_us = 20};
            if (s.killed) {
                r.status = TSC_RESULT_CANCELLED;
                r.signal = 9;
            } else if (s.behave == H_HANG && h->now >= s.deadline) {
                r.status = TSC_RESULT_TIMEOUT;
                r.signal = 9;
            } else if (s.behave == H_FAIL) {
                r.status = TSC_RESULT_FAILED;
                r.exit_code = 1;
                r.output = out; /* longer than a report carries */
                r.output_len = sizeof out;
                r.message = "exit 1";
                r.message_len = 6;
            } else if (s.behave == H_ERROR) {
                r.status = TSC_RESULT_ERROR;
                r.message = "spawn: no such file";
                r.message_len = strlen(r.message);
            } else if (s.behave != H_HANG && s.behave != H_STUCK) {
                r.status = TSC_RESULT_PASSED;
                r.output = (const uint8_t *)"ok\n";
                r.output_len = 3;
            } else {
                i++;
                continue;
            }
            pa->scripts[i] = pa->scripts[--pa->n_scripts];
            struct tsc_part_event ev = {
                .type = TSC_PART_EV_DONE, .run = s.run, .stage = s.stage, .result = &r};
            h__part_step(h, p, &ev);
            any = 1;
        }
    }
    return any;
}

void h_restart_part(struct harness *h, size_t p)
{
    struct h_part *pa = &h->parts[p];
    tsc_part_free(pa->eng);
    assert_int_equal(tsc_part_new(&pa->eng, pa->id), 0);
    pa->n_scripts = 0; /* the old process's scripts: killed as leftovers */
    for (size_t i = 0; i < pa->n_store; i++) {
        struct h_stored s = pa->store[i];
        struct tsc_stage_result r = {.status = s.status, .message = ""};
        struct tsc_part_event ev = {.type = TSC_PART_EV_RESTORE,
                                    .run = s.run,
                                    .stage = s.stage,
                                    .state = s.state,
                                    .result = s.state == TSC_PART_DONE ? &r : NULL};
        h__part_step(h, p, &ev);
    }
}

size_t h_spawns(const struct harness *h, size_t p, uint64_t run, uint32_t stage)
{
    size_t n = 0;
    for (size_t i = 0; i < h->parts[p].n_spawned; i++)
        n += h->parts[p].spawned[i].run == run && h->parts[p].spawned[i].stage == stage;
    return n;
}
