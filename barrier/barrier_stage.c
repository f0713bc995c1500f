/* tsc — the coordinator's current stage: one slot per participant, STARTs
 * and their retries, timeouts, and the STAGE record it proposes once every
 * slot has a result (see barrier.h).
 *
 * Slots are volatile: they hold what this engine heard, and a new leader
 * starts from what it heard itself (participants answer a repeated START
 * with their stored result, so nothing is lost by forgetting). */
#include <stdio.h>
#include <string.h>

#include "barrier/internal.h"
#include "common/alloc.h"
#include "common/time.h"

#define RECORD_RESERVE 4096 /* STAGE record bytes besides the outputs */
#define DIAG_MESSAGE   80   /* bytes of a participant's message in a diagnosis */

long tsc__barrier_find(const struct tsc__brun *r, uint64_t node)
{
    size_t lo = 0, hi = r->rec.submit.n_participants;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t id = r->by_id[mid].id;
        if (id == node)
            return (long)r->by_id[mid].index;
        if (id < node)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int tsc__barrier_is_dead(const struct tsc_barrier *b, uint64_t node)
{
    size_t lo = 0, hi = b->n_dead;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->dead[mid] == node)
            return 1;
        if (b->dead[mid] < node)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static void slot_clear(struct tsc__bslot *s)
{
    tsc_free((void *)s->res.output);
    tsc_free((void *)s->res.message);
    memset(s, 0, sizeof *s);
}

void tsc__barrier_slots_free(struct tsc_barrier *b)
{
    for (size_t i = 0; i < b->n_slots; i++)
        slot_clear(&b->slots[i]);
    tsc_free(b->slots);
    b->slots = NULL;
    b->n_slots = b->cap_slots = 0;
}

int tsc__barrier_set_result(struct tsc_barrier *b, size_t i, const struct tsc_stage_result *res)
{
    struct tsc__bslot *s = &b->slots[i];
    if (s->res.status != TSC_RESULT_PENDING)
        return 0;
    size_t out = res->output_len < b->out_cap ? res->output_len : b->out_cap;
    size_t msg = res->message_len < TSC_RUN_MAX_DIAG - 1 ? res->message_len : TSC_RUN_MAX_DIAG - 1;
    uint8_t *o = NULL;
    char *m = NULL;
    if ((out > 0 && (o = tsc_malloc(out)) == NULL) || (msg > 0 && (m = tsc_malloc(msg)) == NULL)) {
        tsc_free(o);
        b->oom = 1;
        return 0;
    }
    if (out > 0) /* the tail: the end of a log says why it failed */
        memcpy(o, res->output + (res->output_len - out), out);
    if (msg > 0)
        memcpy(m, res->message, msg);
    s->res = *res;
    s->res.output = o;
    s->res.output_len = out;
    s->res.message = m;
    s->res.message_len = msg;
    return 1;
}

static void set_status(struct tsc_barrier *b, size_t i, uint8_t status, const char *message)
{
    struct tsc_stage_result r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.message = message;
    r.message_len = strlen(message);
    tsc__barrier_set_result(b, i, &r);
}

int tsc__barrier_begin_stage(struct tsc_barrier *b)
{
    const struct tsc__brun *r = b->queue[0];
    size_t n = r->rec.submit.n_participants;
    for (size_t i = 0; i < b->n_slots; i++)
        slot_clear(&b->slots[i]);
    b->n_slots = 0;
    if (n > b->cap_slots) {
        struct tsc__bslot *p = tsc_realloc(b->slots, n * sizeof *p);
        if (p == NULL)
            return TSC_ENOMEM;
        b->slots = p;
        b->cap_slots = n;
    }
    memset(b->slots, 0, n * sizeof *b->slots);
    b->n_slots = n;
    size_t per = (b->cfg.max_record - RECORD_RESERVE) / n;
    b->out_cap = per < b->cfg.max_output ? per : b->cfg.max_output;
    b->timing = 0;
    b->proposed = 0;
    for (size_t i = 0; i < n; i++)
        if (tsc__barrier_is_dead(b, r->rec.submit.participants[i].id)) {
            set_status(b, i, TSC_RESULT_DEAD, "");
            b->stats.deaths++;
        }
    /* Slots made again (after running out of memory) for the stage a
     * CANCEL was applied in: that stage must not start anywhere now. */
    if (r->cancelled && r->next == r->cancel_stage)
        tsc__barrier_settle(b, TSC_RESULT_CANCELLED, "cancelled", 0);
    return 0;
}

/* ---- what the leader sends ------------------------------------------------ */

static void *grow(void *p, size_t *cap, size_t n, size_t size, int *oom)
{
    if (n < *cap)
        return p;
    size_t c = *cap ? *cap * 2 : 16;
    void *q = tsc_realloc(p, c * size);
    if (q == NULL) {
        *oom = 1;
        return NULL;
    }
    *cap = c;
    return q;
}

void tsc__barrier_emit_cancel(struct tsc_barrier *b, size_t i)
{
    const struct tsc__brun *r = b->queue[0];
    struct tsc_barrier_cancel *c =
        grow(b->cancels, &b->cap_cancels, b->n_cancels, sizeof *c, &b->oom);
    if (c == NULL)
        return;
    b->cancels = c;
    c = &b->cancels[b->n_cancels++];
    c->node = r->rec.submit.participants[i].id;
    c->addr = r->rec.submit.participants[i].addr;
    c->run = r->id;
    c->stage = r->next;
}

void tsc__barrier_settle(struct tsc_barrier *b, uint8_t status, const char *message, int kill)
{
    for (size_t i = 0; i < b->n_slots; i++) {
        if (b->slots[i].res.status != TSC_RESULT_PENDING)
            continue;
        set_status(b, i, status, message);
        if (status == TSC_RESULT_TIMEOUT)
            b->stats.timeouts++;
        if (b->leader && kill)
            tsc__barrier_emit_cancel(b, i);
    }
}

static int emit_start(struct tsc_barrier *b, size_t i)
{
    const struct tsc__brun *r = b->queue[0];
    struct tsc_barrier_start *s = grow(b->starts, &b->cap_starts, b->n_starts, sizeof *s, &b->oom);
    if (s == NULL)
        return TSC_ENOMEM;
    b->starts = s;
    s = &b->starts[b->n_starts++];
    s->node = r->rec.submit.participants[i].id;
    s->addr = r->rec.submit.participants[i].addr;
    s->run = r->id;
    s->stage = r->next;
    s->index = (uint32_t)i;
    s->timeout_us = tsc_runlog_timeout(&r->rec.submit, r->next);
    b->stats.starts++;
    return 0;
}

static void fmt_duration(char *out, size_t cap, uint64_t us)
{
    if (us % TSC_SEC(1) == 0)
        snprintf(out, cap, "%llu s", (unsigned long long)(us / TSC_SEC(1)));
    else if (us % TSC_MSEC(1) == 0)
        snprintf(out, cap, "%llu ms", (unsigned long long)(us / TSC_MSEC(1)));
    else
        snprintf(out, cap, "%llu us", (unsigned long long)us);
}

/* What one participant's result says in a diagnosis; "" when it passed.
 * The participant's own words are cut and made printable: the diagnosis is
 * shown on terminals and in JUnit XML. */
static void describe(const struct tsc__brun *r, size_t i, const struct tsc_stage_result *res,
                     char *out, size_t cap)
{
    const char *name = r->rec.submit.participants[i].name;
    char extra[DIAG_MESSAGE + 1];
    size_t n = res->message_len < DIAG_MESSAGE ? res->message_len : DIAG_MESSAGE;
    for (size_t k = 0; k < n; k++) {
        char c = res->message[k];
        extra[k] = c >= ' ' && c <= '~' ? c : '?';
    }
    extra[n] = 0;
    switch (res->status) {
    case TSC_RESULT_PASSED:
        out[0] = 0;
        break;
    case TSC_RESULT_FAILED:
        if (res->signal != 0)
            snprintf(out, cap, "%s failed (signal %d)", name, (int)res->signal);
        else
            snprintf(out, cap, "%s failed (exit %d)", name, (int)res->exit_code);
        break;
    case TSC_RESULT_TIMEOUT: {
        char d[32];
        fmt_duration(d, sizeof d, tsc_runlog_timeout(&r->rec.submit, r->next));
        snprintf(out, cap, "%s timed out after %s", name, d);
        break;
    }
    case TSC_RESULT_DEAD:
        snprintf(out, cap, "%s dead", name);
        break;
    case TSC_RESULT_LOST:
        snprintf(out, cap, "%s lost (its agent restarted)", name);
        break;
    case TSC_RESULT_CANCELLED:
        snprintf(out, cap, "%s cancelled", name);
        break;
    default:
        if (n > 0)
            snprintf(out, cap, "%s error: %s", name, extra);
        else
            snprintf(out, cap, "%s error", name);
        break;
    }
}

/* "stage 'case set-get run' failed: node3 timed out after 30 s; node5 dead",
 * cut at a whole item with "; +N more" when it does not fit. */
static void diagnose(const struct tsc_barrier *b, char *diag)
{
    const struct tsc__brun *r = b->queue[0];
    char label[TSC_RUN_NAME + 32], item[TSC_RUN_NAME + DIAG_MESSAGE + 64];
    size_t failed = 0, shown = 0;
    for (size_t i = 0; i < b->n_slots; i++)
        failed += b->slots[i].res.status != TSC_RESULT_PASSED;
    diag[0] = 0;
    if (failed == 0)
        return;
    tsc__barrier_stage_label(&r->rec.submit, r->next, label, sizeof label);
    size_t len = (size_t)snprintf(diag, TSC_RUN_MAX_DIAG, "stage '%s' failed: ", label);
    const size_t room = TSC_RUN_MAX_DIAG - 1 - 16; /* keeps space for "; +NNNN more" */
    for (size_t i = 0; i < b->n_slots && len < room; i++) {
        describe(r, i, &b->slots[i].res, item, sizeof item);
        if (item[0] == 0)
            continue;
        size_t n = strlen(item) + (shown > 0 ? 2 : 0);
        if (len + n > room)
            break;
        len +=
            (size_t)snprintf(diag + len, TSC_RUN_MAX_DIAG - len, "%s%s", shown ? "; " : "", item);
        shown++;
    }
    if (shown < failed)
        snprintf(diag + len, TSC_RUN_MAX_DIAG - len, "; +%zu more", failed - shown);
}

/* Encode the STAGE record of the current stage into b->proposal. Outputs
 * were cut to out_cap when they arrived; if the record still does not fit
 * max_record (long messages, many participants), cut harder until it does:
 * a record the log refuses would leave the stage undecided forever. */
static int build_proposal(struct tsc_barrier *b)
{
    const struct tsc__brun *r = b->queue[0];
    struct tsc_runlog_stage st;
    struct tsc_stage_result *res = tsc_malloc(b->n_slots * sizeof *res);
    if (res == NULL)
        return TSC_ENOMEM;
    memset(&st, 0, sizeof st);
    st.run = r->id;
    st.stage = r->next;
    st.decided_us = b->wall;
    st.n_results = b->n_slots;
    st.results = res;
    diagnose(b, st.diagnosis);
    st.outcome = st.diagnosis[0] == 0 ? TSC_STAGE_PASSED : TSC_STAGE_FAILED;
    size_t out_cap = b->out_cap, msg_cap = TSC_RUN_MAX_DIAG - 1;
    int rc;
    for (;;) {
        for (size_t i = 0; i < b->n_slots; i++) {
            res[i] = b->slots[i].res;
            if (res[i].output_len > out_cap) {
                res[i].output += res[i].output_len - out_cap;
                res[i].output_len = out_cap;
            }
            if (res[i].message_len > msg_cap)
                res[i].message_len = msg_cap;
        }
        tsc_buf_reset(&b->proposal);
        rc = tsc_runlog_encode_stage(&st, &b->proposal);
        if (rc != 0 || b->proposal.len <= b->cfg.max_record || (out_cap == 0 && msg_cap == 0))
            break;
        if (out_cap > 0)
            out_cap /= 2;
        else
            msg_cap /= 4;
    }
    tsc_free(res);
    return rc;
}

static uint64_t stage_deadline(const struct tsc_barrier *b)
{
    const struct tsc__brun *r = b->queue[0];
    if (!b->timing)
        return TSC_TIME_NEVER;
    uint64_t d = b->stage_t0 + tsc_runlog_timeout(&r->rec.submit, r->next);
    d = d < b->stage_t0 ? TSC_TIME_NEVER : d; /* overflow */
    return d + b->cfg.grace < d ? TSC_TIME_NEVER : d + b->cfg.grace;
}

static size_t n_pending(const struct tsc_barrier *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n_slots; i++)
        n += b->slots[i].res.status == TSC_RESULT_PENDING;
    return n;
}

void tsc__barrier_act(struct tsc_barrier *b)
{
    if (!b->leader || b->n_queue == 0 || b->n_slots == 0)
        return;
    const struct tsc__brun *r = b->queue[0];
    if (n_pending(b) > 0 && b->now >= stage_deadline(b)) {
        char msg[48], d[32];
        fmt_duration(d, sizeof d, tsc_runlog_timeout(&r->rec.submit, r->next));
        snprintf(msg, sizeof msg, "timed out after %s", d);
        tsc__barrier_settle(b, TSC_RESULT_TIMEOUT, msg, 1);
    }
    if (n_pending(b) > 0) {
        for (size_t i = 0; i < b->n_slots; i++) {
            struct tsc__bslot *s = &b->slots[i];
            if (s->res.status != TSC_RESULT_PENDING || s->retry > b->now)
                continue;
            if (emit_start(b, i) != 0)
                break;
            s->retry = b->now + b->cfg.retry_interval;
            if (!b->timing) {
                b->timing = 1;
                b->stage_t0 = b->now;
            }
        }
        return;
    }
    if (b->proposed && b->now < b->proposed_at + b->cfg.propose_retry)
        return;
    if (!b->proposed && build_proposal(b) != 0) {
        b->oom = 1;
        return;
    }
    b->proposed = 1;
    b->proposed_at = b->now;
    b->n_proposals = 1;
    b->stats.proposals++;
}

uint64_t tsc__barrier_deadline(const struct tsc_barrier *b)
{
    if (!b->leader || b->n_queue == 0 || b->n_slots == 0)
        return TSC_TIME_NEVER;
    if (n_pending(b) == 0)
        return b->proposed ? b->proposed_at + b->cfg.propose_retry : b->now;
    uint64_t d = stage_deadline(b);
    for (size_t i = 0; i < b->n_slots; i++)
        if (b->slots[i].res.status == TSC_RESULT_PENDING && b->slots[i].retry < d)
            d = b->slots[i].retry;
    return d;
}
