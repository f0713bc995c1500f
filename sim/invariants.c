/* tsc — invariants the simulator checks after every step.
 *
 * The world keeps, for every (observer, subject) pair, the status and
 * incarnation the observer's engine last reported in its change list. Each
 * new change is checked against that history:
 *   - a node never sees itself suspect or dead (it may see itself left, once
 *     it was told to leave): SWIM §4.2, a node refutes instead;
 *   - the incarnation an observer holds for a subject never decreases;
 *   - at the same incarnation a status only moves forward: alive -> suspect
 *     -> dead/left; back to alive needs a higher incarnation (SWIM §4.2);
 *   - a change's old_status is the status the engine reported before;
 *   - every member is a node of the world, and no engine knows more members
 *     than nodes were ever created;
 *   - the engine never rejects a frame or record as forged, malformed or
 *     from another cluster: in the simulator every byte is honest, so a
 *     rejection means the codec or the engine is wrong.
 * Convergence (after faults stop and a quiet period: every up node sees every
 * other up node alive and no up node sees a down node alive or suspect) is
 * a predicate the scenarios wait for and count as a violation when it does
 * not come. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "sim/sim.h"
#include "sim/world.h"
#include "wire/record.h"

static const char *const kind_names[TSC_SIM_V_MAX] = {
    [TSC_SIM_V_SELF_SUSPECT] = "self_suspect",
    [TSC_SIM_V_INC_DECREASE] = "incarnation_decrease",
    [TSC_SIM_V_TRANSITION] = "illegal_transition",
    [TSC_SIM_V_CHANGE_MISMATCH] = "change_mismatch",
    [TSC_SIM_V_TOO_MANY] = "too_many_members",
    [TSC_SIM_V_UNKNOWN_ID] = "unknown_member",
    [TSC_SIM_V_REJECTED] = "rejected_input",
    [TSC_SIM_V_VIEW_MISMATCH] = "view_mismatch",
    [TSC_SIM_V_NOT_CONVERGED] = "not_converged",
    [TSC_SIM_V_ENGINE_ERROR] = "engine_error",
    [TSC_SIM_V_TWO_LEADERS] = "two_leaders_in_term",
    [TSC_SIM_V_ACKED] = "acked_record_lost",
    [TSC_SIM_V_ACTING] = "acting_without_majority",
    [TSC_SIM_V_NO_COORD] = "no_coordinator",
    [TSC_SIM_V_STORE] = "election_store",
    [TSC_SIM_V_BARRIER] = "barrier_crossed",
    [TSC_SIM_V_TWICE] = "stage_started_twice",
    [TSC_SIM_V_DECIDED] = "decided_stage",
    [TSC_SIM_V_RUN_STUCK] = "run_not_finished",
};

_Static_assert(TSC_SIM_V_MAX <= TSC_SIM_KINDS, "violations_by_kind is too small");

const char *tsc_sim_violation_name(int kind)
{
    if (kind < 0 || kind >= TSC_SIM_V_MAX)
        return "?";
    return kind_names[kind];
}

static const char *st_name(unsigned st)
{
    return st == TSC_SIM_UNKNOWN ? "unknown" : tsc_status_name((int)st);
}

/* Add (delta = 1) or remove (-1) an up observer's view of subj from the
 * per-subject counters. */
static void contrib(struct tsc_sim_world *w, uint32_t subj, unsigned st, int delta)
{
    struct tsc_sim_node *s = &w->nodes[subj];
    switch (st) {
    case TSC_STATUS_ALIVE:
        s->n_alive += (uint32_t)delta;
        if (s->state == TSC_SIM_NODE_UP)
            w->alive_pairs += (uint64_t)(int64_t)delta;
        break;
    case TSC_STATUS_SUSPECT:
        s->n_susp += (uint32_t)delta;
        break;
    case TSC_STATUS_DEAD:
    case TSC_STATUS_LEFT:
        s->n_gone += (uint32_t)delta;
        break;
    default:
        break;
    }
}

/* At the same incarnation: may an observer move from `from` to `to`? */
static int legal_same_inc(unsigned from, unsigned to)
{
    switch (to) {
    case TSC_STATUS_ALIVE:
        return from == TSC_STATUS_ALIVE;
    case TSC_STATUS_SUSPECT:
        return from == TSC_STATUS_ALIVE || from == TSC_STATUS_SUSPECT;
    default: /* dead or left: final at this incarnation, from anything */
        return 1;
    }
}

void tsc_sim_inv_change(struct tsc_sim_world *w, uint32_t obs, const struct tsc_gossip_change *c)
{
    uint32_t subj = tsc__sim_lookup(w, c->id);
    if (subj == TSC_SIM_NONE) {
        tsc_sim_violation(w, TSC_SIM_V_UNKNOWN_ID,
                          "node %u reports member %016" PRIx64 " which is no node of the world",
                          obs, c->id);
        return;
    }
    uint32_t *slot = &w->view[(size_t)obs * w->n + subj];
    unsigned ost = TSC_SIM_VIEW_ST(*slot);
    uint64_t oinc = TSC_SIM_VIEW_INC(*slot);
    unsigned nst = c->new_status;
    uint64_t ninc = c->incarnation > TSC_SIM_INC_MAX ? TSC_SIM_INC_MAX : c->incarnation;
    if (nst > TSC_STATUS_LEFT) {
        tsc_sim_violation(w, TSC_SIM_V_TRANSITION, "node %u reports node %u with status %u", obs,
                          subj, nst);
        return;
    }
    int is_new = c->old_status == 255;
    if (obs == subj) {
        if (nst == TSC_STATUS_SUSPECT || nst == TSC_STATUS_DEAD)
            tsc_sim_violation(w, TSC_SIM_V_SELF_SUSPECT,
                              "node %u sees itself %s at incarnation %" PRIu64, obs,
                              tsc_status_name((int)nst), c->incarnation);
        else if (nst == TSC_STATUS_LEFT && !w->nodes[obs].leaving)
            tsc_sim_violation(w, TSC_SIM_V_TRANSITION,
                              "node %u sees itself left but was never told to leave", obs);
        if (ninc > w->nodes[obs].self_inc)
            w->nodes[obs].self_inc = ninc;
    }
    if (!is_new && ost == TSC_SIM_UNKNOWN && obs != subj) {
        tsc_sim_violation(w, TSC_SIM_V_CHANGE_MISMATCH,
                          "node %u reports a change of node %u (%s) it never reported as new", obs,
                          subj, tsc_status_name(c->old_status));
    } else if (!is_new && obs != subj && c->old_status != ost) {
        tsc_sim_violation(w, TSC_SIM_V_CHANGE_MISMATCH,
                          "node %u says node %u was %s, but it last reported %s", obs, subj,
                          tsc_status_name(c->old_status), st_name(ost));
    }
    /* A "new" member the observer knew before means the engine forgot it
     * (e.g. reaped a dead member) and learned it again: a fresh start. */
    if (!is_new && ost != TSC_SIM_UNKNOWN) {
        if (ninc < oinc)
            tsc_sim_violation(w, TSC_SIM_V_INC_DECREASE,
                              "node %u: incarnation of node %u went from %" PRIu64 " to %" PRIu64
                              " (%s -> %s)",
                              obs, subj, oinc, ninc, st_name(ost), st_name(nst));
        else if (ninc == oinc && !legal_same_inc(ost, nst))
            tsc_sim_violation(w, TSC_SIM_V_TRANSITION,
                              "node %u: node %u went %s -> %s at the same incarnation %" PRIu64,
                              obs, subj, st_name(ost), st_name(nst), ninc);
    }
    if (obs != subj) {
        if (ost != TSC_SIM_UNKNOWN)
            contrib(w, subj, ost, -1);
        contrib(w, subj, nst, 1);
    }
    *slot = TSC_SIM_VIEW(ninc, nst);
    if (w->trace)
        fprintf(
            w->trace, "%" PRIu64 ".%06" PRIu64 " change %u: %u %s/%" PRIu64 " -> %s/%" PRIu64 "\n",
            w->now / 1000000, w->now % 1000000, obs, subj, st_name(ost), oinc, st_name(nst), ninc);
    if (w->on_change)
        w->on_change(w, obs, subj, ost, oinc, nst, ninc, w->change_arg);
}

void tsc_sim_inv_after_step(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_node *nd = &w->nodes[i];
    size_t count = tsc_gossip_count(nd->g);
    if (count > w->n_created)
        tsc_sim_violation(w, TSC_SIM_V_TOO_MANY, "node %u knows %zu members, only %u nodes exist",
                          i, count, w->n_created);
    const struct tsc_gossip_stats *st = tsc_gossip_stats(nd->g);
    uint64_t bad =
        st->rejected_auth + st->rejected_sig + st->rejected_malformed + st->rejected_cluster;
    if (bad != nd->bad_seen) {
        tsc_sim_violation(w, TSC_SIM_V_REJECTED,
                          "node %u rejected honest input: auth %" PRIu64 " sig %" PRIu64
                          " malformed %" PRIu64 " cluster %" PRIu64,
                          i, st->rejected_auth, st->rejected_sig, st->rejected_malformed,
                          st->rejected_cluster);
        nd->bad_seen = bad;
    }
}

void tsc_sim_inv_drop_row(struct tsc_sim_world *w, uint32_t i)
{
    uint32_t *row = &w->view[(size_t)i * w->n];
    for (uint32_t s = 0; s < w->n; s++) {
        if (s != i && TSC_SIM_VIEW_ST(row[s]) != TSC_SIM_UNKNOWN)
            contrib(w, s, TSC_SIM_VIEW_ST(row[s]), -1);
        row[s] = UINT32_MAX;
    }
}

void tsc_sim_inv_verify_views(struct tsc_sim_world *w)
{
    uint8_t *seen = tsc_calloc(w->n, 1);
    if (!seen)
        return;
    for (uint32_t o = 0; o < w->n; o++) {
        struct tsc_sim_node *nd = &w->nodes[o];
        if (nd->state != TSC_SIM_NODE_UP)
            continue;
        memset(seen, 0, w->n);
        const uint32_t *row = &w->view[(size_t)o * w->n];
        size_t count = tsc_gossip_count(nd->g);
        for (size_t k = 0; k < count; k++) {
            struct tsc_gossip_member m;
            if (tsc_gossip_member_at(nd->g, k, &m))
                break;
            uint32_t s = tsc__sim_lookup(w, m.id);
            if (s == TSC_SIM_NONE) {
                tsc_sim_violation(w, TSC_SIM_V_UNKNOWN_ID, "node %u lists member %016" PRIx64, o,
                                  m.id);
                continue;
            }
            seen[s] = 1;
            uint64_t inc = m.incarnation > TSC_SIM_INC_MAX ? TSC_SIM_INC_MAX : m.incarnation;
            if (TSC_SIM_VIEW_ST(row[s]) != m.status || TSC_SIM_VIEW_INC(row[s]) != inc)
                tsc_sim_violation(w, TSC_SIM_V_VIEW_MISMATCH,
                                  "node %u lists node %u as %s inc %" PRIu64
                                  ", its changes said %s inc %" PRIu64,
                                  o, s, tsc_status_name(m.status), m.incarnation,
                                  st_name(TSC_SIM_VIEW_ST(row[s])), TSC_SIM_VIEW_INC(row[s]));
        }
        /* Forgetting a dead member is fine; forgetting a live one is not. */
        for (uint32_t s = 0; s < w->n; s++) {
            unsigned st = TSC_SIM_VIEW_ST(row[s]);
            if (!seen[s] && (st == TSC_STATUS_ALIVE || st == TSC_STATUS_SUSPECT))
                tsc_sim_violation(w, TSC_SIM_V_VIEW_MISMATCH,
                                  "node %u reported node %u as %s but does not list it", o, s,
                                  st_name(st));
        }
    }
    tsc_free(seen);
}

int tsc_sim_all_alive(struct tsc_sim_world *w, void *unused)
{
    uint64_t up = w->n_up;
    return w->alive_pairs == up * (up ? up - 1 : 0);
}

int tsc_sim_converged(struct tsc_sim_world *w, void *unused)
{
    if (!tsc_sim_all_alive(w, NULL))
        return 0;
    for (uint32_t s = 0; s < w->n; s++) {
        const struct tsc_sim_node *nd = &w->nodes[s];
        if (nd->state == TSC_SIM_NODE_DOWN && nd->n_alive + nd->n_susp > 0)
            return 0;
    }
    return 1;
}

void tsc_sim_inv_explain(struct tsc_sim_world *w, char *buf, size_t len)
{
    uint64_t up = w->n_up;
    uint64_t missing = up * (up ? up - 1 : 0) - w->alive_pairs;
    for (uint32_t s = 0; s < w->n; s++) {
        const struct tsc_sim_node *nd = &w->nodes[s];
        int bad = nd->state == TSC_SIM_NODE_UP
                      ? nd->n_alive + 1 < w->n_up
                      : nd->state == TSC_SIM_NODE_DOWN && nd->n_alive + nd->n_susp > 0;
        if (!bad)
            continue;
        for (uint32_t o = 0; o < w->n; o++) {
            if (o == s || w->nodes[o].state != TSC_SIM_NODE_UP)
                continue;
            uint32_t v = w->view[(size_t)o * w->n + s];
            unsigned st = TSC_SIM_VIEW_ST(v);
            int wrong = nd->state == TSC_SIM_NODE_UP
                            ? st != TSC_STATUS_ALIVE
                            : st == TSC_STATUS_ALIVE || st == TSC_STATUS_SUSPECT;
            if (wrong) {
                snprintf(buf, len,
                         "%" PRIu64
                         " live pairs not alive; e.g. node %u (%s) sees node %u (%s%s) as"
                         " %s inc %" PRIu64,
                         missing, o, "up", s, nd->state == TSC_SIM_NODE_UP ? "up" : "down",
                         nd->left ? ", left" : "", st_name(st), TSC_SIM_VIEW_INC(v));
                return;
            }
        }
    }
    snprintf(buf, len, "%" PRIu64 " live pairs not alive", missing);
}
