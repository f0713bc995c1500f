/* tsc — runs in the store: every applied run record, and one summary per run
 * for `tscctl history`.
 *
 * Key space "runs": [run u64 BE][seq u32 BE] -> the record's bytes, with
 * seq 0 the SUBMIT, 2 + 2k the STAGE record of stage k, and 1 + 2s the
 * CANCEL, where s is the stage the run was at when the cancel was applied:
 * key order is log order, which is the order a run view needs (a cancel
 * changes which stages follow). A record for a key that is already stored
 * is not written again: the first applied decision wins, on every voter
 * alike (the engine ignores the later duplicates the same way).
 * Key space "history": [run u64 BE] -> summary (fixed layout below).
 *
 * These writes are derived state: the replicated log is the truth, and after
 * a restart it is applied again from the start, which rewrites the same keys.
 * So they go to the WAL without fsync. */
#include <string.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "common/alloc.h"

#define SEQ_SUBMIT    0u
#define SEQ_STAGE(k)  (2u + 2u * (k))
#define SEQ_CANCEL(s) (1u + 2u * (s))

/* summary: state u8, submitted u64, ended u64, n_cases u32, n_failed u32,
 * name length u8, name bytes. */
#define SUMMARY_FIXED 26

static void run_key(uint8_t key[12], uint64_t run, uint32_t seq)
{
    tsc_store_put_be64(key, run);
    key[8] = (uint8_t)(seq >> 24);
    key[9] = (uint8_t)(seq >> 16);
    key[10] = (uint8_t)(seq >> 8);
    key[11] = (uint8_t)seq;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int summary_decode(const uint8_t *p, size_t len, uint64_t run,
                          struct tsc_control_run_summary *s)
{
    if (len < SUMMARY_FIXED || (size_t)SUMMARY_FIXED + p[25] != len || p[25] >= sizeof s->suite)
        return TSC_EMALFORMED;
    memset(s, 0, sizeof *s);
    s->run = run;
    s->state = p[0];
    s->submitted_us = tsc_store_get_be64(p + 1);
    s->ended_us = tsc_store_get_be64(p + 9);
    s->n_cases = get_be32(p + 17);
    s->n_failed = get_be32(p + 21);
    memcpy(s->suite, p + SUMMARY_FIXED, p[25]);
    s->suite[p[25]] = '\0';
    return 0;
}

static void summary_put(struct tsc_agent *a, const struct tsc_control_run_summary *s)
{
    uint8_t v[SUMMARY_FIXED + TSC_CONTROL_NAME], key[8];
    size_t n = strnlen(s->suite, sizeof s->suite - 1);
    char errmsg[TSC_ERRMSG_SIZE];
    v[0] = (uint8_t)s->state;
    tsc_store_put_be64(v + 1, s->submitted_us);
    tsc_store_put_be64(v + 9, s->ended_us);
    put_be32(v + 17, s->n_cases);
    put_be32(v + 21, s->n_failed);
    v[25] = (uint8_t)n;
    memcpy(v + SUMMARY_FIXED, s->suite, n);
    tsc_store_put_be64(key, s->run);
    if (a->store.put(&a->store, TSC_STORE_HISTORY, key, 8, v, SUMMARY_FIXED + n, 0, errmsg) != 0) {
        a->c.store_errors++;
        tsc_logf(TSC_LOG_WARN, "run %llu: %s", (unsigned long long)s->run, errmsg);
    }
}

static int summary_get(struct tsc_agent *a, uint64_t run, struct tsc_control_run_summary *s)
{
    uint8_t key[8];
    struct tsc_buf v;
    tsc_buf_init(&v);
    tsc_store_put_be64(key, run);
    int rc = a->store.get(&a->store, TSC_STORE_HISTORY, key, 8, &v, NULL);
    if (rc == 0)
        rc = summary_decode(v.data, v.len, run, s);
    tsc_buf_free(&v);
    return rc;
}

/* The stage run is at, as the barrier engine knows it before it applies the
 * CANCEL being stored: its current stage if it is the running run, else 0
 * (queued: nothing decided yet). */
static uint32_t cancel_stage(struct tsc_agent *a, uint64_t run)
{
    struct tsc_barrier_progress p;
    tsc_barrier_progress(a->runs.b, &p);
    return p.run == run ? p.stage : 0;
}

void tsc__runs_store_record(struct tsc_agent *a, uint64_t index, const struct tsc_runlog *r,
                            const uint8_t *data, size_t len)
{
    uint8_t key[12];
    uint64_t run;
    uint32_t seq;
    struct tsc_buf old;
    char errmsg[TSC_ERRMSG_SIZE];
    struct tsc_control_run_summary s;
    switch (r->kind) {
    case TSC_RUNLOG_SUBMIT:
        run = index;
        seq = SEQ_SUBMIT;
        break;
    case TSC_RUNLOG_STAGE:
        run = r->stage.run;
        seq = SEQ_STAGE(r->stage.stage);
        break;
    case TSC_RUNLOG_CANCEL:
        run = r->cancel.run;
        seq = SEQ_CANCEL(cancel_stage(a, run));
        break;
    default:
        return;
    }
    /* Records of runs that were never submitted are ignored (the engine
     * does the same). */
    if (r->kind != TSC_RUNLOG_SUBMIT && summary_get(a, run, &s) != 0)
        return;
    run_key(key, run, seq);
    tsc_buf_init(&old);
    int rc = a->store.get(&a->store, TSC_STORE_RUNS, key, sizeof key, &old, NULL);
    tsc_buf_free(&old);
    if (rc == 0)
        return; /* decided already: the first applied record wins */
    if (a->store.put(&a->store, TSC_STORE_RUNS, key, sizeof key, data, len, 0, errmsg) != 0) {
        a->c.store_errors++;
        tsc_logf(TSC_LOG_WARN, "run %llu: %s", (unsigned long long)run, errmsg);
        return;
    }
    if (r->kind == TSC_RUNLOG_SUBMIT) {
        memset(&s, 0, sizeof s);
        s.run = run;
        snprintf(s.suite, sizeof s.suite, "%s", r->submit.suite_name);
        s.state = TSC_RUN_QUEUED;
        s.submitted_us = r->submit.submitted_us;
        s.n_cases = r->submit.n_cases;
        summary_put(a, &s);
    } else if (r->kind == TSC_RUNLOG_STAGE && s.state == TSC_RUN_QUEUED) {
        s.state = TSC_RUN_RUNNING;
        summary_put(a, &s);
    }
}

void tsc__runs_store_finished(struct tsc_agent *a, uint64_t run, int state)
{
    struct tsc_control_run_summary s;
    struct tsc_control_bytes *recs = NULL;
    size_t n = 0;
    struct tsc_buf hold;
    struct tsc_run_view v;
    if (summary_get(a, run, &s) != 0)
        return;
    s.state = state;
    s.n_failed = 0;
    /* The end is in the records (the newest decision, or the cancel of a run
     * that never started), so that re-applying the log after a restart
     * gives the same history. */
    s.ended_us = s.submitted_us;
    tsc_buf_init(&hold);
    if (tsc__runs_store_load(a, run, &recs, &n, &hold, NULL) == 0 && n > 0 &&
        tsc_run_view_init(&v, run, recs[0].p, recs[0].len) == 0) {
        for (size_t i = 1; i < n; i++)
            tsc_run_view_add(&v, recs[i].p, recs[i].len);
        for (uint32_t c = 0; c < v.submit.n_cases; c++)
            if (tsc_run_view_case_state(&v, c) == TSC_CASE_FAILED)
                s.n_failed++;
        for (uint32_t k = 0; k < v.n_stages; k++)
            if (v.stages[k] != NULL && v.stages[k]->decided_us > s.ended_us)
                s.ended_us = v.stages[k]->decided_us;
        if (v.cancelled && v.cancel.at_us > s.ended_us)
            s.ended_us = v.cancel.at_us;
        tsc_run_view_free(&v);
    }
    tsc_free(recs);
    tsc_buf_free(&hold);
    summary_put(a, &s);
}

struct load_ctx {
    uint64_t run;
    struct tsc_buf *hold;
    size_t *offs, n, cap;
    int err;
};

static int load_one(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct load_ctx *c = ctx;
    if (klen != 12 || tsc_store_get_be64(key) != c->run)
        return 1; /* past the run */
    if (c->n + 1 >= c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        size_t *n = tsc_calloc(cap, sizeof *n);
        if (n == NULL) {
            c->err = TSC_ENOMEM;
            return 1;
        }
        if (c->n)
            memcpy(n, c->offs, (c->n + 1) * sizeof *n);
        tsc_free(c->offs);
        c->offs = n;
        c->cap = cap;
    }
    if (tsc_buf_append(c->hold, val, vlen) != 0) {
        c->err = TSC_ENOMEM;
        return 1;
    }
    c->offs[++c->n] = c->hold->len;
    return 0;
}

int tsc__runs_store_load(struct tsc_agent *a, uint64_t run, struct tsc_control_bytes **recs,
                         size_t *n, struct tsc_buf *hold, char *errmsg)
{
    uint8_t key[12];
    struct load_ctx c = {run, hold, NULL, 0, 0, 0};
    run_key(key, run, 0);
    *recs = NULL;
    *n = 0;
    int rc = a->store.scan_from(&a->store, TSC_STORE_RUNS, key, sizeof key, load_one, &c, errmsg);
    if (rc == 0 && c.err != 0)
        rc = c.err;
    if (rc == 0 && c.n == 0)
        rc = TSC_ENOTFOUND;
    if (rc == 0) {
        *recs = tsc_calloc(c.n, sizeof **recs);
        if (*recs == NULL)
            rc = TSC_ENOMEM;
    }
    if (rc == 0) {
        /* Offsets, not pointers, while hold grew: it may have moved. */
        for (size_t i = 0; i < c.n; i++) {
            (*recs)[i].p = hold->data + c.offs[i];
            (*recs)[i].len = c.offs[i + 1] - c.offs[i];
        }
        *n = c.n;
    }
    tsc_free(c.offs);
    if (rc == TSC_ENOTFOUND)
        tsc_errmsg_setf(errmsg, "no run %llu", (unsigned long long)run);
    return rc;
}

struct hist_ctx {
    const char *suite;
    struct tsc_control_run_summary *v;
    size_t n, cap;
    uint32_t limit;
    int err;
};

static int hist_one(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct hist_ctx *c = ctx;
    struct tsc_control_run_summary s;
    if (klen != 8 || summary_decode(val, vlen, tsc_store_get_be64(key), &s) != 0)
        return 0;
    if (c->suite[0] != '\0' && strcmp(c->suite, s.suite) != 0)
        return 0;
    /* Keep the newest `limit` in a ring, oldest overwritten. */
    if (c->cap == 0) {
        c->cap = c->limit;
        c->v = tsc_calloc(c->cap, sizeof *c->v);
        if (c->v == NULL) {
            c->err = TSC_ENOMEM;
            return 1;
        }
    }
    c->v[c->n % c->cap] = s;
    c->n++;
    return 0;
}

int tsc__runs_store_history(struct tsc_agent *a, const char *suite, uint32_t limit,
                            struct tsc_control_run_summary **out, size_t *n, char *errmsg)
{
    struct hist_ctx c = {suite, NULL, 0, 0, limit ? limit : 50, 0};
    if (c.limit > TSC_CONTROL_MAX_HISTORY)
        c.limit = TSC_CONTROL_MAX_HISTORY;
    int rc = a->store.scan(&a->store, TSC_STORE_HISTORY, hist_one, &c, errmsg);
    if (rc == 0)
        rc = c.err;
    *out = NULL;
    *n = 0;
    if (rc != 0 || c.n == 0) {
        tsc_free(c.v);
        return rc;
    }
    size_t k = c.n < c.cap ? c.n : c.cap;
    *out = tsc_calloc(k, sizeof **out);
    if (*out == NULL) {
        tsc_free(c.v);
        return TSC_ENOMEM;
    }
    for (size_t i = 0; i < k; i++) /* newest first */
        (*out)[i] = c.v[(c.n - 1 - i) % c.cap];
    *n = k;
    tsc_free(c.v);
    return 0;
}

static int last_one(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    if (klen == 8)
        *(uint64_t *)ctx = tsc_store_get_be64(key);
    return 0;
}

uint64_t tsc__runs_store_last(struct tsc_agent *a)
{
    uint64_t last = 0;
    a->store.scan(&a->store, TSC_STORE_HISTORY, last_one, &last, NULL);
    return last;
}
