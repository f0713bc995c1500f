/* tsc — runs in the simulator, the participant side: every node's
 * participant engine driven as agent/participant.c drives it, over a
 * simulated disk and simulated scripts (sim/runs.h).
 *
 * The contract's order is kept: the STARTED mark is on the disk before the
 * script is spawned, and the result before the report leaves. The disk is
 * the part of a node that a crash does not take: a restarted node's engine
 * is fed all of it (RESTORE, in key order as tscd scans RocksDB), and a
 * stage found STARTED is reported LOST, never run again.
 *
 * A script's fate is drawn from the node's PRNG when it is spawned: it
 * passes or fails after a uniform duration, hangs until the stage timeout
 * (the runner kills it: TIMEOUT), or hangs until it is killed (a runner
 * that lost its timer). A kill ends it TSC_SIM_KILL_US later as CANCELLED,
 * the way tscd's runner reports a SIGKILLed group. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "sim/coord.h"
#include "sim/runs.h"

#define WALL_EPOCH TSC_SEC(1700000000)

static int nomem(struct tsc_sim_world *w, const char *what)
{
    if (!w->err) {
        w->err = TSC_ENOMEM;
        tsc_errmsg_setf(w->errmsg, "runs: %s: out of memory", what);
    }
    return TSC_ENOMEM;
}

/* ---- the disk ------------------------------------------------------------------ */

static int before(uint64_t r0, uint32_t s0, uint64_t r1, uint32_t s1)
{
    return r0 < r1 || (r0 == r1 && s0 < s1);
}

/* Where (run, stage) is or would go in the sorted disk. */
static size_t disk_pos(const struct tsc_sim_rnode *r, uint64_t run, uint32_t stage)
{
    size_t lo = 0, hi = r->n_disk;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (before(r->disk[mid].run, r->disk[mid].stage, run, stage))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int disk_put(struct tsc_sim_world *w, struct tsc_sim_rnode *r, uint64_t run, uint32_t stage,
                    int state, const struct tsc_stage_result *res)
{
    size_t k = disk_pos(r, run, stage);
    if (k == r->n_disk || r->disk[k].run != run || r->disk[k].stage != stage) {
        if (r->n_disk == r->cap_disk) {
            size_t cap = r->cap_disk ? r->cap_disk * 2 : 16;
            struct tsc_sim_pstage *d = tsc_realloc(r->disk, cap * sizeof *d);
            if (d == NULL)
                return nomem(w, "disk");
            r->disk = d;
            r->cap_disk = cap;
        }
        memmove(r->disk + k + 1, r->disk + k, (r->n_disk - k) * sizeof *r->disk);
        r->n_disk++;
    }
    struct tsc_sim_pstage *d = &r->disk[k];
    memset(d, 0, sizeof *d);
    d->run = run;
    d->stage = stage;
    d->state = (uint8_t)state;
    if (res != NULL) {
        d->status = res->status;
        d->exit_code = res->exit_code;
        d->signal = res->signal;
        d->start_us = res->start_us;
        d->end_us = res->end_us;
        size_t n =
            res->message_len < sizeof d->message - 1 ? res->message_len : sizeof d->message - 1;
        if (n)
            memcpy(d->message, res->message, n);
    }
    return 0;
}

/* ---- scripts ------------------------------------------------------------------- */

static int spawn(struct tsc_sim_world *w, uint32_t i, const struct tsc_stage_start *s)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_sim_rnode *r = &rs->r[i];
    const struct tsc_sim_runs_config *c = &rs->cfg;
    if (r->n_scripts == r->cap_scripts) {
        size_t cap = r->cap_scripts ? r->cap_scripts * 2 : 4;
        struct tsc_sim_script *p = tsc_realloc(r->scripts, cap * sizeof *p);
        if (p == NULL)
            return nomem(w, "script");
        r->scripts = p;
        r->cap_scripts = cap;
    }
    struct tsc_sim_script *sc = &r->scripts[r->n_scripts++];
    memset(sc, 0, sizeof *sc);
    sc->run = s->run;
    sc->stage = s->stage;
    sc->index = s->index;
    sc->token = ++rs->tokens;
    sc->started = w->now;
    uint64_t dur = c->dur_max_us ? tsc_prng_below(&r->prng, c->dur_max_us + 1) : 0;
    double u = tsc_prng_double(&r->prng);
    uint64_t end = w->now + dur;
    sc->status = TSC_RESULT_PASSED;
    if (u < c->p_hang) {
        sc->status = TSC_RESULT_TIMEOUT;
        end = s->timeout_us ? w->now + s->timeout_us : TSC_TIME_NEVER;
    } else if (u < c->p_hang + c->p_stuck) {
        end = TSC_TIME_NEVER;
    } else if (u < c->p_hang + c->p_stuck + c->p_fail) {
        sc->status = TSC_RESULT_FAILED;
    }
    if (s->timeout_us && end != TSC_TIME_NEVER && end > w->now + s->timeout_us) {
        sc->status = TSC_RESULT_TIMEOUT; /* the runner's timer */
        end = w->now + s->timeout_us;
    }
    rs->spawns++;
    tsc_sim_world_note(w, "spawn", i, s->run << 16 | s->stage);
    if (end == TSC_TIME_NEVER)
        return 0;
    return tsc_sim_world_schedule(w, end, TSC_SIM_EV_SCRIPT, i, 0, sc->token);
}

static int kill_run(struct tsc_sim_world *w, uint32_t i, uint64_t run)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_sim_rnode *r = &rs->r[i];
    for (size_t k = 0; k < r->n_scripts; k++) {
        struct tsc_sim_script *sc = &r->scripts[k];
        if (sc->run != run || sc->killed)
            continue;
        sc->killed = 1;
        sc->status = TSC_RESULT_CANCELLED;
        sc->token = ++rs->tokens;
        int rc =
            tsc_sim_world_schedule(w, w->now + TSC_SIM_KILL_US, TSC_SIM_EV_SCRIPT, i, 0, sc->token);
        if (rc)
            return rc;
    }
    return 0;
}

static void note_start(struct tsc_sim_world *w, uint32_t i, uint64_t run, uint32_t stage,
                       uint32_t index)
{
    struct tsc_sim_runs *rs = w->runs;
    tsc__sim_runs_check_start(w, i, run, stage, index);
    if (rs->m_start && run == rs->m_run && stage < rs->m_stages && w->now > rs->m_start[stage])
        rs->m_start[stage] = w->now;
}

/* ---- the engine step ------------------------------------------------------------- */

static int send_report(struct tsc_sim_world *w, uint32_t i, const struct tsc_part_report *rep)
{
    struct tsc_sim_runs *rs = w->runs;
    uint32_t j = tsc__sim_runs_member(w, i, rep->to, NULL);
    if (j == TSC_SIM_NONE)
        return 0; /* unknown coordinator: it will ask again */
    tsc_buf_reset(&rs->body);
    if (tsc_stage_report_encode(w->wire.crypto, w->nodes[i].sk, &rep->report, &rs->body) != 0)
        return nomem(w, "report");
    rs->reports_sent++;
    return tsc__sim_runs_send(w, i, j, TSC_MSG_STAGE_REPORT, rs->body.data, rs->body.len);
}

/* Step node i's participant engine and carry out the update in the
 * contract's order: persist, kill, spawn, report. done_stored: the result
 * of a DONE is on the disk already (with its whole output, as tscd). */
static int part_step(struct tsc_sim_world *w, uint32_t i, struct tsc_part_event *ev,
                     int done_stored)
{
    struct tsc_sim_rnode *r = &w->runs->r[i];
    struct tsc_part_update up;
    if (r->p == NULL)
        return 0;
    ev->now = w->now;
    w->steps++;
    int rc = tsc_part_step(r->p, ev, &up);
    if (rc == TSC_ENOMEM)
        return nomem(w, "participant step");
    if (rc != 0)
        tsc_sim_violation(w, TSC_SIM_V_ENGINE_ERROR, "node %u: participant step (event %d): %s", i,
                          ev->type, tsc_strerror(rc));
    if (up.persist_started && (rc = disk_put(w, r, up.run, up.stage, TSC_PART_STARTED, NULL)))
        return rc;
    if (up.persist_done && !done_stored &&
        (rc = disk_put(w, r, up.run, up.stage, TSC_PART_DONE, up.result)))
        return rc;
    if (up.persist_done && up.result && up.result->status == TSC_RESULT_LOST)
        w->runs->lost++;
    if (up.kill && (rc = kill_run(w, i, up.kill_run)))
        return rc;
    if (up.spawn && up.start != NULL) {
        note_start(w, i, up.start->run, up.start->stage, up.start->index);
        if ((rc = spawn(w, i, up.start)))
            return rc;
    } else if (ev->type == TSC_PART_EV_START && up.persist_done) {
        /* Nothing to run: the stage is started and over at once. */
        note_start(w, i, ev->start->run, ev->start->stage, ev->start->index);
    }
    for (size_t k = 0; k < up.n_reports && rc == 0; k++)
        rc = send_report(w, i, &up.reports[k]);
    return rc;
}

/* As tsc__coord_fence: a command of a lower term than the coordinator this
 * node recognises is stale. */
static int fenced(struct tsc_sim_world *w, uint32_t i, uint64_t term)
{
    uint64_t known = 0;
    tsc_sim_coord_view(w, i, &known);
    if (term >= known)
        return 0;
    w->runs->fenced++;
    return 1;
}

int tsc__sim_runs_part_start(struct tsc_sim_world *w, uint32_t i, uint64_t from,
                             const uint8_t *body, size_t len)
{
    struct tsc_stage_start s;
    if (tsc_stage_start_decode(body, len, &s) != 0) {
        w->runs->rejected++;
        return 0;
    }
    if (fenced(w, i, s.term))
        return 0;
    struct tsc_part_event ev = {.type = TSC_PART_EV_START,
                                .from = from,
                                .start = &s,
                                .term = s.term,
                                .run = s.run,
                                .stage = s.stage};
    return part_step(w, i, &ev, 0);
}

int tsc__sim_runs_part_cancel(struct tsc_sim_world *w, uint32_t i, uint64_t from,
                              const uint8_t *body, size_t len)
{
    struct tsc_stage_cancel c;
    if (tsc_stage_cancel_decode(body, len, &c) != 0) {
        w->runs->rejected++;
        return 0;
    }
    if (fenced(w, i, c.term))
        return 0;
    struct tsc_part_event ev = {
        .type = TSC_PART_EV_CANCEL, .from = from, .run = c.run, .term = c.term, .stage = c.stage};
    return part_step(w, i, &ev, 0);
}

int tsc__sim_runs_script_end(struct tsc_sim_world *w, uint32_t i, uint32_t token)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_sim_rnode *r = &rs->r[i];
    size_t k = 0;
    while (k < r->n_scripts && r->scripts[k].token != token)
        k++;
    if (k == r->n_scripts)
        return 0; /* killed meanwhile (a new token), or its node crashed */
    struct tsc_sim_script sc = r->scripts[k];
    r->scripts[k] = r->scripts[--r->n_scripts];
    static const uint8_t out[] = "sim: stage output\n";
    struct tsc_stage_result res = {
        .status = sc.status,
        .start_us = WALL_EPOCH + sc.started,
        .end_us = WALL_EPOCH + w->now,
        .output = out,
        .output_len = sizeof out - 1,
        .message = "",
    };
    switch (sc.status) {
    case TSC_RESULT_FAILED:
        res.exit_code = 1;
        res.message = "exit 1";
        break;
    case TSC_RESULT_TIMEOUT:
        res.signal = 9;
        res.message = "timeout";
        break;
    case TSC_RESULT_CANCELLED:
        res.signal = 9;
        res.message = "killed by signal 9";
        break;
    default:
        break;
    }
    res.message_len = strlen(res.message);
    tsc_sim_world_note(w, "script_end", i, sc.run << 16 | sc.stage);
    if (rs->m_finish && sc.run == rs->m_run && sc.stage < rs->m_stages &&
        w->now > rs->m_finish[sc.stage])
        rs->m_finish[sc.stage] = w->now;
    /* The whole result is stored before the engine may report it. */
    int rc = disk_put(w, r, sc.run, sc.stage, TSC_PART_DONE, &res);
    if (rc)
        return rc;
    struct tsc_part_event ev = {
        .type = TSC_PART_EV_DONE, .run = sc.run, .stage = sc.stage, .result = &res};
    return part_step(w, i, &ev, 1);
}

int tsc__sim_runs_part_open(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_rnode *r = &w->runs->r[i];
    int rc = tsc_part_new(&r->p, w->nodes[i].id);
    if (rc) {
        r->p = NULL;
        return nomem(w, "participant engine");
    }
    r->n_scripts = 0;
    /* In key order; an entry's state may change while we go (LOST). */
    for (size_t k = 0; k < r->n_disk && rc == 0; k++) {
        struct tsc_sim_pstage d = r->disk[k];
        struct tsc_stage_result res = {
            .status = d.status,
            .exit_code = d.exit_code,
            .signal = d.signal,
            .start_us = d.start_us,
            .end_us = d.end_us,
            .message = d.message,
            .message_len = strlen(d.message),
        };
        struct tsc_part_event ev = {.type = TSC_PART_EV_RESTORE,
                                    .run = d.run,
                                    .stage = d.stage,
                                    .state = d.state,
                                    .result = d.state == TSC_PART_DONE ? &res : NULL};
        rc = part_step(w, i, &ev, 0);
    }
    return rc;
}

void tsc__sim_runs_part_crash(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_rnode *r = &w->runs->r[i];
    tsc_part_free(r->p);
    r->p = NULL;
    r->n_scripts = 0; /* kill -9 takes the scripts with it */
}
