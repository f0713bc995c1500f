/* tsc — the run control ops, answered by the acting coordinator (control.c
 * forwards them there from any other agent): run, run_status, cancel,
 * history, results (wire/control.h); logs and log_index go on to
 * logs_ctl.c.
 *
 * Submission. The suite arrives compiled (wire/suite.h) and is checked again
 * here: tscctl is not trusted to have done it. The participants are chosen
 * now, from the alive members, and written into the SUBMIT record with
 * their names, addresses and roles, so that every later decision (which
 * script a machine runs, who must report) depends on the replicated record
 * only, never on membership at the time of a failover. The run id is the
 * log index of that record. A request whose nonce is already known returns
 * the run it created (a replayed or retried request submits nothing). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "common/alloc.h"

static int has_str(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

/* A machine's name: its label name=, else "node-" + its id in hex. */
static void machine_name(const struct tsc_meta *m, uint64_t id, char *out, size_t cap)
{
    for (unsigned i = 0; i < m->n_labels; i++) {
        if (strcmp(m->labels[i].key, "name") == 0) {
            snprintf(out, cap, "%s", m->labels[i].val);
            return;
        }
    }
    snprintf(out, cap, "node-%016llx", (unsigned long long)id);
}

/* Does the suite name `role` anywhere (selector or a stage's script)? */
static int suite_mentions_role(const struct tsc_suite *s, const char *role)
{
    if (has_str(s->roles, s->n_roles, role))
        return 1;
    uint32_t n = tsc_suite_n_stages(s);
    for (uint32_t k = 0; k < n; k++) {
        const struct tsc_suite_stage *st = tsc_suite_stage_at(s, k);
        for (size_t i = 0; st && i < st->n_scripts; i++)
            if (strcmp(st->scripts[i].role, role) == 0)
                return 1;
    }
    return 0;
}

static int cmp_participant(const void *x, const void *y)
{
    const struct tsc_run_participant *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->id > b->id) - (a->id < b->id);
}

/* The alive members the suite selects, sorted by name. */
static int choose(struct tsc_agent *a, const struct tsc_suite *s, struct tsc_run_participant **out,
                  size_t *n, char *errmsg)
{
    size_t cap = tsc_gossip_count(a->gossip), k = 0;
    struct tsc_run_participant *p = tsc_calloc(cap ? cap : 1, sizeof *p);
    struct tsc_gossip_member m;
    struct tsc_meta meta;
    struct tsc_record rec;
    if (p == NULL)
        return TSC_ENOMEM;
    for (size_t i = 0; i < cap && tsc_gossip_member_at(a->gossip, i, &m) == 0; i++) {
        if (m.status != TSC_STATUS_ALIVE && m.status != TSC_STATUS_SUSPECT)
            continue;
        if (tsc_record_decode(a->wire.crypto, m.record, m.record_len, 0, &rec) != 0 ||
            tsc_meta_decode(rec.meta, rec.meta_len, &meta) != 0)
            continue;
        struct tsc_run_participant *q = &p[k];
        memset(q, 0, sizeof *q);
        q->id = m.id;
        q->addr = m.addr;
        machine_name(&meta, m.id, q->name, sizeof q->name);
        int selected = s->n_names == 0 && s->n_roles == 0;
        if (has_str(s->names, s->n_names, q->name))
            selected = 1;
        for (unsigned r = 0; r < meta.n_roles; r++)
            if (has_str(s->roles, s->n_roles, meta.roles[r]))
                selected = 1;
        if (!selected)
            continue;
        /* The role it plays: the first of its roles the suite mentions. */
        for (unsigned r = 0; r < meta.n_roles && q->role[0] == '\0'; r++)
            if (suite_mentions_role(s, meta.roles[r]))
                snprintf(q->role, sizeof q->role, "%s", meta.roles[r]);
        if (q->role[0] == '\0' && meta.n_roles > 0)
            snprintf(q->role, sizeof q->role, "%s", meta.roles[0]);
        k++;
    }
    for (size_t i = 0; i < s->n_names; i++) {
        int found = 0;
        for (size_t j = 0; j < k && !found; j++)
            found = strcmp(p[j].name, s->names[i]) == 0;
        if (!found) {
            tsc_errmsg_setf(errmsg, "machine '%s' is not an alive member", s->names[i]);
            tsc_free(p);
            return TSC_ENOTFOUND;
        }
    }
    if (k == 0) {
        tsc_errmsg_setf(errmsg, "no alive member matches the suite's machines");
        tsc_free(p);
        return TSC_ENOTFOUND;
    }
    qsort(p, k, sizeof *p, cmp_participant);
    *out = p;
    *n = k;
    return 0;
}

static int op_run(struct tsc_agent *a, const struct tsc_control_req *req, struct tsc_buf *out,
                  char *errmsg)
{
    struct tsc_suite s;
    struct tsc_runlog_submit sub;
    struct tsc_buf rec;
    uint64_t *timeouts = NULL, run = tsc_barrier_find_nonce(a->runs.b, req->nonce);
    int rc;
    if (req->nonce != 0 && run != 0)
        return tsc_control_resp_encode_run(a->self_id, run, out);
    if ((rc = tsc_suite_decode(req->suite, req->suite_len, &s, errmsg)) != 0) {
        tsc_errmsg_wrapf(errmsg, "suite");
        return rc;
    }
    memset(&sub, 0, sizeof sub);
    tsc_buf_init(&rec);
    rc = choose(a, &s, &sub.participants, &sub.n_participants, errmsg);
    uint32_t n_stages = tsc_suite_n_stages(&s);
    if (rc == 0 && (timeouts = tsc_calloc(n_stages, sizeof *timeouts)) == NULL)
        rc = TSC_ENOMEM;
    if (rc == 0) {
        for (uint32_t k = 0; k < n_stages; k++)
            timeouts[k] = tsc_suite_timeout_ms(&s, k) * 1000u;
        sub.nonce = req->nonce;
        sub.submitted_us = tsc__agent_wall_us();
        snprintf(sub.suite_name, sizeof sub.suite_name, "%s", s.name);
        sub.n_cases = (uint32_t)s.n_cases;
        sub.suite = req->suite;
        sub.suite_len = req->suite_len;
        rc = tsc_runlog_encode_submit(&sub, timeouts, &rec);
        if (rc != 0)
            tsc_errmsg_setf(errmsg, "cannot encode the run: %s", tsc_strerror(rc));
    }
    if (rc == 0 && rec.len > TSC__RUN_MAX_RECORD) {
        rc = TSC_ETOOBIG;
        tsc_errmsg_setf(errmsg, "suite too large: %zu bytes with its participants (limit %u)",
                        rec.len, TSC__RUN_MAX_RECORD);
    }
    if (rc == 0) {
        rc = tsc__coord_append(a, rec.data, rec.len, &run);
        if (rc != 0)
            tsc_errmsg_setf(errmsg, "cannot replicate the run: %s", tsc_strerror(rc));
    }
    if (rc == 0) {
        tsc_logf(TSC_LOG_INFO, "run %llu: suite %s submitted, %zu machines, %u stages",
                 (unsigned long long)run, s.name, sub.n_participants, n_stages);
        rc = tsc_control_resp_encode_run(a->self_id, run, out);
    }
    tsc_free(timeouts);
    tsc_free(sub.participants);
    tsc_buf_free(&rec);
    tsc_suite_free(&s);
    return rc;
}

/* Load run's records into a view (records borrowed from *hold). */
static int load_view(struct tsc_agent *a, uint64_t run, struct tsc_run_view *v,
                     struct tsc_control_bytes **recs, size_t *n, struct tsc_buf *hold, char *errmsg)
{
    int rc = tsc__runs_store_load(a, run, recs, n, hold, errmsg);
    if (rc != 0)
        return rc;
    if ((rc = tsc_run_view_init(v, run, (*recs)[0].p, (*recs)[0].len)) != 0) {
        tsc_errmsg_setf(errmsg, "run %llu: its SUBMIT record is unreadable",
                        (unsigned long long)run);
        tsc_free(*recs);
        *recs = NULL;
        return rc;
    }
    for (size_t i = 1; i < *n; i++)
        tsc_run_view_add(v, (*recs)[i].p, (*recs)[i].len);
    return 0;
}

static int op_status(struct tsc_agent *a, const struct tsc_control_req *req, struct tsc_buf *out,
                     char *errmsg)
{
    struct tsc_barrier_progress bp;
    struct tsc_run_view v;
    struct tsc_control_bytes *recs = NULL;
    struct tsc_control_progress p;
    struct tsc_buf hold;
    size_t n = 0;
    uint64_t run = req->run ? req->run : tsc__runs_store_last(a);
    tsc_barrier_progress(a->runs.b, &bp);
    if (req->run == 0 && bp.run != 0)
        run = bp.run; /* "the current run" */
    if (run == 0) {
        tsc_errmsg_setf(errmsg, "no run has been submitted yet");
        return TSC_ENOTFOUND;
    }
    tsc_buf_init(&hold);
    int rc = load_view(a, run, &v, &recs, &n, &hold, errmsg);
    if (rc != 0) {
        tsc_buf_free(&hold);
        return rc;
    }
    uint8_t *outcomes = tsc_calloc(v.n_stages ? v.n_stages : 1, 1);
    uint8_t *reported = tsc_calloc(v.submit.n_participants ? v.submit.n_participants : 1, 1);
    if (outcomes == NULL || reported == NULL) {
        rc = TSC_ENOMEM;
        goto out;
    }
    memset(&p, 0, sizeof p);
    p.run = run;
    p.state = v.state;
    p.n_stages = v.n_stages;
    p.stage = v.next;
    for (uint32_t k = 0; k < v.n_stages; k++) {
        if (v.stages[k] == NULL)
            continue;
        outcomes[k] = v.stages[k]->outcome;
        /* The first failure is usually the cause of the later ones. */
        if (v.stages[k]->outcome == TSC_STAGE_FAILED && p.diagnosis[0] == '\0')
            snprintf(p.diagnosis, sizeof p.diagnosis, "%s", v.stages[k]->diagnosis);
    }
    p.outcomes = outcomes;
    if (bp.run == run) {
        p.state = TSC_RUN_RUNNING;
        p.stage = bp.stage;
        for (size_t i = 0; i < v.submit.n_participants; i++)
            reported[i] = (uint8_t)tsc_barrier_current_result(a->runs.b, run, i);
        p.reported = reported;
        p.n_reported = v.submit.n_participants;
    } else if (v.state == TSC_RUN_QUEUED || v.state == TSC_RUN_RUNNING) {
        p.state = TSC_RUN_QUEUED;
        p.queued = (uint32_t)bp.n_queued;
    }
    p.submit = recs[0].p;
    p.submit_len = recs[0].len;
    rc = tsc_control_resp_encode_progress(a->self_id, &p, out);
out:
    tsc_free(outcomes);
    tsc_free(reported);
    tsc_run_view_free(&v);
    tsc_free(recs);
    tsc_buf_free(&hold);
    return rc;
}

static int op_cancel(struct tsc_agent *a, const struct tsc_control_req *req, struct tsc_buf *out,
                     char *errmsg)
{
    struct tsc_run_view v;
    struct tsc_control_bytes *recs = NULL;
    struct tsc_buf hold, rec;
    size_t n = 0;
    uint64_t index;
    tsc_buf_init(&hold);
    int rc = load_view(a, req->run, &v, &recs, &n, &hold, errmsg);
    if (rc != 0) {
        tsc_buf_free(&hold);
        return rc;
    }
    int finished =
        v.state == TSC_RUN_PASSED || v.state == TSC_RUN_FAILED || v.state == TSC_RUN_CANCELLED;
    tsc_run_view_free(&v);
    tsc_free(recs);
    tsc_buf_free(&hold);
    if (finished) {
        tsc_errmsg_setf(errmsg, "run %llu has already finished", (unsigned long long)req->run);
        return TSC_ESTATE;
    }
    struct tsc_runlog_cancel c;
    memset(&c, 0, sizeof c);
    c.run = req->run;
    c.at_us = tsc__agent_wall_us();
    snprintf(c.reason, sizeof c.reason, "cancelled by tscctl");
    tsc_buf_init(&rec);
    rc = tsc_runlog_encode_cancel(&c, &rec);
    if (rc == 0)
        rc = tsc__coord_append(a, rec.data, rec.len, &index);
    tsc_buf_free(&rec);
    if (rc != 0) {
        tsc_errmsg_setf(errmsg, "cannot replicate the cancel: %s", tsc_strerror(rc));
        return rc;
    }
    tsc_logf(TSC_LOG_INFO, "run %llu: cancel requested", (unsigned long long)req->run);
    return tsc_control_resp_encode_run(a->self_id, req->run, out);
}

static int op_results(struct tsc_agent *a, const struct tsc_control_req *req, struct tsc_buf *out,
                      char *errmsg)
{
    struct tsc_control_bytes *recs = NULL;
    struct tsc_buf hold;
    size_t n = 0;
    uint64_t run = req->run ? req->run : tsc__runs_store_last(a);
    tsc_buf_init(&hold);
    int rc = tsc__runs_store_load(a, run, &recs, &n, &hold, errmsg);
    if (rc == 0)
        rc = tsc_control_resp_encode_records(a->self_id, run, recs, n, out);
    tsc_free(recs);
    tsc_buf_free(&hold);
    return rc;
}

int tsc__runs_control(struct tsc_agent *a, const struct tsc_control_req *req, struct tsc_buf *out,
                      char *errmsg)
{
    struct tsc_control_run_summary *h = NULL;
    size_t n = 0;
    int rc;
    switch (req->op) {
    case TSC_CONTROL_OP_RUN:
        return op_run(a, req, out, errmsg);
    case TSC_CONTROL_OP_RUN_STATUS:
        return op_status(a, req, out, errmsg);
    case TSC_CONTROL_OP_CANCEL:
        return op_cancel(a, req, out, errmsg);
    case TSC_CONTROL_OP_RESULTS:
        return op_results(a, req, out, errmsg);
    case TSC_CONTROL_OP_LOGS:
    case TSC_CONTROL_OP_LOG_INDEX:
        return tsc__logs_control_coord(a, req, out, errmsg);
    case TSC_CONTROL_OP_HISTORY:
        rc = tsc__runs_store_history(a, req->suite_name, req->limit, &h, &n, errmsg);
        if (rc == 0)
            rc = tsc_control_resp_encode_history(a->self_id, h, n, out);
        tsc_free(h);
        return rc;
    default:
        tsc_errmsg_setf(errmsg, "not a run op");
        return TSC_EINVAL;
    }
}
