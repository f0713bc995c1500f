/* tsc — roles and elections: pre-vote and vote (Raft §5.2, thesis §9.6),
 * leader stickiness (thesis §4.2.3), the leader's lease, and leadership
 * transfer on leave (thesis §3.10). */
#include <string.h>

#include "common/error.h"
#include "gossip/election_internal.h"

int tsc__election_is_voter(const struct tsc_election *e, uint64_t id)
{
    for (size_t i = 0; i < e->n_voters; i++)
        if (e->voters[i] == id)
            return 1;
    return 0;
}

size_t tsc__election_quorum(const struct tsc_election *e)
{
    return e->n_voters / 2 + 1;
}

/* Everyone but the leader runs the election timer; hearing from a leader,
 * granting a vote or starting a round re-arms it with a fresh random value
 * (§5.2: randomised timeouts make split votes rare). */
void tsc__election_become_follower(struct tsc_election *e, uint64_t leader)
{
    e->role = TSC_ELECTION_FOLLOWER;
    e->leader_id = leader;
    e->transfer_target = 0;
    e->transfer_sent = 0;
    e->election_deadline = e->now + tsc__election_random_timeout(e);
    if (leader != 0)
        e->last_heard = e->now;
}

void tsc__election_new_term(struct tsc_election *e, uint64_t term)
{
    e->term = term;
    e->voted_for = 0;
    e->persist_state = 1;
    tsc__election_become_follower(e, 0);
}

/* Leader stickiness (thesis §4.2.3) and the follower half of the lease: a
 * node that heard from a live leader within the minimum election timeout
 * neither votes nor adopts a candidate's term. A fresh engine waits as long,
 * because before its restart it may have been that follower. A leader is
 * sticky to itself until it hands over. */
static int sticky(const struct tsc_election *e)
{
    if (e->role == TSC_ELECTION_LEADER)
        return !e->transfer_sent;
    return e->role == TSC_ELECTION_FOLLOWER && e->now < e->last_heard + e->cfg.election_timeout_min;
}

/* §5.4.1: the candidate's log is at least as up to date as ours. */
static int up_to_date(const struct tsc_election *e, const struct tsc_raft_vote *m)
{
    uint64_t last = tsc__election_last_index(e);
    uint64_t last_term = tsc__election_term_at(e, last);
    return m->last_term > last_term || (m->last_term == last_term && m->last_index >= last);
}

static size_t count_grants(const struct tsc_election *e)
{
    size_t n = tsc__election_is_voter(e, e->self_id);
    for (size_t i = 0; i < e->n_peers; i++)
        n += e->peers[i].granted && tsc__election_is_voter(e, e->peers[i].id);
    return n;
}

static void clear_grants(struct tsc_election *e)
{
    for (size_t i = 0; i < e->n_peers; i++)
        e->peers[i].granted = 0;
}

static int send_vote_requests(struct tsc_election *e, uint64_t term, unsigned flags)
{
    uint64_t last = tsc__election_last_index(e);
    struct tsc_raft_vote m = {
        .term = term,
        .last_index = last,
        .last_term = tsc__election_term_at(e, last),
        .flags = flags,
    };
    tsc_buf_reset(&e->body);
    int rc = tsc_raft_vote_encode(&e->body, &m);
    for (size_t i = 0; rc == 0 && i < e->n_voters; i++)
        if (e->voters[i] != e->self_id)
            rc = tsc__election_send(e, TSC_ELECTION_OUT_DATAGRAM, e->voters[i], TSC_MSG_RAFT_VOTE,
                                    e->body.data, e->body.len);
    return rc;
}

/* §5.3 and thesis §6.4: a new leader starts every follower at its own log's
 * end, appends a NOOP of its term (so that entries of earlier terms can
 * commit, and it learns the commit index), and announces itself at once.
 * Its lease starts only when a majority answers an AppendEntries: votes do
 * not stop their givers from voting again in a later term. */
static int become_leader(struct tsc_election *e)
{
    e->role = TSC_ELECTION_LEADER;
    e->leader_id = e->self_id;
    e->transfer_target = 0;
    e->transfer_sent = 0;
    e->round_started = e->now; /* the leadership's start: lease grace until +lease */
    e->stats.became_leader++;
    uint64_t next = tsc__election_last_index(e) + 1;
    for (size_t i = 0; i < e->n_peers; i++) {
        e->peers[i].next_index = next;
        e->peers[i].match_index = 0;
        e->peers[i].contact = 0;
    }
    for (size_t i = 0; i < e->n_voters; i++)
        if (e->voters[i] != e->self_id && tsc__election_peer_add(e, e->voters[i]) == NULL && e->oom)
            return TSC_ENOMEM;
    int rc = tsc__election_log_append(e, e->term, TSC_RAFT_ENTRY_NOOP, NULL, 0);
    if (rc != 0)
        return rc;
    e->next_heartbeat = e->now + e->cfg.heartbeat_interval;
    tsc__election_advance_commit(e);
    if (e->role != TSC_ELECTION_LEADER)
        return 0;
    return tsc__election_broadcast_append(e);
}

/* Thesis §9.6: ask for votes for term+1 without changing any term. Only a
 * majority of pre-votes leads to a real election, so a node that cannot
 * reach a majority never raises terms and cannot disrupt anyone later. */
int tsc__election_start_prevote(struct tsc_election *e)
{
    if (!tsc__election_is_voter(e, e->self_id))
        return 0;
    e->role = TSC_ELECTION_PRECANDIDATE;
    e->leader_id = 0;
    e->round_started = e->now;
    e->election_deadline = e->now + tsc__election_random_timeout(e);
    e->stats.prevotes++;
    clear_grants(e);
    if (count_grants(e) >= tsc__election_quorum(e))
        return tsc__election_start_election(e, 0);
    return send_vote_requests(e, e->term + 1, TSC_RAFT_VOTE_PRE);
}

/* §5.2: bump the term, vote for ourselves (persisted with the term before
 * any request leaves, by the update's ordering), ask every voter. */
int tsc__election_start_election(struct tsc_election *e, int transfer)
{
    if (!tsc__election_is_voter(e, e->self_id))
        return 0;
    e->term++;
    e->voted_for = e->self_id;
    e->persist_state = 1;
    e->role = TSC_ELECTION_CANDIDATE;
    e->leader_id = 0;
    e->round_started = e->now;
    e->election_deadline = e->now + tsc__election_random_timeout(e);
    e->stats.elections++;
    clear_grants(e);
    if (count_grants(e) >= tsc__election_quorum(e))
        return become_leader(e);
    return send_vote_requests(e, e->term, transfer ? TSC_RAFT_VOTE_TRANSFER : 0);
}

static int reply_vote(struct tsc_election *e, uint64_t to, const struct tsc_raft_vote_resp *r)
{
    tsc_buf_reset(&e->body);
    int rc = tsc_raft_vote_resp_encode(&e->body, r);
    if (rc != 0)
        return rc;
    return tsc__election_send(e, TSC_ELECTION_OUT_DATAGRAM, to, TSC_MSG_RAFT_VOTE_RESP,
                              e->body.data, e->body.len);
}

/* RequestVote and pre-vote, receiver side (§5.2, §5.4.1, thesis §9.6,
 * §4.2.3). A lower term is refused with ours, so the sender catches up.
 * While sticky, requests are dropped without adopting their term. A pre-vote
 * is granted for a term above ours to an up-to-date log and changes nothing
 * here; a real vote adopts the term and is granted once per term. */
int tsc__election_on_vote(struct tsc_election *e, uint64_t from, const struct tsc_raft_vote *m)
{
    int pre = (m->flags & TSC_RAFT_VOTE_PRE) != 0;
    struct tsc_raft_vote_resp r = {.term = e->term, .granted = 0, .prevote = pre};
    if (m->term < e->term) {
        e->stats.stale_term++;
        return reply_vote(e, from, &r);
    }
    if (!(m->flags & TSC_RAFT_VOTE_TRANSFER) && sticky(e))
        return 0;
    if (pre) {
        if (m->term > e->term && up_to_date(e, m)) {
            r.term = m->term;
            r.granted = 1;
        }
        return reply_vote(e, from, &r);
    }
    if (m->term > e->term)
        tsc__election_new_term(e, m->term);
    r.term = e->term;
    if ((e->voted_for == 0 || e->voted_for == from) && up_to_date(e, m)) {
        if (e->voted_for != from)
            e->persist_state = 1;
        e->voted_for = from;
        e->election_deadline = e->now + tsc__election_random_timeout(e);
        r.granted = 1;
    }
    return reply_vote(e, from, &r);
}

/* Answers to our (pre-)vote requests. A granted pre-vote comes back with
 * term+1 (the term we asked about); a refusal carrying a higher term makes
 * us adopt it. Grants only count from voters, in the current round. */
int tsc__election_on_vote_resp(struct tsc_election *e, uint64_t from,
                               const struct tsc_raft_vote_resp *m)
{
    struct tsc__epeer *p = tsc__election_peer(e, from);
    if (m->prevote) {
        if (e->role == TSC_ELECTION_PRECANDIDATE && m->granted && m->term == e->term + 1) {
            if (p != NULL && tsc__election_is_voter(e, from))
                p->granted = 1;
            if (count_grants(e) >= tsc__election_quorum(e))
                return tsc__election_start_election(e, 0);
        } else if (!m->granted && m->term > e->term) {
            tsc__election_new_term(e, m->term);
        }
        return 0;
    }
    if (m->term > e->term) {
        tsc__election_new_term(e, m->term);
        return 0;
    }
    if (m->term < e->term) {
        e->stats.stale_term++;
        return 0;
    }
    if (e->role != TSC_ELECTION_CANDIDATE || !m->granted || p == NULL ||
        !tsc__election_is_voter(e, from))
        return 0;
    p->granted = 1;
    if (count_grants(e) >= tsc__election_quorum(e))
        return become_leader(e);
    return 0;
}

/* Thesis §3.10: the leader asks us to campaign now, skipping the pre-vote
 * (the leader vouches that we are up to date). */
int tsc__election_on_timeout_now(struct tsc_election *e, uint64_t from, uint64_t term)
{
    if (term < e->term) {
        e->stats.stale_term++;
        return 0;
    }
    if (term > e->term)
        tsc__election_new_term(e, term);
    if (e->role == TSC_ELECTION_LEADER || e->leaving)
        return 0;
    return tsc__election_start_election(e, 1);
}

/* The send time of the newest AppendEntries that a majority has answered;
 * this node counts as answering now. Contacts come only from answers in the
 * current leadership (reset by become_leader). */
uint64_t tsc__election_quorum_contact(const struct tsc_election *e, uint64_t now)
{
    uint64_t v[TSC_RAFT_MAX_VOTERS];
    size_t n = 0;
    if (e->n_voters == 0)
        return now;
    for (size_t i = 0; i < e->n_voters; i++) {
        uint64_t c = 0;
        if (e->voters[i] == e->self_id) {
            c = now;
        } else {
            const struct tsc__epeer *p = tsc__election_peer((struct tsc_election *)e, e->voters[i]);
            c = p ? p->contact : 0;
        }
        size_t j = n++;
        while (j > 0 && v[j - 1] < c) { /* insertion sort, descending */
            v[j] = v[j - 1];
            j--;
        }
        v[j] = c;
    }
    return v[tsc__election_quorum(e) - 1];
}

/* When the leader must have heard from a majority again or step down. A new
 * leader gets one lease from its election before the first answers count. */
uint64_t tsc__election_lease_deadline(const struct tsc_election *e)
{
    uint64_t c = tsc__election_quorum_contact(e, e->now);
    if (c < e->round_started)
        c = e->round_started;
    return c + e->cfg.lease;
}

/* When a leader without answers from a majority steps down: one minimum
 * election timeout after its lease lapsed. In between it does not act
 * (tsc_election_acting) but keeps sending heartbeats. A majority's answers
 * that are merely late -- a loaded host, where the leader or its followers
 * waited for a CPU longer than the lease -- then renew the lease in the
 * same term, instead of a step-down that leaves every follower without
 * heartbeats and forces an election. Safety does not change: acting still
 * ends with the lease, before any follower that heard from this leader will
 * vote for another; a leader that is really cut off still steps down, and a
 * higher term deposes it at once. */
uint64_t tsc__election_stepdown_deadline(const struct tsc_election *e)
{
    return tsc__election_lease_deadline(e) + e->cfg.election_timeout_min;
}

int tsc__election_leader_tick(struct tsc_election *e)
{
    if (e->now >= tsc__election_stepdown_deadline(e)) {
        e->stats.lease_stepdowns++;
        tsc__election_become_follower(e, 0);
        return 0;
    }
    if (e->transfer_target != 0 && e->now >= e->transfer_deadline) {
        /* Not done within an election timeout: give up (thesis §3.10), and
         * when leaving, try again, maybe with another follower. */
        e->transfer_target = 0;
        e->transfer_sent = 0;
        if (e->leaving)
            return tsc__election_leave(e);
    }
    if (e->now >= e->next_heartbeat) {
        e->next_heartbeat = e->now + e->cfg.heartbeat_interval;
        return tsc__election_broadcast_append(e);
    }
    return 0;
}

int tsc__election_transfer_check(struct tsc_election *e)
{
    if (e->role != TSC_ELECTION_LEADER || e->transfer_target == 0 || e->transfer_sent)
        return 0;
    struct tsc__epeer *p = tsc__election_peer(e, e->transfer_target);
    if (p == NULL || p->match_index < tsc__election_last_index(e))
        return 0;
    tsc_buf_reset(&e->body);
    int rc = tsc_raft_timeout_now_encode(&e->body, e->term);
    if (rc == 0)
        rc = tsc__election_send(e, TSC_ELECTION_OUT_DATAGRAM, p->id, TSC_MSG_RAFT_TIMEOUT_NOW,
                                e->body.data, e->body.len);
    if (rc == 0) {
        e->transfer_sent = 1;
        e->stats.transfers++;
    }
    return rc;
}

/* Graceful leave (thesis §3.10): pick the voter with the most of our log,
 * stop taking records, catch it up and tell it to campaign. A leader with
 * nobody to hand over to just steps down. */
int tsc__election_leave(struct tsc_election *e)
{
    e->leaving = 1;
    if (e->role != TSC_ELECTION_LEADER)
        return 0;
    struct tsc__epeer *best = NULL;
    for (size_t i = 0; i < e->n_voters; i++) {
        struct tsc__epeer *p = tsc__election_peer(e, e->voters[i]);
        if (e->voters[i] != e->self_id && p != NULL && p->has_addr &&
            (best == NULL || p->match_index > best->match_index))
            best = p;
    }
    if (best == NULL) {
        tsc__election_become_follower(e, 0);
        return 0;
    }
    e->transfer_target = best->id;
    e->transfer_deadline = e->now + e->cfg.election_timeout_max;
    e->transfer_sent = 0;
    if (best->match_index < tsc__election_last_index(e))
        return tsc__election_send_append(e, best);
    return tsc__election_transfer_check(e);
}
