/* tsc — the merge engine's state, shared by logsync/merge.c (the rules) and
 * logsync/merge_index.c (the structures that find records and nodes).
 *
 * A buffered record is one allocation (struct tsc__lm_rec, then its clock
 * entries, then its text) linked into three structures at once:
 *   - the key order (by (lamport, node, seq)): what to release next. A
 *     node's records that arrive in order (seq and key both above its last
 *     one's, the normal case) go to the tail of its run, a list sorted by
 *     both, and a small heap of nodes by their run's head merges the runs;
 *     the others go to a heap of records. The smaller of the two tops is
 *     the smallest buffered key;
 *   - the treap (intrusive, by (node id, seq)): duplicates, and each node's
 *     smallest buffered seq (gaps);
 *   - the arrival list (intrusive, oldest first): max_wait.
 * Nodes live in an array that only grows (indices are stable), with an
 * index sorted by id and a heap of the nodes that block releases, keyed by
 * the smallest key their next record may have. */
#ifndef TSC_LOGSYNC_MERGE_INTERNAL_H
#define TSC_LOGSYNC_MERGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/time.h"
#include "logsync/merge.h"

/* A run's nodes are the participants and the coordinator; clocks are
 * bounded the same way. Records of further new nodes are malformed. */
#define TSC__LM_MAX_NODES TSC_VCLOCK_MAX_ENTRIES
#define TSC__LM_NONE      SIZE_MAX

/* Freed record blocks kept for reuse, by size class of 64 bytes up to
 * 1 KiB (a typical record: ~200 bytes of links, its clock and ~100 bytes
 * of text), at most TSC__LM_POOL_BYTES in all: a step frees about as many
 * as the next one copies, and malloc was a tenth of the engine's time.
 * Off in sanitized builds, whose allocator checks every record's life.
 * A batch's first copy is always a fresh allocation: every batch step can
 * then fail and roll back, which the allocation-failure test relies on to
 * reach each batch's rollback. */
#define TSC__LM_POOL_CLASSES 16
#if defined(TSC_SANITIZED_BUILD)
#define TSC__LM_POOL_BYTES 0
#else
#define TSC__LM_POOL_BYTES ((size_t)1 << 20)
#endif

struct tsc__lm_rec {
    struct tsc_logrec rec;             /* first: out[i].rec points here; clock and text
                                          point into this allocation */
    uint64_t key;                      /* rec.lamport */
    uint64_t hash;                     /* of every field but (node, seq) */
    uint64_t arrival;                  /* event time it was buffered */
    uint64_t prio;                     /* treap priority, from (node, seq) */
    size_t bytes;                      /* counted against max_bytes */
    uint32_t node;                     /* index in m->nodes */
    struct tsc__lm_rec *older, *newer; /* arrival list */
    struct tsc__lm_rec *left, *right;  /* treap */
    struct tsc__lm_rec *parent;        /* treap: erase and successor without a
                                          walk from the root */
    struct tsc__lm_rec *run_next;      /* the node's run, by seq and key */
};

struct tsc__lm_hist {
    uint64_t seq; /* 0: empty slot */
    uint64_t hash;
    uint64_t wall;
};

struct tsc__lm_node {
    uint64_t id;
    uint64_t delivered; /* highest seq released or skipped over */
    uint64_t last_key;  /* the node's next record has a larger Lamport time */
    uint64_t last_seq;  /* newest record released, its wall and clock */
    uint64_t last_wall;
    struct tsc_vclock last_clock;
    int last_clock_ok; /* last_clock is last_seq's (a copy may have failed) */
    int has_wm;
    uint64_t wm_seq, wm_key; /* newest watermark */
    int done;
    uint64_t done_seq;
    size_t count;                            /* buffered records */
    uint64_t max_seq;                        /* no buffered seq is above it (0: none) */
    struct tsc__lm_rec *min;                 /* the buffered one with the smallest seq */
    uint64_t gap_since;                      /* TSC_TIME_NEVER: no gap */
    size_t bpos;                             /* in m->block, TSC__LM_NONE when not blocking */
    struct tsc__lm_rec *run_head, *run_tail; /* the node's run (see above) */
    uint64_t run_key, run_seq;               /* run_head's */
    size_t rpos;                             /* in m->runs, TSC__LM_NONE when empty */
    uint64_t bound;                          /* when blocking: its next key is >= (bound, id) */
    struct tsc__lm_hist *hist;               /* direct-mapped by seq, hist_cap a power of 2 */
    size_t hist_cap;
    int hist_lossy;    /* a release could not be remembered (out of memory) */
    uint64_t restored; /* tsc_logmerge_restore: 1..restored released before */
};

struct tsc__lm_hent {
    uint64_t key, node, seq;
    struct tsc__lm_rec *r;
};

struct tsc_logmerge {
    struct tsc_logmerge_config cfg;
    uint64_t now;

    struct tsc__lm_node *nodes;
    uint32_t *by_id; /* node indices sorted by id */
    uint32_t *block; /* heap of blocking node indices by (bound, id) */
    uint32_t *runs;  /* heap of nodes with a run, by their run's head key */
    size_t n_nodes, cap_nodes, n_block, n_runs;

    struct tsc__lm_hent *heap; /* the records out of their run */
    size_t n_heap, cap_heap;
    struct tsc__lm_rec *treap;
    struct tsc__lm_rec *oldest, *newest;

    uint64_t index_base; /* tsc_logmerge_restore: indices already used */
    int stepped;         /* an event was applied: no more restores */
    int have_max;        /* the largest key released so far, and whose */
    uint64_t max_key, max_node, max_seq;

    /* This step's update; the records of `out` are freed by the next step. */
    struct tsc_logmerge_out *out;
    size_t n_out, cap_out;
    struct tsc_logmerge_error *err;
    size_t n_err, cap_err;
    struct tsc__lm_rec **pending; /* a batch's copies, made before any change */
    size_t cap_pending;
    int deferred;                     /* a release was put off for lack of memory */
    int flush_pending;                /* ... during a FLUSH: the next step goes on with it */
    void *pool[TSC__LM_POOL_CLASSES]; /* free blocks, linked by their first word */
    size_t pool_bytes;

    struct tsc_logmerge_stats st;
};

/* Grow *p (of *cap elements of size sz) to hold need; 0 or TSC_ENOMEM. */
int tsc__lm_grow(void **p, size_t *cap, size_t need, size_t sz);

uint64_t tsc__lm_hash_rec(const struct tsc_logrec *r);
/* A record the engine takes (merge.h's malformed ones, unsorted clocks and
 * oversized texts are not). */
int tsc__lm_rec_valid(const struct tsc_logrec *x);
/* The engine's copy: one allocation with its clock and text, key and hash
 * computed; NULL when out of memory; fresh: not from the pool. free: back to the pool or the
 * allocator (NULL is fine); pool_drain: all of the pool to the allocator. */
struct tsc__lm_rec *tsc__lm_rec_copy(struct tsc_logmerge *m, const struct tsc_logrec *x, int fresh);
void tsc__lm_rec_free(struct tsc_logmerge *m, struct tsc__lm_rec *r);
void tsc__lm_pool_drain(struct tsc_logmerge *m);
/* Same bytes (every field but the links). */
int tsc__lm_rec_same(const struct tsc__lm_rec *a, const struct tsc__lm_rec *b);

/* Treap by (node id, seq). */
struct tsc__lm_rec *tsc__lm_treap_find(const struct tsc_logmerge *m, uint64_t id, uint64_t seq);
void tsc__lm_treap_insert(struct tsc_logmerge *m, struct tsc__lm_rec *r);
/* Remove r; returns the record that follows it in (id, seq) order, or NULL. */
struct tsc__lm_rec *tsc__lm_treap_erase(struct tsc_logmerge *m, struct tsc__lm_rec *r);

/* Key order: add (heap capacity for every buffered record reserved by the
 * caller; r->node set), the smallest (NULL when empty), take it out. */
void tsc__lm_keys_push(struct tsc_logmerge *m, struct tsc__lm_rec *r);
struct tsc__lm_rec *tsc__lm_keys_peek(const struct tsc_logmerge *m);
struct tsc__lm_rec *tsc__lm_keys_pop(struct tsc_logmerge *m);
int tsc__lm_key_less(uint64_t key_a, uint64_t node_a, uint64_t seq_a, uint64_t key_b,
                     uint64_t node_b, uint64_t seq_b);

/* Nodes. find: index or TSC__LM_NONE. reserve: room for extra more.
 * add: capacity reserved; TSC__LM_NONE when TSC__LM_MAX_NODES are known. */
size_t tsc__lm_node_find(const struct tsc_logmerge *m, uint64_t id);
int tsc__lm_nodes_reserve(struct tsc_logmerge *m, size_t extra);
size_t tsc__lm_node_add(struct tsc_logmerge *m, uint64_t id);
/* Recompute whether node i blocks releases, and its bound. */
void tsc__lm_node_refresh(struct tsc_logmerge *m, size_t i);

/* History of released records: remember (best effort: a failed growth
 * evicts instead), and look up. get: 1 found (*h set), 0 never released
 * (within what is remembered), -1 forgotten (evicted by a newer one, or
 * maybe never stored for lack of memory). */
void tsc__lm_hist_put(struct tsc__lm_node *n, uint64_t seq, uint64_t hash, uint64_t wall);
int tsc__lm_hist_get(const struct tsc__lm_node *n, uint64_t seq, struct tsc__lm_hist *h);

#endif
