/* tsc — the LOGS block codec (logblock.h has the format and why).
 *
 * The encoder makes one pass over the records, writing each into a scratch
 * body while it builds the node table (open addressing on the 64-bit id);
 * the header with the table goes out first, then the body. The decoder
 * keeps, per node of the table, the last record's clock and fields, and
 * applies each record's differences to them. */
#include <string.h>

#include "common/alloc.h"
#include "logsync/logblock.h"
#include "wire/mp.h"

#define MAGIC         0xB7
#define LEGACY_MAGIC  0x9a /* msgpack fixarray of ten: a tsc_logrec */
#define F_STAGE       1
#define F_CASE        2
#define F_KIND        4
#define F_SEQ         8
#define F_ALL         (F_STAGE | F_CASE | F_KIND | F_SEQ)
#define UV_MAX        10 /* bytes of a 64-bit varint */
#define MIN_REC_BYTES 7  /* ix, flags, n_changes, lamport_d, wall_d, len: 6, and one more */

/* ---- varints ----------------------------------------------------------------------- */

static uint8_t *put_uv(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static int get_uv(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t x = 0;
    for (unsigned shift = 0; p < end && shift < 64; shift += 7) {
        uint8_t b = *p++;
        if (shift == 63 && b > 1)
            return TSC_EMALFORMED; /* more than 64 bits */
        x |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *pp = p;
            *v = x;
            return 0;
        }
    }
    return TSC_EMALFORMED;
}

static uint64_t zigzag(uint64_t d)
{
    return (d << 1) ^ (uint64_t)((int64_t)d >> 63);
}

static uint64_t unzigzag(uint64_t v)
{
    return (v >> 1) ^ (0 - (v & 1));
}

static int kind_valid(uint64_t kind)
{
    return kind >= TSC_LOGREC_STDOUT && kind <= TSC_LOGREC_RECV;
}

/* ---- encoding ---------------------------------------------------------------------- */

void tsc_logblock_enc_init(struct tsc_logblock_enc *e)
{
    memset(e, 0, sizeof *e);
    tsc_buf_init(&e->body);
}

void tsc_logblock_enc_free(struct tsc_logblock_enc *e)
{
    tsc_free(e->slot_id);
    tsc_free(e->slot_ix);
    tsc_free(e->ids);
    tsc_free(e->prev);
    tsc_buf_free(&e->body);
    tsc_logblock_enc_init(e);
}

static size_t slot_of(uint64_t id, size_t cap)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

/* A table of cap slots (a power of two) holding ids[0..n_ids-1]. */
static int rehash(struct tsc_logblock_enc *e, size_t cap)
{
    uint64_t *sid = tsc_calloc(cap, sizeof *sid);
    uint32_t *six = sid ? tsc_malloc(cap * sizeof *six) : NULL;
    if (six == NULL) {
        tsc_free(sid);
        return TSC_ENOMEM;
    }
    for (size_t i = 0; i < e->n_ids; i++) {
        size_t k = slot_of(e->ids[i], cap);
        while (sid[k] != 0)
            k = (k + 1) & (cap - 1);
        sid[k] = e->ids[i];
        six[k] = (uint32_t)i;
    }
    tsc_free(e->slot_id);
    tsc_free(e->slot_ix);
    e->slot_id = sid;
    e->slot_ix = six;
    e->cap_slots = cap;
    return 0;
}

/* The table index of id, added when new. */
static int ix_of(struct tsc_logblock_enc *e, uint64_t id, uint32_t *ix)
{
    size_t k = slot_of(id, e->cap_slots);
    for (; e->slot_id[k] != 0; k = (k + 1) & (e->cap_slots - 1))
        if (e->slot_id[k] == id) {
            *ix = e->slot_ix[k];
            return 0;
        }
    if (e->n_ids == e->cap_ids) {
        size_t cap = e->cap_ids * 2;
        uint64_t *ids = tsc_realloc(e->ids, cap * sizeof *ids);
        if (ids != NULL)
            e->ids = ids;
        const struct tsc_logrec **prev = ids ? tsc_realloc(e->prev, cap * sizeof *prev) : NULL;
        if (prev == NULL)
            return TSC_ENOMEM;
        e->prev = prev;
        e->cap_ids = cap;
    }
    e->ids[e->n_ids] = id;
    e->prev[e->n_ids] = NULL;
    e->slot_id[k] = id;
    e->slot_ix[k] = (uint32_t)e->n_ids;
    *ix = (uint32_t)e->n_ids++;
    if (e->n_ids * 2 > e->cap_slots)
        return rehash(e, e->cap_slots * 2);
    return 0;
}

static int rec_valid(const struct tsc_logrec *r, uint64_t run)
{
    if (r->run != run || r->node == 0 || r->seq == 0 || r->lamport == 0 || !kind_valid(r->kind) ||
        (r->len > 0 && r->text == NULL) || tsc_vclock_get(&r->clock, r->node) != r->seq)
        return TSC_EINVAL;
    return r->len > TSC_LOGREC_MAX_TEXT ? TSC_ETOOBIG : 0;
}

/* Walk the entries of cur and prev (both sorted; prev may be NULL) that
 * differ, the origin's own entry aside: with out == NULL only count them,
 * else write (ix, count) pairs. */
static int clock_diff(struct tsc_logblock_enc *e, const struct tsc_logrec *cur,
                      const struct tsc_logrec *prev, uint8_t **out, size_t *count)
{
    const struct tsc_vclock_entry *a = cur->clock.e, *b = prev ? prev->clock.e : NULL;
    size_t an = cur->clock.n, bn = prev ? prev->clock.n : 0, i = 0, j = 0, n = 0;
    uint64_t own = cur->node;
    while (i < an || j < bn) {
        uint64_t node, value;
        if (j >= bn || (i < an && a[i].node < b[j].node)) {
            node = a[i].node;
            value = a[i++].count;
        } else if (i >= an || b[j].node < a[i].node) {
            node = b[j++].node;
            value = 0; /* gone (a late record after a later one) */
        } else {
            node = a[i].node;
            value = a[i].count;
            int same = a[i++].count == b[j++].count;
            if (same)
                continue;
        }
        if (node == own)
            continue;
        n++;
        if (out != NULL) {
            uint32_t ix;
            int rc = ix_of(e, node, &ix);
            if (rc != 0)
                return rc;
            *out = put_uv(put_uv(*out, ix), value);
        }
    }
    *count = n;
    return 0;
}

/* One record into e->body against prev (its origin's previous record in
 * the block, or NULL) and the block's previous Lamport time and wall clock. */
static int encode_rec(struct tsc_logblock_enc *e, const struct tsc_logrec *r, uint32_t ix,
                      const struct tsc_logrec *prev, uint64_t *lamport, uint64_t *wall)
{
    size_t n_changes;
    clock_diff(e, r, prev, NULL, &n_changes);
    size_t bound = 8 * UV_MAX + 1 + n_changes * 2 * UV_MAX + r->len;
    if (tsc_buf_reserve(&e->body, bound) != 0)
        return TSC_ENOMEM;
    uint8_t *p = e->body.data + e->body.len;
    uint32_t pstage = prev ? prev->stage : 0, pcase = prev ? prev->case_index : 0;
    uint8_t pkind = prev ? prev->kind : 0;
    uint64_t pseq = prev ? prev->seq : 0;
    int flags = (r->stage != pstage ? F_STAGE : 0) | (r->case_index != pcase ? F_CASE : 0) |
                (r->kind != pkind ? F_KIND : 0) | (r->seq != pseq + 1 ? F_SEQ : 0);
    p = put_uv(p, ix);
    *p++ = (uint8_t)flags;
    if (flags & F_STAGE)
        p = put_uv(p, r->stage);
    if (flags & F_CASE)
        p = put_uv(p, r->case_index);
    if (flags & F_KIND)
        *p++ = r->kind;
    if (flags & F_SEQ)
        p = put_uv(p, r->seq);
    p = put_uv(p, n_changes);
    int rc = clock_diff(e, r, prev, &p, &n_changes);
    if (rc != 0)
        return rc;
    p = put_uv(p, zigzag(r->lamport - *lamport));
    p = put_uv(p, zigzag(r->wall_us - *wall));
    p = put_uv(p, r->len);
    if (r->len > 0)
        memcpy(p, r->text, r->len);
    p += r->len;
    e->body.len = (size_t)(p - e->body.data);
    *lamport = r->lamport;
    *wall = r->wall_us;
    return 0;
}

int tsc_logblock_encode(struct tsc_logblock_enc *e, uint64_t run,
                        const struct tsc_logrec *const *recs, size_t n, struct tsc_buf *out)
{
    int rc = 0;
    if (n == 0 || run == 0)
        return TSC_EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((rc = rec_valid(recs[i], run)) != 0)
            return rc;
    if (e->cap_slots == 0 && rehash(e, 64) != 0)
        return TSC_ENOMEM;
    if (e->cap_ids == 0) {
        e->ids = tsc_malloc(16 * sizeof *e->ids);
        e->prev = tsc_malloc(16 * sizeof *e->prev);
        if (e->ids == NULL || e->prev == NULL)
            return TSC_ENOMEM;
        e->cap_ids = 16;
    }
    /* A table grown by a large block is not cleared slot by slot forever. */
    if (e->cap_slots > 1024 && e->n_ids * 8 < e->cap_slots) {
        e->n_ids = 0;
        if (rehash(e, 64) != 0)
            return TSC_ENOMEM;
    }
    memset(e->slot_id, 0, e->cap_slots * sizeof *e->slot_id);
    e->n_ids = 0;
    tsc_buf_reset(&e->body);
    uint64_t lamport = 0, wall = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct tsc_logrec *r = recs[i];
        uint32_t ix;
        if ((rc = ix_of(e, r->node, &ix)) != 0)
            break;
        const struct tsc_logrec *prev = e->prev[ix];
        rc = encode_rec(e, r, ix, prev, &lamport, &wall);
        e->prev[ix] = r;
    }
    size_t old = out->len;
    if (rc == 0 && tsc_buf_reserve(out, (3 + e->n_ids) * UV_MAX + 1 + e->body.len) != 0)
        rc = TSC_ENOMEM;
    if (rc != 0) {
        out->len = old;
        return rc;
    }
    uint8_t *p = out->data + out->len;
    *p++ = MAGIC;
    p = put_uv(p, run);
    p = put_uv(p, e->n_ids);
    for (size_t i = 0; i < e->n_ids; i++)
        p = put_uv(p, e->ids[i]);
    p = put_uv(p, n);
    memcpy(p, e->body.data, e->body.len);
    out->len = (size_t)(p - out->data) + e->body.len;
    return 0;
}

/* ---- decoding ---------------------------------------------------------------------- */

void tsc_logblock_dec_init(struct tsc_logblock_dec *d)
{
    memset(d, 0, sizeof *d);
}

void tsc_logblock_dec_free(struct tsc_logblock_dec *d)
{
    for (size_t i = 0; i < d->cap_ids; i++)
        tsc_vclock_free(&d->nodes[i].clock);
    tsc_free(d->nodes);
    tsc_free(d->ids);
    tsc_logblock_dec_init(d);
}

static int dec_reserve(struct tsc_logblock_dec *d, size_t n)
{
    if (n <= d->cap_ids)
        return 0;
    size_t cap = d->cap_ids ? d->cap_ids : 16;
    while (cap < n)
        cap *= 2;
    uint64_t *ids = tsc_realloc(d->ids, cap * sizeof *ids);
    if (ids == NULL)
        return TSC_ENOMEM;
    d->ids = ids;
    struct tsc_logblock_node *nodes = tsc_realloc(d->nodes, cap * sizeof *nodes);
    if (nodes == NULL)
        return TSC_ENOMEM;
    for (size_t i = d->cap_ids; i < cap; i++)
        tsc_vclock_init(&nodes[i].clock);
    d->nodes = nodes;
    d->cap_ids = cap;
    return 0;
}

int tsc_logblock_open(struct tsc_logblock_dec *d, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    uint64_t run, n_ids, n;
    d->p = d->end = NULL;
    d->left = 0;
    if (len == 0)
        return TSC_EMALFORMED;
    if (p[0] == LEGACY_MAGIC) {
        d->legacy = 1;
        d->p = p;
        d->end = end;
        return 0;
    }
    d->legacy = 0;
    if (*p++ != MAGIC || get_uv(&p, end, &run) != 0 || run == 0 || get_uv(&p, end, &n_ids) != 0 ||
        n_ids > (uint64_t)(end - p))
        return TSC_EMALFORMED;
    if (dec_reserve(d, (size_t)n_ids) != 0)
        return TSC_ENOMEM;
    for (size_t i = 0; i < n_ids; i++) {
        if (get_uv(&p, end, &d->ids[i]) != 0 || d->ids[i] == 0)
            return TSC_EMALFORMED;
        struct tsc_logblock_node *x = &d->nodes[i];
        tsc_vclock_reset(&x->clock);
        x->seq = 0;
        x->stage = x->case_index = 0;
        x->kind = 0;
    }
    if (get_uv(&p, end, &n) != 0 || n == 0 || n > (uint64_t)(end - p) / MIN_REC_BYTES + 1)
        return TSC_EMALFORMED;
    d->n_ids = (size_t)n_ids;
    d->run = run;
    d->left = n;
    d->lamport = d->wall = 0;
    d->p = p;
    d->end = end;
    return 0;
}

static int next_legacy(struct tsc_logblock_dec *d, struct tsc_logrec *r)
{
    struct tsc_mp_reader rd;
    if (d->p == d->end)
        return TSC_ENOTFOUND;
    tsc_mp_reader_init(&rd, d->p, (size_t)(d->end - d->p));
    if (tsc_mp_skip(&rd) != 0)
        return TSC_EMALFORMED;
    int rc = tsc_logrec_decode(d->p, (size_t)(rd.p - d->p), r);
    if (rc == 0)
        d->p = rd.p;
    return rc;
}

static int get_u32(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
    uint64_t x;
    if (get_uv(p, end, &x) != 0 || x > UINT32_MAX)
        return TSC_EMALFORMED;
    *v = (uint32_t)x;
    return 0;
}

int tsc_logblock_next(struct tsc_logblock_dec *d, struct tsc_logrec *r)
{
    const uint8_t *p = d->p, *end = d->end;
    uint64_t ix, n_changes, seq, ld, wd, len;
    if (d->legacy)
        return next_legacy(d, r);
    r->text = NULL;
    r->len = 0;
    if (d->left == 0)
        return p == end ? TSC_ENOTFOUND : TSC_EMALFORMED;
    if (get_uv(&p, end, &ix) != 0 || ix >= d->n_ids || p == end)
        return TSC_EMALFORMED;
    struct tsc_logblock_node *x = &d->nodes[ix];
    uint64_t node = d->ids[ix];
    int flags = *p++;
    uint32_t stage = x->stage, case_index = x->case_index;
    uint8_t kind = x->kind;
    seq = x->seq + 1;
    if ((flags & ~F_ALL) != 0 || ((flags & F_STAGE) && get_u32(&p, end, &stage) != 0) ||
        ((flags & F_CASE) && get_u32(&p, end, &case_index) != 0))
        return TSC_EMALFORMED;
    if (flags & F_KIND) {
        if (p == end)
            return TSC_EMALFORMED;
        kind = *p++;
    }
    if (((flags & F_SEQ) && get_uv(&p, end, &seq) != 0) || seq == 0 || !kind_valid(kind) ||
        get_uv(&p, end, &n_changes) != 0 || n_changes > (uint64_t)(end - p) / 2)
        return TSC_EMALFORMED;
    for (uint64_t i = 0; i < n_changes; i++) {
        uint64_t cix, count;
        if (get_uv(&p, end, &cix) != 0 || cix >= d->n_ids || get_uv(&p, end, &count) != 0)
            return TSC_EMALFORMED;
        int rc = tsc_vclock_set(&x->clock, d->ids[cix], count);
        if (rc != 0)
            return rc == TSC_ENOMEM ? rc : TSC_EMALFORMED;
    }
    int rc = tsc_vclock_set(&x->clock, node, seq);
    if (rc != 0)
        return rc == TSC_ENOMEM ? rc : TSC_EMALFORMED;
    if (get_uv(&p, end, &ld) != 0 || get_uv(&p, end, &wd) != 0 || get_uv(&p, end, &len) != 0)
        return TSC_EMALFORMED;
    uint64_t lamport = d->lamport + unzigzag(ld);
    if (lamport == 0 || len > (uint64_t)(end - p))
        return TSC_EMALFORMED;
    if (len > TSC_LOGREC_MAX_TEXT)
        return TSC_ETOOBIG;
    if ((rc = tsc_vclock_copy(&r->clock, &x->clock)) != 0)
        return rc;
    x->seq = seq;
    x->stage = stage;
    x->case_index = case_index;
    x->kind = kind;
    d->lamport = lamport;
    d->wall += unzigzag(wd);
    r->node = node;
    r->seq = seq;
    r->lamport = lamport;
    r->wall_us = d->wall;
    r->run = d->run;
    r->stage = stage;
    r->case_index = case_index;
    r->kind = kind;
    r->text = len > 0 ? p : NULL;
    r->len = (size_t)len;
    d->p = p + len;
    d->left--;
    return 0;
}
