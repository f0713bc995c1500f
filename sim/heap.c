/* tsc — binary min-heap of simulator events keyed by (time, seq).
 *
 * Hole-based sift up/down (move the hole, write the element once) keeps the
 * per-event cost to a handful of 32-byte moves; with a few thousand pending
 * events the heap stays in L2 cache and is not what limits the simulator. */
#include "sim/heap.h"

#include "common/alloc.h"
#include "common/error.h"

static inline int ev_less(const struct tsc_sim_ev *a, const struct tsc_sim_ev *b)
{
    if (a->time != b->time)
        return a->time < b->time;
    return a->seq < b->seq;
}

void tsc_sim_heap_init(struct tsc_sim_heap *h)
{
    h->v = NULL;
    h->n = 0;
    h->cap = 0;
    h->next_seq = 1;
}

void tsc_sim_heap_free(struct tsc_sim_heap *h)
{
    tsc_free(h->v);
    h->v = NULL;
    h->n = 0;
    h->cap = 0;
}

int tsc_sim_heap_push(struct tsc_sim_heap *h, uint64_t time, uint32_t kind, uint32_t node,
                      uint32_t from, uint32_t msg)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        struct tsc_sim_ev *v = tsc_realloc(h->v, cap * sizeof(*v));
        if (!v)
            return TSC_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    struct tsc_sim_ev e = {
        .time = time, .seq = h->next_seq++, .kind = kind, .node = node, .from = from, .msg = msg};
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_less(&e, &h->v[parent]))
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = e;
    return 0;
}

const struct tsc_sim_ev *tsc_sim_heap_peek(const struct tsc_sim_heap *h)
{
    return h->n ? &h->v[0] : NULL;
}

int tsc_sim_heap_pop(struct tsc_sim_heap *h, struct tsc_sim_ev *out)
{
    if (h->n == 0)
        return TSC_ENOTFOUND;
    *out = h->v[0];
    struct tsc_sim_ev last = h->v[--h->n];
    size_t n = h->n;
    if (n == 0)
        return 0;
    /* Sift the former last element down from the root. */
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && ev_less(&h->v[c + 1], &h->v[c]))
            c++;
        if (!ev_less(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    h->v[i] = last;
    return 0;
}
