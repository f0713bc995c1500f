/* tsc — `tscctl logs RUN`: fetch a run's merged records page by page,
 * filter and print them (ctl/logs.h formats).
 *
 * Names: the run's SUBMIT (op run_status) names its participants and
 * carries the suite (case names); the members op adds the label name= of
 * nodes that are not participants (the coordinator). Both are best effort
 * after the first: a run whose SUBMIT cannot be read is still shown, with
 * ids and case numbers.
 *
 * Errors (out of sequence) come with the first page (from = 1) or, when
 * only a span was fetched, with the log_index answer; with --follow they
 * are fetched once more at the end, when the merge has finished. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "barrier/runlog.h"
#include "common/alloc.h"
#include "ctl/ctl.h"
#include "ctl/logs.h"
#include "wire/record.h"
#include "wire/suite.h"

#define PAGE_RECORDS 16384
#define FOLLOW_MS    200

struct ctx {
    struct tsc_logs_names names;
    struct tsc_suite suite;
    int have_suite;
    const char **case_names;
    uint32_t n_cases;
    struct tsc_logmerge_error *errors;
    size_t n_errors;
    int have_errors;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int fail(int code, const char *errmsg)
{
    fprintf(stderr, "tscctl: %s\n", errmsg);
    return code;
}

/* Participants and case names from the run's SUBMIT. */
static int load_submit(const struct tsc_ctl_target *t, uint64_t run, struct ctx *c)
{
    struct tsc_control_req req = {.op = TSC_CONTROL_OP_RUN_STATUS, .run = run};
    struct tsc_control_resp resp;
    struct tsc_buf hold;
    struct tsc_runlog sub;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    tsc_buf_init(&hold);
    int code = tsc_ctl_request(t, &req, &resp, &hold, 1, errmsg);
    if (code != 0) {
        tsc_buf_free(&hold);
        return fail(code, errmsg);
    }
    const struct tsc_control_progress *p = &resp.progress;
    if (resp.has_progress && tsc_runlog_decode(p->submit, p->submit_len, &sub) == 0) {
        if (sub.kind == TSC_RUNLOG_SUBMIT) {
            for (size_t i = 0; i < sub.submit.n_participants; i++)
                if (tsc_logs_names_add(&c->names, sub.submit.participants[i].id,
                                       sub.submit.participants[i].name) != 0)
                    code = fail(TSC_CTL_EXIT_ERROR, "out of memory");
            c->have_suite =
                tsc_suite_decode(sub.submit.suite, sub.submit.suite_len, &c->suite, errmsg) == 0;
        }
        tsc_runlog_free(&sub);
    }
    if (c->have_suite && c->suite.n_cases > 0) {
        c->case_names = tsc_calloc(c->suite.n_cases, sizeof *c->case_names);
        for (size_t i = 0; c->case_names != NULL && i < c->suite.n_cases; i++)
            c->case_names[i] = c->suite.cases[i].name;
        c->n_cases = c->case_names != NULL ? (uint32_t)c->suite.n_cases : 0;
    }
    tsc_control_resp_free(&resp);
    tsc_buf_free(&hold);
    return code;
}

/* label name= of every member the agent knows (best effort). */
static void load_members(const struct tsc_ctl_target *t, struct ctx *c)
{
    struct tsc_control_req req = {.op = TSC_CONTROL_OP_MEMBERS};
    struct tsc_control_resp resp;
    struct tsc_buf hold;
    char errmsg[TSC_ERRMSG_SIZE];
    tsc_buf_init(&hold);
    if (tsc_ctl_request(t, &req, &resp, &hold, 0, errmsg) == 0) {
        for (size_t i = 0; i < resp.n_members; i++) {
            const struct tsc_control_member *m = &resp.members[i];
            struct tsc_record rec;
            struct tsc_meta meta;
            const char *name = "";
            if (m->record != NULL &&
                tsc_record_decode(&tsc_crypto_sodium, m->record, m->record_len, 0, &rec) == 0 &&
                tsc_meta_decode(rec.meta, rec.meta_len, &meta) == 0)
                for (unsigned j = 0; j < meta.n_labels; j++)
                    if (strcmp(meta.labels[j].key, "name") == 0)
                        name = meta.labels[j].val;
            if (name[0] != '\0')
                tsc_logs_names_add(&c->names, m->id, name);
        }
        tsc_control_resp_free(&resp);
    }
    tsc_buf_free(&hold);
}

static void ctx_free(struct ctx *c)
{
    tsc_logs_names_free(&c->names);
    if (c->have_suite)
        tsc_suite_free(&c->suite);
    tsc_free(c->case_names);
    tsc_free(c->errors);
    memset(c, 0, sizeof *c);
}

/* Keep the errors of an answer (decoded; malformed ones are skipped). */
static int take_errors(struct ctx *c, const struct tsc_control_logs *l)
{
    tsc_free(c->errors);
    c->n_errors = 0;
    c->have_errors = 1;
    c->errors = tsc_calloc(l->n_errors ? l->n_errors : 1, sizeof *c->errors);
    if (c->errors == NULL)
        return TSC_ENOMEM;
    for (size_t i = 0; i < l->n_errors; i++)
        if (tsc_logmerge_error_decode(l->errors[i].p, l->errors[i].len, &c->errors[c->n_errors]) ==
            0)
            c->n_errors++;
    return 0;
}

/* With a node, case or stage filter and an agent that answers log_index:
 * the span of merged indices that can hold matching records. 1 when a
 * span is known (*first > *last: nothing matches), 0 to fetch all. */
static int find_span(const struct tsc_ctl_target *t, uint64_t run, const struct tsc_logs_filter *f,
                     struct ctx *c, uint64_t *first, uint64_t *last)
{
    struct tsc_control_req req = {.op = TSC_CONTROL_OP_LOG_INDEX, .run = run};
    struct tsc_control_resp resp;
    struct tsc_buf hold;
    char errmsg[TSC_ERRMSG_SIZE];
    int known = 0;
    if (!f->has_node && !f->has_case && !f->has_stage && f->stage_kind == 0)
        return 0;
    tsc_buf_init(&hold);
    if (tsc_ctl_request(t, &req, &resp, &hold, 1, errmsg) == 0) {
        if (resp.has_ranges && resp.has_logs && resp.logs.finished &&
            take_errors(c, &resp.logs) == 0) {
            known = 1;
            *first = UINT64_MAX;
            *last = 0;
            for (size_t i = 0; i < resp.n_ranges; i++) {
                const struct tsc_control_log_range *g = &resp.ranges[i];
                if (!tsc_logs_filter_match_range(f, g->stage, g->case_index, g->node))
                    continue;
                *first = g->first < *first ? g->first : *first;
                *last = g->last > *last ? g->last : *last;
            }
        }
        tsc_control_resp_free(&resp);
    }
    tsc_buf_free(&hold);
    return known;
}

/* The run's errors now (one record asked for, to keep the answer small). */
static int fetch_errors(const struct tsc_ctl_target *t, uint64_t run, struct ctx *c)
{
    struct tsc_control_req req = {.op = TSC_CONTROL_OP_LOGS, .run = run, .from = 1, .limit = 1};
    struct tsc_control_resp resp;
    struct tsc_buf hold;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    tsc_buf_init(&hold);
    int code = tsc_ctl_request(t, &req, &resp, &hold, 1, errmsg);
    if (code == 0) {
        if (resp.has_logs && take_errors(c, &resp.logs) != 0)
            code = fail(TSC_CTL_EXIT_ERROR, "out of memory");
        tsc_control_resp_free(&resp);
    } else {
        fail(code, errmsg);
    }
    tsc_buf_free(&hold);
    return code;
}

static int show_page(struct tsc_logs_writer *w, const struct tsc_logs_filter *f,
                     const struct tsc_control_logs *l, uint64_t last, size_t *bad)
{
    struct tsc_logrec rec;
    int rc = 0;
    tsc_logrec_init(&rec);
    for (size_t i = 0; rc == 0 && i < l->n_records && l->first + i <= last; i++) {
        if (tsc_logrec_decode(l->records[i].p, l->records[i].len, &rec) != 0) {
            ++*bad;
            continue;
        }
        if (tsc_logs_filter_match(f, &rec))
            rc = tsc_logs_write_record(w, l->first + i, &rec);
    }
    tsc_logrec_free(&rec);
    return rc;
}

/* Page through [from, last]. */
static int fetch_records(const struct tsc_ctl_target *t, uint64_t run,
                         const struct tsc_ctl_logs_opts *o, const struct tsc_logs_filter *f,
                         struct ctx *c, struct tsc_logs_writer *w, uint64_t from, uint64_t last)
{
    struct tsc_control_req req = {.op = TSC_CONTROL_OP_LOGS, .run = run};
    struct tsc_control_resp resp;
    struct tsc_buf hold;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    size_t bad = 0;
    int code = 0;
    tsc_buf_init(&hold);
    while (from <= last) {
        req.from = from;
        req.limit = last - from + 1 < PAGE_RECORDS ? (uint32_t)(last - from + 1) : PAGE_RECORDS;
        if ((code = tsc_ctl_request(t, &req, &resp, &hold, 1, errmsg)) != 0) {
            fail(code, errmsg);
            break;
        }
        if (!resp.has_logs) {
            tsc_control_resp_free(&resp);
            code = fail(TSC_CTL_EXIT_ERROR, "the agent's reply lacks the logs");
            break;
        }
        const struct tsc_control_logs *l = &resp.logs;
        if (from <= 1 && !o->follow && !c->have_errors && take_errors(c, l) != 0)
            code = fail(TSC_CTL_EXIT_ERROR, "out of memory");
        if (code == 0 && show_page(w, f, l, last, &bad) != 0)
            code = fail(TSC_CTL_EXIT_ERROR, "out of memory");
        int done = l->finished && (l->n_records == 0 || l->first + l->n_records > l->merged);
        uint64_t next = l->n_records > 0 ? l->first + l->n_records : from;
        int empty = l->n_records == 0;
        tsc_control_resp_free(&resp);
        if (code != 0 || (empty && (!o->follow || done)))
            break;
        if (!empty && next <= from) {
            code = fail(TSC_CTL_EXIT_ERROR, "the agent's answer went backwards");
            break;
        }
        from = next;
        if (empty) {
            fflush(w->out);
            sleep_ms(FOLLOW_MS);
        }
    }
    if (bad > 0)
        fprintf(stderr, "tscctl: %zu records could not be read\n", bad);
    tsc_buf_free(&hold);
    return code;
}

int tsc_ctl_cmd_logs(const struct tsc_ctl_target *t, uint64_t run,
                     const struct tsc_ctl_logs_opts *o)
{
    struct ctx c;
    struct tsc_logs_filter f;
    struct tsc_logs_writer w;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    uint64_t first = 1, last = UINT64_MAX;
    int code;
    memset(&c, 0, sizeof c);
    tsc_logs_filter_init(&f);
    if ((code = load_submit(t, run, &c)) != 0)
        goto out;
    load_members(t, &c);
    tsc_logs_names_finish(&c.names);
    if (o->node != NULL && tsc_logs_names_find(&c.names, o->node, &f.node) != 0) {
        code = fail(TSC_CTL_EXIT_USAGE, "--node: no such node in this run (a name or a hex id)");
        goto out;
    }
    f.has_node = o->node != NULL;
    if (o->case_name != NULL &&
        tsc_logs_filter_set_case(&f, o->case_name, c.case_names, c.n_cases) != 0) {
        code = fail(TSC_CTL_EXIT_USAGE, "--case: no such case in this run (a name or a number)");
        goto out;
    }
    if (o->stage != NULL && tsc_logs_filter_set_stage(&f, o->stage) != 0) {
        code = fail(TSC_CTL_EXIT_USAGE, "--stage: init, run, finalize, suite-init, "
                                        "suite-finalize or a stage number");
        goto out;
    }
    if (o->grep != NULL && tsc_logs_filter_set_grep(&f, o->grep, errmsg) != 0) {
        code = fail(TSC_CTL_EXIT_USAGE, errmsg);
        goto out;
    }
    if (!o->follow)
        find_span(t, run, &f, &c, &first, &last);
    tsc_logs_writer_init(&w, stdout, stderr, o->format ? o->format : TSC_LOGS_TEXT, &c.names,
                         c.case_names, c.n_cases);
    tsc_logs_write_start(&w);
    code = fetch_records(t, run, o, &f, &c, &w, first, last);
    if (code == 0 && !c.have_errors)
        code = fetch_errors(t, run, &c);
    fflush(stdout);
    for (size_t i = 0; code == 0 && i < c.n_errors; i++) {
        const struct tsc_logmerge_error *e = &c.errors[i];
        if (!f.has_node || e->a_node == f.node || e->b_node == f.node)
            tsc_logs_write_error(&w, e);
    }
    tsc_logs_writer_free(&w);
    if (fflush(stdout) != 0 && code == 0)
        code = TSC_CTL_EXIT_ERROR;
out:
    tsc_logs_filter_free(&f);
    ctx_free(&c);
    return code;
}
