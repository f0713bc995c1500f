/* tsc — tscsim's command line. Strict: an unknown flag, a flag that does
 * not apply to the scenario, a malformed or out-of-range number is an error
 * with a message that names the flag (main turns it into exit status 2). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"
#include "sim/world.h"

static const char *const scenario_names[] = {
    [TSC_SIM_CONVERGE] = "converge",   [TSC_SIM_CRASH] = "crash",
    [TSC_SIM_PARTITION] = "partition", [TSC_SIM_CAMPAIGN] = "campaign",
    [TSC_SIM_ELECTION] = "election",   [TSC_SIM_FAILOVER] = "failover",
    [TSC_SIM_BARRIER] = "barrier",
};

const char *tsc_sim_scenario_name(int scenario)
{
    if (scenario < TSC_SIM_CONVERGE || scenario > TSC_SIM_SCENARIO_MAX)
        return NULL;
    return scenario_names[scenario];
}

void tsc_sim_usage(FILE *f)
{
    fputs("usage: tscsim SCENARIO [options]\n"
          "  converge  --nodes N --seed S [--loss P]\n"
          "  crash     --nodes N --kill K --seed S [--loss P] [--duration SECONDS]\n"
          "  partition --nodes N --seed S\n"
          "  campaign  --seeds A..B --nodes N [--duration SECONDS] [--voters V] [--drift EPS]\n"
          "            [--runs | --logs]\n"
          "  election  --nodes N --voters V --seed S\n"
          "  failover  --nodes N --voters V --seeds A..B\n"
          "  barrier   --participants N --seed S [--cases C]\n"
          "runs (campaign --runs, barrier):\n"
          "  --runs                 campaign: a client submits runs through the coordinator;\n"
          "                         stage barriers are checked, every run must finish\n"
          "logs (campaign --logs, sim/logs.h):\n"
          "  --logs                 campaign: agents ship log records to a sink that fails\n"
          "                         over; nothing acknowledged is lost or stored twice\n"
          "                         (--nodes: agents, default 5; no election flags)\n"
          "  --merge-defaults       campaign --logs: the sink's merge waits as tscd has them\n"
          "                         (else above the longest outage, so any error is a bug)\n"
          "  --participants N       barrier: one run on N nodes, all of them participants\n"
          "  --cases C              barrier: test cases of the run, 1..16 (default 4)\n"
          "election options (election, failover, campaign, barrier):\n"
          "  --voters V             nodes 0..V-1 have role voter (campaign: 0 = no election)\n"
          "  --drift EPS            clock rates in [1-EPS, 1+EPS] (default 0.01)\n"
          "  --lease-ms MS          override the lease derived from the drift bound\n"
          "options for every scenario:\n"
          "  --json                 print one JSON object\n"
          "  --crypto cheap|sodium  crypto primitive (default cheap; bytes still go through\n"
          "                         the real codec)\n"
          "  --probe-interval-ms MS SWIM probe interval (default: the engine's, 200)\n"
          "  --trace FILE           write every delivery and fault to FILE\n"
          "  --dup P                datagram duplication probability\n"
          "  --settle SECONDS       virtual time after bootstrap before measuring (default 5)\n"
          "  --verbose              progress on stderr\n",
          f);
}

void tsc_sim_opts_default(struct tsc_sim_opts *o, int scenario)
{
    memset(o, 0, sizeof(*o));
    o->scenario = scenario ? scenario : TSC_SIM_CONVERGE;
    o->nodes = scenario == TSC_SIM_CAMPAIGN ? 20 : 100;
    if (scenario == TSC_SIM_ELECTION || scenario == TSC_SIM_FAILOVER)
        o->nodes = 7;
    o->voters = scenario == TSC_SIM_CAMPAIGN || scenario == TSC_SIM_BARRIER    ? 5
                : scenario == TSC_SIM_ELECTION || scenario == TSC_SIM_FAILOVER ? 3
                                                                               : 0;
    o->cases = 4;
    o->drift = 0.01;
    o->seed = 1;
    o->seed_first = 1;
    o->seed_last = 10;
    o->kill = 1;
    o->duration_s = scenario == TSC_SIM_CAMPAIGN ? 20 : 30;
    o->settle_s = scenario == TSC_SIM_BARRIER ? 1 : 5;
    o->crypto = TSC_SIM_CRYPTO_CHEAP;
}

static int parse_u64(const char *s, uint64_t *v)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return TSC_EINVAL;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno || *end)
        return TSC_EINVAL;
    *v = x;
    return 0;
}

static int parse_double(const char *s, double *v)
{
    if (!s || !*s || *s == ' ')
        return TSC_EINVAL;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || *end || isnan(x) || isinf(x))
        return TSC_EINVAL;
    *v = x;
    return 0;
}

/* "A..B" with A <= B. */
static int parse_range(const char *s, uint64_t *a, uint64_t *b)
{
    const char *dots = s ? strstr(s, "..") : NULL;
    if (!dots || dots == s)
        return TSC_EINVAL;
    char left[32];
    size_t n = (size_t)(dots - s);
    if (n >= sizeof(left))
        return TSC_EINVAL;
    memcpy(left, s, n);
    left[n] = 0;
    if (parse_u64(left, a) || parse_u64(dots + 2, b) || *a > *b)
        return TSC_EINVAL;
    return 0;
}

/* Which scenarios a flag applies to (bit per scenario). */
#define ALL                                                                                        \
    ((1u << TSC_SIM_CONVERGE) | (1u << TSC_SIM_CRASH) | (1u << TSC_SIM_PARTITION) |                \
     (1u << TSC_SIM_CAMPAIGN) | (1u << TSC_SIM_ELECTION) | (1u << TSC_SIM_FAILOVER) |              \
     (1u << TSC_SIM_BARRIER))
#define ONLY(s) (1u << (s))
#define ELECT                                                                                      \
    (ONLY(TSC_SIM_ELECTION) | ONLY(TSC_SIM_FAILOVER) | ONLY(TSC_SIM_CAMPAIGN) |                    \
     ONLY(TSC_SIM_BARRIER))

static const struct flag {
    const char *name;
    int takes_value;
    unsigned scenarios;
} flags[] = {
    {"--nodes", 1, ALL},
    {"--seed", 1, ALL},
    {"--seeds", 1, ONLY(TSC_SIM_CAMPAIGN) | ONLY(TSC_SIM_FAILOVER)},
    {"--voters", 1, ELECT},
    {"--drift", 1, ELECT},
    {"--lease-ms", 1, ELECT},
    {"--loss", 1, ALL & ~ONLY(TSC_SIM_CAMPAIGN)},
    {"--dup", 1, ALL & ~ONLY(TSC_SIM_CAMPAIGN)},
    {"--kill", 1, ONLY(TSC_SIM_CRASH)},
    {"--duration", 1, ONLY(TSC_SIM_CRASH) | ONLY(TSC_SIM_CAMPAIGN)},
    {"--settle", 1, ALL & ~ONLY(TSC_SIM_CAMPAIGN)},
    {"--json", 0, ALL},
    {"--crypto", 1, ALL},
    {"--probe-interval-ms", 1, ALL},
    {"--trace", 1, ALL},
    {"--verbose", 0, ALL},
    {"--help", 0, ALL},
    {"--runs", 0, ONLY(TSC_SIM_CAMPAIGN)},
    {"--participants", 1, ONLY(TSC_SIM_BARRIER)},
    {"--cases", 1, ONLY(TSC_SIM_BARRIER)},
};

static int apply(struct tsc_sim_opts *o, const char *name, const char *val, char *errmsg)
{
    uint64_t u;
    double d;
    if (!strcmp(name, "--nodes")) {
        if (parse_u64(val, &u) || u < 1 || u > TSC_SIM_MAX_NODES)
            goto bad_range;
        o->nodes = (uint32_t)u;
    } else if (!strcmp(name, "--seed")) {
        if (parse_u64(val, &o->seed))
            goto bad;
        o->seed_first = o->seed_last = o->seed;
    } else if (!strcmp(name, "--seeds")) {
        if (parse_range(val, &o->seed_first, &o->seed_last)) {
            tsc_errmsg_setf(errmsg, "--seeds: expected A..B with A <= B, got '%s'", val);
            return TSC_EINVAL;
        }
        o->seed = o->seed_first;
    } else if (!strcmp(name, "--voters")) {
        if (parse_u64(val, &u) || u > 15)
            goto bad_range;
        o->voters = (uint32_t)u;
    } else if (!strcmp(name, "--drift")) {
        if (parse_double(val, &d) || d < 0 || d >= 0.1) {
            tsc_errmsg_setf(errmsg, "--drift: expected a number in [0, 0.1), got '%s'", val);
            return TSC_EINVAL;
        }
        o->drift = d;
    } else if (!strcmp(name, "--lease-ms")) {
        if (parse_double(val, &d) || d <= 0 || d > 10000)
            goto bad_range;
        o->lease_us = (uint64_t)(d * 1000);
    } else if (!strcmp(name, "--loss") || !strcmp(name, "--dup")) {
        if (parse_double(val, &d) || d < 0 || d >= 1)
            goto bad_range;
        *(name[2] == 'l' ? &o->loss : &o->dup) = d;
    } else if (!strcmp(name, "--kill")) {
        if (parse_u64(val, &u) || u >= TSC_SIM_MAX_NODES)
            goto bad_range;
        o->kill = (uint32_t)u;
    } else if (!strcmp(name, "--duration")) {
        if (parse_double(val, &d) || d <= 0 || d > 86400)
            goto bad_range;
        o->duration_s = d;
    } else if (!strcmp(name, "--settle")) {
        if (parse_double(val, &d) || d < 0 || d > 86400)
            goto bad_range;
        o->settle_s = d;
    } else if (!strcmp(name, "--json")) {
        o->json = 1;
    } else if (!strcmp(name, "--verbose")) {
        o->verbose = 1;
    } else if (!strcmp(name, "--help")) {
        o->help = 1;
    } else if (!strcmp(name, "--runs")) {
        o->runs = 1;
    } else if (!strcmp(name, "--participants")) {
        if (parse_u64(val, &u) || u < 1 || u > TSC_SIM_MAX_PARTICIPANTS) {
            tsc_errmsg_setf(errmsg, "--participants: expected 1..%u, got '%s'",
                            TSC_SIM_MAX_PARTICIPANTS, val);
            return TSC_EINVAL;
        }
        o->nodes = (uint32_t)u;
    } else if (!strcmp(name, "--cases")) {
        if (parse_u64(val, &u) || u < 1 || u > 16) {
            tsc_errmsg_setf(errmsg, "--cases: expected 1..16, got '%s'", val);
            return TSC_EINVAL;
        }
        o->cases = (uint32_t)u;
    } else if (!strcmp(name, "--crypto")) {
        if (!strcmp(val, "cheap"))
            o->crypto = TSC_SIM_CRYPTO_CHEAP;
        else if (!strcmp(val, "sodium"))
            o->crypto = TSC_SIM_CRYPTO_SODIUM;
        else {
            tsc_errmsg_setf(errmsg, "--crypto: expected 'cheap' or 'sodium', got '%s'", val);
            return TSC_EINVAL;
        }
    } else if (!strcmp(name, "--probe-interval-ms")) {
        if (parse_u64(val, &u) || u < 1 || u > 60000)
            goto bad_range;
        o->probe_interval_ms = u;
    } else if (!strcmp(name, "--trace")) {
        if (!*val) {
            tsc_errmsg_setf(errmsg, "--trace: empty file name");
            return TSC_EINVAL;
        }
        o->trace_path = val;
    }
    return 0;
bad:
    tsc_errmsg_setf(errmsg, "%s: not a number: '%s'", name, val);
    return TSC_EINVAL;
bad_range:
    tsc_errmsg_setf(errmsg,
                    "%s: bad value '%s' (nodes 1..%u, loss/dup in [0,1), duration (0,86400], "
                    "probe interval 1..60000 ms, voters 0..15, lease (0,10000] ms)",
                    name, val, TSC_SIM_MAX_NODES);
    return TSC_EINVAL;
}

int tsc_sim_args_parse(struct tsc_sim_opts *o, int argc, char **argv, char *errmsg)
{
    tsc_sim_opts_default(o, 0);
    if (argc < 2) {
        tsc_errmsg_setf(errmsg, "missing scenario (converge, crash, partition, campaign, "
                                "election, failover, barrier)");
        return TSC_EINVAL;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        o->help = 1;
        return 0;
    }
    int sc = 0;
    for (int s = TSC_SIM_CONVERGE; s <= TSC_SIM_SCENARIO_MAX; s++)
        if (!strcmp(argv[1], scenario_names[s]))
            sc = s;
    if (!sc) {
        tsc_errmsg_setf(errmsg,
                        "unknown scenario '%s' (converge, crash, partition, campaign, election, "
                        "failover, barrier)",
                        argv[1]);
        return TSC_EINVAL;
    }
    tsc_sim_opts_default(o, sc);
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        const struct flag *f = NULL;
        for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
            if (strlen(flags[k].name) == nlen && !strncmp(flags[k].name, arg, nlen))
                f = &flags[k];
        if (!f) {
            tsc_errmsg_setf(errmsg, "unknown option '%s'", arg);
            return TSC_EINVAL;
        }
        if (!(f->scenarios & ONLY(sc))) {
            tsc_errmsg_setf(errmsg, "%s does not apply to '%s'", f->name, scenario_names[sc]);
            return TSC_EINVAL;
        }
        const char *val = NULL;
        if (f->takes_value) {
            if (eq)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                tsc_errmsg_setf(errmsg, "%s needs a value", f->name);
                return TSC_EINVAL;
            }
        } else if (eq) {
            tsc_errmsg_setf(errmsg, "%s takes no value", f->name);
            return TSC_EINVAL;
        }
        int rc = apply(o, f->name, val, errmsg);
        if (rc)
            return rc;
    }
    if (sc == TSC_SIM_CRASH && o->kill >= o->nodes) {
        tsc_errmsg_setf(errmsg, "--kill %u: must be less than --nodes %u", o->kill, o->nodes);
        return TSC_EINVAL;
    }
    if (sc == TSC_SIM_PARTITION && o->nodes < 2) {
        tsc_errmsg_setf(errmsg, "partition needs --nodes >= 2");
        return TSC_EINVAL;
    }
    if (sc == TSC_SIM_CAMPAIGN && o->nodes < 3) {
        tsc_errmsg_setf(errmsg, "campaign needs --nodes >= 3");
        return TSC_EINVAL;
    }
    if ((sc == TSC_SIM_ELECTION || sc == TSC_SIM_FAILOVER) &&
        (o->voters < (sc == TSC_SIM_FAILOVER ? 3u : 1u) || o->voters > o->nodes)) {
        tsc_errmsg_setf(errmsg, "--voters %u: %s needs %s..--nodes (%u)", o->voters,
                        scenario_names[sc], sc == TSC_SIM_FAILOVER ? "3" : "1", o->nodes);
        return TSC_EINVAL;
    }
    if ((sc == TSC_SIM_CAMPAIGN || sc == TSC_SIM_BARRIER) && o->voters > o->nodes)
        o->voters = o->nodes; /* the default 5 on a smaller world: every node votes */
    if ((sc == TSC_SIM_BARRIER || (sc == TSC_SIM_CAMPAIGN && o->runs)) && o->voters == 0) {
        tsc_errmsg_setf(errmsg, "runs need the election: --voters must be >= 1");
        return TSC_EINVAL;
    }
    if (sc == TSC_SIM_BARRIER && o->nodes > TSC_SIM_MAX_PARTICIPANTS) {
        tsc_errmsg_setf(errmsg, "barrier: at most %u participants", TSC_SIM_MAX_PARTICIPANTS);
        return TSC_EINVAL;
    }
    if ((sc == TSC_SIM_CAMPAIGN || sc == TSC_SIM_FAILOVER) &&
        o->seed_last - o->seed_first >= 1000000) {
        tsc_errmsg_setf(errmsg, "--seeds: at most 1000000 seeds per run");
        return TSC_EINVAL;
    }
    return 0;
}
