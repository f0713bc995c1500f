/* tsc — the coordinator's barrier engine: the queue of runs built from the
 * applied run-log records, the step function and the queries (barrier.h).
 * The current stage's slots, STARTs, timeouts and proposals live in
 * barrier_stage.c.
 *
 * Everything that decides what happens next (which run is current, which
 * stage it is at, whether it was cancelled, whether a SUBMIT found the queue
 * full) is a function of the applied records alone, so every voter computes
 * the same thing and a new coordinator continues where the old one stopped.
 * What only the leader knows (reports, timeouts) reaches the other voters
 * through the STAGE record it proposes.
 *
 * Running out of memory: after TSC_ENOMEM from EV_APPLY the driver applies
 * the same record again (every voter must apply every record). Either the
 * record was not applied, or it was and only volatile state fell short
 * (slots: made again on the next step; a START: sent at the next retry), in
 * which case the repeat is ignored as an index already applied. */
#include <stdlib.h>
#include <string.h>

#include "barrier/internal.h"
#include "common/alloc.h"
#include "common/time.h"

#define MIN_RECORD 8192
#define MAX_QUEUE  (1u << 16)
#define MAX_DEAD   (4u * TSC_RUN_MAX_PARTICIPANTS) /* node ids membership calls dead */

void tsc_barrier_config_default(struct tsc_barrier_config *c)
{
    memset(c, 0, sizeof *c);
    c->retry_interval = TSC_SEC(1);
    c->propose_retry = TSC_SEC(2);
    c->grace = TSC_SEC(2);
    c->max_record = 1u << 20;
    c->max_output = 4096;
    c->max_queue = 64;
}

int tsc_barrier_new(struct tsc_barrier **out, const struct tsc_barrier_config *cfg, char *errmsg)
{
    struct tsc_barrier_config c;
    if (cfg == NULL)
        tsc_barrier_config_default(&c);
    else
        c = *cfg;
    if (c.retry_interval == 0 || c.propose_retry == 0) {
        tsc_errmsg_setf(errmsg, "barrier: retry intervals must be > 0");
        return TSC_EINVAL;
    }
    if (c.max_record < MIN_RECORD || c.max_output > TSC_RUN_MAX_OUTPUT) {
        tsc_errmsg_setf(errmsg, "barrier: need max_record >= %u and max_output <= %u", MIN_RECORD,
                        TSC_RUN_MAX_OUTPUT);
        return TSC_EINVAL;
    }
    if (c.max_queue == 0 || c.max_queue > MAX_QUEUE) {
        tsc_errmsg_setf(errmsg, "barrier: max_queue must be 1..%u", MAX_QUEUE);
        return TSC_EINVAL;
    }
    struct tsc_barrier *b = tsc_calloc(1, sizeof *b);
    if (b == NULL || (b->done = tsc_calloc(c.max_queue, sizeof *b->done)) == NULL) {
        tsc_free(b);
        tsc_errmsg_setf(errmsg, "barrier: %s", tsc_strerror(TSC_ENOMEM));
        return TSC_ENOMEM;
    }
    b->cfg = c;
    tsc_buf_init(&b->proposal);
    *out = b;
    return 0;
}

static void run_free(struct tsc__brun *r)
{
    if (r == NULL)
        return;
    tsc_runlog_free(&r->rec);
    tsc_free(r->bytes);
    tsc_free(r->outcome);
    tsc_free(r->by_id);
    tsc_free(r);
}

void tsc_barrier_free(struct tsc_barrier *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n_queue; i++)
        run_free(b->queue[i]);
    tsc_free(b->queue);
    tsc_free(b->done);
    tsc_free(b->dead);
    tsc__barrier_slots_free(b);
    tsc_buf_free(&b->proposal);
    tsc_free(b->starts);
    tsc_free(b->cancels);
    tsc_free(b);
}

/* ---- runs ---------------------------------------------------------------- */

static int cmp_by_id(const void *a, const void *b)
{
    uint64_t x = ((const struct tsc__bid *)a)->id, y = ((const struct tsc__bid *)b)->id;
    return x < y ? -1 : x > y;
}

/* A run from its SUBMIT bytes (copied). NULL with *rc set. */
static struct tsc__brun *run_new(uint64_t id, const uint8_t *p, size_t len, int *rc)
{
    struct tsc__brun *r = tsc_calloc(1, sizeof *r);
    *rc = TSC_ENOMEM;
    if (r == NULL || (r->bytes = tsc_malloc(len)) == NULL)
        goto fail;
    memcpy(r->bytes, p, len);
    r->len = len;
    *rc = tsc_runlog_decode(r->bytes, len, &r->rec);
    if (*rc != 0)
        goto fail;
    *rc = TSC_EMALFORMED;
    if (r->rec.kind != TSC_RUNLOG_SUBMIT)
        goto fail;
    *rc = TSC_ENOMEM;
    size_t n = r->rec.submit.n_participants;
    r->id = id;
    r->n_stages = tsc_runlog_n_stages(&r->rec.submit);
    if ((r->outcome = tsc_calloc(r->n_stages, 1)) == NULL ||
        (r->by_id = tsc_malloc(n * sizeof *r->by_id)) == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        r->by_id[i].id = r->rec.submit.participants[i].id;
        r->by_id[i].index = (uint32_t)i;
    }
    qsort(r->by_id, n, sizeof *r->by_id, cmp_by_id);
    *rc = 0;
    return r;
fail:
    run_free(r);
    return NULL;
}

/* At most one run ends per step (one record applied), so the array is part
 * of the engine: a finished run is never lost to an allocation failure. */
static void push_finished(struct tsc_barrier *b, uint64_t run, int state)
{
    if (b->n_finished == sizeof b->finished / sizeof b->finished[0]) {
        b->oom = 1; /* cannot happen */
        return;
    }
    b->finished[b->n_finished].run = run;
    b->finished[b->n_finished++].state = state;
}

static void remember_done(struct tsc_barrier *b, uint64_t nonce, uint64_t run)
{
    size_t at = (b->done_head + b->n_done) % b->cfg.max_queue;
    if (b->n_done == b->cfg.max_queue)
        b->done_head = (b->done_head + 1) % b->cfg.max_queue;
    else
        b->n_done++;
    b->done[at].nonce = nonce;
    b->done[at].run = run;
}

/* Remove queue[i] as finished; the next run (if queue[0] left) starts. */
static void finish_run(struct tsc_barrier *b, size_t i, int state)
{
    struct tsc__brun *r = b->queue[i];
    push_finished(b, r->id, state);
    remember_done(b, r->rec.submit.nonce, r->id);
    memmove(b->queue + i, b->queue + i + 1, (b->n_queue - i - 1) * sizeof *b->queue);
    b->n_queue--;
    run_free(r);
    if (i == 0 && b->n_queue > 0 && tsc__barrier_begin_stage(b) != 0)
        b->oom = 1;
    if (b->n_queue == 0)
        tsc__barrier_slots_free(b);
}

static int run_state(const struct tsc__brun *r)
{
    if (r->cancelled)
        return TSC_RUN_CANCELLED;
    for (uint32_t k = 0; k < r->n_stages; k++)
        if (r->outcome[k] == TSC_STAGE_FAILED)
            return TSC_RUN_FAILED;
    return TSC_RUN_PASSED;
}

static long queue_find(const struct tsc_barrier *b, uint64_t run)
{
    for (size_t i = 0; i < b->n_queue; i++)
        if (b->queue[i]->id == run)
            return (long)i;
    return -1;
}

/* ---- applying records ----------------------------------------------------- */

/* A SUBMIT for a nonce already known is the client's retry that raced its
 * first attempt into the log: the same run, so it is dropped. */
static int apply_submit(struct tsc_barrier *b, uint64_t index, const uint8_t *p, size_t len)
{
    int rc;
    struct tsc__brun *r = run_new(index, p, len, &rc);
    if (r == NULL)
        return rc;
    if (r->rec.submit.nonce != 0 && tsc_barrier_find_nonce(b, r->rec.submit.nonce) != 0) {
        run_free(r);
        return 0;
    }
    if (b->n_queue >= b->cfg.max_queue) {
        /* "Queue full": every voter refuses it alike, so the state stays
         * identical. The update can only say FAILED; the driver knows the
         * reason from a run that finishes in the step that applied it. */
        push_finished(b, r->id, TSC_RUN_FAILED);
        remember_done(b, r->rec.submit.nonce, r->id);
        run_free(r);
        return 0;
    }
    if (b->n_queue == b->cap_queue) {
        size_t cap = b->cap_queue ? 2 * b->cap_queue : 8;
        struct tsc__brun **q = tsc_realloc(b->queue, cap * sizeof *q);
        if (q == NULL) {
            run_free(r);
            return TSC_ENOMEM;
        }
        b->queue = q;
        b->cap_queue = cap;
    }
    b->queue[b->n_queue++] = r;
    if (b->n_queue == 1 && tsc__barrier_begin_stage(b) != 0)
        b->oom = 1; /* applied all the same: the slots are made again next step */
    return 0;
}

static int apply_stage(struct tsc_barrier *b, const struct tsc_runlog_stage *st)
{
    long qi = queue_find(b, st->run);
    if (qi < 0)
        return 0; /* a run already finished */
    struct tsc__brun *r = b->queue[qi];
    if (st->n_results != r->rec.submit.n_participants) {
        b->stats.malformed++;
        return 0;
    }
    if (qi != 0 || st->stage != r->next)
        return 0; /* a repeated proposal, or a stage that is not in progress */
    r->outcome[st->stage] = st->outcome;
    r->next = tsc_stage_next(r->rec.submit.n_cases, r->outcome, st->stage, r->cancelled);
    if (r->next >= r->n_stages) {
        finish_run(b, 0, run_state(r));
        return 0;
    }
    if (tsc__barrier_begin_stage(b) != 0)
        b->oom = 1;
    return 0;
}

/* Cancel: a queued run ends at once; the running one has its stage decided
 * with CANCELLED for whoever is still running, then runs only finalize
 * stages (tsc_stage_next). */
static int apply_cancel(struct tsc_barrier *b, const struct tsc_runlog_cancel *c)
{
    long qi = queue_find(b, c->run);
    if (qi < 0 || b->queue[qi]->cancelled)
        return 0;
    struct tsc__brun *r = b->queue[qi];
    r->cancelled = 1;
    if (qi > 0) {
        finish_run(b, (size_t)qi, TSC_RUN_CANCELLED);
        return 0;
    }
    r->cancel_stage = r->next;
    tsc__barrier_settle(b, TSC_RESULT_CANCELLED, "cancelled", 0);
    if (b->leader)
        for (size_t i = 0; i < b->n_slots; i++)
            tsc__barrier_emit_cancel(b, i);
    return 0;
}

static int on_apply(struct tsc_barrier *b, const struct tsc_barrier_event *ev)
{
    struct tsc_runlog rec;
    if (ev->index == 0 || (ev->data == NULL && ev->len > 0))
        return TSC_EINVAL;
    if (ev->index <= b->last_index)
        return 0; /* applied already */
    int rc = tsc_runlog_decode(ev->data, ev->len, &rec);
    if (rc == TSC_EMALFORMED) {
        b->last_index = ev->index;
        b->stats.applied++;
        b->stats.malformed++;
        return 0;
    }
    if (rc != 0)
        return rc;
    switch (rec.kind) {
    case TSC_RUNLOG_SUBMIT:
        rc = apply_submit(b, ev->index, ev->data, ev->len);
        break;
    case TSC_RUNLOG_STAGE:
        rc = apply_stage(b, &rec.stage);
        break;
    default:
        rc = apply_cancel(b, &rec.cancel);
        break;
    }
    tsc_runlog_free(&rec);
    if (rc == 0) {
        b->last_index = ev->index;
        b->stats.applied++;
    }
    return rc;
}

/* ---- reports, membership, leadership ----------------------------------- */

static int on_report(struct tsc_barrier *b, const struct tsc_stage_report *m)
{
    if (m == NULL)
        return TSC_EINVAL;
    long i = -1;
    if (b->n_queue > 0 && b->n_slots > 0 && m->run == b->queue[0]->id &&
        m->stage == b->queue[0]->next && m->result.status != TSC_RESULT_PENDING)
        i = tsc__barrier_find(b->queue[0], m->node);
    if (i < 0 || !tsc__barrier_set_result(b, (size_t)i, &m->result)) {
        b->stats.reports_ignored++;
        return 0;
    }
    b->stats.reports++;
    return 0;
}

static int on_member(struct tsc_barrier *b, uint64_t node, int alive)
{
    size_t lo = 0, hi = b->n_dead;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->dead[mid] < node)
            lo = mid + 1;
        else
            hi = mid;
    }
    int known = lo < b->n_dead && b->dead[lo] == node;
    if (alive && known) {
        memmove(b->dead + lo, b->dead + lo + 1, (b->n_dead - lo - 1) * sizeof *b->dead);
        b->n_dead--;
    } else if (!alive && !known && b->n_dead < MAX_DEAD) {
        if (b->n_dead == b->cap_dead) {
            size_t cap = b->cap_dead ? 2 * b->cap_dead : 16;
            uint64_t *p = tsc_realloc(b->dead, cap * sizeof *p);
            if (p == NULL)
                return TSC_ENOMEM;
            b->dead = p;
            b->cap_dead = cap;
        }
        memmove(b->dead + lo + 1, b->dead + lo, (b->n_dead - lo) * sizeof *b->dead);
        b->dead[lo] = node;
        b->n_dead++;
    }
    if (alive || b->n_queue == 0 || b->n_slots == 0)
        return 0;
    long i = tsc__barrier_find(b->queue[0], node);
    if (i >= 0 && b->slots[i].res.status == TSC_RESULT_PENDING) {
        struct tsc_stage_result r = {.status = TSC_RESULT_DEAD, .message = ""};
        tsc__barrier_set_result(b, (size_t)i, &r);
        b->stats.deaths++;
        if (b->leader) /* it may only look dead: stop its script all the same */
            tsc__barrier_emit_cancel(b, (size_t)i);
    }
    return 0;
}

/* A new leadership (or a new term) starts its own clock for the stage and
 * sends START to everyone without a result at once. */
static void on_leader(struct tsc_barrier *b, int is_leader, uint64_t term)
{
    if (is_leader && (!b->leader || term != b->term)) {
        b->timing = 0;
        b->proposed = 0;
        for (size_t i = 0; i < b->n_slots; i++)
            b->slots[i].retry = 0;
    }
    if (!is_leader)
        b->proposed = 0;
    b->leader = is_leader != 0;
    b->term = term;
}

int tsc_barrier_step(struct tsc_barrier *b, const struct tsc_barrier_event *ev,
                     struct tsc_barrier_update *up)
{
    int rc = 0;
    memset(up, 0, sizeof *up);
    b->n_starts = b->n_cancels = b->n_finished = 0;
    b->n_proposals = 0;
    b->oom = 0;
    if (ev->now > b->now)
        b->now = ev->now;
    if (ev->wall_us != 0)
        b->wall = ev->wall_us;
    switch (ev->type) {
    case TSC_BARRIER_EV_TICK:
        break;
    case TSC_BARRIER_EV_APPLY:
        rc = on_apply(b, ev);
        break;
    case TSC_BARRIER_EV_LEADER:
        on_leader(b, ev->is_leader, ev->term);
        break;
    case TSC_BARRIER_EV_REPORT:
        rc = on_report(b, ev->report);
        break;
    case TSC_BARRIER_EV_MEMBER:
        rc = on_member(b, ev->node, ev->alive);
        break;
    default:
        rc = TSC_EINVAL;
        break;
    }
    /* Slots that could not be allocated when the stage began: again now. */
    if (b->n_queue > 0 && b->n_slots == 0 && tsc__barrier_begin_stage(b) != 0)
        b->oom = 1;
    tsc__barrier_act(b);
    up->starts = b->starts;
    up->n_starts = b->n_starts;
    up->cancels = b->cancels;
    up->n_cancels = b->n_cancels;
    up->proposals = &b->proposal;
    up->n_proposals = (size_t)b->n_proposals;
    up->finished = b->finished;
    up->n_finished = b->n_finished;
    up->next_deadline = tsc__barrier_deadline(b);
    if (rc == 0 && b->oom)
        rc = TSC_ENOMEM;
    return rc;
}

/* ---- queries ------------------------------------------------------------- */

void tsc_barrier_progress(const struct tsc_barrier *b, struct tsc_barrier_progress *p)
{
    memset(p, 0, sizeof *p);
    if (b->n_queue == 0)
        return;
    const struct tsc__brun *r = b->queue[0];
    p->run = r->id;
    p->stage = r->next;
    p->n_stages = r->n_stages;
    p->n_participants = r->rec.submit.n_participants;
    for (size_t i = 0; i < b->n_slots; i++)
        p->n_reported += b->slots[i].res.status != TSC_RESULT_PENDING;
    p->n_queued = b->n_queue - 1;
}

int tsc_barrier_run_submit(const struct tsc_barrier *b, uint64_t run, const uint8_t **data,
                           size_t *len)
{
    long i = queue_find(b, run);
    if (i < 0)
        return TSC_ENOTFOUND;
    *data = b->queue[i]->bytes;
    *len = b->queue[i]->len;
    return 0;
}

int tsc_barrier_current_result(const struct tsc_barrier *b, uint64_t run, size_t i)
{
    if (b->n_queue == 0 || b->queue[0]->id != run || i >= b->n_slots)
        return TSC_RESULT_PENDING;
    return b->slots[i].res.status;
}

uint64_t tsc_barrier_find_nonce(const struct tsc_barrier *b, uint64_t nonce)
{
    if (nonce == 0)
        return 0;
    for (size_t i = 0; i < b->n_queue; i++)
        if (b->queue[i]->rec.submit.nonce == nonce)
            return b->queue[i]->id;
    for (size_t i = 0; i < b->n_done; i++) {
        const struct tsc__bdone *d = &b->done[(b->done_head + i) % b->cfg.max_queue];
        if (d->nonce == nonce)
            return d->run;
    }
    return 0;
}

const struct tsc_barrier_stats *tsc_barrier_stats(const struct tsc_barrier *b)
{
    return &b->stats;
}
