/* tsc — the log-shipping world of the simulator (sim/logs.h): set-up, the
 * event loop, messages on the network model, trace lines.
 *
 * The world is separate from the SWIM world (sim/world.c): log shipping
 * needs neither membership nor the real election, and a separate loop keeps
 * hundreds of seeds fast. It borrows the event heap (ordered by time, then
 * push order, so a seed is deterministic) and the network model (latency,
 * loss, duplication, partitions, crashed nodes). */
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "sim/logs.h"
#include "sim/stats.h"

void tsc_sim_logs_opts_default(struct tsc_sim_logs_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed_first = 1;
    o->seed_last = 10;
    o->agents = 5;
    o->duration_s = 20;
}

/* Node ids: distinct, spread over 64 bits so the merge's tie-break by node
 * id does not follow the index. */
static uint64_t node_id(uint64_t seed, uint32_t i)
{
    uint64_t h = tsc_sim_hash_u64(tsc_sim_hash_u64(TSC_SIM_HASH_INIT, seed), i);
    return (h & ~0xffull) | (i & 0xff) | 0x100; /* never 0, unique in the low byte */
}

int tsc__sim_logs_new(struct tsc_sim_lworld **out, const struct tsc_sim_logs_opts *o, uint64_t seed,
                      FILE *trace, struct tsc_sim_logs_result *r, char *errmsg)
{
    struct tsc_sim_lworld *w = tsc_calloc(1, sizeof *w);
    if (!w)
        return TSC_ENOMEM;
    w->o = o;
    w->seed = seed;
    w->r = r;
    w->trace = trace;
    w->trace_hash = TSC_SIM_HASH_INIT;
    w->n_agents = o->agents;
    w->sink = TSC_SIM_LOGS_NONE;
    w->free_msg = TSC_SIM_LOGS_NONE;
    tsc_prng_seed(&w->prng, tsc_sim_hash_u64(seed, 0x6c6f6773ull));
    tsc_sim_heap_init(&w->heap);
    tsc_buf_init(&w->buf);
    tsc_buf_init(&w->buf2);
    tsc_sim_net_config_default(&w->net_cfg);
    int rc = tsc_sim_net_init(&w->net, &w->net_cfg, w->n_agents + TSC_SIM_LOGS_VOTERS, &w->prng);
    w->agents = tsc_calloc(w->n_agents, sizeof *w->agents);
    if (rc || !w->agents) {
        tsc__sim_logs_free(w);
        tsc_errmsg_setf(errmsg, "logs world: out of memory");
        return TSC_ENOMEM;
    }
    for (uint32_t i = 0; i < w->n_agents; i++) {
        struct tsc_sim_lagent *a = &w->agents[i];
        a->id = node_id(seed, i);
        a->sink = TSC_SIM_LOGS_NONE;
        a->tick_at = TSC_TIME_NEVER;
        tsc_prng_seed(&a->prng, tsc_sim_hash_u64(seed, 0x1000 + i));
        for (int k = 0; k < TSC_SIM_LOGS_RUNS; k++)
            tsc_vclock_init(&a->st[k].clock);
    }
    for (uint32_t v = 0; v < TSC_SIM_LOGS_VOTERS; v++) {
        struct tsc_sim_lvoter *x = &w->voters[v];
        x->id = node_id(seed, w->n_agents + v);
        x->tick_at = TSC_TIME_NEVER;
        x->store.marks =
            tsc_calloc((size_t)w->n_agents * TSC_SIM_LOGS_RUNS, sizeof(struct tsc_sim_lmark));
        if (!x->store.marks) {
            tsc__sim_logs_free(w);
            return TSC_ENOMEM;
        }
    }
    /* Small windows and batches, so that flow control and go-back-N are
     * exercised by a few thousand records; the agent's timers. */
    tsc_logship_config_default(&w->ship_cfg);
    w->ship_cfg.window = 256;
    w->ship_cfg.batch_records = 32;
    /* The merge's bounds above the longest outage of a schedule (faults
     * last duration_s; a partition heals within 8 s, a node is back within
     * 8 s): any error is then a bug, not the bounded wait doing its job. */
    tsc_logsink_config_default(&w->sink_cfg);
    uint64_t outage = (uint64_t)(o->duration_s * 1e6) + TSC_SEC(10);
    if (!o->merge_defaults) {
        w->sink_cfg.merge.max_wait = outage + TSC_SEC(30);
        w->sink_cfg.merge.gap_wait = outage + TSC_SEC(10);
        w->sink_cfg.run_end_wait = outage + TSC_SEC(30);
    }
    *out = w;
    return 0;
}

void tsc__sim_logs_free(struct tsc_sim_lworld *w)
{
    if (!w)
        return;
    for (uint32_t i = 0; w->agents && i < w->n_agents; i++)
        tsc__sim_logs_agent_free(&w->agents[i]);
    for (uint32_t v = 0; v < TSC_SIM_LOGS_VOTERS; v++)
        tsc__sim_logs_voter_free(&w->voters[v], (size_t)w->n_agents * TSC_SIM_LOGS_RUNS);
    for (uint32_t m = 0; m < w->n_msgs; m++)
        tsc_free(w->msgs[m].data);
    tsc_free(w->msgs);
    tsc_free(w->agents);
    tsc_free(w->sinks);
    tsc_sim_heap_free(&w->heap);
    tsc_sim_net_free(&w->net);
    tsc_buf_free(&w->buf);
    tsc_buf_free(&w->buf2);
    tsc_free(w);
}

void tsc__sim_logs_note(struct tsc_sim_lworld *w, const char *fmt, ...)
{
    char line[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    w->trace_hash = tsc_sim_hash_u64(w->trace_hash, w->now);
    w->trace_hash = tsc_sim_hash(w->trace_hash, line, strlen(line));
    if (w->trace)
        fprintf(w->trace, "%.6f %s\n", (double)w->now / 1e6, line);
    unsigned k = w->n_last++ % TSC_SIM_LOGS_TRACE;
    snprintf(w->last[k], sizeof w->last[k], "%.3f %s", (double)w->now / 1e6, line);
}

void tsc__sim_logs_dbg(struct tsc_sim_lworld *w, const char *fmt, ...)
{
    if (!w->trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(w->trace, "%.6f   ", (double)w->now / 1e6);
    vfprintf(w->trace, fmt, ap);
    fputc('\n', w->trace);
    va_end(ap);
}

static uint32_t msg_slot(struct tsc_sim_lworld *w, size_t len)
{
    uint32_t m = w->free_msg;
    if (m != TSC_SIM_LOGS_NONE) {
        w->free_msg = w->msgs[m].next_free;
    } else {
        if (w->n_msgs == w->cap_msgs) {
            uint32_t cap = w->cap_msgs ? w->cap_msgs * 2 : 256;
            struct tsc_sim_lmsg *p = tsc_realloc(w->msgs, (size_t)cap * sizeof *p);
            if (!p)
                return TSC_SIM_LOGS_NONE;
            memset(p + w->n_msgs, 0, (size_t)(cap - w->n_msgs) * sizeof *p);
            w->msgs = p;
            w->cap_msgs = cap;
        }
        m = w->n_msgs++;
    }
    struct tsc_sim_lmsg *x = &w->msgs[m];
    if (x->cap < len) {
        uint8_t *d = tsc_realloc(x->data, len ? len : 1);
        if (!d) {
            x->next_free = w->free_msg;
            w->free_msg = m;
            return TSC_SIM_LOGS_NONE;
        }
        x->data = d;
        x->cap = (uint32_t)len;
    }
    return m;
}

static uint32_t life_of(const struct tsc_sim_lworld *w, uint32_t node)
{
    return node < w->n_agents ? w->agents[node].life : w->voters[node - w->n_agents].life;
}

static int up(const struct tsc_sim_lworld *w, uint32_t node)
{
    return node < w->n_agents ? w->agents[node].up : w->voters[node - w->n_agents].up;
}

int tsc__sim_logs_send(struct tsc_sim_lworld *w, uint32_t from, uint32_t to, int kind, int stream,
                       const uint8_t *data, size_t len, int *lost)
{
    uint64_t delays[2];
    unsigned copies = tsc_sim_net_route(&w->net, from, to, stream, len, delays);
    if (lost)
        *lost = copies == 0;
    for (unsigned c = 0; c < copies; c++) {
        uint32_t m = msg_slot(w, len);
        if (m == TSC_SIM_LOGS_NONE)
            return TSC_ENOMEM;
        struct tsc_sim_lmsg *x = &w->msgs[m];
        memcpy(x->data, data, len);
        x->len = (uint32_t)len;
        x->from = from;
        x->to = to;
        x->to_life = life_of(w, to);
        x->kind = (uint8_t)kind;
        x->stream = (uint8_t)stream;
        if (tsc_sim_heap_push(&w->heap, w->now + delays[c], TSC_SIM_LEV_DELIVER, to, from, m))
            return TSC_ENOMEM;
    }
    return 0;
}

int tsc__sim_logs_arm(struct tsc_sim_lworld *w, int voter, uint32_t i, uint64_t deadline)
{
    uint64_t *tick_at = voter ? &w->voters[i].tick_at : &w->agents[i].tick_at;
    uint32_t life = voter ? w->voters[i].life : w->agents[i].life;
    if (voter)
        w->voters[i].deadline = deadline;
    else
        w->agents[i].deadline = deadline;
    if (deadline == TSC_TIME_NEVER || deadline >= *tick_at)
        return 0;
    if (deadline < w->now)
        deadline = w->now;
    *tick_at = deadline;
    return tsc_sim_heap_push(&w->heap, deadline, voter ? TSC_SIM_LEV_VTICK : TSC_SIM_LEV_ATICK, i,
                             life, 0);
}

/* A TICK event: step the engine when its deadline has come, else re-arm. */
static int tick(struct tsc_sim_lworld *w, int voter, const struct tsc_sim_ev *ev)
{
    uint32_t i = ev->node;
    uint64_t *tick_at = voter ? &w->voters[i].tick_at : &w->agents[i].tick_at;
    uint64_t deadline = voter ? w->voters[i].deadline : w->agents[i].deadline;
    if (ev->from != (voter ? w->voters[i].life : w->agents[i].life) || ev->time != *tick_at)
        return 0; /* another life's, or superseded by an earlier one */
    *tick_at = TSC_TIME_NEVER;
    if (deadline > w->now)
        return tsc__sim_logs_arm(w, voter, i, deadline);
    return voter ? tsc__sim_logs_voter_tick(w, i) : tsc__sim_logs_agent_tick(w, i);
}

static int deliver(struct tsc_sim_lworld *w, const struct tsc_sim_ev *ev)
{
    struct tsc_sim_lmsg *m = &w->msgs[ev->msg];
    int rc = 0;
    /* A crash of the receiver in between loses it (a stream's connection
     * died with the process); so does a receiver that is down. */
    if (up(w, m->to) && life_of(w, m->to) == m->to_life) {
        w->trace_hash = tsc_sim_hash_u64(w->trace_hash, w->now ^ ((uint64_t)m->to << 40));
        w->trace_hash = tsc_sim_hash(w->trace_hash, m->data, m->len);
        if (m->to < w->n_agents)
            rc = tsc__sim_logs_agent_deliver(w, m->to, m);
        else
            rc = tsc__sim_logs_voter_deliver(w, m->to - w->n_agents, m);
    } else if (m->kind == TSC_SIM_LMSG_BATCH) {
        w->r->batches_lost++;
    } else if (m->kind == TSC_SIM_LMSG_ACK) {
        w->r->acks_lost++;
    }
    m->next_free = w->free_msg;
    w->free_msg = ev->msg;
    return rc;
}

static int event(struct tsc_sim_lworld *w, const struct tsc_sim_ev *ev)
{
    switch (ev->kind) {
    case TSC_SIM_LEV_ATICK:
        return tick(w, 0, ev);
    case TSC_SIM_LEV_VTICK:
        return tick(w, 1, ev);
    case TSC_SIM_LEV_DURABLE:
        if (ev->from != w->voters[ev->node].life || !w->voters[ev->node].up)
            return 0;
        return tsc__sim_logs_voter_durable(w, ev->node);
    case TSC_SIM_LEV_DELIVER:
        return deliver(w, ev);
    case TSC_SIM_LEV_PRODUCE:
        return tsc__sim_logs_agent_produce(w, ev->node);
    case TSC_SIM_LEV_SINKINFO:
        return tsc__sim_logs_agent_sink(w, ev->node, ev->msg);
    case TSC_SIM_LEV_ARESTART:
        if (w->agents[ev->node].up || ev->from != w->agents[ev->node].life)
            return 0;
        return tsc__sim_logs_agent_start(w, ev->node);
    case TSC_SIM_LEV_VRESTART:
        if (w->voters[ev->node].up || ev->from != w->voters[ev->node].life)
            return 0;
        return tsc__sim_logs_voter_restart(w, ev->node);
    case TSC_SIM_LEV_ELECT: {
        if (ev->msg != w->elections || w->sink != TSC_SIM_LOGS_NONE)
            return 0;
        /* The up voter that is not the old sink and comes first from a
         * random start: a majority of 3 needs two up voters that can talk. */
        uint32_t old = w->n_sinks ? w->sinks[w->n_sinks - 1].voter : TSC_SIM_LOGS_NONE;
        uint32_t s = (uint32_t)tsc_prng_below(&w->prng, TSC_SIM_LOGS_VOTERS);
        for (uint32_t k = 0; k < TSC_SIM_LOGS_VOTERS; k++) {
            uint32_t v = (s + k) % TSC_SIM_LOGS_VOTERS;
            if (v != old && w->voters[v].up)
                return tsc__sim_logs_takeover(w, v);
        }
        /* Nobody can take over yet: try again shortly. */
        return tsc_sim_heap_push(&w->heap, w->now + TSC_MSEC(500), TSC_SIM_LEV_ELECT, 0, 0,
                                 w->elections);
    }
    case TSC_SIM_LEV_RUN: {
        struct tsc_sim_lrun *run = &w->runs[ev->msg];
        int end = ev->from != 0;
        if (end ? run->ended : run->started)
            return 0;
        /* A run starts through a coordinator (the SUBMIT is committed and
         * its STARTs carry the term): not while there is none; and it ends
         * only after it started. */
        if (end ? !run->started : w->sink == TSC_SIM_LOGS_NONE)
            return tsc_sim_heap_push(&w->heap, w->now + TSC_MSEC(100), TSC_SIM_LEV_RUN, 0, ev->from,
                                     ev->msg);
        if (end) {
            run->ended = 1;
        } else {
            run->started = 1;
            run->start_epoch = w->sinks[w->n_sinks - 1].epoch;
        }
        tsc__sim_logs_note(w, "run %" PRIu64 " %s", run->id, end ? "ends" : "starts");
        for (uint32_t i = 0; i < w->n_agents; i++) {
            int rc = run->part[i] ? tsc__sim_logs_agent_run(w, i, ev->msg, end) : 0;
            if (rc)
                return rc;
        }
        return tsc__sim_logs_voter_run(w, ev->msg, end);
    }
    default:
        return 0;
    }
}

int tsc__sim_logs_run(struct tsc_sim_lworld *w, uint64_t until,
                      int (*pred)(struct tsc_sim_lworld *), int *met)
{
    uint64_t next_check = w->now;
    if (met)
        *met = 0;
    for (;;) {
        if (pred && w->now >= next_check) {
            if (pred(w)) {
                if (met)
                    *met = 1;
                return 0;
            }
            next_check = w->now + TSC_MSEC(100);
        }
        const struct tsc_sim_ev *top = tsc_sim_heap_peek(&w->heap);
        uint64_t stop = pred && next_check < until ? next_check : until;
        if (!top || top->time > stop) {
            w->now = stop;
            if (stop == until) {
                if (pred && pred(w) && met)
                    *met = 1;
                return 0;
            }
            continue;
        }
        struct tsc_sim_ev ev;
        tsc_sim_heap_pop(&w->heap, &ev);
        if (ev.time > w->now)
            w->now = ev.time;
        w->r->events++;
        int rc = event(w, &ev);
        if (rc == 0 && w->err)
            rc = w->err;
        if (rc) {
            w->err = rc;
            return rc;
        }
    }
}
