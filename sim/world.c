/* tsc — the simulated world: tables, message pool, the event loop.
 *
 * The loop pops the earliest event, sets the virtual clock to its time and
 * dispatches it: a TICK steps the node's engine at its deadline, a delivery
 * steps the receiver with the bytes, control events start, join or stop
 * nodes. Everything an engine emits is copied into the message pool (its
 * output buffers live only until its next step) and scheduled through the
 * network model. Pool slots and heap storage are reused, so a long run
 * allocates nothing per message once it has warmed up. */
#include "sim/world.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "sim/coord.h"
#include "sim/runs.h"
#include "sim/stats.h"

/* ---- id -> index map (open addressing, ids are never 0) ---- */

static int map_init(struct tsc_sim_world *w)
{
    uint32_t cap = 16;
    while (cap < 2 * w->n)
        cap <<= 1;
    w->map_id = tsc_calloc(cap, sizeof(*w->map_id));
    w->map_idx = tsc_calloc(cap, sizeof(*w->map_idx));
    if (!w->map_id || !w->map_idx)
        return TSC_ENOMEM;
    w->map_mask = cap - 1;
    return 0;
}

static uint32_t map_slot(const struct tsc_sim_world *w, uint64_t id)
{
    uint64_t h = id * 0x9E3779B97F4A7C15ULL;
    uint32_t i = (uint32_t)(h >> 32) & w->map_mask;
    while (w->map_id[i] && w->map_id[i] != id)
        i = (i + 1) & w->map_mask;
    return i;
}

uint32_t tsc__sim_lookup(const struct tsc_sim_world *w, uint64_t id)
{
    uint32_t s = map_slot(w, id);
    return w->map_id[s] ? w->map_idx[s] : TSC_SIM_NONE;
}

void tsc__sim_map_put(struct tsc_sim_world *w, uint64_t id, uint32_t idx)
{
    uint32_t s = map_slot(w, id);
    w->map_id[s] = id;
    w->map_idx[s] = idx;
}

/* ---- message pool ---- */

uint32_t tsc__sim_msg_new(struct tsc_sim_world *w, const uint8_t *data, size_t len)
{
    uint32_t i;
    if (w->free_msg != TSC_SIM_NONE) {
        i = w->free_msg;
        w->free_msg = w->msgs[i].next_free;
    } else {
        if (w->n_msgs == w->cap_msgs) {
            uint32_t cap = w->cap_msgs ? w->cap_msgs * 2 : 256;
            struct tsc_sim_msg *m = tsc_realloc(w->msgs, (size_t)cap * sizeof(*m));
            if (!m)
                return TSC_SIM_NONE;
            w->msgs = m;
            w->cap_msgs = cap;
        }
        i = w->n_msgs++;
        memset(&w->msgs[i], 0, sizeof(w->msgs[i]));
    }
    struct tsc_sim_msg *m = &w->msgs[i];
    if (m->cap < len) {
        size_t cap = len < 2048 ? 2048 : len;
        uint8_t *d = tsc_realloc(m->data, cap);
        if (!d) {
            m->next_free = w->free_msg;
            w->free_msg = i;
            return TSC_SIM_NONE;
        }
        m->data = d;
        m->cap = (uint32_t)cap;
    }
    memcpy(m->data, data, len);
    m->len = (uint32_t)len;
    m->refs = 0;
    return i;
}

static void msg_unref(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_msg *m = &w->msgs[i];
    if (m->refs > 1) {
        m->refs--;
        return;
    }
    m->refs = 0;
    /* Very large stream buffers are not worth keeping around. */
    if (m->cap > (1u << 20)) {
        tsc_free(m->data);
        m->data = NULL;
        m->cap = 0;
    }
    m->next_free = w->free_msg;
    w->free_msg = i;
}

/* ---- life cycle ---- */

int tsc_sim_world_new(struct tsc_sim_world **out, const struct tsc_sim_world_config *cfg,
                      char *errmsg)
{
    *out = NULL;
    if (cfg->nodes == 0 || cfg->nodes > TSC_SIM_MAX_NODES || !cfg->crypto) {
        tsc_errmsg_setf(errmsg, "world: nodes must be 1..%u", TSC_SIM_MAX_NODES);
        return TSC_EINVAL;
    }
    struct tsc_sim_world *w = tsc_calloc(1, sizeof(*w));
    if (!w)
        goto nomem;
    w->cfg = *cfg;
    w->n = cfg->nodes;
    w->trace = cfg->trace;
    w->trace_hash = TSC_SIM_HASH_INIT;
    w->free_msg = TSC_SIM_NONE;
    tsc_prng_seed(&w->prng, cfg->seed);
    tsc_sim_heap_init(&w->heap);
    tsc_buf_init(&w->meta);
    tsc_buf_init(&w->scratch);
    w->nodes = tsc_calloc(w->n, sizeof(*w->nodes));
    /* The n*n view table is the simulator's largest cost besides the engines
     * themselves (which hold n*n records): 4 bytes a pair. */
    w->view = tsc_malloc((size_t)w->n * w->n * sizeof(*w->view));
    if (!w->nodes || !w->view || map_init(w) ||
        tsc_sim_net_init(&w->net, &cfg->net, w->n, &w->prng))
        goto nomem;
    for (uint32_t i = 0; i < w->n; i++)
        tsc_sim_net_set_down(&w->net, i, 1);                       /* up when started */
    memset(w->view, 0xff, (size_t)w->n * w->n * sizeof(*w->view)); /* all unknown */

    /* The cluster key is derived from the seed, like everything else. */
    uint8_t key[TSC_KEY_BYTES];
    struct tsc_prng kp;
    tsc_prng_seed(&kp, cfg->seed ^ 0x6b65796b65796b65ULL);
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)tsc_prng_next(&kp);
    tsc_wire_init(&w->wire, key, cfg->crypto);

    for (uint32_t i = 0; i < w->n; i++) {
        struct tsc_sim_node *nd = &w->nodes[i];
        nd->tick_at = TSC_TIME_NEVER;
        nd->deadline = TSC_TIME_NEVER;
        nd->addr.ip = TSC_SIM_NET_BASE + i;
        nd->addr.port = TSC_SIM_PORT;
        uint8_t seed[TSC_SEED_BYTES];
        struct tsc_prng sp;
        tsc_prng_seed(&sp, tsc_sim_hash_u64(tsc_sim_hash_u64(cfg->seed, 0x6e6f6465), i));
        for (size_t k = 0; k < sizeof(seed); k++)
            seed[k] = (uint8_t)tsc_prng_next(&sp);
        cfg->crypto->keypair(nd->pk, nd->sk, seed);
        nd->id = tsc_crypto_node_id(cfg->crypto, nd->pk);
        if (tsc__sim_lookup(w, nd->id) != TSC_SIM_NONE) {
            /* 64-bit id collision: astronomically unlikely, but say so. */
            tsc_errmsg_setf(errmsg, "world: node id collision at node %u", i);
            tsc_sim_world_free(w);
            return TSC_EEXIST;
        }
        tsc__sim_map_put(w, nd->id, i);
    }
    *out = w;
    return 0;
nomem:
    tsc_errmsg_setf(errmsg, "world: out of memory for %u nodes", cfg->nodes);
    tsc_sim_world_free(w);
    return TSC_ENOMEM;
}

void tsc_sim_world_free(struct tsc_sim_world *w)
{
    if (!w)
        return;
    tsc__sim_runs_world_free(w);
    tsc__sim_coord_world_free(w);
    if (w->nodes)
        for (uint32_t i = 0; i < w->n; i++)
            if (w->nodes[i].g)
                tsc_gossip_free(w->nodes[i].g);
    for (uint32_t i = 0; i < w->n_msgs; i++)
        tsc_free(w->msgs[i].data);
    tsc_free(w->msgs);
    tsc_free(w->nodes);
    tsc_free(w->view);
    tsc_free(w->map_id);
    tsc_free(w->map_idx);
    tsc_sim_heap_free(&w->heap);
    tsc_sim_net_free(&w->net);
    tsc_buf_free(&w->meta);
    tsc_buf_free(&w->scratch);
    tsc_free(w);
}

int tsc_sim_world_schedule(struct tsc_sim_world *w, uint64_t t, uint32_t kind, uint32_t node,
                           uint32_t from, uint32_t arg)
{
    if (tsc_sim_heap_push(&w->heap, t, kind, node, from, arg)) {
        w->err = TSC_ENOMEM;
        tsc_errmsg_setf(w->errmsg, "event heap: out of memory");
        return TSC_ENOMEM;
    }
    return 0;
}

uint32_t tsc_sim_world_index_of(const struct tsc_sim_world *w, const struct tsc_addr *a)
{
    if (a->port != TSC_SIM_PORT || a->ip < TSC_SIM_NET_BASE)
        return TSC_SIM_NONE;
    uint32_t i = a->ip - TSC_SIM_NET_BASE;
    return i < w->n ? i : TSC_SIM_NONE;
}

/* ---- trace ---- */

static const char *msg_type_name(unsigned t)
{
    switch (t) {
    case TSC_MSG_PING:
        return "ping";
    case TSC_MSG_ACK:
        return "ack";
    case TSC_MSG_PING_REQ:
        return "ping_req";
    case TSC_MSG_NACK:
        return "nack";
    case TSC_MSG_GOSSIP:
        return "gossip";
    case TSC_MSG_PUSHPULL_REQ:
        return "pushpull_req";
    case TSC_MSG_PUSHPULL_RESP:
        return "pushpull_resp";
    case TSC_MSG_RAFT_VOTE:
        return "raft_vote";
    case TSC_MSG_RAFT_VOTE_RESP:
        return "raft_vote_resp";
    case TSC_MSG_RAFT_APPEND:
        return "raft_append";
    case TSC_MSG_RAFT_APPEND_RESP:
        return "raft_append_resp";
    case TSC_MSG_RAFT_TIMEOUT_NOW:
        return "raft_timeout_now";
    case TSC_MSG_STAGE_START:
        return "stage_start";
    case TSC_MSG_STAGE_REPORT:
        return "stage_report";
    case TSC_MSG_STAGE_CANCEL:
        return "stage_cancel";
    default:
        return "other";
    }
}

static void trace_delivery(struct tsc_sim_world *w, const struct tsc_sim_ev *ev,
                           const struct tsc_sim_msg *m, int dropped)
{
    uint64_t hb = tsc_sim_hash(TSC_SIM_HASH_INIT, m->data, m->len);
    uint64_t h = w->trace_hash;
    h = tsc_sim_hash_u64(h, ev->time);
    h = tsc_sim_hash_u64(h, ((uint64_t)ev->from << 32) | ev->node);
    h = tsc_sim_hash_u64(h, ((uint64_t)ev->kind << 40) | ((uint64_t)dropped << 32) | m->len);
    w->trace_hash = tsc_sim_hash_u64(h, hb);
    if (!w->trace)
        return;
    /* Opening the frame is only for the reader's benefit (type, seq). */
    struct tsc_envelope env;
    const char *type = "?";
    uint64_t seq = 0;
    if (tsc_wire_open(&w->wire, m->data, m->len, TSC_WIRE_MAX_FRAME, &w->scratch, &env) == 0) {
        type = msg_type_name(env.type);
        seq = env.seq;
    }
    fprintf(w->trace,
            "%" PRIu64 ".%06" PRIu64 " %s %u>%u len=%u h=%016" PRIx64 " %s seq=%" PRIu64 "%s\n",
            ev->time / 1000000, ev->time % 1000000,
            ev->kind == TSC_SIM_EV_STREAM ? "stream" : "dgram", ev->from, ev->node, m->len, hb,
            type, seq, dropped ? " DROPPED" : "");
}

void tsc_sim_world_note(struct tsc_sim_world *w, const char *what, uint32_t node, uint64_t arg)
{
    w->trace_hash = tsc_sim_hash(w->trace_hash, what, strlen(what));
    w->trace_hash = tsc_sim_hash_u64(w->trace_hash, ((uint64_t)node << 32) ^ arg ^ w->now);
    if (w->trace)
        fprintf(w->trace, "%" PRIu64 ".%06" PRIu64 " %s node=%u arg=%" PRIu64 "\n",
                w->now / 1000000, w->now % 1000000, what, node, arg);
}

/* ---- the loop ---- */

static int deliver(struct tsc_sim_world *w, const struct tsc_sim_ev *ev)
{
    struct tsc_sim_msg *m = &w->msgs[ev->msg];
    struct tsc_sim_node *nd = &w->nodes[ev->node];
    /* A partition that started while the message was in flight cuts it too;
     * a sender that crashed meanwhile does not (the bytes are on the wire). */
    int lost = nd->state != TSC_SIM_NODE_UP || tsc_sim_net_cut(&w->net, ev->from, ev->node);
    trace_delivery(w, ev, m, lost);
    int rc = 0;
    if (!lost) {
        w->delivered_msgs++;
        w->delivered_bytes += m->len;
        /* One port, as in tscd: open once, route by envelope type. */
        struct tsc_envelope env;
        int type = -1;
        if ((w->coord || w->runs) &&
            tsc_wire_open(&w->wire, m->data, m->len, TSC_WIRE_MAX_FRAME, &w->scratch, &env) == 0)
            type = env.type;
        if (w->coord && type >= TSC_MSG_RAFT_VOTE && type < TSC_MSG_CONTROL_REQ) {
            rc = tsc__sim_coord_deliver(w, ev->node, ev->from, ev->kind == TSC_SIM_EV_STREAM,
                                        m->data, m->len);
            msg_unref(w, ev->msg);
            return rc;
        }
        if (w->runs && type >= TSC_MSG_STAGE_START && type <= TSC_MSG_STAGE_CANCEL) {
            rc = tsc__sim_runs_deliver(w, ev->node, ev->from, &env);
            msg_unref(w, ev->msg);
            return rc;
        }
        struct tsc_gossip_event ge = {
            .type = ev->kind == TSC_SIM_EV_STREAM ? TSC_GOSSIP_EV_STREAM : TSC_GOSSIP_EV_DATAGRAM,
            .now = w->now,
            .from = w->nodes[ev->from].addr,
            .data = m->data,
            .len = m->len,
        };
        rc = tsc_sim_node_step(w, ev->node, &ge);
    }
    msg_unref(w, ev->msg);
    return rc;
}

static int rejoin(struct tsc_sim_world *w, const struct tsc_sim_ev *ev)
{
    struct tsc_sim_node *nd = &w->nodes[ev->node];
    if (nd->state != TSC_SIM_NODE_UP || nd->lives != ev->msg)
        return 0; /* crashed again meanwhile: that life's retries are over */
    if (tsc_gossip_count(nd->g) > 1)
        return 0;
    tsc_sim_world_note(w, "rejoin", ev->node, 0);
    int rc = tsc_sim_node_join(w, ev->node, TSC_SIM_NONE, 3);
    if (rc == 0)
        rc =
            tsc_sim_world_schedule(w, w->now + TSC_SEC(5), TSC_SIM_EV_REJOIN, ev->node, 0, ev->msg);
    return rc;
}

static int dispatch(struct tsc_sim_world *w, const struct tsc_sim_ev *ev)
{
    struct tsc_sim_node *nd = &w->nodes[ev->node];
    switch (ev->kind) {
    case TSC_SIM_EV_TICK: {
        if (ev->time != nd->tick_at)
            return 0; /* superseded by an earlier deadline */
        nd->tick_at = TSC_TIME_NEVER;
        if (nd->state != TSC_SIM_NODE_UP)
            return 0;
        w->events++;
        w->trace_hash = tsc_sim_hash_u64(w->trace_hash, (ev->time << 17) ^ ev->node);
        return tsc__sim_node_tick(w, ev->node);
    }
    case TSC_SIM_EV_DATAGRAM:
    case TSC_SIM_EV_STREAM:
        w->events++;
        return deliver(w, ev);
    case TSC_SIM_EV_START: {
        w->events++;
        if (nd->state == TSC_SIM_NODE_UP)
            return 0;
        int rc = tsc_sim_node_start(w, ev->node);
        if (rc == 0 && ev->msg > 0)
            rc = tsc_sim_node_join(w, ev->node, ev->from, ev->msg);
        return rc;
    }
    case TSC_SIM_EV_JOIN:
        w->events++;
        if (nd->state != TSC_SIM_NODE_UP)
            return 0;
        return tsc_sim_node_join(w, ev->node, ev->from, ev->msg);
    case TSC_SIM_EV_REJOIN:
        w->events++;
        return rejoin(w, ev);
    case TSC_SIM_EV_ETICK: {
        struct tsc_sim_cnode *c = w->coord ? &w->coord->c[ev->node] : NULL;
        if (c == NULL || ev->time != c->tick_at)
            return 0;
        c->tick_at = TSC_TIME_NEVER;
        if (nd->state != TSC_SIM_NODE_UP)
            return 0;
        w->events++;
        w->trace_hash = tsc_sim_hash_u64(w->trace_hash, (ev->time << 17) ^ ev->node ^ (1ull << 63));
        return tsc__sim_coord_tick(w, ev->node);
    }
    case TSC_SIM_EV_CLIENT:
        w->events++;
        return w->coord ? tsc__sim_coord_client(w) : 0;
    case TSC_SIM_EV_RTICK: {
        struct tsc_sim_rnode *r = w->runs ? &w->runs->r[ev->node] : NULL;
        if (r == NULL || ev->time != r->tick_at)
            return 0;
        r->tick_at = TSC_TIME_NEVER;
        if (nd->state != TSC_SIM_NODE_UP)
            return 0;
        w->events++;
        w->trace_hash = tsc_sim_hash_u64(w->trace_hash, (ev->time << 17) ^ ev->node ^ (1ull << 62));
        return tsc__sim_runs_tick(w, ev->node);
    }
    case TSC_SIM_EV_SCRIPT:
        w->events++;
        if (w->runs == NULL || nd->state != TSC_SIM_NODE_UP)
            return 0;
        return tsc__sim_runs_script_end(w, ev->node, ev->msg);
    case TSC_SIM_EV_RCLIENT:
        w->events++;
        return w->runs ? tsc__sim_runs_client(w) : 0;
    case TSC_SIM_EV_LEAVE_END:
        w->events++;
        if (nd->state == TSC_SIM_NODE_UP && nd->leaving && nd->lives == ev->msg) {
            tsc_sim_node_crash(w, ev->node);
            nd->left = 1;
        }
        return 0;
    default:
        return 0;
    }
}

int tsc_sim_world_run(struct tsc_sim_world *w, uint64_t until, tsc_sim_pred_fn pred, void *arg,
                      uint64_t check_us, int *met)
{
    if (met)
        *met = 0;
    if (w->err)
        return w->err;
    if (check_us == 0)
        check_us = TSC_MSEC(10);
    uint64_t next_check = pred ? w->now : TSC_TIME_NEVER;
    for (;;) {
        const struct tsc_sim_ev *top = tsc_sim_heap_peek(&w->heap);
        uint64_t t = top ? top->time : TSC_TIME_NEVER;
        if (next_check <= t && next_check <= until) {
            if (next_check > w->now)
                w->now = next_check;
            if (pred(w, arg)) {
                if (met)
                    *met = 1;
                return 0;
            }
            next_check += check_us;
            continue;
        }
        if (t > until) {
            if (until != TSC_TIME_NEVER && until > w->now)
                w->now = until;
            return 0;
        }
        struct tsc_sim_ev ev;
        tsc_sim_heap_pop(&w->heap, &ev);
        w->now = ev.time;
        int rc = dispatch(w, &ev);
        if (rc || w->err) {
            if (!w->err) {
                w->err = rc;
                tsc_errmsg_setf(w->errmsg, "%s", tsc_strerror(rc));
            }
            return w->err;
        }
    }
}

void tsc_sim_violation(struct tsc_sim_world *w, int kind, const char *fmt, ...)
{
    w->violations++;
    if (kind >= 0 && kind < TSC_SIM_V_MAX)
        w->by_kind[kind]++;
    if (w->violations > 1)
        return;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(w->first_violation, sizeof(w->first_violation), "t=%.6fs %s: %s", (double)w->now / 1e6,
             tsc_sim_violation_name(kind), msg);
    if (w->trace)
        fprintf(w->trace, "VIOLATION %s\n", w->first_violation);
}
