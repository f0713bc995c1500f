/* tsc — the election engine's entry points: creation from persisted state,
 * the step function that opens frames and dispatches events, sealing of
 * everything it sends, the update, and read-only views. */
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "gossip/election_internal.h"

void tsc_election_config_default(struct tsc_election_config *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->heartbeat_interval = TSC_MSEC(50);
    c->election_timeout_min = TSC_MSEC(150);
    c->election_timeout_max = TSC_MSEC(300);
    c->lease = 0;
    c->max_datagram = TSC_WIRE_MAX_DATAGRAM;
    c->max_record = 64u << 10;
}

static int check_config(struct tsc_election_config *c, char *errmsg)
{
    if (c->lease == 0)
        c->lease = c->election_timeout_min;
    if (c->heartbeat_interval == 0 || c->election_timeout_min <= c->heartbeat_interval ||
        c->election_timeout_max <= c->election_timeout_min) {
        tsc_errmsg_setf(errmsg, "need 0 < heartbeat < election timeout min < max");
        return TSC_EINVAL;
    }
    if (c->lease > c->election_timeout_min || c->lease <= c->heartbeat_interval) {
        tsc_errmsg_setf(errmsg, "the lease must be > the heartbeat and <= the minimum "
                                "election timeout");
        return TSC_EINVAL;
    }
    if (c->max_datagram < 512 || c->max_datagram > 65000) {
        tsc_errmsg_setf(errmsg, "max datagram must be 512..65000 bytes");
        return TSC_EINVAL;
    }
    if (c->max_record == 0 || c->max_record > TSC__ESTREAM_BUDGET - 64) {
        tsc_errmsg_setf(errmsg, "max record must be 1..%u bytes", TSC__ESTREAM_BUDGET - 64);
        return TSC_EINVAL;
    }
    return 0;
}

/* The restored log must be what a correct engine could have produced:
 * contiguous from 1, terms never falling and never above the stored term,
 * known types, decodable CONFIG entries. */
static int check_restore(const struct tsc_election_restore *r, char *errmsg)
{
    uint64_t prev = 0, ids[TSC_RAFT_MAX_VOTERS];
    size_t n;
    for (size_t i = 0; i < r->n_entries; i++) {
        const struct tsc_election_entry *x = &r->entries[i];
        if (x->index != i + 1 || x->term < prev || x->term == 0 || x->term > r->term ||
            x->type < TSC_RAFT_ENTRY_DATA || x->type > TSC_RAFT_ENTRY_CONFIG ||
            (x->len > 0 && x->data == NULL)) {
            tsc_errmsg_setf(errmsg, "restored log: bad entry at position %zu", i);
            return TSC_EINVAL;
        }
        if (x->type == TSC_RAFT_ENTRY_CONFIG && tsc_raft_config_decode(x->data, x->len, ids, &n)) {
            tsc_errmsg_setf(errmsg, "restored log: bad voter set at index %zu", i + 1);
            return TSC_EINVAL;
        }
        prev = x->term;
    }
    return 0;
}

int tsc_election_new(struct tsc_election **out, const struct tsc_election_config *cfg,
                     const struct tsc_wire *wire, uint64_t self_id, uint64_t seq_start,
                     const struct tsc_election_restore *restore, uint64_t now, char *errmsg)
{
    struct tsc_election_config c = *cfg;
    int rc = check_config(&c, errmsg);
    if (rc != 0)
        return rc;
    if (self_id == 0) {
        tsc_errmsg_setf(errmsg, "node id 0 is reserved");
        return TSC_EINVAL;
    }
    if (restore != NULL && (rc = check_restore(restore, errmsg)) != 0)
        return rc;
    struct tsc_election *e = tsc_calloc(1, sizeof *e);
    if (e == NULL)
        goto oom;
    e->cfg = c;
    e->wire = wire;
    tsc_prng_seed(&e->prng, c.seed);
    e->self_id = self_id;
    e->seq = seq_start;
    tsc_buf_init(&e->body);
    tsc_buf_init(&e->scratch);
    tsc_buf_init(&e->out_data);
    tsc_buf_init(&e->tmp);
    if (restore != NULL) {
        e->term = restore->term;
        e->voted_for = restore->voted_for;
        for (size_t i = 0; i < restore->n_entries; i++) {
            const struct tsc_election_entry *x = &restore->entries[i];
            if (tsc__election_log_append(e, x->term, x->type, x->data, x->len) != 0)
                goto oom;
        }
        /* The hint is safe: an index once committed stays committed. */
        e->commit = restore->commit < e->n_log ? restore->commit : e->n_log;
    }
    tsc__election_load_config(e);
    e->now = now;
    e->log_from = 0;
    tsc__election_become_follower(e, 0);
    /* Before a restart this node may have answered a leader a moment ago:
     * stay sticky for a minimum election timeout, as if it just had. */
    e->last_heard = now;
    *out = e;
    return 0;
oom:
    tsc_errmsg_setf(errmsg, "create election engine: %s", tsc_strerror(TSC_ENOMEM));
    tsc_election_free(e);
    return TSC_ENOMEM;
}

void tsc_election_free(struct tsc_election *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n_log; i++)
        tsc_free((void *)e->log[i].data);
    tsc_free(e->log);
    tsc_free(e->peers);
    tsc_buf_free(&e->body);
    tsc_buf_free(&e->scratch);
    tsc_buf_free(&e->out_data);
    tsc_buf_free(&e->tmp);
    tsc_free(e->out_recs);
    tsc_free(e->outs);
    tsc_free(e);
}

uint64_t tsc__election_random_timeout(struct tsc_election *e)
{
    uint64_t span = e->cfg.election_timeout_max - e->cfg.election_timeout_min;
    return e->cfg.election_timeout_min + tsc_prng_below(&e->prng, span);
}

struct tsc__epeer *tsc__election_peer(struct tsc_election *e, uint64_t id)
{
    for (size_t i = 0; i < e->n_peers; i++)
        if (e->peers[i].id == id)
            return &e->peers[i];
    return NULL;
}

struct tsc__epeer *tsc__election_peer_add(struct tsc_election *e, uint64_t id)
{
    struct tsc__epeer *p = tsc__election_peer(e, id);
    if (p != NULL)
        return p;
    if (e->n_peers == TSC__EMAX_PEERS)
        return NULL;
    if (e->n_peers == e->cap_peers) {
        size_t cap = e->cap_peers ? e->cap_peers * 2 : 8;
        p = tsc_realloc(e->peers, cap * sizeof *p);
        if (p == NULL) {
            e->oom = 1;
            return NULL;
        }
        e->peers = p;
        e->cap_peers = cap;
    }
    p = &e->peers[e->n_peers++];
    memset(p, 0, sizeof *p);
    p->id = id;
    p->next_index = tsc__election_last_index(e) + 1;
    return p;
}

/* Seal a body into an output frame. The nonce is sender id || seq || 8
 * bytes of the engine's PRNG, as in gossip: unique because (sender, seq)
 * never repeats. */
int tsc__election_send(struct tsc_election *e, int kind, uint64_t to, uint8_t type,
                       const uint8_t *body, size_t len)
{
    struct tsc__epeer *p = tsc__election_peer(e, to);
    if (p == NULL || !p->has_addr)
        return 0;
    struct tsc_envelope env = {
        .version = TSC_WIRE_VERSION,
        .sender = e->self_id,
        .seq = ++e->seq,
        .type = type,
        .body = body,
        .body_len = len,
    };
    uint8_t nonce[TSC_NONCE_BYTES];
    uint64_t r = tsc_prng_next(&e->prng);
    for (int i = 0; i < 8; i++) {
        nonce[i] = (uint8_t)(e->self_id >> (56 - 8 * i));
        nonce[8 + i] = (uint8_t)(env.seq >> (56 - 8 * i));
        nonce[16 + i] = (uint8_t)(r >> (56 - 8 * i));
    }
    if (e->n_out == e->cap_out) {
        size_t cap = e->cap_out ? e->cap_out * 2 : 16;
        struct tsc__eout *o = tsc_realloc(e->out_recs, cap * sizeof *o);
        if (o == NULL)
            return TSC_ENOMEM;
        e->out_recs = o;
        e->cap_out = cap;
    }
    size_t off = e->out_data.len;
    size_t max = kind == TSC_ELECTION_OUT_DATAGRAM ? e->cfg.max_datagram : TSC_WIRE_MAX_FRAME;
    int rc = tsc_wire_seal(e->wire, &env, nonce, max, &e->out_data);
    if (rc != 0)
        return rc == TSC_ETOOBIG ? 0 : rc; /* the batch logic keeps under max */
    struct tsc__eout *o = &e->out_recs[e->n_out++];
    o->kind = kind;
    o->to_id = to;
    o->to = p->addr;
    o->off = off;
    o->len = e->out_data.len - off;
    e->stats.tx++;
    e->stats.tx_bytes += o->len;
    return 0;
}

static void count_reject(struct tsc_election *e, int rc)
{
    e->stats.rejected++;
    switch (rc) {
    case TSC_EAUTH:
        e->stats.rejected_auth++;
        break;
    case TSC_EREPLAY:
        e->stats.rejected_replay++;
        break;
    case TSC_ECLUSTER:
        e->stats.rejected_cluster++;
        break;
    default:
        e->stats.rejected_malformed++;
        break;
    }
}

/* Open, replay-check and dispatch one frame. Every failure is counted and
 * the frame dropped; only running out of memory is an error. A peer we
 * have never heard of gets an entry (for its replay window), and its source
 * address serves for replies until membership tells us better. */
static int on_frame(struct tsc_election *e, const struct tsc_election_event *ev, size_t max)
{
    struct tsc_envelope env;
    e->stats.rx++;
    e->stats.rx_bytes += ev->len;
    int rc = tsc_wire_open(e->wire, ev->data, ev->len, max, &e->scratch, &env);
    if (rc == TSC_ENOMEM)
        return rc;
    if (rc != 0) {
        count_reject(e, rc);
        return 0;
    }
    if (env.sender == e->self_id || env.sender == 0) {
        count_reject(e, TSC_EREPLAY);
        return 0;
    }
    struct tsc__epeer *p = tsc__election_peer_add(e, env.sender);
    if (p == NULL) {
        count_reject(e, TSC_EMALFORMED);
        return e->oom ? TSC_ENOMEM : 0;
    }
    if (tsc_replay_check(&p->replay, env.seq) != 0) {
        count_reject(e, TSC_EREPLAY);
        return 0;
    }
    if (!p->has_addr && ev->type == TSC_ELECTION_EV_DATAGRAM) {
        p->addr = ev->from;
        p->has_addr = 1;
    }
    switch (env.type) {
    case TSC_MSG_RAFT_VOTE: {
        struct tsc_raft_vote m;
        if (tsc_raft_vote_decode(env.body, env.body_len, &m) != 0)
            break;
        return tsc__election_on_vote(e, env.sender, &m);
    }
    case TSC_MSG_RAFT_VOTE_RESP: {
        struct tsc_raft_vote_resp m;
        if (tsc_raft_vote_resp_decode(env.body, env.body_len, &m) != 0)
            break;
        return tsc__election_on_vote_resp(e, env.sender, &m);
    }
    case TSC_MSG_RAFT_APPEND: {
        struct tsc_raft_append m;
        if (tsc_raft_append_decode(env.body, env.body_len, &m) != 0)
            break;
        return tsc__election_on_append(e, env.sender, &m);
    }
    case TSC_MSG_RAFT_APPEND_RESP: {
        struct tsc_raft_append_resp m;
        if (tsc_raft_append_resp_decode(env.body, env.body_len, &m) != 0)
            break;
        return tsc__election_on_append_resp(e, env.sender, &m);
    }
    case TSC_MSG_RAFT_TIMEOUT_NOW: {
        uint64_t term;
        if (tsc_raft_timeout_now_decode(env.body, env.body_len, &term) != 0)
            break;
        return tsc__election_on_timeout_now(e, env.sender, term);
    }
    default:
        break;
    }
    count_reject(e, TSC_EMALFORMED);
    return 0;
}

/* The address book from membership replaces the previous one; peers that
 * drop out of it keep their replay windows but get no more frames. */
static int on_peers(struct tsc_election *e, const struct tsc_election_event *ev)
{
    if (ev->n_peers > 0 && ev->peers == NULL)
        return TSC_EINVAL;
    for (size_t i = 0; i < e->n_peers; i++)
        e->peers[i].has_addr = 0;
    for (size_t i = 0; i < ev->n_peers; i++) {
        if (ev->peers[i].id == 0 || ev->peers[i].id == e->self_id)
            continue;
        struct tsc__epeer *p = tsc__election_peer_add(e, ev->peers[i].id);
        if (p == NULL)
            return e->oom ? TSC_ENOMEM : TSC_EFULL;
        p->addr = ev->peers[i].addr;
        p->has_addr = 1;
    }
    return 0;
}

/* Timers: the leader's lease, heartbeat and transfer; everyone else's
 * election timeout. A voter set of exactly this node needs nobody's vote and
 * elects itself without waiting. */
static int timers(struct tsc_election *e)
{
    if (e->role == TSC_ELECTION_LEADER)
        return tsc__election_leader_tick(e);
    if (e->leaving || !tsc__election_is_voter(e, e->self_id))
        return 0;
    if (e->n_voters == 1)
        return tsc__election_start_election(e, 0);
    if (e->now < e->election_deadline)
        return 0;
    return tsc__election_start_prevote(e);
}

static uint64_t next_deadline(const struct tsc_election *e)
{
    if (e->role == TSC_ELECTION_LEADER) {
        uint64_t d = e->next_heartbeat;
        uint64_t lease = tsc__election_lease_deadline(e);
        uint64_t down = tsc__election_stepdown_deadline(e);
        if (lease > e->now && lease < d)
            d = lease; /* acting ends: the driver hears of it in time */
        if (down < d)
            d = down;
        if (e->transfer_target != 0 && e->transfer_deadline < d)
            d = e->transfer_deadline;
        return d;
    }
    if (e->leaving || !tsc__election_is_voter(e, e->self_id))
        return TSC_TIME_NEVER;
    return e->election_deadline;
}

static void finish_update(struct tsc_election *e, struct tsc_election_update *up, uint64_t old_term,
                          uint64_t old_leader)
{
    if (e->cap_outs < e->n_out) {
        struct tsc_election_out *p = tsc_realloc(e->outs, e->n_out * sizeof *p);
        if (p == NULL) {
            e->n_out = 0; /* lost, as datagrams can be */
            e->oom = 1;
        } else {
            e->outs = p;
            e->cap_outs = e->n_out;
        }
    }
    for (size_t i = 0; i < e->n_out; i++) {
        e->outs[i].kind = e->out_recs[i].kind;
        e->outs[i].to_id = e->out_recs[i].to_id;
        e->outs[i].to = e->out_recs[i].to;
        e->outs[i].data = e->out_data.data + e->out_recs[i].off;
        e->outs[i].len = e->out_recs[i].len;
    }
    up->out = e->outs;
    up->n_out = e->n_out;
    up->persist_state = e->persist_state;
    up->term = e->term;
    up->voted_for = e->voted_for;
    if (e->log_from != 0) {
        up->log_from = e->log_from;
        up->n_entries = e->n_log - (size_t)(e->log_from - 1);
        up->entries = up->n_entries ? e->log + (e->log_from - 1) : NULL;
    }
    if (e->commit > e->commit_before) {
        up->committed = e->log + e->commit_before;
        up->n_committed = (size_t)(e->commit - e->commit_before);
    }
    up->commit_index = e->commit;
    up->appended_index = e->appended;
    up->leader_id = e->leader_id;
    up->role = e->role;
    up->leader_changed = e->term != old_term || e->leader_id != old_leader;
    up->next_deadline = next_deadline(e);
    up->leave_done = e->leaving && (e->role != TSC_ELECTION_LEADER || e->transfer_sent);
}

int tsc_election_step(struct tsc_election *e, const struct tsc_election_event *ev,
                      struct tsc_election_update *up)
{
    int rc = 0;
    uint64_t old_term = e->term, old_leader = e->leader_id;
    memset(up, 0, sizeof *up);
    e->n_out = 0;
    e->oom = 0;
    e->persist_state = 0;
    e->log_from = 0;
    e->appended = 0;
    e->commit_before = e->commit;
    tsc_buf_reset(&e->out_data);
    if (ev->now > e->now)
        e->now = ev->now; /* time never runs backwards inside the engine */
    switch (ev->type) {
    case TSC_ELECTION_EV_TICK:
        break;
    case TSC_ELECTION_EV_DATAGRAM:
    case TSC_ELECTION_EV_STREAM:
        if (ev->data == NULL && ev->len > 0) {
            rc = TSC_EINVAL;
            break;
        }
        rc = on_frame(
            e, ev, ev->type == TSC_ELECTION_EV_DATAGRAM ? e->cfg.max_datagram : TSC_WIRE_MAX_FRAME);
        break;
    case TSC_ELECTION_EV_PEERS:
        rc = on_peers(e, ev);
        break;
    case TSC_ELECTION_EV_BOOTSTRAP:
        rc = tsc__election_cmd_bootstrap(e, ev->ids, ev->n_ids);
        break;
    case TSC_ELECTION_EV_APPEND:
        if (ev->data == NULL && ev->len > 0) {
            rc = TSC_EINVAL;
            break;
        }
        rc = tsc__election_cmd_append(e, ev->data, ev->len);
        break;
    case TSC_ELECTION_EV_ADD_VOTER:
    case TSC_ELECTION_EV_REMOVE_VOTER:
        rc = tsc__election_cmd_config(e, ev->id, ev->type == TSC_ELECTION_EV_ADD_VOTER);
        break;
    case TSC_ELECTION_EV_LEAVE:
        rc = tsc__election_leave(e);
        break;
    default:
        rc = TSC_EINVAL;
        break;
    }
    int trc = timers(e);
    if (rc == 0)
        rc = trc;
    finish_update(e, up, old_term, old_leader);
    if (rc == 0 && e->oom)
        rc = TSC_ENOMEM;
    return rc;
}

const struct tsc_election_stats *tsc_election_stats(const struct tsc_election *e)
{
    return &e->stats;
}

uint64_t tsc_election_self_id(const struct tsc_election *e)
{
    return e->self_id;
}

uint64_t tsc_election_term(const struct tsc_election *e)
{
    return e->term;
}

uint64_t tsc_election_leader(const struct tsc_election *e)
{
    return e->leader_id;
}

int tsc_election_role(const struct tsc_election *e)
{
    return e->role;
}

int tsc_election_acting(const struct tsc_election *e, uint64_t now)
{
    if (e->role != TSC_ELECTION_LEADER || e->transfer_sent)
        return 0;
    /* Only answers count here, not the grace a new leader gets. */
    return now < tsc__election_quorum_contact(e, now) + e->cfg.lease;
}

uint64_t tsc_election_commit_index(const struct tsc_election *e)
{
    return e->commit;
}

uint64_t tsc_election_last_index(const struct tsc_election *e)
{
    return tsc__election_last_index(e);
}

int tsc_election_entry_at(const struct tsc_election *e, uint64_t index,
                          struct tsc_election_entry *out)
{
    if (index == 0 || index > e->n_log)
        return TSC_ENOTFOUND;
    *out = e->log[index - 1];
    return 0;
}

size_t tsc_election_voters(const struct tsc_election *e, const uint64_t **ids)
{
    *ids = e->voters;
    return e->n_voters;
}

int tsc_election_is_voter(const struct tsc_election *e, uint64_t id)
{
    return tsc__election_is_voter(e, id);
}

int tsc_election_match_index(const struct tsc_election *e, uint64_t id, uint64_t *match)
{
    if (e->role != TSC_ELECTION_LEADER)
        return TSC_ENOTFOUND;
    if (id == e->self_id) {
        *match = tsc__election_last_index(e);
        return 0;
    }
    for (size_t i = 0; i < e->n_peers; i++) {
        if (e->peers[i].id == id) {
            *match = e->peers[i].match_index;
            return 0;
        }
    }
    return TSC_ENOTFOUND;
}
