/* tsc — the RocksDB adapter behind struct tsc_store (see store.h).
 *
 * One database per agent under <data-dir>/db, one column family per key
 * space, writes through the WAL. The coordinator's merged logs (LOGS,
 * LOGMETA) live in a second database beside it, <data-dir>/db-merged,
 * opened on first use: its synced writes of megabytes (the log sink's, from
 * the thread pool) would otherwise share one WAL with the loop's writes, and
 * RocksDB makes whichever writer leads a write group append and checksum
 * the whole group, so the loop thread did the sink's work after all
 * (measured: the loop's own small writes took 15-40 ms). The main database
 * still has (empty) column families of those names from before. The options are sized for what the
 * agent keeps (a node key and a few hundred member records): RocksDB's defaults (64 MiB memtables,
 * 8 MiB block cache, thousands of open files, a stats dump every 10 minutes) would dominate an
 * otherwise small process, and the idle-RSS target is 10 MB. */
#include "agent/store.h"

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"

static const char *const space_names[TSC_STORE_NSPACES] = {
    "meta", "members", "raft", "runs", "history", "results", "loglocal", "logs", "logmeta"};

struct rdb {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_options_t *log_opts; /* LOGLOCAL, and the merged-log database */
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts, *wopts_sync;
    rocksdb_column_family_handle_t *cf[TSC_STORE_NSPACES + 1]; /* [0] = "default" */
    /* The merged-log database (see the top): opened once, under mu. */
    pthread_mutex_t mu;
    _Atomic(rocksdb_t *) mdb;
    rocksdb_column_family_handle_t *mcf[3]; /* default, logs, logmeta */
    char *mpath;
    _Atomic(rocksdb_writebatch_t *) wb; /* reused by rdb_write (see there) */
};

/* A batch whose encoding grew past this is not kept for the next write. */
#define KEEP_BATCH_BYTES (8u << 20)

/* RocksDB hands out malloc'd error strings; turn one into TSC_ESTORE with
 * context, and free it. */
static int rdb_error(char *err, char *errmsg, const char *what)
{
    tsc_errmsg_setf(errmsg, "rocksdb %s: %s", what, err ? err : "unknown error");
    free(err);
    return TSC_ESTORE;
}

static int is_merged_space(int space)
{
    return space == TSC_STORE_LOGS || space == TSC_STORE_LOGMETA;
}

/* The merged-log database, opened on first use (any thread). NULL with
 * errmsg set when it cannot be opened. */
static rocksdb_t *merged_db(struct rdb *r, char *errmsg)
{
    rocksdb_t *db = atomic_load(&r->mdb);
    if (db != NULL)
        return db;
    pthread_mutex_lock(&r->mu);
    if ((db = atomic_load(&r->mdb)) == NULL) {
        const char *names[3] = {"default", "logs", "logmeta"};
        const rocksdb_options_t *opts[3] = {r->log_opts, r->log_opts, r->log_opts};
        char *err = NULL;
        db = rocksdb_open_column_families(r->log_opts, r->mpath, 3, names, opts, r->mcf, &err);
        if (err != NULL) {
            memset(r->mcf, 0, sizeof r->mcf);
            db = NULL;
            rdb_error(err, errmsg, "open");
            tsc_errmsg_wrapf(errmsg, "store %s", r->mpath);
        } else {
            atomic_store(&r->mdb, db);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return db;
}

/* The database and column family of a space; NULL (errmsg set) when there
 * is no such space or its database does not open. */
static rocksdb_column_family_handle_t *space_cf_db(struct rdb *r, int space, rocksdb_t **db,
                                                   char *errmsg)
{
    if (space < 0 || space >= TSC_STORE_NSPACES) {
        tsc_errmsg_setf(errmsg, "store: no key space %d", space);
        return NULL;
    }
    if (!is_merged_space(space)) {
        *db = r->db;
        return r->cf[space + 1];
    }
    if ((*db = merged_db(r, errmsg)) == NULL)
        return NULL;
    return r->mcf[space == TSC_STORE_LOGS ? 1 : 2];
}

static int space_error(int space)
{
    return space < 0 || space >= TSC_STORE_NSPACES ? TSC_EINVAL : TSC_ESTORE;
}

static int rdb_get(struct tsc_store *s, int space, const uint8_t *key, size_t klen,
                   struct tsc_buf *val, char *errmsg)
{
    struct rdb *r = s->impl;
    rocksdb_t *db;
    rocksdb_column_family_handle_t *cf = space_cf_db(r, space, &db, errmsg);
    char *err = NULL;
    size_t vlen = 0;
    if (cf == NULL)
        return space_error(space);
    char *v = rocksdb_get_cf(db, r->ropts, cf, (const char *)key, klen, &vlen, &err);
    if (err != NULL)
        return rdb_error(err, errmsg, "get");
    if (v == NULL)
        return TSC_ENOTFOUND;
    int rc = tsc_buf_append(val, v, vlen);
    rocksdb_free(v);
    if (rc != 0)
        tsc_errmsg_setf(errmsg, "store get: out of memory");
    return rc;
}

static int rdb_put(struct tsc_store *s, int space, const uint8_t *key, size_t klen,
                   const uint8_t *val, size_t vlen, int sync, char *errmsg)
{
    struct rdb *r = s->impl;
    rocksdb_t *db;
    rocksdb_column_family_handle_t *cf = space_cf_db(r, space, &db, errmsg);
    char *err = NULL;
    if (cf == NULL)
        return space_error(space);
    rocksdb_put_cf(db, sync ? r->wopts_sync : r->wopts, cf, (const char *)key, klen,
                   (const char *)val, vlen, &err);
    return err ? rdb_error(err, errmsg, "put") : 0;
}

static int rdb_del(struct tsc_store *s, int space, const uint8_t *key, size_t klen, char *errmsg)
{
    struct rdb *r = s->impl;
    rocksdb_t *db;
    rocksdb_column_family_handle_t *cf = space_cf_db(r, space, &db, errmsg);
    char *err = NULL;
    if (cf == NULL)
        return space_error(space);
    rocksdb_delete_cf(db, r->wopts, cf, (const char *)key, klen, &err);
    return err ? rdb_error(err, errmsg, "delete") : 0;
}

static int rdb_write(struct tsc_store *s, const struct tsc_store_op *ops, size_t n, int sync,
                     char *errmsg)
{
    struct rdb *r = s->impl;
    char *err = NULL;
    /* One batch is reused: a fresh one grows its buffer by doubling on
     * every write, and at the log sink's megabytes per write the copies
     * and page faults of that growth cost as much as the write itself.
     * Writes may come from two threads (the log sink writes from the libuv
     * pool, agent/logs_sinkwrite.c): whoever takes the batch owns it, the
     * other makes its own. */
    rocksdb_writebatch_t *b = atomic_exchange(&r->wb, NULL);
    if (b == NULL)
        b = rocksdb_writebatch_create();
    rocksdb_writebatch_clear(b);
    rocksdb_t *db = NULL;
    for (size_t i = 0; i < n; i++) {
        rocksdb_t *odb;
        rocksdb_column_family_handle_t *cf = space_cf_db(r, ops[i].space, &odb, errmsg);
        if (cf == NULL || (db != NULL && odb != db)) {
            rocksdb_writebatch_destroy(b);
            if (cf != NULL)
                tsc_errmsg_setf(errmsg, "store: one write across both databases");
            return cf != NULL ? TSC_EINVAL : space_error(ops[i].space);
        }
        db = odb;
        if (ops[i].del)
            rocksdb_writebatch_delete_cf(b, cf, (const char *)ops[i].key, ops[i].klen);
        else
            rocksdb_writebatch_put_cf(b, cf, (const char *)ops[i].key, ops[i].klen,
                                      (const char *)ops[i].val, ops[i].vlen);
    }
    if (db != NULL)
        rocksdb_write(db, sync ? r->wopts_sync : r->wopts, b, &err);
    size_t size = 0;
    rocksdb_writebatch_data(b, &size);
    rocksdb_writebatch_t *none = NULL;
    if (size <= KEEP_BATCH_BYTES) {
        rocksdb_writebatch_clear(b);
        if (!atomic_compare_exchange_strong(&r->wb, &none, b))
            rocksdb_writebatch_destroy(b);
    } else {
        rocksdb_writebatch_destroy(b);
    }
    return err ? rdb_error(err, errmsg, "write batch") : 0;
}

static int rdb_scan_from(struct tsc_store *s, int space, const uint8_t *start, size_t slen,
                         tsc_store_scan_fn fn, void *ctx, char *errmsg)
{
    struct rdb *r = s->impl;
    rocksdb_t *db;
    rocksdb_column_family_handle_t *cf = space_cf_db(r, space, &db, errmsg);
    char *err = NULL;
    if (cf == NULL)
        return space_error(space);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db, r->ropts, cf);
    if (start != NULL)
        rocksdb_iter_seek(it, (const char *)start, slen);
    else
        rocksdb_iter_seek_to_first(it);
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        const char *v = rocksdb_iter_value(it, &vlen);
        if (fn(ctx, (const uint8_t *)k, klen, (const uint8_t *)v, vlen) != 0)
            break;
    }
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    return err ? rdb_error(err, errmsg, "scan") : 0;
}

static int rdb_scan(struct tsc_store *s, int space, tsc_store_scan_fn fn, void *ctx, char *errmsg)
{
    return rdb_scan_from(s, space, NULL, 0, fn, ctx, errmsg);
}

static void rdb_release(struct rdb *r)
{
    if (r->wb != NULL)
        rocksdb_writebatch_destroy(r->wb);
    for (int i = 0; i < 3; i++)
        if (r->mcf[i] != NULL)
            rocksdb_column_family_handle_destroy(r->mcf[i]);
    if (r->mdb != NULL)
        rocksdb_close(r->mdb);
    pthread_mutex_destroy(&r->mu);
    tsc_free(r->mpath);
    for (int i = 0; i <= TSC_STORE_NSPACES; i++)
        if (r->cf[i] != NULL)
            rocksdb_column_family_handle_destroy(r->cf[i]);
    if (r->db != NULL)
        rocksdb_close(r->db);
    if (r->wopts_sync != NULL)
        rocksdb_writeoptions_destroy(r->wopts_sync);
    if (r->wopts != NULL)
        rocksdb_writeoptions_destroy(r->wopts);
    if (r->ropts != NULL)
        rocksdb_readoptions_destroy(r->ropts);
    if (r->table != NULL)
        rocksdb_block_based_options_destroy(r->table);
    if (r->cache != NULL)
        rocksdb_cache_destroy(r->cache);
    if (r->log_opts != NULL)
        rocksdb_options_destroy(r->log_opts);
    if (r->opts != NULL)
        rocksdb_options_destroy(r->opts);
    tsc_free(r);
}

static void rdb_close(struct tsc_store *s)
{
    if (s->impl != NULL)
        rdb_release(s->impl);
    s->impl = NULL;
}

/* Small-footprint options; see the comment at the top of the file. */
static void rdb_tune(struct rdb *r)
{
    rocksdb_options_t *o = r->opts;
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_create_missing_column_families(o, 1);
    rocksdb_options_set_write_buffer_size(o, 256 << 10);
    rocksdb_options_set_max_write_buffer_number(o, 2);
    rocksdb_options_set_max_total_wal_size(o, 4 << 20);
    rocksdb_options_set_max_open_files(o, 32);
    rocksdb_options_set_max_background_jobs(o, 2);
    rocksdb_options_set_stats_dump_period_sec(o, 0);
    rocksdb_options_set_info_log_level(o, 2 /* WARN */);
    rocksdb_options_set_keep_log_file_num(o, 2);
    rocksdb_options_set_max_log_file_size(o, 1 << 20);
    rocksdb_options_set_max_manifest_file_size(o, 4 << 20);
    r->cache = rocksdb_cache_create_lru(256 << 10);
    r->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(r->table, r->cache);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(r->table, 1);
    rocksdb_options_set_block_based_table_factory(o, r->table);
    /* Log records arrive by the hundred thousand per second: their spaces
     * get memtables large enough to take a burst between flushes (the
     * arena grows only as it is written, so an idle agent does not pay). */
    r->log_opts = rocksdb_options_create_copy(o);
    rocksdb_options_set_write_buffer_size(r->log_opts, 32 << 20);
    rocksdb_options_set_max_write_buffer_number(r->log_opts, 3);
    /* Log text compresses, but snappy on every flush costs more CPU than
     * the coordinator can spare while it merges at full rate. */
    rocksdb_options_set_compression(r->log_opts, rocksdb_no_compression);
    /* Memtable arena blocks of 64 KiB instead of write_buffer_size / 8:
     * a new memtable then reuses the heap a flushed one gave back instead
     * of faulting in fresh mmapped pages (4 % of bench_logstore's samples
     * were page faults under the memtable insert; +4 % merge+store rate). */
    rocksdb_options_set_arena_block_size(r->log_opts, 64 << 10);
    /* Both databases: a WAL limit below the memtables would force a flush
     * of every few megabytes of log records. */
    rocksdb_options_set_max_total_wal_size(o, 128 << 20);
    rocksdb_options_set_max_total_wal_size(r->log_opts, 128 << 20);
}

int tsc_store_rocksdb_open(struct tsc_store *s, const char *path, char *errmsg)
{
    const char *names[TSC_STORE_NSPACES + 1];
    const rocksdb_options_t *cf_opts[TSC_STORE_NSPACES + 1];
    char *err = NULL;
    struct rdb *r = tsc_calloc(1, sizeof *r);
    if (r == NULL) {
        tsc_errmsg_setf(errmsg, "store: out of memory");
        return TSC_ENOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    size_t plen = strlen(path) + sizeof "-merged";
    if ((r->mpath = tsc_malloc(plen)) == NULL) {
        tsc_errmsg_setf(errmsg, "store: out of memory");
        rdb_release(r);
        return TSC_ENOMEM;
    }
    snprintf(r->mpath, plen, "%s-merged", path);
    r->opts = rocksdb_options_create();
    rdb_tune(r);
    names[0] = "default";
    cf_opts[0] = r->opts;
    for (int i = 0; i < TSC_STORE_NSPACES; i++) {
        names[i + 1] = space_names[i];
        cf_opts[i + 1] = i == TSC_STORE_LOGLOCAL ? r->log_opts : r->opts;
    }
    r->db = rocksdb_open_column_families(r->opts, path, TSC_STORE_NSPACES + 1, names, cf_opts,
                                         r->cf, &err);
    if (err != NULL) {
        memset(r->cf, 0, sizeof r->cf);
        r->db = NULL;
        rdb_error(err, errmsg, "open");
        tsc_errmsg_wrapf(errmsg, "store %s", path);
        rdb_release(r);
        return TSC_ESTORE;
    }
    r->ropts = rocksdb_readoptions_create();
    r->wopts = rocksdb_writeoptions_create();
    r->wopts_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(r->wopts_sync, 1);
    s->impl = r;
    s->get = rdb_get;
    s->put = rdb_put;
    s->del = rdb_del;
    s->write = rdb_write;
    s->scan = rdb_scan;
    s->scan_from = rdb_scan_from;
    s->close = rdb_close;
    return 0;
}
