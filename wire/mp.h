/* tsc — msgpack helpers for the codecs in wire/.
 *
 * Encoding goes through msgpack-c's packer (msgpack_packer) writing into a
 * struct tsc_buf. Decoding uses our own bounds-checked cursor instead of
 * msgpack-c's unpacker, because that one allocates objects for the element
 * count an array header declares before it has seen the elements: a 5-byte
 * input could ask for gigabytes. The cursor is zero-copy and allocates
 * nothing; every read checks the remaining length first, so any byte string
 * yields a value or TSC_EMALFORMED. */
#ifndef TSC_WIRE_MP_H
#define TSC_WIRE_MP_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Packer writing into a tsc_buf. On allocation failure the buffer's `len`
 * stops growing and *failed is set; check tsc_mp_writer_failed() at the end. */
struct tsc_mp_writer {
    msgpack_packer pk;
    struct tsc_buf *buf;
    int failed;
};

void tsc_mp_writer_init(struct tsc_mp_writer *w, struct tsc_buf *buf);
/* 0 or TSC_ENOMEM. */
int tsc_mp_writer_status(const struct tsc_mp_writer *w);

struct tsc_mp_reader {
    const uint8_t *p;
    const uint8_t *end;
    unsigned depth; /* nesting, for tsc_mp_skip; bounded */
};

void tsc_mp_reader_init(struct tsc_mp_reader *r, const uint8_t *p, size_t len);
size_t tsc_mp_remaining(const struct tsc_mp_reader *r);

/* Each returns 0 or TSC_EMALFORMED (type mismatch, truncation, overflow). On
 * error the reader position is unspecified; callers abandon the message. */
int tsc_mp_read_array(struct tsc_mp_reader *r, uint32_t *n); /* n <= remaining bytes */
int tsc_mp_read_map(struct tsc_mp_reader *r, uint32_t *n);   /* 2n <= remaining bytes */
int tsc_mp_read_uint(struct tsc_mp_reader *r, uint64_t *v);  /* positive fixint/uint8..64 */
int tsc_mp_read_bool(struct tsc_mp_reader *r, int *v);
int tsc_mp_read_nil(struct tsc_mp_reader *r);
/* bin 8/16/32; *p points into the input. */
int tsc_mp_read_bin(struct tsc_mp_reader *r, const uint8_t **p, uint32_t *len);
/* fixstr/str 8/16/32; *s points into the input, NOT NUL-terminated. */
int tsc_mp_read_str(struct tsc_mp_reader *r, const char **s, uint32_t *len);
/* Skip one complete value of any type (nesting limited to 32). */
int tsc_mp_skip(struct tsc_mp_reader *r);

#endif
