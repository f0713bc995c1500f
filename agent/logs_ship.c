/* tsc — the driver of the log shipping engine (logsync/ship.h) on every
 * agent: its timer, its sends, the acknowledgements.
 *
 * The engine asks for at most one batch per stream at a time and lets the
 * next one grow while the driver is busy, so the driver answers late on
 * purpose: sends are queued and carried out by the work callback at the end
 * of the loop turn (after the turn's records were written), which makes a
 * script printing without pause cost one batch per turn and stream, not one
 * per line. A batch is read back from LOGLOCAL (the bytes as stored, never
 * decoded here) up to TSC__LOGS_BATCH_BYTES; fewer records than asked are
 * reported with EV_SENT and the rest goes in the next one.
 *
 * Transport: batches with records go to the coordinator's address as one
 * sealed stream frame (a connection each, net_uv.c); a probe or heartbeat
 * whose frame fits a datagram goes as one. A lost frame is the engine's
 * business (go-back-N after retry_us). When too many outgoing connections
 * are open, or MAX_INFLIGHT to the coordinator, the queue waits for a few
 * milliseconds rather than fail.
 *
 * A record missing from the store (a failed write, or the TSC_TEST_LOG_DROP
 * hook) is left out: a batch ends before it, the next one starts after it,
 * and the coordinator reports the gap.
 *
 * Retention: LOGLOCAL keeps the records of the newest KEEP_RUNS streams.
 * An older stream goes once it is finished (closed, and its DONE
 * acknowledged by the current coordinator): its records are deleted a
 * chunk per turn, then the engine forgets it (EV_FORGET). A coordinator
 * elected later cannot get those runs' records again; that is the price of
 * a bounded store and a bounded engine (max_streams). */
#include <string.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "agent/logs.h"
#include "common/alloc.h"

#define ROOM_WAIT_MS 5
/* Batch connections open to the coordinator at once. Each batch is a
 * connection (net_uv.c), and batches are cut per loop turn, so a window of
 * 8192 records could be a hundred small connections; eight agents
 * flooding went past the coordinator's 128 and it dropped some (measured:
 * 57 in one run), each a go-back-N second later. Waiting for room lets
 * the next batch grow instead. (bench/logs_e2e.sh, 5 runs each: 2 gave
 * 292-306k records/s, 4 gave 287-308k, 8 gave 242-298k.) */
#define MAX_INFLIGHT 2
/* Batches with records built per loop turn: the loop also carries the
 * failure detector and the election heartbeats (tens of ms), so a stream
 * that has a window to fill gets it over several turns. */
#define SENDS_PER_TURN 2
#define KEEP_RUNS      32   /* streams whose records stay in LOGLOCAL at least */
#define DELETE_CHUNK   4096 /* records deleted per turn */

static void on_ship_timer(uv_timer_t *t);

static void arm(struct tsc_agent *a, uint64_t deadline)
{
    struct tsc__logs *l = &a->logs;
    uint64_t now = tsc__agent_now(), ms;
    if (!l->handles || a->stopping)
        return;
    if (deadline == TSC_TIME_NEVER) {
        uv_timer_stop(&l->ship_timer);
        return;
    }
    ms = deadline <= now ? 0 : (deadline - now + 999) / 1000;
    uv_update_time(&a->loop);
    uv_timer_start(&l->ship_timer, on_ship_timer, ms, 0);
}

int tsc__logship_ensure(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    struct tsc_logship_config cfg;
    char errmsg[TSC_ERRMSG_SIZE];
    if (l->ship != NULL)
        return 0;
    tsc_logship_config_default(&cfg);
    cfg.node = a->self_id;
    /* Smaller than the engine's defaults: the coordinator takes a batch in
     * one step of its loop, which must stay short (see SENDS_PER_TURN). */
    cfg.batch_records = 1024;
    cfg.window = 8192;
    int rc = tsc_logship_new(&l->ship, &cfg, errmsg);
    if (rc != 0) {
        tsc_logf(TSC_LOG_ERROR, "logs: %s", errmsg);
        return rc;
    }
    if (l->sink != 0) {
        struct tsc_logship_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = TSC_LOGSHIP_EV_SINK;
        ev.sink = l->sink;
        ev.epoch = l->epoch;
        tsc__logship_step(a, &ev);
    }
    return 0;
}

static int queue_send(struct tsc__logs *l, const struct tsc_logship_send *s)
{
    if (l->n_sends == l->cap_sends) {
        size_t cap = l->cap_sends ? l->cap_sends * 2 : 8;
        struct tsc_logship_send *n = tsc_realloc(l->sends, cap * sizeof *n);
        if (n == NULL)
            return TSC_ENOMEM;
        l->sends = n;
        l->cap_sends = cap;
    }
    l->sends[l->n_sends++] = *s;
    return 0;
}

void tsc__logship_step(struct tsc_agent *a, struct tsc_logship_event *ev)
{
    struct tsc__logs *l = &a->logs;
    struct tsc_logship_update up;
    if (tsc__logship_ensure(a) != 0)
        return;
    memset(&up, 0, sizeof up);
    ev->now = tsc__agent_now();
    int rc = tsc_logship_step(l->ship, ev, &up);
    if (rc != 0)
        tsc_logf(rc == TSC_EINVAL ? TSC_LOG_DEBUG : TSC_LOG_WARN, "logs: ship step (event %d): %s",
                 ev->type, tsc_strerror(rc));
    if (up.lamport != 0 && ev->type == TSC_LOGSHIP_EV_ACK && ev->ack != NULL) {
        /* Keep the promise: later records here come after the sink's time. */
        struct tsc__logstream *x = tsc__logs_stream(a, ev->ack->run);
        if (x != NULL && up.lamport > x->lamport)
            x->lamport = up.lamport;
    }
    for (size_t i = 0; i < up.n_sends; i++) {
        if (queue_send(l, &up.sends[i]) != 0) {
            /* Unanswered, the engine retries after retry_us. */
            tsc_logf(TSC_LOG_WARN, "logs: out of memory queueing a batch");
            break;
        }
    }
    if (l->n_sends > 0)
        tsc__logs_kick(a);
    arm(a, up.next_deadline);
}

void tsc__logship_sink(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    struct tsc_logship_event ev;
    uint64_t term = 0;
    uint64_t coord = tsc__coord_view(a, &term, NULL);
    if (coord == l->sink && term == l->epoch)
        return;
    l->sink = coord;
    l->epoch = term;
    if (l->ship == NULL)
        return; /* told when it is created */
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_LOGSHIP_EV_SINK;
    ev.sink = coord;
    ev.epoch = term;
    tsc__logship_step(a, &ev);
}

/* ---- retention ------------------------------------------------------------- */

struct del_ctx {
    uint64_t run;
    uint8_t (*keys)[TSC__LOGS_KEY];
    size_t n;
};

static int take_key(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct del_ctx *d = ctx;
    (void)val;
    (void)vlen;
    if (klen != TSC__LOGS_KEY || tsc_store_get_be64(key) != d->run || d->n >= DELETE_CHUNK)
        return 1;
    memcpy(d->keys[d->n++], key, TSC__LOGS_KEY);
    return 0;
}

/* Delete a chunk of the oldest finished stream beyond KEEP_RUNS; 1 when
 * there is more to do. */
static int retention(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    struct tsc__logstream *old = NULL, **pp, **old_pp = NULL;
    struct tsc_logship_stream st;
    char errmsg[TSC_ERRMSG_SIZE];
    if (l->n_streams <= KEEP_RUNS || l->ship == NULL)
        return 0;
    for (pp = &l->streams; *pp != NULL; pp = &(*pp)->next) {
        struct tsc__logstream *x = *pp;
        if (x->closed && tsc_logship_stream(l->ship, x->run, &st) == 0 && st.finished &&
            (old == NULL || x->run < old->run)) {
            old = x;
            old_pp = pp;
        }
    }
    if (old == NULL)
        return 0;
    struct del_ctx d = {old->run, NULL, 0};
    uint8_t start[TSC__LOGS_KEY];
    d.keys = tsc_malloc(DELETE_CHUNK * sizeof *d.keys);
    if (d.keys == NULL)
        return 1;
    tsc_store_put_be64(start, old->run);
    memset(start + 8, 0, 8);
    int rc = a->store.scan_from(&a->store, TSC_STORE_LOGLOCAL, start, sizeof start, take_key, &d,
                                errmsg);
    struct tsc_store_op *ops = rc == 0 && d.n > 0 ? tsc_calloc(d.n, sizeof *ops) : NULL;
    if (ops != NULL) {
        for (size_t i = 0; i < d.n; i++) {
            ops[i].space = TSC_STORE_LOGLOCAL;
            ops[i].del = 1;
            ops[i].key = d.keys[i];
            ops[i].klen = TSC__LOGS_KEY;
        }
        rc = a->store.write(&a->store, ops, d.n, 0, errmsg);
    }
    tsc_free(ops);
    tsc_free(d.keys);
    if (rc != 0) {
        a->c.store_errors++;
        return 0; /* tried again on the next acknowledgement */
    }
    if (d.n == DELETE_CHUNK)
        return 1;
    /* All gone (the closed marker too): forget the stream. */
    struct tsc_logship_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_LOGSHIP_EV_FORGET;
    ev.run = old->run;
    *old_pp = old->next;
    l->n_streams--;
    tsc_vclock_free(&old->clock);
    tsc_free(old);
    tsc__logship_step(a, &ev);
    return l->n_streams > KEEP_RUNS;
}

static void on_ship_timer(uv_timer_t *t)
{
    struct tsc_agent *a = t->data;
    struct tsc_logship_event ev;
    if (a->stopping || a->logs.ship == NULL)
        return;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_LOGSHIP_EV_TICK;
    tsc__logship_step(a, &ev);
    if (a->logs.n_sends > 0)
        tsc__logs_kick(a);
    if (retention(a) && a->logs.handles && !a->stopping) {
        uv_update_time(&a->loop);
        uv_timer_start(&a->logs.ship_timer, on_ship_timer, 1, 0);
    }
}

/* ---- reading a batch back from the store ------------------------------------ */

struct reader {
    struct tsc__logs *l;
    uint64_t run, next, last; /* next: the seq expected */
    uint64_t first;           /* seq of the first record taken (0: none yet) */
    size_t n, bytes;
    size_t *offs, *lens, cap;
    int oom;
};

static int take(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct reader *r = ctx;
    struct tsc__logs *l = r->l;
    if (klen != TSC__LOGS_KEY || tsc_store_get_be64(key) != r->run)
        return 1;
    uint64_t seq = tsc_store_get_be64(key + 8);
    if (seq > r->last)
        return 1;
    if (r->first != 0 && seq != r->next)
        return 1; /* a hole: the batch ends before it */
    if (l->drop_seq != 0 && seq == l->drop_seq && (l->drop_run == 0 || r->run == l->drop_run)) {
        if (r->first != 0)
            return 1;
        r->next = seq + 1; /* left out on purpose (test hook) */
        return 0;
    }
    if (r->n > 0 && (r->bytes + vlen > TSC__LOGS_BATCH_BYTES || r->n >= TSC_LOGBATCH_MAX_RECORDS))
        return 1;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        size_t *o = tsc_realloc(r->offs, cap * sizeof *o);
        if (o != NULL)
            r->offs = o;
        size_t *n = o ? tsc_realloc(r->lens, cap * sizeof *n) : NULL;
        if (n == NULL) {
            r->oom = 1;
            return 1;
        }
        r->lens = n;
        r->cap = cap;
    }
    r->offs[r->n] = l->scratch.len;
    r->lens[r->n] = vlen;
    if (tsc_buf_append(&l->scratch, val, vlen) != 0) {
        r->oom = 1;
        return 1;
    }
    if (r->first == 0)
        r->first = seq;
    r->n++;
    r->bytes += vlen;
    r->next = seq + 1;
    return 0;
}

/* The promise survives a restart (logs.c restores it): before a batch or
 * heartbeat says "later records of run have a Lamport time above P", P is
 * in LOGLOCAL [run][TSC__LOGS_PROMISE_SEQ] (the WAL, not fsynced, like the records).
 * A restarted agent that forgot P could make a record at or below it,
 * which the merge would have to report as late. */
static int promise_store(struct tsc_agent *a, uint64_t run, uint64_t promise)
{
    uint8_t key[TSC__LOGS_KEY], val[8];
    char errmsg[TSC_ERRMSG_SIZE];
    tsc_store_put_be64(key, run);
    tsc_store_put_be64(key + 8, TSC__LOGS_PROMISE_SEQ);
    tsc_store_put_be64(val, promise);
    if (a->store.put(&a->store, TSC_STORE_LOGLOCAL, key, sizeof key, val, sizeof val, 0, errmsg) !=
        0) {
        a->c.store_errors++;
        return TSC_ESTORE;
    }
    return 0;
}

/* Build the sealed LOG_BATCH of s into *frame. *last gets the seq of the
 * last record in it (s->first - 1 when none). 0 or a TSC_E*. */
static int build(struct tsc_agent *a, const struct tsc_logship_send *s, struct tsc_buf *frame,
                 uint64_t *last)
{
    struct tsc__logs *l = &a->logs;
    struct reader r;
    struct tsc_logbatch b;
    uint8_t key[TSC__LOGS_KEY];
    char errmsg[TSC_ERRMSG_SIZE];
    const uint8_t **enc = NULL;
    int rc = 0;
    memset(&r, 0, sizeof r);
    r.l = l;
    r.run = s->run;
    r.next = s->first;
    r.last = s->last;
    *last = s->first - 1;
    tsc_buf_reset(&l->scratch);
    if (s->last >= s->first) {
        tsc_store_put_be64(key, s->run);
        tsc_store_put_be64(key + 8, s->first);
        rc = a->store.scan_from(&a->store, TSC_STORE_LOGLOCAL, key, sizeof key, take, &r, errmsg);
        if (rc == 0 && r.oom)
            rc = TSC_ENOMEM;
    }
    if (rc == 0 && r.n > 0 && (enc = tsc_calloc(r.n, sizeof *enc)) == NULL)
        rc = TSC_ENOMEM;
    if (rc == 0) {
        struct tsc__logstream *x = tsc__logs_stream(a, s->run);
        for (size_t i = 0; i < r.n; i++)
            enc[i] = l->scratch.data + r.offs[i];
        tsc_logbatch_init(&b);
        b.run = s->run;
        b.node = a->self_id;
        b.epoch = s->epoch;
        b.first = r.n > 0 ? r.first : s->first;
        if (r.n > 0)
            *last = r.first + r.n - 1;
        else if (s->last >= s->first)
            *last = r.next - 1 < s->last ? r.next - 1 : s->last; /* skipped over */
        b.promise = x != NULL ? x->lamport : 0;
        if (b.promise > 0)
            rc = promise_store(a, s->run, b.promise);
        if (x != NULL)
            b.watermark = x->clock; /* borrowed: not freed below */
        b.done = s->done && *last == s->last;
        tsc_buf_reset(&l->batch);
        if (rc == 0)
            rc = tsc_logbatch_encode(&b, enc, r.lens, r.n, &l->batch);
        if (rc == 0)
            rc = tsc__agent_seal(a, TSC_MSG_LOG_BATCH, l->batch.data, l->batch.len, frame);
        l->c.shipped += rc == 0 ? r.n : 0;
    }
    tsc_free(enc);
    tsc_free(r.offs);
    tsc_free(r.lens);
    return rc;
}

/* Carry out one queued send: 0 done (answered), 1 not now (no room), 2
 * done and it had records (counts against the turn's budget). */
static int carry_out(struct tsc_agent *a, const struct tsc_logship_send *s)
{
    struct tsc__logs *l = &a->logs;
    struct tsc_logship_event ev;
    struct tsc_addr to;
    struct tsc_buf frame;
    uint64_t last = s->first - 1;
    int rc = 0;
    memset(&ev, 0, sizeof ev);
    ev.run = s->run;
    ev.type = TSC_LOGSHIP_EV_SENT;
    if (s->sink != l->sink || s->epoch != l->epoch) {
        /* For a sink that is gone: answer, so the engine probes the new one. */
        ev.seq = s->last;
        tsc__logship_step(a, &ev);
        return 0;
    }
    int has_records = s->last >= s->first;
    if (tsc__runs_member(a, s->sink, &to, NULL) != 0)
        rc = TSC_ENOTFOUND;
    if (has_records && rc == 0 && !tsc__net_stream_room(a, &to, MAX_INFLIGHT))
        return 1;
    tsc_buf_init(&frame);
    if (rc == 0)
        rc = build(a, s, &frame, &last);
    if (rc == 0 && frame.len <= TSC_WIRE_MAX_DATAGRAM && last < s->first)
        tsc__net_send_datagram(a, &to, frame.data, frame.len);
    else if (rc == 0 && tsc__net_stream_room(a, NULL, 0))
        tsc__net_send_stream(a, &to, frame.data, frame.len);
    else if (rc == 0)
        rc = TSC_EFULL;
    tsc_buf_free(&frame);
    if (rc != 0) {
        tsc_logf(TSC_LOG_DEBUG, "logs: batch of run %llu not sent: %s", (unsigned long long)s->run,
                 tsc_strerror(rc));
        ev.type = TSC_LOGSHIP_EV_FAILED;
    } else {
        ev.seq = last;
    }
    tsc__logship_step(a, &ev);
    return has_records ? 2 : 0;
}

int tsc__logship_flush(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    size_t i = 0;
    int budget = SENDS_PER_TURN, full = 0;
    /* Answers queue the next batches behind; what the budget leaves waits
     * for the next turn (the work callback comes again at once). */
    while (i < l->n_sends && !a->stopping) {
        struct tsc_logship_send s = l->sends[i];
        if (budget == 0 && s.last >= s.first) {
            full = 1;
            break;
        }
        int rc = carry_out(a, &s);
        if (rc == 1)
            break;
        if (rc == 2)
            budget--;
        i++;
    }
    if (i > 0) {
        memmove(l->sends, l->sends + i, (l->n_sends - i) * sizeof *l->sends);
        l->n_sends -= i;
    }
    if (full)
        tsc__logs_kick(a);
    else if (l->n_sends > 0 && l->handles && !a->stopping) {
        uv_update_time(&a->loop);
        uv_timer_start(&l->ship_timer, on_ship_timer, ROOM_WAIT_MS, 0);
    }
    if (l->scratch.cap > (2u << 20))
        tsc_buf_free(&l->scratch);
    if (l->batch.cap > (2u << 20))
        tsc_buf_free(&l->batch);
    if (l->n_sends == 0 && l->cap_sends > 64) {
        tsc_free(l->sends);
        l->sends = NULL;
        l->cap_sends = 0;
    }
    return l->n_sends > 0;
}

void tsc__logship_on_ack(struct tsc_agent *a, const struct tsc_envelope *env)
{
    struct tsc_logack ack;
    struct tsc_logship_event ev;
    if (tsc_logack_decode(env->body, env->body_len, &ack) != 0) {
        a->logs.c.malformed++;
        return;
    }
    if (a->logs.ship == NULL)
        return;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_LOGSHIP_EV_ACK;
    ev.ack = &ack;
    ev.sink = env->sender; /* the engine takes it from its sink only */
    tsc__logship_step(a, &ev);
    if (retention(a) && a->logs.handles && !a->stopping) {
        uv_update_time(&a->loop);
        uv_timer_start(&a->logs.ship_timer, on_ship_timer, 1, 0);
    }
}

void tsc__logship_free(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    tsc_logship_free(l->ship);
    l->ship = NULL;
    tsc_free(l->sends);
    l->sends = NULL;
    l->n_sends = l->cap_sends = 0;
    tsc_buf_free(&l->batch);
}
