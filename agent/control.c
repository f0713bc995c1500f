/* tsc — frames that arrive on the agent's streams: push-pull for the engine,
 * and control requests from tscctl (protocol in wire/control.h).
 *
 * On the TCP port the driver opens each frame once to learn its type: the
 * engine handles push-pull (and opens the frame again itself, checking the
 * replay window), the driver answers control requests. A frame that does not
 * open is still handed to the engine so that every rejected packet is counted
 * in one place (tscctl stats: rejected, rejected_auth, ...); on top of that
 * the peer gets the plaintext TSC_CONTROL_EAUTH_MARKER, which lets tscctl
 * tell "wrong key" from "no agent". Push-pull senders close after writing
 * and never read it. */
#include <sodium.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "common/alloc.h"
#include "wire/control.h"

/* Keep small buffers for the next request; give big ones back, so one large
 * members listing does not stay resident in an idle agent. */
static void trim(struct tsc_buf *b)
{
    if (b->cap > 65536)
        tsc_buf_free(b);
    else
        tsc_buf_reset(b);
}

static uint64_t ms_since(uint64_t now, uint64_t then)
{
    return now > then ? (now - then) / 1000u : 0;
}

static int build_members(struct tsc_agent *a, struct tsc_buf *out)
{
    size_t n = tsc_gossip_count(a->gossip);
    uint64_t now = tsc__agent_now();
    struct tsc_control_member *ms = tsc_calloc(n ? n : 1, sizeof *ms);
    size_t k = 0;
    if (ms == NULL)
        return TSC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct tsc_gossip_member m;
        if (tsc_gossip_member_at(a->gossip, i, &m) != 0)
            continue;
        ms[k].id = m.id;
        ms[k].addr = m.addr;
        ms[k].status = m.status;
        ms[k].incarnation = m.incarnation;
        ms[k].is_self = m.is_self;
        ms[k].age_ms = ms_since(now, m.status_since);
        ms[k].record = m.record;
        ms[k].record_len = m.record_len;
        k++;
    }
    uint64_t coord = tsc__coord_view(a, NULL, NULL);
    int rc = tsc_control_resp_encode_members(a->self_id, coord, ms, k, out);
    tsc_free(ms);
    return rc;
}

#define STAT(field)                                                                                \
    {                                                                                              \
#field, s->field                                                                           \
    }

static int build_stats(struct tsc_agent *a, struct tsc_buf *out)
{
    const struct tsc_gossip_stats *s = tsc_gossip_stats(a->gossip);
    const struct tsc__agent_counters *c = &a->c;
    const struct tsc_election_stats *es = tsc_election_stats(a->coord.e);
    struct tsc_gossip_member self;
    uint64_t inc = a->incarnation;
    if (tsc_gossip_member_find(a->gossip, a->self_id, &self) == 0)
        inc = self.incarnation;
    const struct {
        const char *name;
        uint64_t value;
    } v[] = {
        STAT(rx_datagrams),
        STAT(rx_streams),
        STAT(tx_datagrams),
        STAT(tx_streams),
        STAT(rx_bytes),
        STAT(tx_bytes),
        STAT(rejected),
        STAT(rejected_auth),
        STAT(rejected_replay),
        STAT(rejected_malformed),
        STAT(rejected_cluster),
        STAT(rejected_sig),
        STAT(refutations),
        STAT(probes),
        STAT(probes_failed),
        STAT(health),
        {"members", tsc_gossip_count(a->gossip)},
        {"members_alive", tsc_gossip_count_status(a->gossip, TSC_STATUS_ALIVE)},
        {"members_suspect", tsc_gossip_count_status(a->gossip, TSC_STATUS_SUSPECT)},
        {"members_dead", tsc_gossip_count_status(a->gossip, TSC_STATUS_DEAD)},
        {"members_left", tsc_gossip_count_status(a->gossip, TSC_STATUS_LEFT)},
        {"incarnation", inc},
        {"uptime_ms", ms_since(tsc__agent_now(), a->started_us)},
        {"conns_accepted", c->conns_accepted},
        {"conns_dropped", c->conns_dropped},
        {"frame_errors", c->frame_errors},
        {"udp_send_errors", c->udp_send_errors},
        {"streams_out", c->streams_out},
        {"streams_failed", c->streams_failed},
        {"control_requests", c->control_requests},
        {"control_rejected", c->control_rejected},
        {"store_errors", c->store_errors},
        {"election_rx", es->rx},
        {"election_tx", es->tx},
        {"election_rejected", es->rejected},
        {"election_stale_term", es->stale_term},
        {"election_prevotes", es->prevotes},
        {"election_elections", es->elections},
        {"election_became_leader", es->became_leader},
        {"election_lease_stepdowns", es->lease_stepdowns},
        {"election_transfers", es->transfers},
        {"election_term", tsc_election_term(a->coord.e)},
        {"log_records", a->logs.c.records},
        {"log_shipped", a->logs.c.shipped},
        {"log_merged", a->logs.c.merged},
        {"log_malformed", a->logs.c.malformed},
        {"log_bad_stamps", a->logs.c.bad_stamps},
        {"log_msgs_dropped", a->logs.c.msgs_dropped},
        {"log_shed", a->logs.c.shed},
    };
    struct tsc_control_stat st[sizeof v / sizeof v[0]];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        snprintf(st[i].name, sizeof st[i].name, "%s", v[i].name);
        st[i].value = v[i].value;
    }
    return tsc_control_resp_encode_stats(a->self_id, st, sizeof st / sizeof st[0], out);
}

#undef STAT

static int seal_reply(struct tsc_agent *a, const struct tsc_buf *body, struct tsc_buf *reply);

/* A run op (or logs, log_index) on an agent that is not the acting
 * coordinator: send it on, with "fwd" set so that it is never forwarded
 * twice. 1 when forwarded. */
static int forward(struct tsc_agent *a, uint64_t conn_id, int origin_tcp,
                   const struct tsc_control_req *r, char *errmsg)
{
    struct tsc_control_req f = *r;
    struct tsc_addr to;
    struct tsc_buf body, sealed;
    int rc;
    uint64_t coord = tsc__coord_view(a, NULL, &to);
    if (coord == 0 || coord == a->self_id) {
        tsc_errmsg_setf(errmsg, "no coordinator is known yet; try again in a moment");
        return 0;
    }
    f.forwarded = 1;
    tsc_buf_init(&body);
    tsc_buf_init(&sealed);
    rc = tsc_control_req_encode(&f, &body);
    if (rc == 0)
        rc = tsc__agent_seal(a, TSC_MSG_CONTROL_REQ, body.data, body.len, &sealed);
    if (rc == 0)
        tsc__net_forward(a, conn_id, origin_tcp, &to, sealed.data, sealed.len);
    else
        tsc_errmsg_setf(errmsg, "forwarding to the coordinator: %s", tsc_strerror(rc));
    tsc_buf_free(&body);
    tsc_buf_free(&sealed);
    return rc == 0;
}

void tsc__agent_on_forwarded(struct tsc_agent *a, uint64_t conn_id, int origin_tcp,
                             const uint8_t *frame, size_t len, const char *why)
{
    struct tsc_envelope env;
    struct tsc_buf body, reply;
    tsc_buf_init(&body);
    tsc_buf_init(&reply);
    /* The coordinator's answer is sealed for us; open it, then hand the body
     * on in the form the client asked in (plaintext on the Unix socket). */
    if (frame != NULL &&
        tsc_wire_open(&a->wire, frame, len, TSC_WIRE_MAX_FRAME, &body, &env) == 0 &&
        env.type == TSC_MSG_CONTROL_RESP) {
        struct tsc_buf copy;
        tsc_buf_init(&copy);
        if (tsc_buf_append(&copy, env.body, env.body_len) == 0) {
            tsc_buf_free(&body);
            body = copy;
        } else {
            tsc_buf_free(&copy);
            tsc_buf_reset(&body);
        }
    } else {
        tsc_buf_reset(&body);
    }
    if (body.len == 0) {
        char msg[TSC_ERRMSG_SIZE];
        tsc_errmsg_setf(msg, "forwarding to the coordinator: %s",
                        why ? why : "its answer could not be opened");
        tsc_control_resp_encode_error(TSC_ECONNREFUSED, msg, &body);
    }
    if (origin_tcp) {
        if (seal_reply(a, &body, &reply) == 0)
            tsc__net_reply(a, conn_id, reply.data, reply.len);
        else
            tsc__net_reply(a, conn_id, NULL, 0);
    } else {
        tsc__net_reply(a, conn_id, body.data, body.len);
    }
    tsc_buf_free(&body);
    tsc_buf_free(&reply);
}

/* Decode a request and encode the response body into out (reset first). A
 * request that cannot be served still gets an answer: an error response.
 * Returns 1 when the request was forwarded and the answer comes later. */
static int handle_request(struct tsc_agent *a, uint64_t conn_id, int origin_tcp, const uint8_t *req,
                          size_t len, struct tsc_buf *out)
{
    struct tsc_control_req r;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    int rc;
    tsc_buf_reset(out);
    a->c.control_requests++;
    rc = tsc_control_req_decode(req, len, &r, errmsg);
    if (rc != 0) {
        a->c.control_rejected++;
    } else if (tsc_control_op_is_coordinator(r.op)) {
        if (tsc__coord_acting(a)) {
            rc = tsc__runs_control(a, &r, out, errmsg);
        } else if (r.forwarded) {
            rc = TSC_ESTATE;
            tsc_errmsg_setf(errmsg, "this agent is no longer the coordinator; try again");
        } else if (forward(a, conn_id, origin_tcp, &r, errmsg)) {
            return 1;
        } else {
            rc = TSC_ESTATE;
        }
    } else if (r.op == TSC_CONTROL_OP_LOG || r.op == TSC_CONTROL_OP_SEND ||
               r.op == TSC_CONTROL_OP_RECV) {
        rc = tsc__logs_control(a, conn_id, origin_tcp, &r, out, errmsg);
        if (rc == 1)
            return 1; /* recv waits for a message */
    } else if (r.op == TSC_CONTROL_OP_MEMBERS) {
        rc = build_members(a, out);
    } else if (r.op == TSC_CONTROL_OP_STATUS) {
        struct tsc_control_status st;
        tsc__coord_status(a, &st);
        rc = tsc_control_resp_encode_status(a->self_id, &st, out);
    } else {
        rc = build_stats(a, out);
    }
    if (rc != 0) {
        if (errmsg[0] == '\0')
            tsc_errmsg_setf(errmsg, "%s", tsc_strerror(rc));
        tsc_logf(TSC_LOG_DEBUG, "control: %s", errmsg);
        tsc_buf_reset(out);
        tsc_control_resp_encode_error(rc, errmsg, out);
    }
    return 0;
}

int tsc__agent_seal(struct tsc_agent *a, int type, const uint8_t *body, size_t len,
                    struct tsc_buf *out)
{
    struct tsc_envelope env;
    uint8_t nonce[TSC_NONCE_BYTES];
    uint64_t seq = tsc__agent_wall_us();
    if (seq <= a->last_ctl_seq)
        seq = a->last_ctl_seq + 1;
    a->last_ctl_seq = seq;
    memset(&env, 0, sizeof env);
    env.sender = a->self_id;
    env.seq = seq;
    env.type = (uint8_t)type;
    env.body = body;
    env.body_len = len;
    randombytes_buf(nonce, sizeof nonce);
    return tsc_wire_seal(&a->wire, &env, nonce, TSC_WIRE_MAX_FRAME, out);
}

/* Seal body as a CONTROL_RESP into reply. */
static int seal_reply(struct tsc_agent *a, const struct tsc_buf *body, struct tsc_buf *reply)
{
    return tsc__agent_seal(a, TSC_MSG_CONTROL_RESP, body->data, body->len, reply);
}

void tsc__agent_reply_later(struct tsc_agent *a, uint64_t conn_id, int origin_tcp,
                            const uint8_t *body, size_t len)
{
    struct tsc_buf reply;
    if (!origin_tcp) {
        tsc__net_reply(a, conn_id, body, len);
        return;
    }
    tsc_buf_init(&reply);
    if (tsc__agent_seal(a, TSC_MSG_CONTROL_RESP, body, len, &reply) == 0)
        tsc__net_reply(a, conn_id, reply.data, reply.len);
    else
        tsc__net_reply(a, conn_id, NULL, 0);
    tsc_buf_free(&reply);
}

static void feed_stream(struct tsc_agent *a, const struct tsc_addr *from, const uint8_t *frame,
                        size_t len)
{
    struct tsc_gossip_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_GOSSIP_EV_STREAM;
    ev.from = *from;
    ev.data = frame;
    ev.len = len;
    tsc__agent_step(a, &ev);
}

int tsc__agent_on_stage_frame(struct tsc_agent *a, const struct tsc_envelope *env)
{
    switch (env->type) {
    case TSC_MSG_STAGE_START:
        tsc__part_on_start(a, env);
        return 1;
    case TSC_MSG_STAGE_CANCEL:
        tsc__part_on_cancel(a, env);
        return 1;
    case TSC_MSG_STAGE_REPORT:
        tsc__runs_on_report(a, env);
        return 1;
    case TSC_MSG_LOG_BATCH:
        tsc__logsink_on_batch(a, env);
        return 1;
    case TSC_MSG_LOG_ACK:
        tsc__logship_on_ack(a, env);
        return 1;
    case TSC_MSG_LOG_MSG:
        tsc__logs_on_msg(a, env);
        return 1;
    default:
        return 0;
    }
}

/* The part of tsc__agent_on_tcp_frame that runs with the frame opened. */
static int on_opened_frame(struct tsc_agent *a, uint64_t conn_id, const struct tsc_addr *from,
                           const struct tsc_envelope *env, const uint8_t *frame, size_t len,
                           struct tsc_buf *reply)
{
    if (env->type >= TSC_MSG_RAFT_VOTE && env->type < TSC_MSG_CONTROL_REQ) {
        tsc__coord_on_frame(a, 1, from, frame, len); /* election (coord.c) */
        return 0;
    }
    if (tsc__agent_on_stage_frame(a, env))
        return 0;
    if (env->type != TSC_MSG_CONTROL_REQ) {
        /* Push-pull, or anything else the engine will judge and count. */
        feed_stream(a, from, frame, len);
        return 0;
    }
    /* env->body lives in a->scratch, which nothing below touches. */
    if (handle_request(a, conn_id, 1, env->body, env->body_len, &a->body))
        return 1;
    size_t start = reply->len;
    int rc = seal_reply(a, &a->body, reply);
    if (rc == TSC_ETOOBIG) {
        tsc_buf_reset(&a->body);
        tsc_control_resp_encode_error(TSC_ETOOBIG, "response too large for one frame", &a->body);
        rc = seal_reply(a, &a->body, reply);
    }
    if (rc != 0) {
        reply->len = start;
        tsc_logf(TSC_LOG_WARN, "control reply: %s", tsc_strerror(rc));
    }
    return 0;
}

int tsc__agent_on_tcp_frame(struct tsc_agent *a, uint64_t conn_id, const struct tsc_addr *from,
                            const uint8_t *frame, size_t len, struct tsc_buf *reply)
{
    struct tsc_envelope env;
    int deferred = 0;
    int rc = tsc_wire_open(&a->wire, frame, len, TSC_WIRE_MAX_FRAME, &a->scratch, &env);
    if (rc == 0) {
        deferred = on_opened_frame(a, conn_id, from, &env, frame, len, reply);
    } else {
        feed_stream(a, from, frame, len); /* counted by the engine */
        if (rc == TSC_EAUTH || rc == TSC_ECLUSTER)
            tsc_buf_append(reply, TSC_CONTROL_EAUTH_MARKER, TSC_CONTROL_EAUTH_MARKER_LEN);
    }
    trim(&a->body);
    trim(&a->scratch);
    return deferred;
}

int tsc__agent_on_unix_frame(struct tsc_agent *a, uint64_t conn_id, const uint8_t *msg, size_t len,
                             struct tsc_buf *reply)
{
    if (handle_request(a, conn_id, 0, msg, len, &a->body))
        return 1;
    if (tsc_buf_append(reply, a->body.data, a->body.len) != 0)
        tsc_logf(TSC_LOG_WARN, "control reply: out of memory");
    trim(&a->body);
    return 0;
}
