/* tsc — the coordinator election driver: glue between the pure election
 * engine (gossip/election.h), the agent's sockets, its store and membership.
 *
 * Transport. The election shares the gossip port. The driver cannot see a
 * frame's type before opening it, so net_uv.c (UDP) and control.c (TCP)
 * open each incoming frame once into a scratch buffer: RAFT types (16..31)
 * come here as the original sealed bytes, everything else (and every frame
 * that does not open, so that it is counted once) goes to the SWIM engine.
 * Each engine opens the frame again and checks its own replay window; the
 * two engines get distinct PRNG seeds.
 *
 * Durability (the driver contract of election.h). Before the frames of an
 * update leave, and before the engine runs again, term/vote and log changes
 * are written in one synchronous RocksDB batch (coord_store.c). If that
 * write fails the agent stops at once rather than send anything that Raft
 * would need to be durable: for the cluster this is a crash, which it
 * tolerates; an agent that voted without remembering it is not.
 *
 * Voter set. Voters are the members with role `voter`.
 *  - Bootstrap rule: an agent with role voter, no --join, an empty election
 *    log and no stored members bootstraps a one-voter configuration with
 *    itself (so a one-agent cluster, and the local demo, elects itself at
 *    once). Every other voter waits to be added.
 *  - The coordinator adds alive members with role voter that are not voters
 *    yet, one at a time (ADD_VOTER: thesis §4.1 single-server changes, the
 *    engine refuses a second change while one is uncommitted), and removes
 *    voters whose membership status is `left` (REMOVE_VOTER). Dead voters
 *    are NOT removed: they count against the majority, as in Raft; an
 *    operator who retires a machine for good makes it leave.
 *  - The engine gets every member's address (EV_PEERS) whenever membership
 *    changes; dead ones included, so a restarted voter is reached at once.
 *
 * Coordinator in membership. When the leader or term this engine knows
 * changes, the agent puts labels coordinator=<id hex> and term=<n> into its
 * own record (TSC_GOSSIP_EV_SET_META, at most every META_INTERVAL_US), so
 * `tscctl members` on any agent shows it; non-voters, whose engines hear
 * nothing from the leader, learn the coordinator from those labels (the
 * highest term announced by an alive member wins).
 *
 * Fencing. Every coordinator command will carry the coordinator's term;
 * agents ignore commands of a lower term than they know (tsc__coord_fence),
 * exactly as the engine ignores lower-term election messages (Raft §5.1).
 * A coordinator acts only inside its lease (tsc_election_acting), so the
 * minority side of a partition stops acting before the majority elects. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "common/alloc.h"

#define META_INTERVAL_US      TSC_MSEC(100)
#define RECONCILE_INTERVAL_US TSC_MSEC(250)
#define LABEL_COORD           "coordinator"
#define LABEL_TERM            "term"

static void on_coord_timer(uv_timer_t *t);

static int has_role(const struct tsc_meta *m, const char *role)
{
    for (unsigned i = 0; i < m->n_roles; i++)
        if (strcmp(m->roles[i], role) == 0)
            return 1;
    return 0;
}

/* The meta inside a member's record (not verified: the engine did that when
 * the record was accepted). 0 or -1. */
static int member_meta(const struct tsc_gossip_member *m, struct tsc_meta *meta)
{
    struct tsc_record rec;
    memset(meta, 0, sizeof *meta);
    if (m->record == NULL ||
        tsc_record_decode(&tsc_crypto_sodium, m->record, m->record_len, 0, &rec) != 0 ||
        tsc_meta_decode(rec.meta, rec.meta_len, meta) != 0)
        return -1;
    return 0;
}

static const char *label(const struct tsc_meta *m, const char *key)
{
    for (unsigned i = 0; i < m->n_labels; i++)
        if (strcmp(m->labels[i].key, key) == 0)
            return m->labels[i].val;
    return NULL;
}

static void arm(struct tsc_agent *a, uint64_t deadline, uint64_t now)
{
    struct tsc__coord *c = &a->coord;
    uint64_t delay_ms;
    if (!a->leaving && (c->pub_leader != c->last_leader || c->pub_term != c->last_term)) {
        if (c->last_leader != 0 && c->next_meta_us < deadline)
            deadline = c->next_meta_us;
    }
    if (deadline == TSC_TIME_NEVER)
        delay_ms = 1000;
    else if (deadline <= now)
        delay_ms = 0;
    else
        delay_ms = (deadline - now + 999) / 1000;
    uv_update_time(&a->loop);
    uv_timer_start(&c->timer, on_coord_timer, delay_ms, 0);
}

/* The coordinator this agent recognises (engine, else membership labels);
 * what its own labels should say. */
static void refresh_view(struct tsc_agent *a)
{
    struct tsc__coord *c = &a->coord;
    c->last_leader = tsc__coord_view(a, &c->last_term, NULL);
    tsc__logs_on_coord(a); /* logs: an event, and the shipper's sink */
}

static void log_leader(struct tsc_agent *a, const struct tsc_election_update *up)
{
    static const char *const roles[] = {"?", "follower", "pre-candidate", "candidate", "leader"};
    int r = up->role >= 1 && up->role <= 4 ? up->role : 0;
    if (up->leader_id == a->self_id)
        tsc_logf(TSC_LOG_INFO, "coordinator: this agent, term %llu", (unsigned long long)up->term);
    else if (up->leader_id != 0)
        tsc_logf(TSC_LOG_INFO, "coordinator: %016llx, term %llu (%s)",
                 (unsigned long long)up->leader_id, (unsigned long long)up->term, roles[r]);
    else
        tsc_logf(TSC_LOG_INFO, "coordinator: unknown, term %llu (%s)", (unsigned long long)up->term,
                 roles[r]);
}

/* Step the election engine and carry out its update in the contract's order:
 * persist, then apply committed records, then send, then re-arm. Returns
 * the step's result; *index (may be NULL) gets update.appended_index. */
static int coord_step_ex(struct tsc_agent *a, struct tsc_election_event *ev, uint64_t *index)
{
    struct tsc__coord *c = &a->coord;
    struct tsc_election_update up;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    if (a->stopping || c->e == NULL)
        return TSC_ESTATE;
    if (a->runs.in_coord_step) {
        /* Never re-enter the engine while its update is being consumed. */
        tsc_logf(TSC_LOG_ERROR, "election step re-entered (event %d); dropped", ev->type);
        return TSC_ESTATE;
    }
    memset(&up, 0, sizeof up);
    ev->now = tsc__agent_now();
    int rc = tsc_election_step(c->e, ev, &up);
    if (index != NULL)
        *index = up.appended_index;
    if (rc != 0 && rc != TSC_ESTATE && rc != TSC_ETOOBIG)
        tsc_logf(TSC_LOG_WARN, "election step (event %d): %s", ev->type, tsc_strerror(rc));
    if (tsc__coord_store_persist(a, &up, errmsg) != 0) {
        a->c.store_errors++;
        tsc_logf(TSC_LOG_ERROR, "%s; stopping: cannot vote or replicate without it", errmsg);
        tsc__agent_stop(a);
        return TSC_ESTORE;
    }
    a->runs.in_coord_step = 1;
    for (size_t i = 0; i < up.n_committed; i++) {
        if (up.committed[i].type == TSC_RAFT_ENTRY_CONFIG)
            tsc_logf(TSC_LOG_INFO, "election: voter set change committed at index %llu",
                     (unsigned long long)up.committed[i].index);
        else if (up.committed[i].type == TSC_RAFT_ENTRY_DATA)
            tsc__runs_apply(a, &up.committed[i]);
    }
    a->runs.in_coord_step = 0;
    for (size_t i = 0; i < up.n_out; i++) {
        const struct tsc_election_out *o = &up.out[i];
        if (o->kind == TSC_ELECTION_OUT_DATAGRAM)
            tsc__net_send_datagram(a, &o->to, o->data, o->len);
        else if (o->kind == TSC_ELECTION_OUT_STREAM)
            tsc__net_send_stream(a, &o->to, o->data, o->len);
    }
    if (up.leader_changed) {
        log_leader(a, &up);
        refresh_view(a);
    }
    if (a->leaving && up.leave_done && !c->leave_done) {
        c->leave_done = 1;
        tsc_logf(TSC_LOG_INFO, "election: left (leadership handed over or never held)");
        tsc__agent_leave_progress(a);
        if (a->stopping)
            return rc;
    }
    arm(a, up.next_deadline, ev->now);
    /* The update is consumed: the runs driver may step the engine again. */
    tsc__runs_after_coord_step(a);
    return rc;
}

static void coord_step(struct tsc_agent *a, struct tsc_election_event *ev)
{
    coord_step_ex(a, ev, NULL);
}

int tsc__coord_append(struct tsc_agent *a, const uint8_t *data, size_t len, uint64_t *index)
{
    struct tsc_election_event ev;
    if (!tsc__coord_acting(a))
        return TSC_ESTATE;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_ELECTION_EV_APPEND;
    ev.data = data;
    ev.len = len;
    *index = 0;
    int rc = coord_step_ex(a, &ev, index);
    return rc == 0 && *index == 0 ? TSC_ESTATE : rc;
}

int tsc__coord_acting(struct tsc_agent *a)
{
    return a->coord.e != NULL && !a->leaving && tsc_election_acting(a->coord.e, tsc__agent_now());
}

void tsc__coord_on_frame(struct tsc_agent *a, int stream, const struct tsc_addr *from,
                         const uint8_t *data, size_t len)
{
    struct tsc_election_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = stream ? TSC_ELECTION_EV_STREAM : TSC_ELECTION_EV_DATAGRAM;
    ev.from = *from;
    ev.data = data;
    ev.len = len;
    coord_step(a, &ev);
}

/* Leader only: one voter-set change per call (see the file comment). The
 * engine answers TSC_ESTATE while a change is in flight; we try again on
 * the next membership change or reconcile tick. */
static void reconcile(struct tsc_agent *a)
{
    struct tsc__coord *c = &a->coord;
    struct tsc_election_event ev;
    struct tsc_gossip_member m;
    struct tsc_meta meta;
    const uint64_t *voters;
    if (c->e == NULL || a->leaving || tsc_election_role(c->e) != TSC_ELECTION_LEADER)
        return;
    size_t nv = tsc_election_voters(c->e, &voters);
    memset(&ev, 0, sizeof ev);
    for (size_t i = 0; i < nv; i++) {
        if (voters[i] == a->self_id || tsc_gossip_member_find(a->gossip, voters[i], &m) != 0 ||
            m.status != TSC_STATUS_LEFT)
            continue;
        ev.type = TSC_ELECTION_EV_REMOVE_VOTER;
        ev.id = voters[i];
        break;
    }
    for (size_t i = 0; ev.type == 0 && nv < TSC_RAFT_MAX_VOTERS; i++) {
        if (tsc_gossip_member_at(a->gossip, i, &m) != 0)
            break;
        if (m.is_self || m.status != TSC_STATUS_ALIVE || tsc_election_is_voter(c->e, m.id))
            continue;
        if (member_meta(&m, &meta) == 0 && has_role(&meta, "voter")) {
            ev.type = TSC_ELECTION_EV_ADD_VOTER;
            ev.id = m.id;
        }
    }
    if (ev.type == 0)
        return;
    int add = ev.type == TSC_ELECTION_EV_ADD_VOTER;
    uint64_t id = ev.id;
    uint64_t before = tsc_election_last_index(c->e);
    coord_step(a, &ev);
    if (c->e != NULL && tsc_election_last_index(c->e) > before)
        tsc_logf(TSC_LOG_INFO, "election: %s voter %016llx", add ? "adding" : "removing",
                 (unsigned long long)id);
}

void tsc__coord_on_membership(struct tsc_agent *a)
{
    struct tsc__coord *c = &a->coord;
    struct tsc_election_event ev;
    size_t n = tsc_gossip_count(a->gossip), k = 0;
    if (c->e == NULL || a->stopping)
        return;
    struct tsc_election_peer *peers = tsc_calloc(n ? n : 1, sizeof *peers);
    if (peers == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        struct tsc_gossip_member m;
        if (tsc_gossip_member_at(a->gossip, i, &m) != 0 || m.is_self)
            continue;
        peers[k].id = m.id;
        peers[k].addr = m.addr;
        k++;
    }
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_ELECTION_EV_PEERS;
    ev.peers = peers;
    ev.n_peers = k;
    coord_step(a, &ev);
    tsc_free(peers);
    reconcile(a);
    /* A non-voter learns the coordinator from others' labels: publish it
     * too (from the timer, see on_coord_timer). */
    refresh_view(a);
    if (!a->stopping && !a->leaving && c->last_leader != 0 &&
        (c->pub_leader != c->last_leader || c->pub_term != c->last_term)) {
        uint64_t now = tsc__agent_now();
        uint64_t delay = c->next_meta_us > now ? (c->next_meta_us - now + 999) / 1000 : 0;
        uv_timer_start(&c->timer, on_coord_timer, delay, 0);
    }
}

/* Our meta with coordinator=<hex> and term=<n> replacing older values. */
static void publish_meta(struct tsc_agent *a, uint64_t now)
{
    struct tsc__coord *c = &a->coord;
    struct tsc_meta m = a->cfg.meta;
    struct tsc_gossip_event ev;
    struct tsc_buf b;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    unsigned k = 0;
    for (unsigned i = 0; i < m.n_labels; i++)
        if (strcmp(m.labels[i].key, LABEL_COORD) != 0 && strcmp(m.labels[i].key, LABEL_TERM) != 0)
            m.labels[k++] = m.labels[i];
    m.n_labels = k;
    c->pub_leader = c->last_leader;
    c->pub_term = c->last_term;
    c->next_meta_us = now + META_INTERVAL_US;
    if (m.n_labels + 2 > TSC_META_MAX_LABELS) {
        tsc_logf(TSC_LOG_WARN, "no room for the coordinator labels (%u labels)", m.n_labels);
        return;
    }
    snprintf(m.labels[k].key, TSC_META_STR, LABEL_COORD);
    snprintf(m.labels[k].val, TSC_META_STR, "%016llx", (unsigned long long)c->pub_leader);
    snprintf(m.labels[k + 1].key, TSC_META_STR, LABEL_TERM);
    snprintf(m.labels[k + 1].val, TSC_META_STR, "%llu", (unsigned long long)c->pub_term);
    m.n_labels += 2;
    tsc_buf_init(&b);
    if (tsc_meta_encode(&m, &b, errmsg) != 0) {
        tsc_logf(TSC_LOG_WARN, "coordinator labels: %s", errmsg);
    } else {
        memset(&ev, 0, sizeof ev);
        ev.type = TSC_GOSSIP_EV_SET_META;
        ev.data = b.data;
        ev.len = b.len;
        tsc__agent_step(a, &ev);
    }
    tsc_buf_free(&b);
}

static void on_coord_timer(uv_timer_t *t)
{
    tsc__agent_due(t->data, TSC__DUE_COORD); /* after the poll: see agent.c */
}

void tsc__coord_tick(struct tsc_agent *a)
{
    struct tsc__coord *c = &a->coord;
    struct tsc_election_event ev;
    uint64_t now = tsc__agent_now();
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_ELECTION_EV_TICK;
    coord_step(a, &ev);
    if (a->stopping)
        return;
    /* Meta is published from here only, never from inside a gossip step
     * (SET_META is a gossip step; the update of the outer one would go). */
    if (c->last_leader != 0 && (c->pub_leader != c->last_leader || c->pub_term != c->last_term) &&
        now >= c->next_meta_us && !a->leaving)
        publish_meta(a, now);
    if (now >= c->next_reconcile_us) {
        c->next_reconcile_us = now + RECONCILE_INTERVAL_US;
        reconcile(a);
    }
}

int tsc__coord_open(struct tsc_agent *a, char *errmsg)
{
    struct tsc__coord *c = &a->coord;
    struct tsc_election_config cfg;
    struct tsc_election_restore r;
    struct tsc_election_entry *entries = NULL;
    struct tsc_buf hold;
    int rc;
    tsc_buf_init(&hold);
    c->is_voter_role = has_role(&a->cfg.meta, "voter");
    rc = tsc__coord_store_load(a, &r, &entries, &hold, errmsg);
    if (rc == 0) {
        tsc_election_config_default(&cfg);
        cfg.max_record = TSC__RUN_MAX_RECORD; /* run records: suites and stage results */
        /* Two leaders never act at once only if lease <= T_min (1 - e) / (1 + e)
         * for a clock-rate drift e between nodes (tscsim's campaign shows
         * overlap without it). We allow e = 1 %; quartz drifts ~0.01 %. */
        cfg.lease = cfg.election_timeout_min * 99 / 101;
        randombytes_buf(&cfg.seed, sizeof cfg.seed);
        rc = tsc_election_new(&c->e, &cfg, &a->wire, a->self_id, tsc__agent_wall_us(), &r,
                              tsc__agent_now(), errmsg);
        if (rc != 0)
            tsc_errmsg_wrapf(errmsg, "election engine");
        else
            tsc_logf(TSC_LOG_INFO, "election: term %llu, %zu log entries restored",
                     (unsigned long long)r.term, r.n_entries);
    }
    tsc_free(entries);
    tsc_buf_free(&hold);
    return rc;
}

void tsc__coord_start(struct tsc_agent *a)
{
    struct tsc__coord *c = &a->coord;
    struct tsc_election_event ev;
    uv_timer_init(&a->loop, &c->timer);
    c->timer.data = a;
    a->handles_open |= TSC__H_COORD_TIMER;
    tsc__coord_on_membership(a);
    if (c->is_voter_role && a->cfg.n_joins == 0 && a->n_rejoin == 0 &&
        tsc_election_last_index(c->e) == 0) {
        tsc_logf(TSC_LOG_INFO, "election: bootstrapping a one-voter configuration (this agent)");
        memset(&ev, 0, sizeof ev);
        ev.type = TSC_ELECTION_EV_BOOTSTRAP;
        ev.ids = &a->self_id;
        ev.n_ids = 1;
        coord_step(a, &ev);
    }
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_ELECTION_EV_TICK;
    coord_step(a, &ev);
}

void tsc__coord_leave(struct tsc_agent *a)
{
    struct tsc_election_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_ELECTION_EV_LEAVE;
    coord_step(a, &ev);
}

void tsc__coord_close(struct tsc_agent *a)
{
    if ((a->handles_open & TSC__H_COORD_TIMER) && !uv_is_closing((uv_handle_t *)&a->coord.timer))
        uv_close((uv_handle_t *)&a->coord.timer, NULL);
}

void tsc__coord_free(struct tsc_agent *a)
{
    if (a->coord.e != NULL)
        tsc_election_free(a->coord.e);
    a->coord.e = NULL;
}

uint64_t tsc__coord_view(struct tsc_agent *a, uint64_t *term, struct tsc_addr *addr)
{
    struct tsc__coord *c = &a->coord;
    uint64_t leader = c->e ? tsc_election_leader(c->e) : 0;
    uint64_t t = c->e ? tsc_election_term(c->e) : 0, best = leader ? t : 0;
    struct tsc_gossip_member m;
    struct tsc_meta meta;
    /* A voter trusts its own engine only (labels may be stale, e.g. on the
     * minority side of a partition); a non-voter's engine hears nothing
     * from the leader, so it goes by the labels of alive members, never by
     * a label that names itself. */
    int voter = c->e != NULL && tsc_election_is_voter(c->e, a->self_id);
    for (size_t i = 0; !voter && tsc_gossip_member_at(a->gossip, i, &m) == 0; i++) {
        if (m.is_self || m.status != TSC_STATUS_ALIVE || member_meta(&m, &meta) != 0)
            continue;
        const char *lc = label(&meta, LABEL_COORD), *lt = label(&meta, LABEL_TERM);
        if (lc == NULL || lt == NULL)
            continue;
        uint64_t id = strtoull(lc, NULL, 16), mt = strtoull(lt, NULL, 10);
        if (id != 0 && id != a->self_id && mt > best) {
            best = mt;
            leader = id;
        }
    }
    if (term)
        *term = leader ? best : t;
    if (addr) {
        memset(addr, 0, sizeof *addr);
        if (leader != 0 && tsc_gossip_member_find(a->gossip, leader, &m) == 0)
            *addr = m.addr;
    }
    return leader;
}

int tsc__coord_fence(struct tsc_agent *a, uint64_t term)
{
    /* On every START: no decoding of every member's labels here. The
     * engine's term (a voter's truth) or the view refreshed on every
     * membership and leader change (a non-voter's); the participant engine
     * fences on the highest START term it saw besides. */
    uint64_t known = a->coord.e ? tsc_election_term(a->coord.e) : 0;
    if (a->coord.last_term > known)
        known = a->coord.last_term;
    return term < known ? TSC_ESTALE : 0;
}

void tsc__coord_status(struct tsc_agent *a, struct tsc_control_status *st)
{
    struct tsc__coord *c = &a->coord;
    const uint64_t *voters;
    struct tsc_gossip_member m;
    uint64_t now = tsc__agent_now();
    memset(st, 0, sizeof *st);
    st->coordinator = tsc__coord_view(a, &st->term, &st->coordinator_addr);
    if (c->e == NULL)
        return;
    st->role = tsc_election_role(c->e);
    st->voter = tsc_election_is_voter(c->e, a->self_id);
    st->acting = tsc_election_acting(c->e, now);
    st->commit = tsc_election_commit_index(c->e);
    st->last_index = tsc_election_last_index(c->e);
    size_t nv = tsc_election_voters(c->e, &voters);
    for (size_t i = 0; i < nv && i < TSC_CONTROL_MAX_VOTERS; i++) {
        struct tsc_control_voter *v = &st->voters[st->n_voters++];
        v->id = voters[i];
        v->is_self = voters[i] == a->self_id;
        v->status = TSC_CONTROL_STATUS_UNKNOWN;
        if (tsc_gossip_member_find(a->gossip, voters[i], &m) == 0) {
            v->addr = m.addr;
            v->status = m.status;
        }
        v->has_match = tsc_election_match_index(c->e, voters[i], &v->match) == 0;
    }
}
