/* tsc — tscctl internals: the transport to an agent (client.c), the
 * human and JSON renderings of its answers (print.c), the run commands
 * (runs.c) and the log commands (logs*.c). main.c has the command line
 * and the exit codes. */
#ifndef TSC_CTL_CTL_H
#define TSC_CTL_CTL_H

#include <stdint.h>
#include <stdio.h>

#include "common/addr.h"
#include "common/buf.h"
#include "wire/control.h"
#include "wire/crypto.h"

/* Exit codes, documented in `tscctl --help`. */
enum tsc_ctl_exit {
    TSC_CTL_EXIT_OK = 0,
    TSC_CTL_EXIT_ERROR = 1,   /* anything else */
    TSC_CTL_EXIT_USAGE = 2,   /* bad arguments */
    TSC_CTL_EXIT_NOAGENT = 3, /* nothing answers at that address or socket */
    TSC_CTL_EXIT_AUTH = 4,    /* the agent has another cluster key */
};

/* Where the agent is. Exactly one of socket_path / has_agent. */
struct tsc_ctl_target {
    const char *socket_path;
    struct tsc_addr agent;
    int has_agent;
    uint8_t key[TSC_KEY_BYTES]; /* with has_agent */
    int timeout_ms;             /* whole exchange */
};

/* Send one control request (plaintext msgpack, wire/control.h) and receive
 * the response body into resp (appended). Over TCP the request is sealed
 * and the reply opened with the cluster key. Returns 0 or:
 *   TSC_ECONNREFUSED  nothing listens there / no socket file
 *   TSC_ETIMEDOUT     no connection or no answer in time
 *   TSC_EAUTH         the agent has another key (marker or unopenable reply)
 *   TSC_EIO, TSC_EMALFORMED, TSC_ENOMEM  other failures
 * with errmsg saying what happened. */
int tsc_ctl_call(const struct tsc_ctl_target *t, const struct tsc_buf *req, struct tsc_buf *resp,
                 char *errmsg);

/* Print a members response as a table or as one JSON array. */
void tsc_ctl_print_members(FILE *f, const struct tsc_control_resp *r, int json);

/* Print a status response (coordinator, term, voters) as text or JSON:
 * {"self", "coordinator" (hex or null), "coordinator_addr" (or null),
 *  "term", "role", "voter", "acting", "commit_index", "last_index",
 *  "voters": [{"id", "addr" (or null), "status", "self", "match" (or null),
 *  "caught_up" (or null)}]}. */
void tsc_ctl_print_status(FILE *f, const struct tsc_control_resp *r, int json);

/* Print a stats response as "name value" lines or as one JSON object. */
void tsc_ctl_print_stats(FILE *f, const struct tsc_control_resp *r, int json);

/* runs.c: the run commands; each returns the tscctl exit code. */
int tsc_ctl_cmd_run(const struct tsc_ctl_target *t, const char *suite_path, int wait);
int tsc_ctl_cmd_watch(const struct tsc_ctl_target *t, uint64_t run);
int tsc_ctl_cmd_run_status(const struct tsc_ctl_target *t, uint64_t run, int json);
int tsc_ctl_cmd_cancel(const struct tsc_ctl_target *t, uint64_t run);
int tsc_ctl_cmd_history(const struct tsc_ctl_target *t, const char *suite, uint32_t limit,
                        int json);

/* logs.c: one request (wire/control.h), retried for up to a minute while
 * the failure is transient when retry is set. 0 with resp decoded (it
 * borrows from hold; free both), or an exit code with errmsg; then
 * nothing is allocated in resp and resp->code is the agent's TSC_E* code
 * when the agent refused. */
int tsc_ctl_request(const struct tsc_ctl_target *t, const struct tsc_control_req *req,
                    struct tsc_control_resp *resp, struct tsc_buf *hold, int retry, char *errmsg);
/* A RUN argument: a run id, or "last" (the newest run, op history). 0 or
 * an exit code (the reason printed). */
int tsc_ctl_run_arg(const struct tsc_ctl_target *t, const char *s, uint64_t *run);
/* tscctl log: the words joined by spaces as one record, or with no words
 * every line of stdin (chunks of at most TSC_CONTROL_MAX_TEXT bytes, each
 * ending at a line end). run 0: the agent's current run. */
int tsc_ctl_cmd_log(const struct tsc_ctl_target *t, uint64_t run, char *const *words, int n);
/* tscctl send PEER TEXT...: a message to PEER's script (op send). */
int tsc_ctl_cmd_send(const struct tsc_ctl_target *t, uint64_t run, const char *peer,
                     char *const *words, int n);
/* tscctl recv: waits up to timeout_s for a message (from "from", NULL:
 * anyone) and prints its text and a newline; 1 when none came in time. */
int tsc_ctl_cmd_recv(const struct tsc_ctl_target *t, uint64_t run, const char *from,
                     uint32_t timeout_s);

/* logs_fetch.c: tscctl logs RUN. */
struct tsc_ctl_logs_opts {
    const char *node, *case_name, *stage, *grep; /* NULL: no such filter */
    int follow;
    int format; /* enum tsc_logs_format (ctl/logs.h); 0: text */
};
int tsc_ctl_cmd_logs(const struct tsc_ctl_target *t, uint64_t run,
                     const struct tsc_ctl_logs_opts *o);

/* logs_results.c: tscctl results RUN, with the log section of each failed
 * stage when the agent answers log_index. */
int tsc_ctl_cmd_results_logs(const struct tsc_ctl_target *t, uint64_t run, int format);

#endif
