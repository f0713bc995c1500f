/* tsc — seed scripts for the engine fuzz targets (fuzz_gossip,
 * fuzz_election; the format is in fuzz/script.h). Each seed is a short
 * story that takes the engine somewhere interesting: probes answered,
 * suspicion refuted, members dying and leaving, a push-pull with a
 * stranger; an election won, records replicated and committed, a follower
 * catching up and truncating, voters added and removed, leadership handed
 * over. libFuzzer starts from these and mutates the decisions. */
#include <stdarg.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "fuzz/fuzz.h"
#include "fuzz/script.h"
#include "wire/frame.h"

struct script {
    struct tsc_buf b;
    int failed;
};

static void u8(struct script *s, unsigned v)
{
    uint8_t x = (uint8_t)v;
    if (tsc_buf_append(&s->b, &x, 1) != 0)
        s->failed = 1;
}

static void u16(struct script *s, unsigned v)
{
    u8(s, v & 0xff);
    u8(s, (v >> 8) & 0xff);
}

static void bytes(struct script *s, const char *p)
{
    if (tsc_buf_append(&s->b, p, strlen(p)) != 0)
        s->failed = 1;
}

/* n single bytes. */
static void put(struct script *s, unsigned n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (unsigned i = 0; i < n; i++)
        u8(s, va_arg(ap, unsigned));
    va_end(ap);
}

static int finish(struct script *s, const char *name,
                  void (*emit)(void *ctx, const char *name, const uint8_t *p, size_t n), void *ctx)
{
    int rc = s->failed ? TSC_ENOMEM : 0;
    if (rc == 0)
        emit(ctx, name, s->b.data, s->b.len);
    tsc_buf_reset(&s->b);
    s->failed = 0;
    return rc;
}

/* ---- fuzz_gossip -------------------------------------------------------- */

/* Item selectors (see build_item in fuzz_gossip.c). */
static void g_record(struct script *s, unsigned node, unsigned flags, unsigned inc_mode)
{
    put(s, 4, 0, node, flags, inc_mode); /* flags & 7 == 0: LEFT */
}

static void g_claim(struct script *s, unsigned target, unsigned accuser, unsigned dead,
                    unsigned inc_mode)
{
    put(s, 5, 2, target, accuser, dead ? 4 : 0, inc_mode);
}

/* A sealed GOSSIP datagram from `sender` (1..4) with n items to follow. */
static void g_gossip(struct script *s, unsigned sender, unsigned n)
{
    /* op, sender, seq: next, type GOSSIP, body: probe raw, target none */
    put(s, 5, TSC_FZG_SEALED_DATAGRAM, sender - 1, 0, 4, 2 << 3);
    put(s, 4, 0, 0, 0, 0); /* u32 probe */
    put(s, 2, 3, n);       /* target 0, n items */
}

int tsc_fuzz_gossip_seeds(void (*emit)(void *ctx, const char *name, const uint8_t *p, size_t n),
                          void *ctx)
{
    struct script s;
    int rc = 0;
    memset(&s, 0, sizeof s);

    /* Probing with nobody answering: suspect, then dead, then reconnects. */
    u8(&s, 0);
    for (int i = 0; i < 40; i++)
        u8(&s, TSC_FZG_TICK_DEADLINE);
    rc |= finish(&s, "gossip-idle", emit, ctx);

    /* Every probe answered: an ACK with the engine's probe number. */
    u8(&s, 0);
    for (int i = 0; i < 12; i++) {
        u8(&s, TSC_FZG_TICK_DEADLINE);
        put(&s, 4, TSC_FZG_SEALED_DATAGRAM, 0, 0, 1); /* node 1, next seq, ACK */
        put(&s, 3, 0, 3, 0);                          /* probe = last PING, target 0, no items */
    }
    rc |= finish(&s, "gossip-acks", emit, ctx);

    /* The engine hears it is suspect (refutes), node 2 is suspect then dead,
     * node 3 leaves, a PING and a PING_REQ to serve. */
    u8(&s, 0);
    g_gossip(&s, 1, 4);
    g_claim(&s, 0, 1, 0, 0);
    g_claim(&s, 2, 1, 0, 0);
    g_claim(&s, 2, 3, 0, 0);
    g_record(&s, 3, 0, 1);
    u8(&s, TSC_FZG_TICK_DEADLINE);
    g_gossip(&s, 3, 2);
    g_claim(&s, 2, 3, 1, 0);
    g_claim(&s, 0, 3, 1, 1);
    put(&s, 4, TSC_FZG_SEALED_DATAGRAM, 1, 0, 0); /* PING from node 2 */
    put(&s, 5, 2 << 3, 7, 0, 0, 0);               /* probe 7 */
    put(&s, 2, 0, 0);                             /* target self, no items */
    put(&s, 4, TSC_FZG_SEALED_DATAGRAM, 2, 0, 2); /* PING_REQ from node 3 */
    put(&s, 5, 2 << 3, 9, 0, 0, 0);               /* probe 9 */
    put(&s, 2, 1 | (1 << 2), 0);                  /* target node 1, no items */
    for (int i = 0; i < 8; i++)
        u8(&s, TSC_FZG_TICK_DEADLINE);
    rc |= finish(&s, "gossip-suspect-dead-left", emit, ctx);

    /* A push-pull request from node 2 that brings the stranger (node 4), a
     * dead claim (taken as suspicion) and an old record of the engine. */
    u8(&s, 0);
    put(&s, 4, TSC_FZG_SEALED_STREAM, 1, 0, 0); /* PUSHPULL_REQ */
    put(&s, 2, 1 << 3, 3);                      /* structured, 3 items */
    g_record(&s, 4, 1, 1);
    g_claim(&s, 3, 2, 1, 0);
    g_record(&s, 0, 1, 1);
    for (int i = 0; i < 6; i++)
        u8(&s, TSC_FZG_TICK_DEADLINE);
    rc |= finish(&s, "gossip-pushpull", emit, ctx);

    /* Alone, joining through two seeds, answered by node 1. */
    u8(&s, 2);
    put(&s, 4, TSC_FZG_CONTROL, 8, 1, 2); /* JOIN through nodes 1 and 2 */
    u8(&s, TSC_FZG_TICK_DEADLINE);
    put(&s, 4, TSC_FZG_SEALED_STREAM, 0, 0, 1); /* PUSHPULL_RESP */
    put(&s, 2, 1 << 3, 3);
    g_record(&s, 1, 1, 1);
    g_record(&s, 2, 1, 1);
    g_record(&s, 3, 1, 1);
    for (int i = 0; i < 6; i++)
        u8(&s, TSC_FZG_TICK_DEADLINE);
    rc |= finish(&s, "gossip-join", emit, ctx);

    /* New meta, then a graceful leave; a relayed claim and bad blobs. */
    u8(&s, 0);
    put(&s, 2, TSC_FZG_CONTROL, 1);
    g_gossip(&s, 2, 3);
    put(&s, 4, 6, 1, 1, 1); /* record with a bad signature */
    put(&s, 2, 4, 4);       /* raw blob of 4 bytes */
    put(&s, 4, 0x92, 0x90, 0xc4, 0x01);
    put(&s, 4, 7, 2, 1, 1);         /* record changed after signing: */
    put(&s, 3, 3, 0, 0);            /* byte 3, xor 1 */
    put(&s, 2, TSC_FZG_CONTROL, 0); /* LEAVE */
    for (int i = 0; i < 6; i++)
        u8(&s, TSC_FZG_TICK_DEADLINE);
    rc |= finish(&s, "gossip-meta-leave", emit, ctx);

    /* Replays: the same frame again, then with a flipped byte; our own
     * frame echoed back; raw bytes on both transports. */
    u8(&s, 0);
    g_gossip(&s, 1, 1);
    g_record(&s, 1, 1, 1);
    put(&s, 2, TSC_FZG_REPLAY, 0);
    put(&s, 5, TSC_FZG_REPLAY, 1, 30, 0, 4);
    u8(&s, TSC_FZG_TICK_DEADLINE);
    u8(&s, TSC_FZG_ECHO);
    put(&s, 3, TSC_FZG_RAW_DATAGRAM, 8, 0);
    bytes(&s, "\x01tscfuzz");
    put(&s, 3, TSC_FZG_RAW_STREAM, 4, 0);
    put(&s, 4, 0, 0, 0, 1);
    rc |= finish(&s, "gossip-replay-raw", emit, ctx);

    /* 600-byte datagrams, full of records, then gossip rounds. */
    u8(&s, 1);
    g_gossip(&s, 1, 8);
    for (unsigned i = 0; i < 8; i++)
        g_record(&s, 1 + i % 4, 1, 1);
    for (int i = 0; i < 10; i++)
        u8(&s, TSC_FZG_TICK_DEADLINE);
    rc |= finish(&s, "gossip-small-datagram", emit, ctx);

    /* Allocation failures in the middle of merging and of timers. */
    u8(&s, 0);
    put(&s, 2, TSC_FZG_OOM, 4);
    g_gossip(&s, 1, 2);
    g_record(&s, 4, 1, 1);
    g_claim(&s, 2, 1, 0, 0);
    put(&s, 2, TSC_FZG_OOM, 2);
    u8(&s, TSC_FZG_TICK_DEADLINE);
    put(&s, 2, TSC_FZG_OOM, 1);
    u8(&s, TSC_FZG_TICK_DEADLINE);
    rc |= finish(&s, "gossip-oom", emit, ctx);

    tsc_buf_free(&s.b);
    return rc ? TSC_ENOMEM : 0;
}

/* ---- fuzz_election ------------------------------------------------------ */

static void e_reply_all(struct script *s)
{
    put(s, 2, TSC_FZE_REPLY, 0x81);
}

static void e_append_cmd(struct script *s, const char *data)
{
    put(s, 3, TSC_FZE_COMMAND, 0, (unsigned)strlen(data));
    bytes(s, data);
}

/* AppendEntries from node B (sender selector 0) for the engine's term+d
 * (d: 0 same, 1 next), matching its last entry, with n DATA entries. */
static void e_leader_append(struct script *s, unsigned term_mode, unsigned prev_term_mode,
                            unsigned n)
{
    put(s, 4, TSC_FZE_SEALED, 0, 0, 2);         /* B, next seq, datagram, APPEND */
    put(s, 1, 0);                               /* structured body */
    put(s, 4, term_mode, 0, prev_term_mode, 1); /* term, prev = last, prev_term, commit = last+1 */
    put(s, 1, 0);                               /* stamp = now */
    u8(s, n);
    for (unsigned i = 0; i < n; i++)
        put(s, 5, 0, 3, 'x', 'y', 'z'); /* this term, DATA of 3 bytes */
}

int tsc_fuzz_election_seeds(void (*emit)(void *ctx, const char *name, const uint8_t *p, size_t n),
                            void *ctx)
{
    struct script s;
    int rc = 0;
    memset(&s, 0, sizeof s);

    /* Campaign (pre-vote, vote), win, replicate and commit records. */
    u8(&s, 0);
    u8(&s, TSC_FZE_TICK_DEADLINE);
    e_reply_all(&s);
    e_reply_all(&s);
    e_reply_all(&s);
    e_append_cmd(&s, "run-1");
    e_reply_all(&s);
    e_append_cmd(&s, "run-2");
    u8(&s, TSC_FZE_TICK_DEADLINE);
    e_reply_all(&s);
    for (int i = 0; i < 4; i++) {
        u8(&s, TSC_FZE_TICK_DEADLINE);
        e_reply_all(&s);
    }
    rc |= finish(&s, "election-win-commit", emit, ctx);

    /* Nobody answers: pre-votes only, terms stay; the lease of a leader
     * that loses its majority runs out. */
    u8(&s, 0);
    for (int i = 0; i < 10; i++)
        u8(&s, TSC_FZE_TICK_DEADLINE);
    e_reply_all(&s);
    e_reply_all(&s);
    for (int i = 0; i < 10; i++)
        u8(&s, TSC_FZE_TICK_DEADLINE);
    rc |= finish(&s, "election-lease", emit, ctx);

    /* Follower of B: entries of a new term, then a conflicting prev_term
     * (repair), then entries that truncate the uncommitted tail. */
    u8(&s, 1);
    e_leader_append(&s, 1, 0, 2);
    e_leader_append(&s, 0, 0, 1);
    e_leader_append(&s, 0, 2, 0);
    e_leader_append(&s, 5, 0, 3);
    put(&s, 4, TSC_FZE_SEALED, 0, 0, 2); /* B, next term: overwrite from the commit */
    put(&s, 1, 0);
    put(&s, 4, 1, 3, 0, 0);
    put(&s, 2, 0, 2);
    put(&s, 3, 0, 5, 0x07); /* CONFIG of A, B, C */
    put(&s, 3, 0, 1, 'z');  /* DATA "z" */
    for (int i = 0; i < 3; i++)
        u8(&s, TSC_FZE_TICK_DEADLINE);
    rc |= finish(&s, "election-follower", emit, ctx);

    /* Votes asked of the engine: pre-vote, real vote, a stale term,
     * a vote for someone else in the same term, TimeoutNow. */
    u8(&s, 0);
    u8(&s, TSC_FZE_TICK_BY);
    u16(&s, 0x1000);                     /* 410 ms: no longer sticky */
    put(&s, 4, TSC_FZE_SEALED, 2, 0, 0); /* C asks: pre-vote, term+1 */
    put(&s, 3, 1 << 5, 1, 0);
    put(&s, 4, TSC_FZE_SEALED, 2, 0, 0); /* C asks: real vote, term+1 */
    put(&s, 3, 0, 1, 0);
    put(&s, 4, TSC_FZE_SEALED, 0, 0, 0); /* B asks the same term */
    put(&s, 3, 0, 0, 0);
    put(&s, 4, TSC_FZE_SEALED, 0, 0, 0); /* B asks a stale term */
    put(&s, 3, 0, 2, 0);
    put(&s, 4, TSC_FZE_SEALED, 0, 0, 4); /* TimeoutNow from B */
    put(&s, 2, 0, 0);
    e_reply_all(&s);
    e_reply_all(&s);
    rc |= finish(&s, "election-votes", emit, ctx);

    /* Restarted node: wins, adds D, removes C, then leaves (transfer). */
    u8(&s, 1);
    u8(&s, TSC_FZE_TICK_DEADLINE);
    e_reply_all(&s);
    e_reply_all(&s);
    e_reply_all(&s);
    put(&s, 3, TSC_FZE_COMMAND, 1, 3); /* ADD_VOTER D */
    e_reply_all(&s);
    put(&s, 2, TSC_FZE_REPLY, 1 | (2 << 2)); /* D alone */
    e_reply_all(&s);
    put(&s, 3, TSC_FZE_COMMAND, 2, 2); /* REMOVE_VOTER C */
    e_reply_all(&s);
    put(&s, 3, TSC_FZE_COMMAND, 3, 0); /* LEAVE */
    e_reply_all(&s);
    for (int i = 0; i < 4; i++)
        u8(&s, TSC_FZE_TICK_DEADLINE);
    rc |= finish(&s, "election-config-leave", emit, ctx);

    /* Not a voter: taught by a leader, with a CONFIG entry that adds it. */
    u8(&s, 2);
    put(&s, 4, TSC_FZE_SEALED, 0, 0, 2);
    put(&s, 1, 0);
    put(&s, 4, 1, 0, 0, 1);
    put(&s, 2, 0, 1);
    put(&s, 3, 0, 5, 0x07);
    for (int i = 0; i < 3; i++)
        u8(&s, TSC_FZE_TICK_DEADLINE);
    rc |= finish(&s, "election-learner", emit, ctx);

    /* The only voter, leader at once; grows to two, 512-byte datagrams and
     * a record too large for one (stream frame). */
    u8(&s, 3 | 4);
    put(&s, 3, TSC_FZE_COMMAND, 1, 1); /* ADD_VOTER B */
    e_reply_all(&s);
    put(&s, 3, TSC_FZE_COMMAND, 0, 0xfe); /* 600 bytes: a stream frame */
    u16(&s, 600);
    for (int i = 0; i < 600; i++)
        u8(&s, 'r');
    u8(&s, TSC_FZE_TICK_DEADLINE);
    e_reply_all(&s);
    put(&s, 3, TSC_FZE_COMMAND, 0, 0xff); /* over max_record */
    u8(&s, TSC_FZE_TICK_DEADLINE);
    e_reply_all(&s);
    rc |= finish(&s, "election-single-big", emit, ctx);

    /* Raw frames, replays, our own frame echoed, allocation failures. */
    u8(&s, 0);
    put(&s, 4, TSC_FZE_RAW, 0, 6, 0);
    bytes(&s, "\x01zzzzz");
    u8(&s, TSC_FZE_TICK_DEADLINE);
    u8(&s, TSC_FZE_ECHO);
    e_reply_all(&s);
    put(&s, 2, TSC_FZE_REPLAY, 0);
    put(&s, 5, TSC_FZE_REPLAY, 1, 40, 0, 2);
    put(&s, 2, TSC_FZE_OOM, 3);
    e_reply_all(&s);
    put(&s, 2, TSC_FZE_OOM, 1);
    u8(&s, TSC_FZE_TICK_DEADLINE);
    e_reply_all(&s);
    rc |= finish(&s, "election-raw-replay-oom", emit, ctx);

    tsc_buf_free(&s.b);
    return rc ? TSC_ENOMEM : 0;
}
