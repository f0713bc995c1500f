/* tsc — the measuring scenarios: converge, crash, partition.
 *
 * Each starts from a converged cluster (tsc__sim_bootstrap), lets it settle,
 * then does one thing and measures it through a change hook: the world calls
 * the hook for every status/incarnation change any engine reports, at the
 * virtual microsecond it happens, so times are exact, not sampled. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "sim/scenario.h"
#include "sim/stats.h"
#include "wire/record.h"

/* Common end of a scenario. A world that never converged in the first
 * place (TSC_ETIMEDOUT from the bootstrap) is a result, not a failed run. */
static int finish(struct tsc_sim_world *w, struct tsc_sim_result *r, FILE *trace, int rc,
                  const char *errmsg)
{
    if (rc == TSC_ETIMEDOUT) {
        snprintf(r->note, sizeof(r->note), "%s", errmsg);
        r->ok = 0;
        rc = 0;
    }
    if (w) {
        tsc_sim_inv_verify_views(w);
        tsc__sim_collect(w, r);
        tsc_sim_world_free(w);
    }
    tsc__sim_end(r, trace);
    return rc;
}

/* Bootstrap, wait for the bootstrap's gossip to drain, settle for
 * o->settle_s. */
static int prepare(const struct tsc_sim_opts *o, struct tsc_sim_result *r, FILE *trace,
                   struct tsc_sim_world **w, char *errmsg)
{
    int rc = tsc__sim_setup(o, o->seed, trace, w, errmsg);
    if (rc == 0)
        rc = tsc__sim_bootstrap(*w, o, r, errmsg);
    if (rc == 0)
        rc = tsc__sim_quiesce(*w, o, r, errmsg);
    if (rc == 0)
        rc = tsc__sim_run_for(*w, o, (*w)->now + (uint64_t)(o->settle_s * 1e6), NULL, NULL, NULL,
                              errmsg);
    return rc;
}

/* ---- converge ---- */

struct conv {
    uint32_t subj;
    uint64_t target; /* 0 until the update was made */
    uint32_t count;  /* nodes holding incarnation >= target */
    uint32_t need[3];
    uint64_t at[3];
};

static void conv_hook(struct tsc_sim_world *w, uint32_t obs, uint32_t subj, unsigned ost,
                      uint64_t oinc, unsigned nst, uint64_t ninc, void *arg)
{
    struct conv *c = arg;
    if (!c->target || subj != c->subj || obs == subj)
        return;
    int had = ost != TSC_SIM_UNKNOWN && oinc >= c->target;
    if (had || ninc < c->target)
        return;
    c->count++;
    for (int k = 0; k < 3; k++)
        if (c->at[k] == TSC_TIME_NEVER && c->count >= c->need[k])
            c->at[k] = w->now;
}

static int conv_done(struct tsc_sim_world *w, void *arg)
{
    const struct conv *c = arg;
    return c->at[2] != TSC_TIME_NEVER;
}

int tsc_sim_converge(const struct tsc_sim_opts *o, struct tsc_sim_result *r, char *errmsg)
{
    FILE *trace;
    struct tsc_sim_world *w = NULL;
    int rc = tsc__sim_begin(o, r, &trace, errmsg);
    if (rc == 0)
        rc = prepare(o, r, trace, &w, errmsg);
    if (rc)
        return finish(w, r, trace, rc, errmsg);

    /* Steady state: what normal operation costs per node. Nodes started
     * together run their first periodic push-pull together too (within
     * 1.5 push-pull intervals of their start), a wave of full-state
     * streams that a long-running cluster does not see; measure after it. */
    uint64_t wave = w->cfg.gossip.pushpull_interval + w->cfg.gossip.pushpull_interval / 2;
    if (w->now < wave) {
        rc = tsc__sim_run_for(w, o, wave, NULL, NULL, NULL, errmsg);
        if (rc)
            return finish(w, r, trace, rc, errmsg);
    }
    const uint64_t window = TSC_SEC(30);
    uint64_t m0 = w->sent_msgs, b0 = w->sent_bytes;
    rc = tsc__sim_run_for(w, o, w->now + window, NULL, NULL, NULL, errmsg);
    if (rc)
        return finish(w, r, trace, rc, errmsg);
    double node_s = (double)w->n_up * ((double)window / 1e6);
    r->msgs_per_node_per_s = (double)(w->sent_msgs - m0) / node_s;
    r->bytes_per_node_per_s = (double)(w->sent_bytes - b0) / node_s;

    /* One node changes its readiness: a new signed record, a higher
     * incarnation, spread by gossip. Count who holds it, when. */
    struct conv c = {.subj = tsc_sim_pick_up(w, TSC_SIM_NONE)};
    uint64_t up = w->n_up;
    c.need[0] = (uint32_t)((up * 99 + 99) / 100);
    c.need[1] = (uint32_t)((up * 9999 + 9999) / 10000);
    c.need[2] = (uint32_t)up;
    c.at[0] = c.at[1] = c.at[2] = TSC_TIME_NEVER;
    w->on_change = conv_hook;
    w->change_arg = &c;
    uint64_t t0 = w->now;
    struct tsc_sim_node *nd = &w->nodes[c.subj];
    uint64_t before = nd->self_inc;
    rc = tsc_sim_node_set_meta(w, c.subj);
    if (rc)
        return finish(w, r, trace, rc, errmsg);
    struct tsc_gossip_member self;
    if (tsc_gossip_member_find(nd->g, nd->id, &self) == 0 && self.incarnation > nd->self_inc)
        nd->self_inc = self.incarnation;
    if (nd->self_inc <= before) {
        snprintf(r->note, sizeof(r->note),
                 "SET_META did not raise node %u's incarnation (%" PRIu64 ")", c.subj, before);
        return finish(w, r, trace, 0, errmsg);
    }
    c.target = nd->self_inc;
    c.count = 1;
    for (int k = 0; k < 3; k++)
        if (c.count >= c.need[k])
            c.at[k] = t0;
    int met = 0;
    rc = tsc__sim_run_for(w, o, t0 + TSC_SEC(120), conv_done, &c, &met, errmsg);
    w->on_change = NULL;
    if (rc)
        return finish(w, r, trace, rc, errmsg);
    double gi = (double)w->cfg.gossip.gossip_interval;
    int *rounds[3] = {&r->rounds_99, &r->rounds_9999, &r->rounds_100};
    double *secs[3] = {&r->seconds_99, &r->seconds_9999, &r->seconds_100};
    for (int k = 0; k < 3; k++) {
        if (c.at[k] == TSC_TIME_NEVER)
            continue;
        double dt = (double)(c.at[k] - t0);
        *secs[k] = dt / 1e6;
        *rounds[k] = (int)ceil(dt / gi - 1e-9);
    }
    r->ok = met;
    if (!met)
        snprintf(r->note, sizeof(r->note),
                 "update of node %u reached %u of %" PRIu64 " nodes in 120 virtual s", c.subj,
                 c.count, up);
    return finish(w, r, trace, 0, errmsg);
}

/* ---- crash ---- */

struct crash {
    uint8_t *killed;
    uint64_t *detected_at;
    uint8_t *fp_pairs; /* bit per (observer, subject) */
    uint64_t fp;
    uint64_t suspicions;
    int active;
};

static void crash_hook(struct tsc_sim_world *w, uint32_t obs, uint32_t subj, unsigned ost,
                       uint64_t oinc, unsigned nst, uint64_t ninc, void *arg)
{
    struct crash *c = arg;
    if (!c->active || obs == subj)
        return;
    const struct tsc_sim_node *s = &w->nodes[subj];
    if (s->state == TSC_SIM_NODE_UP) {
        size_t bit = (size_t)obs * w->n + subj;
        if (nst == TSC_STATUS_DEAD && !(c->fp_pairs[bit / 8] & (1u << (bit % 8)))) {
            c->fp_pairs[bit / 8] |= (uint8_t)(1u << (bit % 8));
            c->fp++;
        }
        if (nst == TSC_STATUS_SUSPECT)
            c->suspicions++;
    } else if (c->killed[subj] && c->detected_at[subj] == TSC_TIME_NEVER &&
               (nst == TSC_STATUS_DEAD || nst == TSC_STATUS_LEFT) && s->n_gone >= w->n_up) {
        c->detected_at[subj] = w->now;
    }
}

int tsc_sim_crash(const struct tsc_sim_opts *o, struct tsc_sim_result *r, char *errmsg)
{
    FILE *trace;
    struct tsc_sim_world *w = NULL;
    struct crash c = {0};
    uint32_t *order = NULL;
    double *times = NULL;
    int rc = tsc__sim_begin(o, r, &trace, errmsg);
    if (rc == 0)
        rc = prepare(o, r, trace, &w, errmsg);
    if (rc)
        return finish(w, r, trace, rc, errmsg);
    uint32_t n = w->n;
    c.killed = tsc_calloc(n, 1);
    c.detected_at = tsc_calloc(n, sizeof(*c.detected_at));
    c.fp_pairs = tsc_calloc(((size_t)n * n + 7) / 8, 1);
    order = tsc_calloc(n, sizeof(*order));
    times = tsc_calloc(o->kill ? o->kill : 1, sizeof(*times));
    if (!c.killed || !c.detected_at || !c.fp_pairs || !order || !times) {
        tsc_errmsg_setf(errmsg, "crash: out of memory");
        rc = TSC_ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        order[i] = i;
        c.detected_at[i] = TSC_TIME_NEVER;
    }
    tsc_prng_shuffle_u32(&w->prng, order, n);
    w->on_change = crash_hook;
    w->change_arg = &c;
    c.active = 1;
    uint64_t t_kill = w->now;
    for (uint32_t k = 0; k < o->kill; k++) {
        c.killed[order[k]] = 1;
        tsc_sim_node_crash(w, order[k]);
    }
    rc = tsc__sim_run_for(w, o, t_kill + (uint64_t)(o->duration_s * 1e6), NULL, NULL, NULL, errmsg);
    w->on_change = NULL;
    if (rc)
        goto out;
    r->killed = o->kill;
    for (uint32_t k = 0; k < o->kill; k++)
        if (c.detected_at[order[k]] != TSC_TIME_NEVER)
            times[r->detected++] = (double)(c.detected_at[order[k]] - t_kill) / 1e6;
    if (r->detected == r->killed && r->killed > 0) {
        r->detect_max_s = tsc_sim_percentile(times, r->detected, 100);
        r->detect_p50_s = tsc_sim_percentile(times, r->detected, 50);
    }
    r->false_positives = c.fp;
    r->suspicions = c.suspicions;
    r->ok = r->detected == r->killed && c.fp == 0;
    if (r->detected < r->killed)
        snprintf(r->note, sizeof(r->note),
                 "%u of %u killed nodes not marked dead by every live node within %.1f s",
                 r->killed - r->detected, r->killed, o->duration_s);
    else if (c.fp)
        snprintf(r->note, sizeof(r->note), "%" PRIu64 " false positives", c.fp);
out:
    tsc_free(c.killed);
    tsc_free(c.detected_at);
    tsc_free(c.fp_pairs);
    tsc_free(order);
    tsc_free(times);
    return finish(w, r, trace, rc, errmsg);
}

/* ---- partition ---- */

struct part {
    uint16_t *group;
    uint32_t size[2];
    uint8_t *fp_pairs;
    uint64_t fp;        /* same-side pairs marked dead while split */
    uint64_t heal_dead; /* pairs marked dead after healing (refuted) */
    int healed;
};

static void part_hook(struct tsc_sim_world *w, uint32_t obs, uint32_t subj, unsigned ost,
                      uint64_t oinc, unsigned nst, uint64_t ninc, void *arg)
{
    struct part *p = arg;
    size_t bit = (size_t)obs * w->n + subj;
    if (obs == subj || nst != TSC_STATUS_DEAD)
        return;
    /* After healing, each side's "dead" claims about the other reach nodes
     * that can talk to the accused: SWIM accepts them at the same
     * incarnation and the accused refutes. Counted, but not as false
     * positives of the failure detector. */
    if (p->healed) {
        p->heal_dead++;
        return;
    }
    if (p->group[obs] == p->group[subj] && !(p->fp_pairs[bit / 8] & (1u << (bit % 8)))) {
        p->fp_pairs[bit / 8] |= (uint8_t)(1u << (bit % 8));
        p->fp++;
    }
}

/* Each side marks every node of the other side dead. */
static int split_seen(struct tsc_sim_world *w, void *arg)
{
    const struct part *p = arg;
    for (uint32_t s = 0; s < w->n; s++)
        if (w->nodes[s].n_gone < p->size[1 - p->group[s]])
            return 0;
    return 1;
}

int tsc_sim_partition(const struct tsc_sim_opts *o, struct tsc_sim_result *r, char *errmsg)
{
    FILE *trace;
    struct tsc_sim_world *w = NULL;
    struct part p = {0};
    uint32_t *order = NULL;
    int rc = tsc__sim_begin(o, r, &trace, errmsg);
    if (rc == 0)
        rc = prepare(o, r, trace, &w, errmsg);
    if (rc)
        return finish(w, r, trace, rc, errmsg);
    uint32_t n = w->n;
    p.group = tsc_calloc(n, sizeof(*p.group));
    p.fp_pairs = tsc_calloc(((size_t)n * n + 7) / 8, 1);
    order = tsc_calloc(n, sizeof(*order));
    if (!p.group || !p.fp_pairs || !order) {
        tsc_errmsg_setf(errmsg, "partition: out of memory");
        rc = TSC_ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    tsc_prng_shuffle_u32(&w->prng, order, n);
    for (uint32_t k = 0; k < n; k++)
        p.group[order[k]] = k < n / 2 ? 0 : 1;
    p.size[0] = n / 2;
    p.size[1] = n - n / 2;
    w->on_change = part_hook;
    w->change_arg = &p;
    uint64_t t_split = w->now;
    tsc_sim_net_partition(&w->net, p.group, 0);
    tsc_sim_world_note(w, "partition", p.size[0], p.size[1]);
    if (w->trace) {
        fputs("# groups:", w->trace);
        for (uint32_t i = 0; i < n; i++)
            fprintf(w->trace, " %u", p.group[i]);
        fputc('\n', w->trace);
    }
    int met = 0;
    rc = tsc__sim_run_for(w, o, t_split + TSC_SEC(120), split_seen, &p, &met, errmsg);
    if (rc)
        goto out;
    if (!met) {
        uint64_t missing = 0, subjects = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t want = p.size[1 - p.group[i]];
            if (w->nodes[i].n_gone < want) {
                subjects++;
                missing += want - w->nodes[i].n_gone;
            }
        }
        snprintf(r->note, sizeof(r->note),
                 "the sides did not mark each other dead in 120 s: %" PRIu64
                 " (observer, other-side node) pairs not dead, about %" PRIu64 " nodes",
                 missing, subjects);
        goto out;
    }
    r->detect_s = (double)(w->now - t_split) / 1e6;
    uint64_t t_heal = w->now;
    tsc_sim_net_heal(&w->net);
    tsc_sim_world_note(w, "heal", 0, 0);
    p.healed = 1;
    rc = tsc__sim_run_for(w, o, t_heal + TSC_SEC(300), tsc_sim_all_alive, NULL, &met, errmsg);
    if (rc)
        goto out;
    if (met)
        r->reconverge_s = (double)(w->now - t_heal) / 1e6;
    else {
        char why[300];
        tsc_sim_inv_explain(w, why, sizeof(why));
        snprintf(r->note, sizeof(r->note), "no reconvergence 300 s after healing: %s", why);
    }
    r->false_positives = p.fp;
    r->heal_dead_marks = p.heal_dead;
    r->ok = met && p.fp == 0;
    if (met && p.fp)
        snprintf(r->note, sizeof(r->note), "%" PRIu64 " same-side pairs marked dead", p.fp);
out:
    if (w)
        w->on_change = NULL;
    tsc_free(p.group);
    tsc_free(p.fp_pairs);
    tsc_free(order);
    return finish(w, r, trace, rc, errmsg);
}
