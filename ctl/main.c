/* tsc — tscctl, the command-line client: argument parsing, commands and
 * exit codes (see usage_text; scripts and tests depend on them). */
#define _GNU_SOURCE
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/keyfile.h"
#include "ctl/ctl.h"

static const char usage_text[] =
    "usage: tscctl [options] COMMAND [args]\n"
    "\n"
    "Commands:\n"
    "  keygen FILE [--force]   write a new cluster key (64 hex characters, mode 0600);\n"
    "                          an existing FILE is kept unless --force\n"
    "  members [--json]        the members the agent knows: id, address, status,\n"
    "                          incarnation, roles, labels, readiness\n"
    "  stats [--json]          the agent's counters (packets, rejections, probes, ...)\n"
    "  status [--json]         the coordinator (id, address), term, this agent's role,\n"
    "                          the voters with their status and replication progress\n"
    "\n"
    "Where the agent is (members, stats, status):\n"
    "  --socket PATH           the agent's Unix socket (<data-dir>/tscd.sock)\n"
    "  --agent HOST:PORT       the agent's gossip port, with --key\n"
    "  --key FILE              the cluster key, to seal requests sent to --agent\n"
    "  --timeout-ms N          give up after N ms (default 5000)\n"
    "\n"
    "Output:\n"
    "  --json                  one JSON value on stdout (members: an array of objects\n"
    "                          with id, addr, status, incarnation, roles, labels,\n"
    "                          ready, self, age_ms, coordinator; status: an object\n"
    "                          with coordinator (hex or null), term, voters, ...)\n"
    "\n"
    "Exit status:\n"
    "  0  success\n"
    "  1  other error (I/O, the agent reported an error, bad reply)\n"
    "  2  bad arguments or usage\n"
    "  3  no agent at that address or socket (refused, timed out, no socket file)\n"
    "  4  wrong key: the agent rejected our key, or its reply cannot be opened\n";

struct args {
    const char *cmd;
    const char *file; /* keygen FILE */
    const char *key_file;
    int json, force;
    struct tsc_ctl_target t;
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

static int parse_args(int argc, char **argv, struct args *a)
{
    char errmsg[TSC_ERRMSG_SIZE];
    const char *agent = NULL, *v;
    int err = 0;
    a->t.timeout_ms = 5000;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0 || strcmp(s, "help") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        } else if (strcmp(s, "--json") == 0) {
            a->json = 1;
        } else if (strcmp(s, "--force") == 0) {
            a->force = 1;
        } else if ((v = flag_value(argc, argv, &i, "--socket", &err)) != NULL) {
            a->t.socket_path = v;
        } else if ((v = flag_value(argc, argv, &i, "--agent", &err)) != NULL) {
            agent = v;
        } else if ((v = flag_value(argc, argv, &i, "--key", &err)) != NULL) {
            a->key_file = v;
        } else if ((v = flag_value(argc, argv, &i, "--timeout-ms", &err)) != NULL) {
            char *end;
            errno = 0;
            long ms = strtol(v, &end, 10);
            if (errno || end == v || *end || ms <= 0 || ms > 3600000)
                return usage_error("bad --timeout-ms '%s'", v);
            a->t.timeout_ms = (int)ms;
        } else if (err != 0) {
            return err;
        } else if (s[0] == '-' && s[1] != '\0') {
            return usage_error("unknown option '%s'", s);
        } else if (a->cmd == NULL) {
            a->cmd = s;
        } else if (strcmp(a->cmd, "keygen") == 0 && a->file == NULL) {
            a->file = s;
        } else {
            return usage_error("unexpected argument '%s'", s);
        }
        if (err != 0)
            return err;
    }
    if (a->cmd == NULL)
        return usage_error("%s", "missing command (keygen, members, stats, status)");
    if (strcmp(a->cmd, "keygen") == 0)
        return a->file ? 0 : usage_error("%s", "keygen needs a FILE");
    if (strcmp(a->cmd, "members") != 0 && strcmp(a->cmd, "stats") != 0 &&
        strcmp(a->cmd, "status") != 0)
        return usage_error("unknown command '%s'", a->cmd);
    if ((agent == NULL) == (a->t.socket_path == NULL))
        return usage_error("%s", "give either --socket PATH or --agent HOST:PORT --key FILE");
    if (agent != NULL) {
        if (tsc_addr_parse(&a->t.agent, agent, 0, errmsg) != 0)
            return usage_error("--agent: %s", errmsg);
        if (a->key_file == NULL)
            return usage_error("%s", "--agent needs --key FILE");
        if (tsc_keyfile_read(a->key_file, a->t.key, errmsg) != 0)
            return usage_error("%s", errmsg);
        a->t.has_agent = 1;
    }
    return 0;
}

static int cmd_keygen(const struct args *a)
{
    uint8_t key[TSC_KEY_BYTES];
    char errmsg[TSC_ERRMSG_SIZE];
    randombytes_buf(key, sizeof key);
    int rc = tsc_keyfile_write(a->file, key, a->force, errmsg);
    sodium_memzero(key, sizeof key);
    if (rc != 0) {
        fprintf(stderr, "tscctl: %s\n", errmsg);
        return TSC_CTL_EXIT_ERROR;
    }
    fprintf(stderr, "tscctl: wrote a new cluster key to %s (mode 0600)\n", a->file);
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

static int cmd_query(const struct args *a, int op)
{
    struct tsc_control_req req = {op};
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

int main(int argc, char **argv)
{
    struct args a;
    int rc;
    memset(&a, 0, sizeof a);
    if ((rc = parse_args(argc, argv, &a)) != 0)
        return rc;
    if (tsc_crypto_init() != 0) {
        fprintf(stderr, "tscctl: libsodium initialisation failed\n");
        return TSC_CTL_EXIT_ERROR;
    }
    if (strcmp(a.cmd, "keygen") == 0)
        return cmd_keygen(&a);
    rc = cmd_query(&a, strcmp(a.cmd, "members") == 0  ? TSC_CONTROL_OP_MEMBERS
                       : strcmp(a.cmd, "status") == 0 ? TSC_CONTROL_OP_STATUS
                                                      : TSC_CONTROL_OP_STATS);
    sodium_memzero(a.t.key, sizeof a.t.key);
    return rc;
}
