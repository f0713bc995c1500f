/* tsc — unit tests of the simulator's own parts: the event heap, the network
 * model, the command line, percentiles and the trace hash. No engine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/prng.h"
#include "sim/heap.h"
#include "sim/net.h"
#include "sim/sim.h"
#include "sim/stats.h"

/* ---- heap ---- */

static void heap_orders_by_time_then_seq(void **state)
{
    struct tsc_sim_heap h;
    tsc_sim_heap_init(&h);
    struct tsc_prng p;
    tsc_prng_seed(&p, 42);
    enum { N = 20000 };
    /* Few distinct times, so ties are common: they must pop in push order. */
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(tsc_sim_heap_push(&h, tsc_prng_below(&p, 50), TSC_SIM_EV_TICK, i, 0, 0),
                         0);
    assert_int_equal(tsc_sim_heap_size(&h), N);
    struct tsc_sim_ev prev = {0}, ev;
    for (uint32_t i = 0; i < N; i++) {
        assert_non_null(tsc_sim_heap_peek(&h));
        assert_int_equal(tsc_sim_heap_pop(&h, &ev), 0);
        if (i) {
            assert_true(ev.time >= prev.time);
            if (ev.time == prev.time) {
                assert_true(ev.seq > prev.seq);
                assert_true(ev.node > prev.node); /* node = push order here */
            }
        }
        prev = ev;
    }
    assert_int_equal(tsc_sim_heap_pop(&h, &ev), TSC_ENOTFOUND);
    assert_null(tsc_sim_heap_peek(&h));
    tsc_sim_heap_free(&h);
}

static void heap_interleaved_push_pop(void **state)
{
    struct tsc_sim_heap h;
    tsc_sim_heap_init(&h);
    struct tsc_prng p;
    tsc_prng_seed(&p, 7);
    uint64_t now = 0;
    size_t live = 0;
    /* A simulation-like pattern: pop the earliest, push a few later ones. */
    assert_int_equal(tsc_sim_heap_push(&h, 0, TSC_SIM_EV_TICK, 0, 0, 0), 0);
    live = 1;
    for (int step = 0; step < 100000 && live; step++) {
        struct tsc_sim_ev ev;
        assert_int_equal(tsc_sim_heap_pop(&h, &ev), 0);
        live--;
        assert_true(ev.time >= now);
        now = ev.time;
        unsigned k = (unsigned)tsc_prng_below(&p, live < 1000 ? 3 : 1);
        for (unsigned j = 0; j < k; j++, live++)
            assert_int_equal(
                tsc_sim_heap_push(&h, now + tsc_prng_below(&p, 1000), TSC_SIM_EV_DATAGRAM, 1, 2, 3),
                0);
    }
    assert_int_equal(tsc_sim_heap_size(&h), live);
    tsc_sim_heap_free(&h);
}

/* ---- network model ---- */

static void net_setup(struct tsc_sim_net *net, struct tsc_prng *p, uint32_t n, double loss,
                      double dup)
{
    struct tsc_sim_net_config c;
    tsc_sim_net_config_default(&c);
    c.loss = loss;
    c.dup = dup;
    tsc_prng_seed(p, 1234);
    assert_int_equal(tsc_sim_net_init(net, &c, n, p), 0);
}

static void net_latency_is_lan_like(void **state)
{
    struct tsc_sim_net net;
    struct tsc_prng p;
    net_setup(&net, &p, 4, 0, 0);
    enum { N = 100000 };
    double *v = malloc(N * sizeof(*v));
    assert_non_null(v);
    for (int i = 0; i < N; i++) {
        uint64_t d = tsc_sim_net_latency(&net);
        assert_true(d >= net.cfg.base_us);
        v[i] = (double)d;
    }
    double p50 = tsc_sim_percentile(v, N, 50);
    double p99 = tsc_sim_percentile(v, N, 99);
    double p999 = tsc_sim_percentile(v, N, 99.9);
    /* Median ~0.5 ms; a tail of a few ms. */
    assert_true(p50 > 450 && p50 < 550);
    assert_true(p99 > 1000 && p99 < 3000);
    assert_true(p999 > 1500 && p999 < 8000);
    free(v);
    tsc_sim_net_free(&net);
}

static void net_loss_and_duplication_rates(void **state)
{
    struct tsc_sim_net net;
    struct tsc_prng p;
    net_setup(&net, &p, 4, 0.1, 0.05);
    enum { N = 200000 };
    unsigned copies[3] = {0};
    uint64_t d[2];
    for (int i = 0; i < N; i++)
        copies[tsc_sim_net_route(&net, 0, 1, 0, 100, d)]++;
    double lost = (double)copies[0] / N, dup = (double)copies[2] / N;
    assert_true(lost > 0.095 && lost < 0.105);
    /* Duplication applies to the datagrams that were not lost. */
    assert_true(dup > 0.9 * 0.045 && dup < 0.9 * 0.055);
    /* Streams are reliable: loss never applies. */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(tsc_sim_net_route(&net, 0, 1, 1, 100000, d), 1);
    tsc_sim_net_free(&net);
}

static void net_stream_takes_a_few_rtts(void **state)
{
    struct tsc_sim_net net;
    struct tsc_prng p;
    net_setup(&net, &p, 2, 0, 0);
    uint64_t d[2], sum = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(tsc_sim_net_route(&net, 0, 1, 1, 1000000, d), 1);
        assert_true(d[0] >= 3 * net.cfg.base_us + 8000); /* 1 MB at 1 Gbit/s = 8 ms */
        sum += d[0];
    }
    assert_true(sum / 1000 < 20000);
    tsc_sim_net_free(&net);
}

static void net_partitions_and_crashes(void **state)
{
    struct tsc_sim_net net;
    struct tsc_prng p;
    net_setup(&net, &p, 4, 0, 0);
    uint64_t d[2];
    /* Everything is up after init. */
    assert_false(tsc_sim_net_blocked(&net, 0, 3));
    uint16_t g[4] = {0, 0, 1, 1};
    tsc_sim_net_partition(&net, g, 0);
    assert_false(tsc_sim_net_blocked(&net, 0, 1));
    assert_true(tsc_sim_net_blocked(&net, 0, 2));
    assert_true(tsc_sim_net_blocked(&net, 3, 1));
    assert_int_equal(tsc_sim_net_route(&net, 0, 2, 1, 10, d), 0); /* streams too */
    assert_int_equal(tsc_sim_net_route(&net, 2, 3, 0, 10, d), 1);
    /* One-way: the lower group cannot reach the higher, but hears it. */
    tsc_sim_net_partition(&net, g, 1);
    assert_true(tsc_sim_net_blocked(&net, 0, 2));
    assert_false(tsc_sim_net_blocked(&net, 2, 0));
    assert_true(tsc_sim_net_cut(&net, 1, 3));
    assert_false(tsc_sim_net_cut(&net, 3, 1));
    tsc_sim_net_heal(&net);
    assert_false(tsc_sim_net_blocked(&net, 0, 2));
    assert_false(net.partitioned);
    /* A node that is down neither sends nor receives. */
    tsc_sim_net_set_down(&net, 1, 1);
    assert_true(tsc_sim_net_blocked(&net, 0, 1));
    assert_true(tsc_sim_net_blocked(&net, 1, 0));
    assert_false(tsc_sim_net_cut(&net, 0, 1)); /* a crash is no partition */
    assert_int_equal(tsc_sim_net_route(&net, 1, 2, 1, 10, d), 0);
    tsc_sim_net_set_down(&net, 1, 0);
    assert_false(tsc_sim_net_blocked(&net, 0, 1));
    /* Out-of-range nodes are unreachable, not a crash. */
    assert_true(tsc_sim_net_blocked(&net, 0, 4));
    tsc_sim_net_free(&net);
}

static void net_is_deterministic(void **state)
{
    struct tsc_sim_net a, b;
    struct tsc_prng pa, pb;
    net_setup(&a, &pa, 8, 0.2, 0.1);
    net_setup(&b, &pb, 8, 0.2, 0.1);
    for (int i = 0; i < 10000; i++) {
        uint64_t da[2], db[2];
        unsigned ca = tsc_sim_net_route(&a, (uint32_t)i % 8, (uint32_t)(i + 1) % 8, i % 7 == 0,
                                        (size_t)i, da);
        unsigned cb = tsc_sim_net_route(&b, (uint32_t)i % 8, (uint32_t)(i + 1) % 8, i % 7 == 0,
                                        (size_t)i, db);
        assert_int_equal(ca, cb);
        for (unsigned k = 0; k < ca; k++)
            assert_int_equal(da[k], db[k]);
    }
    tsc_sim_net_free(&a);
    tsc_sim_net_free(&b);
}

/* ---- command line ---- */

static int parse(struct tsc_sim_opts *o, const char *line, char *errmsg)
{
    static char buf[512]; /* opts point into it after return */
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof(buf), "%s", line);
    argv[argc++] = "tscsim";
    for (char *t = strtok(buf, " "); t && argc < 31; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    errmsg[0] = 0;
    return tsc_sim_args_parse(o, argc, argv, errmsg);
}

static void args_good(void **state)
{
    struct tsc_sim_opts o;
    char em[TSC_ERRMSG_SIZE];
    assert_int_equal(parse(&o, "converge --nodes 1000 --seed 7 --loss 0.1 --json", em), 0);
    assert_int_equal(o.scenario, TSC_SIM_CONVERGE);
    assert_int_equal(o.nodes, 1000);
    assert_int_equal(o.seed, 7);
    assert_true(o.loss > 0.099 && o.loss < 0.101);
    assert_true(o.json);
    assert_int_equal(parse(&o,
                           "crash --nodes=50 --kill 3 --duration 600 --crypto sodium "
                           "--probe-interval-ms 100 --trace /tmp/x",
                           em),
                     0);
    assert_int_equal(o.scenario, TSC_SIM_CRASH);
    assert_int_equal(o.kill, 3);
    assert_true(o.duration_s == 600);
    assert_int_equal(o.crypto, TSC_SIM_CRYPTO_SODIUM);
    assert_int_equal(o.probe_interval_ms, 100);
    assert_string_equal(o.trace_path, "/tmp/x");
    assert_int_equal(parse(&o, "campaign --seeds 17..217 --nodes 30", em), 0);
    assert_int_equal(o.seed_first, 17);
    assert_int_equal(o.seed_last, 217);
    assert_int_equal(parse(&o, "partition --seed 0x10", em), 0);
    assert_int_equal(o.seed, 16);
    assert_int_equal(parse(&o, "--help", em), 0);
    assert_true(o.help);
}

static void args_bad(void **state)
{
    static const char *const bad[] = {
        "",                               /* no scenario */
        "conv",                           /* unknown scenario */
        "converge --nodes",               /* missing value */
        "converge --nodes 0",             /* out of range */
        "converge --nodes 200000",        /* beyond 198.18.0.0/15 */
        "converge --nodes 12x",           /* not a number */
        "converge --nodes -5",            /* negative */
        "converge --loss 1",              /* loss must be < 1 */
        "converge --loss nan",            /* not finite */
        "converge --kill 3",              /* kill is for crash */
        "converge --frobnicate",          /* unknown flag */
        "converge --json=1",              /* takes no value */
        "crash --nodes 10 --kill 10",     /* kill >= nodes */
        "crash --duration 0",             /* duration must be > 0 */
        "campaign --seeds 5..3",          /* reversed range */
        "campaign --seeds 5",             /* not a range */
        "campaign --loss 0.1",            /* loss is drawn per seed */
        "campaign --nodes 2",             /* too few for a campaign */
        "partition --nodes 1",            /* nothing to partition */
        "converge --crypto none",         /* unknown crypto */
        "converge --probe-interval-ms 0", /* out of range */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tsc_sim_opts o;
        char em[TSC_ERRMSG_SIZE];
        int rc = parse(&o, bad[i], em);
        if (rc != TSC_EINVAL)
            fail_msg("accepted: '%s'", bad[i]);
        assert_true(strlen(em) > 0);
    }
}

/* ---- stats ---- */

static void percentiles(void **state)
{
    double v[] = {4, 1, 3, 2};
    assert_true(tsc_sim_percentile(v, 4, 50) == 2.5);
    assert_true(tsc_sim_percentile(v, 4, 0) == 1);
    assert_true(tsc_sim_percentile(v, 4, 100) == 4);
    double one[] = {7};
    assert_true(tsc_sim_percentile(one, 1, 50) == 7);
    double many[101];
    for (int i = 0; i <= 100; i++)
        many[i] = 100 - i;
    assert_true(tsc_sim_percentile(many, 101, 99) == 99);
}

static void hash_is_stable_and_sensitive(void **state)
{
    uint8_t a[100], b[100];
    for (int i = 0; i < 100; i++)
        a[i] = b[i] = (uint8_t)i;
    uint64_t ha = tsc_sim_hash(TSC_SIM_HASH_INIT, a, sizeof(a));
    assert_true(ha == tsc_sim_hash(TSC_SIM_HASH_INIT, b, sizeof(b)));
    b[57] ^= 1;
    assert_true(ha != tsc_sim_hash(TSC_SIM_HASH_INIT, b, sizeof(b)));
    /* Length matters even when the extra bytes are zero. */
    uint8_t z[9] = {0};
    assert_true(tsc_sim_hash(TSC_SIM_HASH_INIT, z, 8) != tsc_sim_hash(TSC_SIM_HASH_INIT, z, 9));
    assert_true(tsc_sim_hash_u64(1, 2) != tsc_sim_hash_u64(2, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(heap_orders_by_time_then_seq),
        cmocka_unit_test(heap_interleaved_push_pop),
        cmocka_unit_test(net_latency_is_lan_like),
        cmocka_unit_test(net_loss_and_duplication_rates),
        cmocka_unit_test(net_stream_takes_a_few_rtts),
        cmocka_unit_test(net_partitions_and_crashes),
        cmocka_unit_test(net_is_deterministic),
        cmocka_unit_test(args_good),
        cmocka_unit_test(args_bad),
        cmocka_unit_test(percentiles),
        cmocka_unit_test(hash_is_stable_and_sensitive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
