/* tsc — tscctl's view of a run's merged log (issue "Logs"): node names,
 * record filters (logs_select.c) and the three output formats
 * (logs_format.c). Pure: no sockets, no clock; the commands that fetch
 * the records are in logs.c.
 *
 *   text    INDEX  WALLTIME  NODE  STAGE/CASE  KIND  TEXT, one line each
 *   jsonl   one JSON object per record; errors as {"error": {...}}
 *   shiviz  the parsing regex, a blank line, then per record the two lines
 *           HOST {"HOST":n,...} and the event text (ShiViz's input format)
 *
 * All record text is untrusted bytes: it is escaped for its format after a
 * strict UTF-8 decode (invalid bytes become U+FFFD), and in text and shiviz
 * it stays on one line (a newline inside is written as \n). */
#ifndef TSC_CTL_LOGS_H
#define TSC_CTL_LOGS_H

#include <regex.h>
#include <stdint.h>
#include <stdio.h>

#include "logsync/merge.h"
#include "wire/control.h"

enum tsc_logs_format {
    TSC_LOGS_TEXT = 1,
    TSC_LOGS_JSONL,
    TSC_LOGS_SHIVIZ,
};

/* "text" | "jsonl" | "shiviz" -> format, or 0. */
int tsc_logs_parse_format(const char *s);

/* The parsing regex ShiViz is given (first line of the shiviz format). */
#define TSC_LOGS_SHIVIZ_REGEX "(?<host>\\S*) (?<clock>{.*})\\n(?<event>.*)"

/* ---- node names (logs_select.c) -------------------------------------------- */

struct tsc_logs_node {
    uint64_t id;
    char name[TSC_CONTROL_NAME];
};

/* id -> name, names unique. Add the run's participants first (their names
 * are the ones results show), then other sources; tsc_logs_names_finish
 * replaces empty and duplicated names by the id in hex. */
struct tsc_logs_names {
    struct tsc_logs_node *nodes;
    size_t n, cap;
};

void tsc_logs_names_init(struct tsc_logs_names *n);
void tsc_logs_names_free(struct tsc_logs_names *n);
/* Add (id, name) unless id is known already. 0 or TSC_ENOMEM. */
int tsc_logs_names_add(struct tsc_logs_names *n, uint64_t id, const char *name);
void tsc_logs_names_finish(struct tsc_logs_names *n);
/* The name of id, else its id in 16 hex digits written into hex. */
const char *tsc_logs_names_get(const struct tsc_logs_names *n, uint64_t id, char hex[17]);
/* A node by name, else by id in hex (1..16 digits). 0 or TSC_ENOTFOUND. */
int tsc_logs_names_find(const struct tsc_logs_names *n, const char *s, uint64_t *id);

/* ---- filters (logs_select.c) ------------------------------------------------ */

/* Which records to show; every set condition must hold. */
struct tsc_logs_filter {
    int has_node;
    uint64_t node;
    int has_case;
    uint32_t case_index;
    int has_stage; /* a flattened stage number */
    uint32_t stage;
    int stage_kind; /* enum tsc_stage_kind + 1; 0: any */
    int has_grep;
    regex_t re; /* POSIX extended, on the text */
};

void tsc_logs_filter_init(struct tsc_logs_filter *f);
void tsc_logs_filter_free(struct tsc_logs_filter *f);
/* --stage: init|run|finalize|suite-init|suite-finalize or a number. 0 or
 * TSC_EINVAL. */
int tsc_logs_filter_set_stage(struct tsc_logs_filter *f, const char *s);
/* --case: a name from case_names (n of them, entries may be NULL) or an
 * index. 0 or TSC_ENOTFOUND. */
int tsc_logs_filter_set_case(struct tsc_logs_filter *f, const char *s,
                             const char *const *case_names, uint32_t n);
/* --grep. 0 or TSC_EINVAL with regerror's words in errmsg. */
int tsc_logs_filter_set_grep(struct tsc_logs_filter *f, const char *re, char *errmsg);
int tsc_logs_filter_match(const struct tsc_logs_filter *f, const struct tsc_logrec *r);
/* Whether records of (stage, case, node) can match, ignoring --grep: a
 * log_index range with these is worth fetching. */
int tsc_logs_filter_match_range(const struct tsc_logs_filter *f, uint32_t stage,
                                uint32_t case_index, uint64_t node);
/* enum tsc_stage_kind of a record's stage, from its tags. */
int tsc_logs_stage_kind(uint32_t stage, uint32_t case_index);

/* ---- output (logs_format.c) ------------------------------------------------- */

struct tsc__shiviz_host;

/* Writes records and errors in one format. names and case_names are
 * borrowed for the writer's life. */
struct tsc_logs_writer {
    FILE *out;
    FILE *err; /* text and shiviz: where errors go (stderr) */
    int format;
    const struct tsc_logs_names *names;
    const char *const *case_names;
    uint32_t n_cases;
    int started;
    struct tsc__shiviz_host *hosts; /* shiviz: per host, the seqs shown */
    size_t n_hosts, cap_hosts;
};

void tsc_logs_writer_init(struct tsc_logs_writer *w, FILE *out, FILE *err, int format,
                          const struct tsc_logs_names *names, const char *const *case_names,
                          uint32_t n_cases);
void tsc_logs_writer_free(struct tsc_logs_writer *w);
/* Write the format's header (shiviz: the regex and a blank line); also
 * done by the first record. */
void tsc_logs_write_start(struct tsc_logs_writer *w);
/* One merged record at index. shiviz renumbers the clocks: ShiViz wants
 * each host's events numbered 1, 2, ... and clocks that name only hosts
 * shown, so a record's clock entry for m becomes the number of m's shown
 * records at or below it (unchanged when nothing was filtered out).
 * 0 or TSC_ENOMEM. */
int tsc_logs_write_record(struct tsc_logs_writer *w, uint64_t index, const struct tsc_logrec *r);
/* One out-of-sequence error (text, shiviz: a line on err; jsonl: an
 * {"error": {...}} line on out). */
void tsc_logs_write_error(struct tsc_logs_writer *w, const struct tsc_logmerge_error *e);

/* "gap: m1 seq 5, m1 seq 9" — an error naming both records (the second
 * omitted when the error has none; skew adds ", skew N us"). Raw names:
 * escape before showing. Returns what snprintf returns. */
int tsc_logs_error_sentence(char *buf, size_t cap, const struct tsc_logmerge_error *e,
                            const struct tsc_logs_names *names);

#endif
