/* tsc — `tscctl local up|down|status`: a cluster of tscd daemons on
 * 127.0.0.1 (see local.h for the directory layout).
 *
 * Processes. Each agent is started with fork + setsid + exec, its stdin on
 * /dev/null and stdout/stderr appended to its tscd.log, so it outlives
 * tscctl and holds none of the caller's descriptors (a test runner waiting
 * for tscctl's output pipe would otherwise wait for the daemons too). Its pid
 * goes to nodeI/tscd.pid. A pid file alone is never trusted: an agent counts
 * as running only while /proc/PID/stat names a live (not zombie) "tscd", so
 * a recycled pid is neither refused on nor signalled.
 *
 * Readiness. `up` returns only when the cluster is usable: every agent's
 * socket lists N alive members and node1 knows a coordinator. It polls
 * every 50 ms up to 30 s; an agent that exits meanwhile fails the whole
 * `up` at once with its log's last lines, and the others are stopped. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/keyfile.h"
#include "common/alloc.h"
#include "ctl/ctl.h"
#include "ctl/local.h"
#include "wire/record.h"

#define LOCAL_MAX_N      64
#define LOCAL_BASE_PORT  17946
#define LOCAL_PATH       512
#define LOCAL_UP_MS      30000
#define LOCAL_DOWN_MS    10000
#define LOCAL_POLL_MS    50
#define LOCAL_CALL_MS    1000
#define LOCAL_LOG_LINES  10
#define LOCAL_N_VOTERS   3
#define LOCAL_SOCK_LIMIT sizeof(((struct sockaddr_un *)0)->sun_path)

struct local_node {
    char dir[LOCAL_PATH];
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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* snprintf that reports truncation: 0 or -1. */
static int pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int pathf(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, LOCAL_PATH, fmt, ap);
    va_end(ap);
    return n < 0 || n >= LOCAL_PATH ? -1 : 0;
}

/* 1 when pid is a live tscd (not a zombie, not a recycled pid). */
static int is_tscd(pid_t pid)
{
    char path[64], buf[512];
    if (pid <= 1 || kill(pid, 0) != 0)
        return 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "PID (COMM) S ...": COMM may itself hold ')', so take the last one. */
    char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
    if (open_paren == NULL || close_paren == NULL || close_paren < open_paren ||
        close_paren[1] != ' ')
        return 0;
    *close_paren = '\0';
    char state = close_paren[2];
    return strcmp(open_paren + 1, "tscd") == 0 && state != 'Z' && state != 'X';
}

/* The pid in DIR/nodeI/tscd.pid, 0 when none or unreadable. */
static pid_t read_pid(const char *dir, int i)
{
    char path[LOCAL_PATH], buf[32];
    if (pathf(path, "%s/node%d/tscd.pid", dir, i) != 0)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end;
    long v = strtol(buf, &end, 10);
    return v > 1 && v <= INT_MAX && (*end == '\n' || *end == '\0') ? (pid_t)v : 0;
}

static int pid_file_exists(const char *dir, int i)
{
    char path[LOCAL_PATH];
    return pathf(path, "%s/node%d/tscd.pid", dir, i) == 0 && access(path, F_OK) == 0;
}

static void remove_pid_file(const char *dir, int i)
{
    char path[LOCAL_PATH];
    if (pathf(path, "%s/node%d/tscd.pid", dir, i) == 0)
        unlink(path);
}

/* Write a small file atomically (temp file + rename), mode 0600. */
static int write_file(const char *path, const char *text)
{
    char tmp[LOCAL_PATH + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len;
    if (close(fd) != 0 || !ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf path (never following symlinks); 0 also when path does not exist. */
static int rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

/* Print the last lines of an agent's log to stderr. */
static void print_log_tail(const char *dir, int i)
{
    char path[LOCAL_PATH], buf[4096];
    if (pathf(path, "%s/node%d/tscd.log", dir, i) != 0)
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)sizeof buf - 1 ? size - (off_t)sizeof buf + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, from);
    close(fd);
    if (n <= 0) {
        fprintf(stderr, "tscctl: (node%d's log %s is empty)\n", i, path);
        return;
    }
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    const char *start = buf;
    int lines = 0;
    for (ssize_t k = n - 1; k >= 0; k--)
        if (buf[k] == '\n' && ++lines == LOCAL_LOG_LINES) {
            start = buf + k + 1;
            break;
        }
    fprintf(stderr, "tscctl: last lines of %s:\n%s\n", path, start);
}

/* 1 while the agent runs. ours: it is our unreaped child (after a failed
 * up), whatever it execs; its pid cannot be recycled until we reap it. */
static int agent_alive(pid_t pid, int ours)
{
    if (ours)
        return waitpid(pid, NULL, WNOHANG) == 0;
    return is_tscd(pid);
}

/* SIGTERM every running agent among pids[1..n] (0 = none), wait up to
 * LOCAL_DOWN_MS for them to go, SIGKILL the rest. ours: see agent_alive.
 * Returns how many were running. */
static int stop_agents(const pid_t *pids_in, int n, int ours)
{
    pid_t pids[LOCAL_MAX_N + 1];
    int running = 0;
    for (int i = 1; i <= n; i++) {
        pids[i] = pids_in[i] > 0 && agent_alive(pids_in[i], ours) ? pids_in[i] : 0;
        if (pids[i] > 0 && kill(pids[i], SIGTERM) == 0)
            running++;
    }
    int64_t deadline = now_ms() + LOCAL_DOWN_MS;
    for (;;) {
        int left = 0;
        for (int i = 1; i <= n; i++) {
            if (pids[i] > 0 && !agent_alive(pids[i], ours))
                pids[i] = 0; /* gone (and reaped, if ours): never signal it again */
            left += pids[i] > 0;
        }
        if (left == 0)
            break;
        if (now_ms() >= deadline) {
            for (int i = 1; i <= n; i++)
                if (pids[i] > 0) {
                    fprintf(stderr, "tscctl: node%d (pid %d) did not stop in %d s; killing it\n", i,
                            (int)pids[i], LOCAL_DOWN_MS / 1000);
                    kill(pids[i], SIGKILL);
                    if (ours)
                        waitpid(pids[i], NULL, 0);
                }
            break;
        }
        sleep_ms(LOCAL_POLL_MS);
    }
    return running;
}

/* The pids of DIR/node1..64 (0 where there is no running tscd). Returns the
 * number of running agents; *last gets the highest node with a pid file. */
static int scan_agents(const char *dir, pid_t pids[LOCAL_MAX_N + 1], int *last)
{
    int running = 0;
    *last = 0;
    for (int i = 1; i <= LOCAL_MAX_N; i++) {
        pids[i] = 0;
        if (!pid_file_exists(dir, i))
            continue;
        *last = i;
        pid_t pid = read_pid(dir, i);
        if (pid > 0 && is_tscd(pid)) {
            pids[i] = pid;
            running++;
        }
    }
    return running;
}

/* 1 when the port is free on 127.0.0.1 for both TCP and UDP. TCP is probed
 * with SO_REUSEADDR as libuv binds it, so a port held only by TIME_WAIT
 * connections counts as free. */
static int port_free(int port)
{
    struct sockaddr_in sa;
    int one = 1, ok = 1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    for (int k = 0; k < 2 && ok; k++) {
        int fd = socket(AF_INET, (k ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return 0;
        if (k == 0)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(fd);
    }
    return ok;
}

/* The tscd to run: next to this tscctl, else $TSC_TSCD, else "tscd" on
 * PATH, made absolute because the agents run with cwd "/". */
static int find_tscd(char *out)
{
    char self[LOCAL_PATH], cand[LOCAL_PATH];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            if (pathf(cand, "%s/tscd", self) == 0 && access(cand, X_OK) == 0)
                return snprintf(out, LOCAL_PATH, "%s", cand), 0;
        }
    }
    const char *env = getenv("TSC_TSCD");
    if (env != NULL && env[0] != '\0') {
        if (access(env, X_OK) != 0 || realpath(env, out) == NULL) {
            fprintf(stderr, "tscctl: $TSC_TSCD=%s is not an executable file\n", env);
            return -1;
        }
        return 0;
    }
    const char *path = getenv("PATH");
    while (path != NULL && *path != '\0') {
        const char *colon = strchrnul(path, ':');
        int len = (int)(colon - path);
        if (pathf(cand, "%.*s/tscd", len ? len : 1, len ? path : ".") == 0 &&
            access(cand, X_OK) == 0 && realpath(cand, out) != NULL)
            return 0;
        path = *colon ? colon + 1 : colon;
    }
    fprintf(stderr, "tscctl: cannot find tscd (not next to tscctl, no $TSC_TSCD, not on PATH)\n");
    return -1;
}

/* Start one agent as a daemon; its pid in *pid. 0 or -1 (message printed). */
static int spawn(const char *tscd, char *const argv[], const char *log, pid_t *pid)
{
    int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (logfd < 0 || nullfd < 0) {
        fprintf(stderr, "tscctl: open %s: %s\n", logfd < 0 ? log : "/dev/null", strerror(errno));
        if (logfd >= 0)
            close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        return -1;
    }
    fflush(NULL);
    *pid = fork();
    if (*pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        setsid();
        if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0 || chdir("/") != 0)
            _exit(127);
#ifdef SYS_close_range
        if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
#endif
            for (int fd = 3; fd < 1024; fd++)
                close(fd);
        execv(tscd, argv);
        dprintf(2, "tscctl: exec %s: %s\n", tscd, strerror(errno));
        _exit(127);
    }
    int err = errno;
    close(logfd);
    close(nullfd);
    if (*pid < 0) {
        fprintf(stderr, "tscctl: fork: %s\n", strerror(err));
        return -1;
    }
    return 0;
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
    char sock[LOCAL_PATH];
    int64_t deadline = now_ms() + LOCAL_UP_MS;
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
                print_log_tail(dir, i);
                return -1;
            }
        }
        for (int i = 1; i <= n; i++) {
            if (!nodes[i].ready) {
                pathf(sock, "%s/tscd.sock", nodes[i].dir);
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
            pathf(sock, "%s/tscd.sock", nodes[1].dir);
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
        if (now_ms() >= deadline)
            break;
        sleep_ms(LOCAL_POLL_MS);
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
    char key[LOCAL_PATH];
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
    if (pathf(key, "%s/cluster.key", abs) != 0 ||
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
    char path[LOCAL_PATH], errmsg[TSC_ERRMSG_SIZE];
    uint8_t key[TSC_KEY_BYTES];
    pathf(path, "%s/cluster.key", dir);
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
    char dir[PATH_MAX], tscd[LOCAL_PATH], key[LOCAL_PATH], log[LOCAL_PATH], env[2 * LOCAL_PATH];
    char bind[32], join[32], label[32];
    pid_t pids[LOCAL_MAX_N + 1];
    int last, coord = 0, code = TSC_CTL_EXIT_ERROR;
    struct local_node *nodes = NULL;

    if (scan_agents(dir_arg, pids, &last) > 0) {
        fprintf(stderr,
                "tscctl: a local cluster is already running in %s (tscctl local down first)\n",
                dir_arg);
        return TSC_CTL_EXIT_ERROR;
    }
    if (prepare_dir(dir_arg, dir) != 0 || find_tscd(tscd) != 0 || ensure_key(dir) != 0)
        return TSC_CTL_EXIT_ERROR;
    if ((nodes = tsc_calloc((size_t)n + 1, sizeof *nodes)) == NULL) {
        fprintf(stderr, "tscctl: out of memory\n");
        return TSC_CTL_EXIT_ERROR;
    }
    /* A fresh cluster: earlier agents' data would make node1 rejoin them. */
    for (int i = 1; i <= LOCAL_MAX_N; i++) {
        char old[LOCAL_PATH];
        if (pathf(old, "%s/node%d", dir, i) == 0 && rm_tree(old) != 0) {
            fprintf(stderr, "tscctl: cannot remove %s: %s\n", old, strerror(errno));
            goto out;
        }
    }
    for (int i = 1, port = base_port; i <= n; i++, port++) {
        while (port <= 65535 && !port_free(port))
            port++;
        if (port > 65535) {
            fprintf(stderr, "tscctl: not enough free ports from %d on\n", base_port);
            goto out;
        }
        nodes[i].port = port;
        nodes[i].voter = i <= (n >= LOCAL_N_VOTERS ? LOCAL_N_VOTERS : 1);
    }
    pathf(key, "%s/cluster.key", dir);
    snprintf(join, sizeof join, "127.0.0.1:%d", nodes[1].port);
    for (int i = 1; i <= n; i++) {
        char pid_text[32], pid_path[LOCAL_PATH];
        pathf(nodes[i].dir, "%s/node%d", dir, i);
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
        pathf(log, "%s/tscd.log", nodes[i].dir);
        if (spawn(tscd, argv, log, &nodes[i].pid) != 0)
            goto stop;
        snprintf(pid_text, sizeof pid_text, "%d\n", (int)nodes[i].pid);
        if (pathf(pid_path, "%s/tscd.pid", nodes[i].dir) != 0 || write_file(pid_path, pid_text)) {
            fprintf(stderr, "tscctl: cannot write %s: %s\n", pid_path, strerror(errno));
            goto stop;
        }
    }
    snprintf(env, sizeof env, "TSC_SOCKET=%s/tscd.sock\nTSC_LOCAL_N=%d\n", nodes[1].dir, n);
    pathf(log, "%s/cluster.env", dir);
    if (write_file(log, env) != 0) {
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
    stop_agents(pids, n, 1);
    for (int i = 1; i <= n; i++)
        remove_pid_file(dir, i);
    fprintf(stderr, "tscctl: local up failed; the agents were stopped\n");
out:
    tsc_free(nodes);
    return code;
}

/* Remove DIR, only when it looks like a local cluster dir. */
static int purge(const char *dir)
{
    char key[LOCAL_PATH];
    struct stat st;
    if (lstat(dir, &st) != 0 && errno == ENOENT)
        return 0;
    if (pathf(key, "%s/cluster.key", dir) != 0 || access(key, F_OK) != 0) {
        fprintf(stderr,
                "tscctl: %s has no cluster.key: not a local cluster directory, not removing "
                "it\n",
                dir);
        return -1;
    }
    if (rm_tree(dir) != 0) {
        fprintf(stderr, "tscctl: cannot remove %s: %s\n", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int local_down(const char *dir, int do_purge)
{
    pid_t pids[LOCAL_MAX_N + 1];
    int last;
    int running = scan_agents(dir, pids, &last);
    if (running == 0) {
        printf("no local cluster running in %s\n", dir);
    } else {
        stop_agents(pids, last, 0);
        printf("stopped %d agents\n", running);
    }
    /* Every agent is gone or SIGKILLed by now: no pid file stays valid. */
    for (int i = 1; i <= last; i++)
        remove_pid_file(dir, i);
    if (do_purge && purge(dir) != 0)
        return TSC_CTL_EXIT_ERROR;
    return fflush(stdout) == 0 ? TSC_CTL_EXIT_OK : TSC_CTL_EXIT_ERROR;
}

static int local_status(const char *dir)
{
    int alive = 0, listed = 0;
    for (int i = 1; i <= LOCAL_MAX_N; i++) {
        if (!pid_file_exists(dir, i))
            continue;
        pid_t pid = read_pid(dir, i);
        int up = pid > 0 && is_tscd(pid);
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
    char dir[LOCAL_PATH];
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
    if (strlen(dir) >= LOCAL_PATH - 32)
        return local_usage("--dir too long: '%s'", dir);
    if (strcmp(sub, "up") == 0) {
        if (n_arg == NULL || (n = parse_int(n_arg, 1, LOCAL_MAX_N)) < 0)
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
