/* tsc — merge + store on one core: log records from 8 nodes through the
 * sink engine (logsync/sink.h) into a real RocksDB (agent/store_rocksdb.c),
 * one line per figure as `name value unit`.
 *
 *   bench_logstore [--records N] [--group-records R] [--raw] [--dir PARENT]
 *
 * (defaults 1,000,000 records; R = 0: every batch is a loop turn of its
 * own, one synced write each; R > 0: a loop turn takes batches until R
 * records wait, the driver's group commit; $TMPDIR or /tmp. --raw: only the
 * reference, store->write of batches of 1000 pre-encoded records, one put
 * per record, unsynced and synced.)
 *
 * Eight nodes log 100-byte records with the causality of bench_logmerge.c
 * (3% sends, received on a later event) and Lamport times (merge.h); each
 * ships batches of 1000 records with its clock as the watermark and its
 * Lamport time as the promise, and every 64 batches all nodes send a
 * heartbeat. The write path is the driver's (agent/logs_sink.c), mirrored:
 * the sink's merge configuration, each update encoded at once into LOGS
 * blocks (logsync/logblock.h: consecutive indices, <= TSC_STORE_LOGS_BLOCK
 * records or 64 KiB of text)
 * and LOGMETA rows, and at the end of a loop turn what is pending written
 * as one synced RocksDB batch (chunks of 4096 operations or 4 MiB), then
 * EV_DURABLE for the tokens it completes; the acks' Lamport times go back
 * to the nodes (their next promise), as the agents would do. Figures:
 *   logstore_<n>_rate       records merged and stored per second, timing the
 *                           sink steps, the encoding and the RocksDB writes
 *                           (not the generation of records)
 *   logstore_<n>_mb_s       the same in MB/s of record text (100 B each)
 *   logstore_<n>_store_share the part of that time spent inside store->write
 *   logstore_<n>_encode_share the part spent encoding blocks and rows
 *   logstore_<n>_sink_rate  records per second of the sink engine alone
 *   logstore_<n>_writes     store writes (loop turns), _syncs the synced ones
 *   logstore_<n>_blocks     LOGS blocks written
 *   logstore_<n>_stored_bytes their bytes per record
 *   logstore_<n>_peak_rss   VmHWM
 * It checks what it measures: indices 1..n stored once each, in order, no
 * error reported, the run finished. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/store.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/prng.h"
#include "common/time.h"
#include "logsync/logblock.h"
#include "logsync/sink.h"
#include "wire/mp.h"

#define NODES     8
#define BATCH     1000
#define TEXT      100
#define SEND_PCT  3
#define MAX_INBOX 64
#define HEARTBEAT 64 /* batches between heartbeats of every node */
#define RUN       1
/* agent/logs_sink.c */
#define WRITE_CHUNK 4096
#define WRITE_BYTES (4u << 20)
#define BLOCK_BYTES (64u << 10)

struct msg {
    struct tsc_vclock clock;
    uint64_t lamport;
};

struct node {
    uint64_t id, lamport, first;
    struct tsc_vclock clock;
    struct tsc_logrec batch[BATCH];
    uint8_t text[BATCH][TEXT];
    size_t n;
    struct msg inbox[MAX_INBOX];
    size_t n_inbox;
};

struct bench {
    struct tsc_logsink *k;
    struct tsc_store store;
    struct tsc_prng g;
    struct node *nodes;
    uint64_t now, batches, next_index, stored, n_writes, n_syncs;
    uint64_t group, pending_records; /* --group-records */
    double timed_s, store_s, encode_s;
    /* The driver's pending write (agent/logs_sink.c): operations of the
     * updates not yet written, values and keys in vals, and the tokens they
     * complete. */
    struct tsc_store_op *ops;
    struct pend_op *pops;
    size_t n_ops, cap_ops, ops_written;
    uint64_t *tokens;
    size_t *token_end;
    size_t n_tokens, cap_tokens;
    struct tsc_buf vals;
    struct tsc_logblock_enc enc; /* LOGS blocks (logsync/logblock.h) */
    uint64_t blocks, block_bytes;
};

struct pend_op {
    int space;
    size_t koff, klen, voff, vlen;
};

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_logstore: %s: %s\n", what, tsc_strerror(rc));
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double peak_rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtod(line + 6, NULL);
    fclose(f);
    return kb / 1024.0;
}

static void add_op(struct bench *b, int space, const uint8_t *key, size_t klen, size_t voff)
{
    if (b->n_ops == b->cap_ops) {
        b->cap_ops = b->cap_ops ? b->cap_ops * 2 : 4096;
        b->pops = realloc(b->pops, b->cap_ops * sizeof *b->pops);
        b->ops = realloc(b->ops, b->cap_ops * sizeof *b->ops);
        if (b->pops == NULL || b->ops == NULL)
            die("ops", TSC_ENOMEM);
    }
    size_t koff = b->vals.len;
    if (tsc_buf_append(&b->vals, key, klen) != 0)
        die("vals", TSC_ENOMEM);
    b->pops[b->n_ops++] = (struct pend_op){
        .space = space, .koff = koff, .klen = klen, .voff = voff, .vlen = koff - voff};
}

static void encode_row(const struct tsc_logsink_row *r, struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    tsc_mp_writer_init(&w, out);
    msgpack_pack_array(&w.pk, 9);
    msgpack_pack_uint64(&w.pk, r->delivered);
    msgpack_pack_uint64(&w.pk, r->last_lamport);
    msgpack_pack_uint64(&w.pk, r->last_wall);
    msgpack_pack_uint64(&w.pk, r->next_index);
    msgpack_pack_uint64(&w.pk, r->n_errors);
    if (r->done)
        msgpack_pack_true(&w.pk);
    else
        msgpack_pack_false(&w.pk);
    if (r->finished)
        msgpack_pack_true(&w.pk);
    else
        msgpack_pack_false(&w.pk);
    msgpack_pack_uint64(&w.pk, r->hole_lo);
    msgpack_pack_uint64(&w.pk, r->hole_hi);
    if (tsc_mp_writer_status(&w) != 0)
        die("row", TSC_ENOMEM);
}

static void step(struct bench *b, struct tsc_logsink_event *ev);

/* The driver's flush (agent/logs_sink.c), one loop turn: at most
 * WRITE_CHUNK operations or WRITE_BYTES of what is pending in one batch,
 * synced when it ends a token; then EV_DURABLE for the tokens it ends. */
static void flush_turn(struct bench *b)
{
    char errmsg[TSC_ERRMSG_SIZE] = "";
    size_t from = b->ops_written, to = from, bytes = 0;
    while (to < b->n_ops && to - from < WRITE_CHUNK && (to == from || bytes < WRITE_BYTES)) {
        bytes += b->pops[to].vlen;
        to++;
    }
    int sync = to == b->n_ops || (b->n_tokens > 0 && b->token_end[0] <= to);
    for (size_t i = from; i < to; i++) {
        const struct pend_op *o = &b->pops[i];
        b->ops[i - from] = (struct tsc_store_op){.space = o->space,
                                                 .key = b->vals.data + o->koff,
                                                 .klen = o->klen,
                                                 .val = b->vals.data + o->voff,
                                                 .vlen = o->vlen};
    }
    double t0 = now_s();
    int rc = to > from ? b->store.write(&b->store, b->ops, to - from, sync, errmsg) : 0;
    b->store_s += now_s() - t0;
    if (rc != 0) {
        fprintf(stderr, "bench_logstore: write: %s\n", errmsg);
        exit(1);
    }
    b->n_writes++;
    b->n_syncs += (uint64_t)sync;
    b->ops_written = to;
    size_t n = 0;
    while (sync && n < b->n_tokens && b->token_end[n] <= to)
        n++;
    uint64_t done[64];
    size_t n_done = 0;
    for (size_t i = 0; i < n; i++) {
        if (n_done == 64) {
            fprintf(stderr, "bench_logstore: too many tokens in one write\n");
            exit(1);
        }
        done[n_done++] = b->tokens[i];
    }
    memmove(b->tokens, b->tokens + n, (b->n_tokens - n) * sizeof *b->tokens);
    memmove(b->token_end, b->token_end + n, (b->n_tokens - n) * sizeof *b->token_end);
    b->n_tokens -= n;
    if (b->ops_written == b->n_ops) {
        b->n_ops = b->ops_written = 0;
        for (size_t i = 0; i < b->n_tokens; i++)
            b->token_end[i] = 0;
        tsc_buf_reset(&b->vals);
        b->pending_records = 0;
    }
    for (size_t i = 0; i < n_done; i++) {
        struct tsc_logsink_event ev = {.type = TSC_LOGSINK_EV_DURABLE, .token = done[i]};
        step(b, &ev);
    }
}

/* Loop turns until nothing is pending. */
static void flush(struct bench *b)
{
    while (b->n_ops > b->ops_written || b->n_tokens > 0)
        flush_turn(b);
}

/* The driver's handling of an update's write (agent/logs_sink.c): the
 * merged records as LOGS blocks of consecutive indices, then the rows,
 * appended to the pending write with the token. */
static void store_update(struct bench *b, const struct tsc_logsink_update *up)
{
    uint8_t key[17];
    double te = now_s();
    if (up->n_errors > 0) {
        fprintf(stderr, "bench_logstore: %s error on (%llu, %llu)\n",
                tsc_logmerge_error_name(up->errors[0].kind),
                (unsigned long long)up->errors[0].a_node, (unsigned long long)up->errors[0].a_seq);
        exit(1);
    }
    for (size_t i = 0; i < up->n_writes;) {
        const struct tsc_logsink_write *w = &up->writes[i];
        size_t voff = b->vals.len, n = 0;
        if (w->index != b->next_index) {
            fprintf(stderr, "bench_logstore: index %llu, expected %llu\n",
                    (unsigned long long)w->index, (unsigned long long)b->next_index);
            exit(1);
        }
        const struct tsc_logrec *recs[TSC_STORE_LOGS_BLOCK];
        size_t bytes = 0;
        do {
            recs[n] = w[n].rec;
            bytes += w[n].rec->len;
            n++;
        } while (i + n < up->n_writes && n < TSC_STORE_LOGS_BLOCK && bytes < BLOCK_BYTES &&
                 w[n].run == w->run && w[n].index == w->index + n);
        int rc = tsc_logblock_encode(&b->enc, w->run, recs, n, &b->vals);
        if (rc != 0)
            die("encode", rc);
        tsc_store_put_be64(key, w->run);
        tsc_store_put_be64(key + 8, w->index);
        b->block_bytes += b->vals.len - voff;
        add_op(b, TSC_STORE_LOGS, key, 16, voff);
        b->next_index += n;
        b->blocks++;
        i += n;
    }
    for (size_t j = 0; j < up->n_rows; j++) {
        const struct tsc_logsink_row *r = &up->rows[j];
        size_t voff = b->vals.len;
        tsc_store_put_be64(key, r->run);
        key[8] = 'r';
        tsc_store_put_be64(key + 9, r->node);
        encode_row(r, &b->vals);
        add_op(b, TSC_STORE_LOGMETA, key, 17, voff);
    }
    if (b->n_tokens == b->cap_tokens) {
        b->cap_tokens = b->cap_tokens ? b->cap_tokens * 2 : 64;
        b->tokens = realloc(b->tokens, b->cap_tokens * sizeof *b->tokens);
        b->token_end = realloc(b->token_end, b->cap_tokens * sizeof *b->token_end);
        if (b->tokens == NULL || b->token_end == NULL)
            die("tokens", TSC_ENOMEM);
    }
    b->tokens[b->n_tokens] = up->token;
    b->token_end[b->n_tokens++] = b->n_ops;
    b->stored += up->n_writes;
    b->pending_records += up->n_writes;
    b->encode_s += now_s() - te;
}

/* The end of a loop turn: without --group-records every batch is a turn of
 * its own; with R, a turn takes batches until R records wait. */
static void end_of_turn(struct bench *b)
{
    if (b->group == 0 || b->pending_records >= b->group)
        flush(b);
}

static void step(struct bench *b, struct tsc_logsink_event *ev)
{
    struct tsc_logsink_update up;
    ev->now = b->now;
    int rc = tsc_logsink_step(b->k, ev, &up);
    if (rc != 0)
        die("step", rc);
    for (size_t i = 0; i < up.n_acks; i++) {
        const struct tsc_logack *a = &up.acks[i].ack;
        struct node *n = &b->nodes[a->node - 0x1000];
        if (a->lamport > n->lamport)
            n->lamport = a->lamport; /* the agent keeps its next promise */
    }
    if (up.token != 0)
        store_update(b, &up);
}

static void ship(struct bench *b, struct node *n, int done)
{
    struct tsc_logbatch bt;
    memset(&bt, 0, sizeof bt);
    bt.run = RUN;
    bt.node = n->id;
    bt.epoch = 1;
    bt.first = n->first;
    bt.promise = n->lamport;
    bt.watermark = n->clock;
    bt.done = done;
    bt.records = n->batch;
    bt.n = n->n;
    struct tsc_logsink_event ev = {.type = TSC_LOGSINK_EV_BATCH, .batch = &bt};
    double t0 = now_s();
    step(b, &ev);
    end_of_turn(b);
    b->timed_s += now_s() - t0;
    n->first += n->n;
    n->n = 0;
}

/* One event of node i, as in bench_logmerge.c, with a Lamport time. */
static void event(struct bench *b, size_t i)
{
    struct node *n = &b->nodes[i];
    int kind = TSC_LOGREC_STDOUT;
    uint64_t seq;
    if (n->n_inbox > 0 && tsc_prng_below(&b->g, 2) == 0) {
        struct msg *m = &n->inbox[--n->n_inbox];
        if (tsc_vclock_merge(&n->clock, &m->clock) != 0)
            die("merge", TSC_ENOMEM);
        if (m->lamport > n->lamport)
            n->lamport = m->lamport;
        kind = TSC_LOGREC_RECV;
    } else if (tsc_prng_below(&b->g, 100) < SEND_PCT) {
        kind = TSC_LOGREC_SEND;
    }
    if (tsc_vclock_tick(&n->clock, n->id, &seq) != 0)
        die("tick", TSC_EFULL);
    n->lamport++;
    if (kind == TSC_LOGREC_SEND) {
        struct node *to = &b->nodes[(i + 1 + tsc_prng_below(&b->g, NODES - 1)) % NODES];
        if (to->n_inbox < MAX_INBOX) {
            struct msg *m = &to->inbox[to->n_inbox++];
            if (tsc_vclock_copy(&m->clock, &n->clock) != 0)
                die("copy", TSC_ENOMEM);
            m->lamport = n->lamport;
        }
    }
    struct tsc_logrec *x = &n->batch[n->n];
    if (tsc_vclock_copy(&x->clock, &n->clock) != 0)
        die("copy", TSC_ENOMEM);
    x->node = n->id;
    x->seq = seq;
    x->lamport = n->lamport;
    x->wall_us = 1700000000000000ull + b->now;
    x->run = RUN;
    x->stage = 2;
    x->case_index = TSC_LOGREC_NO_CASE;
    x->kind = (uint8_t)kind;
    snprintf((char *)n->text[n->n], TEXT, "%-*llu", TEXT - 1, (unsigned long long)seq);
    x->text = n->text[n->n];
    x->len = TEXT;
    if (++n->n == BATCH) {
        ship(b, n, 0);
        if (++b->batches % HEARTBEAT == 0)
            for (size_t j = 0; j < NODES; j++)
                if (b->nodes[j].n == 0)
                    ship(b, &b->nodes[j], 0);
    }
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void bench(uint64_t records, uint64_t group, const char *parent)
{
    struct bench b;
    char dir[4096];
    char errmsg[TSC_ERRMSG_SIZE] = "";
    memset(&b, 0, sizeof b);
    snprintf(dir, sizeof dir, "%s/bench_logstore.XXXXXX", parent);
    if (mkdtemp(dir) == NULL) {
        perror("bench_logstore: mkdtemp");
        exit(1);
    }
    char db[4200]; /* the store makes <db>-merged beside it: both inside dir */
    snprintf(db, sizeof db, "%s/db", dir);
    int rc = tsc_store_rocksdb_open(&b.store, db, errmsg);
    if (rc != 0) {
        fprintf(stderr, "bench_logstore: open: %s\n", errmsg);
        exit(1);
    }
    tsc_prng_seed(&b.g, 1);
    tsc_buf_init(&b.vals);
    b.next_index = 1;
    b.group = group;
    b.nodes = calloc(NODES, sizeof *b.nodes);
    if (b.nodes == NULL)
        die("nodes", TSC_ENOMEM);
    uint64_t ids[NODES];
    for (size_t i = 0; i < NODES; i++) {
        struct node *n = &b.nodes[i];
        n->id = ids[i] = 0x1000 + i;
        n->first = 1;
        tsc_vclock_init(&n->clock);
        for (size_t j = 0; j < BATCH; j++)
            tsc_logrec_init(&n->batch[j]);
        for (size_t j = 0; j < MAX_INBOX; j++)
            tsc_vclock_init(&n->inbox[j].clock);
    }
    struct tsc_logsink_config cfg;
    tsc_logsink_config_default(&cfg);
    cfg.merge.max_records = 16384; /* as the driver (agent/logs_sink.c) */
    cfg.merge.max_bytes = 16u << 20;
    if ((rc = tsc_logsink_new(&b.k, &cfg, NULL)) != 0)
        die("new", rc);
    struct tsc_logsink_event ev = {
        .type = TSC_LOGSINK_EV_NODES, .run = RUN, .nodes = ids, .n_nodes = NODES};
    step(&b, &ev);

    double t0 = now_s();
    for (uint64_t e = 0; e < records; e++) {
        b.now++;
        event(&b, tsc_prng_below(&b.g, NODES));
    }
    for (size_t i = 0; i < NODES; i++)
        ship(&b, &b.nodes[i], 1);
    double t1 = now_s();
    flush(&b);
    b.timed_s += now_s() - t1;
    double total = now_s() - t0;

    struct tsc_logsink_run info;
    if (tsc_logsink_run(b.k, RUN, &info) != 0 || !info.finished || info.merged != records ||
        b.stored != records) {
        fprintf(stderr, "bench_logstore: %llu of %llu stored, finished %d\n",
                (unsigned long long)b.stored, (unsigned long long)records, info.finished);
        exit(1);
    }
    printf("logstore_%llu_rate %.0f records/s\n", (unsigned long long)records,
           (double)records / b.timed_s);
    printf("logstore_%llu_mb_s %.1f MB/s\n", (unsigned long long)records,
           (double)records * TEXT / b.timed_s / 1e6);
    printf("logstore_%llu_store_share %.0f %%\n", (unsigned long long)records,
           100.0 * b.store_s / b.timed_s);
    printf("logstore_%llu_encode_share %.0f %%\n", (unsigned long long)records,
           100.0 * b.encode_s / b.timed_s);
    printf("logstore_%llu_sink_rate %.0f records/s\n", (unsigned long long)records,
           (double)records / (b.timed_s - b.store_s - b.encode_s));
    printf("logstore_%llu_rate_with_generation %.0f records/s\n", (unsigned long long)records,
           (double)records / total);
    printf("logstore_%llu_writes %llu writes\n", (unsigned long long)records,
           (unsigned long long)b.n_writes);
    printf("logstore_%llu_blocks %llu blocks\n", (unsigned long long)records,
           (unsigned long long)b.blocks);
    printf("logstore_%llu_stored_bytes %.1f bytes per record in LOGS blocks\n",
           (unsigned long long)records, (double)b.block_bytes / (double)records);
    printf("logstore_%llu_syncs %llu synced writes\n", (unsigned long long)records,
           (unsigned long long)b.n_syncs);
    printf("logstore_%llu_peak_rss %.1f MB\n", (unsigned long long)records, peak_rss_mb());
    fflush(stdout);

    tsc_logsink_free(b.k);
    b.store.close(&b.store);
    for (size_t i = 0; i < NODES; i++) {
        struct node *n = &b.nodes[i];
        tsc_vclock_free(&n->clock);
        for (size_t j = 0; j < BATCH; j++)
            tsc_vclock_free(&n->batch[j].clock);
        for (size_t j = 0; j < MAX_INBOX; j++)
            tsc_vclock_free(&n->inbox[j].clock);
    }
    free(b.nodes);
    free(b.ops);
    free(b.pops);
    free(b.tokens);
    free(b.token_end);
    tsc_buf_free(&b.vals);
    tsc_logblock_enc_free(&b.enc);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The reference: store->write alone, batches of BATCH puts of records
 * encoded once (the same sizes), unsynced but for every sync_every-th. */
static void bench_raw(uint64_t records, uint64_t sync_every, const char *parent)
{
    struct tsc_store st;
    char dir[4096], errmsg[TSC_ERRMSG_SIZE] = "";
    static uint8_t keys[BATCH][16];
    static struct tsc_store_op ops[BATCH];
    struct tsc_buf vals;
    size_t off[BATCH + 1];
    snprintf(dir, sizeof dir, "%s/bench_logstore.XXXXXX", parent);
    char db[4200];
    if (mkdtemp(dir) == NULL || snprintf(db, sizeof db, "%s/db", dir) < 0 ||
        tsc_store_rocksdb_open(&st, db, errmsg) != 0) {
        fprintf(stderr, "bench_logstore: raw: %s\n", errmsg);
        exit(1);
    }
    tsc_buf_init(&vals);
    struct tsc_vclock_entry e[NODES];
    uint8_t text[TEXT];
    memset(text, 'x', sizeof text);
    for (size_t i = 0; i < NODES; i++)
        e[i] = (struct tsc_vclock_entry){0x1000 + i, 100000 + i};
    struct tsc_logrec x = {.node = 0x1000,
                           .seq = 100000,
                           .clock = {NODES, NODES, e},
                           .lamport = 1000000,
                           .wall_us = 1700000000000000ull,
                           .run = RUN,
                           .stage = 2,
                           .case_index = TSC_LOGREC_NO_CASE,
                           .kind = TSC_LOGREC_STDOUT,
                           .text = text,
                           .len = TEXT};
    for (size_t i = 0; i < BATCH; i++) {
        off[i] = vals.len;
        if (tsc_logrec_encode(&x, &vals) != 0)
            die("encode", TSC_ENOMEM);
    }
    off[BATCH] = vals.len;
    for (size_t i = 0; i < BATCH; i++)
        ops[i] = (struct tsc_store_op){.space = TSC_STORE_LOGS,
                                       .key = keys[i],
                                       .klen = 16,
                                       .val = vals.data + off[i],
                                       .vlen = off[i + 1] - off[i]};
    uint64_t index = 0, batches = 0;
    double t0 = now_s();
    while (index < records) {
        for (size_t i = 0; i < BATCH; i++) {
            tsc_store_put_be64(keys[i], RUN);
            tsc_store_put_be64(keys[i] + 8, ++index);
        }
        batches++;
        int sync = sync_every > 0 && batches % sync_every == 0;
        if (st.write(&st, ops, BATCH, sync, errmsg) != 0) {
            fprintf(stderr, "bench_logstore: raw write: %s\n", errmsg);
            exit(1);
        }
    }
    double t = now_s() - t0;
    printf("rawstore_%llu_sync%llu_rate %.0f puts/s (%zu-byte values, batches of %d)\n",
           (unsigned long long)records, (unsigned long long)sync_every, (double)index / t,
           off[1] - off[0], BATCH);
    fflush(stdout);
    st.close(&st);
    tsc_buf_free(&vals);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
    uint64_t records = 1000000, group = 0;
    int raw = 0;
    const char *parent = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--records") == 0 && i + 1 < argc) {
            records = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--group-records") == 0 && i + 1 < argc) {
            group = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--raw") == 0) {
            raw = 1;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            parent = argv[++i];
        } else {
            fprintf(
                stderr,
                "usage: bench_logstore [--records N] [--group-records R] [--raw] [--dir PARENT]\n");
            return 2;
        }
    }
    if (records == 0) {
        fprintf(stderr, "bench_logstore: --records must be > 0\n");
        return 2;
    }
    if (raw) {
        bench_raw(records, 0, parent);
        bench_raw(records, 1, parent);
        return 0;
    }
    bench(records, group, parent);
    return 0;
}
