/* tsc — see harness.h. */
#include "tests/gossip/harness.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/time.h"

void th_init(struct th_net *net, int n, const struct tsc_gossip_config *cfg, int sodium)
{
    memset(net, 0, sizeof *net);
    net->n = n;
    net->now = TSC_SEC(1000);
    net->latency = TSC_USEC(500);
    const struct tsc_crypto *c = sodium ? &tsc_crypto_sodium : &tsc_crypto_cheap;
    uint8_t key[32], key2[32];
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(i * 7 + 1);
        key2[i] = (uint8_t)(i * 13 + 5);
    }
    tsc_wire_init(&net->wire, key, c);
    tsc_wire_init(&net->other_wire, key2, c);
    if (cfg)
        net->cfg = *cfg;
    else
        tsc_gossip_config_default(&net->cfg);
    for (int i = 0; i < n; i++) {
        uint8_t seed[32];
        memset(seed, 0, sizeof seed);
        seed[0] = (uint8_t)(i + 1);
        seed[1] = 0x5a;
        c->keypair(net->pk[i], net->sk[i], seed);
        net->addr[i].ip = 0xC6120000u | (uint32_t)(i + 1); /* 198.18.0.x */
        net->addr[i].port = 7946;
        th_start(net, i, 0);
    }
}

void th_start(struct th_net *net, int i, int other_key)
{
    char err[TSC_ERRMSG_SIZE];
    struct tsc_gossip_config cfg = net->cfg;
    cfg.seed = net->cfg.seed * 1000 + (uint64_t)i + net->now;
    struct tsc_gossip_identity id;
    memset(&id, 0, sizeof id);
    memcpy(id.pk, net->pk[i], 32);
    memcpy(id.sk, net->sk[i], 64);
    id.addr = net->addr[i];
    id.seq_start = net->now;
    if (net->g[i])
        tsc_gossip_free(net->g[i]);
    int rc = tsc_gossip_new(&net->g[i], &cfg, other_key ? &net->other_wire : &net->wire, &id,
                            net->now, err);
    if (rc != 0)
        abort();
    net->down[i] = 0;
    net->deadline[i] = net->now;
}

void th_stop(struct th_net *net, int i)
{
    tsc_gossip_free(net->g[i]);
    net->g[i] = NULL;
    net->down[i] = 1;
}

void th_free(struct th_net *net)
{
    for (int i = 0; i < net->n; i++)
        tsc_gossip_free(net->g[i]);
    for (int k = 0; k < net->nq; k++)
        free(net->q[k].data);
    net->nq = 0;
}

static int index_of(struct th_net *net, struct tsc_addr a)
{
    for (int i = 0; i < net->n; i++)
        if (tsc_addr_eq(&net->addr[i], &a))
            return i;
    return -1;
}

static void handle_update(struct th_net *net, int i, const struct tsc_gossip_update *up)
{
    for (size_t k = 0; k < up->n_out; k++) {
        const struct tsc_gossip_out *o = &up->out[k];
        if (o->kind == TSC_GOSSIP_OUT_DATAGRAM && o->len > net->max_datagram_seen)
            net->max_datagram_seen = o->len;
        int to = index_of(net, o->to);
        if (to < 0 || net->nq == TH_MAX_INFLIGHT)
            continue;
        struct th_msg *m = &net->q[net->nq++];
        m->at = net->now + net->latency;
        m->kind = o->kind;
        m->from = i;
        m->to = to;
        m->data = malloc(o->len);
        memcpy(m->data, o->data, o->len);
        m->len = o->len;
    }
    net->deadline[i] = up->next_deadline;
}

void th_event(struct th_net *net, int i, struct tsc_gossip_event *ev)
{
    struct tsc_gossip_update up;
    if (net->g[i] == NULL)
        return;
    ev->now = net->now;
    int rc = tsc_gossip_step(net->g[i], ev, &up);
    if (rc != 0)
        abort();
    handle_update(net, i, &up);
}

void th_join(struct th_net *net, int i, int j)
{
    struct tsc_gossip_event ev = {.type = TSC_GOSSIP_EV_JOIN, .addrs = &net->addr[j], .n_addrs = 1};
    th_event(net, i, &ev);
}

/* Deliver everything due and fire every due timer, in time order. */
static void step_to(struct th_net *net, uint64_t t)
{
    for (;;) {
        uint64_t next = t;
        for (int k = 0; k < net->nq; k++)
            if (net->q[k].at < next)
                next = net->q[k].at;
        for (int i = 0; i < net->n; i++)
            if (net->g[i] && net->deadline[i] < next)
                next = net->deadline[i];
        if (next >= t)
            break;
        net->now = next;
        for (int k = 0; k < net->nq;) {
            if (net->q[k].at > next) {
                k++;
                continue;
            }
            struct th_msg m = net->q[k];
            memmove(&net->q[k], &net->q[k + 1], (size_t)(net->nq - k - 1) * sizeof m);
            net->nq--;
            int drop = net->down[m.to] || net->down[m.from] || net->cut[m.from][m.to];
            if (!drop && net->tap)
                drop = net->tap(net, &m, net->tap_ctx);
            if (!drop) {
                struct tsc_gossip_event ev = {
                    .type = m.kind == TSC_GOSSIP_OUT_DATAGRAM ? TSC_GOSSIP_EV_DATAGRAM
                                                              : TSC_GOSSIP_EV_STREAM,
                    .from = net->addr[m.from],
                    .data = m.data,
                    .len = m.len,
                };
                net->delivered++;
                th_event(net, m.to, &ev);
            }
            free(m.data);
        }
        for (int i = 0; i < net->n; i++) {
            if (net->g[i] && net->deadline[i] <= next) {
                struct tsc_gossip_event ev = {.type = TSC_GOSSIP_EV_TICK};
                th_event(net, i, &ev);
            }
        }
    }
    net->now = t;
}

void th_run_until(struct th_net *net, uint64_t until)
{
    step_to(net, until);
}

int th_run_while_not(struct th_net *net, int (*cond)(struct th_net *, void *), void *ctx,
                     uint64_t limit)
{
    uint64_t end = net->now + limit;
    while (net->now < end) {
        if (cond(net, ctx))
            return 1;
        step_to(net, net->now + TSC_MSEC(10));
    }
    return cond(net, ctx);
}

int th_status(struct th_net *net, int observer, int subject)
{
    struct tsc_gossip_member m;
    if (net->g[observer] == NULL)
        return -1;
    uint64_t id = tsc_crypto_node_id(net->wire.crypto, net->pk[subject]);
    if (tsc_gossip_member_find(net->g[observer], id, &m) != 0)
        return -1;
    return m.status;
}

uint64_t th_incarnation(struct th_net *net, int observer, int subject)
{
    struct tsc_gossip_member m;
    uint64_t id = tsc_crypto_node_id(net->wire.crypto, net->pk[subject]);
    if (net->g[observer] == NULL || tsc_gossip_member_find(net->g[observer], id, &m) != 0)
        return 0;
    return m.incarnation;
}

int th_all_alive(struct th_net *net, void *ctx)
{
    (void)ctx;
    for (int i = 0; i < net->n; i++) {
        if (net->g[i] == NULL)
            continue;
        for (int j = 0; j < net->n; j++)
            if (net->g[j] != NULL && th_status(net, i, j) != TSC_STATUS_ALIVE)
                return 0;
    }
    return 1;
}
