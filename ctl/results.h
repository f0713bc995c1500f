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
 * The run need not be finished: stages not decided yet are shown pending. */
#ifndef TSC_CTL_RESULTS_H
#define TSC_CTL_RESULTS_H

#include <stdio.h>

#include "barrier/runlog.h"
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

#endif
