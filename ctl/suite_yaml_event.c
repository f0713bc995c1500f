/* tsc — the suite file parser's reading of libyaml events, and its messages
 * (ctl/suite_yaml_int.h). Every error is "NAME:LINE:COL: message" at the
 * event that caused it; what the schema never uses (aliases, anchors, tags)
 * is refused as it arrives. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "common/alloc.h"
#include "ctl/suite_yaml_int.h"

/* ---- messages ------------------------------------------------------------- */

const char *tsc__yaml_show(char out[TSC__YAML_SHOW], const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= TSC__YAML_SHOW) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c != 0x7f && c != '\\') {
            out[o++] = (char)c; /* UTF-8 passes through */
        } else {
            snprintf(out + o, TSC__YAML_SHOW - o, "\\x%02x", c);
            o += 4;
        }
    }
    out[o] = '\0';
    return out;
}

static int failv(struct tsc__yp *p, int rc, size_t line, size_t col, const char *fmt, va_list ap)
{
    char msg[TSC_ERRMSG_SIZE];
    vsnprintf(msg, sizeof msg, fmt, ap);
    tsc_errmsg_setf(p->errmsg, "%s:%zu:%zu: %s", p->name, line + 1, col + 1, msg);
    return rc;
}

/* Set "NAME:LINE:COL: message" from a 0-based libyaml mark; returns rc. */
int tsc__yaml_fail(struct tsc__yp *p, int rc, yaml_mark_t m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    failv(p, rc, m.line, m.column, fmt, ap);
    va_end(ap);
    return rc;
}

int tsc__yaml_nomem(struct tsc__yp *p)
{
    tsc_errmsg_setf(p->errmsg, "%s: out of memory", p->name);
    return TSC_ENOMEM;
}

/* ---- events --------------------------------------------------------------- */

static int syntax_error(struct tsc__yp *p)
{
    yaml_parser_t *y = &p->parser;
    const char *problem = y->problem ? y->problem : "YAML syntax error";
    if (y->error == YAML_MEMORY_ERROR)
        return tsc__yaml_nomem(p);
    if (y->error == YAML_READER_ERROR) {
        size_t line = 0, col = 0;
        tsc__yaml_locate(p->src, p->len, 0, y->problem_offset, &line, &col);
        tsc_errmsg_setf(p->errmsg, "%s:%zu:%zu: %s", p->name, line + 1, col + 1, problem);
        return TSC_EINVAL;
    }
    if (y->context != NULL)
        return tsc__yaml_fail(p, TSC_EINVAL, y->problem_mark, "%s (%s at %zu:%zu)", problem,
                              y->context, y->context_mark.line + 1, y->context_mark.column + 1);
    return tsc__yaml_fail(p, TSC_EINVAL, y->problem_mark, "%s", problem);
}

/* Fetch the next event into p->ev, refusing what the schema has no use for. */
int tsc__yaml_next(struct tsc__yp *p)
{
    char shown[TSC__YAML_SHOW];
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
        return tsc__yaml_fail(
            p, TSC_EINVAL, p->ev.start_mark, "aliases (*%s) are not supported",
            tsc__yaml_show(shown, (const char *)anchor, strlen((const char *)anchor)));
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
        return tsc__yaml_fail(
            p, TSC_EINVAL, p->ev.start_mark, "anchors (&%s) are not supported",
            tsc__yaml_show(shown, (const char *)anchor, strlen((const char *)anchor)));
    if (tag != NULL)
        return tsc__yaml_fail(p, TSC_EINVAL, p->ev.start_mark, "tags (%s) are not supported",
                              tsc__yaml_show(shown, (const char *)tag, strlen((const char *)tag)));
    return 0;
}

int tsc__yaml_is_null(const yaml_event_t *e)
{
    if (e->type != YAML_SCALAR_EVENT || e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *)e->data.scalar.value;
    size_t n = e->data.scalar.length;
    return n == 0 || (n == 1 && v[0] == '~') ||
           (n == 4 && (!memcmp(v, "null", 4) || !memcmp(v, "Null", 4) || !memcmp(v, "NULL", 4)));
}

const char *tsc__yaml_kind(const yaml_event_t *e)
{
    switch (e->type) {
    case YAML_MAPPING_START_EVENT:
        return "a map";
    case YAML_SEQUENCE_START_EVENT:
        return "a list";
    case YAML_SCALAR_EVENT:
        return tsc__yaml_is_null(e) ? "empty (null)" : "a string";
    default:
        return "nothing";
    }
}

/* The current event must be a non-null scalar of at most max bytes. */
int tsc__yaml_want_scalar(struct tsc__yp *p, const char *what, const char *expected, size_t max)
{
    const yaml_event_t *e = &p->ev;
    if (e->type != YAML_SCALAR_EVENT || tsc__yaml_is_null(e))
        return tsc__yaml_fail(p, TSC_EINVAL, e->start_mark, "%s must be %s, not %s", what, expected,
                              tsc__yaml_kind(e));
    if (e->data.scalar.length > max)
        return tsc__yaml_fail(p, TSC_ETOOBIG, e->start_mark, "%s is over the limit of %zu bytes",
                              what, max);
    if (memchr(e->data.scalar.value, '\0', e->data.scalar.length) != NULL)
        return tsc__yaml_fail(p, TSC_EINVAL, e->start_mark, "%s contains a NUL byte", what);
    return 0;
}

const char *tsc__yaml_sval(const struct tsc__yp *p)
{
    return (const char *)p->ev.data.scalar.value;
}

int tsc__yaml_dup_scalar(struct tsc__yp *p, char **out)
{
    size_t n = p->ev.data.scalar.length;
    *out = tsc_malloc(n + 1);
    if (*out == NULL)
        return tsc__yaml_nomem(p);
    memcpy(*out, p->ev.data.scalar.value, n);
    (*out)[n] = '\0';
    return 0;
}

/* A scalar that must be a name (tsc_suite_check_name), copied to *out. */
int tsc__yaml_want_name(struct tsc__yp *p, const char *what, char **out)
{
    char why[TSC_ERRMSG_SIZE];
    int rc = tsc__yaml_want_scalar(p, what, "a name", (size_t)-1);
    if (rc == 0 && tsc_suite_check_name(tsc__yaml_sval(p), why) != 0)
        rc = tsc__yaml_fail(p, TSC_EINVAL, p->ev.start_mark, "bad %s: %s", what, why);
    return rc != 0 ? rc : tsc__yaml_dup_scalar(p, out);
}

/* Make room for one more element of an array grown by doubling. */
int tsc__yaml_grow(struct tsc__yp *p, void **v, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : 8;
    void *q = tsc_realloc(*v, c * size);
    if (q == NULL)
        return tsc__yaml_nomem(p);
    *v = q;
    *cap = c;
    return 0;
}

/* Advance to the next key of a map (*end set at the map's end instead).
 * Keys must be strings without NUL bytes, so C string functions see all of
 * them. */
int tsc__yaml_next_key(struct tsc__yp *p, int *end)
{
    int rc = tsc__yaml_next(p);
    if (rc != 0)
        return rc;
    *end = p->ev.type == YAML_MAPPING_END_EVENT;
    if (!*end && p->ev.type != YAML_SCALAR_EVENT)
        return tsc__yaml_fail(p, TSC_EINVAL, p->ev.start_mark, "expected a key (a string), not %s",
                              tsc__yaml_kind(&p->ev));
    if (!*end && memchr(tsc__yaml_sval(p), '\0', p->ev.data.scalar.length) != NULL)
        return tsc__yaml_fail(p, TSC_EINVAL, p->ev.start_mark, "a key contains a NUL byte");
    return 0;
}

/* Index of the current key in keys[], or an "unknown key" error; a second
 * occurrence is an error that points at the first. */
int tsc__yaml_known_key(struct tsc__yp *p, const char *const *keys, int n, yaml_mark_t *marks,
                        unsigned *seen, int *idx)
{
    char shown[TSC__YAML_SHOW], list[160] = "";
    for (int i = 0; i < n; i++) {
        if (strlen(keys[i]) == p->ev.data.scalar.length &&
            strcmp(tsc__yaml_sval(p), keys[i]) == 0) {
            if (*seen & (1u << i))
                return tsc__yaml_fail(p, TSC_EINVAL, p->ev.start_mark,
                                      "duplicate key '%s' (first at %zu:%zu)", keys[i],
                                      marks[i].line + 1, marks[i].column + 1);
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
    return tsc__yaml_fail(p, TSC_EINVAL, p->ev.start_mark, "unknown key '%s'; expected one of %s",
                          tsc__yaml_show(shown, tsc__yaml_sval(p), p->ev.data.scalar.length), list);
}
