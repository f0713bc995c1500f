/* tsc — an agent in the log-shipping world (sim/logs.h): its records, its
 * clocks, and the shipping engine driven as agent/logs.c drives it.
 *
 * Durable (the agent's LOGLOCAL, kept across crashes): every record's
 * encoding, written before EV_PRODUCED; whether the stream was closed; the
 * highest promise a batch carried, written before that batch goes out.
 * Volatile: the run clock and Lamport time, rebuilt at a restart from the
 * last record (and the stored promise), and the engine itself. */
#include <inttypes.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "sim/logs.h"

#define PRODUCE_MEAN_US 100000 /* a record every 100 ms per agent, on average */
#define P_BURST         0.03   /* 20..100 records at once */
#define P_SEND          0.12   /* a record is a message to another participant */
#define P_SHORT         0.1    /* the driver's byte limit cuts a batch short */
#define P_REFUSED       0.5    /* a blocked stream fails at once (else it is lost) */

void tsc__sim_logs_agent_free(struct tsc_sim_lagent *a)
{
    tsc_logship_free(a->ship);
    a->ship = NULL;
    for (int k = 0; k < TSC_SIM_LOGS_RUNS; k++) {
        struct tsc_sim_lstream *st = &a->st[k];
        for (size_t s = 0; s < st->n; s++)
            tsc_free(st->recs[s].enc);
        tsc_free(st->recs);
        st->recs = NULL;
        st->n = st->cap = 0;
        tsc_vclock_free(&st->clock);
    }
}

/* ---- the engine and its sends --------------------------------------------------- */

struct sendq {
    struct tsc_logship_send *v;
    size_t n, cap, head;
};

static int sendq_add(struct sendq *q, const struct tsc_logship_update *up)
{
    if (q->n + up->n_sends > q->cap) {
        size_t cap = (q->n + up->n_sends) * 2 + 8;
        struct tsc_logship_send *p = tsc_realloc(q->v, cap * sizeof *p);
        if (!p)
            return TSC_ENOMEM;
        q->v = p;
        q->cap = cap;
    }
    if (up->n_sends)
        memcpy(q->v + q->n, up->sends, up->n_sends * sizeof *up->sends);
    q->n += up->n_sends;
    return 0;
}

/* Read records first..last of the run from the store and put them on a
 * stream to the voter, as one batch with the stream's promise and
 * watermark. */
static int send_range(struct tsc_sim_lworld *w, uint32_t i, uint32_t r, uint32_t v,
                      const struct tsc_logship_send *s, uint64_t first, uint64_t last, int *lost)
{
    struct tsc_sim_lagent *a = &w->agents[i];
    struct tsc_sim_lstream *st = &a->st[r];
    size_t n = last >= first ? (size_t)(last - first + 1) : 0;
    const uint8_t **enc = tsc_calloc(n ? n : 1, sizeof *enc);
    size_t *len = tsc_calloc(n ? n : 1, sizeof *len);
    if (!enc || !len) {
        tsc_free(enc);
        tsc_free(len);
        return TSC_ENOMEM;
    }
    for (size_t k = 0; k < n; k++) {
        enc[k] = st->recs[first - 1 + k].enc;
        len[k] = st->recs[first - 1 + k].len;
    }
    struct tsc_logbatch b;
    tsc_logbatch_init(&b);
    b.run = w->runs[r].id;
    b.node = a->id;
    b.epoch = s->epoch;
    b.first = n ? first : st->n + 1;
    b.promise = st->lamport;
    b.watermark = st->clock; /* borrowed: own entry = produced */
    b.done = s->done && last == s->last;
    b.n = n;
    if (st->lamport > st->promise_saved)
        st->promise_saved = st->lamport; /* stored before it goes out */
    tsc_buf_reset(&w->buf);
    int rc = tsc_logbatch_encode(&b, enc, len, n, &w->buf);
    tsc_free(enc);
    tsc_free(len);
    if (rc) {
        tsc__sim_logs_violation(w, TSC_SIM_LV_ENGINE, "agent %u: batch encode: %s", i,
                                tsc_strerror(rc));
        return rc == TSC_ENOMEM ? rc : 0;
    }
    w->r->batches++;
    if (!n)
        w->r->probes++;
    rc = tsc__sim_logs_send(w, i, w->n_agents + v, TSC_SIM_LMSG_BATCH, 1, w->buf.data, w->buf.len,
                            lost);
    tsc__sim_logs_dbg(w,
                      "a%u -> v%u batch run %" PRIu64 " %" PRIu64 "..%" PRIu64 " epoch %" PRIu64
                      " promise %" PRIu64 " produced %zu done %d%s",
                      i, v, b.run, first, last, b.epoch, b.promise, st->n, b.done,
                      *lost ? " LOST" : "");
    return rc;
}

/* Carry out one send the engine asked for; *failed: answer EV_FAILED,
 * else EV_SENT ending at *sent. */
static int do_send(struct tsc_sim_lworld *w, uint32_t i, const struct tsc_logship_send *s,
                   int *failed, uint64_t *sent)
{
    struct tsc_sim_lagent *a = &w->agents[i];
    uint32_t r = tsc__sim_logs_run_of(w, s->run);
    uint32_t v = tsc__sim_logs_voter_of(w, s->sink);
    *failed = 0;
    *sent = s->last;
    if (r == TSC_SIM_LOGS_NONE || s->first == 0 || s->last + 1 < s->first || s->last > a->st[r].n) {
        tsc__sim_logs_violation(
            w, TSC_SIM_LV_ENGINE,
            "agent %u: asked to send run %" PRIu64 " %" PRIu64 "..%" PRIu64 " (produced %zu)", i,
            s->run, s->first, s->last, r < TSC_SIM_LOGS_RUNS ? a->st[r].n : 0);
        *failed = 1;
        return 0;
    }
    if (v == TSC_SIM_LOGS_NONE) {
        *failed = 1; /* no known coordinator to connect to */
        return 0;
    }
    uint64_t last = s->last;
    if (last > s->first && tsc_prng_double(&a->prng) < P_SHORT)
        last = s->first + tsc_prng_below(&a->prng, last - s->first);
    *sent = last;
    const struct tsc_sim_logs_opts *o = w->o;
    int lost = 0, rc;
    uint64_t k = o->drop_seq;
    if (k && r == o->drop_run && i == o->drop_agent && s->first <= k && k <= last) {
        /* The record never arrives: its neighbours go as two batches. */
        if (w->r->dropped == 0)
            w->r->dropped = 1;
        rc = k > s->first ? send_range(w, i, r, v, s, s->first, k - 1, &lost) : 0;
        if (rc == 0 && k < last)
            rc = send_range(w, i, r, v, s, k + 1, last, &lost);
    } else {
        rc = send_range(w, i, r, v, s, s->first, last, &lost);
    }
    if (rc == 0 && lost && tsc_prng_double(&a->prng) < P_REFUSED)
        *failed = 1;
    return rc;
}

/* Step the engine with ev and carry out its sends, answering each. */
static int ship_step(struct tsc_sim_lworld *w, uint32_t i, struct tsc_logship_event *ev)
{
    struct tsc_sim_lagent *a = &w->agents[i];
    struct tsc_logship_update up;
    struct sendq q = {0};
    int rc = 0;
    for (;;) {
        ev->now = w->now;
        memset(&up, 0, sizeof up);
        int erc = tsc_logship_step(a->ship, ev, &up);
        if (erc == TSC_ENOMEM) {
            rc = erc;
            break;
        }
        if (erc) {
            tsc__sim_logs_violation(w, TSC_SIM_LV_ENGINE, "agent %u: ship event %d: %s", i,
                                    ev->type, tsc_strerror(erc));
        } else {
            if (ev->type == TSC_LOGSHIP_EV_ACK && up.lamport) {
                uint32_t r = tsc__sim_logs_run_of(w, ev->ack->run);
                if (r != TSC_SIM_LOGS_NONE && up.lamport > a->st[r].lamport)
                    a->st[r].lamport = up.lamport; /* no record: keeps the promise */
            }
            for (size_t k = 0; k < up.n_sends; k++)
                tsc__sim_logs_dbg(w,
                                  "a%u ship asks run %" PRIu64 " %" PRIu64 "..%" PRIu64
                                  " epoch %" PRIu64 " done %d (after event %d)",
                                  i, up.sends[k].run, up.sends[k].first, up.sends[k].last,
                                  up.sends[k].epoch, up.sends[k].done, ev->type);
            rc = sendq_add(&q, &up);
            if (rc == 0)
                rc = tsc__sim_logs_arm(w, 0, i, up.next_deadline);
            if (rc)
                break;
        }
        if (q.head == q.n)
            break;
        struct tsc_logship_send s = q.v[q.head++];
        int failed;
        uint64_t sent;
        rc = do_send(w, i, &s, &failed, &sent);
        if (rc)
            break;
        memset(ev, 0, sizeof *ev);
        ev->type = failed ? TSC_LOGSHIP_EV_FAILED : TSC_LOGSHIP_EV_SENT;
        ev->run = s.run;
        ev->seq = sent;
    }
    tsc_free(q.v);
    return rc;
}

/* ---- records ------------------------------------------------------------------- */

/* Make one record of run r on agent i, as agent/logs.c: a receive merges
 * the carried clock and time first; then tick, L + 1, store, EV_PRODUCED. */
static int make_record(struct tsc_sim_lworld *w, uint32_t i, uint32_t r, int kind,
                       const struct tsc_vclock *carried, uint64_t carried_l, uint64_t *seq_out)
{
    struct tsc_sim_lagent *a = &w->agents[i];
    struct tsc_sim_lstream *st = &a->st[r];
    uint64_t seq = 0;
    int rc = 0;
    if (carried) {
        rc = tsc_vclock_merge(&st->clock, carried);
        if (carried_l > st->lamport)
            st->lamport = carried_l;
    }
    if (rc == 0)
        rc = tsc_vclock_tick(&st->clock, a->id, &seq);
    if (rc)
        return rc;
    st->lamport++;
    st->loaded = 1;
    char text[160];
    int len = snprintf(text, sizeof text, "a%u r%" PRIu64 " s%" PRIu64 " ", i, w->runs[r].id, seq);
    size_t pad = (size_t)tsc_prng_below(&a->prng, 80);
    for (size_t k = 0; k < pad; k++)
        text[len + (int)k] = (char)('a' + tsc_prng_below(&a->prng, 26));
    struct tsc_logrec rec;
    tsc_logrec_init(&rec);
    rec.node = a->id;
    rec.seq = seq;
    rec.clock = st->clock; /* borrowed for the encoding */
    rec.lamport = st->lamport;
    rec.wall_us = w->now;
    rec.run = w->runs[r].id;
    rec.stage = (uint32_t)((w->now - w->runs[r].start_at) / TSC_SEC(2));
    rec.case_index = TSC_LOGREC_NO_CASE;
    rec.kind = (uint8_t)kind;
    rec.text = (const uint8_t *)text;
    rec.len = (size_t)len + pad;
    tsc_buf_reset(&w->buf2);
    rc = tsc_logrec_encode(&rec, &w->buf2);
    if (rc)
        return rc;
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        struct tsc_sim_lrec *p = tsc_realloc(st->recs, cap * sizeof *p);
        if (!p)
            return TSC_ENOMEM;
        st->recs = p;
        st->cap = cap;
    }
    uint8_t *copy = tsc_malloc(w->buf2.len);
    if (!copy)
        return TSC_ENOMEM;
    memcpy(copy, w->buf2.data, w->buf2.len);
    st->recs[st->n].enc = copy;
    st->recs[st->n].len = (uint32_t)w->buf2.len;
    st->n++;
    if (seq != st->n)
        tsc__sim_logs_violation(w, TSC_SIM_LV_ENGINE, "agent %u: seq %" PRIu64 " after %zu", i, seq,
                                st->n - 1);
    w->r->records++;
    tsc__sim_logs_dbg(w, "a%u record run %" PRIu64 " seq %" PRIu64 " lamport %" PRIu64 " kind %d",
                      i, rec.run, seq, rec.lamport, kind);
    if (seq_out)
        *seq_out = seq;
    struct tsc_logship_event ev = {.type = TSC_LOGSHIP_EV_PRODUCED, .run = rec.run, .seq = seq};
    return ship_step(w, i, &ev);
}

/* Rebuild the volatile clock and time of a stream from its last record and
 * the stored promise (a restart). */
static int load_stream(struct tsc_sim_lworld *w, uint32_t i, uint32_t r)
{
    struct tsc_sim_lstream *st = &w->agents[i].st[r];
    struct tsc_logrec rec;
    tsc_logrec_init(&rec);
    int rc = tsc_logrec_decode(st->recs[st->n - 1].enc, st->recs[st->n - 1].len, &rec);
    if (rc == 0)
        rc = tsc_vclock_copy(&st->clock, &rec.clock);
    if (rc == 0) {
        st->lamport = rec.lamport;
        if (!w->o->forget_promise && st->promise_saved > st->lamport)
            st->lamport = st->promise_saved;
        st->loaded = 1;
    }
    tsc_logrec_free(&rec);
    return rc;
}

/* ---- life cycle and events --------------------------------------------------------- */

static int active(const struct tsc_sim_lworld *w, uint32_t i, uint32_t r)
{
    const struct tsc_sim_lrun *run = &w->runs[r];
    return run->started && !run->ended && run->part[i] && !w->agents[i].st[r].closed &&
           w->agents[i].epoch >= run->start_epoch;
}

static int close_stream(struct tsc_sim_lworld *w, uint32_t i, uint32_t r)
{
    struct tsc_sim_lstream *st = &w->agents[i].st[r];
    if (!st->n || st->closed)
        return 0;
    st->closed = 1;
    struct tsc_logship_event ev = {.type = TSC_LOGSHIP_EV_CLOSE, .run = w->runs[r].id};
    return ship_step(w, i, &ev);
}

int tsc__sim_logs_agent_start(struct tsc_sim_lworld *w, uint32_t i)
{
    struct tsc_sim_lagent *a = &w->agents[i];
    char em[TSC_ERRMSG_SIZE] = "";
    struct tsc_logship_config cfg = w->ship_cfg;
    cfg.node = a->id;
    int rc = tsc_logship_new(&a->ship, &cfg, em);
    if (rc) {
        tsc_errmsg_setf(w->errmsg, "agent %u: %s", i, em);
        return rc;
    }
    a->up = 1;
    a->life++;
    a->tick_at = TSC_TIME_NEVER;
    a->deadline = TSC_TIME_NEVER;
    tsc_sim_net_set_down(&w->net, i, 0);
    if (a->life == 1) {
        rc = tsc_sim_heap_push(&w->heap, w->now + tsc_prng_below(&a->prng, PRODUCE_MEAN_US),
                               TSC_SIM_LEV_PRODUCE, i, 0, 0);
    } else {
        w->r->agent_restarts++;
        tsc__sim_logs_note(w, "agent %u restarts", i);
    }
    for (uint32_t r = 0; rc == 0 && r < TSC_SIM_LOGS_RUNS; r++) {
        struct tsc_sim_lstream *st = &a->st[r];
        if (!st->n)
            continue;
        rc = load_stream(w, i, r);
        struct tsc_logship_event ev = {
            .type = TSC_LOGSHIP_EV_RESTORE, .run = w->runs[r].id, .seq = st->n, .done = st->closed};
        if (rc == 0)
            rc = ship_step(w, i, &ev);
    }
    if (rc == 0 && w->n_sinks) {
        const struct tsc_sim_lsink *s = &w->sinks[w->n_sinks - 1];
        a->sink = s->voter;
        a->epoch = s->epoch;
        struct tsc_logship_event ev = {
            .type = TSC_LOGSHIP_EV_SINK, .sink = w->voters[s->voter].id, .epoch = s->epoch};
        rc = ship_step(w, i, &ev);
    }
    for (uint32_t r = 0; rc == 0 && r < TSC_SIM_LOGS_RUNS; r++) {
        if (w->runs[r].ended && w->runs[r].part[i])
            rc = close_stream(w, i, r);
        else if (active(w, i, r) && a->st[r].n == 0)
            rc = make_record(w, i, r, TSC_LOGREC_EVENT, NULL, 0, NULL);
    }
    return rc;
}

void tsc__sim_logs_agent_crash(struct tsc_sim_lworld *w, uint32_t i)
{
    struct tsc_sim_lagent *a = &w->agents[i];
    if (a->ship)
        w->r->resent += tsc_logship_stats(a->ship)->resent;
    tsc_logship_free(a->ship);
    a->ship = NULL;
    a->up = 0;
    a->life++;
    a->tick_at = TSC_TIME_NEVER;
    for (int r = 0; r < TSC_SIM_LOGS_RUNS; r++) {
        tsc_vclock_reset(&a->st[r].clock);
        a->st[r].lamport = 0;
        a->st[r].loaded = 0;
    }
    tsc_sim_net_set_down(&w->net, i, 1);
    tsc__sim_logs_note(w, "agent %u crashes", i);
}

int tsc__sim_logs_agent_tick(struct tsc_sim_lworld *w, uint32_t i)
{
    if (!w->agents[i].up)
        return 0;
    struct tsc_logship_event ev = {.type = TSC_LOGSHIP_EV_TICK};
    return ship_step(w, i, &ev);
}

int tsc__sim_logs_agent_produce(struct tsc_sim_lworld *w, uint32_t i)
{
    struct tsc_sim_lagent *a = &w->agents[i];
    uint64_t gap = tsc_prng_below(&a->prng, 2 * PRODUCE_MEAN_US) + 1;
    int rc = tsc_sim_heap_push(&w->heap, w->now + gap, TSC_SIM_LEV_PRODUCE, i, 0, 0);
    if (rc || !a->up)
        return rc;
    uint32_t runs[TSC_SIM_LOGS_RUNS], n = 0;
    for (uint32_t r = 0; r < TSC_SIM_LOGS_RUNS; r++)
        if (active(w, i, r))
            runs[n++] = r;
    if (!n)
        return 0;
    uint32_t r = runs[tsc_prng_below(&a->prng, n)];
    if (tsc_prng_double(&a->prng) < P_BURST) {
        uint64_t k = 20 + tsc_prng_below(&a->prng, 81);
        for (uint64_t j = 0; j < k && rc == 0; j++)
            rc = make_record(w, i, r, TSC_LOGREC_STDOUT, NULL, 0, NULL);
        return rc;
    }
    const struct tsc_sim_lrun *run = &w->runs[r];
    if (run->n_nodes > 1 && tsc_prng_double(&a->prng) < P_SEND) {
        uint32_t to;
        do
            to = (uint32_t)tsc_prng_below(&a->prng, w->n_agents);
        while (to == i || !run->part[to]);
        uint64_t seq;
        rc = make_record(w, i, r, TSC_LOGREC_SEND, NULL, 0, &seq);
        if (rc || !a->up)
            return rc;
        struct tsc_logmsg m;
        tsc_logmsg_init(&m);
        m.run = run->id;
        m.from = a->id;
        m.to = w->agents[to].id;
        m.seq = seq;
        m.lamport = a->st[r].lamport;
        m.clock = a->st[r].clock; /* borrowed */
        m.text = (const uint8_t *)"ping";
        m.len = 4;
        tsc_buf_reset(&w->buf);
        rc = tsc_logmsg_encode(&m, &w->buf);
        if (rc) {
            tsc__sim_logs_violation(w, TSC_SIM_LV_ENGINE, "agent %u: LOG_MSG encode: %s", i,
                                    tsc_strerror(rc));
            return rc == TSC_ENOMEM ? rc : 0;
        }
        return tsc__sim_logs_send(w, i, to, TSC_SIM_LMSG_MSG, 1, w->buf.data, w->buf.len, NULL);
    }
    static const int kinds[] = {TSC_LOGREC_STDOUT, TSC_LOGREC_STDERR, TSC_LOGREC_EVENT,
                                TSC_LOGREC_FILE, TSC_LOGREC_USER};
    return make_record(w, i, r, kinds[tsc_prng_below(&a->prng, 5)], NULL, 0, NULL);
}

int tsc__sim_logs_agent_sink(struct tsc_sim_lworld *w, uint32_t i, size_t change)
{
    struct tsc_sim_lagent *a = &w->agents[i];
    const struct tsc_sim_lsink *s = &w->sinks[change];
    if (!a->up || s->epoch <= a->epoch)
        return 0; /* as membership labels: the highest term wins */
    a->sink = s->voter;
    a->epoch = s->epoch;
    struct tsc_logship_event ev = {
        .type = TSC_LOGSHIP_EV_SINK, .sink = w->voters[s->voter].id, .epoch = s->epoch};
    int rc = ship_step(w, i, &ev);
    /* A run this coordinator started reaches the agent (its START). */
    for (uint32_t r = 0; r < TSC_SIM_LOGS_RUNS && rc == 0; r++)
        if (active(w, i, r) && a->st[r].n == 0)
            rc = make_record(w, i, r, TSC_LOGREC_EVENT, NULL, 0, NULL);
    return rc;
}

int tsc__sim_logs_agent_deliver(struct tsc_sim_lworld *w, uint32_t i, const struct tsc_sim_lmsg *m)
{
    int rc = 0;
    if (m->kind == TSC_SIM_LMSG_ACK) {
        struct tsc_logack ack;
        rc = tsc_logack_decode(m->data, m->len, &ack);
        if (rc) {
            tsc__sim_logs_violation(w, TSC_SIM_LV_ENGINE, "agent %u: ACK decode: %s", i,
                                    tsc_strerror(rc));
            return 0;
        }
        tsc__sim_logs_dbg(w,
                          "a%u <- ack run %" PRIu64 " have %" PRIu64 " epoch %" PRIu64
                          " lamport %" PRIu64 " done %d (knows epoch %" PRIu64 ")",
                          i, ack.run, ack.have, ack.epoch, ack.lamport, ack.done,
                          w->agents[i].epoch);
        struct tsc_logship_event ev = {.type = TSC_LOGSHIP_EV_ACK, .ack = &ack};
        return ship_step(w, i, &ev);
    }
    if (m->kind != TSC_SIM_LMSG_MSG)
        return 0;
    struct tsc_logmsg msg;
    tsc_logmsg_init(&msg);
    rc = tsc_logmsg_decode(m->data, m->len, &msg);
    if (rc) {
        tsc__sim_logs_violation(w, TSC_SIM_LV_ENGINE, "agent %u: LOG_MSG decode: %s", i,
                                tsc_strerror(rc));
        tsc_logmsg_free(&msg);
        return 0;
    }
    uint32_t r = tsc__sim_logs_run_of(w, msg.run);
    if (r != TSC_SIM_LOGS_NONE && active(w, i, r)) {
        w->r->messages++;
        rc = make_record(w, i, r, TSC_LOGREC_RECV, &msg.clock, msg.lamport, NULL);
    }
    tsc_logmsg_free(&msg);
    return rc;
}

int tsc__sim_logs_agent_run(struct tsc_sim_lworld *w, uint32_t i, uint32_t r, int end)
{
    if (!w->agents[i].up)
        return 0; /* done at the restart */
    if (end)
        return close_stream(w, i, r);
    return active(w, i, r) ? make_record(w, i, r, TSC_LOGREC_EVENT, NULL, 0, NULL) : 0;
}
