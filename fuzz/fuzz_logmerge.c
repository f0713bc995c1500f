/* tsc — libFuzzer target: the log merge engine (logsync/merge.h) fed a
 * script of batches and events, and the record and clock decoders.
 *
 * Input (read with the never-failing cursor of fuzz/script.h): the first
 * byte configures the engine (bits 0-1: max_records default/4/16/64; bit 2:
 * max_bytes 512; bits 3-4: max_wait default/0/100 µs/5 ms; bits 5-6:
 * gap_wait default/0/50 µs/2 ms; bit 7: skew tolerance 0), then operations
 * (opcode byte modulo FZL_OPS). Six nodes (ids 1..5 and a large one) keep
 * vector clocks and Lamport times and produce records by the vclock.h and
 * merge.h conventions into an outbox, from which SEND delivers them in
 * batches: in order, reversed, with one dropped, duplicated, altered, or
 * left for a resend; its watermark carries the node's time as the promise,
 * after a jump forward (an ACK) or inflated (a broken promise: later
 * records are LATE). RAW and ENCODED batches carry arbitrary records (the
 * latter through tsc_logrec_decode, each decoded record re-encoded and
 * compared; the last input also read as a LOGS block, logsync/logblock.h,
 * and the decoded records written as one and read back). MISC also restores nodes
 * (tsc_logmerge_restore: 0 before the first step, TSC_EINVAL after) and decodes arbitrary bytes as
 * a merge error.
 *
 * After every step the target checks (abort on failure):
 *   - the step returns 0 (TSC_EINVAL only for a bad event, TSC_ENOMEM only
 *     when the script made an allocation fail, and then nothing changed);
 *   - received = malformed + resends + duplicates + buffered + released;
 *   - released indices are consecutive (after the restored ones); each
 *     record has clock[node] == seq and a Lamport time;
 *   - buffered records and bytes stay within max_records and max_bytes,
 *     and next_deadline lies after now (unless a failed allocation put a
 *     release off: then it is now);
 *   - error kinds are known, name a record, and survive their codec.
 * Memory stays bounded by the configuration: nothing else accumulates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "common/time.h"
#include "fuzz/script.h"
#include "logsync/logblock.h"
#include "logsync/merge.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_logmerge: invariant broken: %s (%s:%d)\n", #cond, __FILE__,      \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int tsc_fuzz_logmerge_seeds(void (*emit)(void *ctx, const char *name, const uint8_t *p, size_t n),
                            void *ctx);

enum {
    FZL_TICK = 0, /* u8: advance by (arg * 37 + u8) µs */
    FZL_PRODUCE,  /* node: u8 count, then per event u8 (bit 0: receive from node u8>>1) */
    FZL_SEND,     /* node: u8 count, u8 mode, u8 (bit 0: watermark; bits 1-6: time
                     jump first; bit 7: promise 1000 too large) */
    FZL_RAW,      /* u8 sender, u8 count, records from bytes */
    FZL_ENCODED,  /* u8 count, each u16 length and bytes through tsc_logrec_decode */
    FZL_DONE,     /* node: u8 watermark? */
    FZL_FLUSH,
    FZL_MISC, /* arg: 0-7 a clock through tsc_vclock_read; 8-15 OOM; 16-19 restore
                 (u8 node, u8 delivered, u8 lamport, u8 next index); 20-23 an
                 error through tsc_logmerge_error_decode; else time backwards */
    FZL_OPS
};

#define NN     6  /* nodes */
#define OUTBOX 48 /* records a node holds before it must drop the oldest */
#define MAXB   16 /* records in a batch */

struct fz_rec {
    struct tsc_logrec r; /* clock owned; text points into the input */
};

struct fz {
    struct tsc_logmerge *m;
    struct tsc_logmerge_config cfg;
    uint64_t now;
    uint64_t ids[NN];
    struct tsc_vclock clock[NN];
    uint64_t lamport[NN];
    struct fz_rec out[NN][OUTBOX];
    size_t n_out[NN];
    uint64_t released;
    uint64_t base; /* indices used before (restore) */
    int stepped;
    unsigned long oom;
};

static const uint8_t filler[64] = "a line of output that the fuzzer did not choose............";

static void rec_free(struct fz_rec *x)
{
    tsc_vclock_free(&x->r.clock);
}

/* One step, and every invariant the engine promises. */
static void step(struct fz *f, const struct tsc_logmerge_event *ev)
{
    struct tsc_logmerge_update up;
    struct tsc_logmerge_stats before = *tsc_logmerge_stats(f->m);
    unsigned long oom = f->oom;
    f->oom = 0;
    f->stepped = 1;
    if (oom)
        tsc_alloc_fail_after(oom);
    int rc = tsc_logmerge_step(f->m, ev, &up);
    tsc_alloc_fail_after(0);
    const struct tsc_logmerge_stats *st = tsc_logmerge_stats(f->m);
    if (rc != 0) {
        CHECK((rc == TSC_EINVAL && ev->node == 0) || (oom && rc == TSC_ENOMEM));
        CHECK(up.n_released == 0 && up.n_errors == 0);
        CHECK(memcmp(&before, st, sizeof before) == 0);
        return;
    }
    if (ev->now > f->now)
        f->now = ev->now;
    CHECK(st->received == st->malformed + st->resends + st->errors[TSC_LOGMERGE_DUPLICATE] +
                              st->buffered + st->released);
    int deferred = up.next_deadline == f->now;
    CHECK(up.next_deadline > f->now || (oom && deferred));
    if (!deferred) {
        CHECK(st->buffered <= f->cfg.max_records);
        CHECK(st->buffered_bytes <= f->cfg.max_bytes);
    }
    if (st->buffered == 0 && !deferred)
        CHECK(up.next_deadline == TSC_TIME_NEVER);
    for (size_t i = 0; i < up.n_released; i++) {
        const struct tsc_logrec *r = up.released[i].rec;
        CHECK(up.released[i].index == f->base + ++f->released);
        CHECK(r->node != 0 && tsc_vclock_get(&r->clock, r->node) == r->seq);
        CHECK(r->lamport >= 1);
        CHECK(r->len <= TSC_LOGREC_MAX_TEXT);
    }
    CHECK(st->released == f->released);
    for (size_t i = 0; i < up.n_errors; i++) {
        const struct tsc_logmerge_error *e = &up.errors[i];
        CHECK(e->kind >= TSC_LOGMERGE_GAP && e->kind <= TSC_LOGMERGE_SKEW);
        CHECK(e->a_node != 0 && e->a_seq != 0);
        CHECK(strcmp(tsc_logmerge_error_name(e->kind), "?") != 0);
        CHECK(e->kind != TSC_LOGMERGE_SKEW || e->skew_us > 0);
        struct tsc_logmerge_error d;
        struct tsc_buf b;
        tsc_buf_init(&b);
        CHECK(tsc_logmerge_error_encode(e, &b) == 0);
        CHECK(tsc_logmerge_error_decode(b.data, b.len, &d) == 0);
        CHECK(d.kind == e->kind && d.a_node == e->a_node && d.a_seq == e->a_seq &&
              d.b_node == e->b_node && d.b_seq == e->b_seq && d.run == e->run &&
              d.skew_us == e->skew_us);
        tsc_buf_free(&b);
    }
}

/* PRODUCE: node i logs count events; a receive merges another node's clock
 * and Lamport time first (as if a message had come). */
static void produce(struct fz *f, struct tsc_fuzz_in *in, size_t i)
{
    unsigned count = 1 + tsc_fuzz_u8(in) % 8;
    for (unsigned k = 0; k < count; k++) {
        uint8_t x = tsc_fuzz_u8(in);
        int kind = TSC_LOGREC_STDOUT;
        if (x & 1) {
            size_t from = (x >> 1) % NN;
            if (tsc_vclock_merge(&f->clock[i], &f->clock[from]) != 0)
                return;
            if (f->lamport[from] > f->lamport[i])
                f->lamport[i] = f->lamport[from];
            kind = TSC_LOGREC_RECV;
        }
        uint64_t seq;
        if (tsc_vclock_tick(&f->clock[i], f->ids[i], &seq) != 0)
            return;
        if (f->n_out[i] == OUTBOX) { /* lost for good: a gap */
            rec_free(&f->out[i][0]);
            memmove(&f->out[i][0], &f->out[i][1], (OUTBOX - 1) * sizeof f->out[i][0]);
            f->n_out[i]--;
        }
        struct fz_rec *o = &f->out[i][f->n_out[i]];
        tsc_logrec_init(&o->r);
        if (tsc_vclock_copy(&o->r.clock, &f->clock[i]) != 0) {
            rec_free(o);
            return;
        }
        f->n_out[i]++;
        o->r.node = f->ids[i];
        o->r.seq = seq;
        o->r.lamport = ++f->lamport[i];
        /* Wall clocks roughly follow time, with jitter that makes SKEW. */
        o->r.wall_us = f->now * 2 + seq * 10 + (x >> 4) * 60;
        o->r.run = 1;
        o->r.kind = (uint8_t)kind;
        o->r.text = filler;
        o->r.len = x % sizeof filler;
    }
}

static void send_batch(struct fz *f, struct tsc_fuzz_in *in, size_t i)
{
    struct tsc_logrec b[MAXB + 2];
    size_t n = tsc_fuzz_u8(in) % (MAXB + 1), mode = tsc_fuzz_u8(in) % 6;
    uint8_t w = tsc_fuzz_u8(in);
    int with_wm = w & 1;
    f->lamport[i] += (w >> 1) & 63; /* an ACK brought a later time */
    if (n > f->n_out[i])
        n = f->n_out[i];
    for (size_t k = 0; k < n; k++)
        b[k] = f->out[i][mode == 1 ? n - 1 - k : k].r;
    size_t nb = n;
    if (mode == 2 && nb > 1) /* drop one: a gap */
        memmove(&b[nb / 2], &b[nb / 2 + 1], (nb - nb / 2 - 1) * sizeof b[0]), nb--;
    if (mode == 3 && nb > 0) /* an identical resend */
        b[nb] = b[0], nb++;
    if (mode == 4 && nb > 0) { /* the same (node, seq), other bytes */
        b[nb] = b[nb - 1];
        b[nb].len = (b[nb].len + 1) % sizeof filler;
        nb++;
    }
    struct tsc_logmerge_event ev = {.type = TSC_LOGMERGE_EV_BATCH,
                                    .now = f->now,
                                    .node = f->ids[i],
                                    .records = b,
                                    .n_records = nb,
                                    .watermark = with_wm ? &f->clock[i] : NULL,
                                    .promise = with_wm ? f->lamport[i] + (w & 128 ? 1000 : 0) : 0};
    step(f, &ev);
    if (mode == 5) /* kept: sent again later, as after a failover */
        return;
    for (size_t k = 0; k < n; k++)
        rec_free(&f->out[i][k]);
    memmove(&f->out[i][0], &f->out[i][n], (f->n_out[i] - n) * sizeof f->out[i][0]);
    f->n_out[i] -= n;
}

/* RAW: records made of input bytes, mostly malformed or out of sequence. */
static void raw_batch(struct fz *f, struct tsc_fuzz_in *in)
{
    struct tsc_logrec b[8];
    struct tsc_vclock_entry e[8][5];
    uint8_t sender = tsc_fuzz_u8(in);
    size_t n = tsc_fuzz_u8(in) % 8;
    for (size_t k = 0; k < n; k++) {
        struct tsc_logrec *r = &b[k];
        memset(r, 0, sizeof *r);
        r->node = tsc_fuzz_u8(in) % 8;
        r->seq = tsc_fuzz_u8(in) % 16;
        size_t ne = tsc_fuzz_u8(in) % 5;
        for (size_t j = 0; j < ne; j++) {
            e[k][j].node = tsc_fuzz_u8(in) % 8;
            e[k][j].count = tsc_fuzz_u8(in) % 16;
        }
        if (tsc_fuzz_u8(in) & 1) { /* make it valid-looking: own entry = seq */
            e[k][0].node = r->node;
            e[k][0].count = r->seq;
            ne = ne ? ne : 1;
            for (size_t j = 1; j < ne; j++)
                e[k][j].node = e[k][j - 1].node + 1 + e[k][j].node;
        }
        r->clock.n = r->clock.cap = ne;
        r->clock.e = e[k];
        r->wall_us = tsc_fuzz_u16(in);
        r->lamport = tsc_fuzz_u8(in) % 16; /* 0: malformed */
        r->kind = tsc_fuzz_u8(in);
        r->text = tsc_fuzz_bytes(in, tsc_fuzz_u8(in) % 32, &r->len);
    }
    struct tsc_logmerge_event ev = {
        .type = TSC_LOGMERGE_EV_BATCH, .now = f->now, .node = sender, .records = b, .n_records = n};
    step(f, &ev);
}

/* The LOGS block codec (logsync/logblock.h) on the same bytes: read as a
 * block, every record read is one the record codec takes; and the records
 * of b's first run written as a block read back the same. */
static void block_codec(const uint8_t *p, size_t len, const struct tsc_logrec *b, size_t n)
{
    struct tsc_logblock_dec d;
    struct tsc_logblock_enc e;
    struct tsc_logrec r;
    struct tsc_buf out;
    const struct tsc_logrec *recs[4];
    size_t m = 0, got = 0;
    int rc;
    tsc_logblock_dec_init(&d);
    tsc_logblock_enc_init(&e);
    tsc_logrec_init(&r);
    tsc_buf_init(&out);
    if (tsc_logblock_open(&d, p, len) == 0)
        while ((rc = tsc_logblock_next(&d, &r)) == 0) {
            tsc_buf_reset(&out);
            rc = tsc_logrec_encode(&r, &out);
            CHECK(rc == 0 || rc == TSC_ENOMEM);
        }
    for (size_t i = 0; i < n; i++)
        if (b[i].run == b[0].run && b[i].run != 0)
            recs[m++] = &b[i];
    tsc_buf_reset(&out);
    rc = m > 0 ? tsc_logblock_encode(&e, b[0].run, recs, m, &out) : TSC_EINVAL;
    CHECK(rc == 0 || rc == TSC_ENOMEM || m == 0);
    if (rc == 0 && tsc_logblock_open(&d, out.data, out.len) == 0) {
        while ((rc = tsc_logblock_next(&d, &r)) == 0) {
            CHECK(got < m);
            const struct tsc_logrec *x = recs[got++];
            CHECK(r.node == x->node && r.seq == x->seq && r.lamport == x->lamport);
            CHECK(r.wall_us == x->wall_us && r.run == x->run && r.stage == x->stage);
            CHECK(r.case_index == x->case_index && r.kind == x->kind && r.len == x->len);
            CHECK(tsc_vclock_compare(&r.clock, &x->clock) == TSC_VCLOCK_EQUAL);
            CHECK(r.len == 0 || memcmp(r.text, x->text, r.len) == 0);
        }
        CHECK(rc == TSC_ENOMEM || (rc == TSC_ENOTFOUND && got == m));
    }
    tsc_buf_free(&out);
    tsc_logrec_free(&r);
    tsc_logblock_enc_free(&e);
    tsc_logblock_dec_free(&d);
}

/* ENCODED: decode, check the round trip, and merge what decoded. */
static void encoded(struct fz *f, struct tsc_fuzz_in *in)
{
    struct tsc_logrec b[4];
    struct tsc_buf re;
    size_t n = tsc_fuzz_u8(in) % 4, got = 0, last_len = 0;
    const uint8_t *last = NULL;
    tsc_buf_init(&re);
    for (size_t k = 0; k < n; k++) {
        size_t len;
        const uint8_t *p = tsc_fuzz_bytes(in, tsc_fuzz_u16(in) % 2048, &len);
        last = p;
        last_len = len;
        tsc_logrec_init(&b[got]);
        if (tsc_logrec_decode(p, len, &b[got]) != 0) {
            tsc_logrec_free(&b[got]);
            continue;
        }
        struct tsc_logrec d;
        tsc_logrec_init(&d);
        tsc_buf_reset(&re);
        int rc = tsc_logrec_encode(&b[got], &re);
        CHECK(rc == 0 || rc == TSC_ENOMEM);
        if (rc == 0) {
            CHECK(tsc_logrec_decode(re.data, re.len, &d) == 0);
            CHECK(d.node == b[got].node && d.seq == b[got].seq && d.len == b[got].len);
            CHECK(d.lamport == b[got].lamport && d.lamport >= 1);
            CHECK(tsc_vclock_compare(&d.clock, &b[got].clock) == TSC_VCLOCK_EQUAL);
            CHECK(d.len == 0 || memcmp(d.text, b[got].text, d.len) == 0);
        }
        tsc_logrec_free(&d);
        got++;
    }
    block_codec(last, last_len, b, got);
    struct tsc_logmerge_event ev = {.type = TSC_LOGMERGE_EV_BATCH,
                                    .now = f->now,
                                    .node = got ? b[0].node : 1,
                                    .records = b,
                                    .n_records = got};
    step(f, &ev);
    for (size_t k = 0; k < got; k++)
        tsc_logrec_free(&b[k]);
    tsc_buf_free(&re);
}

/* Bytes as a stored merge error: a decoded one encodes and decodes the same. */
static void error_decode(struct tsc_fuzz_in *in)
{
    size_t len;
    const uint8_t *p = tsc_fuzz_bytes(in, tsc_fuzz_u8(in) % 80, &len);
    struct tsc_logmerge_error e, d;
    struct tsc_buf b;
    tsc_buf_init(&b);
    if (tsc_logmerge_error_decode(p, len, &e) == 0) {
        CHECK(e.kind >= TSC_LOGMERGE_GAP && e.kind <= TSC_LOGMERGE_SKEW && e.skew_us >= 0);
        CHECK(tsc_logmerge_error_encode(&e, &b) == 0);
        CHECK(tsc_logmerge_error_decode(b.data, b.len, &d) == 0);
        CHECK(d.kind == e.kind && d.a_node == e.a_node && d.a_seq == e.a_seq &&
              d.b_node == e.b_node && d.b_seq == e.b_seq && d.run == e.run &&
              d.skew_us == e.skew_us);
    } else {
        CHECK(e.kind == 0 && e.a_node == 0 && e.run == 0);
    }
    tsc_buf_free(&b);
}

/* MISC restore: only before the first step (node NN stands for id 0). */
static void restore(struct fz *f, struct tsc_fuzz_in *in)
{
    size_t i = tsc_fuzz_u8(in) % (NN + 1);
    uint64_t id = i < NN ? f->ids[i] : 0;
    uint64_t delivered = tsc_fuzz_u8(in), lamport = tsc_fuzz_u8(in), next = tsc_fuzz_u8(in);
    int rc = tsc_logmerge_restore(f->m, id, delivered, lamport, f->now, next);
    if (f->stepped || id == 0) {
        CHECK(rc == TSC_EINVAL);
        return;
    }
    CHECK(rc == 0);
    if (next > 0 && next - 1 > f->base)
        f->base = next - 1;
}

static void clock_decode(struct tsc_fuzz_in *in)
{
    size_t len;
    const uint8_t *p = tsc_fuzz_bytes(in, tsc_fuzz_u8(in), &len);
    struct tsc_mp_reader r;
    struct tsc_vclock c, d;
    struct tsc_buf b;
    tsc_vclock_init(&c);
    tsc_vclock_init(&d);
    tsc_buf_init(&b);
    tsc_mp_reader_init(&r, p, len);
    if (tsc_vclock_read(&r, &c) == 0) {
        struct tsc_mp_writer w;
        for (size_t i = 1; i < c.n; i++)
            CHECK(c.e[i - 1].node < c.e[i].node && c.e[i].count > 0);
        tsc_mp_writer_init(&w, &b);
        tsc_vclock_pack(&c, &w);
        if (tsc_mp_writer_status(&w) == 0) {
            tsc_mp_reader_init(&r, b.data, b.len);
            CHECK(tsc_vclock_read(&r, &d) == 0);
            CHECK(tsc_vclock_compare(&c, &d) == TSC_VCLOCK_EQUAL);
        }
    } else {
        CHECK(c.n == 0);
    }
    tsc_vclock_free(&c);
    tsc_vclock_free(&d);
    tsc_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz f;
    struct tsc_fuzz_in in = {data, size};
    uint8_t c = tsc_fuzz_u8(&in);
    static const size_t recs[4] = {0, 4, 16, 64};
    static const uint64_t waits[4] = {0, 0, 100, 5000}, gaps[4] = {0, 0, 50, 2000};

    memset(&f, 0, sizeof f);
    tsc_logmerge_config_default(&f.cfg);
    if (c & 3)
        f.cfg.max_records = recs[c & 3];
    if (c & 4)
        f.cfg.max_bytes = 512;
    if ((c >> 3) & 3)
        f.cfg.max_wait = waits[(c >> 3) & 3];
    if ((c >> 5) & 3)
        f.cfg.gap_wait = gaps[(c >> 5) & 3];
    if (c & 128)
        f.cfg.skew_tolerance = 0;
    for (size_t i = 0; i < NN; i++) {
        f.ids[i] = i + 1 < NN ? i + 1 : UINT64_MAX - 7;
        tsc_vclock_init(&f.clock[i]);
        f.lamport[i] = 0;
    }
    /* Node 5 is not in the list: it joins with its first record. */
    const uint64_t listed[] = {f.ids[0], f.ids[1], f.ids[2], f.ids[3], f.ids[5]};
    CHECK(tsc_logmerge_new(&f.m, &f.cfg, listed, 5, NULL) == 0);

    while (in.n > 0) {
        uint8_t op = tsc_fuzz_u8(&in), arg = op >> 3;
        switch (op % FZL_OPS) {
        case FZL_TICK: {
            f.now += arg * 37u + tsc_fuzz_u8(&in);
            struct tsc_logmerge_event ev = {.type = TSC_LOGMERGE_EV_TICK, .now = f.now};
            step(&f, &ev);
            break;
        }
        case FZL_PRODUCE:
            produce(&f, &in, arg % NN);
            break;
        case FZL_SEND:
            send_batch(&f, &in, arg % NN);
            break;
        case FZL_RAW:
            raw_batch(&f, &in);
            break;
        case FZL_ENCODED:
            encoded(&f, &in);
            break;
        case FZL_DONE: {
            size_t i = arg % NN;
            struct tsc_logmerge_event ev = {.type = TSC_LOGMERGE_EV_NODE_DONE,
                                            .now = f.now,
                                            .node = f.ids[i],
                                            .watermark = tsc_fuzz_u8(&in) & 1 ? &f.clock[i] : NULL};
            ev.promise = ev.watermark != NULL ? f.lamport[i] : 0;
            step(&f, &ev);
            break;
        }
        case FZL_FLUSH: {
            struct tsc_logmerge_event ev = {.type = TSC_LOGMERGE_EV_FLUSH, .now = f.now};
            int oom = f.oom != 0;
            step(&f, &ev);
            CHECK(oom || tsc_logmerge_stats(f.m)->buffered == 0); /* put off by OOM only */
            break;
        }
        default:
            if (arg < 8) {
                clock_decode(&in);
            } else if (arg < 16) {
                uint8_t k = tsc_fuzz_u8(&in);
                if (tsc_fuzz_oom_enabled())
                    f.oom = 1 + k % 16;
            } else if (arg < 20) {
                restore(&f, &in);
            } else if (arg < 24) {
                error_decode(&in);
            } else { /* a driver whose clock went back: the engine keeps its own */
                struct tsc_logmerge_event ev = {.type = TSC_LOGMERGE_EV_TICK,
                                                .now = f.now > arg ? f.now - arg : 0};
                step(&f, &ev);
            }
            break;
        }
    }
    struct tsc_logmerge_event flush = {.type = TSC_LOGMERGE_EV_FLUSH, .now = f.now};
    f.oom = 0;
    step(&f, &flush);
    CHECK(tsc_logmerge_stats(f.m)->buffered == 0);
    tsc_logmerge_free(f.m);
    for (size_t i = 0; i < NN; i++) {
        tsc_vclock_free(&f.clock[i]);
        for (size_t k = 0; k < f.n_out[i]; k++)
            rec_free(&f.out[i][k]);
    }
    return 0;
}

/* ---- seed scripts ------------------------------------------------------------ */

struct seed {
    struct tsc_buf b;
};

static void u8(struct seed *s, unsigned v)
{
    uint8_t x = (uint8_t)v;
    tsc_buf_append(&s->b, &x, 1);
}

static void op(struct seed *s, unsigned code, unsigned arg)
{
    u8(s, code | (arg << 3));
}

/* Node i logs n events (every third a receive from node i+1), then sends
 * them in the given mode, with a watermark (wm: SEND's third byte). */
static void log_and_send(struct seed *s, unsigned i, unsigned n, unsigned mode, unsigned wm)
{
    op(s, FZL_PRODUCE, i);
    u8(s, n - 1);
    for (unsigned k = 0; k < n; k++)
        u8(s, k % 3 == 2 ? 1 | (((i + 1) % NN) << 1) | (k << 4) : 2 * k);
    op(s, FZL_SEND, i);
    u8(s, n);
    u8(s, mode);
    u8(s, wm);
}

static void encoded_seed(struct seed *s)
{
    struct tsc_logrec r;
    struct tsc_buf e;
    tsc_buf_init(&e);
    op(s, FZL_ENCODED, 0);
    u8(s, 3);
    for (unsigned k = 1; k <= 3; k++) {
        tsc_logrec_init(&r);
        r.node = 2;
        r.seq = k;
        r.lamport = 1 + k;
        tsc_vclock_set(&r.clock, 2, k);
        tsc_vclock_set(&r.clock, 1, 1);
        r.kind = TSC_LOGREC_EVENT;
        r.text = filler;
        r.len = 10;
        tsc_buf_reset(&e);
        tsc_logrec_encode(&r, &e);
        size_t len = k == 3 ? e.len - 1 : e.len; /* the last one truncated */
        u8(s, len & 0xff);
        u8(s, len >> 8);
        tsc_buf_append(&s->b, e.data, len);
        tsc_logrec_free(&r);
    }
    tsc_buf_free(&e);
}

int tsc_fuzz_logmerge_seeds(void (*emit)(void *ctx, const char *name, const uint8_t *p, size_t n),
                            void *ctx)
{
    static const char *names[] = {"ordered", "reordered", "timeouts", "raw",     "encoded",
                                  "clocks",  "oom",       "restore",  "promises"};
    for (unsigned v = 0; v < sizeof names / sizeof names[0]; v++) {
        struct seed s;
        tsc_buf_init(&s.b);
        static const uint8_t cfg[] = {0x00, 0x01, 0x52, 0x86, 0x00, 0x00, 0x0a, 0x00, 0x00};
        u8(&s, cfg[v]);
        if (v == 3) {
            for (unsigned k = 0; k < 4; k++) {
                op(&s, FZL_RAW, 0);
                u8(&s, 1 + k), u8(&s, 3);
                for (unsigned j = 0; j < 3; j++) {
                    u8(&s, 1 + k), u8(&s, 1 + j), u8(&s, 1), u8(&s, 1 + k), u8(&s, 1 + j);
                    u8(&s, 1), u8(&s, 10), u8(&s, 0), u8(&s, j), u8(&s, 1), u8(&s, 4);
                    tsc_buf_append(&s.b, "text", 4);
                }
            }
        } else if (v == 4) {
            encoded_seed(&s);
        } else if (v == 5) {
            static const uint8_t clocks[][8] = {{0x94, 1, 2, 3, 4}, {0x92, 0, 1}, {0x90}};
            for (unsigned k = 0; k < 3; k++) {
                op(&s, FZL_MISC, 0);
                u8(&s, k == 0 ? 5 : k == 1 ? 3 : 1);
                tsc_buf_append(&s.b, clocks[k], k == 0 ? 5 : k == 1 ? 3 : 1);
            }
            /* A stored error: [late, 3, 9, 1, 5, 2, 0], and a truncated one. */
            static const uint8_t err[] = {0x97, 4, 3, 9, 1, 5, 2, 0};
            for (unsigned k = 0; k < 2; k++) {
                op(&s, FZL_MISC, 20);
                u8(&s, sizeof err - k);
                tsc_buf_append(&s.b, err, sizeof err - k);
            }
        } else if (v == 7) {
            /* Node 1 released up to 4 at time 40, indices up to 9; node 2
             * up to 2 at time 30; then a restore too many (id 0). */
            op(&s, FZL_MISC, 16), u8(&s, 0), u8(&s, 4), u8(&s, 40), u8(&s, 10);
            op(&s, FZL_MISC, 17), u8(&s, 1), u8(&s, 2), u8(&s, 30), u8(&s, 3);
            op(&s, FZL_MISC, 18), u8(&s, NN), u8(&s, 1), u8(&s, 1), u8(&s, 1);
        }
        for (unsigned round = 0; round < 3; round++) {
            for (unsigned i = 0; i < NN; i++) {
                if (v == 6)
                    op(&s, FZL_MISC, 8 + i), u8(&s, round + i);
                /* promises: jumps of up to 63; in round 0 all lie, with nothing
                 * missing, so the next rounds' records are LATE. */
                unsigned wm =
                    v == 8 ? 1 | ((i * 7 + round * 13) % 64) << 1 | (round == 0 ? 128 : 0) : 1;
                unsigned mode = v == 0 || (v == 8 && round == 0) ? 0 : (i + round) % 6;
                log_and_send(&s, i, 3 + (i + round) % 5, mode, wm);
            }
            if (v == 7 && round == 0) /* after the first step: refused */
                op(&s, FZL_MISC, 19), u8(&s, 2), u8(&s, 5), u8(&s, 5), u8(&s, 5);
            op(&s, FZL_TICK, v == 2 ? 31 : 1);
            u8(&s, v == 2 ? 255 : 3);
        }
        for (unsigned i = 0; i < NN; i++) {
            op(&s, FZL_DONE, i);
            u8(&s, 1);
        }
        op(&s, FZL_FLUSH, 0);
        emit(ctx, names[v], s.b.data, s.b.len);
        tsc_buf_free(&s.b);
    }
    return 0;
}
