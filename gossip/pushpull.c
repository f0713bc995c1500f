/* tsc — push-pull: full state exchanged over a stream when joining and
 * periodically, so that members who missed gossip catch up; a pull from a
 * member we hear from but never heard of, so that a miss is repaired within
 * a probe pass rather than a push-pull interval; and reconnection attempts
 * to dead members, so that the two sides of a healed partition find each
 * other again (as Serf's reconnect does). */
#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "gossip/internal.h"

/* memberlist's rule: above 32 members the periodic interval grows with
 * log2(n), so the total push-pull traffic stays bounded. */
uint64_t tsc__gossip_scaled(const struct tsc_gossip *g, uint64_t base)
{
    double n = (double)g->n_alive;
    if (n <= 32.0)
        return base;
    double mult = ceil(log2(n) - log2(32.0)) + 1.0;
    return (uint64_t)((double)base * mult);
}

/* Our full state: our record first, then every member's record, and the
 * claim behind every suspect or dead member. */
int tsc__gossip_pushpull_send(struct tsc_gossip *g, struct tsc_addr to, uint8_t type, int join)
{
    uint32_t count = 0;
    for (uint32_t k = 0; k < g->n_members; k++) {
        count++;
        if (g->members[k].claim != NULL)
            count++;
    }
    tsc_buf_reset(&g->body);
    int rc = tsc_pushpull_begin(&g->body, join, count);
    if (rc != 0)
        return rc;
    const struct tsc__member *self = &g->members[g->self_index];
    rc = tsc_pushpull_add(&g->body, self->record, self->record_len);
    for (uint32_t k = 0; k < g->n_members && rc == 0; k++) {
        const struct tsc__member *m = &g->members[k];
        if (k != g->self_index)
            rc = tsc_pushpull_add(&g->body, m->record, m->record_len);
        if (rc == 0 && m->claim != NULL)
            rc = tsc_pushpull_add(&g->body, m->claim, m->claim_len);
    }
    if (rc != 0)
        return rc;
    return tsc__gossip_send(g, TSC_GOSSIP_OUT_STREAM, to, type, g->body.data, g->body.len);
}

/* A push-pull frame arrived (already opened). Merge it; answer a request
 * with our own state, sent to the address in the requester's own record. */
int tsc__gossip_on_stream(struct tsc_gossip *g, const struct tsc_envelope *env, uint64_t now)
{
    struct tsc_mp_reader r;
    int join;
    uint32_t count;
    if (tsc_pushpull_read_begin(&r, env->body, env->body_len, &join, &count) != 0) {
        g->stats.rejected++;
        g->stats.rejected_malformed++;
        return 0;
    }
    /* The answer to our join (it echoes the flag) is old news to all but us. */
    g->quiet_merge = env->type == TSC_MSG_PUSHPULL_RESP && join;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *blob;
        size_t len;
        if (tsc_pushpull_read_next(&r, &blob, &len) != 0) {
            g->stats.rejected++;
            g->stats.rejected_malformed++;
            break; /* what was merged so far stands: each item is signed */
        }
        int rc = tsc__gossip_apply_blob(g, blob, len, now, env->sender);
        if (rc != 0) {
            g->quiet_merge = 0;
            return rc;
        }
    }
    g->quiet_merge = 0;
    if (env->type != TSC_MSG_PUSHPULL_REQ)
        return 0;
    struct tsc__member *peer = tsc__gossip_find(g, env->sender);
    if (peer == NULL || peer->id == g->self_id)
        return 0;
    return tsc__gossip_pushpull_send(g, peer->addr, TSC_MSG_PUSHPULL_RESP, join);
}

/* A member we do not know sent us a datagram (typically its PING: it knows
 * us, so its probe round reaches us once per pass). Every broadcast about it
 * can miss us: each is sent only λ·log(n) times, to random members, and a
 * small cluster spends most of them in one gossip round. The periodic
 * push-pull would repair that only 15-45 s later, so pull the sender's state
 * now: a request carrying only our own record, to the address it sent from.
 * The answer goes to the address in our record, so the request is small and
 * a replayed datagram (unknown senders have no replay window yet) cannot
 * make us send our whole state to wherever it claims to come from. Rate
 * limited like the probe rounds; the answer also brings every other member
 * we missed, and a sender still unknown pings us again in its next pass. */
int tsc__gossip_pull_unknown(struct tsc_gossip *g, struct tsc_addr from, uint64_t now)
{
    if (g->leaving || now < g->next_pull_unknown_at || from.port == 0)
        return 0;
    g->next_pull_unknown_at = now + tsc__gossip_scaled(g, 5 * g->cfg.probe_interval);
    const struct tsc__member *self = &g->members[g->self_index];
    tsc_buf_reset(&g->body);
    int rc = tsc_pushpull_begin(&g->body, 0, 1);
    if (rc == 0)
        rc = tsc_pushpull_add(&g->body, self->record, self->record_len);
    if (rc != 0)
        return rc;
    return tsc__gossip_send(g, TSC_GOSSIP_OUT_STREAM, from, TSC_MSG_PUSHPULL_REQ, g->body.data,
                            g->body.len);
}

static int has_live_peer(const struct tsc_gossip *g)
{
    return g->n_alive > 1;
}

static int wanted(const struct tsc_gossip *g, const struct tsc__member *m, int want_dead)
{
    if (m->id == g->self_id)
        return 0;
    return want_dead ? m->status == TSC_STATUS_DEAD : m->status == TSC_STATUS_ALIVE;
}

/* A random alive (or dead) member other than us, or NULL. Sampling finds
 * one at once when they are common. When live members are rare (a small
 * cluster drawing itself, most of a big one dead) a scan makes sure the
 * periodic push-pull, the repair of whatever gossip missed, is not skipped.
 * Dead members are rare by nature and sought every few seconds: no scan, a
 * miss waits for the next reconnection tick. */
static struct tsc__member *random_member(struct tsc_gossip *g, int want_dead)
{
    if (g->n_members < 2)
        return NULL;
    for (int tries = 0; tries < 8; tries++) {
        struct tsc__member *m = &g->members[tsc_prng_below(&g->prng, g->n_members)];
        if (wanted(g, m, want_dead))
            return m;
    }
    if (want_dead || g->n_alive < 2)
        return NULL;
    uint32_t n = 0;
    for (uint32_t k = 0; k < g->n_members; k++)
        n += (uint32_t)wanted(g, &g->members[k], want_dead);
    if (n == 0)
        return NULL;
    uint64_t pick = tsc_prng_below(&g->prng, n);
    for (uint32_t k = 0; k < g->n_members; k++)
        if (wanted(g, &g->members[k], want_dead) && pick-- == 0)
            return &g->members[k];
    return NULL;
}

/* Periodic work: retry seeds until somebody answers, push-pull with a
 * random live member, and now and then with a dead one. */
int tsc__gossip_pushpull_tick(struct tsc_gossip *g, uint64_t now)
{
    int rc;
    if (g->n_seeds > 0 && now >= g->next_join_retry_at) {
        if (has_live_peer(g) || now >= g->join_until) {
            g->n_seeds = 0;
        } else {
            for (unsigned i = 0; i < g->n_seeds; i++) {
                rc = tsc__gossip_pushpull_send(g, g->seeds[i], TSC_MSG_PUSHPULL_REQ, 1);
                if (rc != 0)
                    return rc;
            }
            g->next_join_retry_at = now + TSC_SEC(1);
        }
    }
    if (g->leaving)
        return 0;
    if (now >= g->next_pushpull_at) {
        uint64_t iv = tsc__gossip_scaled(g, g->cfg.pushpull_interval);
        /* jitter so that a cluster started at once does not sync in lockstep */
        g->next_pushpull_at = now + iv / 2 + tsc_prng_below(&g->prng, iv);
        struct tsc__member *m = random_member(g, 0);
        if (m != NULL) {
            rc = tsc__gossip_pushpull_send(g, m->addr, TSC_MSG_PUSHPULL_REQ, 0);
            if (rc != 0)
                return rc;
        }
    }
    if (now >= g->next_reconnect_at) {
        uint64_t iv = tsc__gossip_scaled(g, g->cfg.reconnect_interval);
        g->next_reconnect_at = now + iv / 2 + tsc_prng_below(&g->prng, iv);
        struct tsc__member *m = random_member(g, 1);
        if (m != NULL) {
            rc = tsc__gossip_pushpull_send(g, m->addr, TSC_MSG_PUSHPULL_REQ, 0);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}
