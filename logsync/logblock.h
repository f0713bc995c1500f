/* tsc — the LOGS block codec: consecutive merged records of one run as one
 * stored value (agent/store.h, TSC_STORE_LOGS), compact (issue "Logs").
 *
 * A record's wire encoding (tsc_logrec, merge.h) is about 200 bytes for 100
 * bytes of text: its clock names every participant by a 64-bit id, and the
 * run, stage, case, Lamport time and wall clock repeat in every record. What
 * the coordinator's store costs per record (WAL bytes and their CRC, the
 * memtable copy, flushes) grows with those bytes, and it bounds the merge +
 * store rate. In merge order most of it is predictable, so a block writes
 * differences:
 *
 *   block  = 0xB7 run n_nodes id*n_nodes n_records record*
 *   record = node_ix flags [stage] [case] [kind] [seq]
 *            n_changes (ix count)*n_changes lamport_d wall_d len text
 *
 * Integers are LEB128 varints; _d are zigzag differences from the previous
 * record of the block (the first: from 0). ids is the table of every node
 * the block names (origins and clock entries), ix an index into it. Against
 * the previous record of the same origin in the block, stage, case and kind
 * are written only when they differ (flags bits 1, 2, 4), seq only when it
 * is not one more (bit 8), and the clock only by the entries that changed
 * (a count of 0 removes an entry); the origin's own entry is seq and is
 * never written. An origin's first record in the block is written against
 * an empty record (every field and its whole clock).
 *
 * Blocks of the first format (a concatenation of tsc_logrec encodings; its
 * first byte is 0x9a, a msgpack array of ten) are still read.
 *
 * Pure: no I/O. */
#ifndef TSC_LOGSYNC_LOGBLOCK_H
#define TSC_LOGSYNC_LOGBLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "logsync/merge.h"

/* Reusable scratch for encoding (the node table and the records' bytes). */
struct tsc_logblock_enc {
    uint64_t *slot_id; /* open addressing: node id (0: empty) */
    uint32_t *slot_ix; /* its index into ids */
    size_t cap_slots;
    uint64_t *ids;
    const struct tsc_logrec **prev; /* per ids[i]: its last record in the block */
    size_t n_ids, cap_ids;
    struct tsc_buf body;
};

void tsc_logblock_enc_init(struct tsc_logblock_enc *e);
void tsc_logblock_enc_free(struct tsc_logblock_enc *e);

/* Append one block of recs[0..n-1] (n >= 1, every record of `run`, in the
 * order they are to be read back) to out. Records must satisfy what
 * tsc_logrec_encode checks: TSC_EINVAL for one that does not or is of
 * another run, TSC_ETOOBIG for a text over TSC_LOGREC_MAX_TEXT, TSC_ENOMEM;
 * out is unchanged on error. */
int tsc_logblock_encode(struct tsc_logblock_enc *e, uint64_t run,
                        const struct tsc_logrec *const *recs, size_t n, struct tsc_buf *out);

/* Reading a block back, record by record. */
struct tsc_logblock_node {
    struct tsc_vclock clock; /* the origin's last record's clock */
    uint64_t seq;
    uint32_t stage, case_index;
    uint8_t kind;
};

struct tsc_logblock_dec {
    const uint8_t *p, *end;
    int legacy;
    uint64_t run, left, lamport, wall;
    uint64_t *ids;
    struct tsc_logblock_node *nodes;
    size_t n_ids, cap_ids;
};

void tsc_logblock_dec_init(struct tsc_logblock_dec *d);
void tsc_logblock_dec_free(struct tsc_logblock_dec *d);

/* Start reading the block p[0..len-1] (borrowed until the last _next).
 * 0, TSC_EMALFORMED (not a block), TSC_ENOMEM. */
int tsc_logblock_open(struct tsc_logblock_dec *d, const uint8_t *p, size_t len);

/* The next record into r (initialised with tsc_logrec_init; its clock's
 * memory is reused; text points into the block). 0, TSC_ENOTFOUND after the
 * last, TSC_EMALFORMED or TSC_ETOOBIG for a damaged block (what came before
 * it is good), TSC_ENOMEM. A record read satisfies tsc_logrec_decode's
 * checks. */
int tsc_logblock_next(struct tsc_logblock_dec *d, struct tsc_logrec *r);

#endif
