/* tsc — script templates (see template.h for the syntax and the values).
 *
 * One scanner finds placeholders for both tsc_template_scan (which the suite
 * checks use to find unknown names before anything runs) and
 * tsc_template_render (which the coordinator uses when a stage starts), so the
 * two can never disagree about what is a placeholder. */
#include "common/template.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"

const char *const tsc_template_builtins[] = {
    "tsc.name", "tsc.address", "tsc.role",     "tsc.index", "tsc.count",
    "tsc.run",  "tsc.stage",   "tsc.machines", "tsc.case",  "tsc.open",
};
const size_t tsc_template_n_builtins = sizeof tsc_template_builtins / sizeof *tsc_template_builtins;

static int name_eq(const char *a, size_t a_len, const char *lit)
{
    return strlen(lit) == a_len && memcmp(a, lit, a_len) == 0;
}

int tsc_template_is_builtin(const char *name, size_t len)
{
    for (size_t i = 0; i < tsc_template_n_builtins; i++)
        if (name_eq(name, len, tsc_template_builtins[i]))
            return 1;
    return 0;
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* One placeholder found by next_placeholder. */
struct ph {
    size_t start; /* offset of "{{" */
    size_t end;   /* offset just after "}}" */
    const char *name;
    size_t name_len;
};

/* Find the first placeholder at or after *pos. Returns 0 and fills ph, 1 when
 * there is none, or TSC_EMALFORMED with ph->start and errmsg set. A
 * placeholder never spans lines: blanks are spaces and tabs only, so a "{{"
 * without "}}" on its own line is unterminated, whatever follows. */
static int next_placeholder(const char *text, size_t len, size_t pos, struct ph *ph, char *errmsg)
{
    const char *open = NULL;
    for (size_t i = pos; i + 1 < len; i++) {
        if (text[i] == '{' && text[i + 1] == '{') {
            open = text + i;
            break;
        }
    }
    if (open == NULL)
        return 1;
    ph->start = (size_t)(open - text);
    size_t i = ph->start + 2;
    size_t eol = i;
    while (eol < len && text[eol] != '\n')
        eol++;
    size_t close = eol;
    for (size_t j = i; j + 1 < eol; j++) {
        if (text[j] == '}' && text[j + 1] == '}') {
            close = j;
            break;
        }
    }
    if (close == eol) {
        tsc_errmsg_setf(errmsg, "unterminated placeholder (no '}}' on the same line; write "
                                "{{ tsc.open }} for a literal '{{')");
        return TSC_EMALFORMED;
    }
    while (i < close && is_blank(text[i]))
        i++;
    size_t name_start = i;
    while (i < close && is_name_char(text[i]))
        i++;
    size_t name_len = i - name_start;
    while (i < close && is_blank(text[i]))
        i++;
    if (name_len == 0 || i != close) {
        tsc_errmsg_setf(errmsg, "bad placeholder name (expected {{ name }} with a name of "
                                "[A-Za-z0-9_.-]; write {{ tsc.open }} for a literal '{{')");
        return TSC_EMALFORMED;
    }
    if (name_len > TSC_TEMPLATE_MAX_NAME) {
        tsc_errmsg_setf(errmsg, "bad placeholder name (longer than %d bytes)",
                        TSC_TEMPLATE_MAX_NAME);
        return TSC_EMALFORMED;
    }
    ph->name = text + name_start;
    ph->name_len = name_len;
    ph->end = close + 2;
    return 0;
}

int tsc_template_scan(const char *text, size_t len, tsc_template_visit_fn fn, void *ctx,
                      size_t *err_offset, char *errmsg)
{
    size_t pos = 0;
    for (;;) {
        struct ph ph;
        int rc = next_placeholder(text, len, pos, &ph, errmsg);
        if (rc == 1)
            return 0;
        if (rc != 0) {
            if (err_offset != NULL)
                *err_offset = ph.start;
            return rc;
        }
        rc = fn(ctx, ph.name, ph.name_len, ph.start);
        if (rc != 0)
            return rc;
        pos = ph.end;
    }
}

int tsc_template_quote(const char *v, struct tsc_buf *out)
{
    size_t start = out->len;
    int rc = tsc_buf_append(out, "'", 1);
    for (const char *p = v; rc == 0 && *p != '\0';) {
        /* Copy the run up to the next quote in one go; a quote closes the
         * word, adds an escaped quote and reopens it: ' -> '\'' */
        const char *q = strchr(p, '\'');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        rc = tsc_buf_append(out, p, n);
        if (rc == 0 && q != NULL)
            rc = tsc_buf_append(out, "'\\''", 4);
        p += n + (q != NULL);
    }
    if (rc == 0)
        rc = tsc_buf_append(out, "'", 1);
    if (rc != 0)
        out->len = start;
    return rc;
}

/* The value of name (the last entry wins), or NULL. */
static const char *lookup(const struct tsc_template_value *vals, size_t n_vals, const char *name,
                          size_t name_len)
{
    for (size_t i = n_vals; i-- > 0;)
        if (vals[i].name != NULL && name_eq(name, name_len, vals[i].name))
            return vals[i].value != NULL ? vals[i].value : "";
    return NULL;
}

int tsc_template_render(const char *text, size_t len, const struct tsc_template_value *vals,
                        size_t n_vals, struct tsc_buf *out, size_t *err_offset, char *errmsg)
{
    size_t start = out->len;
    size_t pos = 0;
    int rc = 0;
    for (;;) {
        struct ph ph;
        int found = next_placeholder(text, len, pos, &ph, errmsg);
        if (found == 1) {
            rc = tsc_buf_append(out, text + pos, len - pos);
            break;
        }
        if (found != 0) {
            rc = found;
            if (err_offset != NULL)
                *err_offset = ph.start;
            break;
        }
        rc = tsc_buf_append(out, text + pos, ph.start - pos);
        if (rc != 0)
            break;
        if (name_eq(ph.name, ph.name_len, "tsc.open")) {
            rc = tsc_buf_append(out, "{{", 2);
        } else {
            const char *v = lookup(vals, n_vals, ph.name, ph.name_len);
            if (v == NULL) {
                tsc_errmsg_setf(errmsg, "unknown variable '%.*s'", (int)ph.name_len, ph.name);
                if (err_offset != NULL)
                    *err_offset = ph.start;
                rc = TSC_ENOTFOUND;
                break;
            }
            rc = tsc_template_quote(v, out);
        }
        if (rc != 0)
            break;
        pos = ph.end;
    }
    /* The terminating NUL is written but not counted, so callers can use
     * out->data as a C string and still append to out. */
    if (rc == 0)
        rc = tsc_buf_reserve(out, 1);
    if (rc != 0) {
        if (rc == TSC_ENOMEM)
            tsc_errmsg_setf(errmsg, "out of memory rendering a script");
        out->len = start;
        return rc;
    }
    out->data[out->len] = '\0';
    return 0;
}
