/* tsc — signed node records and claims (see record.h for the layout). */
#include "wire/record.h"

#include "common/error.h"
#include "wire/mp.h"

#include <string.h>

#define RECORD_FIELDS   8
#define CLAIM_FIELDS    5
#define BLOB_HEADER_MAX 4 /* fixarray(2) + bin16 header */

const char *tsc_status_name(int status)
{
    switch (status) {
    case TSC_STATUS_ALIVE:
        return "alive";
    case TSC_STATUS_SUSPECT:
        return "suspect";
    case TSC_STATUS_DEAD:
        return "dead";
    case TSC_STATUS_LEFT:
        return "left";
    default:
        return "?";
    }
}

/* ---- the outer shape: [signed(bin), sig(bin 64)] ------------------------- */

struct blob_parts {
    const uint8_t *signed_p;
    uint32_t signed_len;
    const uint8_t *sig;
};

static int blob_split(const uint8_t *blob, size_t len, struct blob_parts *bp)
{
    struct tsc_mp_reader r;
    uint32_t n, sig_len;
    if (len > TSC_RECORD_MAX_BYTES)
        return TSC_ETOOBIG;
    tsc_mp_reader_init(&r, blob, len);
    if (tsc_mp_read_array(&r, &n) != 0 || n != 2 ||
        tsc_mp_read_bin(&r, &bp->signed_p, &bp->signed_len) != 0 ||
        tsc_mp_read_bin(&r, &bp->sig, &sig_len) != 0 || sig_len != TSC_SIG_BYTES ||
        tsc_mp_remaining(&r) != 0)
        return TSC_EMALFORMED;
    return 0;
}

/* Open the signed part: an array of exactly `fields` elements whose first is
 * `kind`. */
static int signed_begin(struct tsc_mp_reader *r, const struct blob_parts *bp, uint32_t fields,
                        uint64_t kind)
{
    uint32_t n;
    uint64_t k;
    tsc_mp_reader_init(r, bp->signed_p, bp->signed_len);
    if (tsc_mp_read_array(r, &n) != 0 || n != fields || tsc_mp_read_uint(r, &k) != 0 || k != kind)
        return TSC_EMALFORMED;
    return 0;
}

int tsc_blob_kind(const uint8_t *blob, size_t len, int *kind)
{
    struct blob_parts bp;
    struct tsc_mp_reader r;
    uint32_t n;
    uint64_t k;
    int rc = blob_split(blob, len, &bp);
    if (rc != 0)
        return TSC_EMALFORMED;
    tsc_mp_reader_init(&r, bp.signed_p, bp.signed_len);
    if (tsc_mp_read_array(&r, &n) != 0 || n < 1 || tsc_mp_read_uint(&r, &k) != 0)
        return TSC_EMALFORMED;
    if (k != TSC_BLOB_RECORD && k != TSC_BLOB_CLAIM)
        return TSC_EMALFORMED;
    *kind = (int)k;
    return 0;
}

int tsc_blob_verify(const struct tsc_crypto *c, const uint8_t *blob, size_t len,
                    const uint8_t pk[TSC_PK_BYTES])
{
    struct blob_parts bp;
    if (blob_split(blob, len, &bp) != 0)
        return TSC_EMALFORMED;
    return c->verify(bp.sig, bp.signed_p, bp.signed_len, pk) == 0 ? 0 : TSC_ESIG;
}

/* ---- encoding ------------------------------------------------------------ */

/* The signed fields have been packed at out->data[start + BLOB_HEADER_MAX ..
 * out->len). Write the blob header in front of them (moving them down by one
 * byte when a bin8 header suffices), sign them and append the signature.
 * On any error out->len goes back to start. */
static int blob_finish(const struct tsc_crypto *c, struct tsc_mp_writer *w, size_t start,
                       const uint8_t sk[TSC_SK_BYTES])
{
    struct tsc_buf *out = w->buf;
    if (tsc_mp_writer_status(w) != 0) {
        out->len = start;
        return TSC_ENOMEM;
    }
    size_t slen = out->len - start - BLOB_HEADER_MAX;
    if (slen + BLOB_HEADER_MAX + 2 + TSC_SIG_BYTES > TSC_RECORD_MAX_BYTES) {
        out->len = start;
        return TSC_ETOOBIG;
    }
    uint8_t *h = out->data + start;
    h[0] = 0x92;
    if (slen <= 0xff) {
        h[1] = 0xc4;
        h[2] = (uint8_t)slen;
        memmove(h + 3, h + 4, slen);
        out->len--;
    } else {
        h[1] = 0xc5;
        h[2] = (uint8_t)(slen >> 8);
        h[3] = (uint8_t)slen;
    }
    if (tsc_buf_reserve(out, 2 + TSC_SIG_BYTES) != 0) {
        out->len = start;
        return TSC_ENOMEM;
    }
    const uint8_t *signed_p = out->data + out->len - slen;
    uint8_t *tail = out->data + out->len;
    tail[0] = 0xc4;
    tail[1] = TSC_SIG_BYTES;
    c->sign(tail + 2, signed_p, slen, sk);
    out->len += 2 + TSC_SIG_BYTES;
    return 0;
}

static int blob_start(struct tsc_mp_writer *w, struct tsc_buf *out, size_t *start)
{
    static const uint8_t gap[BLOB_HEADER_MAX];
    *start = out->len;
    if (tsc_buf_append(out, gap, sizeof gap) != 0)
        return TSC_ENOMEM;
    tsc_mp_writer_init(w, out);
    return 0;
}

/* Preconditions checked rather than assumed, since a wrong key would make
 * every receiver drop the record silently: id derives from pk, sk carries pk
 * in its second half (libsodium's layout, kept by the cheap table). */
int tsc_record_encode(const struct tsc_crypto *c, const struct tsc_record *rec,
                      const uint8_t sk[TSC_SK_BYTES], struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start;
    if (rec->id != tsc_crypto_node_id(c, rec->pk) ||
        memcmp(sk + TSC_SEED_BYTES, rec->pk, TSC_PK_BYTES) != 0)
        return TSC_EINVAL;
    if (rec->status != TSC_STATUS_ALIVE && rec->status != TSC_STATUS_LEFT)
        return TSC_EINVAL;
    if (rec->meta_len > TSC_META_MAX_BYTES)
        return TSC_ETOOBIG;
    if (blob_start(&w, out, &start) != 0)
        return TSC_ENOMEM;
    msgpack_packer *pk = &w.pk;
    msgpack_pack_array(pk, RECORD_FIELDS);
    msgpack_pack_uint8(pk, TSC_BLOB_RECORD);
    msgpack_pack_uint64(pk, rec->id);
    msgpack_pack_bin(pk, TSC_PK_BYTES);
    msgpack_pack_bin_body(pk, rec->pk, TSC_PK_BYTES);
    msgpack_pack_uint32(pk, rec->addr.ip);
    msgpack_pack_uint16(pk, rec->addr.port);
    msgpack_pack_uint64(pk, rec->incarnation);
    msgpack_pack_uint8(pk, rec->status);
    msgpack_pack_bin(pk, rec->meta_len);
    if (rec->meta_len > 0)
        msgpack_pack_bin_body(pk, rec->meta, rec->meta_len);
    return blob_finish(c, &w, start, sk);
}

int tsc_claim_encode(const struct tsc_crypto *c, const struct tsc_claim *cl,
                     const uint8_t sk[TSC_SK_BYTES], struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start;
    if (cl->status != TSC_STATUS_SUSPECT && cl->status != TSC_STATUS_DEAD)
        return TSC_EINVAL;
    if (cl->target == 0 || cl->accuser != tsc_crypto_node_id(c, sk + TSC_SEED_BYTES))
        return TSC_EINVAL;
    if (blob_start(&w, out, &start) != 0)
        return TSC_ENOMEM;
    msgpack_packer *pk = &w.pk;
    msgpack_pack_array(pk, CLAIM_FIELDS);
    msgpack_pack_uint8(pk, TSC_BLOB_CLAIM);
    msgpack_pack_uint64(pk, cl->target);
    msgpack_pack_uint64(pk, cl->incarnation);
    msgpack_pack_uint8(pk, cl->status);
    msgpack_pack_uint64(pk, cl->accuser);
    return blob_finish(c, &w, start, sk);
}

/* ---- decoding ------------------------------------------------------------ */

int tsc_record_decode(const struct tsc_crypto *c, const uint8_t *blob, size_t len, int verify,
                      struct tsc_record *rec)
{
    struct blob_parts bp;
    struct tsc_mp_reader r;
    uint64_t id, ip, port, inc, status;
    const uint8_t *pk, *meta;
    uint32_t pk_len, meta_len;
    int rc = blob_split(blob, len, &bp);
    if (rc != 0)
        return rc;
    if (signed_begin(&r, &bp, RECORD_FIELDS, TSC_BLOB_RECORD) != 0 ||
        tsc_mp_read_uint(&r, &id) != 0 || tsc_mp_read_bin(&r, &pk, &pk_len) != 0 ||
        pk_len != TSC_PK_BYTES || tsc_mp_read_uint(&r, &ip) != 0 || ip > 0xffffffffu ||
        tsc_mp_read_uint(&r, &port) != 0 || port > 0xffff || tsc_mp_read_uint(&r, &inc) != 0 ||
        tsc_mp_read_uint(&r, &status) != 0 ||
        (status != TSC_STATUS_ALIVE && status != TSC_STATUS_LEFT) ||
        tsc_mp_read_bin(&r, &meta, &meta_len) != 0 || meta_len > TSC_META_MAX_BYTES ||
        tsc_mp_remaining(&r) != 0 || id == 0)
        return TSC_EMALFORMED;
    if (verify) {
        if (id != tsc_crypto_node_id(c, pk))
            return TSC_ESIG;
        if (c->verify(bp.sig, bp.signed_p, bp.signed_len, pk) != 0)
            return TSC_ESIG;
    }
    rec->id = id;
    memcpy(rec->pk, pk, TSC_PK_BYTES);
    rec->addr.ip = (uint32_t)ip;
    rec->addr.port = (uint16_t)port;
    rec->incarnation = inc;
    rec->status = (uint8_t)status;
    rec->meta = meta;
    rec->meta_len = meta_len;
    return 0;
}

int tsc_claim_decode(const uint8_t *blob, size_t len, struct tsc_claim *cl)
{
    struct blob_parts bp;
    struct tsc_mp_reader r;
    uint64_t target, inc, status, accuser;
    if (blob_split(blob, len, &bp) != 0)
        return TSC_EMALFORMED;
    if (signed_begin(&r, &bp, CLAIM_FIELDS, TSC_BLOB_CLAIM) != 0 ||
        tsc_mp_read_uint(&r, &target) != 0 || tsc_mp_read_uint(&r, &inc) != 0 ||
        tsc_mp_read_uint(&r, &status) != 0 ||
        (status != TSC_STATUS_SUSPECT && status != TSC_STATUS_DEAD) ||
        tsc_mp_read_uint(&r, &accuser) != 0 || tsc_mp_remaining(&r) != 0 || target == 0 ||
        accuser == 0)
        return TSC_EMALFORMED;
    cl->target = target;
    cl->incarnation = inc;
    cl->status = (uint8_t)status;
    cl->accuser = accuser;
    return 0;
}
