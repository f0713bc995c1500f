/* tsc — the barrier engines under a hostile schedule, many seeds.
 *
 * Per seed: 2..5 participants and 3 voters; scripts pass, fail, error, have
 * nothing to run, hang until their timeout, or hang until killed, by a hash
 * of (seed, machine, run, stage) (on even seeds nearly all pass, so runs get
 * long). A chaos phase then picks actions at
 * random: deliver any message in flight (dropping some, duplicating some),
 * let scripts end, commit proposals (losing some), let time pass, switch
 * the leader, restart a participant's agent or a voter, submit and cancel
 * runs, let a machine die. The harness checks the barrier invariant, that
 * no (run, stage) is spawned twice, that decisions tell the truth and that
 * the voters agree, after every action. A calm phase follows (no losses,
 * one leader): every run must end. */
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
#include "tests/barrier/harness.h"

#ifdef TSC_SANITIZED_BUILD
#define SEEDS 500
#else
#define SEEDS 600
#endif
#define CHAOS_STEPS 3000

struct ctx {
    uint64_t seed;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static int behave(struct harness *h, size_t part, uint64_t run, uint32_t stage)
{
    const struct ctx *c = h->ctx;
    uint64_t v = mix(c->seed * 1000003u + part * 7919u + run * 104729u + stage) % 100;
    if (c->seed % 2 == 0) /* half the seeds: long runs, only hangs go wrong */
        return v < 96 ? H_PASS : v < 98 ? H_EMPTY : v < 99 ? H_HANG : H_STUCK;
    return v < 84   ? H_PASS
           : v < 88 ? H_FAIL
           : v < 93 ? H_EMPTY
           : v < 96 ? H_HANG
           : v < 98 ? H_STUCK
           : v < 99 ? H_ERROR
                    : H_PASS;
}

static void drop_msg(struct harness *h, size_t i)
{
    free(h->net[i].bytes);
    h->net[i] = h->net[--h->n_net];
}

static void drop_proposal(struct harness *h, size_t i)
{
    tsc_buf_free(&h->pending[i]);
    h->pending[i] = h->pending[--h->n_pending];
}

static void chaos_step(struct harness *h, struct tsc_prng *r, int *killed, int *cancelled)
{
    uint64_t x = tsc_prng_below(r, 1000);
    if (x < 450 && h->n_net > 0) {
        size_t i = (size_t)tsc_prng_below(r, h->n_net);
        uint64_t y = tsc_prng_below(r, 100);
        if (y < 10)
            drop_msg(h, i);
        else
            h_deliver(h, i, y < 20);
    } else if (x < 550) {
        h_finish_scripts(h);
    } else if (x < 650) {
        if (h->n_pending > 0 && tsc_prng_below(r, 100) < 10)
            drop_proposal(h, (size_t)tsc_prng_below(r, h->n_pending));
        h_commit(h);
    } else if (x < 800) {
        if (tsc_prng_below(r, 2))
            h_advance(h, h->now + TSC_SEC(3));
        else {
            h->now += tsc_prng_below(r, TSC_MSEC(1500));
            h_advance(h, h->now);
        }
    } else if (x < 830) {
        h_set_leader(h, (size_t)tsc_prng_below(r, h->n_coords));
    } else if (x < 850) {
        if (h->n_runs < 4)
            h_submit(h, (uint32_t)tsc_prng_below(r, 6), h->n_runs + 1);
    } else if (x < 860) {
        size_t p = (size_t)tsc_prng_below(r, h->n_parts);
        if (!h->parts[p].dead)
            h_restart_part(h, p);
    } else if (x < 870) {
        size_t c = (size_t)tsc_prng_below(r, h->n_coords);
        if (c != h->leader)
            h_restart_coord(h, c);
    } else if (x < 875) {
        if (!*cancelled && h->n_runs > 0 && tsc_prng_below(r, 4) == 0) {
            h_cancel(h, h->runs[tsc_prng_below(r, h->n_runs)]);
            *cancelled = 1;
        }
    } else if (x < 880) {
        if (!*killed && tsc_prng_below(r, 20) == 0) {
            h_kill_part(h, (size_t)tsc_prng_below(r, h->n_parts));
            *killed = 1;
        }
    } else if (h->n_net > 0) {
        h_deliver(h, 0, 0);
    }
}

static void one_seed(uint64_t seed)
{
    struct harness h;
    struct tsc_prng r;
    struct ctx c = {seed};
    int killed = 0, cancelled = 0;
    tsc_prng_seed(&r, seed);
    h_init(&h, 2 + (size_t)tsc_prng_below(&r, 4), 3, NULL);
    h.behave = behave;
    h.ctx = &c;
    h.stage_timeout = TSC_SEC(5);
    h_submit(&h, (uint32_t)tsc_prng_below(&r, 4), 1);
    for (int i = 0; i < CHAOS_STEPS; i++)
        chaos_step(&h, &r, &killed, &cancelled);
    if (h.leader >= h.n_coords)
        h_set_leader(&h, 0);
    h_settle(&h, TSC_SEC(7200));
    if (!h_all_finished(&h))
        fail_msg("seed %llu: a run did not end", (unsigned long long)seed);
    h_free(&h);
}

static void test_random_schedules(void **state)
{
    for (uint64_t seed = 1; seed <= SEEDS; seed++)
        one_seed(seed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_schedules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
