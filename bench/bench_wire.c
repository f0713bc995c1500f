/* tsc — wire/ throughput figures, one per line as `name value unit`.
 *
 * For each crypto table (libsodium, then the simulator's cheap one):
 *   seal_encode  encode a SWIM datagram body of 200 bytes and seal it
 *   open_decode  open that frame and decode the body
 *   sign/verify  the table's signature primitive on a 200-byte message
 *   record_encode_sign / record_decode_verify  a node record blob
 * Each figure runs for about TSC_BENCH_SECONDS (default 1) of wall time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "wire/frame.h"
#include "wire/record.h"
#include "wire/swim.h"

static double seconds = 1.0;
static volatile uint64_t sink;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct ctx {
    const struct tsc_crypto *c;
    struct tsc_wire wire;
    uint8_t nonce[TSC_NONCE_BYTES];
    uint8_t item[200];
    size_t item_len;
    struct tsc_buf body, frame, scratch, rec, meta;
    uint8_t pk[TSC_PK_BYTES], sk[TSC_SK_BYTES], sig[TSC_SIG_BYTES];
    struct tsc_record record;
    uint64_t seq;
};

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_wire: %s: %s\n", what, tsc_strerror(rc));
    exit(1);
}

/* A datagram body of exactly 200 bytes: header plus one piggybacked item. */
static void build_body(struct ctx *x)
{
    struct tsc_swim_writer w;
    struct tsc_addr a = {0xc6120007, 7946};
    tsc_buf_reset(&x->body);
    int rc = tsc_swim_begin(&w, &x->body, 42, 0x0123456789abcdefull, a);
    if (rc == 0)
        rc = tsc_swim_add(&w, x->item, x->item_len, 1400);
    if (rc != 0)
        die("body", rc);
    tsc_swim_finish(&w);
}

static void op_seal_encode(struct ctx *x)
{
    struct tsc_envelope env = {0};
    build_body(x);
    env.sender = 0x1122334455667788ull;
    env.seq = ++x->seq;
    env.type = TSC_MSG_PING;
    env.body = x->body.data;
    env.body_len = x->body.len;
    tsc_buf_reset(&x->frame);
    int rc = tsc_wire_seal(&x->wire, &env, x->nonce, TSC_WIRE_MAX_DATAGRAM, &x->frame);
    if (rc != 0)
        die("seal", rc);
    sink += x->frame.data[x->frame.len - 1];
}

static void op_open_decode(struct ctx *x)
{
    struct tsc_envelope env;
    struct tsc_swim_msg m;
    int rc = tsc_wire_open(&x->wire, x->frame.data, x->frame.len, TSC_WIRE_MAX_DATAGRAM,
                           &x->scratch, &env);
    if (rc == 0)
        rc = tsc_swim_decode(env.body, env.body_len, &m);
    if (rc != 0)
        die("open", rc);
    sink += m.n_items;
}

static void op_sign(struct ctx *x)
{
    x->c->sign(x->sig, x->item, sizeof x->item, x->sk);
    sink += x->sig[0];
}

static void op_verify(struct ctx *x)
{
    if (x->c->verify(x->sig, x->item, sizeof x->item, x->pk) != 0)
        die("verify", TSC_ESIG);
}

static void op_record_encode(struct ctx *x)
{
    tsc_buf_reset(&x->rec);
    x->record.incarnation++;
    int rc = tsc_record_encode(x->c, &x->record, x->sk, &x->rec);
    if (rc != 0)
        die("record encode", rc);
}

static void op_record_decode(struct ctx *x)
{
    struct tsc_record r;
    int rc = tsc_record_decode(x->c, x->rec.data, x->rec.len, 1, &r);
    if (rc != 0)
        die("record decode", rc);
    sink += r.incarnation;
}

/* Run op in growing batches until `seconds` have passed; print ops/s. */
static void run(const char *name, struct ctx *x, void (*op)(struct ctx *))
{
    uint64_t n = 0, batch = 16;
    double t0 = now_s(), t;
    do {
        for (uint64_t i = 0; i < batch; i++)
            op(x);
        n += batch;
        if (batch < 65536)
            batch *= 2;
        t = now_s();
    } while (t - t0 < seconds);
    printf("%s_%s %.0f ops/s\n", name, x->c->name, (double)n / (t - t0));
    fflush(stdout);
}

static void bench_table(const struct tsc_crypto *c)
{
    struct ctx x;
    uint8_t key[TSC_KEY_BYTES], seed[TSC_SEED_BYTES];
    memset(&x, 0, sizeof x);
    x.c = c;
    for (int i = 0; i < TSC_KEY_BYTES; i++)
        key[i] = (uint8_t)(i * 5 + 3);
    memset(seed, 9, sizeof seed);
    memset(x.nonce, 0x33, sizeof x.nonce);
    memset(x.item, 0x44, sizeof x.item);
    tsc_wire_init(&x.wire, key, c);
    tsc_buf_init(&x.body);
    tsc_buf_init(&x.frame);
    tsc_buf_init(&x.scratch);
    tsc_buf_init(&x.rec);
    tsc_buf_init(&x.meta);

    /* Size the item so the whole body is 200 bytes. */
    x.item_len = 0;
    build_body(&x);
    x.item_len = 200 - x.body.len; /* the bin8 header is already counted */
    build_body(&x);
    if (x.body.len != 200)
        die("body size", TSC_EINVAL);

    c->keypair(x.pk, x.sk, seed);
    struct tsc_meta m = {0};
    m.n_roles = 1;
    strcpy(m.roles[0], "voter");
    m.n_labels = 1;
    strcpy(m.labels[0].key, "rack");
    strcpy(m.labels[0].val, "r1");
    if (tsc_meta_encode(&m, &x.meta, NULL) != 0)
        die("meta", TSC_EINVAL);
    x.record.id = tsc_crypto_node_id(c, x.pk);
    memcpy(x.record.pk, x.pk, TSC_PK_BYTES);
    x.record.addr.ip = 0xc6120007;
    x.record.addr.port = 7946;
    x.record.meta = x.meta.data;
    x.record.meta_len = x.meta.len;

    run("seal_encode_200B", &x, op_seal_encode);
    op_seal_encode(&x);
    run("open_decode_200B", &x, op_open_decode);
    run("sign", &x, op_sign);
    op_sign(&x);
    run("verify", &x, op_verify);
    run("record_encode_sign", &x, op_record_encode);
    op_record_encode(&x);
    run("record_decode_verify", &x, op_record_decode);
    printf("record_size_%s %zu bytes\n", c->name, x.rec.len);

    tsc_buf_free(&x.body);
    tsc_buf_free(&x.frame);
    tsc_buf_free(&x.scratch);
    tsc_buf_free(&x.rec);
    tsc_buf_free(&x.meta);
}

int main(void)
{
    const char *s = getenv("TSC_BENCH_SECONDS");
    if (s != NULL && atof(s) > 0)
        seconds = atof(s);
    if (tsc_crypto_init() != 0) {
        fprintf(stderr, "bench_wire: libsodium init failed\n");
        return 1;
    }
    bench_table(&tsc_crypto_sodium);
    bench_table(&tsc_crypto_cheap);
    return 0;
}
