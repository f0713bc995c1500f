/* tsc — the SWIM engine's entry points: creation, the step function that
 * dispatches events, sealing of everything it sends, and read-only views. */
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "gossip/internal.h"

void tsc_gossip_config_default(struct tsc_gossip_config *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->probe_interval = TSC_MSEC(200);
    c->probe_timeout = TSC_MSEC(100);
    c->indirect_checks = 3;
    c->gossip_interval = TSC_MSEC(100);
    c->gossip_fanout = 3;
    c->retransmit_mult = 4;
    c->suspicion_mult = 2;
    c->suspicion_max_mult = 4;
    c->awareness_max = 8;
    c->pushpull_interval = TSC_SEC(30);
    c->gossip_to_dead = TSC_SEC(30);
    c->reconnect_interval = TSC_SEC(5);
    c->max_datagram = TSC_WIRE_MAX_DATAGRAM;
}

static int check_config(const struct tsc_gossip_config *c, char *errmsg)
{
    if (c->probe_interval == 0 || c->probe_timeout == 0 || c->probe_timeout > c->probe_interval) {
        tsc_errmsg_setf(errmsg, "probe timeout must be > 0 and <= the probe interval");
        return TSC_EINVAL;
    }
    if (c->gossip_interval == 0 || c->pushpull_interval == 0 || c->reconnect_interval == 0) {
        tsc_errmsg_setf(errmsg, "gossip, push-pull and reconnect intervals must be > 0");
        return TSC_EINVAL;
    }
    if (c->indirect_checks > 16 || c->gossip_fanout == 0 || c->gossip_fanout > 16) {
        tsc_errmsg_setf(errmsg, "indirect checks must be <= 16 and fan-out 1..16");
        return TSC_EINVAL;
    }
    if (c->suspicion_mult == 0 || c->suspicion_max_mult == 0 || c->retransmit_mult == 0) {
        tsc_errmsg_setf(errmsg, "suspicion and retransmit multipliers must be > 0");
        return TSC_EINVAL;
    }
    if (c->max_datagram < 512 || c->max_datagram > 65000) {
        tsc_errmsg_setf(errmsg, "max datagram must be 512..65000 bytes");
        return TSC_EINVAL;
    }
    return 0;
}

int tsc_gossip_new(struct tsc_gossip **out, const struct tsc_gossip_config *cfg,
                   const struct tsc_wire *wire, const struct tsc_gossip_identity *id, uint64_t now,
                   char *errmsg)
{
    int rc = check_config(cfg, errmsg);
    if (rc != 0)
        return rc;
    if (id->meta_len > TSC_META_MAX_BYTES) {
        tsc_errmsg_setf(errmsg, "node meta is %zu bytes, at most %d", id->meta_len,
                        TSC_META_MAX_BYTES);
        return TSC_EINVAL;
    }
    struct tsc_gossip *g = tsc_calloc(1, sizeof *g);
    if (g == NULL)
        goto oom;
    g->cfg = *cfg;
    g->wire = wire;
    g->crypto = wire->crypto;
    tsc_prng_seed(&g->prng, cfg->seed);
    memcpy(g->sk, id->sk, TSC_SK_BYTES);
    g->self_id = tsc_crypto_node_id(g->crypto, id->pk);
    g->seq = id->seq_start;
    tsc_buf_init(&g->out_data);
    tsc_buf_init(&g->scratch);
    tsc_buf_init(&g->body);
    tsc_buf_init(&g->tmp);
    g->meta = tsc_malloc(id->meta_len ? id->meta_len : 1);
    if (g->meta == NULL)
        goto oom;
    if (id->meta_len)
        memcpy(g->meta, id->meta, id->meta_len);
    g->meta_len = id->meta_len;

    struct tsc_record rec;
    memset(&rec, 0, sizeof rec);
    rec.id = g->self_id;
    memcpy(rec.pk, id->pk, TSC_PK_BYTES);
    rec.addr = id->addr;
    rec.incarnation = id->incarnation;
    rec.status = TSC_STATUS_ALIVE;
    rec.meta = g->meta;
    rec.meta_len = g->meta_len;
    rc = tsc_record_encode(g->crypto, &rec, g->sk, &g->tmp);
    if (rc != 0) {
        tsc_errmsg_setf(errmsg, "sign own record: %s", tsc_strerror(rc));
        tsc_gossip_free(g);
        return rc;
    }
    rc = tsc__gossip_add_member(g, &rec, g->tmp.data, g->tmp.len, now, &g->self_index);
    if (rc != 0)
        goto oom;
    g->next_probe_at = now + tsc_prng_below(&g->prng, cfg->probe_interval);
    g->next_gossip_at = now + cfg->gossip_interval;
    g->next_pushpull_at =
        now + cfg->pushpull_interval / 2 + tsc_prng_below(&g->prng, cfg->pushpull_interval);
    g->next_reconnect_at = now + cfg->reconnect_interval;
    *out = g;
    return 0;
oom:
    tsc_errmsg_setf(errmsg, "create gossip engine: %s", tsc_strerror(TSC_ENOMEM));
    tsc_gossip_free(g);
    return TSC_ENOMEM;
}

void tsc_gossip_free(struct tsc_gossip *g)
{
    if (g == NULL)
        return;
    tsc__gossip_members_free(g);
    for (uint32_t i = 0; i < g->n_bcasts; i++)
        tsc_free(g->bcasts[i].blob);
    tsc_free(g->bcasts);
    tsc_free(g->order);
    tsc_free(g->bucket);
    tsc_free(g->probe_list);
    tsc_free(g->meta);
    tsc_buf_free(&g->out_data);
    tsc_buf_free(&g->scratch);
    tsc_buf_free(&g->body);
    tsc_buf_free(&g->tmp);
    tsc_free(g->out_recs);
    tsc_free(g->outs);
    tsc_free(g->changes);
    memset(g->sk, 0, sizeof g->sk);
    tsc_free(g);
}

/* Seal a body into an output frame. The nonce is sender id || seq || 8
 * bytes of the engine's PRNG: unique because (sender, seq) never repeats. */
int tsc__gossip_send(struct tsc_gossip *g, int kind, struct tsc_addr to, uint8_t type,
                     const uint8_t *body, size_t len)
{
    struct tsc_envelope env = {
        .version = TSC_WIRE_VERSION,
        .sender = g->self_id,
        .seq = ++g->seq,
        .type = type,
        .body = body,
        .body_len = len,
    };
    uint8_t nonce[TSC_NONCE_BYTES];
    uint64_t r = tsc_prng_next(&g->prng);
    for (int i = 0; i < 8; i++) {
        nonce[i] = (uint8_t)(g->self_id >> (56 - 8 * i));
        nonce[8 + i] = (uint8_t)(env.seq >> (56 - 8 * i));
        nonce[16 + i] = (uint8_t)(r >> (56 - 8 * i));
    }
    if (g->n_out == g->cap_out) {
        size_t cap = g->cap_out ? g->cap_out * 2 : 16;
        struct tsc__out_rec *p = tsc_realloc(g->out_recs, cap * sizeof *p);
        if (p == NULL)
            return TSC_ENOMEM;
        g->out_recs = p;
        g->cap_out = cap;
    }
    size_t off = g->out_data.len;
    size_t max = kind == TSC_GOSSIP_OUT_DATAGRAM ? g->cfg.max_datagram : TSC_WIRE_MAX_FRAME;
    int rc = tsc_wire_seal(g->wire, &env, nonce, max, &g->out_data);
    if (rc == TSC_ETOOBIG)
        return 0; /* our state outgrew a frame: nothing sensible to send */
    if (rc != 0)
        return rc;
    struct tsc__out_rec *o = &g->out_recs[g->n_out++];
    o->kind = kind;
    o->to = to;
    o->off = off;
    o->len = g->out_data.len - off;
    if (kind == TSC_GOSSIP_OUT_DATAGRAM)
        g->stats.tx_datagrams++;
    else
        g->stats.tx_streams++;
    g->stats.tx_bytes += o->len;
    return 0;
}

/* Build and send one SWIM message with as much piggybacked news as fits a
 * datagram. kind is TSC_GOSSIP_OUT_DATAGRAM, or TSC_GOSSIP_OUT_STREAM for the
 * fallback probe over a reliable stream. */
int tsc__gossip_send_swim_kind(struct tsc_gossip *g, int kind, struct tsc_addr to, uint8_t type,
                               uint32_t probe, uint64_t target, struct tsc_addr target_addr,
                               uint64_t first)
{
    struct tsc_swim_writer w;
    tsc_buf_reset(&g->body);
    int rc = tsc_swim_begin(&w, &g->body, probe, target, target_addr);
    if (rc != 0)
        return rc;
    size_t limit = g->cfg.max_datagram - TSC_WIRE_OVERHEAD;
    rc = tsc__gossip_piggyback(g, &w, limit, first);
    if (rc != 0)
        return rc;
    tsc_swim_finish(&w);
    return tsc__gossip_send(g, kind, to, type, g->body.data, g->body.len);
}

int tsc__gossip_send_swim(struct tsc_gossip *g, struct tsc_addr to, uint8_t type, uint32_t probe,
                          uint64_t target, struct tsc_addr target_addr, uint64_t first)
{
    return tsc__gossip_send_swim_kind(g, TSC_GOSSIP_OUT_DATAGRAM, to, type, probe, target,
                                      target_addr, first);
}

static void count_reject(struct tsc_gossip *g, int rc)
{
    g->stats.rejected++;
    switch (rc) {
    case TSC_EAUTH:
        g->stats.rejected_auth++;
        break;
    case TSC_EREPLAY:
        g->stats.rejected_replay++;
        break;
    case TSC_ECLUSTER:
        g->stats.rejected_cluster++;
        break;
    default:
        g->stats.rejected_malformed++;
        break;
    }
}

/* Open a frame and check its sequence against the sender's replay window.
 * 0 when it should be processed; otherwise it has been counted. */
static int open_frame(struct tsc_gossip *g, const uint8_t *data, size_t len, size_t max,
                      struct tsc_envelope *env)
{
    int rc = tsc_wire_open(g->wire, data, len, max, &g->scratch, env);
    if (rc == TSC_ENOMEM)
        return rc;
    if (rc != 0) {
        count_reject(g, rc);
        return -1;
    }
    if (env->sender == g->self_id) {
        count_reject(g, TSC_EREPLAY); /* our own frame reflected back */
        return -1;
    }
    struct tsc__member *m = tsc__gossip_find(g, env->sender);
    if (m != NULL && tsc_replay_check(&m->replay, env->seq) != 0) {
        count_reject(g, TSC_EREPLAY);
        return -1;
    }
    return 0;
}

static int on_datagram(struct tsc_gossip *g, const struct tsc_gossip_event *ev)
{
    struct tsc_envelope env;
    g->stats.rx_datagrams++;
    g->stats.rx_bytes += ev->len;
    int rc = open_frame(g, ev->data, ev->len, g->cfg.max_datagram, &env);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (env.type < TSC_MSG_PING || env.type > TSC_MSG_GOSSIP) {
        count_reject(g, TSC_EMALFORMED);
        return 0;
    }
    struct tsc_swim_msg msg;
    if (tsc_swim_decode(env.body, env.body_len, &msg) != 0) {
        count_reject(g, TSC_EMALFORMED);
        return 0;
    }
    for (unsigned i = 0; i < msg.n_items; i++) {
        rc = tsc__gossip_apply_blob(g, msg.items[i].blob, msg.items[i].len, ev->now, 0);
        if (rc != 0)
            return rc;
    }
    rc = tsc__gossip_on_swim(g, env.type, &msg, ev->from, ev->now);
    /* A cluster member (it holds the key) that we never heard of: we
     * missed its news, ask it directly. */
    if (rc == 0 && tsc__gossip_find(g, env.sender) == NULL)
        rc = tsc__gossip_pull_unknown(g, ev->from, ev->now);
    return rc;
}

/* A PING or ACK over a stream: the fallback probe (as memberlist does over
 * TCP). Lossy links make direct and indirect datagram probes fail together
 * often enough to flood the cluster with false suspicions; a stream is
 * retransmitted by the transport, so it fails only when the member really
 * is unreachable. The ACK goes back over a stream to the sender's address. */
static int on_stream_probe(struct tsc_gossip *g, const struct tsc_envelope *env, uint64_t now)
{
    struct tsc_swim_msg msg;
    if (tsc_swim_decode(env->body, env->body_len, &msg) != 0) {
        count_reject(g, TSC_EMALFORMED);
        return 0;
    }
    for (unsigned i = 0; i < msg.n_items; i++) {
        int rc = tsc__gossip_apply_blob(g, msg.items[i].blob, msg.items[i].len, now, 0);
        if (rc != 0)
            return rc;
    }
    struct tsc__member *peer = tsc__gossip_find(g, env->sender);
    if (env->type == TSC_MSG_ACK)
        return tsc__gossip_on_swim(g, TSC_MSG_ACK, &msg,
                                   peer ? peer->addr : (struct tsc_addr){0, 0}, now);
    if (peer == NULL || (msg.target != 0 && msg.target != g->self_id))
        return 0;
    struct tsc_addr none = {0, 0};
    return tsc__gossip_send_swim_kind(g, TSC_GOSSIP_OUT_STREAM, peer->addr, TSC_MSG_ACK, msg.probe,
                                      0, none, 0);
}

static int on_stream(struct tsc_gossip *g, const struct tsc_gossip_event *ev)
{
    struct tsc_envelope env;
    g->stats.rx_streams++;
    g->stats.rx_bytes += ev->len;
    int rc = open_frame(g, ev->data, ev->len, TSC_WIRE_MAX_FRAME, &env);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (env.type == TSC_MSG_PING || env.type == TSC_MSG_ACK)
        return on_stream_probe(g, &env, ev->now);
    if (env.type != TSC_MSG_PUSHPULL_REQ && env.type != TSC_MSG_PUSHPULL_RESP) {
        count_reject(g, TSC_EMALFORMED);
        return 0;
    }
    return tsc__gossip_on_stream(g, &env, ev->now);
}

static int on_join(struct tsc_gossip *g, const struct tsc_gossip_event *ev)
{
    if (ev->n_addrs > 0 && ev->addrs == NULL)
        return TSC_EINVAL;
    g->n_seeds = 0;
    for (size_t i = 0; i < ev->n_addrs && g->n_seeds < TSC__MAX_SEEDS; i++) {
        const struct tsc__member *self = &g->members[g->self_index];
        if (tsc_addr_eq(&ev->addrs[i], &self->addr))
            continue;
        g->seeds[g->n_seeds++] = ev->addrs[i];
    }
    g->next_join_retry_at = ev->now;
    g->join_until = ev->now + TSC_SEC(60);
    /* announce ourselves too, not only through the seed */
    const struct tsc__member *self = &g->members[g->self_index];
    int rc = tsc__gossip_enqueue(g, TSC_BLOB_RECORD, g->self_id, 0, self->status, self->record,
                                 self->record_len);
    /* An explicit JOIN contacts its seeds now, even when we know live peers
     * already; retries (pushpull.c) continue only while nobody answered. */
    for (unsigned i = 0; i < g->n_seeds && rc == 0; i++)
        rc = tsc__gossip_pushpull_send(g, g->seeds[i], TSC_MSG_PUSHPULL_REQ, 1);
    g->next_join_retry_at = ev->now + TSC_SEC(1);
    return rc;
}

static int on_meta(struct tsc_gossip *g, const struct tsc_gossip_event *ev)
{
    if (ev->len > TSC_META_MAX_BYTES || (ev->len > 0 && ev->data == NULL))
        return TSC_EINVAL;
    uint8_t *meta = tsc_malloc(ev->len ? ev->len : 1);
    if (meta == NULL)
        return TSC_ENOMEM;
    if (ev->len)
        memcpy(meta, ev->data, ev->len);
    uint8_t *old = g->meta;
    size_t old_len = g->meta_len;
    g->meta = meta;
    g->meta_len = ev->len;
    const struct tsc__member *self = &g->members[g->self_index];
    int rc = tsc__gossip_resign_self(g, self->incarnation + 1, self->status, ev->now);
    if (rc != 0) {
        g->meta = old;
        g->meta_len = old_len;
        tsc_free(meta);
        return rc;
    }
    tsc_free(old);
    return 0;
}

static uint64_t next_deadline(const struct tsc_gossip *g)
{
    uint64_t d = tsc__gossip_probe_deadline(g);
    uint64_t t = tsc__gossip_suspect_deadline(g);
    if (t < d)
        d = t;
    if (g->n_bcasts > 0 && g->next_gossip_at < d)
        d = g->next_gossip_at;
    if (g->n_seeds > 0 && g->next_join_retry_at < d)
        d = g->next_join_retry_at;
    if (!g->leaving) {
        if (g->next_pushpull_at < d)
            d = g->next_pushpull_at;
        if (g->next_reconnect_at < d)
            d = g->next_reconnect_at;
    }
    return d;
}

static int timers(struct tsc_gossip *g, uint64_t now)
{
    int rc = tsc__gossip_relay_tick(g, now);
    if (rc == 0)
        rc = tsc__gossip_probe_tick(g, now);
    if (rc == 0)
        tsc__gossip_check_suspects(g, now);
    if (rc == 0 && now >= g->next_gossip_at) {
        g->next_gossip_at = now + g->cfg.gossip_interval;
        rc = tsc__gossip_gossip_round(g, now);
    }
    if (rc == 0)
        rc = tsc__gossip_pushpull_tick(g, now);
    return rc;
}

static void finish_update(struct tsc_gossip *g, struct tsc_gossip_update *up)
{
    if (g->cap_outs < g->n_out) {
        struct tsc_gossip_out *p = tsc_realloc(g->outs, g->n_out * sizeof *p);
        if (p == NULL) {
            g->n_out = 0; /* the frames are lost, like datagrams can be */
            g->oom = 1;
        } else {
            g->outs = p;
            g->cap_outs = g->n_out;
        }
    }
    for (size_t i = 0; i < g->n_out; i++) {
        g->outs[i].kind = g->out_recs[i].kind;
        g->outs[i].to = g->out_recs[i].to;
        g->outs[i].data = g->out_data.data + g->out_recs[i].off;
        g->outs[i].len = g->out_recs[i].len;
    }
    up->out = g->outs;
    up->n_out = g->n_out;
    up->changes = g->changes;
    up->n_changes = g->n_changes;
    up->next_deadline = next_deadline(g);
    up->leave_done = g->leaving && (!tsc__gossip_self_pending(g) || g->n_alive <= 1 ||
                                    up->next_deadline == TSC_TIME_NEVER ||
                                    (g->leave_deadline != 0 && g->leave_deadline <= g->last_now));
}

int tsc_gossip_step(struct tsc_gossip *g, const struct tsc_gossip_event *ev,
                    struct tsc_gossip_update *up)
{
    int rc = 0;
    memset(up, 0, sizeof *up);
    g->n_out = 0;
    g->n_changes = 0;
    g->oom = 0;
    tsc_buf_reset(&g->out_data);
    g->last_now = ev->now;
    switch (ev->type) {
    case TSC_GOSSIP_EV_TICK:
        break;
    case TSC_GOSSIP_EV_DATAGRAM:
        if (ev->data == NULL && ev->len > 0)
            return TSC_EINVAL;
        rc = on_datagram(g, ev);
        break;
    case TSC_GOSSIP_EV_STREAM:
        if (ev->data == NULL && ev->len > 0)
            return TSC_EINVAL;
        rc = on_stream(g, ev);
        break;
    case TSC_GOSSIP_EV_JOIN:
        rc = on_join(g, ev);
        break;
    case TSC_GOSSIP_EV_LEAVE:
        if (!g->leaving) {
            g->leaving = 1;
            g->leave_deadline = ev->now + 5 * g->cfg.gossip_interval;
            const struct tsc__member *self = &g->members[g->self_index];
            rc = tsc__gossip_resign_self(g, self->incarnation + 1, TSC_STATUS_LEFT, ev->now);
            if (rc == 0)
                rc = tsc__gossip_gossip_round(g, ev->now);
        }
        break;
    case TSC_GOSSIP_EV_SET_META:
        rc = on_meta(g, ev);
        break;
    default:
        return TSC_EINVAL;
    }
    if (rc == 0)
        rc = timers(g, ev->now);
    finish_update(g, up);
    if (rc == 0 && g->oom)
        rc = TSC_ENOMEM;
    return rc;
}

const struct tsc_gossip_stats *tsc_gossip_stats(const struct tsc_gossip *g)
{
    return &g->stats;
}

uint64_t tsc_gossip_self_id(const struct tsc_gossip *g)
{
    return g->self_id;
}

size_t tsc_gossip_count(const struct tsc_gossip *g)
{
    return g->n_members;
}

static void view(const struct tsc_gossip *g, const struct tsc__member *m,
                 struct tsc_gossip_member *v)
{
    v->id = m->id;
    v->pk = m->pk;
    v->addr = m->addr;
    v->incarnation = m->incarnation;
    v->status = m->status;
    v->status_since = m->status_since;
    v->record = m->record;
    v->record_len = m->record_len;
    v->is_self = m->id == g->self_id;
}

int tsc_gossip_member_at(const struct tsc_gossip *g, size_t i, struct tsc_gossip_member *m)
{
    if (i >= g->n_members)
        return TSC_ENOTFOUND;
    view(g, &g->members[i], m);
    return 0;
}

int tsc_gossip_member_find(const struct tsc_gossip *g, uint64_t id, struct tsc_gossip_member *m)
{
    const struct tsc__member *p = tsc__gossip_find((struct tsc_gossip *)g, id);
    if (p == NULL)
        return TSC_ENOTFOUND;
    view(g, p, m);
    return 0;
}

size_t tsc_gossip_count_status(const struct tsc_gossip *g, int status)
{
    size_t n = 0;
    for (uint32_t i = 0; i < g->n_members; i++)
        n += g->members[i].status == status;
    return n;
}
