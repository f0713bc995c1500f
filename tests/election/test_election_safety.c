/* tsc — the election engine under many seeds, on the in-test network of
 * harness.c: the failover time distribution (virtual time) and randomised
 * fault runs with the safety invariants checked after every step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/time.h"
#include "tests/election/harness.h"
#include "wire/raft.h"

static struct eh_net net;

#define LAT_LO TSC_USEC(500)
#define LAT_HI TSC_MSEC(2)

static void assert_no_violation(void)
{
    if (net.violations != 0)
        fail_msg("invariant violated: %s", net.first_violation);
}

static const struct tsc_election_stats *st(int i)
{
    return tsc_election_stats(net.e[i]);
}

struct not_leader_ctx {
    int old;
};

static int new_leader_known(struct eh_net *n, void *p)
{
    struct not_leader_ctx *c = p;
    int l = eh_agreed_leader(n);
    return l >= 0 && l != c->old;
}

struct committed_ctx {
    uint64_t index;
};

static int all_committed(struct eh_net *n, void *p)
{
    struct committed_ctx *c = p;
    for (int i = 0; i < n->n_voters; i++)
        if (n->e[i] && tsc_election_commit_index(n->e[i]) < c->index)
            return 0;
    return 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Crash the leader; time until every live voter agrees on an acting new
 * leader, over many seeds. Prints the distribution (virtual time). */
static void failover(int voters, double loss, uint64_t lat_hi, uint64_t *p50, uint64_t *p99,
                     uint64_t *pmax)
{
    enum { SEEDS = 200 };
    uint64_t took[SEEDS];
    for (int s = 0; s < SEEDS; s++) {
        eh_init(&net, voters, voters, NULL, 1000 + (uint64_t)s, LAT_LO, lat_hi);
        net.loss = loss;
        assert_true(eh_run_while_not(&net, eh_has_agreed_leader, NULL, TSC_SEC(10)));
        eh_run_until(&net, net.now + TSC_MSEC(300) + tsc_prng_below(&net.prng, TSC_MSEC(100)));
        struct not_leader_ctx c = {eh_agreed_leader(&net)};
        assert_true(c.old >= 0);
        uint64_t t0 = net.now;
        eh_crash(&net, c.old);
        assert_true(eh_run_while_not(&net, new_leader_known, &c, TSC_SEC(10)));
        took[s] = net.now - t0;
        assert_no_violation();
        eh_free(&net);
    }
    qsort(took, SEEDS, sizeof took[0], cmp_u64);
    *p50 = took[SEEDS / 2];
    *p99 = took[SEEDS * 99 / 100];
    *pmax = took[SEEDS - 1];
    printf("failover voters=%d loss=%.0f%% latency<=%llums: p50 %.0f ms, p99 %.0f ms, max %.0f "
           "ms (virtual, %d seeds)\n",
           voters, loss * 100, (unsigned long long)(lat_hi / 1000), (double)*p50 / 1000.0,
           (double)*p99 / 1000.0, (double)*pmax / 1000.0, SEEDS);
}

static void test_failover_bound(void **state)
{
    (void)state;
    uint64_t p50, p99, pmax;
    failover(3, 0, LAT_HI, &p50, &p99, &pmax);
    assert_true(p50 <= TSC_MSEC(300));
    assert_true(p99 <= TSC_SEC(1));
    failover(5, 0, LAT_HI, &p50, &p99, &pmax);
    assert_true(p50 <= TSC_MSEC(300));
    assert_true(p99 <= TSC_SEC(1));
    failover(5, 0.05, TSC_MSEC(10), &p50, &p99, &pmax);
    assert_true(p50 <= TSC_MSEC(400));
    assert_true(p99 <= TSC_SEC(2));
}

/* Randomised runs: message loss, duplication, reordering by random delay,
 * symmetric and one-way partitions, crashes and restarts from disk, and a
 * client appending at whoever leads. The harness checks the invariants after
 * every step; at the end the faults stop and one leader must emerge that
 * every voter knows, with every acknowledged record in every log. */
struct run_totals {
    uint64_t steps, delivered, acked, elections, lease_stepdowns, max_term, crashes;
};
static struct run_totals totals;

static void random_run(uint64_t seed, int voters)
{
    eh_init(&net, voters, voters, NULL, seed, TSC_USEC(200), TSC_MSEC(5 + seed % 20));
    net.loss = (double)(seed % 4) * 0.05;
    net.dup = 0.02;
    struct tsc_prng r;
    tsc_prng_seed(&r, seed * 31 + 7);
    uint64_t end = net.now + TSC_SEC(15);
    int k = 0;
    while (net.now < end) {
        eh_run_until(&net, net.now + TSC_MSEC(20) + tsc_prng_below(&r, TSC_MSEC(60)));
        char rec[48];
        snprintf(rec, sizeof rec, "s%llu-r%d", (unsigned long long)seed, k++);
        eh_append(&net, rec);
        uint64_t dice = tsc_prng_below(&r, 100);
        int who = (int)tsc_prng_below(&r, (uint64_t)voters);
        if (dice < 4) {
            if (net.e[who]) {
                eh_crash(&net, who);
                totals.crashes++;
            }
        } else if (dice < 10) {
            if (!net.e[who])
                eh_start(&net, who);
        } else if (dice < 13) {
            eh_isolate(&net, (unsigned)tsc_prng_below(&r, 1u << voters));
        } else if (dice < 15) {
            int a = (int)tsc_prng_below(&r, (uint64_t)voters);
            net.cut[a][who] = 1; /* one-way */
        } else if (dice < 20) {
            eh_heal(&net);
        }
        if (net.violations)
            break;
    }
    eh_heal(&net);
    net.loss = 0;
    for (int i = 0; i < voters; i++)
        if (!net.e[i])
            eh_start(&net, i);
    if (!eh_run_while_not(&net, eh_has_agreed_leader, NULL, TSC_SEC(5)))
        fail_msg("seed %llu: no agreed leader after faults stopped", (unsigned long long)seed);
    int l = eh_agreed_leader(&net);
    eh_append(&net, "final");
    struct committed_ctx c = {tsc_election_last_index(net.e[l])};
    if (!eh_run_while_not(&net, all_committed, &c, TSC_SEC(3)))
        fail_msg("seed %llu: final record not committed everywhere", (unsigned long long)seed);
    eh_check_logs(&net);
    if (net.violations)
        fail_msg("seed %llu: %s", (unsigned long long)seed, net.first_violation);
    totals.steps += net.steps;
    totals.delivered += net.delivered;
    totals.acked += net.n_acked;
    for (int i = 0; i < voters; i++) {
        totals.elections += st(i)->elections;
        totals.lease_stepdowns += st(i)->lease_stepdowns;
        if (tsc_election_term(net.e[i]) > totals.max_term)
            totals.max_term = tsc_election_term(net.e[i]);
    }
    eh_free(&net);
}

static void test_randomised_safety(void **state)
{
    (void)state;
    /* TSC_ELECTION_SEEDS=N runs a longer campaign by hand */
    const char *env = getenv("TSC_ELECTION_SEEDS");
    int SEEDS = env != NULL && atoi(env) > 0 ? atoi(env) : 200;
    memset(&totals, 0, sizeof totals);
    for (uint64_t seed = 1; seed <= (uint64_t)SEEDS; seed++)
        random_run(seed, seed % 3 == 0 ? 3 : 5);
    printf("randomised: %d seeds x 15 s, %llu steps, %llu deliveries, %llu crashes, %llu "
           "committed records, %llu elections (after restarts, counters restart), %llu lease "
           "step-downs, max term %llu, 0 violations\n",
           SEEDS, (unsigned long long)totals.steps, (unsigned long long)totals.delivered,
           (unsigned long long)totals.crashes, (unsigned long long)totals.acked,
           (unsigned long long)totals.elections, (unsigned long long)totals.lease_stepdowns,
           (unsigned long long)totals.max_term);
    /* the runs must have exercised something */
    assert_true(totals.acked > (uint64_t)SEEDS * 50);
    assert_true(totals.crashes > (uint64_t)SEEDS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failover_bound),
        cmocka_unit_test(test_randomised_safety),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
