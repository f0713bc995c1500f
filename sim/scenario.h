/* tsc — pieces the scenarios share (scenario.c, campaign.c). Internal to
 * the simulator library. */
#ifndef TSC_SIM_SCENARIO_H
#define TSC_SIM_SCENARIO_H

#include <stdio.h>

#include "sim/sim.h"
#include "sim/world.h"

/* Wall-clock seconds on a monotonic clock (the driver may read a clock). */
double tsc__sim_wall(void);

/* Create the world for one seed from the options (crypto, probe interval,
 * loss, duplication). trace is borrowed (may be NULL). 0 or an error. */
int tsc__sim_setup(const struct tsc_sim_opts *o, uint64_t seed, FILE *trace,
                   struct tsc_sim_world **w, char *errmsg);

/* Start every node at staggered times, each joining node 0 and two random
 * earlier nodes, then have each push-pull with node 0 once more (node 0
 * knows everyone by then), and run until every node sees every node alive.
 * Sets r->bootstrap_s. Returns 0, TSC_ETIMEDOUT (with an explanation in
 * errmsg) or a fatal error. */
int tsc__sim_bootstrap(struct tsc_sim_world *w, const struct tsc_sim_opts *o,
                       struct tsc_sim_result *r, char *errmsg);

/* Run in one-second slices until the nodes send hardly more than their
 * probes or their datagrams are no longer full (the gossip queues filled by
 * the bootstrap have drained), at most 60 virtual seconds. Sets
 * r->quiesce_s. */
int tsc__sim_quiesce(struct tsc_sim_world *w, const struct tsc_sim_opts *o,
                     struct tsc_sim_result *r, char *errmsg);

/* Run until virtual time `until`; prints progress with o->verbose. */
int tsc__sim_run_for(struct tsc_sim_world *w, const struct tsc_sim_opts *o, uint64_t until,
                     tsc_sim_pred_fn pred, void *arg, int *met, char *errmsg);

/* Add the world's counters (events, trace hash, violations) to r. */
void tsc__sim_collect(struct tsc_sim_world *w, struct tsc_sim_result *r);

/* Reset r (times to -1 = never), note the wall clock, open o->trace_path
 * into *trace (NULL without one). 0 or TSC_EIO with errmsg. */
int tsc__sim_begin(const struct tsc_sim_opts *o, struct tsc_sim_result *r, FILE **trace,
                   char *errmsg);

/* Close the trace, compute wall_s and events_per_s; a violation clears ok. */
void tsc__sim_end(struct tsc_sim_result *r, FILE *trace);

/* The gossip config the options give (engine defaults, probe interval). */
void tsc__sim_gossip_config(const struct tsc_sim_opts *o, struct tsc_gossip_config *c);

#endif
