/* tsc — the suite file parser: libyaml events -> struct tsc_suite.
 * This file: the schema and the entry points; suite_yaml_event.c reads the
 * events and words the messages, suite_yaml_source.c reads files, maps
 * offsets to line:column and checks the placeholders.
 *
 * A recursive descent over libyaml's event stream, driven by the schema (see
 * docs/suites.md), rather than libyaml's document loader: events keep anchors,
 * aliases and tags visible (we reject them) and every event carries its
 * position, so each error names the place in the file. The descent only goes
 * as deep as the schema, and the first unexpected event stops it, so hostile
 * nesting costs nothing.
 *
 * Placeholders are checked after the whole file is read (vars: may come after
 * the scripts), by suite_yaml_source.c; add_script records where each script
 * came from (struct tsc__yloc) for it. */
#include "ctl/suite_yaml.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "common/alloc.h"
#include "ctl/suite_yaml_int.h"

#define MAX_FILE (4u << 20) /* bytes of a suite file */

/* ---- values ---------------------------------------------------------------- */

/* "30" (seconds), "500ms", "30s", "2m", "1h". */
static int parse_timeout(struct tsc__yp *p, const char *what, uint64_t *ms)
{
    char shown[TSC__YAML_SHOW];
    int rc = tsc__yaml_next(p);
    if (rc == 0)
        rc = tsc__yaml_want_scalar(p, what, "a duration (30s, 500ms, 2m, 1h)", 64);
    if (rc != 0)
        return rc;
    const char *v = tsc__yaml_sval(p);
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
        return tsc__yaml_fail(
            p, TSC_EINVAL, p->ev.start_mark,
            "bad %s '%s'; expected a positive whole number of seconds or one with a "
            "unit: 500ms, 30s, 2m, 1h",
            what, tsc__yaml_show(shown, v, n));
    if (x * mul > TSC_SUITE_MAX_TIMEOUT_MS)
        return tsc__yaml_fail(p, TSC_ETOOBIG, p->ev.start_mark,
                              "%s '%s' is over the limit of 7 days", what,
                              tsc__yaml_show(shown, v, n));
    *ms = x * mul;
    return 0;
}

/* {file: PATH}: the current event is the map's start. */
static int parse_file_ref(struct tsc__yp *p, char **text, char **resolved, yaml_mark_t *mark)
{
    static const char *const keys[] = {"file"};
    yaml_mark_t marks[1], start = p->ev.start_mark;
    unsigned seen = 0;
    int end, idx, rc;
    char path[4096];
    while ((rc = tsc__yaml_next_key(p, &end)) == 0 && !end) {
        if ((rc = tsc__yaml_known_key(p, keys, 1, marks, &seen, &idx)) != 0 ||
            (rc = tsc__yaml_next(p)) != 0 ||
            (rc = tsc__yaml_want_scalar(p, "'file'", "a path", sizeof path - 1)) != 0)
            return rc;
        *mark = p->ev.start_mark;
        if (p->base_dir == NULL)
            return tsc__yaml_fail(p, TSC_EINVAL, *mark,
                                  "scripts by path need a suite file to be "
                                  "relative to");
        if (tsc__yaml_join(path, sizeof path, p->base_dir, tsc__yaml_sval(p)) != 0)
            return tsc__yaml_fail(p, TSC_ETOOBIG, *mark,
                                  "the script's path is longer than %zu bytes", sizeof path - 1);
    }
    if (rc != 0)
        return rc;
    if (!seen)
        return tsc__yaml_fail(p, TSC_EINVAL, start, "expected {file: PATH}");
    size_t len;
    rc = tsc__yaml_read_file(path, TSC_SUITE_MAX_SCRIPT, text, &len);
    if (rc == TSC_ENOMEM)
        return tsc__yaml_nomem(p);
    if (rc == TSC_ETOOBIG)
        return tsc__yaml_fail(p, rc, *mark, "script file '%s' is over the limit of %u bytes", path,
                              TSC_SUITE_MAX_SCRIPT);
    if (rc != 0)
        return tsc__yaml_fail(p, rc, *mark, "cannot read script file '%s': %s", path,
                              strerror(errno));
    if (strlen(*text) != len) {
        tsc_free(*text);
        return tsc__yaml_fail(p, TSC_EINVAL, *mark, "script file '%s' contains a NUL byte", path);
    }
    *resolved = tsc_malloc(strlen(path) + 1);
    if (*resolved == NULL) {
        tsc_free(*text);
        return tsc__yaml_nomem(p);
    }
    strcpy(*resolved, path);
    return 0;
}

/* Append a script for role to st (taking role), remembering where it came
 * from. The current event is its value: a scalar or {file: PATH}. */
static int add_script(struct tsc__yp *p, struct tsc_suite_stage *st, char *role, const char *what,
                      int32_t case_i, int stage)
{
    struct tsc__yloc l = {.case_i = case_i, .stage = stage, .script = st->n_scripts};
    char *text = NULL;
    struct tsc_suite_script *v = NULL;
    int rc = tsc__yaml_grow(p, (void **)&p->locs, p->n_locs, &p->cap_locs, sizeof *p->locs);
    if (rc == 0 && (v = tsc_realloc(st->scripts, (st->n_scripts + 1) * sizeof *v)) == NULL)
        rc = tsc__yaml_nomem(p);
    if (rc == 0) {
        st->scripts = v;
        if (p->ev.type == YAML_MAPPING_START_EVENT) {
            rc = parse_file_ref(p, &text, &l.file, &l.mark);
        } else {
            l.mark = p->ev.start_mark;
            l.style = p->ev.type == YAML_SCALAR_EVENT ? p->ev.data.scalar.style : 0;
            rc = tsc__yaml_want_scalar(p, what, "a string or {file: PATH}", TSC_SUITE_MAX_SCRIPT);
            if (rc == 0)
                rc = tsc__yaml_dup_scalar(p, &text);
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
static int parse_stage(struct tsc__yp *p, const char *what, struct tsc_suite_stage *st,
                       int32_t case_i, int stage)
{
    char shown[TSC__YAML_SHOW], why[TSC_ERRMSG_SIZE], script_what[TSC__YAML_SHOW + 32];
    yaml_mark_t marks[TSC_SUITE_MAX_SCRIPTS], tmark = {0};
    int end, have_timeout = 0, rc = tsc__yaml_next(p);
    if (rc != 0)
        return rc;
    if (p->ev.type != YAML_MAPPING_START_EVENT) {
        if (p->ev.type != YAML_SCALAR_EVENT || tsc__yaml_is_null(&p->ev))
            return tsc__yaml_fail(p, TSC_EINVAL, p->ev.start_mark,
                                  "%s must be a script or a map of role: script, not %s", what,
                                  tsc__yaml_kind(&p->ev));
        char *all = tsc_calloc(1, 1);
        return all ? add_script(p, st, all, what, case_i, stage) : tsc__yaml_nomem(p);
    }
    while ((rc = tsc__yaml_next_key(p, &end)) == 0 && !end) {
        const char *k = tsc__yaml_sval(p);
        size_t klen = p->ev.data.scalar.length;
        yaml_mark_t m = p->ev.start_mark;
        if (klen == 7 && strcmp(k, "timeout") == 0) {
            if (have_timeout)
                return tsc__yaml_fail(p, TSC_EINVAL, m,
                                      "duplicate key 'timeout' (first at %zu:%zu)", tmark.line + 1,
                                      tmark.column + 1);
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
            return tsc__yaml_fail(p, TSC_EINVAL, m,
                                  "'file' is not a role; for one script file for every role write "
                                  "'all: {file: PATH}'");
        if (!is_all && tsc_suite_check_name(k, why) != 0)
            return tsc__yaml_fail(p, TSC_EINVAL, m, "bad role '%s' in %s: %s",
                                  tsc__yaml_show(shown, k, klen), what, why);
        for (size_t i = 0; i < st->n_scripts; i++)
            if (strcmp(st->scripts[i].role, is_all ? "" : k) == 0)
                return tsc__yaml_fail(p, TSC_EINVAL, m, "duplicate key '%s' (first at %zu:%zu)", k,
                                      marks[i].line + 1, marks[i].column + 1);
        if (st->n_scripts == TSC_SUITE_MAX_SCRIPTS)
            return tsc__yaml_fail(p, TSC_ETOOBIG, m, "more than %d scripts in %s",
                                  TSC_SUITE_MAX_SCRIPTS, what);
        marks[st->n_scripts] = m;
        snprintf(script_what, sizeof script_what, "the script for '%s'", k);
        char *role = NULL;
        if (is_all ? (role = tsc_calloc(1, 1)) == NULL : tsc__yaml_dup_scalar(p, &role) != 0)
            return tsc__yaml_nomem(p);
        if ((rc = tsc__yaml_next(p)) != 0) {
            tsc_free(role);
            return rc;
        }
        if ((rc = add_script(p, st, role, script_what, case_i, stage)) != 0)
            return rc;
    }
    return rc;
}

/* A list of names into *v (machines: names: or roles:). */
static int parse_select(struct tsc__yp *p, int which)
{
    const char *what = which == 0 ? "machine name" : "machine role";
    char ***v = which == 0 ? &p->s->names : &p->s->roles;
    size_t *n = which == 0 ? &p->s->n_names : &p->s->n_roles;
    size_t *cap = which == 0 ? &p->cap_names : &p->cap_roles;
    yaml_mark_t *marks = p->select_marks[which];
    int rc = tsc__yaml_next(p);
    if (rc != 0)
        return rc;
    if (p->ev.type != YAML_SEQUENCE_START_EVENT)
        return tsc__yaml_fail(p, TSC_EINVAL, p->ev.start_mark,
                              "'%s' must be a list of names, not %s",
                              which == 0 ? "names" : "roles", tsc__yaml_kind(&p->ev));
    while ((rc = tsc__yaml_next(p)) == 0 && p->ev.type != YAML_SEQUENCE_END_EVENT) {
        char *name;
        if (p->s->n_names + p->s->n_roles == TSC_SUITE_MAX_SELECT)
            return tsc__yaml_fail(p, TSC_ETOOBIG, p->ev.start_mark,
                                  "more than %d machine names and roles", TSC_SUITE_MAX_SELECT);
        if ((rc = tsc__yaml_want_name(p, what, &name)) != 0)
            return rc;
        for (size_t i = 0; i < *n; i++) {
            if (strcmp((*v)[i], name) == 0) {
                tsc_free(name);
                return tsc__yaml_fail(p, TSC_EINVAL, p->ev.start_mark,
                                      "%s '%s' appears twice (first at %zu:%zu)", what, (*v)[i],
                                      marks[i].line + 1, marks[i].column + 1);
            }
        }
        if ((rc = tsc__yaml_grow(p, (void **)v, *n, cap, sizeof **v)) != 0) {
            tsc_free(name);
            return rc;
        }
        marks[*n] = p->ev.start_mark;
        (*v)[(*n)++] = name;
    }
    return rc;
}

static int parse_machines(struct tsc__yp *p)
{
    static const char *const keys[] = {"names", "roles"};
    yaml_mark_t marks[2];
    unsigned seen = 0;
    int end, idx, rc = tsc__yaml_next(p);
    if (rc != 0)
        return rc;
    if (p->ev.type != YAML_MAPPING_START_EVENT)
        return tsc__yaml_fail(p, TSC_EINVAL, p->ev.start_mark,
                              "'machines' must be a map (names:, roles:), not %s",
                              tsc__yaml_kind(&p->ev));
    while ((rc = tsc__yaml_next_key(p, &end)) == 0 && !end)
        if ((rc = tsc__yaml_known_key(p, keys, 2, marks, &seen, &idx)) != 0 ||
            (rc = parse_select(p, idx)) != 0)
            return rc;
    return rc;
}

static int parse_vars(struct tsc__yp *p)
{
    struct tsc_suite *s = p->s;
    char shown[TSC__YAML_SHOW], what[TSC__YAML_SHOW + 16];
    int end, rc = tsc__yaml_next(p);
    if (rc != 0)
        return rc;
    if (p->ev.type != YAML_MAPPING_START_EVENT)
        return tsc__yaml_fail(p, TSC_EINVAL, p->ev.start_mark,
                              "'vars' must be a map of name: value, not %s",
                              tsc__yaml_kind(&p->ev));
    while ((rc = tsc__yaml_next_key(p, &end)) == 0 && !end) {
        yaml_mark_t m = p->ev.start_mark;
        char *name = NULL, *value = NULL;
        if (s->n_vars == TSC_SUITE_MAX_VARS)
            return tsc__yaml_fail(p, TSC_ETOOBIG, m, "more than %d variables", TSC_SUITE_MAX_VARS);
        if ((rc = tsc__yaml_want_name(p, "variable name", &name)) != 0)
            return rc;
        snprintf(what, sizeof what, "variable '%s'", tsc__yaml_show(shown, name, strlen(name)));
        if (strncmp(name, "tsc.", 4) == 0)
            rc = tsc__yaml_fail(p, TSC_EINVAL, m, "%s: names tsc.* are reserved for tsc's values",
                                what);
        for (size_t i = 0; rc == 0 && i < s->n_vars; i++)
            if (strcmp(s->vars[i].name, name) == 0)
                rc = tsc__yaml_fail(p, TSC_EINVAL, m, "duplicate key '%s' (first at %zu:%zu)", name,
                                    p->var_marks[i].line + 1, p->var_marks[i].column + 1);
        if (rc == 0 && (rc = tsc__yaml_next(p)) == 0 &&
            (rc = tsc__yaml_want_scalar(p, what, "a string, number or boolean",
                                        TSC_SUITE_MAX_VALUE)) == 0)
            rc = tsc__yaml_dup_scalar(p, &value);
        if (rc == 0)
            rc = tsc__yaml_grow(p, (void **)&s->vars, s->n_vars, &p->cap_vars, sizeof *s->vars);
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

static int parse_case(struct tsc__yp *p)
{
    static const char *const keys[] = {"name", "init", "run", "finalize"};
    struct tsc_suite *s = p->s;
    yaml_mark_t marks[4], start = p->ev.start_mark;
    char what[TSC_SUITE_MAX_NAME + 32];
    unsigned seen = 0;
    int end, idx, rc;
    if (p->ev.type != YAML_MAPPING_START_EVENT)
        return tsc__yaml_fail(p, TSC_EINVAL, start,
                              "each case must be a map (name:, init:, run:, finalize:), not %s",
                              tsc__yaml_kind(&p->ev));
    if (s->n_cases == TSC_SUITE_MAX_CASES)
        return tsc__yaml_fail(p, TSC_ETOOBIG, start, "more than %d cases", TSC_SUITE_MAX_CASES);
    if ((rc = tsc__yaml_grow(p, (void **)&s->cases, s->n_cases, &p->cap_cases, sizeof *s->cases)) !=
        0)
        return rc;
    size_t ci = s->n_cases++;
    struct tsc_suite_case *c = &s->cases[ci];
    memset(c, 0, sizeof *c);
    while ((rc = tsc__yaml_next_key(p, &end)) == 0 && !end) {
        if ((rc = tsc__yaml_known_key(p, keys, 4, marks, &seen, &idx)) != 0)
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
        if ((rc = tsc__yaml_next(p)) != 0 ||
            (rc = tsc__yaml_want_name(p, "case name", &c->name)) != 0)
            return rc;
        for (size_t i = 0; i < ci; i++)
            if (strcmp(s->cases[i].name, c->name) == 0)
                return tsc__yaml_fail(p, TSC_EINVAL, p->ev.start_mark,
                                      "duplicate case name '%s' (first at %zu:%zu)", c->name,
                                      p->case_marks[i].line + 1, p->case_marks[i].column + 1);
        p->case_marks[ci] = p->ev.start_mark;
    }
    if (rc == 0 && c->name == NULL)
        return tsc__yaml_fail(p, TSC_EINVAL, start, "case without 'name:'");
    return rc;
}

static int parse_cases(struct tsc__yp *p)
{
    int rc = tsc__yaml_next(p);
    if (rc != 0)
        return rc;
    if (p->ev.type != YAML_SEQUENCE_START_EVENT)
        return tsc__yaml_fail(p, TSC_EINVAL, p->ev.start_mark,
                              "'cases' must be a list of cases, not %s", tsc__yaml_kind(&p->ev));
    while ((rc = tsc__yaml_next(p)) == 0 && p->ev.type != YAML_SEQUENCE_END_EVENT)
        if ((rc = parse_case(p)) != 0)
            return rc;
    return rc;
}

enum { T_SUITE, T_MACHINES, T_VARS, T_TIMEOUT, T_INIT, T_CASES, T_FINALIZE, T_FOLLOW, T_N };

static int parse_top(struct tsc__yp *p)
{
    static const char *const keys[T_N] = {"suite", "machines", "vars",     "timeout",
                                          "init",  "cases",    "finalize", "follow"};
    struct tsc_suite *s = p->s;
    yaml_mark_t marks[T_N], start = p->ev.start_mark;
    unsigned seen = 0;
    int end, idx, rc;
    if (p->ev.type != YAML_MAPPING_START_EVENT)
        return tsc__yaml_fail(p, TSC_EINVAL, start,
                              "a suite file must be a map (suite:, cases:, ...), not %s",
                              tsc__yaml_kind(&p->ev));
    while ((rc = tsc__yaml_next_key(p, &end)) == 0 && !end) {
        if ((rc = tsc__yaml_known_key(p, keys, T_N, marks, &seen, &idx)) != 0)
            return rc;
        switch (idx) {
        case T_SUITE:
            rc = tsc__yaml_next(p);
            if (rc == 0)
                rc = tsc__yaml_want_name(p, "suite name", &s->name);
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
        case T_FOLLOW:
            rc = parse_stage(p, "follow", &s->follow, -3, 0);
            break;
        default:
            rc = parse_stage(p, "suite finalize", &s->finalize, -2, 0);
            break;
        }
        if (rc != 0)
            return rc;
    }
    if (rc == 0 && s->name == NULL)
        return tsc__yaml_fail(p, TSC_EINVAL, start, "missing 'suite: NAME'");
    return rc;
}

/* ---- entry points ------------------------------------------------------------ */

static int parse_stream(struct tsc__yp *p)
{
    int rc = tsc__yaml_next(p); /* stream start */
    if (rc == 0)
        rc = tsc__yaml_next(p);
    if (rc == 0 && p->ev.type == YAML_STREAM_END_EVENT)
        return tsc__yaml_fail(p, TSC_EINVAL, p->ev.start_mark,
                              "empty suite file; expected a map with 'suite: NAME'");
    if (rc == 0)
        rc = tsc__yaml_next(p); /* the document's root */
    if (rc == 0)
        rc = parse_top(p);
    if (rc == 0)
        rc = tsc__yaml_next(p); /* document end */
    if (rc == 0)
        rc = tsc__yaml_next(p);
    if (rc == 0 && p->ev.type != YAML_STREAM_END_EVENT)
        return tsc__yaml_fail(p, TSC_EINVAL, p->ev.start_mark,
                              "a second YAML document; a suite file holds one");
    if (rc == 0)
        rc = tsc__yaml_check_placeholders(p);
    return rc;
}

/* The checks of the compiled form repeat the ones above, and the encoded size
 * is only known by encoding: do both, so a loaded suite is a submittable one. */
static int final_checks(struct tsc__yp *p)
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
        return tsc__yaml_nomem(p);
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
    struct tsc__yp *p = tsc_calloc(1, sizeof *p);
    if (p == NULL) {
        tsc_errmsg_setf(errmsg, "%s: out of memory", name);
        return TSC_ENOMEM;
    }
    *p = (struct tsc__yp){
        .name = name, .src = text, .len = len, .base_dir = base_dir, .s = s, .errmsg = errmsg};
    int rc;
    if (!yaml_parser_initialize(&p->parser)) {
        rc = tsc__yaml_nomem(p);
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
    int rc = tsc__yaml_read_file(path, MAX_FILE, &text, &len);
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
