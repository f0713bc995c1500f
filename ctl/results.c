/* tsc — a run's results as a table, JSON, JUnit XML or TAP (ctl/results.h).
 *
 * Everything a script produced (output, messages, diagnoses that quote it)
 * and every name taken from the records is untrusted bytes: each passes
 * through put_text with the escaping of its format, after a strict UTF-8
 * decode in which every byte that does not start a valid sequence becomes
 * U+FFFD. Nothing here allocates; the formatters write straight to the FILE
 * and look at ferror once at the end.
 *
 * Case states are derived here from the three stage records (and the view's
 * `next`), not from tsc_run_view_case_state, so that a view built by hand
 * (tests) or a view of a run still in progress is shown the same way: a
 * stage is skipped when it was never decided and the run has moved past it
 * or is over; a case failed when one of its stages failed, is pending while
 * one is pending, skipped when one was skipped, passed otherwise.
 *
 * For tools, a run is green only when it is: JUnit and TAP give a failed
 * suite init or finalize its own test (named "suite init"/"suite finalize"),
 * and a case still pending is an <error type="pending"> or a "not ok". */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "common/addr.h"
#include "ctl/results.h"

#define BAD_CP     0xffffffffu
#define TAIL_LINES 20   /* lines of a failing machine's output in table and TAP */
#define TAIL_BYTES 4096 /* ... and at most this many bytes of them */

enum esc {
    ESC_LINE,     /* terminal or TAP comment: controls but tab become U+FFFD */
    ESC_JSON,     /* inside "...": RFC 8259 */
    ESC_XML_TEXT, /* element content, XML 1.0 */
    ESC_XML_ATTR, /* attribute value in "...": also tab, LF, CR as references */
    ESC_YAML,     /* inside a YAML "...", in the subset TAP::Parser reads */
    ESC_TAP_DESC, /* a TAP test description: no '#', no line breaks */
};

enum stage_state { ST_PENDING, ST_PASSED, ST_FAILED, ST_SKIPPED };

static const char *const stage_state_names[] = {"pending", "passed", "failed", "skipped"};
static const char *const case_state_names[] = {"pending", "passed", "failed", "skipped"};

/* ---- text ----------------------------------------------------------------- */

/* Decode one code point of p[0..n) (n >= 1) into *cp, BAD_CP for a byte that
 * does not start a valid, shortest-form, non-surrogate sequence. Returns the
 * bytes consumed (1 for a bad byte, so decoding resynchronises at once). */
static size_t utf8_next(const uint8_t *p, size_t n, uint32_t *cp)
{
    uint8_t c = p[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, v = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        len = 3, v = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, v = c & 0x07, min = 0x10000;
    else
        goto bad;
    if (n < len)
        goto bad;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            goto bad;
        v = (v << 6) | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        goto bad;
    *cp = v;
    return len;
bad:
    *cp = BAD_CP;
    return 1;
}

static void put_cp(FILE *f, uint32_t cp)
{
    if (cp < 0x80) {
        fputc((int)cp, f);
    } else if (cp < 0x800) {
        fputc(0xc0 | (int)(cp >> 6), f);
        fputc(0x80 | (int)(cp & 0x3f), f);
    } else if (cp < 0x10000) {
        fputc(0xe0 | (int)(cp >> 12), f);
        fputc(0x80 | (int)((cp >> 6) & 0x3f), f);
        fputc(0x80 | (int)(cp & 0x3f), f);
    } else {
        fputc(0xf0 | (int)(cp >> 18), f);
        fputc(0x80 | (int)((cp >> 12) & 0x3f), f);
        fputc(0x80 | (int)((cp >> 6) & 0x3f), f);
        fputc(0x80 | (int)(cp & 0x3f), f);
    }
}

/* C0 and C1 controls, DEL, and the non-characters XML 1.0 excludes. */
static int is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0xfffe || cp == 0xffff;
}

/* The escape of an ASCII character in JSON, or NULL. */
static const char *json_escape(uint32_t cp)
{
    static const char *const tab[128] = {
        ['"'] = "\\\"", ['\\'] = "\\\\", ['\n'] = "\\n", ['\r'] = "\\r", ['\t'] = "\\t",
    };
    return cp < 128 ? tab[cp] : NULL;
}

static void put_json_cp(FILE *f, uint32_t cp)
{
    const char *e = json_escape(cp);
    if (e != NULL)
        fputs(e, f);
    else if (cp == BAD_CP)
        fputs("\\ufffd", f);
    else if (cp < 0x20 || cp == 0x7f || cp == 0x2028 || cp == 0x2029)
        fprintf(f, "\\u%04" PRIx32, cp); /* U+2028/9: not raw in JavaScript strings */
    else
        put_cp(f, cp);
}

/* '>' is escaped too, which keeps "]]>" out of content; CR as a reference
 * (a raw one is normalised away), and in attributes tab and LF as well
 * (attribute value normalisation would turn them into spaces). */
static void put_xml_cp(FILE *f, uint32_t cp, int attr)
{
    static const char *const tab[128] = {
        ['&'] = "&amp;",  ['<'] = "&lt;",    ['>'] = "&gt;",
        ['"'] = "&quot;", ['\''] = "&apos;", ['\r'] = "&#13;",
    };
    if (attr && (cp == '\t' || cp == '\n'))
        fprintf(f, "&#%u;", (unsigned)cp);
    else if (cp < 128 && tab[cp] != NULL)
        fputs(tab[cp], f);
    else if (cp == '\t' || cp == '\n')
        fputc((int)cp, f);
    else
        put_cp(f, cp == BAD_CP || is_control(cp) ? 0xfffd : cp);
}

/* TAP::Parser's YAMLish reader knows \" but applies it before \\, so both
 * go as \xHH, which it and YAML proper read alike. */
static void put_yaml_cp(FILE *f, uint32_t cp)
{
    if (cp == '"' || cp == '\\' || cp < 0x20 || cp == 0x7f)
        fprintf(f, "\\x%02" PRIx32, cp);
    else
        put_cp(f, cp == BAD_CP || is_control(cp) ? 0xfffd : cp);
}

static void put_xml_text_cp(FILE *f, uint32_t cp)
{
    put_xml_cp(f, cp, 0);
}

static void put_xml_attr_cp(FILE *f, uint32_t cp)
{
    put_xml_cp(f, cp, 1);
}

static void put_line_cp(FILE *f, uint32_t cp)
{
    put_cp(f, cp == BAD_CP || (is_control(cp) && cp != '\t') ? 0xfffd : cp);
}

static void put_desc_cp(FILE *f, uint32_t cp)
{
    if (cp == '#' || cp == '\\')
        fputc('_', f);
    else
        put_cp(f, cp == BAD_CP || is_control(cp) ? 0xfffd : cp);
}

/* Write p[0..n) escaped for mode e. */
static void put_text(FILE *f, int e, const void *p, size_t n)
{
    static void (*const put[])(FILE *, uint32_t) = {
        [ESC_LINE] = put_line_cp,         [ESC_JSON] = put_json_cp,
        [ESC_XML_TEXT] = put_xml_text_cp, [ESC_XML_ATTR] = put_xml_attr_cp,
        [ESC_YAML] = put_yaml_cp,         [ESC_TAP_DESC] = put_desc_cp,
    };
    const uint8_t *s = p;
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        i += utf8_next(s + i, n - i, &cp);
        put[e](f, cp);
    }
}

static void put_str(FILE *f, int e, const char *s, size_t max)
{
    put_text(f, e, s, strnlen(s, max));
}

/* Code points put_text writes for p[0..n) in ESC_LINE: column widths. */
static size_t text_width(const char *p, size_t max)
{
    size_t n = strnlen(p, max), w = 0;
    uint32_t cp;
    for (size_t i = 0; i < n; w++)
        i += utf8_next((const uint8_t *)p + i, n - i, &cp);
    return w;
}

static void pad(FILE *f, size_t have, size_t want)
{
    for (; have < want; have++)
        fputc(' ', f);
}

/* Start of the last TAIL_LINES lines of p[0..n), no more than TAIL_BYTES
 * before its end and not inside a UTF-8 sequence. */
static size_t tail_start(const uint8_t *p, size_t n)
{
    size_t end = n > 0 && p[n - 1] == '\n' ? n - 1 : n, i = end;
    int lines = 0;
    for (; i > 0; i--)
        if (p[i - 1] == '\n' && ++lines == TAIL_LINES)
            break;
    if (end - i > TAIL_BYTES)
        for (i = end - TAIL_BYTES; i < end && (p[i] & 0xc0) == 0x80; i++)
            ;
    return i;
}

/* The tail of an output, each line after prefix, for a terminal or TAP. */
static void put_tail(FILE *f, const char *prefix, const uint8_t *p, size_t n)
{
    size_t i = n ? tail_start(p, n) : 0;
    if (n == 0) {
        fprintf(f, "%s(no output)\n", prefix);
        return;
    }
    if (i > 0)
        fprintf(f, "%s[... %zu bytes before]\n", prefix, i);
    if (p[n - 1] == '\n')
        n--;
    while (i <= n) {
        const uint8_t *nl = memchr(p + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - p) : n, le = e;
        if (le > i && p[le - 1] == '\r')
            le--;
        fputs(prefix, f);
        put_text(f, ESC_LINE, p + i, le - i);
        fputc('\n', f);
        i = e + 1;
    }
}

/* "12.345" seconds into out; its length. */
static size_t format_secs(uint64_t us, char out[32])
{
    return (size_t)snprintf(out, 32, "%" PRIu64 ".%03" PRIu64, us / 1000000, us / 1000 % 1000);
}

static void put_secs(FILE *f, uint64_t us)
{
    char tmp[32];
    format_secs(us, tmp);
    fputs(tmp, f);
}

/* "2024-05-01T12:00:00" (UTC) into out; 0 when the time has no such form. */
static int format_utc(uint64_t us, char out[32])
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    if (us == 0 || gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999)
        return 0;
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    return 1;
}

/* The runlog.h names, never NULL: a record from a newer peer may carry a
 * value this build does not know. */
static const char *status_name(int status)
{
    const char *s = tsc_result_status_name(status);
    return s != NULL ? s : "?";
}

static const char *kind_name(int kind)
{
    const char *s = tsc_stage_kind_name(kind);
    return s != NULL ? s : "?";
}

static const char *run_state_name(int state)
{
    const char *s = tsc_run_state_name(state);
    return s != NULL ? s : "?";
}

/* ---- the run, as the formatters see it ------------------------------------ */

struct run {
    const struct tsc_run_view *v;
    const struct tsc_suite *suite;
    uint32_t n_cases, n_stages; /* n_stages = 3 n_cases + 2 */
};

static void run_init(struct run *r, const struct tsc_run_view *v, const struct tsc_suite *suite)
{
    r->v = v;
    r->suite = suite;
    r->n_cases = v->submit.n_cases;
    if (r->n_cases > (TSC_RUN_MAX_STAGES - 2) / 3)
        r->n_cases = (TSC_RUN_MAX_STAGES - 2) / 3;
    r->n_stages = 3 * r->n_cases + 2;
}

static int run_finished(const struct run *r)
{
    int s = r->v->state;
    return s == TSC_RUN_PASSED || s == TSC_RUN_FAILED || s == TSC_RUN_CANCELLED;
}

/* The decided record of stage k, or NULL. */
static const struct tsc_runlog_stage *stage_rec(const struct run *r, uint32_t k)
{
    if (k >= r->v->n_stages || r->v->stages == NULL)
        return NULL;
    return r->v->stages[k];
}

static int stage_state(const struct run *r, uint32_t k)
{
    const struct tsc_runlog_stage *st = stage_rec(r, k);
    if (st != NULL)
        return st->outcome == TSC_STAGE_PASSED ? ST_PASSED : ST_FAILED;
    return k < r->v->next || run_finished(r) ? ST_SKIPPED : ST_PENDING;
}

/* enum tsc_stage_kind of stage k; *ci the case or -1 (wire/suite.h numbering). */
static int stage_kind(const struct run *r, uint32_t k, int32_t *ci)
{
    *ci = -1;
    if (k == 0)
        return TSC_STAGE_SUITE_INIT;
    if (k >= r->n_stages - 1)
        return TSC_STAGE_SUITE_FINALIZE;
    *ci = (int32_t)((k - 1) / 3);
    return TSC_STAGE_CASE_INIT + (int)((k - 1) % 3);
}

static uint32_t case_stage(uint32_t ci, int which)
{
    return 1 + 3 * ci + (uint32_t)which;
}

static int case_state(const struct run *r, uint32_t ci)
{
    int seen[4] = {0, 0, 0, 0};
    for (int s = 0; s < 3; s++)
        seen[stage_state(r, case_stage(ci, s))] = 1;
    if (seen[ST_FAILED])
        return TSC_CASE_FAILED;
    if (seen[ST_PENDING])
        return TSC_CASE_PENDING;
    return seen[ST_SKIPPED] ? TSC_CASE_SKIPPED : TSC_CASE_PASSED;
}

static const char *skip_reason(const struct run *r)
{
    if (stage_state(r, 0) == ST_FAILED)
        return "suite init failed";
    if (r->v->cancelled || r->v->state == TSC_RUN_CANCELLED)
        return "run cancelled";
    return "not run";
}

static void put_case_name(FILE *f, int e, const struct run *r, int32_t ci)
{
    if (ci >= 0 && r->suite != NULL && (size_t)ci < r->suite->n_cases &&
        r->suite->cases[ci].name != NULL)
        put_str(f, e, r->suite->cases[ci].name, TSC_SUITE_MAX_NAME + 1);
    else
        fprintf(f, "case-%" PRId32, ci);
}

static size_t case_name_width(const struct run *r, uint32_t ci)
{
    char tmp[24];
    if (r->suite != NULL && ci < r->suite->n_cases && r->suite->cases[ci].name != NULL)
        return text_width(r->suite->cases[ci].name, TSC_SUITE_MAX_NAME + 1);
    return (size_t)snprintf(tmp, sizeof tmp, "case-%" PRIu32, ci);
}

static void put_suite_name(FILE *f, int e, const struct run *r)
{
    if (r->v->submit.suite_name[0] != '\0')
        put_str(f, e, r->v->submit.suite_name, sizeof r->v->submit.suite_name);
    else if (r->suite != NULL && r->suite->name != NULL)
        put_str(f, e, r->suite->name, TSC_SUITE_MAX_NAME + 1);
    else
        fputs("suite", f);
}

/* "case_b run", "suite init" */
static void put_stage_label(FILE *f, int e, const struct run *r, uint32_t k)
{
    int32_t ci;
    int kind = stage_kind(r, k, &ci);
    if (ci < 0)
        fputs("suite ", f);
    else {
        put_case_name(f, e, r, ci);
        fputc(' ', f);
    }
    fputs(kind_name(kind), f);
}

static void put_machine(FILE *f, int e, const struct run *r, size_t j)
{
    if (j < r->v->submit.n_participants)
        put_str(f, e, r->v->submit.participants[j].name, TSC_RUN_NAME);
    else
        fprintf(f, "#%zu", j);
}

static size_t machine_width(const struct run *r, size_t j)
{
    char tmp[24];
    if (j < r->v->submit.n_participants)
        return text_width(r->v->submit.participants[j].name, TSC_RUN_NAME);
    return (size_t)snprintf(tmp, sizeof tmp, "#%zu", j);
}

static int stage_has_results(const struct tsc_runlog_stage *st)
{
    return st != NULL && st->n_results > 0 && st->results != NULL;
}

/* Wall duration of a stage: first start to last end over its machines. */
static uint64_t stage_us(const struct tsc_runlog_stage *st)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t j = 0; stage_has_results(st) && j < st->n_results; j++) {
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
static void put_status(FILE *f, const struct tsc_stage_result *res)
{
    fputs(status_name(res->status), f);
    if (res->signal != 0)
        fprintf(f, ", signal %" PRId32, res->signal);
    else if (res->status == TSC_RESULT_FAILED)
        fprintf(f, ", exit %" PRId32, res->exit_code);
}

/* ---- table ---------------------------------------------------------------- */

static void table_row_start(FILE *f, const struct run *r, uint32_t k, size_t w_case)
{
    int32_t ci;
    int kind = stage_kind(r, k, &ci);
    if (ci < 0) {
        fputs("(suite)", f);
        pad(f, 7, w_case + 2);
    } else {
        put_case_name(f, ESC_LINE, r, ci);
        pad(f, case_name_width(r, (uint32_t)ci), w_case + 2);
    }
    fprintf(f, "%-8s  ", kind_name(kind));
}

static void table_failures(FILE *f, const struct run *r)
{
    for (uint32_t k = 0; k < r->n_stages; k++) {
        const struct tsc_runlog_stage *st = stage_rec(r, k);
        if (st == NULL || stage_state(r, k) != ST_FAILED)
            continue;
        fputs("\nFAILED ", f);
        put_stage_label(f, ESC_LINE, r, k);
        fputs(": ", f);
        put_str(f, ESC_LINE, st->diagnosis, sizeof st->diagnosis);
        fputc('\n', f);
        for (size_t j = 0; stage_has_results(st) && j < st->n_results; j++) {
            const struct tsc_stage_result *res = &st->results[j];
            if (res->status == TSC_RESULT_PASSED)
                continue;
            fputs("  ", f);
            put_machine(f, ESC_LINE, r, j);
            fputs(": ", f);
            put_status(f, res);
            if (res->message_len > 0) {
                fputs(": ", f);
                put_text(f, ESC_LINE, res->message, res->message_len);
            }
            fputc('\n', f);
            put_tail(f, "    ", res->output, res->output_len);
        }
    }
}

static void write_table(FILE *f, const struct run *r)
{
    const struct tsc_run_view *v = r->v;
    size_t w_case = 7, w_machine = 7, w_dur = 8, counts[4] = {0, 0, 0, 0};
    char when[32], dur[32];
    for (uint32_t i = 0; i < r->n_cases; i++) {
        size_t w = case_name_width(r, i);
        w_case = w > w_case ? w : w_case;
        counts[case_state(r, i)]++;
    }
    for (uint32_t k = 0; k < r->n_stages; k++) {
        const struct tsc_runlog_stage *st = stage_rec(r, k);
        for (size_t j = 0; stage_has_results(st) && j < st->n_results; j++) {
            size_t w = machine_width(r, j), wd = format_secs(result_us(&st->results[j]), dur);
            w_machine = w > w_machine ? w : w_machine;
            w_dur = wd + 1 > w_dur ? wd + 1 : w_dur;
        }
    }

    fprintf(f, "run %" PRIu64 "  suite ", v->run);
    put_suite_name(f, ESC_LINE, r);
    fprintf(f, "  %s  submitted %s  %zu machines\n", run_state_name(v->state),
            format_utc(v->submit.submitted_us, when) ? strcat(when, "Z") : "-",
            v->submit.n_participants);
    fprintf(f, "cases: %zu passed, %zu failed, %zu skipped, %zu pending\n", counts[TSC_CASE_PASSED],
            counts[TSC_CASE_FAILED], counts[TSC_CASE_SKIPPED], counts[TSC_CASE_PENDING]);
    if (v->cancelled) {
        fputs("cancelled: ", f);
        put_str(f, ESC_LINE, v->cancel.reason, sizeof v->cancel.reason);
        fputc('\n', f);
    }
    fputc('\n', f);
    fprintf(f, "%-*s  %-8s  %-*s  %-9s  %*s  %s\n", (int)w_case, "CASE", "STAGE", (int)w_machine,
            "MACHINE", "STATUS", (int)w_dur, "DURATION", "MESSAGE");
    for (uint32_t k = 0; k < r->n_stages; k++) {
        const struct tsc_runlog_stage *st = stage_rec(r, k);
        if (!stage_has_results(st)) {
            table_row_start(f, r, k, w_case);
            fprintf(f, "%-*s  %-9s  %*s\n", (int)w_machine, "-",
                    stage_state_names[stage_state(r, k)], (int)w_dur, "-");
            continue;
        }
        for (size_t j = 0; j < st->n_results; j++) {
            const struct tsc_stage_result *res = &st->results[j];
            format_secs(result_us(res), dur);
            table_row_start(f, r, k, w_case);
            put_machine(f, ESC_LINE, r, j);
            pad(f, machine_width(r, j), w_machine + 2);
            fprintf(f, "%-9s  %*ss", status_name(res->status), (int)w_dur - 1, dur);
            if (res->message_len > 0) {
                fputs("  ", f);
                put_text(f, ESC_LINE, res->message, res->message_len);
            }
            fputc('\n', f);
        }
    }
    table_failures(f, r);
}

/* ---- JSON ----------------------------------------------------------------- */

static void json_str(FILE *f, const void *p, size_t n)
{
    fputc('"', f);
    put_text(f, ESC_JSON, p, n);
    fputc('"', f);
}

static void json_stage(FILE *f, const struct run *r, uint32_t k)
{
    const struct tsc_runlog_stage *st = stage_rec(r, k);
    int32_t ci;
    int kind = stage_kind(r, k, &ci);
    fprintf(f, "{\"index\":%" PRIu32 ",\"kind\":\"%s\",\"case\":", k, kind_name(kind));
    if (ci < 0) {
        fputs("null", f);
    } else {
        fputc('"', f);
        put_case_name(f, ESC_JSON, r, ci);
        fputc('"', f);
    }
    fprintf(f, ",\"outcome\":\"%s\",\"decided_us\":", stage_state_names[stage_state(r, k)]);
    if (st == NULL) {
        fputs("null,\"diagnosis\":\"\",\"results\":[]}", f);
        return;
    }
    fprintf(f, "%" PRIu64 ",\"diagnosis\":", st->decided_us);
    json_str(f, st->diagnosis, strnlen(st->diagnosis, sizeof st->diagnosis));
    fputs(",\"results\":[", f);
    for (size_t j = 0; stage_has_results(st) && j < st->n_results; j++) {
        const struct tsc_stage_result *res = &st->results[j];
        fputs(j ? ",{\"node\":" : "{\"node\":", f);
        if (j < r->v->submit.n_participants)
            fprintf(f, "\"%016" PRIx64 "\"", r->v->submit.participants[j].id);
        else
            fputs("null", f);
        fputs(",\"name\":\"", f);
        put_machine(f, ESC_JSON, r, j);
        fprintf(f,
                "\",\"status\":\"%s\",\"exit_code\":%" PRId32 ",\"signal\":%" PRId32
                ",\"start_us\":%" PRIu64 ",\"end_us\":%" PRIu64 ",\"message\":",
                status_name(res->status), res->exit_code, res->signal, res->start_us, res->end_us);
        json_str(f, res->message, res->message_len);
        fputs(",\"output\":", f);
        json_str(f, res->output, res->output_len);
        fputc('}', f);
    }
    fputs("]}", f);
}

static void write_json(FILE *f, const struct run *r)
{
    const struct tsc_run_view *v = r->v;
    char addr[TSC_ADDR_STRLEN];
    fprintf(f, "{\"run\":%" PRIu64 ",\"suite\":\"", v->run);
    put_suite_name(f, ESC_JSON, r);
    fprintf(f, "\",\"state\":\"%s\",\"submitted_us\":%" PRIu64 ",\"cancel\":",
            run_state_name(v->state), v->submit.submitted_us);
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
        put_case_name(f, ESC_JSON, r, (int32_t)i);
        fprintf(f, "\",\"state\":\"%s\",\"stages\":[%" PRIu32 ",%" PRIu32 ",%" PRIu32 "]}",
                case_state_names[case_state(r, i)], case_stage(i, 0), case_stage(i, 1),
                case_stage(i, 2));
    }
    fputs("]}\n", f);
}

/* ---- JUnit XML ------------------------------------------------------------ */

/* One <testcase>: a case (ci >= 0, its three stages) or a failed suite stage. */
struct jcase {
    int32_t ci;
    uint32_t first, n; /* stages first .. first+n-1 */
    int state;         /* enum tsc_case_state */
};

static void junit_failure(FILE *f, const struct run *r, const struct jcase *c)
{
    uint32_t k, first_failed = UINT32_MAX;
    for (k = c->first; k < c->first + c->n && first_failed == UINT32_MAX; k++)
        if (stage_state(r, k) == ST_FAILED)
            first_failed = k;
    const struct tsc_runlog_stage *st = stage_rec(r, first_failed);
    int32_t ci;
    fputs("      <failure message=\"", f);
    if (st != NULL && st->diagnosis[0] != '\0')
        put_str(f, ESC_XML_ATTR, st->diagnosis, sizeof st->diagnosis);
    else {
        put_stage_label(f, ESC_XML_ATTR, r, first_failed);
        fputs(" failed", f);
    }
    fprintf(f, "\" type=\"%s\">", kind_name(stage_kind(r, first_failed, &ci)));
    for (k = c->first; k < c->first + c->n; k++) {
        st = stage_rec(r, k);
        if (st == NULL || stage_state(r, k) != ST_FAILED)
            continue;
        put_stage_label(f, ESC_XML_TEXT, r, k);
        fputs(": ", f);
        put_str(f, ESC_XML_TEXT, st->diagnosis, sizeof st->diagnosis);
        fputc('\n', f);
        for (size_t j = 0; stage_has_results(st) && j < st->n_results; j++) {
            fputs("  ", f);
            put_machine(f, ESC_XML_TEXT, r, j);
            fputs(": ", f);
            put_status(f, &st->results[j]);
            if (st->results[j].message_len > 0) {
                fputs(": ", f);
                put_text(f, ESC_XML_TEXT, st->results[j].message, st->results[j].message_len);
            }
            fputc('\n', f);
        }
    }
    fputs("</failure>\n", f);
}

static void junit_system_out(FILE *f, const struct run *r, const struct jcase *c)
{
    int open = 0;
    for (uint32_t k = c->first; k < c->first + c->n; k++) {
        const struct tsc_runlog_stage *st = stage_rec(r, k);
        int32_t ci;
        int kind = stage_kind(r, k, &ci);
        for (size_t j = 0; stage_has_results(st) && j < st->n_results; j++) {
            const struct tsc_stage_result *res = &st->results[j];
            fputs(open ? "== " : "      <system-out>== ", f);
            open = 1;
            put_machine(f, ESC_XML_TEXT, r, j);
            fprintf(f, " %s (%s) ==\n", kind_name(kind), status_name(res->status));
            put_text(f, ESC_XML_TEXT, res->output, res->output_len);
            if (res->output_len > 0 && res->output[res->output_len - 1] != '\n')
                fputc('\n', f);
        }
    }
    if (open)
        fputs("</system-out>\n", f);
}

static void junit_testcase(FILE *f, const struct run *r, const struct jcase *c)
{
    uint64_t us = 0;
    for (uint32_t k = c->first; k < c->first + c->n; k++)
        us += stage_us(stage_rec(r, k));
    fputs("    <testcase classname=\"", f);
    put_suite_name(f, ESC_XML_ATTR, r);
    fputs("\" name=\"", f);
    if (c->ci >= 0)
        put_case_name(f, ESC_XML_ATTR, r, c->ci);
    else
        put_stage_label(f, ESC_XML_ATTR, r, c->first);
    fputs("\" time=\"", f);
    put_secs(f, us);
    fputs("\">\n", f);
    if (c->state == TSC_CASE_FAILED)
        junit_failure(f, r, c);
    else if (c->state == TSC_CASE_SKIPPED)
        fprintf(f, "      <skipped message=\"%s\"/>\n", skip_reason(r));
    else if (c->state == TSC_CASE_PENDING)
        fputs("      <error message=\"pending: the run has not finished\" type=\"pending\"/>\n", f);
    junit_system_out(f, r, c);
    fputs("    </testcase>\n", f);
}

/* The i-th <testcase>: failed suite init, the cases, failed suite finalize. */
static int junit_case(const struct run *r, uint32_t i, struct jcase *c)
{
    int init_failed = stage_state(r, 0) == ST_FAILED;
    if (init_failed && i == 0) {
        *c = (struct jcase){-1, 0, 1, TSC_CASE_FAILED};
        return 1;
    }
    i -= (uint32_t)init_failed;
    if (i < r->n_cases) {
        *c = (struct jcase){(int32_t)i, case_stage(i, 0), 3, case_state(r, i)};
        return 1;
    }
    if (i == r->n_cases && stage_state(r, r->n_stages - 1) == ST_FAILED) {
        *c = (struct jcase){-1, r->n_stages - 1, 1, TSC_CASE_FAILED};
        return 1;
    }
    return 0;
}

static void write_junit(FILE *f, const struct run *r)
{
    size_t counts[4] = {0, 0, 0, 0}, n = 0;
    uint64_t us = 0;
    char when[32];
    struct jcase c;
    for (uint32_t i = 0; junit_case(r, i, &c); i++, n++)
        counts[c.state]++;
    for (uint32_t k = 0; k < r->n_stages; k++)
        us += stage_us(stage_rec(r, k));

    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
    for (int level = 0; level < 2; level++) {
        fputs(level ? "  <testsuite name=\"" : "<testsuites name=\"", f);
        put_suite_name(f, ESC_XML_ATTR, r);
        fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"", n,
                counts[TSC_CASE_FAILED], counts[TSC_CASE_PENDING], counts[TSC_CASE_SKIPPED]);
        put_secs(f, us);
        fputc('"', f);
        if (level == 1 && format_utc(r->v->submit.submitted_us, when))
            fprintf(f, " timestamp=\"%s\"", when); /* Ant's form: UTC, no zone */
        fputs(">\n", f);
    }
    fprintf(f,
            "    <properties>\n"
            "      <property name=\"tsc.run\" value=\"%" PRIu64 "\"/>\n"
            "      <property name=\"tsc.state\" value=\"%s\"/>\n"
            "    </properties>\n",
            r->v->run, run_state_name(r->v->state));
    for (uint32_t i = 0; junit_case(r, i, &c); i++)
        junit_testcase(f, r, &c);
    fputs("  </testsuite>\n</testsuites>\n", f);
}

/* ---- TAP ------------------------------------------------------------------ */

static void tap_yaml_failure(FILE *f, const struct run *r, const struct jcase *c)
{
    uint32_t k, first_failed = UINT32_MAX;
    for (k = c->first; k < c->first + c->n && first_failed == UINT32_MAX; k++)
        if (stage_state(r, k) == ST_FAILED)
            first_failed = k;
    const struct tsc_runlog_stage *st = stage_rec(r, first_failed);
    fputs("  ---\n  message: \"", f);
    if (st != NULL && st->diagnosis[0] != '\0')
        put_str(f, ESC_YAML, st->diagnosis, sizeof st->diagnosis);
    else {
        put_stage_label(f, ESC_YAML, r, first_failed);
        fputs(" failed", f);
    }
    fputs("\"\n  severity: fail\n  failures:\n", f);
    for (k = c->first; k < c->first + c->n; k++) {
        st = stage_rec(r, k);
        if (st == NULL || stage_state(r, k) != ST_FAILED)
            continue;
        for (size_t j = 0; stage_has_results(st) && j < st->n_results; j++) {
            const struct tsc_stage_result *res = &st->results[j];
            int32_t ci;
            if (res->status == TSC_RESULT_PASSED)
                continue;
            fputs("    - machine: \"", f);
            put_machine(f, ESC_YAML, r, j);
            fprintf(f,
                    "\"\n      stage: %s\n      status: %s\n      exit_code: %" PRId32
                    "\n      signal: %" PRId32 "\n      message: \"",
                    kind_name(stage_kind(r, k, &ci)), status_name(res->status), res->exit_code,
                    res->signal);
            put_text(f, ESC_YAML, res->message, res->message_len);
            fputs("\"\n", f);
        }
    }
    fputs("  ...\n", f);
    /* The output goes after the block as comments: a line of it can be
     * anything ("not ok 1", "Bail out!", "  ..."), and "# " defuses all. */
    for (k = c->first; k < c->first + c->n; k++) {
        st = stage_rec(r, k);
        if (st == NULL || stage_state(r, k) != ST_FAILED)
            continue;
        for (size_t j = 0; stage_has_results(st) && j < st->n_results; j++) {
            const struct tsc_stage_result *res = &st->results[j];
            if (res->status == TSC_RESULT_PASSED)
                continue;
            fputs("# ", f);
            put_machine(f, ESC_LINE, r, j);
            fputc(' ', f);
            put_stage_label(f, ESC_LINE, r, k);
            fprintf(f, " (%s), last lines of output:\n", status_name(res->status));
            put_tail(f, "#   ", res->output, res->output_len);
        }
    }
}

static void write_tap(FILE *f, const struct run *r)
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
            put_case_name(f, ESC_TAP_DESC, r, c.ci);
        else
            put_stage_label(f, ESC_TAP_DESC, r, c.first);
        if (c.state == TSC_CASE_SKIPPED)
            fprintf(f, " # SKIP %s", skip_reason(r));
        fputc('\n', f);
        if (c.state == TSC_CASE_FAILED)
            tap_yaml_failure(f, r, &c);
        else if (c.state == TSC_CASE_PENDING)
            fputs("  ---\n  message: \"pending: the run has not finished\"\n"
                  "  severity: pending\n  ...\n",
                  f);
    }
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
    struct run r;
    if (out == NULL || v == NULL)
        return TSC_EINVAL;
    run_init(&r, v, suite);
    switch (format) {
    case TSC_RESULTS_TABLE:
        write_table(out, &r);
        break;
    case TSC_RESULTS_JSON:
        write_json(out, &r);
        break;
    case TSC_RESULTS_JUNIT:
        write_junit(out, &r);
        break;
    case TSC_RESULTS_TAP:
        write_tap(out, &r);
        break;
    default:
        return TSC_EINVAL;
    }
    if (fflush(out) != 0 || ferror(out))
        return TSC_EIO;
    return 0;
}
