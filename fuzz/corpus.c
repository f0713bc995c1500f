/* tsc — seed inputs for fuzz_unseal: one valid example of everything it can
 * decode, in each mode (see fuzz.h). */
#include "fuzz/fuzz.h"

#include <string.h>

#include "common/error.h"
#include "wire/frame.h"
#include "wire/record.h"
#include "wire/swim.h"

void tsc_fuzz_key(uint8_t key[TSC_KEY_BYTES])
{
    for (int i = 0; i < TSC_KEY_BYTES; i++)
        key[i] = (uint8_t)i;
}

struct seeds {
    void (*emit)(void *ctx, const char *name, const uint8_t *p, size_t n);
    void *ctx;
    struct tsc_buf tmp;
};

static int emit(struct seeds *s, const char *name, int mode, const uint8_t *p, size_t n)
{
    tsc_buf_reset(&s->tmp);
    uint8_t m = (uint8_t)mode;
    if (tsc_buf_append(&s->tmp, &m, 1) != 0 || tsc_buf_append(&s->tmp, p, n) != 0)
        return TSC_ENOMEM;
    s->emit(s->ctx, name, s->tmp.data, s->tmp.len);
    return 0;
}

/* The blobs and bodies a cluster exchanges, for one crypto table. */
struct sample {
    struct tsc_buf meta, record, claim, datagram, pushpull;
};

static int build_sample(const struct tsc_crypto *c, struct sample *x)
{
    uint8_t seed[TSC_SEED_BYTES], pk[TSC_PK_BYTES], sk[TSC_SK_BYTES];
    struct tsc_meta m;
    struct tsc_record r;
    struct tsc_claim cl;
    struct tsc_swim_writer w;
    struct tsc_addr a = {0xc6120002, 7946};
    int rc;
    memset(seed, 7, sizeof seed);
    c->keypair(pk, sk, seed);
    memset(&m, 0, sizeof m);
    m.n_roles = 2;
    strcpy(m.roles[0], "voter");
    strcpy(m.roles[1], "slave");
    m.n_labels = 1;
    strcpy(m.labels[0].key, "rack");
    strcpy(m.labels[0].val, "r1");
    m.n_ready = 1;
    strcpy(m.ready[0].key, "db");
    strcpy(m.ready[0].val, "OK");
    if ((rc = tsc_meta_encode(&m, &x->meta, NULL)) != 0)
        return rc;
    memset(&r, 0, sizeof r);
    r.id = tsc_crypto_node_id(c, pk);
    memcpy(r.pk, pk, TSC_PK_BYTES);
    r.addr = a;
    r.incarnation = 3;
    r.meta = x->meta.data;
    r.meta_len = x->meta.len;
    if ((rc = tsc_record_encode(c, &r, sk, &x->record)) != 0)
        return rc;
    cl.target = 12345;
    cl.incarnation = 2;
    cl.status = TSC_STATUS_SUSPECT;
    cl.accuser = r.id;
    if ((rc = tsc_claim_encode(c, &cl, sk, &x->claim)) != 0)
        return rc;
    if ((rc = tsc_swim_begin(&w, &x->datagram, 9, r.id, a)) != 0 ||
        (rc = tsc_swim_add(&w, x->record.data, x->record.len, 1400)) != 0 ||
        (rc = tsc_swim_add(&w, x->claim.data, x->claim.len, 1400)) != 0)
        return rc;
    tsc_swim_finish(&w);
    if ((rc = tsc_pushpull_begin(&x->pushpull, 1, 2)) != 0 ||
        (rc = tsc_pushpull_add(&x->pushpull, x->record.data, x->record.len)) != 0 ||
        (rc = tsc_pushpull_add(&x->pushpull, x->claim.data, x->claim.len)) != 0)
        return rc;
    return 0;
}

static void free_sample(struct sample *x)
{
    tsc_buf_free(&x->meta);
    tsc_buf_free(&x->record);
    tsc_buf_free(&x->claim);
    tsc_buf_free(&x->datagram);
    tsc_buf_free(&x->pushpull);
}

/* A sealed frame carrying body, and its plaintext envelope. */
static int frames(struct seeds *s, const struct tsc_crypto *c, int mode, const char *name,
                  uint8_t type, const struct tsc_buf *body)
{
    uint8_t key[TSC_KEY_BYTES], nonce[TSC_NONCE_BYTES];
    struct tsc_wire w;
    struct tsc_envelope env = {0};
    struct tsc_buf frame;
    char fname[64];
    int rc;
    tsc_fuzz_key(key);
    memset(nonce, 0x5c, sizeof nonce);
    tsc_wire_init(&w, key, c);
    env.sender = 0x0102030405060708ull;
    env.seq = 1000;
    env.type = type;
    env.body = body->data;
    env.body_len = body->len;
    tsc_buf_init(&frame);
    rc = tsc_wire_seal(&w, &env, nonce, TSC_WIRE_MAX_FRAME, &frame);
    if (rc == 0) {
        strcpy(fname, "frame-");
        strcat(fname, name);
        rc = emit(s, fname, mode, frame.data, frame.len);
    }
    /* The cheap table leaves the plaintext in clear: cut it out. */
    if (rc == 0 && c == &tsc_crypto_cheap) {
        size_t off = 1 + TSC_NONCE_BYTES;
        strcpy(fname, "plain-");
        strcat(fname, name);
        rc = emit(s, fname, TSC_FUZZ_PLAINTEXT, frame.data + off, frame.len - off - TSC_TAG_BYTES);
    }
    tsc_buf_free(&frame);
    return rc;
}

int tsc_fuzz_seeds(void (*emit_fn)(void *ctx, const char *name, const uint8_t *p, size_t n),
                   void *ctx)
{
    struct seeds s = {emit_fn, ctx, {0}};
    static const struct {
        const struct tsc_crypto *c;
        int mode;
        const char *suffix;
    } tables[] = {
        {&tsc_crypto_sodium, TSC_FUZZ_FRAME_SODIUM, "sodium"},
        {&tsc_crypto_cheap, TSC_FUZZ_FRAME_CHEAP, "cheap"},
    };
    int rc = tsc_crypto_init();
    for (size_t t = 0; rc == 0 && t < sizeof tables / sizeof tables[0]; t++) {
        struct sample x;
        char name[48];
        memset(&x, 0, sizeof x);
        rc = build_sample(tables[t].c, &x);
        if (rc == 0) {
            strcpy(name, "ping-");
            strcat(name, tables[t].suffix);
            rc = frames(&s, tables[t].c, tables[t].mode, name, TSC_MSG_PING, &x.datagram);
        }
        if (rc == 0) {
            strcpy(name, "pushpull-");
            strcat(name, tables[t].suffix);
            rc = frames(&s, tables[t].c, tables[t].mode, name, TSC_MSG_PUSHPULL_REQ, &x.pushpull);
        }
        if (rc == 0 && tables[t].c == &tsc_crypto_cheap) {
            /* Bodies are the same shape for both tables; emit them once,
             * with the cheap table's signatures (the target verifies with
             * it). */
            rc = emit(&s, "body-datagram", TSC_FUZZ_BODY, x.datagram.data, x.datagram.len);
            if (rc == 0)
                rc = emit(&s, "body-pushpull", TSC_FUZZ_BODY, x.pushpull.data, x.pushpull.len);
            if (rc == 0)
                rc = emit(&s, "body-record", TSC_FUZZ_BODY, x.record.data, x.record.len);
            if (rc == 0)
                rc = emit(&s, "body-claim", TSC_FUZZ_BODY, x.claim.data, x.claim.len);
            if (rc == 0)
                rc = emit(&s, "body-meta", TSC_FUZZ_BODY, x.meta.data, x.meta.len);
        }
        free_sample(&x);
    }
    tsc_buf_free(&s.tmp);
    return rc;
}
