/* tsc — the three messages of log shipping (ship.h): LOG_BATCH, LOG_ACK and
 * LOG_MSG, as msgpack arrays of a fixed number of fields.
 *
 * The decoders take bytes from the network, so they are total and bounded:
 * no trailing bytes, every count checked against the bytes that are left
 * before anything is allocated (tsc_mp_read_array), so memory is linear in
 * the input. A batch is checked as deeply as the sink relies on: every
 * record decodes (tsc_logrec_decode), belongs to the batch's run and node,
 * and the seqs run first, first + 1, ... so the merge never has to guess
 * what a batch covers. */
#include <string.h>

#include "common/alloc.h"
#include "logsync/ship.h"

#define BATCH_FIELDS 8
#define ACK_FIELDS   6
#define MSG_FIELDS   7

/* ---- LOG_BATCH ----------------------------------------------------------- */

void tsc_logbatch_init(struct tsc_logbatch *b)
{
    memset(b, 0, sizeof *b);
    tsc_vclock_init(&b->watermark);
}

void tsc_logbatch_free(struct tsc_logbatch *b)
{
    for (size_t i = 0; i < b->n; i++)
        tsc_logrec_free(&b->records[i]);
    tsc_free(b->records);
    tsc_vclock_free(&b->watermark);
    tsc_logbatch_init(b);
}

/* The records are given encoded because the driver holds them encoded in
 * its store: copying bytes is all a batch costs the agent. Their contents
 * are not checked here (the decoder at the sink does); b->records and b->n
 * are ignored. TSC_EINVAL (run, node or first 0, n > 0 without enc/len),
 * TSC_ETOOBIG (n), TSC_ENOMEM (out unchanged). */
int tsc_logbatch_encode(const struct tsc_logbatch *b, const uint8_t *const *enc, const size_t *len,
                        size_t n, struct tsc_buf *out)
{
    if (b->run == 0 || b->node == 0 || b->first == 0 || (n > 0 && (enc == NULL || len == NULL)))
        return TSC_EINVAL;
    if (n > TSC_LOGBATCH_MAX_RECORDS)
        return TSC_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        if (enc[i] == NULL || len[i] == 0 || len[i] > UINT32_MAX)
            return TSC_EINVAL;
    }
    size_t old = out->len;
    struct tsc_mp_writer w;
    tsc_mp_writer_init(&w, out);
    msgpack_pack_array(&w.pk, BATCH_FIELDS);
    msgpack_pack_uint64(&w.pk, b->run);
    msgpack_pack_uint64(&w.pk, b->node);
    msgpack_pack_uint64(&w.pk, b->epoch);
    msgpack_pack_uint64(&w.pk, b->first);
    msgpack_pack_uint64(&w.pk, b->promise);
    tsc_vclock_pack(&b->watermark, &w);
    if (b->done)
        msgpack_pack_true(&w.pk);
    else
        msgpack_pack_false(&w.pk);
    msgpack_pack_array(&w.pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_bin(&w.pk, (uint32_t)len[i]);
        msgpack_pack_bin_body(&w.pk, enc[i], len[i]);
    }
    if (tsc_mp_writer_status(&w) != 0) {
        out->len = old;
        return TSC_ENOMEM;
    }
    return 0;
}

/* The records, after the head has been read. */
static int batch_records(struct tsc_mp_reader *rd, struct tsc_logbatch *b)
{
    uint32_t n;
    if (tsc_mp_read_array(rd, &n) != 0)
        return TSC_EMALFORMED;
    if (n > TSC_LOGBATCH_MAX_RECORDS)
        return TSC_ETOOBIG;
    if (n > 0 && (b->first > UINT64_MAX - n))
        return TSC_EMALFORMED;
    if (n == 0)
        return 0;
    /* n <= the bytes left, so this is linear in the input. */
    b->records = tsc_calloc(n, sizeof *b->records);
    if (b->records == NULL)
        return TSC_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p;
        uint32_t len;
        struct tsc_logrec *r = &b->records[i];
        tsc_logrec_init(r);
        b->n = i + 1; /* so tsc_logbatch_free releases r's clock */
        if (tsc_mp_read_bin(rd, &p, &len) != 0)
            return TSC_EMALFORMED;
        int rc = tsc_logrec_decode(p, len, r);
        if (rc == TSC_ETOOBIG)
            rc = TSC_EMALFORMED; /* one bad record, not a big batch */
        if (rc != 0)
            return rc;
        if (r->run != b->run || r->node != b->node || r->seq != b->first + i)
            return TSC_EMALFORMED;
    }
    return 0;
}

/* b must have been initialised (or decoded into before): its previous
 * contents are released. On error b is left empty. */
int tsc_logbatch_decode(const uint8_t *p, size_t len, struct tsc_logbatch *b)
{
    struct tsc_mp_reader rd;
    uint32_t n;
    int rc;

    tsc_logbatch_free(b);
    tsc_mp_reader_init(&rd, p, len);
    if (tsc_mp_read_array(&rd, &n) != 0 || n != BATCH_FIELDS ||
        tsc_mp_read_uint(&rd, &b->run) != 0 || tsc_mp_read_uint(&rd, &b->node) != 0 ||
        tsc_mp_read_uint(&rd, &b->epoch) != 0 || tsc_mp_read_uint(&rd, &b->first) != 0 ||
        tsc_mp_read_uint(&rd, &b->promise) != 0 || b->run == 0 || b->node == 0 || b->first == 0) {
        rc = TSC_EMALFORMED;
        goto fail;
    }
    rc = tsc_vclock_read(&rd, &b->watermark);
    if (rc != 0)
        goto fail;
    if (tsc_mp_read_bool(&rd, &b->done) != 0) {
        rc = TSC_EMALFORMED;
        goto fail;
    }
    rc = batch_records(&rd, b);
    if (rc == 0 && tsc_mp_remaining(&rd) != 0)
        rc = TSC_EMALFORMED;
    if (rc == 0)
        return 0;
fail:
    tsc_logbatch_free(b);
    return rc;
}

/* ---- LOG_ACK ------------------------------------------------------------- */

int tsc_logack_encode(const struct tsc_logack *a, struct tsc_buf *out)
{
    if (a->run == 0 || a->node == 0)
        return TSC_EINVAL;
    size_t old = out->len;
    struct tsc_mp_writer w;
    tsc_mp_writer_init(&w, out);
    msgpack_pack_array(&w.pk, ACK_FIELDS);
    msgpack_pack_uint64(&w.pk, a->run);
    msgpack_pack_uint64(&w.pk, a->node);
    msgpack_pack_uint64(&w.pk, a->epoch);
    msgpack_pack_uint64(&w.pk, a->have);
    msgpack_pack_uint64(&w.pk, a->lamport);
    if (a->done)
        msgpack_pack_true(&w.pk);
    else
        msgpack_pack_false(&w.pk);
    if (tsc_mp_writer_status(&w) != 0) {
        out->len = old;
        return TSC_ENOMEM;
    }
    return 0;
}

/* Total: TSC_EMALFORMED for anything but exactly one acknowledgement; a is
 * zeroed on error. */
int tsc_logack_decode(const uint8_t *p, size_t len, struct tsc_logack *a)
{
    struct tsc_mp_reader rd;
    uint32_t n;
    memset(a, 0, sizeof *a);
    tsc_mp_reader_init(&rd, p, len);
    if (tsc_mp_read_array(&rd, &n) != 0 || n != ACK_FIELDS || tsc_mp_read_uint(&rd, &a->run) != 0 ||
        tsc_mp_read_uint(&rd, &a->node) != 0 || tsc_mp_read_uint(&rd, &a->epoch) != 0 ||
        tsc_mp_read_uint(&rd, &a->have) != 0 || tsc_mp_read_uint(&rd, &a->lamport) != 0 ||
        tsc_mp_read_bool(&rd, &a->done) != 0 || tsc_mp_remaining(&rd) != 0 || a->run == 0 ||
        a->node == 0) {
        memset(a, 0, sizeof *a);
        return TSC_EMALFORMED;
    }
    return 0;
}

/* ---- LOG_MSG ------------------------------------------------------------- */

void tsc_logmsg_init(struct tsc_logmsg *m)
{
    memset(m, 0, sizeof *m);
    tsc_vclock_init(&m->clock);
}

void tsc_logmsg_free(struct tsc_logmsg *m)
{
    tsc_vclock_free(&m->clock);
    tsc_logmsg_init(m);
}

/* The clock is the sender's SEND record's, so its own entry is that
 * record's seq (vclock.h); a message that breaks this would corrupt the
 * receiver's clock, so neither side accepts it. */
static int msg_valid(const struct tsc_logmsg *m)
{
    return m->run != 0 && m->from != 0 && m->to != 0 && m->seq != 0 && m->lamport != 0 &&
           tsc_vclock_get(&m->clock, m->from) == m->seq;
}

/* TSC_EINVAL (see msg_valid, or text NULL with len > 0), TSC_ETOOBIG (text
 * beyond TSC_LOGMSG_MAX_TEXT), TSC_ENOMEM (out unchanged). */
int tsc_logmsg_encode(const struct tsc_logmsg *m, struct tsc_buf *out)
{
    if (!msg_valid(m) || (m->len > 0 && m->text == NULL))
        return TSC_EINVAL;
    if (m->len > TSC_LOGMSG_MAX_TEXT)
        return TSC_ETOOBIG;
    size_t old = out->len;
    struct tsc_mp_writer w;
    tsc_mp_writer_init(&w, out);
    msgpack_pack_array(&w.pk, MSG_FIELDS);
    msgpack_pack_uint64(&w.pk, m->run);
    msgpack_pack_uint64(&w.pk, m->from);
    msgpack_pack_uint64(&w.pk, m->to);
    msgpack_pack_uint64(&w.pk, m->seq);
    msgpack_pack_uint64(&w.pk, m->lamport);
    tsc_vclock_pack(&m->clock, &w);
    msgpack_pack_bin(&w.pk, (uint32_t)m->len);
    if (m->len > 0)
        msgpack_pack_bin_body(&w.pk, m->text, m->len);
    if (tsc_mp_writer_status(&w) != 0) {
        out->len = old;
        return TSC_ENOMEM;
    }
    return 0;
}

/* m must have been initialised; its clock's memory is reused. On error m
 * holds an empty clock and no text. */
int tsc_logmsg_decode(const uint8_t *p, size_t len, struct tsc_logmsg *m)
{
    struct tsc_mp_reader rd;
    uint32_t n, text_len = 0;
    const uint8_t *text = NULL;
    int rc;

    m->text = NULL;
    m->len = 0;
    tsc_vclock_reset(&m->clock);
    tsc_mp_reader_init(&rd, p, len);
    if (tsc_mp_read_array(&rd, &n) != 0 || n != MSG_FIELDS || tsc_mp_read_uint(&rd, &m->run) != 0 ||
        tsc_mp_read_uint(&rd, &m->from) != 0 || tsc_mp_read_uint(&rd, &m->to) != 0 ||
        tsc_mp_read_uint(&rd, &m->seq) != 0 || tsc_mp_read_uint(&rd, &m->lamport) != 0)
        return TSC_EMALFORMED;
    rc = tsc_vclock_read(&rd, &m->clock);
    if (rc != 0)
        return rc;
    if (tsc_mp_read_bin(&rd, &text, &text_len) != 0 || tsc_mp_remaining(&rd) != 0 || !msg_valid(m))
        rc = TSC_EMALFORMED;
    else if (text_len > TSC_LOGMSG_MAX_TEXT)
        rc = TSC_ETOOBIG;
    if (rc != 0) {
        tsc_vclock_reset(&m->clock);
        return rc;
    }
    m->text = text;
    m->len = text_len;
    return 0;
}
