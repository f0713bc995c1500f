/* tsc — the invariants of runs, checked as the simulation goes:
 *   - barrier: a node starts stage s of a run (spawns its script, or has
 *     nothing to run and reports at once) only once the STAGE record of the
 *     stage before it is committed: the committed log must have decided
 *     every earlier stage of the run and made s the stage in progress (or a
 *     stage it decided since, for a START that arrives late), and the run's
 *     SUBMIT must be committed and the run's turn come; and while any node
 *     still runs an earlier (run, stage), the committed record of that
 *     stage must have given that node up (TIMEOUT, DEAD, CANCELLED, LOST);
 *   - once: no node starts the same (run, stage) twice, across restarts;
 *   - decided records never change: the STAGE record that decides a stage
 *     on a node's barrier engine is the one that decided it in the
 *     committed log (same bytes, same index); and what it says a machine
 *     reported (PASSED, FAILED, ERROR, LOST) is what that machine stored;
 *   - liveness (tsc_sim_runs_idle, which the campaign waits for once the
 *     faults have stopped): every run the client asked for was submitted,
 *     and every submitted run finished.
 * "Committed" is judged by the oracle: a barrier engine that never leads,
 * fed every committed entry once, in log order, the moment the first node
 * reports it committed (before that node's own engine applies it), so no
 * node's engine is ever ahead of it. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "sim/coord.h"
#include "sim/runs.h"
#include "sim/stats.h"

static int nomem(struct tsc_sim_world *w)
{
    if (!w->err) {
        w->err = TSC_ENOMEM;
        tsc_errmsg_setf(w->errmsg, "runs check: out of memory");
    }
    return TSC_ENOMEM;
}

/* Insert v into the sorted set a; 1 if it was there already, -1 on OOM. */
static int set_add(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
    size_t lo = 0, hi = *n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((*a)[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < *n && (*a)[lo] == v)
        return 1;
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        uint64_t *p = tsc_realloc(*a, c * sizeof *p);
        if (p == NULL)
            return -1;
        *a = p;
        *cap = c;
    }
    memmove(*a + lo + 1, *a + lo, (*n - lo) * sizeof **a);
    (*a)[lo] = v;
    (*n)++;
    return 0;
}

static int set_has(const uint64_t *a, size_t n, uint64_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo] == v;
}

const struct tsc_sim_decided *tsc__sim_runs_decision(const struct tsc_sim_runs *rs, uint64_t run,
                                                     uint32_t stage)
{
    for (size_t k = rs->n_dec; k-- > 0;)
        if (rs->dec[k].run == run && rs->dec[k].stage == stage)
            return &rs->dec[k];
    return NULL;
}

/* What the decision says of machines that reported must be what they
 * stored (the coordinator never invents a result it could not have). */
static void check_truth(struct tsc_sim_world *w, const struct tsc_runlog_stage *st,
                        const struct tsc_runlog_submit *sub)
{
    struct tsc_sim_runs *rs = w->runs;
    for (size_t k = 0; k < st->n_results && k < sub->n_participants; k++) {
        uint8_t s = st->results[k].status;
        if (s != TSC_RESULT_PASSED && s != TSC_RESULT_FAILED && s != TSC_RESULT_ERROR &&
            s != TSC_RESULT_LOST)
            continue;
        uint32_t q = tsc__sim_lookup(w, sub->participants[k].id);
        const struct tsc_sim_rnode *r = q == TSC_SIM_NONE ? NULL : &rs->r[q];
        const struct tsc_sim_pstage *d = NULL;
        for (size_t x = 0; r && x < r->n_disk && d == NULL; x++)
            if (r->disk[x].run == st->run && r->disk[x].stage == st->stage)
                d = &r->disk[x];
        if (d == NULL || d->state != TSC_PART_DONE || d->status != s)
            tsc_sim_violation(w, TSC_SIM_V_DECIDED,
                              "run %" PRIu64 " stage %u decided %s for node %u, which stored %s",
                              st->run, st->stage, tsc_result_status_name(s), q,
                              d == NULL                   ? "nothing"
                              : d->state != TSC_PART_DONE ? "STARTED"
                                                          : tsc_result_status_name(d->status));
    }
}

/* The oracle is about to apply a STAGE record that decides its stage in
 * progress: keep the decision. */
static int decide(struct tsc_sim_world *w, const struct tsc_election_entry *x,
                  const struct tsc_runlog_stage *st)
{
    struct tsc_sim_runs *rs = w->runs;
    const uint8_t *sb;
    size_t sl;
    struct tsc_runlog sub;
    if (rs->n_dec == rs->cap_dec) {
        size_t cap = rs->cap_dec ? rs->cap_dec * 2 : 32;
        struct tsc_sim_decided *d = tsc_realloc(rs->dec, cap * sizeof *d);
        if (d == NULL)
            return nomem(w);
        rs->dec = d;
        rs->cap_dec = cap;
    }
    struct tsc_sim_decided *d = &rs->dec[rs->n_dec];
    d->run = st->run;
    d->stage = st->stage;
    d->index = x->index;
    d->hash = tsc_sim_hash(TSC_SIM_HASH_INIT, x->data, x->len);
    d->n = st->n_results;
    if ((d->status = tsc_calloc(d->n ? d->n : 1, 1)) == NULL)
        return nomem(w);
    for (size_t k = 0; k < d->n; k++)
        d->status[k] = st->results[k].status;
    rs->n_dec++;
    rs->decisions++;
    tsc_sim_world_note(w, "decided", st->outcome, st->run << 16 | st->stage);
    if (tsc_barrier_run_submit(rs->oracle, st->run, &sb, &sl) == 0 &&
        tsc_runlog_decode(sb, sl, &sub) == 0) {
        check_truth(w, st, &sub.submit);
        tsc_runlog_free(&sub);
    }
    if (rs->m_commit && st->run == rs->m_run && st->stage < rs->m_stages)
        rs->m_commit[st->stage] = w->now;
    return 0;
}

static int measure_run(struct tsc_sim_world *w, uint64_t run, const struct tsc_runlog_submit *s)
{
    struct tsc_sim_runs *rs = w->runs;
    uint32_t n = tsc_runlog_n_stages(s);
    rs->m_run = run;
    rs->m_stages = n;
    rs->m_submit = w->now;
    rs->m_finish = tsc_calloc(n, sizeof *rs->m_finish);
    rs->m_start = tsc_calloc(n, sizeof *rs->m_start);
    rs->m_prop = tsc_calloc(n, sizeof *rs->m_prop);
    rs->m_commit = tsc_calloc(n, sizeof *rs->m_commit);
    if (!rs->m_finish || !rs->m_start || !rs->m_prop || !rs->m_commit)
        return nomem(w);
    return 0;
}

int tsc__sim_runs_oracle(struct tsc_sim_world *w, const struct tsc_election_entry *x)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_runlog rec;
    struct tsc_barrier_progress pg;
    struct tsc_barrier_update up;
    int rc = 0, decoded;
    if (x->index != rs->oracle_next)
        return 0; /* seen already (or a gap, which the election checks flag) */
    rs->oracle_next++;
    if (x->type != TSC_RAFT_ENTRY_DATA)
        return 0;
    decoded = tsc_runlog_decode(x->data, x->len, &rec) == 0;
    tsc_barrier_progress(rs->oracle, &pg);
    if (decoded && rec.kind == TSC_RUNLOG_SUBMIT) {
        int dup = set_add(&rs->nonce_seen, &rs->n_nonce, &rs->cap_nonce, rec.submit.nonce);
        if (dup < 0 || set_add(&rs->run_ids, &rs->n_runs, &rs->cap_runs, x->index) < 0)
            rc = nomem(w);
        if (dup == 0) {
            rs->submitted++;
            if (rs->cfg.measure && rs->m_run == 0 && rc == 0)
                rc = measure_run(w, x->index, &rec.submit);
        }
    } else if (decoded && rec.kind == TSC_RUNLOG_STAGE && rec.stage.run == pg.run &&
               rec.stage.stage == pg.stage && rec.stage.n_results == pg.n_participants) {
        rc = decide(w, x, &rec.stage);
    }
    if (decoded)
        tsc_runlog_free(&rec);
    if (rc)
        return rc;
    struct tsc_barrier_event ev = {.type = TSC_BARRIER_EV_APPLY,
                                   .now = w->now,
                                   .index = x->index,
                                   .data = x->data,
                                   .len = x->len};
    rc = tsc_barrier_step(rs->oracle, &ev, &up);
    if (rc == TSC_ENOMEM)
        return nomem(w);
    for (size_t k = 0; k < up.n_finished; k++) {
        rs->finished++;
        rs->passed += up.finished[k].state == TSC_RUN_PASSED;
        rs->failed += up.finished[k].state == TSC_RUN_FAILED;
        rs->cancelled += up.finished[k].state == TSC_RUN_CANCELLED;
        tsc_sim_world_note(w, "run_finished", (uint32_t)up.finished[k].state, up.finished[k].run);
        if (up.finished[k].run == rs->m_run)
            rs->m_done = w->now;
    }
    return 0;
}

void tsc__sim_runs_check_apply(struct tsc_sim_world *w, uint32_t i, uint64_t index,
                               const uint8_t *data, size_t len)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_barrier_progress pg;
    struct tsc_runlog rec;
    tsc_barrier_progress(rs->r[i].b, &pg);
    if (pg.run == 0 || tsc_runlog_decode(data, len, &rec) != 0)
        return;
    if (rec.kind == TSC_RUNLOG_STAGE && rec.stage.run == pg.run && rec.stage.stage == pg.stage &&
        rec.stage.n_results == pg.n_participants) {
        const struct tsc_sim_decided *d = tsc__sim_runs_decision(rs, pg.run, pg.stage);
        if (d == NULL || d->index != index || d->hash != tsc_sim_hash(TSC_SIM_HASH_INIT, data, len))
            tsc_sim_violation(w, TSC_SIM_V_DECIDED,
                              "node %u: run %" PRIu64 " stage %u decided by index %" PRIu64
                              ", the committed log decided it %s %" PRIu64,
                              i, pg.run, pg.stage, index,
                              d ? "by index" : "not yet:", d ? d->index : 0);
    }
    tsc_runlog_free(&rec);
}

static int given_up(uint8_t s)
{
    return s == TSC_RESULT_TIMEOUT || s == TSC_RESULT_DEAD || s == TSC_RESULT_CANCELLED ||
           s == TSC_RESULT_LOST;
}

/* The committed log allows (run, stage) to start now. */
static void check_turn(struct tsc_sim_world *w, uint32_t i, uint64_t run, uint32_t stage)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_barrier_progress pg;
    const uint8_t *sb;
    size_t sl;
    const char *why = NULL;
    tsc_barrier_progress(rs->oracle, &pg);
    if (!set_has(rs->run_ids, rs->n_runs, run))
        why = "its SUBMIT is not committed";
    else if (pg.run == run && stage > pg.stage)
        why = "an earlier stage is not decided";
    else if (pg.run != run && tsc_barrier_run_submit(rs->oracle, run, &sb, &sl) == 0)
        why = "the run is still queued";
    else if ((pg.run != run || stage < pg.stage) && tsc__sim_runs_decision(rs, run, stage) == NULL)
        why = "the committed log skipped that stage";
    if (why)
        tsc_sim_violation(w, TSC_SIM_V_BARRIER,
                          "node %u starts run %" PRIu64 " stage %u, but %s (committed: run %" PRIu64
                          " at stage %u)",
                          i, run, stage, why, pg.run, pg.stage);
}

void tsc__sim_runs_check_start(struct tsc_sim_world *w, uint32_t i, uint64_t run, uint32_t stage,
                               uint32_t index)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_sim_rnode *r = &rs->r[i];
    (void)index;
    int twice = set_add(&r->started, &r->n_started, &r->cap_started, run << 16 | stage);
    if (twice < 0) {
        nomem(w);
        return;
    }
    if (twice)
        tsc_sim_violation(w, TSC_SIM_V_TWICE, "node %u starts run %" PRIu64 " stage %u again", i,
                          run, stage);
    check_turn(w, i, run, stage);
    for (uint32_t q = 0; q < w->n; q++) {
        const struct tsc_sim_rnode *o = &rs->r[q];
        for (size_t k = 0; k < o->n_scripts; k++) {
            const struct tsc_sim_script *sc = &o->scripts[k];
            if (!(sc->run < run || (sc->run == run && sc->stage < stage)))
                continue;
            const struct tsc_sim_decided *d = tsc__sim_runs_decision(rs, sc->run, sc->stage);
            if (d != NULL && sc->index < d->n && given_up(d->status[sc->index]))
                continue;
            tsc_sim_violation(w, TSC_SIM_V_BARRIER,
                              "node %u starts run %" PRIu64 " stage %u while node %u still "
                              "runs run %" PRIu64 " stage %u (%s)",
                              i, run, stage, q, sc->run, sc->stage,
                              d == NULL ? "not decided"
                                        : tsc_result_status_name(d->status[sc->index]));
        }
    }
}

int tsc_sim_runs_idle(struct tsc_sim_world *w, void *unused)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_barrier_progress pg;
    (void)unused;
    for (size_t k = 0; k < rs->n_want; k++)
        if (!set_has(rs->nonce_seen, rs->n_nonce, rs->want[k].nonce))
            return 0;
    tsc_barrier_progress(rs->oracle, &pg);
    return pg.run == 0;
}

void tsc_sim_runs_explain(struct tsc_sim_world *w, char *buf, size_t len)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_barrier_progress pg;
    size_t wanted = 0, off = 0;
    for (size_t k = 0; k < rs->n_want; k++)
        wanted += !set_has(rs->nonce_seen, rs->n_nonce, rs->want[k].nonce);
    tsc_barrier_progress(rs->oracle, &pg);
    off += (size_t)snprintf(buf, len,
                            "%zu runs not submitted; committed: run %" PRIu64
                            " at stage %u of %u, %zu queued behind it",
                            wanted, pg.run, pg.stage, pg.n_stages, pg.n_queued);
    for (uint32_t i = 0; i < w->n && off < len; i++) {
        if (!rs->r[i].acting || rs->r[i].b == NULL)
            continue;
        tsc_barrier_progress(rs->r[i].b, &pg);
        off += (size_t)snprintf(buf + off, len - off,
                                "; coordinator %u: run %" PRIu64 " stage %u, %zu of %zu reported",
                                i, pg.run, pg.stage, pg.n_reported, pg.n_participants);
        for (size_t k = 0; k < pg.n_participants && off < len; k++)
            if (tsc_barrier_current_result(rs->r[i].b, pg.run, k) == TSC_RESULT_PENDING)
                off += (size_t)snprintf(buf + off, len - off, " [%zu pending]", k);
    }
}

void tsc_sim_runs_note_kill(struct tsc_sim_world *w)
{
    struct tsc_barrier_progress pg;
    tsc_barrier_progress(w->runs->oracle, &pg);
    w->runs->kills_mid_run += pg.run != 0;
}
