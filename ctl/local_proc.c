/* tsc — the agents of `tscctl local` as processes (ctl/local_int.h).
 *
 * Each agent is started with fork + setsid + exec, its stdin on /dev/null
 * and stdout/stderr appended to its tscd.log, so it outlives tscctl and
 * holds none of the caller's descriptors (a test runner waiting for
 * tscctl's output pipe would otherwise wait for the daemons too). Its pid
 * goes to nodeI/tscd.pid. A pid file alone is never trusted: an agent counts
 * as running only while /proc/PID/stat names a live (not zombie) "tscd", so
 * a recycled pid is neither refused on nor signalled. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl/local_int.h"

#define LOCAL_DOWN_MS   10000
#define LOCAL_LOG_LINES 10

int64_t tsc__local_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tsc__local_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* snprintf that reports truncation: 0 or -1. */
int tsc__local_pathf(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, TSC__LOCAL_PATH, fmt, ap);
    va_end(ap);
    return n < 0 || n >= TSC__LOCAL_PATH ? -1 : 0;
}

/* 1 when pid is a live tscd (not a zombie, not a recycled pid). */
int tsc__local_is_tscd(pid_t pid)
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
pid_t tsc__local_read_pid(const char *dir, int i)
{
    char path[TSC__LOCAL_PATH], buf[32];
    if (tsc__local_pathf(path, "%s/node%d/tscd.pid", dir, i) != 0)
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

int tsc__local_pid_file_exists(const char *dir, int i)
{
    char path[TSC__LOCAL_PATH];
    return tsc__local_pathf(path, "%s/node%d/tscd.pid", dir, i) == 0 && access(path, F_OK) == 0;
}

void tsc__local_remove_pid_file(const char *dir, int i)
{
    char path[TSC__LOCAL_PATH];
    if (tsc__local_pathf(path, "%s/node%d/tscd.pid", dir, i) == 0)
        unlink(path);
}

/* Write a small file atomically (temp file + rename), mode 0600. */
int tsc__local_write_file(const char *path, const char *text)
{
    char tmp[TSC__LOCAL_PATH + 8];
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
int tsc__local_rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

/* Print the last lines of an agent's log to stderr. */
void tsc__local_print_log_tail(const char *dir, int i)
{
    char path[TSC__LOCAL_PATH], buf[4096];
    if (tsc__local_pathf(path, "%s/node%d/tscd.log", dir, i) != 0)
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
    return tsc__local_is_tscd(pid);
}

/* SIGTERM every running agent among pids[1..n] (0 = none), wait up to
 * LOCAL_DOWN_MS for them to go, SIGKILL the rest. ours: see agent_alive.
 * Returns how many were running. */
int tsc__local_stop_agents(const pid_t *pids_in, int n, int ours)
{
    pid_t pids[TSC__LOCAL_MAX_N + 1];
    int running = 0;
    for (int i = 1; i <= n; i++) {
        pids[i] = pids_in[i] > 0 && agent_alive(pids_in[i], ours) ? pids_in[i] : 0;
        if (pids[i] > 0 && kill(pids[i], SIGTERM) == 0)
            running++;
    }
    int64_t deadline = tsc__local_now_ms() + LOCAL_DOWN_MS;
    for (;;) {
        int left = 0;
        for (int i = 1; i <= n; i++) {
            if (pids[i] > 0 && !agent_alive(pids[i], ours))
                pids[i] = 0; /* gone (and reaped, if ours): never signal it again */
            left += pids[i] > 0;
        }
        if (left == 0)
            break;
        if (tsc__local_now_ms() >= deadline) {
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
        tsc__local_sleep_ms(TSC__LOCAL_POLL_MS);
    }
    return running;
}

/* The pids of DIR/node1..64 (0 where there is no running tscd). Returns the
 * number of running agents; *last gets the highest node with a pid file. */
int tsc__local_scan_agents(const char *dir, pid_t pids[TSC__LOCAL_MAX_N + 1], int *last)
{
    int running = 0;
    *last = 0;
    for (int i = 1; i <= TSC__LOCAL_MAX_N; i++) {
        pids[i] = 0;
        if (!tsc__local_pid_file_exists(dir, i))
            continue;
        *last = i;
        pid_t pid = tsc__local_read_pid(dir, i);
        if (pid > 0 && tsc__local_is_tscd(pid)) {
            pids[i] = pid;
            running++;
        }
    }
    return running;
}

/* 1 when the port is free on 127.0.0.1 for both TCP and UDP. TCP is probed
 * with SO_REUSEADDR as libuv binds it, so a port held only by TIME_WAIT
 * connections counts as free. */
int tsc__local_port_free(int port)
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
int tsc__local_find_tscd(char *out)
{
    char self[TSC__LOCAL_PATH], cand[TSC__LOCAL_PATH];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            if (tsc__local_pathf(cand, "%s/tscd", self) == 0 && access(cand, X_OK) == 0)
                return snprintf(out, TSC__LOCAL_PATH, "%s", cand), 0;
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
        if (tsc__local_pathf(cand, "%.*s/tscd", len ? len : 1, len ? path : ".") == 0 &&
            access(cand, X_OK) == 0 && realpath(cand, out) != NULL)
            return 0;
        path = *colon ? colon + 1 : colon;
    }
    fprintf(stderr, "tscctl: cannot find tscd (not next to tscctl, no $TSC_TSCD, not on PATH)\n");
    return -1;
}

/* Start one agent as a daemon; its pid in *pid. 0 or -1 (message printed). */
int tsc__local_spawn(const char *tscd, char *const argv[], const char *log, pid_t *pid)
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
