/* tsc — the election scenarios: election and failover.
 *
 * Both run the election engine next to SWIM on every node (sim/coord.h) and
 * time "every live member knows the same coordinator" with the coordinator
 * watch, which is checked whenever any member's view can change, so the
 * figures are exact virtual times rather than samples. A member knows the
 * coordinator as tscd's `tscctl status` would show it: a node in the voter
 * set by its own engine's leader, any other node by the coordinator label
 * that alive members publish in their records (highest term wins); the
 * coordinator must also be a leader inside its lease, and the only leader.
 *
 *  - election: from the first node's start until that holds; then, as a
 *    check, until the coordinator has added every voter.
 *  - failover: per seed, a converged cluster whose coordinator has added
 *    every voter and settled, then kill -9 of the coordinator; the time
 *    until every live member knows one new coordinator. p50/p99/max over
 *    the seeds. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "sim/coord.h"
#include "sim/scenario.h"
#include "sim/stats.h"

#define READY_LIMIT    TSC_SEC(60)
#define FAILOVER_LIMIT TSC_SEC(30)

static int finish(struct tsc_sim_world *w, struct tsc_sim_result *r, FILE *trace, int rc,
                  const char *errmsg)
{
    if (rc == TSC_ETIMEDOUT) {
        snprintf(r->note, sizeof(r->note), "%s", errmsg);
        r->ok = 0;
        rc = 0;
    }
    if (w) {
        tsc_sim_coord_verify(w);
        tsc__sim_collect(w, r);
        tsc_sim_world_free(w);
    }
    tsc__sim_end(r, trace);
    return rc;
}

int tsc_sim_election(const struct tsc_sim_opts *o, struct tsc_sim_result *r, char *errmsg)
{
    struct tsc_sim_world *w = NULL;
    FILE *trace;
    int met = 0;
    int rc = tsc__sim_begin(o, r, &trace, errmsg);
    if (rc)
        return rc;
    rc = tsc__sim_setup(o, o->seed, trace, &w, errmsg);
    if (rc == 0) {
        tsc_sim_coord_watch(w, TSC_SIM_NONE, 1);
        rc = tsc__sim_bootstrap(w, o, r, errmsg);
    }
    if (rc == 0)
        rc = tsc__sim_run_for(w, o, w->now + READY_LIMIT, tsc_sim_coord_watch_done, NULL, &met,
                              errmsg);
    if (rc == 0 && !met) {
        char why[TSC_SIM_TEXT - 80];
        tsc_sim_coord_explain(w, why, sizeof why);
        snprintf(r->note, sizeof r->note, "no agreed coordinator after %.1f virtual s: %s",
                 (double)w->now / 1e6, why);
    }
    if (rc == 0 && met) {
        r->first_coordinator_s = (double)w->coord->watch_at / 1e6;
        /* Keep going until the coordinator has every voter: the invariants
         * watch the voter changes too. */
        rc = tsc__sim_run_for(w, o, w->now + READY_LIMIT, tsc_sim_coord_ready_pred, NULL, &met,
                              errmsg);
        if (rc == 0 && !met)
            snprintf(r->note, sizeof r->note, "the coordinator did not add all %u voters",
                     o->voters);
        uint32_t l = tsc_sim_coord_agreed(w);
        if (l != TSC_SIM_NONE)
            r->term = tsc_election_term(w->coord->c[l].e);
        r->ok = met;
    }
    return finish(w, r, trace, rc, errmsg);
}

/* One failover seed: *out the failover time in s, or -1 when none came. */
static int failover_seed(const struct tsc_sim_opts *o, uint64_t seed, FILE *trace,
                         struct tsc_sim_result *r, double *out, char *errmsg)
{
    struct tsc_sim_world *w = NULL;
    struct tsc_sim_result boot;
    int met = 0;
    *out = -1;
    memset(&boot, 0, sizeof boot);
    if (trace)
        fprintf(trace, "# seed %" PRIu64 "\n", seed);
    int rc = tsc__sim_setup(o, seed, trace, &w, errmsg);
    if (rc == 0)
        rc = tsc__sim_bootstrap(w, o, &boot, errmsg);
    if (rc == 0)
        rc = tsc__sim_run_for(w, o, w->now + READY_LIMIT, tsc_sim_coord_ready_pred, NULL, &met,
                              errmsg);
    if (rc == 0 && met)
        rc = tsc__sim_run_for(w, o, w->now + (uint64_t)(o->settle_s * 1e6), NULL, NULL, NULL,
                              errmsg);
    uint32_t old = rc == 0 && met ? tsc_sim_coord_agreed(w) : TSC_SIM_NONE;
    if (rc == 0 && old != TSC_SIM_NONE) {
        uint64_t t0 = w->now;
        tsc_sim_node_crash(w, old);
        tsc_sim_coord_watch(w, old, 0);
        rc = tsc__sim_run_for(w, o, t0 + FAILOVER_LIMIT, tsc_sim_coord_watch_done, NULL, &met,
                              errmsg);
        if (rc == 0 && met) {
            *out = (double)(w->coord->watch_at - t0) / 1e6;
            uint32_t l = tsc_sim_coord_agreed(w);
            if (l != TSC_SIM_NONE && tsc_election_term(w->coord->c[l].e) > r->term)
                r->term = tsc_election_term(w->coord->c[l].e);
        }
    }
    if (rc == 0 && *out < 0 && !r->note[0]) {
        char why[TSC_SIM_TEXT - 80];
        tsc_sim_coord_explain(w, why, sizeof why);
        snprintf(r->note, sizeof r->note, "seed %" PRIu64 ": %s: %s", seed,
                 old == TSC_SIM_NONE ? "no coordinator with every voter" : "no new coordinator",
                 why);
    }
    if (rc == TSC_ETIMEDOUT) { /* the bootstrap did not converge: a result */
        snprintf(r->note, sizeof r->note, "seed %" PRIu64 ": %s", seed, errmsg);
        rc = 0;
    }
    if (w) {
        tsc_sim_coord_verify(w);
        tsc__sim_collect(w, r);
        tsc_sim_world_free(w);
    }
    if (rc)
        tsc_errmsg_wrapf(errmsg, "seed %" PRIu64, seed);
    return rc;
}

int tsc_sim_failover(const struct tsc_sim_opts *o, struct tsc_sim_result *r, char *errmsg)
{
    FILE *trace;
    int rc = tsc__sim_begin(o, r, &trace, errmsg);
    if (rc)
        return rc;
    uint64_t n = o->seed_last - o->seed_first + 1;
    double *t = tsc_calloc(n, sizeof *t);
    if (t == NULL) {
        tsc_errmsg_setf(errmsg, "failover: out of memory for %" PRIu64 " seeds", n);
        tsc__sim_end(r, trace);
        return TSC_ENOMEM;
    }
    size_t k = 0;
    for (uint64_t seed = o->seed_first; rc == 0; seed++) {
        double ft;
        uint64_t v0 = r->violations;
        rc = failover_seed(o, seed, trace, r, &ft, errmsg);
        r->seeds++;
        if (ft >= 0)
            t[k++] = ft;
        if (ft < 0 || r->violations > v0 || rc) {
            r->failing_seeds++;
            if (!r->has_failing) {
                r->has_failing = 1;
                r->first_failing_seed = seed;
                snprintf(r->replay, sizeof r->replay,
                         "tscsim failover --seeds %" PRIu64 "..%" PRIu64
                         " --nodes %u --voters %u --drift %g",
                         seed, seed, o->nodes, o->voters, o->drift);
            }
        }
        if (o->verbose)
            fprintf(stderr, "tscsim: seed %" PRIu64 ": failover %.3f s\n", seed, ft);
        if (seed == o->seed_last)
            break;
    }
    r->failovers = k;
    if (k > 0) {
        r->failover_p50_s = tsc_sim_percentile(t, k, 50);
        r->failover_p99_s = tsc_sim_percentile(t, k, 99);
        r->failover_max_s = tsc_sim_percentile(t, k, 100);
    }
    tsc_free(t);
    r->ok = rc == 0 && r->failing_seeds == 0;
    if (!r->ok && !r->note[0])
        snprintf(r->note, sizeof r->note, "%" PRIu64 " of %" PRIu64 " seeds failed",
                 r->failing_seeds, r->seeds);
    tsc__sim_end(r, trace);
    return rc;
}
