/* tsc — the replicated log: storage in memory, AppendEntries on both sides
 * (Raft §5.3), the commit rule (§5.3, §5.4.2), and the commands that add
 * entries: records, voter changes (thesis §4.1) and bootstrap. */
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "gossip/election_internal.h"

uint64_t tsc__election_last_index(const struct tsc_election *e)
{
    return e->n_log;
}

uint64_t tsc__election_term_at(const struct tsc_election *e, uint64_t index)
{
    if (index == 0 || index > e->n_log)
        return 0;
    return e->log[index - 1].term;
}

/* The newest CONFIG entry is the voter set, committed or not (thesis §4.1).
 * Entries in the log were validated on the way in, so decoding succeeds. */
void tsc__election_load_config(struct tsc_election *e)
{
    e->n_voters = 0;
    e->config_index = 0;
    for (size_t i = e->n_log; i > 0; i--) {
        const struct tsc_election_entry *x = &e->log[i - 1];
        if (x->type != TSC_RAFT_ENTRY_CONFIG)
            continue;
        if (tsc_raft_config_decode(x->data, x->len, e->voters, &e->n_voters) == 0)
            e->config_index = i;
        else
            e->n_voters = 0;
        return;
    }
}

/* Every change to the log lowers log_from, the first index the driver must
 * rewrite (see struct tsc_election_update). */
int tsc__election_log_append(struct tsc_election *e, uint64_t term, uint8_t type,
                             const uint8_t *data, size_t len)
{
    if (e->n_log == e->cap_log) {
        size_t cap = e->cap_log ? e->cap_log * 2 : 64;
        struct tsc_election_entry *p = tsc_realloc(e->log, cap * sizeof *p);
        if (p == NULL)
            return TSC_ENOMEM;
        e->log = p;
        e->cap_log = cap;
    }
    uint8_t *copy = NULL;
    if (len > 0) {
        copy = tsc_malloc(len);
        if (copy == NULL)
            return TSC_ENOMEM;
        memcpy(copy, data, len);
    }
    struct tsc_election_entry *x = &e->log[e->n_log++];
    x->index = e->n_log;
    x->term = term;
    x->type = type;
    x->data = copy;
    x->len = len;
    if (e->log_from == 0 || e->log_from > x->index)
        e->log_from = x->index;
    if (type == TSC_RAFT_ENTRY_CONFIG)
        tsc__election_load_config(e);
    return 0;
}

void tsc__election_log_truncate(struct tsc_election *e, uint64_t from)
{
    if (from == 0 || from > e->n_log)
        return;
    for (size_t i = from - 1; i < e->n_log; i++)
        tsc_free((void *)e->log[i].data);
    e->n_log = from - 1;
    if (e->log_from == 0 || e->log_from > from)
        e->log_from = from;
    if (e->config_index >= from)
        tsc__election_load_config(e);
}

/* One AppendEntries to p from its next_index: as many entries as fit in a
 * datagram; an entry that does not fit alone goes in a stream frame with
 * whatever follows it up to the stream budget. The stamp is our clock, for
 * the lease. No pipelining: the batch is resent until answered. */
int tsc__election_send_append(struct tsc_election *e, struct tsc__epeer *p)
{
    uint64_t last = tsc__election_last_index(e);
    if (p->next_index == 0)
        p->next_index = 1;
    if (p->next_index > last + 1)
        p->next_index = last + 1;
    uint64_t prev = p->next_index - 1;
    struct tsc_raft_append m = {
        .term = e->term,
        .prev_index = prev,
        .prev_term = tsc__election_term_at(e, prev),
        .commit = e->commit,
        .stamp = e->now,
    };
    struct tsc_raft_append_writer w;
    tsc_buf_reset(&e->body);
    int rc = tsc_raft_append_begin(&w, &e->body, &m);
    if (rc != 0)
        return rc;
    int kind = TSC_ELECTION_OUT_DATAGRAM;
    size_t limit = e->cfg.max_datagram - TSC_WIRE_OVERHEAD;
    for (uint64_t i = p->next_index; i <= last; i++) {
        const struct tsc_election_entry *x = &e->log[i - 1];
        rc = tsc_raft_append_add(&w, x->term, x->type, x->data, x->len, limit);
        if (rc == TSC_EFULL && i == p->next_index) {
            kind = TSC_ELECTION_OUT_STREAM;
            limit = TSC__ESTREAM_BUDGET;
            rc = tsc_raft_append_add(&w, x->term, x->type, x->data, x->len, limit);
        }
        if (rc == TSC_EFULL)
            break;
        if (rc != 0)
            return rc;
    }
    tsc_raft_append_finish(&w);
    return tsc__election_send(e, kind, p->id, TSC_MSG_RAFT_APPEND, e->body.data + w.start,
                              e->body.len - w.start);
}

int tsc__election_broadcast_append(struct tsc_election *e)
{
    for (size_t i = 0; i < e->n_voters; i++) {
        if (e->voters[i] == e->self_id)
            continue;
        struct tsc__epeer *p = tsc__election_peer_add(e, e->voters[i]);
        if (p == NULL)
            return e->oom ? TSC_ENOMEM : 0;
        int rc = tsc__election_send_append(e, p);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int reply_append(struct tsc_election *e, uint64_t to, const struct tsc_raft_append_resp *r)
{
    tsc_buf_reset(&e->body);
    int rc = tsc_raft_append_resp_encode(&e->body, r);
    if (rc != 0)
        return rc;
    return tsc__election_send(e, TSC_ELECTION_OUT_DATAGRAM, to, TSC_MSG_RAFT_APPEND_RESP,
                              e->body.data, e->body.len);
}

/* CONFIG payloads are checked before anything is applied. */
/* Entries a leader can have sent: terms >= 1, never above the message's
 * term, non-decreasing along the batch and from prev_term (Raft's Log
 * Matching property). Anything else would be stored and then refused by
 * restore, leaving a node that cannot restart. */
static int check_entries(struct tsc_raft_append m)
{
    uint64_t ids[TSC_RAFT_MAX_VOTERS];
    size_t n;
    uint64_t prev = m.prev_term;
    if (m.prev_term > m.term)
        return TSC_EMALFORMED;
    for (uint32_t i = 0; i < m.n_entries; i++) {
        struct tsc_raft_entry_view x;
        if (tsc_raft_append_next(&m, &x) != 0)
            return TSC_EMALFORMED;
        if (x.term == 0 || x.term > m.term || x.term < prev)
            return TSC_EMALFORMED;
        prev = x.term;
        if (x.type == TSC_RAFT_ENTRY_CONFIG && tsc_raft_config_decode(x.data, x.len, ids, &n) != 0)
            return TSC_EMALFORMED;
    }
    return 0;
}

/* AppendEntries, follower side (§5.3 with Figure 2's receiver rules). A
 * lower term is refused with ours so a deposed leader learns (fencing). The
 * consistency check fails with a hint: the highest index at or below
 * prev_index whose term is <= prev_term, which skips a whole conflicting
 * term per round trip. Entries already present with the same term are kept
 * (a reordered, shorter AppendEntries must not cut the log); the first
 * conflicting one truncates the suffix. Committed entries never conflict. */
int tsc__election_on_append(struct tsc_election *e, uint64_t from, struct tsc_raft_append *m)
{
    struct tsc_raft_append_resp r = {.term = e->term, .stamp = m->stamp};
    if (m->term < e->term) {
        e->stats.stale_term++;
        return reply_append(e, from, &r);
    }
    if (check_entries(*m) != 0 || m->prev_index > UINT64_MAX - m->n_entries) {
        e->stats.rejected++;
        e->stats.rejected_malformed++;
        return 0;
    }
    if (m->term > e->term)
        tsc__election_new_term(e, m->term);
    r.term = e->term;
    if (e->role == TSC_ELECTION_LEADER) { /* two leaders in a term: cannot be */
        e->stats.rejected++;
        e->stats.rejected_malformed++;
        return 0;
    }
    if (e->role != TSC_ELECTION_FOLLOWER || e->leader_id != from)
        tsc__election_become_follower(e, from);
    e->last_heard = e->now;
    e->election_deadline = e->now + tsc__election_random_timeout(e);

    uint64_t last = tsc__election_last_index(e);
    if (m->prev_index > last) {
        r.index = last;
        return reply_append(e, from, &r);
    }
    if (tsc__election_term_at(e, m->prev_index) != m->prev_term) {
        uint64_t i = m->prev_index > 0 ? m->prev_index - 1 : 0;
        while (i > e->commit && tsc__election_term_at(e, i) > m->prev_term)
            i--;
        r.index = i;
        return reply_append(e, from, &r);
    }
    uint64_t index = m->prev_index;
    for (uint32_t k = 0; k < m->n_entries; k++) {
        struct tsc_raft_entry_view x;
        if (tsc_raft_append_next(m, &x) != 0)
            return 0; /* checked above */
        index++;
        if (index <= tsc__election_last_index(e)) {
            if (tsc__election_term_at(e, index) == x.term)
                continue;
            if (index <= e->commit) { /* would rewrite history: a broken peer */
                e->stats.rejected++;
                e->stats.rejected_malformed++;
                return 0;
            }
            tsc__election_log_truncate(e, index);
        }
        int rc = tsc__election_log_append(e, x.term, x.type, x.data, x.len);
        if (rc != 0)
            return rc;
    }
    /* Only what this message proved to match may be committed (Figure 2). */
    uint64_t c = m->commit < index ? m->commit : index;
    if (c > e->commit)
        e->commit = c;
    r.success = 1;
    r.index = index;
    return reply_append(e, from, &r);
}

/* AppendEntries answers, leader side. Success raises match/next and maybe
 * the commit index, and sends the rest at once; failure moves next_index
 * back to the follower's hint (never below what it already matches). The
 * echoed stamp dates this follower's contact for the lease; a stamp from
 * the future is a broken peer and is ignored. */
int tsc__election_on_append_resp(struct tsc_election *e, uint64_t from,
                                 const struct tsc_raft_append_resp *m)
{
    if (m->term > e->term) {
        tsc__election_new_term(e, m->term);
        return 0;
    }
    if (m->term < e->term) {
        e->stats.stale_term++;
        return 0;
    }
    struct tsc__epeer *p = tsc__election_peer(e, from);
    if (e->role != TSC_ELECTION_LEADER || p == NULL)
        return 0;
    if (tsc__election_is_voter(e, from) && m->stamp > p->contact && m->stamp <= e->now)
        p->contact = m->stamp;
    uint64_t last = tsc__election_last_index(e);
    if (m->success) {
        if (m->index > last)
            return 0;
        if (m->index > p->match_index)
            p->match_index = m->index;
        if (p->next_index < p->match_index + 1)
            p->next_index = p->match_index + 1;
        tsc__election_advance_commit(e);
        if (e->role != TSC_ELECTION_LEADER)
            return 0;
        int rc = tsc__election_transfer_check(e);
        if (rc == 0 && p->next_index <= last && tsc__election_is_voter(e, from))
            rc = tsc__election_send_append(e, p);
        return rc;
    }
    uint64_t next = m->index + 1;
    if (next >= p->next_index)
        next = p->next_index > 1 ? p->next_index - 1 : 1;
    if (next < p->match_index + 1)
        next = p->match_index + 1;
    p->next_index = next;
    if (!tsc__election_is_voter(e, from))
        return 0;
    return tsc__election_send_append(e, p);
}

/* §5.3/§5.4.2: the highest index stored on a majority commits, but only if
 * its entry is of the current term (older entries commit with it). A leader
 * that is no longer in the voter set leads until that change commits, then
 * steps down (thesis §4.2.2). */
void tsc__election_advance_commit(struct tsc_election *e)
{
    uint64_t v[TSC_RAFT_MAX_VOTERS];
    size_t n = 0;
    if (e->role != TSC_ELECTION_LEADER || e->n_voters == 0)
        return;
    for (size_t i = 0; i < e->n_voters; i++) {
        uint64_t c = 0;
        if (e->voters[i] == e->self_id) {
            c = tsc__election_last_index(e);
        } else {
            const struct tsc__epeer *p = tsc__election_peer(e, e->voters[i]);
            c = p ? p->match_index : 0;
        }
        size_t j = n++;
        while (j > 0 && v[j - 1] < c) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = c;
    }
    uint64_t idx = v[tsc__election_quorum(e) - 1];
    if (idx > e->commit && tsc__election_term_at(e, idx) == e->term)
        e->commit = idx;
    if (!tsc__election_is_voter(e, e->self_id) && e->config_index <= e->commit)
        tsc__election_become_follower(e, 0);
}

static int leader_ready(const struct tsc_election *e)
{
    if (e->role != TSC_ELECTION_LEADER || e->transfer_target != 0 || e->leaving)
        return TSC_ESTATE;
    return 0;
}

int tsc__election_cmd_append(struct tsc_election *e, const uint8_t *data, size_t len)
{
    int rc = leader_ready(e);
    if (rc != 0)
        return rc;
    if (len > e->cfg.max_record)
        return TSC_ETOOBIG;
    rc = tsc__election_log_append(e, e->term, TSC_RAFT_ENTRY_DATA, data, len);
    if (rc != 0)
        return rc;
    e->appended = tsc__election_last_index(e);
    tsc__election_advance_commit(e);
    return tsc__election_broadcast_append(e);
}

/* Thesis §4.1 single-server change, with the 2015 fix: one change at a
 * time (the previous CONFIG entry is committed) and only once this leader
 * has committed an entry of its own term. The new set applies on append. */
int tsc__election_cmd_config(struct tsc_election *e, uint64_t id, int add)
{
    int rc = leader_ready(e);
    if (rc != 0)
        return rc;
    if (id == 0)
        return TSC_EINVAL;
    if (e->config_index > e->commit || tsc__election_term_at(e, e->commit) != e->term)
        return TSC_ESTATE;
    uint64_t ids[TSC_RAFT_MAX_VOTERS];
    size_t n = 0;
    int present = tsc__election_is_voter(e, id);
    if (add && present)
        return TSC_EEXIST;
    if (!add && !present)
        return TSC_ENOTFOUND;
    if (add && e->n_voters == TSC_RAFT_MAX_VOTERS)
        return TSC_EFULL;
    if (!add && e->n_voters == 1)
        return TSC_EINVAL; /* the last voter cannot go */
    for (size_t i = 0; i < e->n_voters; i++)
        if (e->voters[i] != id)
            ids[n++] = e->voters[i];
    if (add)
        ids[n++] = id;
    if (add) {
        /* The newcomer has answered nothing yet. Counting it as silent would
         * cut the lease short (1 -> 2 voters: the leader stepped down at
         * once and a second election followed). It inherits the old
         * configuration's quorum contact instead, which is safe for a single
         * added voter: every majority of the new set still contains a member
         * of the old majority that heard from this leader at that time, and
         * it neither campaigns nor votes before its own timeout from then. */
        uint64_t inherited = tsc__election_quorum_contact(e, e->now);
        struct tsc__epeer *p = tsc__election_peer_add(e, id);
        if (p == NULL)
            return e->oom ? TSC_ENOMEM : TSC_EFULL;
        p->match_index = 0;
        p->next_index = tsc__election_last_index(e) + 1;
        p->contact = inherited;
    }
    tsc_buf_reset(&e->tmp);
    rc = tsc_raft_config_encode(&e->tmp, ids, n);
    if (rc == 0)
        rc = tsc__election_log_append(e, e->term, TSC_RAFT_ENTRY_CONFIG, e->tmp.data, e->tmp.len);
    if (rc != 0)
        return rc;
    e->appended = tsc__election_last_index(e);
    tsc__election_advance_commit(e);
    if (e->role != TSC_ELECTION_LEADER)
        return 0;
    return tsc__election_broadcast_append(e);
}

/* Entry 1 of every bootstrapped node: term 1, CONFIG with the initial set,
 * identical on every node given the same set (in the same order). */
int tsc__election_cmd_bootstrap(struct tsc_election *e, const uint64_t *ids, size_t n)
{
    if (e->n_log != 0)
        return TSC_ESTATE;
    if (n == 0 || n > TSC_RAFT_MAX_VOTERS || ids == NULL)
        return TSC_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == 0)
            return TSC_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (ids[j] == ids[i])
                return TSC_EINVAL;
    }
    tsc_buf_reset(&e->tmp);
    int rc = tsc_raft_config_encode(&e->tmp, ids, n);
    if (rc != 0)
        return rc;
    if (e->term < 1) {
        e->term = 1;
        e->persist_state = 1;
    }
    return tsc__election_log_append(e, 1, TSC_RAFT_ENTRY_CONFIG, e->tmp.data, e->tmp.len);
}
