/* tsc — signed node records, claims and meta: round trips, signature
 * checks, validation, truncation and allocation failures. Runs against both
 * crypto tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/error.h"
#include "wire/mp.h"
#include "wire/record.h"

struct node {
    uint8_t pk[TSC_PK_BYTES];
    uint8_t sk[TSC_SK_BYTES];
    uint64_t id;
};

static void make_node(const struct tsc_crypto *c, struct node *n, uint8_t tag)
{
    uint8_t seed[TSC_SEED_BYTES];
    memset(seed, tag, sizeof seed);
    c->keypair(n->pk, n->sk, seed);
    n->id = tsc_crypto_node_id(c, n->pk);
}

static void sample_meta(struct tsc_meta *m)
{
    memset(m, 0, sizeof *m);
    m->n_roles = 2;
    strcpy(m->roles[0], "voter");
    strcpy(m->roles[1], "hypervisor");
    m->n_labels = 2;
    strcpy(m->labels[0].key, "rack");
    strcpy(m->labels[0].val, "r1");
    strcpy(m->labels[1].key, "zone");
    strcpy(m->labels[1].val, "eu-west=1");
    m->n_ready = 1;
    strcpy(m->ready[0].key, "db");
    strcpy(m->ready[0].val, "OK");
}

static void sample_record(const struct tsc_crypto *c, struct tsc_record *r, const struct node *n,
                          struct tsc_buf *meta)
{
    struct tsc_meta m;
    sample_meta(&m);
    tsc_buf_init(meta);
    assert_int_equal(tsc_meta_encode(&m, meta, NULL), 0);
    memset(r, 0, sizeof *r);
    r->id = n->id;
    memcpy(r->pk, n->pk, TSC_PK_BYTES);
    r->addr.ip = 0xc6120005;
    r->addr.port = 7946;
    r->incarnation = 123456789012ull;
    r->status = TSC_STATUS_ALIVE;
    r->meta = meta->data;
    r->meta_len = meta->len;
}

static void test_record_round_trip(void **state)
{
    const struct tsc_crypto *c = *state;
    struct node n;
    struct tsc_record r, d;
    struct tsc_buf meta, out;
    int kind = 0;
    make_node(c, &n, 1);
    sample_record(c, &r, &n, &meta);
    tsc_buf_init(&out);
    assert_int_equal(tsc_buf_append(&out, "ab", 2), 0);
    assert_int_equal(tsc_record_encode(c, &r, n.sk, &out), 0);
    const uint8_t *blob = out.data + 2;
    size_t len = out.len - 2;
    assert_true(len <= TSC_RECORD_MAX_BYTES);
    assert_int_equal(tsc_blob_kind(blob, len, &kind), 0);
    assert_int_equal(kind, TSC_BLOB_RECORD);
    assert_int_equal(tsc_record_decode(c, blob, len, 1, &d), 0);
    assert_true(d.id == r.id);
    assert_memory_equal(d.pk, r.pk, TSC_PK_BYTES);
    assert_int_equal(d.addr.ip, r.addr.ip);
    assert_int_equal(d.addr.port, r.addr.port);
    assert_true(d.incarnation == r.incarnation);
    assert_int_equal(d.status, r.status);
    assert_int_equal(d.meta_len, r.meta_len);
    assert_memory_equal(d.meta, r.meta, r.meta_len);
    assert_true(d.meta >= blob && d.meta + d.meta_len <= blob + len);
    assert_int_equal(tsc_blob_verify(c, blob, len, n.pk), 0);
    struct tsc_claim cl;
    assert_int_equal(tsc_claim_decode(blob, len, &cl), TSC_EMALFORMED);

    /* Empty meta and status LEFT; big meta needing a bin16 header. */
    r.meta_len = 0;
    r.status = TSC_STATUS_LEFT;
    tsc_buf_reset(&out);
    assert_int_equal(tsc_record_encode(c, &r, n.sk, &out), 0);
    assert_int_equal(tsc_record_decode(c, out.data, out.len, 1, &d), 0);
    assert_int_equal(d.status, TSC_STATUS_LEFT);
    assert_int_equal(d.meta_len, 0);
    uint8_t big[TSC_META_MAX_BYTES];
    memset(big, 0xc0, sizeof big);
    r.meta = big;
    r.meta_len = sizeof big;
    tsc_buf_reset(&out);
    assert_int_equal(tsc_record_encode(c, &r, n.sk, &out), 0);
    assert_true(out.len <= TSC_RECORD_MAX_BYTES);
    assert_int_equal(tsc_record_decode(c, out.data, out.len, 1, &d), 0);
    assert_int_equal(d.meta_len, sizeof big);
    r.meta_len = sizeof big + 1;
    tsc_buf_reset(&out);
    assert_int_equal(tsc_record_encode(c, &r, n.sk, &out), TSC_ETOOBIG);
    assert_int_equal(out.len, 0);
    tsc_buf_free(&out);
    tsc_buf_free(&meta);
}

static void test_record_encode_preconditions(void **state)
{
    const struct tsc_crypto *c = *state;
    struct node n, other;
    struct tsc_record r;
    struct tsc_buf meta, out;
    make_node(c, &n, 1);
    make_node(c, &other, 2);
    sample_record(c, &r, &n, &meta);
    tsc_buf_init(&out);
    r.id ^= 1; /* id does not derive from pk */
    assert_int_equal(tsc_record_encode(c, &r, n.sk, &out), TSC_EINVAL);
    r.id ^= 1;
    assert_int_equal(tsc_record_encode(c, &r, other.sk, &out), TSC_EINVAL); /* foreign sk */
    r.status = TSC_STATUS_SUSPECT; /* not what a node says of itself */
    assert_int_equal(tsc_record_encode(c, &r, n.sk, &out), TSC_EINVAL);
    assert_int_equal(out.len, 0);
    tsc_buf_free(&out);
    tsc_buf_free(&meta);
}

/* Find the signed part of a blob: [0x92, bin8/16 header, signed..., sig]. */
static size_t signed_offset(const uint8_t *blob)
{
    return blob[1] == 0xc4 ? 3 : 4;
}

/* Re-sign altered signed bytes with sk, to build a blob whose signature is
 * valid but whose content breaks another rule. */
static void resign(const struct tsc_crypto *c, uint8_t *blob, size_t len, const uint8_t *sk)
{
    size_t off = signed_offset(blob);
    size_t slen = len - off - 2 - TSC_SIG_BYTES;
    c->sign(blob + len - TSC_SIG_BYTES, blob + off, slen, sk);
}

static void test_record_signature_checks(void **state)
{
    const struct tsc_crypto *c = *state;
    struct node n, other;
    struct tsc_record r, d;
    struct tsc_buf meta, out;
    make_node(c, &n, 1);
    make_node(c, &other, 2);
    sample_record(c, &r, &n, &meta);
    tsc_buf_init(&out);
    assert_int_equal(tsc_record_encode(c, &r, n.sk, &out), 0);
    uint8_t *b = out.data;
    size_t len = out.len;
    size_t off = signed_offset(b);

    /* Every single altered byte is rejected by a verifying decode, whatever
     * it hits: structure (MALFORMED), a field or the signature (ESIG). */
    for (size_t i = 0; i < len; i++) {
        b[i] ^= 0x01;
        int rc = tsc_record_decode(c, b, len, 1, &d);
        assert_true(rc == TSC_EMALFORMED || rc == TSC_ESIG);
        if (i >= len - TSC_SIG_BYTES)
            assert_int_equal(rc, TSC_ESIG); /* altered signature */
        b[i] ^= 0x01;
    }
    assert_int_equal(tsc_record_decode(c, b, len, 1, &d), 0);

    /* An altered field (the port's low byte) decodes without verify but
     * fails with it. */
    /* signed = [0x98, 1, 0xcf id(8), 0xc4 32 pk(32), 0xce ip(4), 0xcd port(2), ...] */
    size_t port_at = off + 52;
    assert_int_equal(b[off + 50], 0xcd);
    b[port_at] ^= 0x02;
    assert_int_equal(tsc_record_decode(c, b, len, 0, &d), 0);
    assert_int_equal(d.addr.port, 7946 ^ 0x02);
    assert_int_equal(tsc_record_decode(c, b, len, 1, &d), TSC_ESIG);
    assert_int_equal(tsc_blob_verify(c, b, len, n.pk), TSC_ESIG);
    b[port_at] ^= 0x02;

    /* Signed by someone else: the pk inside is n's, so the sig fails. */
    resign(c, b, len, other.sk);
    assert_int_equal(tsc_record_decode(c, b, len, 1, &d), TSC_ESIG);
    assert_int_equal(tsc_blob_verify(c, b, len, other.pk), 0);
    resign(c, b, len, n.sk);
    assert_int_equal(tsc_record_decode(c, b, len, 1, &d), 0);

    /* id does not match pk, even though the signature is valid. */
    size_t id_at = off + 10;
    assert_int_equal(b[off + 2], 0xcf);
    assert_int_equal(b[id_at], (uint8_t)n.id);
    b[id_at] ^= 0x01;
    resign(c, b, len, n.sk);
    assert_int_equal(tsc_blob_verify(c, b, len, n.pk), 0);
    assert_int_equal(tsc_record_decode(c, b, len, 1, &d), TSC_ESIG);
    assert_int_equal(tsc_record_decode(c, b, len, 0, &d), 0);

    /* Oversized input. */
    uint8_t *huge = calloc(1, TSC_RECORD_MAX_BYTES + 1);
    assert_int_equal(tsc_record_decode(c, huge, TSC_RECORD_MAX_BYTES + 1, 1, &d), TSC_ETOOBIG);
    free(huge);
    tsc_buf_free(&out);
    tsc_buf_free(&meta);
}

static void test_truncated_blobs(void **state)
{
    const struct tsc_crypto *c = *state;
    struct node n;
    struct tsc_record r, d;
    struct tsc_claim cl, dc;
    struct tsc_buf meta, out;
    int kind;
    make_node(c, &n, 1);
    sample_record(c, &r, &n, &meta);
    tsc_buf_init(&out);
    assert_int_equal(tsc_record_encode(c, &r, n.sk, &out), 0);
    for (size_t len = 0; len < out.len; len++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, out.data, len);
        assert_int_equal(tsc_record_decode(c, cut, len, 1, &d), TSC_EMALFORMED);
        assert_int_equal(tsc_record_decode(c, cut, len, 0, &d), TSC_EMALFORMED);
        assert_int_equal(tsc_blob_kind(cut, len, &kind), TSC_EMALFORMED);
        assert_int_equal(tsc_blob_verify(c, cut, len, n.pk), TSC_EMALFORMED);
        free(cut);
    }
    cl.target = 77;
    cl.incarnation = 5;
    cl.status = TSC_STATUS_DEAD;
    cl.accuser = n.id;
    tsc_buf_reset(&out);
    assert_int_equal(tsc_claim_encode(c, &cl, n.sk, &out), 0);
    for (size_t len = 0; len < out.len; len++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, out.data, len);
        assert_int_equal(tsc_claim_decode(cut, len, &dc), TSC_EMALFORMED);
        free(cut);
    }
    tsc_buf_free(&out);
    tsc_buf_free(&meta);
}

static void test_claims(void **state)
{
    const struct tsc_crypto *c = *state;
    struct node acc, other;
    struct tsc_claim cl, d;
    struct tsc_buf out;
    int kind;
    make_node(c, &acc, 3);
    make_node(c, &other, 4);
    tsc_buf_init(&out);
    cl.target = 0xdeadbeefcafeull;
    cl.incarnation = 9;
    cl.status = TSC_STATUS_SUSPECT;
    cl.accuser = acc.id;
    assert_int_equal(tsc_claim_encode(c, &cl, acc.sk, &out), 0);
    assert_int_equal(tsc_blob_kind(out.data, out.len, &kind), 0);
    assert_int_equal(kind, TSC_BLOB_CLAIM);
    assert_int_equal(tsc_claim_decode(out.data, out.len, &d), 0);
    assert_true(d.target == cl.target && d.incarnation == 9 && d.accuser == acc.id);
    assert_int_equal(d.status, TSC_STATUS_SUSPECT);
    assert_int_equal(tsc_blob_verify(c, out.data, out.len, acc.pk), 0);
    assert_int_equal(tsc_blob_verify(c, out.data, out.len, other.pk), TSC_ESIG);
    struct tsc_record r;
    assert_int_equal(tsc_record_decode(c, out.data, out.len, 0, &r), TSC_EMALFORMED);
    /* Flip the status SUSPECT -> DEAD: decodes, signature fails. */
    size_t off = signed_offset(out.data);
    /* signed = [0x95, 2, 0xcf target(8), incarnation 9, status, accuser] */
    uint8_t *status = &out.data[off + 12];
    assert_int_equal(out.data[off + 11], 0x09);
    assert_int_equal(*status, TSC_STATUS_SUSPECT);
    assert_non_null(status);
    *status = TSC_STATUS_DEAD;
    assert_int_equal(tsc_claim_decode(out.data, out.len, &d), 0);
    assert_int_equal(d.status, TSC_STATUS_DEAD);
    assert_int_equal(tsc_blob_verify(c, out.data, out.len, acc.pk), TSC_ESIG);
    *status = TSC_STATUS_ALIVE; /* not a claim status */
    assert_int_equal(tsc_claim_decode(out.data, out.len, &d), TSC_EMALFORMED);

    /* Preconditions. */
    size_t before = out.len;
    cl.status = TSC_STATUS_ALIVE;
    assert_int_equal(tsc_claim_encode(c, &cl, acc.sk, &out), TSC_EINVAL);
    cl.status = TSC_STATUS_DEAD;
    assert_int_equal(tsc_claim_encode(c, &cl, other.sk, &out), TSC_EINVAL); /* not the accuser */
    cl.target = 0;
    assert_int_equal(tsc_claim_encode(c, &cl, acc.sk, &out), TSC_EINVAL);
    assert_int_equal(out.len, before);
    tsc_buf_free(&out);
}

static void test_encode_nomem(void **state)
{
    const struct tsc_crypto *c = *state;
    struct node n;
    struct tsc_record r;
    struct tsc_buf meta, out;
    struct tsc_meta m;
    make_node(c, &n, 1);
    sample_record(c, &r, &n, &meta);
    sample_meta(&m);
    /* Fail the 1st, 2nd, ... allocation until an encode succeeds; every
     * failure must leave out unchanged (ASan checks for leaks). */
    for (unsigned long k = 1;; k++) {
        tsc_buf_init(&out);
        tsc_alloc_fail_after(k);
        int rc = tsc_record_encode(c, &r, n.sk, &out);
        tsc_alloc_fail_after(0);
        if (rc == 0) {
            tsc_buf_free(&out);
            break;
        }
        assert_int_equal(rc, TSC_ENOMEM);
        assert_int_equal(out.len, 0);
        tsc_buf_free(&out);
        assert_true(k < 50);
    }
    for (unsigned long k = 1;; k++) {
        struct tsc_claim cl = {5, 1, TSC_STATUS_SUSPECT, n.id};
        tsc_buf_init(&out);
        tsc_alloc_fail_after(k);
        int rc = tsc_claim_encode(c, &cl, n.sk, &out);
        tsc_alloc_fail_after(0);
        tsc_buf_free(&out);
        if (rc == 0)
            break;
        assert_int_equal(rc, TSC_ENOMEM);
        assert_true(k < 50);
    }
    /* Growth in the middle of an encode: out already has a small block. */
    for (unsigned long k = 1;; k++) {
        char err[TSC_ERRMSG_SIZE];
        tsc_buf_init(&out);
        assert_int_equal(tsc_buf_reserve(&out, 1), 0);
        tsc_alloc_fail_after(k);
        int rc = tsc_meta_encode(&m, &out, err);
        tsc_alloc_fail_after(0);
        size_t len = out.len;
        tsc_buf_free(&out);
        if (rc == 0)
            break;
        assert_int_equal(rc, TSC_ENOMEM);
        assert_int_equal(len, 0);
        assert_true(k < 50);
    }
    tsc_buf_free(&meta);
}

/* ---- meta ---------------------------------------------------------------- */

static void test_meta_round_trip(void **state)
{
    struct tsc_meta m, d;
    struct tsc_buf out;
    char err[TSC_ERRMSG_SIZE];
    sample_meta(&m);
    tsc_buf_init(&out);
    assert_int_equal(tsc_meta_encode(&m, &out, err), 0);
    assert_true(out.len <= TSC_META_MAX_BYTES);
    assert_int_equal(tsc_meta_decode(out.data, out.len, &d), 0);
    assert_int_equal(d.n_roles, 2);
    assert_string_equal(d.roles[0], "voter");
    assert_string_equal(d.roles[1], "hypervisor");
    assert_int_equal(d.n_labels, 2);
    assert_string_equal(d.labels[1].key, "zone");
    assert_string_equal(d.labels[1].val, "eu-west=1");
    assert_int_equal(d.n_ready, 1);
    assert_string_equal(d.ready[0].val, "OK");
    for (size_t len = 0; len < out.len; len++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, out.data, len);
        assert_int_equal(tsc_meta_decode(cut, len, &d), TSC_EMALFORMED);
        free(cut);
    }
    /* Empty meta. */
    memset(&m, 0, sizeof m);
    tsc_buf_reset(&out);
    assert_int_equal(tsc_meta_encode(&m, &out, err), 0);
    assert_int_equal(tsc_meta_decode(out.data, out.len, &d), 0);
    assert_int_equal(d.n_roles + d.n_labels + d.n_ready, 0);
    /* Eight 63-byte roles fit; adding four 63-byte labels exceeds 640 bytes. */
    m.n_roles = TSC_META_MAX_ROLES;
    for (unsigned i = 0; i < m.n_roles; i++) {
        memset(m.roles[i], 'a' + (int)i, TSC_META_STR - 1);
        m.roles[i][TSC_META_STR - 1] = '\0';
    }
    tsc_buf_reset(&out);
    assert_int_equal(tsc_meta_encode(&m, &out, err), 0);
    assert_int_equal(tsc_meta_decode(out.data, out.len, &d), 0);
    assert_int_equal(d.n_roles, TSC_META_MAX_ROLES);
    assert_string_equal(d.roles[7], m.roles[7]);
    m.n_labels = 4;
    for (unsigned i = 0; i < m.n_labels; i++) {
        snprintf(m.labels[i].key, TSC_META_STR, "k%u", i);
        memset(m.labels[i].val, 'v', TSC_META_STR - 1);
        m.labels[i].val[TSC_META_STR - 1] = '\0';
    }
    tsc_buf_reset(&out);
    assert_int_equal(tsc_meta_encode(&m, &out, err), TSC_ETOOBIG);
    assert_int_equal(out.len, 0);
    tsc_buf_free(&out);
}

static void test_meta_validation(void **state)
{
    struct tsc_meta m;
    struct tsc_buf out;
    char err[TSC_ERRMSG_SIZE];
    tsc_buf_init(&out);

    assert_int_equal(tsc_meta_check_str("voter", 0, err), 0);
    assert_int_equal(tsc_meta_check_str("a=b", 0, err), 0);
    assert_int_equal(tsc_meta_check_str("a=b", 1, err), TSC_EINVAL);
    assert_non_null(strstr(err, "'='"));
    assert_int_equal(tsc_meta_check_str("", 0, err), TSC_EINVAL);
    assert_int_equal(tsc_meta_check_str("has space", 0, err), TSC_EINVAL);
    assert_int_equal(tsc_meta_check_str("tab\there", 0, err), TSC_EINVAL);
    assert_int_equal(tsc_meta_check_str("caf\xc3\xa9", 0, err), TSC_EINVAL);
    assert_int_equal(tsc_meta_check_str("del\x7f", 0, err), TSC_EINVAL);
    assert_int_equal(tsc_meta_check_str(NULL, 0, err), TSC_EINVAL);
    char s[80];
    memset(s, 'x', sizeof s);
    s[63] = '\0';
    assert_int_equal(tsc_meta_check_str(s, 0, err), 0);
    s[63] = 'x';
    s[64] = '\0';
    assert_int_equal(tsc_meta_check_str(s, 0, err), TSC_EINVAL);
    assert_int_equal(tsc_meta_check_str(s, 0, NULL), TSC_EINVAL);

    /* Too many roles. */
    sample_meta(&m);
    m.n_roles = TSC_META_MAX_ROLES + 1;
    for (unsigned i = 0; i < m.n_roles && i < TSC_META_MAX_ROLES; i++)
        snprintf(m.roles[i], TSC_META_STR, "r%u", i);
    assert_int_equal(tsc_meta_encode(&m, &out, err), TSC_EINVAL);
    assert_non_null(strstr(err, "roles"));
    /* Bad chars in a role, a label key with '=', duplicates, too long. */
    sample_meta(&m);
    strcpy(m.roles[1], "bad role");
    assert_int_equal(tsc_meta_encode(&m, &out, err), TSC_EINVAL);
    assert_non_null(strstr(err, "role 2"));
    sample_meta(&m);
    strcpy(m.labels[0].key, "a=b");
    assert_int_equal(tsc_meta_encode(&m, &out, err), TSC_EINVAL);
    sample_meta(&m);
    strcpy(m.labels[1].key, "rack");
    assert_int_equal(tsc_meta_encode(&m, &out, err), TSC_EINVAL);
    assert_non_null(strstr(err, "duplicate"));
    sample_meta(&m);
    strcpy(m.roles[1], "voter");
    assert_int_equal(tsc_meta_encode(&m, &out, err), TSC_EINVAL);
    sample_meta(&m);
    memset(m.ready[0].val, 'y', TSC_META_STR); /* no NUL inside: 64 bytes */
    assert_int_equal(tsc_meta_encode(&m, &out, err), TSC_EINVAL);
    sample_meta(&m);
    m.n_labels = TSC_META_MAX_LABELS + 1;
    assert_int_equal(tsc_meta_encode(&m, &out, err), TSC_EINVAL);
    sample_meta(&m);
    m.n_ready = TSC_META_MAX_READY + 1;
    assert_int_equal(tsc_meta_encode(&m, &out, err), TSC_EINVAL);
    assert_int_equal(out.len, 0);
    tsc_buf_free(&out);
}

/* Hand-built wire maps exercising decode's rules. */
static void test_meta_decode_rules(void **state)
{
    struct tsc_meta d;
    struct tsc_buf b;
    struct tsc_mp_writer w;
    msgpack_packer *pk;
    tsc_buf_init(&b);
#define STR(s)                                                                                     \
    do {                                                                                           \
        msgpack_pack_str(pk, strlen(s));                                                           \
        msgpack_pack_str_body(pk, s, strlen(s));                                                   \
    } while (0)
#define BEGIN()                                                                                    \
    do {                                                                                           \
        tsc_buf_reset(&b);                                                                         \
        tsc_mp_writer_init(&w, &b);                                                                \
        pk = &w.pk;                                                                                \
    } while (0)

    /* Unknown keys are skipped, whatever their type; known ones decoded. */
    BEGIN();
    msgpack_pack_map(pk, 3);
    STR("future");
    msgpack_pack_array(pk, 2);
    msgpack_pack_map(pk, 0);
    msgpack_pack_double(pk, 1.0);
    STR("roles");
    msgpack_pack_array(pk, 1);
    STR("slave");
    STR("x");
    msgpack_pack_nil(pk);
    assert_int_equal(tsc_meta_decode(b.data, b.len, &d), 0);
    assert_int_equal(d.n_roles, 1);
    assert_string_equal(d.roles[0], "slave");

    /* Known key with the wrong type. */
    BEGIN();
    msgpack_pack_map(pk, 1);
    STR("labels");
    msgpack_pack_array(pk, 0);
    assert_int_equal(tsc_meta_decode(b.data, b.len, &d), TSC_EMALFORMED);
    /* Too many roles. */
    BEGIN();
    msgpack_pack_map(pk, 1);
    STR("roles");
    msgpack_pack_array(pk, TSC_META_MAX_ROLES + 1);
    for (int i = 0; i < TSC_META_MAX_ROLES + 1; i++) {
        char r[8];
        snprintf(r, sizeof r, "r%d", i);
        STR(r);
    }
    assert_int_equal(tsc_meta_decode(b.data, b.len, &d), TSC_EMALFORMED);
    /* Bad string, '=' in key, duplicate key, duplicate top-level key. */
    BEGIN();
    msgpack_pack_map(pk, 1);
    STR("roles");
    msgpack_pack_array(pk, 1);
    STR("two words");
    assert_int_equal(tsc_meta_decode(b.data, b.len, &d), TSC_EMALFORMED);
    BEGIN();
    msgpack_pack_map(pk, 1);
    STR("ready");
    msgpack_pack_map(pk, 1);
    STR("a=b");
    STR("OK");
    assert_int_equal(tsc_meta_decode(b.data, b.len, &d), TSC_EMALFORMED);
    BEGIN();
    msgpack_pack_map(pk, 1);
    STR("ready");
    msgpack_pack_map(pk, 2);
    STR("db");
    STR("OK");
    STR("db");
    STR("CRITICAL");
    assert_int_equal(tsc_meta_decode(b.data, b.len, &d), TSC_EMALFORMED);
    BEGIN();
    msgpack_pack_map(pk, 2);
    STR("roles");
    msgpack_pack_array(pk, 0);
    STR("roles");
    msgpack_pack_array(pk, 0);
    assert_int_equal(tsc_meta_decode(b.data, b.len, &d), TSC_EMALFORMED);
    /* Not a map, trailing bytes, non-str key, 64-byte string. */
    BEGIN();
    msgpack_pack_array(pk, 0);
    assert_int_equal(tsc_meta_decode(b.data, b.len, &d), TSC_EMALFORMED);
    BEGIN();
    msgpack_pack_map(pk, 0);
    msgpack_pack_nil(pk);
    assert_int_equal(tsc_meta_decode(b.data, b.len, &d), TSC_EMALFORMED);
    BEGIN();
    msgpack_pack_map(pk, 1);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_nil(pk);
    assert_int_equal(tsc_meta_decode(b.data, b.len, &d), TSC_EMALFORMED);
    BEGIN();
    msgpack_pack_map(pk, 1);
    STR("roles");
    msgpack_pack_array(pk, 1);
    char s64[65];
    memset(s64, 'q', 64);
    s64[64] = '\0';
    STR(s64);
    assert_int_equal(tsc_meta_decode(b.data, b.len, &d), TSC_EMALFORMED);
    uint8_t *huge = calloc(1, TSC_META_MAX_BYTES + 1);
    assert_int_equal(tsc_meta_decode(huge, TSC_META_MAX_BYTES + 1, &d), TSC_ETOOBIG);
    free(huge);
    tsc_buf_free(&b);
#undef STR
#undef BEGIN
}

static void test_status_names(void **state)
{
    assert_string_equal(tsc_status_name(TSC_STATUS_ALIVE), "alive");
    assert_string_equal(tsc_status_name(TSC_STATUS_SUSPECT), "suspect");
    assert_string_equal(tsc_status_name(TSC_STATUS_DEAD), "dead");
    assert_string_equal(tsc_status_name(TSC_STATUS_LEFT), "left");
    assert_string_equal(tsc_status_name(9), "?");
}

int main(void)
{
    if (tsc_crypto_init() != 0)
        return 1;
    void *s = (void *)&tsc_crypto_sodium, *ch = (void *)&tsc_crypto_cheap;
#define BOTH(t) cmocka_unit_test_prestate(t, s), cmocka_unit_test_prestate(t, ch)
    const struct CMUnitTest tests[] = {
        BOTH(test_record_round_trip),
        BOTH(test_record_encode_preconditions),
        BOTH(test_record_signature_checks),
        BOTH(test_truncated_blobs),
        BOTH(test_claims),
        BOTH(test_encode_nomem),
        cmocka_unit_test(test_meta_round_trip),
        cmocka_unit_test(test_meta_validation),
        cmocka_unit_test(test_meta_decode_rules),
        cmocka_unit_test(test_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
