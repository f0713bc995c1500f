/* tsc — control protocol, the run ops (see control.h for the shapes):
 * run, run_status, cancel, history, results. Same conventions as control.c:
 * string-keyed maps, unknown keys skipped, byte strings borrowed from the
 * input, arrays bounded before anything is allocated. */
#include <string.h>

#include "common/alloc.h"
#include "wire/control_int.h"

static void pack_kv_str(msgpack_packer *pk, const char *key, const char *s, size_t max)
{
    tsc__pack_key(pk, key);
    msgpack_pack_str_with_body(pk, s, strnlen(s, max));
}

static void pack_kv_bin(msgpack_packer *pk, const char *key, const uint8_t *p, size_t n)
{
    tsc__pack_key(pk, key);
    msgpack_pack_bin_with_body(pk, p, n);
}

/* The run ops and the log ops (their names are all in tsc_control_op_name). */
int tsc__control_run_op(const char *s, uint32_t n)
{
    for (int op = TSC_CONTROL_OP_RUN; op <= TSC_CONTROL_OP_LOG_INDEX; op++)
        if (tsc__key_is(s, n, tsc_control_op_name(op)))
            return op;
    return 0;
}

/* Copy a msgpack string into a fixed buffer; longer than it is malformed. */
static int read_name(struct tsc_mp_reader *r, char *dst, size_t cap)
{
    const char *s;
    uint32_t n;
    if (tsc_mp_read_str(r, &s, &n) != 0 || n >= cap || memchr(s, '\0', n) != NULL)
        return TSC_EMALFORMED;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int tsc__control_decode_req_key(struct tsc_mp_reader *r, const char *k, uint32_t klen,
                                struct tsc_control_req *req)
{
    uint64_t v;
    if (tsc__key_is(k, klen, "run"))
        return tsc_mp_read_uint(r, &req->run);
    if (tsc__key_is(k, klen, "nonce"))
        return tsc_mp_read_uint(r, &req->nonce);
    if (tsc__key_is(k, klen, "suite")) {
        uint32_t n;
        int rc = tsc_mp_read_bin(r, &req->suite, &n);
        req->suite_len = n;
        return rc;
    }
    if (tsc__key_is(k, klen, "suite_name"))
        return read_name(r, req->suite_name, sizeof req->suite_name);
    if (tsc__key_is(k, klen, "limit")) {
        if (tsc_mp_read_uint(r, &v) != 0 || v > UINT32_MAX)
            return TSC_EMALFORMED;
        req->limit = (uint32_t)v;
        return 0;
    }
    return tsc_mp_read_bool(r, &req->forwarded);
}

/* ---- responses ---------------------------------------------------------- */

int tsc_control_resp_encode_run(uint64_t self, uint64_t run, struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    tsc_mp_writer_init(&w, out);
    tsc__pack_head(&w.pk, self, 1);
    tsc__pack_kv_uint(&w.pk, "run", run);
    return tsc__pack_finish(&w, out, start);
}

int tsc_control_resp_encode_progress(uint64_t self, const struct tsc_control_progress *p,
                                     struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    tsc_mp_writer_init(&w, out);
    tsc__pack_head(&w.pk, self, 1);
    tsc__pack_key(&w.pk, "progress");
    msgpack_pack_map(&w.pk, 9);
    tsc__pack_kv_uint(&w.pk, "run", p->run);
    tsc__pack_kv_uint(&w.pk, "state", p->state > 0 ? (uint64_t)p->state : 0);
    tsc__pack_kv_uint(&w.pk, "stage", p->stage);
    tsc__pack_kv_uint(&w.pk, "n_stages", p->n_stages);
    tsc__pack_kv_uint(&w.pk, "queued", p->queued);
    pack_kv_bin(&w.pk, "outcomes", p->outcomes, p->outcomes ? p->n_stages : 0);
    pack_kv_bin(&w.pk, "reported", p->reported, p->n_reported);
    pack_kv_bin(&w.pk, "submit", p->submit, p->submit_len);
    pack_kv_str(&w.pk, "diag", p->diagnosis, sizeof p->diagnosis);
    return tsc__pack_finish(&w, out, start);
}

int tsc_control_resp_encode_records(uint64_t self, uint64_t run,
                                    const struct tsc_control_bytes *recs, size_t n,
                                    struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    if (n > TSC_CONTROL_MAX_RECORDS)
        return TSC_EINVAL;
    tsc_mp_writer_init(&w, out);
    tsc__pack_head(&w.pk, self, 2);
    tsc__pack_kv_uint(&w.pk, "run", run);
    tsc__pack_key(&w.pk, "records");
    msgpack_pack_array(&w.pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_bin_with_body(&w.pk, recs[i].p, recs[i].len);
    return tsc__pack_finish(&w, out, start);
}

int tsc_control_resp_encode_history(uint64_t self, const struct tsc_control_run_summary *runs,
                                    size_t n, struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    if (n > TSC_CONTROL_MAX_HISTORY)
        return TSC_EINVAL;
    tsc_mp_writer_init(&w, out);
    tsc__pack_head(&w.pk, self, 1);
    tsc__pack_key(&w.pk, "history");
    msgpack_pack_array(&w.pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        const struct tsc_control_run_summary *s = &runs[i];
        msgpack_pack_map(&w.pk, 7);
        tsc__pack_kv_uint(&w.pk, "run", s->run);
        pack_kv_str(&w.pk, "suite", s->suite, sizeof s->suite);
        tsc__pack_kv_uint(&w.pk, "state", s->state > 0 ? (uint64_t)s->state : 0);
        tsc__pack_kv_uint(&w.pk, "submitted_us", s->submitted_us);
        tsc__pack_kv_uint(&w.pk, "ended_us", s->ended_us);
        tsc__pack_kv_uint(&w.pk, "n_cases", s->n_cases);
        tsc__pack_kv_uint(&w.pk, "n_failed", s->n_failed);
    }
    return tsc__pack_finish(&w, out, start);
}

int tsc__control_is_run_key(const char *k, uint32_t klen)
{
    return tsc__key_is(k, klen, "run") || tsc__key_is(k, klen, "progress") ||
           tsc__key_is(k, klen, "records") || tsc__key_is(k, klen, "history");
}

static int read_small(struct tsc_mp_reader *r, uint32_t *out, uint64_t max)
{
    uint64_t v;
    if (tsc_mp_read_uint(r, &v) != 0 || v > max)
        return TSC_EMALFORMED;
    *out = (uint32_t)v;
    return 0;
}

static int read_state(struct tsc_mp_reader *r, int *state)
{
    uint32_t v;
    if (read_small(r, &v, 255) != 0)
        return TSC_EMALFORMED;
    *state = (int)v;
    return 0;
}

static int decode_progress(struct tsc_mp_reader *r, struct tsc_control_progress *p)
{
    uint32_t n, blen;
    const uint8_t *outcomes = NULL;
    uint32_t n_outcomes = 0;
    if (tsc_mp_read_map(r, &n) != 0)
        return TSC_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int rc;
        if (tsc_mp_read_str(r, &k, &klen) != 0)
            return TSC_EMALFORMED;
        if (tsc__key_is(k, klen, "run")) {
            rc = tsc_mp_read_uint(r, &p->run);
        } else if (tsc__key_is(k, klen, "state")) {
            rc = read_state(r, &p->state);
        } else if (tsc__key_is(k, klen, "stage")) {
            rc = read_small(r, &p->stage, UINT32_MAX);
        } else if (tsc__key_is(k, klen, "n_stages")) {
            rc = read_small(r, &p->n_stages, UINT32_MAX);
        } else if (tsc__key_is(k, klen, "queued")) {
            rc = read_small(r, &p->queued, UINT32_MAX);
        } else if (tsc__key_is(k, klen, "outcomes")) {
            rc = tsc_mp_read_bin(r, &outcomes, &n_outcomes);
        } else if (tsc__key_is(k, klen, "reported")) {
            rc = tsc_mp_read_bin(r, &p->reported, &blen);
            p->n_reported = blen;
        } else if (tsc__key_is(k, klen, "submit")) {
            rc = tsc_mp_read_bin(r, &p->submit, &blen);
            p->submit_len = blen;
        } else if (tsc__key_is(k, klen, "diag")) {
            rc = read_name(r, p->diagnosis, sizeof p->diagnosis);
        } else {
            rc = tsc_mp_skip(r);
        }
        if (rc != 0)
            return TSC_EMALFORMED;
    }
    /* Readers index outcomes by stage: it must cover every stage or be absent. */
    if (outcomes != NULL && n_outcomes != p->n_stages && n_outcomes != 0)
        return TSC_EMALFORMED;
    p->outcomes = n_outcomes ? outcomes : NULL;
    return 0;
}

static int decode_records(struct tsc_mp_reader *r, struct tsc_control_resp *out)
{
    uint32_t n;
    if (tsc_mp_read_array(r, &n) != 0 || n > TSC_CONTROL_MAX_RECORDS)
        return TSC_EMALFORMED;
    out->records = tsc_calloc(n ? n : 1, sizeof *out->records);
    if (out->records == NULL)
        return TSC_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len;
        if (tsc_mp_read_bin(r, &out->records[i].p, &len) != 0)
            return TSC_EMALFORMED;
        out->records[i].len = len;
    }
    out->n_records = n;
    out->has_records = 1;
    return 0;
}

static int decode_summary(struct tsc_mp_reader *r, struct tsc_control_run_summary *s)
{
    uint32_t n;
    if (tsc_mp_read_map(r, &n) != 0)
        return TSC_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int rc;
        if (tsc_mp_read_str(r, &k, &klen) != 0)
            return TSC_EMALFORMED;
        if (tsc__key_is(k, klen, "run"))
            rc = tsc_mp_read_uint(r, &s->run);
        else if (tsc__key_is(k, klen, "suite"))
            rc = read_name(r, s->suite, sizeof s->suite);
        else if (tsc__key_is(k, klen, "state"))
            rc = read_state(r, &s->state);
        else if (tsc__key_is(k, klen, "submitted_us"))
            rc = tsc_mp_read_uint(r, &s->submitted_us);
        else if (tsc__key_is(k, klen, "ended_us"))
            rc = tsc_mp_read_uint(r, &s->ended_us);
        else if (tsc__key_is(k, klen, "n_cases"))
            rc = read_small(r, &s->n_cases, UINT32_MAX);
        else if (tsc__key_is(k, klen, "n_failed"))
            rc = read_small(r, &s->n_failed, UINT32_MAX);
        else
            rc = tsc_mp_skip(r);
        if (rc != 0)
            return TSC_EMALFORMED;
    }
    return 0;
}

static int decode_history(struct tsc_mp_reader *r, struct tsc_control_resp *out)
{
    uint32_t n;
    /* Each summary is a map of at least one byte: n <= remaining holds. */
    if (tsc_mp_read_array(r, &n) != 0 || n > TSC_CONTROL_MAX_HISTORY)
        return TSC_EMALFORMED;
    out->history = tsc_calloc(n ? n : 1, sizeof *out->history);
    if (out->history == NULL)
        return TSC_ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        if (decode_summary(r, &out->history[i]) != 0)
            return TSC_EMALFORMED;
    out->n_history = n;
    out->has_history = 1;
    return 0;
}

int tsc__control_decode_run_key(struct tsc_mp_reader *r, const char *k, uint32_t klen,
                                struct tsc_control_resp *out)
{
    if (tsc__key_is(k, klen, "run")) {
        out->has_run = 1;
        return tsc_mp_read_uint(r, &out->run);
    }
    if (tsc__key_is(k, klen, "progress") && !out->has_progress) {
        out->has_progress = 1;
        return decode_progress(r, &out->progress);
    }
    if (tsc__key_is(k, klen, "records") && !out->has_records)
        return decode_records(r, out);
    if (tsc__key_is(k, klen, "history") && !out->has_history)
        return decode_history(r, out);
    return tsc_mp_skip(r);
}
