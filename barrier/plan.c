/* tsc — a run's plan: decode once, render STARTs (see plan.h). */
#include "barrier/plan.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/template.h"

#define N_BUILTINS 9

void tsc_run_plan_init(struct tsc_run_plan *p)
{
    memset(p, 0, sizeof *p);
    tsc_buf_init(&p->bytes);
}

static void unload(struct tsc_run_plan *p)
{
    if (p->run != 0) {
        tsc_suite_free(&p->suite);
        tsc_runlog_free(&p->rec);
    }
    p->run = 0;
}

void tsc_run_plan_free(struct tsc_run_plan *p)
{
    unload(p);
    tsc_buf_free(&p->bytes);
}

int tsc_run_plan_load(struct tsc_run_plan *p, uint64_t run, const uint8_t *submit, size_t len,
                      char *errmsg)
{
    if (p->run == run && run != 0)
        return 0;
    unload(p);
    tsc_buf_reset(&p->bytes);
    if (tsc_buf_append(&p->bytes, submit, len) != 0)
        return TSC_ENOMEM;
    if (tsc_runlog_decode(p->bytes.data, p->bytes.len, &p->rec) != 0) {
        tsc_errmsg_setf(errmsg, "run %llu: its SUBMIT record does not decode",
                        (unsigned long long)run);
        return TSC_EMALFORMED;
    }
    if (p->rec.kind != TSC_RUNLOG_SUBMIT ||
        tsc_suite_decode(p->rec.submit.suite, p->rec.submit.suite_len, &p->suite, errmsg) != 0) {
        tsc_runlog_free(&p->rec);
        tsc_errmsg_wrapf(errmsg, "run %llu: suite", (unsigned long long)run);
        return TSC_EMALFORMED;
    }
    p->run = run;
    return 0;
}

static void ip_text(uint32_t ip, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

/* "name=address ..." of every participant, in index order. */
static int machines_text(const struct tsc_runlog_submit *s, struct tsc_buf *out)
{
    for (size_t j = 0; j < s->n_participants; j++) {
        char line[TSC_RUN_NAME + 24], ip[16];
        ip_text(s->participants[j].addr.ip, ip);
        int n = snprintf(line, sizeof line, "%s%s=%s", j ? " " : "", s->participants[j].name, ip);
        if (tsc_buf_append(out, line, (size_t)n) != 0)
            return TSC_ENOMEM;
    }
    return tsc_buf_append(out, "", 1);
}

/* Render text for participant i into out (NUL-terminated). */
static int render(const struct tsc_run_plan *p, const char *text, uint32_t i, int kind,
                  const char *case_name, struct tsc_buf *out, char *errmsg)
{
    const struct tsc_runlog_submit *s = &p->rec.submit;
    const struct tsc_run_participant *me = &s->participants[i];
    char idx[24], cnt[24], runid[24], ip[16];
    struct tsc_buf machines;
    size_t nv = p->suite.n_vars;
    struct tsc_template_value *vals = tsc_calloc(nv + N_BUILTINS, sizeof *vals);
    int rc = TSC_ENOMEM;
    tsc_buf_init(&machines);
    if (vals != NULL && machines_text(s, &machines) == 0) {
        ip_text(me->addr.ip, ip);
        snprintf(idx, sizeof idx, "%u", i);
        snprintf(cnt, sizeof cnt, "%zu", s->n_participants);
        snprintf(runid, sizeof runid, "%llu", (unsigned long long)p->run);
        for (size_t j = 0; j < nv; j++) {
            vals[j].name = p->suite.vars[j].name;
            vals[j].value = p->suite.vars[j].value;
        }
        const struct tsc_template_value builtin[N_BUILTINS] = {
            {"tsc.name", me->name},
            {"tsc.address", ip},
            {"tsc.role", me->role},
            {"tsc.index", idx},
            {"tsc.count", cnt},
            {"tsc.run", runid},
            {"tsc.stage", tsc_stage_kind_name(kind)},
            {"tsc.case", case_name},
            {"tsc.machines", (const char *)machines.data},
        };
        memcpy(vals + nv, builtin, sizeof builtin);
        rc = tsc_template_render(text, strlen(text), vals, nv + N_BUILTINS, out, NULL, errmsg);
        if (rc != 0 && rc != TSC_ENOMEM) {
            /* Fail the stage visibly on that machine rather than run
             * something else. */
            const char *fail = "echo 'tsc: the script template could not be rendered' >&2; exit 2";
            tsc_buf_reset(out);
            rc = tsc_buf_append(out, fail, strlen(fail) + 1);
            if (rc == 0)
                out->len--;
        }
    }
    tsc_free(vals);
    tsc_buf_free(&machines);
    return rc;
}

int tsc_run_plan_start(const struct tsc_run_plan *p, uint32_t stage, uint32_t index, uint64_t term,
                       uint64_t timeout_us, struct tsc_buf *script, struct tsc_stage_start *m,
                       char *errmsg)
{
    const struct tsc_runlog_submit *s = &p->rec.submit;
    if (p->run == 0 || index >= s->n_participants || stage >= tsc_runlog_n_stages(s))
        return TSC_EINVAL;
    const struct tsc_run_participant *me = &s->participants[index];
    /* The SUBMIT's case count and its suite agree (the coordinator wrote
     * both), but a stage the suite does not have runs nothing. */
    const struct tsc_suite_stage *st =
        stage < tsc_suite_n_stages(&p->suite) ? tsc_suite_stage_at(&p->suite, stage) : NULL;
    const char *role = me->role;
    const struct tsc_suite_script *sc =
        st != NULL ? tsc_suite_script_for(st, &role, me->role[0] ? 1 : 0) : NULL;
    int32_t ci = -1;
    int kind = tsc_stage_kind(s->n_cases, stage, &ci);
    const char *case_name = ci >= 0 && (size_t)ci < p->suite.n_cases ? p->suite.cases[ci].name : "";
    const struct tsc_suite_script *fo =
        tsc_suite_script_for(&p->suite.follow, &role, me->role[0] ? 1 : 0);
    int rc = 0;
    size_t script_len = 0, follow_at = 0;
    tsc_buf_reset(script);
    if (sc != NULL && sc->text[0] != '\0')
        rc = render(p, sc->text, index, kind, case_name, script, errmsg);
    if (rc != 0)
        return rc;
    /* The follow list goes after the script's NUL in the same buffer; the
     * pointers are taken once both are written (the buffer may move). */
    script_len = script->len;
    if (fo != NULL && fo->text[0] != '\0') {
        struct tsc_buf f;
        tsc_buf_init(&f);
        rc = render(p, fo->text, index, kind, case_name, &f, errmsg);
        if (rc == 0 && tsc_buf_append(script, "", 1) != 0)
            rc = TSC_ENOMEM;
        follow_at = script->len;
        if (rc == 0 && tsc_buf_append(script, f.data, f.len) != 0)
            rc = TSC_ENOMEM;
        tsc_buf_free(&f);
        if (rc != 0)
            return rc;
    }
    memset(m, 0, sizeof *m);
    m->run = p->run;
    m->stage = stage;
    m->term = term;
    m->index = index;
    m->timeout_us = timeout_us;
    m->script = script_len ? (const char *)script->data : "";
    m->script_len = script_len;
    if (follow_at > 0 && script->len > follow_at) {
        m->follow = (const char *)script->data + follow_at;
        m->follow_len = script->len - follow_at;
    }
    m->case_name = case_name;
    m->case_name_len = strlen(case_name);
    m->role = me->role;
    m->role_len = strlen(me->role);
    return 0;
}
