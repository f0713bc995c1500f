/* tsc — compact vector clocks: a sorted array of the set entries only.
 *
 * Every operation that can fail computes its result size first and reserves
 * memory before it touches the clock, so a failed call leaves it unchanged.
 * The two-clock operations walk both sorted arrays once (O(n + m)). */
#include "logsync/vclock.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

void tsc_vclock_init(struct tsc_vclock *c)
{
    c->n = 0;
    c->cap = 0;
    c->e = NULL;
}

void tsc_vclock_free(struct tsc_vclock *c)
{
    tsc_free(c->e);
    tsc_vclock_init(c);
}

void tsc_vclock_reset(struct tsc_vclock *c)
{
    c->n = 0;
}

/* Ensure room for `need` entries (at most TSC_VCLOCK_MAX_ENTRIES). */
static int reserve(struct tsc_vclock *c, size_t need)
{
    if (need <= c->cap)
        return 0;
    size_t cap = c->cap ? c->cap : 4;
    while (cap < need)
        cap *= 2;
    if (cap > TSC_VCLOCK_MAX_ENTRIES)
        cap = TSC_VCLOCK_MAX_ENTRIES > need ? TSC_VCLOCK_MAX_ENTRIES : need;
    struct tsc_vclock_entry *e = tsc_realloc(c->e, cap * sizeof *e);
    if (e == NULL)
        return TSC_ENOMEM;
    c->e = e;
    c->cap = cap;
    return 0;
}

/* Index of node in c, or of the first entry above it (then *found = 0). */
static size_t lookup(const struct tsc_vclock *c, uint64_t node, int *found)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->e[mid].node < node)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < c->n && c->e[lo].node == node;
    return lo;
}

uint64_t tsc_vclock_get(const struct tsc_vclock *c, uint64_t node)
{
    int found;
    size_t i = lookup(c, node, &found);
    return found ? c->e[i].count : 0;
}

int tsc_vclock_set(struct tsc_vclock *c, uint64_t node, uint64_t count)
{
    int found;
    if (node == 0)
        return TSC_EINVAL;
    size_t i = lookup(c, node, &found);
    if (found) {
        if (count == 0) {
            memmove(c->e + i, c->e + i + 1, (c->n - i - 1) * sizeof *c->e);
            c->n--;
        } else {
            c->e[i].count = count;
        }
        return 0;
    }
    if (count == 0)
        return 0;
    if (c->n >= TSC_VCLOCK_MAX_ENTRIES)
        return TSC_EFULL;
    if (reserve(c, c->n + 1) != 0)
        return TSC_ENOMEM;
    memmove(c->e + i + 1, c->e + i, (c->n - i) * sizeof *c->e);
    c->e[i].node = node;
    c->e[i].count = count;
    c->n++;
    return 0;
}

int tsc_vclock_tick(struct tsc_vclock *c, uint64_t node, uint64_t *count)
{
    uint64_t v = tsc_vclock_get(c, node);
    /* A count that cannot grow any more would silently break the order. */
    if (v == UINT64_MAX)
        return TSC_EFULL;
    int rc = tsc_vclock_set(c, node, v + 1);
    if (rc == 0 && count != NULL)
        *count = v + 1;
    return rc;
}

int tsc_vclock_merge(struct tsc_vclock *dst, const struct tsc_vclock *src)
{
    if (dst == src || src->n == 0)
        return 0;
    /* Size of the union first, so the merge below cannot fail half-way. */
    size_t i = 0, j = 0, u = 0;
    while (i < dst->n && j < src->n) {
        if (dst->e[i].node < src->e[j].node)
            i++;
        else if (dst->e[i].node > src->e[j].node)
            j++;
        else
            i++, j++;
        u++;
    }
    u += (dst->n - i) + (src->n - j);
    if (u > TSC_VCLOCK_MAX_ENTRIES)
        return TSC_EFULL;
    if (reserve(dst, u) != 0)
        return TSC_ENOMEM;
    /* Merge from the back, in place: the write index never passes the
     * read index of dst. */
    size_t a = dst->n, b = src->n, k = u;
    while (b > 0) {
        const struct tsc_vclock_entry *s = &src->e[b - 1];
        if (a > 0 && dst->e[a - 1].node > s->node) {
            dst->e[--k] = dst->e[--a];
        } else if (a > 0 && dst->e[a - 1].node == s->node) {
            struct tsc_vclock_entry d = dst->e[--a];
            if (s->count > d.count)
                d.count = s->count;
            dst->e[--k] = d;
            b--;
        } else {
            dst->e[--k] = *s;
            b--;
        }
    }
    dst->n = u;
    return 0;
}

int tsc_vclock_copy(struct tsc_vclock *dst, const struct tsc_vclock *src)
{
    if (dst == src)
        return 0;
    if (reserve(dst, src->n) != 0)
        return TSC_ENOMEM;
    if (src->n > 0)
        memcpy(dst->e, src->e, src->n * sizeof *src->e);
    dst->n = src->n;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int tsc_vclock_project(struct tsc_vclock *dst, const struct tsc_vclock *src, const uint64_t *nodes,
                       size_t n)
{
    if (n > 0 && nodes == NULL)
        return TSC_EINVAL;
    size_t max = src->n < n ? src->n : n;
    if (max == 0) {
        tsc_vclock_reset(dst);
        return 0;
    }
    /* Build into fresh memory: dst may be src. */
    uint64_t *ids = tsc_malloc(n * sizeof *ids);
    struct tsc_vclock_entry *e = tsc_malloc(max * sizeof *e);
    if (ids == NULL || e == NULL) {
        tsc_free(ids);
        tsc_free(e);
        return TSC_ENOMEM;
    }
    memcpy(ids, nodes, n * sizeof *ids);
    qsort(ids, n, sizeof *ids, cmp_u64);
    size_t i = 0, j = 0, k = 0;
    while (i < src->n && j < n) {
        if (src->e[i].node < ids[j])
            i++;
        else if (src->e[i].node > ids[j])
            j++;
        else {
            e[k++] = src->e[i++];
            j++;
        }
    }
    tsc_free(ids);
    tsc_free(dst->e);
    dst->e = e;
    dst->cap = max;
    dst->n = k;
    return 0;
}

int tsc_vclock_compare(const struct tsc_vclock *a, const struct tsc_vclock *b)
{
    int less = 0, greater = 0; /* some count of a below / above b's */
    size_t i = 0, j = 0;
    while (i < a->n && j < b->n && !(less && greater)) {
        if (a->e[i].node < b->e[j].node) {
            greater = 1; /* b's count is 0 there */
            i++;
        } else if (a->e[i].node > b->e[j].node) {
            less = 1;
            j++;
        } else {
            if (a->e[i].count < b->e[j].count)
                less = 1;
            else if (a->e[i].count > b->e[j].count)
                greater = 1;
            i++, j++;
        }
    }
    if (i < a->n)
        greater = 1;
    if (j < b->n)
        less = 1;
    if (less && greater)
        return TSC_VCLOCK_CONCURRENT;
    if (less)
        return TSC_VCLOCK_BEFORE;
    if (greater)
        return TSC_VCLOCK_AFTER;
    return TSC_VCLOCK_EQUAL;
}

uint64_t tsc_vclock_sum(const struct tsc_vclock *c)
{
    uint64_t s = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->e[i].count > UINT64_MAX - s)
            return UINT64_MAX;
        s += c->e[i].count;
    }
    return s;
}

void tsc_vclock_pack(const struct tsc_vclock *c, struct tsc_mp_writer *w)
{
    msgpack_pack_array(&w->pk, 2 * c->n);
    for (size_t i = 0; i < c->n; i++) {
        msgpack_pack_uint64(&w->pk, c->e[i].node);
        msgpack_pack_uint64(&w->pk, c->e[i].count);
    }
}

int tsc_vclock_read(struct tsc_mp_reader *r, struct tsc_vclock *c)
{
    uint32_t n;
    tsc_vclock_reset(c);
    /* tsc_mp_read_array bounds n by the bytes left: the reservation below
     * is at most TSC_VCLOCK_MAX_ENTRIES entries and never more than the
     * input could describe. */
    if (tsc_mp_read_array(r, &n) != 0 || n % 2 != 0 || n / 2 > TSC_VCLOCK_MAX_ENTRIES)
        return TSC_EMALFORMED;
    if (reserve(c, n / 2) != 0)
        return TSC_ENOMEM;
    uint64_t prev = 0;
    for (uint32_t i = 0; i < n / 2; i++) {
        uint64_t node, count;
        if (tsc_mp_read_uint(r, &node) != 0 || tsc_mp_read_uint(r, &count) != 0 || node <= prev ||
            count == 0) {
            tsc_vclock_reset(c);
            return TSC_EMALFORMED;
        }
        c->e[i].node = node;
        c->e[i].count = count;
        c->n = i + 1;
        prev = node;
    }
    return 0;
}
