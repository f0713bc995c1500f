/* tsc — the causal merge of log records (merge.h): arrival, the release
 * rule, forced releases, and the reports of records out of sequence.
 *
 * Readings of merge.h that the code commits to:
 *  - NODE_DONE with a watermark: records up to its count may still be on
 *    their way, so the node blocks until those are released (the watermark
 *    rule then says it never will again); without one it never blocks.
 *  - Each problem is reported once: MISSING_PAST and SKEW look only at the
 *    clock entries that grew since the node's previous record (its new
 *    causal dependencies, i.e. a receive), one report of each per record.
 *  - LATE names the largest key released so far. A late record after a gap
 *    of its node reports that GAP at once; one whose seq a GAP passed over
 *    is LATE, not a duplicate. A resend older than the node's history is
 *    counted as a resend (nothing is left to compare it with).
 *  - FLUSH releases are not "forced" in the statistics.
 *
 * Memory. A batch's records are validated and copied, and every array the
 * step may need is reserved, before anything changes: TSC_ENOMEM then
 * leaves the engine as it was. Releases after that can only ask for more
 * room in the update's arrays (when an earlier step's reservations do not
 * cover a TICK); if that fails the release is put off, the step still
 * succeeds and its next_deadline is now (a FLUSH goes on at the next step). */
#include <string.h>

#include "common/alloc.h"
#include "logsync/merge_internal.h"

void tsc_logmerge_config_default(struct tsc_logmerge_config *c)
{
    c->max_wait = TSC_SEC(5);
    c->gap_wait = TSC_SEC(2);
    c->max_records = 1000000;
    c->max_bytes = (size_t)64 << 20;
    c->skew_tolerance = TSC_MSEC(1);
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int tsc_logmerge_new(struct tsc_logmerge **out, const struct tsc_logmerge_config *cfg,
                     const uint64_t *nodes, size_t n_nodes, char *errmsg)
{
    if (out == NULL || (n_nodes > 0 && nodes == NULL)) {
        tsc_errmsg_setf(errmsg, "logmerge: no output or no node list");
        return TSC_EINVAL;
    }
    *out = NULL;
    if (n_nodes > TSC__LM_MAX_NODES) {
        tsc_errmsg_setf(errmsg, "logmerge: %zu nodes, at most %u", n_nodes,
                        (unsigned)TSC__LM_MAX_NODES);
        return TSC_EINVAL;
    }
    for (size_t i = 0; i < n_nodes; i++) {
        if (nodes[i] == 0) {
            tsc_errmsg_setf(errmsg, "logmerge: node id 0 at position %zu", i);
            return TSC_EINVAL;
        }
    }
    struct tsc_logmerge *m = tsc_calloc(1, sizeof *m);
    if (m == NULL)
        goto nomem;
    if (cfg != NULL)
        m->cfg = *cfg;
    else
        tsc_logmerge_config_default(&m->cfg);
    if (tsc__lm_nodes_reserve(m, n_nodes > 0 ? n_nodes : 8) != 0)
        goto nomem;
    for (size_t i = 0; i < n_nodes; i++)
        tsc__lm_node_add(m, nodes[i]);
    *out = m;
    return 0;
nomem:
    tsc_logmerge_free(m);
    tsc_errmsg_setf(errmsg, "logmerge: out of memory");
    return TSC_ENOMEM;
}

static struct tsc__lm_rec *rec_of(const struct tsc_logrec *x)
{
    /* rec is the first member of struct tsc__lm_rec. */
    return (struct tsc__lm_rec *)(uintptr_t)x;
}

/* The previous step's records: the update promised them until now. */
static void free_out(struct tsc_logmerge *m)
{
    for (size_t i = 0; i < m->n_out; i++)
        tsc__lm_rec_free(m, rec_of(m->out[i].rec));
    m->n_out = 0;
    m->n_err = 0;
}

void tsc_logmerge_free(struct tsc_logmerge *m)
{
    if (m == NULL)
        return;
    free_out(m);
    for (struct tsc__lm_rec *r = m->oldest, *next; r != NULL; r = next) {
        next = r->newer;
        tsc__lm_rec_free(m, r);
    }
    tsc__lm_pool_drain(m);
    for (size_t i = 0; i < m->n_nodes; i++) {
        tsc_free(m->nodes[i].hist);
        tsc_vclock_free(&m->nodes[i].last_clock);
    }
    tsc_free(m->nodes);
    tsc_free(m->by_id);
    tsc_free(m->block);
    tsc_free(m->runs);
    tsc_free(m->heap);
    tsc_free(m->out);
    tsc_free(m->err);
    tsc_free(m->pending);
    tsc_free(m);
}

const struct tsc_logmerge_stats *tsc_logmerge_stats(const struct tsc_logmerge *m)
{
    return &m->st;
}

/* ---- the update ---------------------------------------------------------------- */

static void add_err(struct tsc_logmerge *m, int kind, const struct tsc_logrec *a, uint64_t b_node,
                    uint64_t b_seq, int64_t skew)
{
    m->st.errors[kind]++;
    if (m->n_err >= m->cap_err) /* reserved before; never reached */
        return;
    struct tsc_logmerge_error *e = &m->err[m->n_err++];
    e->kind = kind;
    e->a_node = a->node;
    e->a_seq = a->seq;
    e->b_node = b_node;
    e->b_seq = b_seq;
    e->run = a->run;
    e->skew_us = skew;
}

/* Room for one more release and its errors (at most four). */
static int room(struct tsc_logmerge *m)
{
    if (tsc__lm_grow((void **)&m->out, &m->cap_out, m->n_out + 1, sizeof *m->out) != 0 ||
        tsc__lm_grow((void **)&m->err, &m->cap_err, m->n_err + 4, sizeof *m->err) != 0)
        return TSC_ENOMEM;
    return 0;
}

/* The wall clock of node n's record seq, if still known. */
static int wall_of(const struct tsc__lm_node *n, uint64_t seq, uint64_t *wall)
{
    struct tsc__lm_hist h;
    if (n->last_seq != 0 && n->last_seq == seq) {
        *wall = n->last_wall;
        return 1;
    }
    if (tsc__lm_hist_get(n, seq, &h) == 1) {
        *wall = h.wall;
        return 1;
    }
    return 0;
}

/* MISSING_PAST and SKEW for x, about to be released. Only the entries that
 * grew since the node's previous record (a receive) are new causal
 * dependencies: the others were checked with that record, and checking them
 * again would repeat one problem for every later record of the node. */
static void check_past(struct tsc_logmerge *m, const struct tsc_logrec *x,
                       const struct tsc__lm_node *n)
{
    const struct tsc_vclock *c = &x->clock;
    const struct tsc_vclock *prev =
        n->last_clock_ok && n->last_seq == x->seq - 1 ? &n->last_clock : NULL;
    uint64_t worst = 0, w_node = 0, w_seq = 0, wall;
    int missing = 0;
    size_t j = 0;

    if (x->seq > 1 && wall_of(n, x->seq - 1, &wall) && wall > x->wall_us) {
        worst = wall - x->wall_us;
        w_node = x->node;
        w_seq = x->seq - 1;
    }
    for (size_t i = 0; i < c->n; i++) {
        const struct tsc_vclock_entry *e = &c->e[i];
        if (e->node == x->node)
            continue;
        if (prev != NULL) {
            while (j < prev->n && prev->e[j].node < e->node)
                j++;
            if (j < prev->n && prev->e[j].node == e->node && prev->e[j].count >= e->count)
                continue;
        }
        size_t k = tsc__lm_node_find(m, e->node);
        uint64_t delivered = k == TSC__LM_NONE ? 0 : m->nodes[k].delivered;
        if (!missing && delivered < e->count) {
            add_err(m, TSC_LOGMERGE_MISSING_PAST, x, e->node, e->count, 0);
            missing = 1;
        }
        if (k != TSC__LM_NONE && wall_of(&m->nodes[k], e->count, &wall) && wall > x->wall_us &&
            wall - x->wall_us > worst) {
            worst = wall - x->wall_us;
            w_node = e->node;
            w_seq = e->count;
        }
    }
    if (worst > m->cfg.skew_tolerance)
        add_err(m, TSC_LOGMERGE_SKEW, x, w_node, w_seq,
                worst > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)worst);
}

/* Hand r to the update (room() reserved); r is in no buffer structure any
 * more. late: it arrived after a larger key was released. */
static void release(struct tsc_logmerge *m, struct tsc__lm_rec *r, int late)
{
    struct tsc__lm_node *n = &m->nodes[r->node];
    const struct tsc_logrec *x = &r->rec;

    if (x->seq - 1 > n->delivered)
        add_err(m, TSC_LOGMERGE_GAP, x, n->delivered ? x->node : 0, n->delivered, 0);
    else if (x->seq <= n->delivered)
        late = 1; /* passed over by a gap, or its node's keys do not grow */
    if (late)
        add_err(m, TSC_LOGMERGE_LATE, x, m->have_max ? m->max_node : 0,
                m->have_max ? m->max_seq : 0, 0);
    check_past(m, x, n);

    if (x->seq > n->delivered)
        n->delivered = x->seq;
    if (r->key > n->last_key)
        n->last_key = r->key;
    if (x->seq > n->last_seq) {
        n->last_seq = x->seq;
        n->last_wall = x->wall_us;
        n->last_clock_ok = tsc_vclock_copy(&n->last_clock, &x->clock) == 0;
    }
    tsc__lm_hist_put(n, x->seq, r->hash, x->wall_us);
    if (!m->have_max ||
        tsc__lm_key_less(m->max_key, m->max_node, m->max_seq, r->key, x->node, x->seq)) {
        m->have_max = 1;
        m->max_key = r->key;
        m->max_node = x->node;
        m->max_seq = x->seq;
    }
    m->st.released++;
    m->out[m->n_out].index = m->index_base + m->st.released;
    m->out[m->n_out].rec = x;
    m->n_out++;
    tsc__lm_node_refresh(m, r->node);
}

/* ---- the buffer ------------------------------------------------------------------ */

static void buffer(struct tsc_logmerge *m, struct tsc__lm_rec *r)
{
    struct tsc__lm_node *n = &m->nodes[r->node];
    tsc__lm_keys_push(m, r);
    tsc__lm_treap_insert(m, r);
    r->older = m->newest;
    r->newer = NULL;
    if (m->newest != NULL)
        m->newest->newer = r;
    else
        m->oldest = r;
    m->newest = r;
    n->count++;
    if (n->min == NULL || r->rec.seq < n->min->rec.seq)
        n->min = r;
    if (r->rec.seq > n->max_seq)
        n->max_seq = r->rec.seq;
    m->st.buffered++;
    m->st.buffered_bytes += r->bytes;
    tsc__lm_node_refresh(m, r->node);
}

/* Take r (just popped from the key heap) out of the other structures. */
static void unbuffer(struct tsc_logmerge *m, struct tsc__lm_rec *r)
{
    struct tsc__lm_node *n = &m->nodes[r->node];
    struct tsc__lm_rec *next = tsc__lm_treap_erase(m, r);
    if (r->older != NULL)
        r->older->newer = r->newer;
    else
        m->oldest = r->newer;
    if (r->newer != NULL)
        r->newer->older = r->older;
    else
        m->newest = r->older;
    n->count--;
    if (n->count == 0) {
        n->min = NULL;
        n->max_seq = 0;
    } else if (n->min == r) {
        n->min = next; /* of the same node: r was its smallest, others remain */
    }
    m->st.buffered--;
    m->st.buffered_bytes -= r->bytes;
}

/* A record of a batch, copied, its node known. */
static void arrive(struct tsc_logmerge *m, struct tsc__lm_rec *r)
{
    struct tsc__lm_node *n = &m->nodes[r->node];
    const struct tsc_logrec *x = &r->rec;
    struct tsc__lm_rec *old = NULL;
    struct tsc__lm_hist h;
    int same;

    if (x->seq <= n->delivered) {
        int got = tsc__lm_hist_get(n, x->seq, &h);
        if (got == 0) { /* skipped by a gap: it is late, not a copy */
            release(m, r, 1);
            return;
        }
        /* Forgotten (older than the history): most likely a resend after a
         * failover, and nothing is left to compare it with. */
        same = got < 0 || h.hash == r->hash;
    } else if (x->seq <= n->max_seq && (old = tsc__lm_treap_find(m, x->node, x->seq)) != NULL) {
        same = tsc__lm_rec_same(old, r);
    } else if (m->have_max &&
               tsc__lm_key_less(r->key, x->node, x->seq, m->max_key, m->max_node, m->max_seq)) {
        release(m, r, 1);
        return;
    } else {
        buffer(m, r);
        return;
    }
    if (same)
        m->st.resends++;
    else
        add_err(m, TSC_LOGMERGE_DUPLICATE, x, x->node, x->seq, 0);
    tsc__lm_rec_free(m, r);
}

/* ---- events -------------------------------------------------------------------- */

int tsc_logmerge_restore(struct tsc_logmerge *m, uint64_t node, uint64_t delivered,
                         uint64_t last_lamport, uint64_t last_wall, uint64_t next_index)
{
    if (m == NULL || node == 0 || m->stepped)
        return TSC_EINVAL;
    if (tsc__lm_nodes_reserve(m, 1) != 0)
        return TSC_ENOMEM;
    size_t k = tsc__lm_node_find(m, node);
    if (k == TSC__LM_NONE)
        k = tsc__lm_node_add(m, node);
    if (k == TSC__LM_NONE)
        return TSC_EINVAL;
    struct tsc__lm_node *n = &m->nodes[k];
    if (delivered > n->delivered) {
        n->delivered = delivered;
        n->restored = delivered;
        n->last_seq = delivered;
        n->last_wall = last_wall;
        n->last_clock_ok = 0; /* not known: no SKEW/MISSING_PAST about it */
    }
    if (last_lamport > n->last_key)
        n->last_key = last_lamport;
    if (next_index > 0 && next_index - 1 > m->index_base)
        m->index_base = next_index - 1;
    if (delivered > 0 && (!m->have_max || tsc__lm_key_less(m->max_key, m->max_node, m->max_seq,
                                                           last_lamport, node, delivered))) {
        m->have_max = 1;
        m->max_key = last_lamport;
        m->max_node = node;
        m->max_seq = delivered;
    }
    tsc__lm_node_refresh(m, k);
    return 0;
}

static void apply_watermark(struct tsc_logmerge *m, size_t k, const struct tsc_vclock *wm,
                            uint64_t promise)
{
    struct tsc__lm_node *n = &m->nodes[k];
    uint64_t seq = tsc_vclock_get(wm, n->id);
    if (!n->has_wm || seq > n->wm_seq || (seq == n->wm_seq && promise > n->wm_key)) {
        /* The promise being replaced stays true once its sequence is
         * released: keep it as a floor, or a newer watermark whose records
         * are still in flight would lower the node's bound. */
        if (n->has_wm && n->delivered >= n->wm_seq && n->wm_key > n->last_key)
            n->last_key = n->wm_key;
        n->has_wm = 1;
        n->wm_seq = seq;
        n->wm_key = promise;
    }
    tsc__lm_node_refresh(m, k);
}

static void free_pending(struct tsc_logmerge *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tsc__lm_rec_free(m, m->pending[i]);
        m->pending[i] = NULL;
    }
}

/* Everything a batch may need, before any change: the copies first (one
 * pass validates and copies), then the room for what they may release. */
static int prepare_batch(struct tsc_logmerge *m, const struct tsc_logmerge_event *ev)
{
    size_t n = ev->n_records, valid = 0, unknown = 0;
    uint64_t seen = ev->node; /* batches are mostly the sender's own records */
    if (tsc__lm_grow((void **)&m->pending, &m->cap_pending, n, sizeof *m->pending) != 0)
        return TSC_ENOMEM;
    if (tsc__lm_node_find(m, ev->node) == TSC__LM_NONE)
        unknown++;
    for (size_t i = 0; i < n; i++) {
        const struct tsc_logrec *x = &ev->records[i];
        m->pending[i] = NULL;
        if (!tsc__lm_rec_valid(x))
            continue;
        if ((m->pending[i] = tsc__lm_rec_copy(m, x, valid == 0)) == NULL) {
            free_pending(m, i);
            return TSC_ENOMEM;
        }
        valid++;
        if (x->node != seen && tsc__lm_node_find(m, x->node) == TSC__LM_NONE)
            unknown++;
    }
    size_t most = (size_t)m->st.buffered + valid; /* released by this step, at most */
    if (tsc__lm_nodes_reserve(m, unknown) != 0 ||
        tsc__lm_grow((void **)&m->heap, &m->cap_heap, most, sizeof *m->heap) != 0 ||
        tsc__lm_grow((void **)&m->out, &m->cap_out, most, sizeof *m->out) != 0 ||
        tsc__lm_grow((void **)&m->err, &m->cap_err, 4 * valid + 4, sizeof *m->err) != 0) {
        free_pending(m, n);
        return TSC_ENOMEM;
    }
    return 0;
}

static void commit_batch(struct tsc_logmerge *m, const struct tsc_logmerge_event *ev)
{
    size_t s = tsc__lm_node_add(m, ev->node);
    if (s != TSC__LM_NONE && ev->watermark != NULL)
        apply_watermark(m, s, ev->watermark, ev->promise);
    for (size_t i = 0; i < ev->n_records; i++) {
        struct tsc__lm_rec *r = m->pending[i];
        m->pending[i] = NULL;
        m->st.received++;
        size_t k = r != NULL ? tsc__lm_node_add(m, r->rec.node) : TSC__LM_NONE;
        if (k == TSC__LM_NONE) {
            m->st.malformed++;
            tsc__lm_rec_free(m, r);
            continue;
        }
        r->node = (uint32_t)k;
        r->arrival = m->now;
        arrive(m, r);
    }
}

static void node_done(struct tsc_logmerge *m, const struct tsc_logmerge_event *ev)
{
    size_t k = tsc__lm_node_add(m, ev->node);
    if (k == TSC__LM_NONE)
        return;
    if (ev->watermark != NULL)
        apply_watermark(m, k, ev->watermark, ev->promise);
    /* Records up to the final watermark may still be on their way. */
    m->nodes[k].done = 1;
    m->nodes[k].done_seq = ev->watermark != NULL ? tsc_vclock_get(ev->watermark, ev->node) : 0;
    tsc__lm_node_refresh(m, k);
}

/* ---- releasing ------------------------------------------------------------------ */

/* GAPs that waited gap_wait: report, and pass over the missing seqs. */
static void expire_gaps(struct tsc_logmerge *m)
{
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct tsc__lm_node *n = &m->nodes[i];
        if (n->gap_since == TSC_TIME_NEVER || m->now - n->gap_since < m->cfg.gap_wait)
            continue;
        if (n->count == 0 || n->min->rec.seq - 1 <= n->delivered) {
            n->gap_since = TSC_TIME_NEVER;
            continue;
        }
        if (room(m) != 0) {
            m->deferred = 1;
            return;
        }
        add_err(m, TSC_LOGMERGE_GAP, &n->min->rec, n->delivered ? n->id : 0, n->delivered, 0);
        n->delivered = n->min->rec.seq - 1;
        n->gap_since = TSC_TIME_NEVER;
        tsc__lm_node_refresh(m, i);
    }
}

/* Start the gap timers of nodes that have a gap; 1 if one is already due. */
static int gap_timers(struct tsc_logmerge *m)
{
    int due = 0;
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct tsc__lm_node *n = &m->nodes[i];
        if (n->count == 0 || n->min->rec.seq - 1 <= n->delivered) {
            n->gap_since = TSC_TIME_NEVER;
            continue;
        }
        if (n->gap_since == TSC_TIME_NEVER)
            n->gap_since = m->now;
        if (m->now - n->gap_since >= m->cfg.gap_wait)
            due = 1;
    }
    return due;
}

static int must_force(const struct tsc_logmerge *m)
{
    return m->st.buffered > m->cfg.max_records || m->st.buffered_bytes > m->cfg.max_bytes ||
           (m->oldest != NULL && m->now - m->oldest->arrival >= m->cfg.max_wait);
}

/* Release every record the rule allows, and those max_wait, the memory
 * bound or a FLUSH force out (always the smallest key first). */
static void settle(struct tsc_logmerge *m, int flush)
{
    for (;;) {
        expire_gaps(m);
        struct tsc__lm_rec *t;
        while (!m->deferred && (t = tsc__lm_keys_peek(m)) != NULL) {
            const struct tsc__lm_node *n = &m->nodes[t->node];
            int ready = t->rec.seq - 1 <= n->delivered;
            if (ready && m->n_block > 0) {
                const struct tsc__lm_node *b = &m->nodes[m->block[0]];
                ready = t->key < b->bound || (t->key == b->bound && t->rec.node < b->id);
            }
            int forced = 0;
            if (!ready) {
                if (!flush && !must_force(m))
                    break;
                forced = !flush;
            }
            if (room(m) != 0) {
                m->deferred = 1;
                break;
            }
            struct tsc__lm_rec *r = tsc__lm_keys_pop(m);
            unbuffer(m, r);
            release(m, r, 0);
            m->st.forced += (uint64_t)forced;
        }
        if (m->deferred || !gap_timers(m))
            return;
    }
}

static void fill(const struct tsc_logmerge *m, struct tsc_logmerge_update *up)
{
    uint64_t d = TSC_TIME_NEVER;
    if (m->deferred) {
        d = m->now;
    } else {
        if (m->oldest != NULL)
            d = sat_add(m->oldest->arrival, m->cfg.max_wait);
        for (size_t i = 0; i < m->n_nodes; i++) {
            const struct tsc__lm_node *n = &m->nodes[i];
            if (n->gap_since != TSC_TIME_NEVER && sat_add(n->gap_since, m->cfg.gap_wait) < d)
                d = sat_add(n->gap_since, m->cfg.gap_wait);
        }
    }
    up->released = m->out;
    up->n_released = m->n_out;
    up->errors = m->err;
    up->n_errors = m->n_err;
    up->next_deadline = d;
}

int tsc_logmerge_step(struct tsc_logmerge *m, const struct tsc_logmerge_event *ev,
                      struct tsc_logmerge_update *up)
{
    int rc = 0;
    if (up != NULL) {
        memset(up, 0, sizeof *up);
        up->next_deadline = TSC_TIME_NEVER;
    }
    if (m == NULL || ev == NULL || up == NULL)
        return TSC_EINVAL;
    free_out(m);
    m->deferred = 0;
    m->stepped = 1;
    switch (ev->type) {
    case TSC_LOGMERGE_EV_TICK:
    case TSC_LOGMERGE_EV_FLUSH:
        break;
    case TSC_LOGMERGE_EV_BATCH:
        if (ev->node == 0 || (ev->n_records > 0 && ev->records == NULL))
            rc = TSC_EINVAL;
        else
            rc = prepare_batch(m, ev);
        break;
    case TSC_LOGMERGE_EV_NODE_DONE:
        rc = ev->node == 0 ? TSC_EINVAL : tsc__lm_nodes_reserve(m, 1);
        break;
    default:
        rc = TSC_EINVAL;
    }
    if (rc != 0) {
        fill(m, up);
        return rc;
    }
    if (ev->now > m->now) /* time never runs backwards inside the engine */
        m->now = ev->now;
    if (ev->type == TSC_LOGMERGE_EV_BATCH)
        commit_batch(m, ev);
    else if (ev->type == TSC_LOGMERGE_EV_NODE_DONE)
        node_done(m, ev);
    int flush = ev->type == TSC_LOGMERGE_EV_FLUSH || m->flush_pending;
    settle(m, flush);
    m->flush_pending = flush && m->deferred;
    fill(m, up);
    return 0;
}
