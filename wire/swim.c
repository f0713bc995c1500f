/* tsc — SWIM datagram and push-pull bodies (see swim.h for the layout). */
#include "wire/swim.h"

#include "common/error.h"

#include <string.h>

#define DATAGRAM_FIELDS 5
#define PUSHPULL_FIELDS 2

static size_t bin_size(size_t n)
{
    return (n <= 0xff ? 2 : n <= 0xffff ? 3 : 5) + n;
}

/* The item count is unknown until the caller stops adding, so the header
 * ends with an array16 whose count is patched by tsc_swim_finish. array16 is
 * always used (never fixarray) so the patch never changes the size. */
int tsc_swim_begin(struct tsc_swim_writer *w, struct tsc_buf *buf, uint32_t probe, uint64_t target,
                   struct tsc_addr target_addr)
{
    struct tsc_mp_writer mw;
    static const uint8_t count[3] = {0xdc, 0, 0};
    w->buf = buf;
    w->start = buf->len;
    w->n_items = 0;
    tsc_mp_writer_init(&mw, buf);
    msgpack_pack_array(&mw.pk, DATAGRAM_FIELDS);
    msgpack_pack_uint32(&mw.pk, probe);
    msgpack_pack_uint64(&mw.pk, target);
    msgpack_pack_uint32(&mw.pk, target_addr.ip);
    msgpack_pack_uint16(&mw.pk, target_addr.port);
    w->count_at = buf->len + 1;
    if (tsc_mp_writer_status(&mw) != 0 || tsc_buf_append(buf, count, sizeof count) != 0) {
        buf->len = w->start;
        return TSC_ENOMEM;
    }
    return 0;
}

int tsc_swim_add(struct tsc_swim_writer *w, const uint8_t *blob, size_t len, size_t limit)
{
    struct tsc_buf *buf = w->buf;
    if (w->n_items >= TSC_SWIM_MAX_ITEMS || len > 0xffffffffu)
        return TSC_EFULL;
    size_t body = buf->len - w->start;
    size_t need = bin_size(len);
    if (body > limit || need > limit - body)
        return TSC_EFULL;
    struct tsc_mp_writer mw;
    size_t before = buf->len;
    tsc_mp_writer_init(&mw, buf);
    msgpack_pack_bin(&mw.pk, len);
    if (len > 0)
        msgpack_pack_bin_body(&mw.pk, blob, len);
    if (tsc_mp_writer_status(&mw) != 0) {
        buf->len = before;
        return TSC_ENOMEM;
    }
    w->n_items++;
    return 0;
}

void tsc_swim_finish(struct tsc_swim_writer *w)
{
    w->buf->data[w->count_at] = (uint8_t)(w->n_items >> 8);
    w->buf->data[w->count_at + 1] = (uint8_t)w->n_items;
}

/* Items point into body. Exactly five fields and nothing after them. */
int tsc_swim_decode(const uint8_t *body, size_t len, struct tsc_swim_msg *m)
{
    struct tsc_mp_reader r;
    uint32_t n, count;
    uint64_t probe, target, ip, port;
    tsc_mp_reader_init(&r, body, len);
    if (tsc_mp_read_array(&r, &n) != 0 || n != DATAGRAM_FIELDS ||
        tsc_mp_read_uint(&r, &probe) != 0 || probe > 0xffffffffu ||
        tsc_mp_read_uint(&r, &target) != 0 || tsc_mp_read_uint(&r, &ip) != 0 || ip > 0xffffffffu ||
        tsc_mp_read_uint(&r, &port) != 0 || port > 0xffff || tsc_mp_read_array(&r, &count) != 0 ||
        count > TSC_SWIM_MAX_ITEMS)
        return TSC_EMALFORMED;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *p;
        uint32_t plen;
        if (tsc_mp_read_bin(&r, &p, &plen) != 0)
            return TSC_EMALFORMED;
        m->items[i].blob = p;
        m->items[i].len = plen;
    }
    if (tsc_mp_remaining(&r) != 0)
        return TSC_EMALFORMED;
    m->probe = (uint32_t)probe;
    m->target = target;
    m->target_addr.ip = (uint32_t)ip;
    m->target_addr.port = (uint16_t)port;
    m->n_items = count;
    return 0;
}

/* ---- push-pull ----------------------------------------------------------- */

/* Appends [join, array32 header]; the caller then adds exactly count items.
 * buf unchanged on error. */
int tsc_pushpull_begin(struct tsc_buf *buf, int join, uint32_t count)
{
    uint8_t h[7];
    h[0] = 0x90 | PUSHPULL_FIELDS;
    h[1] = join ? 0xc3 : 0xc2;
    h[2] = 0xdd;
    h[3] = (uint8_t)(count >> 24);
    h[4] = (uint8_t)(count >> 16);
    h[5] = (uint8_t)(count >> 8);
    h[6] = (uint8_t)count;
    return tsc_buf_append(buf, h, sizeof h);
}

int tsc_pushpull_add(struct tsc_buf *buf, const uint8_t *blob, size_t len)
{
    struct tsc_mp_writer mw;
    size_t before = buf->len;
    if (len > 0xffffffffu)
        return TSC_ETOOBIG;
    tsc_mp_writer_init(&mw, buf);
    msgpack_pack_bin(&mw.pk, len);
    if (len > 0)
        msgpack_pack_bin_body(&mw.pk, blob, len);
    if (tsc_mp_writer_status(&mw) != 0) {
        buf->len = before;
        return TSC_ENOMEM;
    }
    return 0;
}

/* The count is bounded by the body's length (tsc_mp_read_array), so a caller
 * may size an array by it. */
int tsc_pushpull_read_begin(struct tsc_mp_reader *r, const uint8_t *body, size_t len, int *join,
                            uint32_t *count)
{
    uint32_t n;
    tsc_mp_reader_init(r, body, len);
    if (tsc_mp_read_array(r, &n) != 0 || n != PUSHPULL_FIELDS || tsc_mp_read_bool(r, join) != 0 ||
        tsc_mp_read_array(r, count) != 0)
        return TSC_EMALFORMED;
    return 0;
}

int tsc_pushpull_read_next(struct tsc_mp_reader *r, const uint8_t **blob, size_t *len)
{
    uint32_t n;
    if (tsc_mp_read_bin(r, blob, &n) != 0)
        return TSC_EMALFORMED;
    *len = n;
    return 0;
}
