/* tsc — the fault campaign: for each seed, a random schedule of crashes,
 * restarts, graceful leaves, partitions (symmetric and one-way), loss,
 * duplication and delay spikes over a bounded virtual time; then every fault
 * is healed and the world must converge within a quiet period: every live
 * node sees every other live node alive, and no live node sees a stopped one
 * alive or suspect. Invariants are checked after every step throughout.
 *
 * With an election (--voters V > 0, the default), every node also runs the
 * election engine (sim/coord.h), a client offers a record to the acting
 * coordinator every 100 ms, the faults add kill -9 of the coordinator and
 * changes of a node's clock rate (within the drift bound), and the
 * election's invariants (sim/coord_check.c) are checked after every step.
 * Before the faults start the coordinator must have added every voter.
 * Crashes keep a majority of the voters up (dead voters are never removed,
 * so a lost majority would be lost for good, as in Raft) and voters never
 * leave. After the faults stop: one coordinator that every live member
 * knows, within the membership bound, and again after membership converged.
 *
 * With runs (--runs, sim/runs.h), every node also runs the barrier engines,
 * a client submits a run (a few cases, a few participants) through the
 * coordinator every few seconds while the faults last (and cancels one now
 * and then), and the runs' invariants (sim/runs_check.c) are checked as
 * they go. When the faults stop, every stopped node is restarted too, and
 * after the membership and coordinator checks every submitted run must
 * finish within RUNS_LIMIT: nothing waits forever.
 *
 * The schedule is drawn from its own PRNG seeded from the seed, so a seed's
 * faults do not move when the network model draws differently; the whole
 * run of a seed is replayable from the command line printed for it. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "sim/coord.h"
#include "sim/runs.h"
#include "sim/scenario.h"
#include "sim/stats.h"

#define QUIET_LIMIT TSC_SEC(120)
/* One known coordinator: within QUIET_LIMIT of the faults stopping (a
 * non-voter knows it through membership, which may need that long to heal:
 * a dead mark is only undone by a reconnect push-pull), and within
 * COORD_LIMIT once membership has converged. */
#define COORD_LIMIT TSC_SEC(30)
#define READY_LIMIT TSC_SEC(60) /* before they start: every voter added */
/* Runs: after the coordinator is agreed on again, every submitted run ends
 * (a stage lasts at most its timeout plus the coordinator's grace). */
#define RUNS_LIMIT TSC_SEC(300)

enum fault {
    F_CRASH,
    F_RESTART,
    F_LEAVE,
    F_PARTITION,
    F_HEAL,
    F_LOSS,
    F_DUP,
    F_DELAY,
    F_CALM, /* network back to normal (partitions stay) */
    F_META,
    F_KILL_COORD, /* election only: kill -9 of the acting coordinator */
    F_CLOCK,      /* election only: a node's clock rate changes within the bound */
    F_MAX
};

/* Relative weights of the faults. */
static const unsigned weight[F_MAX] = {
    [F_CRASH] = 6, [F_RESTART] = 6, [F_LEAVE] = 1,      [F_PARTITION] = 3,
    [F_HEAL] = 2,  [F_LOSS] = 3,    [F_DUP] = 2,        [F_DELAY] = 2,
    [F_CALM] = 2,  [F_META] = 3,    [F_KILL_COORD] = 3, [F_CLOCK] = 2,
};

/* Voters (role) that are up. */
static uint32_t voters_up(struct tsc_sim_world *w)
{
    uint32_t up = 0;
    for (uint32_t i = 0; w->coord && i < w->coord->voters; i++)
        up += w->nodes[i].state == TSC_SIM_NODE_UP;
    return up;
}

/* May node i crash or leave without breaking the campaign's rules? */
static int may_stop(struct tsc_sim_world *w, uint32_t i, int leave)
{
    if (w->coord == NULL || i >= w->coord->voters)
        return 1;
    return !leave && voters_up(w) - 1 >= w->coord->voters / 2 + 1;
}

static double uniform(struct tsc_prng *p, double lo, double hi)
{
    return lo + (hi - lo) * tsc_prng_double(p);
}

static uint32_t pick_state(struct tsc_sim_world *w, struct tsc_prng *p, int state)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < w->n; i++)
        count += w->nodes[i].state == state;
    if (!count)
        return TSC_SIM_NONE;
    uint64_t r = tsc_prng_below(p, count);
    for (uint32_t i = 0; i < w->n; i++)
        if (w->nodes[i].state == state && r-- == 0)
            return i;
    return TSC_SIM_NONE;
}

/* Apply one random fault. Returns 0 or a fatal error. */
static int fault(struct tsc_sim_world *w, struct tsc_prng *p, uint64_t *heal_at)
{
    unsigned total = 0;
    int fmax = w->coord ? F_MAX : F_KILL_COORD;
    for (int f = 0; f < fmax; f++)
        total += weight[f];
    uint64_t r = tsc_prng_below(p, total);
    int f = 0;
    while (r >= weight[f])
        r -= weight[f++];
    /* Keep a working majority: at most a third of the nodes down at once. */
    uint32_t down = w->n - w->n_up;
    switch (f) {
    case F_CRASH:
    case F_LEAVE: {
        if ((down + 1) * 3 > w->n || w->n_up <= 3)
            return 0;
        uint32_t i = pick_state(w, p, TSC_SIM_NODE_UP);
        if (i == TSC_SIM_NONE || !may_stop(w, i, f == F_LEAVE))
            return 0;
        if (f == F_LEAVE)
            return tsc_sim_node_leave(w, i);
        tsc_sim_node_crash(w, i);
        return 0;
    }
    case F_RESTART: {
        uint32_t i = pick_state(w, p, TSC_SIM_NODE_DOWN);
        return i == TSC_SIM_NONE ? 0 : tsc_sim_node_restart(w, i);
    }
    case F_PARTITION: {
        uint16_t *g = tsc_calloc(w->n, sizeof(*g));
        if (!g)
            return TSC_ENOMEM;
        unsigned groups = 2 + (unsigned)tsc_prng_below(p, 2);
        for (uint32_t i = 0; i < w->n; i++)
            g[i] = (uint16_t)tsc_prng_below(p, groups);
        int asym = tsc_prng_double(p) < 0.3;
        tsc_sim_net_partition(&w->net, g, asym);
        tsc_free(g);
        *heal_at = w->now + (uint64_t)uniform(p, 1e6, 8e6);
        tsc_sim_world_note(w, asym ? "partition_oneway" : "partition", groups, 0);
        return 0;
    }
    case F_HEAL:
        tsc_sim_net_heal(&w->net);
        tsc_sim_world_note(w, "heal", 0, 0);
        return 0;
    case F_LOSS:
        w->net.cfg.loss = uniform(p, 0, 0.3);
        tsc_sim_world_note(w, "loss", 0, (uint64_t)(w->net.cfg.loss * 1e6));
        return 0;
    case F_DUP:
        w->net.cfg.dup = uniform(p, 0, 0.2);
        tsc_sim_world_note(w, "dup", 0, (uint64_t)(w->net.cfg.dup * 1e6));
        return 0;
    case F_DELAY:
        w->net.cfg.delay_p = uniform(p, 0, 0.3);
        w->net.cfg.delay_max_us = (uint64_t)uniform(p, 1e3, 500e3);
        tsc_sim_world_note(w, "delay", 0, w->net.cfg.delay_max_us);
        return 0;
    case F_CALM:
        w->net.cfg = w->cfg.net;
        tsc_sim_world_note(w, "calm", 0, 0);
        return 0;
    case F_META: {
        uint32_t i = pick_state(w, p, TSC_SIM_NODE_UP);
        return i == TSC_SIM_NONE ? 0 : tsc_sim_node_set_meta(w, i);
    }
    case F_KILL_COORD: {
        /* The acting coordinator (or any leader) goes down hard. */
        for (uint32_t i = 0; i < w->coord->voters; i++) {
            struct tsc_sim_cnode *c = &w->coord->c[i];
            if (c->e && tsc_election_role(c->e) == TSC_ELECTION_LEADER && may_stop(w, i, 0) &&
                (down + 1) * 3 <= w->n) {
                if (w->runs)
                    tsc_sim_runs_note_kill(w);
                tsc_sim_node_crash(w, i);
                break;
            }
        }
        return 0;
    }
    case F_CLOCK: {
        uint32_t i = (uint32_t)tsc_prng_below(p, w->n);
        double eps = w->coord->drift;
        tsc_sim_coord_set_rate(w, i, 1.0 + eps * (2.0 * tsc_prng_double(p) - 1.0));
        return 0;
    }
    default:
        return 0;
    }
}

/* Run until one coordinator is known to every up node, by `limit`; a
 * violation when it does not come. 0 or a fatal error. */
static int coord_settles(struct tsc_sim_world *w, const struct tsc_sim_opts *o, uint64_t seed,
                         uint64_t limit, char *errmsg)
{
    int met = 0;
    int rc = tsc__sim_run_for(w, o, limit, tsc_sim_coord_agreed_pred, NULL, &met, errmsg);
    if (rc == 0 && !met) {
        char why[300];
        tsc_sim_coord_explain(w, why, sizeof why);
        tsc_sim_violation(w, TSC_SIM_V_NO_COORD, "seed %" PRIu64 ": %s", seed, why);
    }
    return rc;
}

/* One seed: bootstrap, faults, heal, quiet period, convergence. Adds to r.
 * Returns 0 or a fatal error (the seed's violations are in w). */
static int one_seed(const struct tsc_sim_opts *o, uint64_t seed, FILE *trace,
                    struct tsc_sim_result *r, uint64_t *seed_violations, char *errmsg)
{
    struct tsc_sim_world *w = NULL;
    struct tsc_sim_result boot;
    memset(&boot, 0, sizeof(boot));
    *seed_violations = 0;
    if (trace)
        fprintf(trace, "# seed %" PRIu64 "\n", seed);
    int rc = tsc__sim_setup(o, seed, trace, &w, errmsg);
    if (rc)
        return rc;
    rc = tsc__sim_bootstrap(w, o, &boot, errmsg);
    if (rc == TSC_ETIMEDOUT) {
        tsc_sim_violation(w, TSC_SIM_V_NOT_CONVERGED, "%s", errmsg);
        rc = 0;
        goto done;
    }
    if (rc)
        goto done;

    if (w->coord) {
        int ready = 0;
        rc = tsc__sim_run_for(w, o, w->now + READY_LIMIT, tsc_sim_coord_ready_pred, NULL, &ready,
                              errmsg);
        if (rc)
            goto done;
        if (!ready) {
            char why[300];
            tsc_sim_coord_explain(w, why, sizeof why);
            tsc_sim_violation(w, TSC_SIM_V_NO_COORD,
                              "seed %" PRIu64 ": no coordinator with all %u voters before the "
                              "faults: %s",
                              seed, w->coord->voters, why);
            goto done;
        }
    }
    struct tsc_prng p;
    tsc_prng_seed(&p, tsc_sim_hash_u64(seed, 0x63616d706169676eULL));
    uint64_t start = w->now;
    uint64_t end = start + (uint64_t)(o->duration_s * 1e6);
    uint64_t heal_at = TSC_TIME_NEVER;
    uint64_t t = start;
    for (;;) {
        /* Faults arrive as a Poisson process, about two a second. */
        t += (uint64_t)uniform(&p, 0, 1e6);
        if (heal_at < t && heal_at < end) {
            rc = tsc__sim_run_for(w, o, heal_at, NULL, NULL, NULL, errmsg);
            if (rc)
                goto done;
            tsc_sim_net_heal(&w->net);
            tsc_sim_world_note(w, "heal", 0, 0);
            tsc_sim_coord_reach_update(w);
            heal_at = TSC_TIME_NEVER;
        }
        if (t >= end)
            break;
        rc = tsc__sim_run_for(w, o, t, NULL, NULL, NULL, errmsg);
        if (rc == 0)
            rc = fault(w, &p, &heal_at);
        if (rc)
            goto done;
        tsc_sim_coord_reach_update(w);
        r->faults++;
    }
    rc = tsc__sim_run_for(w, o, end, NULL, NULL, NULL, errmsg);
    if (rc)
        goto done;
    /* Faults stop: heal the network; stopped nodes stay stopped, except
     * with runs: they come back (their participants report LOST). */
    tsc_sim_net_heal(&w->net);
    w->net.cfg = w->cfg.net;
    tsc_sim_world_note(w, "quiet", 0, 0);
    if (w->runs) {
        w->runs->client_on = 0;
        for (uint32_t i = 0; i < w->n && rc == 0; i++)
            if (w->nodes[i].state == TSC_SIM_NODE_DOWN)
                rc = tsc_sim_node_restart(w, i);
        if (rc)
            goto done;
    }
    tsc_sim_coord_reach_update(w);
    int met = 0;
    uint64_t quiet = w->now;
    if (w->coord) {
        rc = coord_settles(w, o, seed, quiet + QUIET_LIMIT, errmsg);
        if (rc)
            goto done;
    }
    rc = tsc__sim_run_for(w, o, quiet + QUIET_LIMIT, tsc_sim_converged, NULL, &met, errmsg);
    if (rc)
        goto done;
    if (!met) {
        char why[300];
        tsc_sim_inv_explain(w, why, sizeof(why));
        tsc_sim_violation(w, TSC_SIM_V_NOT_CONVERGED,
                          "seed %" PRIu64 ": %.0f s after the faults "
                          "stopped: %s",
                          seed, (double)QUIET_LIMIT / 1e6, why);
    }
    if (w->coord && met) {
        /* Membership converged: the coordinator must still be agreed on. */
        rc = coord_settles(w, o, seed, w->now + COORD_LIMIT, errmsg);
        if (rc)
            goto done;
    }
    if (w->runs) {
        rc = tsc__sim_run_for(w, o, w->now + RUNS_LIMIT, tsc_sim_runs_idle, NULL, &met, errmsg);
        if (rc)
            goto done;
        if (!met) {
            char why[400];
            tsc_sim_runs_explain(w, why, sizeof why);
            tsc_sim_violation(w, TSC_SIM_V_RUN_STUCK, "seed %" PRIu64 ": %.0f s after: %s", seed,
                              (double)RUNS_LIMIT / 1e6, why);
        }
    }
    tsc_sim_inv_verify_views(w);
    if (w->coord)
        tsc_sim_coord_verify(w);
done:
    if (rc)
        tsc_errmsg_wrapf(errmsg, "seed %" PRIu64, seed);
    *seed_violations = w->violations;
    tsc__sim_collect(w, r);
    tsc_sim_world_free(w);
    return rc;
}

int tsc_sim_campaign(const struct tsc_sim_opts *o_in, struct tsc_sim_result *r, char *errmsg)
{
    /* Progress is one line per seed here, not one per run slice. */
    struct tsc_sim_opts quiet = *o_in, *o = &quiet;
    quiet.verbose = 0;
    FILE *trace;
    int rc = tsc__sim_begin(o, r, &trace, errmsg);
    if (rc)
        return rc;
    for (uint64_t seed = o->seed_first;; seed++) {
        uint64_t v = 0;
        rc = one_seed(o, seed, trace, r, &v, errmsg);
        r->seeds++;
        if (v || rc) {
            r->failing_seeds++;
            if (!r->has_failing) {
                r->has_failing = 1;
                r->first_failing_seed = seed;
                char extra[240] = "";
                size_t len = 0;
                if (o->duration_s != 20)
                    len += (size_t)snprintf(extra + len, sizeof(extra) - len, " --duration %g",
                                            o->duration_s);
                if (o->crypto == TSC_SIM_CRYPTO_SODIUM)
                    len += (size_t)snprintf(extra + len, sizeof(extra) - len, " --crypto sodium");
                if (o->probe_interval_ms)
                    len += (size_t)snprintf(extra + len, sizeof(extra) - len,
                                            " --probe-interval-ms %" PRIu64, o->probe_interval_ms);
                if (o->voters != 5)
                    len += (size_t)snprintf(extra + len, sizeof(extra) - len, " --voters %u",
                                            o->voters);
                if (o->drift != 0.01)
                    len +=
                        (size_t)snprintf(extra + len, sizeof(extra) - len, " --drift %g", o->drift);
                if (o->lease_us)
                    len += (size_t)snprintf(extra + len, sizeof(extra) - len, " --lease-ms %g",
                                            (double)o->lease_us / 1e3);
                if (o->runs)
                    snprintf(extra + len, sizeof(extra) - len, " --runs");
                snprintf(r->replay, sizeof(r->replay),
                         "tscsim campaign --seeds %" PRIu64 "..%" PRIu64 " --nodes %u%s", seed,
                         seed, o->nodes, extra);
            }
        }
        if (o_in->verbose)
            fprintf(stderr, "tscsim: seed %" PRIu64 ": %" PRIu64 " violations%s\n", seed, v,
                    rc ? " (aborted)" : "");
        if (rc || seed == o->seed_last)
            break;
    }
    r->ok = r->failing_seeds == 0 && rc == 0;
    if (!r->ok && !r->note[0])
        snprintf(r->note, sizeof(r->note), "%" PRIu64 " of %" PRIu64 " seeds failed",
                 r->failing_seeds, r->seeds);
    tsc__sim_end(r, trace);
    return rc;
}
