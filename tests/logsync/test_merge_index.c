/* tsc — the merge engine's indexes (logsync/merge_internal.h) against brute
 * force: the key order (runs of in-order records plus the heap of the
 * others) always yields the smallest (lamport, node, seq) buffered, and
 * the treap (with parent links) finds, erases and names the successor in
 * (node, seq) order while staying a valid treap. The property test covers
 * the engine's behaviour; this one reaches the mixes of runs and heap and
 * the treap shapes directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/prng.h"
#include "logsync/merge_internal.h"

#define NODES 5
#define RECS  600

struct fix {
    struct tsc_logmerge *m;
    struct tsc__lm_rec *r[RECS];
    int in[RECS]; /* still in the structure under test */
    size_t n;
};

static const uint64_t ids[NODES] = {7, 3, 11, 5, 9};

/* n records: per node seqs 1, 2, ... and Lamport times that mostly grow
 * with seq (sometimes not: such records must leave their node's run). */
static void fix_init(struct fix *f, struct tsc_prng *g, size_t n)
{
    uint64_t seq[NODES] = {0}, lam[NODES] = {0};
    memset(f, 0, sizeof *f);
    assert_int_equal(tsc_logmerge_new(&f->m, NULL, ids, NODES, NULL), 0);
    f->n = n;
    for (size_t i = 0; i < n; i++) {
        size_t k = tsc_prng_below(g, NODES);
        struct tsc_vclock_entry e = {ids[k], ++seq[k]};
        lam[k] = tsc_prng_below(g, 6) == 0 ? 1 + tsc_prng_below(g, lam[k] + 1)
                                           : lam[k] + 1 + tsc_prng_below(g, 3);
        struct tsc_logrec x = {.node = ids[k], .seq = e.count, .lamport = lam[k], .kind = 1};
        x.clock.n = x.clock.cap = 1;
        x.clock.e = &e;
        assert_true(tsc__lm_rec_valid(&x));
        f->r[i] = tsc__lm_rec_copy(f->m, &x, (int)(i % 2));
        assert_non_null(f->r[i]);
        f->r[i]->node = (uint32_t)tsc__lm_node_find(f->m, ids[k]);
    }
}

static void fix_free(struct fix *f)
{
    for (size_t i = 0; i < f->n; i++)
        tsc__lm_rec_free(f->m, f->r[i]);
    tsc_logmerge_free(f->m);
}

static int rec_key_less(const struct tsc__lm_rec *a, const struct tsc__lm_rec *b)
{
    return tsc__lm_key_less(a->key, a->rec.node, a->rec.seq, b->key, b->rec.node, b->rec.seq);
}

static int rec_id_less(const struct tsc__lm_rec *a, const struct tsc__lm_rec *b)
{
    return a->rec.node < b->rec.node || (a->rec.node == b->rec.node && a->rec.seq < b->rec.seq);
}

static struct tsc__lm_rec *brute_min(const struct fix *f)
{
    struct tsc__lm_rec *best = NULL;
    for (size_t i = 0; i < f->n; i++)
        if (f->in[i] && (best == NULL || rec_key_less(f->r[i], best)))
            best = f->r[i];
    return best;
}

static void test_keys_order(void **state)
{
    (void)state;
    struct tsc_prng g;
    tsc_prng_seed(&g, 42);
    for (int round = 0; round < 40; round++) {
        struct fix f;
        size_t order[RECS], left = 0, pushed = 0, runs_seen = 0;
        fix_init(&f, &g, RECS);
        assert_int_equal(tsc__lm_grow((void **)&f.m->heap, &f.m->cap_heap, RECS, sizeof *f.m->heap),
                         0);
        /* Mostly in arrival order, some rounds shuffled in windows. */
        for (size_t i = 0; i < RECS; i++)
            order[i] = i;
        size_t win = round % 4 == 0 ? 1 : 1 + tsc_prng_below(&g, round % 2 ? 4 : 64);
        for (size_t i = 0; i + 1 < RECS; i++) {
            size_t j = i + tsc_prng_below(&g, win < RECS - i ? win : RECS - i);
            size_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        while (pushed < RECS || left > 0) {
            if (pushed < RECS && (left == 0 || tsc_prng_below(&g, 3) != 0)) {
                f.in[order[pushed]] = 1;
                tsc__lm_keys_push(f.m, f.r[order[pushed++]]);
                left++;
                runs_seen += f.m->n_runs > 0;
                continue;
            }
            struct tsc__lm_rec *want = brute_min(&f);
            assert_ptr_equal(tsc__lm_keys_peek(f.m), want);
            assert_ptr_equal(tsc__lm_keys_pop(f.m), want);
            for (size_t i = 0; i < RECS; i++)
                if (f.r[i] == want)
                    f.in[i] = 0;
            left--;
        }
        assert_null(tsc__lm_keys_peek(f.m));
        assert_null(tsc__lm_keys_pop(f.m));
        assert_int_equal(f.m->n_runs, 0);
        assert_int_equal(f.m->n_heap, 0);
        assert_true(runs_seen > 0);
        fix_free(&f);
    }
}

/* A valid treap below t (under parent p): order, priorities, parent links;
 * its size. */
static size_t treap_check(const struct tsc__lm_rec *t, const struct tsc__lm_rec *p)
{
    if (t == NULL)
        return 0;
    assert_ptr_equal(t->parent, p);
    if (t->left != NULL) {
        assert_true(rec_id_less(t->left, t));
        assert_true(t->left->prio <= t->prio);
    }
    if (t->right != NULL) {
        assert_true(rec_id_less(t, t->right));
        assert_true(t->right->prio <= t->prio);
    }
    return 1 + treap_check(t->left, t) + treap_check(t->right, t);
}

static void test_treap(void **state)
{
    (void)state;
    struct tsc_prng g;
    tsc_prng_seed(&g, 7);
    for (int round = 0; round < 20; round++) {
        struct fix f;
        uint32_t order[RECS];
        size_t left = 0;
        fix_init(&f, &g, RECS);
        for (uint32_t i = 0; i < RECS; i++)
            order[i] = i;
        if (round % 2)
            tsc_prng_shuffle_u32(&g, order, RECS);
        for (size_t i = 0; i < RECS; i++) {
            tsc__lm_treap_insert(f.m, f.r[order[i]]);
            f.in[order[i]] = 1;
            left++;
        }
        assert_int_equal(treap_check(f.m->treap, NULL), left);
        while (left > 0) {
            /* Mostly a node's smallest (as releases do), else any. */
            size_t v = tsc_prng_below(&g, RECS);
            while (!f.in[v])
                v = (v + 1) % RECS;
            if (tsc_prng_below(&g, 4) != 0) {
                for (size_t i = 0; i < RECS; i++)
                    if (f.in[i] && f.r[i]->rec.node == f.r[v]->rec.node &&
                        f.r[i]->rec.seq < f.r[v]->rec.seq)
                        v = i;
            }
            struct tsc__lm_rec *succ = NULL;
            for (size_t i = 0; i < RECS; i++)
                if (f.in[i] && rec_id_less(f.r[v], f.r[i]) &&
                    (succ == NULL || rec_id_less(f.r[i], succ)))
                    succ = f.r[i];
            assert_ptr_equal(tsc__lm_treap_find(f.m, f.r[v]->rec.node, f.r[v]->rec.seq), f.r[v]);
            assert_ptr_equal(tsc__lm_treap_erase(f.m, f.r[v]), succ);
            f.in[v] = 0;
            left--;
            assert_null(tsc__lm_treap_find(f.m, f.r[v]->rec.node, f.r[v]->rec.seq));
            /* Erasing what is not in the treap changes nothing. */
            assert_null(tsc__lm_treap_erase(f.m, f.r[v]));
            if (left % 37 == 0)
                assert_int_equal(treap_check(f.m->treap, NULL), left);
        }
        assert_null(f.m->treap);
        fix_free(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_order),
        cmocka_unit_test(test_treap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
