/* tsc — the compiled suite: codec, checks and stage helpers (see suite.h).
 *
 * The decoder reads bytes that travelled from tscctl through agents and the
 * run log, so it is total and bounded: every count is checked against the
 * limits of suite.h before anything is allocated, every string is copied out
 * with its length checked, and the result must pass tsc_suite_check, the same
 * check tscctl ran before sending it. */
#include "wire/suite.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/template.h"
#include "wire/mp.h"

/* ---- names and display ---------------------------------------------------- */

/* A printable, bounded rendering of bytes that may come from anywhere, for
 * error messages. */
#define SHOW_SIZE 48
static const char *show(char out[SHOW_SIZE], const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= SHOW_SIZE) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char)c;
        } else {
            snprintf(out + o, SHOW_SIZE - o, "\\x%02x", c);
            o += 4;
        }
    }
    out[o] = '\0';
    return out;
}

int tsc_suite_check_name(const char *s, char *errmsg)
{
    char shown[SHOW_SIZE];
    if (s == NULL || s[0] == '\0') {
        tsc_errmsg_setf(errmsg, "empty name");
        return TSC_EINVAL;
    }
    size_t n = strnlen(s, TSC_SUITE_MAX_NAME + 1);
    if (n > TSC_SUITE_MAX_NAME) {
        tsc_errmsg_setf(errmsg, "name '%s' is longer than %d bytes", show(shown, s, n),
                        TSC_SUITE_MAX_NAME);
        return TSC_EINVAL;
    }
    if (s[0] == '-' || s[0] == '.') {
        tsc_errmsg_setf(errmsg, "name '%s' starts with '%c'", show(shown, s, n), s[0]);
        return TSC_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            char bad[SHOW_SIZE];
            tsc_errmsg_setf(errmsg, "name '%s' contains '%s' (allowed: A-Z a-z 0-9 _ . -)",
                            show(shown, s, n), show(bad, s + i, 1));
            return TSC_EINVAL;
        }
    }
    return 0;
}

/* ---- check ---------------------------------------------------------------- */

struct check_ctx {
    const struct tsc_suite *s;
    const char *unknown;
    size_t unknown_len;
};

static int visit_known(void *ctx, const char *name, size_t name_len, size_t offset)
{
    struct check_ctx *c = ctx;
    (void)offset;
    if (tsc_template_is_builtin(name, name_len))
        return 0;
    for (size_t i = 0; i < c->s->n_vars; i++) {
        const char *v = c->s->vars[i].name;
        if (strlen(v) == name_len && memcmp(v, name, name_len) == 0)
            return 0;
    }
    c->unknown = name;
    c->unknown_len = name_len;
    return TSC_EINVAL;
}

/* where: "suite init" or "case 'x' run"; messages name the role too. */
static int check_stage(const struct tsc_suite *s, const struct tsc_suite_stage *st,
                       const char *where, char *errmsg)
{
    char shown[SHOW_SIZE];
    if (st->timeout_ms > TSC_SUITE_MAX_TIMEOUT_MS) {
        tsc_errmsg_setf(errmsg, "%s: timeout over %u ms", where, TSC_SUITE_MAX_TIMEOUT_MS);
        return TSC_EINVAL;
    }
    if (st->n_scripts > TSC_SUITE_MAX_SCRIPTS) {
        tsc_errmsg_setf(errmsg, "%s: more than %d scripts", where, TSC_SUITE_MAX_SCRIPTS);
        return TSC_EINVAL;
    }
    if (st->n_scripts > 0 && st->scripts == NULL) {
        tsc_errmsg_setf(errmsg, "%s: no scripts array", where);
        return TSC_EINVAL;
    }
    for (size_t i = 0; i < st->n_scripts; i++) {
        const struct tsc_suite_script *sc = &st->scripts[i];
        if (sc->role == NULL || sc->text == NULL) {
            tsc_errmsg_setf(errmsg, "%s: script %zu without role or text", where, i);
            return TSC_EINVAL;
        }
        const char *role = sc->role[0] ? show(shown, sc->role, strlen(sc->role)) : "all";
        if (sc->role[0] != '\0' && tsc_suite_check_name(sc->role, errmsg) != 0) {
            tsc_errmsg_wrapf(errmsg, "%s: role", where);
            return TSC_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(st->scripts[j].role, sc->role) == 0) {
                tsc_errmsg_setf(errmsg, "%s: two scripts for role '%s'", where, role);
                return TSC_EINVAL;
            }
        }
        size_t len = strlen(sc->text);
        if (len > TSC_SUITE_MAX_SCRIPT) {
            tsc_errmsg_setf(errmsg, "%s, role '%s': script over %u bytes", where, role,
                            TSC_SUITE_MAX_SCRIPT);
            return TSC_EINVAL;
        }
        struct check_ctx c = {.s = s};
        int rc = tsc_template_scan(sc->text, len, visit_known, &c, NULL, errmsg);
        if (rc == TSC_EINVAL)
            tsc_errmsg_setf(errmsg, "%s, role '%s': unknown variable '%.*s'", where, role,
                            (int)c.unknown_len, c.unknown);
        else if (rc != 0)
            tsc_errmsg_wrapf(errmsg, "%s, role '%s'", where, role);
        if (rc != 0)
            return TSC_EINVAL;
    }
    return 0;
}

/* Each of names[0..n) a valid name, none twice. */
static int check_names(char *const *names, size_t n, const char *what, char *errmsg)
{
    char shown[SHOW_SIZE];
    for (size_t i = 0; i < n; i++) {
        if (tsc_suite_check_name(names[i], errmsg) != 0) {
            tsc_errmsg_wrapf(errmsg, "%s", what);
            return TSC_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(names[i], names[j]) == 0) {
                tsc_errmsg_setf(errmsg, "%s '%s' appears twice", what,
                                show(shown, names[i], strlen(names[i])));
                return TSC_EINVAL;
            }
        }
    }
    return 0;
}

static const char *const case_stage_names[3] = {"init", "run", "finalize"};

int tsc_suite_check(const struct tsc_suite *s, char *errmsg)
{
    char where[TSC_SUITE_MAX_NAME + 32];
    if ((s->n_names > 0 && s->names == NULL) || (s->n_roles > 0 && s->roles == NULL) ||
        (s->n_vars > 0 && s->vars == NULL) || (s->n_cases > 0 && s->cases == NULL)) {
        tsc_errmsg_setf(errmsg, "a count without its array");
        return TSC_EINVAL;
    }
    if (tsc_suite_check_name(s->name, errmsg) != 0) {
        tsc_errmsg_wrapf(errmsg, "suite name");
        return TSC_EINVAL;
    }
    if (s->timeout_ms > TSC_SUITE_MAX_TIMEOUT_MS) {
        tsc_errmsg_setf(errmsg, "suite timeout over %u ms", TSC_SUITE_MAX_TIMEOUT_MS);
        return TSC_EINVAL;
    }
    if (s->n_names > TSC_SUITE_MAX_SELECT || s->n_roles > TSC_SUITE_MAX_SELECT - s->n_names) {
        tsc_errmsg_setf(errmsg, "more than %d machine names and roles", TSC_SUITE_MAX_SELECT);
        return TSC_EINVAL;
    }
    if (check_names(s->names, s->n_names, "machine name", errmsg) != 0 ||
        check_names(s->roles, s->n_roles, "machine role", errmsg) != 0)
        return TSC_EINVAL;
    if (s->n_vars > TSC_SUITE_MAX_VARS) {
        tsc_errmsg_setf(errmsg, "more than %d variables", TSC_SUITE_MAX_VARS);
        return TSC_EINVAL;
    }
    for (size_t i = 0; i < s->n_vars; i++) {
        const struct tsc_suite_var *v = &s->vars[i];
        if (tsc_suite_check_name(v->name, errmsg) != 0) {
            tsc_errmsg_wrapf(errmsg, "variable");
            return TSC_EINVAL;
        }
        if (strncmp(v->name, "tsc.", 4) == 0) {
            tsc_errmsg_setf(errmsg, "variable '%s': names tsc.* are reserved", v->name);
            return TSC_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(v->name, s->vars[j].name) == 0) {
                tsc_errmsg_setf(errmsg, "variable '%s' appears twice", v->name);
                return TSC_EINVAL;
            }
        }
        if (v->value == NULL || strlen(v->value) > TSC_SUITE_MAX_VALUE) {
            tsc_errmsg_setf(errmsg, "variable '%s': value missing or over %d bytes", v->name,
                            TSC_SUITE_MAX_VALUE);
            return TSC_EINVAL;
        }
    }
    if (s->n_cases > TSC_SUITE_MAX_CASES) {
        tsc_errmsg_setf(errmsg, "more than %d cases", TSC_SUITE_MAX_CASES);
        return TSC_EINVAL;
    }
    if (check_stage(s, &s->init, "suite init", errmsg) != 0 ||
        check_stage(s, &s->finalize, "suite finalize", errmsg) != 0 ||
        check_stage(s, &s->follow, "follow", errmsg) != 0)
        return TSC_EINVAL;
    for (size_t i = 0; i < s->n_cases; i++) {
        const struct tsc_suite_case *c = &s->cases[i];
        if (tsc_suite_check_name(c->name, errmsg) != 0) {
            tsc_errmsg_wrapf(errmsg, "case %zu", i);
            return TSC_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->name, s->cases[j].name) == 0) {
                tsc_errmsg_setf(errmsg, "case '%s' appears twice", c->name);
                return TSC_EINVAL;
            }
        }
        for (int k = 0; k < 3; k++) {
            snprintf(where, sizeof where, "case '%s' %s", c->name, case_stage_names[k]);
            if (check_stage(s, &c->stage[k], where, errmsg) != 0)
                return TSC_EINVAL;
        }
    }
    return 0;
}

/* ---- stages --------------------------------------------------------------- */

uint32_t tsc_suite_n_stages(const struct tsc_suite *s)
{
    return (uint32_t)(3 * s->n_cases + 2);
}

const struct tsc_suite_stage *tsc_suite_stage_at(const struct tsc_suite *s, uint32_t k)
{
    if (k == 0)
        return &s->init;
    if (k == 1 + 3 * s->n_cases)
        return &s->finalize;
    if (k > 3 * s->n_cases)
        return NULL;
    return &s->cases[(k - 1) / 3].stage[(k - 1) % 3];
}

uint64_t tsc_suite_timeout_ms(const struct tsc_suite *s, uint32_t k)
{
    const struct tsc_suite_stage *st = tsc_suite_stage_at(s, k);
    if (st != NULL && st->timeout_ms != 0)
        return st->timeout_ms;
    return s->timeout_ms != 0 ? s->timeout_ms : TSC_SUITE_DEFAULT_TIMEOUT_MS;
}

const struct tsc_suite_script *tsc_suite_script_for(const struct tsc_suite_stage *st,
                                                    const char *const *roles, size_t n_roles)
{
    const struct tsc_suite_script *all = NULL;
    for (size_t i = 0; i < st->n_scripts; i++) {
        const struct tsc_suite_script *sc = &st->scripts[i];
        if (sc->role[0] == '\0') {
            if (all == NULL)
                all = sc;
            continue;
        }
        for (size_t j = 0; j < n_roles; j++)
            if (roles[j] != NULL && strcmp(roles[j], sc->role) == 0)
                return sc;
    }
    return all;
}

/* ---- free ----------------------------------------------------------------- */

static void stage_free(struct tsc_suite_stage *st)
{
    for (size_t i = 0; st->scripts != NULL && i < st->n_scripts; i++) {
        tsc_free(st->scripts[i].role);
        tsc_free(st->scripts[i].text);
    }
    tsc_free(st->scripts);
}

static void strings_free(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        tsc_free(v[i]);
    tsc_free(v);
}

void tsc_suite_free(struct tsc_suite *s)
{
    tsc_free(s->name);
    strings_free(s->names, s->n_names);
    strings_free(s->roles, s->n_roles);
    for (size_t i = 0; s->vars != NULL && i < s->n_vars; i++) {
        tsc_free(s->vars[i].name);
        tsc_free(s->vars[i].value);
    }
    tsc_free(s->vars);
    stage_free(&s->init);
    stage_free(&s->finalize);
    stage_free(&s->follow);
    for (size_t i = 0; s->cases != NULL && i < s->n_cases; i++) {
        tsc_free(s->cases[i].name);
        for (int k = 0; k < 3; k++)
            stage_free(&s->cases[i].stage[k]);
    }
    tsc_free(s->cases);
    memset(s, 0, sizeof *s);
}

/* ---- encoding ------------------------------------------------------------- */

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void pack_strings(msgpack_packer *pk, const char *key, char *const *v, size_t n)
{
    pack_str(pk, key);
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
        pack_str(pk, v[i]);
}

static void pack_stage(msgpack_packer *pk, const char *key, const struct tsc_suite_stage *st)
{
    pack_str(pk, key);
    msgpack_pack_map(pk, 2);
    pack_str(pk, "timeout_ms");
    msgpack_pack_uint64(pk, st->timeout_ms);
    pack_str(pk, "scripts");
    msgpack_pack_array(pk, st->n_scripts);
    for (size_t i = 0; i < st->n_scripts; i++) {
        msgpack_pack_array(pk, 2);
        pack_str(pk, st->scripts[i].role);
        pack_str(pk, st->scripts[i].text);
    }
}

static size_t stage_bytes(const struct tsc_suite_stage *st)
{
    size_t n = 0;
    for (size_t i = 0; i < st->n_scripts; i++)
        n += strlen(st->scripts[i].role) + strlen(st->scripts[i].text);
    return n;
}

int tsc_suite_encode(const struct tsc_suite *s, struct tsc_buf *out, char *errmsg)
{
    int rc = tsc_suite_check(s, errmsg);
    if (rc != 0)
        return rc;
    /* The scripts alone can add up to gigabytes within the per-field limits:
     * refuse before building the buffer when their bytes already exceed the
     * total. */
    size_t bytes = stage_bytes(&s->init) + stage_bytes(&s->finalize) + stage_bytes(&s->follow);
    for (size_t i = 0; i < s->n_cases; i++)
        for (int k = 0; k < 3; k++)
            bytes += stage_bytes(&s->cases[i].stage[k]);
    size_t start = out->len;
    if (bytes <= TSC_SUITE_MAX_ENCODED) {
        struct tsc_mp_writer w;
        tsc_mp_writer_init(&w, out);
        msgpack_packer *pk = &w.pk;
        /* "follow" only when used: suites without it encode as before. */
        msgpack_pack_map(pk, s->follow.n_scripts > 0 ? 10 : 9);
        pack_str(pk, "v");
        msgpack_pack_uint64(pk, TSC_SUITE_VERSION);
        pack_str(pk, "name");
        pack_str(pk, s->name);
        pack_strings(pk, "names", s->names, s->n_names);
        pack_strings(pk, "roles", s->roles, s->n_roles);
        pack_str(pk, "vars");
        msgpack_pack_array(pk, s->n_vars);
        for (size_t i = 0; i < s->n_vars; i++) {
            msgpack_pack_array(pk, 2);
            pack_str(pk, s->vars[i].name);
            pack_str(pk, s->vars[i].value);
        }
        pack_str(pk, "timeout_ms");
        msgpack_pack_uint64(pk, s->timeout_ms);
        pack_stage(pk, "init", &s->init);
        pack_stage(pk, "finalize", &s->finalize);
        pack_str(pk, "cases");
        msgpack_pack_array(pk, s->n_cases);
        for (size_t i = 0; i < s->n_cases; i++) {
            msgpack_pack_map(pk, 4);
            pack_str(pk, "name");
            pack_str(pk, s->cases[i].name);
            for (int k = 0; k < 3; k++)
                pack_stage(pk, case_stage_names[k], &s->cases[i].stage[k]);
        }
        if (s->follow.n_scripts > 0)
            pack_stage(pk, "follow", &s->follow);
        rc = tsc_mp_writer_status(&w);
        if (rc != 0) {
            out->len = start;
            tsc_errmsg_setf(errmsg, "out of memory encoding the suite");
            return rc;
        }
        bytes = out->len - start;
    }
    if (bytes > TSC_SUITE_MAX_ENCODED) {
        out->len = start;
        tsc_errmsg_setf(errmsg, "the encoded suite is over the limit of %u bytes",
                        TSC_SUITE_MAX_ENCODED);
        return TSC_EINVAL;
    }
    return 0;
}

/* ---- decoding ------------------------------------------------------------- */

static int key_is(const char *s, uint32_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static int malformed(char *errmsg, const char *field, const char *what)
{
    tsc_errmsg_setf(errmsg, "suite: %s: %s", field, what);
    return TSC_EMALFORMED;
}

/* Copy a string of at most max bytes without NUL bytes into *out. */
static int dec_str(struct tsc_mp_reader *r, size_t max, char **out, const char *field, char *errmsg)
{
    const char *p;
    uint32_t n;
    if (tsc_mp_read_str(r, &p, &n) != 0)
        return malformed(errmsg, field, "expected a string");
    if (n > max) {
        tsc_errmsg_setf(errmsg, "suite: %s: %u bytes, over the limit of %zu", field, n, max);
        return TSC_ETOOBIG;
    }
    if (memchr(p, '\0', n) != NULL)
        return malformed(errmsg, field, "contains a NUL byte");
    char *s = tsc_malloc((size_t)n + 1);
    if (s == NULL) {
        tsc_errmsg_setf(errmsg, "suite: %s: out of memory", field);
        return TSC_ENOMEM;
    }
    memcpy(s, p, n);
    s[n] = '\0';
    *out = s;
    return 0;
}

/* An array header of at most max elements; *v gets calloc'ed room for them. */
static int dec_array(struct tsc_mp_reader *r, size_t max, size_t size, void **v, size_t *n,
                     const char *field, char *errmsg)
{
    uint32_t k;
    if (tsc_mp_read_array(r, &k) != 0)
        return malformed(errmsg, field, "expected an array");
    if (k > max) {
        tsc_errmsg_setf(errmsg, "suite: %s: %u entries, over the limit of %zu", field, k, max);
        return TSC_ETOOBIG;
    }
    if (k == 0)
        return 0;
    *v = tsc_calloc(k, size);
    if (*v == NULL) {
        tsc_errmsg_setf(errmsg, "suite: %s: out of memory", field);
        return TSC_ENOMEM;
    }
    *n = k;
    return 0;
}

/* A [a, b] pair of strings. */
static int dec_pair(struct tsc_mp_reader *r, size_t max_a, size_t max_b, char **a, char **b,
                    const char *field, char *errmsg)
{
    uint32_t k;
    if (tsc_mp_read_array(r, &k) != 0 || k != 2)
        return malformed(errmsg, field, "expected a pair");
    int rc = dec_str(r, max_a, a, field, errmsg);
    return rc != 0 ? rc : dec_str(r, max_b, b, field, errmsg);
}

/* Read a map key; *bit is set for the known key number idx, and a key seen
 * twice is malformed (the second copy would leak or silently win). */
static int dec_key(struct tsc_mp_reader *r, const char *const *keys, int n_keys, unsigned *seen,
                   int *idx, const char *field, char *errmsg)
{
    const char *k;
    uint32_t klen;
    char f[96];
    if (tsc_mp_read_str(r, &k, &klen) != 0)
        return malformed(errmsg, field, "expected a string key");
    *idx = -1;
    for (int i = 0; i < n_keys; i++) {
        if (key_is(k, klen, keys[i])) {
            if (*seen & (1u << i)) {
                snprintf(f, sizeof f, "%s.%s", field, keys[i]);
                return malformed(errmsg, f, "appears twice");
            }
            *seen |= 1u << i;
            *idx = i;
        }
    }
    return 0;
}

static int dec_stage(struct tsc_mp_reader *r, struct tsc_suite_stage *st, const char *field,
                     char *errmsg)
{
    static const char *const keys[] = {"timeout_ms", "scripts"};
    char f[96];
    uint32_t n;
    unsigned seen = 0;
    if (tsc_mp_read_map(r, &n) != 0)
        return malformed(errmsg, field, "expected a map");
    for (uint32_t i = 0; i < n; i++) {
        int idx, rc = dec_key(r, keys, 2, &seen, &idx, field, errmsg);
        if (rc != 0)
            return rc;
        if (idx == 0) {
            if (tsc_mp_read_uint(r, &st->timeout_ms) != 0)
                return malformed(errmsg, field, "timeout_ms: expected an unsigned integer");
            continue;
        }
        if (idx < 0) {
            if (tsc_mp_skip(r) != 0)
                return malformed(errmsg, field, "truncated");
            continue;
        }
        snprintf(f, sizeof f, "%s.scripts", field);
        rc = dec_array(r, TSC_SUITE_MAX_SCRIPTS, sizeof *st->scripts, (void **)&st->scripts,
                       &st->n_scripts, f, errmsg);
        for (size_t j = 0; rc == 0 && j < st->n_scripts; j++) {
            snprintf(f, sizeof f, "%s.scripts[%zu]", field, j);
            rc = dec_pair(r, TSC_SUITE_MAX_NAME, TSC_SUITE_MAX_SCRIPT, &st->scripts[j].role,
                          &st->scripts[j].text, f, errmsg);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int dec_case(struct tsc_mp_reader *r, struct tsc_suite_case *c, size_t ci, char *errmsg)
{
    static const char *const keys[] = {"name", "init", "run", "finalize"};
    char field[32], f[96];
    uint32_t n;
    unsigned seen = 0;
    snprintf(field, sizeof field, "cases[%zu]", ci);
    if (tsc_mp_read_map(r, &n) != 0)
        return malformed(errmsg, field, "expected a map");
    for (uint32_t i = 0; i < n; i++) {
        int idx, rc = dec_key(r, keys, 4, &seen, &idx, field, errmsg);
        if (rc == 0 && idx < 0 && tsc_mp_skip(r) != 0)
            rc = malformed(errmsg, field, "truncated");
        if (rc == 0 && idx == 0) {
            snprintf(f, sizeof f, "%s.name", field);
            rc = dec_str(r, TSC_SUITE_MAX_NAME, &c->name, f, errmsg);
        } else if (rc == 0 && idx > 0) {
            snprintf(f, sizeof f, "%s.%s", field, keys[idx]);
            rc = dec_stage(r, &c->stage[idx - 1], f, errmsg);
        }
        if (rc != 0)
            return rc;
    }
    if (c->name == NULL)
        return malformed(errmsg, field, "no name");
    return 0;
}

enum {
    K_V,
    K_NAME,
    K_NAMES,
    K_ROLES,
    K_VARS,
    K_TIMEOUT,
    K_INIT,
    K_FINALIZE,
    K_CASES,
    K_FOLLOW,
    K_N
};

static int dec_field(struct tsc_mp_reader *r, int idx, struct tsc_suite *s, uint64_t *version,
                     char *errmsg)
{
    int rc = 0;
    switch (idx) {
    case K_V:
        if (tsc_mp_read_uint(r, version) != 0)
            return malformed(errmsg, "v", "expected an unsigned integer");
        return 0;
    case K_NAME:
        return dec_str(r, TSC_SUITE_MAX_NAME, &s->name, "name", errmsg);
    case K_NAMES:
    case K_ROLES: {
        char ***v = idx == K_NAMES ? &s->names : &s->roles;
        size_t *n = idx == K_NAMES ? &s->n_names : &s->n_roles;
        const char *field = idx == K_NAMES ? "names" : "roles";
        rc = dec_array(r, TSC_SUITE_MAX_SELECT, sizeof **v, (void **)v, n, field, errmsg);
        for (size_t i = 0; rc == 0 && i < *n; i++)
            rc = dec_str(r, TSC_SUITE_MAX_NAME, &(*v)[i], field, errmsg);
        return rc;
    }
    case K_VARS:
        rc = dec_array(r, TSC_SUITE_MAX_VARS, sizeof *s->vars, (void **)&s->vars, &s->n_vars,
                       "vars", errmsg);
        for (size_t i = 0; rc == 0 && i < s->n_vars; i++)
            rc = dec_pair(r, TSC_SUITE_MAX_NAME, TSC_SUITE_MAX_VALUE, &s->vars[i].name,
                          &s->vars[i].value, "vars", errmsg);
        return rc;
    case K_TIMEOUT:
        if (tsc_mp_read_uint(r, &s->timeout_ms) != 0)
            return malformed(errmsg, "timeout_ms", "expected an unsigned integer");
        return 0;
    case K_INIT:
        return dec_stage(r, &s->init, "init", errmsg);
    case K_FINALIZE:
        return dec_stage(r, &s->finalize, "finalize", errmsg);
    case K_FOLLOW:
        return dec_stage(r, &s->follow, "follow", errmsg);
    case K_CASES:
        rc = dec_array(r, TSC_SUITE_MAX_CASES, sizeof *s->cases, (void **)&s->cases, &s->n_cases,
                       "cases", errmsg);
        for (size_t i = 0; rc == 0 && i < s->n_cases; i++)
            rc = dec_case(r, &s->cases[i], i, errmsg);
        return rc;
    default:
        if (tsc_mp_skip(r) != 0)
            return malformed(errmsg, "map", "truncated");
        return 0;
    }
}

static int dec_suite(struct tsc_mp_reader *r, struct tsc_suite *s, char *errmsg)
{
    static const char *const keys[K_N] = {"v",          "name", "names",    "roles", "vars",
                                          "timeout_ms", "init", "finalize", "cases", "follow"};
    uint32_t n;
    unsigned seen = 0;
    uint64_t version = 0;
    if (tsc_mp_read_map(r, &n) != 0)
        return malformed(errmsg, "top level", "expected a map");
    for (uint32_t i = 0; i < n; i++) {
        int idx, rc = dec_key(r, keys, K_N, &seen, &idx, "top level", errmsg);
        if (rc == 0)
            rc = dec_field(r, idx, s, &version, errmsg);
        if (rc != 0)
            return rc;
    }
    if (tsc_mp_remaining(r) != 0)
        return malformed(errmsg, "top level", "trailing bytes after the map");
    if (!(seen & (1u << K_V)) || version != TSC_SUITE_VERSION) {
        tsc_errmsg_setf(errmsg, "suite: v: unsupported version %llu (expected %d)",
                        (unsigned long long)version, TSC_SUITE_VERSION);
        return TSC_EMALFORMED;
    }
    if (s->name == NULL)
        return malformed(errmsg, "name", "missing");
    return 0;
}

int tsc_suite_decode(const uint8_t *p, size_t len, struct tsc_suite *s, char *errmsg)
{
    struct tsc_mp_reader r;
    memset(s, 0, sizeof *s);
    if (len > TSC_SUITE_MAX_ENCODED) {
        tsc_errmsg_setf(errmsg, "suite: %zu bytes, over the limit of %u", len,
                        TSC_SUITE_MAX_ENCODED);
        return TSC_ETOOBIG;
    }
    tsc_mp_reader_init(&r, p, len);
    int rc = dec_suite(&r, s, errmsg);
    if (rc == 0) {
        rc = tsc_suite_check(s, errmsg);
        if (rc != 0)
            tsc_errmsg_wrapf(errmsg, "suite");
    }
    if (rc != 0)
        tsc_suite_free(s);
    return rc;
}
