/* tsc — growable byte buffer. */
#include "common/buf.h"

#include "common/alloc.h"
#include "common/error.h"

#include <string.h>

void tsc_buf_init(struct tsc_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int tsc_buf_reserve(struct tsc_buf *b, size_t extra)
{
    if (extra > (size_t)-1 - b->len)
        return TSC_ENOMEM;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > (size_t)-1 / 2 ? need : cap * 2;
    uint8_t *p = tsc_realloc(b->data, cap);
    if (p == NULL)
        return TSC_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int tsc_buf_append(struct tsc_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int rc = tsc_buf_reserve(b, n);
    if (rc != 0)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void tsc_buf_reset(struct tsc_buf *b)
{
    b->len = 0;
}

void tsc_buf_free(struct tsc_buf *b)
{
    tsc_free(b->data);
    tsc_buf_init(b);
}
