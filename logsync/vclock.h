/* tsc — vector clocks, compact (issue "Logs"; Fidge 1988, Mattern 1989).
 *
 * A clock is the list of its set entries only, (node id, count) sorted by
 * node id; an entry that is not listed is 0. Agents keep one clock each; a
 * clock on the wire carries only the entries of the run's participants and
 * the coordinator (tsc_vclock_project), so its size does not grow with the
 * cluster.
 *
 * Convention used by logsync: every log record is one event of its node and
 * ticks the node's own entry, so the record with per-node sequence number s
 * has clock[node] == s. Sending a message is a record (its clock travels
 * with the message); receiving one merges the carried clock, then ticks (a
 * record too). Hence "record a happened before record b" iff
 * a.clock[a.node] <= b.clock[a.node] and a != b, and b's causal past is
 * exactly the records (m, 1..b.clock[m]) of every node m.
 *
 * Pure: no I/O; memory only through common/alloc.h. Encoding (msgpack):
 * one array [node1, count1, node2, count2, ...] with strictly increasing
 * node ids and counts >= 1; decoding is total and bounded by
 * TSC_VCLOCK_MAX_ENTRIES. */
#ifndef TSC_LOGSYNC_VCLOCK_H
#define TSC_LOGSYNC_VCLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "wire/mp.h"

#define TSC_VCLOCK_MAX_ENTRIES 4096

struct tsc_vclock_entry {
    uint64_t node;
    uint64_t count; /* >= 1 */
};

struct tsc_vclock {
    size_t n, cap;
    struct tsc_vclock_entry *e; /* sorted by node, n entries */
};

enum tsc_vclock_order {
    TSC_VCLOCK_EQUAL = 0,
    TSC_VCLOCK_BEFORE = 1,     /* a < b: a happened before b */
    TSC_VCLOCK_AFTER = 2,      /* a > b */
    TSC_VCLOCK_CONCURRENT = 3, /* neither */
};

void tsc_vclock_init(struct tsc_vclock *c);
void tsc_vclock_free(struct tsc_vclock *c);
void tsc_vclock_reset(struct tsc_vclock *c);

/* The count of node (0 when unset). O(log n). */
uint64_t tsc_vclock_get(const struct tsc_vclock *c, uint64_t node);
/* Set node's count (0 removes the entry). 0, TSC_EINVAL (node 0), TSC_EFULL
 * (TSC_VCLOCK_MAX_ENTRIES), TSC_ENOMEM; c unchanged on error. */
int tsc_vclock_set(struct tsc_vclock *c, uint64_t node, uint64_t count);
/* node's count + 1; *count (may be NULL) gets the new value. */
int tsc_vclock_tick(struct tsc_vclock *c, uint64_t node, uint64_t *count);
/* dst = pointwise max(dst, src). dst unchanged on error. O(n + m). */
int tsc_vclock_merge(struct tsc_vclock *dst, const struct tsc_vclock *src);
int tsc_vclock_copy(struct tsc_vclock *dst, const struct tsc_vclock *src);
/* dst = src restricted to the given nodes (any order, duplicates allowed). */
int tsc_vclock_project(struct tsc_vclock *dst, const struct tsc_vclock *src, const uint64_t *nodes,
                       size_t n);
/* enum tsc_vclock_order of a relative to b. O(n + m). */
int tsc_vclock_compare(const struct tsc_vclock *a, const struct tsc_vclock *b);
/* Sum of the counts (saturating). a < b implies sum(a) < sum(b). (The
 * merge sorts by Lamport time instead: logsync/merge.h says why.) */
uint64_t tsc_vclock_sum(const struct tsc_vclock *c);

/* Append the encoding to w. */
void tsc_vclock_pack(const struct tsc_vclock *c, struct tsc_mp_writer *w);
/* Decode one clock from r into c (reset first). 0, TSC_EMALFORMED (not an
 * array of pairs, ids not increasing, a zero count or id, too many),
 * TSC_ENOMEM. */
int tsc_vclock_read(struct tsc_mp_reader *r, struct tsc_vclock *c);

#endif
