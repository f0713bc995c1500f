/* tsc — integration test harness (see harness.h). */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 256

static char root[256];
static pid_t procs[MAX_PROCS]; /* every long-running child, 0 when reaped */
static int next_port;

int64_t th_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void th_kill_all(void)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        if (procs[i] > 0) {
            kill(procs[i], SIGKILL);
            waitpid(procs[i], NULL, 0);
            procs[i] = 0;
        }
    }
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void at_exit(void)
{
    th_kill_all();
    if (root[0] && getenv("TSC_KEEP_TEMP") == NULL)
        nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_fatal_signal(int sig)
{
    /* Only async-signal-safe calls: kill by pid, then die by the signal. */
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i] > 0)
            kill(procs[i], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

void th_init(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/tsc-it-%ld-XXXXXX", tmp && tmp[0] ? tmp : "/tmp",
             (long)getpid());
    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    atexit(at_exit);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGINT, on_fatal_signal);
    signal(SIGPIPE, SIG_IGN);
    /* Ports 20000-59999, a window per pid: parallel test binaries start far
     * apart, and every candidate is still checked with bind(). */
    next_port = 20000 + (int)((unsigned)getpid() * 397u % 40000u);
}

const char *th_root(void)
{
    return root;
}

const char *th_bin(const char *name, char *out, size_t cap)
{
    const char *dir = getenv("TSC_BIN_DIR");
    snprintf(out, cap, "%s/%s", dir ? dir : ".", name);
    return out;
}

static int port_free(int port, int type)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), ok;
    if (fd < 0)
        return 0;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

int th_free_port(void)
{
    for (int tries = 0; tries < 2000; tries++) {
        int p = next_port++;
        if (next_port >= 60000)
            next_port = 20000;
        if (port_free(p, SOCK_STREAM) && port_free(p, SOCK_DGRAM))
            return p;
    }
    fprintf(stderr, "harness: no free port\n");
    exit(1);
}

static void track(pid_t pid)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        if (procs[i] == 0) {
            procs[i] = pid;
            return;
        }
    }
}

static void untrack(pid_t pid)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i] == pid)
            procs[i] = 0;
}

/* fork + exec with stdout/stderr redirected to fds (-1: /dev/null). The
 * child dies with us (PR_SET_PDEATHSIG), whatever kills the test. */
static pid_t spawn(const char *const *argv, int out_fd, int err_fd)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(out_fd >= 0 ? out_fd : null, 1);
    dup2(err_fd >= 0 ? err_fd : null, 2);
    signal(SIGPIPE, SIG_DFL);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

static int exit_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

/* Wait for pid with a deadline; the status, or -1 (still running). */
static int wait_pid(pid_t pid, int timeout_ms)
{
    int64_t end = th_now_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return exit_status(st);
        if (r < 0)
            return -1;
        if (th_now_ms() >= end)
            return -1;
        sleep_ms(10);
    }
}

/* Drain fd into buf (NUL-terminated) until EOF or the deadline. */
static void drain(int fd, char *buf, size_t cap, size_t *len, int64_t end)
{
    struct pollfd p = {fd, POLLIN, 0};
    while (th_now_ms() < end && poll(&p, 1, 50) >= 0) {
        if (!(p.revents & (POLLIN | POLLHUP)))
            continue;
        char tmp[4096];
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r <= 0)
            break;
        if (buf != NULL && *len + 1 < cap) {
            size_t n = (size_t)r < cap - 1 - *len ? (size_t)r : cap - 1 - *len;
            memcpy(buf + *len, tmp, n);
            *len += n;
            buf[*len] = '\0';
        }
    }
}

int th_run(const char *const *argv, char *out, size_t cap, char *err, size_t errcap, int timeout_ms)
{
    int po[2], pe[2];
    size_t olen = 0, elen = 0;
    if (out && cap)
        out[0] = '\0';
    if (err && errcap)
        err[0] = '\0';
    if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = spawn(argv, po[1], pe[1]);
    close(po[1]);
    close(pe[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        return -1;
    }
    track(pid);
    int64_t end = th_now_ms() + timeout_ms;
    drain(po[0], out, cap, &olen, end);
    drain(pe[0], err, errcap, &elen, end);
    close(po[0]);
    close(pe[0]);
    int st = wait_pid(pid, (int)(end > th_now_ms() ? end - th_now_ms() : 1));
    if (st < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    untrack(pid);
    return st;
}

int th_keygen(const char *name, char *path, size_t cap)
{
    char bin[512];
    snprintf(path, cap, "%s/%s", root, name);
    const char *argv[] = {th_bin("tscctl", bin, sizeof bin), "keygen", path, NULL};
    return th_run(argv, NULL, 0, NULL, 0, 10000) == 0 ? 0 : -1;
}

void th_agent_init(struct th_agent *a, const char *name, const char *key, const char *join)
{
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    snprintf(a->dir, sizeof a->dir, "%s/%s", root, name);
    snprintf(a->sock, sizeof a->sock, "%s/tscd.sock", a->dir);
    snprintf(a->log, sizeof a->log, "%s/%s.log", root, name);
    snprintf(a->key, sizeof a->key, "%s", key);
    snprintf(a->join, sizeof a->join, "%s", join ? join : "");
    a->port = th_free_port();
}

/* 1 when the agent's log says its port was taken (by a process outside this
 * test that bound it after th_free_port checked it). */
static int port_was_taken(const struct th_agent *a)
{
    char buf[8192];
    FILE *f = fopen(a->log, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, "address already in use") != NULL;
}

static int start_once(struct th_agent *a, const char *const *extra)
{
    char bin[512], bind[32];
    const char *argv[64];
    int n = 0;
    snprintf(bind, sizeof bind, "127.0.0.1:%d", a->port);
    argv[n++] = th_bin("tscd", bin, sizeof bin);
    argv[n++] = "--data-dir";
    argv[n++] = a->dir;
    argv[n++] = "--key";
    argv[n++] = a->key;
    argv[n++] = "--bind";
    argv[n++] = bind;
    if (a->join[0]) {
        argv[n++] = "--join";
        argv[n++] = a->join;
    }
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    int log = open(a->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    pid_t pid = spawn(argv, log, log);
    if (log >= 0)
        close(log);
    if (pid < 0)
        return -1;
    a->pid = pid;
    track(pid);
    /* Ready = the control socket answers (the agent has bound its ports). */
    int64_t end = th_now_ms() + 10000;
    while (th_now_ms() < end) {
        struct th_member m[TH_MAX_MEMBERS];
        if (th_members(a, m, TH_MAX_MEMBERS) > 0) {
            a->started = 1;
            return 0;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            untrack(pid);
            a->pid = 0;
            return -2;
        }
        sleep_ms(50);
    }
    fprintf(stderr, "harness: %s did not answer on %s\n", a->name, a->sock);
    th_dump_log(a);
    return -1;
}

int th_agent_start(struct th_agent *a, const char *const *extra)
{
    for (int attempt = 0;; attempt++) {
        int rc = start_once(a, extra);
        if (rc != -2)
            return rc;
        /* A first start may move to another port; a restart must keep its
         * address (the others know it by that address). */
        if (a->started || attempt == 3 || !port_was_taken(a)) {
            fprintf(stderr, "harness: %s exited during start-up\n", a->name);
            th_dump_log(a);
            return -1;
        }
        a->port = th_free_port();
    }
}

int th_agent_signal(struct th_agent *a, int sig, int wait, int timeout_ms)
{
    if (a->pid <= 0)
        return -1;
    kill(a->pid, sig);
    if (!wait)
        return 0;
    int st = wait_pid(a->pid, timeout_ms);
    if (st >= 0) {
        untrack(a->pid);
        a->pid = 0;
    }
    return st;
}

void th_dump_log(const struct th_agent *a)
{
    char buf[4096];
    FILE *f = fopen(a->log, "r");
    if (f == NULL)
        return;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, sz > (long)sizeof buf - 1 ? sz - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "---- %s (%s), last lines ----\n%s----\n", a->name, a->log, buf);
}
