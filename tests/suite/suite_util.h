/* tsc — helpers shared by the suite tests: build a suite by hand (strings
 * from tsc_malloc, so tsc_suite_free releases them) and compare two. */
#ifndef TSC_TESTS_SUITE_UTIL_H
#define TSC_TESTS_SUITE_UTIL_H

#include <string.h>

#include "common/alloc.h"
#include "wire/suite.h"

static inline char *xstr(const char *s)
{
    char *p = tsc_malloc(strlen(s) + 1);
    assert_non_null(p);
    strcpy(p, s);
    return p;
}

static inline void add_script(struct tsc_suite_stage *st, const char *role, const char *text)
{
    st->scripts = tsc_realloc(st->scripts, (st->n_scripts + 1) * sizeof *st->scripts);
    assert_non_null(st->scripts);
    st->scripts[st->n_scripts].role = xstr(role);
    st->scripts[st->n_scripts].text = xstr(text);
    st->n_scripts++;
}

static inline void add_var(struct tsc_suite *s, const char *name, const char *value)
{
    s->vars = tsc_realloc(s->vars, (s->n_vars + 1) * sizeof *s->vars);
    assert_non_null(s->vars);
    s->vars[s->n_vars].name = xstr(name);
    s->vars[s->n_vars].value = xstr(value);
    s->n_vars++;
}

static inline struct tsc_suite_case *add_case(struct tsc_suite *s, const char *name)
{
    s->cases = tsc_realloc(s->cases, (s->n_cases + 1) * sizeof *s->cases);
    assert_non_null(s->cases);
    struct tsc_suite_case *c = &s->cases[s->n_cases++];
    memset(c, 0, sizeof *c);
    c->name = xstr(name);
    return c;
}

static inline void add_string(char ***v, size_t *n, const char *s)
{
    *v = tsc_realloc(*v, (*n + 1) * sizeof **v);
    assert_non_null(*v);
    (*v)[(*n)++] = xstr(s);
}

static inline int stage_equal(const struct tsc_suite_stage *a, const struct tsc_suite_stage *b)
{
    if (a->timeout_ms != b->timeout_ms || a->n_scripts != b->n_scripts)
        return 0;
    for (size_t i = 0; i < a->n_scripts; i++)
        if (strcmp(a->scripts[i].role, b->scripts[i].role) != 0 ||
            strcmp(a->scripts[i].text, b->scripts[i].text) != 0)
            return 0;
    return 1;
}

static inline int strings_equal(char *const *a, char *const *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

static inline int suite_equal(const struct tsc_suite *a, const struct tsc_suite *b)
{
    if (strcmp(a->name, b->name) != 0 || a->n_names != b->n_names || a->n_roles != b->n_roles ||
        a->n_vars != b->n_vars || a->timeout_ms != b->timeout_ms || a->n_cases != b->n_cases)
        return 0;
    if (!strings_equal(a->names, b->names, a->n_names) ||
        !strings_equal(a->roles, b->roles, a->n_roles))
        return 0;
    for (size_t i = 0; i < a->n_vars; i++)
        if (strcmp(a->vars[i].name, b->vars[i].name) != 0 ||
            strcmp(a->vars[i].value, b->vars[i].value) != 0)
            return 0;
    if (!stage_equal(&a->init, &b->init) || !stage_equal(&a->finalize, &b->finalize))
        return 0;
    for (size_t i = 0; i < a->n_cases; i++) {
        if (strcmp(a->cases[i].name, b->cases[i].name) != 0)
            return 0;
        for (int k = 0; k < 3; k++)
            if (!stage_equal(&a->cases[i].stage[k], &b->cases[i].stage[k]))
                return 0;
    }
    return 1;
}

#endif
