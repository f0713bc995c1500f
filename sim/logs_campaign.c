/* tsc — `tscsim campaign --logs`: for each seed, three runs whose agents
 * log while a random schedule of faults plays (about two a second, for
 * duration_s virtual seconds): agent crashes (back within 8 s), kill -9 of
 * the sink and crashes of other voters (back within 8 s; at most one voter
 * down, so an election can always be won), step-downs, partitions of agents
 * and voters (symmetric or one-way, healed within 8 s; one that cuts the
 * sink from both other voters makes another voter the sink), datagram loss,
 * duplication and delay spikes. Then everything heals, every node comes
 * back, the last run ends, and within QUIET_LIMIT the final sink must have
 * finished every run and every agent every stream; the end checks follow
 * (sim/logs_check.c).
 *
 * The schedule has a PRNG of its own, seeded from the seed, like the
 * membership campaign (sim/campaign.c). */
#include <inttypes.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"
#include "sim/logs.h"
#include "sim/scenario.h"
#include "sim/stats.h"

#define QUIET_LIMIT TSC_SEC(300)
#define BACK_MAX_US 8000000 /* a crashed node is back within this, a partition healed */

enum fault {
    F_AGENT_CRASH,
    F_SINK_KILL,
    F_VOTER_CRASH,
    F_STEP_DOWN,
    F_PARTITION,
    F_HEAL,
    F_LOSS,
    F_DUP,
    F_DELAY,
    F_CALM,
    F_MAX
};

static const unsigned weight[F_MAX] = {
    [F_AGENT_CRASH] = 6, [F_SINK_KILL] = 3, [F_VOTER_CRASH] = 2, [F_STEP_DOWN] = 2,
    [F_PARTITION] = 3,   [F_HEAL] = 2,      [F_LOSS] = 3,        [F_DUP] = 2,
    [F_DELAY] = 2,       [F_CALM] = 2,
};

static double uniform(struct tsc_prng *p, double lo, double hi)
{
    return lo + (hi - lo) * tsc_prng_double(p);
}

static uint32_t voters_up(const struct tsc_sim_lworld *w)
{
    uint32_t n = 0;
    for (uint32_t v = 0; v < TSC_SIM_LOGS_VOTERS; v++)
        n += w->voters[v].up != 0;
    return n;
}

/* The sink loses its office (a partition, a step-down): another voter wins
 * an election after a delay; until then the old one goes on unaware. */
static int depose(struct tsc_sim_lworld *w, struct tsc_prng *p, double lo_us, double hi_us)
{
    if (w->sink == TSC_SIM_LOGS_NONE || voters_up(w) < 2)
        return 0;
    tsc__sim_logs_note(w, "voter %u loses the sink role", w->sink);
    w->sink = TSC_SIM_LOGS_NONE;
    w->elections++;
    return tsc_sim_heap_push(&w->heap, w->now + (uint64_t)uniform(p, lo_us, hi_us),
                             TSC_SIM_LEV_ELECT, 0, 0, w->elections);
}

static int fault(struct tsc_sim_lworld *w, struct tsc_prng *p, uint64_t *heal_at)
{
    unsigned total = 0;
    for (int f = 0; f < F_MAX; f++)
        total += weight[f];
    uint64_t x = tsc_prng_below(p, total);
    int f = 0;
    while (x >= weight[f])
        x -= weight[f++];
    switch (f) {
    case F_AGENT_CRASH: {
        uint32_t i = (uint32_t)tsc_prng_below(p, w->n_agents);
        if (!w->agents[i].up)
            return 0;
        tsc__sim_logs_agent_crash(w, i);
        return tsc_sim_heap_push(&w->heap, w->now + (uint64_t)uniform(p, 3e5, BACK_MAX_US),
                                 TSC_SIM_LEV_ARESTART, i, w->agents[i].life, 0);
    }
    case F_SINK_KILL:
    case F_VOTER_CRASH: {
        if (voters_up(w) < TSC_SIM_LOGS_VOTERS || w->sink == TSC_SIM_LOGS_NONE)
            return 0;
        uint32_t v = w->sink;
        if (f == F_VOTER_CRASH)
            v = (v + 1 + (uint32_t)tsc_prng_below(p, TSC_SIM_LOGS_VOTERS - 1)) %
                TSC_SIM_LOGS_VOTERS;
        tsc__sim_logs_voter_crash(w, v);
        return tsc_sim_heap_push(&w->heap, w->now + (uint64_t)uniform(p, 1e6, BACK_MAX_US),
                                 TSC_SIM_LEV_VRESTART, v, w->voters[v].life, 0);
    }
    case F_STEP_DOWN:
        return depose(w, p, 5e4, 5e5);
    case F_PARTITION: {
        uint32_t n = w->n_agents + TSC_SIM_LOGS_VOTERS;
        uint16_t *g = tsc_calloc(n, sizeof *g);
        if (!g)
            return TSC_ENOMEM;
        unsigned groups = 2 + (unsigned)tsc_prng_below(p, 2);
        for (uint32_t k = 0; k < n; k++)
            g[k] = (uint16_t)tsc_prng_below(p, groups);
        int asym = tsc_prng_double(p) < 0.3;
        tsc_sim_net_partition(&w->net, g, asym);
        tsc_free(g);
        *heal_at = w->now + (uint64_t)uniform(p, 1e6, BACK_MAX_US);
        w->r->partitions++;
        tsc__sim_logs_note(w, "partition%s into %u groups", asym ? " (one-way)" : "", groups);
        if (w->sink == TSC_SIM_LOGS_NONE)
            return 0;
        /* Cut from both other voters: the sink cannot keep its lease. */
        uint32_t s = w->n_agents + w->sink, cut = 0;
        for (uint32_t v = 0; v < TSC_SIM_LOGS_VOTERS; v++)
            if (v != w->sink && (tsc_sim_net_cut(&w->net, s, w->n_agents + v) ||
                                 tsc_sim_net_cut(&w->net, w->n_agents + v, s)))
                cut++;
        return cut == TSC_SIM_LOGS_VOTERS - 1 ? depose(w, p, 3e5, 1.5e6) : 0;
    }
    case F_HEAL:
        tsc_sim_net_heal(&w->net);
        tsc__sim_logs_note(w, "heal");
        return 0;
    case F_LOSS:
        w->net.cfg.loss = uniform(p, 0, 0.3);
        tsc__sim_logs_note(w, "loss %.3f", w->net.cfg.loss);
        return 0;
    case F_DUP:
        w->net.cfg.dup = uniform(p, 0, 0.2);
        tsc__sim_logs_note(w, "dup %.3f", w->net.cfg.dup);
        return 0;
    case F_DELAY:
        w->net.cfg.delay_p = uniform(p, 0, 0.3);
        w->net.cfg.delay_max_us = (uint64_t)uniform(p, 1e3, 500e3);
        tsc__sim_logs_note(w, "delay %" PRIu64 " us", w->net.cfg.delay_max_us);
        return 0;
    case F_CALM:
        w->net.cfg = w->net_cfg;
        tsc__sim_logs_note(w, "calm");
        return 0;
    default:
        return 0;
    }
}

/* Three runs, each on 2..N random agents; the first two end while the
 * faults last, the third when they stop. */
static int plan_runs(struct tsc_sim_lworld *w, struct tsc_prng *p, uint64_t start, uint64_t dur)
{
    static const double at[TSC_SIM_LOGS_RUNS][2] = {{0.02, 0.5}, {0.2, 0.85}, {0.4, -1}};
    for (uint32_t r = 0; r < TSC_SIM_LOGS_RUNS; r++) {
        struct tsc_sim_lrun *run = &w->runs[r];
        run->id = r + 1;
        uint32_t want = 2 + (uint32_t)tsc_prng_below(p, w->n_agents - 1);
        if (w->o->drop_seq && r == w->o->drop_run) {
            /* The record to drop must exist: its agent takes part. */
            run->part[w->o->drop_agent] = 1;
            run->nodes[run->n_nodes++] = w->agents[w->o->drop_agent].id;
        }
        while (run->n_nodes < want) {
            uint32_t i = (uint32_t)tsc_prng_below(p, w->n_agents);
            if (!run->part[i]) {
                run->part[i] = 1;
                run->nodes[run->n_nodes++] = w->agents[i].id;
            }
        }
        run->start_at = start + (uint64_t)(at[r][0] * (double)dur);
        int rc = tsc_sim_heap_push(&w->heap, run->start_at, TSC_SIM_LEV_RUN, 0, 0, r);
        if (rc == 0 && at[r][1] > 0)
            rc = tsc_sim_heap_push(&w->heap, start + (uint64_t)(at[r][1] * (double)dur),
                                   TSC_SIM_LEV_RUN, 0, 1, r);
        if (rc)
            return rc;
    }
    return 0;
}

static int one_seed(const struct tsc_sim_logs_opts *o, uint64_t seed, FILE *trace,
                    struct tsc_sim_logs_result *r, uint64_t *violations, char *errmsg)
{
    struct tsc_sim_lworld *w = NULL;
    if (trace)
        fprintf(trace, "# seed %" PRIu64 "\n", seed);
    int rc = tsc__sim_logs_new(&w, o, seed, trace, r, errmsg);
    if (rc)
        return rc;
    struct tsc_prng p;
    tsc_prng_seed(&p, tsc_sim_hash_u64(seed, 0x6c6f6763616d70ull));
    uint64_t dur = (uint64_t)(o->duration_s * 1e6);
    for (uint32_t v = 0; v < TSC_SIM_LOGS_VOTERS; v++)
        w->voters[v].up = 1;
    for (uint32_t i = 0; i < w->n_agents; i++)
        tsc__sim_logs_dbg(w, "agent %u is %016" PRIx64, i, w->agents[i].id);
    rc = tsc__sim_logs_takeover(w, 0);
    for (uint32_t i = 0; i < w->n_agents && rc == 0; i++)
        rc = tsc__sim_logs_agent_start(w, i);
    if (rc == 0)
        rc = plan_runs(w, &p, w->now, dur);
    uint64_t end = w->now + dur, heal_at = TSC_TIME_NEVER, t = w->now;
    while (rc == 0 && !o->no_faults) {
        t += (uint64_t)uniform(&p, 0, 1e6);
        if (heal_at < t && heal_at < end) {
            rc = tsc__sim_logs_run(w, heal_at, NULL, NULL);
            tsc_sim_net_heal(&w->net);
            tsc__sim_logs_note(w, "heal");
            heal_at = TSC_TIME_NEVER;
        }
        if (t >= end || rc)
            break;
        rc = tsc__sim_logs_run(w, t, NULL, NULL);
        if (rc == 0)
            rc = fault(w, &p, &heal_at);
        r->faults++;
    }
    if (rc == 0)
        rc = tsc__sim_logs_run(w, end, NULL, NULL);
    /* The faults stop: heal, everyone back, the last run ends. */
    if (rc == 0) {
        tsc_sim_net_heal(&w->net);
        w->net.cfg = w->net_cfg;
        tsc__sim_logs_note(w, "quiet");
        for (uint32_t v = 0; v < TSC_SIM_LOGS_VOTERS && rc == 0; v++)
            if (!w->voters[v].up)
                rc = tsc__sim_logs_voter_restart(w, v);
        for (uint32_t i = 0; i < w->n_agents && rc == 0; i++)
            if (!w->agents[i].up)
                rc = tsc__sim_logs_agent_start(w, i);
        for (uint32_t k = 0; k < TSC_SIM_LOGS_RUNS && rc == 0; k++)
            if (!w->runs[k].ended)
                rc = tsc_sim_heap_push(&w->heap, w->now, TSC_SIM_LEV_RUN, 0, 1, k);
    }
    int met = 0;
    if (rc == 0)
        rc = tsc__sim_logs_run(w, w->now + QUIET_LIMIT, tsc__sim_logs_quiet, &met);
    if (rc == 0)
        tsc__sim_logs_check_end(w, met);
    if (rc && !errmsg[0])
        tsc_errmsg_setf(errmsg, "%s", w->errmsg[0] ? w->errmsg : tsc_strerror(rc));
    if (rc)
        tsc_errmsg_wrapf(errmsg, "seed %" PRIu64, seed);
    for (uint32_t i = 0; i < w->n_agents; i++)
        if (w->agents[i].ship)
            r->resent += tsc_logship_stats(w->agents[i].ship)->resent;
    r->virtual_s += (double)w->now / 1e6;
    r->trace_hash = tsc_sim_hash_u64(r->trace_hash, w->trace_hash);
    *violations = w->violations;
    tsc__sim_logs_free(w);
    return rc;
}

int tsc_sim_logs_campaign(const struct tsc_sim_logs_opts *o, struct tsc_sim_logs_result *r,
                          char *errmsg)
{
    memset(r, 0, sizeof *r);
    r->trace_hash = TSC_SIM_HASH_INIT;
    double t0 = tsc__sim_wall();
    if (o->agents < 2 || o->agents > TSC_SIM_LOGS_MAX_AGENTS) {
        tsc_errmsg_setf(errmsg, "--logs: --nodes must be 2..%d agents", TSC_SIM_LOGS_MAX_AGENTS);
        return TSC_EINVAL;
    }
    if (o->drop_seq && (o->drop_run >= TSC_SIM_LOGS_RUNS || o->drop_agent >= o->agents)) {
        tsc_errmsg_setf(errmsg, "--logs: the record to drop is outside the world");
        return TSC_EINVAL;
    }
    FILE *trace = NULL;
    if (o->trace_path && !(trace = fopen(o->trace_path, "w"))) {
        tsc_errmsg_setf(errmsg, "--trace %s: cannot open for writing", o->trace_path);
        return TSC_EIO;
    }
    int rc = 0;
    for (uint64_t seed = o->seed_first;; seed++) {
        uint64_t v = 0;
        rc = one_seed(o, seed, trace, r, &v, errmsg);
        r->seeds++;
        if ((v || rc) && !r->has_failing) {
            r->has_failing = 1;
            r->first_failing_seed = seed;
            char extra[64] = "";
            snprintf(extra, sizeof extra, "%s", o->merge_defaults ? " --merge-defaults" : "");
            if (o->duration_s != 20)
                snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " --duration %g",
                         o->duration_s);
            snprintf(r->replay, sizeof r->replay,
                     "tscsim campaign --logs --seeds %" PRIu64 "..%" PRIu64 " --nodes %u%s", seed,
                     seed, o->agents, extra);
        }
        r->failing_seeds += v || rc;
        if (o->verbose)
            fprintf(stderr, "tscsim: logs seed %" PRIu64 ": %" PRIu64 " violations%s\n", seed, v,
                    rc ? " (aborted)" : "");
        if (rc || seed == o->seed_last)
            break;
    }
    if (trace)
        fclose(trace);
    r->wall_s = tsc__sim_wall() - t0;
    r->ok = rc == 0 && r->failing_seeds == 0;
    if (!r->ok && !r->note[0])
        snprintf(r->note, sizeof r->note, "%" PRIu64 " of %" PRIu64 " seeds failed",
                 r->failing_seeds, r->seeds);
    return rc;
}

/* ---- the report ---------------------------------------------------------------------- */

struct emit {
    FILE *f;
    int json, first;
};

static void key(struct emit *e, const char *k)
{
    if (e->json)
        fprintf(e->f, "%s\"%s\":", e->first ? "{" : ",", k);
    else
        fprintf(e->f, "%-22s ", k);
    e->first = 0;
}

static void u64(struct emit *e, const char *k, uint64_t v)
{
    key(e, k);
    fprintf(e->f, "%" PRIu64 "%s", v, e->json ? "" : "\n");
}

static void num(struct emit *e, const char *k, double v, int digits)
{
    key(e, k);
    if (e->json)
        tsc_sim_json_num(e->f, v, digits);
    else
        fprintf(e->f, "%.*f\n", digits, v);
}

static void str(struct emit *e, const char *k, const char *s)
{
    key(e, k);
    if (e->json)
        tsc_sim_json_str(e->f, s);
    else
        fprintf(e->f, "%s\n", s && *s ? s : "-");
}

void tsc_sim_logs_report(FILE *f, const struct tsc_sim_logs_opts *o,
                         const struct tsc_sim_logs_result *r)
{
    struct emit e = {.f = f, .json = o->json, .first = 1};
    char hash[24];
    snprintf(hash, sizeof hash, "%016" PRIx64, r->trace_hash);
    str(&e, "scenario", "campaign");
    str(&e, "mode", o->merge_defaults ? "logs, merge defaults" : "logs");
    u64(&e, "nodes", o->agents);
    u64(&e, "voters", TSC_SIM_LOGS_VOTERS);
    num(&e, "duration_s", o->duration_s, 1);
    u64(&e, "seeds", r->seeds);
    u64(&e, "failing_seeds", r->failing_seeds);
    u64(&e, "records", r->records);
    u64(&e, "records_stored", r->stored);
    u64(&e, "records_dropped", r->dropped);
    u64(&e, "messages", r->messages);
    u64(&e, "batches", r->batches);
    u64(&e, "batches_lost", r->batches_lost);
    u64(&e, "probes", r->probes);
    u64(&e, "resent", r->resent);
    u64(&e, "acks", r->acks);
    u64(&e, "acks_lost", r->acks_lost);
    u64(&e, "failovers", r->failovers);
    u64(&e, "sink_kills", r->sink_kills);
    u64(&e, "voter_crashes", r->voter_crashes);
    u64(&e, "agent_restarts", r->agent_restarts);
    u64(&e, "partitions", r->partitions);
    u64(&e, "faults", r->faults);
    u64(&e, "merge_errors", r->merge_errors);
    u64(&e, "gaps", r->gaps);
    u64(&e, "violations", r->violations);
    for (int k = 0; k < TSC_SIM_LV_MAX; k++)
        if (r->by_kind[k]) {
            char name[48];
            snprintf(name, sizeof name, "violations_%s", tsc_sim_logs_violation_name(k));
            u64(&e, name, r->by_kind[k]);
        }
    str(&e, "first_violation", r->first_violation);
    str(&e, "replay", r->replay);
    u64(&e, "events", r->events);
    num(&e, "virtual_s", r->virtual_s, 1);
    num(&e, "wall_s", r->wall_s, 3);
    str(&e, "trace_hash", hash);
    key(&e, "ok");
    fprintf(f, "%s%s", r->ok ? "true" : "false", e.json ? "" : "\n");
    str(&e, "note", r->note);
    if (e.json)
        fputs("}\n", f);
}

/* ---- the command line ------------------------------------------------------------------ */

int tsc_sim_logs_main(int argc, char **argv)
{
    int at = 0, nodes = 0, defaults = -1;
    for (int k = 2; argc >= 2 && !strcmp(argv[1], "campaign") && k < argc; k++) {
        if (!strcmp(argv[k], "--logs"))
            at = k;
        else if (!strcmp(argv[k], "--merge-defaults"))
            defaults = k;
        else if (!strncmp(argv[k], "--nodes", 7))
            nodes = 1;
    }
    if (!at)
        return -1;
    static const char *const other[] = {
        "--runs", "--voters", "--drift", "--lease-ms", "--probe-interval-ms", "--crypto"};
    char **args = tsc_calloc((size_t)argc, sizeof *args);
    if (!args)
        return 3;
    int n = 0;
    for (int k = 0; k < argc; k++) {
        for (size_t j = 0; k > 1 && j < sizeof other / sizeof other[0]; j++)
            if (!strncmp(argv[k], other[j], strlen(other[j]))) {
                fprintf(stderr, "tscsim: %s does not apply to campaign --logs\n", other[j]);
                tsc_free(args);
                return 2;
            }
        if (k != at && k != defaults)
            args[n++] = argv[k];
    }
    struct tsc_sim_opts so;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    int rc = tsc_sim_args_parse(&so, n, args, errmsg);
    tsc_free(args);
    if (rc) {
        fprintf(stderr, "tscsim: %s\ntry 'tscsim --help'\n", errmsg);
        return 2;
    }
    if (so.help) {
        tsc_sim_usage(stdout);
        return 0;
    }
    struct tsc_sim_logs_opts o;
    tsc_sim_logs_opts_default(&o);
    o.seed_first = so.seed_first;
    o.seed_last = so.seed_last;
    o.duration_s = so.duration_s;
    o.json = so.json;
    o.verbose = so.verbose;
    o.trace_path = so.trace_path;
    o.merge_defaults = defaults > 0;
    if (nodes)
        o.agents = so.nodes;
    if (o.agents > TSC_SIM_LOGS_MAX_AGENTS) {
        fprintf(stderr, "tscsim: campaign --logs: --nodes is 3..%d agents\n",
                TSC_SIM_LOGS_MAX_AGENTS);
        return 2;
    }
    static struct tsc_sim_logs_result r;
    rc = tsc_sim_logs_campaign(&o, &r, errmsg);
    if (rc) {
        fprintf(stderr, "tscsim: campaign --logs: %s\n", errmsg);
        if (!r.note[0])
            snprintf(r.note, sizeof r.note, "%s", errmsg);
        r.ok = 0;
    }
    tsc_sim_logs_report(stdout, &o, &r);
    return rc ? 3 : r.ok ? 0 : 1;
}
