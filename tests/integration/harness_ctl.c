/* tsc — the harness's view of agents through `tscctl --json`, with a
 * minimal JSON reader: enough for tscctl's output (arrays, objects,
 * strings with escapes, numbers, true/false/null), and strict enough that
 * malformed output fails the test instead of being half-read. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

static void ws(const char **p)
{
    while (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r')
        (*p)++;
}

/* Parse a string into out (may be NULL); escapes other than \" \\ \/ and
 * \uXXXX (kept as '?') are rejected. */
static int jstr(const char **p, char *out, size_t cap)
{
    size_t n = 0;
    ws(p);
    if (**p != '"')
        return -1;
    (*p)++;
    while (**p != '"') {
        char c = **p;
        if (c == '\0')
            return -1;
        if (c == '\\') {
            (*p)++;
            c = **p;
            if (c == 'u') {
                for (int i = 0; i < 4; i++)
                    if (*++(*p) == '\0')
                        return -1;
                c = '?';
            } else if (c != '"' && c != '\\' && c != '/') {
                return -1;
            }
        }
        if (out && n + 1 < cap)
            out[n++] = c;
        (*p)++;
    }
    (*p)++;
    if (out && cap)
        out[n] = '\0';
    return 0;
}

static int jvalue(const char **p, int depth);

static int jcontainer(const char **p, int depth, char open, char close)
{
    if (depth > 16)
        return -1;
    (*p)++;
    ws(p);
    if (**p == close) {
        (*p)++;
        return 0;
    }
    for (;;) {
        if (open == '{') {
            if (jstr(p, NULL, 0) != 0)
                return -1;
            ws(p);
            if (*(*p)++ != ':')
                return -1;
        }
        if (jvalue(p, depth + 1) != 0)
            return -1;
        ws(p);
        if (**p == ',') {
            (*p)++;
            continue;
        }
        if (**p == close) {
            (*p)++;
            return 0;
        }
        return -1;
    }
}

static int jvalue(const char **p, int depth)
{
    ws(p);
    switch (**p) {
    case '"':
        return jstr(p, NULL, 0);
    case '{':
        return jcontainer(p, depth, '{', '}');
    case '[':
        return jcontainer(p, depth, '[', ']');
    case 't':
        return strncmp(*p, "true", 4) == 0 ? (*p += 4, 0) : -1;
    case 'f':
        return strncmp(*p, "false", 5) == 0 ? (*p += 5, 0) : -1;
    case 'n':
        return strncmp(*p, "null", 4) == 0 ? (*p += 4, 0) : -1;
    default: {
        char *end;
        errno = 0;
        strtod(*p, &end);
        if (end == *p || errno)
            return -1;
        *p = end;
        return 0;
    }
    }
}

/* One member object: keep the fields the tests look at, skip the rest. */
static int jmember(const char **p, struct th_member *m)
{
    memset(m, 0, sizeof *m);
    ws(p);
    if (*(*p)++ != '{')
        return -1;
    ws(p);
    if (**p == '}')
        return (*p)++, 0;
    for (;;) {
        char key[32];
        if (jstr(p, key, sizeof key) != 0)
            return -1;
        ws(p);
        if (*(*p)++ != ':')
            return -1;
        ws(p);
        if (strcmp(key, "id") == 0) {
            if (jstr(p, m->id, sizeof m->id) != 0)
                return -1;
        } else if (strcmp(key, "addr") == 0) {
            if (jstr(p, m->addr, sizeof m->addr) != 0)
                return -1;
        } else if (strcmp(key, "status") == 0) {
            if (jstr(p, m->status, sizeof m->status) != 0)
                return -1;
        } else if (strcmp(key, "incarnation") == 0) {
            char *end;
            m->incarnation = strtoull(*p, &end, 10);
            if (end == *p)
                return -1;
            *p = end;
        } else if (strcmp(key, "self") == 0) {
            m->self = strncmp(*p, "true", 4) == 0;
            if (jvalue(p, 1) != 0)
                return -1;
        } else if (jvalue(p, 1) != 0) {
            return -1;
        }
        ws(p);
        if (**p == ',') {
            (*p)++;
            continue;
        }
        if (**p == '}') {
            (*p)++;
            return 0;
        }
        return -1;
    }
}

static int run_ctl(const struct th_agent *a, const char *cmd, char *out, size_t cap)
{
    char bin[512];
    const char *argv[] = {th_bin("tscctl", bin, sizeof bin),
                          cmd,
                          "--json",
                          "--socket",
                          a->sock,
                          "--timeout-ms",
                          "3000",
                          NULL};
    return th_run(argv, out, cap, NULL, 0, 10000);
}

int th_members(const struct th_agent *a, struct th_member *m, size_t cap)
{
    static char out[1 << 16];
    const char *p = out;
    size_t n = 0;
    if (run_ctl(a, "members", out, sizeof out) != 0)
        return -1;
    ws(&p);
    if (*p++ != '[')
        return -1;
    ws(&p);
    if (*p == ']')
        return 0;
    for (;;) {
        struct th_member tmp;
        if (jmember(&p, n < cap ? &m[n] : &tmp) != 0)
            return -1;
        n++;
        ws(&p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ']')
            break;
        return -1;
    }
    return (int)(n < cap ? n : cap);
}

int64_t th_stat(const struct th_agent *a, const char *name)
{
    char out[8192], want[64];
    if (run_ctl(a, "stats", out, sizeof out) != 0)
        return -1;
    const char *p = out;
    if (jvalue(&p, 0) != 0) /* the whole output must be valid JSON */
        return -1;
    snprintf(want, sizeof want, "\"%s\":", name);
    const char *hit = strstr(out, want);
    return hit ? strtoll(hit + strlen(want), NULL, 10) : -1;
}

const char *th_status_of(const struct th_agent *a, const char *id, char *buf)
{
    struct th_member m[TH_MAX_MEMBERS];
    int n = th_members(a, m, TH_MAX_MEMBERS);
    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        if (strcmp(m[i].id, id) == 0)
            strcpy(buf, m[i].status);
    return buf;
}

int th_self_id(const struct th_agent *a, char *id)
{
    struct th_member m[TH_MAX_MEMBERS];
    int n = th_members(a, m, TH_MAX_MEMBERS);
    for (int i = 0; i < n; i++) {
        if (m[i].self) {
            strcpy(id, m[i].id);
            return 0;
        }
    }
    return -1;
}

static void nap(void)
{
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
}

int th_wait_members(const struct th_agent *a, int n, const char *st, int timeout_ms)
{
    int64_t end = th_now_ms() + timeout_ms;
    do {
        struct th_member m[TH_MAX_MEMBERS];
        int k = th_members(a, m, TH_MAX_MEMBERS), ok = k == n;
        for (int i = 0; ok && st && i < k; i++)
            ok = strcmp(m[i].status, st) == 0;
        if (ok)
            return 0;
        nap();
    } while (th_now_ms() < end);
    return -1;
}

int th_wait_status(const struct th_agent *a, const char *id, const char *st, int timeout_ms)
{
    int64_t end = th_now_ms() + timeout_ms;
    char buf[8];
    do {
        if (strcmp(th_status_of(a, id, buf), st) == 0)
            return 0;
        nap();
    } while (th_now_ms() < end);
    return -1;
}

int th_coord(const struct th_agent *a, struct th_coord *c)
{
    char out[8192];
    const char *p = out, *hit;
    memset(c, 0, sizeof *c);
    if (run_ctl(a, "status", out, sizeof out) != 0)
        return -1;
    if (jvalue(&p, 0) != 0) /* the whole output must be valid JSON */
        return -1;
    if ((hit = strstr(out, "\"coordinator\":")) == NULL)
        return -1;
    hit += strlen("\"coordinator\":");
    if (*hit == '"') {
        const char *q = hit;
        if (jstr(&q, c->id, sizeof c->id) != 0)
            return -1;
    }
    if ((hit = strstr(out, "\"term\":")) == NULL)
        return -1;
    c->term = strtoull(hit + strlen("\"term\":"), NULL, 10);
    c->acting = strstr(out, "\"acting\":true") != NULL;
    c->voter = strstr(out, "\"voter\":true") != NULL;
    return 0;
}
