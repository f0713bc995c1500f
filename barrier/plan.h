/* tsc — a run's plan: its SUBMIT record and suite, decoded once, and the
 * START of any (stage, participant) with the script rendered for that
 * machine (common/template.h). Shared by tscd (agent/runs.c) and the
 * simulator (sim/runs.c), so both send exactly the same STARTs. Pure. */
#ifndef TSC_BARRIER_PLAN_H
#define TSC_BARRIER_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "barrier/runlog.h"
#include "common/buf.h"
#include "wire/suite.h"

struct tsc_run_plan {
    uint64_t run;          /* 0: nothing loaded */
    struct tsc_buf bytes;  /* the SUBMIT record (rec points into it) */
    struct tsc_runlog rec; /* rec.submit */
    struct tsc_suite suite;
};

void tsc_run_plan_init(struct tsc_run_plan *p);
void tsc_run_plan_free(struct tsc_run_plan *p);

/* Load run's SUBMIT record (copied), unless run is already loaded. 0,
 * TSC_EMALFORMED (not a SUBMIT, or its suite does not decode: errmsg says
 * why) or TSC_ENOMEM; on error nothing is loaded. */
int tsc_run_plan_load(struct tsc_run_plan *p, uint64_t run, const uint8_t *submit, size_t len,
                      char *errmsg);

/* The START of participant `index` for `stage`: m's strings point into p
 * and into `script` (reset first; the rendered script, NUL-terminated,
 * empty when the machine has nothing to run). A template that does not
 * render (checked at submission; it should not happen) gives a script that
 * fails the stage visibly on that machine, and errmsg says why. 0,
 * TSC_EINVAL (index or stage out of range) or TSC_ENOMEM. */
int tsc_run_plan_start(const struct tsc_run_plan *p, uint32_t stage, uint32_t index, uint64_t term,
                       uint64_t timeout_us, struct tsc_buf *script, struct tsc_stage_start *m,
                       char *errmsg);

#endif
