/* tsc — runs in the simulator, the coordinator side: every node's barrier
 * engine driven as agent/runs.c drives it in tscd (see sim/runs.h), the
 * stage frames on the simulated network, and the runs' life cycle.
 *
 * Re-entrancy, as in the agent: the election engine's update must be
 * consumed before it is stepped again, and a proposal IS an election step.
 * Proposals made while an election step is consumed (committed records
 * applied from inside coord.c's step) wait in the node's pending list and
 * are appended by tsc__sim_runs_after_coord_step, which coord.c calls once
 * the step is done. Frames to participants always go through the network,
 * also to the node itself, so no engine is stepped from inside another
 * engine's update of the same kind. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "sim/coord.h"
#include "sim/runs.h"
#include "sim/stats.h"

#define TICK_MAX   TSC_SEC(1) /* the agent's runs timer: the acting check's period */
#define WALL_EPOCH TSC_SEC(1700000000)

static int nomem(struct tsc_sim_world *w, const char *what)
{
    if (!w->err) {
        w->err = TSC_ENOMEM;
        tsc_errmsg_setf(w->errmsg, "runs: %s: out of memory", what);
    }
    return TSC_ENOMEM;
}

void tsc_sim_runs_config_default(struct tsc_sim_runs_config *c)
{
    memset(c, 0, sizeof *c);
    c->submit_every_us = TSC_SEC(3);
    c->cases_min = 1;
    c->cases_max = 3;
    c->parts_max = 6;
    c->stage_timeout_ms = 2000;
    c->dur_max_us = TSC_MSEC(400);
    c->p_fail = 0.03;
    c->p_hang = 0.015;
    c->p_stuck = 0.005;
    c->p_empty = 0.15;
    c->p_cancel = 0.1;
}

int tsc_sim_runs_enable(struct tsc_sim_world *w, const struct tsc_sim_runs_config *cfg,
                        char *errmsg)
{
    if (w->coord == NULL || w->n_created != 0 || cfg->cases_min > cfg->cases_max ||
        cfg->cases_max > TSC_SIM_RUNS_MAX_CASES || cfg->stage_timeout_ms == 0) {
        tsc_errmsg_setf(errmsg, "runs: need the election, no node started yet, and sane cases");
        return TSC_EINVAL;
    }
    struct tsc_sim_runs *rs = tsc_calloc(1, sizeof *rs);
    if (rs == NULL || (rs->r = tsc_calloc(w->n, sizeof *rs->r)) == NULL) {
        tsc_free(rs);
        tsc_errmsg_setf(errmsg, "runs: out of memory");
        return TSC_ENOMEM;
    }
    rs->cfg = *cfg;
    tsc_barrier_config_default(&rs->bcfg);
    rs->bcfg.max_record = TSC_SIM_RUN_MAX_RECORD - 1024; /* as tscd */
    int rc = tsc_barrier_new(&rs->oracle, &rs->bcfg, errmsg);
    if (rc) {
        tsc_free(rs->r);
        tsc_free(rs);
        return rc;
    }
    rs->oracle_next = 1;
    rs->client_at = TSC_TIME_NEVER;
    tsc_prng_seed(&rs->prng, tsc_sim_hash_u64(w->cfg.seed, 0x72756e73));
    tsc_buf_init(&rs->body);
    tsc_buf_init(&rs->sealed);
    tsc_buf_init(&rs->scratch);
    tsc_buf_init(&rs->msg);
    tsc_buf_init(&rs->script);
    for (uint32_t i = 0; i < w->n; i++) {
        struct tsc_sim_rnode *r = &rs->r[i];
        tsc_prng_seed(&r->prng, tsc_sim_hash_u64(tsc_sim_hash_u64(w->cfg.seed, 0x73637269), i));
        r->deadline = r->tick_at = TSC_TIME_NEVER;
        tsc_run_plan_init(&r->plan);
    }
    /* Run records are big (a suite, a result per participant): tscd's
     * election takes records of up to 240 KiB. */
    w->coord->cfg.max_record = TSC_SIM_RUN_MAX_RECORD;
    w->runs = rs;
    if (cfg->submit_every_us) {
        rs->client_on = 1;
        rs->next_submit = w->now + cfg->submit_every_us;
        rs->client_at = w->now + TSC_MSEC(200);
        return tsc_sim_world_schedule(w, rs->client_at, TSC_SIM_EV_RCLIENT, 0, 0, 0);
    }
    return 0;
}

static void free_pending(struct tsc_sim_rnode *r)
{
    for (size_t k = 0; k < r->cap_pending; k++)
        tsc_buf_free(&r->pending[k]);
    tsc_free(r->pending);
    r->pending = NULL;
    r->n_pending = r->cap_pending = 0;
}

void tsc__sim_runs_world_free(struct tsc_sim_world *w)
{
    struct tsc_sim_runs *rs = w->runs;
    if (rs == NULL)
        return;
    for (uint32_t i = 0; i < w->n; i++) {
        struct tsc_sim_rnode *r = &rs->r[i];
        tsc_barrier_free(r->b);
        tsc_part_free(r->p);
        tsc_run_plan_free(&r->plan);
        free_pending(r);
        tsc_free(r->disk);
        tsc_free(r->scripts);
        tsc_free(r->started);
    }
    for (size_t k = 0; k < rs->n_dec; k++)
        tsc_free(rs->dec[k].status);
    tsc_free(rs->dec);
    tsc_free(rs->want);
    tsc_free(rs->nonce_seen);
    tsc_free(rs->run_ids);
    tsc_free(rs->m_finish);
    tsc_free(rs->m_start);
    tsc_free(rs->m_prop);
    tsc_free(rs->m_commit);
    tsc_barrier_free(rs->oracle);
    tsc_buf_free(&rs->body);
    tsc_buf_free(&rs->sealed);
    tsc_buf_free(&rs->scratch);
    tsc_buf_free(&rs->msg);
    tsc_buf_free(&rs->script);
    tsc_free(rs->r);
    tsc_free(rs);
    w->runs = NULL;
}

/* ---- frames ---------------------------------------------------------------- */

int tsc__sim_runs_send(struct tsc_sim_world *w, uint32_t i, uint32_t j, int type,
                       const uint8_t *body, size_t len)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_sim_rnode *r = &rs->r[i];
    struct tsc_envelope env;
    uint8_t nonce[TSC_NONCE_BYTES];
    memset(&env, 0, sizeof env);
    env.sender = w->nodes[i].id;
    /* Above any seq of an earlier life, as tscd's wall-clock seqs. */
    env.seq = r->seq > w->now ? r->seq + 1 : w->now + 1;
    r->seq = env.seq;
    env.type = (uint8_t)type;
    env.body = body;
    env.body_len = len;
    for (size_t k = 0; k < sizeof nonce; k++)
        nonce[k] = (uint8_t)tsc_prng_next(&rs->prng);
    tsc_buf_reset(&rs->sealed);
    if (tsc_wire_seal(&w->wire, &env, nonce, TSC_WIRE_MAX_FRAME, &rs->sealed) != 0)
        return nomem(w, "seal");
    /* As tscd: a datagram when the sealed frame fits one, else a stream. */
    if (j != i)
        return tsc__sim_send(w, i, &w->nodes[j].addr, rs->sealed.len > TSC_WIRE_MAX_DATAGRAM,
                             rs->sealed.data, rs->sealed.len);
    /* Loopback: tsc__sim_send does not route to the sender itself. */
    w->sent_msgs++;
    w->sent_bytes += rs->sealed.len;
    uint32_t slot = tsc__sim_msg_new(w, rs->sealed.data, rs->sealed.len);
    if (slot == TSC_SIM_NONE)
        return nomem(w, "loopback");
    w->msgs[slot].refs = 1;
    return tsc_sim_world_schedule(w, w->now + TSC_SIM_LOOPBACK_US, TSC_SIM_EV_STREAM, i, i, slot);
}

uint32_t tsc__sim_runs_member(struct tsc_sim_world *w, uint32_t i, uint64_t id, const uint8_t **pk)
{
    struct tsc_gossip_member m;
    if (w->nodes[i].g == NULL || tsc_gossip_member_find(w->nodes[i].g, id, &m) != 0)
        return TSC_SIM_NONE;
    if (pk)
        *pk = m.pk;
    return tsc_sim_world_index_of(w, &m.addr);
}

int tsc__sim_runs_deliver(struct tsc_sim_world *w, uint32_t i, uint32_t from,
                          const struct tsc_envelope *env)
{
    struct tsc_sim_runs *rs = w->runs;
    (void)from;
    /* The body lives in the world's scratch: keep a copy of our own. */
    tsc_buf_reset(&rs->msg);
    if (env->body_len && tsc_buf_append(&rs->msg, env->body, env->body_len) != 0)
        return nomem(w, "frame");
    const uint8_t *body = rs->msg.data;
    size_t len = env->body_len;
    if (rs->r[i].b == NULL)
        return 0;
    if (env->type == TSC_MSG_STAGE_START)
        return tsc__sim_runs_part_start(w, i, env->sender, body, len);
    if (env->type == TSC_MSG_STAGE_CANCEL)
        return tsc__sim_runs_part_cancel(w, i, env->sender, body, len);
    /* A REPORT: from the machine it is about, signed by it (agent/runs.c). */
    struct tsc_stage_report rep;
    const uint8_t *pk = NULL;
    if (tsc_stage_report_decode(body, len, &rep) != 0 || rep.node != env->sender ||
        tsc__sim_runs_member(w, i, rep.node, &pk) == TSC_SIM_NONE ||
        tsc_stage_report_verify(w->wire.crypto, body, len, pk) != 0) {
        rs->rejected++;
        return 0;
    }
    struct tsc_barrier_event ev = {.type = TSC_BARRIER_EV_REPORT, .report = &rep};
    return tsc__sim_runs_bstep(w, i, &ev);
}

/* ---- rendering STARTs -------------------------------------------------------- */

static int send_start(struct tsc_sim_world *w, uint32_t i, const struct tsc_barrier_start *s)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_sim_rnode *r = &rs->r[i];
    struct tsc_stage_start m;
    const uint8_t *data;
    size_t len;
    char errmsg[TSC_ERRMSG_SIZE];
    int rc = tsc_barrier_run_submit(r->b, s->run, &data, &len);
    if (rc == 0)
        rc = tsc_run_plan_load(&r->plan, s->run, data, len, errmsg);
    if (rc == 0)
        rc = tsc_run_plan_start(&r->plan, s->stage, s->index, r->term, s->timeout_us, &rs->script,
                                &m, errmsg);
    if (rc == TSC_ENOMEM)
        return nomem(w, "start");
    if (rc != 0)
        return 0; /* tscd logs "its suite is unreadable" */
    /* The member's current address wins over the one at submission. */
    uint32_t j = tsc__sim_runs_member(w, i, s->node, NULL);
    if (j == TSC_SIM_NONE)
        j = tsc_sim_world_index_of(w, &s->addr);
    if (j == TSC_SIM_NONE)
        return 0;
    tsc_buf_reset(&rs->body);
    if (tsc_stage_start_encode(&m, &rs->body) != 0)
        return nomem(w, "start");
    rs->starts_sent++;
    return tsc__sim_runs_send(w, i, j, TSC_MSG_STAGE_START, rs->body.data, rs->body.len);
}

static int send_cancel(struct tsc_sim_world *w, uint32_t i, const struct tsc_barrier_cancel *c)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_stage_cancel m = {.run = c->run, .term = rs->r[i].term, .stage = c->stage};
    uint32_t j = tsc__sim_runs_member(w, i, c->node, NULL);
    if (j == TSC_SIM_NONE)
        j = tsc_sim_world_index_of(w, &c->addr);
    if (j == TSC_SIM_NONE)
        return 0;
    tsc_buf_reset(&rs->body);
    if (tsc_stage_cancel_encode(&m, &rs->body) != 0)
        return nomem(w, "cancel");
    rs->cancels_sent++;
    return tsc__sim_runs_send(w, i, j, TSC_MSG_STAGE_CANCEL, rs->body.data, rs->body.len);
}

/* ---- the barrier engine step -------------------------------------------------- */

static int queue_proposal(struct tsc_sim_world *w, struct tsc_sim_rnode *r, const struct tsc_buf *p)
{
    if (r->n_pending == r->cap_pending) {
        size_t cap = r->cap_pending ? r->cap_pending * 2 : 4;
        struct tsc_buf *n = tsc_calloc(cap, sizeof *n);
        if (n == NULL)
            return nomem(w, "proposal");
        for (size_t k = 0; k < r->cap_pending; k++)
            n[k] = r->pending[k];
        for (size_t k = r->cap_pending; k < cap; k++)
            tsc_buf_init(&n[k]);
        tsc_free(r->pending);
        r->pending = n;
        r->cap_pending = cap;
    }
    tsc_buf_reset(&r->pending[r->n_pending]);
    if (tsc_buf_append(&r->pending[r->n_pending], p->data, p->len) != 0)
        return nomem(w, "proposal");
    r->n_pending++;
    return 0;
}

static int arm(struct tsc_sim_world *w, uint32_t i, uint64_t deadline)
{
    struct tsc_sim_rnode *r = &w->runs->r[i];
    uint64_t t = deadline;
    if (t > w->now + TICK_MAX)
        t = w->now + TICK_MAX;
    if (t <= w->now)
        t = w->now + 1;
    r->deadline = t;
    if (t >= r->tick_at)
        return 0;
    r->tick_at = t;
    return tsc_sim_world_schedule(w, t, TSC_SIM_EV_RTICK, i, 0, 0);
}

static void measure_proposal(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_barrier_progress pg;
    tsc_barrier_progress(rs->r[i].b, &pg);
    if (rs->m_prop && pg.run == rs->m_run && pg.stage < rs->m_stages && !rs->m_prop[pg.stage])
        rs->m_prop[pg.stage] = w->now;
}

int tsc__sim_runs_bstep(struct tsc_sim_world *w, uint32_t i, struct tsc_barrier_event *ev)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_sim_rnode *r = &rs->r[i];
    struct tsc_barrier_update up;
    if (r->b == NULL)
        return 0;
    ev->now = w->now;
    ev->wall_us = WALL_EPOCH + w->now;
    w->steps++;
    int rc = tsc_barrier_step(r->b, ev, &up);
    if (rc == TSC_ENOMEM)
        return nomem(w, "barrier step");
    if (rc != 0)
        tsc_sim_violation(w, TSC_SIM_V_ENGINE_ERROR, "node %u: barrier step (event %d): %s", i,
                          ev->type, tsc_strerror(rc));
    for (size_t k = 0; k < up.n_proposals && rc == 0; k++) {
        rc = queue_proposal(w, r, &up.proposals[k]);
        measure_proposal(w, i);
    }
    for (size_t k = 0; k < up.n_starts && rc == 0; k++)
        rc = send_start(w, i, &up.starts[k]);
    for (size_t k = 0; k < up.n_cancels && rc == 0; k++)
        rc = send_cancel(w, i, &up.cancels[k]);
    if (rc == 0)
        rc = arm(w, i, up.next_deadline);
    if (rc == 0 && !r->in_coord_step)
        rc = tsc__sim_runs_after_coord_step(w, i);
    return rc;
}

int tsc__sim_runs_after_coord_step(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_rnode *r = &w->runs->r[i];
    struct tsc_sim_cnode *c = &w->coord->c[i];
    int rc = 0;
    if (r->busy || r->in_coord_step || r->b == NULL)
        return 0;
    r->busy = 1;
    while (rc == 0) {
        int acting = tsc__sim_coord_acting(w, i);
        uint64_t term = c->e ? tsc_election_term(c->e) : 0;
        if (acting != r->acting || (acting && term != r->term)) {
            struct tsc_barrier_event ev = {
                .type = TSC_BARRIER_EV_LEADER, .is_leader = acting, .term = term};
            r->acting = acting;
            r->term = term;
            tsc_sim_world_note(w, acting ? "runs_acting" : "runs_not_acting", i, term);
            r->busy = 0;
            r->in_coord_step = 1; /* hold proposals: appended below */
            rc = tsc__sim_runs_bstep(w, i, &ev);
            r->in_coord_step = 0;
            r->busy = 1;
            continue;
        }
        if (r->n_pending == 0)
            break;
        /* The oldest proposal, moved behind the others: the append may
         * commit at once and queue more, into that very buffer (the
         * election engine has copied the bytes by then). */
        struct tsc_buf p = r->pending[0];
        for (size_t k = 1; k < r->n_pending; k++)
            r->pending[k - 1] = r->pending[k];
        r->pending[--r->n_pending] = p;
        if (r->acting) {
            int result;
            rc = tsc__sim_coord_append(w, i, p.data, p.len, &result);
        }
    }
    r->busy = 0;
    return rc;
}

int tsc__sim_runs_committed(struct tsc_sim_world *w, uint32_t i,
                            const struct tsc_election_update *up)
{
    struct tsc_sim_rnode *r = &w->runs->r[i];
    int rc = 0;
    for (size_t k = 0; k < up->n_committed && rc == 0; k++) {
        const struct tsc_election_entry *x = &up->committed[k];
        rc = tsc__sim_runs_oracle(w, x);
        if (rc || x->type != TSC_RAFT_ENTRY_DATA || r->b == NULL)
            continue;
        tsc__sim_runs_check_apply(w, i, x->index, x->data, x->len);
        struct tsc_barrier_event ev = {
            .type = TSC_BARRIER_EV_APPLY, .index = x->index, .data = x->data, .len = x->len};
        uint8_t held = r->in_coord_step;
        r->in_coord_step = 1;
        rc = tsc__sim_runs_bstep(w, i, &ev);
        r->in_coord_step = held;
    }
    return rc;
}

int tsc__sim_runs_tick(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_barrier_event ev = {.type = TSC_BARRIER_EV_TICK};
    return tsc__sim_runs_bstep(w, i, &ev);
}

int tsc__sim_runs_members(struct tsc_sim_world *w, uint32_t i,
                          const struct tsc_gossip_change *changes, size_t n)
{
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0 && w->runs->r[i].b; k++) {
        int s = changes[k].new_status, was = changes[k].old_status;
        int dead = s == TSC_STATUS_DEAD || s == TSC_STATUS_LEFT;
        int was_dead = was == TSC_STATUS_DEAD || was == TSC_STATUS_LEFT;
        if (dead == was_dead && was != 255)
            continue;
        struct tsc_barrier_event ev = {
            .type = TSC_BARRIER_EV_MEMBER, .node = changes[k].id, .alive = !dead};
        rc = tsc__sim_runs_bstep(w, i, &ev);
    }
    return rc;
}

/* ---- life cycle ---------------------------------------------------------------- */

int tsc__sim_runs_start(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_runs *rs = w->runs;
    struct tsc_sim_rnode *r = &rs->r[i];
    char em[TSC_ERRMSG_SIZE] = "";
    int rc = tsc_barrier_new(&r->b, &rs->bcfg, em);
    if (rc) {
        r->b = NULL;
        if (!w->err) {
            w->err = rc;
            tsc_errmsg_setf(w->errmsg, "runs node %u: %s", i, em);
        }
        return rc;
    }
    r->acting = 0;
    r->term = 0;
    r->busy = r->in_coord_step = 0;
    r->tick_at = r->deadline = TSC_TIME_NEVER;
    rc = tsc__sim_runs_part_open(w, i);
    return rc ? rc : arm(w, i, w->now + TICK_MAX);
}

void tsc__sim_runs_crash(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_rnode *r = &w->runs->r[i];
    tsc_barrier_free(r->b);
    r->b = NULL;
    tsc_run_plan_free(&r->plan); /* memory: rebuilt from the log */
    tsc_run_plan_init(&r->plan);
    free_pending(r);
    r->acting = 0;
    r->term = 0;
    r->busy = r->in_coord_step = 0;
    r->tick_at = r->deadline = TSC_TIME_NEVER;
    tsc__sim_runs_part_crash(w, i);
}
