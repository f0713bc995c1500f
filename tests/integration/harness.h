/* tsc — integration test harness: real tscd processes on 127.0.0.1, driven
 * and observed through tscctl, exactly as an operator would.
 *
 * Rules it enforces:
 *  - every agent runs in a fresh data dir under one temp root per test run;
 *  - ports come from a range chosen by the test's pid and are checked free
 *    (TCP and UDP) before use, so parallel ctest runs do not collide;
 *  - conditions are awaited with a deadline (th_wait_*), never fixed sleeps;
 *  - every process started is killed by pid at the end, on failure too: an
 *    atexit handler, a SIGTERM/SIGINT handler, and PR_SET_PDEATHSIG in each
 *    child (so even a SIGKILLed test leaves no agent behind). */
#ifndef TSC_TESTS_INTEGRATION_HARNESS_H
#define TSC_TESTS_INTEGRATION_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TH_MAX_MEMBERS 64

struct th_agent {
    char name[32];
    char dir[512];  /* data dir */
    char sock[600]; /* <dir>/tscd.sock */
    char log[600];  /* stderr of the agent */
    char key[512];  /* key file */
    char join[32];  /* "" or HOST:PORT */
    int port;
    pid_t pid;   /* 0 when not running */
    int started; /* it has run once: restarts keep the port */
};

struct th_member {
    char id[17];
    char addr[24];
    char status[8];
    uint64_t incarnation;
    int self;
};

/* Set up the temp root and the cleanup hooks. Call once, first. */
void th_init(void);
/* The temp root (removed at exit unless TSC_KEEP_TEMP is set). */
const char *th_root(void);
/* Absolute path of a built binary (TSC_BIN_DIR/name). */
const char *th_bin(const char *name, char *out, size_t cap);

/* A free 127.0.0.1 port (TCP and UDP), never the same twice per run. */
int th_free_port(void);

/* Create a cluster key file at <root>/<name> with tscctl keygen. 0 or -1. */
int th_keygen(const char *name, char *path, size_t cap);

/* Prepare (not start) an agent: data dir <root>/<name>, a free port. */
void th_agent_init(struct th_agent *a, const char *name, const char *key, const char *join);
/* Start tscd with the agent's flags plus extra (NULL-terminated, may be
 * NULL). Returns 0 or -1. Waits until the control socket answers. */
int th_agent_start(struct th_agent *a, const char *const *extra);
/* Send sig to the agent (by pid); with wait, reap it and return its exit
 * status (or 128+signal), -1 on timeout. */
int th_agent_signal(struct th_agent *a, int sig, int wait, int timeout_ms);

/* Run a program, capture stdout into out (NUL-terminated, cut at cap-1),
 * stderr into err if not NULL. Returns the exit status, or -1. */
int th_run(const char *const *argv, char *out, size_t cap, char *err, size_t errcap,
           int timeout_ms);
/* tscctl members --json --socket <agent>; fills m, returns the count or -1. */
int th_members(const struct th_agent *a, struct th_member *m, size_t cap);
/* tscctl stats --json --socket <agent>: one counter, or -1 when unavailable. */
int64_t th_stat(const struct th_agent *a, const char *name);

/* `tscctl status --json` of one agent: the coordinator it recognises. */
struct th_coord {
    char id[17]; /* "" when none is known */
    uint64_t term;
    int acting; /* the agent is the coordinator, inside its lease */
    int voter;  /* the agent is in the voter set */
};
/* 0 or -1 (no answer, bad JSON). */
int th_coord(const struct th_agent *a, struct th_coord *c);

/* Status of member `id` as `a` sees it ("" when absent or unreachable). */
const char *th_status_of(const struct th_agent *a, const char *id, char *buf);
/* The agent's own id (16 hex) into id[17]; 0 or -1. */
int th_self_id(const struct th_agent *a, char *id);

/* Poll until `a` sees exactly n members all with status st (NULL: any), or
 * timeout. 0 or -1. */
int th_wait_members(const struct th_agent *a, int n, const char *st, int timeout_ms);
/* Poll until `a` sees member id with status st. 0 or -1. */
int th_wait_status(const struct th_agent *a, const char *id, const char *st, int timeout_ms);

/* Kill every process started and still running (SIGKILL, by pid). */
void th_kill_all(void);
/* Milliseconds on a monotonic clock. */
int64_t th_now_ms(void);
/* Print the last lines of an agent's log (for failure diagnosis). */
void th_dump_log(const struct th_agent *a);

#endif
