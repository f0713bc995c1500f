/* tsc — the log control ops (wire/control.h) and the messages between stage
 * scripts.
 *
 * log, send and recv are answered by the agent they are sent to: a stage
 * script talks to its own agent through $TSC_SOCKET, and run 0 means the
 * run whose stage this agent runs now. `send` makes a SEND record (written
 * before the message leaves) and sends a LOG_MSG with that record's stamp
 * to the peer's agent, which queues it in a bounded in-memory mailbox;
 * `recv` takes the oldest matching message (a RECV record that merges the
 * sender's clock, so the merged log puts the send first) or waits for one
 * (the reply is deferred, with a timeout).
 *
 * logs and log_index are answered by the acting coordinator (others
 * forward them, control.c) from its store only: what LOGS and LOGMETA hold
 * is durable and consistent (one synced batch writes records and rows),
 * so `finished` is never seen before the last records. LOGS values are
 * blocks of consecutive records (logs.h): a reader seeks to the first block
 * that can hold its first index and walks the blocks' records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "agent/logs.h"
#include "common/alloc.h"
#include "wire/mp.h"

#define LOGS_MAX_BYTES     (2u << 20) /* record bytes per `logs` answer: a short stall, one frame */
#define LOGS_DEFAULT_LIMIT 1000

/* ---- helpers ------------------------------------------------------------------ */

/* run 0: the current one. 0 or TSC_ESTATE with errmsg. */
static int resolve_run(struct tsc_agent *a, uint64_t run, uint64_t *out, char *errmsg)
{
    if (run == 0)
        run = tsc__logs_current_run(a);
    if (run == 0) {
        tsc_errmsg_setf(errmsg, "no stage runs on this agent now; give the run (--run)");
        return TSC_ESTATE;
    }
    struct tsc__logstream *x = tsc__logs_stream(a, run);
    if (x != NULL && x->closed) {
        tsc_errmsg_setf(errmsg, "run %llu has ended on this agent", (unsigned long long)run);
        return TSC_ESTATE;
    }
    const uint8_t *d;
    size_t n;
    if (x == NULL && run != tsc__logs_current_run(a) &&
        tsc_barrier_run_submit(a->runs.b, run, &d, &n) != 0) {
        tsc_errmsg_setf(errmsg, "run %llu does not run on this agent", (unsigned long long)run);
        return TSC_ESTATE;
    }
    *out = run;
    return 0;
}

/* A member by name (label name=) or id in hex. */
static int resolve_peer(struct tsc_agent *a, const char *peer, uint64_t *id, char *errmsg)
{
    struct tsc_gossip_member m;
    char name[TSC_META_STR + 1];
    for (size_t i = 0; tsc_gossip_member_at(a->gossip, i, &m) == 0; i++) {
        tsc__logs_member_name(a, m.id, name, sizeof name);
        if (strcmp(name, peer) == 0) {
            *id = m.id;
            return 0;
        }
    }
    char *end;
    unsigned long long v = strtoull(peer, &end, 16);
    if (peer[0] != '\0' && *end == '\0' && v != 0 &&
        tsc_gossip_member_find(a->gossip, v, &m) == 0) {
        *id = v;
        return 0;
    }
    tsc_errmsg_setf(errmsg, "no member is called '%s'", peer);
    return TSC_ENOTFOUND;
}

/* ---- log ------------------------------------------------------------------------ */

static int op_log(struct tsc_agent *a, const struct tsc_control_req *req, struct tsc_buf *out,
                  char *errmsg)
{
    uint64_t run, seq = 0;
    int rc = resolve_run(a, req->run, &run, errmsg);
    if (rc != 0)
        return rc;
    const uint8_t *p = req->text, *end = req->text + req->text_len;
    if (req->text_len > 0 && end[-1] == '\n')
        end--; /* a trailing newline ends the last line, it adds none */
    do {
        const uint8_t *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        const uint8_t *e = nl ? nl : end;
        /* A line longer than a record is cut into pieces. */
        do {
            size_t n =
                (size_t)(e - p) > TSC_LOGREC_MAX_TEXT ? TSC_LOGREC_MAX_TEXT : (size_t)(e - p);
            rc = tsc__logs_make(a, run, TSC_LOGREC_USER, p, n, NULL, 0, &seq);
            p += n;
        } while (rc == 0 && p < e);
        p = nl ? nl + 1 : end;
    } while (rc == 0 && p < end);
    if (rc == 0)
        rc = tsc__logs_commit(a);
    if (rc != 0) {
        tsc_errmsg_setf(errmsg, "cannot log: %s", tsc_strerror(rc));
        return rc;
    }
    return tsc_control_resp_encode_seq(a->self_id, run, seq, out);
}

/* ---- send ------------------------------------------------------------------------ */

static int op_send(struct tsc_agent *a, const struct tsc_control_req *req, struct tsc_buf *out,
                   char *errmsg)
{
    uint64_t run, peer, seq = 0;
    struct tsc_addr to;
    char name[TSC_META_STR + 1];
    int rc = resolve_run(a, req->run, &run, errmsg);
    if (rc == 0)
        rc = resolve_peer(a, req->peer, &peer, errmsg);
    if (rc != 0)
        return rc;
    if (req->text_len > TSC_LOGMSG_MAX_TEXT) {
        tsc_errmsg_setf(errmsg, "a message is at most %u bytes", TSC_LOGMSG_MAX_TEXT);
        return TSC_ETOOBIG;
    }
    if (tsc__runs_member(a, peer, &to, NULL) != 0) {
        tsc_errmsg_setf(errmsg, "no address for '%s'", req->peer);
        return TSC_ENOTFOUND;
    }
    /* The record text names the peer; the message carries the text only. */
    tsc__logs_member_name(a, peer, name, sizeof name);
    struct tsc_buf text, body, sealed;
    tsc_buf_init(&text);
    tsc_buf_init(&body);
    tsc_buf_init(&sealed);
    if (tsc_buf_append(&text, "to ", 3) != 0 || tsc_buf_append(&text, name, strlen(name)) != 0 ||
        tsc_buf_append(&text, ": ", 2) != 0 || tsc_buf_append(&text, req->text, req->text_len) != 0)
        rc = TSC_ENOMEM;
    if (rc == 0)
        rc = tsc__logs_make(a, run, TSC_LOGREC_SEND, text.data, text.len, NULL, 1, &seq);
    if (rc == 0) {
        struct tsc__logstream *x = tsc__logs_stream(a, run);
        struct tsc_logmsg m;
        memset(&m, 0, sizeof m);
        m.run = run;
        m.from = a->self_id;
        m.to = peer;
        m.seq = seq;
        m.lamport = x->lamport;
        m.clock = x->clock; /* borrowed */
        m.text = req->text;
        m.len = req->text_len;
        rc = tsc_logmsg_encode(&m, &body);
        if (rc == 0)
            rc = tsc__agent_seal(a, TSC_MSG_LOG_MSG, body.data, body.len, &sealed);
        if (rc == 0)
            tsc__net_send_stream(a, &to, sealed.data, sealed.len);
    }
    tsc_buf_free(&text);
    tsc_buf_free(&body);
    tsc_buf_free(&sealed);
    if (rc != 0) {
        tsc_errmsg_setf(errmsg, "cannot send: %s", tsc_strerror(rc));
        return rc;
    }
    return tsc_control_resp_encode_seq(a->self_id, run, seq, out);
}

/* ---- the mailbox and recv ------------------------------------------------------------ */

static void msg_free(struct tsc__logs *l, struct tsc__logmsg *m)
{
    l->n_msgs--;
    l->msg_bytes -= m->len + sizeof *m;
    tsc_vclock_free(&m->clock);
    tsc_free(m);
}

/* Unlink and return the oldest message of run from peer (0: anyone). */
static struct tsc__logmsg *take_msg(struct tsc__logs *l, uint64_t run, uint64_t peer)
{
    for (struct tsc__logmsg **pp = &l->msgs; *pp != NULL; pp = &(*pp)->next) {
        struct tsc__logmsg *m = *pp;
        if (m->run == run && (peer == 0 || m->from == peer)) {
            *pp = m->next;
            return m;
        }
    }
    return NULL;
}

/* The RECV record of m and the answer to recv. */
static int deliver(struct tsc_agent *a, struct tsc__logmsg *m, struct tsc_buf *out)
{
    struct tsc__logstamp st;
    char name[TSC_META_STR + 1];
    struct tsc_buf text;
    int rc = 0;
    tsc__logs_member_name(a, m->from, name, sizeof name);
    tsc_buf_init(&text);
    if (tsc_buf_append(&text, "from ", 5) != 0 || tsc_buf_append(&text, name, strlen(name)) != 0 ||
        tsc_buf_append(&text, ": ", 2) != 0 || tsc_buf_append(&text, m->text, m->len) != 0)
        rc = TSC_ENOMEM;
    st.lamport = m->lamport;
    st.clock = m->clock; /* borrowed */
    if (rc == 0)
        rc = tsc__logs_make(a, m->run, TSC_LOGREC_RECV, text.data, text.len, &st, 1, NULL);
    tsc_buf_free(&text);
    if (rc == 0)
        rc = tsc_control_resp_encode_msg(a->self_id, m->run, m->from, m->seq, m->text, m->len, out);
    return rc;
}

static void answer(struct tsc_agent *a, const struct tsc__logwait *w, struct tsc_buf *body, int rc,
                   const char *why)
{
    if (rc != 0) {
        tsc_buf_reset(body);
        tsc_control_resp_encode_error(rc, why, body);
    }
    tsc__agent_reply_later(a, w->conn_id, w->origin_tcp, body->data, body->len);
}

static void on_recv_timer(uv_timer_t *t)
{
    tsc__logs_check_waits(t->data);
}

void tsc__logs_check_waits(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    uint64_t now = tsc__agent_now(), next = TSC_TIME_NEVER;
    struct tsc__logwait **pp = &l->waits;
    while (*pp != NULL) {
        struct tsc__logwait *w = *pp;
        struct tsc__logmsg *m = take_msg(l, w->run, w->peer);
        if (m == NULL && now < w->deadline) {
            if (w->deadline < next)
                next = w->deadline;
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        l->n_waits--;
        struct tsc_buf body;
        tsc_buf_init(&body);
        if (m != NULL) {
            int rc = deliver(a, m, &body);
            answer(a, w, &body, rc, "cannot receive: the record could not be made");
            msg_free(l, m);
        } else {
            answer(a, w, &body, TSC_ETIMEDOUT, "no message arrived in time");
        }
        tsc_buf_free(&body);
        tsc_free(w);
    }
    if (!l->handles || a->stopping)
        return;
    if (next == TSC_TIME_NEVER) {
        uv_timer_stop(&l->recv_timer);
    } else {
        uv_update_time(&a->loop);
        uv_timer_start(&l->recv_timer, on_recv_timer, (next - now + 999) / 1000, 0);
    }
}

static int op_recv(struct tsc_agent *a, uint64_t conn_id, int origin_tcp,
                   const struct tsc_control_req *req, struct tsc_buf *out, char *errmsg)
{
    struct tsc__logs *l = &a->logs;
    uint64_t run, peer = 0;
    int rc = resolve_run(a, req->run, &run, errmsg);
    if (rc == 0 && req->peer[0] != '\0')
        rc = resolve_peer(a, req->peer, &peer, errmsg);
    if (rc != 0)
        return rc;
    struct tsc__logmsg *m = take_msg(l, run, peer);
    if (m != NULL) {
        rc = deliver(a, m, out);
        msg_free(l, m);
        return rc;
    }
    if (req->timeout_ms == 0) {
        tsc_errmsg_setf(errmsg, "no message is waiting");
        return TSC_ETIMEDOUT;
    }
    if (l->n_waits >= TSC__LOGS_MAX_WAITS) {
        tsc_errmsg_setf(errmsg, "too many recv requests wait on this agent");
        return TSC_EFULL;
    }
    struct tsc__logwait *w = tsc_calloc(1, sizeof *w);
    if (w == NULL)
        return TSC_ENOMEM;
    uint32_t ms = req->timeout_ms < TSC__LOGS_MAX_RECV_MS ? req->timeout_ms : TSC__LOGS_MAX_RECV_MS;
    w->conn_id = conn_id;
    w->origin_tcp = origin_tcp;
    w->run = run;
    w->peer = peer;
    w->deadline = tsc__agent_now() + TSC_MSEC(ms);
    /* Appended: the oldest request is served first. */
    struct tsc__logwait **pp = &l->waits;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = w;
    l->n_waits++;
    a->net_defer_us = TSC_MSEC(ms) + TSC_SEC(2); /* the connection outlives the wait */
    tsc__logs_check_waits(a);
    return 1;
}

void tsc__logs_on_msg(struct tsc_agent *a, const struct tsc_envelope *env)
{
    struct tsc__logs *l = &a->logs;
    struct tsc_logmsg m;
    tsc_logmsg_init(&m);
    if (tsc_logmsg_decode(env->body, env->body_len, &m) != 0 || m.from != env->sender ||
        m.to != a->self_id || m.run == 0) {
        l->c.malformed++;
        tsc_logmsg_free(&m);
        return;
    }
    struct tsc__logstream *x = tsc__logs_stream(a, m.run);
    struct tsc__logmsg *q = NULL;
    if ((x == NULL || !x->closed) && l->n_msgs < TSC__LOGS_MAILBOX_MSGS &&
        l->msg_bytes + m.len + sizeof *q <= TSC__LOGS_MAILBOX_BYTES)
        q = tsc_malloc(sizeof *q + m.len);
    if (q == NULL) {
        l->c.msgs_dropped++;
        tsc_logmsg_free(&m);
        return;
    }
    memset(q, 0, sizeof *q);
    q->run = m.run;
    q->from = m.from;
    q->seq = m.seq;
    q->lamport = m.lamport;
    q->len = m.len;
    if (m.len > 0)
        memcpy(q->text, m.text, m.len);
    tsc_vclock_init(&q->clock);
    if (tsc_vclock_copy(&q->clock, &m.clock) != 0) {
        tsc_free(q);
        l->c.msgs_dropped++;
        tsc_logmsg_free(&m);
        return;
    }
    tsc_logmsg_free(&m);
    struct tsc__logmsg **pp = &l->msgs;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = q;
    l->n_msgs++;
    l->msg_bytes += q->len + sizeof *q;
    tsc__logs_check_waits(a);
}

void tsc__logs_drop_msgs(struct tsc_agent *a, uint64_t run)
{
    struct tsc__logs *l = &a->logs;
    struct tsc__logmsg **pp = &l->msgs;
    while (*pp != NULL) {
        struct tsc__logmsg *m = *pp;
        if (m->run == run) {
            *pp = m->next;
            msg_free(l, m);
        } else {
            pp = &m->next;
        }
    }
}

void tsc__logs_ctl_free(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    while (l->msgs != NULL) {
        struct tsc__logmsg *m = l->msgs;
        l->msgs = m->next;
        msg_free(l, m);
    }
    while (l->waits != NULL) {
        struct tsc__logwait *w = l->waits;
        l->waits = w->next;
        tsc_free(w);
    }
    l->n_waits = 0;
}

int tsc__logs_control(struct tsc_agent *a, uint64_t conn_id, int origin_tcp,
                      const struct tsc_control_req *req, struct tsc_buf *out, char *errmsg)
{
    switch (req->op) {
    case TSC_CONTROL_OP_LOG:
        return op_log(a, req, out, errmsg);
    case TSC_CONTROL_OP_SEND:
        return op_send(a, req, out, errmsg);
    case TSC_CONTROL_OP_RECV:
        return op_recv(a, conn_id, origin_tcp, req, out, errmsg);
    default:
        tsc_errmsg_setf(errmsg, "not a local log op");
        return TSC_EINVAL;
    }
}

/* ---- logs and log_index (coordinator) ------------------------------------------------ */

/* What LOGMETA says of run: merged records, finished, and (want_errors)
 * every error, copied into hold. */
struct meta_ctx {
    uint64_t run;
    uint64_t merged;
    int finished, rows;
    int want_errors;
    uint8_t phase; /* the key kind being scanned: 'r' rows, then 'e' errors */
    struct tsc_buf *hold;
    size_t *offs, *lens, n, cap;
    int oom;
};

static int take_meta(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct meta_ctx *c = ctx;
    struct tsc_logsink_row row;
    /* Each scan visits one kind of key only: a run can have many stored
     * errors, and a poll that does not want them must not walk them. */
    if (klen < 9 || tsc_store_get_be64(key) != c->run || key[8] != c->phase)
        return 1;
    if (c->phase == 'e' && c->n >= TSC_CONTROL_MAX_LOG_ERRORS)
        return 1;
    if (klen == 17 && key[8] == 'r' && tsc__logsink_row_decode(val, vlen, &row) == 0) {
        c->rows++;
        if (row.next_index > 0 && row.next_index - 1 > c->merged)
            c->merged = row.next_index - 1;
        c->finished |= row.finished;
    } else if (klen == 17 && key[8] == 'e' && c->want_errors && c->n < TSC_CONTROL_MAX_LOG_ERRORS) {
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 16;
            size_t *o = tsc_realloc(c->offs, cap * sizeof *o);
            if (o != NULL)
                c->offs = o;
            size_t *l = o ? tsc_realloc(c->lens, cap * sizeof *l) : NULL;
            if (l == NULL) {
                c->oom = 1;
                return 1;
            }
            c->lens = l;
            c->cap = cap;
        }
        c->offs[c->n] = c->hold->len;
        c->lens[c->n] = vlen;
        if (tsc_buf_append(c->hold, val, vlen) != 0) {
            c->oom = 1;
            return 1;
        }
        c->n++;
    }
    return 0;
}

/* Fill l's merged/finished/errors from LOGMETA. TSC_ENOTFOUND when the run
 * is unknown to this agent altogether. */
static int read_meta(struct tsc_agent *a, uint64_t run, int want_errors, struct tsc_buf *hold,
                     struct tsc_control_logs *l, char *errmsg)
{
    struct meta_ctx c;
    uint8_t key[9];
    memset(&c, 0, sizeof c);
    c.run = run;
    c.want_errors = want_errors;
    c.hold = hold;
    tsc_store_put_be64(key, run);
    key[8] = c.phase = 'r';
    int rc =
        a->store.scan_from(&a->store, TSC_STORE_LOGMETA, key, sizeof key, take_meta, &c, errmsg);
    if (rc == 0 && want_errors) {
        key[8] = c.phase = 'e';
        rc = a->store.scan_from(&a->store, TSC_STORE_LOGMETA, key, sizeof key, take_meta, &c,
                                errmsg);
    }
    if (rc == 0 && c.oom)
        rc = TSC_ENOMEM;
    if (rc == 0 && c.n > 0 && (l->errors = tsc_calloc(c.n, sizeof *l->errors)) == NULL)
        rc = TSC_ENOMEM;
    if (rc == 0) {
        for (size_t i = 0; i < c.n; i++) {
            l->errors[i].p = hold->data + c.offs[i];
            l->errors[i].len = c.lens[i];
        }
        l->n_errors = c.n;
        l->merged = c.merged;
        l->finished = c.finished;
    }
    tsc_free(c.offs);
    tsc_free(c.lens);
    if (rc == 0 && c.rows == 0) {
        /* No log yet: an existing run just has nothing merged. */
        struct tsc_control_bytes *recs = NULL;
        struct tsc_buf h;
        size_t n = 0;
        char e[TSC_ERRMSG_SIZE];
        const uint8_t *d;
        size_t dl;
        tsc_buf_init(&h);
        if (tsc_barrier_run_submit(a->runs.b, run, &d, &dl) != 0 &&
            tsc__runs_store_load(a, run, &recs, &n, &h, e) != 0) {
            tsc_errmsg_setf(errmsg, "run %llu is not known", (unsigned long long)run);
            rc = TSC_ENOTFOUND;
        }
        tsc_free(recs);
        tsc_buf_free(&h);
    }
    return rc;
}

struct rec_ctx {
    uint64_t run, next;
    uint64_t merged; /* indices above are not (durably) merged yet */
    size_t limit, n, cap, bytes;
    struct tsc_buf *hold;
    size_t *offs, *lens;
    int oom;
    struct tsc_logblock_dec dec;
    struct tsc_logrec rec;
    /* log_index */
    struct tsc_control_log_range *ranges;
    size_t n_ranges, cap_ranges;
    uint32_t *table; /* open addressing: range index + 1 */
    size_t table_cap;
};

static void rec_ctx_init(struct rec_ctx *c, uint64_t run)
{
    memset(c, 0, sizeof *c);
    c->run = run;
    tsc_logblock_dec_init(&c->dec);
    tsc_logrec_init(&c->rec);
}

static void rec_ctx_free(struct rec_ctx *c)
{
    tsc_free(c->offs);
    tsc_free(c->lens);
    tsc_free(c->ranges);
    tsc_free(c->table);
    tsc_logrec_free(&c->rec);
    tsc_logblock_dec_free(&c->dec);
}

/* The record appended to hold at off (len bytes) is the next one. */
static int add_record(struct rec_ctx *c, size_t off, size_t len)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        size_t *o = tsc_realloc(c->offs, cap * sizeof *o);
        if (o != NULL)
            c->offs = o;
        size_t *l = o ? tsc_realloc(c->lens, cap * sizeof *l) : NULL;
        if (l == NULL)
            return TSC_ENOMEM;
        c->lens = l;
        c->cap = cap;
    }
    c->offs[c->n] = off;
    c->lens[c->n] = len;
    c->n++;
    c->bytes += len;
    return 0;
}

/* The records of a LOGS block (logsync/logblock.h: consecutive indices from
 * the key's) from c->next to c->merged, handed to fn in order; blocks that
 * end before c->next are passed over, so a scan may start up to a block
 * early. A damaged block's records from the damage on are not shown.
 * Returns non-zero to stop the scan. */
static int walk_block(struct rec_ctx *c, const uint8_t *key, size_t klen, const uint8_t *val,
                      size_t vlen,
                      int (*fn)(struct rec_ctx *c, uint64_t index, const struct tsc_logrec *r))
{
    if (klen != 16 || tsc_store_get_be64(key) != c->run)
        return 1;
    uint64_t index = tsc_store_get_be64(key + 8);
    int rc = tsc_logblock_open(&c->dec, val, vlen);
    while (rc == 0 && index <= c->merged) {
        if ((rc = tsc_logblock_next(&c->dec, &c->rec)) != 0)
            break;
        if (index >= c->next) {
            if (fn(c, index, &c->rec) != 0)
                return 1;
            c->next = index + 1;
        }
        index++;
    }
    if (rc == TSC_ENOMEM) {
        c->oom = 1;
        return 1;
    }
    return index > c->merged;
}

/* A page of records for tscctl: each in the record codec (merge.h). */
static int page_record(struct rec_ctx *c, uint64_t index, const struct tsc_logrec *r)
{
    (void)index;
    size_t at = c->hold->len;
    if (c->n >= c->limit)
        return 1;
    int rc = tsc_logrec_encode(r, c->hold);
    size_t len = c->hold->len - at;
    if (rc == 0 && c->n > 0 && c->bytes + len > LOGS_MAX_BYTES) {
        c->hold->len = at; /* it starts the next page */
        return 1;
    }
    if (rc == TSC_ENOMEM || (rc == 0 && add_record(c, at, len) != 0)) {
        c->oom = 1;
        return 1;
    }
    return 0;
}

static int take_record(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    return walk_block(ctx, key, klen, val, vlen, page_record);
}

/* Where a scan for index `from` of run starts: the first block that can
 * hold it. */
static void block_start(uint8_t key[16], uint64_t run, uint64_t from)
{
    tsc_store_put_be64(key, run);
    tsc_store_put_be64(key + 8, from > TSC_STORE_LOGS_BLOCK ? from - TSC_STORE_LOGS_BLOCK + 1 : 1);
}

static int op_logs(struct tsc_agent *a, const struct tsc_control_req *req, struct tsc_buf *out,
                   char *errmsg)
{
    struct tsc_control_logs l;
    struct tsc_buf hold, ehold;
    struct rec_ctx c;
    uint8_t key[16];
    uint64_t run = req->run ? req->run : tsc__runs_store_last(a);
    uint64_t from = req->from ? req->from : 1;
    memset(&l, 0, sizeof l);
    rec_ctx_init(&c, run);
    tsc_buf_init(&hold);
    tsc_buf_init(&ehold);
    l.run = run;
    l.first = from;
    c.hold = &hold;
    c.limit = req->limit == 0                            ? LOGS_DEFAULT_LIMIT
              : req->limit > TSC_CONTROL_MAX_LOG_RECORDS ? TSC_CONTROL_MAX_LOG_RECORDS
                                                         : req->limit;
    int rc = read_meta(a, run, from <= 1, &ehold, &l, errmsg);
    c.merged = l.merged;
    if (rc == 0) {
        c.next = from;
        block_start(key, run, from);
        rc =
            a->store.scan_from(&a->store, TSC_STORE_LOGS, key, sizeof key, take_record, &c, errmsg);
        if (rc == 0 && c.oom)
            rc = TSC_ENOMEM;
    }
    if (rc == 0 && c.n > 0 && (l.records = tsc_calloc(c.n, sizeof *l.records)) == NULL)
        rc = TSC_ENOMEM;
    if (rc == 0) {
        for (size_t i = 0; i < c.n; i++) {
            l.records[i].p = hold.data + c.offs[i];
            l.records[i].len = c.lens[i];
        }
        l.n_records = c.n;
        rc = tsc_control_resp_encode_logs(a->self_id, &l, out);
    }
    tsc_free(l.records);
    tsc_free(l.errors);
    rec_ctx_free(&c);
    tsc_buf_free(&hold);
    tsc_buf_free(&ehold);
    return rc;
}

static uint64_t range_hash(uint32_t stage, uint32_t ci, uint64_t node)
{
    uint64_t h = node * 0x9e3779b97f4a7c15ull ^ ((uint64_t)stage << 32 | ci);
    h ^= h >> 31;
    return h * 0xbf58476d1ce4e5b9ull;
}

/* The range of (stage, case, node), added when new. NULL: out of memory
 * or too many ranges. */
static struct tsc_control_log_range *range_of(struct rec_ctx *c, const struct tsc_logrec *r)
{
    if (c->n_ranges * 2 >= c->table_cap) {
        size_t cap = c->table_cap ? c->table_cap * 2 : 64;
        uint32_t *t = tsc_calloc(cap, sizeof *t);
        if (t == NULL)
            return NULL;
        for (size_t i = 0; i < c->n_ranges; i++) {
            const struct tsc_control_log_range *g = &c->ranges[i];
            size_t k = range_hash(g->stage, g->case_index, g->node) & (cap - 1);
            while (t[k] != 0)
                k = (k + 1) & (cap - 1);
            t[k] = (uint32_t)i + 1;
        }
        tsc_free(c->table);
        c->table = t;
        c->table_cap = cap;
    }
    size_t k = range_hash(r->stage, r->case_index, r->node) & (c->table_cap - 1);
    for (; c->table[k] != 0; k = (k + 1) & (c->table_cap - 1)) {
        struct tsc_control_log_range *g = &c->ranges[c->table[k] - 1];
        if (g->stage == r->stage && g->case_index == r->case_index && g->node == r->node)
            return g;
    }
    if (c->n_ranges >= TSC_CONTROL_MAX_LOG_RANGES)
        return NULL;
    if (c->n_ranges == c->cap_ranges) {
        size_t cap = c->cap_ranges ? c->cap_ranges * 2 : 64;
        struct tsc_control_log_range *n = tsc_realloc(c->ranges, cap * sizeof *n);
        if (n == NULL)
            return NULL;
        c->ranges = n;
        c->cap_ranges = cap;
    }
    struct tsc_control_log_range *g = &c->ranges[c->n_ranges];
    memset(g, 0, sizeof *g);
    g->stage = r->stage;
    g->case_index = r->case_index;
    g->node = r->node;
    c->table[k] = (uint32_t)++c->n_ranges;
    return g;
}

static int index_one(struct rec_ctx *c, uint64_t index, const struct tsc_logrec *r)
{
    struct tsc_control_log_range *g = range_of(c, r);
    if (g == NULL) {
        c->oom = 1;
        return 1;
    }
    if (g->count++ == 0)
        g->first = index;
    g->last = index;
    return 0;
}

static int index_record(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    return walk_block(ctx, key, klen, val, vlen, index_one);
}

static int op_log_index(struct tsc_agent *a, const struct tsc_control_req *req, struct tsc_buf *out,
                        char *errmsg)
{
    struct tsc_control_logs l;
    struct tsc_buf ehold;
    struct rec_ctx c;
    uint8_t key[16];
    uint64_t run = req->run ? req->run : tsc__runs_store_last(a);
    memset(&l, 0, sizeof l);
    rec_ctx_init(&c, run);
    tsc_buf_init(&ehold);
    l.run = run;
    l.first = 1;
    int rc = read_meta(a, run, 1, &ehold, &l, errmsg);
    c.merged = l.merged;
    if (rc == 0) {
        c.next = 1;
        block_start(key, run, 1);
        rc = a->store.scan_from(&a->store, TSC_STORE_LOGS, key, sizeof key, index_record, &c,
                                errmsg);
        if (rc == 0 && c.oom) {
            tsc_errmsg_setf(errmsg, "too many log ranges, or out of memory");
            rc = TSC_ENOMEM;
        }
    }
    if (rc == 0)
        rc = tsc_control_resp_encode_log_index(a->self_id, &l, c.ranges, c.n_ranges, out);
    tsc_free(l.errors);
    rec_ctx_free(&c);
    tsc_buf_free(&ehold);
    return rc;
}

int tsc__logs_control_coord(struct tsc_agent *a, const struct tsc_control_req *req,
                            struct tsc_buf *out, char *errmsg)
{
    if (req->op == TSC_CONTROL_OP_LOGS)
        return op_logs(a, req, out, errmsg);
    if (req->op == TSC_CONTROL_OP_LOG_INDEX)
        return op_log_index(a, req, out, errmsg);
    tsc_errmsg_setf(errmsg, "not a coordinator log op");
    return TSC_EINVAL;
}
