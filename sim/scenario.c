/* tsc — the shared part of every scenario: building a world from the
 * options, bootstrapping a converged cluster, and running with progress. */
#include "sim/scenario.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/time.h"
#include "sim/coord.h"
#include "sim/runs.h"
#include "sim/stats.h"

double tsc__sim_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tsc__sim_gossip_config(const struct tsc_sim_opts *o, struct tsc_gossip_config *c)
{
    tsc_gossip_config_default(c);
    if (o->probe_interval_ms) {
        c->probe_interval = TSC_MSEC(o->probe_interval_ms);
        /* The probe timeout must leave room for the indirect probes within
         * the interval; keep the engine's ratio when the interval shrinks. */
        if (c->probe_timeout * 2 > c->probe_interval)
            c->probe_timeout = c->probe_interval / 2;
    }
}

int tsc__sim_setup(const struct tsc_sim_opts *o, uint64_t seed, FILE *trace,
                   struct tsc_sim_world **w, char *errmsg)
{
    struct tsc_sim_world_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.seed = seed;
    cfg.nodes = o->nodes;
    if (o->crypto == TSC_SIM_CRYPTO_SODIUM) {
        if (tsc_crypto_init()) {
            tsc_errmsg_setf(errmsg, "libsodium initialisation failed");
            return TSC_EIO;
        }
        cfg.crypto = &tsc_crypto_sodium;
    } else {
        cfg.crypto = &tsc_crypto_cheap;
    }
    tsc__sim_gossip_config(o, &cfg.gossip);
    tsc_sim_net_config_default(&cfg.net);
    cfg.net.loss = o->loss;
    cfg.net.dup = o->dup;
    cfg.trace = trace;
    int rc = tsc_sim_world_new(w, &cfg, errmsg);
    int elect = o->scenario == TSC_SIM_ELECTION || o->scenario == TSC_SIM_FAILOVER ||
                o->scenario == TSC_SIM_CAMPAIGN || o->scenario == TSC_SIM_BARRIER;
    int runs = o->scenario == TSC_SIM_BARRIER || (o->scenario == TSC_SIM_CAMPAIGN && o->runs);
    if (rc == 0 && elect && o->voters > 0) {
        /* The campaign's client offers a record every 100 ms. */
        uint64_t client = o->scenario == TSC_SIM_CAMPAIGN ? TSC_MSEC(100) : 0;
        rc = tsc_sim_coord_enable(*w, o->voters, o->drift, o->lease_us, client, errmsg);
        if (rc == 0 && runs) {
            struct tsc_sim_runs_config rcfg;
            tsc_sim_runs_config_default(&rcfg);
            if (o->scenario == TSC_SIM_BARRIER) {
                /* One run on every node, scripts that end at once: what
                 * is measured is the barrier itself. */
                rcfg.submit_every_us = 0;
                rcfg.parts_max = 0;
                rcfg.cases_min = rcfg.cases_max = o->cases;
                rcfg.stage_timeout_ms = 30000;
                rcfg.dur_max_us = 0;
                rcfg.p_fail = rcfg.p_hang = rcfg.p_stuck = rcfg.p_empty = rcfg.p_cancel = 0;
                rcfg.measure = 1;
            }
            rc = tsc_sim_runs_enable(*w, &rcfg, errmsg);
        }
        if (rc) {
            tsc_sim_world_free(*w);
            *w = NULL;
        }
    }
    return rc;
}

int tsc__sim_run_for(struct tsc_sim_world *w, const struct tsc_sim_opts *o, uint64_t until,
                     tsc_sim_pred_fn pred, void *arg, int *met, char *errmsg)
{
    int rc;
    if (!o->verbose) {
        rc = tsc_sim_world_run(w, until, pred, arg, TSC_MSEC(10), met);
    } else {
        /* In slices of virtual time, with a line of progress each. */
        double t0 = tsc__sim_wall();
        int m = 0;
        do {
            uint64_t slice = w->now < TSC_SEC(10) ? TSC_SEC(1) : TSC_SEC(10);
            uint64_t stop = until - w->now > slice ? w->now + slice : until;
            rc = tsc_sim_world_run(w, stop, pred, arg, TSC_MSEC(10), &m);
            fprintf(stderr,
                    "tscsim: t=%.1fs up=%u events=%" PRIu64 " alive_pairs=%" PRIu64
                    " violations=%" PRIu64 " wall=%.1fs\n",
                    (double)w->now / 1e6, w->n_up, w->events, w->alive_pairs, w->violations,
                    tsc__sim_wall() - t0);
            if (!tsc_sim_all_alive(w, NULL)) {
                char why[300];
                tsc_sim_inv_explain(w, why, sizeof(why));
                fprintf(stderr, "tscsim:   %s\n", why);
            }
        } while (rc == 0 && !m && w->now < until);
        if (met)
            *met = m;
    }
    if (rc) {
        tsc_errmsg_setf(errmsg, "at t=%.6fs: %s", (double)w->now / 1e6, w->errmsg);
        return rc;
    }
    return 0;
}

int tsc__sim_bootstrap(struct tsc_sim_world *w, const struct tsc_sim_opts *o,
                       struct tsc_sim_result *r, char *errmsg)
{
    /* Every node joins node 0. A joiner gets node 0's state at the moment
     * it joins, so a plain staggered start leaves node i knowing only nodes
     * 0..i-1, and the rest must be gossiped: n records, each λ·log(n) times,
     * which takes tens of virtual seconds at n = 1000. Instead:
     *  1. node 0 starts deaf-mute (a one-way partition: it hears, it cannot
     *     send), and every other node starts and joins it, one virtual µs
     *     apart; node 0 learns every joiner, every joiner stays alone;
     *  2. 10 ms after the last join node 0 can talk again, and every node
     *     joins once more, again 1 µs apart: each is still alone, so it
     *     push-pulls, and node 0 now hands it the full membership.
     * The second round is over before the first full state lands anywhere,
     * so no joiner hears gossip first (a node that knows a live peer does
     * not push-pull on JOIN). Node 0 is mute for far less than a probe
     * timeout, so its first probe, if it fell in that window, still
     * succeeds through the indirect path: nobody is suspected. Virtual time
     * costs nothing, so the bursts cost nothing either. */
    uint64_t t0 = w->now;
    uint64_t heal = t0 + (uint64_t)w->n + TSC_MSEC(10);
    int rc = 0;
    for (uint32_t i = 0; i < w->n && rc == 0; i++)
        rc = tsc_sim_world_schedule(w, t0 + i, TSC_SIM_EV_START, i, 0, i ? 1 : 0);
    for (uint32_t i = 1; i < w->n && rc == 0; i++)
        rc = tsc_sim_world_schedule(w, heal + i, TSC_SIM_EV_JOIN, i, 0, 1);
    if (rc) {
        tsc_errmsg_setf(errmsg, "bootstrap: %s", w->errmsg);
        return rc;
    }
    uint16_t *groups = tsc_calloc(w->n, sizeof(*groups));
    if (!groups) {
        tsc_errmsg_setf(errmsg, "bootstrap: out of memory");
        return TSC_ENOMEM;
    }
    for (uint32_t i = 1; i < w->n; i++)
        groups[i] = 1;
    tsc_sim_net_partition(&w->net, groups, 1);
    tsc_free(groups);
    rc = tsc__sim_run_for(w, o, heal, NULL, NULL, NULL, errmsg);
    tsc_sim_net_heal(&w->net);
    tsc_sim_coord_reach_update(w); /* the election's links (no-op without one) */
    uint64_t limit = heal + TSC_SEC(120);
    int met = 0;
    if (rc == 0)
        rc = tsc__sim_run_for(w, o, limit, tsc_sim_all_alive, NULL, &met, errmsg);
    if (rc) {
        tsc_errmsg_wrapf(errmsg, "bootstrap");
        return rc;
    }
    r->bootstrap_s = (double)(w->now - t0) / 1e6;
    if (!met) {
        char why[300];
        tsc_sim_inv_explain(w, why, sizeof(why));
        tsc_errmsg_setf(errmsg, "bootstrap: no convergence after %.1f virtual seconds: %s",
                        r->bootstrap_s, why);
        return TSC_ETIMEDOUT;
    }
    if (o->verbose)
        fprintf(stderr, "tscsim: bootstrap converged after %.3f virtual s, %" PRIu64 " events\n",
                r->bootstrap_s, w->events);
    return 0;
}

int tsc__sim_quiesce(struct tsc_sim_world *w, const struct tsc_sim_opts *o,
                     struct tsc_sim_result *r, char *errmsg)
{
    /* After a cold start the nodes gossip what the bootstrap taught them
     * (how much depends on the engine's queue), in full datagrams.
     * Measurements of "normal operation" start when that is over: when a
     * second passes in which nodes sent little more than their probes (PING
     * + ACK per probe interval) plus half the gossip fan-out, or in which
     * their datagrams were at most half full on average (under loss,
     * suspicions and refutations keep a little gossip going for ever). */
    const struct tsc_gossip_config *g = &w->cfg.gossip;
    double probes = 2.0 * 1e6 / (double)g->probe_interval;
    double gossip = 0.5 * (double)g->gossip_fanout * 1e6 / (double)g->gossip_interval;
    double quiet = probes + gossip;
    uint64_t t0 = w->now, limit = w->now + TSC_SEC(60);
    for (;;) {
        uint64_t m0 = w->sent_msgs, b0 = w->sent_bytes;
        int rc = tsc__sim_run_for(w, o, w->now + TSC_SEC(1), NULL, NULL, NULL, errmsg);
        if (rc)
            return rc;
        double msgs = (double)(w->sent_msgs - m0);
        double rate = msgs / (w->n_up ? w->n_up : 1);
        double size = msgs > 0 ? (double)(w->sent_bytes - b0) / msgs : 0;
        if (rate < quiet || size < 0.5 * (double)g->max_datagram || w->now >= limit)
            break;
    }
    r->quiesce_s = (double)(w->now - t0) / 1e6;
    if (o->verbose)
        fprintf(stderr, "tscsim: gossip queues quiet after %.1f virtual s\n", r->quiesce_s);
    return 0;
}

void tsc__sim_collect(struct tsc_sim_world *w, struct tsc_sim_result *r)
{
    r->events += w->events;
    r->virtual_s += (double)w->now / 1e6;
    r->trace_hash = tsc_sim_hash_u64(r->trace_hash, w->trace_hash);
    r->sent_msgs += w->sent_msgs;
    r->sent_bytes += w->sent_bytes;
    r->delivered_msgs += w->delivered_msgs;
    if (w->coord) {
        r->appends += w->coord->appends;
        r->acked += w->coord->n_acked;
        r->lease_us = w->coord->cfg.lease;
        r->failovers += w->coord->leaderships;
    }
    if (w->runs) {
        struct tsc_sim_runs *rs = w->runs;
        r->runs_submitted += rs->submitted;
        r->runs_finished += rs->finished;
        r->runs_passed += rs->passed;
        r->runs_failed += rs->failed;
        r->runs_cancelled += rs->cancelled;
        r->stage_spawns += rs->spawns;
        r->stages_decided += rs->decisions;
        r->stages_lost += rs->lost;
        r->coord_kills_mid_run += rs->kills_mid_run;
        r->starts_fenced += rs->fenced;
        r->reports_rejected += rs->rejected;
    }
    if (w->violations && !r->violations)
        snprintf(r->first_violation, sizeof(r->first_violation), "%s", w->first_violation);
    r->violations += w->violations;
    for (int k = 0; k < TSC_SIM_V_MAX && k < TSC_SIM_KINDS; k++)
        r->violations_by_kind[k] += w->by_kind[k];
}

int tsc__sim_begin(const struct tsc_sim_opts *o, struct tsc_sim_result *r, FILE **trace,
                   char *errmsg)
{
    memset(r, 0, sizeof(*r));
    r->wall_s = tsc__sim_wall(); /* start time until tsc__sim_end */
    r->trace_hash = TSC_SIM_HASH_INIT;
    r->rounds_99 = r->rounds_9999 = r->rounds_100 = -1;
    r->seconds_99 = r->seconds_9999 = r->seconds_100 = -1;
    r->msgs_per_node_per_s = r->bytes_per_node_per_s = -1;
    r->detect_p50_s = r->detect_max_s = -1;
    r->detect_s = r->reconverge_s = -1;
    r->first_coordinator_s = -1;
    r->failover_p50_s = r->failover_p99_s = r->failover_max_s = -1;
    r->bootstrap_s = -1;
    r->quiesce_s = -1;
    r->transition_p50_s = r->transition_p99_s = r->transition_max_s = -1;
    r->transition_p50_rtt = r->transition_p99_rtt = r->transition_max_rtt = -1;
    r->report_p50_rtt = r->commit_p50_rtt = r->start_p50_rtt = -1;
    r->rtt_us = r->run_s = -1;
    *trace = NULL;
    if (o->trace_path) {
        *trace = fopen(o->trace_path, "w");
        if (!*trace) {
            tsc_errmsg_setf(errmsg, "--trace %s: cannot open for writing", o->trace_path);
            return TSC_EIO;
        }
    }
    return 0;
}

void tsc__sim_end(struct tsc_sim_result *r, FILE *trace)
{
    if (trace)
        fclose(trace);
    r->wall_s = tsc__sim_wall() - r->wall_s;
    r->events_per_s = r->wall_s > 0 ? (double)r->events / r->wall_s : 0;
    if (r->violations) {
        r->ok = 0;
        if (!r->note[0])
            snprintf(r->note, sizeof(r->note), "%" PRIu64 " invariant violations", r->violations);
    }
}

int tsc_sim_run(const struct tsc_sim_opts *o, struct tsc_sim_result *r, char *errmsg)
{
    switch (o->scenario) {
    case TSC_SIM_CONVERGE:
        return tsc_sim_converge(o, r, errmsg);
    case TSC_SIM_CRASH:
        return tsc_sim_crash(o, r, errmsg);
    case TSC_SIM_PARTITION:
        return tsc_sim_partition(o, r, errmsg);
    case TSC_SIM_CAMPAIGN:
        return tsc_sim_campaign(o, r, errmsg);
    case TSC_SIM_ELECTION:
        return tsc_sim_election(o, r, errmsg);
    case TSC_SIM_FAILOVER:
        return tsc_sim_failover(o, r, errmsg);
    case TSC_SIM_BARRIER:
        return tsc_sim_barrier(o, r, errmsg);
    default:
        tsc_errmsg_setf(errmsg, "unknown scenario %d", o->scenario);
        return TSC_EINVAL;
    }
}
