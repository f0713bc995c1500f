/* tsc — libFuzzer target: the suite pipeline. The same bytes go to the
 * msgpack decoder (what agents and the coordinator read) and to the YAML
 * parser (what tscctl reads; without a base directory, so no file is ever
 * opened). Besides "no crash, no over-read, no leak" (ASan/UBSan), it checks
 * that
 *   - whatever decodes or parses re-encodes, and that encoding decodes to
 *     the same suite (compared through the canonical bytes);
 *   - every script of an accepted suite renders: the checks promised that
 *     every placeholder is known.
 * Seeds: tests/suite/data/ (YAML) and the encodings of those suites. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/template.h"
#include "ctl/suite_yaml.h"
#include "wire/suite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void render_stage(const struct tsc_suite *s, const struct tsc_suite_stage *st,
                         struct tsc_template_value *vals, size_t n_vals)
{
    for (size_t i = 0; i < st->n_scripts; i++) {
        struct tsc_buf out;
        char err[TSC_ERRMSG_SIZE];
        tsc_buf_init(&out);
        const char *t = st->scripts[i].text;
        int rc = tsc_template_render(t, strlen(t), vals, n_vals, &out, NULL, err);
        CHECK(rc == 0 || rc == TSC_ENOMEM);
        tsc_buf_free(&out);
    }
    (void)s;
}

/* Every script renders with the suite's variables and every builtin. */
static void check_renders(const struct tsc_suite *s)
{
    struct tsc_template_value vals[TSC_SUITE_MAX_VARS + 16];
    size_t n = 0;
    for (size_t i = 0; i < s->n_vars; i++)
        vals[n++] = (struct tsc_template_value){s->vars[i].name, s->vars[i].value};
    for (size_t i = 0; i < tsc_template_n_builtins; i++)
        vals[n++] = (struct tsc_template_value){tsc_template_builtins[i], "x'y"};
    for (uint32_t k = 0; k < tsc_suite_n_stages(s); k++)
        render_stage(s, tsc_suite_stage_at(s, k), vals, n);
}

/* s is a checked suite: it encodes (unless the canonical form outgrows the
 * limit), and the encoding decodes to a suite that encodes the same. */
static void check_round_trip(const struct tsc_suite *s)
{
    struct tsc_buf a, b;
    struct tsc_suite d;
    char err[TSC_ERRMSG_SIZE];
    CHECK(tsc_suite_check(s, err) == 0);
    check_renders(s);
    tsc_buf_init(&a);
    tsc_buf_init(&b);
    int rc = tsc_suite_encode(s, &a, err);
    CHECK(rc == 0 || rc == TSC_EINVAL || rc == TSC_ENOMEM);
    if (rc == 0) {
        rc = tsc_suite_decode(a.data, a.len, &d, err);
        CHECK(rc == 0 || rc == TSC_ENOMEM);
        if (rc == 0) {
            CHECK(tsc_suite_encode(&d, &b, err) == 0);
            CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
            tsc_suite_free(&d);
        }
    }
    tsc_buf_free(&a);
    tsc_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tsc_suite s;
    char err[TSC_ERRMSG_SIZE];
    int rc = tsc_suite_decode(data, size, &s, err);
    CHECK(rc == 0 || rc == TSC_EMALFORMED || rc == TSC_ETOOBIG || rc == TSC_EINVAL ||
          rc == TSC_ENOMEM);
    if (rc == 0) {
        check_round_trip(&s);
        tsc_suite_free(&s);
    }
    rc = tsc_suite_parse("fuzz.yaml", (const char *)data, size, NULL, &s, err);
    CHECK(rc == 0 || rc == TSC_EINVAL || rc == TSC_ETOOBIG || rc == TSC_ENOMEM);
    if (rc != 0) {
        /* Every parse error names the place: "fuzz.yaml:LINE:COL: ". */
        CHECK(rc == TSC_ENOMEM || strncmp(err, "fuzz.yaml:", 10) == 0);
        CHECK(s.name == NULL && s.cases == NULL);
    } else {
        check_round_trip(&s);
        tsc_suite_free(&s);
    }
    return 0;
}
