/* tsc — see harness.h. */
#include "tests/election/harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/time.h"

static void violation(struct eh_net *net, const char *fmt, ...)
{
    if (net->violations++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(net->first_violation, sizeof net->first_violation, fmt, ap);
        va_end(ap);
    }
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL)
        abort();
    return p;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    if (n == 0)
        return NULL;
    uint8_t *q = xrealloc(NULL, n);
    memcpy(q, p, n);
    return q;
}

static void peers_event(struct eh_net *net, int i)
{
    struct tsc_election_peer peers[EH_MAX_NODES];
    for (int k = 0; k < net->n; k++) {
        peers[k].id = net->id[k];
        peers[k].addr = net->addr[k];
    }
    struct tsc_election_event ev = {
        .type = TSC_ELECTION_EV_PEERS, .peers = peers, .n_peers = (size_t)net->n};
    struct tsc_election_update up;
    eh_event(net, i, &ev, &up);
}

void eh_init(struct eh_net *net, int n, int n_voters, const struct tsc_election_config *cfg,
             uint64_t seed, uint64_t lat_min, uint64_t lat_max)
{
    memset(net, 0, sizeof *net);
    net->n = n;
    net->n_voters = n_voters;
    net->now = TSC_SEC(1000);
    net->lat_min = lat_min;
    net->lat_max = lat_max > lat_min ? lat_max : lat_min + 1;
    tsc_prng_seed(&net->prng, seed ^ 0xe1ec7);
    uint8_t key[32], key2[32];
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(i * 7 + 1);
        key2[i] = (uint8_t)(i * 13 + 5);
    }
    tsc_wire_init(&net->wire, key, &tsc_crypto_cheap);
    tsc_wire_init(&net->other_wire, key2, &tsc_crypto_cheap);
    if (cfg)
        net->cfg = *cfg;
    else
        tsc_election_config_default(&net->cfg);
    net->cfg.seed = seed;
    uint64_t voters[EH_MAX_NODES];
    for (int i = 0; i < n; i++) {
        net->id[i] = 0x1000 + (uint64_t)i * 0x111;
        net->addr[i].ip = 0xC6120000u | (uint32_t)(i + 1); /* 198.18.0.x */
        net->addr[i].port = 7947;
        voters[i] = net->id[i];
    }
    for (int i = 0; i < n; i++) {
        eh_start(net, i);
        if (i < n_voters) {
            struct tsc_election_event ev = {
                .type = TSC_ELECTION_EV_BOOTSTRAP, .ids = voters, .n_ids = (size_t)n_voters};
            struct tsc_election_update up;
            if (eh_event(net, i, &ev, &up) != 0)
                abort();
        }
    }
}

void eh_start(struct eh_net *net, int i)
{
    char err[TSC_ERRMSG_SIZE];
    struct tsc_election_config cfg = net->cfg;
    cfg.seed = net->cfg.seed * 1000003u + (uint64_t)i * 7919u + (uint64_t)net->restarts++;
    struct eh_disk *d = &net->disk[i];
    struct tsc_election_restore r = {
        .term = d->term,
        .voted_for = d->voted_for,
        .entries = d->log,
        .n_entries = d->n,
        .commit = d->commit,
    };
    if (net->e[i])
        tsc_election_free(net->e[i]);
    int rc =
        tsc_election_new(&net->e[i], &cfg, &net->wire, net->id[i], net->now, &r, net->now, err);
    if (rc != 0) {
        fprintf(stderr, "eh_start: %s\n", err);
        abort();
    }
    net->down[i] = 0;
    net->deadline[i] = net->now;
    peers_event(net, i);
}

void eh_crash(struct eh_net *net, int i)
{
    tsc_election_free(net->e[i]);
    net->e[i] = NULL;
    net->down[i] = 1;
}

void eh_free(struct eh_net *net)
{
    for (int i = 0; i < net->n; i++) {
        tsc_election_free(net->e[i]);
        for (size_t k = 0; k < net->disk[i].n; k++)
            free((void *)net->disk[i].log[k].data);
        free(net->disk[i].log);
    }
    for (size_t k = 0; k < net->nq; k++)
        free(net->q[k].data);
    free(net->q);
    for (size_t k = 0; k < net->n_acked; k++)
        free((void *)net->acked[k].data);
    free(net->acked);
    free(net->term_leader);
    memset(net, 0, sizeof *net);
}

int eh_index_of(struct eh_net *net, uint64_t id)
{
    for (int i = 0; i < net->n; i++)
        if (net->id[i] == id)
            return i;
    return -1;
}

static int same_entry(const struct tsc_election_entry *a, const struct tsc_election_entry *b)
{
    return a->term == b->term && a->type == b->type && a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* The driver's half of the contract: persist, in order, before sending. */
static void persist(struct eh_net *net, int i, const struct tsc_election_update *up)
{
    struct eh_disk *d = &net->disk[i];
    if (up->persist_state) {
        if (up->term < d->term)
            violation(net, "node %d: stored term falls %llu -> %llu", i,
                      (unsigned long long)d->term, (unsigned long long)up->term);
        if (up->term == d->term && d->voted_for != 0 && up->voted_for != d->voted_for)
            violation(net, "node %d: second vote in term %llu", i, (unsigned long long)d->term);
        d->term = up->term;
        d->voted_for = up->voted_for;
    }
    if (up->log_from != 0) {
        if (up->log_from > d->n + 1)
            violation(net, "node %d: log rewrite leaves a gap", i);
        if (up->log_from <= d->commit)
            violation(net, "node %d: rewrites committed index %llu", i,
                      (unsigned long long)up->log_from);
        while (d->n >= up->log_from)
            free((void *)d->log[--d->n].data);
        for (size_t k = 0; k < up->n_entries; k++) {
            if (d->n == d->cap) {
                d->cap = d->cap ? d->cap * 2 : 64;
                d->log = xrealloc(d->log, d->cap * sizeof *d->log);
            }
            struct tsc_election_entry x = up->entries[k];
            if (x.index != d->n + 1)
                violation(net, "node %d: entry index %llu out of place", i,
                          (unsigned long long)x.index);
            x.data = dup_bytes(x.data, x.len);
            d->log[d->n++] = x;
        }
    }
    struct tsc_election *e = net->e[i];
    if (d->n != tsc_election_last_index(e))
        violation(net, "node %d: disk log %zu != engine log %llu", i, d->n,
                  (unsigned long long)tsc_election_last_index(e));
    if (up->commit_index > d->commit)
        d->commit = up->commit_index;
}

static void record_committed(struct eh_net *net, int i, const struct tsc_election_update *up)
{
    for (size_t k = 0; k < up->n_committed; k++) {
        const struct tsc_election_entry *x = &up->committed[k];
        if (x->index <= net->n_acked) {
            if (!same_entry(x, &net->acked[x->index - 1]))
                violation(net, "node %d: committed index %llu differs", i,
                          (unsigned long long)x->index);
            continue;
        }
        if (x->index != net->n_acked + 1) {
            violation(net, "node %d: committed index %llu skips", i, (unsigned long long)x->index);
            continue;
        }
        if (net->n_acked == net->cap_acked) {
            net->cap_acked = net->cap_acked ? net->cap_acked * 2 : 64;
            net->acked = xrealloc(net->acked, net->cap_acked * sizeof *net->acked);
        }
        struct tsc_election_entry c = *x;
        c.data = dup_bytes(x->data, x->len);
        net->acked[net->n_acked++] = c;
    }
}

static void check_leaders(struct eh_net *net, int i, const struct tsc_election_update *up)
{
    struct tsc_election *e = net->e[i];
    if (tsc_election_role(e) == TSC_ELECTION_LEADER) {
        uint64_t t = tsc_election_term(e);
        if (t >= net->cap_terms) {
            size_t cap = net->cap_terms ? net->cap_terms : 64;
            while (cap <= t)
                cap *= 2;
            net->term_leader = xrealloc(net->term_leader, cap * sizeof *net->term_leader);
            memset(net->term_leader + net->cap_terms, 0,
                   (cap - net->cap_terms) * sizeof *net->term_leader);
            net->cap_terms = cap;
        }
        if (net->term_leader[t] != 0 && net->term_leader[t] != net->id[i])
            violation(net, "two leaders in term %llu", (unsigned long long)t);
        net->term_leader[t] = net->id[i];
        if (up->leader_changed) {
            for (size_t k = 0; k < net->n_acked; k++) {
                struct tsc_election_entry x;
                if (tsc_election_entry_at(e, k + 1, &x) != 0 || !same_entry(&x, &net->acked[k])) {
                    violation(net, "leader %d of term %llu lacks committed index %zu", i,
                              (unsigned long long)t, k + 1);
                    break;
                }
            }
        }
    }
    int acting = 0;
    for (int k = 0; k < net->n; k++)
        acting += net->e[k] != NULL && tsc_election_acting(net->e[k], net->now);
    if (acting > 1)
        violation(net, "%d acting leaders at %llu", acting, (unsigned long long)net->now);
}

static void enqueue(struct eh_net *net, int from, int to, int kind, const uint8_t *data, size_t len)
{
    if (net->nq == net->capq) {
        net->capq = net->capq ? net->capq * 2 : 256;
        net->q = xrealloc(net->q, net->capq * sizeof *net->q);
    }
    struct eh_msg *m = &net->q[net->nq++];
    m->at = net->now + net->lat_min + tsc_prng_below(&net->prng, net->lat_max - net->lat_min);
    m->kind = kind;
    m->from = from;
    m->to = to;
    m->data = dup_bytes(data, len);
    m->len = len;
}

int eh_event(struct eh_net *net, int i, struct tsc_election_event *ev,
             struct tsc_election_update *up)
{
    if (net->e[i] == NULL)
        return TSC_ESTATE;
    ev->now = net->now;
    int rc = tsc_election_step(net->e[i], ev, up);
    net->steps++;
    if (rc == TSC_ENOMEM || rc == TSC_EINVAL)
        abort();
    persist(net, i, up);
    record_committed(net, i, up);
    check_leaders(net, i, up);
    for (size_t k = 0; k < up->n_out; k++) {
        const struct tsc_election_out *o = &up->out[k];
        int to = eh_index_of(net, o->to_id);
        if (to < 0 || !tsc_addr_eq(&o->to, &net->addr[to]))
            continue;
        if (o->kind == TSC_ELECTION_OUT_DATAGRAM) {
            if (o->len > net->max_datagram_seen)
                net->max_datagram_seen = o->len;
            if (net->loss > 0 && tsc_prng_double(&net->prng) < net->loss)
                continue;
            if (net->dup > 0 && tsc_prng_double(&net->prng) < net->dup)
                enqueue(net, i, to, o->kind, o->data, o->len);
        } else {
            net->streams_seen++;
        }
        enqueue(net, i, to, o->kind, o->data, o->len);
    }
    net->deadline[i] = up->next_deadline;
    return rc;
}

void eh_inject(struct eh_net *net, int from, int i, const uint8_t *data, size_t len)
{
    struct tsc_election_event ev = {
        .type = TSC_ELECTION_EV_DATAGRAM, .from = net->addr[from], .data = data, .len = len};
    struct tsc_election_update up;
    eh_event(net, i, &ev, &up);
}

/* Deliver everything due and fire every due timer, in time order. */
void eh_run_until(struct eh_net *net, uint64_t until)
{
    for (;;) {
        uint64_t next = until;
        for (size_t k = 0; k < net->nq; k++)
            if (net->q[k].at < next)
                next = net->q[k].at;
        for (int i = 0; i < net->n; i++)
            if (net->e[i] && net->deadline[i] < next)
                next = net->deadline[i];
        if (next >= until)
            break;
        if (next > net->now)
            net->now = next;
        for (size_t k = 0; k < net->nq;) {
            if (net->q[k].at > next) {
                k++;
                continue;
            }
            struct eh_msg m = net->q[k];
            net->q[k] = net->q[--net->nq]; /* order among equal times: arbitrary */
            int drop = net->down[m.to] || net->cut[m.from][m.to];
            if (!drop && net->tap)
                drop = net->tap(net, &m, net->tap_ctx);
            if (!drop) {
                struct tsc_election_event ev = {
                    .type = m.kind == TSC_ELECTION_OUT_DATAGRAM ? TSC_ELECTION_EV_DATAGRAM
                                                                : TSC_ELECTION_EV_STREAM,
                    .from = net->addr[m.from],
                    .data = m.data,
                    .len = m.len,
                };
                struct tsc_election_update up;
                net->delivered++;
                eh_event(net, m.to, &ev, &up);
            }
            free(m.data);
        }
        for (int i = 0; i < net->n; i++) {
            if (net->e[i] && net->deadline[i] <= next) {
                struct tsc_election_event ev = {.type = TSC_ELECTION_EV_TICK};
                struct tsc_election_update up;
                eh_event(net, i, &ev, &up);
            }
        }
    }
    net->now = until;
}

int eh_run_while_not(struct eh_net *net, int (*cond)(struct eh_net *, void *), void *ctx,
                     uint64_t limit)
{
    uint64_t end = net->now + limit;
    while (net->now < end) {
        if (cond(net, ctx))
            return 1;
        eh_run_until(net, net->now + TSC_MSEC(1));
    }
    return cond(net, ctx);
}

void eh_isolate(struct eh_net *net, unsigned mask)
{
    for (int a = 0; a < net->n; a++)
        for (int b = 0; b < net->n; b++)
            if (((mask >> a) & 1) != ((mask >> b) & 1))
                net->cut[a][b] = 1;
}

void eh_heal(struct eh_net *net)
{
    memset(net->cut, 0, sizeof net->cut);
}

int eh_agreed_leader(struct eh_net *net)
{
    int leader = -1;
    for (int i = 0; i < net->n_voters; i++) {
        if (net->e[i] == NULL)
            continue;
        int l = eh_index_of(net, tsc_election_leader(net->e[i]));
        if (l < 0 || (leader >= 0 && l != leader))
            return -1;
        leader = l;
    }
    if (leader < 0 || net->e[leader] == NULL || !tsc_election_acting(net->e[leader], net->now))
        return -1;
    return leader;
}

int eh_has_agreed_leader(struct eh_net *net, void *ctx)
{
    (void)ctx;
    return eh_agreed_leader(net) >= 0;
}

int eh_count_leaders(struct eh_net *net)
{
    int n = 0;
    for (int i = 0; i < net->n; i++)
        n += net->e[i] != NULL && tsc_election_role(net->e[i]) == TSC_ELECTION_LEADER;
    return n;
}

int eh_append(struct eh_net *net, const char *text)
{
    for (int i = 0; i < net->n; i++) {
        if (net->e[i] == NULL || tsc_election_role(net->e[i]) != TSC_ELECTION_LEADER)
            continue;
        struct tsc_election_event ev = {
            .type = TSC_ELECTION_EV_APPEND, .data = (const uint8_t *)text, .len = strlen(text)};
        struct tsc_election_update up;
        if (eh_event(net, i, &ev, &up) == 0)
            return 0;
    }
    return TSC_ESTATE;
}

void eh_check_logs(struct eh_net *net)
{
    for (int a = 0; a < net->n; a++) {
        if (net->e[a] == NULL)
            continue;
        uint64_t la = tsc_election_last_index(net->e[a]);
        for (uint64_t k = 1; k <= la && k <= net->n_acked; k++) {
            struct tsc_election_entry x;
            tsc_election_entry_at(net->e[a], k, &x);
            if (k <= tsc_election_commit_index(net->e[a]) && !same_entry(&x, &net->acked[k - 1]))
                violation(net, "node %d: committed index %llu changed", a, (unsigned long long)k);
        }
        for (int b = a + 1; b < net->n; b++) {
            if (net->e[b] == NULL)
                continue;
            uint64_t lb = tsc_election_last_index(net->e[b]);
            uint64_t top = la < lb ? la : lb;
            int matched = 0;
            for (uint64_t k = top; k >= 1; k--) {
                struct tsc_election_entry x, y;
                tsc_election_entry_at(net->e[a], k, &x);
                tsc_election_entry_at(net->e[b], k, &y);
                if (matched && !same_entry(&x, &y))
                    violation(net, "log matching broken at %llu (%d, %d)", (unsigned long long)k, a,
                              b);
                if (x.term == y.term)
                    matched = 1;
            }
        }
    }
}
