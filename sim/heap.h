/* tsc — the simulator's event queue: a binary min-heap ordered by
 * (time, sequence). The sequence number is assigned at push time and breaks
 * ties between events due at the same virtual microsecond in the order they
 * were scheduled, so a run never depends on how the heap happens to arrange
 * equal keys: the same pushes give the same pops, which is what makes a
 * seeded run bit-identical. */
#ifndef TSC_SIM_HEAP_H
#define TSC_SIM_HEAP_H

#include <stddef.h>
#include <stdint.h>

/* What an event does when it comes due (see sim/world.c). */
enum tsc_sim_ev_kind {
    TSC_SIM_EV_TICK = 1,  /* the node's engine deadline */
    TSC_SIM_EV_DATAGRAM,  /* deliver pool message `msg` from `from` to `node` */
    TSC_SIM_EV_STREAM,    /* deliver a stream frame (push-pull) */
    TSC_SIM_EV_START,     /* create the node's engine */
    TSC_SIM_EV_JOIN,      /* the node joins through a few live nodes */
    TSC_SIM_EV_REJOIN,    /* a restarted node that is still alone retries */
    TSC_SIM_EV_LEAVE_END, /* a leaving node stops, announced or not */
    TSC_SIM_EV_ETICK,     /* the node's election engine deadline (sim/coord.c) */
    TSC_SIM_EV_CLIENT,    /* the client appends a record through the coordinator */
    TSC_SIM_EV_RTICK,     /* the node's barrier engine deadline (sim/runs.c) */
    TSC_SIM_EV_SCRIPT,    /* a simulated script ends (`msg`: its token) */
    TSC_SIM_EV_RCLIENT,   /* the runs client submits or retries (sim/runs_client.c) */
};

struct tsc_sim_ev {
    uint64_t time; /* virtual µs */
    uint64_t seq;  /* push order; unique */
    uint32_t kind; /* enum tsc_sim_ev_kind */
    uint32_t node; /* the node the event happens at */
    uint32_t from; /* sender, for deliveries */
    uint32_t msg;  /* message pool slot, for deliveries */
};

struct tsc_sim_heap {
    struct tsc_sim_ev *v;
    size_t n;
    size_t cap;
    uint64_t next_seq;
};

/* Empty heap; no allocation. */
void tsc_sim_heap_init(struct tsc_sim_heap *h);

/* Release the storage; the heap is empty and reusable afterwards. */
void tsc_sim_heap_free(struct tsc_sim_heap *h);

/* Schedule an event; seq is assigned here. Returns 0 or TSC_ENOMEM (heap
 * unchanged). */
int tsc_sim_heap_push(struct tsc_sim_heap *h, uint64_t time, uint32_t kind, uint32_t node,
                      uint32_t from, uint32_t msg);

/* The earliest event, or NULL when empty. Valid until the next push or pop. */
const struct tsc_sim_ev *tsc_sim_heap_peek(const struct tsc_sim_heap *h);

/* Remove the earliest event into *out. Returns 0 or TSC_ENOTFOUND (empty). */
int tsc_sim_heap_pop(struct tsc_sim_heap *h, struct tsc_sim_ev *out);

static inline size_t tsc_sim_heap_size(const struct tsc_sim_heap *h)
{
    return h->n;
}

#endif
