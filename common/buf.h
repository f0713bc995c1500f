/* tsc — a growable byte buffer. The struct is caller-allocated; the data it
 * points to is owned by the buffer and released by tsc_buf_free. */
#ifndef TSC_COMMON_BUF_H
#define TSC_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

struct tsc_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

/* Zero-initialise; no allocation. */
void tsc_buf_init(struct tsc_buf *b);

/* Ensure room for `extra` more bytes. Returns 0 or TSC_ENOMEM (buffer unchanged). */
int tsc_buf_reserve(struct tsc_buf *b, size_t extra);

/* Append n bytes. Returns 0 or TSC_ENOMEM (buffer unchanged). */
int tsc_buf_append(struct tsc_buf *b, const void *p, size_t n);

/* Forget the contents, keep the memory. */
void tsc_buf_reset(struct tsc_buf *b);

/* Release the memory; the buffer is empty and reusable afterwards. */
void tsc_buf_free(struct tsc_buf *b);

#endif
