/* tsc — the invariants of the log-shipping world (sim/logs.h).
 *
 * During a seed: every record a write puts into a voter's store is new
 * there (invariant 1), every ACK a sink sends is covered by records its
 * store holds durably (2: a GAP passing over seqs does not cover them, the
 * agent must resend them), every merge error is one the scenario explains
 * (4). A stream whose next record was dropped on purpose never finishes.
 * At the end, on the final sink's store: every produced record exactly once,
 * byte for byte, indices 1..n, a linear extension of the causal order (3),
 * and the GAP over a record dropped on purpose (4).
 *
 * A violation is counted, and the first one keeps the seed, the virtual
 * time and the last fault lines, which with the replay command are what it
 * takes to look at it again. */
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "common/alloc.h"
#include "sim/logs.h"

static const char *const names[TSC_SIM_LV_MAX] = {
    [TSC_SIM_LV_TWICE] = "stored_twice",      [TSC_SIM_LV_ACK] = "ack_not_durable",
    [TSC_SIM_LV_LOST] = "record_lost",        [TSC_SIM_LV_CHANGED] = "record_changed",
    [TSC_SIM_LV_HOLE] = "index_hole",         [TSC_SIM_LV_ORDER] = "causal_order",
    [TSC_SIM_LV_MERGE_ERROR] = "merge_error", [TSC_SIM_LV_NO_GAP] = "gap_not_reported",
    [TSC_SIM_LV_STUCK] = "not_quiet",         [TSC_SIM_LV_ENGINE] = "engine_error",
};

const char *tsc_sim_logs_violation_name(int kind)
{
    return kind >= 0 && kind < TSC_SIM_LV_MAX ? names[kind] : "?";
}

void tsc__sim_logs_violation(struct tsc_sim_lworld *w, int kind, const char *fmt, ...)
{
    struct tsc_sim_logs_result *r = w->r;
    w->violations++;
    r->violations++;
    if (kind >= 0 && kind < TSC_SIM_LV_MAX)
        r->by_kind[kind]++;
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (w->trace)
        fprintf(w->trace, "%.6f VIOLATION %s: %s\n", (double)w->now / 1e6,
                tsc_sim_logs_violation_name(kind), what);
    if (r->first_violation[0])
        return;
    size_t len = (size_t)snprintf(r->first_violation, sizeof r->first_violation,
                                  "seed %" PRIu64 " t=%.3fs %s: %s; last faults:", w->seed,
                                  (double)w->now / 1e6, tsc_sim_logs_violation_name(kind), what);
    unsigned n = w->n_last < TSC_SIM_LOGS_TRACE ? w->n_last : TSC_SIM_LOGS_TRACE;
    for (unsigned k = 0; k < n && len < sizeof r->first_violation; k++) {
        unsigned at = (w->n_last - n + k) % TSC_SIM_LOGS_TRACE;
        len += (size_t)snprintf(r->first_violation + len, sizeof r->first_violation - len, " [%s]",
                                w->last[at]);
    }
}

uint32_t tsc__sim_logs_run_of(const struct tsc_sim_lworld *w, uint64_t run)
{
    for (uint32_t r = 0; r < TSC_SIM_LOGS_RUNS; r++)
        if (w->runs[r].id == run)
            return r;
    return TSC_SIM_LOGS_NONE;
}

static struct tsc_sim_lmark *mark(struct tsc_sim_lworld *w, uint32_t v, uint32_t r, uint64_t node)
{
    uint32_t i = tsc__sim_logs_agent_of(w, node);
    if (i == TSC_SIM_LOGS_NONE || r == TSC_SIM_LOGS_NONE)
        return NULL;
    return &w->voters[v].store.marks[(size_t)r * w->n_agents + i];
}

static uint64_t index_of(const struct tsc_sim_lmark *m, uint64_t seq)
{
    return m && seq < m->cap ? m->idx[seq] : 0;
}

static int dropped(const struct tsc_sim_lworld *w, uint32_t r, uint32_t i, uint64_t seq)
{
    const struct tsc_sim_logs_opts *o = w->o;
    return o->drop_seq && r == o->drop_run && i == o->drop_agent && seq == o->drop_seq;
}

void tsc__sim_logs_check_store(struct tsc_sim_lworld *w, uint32_t v, uint32_t r, uint64_t index,
                               const struct tsc_sim_lsrec *x)
{
    const struct tsc_sim_lstore *s = &w->voters[v].store;
    if (index <= s->n_recs[r] && s->recs[r][index - 1].enc)
        tsc__sim_logs_violation(w, TSC_SIM_LV_TWICE,
                                "voter %u: run %" PRIu64 " index %" PRIu64
                                " written again (node %" PRIx64 " seq %" PRIu64 ", was %" PRIx64
                                " seq %" PRIu64 ")",
                                v, w->runs[r].id, index, x->node, x->seq,
                                s->recs[r][index - 1].node, s->recs[r][index - 1].seq);
    uint64_t at = index_of(mark(w, v, r, x->node), x->seq);
    if (at && at != UINT64_MAX)
        tsc__sim_logs_violation(w, TSC_SIM_LV_TWICE,
                                "voter %u: run %" PRIu64 " node %" PRIx64 " seq %" PRIu64
                                " stored at index %" PRIu64 " and again at %" PRIu64,
                                v, w->runs[r].id, x->node, x->seq, at, index);
}

void tsc__sim_logs_check_ack(struct tsc_sim_lworld *w, uint32_t v, const struct tsc_logack *a)
{
    uint32_t r = tsc__sim_logs_run_of(w, a->run);
    uint32_t i = tsc__sim_logs_agent_of(w, a->node);
    if (r == TSC_SIM_LOGS_NONE || i == TSC_SIM_LOGS_NONE) {
        tsc__sim_logs_violation(w, TSC_SIM_LV_ACK,
                                "voter %u: ACK for unknown run %" PRIu64 " / node %" PRIx64, v,
                                a->run, a->node);
        return;
    }
    const struct tsc_sim_lmark *m = mark(w, v, r, a->node);
    if (a->have > m->contig)
        tsc__sim_logs_violation(w, TSC_SIM_LV_ACK,
                                "voter %u: ACK run %" PRIu64 " agent %u have %" PRIu64
                                " epoch %" PRIu64 ", but its durable store covers 1..%" PRIu64,
                                v, a->run, i, a->have, a->epoch, m->contig);
    if (a->have > w->agents[i].st[r].n)
        tsc__sim_logs_violation(w, TSC_SIM_LV_ACK,
                                "voter %u: ACK run %" PRIu64 " agent %u have %" PRIu64
                                " beyond its %zu records",
                                v, a->run, i, a->have, w->agents[i].st[r].n);
}

/* Does a record dropped on purpose explain e? */
static int explained(const struct tsc_sim_lworld *w, const struct tsc_logmerge_error *e)
{
    const struct tsc_sim_logs_opts *o = w->o;
    if (!o->drop_seq || e->run != w->runs[o->drop_run].id)
        return 0;
    uint64_t id = w->agents[o->drop_agent].id;
    if (e->kind == TSC_LOGMERGE_GAP)
        return e->a_node == id && e->b_seq < o->drop_seq && o->drop_seq < e->a_seq;
    if (e->kind == TSC_LOGMERGE_MISSING_PAST)
        return e->b_node == id && e->b_seq == o->drop_seq;
    return 0;
}

void tsc__sim_logs_check_error(struct tsc_sim_lworld *w, uint32_t v,
                               const struct tsc_logmerge_error *e)
{
    if (explained(w, e))
        return;
    tsc__sim_logs_violation(w, TSC_SIM_LV_MERGE_ERROR,
                            "voter %u: %s in run %" PRIu64 ": (%" PRIx64 ", %" PRIu64
                            ") about (%" PRIx64 ", %" PRIu64 ")",
                            v, tsc_logmerge_error_name(e->kind), e->run, e->a_node, e->a_seq,
                            e->b_node, e->b_seq);
}

/* Why the world is not quiet yet (empty when it is). */
static void why_not_quiet(struct tsc_sim_lworld *w, char *buf, size_t len)
{
    buf[0] = 0;
    if (w->sink == TSC_SIM_LOGS_NONE || !w->voters[w->sink].k) {
        snprintf(buf, len, "no sink");
        return;
    }
    const struct tsc_sim_lvoter *x = &w->voters[w->sink];
    if (x->n_pending) {
        snprintf(buf, len, "sink %u: %zu writes not durable", w->sink, x->n_pending);
        return;
    }
    for (uint32_t r = 0; r < TSC_SIM_LOGS_RUNS; r++) {
        struct tsc_logsink_run info;
        memset(&info, 0, sizeof info);
        if (!w->runs[r].started)
            continue;
        if (tsc_logsink_run(x->k, w->runs[r].id, &info) || !info.finished) {
            snprintf(buf, len,
                     "sink %u: run %" PRIu64 " not finished (merged %" PRIu64 ", nodes %zu, "
                     "done %zu, open %d)",
                     w->sink, w->runs[r].id, info.merged, info.nodes, info.done_nodes, info.open);
            return;
        }
    }
    for (uint32_t i = 0; i < w->n_agents; i++) {
        const struct tsc_sim_lagent *a = &w->agents[i];
        if (!a->up) {
            snprintf(buf, len, "agent %u down", i);
            return;
        }
        for (uint32_t r = 0; r < TSC_SIM_LOGS_RUNS; r++) {
            struct tsc_logship_stream s;
            memset(&s, 0, sizeof s);
            if (!a->st[r].n)
                continue;
            if (tsc_logship_stream(a->ship, w->runs[r].id, &s) || !s.finished) {
                /* A record dropped on purpose never reaches the sink, so
                 * nothing from it on is acknowledged: the agent keeps it
                 * (and its stream open), as it must. */
                if (s.closed && dropped(w, r, i, s.acked + 1))
                    continue;
                snprintf(buf, len,
                         "agent %u run %" PRIu64 ": produced %" PRIu64 " acked %" PRIu64
                         " sent %" PRIu64 " closed %d finished %d (epoch %" PRIu64 ")",
                         i, w->runs[r].id, s.produced, s.acked, s.sent, s.closed, s.finished,
                         a->epoch);
                return;
            }
        }
    }
}

int tsc__sim_logs_quiet(struct tsc_sim_lworld *w)
{
    char why[256];
    why_not_quiet(w, why, sizeof why);
    return why[0] == 0;
}

/* Invariant 3 on one run of the final store. */
static void check_run(struct tsc_sim_lworld *w, uint32_t v, uint32_t r)
{
    const struct tsc_sim_lstore *s = &w->voters[v].store;
    const uint64_t id = w->runs[r].id;
    uint64_t expect = 0;
    for (uint32_t i = 0; i < w->n_agents; i++) {
        const struct tsc_sim_lstream *st = &w->agents[i].st[r];
        const struct tsc_sim_lmark *m = mark(w, v, r, w->agents[i].id);
        for (uint64_t q = 1; q <= st->n; q++) {
            uint64_t at = index_of(m, q);
            if (dropped(w, r, i, q)) {
                if (at && at != UINT64_MAX)
                    tsc__sim_logs_violation(
                        w, TSC_SIM_LV_CHANGED,
                        "run %" PRIu64 ": the dropped record %u/%" PRIu64 " is stored", id, i, q);
                continue;
            }
            expect++;
            if (!at || at == UINT64_MAX || at > s->n_recs[r] || !s->recs[r][at - 1].enc) {
                tsc__sim_logs_violation(w, TSC_SIM_LV_LOST,
                                        "voter %u run %" PRIu64 ": agent %u seq %" PRIu64
                                        " of %zu is not stored%s",
                                        v, id, i, q, st->n, at == UINT64_MAX ? " (GAP)" : "");
                continue;
            }
            const struct tsc_sim_lsrec *x = &s->recs[r][at - 1];
            if (x->len != st->recs[q - 1].len || memcmp(x->enc, st->recs[q - 1].enc, x->len))
                tsc__sim_logs_violation(w, TSC_SIM_LV_CHANGED,
                                        "voter %u run %" PRIu64 " index %" PRIu64
                                        ": agent %u seq %" PRIu64 " differs",
                                        v, id, at, i, q);
        }
    }
    w->r->stored += s->n_recs[r];
    if (s->n_recs[r] != expect)
        tsc__sim_logs_violation(w, TSC_SIM_LV_HOLE,
                                "voter %u run %" PRIu64 ": indices 1..%zu for %" PRIu64 " records",
                                v, id, s->n_recs[r], expect);
    struct tsc_logrec rec;
    for (size_t k = 0; k < s->n_recs[r]; k++) {
        const struct tsc_sim_lsrec *x = &s->recs[r][k];
        if (!x->enc) {
            tsc__sim_logs_violation(w, TSC_SIM_LV_HOLE,
                                    "voter %u run %" PRIu64 ": no record at index %zu", v, id,
                                    k + 1);
            continue;
        }
        tsc_logrec_init(&rec);
        if (tsc_logrec_decode(x->enc, x->len, &rec)) {
            tsc_logrec_free(&rec);
            tsc__sim_logs_violation(w, TSC_SIM_LV_CHANGED,
                                    "voter %u run %" PRIu64 ": index %zu does not decode", v, id,
                                    k + 1);
            continue;
        }
        /* Its causal past (every (m, 1..clock[m])) is before it: by
         * transitivity it is enough to look at each entry's last record. */
        for (size_t e = 0; e < rec.clock.n; e++) {
            uint64_t node = rec.clock.e[e].node;
            uint64_t q = rec.clock.e[e].count - (node == rec.node);
            uint32_t i = tsc__sim_logs_agent_of(w, node);
            if (q == 0 || i == TSC_SIM_LOGS_NONE || dropped(w, r, i, q))
                continue;
            uint64_t at = index_of(mark(w, v, r, node), q);
            if (!at || at == UINT64_MAX || at > k) /* at is 1-based; this one is k + 1 */
                tsc__sim_logs_violation(w, TSC_SIM_LV_ORDER,
                                        "voter %u run %" PRIu64 ": index %zu (agent %u seq %" PRIu64
                                        ") before its past %u/%" PRIu64 " (index %" PRIu64 ")",
                                        v, id, k + 1, (unsigned)tsc__sim_logs_agent_of(w, rec.node),
                                        rec.seq, i, q, at == UINT64_MAX ? 0 : at);
        }
        tsc_logrec_free(&rec);
    }
    if (w->o->drop_seq && r == w->o->drop_run) {
        int seen = 0;
        for (size_t k = 0; k < s->n_errs[r]; k++)
            seen |= s->errs[r][k].kind == TSC_LOGMERGE_GAP && explained(w, &s->errs[r][k]);
        if (!seen)
            tsc__sim_logs_violation(w, TSC_SIM_LV_NO_GAP,
                                    "voter %u run %" PRIu64 ": no GAP over agent %u seq %" PRIu64,
                                    v, id, w->o->drop_agent, w->o->drop_seq);
    }
}

void tsc__sim_logs_check_end(struct tsc_sim_lworld *w, int quiet)
{
    if (!quiet) {
        char why[256];
        why_not_quiet(w, why, sizeof why);
        tsc__sim_logs_violation(w, TSC_SIM_LV_STUCK, "after the faults: %s", why);
    }
    uint32_t v = w->sink;
    if (v == TSC_SIM_LOGS_NONE)
        return;
    for (uint32_t r = 0; r < TSC_SIM_LOGS_RUNS; r++)
        if (w->runs[r].started)
            check_run(w, v, r);
}
