/* tsc — a run's results for people and for tools (tscctl results).
 *
 *   table  one line per case and stage result, per machine; for each failed
 *          stage the diagnosis and the tail of each failing machine's output
 *   json   one JSON object: run, suite, state, participants, cases (with
 *          their stages and per-machine results, output included)
 *   junit  JUnit XML as Jenkins and GitLab read it: <testsuites> with one
 *          <testsuite name=SUITE>, one <testcase classname=SUITE name=CASE>
 *          per case, time = sum of its stages' wall durations, <failure
 *          message=...> when it failed (text: the failing stages' results),
 *          <skipped/> when skipped, <system-out> with every machine's output
 *          of the case's stages, each block headed "== NAME STAGE (status) ==".
 *          Suite init/finalize failures appear as testcases named
 *          "suite init"/"suite finalize" only when they failed.
 *          Validated against docs/junit.xsd by the tests (xmllint --schema).
 *   tap    TAP version 13 that `prove` accepts: "1..N", one "ok"/"not ok"
 *          line per case ("# SKIP" for skipped), YAML diagnostics for
 *          failures.
 * All text from scripts is escaped for its format (XML 1.0: invalid
 * characters replaced by U+FFFD; JSON: \uXXXX; TAP: lines prefixed "# ").
 * The run need not be finished: stages not decided yet are shown pending.
 * With the run's log index (tsc_results_write_logs), failed stages also
 * show their merged log records and out-of-sequence errors. */
#ifndef TSC_CTL_RESULTS_H
#define TSC_CTL_RESULTS_H

#include <stdio.h>

#include "barrier/runlog.h"
#include "logsync/merge.h"
#include "wire/control.h"
#include "wire/suite.h"

enum tsc_results_format {
    TSC_RESULTS_TABLE = 1,
    TSC_RESULTS_JSON,
    TSC_RESULTS_JUNIT,
    TSC_RESULTS_TAP,
};

/* "table" | "json" | "junit" | "tap" -> format, or 0. */
int tsc_results_parse_format(const char *s);

/* Write the results of view v (suite: v->submit.suite decoded) to out.
 * 0, or TSC_EIO when writing failed. */
int tsc_results_write(FILE *out, int format, const struct tsc_run_view *v,
                      const struct tsc_suite *suite);

/* The run's merged log as op log_index describes it (issue "Logs"). Each
 * error comes with the stage of each record it names, where known. */
#define TSC_RESULTS_NO_STAGE UINT32_MAX
struct tsc_results_log_error {
    struct tsc_logmerge_error e;
    uint32_t a_stage, b_stage; /* TSC_RESULTS_NO_STAGE: not known */
};

struct tsc_results_logs {
    const struct tsc_control_log_range *ranges; /* borrowed, n_ranges */
    size_t n_ranges;
    const struct tsc_results_log_error *errors; /* borrowed, n_errors */
    size_t n_errors;
    uint64_t merged; /* records merged so far */
    int finished;    /* the merge is over */
};

/* tsc_results_write with a log section (logs NULL: none, the same output
 * as tsc_results_write). For each failed stage: the ranges of merged
 * records of the stage per node, each with the command that shows them
 * (`tscctl logs RUN --case C --node N`; suite stages: `--stage suite-init`
 * or `suite-finalize` instead of --case), and the out-of-sequence errors
 * that name one of its records; then every error of the run in a summary.
 *   table  lines under the stage's FAILED block; a "logs:" summary at the end
 *   json   "logs": {"ranges": [...], "errors": [...]} in every stage, and
 *          "logs": {"merged", "finished", "errors"} at the top
 *   junit  lines in the failing testcase's <failure> text; the summary in
 *          the testsuite's <system-out>, tsc.log_* properties
 *   tap    "# " comment lines after the failure's diagnostics; the summary
 *          as comments at the end */
int tsc_results_write_logs(FILE *out, int format, const struct tsc_run_view *v,
                           const struct tsc_suite *suite, const struct tsc_results_logs *logs);

#endif
