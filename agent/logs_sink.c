/* tsc — the driver of the log sink engine (logsync/sink.h) on the acting
 * coordinator: batches in, merged records into the store, acknowledgements
 * out.
 *
 * Only the acting coordinator takes batches (the agents' shipping engines
 * follow the coordinator and its term); an agent that stops acting drops
 * its engine, and one that starts acting creates it on the first batch,
 * restoring the table from LOGMETA first, so memory is spent only while it
 * coordinates.
 *
 * Durability. Every step's write (merged records, errors, changed rows) is
 * encoded into sink_buf at once (the engine's records are only borrowed
 * until its next step), and the work callback writes what is pending at
 * the end of the loop turn, however many batches arrived in it, as one
 * synced RocksDB batch (in chunks of WRITE_CHUNK operations, one per turn,
 * when a run's end released very many), then steps EV_DURABLE for the
 * tokens it covers; only the acknowledgements of those steps say that the
 * records are safe. A failed write is retried (the tokens wait; nothing is
 * acknowledged). Readers never look past the merged count of the rows, so
 * records written without their rows (a crash between chunks) stay unseen
 * and are overwritten when merged again.
 *
 * Store layout (logs.h, design): LOGS [run][index] -> tsc_logrec encoding;
 * LOGMETA [run]['r'][node] -> [delivered, last_lamport, last_wall,
 * next_index, n_errors, done, finished, hole_lo, hole_hi] (the lowest gap
 * the merge skipped: the sink acknowledges below it; a 7-field row from
 * before holes were kept reads as no hole); LOGMETA [run]['e'][n] -> error. */
#include <string.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "agent/logs.h"
#include "common/alloc.h"
#include "wire/mp.h"

#define ROW_KEY        17
#define ROW_FIELDS     9
#define ROW_FIELDS_OLD 7
#define RETRY_WRITE_MS 100
#define WRITE_CHUNK    4096 /* store operations per loop turn */

static void on_sink_timer(uv_timer_t *t);
static void handle(struct tsc_agent *a, const struct tsc_logsink_update *up);

static int row_encode(const struct tsc_logsink_row *row, struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    tsc_mp_writer_init(&w, out);
    msgpack_pack_array(&w.pk, ROW_FIELDS);
    msgpack_pack_uint64(&w.pk, row->delivered);
    msgpack_pack_uint64(&w.pk, row->last_lamport);
    msgpack_pack_uint64(&w.pk, row->last_wall);
    msgpack_pack_uint64(&w.pk, row->next_index);
    msgpack_pack_uint64(&w.pk, row->n_errors);
    if (row->done)
        msgpack_pack_true(&w.pk);
    else
        msgpack_pack_false(&w.pk);
    if (row->finished)
        msgpack_pack_true(&w.pk);
    else
        msgpack_pack_false(&w.pk);
    msgpack_pack_uint64(&w.pk, row->hole_lo);
    msgpack_pack_uint64(&w.pk, row->hole_hi);
    return tsc_mp_writer_status(&w);
}

int tsc__logsink_row_decode(const uint8_t *p, size_t len, struct tsc_logsink_row *row)
{
    struct tsc_mp_reader r;
    uint32_t n;
    tsc_mp_reader_init(&r, p, len);
    row->hole_lo = row->hole_hi = 0;
    if (tsc_mp_read_array(&r, &n) != 0 || (n != ROW_FIELDS && n != ROW_FIELDS_OLD) ||
        tsc_mp_read_uint(&r, &row->delivered) != 0 ||
        tsc_mp_read_uint(&r, &row->last_lamport) != 0 ||
        tsc_mp_read_uint(&r, &row->last_wall) != 0 || tsc_mp_read_uint(&r, &row->next_index) != 0 ||
        tsc_mp_read_uint(&r, &row->n_errors) != 0 || tsc_mp_read_bool(&r, &row->done) != 0 ||
        tsc_mp_read_bool(&r, &row->finished) != 0 ||
        (n == ROW_FIELDS &&
         (tsc_mp_read_uint(&r, &row->hole_lo) != 0 || tsc_mp_read_uint(&r, &row->hole_hi) != 0)) ||
        tsc_mp_remaining(&r) != 0)
        return TSC_EMALFORMED;
    return 0;
}

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

static void sink_step(struct tsc_agent *a, struct tsc_logsink_event *ev)
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

struct restore_ctx {
    struct tsc_agent *a;
    size_t n;
};

static int restore_row(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct restore_ctx *c = ctx;
    struct tsc_logsink_row row;
    struct tsc_logsink_event ev;
    if (klen != ROW_KEY || key[8] != 'r')
        return 0;
    memset(&row, 0, sizeof row);
    if (tsc__logsink_row_decode(val, vlen, &row) != 0)
        return 0;
    row.run = tsc_store_get_be64(key);
    row.node = tsc_store_get_be64(key + 9);
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_LOGSINK_EV_RESTORE;
    ev.row = &row;
    sink_step(c->a, &ev);
    c->n++;
    return 0;
}

/* The engine, created (and restored from LOGMETA) on first use. */
static int ensure(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    struct tsc_logsink_config cfg;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    if (l->sk != NULL)
        return 0;
    tsc_logsink_config_default(&cfg);
    /* A run that ends releases everything buffered in one step, which the
     * loop then encodes and stores: keep that bounded (the merge releases
     * its smallest record early instead, see merge.h). */
    cfg.merge.max_records = 16384;
    cfg.merge.max_bytes = 16u << 20;
    int rc = tsc_logsink_new(&l->sk, &cfg, errmsg);
    if (rc != 0) {
        tsc_logf(TSC_LOG_ERROR, "logs: sink: %s", errmsg);
        return rc;
    }
    struct restore_ctx c = {a, 0};
    rc = a->store.scan(&a->store, TSC_STORE_LOGMETA, restore_row, &c, errmsg);
    if (rc != 0) {
        /* Without its table the sink would acknowledge from 0 and store
         * records twice: refuse batches until the store reads again. */
        tsc_logf(TSC_LOG_ERROR, "logs: sink: cannot read the log table: %s", errmsg);
        tsc_logsink_free(l->sk);
        l->sk = NULL;
        return rc;
    }
    l->n_told = 0;
    tsc_logf(TSC_LOG_INFO, "logs: merging as the coordinator (%zu stored rows)", c.n);
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
                sink_step(a, &ev);
                tsc_free(ids);
                /* Stored but no longer queued or running: it ended before
                 * this agent took over, so no RUN_END will come. */
                if (recs != NULL) {
                    memset(&ev, 0, sizeof ev);
                    ev.type = TSC_LOGSINK_EV_RUN_END;
                    ev.run = run;
                    sink_step(a, &ev);
                }
            }
        }
        tsc_runlog_free(&rec);
    }
    tsc_free(recs);
    tsc_buf_free(&hold);
}

/* ---- the update ------------------------------------------------------------------ */

static int add_op(struct tsc__logs *l, const uint8_t *key, size_t klen, size_t voff)
{
    if (l->n_sops == l->cap_sops) {
        size_t cap = l->cap_sops ? l->cap_sops * 2 : 256;
        struct tsc__logsinkop *n = tsc_realloc(l->sops, cap * sizeof *n);
        if (n == NULL)
            return TSC_ENOMEM;
        l->sops = n;
        l->cap_sops = cap;
    }
    /* The key goes after the value in sink_buf. */
    size_t koff = l->sink_buf.len;
    if (tsc_buf_append(&l->sink_buf, key, klen) != 0)
        return TSC_ENOMEM;
    struct tsc__logsinkop *o = &l->sops[l->n_sops++];
    o->koff = koff;
    o->klen = klen;
    o->voff = voff;
    o->vlen = koff - voff;
    return 0;
}

/* Error numbers: the run's count after this step less those still to
 * come in this update, from 1 (sink.h). */
static uint64_t error_number(struct tsc_agent *a, const struct tsc_logsink_update *up, size_t i)
{
    struct tsc_logsink_run info;
    uint64_t run = up->errors[i].run, later = 0;
    for (size_t j = i + 1; j < up->n_errors; j++)
        later += up->errors[j].run == run;
    if (tsc_logsink_run(a->logs.sk, run, &info) != 0 || info.errors <= later)
        return 0;
    return info.errors - later;
}

static int encode_write(struct tsc_agent *a, const struct tsc_logsink_update *up)
{
    struct tsc__logs *l = &a->logs;
    uint8_t key[ROW_KEY];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < up->n_writes; i++) {
        size_t voff = l->sink_buf.len;
        tsc_store_put_be64(key, up->writes[i].run);
        tsc_store_put_be64(key + 8, up->writes[i].index);
        rc = tsc_logrec_encode(up->writes[i].rec, &l->sink_buf);
        if (rc == 0)
            rc = add_op(l, key, 16, voff);
    }
    for (size_t i = 0; rc == 0 && i < up->n_errors; i++) {
        uint64_t n = error_number(a, up, i);
        if (n == 0)
            continue;
        size_t voff = l->sink_buf.len;
        tsc_store_put_be64(key, up->errors[i].run);
        key[8] = 'e';
        tsc_store_put_be64(key + 9, n);
        rc = tsc_logmerge_error_encode(&up->errors[i], &l->sink_buf);
        if (rc == 0)
            rc = add_op(l, key, ROW_KEY, voff);
    }
    for (size_t i = 0; rc == 0 && i < up->n_rows; i++) {
        size_t voff = l->sink_buf.len;
        tsc_store_put_be64(key, up->rows[i].run);
        key[8] = 'r';
        tsc_store_put_be64(key + 9, up->rows[i].node);
        rc = row_encode(&up->rows[i], &l->sink_buf);
        if (rc == 0)
            rc = add_op(l, key, ROW_KEY, voff);
    }
    return rc;
}

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
    struct tsc__logs *l = &a->logs;
    if (up->token != 0) {
        size_t buf_len = l->sink_buf.len, n_sops = l->n_sops;
        int rc = encode_write(a, up);
        if (rc == 0 && l->n_tokens == l->cap_tokens) {
            size_t cap = l->cap_tokens ? l->cap_tokens * 2 : 16;
            struct tsc__logtoken *n = tsc_realloc(l->tokens, cap * sizeof *n);
            if (n == NULL) {
                rc = TSC_ENOMEM;
            } else {
                l->tokens = n;
                l->cap_tokens = cap;
            }
        }
        if (rc == 0) {
            l->tokens[l->n_tokens].token = up->token;
            l->tokens[l->n_tokens++].end = l->n_sops;
        } else {
            /* The token never becomes durable: nothing of it is ever
             * acknowledged, the agents resend, the merge drops repeats. */
            l->sink_buf.len = buf_len;
            l->n_sops = n_sops;
            tsc_logf(TSC_LOG_ERROR, "logs: sink: cannot encode a write (%s); dropped",
                     tsc_strerror(rc));
        }
        tsc__logs_kick(a);
    }
    for (size_t i = 0; i < up->n_acks; i++)
        send_ack(a, &up->acks[i].ack);
    for (size_t i = 0; i < up->n_finished; i++)
        tsc_logf(TSC_LOG_INFO, "logs: run %llu: merged log complete",
                 (unsigned long long)up->finished[i]);
    arm(a, up->next_deadline);
}

int tsc__logsink_flush(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    if (l->n_tokens == 0 && l->n_sops == 0)
        return 0;
    /* At most WRITE_CHUNK operations per loop turn: a run's end can release
     * tens of thousands of records at once, and the loop must not stall
     * (election heartbeats). The WAL is synced when a chunk completes a
     * token, which makes the unsynced chunks before it durable too. */
    size_t from = l->sops_written, to = l->n_sops;
    if (to - from > WRITE_CHUNK)
        to = from + WRITE_CHUNK;
    int sync = to == l->n_sops || (l->n_tokens > 0 && l->tokens[0].end <= to);
    int rc = 0;
    if (to > from) {
        struct tsc_store_op *ops = tsc_calloc(to - from, sizeof *ops);
        if (ops == NULL) {
            rc = TSC_ENOMEM;
        } else {
            for (size_t i = from; i < to; i++) {
                struct tsc_store_op *o = &ops[i - from];
                o->space = l->sops[i].klen == 16 ? TSC_STORE_LOGS : TSC_STORE_LOGMETA;
                o->key = l->sink_buf.data + l->sops[i].koff;
                o->klen = l->sops[i].klen;
                o->val = l->sink_buf.data + l->sops[i].voff;
                o->vlen = l->sops[i].vlen;
            }
            rc = a->store.write(&a->store, ops, to - from, sync, errmsg);
            tsc_free(ops);
        }
    }
    if (rc != 0) {
        a->c.store_errors++;
        tsc_logf(TSC_LOG_ERROR, "logs: sink: write of %zu records failed (%s); retrying", to - from,
                 errmsg[0] ? errmsg : tsc_strerror(rc));
        if (l->handles && !a->stopping) {
            uv_update_time(&a->loop);
            uv_timer_start(&l->sink_timer, on_sink_timer, RETRY_WRITE_MS, 0);
        }
        return 1;
    }
    for (size_t i = from; i < to; i++)
        l->c.merged += l->sops[i].klen == 16;
    l->sops_written = to;
    /* The tokens whose operations are all synced now. */
    size_t n = 0;
    while (sync && n < l->n_tokens && l->tokens[n].end <= to)
        n++;
    uint64_t *done = n > 0 ? tsc_calloc(n, sizeof *done) : NULL;
    if (n > 0 && done == NULL)
        n = 0; /* acknowledged at the next flush */
    for (size_t i = 0; i < n; i++)
        done[i] = l->tokens[i].token;
    if (n > 0) {
        memmove(l->tokens, l->tokens + n, (l->n_tokens - n) * sizeof *l->tokens);
        l->n_tokens -= n;
    }
    if (l->sops_written == l->n_sops) {
        /* Everything is in the store: the buffer starts over (the steps
         * below may queue the next write). */
        l->n_sops = l->sops_written = 0;
        for (size_t i = 0; i < l->n_tokens; i++)
            l->tokens[i].end = 0;
        if (l->sink_buf.cap > (4u << 20))
            tsc_buf_free(&l->sink_buf);
        else
            tsc_buf_reset(&l->sink_buf);
        if (l->cap_sops > 65536) {
            tsc_free(l->sops);
            l->sops = NULL;
            l->cap_sops = 0;
        }
    }
    /* Durable now: the steps may acknowledge (and queue more writes). */
    for (size_t i = 0; i < n && l->sk != NULL; i++) {
        struct tsc_logsink_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = TSC_LOGSINK_EV_DURABLE;
        ev.token = done[i];
        sink_step(a, &ev);
    }
    tsc_free(done);
    int more = l->n_sops > l->sops_written || l->n_tokens > 0;
    if (more)
        tsc__logs_kick(a);
    return more;
}

static void on_sink_timer(uv_timer_t *t)
{
    struct tsc_agent *a = t->data;
    struct tsc_logsink_event ev;
    if (a->stopping)
        return;
    if (a->logs.n_tokens > 0)
        tsc__logs_kick(a);
    if (a->logs.sk == NULL)
        return;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_LOGSINK_EV_TICK;
    sink_step(a, &ev);
}

/* ---- events from the agent ----------------------------------------------------- */

void tsc__logsink_on_batch(struct tsc_agent *a, const struct tsc_envelope *env)
{
    struct tsc_logbatch b;
    struct tsc_logsink_event ev;
    tsc_logbatch_init(&b);
    if (tsc_logbatch_decode(env->body, env->body_len, &b) != 0 || b.node != env->sender) {
        a->logs.c.malformed++;
        tsc_logf(TSC_LOG_DEBUG, "logs: a malformed batch from %016llx was dropped",
                 (unsigned long long)env->sender);
        tsc_logbatch_free(&b);
        return;
    }
    /* Not the coordinator (any more): the sender follows the new one. */
    if (tsc__coord_acting(a) && ensure(a) == 0) {
        tell_nodes(a, b.run);
        memset(&ev, 0, sizeof ev);
        ev.type = TSC_LOGSINK_EV_BATCH;
        ev.batch = &b;
        sink_step(a, &ev);
    }
    tsc_logbatch_free(&b);
}

void tsc__logsink_run_end(struct tsc_agent *a, uint64_t run)
{
    struct tsc_logsink_event ev;
    if (!tsc__coord_acting(a) || ensure(a) != 0)
        return;
    tell_nodes(a, run);
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_LOGSINK_EV_RUN_END;
    ev.run = run;
    sink_step(a, &ev);
}

void tsc__logsink_on_acting(struct tsc_agent *a, int acting)
{
    struct tsc__logs *l = &a->logs;
    if (acting || l->sk == NULL)
        return;
    /* What is durable is kept; the rest is dropped unacknowledged, and the
     * next coordinator gets everything again. */
    tsc_logsink_free(l->sk);
    l->sk = NULL;
    l->n_tokens = 0;
    l->n_sops = l->sops_written = 0;
    tsc_buf_free(&l->sink_buf);
    if (l->handles)
        uv_timer_stop(&l->sink_timer);
    tsc_logf(TSC_LOG_INFO, "logs: no longer merging (not the coordinator)");
}

void tsc__logsink_free(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    if (l->sk != NULL)
        tsc_logsink_free(l->sk);
    l->sk = NULL;
    tsc_buf_free(&l->sink_buf);
    tsc_free(l->sops);
    l->sops = NULL;
    l->n_sops = l->cap_sops = l->sops_written = 0;
    tsc_free(l->tokens);
    l->tokens = NULL;
    l->n_tokens = l->cap_tokens = 0;
}
