/* tsc — which records `tscctl logs` shows, and what it calls their nodes
 * (ctl/logs.h).
 *
 * Names: a node is shown by the name the run's SUBMIT gave it (the name
 * `tscctl results` shows), else by its label name= from the members op,
 * else by its id in hex. Names must be unique, because they are keys: of
 * the jsonl clock object, of ShiViz's hosts, and of --node. A name that is
 * empty or used twice is replaced by the id, for every node that has it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "barrier/runlog.h"
#include "common/alloc.h"
#include "ctl/logs.h"

void tsc_logs_names_init(struct tsc_logs_names *n)
{
    memset(n, 0, sizeof *n);
}

void tsc_logs_names_free(struct tsc_logs_names *n)
{
    tsc_free(n->nodes);
    tsc_logs_names_init(n);
}

int tsc_logs_names_add(struct tsc_logs_names *n, uint64_t id, const char *name)
{
    for (size_t i = 0; i < n->n; i++)
        if (n->nodes[i].id == id)
            return 0;
    if (n->n == n->cap) {
        size_t cap = n->cap ? 2 * n->cap : 16;
        struct tsc_logs_node *p = tsc_realloc(n->nodes, cap * sizeof *p);
        if (p == NULL)
            return TSC_ENOMEM;
        n->nodes = p;
        n->cap = cap;
    }
    struct tsc_logs_node *x = &n->nodes[n->n++];
    x->id = id;
    snprintf(x->name, sizeof x->name, "%s", name ? name : "");
    return 0;
}

static void hex_id(uint64_t id, char hex[17])
{
    snprintf(hex, 17, "%016llx", (unsigned long long)id);
}

void tsc_logs_names_finish(struct tsc_logs_names *n)
{
    /* Mark first, replace after: a name used three times must go for all. */
    char *dup = tsc_calloc(n->n ? n->n : 1, 1);
    for (size_t i = 0; i < n->n; i++) {
        if (n->nodes[i].name[0] == '\0') {
            if (dup != NULL)
                dup[i] = 1;
            continue;
        }
        for (size_t j = i + 1; j < n->n; j++) {
            if (strcmp(n->nodes[i].name, n->nodes[j].name) == 0 && dup != NULL)
                dup[i] = dup[j] = 1;
        }
    }
    for (size_t i = 0; i < n->n; i++)
        if (dup == NULL || dup[i])
            hex_id(n->nodes[i].id, n->nodes[i].name);
    tsc_free(dup);
}

const char *tsc_logs_names_get(const struct tsc_logs_names *n, uint64_t id, char hex[17])
{
    for (size_t i = 0; n != NULL && i < n->n; i++)
        if (n->nodes[i].id == id)
            return n->nodes[i].name;
    hex_id(id, hex);
    return hex;
}

int tsc_logs_names_find(const struct tsc_logs_names *n, const char *s, uint64_t *id)
{
    for (size_t i = 0; n != NULL && i < n->n; i++) {
        if (strcmp(n->nodes[i].name, s) == 0) {
            *id = n->nodes[i].id;
            return 0;
        }
    }
    size_t len = strlen(s);
    if (len == 0 || len > 16 || strspn(s, "0123456789abcdefABCDEF") != len)
        return TSC_ENOTFOUND;
    *id = strtoull(s, NULL, 16);
    return *id != 0 ? 0 : TSC_ENOTFOUND;
}

/* ---- filters ------------------------------------------------------------------ */

void tsc_logs_filter_init(struct tsc_logs_filter *f)
{
    memset(f, 0, sizeof *f);
}

void tsc_logs_filter_free(struct tsc_logs_filter *f)
{
    if (f->has_grep)
        regfree(&f->re);
    tsc_logs_filter_init(f);
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || s[0] == '+' || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int tsc_logs_filter_set_stage(struct tsc_logs_filter *f, const char *s)
{
    static const struct {
        const char *name;
        int kind;
    } kinds[] = {
        {"init", TSC_STAGE_CASE_INIT},
        {"run", TSC_STAGE_CASE_RUN},
        {"finalize", TSC_STAGE_CASE_FINALIZE},
        {"suite-init", TSC_STAGE_SUITE_INIT},
        {"suite-finalize", TSC_STAGE_SUITE_FINALIZE},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(s, kinds[i].name) == 0) {
            f->stage_kind = kinds[i].kind + 1;
            return 0;
        }
    }
    if (parse_u32(s, &f->stage) != 0)
        return TSC_EINVAL;
    f->has_stage = 1;
    return 0;
}

int tsc_logs_filter_set_case(struct tsc_logs_filter *f, const char *s,
                             const char *const *case_names, uint32_t n)
{
    for (uint32_t i = 0; case_names != NULL && i < n; i++) {
        if (case_names[i] != NULL && strcmp(case_names[i], s) == 0) {
            f->case_index = i;
            f->has_case = 1;
            return 0;
        }
    }
    /* An index; without the suite (no names known) any index is taken. */
    if (parse_u32(s, &f->case_index) != 0 || f->case_index == TSC_LOGREC_NO_CASE ||
        (case_names != NULL && f->case_index >= n))
        return TSC_ENOTFOUND;
    f->has_case = 1;
    return 0;
}

int tsc_logs_filter_set_grep(struct tsc_logs_filter *f, const char *re, char *errmsg)
{
    if (f->has_grep) {
        regfree(&f->re);
        f->has_grep = 0;
    }
    int rc = regcomp(&f->re, re, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char why[200];
        regerror(rc, &f->re, why, sizeof why);
        tsc_errmsg_setf(errmsg, "bad --grep '%s': %s", re, why);
        return TSC_EINVAL;
    }
    f->has_grep = 1;
    return 0;
}

int tsc_logs_stage_kind(uint32_t stage, uint32_t case_index)
{
    if (case_index == TSC_LOGREC_NO_CASE)
        return stage == 0 ? TSC_STAGE_SUITE_INIT : TSC_STAGE_SUITE_FINALIZE;
    if (stage == 0)
        return TSC_STAGE_CASE_INIT; /* tagged with a case: not the suite's init */
    return TSC_STAGE_CASE_INIT + (int)((stage - 1) % 3);
}

int tsc_logs_filter_match_range(const struct tsc_logs_filter *f, uint32_t stage,
                                uint32_t case_index, uint64_t node)
{
    if (f->has_node && node != f->node)
        return 0;
    if (f->has_case && case_index != f->case_index)
        return 0;
    if (f->has_stage && stage != f->stage)
        return 0;
    if (f->stage_kind != 0 && tsc_logs_stage_kind(stage, case_index) != f->stage_kind - 1)
        return 0;
    return 1;
}

/* regexec wants a C string: the text is copied. Where REG_STARTEND exists
 * (glibc, the BSDs) the whole text is matched, NUL bytes included;
 * elsewhere a NUL byte ends it. */
static int grep_match(const regex_t *re, const uint8_t *text, size_t len)
{
    char small[512];
    char *s = len < sizeof small ? small : tsc_malloc(len + 1);
    if (s == NULL)
        return 1; /* out of memory: show the record rather than hide it */
    if (len > 0)
        memcpy(s, text, len);
    s[len] = '\0';
#ifdef REG_STARTEND
    regmatch_t m[1] = {{0, (regoff_t)len}};
    int hit = regexec(re, s, 1, m, REG_STARTEND) == 0;
#else
    int hit = regexec(re, s, 0, NULL, 0) == 0;
#endif
    if (s != small)
        tsc_free(s);
    return hit;
}

int tsc_logs_filter_match(const struct tsc_logs_filter *f, const struct tsc_logrec *r)
{
    if (!tsc_logs_filter_match_range(f, r->stage, r->case_index, r->node))
        return 0;
    return !f->has_grep || grep_match(&f->re, r->text, r->len);
}
