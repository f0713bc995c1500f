/* tsc — `tscctl local`: the embedded default of tsc, a cluster of N tscd
 * processes on 127.0.0.1, each a daemon with its own data dir under one
 * local cluster directory:
 *
 *   DIR/cluster.key        the cluster key (kept across up/down)
 *   DIR/cluster.env        TSC_SOCKET=DIR/node1/tscd.sock, TSC_LOCAL_N=N
 *   DIR/nodeI/             agent I's data dir (tscd.sock, tscd.log, tscd.pid)
 *
 * `up` always starts a fresh cluster: data dirs of earlier agents in DIR are
 * removed first (a restarted node1 would otherwise rejoin stale members and
 * keep a voter set it can no longer reach). */
#ifndef TSC_CTL_LOCAL_H
#define TSC_CTL_LOCAL_H

#include <stddef.h>

/* tscctl local up N [--dir DIR] [--base-port P] | local down [--dir DIR] [--purge] | local status
   [--dir DIR]. argv[0] is "local". Returns the tscctl exit code (0 ok, 1 error, 2 usage; status:
   0 when every agent is alive, 1 when some are dead, 3 when none runs). Messages go to stderr
   prefixed "tscctl: "; the summary of `up` to stdout. Agents outlive the call. */
int tsc_ctl_local(int argc, char **argv);

/* The default local cluster directory: $TSC_LOCAL_DIR, else /tmp/tsc-local-<uid>. Writes into out
   (cap bytes, NUL-terminated, truncated if too small). */
void tsc_ctl_local_dir(char *out, size_t cap);

#endif
