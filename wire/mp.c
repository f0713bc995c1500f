/* tsc — msgpack writer (msgpack-c's packer into a tsc_buf) and our own
 * bounds-checked, allocation-free reader (see mp.h for why). */
#include "wire/mp.h"

#include "common/error.h"

/* ---- writer ------------------------------------------------------------- */

/* msgpack-c calls this for every piece it packs. Once an append has failed we
 * refuse every later one too: a buffer with a hole in the middle would decode
 * as garbage, a buffer that merely stops is rolled back by the caller. */
static int writer_cb(void *data, const char *p, size_t n)
{
    struct tsc_mp_writer *w = data;
    if (w->failed)
        return -1;
    if (tsc_buf_append(w->buf, p, n) != 0) {
        w->failed = 1;
        return -1;
    }
    return 0;
}

void tsc_mp_writer_init(struct tsc_mp_writer *w, struct tsc_buf *buf)
{
    w->buf = buf;
    w->failed = 0;
    msgpack_packer_init(&w->pk, w, writer_cb);
}

int tsc_mp_writer_status(const struct tsc_mp_writer *w)
{
    return w->failed ? TSC_ENOMEM : 0;
}

/* ---- reader ------------------------------------------------------------- */

#define MP_MAX_DEPTH 32

void tsc_mp_reader_init(struct tsc_mp_reader *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->end = p + len;
    r->depth = 0;
}

size_t tsc_mp_remaining(const struct tsc_mp_reader *r)
{
    return (size_t)(r->end - r->p);
}

/* Read an n-byte big-endian unsigned integer (n <= 8); the caller checked
 * that n bytes remain. */
static uint64_t be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Consume an n-byte big-endian length or value after the type byte. */
static int take_be(struct tsc_mp_reader *r, unsigned n, uint64_t *v)
{
    if (tsc_mp_remaining(r) < n)
        return TSC_EMALFORMED;
    *v = be(r->p, n);
    r->p += n;
    return 0;
}

int tsc_mp_read_array(struct tsc_mp_reader *r, uint32_t *n)
{
    uint64_t v;
    if (r->p >= r->end)
        return TSC_EMALFORMED;
    uint8_t t = *r->p++;
    if (t >= 0x90 && t <= 0x9f)
        v = t & 0x0f;
    else if (t == 0xdc) {
        if (take_be(r, 2, &v) != 0)
            return TSC_EMALFORMED;
    } else if (t == 0xdd) {
        if (take_be(r, 4, &v) != 0)
            return TSC_EMALFORMED;
    } else
        return TSC_EMALFORMED;
    /* Every element takes at least one byte: a count larger than what is
     * left is a lie, and callers may size things by it. */
    if (v > tsc_mp_remaining(r))
        return TSC_EMALFORMED;
    *n = (uint32_t)v;
    return 0;
}

int tsc_mp_read_map(struct tsc_mp_reader *r, uint32_t *n)
{
    uint64_t v;
    if (r->p >= r->end)
        return TSC_EMALFORMED;
    uint8_t t = *r->p++;
    if (t >= 0x80 && t <= 0x8f)
        v = t & 0x0f;
    else if (t == 0xde) {
        if (take_be(r, 2, &v) != 0)
            return TSC_EMALFORMED;
    } else if (t == 0xdf) {
        if (take_be(r, 4, &v) != 0)
            return TSC_EMALFORMED;
    } else
        return TSC_EMALFORMED;
    if (2 * v > tsc_mp_remaining(r)) /* v < 2^32: no overflow */
        return TSC_EMALFORMED;
    *n = (uint32_t)v;
    return 0;
}

int tsc_mp_read_uint(struct tsc_mp_reader *r, uint64_t *v)
{
    if (r->p >= r->end)
        return TSC_EMALFORMED;
    uint8_t t = *r->p++;
    if (t <= 0x7f) {
        *v = t;
        return 0;
    }
    switch (t) {
    case 0xcc:
        return take_be(r, 1, v);
    case 0xcd:
        return take_be(r, 2, v);
    case 0xce:
        return take_be(r, 4, v);
    case 0xcf:
        return take_be(r, 8, v);
    default:
        return TSC_EMALFORMED;
    }
}

int tsc_mp_read_bool(struct tsc_mp_reader *r, int *v)
{
    if (r->p >= r->end)
        return TSC_EMALFORMED;
    uint8_t t = *r->p;
    if (t != 0xc2 && t != 0xc3)
        return TSC_EMALFORMED;
    r->p++;
    *v = t == 0xc3;
    return 0;
}

int tsc_mp_read_nil(struct tsc_mp_reader *r)
{
    if (r->p >= r->end || *r->p != 0xc0)
        return TSC_EMALFORMED;
    r->p++;
    return 0;
}

/* Consume `len` payload bytes, returning where they start. */
static int take_bytes(struct tsc_mp_reader *r, uint64_t len, const uint8_t **p)
{
    if (len > tsc_mp_remaining(r))
        return TSC_EMALFORMED;
    *p = r->p;
    r->p += len;
    return 0;
}

int tsc_mp_read_bin(struct tsc_mp_reader *r, const uint8_t **p, uint32_t *len)
{
    uint64_t n;
    int rc;
    if (r->p >= r->end)
        return TSC_EMALFORMED;
    uint8_t t = *r->p++;
    switch (t) {
    case 0xc4:
        rc = take_be(r, 1, &n);
        break;
    case 0xc5:
        rc = take_be(r, 2, &n);
        break;
    case 0xc6:
        rc = take_be(r, 4, &n);
        break;
    default:
        return TSC_EMALFORMED;
    }
    if (rc != 0 || take_bytes(r, n, p) != 0)
        return TSC_EMALFORMED;
    *len = (uint32_t)n;
    return 0;
}

int tsc_mp_read_str(struct tsc_mp_reader *r, const char **s, uint32_t *len)
{
    uint64_t n;
    int rc = 0;
    const uint8_t *p;
    if (r->p >= r->end)
        return TSC_EMALFORMED;
    uint8_t t = *r->p++;
    if (t >= 0xa0 && t <= 0xbf)
        n = t & 0x1f;
    else if (t == 0xd9)
        rc = take_be(r, 1, &n);
    else if (t == 0xda)
        rc = take_be(r, 2, &n);
    else if (t == 0xdb)
        rc = take_be(r, 4, &n);
    else
        return TSC_EMALFORMED;
    if (rc != 0 || take_bytes(r, n, &p) != 0)
        return TSC_EMALFORMED;
    *s = (const char *)p;
    *len = (uint32_t)n;
    return 0;
}

/* Skip one value of any type. Iterative: a stack of "values still to skip"
 * per nesting level, so hostile nesting costs neither C stack nor memory;
 * deeper than MP_MAX_DEPTH is rejected. Each element consumes at least its
 * type byte, so the loop runs at most once per input byte. */
int tsc_mp_skip(struct tsc_mp_reader *r)
{
    uint64_t left[MP_MAX_DEPTH + 1];
    unsigned depth = 0;
    left[0] = 1;
    for (;;) {
        while (left[depth] == 0) {
            if (depth == 0) {
                r->depth = 0;
                return 0;
            }
            depth--;
        }
        left[depth]--;
        if (r->p >= r->end)
            return TSC_EMALFORMED;
        uint8_t t = *r->p++;
        uint64_t n = 0, skip = 0, children = 0;
        int rc = 0;
        if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
            /* fixint, negative fixint, nil, bool: the byte is the value */
        } else if (t >= 0x80 && t <= 0x8f) {
            children = 2u * (t & 0x0f);
        } else if (t >= 0x90 && t <= 0x9f) {
            children = t & 0x0f;
        } else if (t >= 0xa0 && t <= 0xbf) {
            skip = t & 0x1f;
        } else {
            switch (t) {
            case 0xc4: /* bin 8/16/32 */
            case 0xd9: /* str 8/16/32 */
                rc = take_be(r, 1, &skip);
                break;
            case 0xc5:
            case 0xda:
                rc = take_be(r, 2, &skip);
                break;
            case 0xc6:
            case 0xdb:
                rc = take_be(r, 4, &skip);
                break;
            case 0xc7: /* ext 8/16/32: length, then a type byte, then data */
                rc = take_be(r, 1, &n);
                skip = n + 1;
                break;
            case 0xc8:
                rc = take_be(r, 2, &n);
                skip = n + 1;
                break;
            case 0xc9:
                rc = take_be(r, 4, &n);
                skip = n + 1;
                break;
            case 0xca: /* float 32 */
                skip = 4;
                break;
            case 0xcb: /* float 64 */
                skip = 8;
                break;
            case 0xcc: /* uint 8/16/32/64 */
            case 0xd0: /* int 8/16/32/64 */
                skip = 1;
                break;
            case 0xcd:
            case 0xd1:
                skip = 2;
                break;
            case 0xce:
            case 0xd2:
                skip = 4;
                break;
            case 0xcf:
            case 0xd3:
                skip = 8;
                break;
            case 0xd4: /* fixext 1/2/4/8/16: type byte + data */
                skip = 2;
                break;
            case 0xd5:
                skip = 3;
                break;
            case 0xd6:
                skip = 5;
                break;
            case 0xd7:
                skip = 9;
                break;
            case 0xd8:
                skip = 17;
                break;
            case 0xdc: /* array 16/32 */
                rc = take_be(r, 2, &children);
                break;
            case 0xdd:
                rc = take_be(r, 4, &children);
                break;
            case 0xde: /* map 16/32 */
                rc = take_be(r, 2, &n);
                children = 2 * n;
                break;
            case 0xdf:
                rc = take_be(r, 4, &n);
                children = 2 * n;
                break;
            default: /* 0xc1: never used */
                return TSC_EMALFORMED;
            }
        }
        if (rc != 0 || skip > tsc_mp_remaining(r))
            return TSC_EMALFORMED;
        r->p += skip;
        if (children > 0) {
            if (children > tsc_mp_remaining(r) || depth == MP_MAX_DEPTH)
                return TSC_EMALFORMED;
            left[++depth] = children;
            r->depth = depth;
        }
    }
}
