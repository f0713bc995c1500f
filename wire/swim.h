/* tsc — bodies of the SWIM messages (inside a sealed envelope).
 *
 * Datagram body (PING, ACK, PING_REQ, NACK, GOSSIP):
 *     msgpack array [probe, target, target_ip, target_port, items]
 *     items = array16 of bin: signed blobs (records or claims), piggybacked
 *             gossip (SWIM §4.1 "infection-style dissemination").
 * Fields a type does not use are 0.
 *   PING      probe = sender's probe number, target = id the sender believes it
 *             is pinging (0 when unknown, e.g. a seed address).
 *   ACK       probe = the number from the PING being answered.
 *   PING_REQ  probe = requester's probe number; target/target_ip/port = whom to
 *             probe on the requester's behalf (SWIM §3.1).
 *   NACK      probe = requester's probe number: the helper got no ack in time
 *             (Lifeguard §4.3).
 *   GOSSIP    items only.
 *
 * Stream body (PUSHPULL_REQ, PUSHPULL_RESP): msgpack array [join(bool), items]
 * with items = array32 of bin: the sender's full state, its own record first. */
#ifndef TSC_WIRE_SWIM_H
#define TSC_WIRE_SWIM_H

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/buf.h"
#include "wire/mp.h"

#define TSC_SWIM_MAX_ITEMS 64

struct tsc_swim_item {
    const uint8_t *blob;
    size_t len;
};

/* Decoded datagram body; items point into the decoded buffer. */
struct tsc_swim_msg {
    uint32_t probe;
    uint64_t target;
    struct tsc_addr target_addr;
    unsigned n_items;
    struct tsc_swim_item items[TSC_SWIM_MAX_ITEMS];
};

/* Incremental writer for a datagram body: header first, then items while
 * they fit under a byte limit. */
struct tsc_swim_writer {
    struct tsc_buf *buf;
    size_t start;    /* offset of the body in buf */
    size_t count_at; /* offset of the array16 count to patch */
    unsigned n_items;
};

/* Append the header of a body to buf. 0 or TSC_ENOMEM. */
int tsc_swim_begin(struct tsc_swim_writer *w, struct tsc_buf *buf, uint32_t probe, uint64_t target,
                   struct tsc_addr target_addr);

/* Append one item if the body stays <= limit bytes and fewer than
 * TSC_SWIM_MAX_ITEMS items. 0, TSC_EFULL (nothing written) or TSC_ENOMEM. */
int tsc_swim_add(struct tsc_swim_writer *w, const uint8_t *blob, size_t len, size_t limit);

/* Patch the item count. The body is buf->data[w->start .. buf->len). */
void tsc_swim_finish(struct tsc_swim_writer *w);

/* Decode a datagram body. 0 or TSC_EMALFORMED (also for more than
 * TSC_SWIM_MAX_ITEMS items). */
int tsc_swim_decode(const uint8_t *body, size_t len, struct tsc_swim_msg *m);

/* Push-pull body: write header with a count, then exactly `count` items. */
int tsc_pushpull_begin(struct tsc_buf *buf, int join, uint32_t count);
int tsc_pushpull_add(struct tsc_buf *buf, const uint8_t *blob, size_t len);

/* Read a push-pull body: begin returns join and the count; next yields each
 * item (pointing into body). 0 or TSC_EMALFORMED. */
int tsc_pushpull_read_begin(struct tsc_mp_reader *r, const uint8_t *body, size_t len, int *join,
                            uint32_t *count);
int tsc_pushpull_read_next(struct tsc_mp_reader *r, const uint8_t **blob, size_t *len);

#endif
