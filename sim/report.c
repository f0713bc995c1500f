/* tsc — printing a scenario's result: one JSON object on one line (--json),
 * or aligned "key: value" lines for people. The keys are the same in both;
 * scripts and checks depend on them, so they are spelled exactly as the
 * issue names them (rounds_9999, detect_max_s, reconverge_s, ...). Times
 * that never happened (-1) print as null. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "sim/sim.h"
#include "sim/stats.h"

struct emit {
    FILE *f;
    int json;
    int first;
};

static void key(struct emit *e, const char *k)
{
    if (e->json) {
        fputs(e->first ? "{" : ",", e->f);
        fprintf(e->f, "\"%s\":", k);
    } else {
        fprintf(e->f, "%-22s ", k);
    }
    e->first = 0;
}

static void end_value(struct emit *e)
{
    if (!e->json)
        fputc('\n', e->f);
}

static void num(struct emit *e, const char *k, double v, int digits)
{
    key(e, k);
    if (e->json)
        tsc_sim_json_num(e->f, v, digits);
    else if (isnan(v) || v < 0)
        fputs("-", e->f);
    else
        fprintf(e->f, "%.*f", digits, v);
    end_value(e);
}

static void u64(struct emit *e, const char *k, uint64_t v)
{
    key(e, k);
    fprintf(e->f, "%" PRIu64, v);
    end_value(e);
}

static void i32(struct emit *e, const char *k, int v)
{
    key(e, k);
    if (v < 0)
        fputs(e->json ? "null" : "-", e->f);
    else
        fprintf(e->f, "%d", v);
    end_value(e);
}

static void str(struct emit *e, const char *k, const char *s)
{
    key(e, k);
    if (e->json)
        tsc_sim_json_str(e->f, s);
    else
        fputs(s ? s : "-", e->f);
    end_value(e);
}

static void boolean(struct emit *e, const char *k, int v)
{
    key(e, k);
    fputs(v ? "true" : "false", e->f);
    end_value(e);
}

void tsc_sim_report(FILE *f, const struct tsc_sim_opts *o, const struct tsc_sim_result *r)
{
    struct emit e = {.f = f, .json = o->json, .first = 1};
    char hash[24];
    snprintf(hash, sizeof(hash), "%016" PRIx64, r->trace_hash);

    str(&e, "scenario", tsc_sim_scenario_name(o->scenario));
    u64(&e, "nodes", o->nodes);
    int multi = o->scenario == TSC_SIM_CAMPAIGN || o->scenario == TSC_SIM_FAILOVER;
    if (!multi)
        u64(&e, "seed", o->seed);
    str(&e, "crypto", o->crypto == TSC_SIM_CRYPTO_SODIUM ? "sodium" : "cheap");
    u64(&e, "probe_interval_ms", o->probe_interval_ms ? o->probe_interval_ms : 200);
    if (!multi) {
        num(&e, "loss", o->loss, 4);
        num(&e, "bootstrap_s", r->bootstrap_s, 3);
        if (o->scenario != TSC_SIM_ELECTION && o->scenario != TSC_SIM_BARRIER)
            num(&e, "quiesce_s", r->quiesce_s, 1);
    }
    int elect = o->scenario == TSC_SIM_ELECTION || o->scenario == TSC_SIM_FAILOVER ||
                o->scenario == TSC_SIM_BARRIER ||
                (o->scenario == TSC_SIM_CAMPAIGN && o->voters > 0);
    if (elect) {
        u64(&e, "voters", o->voters);
        num(&e, "drift", o->drift, 4);
        num(&e, "lease_ms", (double)r->lease_us / 1e3, 3);
    }
    switch (o->scenario) {
    case TSC_SIM_CONVERGE:
        i32(&e, "rounds_99", r->rounds_99);
        i32(&e, "rounds_9999", r->rounds_9999);
        i32(&e, "rounds_100", r->rounds_100);
        num(&e, "seconds_99", r->seconds_99, 6);
        num(&e, "seconds_9999", r->seconds_9999, 6);
        num(&e, "seconds_100", r->seconds_100, 6);
        num(&e, "msgs_per_node_per_s", r->msgs_per_node_per_s, 2);
        num(&e, "bytes_per_node_per_s", r->bytes_per_node_per_s, 1);
        break;
    case TSC_SIM_CRASH:
        u64(&e, "killed", r->killed);
        u64(&e, "detected", r->detected);
        num(&e, "detect_p50_s", r->detect_p50_s, 6);
        num(&e, "detect_max_s", r->detect_max_s, 6);
        u64(&e, "false_positives", r->false_positives);
        u64(&e, "suspicions", r->suspicions);
        num(&e, "duration_s", o->duration_s, 1);
        break;
    case TSC_SIM_PARTITION:
        num(&e, "detect_s", r->detect_s, 6);
        num(&e, "reconverge_s", r->reconverge_s, 6);
        u64(&e, "false_positives", r->false_positives);
        u64(&e, "heal_dead_marks", r->heal_dead_marks);
        break;
    case TSC_SIM_ELECTION:
        num(&e, "first_coordinator_s", r->first_coordinator_s, 6);
        u64(&e, "term", r->term);
        break;
    case TSC_SIM_FAILOVER:
        u64(&e, "seeds", r->seeds);
        u64(&e, "seed_first", o->seed_first);
        u64(&e, "seed_last", o->seed_last);
        u64(&e, "failovers", r->failovers);
        num(&e, "failover_p50_s", r->failover_p50_s, 6);
        num(&e, "failover_p99_s", r->failover_p99_s, 6);
        num(&e, "failover_max_s", r->failover_max_s, 6);
        u64(&e, "term", r->term);
        u64(&e, "failing_seeds", r->failing_seeds);
        str(&e, "replay", r->has_failing ? r->replay : NULL);
        break;
    case TSC_SIM_CAMPAIGN:
        u64(&e, "seeds", r->seeds);
        u64(&e, "seed_first", o->seed_first);
        u64(&e, "seed_last", o->seed_last);
        u64(&e, "failing_seeds", r->failing_seeds);
        key(&e, "first_failing_seed");
        if (r->has_failing)
            fprintf(f, "%" PRIu64, r->first_failing_seed);
        else
            fputs(e.json ? "null" : "-", f);
        end_value(&e);
        str(&e, "replay", r->has_failing ? r->replay : NULL);
        u64(&e, "faults", r->faults);
        num(&e, "duration_s", o->duration_s, 1);
        if (elect) {
            u64(&e, "leaderships", r->failovers);
            u64(&e, "appends", r->appends);
            u64(&e, "acked", r->acked);
        }
        if (o->runs) {
            u64(&e, "runs_submitted", r->runs_submitted);
            u64(&e, "runs_finished", r->runs_finished);
            u64(&e, "runs_passed", r->runs_passed);
            u64(&e, "runs_failed", r->runs_failed);
            u64(&e, "runs_cancelled", r->runs_cancelled);
            u64(&e, "stages_decided", r->stages_decided);
            u64(&e, "stage_spawns", r->stage_spawns);
            u64(&e, "stages_lost", r->stages_lost);
            u64(&e, "coord_kills_mid_run", r->coord_kills_mid_run);
            u64(&e, "starts_fenced", r->starts_fenced);
            u64(&e, "reports_rejected", r->reports_rejected);
        }
        break;
    case TSC_SIM_BARRIER:
        u64(&e, "participants", o->nodes);
        u64(&e, "cases", o->cases);
        u64(&e, "transitions", r->transitions);
        num(&e, "rtt_ms", r->rtt_us < 0 ? -1 : r->rtt_us / 1e3, 3);
        num(&e, "transition_p50_s", r->transition_p50_s, 6);
        num(&e, "transition_p99_s", r->transition_p99_s, 6);
        num(&e, "transition_max_s", r->transition_max_s, 6);
        num(&e, "transition_p50_rtt", r->transition_p50_rtt, 2);
        num(&e, "transition_p99_rtt", r->transition_p99_rtt, 2);
        num(&e, "transition_max_rtt", r->transition_max_rtt, 2);
        num(&e, "report_p50_rtt", r->report_p50_rtt, 2);
        num(&e, "commit_p50_rtt", r->commit_p50_rtt, 2);
        num(&e, "start_p50_rtt", r->start_p50_rtt, 2);
        num(&e, "round_ms", r->round_us / 1e3, 3);
        num(&e, "transition_p50_rounds", r->transition_p50_rounds, 2);
        num(&e, "transition_p99_rounds", r->transition_p99_rounds, 2);
        num(&e, "transition_max_rounds", r->transition_max_rounds, 2);
        num(&e, "run_s", r->run_s, 6);
        u64(&e, "runs_passed", r->runs_passed);
        u64(&e, "stage_spawns", r->stage_spawns);
        u64(&e, "term", r->term);
        break;
    default:
        break;
    }
    u64(&e, "violations", r->violations);
    str(&e, "first_violation", r->violations ? r->first_violation : NULL);
    key(&e, "violations_by_kind");
    fputs(e.json ? "{" : "", f);
    for (int k = 0, n = 0; k < TSC_SIM_KINDS; k++) {
        if (!r->violations_by_kind[k])
            continue;
        fprintf(f, e.json ? "%s\"%s\":%" PRIu64 : "%s%s=%" PRIu64, n++ ? (e.json ? "," : " ") : "",
                tsc_sim_violation_name(k), r->violations_by_kind[k]);
    }
    fputs(e.json ? "}" : "", f);
    end_value(&e);
    boolean(&e, "ok", r->ok);
    str(&e, "note", r->note[0] ? r->note : NULL);
    u64(&e, "events", r->events);
    num(&e, "events_per_s", r->events_per_s, 0);
    num(&e, "wall_s", r->wall_s, 3);
    num(&e, "virtual_s", r->virtual_s, 3);
    u64(&e, "msgs_sent", r->sent_msgs);
    u64(&e, "bytes_sent", r->sent_bytes);
    str(&e, "trace_hash", hash);
    if (e.json)
        fputs("}\n", f);
    fflush(f);
}
