/* tsc — libFuzzer target: the election engine (gossip/election.h) fed a
 * script of network events and commands (fuzz/script.h).
 *
 * The engine under test is voter A of the set {A, B, C}; D is a node that
 * can be added as a voter, E a stranger. The first input byte picks how A
 * starts: bootstrapped with the three voters, restarted from a stored log,
 * a node with no configuration (waiting to be told), or the only voter
 * (leader at once). The target holds the cluster key, so the script can
 * send correctly sealed raft bodies with a right sender and sequence: its
 * fields are chosen relative to what the engine has (its term, last index,
 * commit, the term of the entry it would check), so that AppendEntries
 * match or conflict, votes are for the right term, and the REPLY operation
 * answers the engine's last request to a peer exactly as that peer would
 * (granting the vote, acknowledging the entries with the echoed stamp).
 * The engine therefore reaches pre-vote, vote, leadership, replication,
 * commit, truncation, voter changes and transfer, not only the decoders.
 *
 * The target is also the engine's driver: it keeps the "disk" the updates
 * describe (term, vote, log) and checks after every step:
 *   - the step returns 0 for every TICK and frame (TSC_ENOMEM only when the
 *     script made an allocation fail), a documented code for commands;
 *   - the term never falls; one vote per term; whenever term or vote
 *     changed, the update asks for them to be persisted (Raft §5.2);
 *   - the commit index never falls and never passes the log; the update
 *     reports exactly the newly committed entries, in order; a log rewrite
 *     never starts at or below the commit index; committed entries never
 *     change (§5.4.3: state machine safety, as far as one node can see);
 *   - the log on disk, rebuilt from the updates alone, equals the engine's
 *     log entry by entry; terms along the log never fall nor pass the term;
 *   - role, leader and acting are consistent; the voter set is well formed;
 *   - every frame sent opens with the cluster key, names the engine with a
 *     strictly increasing sequence, fits its transport, and decodes; a
 *     granted vote for the current term goes to the node voted for; an
 *     AppendEntries carries the engine's own entries and a commit index it
 *     has;
 *   - after a TICK at time t, the next deadline lies after t. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "common/time.h"
#include "fuzz/fuzz.h"
#include "fuzz/script.h"
#include "gossip/election.h"
#include "wire/frame.h"
#include "wire/raft.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_election: invariant broken: %s (%s:%d)\n", #cond, __FILE__,      \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define N_NODES 5 /* A (the engine), B, C, D, E */
#define SELF    0
#define MAX_OPS 1000

struct fz_peer {
    uint64_t id;
    struct tsc_addr addr;
    uint64_t seq; /* last envelope seq this node "sent" */
    /* The engine's last request to this node, for REPLY. */
    uint8_t req_type; /* 0: none */
    uint64_t req_term;
    int req_pre;
    uint64_t req_prev;
    uint32_t req_n;
    uint64_t req_stamp;
};

/* An entry as the driver stored it, or as it was first seen committed. */
struct fz_entry {
    uint64_t term;
    uint8_t type;
    size_t len;
    uint8_t *data; /* owned; NULL in the committed list */
    uint64_t hash;
};

struct fz {
    struct tsc_wire wire;
    struct tsc_election *e;
    struct fz_peer nodes[N_NODES];
    uint64_t other_seq;
    uint64_t now, deadline;
    size_t max_datagram;
    struct tsc_buf body, frame, scratch, echo, tmp;
    int frame_kind, echo_kind; /* TSC_ELECTION_EV_DATAGRAM or _STREAM */
    uint64_t last_out_seq;

    /* The driver's disk and what the checks remember. */
    uint64_t term, voted_for, commit;
    struct fz_entry *disk;
    size_t n_disk, cap_disk;
    struct fz_entry *committed; /* [i] is index i + 1 */
    size_t n_committed, cap_committed;
    unsigned long oom_after;
};

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void push_entry(struct fz_entry **v, size_t *n, size_t *cap, const struct fz_entry *x)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *v = realloc(*v, *cap * sizeof **v);
        CHECK(*v != NULL);
    }
    (*v)[(*n)++] = *x;
}

static void disk_truncate(struct fz *f, size_t keep)
{
    while (f->n_disk > keep)
        free(f->disk[--f->n_disk].data);
}

static void disk_append(struct fz *f, const struct tsc_election_entry *x)
{
    struct fz_entry d = {x->term, x->type, x->len, malloc(x->len ? x->len : 1), 0};
    CHECK(d.data != NULL);
    if (x->len)
        memcpy(d.data, x->data, x->len);
    d.hash = hash_bytes(d.data, d.len);
    push_entry(&f->disk, &f->n_disk, &f->cap_disk, &d);
}

static int same_entry(const struct fz_entry *d, const struct tsc_election_entry *x)
{
    return d->term == x->term && d->type == x->type && d->len == x->len &&
           d->hash == hash_bytes(x->data, x->len);
}

/* ---- checks ------------------------------------------------------------- */

static struct fz_peer *peer_of(struct fz *f, uint64_t id)
{
    for (int k = 1; k < N_NODES; k++)
        if (f->nodes[k].id == id)
            return &f->nodes[k];
    return NULL;
}

static void check_append_out(struct fz *f, const struct tsc_envelope *env,
                             const struct tsc_election_out *o)
{
    struct tsc_raft_append m;
    struct tsc_election_entry x;
    CHECK(tsc_raft_append_decode(env->body, env->body_len, &m) == 0);
    CHECK(m.term <= tsc_election_term(f->e));
    CHECK(m.commit <= tsc_election_commit_index(f->e));
    CHECK(m.prev_index <= tsc_election_last_index(f->e));
    if (m.prev_index > 0) {
        CHECK(tsc_election_entry_at(f->e, m.prev_index, &x) == 0);
        CHECK(x.term == m.prev_term);
    } else {
        CHECK(m.prev_term == 0);
    }
    for (uint32_t i = 0; i < m.n_entries; i++) {
        struct tsc_raft_entry_view v;
        CHECK(tsc_raft_append_next(&m, &v) == 0);
        CHECK(v.term <= m.term);
        CHECK(tsc_election_entry_at(f->e, m.prev_index + 1 + i, &x) == 0);
        CHECK(x.term == v.term && x.type == v.type && x.len == v.len &&
              (v.len == 0 || memcmp(x.data, v.data, v.len) == 0));
    }
    struct fz_peer *p = peer_of(f, o->to_id);
    if (p != NULL) {
        p->req_type = TSC_MSG_RAFT_APPEND;
        p->req_term = m.term;
        p->req_prev = m.prev_index;
        p->req_n = m.n_entries;
        p->req_stamp = m.stamp;
    }
}

static void check_out(struct fz *f, const struct tsc_election_out *o,
                      const struct tsc_election_update *up)
{
    struct tsc_envelope env;
    uint64_t term = tsc_election_term(f->e);
    CHECK(o->kind == TSC_ELECTION_OUT_DATAGRAM || o->kind == TSC_ELECTION_OUT_STREAM);
    CHECK(o->data != NULL && o->len > 0 && o->len <= TSC_WIRE_MAX_FRAME);
    if (o->kind == TSC_ELECTION_OUT_DATAGRAM)
        CHECK(o->len <= f->max_datagram);
    CHECK(o->to_id != 0 && o->to_id != f->nodes[SELF].id);
    CHECK(tsc_wire_open(&f->wire, o->data, o->len, TSC_WIRE_MAX_FRAME, &f->scratch, &env) == 0);
    CHECK(env.sender == f->nodes[SELF].id);
    CHECK(env.seq > f->last_out_seq);
    f->last_out_seq = env.seq;
    struct fz_peer *p = peer_of(f, o->to_id);
    switch (env.type) {
    case TSC_MSG_RAFT_VOTE: {
        struct tsc_raft_vote m;
        CHECK(tsc_raft_vote_decode(env.body, env.body_len, &m) == 0);
        CHECK(m.term <= term + 1);
        CHECK(m.last_index <= tsc_election_last_index(f->e));
        if (p != NULL) {
            p->req_type = TSC_MSG_RAFT_VOTE;
            p->req_term = m.term;
            p->req_pre = (m.flags & TSC_RAFT_VOTE_PRE) != 0;
        }
        break;
    }
    case TSC_MSG_RAFT_VOTE_RESP: {
        struct tsc_raft_vote_resp m;
        CHECK(tsc_raft_vote_resp_decode(env.body, env.body_len, &m) == 0);
        /* A real vote in this term goes to the node the disk says. */
        if (m.granted && !m.prevote) {
            CHECK(m.term <= term);
            if (m.term == term)
                CHECK(up->voted_for == o->to_id);
        }
        break;
    }
    case TSC_MSG_RAFT_APPEND:
        check_append_out(f, &env, o);
        break;
    case TSC_MSG_RAFT_APPEND_RESP: {
        struct tsc_raft_append_resp m;
        CHECK(tsc_raft_append_resp_decode(env.body, env.body_len, &m) == 0);
        CHECK(m.term <= term);
        if (m.success)
            CHECK(m.index <= tsc_election_last_index(f->e));
        break;
    }
    case TSC_MSG_RAFT_TIMEOUT_NOW: {
        uint64_t t;
        CHECK(tsc_raft_timeout_now_decode(env.body, env.body_len, &t) == 0);
        CHECK(t <= term);
        if (p != NULL)
            p->req_type = 0;
        break;
    }
    default:
        CHECK(!"unknown message type sent");
    }
    tsc_buf_reset(&f->echo);
    CHECK(tsc_buf_append(&f->echo, o->data, o->len) == 0);
    f->echo_kind =
        o->kind == TSC_ELECTION_OUT_DATAGRAM ? TSC_ELECTION_EV_DATAGRAM : TSC_ELECTION_EV_STREAM;
}

/* The driver's promise: what it stored can be handed back to a new engine
 * (a restart). tsc_election_new checks the restored log the way a correct
 * engine writes it; if it refuses, one frame has made this node unable to
 * start again. */
static void check_restart(struct fz *f)
{
    struct tsc_election_config cfg;
    struct tsc_election_restore r;
    struct tsc_election *again = NULL;
    char err[TSC_ERRMSG_SIZE];
    struct tsc_election_entry *log = calloc(f->n_disk ? f->n_disk : 1, sizeof *log);
    CHECK(log != NULL);
    for (size_t i = 0; i < f->n_disk; i++)
        log[i] = (struct tsc_election_entry){i + 1, f->disk[i].term, f->disk[i].type,
                                             f->disk[i].data, f->disk[i].len};
    tsc_election_config_default(&cfg);
    cfg.max_datagram = f->max_datagram;
    memset(&r, 0, sizeof r);
    r.term = f->term;
    r.voted_for = f->voted_for;
    r.entries = log;
    r.n_entries = f->n_disk;
    r.commit = f->commit;
    int rc = tsc_election_new(&again, &cfg, &f->wire, f->nodes[SELF].id, 1, &r, f->now, err);
    if (rc != 0)
        fprintf(stderr, "fuzz_election: restart from the stored state: %s\n", err);
    CHECK(rc == 0);
    tsc_election_free(again);
    free(log);
}

/* Apply the update the way a driver must (term and vote, then the log),
 * then compare the disk with the engine. */
static void check_update(struct fz *f, const struct tsc_election_update *up)
{
    struct tsc_election *e = f->e;
    uint64_t old_commit = f->commit;
    uint64_t last = tsc_election_last_index(e);

    CHECK(up->term == tsc_election_term(e));
    CHECK(up->term >= f->term);
    if (up->term == f->term && f->voted_for != 0)
        CHECK(up->voted_for == f->voted_for);
    if (up->term != f->term || up->voted_for != f->voted_for)
        CHECK(up->persist_state);
    f->term = up->term;
    f->voted_for = up->voted_for;

    if (up->log_from != 0) {
        CHECK(up->log_from > old_commit);
        CHECK(up->log_from <= f->n_disk + 1);
        CHECK(up->n_entries == last + 1 - up->log_from);
        disk_truncate(f, (size_t)(up->log_from - 1));
        for (size_t i = 0; i < up->n_entries; i++) {
            CHECK(up->entries[i].index == up->log_from + i);
            disk_append(f, &up->entries[i]);
        }
    } else {
        CHECK(up->n_entries == 0);
    }
    CHECK(f->n_disk == last);
    if (up->log_from != 0 || up->persist_state)
        check_restart(f);
    uint64_t prev_term = 0;
    for (uint64_t i = 1; i <= last; i++) {
        struct tsc_election_entry x;
        CHECK(tsc_election_entry_at(e, i, &x) == 0);
        CHECK(x.index == i);
        CHECK(same_entry(&f->disk[i - 1], &x));
        CHECK(x.term > 0);
        CHECK(x.term >= prev_term);
        CHECK(x.term <= up->term);
        CHECK(x.type >= TSC_RAFT_ENTRY_DATA && x.type <= TSC_RAFT_ENTRY_CONFIG);
        prev_term = x.term;
    }

    uint64_t commit = tsc_election_commit_index(e);
    CHECK(up->commit_index == commit);
    CHECK(commit >= old_commit && commit <= last);
    CHECK(up->n_committed == commit - old_commit);
    for (size_t i = 0; i < up->n_committed; i++) {
        const struct tsc_election_entry *x = &up->committed[i];
        CHECK(x->index == old_commit + 1 + i);
        CHECK(same_entry(&f->disk[x->index - 1], x));
        struct fz_entry c = {x->term, x->type, x->len, NULL, hash_bytes(x->data, x->len)};
        push_entry(&f->committed, &f->n_committed, &f->cap_committed, &c);
    }
    f->commit = commit;
    CHECK(f->n_committed == commit);
    for (size_t i = 0; i < f->n_committed; i++) {
        const struct fz_entry *c = &f->committed[i];
        const struct fz_entry *d = &f->disk[i];
        CHECK(c->term == d->term && c->type == d->type && c->len == d->len && c->hash == d->hash);
    }

    int role = tsc_election_role(e);
    CHECK(role >= TSC_ELECTION_FOLLOWER && role <= TSC_ELECTION_LEADER);
    CHECK(up->role == role && up->leader_id == tsc_election_leader(e));
    if (role == TSC_ELECTION_LEADER)
        CHECK(up->leader_id == f->nodes[SELF].id);
    if (tsc_election_acting(e, f->now))
        CHECK(role == TSC_ELECTION_LEADER);
    const uint64_t *ids;
    size_t n = tsc_election_voters(e, &ids);
    CHECK(n <= TSC_RAFT_MAX_VOTERS);
    for (size_t i = 0; i < n; i++) {
        CHECK(ids[i] != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(ids[i] != ids[j]);
    }
    const struct tsc_election_stats *st = tsc_election_stats(e);
    CHECK(st->rejected ==
          st->rejected_auth + st->rejected_replay + st->rejected_malformed + st->rejected_cluster);

    for (size_t i = 0; i < up->n_out; i++)
        check_out(f, &up->out[i], up);
}

static int step(struct fz *f, struct tsc_election_event *ev)
{
    struct tsc_election_update up;
    unsigned long oom = f->oom_after;
    f->oom_after = 0;
    ev->now = f->now;
    if (oom)
        tsc_alloc_fail_after(oom);
    int rc = tsc_election_step(f->e, ev, &up);
    tsc_alloc_fail_after(0);
    CHECK(rc == 0 || rc == TSC_EINVAL || rc == TSC_ESTATE || rc == TSC_ETOOBIG ||
          rc == TSC_EEXIST || rc == TSC_ENOTFOUND || rc == TSC_EFULL || (oom && rc == TSC_ENOMEM));
    check_update(f, &up);
    f->deadline = up.next_deadline;
    return rc;
}

/* Network input gets a block of its own so that ASan sees any read past
 * its end; whatever it holds, the step returns 0. */
static void deliver(struct fz *f, int type, struct tsc_addr from, const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    CHECK(copy != NULL);
    if (len)
        memcpy(copy, data, len);
    struct tsc_election_event ev = {.type = type, .from = from, .data = copy, .len = len};
    int rc = step(f, &ev);
    CHECK(rc == 0 || rc == TSC_ENOMEM);
    free(copy);
}

static void tick(struct fz *f)
{
    struct tsc_election_event ev = {.type = TSC_ELECTION_EV_TICK};
    int rc = step(f, &ev);
    CHECK(rc == 0 || rc == TSC_ENOMEM);
    for (int k = 0; k < 4 && f->deadline <= f->now; k++)
        CHECK(step(f, &ev) == 0);
    CHECK(f->deadline > f->now);
}

/* ---- building inputs ---------------------------------------------------- */

static uint64_t pick_term(struct fz *f, struct tsc_fuzz_in *in)
{
    uint64_t t = tsc_election_term(f->e);
    switch (tsc_fuzz_u8(in) % 6) {
    case 0:
        return t;
    case 1:
        return t + 1;
    case 2:
        return t > 0 ? t - 1 : 0;
    case 3:
        return t + tsc_fuzz_u8(in);
    case 4:
        return tsc_fuzz_u64(in);
    default:
        return t + 2;
    }
}

static uint64_t pick_index(struct fz *f, struct tsc_fuzz_in *in)
{
    uint64_t last = tsc_election_last_index(f->e);
    switch (tsc_fuzz_u8(in) % 6) {
    case 0:
        return last;
    case 1:
        return last + 1;
    case 2:
        return last > 0 ? last - 1 : 0;
    case 3:
        return tsc_election_commit_index(f->e);
    case 4:
        return tsc_fuzz_u8(in);
    default:
        return tsc_fuzz_u64(in);
    }
}

static uint64_t term_at(struct fz *f, uint64_t index)
{
    struct tsc_election_entry x;
    return tsc_election_entry_at(f->e, index, &x) == 0 ? x.term : 0;
}

/* A CONFIG payload: the nodes in `mask` (bit k = node k). */
static void config_of(struct fz *f, uint8_t mask, struct tsc_buf *out)
{
    uint64_t ids[N_NODES];
    size_t n = 0;
    for (int k = 0; k < N_NODES; k++)
        if (mask & (1u << k))
            ids[n++] = f->nodes[k].id;
    CHECK(tsc_raft_config_encode(out, ids, n) == 0);
}

static void build_append(struct fz *f, struct tsc_fuzz_in *in, int stream)
{
    struct tsc_raft_append m;
    struct tsc_raft_append_writer w;
    memset(&m, 0, sizeof m);
    m.term = pick_term(f, in);
    m.prev_index = pick_index(f, in);
    switch (tsc_fuzz_u8(in) % 3) {
    case 0:
        m.prev_term = term_at(f, m.prev_index); /* passes the consistency check */
        break;
    case 1:
        m.prev_term = pick_term(f, in);
        break;
    default:
        m.prev_term = term_at(f, m.prev_index) + 1;
        break;
    }
    m.commit = pick_index(f, in);
    m.stamp = (tsc_fuzz_u8(in) & 1) ? tsc_fuzz_u64(in) : f->now;
    CHECK(tsc_raft_append_begin(&w, &f->body, &m) == 0);
    size_t limit = stream ? (1u << 20) : f->max_datagram - TSC_WIRE_OVERHEAD;
    unsigned n = tsc_fuzz_u8(in) % 5;
    for (unsigned k = 0; k < n; k++) {
        uint8_t ts = tsc_fuzz_u8(in);
        uint8_t ty = tsc_fuzz_u8(in);
        uint64_t term;
        uint8_t type;
        const uint8_t *data = NULL;
        size_t len = 0;
        switch (ts % 4) {
        case 2:
            term = term_at(f, m.prev_index + 1 + k); /* an entry the engine has */
            break;
        case 3:
            term = tsc_fuzz_u8(in);
            break;
        default:
            term = m.term;
            break;
        }
        tsc_buf_reset(&f->tmp);
        if (ty % 8 < 4) {
            type = TSC_RAFT_ENTRY_DATA;
            data = tsc_fuzz_bytes(in, (ty & 0x80) ? tsc_fuzz_u16(in) % 2048 : ty % 48, &len);
        } else if (ty % 8 == 4) {
            type = TSC_RAFT_ENTRY_NOOP;
        } else if (ty % 8 < 7) {
            type = TSC_RAFT_ENTRY_CONFIG;
            config_of(f, tsc_fuzz_u8(in) & 0x1f, &f->tmp);
            data = f->tmp.data;
            len = f->tmp.len;
        } else {
            type = tsc_fuzz_u8(in);
            data = tsc_fuzz_bytes(in, tsc_fuzz_u8(in) % 32, &len);
        }
        int rc = tsc_raft_append_add(&w, term, type, data, len, limit);
        CHECK(rc == 0 || rc == TSC_EFULL);
        if (rc == TSC_EFULL)
            break;
    }
    tsc_raft_append_finish(&w);
}

/* A raft body for `type`, its fields relative to the engine's state. */
static void build_body(struct fz *f, struct tsc_fuzz_in *in, uint8_t type, int stream)
{
    uint8_t mode = tsc_fuzz_u8(in);
    size_t len;
    tsc_buf_reset(&f->body);
    if (mode % 8 == 7) {
        const uint8_t *p = tsc_fuzz_bytes(in, tsc_fuzz_u16(in) % 1400, &len);
        CHECK(tsc_buf_append(&f->body, p, len) == 0);
        return;
    }
    switch (type) {
    case TSC_MSG_RAFT_VOTE: {
        struct tsc_raft_vote m;
        m.term = pick_term(f, in);
        m.last_index = pick_index(f, in);
        m.last_term = (mode & 0x10) ? pick_term(f, in) : term_at(f, m.last_index);
        m.flags = (mode >> 5) & 3;
        CHECK(tsc_raft_vote_encode(&f->body, &m) == 0);
        break;
    }
    case TSC_MSG_RAFT_VOTE_RESP: {
        struct tsc_raft_vote_resp m;
        m.term = pick_term(f, in);
        m.granted = (mode >> 4) & 1;
        m.prevote = (mode >> 5) & 1;
        CHECK(tsc_raft_vote_resp_encode(&f->body, &m) == 0);
        break;
    }
    case TSC_MSG_RAFT_APPEND:
        build_append(f, in, stream);
        break;
    case TSC_MSG_RAFT_APPEND_RESP: {
        struct tsc_raft_append_resp m;
        m.term = pick_term(f, in);
        m.success = (mode >> 4) & 1;
        m.index = pick_index(f, in);
        switch ((mode >> 5) & 3) {
        case 0:
            m.stamp = f->now;
            break;
        case 1:
            m.stamp = f->now + 1; /* from the future */
            break;
        default:
            m.stamp = tsc_fuzz_u64(in);
            break;
        }
        CHECK(tsc_raft_append_resp_encode(&f->body, &m) == 0);
        break;
    }
    case TSC_MSG_RAFT_TIMEOUT_NOW:
        CHECK(tsc_raft_timeout_now_encode(&f->body, pick_term(f, in)) == 0);
        break;
    default:
        break; /* not a raft type: an empty body */
    }
}

static void seal(struct fz *f, uint64_t sender, uint64_t seq, uint8_t type)
{
    struct tsc_envelope env = {
        .version = TSC_WIRE_VERSION,
        .sender = sender,
        .seq = seq,
        .type = type,
        .body = f->body.data,
        .body_len = f->body.len,
    };
    uint8_t nonce[TSC_NONCE_BYTES];
    memset(nonce, 0, sizeof nonce);
    for (int i = 0; i < 8; i++) {
        nonce[i] = (uint8_t)(sender >> (56 - 8 * i));
        nonce[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
    }
    tsc_buf_reset(&f->frame);
    CHECK(tsc_wire_seal(&f->wire, &env, nonce, TSC_WIRE_MAX_FRAME, &f->frame) == 0);
}

static void sealed_op(struct fz *f, struct tsc_fuzz_in *in)
{
    uint8_t s = tsc_fuzz_u8(in);
    uint8_t q = tsc_fuzz_u8(in);
    uint8_t t = tsc_fuzz_u8(in);
    uint64_t sender, *seqp = &f->other_seq;
    struct tsc_addr from = {0xC6120063u, 7947};
    switch (s % 8) {
    case 5:
        sender = f->nodes[SELF].id;
        seqp = &f->nodes[SELF].seq;
        break;
    case 6:
        sender = 0;
        break;
    case 7:
        sender = tsc_fuzz_u64(in);
        break;
    default: {
        struct fz_peer *p = &f->nodes[s % 8 < 2 ? 1 : s % 8]; /* B, B, C, D, E */
        sender = p->id;
        seqp = &p->seq;
        from = p->addr;
        break;
    }
    }
    uint64_t seq;
    switch (q % 4) {
    case 2:
        seq = *seqp;
        break;
    case 3:
        seq = tsc_fuzz_u64(in);
        break;
    default:
        seq = ++*seqp;
        break;
    }
    int stream = (q >> 2) & 1;
    uint8_t type = t < 0xf0
                       ? (uint8_t)(TSC_MSG_RAFT_VOTE + t % 5)
                       : (uint8_t)(1 + tsc_fuzz_u8(in) % TSC_MSG_TYPE_MAX) /* seal refuses 0 */;
    build_body(f, in, type, stream);
    seal(f, sender, seq, type);
    f->frame_kind = stream ? TSC_ELECTION_EV_STREAM : TSC_ELECTION_EV_DATAGRAM;
    deliver(f, f->frame_kind, from, f->frame.data, f->frame.len);
}

/* Peer p answers the engine's last request to it as a correct node would
 * (mode & 3 == 0: it refuses). */
static void reply(struct fz *f, struct fz_peer *p, uint8_t mode)
{
    int ok = (mode & 3) != 0;
    uint8_t type;
    tsc_buf_reset(&f->body);
    if (p->req_type == TSC_MSG_RAFT_VOTE) {
        struct tsc_raft_vote_resp m = {p->req_term, ok, p->req_pre};
        type = TSC_MSG_RAFT_VOTE_RESP;
        CHECK(tsc_raft_vote_resp_encode(&f->body, &m) == 0);
    } else if (p->req_type == TSC_MSG_RAFT_APPEND) {
        struct tsc_raft_append_resp m = {p->req_term, ok, p->req_prev + p->req_n, p->req_stamp};
        if (!ok)
            m.index = p->req_prev > 0 ? p->req_prev - 1 : 0;
        type = TSC_MSG_RAFT_APPEND_RESP;
        CHECK(tsc_raft_append_resp_encode(&f->body, &m) == 0);
    } else {
        return;
    }
    seal(f, p->id, ++p->seq, type);
    f->frame_kind = TSC_ELECTION_EV_DATAGRAM;
    deliver(f, f->frame_kind, p->addr, f->frame.data, f->frame.len);
}

static void command_op(struct fz *f, struct tsc_fuzz_in *in)
{
    uint8_t sub = tsc_fuzz_u8(in);
    uint8_t arg = tsc_fuzz_u8(in);
    struct tsc_election_event ev;
    struct tsc_election_peer peers[N_NODES + 1];
    uint64_t ids[N_NODES];
    uint8_t *big = NULL;
    size_t len;
    memset(&ev, 0, sizeof ev);
    switch (sub % 6) {
    case 0:
        ev.type = TSC_ELECTION_EV_APPEND;
        if (arg == 0xff) { /* one byte over the default max_record */
            len = (64u << 10) + 1;
            big = calloc(1, len);
            CHECK(big != NULL);
            ev.data = big;
        } else {
            size_t want = arg >= 0xf0 ? tsc_fuzz_u16(in) % 4096u : arg;
            ev.data = tsc_fuzz_bytes(in, want, &len);
        }
        ev.len = len;
        break;
    case 1:
    case 2:
        ev.type = sub % 6 == 1 ? TSC_ELECTION_EV_ADD_VOTER : TSC_ELECTION_EV_REMOVE_VOTER;
        ev.id = arg < 0xf0 ? f->nodes[arg % N_NODES].id : (arg == 0xf0 ? 0 : tsc_fuzz_u64(in));
        break;
    case 3:
        ev.type = TSC_ELECTION_EV_LEAVE;
        break;
    case 4:
        ev.type = TSC_ELECTION_EV_PEERS;
        for (int k = 0; k < N_NODES; k++) {
            if (arg & (1u << k)) {
                peers[ev.n_peers].id = f->nodes[k].id;
                peers[ev.n_peers++].addr = f->nodes[k].addr;
            }
        }
        if (arg & 0x80) { /* id 0 is skipped */
            peers[ev.n_peers].id = 0;
            peers[ev.n_peers++].addr = f->nodes[1].addr;
        }
        ev.peers = peers;
        break;
    default:
        ev.type = TSC_ELECTION_EV_BOOTSTRAP;
        for (int k = 0; k < N_NODES; k++)
            if (arg & (1u << k))
                ids[ev.n_ids++] = f->nodes[k].id;
        ev.ids = ids;
        break;
    }
    step(f, &ev);
    free(big);
}

static void run_op(struct fz *f, struct tsc_fuzz_in *in)
{
    uint8_t op = tsc_fuzz_u8(in) % TSC_FZE_OPS;
    struct tsc_addr nowhere = {0xC6120063u, 7947};
    switch (op) {
    case TSC_FZE_TICK_DEADLINE:
        if (f->deadline == TSC_TIME_NEVER || f->deadline - f->now > TSC_SEC(3600))
            f->now += TSC_SEC(1);
        else if (f->deadline > f->now)
            f->now = f->deadline;
        tick(f);
        break;
    case TSC_FZE_TICK_BY:
        f->now += (uint64_t)tsc_fuzz_u16(in) * 100;
        tick(f);
        break;
    case TSC_FZE_RAW: {
        uint8_t kind = tsc_fuzz_u8(in);
        size_t len;
        const uint8_t *p = tsc_fuzz_bytes(in, tsc_fuzz_u16(in) % 1500, &len);
        deliver(f, (kind & 1) ? TSC_ELECTION_EV_STREAM : TSC_ELECTION_EV_DATAGRAM, nowhere, p, len);
        break;
    }
    case TSC_FZE_SEALED:
        sealed_op(f, in);
        break;
    case TSC_FZE_REPLY: {
        uint8_t mode = tsc_fuzz_u8(in);
        if (mode & 0x80) { /* every peer answers */
            for (int k = 1; k <= 3; k++)
                reply(f, &f->nodes[k], mode);
        } else {
            reply(f, &f->nodes[1 + (mode >> 2) % 3], mode);
        }
        break;
    }
    case TSC_FZE_REPLAY: {
        uint8_t how = tsc_fuzz_u8(in);
        if (f->frame.len == 0)
            break;
        if (how & 1) {
            uint16_t at = tsc_fuzz_u16(in);
            f->frame.data[at % f->frame.len] ^= (uint8_t)(tsc_fuzz_u8(in) | 1);
        }
        deliver(f, f->frame_kind, nowhere, f->frame.data, f->frame.len);
        break;
    }
    case TSC_FZE_COMMAND:
        command_op(f, in);
        break;
    case TSC_FZE_OOM: {
        unsigned long n = 1 + tsc_fuzz_u8(in) % 64;
        if (tsc_fuzz_oom_enabled())
            f->oom_after = n;
        break;
    }
    default:
        if (f->echo.len > 0)
            deliver(f, f->echo_kind, f->nodes[SELF].addr, f->echo.data, f->echo.len);
        break;
    }
}

/* ---- set-up ------------------------------------------------------------- */

static void setup(struct fz *f, uint8_t flags)
{
    uint8_t key[TSC_KEY_BYTES];
    char err[TSC_ERRMSG_SIZE];
    memset(f, 0, sizeof *f);
    tsc_fuzz_key(key);
    tsc_wire_init(&f->wire, key, &tsc_crypto_cheap);
    f->now = TSC_SEC(1000);
    f->max_datagram = (flags & 4) ? 512 : TSC_WIRE_MAX_DATAGRAM;
    f->other_seq = 1000;
    for (int k = 0; k < N_NODES; k++) {
        f->nodes[k].id = 0x1000000000000000ull * (uint64_t)(k + 1) + 0xabcdefull;
        f->nodes[k].addr.ip = 0xC6120000u | (uint32_t)(k + 1);
        f->nodes[k].addr.port = 7947;
        f->nodes[k].seq = 1000;
    }
    struct tsc_election_config cfg;
    tsc_election_config_default(&cfg);
    cfg.seed = 7;
    cfg.max_datagram = f->max_datagram;

    /* A log as a node that lived through terms 1..3 stored it. */
    struct tsc_election_entry log[4];
    struct tsc_election_restore restore;
    memset(&restore, 0, sizeof restore);
    config_of(f, 0x07, &f->tmp);
    log[0] = (struct tsc_election_entry){1, 1, TSC_RAFT_ENTRY_CONFIG, f->tmp.data, f->tmp.len};
    log[1] = (struct tsc_election_entry){2, 1, TSC_RAFT_ENTRY_DATA, (const uint8_t *)"a", 1};
    log[2] = (struct tsc_election_entry){3, 2, TSC_RAFT_ENTRY_NOOP, NULL, 0};
    log[3] = (struct tsc_election_entry){4, 3, TSC_RAFT_ENTRY_DATA, (const uint8_t *)"bc", 2};
    int mode = flags & 3;
    if (mode == 1) {
        restore.term = 3;
        restore.voted_for = f->nodes[1].id;
        restore.entries = log;
        restore.n_entries = 4;
        restore.commit = 2;
        f->term = 3;
        f->voted_for = restore.voted_for;
        for (int i = 0; i < 4; i++)
            disk_append(f, &log[i]);
    }
    CHECK(tsc_election_new(&f->e, &cfg, &f->wire, f->nodes[SELF].id, 5000,
                           mode == 1 ? &restore : NULL, f->now, err) == 0);
    f->commit = tsc_election_commit_index(f->e);
    for (uint64_t i = 1; i <= f->commit; i++) {
        struct fz_entry c = {log[i - 1].term, log[i - 1].type, log[i - 1].len, NULL,
                             hash_bytes(log[i - 1].data, log[i - 1].len)};
        push_entry(&f->committed, &f->n_committed, &f->cap_committed, &c);
    }
    f->deadline = f->now;

    struct tsc_election_peer peers[3];
    for (int k = 0; k < 3; k++) {
        peers[k].id = f->nodes[k + 1].id;
        peers[k].addr = f->nodes[k + 1].addr;
    }
    struct tsc_election_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_ELECTION_EV_PEERS;
    ev.peers = peers;
    ev.n_peers = mode == 2 ? 2 : 3;
    CHECK(step(f, &ev) == 0);
    if (mode == 0 || mode == 3) {
        uint64_t ids[3] = {f->nodes[0].id, f->nodes[1].id, f->nodes[2].id};
        memset(&ev, 0, sizeof ev);
        ev.type = TSC_ELECTION_EV_BOOTSTRAP;
        ev.ids = ids;
        ev.n_ids = mode == 3 ? 1 : 3;
        CHECK(step(f, &ev) == 0);
    }
}

static void teardown(struct fz *f)
{
    tsc_election_free(f->e);
    disk_truncate(f, 0);
    free(f->disk);
    free(f->committed);
    tsc_buf_free(&f->body);
    tsc_buf_free(&f->frame);
    tsc_buf_free(&f->scratch);
    tsc_buf_free(&f->echo);
    tsc_buf_free(&f->tmp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz f;
    struct tsc_fuzz_in in = {data, size};
    setup(&f, tsc_fuzz_u8(&in));
    for (int ops = 0; in.n > 0 && ops < MAX_OPS; ops++)
        run_op(&f, &in);
    teardown(&f);
    return 0;
}
