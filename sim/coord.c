/* tsc — the simulator's election driver: the part agent/coord.c plays in
 * tscd, over the simulated network, an in-memory disk and per-node clocks
 * (see sim/coord.h for the rules it follows and why).
 *
 * Order of an election step, as the engine's contract asks: step, write
 * what the update says is durable to the node's disk, check the
 * invariants (sim/coord_check.c), then put the frames on the network, then
 * arm the next ETICK. A crash between two steps therefore loses nothing
 * the engine counted on. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "sim/coord.h"
#include "sim/runs.h"
#include "sim/stats.h"

#define META_INTERVAL_US      TSC_MSEC(100)
#define RECONCILE_INTERVAL_US TSC_MSEC(250)
#define LABEL_COORD           "coordinator"
#define LABEL_TERM            "term"

uint64_t tsc__sim_coord_lease(uint64_t election_timeout_min, double drift)
{
    /* Real time an old leader may still act: lease / r_min. Real time a
     * follower that answered it refuses to vote: T_min / r_max. A margin of
     * one µs absorbs the rounding of local clocks to whole µs. */
    double l = (double)election_timeout_min * (1.0 - drift) / (1.0 + drift);
    uint64_t lease = (uint64_t)floor(l);
    return lease > 1 ? lease - 1 : 1;
}

static double local_exact(const struct tsc_sim_cnode *c, uint64_t t)
{
    return c->offset + c->rate * (double)t;
}

uint64_t tsc__sim_coord_local(struct tsc_sim_world *w, uint32_t i, uint64_t t)
{
    struct tsc_sim_cnode *c = &w->coord->c[i];
    uint64_t l = (uint64_t)local_exact(c, t);
    if (l < c->last_local)
        l = c->last_local;
    c->last_local = l;
    return l;
}

void tsc_sim_coord_set_rate(struct tsc_sim_world *w, uint32_t i, double rate)
{
    struct tsc_sim_cnode *c = &w->coord->c[i];
    double now_local = local_exact(c, w->now);
    c->rate = rate;
    c->offset = now_local - rate * (double)w->now;
    tsc_sim_world_note(w, "clock_rate", i, (uint64_t)(rate * 1e9));
}

/* The earliest virtual time at which node c's local clock reads `local`. */
static uint64_t virtual_at(const struct tsc_sim_cnode *c, uint64_t local, uint64_t now)
{
    if (local == TSC_TIME_NEVER)
        return TSC_TIME_NEVER;
    double t = ceil(((double)local - c->offset) / c->rate);
    if (t <= (double)now)
        return now;
    if (t > 1e15)
        return TSC_TIME_NEVER;
    uint64_t v = (uint64_t)t;
    while (local_exact(c, v) < (double)local)
        v++;
    return v;
}

static int has_role(const struct tsc_meta *m, const char *role)
{
    for (unsigned k = 0; k < m->n_roles; k++)
        if (strcmp(m->roles[k], role) == 0)
            return 1;
    return 0;
}

static const char *label(const struct tsc_meta *m, const char *key)
{
    for (unsigned k = 0; k < m->n_labels; k++)
        if (strcmp(m->labels[k].key, key) == 0)
            return m->labels[k].val;
    return NULL;
}

/* The meta inside a member's record (not verified again: the engine did). */
static int member_meta(struct tsc_sim_world *w, const struct tsc_gossip_member *m,
                       struct tsc_meta *meta)
{
    struct tsc_record rec;
    memset(meta, 0, sizeof *meta);
    if (m->record == NULL ||
        tsc_record_decode(w->cfg.crypto, m->record, m->record_len, 0, &rec) != 0 ||
        tsc_meta_decode(rec.meta, rec.meta_len, meta) != 0)
        return -1;
    return 0;
}

int tsc_sim_coord_enable(struct tsc_sim_world *w, uint32_t voters, double drift, uint64_t lease_us,
                         uint64_t client_every_us, char *errmsg)
{
    if (voters == 0 || voters > TSC_RAFT_MAX_VOTERS || voters > w->n || drift < 0 || drift >= 0.1) {
        tsc_errmsg_setf(errmsg, "election: voters must be 1..%d (and <= nodes), drift in [0, 0.1)",
                        TSC_RAFT_MAX_VOTERS);
        return TSC_EINVAL;
    }
    struct tsc_sim_coord *co = tsc_calloc(1, sizeof *co);
    if (co == NULL || (co->c = tsc_calloc(w->n, sizeof *co->c)) == NULL) {
        tsc_free(co);
        tsc_errmsg_setf(errmsg, "election: out of memory");
        return TSC_ENOMEM;
    }
    co->voters = voters;
    co->drift = drift;
    co->client_every = client_every_us;
    co->watch_at = TSC_TIME_NEVER;
    tsc_election_config_default(&co->cfg);
    co->cfg.lease = lease_us ? lease_us : tsc__sim_coord_lease(co->cfg.election_timeout_min, drift);
    if (co->cfg.lease > co->cfg.election_timeout_min ||
        co->cfg.lease <= co->cfg.heartbeat_interval) {
        tsc_free(co->c);
        tsc_free(co);
        tsc_errmsg_setf(errmsg, "election: the lease must be in (heartbeat, election_timeout_min]");
        return TSC_EINVAL;
    }
    /* Clock rates come from their own stream so that they do not move when
     * the network model draws differently. */
    struct tsc_prng p;
    tsc_prng_seed(&p, tsc_sim_hash_u64(w->cfg.seed, 0x636c6f636b));
    for (uint32_t i = 0; i < w->n; i++) {
        struct tsc_sim_cnode *c = &co->c[i];
        c->rate = 1.0 + drift * (2.0 * tsc_prng_double(&p) - 1.0);
        c->offset = (double)tsc_prng_below(&p, TSC_SEC(1000));
        c->tick_at = c->deadline = TSC_TIME_NEVER;
        c->voter_role = i < voters;
    }
    w->coord = co;
    if (client_every_us)
        return tsc_sim_world_schedule(w, client_every_us, TSC_SIM_EV_CLIENT, 0, 0, 0);
    return 0;
}

static void coord_free(struct tsc_sim_coord *co)
{
    tsc_free(co->term_leader);
    for (size_t k = 0; k < co->n_acked; k++)
        tsc_free((void *)co->acked[k].data);
    tsc_free(co->acked);
    tsc_free(co->acked_term);
    tsc_free(co);
}

/* Free the engines and disks of every node (world teardown). */
static void free_nodes(struct tsc_sim_world *w)
{
    struct tsc_sim_coord *co = w->coord;
    for (uint32_t i = 0; i < w->n; i++) {
        struct tsc_sim_cnode *c = &co->c[i];
        if (c->e)
            tsc_election_free(c->e);
        for (size_t k = 0; k < c->disk.n; k++)
            tsc_free((void *)c->disk.log[k].data);
        tsc_free(c->disk.log);
    }
    tsc_free(co->c);
    co->c = NULL;
}

void tsc__sim_coord_world_free(struct tsc_sim_world *w)
{
    if (w->coord == NULL)
        return;
    free_nodes(w);
    coord_free(w->coord);
    w->coord = NULL;
}

static void check_watch(struct tsc_sim_world *w)
{
    struct tsc_sim_coord *co = w->coord;
    if (!co->watching || (co->watch_all && w->n_up < w->n))
        return;
    uint32_t l = tsc_sim_coord_agreed(w);
    if (l != TSC_SIM_NONE && l != co->watch_not) {
        co->watching = 0;
        co->watch_at = w->now;
    }
}

void tsc_sim_coord_watch(struct tsc_sim_world *w, uint32_t not_this, int all_up)
{
    struct tsc_sim_coord *co = w->coord;
    co->watching = 1;
    co->watch_all = all_up != 0;
    co->watch_not = not_this;
    co->watch_at = TSC_TIME_NEVER;
    check_watch(w);
}

int tsc_sim_coord_watch_done(struct tsc_sim_world *w, void *unused)
{
    (void)unused;
    return w->coord->watch_at != TSC_TIME_NEVER;
}

static int arm(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_cnode *c = &w->coord->c[i];
    uint64_t t = c->deadline;
    uint64_t vt, vl = tsc_sim_coord_view(w, i, &vt);
    if (vl != 0 && (vl != c->pub_leader || vt != c->pub_term)) {
        uint64_t m = c->next_meta > w->now ? c->next_meta : w->now + 1;
        if (m < t)
            t = m;
    }
    if (c->e && tsc_election_role(c->e) == TSC_ELECTION_LEADER && c->next_reconcile < t)
        t = c->next_reconcile > w->now ? c->next_reconcile : w->now + 1;
    if (t >= c->tick_at)
        return 0;
    c->tick_at = t;
    return tsc_sim_world_schedule(w, t, TSC_SIM_EV_ETICK, i, 0, 0);
}

/* The durable half of the contract: what the update says, before sending. */
static void persist(struct tsc_sim_world *w, uint32_t i, const struct tsc_election_update *up)
{
    struct tsc_sim_disk *d = &w->coord->c[i].disk;
    if (up->persist_state) {
        if (up->term < d->term)
            tsc_sim_violation(w, TSC_SIM_V_STORE,
                              "node %u: stored term falls %" PRIu64 " -> %" PRIu64, i, d->term,
                              up->term);
        if (up->term == d->term && d->voted_for != 0 && up->voted_for != d->voted_for)
            tsc_sim_violation(w, TSC_SIM_V_STORE, "node %u: second vote in term %" PRIu64, i,
                              d->term);
        d->term = up->term;
        d->voted_for = up->voted_for;
    }
    if (up->log_from != 0) {
        if (up->log_from > d->n + 1)
            tsc_sim_violation(w, TSC_SIM_V_STORE, "node %u: log write leaves a gap", i);
        if (up->log_from <= d->commit)
            tsc_sim_violation(w, TSC_SIM_V_ACKED,
                              "node %u: rewrites committed index %" PRIu64 " (commit %" PRIu64 ")",
                              i, up->log_from, d->commit);
        while (d->n >= up->log_from && d->n > 0)
            tsc_free((void *)d->log[--d->n].data);
        for (size_t k = 0; k < up->n_entries; k++) {
            if (d->n == d->cap) {
                size_t cap = d->cap ? d->cap * 2 : 64;
                struct tsc_election_entry *nl = tsc_realloc(d->log, cap * sizeof *nl);
                if (nl == NULL) {
                    w->err = TSC_ENOMEM;
                    tsc_errmsg_setf(w->errmsg, "election disk: out of memory");
                    return;
                }
                d->log = nl;
                d->cap = cap;
            }
            struct tsc_election_entry x = up->entries[k];
            if (x.index != d->n + 1)
                tsc_sim_violation(w, TSC_SIM_V_STORE, "node %u: entry %" PRIu64 " out of place", i,
                                  x.index);
            uint8_t *copy = NULL;
            if (x.len) {
                copy = tsc_malloc(x.len);
                if (copy == NULL) {
                    w->err = TSC_ENOMEM;
                    tsc_errmsg_setf(w->errmsg, "election disk: out of memory");
                    return;
                }
                memcpy(copy, x.data, x.len);
            }
            x.data = copy;
            d->log[d->n++] = x;
        }
    }
    if (up->commit_index > d->commit)
        d->commit = up->commit_index;
}

/* Step node i's engine with ev (now filled in from its local clock) and
 * carry out the update: persist, check, send, re-arm. Returns 0 or a fatal
 * error; TSC_ESTATE and TSC_ETOOBIG are answers, not failures. */
static int coord_step(struct tsc_sim_world *w, uint32_t i, struct tsc_election_event *ev,
                      int *result)
{
    struct tsc_sim_cnode *c = &w->coord->c[i];
    struct tsc_election_update up;
    if (c->e == NULL)
        return 0;
    memset(&up, 0, sizeof up);
    ev->now = tsc__sim_coord_local(w, i, w->now);
    w->steps++;
    int rc = tsc_election_step(c->e, ev, &up);
    if (result)
        *result = rc;
    if (rc != 0 && rc != TSC_ESTATE && rc != TSC_ETOOBIG) {
        tsc_sim_violation(w, TSC_SIM_V_ENGINE_ERROR, "node %u: election step (event %d): %s", i,
                          ev->type, tsc_strerror(rc));
        if (rc == TSC_ENOMEM) {
            w->err = rc;
            tsc_errmsg_setf(w->errmsg, "election node %u: out of memory", i);
            return rc;
        }
    }
    persist(w, i, &up);
    if (w->err)
        return w->err;
    if (up.leader_changed || up.log_from != 0)
        c->view_dirty = 1;
    tsc__sim_coord_after_step(w, i, &up);
    /* As agent/coord.c: committed records are applied before the frames go
     * out (runs.c queues what that proposes until this step is over). */
    if (w->runs && up.n_committed) {
        int r = tsc__sim_runs_committed(w, i, &up);
        if (r)
            return r;
    }
    for (size_t k = 0; k < up.n_out; k++) {
        const struct tsc_election_out *o = &up.out[k];
        int r = tsc__sim_send(w, i, &o->to, o->kind == TSC_ELECTION_OUT_STREAM, o->data, o->len);
        if (r)
            return r;
    }
    uint64_t d = virtual_at(c, up.next_deadline, w->now);
    c->deadline = d <= w->now ? w->now + 1 : d;
    check_watch(w);
    int rc2 = arm(w, i);
    /* The update is consumed: the runs driver may step the engine again. */
    if (rc2 == 0 && w->runs)
        rc2 = tsc__sim_runs_after_coord_step(w, i);
    return rc2;
}

int tsc__sim_coord_acting(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_cnode *c = w->coord ? &w->coord->c[i] : NULL;
    return c != NULL && c->e != NULL && !w->nodes[i].leaving &&
           tsc_election_acting(c->e, tsc__sim_coord_local(w, i, w->now));
}

int tsc__sim_coord_append(struct tsc_sim_world *w, uint32_t i, const uint8_t *data, size_t len,
                          int *result)
{
    struct tsc_election_event ev = {.type = TSC_ELECTION_EV_APPEND, .data = data, .len = len};
    *result = TSC_ESTATE;
    if (!tsc__sim_coord_acting(w, i))
        return 0;
    return coord_step(w, i, &ev, result);
}

uint64_t tsc_sim_coord_view(struct tsc_sim_world *w, uint32_t i, uint64_t *term)
{
    struct tsc_sim_cnode *c = &w->coord->c[i];
    if (c->e == NULL) {
        if (term)
            *term = 0;
        return 0;
    }
    if (c->view_dirty) {
        /* As tsc__coord_view: a voter trusts its engine only; any other node
         * goes by the labels of alive members, highest term, never itself. */
        uint64_t leader = tsc_election_leader(c->e), t = tsc_election_term(c->e);
        uint64_t best = leader ? t : 0, self = w->nodes[i].id;
        struct tsc_gossip_member m;
        struct tsc_meta meta;
        int voter = tsc_election_is_voter(c->e, self);
        for (size_t k = 0;
             !voter && w->nodes[i].g && tsc_gossip_member_at(w->nodes[i].g, k, &m) == 0; k++) {
            if (m.is_self || m.status != TSC_STATUS_ALIVE || member_meta(w, &m, &meta) != 0)
                continue;
            const char *lc = label(&meta, LABEL_COORD), *lt = label(&meta, LABEL_TERM);
            if (lc == NULL || lt == NULL)
                continue;
            uint64_t id = strtoull(lc, NULL, 16), mt = strtoull(lt, NULL, 10);
            if (id != 0 && id != self && mt > best) {
                best = mt;
                leader = id;
            }
        }
        c->view_leader = leader;
        c->view_term = leader ? best : t;
        c->view_dirty = 0;
    }
    if (term)
        *term = c->view_term;
    return c->view_leader;
}

void tsc__sim_coord_meta(struct tsc_sim_world *w, uint32_t i, struct tsc_meta *m)
{
    if (w->coord == NULL)
        return;
    struct tsc_sim_cnode *c = &w->coord->c[i];
    if (c->voter_role && m->n_roles < TSC_META_MAX_ROLES)
        snprintf(m->roles[m->n_roles++], TSC_META_STR, "voter");
    if (c->pub_leader != 0 && m->n_labels + 2 <= TSC_META_MAX_LABELS) {
        snprintf(m->labels[m->n_labels].key, TSC_META_STR, LABEL_COORD);
        snprintf(m->labels[m->n_labels++].val, TSC_META_STR, "%016" PRIx64, c->pub_leader);
        snprintf(m->labels[m->n_labels].key, TSC_META_STR, LABEL_TERM);
        snprintf(m->labels[m->n_labels++].val, TSC_META_STR, "%" PRIu64, c->pub_term);
    }
}

/* Leader only: one voter-set change per call, as agent/coord.c reconcile(). */
static int reconcile(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_cnode *c = &w->coord->c[i];
    struct tsc_gossip *g = w->nodes[i].g;
    struct tsc_election_event ev;
    struct tsc_gossip_member m;
    struct tsc_meta meta;
    const uint64_t *voters;
    if (c->e == NULL || g == NULL || w->nodes[i].leaving ||
        tsc_election_role(c->e) != TSC_ELECTION_LEADER)
        return 0;
    size_t nv = tsc_election_voters(c->e, &voters);
    memset(&ev, 0, sizeof ev);
    for (size_t k = 0; k < nv; k++) {
        if (voters[k] == w->nodes[i].id || tsc_gossip_member_find(g, voters[k], &m) != 0 ||
            m.status != TSC_STATUS_LEFT)
            continue;
        ev.type = TSC_ELECTION_EV_REMOVE_VOTER;
        ev.id = voters[k];
        break;
    }
    for (size_t k = 0; ev.type == 0 && nv < TSC_RAFT_MAX_VOTERS; k++) {
        if (tsc_gossip_member_at(g, k, &m) != 0)
            break;
        if (m.is_self || m.status != TSC_STATUS_ALIVE || tsc_election_is_voter(c->e, m.id))
            continue;
        if (member_meta(w, &m, &meta) == 0 && has_role(&meta, "voter")) {
            ev.type = TSC_ELECTION_EV_ADD_VOTER;
            ev.id = m.id;
        }
    }
    if (ev.type == 0)
        return 0;
    return coord_step(w, i, &ev, NULL);
}

static int peers(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_gossip *g = w->nodes[i].g;
    size_t n = tsc_gossip_count(g), k = 0;
    struct tsc_election_peer *p = tsc_calloc(n ? n : 1, sizeof *p);
    if (p == NULL) {
        w->err = TSC_ENOMEM;
        tsc_errmsg_setf(w->errmsg, "election peers: out of memory");
        return TSC_ENOMEM;
    }
    for (size_t q = 0; q < n; q++) {
        struct tsc_gossip_member m;
        if (tsc_gossip_member_at(g, q, &m) != 0 || m.is_self)
            continue;
        p[k].id = m.id;
        p[k++].addr = m.addr;
    }
    struct tsc_election_event ev = {.type = TSC_ELECTION_EV_PEERS, .peers = p, .n_peers = k};
    int rc = coord_step(w, i, &ev, NULL);
    tsc_free(p);
    return rc;
}

int tsc__sim_coord_membership(struct tsc_sim_world *w, uint32_t i)
{
    if (w->coord == NULL || w->coord->c[i].e == NULL)
        return 0;
    w->coord->c[i].view_dirty = 1;
    int rc = peers(w, i);
    if (rc == 0)
        rc = reconcile(w, i);
    if (rc == 0)
        rc = arm(w, i); /* publish a changed view from the tick */
    check_watch(w);
    return rc;
}

int tsc__sim_coord_start(struct tsc_sim_world *w, uint32_t i)
{
    if (w->coord == NULL)
        return 0;
    struct tsc_sim_coord *co = w->coord;
    struct tsc_sim_cnode *c = &co->c[i];
    struct tsc_sim_node *nd = &w->nodes[i];
    struct tsc_election_config cfg = co->cfg;
    struct tsc_election_restore r = {
        .term = c->disk.term,
        .voted_for = c->disk.voted_for,
        .entries = c->disk.log,
        .n_entries = c->disk.n,
        /* tscd gives no hint: the commits are reported again once the
         * leader's commit index arrives, and its runs driver rebuilds the
         * barrier engine from them. With runs on, the simulator does too. */
        .commit = w->runs ? 0 : c->disk.commit,
    };
    char em[TSC_ERRMSG_SIZE] = "";
    /* Distinct from the SWIM engine's seed: the nonces' random parts differ. */
    cfg.seed =
        tsc_sim_hash_u64(tsc_sim_hash_u64(tsc_sim_hash_u64(w->cfg.seed, 0x656c6563), i), nd->lives);
    uint64_t now = tsc__sim_coord_local(w, i, w->now);
    int rc = tsc_election_new(&c->e, &cfg, &w->wire, nd->id, now + 1, &r, now, em);
    if (rc) {
        c->e = NULL;
        w->err = rc;
        tsc_errmsg_setf(w->errmsg, "election node %u: %s", i, em);
        return rc;
    }
    c->view_dirty = 1;
    c->pub_leader = c->pub_term = 0;
    c->next_meta = c->next_reconcile = w->now;
    c->tick_at = TSC_TIME_NEVER;
    c->deadline = w->now;
    c->bad_seen = 0;
    rc = peers(w, i);
    /* The bootstrap rule of agent/coord.c: role voter, started without a
     * join (in the simulator: node 0's first life), empty log. */
    if (rc == 0 && c->voter_role && i == 0 && nd->lives == 1 &&
        tsc_election_last_index(c->e) == 0) {
        struct tsc_election_event ev = {
            .type = TSC_ELECTION_EV_BOOTSTRAP, .ids = &nd->id, .n_ids = 1};
        rc = coord_step(w, i, &ev, NULL);
    }
    if (rc == 0) {
        struct tsc_election_event ev = {.type = TSC_ELECTION_EV_TICK};
        rc = coord_step(w, i, &ev, NULL);
    }
    tsc_sim_coord_reach_update(w);
    return rc;
}

void tsc__sim_coord_crash(struct tsc_sim_world *w, uint32_t i)
{
    if (w->coord == NULL)
        return;
    struct tsc_sim_cnode *c = &w->coord->c[i];
    if (c->e)
        tsc_election_free(c->e);
    c->e = NULL;
    c->tick_at = c->deadline = TSC_TIME_NEVER;
    c->view_leader = c->view_term = 0;
    c->view_dirty = 0;
    tsc_sim_coord_reach_update(w);
}

int tsc__sim_coord_leave(struct tsc_sim_world *w, uint32_t i)
{
    if (w->coord == NULL)
        return 0;
    struct tsc_election_event ev = {.type = TSC_ELECTION_EV_LEAVE};
    return coord_step(w, i, &ev, NULL);
}

int tsc__sim_coord_deliver(struct tsc_sim_world *w, uint32_t i, uint32_t from, int stream,
                           const uint8_t *data, size_t len)
{
    struct tsc_election_event ev = {
        .type = stream ? TSC_ELECTION_EV_STREAM : TSC_ELECTION_EV_DATAGRAM,
        .from = w->nodes[from].addr,
        .data = data,
        .len = len,
    };
    return coord_step(w, i, &ev, NULL);
}

int tsc__sim_coord_tick(struct tsc_sim_world *w, uint32_t i)
{
    struct tsc_sim_cnode *c = &w->coord->c[i];
    int rc = 0;
    if (c->e == NULL)
        return 0;
    if (w->now >= c->deadline) {
        struct tsc_election_event ev = {.type = TSC_ELECTION_EV_TICK};
        rc = coord_step(w, i, &ev, NULL);
    }
    /* Meta is published from here only, as in the agent. */
    uint64_t vt, vl = tsc_sim_coord_view(w, i, &vt);
    if (rc == 0 && vl != 0 && (vl != c->pub_leader || vt != c->pub_term) &&
        w->now >= c->next_meta && !w->nodes[i].leaving) {
        c->pub_leader = vl;
        c->pub_term = vt;
        c->next_meta = w->now + META_INTERVAL_US;
        rc = tsc_sim_node_set_meta(w, i);
    }
    if (rc == 0 && w->now >= c->next_reconcile) {
        c->next_reconcile = w->now + RECONCILE_INTERVAL_US;
        rc = reconcile(w, i);
    }
    return rc ? rc : arm(w, i);
}

/* The client: a record through whichever node is an acting leader. */
int tsc__sim_coord_client(struct tsc_sim_world *w)
{
    struct tsc_sim_coord *co = w->coord;
    for (uint32_t i = 0; i < co->voters && i < w->n; i++) {
        struct tsc_sim_cnode *c = &co->c[i];
        if (c->e == NULL || !tsc_election_acting(c->e, tsc__sim_coord_local(w, i, w->now)))
            continue;
        char rec[48];
        int len = snprintf(rec, sizeof rec, "run %" PRIu64 " @%" PRIu64, ++co->client_seq, w->now);
        struct tsc_election_event ev = {
            .type = TSC_ELECTION_EV_APPEND, .data = (const uint8_t *)rec, .len = (size_t)len};
        int result = 0;
        co->appends++;
        int rc = coord_step(w, i, &ev, &result);
        if (rc)
            return rc;
        co->appends_ok += result == 0;
        break;
    }
    return tsc_sim_world_schedule(w, w->now + co->client_every, TSC_SIM_EV_CLIENT, 0, 0, 0);
}
