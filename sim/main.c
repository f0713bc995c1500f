/* tscsim — run one simulator scenario and print its result.
 *
 * Exit status: 0 when the scenario reached its goal with no invariant
 * violation, 1 when it did not (the result says why), 2 for bad command-line
 * input, 3 when the run itself failed (out of memory, trace file, engine
 * error). */
#include <stdio.h>
#include <string.h>

#include "sim/logs.h"
#include "sim/sim.h"

int main(int argc, char **argv)
{
    struct tsc_sim_opts o;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    int logs = tsc_sim_logs_main(argc, argv); /* campaign --logs (sim/logs.h) */
    if (logs >= 0)
        return logs;
    if (tsc_sim_args_parse(&o, argc, argv, errmsg)) {
        fprintf(stderr, "tscsim: %s\n", errmsg);
        fprintf(stderr, "try 'tscsim --help'\n");
        return 2;
    }
    if (o.help) {
        tsc_sim_usage(stdout);
        return 0;
    }
    static struct tsc_sim_result r;
    int rc = tsc_sim_run(&o, &r, errmsg);
    if (rc) {
        fprintf(stderr, "tscsim: %s: %s\n", tsc_sim_scenario_name(o.scenario), errmsg);
        if (!r.note[0])
            snprintf(r.note, sizeof(r.note), "%s", errmsg);
        r.ok = 0;
    }
    tsc_sim_report(stdout, &o, &r);
    if (rc)
        return 3;
    return r.ok ? 0 : 1;
}
