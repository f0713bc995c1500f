/* tsc — what the agent keeps in its store, and why:
 *
 *   meta/"node_seed"    32 bytes: the Ed25519 seed; the node id derives from
 *                       the public key, so it must survive restarts.
 *   meta/"incarnation"  u64 BE: the highest incarnation this node used. A
 *                       restarted node starts at stored + 1, which beats any
 *                       suspect/dead claim others hold about its last life
 *                       (SWIM §4.2: claims are about one incarnation).
 *   members/<id u64 BE> [1][ip u32 BE][port u16 BE][status u8][record blob]:
 *                       the last known members, so a restarted agent can
 *                       rejoin without --join.
 *
 * Writes go through the WAL without fsync (they survive a crash of the
 * process, which is what kill -9 tests), except the first write of a new
 * node key and each incarnation bump, which are synced. */
#include <sodium.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/log.h"

#define KEY_SEED       "node_seed"
#define KEY_INC        "incarnation"
#define MEMBER_VERSION 1
#define MEMBER_HDR     8 /* version, ip, port, status */

static int meta_get(struct tsc_agent *a, const char *key, struct tsc_buf *val, char *errmsg)
{
    return a->store.get(&a->store, TSC_STORE_META, (const uint8_t *)key, strlen(key), val, errmsg);
}

static int meta_put(struct tsc_agent *a, const char *key, const uint8_t *val, size_t len,
                    char *errmsg)
{
    return a->store.put(&a->store, TSC_STORE_META, (const uint8_t *)key, strlen(key), val, len, 1,
                        errmsg);
}

static int store_incarnation(struct tsc_agent *a, uint64_t inc, char *errmsg)
{
    uint8_t v[8];
    tsc_store_put_be64(v, inc);
    int rc = meta_put(a, KEY_INC, v, sizeof v, errmsg);
    if (rc == 0)
        a->incarnation = inc;
    return rc;
}

int tsc__state_load(struct tsc_agent *a, char *errmsg)
{
    uint8_t seed[TSC_SEED_BYTES];
    struct tsc_buf v;
    uint64_t inc = 0;
    int rc;

    tsc_buf_init(&v);
    rc = meta_get(a, KEY_SEED, &v, errmsg);
    if (rc == 0 && v.len == TSC_SEED_BYTES) {
        memcpy(seed, v.data, sizeof seed);
    } else if (rc == TSC_ENOTFOUND) {
        /* First start: this is the moment the node's identity is born. */
        randombytes_buf(seed, sizeof seed);
        rc = meta_put(a, KEY_SEED, seed, sizeof seed, errmsg);
        if (rc == 0)
            tsc_logf(TSC_LOG_INFO, "created a new node key");
    } else if (rc == 0) {
        tsc_errmsg_setf(errmsg, "stored node key has %zu bytes, want %d", v.len, TSC_SEED_BYTES);
        rc = TSC_ESTORE;
    }
    if (rc != 0) {
        tsc_buf_free(&v);
        sodium_memzero(seed, sizeof seed);
        tsc_errmsg_wrapf(errmsg, "node key");
        return rc;
    }
    tsc_crypto_sodium.keypair(a->pk, a->sk, seed);
    sodium_memzero(seed, sizeof seed);
    a->self_id = tsc_crypto_node_id(&tsc_crypto_sodium, a->pk);

    tsc_buf_reset(&v);
    rc = meta_get(a, KEY_INC, &v, errmsg);
    if (rc == 0 && v.len == 8)
        inc = tsc_store_get_be64(v.data);
    else if (rc != 0 && rc != TSC_ENOTFOUND) {
        tsc_buf_free(&v);
        tsc_errmsg_wrapf(errmsg, "incarnation");
        return rc;
    }
    tsc_buf_free(&v);
    /* Store the new value before using it, so a crash right after start
     * still moves the next start further. */
    rc = store_incarnation(a, inc + 1, errmsg);
    if (rc != 0)
        tsc_errmsg_wrapf(errmsg, "incarnation");
    return rc;
}

struct rejoin_ctx {
    struct tsc_agent *a;
};

static int collect_member(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
                          size_t vlen)
{
    struct tsc_agent *a = ((struct rejoin_ctx *)ctx)->a;
    struct tsc_addr addr;
    if (klen != 8 || vlen < MEMBER_HDR || val[0] != MEMBER_VERSION)
        return 0; /* not ours, or an older layout: skip */
    if (tsc_store_get_be64(key) == a->self_id)
        return 0;
    addr.ip = (uint32_t)val[1] << 24 | (uint32_t)val[2] << 16 | (uint32_t)val[3] << 8 | val[4];
    addr.port = (uint16_t)(val[5] << 8 | val[6]);
    if (addr.port == 0 || tsc_addr_eq(&addr, &a->cfg.advertise))
        return 0;
    for (size_t i = 0; i < a->n_rejoin; i++)
        if (tsc_addr_eq(&a->rejoin[i], &addr))
            return 0;
    a->rejoin[a->n_rejoin++] = addr;
    return a->n_rejoin == TSC_AGENT_MAX_JOIN;
}

void tsc__state_load_rejoin(struct tsc_agent *a)
{
    char errmsg[TSC_ERRMSG_SIZE] = "";
    struct rejoin_ctx ctx = {a};
    a->n_rejoin = 0;
    if (a->store.scan(&a->store, TSC_STORE_MEMBERS, collect_member, &ctx, errmsg) != 0) {
        a->c.store_errors++;
        tsc_logf(TSC_LOG_WARN, "loading stored members: %s", errmsg);
    }
}

static void persist_member(struct tsc_agent *a, uint64_t id, struct tsc_buf *v)
{
    struct tsc_gossip_member m;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    uint8_t key[8];
    uint8_t hdr[MEMBER_HDR];
    if (tsc_gossip_member_find(a->gossip, id, &m) != 0)
        return;
    hdr[0] = MEMBER_VERSION;
    hdr[1] = (uint8_t)(m.addr.ip >> 24);
    hdr[2] = (uint8_t)(m.addr.ip >> 16);
    hdr[3] = (uint8_t)(m.addr.ip >> 8);
    hdr[4] = (uint8_t)m.addr.ip;
    hdr[5] = (uint8_t)(m.addr.port >> 8);
    hdr[6] = (uint8_t)m.addr.port;
    hdr[7] = m.status;
    tsc_buf_reset(v);
    if (tsc_buf_append(v, hdr, sizeof hdr) != 0 || tsc_buf_append(v, m.record, m.record_len) != 0)
        return;
    tsc_store_put_be64(key, id);
    if (a->store.put(&a->store, TSC_STORE_MEMBERS, key, sizeof key, v->data, v->len, 0, errmsg) !=
        0) {
        a->c.store_errors++;
        tsc_logf(TSC_LOG_WARN, "persisting member %016llx: %s", (unsigned long long)id, errmsg);
    }
}

void tsc__state_on_changes(struct tsc_agent *a, const struct tsc_gossip_change *ch, size_t n)
{
    struct tsc_gossip_member self;
    struct tsc_buf v;
    tsc_buf_init(&v);
    for (size_t i = 0; i < n; i++)
        if (ch[i].id != a->self_id)
            persist_member(a, ch[i].id, &v);
    tsc_buf_free(&v);
    /* Our own record may have changed (refutation, leave, new meta), whether
     * or not the step listed it: keep the highest incarnation, so that the
     * next start goes beyond it. */
    if (tsc_gossip_member_find(a->gossip, a->self_id, &self) == 0 &&
        self.incarnation > a->incarnation) {
        char errmsg[TSC_ERRMSG_SIZE] = "";
        if (store_incarnation(a, self.incarnation, errmsg) != 0) {
            a->c.store_errors++;
            tsc_logf(TSC_LOG_WARN, "persisting incarnation: %s", errmsg);
        }
    }
}
