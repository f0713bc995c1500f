/* tsc — the agent's sockets on libuv: one UDP socket and one TCP listener on
 * the same port, outgoing stream connections, and the control Unix socket.
 *
 * Stream framing: [4-byte big-endian length][frame], one frame per
 * connection. The receiver never trusts the length: 0 or more than
 * TSC_WIRE_MAX_FRAME closes the connection, and the buffer grows with the
 * bytes that actually arrive, so a peer that announces 8 MiB and sends 10
 * bytes costs 10 bytes. Open connections are capped in both directions and
 * every connection has a deadline enforced by a sweep from the engine timer;
 * a slow or silent peer cannot pin memory or descriptors.
 *
 * Handles are caller-allocated (inside struct tsc_agent or struct tsc__conn)
 * and memory is released only in close callbacks (libuv's rule). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "common/alloc.h"
#include "wire/control.h"

#define MAX_CONNS_IN 128 /* TCP: frames from peers */
#define MAX_CONNS_UNIX                                                                             \
    32 /* the control socket: counted apart, so that                                               \
        * a flood of peers' frames never locks the                                                 \
        * operator out */
#define MAX_CONNS_OUT        64
#define MAX_UDP_QUEUE        256         /* datagrams waiting in uv_udp_send */
#define CONN_IN_DEADLINE_US  TSC_SEC(10) /* to receive a whole frame */
#define CONN_OUT_DEADLINE_US TSC_SEC(5)  /* to connect and write */
#define READ_CHUNK           65536
#define TURN_READ_BYTES      (512u << 10) /* peers' stream bytes per loop turn */
#define PAUSED_GUESS_BYTES   (64u << 10)  /* a paused frame of unknown length */

#define CONN_FWD_DEADLINE_US TSC_SEC(30) /* a forwarded control request, end to end */

/* CONN_FWD_OUT: a control request forwarded to the coordinator; its reply
 * frame goes back to the connection `origin` (by id: it may be gone). */
enum conn_kind { CONN_TCP_IN, CONN_UNIX_IN, CONN_TCP_OUT, CONN_FWD_OUT };

struct tsc__conn {
    union tsc__handle h;
    struct tsc_agent *agent;
    int kind;
    struct tsc__conn *prev, *next;
    uint64_t deadline;
    struct tsc_addr peer;
    struct tsc_buf in;  /* incoming bytes, length prefix included */
    struct tsc_buf out; /* [len][frame] to write */
    uv_connect_t connect;
    uv_write_t write;
    int closing;
    uint64_t id;     /* unique per agent process */
    int deferred;    /* CONN_*_IN: waiting for tsc__net_reply */
    uint64_t origin; /* CONN_FWD_OUT: the connection to answer */
    int origin_tcp;
    int answered; /* CONN_FWD_OUT: the reply (or failure) was handed over */
    int paused;   /* CONN_TCP_IN: reading stopped for this loop turn */
};

struct udp_send {
    uv_udp_send_t req;
    size_t len;
    uint8_t data[];
};

static void to_sockaddr(const struct tsc_addr *a, struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(a->ip);
    sa->sin_port = htons(a->port);
}

static int from_sockaddr(const struct sockaddr *sa, struct tsc_addr *a)
{
    if (sa == NULL || sa->sa_family != AF_INET)
        return -1;
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    a->ip = ntohl(in->sin_addr.s_addr);
    a->port = ntohs(in->sin_port);
    return 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- connections -------------------------------------------------------- */

static int is_out(const struct tsc__conn *c)
{
    return c->kind == CONN_TCP_OUT || c->kind == CONN_FWD_OUT;
}

static void conn_closed(uv_handle_t *h)
{
    struct tsc__conn *c = h->data;
    struct tsc_agent *a = c->agent;
    if (c->kind == CONN_FWD_OUT && !c->answered && !a->stopping)
        tsc__agent_on_forwarded(a, c->origin, c->origin_tcp, NULL, 0,
                                "no answer from the coordinator");
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (is_out(c))
        a->n_conns_out--;
    else if (c->kind == CONN_UNIX_IN)
        a->n_conns_unix--;
    else
        a->n_conns_in--;
    tsc_buf_free(&c->in);
    tsc_buf_free(&c->out);
    tsc_free(c);
}

static void conn_close(struct tsc__conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close(&c->h.handle, conn_closed);
}

/* Allocate a connection and link it; the caller initialises c->h and must
 * close it (conn_close) from then on, also on failure. */
static struct tsc__conn *conn_new(struct tsc_agent *a, int kind)
{
    struct tsc__conn *c = tsc_calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->agent = a;
    c->kind = kind;
    c->id = ++a->next_conn_id;
    c->h.handle.data = c;
    c->deadline = tsc__agent_now() + (kind == CONN_TCP_OUT   ? CONN_OUT_DEADLINE_US
                                      : kind == CONN_FWD_OUT ? CONN_FWD_DEADLINE_US
                                                             : CONN_IN_DEADLINE_US);
    tsc_buf_init(&c->in);
    tsc_buf_init(&c->out);
    c->next = a->conns;
    if (a->conns)
        a->conns->prev = c;
    a->conns = c;
    if (is_out(c))
        a->n_conns_out++;
    else if (kind == CONN_UNIX_IN)
        a->n_conns_unix++;
    else
        a->n_conns_in++;
    return c;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    struct tsc__conn *c = req->data;
    if (!is_out(c) || c->closing) {
        conn_close(c);
        return;
    }
    if (status < 0) {
        c->agent->c.streams_failed++;
        tsc_logf(TSC_LOG_DEBUG, "stream write: %s", uv_strerror(status));
        conn_close(c);
        return;
    }
    c->agent->c.streams_out++;
    /* Wait for the peer to close: if it could not open our frame it first
     * answers the auth marker, and the operator should hear about a wrong
     * key rather than watch a silent node that never joins. */
    tsc_buf_free(&c->out);
    if (uv_read_start(&c->h.stream, on_alloc, on_read) != 0)
        conn_close(c);
}

/* An outgoing stream got a reply frame: the only one defined is the marker,
 * except on a forwarded control request, where it is the answer. */
static void conn_reply(struct tsc__conn *c)
{
    struct tsc_agent *a = c->agent;
    if (c->kind == CONN_FWD_OUT) {
        c->answered = 1;
        tsc__agent_on_forwarded(a, c->origin, c->origin_tcp, c->in.data + 4, c->in.len - 4, NULL);
        conn_close(c);
        return;
    }
    char addr[TSC_ADDR_STRLEN];
    uint64_t now = tsc__agent_now();
    if (c->in.len == 4 + TSC_CONTROL_EAUTH_MARKER_LEN &&
        memcmp(c->in.data + 4, TSC_CONTROL_EAUTH_MARKER, TSC_CONTROL_EAUTH_MARKER_LEN) == 0 &&
        now >= a->next_auth_warn_us) {
        a->next_auth_warn_us = now + TSC_SEC(10);
        tsc_logf(TSC_LOG_WARN, "%s could not open our frames: it has another cluster key",
                 tsc_addr_format(&c->peer, addr));
    }
    conn_close(c);
}

/* Send c->out ([len][frame] already in place) and close when written. */
static void conn_write_out(struct tsc__conn *c)
{
    uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    c->write.data = c;
    int rc = uv_write(&c->write, &c->h.stream, &b, 1, on_written);
    if (rc != 0) {
        if (is_out(c))
            c->agent->c.streams_failed++;
        conn_close(c);
    }
}

/* The whole frame is in c->in: hand it over, then reply or close. */
static void conn_dispatch(struct tsc__conn *c)
{
    struct tsc_agent *a = c->agent;
    uint8_t hdr[4] = {0, 0, 0, 0};
    uv_read_stop(&c->h.stream);
    tsc_buf_reset(&c->out);
    if (tsc_buf_append(&c->out, hdr, sizeof hdr) != 0) {
        conn_close(c);
        return;
    }
    int deferred;
    if (c->kind == CONN_TCP_IN)
        deferred =
            tsc__agent_on_tcp_frame(a, c->id, &c->peer, c->in.data + 4, c->in.len - 4, &c->out);
    else
        deferred = tsc__agent_on_unix_frame(a, c->id, c->in.data + 4, c->in.len - 4, &c->out);
    /* The request is done with; release it before the reply goes out. */
    tsc_buf_free(&c->in);
    /* A handler that waits longer than a forward (recv) says how long. */
    uint64_t wait = a->net_defer_us ? a->net_defer_us : CONN_FWD_DEADLINE_US + TSC_SEC(1);
    a->net_defer_us = 0;
    if (deferred && !a->stopping) {
        c->deferred = 1;
        c->deadline = tsc__agent_now() + wait;
        tsc_buf_reset(&c->out);
        return;
    }
    if (a->stopping || c->out.len <= 4 || c->out.len - 4 > TSC_WIRE_MAX_FRAME) {
        conn_close(c);
        return;
    }
    put_be32(c->out.data, (uint32_t)(c->out.len - 4));
    conn_write_out(c);
}

/* Bytes still missing for the current frame (the prefix counts). */
static size_t conn_missing(const struct tsc__conn *c)
{
    if (c->in.len < 4)
        return 4 - c->in.len;
    const uint8_t *p = c->in.data;
    uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return 4 + (size_t)n - c->in.len;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct tsc__conn *c = h->data;
    size_t want = conn_missing(c);
    if (want > READ_CHUNK)
        want = READ_CHUNK;
    if (want == 0 || tsc_buf_reserve(&c->in, want) != 0) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)c->in.data + c->in.len, (unsigned)want);
}

/* A budget of peers' stream bytes per loop turn (every byte read from a
 * CONN_TCP_IN, whole frames included). libuv reads every ready connection
 * dry in one poll, and a coordinator that eight agents ship logs to would
 * open, verify and queue megabytes in one turn while the election's
 * heartbeats wait: measured 6 MB and 112 ms, and 2.7 MB while frames that
 * arrived whole in one read went uncounted. Over the budget, a connection
 * with a frame still incomplete stops reading, and one accepted in this
 * turn does not start: the rest stays in the kernel (TCP flow control)
 * until the next turn. A frame that completes is still dispatched, so a
 * turn reads at most the budget plus one frame per connection already
 * reading. Datagrams (heartbeats, probes) are not counted. */
static void conn_pause(struct tsc__conn *c)
{
    /* uv_read_stop is a no-op on a stream that never began reading. */
    if (c->closing || c->paused || uv_read_stop(&c->h.stream) != 0)
        return;
    c->paused = 1;
    c->agent->n_paused++;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct tsc__conn *c = s->data;
    struct tsc_agent *a = c->agent;
    if (nread < 0) {
        if (c->in.len > 0 && !is_out(c)) /* the peer went away mid-frame */
            a->c.frame_errors++;
        conn_close(c);
        return;
    }
    c->in.len += (size_t)nread;
    if (c->kind == CONN_TCP_IN)
        a->turn_read += (size_t)nread;
    if (c->in.len < 4)
        return;
    /* on_alloc never reads past the prefix, so the length is checked as soon
     * as its 4 bytes are in, before anything is allocated for the body. */
    if (c->in.len == 4) {
        const uint8_t *p = c->in.data;
        uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        uint32_t max = c->kind == CONN_TCP_OUT ? TSC_CONTROL_EAUTH_MARKER_LEN : TSC_WIRE_MAX_FRAME;
        if (n == 0 || n > max) {
            if (!is_out(c))
                a->c.frame_errors++;
            tsc_logf(TSC_LOG_DEBUG, "stream: bad frame length %u; closing", n);
            conn_close(c);
            return;
        }
    }
    if (conn_missing(c) == 0) {
        if (is_out(c))
            conn_reply(c);
        else
            conn_dispatch(c);
        return;
    }
    if (c->kind == CONN_TCP_IN && a->turn_read >= TURN_READ_BYTES)
        conn_pause(c);
}

/* Before each poll: a new turn's budget, and the paused connections read on. */
static void on_turn_start(uv_prepare_t *h)
{
    struct tsc_agent *a = h->data;
    a->turn_read = 0;
    if (a->n_paused == 0)
        return;
    /* Oldest first (new connections are at the head), and only as many
     * as the turn's budget covers: all of them at once would read every
     * frame they hold in this turn (measured: 3.4 MB). A connection whose
     * frame length is not in yet counts as a typical batch. */
    struct tsc__conn *tail = a->conns;
    while (tail != NULL && tail->next != NULL)
        tail = tail->next;
    size_t budget = TURN_READ_BYTES;
    a->n_paused = 0;
    for (struct tsc__conn *c = tail, *prev; c != NULL; c = prev) {
        prev = c->prev;
        if (!c->paused || c->closing)
            continue;
        if (budget == 0) {
            a->n_paused++;
            continue;
        }
        size_t want = c->in.len >= 4 ? conn_missing(c) : PAUSED_GUESS_BYTES;
        budget = want < budget ? budget - want : 0;
        c->paused = 0;
        if (uv_read_start(&c->h.stream, on_alloc, on_read) != 0)
            conn_close(c);
    }
}

static void discard_closed(uv_handle_t *h)
{
    struct tsc_agent *a = h->data;
    a->discard_busy = 0;
}

static void accept_conn(uv_stream_t *server, int kind)
{
    struct tsc_agent *a = server->data;
    struct tsc__conn *c = conn_new(a, kind);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (c == NULL) {
        /* Out of memory. libuv stops watching the listener until a pending
         * connection is accepted, so accept it into the agent's one spare
         * handle and close it at once rather than go deaf. */
        a->c.conns_dropped++;
        if (a->discard_busy)
            return;
        if (kind == CONN_TCP_IN)
            uv_tcp_init(&a->loop, &a->discard.tcp);
        else
            uv_pipe_init(&a->loop, &a->discard.pipe, 0);
        a->discard.handle.data = a;
        a->discard_busy = 1;
        uv_accept(server, &a->discard.stream);
        uv_close(&a->discard.handle, discard_closed);
        return;
    }
    if (kind == CONN_TCP_IN)
        uv_tcp_init(&a->loop, &c->h.tcp);
    else
        uv_pipe_init(&a->loop, &c->h.pipe, 0);
    c->h.handle.data = c;
    if (uv_accept(server, &c->h.stream) != 0) {
        conn_close(c);
        return;
    }
    a->c.conns_accepted++;
    if (a->stopping ||
        (kind == CONN_UNIX_IN ? a->n_conns_unix > MAX_CONNS_UNIX : a->n_conns_in > MAX_CONNS_IN)) {
        a->c.conns_dropped++;
        conn_close(c);
        return;
    }
    if (kind == CONN_TCP_IN && (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) != 0 ||
                                from_sockaddr((struct sockaddr *)&ss, &c->peer) != 0)) {
        conn_close(c);
        return;
    }
    if (kind == CONN_TCP_IN && a->turn_read >= TURN_READ_BYTES)
        conn_pause(c);
    else if (uv_read_start(&c->h.stream, on_alloc, on_read) != 0)
        conn_close(c);
}

static void on_tcp_connection(uv_stream_t *server, int status)
{
    if (status == 0)
        accept_conn(server, CONN_TCP_IN);
}

static void on_unix_connection(uv_stream_t *server, int status)
{
    if (status == 0)
        accept_conn(server, CONN_UNIX_IN);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct tsc__conn *c = req->data;
    char addr[TSC_ADDR_STRLEN];
    if (status < 0) {
        c->agent->c.streams_failed++;
        tsc_logf(TSC_LOG_DEBUG, "stream to %s: %s", tsc_addr_format(&c->peer, addr),
                 uv_strerror(status));
        conn_close(c);
        return;
    }
    if (!c->closing)
        conn_write_out(c);
}

/* Open an outgoing stream of `kind` that writes [len][data] to `to`; NULL
 * when it could not even start (counted). */
static struct tsc__conn *stream_open(struct tsc_agent *a, int kind, const struct tsc_addr *to,
                                     const uint8_t *data, size_t len)
{
    struct sockaddr_in sa;
    uint8_t hdr[4];
    if (a->stopping || len == 0 || len > TSC_WIRE_MAX_FRAME || a->n_conns_out >= MAX_CONNS_OUT) {
        a->c.streams_failed++;
        return NULL;
    }
    struct tsc__conn *c = conn_new(a, kind);
    if (c == NULL) {
        a->c.streams_failed++;
        return NULL;
    }
    uv_tcp_init(&a->loop, &c->h.tcp);
    c->h.handle.data = c;
    c->peer = *to;
    put_be32(hdr, (uint32_t)len);
    if (tsc_buf_append(&c->out, hdr, 4) != 0 || tsc_buf_append(&c->out, data, len) != 0) {
        a->c.streams_failed++;
        conn_close(c);
        return NULL;
    }
    to_sockaddr(to, &sa);
    c->connect.data = c;
    int rc = uv_tcp_connect(&c->connect, &c->h.tcp, (const struct sockaddr *)&sa, on_connect);
    if (rc != 0) {
        a->c.streams_failed++;
        conn_close(c);
        return NULL;
    }
    return c;
}

int tsc__net_stream_room(struct tsc_agent *a, const struct tsc_addr *to, size_t max)
{
    /* A quarter stays free for everything that is not a log batch. */
    if (a->stopping || a->n_conns_out >= MAX_CONNS_OUT - MAX_CONNS_OUT / 4)
        return 0;
    size_t n = 0;
    for (const struct tsc__conn *c = a->conns; to != NULL && c != NULL && n < max; c = c->next)
        n += c->kind == CONN_TCP_OUT && !c->closing && tsc_addr_eq(&c->peer, to);
    return to == NULL || n < max;
}

void tsc__net_send_stream(struct tsc_agent *a, const struct tsc_addr *to, const uint8_t *data,
                          size_t len)
{
    stream_open(a, CONN_TCP_OUT, to, data, len);
}

void tsc__net_forward(struct tsc_agent *a, uint64_t conn_id, int origin_tcp,
                      const struct tsc_addr *to, const uint8_t *sealed, size_t len)
{
    struct tsc__conn *c = stream_open(a, CONN_FWD_OUT, to, sealed, len);
    if (c == NULL) {
        tsc__agent_on_forwarded(a, conn_id, origin_tcp, NULL, 0,
                                "cannot open a connection to the coordinator");
        return;
    }
    c->origin = conn_id;
    c->origin_tcp = origin_tcp;
}

void tsc__net_reply(struct tsc_agent *a, uint64_t conn_id, const uint8_t *frame, size_t len)
{
    struct tsc__conn *c;
    uint8_t hdr[4];
    for (c = a->conns; c != NULL; c = c->next)
        if (c->id == conn_id)
            break;
    if (c == NULL || c->closing || !c->deferred)
        return; /* the client gave up */
    c->deferred = 0;
    tsc_buf_reset(&c->out);
    put_be32(hdr, (uint32_t)len);
    if (a->stopping || len == 0 || len > TSC_WIRE_MAX_FRAME ||
        tsc_buf_append(&c->out, hdr, 4) != 0 || tsc_buf_append(&c->out, frame, len) != 0) {
        conn_close(c);
        return;
    }
    conn_write_out(c);
}

void tsc__net_sweep(struct tsc_agent *a, uint64_t now)
{
    for (struct tsc__conn *c = a->conns; c != NULL; c = c->next) {
        if (!c->closing && now > c->deadline) {
            if (is_out(c) && c->out.len > 0) /* not even written */
                a->c.streams_failed++;
            else
                a->c.frame_errors++;
            conn_close(c);
        }
    }
}

/* ---- UDP ---------------------------------------------------------------- */

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct tsc_agent *a = h->data;
    *buf = uv_buf_init((char *)a->udp_buf, sizeof a->udp_buf);
}

/* Open the datagram once to read its type (coord.c explains the routing).
 * Frames that do not open go to the SWIM engine, which counts them. */
/* Open a datagram once to route it: election frames go to coord.c, stage
 * messages to runs.c/participant.c (1: handled here), everything else, and
 * whatever does not open, to the SWIM engine (0), which counts bad packets. */
static int route_datagram(struct tsc_agent *a, const struct tsc_addr *from, const uint8_t *data,
                          size_t len)
{
    struct tsc_envelope env;
    int rc = tsc_wire_open(&a->wire, data, len, sizeof a->udp_buf, &a->scratch, &env);
    int handled = 0;
    if (rc == 0 && env.type >= TSC_MSG_RAFT_VOTE && env.type < TSC_MSG_CONTROL_REQ) {
        tsc_buf_reset(&a->scratch);
        tsc__coord_on_frame(a, 0, from, data, len);
        return 1;
    }
    if (rc == 0)
        handled = tsc__agent_on_stage_frame(a, &env); /* env->body is in a->scratch */
    tsc_buf_reset(&a->scratch);
    return handled;
}

static void on_udp_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *from, unsigned flags)
{
    struct tsc_agent *a = u->data;
    struct tsc_gossip_event ev;
    if (nread <= 0 || from == NULL)
        return; /* nothing read, or a transient error: the engine's timers cope */
    memset(&ev, 0, sizeof ev);
    /* A truncated datagram is still handed over: the engine counts it as
     * malformed, so every bad packet is counted in one place. */
    if (from_sockaddr(from, &ev.from) != 0)
        return;
    (void)flags;
    if (route_datagram(a, &ev.from, (const uint8_t *)buf->base, (size_t)nread))
        return;
    ev.type = TSC_GOSSIP_EV_DATAGRAM;
    ev.data = (const uint8_t *)buf->base;
    ev.len = (size_t)nread;
    tsc__agent_step(a, &ev);
}

static void on_udp_sent(uv_udp_send_t *req, int status)
{
    struct udp_send *s = (struct udp_send *)req;
    struct tsc_agent *a = req->handle->data;
    if (status < 0 && status != UV_ECANCELED)
        a->c.udp_send_errors++;
    tsc_free(s);
}

void tsc__net_send_datagram(struct tsc_agent *a, const struct tsc_addr *to, const uint8_t *data,
                            size_t len)
{
    struct sockaddr_in sa;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    if (!(a->handles_open & TSC__H_UDP) || uv_is_closing((uv_handle_t *)&a->udp))
        return;
    to_sockaddr(to, &sa);
    /* Fast path: straight to the kernel, no copy. */
    int rc = uv_udp_try_send(&a->udp, &b, 1, (const struct sockaddr *)&sa);
    if (rc >= 0)
        return;
    if (rc != UV_EAGAIN || uv_udp_get_send_queue_count(&a->udp) >= MAX_UDP_QUEUE) {
        a->c.udp_send_errors++;
        return;
    }
    /* The socket buffer is full: queue a copy (the engine's bytes are only
     * valid until its next step). */
    struct udp_send *s = tsc_malloc(sizeof *s + len);
    if (s == NULL) {
        a->c.udp_send_errors++;
        return;
    }
    s->len = len;
    memcpy(s->data, data, len);
    b = uv_buf_init((char *)s->data, (unsigned)len);
    if (uv_udp_send(&s->req, &a->udp, &b, 1, (const struct sockaddr *)&sa, on_udp_sent) != 0) {
        a->c.udp_send_errors++;
        tsc_free(s);
    }
}

/* ---- start and stop ----------------------------------------------------- */

static int uv_fail(char *errmsg, int uvrc, const char *what, const struct tsc_addr *addr)
{
    char s[TSC_ADDR_STRLEN];
    if (addr)
        tsc_errmsg_setf(errmsg, "%s %s: %s", what, tsc_addr_format(addr, s), uv_strerror(uvrc));
    else
        tsc_errmsg_setf(errmsg, "%s: %s", what, uv_strerror(uvrc));
    return uvrc == UV_EADDRINUSE ? TSC_EEXIST : TSC_EIO;
}

static int start_unix(struct tsc_agent *a, char *errmsg)
{
    int rc;
    size_t n = (size_t)snprintf(a->sock_path, sizeof a->sock_path, "%s/%s", a->cfg.data_dir,
                                TSC_AGENT_SOCKET_NAME);
    if (n >= sizeof a->sock_path) {
        tsc_errmsg_setf(errmsg, "control socket: path %s/%s is too long for a Unix socket",
                        a->cfg.data_dir, TSC_AGENT_SOCKET_NAME);
        return TSC_EINVAL;
    }
    /* The store's lock guarantees no other tscd uses this data dir, so a
     * socket file left here is stale (a previous agent was killed). */
    unlink(a->sock_path);
    uv_pipe_init(&a->loop, &a->ctl, 0);
    a->ctl.data = a;
    a->handles_open |= TSC__H_CTL;
    /* Create it 0600 from the start: a chmod after bind leaves a window. */
    mode_t old = umask(0177);
    rc = uv_pipe_bind(&a->ctl, a->sock_path);
    umask(old);
    if (rc == 0 && chmod(a->sock_path, 0600) != 0)
        rc = uv_translate_sys_error(errno);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&a->ctl, 16, on_unix_connection);
    if (rc != 0)
        return uv_fail(errmsg, rc, "control socket", NULL);
    return 0;
}

int tsc__net_start(struct tsc_agent *a, char *errmsg)
{
    struct sockaddr_in sa;
    int rc;
    to_sockaddr(&a->cfg.bind, &sa);

    uv_udp_init(&a->loop, &a->udp);
    a->udp.data = a;
    a->handles_open |= TSC__H_UDP;
    rc = uv_udp_bind(&a->udp, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_udp_recv_start(&a->udp, on_udp_alloc, on_udp_recv);
    if (rc != 0)
        return uv_fail(errmsg, rc, "udp bind", &a->cfg.bind);

    uv_prepare_init(&a->loop, &a->turn_start);
    a->turn_start.data = a;
    a->handles_open |= TSC__H_TURN;
    uv_prepare_start(&a->turn_start, on_turn_start);
    uv_unref((uv_handle_t *)&a->turn_start);

    uv_tcp_init(&a->loop, &a->tcp);
    a->tcp.data = a;
    a->handles_open |= TSC__H_TCP;
    rc = uv_tcp_bind(&a->tcp, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&a->tcp, 128, on_tcp_connection);
    if (rc != 0)
        return uv_fail(errmsg, rc, "tcp listen", &a->cfg.bind);
    return start_unix(a, errmsg);
}

void tsc__net_close(struct tsc_agent *a)
{
    if ((a->handles_open & TSC__H_UDP) && !uv_is_closing((uv_handle_t *)&a->udp))
        uv_close((uv_handle_t *)&a->udp, NULL);
    if ((a->handles_open & TSC__H_TCP) && !uv_is_closing((uv_handle_t *)&a->tcp))
        uv_close((uv_handle_t *)&a->tcp, NULL);
    if ((a->handles_open & TSC__H_TURN) && !uv_is_closing((uv_handle_t *)&a->turn_start))
        uv_close((uv_handle_t *)&a->turn_start, NULL);
    if ((a->handles_open & TSC__H_CTL) && !uv_is_closing((uv_handle_t *)&a->ctl)) {
        uv_close((uv_handle_t *)&a->ctl, NULL);
        unlink(a->sock_path);
    }
    for (struct tsc__conn *c = a->conns; c != NULL; c = c->next)
        conn_close(c);
}
