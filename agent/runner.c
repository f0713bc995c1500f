/* tsc — the process runner (runner.h): stage scripts as /bin/sh process
 * groups on libuv.
 *
 * A job owns four handles: the process, one pipe per output stream and one
 * timer. The job is freed in the close callback of the last of them (libuv's
 * rule), never earlier, so a callback that arrives late still finds it.
 *
 * Why the group is killed when the shell exits: the pipes reach EOF only
 * when every process holding their write ends has gone, and a background
 * child of the script (`server &`, the left side of a pipeline) keeps them
 * open. The done callback waits for EOF so that no output is lost, so those
 * children are killed with the group the moment the shell is reaped. A
 * script that must leave a daemon behind has to detach it from the group
 * (setsid, systemd-run) and from the pipes; a process that only leaves the
 * group but keeps the pipes open delays the callback by DRAIN_CAP_MS at
 * most, after which the pipes are closed anyway.
 *
 * Timer: before the exit it is the stage timeout; after the exit it is the
 * drain cap; a kill of an exited job re-arms it at 0 to end the drain now,
 * from the loop, since callbacks never fire from inside a runner call. */
#define _GNU_SOURCE
#include "agent/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/log.h"
#include "barrier/runlog.h"
#include "common/alloc.h"

#define DEFAULT_MAX_OUTPUT 65536
#define MARKER_ROOM        TSC_RUNNER_MARKER_MAX /* "\n[... <20 digits> bytes cut ...]\n" fits */
#define READ_CHUNK         16384
#define DRAIN_CAP_MS       2000
#define SHELL              "/bin/sh"
#define BOOT_ID_PATH       "/proc/sys/kernel/random/boot_id"
#define BOOT_ID_LEN        36

extern char **environ;

struct tsc_runner_job {
    struct tsc_runner *runner;
    struct tsc_runner_job *prev, *next;
    int linked; /* in runner->jobs (only after a successful spawn) */
    uint64_t run;
    uint32_t stage;
    uv_process_t proc;
    uv_pipe_t pipes[2]; /* stdout, stderr */
    uv_timer_t timer;
    int n_open; /* handles not yet closed; the job is freed at 0 */
    int pgid;
    int exited, finished;
    int eof[2];
    int paused[2]; /* reading stopped for the rest of the turn (the budget) */
    int64_t exit_status;
    int term_signal;
    int reason; /* 0, or TSC_RESULT_TIMEOUT / TSC_RESULT_CANCELLED once we killed it */
    uint64_t timeout_us, start_us, end_us;
    char pgid_path[PATH_MAX];
    /* Capture: [head | MARKER_ROOM | tail ring] in one block. */
    uint8_t *cap;
    size_t head_cap, tail_cap;
    size_t head_len, ring_pos, ring_len;
    uint64_t total;
    struct tsc_buf partial[2];   /* lines: the unfinished last line of each pipe */
    uint8_t scratch[READ_CHUNK]; /* shared by both pipes: libuv reads one at a time */
};

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static const char *signal_name(int sig)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {
        {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
        {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
        {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
        {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGXCPU, "SIGXCPU"},
        {SIGXFSZ, "SIGXFSZ"}, {SIGSYS, "SIGSYS"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig)
            return names[i].name;
    return "?";
}

/* Never signal pgid 0 or 1 (our own group, every process) nor our group. */
static int kill_group(int pgid)
{
    if (pgid <= 1 || pgid == (int)getpgrp())
        return -1;
    return kill(-pgid, SIGKILL);
}

/* ---- bounded capture ---------------------------------------------------- */

static void capture(struct tsc_runner_job *j, const uint8_t *p, size_t n)
{
    j->total += n;
    if (j->head_len < j->head_cap) {
        size_t k = j->head_cap - j->head_len;
        if (k > n)
            k = n;
        memcpy(j->cap + j->head_len, p, k);
        j->head_len += k;
        p += k;
        n -= k;
    }
    if (n == 0 || j->tail_cap == 0)
        return;
    uint8_t *ring = j->cap + j->head_cap + MARKER_ROOM;
    if (n >= j->tail_cap) { /* only the last tail_cap bytes can survive */
        memcpy(ring, p + (n - j->tail_cap), j->tail_cap);
        j->ring_pos = 0;
        j->ring_len = j->tail_cap;
        return;
    }
    size_t first = j->tail_cap - j->ring_pos;
    if (first > n)
        first = n;
    memcpy(ring + j->ring_pos, p, first);
    memcpy(ring, p + first, n - first);
    j->ring_pos = (j->ring_pos + n) % j->tail_cap;
    j->ring_len = j->ring_len + n > j->tail_cap ? j->tail_cap : j->ring_len + n;
}

static void reverse(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        uint8_t t = p[i];
        p[i] = p[n - 1 - i];
        p[n - 1 - i] = t;
    }
}

/* Make the capture contiguous in place: head, marker if bytes were cut,
 * tail oldest first. Returns the length; *truncated says whether cut. */
static size_t capture_finish(struct tsc_runner_job *j, int *truncated)
{
    uint8_t *ring = j->cap + j->head_cap + MARKER_ROOM;
    uint64_t kept = (uint64_t)j->head_cap + j->tail_cap;
    *truncated = j->total > kept;
    if (!*truncated) {
        memmove(j->cap + j->head_len, ring, j->ring_len); /* never wrapped */
        return j->head_len + j->ring_len;
    }
    /* The ring is full; its oldest byte is at ring_pos: rotate left. */
    reverse(ring, j->ring_pos);
    reverse(ring + j->ring_pos, j->tail_cap - j->ring_pos);
    reverse(ring, j->tail_cap);
    char marker[MARKER_ROOM];
    int m = snprintf(marker, sizeof marker, "\n[... %llu bytes cut ...]\n",
                     (unsigned long long)(j->total - kept));
    memcpy(j->cap + j->head_cap, marker, (size_t)m);
    memmove(j->cap + j->head_cap + m, ring, j->tail_cap);
    return j->head_cap + (size_t)m + j->tail_cap;
}

/* ---- lines ----------------------------------------------------------------- */

static void emit_line(struct tsc_runner_job *j, int i, const uint8_t *p, size_t n)
{
    j->runner->line(j->runner->ctx, j->run, j->stage, i == 1, p, n);
}

/* Split n bytes of pipe i into lines; what has no '\n' yet waits in
 * partial[i] (at most TSC_RUNNER_MAX_LINE bytes: a longer line goes out in
 * pieces). Lines that lie whole in p are handed over without a copy. */
static void split_lines(struct tsc_runner_job *j, int i, const uint8_t *p, size_t n)
{
    struct tsc_buf *b = &j->partial[i];
    while (n > 0) {
        const uint8_t *nl = memchr(p, '\n', n);
        size_t len = nl ? (size_t)(nl - p) : n;
        if (b->len == 0 && nl != NULL && len <= TSC_RUNNER_MAX_LINE) {
            emit_line(j, i, p, len);
        } else {
            size_t room = TSC_RUNNER_MAX_LINE - b->len, take = len < room ? len : room;
            if (tsc_buf_append(b, p, take) != 0) {
                /* Out of memory: give what there is rather than lose it. */
                if (b->len > 0)
                    emit_line(j, i, b->data, b->len);
                emit_line(j, i, p, take);
                tsc_buf_reset(b);
            } else if (b->len == TSC_RUNNER_MAX_LINE || (nl != NULL && take == len)) {
                emit_line(j, i, b->data, b->len);
                tsc_buf_reset(b);
            }
            if (take < len) {
                p += take;
                n -= take;
                continue; /* the rest of an over-long line */
            }
        }
        if (nl == NULL)
            break;
        p += len + 1;
        n -= len + 1;
    }
    if (b->len == 0 && b->cap > 4096)
        tsc_buf_free(b); /* a long line is over: do not keep its room */
}

/* The pipe closed: a last line without '\n' is still a line. */
static void flush_lines(struct tsc_runner_job *j, int i)
{
    if (j->runner->line != NULL && j->partial[i].len > 0)
        emit_line(j, i, j->partial[i].data, j->partial[i].len);
    tsc_buf_free(&j->partial[i]);
}

/* ---- job lifetime ------------------------------------------------------- */

static void on_closed(uv_handle_t *h)
{
    struct tsc_runner_job *j = h->data;
    if (--j->n_open > 0)
        return;
    tsc_buf_free(&j->partial[0]);
    tsc_buf_free(&j->partial[1]);
    tsc_free(j->cap);
    tsc_free(j);
}

static void close_handle(struct tsc_runner_job *j, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_closed);
}

static void close_pipe(struct tsc_runner_job *j, int i)
{
    if (!j->eof[i])
        flush_lines(j, i);
    j->eof[i] = 1;
    close_handle(j, (uv_handle_t *)&j->pipes[i]);
}

static void unlink_job(struct tsc_runner_job *j)
{
    struct tsc_runner *r = j->runner;
    if (!j->linked)
        return;
    j->linked = 0;
    if (j->prev)
        j->prev->next = j->next;
    else
        r->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    r->n_jobs--;
}

static void describe(const struct tsc_runner_job *j, struct tsc_runner_result *res)
{
    if (j->term_signal != 0)
        res->signal = j->term_signal;
    else
        res->exit_code = (int)j->exit_status;
    if (j->reason == TSC_RESULT_TIMEOUT) {
        res->status = TSC_RESULT_TIMEOUT;
        snprintf(res->message, sizeof res->message, "timeout after %g s",
                 (double)j->timeout_us / 1e6);
    } else if (j->reason == TSC_RESULT_CANCELLED) {
        res->status = TSC_RESULT_CANCELLED;
        snprintf(res->message, sizeof res->message, "cancelled");
    } else if (j->term_signal != 0) {
        res->status = TSC_RESULT_FAILED;
        snprintf(res->message, sizeof res->message, "killed by signal %d (%s)", j->term_signal,
                 signal_name(j->term_signal));
    } else {
        res->status = j->exit_status == 0 ? TSC_RESULT_PASSED : TSC_RESULT_FAILED;
        snprintf(res->message, sizeof res->message, "exit %d", (int)j->exit_status);
    }
}

/* Reaped and both pipes closed: report, then release the handles. The job
 * leaves the list first, so the callback may start the same stage again. */
static void finish(struct tsc_runner_job *j)
{
    struct tsc_runner *r = j->runner;
    struct tsc_runner_result res;
    if (j->finished || !j->exited || !j->eof[0] || !j->eof[1])
        return;
    j->finished = 1;
    unlink_job(j);
    if (unlink(j->pgid_path) != 0 && errno != ENOENT)
        tsc_logf(TSC_LOG_WARN, "runner: remove %s: %s", j->pgid_path, strerror(errno));
    memset(&res, 0, sizeof res);
    res.run = j->run;
    res.stage = j->stage;
    res.start_us = j->start_us;
    res.end_us = j->end_us;
    res.output_len = capture_finish(j, &res.truncated);
    res.output = j->cap;
    describe(j, &res);
    tsc_logf(TSC_LOG_DEBUG, "runner: run %llu stage %u: %s", (unsigned long long)j->run, j->stage,
             res.message);
    r->done(r->ctx, &res);
    close_handle(j, (uv_handle_t *)&j->proc);
    close_handle(j, (uv_handle_t *)&j->timer);
}

static void on_timer(uv_timer_t *t);

static void on_proc_exit(uv_process_t *p, int64_t exit_status, int term_signal)
{
    struct tsc_runner_job *j = p->data;
    j->exited = 1;
    j->exit_status = exit_status;
    j->term_signal = term_signal;
    j->end_us = wall_us();
    /* Background children would hold the pipes open (see the top). */
    kill_group(j->pgid);
    uv_timer_stop(&j->timer);
    finish(j);
    if (!j->finished)
        uv_timer_start(&j->timer, on_timer, DRAIN_CAP_MS, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct tsc_runner_job *j = t->data;
    if (!j->exited) { /* the stage timeout */
        if (j->reason == 0)
            j->reason = TSC_RESULT_TIMEOUT;
        kill_group(j->pgid);
        return;
    }
    /* The drain cap, or a kill after the exit: stop waiting for EOF. A pipe
     * paused by the turn budget is not stuck: its reader is behind. */
    if (j->reason == 0 && (j->paused[0] || j->paused[1])) {
        uv_timer_start(&j->timer, on_timer, DRAIN_CAP_MS, 0);
        return;
    }
    for (int i = 0; i < 2; i++)
        if (!j->eof[i])
            close_pipe(j, i);
    finish(j);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct tsc_runner_job *j = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)j->scratch, sizeof j->scratch);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* A new loop turn: the budget is whole again, paused pipes read on. */
static void on_resume(uv_idle_t *h)
{
    struct tsc_runner *r = h->data;
    uv_idle_stop(h);
    r->resume_on = 0;
    r->turn_bytes = 0;
    for (struct tsc_runner_job *j = r->jobs; j != NULL; j = j->next) {
        for (int i = 0; i < 2; i++) {
            if (!j->paused[i])
                continue;
            j->paused[i] = 0;
            if (!j->eof[i] && !uv_is_closing((uv_handle_t *)&j->pipes[i]) &&
                uv_read_start((uv_stream_t *)&j->pipes[i], on_alloc, on_read) != 0)
                close_pipe(j, i);
        }
    }
}

/* The turn's budget is spent: pipe i waits for the next turn. */
static void pause_pipe(struct tsc_runner_job *j, int i)
{
    struct tsc_runner *r = j->runner;
    if (!r->resume_init || r->closing)
        return;
    uv_read_stop((uv_stream_t *)&j->pipes[i]);
    j->paused[i] = 1;
    if (!r->resume_on) {
        r->resume_on = 1;
        uv_idle_start(&r->resume, on_resume);
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct tsc_runner_job *j = s->data;
    int i = s == (uv_stream_t *)&j->pipes[0] ? 0 : 1;
    if (nread > 0) {
        capture(j, (const uint8_t *)buf->base, (size_t)nread);
        if (j->runner->line != NULL)
            split_lines(j, i, (const uint8_t *)buf->base, (size_t)nread);
        j->runner->turn_bytes += (size_t)nread;
        if (j->runner->turn_bytes >= TSC_RUNNER_TURN_BYTES)
            pause_pipe(j, i);
        return;
    }
    if (nread == 0)
        return; /* EAGAIN */
    close_pipe(j, i);
    finish(j);
}

/* SIGKILL the group of a job; its result will say `reason`. A job whose
 * shell already exited only has its drain cut short. */
static void job_kill(struct tsc_runner_job *j, int reason)
{
    if (j->finished)
        return;
    if (j->exited) {
        uv_timer_start(&j->timer, on_timer, 0, 0);
        return;
    }
    if (j->reason == 0)
        j->reason = reason;
    kill_group(j->pgid);
}

/* ---- files -------------------------------------------------------------- */

/* mkdir -p: every missing component is created; an existing one is fine. */
static int mkdir_p(const char *path, mode_t mode, char *errmsg)
{
    char p[PATH_MAX];
    struct stat st;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof p) {
        tsc_errmsg_setf(errmsg, "workdir '%s': bad path length", path);
        return TSC_EIO;
    }
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST) {
            tsc_errmsg_setf(errmsg, "workdir: mkdir %s: %s", p, strerror(errno));
            return TSC_EIO;
        }
        p[i] = c;
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        tsc_errmsg_setf(errmsg, "workdir %s: not a directory", path);
        return TSC_EIO;
    }
    return 0;
}

static int write_file(const char *path, const char *data, size_t len, char *errmsg)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        tsc_errmsg_setf(errmsg, "%s: %s", path, strerror(errno));
        return TSC_EIO;
    }
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            tsc_errmsg_setf(errmsg, "write %s: %s", path, w < 0 ? strerror(errno) : "short write");
            close(fd);
            return TSC_EIO;
        }
        data += w;
        len -= (size_t)w;
    }
    if (close(fd) != 0) {
        tsc_errmsg_setf(errmsg, "close %s: %s", path, strerror(errno));
        return TSC_EIO;
    }
    return 0;
}

/* The kernel's boot id, so that a pgid file from before a reboot (where the
 * number may now name an unrelated group) is never acted on. "" if unknown. */
static void boot_id(char out[BOOT_ID_LEN + 1])
{
    out[0] = '\0';
    FILE *f = fopen(BOOT_ID_PATH, "re");
    if (f == NULL)
        return;
    if (fgets(out, BOOT_ID_LEN + 1, f) == NULL || strlen(out) != BOOT_ID_LEN)
        out[0] = '\0';
    fclose(f);
}

static int stage_path(char *out, const char *workdir, uint64_t run, uint32_t stage, const char *ext)
{
    size_t n = (size_t)snprintf(out, PATH_MAX, "%s/.tsc/%llu-%u.%s", workdir,
                                (unsigned long long)run, stage, ext);
    return n < PATH_MAX ? 0 : -1;
}

/* ---- environment -------------------------------------------------------- */

static size_t name_len(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* environ plus spec->env, a later NAME replacing an earlier one. The strings
 * are borrowed: the array only lives across uv_spawn. */
static char **build_env(const struct tsc_runner_spec *spec)
{
    size_t n = 0;
    while (environ != NULL && environ[n] != NULL)
        n++;
    char **env = tsc_calloc(n + spec->n_env + 1, sizeof *env);
    if (env == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        env[i] = environ[i];
    for (size_t k = 0; k < spec->n_env; k++) {
        const char *kv = spec->env[k];
        size_t nl = name_len(kv);
        size_t i = 0;
        while (i < n && !(name_len(env[i]) == nl && memcmp(env[i], kv, nl) == 0))
            i++;
        env[i] = (char *)kv;
        if (i == n)
            n++;
    }
    env[n] = NULL;
    return env;
}

/* ---- public ------------------------------------------------------------- */

void tsc_runner_init(struct tsc_runner *r, uv_loop_t *loop, tsc_runner_done_fn done, void *ctx)
{
    memset(r, 0, sizeof *r);
    r->loop = loop;
    r->done = done;
    r->ctx = ctx;
    if (uv_idle_init(loop, &r->resume) == 0) {
        r->resume.data = r;
        r->resume_init = 1;
    }
}

static int check_spec(const struct tsc_runner *r, const struct tsc_runner_spec *spec, char *errmsg)
{
    if (r->closing) {
        tsc_errmsg_setf(errmsg, "runner: closed");
        return TSC_ESTATE;
    }
    if (spec->script == NULL || spec->workdir == NULL || spec->workdir[0] == '\0') {
        tsc_errmsg_setf(errmsg, "runner: no script or no workdir");
        return TSC_EINVAL;
    }
    for (size_t i = 0; i < spec->n_env; i++) {
        const char *kv = spec->env[i];
        if (kv == NULL || strchr(kv, '=') == NULL || kv[0] == '=') {
            tsc_errmsg_setf(errmsg, "runner: environment entry %zu is not NAME=VALUE", i);
            return TSC_EINVAL;
        }
    }
    if (tsc_runner_running(r, spec->run, spec->stage)) {
        tsc_errmsg_setf(errmsg, "runner: run %llu stage %u is already running",
                        (unsigned long long)spec->run, spec->stage);
        return TSC_EEXIST;
    }
    return 0;
}

/* Workdir, <workdir>/.tsc (0700), the script file, and both paths. */
static int prepare_files(const struct tsc_runner_spec *spec, char *script_path, char *pgid_path,
                         char *errmsg)
{
    char dir[PATH_MAX];
    int rc = mkdir_p(spec->workdir, 0755, errmsg);
    if (rc != 0)
        return rc;
    if ((size_t)snprintf(dir, sizeof dir, "%s/.tsc", spec->workdir) >= sizeof dir ||
        stage_path(script_path, spec->workdir, spec->run, spec->stage, "sh") != 0 ||
        stage_path(pgid_path, spec->workdir, spec->run, spec->stage, "pgid") != 0) {
        tsc_errmsg_setf(errmsg, "workdir %s: path too long", spec->workdir);
        return TSC_EIO;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        tsc_errmsg_setf(errmsg, "mkdir %s: %s", dir, strerror(errno));
        return TSC_EIO;
    }
    rc = write_file(script_path, spec->script, strlen(spec->script), errmsg);
    if (rc != 0)
        tsc_errmsg_wrapf(errmsg, "script");
    return rc;
}

static struct tsc_runner_job *job_new(struct tsc_runner *r, const struct tsc_runner_spec *spec,
                                      const char *pgid_path)
{
    size_t max = spec->max_output ? spec->max_output : DEFAULT_MAX_OUTPUT;
    if (max > SIZE_MAX - MARKER_ROOM)
        return NULL;
    struct tsc_runner_job *j = tsc_calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    j->cap = tsc_malloc(max + MARKER_ROOM);
    if (j->cap == NULL) {
        tsc_free(j);
        return NULL;
    }
    j->runner = r;
    j->run = spec->run;
    j->stage = spec->stage;
    j->timeout_us = spec->timeout_us;
    j->head_cap = max / 2;
    j->tail_cap = max - max / 2;
    memcpy(j->pgid_path, pgid_path, strlen(pgid_path) + 1);
    return j;
}

static void write_pgid(struct tsc_runner_job *j)
{
    char line[64 + BOOT_ID_LEN], boot[BOOT_ID_LEN + 1], err[TSC_ERRMSG_SIZE];
    boot_id(boot);
    int n = snprintf(line, sizeof line, "%d%s%s\n", j->pgid, boot[0] ? " " : "", boot);
    /* Only a help for an agent restarted after kill -9: the script runs on. */
    if (write_file(j->pgid_path, line, (size_t)n, err) != 0)
        tsc_logf(TSC_LOG_WARN, "runner: pgid file: %s", err);
}

int tsc_runner_start(struct tsc_runner *r, const struct tsc_runner_spec *spec, char *errmsg)
{
    char script_path[PATH_MAX], pgid_path[PATH_MAX];
    int rc = check_spec(r, spec, errmsg);
    if (rc == 0)
        rc = prepare_files(spec, script_path, pgid_path, errmsg);
    if (rc != 0)
        return rc;
    struct tsc_runner_job *j = job_new(r, spec, pgid_path);
    char **env = j ? build_env(spec) : NULL;
    if (env == NULL) {
        if (j) {
            tsc_free(j->cap);
            tsc_free(j);
        }
        tsc_errmsg_setf(errmsg, "runner: out of memory");
        return TSC_ENOMEM;
    }

    uv_stdio_container_t stdio[3];
    uv_process_options_t opt;
    char *args[] = {SHELL, script_path, NULL};
    memset(&opt, 0, sizeof opt);
    stdio[0].flags = UV_IGNORE; /* libuv opens /dev/null for 0-2 */
    for (int i = 0; i < 2; i++) {
        uv_pipe_init(r->loop, &j->pipes[i], 0);
        j->pipes[i].data = j;
        stdio[i + 1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        stdio[i + 1].data.stream = (uv_stream_t *)&j->pipes[i];
    }
    uv_timer_init(r->loop, &j->timer);
    j->timer.data = j;
    j->proc.data = j;
    j->n_open = 4;
    opt.exit_cb = on_proc_exit;
    opt.file = SHELL;
    opt.args = args;
    opt.env = env;
    opt.cwd = spec->workdir;
    opt.flags = UV_PROCESS_DETACHED; /* setsid: the pid is the group id */
    opt.stdio_count = 3;
    opt.stdio = stdio;
    j->start_us = wall_us();
    int uvrc = uv_spawn(r->loop, &j->proc, &opt);
    tsc_free(env);
    if (uvrc != 0) {
        /* uv_spawn initialised the process handle whatever happened. */
        j->finished = 1;
        close_handle(j, (uv_handle_t *)&j->proc);
        close_handle(j, (uv_handle_t *)&j->timer);
        close_handle(j, (uv_handle_t *)&j->pipes[0]);
        close_handle(j, (uv_handle_t *)&j->pipes[1]);
        tsc_errmsg_setf(errmsg, "spawn %s %s: %s", SHELL, script_path, uv_strerror(uvrc));
        return TSC_EIO;
    }
    j->pgid = j->proc.pid;
    write_pgid(j);
    for (int i = 0; i < 2; i++)
        if (uv_read_start((uv_stream_t *)&j->pipes[i], on_alloc, on_read) != 0)
            close_pipe(j, i); /* the child gets EPIPE; we still reap it */
    if (j->timeout_us > 0) {
        uint64_t ms = j->timeout_us / 1000 + (j->timeout_us % 1000 != 0);
        uv_timer_start(&j->timer, on_timer, ms, 0);
    }
    j->linked = 1;
    j->next = r->jobs;
    if (r->jobs)
        r->jobs->prev = j;
    r->jobs = j;
    r->n_jobs++;
    tsc_logf(TSC_LOG_DEBUG, "runner: run %llu stage %u: pid %d", (unsigned long long)j->run,
             j->stage, j->pgid);
    return 0;
}

void tsc_runner_set_lines(struct tsc_runner *r, tsc_runner_line_fn fn)
{
    r->line = fn;
}

uint64_t tsc_runner_current_run(const struct tsc_runner *r)
{
    return r->jobs != NULL ? r->jobs->run : 0;
}

void tsc_runner_kill_run(struct tsc_runner *r, uint64_t run)
{
    for (struct tsc_runner_job *j = r->jobs; j != NULL; j = j->next)
        if (j->run == run)
            job_kill(j, TSC_RESULT_CANCELLED);
}

int tsc_runner_running(const struct tsc_runner *r, uint64_t run, uint32_t stage)
{
    for (const struct tsc_runner_job *j = r->jobs; j != NULL; j = j->next)
        if (j->run == run && j->stage == stage)
            return 1;
    return 0;
}

int tsc_runner_kill_leftover(const char *workdir, uint64_t run, uint32_t stage)
{
    char path[PATH_MAX], line[128], boot[BOOT_ID_LEN + 1], file_boot[BOOT_ID_LEN + 1];
    if (workdir == NULL || stage_path(path, workdir, run, stage, "pgid") != 0)
        return 0;
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    unlink(path);
    char *end;
    errno = 0;
    long pgid = ok ? strtol(line, &end, 10) : 0;
    if (!ok || errno != 0 || end == line || pgid <= 1 || pgid > INT_MAX)
        return 0;
    /* "<pgid> <boot id>": a file from another boot names nothing of ours. */
    file_boot[0] = '\0';
    if (*end == ' ' && sscanf(end + 1, "%36s", file_boot) == 1) {
        boot_id(boot);
        if (boot[0] != '\0' && strcmp(boot, file_boot) != 0)
            return 0;
    }
    if (kill_group((int)pgid) != 0)
        return 0;
    tsc_logf(TSC_LOG_INFO, "runner: killed group %ld left behind by run %llu stage %u", pgid,
             (unsigned long long)run, stage);
    return 1;
}

void tsc_runner_close(struct tsc_runner *r)
{
    r->closing = 1;
    if (r->resume_init && !uv_is_closing((uv_handle_t *)&r->resume))
        uv_close((uv_handle_t *)&r->resume, NULL);
    r->resume_on = 0;
    /* Paused pipes read on: what the killed groups printed is still theirs. */
    for (struct tsc_runner_job *j = r->jobs; j != NULL; j = j->next)
        for (int i = 0; i < 2; i++)
            if (j->paused[i]) {
                j->paused[i] = 0;
                if (!j->eof[i] && !uv_is_closing((uv_handle_t *)&j->pipes[i]))
                    uv_read_start((uv_stream_t *)&j->pipes[i], on_alloc, on_read);
            }
    for (struct tsc_runner_job *j = r->jobs; j != NULL; j = j->next)
        job_kill(j, TSC_RESULT_CANCELLED);
}
