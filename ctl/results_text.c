/* tsc — untrusted text for the results formatters (ctl/results_int.h).
 *
 * Everything a script produced and every name taken from the records passes
 * through tsc__results_put_text with the escaping of its format, after a
 * strict UTF-8 decode in which every byte that does not start a valid
 * sequence becomes U+FFFD. Nothing here allocates. */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "ctl/results_int.h"

#define BAD_CP     0xffffffffu
#define TAIL_LINES 20   /* lines of a failing machine's output in table and TAP */
#define TAIL_BYTES 4096 /* ... and at most this many bytes of them */

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

/* One event per line, whatever the text: ShiViz's regex reads the event
 * with '.', which in JavaScript stops at LF, CR, U+2028 and U+2029. */
static void put_oneline_cp(FILE *f, uint32_t cp)
{
    if (cp == '\n')
        fputs("\\n", f);
    else if (cp == '\r')
        fputs("\\r", f);
    else if (cp == 0x2028 || cp == 0x2029)
        fprintf(f, "\\u%04" PRIx32, cp);
    else
        put_line_cp(f, cp);
}

/* Write p[0..n) escaped for mode e. */
void tsc__results_put_text(FILE *f, int e, const void *p, size_t n)
{
    static void (*const put[])(FILE *, uint32_t) = {
        [TSC__ESC_LINE] = put_line_cp,         [TSC__ESC_JSON] = put_json_cp,
        [TSC__ESC_XML_TEXT] = put_xml_text_cp, [TSC__ESC_XML_ATTR] = put_xml_attr_cp,
        [TSC__ESC_YAML] = put_yaml_cp,         [TSC__ESC_TAP_DESC] = put_desc_cp,
        [TSC__ESC_ONELINE] = put_oneline_cp,
    };
    const uint8_t *s = p;
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        i += utf8_next(s + i, n - i, &cp);
        put[e](f, cp);
    }
}

void tsc__results_put_str(FILE *f, int e, const char *s, size_t max)
{
    tsc__results_put_text(f, e, s, strnlen(s, max));
}

/* Code points put_text writes for p[0..n) in TSC__ESC_LINE: column widths. */
size_t tsc__results_text_width(const char *p, size_t max)
{
    size_t n = strnlen(p, max), w = 0;
    uint32_t cp;
    for (size_t i = 0; i < n; w++)
        i += utf8_next((const uint8_t *)p + i, n - i, &cp);
    return w;
}

void tsc__results_pad(FILE *f, size_t have, size_t want)
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
void tsc__results_put_tail(FILE *f, const char *prefix, const uint8_t *p, size_t n)
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
        tsc__results_put_text(f, TSC__ESC_LINE, p + i, le - i);
        fputc('\n', f);
        i = e + 1;
    }
}

/* "12.345" seconds into out; its length. */
size_t tsc__results_format_secs(uint64_t us, char out[32])
{
    return (size_t)snprintf(out, 32, "%" PRIu64 ".%03" PRIu64, us / 1000000, us / 1000 % 1000);
}

void tsc__results_put_secs(FILE *f, uint64_t us)
{
    char tmp[32];
    tsc__results_format_secs(us, tmp);
    fputs(tmp, f);
}

/* "2024-05-01T12:00:00" (UTC) into out; 0 when the time has no such form. */
int tsc__results_format_utc(uint64_t us, char out[32])
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    if (us == 0 || gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999)
        return 0;
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    return 1;
}
