/* tsc — the process runner: stage scripts as /bin/sh process groups (libuv).
 *
 * One script = `/bin/sh <workdir>/.tsc/<run>-<stage>.sh` (the script is
 * written there first, so an operator can rerun it by hand), started with
 * uv_spawn in its own session and process group (UV_PROCESS_DETACHED), cwd
 * = workdir (created if missing), stdin /dev/null, stdout and stderr into one
 * pipe each, both captured into one bounded buffer in arrival order: the
 * first max_output/2 bytes and the last max_output/2 bytes are kept, with a
 * "\n[... N bytes cut ...]\n" line between (truncated = 1). The environment
 * is the agent's plus spec->env (NAME=VALUE strings; later entries win).
 *
 * Ends: exit status (PASSED if 0, FAILED otherwise), a signal (FAILED), the
 * timeout (the whole group gets SIGKILL; TIMEOUT), tsc_runner_kill_run
 * (SIGKILL to the group; CANCELLED), spawn failure (ERROR, message says why).
 * The done callback fires once per started script, after both pipes reached
 * EOF and the process was reaped, from the loop (never from inside
 * tsc_runner_start). The process group id is written to
 * <workdir>/.tsc/<run>-<stage>.pgid while the script runs, so that an agent
 * restarted after kill -9 can kill a group it left behind
 * (tsc_runner_kill_leftover). */
#ifndef TSC_AGENT_RUNNER_H
#define TSC_AGENT_RUNNER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "common/error.h"

struct tsc_runner_spec {
    uint64_t run;
    uint32_t stage;
    const char *script; /* NUL-terminated */
    const char *workdir;
    const char *const *env; /* NAME=VALUE */
    size_t n_env;
    uint64_t timeout_us; /* 0: none */
    size_t max_output;   /* bytes kept; 0: 64 KiB */
};

struct tsc_runner_result {
    uint64_t run;
    uint32_t stage;
    int status;                /* enum tsc_result_status (barrier/runlog.h) */
    int exit_code;             /* when it exited */
    int signal;                /* when a signal ended it */
    uint64_t start_us, end_us; /* wall clock */
    const uint8_t *output;     /* valid during the callback only */
    size_t output_len;
    int truncated;
    char message[256]; /* "exit 1", "killed by signal 9", "timeout after 30 s", ... */
};

typedef void (*tsc_runner_done_fn)(void *ctx, const struct tsc_runner_result *r);
/* One line (or piece) of (run, stage)'s output; p is valid during the call. */
typedef void (*tsc_runner_line_fn)(void *ctx, uint64_t run, uint32_t stage, int is_stderr,
                                   const uint8_t *p, size_t len);

#define TSC_RUNNER_MAX_LINE (64u << 10) /* = TSC_LOGREC_MAX_TEXT (logsync/merge.h) */
/* A truncated capture is max_output bytes plus the marker line, at most
 * this long: a caller with a hard limit asks for that much less. */
#define TSC_RUNNER_MARKER_MAX 64

struct tsc_runner_job; /* runner.c */

struct tsc_runner {
    uv_loop_t *loop;
    tsc_runner_done_fn done;
    tsc_runner_line_fn line; /* NULL: no lines */
    void *ctx;
    struct tsc_runner_job *jobs;
    size_t n_jobs;
    int closing;
    /* Output bytes taken this loop turn (all jobs): beyond TSC_RUNNER_TURN_BYTES
     * the pipes pause until the next turn (resume: an idle handle). */
    size_t turn_bytes;
    uv_idle_t resume;
    int resume_init, resume_on;
};

/* Output bytes read per loop turn, all scripts together: a script printing
 * without pause must not hold the loop (the failure detector and the
 * election answer from it) for the time it takes to make records of all it
 * printed; the rest waits in the pipe for the next turn. */
#define TSC_RUNNER_TURN_BYTES (64u << 10)

void tsc_runner_init(struct tsc_runner *r, uv_loop_t *loop, tsc_runner_done_fn done, void *ctx);

/* Hand every output line to fn too (same ctx as done); before starting. */
void tsc_runner_set_lines(struct tsc_runner *r, tsc_runner_line_fn fn);

/* Start one script. 0, or a TSC_E* with errmsg (the callback then never
 * fires for it): TSC_EIO (workdir, script file, spawn), TSC_ENOMEM. */
int tsc_runner_start(struct tsc_runner *r, const struct tsc_runner_spec *spec, char *errmsg);

/* SIGKILL every group of `run`; their callbacks report CANCELLED. */
void tsc_runner_kill_run(struct tsc_runner *r, uint64_t run);

/* The run of a running script (0: none). */
uint64_t tsc_runner_current_run(const struct tsc_runner *r);

/* Is (run, stage) running? */
int tsc_runner_running(const struct tsc_runner *r, uint64_t run, uint32_t stage);

/* Kill a group left behind by an earlier agent process (pgid file of
 * (run, stage) in workdir), then remove the file. 1 if a group was signalled. */
int tsc_runner_kill_leftover(const char *workdir, uint64_t run, uint32_t stage);

/* Kill every group (their callbacks fire with CANCELLED while the loop runs
 * on) and refuse new starts. Handles close through the loop. */
void tsc_runner_close(struct tsc_runner *r);

#endif
