/* tsc — the agent's durable key-value store, behind a small table of function
 * pointers (DESIGN.md: adapters at the edges) so the simulator can have an
 * in-memory twin. The RocksDB implementation is store_rocksdb.c.
 *
 * The store has named key spaces (column families in RocksDB). Keys are
 * byte strings compared bytewise, so big-endian integers iterate in order.
 * Every function returns 0 or a TSC_E* code with a message in errmsg (may be
 * NULL); backend errors are converted here, never passed raw. */
#ifndef TSC_AGENT_STORE_H
#define TSC_AGENT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum tsc_store_space {
    TSC_STORE_META = 0,    /* node key, incarnation, ... */
    TSC_STORE_MEMBERS = 1, /* id (u64 BE) -> last known member (see agent/state.c) */
    TSC_STORE_RAFT = 2,    /* election term, vote and log (see agent/coord_store.c) */
    TSC_STORE_RUNS =
        3, /* applied run-log records: run (u64 BE), seq (u32 BE) (agent/runs_store.c) */
    TSC_STORE_HISTORY = 4,  /* run (u64 BE) -> run summary (agent/runs_store.c) */
    TSC_STORE_RESULTS = 5,  /* this agent's stage results: run, stage (agent/participant.c) */
    TSC_STORE_LOGLOCAL = 6, /* this agent's log records: run, seq (u64 BE) -> tsc_logrec */
    TSC_STORE_LOGS = 7,     /* coordinator: merged records: run, index (u64 BE) -> a block of
                               tsc_logrec encodings (index, index + 1, ...; see below) */
    TSC_STORE_LOGMETA = 8,  /* coordinator: run, 'r', node -> sink row; run, 'e', n -> error */
    TSC_STORE_NSPACES
};

/* A LOGS value holds up to this many records of consecutive indices, from
 * the key's (agent/logs.h): a reader of index i starts at i - BLOCK + 1. */
#define TSC_STORE_LOGS_BLOCK 256

/* One operation of an atomic batch (tsc_store.write). */
struct tsc_store_op {
    int space;
    int del; /* 1: delete key (val ignored); 0: insert or replace */
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
};

/* Called for each entry of a scan, in key order; return non-zero to stop. */
typedef int (*tsc_store_scan_fn)(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
                                 size_t vlen);

struct tsc_store {
    void *impl;
    /* Append the value of key to val (val->len grows). 0, TSC_ENOTFOUND or
     * TSC_ESTORE/TSC_ENOMEM; val unchanged on error. */
    int (*get)(struct tsc_store *s, int space, const uint8_t *key, size_t klen, struct tsc_buf *val,
               char *errmsg);
    /* Insert or replace. With sync the write is on disk before returning;
     * without it, it is in the write-ahead log (survives a process crash,
     * not a power loss). */
    int (*put)(struct tsc_store *s, int space, const uint8_t *key, size_t klen, const uint8_t *val,
               size_t vlen, int sync, char *errmsg);
    int (*del)(struct tsc_store *s, int space, const uint8_t *key, size_t klen, char *errmsg);
    /* Apply ops atomically, in order (one RocksDB write batch). With sync the
     * batch is in the fsynced WAL before returning: what Raft requires of
     * term, vote and log before a message leaves (Raft §5, Figure 2).
     * The one call that may run on another thread, concurrently with the
     * loop's calls (the log sink's writer, agent/logs_sinkwrite.c); every
     * other call belongs to the loop thread. */
    int (*write)(struct tsc_store *s, const struct tsc_store_op *ops, size_t n, int sync,
                 char *errmsg);
    /* Visit every entry of a space in key order. */
    int (*scan)(struct tsc_store *s, int space, tsc_store_scan_fn fn, void *ctx, char *errmsg);
    /* Visit the entries with key >= start in key order (fn stops it). */
    int (*scan_from)(struct tsc_store *s, int space, const uint8_t *start, size_t slen,
                     tsc_store_scan_fn fn, void *ctx, char *errmsg);
    /* Flush and release everything; s is unusable afterwards. */
    void (*close)(struct tsc_store *s);
};

/* Open (creating if missing) a RocksDB database in directory path, tuned for
 * a small footprint: the agent stores kilobytes. Fills s. 0 or TSC_ESTORE
 * (e.g. another tscd holds the lock on the same data dir). */
int tsc_store_rocksdb_open(struct tsc_store *s, const char *path, char *errmsg);

/* Big-endian helpers for keys and values. */
static inline void tsc_store_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline uint64_t tsc_store_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

#endif
