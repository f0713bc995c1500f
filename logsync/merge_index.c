/* tsc — the merge engine's indexes (see merge_internal.h; the key order is
 * in merge_keys.c): the treap of buffered records, the node table with its heap of blocking
 * nodes, each node's history of released records; and the engine's copies
 * of records.
 *
 * The treap is intrusive and iterative (split and merge with link
 * pointers): inserting and erasing never allocate and never recurse, so a
 * batch whose memory was reserved up front cannot fail half-way, and no
 * input can exhaust the stack. Priorities are a hash of (node, seq): the
 * shape is deterministic and balanced in expectation whatever the arrival
 * order. */
#include <string.h>

#include "common/alloc.h"
#include "logsync/merge_internal.h"

int tsc__lm_grow(void **p, size_t *cap, size_t need, size_t sz)
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

/* ---- hashing --------------------------------------------------------------- */

static uint64_t fmix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static uint64_t step(uint64_t h, uint64_t v)
{
    h ^= v * 0x9e3779b97f4a7c15ull;
    h = (h << 31) | (h >> 33);
    return h * 0x87c37b91114253d5ull;
}

/* Four independent lanes over 32-byte chunks, so that the multiplies of
 * consecutive words overlap instead of forming one long chain. */
static void lanes(uint64_t l[4], const uint8_t *p, size_t len)
{
    size_t i = 0, k = 0;
    for (; i + 32 <= len; i += 32) {
        uint64_t v[4];
        memcpy(v, p + i, sizeof v);
        l[0] = step(l[0], v[0]);
        l[1] = step(l[1], v[1]);
        l[2] = step(l[2], v[2]);
        l[3] = step(l[3], v[3]);
    }
    for (; i + 8 <= len; i += 8, k++) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        l[k] = step(l[k], v);
    }
    if (i < len) {
        uint64_t v = 0;
        memcpy(&v, p + i, len - i);
        l[3] = step(l[3], v);
    }
}

uint64_t tsc__lm_hash_rec(const struct tsc_logrec *r)
{
    /* Every length is mixed in, so the clock's and the text's bytes cannot
     * shift into each other. */
    uint64_t l[4] = {step(0x6c6f677379636e31ull /* "logsync1" */, r->clock.n),
                     step(0x9e3779b97f4a7c15ull, r->len), step(0x87c37b91114253d5ull, r->lamport),
                     step(0xc4ceb9fe1a85ec53ull, r->wall_us)};
    l[0] = step(l[0], r->run);
    l[1] = step(l[1], ((uint64_t)r->stage << 32) | r->case_index);
    l[2] = step(l[2], r->kind);
    if (r->clock.n > 0)
        lanes(l, (const uint8_t *)r->clock.e, r->clock.n * sizeof *r->clock.e);
    if (r->len > 0)
        lanes(l, r->text, r->len);
    return fmix(step(step(step(l[0], l[1]), l[2]), l[3]));
}

/* ---- records ------------------------------------------------------------------- */

/* What merge.h calls malformed, plus what would break the indexes (an
 * unsorted clock) or the memory bound (an oversized text or clock). */
int tsc__lm_rec_valid(const struct tsc_logrec *x)
{
    const struct tsc_vclock *c = &x->clock;
    int own = 0;
    if (x->node == 0 || x->seq == 0 || x->lamport == 0 || c->n > TSC_VCLOCK_MAX_ENTRIES ||
        (c->n > 0 && !c->e) || x->len > TSC_LOGREC_MAX_TEXT || (x->len > 0 && x->text == NULL))
        return 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->e[i].count == 0 || c->e[i].node == 0 || (i > 0 && c->e[i].node <= c->e[i - 1].node))
            return 0;
        if (c->e[i].node == x->node)
            own = c->e[i].count == x->seq;
    }
    return own;
}

static size_t rec_size(size_t ne, size_t len)
{
    return sizeof(struct tsc__lm_rec) + ne * sizeof(struct tsc_vclock_entry) + (len ? len : 1);
}

/* Pool class of a block of sz bytes (its size is 64 * (class + 1)), or
 * TSC__LM_POOL_CLASSES when too large to pool. */
static size_t pool_class(size_t sz)
{
    size_t c = (sz + 63) / 64;
    return c <= TSC__LM_POOL_CLASSES ? c - 1 : TSC__LM_POOL_CLASSES;
}

/* One allocation: the record, its clock entries, its text. */
struct tsc__lm_rec *tsc__lm_rec_copy(struct tsc_logmerge *m, const struct tsc_logrec *x, int fresh)
{
    size_t ne = x->clock.n, sz = rec_size(ne, x->len), c = pool_class(sz);
    struct tsc__lm_rec *r;
    if (!fresh && c < TSC__LM_POOL_CLASSES && m->pool[c] != NULL) {
        r = m->pool[c];
        memcpy(&m->pool[c], r, sizeof(void *));
        m->pool_bytes -= 64 * (c + 1);
    } else {
        r = tsc_malloc(c < TSC__LM_POOL_CLASSES ? 64 * (c + 1) : sz);
        if (r == NULL)
            return NULL;
    }
    memset(r, 0, sizeof *r);
    struct tsc_vclock_entry *e = (struct tsc_vclock_entry *)(r + 1);
    uint8_t *text = (uint8_t *)(e + ne);
    if (ne > 0)
        memcpy(e, x->clock.e, ne * sizeof *e);
    if (x->len > 0)
        memcpy(text, x->text, x->len);
    r->rec = *x;
    r->rec.clock.e = e;
    r->rec.clock.n = r->rec.clock.cap = ne;
    r->rec.text = text;
    r->key = r->rec.lamport;
    r->hash = tsc__lm_hash_rec(&r->rec);
    r->bytes = x->len + ne * sizeof *e;
    return r;
}

void tsc__lm_rec_free(struct tsc_logmerge *m, struct tsc__lm_rec *r)
{
    if (r == NULL)
        return;
    size_t c = pool_class(rec_size(r->rec.clock.n, r->rec.len));
    if (c < TSC__LM_POOL_CLASSES && m->pool_bytes + 64 * (c + 1) <= TSC__LM_POOL_BYTES) {
        memcpy(r, &m->pool[c], sizeof(void *));
        m->pool[c] = r;
        m->pool_bytes += 64 * (c + 1);
        return;
    }
    tsc_free(r);
}

void tsc__lm_pool_drain(struct tsc_logmerge *m)
{
    for (size_t c = 0; c < TSC__LM_POOL_CLASSES; c++) {
        while (m->pool[c] != NULL) {
            void *b = m->pool[c];
            memcpy(&m->pool[c], b, sizeof(void *));
            tsc_free(b);
        }
    }
    m->pool_bytes = 0;
}

int tsc__lm_rec_same(const struct tsc__lm_rec *a, const struct tsc__lm_rec *b)
{
    const struct tsc_logrec *x = &a->rec, *y = &b->rec;
    return a->hash == b->hash && x->clock.n == y->clock.n &&
           memcmp(x->clock.e, y->clock.e, x->clock.n * sizeof *x->clock.e) == 0 &&
           x->lamport == y->lamport && x->wall_us == y->wall_us && x->run == y->run &&
           x->stage == y->stage && x->case_index == y->case_index && x->kind == y->kind &&
           x->len == y->len && memcmp(x->text, y->text, x->len) == 0;
}

/* ---- treap by (node id, seq) ------------------------------------------------ */

static int id_less(uint64_t id_a, uint64_t seq_a, uint64_t id_b, uint64_t seq_b)
{
    return id_a < id_b || (id_a == id_b && seq_a < seq_b);
}

struct tsc__lm_rec *tsc__lm_treap_find(const struct tsc_logmerge *m, uint64_t id, uint64_t seq)
{
    struct tsc__lm_rec *t = m->treap;
    while (t != NULL) {
        if (id_less(id, seq, t->rec.node, t->rec.seq))
            t = t->left;
        else if (id_less(t->rec.node, t->rec.seq, id, seq))
            t = t->right;
        else
            return t;
    }
    return NULL;
}

/* Split t into the records below (id, seq) and the others; *l is a link
 * of lp, *r one of rp (their parents). */
static void split(struct tsc__lm_rec *t, uint64_t id, uint64_t seq, struct tsc__lm_rec **l,
                  struct tsc__lm_rec *lp, struct tsc__lm_rec **r, struct tsc__lm_rec *rp)
{
    while (t != NULL) {
        if (id_less(t->rec.node, t->rec.seq, id, seq)) {
            *l = t;
            t->parent = lp;
            lp = t;
            l = &t->right;
            t = t->right;
        } else {
            *r = t;
            t->parent = rp;
            rp = t;
            r = &t->left;
            t = t->left;
        }
    }
    *l = NULL;
    *r = NULL;
}

/* Join two treaps, every key of a below every key of b, under parent. */
static struct tsc__lm_rec *join(struct tsc__lm_rec *a, struct tsc__lm_rec *b,
                                struct tsc__lm_rec *parent)
{
    struct tsc__lm_rec *res = NULL, **link = &res;
    while (a != NULL && b != NULL) {
        if (a->prio > b->prio) {
            *link = a;
            a->parent = parent;
            parent = a;
            link = &a->right;
            a = a->right;
        } else {
            *link = b;
            b->parent = parent;
            parent = b;
            link = &b->left;
            b = b->left;
        }
    }
    *link = a != NULL ? a : b;
    if (*link != NULL)
        (*link)->parent = parent;
    return res;
}

void tsc__lm_treap_insert(struct tsc_logmerge *m, struct tsc__lm_rec *x)
{
    struct tsc__lm_rec **link = &m->treap, *parent = NULL;
    x->prio = fmix(step(x->rec.node, x->rec.seq));
    while (*link != NULL && (*link)->prio >= x->prio) {
        parent = *link;
        link = id_less(x->rec.node, x->rec.seq, parent->rec.node, parent->rec.seq) ? &parent->left
                                                                                   : &parent->right;
    }
    split(*link, x->rec.node, x->rec.seq, &x->left, x, &x->right, x);
    *link = x;
    x->parent = parent;
}

struct tsc__lm_rec *tsc__lm_treap_erase(struct tsc_logmerge *m, struct tsc__lm_rec *x)
{
    struct tsc__lm_rec *next, *p = x->parent, **link;
    if (p == NULL && m->treap != x)
        return NULL; /* not in the treap */
    /* The successor: the leftmost of the right subtree, else the first
     * ancestor x is on the left of. Released records are mostly their
     * node's smallest, whose successor is near: no walk from the root. */
    if (x->right != NULL) {
        for (next = x->right; next->left != NULL;)
            next = next->left;
    } else {
        const struct tsc__lm_rec *c = x;
        for (next = p; next != NULL && next->right == c; next = next->parent)
            c = next;
    }
    link = p == NULL ? &m->treap : p->left == x ? &p->left : &p->right;
    *link = join(x->left, x->right, p);
    x->left = x->right = x->parent = NULL;
    return next;
}

/* ---- nodes -------------------------------------------------------------------- */

/* Position of id in by_id, or where it would go. */
static size_t id_pos(const struct tsc_logmerge *m, uint64_t id)
{
    size_t lo = 0, hi = m->n_nodes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->nodes[m->by_id[mid]].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t tsc__lm_node_find(const struct tsc_logmerge *m, uint64_t id)
{
    size_t p = id_pos(m, id);
    if (p < m->n_nodes && m->nodes[m->by_id[p]].id == id)
        return m->by_id[p];
    return TSC__LM_NONE;
}

int tsc__lm_nodes_reserve(struct tsc_logmerge *m, size_t extra)
{
    size_t need = m->n_nodes + extra;
    if (need > TSC__LM_MAX_NODES)
        need = TSC__LM_MAX_NODES;
    if (need <= m->cap_nodes)
        return 0;
    /* Four arrays of one capacity: each grows on its own, and cap_nodes
     * only moves once all four have the room. */
    size_t c[4] = {m->cap_nodes, m->cap_nodes, m->cap_nodes, m->cap_nodes};
    if (tsc__lm_grow((void **)&m->nodes, &c[0], need, sizeof *m->nodes) != 0 ||
        tsc__lm_grow((void **)&m->by_id, &c[1], need, sizeof *m->by_id) != 0 ||
        tsc__lm_grow((void **)&m->block, &c[2], need, sizeof *m->block) != 0 ||
        tsc__lm_grow((void **)&m->runs, &c[3], need, sizeof *m->runs) != 0)
        return TSC_ENOMEM;
    m->cap_nodes = c[0];
    for (size_t k = 1; k < 4; k++)
        if (c[k] < m->cap_nodes)
            m->cap_nodes = c[k];
    return 0;
}

size_t tsc__lm_node_add(struct tsc_logmerge *m, uint64_t id)
{
    size_t p = id_pos(m, id);
    if (p < m->n_nodes && m->nodes[m->by_id[p]].id == id)
        return m->by_id[p];
    if (m->n_nodes >= m->cap_nodes || m->n_nodes >= TSC__LM_MAX_NODES)
        return TSC__LM_NONE;
    size_t i = m->n_nodes++;
    struct tsc__lm_node *n = &m->nodes[i];
    memset(n, 0, sizeof *n);
    n->id = id;
    tsc_vclock_init(&n->last_clock);
    n->gap_since = TSC_TIME_NEVER;
    n->bpos = TSC__LM_NONE;
    n->rpos = TSC__LM_NONE;
    memmove(m->by_id + p + 1, m->by_id + p, (i - p) * sizeof *m->by_id);
    m->by_id[p] = (uint32_t)i;
    tsc__lm_node_refresh(m, i);
    return i;
}

/* ---- the heap of blocking nodes ----------------------------------------------- */

static int block_less(const struct tsc_logmerge *m, uint32_t a, uint32_t b)
{
    const struct tsc__lm_node *x = &m->nodes[a], *y = &m->nodes[b];
    return x->bound < y->bound || (x->bound == y->bound && x->id < y->id);
}

static void block_set(struct tsc_logmerge *m, size_t pos, uint32_t i)
{
    m->block[pos] = i;
    m->nodes[i].bpos = pos;
}

static void block_fix(struct tsc_logmerge *m, size_t pos)
{
    uint32_t i = m->block[pos];
    while (pos > 0 && block_less(m, i, m->block[(pos - 1) / 2])) {
        block_set(m, pos, m->block[(pos - 1) / 2]);
        pos = (pos - 1) / 2;
    }
    for (;;) {
        size_t c = 2 * pos + 1;
        if (c >= m->n_block)
            break;
        if (c + 1 < m->n_block && block_less(m, m->block[c + 1], m->block[c]))
            c++;
        if (!block_less(m, m->block[c], i))
            break;
        block_set(m, pos, m->block[c]);
        pos = c;
    }
    block_set(m, pos, i);
}

void tsc__lm_node_refresh(struct tsc_logmerge *m, size_t i)
{
    struct tsc__lm_node *n = &m->nodes[i];
    int blocking = 1;
    /* Its next record is buffered (seq - 1 <= delivered avoids overflow):
     * the key heap orders it. */
    if (n->count > 0 && n->min->rec.seq - 1 <= n->delivered)
        blocking = 0;
    else if (n->done && n->delivered >= n->done_seq)
        blocking = 0;
    if (blocking) {
        /* The next record of n has a larger Lamport time than its last
         * released one, and than its promise once every record up to the
         * watermark's sequence is released (merge.h: lb). */
        uint64_t s = n->last_key;
        if (n->has_wm && n->delivered >= n->wm_seq && n->wm_key > s)
            s = n->wm_key;
        n->bound = s == UINT64_MAX ? s : s + 1;
        if (n->bpos == TSC__LM_NONE) {
            n->bpos = m->n_block++;
            m->block[n->bpos] = (uint32_t)i;
        }
        block_fix(m, n->bpos);
    } else if (n->bpos != TSC__LM_NONE) {
        size_t pos = n->bpos;
        uint32_t last = m->block[--m->n_block];
        n->bpos = TSC__LM_NONE;
        if (pos < m->n_block) {
            block_set(m, pos, last);
            block_fix(m, pos);
        }
    }
}

/* ---- history -------------------------------------------------------------------- */

static int hist_grow(struct tsc__lm_node *n)
{
    size_t cap = n->hist_cap ? n->hist_cap * 2 : 16;
    struct tsc__lm_hist *h = tsc_calloc(cap, sizeof *h);
    if (h == NULL)
        return TSC_ENOMEM;
    for (size_t i = 0; i < n->hist_cap; i++) {
        struct tsc__lm_hist *e = &n->hist[i];
        struct tsc__lm_hist *d = &h[e->seq & (cap - 1)];
        if (e->seq != 0 && e->seq > d->seq)
            *d = *e;
    }
    tsc_free(n->hist);
    n->hist = h;
    n->hist_cap = cap;
    return 0;
}

void tsc__lm_hist_put(struct tsc__lm_node *n, uint64_t seq, uint64_t hash, uint64_t wall)
{
    /* Grow instead of evicting until TSC_LOGMERGE_HISTORY entries: with
     * consecutive seqs the table then holds exactly the newest ones. */
    while (n->hist_cap < TSC_LOGMERGE_HISTORY &&
           (n->hist_cap == 0 || (n->hist[seq & (n->hist_cap - 1)].seq != 0 &&
                                 n->hist[seq & (n->hist_cap - 1)].seq != seq))) {
        if (hist_grow(n) != 0) {
            n->hist_lossy = 1;
            break;
        }
    }
    if (n->hist_cap == 0)
        return;
    struct tsc__lm_hist *e = &n->hist[seq & (n->hist_cap - 1)];
    if (seq >= e->seq) {
        e->seq = seq;
        e->hash = hash;
        e->wall = wall;
    } else if (n->hist_cap < TSC_LOGMERGE_HISTORY) {
        n->hist_lossy = 1;
    }
}

int tsc__lm_hist_get(const struct tsc__lm_node *n, uint64_t seq, struct tsc__lm_hist *h)
{
    const struct tsc__lm_hist *e = n->hist_cap ? &n->hist[seq & (n->hist_cap - 1)] : NULL;
    if (e != NULL && e->seq == seq) {
        *h = *e;
        return 1;
    }
    if (n->hist_lossy || seq <= n->restored || (e != NULL && e->seq > seq))
        return -1;
    return 0;
}
