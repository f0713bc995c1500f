/* tsc — the member table of the SWIM engine: lookup, status rules,
 * incarnation refutation (SWIM §4.2) and Lifeguard suspicion (§3.2). */
#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "gossip/internal.h"

static uint32_t hash_id(uint64_t id)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (uint32_t)id;
}

struct tsc__member *tsc__gossip_find(struct tsc_gossip *g, uint64_t id)
{
    if (g->index_cap == 0)
        return NULL;
    uint32_t mask = g->index_cap - 1;
    for (uint32_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
        uint32_t k = g->index[i];
        if (k == TSC__NO_INDEX)
            return NULL;
        if (g->members[k].id == id)
            return &g->members[k];
    }
}

static int index_grow(struct tsc_gossip *g)
{
    uint32_t cap = g->index_cap ? g->index_cap * 2 : 64;
    uint32_t *idx = tsc_malloc((size_t)cap * sizeof *idx);
    if (idx == NULL)
        return TSC_ENOMEM;
    for (uint32_t i = 0; i < cap; i++)
        idx[i] = TSC__NO_INDEX;
    for (uint32_t k = 0; k < g->n_members; k++) {
        uint32_t i = hash_id(g->members[k].id) & (cap - 1);
        while (idx[i] != TSC__NO_INDEX)
            i = (i + 1) & (cap - 1);
        idx[i] = k;
    }
    tsc_free(g->index);
    g->index = idx;
    g->index_cap = cap;
    return 0;
}

static int set_blob(uint8_t **dst, uint32_t *dst_len, const uint8_t *blob, size_t len)
{
    uint8_t *p = tsc_malloc(len);
    if (p == NULL)
        return TSC_ENOMEM;
    memcpy(p, blob, len);
    tsc_free(*dst);
    *dst = p;
    *dst_len = (uint32_t)len;
    return 0;
}

/* Add a member from a verified record. The blob is copied. On success
 * *index is its position; the member is placed in the probe list at a random
 * position (SWIM §4.3) unless it is this node. */
int tsc__gossip_add_member(struct tsc_gossip *g, const struct tsc_record *rec, const uint8_t *blob,
                           size_t len, uint64_t now, uint32_t *index)
{
    if ((g->n_members + 1) * 2 > g->index_cap && index_grow(g) != 0)
        return TSC_ENOMEM;
    if (g->n_members == g->cap_members) {
        uint32_t cap = g->cap_members ? g->cap_members * 2 : 16;
        struct tsc__member *m = tsc_realloc(g->members, (size_t)cap * sizeof *m);
        if (m == NULL)
            return TSC_ENOMEM;
        g->members = m;
        g->cap_members = cap;
    }
    struct tsc__member *m = &g->members[g->n_members];
    memset(m, 0, sizeof *m);
    if (set_blob(&m->record, &m->record_len, blob, len) != 0)
        return TSC_ENOMEM;
    m->id = rec->id;
    m->addr = rec->addr;
    m->incarnation = rec->incarnation;
    m->status = rec->status;
    memcpy(m->pk, rec->pk, TSC_PK_BYTES);
    m->status_since = now;
    uint32_t k = g->n_members++;
    uint32_t mask = g->index_cap - 1;
    uint32_t i = hash_id(m->id) & mask;
    while (g->index[i] != TSC__NO_INDEX)
        i = (i + 1) & mask;
    g->index[i] = k;
    if (m->status == TSC_STATUS_ALIVE)
        g->n_alive++;
    if (m->id != g->self_id)
        tsc__gossip_probe_list_add(g, k);
    *index = k;
    return 0;
}

void tsc__gossip_note_change(struct tsc_gossip *g, const struct tsc__member *m, uint8_t old_status)
{
    if (g->n_changes == g->cap_changes) {
        size_t cap = g->cap_changes ? g->cap_changes * 2 : 16;
        struct tsc_gossip_change *c = tsc_realloc(g->changes, cap * sizeof *c);
        if (c == NULL) {
            g->oom = 1;
            return;
        }
        g->changes = c;
        g->cap_changes = cap;
    }
    struct tsc_gossip_change *c = &g->changes[g->n_changes++];
    c->id = m->id;
    c->addr = m->addr;
    c->incarnation = m->incarnation;
    c->old_status = old_status;
    c->new_status = m->status;
}

static int is_live(uint8_t status)
{
    return status == TSC_STATUS_ALIVE || status == TSC_STATUS_SUSPECT;
}

static void drop_suspicion(struct tsc_gossip *g, struct tsc__member *m)
{
    if (m->susp == NULL)
        return;
    tsc_free(m->susp);
    m->susp = NULL;
    uint32_t k = (uint32_t)(m - g->members);
    for (uint32_t i = 0; i < g->n_suspects; i++) {
        if (g->suspects[i] == k) {
            g->suspects[i] = g->suspects[--g->n_suspects];
            break;
        }
    }
}

/* Change status and incarnation, keeping the live count and the suspect list
 * in step, and report the change. */
void tsc__gossip_set_status(struct tsc_gossip *g, struct tsc__member *m, uint8_t status,
                            uint64_t incarnation, uint64_t now)
{
    uint8_t old = m->status;
    if (is_live(old) && !is_live(status))
        g->n_alive--;
    else if (!is_live(old) && is_live(status))
        g->n_alive++;
    if (status != TSC_STATUS_SUSPECT)
        drop_suspicion(g, m);
    if (status == TSC_STATUS_ALIVE || status == TSC_STATUS_LEFT) {
        tsc_free(m->claim);
        m->claim = NULL;
        m->claim_len = 0;
    }
    if (old != status)
        m->status_since = now;
    int changed = old != status || m->incarnation != incarnation;
    m->status = status;
    m->incarnation = incarnation;
    if (changed)
        tsc__gossip_note_change(g, m, old);
}

/* Lifeguard §3.2: the timeout starts at max and falls towards min as
 * independent accusers confirm, reaching min after k confirmations:
 *   t(C) = max(min, max - (max - min) * log(C + 1) / log(k + 1)). */
static uint64_t suspicion_timeout(const struct tsc_gossip *g, unsigned confirmations)
{
    double n = g->n_alive > 1 ? (double)g->n_alive : 1.0;
    double scale = log10(n);
    if (scale < 1.0)
        scale = 1.0;
    double min = (double)g->cfg.suspicion_mult * scale * (double)g->cfg.probe_interval;
    double max = (double)g->cfg.suspicion_max_mult * min;
    unsigned k = g->cfg.indirect_checks;
    if (g->n_alive < 2 + k)
        k = g->n_alive > 2 ? g->n_alive - 2 : 0;
    if (k == 0)
        return (uint64_t)min;
    double t = max - (max - min) * log((double)confirmations + 1.0) / log((double)k + 1.0);
    return (uint64_t)(t < min ? min : t);
}

/* Make sure start_suspicion cannot fail: called before the status changes,
 * so that running out of memory leaves the member as it was. */
static int reserve_suspicion(struct tsc_gossip *g, struct tsc__suspicion **out)
{
    if (g->n_suspects == g->cap_suspects) {
        uint32_t cap = g->cap_suspects ? g->cap_suspects * 2 : 16;
        uint32_t *p = tsc_realloc(g->suspects, (size_t)cap * sizeof *p);
        if (p == NULL)
            return TSC_ENOMEM;
        g->suspects = p;
        g->cap_suspects = cap;
    }
    *out = tsc_calloc(1, sizeof **out);
    return *out == NULL ? TSC_ENOMEM : 0;
}

/* Takes ownership of s (from reserve_suspicion). m must be SUSPECT now. */
static void start_suspicion(struct tsc_gossip *g, struct tsc__member *m, struct tsc__suspicion *s,
                            uint64_t accuser, uint64_t now)
{
    s->start = now;
    s->accusers[0] = accuser;
    s->deadline = now + suspicion_timeout(g, 0);
    m->susp = s;
    g->suspects[g->n_suspects++] = (uint32_t)(m - g->members);
}

/* Returns 1 when the accuser is new (a confirmation), 0 otherwise. */
static int confirm_suspicion(struct tsc_gossip *g, struct tsc__member *m, uint64_t accuser)
{
    struct tsc__suspicion *s = m->susp;
    if (s == NULL)
        return 0;
    for (unsigned i = 0; i <= s->n_confirm; i++)
        if (s->accusers[i] == accuser)
            return 0;
    if (s->n_confirm >= TSC__MAX_CONFIRM)
        return 0;
    s->accusers[++s->n_confirm] = accuser;
    s->deadline = s->start + suspicion_timeout(g, s->n_confirm);
    return 1;
}

/* Re-sign this node's record with a new incarnation/status and gossip it. */
int tsc__gossip_resign_self(struct tsc_gossip *g, uint64_t incarnation, uint8_t status,
                            uint64_t now)
{
    struct tsc__member *self = &g->members[g->self_index];
    struct tsc_record rec;
    memset(&rec, 0, sizeof rec);
    rec.id = g->self_id;
    memcpy(rec.pk, self->pk, TSC_PK_BYTES);
    rec.addr = self->addr;
    rec.incarnation = incarnation;
    rec.status = status;
    rec.meta = g->meta;
    rec.meta_len = g->meta_len;
    tsc_buf_reset(&g->tmp);
    int rc = tsc_record_encode(g->crypto, &rec, g->sk, &g->tmp);
    if (rc != 0)
        return rc;
    rc = set_blob(&self->record, &self->record_len, g->tmp.data, g->tmp.len);
    if (rc != 0)
        return rc;
    tsc__gossip_set_status(g, self, status, incarnation, now);
    return tsc__gossip_enqueue(g, TSC_BLOB_RECORD, g->self_id, 0, status, self->record,
                               self->record_len);
}

/* Someone claims this node is suspect or dead, or relays an old record of
 * ours: refute with a higher incarnation (SWIM §4.2) and count it against
 * our local health (Lifeguard §3.1). */
static int refute(struct tsc_gossip *g, uint64_t claimed_incarnation, uint64_t now)
{
    struct tsc__member *self = &g->members[g->self_index];
    if (claimed_incarnation < self->incarnation || claimed_incarnation >= TSC__MAX_INCARNATION)
        return 0;
    g->stats.refutations++;
    if (g->stats.health < g->cfg.awareness_max)
        g->stats.health++;
    uint8_t status = g->leaving ? TSC_STATUS_LEFT : TSC_STATUS_ALIVE;
    return tsc__gossip_resign_self(g, claimed_incarnation + 1, status, now);
}

static int apply_record(struct tsc_gossip *g, const uint8_t *blob, size_t len, uint64_t now,
                        uint64_t via)
{
    struct tsc_record rec;
    int rc = tsc_record_decode(g->crypto, blob, len, 0, &rec);
    if (rc != 0) {
        g->stats.rejected++;
        g->stats.rejected_malformed++;
        return 0;
    }
    if ((rec.status != TSC_STATUS_ALIVE && rec.status != TSC_STATUS_LEFT) ||
        rec.incarnation > TSC__MAX_INCARNATION) {
        g->stats.rejected++;
        g->stats.rejected_malformed++;
        return 0;
    }
    struct tsc__member *m = tsc__gossip_find(g, rec.id);
    if (m != NULL) {
        if (rec.incarnation < m->incarnation)
            return 0;
        if (rec.incarnation == m->incarnation &&
            (m->status != TSC_STATUS_ALIVE || m->record_len != len ||
             memcmp(m->record, blob, len) == 0))
            return 0; /* a claim at this incarnation wins; or nothing new */
    }
    /* Only verify what would change our state: most gossip is duplicates. */
    if (tsc_record_decode(g->crypto, blob, len, 1, &rec) != 0) {
        g->stats.rejected++;
        g->stats.rejected_sig++;
        return 0;
    }
    if (rec.id == g->self_id)
        return refute(g, rec.incarnation, now);
    if (m == NULL) {
        uint32_t k;
        rc = tsc__gossip_add_member(g, &rec, blob, len, now, &k);
        if (rc != 0)
            return rc;
        tsc__gossip_note_change(g, &g->members[k], 255);
    } else {
        if (memcmp(m->pk, rec.pk, TSC_PK_BYTES) != 0) {
            g->stats.rejected++;
            g->stats.rejected_sig++;
            return 0;
        }
        rc = set_blob(&m->record, &m->record_len, blob, len);
        if (rc != 0)
            return rc;
        m->addr = rec.addr;
        tsc__gossip_set_status(g, m, rec.status, rec.incarnation, now);
    }
    /* Whatever is news to us is gossiped on, also when a periodic push-pull
     * brought it: nodes that learnt it the same way would not spread it
     * otherwise. Not so the answer to our own join: everything in it is old
     * news to everyone but us, and re-gossiping it made a mass join flood
     * every queue for a minute (1000 simulated nodes). */
    (void)via;
    if (g->quiet_merge)
        return 0;
    return tsc__gossip_enqueue(g, TSC_BLOB_RECORD, rec.id, 0, rec.status, blob, len);
}

/* Apply a claim (suspect/dead) made by someone else. From a push-pull, a
 * remote "dead" is taken as a suspicion of our own: the remote side may be
 * the one that was cut off, and the accused deserves a chance to refute
 * (as memberlist does when merging state). */
static int apply_claim(struct tsc_gossip *g, const uint8_t *blob, size_t len, uint64_t now,
                       int from_pushpull)
{
    struct tsc_claim cl;
    if (tsc_claim_decode(blob, len, &cl) != 0 || cl.incarnation >= TSC__MAX_INCARNATION ||
        (cl.status != TSC_STATUS_SUSPECT && cl.status != TSC_STATUS_DEAD)) {
        g->stats.rejected++;
        g->stats.rejected_malformed++;
        return 0;
    }
    struct tsc__member *accuser = tsc__gossip_find(g, cl.accuser);
    if (accuser == NULL)
        return 0; /* cannot check the signature yet; push-pull will bring it */
    struct tsc__member *m = tsc__gossip_find(g, cl.target);
    if (m == NULL || cl.incarnation < m->incarnation)
        return 0;
    if (m->status == TSC_STATUS_LEFT && cl.incarnation == m->incarnation)
        return 0;
    if (m->status == TSC_STATUS_DEAD && cl.incarnation == m->incarnation)
        return 0;
    if (m->id == g->self_id) {
        if (cl.incarnation < m->incarnation)
            return 0;
    } else if (m->status == TSC_STATUS_SUSPECT && cl.incarnation == m->incarnation &&
               (cl.status == TSC_STATUS_SUSPECT || from_pushpull)) {
        /* A confirmation costs a signature check only when it is new. */
        struct tsc__suspicion *s = m->susp;
        for (unsigned i = 0; s != NULL && i <= s->n_confirm; i++)
            if (s->accusers[i] == cl.accuser)
                return 0;
    }
    if (tsc_blob_verify(g->crypto, blob, len, accuser->pk) != 0) {
        g->stats.rejected++;
        g->stats.rejected_sig++;
        return 0;
    }
    if (m->id == g->self_id)
        return refute(g, cl.incarnation, now);

    uint8_t status = cl.status;
    if (status == TSC_STATUS_DEAD && from_pushpull &&
        (m->status == TSC_STATUS_ALIVE || m->status == TSC_STATUS_SUSPECT)) {
        if (m->status == TSC_STATUS_SUSPECT && cl.incarnation == m->incarnation)
            return 0;
        /* at the claim's incarnation: never below what we hold */
        return tsc__gossip_accuse(g, m, TSC_STATUS_SUSPECT, cl.incarnation, now);
    }
    if (status == TSC_STATUS_DEAD) {
        int rc = set_blob(&m->claim, &m->claim_len, blob, len);
        if (rc != 0)
            return rc;
        tsc__gossip_set_status(g, m, TSC_STATUS_DEAD, cl.incarnation, now);
        if (g->quiet_merge)
            return 0;
        return tsc__gossip_enqueue(g, TSC_BLOB_CLAIM, m->id, cl.accuser, status, blob, len);
    }
    /* suspect */
    if (m->status == TSC_STATUS_SUSPECT && cl.incarnation == m->incarnation) {
        if (!confirm_suspicion(g, m, cl.accuser))
            return 0;
        return tsc__gossip_enqueue(g, TSC_BLOB_CLAIM, m->id, cl.accuser, status, blob, len);
    }
    struct tsc__suspicion *s = NULL;
    int rc = reserve_suspicion(g, &s);
    if (rc == 0)
        rc = set_blob(&m->claim, &m->claim_len, blob, len);
    if (rc != 0) {
        tsc_free(s);
        return rc;
    }
    drop_suspicion(g, m);
    tsc__gossip_set_status(g, m, TSC_STATUS_SUSPECT, cl.incarnation, now);
    start_suspicion(g, m, s, cl.accuser, now);
    if (g->quiet_merge)
        return 0;
    return tsc__gossip_enqueue(g, TSC_BLOB_CLAIM, m->id, cl.accuser, status, blob, len);
}

/* Apply one signed blob from a datagram (via == 0) or from a push-pull sent
 * by node `via`. Bad blobs are counted and ignored; only TSC_ENOMEM is
 * returned. */
int tsc__gossip_apply_blob(struct tsc_gossip *g, const uint8_t *blob, size_t len, uint64_t now,
                           uint64_t via)
{
    int kind;
    if (tsc_blob_kind(blob, len, &kind) != 0) {
        g->stats.rejected++;
        g->stats.rejected_malformed++;
        return 0;
    }
    if (kind == TSC_BLOB_RECORD)
        return apply_record(g, blob, len, now, via);
    if (kind == TSC_BLOB_CLAIM)
        return apply_claim(g, blob, len, now, via != 0);
    g->stats.rejected++;
    g->stats.rejected_malformed++;
    return 0;
}

/* This node accuses m (a failed probe, an expired suspicion, or a remote
 * "dead" taken as suspicion): sign a claim, apply it, gossip it. */
int tsc__gossip_accuse(struct tsc_gossip *g, struct tsc__member *m, uint8_t status,
                       uint64_t incarnation, uint64_t now)
{
    if (incarnation < m->incarnation)
        incarnation = m->incarnation;
    struct tsc_claim cl = {
        .target = m->id,
        .incarnation = incarnation,
        .status = status,
        .accuser = g->self_id,
    };
    tsc_buf_reset(&g->tmp);
    int rc = tsc_claim_encode(g->crypto, &cl, g->sk, &g->tmp);
    if (rc != 0)
        return rc;
    if (status == TSC_STATUS_SUSPECT && m->status == TSC_STATUS_SUSPECT &&
        incarnation == m->incarnation) {
        if (!confirm_suspicion(g, m, g->self_id))
            return 0;
    } else {
        struct tsc__suspicion *s = NULL;
        if (status == TSC_STATUS_SUSPECT)
            rc = reserve_suspicion(g, &s);
        if (rc == 0)
            rc = set_blob(&m->claim, &m->claim_len, g->tmp.data, g->tmp.len);
        if (rc != 0) {
            tsc_free(s);
            return rc;
        }
        drop_suspicion(g, m);
        tsc__gossip_set_status(g, m, status, incarnation, now);
        if (s != NULL)
            start_suspicion(g, m, s, g->self_id, now);
    }
    return tsc__gossip_enqueue(g, TSC_BLOB_CLAIM, m->id, g->self_id, status, g->tmp.data,
                               g->tmp.len);
}

void tsc__gossip_check_suspects(struct tsc_gossip *g, uint64_t now)
{
    for (uint32_t i = 0; i < g->n_suspects;) {
        struct tsc__member *m = &g->members[g->suspects[i]];
        if (m->susp != NULL && m->susp->deadline <= now) {
            /* accuse() removes m from the list: look at the same slot again */
            if (tsc__gossip_accuse(g, m, TSC_STATUS_DEAD, m->incarnation, now) != 0)
                g->oom = 1;
            if (m->status == TSC_STATUS_SUSPECT)
                i++; /* failed to declare (no memory): retry next step */
            continue;
        }
        i++;
    }
}

uint64_t tsc__gossip_suspect_deadline(const struct tsc_gossip *g)
{
    uint64_t d = TSC_TIME_NEVER;
    for (uint32_t i = 0; i < g->n_suspects; i++) {
        const struct tsc__member *m = &g->members[g->suspects[i]];
        if (m->susp != NULL && m->susp->deadline < d)
            d = m->susp->deadline;
    }
    return d;
}

void tsc__gossip_members_free(struct tsc_gossip *g)
{
    for (uint32_t i = 0; i < g->n_members; i++) {
        tsc_free(g->members[i].record);
        tsc_free(g->members[i].claim);
        tsc_free(g->members[i].susp);
    }
    tsc_free(g->members);
    tsc_free(g->index);
    tsc_free(g->suspects);
}
