/* tsc — a test suite as tscctl submits it: the compiled form of a suite file.
 *
 * tscctl parses the YAML suite file (ctl/suite_yaml.c), reads the scripts that
 * the file names by path, checks every template placeholder, and sends this
 * structure, msgpack-encoded, to an agent. The coordinator stores the encoded
 * bytes verbatim in the run's SUBMIT record (barrier/runlog.h) and renders one
 * participant's script from them when it starts a stage on that machine.
 *
 * Stages of a run, flattened (barrier/barrier.h numbers them the same way):
 *   0                 suite init
 *   1 + 3i, +1, +2    case i: init, run, finalize
 *   1 + 3n            suite finalize          (n = n_cases; 3n + 2 stages)
 * Every stage is a barrier across all participants, also when a machine has no
 * script for it (it then reports success at once).
 *
 * Which script a machine runs in a stage: the first script whose role is one of
 * the machine's roles (in the order of the suite file), else the script for
 * every role (role ""; YAML key "all"), else none.
 *
 * Encoding (msgpack map, unknown keys skipped):
 *   {"v": 1, "name": str, "names": [str], "roles": [str], "vars": [[k, v]...],
 *    "timeout_ms": u64, "init": stage, "finalize": stage, "cases": [case...],
 *    "follow": stage (only when it has scripts)}
 *   case:  {"name": str, "init": stage, "run": stage, "finalize": stage}
 *   stage: {"timeout_ms": u64, "scripts": [[role, text]...]}
 * Decoding is total and bounded by the limits below: any byte string yields a
 * suite or TSC_EMALFORMED/TSC_ETOOBIG with a message naming the field. */
#ifndef TSC_WIRE_SUITE_H
#define TSC_WIRE_SUITE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

#define TSC_SUITE_VERSION            1
#define TSC_SUITE_MAX_NAME           63 /* suite, case, role, machine and variable names */
#define TSC_SUITE_MAX_CASES          1000
#define TSC_SUITE_MAX_SCRIPTS        16 /* per stage: one per role, plus "all" */
#define TSC_SUITE_MAX_VARS           256
#define TSC_SUITE_MAX_SELECT         256         /* names + roles that select machines */
#define TSC_SUITE_MAX_VALUE          4096        /* bytes of one variable's value */
#define TSC_SUITE_MAX_SCRIPT         (64u << 10) /* bytes of one script */
#define TSC_SUITE_MAX_ENCODED        (512u << 10)
#define TSC_SUITE_DEFAULT_TIMEOUT_MS 300000u /* a stage without timeout: 5 min */
#define TSC_SUITE_MAX_TIMEOUT_MS     (7u * 24 * 3600 * 1000)

/* Names (suite, case, variable, role, machine): 1..63 bytes of
 * [A-Za-z0-9_.-], not starting with '-' or '.'. Variable names additionally
 * must not start with "tsc." (reserved for the machine's values). */
int tsc_suite_check_name(const char *s, char *errmsg);

struct tsc_suite_script {
    char *role; /* "" = every role */
    char *text; /* NUL-terminated; may contain {{ placeholders }} */
};

struct tsc_suite_stage {
    uint64_t timeout_ms; /* 0 = the suite's timeout_ms */
    size_t n_scripts;
    struct tsc_suite_script *scripts;
};

enum tsc_suite_case_stage { TSC_CASE_INIT = 0, TSC_CASE_RUN = 1, TSC_CASE_FINALIZE = 2 };

struct tsc_suite_case {
    char *name;
    struct tsc_suite_stage stage[3]; /* enum tsc_suite_case_stage */
};

struct tsc_suite_var {
    char *name;
    char *value;
};

struct tsc_suite {
    char *name;
    /* Participants: every alive member whose label name= is in names or that
     * has a role in roles; both empty = every alive member. */
    size_t n_names, n_roles;
    char **names;
    char **roles;
    size_t n_vars;
    struct tsc_suite_var *vars;
    uint64_t timeout_ms; /* default stage timeout; 0 = TSC_SUITE_DEFAULT_TIMEOUT_MS */
    struct tsc_suite_stage init, finalize;
    /* Files every machine follows while the run lasts (issue "Logs"): a
     * "script" per role like a stage's, whose text is one path per line
     * (templates allowed; a relative path is in the run's work directory).
     * Its timeout is not used. */
    struct tsc_suite_stage follow;
    size_t n_cases;
    struct tsc_suite_case *cases;
};

/* Append the encoding of s to out. 0, TSC_EINVAL (s breaks a limit or a
 * name rule; errmsg says which) or TSC_ENOMEM; out unchanged on error. */
int tsc_suite_encode(const struct tsc_suite *s, struct tsc_buf *out, char *errmsg);

/* Decode into s (no initialisation needed); everything is copied out of p.
 * Also runs tsc_suite_check. 0, TSC_EMALFORMED, TSC_ETOOBIG, TSC_EINVAL or
 * TSC_ENOMEM with errmsg; on error nothing stays allocated. */
int tsc_suite_decode(const uint8_t *p, size_t len, struct tsc_suite *s, char *errmsg);

/* Names, limits, unique case and variable names, and every placeholder of
 * every script known (a suite variable or a tsc.* value: common/template.h).
 * 0 or TSC_EINVAL with a message naming the case, stage and role. */
int tsc_suite_check(const struct tsc_suite *s, char *errmsg);

void tsc_suite_free(struct tsc_suite *s);

/* Number of stages of a run of s: 3 * n_cases + 2. */
uint32_t tsc_suite_n_stages(const struct tsc_suite *s);

/* The stage definition of flattened stage index k (< tsc_suite_n_stages). */
const struct tsc_suite_stage *tsc_suite_stage_at(const struct tsc_suite *s, uint32_t k);

/* The effective timeout of stage k in ms. */
uint64_t tsc_suite_timeout_ms(const struct tsc_suite *s, uint32_t k);

/* The script a machine with these roles runs in stage st (rule above), or
 * NULL for none. */
const struct tsc_suite_script *tsc_suite_script_for(const struct tsc_suite_stage *st,
                                                    const char *const *roles, size_t n_roles);

#endif
