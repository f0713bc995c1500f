/* tsc — libFuzzer target: the SWIM engine (gossip/gossip.h) fed a script of
 * network events (fuzz/script.h). Its question: can anything that arrives
 * from the network crash an agent or corrupt its view of the cluster?
 *
 * The target plays the rest of a five-node cluster: node 0 is the engine
 * under test, nodes 1..3 are members it learns at start (unless the script
 * says otherwise), node 4 is a stranger it can only learn from a record.
 * All keys come from fixed seeds and the cheap crypto table, so a run is a
 * pure function of its input. Because the target holds every node's keys
 * and the cluster key, the script can do what a fuzzer alone could never do
 * through the AEAD and the signatures: send correctly sealed frames with a
 * right sender and sequence, carrying validly signed records and claims
 * (suspect, dead, left, new meta, old or future incarnations, claims about
 * the engine itself), as well as raw and half-broken ones.
 *
 * After every step the target checks what it can see through the public
 * API and aborts on the first violation:
 *   - the step returns 0 for every TICK, datagram and stream (TSC_ENOMEM
 *     only when the script made an allocation fail);
 *   - the node never sees itself suspect or dead; left only after LEAVE;
 *   - members are only ever the five nodes, each once, each consistent
 *     between member_at and member_find; incarnations never fall;
 *   - every member's stored record verifies and belongs to it;
 *   - every frame the engine sends opens with the cluster key, names the
 *     engine as sender with a strictly increasing sequence, has a body its
 *     peers can decode, fits max_datagram when it is a datagram, and
 *     relays only records and claims whose signatures verify;
 *   - after a TICK at time t, the next deadline lies after t (a driver that
 *     obeys the deadline does not spin);
 *   - the rejection counters add up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "common/time.h"
#include "fuzz/fuzz.h"
#include "fuzz/script.h"
#include "gossip/gossip.h"
#include "wire/frame.h"
#include "wire/record.h"
#include "wire/swim.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_gossip: invariant broken: %s (%s:%d)\n", #cond, __FILE__,        \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define N_IDS       5
#define SELF        0
#define MAX_HARVEST 8
#define MAX_OPS     1000 /* per input, so that every input runs in bounded time */

struct fz_node {
    uint8_t pk[TSC_PK_BYTES];
    uint8_t sk[TSC_SK_BYTES];
    uint64_t id;
    struct tsc_addr addr;
    uint64_t seq; /* last envelope seq this node "sent" */
};

struct fz {
    struct tsc_wire wire;
    struct tsc_gossip *g;
    struct fz_node nodes[N_IDS];
    uint64_t other_seq; /* for senders that are none of the nodes */
    uint64_t now;
    uint64_t deadline;
    size_t max_datagram;
    struct tsc_buf meta;  /* the default meta of every node */
    struct tsc_buf frame; /* the last frame the script sealed */
    int frame_kind;       /* TSC_GOSSIP_EV_DATAGRAM or _STREAM */
    struct tsc_buf body, blob, scratch;

    /* Learnt from the engine's own frames. */
    uint32_t ping_probe, req_probe;
    uint64_t last_out_seq;
    struct tsc_buf harvest[MAX_HARVEST]; /* blobs the engine gossiped */
    unsigned n_harvest, harvest_next;
    struct tsc_buf echo; /* the engine's last frame */
    int echo_kind;

    /* What the checks remember between steps. */
    uint64_t inc[N_IDS];
    int leave_asked, left, leave_oom;
    unsigned long oom_after; /* armed for the next step; 0 = off */
};

static int node_index(const struct fz *f, uint64_t id)
{
    for (int k = 0; k < N_IDS; k++)
        if (f->nodes[k].id == id)
            return k;
    return -1;
}

/* ---- checks ------------------------------------------------------------- */

/* A blob the engine sends must be one it verified: a record signed by its
 * subject, or a claim signed by an accuser the engine knows. */
static void check_relayed_blob(struct fz *f, const uint8_t *blob, size_t len)
{
    int kind;
    CHECK(tsc_blob_kind(blob, len, &kind) == 0);
    if (kind == TSC_BLOB_RECORD) {
        struct tsc_record r;
        CHECK(tsc_record_decode(f->wire.crypto, blob, len, 1, &r) == 0);
        CHECK(r.status == TSC_STATUS_ALIVE || r.status == TSC_STATUS_LEFT);
        CHECK(node_index(f, r.id) >= 0);
    } else {
        struct tsc_claim cl;
        struct tsc_gossip_member acc;
        CHECK(kind == TSC_BLOB_CLAIM);
        CHECK(tsc_claim_decode(blob, len, &cl) == 0);
        CHECK(cl.status == TSC_STATUS_SUSPECT || cl.status == TSC_STATUS_DEAD);
        CHECK(tsc_gossip_member_find(f->g, cl.accuser, &acc) == 0);
        CHECK(tsc_blob_verify(f->wire.crypto, blob, len, acc.pk) == 0);
    }
    struct tsc_buf *h = &f->harvest[f->harvest_next];
    f->harvest_next = (f->harvest_next + 1) % MAX_HARVEST;
    if (f->n_harvest < MAX_HARVEST)
        f->n_harvest++;
    tsc_buf_reset(h);
    CHECK(tsc_buf_append(h, blob, len) == 0);
}

static void check_out(struct fz *f, const struct tsc_gossip_out *o)
{
    struct tsc_envelope env;
    CHECK(o->kind == TSC_GOSSIP_OUT_DATAGRAM || o->kind == TSC_GOSSIP_OUT_STREAM);
    CHECK(o->data != NULL && o->len > 0);
    if (o->kind == TSC_GOSSIP_OUT_DATAGRAM)
        CHECK(o->len <= f->max_datagram);
    CHECK(o->len <= TSC_WIRE_MAX_FRAME);
    CHECK(tsc_wire_open(&f->wire, o->data, o->len, TSC_WIRE_MAX_FRAME, &f->scratch, &env) == 0);
    CHECK(env.sender == f->nodes[SELF].id);
    CHECK(env.seq > f->last_out_seq);
    f->last_out_seq = env.seq;
    if (o->kind == TSC_GOSSIP_OUT_DATAGRAM) {
        static struct tsc_swim_msg m;
        CHECK(env.type >= TSC_MSG_PING && env.type <= TSC_MSG_GOSSIP);
        CHECK(tsc_swim_decode(env.body, env.body_len, &m) == 0);
        if (env.type == TSC_MSG_PING)
            f->ping_probe = m.probe;
        if (env.type == TSC_MSG_PING_REQ)
            f->req_probe = m.probe;
        for (unsigned i = 0; i < m.n_items; i++)
            check_relayed_blob(f, m.items[i].blob, m.items[i].len);
    } else if (env.type == TSC_MSG_PING || env.type == TSC_MSG_ACK) {
        /* the fallback probe over a stream */
        static struct tsc_swim_msg m;
        CHECK(tsc_swim_decode(env.body, env.body_len, &m) == 0);
        for (unsigned i = 0; i < m.n_items; i++)
            check_relayed_blob(f, m.items[i].blob, m.items[i].len);
    } else {
        struct tsc_mp_reader r;
        int join;
        uint32_t count;
        CHECK(env.type == TSC_MSG_PUSHPULL_REQ || env.type == TSC_MSG_PUSHPULL_RESP);
        CHECK(tsc_pushpull_read_begin(&r, env.body, env.body_len, &join, &count) == 0);
        CHECK(count >= 1);
        for (uint32_t i = 0; i < count; i++) {
            const uint8_t *blob;
            size_t len;
            struct tsc_record self;
            CHECK(tsc_pushpull_read_next(&r, &blob, &len) == 0);
            if (i == 0) { /* the sender's own record comes first */
                CHECK(tsc_record_decode(f->wire.crypto, blob, len, 1, &self) == 0);
                CHECK(self.id == f->nodes[SELF].id);
            }
            check_relayed_blob(f, blob, len);
        }
        CHECK(tsc_mp_remaining(&r) == 0);
    }
    tsc_buf_reset(&f->echo);
    CHECK(tsc_buf_append(&f->echo, o->data, o->len) == 0);
    f->echo_kind =
        o->kind == TSC_GOSSIP_OUT_DATAGRAM ? TSC_GOSSIP_EV_DATAGRAM : TSC_GOSSIP_EV_STREAM;
}

static void check_state(struct fz *f)
{
    const struct tsc_gossip_stats *st = tsc_gossip_stats(f->g);
    size_t count = tsc_gossip_count(f->g);
    size_t by_status = 0;
    int seen[N_IDS] = {0};
    CHECK(count >= 1 && count <= N_IDS);
    for (int s = TSC_STATUS_ALIVE; s <= TSC_STATUS_LEFT; s++)
        by_status += tsc_gossip_count_status(f->g, s);
    CHECK(by_status == count);
    for (size_t i = 0; i < count; i++) {
        struct tsc_gossip_member m, again;
        struct tsc_record rec;
        CHECK(tsc_gossip_member_at(f->g, i, &m) == 0);
        int k = node_index(f, m.id);
        CHECK(k >= 0 && !seen[k]);
        seen[k] = 1;
        CHECK(tsc_gossip_member_find(f->g, m.id, &again) == 0);
        CHECK(again.id == m.id && again.status == m.status && again.incarnation == m.incarnation);
        CHECK(m.status <= TSC_STATUS_LEFT);
        CHECK(m.is_self == (k == SELF));
        CHECK(memcmp(m.pk, f->nodes[k].pk, TSC_PK_BYTES) == 0);
        CHECK(m.incarnation >= f->inc[k]);
        f->inc[k] = m.incarnation;
        CHECK(tsc_record_decode(f->wire.crypto, m.record, m.record_len, 1, &rec) == 0);
        CHECK(rec.id == m.id && rec.incarnation <= m.incarnation);
        if (k == SELF) {
            /* SWIM §4.2: a node refutes, it never believes it is suspect
             * or dead; it is left only once it said so. */
            CHECK(m.status == TSC_STATUS_ALIVE || (m.status == TSC_STATUS_LEFT && f->leave_asked));
            if (f->left)
                CHECK(m.status == TSC_STATUS_LEFT);
            CHECK(rec.incarnation == m.incarnation && rec.status == m.status);
        }
    }
    CHECK(seen[SELF]);
    CHECK(tsc_gossip_self_id(f->g) == f->nodes[SELF].id);
    CHECK(st->rejected == st->rejected_auth + st->rejected_replay + st->rejected_malformed +
                              st->rejected_cluster + st->rejected_sig);
    CHECK(st->health <= 8);
}

/* One step, then every check. Returns the step's status. */
static int step(struct fz *f, struct tsc_gossip_event *ev)
{
    struct tsc_gossip_update up;
    unsigned long oom = f->oom_after;
    f->oom_after = 0;
    ev->now = f->now;
    if (oom)
        tsc_alloc_fail_after(oom);
    int rc = tsc_gossip_step(f->g, ev, &up);
    tsc_alloc_fail_after(0);
    CHECK(rc == 0 || (oom && rc == TSC_ENOMEM) || rc == TSC_EINVAL);
    for (size_t i = 0; i < up.n_out; i++)
        check_out(f, &up.out[i]);
    for (size_t i = 0; i < up.n_changes; i++) {
        struct tsc_gossip_member m;
        const struct tsc_gossip_change *c = &up.changes[i];
        CHECK(tsc_gossip_member_find(f->g, c->id, &m) == 0);
        CHECK(c->new_status <= TSC_STATUS_LEFT);
        CHECK(c->old_status <= TSC_STATUS_LEFT || c->old_status == 255);
    }
    check_state(f);
    f->deadline = up.next_deadline;
    return rc;
}

/* Network input: the bytes get a block of their own so that ASan sees any
 * read past their end. Whatever they hold, the step returns 0. */
static void deliver(struct fz *f, int type, struct tsc_addr from, const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    CHECK(copy != NULL);
    if (len)
        memcpy(copy, data, len);
    struct tsc_gossip_event ev = {.type = type, .from = from, .data = copy, .len = len};
    int rc = step(f, &ev);
    CHECK(rc != TSC_EINVAL);
    free(copy);
}

static void tick(struct fz *f)
{
    struct tsc_gossip_event ev = {.type = TSC_GOSSIP_EV_TICK};
    CHECK(step(f, &ev) != TSC_EINVAL);
    /* A deadline at or before now asks for another step at once: allow a
     * few (work left after a failed allocation), never an endless spin. */
    for (int k = 0; k < 4 && f->deadline <= f->now; k++)
        CHECK(step(f, &ev) != TSC_EINVAL);
    CHECK(f->deadline > f->now);
}

/* ---- building inputs ---------------------------------------------------- */

static uint64_t view_incarnation(struct fz *f, uint64_t id)
{
    struct tsc_gossip_member m;
    return tsc_gossip_member_find(f->g, id, &m) == 0 ? m.incarnation : 0;
}

/* An incarnation near what the engine believes, or anywhere. */
static uint64_t pick_incarnation(struct fz *f, struct tsc_fuzz_in *in, uint64_t id)
{
    uint64_t v = view_incarnation(f, id);
    switch (tsc_fuzz_u8(in) % 6) {
    case 0:
        return v;
    case 1:
        return v + 1;
    case 2:
        return v > 0 ? v - 1 : 0;
    case 3:
        return v + tsc_fuzz_u8(in);
    case 4:
        return tsc_fuzz_u64(in);
    default:
        return UINT64_MAX - (tsc_fuzz_u8(in) & 1);
    }
}

/* A node's record, signed by it: new incarnations, LEFT, other meta. */
static void build_record(struct fz *f, struct tsc_fuzz_in *in, int k, int bad_sig,
                         struct tsc_buf *out)
{
    struct fz_node *n = &f->nodes[k];
    struct tsc_record r;
    size_t len;
    memset(&r, 0, sizeof r);
    r.id = n->id;
    memcpy(r.pk, n->pk, TSC_PK_BYTES);
    r.addr = n->addr;
    uint8_t flags = tsc_fuzz_u8(in);
    if (flags & 0x10)
        r.addr.port = (uint16_t)(r.addr.port + 1 + (flags >> 5)); /* moved */
    r.incarnation = pick_incarnation(f, in, n->id);
    r.status = (flags & 7) == 0 ? TSC_STATUS_LEFT : TSC_STATUS_ALIVE;
    switch ((flags >> 3) & 1 ? tsc_fuzz_u8(in) % 3 : 0) {
    case 0:
        r.meta = f->meta.data;
        r.meta_len = f->meta.len;
        break;
    case 1:
        r.meta = NULL;
        r.meta_len = 0;
        break;
    default:
        r.meta = tsc_fuzz_bytes(in, tsc_fuzz_u8(in), &len);
        r.meta_len = len;
        break;
    }
    size_t at = out->len;
    CHECK(tsc_record_encode(f->wire.crypto, &r, n->sk, out) == 0);
    if (bad_sig && out->len > at)
        out->data[out->len - 1] ^= 0x01; /* the signature's last byte */
}

/* A claim that `target` is suspect or dead, signed by `accuser` (or, with
 * a bad signature, by somebody else in its name). */
static void build_claim(struct fz *f, struct tsc_fuzz_in *in, struct tsc_buf *out)
{
    uint8_t t = tsc_fuzz_u8(in);
    uint8_t a = tsc_fuzz_u8(in);
    uint8_t s = tsc_fuzz_u8(in);
    struct tsc_claim cl;
    cl.target = (t & 0x80) ? tsc_fuzz_u64(in) : f->nodes[t % N_IDS].id;
    cl.accuser = f->nodes[a % N_IDS].id;
    cl.incarnation = pick_incarnation(f, in, cl.target);
    cl.status = (s & 7) < 4 ? TSC_STATUS_SUSPECT : TSC_STATUS_DEAD;
    const uint8_t *sk = f->nodes[a % N_IDS].sk;
    if ((s & 0xf0) == 0xf0) { /* forged: a signature that does not verify */
        size_t at = out->len;
        CHECK(tsc_claim_encode(f->wire.crypto, &cl, sk, out) == 0 || cl.target == 0);
        if (out->len > at)
            out->data[out->len - 1] ^= 0x80;
        return;
    }
    if (tsc_claim_encode(f->wire.crypto, &cl, sk, out) != 0)
        CHECK(cl.target == 0); /* the only reason a claim cannot be made */
}

/* One piggybacked item: a signed record or claim, raw bytes, or a blob the
 * engine itself gossiped earlier (relayed back, maybe much later). */
static void build_item(struct fz *f, struct tsc_fuzz_in *in, struct tsc_buf *out)
{
    uint8_t k = tsc_fuzz_u8(in);
    size_t len;
    const uint8_t *p;
    tsc_buf_reset(out);
    switch (k % 8) {
    case 0:
    case 1:
        build_record(f, in, tsc_fuzz_u8(in) % N_IDS, 0, out);
        break;
    case 2:
    case 3:
        build_claim(f, in, out);
        break;
    case 4:
        p = tsc_fuzz_bytes(in, tsc_fuzz_u8(in), &len);
        CHECK(tsc_buf_append(out, p, len) == 0);
        break;
    case 5:
        if (f->n_harvest > 0) {
            const struct tsc_buf *h = &f->harvest[tsc_fuzz_u8(in) % f->n_harvest];
            CHECK(tsc_buf_append(out, h->data, h->len) == 0);
        }
        break;
    case 6:
        build_record(f, in, tsc_fuzz_u8(in) % N_IDS, 1, out);
        break;
    default: { /* a signed record with one byte changed after signing */
        build_record(f, in, tsc_fuzz_u8(in) % N_IDS, 0, out);
        uint16_t at = tsc_fuzz_u16(in);
        if (out->len > 0)
            out->data[at % out->len] ^= (uint8_t)(tsc_fuzz_u8(in) | 1);
        break;
    }
    }
}

static void build_swim_body(struct fz *f, struct tsc_fuzz_in *in)
{
    uint8_t mode = tsc_fuzz_u8(in);
    size_t len;
    tsc_buf_reset(&f->body);
    if (mode % 8 == 7) {
        const uint8_t *p = tsc_fuzz_bytes(in, tsc_fuzz_u16(in) % 1400, &len);
        CHECK(tsc_buf_append(&f->body, p, len) == 0);
        return;
    }
    uint32_t probe;
    switch ((mode >> 3) % 3) {
    case 0:
        probe = f->ping_probe; /* answers the engine's last PING */
        break;
    case 1:
        probe = f->req_probe; /* ... or its last PING_REQ */
        break;
    default:
        probe = tsc_fuzz_u32(in);
        break;
    }
    uint8_t t = tsc_fuzz_u8(in);
    uint64_t target;
    struct tsc_addr taddr = f->nodes[(t >> 2) % N_IDS].addr;
    switch (t & 3) {
    case 0:
        target = f->nodes[SELF].id;
        break;
    case 1:
        target = f->nodes[(t >> 2) % N_IDS].id;
        break;
    case 2:
        target = tsc_fuzz_u64(in);
        taddr.ip = tsc_fuzz_u32(in);
        taddr.port = tsc_fuzz_u16(in);
        break;
    default:
        target = 0;
        break;
    }
    struct tsc_swim_writer w;
    CHECK(tsc_swim_begin(&w, &f->body, probe, target, taddr) == 0);
    unsigned n = tsc_fuzz_u8(in) % 9;
    for (unsigned i = 0; i < n; i++) {
        build_item(f, in, &f->blob);
        int rc = tsc_swim_add(&w, f->blob.data, f->blob.len, f->max_datagram - TSC_WIRE_OVERHEAD);
        CHECK(rc == 0 || rc == TSC_EFULL);
    }
    tsc_swim_finish(&w);
}

static void build_pushpull_body(struct fz *f, struct tsc_fuzz_in *in)
{
    uint8_t mode = tsc_fuzz_u8(in);
    size_t len;
    tsc_buf_reset(&f->body);
    if (mode % 8 == 7) {
        const uint8_t *p = tsc_fuzz_bytes(in, tsc_fuzz_u16(in) % 4096, &len);
        CHECK(tsc_buf_append(&f->body, p, len) == 0);
        return;
    }
    uint32_t n = tsc_fuzz_u8(in) % 17;
    uint32_t count = n;
    if ((mode >> 3) % 8 == 0) /* a count that does not match the items */
        count = tsc_fuzz_u32(in);
    CHECK(tsc_pushpull_begin(&f->body, (mode >> 6) & 1, count) == 0);
    for (uint32_t i = 0; i < n; i++) {
        build_item(f, in, &f->blob);
        CHECK(tsc_pushpull_add(&f->body, f->blob.data, f->blob.len) == 0);
    }
}

/* Seal the body as an envelope of `type` from `sender` with `seq`, the way
 * that node would (nonce = sender || seq || 8 more bytes). */
static void seal(struct fz *f, uint64_t sender, uint64_t seq, uint8_t type)
{
    struct tsc_envelope env = {
        .version = TSC_WIRE_VERSION,
        .sender = sender,
        .seq = seq,
        .type = type,
        .body = f->body.data,
        .body_len = f->body.len,
    };
    uint8_t nonce[TSC_NONCE_BYTES];
    memset(nonce, 0, sizeof nonce);
    for (int i = 0; i < 8; i++) {
        nonce[i] = (uint8_t)(sender >> (56 - 8 * i));
        nonce[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
    }
    tsc_buf_reset(&f->frame);
    CHECK(tsc_wire_seal(&f->wire, &env, nonce, TSC_WIRE_MAX_FRAME, &f->frame) == 0);
}

/* Envelope header: who sends (a node, the engine itself, nobody we know),
 * with which sequence (the next one, the same again, anything), and which
 * message type (mostly the right kind for the transport). */
static void sealed_op(struct fz *f, struct tsc_fuzz_in *in, int stream)
{
    uint8_t s = tsc_fuzz_u8(in);
    uint8_t q = tsc_fuzz_u8(in);
    uint8_t t = tsc_fuzz_u8(in);
    uint64_t sender, *seqp = &f->other_seq;
    struct tsc_addr from = {0xC6120063u, 7946};
    switch (s % 8) {
    case 4:
        sender = f->nodes[SELF].id;
        seqp = &f->nodes[SELF].seq;
        break;
    case 5:
        sender = tsc_fuzz_u64(in);
        break;
    case 6:
        sender = 0;
        break;
    default: {
        struct fz_node *n = &f->nodes[1 + (s % 8) % 4];
        sender = n->id;
        seqp = &n->seq;
        from = n->addr;
        break;
    }
    }
    uint64_t seq;
    switch (q % 4) {
    case 2:
        seq = *seqp; /* a replayed sequence number */
        break;
    case 3:
        seq = tsc_fuzz_u64(in);
        break;
    default:
        seq = ++*seqp;
        break;
    }
    uint8_t type;
    if (t < 0xf0)
        type = stream ? (uint8_t)(TSC_MSG_PUSHPULL_REQ + t % 2) : (uint8_t)(TSC_MSG_PING + t % 5);
    else
        type = (uint8_t)(1 + tsc_fuzz_u8(in) % TSC_MSG_TYPE_MAX) /* seal refuses 0 */;
    if (stream)
        build_pushpull_body(f, in);
    else
        build_swim_body(f, in);
    seal(f, sender, seq, type);
    f->frame_kind = stream ? TSC_GOSSIP_EV_STREAM : TSC_GOSSIP_EV_DATAGRAM;
    deliver(f, f->frame_kind, from, f->frame.data, f->frame.len);
}

static void control_op(struct fz *f, struct tsc_fuzz_in *in)
{
    uint8_t sub = tsc_fuzz_u8(in);
    struct tsc_gossip_event ev;
    memset(&ev, 0, sizeof ev);
    int rc;
    switch (sub % 3) {
    case 0:
        ev.type = TSC_GOSSIP_EV_LEAVE;
        f->leave_asked = 1;
        rc = step(f, &ev);
        CHECK(rc == 0 || rc == TSC_ENOMEM);
        /* After a failed LEAVE the engine is leaving but may not have
         * re-signed its record; a repeated LEAVE is then a no-op. */
        if (rc == TSC_ENOMEM)
            f->leave_oom = 1;
        else if (!f->leave_oom)
            f->left = 1;
        break;
    case 1: {
        size_t len;
        ev.type = TSC_GOSSIP_EV_SET_META;
        if ((sub >> 2) & 1) {
            ev.data = tsc_fuzz_bytes(in, tsc_fuzz_u16(in) % 700, &len);
            ev.len = len;
        } else {
            ev.data = f->meta.data;
            ev.len = (sub >> 3) & 1 ? 0 : f->meta.len;
        }
        rc = step(f, &ev);
        CHECK(rc == 0 || rc == TSC_ENOMEM || (rc == TSC_EINVAL && ev.len > TSC_META_MAX_BYTES));
        break;
    }
    default: {
        struct tsc_addr addrs[4];
        size_t n = (sub >> 2) % 5;
        for (size_t i = 0; i < n; i++) {
            uint8_t a = tsc_fuzz_u8(in);
            addrs[i] = f->nodes[a % N_IDS].addr;
            if (a & 0x80) {
                addrs[i].ip = tsc_fuzz_u32(in);
                addrs[i].port = tsc_fuzz_u16(in);
            }
        }
        ev.type = TSC_GOSSIP_EV_JOIN;
        ev.addrs = addrs;
        ev.n_addrs = n;
        rc = step(f, &ev);
        CHECK(rc == 0 || rc == TSC_ENOMEM);
        break;
    }
    }
}

static void run_op(struct fz *f, struct tsc_fuzz_in *in)
{
    uint8_t op = tsc_fuzz_u8(in) % TSC_FZG_OPS;
    struct tsc_addr nowhere = {0xC6120063u, 7946};
    size_t len;
    const uint8_t *p;
    switch (op) {
    case TSC_FZG_TICK_DEADLINE:
        if (f->deadline == TSC_TIME_NEVER || f->deadline - f->now > TSC_SEC(3600))
            f->now += TSC_SEC(1);
        else if (f->deadline > f->now)
            f->now = f->deadline;
        tick(f);
        break;
    case TSC_FZG_TICK_BY:
        f->now += (uint64_t)tsc_fuzz_u16(in) * 100;
        tick(f);
        break;
    case TSC_FZG_RAW_DATAGRAM:
        p = tsc_fuzz_bytes(in, tsc_fuzz_u16(in) % 1500, &len);
        deliver(f, TSC_GOSSIP_EV_DATAGRAM, nowhere, p, len);
        break;
    case TSC_FZG_RAW_STREAM:
        p = tsc_fuzz_bytes(in, tsc_fuzz_u16(in) % 4096, &len);
        deliver(f, TSC_GOSSIP_EV_STREAM, nowhere, p, len);
        break;
    case TSC_FZG_SEALED_DATAGRAM:
        sealed_op(f, in, 0);
        break;
    case TSC_FZG_SEALED_STREAM:
        sealed_op(f, in, 1);
        break;
    case TSC_FZG_REPLAY: {
        uint8_t how = tsc_fuzz_u8(in);
        if (f->frame.len == 0)
            break;
        if (how & 1) {
            uint16_t at = tsc_fuzz_u16(in);
            f->frame.data[at % f->frame.len] ^= (uint8_t)(tsc_fuzz_u8(in) | 1);
        }
        int kind = (how & 2) ? TSC_GOSSIP_EV_STREAM + TSC_GOSSIP_EV_DATAGRAM - f->frame_kind
                             : f->frame_kind;
        deliver(f, kind, nowhere, f->frame.data, f->frame.len);
        break;
    }
    case TSC_FZG_ECHO:
        if (f->echo.len > 0)
            deliver(f, f->echo_kind, f->nodes[SELF].addr, f->echo.data, f->echo.len);
        break;
    case TSC_FZG_CONTROL:
        control_op(f, in);
        break;
    default: {
        unsigned long n = 1 + tsc_fuzz_u8(in) % 64;
        if (tsc_fuzz_oom_enabled())
            f->oom_after = n;
        break;
    }
    }
}

/* ---- set-up ------------------------------------------------------------- */

static void make_meta(struct tsc_buf *out)
{
    struct tsc_meta m;
    memset(&m, 0, sizeof m);
    m.n_roles = 1;
    strcpy(m.roles[0], "voter");
    m.n_ready = 1;
    strcpy(m.ready[0].key, "db");
    strcpy(m.ready[0].val, "OK");
    CHECK(tsc_meta_encode(&m, out, NULL) == 0);
}

static void setup(struct fz *f, uint8_t flags)
{
    uint8_t key[TSC_KEY_BYTES];
    char err[TSC_ERRMSG_SIZE];
    memset(f, 0, sizeof *f);
    tsc_fuzz_key(key);
    tsc_wire_init(&f->wire, key, &tsc_crypto_cheap);
    f->now = TSC_SEC(1000);
    f->max_datagram = (flags & 1) ? 600 : TSC_WIRE_MAX_DATAGRAM;
    f->other_seq = 1000;
    make_meta(&f->meta);
    for (int k = 0; k < N_IDS; k++) {
        uint8_t seed[TSC_SEED_BYTES];
        memset(seed, 0, sizeof seed);
        seed[0] = (uint8_t)(k + 1);
        seed[1] = 0x5a;
        tsc_crypto_cheap.keypair(f->nodes[k].pk, f->nodes[k].sk, seed);
        f->nodes[k].id = tsc_crypto_node_id(&tsc_crypto_cheap, f->nodes[k].pk);
        f->nodes[k].addr.ip = 0xC6120000u | (uint32_t)(k + 1); /* 198.18.0.x */
        f->nodes[k].addr.port = 7946;
        f->nodes[k].seq = 1000;
    }
    struct tsc_gossip_config cfg;
    tsc_gossip_config_default(&cfg);
    cfg.seed = 42;
    cfg.max_datagram = f->max_datagram;
    struct tsc_gossip_identity id;
    memset(&id, 0, sizeof id);
    memcpy(id.pk, f->nodes[SELF].pk, TSC_PK_BYTES);
    memcpy(id.sk, f->nodes[SELF].sk, TSC_SK_BYTES);
    id.addr = f->nodes[SELF].addr;
    id.meta = f->meta.data;
    id.meta_len = f->meta.len;
    id.incarnation = 1;
    id.seq_start = 5000;
    CHECK(tsc_gossip_new(&f->g, &cfg, &f->wire, &id, f->now, err) == 0);
    f->deadline = f->now;
    check_state(f);
    if (flags & 2)
        return;
    /* Members 1..3, as a push-pull answer from member 1 would bring them. */
    CHECK(tsc_pushpull_begin(&f->body, 0, 3) == 0);
    for (int k = 1; k <= 3; k++) {
        struct tsc_record r;
        memset(&r, 0, sizeof r);
        r.id = f->nodes[k].id;
        memcpy(r.pk, f->nodes[k].pk, TSC_PK_BYTES);
        r.addr = f->nodes[k].addr;
        r.incarnation = 1;
        r.meta = f->meta.data;
        r.meta_len = f->meta.len;
        tsc_buf_reset(&f->blob);
        CHECK(tsc_record_encode(&tsc_crypto_cheap, &r, f->nodes[k].sk, &f->blob) == 0);
        CHECK(tsc_pushpull_add(&f->body, f->blob.data, f->blob.len) == 0);
    }
    seal(f, f->nodes[1].id, ++f->nodes[1].seq, TSC_MSG_PUSHPULL_RESP);
    f->frame_kind = TSC_GOSSIP_EV_STREAM;
    deliver(f, TSC_GOSSIP_EV_STREAM, f->nodes[1].addr, f->frame.data, f->frame.len);
    CHECK(tsc_gossip_count(f->g) == 4);
}

static void teardown(struct fz *f)
{
    tsc_gossip_free(f->g);
    tsc_buf_free(&f->meta);
    tsc_buf_free(&f->frame);
    tsc_buf_free(&f->body);
    tsc_buf_free(&f->blob);
    tsc_buf_free(&f->scratch);
    tsc_buf_free(&f->echo);
    for (int i = 0; i < MAX_HARVEST; i++)
        tsc_buf_free(&f->harvest[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz f;
    struct tsc_fuzz_in in = {data, size};
    setup(&f, tsc_fuzz_u8(&in));
    for (int ops = 0; in.n > 0 && ops < MAX_OPS; ops++)
        run_op(&f, &in);
    teardown(&f);
    return 0;
}
