/* tsc — the log sink's store (agent/logs.h): the table restored from
 * LOGMETA when an engine is created, and the engine's writes.
 *
 * Writes off the loop. Every sink step's merged records, errors and changed
 * rows are encoded at once into the `fill` write (the engine's records are
 * borrowed only until its next step). The work callback hands `fill` to the
 * libuv thread pool as ONE synced RocksDB write batch, however many steps it
 * holds (group commit), and the loop goes on merging into the other buffer
 * meanwhile: a synced write of megabytes takes tens of milliseconds, and the
 * same loop answers the election's heartbeats (timeouts 150-300 ms). One
 * write runs at a time, so rows are never overwritten by an older value.
 * When it returns, the loop steps EV_DURABLE for its tokens; only the
 * acknowledgements of those steps say that the records are safe. A failed
 * write is retried after RETRY_WRITE_MS with the same contents (its tokens
 * wait; nothing is acknowledged).
 *
 * An engine that goes away (the agent stops coordinating) forgets `fill`
 * unacknowledged; a write already running finishes but steps nothing, and
 * no new engine is restored until it has (its rows would otherwise land on
 * top of the restored table). Readers never look past the merged count of
 * the rows, so blocks written without their rows stay unseen; they are
 * deleted when the engine is next created (drop_unmerged), before a block
 * written at a nearby index could overlap them.
 *
 * Store layout (logs.h, design): LOGS [run][first index] -> a block of up
 * to TSC_STORE_LOGS_BLOCK tsc_logrec encodings of consecutive indices of one
 * update, concatenated (one put per block: a put per record cost more than
 * the merge); LOGMETA [run]['r'][node] -> [delivered, last_lamport,
 * last_wall, next_index, n_errors, done, finished, hole_lo, hole_hi] (the
 * lowest gap the merge skipped: the sink acknowledges below it; a 7-field
 * row from before holes were kept reads as no hole); LOGMETA [run]['e'][n]
 * -> error. */
#include <stdio.h>
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
#define BLOCK_BYTES    (64u << 10) /* a LOGS block is cut once it holds this much */
#define KEEP_BUF_BYTES (16u << 20) /* a write buffer larger than this is not kept */

struct tsc__logsinkjob {
    uv_work_t req;
    struct tsc_agent *a;
    struct tsc__logsinkwrite w;
    struct tsc_store_op *ops;
    size_t cap_ops;
    int running; /* on the thread pool */
    int failed;  /* waiting for write_timer */
    int orphan;  /* its engine is gone */
    int rc;
    char errmsg[TSC_ERRMSG_SIZE];
};

/* ---- rows ------------------------------------------------------------------------ */

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

/* ---- restore ----------------------------------------------------------------------- */

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
    tsc__logsink_step(c->a, &ev);
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
 * crash (or the end of acting) cut short: readers never show them, but a
 * block written later at a nearby index would overlap one, so they go
 * before the sink writes again. One seek per run and per such block. 0 or
 * TSC_ESTORE. */
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

int tsc__logsink_orphaned(const struct tsc_agent *a)
{
    const struct tsc__logsinkjob *j = a->logs.job;
    return j != NULL && j->running && j->orphan;
}

int tsc__logsink_restore(struct tsc_agent *a, size_t *rows, char *errmsg)
{
    struct restore_ctx c;
    size_t dropped = 0;
    *rows = 0;
    if (tsc__logsink_orphaned(a)) {
        tsc_errmsg_setf(errmsg, "the previous engine's write is still running");
        return TSC_ESTATE;
    }
    memset(&c, 0, sizeof c);
    c.a = a;
    int rc = a->store.scan(&a->store, TSC_STORE_LOGMETA, restore_row, &c, errmsg);
    if (rc == 0 && c.oom) {
        tsc_errmsg_setf(errmsg, "out of memory");
        rc = TSC_ENOMEM;
    }
    if (rc == 0)
        rc = drop_unmerged(a, &c, &dropped, errmsg);
    tsc_free(c.runs);
    tsc_free(c.next);
    if (rc == 0 && dropped > 0)
        tsc_logf(TSC_LOG_INFO, "logs: sink: %zu unmerged log blocks dropped", dropped);
    *rows = c.n;
    return rc;
}

/* ---- encoding an update ----------------------------------------------------------- */

/* extra: bytes after the key (a LOGS block's record count, below). */
static int add_op(struct tsc__logsinkwrite *w, const uint8_t *key, size_t klen, size_t voff,
                  const uint8_t *extra, size_t elen)
{
    if (w->n_sops == w->cap_sops) {
        size_t cap = w->cap_sops ? w->cap_sops * 2 : 256;
        struct tsc__logsinkop *n = tsc_realloc(w->sops, cap * sizeof *n);
        if (n == NULL)
            return TSC_ENOMEM;
        w->sops = n;
        w->cap_sops = cap;
    }
    /* The key goes after the value in the buffer. */
    size_t koff = w->buf.len;
    if (tsc_buf_append(&w->buf, key, klen) != 0 ||
        (elen > 0 && tsc_buf_append(&w->buf, extra, elen) != 0))
        return TSC_ENOMEM;
    struct tsc__logsinkop *o = &w->sops[w->n_sops++];
    o->koff = koff;
    o->klen = klen;
    o->voff = voff;
    o->vlen = koff - voff;
    return 0;
}

/* Records in the LOGS block of op o: kept in the buffer right after its
 * key (the op table has no room for it), for the `merged` counter. */
static uint32_t block_count(const struct tsc__logsinkwrite *w, const struct tsc__logsinkop *o)
{
    const uint8_t *p = w->buf.data + o->koff + o->klen;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The update's merged records as LOGS blocks (logsync/logblock.h): runs of
 * consecutive indices of one run, at most TSC_STORE_LOGS_BLOCK records or
 * about BLOCK_BYTES of text each, under the key of the first. */
static int encode_blocks(struct tsc__logs *l, const struct tsc_logsink_update *up)
{
    struct tsc__logsinkwrite *sw = &l->fill;
    const struct tsc_logrec *recs[TSC_STORE_LOGS_BLOCK];
    uint8_t key[16], cnt[4];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < up->n_writes;) {
        const struct tsc_logsink_write *w = &up->writes[i];
        size_t voff = sw->buf.len, n = 0, bytes = 0;
        do {
            recs[n] = w[n].rec;
            bytes += w[n].rec->len;
            n++;
        } while (i + n < up->n_writes && n < TSC_STORE_LOGS_BLOCK && bytes < BLOCK_BYTES &&
                 w[n].run == w->run && w[n].index == w->index + n);
        if ((rc = tsc_logblock_encode(&l->blockenc, w->run, recs, n, &sw->buf)) != 0)
            break;
        tsc_store_put_be64(key, w->run);
        tsc_store_put_be64(key + 8, w->index);
        cnt[0] = (uint8_t)(n >> 24);
        cnt[1] = (uint8_t)(n >> 16);
        cnt[2] = (uint8_t)(n >> 8);
        cnt[3] = (uint8_t)n;
        rc = add_op(sw, key, 16, voff, cnt, sizeof cnt);
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

static int encode_update(struct tsc_agent *a, const struct tsc_logsink_update *up)
{
    struct tsc__logsinkwrite *w = &a->logs.fill;
    uint8_t key[ROW_KEY];
    int rc = encode_blocks(&a->logs, up);
    for (size_t i = 0; rc == 0 && i < up->n_errors; i++) {
        uint64_t n = error_number(a, up, i);
        if (n == 0)
            continue;
        size_t voff = w->buf.len;
        tsc_store_put_be64(key, up->errors[i].run);
        key[8] = 'e';
        tsc_store_put_be64(key + 9, n);
        rc = tsc_logmerge_error_encode(&up->errors[i], &w->buf);
        if (rc == 0)
            rc = add_op(w, key, ROW_KEY, voff, NULL, 0);
    }
    for (size_t i = 0; rc == 0 && i < up->n_rows; i++) {
        size_t voff = w->buf.len;
        tsc_store_put_be64(key, up->rows[i].run);
        key[8] = 'r';
        tsc_store_put_be64(key + 9, up->rows[i].node);
        rc = row_encode(&up->rows[i], &w->buf);
        if (rc == 0)
            rc = add_op(w, key, ROW_KEY, voff, NULL, 0);
    }
    if (rc == 0 && w->n_tokens == w->cap_tokens) {
        size_t cap = w->cap_tokens ? w->cap_tokens * 2 : 16;
        uint64_t *n = tsc_realloc(w->tokens, cap * sizeof *n);
        if (n == NULL)
            return TSC_ENOMEM;
        w->tokens = n;
        w->cap_tokens = cap;
    }
    if (rc == 0)
        w->tokens[w->n_tokens++] = up->token;
    return rc;
}

int tsc__logsink_encode(struct tsc_agent *a, const struct tsc_logsink_update *up)
{
    struct tsc__logsinkwrite *w = &a->logs.fill;
    size_t buf_len = w->buf.len, n_sops = w->n_sops;
    int rc = encode_update(a, up);
    if (rc != 0) {
        w->buf.len = buf_len;
        w->n_sops = n_sops;
    }
    return rc;
}

/* ---- the write on the thread pool ---------------------------------------------------- */

static void write_reset(struct tsc__logsinkwrite *w, int release)
{
    w->n_sops = w->n_tokens = 0;
    if (release || w->buf.cap > KEEP_BUF_BYTES) {
        tsc_buf_free(&w->buf);
        tsc_free(w->sops);
        tsc_free(w->tokens);
        w->sops = NULL;
        w->tokens = NULL;
        w->cap_sops = w->cap_tokens = 0;
    } else {
        tsc_buf_reset(&w->buf);
    }
}

/* Pool thread: only the store (RocksDB is thread-safe; store.h) and the
 * job's own memory. */
static void on_write(uv_work_t *req)
{
    struct tsc__logsinkjob *j = req->data;
    struct tsc_agent *a = j->a;
    j->rc = 0;
    j->errmsg[0] = '\0';
    if (j->w.n_sops > 0)
        j->rc = a->store.write(&a->store, j->ops, j->w.n_sops, 1, j->errmsg);
}

static void on_written(uv_work_t *req, int status);

static void submit(struct tsc_agent *a, struct tsc__logsinkjob *j)
{
    j->running = 1;
    int rc = uv_queue_work(&a->loop, &j->req, on_write, on_written);
    if (rc != 0) {
        j->running = 0;
        j->rc = TSC_ESTORE;
        snprintf(j->errmsg, sizeof j->errmsg, "thread pool: %s", uv_strerror(rc));
        j->req.data = j;
        on_written(&j->req, 0);
    }
}

static void on_write_timer(uv_timer_t *t)
{
    struct tsc_agent *a = t->data;
    struct tsc__logsinkjob *j = a->logs.job;
    if (a->stopping || j == NULL || !j->failed)
        return;
    j->failed = 0;
    submit(a, j);
}

static void on_written(uv_work_t *req, int status)
{
    struct tsc__logsinkjob *j = req->data;
    struct tsc_agent *a = j->a;
    struct tsc__logs *l = &a->logs;
    j->running = 0;
    if (j->orphan || a->stopping || status == UV_ECANCELED) {
        /* Nothing waits for it: dropped unacknowledged. */
        j->orphan = 0;
        write_reset(&j->w, 1);
        return;
    }
    if (j->rc != 0) {
        a->c.store_errors++;
        tsc_logf(TSC_LOG_ERROR, "logs: sink: write of %zu operations failed (%s); retrying",
                 j->w.n_sops, j->errmsg[0] ? j->errmsg : tsc_strerror(j->rc));
        j->failed = 1;
        if (l->handles)
            uv_timer_start(&l->write_timer, on_write_timer, RETRY_WRITE_MS, 0);
        return;
    }
    for (size_t i = 0; i < j->w.n_sops; i++)
        if (j->w.sops[i].klen == 16)
            l->c.merged += block_count(&j->w, &j->w.sops[i]);
    /* Durable now: the steps may acknowledge (and fill the next write). */
    for (size_t i = 0; i < j->w.n_tokens && l->sk != NULL; i++) {
        struct tsc_logsink_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = TSC_LOGSINK_EV_DURABLE;
        ev.token = j->w.tokens[i];
        tsc__logsink_step(a, &ev);
    }
    write_reset(&j->w, 0);
    if (l->fill.n_sops > 0 || l->fill.n_tokens > 0)
        tsc__logs_kick(a);
}

void tsc__logsink_flush(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    struct tsc__logsinkjob *j = l->job;
    if (l->fill.n_sops == 0 && l->fill.n_tokens == 0)
        return;
    if (j == NULL) {
        if ((j = tsc_calloc(1, sizeof *j)) == NULL)
            return; /* the next flush tries again */
        j->a = a;
        j->req.data = j;
        l->job = j;
    }
    if (j->running || j->failed)
        return; /* on_written kicks the work callback again */
    if (j->cap_ops < l->fill.n_sops) {
        struct tsc_store_op *ops = tsc_realloc(j->ops, l->fill.n_sops * sizeof *ops);
        if (ops == NULL)
            return;
        j->ops = ops;
        j->cap_ops = l->fill.n_sops;
    }
    /* The job's emptied buffers become the next fill. */
    struct tsc__logsinkwrite w = j->w;
    j->w = l->fill;
    l->fill = w;
    for (size_t i = 0; i < j->w.n_sops; i++) {
        const struct tsc__logsinkop *o = &j->w.sops[i];
        j->ops[i] = (struct tsc_store_op){
            .space = o->klen == 16 ? TSC_STORE_LOGS : TSC_STORE_LOGMETA,
            .key = j->w.buf.data + o->koff,
            .klen = o->klen,
            .val = j->w.buf.data + o->voff,
            .vlen = o->vlen,
        };
    }
    submit(a, j);
}

void tsc__logsink_discard(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    struct tsc__logsinkjob *j = l->job;
    write_reset(&l->fill, 1);
    if (j == NULL)
        return;
    if (j->running) {
        j->orphan = 1;
    } else {
        if (j->failed && l->handles)
            uv_timer_stop(&l->write_timer);
        j->failed = 0;
        write_reset(&j->w, 1);
    }
}

void tsc__logsink_store_free(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    write_reset(&l->fill, 1);
    tsc_logblock_enc_free(&l->blockenc);
    if (l->job != NULL) {
        /* The loop has ended: nothing runs on the pool any more. */
        write_reset(&l->job->w, 1);
        tsc_free(l->job->ops);
        tsc_free(l->job);
        l->job = NULL;
    }
}
