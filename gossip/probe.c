/* tsc — failure detection: one probe per protocol period to the next member
 * of a shuffled round-robin list (SWIM §4.3), PING then PING_REQ through k
 * members (SWIM §3.1), NACKs and local health (Lifeguard §3.1, §4.3). */
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "gossip/internal.h"

static int probeable(const struct tsc__member *m)
{
    return m->status == TSC_STATUS_ALIVE || m->status == TSC_STATUS_SUSPECT;
}

/* SWIM §4.3: a new member goes to a random position of the probe list, so
 * that every member is probed once per pass however it joined. */
void tsc__gossip_probe_list_add(struct tsc_gossip *g, uint32_t index)
{
    if (g->probe_len == g->probe_cap) {
        uint32_t cap = g->probe_cap ? g->probe_cap * 2 : 16;
        uint32_t *p = tsc_realloc(g->probe_list, (size_t)cap * sizeof *p);
        if (p == NULL) {
            g->oom = 1; /* it joins the list at the next reshuffle */
            return;
        }
        g->probe_list = p;
        g->probe_cap = cap;
    }
    uint32_t pos = (uint32_t)tsc_prng_below(&g->prng, (uint64_t)g->probe_len + 1);
    g->probe_list[g->probe_len++] = g->probe_list[pos];
    g->probe_list[pos] = index;
}

static void reshuffle(struct tsc_gossip *g)
{
    if (g->probe_cap < g->n_members) {
        uint32_t *p = tsc_realloc(g->probe_list, (size_t)g->n_members * sizeof *p);
        if (p == NULL) {
            g->oom = 1;
            g->probe_pos = 0;
            return;
        }
        g->probe_list = p;
        g->probe_cap = g->n_members;
    }
    g->probe_len = 0;
    for (uint32_t k = 0; k < g->n_members; k++)
        if (k != g->self_index && probeable(&g->members[k]))
            g->probe_list[g->probe_len++] = k;
    tsc_prng_shuffle_u32(&g->prng, g->probe_list, g->probe_len);
    g->probe_pos = 0;
}

static struct tsc__member *next_target(struct tsc_gossip *g)
{
    for (int pass = 0; pass < 2; pass++) {
        while (g->probe_pos < g->probe_len) {
            uint32_t k = g->probe_list[g->probe_pos++];
            if (k < g->n_members && k != g->self_index && probeable(&g->members[k]))
                return &g->members[k];
        }
        reshuffle(g);
    }
    return NULL;
}

static void health_delta(struct tsc_gossip *g, int delta)
{
    int h = (int)g->stats.health + delta;
    if (h < 0)
        h = 0;
    if (h > (int)g->cfg.awareness_max)
        h = (int)g->cfg.awareness_max;
    g->stats.health = (unsigned)h;
}

/* The end of a protocol period: judge the probe that was running. */
static int finish_probe(struct tsc_gossip *g, uint64_t now)
{
    struct tsc__probe *p = &g->probe;
    if (!p->active)
        return 0;
    p->active = 0;
    if (p->acked)
        return 0;
    g->stats.probes_failed++;
    /* Lifeguard §4.3: missing NACKs mean our own links are in trouble. */
    if (p->nacks_expected > 0)
        health_delta(g, (int)(p->nacks_expected - p->nacks_got));
    else
        health_delta(g, 1);
    struct tsc__member *m = tsc__gossip_find(g, p->target);
    if (m == NULL || !probeable(m))
        return 0;
    return tsc__gossip_accuse(g, m, TSC_STATUS_SUSPECT, m->incarnation, now);
}

static int send_indirect(struct tsc_gossip *g, const struct tsc__member *target)
{
    struct tsc__probe *p = &g->probe;
    p->indirect_sent = 1;
    unsigned want = g->cfg.indirect_checks;
    unsigned tries = want * 4 + 4;
    uint64_t chosen[16];
    unsigned n = 0;
    while (n < want && n < 16 && tries-- > 0 && g->n_members > 2) {
        uint32_t k = (uint32_t)tsc_prng_below(&g->prng, g->n_members);
        struct tsc__member *h = &g->members[k];
        if (k == g->self_index || h->id == target->id || h->status != TSC_STATUS_ALIVE)
            continue;
        int dup = 0;
        for (unsigned j = 0; j < n; j++)
            dup |= chosen[j] == h->id;
        if (dup)
            continue;
        chosen[n++] = h->id;
        int rc = tsc__gossip_send_swim(g, h->addr, TSC_MSG_PING_REQ, p->probe_no, target->id,
                                       target->addr, 0);
        if (rc != 0)
            return rc;
    }
    p->nacks_expected = n;
    /* and the fallback probe over a stream (see on_stream_probe) */
    return tsc__gossip_send_swim_kind(g, TSC_GOSSIP_OUT_STREAM, target->addr, TSC_MSG_PING,
                                      p->probe_no, target->id, target->addr, target->id);
}

/* Drive the probe state machine up to `now`. */
int tsc__gossip_probe_tick(struct tsc_gossip *g, uint64_t now)
{
    struct tsc__probe *p = &g->probe;
    int rc;
    if (p->active && !p->acked && !p->indirect_sent && now >= p->indirect_at) {
        struct tsc__member *m = tsc__gossip_find(g, p->target);
        if (m != NULL && probeable(m)) {
            rc = send_indirect(g, m);
            if (rc != 0)
                return rc;
        } else {
            p->indirect_sent = 1;
        }
    }
    if (p->active && now >= p->period_end) {
        rc = finish_probe(g, now);
        if (rc != 0)
            return rc;
    }
    if (now < g->next_probe_at || g->leaving)
        return 0;
    /* Lifeguard §3.1: an unhealthy node slows down instead of accusing. */
    uint64_t mult = (uint64_t)g->stats.health + 1;
    uint64_t interval = g->cfg.probe_interval * mult;
    g->next_probe_at = now + interval;
    struct tsc__member *m = next_target(g);
    if (m == NULL)
        return 0;
    memset(p, 0, sizeof *p);
    p->active = 1;
    p->target = m->id;
    p->probe_no = ++g->next_probe_no;
    p->started = now;
    p->indirect_at = now + g->cfg.probe_timeout * mult;
    p->period_end = now + interval;
    g->stats.probes++;
    return tsc__gossip_send_swim(g, m->addr, TSC_MSG_PING, p->probe_no, m->id, m->addr, m->id);
}

uint64_t tsc__gossip_probe_deadline(const struct tsc_gossip *g)
{
    uint64_t d = g->leaving ? TSC_TIME_NEVER : g->next_probe_at;
    const struct tsc__probe *p = &g->probe;
    if (p->active) {
        if (!p->acked && !p->indirect_sent && p->indirect_at < d)
            d = p->indirect_at;
        if (p->period_end < d)
            d = p->period_end;
    }
    for (unsigned i = 0; i < TSC__MAX_RELAYS; i++) {
        const struct tsc__relay *r = &g->relays[i];
        if (!r->used)
            continue;
        uint64_t t = r->nacked ? r->expire : r->nack_at;
        if (t < d)
            d = t;
    }
    return d;
}

/* Serve relays whose time is up: NACK the requester (Lifeguard §4.3), then
 * forget the entry once a late ACK can no longer matter. */
static int relay_tick(struct tsc_gossip *g, uint64_t now)
{
    struct tsc_addr none = {0, 0};
    for (unsigned i = 0; i < TSC__MAX_RELAYS; i++) {
        struct tsc__relay *r = &g->relays[i];
        if (!r->used)
            continue;
        if (!r->nacked && now >= r->nack_at) {
            r->nacked = 1;
            int rc = tsc__gossip_send_swim(g, r->requester, TSC_MSG_NACK, r->req_probe, 0, none, 0);
            if (rc != 0)
                return rc;
        }
        if (r->nacked && now >= r->expire)
            r->used = 0;
    }
    return 0;
}

static int on_ping_req(struct tsc_gossip *g, const struct tsc_swim_msg *m, struct tsc_addr from,
                       uint64_t now)
{
    struct tsc__relay *r = NULL;
    for (unsigned i = 0; i < TSC__MAX_RELAYS && r == NULL; i++)
        if (!g->relays[i].used)
            r = &g->relays[i];
    if (r == NULL || m->target == 0 || m->target == g->self_id)
        return 0; /* busy: the requester will count a missing NACK */
    memset(r, 0, sizeof *r);
    r->used = 1;
    r->my_probe = ++g->next_probe_no;
    r->req_probe = m->probe;
    r->requester = from;
    r->nack_at = now + g->cfg.probe_timeout * 8 / 10;
    r->expire = now + g->cfg.probe_interval;
    return tsc__gossip_send_swim(g, m->target_addr, TSC_MSG_PING, r->my_probe, m->target,
                                 m->target_addr, m->target);
}

static int on_ack(struct tsc_gossip *g, const struct tsc_swim_msg *m)
{
    struct tsc__probe *p = &g->probe;
    if (p->active && m->probe == p->probe_no) {
        if (!p->acked) {
            p->acked = 1;
            health_delta(g, -1);
        }
        return 0;
    }
    for (unsigned i = 0; i < TSC__MAX_RELAYS; i++) {
        struct tsc__relay *r = &g->relays[i];
        if (r->used && r->my_probe == m->probe) {
            struct tsc_addr none = {0, 0};
            r->used = 0;
            return tsc__gossip_send_swim(g, r->requester, TSC_MSG_ACK, r->req_probe, 0, none, 0);
        }
    }
    return 0;
}

/* A decoded SWIM datagram whose piggybacked items were already applied. */
int tsc__gossip_on_swim(struct tsc_gossip *g, uint8_t type, const struct tsc_swim_msg *m,
                        struct tsc_addr from, uint64_t now)
{
    struct tsc_addr none = {0, 0};
    int rc = relay_tick(g, now);
    if (rc != 0)
        return rc;
    switch (type) {
    case TSC_MSG_PING:
        if (m->target != 0 && m->target != g->self_id)
            return 0; /* meant for a previous owner of this address */
        return tsc__gossip_send_swim(g, from, TSC_MSG_ACK, m->probe, 0, none, 0);
    case TSC_MSG_PING_REQ:
        return on_ping_req(g, m, from, now);
    case TSC_MSG_ACK:
        return on_ack(g, m);
    case TSC_MSG_NACK:
        if (g->probe.active && m->probe == g->probe.probe_no)
            g->probe.nacks_got++;
        return 0;
    default:
        return 0; /* GOSSIP: items only */
    }
}

/* Exposed for the step function: relays need service on plain ticks too. */
int tsc__gossip_relay_tick(struct tsc_gossip *g, uint64_t now)
{
    return relay_tick(g, now);
}
