/* tsc — `tscctl local` internals shared by ctl/local.c (up, down, status)
 * and ctl/local_proc.c (the agents as processes: spawning, pid files,
 * stopping, free ports, finding tscd). Not public: names with a double
 * underscore are internal to these files. Messages go to stderr prefixed
 * "tscctl: ". */
#ifndef TSC_CTL_LOCAL_INT_H
#define TSC_CTL_LOCAL_INT_H

#include <stdint.h>
#include <sys/types.h>

#define TSC__LOCAL_MAX_N   64  /* agents in a local cluster: node1..node64 */
#define TSC__LOCAL_PATH    512 /* bytes of a path under the cluster dir */
#define TSC__LOCAL_POLL_MS 50  /* between two looks at the agents */

/* Monotonic milliseconds; sleep that many, through EINTR. */
int64_t tsc__local_now_ms(void);
void tsc__local_sleep_ms(int ms);
/* snprintf into out (TSC__LOCAL_PATH bytes) that reports truncation: 0 or -1. */
int tsc__local_pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1 when pid is a live tscd (not a zombie, not a recycled pid). */
int tsc__local_is_tscd(pid_t pid);
/* The pid in DIR/nodeI/tscd.pid, 0 when none or unreadable. */
pid_t tsc__local_read_pid(const char *dir, int i);
int tsc__local_pid_file_exists(const char *dir, int i);
void tsc__local_remove_pid_file(const char *dir, int i);
/* Write a small file atomically (temp file + rename), mode 0600. 0 or -1. */
int tsc__local_write_file(const char *path, const char *text);
/* rm -rf path (never following symlinks); 0 also when path does not exist. */
int tsc__local_rm_tree(const char *path);
/* Print the last lines of DIR/nodeI/tscd.log to stderr. */
void tsc__local_print_log_tail(const char *dir, int i);

/* SIGTERM every running agent among pids[1..n] (0 = none), wait for them to
 * go, SIGKILL the rest. ours: they are our unreaped children (after a failed
 * up). Returns how many were running. */
int tsc__local_stop_agents(const pid_t *pids_in, int n, int ours);
/* The pids of DIR/node1..64 (0 where there is no running tscd). Returns the
 * number of running agents; *last gets the highest node with a pid file. */
int tsc__local_scan_agents(const char *dir, pid_t pids[TSC__LOCAL_MAX_N + 1], int *last);

/* 1 when the port is free on 127.0.0.1 for both TCP and UDP. */
int tsc__local_port_free(int port);
/* The absolute path of the tscd to run into out (TSC__LOCAL_PATH bytes):
 * next to this tscctl, else $TSC_TSCD, else on PATH. 0 or -1 (message
 * printed). */
int tsc__local_find_tscd(char *out);
/* Start one agent as a daemon, output appended to log; its pid in *pid.
 * 0 or -1 (message printed). */
int tsc__local_spawn(const char *tscd, char *const argv[], const char *log, pid_t *pid);

#endif
