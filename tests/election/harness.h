/* tsc — a small network for the election engine's unit tests: N engines on
 * one virtual clock, messages delayed by a random latency, lost or
 * duplicated at random, links cut per direction, nodes crashed and restarted
 * from their own "disk" (the persistence the updates ask for). After every
 * step it checks Raft's safety properties and records the first violation:
 *   - election safety: at most one leader per term (Raft §5.2);
 *   - at most one ACTING leader (inside its lease) at any instant;
 *   - one vote per term on disk; terms on disk never fall;
 *   - state machine safety: every node reports the same committed entry at
 *     each index (§5.4.3), so no acknowledged record is lost or changed;
 *   - leader completeness: a new leader holds every committed entry (§5.4);
 *   - the disk log equals the engine's log (length and last term). */
#ifndef TSC_TESTS_ELECTION_HARNESS_H
#define TSC_TESTS_ELECTION_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "common/prng.h"
#include "gossip/election.h"

#define EH_MAX_NODES 9

struct eh_msg {
    uint64_t at;
    int kind; /* TSC_ELECTION_OUT_* */
    int from, to;
    uint8_t *data;
    size_t len;
};

struct eh_disk {
    uint64_t term, voted_for, commit;
    struct tsc_election_entry *log; /* data owned */
    size_t n, cap;
};

struct eh_net;
/* Return 0 to deliver (possibly after editing data/len in place), 1 to drop. */
typedef int (*eh_tap_fn)(struct eh_net *net, struct eh_msg *m, void *ctx);

struct eh_net {
    int n, n_voters;
    uint64_t now;
    struct tsc_wire wire, other_wire;
    struct tsc_election_config cfg;
    struct tsc_prng prng; /* faults and latency */
    uint64_t lat_min, lat_max;
    double loss, dup;
    struct tsc_election *e[EH_MAX_NODES];
    uint64_t deadline[EH_MAX_NODES];
    uint64_t id[EH_MAX_NODES];
    struct tsc_addr addr[EH_MAX_NODES];
    int down[EH_MAX_NODES];
    int cut[EH_MAX_NODES][EH_MAX_NODES]; /* cut[a][b]: a's messages do not reach b */
    int restarts;
    struct eh_disk disk[EH_MAX_NODES];
    struct eh_msg *q;
    size_t nq, capq;
    eh_tap_fn tap;
    void *tap_ctx;
    /* invariant state */
    uint64_t *term_leader; /* leader id per term */
    size_t cap_terms;
    struct tsc_election_entry *acked; /* the committed log as reported */
    size_t n_acked, cap_acked;
    int violations;
    char first_violation[256];
    uint64_t steps, delivered, max_datagram_seen, streams_seen;
};

/* n nodes, the first n_voters of them bootstrapped as the voter set; cfg may
 * be NULL (defaults); latency uniform in [lat_min, lat_max). */
void eh_init(struct eh_net *net, int n, int n_voters, const struct tsc_election_config *cfg,
             uint64_t seed, uint64_t lat_min, uint64_t lat_max);
void eh_free(struct eh_net *net);
/* (Re)start node i from its disk: a new engine fed term, vote and log. */
void eh_start(struct eh_net *net, int i);
void eh_crash(struct eh_net *net, int i); /* like kill -9; the disk survives */
/* Step node i with ev (now is filled in); returns the engine's result. */
int eh_event(struct eh_net *net, int i, struct tsc_election_event *ev,
             struct tsc_election_update *up);
/* Deliver raw bytes to node i as if from node `from` (garbage tests). */
void eh_inject(struct eh_net *net, int from, int i, const uint8_t *data, size_t len);
void eh_run_until(struct eh_net *net, uint64_t until);
/* Run until cond holds or `limit` µs pass; 1 if it held. Checks every ms. */
int eh_run_while_not(struct eh_net *net, int (*cond)(struct eh_net *, void *), void *ctx,
                     uint64_t limit);
/* Cut both directions between the nodes in mask and the others. */
void eh_isolate(struct eh_net *net, unsigned mask);
void eh_heal(struct eh_net *net);

/* The index of the leader that every running voter agrees on and that is
 * acting, or -1. */
int eh_agreed_leader(struct eh_net *net);
int eh_has_agreed_leader(struct eh_net *net, void *ctx);
int eh_count_leaders(struct eh_net *net);
int eh_index_of(struct eh_net *net, uint64_t id);
/* Append a record at the current leader (if any). 0 when accepted. */
int eh_append(struct eh_net *net, const char *text);
/* Check that logs agree (Log Matching, §5.3) and that every running node
 * whose log reaches an acked index has the acked entry there. */
void eh_check_logs(struct eh_net *net);

#endif
