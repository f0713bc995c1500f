/* tsc — simulator benchmark (figures printed, nothing asserted):
 *   - `tscsim converge` at N = 100, 1000 and 10000 (or the largest N the
 *     machine's memory allows: every node holds every other node's record,
 *     so memory grows with N^2; the bench says what it ran instead);
 *   - simulator events per second (wall clock);
 *   - wall time of 1000 nodes x 600 virtual seconds (the target is
 *     <= 20 s on one core).
 *
 *   bench_sim [--quick]     --quick: N = 100 and 1000, 60 virtual seconds */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "sim/sim.h"

/* MemAvailable in bytes, or 0 when unknown. */
static double mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    double kb = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

static double max_rss(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss * 1024;
}

static int converge(uint32_t n, struct tsc_sim_result *r)
{
    struct tsc_sim_opts o;
    char em[TSC_ERRMSG_SIZE] = "";
    tsc_sim_opts_default(&o, TSC_SIM_CONVERGE);
    o.nodes = n;
    o.seed = 1;
    o.settle_s = 1;
    int rc = tsc_sim_converge(&o, r, em);
    if (rc) {
        printf("converge n=%u: failed: %s\n", n, em);
        return rc;
    }
    printf("converge n=%-6u rounds_99=%d rounds_9999=%d rounds_100=%d seconds_9999=%.3f "
           "msgs/node/s=%.1f bytes/node/s=%.0f bootstrap=%.2fs quiesce=%.1fs | %llu events in "
           "%.2f s wall = %.0f events/s, max RSS %.0f MB%s%s\n",
           n, r->rounds_99, r->rounds_9999, r->rounds_100, r->seconds_9999, r->msgs_per_node_per_s,
           r->bytes_per_node_per_s, r->bootstrap_s, r->quiesce_s, (unsigned long long)r->events,
           r->wall_s, r->events_per_s, max_rss() / 1e6,
           r->ok ? "" : " NOT OK: ", r->ok ? "" : r->note);
    return 0;
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    struct tsc_sim_result r;
    setvbuf(stdout, NULL, _IOLBF, 0);

    converge(100, &r);
    if (converge(1000, &r))
        return 1;
    /* Memory per (observer, member) pair, measured at n = 1000, decides how
     * far the big run can go. */
    double per_pair = max_rss() / (1000.0 * 1000.0);
    if (!quick) {
        double avail = mem_available();
        uint32_t n = 10000;
        while (n > 1000 && avail > 0 && per_pair * (double)n * n > 0.7 * avail)
            n -= 1000;
        if (n < 10000)
            printf("converge n=10000 skipped: needs ~%.1f GB (%.0f bytes per node pair), "
                   "%.1f GB available; running n=%u instead\n",
                   per_pair * 1e8 / 1e9, per_pair, avail / 1e9, n);
        if (n > 1000)
            converge(n, &r);
    }

    /* Long run: 1000 nodes, no faults, a steady cluster for 600 (--quick: 60)
     * virtual seconds. */
    struct tsc_sim_opts o;
    char em[TSC_ERRMSG_SIZE] = "";
    tsc_sim_opts_default(&o, TSC_SIM_CRASH);
    o.nodes = 1000;
    o.kill = 0;
    o.duration_s = quick ? 60 : 600;
    o.settle_s = 0;
    if (tsc_sim_crash(&o, &r, em)) {
        printf("long run failed: %s\n", em);
        return 1;
    }
    printf("steady n=1000 x %.0f virtual s: %.2f s wall (bootstrap + quiesce %.1f virtual s "
           "included), %llu events = %.0f events/s, violations %llu\n",
           o.duration_s, r.wall_s, r.bootstrap_s + r.quiesce_s, (unsigned long long)r.events,
           r.events_per_s, (unsigned long long)r.violations);
    return 0;
}
