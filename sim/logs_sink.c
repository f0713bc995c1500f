/* tsc — the voters of the log-shipping world (sim/logs.h): their durable
 * stores, the sink engine on the one that is coordinator, failover.
 *
 * A write the engine hands out is copied (records encoded, as RocksDB would
 * hold them) and becomes durable after a store latency, in the order the
 * writes were made (one WAL); EV_DURABLE(token) is stepped then, and only
 * then may an ACK cover it. A crash drops the writes not yet durable. A
 * voter that steps down keeps the writes it submitted (its process lives
 * on) and frees its engine; a voter that takes over builds a new engine from
 * its store: EV_RESTORE of every row, then EV_NODES of the runs, and
 * EV_RUN_END of the runs that are over, as the coordinator's driver would
 * from its run log. */
#include <inttypes.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "sim/logs.h"

#define STORE_MIN_US   200
#define STORE_MAX_US   3000
#define P_STALL        0.02 /* an fsync that takes 50..200 ms */
#define SINKINFO_MAXUS 1000000

uint32_t tsc__sim_logs_voter_of(const struct tsc_sim_lworld *w, uint64_t id)
{
    for (uint32_t v = 0; v < TSC_SIM_LOGS_VOTERS; v++)
        if (w->voters[v].id == id)
            return v;
    return TSC_SIM_LOGS_NONE;
}

uint32_t tsc__sim_logs_agent_of(const struct tsc_sim_lworld *w, uint64_t id)
{
    for (uint32_t i = 0; i < w->n_agents; i++)
        if (w->agents[i].id == id)
            return i;
    return TSC_SIM_LOGS_NONE;
}

static void write_free(struct tsc_sim_lwrite *x)
{
    for (size_t k = 0; k < x->n_recs; k++)
        tsc_free(x->recs[k].enc);
    tsc_free(x->recs);
    tsc_free(x->rec_run);
    tsc_free(x->rec_index);
    tsc_free(x->errs);
    tsc_free(x->rows);
    memset(x, 0, sizeof *x);
}

static void drop_pending(struct tsc_sim_lvoter *v)
{
    for (size_t k = 0; k < v->n_pending; k++)
        write_free(&v->pending[k]);
    v->n_pending = 0;
}

void tsc__sim_logs_voter_free(struct tsc_sim_lvoter *v, size_t n_marks)
{
    tsc_logsink_free(v->k);
    v->k = NULL;
    drop_pending(v);
    tsc_free(v->pending);
    struct tsc_sim_lstore *s = &v->store;
    for (int r = 0; r < TSC_SIM_LOGS_RUNS; r++) {
        for (size_t k = 0; k < s->n_recs[r]; k++)
            tsc_free(s->recs[r][k].enc);
        tsc_free(s->recs[r]);
        tsc_free(s->errs[r]);
    }
    tsc_free(s->rows);
    for (size_t k = 0; s->marks && k < n_marks; k++)
        tsc_free(s->marks[k].idx);
    tsc_free(s->marks);
    memset(v, 0, sizeof *v);
}

/* ---- the store -------------------------------------------------------------------- */

static struct tsc_sim_lmark *mark_of(struct tsc_sim_lworld *w, uint32_t v, uint32_t r,
                                     uint64_t node)
{
    uint32_t i = tsc__sim_logs_agent_of(w, node);
    if (i == TSC_SIM_LOGS_NONE)
        return NULL;
    return &w->voters[v].store.marks[(size_t)r * w->n_agents + i];
}

static int mark_set(struct tsc_sim_lmark *m, uint64_t seq, uint64_t index)
{
    if (seq >= m->cap) {
        size_t cap = m->cap ? m->cap : 64;
        while (cap <= seq)
            cap *= 2;
        uint64_t *p = tsc_realloc(m->idx, cap * sizeof *p);
        if (!p)
            return TSC_ENOMEM;
        memset(p + m->cap, 0, (cap - m->cap) * sizeof *p);
        m->idx = p;
        m->cap = cap;
    }
    m->idx[seq] = index;
    /* Only stored records count: an ACK must never cover a seq a GAP
     * passed over (the agent still holds it and must resend it). */
    while (m->contig + 1 < m->cap && m->idx[m->contig + 1] && m->idx[m->contig + 1] != UINT64_MAX)
        m->contig++;
    return 0;
}

/* Apply one write to voter v's store (it is durable now). */
static int store_apply(struct tsc_sim_lworld *w, uint32_t v, struct tsc_sim_lwrite *x)
{
    struct tsc_sim_lstore *s = &w->voters[v].store;
    tsc__sim_logs_dbg(w, "v%u durable token %" PRIu64 ": %zu records, %zu errors, %zu rows", v,
                      x->token, x->n_recs, x->n_errs, x->n_rows);
    for (size_t k = 0; k < x->n_rows; k++)
        tsc__sim_logs_dbg(w,
                          "v%u   row run %" PRIu64 " a%u delivered %" PRIu64 " hole %" PRIu64
                          "..%" PRIu64 " lamport %" PRIu64 " next %" PRIu64 " done %d finished %d",
                          v, x->rows[k].run, tsc__sim_logs_agent_of(w, x->rows[k].node),
                          x->rows[k].delivered, x->rows[k].hole_lo, x->rows[k].hole_hi,
                          x->rows[k].last_lamport, x->rows[k].next_index, x->rows[k].done,
                          x->rows[k].finished);
    for (size_t k = 0; k < x->n_recs; k++) {
        uint32_t r = tsc__sim_logs_run_of(w, x->rec_run[k]);
        tsc__sim_logs_dbg(w, "v%u   index %" PRIu64 " = a%u seq %" PRIu64, v, x->rec_index[k],
                          tsc__sim_logs_agent_of(w, x->recs[k].node), x->recs[k].seq);
        uint64_t index = x->rec_index[k];
        struct tsc_sim_lmark *m = r == TSC_SIM_LOGS_NONE ? NULL : mark_of(w, v, r, x->recs[k].node);
        if (!m || index == 0 || index > s->n_recs[r] + 1000000) {
            tsc__sim_logs_violation(w, TSC_SIM_LV_ENGINE,
                                    "voter %u: write of run %" PRIu64 " index %" PRIu64
                                    " node %" PRIx64,
                                    v, x->rec_run[k], index, x->recs[k].node);
            continue;
        }
        tsc__sim_logs_check_store(w, v, r, index, &x->recs[k]);
        if (index > s->cap_recs[r]) {
            size_t cap = s->cap_recs[r] ? s->cap_recs[r] : 256;
            while (cap < index)
                cap *= 2;
            struct tsc_sim_lsrec *p = tsc_realloc(s->recs[r], cap * sizeof *p);
            if (!p)
                return TSC_ENOMEM;
            memset(p + s->cap_recs[r], 0, (cap - s->cap_recs[r]) * sizeof *p);
            s->recs[r] = p;
            s->cap_recs[r] = cap;
        }
        struct tsc_sim_lsrec *slot = &s->recs[r][index - 1];
        tsc_free(slot->enc); /* an overwrite was reported above */
        *slot = x->recs[k];
        x->recs[k].enc = NULL;
        if (index > s->n_recs[r])
            s->n_recs[r] = index;
        int rc = mark_set(m, slot->seq, index);
        if (rc)
            return rc;
    }
    for (size_t k = 0; k < x->n_errs; k++) {
        const struct tsc_logmerge_error *e = &x->errs[k];
        uint32_t r = tsc__sim_logs_run_of(w, e->run);
        if (r == TSC_SIM_LOGS_NONE)
            continue;
        if (s->n_errs[r] == s->cap_errs[r]) {
            size_t cap = s->cap_errs[r] ? s->cap_errs[r] * 2 : 8;
            struct tsc_logmerge_error *p = tsc_realloc(s->errs[r], cap * sizeof *p);
            if (!p)
                return TSC_ENOMEM;
            s->errs[r] = p;
            s->cap_errs[r] = cap;
        }
        s->errs[r][s->n_errs[r]++] = *e;
        /* A stored GAP passes over (b_seq, a_seq): marked, but no ACK may
         * cover those until they are stored (mark_set). */
        struct tsc_sim_lmark *m = mark_of(w, v, r, e->a_node);
        if (e->kind == TSC_LOGMERGE_GAP && m)
            for (uint64_t q = e->b_seq + 1; q < e->a_seq; q++)
                if ((q >= m->cap || !m->idx[q]) && mark_set(m, q, UINT64_MAX))
                    return TSC_ENOMEM;
    }
    for (size_t k = 0; k < x->n_rows; k++) {
        const struct tsc_logsink_row *row = &x->rows[k];
        size_t j = 0;
        while (j < s->n_rows && (s->rows[j].run != row->run || s->rows[j].node != row->node))
            j++;
        if (j == s->n_rows) {
            if (s->n_rows == s->cap_rows) {
                size_t cap = s->cap_rows ? s->cap_rows * 2 : 16;
                struct tsc_logsink_row *p = tsc_realloc(s->rows, cap * sizeof *p);
                if (!p)
                    return TSC_ENOMEM;
                s->rows = p;
                s->cap_rows = cap;
            }
            s->n_rows++;
        }
        s->rows[j] = *row;
    }
    return 0;
}

/* ---- the engine ----------------------------------------------------------------------- */

/* Copy the update's write into the voter's queue, durable a store latency
 * after the previous one. */
static int queue_write(struct tsc_sim_lworld *w, uint32_t v, const struct tsc_logsink_update *up)
{
    struct tsc_sim_lvoter *x = &w->voters[v];
    if (x->n_pending == x->cap_pending) {
        size_t cap = x->cap_pending ? x->cap_pending * 2 : 8;
        struct tsc_sim_lwrite *p = tsc_realloc(x->pending, cap * sizeof *p);
        if (!p)
            return TSC_ENOMEM;
        x->pending = p;
        x->cap_pending = cap;
    }
    struct tsc_sim_lwrite *wr = &x->pending[x->n_pending];
    memset(wr, 0, sizeof *wr);
    size_t n = up->n_writes;
    wr->recs = tsc_calloc(n ? n : 1, sizeof *wr->recs);
    wr->rec_run = tsc_calloc(n ? n : 1, sizeof *wr->rec_run);
    wr->rec_index = tsc_calloc(n ? n : 1, sizeof *wr->rec_index);
    wr->errs = tsc_calloc(up->n_errors ? up->n_errors : 1, sizeof *wr->errs);
    wr->rows = tsc_calloc(up->n_rows ? up->n_rows : 1, sizeof *wr->rows);
    if (!wr->recs || !wr->rec_run || !wr->rec_index || !wr->errs || !wr->rows) {
        write_free(wr);
        return TSC_ENOMEM;
    }
    for (size_t k = 0; k < n; k++) {
        const struct tsc_logsink_write *in = &up->writes[k];
        tsc_buf_reset(&w->buf2);
        int rc = tsc_logrec_encode(in->rec, &w->buf2);
        uint8_t *enc = rc ? NULL : tsc_malloc(w->buf2.len);
        if (!enc) {
            wr->n_recs = k;
            write_free(wr);
            return rc && rc != TSC_ENOMEM ? 0 : TSC_ENOMEM;
        }
        memcpy(enc, w->buf2.data, w->buf2.len);
        wr->recs[k] = (struct tsc_sim_lsrec){
            .node = in->rec->node, .seq = in->rec->seq, .enc = enc, .len = (uint32_t)w->buf2.len};
        wr->rec_run[k] = in->run;
        wr->rec_index[k] = in->index;
    }
    wr->n_recs = n;
    if (up->n_errors)
        memcpy(wr->errs, up->errors, up->n_errors * sizeof *up->errors);
    wr->n_errs = up->n_errors;
    if (up->n_rows)
        memcpy(wr->rows, up->rows, up->n_rows * sizeof *up->rows);
    wr->n_rows = up->n_rows;
    wr->token = up->token;
    uint64_t lat = STORE_MIN_US + tsc_prng_below(&w->prng, STORE_MAX_US - STORE_MIN_US);
    if (tsc_prng_double(&w->prng) < P_STALL)
        lat = TSC_MSEC(50) + tsc_prng_below(&w->prng, TSC_MSEC(150));
    wr->at = w->now + lat > x->last_at ? w->now + lat : x->last_at;
    x->last_at = wr->at;
    x->n_pending++;
    return tsc_sim_heap_push(&w->heap, wr->at, TSC_SIM_LEV_DURABLE, v, x->life, 0);
}

static int sink_step(struct tsc_sim_lworld *w, uint32_t v, struct tsc_logsink_event *ev)
{
    struct tsc_sim_lvoter *x = &w->voters[v];
    struct tsc_logsink_update up;
    memset(&up, 0, sizeof up);
    ev->now = w->now;
    int rc = tsc_logsink_step(x->k, ev, &up);
    if (rc == TSC_ENOMEM)
        return rc;
    if (rc) {
        tsc__sim_logs_violation(w, TSC_SIM_LV_ENGINE, "voter %u: sink event %d: %s", v, ev->type,
                                tsc_strerror(rc));
        return 0;
    }
    for (size_t k = 0; k < up.n_errors; k++) {
        w->r->merge_errors++;
        w->r->gaps += up.errors[k].kind == TSC_LOGMERGE_GAP;
        tsc__sim_logs_check_error(w, v, &up.errors[k]);
    }
    if (up.token) {
        rc = queue_write(w, v, &up);
        if (rc)
            return rc;
    } else if (up.n_writes || up.n_errors || up.n_rows) {
        tsc__sim_logs_violation(w, TSC_SIM_LV_ENGINE, "voter %u: a write without a token", v);
    }
    for (size_t k = 0; k < up.n_acks; k++) {
        const struct tsc_logack *a = &up.acks[k].ack;
        uint32_t i = tsc__sim_logs_agent_of(w, a->node);
        tsc__sim_logs_dbg(w,
                          "v%u ack a%u run %" PRIu64 " have %" PRIu64 " epoch %" PRIu64
                          " lamport %" PRIu64 " done %d",
                          v, i, a->run, a->have, a->epoch, a->lamport, a->done);
        tsc__sim_logs_check_ack(w, v, a);
        if (i == TSC_SIM_LOGS_NONE)
            continue;
        tsc_buf_reset(&w->buf2);
        rc = tsc_logack_encode(a, &w->buf2);
        if (rc == 0)
            rc = tsc__sim_logs_send(w, w->n_agents + v, i, TSC_SIM_LMSG_ACK, 0, w->buf2.data,
                                    w->buf2.len, NULL);
        if (rc)
            return rc;
        w->r->acks++;
    }
    return tsc__sim_logs_arm(w, 1, v, up.next_deadline);
}

int tsc__sim_logs_voter_durable(struct tsc_sim_lworld *w, uint32_t v)
{
    struct tsc_sim_lvoter *x = &w->voters[v];
    while (x->n_pending && x->pending[0].at <= w->now) {
        struct tsc_sim_lwrite wr = x->pending[0];
        memmove(x->pending, x->pending + 1, (x->n_pending - 1) * sizeof *x->pending);
        x->n_pending--;
        uint64_t token = wr.token;
        int rc = store_apply(w, v, &wr);
        write_free(&wr);
        if (rc)
            return rc;
        if (x->k) {
            struct tsc_logsink_event ev = {.type = TSC_LOGSINK_EV_DURABLE, .token = token};
            rc = sink_step(w, v, &ev);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* A voter that stops being the sink: what it submitted completes; its
 * engine goes. */
static int step_down(struct tsc_sim_lworld *w, uint32_t v)
{
    struct tsc_sim_lvoter *x = &w->voters[v];
    while (x->n_pending) {
        struct tsc_sim_lwrite wr = x->pending[0];
        memmove(x->pending, x->pending + 1, (x->n_pending - 1) * sizeof *x->pending);
        x->n_pending--;
        int rc = store_apply(w, v, &wr);
        write_free(&wr);
        if (rc)
            return rc;
    }
    tsc_logsink_free(x->k);
    x->k = NULL;
    x->tick_at = TSC_TIME_NEVER;
    x->life++;
    return 0;
}

static int run_events(struct tsc_sim_lworld *w, uint32_t v, uint32_t r, int end)
{
    const struct tsc_sim_lrun *run = &w->runs[r];
    struct tsc_logsink_event ev = {.run = run->id};
    if (end) {
        ev.type = TSC_LOGSINK_EV_RUN_END;
    } else {
        ev.type = TSC_LOGSINK_EV_NODES;
        ev.nodes = run->nodes;
        ev.n_nodes = run->n_nodes;
    }
    return sink_step(w, v, &ev);
}

int tsc__sim_logs_takeover(struct tsc_sim_lworld *w, uint32_t v)
{
    uint32_t old = w->n_sinks ? w->sinks[w->n_sinks - 1].voter : TSC_SIM_LOGS_NONE;
    int rc = 0;
    if (old != TSC_SIM_LOGS_NONE && w->voters[old].k)
        rc = step_down(w, old);
    if (rc)
        return rc;
    if (w->n_sinks == w->cap_sinks) {
        size_t cap = w->cap_sinks ? w->cap_sinks * 2 : 16;
        struct tsc_sim_lsink *p = tsc_realloc(w->sinks, cap * sizeof *p);
        if (!p)
            return TSC_ENOMEM;
        w->sinks = p;
        w->cap_sinks = cap;
    }
    uint64_t epoch = w->n_sinks ? w->sinks[w->n_sinks - 1].epoch + 1 : 1;
    w->sinks[w->n_sinks++] = (struct tsc_sim_lsink){.voter = v, .epoch = epoch};
    w->sink = v;
    if (w->n_sinks > 1)
        w->r->failovers++;
    tsc__sim_logs_note(w, "voter %u is the sink, epoch %" PRIu64, v, epoch);

    struct tsc_sim_lvoter *x = &w->voters[v];
    char em[TSC_ERRMSG_SIZE] = "";
    rc = tsc_logsink_new(&x->k, &w->sink_cfg, em);
    if (rc) {
        tsc_errmsg_setf(w->errmsg, "voter %u: %s", v, em);
        return rc;
    }
    x->tick_at = TSC_TIME_NEVER;
    x->deadline = TSC_TIME_NEVER;
    for (size_t k = 0; k < x->store.n_rows && rc == 0; k++) {
        struct tsc_logsink_event ev = {.type = TSC_LOGSINK_EV_RESTORE, .row = &x->store.rows[k]};
        rc = sink_step(w, v, &ev);
    }
    for (uint32_t r = 0; r < TSC_SIM_LOGS_RUNS && rc == 0; r++) {
        if (w->runs[r].started)
            rc = run_events(w, v, r, 0);
        if (rc == 0 && w->runs[r].ended)
            rc = run_events(w, v, r, 1);
    }
    /* Each agent hears of it through membership, after its own delay. */
    for (uint32_t i = 0; i < w->n_agents && rc == 0; i++)
        rc = tsc_sim_heap_push(&w->heap,
                               w->now + TSC_MSEC(10) + tsc_prng_below(&w->prng, SINKINFO_MAXUS),
                               TSC_SIM_LEV_SINKINFO, i, 0, (uint32_t)(w->n_sinks - 1));
    return rc;
}

void tsc__sim_logs_voter_crash(struct tsc_sim_lworld *w, uint32_t v)
{
    struct tsc_sim_lvoter *x = &w->voters[v];
    tsc_logsink_free(x->k);
    x->k = NULL;
    drop_pending(x); /* not durable: gone */
    x->last_at = 0;
    x->up = 0;
    x->life++;
    x->tick_at = TSC_TIME_NEVER;
    tsc_sim_net_set_down(&w->net, w->n_agents + v, 1);
    w->r->voter_crashes++;
    tsc__sim_logs_note(w, "voter %u crashes%s", v, w->sink == v ? " (the sink)" : "");
    if (w->sink == v) {
        w->r->sink_kills++;
        w->sink = TSC_SIM_LOGS_NONE;
        w->elections++;
        tsc_sim_heap_push(&w->heap,
                          w->now + TSC_MSEC(300) + tsc_prng_below(&w->prng, TSC_MSEC(1200)),
                          TSC_SIM_LEV_ELECT, 0, 0, w->elections);
    }
}

int tsc__sim_logs_voter_restart(struct tsc_sim_lworld *w, uint32_t v)
{
    struct tsc_sim_lvoter *x = &w->voters[v];
    x->up = 1;
    x->life++;
    tsc_sim_net_set_down(&w->net, w->n_agents + v, 0);
    tsc__sim_logs_note(w, "voter %u restarts", v);
    return 0;
}

int tsc__sim_logs_voter_tick(struct tsc_sim_lworld *w, uint32_t v)
{
    if (!w->voters[v].k)
        return 0;
    struct tsc_logsink_event ev = {.type = TSC_LOGSINK_EV_TICK};
    return sink_step(w, v, &ev);
}

int tsc__sim_logs_voter_deliver(struct tsc_sim_lworld *w, uint32_t v, const struct tsc_sim_lmsg *m)
{
    struct tsc_sim_lvoter *x = &w->voters[v];
    if (m->kind != TSC_SIM_LMSG_BATCH)
        return 0;
    if (!x->k) {
        w->r->batches_lost++; /* not the sink (any more): nobody listens */
        return 0;
    }
    struct tsc_logbatch b;
    tsc_logbatch_init(&b);
    int rc = tsc_logbatch_decode(m->data, m->len, &b);
    if (rc) {
        tsc__sim_logs_violation(w, TSC_SIM_LV_ENGINE, "voter %u: batch decode: %s", v,
                                tsc_strerror(rc));
        tsc_logbatch_free(&b);
        return rc == TSC_ENOMEM ? rc : 0;
    }
    tsc__sim_logs_dbg(w,
                      "v%u <- batch a%u run %" PRIu64 " first %" PRIu64 " n %zu epoch %" PRIu64
                      " promise %" PRIu64 " done %d",
                      v, m->from, b.run, b.first, b.n, b.epoch, b.promise, b.done);
    struct tsc_logsink_event ev = {.type = TSC_LOGSINK_EV_BATCH, .batch = &b};
    rc = sink_step(w, v, &ev);
    tsc_logbatch_free(&b);
    return rc;
}

int tsc__sim_logs_voter_run(struct tsc_sim_lworld *w, uint32_t r, int end)
{
    if (w->sink == TSC_SIM_LOGS_NONE || !w->voters[w->sink].k)
        return 0; /* the next sink learns it when it takes over */
    return run_events(w, w->sink, r, end);
}
