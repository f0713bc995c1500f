/* tsc — `tscctl results RUN`: the run's results (op results) and, when the
 * agent answers op log_index, the log section of each failed stage
 * (ctl/results.h, tsc_results_write_logs). An agent that does not know
 * log_index (an older one) or a run without a log gives the results
 * alone: the log section is an addition, never a reason to fail.
 *
 * An error names records by (node, seq), the index by merged position, so
 * to tell which failed stage an error belongs to, the records of the
 * failed stages are fetched (op logs over the span their ranges cover, at
 * most MAX_SCAN records) and each error's records looked up in them. An
 * error whose records are elsewhere (or past the bound) is listed in the
 * summary only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "ctl/ctl.h"
#include "ctl/results.h"

#define PAGE_RECORDS 16384
#define MAX_SCAN     (1u << 20)

static int fail(int code, const char *errmsg)
{
    fprintf(stderr, "tscctl: %s\n", errmsg);
    return code;
}

/* Build a view from a results answer; the suite decoded beside it. */
static int build_view(const struct tsc_control_resp *resp, struct tsc_run_view *v,
                      struct tsc_suite *suite, char *errmsg)
{
    if (!resp->has_records || resp->n_records == 0 ||
        tsc_run_view_init(v, resp->run, resp->records[0].p, resp->records[0].len) != 0) {
        tsc_errmsg_setf(errmsg, "the agent's answer holds no readable run");
        return TSC_EMALFORMED;
    }
    for (size_t i = 1; i < resp->n_records; i++)
        tsc_run_view_add(v, resp->records[i].p, resp->records[i].len);
    if (tsc_suite_decode(v->submit.suite, v->submit.suite_len, suite, errmsg) != 0) {
        tsc_run_view_free(v);
        return TSC_EMALFORMED;
    }
    return 0;
}

static int stage_failed(const struct tsc_run_view *v, uint32_t k)
{
    return k < v->n_stages && v->stages != NULL && v->stages[k] != NULL &&
           v->stages[k]->outcome != TSC_STAGE_PASSED;
}

/* Mark errors whose records are among recs (stage of each when failed). */
static void attribute_page(const struct tsc_run_view *v, const struct tsc_control_logs *l,
                           struct tsc_results_log_error *errs, size_t n_errs)
{
    struct tsc_logrec rec;
    tsc_logrec_init(&rec);
    for (size_t i = 0; i < l->n_records; i++) {
        if (tsc_logrec_decode(l->records[i].p, l->records[i].len, &rec) != 0 ||
            !stage_failed(v, rec.stage))
            continue;
        for (size_t j = 0; j < n_errs; j++) {
            struct tsc_results_log_error *x = &errs[j];
            if (x->e.a_node == rec.node && x->e.a_seq == rec.seq)
                x->a_stage = rec.stage;
            if (x->e.b_node == rec.node && x->e.b_seq == rec.seq)
                x->b_stage = rec.stage;
        }
    }
    tsc_logrec_free(&rec);
}

static void attribute(const struct tsc_ctl_target *t, const struct tsc_run_view *v,
                      const struct tsc_control_log_range *ranges, size_t n_ranges,
                      struct tsc_results_log_error *errs, size_t n_errs)
{
    uint64_t first = UINT64_MAX, last = 0;
    for (size_t i = 0; i < n_ranges; i++) {
        if (!stage_failed(v, ranges[i].stage))
            continue;
        first = ranges[i].first < first ? ranges[i].first : first;
        last = ranges[i].last > last ? ranges[i].last : last;
    }
    if (n_errs == 0 || first > last)
        return;
    if (last - first >= MAX_SCAN)
        last = first + MAX_SCAN - 1;
    struct tsc_control_req req = {.op = TSC_CONTROL_OP_LOGS, .run = v->run};
    struct tsc_control_resp resp;
    struct tsc_buf hold;
    char errmsg[TSC_ERRMSG_SIZE];
    tsc_buf_init(&hold);
    for (uint64_t from = first; from <= last;) {
        req.from = from;
        req.limit = last - from + 1 < PAGE_RECORDS ? (uint32_t)(last - from + 1) : PAGE_RECORDS;
        if (tsc_ctl_request(t, &req, &resp, &hold, 1, errmsg) != 0)
            break;
        uint64_t next = resp.logs.first + resp.logs.n_records;
        int progress = resp.has_logs && resp.logs.n_records > 0 && next > from;
        if (progress)
            attribute_page(v, &resp.logs, errs, n_errs);
        tsc_control_resp_free(&resp);
        if (!progress)
            break;
        from = next;
    }
    tsc_buf_free(&hold);
}

/* The log index of the run, or 0 (no log section). */
static int load_index(const struct tsc_ctl_target *t, const struct tsc_run_view *v,
                      struct tsc_control_resp *resp, struct tsc_buf *hold,
                      struct tsc_results_logs *logs, struct tsc_results_log_error **errs)
{
    struct tsc_control_req req = {.op = TSC_CONTROL_OP_LOG_INDEX, .run = v->run};
    char errmsg[TSC_ERRMSG_SIZE];
    if (tsc_ctl_request(t, &req, resp, hold, 1, errmsg) != 0)
        return 0; /* unknown op (an older agent), no log: results alone */
    if (!resp->has_logs || !resp->has_ranges) {
        tsc_control_resp_free(resp);
        return 0;
    }
    const struct tsc_control_logs *l = &resp->logs;
    *errs = tsc_calloc(l->n_errors ? l->n_errors : 1, sizeof **errs);
    if (*errs == NULL) {
        tsc_control_resp_free(resp);
        return 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < l->n_errors; i++) {
        if (tsc_logmerge_error_decode(l->errors[i].p, l->errors[i].len, &(*errs)[n].e) != 0)
            continue;
        (*errs)[n].a_stage = (*errs)[n].b_stage = TSC_RESULTS_NO_STAGE;
        n++;
    }
    attribute(t, v, resp->ranges, resp->n_ranges, *errs, n);
    logs->ranges = resp->ranges;
    logs->n_ranges = resp->n_ranges;
    logs->errors = *errs;
    logs->n_errors = n;
    logs->merged = l->merged;
    logs->finished = l->finished;
    return 1;
}

int tsc_ctl_cmd_results_logs(const struct tsc_ctl_target *t, uint64_t run, int format)
{
    struct tsc_control_req req = {.op = TSC_CONTROL_OP_RESULTS, .run = run};
    struct tsc_control_resp resp, iresp;
    struct tsc_buf hold, ihold;
    struct tsc_run_view v;
    struct tsc_suite suite;
    struct tsc_results_logs logs;
    struct tsc_results_log_error *errs = NULL;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    memset(&logs, 0, sizeof logs);
    tsc_buf_init(&hold);
    tsc_buf_init(&ihold);
    int code = tsc_ctl_request(t, &req, &resp, &hold, 1, errmsg);
    if (code != 0) {
        tsc_buf_free(&hold);
        return fail(code, errmsg);
    }
    if (build_view(&resp, &v, &suite, errmsg) != 0) {
        code = fail(TSC_CTL_EXIT_ERROR, errmsg);
    } else {
        int have_logs = load_index(t, &v, &iresp, &ihold, &logs, &errs);
        if (tsc_results_write_logs(stdout, format, &v, &suite, have_logs ? &logs : NULL) != 0 ||
            fflush(stdout) != 0)
            code = TSC_CTL_EXIT_ERROR;
        if (have_logs)
            tsc_control_resp_free(&iresp);
        tsc_suite_free(&suite);
        tsc_run_view_free(&v);
    }
    tsc_free(errs);
    tsc_control_resp_free(&resp);
    tsc_buf_free(&hold);
    tsc_buf_free(&ihold);
    return code;
}
