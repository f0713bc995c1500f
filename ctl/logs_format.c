/* tsc — `tscctl logs` output: text, JSON lines and ShiViz (ctl/logs.h).
 *
 * Text goes through the results formatters' escaping (results_text.c):
 * strict UTF-8, invalid bytes as U+FFFD, JSON per RFC 8259, and for the
 * line formats one record per line.
 *
 * ShiViz (https://bestchai.bitbucket.io/shiviz/) checks more than the
 * syntax: every host's events must carry its own clock values 1, 2, 3, ...
 * without a hole, and a clock may name only hosts that have events, with a
 * value no larger than their count. A filtered view (--node, --grep, ...)
 * or a log with a gap breaks both, so the writer renumbers: per host it
 * keeps the seqs it has shown as intervals, a record's own value becomes
 * its position among its host's shown records, and an entry (m, c) becomes
 * the number of m's shown records with seq <= c (dropped when 0). That is
 * the vector clock of the causal order restricted to the records shown,
 * and the same numbers when nothing was left out. Hosts are the node names
 * reduced to [A-Za-z0-9._:@-] (others become '_'; the id when that
 * collides), so a host needs no escaping inside the JSON clock. */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "barrier/runlog.h"
#include "common/alloc.h"
#include "ctl/logs.h"
#include "ctl/results_int.h"

struct ival {
    uint64_t lo, hi, before; /* seqs lo..hi shown; `before` shown below lo */
};

struct tsc__shiviz_host {
    uint64_t id;
    char host[TSC_CONTROL_NAME];
    struct ival *iv;
    size_t n_iv, cap_iv;
    uint64_t shown;
};

int tsc_logs_parse_format(const char *s)
{
    static const char *const names[] = {"text", "jsonl", "shiviz"};
    for (int i = 0; s != NULL && i < 3; i++)
        if (strcmp(s, names[i]) == 0)
            return TSC_LOGS_TEXT + i;
    return 0;
}

void tsc_logs_writer_init(struct tsc_logs_writer *w, FILE *out, FILE *err, int format,
                          const struct tsc_logs_names *names, const char *const *case_names,
                          uint32_t n_cases)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    w->err = err != NULL ? err : out;
    w->format = format;
    w->names = names;
    w->case_names = case_names;
    w->n_cases = n_cases;
}

void tsc_logs_writer_free(struct tsc_logs_writer *w)
{
    for (size_t i = 0; i < w->n_hosts; i++)
        tsc_free(w->hosts[i].iv);
    tsc_free(w->hosts);
    w->hosts = NULL;
    w->n_hosts = w->cap_hosts = 0;
}

void tsc_logs_write_start(struct tsc_logs_writer *w)
{
    if (w->started)
        return;
    w->started = 1;
    if (w->format == TSC_LOGS_SHIVIZ)
        fputs(TSC_LOGS_SHIVIZ_REGEX "\n\n", w->out);
}

/* ---- pieces -------------------------------------------------------------------- */

static const char *node_name(const struct tsc_logs_writer *w, uint64_t id, char hex[17])
{
    return tsc_logs_names_get(w->names, id, hex);
}

static void put_case(FILE *f, int e, const struct tsc_logs_writer *w, uint32_t ci)
{
    if (w->case_names != NULL && ci < w->n_cases && w->case_names[ci] != NULL)
        tsc__results_put_str(f, e, w->case_names[ci], TSC_SUITE_MAX_NAME + 1);
    else
        fprintf(f, "case-%" PRIu32, ci);
}

/* "run/case_b", "suite-init", "suite-finalize" */
static void put_stage(FILE *f, int e, const struct tsc_logs_writer *w, const struct tsc_logrec *r)
{
    int kind = tsc_logs_stage_kind(r->stage, r->case_index);
    if (r->case_index == TSC_LOGREC_NO_CASE) {
        fputs(kind == TSC_STAGE_SUITE_INIT ? "suite-init" : "suite-finalize", f);
        return;
    }
    fprintf(f, "%s/", tsc_stage_kind_name(kind));
    put_case(f, e, w, r->case_index);
}

/* 2024-05-01T12:00:00.123456Z, or "-" */
static void put_wall(FILE *f, uint64_t us)
{
    char when[32];
    if (!tsc__results_format_utc(us, when)) {
        fputc('-', f);
        return;
    }
    fprintf(f, "%s.%06" PRIu64 "Z", when, us % 1000000);
}

static void json_name(FILE *f, const char *s)
{
    fputc('"', f);
    tsc__results_put_str(f, TSC__ESC_JSON, s, TSC_CONTROL_NAME);
    fputc('"', f);
}

/* ---- text and jsonl -------------------------------------------------------------- */

static void write_text(struct tsc_logs_writer *w, uint64_t index, const struct tsc_logrec *r)
{
    FILE *f = w->out;
    char hex[17];
    fprintf(f, "%" PRIu64 "  ", index);
    put_wall(f, r->wall_us);
    fputs("  ", f);
    tsc__results_put_str(f, TSC__ESC_ONELINE, node_name(w, r->node, hex), TSC_CONTROL_NAME);
    fputs("  ", f);
    put_stage(f, TSC__ESC_ONELINE, w, r);
    fprintf(f, "  %s  ", tsc_logrec_kind_name(r->kind));
    tsc__results_put_text(f, TSC__ESC_ONELINE, r->text, r->len);
    fputc('\n', f);
}

static void write_jsonl(struct tsc_logs_writer *w, uint64_t index, const struct tsc_logrec *r)
{
    FILE *f = w->out;
    char hex[17];
    int kind = tsc_logs_stage_kind(r->stage, r->case_index);
    fprintf(f, "{\"index\":%" PRIu64 ",\"node\":\"%016" PRIx64 "\",\"name\":", index, r->node);
    json_name(f, node_name(w, r->node, hex));
    fprintf(f, ",\"seq\":%" PRIu64 ",\"lamport\":%" PRIu64 ",\"clock\":{", r->seq, r->lamport);
    for (size_t i = 0; i < r->clock.n; i++) {
        if (i)
            fputc(',', f);
        json_name(f, node_name(w, r->clock.e[i].node, hex));
        fprintf(f, ":%" PRIu64, r->clock.e[i].count);
    }
    fprintf(f, "},\"wall_us\":%" PRIu64 ",\"run\":%" PRIu64 ",\"stage\":%" PRIu32, r->wall_us,
            r->run, r->stage);
    if (r->case_index == TSC_LOGREC_NO_CASE) {
        fputs(",\"case\":null,\"case_name\":null", f);
    } else {
        fprintf(f, ",\"case\":%" PRIu32 ",\"case_name\":\"", r->case_index);
        put_case(f, TSC__ESC_JSON, w, r->case_index);
        fputc('"', f);
    }
    fputs(",\"stage_name\":\"", f);
    put_stage(f, TSC__ESC_JSON, w, r);
    fprintf(f, "\",\"stage_kind\":\"%s\",\"kind\":\"%s\",\"text\":\"", tsc_stage_kind_name(kind),
            tsc_logrec_kind_name(r->kind));
    tsc__results_put_text(f, TSC__ESC_JSON, r->text, r->len);
    fputs("\"}\n", f);
}

/* ---- shiviz ------------------------------------------------------------------------ */

static struct tsc__shiviz_host *host_find(struct tsc_logs_writer *w, uint64_t id)
{
    for (size_t i = 0; i < w->n_hosts; i++)
        if (w->hosts[i].id == id)
            return &w->hosts[i];
    return NULL;
}

static struct tsc__shiviz_host *host_add(struct tsc_logs_writer *w, uint64_t id)
{
    char hex[17];
    if (w->n_hosts == w->cap_hosts) {
        size_t cap = w->cap_hosts ? 2 * w->cap_hosts : 8;
        struct tsc__shiviz_host *p = tsc_realloc(w->hosts, cap * sizeof *p);
        if (p == NULL)
            return NULL;
        w->hosts = p;
        w->cap_hosts = cap;
    }
    struct tsc__shiviz_host *h = &w->hosts[w->n_hosts];
    memset(h, 0, sizeof *h);
    h->id = id;
    const char *name = node_name(w, id, hex);
    size_t n = strnlen(name, sizeof h->host - 1);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == ':' || c == '@' || c == '-';
        h->host[i] = ok ? c : '_';
    }
    for (size_t i = 0; i < w->n_hosts; i++) {
        if (strcmp(w->hosts[i].host, h->host) == 0 || h->host[0] == '\0') {
            snprintf(h->host, sizeof h->host, "%016" PRIx64, id);
            break;
        }
    }
    w->n_hosts++;
    return h;
}

/* Shown records of h with seq <= c. */
static uint64_t host_count(const struct tsc__shiviz_host *h, uint64_t c)
{
    size_t lo = 0, hi = h->n_iv;
    while (lo < hi) { /* the first interval with lo > c */
        size_t mid = lo + (hi - lo) / 2;
        if (h->iv[mid].lo <= c)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return 0;
    const struct ival *v = &h->iv[lo - 1];
    return v->before + (c < v->hi ? c : v->hi) - v->lo + 1;
}

/* Record seq shown on h. A seq at or below the highest shown (a late
 * record, a duplicate) still takes the next position, but clocks of other
 * records do not count it: they were numbered already. */
static int host_show(struct tsc__shiviz_host *h, uint64_t seq)
{
    h->shown++;
    if (h->n_iv > 0 && seq <= h->iv[h->n_iv - 1].hi)
        return 0;
    if (h->n_iv > 0 && seq == h->iv[h->n_iv - 1].hi + 1) {
        h->iv[h->n_iv - 1].hi = seq;
        return 0;
    }
    if (h->n_iv == h->cap_iv) {
        size_t cap = h->cap_iv ? 2 * h->cap_iv : 4;
        struct ival *p = tsc_realloc(h->iv, cap * sizeof *p);
        if (p == NULL) {
            h->shown--;
            return TSC_ENOMEM;
        }
        h->iv = p;
        h->cap_iv = cap;
    }
    h->iv[h->n_iv++] = (struct ival){seq, seq, h->shown - 1};
    return 0;
}

static int write_shiviz(struct tsc_logs_writer *w, const struct tsc_logrec *r)
{
    FILE *f = w->out;
    struct tsc__shiviz_host *self = host_find(w, r->node);
    if (self == NULL && (self = host_add(w, r->node)) == NULL)
        return TSC_ENOMEM;
    if (host_show(self, r->seq) != 0)
        return TSC_ENOMEM;
    fprintf(f, "%s {\"%s\":%" PRIu64, self->host, self->host, self->shown);
    for (size_t i = 0; i < r->clock.n; i++) {
        const struct tsc_vclock_entry *e = &r->clock.e[i];
        const struct tsc__shiviz_host *h = e->node == r->node ? NULL : host_find(w, e->node);
        uint64_t c = h != NULL ? host_count(h, e->count) : 0;
        if (c > 0)
            fprintf(f, ",\"%s\":%" PRIu64, h->host, c);
    }
    fputs("}\n", f);
    tsc__results_put_text(f, TSC__ESC_ONELINE, r->text, r->len);
    fputc('\n', f);
    return 0;
}

int tsc_logs_write_record(struct tsc_logs_writer *w, uint64_t index, const struct tsc_logrec *r)
{
    tsc_logs_write_start(w);
    switch (w->format) {
    case TSC_LOGS_JSONL:
        write_jsonl(w, index, r);
        return 0;
    case TSC_LOGS_SHIVIZ:
        return write_shiviz(w, r);
    default:
        write_text(w, index, r);
        return 0;
    }
}

/* ---- errors -------------------------------------------------------------------------- */

int tsc_logs_error_sentence(char *buf, size_t cap, const struct tsc_logmerge_error *e,
                            const struct tsc_logs_names *names)
{
    char hex_a[17], hex_b[17], skew[48] = "";
    const char *a = tsc_logs_names_get(names, e->a_node, hex_a);
    if (e->kind == TSC_LOGMERGE_SKEW)
        snprintf(skew, sizeof skew, ", skew %" PRId64 " us", e->skew_us);
    if (e->b_node == 0 && e->b_seq == 0)
        return snprintf(buf, cap, "%s: %s seq %" PRIu64 "%s", tsc_logmerge_error_name(e->kind), a,
                        e->a_seq, skew);
    const char *b = tsc_logs_names_get(names, e->b_node, hex_b);
    return snprintf(buf, cap, "%s: %s seq %" PRIu64 ", %s seq %" PRIu64 "%s",
                    tsc_logmerge_error_name(e->kind), a, e->a_seq, b, e->b_seq, skew);
}

static void json_ref(FILE *f, const struct tsc_logs_writer *w, uint64_t node, uint64_t seq)
{
    char hex[17];
    if (node == 0 && seq == 0) {
        fputs("null", f);
        return;
    }
    fprintf(f, "{\"node\":\"%016" PRIx64 "\",\"name\":", node);
    json_name(f, node_name(w, node, hex));
    fprintf(f, ",\"seq\":%" PRIu64 "}", seq);
}

void tsc_logs_write_error(struct tsc_logs_writer *w, const struct tsc_logmerge_error *e)
{
    if (w->format == TSC_LOGS_JSONL) {
        FILE *f = w->out;
        fprintf(f, "{\"error\":{\"kind\":\"%s\",\"run\":%" PRIu64 ",\"a\":",
                tsc_logmerge_error_name(e->kind), e->run);
        json_ref(f, w, e->a_node, e->a_seq);
        fputs(",\"b\":", f);
        json_ref(f, w, e->b_node, e->b_seq);
        fprintf(f, ",\"skew_us\":%" PRId64 "}}\n", e->skew_us);
        return;
    }
    char line[3 * TSC_CONTROL_NAME + 128];
    tsc_logs_error_sentence(line, sizeof line, e, w->names);
    fputs("out of sequence: ", w->err);
    tsc__results_put_str(w->err, TSC__ESC_ONELINE, line, sizeof line);
    fputc('\n', w->err);
}
