/* tsc — libFuzzer target: unseal + decode of everything that arrives from the
 * network (see fuzz.h for the input format). Besides "no crash, no over-read,
 * no leak" (ASan/UBSan), it checks that what decodes re-encodes to something
 * that decodes the same, and aborts otherwise. */
#include "fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "wire/frame.h"
#include "wire/record.h"
#include "wire/swim.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void check_meta(const uint8_t *p, size_t n)
{
    struct tsc_meta m, again;
    struct tsc_buf b;
    if (tsc_meta_decode(p, n, &m) != 0)
        return;
    /* A decoded meta is valid by construction: encoding it can only fail
     * for size (the canonical form adds missing keys). */
    tsc_buf_init(&b);
    int rc = tsc_meta_encode(&m, &b, NULL);
    CHECK(rc == 0 || rc == TSC_ETOOBIG);
    if (rc == 0) {
        CHECK(tsc_meta_decode(b.data, b.len, &again) == 0);
        CHECK(memcmp(&m, &again, sizeof m) == 0);
    }
    tsc_buf_free(&b);
}

static void check_blob(const uint8_t *p, size_t n)
{
    struct tsc_record r;
    struct tsc_claim cl;
    int kind = 0;
    int kind_rc = tsc_blob_kind(p, n, &kind);
    int rec_rc = tsc_record_decode(&tsc_crypto_cheap, p, n, 0, &r);
    if (rec_rc == 0) {
        CHECK(kind_rc == 0 && kind == TSC_BLOB_RECORD);
        CHECK(r.meta >= p && r.meta + r.meta_len <= p + n);
        check_meta(r.meta, r.meta_len);
        /* Verifying can only add TSC_ESIG. */
        int v = tsc_record_decode(&tsc_crypto_cheap, p, n, 1, &r);
        CHECK(v == 0 || v == TSC_ESIG);
        (void)tsc_blob_verify(&tsc_crypto_cheap, p, n, r.pk);
    }
    if (tsc_claim_decode(p, n, &cl) == 0) {
        CHECK(kind_rc == 0 && kind == TSC_BLOB_CLAIM);
        CHECK(cl.status == TSC_STATUS_SUSPECT || cl.status == TSC_STATUS_DEAD);
    }
}

static void check_swim(const uint8_t *p, size_t n)
{
    static struct tsc_swim_msg m, again;
    if (tsc_swim_decode(p, n, &m) != 0)
        return;
    CHECK(m.n_items <= TSC_SWIM_MAX_ITEMS);
    struct tsc_buf b;
    struct tsc_swim_writer w;
    tsc_buf_init(&b);
    CHECK(tsc_swim_begin(&w, &b, m.probe, m.target, m.target_addr) == 0);
    for (unsigned i = 0; i < m.n_items; i++) {
        CHECK(m.items[i].blob >= p && m.items[i].blob + m.items[i].len <= p + n);
        CHECK(tsc_swim_add(&w, m.items[i].blob, m.items[i].len, (size_t)-1) == 0);
        check_blob(m.items[i].blob, m.items[i].len);
    }
    tsc_swim_finish(&w);
    CHECK(tsc_swim_decode(b.data, b.len, &again) == 0);
    CHECK(again.probe == m.probe && again.target == m.target && again.n_items == m.n_items);
    CHECK(tsc_addr_eq(&again.target_addr, &m.target_addr));
    for (unsigned i = 0; i < m.n_items; i++)
        CHECK(again.items[i].len == m.items[i].len &&
              memcmp(again.items[i].blob, m.items[i].blob, m.items[i].len) == 0);
    tsc_buf_free(&b);
}

static void check_pushpull(const uint8_t *p, size_t n)
{
    struct tsc_mp_reader r;
    int join;
    uint32_t count;
    if (tsc_pushpull_read_begin(&r, p, n, &join, &count) != 0)
        return;
    CHECK(count <= n);
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *blob;
        size_t len;
        if (tsc_pushpull_read_next(&r, &blob, &len) != 0)
            return;
        CHECK(blob >= p && blob + len <= p + n);
        check_blob(blob, len);
    }
}

static void check_body(const uint8_t *p, size_t n)
{
    struct tsc_mp_reader r;
    check_swim(p, n);
    check_pushpull(p, n);
    check_blob(p, n);
    check_meta(p, n);
    tsc_mp_reader_init(&r, p, n);
    if (tsc_mp_skip(&r) == 0)
        CHECK(tsc_mp_remaining(&r) <= n);
}

/* Open a frame and, when it opens, decode its body; reseal what opened and
 * check that it opens to the same envelope. */
static void check_frame(const struct tsc_wire *w, const uint8_t *p, size_t n)
{
    struct tsc_buf scratch, again, scratch2;
    struct tsc_envelope env, env2;
    tsc_buf_init(&scratch);
    int rc = tsc_wire_open(w, p, n, TSC_WIRE_MAX_FRAME, &scratch, &env);
    CHECK(rc == 0 || rc == TSC_EMALFORMED || rc == TSC_EAUTH || rc == TSC_EVERSION ||
          rc == TSC_ECLUSTER || rc == TSC_ETOOBIG);
    if (rc == 0) {
        CHECK(env.body >= scratch.data && env.body + env.body_len <= scratch.data + scratch.len);
        check_body(env.body, env.body_len);
        tsc_buf_init(&again);
        tsc_buf_init(&scratch2);
        CHECK(tsc_wire_seal(w, &env, p + 1, TSC_WIRE_MAX_FRAME, &again) == 0);
        CHECK(tsc_wire_open(w, again.data, again.len, TSC_WIRE_MAX_FRAME, &scratch2, &env2) == 0);
        CHECK(env2.sender == env.sender && env2.seq == env.seq && env2.type == env.type &&
              env2.body_len == env.body_len &&
              (env.body_len == 0 || memcmp(env2.body, env.body, env.body_len) == 0));
        tsc_buf_free(&again);
        tsc_buf_free(&scratch2);
    }
    tsc_buf_free(&scratch);
}

static void open_plaintext(const struct tsc_wire *w, const uint8_t *pt, size_t n)
{
    uint8_t nonce[TSC_NONCE_BYTES] = {0};
    size_t len = 1 + TSC_NONCE_BYTES + n + TSC_TAG_BYTES;
    uint8_t *frame = malloc(len);
    if (frame == NULL)
        return;
    frame[0] = TSC_WIRE_VERSION;
    memcpy(frame + 1, nonce, TSC_NONCE_BYTES);
    w->crypto->seal(frame + 1 + TSC_NONCE_BYTES, pt, n, frame, 1, nonce, w->key);
    check_frame(w, frame, len);
    free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    static struct tsc_wire sodium, cheap;
    if (!ready) {
        uint8_t key[TSC_KEY_BYTES];
        if (tsc_crypto_init() != 0)
            abort();
        tsc_fuzz_key(key);
        tsc_wire_init(&sodium, key, &tsc_crypto_sodium);
        tsc_wire_init(&cheap, key, &tsc_crypto_cheap);
        ready = 1;
    }
    if (size == 0)
        return 0;
    /* Copy the payload into its own block so ASan sees reads past its end. */
    size_t n = size - 1;
    uint8_t *p = malloc(n ? n : 1);
    if (p == NULL)
        return 0;
    memcpy(p, data + 1, n);
    switch (data[0] % TSC_FUZZ_MODES) {
    case TSC_FUZZ_FRAME_SODIUM:
        check_frame(&sodium, p, n);
        break;
    case TSC_FUZZ_FRAME_CHEAP:
        check_frame(&cheap, p, n);
        break;
    case TSC_FUZZ_PLAINTEXT:
        open_plaintext(&cheap, p, n);
        break;
    default:
        break;
    }
    check_body(p, n);
    free(p);
    return 0;
}
