/* tsc — the suite file parser: libyaml events -> struct tsc_suite.
 *
 * A recursive descent over libyaml's event stream, driven by the schema (see
 * docs/suites.md), rather than libyaml's document loader: events keep anchors,
 * aliases and tags visible (we reject them) and every event carries its
 * position, so each error names the place in the file. The descent only goes
 * as deep as the schema, and the first unexpected event stops it, so hostile
 * nesting costs nothing.
 *
 * Placeholders are checked after the whole file is read (vars: may come after
 * the scripts); each script remembers where it came from (struct loc) so the
 * error can point at the placeholder itself. */
#include "ctl/suite_yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "common/alloc.h"
#include "common/template.h"

#define MAX_FILE (4u << 20) /* bytes of a suite file */
#define SHOW     48

/* Where a script came from. */
struct loc {
    int32_t case_i;   /* -1 suite init, -2 suite finalize */
    int stage;        /* enum tsc_suite_case_stage, for cases */
    size_t script;    /* index in the stage */
    char *file;       /* resolved path of a script file; NULL: inline */
    yaml_mark_t mark; /* the scalar's start */
    yaml_scalar_style_t style;
};

struct yp {
    yaml_parser_t parser;
    yaml_event_t ev;
    int have_ev;
    const char *name;
    const char *src;
    size_t len;
    const char *base_dir;
    struct tsc_suite *s;
    char *errmsg;
    struct loc *locs;
    size_t n_locs, cap_locs;
    size_t cap_names, cap_roles, cap_vars, cap_cases;
    yaml_mark_t var_marks[TSC_SUITE_MAX_VARS];
    yaml_mark_t select_marks[2][TSC_SUITE_MAX_SELECT];
    yaml_mark_t case_marks[TSC_SUITE_MAX_CASES];
};

/* ---- messages ------------------------------------------------------------- */

static const char *show(char out[SHOW], const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= SHOW) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c != 0x7f && c != '\\') {
            out[o++] = (char)c; /* UTF-8 passes through */
        } else {
            snprintf(out + o, SHOW - o, "\\x%02x", c);
            o += 4;
        }
    }
    out[o] = '\0';
    return out;
}

static int failv(struct yp *p, int rc, size_t line, size_t col, const char *fmt, va_list ap)
{
    char msg[TSC_ERRMSG_SIZE];
    vsnprintf(msg, sizeof msg, fmt, ap);
    tsc_errmsg_setf(p->errmsg, "%s:%zu:%zu: %s", p->name, line + 1, col + 1, msg);
    return rc;
}

/* Set "NAME:LINE:COL: message" from a 0-based libyaml mark; returns rc. */
__attribute__((format(printf, 4, 5))) static int fail(struct yp *p, int rc, yaml_mark_t m,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    failv(p, rc, m.line, m.column, fmt, ap);
    va_end(ap);
    return rc;
}

static int nomem(struct yp *p)
{
    tsc_errmsg_setf(p->errmsg, "%s: out of memory", p->name);
    return TSC_ENOMEM;
}

/* ---- positions in the source ---------------------------------------------- */

/* Length of the line break at src[i] (CR LF, CR, LF, NEL, LS, PS: what
 * libyaml counts), or 0. */
static size_t break_len(const char *src, size_t len, size_t i)
{
    const unsigned char *u = (const unsigned char *)src;
    if (u[i] == '\n')
        return 1;
    if (u[i] == '\r')
        return i + 1 < len && u[i + 1] == '\n' ? 2 : 1;
    if (u[i] == 0xc2 && i + 1 < len && u[i + 1] == 0x85)
        return 2;
    if (u[i] == 0xe2 && i + 2 < len && u[i + 1] == 0x80 && (u[i + 2] == 0xa8 || u[i + 2] == 0xa9))
        return 3;
    return 0;
}

/* Advance one character at *i, keeping line and column (in characters, as
 * libyaml counts them). */
static void step(const char *src, size_t len, size_t *i, size_t *line, size_t *col)
{
    size_t b = break_len(src, len, *i);
    if (b != 0) {
        *i += b;
        (*line)++;
        *col = 0;
        return;
    }
    (*i)++;
    while (*i < len && ((unsigned char)src[*i] & 0xc0) == 0x80)
        (*i)++;
    (*col)++;
}

/* Line and column of byte offset `to`, walking from byte `from` at (line, col). */
static void locate(const char *src, size_t len, size_t from, size_t to, size_t *line, size_t *col)
{
    while (from < to && from < len)
        step(src, len, &from, line, col);
}

/* The byte offset of a libyaml mark (clamped to the end). */
static size_t offset_of(const char *src, size_t len, yaml_mark_t m)
{
    size_t i = 0, line = 0, col = 0;
    while (i < len && (line < m.line || (line == m.line && col < m.column)))
        step(src, len, &i, &line, &col);
    return i;
}

/* Number of "{{" found scanning text[0..end) left to right without overlap:
 * the template scanner finds placeholders the same way, and placeholders
 * hold no braces, so a placeholder at `end` is match number k. */
static size_t count_opens(const char *text, size_t len, size_t end)
{
    size_t k = 0;
    for (size_t i = 0; i + 1 < len && i < end;) {
        if (text[i] == '{' && text[i + 1] == '{') {
            k++;
            i += 2;
        } else {
            i++;
        }
    }
    return k;
}

/* Position in the YAML file of the placeholder at `offset` of an inline
 * script. Plain and literal scalars hold their text verbatim apart from
 * whitespace (folding, indentation), which never creates or removes a "{{",
 * so the k-th "{{" of the value is the k-th of the source; other styles
 * (escapes, folding) report the scalar's start. */
static void inline_pos(const struct yp *p, const struct loc *l, const char *text, size_t offset,
                       size_t *line, size_t *col)
{
    *line = l->mark.line;
    *col = l->mark.column;
    if (l->style != YAML_PLAIN_SCALAR_STYLE && l->style != YAML_LITERAL_SCALAR_STYLE)
        return;
    size_t k = count_opens(text, strlen(text), offset);
    size_t i = offset_of(p->src, p->len, l->mark), ln = l->mark.line, c = l->mark.column;
    if (l->style == YAML_LITERAL_SCALAR_STYLE) {
        /* Skip the header line ("| # a comment may hold braces"). */
        while (i < p->len && break_len(p->src, p->len, i) == 0)
            step(p->src, p->len, &i, &ln, &c);
    }
    size_t start = i;
    for (; i + 1 < p->len; i++) {
        if (p->src[i] == '{' && p->src[i + 1] == '{') {
            if (k == 0) {
                locate(p->src, p->len, start, i, &ln, &c);
                *line = ln;
                *col = c;
                return;
            }
            k--;
            i++;
        }
    }
}

/* ---- events --------------------------------------------------------------- */

static int syntax_error(struct yp *p)
{
    yaml_parser_t *y = &p->parser;
    const char *problem = y->problem ? y->problem : "YAML syntax error";
    if (y->error == YAML_MEMORY_ERROR)
        return nomem(p);
    if (y->error == YAML_READER_ERROR) {
        size_t line = 0, col = 0;
        locate(p->src, p->len, 0, y->problem_offset, &line, &col);
        tsc_errmsg_setf(p->errmsg, "%s:%zu:%zu: %s", p->name, line + 1, col + 1, problem);
        return TSC_EINVAL;
    }
    if (y->context != NULL)
        return fail(p, TSC_EINVAL, y->problem_mark, "%s (%s at %zu:%zu)", problem, y->context,
                    y->context_mark.line + 1, y->context_mark.column + 1);
    return fail(p, TSC_EINVAL, y->problem_mark, "%s", problem);
}

/* Fetch the next event into p->ev, refusing what the schema has no use for. */
static int next(struct yp *p)
{
    char shown[SHOW];
    const unsigned char *anchor = NULL, *tag = NULL;
    if (p->have_ev) {
        yaml_event_delete(&p->ev);
        p->have_ev = 0;
    }
    if (!yaml_parser_parse(&p->parser, &p->ev))
        return syntax_error(p);
    p->have_ev = 1;
    switch (p->ev.type) {
    case YAML_ALIAS_EVENT:
        anchor = p->ev.data.alias.anchor;
        return fail(p, TSC_EINVAL, p->ev.start_mark, "aliases (*%s) are not supported",
                    show(shown, (const char *)anchor, strlen((const char *)anchor)));
    case YAML_SCALAR_EVENT:
        anchor = p->ev.data.scalar.anchor;
        tag = p->ev.data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = p->ev.data.sequence_start.anchor;
        tag = p->ev.data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = p->ev.data.mapping_start.anchor;
        tag = p->ev.data.mapping_start.tag;
        break;
    default:
        break;
    }
    if (anchor != NULL)
        return fail(p, TSC_EINVAL, p->ev.start_mark, "anchors (&%s) are not supported",
                    show(shown, (const char *)anchor, strlen((const char *)anchor)));
    if (tag != NULL)
        return fail(p, TSC_EINVAL, p->ev.start_mark, "tags (%s) are not supported",
                    show(shown, (const char *)tag, strlen((const char *)tag)));
    return 0;
}

static int is_null(const yaml_event_t *e)
{
    if (e->type != YAML_SCALAR_EVENT || e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *)e->data.scalar.value;
    size_t n = e->data.scalar.length;
    return n == 0 || (n == 1 && v[0] == '~') ||
           (n == 4 && (!memcmp(v, "null", 4) || !memcmp(v, "Null", 4) || !memcmp(v, "NULL", 4)));
}

static const char *kind(const yaml_event_t *e)
{
    switch (e->type) {
    case YAML_MAPPING_START_EVENT:
        return "a map";
    case YAML_SEQUENCE_START_EVENT:
        return "a list";
    case YAML_SCALAR_EVENT:
        return is_null(e) ? "empty (null)" : "a string";
    default:
        return "nothing";
    }
}

/* The current event must be a non-null scalar of at most max bytes. */
static int want_scalar(struct yp *p, const char *what, const char *expected, size_t max)
{
    const yaml_event_t *e = &p->ev;
    if (e->type != YAML_SCALAR_EVENT || is_null(e))
        return fail(p, TSC_EINVAL, e->start_mark, "%s must be %s, not %s", what, expected, kind(e));
    if (e->data.scalar.length > max)
        return fail(p, TSC_ETOOBIG, e->start_mark, "%s is over the limit of %zu bytes", what, max);
    if (memchr(e->data.scalar.value, '\0', e->data.scalar.length) != NULL)
        return fail(p, TSC_EINVAL, e->start_mark, "%s contains a NUL byte", what);
    return 0;
}

static const char *sval(const struct yp *p)
{
    return (const char *)p->ev.data.scalar.value;
}

static int dup_scalar(struct yp *p, char **out)
{
    size_t n = p->ev.data.scalar.length;
    *out = tsc_malloc(n + 1);
    if (*out == NULL)
        return nomem(p);
    memcpy(*out, p->ev.data.scalar.value, n);
    (*out)[n] = '\0';
    return 0;
}

/* A scalar that must be a name (tsc_suite_check_name), copied to *out. */
static int want_name(struct yp *p, const char *what, char **out)
{
    char why[TSC_ERRMSG_SIZE];
    int rc = want_scalar(p, what, "a name", (size_t)-1);
    if (rc == 0 && tsc_suite_check_name(sval(p), why) != 0)
        rc = fail(p, TSC_EINVAL, p->ev.start_mark, "bad %s: %s", what, why);
    return rc != 0 ? rc : dup_scalar(p, out);
}

/* Make room for one more element of an array grown by doubling. */
static int grow(struct yp *p, void **v, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : 8;
    void *q = tsc_realloc(*v, c * size);
    if (q == NULL)
        return nomem(p);
    *v = q;
    *cap = c;
    return 0;
}

/* Advance to the next key of a map (*end set at the map's end instead).
 * Keys must be strings without NUL bytes, so C string functions see all of
 * them. */
static int next_key(struct yp *p, int *end)
{
    int rc = next(p);
    if (rc != 0)
        return rc;
    *end = p->ev.type == YAML_MAPPING_END_EVENT;
    if (!*end && p->ev.type != YAML_SCALAR_EVENT)
        return fail(p, TSC_EINVAL, p->ev.start_mark, "expected a key (a string), not %s",
                    kind(&p->ev));
    if (!*end && memchr(sval(p), '\0', p->ev.data.scalar.length) != NULL)
        return fail(p, TSC_EINVAL, p->ev.start_mark, "a key contains a NUL byte");
    return 0;
}

/* Index of the current key in keys[], or an "unknown key" error; a second
 * occurrence is an error that points at the first. */
static int known_key(struct yp *p, const char *const *keys, int n, yaml_mark_t *marks,
                     unsigned *seen, int *idx)
{
    char shown[SHOW], list[160] = "";
    for (int i = 0; i < n; i++) {
        if (strlen(keys[i]) == p->ev.data.scalar.length && strcmp(sval(p), keys[i]) == 0) {
            if (*seen & (1u << i))
                return fail(p, TSC_EINVAL, p->ev.start_mark,
                            "duplicate key '%s' (first at %zu:%zu)", keys[i], marks[i].line + 1,
                            marks[i].column + 1);
            *seen |= 1u << i;
            marks[i] = p->ev.start_mark;
            *idx = i;
            return 0;
        }
    }
    for (int i = 0; i < n; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", keys[i]);
    }
    return fail(p, TSC_EINVAL, p->ev.start_mark, "unknown key '%s'; expected one of %s",
                show(shown, sval(p), p->ev.data.scalar.length), list);
}

/* ---- values ---------------------------------------------------------------- */

/* "30" (seconds), "500ms", "30s", "2m", "1h". */
static int parse_timeout(struct yp *p, const char *what, uint64_t *ms)
{
    char shown[SHOW];
    int rc = next(p);
    if (rc == 0)
        rc = want_scalar(p, what, "a duration (30s, 500ms, 2m, 1h)", 64);
    if (rc != 0)
        return rc;
    const char *v = sval(p);
    size_t n = p->ev.data.scalar.length, i = 0;
    uint64_t x = 0;
    while (i < n && i < 13 && v[i] >= '0' && v[i] <= '9')
        x = 10 * x + (uint64_t)(v[i++] - '0');
    const char *unit = v + i;
    uint64_t mul = 0;
    if (i > 0 && i < 13) {
        if (*unit == '\0' || strcmp(unit, "s") == 0)
            mul = 1000;
        else if (strcmp(unit, "ms") == 0)
            mul = 1;
        else if (strcmp(unit, "m") == 0)
            mul = 60000;
        else if (strcmp(unit, "h") == 0)
            mul = 3600000;
    }
    if (mul == 0 || x == 0)
        return fail(p, TSC_EINVAL, p->ev.start_mark,
                    "bad %s '%s'; expected a positive whole number of seconds or one with a "
                    "unit: 500ms, 30s, 2m, 1h",
                    what, show(shown, v, n));
    if (x * mul > TSC_SUITE_MAX_TIMEOUT_MS)
        return fail(p, TSC_ETOOBIG, p->ev.start_mark, "%s '%s' is over the limit of 7 days", what,
                    show(shown, v, n));
    *ms = x * mul;
    return 0;
}

/* dir/rel into out; 0, or -1 when it does not fit. */
static int join(char *out, size_t size, const char *dir, const char *rel)
{
    int n;
    if (rel[0] == '/' || dir[0] == '\0')
        n = snprintf(out, size, "%s", rel);
    else if (dir[strlen(dir) - 1] == '/')
        n = snprintf(out, size, "%s%s", dir, rel);
    else
        n = snprintf(out, size, "%s/%s", dir, rel);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Read a whole file of at most max bytes into *out (NUL-terminated). */
static int read_file(const char *path, size_t max, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return TSC_EIO;
    size_t cap = 4096, n = 0;
    char *b = tsc_malloc(cap + 1);
    int rc = b ? 0 : TSC_ENOMEM;
    while (rc == 0) {
        if (n == cap) {
            if (cap > max) {
                rc = TSC_ETOOBIG;
                break;
            }
            char *q = tsc_realloc(b, 2 * cap + 1);
            if (q == NULL) {
                rc = TSC_ENOMEM;
                break;
            }
            b = q;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            rc = ferror(f) ? TSC_EIO : 0;
            break;
        }
    }
    int saved = errno;
    fclose(f);
    errno = saved;
    if (rc == 0 && n > max)
        rc = TSC_ETOOBIG;
    if (rc != 0) {
        tsc_free(b);
        return rc;
    }
    b[n] = '\0';
    *out = b;
    *len = n;
    return 0;
}

/* {file: PATH}: the current event is the map's start. */
static int parse_file_ref(struct yp *p, char **text, char **resolved, yaml_mark_t *mark)
{
    static const char *const keys[] = {"file"};
    yaml_mark_t marks[1], start = p->ev.start_mark;
    unsigned seen = 0;
    int end, idx, rc;
    char path[4096];
    while ((rc = next_key(p, &end)) == 0 && !end) {
        if ((rc = known_key(p, keys, 1, marks, &seen, &idx)) != 0 || (rc = next(p)) != 0 ||
            (rc = want_scalar(p, "'file'", "a path", sizeof path - 1)) != 0)
            return rc;
        *mark = p->ev.start_mark;
        if (p->base_dir == NULL)
            return fail(p, TSC_EINVAL, *mark,
                        "scripts by path need a suite file to be "
                        "relative to");
        if (join(path, sizeof path, p->base_dir, sval(p)) != 0)
            return fail(p, TSC_ETOOBIG, *mark, "the script's path is longer than %zu bytes",
                        sizeof path - 1);
    }
    if (rc != 0)
        return rc;
    if (!seen)
        return fail(p, TSC_EINVAL, start, "expected {file: PATH}");
    size_t len;
    rc = read_file(path, TSC_SUITE_MAX_SCRIPT, text, &len);
    if (rc == TSC_ENOMEM)
        return nomem(p);
    if (rc == TSC_ETOOBIG)
        return fail(p, rc, *mark, "script file '%s' is over the limit of %u bytes", path,
                    TSC_SUITE_MAX_SCRIPT);
    if (rc != 0)
        return fail(p, rc, *mark, "cannot read script file '%s': %s", path, strerror(errno));
    if (strlen(*text) != len) {
        tsc_free(*text);
        return fail(p, TSC_EINVAL, *mark, "script file '%s' contains a NUL byte", path);
    }
    *resolved = tsc_malloc(strlen(path) + 1);
    if (*resolved == NULL) {
        tsc_free(*text);
        return nomem(p);
    }
    strcpy(*resolved, path);
    return 0;
}

/* Append a script for role to st (taking role), remembering where it came
 * from. The current event is its value: a scalar or {file: PATH}. */
static int add_script(struct yp *p, struct tsc_suite_stage *st, char *role, const char *what,
                      int32_t case_i, int stage)
{
    struct loc l = {.case_i = case_i, .stage = stage, .script = st->n_scripts};
    char *text = NULL;
    struct tsc_suite_script *v = NULL;
    int rc = grow(p, (void **)&p->locs, p->n_locs, &p->cap_locs, sizeof *p->locs);
    if (rc == 0 && (v = tsc_realloc(st->scripts, (st->n_scripts + 1) * sizeof *v)) == NULL)
        rc = nomem(p);
    if (rc == 0) {
        st->scripts = v;
        if (p->ev.type == YAML_MAPPING_START_EVENT) {
            rc = parse_file_ref(p, &text, &l.file, &l.mark);
        } else {
            l.mark = p->ev.start_mark;
            l.style = p->ev.type == YAML_SCALAR_EVENT ? p->ev.data.scalar.style : 0;
            rc = want_scalar(p, what, "a string or {file: PATH}", TSC_SUITE_MAX_SCRIPT);
            if (rc == 0)
                rc = dup_scalar(p, &text);
        }
    }
    if (rc != 0) {
        tsc_free(role);
        return rc;
    }
    st->scripts[st->n_scripts++] = (struct tsc_suite_script){.role = role, .text = text};
    p->locs[p->n_locs++] = l;
    return 0;
}

/* STAGE: a script for every role, or {ROLE|all: SCRIPT..., timeout: T}. */
static int parse_stage(struct yp *p, const char *what, struct tsc_suite_stage *st, int32_t case_i,
                       int stage)
{
    char shown[SHOW], why[TSC_ERRMSG_SIZE], script_what[SHOW + 32];
    yaml_mark_t marks[TSC_SUITE_MAX_SCRIPTS], tmark = {0};
    int end, have_timeout = 0, rc = next(p);
    if (rc != 0)
        return rc;
    if (p->ev.type != YAML_MAPPING_START_EVENT) {
        if (p->ev.type != YAML_SCALAR_EVENT || is_null(&p->ev))
            return fail(p, TSC_EINVAL, p->ev.start_mark,
                        "%s must be a script or a map of role: script, not %s", what, kind(&p->ev));
        char *all = tsc_calloc(1, 1);
        return all ? add_script(p, st, all, what, case_i, stage) : nomem(p);
    }
    while ((rc = next_key(p, &end)) == 0 && !end) {
        const char *k = sval(p);
        size_t klen = p->ev.data.scalar.length;
        yaml_mark_t m = p->ev.start_mark;
        if (klen == 7 && strcmp(k, "timeout") == 0) {
            if (have_timeout)
                return fail(p, TSC_EINVAL, m, "duplicate key 'timeout' (first at %zu:%zu)",
                            tmark.line + 1, tmark.column + 1);
            have_timeout = 1;
            tmark = m;
            if ((rc = parse_timeout(p, "timeout", &st->timeout_ms)) != 0)
                return rc;
            continue;
        }
        int is_all = klen == 3 && strcmp(k, "all") == 0;
        /* {file: PATH} as a whole stage would silently be a script "PATH"
         * for a role named "file". */
        if (klen == 4 && strcmp(k, "file") == 0)
            return fail(p, TSC_EINVAL, m,
                        "'file' is not a role; for one script file for every role write "
                        "'all: {file: PATH}'");
        if (!is_all && tsc_suite_check_name(k, why) != 0)
            return fail(p, TSC_EINVAL, m, "bad role '%s' in %s: %s", show(shown, k, klen), what,
                        why);
        for (size_t i = 0; i < st->n_scripts; i++)
            if (strcmp(st->scripts[i].role, is_all ? "" : k) == 0)
                return fail(p, TSC_EINVAL, m, "duplicate key '%s' (first at %zu:%zu)", k,
                            marks[i].line + 1, marks[i].column + 1);
        if (st->n_scripts == TSC_SUITE_MAX_SCRIPTS)
            return fail(p, TSC_ETOOBIG, m, "more than %d scripts in %s", TSC_SUITE_MAX_SCRIPTS,
                        what);
        marks[st->n_scripts] = m;
        snprintf(script_what, sizeof script_what, "the script for '%s'", k);
        char *role = NULL;
        if (is_all ? (role = tsc_calloc(1, 1)) == NULL : dup_scalar(p, &role) != 0)
            return nomem(p);
        if ((rc = next(p)) != 0) {
            tsc_free(role);
            return rc;
        }
        if ((rc = add_script(p, st, role, script_what, case_i, stage)) != 0)
            return rc;
    }
    return rc;
}

/* A list of names into *v (machines: names: or roles:). */
static int parse_select(struct yp *p, int which)
{
    const char *what = which == 0 ? "machine name" : "machine role";
    char ***v = which == 0 ? &p->s->names : &p->s->roles;
    size_t *n = which == 0 ? &p->s->n_names : &p->s->n_roles;
    size_t *cap = which == 0 ? &p->cap_names : &p->cap_roles;
    yaml_mark_t *marks = p->select_marks[which];
    int rc = next(p);
    if (rc != 0)
        return rc;
    if (p->ev.type != YAML_SEQUENCE_START_EVENT)
        return fail(p, TSC_EINVAL, p->ev.start_mark, "'%s' must be a list of names, not %s",
                    which == 0 ? "names" : "roles", kind(&p->ev));
    while ((rc = next(p)) == 0 && p->ev.type != YAML_SEQUENCE_END_EVENT) {
        char *name;
        if (p->s->n_names + p->s->n_roles == TSC_SUITE_MAX_SELECT)
            return fail(p, TSC_ETOOBIG, p->ev.start_mark, "more than %d machine names and roles",
                        TSC_SUITE_MAX_SELECT);
        if ((rc = want_name(p, what, &name)) != 0)
            return rc;
        for (size_t i = 0; i < *n; i++) {
            if (strcmp((*v)[i], name) == 0) {
                tsc_free(name);
                return fail(p, TSC_EINVAL, p->ev.start_mark,
                            "%s '%s' appears twice (first at %zu:%zu)", what, (*v)[i],
                            marks[i].line + 1, marks[i].column + 1);
            }
        }
        if ((rc = grow(p, (void **)v, *n, cap, sizeof **v)) != 0) {
            tsc_free(name);
            return rc;
        }
        marks[*n] = p->ev.start_mark;
        (*v)[(*n)++] = name;
    }
    return rc;
}

static int parse_machines(struct yp *p)
{
    static const char *const keys[] = {"names", "roles"};
    yaml_mark_t marks[2];
    unsigned seen = 0;
    int end, idx, rc = next(p);
    if (rc != 0)
        return rc;
    if (p->ev.type != YAML_MAPPING_START_EVENT)
        return fail(p, TSC_EINVAL, p->ev.start_mark,
                    "'machines' must be a map (names:, roles:), not %s", kind(&p->ev));
    while ((rc = next_key(p, &end)) == 0 && !end)
        if ((rc = known_key(p, keys, 2, marks, &seen, &idx)) != 0 ||
            (rc = parse_select(p, idx)) != 0)
            return rc;
    return rc;
}

static int parse_vars(struct yp *p)
{
    struct tsc_suite *s = p->s;
    char shown[SHOW], what[SHOW + 16];
    int end, rc = next(p);
    if (rc != 0)
        return rc;
    if (p->ev.type != YAML_MAPPING_START_EVENT)
        return fail(p, TSC_EINVAL, p->ev.start_mark, "'vars' must be a map of name: value, not %s",
                    kind(&p->ev));
    while ((rc = next_key(p, &end)) == 0 && !end) {
        yaml_mark_t m = p->ev.start_mark;
        char *name = NULL, *value = NULL;
        if (s->n_vars == TSC_SUITE_MAX_VARS)
            return fail(p, TSC_ETOOBIG, m, "more than %d variables", TSC_SUITE_MAX_VARS);
        if ((rc = want_name(p, "variable name", &name)) != 0)
            return rc;
        snprintf(what, sizeof what, "variable '%s'", show(shown, name, strlen(name)));
        if (strncmp(name, "tsc.", 4) == 0)
            rc = fail(p, TSC_EINVAL, m, "%s: names tsc.* are reserved for tsc's values", what);
        for (size_t i = 0; rc == 0 && i < s->n_vars; i++)
            if (strcmp(s->vars[i].name, name) == 0)
                rc = fail(p, TSC_EINVAL, m, "duplicate key '%s' (first at %zu:%zu)", name,
                          p->var_marks[i].line + 1, p->var_marks[i].column + 1);
        if (rc == 0 && (rc = next(p)) == 0 &&
            (rc = want_scalar(p, what, "a string, number or boolean", TSC_SUITE_MAX_VALUE)) == 0)
            rc = dup_scalar(p, &value);
        if (rc == 0)
            rc = grow(p, (void **)&s->vars, s->n_vars, &p->cap_vars, sizeof *s->vars);
        if (rc != 0) {
            tsc_free(name);
            tsc_free(value);
            return rc;
        }
        p->var_marks[s->n_vars] = m;
        s->vars[s->n_vars++] = (struct tsc_suite_var){.name = name, .value = value};
    }
    return rc;
}

static const char *const stage_names[3] = {"init", "run", "finalize"};

static int parse_case(struct yp *p)
{
    static const char *const keys[] = {"name", "init", "run", "finalize"};
    struct tsc_suite *s = p->s;
    yaml_mark_t marks[4], start = p->ev.start_mark;
    char what[TSC_SUITE_MAX_NAME + 32];
    unsigned seen = 0;
    int end, idx, rc;
    if (p->ev.type != YAML_MAPPING_START_EVENT)
        return fail(p, TSC_EINVAL, start,
                    "each case must be a map (name:, init:, run:, finalize:), not %s",
                    kind(&p->ev));
    if (s->n_cases == TSC_SUITE_MAX_CASES)
        return fail(p, TSC_ETOOBIG, start, "more than %d cases", TSC_SUITE_MAX_CASES);
    if ((rc = grow(p, (void **)&s->cases, s->n_cases, &p->cap_cases, sizeof *s->cases)) != 0)
        return rc;
    size_t ci = s->n_cases++;
    struct tsc_suite_case *c = &s->cases[ci];
    memset(c, 0, sizeof *c);
    while ((rc = next_key(p, &end)) == 0 && !end) {
        if ((rc = known_key(p, keys, 4, marks, &seen, &idx)) != 0)
            return rc;
        if (idx > 0) {
            if (c->name != NULL)
                snprintf(what, sizeof what, "%s of case '%s'", stage_names[idx - 1], c->name);
            else
                snprintf(what, sizeof what, "%s of case %zu", stage_names[idx - 1], ci + 1);
            if ((rc = parse_stage(p, what, &c->stage[idx - 1], (int32_t)ci, idx - 1)) != 0)
                return rc;
            continue;
        }
        if ((rc = next(p)) != 0 || (rc = want_name(p, "case name", &c->name)) != 0)
            return rc;
        for (size_t i = 0; i < ci; i++)
            if (strcmp(s->cases[i].name, c->name) == 0)
                return fail(p, TSC_EINVAL, p->ev.start_mark,
                            "duplicate case name '%s' (first at %zu:%zu)", c->name,
                            p->case_marks[i].line + 1, p->case_marks[i].column + 1);
        p->case_marks[ci] = p->ev.start_mark;
    }
    if (rc == 0 && c->name == NULL)
        return fail(p, TSC_EINVAL, start, "case without 'name:'");
    return rc;
}

static int parse_cases(struct yp *p)
{
    int rc = next(p);
    if (rc != 0)
        return rc;
    if (p->ev.type != YAML_SEQUENCE_START_EVENT)
        return fail(p, TSC_EINVAL, p->ev.start_mark, "'cases' must be a list of cases, not %s",
                    kind(&p->ev));
    while ((rc = next(p)) == 0 && p->ev.type != YAML_SEQUENCE_END_EVENT)
        if ((rc = parse_case(p)) != 0)
            return rc;
    return rc;
}

enum { T_SUITE, T_MACHINES, T_VARS, T_TIMEOUT, T_INIT, T_CASES, T_FINALIZE, T_N };

static int parse_top(struct yp *p)
{
    static const char *const keys[T_N] = {"suite", "machines", "vars",    "timeout",
                                          "init",  "cases",    "finalize"};
    struct tsc_suite *s = p->s;
    yaml_mark_t marks[T_N], start = p->ev.start_mark;
    unsigned seen = 0;
    int end, idx, rc;
    if (p->ev.type != YAML_MAPPING_START_EVENT)
        return fail(p, TSC_EINVAL, start,
                    "a suite file must be a map (suite:, cases:, ...), not %s", kind(&p->ev));
    while ((rc = next_key(p, &end)) == 0 && !end) {
        if ((rc = known_key(p, keys, T_N, marks, &seen, &idx)) != 0)
            return rc;
        switch (idx) {
        case T_SUITE:
            rc = next(p);
            if (rc == 0)
                rc = want_name(p, "suite name", &s->name);
            break;
        case T_MACHINES:
            rc = parse_machines(p);
            break;
        case T_VARS:
            rc = parse_vars(p);
            break;
        case T_TIMEOUT:
            rc = parse_timeout(p, "timeout", &s->timeout_ms);
            break;
        case T_INIT:
            rc = parse_stage(p, "suite init", &s->init, -1, 0);
            break;
        case T_CASES:
            rc = parse_cases(p);
            break;
        default:
            rc = parse_stage(p, "suite finalize", &s->finalize, -2, 0);
            break;
        }
        if (rc != 0)
            return rc;
    }
    if (rc == 0 && s->name == NULL)
        return fail(p, TSC_EINVAL, start, "missing 'suite: NAME'");
    return rc;
}

/* ---- placeholders ----------------------------------------------------------- */

struct unknown {
    const struct tsc_suite *s;
    size_t offset;
    const char *name;
    size_t name_len;
};

static int visit(void *ctx, const char *name, size_t name_len, size_t offset)
{
    struct unknown *u = ctx;
    if (tsc_template_is_builtin(name, name_len))
        return 0;
    for (size_t i = 0; i < u->s->n_vars; i++)
        if (strlen(u->s->vars[i].name) == name_len && !memcmp(u->s->vars[i].name, name, name_len))
            return 0;
    u->offset = offset;
    u->name = name;
    u->name_len = name_len;
    return TSC_ENOTFOUND;
}

static int check_placeholders(struct yp *p)
{
    char why[TSC_ERRMSG_SIZE];
    for (size_t i = 0; i < p->n_locs; i++) {
        const struct loc *l = &p->locs[i];
        const struct tsc_suite_stage *st = l->case_i == -1 ? &p->s->init
                                           : l->case_i == -2
                                               ? &p->s->finalize
                                               : &p->s->cases[l->case_i].stage[l->stage];
        const char *text = st->scripts[l->script].text;
        struct unknown u = {.s = p->s};
        int rc = tsc_template_scan(text, strlen(text), visit, &u, &u.offset, why);
        if (rc == 0)
            continue;
        if (rc == TSC_ENOTFOUND)
            snprintf(why, sizeof why, "unknown variable '%.*s'", (int)u.name_len, u.name);
        size_t line = 0, col = 0;
        if (l->file != NULL) {
            locate(text, strlen(text), 0, u.offset, &line, &col);
            tsc_errmsg_setf(p->errmsg, "%s:%zu:%zu: %s", l->file, line + 1, col + 1, why);
        } else {
            inline_pos(p, l, text, u.offset, &line, &col);
            tsc_errmsg_setf(p->errmsg, "%s:%zu:%zu: %s", p->name, line + 1, col + 1, why);
        }
        return TSC_EINVAL;
    }
    return 0;
}

/* ---- entry points ------------------------------------------------------------ */

static int parse_stream(struct yp *p)
{
    int rc = next(p); /* stream start */
    if (rc == 0)
        rc = next(p);
    if (rc == 0 && p->ev.type == YAML_STREAM_END_EVENT)
        return fail(p, TSC_EINVAL, p->ev.start_mark,
                    "empty suite file; expected a map with 'suite: NAME'");
    if (rc == 0)
        rc = next(p); /* the document's root */
    if (rc == 0)
        rc = parse_top(p);
    if (rc == 0)
        rc = next(p); /* document end */
    if (rc == 0)
        rc = next(p);
    if (rc == 0 && p->ev.type != YAML_STREAM_END_EVENT)
        return fail(p, TSC_EINVAL, p->ev.start_mark,
                    "a second YAML document; a suite file holds one");
    if (rc == 0)
        rc = check_placeholders(p);
    return rc;
}

/* The checks of the compiled form repeat the ones above, and the encoded size
 * is only known by encoding: do both, so a loaded suite is a submittable one. */
static int final_checks(struct yp *p)
{
    char why[TSC_ERRMSG_SIZE];
    struct tsc_buf b;
    int rc = tsc_suite_check(p->s, why);
    if (rc != 0) {
        tsc_errmsg_setf(p->errmsg, "%s:1:1: %s", p->name, why);
        return rc;
    }
    tsc_buf_init(&b);
    rc = tsc_suite_encode(p->s, &b, why);
    tsc_buf_free(&b);
    if (rc == TSC_ENOMEM)
        return nomem(p);
    if (rc != 0) {
        tsc_errmsg_setf(p->errmsg, "%s:1:1: %s", p->name, why);
        return TSC_ETOOBIG;
    }
    return 0;
}

int tsc_suite_parse(const char *name, const char *text, size_t len, const char *base_dir,
                    struct tsc_suite *s, char *errmsg)
{
    memset(s, 0, sizeof *s);
    if (name == NULL)
        name = "<suite>";
    if (text == NULL) {
        text = "";
        len = 0;
    }
    if (len > MAX_FILE) {
        tsc_errmsg_setf(errmsg, "%s:1:1: the suite file is over the limit of %u bytes", name,
                        MAX_FILE);
        return TSC_ETOOBIG;
    }
    struct yp *p = tsc_calloc(1, sizeof *p);
    if (p == NULL) {
        tsc_errmsg_setf(errmsg, "%s: out of memory", name);
        return TSC_ENOMEM;
    }
    *p = (struct yp){
        .name = name, .src = text, .len = len, .base_dir = base_dir, .s = s, .errmsg = errmsg};
    int rc;
    if (!yaml_parser_initialize(&p->parser)) {
        rc = nomem(p);
    } else {
        /* UTF-8 only: positions are computed on the bytes we were given. */
        yaml_parser_set_encoding(&p->parser, YAML_UTF8_ENCODING);
        yaml_parser_set_input_string(&p->parser, (const unsigned char *)text, len);
        rc = parse_stream(p);
        if (rc == 0)
            rc = final_checks(p);
        if (p->have_ev)
            yaml_event_delete(&p->ev);
        yaml_parser_delete(&p->parser);
    }
    for (size_t i = 0; i < p->n_locs; i++)
        tsc_free(p->locs[i].file);
    tsc_free(p->locs);
    tsc_free(p);
    if (rc != 0)
        tsc_suite_free(s);
    return rc;
}

int tsc_suite_load(const char *path, struct tsc_suite *s, char *errmsg)
{
    char *text, *dir;
    size_t len;
    memset(s, 0, sizeof *s);
    int rc = read_file(path, MAX_FILE, &text, &len);
    if (rc == TSC_ETOOBIG) {
        tsc_errmsg_setf(errmsg, "%s:1:1: the suite file is over the limit of %u bytes", path,
                        MAX_FILE);
        return rc;
    }
    if (rc != 0) {
        tsc_errmsg_setf(errmsg, "%s: %s", path,
                        rc == TSC_ENOMEM ? "out of memory" : strerror(errno));
        return rc;
    }
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    dir = tsc_malloc(n + 1);
    if (dir == NULL) {
        tsc_free(text);
        tsc_errmsg_setf(errmsg, "%s: out of memory", path);
        return TSC_ENOMEM;
    }
    memcpy(dir, path, n);
    dir[n] = '\0';
    rc = tsc_suite_parse(path, text, len, dir, s, errmsg);
    tsc_free(dir);
    tsc_free(text);
    return rc;
}
