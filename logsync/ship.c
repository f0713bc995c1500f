/* tsc — the agent's log shipping engine (ship.h): which records of which
 * run stream go to the coordinator next, and when to try again.
 *
 * Per stream, besides produced/acked/sent (ship.h):
 *   probing   the current sink has not answered yet: its store may lack
 *             anything, so only a probe goes out until an ACK says `have`;
 *   pending   one send asked of the driver and not yet answered (EV_SENT or
 *             EV_FAILED). One at a time per stream keeps batches contiguous
 *             when the driver sends fewer records than asked, and batches
 *             grow by themselves while the driver is busy (records produced
 *             meanwhile ride in the next one);
 *   wait_since the time since which the stream waits for the sink without
 *             progress of acked: after rto it goes back to acked + 1
 *             (go-back-N; the sink drops what it has) and rto doubles (up
 *             to retry_max_us; progress resets it to retry_us);
 *   last_send for heartbeats (an empty batch after heartbeat_us of silence,
 *             even when all is acknowledged, so the promise keeps moving).
 *
 * Memory: the stream array and the send array grow together (one send per
 * stream per step at most), before any state changes, so a failed
 * allocation leaves the engine as it was; nothing is allocated per record. */
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "logsync/ship.h"

enum { SEND_DATA = 1, SEND_EMPTY = 2 };

struct stream {
    uint64_t run, produced, acked, sent;
    int closed, finished;
    int probing, probe_out, done_out;
    int pending, pending_kind;
    uint64_t pending_first, pending_last, pending_gen;
    uint64_t wait_since, last_send, backoff_until;
    uint64_t rto; /* the current wait for progress (ship.h) */
};

struct tsc_logship {
    struct tsc_logship_config cfg;
    uint64_t sink, epoch, gen; /* gen: counts sink changes, to match answers */
    uint64_t now;
    struct stream *st; /* sorted by run */
    size_t n, cap;
    struct tsc_logship_send *sends; /* cap entries */
    size_t n_sends;
    struct tsc_logship_stats stats;
};

void tsc_logship_config_default(struct tsc_logship_config *c)
{
    memset(c, 0, sizeof *c);
    c->window = 65536;
    c->batch_records = 4096;
    c->heartbeat_us = TSC_MSEC(50);
    c->retry_us = TSC_SEC(1);
    c->retry_max_us = TSC_SEC(8);
    c->max_streams = 256;
}

int tsc_logship_new(struct tsc_logship **out, const struct tsc_logship_config *cfg, char *errmsg)
{
    if (out == NULL || cfg == NULL) {
        tsc_errmsg_setf(errmsg, "logship: no output or no configuration");
        return TSC_EINVAL;
    }
    *out = NULL;
    if (cfg->node == 0 || cfg->window == 0 || cfg->batch_records == 0 || cfg->heartbeat_us == 0 ||
        cfg->retry_us == 0 || cfg->max_streams == 0) {
        tsc_errmsg_setf(errmsg, "logship: node, window, batch_records, heartbeat_us, retry_us "
                                "and max_streams must not be 0");
        return TSC_EINVAL;
    }
    struct tsc_logship *s = tsc_calloc(1, sizeof *s);
    if (s == NULL) {
        tsc_errmsg_setf(errmsg, "logship: out of memory");
        return TSC_ENOMEM;
    }
    s->cfg = *cfg;
    *out = s;
    return 0;
}

void tsc_logship_free(struct tsc_logship *s)
{
    if (s == NULL)
        return;
    tsc_free(s->st);
    tsc_free(s->sends);
    tsc_free(s);
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Index of run, or of where it would be inserted (*found says which). */
static size_t find(const struct tsc_logship *s, uint64_t run, int *found)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->st[mid].run < run)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < s->n && s->st[lo].run == run;
    return lo;
}

static struct stream *lookup(struct tsc_logship *s, uint64_t run)
{
    int found;
    size_t i = find(s, run, &found);
    return found ? &s->st[i] : NULL;
}

/* Room for one more stream (and its send slot); nothing else changes. */
static int reserve_one(struct tsc_logship *s)
{
    if (s->n >= s->cfg.max_streams)
        return TSC_EFULL;
    if (s->n < s->cap)
        return 0;
    size_t cap = s->cap ? s->cap * 2 : 8;
    if (cap > s->cfg.max_streams)
        cap = s->cfg.max_streams;
    struct stream *st = tsc_realloc(s->st, cap * sizeof *st);
    if (st == NULL)
        return TSC_ENOMEM;
    s->st = st;
    struct tsc_logship_send *sends = tsc_realloc(s->sends, cap * sizeof *sends);
    if (sends == NULL)
        return TSC_ENOMEM; /* s->st is larger, s->cap is not: still consistent */
    s->sends = sends;
    s->cap = cap;
    return 0;
}

/* The new sink knows nothing we can rely on: start over with a probe. */
static void stream_reset(struct stream *x, uint64_t now)
{
    x->acked = x->sent = 0;
    x->finished = 0;
    x->probing = 1;
    x->probe_out = x->done_out = 0;
    x->backoff_until = 0;
    x->wait_since = now;
    x->rto = 0; /* retry_us (rto_of) */
}

static uint64_t rto_of(const struct tsc_logship *s, const struct stream *x)
{
    return x->rto > s->cfg.retry_us ? x->rto : s->cfg.retry_us;
}

static struct stream *insert(struct tsc_logship *s, uint64_t run, uint64_t produced, int closed)
{
    int found;
    size_t i = find(s, run, &found);
    memmove(&s->st[i + 1], &s->st[i], (s->n - i) * sizeof s->st[0]);
    s->n++;
    struct stream *x = &s->st[i];
    memset(x, 0, sizeof *x);
    x->run = run;
    x->produced = produced;
    x->closed = closed;
    stream_reset(x, s->now);
    s->stats.streams = s->n;
    return x;
}

/* Something the sink must still answer: the retry timer runs. */
static int outstanding(const struct stream *x)
{
    return x->pending || (x->probing && x->probe_out) || x->sent > x->acked ||
           (x->done_out && !x->finished);
}

static void emit(struct tsc_logship *s, struct stream *x, int kind, uint64_t first, uint64_t last,
                 int done)
{
    struct tsc_logship_send *o = &s->sends[s->n_sends++];
    o->run = x->run;
    o->first = first;
    o->last = last;
    o->sink = s->sink;
    o->epoch = s->epoch;
    o->done = done;
    if (!outstanding(x))
        x->wait_since = s->now;
    x->pending = 1;
    x->pending_kind = kind;
    x->pending_first = first;
    x->pending_last = last;
    x->pending_gen = s->gen;
    x->last_send = s->now;
    if (done)
        x->done_out = 1;
    s->stats.batches++;
    if (kind == SEND_DATA)
        s->stats.records_sent += last - first + 1;
}

/* Go back to acked + 1: everything since may have been lost. */
static void go_back(struct tsc_logship *s, struct stream *x)
{
    s->stats.resent += x->sent - x->acked;
    x->sent = x->acked;
    x->probe_out = 0;
    x->done_out = 0;
    x->pending = 0;
    x->wait_since = s->now;
}

/* At most one send for x: a probe, records, a DONE, or a heartbeat. */
static void pump(struct tsc_logship *s, struct stream *x)
{
    uint64_t now = s->now;
    if (s->sink == 0 || x->finished)
        return;
    if (x->backoff_until > now)
        return;
    /* No progress for retry_us (also when the driver never answered). */
    if (outstanding(x) && now - x->wait_since >= rto_of(s, x)) {
        uint64_t max =
            s->cfg.retry_max_us > s->cfg.retry_us ? s->cfg.retry_max_us : s->cfg.retry_us;
        uint64_t next = sat_add(rto_of(s, x), rto_of(s, x));
        go_back(s, x);
        x->rto = next < max ? next : max;
    }
    if (x->pending)
        return;
    if (x->probing) {
        if (!x->probe_out) {
            emit(s, x, SEND_EMPTY, 1, 0, 0);
            x->probe_out = 1;
        }
        return;
    }
    uint64_t limit = sat_add(x->acked, s->cfg.window);
    if (x->sent < x->produced && x->sent < limit) {
        uint64_t last = x->produced;
        if (last > limit)
            last = limit;
        if (last - x->sent > s->cfg.batch_records)
            last = x->sent + s->cfg.batch_records;
        emit(s, x, SEND_DATA, x->sent + 1, last, x->closed && last == x->produced);
        x->sent = last;
        return;
    }
    int all_sent = x->sent == x->produced;
    if (x->closed && all_sent && !x->done_out) {
        emit(s, x, SEND_EMPTY, x->produced + 1, x->produced, 1);
        return;
    }
    if (now - x->last_send >= s->cfg.heartbeat_us) {
        emit(s, x, SEND_EMPTY, x->produced + 1, x->produced, x->closed && all_sent);
        s->stats.heartbeats++;
    }
}

/* The earliest time x needs a step (TSC_TIME_NEVER: none). After pump, so
 * every deadline lies after now. */
static uint64_t deadline(const struct tsc_logship *s, const struct stream *x)
{
    if (s->sink == 0 || x->finished)
        return TSC_TIME_NEVER;
    if (x->backoff_until > s->now)
        return x->backoff_until;
    uint64_t d = TSC_TIME_NEVER;
    if (outstanding(x))
        d = sat_add(x->wait_since, rto_of(s, x));
    if (!x->pending && !x->probing) {
        uint64_t hb = sat_add(x->last_send, s->cfg.heartbeat_us);
        if (hb < d)
            d = hb;
    }
    return d;
}

static int on_ack(struct tsc_logship *s, const struct tsc_logship_event *ev, uint64_t *lamport)
{
    const struct tsc_logack *a = ev->ack;
    struct stream *x = a->run != 0 ? lookup(s, a->run) : NULL;
    if (s->sink == 0 || a->node != s->cfg.node || a->epoch != s->epoch ||
        (ev->sink != 0 && ev->sink != s->sink) || x == NULL) {
        s->stats.stale_acks++;
        return 0;
    }
    s->stats.acks++;
    *lamport = a->lamport;
    /* A sink never has more than we produced, unless our store lost records
     * (then those seqs are gone anyway): never claim to have sent them. */
    uint64_t have = a->have < x->produced ? a->have : x->produced;
    if (x->probing) {
        x->probing = 0;
        x->probe_out = 0;
    }
    if (have > x->acked) {
        x->acked = have;
        x->wait_since = s->now;
        x->rto = 0; /* progress: back to retry_us */
    }
    if (x->acked > x->sent)
        x->sent = x->acked; /* skip what the sink already has */
    if (a->done && x->closed && x->acked == x->produced) {
        x->finished = 1;
        x->done_out = 0;
    }
    return 0;
}

static int on_sent(struct tsc_logship *s, const struct tsc_logship_event *ev, int failed)
{
    struct stream *x = lookup(s, ev->run);
    if (x == NULL || !x->pending)
        return 0; /* forgotten, or a late answer after a retry */
    if (x->pending_gen != s->gen) {
        x->pending = 0; /* a send to the previous sink: the probe may go now */
        return 0;
    }
    /* Outside the batch asked for: the answer to a send that retry_us gave
     * up on (the driver held it that long), not to this one. */
    if (!failed && x->pending_kind == SEND_DATA &&
        (ev->seq < x->pending_first - 1 || ev->seq > x->pending_last))
        return 0;
    if (failed) {
        if (x->pending_kind == SEND_DATA)
            s->stats.records_sent -= x->pending_last - x->pending_first + 1;
        go_back(s, x);
        x->backoff_until = sat_add(s->now, s->cfg.retry_us);
        return 0;
    }
    x->pending = 0;
    if (x->pending_kind == SEND_DATA && ev->seq < x->pending_last && ev->seq < x->sent) {
        /* fewer records than asked (a byte limit): the rest goes next */
        s->stats.records_sent -= x->pending_last - ev->seq;
        x->sent = ev->seq > x->acked ? ev->seq : x->acked;
        if (x->done_out && x->sent < x->produced)
            x->done_out = 0; /* the DONE rode on the batch's last record */
    }
    return 0;
}

/* Reject a bad event before anything changes. */
static int check(struct tsc_logship *s, const struct tsc_logship_event *ev)
{
    const struct stream *x;
    switch (ev->type) {
    case TSC_LOGSHIP_EV_TICK:
    case TSC_LOGSHIP_EV_SINK:
        return 0;
    case TSC_LOGSHIP_EV_ACK:
        return ev->ack == NULL ? TSC_EINVAL : 0;
    case TSC_LOGSHIP_EV_PRODUCED:
        if (ev->run == 0)
            return TSC_EINVAL;
        x = lookup(s, ev->run);
        if (x == NULL)
            return ev->seq == 1 ? 0 : TSC_EINVAL;
        return ev->seq == x->produced + 1 && !x->closed ? 0 : TSC_EINVAL;
    case TSC_LOGSHIP_EV_RESTORE:
        return ev->run == 0 || lookup(s, ev->run) != NULL ? TSC_EINVAL : 0;
    case TSC_LOGSHIP_EV_SENT:
    case TSC_LOGSHIP_EV_CLOSE:
    case TSC_LOGSHIP_EV_FAILED:
    case TSC_LOGSHIP_EV_FORGET:
        return ev->run == 0 ? TSC_EINVAL : 0;
    default:
        return TSC_EINVAL;
    }
}

static void finish(struct tsc_logship *s, struct tsc_logship_update *up)
{
    uint64_t d = TSC_TIME_NEVER;
    for (size_t i = 0; i < s->n; i++) {
        uint64_t x = deadline(s, &s->st[i]);
        if (x < d)
            d = x;
    }
    up->sends = s->n_sends ? s->sends : NULL;
    up->n_sends = s->n_sends;
    up->next_deadline = d;
}

/* Apply the event, then give every stream its chance to send (in order of
 * run, so the output is deterministic). */
int tsc_logship_step(struct tsc_logship *s, const struct tsc_logship_event *ev,
                     struct tsc_logship_update *up)
{
    up->lamport = 0;
    s->n_sends = 0;
    int rc = ev == NULL ? TSC_EINVAL : check(s, ev);
    int found;
    if (rc == 0 && (ev->type == TSC_LOGSHIP_EV_RESTORE || ev->type == TSC_LOGSHIP_EV_PRODUCED) &&
        lookup(s, ev->run) == NULL)
        rc = reserve_one(s);
    if (rc != 0) {
        finish(s, up);
        return rc;
    }
    if (ev->now > s->now)
        s->now = ev->now;
    struct stream *x;
    switch (ev->type) {
    case TSC_LOGSHIP_EV_PRODUCED:
        x = lookup(s, ev->run);
        if (x == NULL) {
            /* A new run: the sink cannot have any of it, no probe needed. */
            x = insert(s, ev->run, 0, 0);
            x->probing = 0;
        }
        x->produced = ev->seq;
        break;
    case TSC_LOGSHIP_EV_RESTORE:
        insert(s, ev->run, ev->seq, ev->done != 0);
        break;
    case TSC_LOGSHIP_EV_CLOSE:
        /* a run without records here has no stream: nothing to say */
        x = lookup(s, ev->run);
        if (x != NULL)
            x->closed = 1;
        break;
    case TSC_LOGSHIP_EV_SINK:
        if (ev->sink == s->sink && ev->epoch == s->epoch)
            break;
        s->sink = ev->sink;
        s->epoch = ev->epoch;
        s->gen++;
        for (size_t i = 0; i < s->n; i++)
            stream_reset(&s->st[i], s->now);
        break;
    case TSC_LOGSHIP_EV_ACK:
        on_ack(s, ev, &up->lamport);
        break;
    case TSC_LOGSHIP_EV_SENT:
    case TSC_LOGSHIP_EV_FAILED:
        on_sent(s, ev, ev->type == TSC_LOGSHIP_EV_FAILED);
        break;
    case TSC_LOGSHIP_EV_FORGET: {
        size_t i = find(s, ev->run, &found);
        if (found) {
            memmove(&s->st[i], &s->st[i + 1], (s->n - i - 1) * sizeof s->st[0]);
            s->n--;
            s->stats.streams = s->n;
        }
        break;
    }
    default:
        break;
    }
    for (size_t i = 0; i < s->n; i++)
        pump(s, &s->st[i]);
    finish(s, up);
    return 0;
}

int tsc_logship_stream(const struct tsc_logship *s, uint64_t run, struct tsc_logship_stream *out)
{
    int found;
    size_t i = find(s, run, &found);
    if (!found)
        return TSC_ENOTFOUND;
    const struct stream *x = &s->st[i];
    out->run = x->run;
    out->produced = x->produced;
    out->acked = x->acked;
    out->sent = x->sent;
    out->closed = x->closed;
    out->finished = x->finished;
    return 0;
}

const struct tsc_logship_stats *tsc_logship_stats(const struct tsc_logship *s)
{
    return &s->stats;
}
