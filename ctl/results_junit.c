/* tsc — a run's results as JUnit XML and TAP, the formats for test tools
 * (ctl/results.h). Both list the same tests: a failed suite init, the cases,
 * a failed suite finalize.
 *
 * For tools, a run is green only when it is: JUnit and TAP give a failed
 * suite init or finalize its own test (named "suite init"/"suite finalize"),
 * and a case still pending is an <error type="pending"> or a "not ok". */
#include <inttypes.h>
#include <stdint.h>

#include "ctl/results_int.h"

/* ---- JUnit XML ------------------------------------------------------------ */

/* One <testcase>: a case (ci >= 0, its three stages) or a failed suite stage. */
struct jcase {
    int32_t ci;
    uint32_t first, n; /* stages first .. first+n-1 */
    int state;         /* enum tsc_case_state */
};

static void junit_failure(FILE *f, const struct tsc__rrun *r, const struct jcase *c)
{
    uint32_t k, first_failed = UINT32_MAX;
    for (k = c->first; k < c->first + c->n && first_failed == UINT32_MAX; k++)
        if (tsc__results_stage_state(r, k) == TSC__ST_FAILED)
            first_failed = k;
    const struct tsc_runlog_stage *st = tsc__results_stage_rec(r, first_failed);
    int32_t ci;
    fputs("      <failure message=\"", f);
    if (st != NULL && st->diagnosis[0] != '\0')
        tsc__results_put_str(f, TSC__ESC_XML_ATTR, st->diagnosis, sizeof st->diagnosis);
    else {
        tsc__results_put_stage_label(f, TSC__ESC_XML_ATTR, r, first_failed);
        fputs(" failed", f);
    }
    fprintf(f, "\" type=\"%s\">",
            tsc__results_kind_name(tsc__results_stage_kind(r, first_failed, &ci)));
    for (k = c->first; k < c->first + c->n; k++) {
        st = tsc__results_stage_rec(r, k);
        if (st == NULL || tsc__results_stage_state(r, k) != TSC__ST_FAILED)
            continue;
        tsc__results_put_stage_label(f, TSC__ESC_XML_TEXT, r, k);
        fputs(": ", f);
        tsc__results_put_str(f, TSC__ESC_XML_TEXT, st->diagnosis, sizeof st->diagnosis);
        fputc('\n', f);
        for (size_t j = 0; tsc__results_stage_has_results(st) && j < st->n_results; j++) {
            fputs("  ", f);
            tsc__results_put_machine(f, TSC__ESC_XML_TEXT, r, j);
            fputs(": ", f);
            tsc__results_put_status(f, &st->results[j]);
            if (st->results[j].message_len > 0) {
                fputs(": ", f);
                tsc__results_put_text(f, TSC__ESC_XML_TEXT, st->results[j].message,
                                      st->results[j].message_len);
            }
            fputc('\n', f);
        }
        tsc__results_stage_log_lines(f, TSC__ESC_XML_TEXT, r, k, "  ");
    }
    fputs("</failure>\n", f);
}

static void junit_system_out(FILE *f, const struct tsc__rrun *r, const struct jcase *c)
{
    int open = 0;
    for (uint32_t k = c->first; k < c->first + c->n; k++) {
        const struct tsc_runlog_stage *st = tsc__results_stage_rec(r, k);
        int32_t ci;
        int kind = tsc__results_stage_kind(r, k, &ci);
        for (size_t j = 0; tsc__results_stage_has_results(st) && j < st->n_results; j++) {
            const struct tsc_stage_result *res = &st->results[j];
            fputs(open ? "== " : "      <system-out>== ", f);
            open = 1;
            tsc__results_put_machine(f, TSC__ESC_XML_TEXT, r, j);
            fprintf(f, " %s (%s) ==\n", tsc__results_kind_name(kind),
                    tsc__results_status_name(res->status));
            tsc__results_put_text(f, TSC__ESC_XML_TEXT, res->output, res->output_len);
            if (res->output_len > 0 && res->output[res->output_len - 1] != '\n')
                fputc('\n', f);
        }
    }
    if (open)
        fputs("</system-out>\n", f);
}

static void junit_testcase(FILE *f, const struct tsc__rrun *r, const struct jcase *c)
{
    uint64_t us = 0;
    for (uint32_t k = c->first; k < c->first + c->n; k++)
        us += tsc__results_stage_us(tsc__results_stage_rec(r, k));
    fputs("    <testcase classname=\"", f);
    tsc__results_put_suite_name(f, TSC__ESC_XML_ATTR, r);
    fputs("\" name=\"", f);
    if (c->ci >= 0)
        tsc__results_put_case_name(f, TSC__ESC_XML_ATTR, r, c->ci);
    else
        tsc__results_put_stage_label(f, TSC__ESC_XML_ATTR, r, c->first);
    fputs("\" time=\"", f);
    tsc__results_put_secs(f, us);
    fputs("\">\n", f);
    if (c->state == TSC_CASE_FAILED)
        junit_failure(f, r, c);
    else if (c->state == TSC_CASE_SKIPPED)
        fprintf(f, "      <skipped message=\"%s\"/>\n", tsc__results_skip_reason(r));
    else if (c->state == TSC_CASE_PENDING)
        fputs("      <error message=\"pending: the run has not finished\" type=\"pending\"/>\n", f);
    junit_system_out(f, r, c);
    fputs("    </testcase>\n", f);
}

/* The i-th <testcase>: failed suite init, the cases, failed suite finalize. */
static int junit_case(const struct tsc__rrun *r, uint32_t i, struct jcase *c)
{
    int init_failed = tsc__results_stage_state(r, 0) == TSC__ST_FAILED;
    if (init_failed && i == 0) {
        *c = (struct jcase){-1, 0, 1, TSC_CASE_FAILED};
        return 1;
    }
    i -= (uint32_t)init_failed;
    if (i < r->n_cases) {
        *c = (struct jcase){(int32_t)i, tsc__results_case_stage(i, 0), 3,
                            tsc__results_case_state(r, i)};
        return 1;
    }
    if (i == r->n_cases && tsc__results_stage_state(r, r->n_stages - 1) == TSC__ST_FAILED) {
        *c = (struct jcase){-1, r->n_stages - 1, 1, TSC_CASE_FAILED};
        return 1;
    }
    return 0;
}

void tsc__results_write_junit(FILE *f, const struct tsc__rrun *r)
{
    size_t counts[4] = {0, 0, 0, 0}, n = 0;
    uint64_t us = 0;
    char when[32];
    struct jcase c;
    for (uint32_t i = 0; junit_case(r, i, &c); i++, n++)
        counts[c.state]++;
    for (uint32_t k = 0; k < r->n_stages; k++)
        us += tsc__results_stage_us(tsc__results_stage_rec(r, k));

    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
    for (int level = 0; level < 2; level++) {
        fputs(level ? "  <testsuite name=\"" : "<testsuites name=\"", f);
        tsc__results_put_suite_name(f, TSC__ESC_XML_ATTR, r);
        fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"", n,
                counts[TSC_CASE_FAILED], counts[TSC_CASE_PENDING], counts[TSC_CASE_SKIPPED]);
        tsc__results_put_secs(f, us);
        fputc('"', f);
        if (level == 1 && tsc__results_format_utc(r->v->submit.submitted_us, when))
            fprintf(f, " timestamp=\"%s\"", when); /* Ant's form: UTC, no zone */
        fputs(">\n", f);
    }
    fprintf(f,
            "    <properties>\n"
            "      <property name=\"tsc.run\" value=\"%" PRIu64 "\"/>\n"
            "      <property name=\"tsc.state\" value=\"%s\"/>\n",
            r->v->run, tsc__results_run_state_name(r->v->state));
    if (r->logs != NULL)
        fprintf(f,
                "      <property name=\"tsc.log_records\" value=\"%" PRIu64 "\"/>\n"
                "      <property name=\"tsc.log_errors\" value=\"%zu\"/>\n",
                r->logs->merged, r->logs->n_errors);
    fputs("    </properties>\n", f);
    for (uint32_t i = 0; junit_case(r, i, &c); i++)
        junit_testcase(f, r, &c);
    if (r->logs != NULL) {
        fputs("    <system-out>", f);
        tsc__results_log_summary(f, TSC__ESC_XML_TEXT, r, "");
        fputs("</system-out>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
}

/* ---- TAP ------------------------------------------------------------------ */

static void tap_yaml_failure(FILE *f, const struct tsc__rrun *r, const struct jcase *c)
{
    uint32_t k, first_failed = UINT32_MAX;
    for (k = c->first; k < c->first + c->n && first_failed == UINT32_MAX; k++)
        if (tsc__results_stage_state(r, k) == TSC__ST_FAILED)
            first_failed = k;
    const struct tsc_runlog_stage *st = tsc__results_stage_rec(r, first_failed);
    fputs("  ---\n  message: \"", f);
    if (st != NULL && st->diagnosis[0] != '\0')
        tsc__results_put_str(f, TSC__ESC_YAML, st->diagnosis, sizeof st->diagnosis);
    else {
        tsc__results_put_stage_label(f, TSC__ESC_YAML, r, first_failed);
        fputs(" failed", f);
    }
    fputs("\"\n  severity: fail\n  failures:\n", f);
    for (k = c->first; k < c->first + c->n; k++) {
        st = tsc__results_stage_rec(r, k);
        if (st == NULL || tsc__results_stage_state(r, k) != TSC__ST_FAILED)
            continue;
        for (size_t j = 0; tsc__results_stage_has_results(st) && j < st->n_results; j++) {
            const struct tsc_stage_result *res = &st->results[j];
            int32_t ci;
            if (res->status == TSC_RESULT_PASSED)
                continue;
            fputs("    - machine: \"", f);
            tsc__results_put_machine(f, TSC__ESC_YAML, r, j);
            fprintf(f,
                    "\"\n      stage: %s\n      status: %s\n      exit_code: %" PRId32
                    "\n      signal: %" PRId32 "\n      message: \"",
                    tsc__results_kind_name(tsc__results_stage_kind(r, k, &ci)),
                    tsc__results_status_name(res->status), res->exit_code, res->signal);
            tsc__results_put_text(f, TSC__ESC_YAML, res->message, res->message_len);
            fputs("\"\n", f);
        }
    }
    fputs("  ...\n", f);
    /* The output goes after the block as comments: a line of it can be
     * anything ("not ok 1", "Bail out!", "  ..."), and "# " defuses all. */
    for (k = c->first; k < c->first + c->n; k++) {
        st = tsc__results_stage_rec(r, k);
        if (st == NULL || tsc__results_stage_state(r, k) != TSC__ST_FAILED)
            continue;
        for (size_t j = 0; tsc__results_stage_has_results(st) && j < st->n_results; j++) {
            const struct tsc_stage_result *res = &st->results[j];
            if (res->status == TSC_RESULT_PASSED)
                continue;
            fputs("# ", f);
            tsc__results_put_machine(f, TSC__ESC_LINE, r, j);
            fputc(' ', f);
            tsc__results_put_stage_label(f, TSC__ESC_LINE, r, k);
            fprintf(f, " (%s), last lines of output:\n", tsc__results_status_name(res->status));
            tsc__results_put_tail(f, "#   ", res->output, res->output_len);
        }
        tsc__results_stage_log_lines(f, TSC__ESC_LINE, r, k, "# ");
    }
}

void tsc__results_write_tap(FILE *f, const struct tsc__rrun *r)
{
    uint32_t n = 0;
    struct jcase c;
    while (junit_case(r, n, &c))
        n++;
    fputs("TAP version 13\n", f);
    if (n == 0) {
        fputs("1..0 # SKIP no test cases\n", f);
        return;
    }
    fprintf(f, "1..%" PRIu32 "\n", n);
    for (uint32_t i = 0; i < n; i++) {
        junit_case(r, i, &c);
        fprintf(f, "%s %" PRIu32 " - ",
                c.state == TSC_CASE_FAILED || c.state == TSC_CASE_PENDING ? "not ok" : "ok", i + 1);
        if (c.ci >= 0)
            tsc__results_put_case_name(f, TSC__ESC_TAP_DESC, r, c.ci);
        else
            tsc__results_put_stage_label(f, TSC__ESC_TAP_DESC, r, c.first);
        if (c.state == TSC_CASE_SKIPPED)
            fprintf(f, " # SKIP %s", tsc__results_skip_reason(r));
        fputc('\n', f);
        if (c.state == TSC_CASE_FAILED)
            tap_yaml_failure(f, r, &c);
        else if (c.state == TSC_CASE_PENDING)
            fputs("  ---\n  message: \"pending: the run has not finished\"\n"
                  "  severity: pending\n  ...\n",
                  f);
    }
    tsc__results_log_summary(f, TSC__ESC_LINE, r, "# ");
}
