/* tsc — the participant's barrier engine (barrier.h, participant side).
 *
 * For each (run, stage) it remembers NOTHING / STARTED / DONE and, once
 * DONE, the result (output cut to TSC_PART_MAX_REPORT_OUTPUT): a START is
 * acted upon once, and every repeat is answered from memory. Three rules
 * keep a participant from running a stage it must not run:
 *  - fencing: a START or CANCEL from a term below the highest seen is
 *    dropped (a deposed coordinator's late messages);
 *  - order: stages only move forward. A START for a (run, stage) below the
 *    highest this participant ever started is stale (the coordinator moved
 *    on without this machine, e.g. after a timeout) and never runs. A START
 *    for a later stage while an earlier script still runs (its CANCEL got
 *    lost) kills that script and is not run yet: the coordinator repeats
 *    START every retry interval, and the repeat that comes after the kill
 *    finds nothing running;
 *  - memory: the last RUNS runs are kept; a START for a run older than any
 *    this engine forgot is dropped, since the forgotten run may have run
 *    that very stage. A run newer than every forgotten one that the engine
 *    does not know was never seen: it is fresh.
 * Inputs are borrowed for the step; whatever is kept is copied. The update's
 * result and reports point into the engine (valid until the next step);
 * update.start is the event's own START. */
#include <string.h>

#include "barrier/barrier.h"
#include "barrier/internal.h"
#include "common/alloc.h"

#define RUNS         4
#define LOST_MESSAGE "the agent restarted while the script ran"

struct pstage {
    uint32_t stage;
    uint8_t state;               /* enum tsc_part_stage_state */
    struct tsc_stage_result res; /* DONE; output and message owned */
    uint64_t to, term;           /* whom the result goes to, and the START's term */
};

struct prun {
    uint64_t run; /* 0: free */
    struct pstage *st;
    size_t n, cap;
};

struct tsc_part {
    uint64_t self;
    uint64_t max_term;
    uint64_t evicted_max; /* highest run forgotten; 0 = none */
    int has_hi;           /* the highest (run, stage) ever started or restored */
    uint64_t hi_run;
    uint32_t hi_stage;
    struct prun runs[RUNS];
    struct tsc_part_report report;
    struct tsc_part_stats stats;
};

int tsc_part_new(struct tsc_part **out, uint64_t self_id)
{
    if (self_id == 0)
        return TSC_EINVAL;
    struct tsc_part *p = tsc_calloc(1, sizeof *p);
    if (p == NULL)
        return TSC_ENOMEM;
    p->self = self_id;
    *out = p;
    return 0;
}

static void result_free(struct tsc_stage_result *r)
{
    tsc_free((void *)r->output);
    tsc_free((void *)r->message);
    memset(r, 0, sizeof *r);
}

static void run_clear(struct prun *r)
{
    for (size_t i = 0; i < r->n; i++)
        result_free(&r->st[i].res);
    tsc_free(r->st);
    memset(r, 0, sizeof *r);
}

void tsc_part_free(struct tsc_part *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < RUNS; i++)
        run_clear(&p->runs[i]);
    tsc_free(p);
}

static struct prun *run_find(struct tsc_part *p, uint64_t run)
{
    for (int i = 0; i < RUNS; i++)
        if (p->runs[i].run == run)
            return &p->runs[i];
    return NULL;
}

/* The run's entry, made if the run is fresh (forgetting the oldest when
 * memory is full), or NULL when the run is too old to know. The
 * run forgotten has no script running: START checks that first, and RESTORE
 * never leaves a stage STARTED. */
static struct prun *run_get(struct tsc_part *p, uint64_t run)
{
    struct prun *r = run_find(p, run), *slot = NULL;
    if (r != NULL)
        return r;
    if (run <= p->evicted_max)
        return NULL;
    /* A free entry if there is one, else the oldest run's. */
    for (int i = 0; i < RUNS && slot == NULL; i++)
        if (p->runs[i].run == 0)
            slot = &p->runs[i];
    if (slot == NULL) {
        slot = &p->runs[0];
        for (int i = 1; i < RUNS; i++)
            if (p->runs[i].run < slot->run)
                slot = &p->runs[i];
        if (run < slot->run)
            return NULL; /* older than everything kept: it would be forgotten at once */
        if (slot->run > p->evicted_max)
            p->evicted_max = slot->run;
        run_clear(slot);
    }
    slot->run = run;
    return slot;
}

static struct pstage *stage_find(const struct prun *r, uint32_t stage)
{
    for (size_t i = r->n; i-- > 0;)
        if (r->st[i].stage == stage)
            return &r->st[i];
    return NULL;
}

static struct pstage *stage_add(struct prun *r, uint32_t stage)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 8;
        struct pstage *s = tsc_realloc(r->st, cap * sizeof *s);
        if (s == NULL)
            return NULL;
        r->st = s;
        r->cap = cap;
    }
    struct pstage *s = &r->st[r->n++];
    memset(s, 0, sizeof *s);
    s->stage = stage;
    return s;
}

/* Keep a copy of res as the stage's result: the output's tail (what a
 * REPORT carries), the message's head. */
static int keep_result(struct pstage *s, const struct tsc_stage_result *res)
{
    size_t out =
        res->output_len < TSC_PART_MAX_REPORT_OUTPUT ? res->output_len : TSC_PART_MAX_REPORT_OUTPUT;
    size_t msg = res->message_len < TSC_RUN_MAX_DIAG - 1 ? res->message_len : TSC_RUN_MAX_DIAG - 1;
    uint8_t *o = NULL;
    char *m = NULL;
    if ((out > 0 && (o = tsc_malloc(out)) == NULL) || (msg > 0 && (m = tsc_malloc(msg)) == NULL)) {
        tsc_free(o);
        return TSC_ENOMEM;
    }
    if (out > 0)
        memcpy(o, res->output + (res->output_len - out), out);
    if (msg > 0)
        memcpy(m, res->message, msg);
    result_free(&s->res);
    s->res = *res;
    s->res.output = o;
    s->res.output_len = out;
    s->res.message = m;
    s->res.message_len = msg;
    s->state = TSC_PART_DONE;
    return 0;
}

static void note_hi(struct tsc_part *p, uint64_t run, uint32_t stage)
{
    if (!p->has_hi || run > p->hi_run || (run == p->hi_run && stage > p->hi_stage)) {
        p->has_hi = 1;
        p->hi_run = run;
        p->hi_stage = stage;
    }
}

static int below_hi(const struct tsc_part *p, uint64_t run, uint32_t stage)
{
    return p->has_hi && (run < p->hi_run || (run == p->hi_run && stage < p->hi_stage));
}

/* The run with a script still running, if any (at most one: stages start
 * one after the other). */
static const struct prun *running(const struct tsc_part *p)
{
    for (int i = 0; i < RUNS; i++)
        for (size_t k = 0; k < p->runs[i].n; k++)
            if (p->runs[i].st[k].state == TSC_PART_STARTED)
                return &p->runs[i];
    return NULL;
}

static void report(struct tsc_part *p, struct tsc_part_update *up, uint64_t run,
                   const struct pstage *s)
{
    p->report.to = s->to;
    p->report.report.node = p->self;
    p->report.report.run = run;
    p->report.report.stage = s->stage;
    p->report.report.term = s->term;
    p->report.report.result = s->res;
    up->reports = &p->report;
    up->n_reports = 1;
}

static int on_start(struct tsc_part *p, const struct tsc_part_event *ev, struct tsc_part_update *up)
{
    const struct tsc_stage_start *m = ev->start;
    if (m == NULL || m->run == 0 || (m->script_len > 0 && m->script == NULL))
        return TSC_EINVAL;
    if (m->term < p->max_term) {
        p->stats.fenced++;
        return 0;
    }
    p->max_term = m->term;
    p->stats.starts++;
    struct prun *r = run_find(p, m->run);
    struct pstage *s = r != NULL ? stage_find(r, m->stage) : NULL;
    if (s != NULL) {
        /* A repeat: the result goes to whoever asks now. */
        p->stats.repeats++;
        s->to = ev->from;
        s->term = m->term;
        if (s->state == TSC_PART_DONE)
            report(p, up, m->run, s);
        return 0;
    }
    if (below_hi(p, m->run, m->stage) || m->run <= p->evicted_max) {
        p->stats.fenced++;
        return 0;
    }
    const struct prun *busy = running(p);
    if (busy != NULL) {
        up->kill = 1;
        up->kill_run = busy->run;
        return 0;
    }
    if ((r = run_get(p, m->run)) == NULL) {
        p->stats.fenced++;
        return 0;
    }
    if ((s = stage_add(r, m->stage)) == NULL)
        return TSC_ENOMEM;
    s->to = ev->from;
    s->term = m->term;
    note_hi(p, m->run, m->stage);
    up->run = m->run;
    up->stage = m->stage;
    if (m->script_len == 0) {
        /* Nothing to run here: the barrier still needs this machine's word. */
        struct tsc_stage_result ok = {.status = TSC_RESULT_PASSED, .message = ""};
        if (keep_result(s, &ok) != 0) {
            r->n--;
            return TSC_ENOMEM;
        }
        up->persist_done = 1;
        up->result = &s->res;
        report(p, up, m->run, s);
        return 0;
    }
    s->state = TSC_PART_STARTED;
    up->persist_started = 1;
    up->spawn = 1;
    up->start = m;
    p->stats.spawned++;
    return 0;
}

static int on_done(struct tsc_part *p, const struct tsc_part_event *ev, struct tsc_part_update *up)
{
    const struct tsc_stage_result *res = ev->result;
    if (res == NULL || !tsc__barrier_result_ok(res))
        return TSC_EINVAL;
    struct prun *r = run_find(p, ev->run);
    struct pstage *s = r != NULL ? stage_find(r, ev->stage) : NULL;
    if (s == NULL || s->state != TSC_PART_STARTED)
        return 0; /* forgotten, or not ours to finish */
    int rc = keep_result(s, res);
    if (rc != 0)
        return rc;
    up->persist_done = 1;
    up->run = ev->run;
    up->stage = ev->stage;
    up->result = &s->res;
    report(p, up, ev->run, s);
    return 0;
}

static int on_restore(struct tsc_part *p, const struct tsc_part_event *ev,
                      struct tsc_part_update *up)
{
    if (ev->run == 0 || (ev->state != TSC_PART_STARTED && ev->state != TSC_PART_DONE) ||
        (ev->state == TSC_PART_DONE && (ev->result == NULL || !tsc__barrier_result_ok(ev->result))))
        return TSC_EINVAL;
    struct prun *r = run_get(p, ev->run);
    if (r == NULL)
        return 0; /* older than what we keep: forgotten */
    struct pstage *s = stage_find(r, ev->stage);
    if (s == NULL && (s = stage_add(r, ev->stage)) == NULL)
        return TSC_ENOMEM;
    note_hi(p, ev->run, ev->stage);
    if (ev->state == TSC_PART_DONE)
        return keep_result(s, ev->result);
    /* STARTED: the script belonged to the process before the restart; its
     * outcome is unknown, and running it again could do its work twice. */
    struct tsc_stage_result lost = {
        .status = TSC_RESULT_LOST, .message = LOST_MESSAGE, .message_len = sizeof LOST_MESSAGE - 1};
    int rc = keep_result(s, &lost);
    if (rc != 0)
        return rc;
    p->stats.lost++;
    up->persist_done = 1;
    up->run = ev->run;
    up->stage = ev->stage;
    up->result = &s->res;
    return 0;
}

/* Does run have a script running (STARTED) for a stage <= stage? A run the
 * engine does not remember may have anything running: say yes. */
static int runs_stage_upto(const struct tsc_part *p, uint64_t run, uint32_t stage)
{
    for (int i = 0; i < RUNS; i++) {
        if (p->runs[i].run != run)
            continue;
        for (size_t k = 0; k < p->runs[i].n; k++)
            if (p->runs[i].st[k].state == TSC_PART_STARTED && p->runs[i].st[k].stage <= stage)
                return 1;
        return 0;
    }
    return 1;
}

int tsc_part_step(struct tsc_part *p, const struct tsc_part_event *ev, struct tsc_part_update *up)
{
    memset(up, 0, sizeof *up);
    switch (ev->type) {
    case TSC_PART_EV_START:
        return on_start(p, ev, up);
    case TSC_PART_EV_DONE:
        return on_done(p, ev, up);
    case TSC_PART_EV_CANCEL:
        if (ev->run == 0)
            return TSC_EINVAL;
        if (ev->term < p->max_term) {
            p->stats.fenced++;
            return 0;
        }
        p->max_term = ev->term;
        if (!runs_stage_upto(p, ev->run, ev->stage))
            return 0; /* a late CANCEL for a stage that is over: keep what runs now */
        p->stats.cancels++;
        up->kill = 1;
        up->kill_run = ev->run;
        return 0;
    case TSC_PART_EV_RESTORE:
        return on_restore(p, ev, up);
    default:
        return TSC_EINVAL;
    }
}

int tsc_part_state(const struct tsc_part *p, uint64_t run, uint32_t stage)
{
    for (int i = 0; i < RUNS; i++) {
        if (p->runs[i].run != run || run == 0)
            continue;
        const struct pstage *s = stage_find(&p->runs[i], stage);
        return s != NULL ? s->state : TSC_PART_NONE;
    }
    return TSC_PART_NONE;
}

const struct tsc_part_stats *tsc_part_stats(const struct tsc_part *p)
{
    return &p->stats;
}
