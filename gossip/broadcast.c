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

static void bcast_remove(struct tsc_gossip *g, uint32_t i)
{
    tsc_free(g->bcasts[i].blob);
    g->bcasts[i] = g->bcasts[--g->n_bcasts];
}

/* Queue a blob. A newer update about a subject makes older ones pointless:
 * a record invalidates every queued item about the subject, a dead claim
 * invalidates suspect claims, and a claim replaces an older claim by the
 * same accuser. Independent suspect claims by different accusers are kept:
 * they are the confirmations Lifeguard's timeout counts. */
int tsc__gossip_enqueue(struct tsc_gossip *g, uint8_t kind, uint64_t subject, uint64_t accuser,
                        uint8_t status, const uint8_t *blob, size_t len)
{
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
    if (first != 0) {
        for (uint32_t i = 0; i < g->n_bcasts; i++) {
            struct tsc__bcast *b = &g->bcasts[i];
            if (b->subject != first)
                continue;
            int rc = tsc_swim_add(w, b->blob, b->len, limit);
            if (rc == TSC_ENOMEM)
                return rc;
            if (rc == 0)
                b->transmits++;
        }
    }
    /* Counting passes by transmit count: the queue is short and the limit
     * is small (λ·log10 n), so this beats keeping it sorted. */
    for (uint32_t t = 0; t < max_tx; t++) {
        int any = 0;
        for (uint32_t i = 0; i < g->n_bcasts; i++) {
            struct tsc__bcast *b = &g->bcasts[i];
            if (b->transmits != t || (first != 0 && b->subject == first))
                continue;
            any = 1;
            int rc = tsc_swim_add(w, b->blob, b->len, limit);
            if (rc == TSC_ENOMEM)
                return rc;
            if (rc == TSC_EFULL) {
                if (w->n_items >= TSC_SWIM_MAX_ITEMS)
                    goto done;
                continue; /* a smaller item may still fit */
            }
            b->transmits = t + 1 + 0x80000000u; /* mark: sent in this message */
        }
        (void)any;
    }
done:
    for (uint32_t i = 0; i < g->n_bcasts;) {
        struct tsc__bcast *b = &g->bcasts[i];
        b->transmits &= 0x7fffffffu;
        if (b->transmits >= max_tx)
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
