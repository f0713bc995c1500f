/* tsc — SWIM membership as a pure engine.
 *
 *   tsc_gossip_step(g, &event, &update)
 *
 * The engine never reads a clock, never uses libc randomness, never touches a socket,
 * a file or libuv: time arrives in event.now (microseconds on the driver's
 * monotonic clock), randomness comes from the engine's own PRNG seeded from
 * the config, and everything to send comes back in the update as sealed
 * frames. The agent (agent/) drives it with libuv, the simulator (sim/) with a
 * virtual clock; both feed the same bytes through the same code.
 *
 * Protocol (SWIM, Das et al. 2002; Lifeguard, Dadgar et al. 2018):
 *  - one probe per protocol period to the next member of a shuffled
 *    round-robin list (SWIM §4.3); PING, then PING_REQ through k members
 *    when no ACK arrives within the probe timeout (SWIM §3.1);
 *  - a failed probe makes the target suspect; the suspect refutes with a
 *    higher incarnation (SWIM §4.2); the suspicion timeout starts at a
 *    maximum and shrinks as independent accusers confirm (Lifeguard §3.2);
 *  - local health (Lifeguard §3.1): failed probes, refutations and missing
 *    NACKs raise a score that stretches the probe interval and timeout;
 *  - updates ride on every PING/ACK and on GOSSIP datagrams to a few random
 *    members, each retransmitted about λ·log(n) times (SWIM §4.1), within a
 *    1400-byte datagram;
 *  - push-pull of the full state over a stream on join and periodically,
 *    and a small, rate-limited pull from the sender of an authenticated
 *    datagram that is not a member yet (a ping from an unknown node taught
 *    nothing otherwise, and broadcasts are few in a small cluster);
 *  - graceful leave: a self-signed LEFT record, gossiped before exit.
 *
 * Every record a node says of itself is signed by it; suspect/dead claims are
 * signed by the accuser. Relays forward blobs verbatim. */
#ifndef TSC_GOSSIP_GOSSIP_H
#define TSC_GOSSIP_GOSSIP_H

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "wire/crypto.h"
#include "wire/frame.h"
#include "wire/record.h"

struct tsc_gossip;

struct tsc_gossip_config {
    uint64_t seed;               /* PRNG seed */
    uint64_t probe_interval;     /* µs; default 200 ms */
    uint64_t probe_timeout;      /* µs before PING_REQ; default 100 ms */
    unsigned indirect_checks;    /* k helpers for PING_REQ; default 3 */
    uint64_t gossip_interval;    /* µs between GOSSIP datagrams; default 100 ms */
    unsigned gossip_fanout;      /* members per GOSSIP round; default 3 */
    unsigned retransmit_mult;    /* λ; default 4 */
    unsigned suspicion_mult;     /* α: min timeout = α·log10(n)·interval; default 2 */
    unsigned suspicion_max_mult; /* β: max timeout = β·min; default 4 */
    unsigned awareness_max;      /* local health score cap; default 8 */
    uint64_t pushpull_interval;  /* µs, scaled up with log(n) above 32 nodes; default 30 s */
    uint64_t gossip_to_dead;     /* µs to keep gossiping to dead/left nodes; default 30 s */
    uint64_t reconnect_interval; /* µs between push-pulls with a random dead member,
                                    scaled like push-pull; heals partitions; default 5 s */
    size_t max_datagram;         /* sealed bytes; default TSC_WIRE_MAX_DATAGRAM */
};

/* Fill c with the defaults above. */
void tsc_gossip_config_default(struct tsc_gossip_config *c);

/* Who this node is. meta is the encoded tsc_meta (roles, labels, ready). */
struct tsc_gossip_identity {
    uint8_t pk[TSC_PK_BYTES];
    uint8_t sk[TSC_SK_BYTES];
    struct tsc_addr addr; /* advertised address (UDP and TCP, same port) */
    const uint8_t *meta;
    size_t meta_len;
    uint64_t incarnation; /* start value; the agent passes the stored one + 1 */
    uint64_t seq_start;   /* first envelope seq; must exceed any seq this
                             node id ever used (the agent passes wall-clock µs) */
};

/* Create an engine. wire (key context) must outlive the engine; identity is
 * copied. Returns 0, TSC_EINVAL or TSC_ENOMEM (errmsg says why). */
int tsc_gossip_new(struct tsc_gossip **out, const struct tsc_gossip_config *cfg,
                   const struct tsc_wire *wire, const struct tsc_gossip_identity *id, uint64_t now,
                   char *errmsg);

void tsc_gossip_free(struct tsc_gossip *g);

enum tsc_gossip_event_type {
    TSC_GOSSIP_EV_TICK = 1, /* time passed (deadline reached); no data */
    TSC_GOSSIP_EV_DATAGRAM, /* data/len: a sealed datagram received from `from` */
    TSC_GOSSIP_EV_STREAM,   /* data/len: a sealed stream frame (push-pull) */
    TSC_GOSSIP_EV_JOIN,     /* addrs/n_addrs: push-pull with these seeds */
    TSC_GOSSIP_EV_LEAVE,    /* announce LEFT and keep gossiping it briefly */
    TSC_GOSSIP_EV_SET_META, /* data/len: new encoded meta; re-sign, bump incarnation */
};

struct tsc_gossip_event {
    int type;
    uint64_t now;
    struct tsc_addr from;
    const uint8_t *data;
    size_t len;
    const struct tsc_addr *addrs;
    size_t n_addrs;
};

enum tsc_gossip_out_kind {
    TSC_GOSSIP_OUT_DATAGRAM = 1, /* one UDP datagram */
    TSC_GOSSIP_OUT_STREAM,       /* one frame on a fresh stream connection */
};

struct tsc_gossip_out {
    int kind;
    struct tsc_addr to;
    const uint8_t *data; /* sealed frame; valid until the next step or free */
    size_t len;
};

/* A member whose status or incarnation changed in this step. */
struct tsc_gossip_change {
    uint64_t id;
    struct tsc_addr addr;
    uint64_t incarnation;
    uint8_t old_status; /* 255 when the member is new */
    uint8_t new_status;
};

/* Everything one step produced. All arrays are owned by the engine and valid
 * until the next step or tsc_gossip_free. */
struct tsc_gossip_update {
    const struct tsc_gossip_out *out;
    size_t n_out;
    const struct tsc_gossip_change *changes;
    size_t n_changes;
    uint64_t next_deadline; /* absolute µs: step again (TICK) no later than this */
    int leave_done;         /* after LEAVE: the announcement went out; safe to exit */
};

/* Apply one event. Bad input is counted in the stats and otherwise ignored:
 * the return value is 0 for every datagram or stream frame, however broken.
 * Returns TSC_EINVAL for a bad event, TSC_ENOMEM when out of memory (the
 * engine stays consistent; the event may be partly applied). */
int tsc_gossip_step(struct tsc_gossip *g, const struct tsc_gossip_event *ev,
                    struct tsc_gossip_update *up);

/* Counters for operators and tests. */
struct tsc_gossip_stats {
    uint64_t rx_datagrams, rx_streams, tx_datagrams, tx_streams;
    uint64_t rx_bytes, tx_bytes;
    uint64_t rejected;        /* sum of the reasons below */
    uint64_t rejected_auth;   /* wrong key or tampered (TSC_EAUTH) */
    uint64_t rejected_replay; /* duplicate or stale sequence */
    uint64_t rejected_malformed;
    uint64_t rejected_cluster; /* another cluster id */
    uint64_t rejected_sig;     /* a record or claim with a bad signature */
    uint64_t refutations;      /* times this node refuted a suspicion of itself */
    uint64_t probes, probes_failed;
    unsigned health; /* current local health score (Lifeguard) */
};

const struct tsc_gossip_stats *tsc_gossip_stats(const struct tsc_gossip *g);

/* Read-only view of one member (including this node). */
struct tsc_gossip_member {
    uint64_t id;
    const uint8_t *pk;
    struct tsc_addr addr;
    uint64_t incarnation;
    uint8_t status;        /* enum tsc_status as this node currently sees it */
    uint64_t status_since; /* µs, when this node last changed the status */
    const uint8_t *record; /* the signed record blob (for meta, persistence) */
    size_t record_len;
    int is_self;
};

uint64_t tsc_gossip_self_id(const struct tsc_gossip *g);
size_t tsc_gossip_count(const struct tsc_gossip *g);
/* i in [0, count): members in a stable order (insertion order). 0 or TSC_ENOTFOUND. */
int tsc_gossip_member_at(const struct tsc_gossip *g, size_t i, struct tsc_gossip_member *m);
/* Look a member up by id. 0 or TSC_ENOTFOUND. */
int tsc_gossip_member_find(const struct tsc_gossip *g, uint64_t id, struct tsc_gossip_member *m);
/* Number of members with the given status. */
size_t tsc_gossip_count_status(const struct tsc_gossip *g, int status);

#endif
