/* tsc — the codec of merge errors (merge.h), as kept in the coordinator's
 * store and sent to tscctl: one msgpack array [kind, a_node, a_seq, b_node,
 * b_seq, run, skew_us (>= 0: SKEW is reported only when a's wall clock is
 * before b's)]. Decoding is total and rejects unknown kinds, so a
 * stored error always names what it is. */
#include <string.h>

#include "logsync/merge.h"
#include "wire/mp.h"

#define LOGERR_FIELDS 7

int tsc_logmerge_error_encode(const struct tsc_logmerge_error *e, struct tsc_buf *out)
{
    if (e->kind < TSC_LOGMERGE_GAP || e->kind > TSC_LOGMERGE_SKEW)
        return TSC_EINVAL;
    size_t old = out->len;
    struct tsc_mp_writer w;
    tsc_mp_writer_init(&w, out);
    msgpack_pack_array(&w.pk, LOGERR_FIELDS);
    msgpack_pack_uint8(&w.pk, (uint8_t)e->kind);
    msgpack_pack_uint64(&w.pk, e->a_node);
    msgpack_pack_uint64(&w.pk, e->a_seq);
    msgpack_pack_uint64(&w.pk, e->b_node);
    msgpack_pack_uint64(&w.pk, e->b_seq);
    msgpack_pack_uint64(&w.pk, e->run);
    msgpack_pack_uint64(&w.pk, e->skew_us > 0 ? (uint64_t)e->skew_us : 0);
    if (tsc_mp_writer_status(&w) != 0) {
        out->len = old;
        return TSC_ENOMEM;
    }
    return 0;
}

int tsc_logmerge_error_decode(const uint8_t *p, size_t len, struct tsc_logmerge_error *e)
{
    struct tsc_mp_reader rd;
    uint32_t n;
    uint64_t kind, skew;
    memset(e, 0, sizeof *e);
    tsc_mp_reader_init(&rd, p, len);
    if (tsc_mp_read_array(&rd, &n) != 0 || n != LOGERR_FIELDS ||
        tsc_mp_read_uint(&rd, &kind) != 0 || tsc_mp_read_uint(&rd, &e->a_node) != 0 ||
        tsc_mp_read_uint(&rd, &e->a_seq) != 0 || tsc_mp_read_uint(&rd, &e->b_node) != 0 ||
        tsc_mp_read_uint(&rd, &e->b_seq) != 0 || tsc_mp_read_uint(&rd, &e->run) != 0 ||
        tsc_mp_read_uint(&rd, &skew) != 0 || skew > INT64_MAX || tsc_mp_remaining(&rd) != 0 ||
        kind < TSC_LOGMERGE_GAP || kind > TSC_LOGMERGE_SKEW) {
        memset(e, 0, sizeof *e);
        return TSC_EMALFORMED;
    }
    e->kind = (int)kind;
    e->skew_us = (int64_t)skew;
    return 0;
}
