/* tsc — the coordinator's side of log shipping (sink.h): batches feed one
 * merge engine per open run; what the merges release, the errors they
 * report and the table rows that changed leave as one write; an
 * acknowledgement says only what a durable write holds.
 *
 * Readings of sink.h that the code commits to:
 *  - Rows. A row changes when its node's delivered, last Lamport time, last
 *    wall clock or done changes, and all rows of a run change when it
 *    finishes or reopens. The run-wide fields (next_index, n_errors) ride
 *    along with whatever rows are written; when the run's counters moved
 *    but none of its rows did, its first row is written too. So in the
 *    store the run-wide fields of a run's rows may differ: the newest is
 *    the largest, and EV_RESTORE takes the largest.
 *  - Acks. A batch with records is answered when the write that covers its
 *    node's new state is durable; if its node's state did not change (all
 *    buffered, or all resends), at once. A probe is answered at once. Every
 *    durable write that moves a node's have or done also sends that node an
 *    ack (when it has ever sent a batch: the ack needs its epoch). lamport
 *    is the largest Lamport time received in the run (records and promises).
 *  - DURABLE(t) makes every write up to t durable (one store, in order).
 *  - Holes. A GAP (from the merge: named (node, b_seq) and (node, a_seq))
 *    leaves seqs b_seq+1..a_seq-1 unstored; the row keeps up to MAX_HOLES
 *    such ranges, lowest first. have = (lowest hole's first seq) - 1, else
 *    delivered; the acks carry the durable have. A hole that does not fit
 *    sets a ceiling instead: have stays below its first seq for as long as
 *    this engine lives (the agent keeps those records; its stream does not
 *    finish), as nothing tells which of them a later resend would bring.
 *    Records at or below delivered are the sink's, not the merge's, once
 *    the node had a hole in this merge's life: in a hole they are stored at
 *    the run's next index (the merge's indices shift by the number so
 *    stored) with a LATE error, else dropped as resends. The merge would
 *    drop them (a restored merge takes every seq up to delivered as a
 *    resend; its history forgets) or release one the sink already stored.
 *    So DUPLICATE checks of resends stop at the node's first hole.
 *    Only the lowest hole is in the stored row: after a crash the higher
 *    ones of a node with several are forgotten (their records then count
 *    as resends).
 *  - Finishing. A run finishes when every node it knows is done (each DONE's
 *    last record released, or RUN_END + run_end_wait), nothing is buffered;
 *    or when it is the oldest open run and one more must open. Its rows are
 *    written with finished set; `finished` reports it once that write is
 *    durable. A later batch with records beyond delivered reopens it.
 *
 * Borrowed records. A write's record points into its merge's update, which
 * the merge frees at its next step. A run's merge stepped twice in one sink
 * step (a DONE batch, RUN_END) first copies the earlier releases into an
 * arena that lives until the next sink step; a finished merge is freed at
 * the next sink step. Arrays the step may fill are reserved before a merge
 * step, so TSC_ENOMEM comes before a merge changed, never after a release
 * (which would lose it); when the arena cannot grow, the second merge step
 * (a NODE_DONE, RUN_END) is retried at the next TICK (next_deadline = now). */
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "logsync/sink.h"

#define ARENA_BLOCK ((size_t)1 << 20)

enum { RUN_ACTIVE = 0, RUN_FINISHING, RUN_FINISHED };

#define MAX_HOLES 8 /* per row, in memory */

struct hole {
    uint64_t lo, hi, next; /* next: the record after it, as its GAP named it */
};

struct srow {
    uint64_t node;
    uint64_t delivered, last_lamport, last_wall, done_seq;
    uint64_t dur_delivered, dur_have; /* as of the last durable write */
    struct hole holes[MAX_HOLES];     /* lowest first, disjoint, below delivered */
    uint64_t ceiling;                 /* a hole that did not fit: have < ceiling (0: none) */
    uint64_t sink_from;               /* seqs >= this and <= delivered are the sink's (0: none) */
    uint64_t epoch;                   /* of its last batch */
    uint64_t dp_seq, dp_promise;      /* a NODE_DONE put off (done_pending) */
    uint64_t dirty, acked;            /* step stamps */
    uint8_t done, dur_done, heard, ack_want, done_pending, n_holes;
};

struct srun {
    uint64_t id;
    struct srow *rows; /* sorted by node */
    size_t n_rows, cap_rows;
    uint64_t next_index, n_errors, lamport;
    uint64_t shift; /* records the sink stored itself since its merge opened */
    int state, forced, retry;
    struct tsc_logmerge *m;
    uint64_t deadline; /* the merge's */
    uint64_t end_at;   /* RUN_END time, or TSC_TIME_NEVER */
    uint64_t created, finish_token, inflight;
    uint64_t out_stamp; /* writes[out_from, out_to) are its merge's, this step */
    size_t out_from, out_to;
};

struct dirty {
    struct srun *run;
    uint64_t node;
};

struct snap {
    struct srun *run;
    uint64_t node, delivered, have;
    int done;
};

struct pend {
    uint64_t token;
    size_t first, n; /* in snaps */
};

struct block {
    uint8_t *p;
    size_t cap, used;
};

struct tsc_logsink {
    struct tsc_logsink_config cfg;
    uint64_t now, stamp, last_token, created;
    int started;

    struct srun **runs; /* sorted by id */
    size_t n_runs, cap_runs;
    struct srun **open; /* oldest first */
    size_t n_open, cap_open;
    struct srun **active; /* open, or waiting for run_end_wait, or retrying */
    size_t n_active, cap_active;
    struct srun **fin; /* RUN_FINISHING */
    size_t n_fin, cap_fin;
    struct tsc_logmerge **dead; /* freed at the next step */
    size_t n_dead, cap_dead;

    struct snap *snaps;
    size_t snap_head, n_snaps, cap_snaps;
    struct pend *pends;
    size_t pend_head, n_pends, cap_pends;

    struct block *blocks;
    size_t n_blocks, cur_block;

    /* This step's update. */
    struct tsc_logsink_write *writes;
    size_t n_writes, cap_writes;
    struct tsc_logmerge_error *errors;
    size_t n_errors, cap_errors;
    struct dirty *dirty;
    size_t n_dirty, cap_dirty;
    struct tsc_logsink_row *rows;
    size_t cap_rows;
    struct tsc_logsink_ack *acks;
    size_t n_acks, cap_acks;
    uint64_t *finished;
    size_t n_finished, cap_finished;

    struct tsc_logrec *scratch; /* a batch's records for the merge */
    size_t cap_scratch;

    struct tsc_logsink_stats st;
};

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int grow(void **p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = tsc_realloc(*p, c * sz);
    if (q == NULL)
        return TSC_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

void tsc_logsink_config_default(struct tsc_logsink_config *c)
{
    tsc_logmerge_config_default(&c->merge);
    c->max_open_runs = 8;
    c->run_end_wait = TSC_SEC(10);
    c->max_runs = 4096;
}

int tsc_logsink_new(struct tsc_logsink **out, const struct tsc_logsink_config *cfg, char *errmsg)
{
    if (out == NULL) {
        tsc_errmsg_setf(errmsg, "logsink: no output");
        return TSC_EINVAL;
    }
    *out = NULL;
    struct tsc_logsink *k = tsc_calloc(1, sizeof *k);
    if (k == NULL) {
        tsc_errmsg_setf(errmsg, "logsink: out of memory");
        return TSC_ENOMEM;
    }
    if (cfg != NULL)
        k->cfg = *cfg;
    else
        tsc_logsink_config_default(&k->cfg);
    if (k->cfg.max_open_runs == 0)
        k->cfg.max_open_runs = 1;
    if (k->cfg.max_runs == 0)
        k->cfg.max_runs = 1;
    *out = k;
    return 0;
}

static void free_dead(struct tsc_logsink *k)
{
    for (size_t i = 0; i < k->n_dead; i++)
        tsc_logmerge_free(k->dead[i]);
    k->n_dead = 0;
}

static void run_free(struct srun *r)
{
    tsc_logmerge_free(r->m);
    tsc_free(r->rows);
    tsc_free(r);
}

void tsc_logsink_free(struct tsc_logsink *k)
{
    if (k == NULL)
        return;
    free_dead(k);
    for (size_t i = 0; i < k->n_runs; i++)
        run_free(k->runs[i]);
    for (size_t i = 0; i < k->n_blocks; i++)
        tsc_free(k->blocks[i].p);
    tsc_free(k->blocks);
    tsc_free(k->runs);
    tsc_free(k->open);
    tsc_free(k->active);
    tsc_free(k->fin);
    tsc_free(k->dead);
    tsc_free(k->snaps);
    tsc_free(k->pends);
    tsc_free(k->writes);
    tsc_free(k->errors);
    tsc_free(k->dirty);
    tsc_free(k->rows);
    tsc_free(k->acks);
    tsc_free(k->finished);
    tsc_free(k->scratch);
    tsc_free(k);
}

const struct tsc_logsink_stats *tsc_logsink_stats(const struct tsc_logsink *k)
{
    return &k->st;
}

/* ---- runs and rows -------------------------------------------------------------- */

static size_t run_pos(const struct tsc_logsink *k, uint64_t id)
{
    size_t lo = 0, hi = k->n_runs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k->runs[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct srun *run_find(const struct tsc_logsink *k, uint64_t id)
{
    size_t p = run_pos(k, id);
    return p < k->n_runs && k->runs[p]->id == id ? k->runs[p] : NULL;
}

static size_t row_pos(const struct srun *r, uint64_t node)
{
    size_t lo = 0, hi = r->n_rows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->rows[mid].node < node)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct srow *row_find(const struct srun *r, uint64_t node)
{
    size_t p = row_pos(r, node);
    return p < r->n_rows && r->rows[p].node == node ? &r->rows[p] : NULL;
}

static int list_add(struct srun ***list, size_t *n, size_t *cap, struct srun *r)
{
    for (size_t i = 0; i < *n; i++)
        if ((*list)[i] == r)
            return 0;
    if (grow((void **)list, cap, *n + 1, sizeof **list) != 0)
        return TSC_ENOMEM;
    (*list)[(*n)++] = r;
    return 0;
}

static void list_del(struct srun **list, size_t *n, const struct srun *r)
{
    for (size_t i = 0; i < *n; i++) {
        if (list[i] == r) {
            memmove(list + i, list + i + 1, (*n - i - 1) * sizeof *list);
            (*n)--;
            return;
        }
    }
}

/* Drop the oldest finished run nobody waits on, to stay within max_runs. */
static void drop_oldest(struct tsc_logsink *k)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < k->n_runs; i++) {
        const struct srun *r = k->runs[i];
        if (r->state == RUN_FINISHED && r->inflight == 0 && r->m == NULL &&
            (best == SIZE_MAX || r->created < k->runs[best]->created))
            best = i;
    }
    if (best == SIZE_MAX)
        return; /* every run is still in use: go over the limit for now */
    run_free(k->runs[best]);
    memmove(k->runs + best, k->runs + best + 1, (k->n_runs - best - 1) * sizeof *k->runs);
    k->n_runs--;
}

static int run_get(struct tsc_logsink *k, uint64_t id, struct srun **out)
{
    struct srun *r = run_find(k, id);
    if (r == NULL) {
        if (grow((void **)&k->runs, &k->cap_runs, k->n_runs + 1, sizeof *k->runs) != 0 ||
            (r = tsc_calloc(1, sizeof *r)) == NULL)
            return TSC_ENOMEM;
        if (k->n_runs >= k->cfg.max_runs)
            drop_oldest(k);
        r->id = id;
        r->next_index = 1;
        r->end_at = TSC_TIME_NEVER;
        r->deadline = TSC_TIME_NEVER;
        r->created = ++k->created;
        size_t p = run_pos(k, id);
        memmove(k->runs + p + 1, k->runs + p, (k->n_runs - p) * sizeof *k->runs);
        k->runs[p] = r;
        k->n_runs++;
    }
    *out = r;
    return 0;
}

/* Room for n more dirty rows (and the update's rows and snapshots for them). */
static int reserve_dirty(struct tsc_logsink *k, size_t n)
{
    size_t need = k->n_dirty + n;
    if (grow((void **)&k->dirty, &k->cap_dirty, need, sizeof *k->dirty) != 0 ||
        grow((void **)&k->rows, &k->cap_rows, need, sizeof *k->rows) != 0 ||
        grow((void **)&k->snaps, &k->cap_snaps, k->n_snaps + need, sizeof *k->snaps) != 0)
        return TSC_ENOMEM;
    return 0;
}

/* Capacity reserved by the caller. */
static void mark(struct tsc_logsink *k, struct srun *r, struct srow *w)
{
    if (w->dirty == k->stamp || k->n_dirty >= k->cap_dirty)
        return;
    w->dirty = k->stamp;
    k->dirty[k->n_dirty].run = r;
    k->dirty[k->n_dirty].node = w->node;
    k->n_dirty++;
}

static void mark_all(struct tsc_logsink *k, struct srun *r)
{
    for (size_t i = 0; i < r->n_rows; i++)
        mark(k, r, &r->rows[i]);
}

/* The row of node, added if new (written with the next write). */
static int row_get(struct tsc_logsink *k, struct srun *r, uint64_t node, struct srow **out)
{
    size_t p = row_pos(r, node);
    if (p < r->n_rows && r->rows[p].node == node) {
        *out = &r->rows[p];
        return 0;
    }
    if (grow((void **)&r->rows, &r->cap_rows, r->n_rows + 1, sizeof *r->rows) != 0 ||
        reserve_dirty(k, 1) != 0)
        return TSC_ENOMEM;
    memmove(r->rows + p + 1, r->rows + p, (r->n_rows - p) * sizeof *r->rows);
    memset(&r->rows[p], 0, sizeof r->rows[p]);
    r->rows[p].node = node;
    r->n_rows++;
    mark(k, r, &r->rows[p]);
    *out = &r->rows[p];
    return 0;
}

/* ---- holes --------------------------------------------------------------------------- */

/* The highest h with records 1..h all stored (as far as this engine knows). */
static uint64_t row_have(const struct srow *w)
{
    uint64_t h = w->n_holes > 0 ? w->holes[0].lo - 1 : w->delivered;
    if (w->ceiling != 0 && w->ceiling - 1 < h)
        h = w->ceiling - 1;
    return h;
}

/* A GAP passed over lo..hi; next: the record it named after them. Kept
 * sorted; past MAX_HOLES the highest becomes the ceiling. */
static void hole_add(struct srow *w, uint64_t lo, uint64_t hi, uint64_t next)
{
    if (lo == 0 || lo > hi)
        return;
    size_t p = 0;
    while (p < w->n_holes && w->holes[p].lo < lo)
        p++;
    if (p == MAX_HOLES) {
        if (w->ceiling == 0 || lo < w->ceiling)
            w->ceiling = lo;
    } else {
        if (w->n_holes == MAX_HOLES) {
            const struct hole *last = &w->holes[MAX_HOLES - 1];
            if (w->ceiling == 0 || last->lo < w->ceiling)
                w->ceiling = last->lo;
            w->n_holes--;
        }
        memmove(w->holes + p + 1, w->holes + p, (w->n_holes - p) * sizeof *w->holes);
        w->holes[p] = (struct hole){lo, hi, next};
        w->n_holes++;
    }
    if (w->sink_from == 0 || lo < w->sink_from)
        w->sink_from = lo;
}

static const struct hole *hole_find(const struct srow *w, uint64_t seq)
{
    for (size_t i = 0; i < w->n_holes; i++)
        if (w->holes[i].lo <= seq && seq <= w->holes[i].hi)
            return &w->holes[i];
    return NULL;
}

/* seq is stored now: out of its hole. 0 when a full list cannot split a
 * hole (the record is not stored now: it comes again, the lowest first). */
static int hole_take(struct srow *w, uint64_t seq)
{
    for (size_t i = 0; i < w->n_holes; i++) {
        struct hole *h = &w->holes[i];
        if (seq < h->lo || seq > h->hi)
            continue;
        if (h->lo == h->hi) {
            memmove(h, h + 1, (w->n_holes - i - 1) * sizeof *h);
            w->n_holes--;
        } else if (seq == h->lo) {
            h->lo++;
        } else if (seq == h->hi) {
            h->hi--;
        } else if (w->n_holes < MAX_HOLES) {
            memmove(h + 1, h, (w->n_holes - i) * sizeof *h);
            w->n_holes++;
            h[0].hi = seq - 1;
            h[1].lo = seq + 1;
        } else {
            return 0;
        }
        return 1;
    }
    return 0;
}

/* ---- merge steps ------------------------------------------------------------------ */

static int arena_reserve(struct tsc_logsink *k, size_t need, uint8_t **out)
{
    for (; k->cur_block < k->n_blocks; k->cur_block++) {
        struct block *b = &k->blocks[k->cur_block];
        if (b->cap - b->used >= need) {
            *out = b->p + b->used;
            b->used += need;
            return 0;
        }
    }
    struct block *nb = tsc_realloc(k->blocks, (k->n_blocks + 1) * sizeof *nb);
    if (nb == NULL)
        return TSC_ENOMEM;
    k->blocks = nb;
    size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;
    uint8_t *p = tsc_malloc(cap);
    if (p == NULL)
        return TSC_ENOMEM;
    k->blocks[k->n_blocks].p = p;
    k->blocks[k->n_blocks].cap = cap;
    k->blocks[k->n_blocks].used = need;
    k->cur_block = k->n_blocks++;
    *out = p;
    return 0;
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static size_t rec_bytes(const struct tsc_logrec *x)
{
    return align8(sizeof *x) + align8(x->clock.n * sizeof *x->clock.e) + align8(x->len);
}

/* x copied to p (rec_bytes(x) of arena). */
static const struct tsc_logrec *copy_rec(uint8_t *p, const struct tsc_logrec *x)
{
    struct tsc_logrec *c = (struct tsc_logrec *)(void *)p;
    struct tsc_vclock_entry *e = (struct tsc_vclock_entry *)(void *)(p + align8(sizeof *x));
    uint8_t *text = (uint8_t *)e + align8(x->clock.n * sizeof *e);
    *c = *x;
    if (x->clock.n > 0)
        memcpy(e, x->clock.e, x->clock.n * sizeof *e);
    if (x->len > 0)
        memcpy(text, x->text, x->len);
    c->clock.e = e;
    c->clock.cap = x->clock.n;
    c->text = text;
    return c;
}

/* The merge of r is about to step again: keep its earlier releases. */
static int keep_releases(struct tsc_logsink *k, struct srun *r)
{
    if (r->out_stamp != k->stamp || r->out_to == r->out_from)
        return 0;
    size_t need = 0;
    for (size_t i = r->out_from; i < r->out_to; i++)
        need += rec_bytes(k->writes[i].rec);
    uint8_t *p;
    if (arena_reserve(k, need, &p) != 0)
        return TSC_ENOMEM;
    for (size_t i = r->out_from; i < r->out_to; i++) {
        const struct tsc_logrec *x = k->writes[i].rec;
        k->writes[i].rec = copy_rec(p, x);
        p += rec_bytes(x);
    }
    r->out_to = r->out_from;
    return 0;
}

static void row_released(struct srow *w, const struct tsc_logrec *x)
{
    if (x->seq > w->delivered) {
        w->delivered = x->seq;
        w->last_wall = x->wall_us;
    }
    if (x->lamport > w->last_lamport)
        w->last_lamport = x->lamport;
}

/* Take a merge update: releases become writes, errors are numbered, rows
 * that moved are marked. Capacity was reserved by merge_step. */
static void collect(struct tsc_logsink *k, struct srun *r, const struct tsc_logmerge_update *up)
{
    struct srow *w = NULL;
    r->out_stamp = k->stamp;
    r->out_from = k->n_writes;
    for (size_t i = 0; i < up->n_released; i++) {
        const struct tsc_logrec *x = up->released[i].rec;
        struct tsc_logsink_write *o = &k->writes[k->n_writes++];
        o->run = r->id;
        o->index = up->released[i].index + r->shift;
        o->rec = x;
        if (o->index >= r->next_index)
            r->next_index = o->index + 1;
        if (w == NULL || w->node != x->node)
            w = row_find(r, x->node);
        if (w != NULL) {
            if (x->seq <= w->delivered && w->n_holes > 0)
                hole_take(w, x->seq); /* not expected: the sink keeps such seqs away */
            row_released(w, x);
            mark(k, r, w);
        }
    }
    r->out_to = k->n_writes;
    for (size_t i = 0; i < up->n_errors; i++) {
        const struct tsc_logmerge_error *e = &up->errors[i];
        k->errors[k->n_errors] = *e;
        k->errors[k->n_errors++].run = r->id;
        r->n_errors++;
        /* A GAP passes over the missing seqs: delivered moves to just
         * before the record it names, and they are a hole of the row. */
        if (e->kind == TSC_LOGMERGE_GAP && e->a_seq > 0 && (w = row_find(r, e->a_node)) != NULL) {
            if (e->a_seq - 1 > e->b_seq)
                hole_add(w, e->b_seq + 1, e->a_seq - 1, e->a_seq);
            if (e->a_seq - 1 > w->delivered)
                w->delivered = e->a_seq - 1;
            mark(k, r, w);
        }
    }
    if (up->n_released > 0 || up->n_errors > 0) {
        if (r->n_rows > 0)
            mark(k, r, &r->rows[0]);
    }
    r->deadline = up->next_deadline;
}

/* One step of r's merge, everything reserved first: TSC_ENOMEM leaves the
 * merge and this step's update as they were. */
static int merge_step(struct tsc_logsink *k, struct srun *r, int type, uint64_t node,
                      const struct tsc_logrec *recs, size_t n, const struct tsc_vclock *wm,
                      uint64_t promise)
{
    if (keep_releases(k, r) != 0)
        return TSC_ENOMEM;
    const struct tsc_logmerge_stats *ms = tsc_logmerge_stats(r->m);
    size_t most = (size_t)ms->buffered + n;
    size_t nodes = r->n_rows + 1;
    if (grow((void **)&k->writes, &k->cap_writes, k->n_writes + most, sizeof *k->writes) != 0 ||
        grow((void **)&k->errors, &k->cap_errors, k->n_errors + 4 * (most + nodes) + 4,
             sizeof *k->errors) != 0 ||
        reserve_dirty(k, r->n_rows) != 0)
        return TSC_ENOMEM;
    struct tsc_logmerge_event ev = {.type = type,
                                    .now = k->now,
                                    .node = node,
                                    .records = recs,
                                    .n_records = n,
                                    .watermark = wm,
                                    .promise = promise};
    struct tsc_logmerge_update up;
    int rc = tsc_logmerge_step(r->m, &ev, &up);
    if (rc != 0)
        return rc;
    collect(k, r, &up);
    return 0;
}

/* NODE_DONE for w: its records up to seq may still come (seq 0: none). */
static int merge_done(struct tsc_logsink *k, struct srun *r, struct srow *w, uint64_t seq,
                      uint64_t promise)
{
    struct tsc_vclock_entry e = {w->node, seq};
    struct tsc_vclock wm = {1, 1, &e};
    return merge_step(k, r, TSC_LOGMERGE_EV_NODE_DONE, w->node, NULL, 0, seq ? &wm : NULL,
                      seq ? promise : 0);
}

/* ---- open and finish ------------------------------------------------------------- */

static void set_active(struct tsc_logsink *k, struct srun *r)
{
    int want = r->m != NULL || r->end_at != TSC_TIME_NEVER || r->retry;
    for (size_t i = 0; !want && i < r->n_rows; i++)
        want = r->rows[i].done_pending;
    if (!want)
        list_del(k->active, &k->n_active, r);
    else if (list_add(&k->active, &k->n_active, &k->cap_active, r) != 0)
        r->retry = 1; /* cannot be tracked: best effort, the driver ticks anyway */
}

/* Finish r: flush and close its merge, write every row with finished set;
 * `finished` reports it once that write is durable. */
static int finish_run(struct tsc_logsink *k, struct srun *r)
{
    if (grow((void **)&k->dead, &k->cap_dead, k->n_dead + 1, sizeof *k->dead) != 0 ||
        grow((void **)&k->fin, &k->cap_fin, k->n_fin + 1, sizeof *k->fin) != 0 ||
        reserve_dirty(k, r->n_rows) != 0)
        return TSC_ENOMEM;
    if (r->m != NULL) {
        int rc = merge_step(k, r, TSC_LOGMERGE_EV_FLUSH, 0, NULL, 0, NULL, 0);
        if (rc != 0)
            return rc;
        k->dead[k->n_dead++] = r->m; /* its releases stay valid until the next step */
        r->m = NULL;
        r->deadline = TSC_TIME_NEVER;
        list_del(k->open, &k->n_open, r);
    }
    r->state = RUN_FINISHING;
    r->finish_token = 0;
    r->end_at = TSC_TIME_NEVER;
    r->retry = 0;
    list_add(&k->fin, &k->n_fin, &k->cap_fin, r); /* reserved */
    mark_all(k, r);
    set_active(k, r);
    return 0;
}

static void check_finish(struct tsc_logsink *k, struct srun *r)
{
    if (r->state != RUN_ACTIVE || r->retry)
        return;
    if (r->n_rows == 0 && !r->forced)
        return;
    for (size_t i = 0; i < r->n_rows; i++) {
        const struct srow *w = &r->rows[i];
        if (!w->done || w->done_pending ||
            (!r->forced && (w->delivered < w->done_seq || row_have(w) < w->delivered)))
            return;
    }
    if (r->m != NULL && tsc_logmerge_stats(r->m)->buffered > 0)
        return;
    if (finish_run(k, r) != 0)
        r->retry = 1; /* again at the next TICK */
    set_active(k, r);
}

/* A merge for r from its rows; the oldest open run finishes to make room. */
static int open_run(struct tsc_logsink *k, struct srun *r)
{
    int rc;
    if (k->n_open >= k->cfg.max_open_runs && (rc = finish_run(k, k->open[0])) != 0)
        return rc;
    if (grow((void **)&k->open, &k->cap_open, k->n_open + 1, sizeof *k->open) != 0 ||
        grow((void **)&k->active, &k->cap_active, k->n_active + 1, sizeof *k->active) != 0 ||
        reserve_dirty(k, r->n_rows) != 0)
        return TSC_ENOMEM;
    uint64_t *ids = tsc_malloc((r->n_rows ? r->n_rows : 1) * sizeof *ids);
    if (ids == NULL)
        return TSC_ENOMEM;
    for (size_t i = 0; i < r->n_rows; i++)
        ids[i] = r->rows[i].node;
    struct tsc_logmerge *m;
    rc = tsc_logmerge_new(&m, &k->cfg.merge, ids, r->n_rows, NULL);
    tsc_free(ids);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < r->n_rows && rc == 0; i++) {
        const struct srow *w = &r->rows[i];
        rc = tsc_logmerge_restore(m, w->node, w->delivered, w->last_lamport, w->last_wall,
                                  r->next_index);
    }
    if (rc != 0) {
        tsc_logmerge_free(m);
        return rc;
    }
    r->m = m;
    r->deadline = TSC_TIME_NEVER;
    r->forced = 0;
    r->shift = 0;
    /* The new merge takes every seq up to delivered for a resend: the
     * holes stay the sink's, the rest may go to the merge again. */
    for (size_t i = 0; i < r->n_rows; i++)
        r->rows[i].sink_from = 0;
    if (r->state != RUN_ACTIVE) {
        r->state = RUN_ACTIVE;
        list_del(k->fin, &k->n_fin, r);
        mark_all(k, r); /* finished goes back to 0 */
    }
    k->open[k->n_open++] = r;
    set_active(k, r);
    k->st.opens++;
    /* Nodes that were done before never block the reopened merge. */
    for (size_t i = 0; i < r->n_rows; i++) {
        struct srow *w = &r->rows[i];
        if (w->done && (rc = merge_done(k, r, w, 0, 0)) != 0)
            return rc;
    }
    return 0;
}

/* ---- events ------------------------------------------------------------------------ */

static void add_ack(struct tsc_logsink *k, const struct srun *r, struct srow *w)
{
    if (!w->heard || w->acked == k->stamp || k->n_acks >= k->cap_acks)
        return;
    struct tsc_logack *a = &k->acks[k->n_acks++].ack;
    a->run = r->id;
    a->node = w->node;
    a->epoch = w->epoch;
    a->have = w->dur_have;
    a->lamport = r->lamport;
    a->done = w->dur_done;
    w->acked = k->stamp;
    w->ack_want = 0;
    k->st.acks++;
}

static int row_settled(const struct srow *w)
{
    return w->dur_delivered == w->delivered && w->dur_have == row_have(w) && w->dur_done == w->done;
}

/* Is x (at or below its row's delivered) the sink's to decide, not the
 * merge's? Everything in a hole is; and after the node's first hole in
 * this merge's life, every seq from there up (the merge took them for
 * passed over and would release a resend of one the sink stored). */
static int sinks_own(const struct srow *w, const struct tsc_logrec *x)
{
    return x->seq <= w->delivered &&
           ((w->sink_from != 0 && x->seq >= w->sink_from) || hole_find(w, x->seq) != NULL);
}

/* Store the records of b that fill holes of w, at the run's next indices,
 * each with a LATE error naming the record after its hole. Room for n of
 * them is reserved (writes, errors, arena at p). */
static void fill_holes(struct tsc_logsink *k, struct srun *r, struct srow *w,
                       const struct tsc_logbatch *b, uint8_t *p)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct tsc_logrec *x = &b->records[i];
        const struct hole *h = x->seq <= w->delivered ? hole_find(w, x->seq) : NULL;
        if (h == NULL)
            continue;
        uint64_t next = h->next;
        if (!hole_take(w, x->seq))
            continue;
        struct tsc_logsink_write *o = &k->writes[k->n_writes++];
        o->run = r->id;
        o->index = r->next_index++;
        o->rec = copy_rec(p, x);
        p += rec_bytes(x);
        if (r->m != NULL)
            r->shift++;
        struct tsc_logmerge_error *e = &k->errors[k->n_errors++];
        memset(e, 0, sizeof *e);
        e->kind = TSC_LOGMERGE_LATE;
        e->a_node = e->b_node = w->node;
        e->a_seq = x->seq;
        e->b_seq = next;
        e->run = r->id;
        r->n_errors++;
        mark(k, r, w);
    }
}

static int on_batch(struct tsc_logsink *k, const struct tsc_logbatch *b)
{
    if (b == NULL || b->run == 0 || b->node == 0 || (b->n > 0 && b->records == NULL))
        return TSC_EINVAL;
    for (size_t i = 0; i < b->n; i++)
        if (b->records[i].node != b->node || b->records[i].run != b->run)
            return TSC_EINVAL;
    struct srun *r;
    struct srow *w;
    int rc;
    if ((rc = run_get(k, b->run, &r)) != 0 || (rc = row_get(k, r, b->node, &w)) != 0 ||
        grow((void **)&k->acks, &k->cap_acks, k->n_acks + 1, sizeof *k->acks) != 0 ||
        reserve_dirty(k, 1) != 0)
        return rc ? rc : TSC_ENOMEM;

    int beyond = 0;
    uint64_t resends = 0;
    size_t n_own = 0, n_fill = 0, fill_bytes = 0;
    for (size_t i = 0; i < b->n; i++) {
        const struct tsc_logrec *x = &b->records[i];
        if (x->seq > w->delivered) {
            beyond = 1;
        } else if (hole_find(w, x->seq) != NULL) {
            n_fill++;
            fill_bytes += rec_bytes(x);
        } else {
            resends++;
        }
        n_own += sinks_own(w, x);
    }
    if (r->state != RUN_ACTIVE && beyond && (rc = open_run(k, r)) != 0)
        return rc;
    if (r->state == RUN_ACTIVE && r->m == NULL && (rc = open_run(k, r)) != 0)
        return rc;
    w = row_find(r, b->node);
    /* What the merge gets: decided before the fillers leave their holes. */
    const struct tsc_logrec *recs = b->records;
    size_t n = b->n;
    if (n_own > 0 && r->m != NULL) {
        if (grow((void **)&k->scratch, &k->cap_scratch, b->n, sizeof *k->scratch) != 0)
            return TSC_ENOMEM;
        n = 0;
        for (size_t i = 0; i < b->n; i++)
            if (!sinks_own(w, &b->records[i]))
                k->scratch[n++] = b->records[i];
        recs = k->scratch;
    }
    /* The hole fillers first: if the merge step then fails, they are
     * stored anyway (the update goes out) and the batch comes again. */
    if (n_fill > 0) {
        uint8_t *p;
        if (grow((void **)&k->writes, &k->cap_writes, k->n_writes + n_fill, sizeof *k->writes) !=
                0 ||
            grow((void **)&k->errors, &k->cap_errors, k->n_errors + n_fill, sizeof *k->errors) !=
                0 ||
            arena_reserve(k, fill_bytes, &p) != 0)
            return TSC_ENOMEM;
        fill_holes(k, r, w, b, p);
    }
    if (r->m != NULL) {
        rc = merge_step(k, r, TSC_LOGMERGE_EV_BATCH, b->node, recs, n, &b->watermark, b->promise);
        if (rc != 0)
            return rc;
    }

    /* Applied: from here on nothing fails. */
    k->st.batches++;
    k->st.records += b->n;
    k->st.resends += resends;
    if (b->n == 0)
        k->st.probes++;
    w = row_find(r, b->node);
    w->heard = 1;
    w->epoch = b->epoch;
    /* A node still delivering new records after RUN_END is behind (a loaded
     * coordinator shed its batches, its retries back off), not silent: the
     * wait restarts, so its records are merged in order rather than after
     * a forced end. Heartbeats do not count, so an agent that never ends
     * its stream cannot hold the run open. */
    if (beyond && !w->done && r->end_at != TSC_TIME_NEVER && k->now > r->end_at)
        r->end_at = k->now;
    if (b->promise > r->lamport)
        r->lamport = b->promise;
    for (size_t i = 0; i < b->n; i++)
        if (b->records[i].lamport > r->lamport)
            r->lamport = b->records[i].lamport;
    if (b->done && !w->done) {
        uint64_t seq = tsc_vclock_get(&b->watermark, b->node);
        w->done = 1;
        w->done_seq = seq > w->delivered ? seq : w->delivered;
        mark(k, r, w);
        if (r->m != NULL && merge_done(k, r, w, seq, b->promise) != 0) {
            w->done_pending = 1;
            w->dp_seq = seq;
            w->dp_promise = b->promise;
        }
    }
    if (b->n == 0 || row_settled(w))
        add_ack(k, r, w);
    else
        w->ack_want = 1;
    check_finish(k, r);
    set_active(k, r);
    return 0;
}

/* RUN_END's wait is over: the silent nodes are done, the merge flushed. */
static int end_run(struct tsc_logsink *k, struct srun *r)
{
    int rc;
    if ((rc = reserve_dirty(k, r->n_rows)) != 0)
        return rc;
    for (size_t i = 0; i < r->n_rows; i++) {
        struct srow *w = &r->rows[i];
        if (w->done && !w->done_pending)
            continue;
        if (r->m != NULL && (rc = merge_done(k, r, w, 0, 0)) != 0)
            return rc;
        w->done = 1;
        w->done_pending = 0;
        mark(k, r, w);
    }
    if (r->m != NULL && (rc = merge_step(k, r, TSC_LOGMERGE_EV_FLUSH, 0, NULL, 0, NULL, 0)) != 0)
        return rc;
    r->forced = 1;
    r->end_at = TSC_TIME_NEVER;
    return 0;
}

/* Deadlines of r: the merge's, RUN_END's, retries. */
static void run_tick(struct tsc_logsink *k, struct srun *r)
{
    int rc = 0;
    r->retry = 0;
    if (r->m != NULL && k->now >= r->deadline)
        rc = merge_step(k, r, TSC_LOGMERGE_EV_TICK, 0, NULL, 0, NULL, 0);
    for (size_t i = 0; rc == 0 && i < r->n_rows; i++) {
        struct srow *w = &r->rows[i];
        if (!w->done_pending)
            continue;
        if (r->m == NULL || (rc = merge_done(k, r, w, w->dp_seq, w->dp_promise)) == 0)
            w->done_pending = 0;
    }
    if (rc == 0 && r->end_at != TSC_TIME_NEVER && k->now >= sat_add(r->end_at, k->cfg.run_end_wait))
        rc = end_run(k, r);
    if (rc != 0)
        r->retry = 1;
    check_finish(k, r);
    set_active(k, r);
}

static int on_tick(struct tsc_logsink *k)
{
    for (size_t i = 0; i < k->n_active;) {
        struct srun *r = k->active[i];
        run_tick(k, r);
        if (i < k->n_active && k->active[i] == r)
            i++;
    }
    return 0;
}

static int on_nodes(struct tsc_logsink *k, const struct tsc_logsink_event *ev)
{
    if (ev->run == 0 || (ev->n_nodes > 0 && ev->nodes == NULL))
        return TSC_EINVAL;
    for (size_t i = 0; i < ev->n_nodes; i++)
        if (ev->nodes[i] == 0)
            return TSC_EINVAL;
    struct srun *r;
    int rc = run_get(k, ev->run, &r);
    for (size_t i = 0; rc == 0 && i < ev->n_nodes; i++) {
        struct srow *w;
        if (row_find(r, ev->nodes[i]) != NULL)
            continue;
        if ((rc = row_get(k, r, ev->nodes[i], &w)) != 0)
            break;
        /* A node the open merge does not know yet blocks it from now on. */
        if (r->m != NULL)
            rc = merge_step(k, r, TSC_LOGMERGE_EV_BATCH, ev->nodes[i], NULL, 0, NULL, 0);
    }
    return rc;
}

static int on_run_end(struct tsc_logsink *k, uint64_t run)
{
    struct srun *r;
    if (run == 0)
        return TSC_EINVAL;
    int rc = run_get(k, run, &r);
    if (rc != 0)
        return rc;
    if (r->state == RUN_ACTIVE && r->end_at == TSC_TIME_NEVER && !r->forced) {
        r->end_at = k->now;
        set_active(k, r);
        if (k->cfg.run_end_wait == 0)
            run_tick(k, r);
    }
    return 0;
}

static int on_restore(struct tsc_logsink *k, const struct tsc_logsink_row *row)
{
    if (k->started || row == NULL || row->run == 0 || row->node == 0)
        return TSC_EINVAL;
    struct srun *r;
    struct srow *w;
    int rc;
    if ((rc = run_get(k, row->run, &r)) != 0 || (rc = row_get(k, r, row->node, &w)) != 0)
        return rc;
    k->n_dirty = 0; /* the store has it: nothing to write */
    w->delivered = w->dur_delivered = row->delivered;
    w->n_holes = 0;
    w->ceiling = w->sink_from = 0;
    /* The lowest hole (a stored row is trusted only as far as it is sane). */
    if (row->hole_lo != 0 && row->hole_lo <= row->hole_hi && row->hole_hi <= row->delivered)
        hole_add(w, row->hole_lo, row->hole_hi, row->hole_hi + 1);
    w->sink_from = 0;
    w->dur_have = row_have(w);
    w->last_lamport = row->last_lamport;
    w->last_wall = row->last_wall;
    w->done = w->dur_done = row->done != 0;
    if (row->next_index > r->next_index)
        r->next_index = row->next_index;
    if (row->n_errors > r->n_errors)
        r->n_errors = row->n_errors;
    if (row->last_lamport > r->lamport)
        r->lamport = row->last_lamport;
    if (row->finished)
        r->state = RUN_FINISHED;
    return 0;
}

/* Writes up to token are durable: acks for what they made durable, and the
 * runs whose finishing write it was. */
static int on_durable(struct tsc_logsink *k, uint64_t token)
{
    if (token == 0 || token > k->last_token)
        return TSC_EINVAL;
    size_t n = 0;
    for (size_t i = k->pend_head; i < k->n_pends && k->pends[i].token <= token; i++)
        n += k->pends[i].n;
    if (grow((void **)&k->acks, &k->cap_acks, n, sizeof *k->acks) != 0 ||
        grow((void **)&k->finished, &k->cap_finished, k->n_fin, sizeof *k->finished) != 0)
        return TSC_ENOMEM;
    for (; k->pend_head < k->n_pends && k->pends[k->pend_head].token <= token; k->pend_head++) {
        const struct pend *p = &k->pends[k->pend_head];
        for (size_t i = p->first; i < p->first + p->n; i++) {
            const struct snap *s = &k->snaps[i];
            struct srow *w = row_find(s->run, s->node);
            s->run->inflight--;
            if (w == NULL)
                continue;
            int moved = 0;
            if (s->delivered > w->dur_delivered)
                w->dur_delivered = s->delivered;
            if (s->have > w->dur_have) {
                w->dur_have = s->have;
                moved = 1;
            }
            if (s->done && !w->dur_done) {
                w->dur_done = 1;
                moved = 1;
            }
            if (moved || (w->ack_want && row_settled(w)))
                add_ack(k, s->run, w);
        }
        k->snap_head = p->first + p->n;
    }
    /* Keep the queues at the front: a driver that always has a write in
     * flight never empties them. */
    if (k->pend_head > 0) {
        size_t np = k->n_pends - k->pend_head, ns = k->n_snaps - k->snap_head;
        memmove(k->pends, k->pends + k->pend_head, np * sizeof *k->pends);
        memmove(k->snaps, k->snaps + k->snap_head, ns * sizeof *k->snaps);
        for (size_t i = 0; i < np; i++)
            k->pends[i].first -= k->snap_head;
        k->n_pends = np;
        k->n_snaps = ns;
        k->pend_head = k->snap_head = 0;
    }
    for (size_t i = 0; i < k->n_fin;) {
        struct srun *r = k->fin[i];
        if (r->finish_token != 0 && r->finish_token <= token) {
            r->state = RUN_FINISHED;
            k->finished[k->n_finished++] = r->id;
            k->st.finishes++;
            list_del(k->fin, &k->n_fin, r);
        } else {
            i++;
        }
    }
    return 0;
}

/* ---- the update ----------------------------------------------------------------- */

static void build(struct tsc_logsink *k, struct tsc_logsink_update *up)
{
    size_t n_rows = 0;
    if (k->n_writes > 0 || k->n_errors > 0 || k->n_dirty > 0) {
        uint64_t token = ++k->last_token;
        struct pend *p = &k->pends[k->n_pends++];
        p->token = token;
        p->first = k->n_snaps;
        for (size_t i = 0; i < k->n_dirty; i++) {
            struct srun *r = k->dirty[i].run;
            const struct srow *w = row_find(r, k->dirty[i].node);
            if (w == NULL)
                continue;
            struct tsc_logsink_row *o = &k->rows[n_rows++];
            o->run = r->id;
            o->node = w->node;
            o->delivered = w->delivered;
            o->last_lamport = w->last_lamport;
            o->last_wall = w->last_wall;
            o->next_index = r->next_index;
            o->n_errors = r->n_errors;
            o->hole_lo = w->n_holes > 0 ? w->holes[0].lo : 0;
            o->hole_hi = w->n_holes > 0 ? w->holes[0].hi : 0;
            /* A stored row says done only once every record up to the
             * node's DONE is merged: a restored merge treats a done node as
             * complete and would let later records overtake missing ones;
             * and, unless the run was forced to its end, none is missing
             * in a hole (the ack's done says "nothing more to send"). */
            uint64_t have = row_have(w);
            o->done = w->done && !w->done_pending &&
                      (r->forced || (w->delivered >= w->done_seq && have >= w->delivered));
            o->finished = r->state != RUN_ACTIVE;
            struct snap *s = &k->snaps[k->n_snaps++]; /* reserved with the dirty rows */
            s->run = r;
            s->node = w->node;
            s->delivered = w->delivered;
            s->have = have;
            s->done = o->done;
            r->inflight++;
        }
        p->n = k->n_snaps - p->first;
        up->token = token;
        k->st.writes++;
    }
    for (size_t i = 0; i < k->n_fin;) {
        struct srun *r = k->fin[i];
        if (r->finish_token == 0 && up->token != 0) {
            r->finish_token = up->token;
        } else if (r->finish_token == 0) { /* nothing to write: a run without rows */
            if (k->n_finished < k->cap_finished ||
                grow((void **)&k->finished, &k->cap_finished, k->n_finished + 1,
                     sizeof *k->finished) == 0) {
                r->state = RUN_FINISHED;
                k->finished[k->n_finished++] = r->id;
                k->st.finishes++;
                list_del(k->fin, &k->n_fin, r);
                continue;
            }
        }
        i++;
    }
    up->writes = k->writes;
    up->n_writes = k->n_writes;
    up->errors = k->errors;
    up->n_errors = k->n_errors;
    up->rows = k->rows;
    up->n_rows = n_rows;
    up->acks = k->acks;
    up->n_acks = k->n_acks;
    up->finished = k->finished;
    up->n_finished = k->n_finished;
    uint64_t d = TSC_TIME_NEVER;
    for (size_t i = 0; i < k->n_active; i++) {
        const struct srun *r = k->active[i];
        if (r->retry)
            d = k->now;
        for (size_t j = 0; j < r->n_rows && d > k->now; j++)
            if (r->rows[j].done_pending)
                d = k->now;
        if (r->m != NULL && r->deadline < d)
            d = r->deadline;
        if (r->end_at != TSC_TIME_NEVER && sat_add(r->end_at, k->cfg.run_end_wait) < d)
            d = sat_add(r->end_at, k->cfg.run_end_wait);
    }
    up->next_deadline = d;
}

int tsc_logsink_step(struct tsc_logsink *k, const struct tsc_logsink_event *ev,
                     struct tsc_logsink_update *up)
{
    if (up != NULL) {
        memset(up, 0, sizeof *up);
        up->next_deadline = TSC_TIME_NEVER;
    }
    if (k == NULL || ev == NULL || up == NULL)
        return TSC_EINVAL;
    free_dead(k);
    /* The write's queue entry now: build() must not fail once a merge released. */
    if (grow((void **)&k->pends, &k->cap_pends, k->n_pends + 1, sizeof *k->pends) != 0)
        return TSC_ENOMEM;
    k->stamp++;
    k->n_writes = k->n_errors = k->n_dirty = k->n_acks = k->n_finished = 0;
    k->cur_block = 0;
    for (size_t i = 0; i < k->n_blocks; i++)
        k->blocks[i].used = 0;
    if (ev->now > k->now)
        k->now = ev->now;
    int rc;
    switch (ev->type) {
    case TSC_LOGSINK_EV_RESTORE:
        rc = on_restore(k, ev->row);
        k->n_dirty = 0;
        if (rc == 0)
            build(k, up);
        return rc;
    case TSC_LOGSINK_EV_TICK:
        rc = on_tick(k);
        break;
    case TSC_LOGSINK_EV_BATCH:
        rc = on_batch(k, ev->batch);
        break;
    case TSC_LOGSINK_EV_DURABLE:
        rc = on_durable(k, ev->token);
        break;
    case TSC_LOGSINK_EV_NODES:
        rc = on_nodes(k, ev);
        break;
    case TSC_LOGSINK_EV_RUN_END:
        rc = on_run_end(k, ev->run);
        break;
    default:
        rc = TSC_EINVAL;
    }
    k->started = 1;
    /* A step that failed after something was released (the oldest run
     * finished to make room, then the new merge could not open) must still
     * hand that over: the update is returned with 0 and the event simply
     * had no effect of its own (a batch is not acknowledged and comes
     * again). */
    int something = k->n_writes > 0 || k->n_errors > 0 || k->n_dirty > 0;
    build(k, up);
    return rc == TSC_ENOMEM && something ? 0 : rc;
}

int tsc_logsink_run(const struct tsc_logsink *k, uint64_t run, struct tsc_logsink_run *out)
{
    const struct srun *r = k != NULL ? run_find(k, run) : NULL;
    if (r == NULL || out == NULL)
        return TSC_ENOTFOUND;
    memset(out, 0, sizeof *out);
    out->run = r->id;
    out->merged = r->next_index - 1;
    out->errors = r->n_errors;
    out->nodes = r->n_rows;
    for (size_t i = 0; i < r->n_rows; i++)
        out->done_nodes += r->rows[i].done != 0;
    out->open = r->m != NULL;
    out->finished = r->state == RUN_FINISHED;
    return 0;
}
