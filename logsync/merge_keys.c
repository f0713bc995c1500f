/* tsc — the merge engine's key order (see merge_internal.h): what to
 * release next, by (Lamport time, node, seq).
 *
 * A node's records mostly arrive in order, seq and key both above its last
 * one's: they join the tail of the node's run, and a small heap of nodes
 * by their run's head merges the runs, so a release costs a step in a heap
 * of nodes rather than of records. Records out of order go to a 4-ary heap
 * of their own. The smaller of the two tops is the smallest buffered key;
 * since (lamport, node, seq) is unique among buffered records, the order
 * is the same as one heap of every record would give. Neither structure
 * allocates: the caller reserves the heap for every buffered record. */
#include "logsync/merge_internal.h"

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

/* A 4-ary heap: half the depth of a binary one, and the four children of
 * an entry share one or two cache lines; pops are most of its work. */
static void heap_push(struct tsc_logmerge *m, struct tsc__lm_rec *r)
{
    struct tsc__lm_hent e = {r->key, r->rec.node, r->rec.seq, r};
    size_t i = m->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 4;
        if (!hent_less(&e, &m->heap[p]))
            break;
        m->heap[i] = m->heap[p];
        i = p;
    }
    m->heap[i] = e;
}

static struct tsc__lm_rec *heap_pop(struct tsc_logmerge *m)
{
    struct tsc__lm_hent *h = m->heap;
    struct tsc__lm_rec *top = h[0].r;
    struct tsc__lm_hent e = h[--m->n_heap];
    size_t n = m->n_heap, i = 0;
    for (;;) {
        size_t c = 4 * i + 1;
        if (c >= n)
            break;
        size_t end = c + 4 < n ? c + 4 : n, best = c;
        for (size_t j = c + 1; j < end; j++)
            if (hent_less(&h[j], &h[best]))
                best = j;
        if (!hent_less(&h[best], &e))
            break;
        h[i] = h[best];
        i = best;
    }
    if (n > 0)
        h[i] = e;
    return top;
}

/* ---- runs ------------------------------------------------------------------- */

static int run_less(const struct tsc_logmerge *m, uint32_t a, uint32_t b)
{
    const struct tsc__lm_node *x = &m->nodes[a], *y = &m->nodes[b];
    return tsc__lm_key_less(x->run_key, x->id, x->run_seq, y->run_key, y->id, y->run_seq);
}

static void run_set(struct tsc_logmerge *m, size_t pos, uint32_t i)
{
    m->runs[pos] = i;
    m->nodes[i].rpos = pos;
}

static void run_fix(struct tsc_logmerge *m, size_t pos)
{
    uint32_t i = m->runs[pos];
    while (pos > 0 && run_less(m, i, m->runs[(pos - 1) / 2])) {
        run_set(m, pos, m->runs[(pos - 1) / 2]);
        pos = (pos - 1) / 2;
    }
    for (;;) {
        size_t c = 2 * pos + 1;
        if (c >= m->n_runs)
            break;
        if (c + 1 < m->n_runs && run_less(m, m->runs[c + 1], m->runs[c]))
            c++;
        if (!run_less(m, m->runs[c], i))
            break;
        run_set(m, pos, m->runs[c]);
        pos = c;
    }
    run_set(m, pos, i);
}

void tsc__lm_keys_push(struct tsc_logmerge *m, struct tsc__lm_rec *r)
{
    struct tsc__lm_node *n = &m->nodes[r->node];
    struct tsc__lm_rec *t = n->run_tail;
    r->run_next = NULL;
    if (t == NULL) {
        n->run_head = n->run_tail = r;
        n->run_key = r->key;
        n->run_seq = r->rec.seq;
        n->rpos = m->n_runs++;
        m->runs[n->rpos] = r->node;
        run_fix(m, n->rpos);
    } else if (r->key > t->key && r->rec.seq > t->rec.seq) {
        t->run_next = r;
        n->run_tail = r;
    } else {
        heap_push(m, r);
    }
}

struct tsc__lm_rec *tsc__lm_keys_peek(const struct tsc_logmerge *m)
{
    const struct tsc__lm_node *n = m->n_runs > 0 ? &m->nodes[m->runs[0]] : NULL;
    const struct tsc__lm_hent *h = m->n_heap > 0 ? &m->heap[0] : NULL;
    if (n == NULL)
        return h != NULL ? h->r : NULL;
    if (h != NULL && tsc__lm_key_less(h->key, h->node, h->seq, n->run_key, n->id, n->run_seq))
        return h->r;
    return n->run_head;
}

struct tsc__lm_rec *tsc__lm_keys_pop(struct tsc_logmerge *m)
{
    struct tsc__lm_rec *r = tsc__lm_keys_peek(m);
    if (r == NULL || m->n_runs == 0 || r != m->nodes[m->runs[0]].run_head)
        return r != NULL ? heap_pop(m) : NULL;
    struct tsc__lm_node *n = &m->nodes[m->runs[0]];
    n->run_head = r->run_next;
    r->run_next = NULL;
    if (n->run_head != NULL) {
        n->run_key = n->run_head->key;
        n->run_seq = n->run_head->rec.seq;
        run_fix(m, 0);
        return r;
    }
    n->run_tail = NULL;
    n->rpos = TSC__LM_NONE;
    if (--m->n_runs > 0) {
        run_set(m, 0, m->runs[m->n_runs]);
        run_fix(m, 0);
    }
    return r;
}
