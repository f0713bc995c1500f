/* tsc — the messages between the coordinator and the participants (see
 * runlog.h):
 *   START  [run, stage, term, index, timeout_us, script, case_name, role
 *          (, follow: only when not empty)]
 *   REPORT [signed(bin), sig(bin 64)] (wire/record.h's blob shape) with
 *          signed = [41, node, run, stage, term, status, exit_code, signal,
 *                    start_us, end_us, output(bin), message]
 *   CANCEL [run, term]
 * Decoding is zero-copy: strings and outputs point into the input and are
 * NOT NUL-terminated. */
#include <string.h>

#include "barrier/internal.h"
#include "barrier/runlog.h"
#include "common/buf.h"

#define START_FIELDS  8
#define REPORT_FIELDS 12
#define CANCEL_FIELDS 3

static int finish(struct tsc_mp_writer *w, struct tsc_buf *out, size_t start)
{
    int rc = tsc_mp_writer_status(w);
    if (rc != 0)
        out->len = start;
    return rc;
}

static int text_ok(const char *s, size_t len, size_t max)
{
    return len <= max && (len == 0 || s != NULL);
}

int tsc_stage_start_encode(const struct tsc_stage_start *m, struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    if (m->run == 0 || m->stage >= TSC_RUN_MAX_STAGES || m->index >= TSC_RUN_MAX_PARTICIPANTS ||
        !text_ok(m->script, m->script_len, UINT32_MAX) ||
        !text_ok(m->case_name, m->case_name_len, TSC_RUN_NAME - 1) ||
        !text_ok(m->role, m->role_len, TSC_RUN_NAME - 1) ||
        !text_ok(m->follow, m->follow_len, UINT32_MAX))
        return TSC_EINVAL;
    tsc_mp_writer_init(&w, out);
    msgpack_packer *pk = &w.pk;
    msgpack_pack_array(pk, START_FIELDS + (m->follow_len > 0));
    msgpack_pack_uint64(pk, m->run);
    msgpack_pack_uint32(pk, m->stage);
    msgpack_pack_uint64(pk, m->term);
    msgpack_pack_uint32(pk, m->index);
    msgpack_pack_uint64(pk, m->timeout_us);
    tsc__barrier_pack_str(pk, m->script, m->script_len);
    tsc__barrier_pack_str(pk, m->case_name, m->case_name_len);
    tsc__barrier_pack_str(pk, m->role, m->role_len);
    if (m->follow_len > 0)
        tsc__barrier_pack_str(pk, m->follow, m->follow_len);
    return finish(&w, out, start);
}

int tsc_stage_start_decode(const uint8_t *p, size_t len, struct tsc_stage_start *m)
{
    struct tsc_mp_reader r;
    uint32_t n;
    uint64_t stage, index;
    memset(m, 0, sizeof *m);
    if (p == NULL && len > 0)
        return TSC_EMALFORMED;
    tsc_mp_reader_init(&r, p, len);
    if (tsc_mp_read_array(&r, &n) != 0 || (n != START_FIELDS && n != START_FIELDS + 1) ||
        tsc_mp_read_uint(&r, &m->run) != 0 || m->run == 0 ||
        tsc__barrier_read_max(&r, TSC_RUN_MAX_STAGES - 1, &stage) != 0 ||
        tsc_mp_read_uint(&r, &m->term) != 0 ||
        tsc__barrier_read_max(&r, TSC_RUN_MAX_PARTICIPANTS - 1, &index) != 0 ||
        tsc_mp_read_uint(&r, &m->timeout_us) != 0 ||
        tsc__barrier_read_str(&r, UINT32_MAX, &m->script, &m->script_len) != 0 ||
        tsc__barrier_read_str(&r, TSC_RUN_NAME - 1, &m->case_name, &m->case_name_len) != 0 ||
        tsc__barrier_read_str(&r, TSC_RUN_NAME - 1, &m->role, &m->role_len) != 0 ||
        (n > START_FIELDS &&
         (tsc__barrier_read_str(&r, UINT32_MAX, &m->follow, &m->follow_len) != 0 ||
          m->follow_len == 0)) ||
        tsc_mp_remaining(&r) != 0) {
        memset(m, 0, sizeof *m);
        return TSC_EMALFORMED;
    }
    m->stage = (uint32_t)stage;
    m->index = (uint32_t)index;
    return 0;
}

/* ---- REPORT: a signed blob ----------------------------------------------- */

struct blob {
    const uint8_t *signed_p;
    uint32_t signed_len;
    const uint8_t *sig;
};

static int blob_split(const uint8_t *p, size_t len, struct blob *b)
{
    struct tsc_mp_reader r;
    uint32_t n, sig_len;
    if (p == NULL && len > 0)
        return TSC_EMALFORMED;
    tsc_mp_reader_init(&r, p, len);
    if (tsc_mp_read_array(&r, &n) != 0 || n != 2 ||
        tsc_mp_read_bin(&r, &b->signed_p, &b->signed_len) != 0 ||
        tsc_mp_read_bin(&r, &b->sig, &sig_len) != 0 || sig_len != TSC_SIG_BYTES ||
        tsc_mp_remaining(&r) != 0)
        return TSC_EMALFORMED;
    return 0;
}

int tsc_stage_report_encode(const struct tsc_crypto *c, const uint8_t sk[TSC_SK_BYTES],
                            const struct tsc_stage_report *m, struct tsc_buf *out)
{
    struct tsc_buf sp;
    struct tsc_mp_writer w;
    size_t start = out->len;
    uint8_t sig[TSC_SIG_BYTES];
    if (m->node == 0 || m->run == 0 || m->stage >= TSC_RUN_MAX_STAGES ||
        !tsc__barrier_result_ok(&m->result) ||
        m->node != tsc_crypto_node_id(c, sk + TSC_SEED_BYTES))
        return TSC_EINVAL;
    tsc_buf_init(&sp);
    tsc_mp_writer_init(&w, &sp);
    msgpack_packer *pk = &w.pk;
    msgpack_pack_array(pk, REPORT_FIELDS);
    msgpack_pack_uint8(pk, TSC__REPORT_KIND);
    msgpack_pack_uint64(pk, m->node);
    msgpack_pack_uint64(pk, m->run);
    msgpack_pack_uint32(pk, m->stage);
    msgpack_pack_uint64(pk, m->term);
    tsc__barrier_pack_result_fields(pk, &m->result);
    int rc = tsc_mp_writer_status(&w);
    if (rc != 0) {
        tsc_buf_free(&sp);
        return rc;
    }
    c->sign(sig, sp.data, sp.len, sk);
    tsc_mp_writer_init(&w, out);
    msgpack_pack_array(&w.pk, 2);
    tsc__barrier_pack_bin(&w.pk, sp.data, sp.len);
    tsc__barrier_pack_bin(&w.pk, sig, sizeof sig);
    tsc_buf_free(&sp);
    return finish(&w, out, start);
}

int tsc_stage_report_decode(const uint8_t *p, size_t len, struct tsc_stage_report *m)
{
    struct blob b;
    struct tsc_mp_reader r;
    uint32_t n;
    uint64_t kind, stage;
    memset(m, 0, sizeof *m);
    if (blob_split(p, len, &b) != 0)
        return TSC_EMALFORMED;
    tsc_mp_reader_init(&r, b.signed_p, b.signed_len);
    if (tsc_mp_read_array(&r, &n) != 0 || n != REPORT_FIELDS || tsc_mp_read_uint(&r, &kind) != 0 ||
        kind != TSC__REPORT_KIND || tsc_mp_read_uint(&r, &m->node) != 0 || m->node == 0 ||
        tsc_mp_read_uint(&r, &m->run) != 0 || m->run == 0 ||
        tsc__barrier_read_max(&r, TSC_RUN_MAX_STAGES - 1, &stage) != 0 ||
        tsc_mp_read_uint(&r, &m->term) != 0 ||
        tsc__barrier_read_result_fields(&r, &m->result) != 0 || tsc_mp_remaining(&r) != 0) {
        memset(m, 0, sizeof *m);
        return TSC_EMALFORMED;
    }
    m->stage = (uint32_t)stage;
    return 0;
}

/* Besides the signature, the report must name the key's own node: a
 * participant can sign only its own results, whichever key the driver
 * looked up. */
int tsc_stage_report_verify(const struct tsc_crypto *c, const uint8_t *p, size_t len,
                            const uint8_t pk[TSC_PK_BYTES])
{
    struct blob b;
    struct tsc_stage_report m;
    if (blob_split(p, len, &b) != 0 || tsc_stage_report_decode(p, len, &m) != 0)
        return TSC_EMALFORMED;
    if (c->verify(b.sig, b.signed_p, b.signed_len, pk) != 0)
        return TSC_ESIG;
    if (m.node != tsc_crypto_node_id(c, pk))
        return TSC_ESIG;
    return 0;
}

/* ---- CANCEL -------------------------------------------------------------- */

int tsc_stage_cancel_encode(const struct tsc_stage_cancel *m, struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    if (m->run == 0)
        return TSC_EINVAL;
    tsc_mp_writer_init(&w, out);
    msgpack_pack_array(&w.pk, CANCEL_FIELDS);
    msgpack_pack_uint64(&w.pk, m->run);
    msgpack_pack_uint64(&w.pk, m->term);
    msgpack_pack_uint32(&w.pk, m->stage);
    return finish(&w, out, start);
}

int tsc_stage_cancel_decode(const uint8_t *p, size_t len, struct tsc_stage_cancel *m)
{
    struct tsc_mp_reader r;
    uint32_t n;
    uint64_t stage = 0;
    memset(m, 0, sizeof *m);
    if (p == NULL && len > 0)
        return TSC_EMALFORMED;
    tsc_mp_reader_init(&r, p, len);
    if (tsc_mp_read_array(&r, &n) != 0 || n != CANCEL_FIELDS ||
        tsc_mp_read_uint(&r, &m->run) != 0 || m->run == 0 || tsc_mp_read_uint(&r, &m->term) != 0 ||
        tsc_mp_read_uint(&r, &stage) != 0 || stage >= TSC_RUN_MAX_STAGES ||
        tsc_mp_remaining(&r) != 0) {
        memset(m, 0, sizeof *m);
        return TSC_EMALFORMED;
    }
    m->stage = (uint32_t)stage;
    return 0;
}
