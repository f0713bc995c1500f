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
 * synced RocksDB batch (group commit; in chunks of WRITE_CHUNK operations
 * or WRITE_BYTES, one per turn, when a run's end released very many), then
 * steps EV_DURABLE for the tokens it covers; only the acknowledgements of
 * those steps say that the records are safe. A failed write is retried (the
 * tokens wait; nothing is acknowledged). Readers never look past the
 * merged count of the rows, so records written without their rows (a crash
 * between chunks, or the end of acting) stay unseen; they are deleted when
 * the engine is next created (drop_unmerged), before a block written at a
 * nearby index could overlap them.
 *
 * Store layout (logs.h, design): LOGS [run][first index] -> a block of up
 * to TSC_STORE_LOGS_BLOCK tsc_logrec encodings of consecutive indices of one
 * update, concatenated (one put per block: a put per record cost more than
 * the merge); LOGMETA [run]['r'][node] -> [delivered, last_lamport,
 * last_wall, next_index, n_errors, done, finished, hole_lo, hole_hi] (the
 * lowest gap the merge skipped: the sink acknowledges below it; a 7-field
 * row from before holes were kept reads as no hole); LOGMETA [run]['e'][n]
 * -> error. */
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
#define WRITE_CHUNK    4096        /* store operations per loop turn */
#define WRITE_BYTES    (4u << 20)  /* and bytes (a LOGS block holds up to 256 records) */
#define BLOCK_BYTES    (64u << 10) /* a LOGS block is cut once it holds this much */

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
    /* Per run (in key order): the next index its rows name. */
    uint64_t *runs, *next;
    size_t n_runs, cap_runs;
    int oom;
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
    if (c->n_runs == 0 || c->runs[c->n_runs - 1] != row.run) {
        if (c->n_runs == c->cap_runs) {
            size_t cap = c->cap_runs ? c->cap_runs * 2 : 64;
            uint64_t *r = tsc_realloc(c->runs, cap * sizeof *r);
            if (r != NULL)
                c->runs = r;
            uint64_t *x = r != NULL ? tsc_realloc(c->next, cap * sizeof *x) : NULL;
            if (x == NULL) {
                c->oom = 1;
                return 1;
            }
            c->next = x;
            c->cap_runs = cap;
        }
        c->runs[c->n_runs] = row.run;
        c->next[c->n_runs++] = 1;
    }
    if (row.next_index > c->next[c->n_runs - 1])
        c->next[c->n_runs - 1] = row.next_index;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_LOGSINK_EV_RESTORE;
    ev.row = &row;
    sink_step(c->a, &ev);
    c->n++;
    return 0;
}

static uint64_t restored_next(const struct restore_ctx *c, uint64_t run)
{
    size_t lo = 0, hi = c->n_runs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->runs[mid] < run)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->n_runs && c->runs[lo] == run ? c->next[lo] : 1;
}

struct first_ctx {
    int found;
    uint8_t key[16];
};

static int first_key(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct first_ctx *f = ctx;
    (void)val;
    (void)vlen;
    if (klen != 16)
        return 0; /* not ours: skip */
    memcpy(f->key, key, 16);
    f->found = 1;
    return 1;
}

/* LOGS blocks at or above a run's stored next index are a write that a
 * crash (or the end of acting) cut short between chunks: readers never
 * show them, but a block written later at a nearby index would overlap
 * one, so they go before the sink writes again. One seek per run and per
 * such block. 0 or TSC_ESTORE. */
static int drop_unmerged(struct tsc_agent *a, const struct restore_ctx *c, size_t *dropped,
                         char *errmsg)
{
    uint8_t start[16], keys[64][16];
    struct tsc_store_op ops[64];
    size_t n = 0;
    int rc = 0;
    memset(start, 0, sizeof start);
    *dropped = 0;
    for (;;) {
        struct first_ctx f = {0, {0}};
        rc = a->store.scan_from(&a->store, TSC_STORE_LOGS, start, sizeof start, first_key, &f,
                                errmsg);
        if (rc != 0 || !f.found)
            break;
        uint64_t run = tsc_store_get_be64(f.key), index = tsc_store_get_be64(f.key + 8);
        uint64_t next = restored_next(c, run);
        if (index < next) {
            tsc_store_put_be64(start, run);
            tsc_store_put_be64(start + 8, next);
            continue;
        }
        memcpy(keys[n], f.key, 16);
        ops[n] =
            (struct tsc_store_op){.space = TSC_STORE_LOGS, .del = 1, .key = keys[n], .klen = 16};
        if (++n == sizeof ops / sizeof ops[0]) {
            if ((rc = a->store.write(&a->store, ops, n, 1, errmsg)) != 0)
                return rc;
            *dropped += n;
            n = 0;
        }
        if (index == UINT64_MAX && run == UINT64_MAX)
            break;
        tsc_store_put_be64(start, index == UINT64_MAX ? run + 1 : run);
        tsc_store_put_be64(start + 8, index == UINT64_MAX ? 0 : index + 1);
    }
    if (rc == 0 && n > 0 && (rc = a->store.write(&a->store, ops, n, 1, errmsg)) == 0)
        *dropped += n;
    return rc;
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
    struct restore_ctx c;
    size_t dropped = 0;
    memset(&c, 0, sizeof c);
    c.a = a;
    rc = a->store.scan(&a->store, TSC_STORE_LOGMETA, restore_row, &c, errmsg);
    if (rc == 0 && c.oom) {
        tsc_errmsg_setf(errmsg, "out of memory");
        rc = TSC_ENOMEM;
    }
    if (rc == 0)
        rc = drop_unmerged(a, &c, &dropped, errmsg);
    tsc_free(c.runs);
    tsc_free(c.next);
    if (rc != 0) {
        /* Without its table the sink would acknowledge from 0 and store
         * records twice: refuse batches until the store reads again. */
        tsc_logf(TSC_LOG_ERROR, "logs: sink: cannot read the log table: %s", errmsg);
        tsc_logsink_free(l->sk);
        l->sk = NULL;
        return rc;
    }
    if (dropped > 0)
        tsc_logf(TSC_LOG_INFO, "logs: sink: %zu unmerged log blocks dropped", dropped);
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

/* extra: bytes after the key (a LOGS block's record count, below). */
static int add_op(struct tsc__logs *l, const uint8_t *key, size_t klen, size_t voff,
                  const uint8_t *extra, size_t elen)
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
    if (tsc_buf_append(&l->sink_buf, key, klen) != 0 ||
        (elen > 0 && tsc_buf_append(&l->sink_buf, extra, elen) != 0))
        return TSC_ENOMEM;
    struct tsc__logsinkop *o = &l->sops[l->n_sops++];
    o->koff = koff;
    o->klen = klen;
    o->voff = voff;
    o->vlen = koff - voff;
    return 0;
}

/* Records in the LOGS block of op o: kept in sink_buf right after its key
 * (the op table has no room for it), for the `merged` counter. */
static uint32_t block_count(const struct tsc__logs *l, const struct tsc__logsinkop *o)
{
    const uint8_t *p = l->sink_buf.data + o->koff + o->klen;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The update's merged records as LOGS blocks: runs of consecutive indices
 * of one run, at most TSC_STORE_LOGS_BLOCK records or about
 * BLOCK_BYTES each, under the key of the first. */
static int encode_blocks(struct tsc__logs *l, const struct tsc_logsink_update *up)
{
    uint8_t key[16], cnt[4];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < up->n_writes;) {
        const struct tsc_logsink_write *w = &up->writes[i];
        size_t voff = l->sink_buf.len, n = 0;
        do {
            rc = tsc_logrec_encode(w[n].rec, &l->sink_buf);
            n++;
        } while (rc == 0 && i + n < up->n_writes && n < TSC_STORE_LOGS_BLOCK &&
                 l->sink_buf.len - voff < BLOCK_BYTES && w[n].run == w->run &&
                 w[n].index == w->index + n);
        if (rc != 0)
            break;
        tsc_store_put_be64(key, w->run);
        tsc_store_put_be64(key + 8, w->index);
        cnt[0] = (uint8_t)(n >> 24);
        cnt[1] = (uint8_t)(n >> 16);
        cnt[2] = (uint8_t)(n >> 8);
        cnt[3] = (uint8_t)n;
        rc = add_op(l, key, 16, voff, cnt, sizeof cnt);
        i += n;
    }
    return rc;
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
    int rc = encode_blocks(l, up);
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
            rc = add_op(l, key, ROW_KEY, voff, NULL, 0);
    }
    for (size_t i = 0; rc == 0 && i < up->n_rows; i++) {
        size_t voff = l->sink_buf.len;
        tsc_store_put_be64(key, up->rows[i].run);
        key[8] = 'r';
        tsc_store_put_be64(key + 9, up->rows[i].node);
        rc = row_encode(&up->rows[i], &l->sink_buf);
        if (rc == 0)
            rc = add_op(l, key, ROW_KEY, voff, NULL, 0);
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
    size_t from = l->sops_written, to = from, bytes = 0;
    while (to < l->n_sops && to - from < WRITE_CHUNK && (to == from || bytes < WRITE_BYTES)) {
        bytes += l->sops[to].vlen;
        to++;
    }
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
        if (l->sops[i].klen == 16)
            l->c.merged += block_count(l, &l->sops[i]);
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
