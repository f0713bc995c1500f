/* tsc — signed records: what a node says about itself (its membership record)
 * and what a node claims about another (suspect, dead).
 *
 * Every record travels as a signed blob, relayed verbatim so that a relay
 * cannot alter it:
 *     blob   = msgpack array [signed(bin), sig(bin 64)]
 *     signed = msgpack array [kind, ...fields]  (the exact bytes that are signed)
 * kind 1, node record:  [1, id, pk(bin32), ip, port, incarnation, status, meta(bin)]
 *                       signed by the node itself; id must equal node_id(pk).
 * kind 2, claim:        [2, target, incarnation, status, accuser]
 *                       signed by the accuser. */
#ifndef TSC_WIRE_RECORD_H
#define TSC_WIRE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/buf.h"
#include "wire/crypto.h"

enum tsc_status {
    TSC_STATUS_ALIVE = 0,
    TSC_STATUS_SUSPECT = 1,
    TSC_STATUS_DEAD = 2,
    TSC_STATUS_LEFT = 3,
};

/* "alive", "suspect", "dead", "left", or "?" */
const char *tsc_status_name(int status);

enum tsc_blob_kind {
    TSC_BLOB_RECORD = 1,
    TSC_BLOB_CLAIM = 2,
};

#define TSC_RECORD_MAX_BYTES 1024 /* a whole record blob, so it fits a datagram */
#define TSC_META_MAX_BYTES   640  /* the encoded meta inside it */

/* Decoded node record. meta points into the blob it was decoded from. */
struct tsc_record {
    uint64_t id;
    uint8_t pk[TSC_PK_BYTES];
    struct tsc_addr addr;
    uint64_t incarnation;
    uint8_t status; /* TSC_STATUS_ALIVE or TSC_STATUS_LEFT: what a node says of itself */
    const uint8_t *meta;
    size_t meta_len;
};

struct tsc_claim {
    uint64_t target;
    uint64_t incarnation;
    uint8_t status; /* TSC_STATUS_SUSPECT or TSC_STATUS_DEAD */
    uint64_t accuser;
};

/* Which kind a blob is (after checking its outer shape), or TSC_EMALFORMED. */
int tsc_blob_kind(const uint8_t *blob, size_t len, int *kind);

/* Encode and sign rec with sk, appending the blob to out. rec->id must equal
 * node_id(rec->pk) and sk must belong to rec->pk. Returns 0, TSC_EINVAL,
 * TSC_ETOOBIG (> TSC_RECORD_MAX_BYTES) or TSC_ENOMEM; out unchanged on error. */
int tsc_record_encode(const struct tsc_crypto *c, const struct tsc_record *rec,
                      const uint8_t sk[TSC_SK_BYTES], struct tsc_buf *out);

/* Decode a record blob. With verify, also check id == node_id(pk) (TSC_ESIG
 * otherwise) and the signature (TSC_ESIG). rec->meta points into blob.
 * Returns 0, TSC_EMALFORMED, TSC_ETOOBIG or TSC_ESIG. */
int tsc_record_decode(const struct tsc_crypto *c, const uint8_t *blob, size_t len, int verify,
                      struct tsc_record *rec);

/* Encode and sign a claim with the accuser's sk. */
int tsc_claim_encode(const struct tsc_crypto *c, const struct tsc_claim *cl,
                     const uint8_t sk[TSC_SK_BYTES], struct tsc_buf *out);

/* Decode a claim blob without checking the signature (the accuser's key may
 * be unknown yet). Returns 0 or TSC_EMALFORMED. */
int tsc_claim_decode(const uint8_t *blob, size_t len, struct tsc_claim *cl);

/* Check the signature of a claim (or any signed blob) against pk. 0 or TSC_ESIG
 * (or TSC_EMALFORMED). */
int tsc_blob_verify(const struct tsc_crypto *c, const uint8_t *blob, size_t len,
                    const uint8_t pk[TSC_PK_BYTES]);

/* Roles, labels and the readiness map of a node, inside its record.
 * Encoded as a msgpack map {"roles": [str], "labels": {str: str},
 * "ready": {str: str}}; strings are 1..63 printable ASCII bytes without
 * spaces, '=' not allowed in keys. Keys are unique; order is kept. */
#define TSC_META_MAX_ROLES  8
#define TSC_META_MAX_LABELS 12
#define TSC_META_MAX_READY  12
#define TSC_META_STR        64

struct tsc_meta_kv {
    char key[TSC_META_STR];
    char val[TSC_META_STR];
};

struct tsc_meta {
    unsigned n_roles;
    char roles[TSC_META_MAX_ROLES][TSC_META_STR];
    unsigned n_labels;
    struct tsc_meta_kv labels[TSC_META_MAX_LABELS];
    unsigned n_ready;
    struct tsc_meta_kv ready[TSC_META_MAX_READY];
};

/* Validate one string for meta: 0 or TSC_EINVAL with a message. */
int tsc_meta_check_str(const char *s, int is_key, char *errmsg);

/* Encode (validating every string). 0, TSC_EINVAL (with errmsg), TSC_ETOOBIG, TSC_ENOMEM. */
int tsc_meta_encode(const struct tsc_meta *m, struct tsc_buf *out, char *errmsg);

/* Decode; rejects unknown keys' wrong types, too many entries, bad strings.
 * Unknown top-level keys are skipped (forward compatibility). */
int tsc_meta_decode(const uint8_t *p, size_t len, struct tsc_meta *m);

#endif
