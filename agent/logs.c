/* tsc — per-run log streams on this agent (agent/logs.h): making records,
 * writing them to LOGLOCAL before the shipper hears of them, stamps on
 * stage messages, and restoring the streams after a restart.
 *
 * Records of a stage script's output arrive by the hundred per read; they
 * are encoded into `pend` at once (their sequence numbers and clocks are
 * fixed then) and written together, one store batch per loop turn, by the
 * work callback. Any record that must be durable before something leaves
 * the agent (a SEND before its LOG_MSG, a stage's end before its REPORT) is
 * made with commit = 1, which writes everything pending first, in order.
 *
 * Restore. LOGLOCAL holds, per run, the records 1..produced (contiguous)
 * and maybe the closed marker. Runs are found by seeking to [run + 1][0];
 * produced by a binary search on "some record at or after seq exists"; the
 * clock and Lamport time are those of the last record, or the promise
 * stored at [run][TSC__LOGS_PROMISE_SEQ] before the last batch went out if that is
 * larger: later records must come after every promise already made. */
#define _GNU_SOURCE
#include "agent/logs.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "common/alloc.h"
#include "wire/mp.h"
#include "wire/record.h"

_Static_assert(TSC_RUNNER_MAX_LINE == TSC_LOGREC_MAX_TEXT, "runner lines are whole records");

#define CLOSED_SEQ UINT64_MAX

static void make_key(uint8_t key[TSC__LOGS_KEY], uint64_t run, uint64_t seq)
{
    tsc_store_put_be64(key, run);
    tsc_store_put_be64(key + 8, seq);
}

/* ---- streams -------------------------------------------------------------- */

struct tsc__logstream *tsc__logs_stream(struct tsc_agent *a, uint64_t run)
{
    for (struct tsc__logstream *x = a->logs.streams; x != NULL; x = x->next)
        if (x->run == run)
            return x;
    return NULL;
}

struct tsc__logstream *tsc__logs_stream_get(struct tsc_agent *a, uint64_t run)
{
    struct tsc__logstream *x = tsc__logs_stream(a, run);
    if (x != NULL || run == 0)
        return x;
    x = tsc_calloc(1, sizeof *x);
    if (x == NULL)
        return NULL;
    x->run = run;
    tsc_vclock_init(&x->clock);
    x->case_index = TSC_LOGREC_NO_CASE;
    x->part_case = TSC_LOGREC_NO_CASE;
    x->part_stage = UINT32_MAX;
    x->next = a->logs.streams;
    a->logs.streams = x;
    a->logs.n_streams++;
    return x;
}

void tsc__logs_set_stage(struct tsc_agent *a, uint64_t run, uint32_t stage, uint32_t case_index)
{
    struct tsc__logstream *x = tsc__logs_stream_get(a, run);
    if (x == NULL)
        return;
    x->stage = stage;
    x->case_index = case_index;
}

uint64_t tsc__logs_current_run(struct tsc_agent *a)
{
    return tsc_runner_current_run(&a->runs.runner);
}

/* ---- making records -------------------------------------------------------- */

static int pend_reserve(struct tsc__logs *l)
{
    if (l->n_pe < l->cap_pe)
        return 0;
    size_t cap = l->cap_pe ? l->cap_pe * 2 : 64;
    struct tsc__logpend *n = tsc_realloc(l->pe, cap * sizeof *n);
    if (n == NULL)
        return TSC_ENOMEM;
    l->pe = n;
    l->cap_pe = cap;
    return 0;
}

/* The core: one record of x, encoded into pend. The clock and time move
 * only when the record is made (a failed encoding rolls the tick back). */
static int make_record(struct tsc_agent *a, struct tsc__logstream *x, int kind, uint32_t stage,
                       uint32_t case_index, const void *text, size_t len,
                       const struct tsc__logstamp *carried, uint64_t *seq_out)
{
    struct tsc__logs *l = &a->logs;
    struct tsc_logrec r;
    uint64_t seq, old_seq = x->seq, old_l = x->lamport;
    if (x->closed)
        return TSC_ESTATE;
    if (len > TSC_LOGREC_MAX_TEXT)
        len = TSC_LOGREC_MAX_TEXT;
    if (pend_reserve(l) != 0)
        return TSC_ENOMEM;
    if (carried != NULL) {
        /* A receive: the carried past becomes ours (its own entry for this
         * node can never exceed our seq, a stamp cannot move us). */
        uint64_t own = tsc_vclock_get(&x->clock, a->self_id);
        if (tsc_vclock_merge(&x->clock, &carried->clock) == 0 &&
            tsc_vclock_get(&x->clock, a->self_id) != own)
            tsc_vclock_set(&x->clock, a->self_id, own);
        if (carried->lamport > x->lamport)
            x->lamport = carried->lamport;
    }
    if (tsc_vclock_tick(&x->clock, a->self_id, &seq) != 0) {
        x->lamport = old_l;
        return TSC_ENOMEM;
    }
    x->lamport++;
    memset(&r, 0, sizeof r);
    r.node = a->self_id;
    r.seq = seq;
    r.clock = x->clock; /* borrowed for the encoding */
    r.lamport = x->lamport;
    r.wall_us = tsc__agent_wall_us();
    r.run = x->run;
    r.stage = stage;
    r.case_index = case_index;
    r.kind = (uint8_t)kind;
    r.text = text;
    r.len = len;
    size_t off = l->pend.len;
    int rc = tsc_logrec_encode(&r, &l->pend);
    if (rc != 0) {
        tsc_vclock_set(&x->clock, a->self_id, old_seq);
        x->lamport = old_l;
        return rc;
    }
    x->seq = seq;
    struct tsc__logpend *p = &l->pe[l->n_pe++];
    p->run = x->run;
    p->seq = seq;
    p->off = off;
    p->len = l->pend.len - off;
    l->c.records++;
    if (seq_out != NULL)
        *seq_out = seq;
    tsc__logs_kick(a);
    return 0;
}

int tsc__logs_make(struct tsc_agent *a, uint64_t run, int kind, const void *text, size_t len,
                   const struct tsc__logstamp *carried, int commit, uint64_t *seq)
{
    struct tsc__logstream *x = tsc__logs_stream_get(a, run);
    if (x == NULL)
        return run == 0 ? TSC_EINVAL : TSC_ENOMEM;
    int rc = make_record(a, x, kind, x->stage, x->case_index, text, len, carried, seq);
    if (rc == 0 && commit)
        rc = tsc__logs_commit(a);
    return rc;
}

void tsc__logs_line(struct tsc_agent *a, uint64_t run, uint32_t stage, int is_stderr,
                    const uint8_t *p, size_t len)
{
    struct tsc__logstream *x = tsc__logs_stream_get(a, run);
    if (x == NULL)
        return;
    uint32_t ci = stage == x->part_stage ? x->part_case : TSC_LOGREC_NO_CASE;
    make_record(a, x, is_stderr ? TSC_LOGREC_STDERR : TSC_LOGREC_STDOUT, stage, ci, p, len, NULL,
                NULL);
    /* A script that prints without pause: write every few thousand lines
     * rather than hold them all until the loop turns. */
    if (a->logs.n_pe >= 8192 || a->logs.pend.len >= (8u << 20))
        tsc__logs_commit(a);
}

static int vrecordf(struct tsc_agent *a, uint64_t run, int kind,
                    const struct tsc__logstamp *carried, const char *fmt, va_list ap)
{
    char text[512];
    int n = vsnprintf(text, sizeof text, fmt, ap);
    if (n < 0)
        return TSC_EINVAL;
    size_t len = (size_t)n < sizeof text ? (size_t)n : sizeof text - 1;
    return tsc__logs_make(a, run, kind, text, len, carried, 1, NULL);
}

int tsc__logs_eventf(struct tsc_agent *a, uint64_t run, const struct tsc__logstamp *carried,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vrecordf(a, run, TSC_LOGREC_EVENT, carried, fmt, ap);
    va_end(ap);
    return rc;
}

int tsc__logs_recordf(struct tsc_agent *a, uint64_t run, int kind,
                      const struct tsc__logstamp *carried, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vrecordf(a, run, kind, carried, fmt, ap);
    va_end(ap);
    return rc;
}

void tsc__logs_stage_name(char *out, size_t cap, const char *case_name, size_t case_len,
                          uint32_t stage)
{
    static const char *const kinds[] = {"init", "run", "finalize"};
    if (case_len == 0)
        snprintf(out, cap, "suite.%s", stage == 0 ? "init" : "finalize");
    else
        snprintf(out, cap, "%.*s.%s", (int)case_len, case_name,
                 stage >= 1 ? kinds[(stage - 1) % 3] : "?");
}

/* Keep small buffers for the next burst; give big ones back. */
static void trim(struct tsc_buf *b)
{
    if (b->cap > (256u << 10))
        tsc_buf_free(b);
    else
        tsc_buf_reset(b);
}

int tsc__logs_commit(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    int rc = 0;
    size_t n = l->n_pe;
    if (n == 0)
        return 0;
    struct tsc_store_op *ops = tsc_calloc(n, sizeof *ops);
    uint8_t *keys = tsc_malloc(n * TSC__LOGS_KEY);
    if (ops == NULL || keys == NULL) {
        rc = TSC_ENOMEM;
    } else {
        for (size_t i = 0; i < n; i++) {
            make_key(keys + i * TSC__LOGS_KEY, l->pe[i].run, l->pe[i].seq);
            ops[i].space = TSC_STORE_LOGLOCAL;
            ops[i].key = keys + i * TSC__LOGS_KEY;
            ops[i].klen = TSC__LOGS_KEY;
            ops[i].val = l->pend.data + l->pe[i].off;
            ops[i].vlen = l->pe[i].len;
        }
        rc = a->store.write(&a->store, ops, n, 0, errmsg);
    }
    tsc_free(ops);
    tsc_free(keys);
    if (rc != 0) {
        /* The numbers are given out: the coordinator will see a gap, which
         * is the truth. The shipper skips what is not in the store. */
        a->c.store_errors++;
        tsc_logf(TSC_LOG_ERROR, "logs: %zu records could not be stored: %s", n,
                 errmsg[0] ? errmsg : tsc_strerror(rc));
    }
    /* Only now may the shipper hear of them (design: store first). */
    for (size_t i = 0; i < n; i++) {
        struct tsc_logship_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = TSC_LOGSHIP_EV_PRODUCED;
        ev.run = l->pe[i].run;
        ev.seq = l->pe[i].seq;
        tsc__logship_step(a, &ev);
    }
    l->n_pe = 0;
    trim(&l->pend);
    if (l->cap_pe > 8192) {
        tsc_free(l->pe);
        l->pe = NULL;
        l->cap_pe = 0;
    }
    return rc == 0 ? 0 : TSC_ESTORE;
}

void tsc__logs_close_run(struct tsc_agent *a, uint64_t run)
{
    struct tsc__logstream *x = tsc__logs_stream(a, run);
    struct tsc_logship_event ev;
    uint8_t key[TSC__LOGS_KEY];
    char errmsg[TSC_ERRMSG_SIZE];
    if (x == NULL || x->closed)
        return;
    tsc__logs_follow_stop(a, run); /* the files' last lines belong to the run */
    tsc__logs_commit(a);
    x->closed = 1;
    make_key(key, run, CLOSED_SEQ);
    if (a->store.put(&a->store, TSC_STORE_LOGLOCAL, key, sizeof key, (const uint8_t *)"", 0, 0,
                     errmsg) != 0)
        a->c.store_errors++;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_LOGSHIP_EV_CLOSE;
    ev.run = run;
    tsc__logship_step(a, &ev);
    tsc__logs_drop_msgs(a, run);
}

/* ---- stamps ------------------------------------------------------------------ */

int tsc__logs_stamp_append(struct tsc_agent *a, uint64_t run, struct tsc_buf *body)
{
    struct tsc__logstream *x = tsc__logs_stream(a, run);
    struct tsc_mp_writer w;
    if (x == NULL || x->seq == 0)
        return 0;
    size_t old = body->len;
    tsc_mp_writer_init(&w, body);
    msgpack_pack_array(&w.pk, 2);
    msgpack_pack_uint64(&w.pk, x->lamport);
    tsc_vclock_pack(&x->clock, &w);
    if (tsc_mp_writer_status(&w) != 0) {
        body->len = old;
        return TSC_ENOMEM;
    }
    return 0;
}

int tsc__logs_stamp_split(struct tsc_agent *a, const uint8_t *p, size_t len, size_t *msg_len,
                          struct tsc__logstamp *st)
{
    struct tsc_mp_reader r;
    uint32_t n;
    tsc_mp_reader_init(&r, p, len);
    if (tsc_mp_skip(&r) != 0)
        return -1;
    *msg_len = len - tsc_mp_remaining(&r);
    if (tsc_mp_remaining(&r) == 0)
        return 0;
    tsc_vclock_init(&st->clock);
    if (tsc_mp_read_array(&r, &n) != 0 || n != 2 || tsc_mp_read_uint(&r, &st->lamport) != 0 ||
        tsc_vclock_read(&r, &st->clock) != 0 || tsc_mp_remaining(&r) != 0) {
        /* The barrier must not depend on logs: the message stands. */
        tsc_vclock_free(&st->clock);
        a->logs.c.bad_stamps++;
        return 0;
    }
    return 1;
}

/* ---- agent events --------------------------------------------------------------- */

void tsc__logs_member_name(struct tsc_agent *a, uint64_t id, char *out, size_t cap)
{
    struct tsc_gossip_member m;
    struct tsc_record rec;
    struct tsc_meta meta;
    const struct tsc_meta *mp = NULL;
    if (id == a->self_id) {
        mp = &a->cfg.meta;
    } else if (tsc_gossip_member_find(a->gossip, id, &m) == 0 && m.record != NULL &&
               tsc_record_decode(a->wire.crypto, m.record, m.record_len, 0, &rec) == 0 &&
               tsc_meta_decode(rec.meta, rec.meta_len, &meta) == 0) {
        mp = &meta;
    }
    for (unsigned i = 0; mp != NULL && i < mp->n_labels; i++) {
        if (strcmp(mp->labels[i].key, "name") == 0) {
            snprintf(out, cap, "%s", mp->labels[i].val);
            return;
        }
    }
    snprintf(out, cap, "%016llx", (unsigned long long)id);
}

static int any_open(struct tsc_agent *a)
{
    for (struct tsc__logstream *x = a->logs.streams; x != NULL; x = x->next)
        if (!x->closed)
            return 1;
    return 0;
}

void tsc__logs_on_member(struct tsc_agent *a, uint64_t id, int status)
{
    char name[TSC_META_STR + 1];
    if (id == a->self_id || !any_open(a))
        return;
    tsc__logs_member_name(a, id, name, sizeof name);
    for (struct tsc__logstream *x = a->logs.streams; x != NULL; x = x->next)
        if (!x->closed)
            tsc__logs_eventf(a, x->run, NULL, "member %s %s", name, tsc_status_name(status));
}

void tsc__logs_on_coord(struct tsc_agent *a)
{
    uint64_t term = 0;
    uint64_t coord = tsc__coord_view(a, &term, NULL);
    char name[TSC_META_STR + 1];
    if (coord == a->logs.sink && term == a->logs.epoch)
        return;
    if (coord != 0 && any_open(a)) {
        tsc__logs_member_name(a, coord, name, sizeof name);
        for (struct tsc__logstream *x = a->logs.streams; x != NULL; x = x->next)
            if (!x->closed)
                tsc__logs_eventf(a, x->run, NULL, "coordinator is now %s, term %llu", name,
                                 (unsigned long long)term);
    }
    tsc__logship_sink(a);
}

/* ---- the work callback and handles ------------------------------------------------- */

static void on_work(uv_idle_t *h)
{
    struct tsc_agent *a = h->data;
    struct tsc__logs *l = &a->logs;
    /* Stop first: whatever the steps below queue kicks again. */
    uv_idle_stop(&l->work);
    l->work_on = 0;
    if (a->stopping)
        return;
    /* The failure detector's or the election's tick is due: it runs in this
     * turn's check phase, after the poll, and the work below (up to
     * INTAKE_NS of merging, batches read back and sealed) would hold back
     * the heartbeats it sends by as much, several scheduler slices on a
     * saturated host. The log work waits one turn (the poll does not block
     * while this idle handle runs). */
    if (a->due != 0) {
        tsc__logs_kick(a);
        return;
    }
    tsc__logs_commit(a);
    tsc__logship_flush(a);
    tsc__logsink_intake(a);
    tsc__logsink_flush(a);
}

void tsc__logs_kick(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    if (!l->handles || l->work_on || a->stopping)
        return;
    l->work_on = 1;
    uv_idle_start(&l->work, on_work);
}

void tsc__logs_start(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    uv_timer_init(&a->loop, &l->ship_timer);
    uv_timer_init(&a->loop, &l->sink_timer);
    uv_timer_init(&a->loop, &l->recv_timer);
    uv_idle_init(&a->loop, &l->work);
    uv_timer_init(&a->loop, &l->follow_timer);
    uv_timer_init(&a->loop, &l->write_timer);
    l->follow_timer.data = l->write_timer.data = a;
    l->ship_timer.data = l->sink_timer.data = l->recv_timer.data = a;
    l->work.data = a;
    l->handles = 1;
    if (l->n_sends > 0 || l->n_pe > 0)
        tsc__logs_kick(a);
    tsc__logs_on_coord(a);
}

void tsc__logs_close(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    if (!l->handles)
        return;
    uv_handle_t *hs[] = {(uv_handle_t *)&l->ship_timer,   (uv_handle_t *)&l->sink_timer,
                         (uv_handle_t *)&l->recv_timer,   (uv_handle_t *)&l->work,
                         (uv_handle_t *)&l->follow_timer, (uv_handle_t *)&l->write_timer};
    /* Records made but not written yet: into the WAL before we go. (The
     * sink's next write is not made: nothing of it was acknowledged, and a
     * write still running on the pool finishes before the loop ends.) */
    tsc__logs_commit(a);
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        if (!uv_is_closing(hs[i]))
            uv_close(hs[i], NULL);
}

void tsc__logs_free(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    while (l->streams != NULL) {
        struct tsc__logstream *x = l->streams;
        l->streams = x->next;
        tsc_vclock_free(&x->clock);
        tsc_free(x);
    }
    l->n_streams = 0;
    tsc_buf_free(&l->pend);
    tsc_buf_free(&l->scratch);
    tsc_free(l->pe);
    l->pe = NULL;
    l->n_pe = l->cap_pe = 0;
    tsc__logship_free(a);
    tsc__logsink_free(a);
    tsc__logs_ctl_free(a);
    tsc__logs_follow_free(a);
}

/* ---- restore ----------------------------------------------------------------------- */

struct first_key {
    uint64_t run, seq;
    int found;
};

static int take_first(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct first_key *f = ctx;
    (void)val;
    (void)vlen;
    if (klen != TSC__LOGS_KEY)
        return 0; /* not ours: keep looking */
    f->run = tsc_store_get_be64(key);
    f->seq = tsc_store_get_be64(key + 8);
    f->found = 1;
    return 1;
}

/* The first key at or after (run, seq). 1 found, 0 none, -1 store error. */
static int seek(struct tsc_agent *a, uint64_t run, uint64_t seq, struct first_key *f)
{
    uint8_t key[TSC__LOGS_KEY];
    char errmsg[TSC_ERRMSG_SIZE];
    make_key(key, run, seq);
    memset(f, 0, sizeof *f);
    if (a->store.scan_from(&a->store, TSC_STORE_LOGLOCAL, key, sizeof key, take_first, f, errmsg) !=
        0)
        return -1;
    return f->found;
}

/* Does run have a record with a seq in [seq, CLOSED_SEQ)? */
static int has_from(struct tsc_agent *a, uint64_t run, uint64_t seq)
{
    struct first_key f;
    return seek(a, run, seq, &f) == 1 && f.run == run && f.seq < TSC__LOGS_PROMISE_SEQ;
}

static int restore_run(struct tsc_agent *a, uint64_t run, uint64_t first, char *errmsg)
{
    uint64_t lo = first, hi = TSC__LOGS_PROMISE_SEQ - 1;
    struct tsc_buf v;
    struct tsc_logrec rec;
    uint8_t key[TSC__LOGS_KEY];
    /* Largest seq with a record: lo has one, everything above hi has none. */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2 + 1;
        if (has_from(a, run, mid))
            lo = mid;
        else
            hi = mid - 1;
    }
    tsc_buf_init(&v);
    tsc_logrec_init(&rec);
    make_key(key, run, lo);
    int rc = a->store.get(&a->store, TSC_STORE_LOGLOCAL, key, sizeof key, &v, errmsg);
    if (rc == 0 && tsc_logrec_decode(v.data, v.len, &rec) != 0)
        rc = TSC_EMALFORMED;
    struct tsc__logstream *x = rc == 0 ? tsc__logs_stream_get(a, run) : NULL;
    if (x != NULL && tsc_vclock_copy(&x->clock, &rec.clock) == 0) {
        x->seq = lo;
        x->lamport = rec.lamport;
        x->stage = rec.stage;
        x->case_index = rec.case_index;
        tsc_buf_reset(&v);
        make_key(key, run, CLOSED_SEQ);
        x->closed = a->store.get(&a->store, TSC_STORE_LOGLOCAL, key, sizeof key, &v, NULL) == 0;
        /* The promise shipped before the restart binds the records to come. */
        tsc_buf_reset(&v);
        make_key(key, run, TSC__LOGS_PROMISE_SEQ);
        if (a->store.get(&a->store, TSC_STORE_LOGLOCAL, key, sizeof key, &v, NULL) == 0 &&
            v.len == 8 && tsc_store_get_be64(v.data) > x->lamport)
            x->lamport = tsc_store_get_be64(v.data);
        struct tsc_logship_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = TSC_LOGSHIP_EV_RESTORE;
        ev.run = run;
        ev.seq = lo;
        ev.done = x->closed;
        tsc__logship_step(a, &ev);
    } else if (rc == 0) {
        rc = TSC_ENOMEM;
    }
    if (rc != 0)
        tsc_logf(TSC_LOG_WARN, "logs: run %llu: cannot restore its stream (%s); skipped",
                 (unsigned long long)run, tsc_strerror(rc));
    tsc_logrec_free(&rec);
    tsc_buf_free(&v);
    return rc == TSC_ESTORE ? rc : 0;
}

static void read_drop_hook(struct tsc_agent *a)
{
    const char *s = getenv("TSC_TEST_LOG_DROP");
    unsigned long long run, seq;
    char tail;
    if (s == NULL || s[0] == '\0')
        return;
    if (sscanf(s, "%llu:%llu%c", &run, &seq, &tail) != 2 || seq == 0) {
        tsc_logf(TSC_LOG_WARN, "TSC_TEST_LOG_DROP=%s: want RUN:SEQ; ignored", s);
        return;
    }
    a->logs.drop_run = run;
    a->logs.drop_seq = seq;
    tsc_logf(TSC_LOG_WARN, "test hook: record %llu of run %llu%s will never be shipped", seq, run,
             run == 0 ? " (every run)" : "");
}

int tsc__logs_open(struct tsc_agent *a, char *errmsg)
{
    struct first_key f;
    uint64_t run = 0;
    size_t n = 0;
    read_drop_hook(a);
    for (;;) {
        int found = seek(a, run, 0, &f);
        if (found < 0) {
            tsc_errmsg_setf(errmsg, "logs: cannot read the local log store");
            return TSC_ESTORE;
        }
        if (!found)
            break;
        if (f.seq < TSC__LOGS_PROMISE_SEQ) {
            int rc = restore_run(a, f.run, f.seq, errmsg);
            if (rc != 0)
                return rc;
            n++;
        }
        if (f.run == UINT64_MAX)
            break;
        run = f.run + 1;
    }
    if (n > 0)
        tsc_logf(TSC_LOG_INFO, "logs: %zu run stream(s) restored", n);
    return 0;
}
