/* tsc — election and replication message bodies (see raft.h for the layout). */
#include "wire/raft.h"

#include "common/error.h"

#define VOTE_FIELDS        4
#define VOTE_RESP_FIELDS   3
#define APPEND_FIELDS      6
#define APPEND_RESP_FIELDS 4
#define ENTRY_FIELDS       3

/* Finish an encoding: roll back on failure so buf never holds half a body. */
static int done(struct tsc_mp_writer *w, size_t before)
{
    if (tsc_mp_writer_status(w) != 0) {
        w->buf->len = before;
        return TSC_ENOMEM;
    }
    return 0;
}

int tsc_raft_vote_encode(struct tsc_buf *buf, const struct tsc_raft_vote *m)
{
    struct tsc_mp_writer w;
    size_t before = buf->len;
    tsc_mp_writer_init(&w, buf);
    msgpack_pack_array(&w.pk, VOTE_FIELDS);
    msgpack_pack_uint64(&w.pk, m->term);
    msgpack_pack_uint64(&w.pk, m->last_index);
    msgpack_pack_uint64(&w.pk, m->last_term);
    msgpack_pack_unsigned_int(&w.pk, m->flags);
    return done(&w, before);
}

int tsc_raft_vote_resp_encode(struct tsc_buf *buf, const struct tsc_raft_vote_resp *m)
{
    struct tsc_mp_writer w;
    size_t before = buf->len;
    tsc_mp_writer_init(&w, buf);
    msgpack_pack_array(&w.pk, VOTE_RESP_FIELDS);
    msgpack_pack_uint64(&w.pk, m->term);
    if (m->granted)
        msgpack_pack_true(&w.pk);
    else
        msgpack_pack_false(&w.pk);
    if (m->prevote)
        msgpack_pack_true(&w.pk);
    else
        msgpack_pack_false(&w.pk);
    return done(&w, before);
}

int tsc_raft_append_resp_encode(struct tsc_buf *buf, const struct tsc_raft_append_resp *m)
{
    struct tsc_mp_writer w;
    size_t before = buf->len;
    tsc_mp_writer_init(&w, buf);
    msgpack_pack_array(&w.pk, APPEND_RESP_FIELDS);
    msgpack_pack_uint64(&w.pk, m->term);
    if (m->success)
        msgpack_pack_true(&w.pk);
    else
        msgpack_pack_false(&w.pk);
    msgpack_pack_uint64(&w.pk, m->index);
    msgpack_pack_uint64(&w.pk, m->stamp);
    return done(&w, before);
}

int tsc_raft_timeout_now_encode(struct tsc_buf *buf, uint64_t term)
{
    struct tsc_mp_writer w;
    size_t before = buf->len;
    tsc_mp_writer_init(&w, buf);
    msgpack_pack_array(&w.pk, 1);
    msgpack_pack_uint64(&w.pk, term);
    return done(&w, before);
}

/* The entry count is unknown until the caller stops adding, so the header
 * ends with an array32 whose count is patched by finish; array32 always, so
 * the patch never changes the size. */
int tsc_raft_append_begin(struct tsc_raft_append_writer *w, struct tsc_buf *buf,
                          const struct tsc_raft_append *m)
{
    struct tsc_mp_writer mw;
    static const uint8_t count[5] = {0xdd, 0, 0, 0, 0};
    w->buf = buf;
    w->start = buf->len;
    w->n_entries = 0;
    tsc_mp_writer_init(&mw, buf);
    msgpack_pack_array(&mw.pk, APPEND_FIELDS);
    msgpack_pack_uint64(&mw.pk, m->term);
    msgpack_pack_uint64(&mw.pk, m->prev_index);
    msgpack_pack_uint64(&mw.pk, m->prev_term);
    msgpack_pack_uint64(&mw.pk, m->commit);
    msgpack_pack_uint64(&mw.pk, m->stamp);
    w->count_at = buf->len + 1;
    if (tsc_mp_writer_status(&mw) != 0 || tsc_buf_append(buf, count, sizeof count) != 0) {
        buf->len = w->start;
        return TSC_ENOMEM;
    }
    return 0;
}

/* Upper bound of an encoded entry: fixarray + uint64 + uint8 + bin32 header. */
static size_t entry_size(size_t len)
{
    return 1 + 9 + 2 + 5 + len;
}

int tsc_raft_append_add(struct tsc_raft_append_writer *w, uint64_t term, uint8_t type,
                        const uint8_t *data, size_t len, size_t limit)
{
    struct tsc_buf *buf = w->buf;
    if (len > 0xffffffffu || w->n_entries == UINT32_MAX)
        return TSC_EFULL;
    size_t body = buf->len - w->start;
    if (body > limit || entry_size(len) > limit - body)
        return TSC_EFULL;
    struct tsc_mp_writer mw;
    size_t before = buf->len;
    tsc_mp_writer_init(&mw, buf);
    msgpack_pack_array(&mw.pk, ENTRY_FIELDS);
    msgpack_pack_uint64(&mw.pk, term);
    msgpack_pack_uint8(&mw.pk, type);
    msgpack_pack_bin(&mw.pk, len);
    if (len > 0)
        msgpack_pack_bin_body(&mw.pk, data, len);
    int rc = done(&mw, before);
    if (rc == 0)
        w->n_entries++;
    return rc;
}

void tsc_raft_append_finish(struct tsc_raft_append_writer *w)
{
    uint8_t *p = w->buf->data + w->count_at;
    p[0] = (uint8_t)(w->n_entries >> 24);
    p[1] = (uint8_t)(w->n_entries >> 16);
    p[2] = (uint8_t)(w->n_entries >> 8);
    p[3] = (uint8_t)w->n_entries;
}

/* ---- decoders ------------------------------------------------------------ */

int tsc_raft_vote_decode(const uint8_t *body, size_t len, struct tsc_raft_vote *m)
{
    struct tsc_mp_reader r;
    uint32_t n;
    uint64_t flags;
    tsc_mp_reader_init(&r, body, len);
    if (tsc_mp_read_array(&r, &n) != 0 || n != VOTE_FIELDS || tsc_mp_read_uint(&r, &m->term) != 0 ||
        tsc_mp_read_uint(&r, &m->last_index) != 0 || tsc_mp_read_uint(&r, &m->last_term) != 0 ||
        tsc_mp_read_uint(&r, &flags) != 0 ||
        (flags & ~(uint64_t)(TSC_RAFT_VOTE_PRE | TSC_RAFT_VOTE_TRANSFER)) != 0 ||
        tsc_mp_remaining(&r) != 0 || m->term > TSC_RAFT_MAX_TERM ||
        m->last_term > TSC_RAFT_MAX_TERM)
        return TSC_EMALFORMED;
    m->flags = (unsigned)flags;
    return 0;
}

int tsc_raft_vote_resp_decode(const uint8_t *body, size_t len, struct tsc_raft_vote_resp *m)
{
    struct tsc_mp_reader r;
    uint32_t n;
    tsc_mp_reader_init(&r, body, len);
    if (tsc_mp_read_array(&r, &n) != 0 || n != VOTE_RESP_FIELDS ||
        tsc_mp_read_uint(&r, &m->term) != 0 || tsc_mp_read_bool(&r, &m->granted) != 0 ||
        tsc_mp_read_bool(&r, &m->prevote) != 0 || tsc_mp_remaining(&r) != 0 ||
        m->term > TSC_RAFT_MAX_TERM)
        return TSC_EMALFORMED;
    return 0;
}

int tsc_raft_append_resp_decode(const uint8_t *body, size_t len, struct tsc_raft_append_resp *m)
{
    struct tsc_mp_reader r;
    uint32_t n;
    tsc_mp_reader_init(&r, body, len);
    if (tsc_mp_read_array(&r, &n) != 0 || n != APPEND_RESP_FIELDS ||
        tsc_mp_read_uint(&r, &m->term) != 0 || tsc_mp_read_bool(&r, &m->success) != 0 ||
        tsc_mp_read_uint(&r, &m->index) != 0 || tsc_mp_read_uint(&r, &m->stamp) != 0 ||
        tsc_mp_remaining(&r) != 0 || m->term > TSC_RAFT_MAX_TERM)
        return TSC_EMALFORMED;
    return 0;
}

int tsc_raft_timeout_now_decode(const uint8_t *body, size_t len, uint64_t *term)
{
    struct tsc_mp_reader r;
    uint32_t n;
    tsc_mp_reader_init(&r, body, len);
    if (tsc_mp_read_array(&r, &n) != 0 || n != 1 || tsc_mp_read_uint(&r, term) != 0 ||
        tsc_mp_remaining(&r) != 0 || *term > TSC_RAFT_MAX_TERM)
        return TSC_EMALFORMED;
    return 0;
}

static int read_entry(struct tsc_mp_reader *r, struct tsc_raft_entry_view *e)
{
    uint32_t n;
    uint64_t type;
    if (tsc_mp_read_array(r, &n) != 0 || n != ENTRY_FIELDS || tsc_mp_read_uint(r, &e->term) != 0 ||
        tsc_mp_read_uint(r, &type) != 0 || type < TSC_RAFT_ENTRY_DATA ||
        type > TSC_RAFT_ENTRY_CONFIG || tsc_mp_read_bin(r, &e->data, &e->len) != 0)
        return TSC_EMALFORMED;
    e->type = (uint8_t)type;
    return 0;
}

/* Two passes over the entries: this one checks them all (and that nothing
 * follows), so the engine never applies the first half of a broken batch. */
int tsc_raft_append_decode(const uint8_t *body, size_t len, struct tsc_raft_append *m)
{
    struct tsc_mp_reader r;
    uint32_t n;
    tsc_mp_reader_init(&r, body, len);
    if (tsc_mp_read_array(&r, &n) != 0 || n != APPEND_FIELDS ||
        tsc_mp_read_uint(&r, &m->term) != 0 || tsc_mp_read_uint(&r, &m->prev_index) != 0 ||
        tsc_mp_read_uint(&r, &m->prev_term) != 0 || tsc_mp_read_uint(&r, &m->commit) != 0 ||
        tsc_mp_read_uint(&r, &m->stamp) != 0 || tsc_mp_read_array(&r, &m->n_entries) != 0 ||
        m->term > TSC_RAFT_MAX_TERM || m->prev_term > TSC_RAFT_MAX_TERM)
        return TSC_EMALFORMED;
    m->entries = r;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        struct tsc_raft_entry_view e;
        if (read_entry(&r, &e) != 0)
            return TSC_EMALFORMED;
        /* Entry terms never exceed the leader's term (Raft §5.3). */
        if (e.term == 0 || e.term > m->term)
            return TSC_EMALFORMED;
    }
    if (tsc_mp_remaining(&r) != 0)
        return TSC_EMALFORMED;
    return 0;
}

int tsc_raft_append_next(struct tsc_raft_append *m, struct tsc_raft_entry_view *e)
{
    return read_entry(&m->entries, e);
}

int tsc_raft_config_encode(struct tsc_buf *buf, const uint64_t *ids, size_t n)
{
    struct tsc_mp_writer w;
    size_t before = buf->len;
    if (n > TSC_RAFT_MAX_VOTERS)
        return TSC_EINVAL;
    tsc_mp_writer_init(&w, buf);
    msgpack_pack_array(&w.pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_uint64(&w.pk, ids[i]);
    return done(&w, before);
}

int tsc_raft_config_decode(const uint8_t *data, size_t len, uint64_t *ids, size_t *n)
{
    struct tsc_mp_reader r;
    uint32_t count;
    tsc_mp_reader_init(&r, data, len);
    if (tsc_mp_read_array(&r, &count) != 0 || count > TSC_RAFT_MAX_VOTERS)
        return TSC_EMALFORMED;
    for (uint32_t i = 0; i < count; i++) {
        if (tsc_mp_read_uint(&r, &ids[i]) != 0 || ids[i] == 0)
            return TSC_EMALFORMED;
        for (uint32_t j = 0; j < i; j++)
            if (ids[j] == ids[i])
                return TSC_EMALFORMED;
    }
    if (tsc_mp_remaining(&r) != 0)
        return TSC_EMALFORMED;
    *n = count;
    return 0;
}
