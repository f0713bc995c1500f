/* tsc — the log section of a run's results (ctl/results.h,
 * tsc_results_write_logs): for each failed stage the merged log records it
 * produced, per node, with the command that shows them, and the
 * out-of-sequence errors that name its records.
 *
 * Nodes are called as `tscctl logs` calls them (ctl/logs_select.c): the
 * participant's name when it is unique and not empty, else the id in 16
 * hex digits, so the printed command selects the same node. Names in the
 * command are quoted for a POSIX shell when they need it, then escaped for
 * the format like any other text. */
#include <inttypes.h>
#include <string.h>

#include "ctl/results_int.h"

/* Participant j's name as `tscctl logs --node` knows it, or NULL. */
static const char *node_name(const struct tsc__rrun *r, uint64_t id)
{
    const struct tsc_runlog_submit *s = &r->v->submit;
    const char *name = NULL;
    for (size_t j = 0; j < s->n_participants; j++) {
        if (s->participants[j].id == id && name == NULL)
            name = s->participants[j].name;
    }
    if (name == NULL || name[0] == '\0')
        return NULL;
    for (size_t j = 0; j < s->n_participants; j++)
        if (s->participants[j].id != id &&
            strncmp(s->participants[j].name, name, sizeof s->participants[j].name) == 0)
            return NULL;
    return name;
}

static void put_node(FILE *f, int e, const struct tsc__rrun *r, uint64_t id)
{
    const char *name = node_name(r, id);
    if (name != NULL)
        tsc__results_put_str(f, e, name, TSC_RUN_NAME);
    else
        fprintf(f, "%016" PRIx64, id);
}

/* s quoted for a POSIX shell when it has anything but [A-Za-z0-9._+:@%/=,-]. */
static void shell_word(char *out, size_t cap, const char *s, size_t max)
{
    size_t n = strnlen(s, max), o = 0;
    if (n > 0 &&
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+:@%/=,-") >=
            n) {
        snprintf(out, cap, "%.*s", (int)n, s);
        return;
    }
    out[o++] = '\'';
    for (size_t i = 0; i < n && o + 6 < cap; i++) {
        if (s[i] == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else {
            out[o++] = s[i];
        }
    }
    out[o++] = '\'';
    out[o] = '\0';
}

/* `tscctl logs RUN --case C --node N` (suite stages: --stage suite-init). */
static void put_command(FILE *f, int e, const struct tsc__rrun *r, uint32_t k, uint64_t node)
{
    char word[4 * TSC_RUN_NAME + 8], hex[17];
    int32_t ci;
    int kind = tsc__results_stage_kind(r, k, &ci);
    fprintf(f, "tscctl logs %" PRIu64, r->v->run);
    if (ci < 0) {
        fputs(kind == TSC_STAGE_SUITE_INIT ? " --stage suite-init" : " --stage suite-finalize", f);
    } else if (r->suite != NULL && (size_t)ci < r->suite->n_cases &&
               r->suite->cases[ci].name != NULL) {
        shell_word(word, sizeof word, r->suite->cases[ci].name, TSC_SUITE_MAX_NAME + 1);
        fputs(" --case ", f);
        tsc__results_put_str(f, e, word, sizeof word);
    } else {
        fprintf(f, " --case %" PRId32, ci);
    }
    const char *name = node_name(r, node);
    if (name == NULL) {
        snprintf(hex, sizeof hex, "%016" PRIx64, node);
        name = hex;
    }
    shell_word(word, sizeof word, name, TSC_RUN_NAME);
    fputs(" --node ", f);
    tsc__results_put_str(f, e, word, sizeof word);
}

/* "gap: m1 seq 5, m1 seq 9[, skew N us]" (the second record when named). */
static void put_error(FILE *f, int e, const struct tsc__rrun *r, const struct tsc_logmerge_error *x)
{
    fprintf(f, "%s: ", tsc_logmerge_error_name(x->kind));
    put_node(f, e, r, x->a_node);
    fprintf(f, " seq %" PRIu64, x->a_seq);
    if (x->b_node != 0 || x->b_seq != 0) {
        fputs(", ", f);
        put_node(f, e, r, x->b_node);
        fprintf(f, " seq %" PRIu64, x->b_seq);
    }
    if (x->kind == TSC_LOGMERGE_SKEW)
        fprintf(f, ", skew %" PRId64 " us", x->skew_us);
}

static int error_in_stage(const struct tsc_results_log_error *x, uint32_t k)
{
    return x->a_stage == k || x->b_stage == k;
}

/* Ranges of stage k: the log index gives stage numbers as the run's. */
static int range_in_stage(const struct tsc_control_log_range *g, uint32_t k)
{
    return g->stage == k;
}

int tsc__results_stage_has_logs(const struct tsc__rrun *r, uint32_t k)
{
    const struct tsc_results_logs *l = r->logs;
    for (size_t i = 0; l != NULL && i < l->n_ranges; i++)
        if (range_in_stage(&l->ranges[i], k))
            return 1;
    for (size_t i = 0; l != NULL && i < l->n_errors; i++)
        if (error_in_stage(&l->errors[i], k))
            return 1;
    return 0;
}

void tsc__results_stage_log_lines(FILE *f, int e, const struct tsc__rrun *r, uint32_t k,
                                  const char *prefix)
{
    const struct tsc_results_logs *l = r->logs;
    for (size_t i = 0; l != NULL && i < l->n_ranges; i++) {
        const struct tsc_control_log_range *g = &l->ranges[i];
        if (!range_in_stage(g, k))
            continue;
        fprintf(f, "%slogs of ", prefix);
        put_node(f, e, r, g->node);
        fprintf(f, ": records %" PRIu64 "-%" PRIu64 " (%" PRIu64 "): ", g->first, g->last,
                g->count);
        put_command(f, e, r, k, g->node);
        fputc('\n', f);
    }
    for (size_t i = 0; l != NULL && i < l->n_errors; i++) {
        if (!error_in_stage(&l->errors[i], k))
            continue;
        fprintf(f, "%sout of sequence: ", prefix);
        put_error(f, e, r, &l->errors[i].e);
        fputc('\n', f);
    }
}

void tsc__results_log_summary(FILE *f, int e, const struct tsc__rrun *r, const char *prefix)
{
    const struct tsc_results_logs *l = r->logs;
    if (l == NULL)
        return;
    fprintf(f, "%slogs: %" PRIu64 " records merged%s, %zu out-of-sequence error%s\n", prefix,
            l->merged, l->finished ? "" : " so far", l->n_errors, l->n_errors == 1 ? "" : "s");
    for (size_t i = 0; i < l->n_errors; i++) {
        fprintf(f, "%s  ", prefix);
        put_error(f, e, r, &l->errors[i].e);
        fputc('\n', f);
    }
}

/* ---- JSON ----------------------------------------------------------------- */

static void json_ref(FILE *f, const struct tsc__rrun *r, uint64_t node, uint64_t seq,
                     uint32_t stage)
{
    if (node == 0 && seq == 0) {
        fputs("null", f);
        return;
    }
    fprintf(f, "{\"node\":\"%016" PRIx64 "\",\"name\":\"", node);
    put_node(f, TSC__ESC_JSON, r, node);
    fprintf(f, "\",\"seq\":%" PRIu64 ",\"stage\":", seq);
    if (stage == TSC_RESULTS_NO_STAGE)
        fputs("null}", f);
    else
        fprintf(f, "%" PRIu32 "}", stage);
}

static void json_error(FILE *f, const struct tsc__rrun *r, const struct tsc_results_log_error *x)
{
    fprintf(f, "{\"kind\":\"%s\",\"a\":", tsc_logmerge_error_name(x->e.kind));
    json_ref(f, r, x->e.a_node, x->e.a_seq, x->a_stage);
    fputs(",\"b\":", f);
    json_ref(f, r, x->e.b_node, x->e.b_seq, x->b_stage);
    fprintf(f, ",\"skew_us\":%" PRId64 ",\"text\":\"", x->e.skew_us);
    put_error(f, TSC__ESC_JSON, r, &x->e);
    fputs("\"}", f);
}

void tsc__results_json_stage_logs(FILE *f, const struct tsc__rrun *r, uint32_t k)
{
    const struct tsc_results_logs *l = r->logs;
    int n = 0;
    if (l == NULL)
        return;
    fputs(",\"logs\":{\"ranges\":[", f);
    for (size_t i = 0; i < l->n_ranges; i++) {
        const struct tsc_control_log_range *g = &l->ranges[i];
        if (!range_in_stage(g, k))
            continue;
        fprintf(f, "%s{\"node\":\"%016" PRIx64 "\",\"name\":\"", n++ ? "," : "", g->node);
        put_node(f, TSC__ESC_JSON, r, g->node);
        fprintf(
            f, "\",\"first\":%" PRIu64 ",\"last\":%" PRIu64 ",\"count\":%" PRIu64 ",\"command\":\"",
            g->first, g->last, g->count);
        put_command(f, TSC__ESC_JSON, r, k, g->node);
        fputs("\"}", f);
    }
    fputs("],\"errors\":[", f);
    n = 0;
    for (size_t i = 0; i < l->n_errors; i++) {
        if (!error_in_stage(&l->errors[i], k))
            continue;
        if (n++)
            fputc(',', f);
        json_error(f, r, &l->errors[i]);
    }
    fputs("]}", f);
}

void tsc__results_json_logs(FILE *f, const struct tsc__rrun *r)
{
    const struct tsc_results_logs *l = r->logs;
    if (l == NULL)
        return;
    fprintf(f, ",\"logs\":{\"merged\":%" PRIu64 ",\"finished\":%s,\"errors\":[", l->merged,
            l->finished ? "true" : "false");
    for (size_t i = 0; i < l->n_errors; i++) {
        if (i)
            fputc(',', f);
        json_error(f, r, &l->errors[i]);
    }
    fputs("]}", f);
}
