/* tsc — the merge engine's indexes (see merge_internal.h): the key heap,
 * the treap of buffered records, the node table with its heap of blocking
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

uint64_t tsc__lm_hash_rec(const struct tsc_logrec *r)
{
    uint64_t h = 0x6c6f677379636e31ull; /* "logsync1" */
    h = step(h, r->clock.n);
    for (size_t i = 0; i < r->clock.n; i++) {
        h = step(h, r->clock.e[i].node);
        h = step(h, r->clock.e[i].count);
    }
    h = step(h, r->lamport);
    h = step(h, r->wall_us);
    h = step(h, r->run);
    h = step(h, ((uint64_t)r->stage << 32) | r->case_index);
    h = step(h, r->kind);
    h = step(h, r->len);
    /* Two independent lanes over the text: half the multiply latency. */
    uint64_t h2 = h ^ 0x9e3779b97f4a7c15ull;
    size_t i = 0;
    for (; i + 16 <= r->len; i += 16) {
        uint64_t v, w;
        memcpy(&v, r->text + i, 8);
        memcpy(&w, r->text + i + 8, 8);
        h = step(h, v);
        h2 = step(h2, w);
    }
    for (; i + 8 <= r->len; i += 8) {
        uint64_t v;
        memcpy(&v, r->text + i, 8);
        h = step(h, v);
    }
    if (i < r->len) {
        uint64_t v = 0;
        memcpy(&v, r->text + i, r->len - i);
        h2 = step(h2, v);
    }
    h = step(h, h2);
    return fmix(h);
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

/* One allocation: the record, its clock entries, its text. */
struct tsc__lm_rec *tsc__lm_rec_copy(const struct tsc_logrec *x)
{
    size_t ne = x->clock.n;
    struct tsc__lm_rec *r =
        tsc_malloc(sizeof *r + ne * sizeof(struct tsc_vclock_entry) + (x->len ? x->len : 1));
    if (r == NULL)
        return NULL;
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

/* Split t into the records below (id, seq) and the others. */
static void split(struct tsc__lm_rec *t, uint64_t id, uint64_t seq, struct tsc__lm_rec **l,
                  struct tsc__lm_rec **r)
{
    while (t != NULL) {
        if (id_less(t->rec.node, t->rec.seq, id, seq)) {
            *l = t;
            l = &t->right;
            t = t->right;
        } else {
            *r = t;
            r = &t->left;
            t = t->left;
        }
    }
    *l = NULL;
    *r = NULL;
}

/* Join two treaps, every key of a below every key of b. */
static struct tsc__lm_rec *join(struct tsc__lm_rec *a, struct tsc__lm_rec *b)
{
    struct tsc__lm_rec *res = NULL, **link = &res;
    while (a != NULL && b != NULL) {
        if (a->prio > b->prio) {
            *link = a;
            link = &a->right;
            a = a->right;
        } else {
            *link = b;
            link = &b->left;
            b = b->left;
        }
    }
    *link = a != NULL ? a : b;
    return res;
}

void tsc__lm_treap_insert(struct tsc_logmerge *m, struct tsc__lm_rec *x)
{
    struct tsc__lm_rec **link = &m->treap;
    x->prio = fmix(step(x->rec.node, x->rec.seq));
    while (*link != NULL && (*link)->prio >= x->prio)
        link = id_less(x->rec.node, x->rec.seq, (*link)->rec.node, (*link)->rec.seq)
                   ? &(*link)->left
                   : &(*link)->right;
    split(*link, x->rec.node, x->rec.seq, &x->left, &x->right);
    *link = x;
}

struct tsc__lm_rec *tsc__lm_treap_erase(struct tsc_logmerge *m, struct tsc__lm_rec *x)
{
    struct tsc__lm_rec **link = &m->treap, *next = NULL;
    while (*link != NULL && *link != x) {
        if (id_less(x->rec.node, x->rec.seq, (*link)->rec.node, (*link)->rec.seq)) {
            next = *link; /* the last turn left so far: x's successor unless
                             x has a right subtree */
            link = &(*link)->left;
        } else {
            link = &(*link)->right;
        }
    }
    if (*link == x) {
        if (x->right != NULL)
            for (next = x->right; next->left != NULL;)
                next = next->left;
        *link = join(x->left, x->right);
    }
    x->left = x->right = NULL;
    return next;
}

/* ---- key heap --------------------------------------------------------------- */

int tsc__lm_key_less(uint64_t key_a, uint64_t node_a, uint64_t seq_a, uint64_t key_b,
                     uint64_t node_b, uint64_t seq_b)
{
    if (key_a != key_b)
        return key_a < key_b;
    if (node_a != node_b)
        return node_a < node_b;
    return seq_a < seq_b;
}

static int hent_less(const struct tsc__lm_hent *a, const struct tsc__lm_hent *b)
{
    return tsc__lm_key_less(a->key, a->node, a->seq, b->key, b->node, b->seq);
}

void tsc__lm_heap_push(struct tsc_logmerge *m, struct tsc__lm_rec *r)
{
    struct tsc__lm_hent e = {r->key, r->rec.node, r->rec.seq, r};
    size_t i = m->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hent_less(&e, &m->heap[p]))
            break;
        m->heap[i] = m->heap[p];
        i = p;
    }
    m->heap[i] = e;
}

struct tsc__lm_rec *tsc__lm_heap_pop(struct tsc_logmerge *m)
{
    if (m->n_heap == 0)
        return NULL;
    struct tsc__lm_rec *top = m->heap[0].r;
    struct tsc__lm_hent e = m->heap[--m->n_heap];
    size_t n = m->n_heap, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && hent_less(&m->heap[c + 1], &m->heap[c]))
            c++;
        if (!hent_less(&m->heap[c], &e))
            break;
        m->heap[i] = m->heap[c];
        i = c;
    }
    if (n > 0)
        m->heap[i] = e;
    return top;
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
    /* Three arrays of one capacity: each grows on its own, and cap_nodes
     * only moves once all three have the room. */
    size_t c1 = m->cap_nodes, c2 = m->cap_nodes, c3 = m->cap_nodes;
    if (tsc__lm_grow((void **)&m->nodes, &c1, need, sizeof *m->nodes) != 0 ||
        tsc__lm_grow((void **)&m->by_id, &c2, need, sizeof *m->by_id) != 0 ||
        tsc__lm_grow((void **)&m->block, &c3, need, sizeof *m->block) != 0)
        return TSC_ENOMEM;
    m->cap_nodes = c1 < c2 ? (c1 < c3 ? c1 : c3) : (c2 < c3 ? c2 : c3);
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
