/* tsc — tscd, the agent: command-line flags into struct tsc_agent_config.
 *
 * Exit status: 0 after a clean stop (SIGTERM/SIGINT), 2 for bad flags, 1 when
 * the agent cannot start or fails (key file, store, address in use, ...). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/keyfile.h"
#include "agent/log.h"
#include "common/error.h"

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: tscd --data-dir DIR --key FILE [options]\n"
    "\n"
    "The tsc agent: joins a cluster over SWIM gossip (UDP and TCP on one port) and\n"
    "answers tscctl on <data-dir>/" TSC_AGENT_SOCKET_NAME " and on its TCP port.\n"
    "\n"
    "  --data-dir DIR          state directory (node key, members; created 0700)\n"
    "  --key FILE              cluster key file (tscctl keygen FILE)\n"
    "  --bind HOST:PORT        UDP+TCP address to listen on (default 127.0.0.1:7946)\n"
    "  --advertise HOST:PORT   address others use to reach us (default: --bind)\n"
    "  --join HOST:PORT        a member to join through (repeatable); without it a\n"
    "                          restarted agent rejoins its stored members\n"
    "  --role NAME             a role of this node (repeatable), e.g. voter\n"
    "  --label K=V             a label (repeatable)\n"
    "  --ready COMPONENT=STATE initial readiness of a component (repeatable)\n"
    "  --probe-interval-ms N   SWIM protocol period (default 200)\n"
    "  --probe-timeout-ms N    direct probe timeout (default: half the interval)\n"
    "  --gossip-interval-ms N  gossip datagram period (default: half the interval)\n"
    "  --pushpull-interval-ms N  full state sync period (default 30000)\n"
    "  --log-level LEVEL       error, warn, info (default) or debug\n"
    "  -h, --help              this text\n"
    "\n"
    "SIGTERM or SIGINT: leave the cluster gracefully, then exit 0.\n"
    "Exit status: 0 clean stop, 1 runtime error, 2 bad arguments.\n";

enum {
    OPT_DATA_DIR = 256,
    OPT_KEY,
    OPT_BIND,
    OPT_ADVERTISE,
    OPT_JOIN,
    OPT_ROLE,
    OPT_LABEL,
    OPT_READY,
    OPT_PROBE_INTERVAL,
    OPT_PROBE_TIMEOUT,
    OPT_GOSSIP_INTERVAL,
    OPT_PUSHPULL_INTERVAL,
    OPT_LOG_LEVEL,
};

static const struct option options[] = {
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"key", required_argument, NULL, OPT_KEY},
    {"bind", required_argument, NULL, OPT_BIND},
    {"advertise", required_argument, NULL, OPT_ADVERTISE},
    {"join", required_argument, NULL, OPT_JOIN},
    {"role", required_argument, NULL, OPT_ROLE},
    {"label", required_argument, NULL, OPT_LABEL},
    {"ready", required_argument, NULL, OPT_READY},
    {"probe-interval-ms", required_argument, NULL, OPT_PROBE_INTERVAL},
    {"probe-timeout-ms", required_argument, NULL, OPT_PROBE_TIMEOUT},
    {"gossip-interval-ms", required_argument, NULL, OPT_GOSSIP_INTERVAL},
    {"pushpull-interval-ms", required_argument, NULL, OPT_PUSHPULL_INTERVAL},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "tscd: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'tscd --help'.\n");
    return EXIT_USAGE;
}

/* Milliseconds in [1, 3600000]. */
static int parse_ms(const char *s, uint64_t *us)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > 3600000ul || s[0] == '-')
        return -1;
    *us = TSC_MSEC(v);
    return 0;
}

/* "K=V" into a meta pair, validated by wire/record.h's rules. */
static int parse_kv(const char *flag, const char *s, struct tsc_meta_kv *kv, unsigned *n,
                    unsigned max)
{
    char errmsg[TSC_ERRMSG_SIZE];
    const char *eq = strchr(s, '=');
    if (eq == NULL || eq == s || (size_t)(eq - s) >= TSC_META_STR)
        return fprintf(stderr, "tscd: %s '%s': want KEY=VALUE\n", flag, s), -1;
    if (*n >= max)
        return fprintf(stderr, "tscd: at most %u %s flags\n", max, flag), -1;
    memcpy(kv[*n].key, s, (size_t)(eq - s));
    kv[*n].key[eq - s] = '\0';
    snprintf(kv[*n].val, sizeof kv[*n].val, "%s", eq + 1);
    if (strlen(eq + 1) >= TSC_META_STR || tsc_meta_check_str(kv[*n].key, 1, errmsg) != 0 ||
        tsc_meta_check_str(kv[*n].val, 0, errmsg) != 0)
        return fprintf(stderr, "tscd: %s '%s': 1-63 printable characters, no spaces\n", flag, s),
               -1;
    for (unsigned i = 0; i < *n; i++)
        if (strcmp(kv[i].key, kv[*n].key) == 0)
            return fprintf(stderr, "tscd: %s '%s': duplicate key\n", flag, s), -1;
    (*n)++;
    return 0;
}

static int parse_role(const char *s, struct tsc_meta *m)
{
    char errmsg[TSC_ERRMSG_SIZE];
    if (m->n_roles >= TSC_META_MAX_ROLES)
        return fprintf(stderr, "tscd: at most %d --role flags\n", TSC_META_MAX_ROLES), -1;
    if (strlen(s) >= TSC_META_STR || tsc_meta_check_str(s, 1, errmsg) != 0)
        return fprintf(stderr, "tscd: --role '%s': 1-63 printable characters, no spaces\n", s), -1;
    for (unsigned i = 0; i < m->n_roles; i++)
        if (strcmp(m->roles[i], s) == 0)
            return 0; /* a repeated role is harmless */
    snprintf(m->roles[m->n_roles++], TSC_META_STR, "%s", s);
    return 0;
}

static int parse_flags(int argc, char **argv, struct tsc_agent_config *cfg, const char **key_file)
{
    char errmsg[TSC_ERRMSG_SIZE];
    int have_advertise = 0, have_timeout = 0, have_gossip = 0, opt, level;
    struct tsc_meta *m = &cfg->meta;

    opterr = 0; /* our own messages */
    while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_DATA_DIR:
            cfg->data_dir = optarg;
            break;
        case OPT_KEY:
            *key_file = optarg;
            break;
        case OPT_BIND:
        case OPT_ADVERTISE:
        case OPT_JOIN: {
            struct tsc_addr a;
            if (tsc_addr_parse(&a, optarg, 0, errmsg) != 0)
                return usage_error("%s", errmsg);
            if (opt == OPT_BIND) {
                cfg->bind = a;
            } else if (opt == OPT_ADVERTISE) {
                cfg->advertise = a;
                have_advertise = 1;
            } else if (cfg->n_joins >= TSC_AGENT_MAX_JOIN) {
                return usage_error("too many --join flags (at most %s)", "32");
            } else {
                cfg->joins[cfg->n_joins++] = a;
            }
            break;
        }
        case OPT_ROLE:
            if (parse_role(optarg, m) != 0)
                return EXIT_USAGE;
            break;
        case OPT_LABEL:
            if (parse_kv("--label", optarg, m->labels, &m->n_labels, TSC_META_MAX_LABELS) != 0)
                return EXIT_USAGE;
            break;
        case OPT_READY:
            if (parse_kv("--ready", optarg, m->ready, &m->n_ready, TSC_META_MAX_READY) != 0)
                return EXIT_USAGE;
            break;
        case OPT_PROBE_INTERVAL:
        case OPT_PROBE_TIMEOUT:
        case OPT_GOSSIP_INTERVAL:
        case OPT_PUSHPULL_INTERVAL: {
            uint64_t us;
            if (parse_ms(optarg, &us) != 0)
                return usage_error("bad duration '%s': want milliseconds, 1-3600000", optarg);
            if (opt == OPT_PROBE_INTERVAL)
                cfg->gossip.probe_interval = us;
            else if (opt == OPT_PROBE_TIMEOUT)
                cfg->gossip.probe_timeout = us, have_timeout = 1;
            else if (opt == OPT_GOSSIP_INTERVAL)
                cfg->gossip.gossip_interval = us, have_gossip = 1;
            else
                cfg->gossip.pushpull_interval = us;
            break;
        }
        case OPT_LOG_LEVEL:
            if ((level = tsc_log_parse_level(optarg)) < 0)
                return usage_error("bad --log-level '%s': want error, warn, info or debug", optarg);
            tsc_log_set_level(level);
            break;
        case 'h':
            fputs(usage_text, stdout);
            exit(0);
        case ':':
            return usage_error("%s needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown flag '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (cfg->data_dir == NULL || cfg->data_dir[0] == '\0')
        return usage_error("%s is required", "--data-dir");
    if (*key_file == NULL)
        return usage_error("%s is required (create one with: tscctl keygen FILE)", "--key");
    if (!have_advertise)
        cfg->advertise = cfg->bind;
    if (cfg->advertise.ip == 0)
        return usage_error("%s", "binding to 0.0.0.0 needs --advertise HOST:PORT");
    if (!have_timeout)
        cfg->gossip.probe_timeout = cfg->gossip.probe_interval / 2;
    if (!have_gossip)
        cfg->gossip.gossip_interval = cfg->gossip.probe_interval / 2;
    if (cfg->gossip.probe_timeout >= cfg->gossip.probe_interval)
        return usage_error("%s", "--probe-timeout-ms must be below --probe-interval-ms");
    return 0;
}

int main(int argc, char **argv)
{
    static struct tsc_agent_config cfg; /* large; static keeps it off the stack */
    char errmsg[TSC_ERRMSG_SIZE] = "";
    const char *key_file = NULL;
    struct tsc_buf meta;
    int rc;

    /* Log batches are buffers of up to a few hundred KiB made and freed by
     * the thousand per second (read back, sealed, written to a connection;
     * on the coordinator read, queued, merged). glibc's default, adaptive
     * thresholds kept mapping them afresh or trimming the heap under them:
     * page faults were a tenth of a flooding agent's time, and RocksDB's
     * memtable inserts faulted in every page of each new memtable. Below
     * 2 MiB they come from the heap, and up to 128 MiB of free heap is
     * kept while the logs flow; an agent whose log traffic stopped gives
     * it back (agent.c, maybe_trim). */
    mallopt(M_MMAP_THRESHOLD, 2 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    tsc_gossip_config_default(&cfg.gossip);
    cfg.bind.ip = 0x7f000001u;
    cfg.bind.port = TSC_AGENT_DEFAULT_PORT;
    if ((rc = parse_flags(argc, argv, &cfg, &key_file)) != 0)
        return rc;
    /* Check the whole meta now: too many bytes is a usage error, not a
     * start-up failure. */
    tsc_buf_init(&meta);
    rc = tsc_meta_encode(&cfg.meta, &meta, errmsg);
    tsc_buf_free(&meta);
    if (rc != 0)
        return usage_error("roles/labels/ready: %s", errmsg[0] ? errmsg : tsc_strerror(rc));
    if (tsc_keyfile_read(key_file, cfg.key, errmsg) != 0) {
        fprintf(stderr, "tscd: %s\n", errmsg);
        return 1;
    }
    rc = tsc_agent_run(&cfg, errmsg);
    if (rc != 0) {
        tsc_logf(TSC_LOG_ERROR, "%s", errmsg[0] ? errmsg : tsc_strerror(rc));
        return 1;
    }
    return 0;
}
