/* tsc — unit tests of the election engine (gossip/election.h) on the
 * in-test network of harness.c: election, pre-vote, lease, fencing,
 * replication and commit, restart, transfer, voter changes, bad input, and
 * randomised safety runs with the invariants checked after every step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/error.h"
#include "common/time.h"
#include "tests/election/harness.h"
#include "wire/raft.h"

static struct eh_net net;

#define LAT_LO TSC_USEC(500)
#define LAT_HI TSC_MSEC(2)

static void assert_no_violation(void)
{
    if (net.violations != 0)
        fail_msg("invariant violated: %s", net.first_violation);
}

static int form(int n, int voters, uint64_t seed)
{
    eh_init(&net, n, voters, NULL, seed, LAT_LO, LAT_HI);
    assert_true(eh_run_while_not(&net, eh_has_agreed_leader, NULL, TSC_SEC(3)));
    return eh_agreed_leader(&net);
}

static const struct tsc_election_stats *st(int i)
{
    return tsc_election_stats(net.e[i]);
}

static void test_single_voter_elects_itself(void **state)
{
    (void)state;
    eh_init(&net, 1, 1, NULL, 1, LAT_LO, LAT_HI);
    /* the bootstrap step itself elected it: no timeout, no messages */
    assert_int_equal(tsc_election_role(net.e[0]), TSC_ELECTION_LEADER);
    assert_true(tsc_election_acting(net.e[0], net.now));
    struct tsc_election_event ev = {
        .type = TSC_ELECTION_EV_APPEND, .data = (const uint8_t *)"run-1", .len = 5};
    struct tsc_election_update up;
    assert_int_equal(eh_event(&net, 0, &ev, &up), 0);
    assert_int_equal(up.appended_index, 3); /* 1 bootstrap, 2 NOOP, 3 record */
    assert_int_equal(up.commit_index, 3);   /* acknowledged at once */
    assert_int_equal(up.n_committed, 1);
    assert_memory_equal(up.committed[0].data, "run-1", 5);
    assert_int_equal(up.n_out, 0);
    eh_run_until(&net, net.now + TSC_SEC(5));
    assert_int_equal(tsc_election_stats(net.e[0])->tx, 0);
    assert_int_equal(tsc_election_term(net.e[0]), 2);
    assert_no_violation();
    eh_free(&net);
}

static void elect_one(int n)
{
    for (uint64_t seed = 1; seed <= 20; seed++) {
        int l = form(n, n, seed);
        assert_int_equal(eh_count_leaders(&net), 1);
        uint64_t term = tsc_election_term(net.e[l]);
        for (int i = 0; i < n; i++)
            assert_int_equal(tsc_election_term(net.e[i]), term);
        /* a healthy cluster stays put: no further elections */
        eh_run_until(&net, net.now + TSC_SEC(5));
        assert_int_equal(eh_agreed_leader(&net), l);
        assert_int_equal(tsc_election_term(net.e[l]), term);
        assert_no_violation();
        eh_free(&net);
    }
}

static void test_three_voters_elect_one(void **state)
{
    (void)state;
    elect_one(3);
}

static void test_five_voters_elect_one(void **state)
{
    (void)state;
    elect_one(5);
}

/* Non-voters never campaign and learn the leader from AppendEntries only if
 * they are voters; they stay quiet followers. */
static void test_non_voters_do_not_campaign(void **state)
{
    (void)state;
    form(5, 3, 7);
    eh_run_until(&net, net.now + TSC_SEC(3));
    for (int i = 3; i < 5; i++) {
        assert_int_equal(tsc_election_role(net.e[i]), TSC_ELECTION_FOLLOWER);
        assert_int_equal(st(i)->prevotes, 0);
        assert_int_equal(st(i)->tx, 0);
    }
    assert_no_violation();
    eh_free(&net);
}

struct not_leader_ctx {
    int old;
};

static int new_leader_known(struct eh_net *n, void *p)
{
    struct not_leader_ctx *c = p;
    int l = eh_agreed_leader(n);
    return l >= 0 && l != c->old;
}

/* Pre-vote (thesis §9.6): a follower cut off for a long time keeps its term;
 * when it comes back, the majority's leader and term are untouched. */
static void test_prevote_rejoin_does_not_disrupt(void **state)
{
    (void)state;
    int l = form(5, 5, 3);
    int x = (l + 1) % 5;
    uint64_t term = tsc_election_term(net.e[l]);
    eh_isolate(&net, 1u << x);
    eh_run_until(&net, net.now + TSC_SEC(5));
    assert_true(st(x)->prevotes >= 5);
    assert_int_equal(st(x)->elections, 0);
    assert_int_equal(tsc_election_term(net.e[x]), term);
    assert_int_equal(eh_agreed_leader(&net) < 0, 1); /* x does not agree yet */
    eh_heal(&net);
    eh_run_until(&net, net.now + TSC_SEC(2));
    assert_int_equal(eh_agreed_leader(&net), l);
    assert_int_equal(tsc_election_term(net.e[l]), term);
    assert_no_violation();
    eh_free(&net);
}

/* The lease: a leader cut away from the majority stops acting within the
 * lease and steps down one minimum election timeout later; the majority
 * elects a new one; after healing the old leader follows. Its term never
 * moved, so it disrupts nothing. */
static void test_isolated_leader_steps_down_within_lease(void **state)
{
    (void)state;
    int l = form(5, 5, 5);
    uint64_t term = tsc_election_term(net.e[l]);
    uint64_t t0 = net.now;
    eh_isolate(&net, 1u << l);
    while (tsc_election_acting(net.e[l], net.now))
        eh_run_until(&net, net.now + TSC_USEC(100));
    /* answers to a heartbeat sent up to one interval before the cut, + lease */
    assert_true(net.now - t0 <= net.cfg.election_timeout_min + net.cfg.heartbeat_interval);
    uint64_t t1 = net.now;
    assert_int_equal(tsc_election_role(net.e[l]), TSC_ELECTION_LEADER); /* not acting only */
    while (tsc_election_role(net.e[l]) == TSC_ELECTION_LEADER)
        eh_run_until(&net, net.now + TSC_USEC(100));
    assert_true(net.now - t1 >= net.cfg.election_timeout_min - TSC_MSEC(1));
    assert_true(net.now - t1 <= net.cfg.election_timeout_min + TSC_MSEC(1));
    assert_int_equal(st(l)->lease_stepdowns, 1);
    eh_run_until(&net, net.now + TSC_SEC(2));
    assert_int_equal(tsc_election_term(net.e[l]), term);
    eh_heal(&net);
    struct not_leader_ctx c = {l};
    assert_true(eh_run_while_not(&net, new_leader_known, &c, TSC_SEC(2)));
    assert_int_equal(tsc_election_role(net.e[l]), TSC_ELECTION_FOLLOWER);
    assert_no_violation();
    eh_free(&net);
}

/* An asymmetric partition: x stops hearing the leader but everyone hears x.
 * x's pre-votes are refused by followers that hear the leader (stickiness,
 * thesis §4.2.3), so the leader and term stay, with no second acting leader. */
static void test_one_way_cut_does_not_disrupt(void **state)
{
    (void)state;
    for (uint64_t seed = 40; seed < 60; seed++) {
        int l = form(5, 5, seed);
        int x = (l + 2) % 5;
        uint64_t term = tsc_election_term(net.e[l]);
        net.cut[l][x] = 1;
        eh_run_until(&net, net.now + TSC_SEC(3));
        assert_true(st(x)->prevotes > 0);
        assert_int_equal(tsc_election_role(net.e[l]), TSC_ELECTION_LEADER);
        assert_int_equal(tsc_election_term(net.e[l]), term);
        assert_int_equal(st(l)->lease_stepdowns, 0);
        eh_heal(&net);
        eh_run_until(&net, net.now + TSC_SEC(1));
        assert_int_equal(eh_agreed_leader(&net), l);
        assert_no_violation();
        eh_free(&net);
    }
}

/* Seal a hand-made AppendEntries from node `from` with a given term. */
static size_t forge_append(int from, uint64_t term, uint64_t seq, uint8_t *out, size_t cap)
{
    struct tsc_buf body, frame;
    tsc_buf_init(&body);
    tsc_buf_init(&frame);
    struct tsc_raft_append m = {.term = term, .prev_index = 0, .prev_term = 0, .commit = 0};
    struct tsc_raft_append_writer w;
    assert_int_equal(tsc_raft_append_begin(&w, &body, &m), 0);
    assert_int_equal(
        tsc_raft_append_add(&w, term, TSC_RAFT_ENTRY_DATA, (const uint8_t *)"evil", 4, 1000), 0);
    tsc_raft_append_finish(&w);
    struct tsc_envelope env = {.sender = net.id[from],
                               .seq = seq,
                               .type = TSC_MSG_RAFT_APPEND,
                               .body = body.data,
                               .body_len = body.len};
    uint8_t nonce[TSC_NONCE_BYTES] = {(uint8_t)seq, 1, 2, 3};
    assert_int_equal(tsc_wire_seal(&net.wire, &env, nonce, TSC_WIRE_MAX_DATAGRAM, &frame), 0);
    assert_true(frame.len <= cap);
    memcpy(out, frame.data, frame.len);
    size_t n = frame.len;
    tsc_buf_free(&body);
    tsc_buf_free(&frame);
    return n;
}

/* Fencing: a message with a lower term changes nothing (it is answered with
 * the current term so a deposed leader learns). */
static void test_lower_terms_are_fenced(void **state)
{
    (void)state;
    int l = form(3, 3, 11);
    int f = (l + 1) % 3;
    uint64_t term = tsc_election_term(net.e[f]);
    uint64_t last = tsc_election_last_index(net.e[f]);
    uint64_t stale = st(f)->stale_term;
    uint8_t frame[1400];
    size_t n = forge_append(l, term - 1, UINT64_MAX / 2, frame, sizeof frame);
    eh_inject(&net, l, f, frame, n);
    assert_int_equal(st(f)->stale_term, stale + 1);
    assert_int_equal(tsc_election_term(net.e[f]), term);
    assert_int_equal(tsc_election_last_index(net.e[f]), last);
    assert_int_equal(tsc_election_leader(net.e[f]), net.id[l]);
    /* an old leader restarted from its disk follows and does not disrupt */
    eh_crash(&net, l);
    struct not_leader_ctx c = {l};
    assert_true(eh_run_while_not(&net, new_leader_known, &c, TSC_SEC(3)));
    int nl = eh_agreed_leader(&net);
    uint64_t term2 = tsc_election_term(net.e[nl]);
    eh_start(&net, l);
    eh_run_until(&net, net.now + TSC_SEC(2));
    assert_int_equal(eh_agreed_leader(&net), nl);
    assert_int_equal(tsc_election_term(net.e[nl]), term2);
    assert_int_equal(tsc_election_leader(net.e[l]), net.id[nl]);
    assert_no_violation();
    eh_free(&net);
}

struct committed_ctx {
    uint64_t index;
};

static int all_committed(struct eh_net *n, void *p)
{
    struct committed_ctx *c = p;
    for (int i = 0; i < n->n_voters; i++)
        if (n->e[i] && tsc_election_commit_index(n->e[i]) < c->index)
            return 0;
    return 1;
}

/* Replication: many records, some large (several datagrams), one larger
 * than a datagram (stream frame); all commit everywhere, logs identical,
 * datagrams within 1400 bytes. */
static void test_replication_and_commit(void **state)
{
    (void)state;
    int l = form(5, 5, 13);
    static char big[20000];
    memset(big, 'x', sizeof big - 1);
    for (int k = 0; k < 100; k++) {
        char rec[1200];
        int len = snprintf(rec, sizeof rec, "record-%d-", k);
        if (k % 10 == 0) {
            memset(rec + len, 'a' + k % 26, 900);
            rec[len + 900] = 0;
        }
        assert_int_equal(eh_append(&net, k == 50 ? big : rec), 0);
        if (k % 7 == 0)
            eh_run_until(&net, net.now + TSC_MSEC(3));
    }
    struct committed_ctx c = {tsc_election_last_index(net.e[l])};
    assert_true(eh_run_while_not(&net, all_committed, &c, TSC_SEC(3)));
    assert_true(net.n_acked >= c.index);
    assert_true(net.max_datagram_seen <= TSC_WIRE_MAX_DATAGRAM);
    assert_true(net.streams_seen > 0);
    eh_check_logs(&net);
    for (int i = 0; i < 5; i++)
        assert_int_equal(tsc_election_last_index(net.e[i]), c.index);
    /* non-leaders refuse records */
    struct tsc_election_event ev = {
        .type = TSC_ELECTION_EV_APPEND, .data = (const uint8_t *)"x", .len = 1};
    struct tsc_election_update up;
    assert_int_equal(eh_event(&net, (l + 1) % 5, &ev, &up), TSC_ESTATE);
    assert_no_violation();
    eh_free(&net);
}

/* Restart every node from what it persisted: same log, a new leader at a
 * higher term, and every acknowledged record still there. */
static void test_restart_from_persisted_state(void **state)
{
    (void)state;
    int l = form(3, 3, 17);
    for (int k = 0; k < 20; k++) {
        char rec[32];
        snprintf(rec, sizeof rec, "before-%d", k);
        assert_int_equal(eh_append(&net, rec), 0);
    }
    struct committed_ctx c = {tsc_election_last_index(net.e[l])};
    assert_true(eh_run_while_not(&net, all_committed, &c, TSC_SEC(2)));
    uint64_t term = tsc_election_term(net.e[l]);
    size_t acked = net.n_acked;
    for (int i = 0; i < 3; i++)
        eh_crash(&net, i);
    eh_run_until(&net, net.now + TSC_SEC(1));
    for (int i = 0; i < 3; i++) {
        eh_start(&net, i);
        assert_int_equal(tsc_election_term(net.e[i]), term);
        assert_true(tsc_election_last_index(net.e[i]) >= acked);
    }
    assert_true(eh_run_while_not(&net, eh_has_agreed_leader, NULL, TSC_SEC(3)));
    int nl = eh_agreed_leader(&net);
    assert_true(tsc_election_term(net.e[nl]) > term);
    assert_int_equal(eh_append(&net, "after"), 0);
    c.index = tsc_election_last_index(net.e[nl]);
    assert_true(eh_run_while_not(&net, all_committed, &c, TSC_SEC(2)));
    eh_check_logs(&net);
    assert_no_violation();
    eh_free(&net);
}

/* Graceful leave (thesis §3.10): the leader hands over to an up-to-date
 * follower with TimeoutNow; a new leader is known well before any election
 * timeout could have fired, and the leaver never campaigns again. */
static void test_leadership_transfer_on_leave(void **state)
{
    (void)state;
    int l = form(3, 3, 19);
    assert_int_equal(eh_append(&net, "pending"), 0);
    uint64_t t0 = net.now;
    struct tsc_election_event ev = {.type = TSC_ELECTION_EV_LEAVE};
    struct tsc_election_update up;
    assert_int_equal(eh_event(&net, l, &ev, &up), 0);
    struct tsc_election_event app = {
        .type = TSC_ELECTION_EV_APPEND, .data = (const uint8_t *)"x", .len = 1};
    assert_int_equal(eh_event(&net, l, &app, &up), TSC_ESTATE);
    struct not_leader_ctx c = {l};
    assert_true(eh_run_while_not(&net, new_leader_known, &c, TSC_SEC(1)));
    uint64_t took = net.now - t0;
    printf("leadership transfer: new leader known after %.1f ms (virtual)\n",
           (double)took / 1000.0);
    assert_true(took < net.cfg.election_timeout_min);
    assert_int_equal(st(l)->transfers, 1);
    struct tsc_election_event tick = {.type = TSC_ELECTION_EV_TICK};
    assert_int_equal(eh_event(&net, l, &tick, &up), 0);
    assert_true(up.leave_done);
    uint64_t el = st(l)->elections + st(l)->prevotes;
    eh_crash(&net, eh_agreed_leader(&net)); /* even when the new leader dies */
    eh_run_until(&net, net.now + TSC_SEC(2));
    assert_int_equal(st(l)->elections + st(l)->prevotes, el);
    assert_no_violation();
    eh_free(&net);
}

static int config_step(int leader, int type, uint64_t id)
{
    struct tsc_election_event ev = {.type = type, .id = id};
    struct tsc_election_update up;
    return eh_event(&net, leader, &ev, &up);
}

/* Every node of the first `want` (the voters, by construction) sees `want`
 * voters, and the leader has committed all it has. */
static int all_have_voters(struct eh_net *n, void *p)
{
    size_t want = *(size_t *)p;
    for (int i = 0; i < (int)want; i++) {
        const uint64_t *ids;
        if (n->e[i] && tsc_election_voters(n->e[i], &ids) != want)
            return 0;
    }
    int l = eh_agreed_leader(n);
    return l >= 0 && tsc_election_commit_index(n->e[l]) == tsc_election_last_index(n->e[l]);
}

/* A leader other than c->old that every other node follows. */
static int others_agree(struct eh_net *n, void *p)
{
    struct not_leader_ctx *c = p;
    int leader = -1;
    for (int i = 0; i < n->n; i++) {
        if (i == c->old)
            continue;
        int l = eh_index_of(n, tsc_election_leader(n->e[i]));
        if (l < 0 || l == c->old || (leader >= 0 && l != leader))
            return 0;
        leader = l;
    }
    return tsc_election_acting(n->e[leader], n->now);
}

/* Voter changes, one at a time (thesis §4.1): add two non-voters, then
 * remove the leader itself; it steps down once the removal commits. */
static void test_voter_changes_one_at_a_time(void **state)
{
    (void)state;
    int l = form(5, 3, 23);
    /* let the NOOP of this term commit first */
    eh_run_until(&net, net.now + TSC_MSEC(100));
    assert_int_equal(config_step(l, TSC_ELECTION_EV_ADD_VOTER, net.id[3]), 0);
    /* a second change before the first commits is refused */
    assert_int_equal(config_step(l, TSC_ELECTION_EV_ADD_VOTER, net.id[4]), TSC_ESTATE);
    size_t want = 4;
    assert_true(eh_run_while_not(&net, all_have_voters, &want, TSC_SEC(2)));
    assert_int_equal(config_step(l, TSC_ELECTION_EV_ADD_VOTER, net.id[3]), TSC_EEXIST);
    assert_int_equal(config_step(l, TSC_ELECTION_EV_ADD_VOTER, net.id[4]), 0);
    want = 5;
    assert_true(eh_run_while_not(&net, all_have_voters, &want, TSC_SEC(2)));
    net.n_voters = 5;
    assert_int_equal(config_step(l, TSC_ELECTION_EV_REMOVE_VOTER, net.id[l]), 0);
    struct not_leader_ctx c = {l};
    assert_true(eh_run_while_not(&net, others_agree, &c, TSC_SEC(3)));
    const uint64_t *ids;
    for (int i = 0; i < 5; i++)
        assert_int_equal(tsc_election_voters(net.e[i], &ids), 4);
    assert_false(tsc_election_is_voter(net.e[l], net.id[l]));
    assert_int_equal(tsc_election_role(net.e[l]), TSC_ELECTION_FOLLOWER);
    assert_no_violation();
    eh_free(&net);
}

/* Garbage of every kind is counted, never fatal, and changes nothing. */
static void test_bad_input_is_counted(void **state)
{
    (void)state;
    int l = form(3, 3, 29);
    int f = (l + 1) % 3;
    uint64_t term = tsc_election_term(net.e[f]);
    uint64_t last = tsc_election_last_index(net.e[f]);
    uint8_t junk[1400];
    struct tsc_prng r;
    tsc_prng_seed(&r, 99);
    for (int k = 0; k < 2000; k++) {
        size_t n = tsc_prng_below(&r, sizeof junk);
        for (size_t i = 0; i < n; i++)
            junk[i] = (uint8_t)tsc_prng_next(&r);
        if (k % 2)
            junk[0] = TSC_WIRE_VERSION;
        eh_inject(&net, l, f, junk, n);
    }
    eh_inject(&net, l, f, NULL, 0);
    /* validly sealed, but the body is garbage, for every message type */
    for (uint8_t type = TSC_MSG_RAFT_VOTE; type <= TSC_MSG_RAFT_TIMEOUT_NOW + 1; type++) {
        struct tsc_buf frame;
        tsc_buf_init(&frame);
        uint8_t body[] = {0x93, 0x01, 0xc3, 0xff};
        /* from an id nobody knows, so the real peers' replay windows stay */
        struct tsc_envelope env = {.sender = 0x7777,
                                   .seq = UINT64_MAX / 2 + type,
                                   .type = type,
                                   .body = body,
                                   .body_len = sizeof body};
        uint8_t nonce[TSC_NONCE_BYTES] = {type};
        assert_int_equal(tsc_wire_seal(&net.wire, &env, nonce, 1400, &frame), 0);
        eh_inject(&net, l, f, frame.data, frame.len);
        /* the same frame again is a replay */
        eh_inject(&net, l, f, frame.data, frame.len);
        tsc_buf_free(&frame);
    }
    /* another cluster's key */
    struct tsc_buf frame;
    tsc_buf_init(&frame);
    uint8_t body[] = {0x91, 0x05};
    struct tsc_envelope env = {.sender = net.id[l],
                               .seq = 5,
                               .type = TSC_MSG_RAFT_TIMEOUT_NOW,
                               .body = body,
                               .body_len = 2};
    uint8_t nonce[TSC_NONCE_BYTES] = {7};
    assert_int_equal(tsc_wire_seal(&net.other_wire, &env, nonce, 1400, &frame), 0);
    eh_inject(&net, l, f, frame.data, frame.len);
    tsc_buf_free(&frame);

    const struct tsc_election_stats *s = st(f);
    assert_true(s->rejected >= 2000);
    assert_true(s->rejected_malformed >= 6);
    assert_true(s->rejected_replay >= 6);
    assert_true(s->rejected_auth >= 500);
    assert_int_equal(s->rejected, s->rejected_auth + s->rejected_replay + s->rejected_malformed +
                                      s->rejected_cluster);
    assert_int_equal(tsc_election_term(net.e[f]), term);
    assert_int_equal(tsc_election_last_index(net.e[f]), last);
    /* bad events are refused, not fatal */
    struct tsc_election_event ev = {.type = 999};
    struct tsc_election_update up;
    ev.now = net.now;
    assert_int_equal(tsc_election_step(net.e[f], &ev, &up), TSC_EINVAL);
    struct tsc_election_event boot = {
        .type = TSC_ELECTION_EV_BOOTSTRAP, .ids = &net.id[0], .n_ids = 1};
    boot.now = net.now;
    assert_int_equal(tsc_election_step(net.e[f], &boot, &up), TSC_ESTATE);
    eh_run_until(&net, net.now + TSC_SEC(1));
    assert_int_equal(eh_agreed_leader(&net), l);
    assert_no_violation();
    eh_free(&net);
}

/* Every allocation of creation, bootstrap, election and an append fails in
 * turn: each call returns 0 or TSC_ENOMEM, never crashes, never leaks (the
 * ASan build checks), and the engine stays usable. */
static void test_allocation_failures(void **state)
{
    (void)state;
    struct tsc_election_config cfg;
    tsc_election_config_default(&cfg);
    uint8_t key[32] = {1};
    struct tsc_wire wire;
    tsc_wire_init(&wire, key, &tsc_crypto_cheap);
    uint64_t self = 0x42, other = 0x43;
    struct tsc_election_peer peer = {.id = other, .addr = {.ip = 0xC6120002u, .port = 1}};
    for (unsigned long k = 1; k < 60; k++) {
        struct tsc_election *e = NULL;
        struct tsc_election_update up;
        char err[TSC_ERRMSG_SIZE];
        tsc_alloc_fail_after(k);
        int rc = tsc_election_new(&e, &cfg, &wire, self, 1, NULL, 0, err);
        if (rc != 0) {
            assert_int_equal(rc, TSC_ENOMEM);
            continue;
        }
        uint64_t ids[1] = {self};
        struct tsc_election_event evs[] = {
            {.type = TSC_ELECTION_EV_PEERS, .peers = &peer, .n_peers = 1},
            {.type = TSC_ELECTION_EV_BOOTSTRAP, .ids = ids, .n_ids = 1},
            {.type = TSC_ELECTION_EV_APPEND, .data = (const uint8_t *)"abc", .len = 3},
            {.type = TSC_ELECTION_EV_ADD_VOTER, .id = other},
            {.type = TSC_ELECTION_EV_TICK, .now = TSC_SEC(1)},
        };
        for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
            rc = tsc_election_step(e, &evs[i], &up);
            assert_true(rc == 0 || rc == TSC_ENOMEM || rc == TSC_ESTATE);
        }
        tsc_alloc_fail_after(0);
        tsc_election_free(e);
    }
    tsc_alloc_fail_after(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_voter_elects_itself),
        cmocka_unit_test(test_three_voters_elect_one),
        cmocka_unit_test(test_five_voters_elect_one),
        cmocka_unit_test(test_non_voters_do_not_campaign),
        cmocka_unit_test(test_prevote_rejoin_does_not_disrupt),
        cmocka_unit_test(test_isolated_leader_steps_down_within_lease),
        cmocka_unit_test(test_one_way_cut_does_not_disrupt),
        cmocka_unit_test(test_lower_terms_are_fenced),
        cmocka_unit_test(test_replication_and_commit),
        cmocka_unit_test(test_restart_from_persisted_state),
        cmocka_unit_test(test_leadership_transfer_on_leave),
        cmocka_unit_test(test_voter_changes_one_at_a_time),
        cmocka_unit_test(test_bad_input_is_counted),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
