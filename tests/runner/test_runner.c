/* tsc — the process runner with real /bin/sh children: exit codes, signals,
 * both streams captured in order, the output bound (50 MB through a 64 KiB
 * buffer), timeouts and cancels that kill the whole process group including
 * grandchildren, the drain cap for a child that escaped the group, the
 * environment, leftover groups of a killed agent, concurrency, close with
 * running jobs, and start errors. Every wait polls with a deadline. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/runner.h"
#include "barrier/runlog.h"
#include "common/alloc.h"

#define MAX_GOT 32

struct got {
    uint64_t run;
    uint32_t stage;
    int status, exit_code, signal, truncated;
    uint64_t start_us, end_us, cb_us;
    int running_in_cb;
    char message[256];
    char *output; /* NUL-terminated copy */
    size_t output_len;
};

struct fx {
    uv_loop_t loop;
    uv_timer_t tick; /* makes UV_RUN_ONCE return while we poll */
    struct tsc_runner r;
    char dir[PATH_MAX];
    struct got got[MAX_GOT];
    size_t n_got;
    int restart_once; /* the callback starts the same stage again */
};

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static int start(struct fx *f, uint64_t run, uint32_t stage, const char *script,
                 uint64_t timeout_us, size_t max_output, const char *const *env, size_t n_env,
                 char *errmsg);

static void on_done(void *ctx, const struct tsc_runner_result *res)
{
    struct fx *f = ctx;
    assert_true(f->n_got < MAX_GOT);
    struct got *g = &f->got[f->n_got++];
    g->run = res->run;
    g->stage = res->stage;
    g->status = res->status;
    g->exit_code = res->exit_code;
    g->signal = res->signal;
    g->truncated = res->truncated;
    g->start_us = res->start_us;
    g->end_us = res->end_us;
    g->cb_us = wall_us();
    g->running_in_cb = tsc_runner_running(&f->r, res->run, res->stage);
    snprintf(g->message, sizeof g->message, "%s", res->message);
    g->output = malloc(res->output_len + 1);
    assert_non_null(g->output);
    memcpy(g->output, res->output, res->output_len);
    g->output[res->output_len] = '\0';
    g->output_len = res->output_len;
    if (f->restart_once) {
        char err[TSC_ERRMSG_SIZE];
        f->restart_once = 0;
        assert_int_equal(start(f, res->run, res->stage, "echo again", 0, 0, NULL, 0, err), 0);
    }
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "%s/tsc-runner-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->tick);
    uv_timer_start(&f->tick, on_tick, 20, 20);
    tsc_runner_init(&f->r, &f->loop, on_done, f);
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    tsc_runner_close(&f->r);
    uv_close((uv_handle_t *)&f->tick, NULL);
    /* Runs until every handle of every job has closed. */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_int_equal(f->r.n_jobs, 0);
    for (size_t i = 0; i < f->n_got; i++)
        free(f->got[i].output);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static int start(struct fx *f, uint64_t run, uint32_t stage, const char *script,
                 uint64_t timeout_us, size_t max_output, const char *const *env, size_t n_env,
                 char *errmsg)
{
    struct tsc_runner_spec s;
    memset(&s, 0, sizeof s);
    s.run = run;
    s.stage = stage;
    s.script = script;
    s.workdir = f->dir;
    s.env = env;
    s.n_env = n_env;
    s.timeout_us = timeout_us;
    s.max_output = max_output;
    errmsg[0] = '\0';
    return tsc_runner_start(&f->r, &s, errmsg);
}

static void start_ok(struct fx *f, uint64_t run, uint32_t stage, const char *script,
                     uint64_t timeout_us, size_t max_output)
{
    char err[TSC_ERRMSG_SIZE];
    int rc = start(f, run, stage, script, timeout_us, max_output, NULL, 0, err);
    if (rc != 0)
        fail_msg("start: %s", err);
}

static void wait_n(struct fx *f, size_t n, unsigned secs)
{
    uint64_t deadline = mono_ms() + secs * 1000u;
    while (f->n_got < n && mono_ms() < deadline)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->n_got, n);
}

static struct got *find(struct fx *f, uint64_t run, uint32_t stage)
{
    for (size_t i = 0; i < f->n_got; i++)
        if (f->got[i].run == run && f->got[i].stage == stage)
            return &f->got[i];
    fail_msg("no result for run %llu stage %u", (unsigned long long)run, stage);
    return NULL;
}

/* A pid the script wrote into <dir>/<name>, polled for while the loop runs. */
static pid_t read_pid(struct fx *f, const char *name, unsigned secs)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    uint64_t deadline = mono_ms() + secs * 1000u;
    do {
        FILE *fp = fopen(path, "r");
        long pid = 0;
        if (fp != NULL) {
            int ok = fscanf(fp, "%ld", &pid) == 1;
            fclose(fp);
            if (ok && pid > 1)
                return (pid_t)pid;
        }
        uv_run(&f->loop, UV_RUN_ONCE);
    } while (mono_ms() < deadline);
    fail_msg("no pid in %s", path);
    return -1;
}

/* A zombie counts as gone: PID 1 of a container may never reap it. */
static int pid_alive(pid_t pid)
{
    char path[64], buf[512];
    if (kill(pid, 0) != 0)
        return 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p == NULL || p[1] == '\0' || p[2] != 'Z';
}

static void assert_gone(struct fx *f, pid_t pid, unsigned secs)
{
    uint64_t deadline = mono_ms() + secs * 1000u;
    while (pid_alive(pid) && mono_ms() < deadline)
        uv_run(&f->loop, UV_RUN_ONCE);
    if (pid_alive(pid))
        fail_msg("pid %d still alive", (int)pid);
}

static int file_exists(struct fx *f, const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    return access(path, F_OK) == 0;
}

/* ---- exit status -------------------------------------------------------- */

static void test_pass(void **state)
{
    struct fx *f = *state;
    char real[PATH_MAX], sub[PATH_MAX + 16];
    const char *script = "while [ ! -s .tsc/3-4.pgid ]; do sleep 0.01; done\n"
                         "read p rest < .tsc/3-4.pgid\n"
                         "[ \"$p\" = \"$$\" ] && echo pgid-ok\n"
                         "[ \"$(cut -d' ' -f5 /proc/$$/stat)\" = \"$$\" ] && echo leader\n"
                         "cat\n" /* stdin is /dev/null: returns at once */
                         "pwd\n";
    /* A workdir that does not exist yet: created like mkdir -p. */
    snprintf(sub, sizeof sub, "%s/a/b", f->dir);
    char err[TSC_ERRMSG_SIZE];
    struct tsc_runner_spec s = {.run = 3, .stage = 4, .script = script, .workdir = sub};
    uint64_t before = wall_us();
    assert_int_equal(tsc_runner_start(&f->r, &s, err), 0);
    assert_int_equal(f->n_got, 0); /* never from inside start */
    assert_true(tsc_runner_running(&f->r, 3, 4));
    assert_false(tsc_runner_running(&f->r, 3, 5));
    wait_n(f, 1, 20);
    struct got *g = find(f, 3, 4);
    assert_int_equal(g->status, TSC_RESULT_PASSED);
    assert_int_equal(g->exit_code, 0);
    assert_int_equal(g->signal, 0);
    assert_string_equal(g->message, "exit 0");
    assert_false(g->running_in_cb);
    assert_false(tsc_runner_running(&f->r, 3, 4));
    assert_non_null(realpath(sub, real));
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "pgid-ok\nleader\n%s\n", real);
    assert_string_equal(g->output, want);
    assert_false(g->truncated);
    assert_true(g->start_us >= before && g->start_us <= g->end_us && g->end_us <= g->cb_us);

    /* The script stays for the operator; the pgid file is gone. */
    snprintf(want, sizeof want, "%s/.tsc/3-4.sh", sub);
    FILE *fp = fopen(want, "r");
    assert_non_null(fp);
    char body[1024];
    size_t n = fread(body, 1, sizeof body - 1, fp);
    fclose(fp);
    body[n] = '\0';
    assert_string_equal(body, script);
    snprintf(want, sizeof want, "%s/.tsc/3-4.pgid", sub);
    assert_int_equal(access(want, F_OK), -1);
    struct stat st;
    snprintf(want, sizeof want, "%s/.tsc", sub);
    assert_int_equal(stat(want, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
}

static void test_fail_and_signal(void **state)
{
    struct fx *f = *state;
    start_ok(f, 1, 1, "echo oops >&2; exit 3", 0, 0);
    start_ok(f, 1, 2, "echo before; kill -TERM $$; echo after", 0, 0);
    start_ok(f, 1, 3, "exit 255", 0, 0);
    wait_n(f, 3, 20);
    struct got *g = find(f, 1, 1);
    assert_int_equal(g->status, TSC_RESULT_FAILED);
    assert_int_equal(g->exit_code, 3);
    assert_int_equal(g->signal, 0);
    assert_string_equal(g->message, "exit 3");
    assert_string_equal(g->output, "oops\n");
    g = find(f, 1, 2);
    assert_int_equal(g->status, TSC_RESULT_FAILED);
    assert_int_equal(g->signal, SIGTERM);
    assert_string_equal(g->message, "killed by signal 15 (SIGTERM)");
    assert_string_equal(g->output, "before\n");
    g = find(f, 1, 3);
    assert_int_equal(g->exit_code, 255);
    assert_string_equal(g->message, "exit 255");
}

/* ---- output ------------------------------------------------------------- */

static void test_streams_in_order(void **state)
{
    struct fx *f = *state;
    start_ok(f, 2, 1, "echo a; sleep 0.3; echo b >&2; sleep 0.3; echo c; printf tail >&2", 0, 0);
    wait_n(f, 1, 20);
    assert_string_equal(find(f, 2, 1)->output, "a\nb\nc\ntail");
}

static void test_truncation_boundaries(void **state)
{
    struct fx *f = *state;
    start_ok(f, 4, 1, "printf 0123456789", 0, 10);
    start_ok(f, 4, 2, "printf 0123456789A", 0, 10);
    start_ok(f, 4, 3, "printf abcdefgh", 0, 5); /* odd: 2 first, 3 last */
    start_ok(f, 4, 4, "printf ''", 0, 1);
    start_ok(f, 4, 5, "printf xy", 0, 1);         /* 0 first, 1 last */
    start_ok(f, 4, 6, "printf abcdefghij", 0, 4); /* one read, many times the tail */
    wait_n(f, 6, 20);
    struct got *g = find(f, 4, 1);
    assert_false(g->truncated);
    assert_string_equal(g->output, "0123456789");
    g = find(f, 4, 2);
    assert_true(g->truncated);
    assert_string_equal(g->output, "01234\n[... 1 bytes cut ...]\n6789A");
    g = find(f, 4, 3);
    assert_string_equal(g->output, "ab\n[... 3 bytes cut ...]\nfgh");
    g = find(f, 4, 4);
    assert_false(g->truncated);
    assert_int_equal(g->output_len, 0);
    g = find(f, 4, 5);
    assert_string_equal(g->output, "\n[... 1 bytes cut ...]\ny");
    g = find(f, 4, 6);
    assert_string_equal(g->output, "ab\n[... 6 bytes cut ...]\nij");
}

/* Many small reads, so the tail ring wraps many times. */
static void test_truncation_ring(void **state)
{
    struct fx *f = *state;
    enum { LINES = 30000, W = 9, MAX = 65536 };
    start_ok(f, 5, 1, "i=0; while [ $i -lt 30000 ]; do printf '%08d\\n' $i; i=$((i+1)); done", 0,
             0);
    wait_n(f, 1, 30);
    struct got *g = find(f, 5, 1);
    char *all = malloc(LINES * W + 1);
    assert_non_null(all);
    for (int i = 0; i < LINES; i++)
        snprintf(all + i * W, W + 1, "%08d\n", i);
    char marker[64];
    snprintf(marker, sizeof marker, "\n[... %d bytes cut ...]\n", LINES * W - MAX);
    assert_true(g->truncated);
    assert_int_equal(g->output_len, MAX + strlen(marker));
    assert_memory_equal(g->output, all, MAX / 2);
    assert_memory_equal(g->output + MAX / 2, marker, strlen(marker));
    assert_memory_equal(g->output + MAX / 2 + strlen(marker), all + LINES * W - MAX / 2, MAX / 2);
    free(all);
}

/* Counting allocator: the runner's own memory must not follow the child. */
static size_t mem_cur, mem_peak;

static void *count_malloc(void *ctx, size_t size)
{
    (void)ctx;
    size_t *p = malloc(size + 16);
    if (p == NULL)
        return NULL;
    p[0] = size;
    mem_cur += size;
    if (mem_cur > mem_peak)
        mem_peak = mem_cur;
    return (char *)p + 16;
}

static void count_free(void *ctx, void *ptr)
{
    (void)ctx;
    size_t *p = (size_t *)((char *)ptr - 16);
    mem_cur -= p[0];
    free(p);
}

static void *count_realloc(void *ctx, void *ptr, size_t size)
{
    void *n = count_malloc(ctx, size);
    if (n != NULL && ptr != NULL) {
        size_t old = *(size_t *)((char *)ptr - 16);
        memcpy(n, ptr, old < size ? old : size);
        count_free(ctx, ptr);
    }
    return n;
}

static void test_output_bounded_50mb(void **state)
{
    struct fx *f = *state;
    struct tsc_alloc_hook hook = {count_malloc, count_realloc, count_free, NULL};
    mem_cur = mem_peak = 0;
    tsc_alloc_set_hook(&hook);
    /* max_output 0: the 64 KiB default. */
    start_ok(f, 6, 1, "printf BEGIN; head -c 50000000 /dev/zero; printf END", 0, 0);
    wait_n(f, 1, 50);
    struct got *g = find(f, 6, 1);
    const char *marker = "\n[... 49934472 bytes cut ...]\n"; /* 50000008 - 65536 */
    assert_int_equal(g->status, TSC_RESULT_PASSED);
    assert_true(g->truncated);
    assert_int_equal(g->output_len, 65536 + strlen(marker));
    assert_memory_equal(g->output, "BEGIN\0\0\0", 8);
    assert_memory_equal(g->output + 32768, marker, strlen(marker));
    assert_memory_equal(g->output + g->output_len - 5, "\0\0END", 5);
    /* Tear down under the hook, so every block of the job is counted free. */
    fx_teardown(state);
    tsc_alloc_set_hook(NULL);
    fx_setup(state);
    assert_int_equal(mem_cur, 0);
    assert_true(mem_peak < 65536 + 64 * 1024);
}

/* ---- killing the group -------------------------------------------------- */

static void test_timeout_kills_grandchild(void **state)
{
    struct fx *f = *state;
    start_ok(f, 7, 1, "sleep 100 & echo $! > gc.pid; echo started; wait", 500000, 0);
    pid_t gc = read_pid(f, "gc.pid", 10);
    assert_true(pid_alive(gc));
    wait_n(f, 1, 20);
    struct got *g = find(f, 7, 1);
    assert_int_equal(g->status, TSC_RESULT_TIMEOUT);
    assert_string_equal(g->message, "timeout after 0.5 s");
    assert_int_equal(g->signal, SIGKILL);
    assert_string_equal(g->output, "started\n");
    assert_true(g->end_us - g->start_us >= 490000);
    assert_true(g->end_us - g->start_us < 10000000);
    assert_gone(f, gc, 5);
    assert_false(file_exists(f, ".tsc/7-1.pgid"));
}

/* The shell exits while a background child holds both pipes: the child is
 * killed with the group, so the result does not wait for the drain cap. */
static void test_exit_kills_background(void **state)
{
    struct fx *f = *state;
    start_ok(f, 8, 1, "sleep 100 & echo $! > gc.pid; echo done; exit 4", 0, 0);
    wait_n(f, 1, 20);
    struct got *g = find(f, 8, 1);
    assert_int_equal(g->status, TSC_RESULT_FAILED);
    assert_int_equal(g->exit_code, 4);
    assert_string_equal(g->output, "done\n");
    assert_true(g->cb_us - g->end_us < 1500000);
    assert_gone(f, read_pid(f, "gc.pid", 1), 5);
}

/* A child that left the group but holds the pipes: the cap ends the wait. */
static void test_drain_cap(void **state)
{
    struct fx *f = *state;
    start_ok(f, 8, 2,
             "setsid sh -c 'echo $$ > esc.pid; exec sleep 30' &\n"
             "while [ ! -s esc.pid ]; do sleep 0.01; done\n"
             "echo started",
             0, 0);
    pid_t esc = read_pid(f, "esc.pid", 10);
    wait_n(f, 1, 20);
    struct got *g = find(f, 8, 2);
    assert_int_equal(g->status, TSC_RESULT_PASSED);
    assert_string_equal(g->output, "started\n");
    assert_true(g->cb_us - g->end_us >= 1500000);
    assert_true(g->cb_us - g->end_us < 10000000);
    assert_true(pid_alive(esc)); /* out of our reach, by its own choice */
    kill(esc, SIGKILL);
}

static void test_kill_run(void **state)
{
    struct fx *f = *state;
    const char *s1 = "sleep 100 & echo $! > a.pid; wait";
    const char *s2 = "sleep 100 & echo $! > b.pid; wait";
    const char *s3 = "sleep 100 & echo $! > c.pid; wait";
    start_ok(f, 70, 1, s1, 0, 0);
    start_ok(f, 70, 2, s2, 0, 0);
    start_ok(f, 80, 1, s3, 0, 0);
    assert_int_equal(f->r.n_jobs, 3);
    pid_t a = read_pid(f, "a.pid", 10), b = read_pid(f, "b.pid", 10), c = read_pid(f, "c.pid", 10);
    assert_true(file_exists(f, ".tsc/70-1.pgid"));
    tsc_runner_kill_run(&f->r, 99); /* no such run: nothing happens */
    tsc_runner_kill_run(&f->r, 70);
    assert_int_equal(f->n_got, 0);
    wait_n(f, 2, 20);
    assert_int_equal(find(f, 70, 1)->status, TSC_RESULT_CANCELLED);
    assert_string_equal(find(f, 70, 2)->message, "cancelled");
    assert_gone(f, a, 5);
    assert_gone(f, b, 5);
    assert_true(pid_alive(c));
    assert_true(tsc_runner_running(&f->r, 80, 1));
    assert_int_equal(f->r.n_jobs, 1);
    tsc_runner_kill_run(&f->r, 80);
    wait_n(f, 3, 20);
    assert_int_equal(find(f, 80, 1)->status, TSC_RESULT_CANCELLED);
    assert_gone(f, c, 5);
}

/* ---- environment -------------------------------------------------------- */

static void test_env(void **state)
{
    struct fx *f = *state;
    char err[TSC_ERRMSG_SIZE];
    const char *env[] = {"FOO_BAR=x y", "TSC_TEST_OVERRIDE=new", "FOO_BAR=z", "TSC_EMPTY="};
    const char *bad[] = {"NOEQUALS"};
    setenv("TSC_TEST_INHERIT", "inherited", 1);
    setenv("TSC_TEST_OVERRIDE", "old", 1);
    /* The counts read the raw block from /proc: the shell would dedup it. */
    assert_int_equal(
        start(f, 9, 1,
              "echo \"$FOO_BAR|$TSC_TEST_OVERRIDE|$TSC_TEST_INHERIT|${TSC_EMPTY-unset}\"\n"
              "tr '\\0' '\\n' < /proc/$$/environ | grep -c '^FOO_BAR='\n"
              "tr '\\0' '\\n' < /proc/$$/environ | grep -c '^TSC_TEST_OVERRIDE='",
              0, 0, env, 4, err),
        0);
    assert_int_equal(start(f, 9, 2, "true", 0, 0, bad, 1, err), TSC_EINVAL);
    assert_true(strlen(err) > 0);
    unsetenv("TSC_TEST_INHERIT");
    unsetenv("TSC_TEST_OVERRIDE");
    wait_n(f, 1, 20);
    assert_string_equal(find(f, 9, 1)->output, "z|new|inherited|\n1\n1\n");
}

/* ---- leftovers of an earlier agent -------------------------------------- */

static pid_t spawn_group(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setsid();
        execl("/bin/sleep", "sleep", "100", (char *)NULL);
        _exit(127);
    }
    uint64_t deadline = mono_ms() + 5000;
    while (getpgid(pid) != pid && mono_ms() < deadline)
        sched_yield();
    assert_int_equal(getpgid(pid), pid);
    return pid;
}

static void write_pgid(struct fx *f, uint32_t stage, const char *content)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/.tsc", f->dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/.tsc/5-%u.pgid", f->dir, stage);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
}

static void assert_killed(pid_t pid)
{
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
}

static void test_kill_leftover(void **state)
{
    struct fx *f = *state;
    char line[128], boot[64] = "";
    FILE *fp = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (fp != NULL) {
        if (fgets(boot, sizeof boot, fp) == NULL)
            boot[0] = '\0';
        boot[strcspn(boot, "\n")] = '\0';
        fclose(fp);
    }

    /* Plain "<pgid>". */
    pid_t a = spawn_group();
    snprintf(line, sizeof line, "%d\n", (int)a);
    write_pgid(f, 2, line);
    assert_int_equal(tsc_runner_kill_leftover(f->dir, 5, 2), 1);
    assert_killed(a);
    assert_false(file_exists(f, ".tsc/5-2.pgid"));
    assert_int_equal(tsc_runner_kill_leftover(f->dir, 5, 2), 0); /* no file */

    /* "<pgid> <boot id>" as the runner writes it. */
    pid_t b = spawn_group();
    snprintf(line, sizeof line, "%d %s\n", (int)b, boot);
    write_pgid(f, 3, line);
    assert_int_equal(tsc_runner_kill_leftover(f->dir, 5, 3), 1);
    assert_killed(b);

    /* From another boot: the number names someone else now. */
    if (boot[0] != '\0') {
        pid_t c = spawn_group();
        snprintf(line, sizeof line, "%d 00000000-0000-0000-0000-000000000000\n", (int)c);
        write_pgid(f, 4, line);
        assert_int_equal(tsc_runner_kill_leftover(f->dir, 5, 4), 0);
        assert_false(file_exists(f, ".tsc/5-4.pgid"));
        assert_int_equal(waitpid(c, NULL, WNOHANG), 0); /* still running */
        kill(c, SIGKILL);
        assert_killed(c);
    }

    /* A group that is gone, garbage, and numbers that must never be used. */
    pid_t d = spawn_group();
    kill(d, SIGKILL);
    assert_killed(d);
    snprintf(line, sizeof line, "%d\n", (int)d);
    write_pgid(f, 5, line);
    assert_int_equal(tsc_runner_kill_leftover(f->dir, 5, 5), 0);
    assert_false(file_exists(f, ".tsc/5-5.pgid"));
    const char *never[] = {"garbage\n", "", "0\n", "1\n", "-1\n", "99999999999999999999\n"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        write_pgid(f, 6, never[i]);
        assert_int_equal(tsc_runner_kill_leftover(f->dir, 5, 6), 0);
        assert_false(file_exists(f, ".tsc/5-6.pgid"));
    }
    snprintf(line, sizeof line, "%d\n", (int)getpgrp()); /* our own group */
    write_pgid(f, 6, line);
    assert_int_equal(tsc_runner_kill_leftover(f->dir, 5, 6), 0);
}

/* ---- many at once, close, errors ---------------------------------------- */

static void test_concurrency(void **state)
{
    struct fx *f = *state;
    char script[64];
    for (uint32_t i = 0; i < 10; i++) {
        snprintf(script, sizeof script, "echo s%u; echo e%u >&2; exit %u", i, i, i);
        start_ok(f, 11, i, script, 0, 0);
    }
    assert_int_equal(f->r.n_jobs, 10);
    wait_n(f, 10, 30);
    for (uint32_t i = 0; i < 10; i++) {
        struct got *g = find(f, 11, i);
        char want[32];
        assert_int_equal(g->status, i == 0 ? TSC_RESULT_PASSED : TSC_RESULT_FAILED);
        assert_int_equal(g->exit_code, (int)i);
        snprintf(want, sizeof want, "s%u\n", i);
        assert_non_null(strstr(g->output, want));
        snprintf(want, sizeof want, "e%u\n", i);
        assert_non_null(strstr(g->output, want));
        assert_int_equal(g->output_len, 6);
    }
    assert_int_equal(f->r.n_jobs, 0);
}

static void test_restart_from_callback(void **state)
{
    struct fx *f = *state;
    char err[TSC_ERRMSG_SIZE];
    start_ok(f, 12, 1, "sleep 100", 0, 0);
    assert_int_equal(start(f, 12, 1, "true", 0, 0, NULL, 0, err), TSC_EEXIST);
    f->restart_once = 1;
    tsc_runner_kill_run(&f->r, 12);
    wait_n(f, 2, 20);
    assert_int_equal(f->got[0].status, TSC_RESULT_CANCELLED);
    assert_int_equal(f->got[1].status, TSC_RESULT_PASSED);
    assert_string_equal(f->got[1].output, "again\n");
}

static void test_close_with_running_jobs(void **state)
{
    struct fx *f = *state;
    char err[TSC_ERRMSG_SIZE];
    start_ok(f, 13, 1, "sleep 100 & echo $! > a.pid; wait", 0, 0);
    start_ok(f, 13, 2, "sleep 100 & echo $! > b.pid; wait", 0, 0);
    start_ok(f, 14, 1, "sleep 100 & echo $! > c.pid; wait", 0, 0);
    pid_t a = read_pid(f, "a.pid", 10), b = read_pid(f, "b.pid", 10), c = read_pid(f, "c.pid", 10);
    tsc_runner_close(&f->r);
    assert_int_equal(f->n_got, 0);
    assert_int_equal(start(f, 15, 1, "true", 0, 0, NULL, 0, err), TSC_ESTATE);
    wait_n(f, 3, 20);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(f->got[i].status, TSC_RESULT_CANCELLED);
    assert_gone(f, a, 5);
    assert_gone(f, b, 5);
    assert_gone(f, c, 5);
    tsc_runner_close(&f->r); /* twice is fine */
}

static void test_start_errors(void **state)
{
    struct fx *f = *state;
    char err[TSC_ERRMSG_SIZE];
    struct tsc_runner_spec s = {.run = 16, .stage = 1, .script = "true", .workdir = "/dev/null/x"};
    assert_int_equal(tsc_runner_start(&f->r, &s, err), TSC_EIO);
    assert_non_null(strstr(err, "workdir"));

    /* exec fails (one environment string over the kernel's 128 KiB limit):
     * an error from start and never a callback. */
    char *big = malloc(200 * 1024);
    assert_non_null(big);
    memset(big, 'x', 200 * 1024 - 1);
    big[200 * 1024 - 1] = '\0';
    memcpy(big, "BIG=", 4);
    const char *env[] = {big};
    assert_int_equal(start(f, 16, 2, "true", 0, 0, env, 1, err), TSC_EIO);
    assert_non_null(strstr(err, "spawn"));
    free(big);
    assert_false(tsc_runner_running(&f->r, 16, 2));
    assert_false(file_exists(f, ".tsc/16-2.pgid"));

    /* Out of memory at each allocation of start. */
    for (unsigned long n = 1; n <= 3; n++) {
        tsc_alloc_fail_after(n);
        assert_int_equal(start(f, 16, 3, "true", 0, 0, NULL, 0, err), TSC_ENOMEM);
        tsc_alloc_fail_after(0);
    }
    start_ok(f, 16, 3, "true", 0, 0);
    wait_n(f, 1, 20);
    assert_int_equal(find(f, 16, 3)->status, TSC_RESULT_PASSED);
    assert_int_equal(f->n_got, 1); /* nothing from the failed starts */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_output_bounded_50mb, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pass, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fail_and_signal, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_streams_in_order, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_truncation_boundaries, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_truncation_ring, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_kills_grandchild, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_exit_kills_background, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_drain_cap, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kill_run, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_env, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kill_leftover, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrency, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_restart_from_callback, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_close_with_running_jobs, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_start_errors, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
