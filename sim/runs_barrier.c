/* tsc — the barrier scenario: how long one stage barrier takes.
 *
 * One run on a converged cluster of N nodes (5 voters by default), every
 * node a participant, `cases` test cases (3 cases + 2 = stages), scripts
 * that end the moment they start, no faults. For every stage s the run
 * goes through, the transition to the next stage is
 *     (virtual time the last participant started s+1)
 *   - (virtual time the last participant finished s),
 * i.e. what the barrier costs on top of the scripts. p50/p99/max over the
 * run's transitions, in seconds and in round trips of the network model:
 * RTT = 2 x the median one-way datagram latency (base + lognormal median;
 * 2 x (200 + 300) µs = 1 ms by default). A transition also splits into
 * three parts, reported as p50 in RTT: the last finish to the STAGE
 * proposal (the reports reach the coordinator), the proposal to its commit
 * (one AppendEntries round to a majority), the commit to the last START
 * delivered (the fan-out). Reports, STARTs and CANCELs are datagrams when
 * they fit one, as in tscd (a stream costs three one-way latencies).
 *
 * With N participants the slowest of N one-way latencies sits far in the
 * model's tail (about 4 ms for N = 1000, against a 0.5 ms median), so no
 * protocol can turn a stage in a few median RTTs: one request to all and an
 * answer from all already costs that tail twice. The result therefore also
 * gives the transition in ROUNDS: the p50 of one request/response round
 * with all N participants in the same model (max over participants of two
 * one-way latencies, sampled after the run so the run itself is untouched). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "sim/coord.h"
#include "sim/runs.h"
#include "sim/scenario.h"
#include "sim/stats.h"

#define READY_LIMIT   TSC_SEC(60)
#define ROUND_SAMPLES 201
#define RUN_LIMIT     TSC_SEC(600)

/* Percentiles of the transitions (and their parts) into r. */
static int measure(struct tsc_sim_world *w, struct tsc_sim_result *r, char *errmsg)
{
    const struct tsc_sim_runs *rs = w->runs;
    uint32_t n = rs->m_stages;
    double *t = tsc_calloc(n ? n : 1, sizeof *t), *a = tsc_calloc(n ? n : 1, sizeof *a),
           *b = tsc_calloc(n ? n : 1, sizeof *b), *c = tsc_calloc(n ? n : 1, sizeof *c);
    size_t k = 0;
    if (!t || !a || !b || !c) {
        tsc_free(t);
        tsc_free(a);
        tsc_free(b);
        tsc_free(c);
        tsc_errmsg_setf(errmsg, "barrier: out of memory");
        return TSC_ENOMEM;
    }
    double rtt = 2.0 * (double)(w->cfg.net.base_us + w->cfg.net.jitter_median_us);
    for (uint32_t s = 0; s + 1 < n; s++) {
        if (!rs->m_finish[s] || !rs->m_start[s + 1] || !rs->m_prop[s] || !rs->m_commit[s])
            continue;
        t[k] = (double)(rs->m_start[s + 1] - rs->m_finish[s]);
        a[k] = (double)(rs->m_prop[s] - rs->m_finish[s]);
        b[k] = (double)(rs->m_commit[s] - rs->m_prop[s]);
        c[k] = (double)(rs->m_start[s + 1] - rs->m_commit[s]);
        k++;
    }
    r->transitions = k;
    r->rtt_us = rtt;
    if (k > 0) {
        r->transition_p50_s = tsc_sim_percentile(t, k, 50) / 1e6;
        r->transition_p99_s = tsc_sim_percentile(t, k, 99) / 1e6;
        r->transition_max_s = tsc_sim_percentile(t, k, 100) / 1e6;
        r->transition_p50_rtt = r->transition_p50_s * 1e6 / rtt;
        r->transition_p99_rtt = r->transition_p99_s * 1e6 / rtt;
        r->transition_max_rtt = r->transition_max_s * 1e6 / rtt;
        r->report_p50_rtt = tsc_sim_percentile(a, k, 50) / rtt;
        r->commit_p50_rtt = tsc_sim_percentile(b, k, 50) / rtt;
        r->start_p50_rtt = tsc_sim_percentile(c, k, 50) / rtt;
    }
    if (rs->m_done > rs->m_submit)
        r->run_s = (double)(rs->m_done - rs->m_submit) / 1e6;
    /* One request/response round with every participant, sampled. */
    double rounds[ROUND_SAMPLES];
    for (size_t i = 0; i < ROUND_SAMPLES; i++) {
        uint64_t worst = 0;
        for (uint32_t p = 0; p < w->n; p++) {
            uint64_t d = tsc_sim_net_latency(&w->net) + tsc_sim_net_latency(&w->net);
            if (d > worst)
                worst = d;
        }
        rounds[i] = (double)worst;
    }
    r->round_us = tsc_sim_percentile(rounds, ROUND_SAMPLES, 50);
    if (k > 0 && r->round_us > 0) {
        r->transition_p50_rounds = r->transition_p50_s * 1e6 / r->round_us;
        r->transition_p99_rounds = r->transition_p99_s * 1e6 / r->round_us;
        r->transition_max_rounds = r->transition_max_s * 1e6 / r->round_us;
    }
    tsc_free(t);
    tsc_free(a);
    tsc_free(b);
    tsc_free(c);
    return 0;
}

int tsc_sim_barrier(const struct tsc_sim_opts *o, struct tsc_sim_result *r, char *errmsg)
{
    struct tsc_sim_world *w = NULL;
    FILE *trace;
    int met = 0;
    int rc = tsc__sim_begin(o, r, &trace, errmsg);
    if (rc)
        return rc;
    rc = tsc__sim_setup(o, o->seed, trace, &w, errmsg);
    if (rc == 0)
        rc = tsc__sim_bootstrap(w, o, r, errmsg);
    if (rc == 0)
        rc = tsc__sim_run_for(w, o, w->now + READY_LIMIT, tsc_sim_coord_ready_pred, NULL, &met,
                              errmsg);
    if (rc == 0 && !met) {
        char why[TSC_SIM_TEXT - 80];
        tsc_sim_coord_explain(w, why, sizeof why);
        snprintf(r->note, sizeof r->note, "no coordinator with every voter: %s", why);
    }
    if (rc == 0 && met)
        rc = tsc__sim_run_for(w, o, w->now + (uint64_t)(o->settle_s * 1e6), NULL, NULL, NULL,
                              errmsg);
    if (rc == 0 && met) {
        rc = tsc_sim_runs_want(w, o->cases);
        if (rc == 0)
            rc = tsc__sim_run_for(w, o, w->now + RUN_LIMIT, tsc_sim_runs_idle, NULL, &met, errmsg);
        if (rc == 0 && !met) {
            char why[TSC_SIM_TEXT - 80];
            tsc_sim_runs_explain(w, why, sizeof why);
            tsc_sim_violation(w, TSC_SIM_V_RUN_STUCK, "%s", why);
        }
        if (rc == 0)
            rc = measure(w, r, errmsg);
        r->ok = rc == 0 && met && w->runs->passed == 1 && r->transitions + 1 == w->runs->m_stages;
        if (rc == 0 && met && !r->ok)
            snprintf(r->note, sizeof r->note,
                     "the run did not pass every stage (%" PRIu64 " passed, %" PRIu64
                     " transitions measured of %u stages)",
                     w->runs->passed, r->transitions, w->runs->m_stages);
    }
    if (rc == TSC_ETIMEDOUT) { /* the bootstrap did not converge: a result */
        snprintf(r->note, sizeof r->note, "%s", errmsg);
        rc = 0;
    }
    if (w) {
        uint32_t l = tsc_sim_coord_agreed(w);
        if (l != TSC_SIM_NONE)
            r->term = tsc_election_term(w->coord->c[l].e);
        tsc_sim_coord_verify(w);
        tsc__sim_collect(w, r);
        tsc_sim_world_free(w);
    }
    tsc__sim_end(r, trace);
    return rc;
}
