/* tsc — the driver of the log sink engine (logsync/sink.h) on the acting
 * coordinator: batches in, merged records to the sink's store
 * (logs_sinkstore.c), acknowledgements out.
 *
 * Only the acting coordinator takes batches (the agents' shipping engines
 * follow the coordinator and its term). The engine is created on the first
 * batch, restoring the table from LOGMETA first, so memory is spent only
 * while the agent coordinates; it goes when the agent stops being the
 * leader of the term it was made in. A lease that lapses while the agent
 * is still the leader (its loop was late, the acks are in its socket) only
 * pauses it: dropping it would throw away every record buffered in the
 * merge, which the agents would all resend a second later.
 *
 * Intake. A LOG_BATCH is copied into a queue when it arrives and merged
 * from the work callback, at most INTAKE_NS of merging per loop turn, in
 * arrival order (a run's end is queued behind the batches before it). The
 * same loop carries the failure detector and the election: eight agents
 * shipping at full speed bring more records per turn than the merge does in
 * a heartbeat interval, and a coordinator that merged all of them at once
 * lost its lease and its term. The queue is bounded (INTAKE_BYTES); a batch
 * that does not fit is shed unacknowledged (counted): its shipper resends it
 * after its retry interval. */
#include <string.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "agent/logs.h"
#include "common/alloc.h"

#define INTAKE_NS    (4u * 1000 * 1000) /* merging per loop turn */
#define INTAKE_BYTES (48u << 20)        /* queued batch bytes */

static void on_sink_timer(uv_timer_t *t);
static void handle(struct tsc_agent *a, const struct tsc_logsink_update *up);

/* ---- the engine --------------------------------------------------------------- */

static void arm(struct tsc_agent *a, uint64_t deadline)
{
    struct tsc__logs *l = &a->logs;
    uint64_t now = tsc__agent_now(), ms;
    if (!l->handles || a->stopping)
        return;
    if (deadline == TSC_TIME_NEVER) {
        uv_timer_stop(&l->sink_timer);
        return;
    }
    ms = deadline <= now ? 0 : (deadline - now + 999) / 1000;
    uv_update_time(&a->loop);
    uv_timer_start(&l->sink_timer, on_sink_timer, ms, 0);
}

void tsc__logsink_step(struct tsc_agent *a, struct tsc_logsink_event *ev)
{
    struct tsc_logsink_update up;
    memset(&up, 0, sizeof up);
    ev->now = tsc__agent_now();
    int rc = tsc_logsink_step(a->logs.sk, ev, &up);
    if (rc != 0)
        tsc_logf(rc == TSC_EINVAL ? TSC_LOG_DEBUG : TSC_LOG_WARN, "logs: sink step (event %d): %s",
                 ev->type, tsc_strerror(rc));
    handle(a, &up);
}

static uint64_t current_term(const struct tsc_agent *a)
{
    return a->coord.e != NULL ? tsc_election_term(a->coord.e) : 0;
}

static void drop_engine(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    if (l->sk == NULL)
        return;
    /* What is durable is kept; the rest is dropped unacknowledged, and the
     * next coordinator gets everything again. */
    tsc_logsink_free(l->sk);
    l->sk = NULL;
    tsc__logsink_discard(a);
    if (l->handles)
        uv_timer_stop(&l->sink_timer);
    tsc_logf(TSC_LOG_INFO, "logs: no longer merging (not the coordinator)");
}

/* The engine, created (and restored from LOGMETA) on first use in a term.
 * 0, TSC_ESTATE (not yet: the last engine's write still runs) or an error
 * (logged). */
static int ensure(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    struct tsc_logsink_config cfg;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    uint64_t term = current_term(a);
    size_t rows = 0;
    if (l->sk != NULL && l->sk_term == term)
        return 0;
    drop_engine(a); /* of an earlier term */
    tsc_logsink_config_default(&cfg);
    /* A run that ends releases everything buffered in one step, which the
     * loop then encodes: keep that bounded (the merge releases its smallest
     * record early instead, see merge.h). */
    cfg.merge.max_records = 16384;
    cfg.merge.max_bytes = 16u << 20;
    int rc = tsc_logsink_new(&l->sk, &cfg, errmsg);
    if (rc != 0) {
        tsc_logf(TSC_LOG_ERROR, "logs: sink: %s", errmsg);
        return rc;
    }
    l->sk_term = term;
    l->n_told = 0;
    rc = tsc__logsink_restore(a, &rows, errmsg);
    if (rc != 0) {
        /* Without its table the sink would acknowledge from 0 and store
         * records twice: refuse batches until the store reads again. */
        if (rc != TSC_ESTATE)
            tsc_logf(TSC_LOG_ERROR, "logs: sink: cannot read the log table: %s", errmsg);
        tsc_logsink_free(l->sk);
        l->sk = NULL;
        return rc;
    }
    tsc_logf(TSC_LOG_INFO, "logs: merging as the coordinator (term %llu, %zu stored rows)",
             (unsigned long long)term, rows);
    return 0;
}

/* EV_NODES from the run's SUBMIT record: its participants and us. */
static void tell_nodes(struct tsc_agent *a, uint64_t run)
{
    struct tsc__logs *l = &a->logs;
    struct tsc_control_bytes *recs = NULL;
    struct tsc_buf hold;
    struct tsc_runlog rec;
    char errmsg[TSC_ERRMSG_SIZE];
    size_t n = 0;
    size_t ring = sizeof l->nodes_told / sizeof l->nodes_told[0];
    for (size_t i = 0; i < l->n_told && i < ring; i++)
        if (l->nodes_told[i] == run)
            return;
    l->nodes_told[l->n_told++ % ring] = run;
    tsc_buf_init(&hold);
    const uint8_t *data;
    size_t len;
    int rc = tsc_barrier_run_submit(a->runs.b, run, &data, &len);
    if (rc != 0) {
        rc = tsc__runs_store_load(a, run, &recs, &n, &hold, errmsg);
        if (rc == 0 && n > 0) {
            data = recs[0].p;
            len = recs[0].len;
        } else {
            rc = TSC_ENOTFOUND;
        }
    }
    if (rc == 0 && tsc_runlog_decode(data, len, &rec) == 0) {
        if (rec.kind == TSC_RUNLOG_SUBMIT) {
            size_t k = rec.submit.n_participants;
            uint64_t *ids = tsc_calloc(k + 1, sizeof *ids);
            if (ids != NULL) {
                for (size_t i = 0; i < k; i++)
                    ids[i] = rec.submit.participants[i].id;
                ids[k] = a->self_id;
                struct tsc_logsink_event ev;
                memset(&ev, 0, sizeof ev);
                ev.type = TSC_LOGSINK_EV_NODES;
                ev.run = run;
                ev.nodes = ids;
                ev.n_nodes = k + 1;
                tsc__logsink_step(a, &ev);
                tsc_free(ids);
                /* Stored but no longer queued or running: it ended before
                 * this agent took over, so no RUN_END will come. */
                if (recs != NULL) {
                    memset(&ev, 0, sizeof ev);
                    ev.type = TSC_LOGSINK_EV_RUN_END;
                    ev.run = run;
                    tsc__logsink_step(a, &ev);
                }
            }
        }
        tsc_runlog_free(&rec);
    }
    tsc_free(recs);
    tsc_buf_free(&hold);
}

/* ---- the update ------------------------------------------------------------------ */

static void send_ack(struct tsc_agent *a, const struct tsc_logack *ack)
{
    struct tsc_addr to;
    struct tsc_buf body;
    if (tsc__runs_member(a, ack->node, &to, NULL) != 0)
        return; /* it asks again */
    tsc_buf_init(&body);
    if (tsc_logack_encode(ack, &body) == 0)
        tsc__runs_send(a, &to, TSC_MSG_LOG_ACK, body.data, body.len);
    tsc_buf_free(&body);
}

static void handle(struct tsc_agent *a, const struct tsc_logsink_update *up)
{
    if (up->token != 0) {
        int rc = tsc__logsink_encode(a, up);
        /* Not encoded: the token never becomes durable, nothing of it is
         * ever acknowledged, the agents resend, the merge drops repeats. */
        if (rc != 0)
            tsc_logf(TSC_LOG_ERROR, "logs: sink: cannot encode a write (%s); dropped",
                     tsc_strerror(rc));
        tsc__logs_kick(a);
    }
    for (size_t i = 0; i < up->n_acks; i++)
        send_ack(a, &up->acks[i].ack);
    for (size_t i = 0; i < up->n_finished; i++)
        tsc_logf(TSC_LOG_INFO, "logs: run %llu: merged log complete",
                 (unsigned long long)up->finished[i]);
    arm(a, up->next_deadline);
}

static void on_sink_timer(uv_timer_t *t)
{
    struct tsc_agent *a = t->data;
    struct tsc_logsink_event ev;
    if (a->stopping || a->logs.sk == NULL)
        return;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_LOGSINK_EV_TICK;
    tsc__logsink_step(a, &ev);
}

/* ---- intake ------------------------------------------------------------------------ */

static int enqueue(struct tsc_agent *a, uint64_t sender, uint64_t run, const uint8_t *p, size_t len)
{
    struct tsc__logs *l = &a->logs;
    if (l->n_in == l->cap_in) {
        size_t cap = l->cap_in ? l->cap_in * 2 : 64;
        struct tsc__logsinkin *n = tsc_calloc(cap, sizeof *n);
        if (n == NULL)
            return TSC_ENOMEM;
        for (size_t i = 0; i < l->n_in; i++)
            n[i] = l->in[(l->in_head + i) % l->cap_in];
        tsc_free(l->in);
        l->in = n;
        l->cap_in = cap;
        l->in_head = 0;
    }
    struct tsc__logsinkin *e = &l->in[(l->in_head + l->n_in) % l->cap_in];
    e->sender = sender;
    e->run = run;
    e->len = len;
    e->p = NULL;
    if (len > 0 && (e->p = tsc_malloc(len)) == NULL)
        return TSC_ENOMEM;
    if (len > 0)
        memcpy(e->p, p, len);
    l->n_in++;
    l->in_bytes += len;
    tsc__logs_kick(a);
    return 0;
}

static void clear_intake(struct tsc__logs *l)
{
    for (size_t i = 0; i < l->n_in; i++)
        tsc_free(l->in[(l->in_head + i) % l->cap_in].p);
    l->n_in = l->in_head = l->in_bytes = 0;
}

static void take_batch(struct tsc_agent *a, const struct tsc__logsinkin *e)
{
    struct tsc_logbatch b;
    struct tsc_logsink_event ev;
    tsc_logbatch_init(&b);
    if (tsc_logbatch_decode(e->p, e->len, &b) != 0 || b.node != e->sender) {
        a->logs.c.malformed++;
        tsc_logf(TSC_LOG_DEBUG, "logs: a malformed batch from %016llx was dropped",
                 (unsigned long long)e->sender);
    } else {
        tell_nodes(a, b.run);
        memset(&ev, 0, sizeof ev);
        ev.type = TSC_LOGSINK_EV_BATCH;
        ev.batch = &b;
        tsc__logsink_step(a, &ev);
    }
    tsc_logbatch_free(&b);
}

/* An engine whose agent still leads the term it merges for, only its lease
 * lapsed (see the top): the intake waits instead of shedding. Shed batches
 * come back only after their shipper's retry interval (1 s and more), and
 * the whole merge waits for them: under a flood every lapse cost a second
 * of merging. */
static int lease_lapsed(struct tsc_agent *a)
{
    return a->logs.sk != NULL && a->coord.e != NULL && !a->leaving &&
           tsc_election_role(a->coord.e) == TSC_ELECTION_LEADER &&
           current_term(a) == a->logs.sk_term;
}

void tsc__logsink_intake(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    uint64_t t0 = uv_hrtime();
    while (l->n_in > 0) {
        /* Also checked between batches: the lease can lapse in the middle
         * of a turn's merging (measured: 20 batches shed in one flood). */
        if (!tsc__coord_acting(a) && lease_lapsed(a))
            return; /* tsc__logsink_on_acting kicks it again */
        struct tsc__logsinkin e = l->in[l->in_head];
        l->in_head = (l->in_head + 1) % l->cap_in;
        l->n_in--;
        l->in_bytes -= e.len;
        int rc = tsc__coord_acting(a) ? ensure(a) : TSC_ESTATE;
        if (rc == 0 && e.sender == 0) {
            struct tsc_logsink_event ev;
            tell_nodes(a, e.run);
            memset(&ev, 0, sizeof ev);
            ev.type = TSC_LOGSINK_EV_RUN_END;
            ev.run = e.run;
            tsc__logsink_step(a, &ev);
        } else if (rc == 0) {
            take_batch(a, &e);
        } else if (e.sender != 0) {
            l->c.shed++; /* unacknowledged: resent */
        }
        tsc_free(e.p);
        if (uv_hrtime() - t0 >= INTAKE_NS)
            break;
    }
    if (l->n_in > 0)
        tsc__logs_kick(a);
}

/* ---- events from the agent ----------------------------------------------------- */

void tsc__logsink_on_batch(struct tsc_agent *a, const struct tsc_envelope *env)
{
    struct tsc__logs *l = &a->logs;
    /* Not the coordinator (any more): the sender follows the new one. */
    if (!tsc__coord_acting(a) && !lease_lapsed(a))
        return;
    if (l->in_bytes + env->body_len > INTAKE_BYTES ||
        enqueue(a, env->sender, 0, env->body, env->body_len) != 0)
        l->c.shed++;
}

void tsc__logsink_run_end(struct tsc_agent *a, uint64_t run)
{
    if (tsc__coord_acting(a) && enqueue(a, 0, run, NULL, 0) != 0)
        tsc_logf(TSC_LOG_WARN, "logs: run %llu: end not queued (out of memory)",
                 (unsigned long long)run);
}

void tsc__logsink_on_acting(struct tsc_agent *a, int acting)
{
    struct tsc__logs *l = &a->logs;
    if (acting && l->n_in > 0)
        tsc__logs_kick(a); /* what waited out a lapse */
    if (acting || l->sk == NULL)
        return;
    if (lease_lapsed(a))
        return; /* kept (see the top) */
    clear_intake(l);
    drop_engine(a);
}

void tsc__logsink_free(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    if (l->sk != NULL)
        tsc_logsink_free(l->sk);
    l->sk = NULL;
    clear_intake(l);
    tsc_free(l->in);
    l->in = NULL;
    l->cap_in = 0;
    tsc__logsink_store_free(a);
}
