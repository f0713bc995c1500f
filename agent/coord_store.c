/* tsc — the coordinator election's durable state in the agent's store
 * (key space "raft", a RocksDB column family with the WAL on):
 *
 *   raft/"h"                   [term u64 BE][voted_for u64 BE]
 *   raft/"l" <index u64 BE>    [term u64 BE][type u8][data]
 *
 * Big-endian indexes so that a scan returns the log in order. Raft (§5,
 * Figure 2) requires term, vote and log to be on stable storage before the
 * messages that depend on them leave: every update the engine says must be
 * persisted is written as ONE write batch with sync=true (fsync of the WAL)
 * before the driver sends the update's frames (gossip/election.h, the
 * driver contract). A batch is atomic, so a crash never leaves a truncated
 * log suffix half replaced.
 *
 * Load tolerates a store that ends in the middle of the log only in the
 * sense that the log must be contiguous from index 1: entries after a gap
 * are ignored (and deleted by the next truncation); a malformed value is an
 * error, since guessing would break Raft's durability promise. */
#include <string.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "common/alloc.h"

#define KEY_HARD  'h'
#define KEY_LOG   'l'
#define ENTRY_HDR 9 /* term, type */

struct load_ctx {
    struct tsc_election_restore *r;
    struct tsc_buf *hold;
    size_t *offs; /* data offset of entry i in hold */
    size_t *lens; /* data length */
    uint64_t *terms;
    uint8_t *types;
    size_t n, cap;
    int gap, bad;
    char *errmsg;
};

static int grow(struct load_ctx *c)
{
    size_t cap = c->cap ? c->cap * 2 : 16;
    size_t *offs = tsc_realloc(c->offs, cap * sizeof *offs);
    if (offs != NULL)
        c->offs = offs;
    size_t *lens = tsc_realloc(c->lens, cap * sizeof *lens);
    if (lens != NULL)
        c->lens = lens;
    uint64_t *terms = tsc_realloc(c->terms, cap * sizeof *terms);
    if (terms != NULL)
        c->terms = terms;
    uint8_t *types = tsc_realloc(c->types, cap);
    if (types != NULL)
        c->types = types;
    if (offs == NULL || lens == NULL || terms == NULL || types == NULL)
        return TSC_ENOMEM;
    c->cap = cap;
    return 0;
}

static int load_one(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct load_ctx *c = ctx;
    if (klen == 1 && key[0] == KEY_HARD) {
        if (vlen != 16) {
            tsc_errmsg_setf(c->errmsg, "hard state has %zu bytes, want 16", vlen);
            c->bad = TSC_ESTORE;
            return 1;
        }
        c->r->term = tsc_store_get_be64(val);
        c->r->voted_for = tsc_store_get_be64(val + 8);
        return 0;
    }
    if (klen != 9 || key[0] != KEY_LOG || c->gap)
        return 0;
    uint64_t index = tsc_store_get_be64(key + 1);
    if (index != c->n + 1) {
        c->gap = 1; /* not contiguous: keep the prefix */
        return 0;
    }
    if (vlen < ENTRY_HDR) {
        tsc_errmsg_setf(c->errmsg, "log entry %llu has %zu bytes", (unsigned long long)index, vlen);
        c->bad = TSC_ESTORE;
        return 1;
    }
    if (c->n == c->cap && grow(c) != 0) {
        c->bad = TSC_ENOMEM;
        return 1;
    }
    c->terms[c->n] = tsc_store_get_be64(val);
    c->types[c->n] = val[8];
    c->offs[c->n] = c->hold->len;
    c->lens[c->n] = vlen - ENTRY_HDR;
    if (tsc_buf_append(c->hold, val + ENTRY_HDR, vlen - ENTRY_HDR) != 0) {
        c->bad = TSC_ENOMEM;
        return 1;
    }
    c->n++;
    return 0;
}

int tsc__coord_store_load(struct tsc_agent *a, struct tsc_election_restore *r,
                          struct tsc_election_entry **entries, struct tsc_buf *hold, char *errmsg)
{
    struct load_ctx c;
    int rc;
    memset(r, 0, sizeof *r);
    memset(&c, 0, sizeof c);
    *entries = NULL;
    c.r = r;
    c.hold = hold;
    c.errmsg = errmsg;
    rc = a->store.scan(&a->store, TSC_STORE_RAFT, load_one, &c, errmsg);
    if (rc == 0)
        rc = c.bad;
    if (rc == 0 && c.n > 0) {
        *entries = tsc_calloc(c.n, sizeof **entries);
        if (*entries == NULL)
            rc = TSC_ENOMEM;
    }
    if (rc == 0) {
        /* Pointers only now: hold may have moved while it grew. */
        for (size_t i = 0; i < c.n; i++) {
            struct tsc_election_entry *e = &(*entries)[i];
            e->index = i + 1;
            e->term = c.terms[i];
            e->type = c.types[i];
            e->data = hold->data + c.offs[i];
            e->len = c.lens[i];
        }
        r->entries = *entries;
        r->n_entries = c.n;
        a->coord.stored_last = c.n;
        if (c.gap)
            tsc_logf(TSC_LOG_WARN,
                     "election log: not contiguous after index %zu; ignoring the rest", c.n);
    }
    tsc_free(c.offs);
    tsc_free(c.lens);
    tsc_free(c.terms);
    tsc_free(c.types);
    if (rc == TSC_ENOMEM)
        tsc_errmsg_setf(errmsg, "out of memory");
    if (rc != 0)
        tsc_errmsg_wrapf(errmsg, "election state");
    return rc;
}

/* Keys and values of one batch live in one buffer; the ops point into it
 * once it stops growing. */
struct pending {
    size_t koff, klen, voff, vlen;
    int del;
};

int tsc__coord_store_persist(struct tsc_agent *a, const struct tsc_election_update *up,
                             char *errmsg)
{
    struct tsc_buf b;
    struct pending *p;
    struct tsc_store_op *ops;
    size_t n = 0, max;
    uint64_t del_from = 0, del_to = 0, new_last = a->coord.stored_last;
    uint8_t k[9], v[16];
    int rc = 0;

    if (!up->persist_state && up->log_from == 0)
        return 0;
    if (up->log_from != 0) {
        new_last = up->log_from + up->n_entries - 1;
        if (a->coord.stored_last > new_last) {
            del_from = new_last + 1;
            del_to = a->coord.stored_last;
        }
    }
    max = 1 + up->n_entries + (del_from ? (size_t)(del_to - del_from + 1) : 0);
    p = tsc_calloc(max, sizeof *p);
    ops = tsc_calloc(max, sizeof *ops);
    tsc_buf_init(&b);
    if (p == NULL || ops == NULL) {
        rc = TSC_ENOMEM;
        goto out;
    }
#define ADD(kp, kl, vp, vl, d)                                                                     \
    do {                                                                                           \
        p[n].koff = b.len;                                                                         \
        p[n].klen = (kl);                                                                          \
        rc |= tsc_buf_append(&b, (kp), (kl));                                                      \
        p[n].voff = b.len;                                                                         \
        p[n].vlen = (vl);                                                                          \
        if ((vl) > 0)                                                                              \
            rc |= tsc_buf_append(&b, (vp), (vl));                                                  \
        p[n].del = (d);                                                                            \
        n++;                                                                                       \
    } while (0)
    if (up->persist_state) {
        k[0] = KEY_HARD;
        tsc_store_put_be64(v, up->term);
        tsc_store_put_be64(v + 8, up->voted_for);
        ADD(k, 1, v, 16, 0);
    }
    for (size_t i = 0; i < up->n_entries; i++) {
        const struct tsc_election_entry *e = &up->entries[i];
        uint8_t hdr[ENTRY_HDR];
        k[0] = KEY_LOG;
        tsc_store_put_be64(k + 1, e->index);
        tsc_store_put_be64(hdr, e->term);
        hdr[8] = e->type;
        /* header and data as one value: append both, then fix the length */
        ADD(k, 9, hdr, ENTRY_HDR, 0);
        if (e->len > 0)
            rc |= tsc_buf_append(&b, e->data, e->len);
        p[n - 1].vlen += e->len;
    }
    for (uint64_t i = del_from; del_from && i <= del_to; i++) {
        k[0] = KEY_LOG;
        tsc_store_put_be64(k + 1, i);
        ADD(k, 9, NULL, 0, 1);
    }
#undef ADD
    if (rc != 0) {
        rc = TSC_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        ops[i].space = TSC_STORE_RAFT;
        ops[i].del = p[i].del;
        ops[i].key = b.data + p[i].koff;
        ops[i].klen = p[i].klen;
        ops[i].val = b.data + p[i].voff;
        ops[i].vlen = p[i].vlen;
    }
    rc = a->store.write(&a->store, ops, n, 1, errmsg);
    if (rc == 0)
        a->coord.stored_last = new_last;
out:
    if (rc == TSC_ENOMEM)
        tsc_errmsg_setf(errmsg, "out of memory");
    if (rc != 0)
        tsc_errmsg_wrapf(errmsg, "persisting election state");
    tsc_free(p);
    tsc_free(ops);
    tsc_buf_free(&b);
    return rc;
}
