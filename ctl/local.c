/* tsc — `tscctl local up|down|status`: a cluster of tscd daemons on
 * 127.0.0.1 (see local.h for the directory layout). The agents as processes
 * (spawning, pid files, stopping) are local_proc.c's.
 *
 * Readiness. `up` returns only when the cluster is usable: every agent's
 * socket lists N alive members and node1 knows a coordinator. It polls
 * every 50 ms up to 30 s; an agent that exits meanwhile fails the whole
 * `up` at once with its log's last lines, and the others are stopped. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/keyfile.h"
#include "common/alloc.h"
#include "ctl/ctl.h"
#include "ctl/local.h"
#include "ctl/local_int.h"
#include "wire/record.h"

#define LOCAL_BASE_PORT  17946
#define LOCAL_UP_MS      30000
#define LOCAL_CALL_MS    1000
#define LOCAL_N_VOTERS   3
#define LOCAL_SOCK_LIMIT sizeof(((struct sockaddr_un *)0)->sun_path)

struct local_node {
    char dir[TSC__LOCAL_PATH];
    int port;
    pid_t pid;
    int voter;
    int ready;     /* its socket listed N alive members */
    uint64_t id;   /* from its members answer */
    char seen[96]; /* what the last poll saw, for the timeout message */
};

static const char usage_local[] =
    "usage: tscctl local up N [--dir DIR] [--base-port P]   start N agents (1-64) on 127.0.0.1\n"
    "       tscctl local down [--dir DIR] [--purge]         stop them (--purge: remove DIR)\n"
    "       tscctl local status [--dir DIR]                 list them, alive or dead\n"
    "DIR defaults to $TSC_LOCAL_DIR, else /tmp/tsc-local-UID; ports are the first free\n"
    "ones (UDP and TCP) from P on (default 17946). node1..node3 are voters.\n";

void tsc_ctl_local_dir(char *out, size_t cap)
{
    const char *env = getenv("TSC_LOCAL_DIR");
    if (env != NULL && env[0] != '\0')
        snprintf(out, cap, "%s", env);
    else
        snprintf(out, cap, "/tmp/tsc-local-%u", (unsigned)getuid());
}

/* One control request to an agent's socket, decoded into resp (free it).
 * 0 or a TSC_E* code with a short reason in seen. */
static int query(const char *sock, int op, struct tsc_control_resp *resp, char *seen, size_t cap)
{
    struct tsc_control_req req = {.op = op};
    struct tsc_ctl_target t = {.socket_path = sock, .timeout_ms = LOCAL_CALL_MS};
    struct tsc_buf q, r;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    int rc;
    tsc_buf_init(&q);
    tsc_buf_init(&r);
    if ((rc = tsc_control_req_encode(&req, &q)) == 0 &&
        (rc = tsc_ctl_call(&t, &q, &r, errmsg)) == 0 &&
        (rc = tsc_control_resp_decode(r.data, r.len, resp)) == 0 && !resp->ok) {
        snprintf(seen, cap, "the agent answered: %.60s", resp->error);
        tsc_control_resp_free(resp);
        rc = TSC_ESTATE;
    } else if (rc != 0) {
        snprintf(seen, cap, "%s", errmsg[0] ? errmsg : tsc_strerror(rc));
    }
    tsc_buf_free(&q);
    tsc_buf_free(&r);
    return rc;
}

/* Poll the agents until the cluster is up (see the file comment). 0, or -1
 * with the reason printed; *coord gets the coordinator's node number. */
static int wait_up(const char *dir, struct local_node *nodes, int n, int *coord)
{
    char sock[TSC__LOCAL_PATH];
    int64_t deadline = tsc__local_now_ms() + LOCAL_UP_MS;
    struct tsc_control_resp resp;
    for (;;) {
        int ready = 0;
        for (int i = 1; i <= n; i++) {
            int st;
            if (waitpid(nodes[i].pid, &st, WNOHANG) == nodes[i].pid) {
                nodes[i].pid = 0;
                fprintf(stderr, "tscctl: node%d exited early (%s %d)\n", i,
                        WIFEXITED(st) ? "status" : "signal",
                        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
                tsc__local_print_log_tail(dir, i);
                return -1;
            }
        }
        for (int i = 1; i <= n; i++) {
            if (!nodes[i].ready) {
                tsc__local_pathf(sock, "%s/tscd.sock", nodes[i].dir);
                if (query(sock, TSC_CONTROL_OP_MEMBERS, &resp, nodes[i].seen,
                          sizeof nodes[i].seen) == 0) {
                    int alive = 0;
                    for (size_t m = 0; m < resp.n_members; m++)
                        alive += resp.members[m].status == TSC_STATUS_ALIVE;
                    snprintf(nodes[i].seen, sizeof nodes[i].seen, "%d of %d members alive", alive,
                             n);
                    nodes[i].ready = resp.has_members && alive == n;
                    nodes[i].id = resp.self;
                    tsc_control_resp_free(&resp);
                }
            }
            ready += nodes[i].ready;
        }
        if (ready == n) {
            tsc__local_pathf(sock, "%s/tscd.sock", nodes[1].dir);
            if (query(sock, TSC_CONTROL_OP_STATUS, &resp, nodes[1].seen, sizeof nodes[1].seen) ==
                0) {
                uint64_t c = resp.has_status ? resp.status.coordinator : 0;
                tsc_control_resp_free(&resp);
                snprintf(nodes[1].seen, sizeof nodes[1].seen, "no coordinator known yet");
                for (int i = 1; c != 0 && i <= n; i++)
                    if (nodes[i].id == c)
                        return *coord = i, 0;
            }
        }
        if (tsc__local_now_ms() >= deadline)
            break;
        tsc__local_sleep_ms(TSC__LOCAL_POLL_MS);
    }
    fprintf(stderr, "tscctl: the local cluster did not come up in %d s:\n", LOCAL_UP_MS / 1000);
    for (int i = 1; i <= n; i++)
        fprintf(stderr, "  node%d: %s\n", i, nodes[i].seen[0] ? nodes[i].seen : "ready");
    fprintf(stderr, "tscctl: the agents' logs are %s/node*/tscd.log\n", dir);
    return -1;
}

/* Make DIR (0700) if needed and check it is ours to use: owned by us, and
 * empty or already a local cluster dir (has cluster.key). Resolves it to an
 * absolute path in abs. */
static int prepare_dir(const char *dir, char *abs)
{
    char key[TSC__LOCAL_PATH];
    struct stat st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "tscctl: mkdir %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
        realpath(dir, abs) == NULL) {
        fprintf(stderr, "tscctl: %s is not a directory of ours\n", dir);
        return -1;
    }
    if (tsc__local_pathf(key, "%s/cluster.key", abs) != 0 ||
        strlen(abs) + sizeof "/node64/tscd.sock" > LOCAL_SOCK_LIMIT) {
        fprintf(stderr, "tscctl: %s: path too long for the agents' Unix sockets\n", abs);
        return -1;
    }
    if (access(key, F_OK) == 0)
        return 0;
    DIR *d = opendir(abs);
    struct dirent *e;
    int empty = 1;
    while (d != NULL && (e = readdir(d)) != NULL)
        empty &= strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    if (d != NULL)
        closedir(d);
    if (!empty) {
        fprintf(stderr,
                "tscctl: %s is not empty and not a local cluster directory (no "
                "cluster.key); choose another --dir\n",
                abs);
        return -1;
    }
    return 0;
}

/* DIR/cluster.key: kept when valid, created when missing. */
static int ensure_key(const char *dir)
{
    char path[TSC__LOCAL_PATH], errmsg[TSC_ERRMSG_SIZE];
    uint8_t key[TSC_KEY_BYTES];
    tsc__local_pathf(path, "%s/cluster.key", dir);
    int rc = tsc_keyfile_read(path, key, errmsg);
    if (rc == TSC_ENOTFOUND) {
        randombytes_buf(key, sizeof key);
        rc = tsc_keyfile_write(path, key, 0, errmsg);
    }
    sodium_memzero(key, sizeof key);
    if (rc != 0)
        fprintf(stderr, "tscctl: %s\n", errmsg);
    return rc == 0 ? 0 : -1;
}

static int local_up(const char *dir_arg, int n, int base_port)
{
    char dir[PATH_MAX], tscd[TSC__LOCAL_PATH], key[TSC__LOCAL_PATH], log[TSC__LOCAL_PATH],
        env[2 * TSC__LOCAL_PATH];
    char bind[32], join[32], label[32];
    pid_t pids[TSC__LOCAL_MAX_N + 1];
    int last, coord = 0, code = TSC_CTL_EXIT_ERROR;
    struct local_node *nodes = NULL;

    if (tsc__local_scan_agents(dir_arg, pids, &last) > 0) {
        fprintf(stderr,
                "tscctl: a local cluster is already running in %s (tscctl local down first)\n",
                dir_arg);
        return TSC_CTL_EXIT_ERROR;
    }
    if (prepare_dir(dir_arg, dir) != 0 || tsc__local_find_tscd(tscd) != 0 || ensure_key(dir) != 0)
        return TSC_CTL_EXIT_ERROR;
    if ((nodes = tsc_calloc((size_t)n + 1, sizeof *nodes)) == NULL) {
        fprintf(stderr, "tscctl: out of memory\n");
        return TSC_CTL_EXIT_ERROR;
    }
    /* A fresh cluster: earlier agents' data would make node1 rejoin them. */
    for (int i = 1; i <= TSC__LOCAL_MAX_N; i++) {
        char old[TSC__LOCAL_PATH];
        if (tsc__local_pathf(old, "%s/node%d", dir, i) == 0 && tsc__local_rm_tree(old) != 0) {
            fprintf(stderr, "tscctl: cannot remove %s: %s\n", old, strerror(errno));
            goto out;
        }
    }
    for (int i = 1, port = base_port; i <= n; i++, port++) {
        while (port <= 65535 && !tsc__local_port_free(port))
            port++;
        if (port > 65535) {
            fprintf(stderr, "tscctl: not enough free ports from %d on\n", base_port);
            goto out;
        }
        nodes[i].port = port;
        nodes[i].voter = i <= (n >= LOCAL_N_VOTERS ? LOCAL_N_VOTERS : 1);
    }
    tsc__local_pathf(key, "%s/cluster.key", dir);
    snprintf(join, sizeof join, "127.0.0.1:%d", nodes[1].port);
    for (int i = 1; i <= n; i++) {
        char pid_text[32], pid_path[TSC__LOCAL_PATH];
        tsc__local_pathf(nodes[i].dir, "%s/node%d", dir, i);
        if (mkdir(nodes[i].dir, 0700) != 0) {
            fprintf(stderr, "tscctl: mkdir %s: %s\n", nodes[i].dir, strerror(errno));
            goto stop;
        }
        snprintf(bind, sizeof bind, "127.0.0.1:%d", nodes[i].port);
        snprintf(label, sizeof label, "name=node%d", i);
        char *argv[16];
        int k = 0;
        argv[k++] = "tscd";
        argv[k++] = "--data-dir";
        argv[k++] = nodes[i].dir;
        argv[k++] = "--bind";
        argv[k++] = bind;
        argv[k++] = "--key";
        argv[k++] = key;
        argv[k++] = "--label";
        argv[k++] = label;
        argv[k++] = "--role";
        argv[k++] = nodes[i].voter ? "voter" : "worker";
        if (i > 1) {
            argv[k++] = "--join";
            argv[k++] = join;
        }
        argv[k] = NULL;
        tsc__local_pathf(log, "%s/tscd.log", nodes[i].dir);
        if (tsc__local_spawn(tscd, argv, log, &nodes[i].pid) != 0)
            goto stop;
        snprintf(pid_text, sizeof pid_text, "%d\n", (int)nodes[i].pid);
        if (tsc__local_pathf(pid_path, "%s/tscd.pid", nodes[i].dir) != 0 ||
            tsc__local_write_file(pid_path, pid_text)) {
            fprintf(stderr, "tscctl: cannot write %s: %s\n", pid_path, strerror(errno));
            goto stop;
        }
    }
    snprintf(env, sizeof env, "TSC_SOCKET=%s/tscd.sock\nTSC_LOCAL_N=%d\n", nodes[1].dir, n);
    tsc__local_pathf(log, "%s/cluster.env", dir);
    if (tsc__local_write_file(log, env) != 0) {
        fprintf(stderr, "tscctl: cannot write %s: %s\n", log, strerror(errno));
        goto stop;
    }
    if (wait_up(dir, nodes, n, &coord) != 0)
        goto stop;
    for (int i = 1; i <= n; i++)
        printf("node%-2d  127.0.0.1:%d  pid %d  %s\n", i, nodes[i].port, (int)nodes[i].pid,
               nodes[i].voter ? "voter" : "worker");
    printf("coordinator: node%d\nexport TSC_SOCKET=%s/tscd.sock\n", coord, nodes[1].dir);
    code = fflush(stdout) == 0 ? TSC_CTL_EXIT_OK : TSC_CTL_EXIT_ERROR;
    goto out;
stop:
    for (int i = 1; i <= n; i++)
        pids[i] = nodes[i].pid;
    tsc__local_stop_agents(pids, n, 1);
    for (int i = 1; i <= n; i++)
        tsc__local_remove_pid_file(dir, i);
    fprintf(stderr, "tscctl: local up failed; the agents were stopped\n");
out:
    tsc_free(nodes);
    return code;
}

/* Remove DIR, only when it looks like a local cluster dir. */
static int purge(const char *dir)
{
    char key[TSC__LOCAL_PATH];
    struct stat st;
    if (lstat(dir, &st) != 0 && errno == ENOENT)
        return 0;
    if (tsc__local_pathf(key, "%s/cluster.key", dir) != 0 || access(key, F_OK) != 0) {
        fprintf(stderr,
                "tscctl: %s has no cluster.key: not a local cluster directory, not removing "
                "it\n",
                dir);
        return -1;
    }
    if (tsc__local_rm_tree(dir) != 0) {
        fprintf(stderr, "tscctl: cannot remove %s: %s\n", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int local_down(const char *dir, int do_purge)
{
    pid_t pids[TSC__LOCAL_MAX_N + 1];
    int last;
    int running = tsc__local_scan_agents(dir, pids, &last);
    if (running == 0) {
        printf("no local cluster running in %s\n", dir);
    } else {
        tsc__local_stop_agents(pids, last, 0);
        printf("stopped %d agents\n", running);
    }
    /* Every agent is gone or SIGKILLed by now: no pid file stays valid. */
    for (int i = 1; i <= last; i++)
        tsc__local_remove_pid_file(dir, i);
    if (do_purge && purge(dir) != 0)
        return TSC_CTL_EXIT_ERROR;
    return fflush(stdout) == 0 ? TSC_CTL_EXIT_OK : TSC_CTL_EXIT_ERROR;
}

static int local_status(const char *dir)
{
    int alive = 0, listed = 0;
    for (int i = 1; i <= TSC__LOCAL_MAX_N; i++) {
        if (!tsc__local_pid_file_exists(dir, i))
            continue;
        pid_t pid = tsc__local_read_pid(dir, i);
        int up = pid > 0 && tsc__local_is_tscd(pid);
        printf("node%-2d  pid %-7d  %s\n", i, (int)pid, up ? "alive" : "dead");
        alive += up;
        listed++;
    }
    if (listed == 0)
        printf("no local cluster in %s\n", dir);
    if (fflush(stdout) != 0)
        return TSC_CTL_EXIT_ERROR;
    return alive == 0       ? TSC_CTL_EXIT_NOAGENT
           : alive < listed ? TSC_CTL_EXIT_ERROR
                            : TSC_CTL_EXIT_OK;
}

static int local_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "tscctl: local: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage_local);
    return TSC_CTL_EXIT_USAGE;
}

/* A decimal in [lo, hi], or -1. */
static long parse_int(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno || end == s || *end || v < lo || v > hi ? -1 : v;
}

int tsc_ctl_local(int argc, char **argv)
{
    char dir[TSC__LOCAL_PATH];
    const char *sub = NULL, *dir_arg = NULL, *n_arg = NULL;
    long n = 0, base_port = LOCAL_BASE_PORT;
    int do_purge = 0, have_port = 0;

    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = NULL;
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            fputs(usage_local, stdout);
            return TSC_CTL_EXIT_OK;
        } else if (strcmp(s, "--purge") == 0) {
            do_purge = 1;
        } else if (strcmp(s, "--dir") == 0 || strcmp(s, "--base-port") == 0) {
            if (i + 1 >= argc)
                return local_usage("%s needs a value", s);
            v = argv[++i];
        } else if (strncmp(s, "--dir=", 6) == 0 || strncmp(s, "--base-port=", 12) == 0) {
            v = strchr(s, '=') + 1;
        } else if (s[0] == '-' && s[1] != '\0') {
            return local_usage("unknown option '%s'", s);
        } else if (sub == NULL) {
            sub = s;
        } else if (strcmp(sub, "up") == 0 && n_arg == NULL) {
            n_arg = s;
        } else {
            return local_usage("unexpected argument '%s'", s);
        }
        if (v != NULL && s[2] == 'd') {
            dir_arg = v;
        } else if (v != NULL) {
            if ((base_port = parse_int(v, 1, 65535)) < 0)
                return local_usage("bad --base-port '%s': want 1-65535", v);
            have_port = 1;
        }
    }
    if (sub == NULL)
        return local_usage("%s", "missing subcommand (up, down, status)");
    if (dir_arg != NULL && dir_arg[0] == '\0')
        return local_usage("%s", "--dir is empty");
    if (dir_arg == NULL)
        tsc_ctl_local_dir(dir, sizeof dir);
    else
        snprintf(dir, sizeof dir, "%s", dir_arg);
    if (strlen(dir) >= TSC__LOCAL_PATH - 32)
        return local_usage("--dir too long: '%s'", dir);
    if (strcmp(sub, "up") == 0) {
        if (n_arg == NULL || (n = parse_int(n_arg, 1, TSC__LOCAL_MAX_N)) < 0)
            return local_usage("%s", "up needs N, the number of agents: 1-64");
        if (do_purge)
            return local_usage("%s", "--purge goes with down");
        return local_up(dir, (int)n, (int)base_port);
    }
    if (have_port)
        return local_usage("%s", "--base-port goes with up");
    if (strcmp(sub, "down") == 0)
        return local_down(dir, do_purge);
    if (do_purge)
        return local_usage("%s", "--purge goes with down");
    if (strcmp(sub, "status") == 0)
        return local_status(dir);
    return local_usage("unknown subcommand '%s' (up, down, status)", sub);
}
