/* tsc — the simulator's network model.
 *
 * Decides the fate of every message one node sends to another: dropped, or
 * delivered once or twice (duplication), each copy after its own one-way
 * latency. Reordering is not a separate knob: it emerges from the jitter,
 * and grows with the optional extra delays.
 *
 * Latency of a datagram: base + lognormal jitter (median, sigma), plus with
 * probability delay_p a uniform extra delay in [0, delay_max]. The defaults
 * model a LAN: ~0.5 ms median, a tail of a few ms.
 *
 * A stream (push-pull over TCP) is reliable unless a partition or a crash
 * separates the ends: it is never lost nor duplicated, and it takes three
 * one-way latencies (SYN, SYN-ACK, data) plus the transfer time of its bytes.
 *
 * Faults: a node that is down neither sends nor receives; a partition puts
 * each node in a group and drops messages between groups, in both directions
 * or (asymmetric) only from the lower group to the higher one.
 *
 * The model draws from the simulator's one PRNG, which it borrows; it holds
 * no other randomness, so the same seed gives the same fates. */
#ifndef TSC_SIM_NET_H
#define TSC_SIM_NET_H

#include <stddef.h>
#include <stdint.h>

#include "common/prng.h"

struct tsc_sim_net_config {
    uint64_t base_us;            /* fixed part of a one-way latency */
    uint64_t jitter_median_us;   /* median of the lognormal part; 0 = none */
    double jitter_sigma;         /* sigma of the lognormal part */
    double loss;                 /* datagram loss probability, [0, 1] */
    double dup;                  /* datagram duplication probability, [0, 1] */
    double delay_p;              /* probability of an extra delay, [0, 1] */
    uint64_t delay_max_us;       /* extra delay is uniform in [0, delay_max_us] */
    uint64_t stream_ns_per_byte; /* stream transfer time; 8 = 1 Gbit/s */
};

/* LAN defaults: base 200 µs, jitter median 300 µs sigma 0.8 (so the median
 * one-way latency is 0.5 ms and the 99.9th percentile about 4 ms), no loss,
 * no duplication, no extra delay, 1 Gbit/s streams. */
void tsc_sim_net_config_default(struct tsc_sim_net_config *c);

struct tsc_sim_net {
    struct tsc_sim_net_config cfg;
    struct tsc_prng *prng; /* borrowed: the simulator's */
    uint32_t n;
    uint8_t *down;   /* n flags */
    uint16_t *group; /* n partition groups; all 0 when healed */
    int partitioned; /* any group differs */
    int asymmetric;  /* drop only from lower to higher group */
    double spare;    /* Box-Muller's second normal */
    int has_spare;
    uint64_t dropped; /* messages the model dropped, for the stats */
    uint64_t duplicated;
};

/* Set up a model for n nodes, all up, no partition. prng must outlive net.
 * Returns 0 or TSC_ENOMEM. */
int tsc_sim_net_init(struct tsc_sim_net *net, const struct tsc_sim_net_config *cfg, uint32_t n,
                     struct tsc_prng *prng);

void tsc_sim_net_free(struct tsc_sim_net *net);

/* Mark a node down (crashed, stopped) or up again. */
void tsc_sim_net_set_down(struct tsc_sim_net *net, uint32_t node, int down);

/* Partition: groups[i] is node i's group (n entries, copied). With
 * asymmetric, only messages from a lower group to a higher group are lost. */
void tsc_sim_net_partition(struct tsc_sim_net *net, const uint16_t *groups, int asymmetric);

/* Remove every partition. */
void tsc_sim_net_heal(struct tsc_sim_net *net);

/* 1 when nothing from `from` can reach `to` right now (down or partitioned). */
int tsc_sim_net_blocked(const struct tsc_sim_net *net, uint32_t from, uint32_t to);

/* 1 when a partition separates `from` from `to` (ignores crashes). */
int tsc_sim_net_cut(const struct tsc_sim_net *net, uint32_t from, uint32_t to);

/* One sample of a one-way datagram latency in µs (>= 1). */
uint64_t tsc_sim_net_latency(struct tsc_sim_net *net);

/* Decide the fate of one message of len bytes from `from` to `to`. Writes the
 * one-way delay of each copy to delays and returns the number of copies: 0
 * (dropped), 1, or 2 (duplicated datagram). Streams give 0 or 1. */
unsigned tsc_sim_net_route(struct tsc_sim_net *net, uint32_t from, uint32_t to, int stream,
                           size_t len, uint64_t delays[2]);

#endif
