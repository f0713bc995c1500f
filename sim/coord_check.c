/* tsc — the election's invariants, checked after every election step:
 *   - election safety: at most one leader per term (Raft §5.2);
 *   - committed records: every node reports the same entry at each committed
 *     index (§5.4.3); a node that becomes leader holds every committed entry
 *     (leader completeness, §5.4); no node's disk rewrites a committed index
 *     (checked where the disk is written, sim/coord.c). The client's records
 *     are acknowledged exactly when committed, so "no acknowledged record is
 *     lost or changed" is these three together;
 *   - acting: at most one node is an acting coordinator (a leader inside its
 *     lease, tsc_election_acting) at any instant, and a leader that cannot
 *     exchange messages with a majority of its voters (crashes, partitions,
 *     one-way cuts) stops acting within its lease of losing them: a minority
 *     side never has an acting coordinator once the lease that the majority
 *     granted before the cut has run out (lease / rate in virtual time, the
 *     leader's clock being the one that measures it);
 *   - no honest election frame is rejected as forged or malformed.
 * Liveness ("within a bounded time after faults stop, one coordinator that
 * every live member knows") is tsc_sim_coord_agreed, which the scenarios
 * wait for. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "sim/coord.h"

static int same_entry(const struct tsc_election_entry *a, const struct tsc_election_entry *b)
{
    return a->term == b->term && a->type == b->type && a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static int linked_now(struct tsc_sim_world *w, uint32_t a, uint32_t b)
{
    return w->nodes[a].state == TSC_SIM_NODE_UP && w->nodes[b].state == TSC_SIM_NODE_UP &&
           !tsc_sim_net_cut(&w->net, a, b) && !tsc_sim_net_cut(&w->net, b, a);
}

void tsc_sim_coord_reach_update(struct tsc_sim_world *w)
{
    struct tsc_sim_coord *co = w->coord;
    if (co == NULL)
        return;
    for (uint32_t a = 0; a < co->voters; a++)
        for (uint32_t b = 0; b < co->voters; b++) {
            if (a == b)
                continue;
            if (linked_now(w, a, b))
                co->link[a][b] = TSC_TIME_NEVER;
            else if (co->link[a][b] == TSC_TIME_NEVER)
                co->link[a][b] = w->now;
        }
}

/* How many of node i's voters (itself included) it could exchange messages
 * with at some time since `since`; *nv: the size of its voter set. */
static uint32_t reached_since(struct tsc_sim_world *w, uint32_t i, uint64_t since, size_t *nv)
{
    const uint64_t *ids;
    struct tsc_sim_coord *co = w->coord;
    *nv = tsc_election_voters(co->c[i].e, &ids);
    uint32_t r = 0;
    for (size_t k = 0; k < *nv; k++) {
        uint32_t j = tsc__sim_lookup(w, ids[k]);
        if (j == i)
            r++;
        else if (j < co->voters && co->link[i][j] >= since)
            r++;
    }
    return r;
}

static int grow_terms(struct tsc_sim_coord *co, uint64_t t)
{
    if (t < co->cap_terms)
        return 0;
    size_t cap = co->cap_terms ? co->cap_terms : 64;
    while (cap <= t)
        cap *= 2;
    uint64_t *tl = tsc_realloc(co->term_leader, cap * sizeof *tl);
    if (tl == NULL)
        return TSC_ENOMEM;
    memset(tl + co->cap_terms, 0, (cap - co->cap_terms) * sizeof *tl);
    co->term_leader = tl;
    co->cap_terms = cap;
    return 0;
}

static void record_committed(struct tsc_sim_world *w, uint32_t i,
                             const struct tsc_election_update *up)
{
    struct tsc_sim_coord *co = w->coord;
    for (size_t k = 0; k < up->n_committed; k++) {
        const struct tsc_election_entry *x = &up->committed[k];
        if (x->index >= 1 && x->index <= co->n_acked) {
            if (!same_entry(x, &co->acked[x->index - 1]))
                tsc_sim_violation(w, TSC_SIM_V_ACKED,
                                  "node %u: committed index %" PRIu64 " differs from the "
                                  "acknowledged one",
                                  i, x->index);
            continue;
        }
        if (x->index != co->n_acked + 1) {
            tsc_sim_violation(w, TSC_SIM_V_ACKED, "node %u: committed index %" PRIu64 " skips", i,
                              x->index);
            continue;
        }
        if (co->n_acked == co->cap_acked) {
            size_t cap = co->cap_acked ? co->cap_acked * 2 : 64;
            struct tsc_election_entry *a = tsc_realloc(co->acked, cap * sizeof *a);
            if (a == NULL)
                goto nomem;
            co->acked = a;
            uint64_t *at = tsc_realloc(co->acked_term, cap * sizeof *at);
            if (at == NULL)
                goto nomem;
            co->acked_term = at;
            co->cap_acked = cap;
        }
        struct tsc_election_entry e = *x;
        uint8_t *copy = NULL;
        if (x->len) {
            if ((copy = tsc_malloc(x->len)) == NULL)
                goto nomem;
            memcpy(copy, x->data, x->len);
        }
        e.data = copy;
        co->acked_term[co->n_acked] = tsc_election_term(co->c[i].e);
        co->acked[co->n_acked++] = e;
    }
    return;
nomem:
    w->err = TSC_ENOMEM;
    tsc_errmsg_setf(w->errmsg, "election check: out of memory");
}

static void check_leader(struct tsc_sim_world *w, uint32_t i, const struct tsc_election_update *up)
{
    struct tsc_sim_coord *co = w->coord;
    struct tsc_election *e = co->c[i].e;
    if (tsc_election_role(e) != TSC_ELECTION_LEADER)
        return;
    uint64_t t = tsc_election_term(e);
    if (grow_terms(co, t)) {
        w->err = TSC_ENOMEM;
        tsc_errmsg_setf(w->errmsg, "election check: out of memory");
        return;
    }
    if (co->term_leader[t] != 0 && co->term_leader[t] != (uint64_t)i + 1)
        tsc_sim_violation(w, TSC_SIM_V_TWO_LEADERS,
                          "nodes %" PRIu64 " and %u both lead term %" PRIu64,
                          co->term_leader[t] - 1, i, t);
    if (co->term_leader[t] == 0) {
        co->term_leader[t] = (uint64_t)i + 1;
        co->leaderships++;
        if (t > co->max_term)
            co->max_term = t;
        tsc_sim_world_note(w, "leader", i, t);
        /* Leader completeness (§5.4.3) is about entries committed in
         * EARLIER terms: a leader of term t may lack one that a leader of
         * a later term committed (votes delayed past a newer election). */
        for (size_t k = 0; k < co->n_acked; k++) {
            struct tsc_election_entry x;
            if (co->acked_term[k] >= t)
                continue;
            if (tsc_election_entry_at(e, k + 1, &x) != 0 || !same_entry(&x, &co->acked[k])) {
                tsc_sim_violation(w, TSC_SIM_V_ACKED,
                                  "node %u leads term %" PRIu64 " without committed index %zu", i,
                                  t, k + 1);
                break;
            }
        }
    }
    (void)up;
}

static void check_acting(struct tsc_sim_world *w)
{
    struct tsc_sim_coord *co = w->coord;
    uint32_t acting = 0, first = TSC_SIM_NONE;
    for (uint32_t j = 0; j < co->voters; j++) {
        struct tsc_sim_cnode *c = &co->c[j];
        if (c->e == NULL || tsc_election_role(c->e) != TSC_ELECTION_LEADER ||
            !tsc_election_acting(c->e, tsc__sim_coord_local(w, j, w->now)))
            continue;
        if (acting++ == 0)
            first = j;
        else
            tsc_sim_violation(w, TSC_SIM_V_ACTING, "nodes %u and %u both act as coordinator", first,
                              j);
        /* Its lease rests on answers to requests sent within the last
         * `lease` of its clock; each answering voter had to be linked to it
         * at some time since then. */
        uint64_t grace = (uint64_t)((double)co->cfg.lease / c->rate) + 2;
        size_t nv;
        uint64_t since = w->now > grace ? w->now - grace : 0;
        uint32_t r = reached_since(w, j, since, &nv);
        if (nv > 0 && r < nv / 2 + 1)
            tsc_sim_violation(w, TSC_SIM_V_ACTING,
                              "node %u acts but only %u of its %zu voters were linked to it in "
                              "the last %.3f ms (its lease)",
                              j, r, nv, (double)grace / 1e3);
    }
}

void tsc__sim_coord_after_step(struct tsc_sim_world *w, uint32_t i,
                               const struct tsc_election_update *up)
{
    struct tsc_sim_coord *co = w->coord;
    struct tsc_sim_cnode *c = &co->c[i];
    const struct tsc_election_stats *st = tsc_election_stats(c->e);
    uint64_t bad = st->rejected_auth + st->rejected_malformed + st->rejected_cluster;
    if (bad != c->bad_seen) {
        tsc_sim_violation(w, TSC_SIM_V_REJECTED,
                          "node %u: election engine rejected %" PRIu64 " honest frame(s)", i,
                          bad - c->bad_seen);
        c->bad_seen = bad;
    }
    if (c->disk.n != tsc_election_last_index(c->e))
        tsc_sim_violation(w, TSC_SIM_V_STORE, "node %u: disk log %zu != engine log %" PRIu64, i,
                          c->disk.n, tsc_election_last_index(c->e));
    record_committed(w, i, up);
    check_leader(w, i, up);
    check_acting(w);
}

uint32_t tsc_sim_coord_agreed(struct tsc_sim_world *w)
{
    struct tsc_sim_coord *co = w->coord;
    uint32_t leader = TSC_SIM_NONE;
    for (uint32_t j = 0; j < co->voters; j++) {
        struct tsc_sim_cnode *c = &co->c[j];
        if (c->e == NULL || tsc_election_role(c->e) != TSC_ELECTION_LEADER)
            continue;
        if (leader != TSC_SIM_NONE)
            return TSC_SIM_NONE;
        leader = j;
    }
    if (leader == TSC_SIM_NONE ||
        !tsc_election_acting(co->c[leader].e, tsc__sim_coord_local(w, leader, w->now)))
        return TSC_SIM_NONE;
    uint64_t id = w->nodes[leader].id;
    for (uint32_t j = 0; j < w->n; j++)
        if (w->nodes[j].state == TSC_SIM_NODE_UP && !w->nodes[j].leaving &&
            tsc_sim_coord_view(w, j, NULL) != id)
            return TSC_SIM_NONE;
    return leader;
}

int tsc_sim_coord_agreed_pred(struct tsc_sim_world *w, void *unused)
{
    (void)unused;
    return tsc_sim_coord_agreed(w) != TSC_SIM_NONE;
}

int tsc_sim_coord_ready_pred(struct tsc_sim_world *w, void *unused)
{
    (void)unused;
    uint32_t l = tsc_sim_coord_agreed(w);
    if (l == TSC_SIM_NONE)
        return 0;
    const uint64_t *ids;
    struct tsc_election *e = w->coord->c[l].e;
    return tsc_election_voters(e, &ids) == w->coord->voters &&
           tsc_election_commit_index(e) == tsc_election_last_index(e);
}

void tsc_sim_coord_verify(struct tsc_sim_world *w)
{
    struct tsc_sim_coord *co = w->coord;
    for (uint32_t i = 0; i < w->n; i++) {
        struct tsc_sim_cnode *c = &co->c[i];
        uint64_t commit = c->e ? tsc_election_commit_index(c->e) : c->disk.commit;
        if (commit > co->n_acked) {
            tsc_sim_violation(w, TSC_SIM_V_ACKED,
                              "node %u: commit index %" PRIu64 " beyond what was reported (%zu)", i,
                              commit, co->n_acked);
            continue;
        }
        for (uint64_t k = 1; k <= commit && k <= c->disk.n; k++) {
            if (!same_entry(&c->disk.log[k - 1], &co->acked[k - 1])) {
                tsc_sim_violation(w, TSC_SIM_V_ACKED,
                                  "node %u: stored committed index %" PRIu64 " changed", i, k);
                break;
            }
        }
    }
}

void tsc_sim_coord_explain(struct tsc_sim_world *w, char *buf, size_t len)
{
    struct tsc_sim_coord *co = w->coord;
    size_t off = 0;
    off += (size_t)snprintf(buf + off, len - off, "leaders:");
    for (uint32_t j = 0; j < co->voters && off < len; j++) {
        struct tsc_sim_cnode *c = &co->c[j];
        if (c->e && tsc_election_role(c->e) == TSC_ELECTION_LEADER)
            off += (size_t)snprintf(
                buf + off, len - off, " %u(term %" PRIu64 "%s)", j, tsc_election_term(c->e),
                tsc_election_acting(c->e, tsc__sim_coord_local(w, j, w->now)) ? ", acting" : "");
    }
    for (uint32_t j = 0; j < w->n && off < len; j++) {
        uint64_t t, v;
        if (w->nodes[j].state != TSC_SIM_NODE_UP)
            continue;
        v = tsc_sim_coord_view(w, j, &t);
        uint32_t vi = v ? tsc__sim_lookup(w, v) : TSC_SIM_NONE;
        off += (size_t)snprintf(buf + off, len - off, "%s%u->%d@%" PRIu64, j ? " " : "; views ", j,
                                vi == TSC_SIM_NONE ? -1 : (int)vi, t);
    }
}
