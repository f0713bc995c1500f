/* tsc — control protocol, the log ops (see control.h for the shapes): log,
 * logs, send, recv, log_index. Same conventions as control.c: string-keyed
 * maps, unknown keys skipped, byte strings borrowed from the input.
 *
 * The arrays of a logs answer can be long (up to 65536 records per page),
 * so the decoder allocates them only after the reader has checked that the
 * declared count fits in the bytes that are left (an element is at least
 * one byte): a short message that claims a million records is malformed
 * before anything is allocated. Records and errors stay opaque here (bytes
 * of tsc_logrec / tsc_logmerge_error, logsync/merge.h): wire/ does not
 * depend on logsync/, and tscctl decodes them where it shows them. */
#include <string.h>

#include "common/alloc.h"
#include "wire/control_int.h"

/* ---- requests ----------------------------------------------------------- */

int tsc__control_is_log_req_key(const char *k, uint32_t klen)
{
    return tsc__key_is(k, klen, "text") || tsc__key_is(k, klen, "peer") ||
           tsc__key_is(k, klen, "from") || tsc__key_is(k, klen, "timeout_ms");
}

int tsc__control_decode_log_req_key(struct tsc_mp_reader *r, const char *k, uint32_t klen,
                                    struct tsc_control_req *req)
{
    uint64_t v;
    if (tsc__key_is(k, klen, "text")) {
        uint32_t n;
        if (tsc_mp_read_bin(r, &req->text, &n) != 0 || n > TSC_CONTROL_MAX_TEXT)
            return TSC_EMALFORMED;
        req->text_len = n;
        return 0;
    }
    if (tsc__key_is(k, klen, "peer")) {
        const char *s;
        uint32_t n;
        if (tsc_mp_read_str(r, &s, &n) != 0 || n >= sizeof req->peer || memchr(s, '\0', n) != NULL)
            return TSC_EMALFORMED;
        memcpy(req->peer, s, n);
        req->peer[n] = '\0';
        return 0;
    }
    if (tsc__key_is(k, klen, "from"))
        return tsc_mp_read_uint(r, &req->from);
    if (tsc_mp_read_uint(r, &v) != 0 || v > UINT32_MAX)
        return TSC_EMALFORMED;
    req->timeout_ms = (uint32_t)v;
    return 0;
}

void tsc__control_pack_log_req(msgpack_packer *pk, const struct tsc_control_req *req)
{
    tsc__pack_key(pk, "text");
    msgpack_pack_bin_with_body(pk, req->text, req->text_len);
    tsc__pack_key(pk, "peer");
    msgpack_pack_str_with_body(pk, req->peer, strnlen(req->peer, sizeof req->peer));
    tsc__pack_kv_uint(pk, "from", req->from);
    tsc__pack_kv_uint(pk, "timeout_ms", req->timeout_ms);
}

/* ---- responses ---------------------------------------------------------- */

int tsc_control_resp_encode_seq(uint64_t self, uint64_t run, uint64_t seq, struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    tsc_mp_writer_init(&w, out);
    tsc__pack_head(&w.pk, self, 2);
    tsc__pack_kv_uint(&w.pk, "run", run);
    tsc__pack_kv_uint(&w.pk, "seq", seq);
    return tsc__pack_finish(&w, out, start);
}

static void pack_bytes_array(msgpack_packer *pk, const struct tsc_control_bytes *b, size_t n)
{
    msgpack_pack_array(pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_bin_with_body(pk, b[i].p, b[i].len);
}

/* The "logs" map; with_records 0 writes an empty "records" (log_index). */
static void pack_logs(msgpack_packer *pk, const struct tsc_control_logs *l, int with_records)
{
    tsc__pack_key(pk, "logs");
    msgpack_pack_map(pk, 6);
    tsc__pack_kv_uint(pk, "run", l->run);
    tsc__pack_kv_uint(pk, "first", l->first);
    tsc__pack_key(pk, "records");
    pack_bytes_array(pk, l->records, with_records ? l->n_records : 0);
    tsc__pack_kv_uint(pk, "merged", l->merged);
    tsc__pack_key(pk, "errors");
    pack_bytes_array(pk, l->errors, l->n_errors);
    tsc__pack_key(pk, "finished");
    if (l->finished)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

static int logs_ok(const struct tsc_control_logs *l, int with_records)
{
    return (!with_records || l->n_records <= TSC_CONTROL_MAX_LOG_RECORDS) &&
           l->n_errors <= TSC_CONTROL_MAX_LOG_ERRORS &&
           (!with_records || l->n_records == 0 || l->records != NULL) &&
           (l->n_errors == 0 || l->errors != NULL);
}

int tsc_control_resp_encode_logs(uint64_t self, const struct tsc_control_logs *l,
                                 struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    if (!logs_ok(l, 1))
        return TSC_EINVAL;
    tsc_mp_writer_init(&w, out);
    tsc__pack_head(&w.pk, self, 1);
    pack_logs(&w.pk, l, 1);
    return tsc__pack_finish(&w, out, start);
}

int tsc_control_resp_encode_log_index(uint64_t self, const struct tsc_control_logs *l,
                                      const struct tsc_control_log_range *ranges, size_t n,
                                      struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    if (!logs_ok(l, 0) || n > TSC_CONTROL_MAX_LOG_RANGES || (n > 0 && ranges == NULL))
        return TSC_EINVAL;
    tsc_mp_writer_init(&w, out);
    tsc__pack_head(&w.pk, self, 2);
    pack_logs(&w.pk, l, 0);
    tsc__pack_key(&w.pk, "ranges");
    msgpack_pack_array(&w.pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        const struct tsc_control_log_range *g = &ranges[i];
        msgpack_pack_array(&w.pk, 6);
        msgpack_pack_uint32(&w.pk, g->stage);
        msgpack_pack_uint32(&w.pk, g->case_index);
        msgpack_pack_uint64(&w.pk, g->node);
        msgpack_pack_uint64(&w.pk, g->first);
        msgpack_pack_uint64(&w.pk, g->last);
        msgpack_pack_uint64(&w.pk, g->count);
    }
    return tsc__pack_finish(&w, out, start);
}

int tsc_control_resp_encode_msg(uint64_t self, uint64_t run, uint64_t from, uint64_t seq,
                                const uint8_t *text, size_t len, struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    if (len > TSC_CONTROL_MAX_TEXT || (len > 0 && text == NULL))
        return TSC_EINVAL;
    tsc_mp_writer_init(&w, out);
    tsc__pack_head(&w.pk, self, 1);
    tsc__pack_key(&w.pk, "msg");
    msgpack_pack_map(&w.pk, 4);
    tsc__pack_kv_uint(&w.pk, "run", run);
    tsc__pack_kv_uint(&w.pk, "from", from);
    tsc__pack_kv_uint(&w.pk, "seq", seq);
    tsc__pack_key(&w.pk, "text");
    msgpack_pack_bin_with_body(&w.pk, text, len);
    return tsc__pack_finish(&w, out, start);
}

/* ---- response decoding -------------------------------------------------- */

int tsc__control_is_log_key(const char *k, uint32_t klen)
{
    return tsc__key_is(k, klen, "seq") || tsc__key_is(k, klen, "logs") ||
           tsc__key_is(k, klen, "ranges") || tsc__key_is(k, klen, "msg");
}

/* An array of bin, at most max; the array is allocated, the bytes borrowed. */
static int decode_bytes_array(struct tsc_mp_reader *r, uint32_t max, struct tsc_control_bytes **out,
                              size_t *n_out)
{
    uint32_t n;
    if (tsc_mp_read_array(r, &n) != 0 || n > max)
        return TSC_EMALFORMED;
    struct tsc_control_bytes *b = tsc_calloc(n ? n : 1, sizeof *b);
    if (b == NULL)
        return TSC_ENOMEM;
    *out = b; /* owned by the response from here: freed on error too */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len;
        if (tsc_mp_read_bin(r, &b[i].p, &len) != 0)
            return TSC_EMALFORMED;
        b[i].len = len;
    }
    *n_out = n;
    return 0;
}

static int decode_logs(struct tsc_mp_reader *r, struct tsc_control_logs *l)
{
    uint32_t n;
    int seen_records = 0, seen_errors = 0;
    if (tsc_mp_read_map(r, &n) != 0)
        return TSC_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int rc;
        if (tsc_mp_read_str(r, &k, &klen) != 0)
            return TSC_EMALFORMED;
        if (tsc__key_is(k, klen, "run")) {
            rc = tsc_mp_read_uint(r, &l->run);
        } else if (tsc__key_is(k, klen, "first")) {
            rc = tsc_mp_read_uint(r, &l->first);
        } else if (tsc__key_is(k, klen, "merged")) {
            rc = tsc_mp_read_uint(r, &l->merged);
        } else if (tsc__key_is(k, klen, "finished")) {
            rc = tsc_mp_read_bool(r, &l->finished);
        } else if (tsc__key_is(k, klen, "records") && !seen_records) {
            seen_records = 1;
            rc = decode_bytes_array(r, TSC_CONTROL_MAX_LOG_RECORDS, &l->records, &l->n_records);
        } else if (tsc__key_is(k, klen, "errors") && !seen_errors) {
            seen_errors = 1;
            rc = decode_bytes_array(r, TSC_CONTROL_MAX_LOG_ERRORS, &l->errors, &l->n_errors);
        } else {
            rc = tsc_mp_skip(r);
        }
        if (rc != 0)
            return rc;
    }
    /* Readers index records from `first`: a page whose last index would
     * overflow does not describe merged records. */
    if (l->n_records > 0 && (l->first == 0 || l->first > UINT64_MAX - l->n_records))
        return TSC_EMALFORMED;
    return 0;
}

static int read_u32(struct tsc_mp_reader *r, uint32_t *out)
{
    uint64_t v;
    if (tsc_mp_read_uint(r, &v) != 0 || v > UINT32_MAX)
        return TSC_EMALFORMED;
    *out = (uint32_t)v;
    return 0;
}

static int decode_range(struct tsc_mp_reader *r, struct tsc_control_log_range *g)
{
    uint32_t n;
    if (tsc_mp_read_array(r, &n) != 0 || n != 6 || read_u32(r, &g->stage) != 0 ||
        read_u32(r, &g->case_index) != 0 || tsc_mp_read_uint(r, &g->node) != 0 ||
        tsc_mp_read_uint(r, &g->first) != 0 || tsc_mp_read_uint(r, &g->last) != 0 ||
        tsc_mp_read_uint(r, &g->count) != 0)
        return TSC_EMALFORMED;
    /* A range covers first..last and holds count records of that span. */
    if (g->first == 0 || g->last < g->first || g->count == 0 || g->count - 1 > g->last - g->first)
        return TSC_EMALFORMED;
    return 0;
}

static int decode_ranges(struct tsc_mp_reader *r, struct tsc_control_resp *out)
{
    uint32_t n;
    /* Each range is an array of six, at least seven bytes: n <= remaining. */
    if (tsc_mp_read_array(r, &n) != 0 || n > TSC_CONTROL_MAX_LOG_RANGES)
        return TSC_EMALFORMED;
    out->ranges = tsc_calloc(n ? n : 1, sizeof *out->ranges);
    if (out->ranges == NULL)
        return TSC_ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        if (decode_range(r, &out->ranges[i]) != 0)
            return TSC_EMALFORMED;
    out->n_ranges = n;
    out->has_ranges = 1;
    return 0;
}

static int decode_msg(struct tsc_mp_reader *r, struct tsc_control_resp *out)
{
    uint32_t n;
    int have_text = 0;
    if (tsc_mp_read_map(r, &n) != 0)
        return TSC_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int rc;
        if (tsc_mp_read_str(r, &k, &klen) != 0)
            return TSC_EMALFORMED;
        if (tsc__key_is(k, klen, "run")) {
            rc = tsc_mp_read_uint(r, &out->msg_run);
        } else if (tsc__key_is(k, klen, "from")) {
            rc = tsc_mp_read_uint(r, &out->msg_from);
        } else if (tsc__key_is(k, klen, "seq")) {
            rc = tsc_mp_read_uint(r, &out->msg_seq);
        } else if (tsc__key_is(k, klen, "text")) {
            uint32_t len;
            rc = tsc_mp_read_bin(r, &out->msg_text, &len);
            if (rc == 0 && len > TSC_CONTROL_MAX_TEXT)
                rc = TSC_EMALFORMED;
            out->msg_len = len;
            have_text = 1;
        } else {
            rc = tsc_mp_skip(r);
        }
        if (rc != 0)
            return TSC_EMALFORMED;
    }
    if (!have_text)
        return TSC_EMALFORMED;
    out->has_msg = 1;
    return 0;
}

int tsc__control_decode_log_key(struct tsc_mp_reader *r, const char *k, uint32_t klen,
                                struct tsc_control_resp *out)
{
    if (tsc__key_is(k, klen, "seq")) {
        out->has_seq = 1;
        return tsc_mp_read_uint(r, &out->seq);
    }
    if (tsc__key_is(k, klen, "logs") && !out->has_logs) {
        out->has_logs = 1;
        return decode_logs(r, &out->logs);
    }
    if (tsc__key_is(k, klen, "ranges") && !out->has_ranges)
        return decode_ranges(r, out);
    if (tsc__key_is(k, klen, "msg") && !out->has_msg)
        return decode_msg(r, out);
    return tsc_mp_skip(r);
}

void tsc__control_free_logs(struct tsc_control_resp *r)
{
    tsc_free(r->logs.records);
    tsc_free(r->logs.errors);
    tsc_free(r->ranges);
    memset(&r->logs, 0, sizeof r->logs);
    r->ranges = NULL;
    r->n_ranges = 0;
}
