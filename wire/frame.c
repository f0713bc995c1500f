/* tsc — sealing and opening the envelope, and the anti-replay window. */
#include "wire/frame.h"

#include "common/error.h"
#include "wire/mp.h"

#include <string.h>

#define HEADER_BYTES    (1 + TSC_NONCE_BYTES)
#define MIN_FRAME       (HEADER_BYTES + TSC_TAG_BYTES)
#define ENVELOPE_FIELDS 6

void tsc_wire_init(struct tsc_wire *w, const uint8_t key[TSC_KEY_BYTES],
                   const struct tsc_crypto *crypto)
{
    memcpy(w->key, key, TSC_KEY_BYTES);
    w->crypto = crypto;
    w->cluster = tsc_crypto_cluster_id(crypto, key);
}

/* The plaintext is written by hand rather than through msgpack_packer: its
 * exact size is known up front, so seal can reserve once and encode straight
 * into the output buffer with no temporary allocation. The bytes are the same
 * msgpack the packer would produce. */
static size_t uint_size(uint64_t v)
{
    if (v <= 0x7f)
        return 1;
    if (v <= 0xff)
        return 2;
    if (v <= 0xffff)
        return 3;
    if (v <= 0xffffffffu)
        return 5;
    return 9;
}

static uint8_t *put_be(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return p + n;
}

static uint8_t *put_uint(uint8_t *p, uint64_t v)
{
    if (v <= 0x7f) {
        *p = (uint8_t)v;
        return p + 1;
    }
    if (v <= 0xff) {
        *p = 0xcc;
        return put_be(p + 1, v, 1);
    }
    if (v <= 0xffff) {
        *p = 0xcd;
        return put_be(p + 1, v, 2);
    }
    if (v <= 0xffffffffu) {
        *p = 0xce;
        return put_be(p + 1, v, 4);
    }
    *p = 0xcf;
    return put_be(p + 1, v, 8);
}

static size_t bin_header_size(size_t n)
{
    return n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
}

static uint8_t *put_bin_header(uint8_t *p, size_t n)
{
    if (n <= 0xff) {
        *p = 0xc4;
        return put_be(p + 1, n, 1);
    }
    if (n <= 0xffff) {
        *p = 0xc5;
        return put_be(p + 1, n, 2);
    }
    *p = 0xc6;
    return put_be(p + 1, n, 4);
}

/* Frame layout: [version][nonce][AEAD(plaintext)]. The plaintext is encoded
 * into spare capacity of `out` past the frame's end, then sealed into place
 * (the crypto table forbids overlapping c and m); out->len only moves on
 * success. */
int tsc_wire_seal(const struct tsc_wire *w, const struct tsc_envelope *env,
                  const uint8_t nonce[TSC_NONCE_BYTES], size_t max_len, struct tsc_buf *out)
{
    /* A type the receiver would reject is a caller bug, caught here. */
    if (env->type == 0 || env->type > TSC_MSG_TYPE_MAX)
        return TSC_EINVAL;
    if (env->body_len > max_len || env->body_len > 0xffffffffu)
        return TSC_ETOOBIG;
    size_t pt_len = 1 + uint_size(TSC_WIRE_VERSION) + uint_size(w->cluster) +
                    uint_size(env->sender) + uint_size(env->seq) + uint_size(env->type) +
                    bin_header_size(env->body_len) + env->body_len;
    size_t frame_len = HEADER_BYTES + pt_len + TSC_TAG_BYTES;
    if (frame_len > max_len)
        return TSC_ETOOBIG;
    if (tsc_buf_reserve(out, frame_len + pt_len) != 0)
        return TSC_ENOMEM;

    uint8_t *frame = out->data + out->len;
    uint8_t *pt = frame + frame_len;
    uint8_t *p = pt;
    *p++ = 0x90 | ENVELOPE_FIELDS;
    p = put_uint(p, TSC_WIRE_VERSION);
    p = put_uint(p, w->cluster);
    p = put_uint(p, env->sender);
    p = put_uint(p, env->seq);
    p = put_uint(p, env->type);
    p = put_bin_header(p, env->body_len);
    if (env->body_len > 0)
        memcpy(p, env->body, env->body_len);

    frame[0] = TSC_WIRE_VERSION;
    memcpy(frame + 1, nonce, TSC_NONCE_BYTES);
    w->crypto->seal(frame + HEADER_BYTES, pt, pt_len, frame, 1, nonce, w->key);
    out->len += frame_len;
    return 0;
}

/* Decode the authenticated plaintext. Any shape other than exactly the six
 * fields is rejected; the version inside must repeat the one outside. */
static int decode_envelope(const struct tsc_wire *w, const uint8_t *pt, size_t len,
                           struct tsc_envelope *env)
{
    struct tsc_mp_reader r;
    uint32_t n, body_len;
    uint64_t version, cluster, sender, seq, type;
    const uint8_t *body;

    tsc_mp_reader_init(&r, pt, len);
    if (tsc_mp_read_array(&r, &n) != 0 || n != ENVELOPE_FIELDS)
        return TSC_EMALFORMED;
    if (tsc_mp_read_uint(&r, &version) != 0 || tsc_mp_read_uint(&r, &cluster) != 0 ||
        tsc_mp_read_uint(&r, &sender) != 0 || tsc_mp_read_uint(&r, &seq) != 0 ||
        tsc_mp_read_uint(&r, &type) != 0 || tsc_mp_read_bin(&r, &body, &body_len) != 0 ||
        tsc_mp_remaining(&r) != 0)
        return TSC_EMALFORMED;
    if (version != TSC_WIRE_VERSION)
        return TSC_EVERSION;
    if (cluster != w->cluster)
        return TSC_ECLUSTER;
    if (type == 0 || type > TSC_MSG_TYPE_MAX)
        return TSC_EMALFORMED;
    env->version = (uint8_t)version;
    env->cluster = cluster;
    env->sender = sender;
    env->seq = seq;
    env->type = (uint8_t)type;
    env->body = body;
    env->body_len = body_len;
    return 0;
}

/* The checks run cheapest first and before any read past what was already
 * checked: size limit, version byte, minimum length, then the AEAD (which
 * reads exactly len bytes), and only then the plaintext. */
int tsc_wire_open(const struct tsc_wire *w, const uint8_t *frame, size_t len, size_t max_len,
                  struct tsc_buf *scratch, struct tsc_envelope *env)
{
    if (len > max_len)
        return TSC_ETOOBIG;
    if (len < 1)
        return TSC_EMALFORMED;
    if (frame[0] != TSC_WIRE_VERSION)
        return TSC_EVERSION;
    if (len < MIN_FRAME)
        return TSC_EMALFORMED;

    size_t clen = len - HEADER_BYTES;
    size_t pt_len = clen - TSC_TAG_BYTES;
    tsc_buf_reset(scratch);
    /* +1: never hand the crypto a NULL buffer, even for an empty plaintext. */
    if (tsc_buf_reserve(scratch, pt_len + 1) != 0)
        return TSC_ENOMEM;
    int rc =
        w->crypto->unseal(scratch->data, frame + HEADER_BYTES, clen, frame, 1, frame + 1, w->key);
    if (rc != 0)
        return TSC_EAUTH;
    scratch->len = pt_len;
    return decode_envelope(w, scratch->data, pt_len, env);
}

/* RFC 4303 §3.4.3: a bitmap of the 64 sequence numbers up to the highest one
 * seen. Newer numbers slide the window; numbers inside it are accepted once;
 * numbers below it are too old to tell apart from replays and are dropped.
 * Sequence numbers start at 1; 0 is never valid. */
int tsc_replay_check(struct tsc_replay_window *w, uint64_t seq)
{
    if (seq == 0)
        return TSC_EREPLAY;
    if (seq > w->top) {
        uint64_t shift = seq - w->top;
        w->bits = shift >= 64 ? 1 : (w->bits << shift) | 1;
        w->top = seq;
        return 0;
    }
    uint64_t diff = w->top - seq;
    if (diff >= 64)
        return TSC_EREPLAY;
    uint64_t bit = (uint64_t)1 << diff;
    if (w->bits & bit)
        return TSC_EREPLAY;
    w->bits |= bit;
    return 0;
}
