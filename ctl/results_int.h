/* tsc — results formatter internals shared by ctl/results.c (the run model,
 * table, JSON, entry points), ctl/results_text.c (UTF-8 and escaping) and
 * ctl/results_junit.c (JUnit XML and TAP). Not public: names with a double
 * underscore are internal to these files. */
#ifndef TSC_CTL_RESULTS_INT_H
#define TSC_CTL_RESULTS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl/results.h"

/* How untrusted text is escaped: the e argument of the put functions. */
enum tsc__results_esc {
    TSC__ESC_LINE,     /* terminal or TAP comment: controls but tab become U+FFFD */
    TSC__ESC_JSON,     /* inside "...": RFC 8259 */
    TSC__ESC_XML_TEXT, /* element content, XML 1.0 */
    TSC__ESC_XML_ATTR, /* attribute value in "...": also tab, LF, CR as references */
    TSC__ESC_YAML,     /* inside a YAML "...", in the subset TAP::Parser reads */
    TSC__ESC_TAP_DESC, /* a TAP test description: no '#', no line breaks */
    TSC__ESC_ONELINE,  /* a log line (tscctl logs text, shiviz): LF, CR, U+2028/9
                          as \n, \r, \u2028/9; other controls become U+FFFD */
};

/* A stage's state as the formatters show it (see results.c). */
enum tsc__results_stage_state { TSC__ST_PENDING, TSC__ST_PASSED, TSC__ST_FAILED, TSC__ST_SKIPPED };

/* The run as the formatters see it: the view, its suite (may be NULL) and
 * the case count clamped to what a run can hold. */
struct tsc__rrun {
    const struct tsc_run_view *v;
    const struct tsc_suite *suite;
    uint32_t n_cases, n_stages;          /* n_stages = 3 n_cases + 2 */
    const struct tsc_results_logs *logs; /* NULL: no log section */
};

/* ---- results_text.c: untrusted text, strictly decoded and escaped -------- */

/* Write p[0..n) escaped for mode e (enum tsc__results_esc). */
void tsc__results_put_text(FILE *f, int e, const void *p, size_t n);
/* The same for the string s, read up to max bytes. */
void tsc__results_put_str(FILE *f, int e, const char *s, size_t max);
/* Code points put_text writes for p (up to max bytes): column widths. */
size_t tsc__results_text_width(const char *p, size_t max);
/* Spaces from column have to want. */
void tsc__results_pad(FILE *f, size_t have, size_t want);
/* The last lines of an output p[0..n), each after prefix, escaped for a
 * terminal or a TAP comment; "(no output)" when empty. */
void tsc__results_put_tail(FILE *f, const char *prefix, const uint8_t *p, size_t n);
/* "12.345" seconds into out; its length. */
size_t tsc__results_format_secs(uint64_t us, char out[32]);
void tsc__results_put_secs(FILE *f, uint64_t us);
/* "2024-05-01T12:00:00" (UTC) into out; 0 when the time has no such form. */
int tsc__results_format_utc(uint64_t us, char out[32]);

/* ---- results.c: the run model -------------------------------------------- */

/* The runlog.h names, never NULL ("?" for a value this build does not know). */
const char *tsc__results_status_name(int status);
const char *tsc__results_kind_name(int kind);
const char *tsc__results_run_state_name(int state);
/* The decided record of stage k, or NULL. */
const struct tsc_runlog_stage *tsc__results_stage_rec(const struct tsc__rrun *r, uint32_t k);
/* enum tsc__results_stage_state of stage k. */
int tsc__results_stage_state(const struct tsc__rrun *r, uint32_t k);
/* enum tsc_stage_kind of stage k; *ci the case or -1 (wire/suite.h numbering). */
int tsc__results_stage_kind(const struct tsc__rrun *r, uint32_t k, int32_t *ci);
/* The stage number of case ci's init (0), run (1) or finalize (2). */
uint32_t tsc__results_case_stage(uint32_t ci, int which);
/* enum tsc_case_state of case ci, from its three stages. */
int tsc__results_case_state(const struct tsc__rrun *r, uint32_t ci);
/* Why the skipped cases were skipped. */
const char *tsc__results_skip_reason(const struct tsc__rrun *r);
/* Names, escaped for e: a case (its number when unnamed), the suite, a
 * stage ("case_b run", "suite init"), a participant (#j when unknown). */
void tsc__results_put_case_name(FILE *f, int e, const struct tsc__rrun *r, int32_t ci);
void tsc__results_put_suite_name(FILE *f, int e, const struct tsc__rrun *r);
void tsc__results_put_stage_label(FILE *f, int e, const struct tsc__rrun *r, uint32_t k);
void tsc__results_put_machine(FILE *f, int e, const struct tsc__rrun *r, size_t j);
/* 1 when st is not NULL and holds results. */
int tsc__results_stage_has_results(const struct tsc_runlog_stage *st);
/* Wall duration of a stage (st may be NULL: 0). */
uint64_t tsc__results_stage_us(const struct tsc_runlog_stage *st);
/* "failed, exit 1" / "failed, signal 9" / "timeout" */
void tsc__results_put_status(FILE *f, const struct tsc_stage_result *res);

/* ---- results_logs.c: the log section (tsc_results_write_logs) ----------- */

/* For failed stage k, one line per node that has records in it and one per
 * out-of-sequence error naming one of its records, each after prefix and
 * ending in '\n', escaped for e. Nothing without a log index. */
void tsc__results_stage_log_lines(FILE *f, int e, const struct tsc__rrun *r, uint32_t k,
                                  const char *prefix);
/* The summary: "logs: N records merged, E out-of-sequence errors" and a
 * line per error, each after prefix. Nothing without a log index. */
void tsc__results_log_summary(FILE *f, int e, const struct tsc__rrun *r, const char *prefix);
/* JSON: ,"logs":{"ranges":[...],"errors":[...]} of stage k, and the
 * top-level ,"logs":{...}. Nothing without a log index. */
void tsc__results_json_stage_logs(FILE *f, const struct tsc__rrun *r, uint32_t k);
void tsc__results_json_logs(FILE *f, const struct tsc__rrun *r);
/* Whether failed stage k has anything for tsc__results_stage_log_lines. */
int tsc__results_stage_has_logs(const struct tsc__rrun *r, uint32_t k);

/* ---- results_junit.c: the formats for test tools ------------------------- */

void tsc__results_write_junit(FILE *f, const struct tsc__rrun *r);
void tsc__results_write_tap(FILE *f, const struct tsc__rrun *r);

#endif
