/* tsc — suite file parser internals shared by ctl/suite_yaml.c (the schema
 * and the entry points), ctl/suite_yaml_event.c (messages and libyaml
 * events) and ctl/suite_yaml_source.c (files, positions in the source and
 * the placeholder check). Not public: names with a double underscore are internal to these
 * files. */
#ifndef TSC_CTL_SUITE_YAML_INT_H
#define TSC_CTL_SUITE_YAML_INT_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "ctl/suite_yaml.h"

#define TSC__YAML_SHOW 48 /* bytes of a quoted value in a message */

/* Where a script came from. */
struct tsc__yloc {
    int32_t case_i;   /* -1 suite init, -2 suite finalize, -3 follow */
    int stage;        /* enum tsc_suite_case_stage, for cases */
    size_t script;    /* index in the stage */
    char *file;       /* resolved path of a script file; NULL: inline */
    yaml_mark_t mark; /* the scalar's start */
    yaml_scalar_style_t style;
};

/* One parse: libyaml's state, the current event, the source and the suite
 * being built, and the marks that duplicate-key messages point back to. */
struct tsc__yp {
    yaml_parser_t parser;
    yaml_event_t ev;
    int have_ev;
    const char *name;
    const char *src;
    size_t len;
    const char *base_dir;
    struct tsc_suite *s;
    char *errmsg;
    struct tsc__yloc *locs;
    size_t n_locs, cap_locs;
    size_t cap_names, cap_roles, cap_vars, cap_cases;
    yaml_mark_t var_marks[TSC_SUITE_MAX_VARS];
    yaml_mark_t select_marks[2][TSC_SUITE_MAX_SELECT];
    yaml_mark_t case_marks[TSC_SUITE_MAX_CASES];
};

/* ---- suite_yaml_event.c: messages ---------------------------------------- */

/* s[0..n) for a message: controls and '\' as \xHH, cut with "..."; returns out. */
const char *tsc__yaml_show(char out[TSC__YAML_SHOW], const char *s, size_t n);
/* Set "NAME:LINE:COL: message" from a 0-based libyaml mark; returns rc. */
__attribute__((format(printf, 4, 5))) int tsc__yaml_fail(struct tsc__yp *p, int rc, yaml_mark_t m,
                                                         const char *fmt, ...);
/* "NAME: out of memory"; returns TSC_ENOMEM. */
int tsc__yaml_nomem(struct tsc__yp *p);

/* ---- suite_yaml_event.c: events ------------------------------------------ */

/* Fetch the next event into p->ev, refusing aliases, anchors and tags. */
int tsc__yaml_next(struct tsc__yp *p);
/* The event is a plain null scalar ("", ~, null). */
int tsc__yaml_is_null(const yaml_event_t *e);
/* "a map", "a list", "a string", ... for messages. */
const char *tsc__yaml_kind(const yaml_event_t *e);
/* The current event must be a non-null scalar of at most max bytes. */
int tsc__yaml_want_scalar(struct tsc__yp *p, const char *what, const char *expected, size_t max);
/* The current scalar's value (NUL-terminated by libyaml). */
const char *tsc__yaml_sval(const struct tsc__yp *p);
/* A copy of the current scalar (tsc_malloc) into *out. */
int tsc__yaml_dup_scalar(struct tsc__yp *p, char **out);
/* A scalar that must be a name (tsc_suite_check_name), copied to *out. */
int tsc__yaml_want_name(struct tsc__yp *p, const char *what, char **out);
/* Make room for one more element of *v, n used of *cap, grown by doubling. */
int tsc__yaml_grow(struct tsc__yp *p, void **v, size_t n, size_t *cap, size_t size);
/* Advance to the next key of a map (*end set at the map's end instead). */
int tsc__yaml_next_key(struct tsc__yp *p, int *end);
/* Index of the current key in keys[n] into *idx; unknown and repeated keys
 * are errors (seen: bit i for keys[i]; marks[i]: where it was). */
int tsc__yaml_known_key(struct tsc__yp *p, const char *const *keys, int n, yaml_mark_t *marks,
                        unsigned *seen, int *idx);

/* ---- suite_yaml_source.c ------------------------------------------------- */

/* dir/rel into out (size bytes); rel as it is when absolute or dir is "".
 * 0, or -1 when it does not fit. */
int tsc__yaml_join(char *out, size_t size, const char *dir, const char *rel);
/* Read a whole file of at most max bytes into *out (tsc_malloc,
 * NUL-terminated), its length in *len. 0, TSC_EIO (errno kept from the
 * failing call), TSC_ETOOBIG or TSC_ENOMEM. */
int tsc__yaml_read_file(const char *path, size_t max, char **out, size_t *len);

/* Line and column of byte offset `to` of src, walking from byte `from` at
 * (*line, *col), counting as libyaml does. */
void tsc__yaml_locate(const char *src, size_t len, size_t from, size_t to, size_t *line,
                      size_t *col);
/* Every placeholder of every script names a built-in or a variable of vars:
 * 0, or TSC_EINVAL with errmsg at the placeholder ("FILE:LINE:COL: ..."). */
int tsc__yaml_check_placeholders(struct tsc__yp *p);

#endif
