/* tsc — run-log records (SUBMIT, STAGE, CANCEL), their names, and the stage
 * numbering and skip rules (see runlog.h).
 *
 * Layouts (msgpack arrays):
 *   SUBMIT [1, nonce, submitted_us, suite_name, n_cases, timeouts(bin 8*n_stages, BE),
 *           [[id, ip, port, name, role]...], suite(bin)]
 *   STAGE  [2, run, stage, outcome, decided_us, diagnosis, [result...]]
 *   CANCEL [3, run, at_us, reason]
 *   result [status, exit_code, signal, start_us, end_us, output(bin), message]
 * Decoders check every limit of runlog.h before they allocate anything, so a
 * hostile record costs at most what its own length pays for. */
#include <stdlib.h>
#include <string.h>

#include "barrier/internal.h"
#include "barrier/runlog.h"
#include "common/alloc.h"
#include "wire/suite.h"

#define SUBMIT_FIELDS 8
#define STAGE_FIELDS  7
#define CANCEL_FIELDS 4
#define PART_FIELDS   5
#define MAX_CASES     ((TSC_RUN_MAX_STAGES - 2) / 3)

const char *tsc_result_status_name(int status)
{
    switch (status) {
    case TSC_RESULT_PENDING:
        return "pending";
    case TSC_RESULT_PASSED:
        return "passed";
    case TSC_RESULT_FAILED:
        return "failed";
    case TSC_RESULT_TIMEOUT:
        return "timeout";
    case TSC_RESULT_DEAD:
        return "dead";
    case TSC_RESULT_LOST:
        return "lost";
    case TSC_RESULT_CANCELLED:
        return "cancelled";
    case TSC_RESULT_ERROR:
        return "error";
    default:
        return "?";
    }
}

const char *tsc_run_state_name(int state)
{
    switch (state) {
    case TSC_RUN_QUEUED:
        return "queued";
    case TSC_RUN_RUNNING:
        return "running";
    case TSC_RUN_PASSED:
        return "passed";
    case TSC_RUN_FAILED:
        return "failed";
    case TSC_RUN_CANCELLED:
        return "cancelled";
    default:
        return "?";
    }
}

const char *tsc_stage_kind_name(int kind)
{
    switch (kind) {
    case TSC_STAGE_SUITE_INIT:
    case TSC_STAGE_CASE_INIT:
        return "init";
    case TSC_STAGE_CASE_RUN:
        return "run";
    case TSC_STAGE_CASE_FINALIZE:
    case TSC_STAGE_SUITE_FINALIZE:
        return "finalize";
    default:
        return "?";
    }
}

/* ---- shared msgpack pieces ----------------------------------------------- */

void tsc__barrier_pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
    msgpack_pack_bin(pk, n);
    if (n > 0)
        msgpack_pack_bin_body(pk, p, n);
}

void tsc__barrier_pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    if (n > 0)
        msgpack_pack_str_body(pk, s, n);
}

int tsc__barrier_read_cstr(struct tsc_mp_reader *r, char *out, size_t cap)
{
    const char *s;
    uint32_t n;
    if (tsc_mp_read_str(r, &s, &n) != 0 || n >= cap || memchr(s, 0, n) != NULL)
        return TSC_EMALFORMED;
    memcpy(out, s, n);
    out[n] = 0;
    return 0;
}

int tsc__barrier_read_str(struct tsc_mp_reader *r, size_t max, const char **s, size_t *len)
{
    uint32_t n;
    if (tsc_mp_read_str(r, s, &n) != 0 || n > max)
        return TSC_EMALFORMED;
    *len = n;
    return 0;
}

int tsc__barrier_read_max(struct tsc_mp_reader *r, uint64_t max, uint64_t *v)
{
    if (tsc_mp_read_uint(r, v) != 0 || *v > max)
        return TSC_EMALFORMED;
    return 0;
}

/* The shared reader only knows unsigned integers; exit codes and signals
 * come from msgpack_pack_int32, which uses the signed formats for negative
 * values. */
int tsc__barrier_read_i32(struct tsc_mp_reader *r, int32_t *v)
{
    uint64_t u;
    if (r->p >= r->end)
        return TSC_EMALFORMED;
    uint8_t t = *r->p;
    if (t >= 0xe0) {
        r->p++;
        *v = (int32_t)(int8_t)t;
        return 0;
    }
    unsigned n = t == 0xd0 ? 1 : t == 0xd1 ? 2 : t == 0xd2 ? 4 : t == 0xd3 ? 8 : 0;
    if (n == 0) {
        if (tsc__barrier_read_max(r, INT32_MAX, &u) != 0)
            return TSC_EMALFORMED;
        *v = (int32_t)u;
        return 0;
    }
    if (tsc_mp_remaining(r) < 1 + n)
        return TSC_EMALFORMED;
    u = 0;
    for (unsigned i = 0; i < n; i++)
        u = (u << 8) | r->p[1 + i];
    r->p += 1 + n;
    int64_t x = n == 1 ? (int8_t)u : n == 2 ? (int16_t)u : n == 4 ? (int32_t)u : (int64_t)u;
    if (x < INT32_MIN || x > INT32_MAX)
        return TSC_EMALFORMED;
    *v = (int32_t)x;
    return 0;
}

int tsc__barrier_result_ok(const struct tsc_stage_result *res)
{
    return res->status >= TSC_RESULT_PASSED && res->status <= TSC_RESULT_ERROR &&
           res->output_len <= TSC_RUN_MAX_OUTPUT && (res->output_len == 0 || res->output) &&
           res->message_len < TSC_RUN_MAX_DIAG && (res->message_len == 0 || res->message);
}

void tsc__barrier_pack_result_fields(msgpack_packer *pk, const struct tsc_stage_result *res)
{
    msgpack_pack_uint8(pk, res->status);
    msgpack_pack_int32(pk, res->exit_code);
    msgpack_pack_int32(pk, res->signal);
    msgpack_pack_uint64(pk, res->start_us);
    msgpack_pack_uint64(pk, res->end_us);
    tsc__barrier_pack_bin(pk, res->output, res->output_len);
    tsc__barrier_pack_str(pk, res->message, res->message_len);
}

int tsc__barrier_read_result_fields(struct tsc_mp_reader *r, struct tsc_stage_result *res)
{
    uint32_t out_len;
    uint64_t status;
    memset(res, 0, sizeof *res);
    if (tsc_mp_read_uint(r, &status) != 0 || status < TSC_RESULT_PASSED ||
        status > TSC_RESULT_ERROR || tsc__barrier_read_i32(r, &res->exit_code) != 0 ||
        tsc__barrier_read_i32(r, &res->signal) != 0 || tsc_mp_read_uint(r, &res->start_us) != 0 ||
        tsc_mp_read_uint(r, &res->end_us) != 0 || tsc_mp_read_bin(r, &res->output, &out_len) != 0 ||
        out_len > TSC_RUN_MAX_OUTPUT ||
        tsc__barrier_read_str(r, TSC_RUN_MAX_DIAG - 1, &res->message, &res->message_len) != 0)
        return TSC_EMALFORMED;
    res->status = (uint8_t)status;
    res->output_len = out_len;
    return 0;
}

/* ---- encoding ------------------------------------------------------------ */

static int finish(struct tsc_mp_writer *w, struct tsc_buf *out, size_t start)
{
    int rc = tsc_mp_writer_status(w);
    if (rc != 0)
        out->len = start;
    return rc;
}

static int name_ok(const char *s, int may_be_empty)
{
    size_t n = strnlen(s, TSC_RUN_NAME);
    return n < TSC_RUN_NAME && (n > 0 || may_be_empty);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Participant ids must be non-zero and distinct: a report names its sender
 * by id, and two slots with one id could never both be filled. 0, TSC_EINVAL
 * or TSC_ENOMEM. */
static int ids_ok(const struct tsc_run_participant *p, size_t n)
{
    uint64_t *ids = tsc_malloc(n * sizeof *ids);
    int rc = 0;
    if (ids == NULL)
        return TSC_ENOMEM;
    for (size_t i = 0; i < n; i++)
        ids[i] = p[i].id;
    qsort(ids, n, sizeof *ids, cmp_u64);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (ids[i] == 0 || (i > 0 && ids[i] == ids[i - 1]))
            rc = TSC_EINVAL;
    tsc_free(ids);
    return rc;
}

int tsc_runlog_encode_submit(const struct tsc_runlog_submit *s, const uint64_t *timeouts_us,
                             struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    if (s->n_cases > MAX_CASES || s->n_participants == 0 ||
        s->n_participants > TSC_RUN_MAX_PARTICIPANTS || s->participants == NULL ||
        timeouts_us == NULL || !name_ok(s->suite_name, 1) || s->suite_len > TSC_SUITE_MAX_ENCODED ||
        (s->suite_len > 0 && s->suite == NULL))
        return TSC_EINVAL;
    for (size_t i = 0; i < s->n_participants; i++)
        if (!name_ok(s->participants[i].name, 0) || !name_ok(s->participants[i].role, 1))
            return TSC_EINVAL;
    int rc = ids_ok(s->participants, s->n_participants);
    if (rc != 0)
        return rc;
    uint32_t n_stages = tsc_runlog_n_stages(s);
    tsc_mp_writer_init(&w, out);
    msgpack_packer *pk = &w.pk;
    msgpack_pack_array(pk, SUBMIT_FIELDS);
    msgpack_pack_uint8(pk, TSC_RUNLOG_SUBMIT);
    msgpack_pack_uint64(pk, s->nonce);
    msgpack_pack_uint64(pk, s->submitted_us);
    tsc__barrier_pack_str(pk, s->suite_name, strlen(s->suite_name));
    msgpack_pack_uint32(pk, s->n_cases);
    msgpack_pack_bin(pk, (size_t)n_stages * 8);
    for (uint32_t k = 0; k < n_stages; k++) {
        uint8_t be[8];
        for (int i = 0; i < 8; i++)
            be[i] = (uint8_t)(timeouts_us[k] >> (56 - 8 * i));
        msgpack_pack_bin_body(pk, be, 8);
    }
    msgpack_pack_array(pk, s->n_participants);
    for (size_t i = 0; i < s->n_participants; i++) {
        const struct tsc_run_participant *p = &s->participants[i];
        msgpack_pack_array(pk, PART_FIELDS);
        msgpack_pack_uint64(pk, p->id);
        msgpack_pack_uint32(pk, p->addr.ip);
        msgpack_pack_uint16(pk, p->addr.port);
        tsc__barrier_pack_str(pk, p->name, strlen(p->name));
        tsc__barrier_pack_str(pk, p->role, strlen(p->role));
    }
    tsc__barrier_pack_bin(pk, s->suite, s->suite_len);
    return finish(&w, out, start);
}

int tsc_runlog_encode_stage(const struct tsc_runlog_stage *s, struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    size_t dlen = strnlen(s->diagnosis, TSC_RUN_MAX_DIAG);
    if (s->run == 0 || s->stage >= TSC_RUN_MAX_STAGES ||
        (s->outcome != TSC_STAGE_PASSED && s->outcome != TSC_STAGE_FAILED) ||
        dlen >= TSC_RUN_MAX_DIAG || s->n_results > TSC_RUN_MAX_PARTICIPANTS ||
        (s->n_results > 0 && s->results == NULL))
        return TSC_EINVAL;
    for (size_t i = 0; i < s->n_results; i++)
        if (!tsc__barrier_result_ok(&s->results[i]))
            return TSC_EINVAL;
    tsc_mp_writer_init(&w, out);
    msgpack_packer *pk = &w.pk;
    msgpack_pack_array(pk, STAGE_FIELDS);
    msgpack_pack_uint8(pk, TSC_RUNLOG_STAGE);
    msgpack_pack_uint64(pk, s->run);
    msgpack_pack_uint32(pk, s->stage);
    msgpack_pack_uint8(pk, s->outcome);
    msgpack_pack_uint64(pk, s->decided_us);
    tsc__barrier_pack_str(pk, s->diagnosis, dlen);
    msgpack_pack_array(pk, s->n_results);
    for (size_t i = 0; i < s->n_results; i++) {
        msgpack_pack_array(pk, TSC__RESULT_FIELDS);
        tsc__barrier_pack_result_fields(pk, &s->results[i]);
    }
    return finish(&w, out, start);
}

int tsc_runlog_encode_cancel(const struct tsc_runlog_cancel *c, struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    size_t rlen = strnlen(c->reason, TSC_RUN_MAX_DIAG);
    if (c->run == 0 || rlen >= TSC_RUN_MAX_DIAG)
        return TSC_EINVAL;
    tsc_mp_writer_init(&w, out);
    msgpack_pack_array(&w.pk, CANCEL_FIELDS);
    msgpack_pack_uint8(&w.pk, TSC_RUNLOG_CANCEL);
    msgpack_pack_uint64(&w.pk, c->run);
    msgpack_pack_uint64(&w.pk, c->at_us);
    tsc__barrier_pack_str(&w.pk, c->reason, rlen);
    return finish(&w, out, start);
}

/* ---- decoding ------------------------------------------------------------ */

static int decode_submit(struct tsc_mp_reader *r, struct tsc_runlog_submit *s)
{
    uint64_t v;
    uint32_t n, tlen, slen;
    const uint8_t *t;
    if (tsc_mp_read_uint(r, &s->nonce) != 0 || tsc_mp_read_uint(r, &s->submitted_us) != 0 ||
        tsc__barrier_read_cstr(r, s->suite_name, TSC_RUN_NAME) != 0 ||
        tsc__barrier_read_max(r, MAX_CASES, &v) != 0)
        return TSC_EMALFORMED;
    s->n_cases = (uint32_t)v;
    if (tsc_mp_read_bin(r, &t, &tlen) != 0 || tlen != (size_t)tsc_runlog_n_stages(s) * 8 ||
        tsc_mp_read_array(r, &n) != 0 || n == 0 || n > TSC_RUN_MAX_PARTICIPANTS)
        return TSC_EMALFORMED;
    /* Read through a byte pointer only (tsc_runlog_timeout): the bytes are
     * not aligned for a uint64_t. */
    s->timeouts_us_be = (const uint64_t *)(const void *)t;
    s->participants = tsc_calloc(n, sizeof *s->participants);
    if (s->participants == NULL)
        return TSC_ENOMEM;
    s->n_participants = n;
    for (uint32_t i = 0; i < n; i++) {
        struct tsc_run_participant *p = &s->participants[i];
        uint32_t m;
        uint64_t ip, port;
        if (tsc_mp_read_array(r, &m) != 0 || m != PART_FIELDS || tsc_mp_read_uint(r, &p->id) != 0 ||
            tsc__barrier_read_max(r, UINT32_MAX, &ip) != 0 ||
            tsc__barrier_read_max(r, UINT16_MAX, &port) != 0 ||
            tsc__barrier_read_cstr(r, p->name, TSC_RUN_NAME) != 0 || p->name[0] == 0 ||
            tsc__barrier_read_cstr(r, p->role, TSC_RUN_NAME) != 0)
            return TSC_EMALFORMED;
        p->addr.ip = (uint32_t)ip;
        p->addr.port = (uint16_t)port;
    }
    if (tsc_mp_read_bin(r, &s->suite, &slen) != 0 || slen > TSC_SUITE_MAX_ENCODED)
        return TSC_EMALFORMED;
    s->suite_len = slen;
    int rc = ids_ok(s->participants, s->n_participants);
    return rc == TSC_EINVAL ? TSC_EMALFORMED : rc;
}

static int decode_stage(struct tsc_mp_reader *r, struct tsc_runlog_stage *s)
{
    uint64_t stage, outcome;
    uint32_t n;
    if (tsc_mp_read_uint(r, &s->run) != 0 || s->run == 0 ||
        tsc__barrier_read_max(r, TSC_RUN_MAX_STAGES - 1, &stage) != 0 ||
        tsc_mp_read_uint(r, &outcome) != 0 ||
        (outcome != TSC_STAGE_PASSED && outcome != TSC_STAGE_FAILED) ||
        tsc_mp_read_uint(r, &s->decided_us) != 0 ||
        tsc__barrier_read_cstr(r, s->diagnosis, TSC_RUN_MAX_DIAG) != 0 ||
        tsc_mp_read_array(r, &n) != 0 || n > TSC_RUN_MAX_PARTICIPANTS)
        return TSC_EMALFORMED;
    s->stage = (uint32_t)stage;
    s->outcome = (uint8_t)outcome;
    if (n > 0) {
        s->results = tsc_calloc(n, sizeof *s->results);
        if (s->results == NULL)
            return TSC_ENOMEM;
    }
    s->n_results = n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t m;
        if (tsc_mp_read_array(r, &m) != 0 || m != TSC__RESULT_FIELDS ||
            tsc__barrier_read_result_fields(r, &s->results[i]) != 0)
            return TSC_EMALFORMED;
    }
    return 0;
}

static int decode_cancel(struct tsc_mp_reader *r, struct tsc_runlog_cancel *c)
{
    if (tsc_mp_read_uint(r, &c->run) != 0 || c->run == 0 || tsc_mp_read_uint(r, &c->at_us) != 0 ||
        tsc__barrier_read_cstr(r, c->reason, TSC_RUN_MAX_DIAG) != 0)
        return TSC_EMALFORMED;
    return 0;
}

int tsc_runlog_decode(const uint8_t *p, size_t len, struct tsc_runlog *rec)
{
    struct tsc_mp_reader r;
    uint32_t n;
    uint64_t kind;
    int rc;
    memset(rec, 0, sizeof *rec);
    if (p == NULL && len > 0)
        return TSC_EMALFORMED;
    tsc_mp_reader_init(&r, p, len);
    if (tsc_mp_read_array(&r, &n) != 0 || n < 1 || tsc_mp_read_uint(&r, &kind) != 0)
        return TSC_EMALFORMED;
    switch (kind) {
    case TSC_RUNLOG_SUBMIT:
        rc = n == SUBMIT_FIELDS ? decode_submit(&r, &rec->submit) : TSC_EMALFORMED;
        break;
    case TSC_RUNLOG_STAGE:
        rc = n == STAGE_FIELDS ? decode_stage(&r, &rec->stage) : TSC_EMALFORMED;
        break;
    case TSC_RUNLOG_CANCEL:
        rc = n == CANCEL_FIELDS ? decode_cancel(&r, &rec->cancel) : TSC_EMALFORMED;
        break;
    default:
        rc = TSC_EMALFORMED;
        break;
    }
    if (rc == 0 && tsc_mp_remaining(&r) != 0)
        rc = TSC_EMALFORMED;
    if (rc != 0) {
        tsc_runlog_free(rec);
        memset(rec, 0, sizeof *rec);
        return rc;
    }
    rec->kind = (int)kind;
    return 0;
}

void tsc_runlog_free(struct tsc_runlog *rec)
{
    if (rec == NULL)
        return;
    tsc_free(rec->submit.participants);
    rec->submit.participants = NULL;
    rec->submit.n_participants = 0;
    tsc_free(rec->stage.results);
    rec->stage.results = NULL;
    rec->stage.n_results = 0;
}

uint32_t tsc_runlog_n_stages(const struct tsc_runlog_submit *s)
{
    return 3 * s->n_cases + 2;
}

uint64_t tsc_runlog_timeout(const struct tsc_runlog_submit *s, uint32_t stage)
{
    if (s->timeouts_us_be == NULL || stage >= tsc_runlog_n_stages(s))
        return 0;
    const uint8_t *p = (const uint8_t *)(const void *)s->timeouts_us_be + (size_t)stage * 8;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* ---- stage numbering and skip rules -------------------------------------- */

int tsc_stage_kind(uint32_t n_cases, uint32_t k, int32_t *case_index)
{
    int kind;
    int32_t ci = -1;
    if (n_cases > MAX_CASES || k > 3 * n_cases + 1)
        kind = -1;
    else if (k == 0)
        kind = TSC_STAGE_SUITE_INIT;
    else if (k == 3 * n_cases + 1)
        kind = TSC_STAGE_SUITE_FINALIZE;
    else {
        ci = (int32_t)((k - 1) / 3);
        kind = TSC_STAGE_CASE_INIT + (int)((k - 1) % 3);
    }
    if (case_index != NULL)
        *case_index = ci;
    return kind;
}

/* Whether stage k (done < k < suite finalize) runs, given the outcomes of
 * stages 0..done. Later stages' outcomes are unknown and never read. */
static int stage_runs(uint32_t n_cases, const uint8_t *outcome, uint32_t done, int cancelled,
                      uint32_t k)
{
    int32_t ci;
    int kind = tsc_stage_kind(n_cases, k, &ci);
    uint32_t init = 1 + 3 * (uint32_t)ci;
    int init_ran = init <= done && outcome[init] != 0;
    if (outcome[0] != TSC_STAGE_PASSED)
        return 0; /* suite init failed: no case stage runs */
    switch (kind) {
    case TSC_STAGE_CASE_INIT:
        return !cancelled;
    case TSC_STAGE_CASE_RUN:
        return !cancelled && init_ran && outcome[init] == TSC_STAGE_PASSED;
    default: /* a case finalize runs whenever its init ran, like `finally` */
        return init_ran;
    }
}

uint32_t tsc_stage_next(uint32_t n_cases, const uint8_t *outcome, uint32_t done, int cancelled)
{
    if (n_cases > MAX_CASES)
        return UINT32_MAX;
    uint32_t fin = 3 * n_cases + 1;
    if (done >= fin)
        return fin + 1;
    for (uint32_t k = done + 1; k < fin; k++)
        if (stage_runs(n_cases, outcome, done, cancelled, k))
            return k;
    return fin;
}
