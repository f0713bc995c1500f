/* tsc — the suite file (YAML) that tscctl reads and compiles into a
 * struct tsc_suite (wire/suite.h). The format is documented in
 * docs/suites.md; libyaml does the YAML, this module the schema, the script
 * files and the placeholder checks, so that every mistake in a suite is found
 * before a run is submitted, with the place it was made. */
#ifndef TSC_CTL_SUITE_YAML_H
#define TSC_CTL_SUITE_YAML_H

#include <stddef.h>

#include "wire/suite.h"

/* Load a suite file. Scripts given by path ({file: PATH}) are read relative to the suite file's
 * directory. Every mistake gives TSC_EINVAL (or TSC_EIO when a file cannot be read, TSC_ETOOBIG
 * over a limit) with errmsg "FILE:LINE:COLUMN: message" (1-based line and column, FILE as given;
 * for a placeholder error inside a script file, the script file's path and the position inside
 * it; inside an inline YAML scalar, the position of the placeholder in the YAML file — exact for
 * plain/literal block scalars, the scalar's start for folded/quoted ones is acceptable). On error
 * nothing stays allocated. */
int tsc_suite_load(const char *path, struct tsc_suite *s, char *errmsg);

/* The same from text in memory; name is used in messages; base_dir resolves script paths (NULL:
 * scripts by path are an error). */
int tsc_suite_parse(const char *name, const char *text, size_t len, const char *base_dir,
                    struct tsc_suite *s, char *errmsg);

#endif
