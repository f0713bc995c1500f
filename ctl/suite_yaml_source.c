/* tsc — the suite parser's source text (ctl/suite_yaml_int.h): reading it
 * from files (the suite file, script files), turning byte offsets and libyaml
 * marks into line:column, and the placeholder check, whose errors need those
 * positions.
 *
 * Placeholders are checked after the whole file is read (vars: may come after
 * the scripts); each script remembers where it came from (struct tsc__yloc)
 * so the error can point at the placeholder itself: in a script file, or in
 * the YAML source at the scalar that holds the script. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/template.h"
#include "ctl/suite_yaml_int.h"

/* ---- files ----------------------------------------------------------------- */

/* dir/rel into out; 0, or -1 when it does not fit. */
int tsc__yaml_join(char *out, size_t size, const char *dir, const char *rel)
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
int tsc__yaml_read_file(const char *path, size_t max, char **out, size_t *len)
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
void tsc__yaml_locate(const char *src, size_t len, size_t from, size_t to, size_t *line,
                      size_t *col)
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
static void inline_pos(const struct tsc__yp *p, const struct tsc__yloc *l, const char *text,
                       size_t offset, size_t *line, size_t *col)
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
                tsc__yaml_locate(p->src, p->len, start, i, &ln, &c);
                *line = ln;
                *col = c;
                return;
            }
            k--;
            i++;
        }
    }
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

int tsc__yaml_check_placeholders(struct tsc__yp *p)
{
    char why[TSC_ERRMSG_SIZE];
    for (size_t i = 0; i < p->n_locs; i++) {
        const struct tsc__yloc *l = &p->locs[i];
        const struct tsc_suite_stage *st = l->case_i == -1   ? &p->s->init
                                           : l->case_i == -2 ? &p->s->finalize
                                           : l->case_i == -3
                                               ? &p->s->follow
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
            tsc__yaml_locate(text, strlen(text), 0, u.offset, &line, &col);
            tsc_errmsg_setf(p->errmsg, "%s:%zu:%zu: %s", l->file, line + 1, col + 1, why);
        } else {
            inline_pos(p, l, text, u.offset, &line, &col);
            tsc_errmsg_setf(p->errmsg, "%s:%zu:%zu: %s", p->name, line + 1, col + 1, why);
        }
        return TSC_EINVAL;
    }
    return 0;
}
