/* tsc — tscctl, the command-line client: argument parsing, commands and
 * exit codes (see usage_text; scripts and tests depend on them). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/keyfile.h"
#include "ctl/ctl.h"
#include "ctl/local.h"
#include "ctl/logs.h"
#include "ctl/results.h"

static const char usage_text[] =
    "usage: tscctl [options] COMMAND [args]\n"
    "\n"
    "Runs (any agent forwards these to the coordinator):\n"
    "  run SUITE.yaml [--wait]  submit a suite; prints the run id. With --wait, follow\n"
    "                          it: exit 0 when every case passed, 1 when one failed\n"
    "  watch RUN               live progress: stage k of n, machines done\n"
    "  status [RUN] [--json]   without RUN: the coordinator, term and voters;\n"
    "                          with RUN: the run's state and its machines\n"
    "  cancel RUN              kill the run's scripts; finalize stages still run\n"
    "  history [--suite NAME] [--limit N] [--json]   past runs, newest first\n"
    "  results RUN [--format table|json|junit|tap]   a run's results; for each failed\n"
    "                          stage its merged log records and out-of-sequence errors\n"
    "  RUN is a run id or \"last\" (the newest run)\n"
    "\n"
    "Logs (see docs/logs.md):\n"
    "  logs RUN [--node N] [--case C] [--stage S] [--grep RE] [--follow]\n"
    "       [--format text|jsonl|shiviz]\n"
    "                          the run's merged log in causal order. N: a machine name\n"
    "                          or hex id; C: a case name or number; S: init, run,\n"
    "                          finalize, suite-init, suite-finalize or a stage number;\n"
    "                          RE: POSIX extended regex on the text; --follow: until\n"
    "                          the run's log is complete\n"
    "  log [--run R] [TEXT...] add a record to the log (no TEXT: each line of stdin)\n"
    "  send [--run R] PEER TEXT...   a message to PEER's stage script (name or hex id)\n"
    "  recv [--run R] [--from PEER] [--timeout SECONDS]   wait for a message (default\n"
    "                          60 s) and print its text; exit 1 when none came\n"
    "                          log, send and recv go to the local agent ($TSC_SOCKET in a\n"
    "                          stage script); without --run, to its current run\n"
    "\n"
    "Cluster:\n"
    "  local up N [--dir DIR] [--base-port P]   start N agents on 127.0.0.1\n"
    "  local down [--dir DIR] [--purge]         stop them\n"
    "  local status [--dir DIR]\n"
    "  members [--json]        the members the agent knows: id, address, status,\n"
    "                          incarnation, roles, labels, readiness\n"
    "  stats [--json] [--every MS]\n"
    "                          the agent's counters (packets, rejections, probes, ...);\n"
    "                          --every: again every MS milliseconds until the agent\n"
    "                          stops answering (text: blocks separated by a blank line;\n"
    "                          --json: one object per line)\n"
    "  keygen FILE [--force]   write a new cluster key (64 hex characters, mode 0600);\n"
    "                          an existing FILE is kept unless --force\n"
    "\n"
    "Where the agent is (default: $TSC_SOCKET, else the local cluster's node1,\n"
    "$TSC_LOCAL_DIR or /tmp/tsc-local-UID):\n"
    "  --socket PATH           the agent's Unix socket (<data-dir>/tscd.sock)\n"
    "  --agent HOST:PORT       the agent's gossip port, with --key\n"
    "  --key FILE              the cluster key, to seal requests sent to --agent\n"
    "  --timeout-ms N          give up on one request after N ms (default 5000)\n"
    "\n"
    "Output:\n"
    "  --json                  one JSON value on stdout (members: an array of objects\n"
    "                          with id, addr, status, incarnation, roles, labels,\n"
    "                          ready, self, age_ms, coordinator; status: an object\n"
    "                          with coordinator (hex or null), term, voters, ...)\n"
    "\n"
    "Exit status:\n"
    "  0  success (run --wait, watch: every case passed)\n"
    "  1  other error; run --wait and watch: a case failed or the run was cancelled\n"
    "  2  bad arguments or input (a suite file error: FILE:LINE:COLUMN: message);\n"
    "     run --wait and watch: an error of tsc itself\n"
    "  3  no agent at that address or socket (refused, timed out, no socket file)\n"
    "  4  wrong key: the agent rejected our key, or its reply cannot be opened\n";

struct args {
    const char *cmd;
    char **pos; /* positional arguments after the command (argc slots) */
    int n_pos;
    const char *key_file;
    const char *suite, *format;
    const char *run, *from, *node, *case_name, *stage, *grep;
    uint32_t limit, timeout_s, every_ms;
    int json, force, wait, follow, has_timeout;
    struct tsc_ctl_target t;
    char default_socket[4200];
};

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "tscctl: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'tscctl --help'.\n");
    return TSC_CTL_EXIT_USAGE;
}

/* "--name VALUE" or "--name=VALUE"; advances *i past the value. */
static const char *flag_value(int argc, char **argv, int *i, const char *name, int *err)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *err = usage_error("%s needs a value", name);
        return NULL;
    }
    return argv[++*i];
}

static int parse_uint(const char *v, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || x > max)
        return -1;
    *out = x;
    return 0;
}

static const char *const commands[] = {"keygen", "members", "stats",   "status",  "run",
                                       "watch",  "cancel",  "history", "results", "logs",
                                       "log",    "send",    "recv"};

/* Commands and how many positional arguments they take (min, max). */
static int command_arity(const char *cmd, int *min, int *max)
{
    static const int ar[][2] = {{1, 1}, {0, 0}, {0, 0}, {0, 1},       {1, 1},       {1, 1}, {1, 1},
                                {0, 0}, {0, 1}, {1, 1}, {0, INT_MAX}, {2, INT_MAX}, {0, 0}};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(cmd, commands[i]) == 0) {
            *min = ar[i][0];
            *max = ar[i][1];
            return 0;
        }
    }
    return -1;
}

/* No --socket and no --agent: $TSC_SOCKET, else the local cluster's node1. */
static void default_target(struct args *a)
{
    const char *env = getenv("TSC_SOCKET");
    if (env != NULL && env[0] != '\0') {
        a->t.socket_path = env;
        return;
    }
    const char *dir = getenv("TSC_LOCAL_DIR");
    if (dir != NULL && dir[0] != '\0')
        snprintf(a->default_socket, sizeof a->default_socket, "%s/node1/tscd.sock", dir);
    else
        snprintf(a->default_socket, sizeof a->default_socket, "/tmp/tsc-local-%u/node1/tscd.sock",
                 (unsigned)getuid());
    a->t.socket_path = a->default_socket;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    char errmsg[TSC_ERRMSG_SIZE];
    const char *agent = NULL, *v;
    unsigned long long x;
    int err = 0, min, max, options = 1;
    a->t.timeout_ms = 5000;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!options || (s[0] != '-' || s[1] == '\0')) {
            /* After "--" everything is an argument (tscctl log -- -x). */
            if (a->cmd == NULL)
                a->cmd = s;
            else
                a->pos[a->n_pos++] = argv[i];
        } else if (strcmp(s, "--") == 0) {
            options = 0;
        } else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0 || strcmp(s, "help") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        } else if (strcmp(s, "--json") == 0) {
            a->json = 1;
        } else if (strcmp(s, "--force") == 0) {
            a->force = 1;
        } else if (strcmp(s, "--wait") == 0) {
            a->wait = 1;
        } else if (strcmp(s, "--follow") == 0) {
            a->follow = 1;
        } else if ((v = flag_value(argc, argv, &i, "--run", &err)) != NULL) {
            a->run = v;
        } else if ((v = flag_value(argc, argv, &i, "--from", &err)) != NULL) {
            a->from = v;
        } else if ((v = flag_value(argc, argv, &i, "--node", &err)) != NULL) {
            a->node = v;
        } else if ((v = flag_value(argc, argv, &i, "--case", &err)) != NULL) {
            a->case_name = v;
        } else if ((v = flag_value(argc, argv, &i, "--stage", &err)) != NULL) {
            a->stage = v;
        } else if ((v = flag_value(argc, argv, &i, "--grep", &err)) != NULL) {
            a->grep = v;
        } else if ((v = flag_value(argc, argv, &i, "--timeout", &err)) != NULL) {
            if (parse_uint(v, 86400, &x) != 0)
                return usage_error("bad --timeout '%s' (seconds, 0..86400)", v);
            a->timeout_s = (uint32_t)x;
            a->has_timeout = 1;
        } else if ((v = flag_value(argc, argv, &i, "--socket", &err)) != NULL) {
            a->t.socket_path = v;
        } else if ((v = flag_value(argc, argv, &i, "--agent", &err)) != NULL) {
            agent = v;
        } else if ((v = flag_value(argc, argv, &i, "--key", &err)) != NULL) {
            a->key_file = v;
        } else if ((v = flag_value(argc, argv, &i, "--suite", &err)) != NULL) {
            a->suite = v;
        } else if ((v = flag_value(argc, argv, &i, "--format", &err)) != NULL) {
            a->format = v;
        } else if ((v = flag_value(argc, argv, &i, "--limit", &err)) != NULL) {
            if (parse_uint(v, 10000, &x) != 0 || x == 0)
                return usage_error("bad --limit '%s' (1..10000)", v);
            a->limit = (uint32_t)x;
        } else if ((v = flag_value(argc, argv, &i, "--every", &err)) != NULL) {
            if (parse_uint(v, 3600000, &x) != 0 || x == 0)
                return usage_error("bad --every '%s' (milliseconds, 1..3600000)", v);
            a->every_ms = (uint32_t)x;
        } else if ((v = flag_value(argc, argv, &i, "--timeout-ms", &err)) != NULL) {
            if (parse_uint(v, 3600000, &x) != 0 || x == 0)
                return usage_error("bad --timeout-ms '%s'", v);
            a->t.timeout_ms = (int)x;
        } else if (err != 0) {
            return err;
        } else {
            return usage_error("unknown option '%s'", s);
        }
        if (err != 0)
            return err;
    }
    if (a->cmd == NULL)
        return usage_error("%s", "missing command (see tscctl --help)");
    if (command_arity(a->cmd, &min, &max) != 0)
        return usage_error("unknown command '%s'", a->cmd);
    if (a->n_pos < min)
        return usage_error("%s needs an argument", a->cmd);
    if (a->n_pos > max)
        return usage_error("unexpected argument '%s'", a->pos[max]);
    if (strcmp(a->cmd, "keygen") == 0)
        return 0;
    if (strcmp(a->cmd, "logs") == 0) {
        if (a->format != NULL && tsc_logs_parse_format(a->format) == 0)
            return usage_error("bad --format '%s' (text, jsonl or shiviz)", a->format);
    } else if (a->format != NULL && tsc_results_parse_format(a->format) == 0) {
        return usage_error("bad --format '%s' (table, json, junit or tap)", a->format);
    }
    if (agent != NULL && a->t.socket_path != NULL)
        return usage_error("%s", "give either --socket PATH or --agent HOST:PORT --key FILE");
    if (agent != NULL) {
        if (tsc_addr_parse(&a->t.agent, agent, 0, errmsg) != 0)
            return usage_error("--agent: %s", errmsg);
        if (a->key_file == NULL)
            return usage_error("%s", "--agent needs --key FILE");
        if (tsc_keyfile_read(a->key_file, a->t.key, errmsg) != 0)
            return usage_error("%s", errmsg);
        a->t.has_agent = 1;
    } else if (a->t.socket_path == NULL) {
        default_target(a);
    }
    return 0;
}

static int cmd_keygen(const struct args *a)
{
    uint8_t key[TSC_KEY_BYTES];
    char errmsg[TSC_ERRMSG_SIZE];
    randombytes_buf(key, sizeof key);
    int rc = tsc_keyfile_write(a->pos[0], key, a->force, errmsg);
    sodium_memzero(key, sizeof key);
    if (rc != 0) {
        fprintf(stderr, "tscctl: %s\n", errmsg);
        return TSC_CTL_EXIT_ERROR;
    }
    fprintf(stderr, "tscctl: wrote a new cluster key to %s (mode 0600)\n", a->pos[0]);
    return TSC_CTL_EXIT_OK;
}

static int exit_code_for(int rc)
{
    switch (rc) {
    case TSC_ECONNREFUSED:
    case TSC_ETIMEDOUT:
        return TSC_CTL_EXIT_NOAGENT;
    case TSC_EAUTH:
        return TSC_CTL_EXIT_AUTH;
    case TSC_EINVAL:
        return TSC_CTL_EXIT_USAGE;
    default:
        return TSC_CTL_EXIT_ERROR;
    }
}

/* stats --every: the query again and again, one block (or JSON line) each,
 * flushed at once, so a script can watch counters without starting a
 * process per reading (bench/logs_e2e.sh). Ends with the first failure. */
static int cmd_query_once(const struct args *a, int op);

static int cmd_query(const struct args *a, int op)
{
    int code;
    if (op != TSC_CONTROL_OP_STATS || a->every_ms == 0)
        return cmd_query_once(a, op);
    for (;;) {
        if ((code = cmd_query_once(a, op)) != TSC_CTL_EXIT_OK)
            return code;
        if (!a->json && (putchar('\n') == EOF || fflush(stdout) != 0))
            return TSC_CTL_EXIT_ERROR;
        struct timespec ts = {(time_t)(a->every_ms / 1000), (long)(a->every_ms % 1000) * 1000000};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
}

static int cmd_query_once(const struct args *a, int op)
{
    struct tsc_control_req req = {.op = op};
    struct tsc_control_resp resp;
    struct tsc_buf q, r;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    int rc, code = TSC_CTL_EXIT_OK;

    tsc_buf_init(&q);
    tsc_buf_init(&r);
    if ((rc = tsc_control_req_encode(&req, &q)) != 0) {
        fprintf(stderr, "tscctl: encoding the request: %s\n", tsc_strerror(rc));
        code = TSC_CTL_EXIT_ERROR;
        goto out;
    }
    if ((rc = tsc_ctl_call(&a->t, &q, &r, errmsg)) != 0) {
        fprintf(stderr, "tscctl: %s\n", errmsg[0] ? errmsg : tsc_strerror(rc));
        code = exit_code_for(rc);
        goto out;
    }
    if ((rc = tsc_control_resp_decode(r.data, r.len, &resp)) != 0) {
        fprintf(stderr, "tscctl: bad reply from the agent: %s\n", tsc_strerror(rc));
        code = TSC_CTL_EXIT_ERROR;
        goto out;
    }
    if (!resp.ok) {
        fprintf(stderr, "tscctl: the agent answered: %s\n",
                resp.error[0] ? resp.error : tsc_strerror(resp.code));
        code = TSC_CTL_EXIT_ERROR;
    } else if (op == TSC_CONTROL_OP_MEMBERS && resp.has_members) {
        tsc_ctl_print_members(stdout, &resp, a->json);
    } else if (op == TSC_CONTROL_OP_STATS && resp.has_stats) {
        tsc_ctl_print_stats(stdout, &resp, a->json);
    } else if (op == TSC_CONTROL_OP_STATUS && resp.has_status) {
        tsc_ctl_print_status(stdout, &resp, a->json);
    } else {
        fprintf(stderr, "tscctl: the agent's reply lacks the %s\n", tsc_control_op_name(op));
        code = TSC_CTL_EXIT_ERROR;
    }
    tsc_control_resp_free(&resp);
out:
    tsc_buf_free(&q);
    tsc_buf_free(&r);
    if (fflush(stdout) != 0 && code == TSC_CTL_EXIT_OK)
        code = TSC_CTL_EXIT_ERROR;
    return code;
}

/* --run of log, send, recv: a run id or "last"; 0 (none): the agent's
 * current run. */
static int log_run(const struct args *a, uint64_t *run)
{
    *run = 0;
    return a->run != NULL ? tsc_ctl_run_arg(&a->t, a->run, run) : 0;
}

static int dispatch(const struct args *a)
{
    uint64_t run = 0;
    int rc;
    const char *c = a->cmd;
    if (strcmp(c, "keygen") == 0)
        return cmd_keygen(a);
    if (strcmp(c, "members") == 0)
        return cmd_query(a, TSC_CONTROL_OP_MEMBERS);
    if (strcmp(c, "stats") == 0)
        return cmd_query(a, TSC_CONTROL_OP_STATS);
    if (strcmp(c, "status") == 0 && a->n_pos == 0)
        return cmd_query(a, TSC_CONTROL_OP_STATUS);
    if (strcmp(c, "run") == 0)
        return tsc_ctl_cmd_run(&a->t, a->pos[0], a->wait);
    if (strcmp(c, "history") == 0)
        return tsc_ctl_cmd_history(&a->t, a->suite, a->limit, a->json);
    if (strcmp(c, "log") == 0)
        return (rc = log_run(a, &run)) != 0 ? rc : tsc_ctl_cmd_log(&a->t, run, a->pos, a->n_pos);
    if (strcmp(c, "send") == 0)
        return (rc = log_run(a, &run)) != 0
                   ? rc
                   : tsc_ctl_cmd_send(&a->t, run, a->pos[0], a->pos + 1, a->n_pos - 1);
    if (strcmp(c, "recv") == 0)
        return (rc = log_run(a, &run)) != 0
                   ? rc
                   : tsc_ctl_cmd_recv(&a->t, run, a->from, a->has_timeout ? a->timeout_s : 60);
    if (a->n_pos > 0 && (rc = tsc_ctl_run_arg(&a->t, a->pos[0], &run)) != 0)
        return rc;
    if (strcmp(c, "status") == 0)
        return tsc_ctl_cmd_run_status(&a->t, run, a->json);
    if (strcmp(c, "watch") == 0)
        return tsc_ctl_cmd_watch(&a->t, run);
    if (strcmp(c, "cancel") == 0)
        return tsc_ctl_cmd_cancel(&a->t, run);
    if (strcmp(c, "logs") == 0) {
        struct tsc_ctl_logs_opts o = {
            a->node, a->case_name, a->stage,
            a->grep, a->follow,    a->format ? tsc_logs_parse_format(a->format) : TSC_LOGS_TEXT};
        return tsc_ctl_cmd_logs(&a->t, run, &o);
    }
    return tsc_ctl_cmd_results_logs(
        &a->t, run, a->format ? tsc_results_parse_format(a->format) : TSC_RESULTS_TABLE);
}

int main(int argc, char **argv)
{
    struct args a;
    int rc;
    memset(&a, 0, sizeof a);
    if (argc >= 2 && strcmp(argv[1], "local") == 0) {
        if (tsc_crypto_init() != 0) {
            fprintf(stderr, "tscctl: libsodium initialisation failed\n");
            return TSC_CTL_EXIT_ERROR;
        }
        return tsc_ctl_local(argc - 1, argv + 1);
    }
    if ((a.pos = calloc(argc > 0 ? (size_t)argc : 1, sizeof *a.pos)) == NULL) {
        fprintf(stderr, "tscctl: out of memory\n");
        return TSC_CTL_EXIT_ERROR;
    }
    if ((rc = parse_args(argc, argv, &a)) != 0) {
        free(a.pos);
        return rc;
    }
    if (tsc_crypto_init() != 0) {
        fprintf(stderr, "tscctl: libsodium initialisation failed\n");
        return TSC_CTL_EXIT_ERROR;
    }
    rc = dispatch(&a);
    sodium_memzero(a.t.key, sizeof a.t.key);
    free(a.pos);
    return rc;
}
