/* tsc — control codec internals shared by control.c and control_run.c. */
#ifndef TSC_WIRE_CONTROL_INT_H
#define TSC_WIRE_CONTROL_INT_H

#include <string.h>

#include "wire/control.h"
#include "wire/mp.h"

/* Shared by the codec files: string-keyed maps, all-or-nothing encodes. */
static inline int tsc__key_is(const char *s, uint32_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static inline void tsc__pack_key(msgpack_packer *pk, const char *key)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
}

static inline void tsc__pack_kv_uint(msgpack_packer *pk, const char *key, uint64_t v)
{
    tsc__pack_key(pk, key);
    msgpack_pack_uint64(pk, v);
}

/* Every successful response starts {"v": 1, "ok": true, "self": id, ...}
 * with `more` keys after these three. */
static inline void tsc__pack_head(msgpack_packer *pk, uint64_t self, uint32_t more)
{
    msgpack_pack_map(pk, 3 + more);
    tsc__pack_kv_uint(pk, "v", TSC_CONTROL_VERSION);
    tsc__pack_key(pk, "ok");
    msgpack_pack_true(pk);
    tsc__pack_kv_uint(pk, "self", self);
}

/* Finish an encode: on failure roll out back to where it started, so the
 * caller's buffer is never left with half a message. */
static inline int tsc__pack_finish(struct tsc_mp_writer *w, struct tsc_buf *out, size_t start)
{
    int rc = tsc_mp_writer_status(w);
    if (rc != 0)
        out->len = start;
    return rc;
}

/* enum tsc_control_op of a run or log op's name, or 0. */
int tsc__control_run_op(const char *s, uint32_t n);
/* Decode the value of a run key of a request ("run", "nonce", "suite",
 * "suite_name", "limit", "fwd"). 0 or TSC_EMALFORMED. */
int tsc__control_decode_req_key(struct tsc_mp_reader *r, const char *k, uint32_t klen,
                                struct tsc_control_req *req);
/* Is k a key of a run response ("run", "progress", "records", "history")? */
int tsc__control_is_run_key(const char *k, uint32_t klen);
/* Decode its value. 0, TSC_EMALFORMED or TSC_ENOMEM. */
int tsc__control_decode_run_key(struct tsc_mp_reader *r, const char *k, uint32_t klen,
                                struct tsc_control_resp *out);

/* control_log.c: the log ops. Is k a key of a log request ("text", "peer",
 * "from", "timeout_ms")? Decode its value: 0 or TSC_EMALFORMED. */
int tsc__control_is_log_req_key(const char *k, uint32_t klen);
int tsc__control_decode_log_req_key(struct tsc_mp_reader *r, const char *k, uint32_t klen,
                                    struct tsc_control_req *req);
/* Append those four keys of req (the caller counted them in the map). */
void tsc__control_pack_log_req(msgpack_packer *pk, const struct tsc_control_req *req);
/* Is k a key of a log response ("seq", "logs", "ranges", "msg")? Decode
 * its value: 0, TSC_EMALFORMED or TSC_ENOMEM (what was allocated stays in
 * out, for tsc__control_free_logs). */
int tsc__control_is_log_key(const char *k, uint32_t klen);
int tsc__control_decode_log_key(struct tsc_mp_reader *r, const char *k, uint32_t klen,
                                struct tsc_control_resp *out);
/* Release the arrays of the log responses. */
void tsc__control_free_logs(struct tsc_control_resp *r);

#endif
