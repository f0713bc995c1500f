/* tsc — the simulator's runs client: what tscctl and the coordinator's
 * control ops (agent/runs_ctl.c) do for a submission, in one place.
 *
 * A wanted run has a nonce. Until a SUBMIT with that nonce is committed,
 * the client offers it, once a second, to whichever node acts as
 * coordinator; that node builds the SUBMIT as op_run does: a suite
 * (wire/suite.h bytes: an init, a few cases whose stages sometimes have no
 * script, a finalize; every stage with the configured timeout), the
 * participants chosen now from its alive (or suspect) members, sorted by
 * name, and appends it to the election log. A retry that races its first
 * attempt into the log is the same run (the barrier engine drops a SUBMIT
 * whose nonce it knows). While client_on, a new run is wanted every
 * submit_every_us on average, and with p_cancel the current run is
 * cancelled (a CANCEL record through the coordinator, as tscctl cancel). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "sim/coord.h"
#include "sim/runs.h"
#include "sim/stats.h"
#include "wire/record.h"

#define CLIENT_EVERY TSC_MSEC(200)
#define RETRY_US     TSC_SEC(1)
#define WALL_EPOCH   TSC_SEC(1700000000)
#define MAX_CASES    TSC_SIM_RUNS_MAX_CASES

static int nomem(struct tsc_sim_world *w)
{
    if (!w->err) {
        w->err = TSC_ENOMEM;
        tsc_errmsg_setf(w->errmsg, "runs client: out of memory");
    }
    return TSC_ENOMEM;
}

static int schedule(struct tsc_sim_world *w, uint64_t t)
{
    struct tsc_sim_runs *rs = w->runs;
    if (rs->client_at <= t)
        return 0;
    rs->client_at = t;
    return tsc_sim_world_schedule(w, t, TSC_SIM_EV_RCLIENT, 0, 0, 0);
}

int tsc_sim_runs_want(struct tsc_sim_world *w, uint32_t n_cases)
{
    struct tsc_sim_runs *rs = w->runs;
    const struct tsc_sim_runs_config *c = &rs->cfg;
    if (rs->n_want == rs->cap_want) {
        size_t cap = rs->cap_want ? rs->cap_want * 2 : 16;
        struct tsc_sim_want *p = tsc_realloc(rs->want, cap * sizeof *p);
        if (p == NULL)
            return nomem(w);
        rs->want = p;
        rs->cap_want = cap;
    }
    if (n_cases == 0)
        n_cases =
            c->cases_min + (uint32_t)tsc_prng_below(&rs->prng, c->cases_max - c->cases_min + 1);
    if (n_cases > MAX_CASES)
        n_cases = MAX_CASES;
    struct tsc_sim_want *x = &rs->want[rs->n_want++];
    x->nonce = tsc_sim_hash_u64(w->cfg.seed, ++rs->nonces) | 1;
    x->n_cases = n_cases;
    x->next_try = w->now;
    return schedule(w, w->now);
}

/* ---- building a SUBMIT as op_run does -------------------------------------- */

static void machine_name(const struct tsc_meta *m, uint64_t id, char *out, size_t cap)
{
    for (unsigned k = 0; k < m->n_labels; k++)
        if (strcmp(m->labels[k].key, "name") == 0) {
            snprintf(out, cap, "%s", m->labels[k].val);
            return;
        }
    snprintf(out, cap, "node-%016" PRIx64, id);
}

static int cmp_participant(const void *x, const void *y)
{
    const struct tsc_run_participant *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->id > b->id) - (a->id < b->id);
}

/* Alive (or suspect) members of node l, at most parts_max of them drawn at
 * random (0: all), sorted by name. */
static int choose(struct tsc_sim_world *w, uint32_t l, struct tsc_run_participant **out, size_t *n)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_gossip *g = w->nodes[l].g;
    size_t cap = tsc_gossip_count(g), k = 0;
    struct tsc_run_participant *p = tsc_calloc(cap ? cap : 1, sizeof *p);
    struct tsc_gossip_member m;
    struct tsc_record rec;
    struct tsc_meta meta;
    if (p == NULL)
        return nomem(w);
    for (size_t i = 0; i < cap && tsc_gossip_member_at(g, i, &m) == 0; i++) {
        if ((m.status != TSC_STATUS_ALIVE && m.status != TSC_STATUS_SUSPECT) || m.record == NULL)
            continue;
        if (tsc_record_decode(w->cfg.crypto, m.record, m.record_len, 0, &rec) != 0 ||
            tsc_meta_decode(rec.meta, rec.meta_len, &meta) != 0)
            continue;
        struct tsc_run_participant *q = &p[k++];
        q->id = m.id;
        q->addr = m.addr;
        machine_name(&meta, m.id, q->name, sizeof q->name);
        if (meta.n_roles > 0)
            snprintf(q->role, sizeof q->role, "%s", meta.roles[0]);
    }
    size_t want = rs->cfg.parts_max && rs->cfg.parts_max < k
                      ? 1 + (size_t)tsc_prng_below(&rs->prng, rs->cfg.parts_max)
                      : k;
    if (want < k && want > 0) {
        for (size_t i = 0; i < want; i++) { /* a partial Fisher-Yates */
            size_t j = i + (size_t)tsc_prng_below(&rs->prng, k - i);
            struct tsc_run_participant t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        k = want;
    }
    qsort(p, k, sizeof *p, cmp_participant);
    *out = p;
    *n = k;
    return 0;
}

/* A suite of n_cases; some case stages have no script. */
static int build_suite(struct tsc_sim_world *w, uint32_t n_cases, struct tsc_buf *out)
{
    struct tsc_sim_runs *rs = w->runs;
    static char all[] = "", work[] = TSC_SIM_SCRIPT, name[] = "sim";
    char names[MAX_CASES][16];
    struct tsc_suite_script sc = {.role = all, .text = work};
    struct tsc_suite_case cases[MAX_CASES];
    struct tsc_suite s;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    memset(&s, 0, sizeof s);
    memset(cases, 0, sizeof cases);
    s.name = name;
    s.timeout_ms = rs->cfg.stage_timeout_ms;
    s.init.n_scripts = s.finalize.n_scripts = 1;
    s.init.scripts = s.finalize.scripts = &sc;
    s.n_cases = n_cases;
    s.cases = cases;
    for (uint32_t k = 0; k < n_cases; k++) {
        snprintf(names[k], sizeof names[k], "c%u", k);
        cases[k].name = names[k];
        for (int t = 0; t < 3; t++) {
            if (tsc_prng_double(&rs->prng) < rs->cfg.p_empty)
                continue;
            cases[k].stage[t].n_scripts = 1;
            cases[k].stage[t].scripts = &sc;
        }
    }
    int rc = tsc_suite_encode(&s, out, errmsg);
    if (rc == TSC_ENOMEM)
        return nomem(w);
    if (rc && !w->err) {
        w->err = rc;
        tsc_errmsg_setf(w->errmsg, "runs client: suite: %s", errmsg);
    }
    return rc;
}

static int submit(struct tsc_sim_world *w, uint32_t l, const struct tsc_sim_want *x)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_runlog_submit sub;
    struct tsc_buf suite, rec;
    uint64_t timeouts[3 * MAX_CASES + 2];
    struct tsc_suite s;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    int result, rc;
    if (tsc_barrier_find_nonce(rs->r[l].b, x->nonce) != 0)
        return 0; /* op_run: the request made that run already */
    memset(&sub, 0, sizeof sub);
    tsc_buf_init(&suite);
    tsc_buf_init(&rec);
    rc = build_suite(w, x->n_cases, &suite);
    if (rc == 0 && (rc = tsc_suite_decode(suite.data, suite.len, &s, errmsg)) == 0) {
        for (uint32_t k = 0; k < tsc_suite_n_stages(&s); k++)
            timeouts[k] = tsc_suite_timeout_ms(&s, k) * 1000u;
        tsc_suite_free(&s);
        rc = choose(w, l, &sub.participants, &sub.n_participants);
    }
    if (rc == 0 && sub.n_participants > 0) {
        sub.nonce = x->nonce;
        sub.submitted_us = WALL_EPOCH + w->now;
        snprintf(sub.suite_name, sizeof sub.suite_name, "sim");
        sub.n_cases = x->n_cases;
        sub.suite = suite.data;
        sub.suite_len = suite.len;
        rc = tsc_runlog_encode_submit(&sub, timeouts, &rec);
        if (rc == 0 && rec.len <= TSC_SIM_RUN_MAX_RECORD) {
            tsc_sim_world_note(w, "submit", l, x->nonce);
            rc = tsc__sim_coord_append(w, l, rec.data, rec.len, &result);
        } else if (rc == TSC_ENOMEM) {
            nomem(w);
        }
    }
    tsc_free(sub.participants);
    tsc_buf_free(&suite);
    tsc_buf_free(&rec);
    return w->err ? w->err : 0;
}

/* tscctl cancel: the run in progress on node l ends; finalize stages run. */
static int cancel_current(struct tsc_sim_world *w, uint32_t l)
{
    struct tsc_barrier_progress pg;
    struct tsc_buf rec;
    int result = 0, rc = 0;
    tsc_barrier_progress(w->runs->r[l].b, &pg);
    if (pg.run == 0)
        return 0;
    struct tsc_runlog_cancel c = {.run = pg.run, .at_us = WALL_EPOCH + w->now};
    snprintf(c.reason, sizeof c.reason, "cancelled by the simulator's client");
    tsc_buf_init(&rec);
    if (tsc_runlog_encode_cancel(&c, &rec) != 0)
        rc = nomem(w);
    if (rc == 0) {
        tsc_sim_world_note(w, "cancel", l, pg.run);
        rc = tsc__sim_coord_append(w, l, rec.data, rec.len, &result);
    }
    tsc_buf_free(&rec);
    return rc;
}

/* The node that acts as coordinator now, or TSC_SIM_NONE. */
static uint32_t acting(struct tsc_sim_world *w)
{
    for (uint32_t i = 0; i < w->coord->voters && i < w->n; i++)
        if (w->runs->r[i].b != NULL && tsc__sim_coord_acting(w, i))
            return i;
    return TSC_SIM_NONE;
}

static int seen(const struct tsc_sim_runs *rs, uint64_t nonce)
{
    for (size_t k = 0; k < rs->n_nonce; k++) /* small: a few runs per seed */
        if (rs->nonce_seen[k] == nonce)
            return 1;
    return 0;
}

int tsc__sim_runs_client(struct tsc_sim_world *w)
{
    struct tsc_sim_runs *rs = w->runs;
    int rc = 0;
    if (w->now != rs->client_at)
        return 0; /* superseded by an earlier call */
    rs->client_at = TSC_TIME_NEVER;
    uint32_t l = acting(w);
    if (rs->client_on && w->now >= rs->next_submit) {
        double f = 0.5 + tsc_prng_double(&rs->prng);
        rs->next_submit = w->now + (uint64_t)((double)rs->cfg.submit_every_us * f);
        rc = tsc_sim_runs_want(w, 0);
        if (rc == 0 && l != TSC_SIM_NONE && tsc_prng_double(&rs->prng) < rs->cfg.p_cancel)
            rc = cancel_current(w, l);
    }
    size_t keep = 0;
    for (size_t k = 0; k < rs->n_want && rc == 0; k++) {
        struct tsc_sim_want *x = &rs->want[k];
        if (seen(rs, x->nonce))
            continue; /* committed: submitted */
        l = acting(w);
        if (x->next_try <= w->now && l != TSC_SIM_NONE) {
            x->next_try = w->now + RETRY_US;
            rc = submit(w, l, x);
        }
        rs->want[keep++] = *x;
    }
    if (rc)
        return rc;
    rs->n_want = keep;
    if (rs->client_on || rs->n_want > 0)
        rc = schedule(w, w->now + CLIENT_EVERY);
    return rc;
}
