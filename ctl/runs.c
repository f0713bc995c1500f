/* tsc — tscctl's run commands: run, watch, status RUN, cancel, history,
 * results. Every one is a control op that any agent forwards to the
 * coordinator (wire/control.h), so they work against any agent.
 *
 * Following a run (watch, run --wait) polls run_status every 100 ms and
 * prints what changed. A coordinator failover shows up as a few failed
 * polls ("no coordinator", "no longer the coordinator", a forward that found
 * nobody): those are retried for up to TRANSIENT_MS before tscctl gives up
 * with exit status 2. */
#define _GNU_SOURCE
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/results.h"
#include "ctl/suite_yaml.h"

#define POLL_MS      100
#define TRANSIENT_MS 60000

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One request. 0 with resp decoded (resp borrows from *hold: free both), or
 * an exit code with the reason in errmsg; *transient says whether trying
 * again later may help (coordinator moving, agent not answering). */
static int call(const struct tsc_ctl_target *t, const struct tsc_control_req *req,
                struct tsc_control_resp *resp, struct tsc_buf *hold, int *transient, char *errmsg)
{
    struct tsc_buf q;
    int rc;
    *transient = 0;
    tsc_buf_init(&q);
    tsc_buf_reset(hold);
    memset(resp, 0, sizeof *resp);
    if ((rc = tsc_control_req_encode(req, &q)) != 0) {
        tsc_errmsg_setf(errmsg, "encoding the request: %s", tsc_strerror(rc));
        tsc_buf_free(&q);
        return TSC_CTL_EXIT_USAGE;
    }
    rc = tsc_ctl_call(t, &q, hold, errmsg);
    tsc_buf_free(&q);
    if (rc != 0) {
        *transient = rc == TSC_ETIMEDOUT || rc == TSC_ECONNREFUSED;
        return rc == TSC_EAUTH ? TSC_CTL_EXIT_AUTH : TSC_CTL_EXIT_NOAGENT;
    }
    if ((rc = tsc_control_resp_decode(hold->data, hold->len, resp)) != 0) {
        tsc_errmsg_setf(errmsg, "bad reply from the agent: %s", tsc_strerror(rc));
        return TSC_CTL_EXIT_USAGE;
    }
    if (!resp->ok) {
        tsc_errmsg_setf(errmsg, "%s", resp->error[0] ? resp->error : tsc_strerror(resp->code));
        *transient = resp->code == TSC_ESTATE || resp->code == TSC_ECONNREFUSED ? 1
                     : resp->code == TSC_ENOTFOUND                              ? 2
                                                                                : 0;
        int code = resp->code;
        tsc_control_resp_free(resp);
        return code == TSC_EINVAL || code == TSC_ENOTFOUND || code == TSC_ETOOBIG ||
                       code == TSC_EMALFORMED
                   ? TSC_CTL_EXIT_USAGE
                   : TSC_CTL_EXIT_ERROR;
    }
    return 0;
}

/* call() retried while the failure is transient, up to TRANSIENT_MS. A run
 * that is not found is retried only for a just-submitted run (notfound_ms):
 * the coordinator answers `run` when the record is appended, and stores it
 * when it is committed, a round trip later. */
static int call_retry_ex(const struct tsc_ctl_target *t, const struct tsc_control_req *req,
                         struct tsc_control_resp *resp, struct tsc_buf *hold, char *errmsg,
                         uint64_t notfound_ms)
{
    uint64_t start = mono_ms(), give_up = start + TRANSIENT_MS;
    int transient, code;
    while ((code = call(t, req, resp, hold, &transient, errmsg)) != 0 && transient &&
           mono_ms() < give_up) {
        if (transient == 2 && mono_ms() >= start + notfound_ms)
            break;
        sleep_ms(transient == 2 ? 20 : 200);
    }
    return code;
}

static int call_retry(const struct tsc_ctl_target *t, const struct tsc_control_req *req,
                      struct tsc_control_resp *resp, struct tsc_buf *hold, char *errmsg)
{
    return call_retry_ex(t, req, resp, hold, errmsg, 0);
}

static int fail(int code, const char *errmsg)
{
    fprintf(stderr, "tscctl: %s\n", errmsg);
    return code;
}

/* ---- progress ------------------------------------------------------------ */

struct follow {
    int tty, json;
    uint32_t last_stage, last_done;
    int last_state, printed;
};

static const char *case_name(const struct tsc_suite *s, uint32_t n_cases, uint32_t k)
{
    int32_t ci = -1;
    tsc_stage_kind(n_cases, k, &ci);
    return ci >= 0 && s != NULL && (size_t)ci < s->n_cases ? s->cases[ci].name : NULL;
}

/* Per machine: who the stage still waits for, or who did not pass, when
 * few enough to read (else the counts say it). */
static void show_machines(const struct tsc_control_progress *p, const struct tsc_runlog_submit *s)
{
    size_t pending = 0, bad = 0;
    if (s == NULL || s->n_participants != p->n_reported)
        return;
    for (size_t i = 0; i < p->n_reported; i++) {
        pending += p->reported[i] == TSC_RESULT_PENDING;
        bad += p->reported[i] != TSC_RESULT_PENDING && p->reported[i] != TSC_RESULT_PASSED;
    }
    if (pending > 0 && pending <= 8) {
        printf("; waiting for");
        for (size_t i = 0; i < p->n_reported; i++)
            if (p->reported[i] == TSC_RESULT_PENDING)
                printf(" %s", s->participants[i].name);
    }
    if (bad > 0 && bad <= 8) {
        printf("; not passed:");
        for (size_t i = 0; i < p->n_reported; i++)
            if (p->reported[i] != TSC_RESULT_PENDING && p->reported[i] != TSC_RESULT_PASSED)
                printf(" %s (%s)", s->participants[i].name, tsc_result_status_name(p->reported[i]));
    }
}

/* Print a progress line when anything changed. */
static void show(struct follow *f, const struct tsc_control_progress *p)
{
    struct tsc_runlog sub;
    struct tsc_suite suite;
    char errmsg[TSC_ERRMSG_SIZE];
    int have_sub =
        tsc_runlog_decode(p->submit, p->submit_len, &sub) == 0 && sub.kind == TSC_RUNLOG_SUBMIT;
    int have_suite =
        have_sub && tsc_suite_decode(sub.submit.suite, sub.submit.suite_len, &suite, errmsg) == 0;
    uint32_t done = 0;
    for (size_t i = 0; i < p->n_reported; i++)
        done += p->reported[i] != TSC_RESULT_PENDING;
    if (p->state == f->last_state && p->stage == f->last_stage && done == f->last_done &&
        f->printed)
        goto out;
    f->last_state = p->state;
    f->last_stage = p->stage;
    f->last_done = done;
    f->printed = 1;
    if (p->state == TSC_RUN_QUEUED) {
        printf("run %llu: queued (%u ahead)\n", (unsigned long long)p->run, p->queued);
    } else if (p->state == TSC_RUN_RUNNING && p->stage < p->n_stages) {
        uint32_t n_cases = have_sub ? sub.submit.n_cases : 0;
        const char *cn = case_name(have_suite ? &suite : NULL, n_cases, p->stage);
        const char *kn = tsc_stage_kind_name(tsc_stage_kind(n_cases, p->stage, NULL));
        char what[160];
        snprintf(what, sizeof what, "%s%s%s %s", cn ? "case " : "suite", cn ? cn : "", "", kn);
        if (f->tty) {
            int width = 30, fill = p->n_stages ? (int)(width * p->stage / p->n_stages) : 0;
            printf("\r[%.*s%*s] stage %u/%u %-40.40s %u/%zu machines done\033[K", fill,
                   "##############################", width - fill, "", p->stage + 1, p->n_stages,
                   what, done, p->n_reported);
        } else {
            printf("run %llu: stage %u/%u (%s): %u/%zu machines done", (unsigned long long)p->run,
                   p->stage + 1, p->n_stages, what, done, p->n_reported);
            show_machines(p, have_sub ? &sub.submit : NULL);
            printf("\n");
        }
    }
    fflush(stdout);
out:
    if (have_suite)
        tsc_suite_free(&suite);
    if (have_sub)
        tsc_runlog_free(&sub);
}

static int finished(int state)
{
    return state == TSC_RUN_PASSED || state == TSC_RUN_FAILED || state == TSC_RUN_CANCELLED;
}

/* Follow run until it ends. Exit code: 0 passed, 1 failed/cancelled, 2 tsc error.
 * fresh: the run was submitted just now (it may not be stored yet). */
static int follow(const struct tsc_ctl_target *t, uint64_t run, int fresh)
{
    struct tsc_control_req req = {.op = TSC_CONTROL_OP_RUN_STATUS, .run = run};
    struct tsc_control_resp resp;
    struct tsc_buf hold;
    struct follow f = {isatty(STDOUT_FILENO), 0, 0, 0, 0, 0};
    char errmsg[TSC_ERRMSG_SIZE] = "";
    int code;
    tsc_buf_init(&hold);
    for (;;) {
        if ((code = call_retry_ex(t, &req, &resp, &hold, errmsg, fresh ? 10000 : 0)) != 0) {
            if (f.tty)
                printf("\n");
            fail(code, errmsg);
            code = TSC_CTL_EXIT_USAGE; /* an error of tsc: 2 */
            break;
        }
        if (!resp.has_progress) {
            tsc_control_resp_free(&resp);
            fail(1, "the agent's reply lacks the progress");
            code = TSC_CTL_EXIT_USAGE;
            break;
        }
        fresh = 0;
        show(&f, &resp.progress);
        int state = resp.progress.state;
        if (finished(state)) {
            if (f.tty)
                printf("\n");
            printf("run %llu: %s%s%s\n", (unsigned long long)run, tsc_run_state_name(state),
                   resp.progress.diagnosis[0] ? ": " : "", resp.progress.diagnosis);
            tsc_control_resp_free(&resp);
            code = state == TSC_RUN_PASSED ? 0 : 1;
            break;
        }
        tsc_control_resp_free(&resp);
        sleep_ms(POLL_MS);
    }
    tsc_buf_free(&hold);
    fflush(stdout);
    return code;
}

/* ---- commands ------------------------------------------------------------ */

int tsc_ctl_cmd_run(const struct tsc_ctl_target *t, const char *path, int wait)
{
    struct tsc_suite s;
    struct tsc_buf enc, hold;
    struct tsc_control_resp resp;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    int code;
    if (tsc_suite_load(path, &s, errmsg) != 0) {
        fprintf(stderr, "%s\n", errmsg); /* FILE:LINE:COLUMN: message */
        return TSC_CTL_EXIT_USAGE;
    }
    tsc_buf_init(&enc);
    tsc_buf_init(&hold);
    int rc = tsc_suite_encode(&s, &enc, errmsg);
    tsc_suite_free(&s);
    if (rc != 0) {
        tsc_buf_free(&enc);
        return fail(TSC_CTL_EXIT_USAGE, errmsg);
    }
    struct tsc_control_req req = {.op = TSC_CONTROL_OP_RUN};
    randombytes_buf(&req.nonce, sizeof req.nonce);
    req.nonce |= 1; /* 0 means "no nonce" */
    req.suite = enc.data;
    req.suite_len = enc.len;
    /* Retrying is safe: the nonce makes a second submission the same run. */
    code = call_retry(t, &req, &resp, &hold, errmsg);
    tsc_buf_free(&enc);
    if (code != 0) {
        tsc_buf_free(&hold);
        fail(code, errmsg);
        return code == TSC_CTL_EXIT_ERROR ? TSC_CTL_EXIT_USAGE : code;
    }
    uint64_t run = resp.run;
    tsc_control_resp_free(&resp);
    tsc_buf_free(&hold);
    printf("%llu\n", (unsigned long long)run);
    fflush(stdout);
    return wait ? follow(t, run, 1) : 0;
}

int tsc_ctl_cmd_watch(const struct tsc_ctl_target *t, uint64_t run)
{
    return follow(t, run, 0);
}

int tsc_ctl_cmd_cancel(const struct tsc_ctl_target *t, uint64_t run)
{
    struct tsc_control_req req = {.op = TSC_CONTROL_OP_CANCEL, .run = run};
    struct tsc_control_resp resp;
    struct tsc_buf hold;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    tsc_buf_init(&hold);
    int code = call_retry(t, &req, &resp, &hold, errmsg);
    if (code == 0) {
        printf("run %llu: cancel requested\n", (unsigned long long)run);
        tsc_control_resp_free(&resp);
    } else {
        fail(code, errmsg);
    }
    tsc_buf_free(&hold);
    return code;
}

static void fmt_time(uint64_t us, char *out, size_t cap)
{
    time_t s = (time_t)(us / 1000000u);
    struct tm tm;
    if (us == 0 || localtime_r(&s, &tm) == NULL || strftime(out, cap, "%F %T", &tm) == 0)
        snprintf(out, cap, "-");
}

int tsc_ctl_cmd_history(const struct tsc_ctl_target *t, const char *suite, uint32_t limit, int json)
{
    struct tsc_control_req req = {.op = TSC_CONTROL_OP_HISTORY, .limit = limit};
    struct tsc_control_resp resp;
    struct tsc_buf hold;
    char errmsg[TSC_ERRMSG_SIZE] = "", when[32];
    snprintf(req.suite_name, sizeof req.suite_name, "%s", suite ? suite : "");
    tsc_buf_init(&hold);
    int code = call_retry(t, &req, &resp, &hold, errmsg);
    if (code != 0) {
        tsc_buf_free(&hold);
        return fail(code, errmsg);
    }
    if (json)
        printf("[");
    else
        printf("%-6s %-24s %-10s %-19s %8s %5s %6s\n", "RUN", "SUITE", "STATE", "SUBMITTED",
               "SECONDS", "CASES", "FAILED");
    for (size_t i = 0; i < resp.n_history; i++) {
        const struct tsc_control_run_summary *h = &resp.history[i];
        double secs = h->ended_us > h->submitted_us ? (h->ended_us - h->submitted_us) / 1e6 : 0;
        if (json) {
            printf("%s{\"run\":%llu,\"suite\":\"%s\",\"state\":\"%s\",\"submitted_us\":%llu,"
                   "\"ended_us\":%llu,\"cases\":%u,\"failed\":%u}",
                   i ? "," : "", (unsigned long long)h->run, h->suite, tsc_run_state_name(h->state),
                   (unsigned long long)h->submitted_us, (unsigned long long)h->ended_us, h->n_cases,
                   h->n_failed);
        } else {
            fmt_time(h->submitted_us, when, sizeof when);
            printf("%-6llu %-24s %-10s %-19s %8.1f %5u %6u\n", (unsigned long long)h->run, h->suite,
                   tsc_run_state_name(h->state), when, secs, h->n_cases, h->n_failed);
        }
    }
    if (json)
        printf("]\n");
    tsc_control_resp_free(&resp);
    tsc_buf_free(&hold);
    return fflush(stdout) == 0 ? 0 : TSC_CTL_EXIT_ERROR;
}

int tsc_ctl_cmd_run_status(const struct tsc_ctl_target *t, uint64_t run, int json)
{
    /* The whole run (results) shows per-machine state; progress adds the
     * machines of the current stage. */
    struct tsc_control_req req = {.op = TSC_CONTROL_OP_RUN_STATUS, .run = run};
    struct tsc_control_resp resp;
    struct tsc_buf hold;
    struct tsc_runlog sub;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    tsc_buf_init(&hold);
    int code = call_retry(t, &req, &resp, &hold, errmsg);
    if (code != 0) {
        tsc_buf_free(&hold);
        return fail(code, errmsg);
    }
    const struct tsc_control_progress *p = &resp.progress;
    int have_sub = resp.has_progress && tsc_runlog_decode(p->submit, p->submit_len, &sub) == 0 &&
                   sub.kind == TSC_RUNLOG_SUBMIT;
    if (!have_sub) {
        code = fail(TSC_CTL_EXIT_ERROR, "the agent's answer holds no readable run");
    } else if (json) {
        printf("{\"run\":%llu,\"suite\":\"%s\",\"state\":\"%s\",\"stage\":%u,\"stages\":%u,"
               "\"machines\":[",
               (unsigned long long)p->run, sub.submit.suite_name, tsc_run_state_name(p->state),
               p->stage, p->n_stages);
        for (size_t i = 0; i < sub.submit.n_participants; i++)
            printf("%s{\"name\":\"%s\",\"current\":\"%s\"}", i ? "," : "",
                   sub.submit.participants[i].name,
                   i < p->n_reported ? tsc_result_status_name(p->reported[i]) : "-");
        printf("]}\n");
    } else {
        printf("run %llu  suite %s  %s", (unsigned long long)p->run, sub.submit.suite_name,
               tsc_run_state_name(p->state));
        if (p->state == TSC_RUN_RUNNING)
            printf("  stage %u/%u", p->stage + 1, p->n_stages);
        printf("\n");
        for (size_t i = 0; i < sub.submit.n_participants; i++)
            printf("  %-20s %-10s %s\n", sub.submit.participants[i].name,
                   sub.submit.participants[i].role[0] ? sub.submit.participants[i].role : "-",
                   i < p->n_reported ? tsc_result_status_name(p->reported[i]) : "");
        if (p->diagnosis[0])
            printf("last failure: %s\n", p->diagnosis);
    }
    if (have_sub)
        tsc_runlog_free(&sub);
    tsc_control_resp_free(&resp);
    tsc_buf_free(&hold);
    return code;
}
