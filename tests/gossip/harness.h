/* tsc — a tiny synchronous network for the gossip engine's unit tests: N
 * engines on a virtual clock, datagrams and streams delivered in order after
 * a fixed latency, with per-node "down" and per-link "cut" switches and a
 * tap that lets a test capture or rewrite bytes in flight. */
#ifndef TSC_TESTS_GOSSIP_HARNESS_H
#define TSC_TESTS_GOSSIP_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "gossip/gossip.h"

#define TH_MAX_NODES    16
#define TH_MAX_INFLIGHT 8192

struct th_msg {
    uint64_t at;
    int kind; /* TSC_GOSSIP_OUT_* */
    int from, to;
    uint8_t *data;
    size_t len;
};

struct th_net;
/* Return 0 to deliver (possibly after editing data/len in place, len may shrink), 1 to drop. */
typedef int (*th_tap_fn)(struct th_net *net, struct th_msg *m, void *ctx);

struct th_net {
    int n;
    uint64_t now;
    uint64_t latency;
    struct tsc_wire wire;
    struct tsc_wire other_wire; /* another cluster key */
    struct tsc_gossip_config cfg;
    struct tsc_gossip *g[TH_MAX_NODES];
    uint64_t deadline[TH_MAX_NODES];
    uint8_t pk[TH_MAX_NODES][32];
    uint8_t sk[TH_MAX_NODES][64];
    struct tsc_addr addr[TH_MAX_NODES];
    int down[TH_MAX_NODES];
    int cut[TH_MAX_NODES][TH_MAX_NODES];
    struct th_msg q[TH_MAX_INFLIGHT];
    int nq;
    th_tap_fn tap;
    void *tap_ctx;
    uint64_t max_datagram_seen;
    uint64_t delivered;
};

/* n nodes with the given config (NULL = defaults), cheap crypto unless sodium. */
void th_init(struct th_net *net, int n, const struct tsc_gossip_config *cfg, int sodium);
void th_free(struct th_net *net);
/* (Re)create node i's engine, optionally with another cluster key. */
void th_start(struct th_net *net, int i, int other_key);
void th_stop(struct th_net *net, int i); /* free the engine: like kill -9 */
/* Node i joins through node j. */
void th_join(struct th_net *net, int i, int j);
void th_event(struct th_net *net, int i, struct tsc_gossip_event *ev);
/* Run the network until `until` (absolute µs). */
void th_run_until(struct th_net *net, uint64_t until);
/* Run until cond(net, ctx) holds or `limit` µs pass; returns 1 if it held. */
int th_run_while_not(struct th_net *net, int (*cond)(struct th_net *, void *), void *ctx,
                     uint64_t limit);
/* Status of `subject` as seen by `observer`, or -1 if unknown. */
int th_status(struct th_net *net, int observer, int subject);
uint64_t th_incarnation(struct th_net *net, int observer, int subject);
/* 1 when every running node sees every running node alive. */
int th_all_alive(struct th_net *net, void *ctx);

#endif
