/* tsc — dissemination: the queue of updates that ride on every datagram
 * (SWIM §4.1, infection-style), each sent about λ·log(n) times, newest first;
 * and the gossip round that pushes them to a few random members. */
#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "gossip/internal.h"

uint32_t tsc__gossip_retransmit_limit(const struct tsc_gossip *g)
{
    double n = (double)g->n_alive + 1.0;
    uint32_t scale = (uint32_t)ceil(log10(n));
    if (scale < 1)
        scale = 1;
    return g->cfg.retransmit_mult * scale;
}

/* Order-preserving: the array is kept oldest first, so that the newest
 * news can go first among items sent equally often. */
static void bcast_remove(struct tsc_gossip *g, uint32_t i)
{
    tsc_free(g->bcasts[i].blob);
    memmove(&g->bcasts[i], &g->bcasts[i + 1], (size_t)(g->n_bcasts - i - 1) * sizeof g->bcasts[0]);
    g->n_bcasts--;
}

/* Queue a blob. A newer update about a subject makes older ones pointless:
 * a record invalidates every queued item about the subject, a dead claim
 * invalidates suspect claims, and a claim replaces an older claim by the
 * same accuser. Independent suspect claims by different accusers are kept:
 * they are the confirmations Lifeguard's timeout counts. */
int tsc__gossip_enqueue(struct tsc_gossip *g, uint8_t kind, uint64_t subject, uint64_t accuser,
                        uint8_t status, const uint8_t *blob, size_t len)
{
    if (kind == TSC_BLOB_CLAIM && status == TSC_STATUS_SUSPECT) {
        /* Lifeguard needs k independent accusers to reach the minimum
         * timeout; more confirmations than that in flight add nothing. */
        unsigned n = 0;
        for (uint32_t i = 0; i < g->n_bcasts; i++) {
            const struct tsc__bcast *b = &g->bcasts[i];
            if (b->subject == subject &&
                (b->kind != TSC_BLOB_CLAIM || b->status != TSC_STATUS_SUSPECT))
                n = UINT32_MAX / 2; /* a dead claim or newer record is queued */
            else if (b->subject == subject && b->accuser != accuser)
                n++;
        }
        if (n >= g->cfg.indirect_checks + 1)
            return 0;
    }
    for (uint32_t i = 0; i < g->n_bcasts;) {
        struct tsc__bcast *b = &g->bcasts[i];
        int drop = 0;
        if (b->subject == subject) {
            if (kind == TSC_BLOB_RECORD)
                drop = 1;
            else if (b->kind == TSC_BLOB_RECORD)
                drop = 1; /* a claim at >= its incarnation supersedes it */
            else if (b->accuser == accuser)
                drop = 1;
            else if (status == TSC_STATUS_DEAD)
                drop = 1;
        }
        if (drop)
            bcast_remove(g, i);
        else
            i++;
    }
    /* Bounded queue: when many members join at once, every push-pull brings
     * a whole state of news. Past the cap the most-transmitted (oldest) news
     * gives way; periodic push-pull repairs whatever that leaves out. */
    if (g->n_bcasts >= TSC__MAX_BCASTS) {
        uint32_t worst = 0;
        for (uint32_t i = 1; i < g->n_bcasts; i++)
            if (g->bcasts[i].transmits > g->bcasts[worst].transmits ||
                (g->bcasts[i].transmits == g->bcasts[worst].transmits &&
                 g->bcasts[worst].subject == g->self_id))
                worst = i;
        bcast_remove(g, worst);
    }
    if (g->n_bcasts == g->cap_bcasts) {
        uint32_t cap = g->cap_bcasts ? g->cap_bcasts * 2 : 16;
        struct tsc__bcast *p = tsc_realloc(g->bcasts, (size_t)cap * sizeof *p);
        if (p == NULL)
            return TSC_ENOMEM;
        g->bcasts = p;
        g->cap_bcasts = cap;
    }
    uint8_t *copy = tsc_malloc(len);
    if (copy == NULL)
        return TSC_ENOMEM;
    memcpy(copy, blob, len);
    struct tsc__bcast *b = &g->bcasts[g->n_bcasts++];
    b->subject = subject;
    b->accuser = accuser;
    b->kind = kind;
    b->status = status;
    b->transmits = 0;
    b->blob = copy;
    b->len = (uint32_t)len;
    return 0;
}

/* Piggyback queued items, fewest transmits first (new news travels first),
 * items about `first` ahead of everything (Lifeguard §4.4 buddy system: a
 * suspect learns of the suspicion from the node probing it). Items that
 * reach the retransmit limit leave the queue. */
int tsc__gossip_piggyback(struct tsc_gossip *g, struct tsc_swim_writer *w, size_t limit,
                          uint64_t first)
{
    uint32_t max_tx = tsc__gossip_retransmit_limit(g);
    if (g->n_bcasts == 0)
        return 0;
    /* Order by (not about `first`, transmits) with a counting sort: O(n) per
     * datagram, and the buckets are few (λ·log10 n + 1). */
    uint32_t nb = max_tx + 2;
    if (g->cap_order < g->n_bcasts || g->cap_bucket < nb) {
        uint32_t *o = tsc_realloc(g->order, (size_t)g->cap_bcasts * sizeof *o);
        if (o == NULL)
            return TSC_ENOMEM;
        g->order = o;
        g->cap_order = g->cap_bcasts;
        if (g->cap_bucket < nb) {
            uint32_t *b = tsc_realloc(g->bucket, (size_t)nb * sizeof *b);
            if (b == NULL)
                return TSC_ENOMEM;
            g->bucket = b;
            g->cap_bucket = nb;
        }
    }
    memset(g->bucket, 0, (size_t)nb * sizeof *g->bucket);
    for (uint32_t i = 0; i < g->n_bcasts; i++) {
        const struct tsc__bcast *b = &g->bcasts[i];
        uint32_t key = (first != 0 && b->subject == first) ? 0 : 1 + b->transmits;
        g->bucket[key < nb ? key : nb - 1]++;
    }
    for (uint32_t k = 0, sum = 0; k < nb; k++) {
        uint32_t c = g->bucket[k];
        g->bucket[k] = sum;
        sum += c;
    }
    for (uint32_t i = g->n_bcasts; i-- > 0;) { /* newest first within a bucket */
        const struct tsc__bcast *b = &g->bcasts[i];
        uint32_t key = (first != 0 && b->subject == first) ? 0 : 1 + b->transmits;
        g->order[g->bucket[key < nb ? key : nb - 1]++] = i;
    }
    int any_sent = 0;
    for (uint32_t j = 0; j < g->n_bcasts; j++) {
        struct tsc__bcast *b = &g->bcasts[g->order[j]];
        int rc = tsc_swim_add(w, b->blob, b->len, limit);
        if (rc == TSC_ENOMEM)
            return rc;
        if (rc == TSC_EFULL) {
            /* a smaller item may still fit, unless the datagram is all but full */
            size_t used = w->buf->len - w->start;
            if (w->n_items >= TSC_SWIM_MAX_ITEMS || used + 96 > limit)
                break;
            continue;
        }
        b->transmits++;
        any_sent = 1;
    }
    if (!any_sent)
        return 0;
    for (uint32_t i = 0; i < g->n_bcasts;) {
        if (g->bcasts[i].transmits >= max_tx)
            bcast_remove(g, i);
        else
            i++;
    }
    return 0;
}

/* 1 while this node's own record (e.g. LEFT) is still waiting to be sent. */
int tsc__gossip_self_pending(const struct tsc_gossip *g)
{
    for (uint32_t i = 0; i < g->n_bcasts; i++)
        if (g->bcasts[i].subject == g->self_id && g->bcasts[i].kind == TSC_BLOB_RECORD &&
            g->bcasts[i].transmits < 3)
            return 1;
    return 0;
}

/* One gossip round: when there is news, send a GOSSIP datagram to `fanout`
 * random members that are alive, suspect, or recently dead/left (so that a
 * node wrongly declared dead hears of it and refutes). */
int tsc__gossip_gossip_round(struct tsc_gossip *g, uint64_t now)
{
    if (g->n_bcasts == 0 || g->n_members < 2)
        return 0;
    unsigned sent = 0;
    unsigned tries = g->cfg.gossip_fanout * 4;
    uint64_t chosen[16];
    unsigned n_chosen = 0;
    while (sent < g->cfg.gossip_fanout && tries-- > 0 && g->n_bcasts > 0) {
        uint32_t k = (uint32_t)tsc_prng_below(&g->prng, g->n_members);
        struct tsc__member *m = &g->members[k];
        if (m->id == g->self_id)
            continue;
        if ((m->status == TSC_STATUS_DEAD || m->status == TSC_STATUS_LEFT) &&
            now - m->status_since > g->cfg.gossip_to_dead)
            continue;
        int dup = 0;
        for (unsigned j = 0; j < n_chosen; j++)
            dup |= chosen[j] == m->id;
        if (dup)
            continue;
        if (n_chosen < 16)
            chosen[n_chosen++] = m->id;
        struct tsc_addr none = {0, 0};
        int rc = tsc__gossip_send_swim(g, m->addr, TSC_MSG_GOSSIP, 0, 0, none, 0);
        if (rc != 0)
            return rc;
        sent++;
    }
    return 0;
}
