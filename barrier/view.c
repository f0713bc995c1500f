/* tsc — a run as its records describe it (struct tsc_run_view), and the
 * human labels of stages used in diagnoses.
 *
 * A view follows the same rules as the coordinator engine when it applies
 * records, so that `tscctl status` and the engine never disagree: a STAGE
 * record counts only for the stage the run is at (duplicates of a proposal
 * and records for decided or skipped stages are ignored), and CANCEL is
 * taken once. One thing a view cannot know is whether a run was waiting in
 * the queue or running its suite init when it was cancelled: the engine
 * finishes a queued run at once (no more records), but decides the suite init
 * of the running one (one more STAGE record for stage 0, then suite
 * finalize). A view therefore shows a run cancelled before any stage was
 * decided as CANCELLED, and reopens it if the STAGE record of stage 0 still
 * follows. */
#include <stdio.h>
#include <string.h>

#include "barrier/internal.h"
#include "barrier/runlog.h"
#include "common/alloc.h"

/* ---- stage labels -------------------------------------------------------- */

static int key_is(const char *s, uint32_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* The name of case i in wire/suite.h bytes, without decoding the whole
 * suite (which copies every script): walk the top-level map to "cases", skip
 * to element i, find its "name". 0 with a printable name, else
 * TSC_ENOTFOUND. */
static int case_name(const uint8_t *suite, size_t len, uint32_t i, char *out, size_t cap)
{
    struct tsc_mp_reader r;
    uint32_t n, m;
    const char *k;
    uint32_t klen;
    tsc_mp_reader_init(&r, suite, len);
    if (suite == NULL || tsc_mp_read_map(&r, &n) != 0)
        return TSC_ENOTFOUND;
    for (uint32_t e = 0; e < n; e++) {
        if (tsc_mp_read_str(&r, &k, &klen) != 0)
            return TSC_ENOTFOUND;
        if (!key_is(k, klen, "cases")) {
            if (tsc_mp_skip(&r) != 0)
                return TSC_ENOTFOUND;
            continue;
        }
        if (tsc_mp_read_array(&r, &m) != 0 || i >= m)
            return TSC_ENOTFOUND;
        for (uint32_t c = 0; c < i; c++)
            if (tsc_mp_skip(&r) != 0)
                return TSC_ENOTFOUND;
        if (tsc_mp_read_map(&r, &m) != 0)
            return TSC_ENOTFOUND;
        for (uint32_t f = 0; f < m; f++) {
            if (tsc_mp_read_str(&r, &k, &klen) != 0)
                return TSC_ENOTFOUND;
            if (!key_is(k, klen, "name")) {
                if (tsc_mp_skip(&r) != 0)
                    return TSC_ENOTFOUND;
                continue;
            }
            if (tsc_mp_read_str(&r, &k, &klen) != 0 || klen == 0 || klen >= cap)
                return TSC_ENOTFOUND;
            for (uint32_t j = 0; j < klen; j++)
                if (k[j] <= ' ' || k[j] > '~' || k[j] == '\'')
                    return TSC_ENOTFOUND;
            memcpy(out, k, klen);
            out[klen] = 0;
            return 0;
        }
        return TSC_ENOTFOUND;
    }
    return TSC_ENOTFOUND;
}

void tsc__barrier_stage_label(const struct tsc_runlog_submit *s, uint32_t stage, char *out,
                              size_t cap)
{
    int32_t ci;
    char name[TSC_RUN_NAME];
    int kind = tsc_stage_kind(s->n_cases, stage, &ci);
    if (kind < 0)
        snprintf(out, cap, "stage %u", stage);
    else if (ci < 0)
        snprintf(out, cap, "suite %s", tsc_stage_kind_name(kind));
    else if (case_name(s->suite, s->suite_len, (uint32_t)ci, name, sizeof name) == 0)
        snprintf(out, cap, "case %s %s", name, tsc_stage_kind_name(kind));
    else
        snprintf(out, cap, "case #%d %s", ci, tsc_stage_kind_name(kind));
}

/* ---- the view ------------------------------------------------------------ */

/* Keep a decoded record. The stage pointers point into the array, so they
 * are re-aimed whenever it moves. */
static int keep(struct tsc_run_view *v, struct tsc_runlog *rec)
{
    struct tsc_runlog *p = tsc_realloc(v->recs, (v->n_recs + 1) * sizeof *p);
    if (p == NULL)
        return TSC_ENOMEM;
    v->recs = p;
    v->recs[v->n_recs++] = *rec;
    for (size_t i = 0; i < v->n_recs; i++)
        if (v->recs[i].kind == TSC_RUNLOG_STAGE)
            v->stages[v->recs[i].stage.stage] = &v->recs[i].stage;
    return 0;
}

int tsc_run_view_init(struct tsc_run_view *v, uint64_t run, const uint8_t *submit, size_t len)
{
    struct tsc_runlog rec;
    memset(v, 0, sizeof *v);
    if (run == 0)
        return TSC_EINVAL;
    int rc = tsc_runlog_decode(submit, len, &rec);
    if (rc != 0)
        return rc;
    if (rec.kind != TSC_RUNLOG_SUBMIT) {
        tsc_runlog_free(&rec);
        return TSC_EINVAL;
    }
    v->run = run;
    v->n_stages = tsc_runlog_n_stages(&rec.submit);
    v->stages = tsc_calloc(v->n_stages, sizeof *v->stages);
    if (v->stages == NULL || keep(v, &rec) != 0) {
        tsc_runlog_free(&rec);
        tsc_free(v->stages);
        memset(v, 0, sizeof *v);
        return TSC_ENOMEM;
    }
    v->submit = rec.submit;
    v->state = TSC_RUN_QUEUED;
    return 0;
}

static void outcomes(const struct tsc_run_view *v, uint8_t *out)
{
    for (uint32_t k = 0; k < v->n_stages; k++)
        out[k] = v->stages[k] != NULL ? v->stages[k]->outcome : 0;
}

static int finished_state(const struct tsc_run_view *v)
{
    if (v->cancelled)
        return TSC_RUN_CANCELLED;
    for (uint32_t k = 0; k < v->n_stages; k++)
        if (v->stages[k] != NULL && v->stages[k]->outcome != TSC_STAGE_PASSED)
            return TSC_RUN_FAILED;
    return TSC_RUN_PASSED;
}

static int add_stage(struct tsc_run_view *v, struct tsc_runlog *rec)
{
    uint8_t out[TSC_RUN_MAX_STAGES];
    const struct tsc_runlog_stage *st = &rec->stage;
    uint32_t expect = v->cancelled && v->stages[0] == NULL ? 0 : v->next;
    if (st->n_results != v->submit.n_participants) {
        tsc_runlog_free(rec);
        return TSC_EMALFORMED;
    }
    if (st->stage != expect || expect >= v->n_stages || v->stages[expect] != NULL) {
        tsc_runlog_free(rec); /* a duplicate, or a stage that is not next */
        return 0;
    }
    int rc = keep(v, rec);
    if (rc != 0) {
        tsc_runlog_free(rec);
        return rc;
    }
    outcomes(v, out);
    v->next = tsc_stage_next(v->submit.n_cases, out, expect, v->cancelled);
    v->state = v->next >= v->n_stages ? finished_state(v) : TSC_RUN_RUNNING;
    return 0;
}

static int add_cancel(struct tsc_run_view *v, struct tsc_runlog *rec)
{
    if (v->cancelled || v->next >= v->n_stages) {
        tsc_runlog_free(rec);
        return 0;
    }
    int rc = keep(v, rec);
    if (rc != 0) {
        tsc_runlog_free(rec);
        return rc;
    }
    v->cancelled = 1;
    v->cancel = rec->cancel;
    if (v->stages[0] == NULL) { /* perhaps still queued: see the top */
        v->next = v->n_stages;
        v->state = TSC_RUN_CANCELLED;
    }
    return 0;
}

int tsc_run_view_add(struct tsc_run_view *v, const uint8_t *bytes, size_t len)
{
    struct tsc_runlog rec;
    int rc = tsc_runlog_decode(bytes, len, &rec);
    if (rc != 0)
        return rc;
    uint64_t run = rec.kind == TSC_RUNLOG_STAGE    ? rec.stage.run
                   : rec.kind == TSC_RUNLOG_CANCEL ? rec.cancel.run
                                                   : 0;
    if (run == 0 || run != v->run) {
        tsc_runlog_free(&rec);
        return TSC_EINVAL;
    }
    return rec.kind == TSC_RUNLOG_STAGE ? add_stage(v, &rec) : add_cancel(v, &rec);
}

void tsc_run_view_free(struct tsc_run_view *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n_recs; i++)
        tsc_runlog_free(&v->recs[i]);
    tsc_free(v->recs);
    tsc_free(v->stages);
    memset(v, 0, sizeof *v);
}

/* A case fails as soon as one of its stages failed; it is skipped when the
 * run moved past its init without running it. Out of range: -1. */
int tsc_run_view_case_state(const struct tsc_run_view *v, uint32_t i)
{
    if (i >= v->submit.n_cases)
        return -1;
    uint32_t init = 1 + 3 * i;
    for (uint32_t k = init; k < init + 3; k++)
        if (v->stages[k] != NULL && v->stages[k]->outcome != TSC_STAGE_PASSED)
            return TSC_CASE_FAILED;
    if (v->stages[init + 2] != NULL)
        return TSC_CASE_PASSED;
    if (v->stages[init] == NULL && v->next > init)
        return TSC_CASE_SKIPPED;
    return TSC_CASE_PENDING;
}
