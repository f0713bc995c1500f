/* tsc — network model: latency, loss, duplication, partitions, crashes. */
#include "sim/net.h"

#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"

#define TSC_SIM_PI 3.14159265358979323846

void tsc_sim_net_config_default(struct tsc_sim_net_config *c)
{
    memset(c, 0, sizeof(*c));
    c->base_us = 200;
    c->jitter_median_us = 300;
    c->jitter_sigma = 0.8;
    c->stream_ns_per_byte = 8;
}

int tsc_sim_net_init(struct tsc_sim_net *net, const struct tsc_sim_net_config *cfg, uint32_t n,
                     struct tsc_prng *prng)
{
    memset(net, 0, sizeof(*net));
    net->cfg = *cfg;
    net->prng = prng;
    net->n = n;
    net->down = tsc_calloc(n ? n : 1, sizeof(*net->down));
    net->group = tsc_calloc(n ? n : 1, sizeof(*net->group));
    if (!net->down || !net->group) {
        tsc_sim_net_free(net);
        return TSC_ENOMEM;
    }
    return 0;
}

void tsc_sim_net_free(struct tsc_sim_net *net)
{
    tsc_free(net->down);
    tsc_free(net->group);
    net->down = NULL;
    net->group = NULL;
}

void tsc_sim_net_set_down(struct tsc_sim_net *net, uint32_t node, int down)
{
    if (node < net->n)
        net->down[node] = down ? 1 : 0;
}

void tsc_sim_net_partition(struct tsc_sim_net *net, const uint16_t *groups, int asymmetric)
{
    memcpy(net->group, groups, (size_t)net->n * sizeof(*net->group));
    net->partitioned = 0;
    for (uint32_t i = 1; i < net->n; i++)
        if (net->group[i] != net->group[0])
            net->partitioned = 1;
    net->asymmetric = asymmetric ? 1 : 0;
}

void tsc_sim_net_heal(struct tsc_sim_net *net)
{
    memset(net->group, 0, (size_t)net->n * sizeof(*net->group));
    net->partitioned = 0;
    net->asymmetric = 0;
}

int tsc_sim_net_blocked(const struct tsc_sim_net *net, uint32_t from, uint32_t to)
{
    if (from >= net->n || to >= net->n)
        return 1;
    if (net->down[from] || net->down[to])
        return 1;
    return tsc_sim_net_cut(net, from, to);
}

int tsc_sim_net_cut(const struct tsc_sim_net *net, uint32_t from, uint32_t to)
{
    if (!net->partitioned || from >= net->n || to >= net->n)
        return 0;
    uint16_t gf = net->group[from], gt = net->group[to];
    if (gf == gt)
        return 0;
    /* Asymmetric: the lower group cannot reach the higher one, but hears it. */
    return net->asymmetric ? gf < gt : 1;
}

/* A standard normal sample (Box-Muller, both values used). */
static double normal(struct tsc_sim_net *net)
{
    if (net->has_spare) {
        net->has_spare = 0;
        return net->spare;
    }
    double u1 = 1.0 - tsc_prng_double(net->prng); /* (0, 1]: log() stays finite */
    double u2 = tsc_prng_double(net->prng);
    double r = sqrt(-2.0 * log(u1));
    double a = 2.0 * TSC_SIM_PI * u2;
    net->spare = r * sin(a);
    net->has_spare = 1;
    return r * cos(a);
}

uint64_t tsc_sim_net_latency(struct tsc_sim_net *net)
{
    const struct tsc_sim_net_config *c = &net->cfg;
    double us = (double)c->base_us;
    if (c->jitter_median_us)
        us += (double)c->jitter_median_us * exp(c->jitter_sigma * normal(net));
    if (c->delay_p > 0 && tsc_prng_double(net->prng) < c->delay_p)
        us += (double)tsc_prng_below(net->prng, c->delay_max_us + 1);
    /* A pathological sigma could overflow the tail; a minute is plenty. */
    if (us > 60e6)
        us = 60e6;
    return us < 1.0 ? 1 : (uint64_t)us;
}

unsigned tsc_sim_net_route(struct tsc_sim_net *net, uint32_t from, uint32_t to, int stream,
                           size_t len, uint64_t delays[2])
{
    if (tsc_sim_net_blocked(net, from, to)) {
        net->dropped++;
        return 0;
    }
    if (stream) {
        uint64_t d = tsc_sim_net_latency(net) + tsc_sim_net_latency(net) +
                     tsc_sim_net_latency(net) + (uint64_t)len * net->cfg.stream_ns_per_byte / 1000;
        delays[0] = d;
        return 1;
    }
    if (net->cfg.loss > 0 && tsc_prng_double(net->prng) < net->cfg.loss) {
        net->dropped++;
        return 0;
    }
    delays[0] = tsc_sim_net_latency(net);
    if (net->cfg.dup > 0 && tsc_prng_double(net->prng) < net->cfg.dup) {
        delays[1] = tsc_sim_net_latency(net);
        net->duplicated++;
        return 2;
    }
    return 1;
}
