/* tsc — script templates: one placeholder syntax, every value shell-quoted.
 *
 * A placeholder is "{{", optional blanks, a name, optional blanks, "}}".
 * Names: [A-Za-z0-9_.-]+. Any other "{{" is an error. Values come from the
 * suite's variables and from the machine that runs the script:
 *   tsc.name     the machine's name (label name=, else "node-" + 16 hex digits of its id)
 *   tsc.address  its IPv4 address as the cluster sees it
 *   tsc.role     the role it runs the script for ("" for an "all" script
 *                on a machine without roles)
 *   tsc.index    its index among the run's participants, 0-based
 *   tsc.count    the number of participants
 *   tsc.run      the run id;  tsc.stage  the stage name ("init", "run", ...);
 *   tsc.case     the case name ("" in suite stages)
 *   tsc.machines every participant as "name=address", separated by spaces,
 *                in index order
 *   tsc.open     the two characters "{{", NOT quoted (the only way to write
 *                a literal "{{" in a script)
 * Every other value is inserted as ONE POSIX shell word in single quotes
 * ('it'\''s'), so no value can inject a command, whatever it contains. Use
 * placeholders as bare words (VAR={{ x }}, cmd {{ x }}): inside a
 * double-quoted shell string the quote characters would stay literal.
 *
 * Pure: no I/O, no allocation except in `out`. */
#ifndef TSC_COMMON_TEMPLATE_H
#define TSC_COMMON_TEMPLATE_H

#include <stddef.h>

#include "common/buf.h"

#define TSC_TEMPLATE_MAX_NAME 127

struct tsc_template_value {
    const char *name;
    const char *value;
};

/* The names tsc.* that tsc provides (for tsc_template_check callers). */
extern const char *const tsc_template_builtins[];
extern const size_t tsc_template_n_builtins;

/* Is `name` (len bytes) a tsc.* builtin? */
int tsc_template_is_builtin(const char *name, size_t len);

/* Called for each placeholder by tsc_template_scan: name (not NUL-terminated)
 * and the byte offset of its "{{" in text. Return nonzero to stop the scan;
 * that value is returned by tsc_template_scan. */
typedef int (*tsc_template_visit_fn)(void *ctx, const char *name, size_t name_len, size_t offset);

/* Visit every placeholder of text[0..len). Returns 0, the visitor's nonzero
 * value, or TSC_EMALFORMED for a bad "{{" with *err_offset its offset and
 * errmsg the reason ("unterminated placeholder", "bad placeholder name"). */
int tsc_template_scan(const char *text, size_t len, tsc_template_visit_fn fn, void *ctx,
                      size_t *err_offset, char *errmsg);

/* Render text into out (appended, NUL-terminated, the NUL not counted in
 * out->len): each placeholder is replaced by its quoted value from vals
 * (the last entry of a name wins), tsc.open by "{{". 0, TSC_EMALFORMED (bad
 * placeholder), TSC_ENOTFOUND (unknown name; errmsg names it) or TSC_ENOMEM;
 * *err_offset (may be NULL) is the placeholder's offset on error. */
int tsc_template_render(const char *text, size_t len, const struct tsc_template_value *vals,
                        size_t n_vals, struct tsc_buf *out, size_t *err_offset, char *errmsg);

/* Append v as one single-quoted POSIX shell word. 0 or TSC_ENOMEM. */
int tsc_template_quote(const char *v, struct tsc_buf *out);

#endif
