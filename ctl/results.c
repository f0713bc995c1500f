/* tsc — a run's results as a table, JSON, JUnit XML or TAP (ctl/results.h).
 * This file: the run model the formatters share, the table and JSON
 * formats and the entry points; results_text.c escapes text, results_junit.c
 * writes JUnit XML and TAP.
 *
 * Everything a script produced (output, messages, diagnoses that quote it)
 * and every name taken from the records is untrusted bytes: each passes
 * through tsc__results_put_text with the escaping of its format, after a
 * strict UTF-8 decode in which every byte that does not start a valid
 * sequence becomes U+FFFD. Nothing here allocates; the formatters write
 * straight to the FILE and look at ferror once at the end.
 *
 * Case states are derived here from the three stage records (and the view's
 * `next`), not from tsc_run_view_case_state, so that a view built by hand
 * (tests) or a view of a run still in progress is shown the same way: a
 * stage is skipped when it was never decided and the run has moved past it
 * or is over; a case failed when one of its stages failed, is pending while
 * one is pending, skipped when one was skipped, passed otherwise. */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "common/addr.h"
#include "ctl/results_int.h"

static const char *const stage_state_names[] = {"pending", "passed", "failed", "skipped"};
static const char *const case_state_names[] = {"pending", "passed", "failed", "skipped"};

/* The runlog.h names, never NULL: a record from a newer peer may carry a
 * value this build does not know. */
const char *tsc__results_status_name(int status)
{
    const char *s = tsc_result_status_name(status);
    return s != NULL ? s : "?";
}

const char *tsc__results_kind_name(int kind)
{
    const char *s = tsc_stage_kind_name(kind);
    return s != NULL ? s : "?";
}

const char *tsc__results_run_state_name(int state)
{
    const char *s = tsc_run_state_name(state);
    return s != NULL ? s : "?";
}

/* ---- the run, as the formatters see it ------------------------------------ */

static void run_init(struct tsc__rrun *r, const struct tsc_run_view *v,
                     const struct tsc_suite *suite)
{
    r->v = v;
    r->suite = suite;
    r->n_cases = v->submit.n_cases;
    if (r->n_cases > (TSC_RUN_MAX_STAGES - 2) / 3)
        r->n_cases = (TSC_RUN_MAX_STAGES - 2) / 3;
    r->n_stages = 3 * r->n_cases + 2;
    r->logs = NULL;
}

static int run_finished(const struct tsc__rrun *r)
{
    int s = r->v->state;
    return s == TSC_RUN_PASSED || s == TSC_RUN_FAILED || s == TSC_RUN_CANCELLED;
}

/* The decided record of stage k, or NULL. */
const struct tsc_runlog_stage *tsc__results_stage_rec(const struct tsc__rrun *r, uint32_t k)
{
    if (k >= r->v->n_stages || r->v->stages == NULL)
        return NULL;
    return r->v->stages[k];
}

int tsc__results_stage_state(const struct tsc__rrun *r, uint32_t k)
{
    const struct tsc_runlog_stage *st = tsc__results_stage_rec(r, k);
    if (st != NULL)
        return st->outcome == TSC_STAGE_PASSED ? TSC__ST_PASSED : TSC__ST_FAILED;
    return k < r->v->next || run_finished(r) ? TSC__ST_SKIPPED : TSC__ST_PENDING;
}

/* enum tsc_stage_kind of stage k; *ci the case or -1 (wire/suite.h numbering). */
int tsc__results_stage_kind(const struct tsc__rrun *r, uint32_t k, int32_t *ci)
{
    *ci = -1;
    if (k == 0)
        return TSC_STAGE_SUITE_INIT;
    if (k >= r->n_stages - 1)
        return TSC_STAGE_SUITE_FINALIZE;
    *ci = (int32_t)((k - 1) / 3);
    return TSC_STAGE_CASE_INIT + (int)((k - 1) % 3);
}

uint32_t tsc__results_case_stage(uint32_t ci, int which)
{
    return 1 + 3 * ci + (uint32_t)which;
}

int tsc__results_case_state(const struct tsc__rrun *r, uint32_t ci)
{
    int seen[4] = {0, 0, 0, 0};
    for (int s = 0; s < 3; s++)
        seen[tsc__results_stage_state(r, tsc__results_case_stage(ci, s))] = 1;
    if (seen[TSC__ST_FAILED])
        return TSC_CASE_FAILED;
    if (seen[TSC__ST_PENDING])
        return TSC_CASE_PENDING;
    return seen[TSC__ST_SKIPPED] ? TSC_CASE_SKIPPED : TSC_CASE_PASSED;
}

const char *tsc__results_skip_reason(const struct tsc__rrun *r)
{
    if (tsc__results_stage_state(r, 0) == TSC__ST_FAILED)
        return "suite init failed";
    if (r->v->cancelled || r->v->state == TSC_RUN_CANCELLED)
        return "run cancelled";
    return "not run";
}

void tsc__results_put_case_name(FILE *f, int e, const struct tsc__rrun *r, int32_t ci)
{
    if (ci >= 0 && r->suite != NULL && (size_t)ci < r->suite->n_cases &&
        r->suite->cases[ci].name != NULL)
        tsc__results_put_str(f, e, r->suite->cases[ci].name, TSC_SUITE_MAX_NAME + 1);
    else
        fprintf(f, "case-%" PRId32, ci);
}

static size_t case_name_width(const struct tsc__rrun *r, uint32_t ci)
{
    char tmp[24];
    if (r->suite != NULL && ci < r->suite->n_cases && r->suite->cases[ci].name != NULL)
        return tsc__results_text_width(r->suite->cases[ci].name, TSC_SUITE_MAX_NAME + 1);
    return (size_t)snprintf(tmp, sizeof tmp, "case-%" PRIu32, ci);
}

void tsc__results_put_suite_name(FILE *f, int e, const struct tsc__rrun *r)
{
    if (r->v->submit.suite_name[0] != '\0')
        tsc__results_put_str(f, e, r->v->submit.suite_name, sizeof r->v->submit.suite_name);
    else if (r->suite != NULL && r->suite->name != NULL)
        tsc__results_put_str(f, e, r->suite->name, TSC_SUITE_MAX_NAME + 1);
    else
        fputs("suite", f);
}

/* "case_b run", "suite init" */
void tsc__results_put_stage_label(FILE *f, int e, const struct tsc__rrun *r, uint32_t k)
{
    int32_t ci;
    int kind = tsc__results_stage_kind(r, k, &ci);
    if (ci < 0)
        fputs("suite ", f);
    else {
        tsc__results_put_case_name(f, e, r, ci);
        fputc(' ', f);
    }
    fputs(tsc__results_kind_name(kind), f);
}

void tsc__results_put_machine(FILE *f, int e, const struct tsc__rrun *r, size_t j)
{
    if (j < r->v->submit.n_participants)
        tsc__results_put_str(f, e, r->v->submit.participants[j].name, TSC_RUN_NAME);
    else
        fprintf(f, "#%zu", j);
}

static size_t machine_width(const struct tsc__rrun *r, size_t j)
{
    char tmp[24];
    if (j < r->v->submit.n_participants)
        return tsc__results_text_width(r->v->submit.participants[j].name, TSC_RUN_NAME);
    return (size_t)snprintf(tmp, sizeof tmp, "#%zu", j);
}

int tsc__results_stage_has_results(const struct tsc_runlog_stage *st)
{
    return st != NULL && st->n_results > 0 && st->results != NULL;
}

/* Wall duration of a stage: first start to last end over its machines. */
uint64_t tsc__results_stage_us(const struct tsc_runlog_stage *st)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t j = 0; tsc__results_stage_has_results(st) && j < st->n_results; j++) {
        const struct tsc_stage_result *res = &st->results[j];
        if (res->start_us == 0 || res->end_us < res->start_us)
            continue;
        lo = res->start_us < lo ? res->start_us : lo;
        hi = res->end_us > hi ? res->end_us : hi;
    }
    return hi > lo ? hi - lo : 0;
}

static uint64_t result_us(const struct tsc_stage_result *res)
{
    return res->start_us != 0 && res->end_us > res->start_us ? res->end_us - res->start_us : 0;
}

/* "failed, exit 1" / "failed, signal 9" / "timeout" */
void tsc__results_put_status(FILE *f, const struct tsc_stage_result *res)
{
    fputs(tsc__results_status_name(res->status), f);
    if (res->signal != 0)
        fprintf(f, ", signal %" PRId32, res->signal);
    else if (res->status == TSC_RESULT_FAILED)
        fprintf(f, ", exit %" PRId32, res->exit_code);
}

/* ---- table ---------------------------------------------------------------- */

static void table_row_start(FILE *f, const struct tsc__rrun *r, uint32_t k, size_t w_case)
{
    int32_t ci;
    int kind = tsc__results_stage_kind(r, k, &ci);
    if (ci < 0) {
        fputs("(suite)", f);
        tsc__results_pad(f, 7, w_case + 2);
    } else {
        tsc__results_put_case_name(f, TSC__ESC_LINE, r, ci);
        tsc__results_pad(f, case_name_width(r, (uint32_t)ci), w_case + 2);
    }
    fprintf(f, "%-8s  ", tsc__results_kind_name(kind));
}

static void table_failures(FILE *f, const struct tsc__rrun *r)
{
    for (uint32_t k = 0; k < r->n_stages; k++) {
        const struct tsc_runlog_stage *st = tsc__results_stage_rec(r, k);
        if (st == NULL || tsc__results_stage_state(r, k) != TSC__ST_FAILED)
            continue;
        fputs("\nFAILED ", f);
        tsc__results_put_stage_label(f, TSC__ESC_LINE, r, k);
        fputs(": ", f);
        tsc__results_put_str(f, TSC__ESC_LINE, st->diagnosis, sizeof st->diagnosis);
        fputc('\n', f);
        for (size_t j = 0; tsc__results_stage_has_results(st) && j < st->n_results; j++) {
            const struct tsc_stage_result *res = &st->results[j];
            if (res->status == TSC_RESULT_PASSED)
                continue;
            fputs("  ", f);
            tsc__results_put_machine(f, TSC__ESC_LINE, r, j);
            fputs(": ", f);
            tsc__results_put_status(f, res);
            if (res->message_len > 0) {
                fputs(": ", f);
                tsc__results_put_text(f, TSC__ESC_LINE, res->message, res->message_len);
            }
            fputc('\n', f);
            tsc__results_put_tail(f, "    ", res->output, res->output_len);
        }
        tsc__results_stage_log_lines(f, TSC__ESC_LINE, r, k, "  ");
    }
}

static void write_table(FILE *f, const struct tsc__rrun *r)
{
    const struct tsc_run_view *v = r->v;
    size_t w_case = 7, w_machine = 7, w_dur = 8, counts[4] = {0, 0, 0, 0};
    char when[32], dur[32];
    for (uint32_t i = 0; i < r->n_cases; i++) {
        size_t w = case_name_width(r, i);
        w_case = w > w_case ? w : w_case;
        counts[tsc__results_case_state(r, i)]++;
    }
    for (uint32_t k = 0; k < r->n_stages; k++) {
        const struct tsc_runlog_stage *st = tsc__results_stage_rec(r, k);
        for (size_t j = 0; tsc__results_stage_has_results(st) && j < st->n_results; j++) {
            size_t w = machine_width(r, j),
                   wd = tsc__results_format_secs(result_us(&st->results[j]), dur);
            w_machine = w > w_machine ? w : w_machine;
            w_dur = wd + 1 > w_dur ? wd + 1 : w_dur;
        }
    }

    fprintf(f, "run %" PRIu64 "  suite ", v->run);
    tsc__results_put_suite_name(f, TSC__ESC_LINE, r);
    fprintf(f, "  %s  submitted %s  %zu machines\n", tsc__results_run_state_name(v->state),
            tsc__results_format_utc(v->submit.submitted_us, when) ? strcat(when, "Z") : "-",
            v->submit.n_participants);
    fprintf(f, "cases: %zu passed, %zu failed, %zu skipped, %zu pending\n", counts[TSC_CASE_PASSED],
            counts[TSC_CASE_FAILED], counts[TSC_CASE_SKIPPED], counts[TSC_CASE_PENDING]);
    if (v->cancelled) {
        fputs("cancelled: ", f);
        tsc__results_put_str(f, TSC__ESC_LINE, v->cancel.reason, sizeof v->cancel.reason);
        fputc('\n', f);
    }
    fputc('\n', f);
    fprintf(f, "%-*s  %-8s  %-*s  %-9s  %*s  %s\n", (int)w_case, "CASE", "STAGE", (int)w_machine,
            "MACHINE", "STATUS", (int)w_dur, "DURATION", "MESSAGE");
    for (uint32_t k = 0; k < r->n_stages; k++) {
        const struct tsc_runlog_stage *st = tsc__results_stage_rec(r, k);
        if (!tsc__results_stage_has_results(st)) {
            table_row_start(f, r, k, w_case);
            fprintf(f, "%-*s  %-9s  %*s\n", (int)w_machine, "-",
                    stage_state_names[tsc__results_stage_state(r, k)], (int)w_dur, "-");
            continue;
        }
        for (size_t j = 0; j < st->n_results; j++) {
            const struct tsc_stage_result *res = &st->results[j];
            tsc__results_format_secs(result_us(res), dur);
            table_row_start(f, r, k, w_case);
            tsc__results_put_machine(f, TSC__ESC_LINE, r, j);
            tsc__results_pad(f, machine_width(r, j), w_machine + 2);
            fprintf(f, "%-9s  %*ss", tsc__results_status_name(res->status), (int)w_dur - 1, dur);
            if (res->message_len > 0) {
                fputs("  ", f);
                tsc__results_put_text(f, TSC__ESC_LINE, res->message, res->message_len);
            }
            fputc('\n', f);
        }
    }
    table_failures(f, r);
    if (r->logs != NULL) {
        fputc('\n', f);
        tsc__results_log_summary(f, TSC__ESC_LINE, r, "");
    }
}

/* ---- JSON ----------------------------------------------------------------- */

static void json_str(FILE *f, const void *p, size_t n)
{
    fputc('"', f);
    tsc__results_put_text(f, TSC__ESC_JSON, p, n);
    fputc('"', f);
}

static void json_stage(FILE *f, const struct tsc__rrun *r, uint32_t k)
{
    const struct tsc_runlog_stage *st = tsc__results_stage_rec(r, k);
    int32_t ci;
    int kind = tsc__results_stage_kind(r, k, &ci);
    fprintf(f, "{\"index\":%" PRIu32 ",\"kind\":\"%s\",\"case\":", k, tsc__results_kind_name(kind));
    if (ci < 0) {
        fputs("null", f);
    } else {
        fputc('"', f);
        tsc__results_put_case_name(f, TSC__ESC_JSON, r, ci);
        fputc('"', f);
    }
    fprintf(f, ",\"outcome\":\"%s\",\"decided_us\":",
            stage_state_names[tsc__results_stage_state(r, k)]);
    if (st == NULL) {
        fputs("null,\"diagnosis\":\"\",\"results\":[]", f);
        tsc__results_json_stage_logs(f, r, k);
        fputc('}', f);
        return;
    }
    fprintf(f, "%" PRIu64 ",\"diagnosis\":", st->decided_us);
    json_str(f, st->diagnosis, strnlen(st->diagnosis, sizeof st->diagnosis));
    fputs(",\"results\":[", f);
    for (size_t j = 0; tsc__results_stage_has_results(st) && j < st->n_results; j++) {
        const struct tsc_stage_result *res = &st->results[j];
        fputs(j ? ",{\"node\":" : "{\"node\":", f);
        if (j < r->v->submit.n_participants)
            fprintf(f, "\"%016" PRIx64 "\"", r->v->submit.participants[j].id);
        else
            fputs("null", f);
        fputs(",\"name\":\"", f);
        tsc__results_put_machine(f, TSC__ESC_JSON, r, j);
        fprintf(f,
                "\",\"status\":\"%s\",\"exit_code\":%" PRId32 ",\"signal\":%" PRId32
                ",\"start_us\":%" PRIu64 ",\"end_us\":%" PRIu64 ",\"message\":",
                tsc__results_status_name(res->status), res->exit_code, res->signal, res->start_us,
                res->end_us);
        json_str(f, res->message, res->message_len);
        fputs(",\"output\":", f);
        json_str(f, res->output, res->output_len);
        fputc('}', f);
    }
    fputc(']', f);
    tsc__results_json_stage_logs(f, r, k);
    fputc('}', f);
}

static void write_json(FILE *f, const struct tsc__rrun *r)
{
    const struct tsc_run_view *v = r->v;
    char addr[TSC_ADDR_STRLEN];
    fprintf(f, "{\"run\":%" PRIu64 ",\"suite\":\"", v->run);
    tsc__results_put_suite_name(f, TSC__ESC_JSON, r);
    fprintf(f, "\",\"state\":\"%s\",\"submitted_us\":%" PRIu64 ",\"cancel\":",
            tsc__results_run_state_name(v->state), v->submit.submitted_us);
    if (v->cancelled) {
        fprintf(f, "{\"at_us\":%" PRIu64 ",\"reason\":", v->cancel.at_us);
        json_str(f, v->cancel.reason, strnlen(v->cancel.reason, sizeof v->cancel.reason));
        fputc('}', f);
    } else {
        fputs("null", f);
    }
    fputs(",\"participants\":[", f);
    for (size_t j = 0; j < v->submit.n_participants; j++) {
        const struct tsc_run_participant *p = &v->submit.participants[j];
        fprintf(f, "%s{\"id\":\"%016" PRIx64 "\",\"name\":", j ? "," : "", p->id);
        json_str(f, p->name, strnlen(p->name, sizeof p->name));
        fputs(",\"role\":", f);
        json_str(f, p->role, strnlen(p->role, sizeof p->role));
        fprintf(f, ",\"address\":\"%s\"}", tsc_addr_format(&p->addr, addr));
    }
    fputs("],\"stages\":[", f);
    for (uint32_t k = 0; k < r->n_stages; k++) {
        if (k)
            fputc(',', f);
        json_stage(f, r, k);
    }
    fputs("],\"cases\":[", f);
    for (uint32_t i = 0; i < r->n_cases; i++) {
        fputs(i ? ",{\"name\":\"" : "{\"name\":\"", f);
        tsc__results_put_case_name(f, TSC__ESC_JSON, r, (int32_t)i);
        fprintf(f, "\",\"state\":\"%s\",\"stages\":[%" PRIu32 ",%" PRIu32 ",%" PRIu32 "]}",
                case_state_names[tsc__results_case_state(r, i)], tsc__results_case_stage(i, 0),
                tsc__results_case_stage(i, 1), tsc__results_case_stage(i, 2));
    }
    fputc(']', f);
    tsc__results_json_logs(f, r);
    fputs("}\n", f);
}

/* ---- entry points --------------------------------------------------------- */

int tsc_results_parse_format(const char *s)
{
    static const char *const names[] = {"table", "json", "junit", "tap"};
    for (int i = 0; s != NULL && i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return TSC_RESULTS_TABLE + i;
    return 0;
}

int tsc_results_write(FILE *out, int format, const struct tsc_run_view *v,
                      const struct tsc_suite *suite)
{
    return tsc_results_write_logs(out, format, v, suite, NULL);
}

int tsc_results_write_logs(FILE *out, int format, const struct tsc_run_view *v,
                           const struct tsc_suite *suite, const struct tsc_results_logs *logs)
{
    struct tsc__rrun r;
    if (out == NULL || v == NULL)
        return TSC_EINVAL;
    run_init(&r, v, suite);
    r.logs = logs;
    switch (format) {
    case TSC_RESULTS_TABLE:
        write_table(out, &r);
        break;
    case TSC_RESULTS_JSON:
        write_json(out, &r);
        break;
    case TSC_RESULTS_JUNIT:
        tsc__results_write_junit(out, &r);
        break;
    case TSC_RESULTS_TAP:
        tsc__results_write_tap(out, &r);
        break;
    default:
        return TSC_EINVAL;
    }
    if (fflush(out) != 0 || ferror(out))
        return TSC_EIO;
    return 0;
}
