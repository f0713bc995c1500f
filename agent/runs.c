/* tsc — runs, the coordinator side: the driver of the barrier engine
 * (barrier/barrier.h) on every agent.
 *
 * Every agent feeds its engine the committed run records of the election log
 * (tsc__runs_apply, called from inside an election step by coord.c) and the
 * membership changes; only the acting coordinator is told it leads, and only
 * it sends STARTs and proposes STAGE records. Voters hold the log, so after a
 * failover the new coordinator's engine already knows every run and resumes
 * the current stage (barrier.h); non-voters never lead, their engines stay
 * idle.
 *
 * Re-entrancy. The election engine's update must be consumed before it is
 * stepped again, and a proposal IS an election step. Proposals made while an
 * election step is being consumed wait in runs.pending and are appended by
 * tsc__runs_after_coord_step, which coord.c calls once that step is done.
 * Messages to participants go through the network, also to this agent's own
 * participant engine, so that no engine is ever stepped from inside another
 * engine's update of the same kind.
 *
 * Rendering. A START carries the script already rendered for its machine
 * (barrier/plan.h): the coordinator has the suite (SUBMIT record) and the
 * participants; a participant needs no suite state to run its stage. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "common/alloc.h"

static void on_runs_timer(uv_timer_t *t);
static void runs_step(struct tsc_agent *a, struct tsc_barrier_event *ev);

int tsc__runs_open(struct tsc_agent *a, char *errmsg)
{
    struct tsc__runs *r = &a->runs;
    struct tsc_barrier_config cfg;
    int rc;
    tsc_run_plan_init(&r->plan);
    snprintf(r->work_root, sizeof r->work_root, "%s/work", a->cfg.data_dir);
    tsc_barrier_config_default(&cfg);
    cfg.max_record = TSC__RUN_MAX_RECORD - 1024;
    if ((rc = tsc_barrier_new(&r->b, &cfg, errmsg)) != 0) {
        tsc_errmsg_wrapf(errmsg, "barrier engine");
        return rc;
    }
    return tsc__part_open(a, errmsg);
}

void tsc__runs_start(struct tsc_agent *a)
{
    uv_timer_init(&a->loop, &a->runs.timer);
    a->runs.timer.data = a;
    a->handles_open |= TSC__H_RUNS_TIMER;
    uv_timer_start(&a->runs.timer, on_runs_timer, 100, 0);
}

void tsc__runs_close(struct tsc_agent *a)
{
    if ((a->handles_open & TSC__H_RUNS_TIMER) && !uv_is_closing((uv_handle_t *)&a->runs.timer))
        uv_close((uv_handle_t *)&a->runs.timer, NULL);
    tsc__part_close(a);
}

void tsc__runs_free(struct tsc_agent *a)
{
    struct tsc__runs *r = &a->runs;
    tsc_run_plan_free(&r->plan);
    for (size_t i = 0; i < r->cap_pending; i++)
        tsc_buf_free(&r->pending[i]);
    tsc_free(r->pending);
    r->pending = NULL;
    r->n_pending = r->cap_pending = 0;
    if (r->b != NULL)
        tsc_barrier_free(r->b);
    r->b = NULL;
    tsc__part_free(a);
}

/* ---- members --------------------------------------------------------------- */

int tsc__runs_member(struct tsc_agent *a, uint64_t id, struct tsc_addr *addr,
                     uint8_t pk[TSC_PK_BYTES])
{
    struct tsc_gossip_member m;
    if (tsc_gossip_member_find(a->gossip, id, &m) != 0)
        return TSC_ENOTFOUND;
    if (addr != NULL)
        *addr = m.addr;
    if (pk != NULL)
        memcpy(pk, m.pk, TSC_PK_BYTES);
    return 0;
}

void tsc__runs_on_member(struct tsc_agent *a, uint64_t id, int alive)
{
    struct tsc_barrier_event ev;
    if (a->runs.b == NULL)
        return;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_BARRIER_EV_MEMBER;
    ev.node = id;
    ev.alive = alive;
    runs_step(a, &ev);
}

/* ---- sending ------------------------------------------------------------- */

void tsc__runs_send(struct tsc_agent *a, const struct tsc_addr *to, int type, const uint8_t *body,
                    size_t len)
{
    struct tsc_buf sealed;
    tsc_buf_init(&sealed);
    /* A datagram when the frame fits one: no connection to open, accept and
     * close per message (most STARTs, REPORTs and every CANCEL). Losing one
     * costs a retry: the coordinator sends START again every second to a
     * participant that has not reported, and a repeated START is answered
     * with the stored result. */
    if (tsc__agent_seal(a, type, body, len, &sealed) != 0)
        a->c.streams_failed++;
    else if (sealed.len <= TSC_WIRE_MAX_DATAGRAM)
        tsc__net_send_datagram(a, to, sealed.data, sealed.len);
    else
        tsc__net_send_stream(a, to, sealed.data, sealed.len);
    tsc_buf_free(&sealed);
}

static void send_start(struct tsc_agent *a, const struct tsc_barrier_start *s)
{
    struct tsc__runs *r = &a->runs;
    struct tsc_buf script, body;
    struct tsc_stage_start m;
    struct tsc_addr to = s->addr;
    const uint8_t *data;
    size_t len;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    int rc = tsc_barrier_run_submit(r->b, s->run, &data, &len);
    if (rc == 0)
        rc = tsc_run_plan_load(&r->plan, s->run, data, len, errmsg);
    tsc_buf_init(&script);
    tsc_buf_init(&body);
    if (rc == 0)
        rc = tsc_run_plan_start(&r->plan, s->stage, s->index, r->term, s->timeout_us, &script, &m,
                                errmsg);
    if (errmsg[0] != '\0')
        tsc_logf(TSC_LOG_WARN, "run %llu stage %u: %s", (unsigned long long)s->run, s->stage,
                 errmsg);
    if (rc == 0) {
        /* The member's current address wins over the one at submission. */
        tsc__runs_member(a, s->node, &to, NULL);
        /* The stamp of the coordinator's stage event rides after the START
         * (logs.h); a participant without logs reads the START alone. */
        if (tsc_stage_start_encode(&m, &body) == 0 && tsc__logs_stamp_append(a, s->run, &body) == 0)
            tsc__runs_send(a, &to, TSC_MSG_STAGE_START, body.data, body.len);
    }
    tsc_buf_free(&script);
    tsc_buf_free(&body);
}

static void send_cancel(struct tsc_agent *a, const struct tsc_barrier_cancel *c)
{
    struct tsc_stage_cancel m = {c->run, a->runs.term, c->stage};
    struct tsc_buf body;
    struct tsc_addr to = c->addr;
    tsc_buf_init(&body);
    tsc__runs_member(a, c->node, &to, NULL);
    if (tsc_stage_cancel_encode(&m, &body) == 0)
        tsc__runs_send(a, &to, TSC_MSG_STAGE_CANCEL, body.data, body.len);
    tsc_buf_free(&body);
}

/* ---- logs ------------------------------------------------------------------ */

/* The first STARTs of a stage: an event in the run's log, whose stamp the
 * STARTs carry (re-sent STARTs carry the stamp of the moment). */
static void log_stage_starts(struct tsc_agent *a, const struct tsc_barrier_update *up)
{
    struct tsc__logs *l = &a->logs;
    struct tsc__runs *r = &a->runs;
    char name[TSC__LOGS_STAGE_NAME], errmsg[TSC_ERRMSG_SIZE];
    for (size_t i = 0; i < up->n_starts; i++) {
        const struct tsc_barrier_start *s = &up->starts[i];
        const uint8_t *data;
        size_t len, n = 0;
        if (l->started_any && l->started_run == s->run && l->started_stage == s->stage)
            continue;
        for (size_t j = i; j < up->n_starts; j++)
            n += up->starts[j].run == s->run && up->starts[j].stage == s->stage;
        l->started_any = 1;
        l->started_run = s->run;
        l->started_stage = s->stage;
        int32_t ci = -1;
        const char *cname = "";
        if (tsc_barrier_run_submit(r->b, s->run, &data, &len) == 0 &&
            tsc_run_plan_load(&r->plan, s->run, data, len, errmsg) == 0) {
            tsc_stage_kind((uint32_t)r->plan.suite.n_cases, s->stage, &ci);
            if (ci >= 0 && (size_t)ci < r->plan.suite.n_cases)
                cname = r->plan.suite.cases[ci].name;
        }
        tsc__logs_stage_name(name, sizeof name, cname, strlen(cname), s->stage);
        tsc__logs_set_stage(a, s->run, s->stage, ci >= 0 ? (uint32_t)ci : TSC_LOGREC_NO_CASE);
        tsc__logs_eventf(a, s->run, NULL, "stage %s: start on %zu machines", name, n);
    }
}

/* A run ended: the coordinator says so in its log and tells the sink;
 * every voter closes its own stream of the run. */
static void log_run_end(struct tsc_agent *a, const struct tsc_barrier_finished *f)
{
    if (a->runs.acting)
        tsc__logs_eventf(a, f->run, NULL, "run ended: %s", tsc_run_state_name(f->state));
    tsc__logs_close_run(a, f->run);
    if (a->runs.acting)
        tsc__logsink_run_end(a, f->run);
}

/* ---- the engine step ------------------------------------------------------ */

static void queue_proposal(struct tsc__runs *r, const struct tsc_buf *p)
{
    if (r->n_pending == r->cap_pending) {
        size_t cap = r->cap_pending ? r->cap_pending * 2 : 8;
        struct tsc_buf *n = tsc_calloc(cap, sizeof *n);
        if (n == NULL)
            return; /* the engine proposes again after propose_retry */
        for (size_t i = 0; i < r->cap_pending; i++)
            n[i] = r->pending[i];
        tsc_free(r->pending);
        r->pending = n;
        r->cap_pending = cap;
    }
    tsc_buf_reset(&r->pending[r->n_pending]);
    if (tsc_buf_append(&r->pending[r->n_pending], p->data, p->len) == 0)
        r->n_pending++;
}

static void arm(struct tsc_agent *a, uint64_t deadline)
{
    uint64_t now = tsc__agent_now(), ms;
    if (!(a->handles_open & TSC__H_RUNS_TIMER) || a->stopping)
        return;
    if (deadline == TSC_TIME_NEVER || deadline > now + TSC_SEC(1))
        ms = 1000; /* also the leadership check's period */
    else
        ms = deadline <= now ? 0 : (deadline - now + 999) / 1000;
    uv_update_time(&a->loop);
    uv_timer_start(&a->runs.timer, on_runs_timer, ms, 0);
}

static void runs_step(struct tsc_agent *a, struct tsc_barrier_event *ev)
{
    struct tsc__runs *r = &a->runs;
    struct tsc_barrier_update up;
    if (r->b == NULL || a->stopping)
        return;
    memset(&up, 0, sizeof up);
    ev->now = tsc__agent_now();
    ev->wall_us = tsc__agent_wall_us();
    int rc = tsc_barrier_step(r->b, ev, &up);
    if (rc != 0)
        tsc_logf(TSC_LOG_WARN, "barrier step (event %d): %s", ev->type, tsc_strerror(rc));
    for (size_t i = 0; i < up.n_proposals; i++)
        queue_proposal(r, &up.proposals[i]);
    for (size_t i = 0; i < up.n_finished; i++) {
        tsc_logf(TSC_LOG_INFO, "run %llu: %s", (unsigned long long)up.finished[i].run,
                 tsc_run_state_name(up.finished[i].state));
        tsc__runs_store_finished(a, up.finished[i].run, up.finished[i].state);
        log_run_end(a, &up.finished[i]);
    }
    log_stage_starts(a, &up);
    for (size_t i = 0; i < up.n_starts; i++)
        send_start(a, &up.starts[i]);
    for (size_t i = 0; i < up.n_cancels; i++)
        send_cancel(a, &up.cancels[i]);
    arm(a, up.next_deadline);
    if (!r->in_coord_step)
        tsc__runs_after_coord_step(a);
}

void tsc__runs_apply(struct tsc_agent *a, const struct tsc_election_entry *e)
{
    struct tsc_runlog rec;
    struct tsc_barrier_event ev;
    if (tsc_runlog_decode(e->data, e->len, &rec) == 0) {
        tsc__runs_store_record(a, e->index, &rec, e->data, e->len);
        tsc_runlog_free(&rec);
    }
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_BARRIER_EV_APPLY;
    ev.index = e->index;
    ev.data = e->data;
    ev.len = e->len;
    runs_step(a, &ev);
}

void tsc__runs_after_coord_step(struct tsc_agent *a)
{
    struct tsc__runs *r = &a->runs;
    if (r->flushing || r->in_coord_step || r->b == NULL || a->stopping)
        return;
    r->flushing = 1;
    for (;;) {
        int acting = tsc__coord_acting(a);
        uint64_t term = a->coord.e ? tsc_election_term(a->coord.e) : 0;
        if (acting != r->acting || (acting && term != r->term)) {
            struct tsc_barrier_event ev;
            r->acting = acting;
            r->term = term;
            memset(&ev, 0, sizeof ev);
            ev.type = TSC_BARRIER_EV_LEADER;
            ev.is_leader = acting;
            ev.term = term;
            if (acting)
                tsc_logf(TSC_LOG_INFO, "runs: acting coordinator (term %llu)",
                         (unsigned long long)term);
            r->in_coord_step = 1; /* hold proposals: flushed below */
            runs_step(a, &ev);
            r->in_coord_step = 0;
            tsc__logsink_on_acting(a, acting);
        }
        if (r->n_pending == 0)
            break;
        /* Take the oldest proposal out of the queue (it owns its bytes now),
         * then append it: that steps the election engine, which may commit
         * and apply at once (one voter) and queue more. */
        struct tsc_buf p = r->pending[0];
        memmove(r->pending, r->pending + 1, (r->n_pending - 1) * sizeof *r->pending);
        r->n_pending--;
        tsc_buf_init(&r->pending[r->n_pending]); /* the vacated slot owned nothing */
        if (r->acting) {
            uint64_t index;
            int rc = tsc__coord_append(a, p.data, p.len, &index);
            if (rc != 0)
                tsc_logf(TSC_LOG_DEBUG, "runs: proposal not appended: %s", tsc_strerror(rc));
        }
        tsc_buf_free(&p);
        if (a->stopping)
            break;
    }
    r->flushing = 0;
}

static void on_runs_timer(uv_timer_t *t)
{
    struct tsc_agent *a = t->data;
    struct tsc_barrier_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_BARRIER_EV_TICK;
    runs_step(a, &ev);
}

/* ---- reports ---------------------------------------------------------------- */

void tsc__runs_on_report(struct tsc_agent *a, const struct tsc_envelope *env)
{
    struct tsc_stage_report rep;
    struct tsc_barrier_event ev;
    struct tsc__logstamp st;
    uint8_t pk[TSC_PK_BYTES];
    size_t len = env->body_len;
    /* The participant's stamp may follow the report (logs.h). */
    int stamped = tsc__logs_stamp_split(a, env->body, env->body_len, &len, &st);
    if (stamped < 0)
        len = env->body_len;
    if (tsc_stage_report_decode(env->body, len, &rep) != 0 || rep.node != env->sender ||
        tsc__runs_member(a, rep.node, NULL, pk) != 0 ||
        tsc_stage_report_verify(a->wire.crypto, env->body, len, pk) != 0) {
        a->c.control_rejected++;
        tsc_logf(TSC_LOG_DEBUG, "runs: a stage report from %016llx was rejected",
                 (unsigned long long)env->sender);
        if (stamped > 0)
            tsc_vclock_free(&st.clock);
        return;
    }
    if (a->runs.acting) {
        char name[TSC_META_STR + 1];
        tsc__logs_member_name(a, rep.node, name, sizeof name);
        tsc__logs_recordf(a, rep.run, TSC_LOGREC_RECV, stamped > 0 ? &st : NULL,
                          "report from %s: %s", name, tsc_result_status_name(rep.result.status));
    }
    if (stamped > 0)
        tsc_vclock_free(&st.clock);
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_BARRIER_EV_REPORT;
    ev.report = &rep;
    runs_step(a, &ev);
}
