/* tsc — the log record codec and the names of kinds and merge errors.
 *
 * A record on the wire is one msgpack array of exactly ten fields (see
 * merge.h); the decoder accepts nothing else and no trailing bytes, and
 * checks the invariants the merge relies on (node, seq and lamport >= 1, the clock's
 * own entry equal to seq, a known kind, text within TSC_LOGREC_MAX_TEXT), so
 * a record that decodes is one the engine will take. */
#include <string.h>

#include "common/alloc.h"
#include "logsync/merge.h"

#define LOGREC_FIELDS 10

const char *tsc_logrec_kind_name(int kind)
{
    switch (kind) {
    case TSC_LOGREC_STDOUT:
        return "stdout";
    case TSC_LOGREC_STDERR:
        return "stderr";
    case TSC_LOGREC_EVENT:
        return "event";
    case TSC_LOGREC_FILE:
        return "file";
    case TSC_LOGREC_USER:
        return "user";
    case TSC_LOGREC_SEND:
        return "send";
    case TSC_LOGREC_RECV:
        return "recv";
    default:
        return "?";
    }
}

const char *tsc_logmerge_error_name(int kind)
{
    switch (kind) {
    case TSC_LOGMERGE_GAP:
        return "gap";
    case TSC_LOGMERGE_DUPLICATE:
        return "duplicate";
    case TSC_LOGMERGE_MISSING_PAST:
        return "missing-past";
    case TSC_LOGMERGE_LATE:
        return "late";
    case TSC_LOGMERGE_SKEW:
        return "skew";
    default:
        return "?";
    }
}

static int kind_valid(uint64_t kind)
{
    return kind >= TSC_LOGREC_STDOUT && kind <= TSC_LOGREC_RECV;
}

void tsc_logrec_init(struct tsc_logrec *r)
{
    memset(r, 0, sizeof *r);
    tsc_vclock_init(&r->clock);
    r->case_index = TSC_LOGREC_NO_CASE;
}

void tsc_logrec_free(struct tsc_logrec *r)
{
    tsc_vclock_free(&r->clock);
    tsc_logrec_init(r);
}

/* Encode only what the decoder would accept, so a bad record is caught at
 * its origin rather than dropped at the coordinator. TSC_EINVAL for a broken
 * invariant, TSC_ETOOBIG for an oversized text, TSC_ENOMEM (out unchanged). */
int tsc_logrec_encode(const struct tsc_logrec *r, struct tsc_buf *out)
{
    if (r->node == 0 || r->seq == 0 || r->lamport == 0 ||
        tsc_vclock_get(&r->clock, r->node) != r->seq || !kind_valid(r->kind) ||
        (r->len > 0 && r->text == NULL))
        return TSC_EINVAL;
    if (r->len > TSC_LOGREC_MAX_TEXT)
        return TSC_ETOOBIG;
    size_t old = out->len;
    struct tsc_mp_writer w;
    tsc_mp_writer_init(&w, out);
    msgpack_pack_array(&w.pk, LOGREC_FIELDS);
    msgpack_pack_uint64(&w.pk, r->node);
    msgpack_pack_uint64(&w.pk, r->seq);
    tsc_vclock_pack(&r->clock, &w);
    msgpack_pack_uint64(&w.pk, r->lamport);
    msgpack_pack_uint64(&w.pk, r->wall_us);
    msgpack_pack_uint64(&w.pk, r->run);
    msgpack_pack_uint32(&w.pk, r->stage);
    msgpack_pack_uint32(&w.pk, r->case_index);
    msgpack_pack_uint8(&w.pk, r->kind);
    msgpack_pack_bin(&w.pk, r->len);
    if (r->len > 0)
        msgpack_pack_bin_body(&w.pk, r->text, r->len);
    if (tsc_mp_writer_status(&w) != 0) {
        out->len = old;
        return TSC_ENOMEM;
    }
    return 0;
}

/* r must have been initialised (tsc_logrec_init) or decoded into before:
 * its clock's memory is reused. On error r holds an empty clock and no text
 * (its memory is still released by tsc_logrec_free). */
int tsc_logrec_decode(const uint8_t *p, size_t len, struct tsc_logrec *r)
{
    struct tsc_mp_reader rd;
    uint32_t n, text_len = 0;
    uint64_t stage = 0, case_index = 0, kind = 0;
    const uint8_t *text = NULL;
    int rc = 0;

    r->text = NULL;
    r->len = 0;
    tsc_vclock_reset(&r->clock);
    tsc_mp_reader_init(&rd, p, len);
    if (tsc_mp_read_array(&rd, &n) != 0 || n != LOGREC_FIELDS ||
        tsc_mp_read_uint(&rd, &r->node) != 0 || tsc_mp_read_uint(&rd, &r->seq) != 0)
        return TSC_EMALFORMED;
    rc = tsc_vclock_read(&rd, &r->clock);
    if (rc != 0)
        return rc;
    if (tsc_mp_read_uint(&rd, &r->lamport) != 0 || tsc_mp_read_uint(&rd, &r->wall_us) != 0 ||
        tsc_mp_read_uint(&rd, &r->run) != 0 || tsc_mp_read_uint(&rd, &stage) != 0 ||
        tsc_mp_read_uint(&rd, &case_index) != 0 || tsc_mp_read_uint(&rd, &kind) != 0 ||
        tsc_mp_read_bin(&rd, &text, &text_len) != 0 || tsc_mp_remaining(&rd) != 0 ||
        stage > UINT32_MAX || case_index > UINT32_MAX || !kind_valid(kind) || r->node == 0 ||
        r->seq == 0 || r->lamport == 0 || tsc_vclock_get(&r->clock, r->node) != r->seq)
        rc = TSC_EMALFORMED;
    else if (text_len > TSC_LOGREC_MAX_TEXT)
        rc = TSC_ETOOBIG;
    if (rc != 0) {
        tsc_vclock_reset(&r->clock);
        return rc;
    }
    r->stage = (uint32_t)stage;
    r->case_index = (uint32_t)case_index;
    r->kind = (uint8_t)kind;
    r->text = text;
    r->len = text_len;
    return 0;
}
