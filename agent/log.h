/* tsc — the agent's log: one line per event on stderr,
 *     2026-11-23T05:12:00.123Z tscd[0123456789abcdef] member ... alive->dead inc=3
 * with a UTC wall-clock timestamp (operators correlate logs across hosts by
 * wall time; the engines never see it). Not thread-safe: the agent is one
 * libuv thread. */
#ifndef TSC_AGENT_LOG_H
#define TSC_AGENT_LOG_H

#include <stdint.h>

enum tsc_log_level {
    TSC_LOG_ERROR = 0,
    TSC_LOG_WARN = 1,
    TSC_LOG_INFO = 2,
    TSC_LOG_DEBUG = 3,
};

/* Lines above `level` are dropped. Default TSC_LOG_INFO. */
void tsc_log_set_level(int level);
int tsc_log_level(void);

/* Parse "error", "warn", "info" or "debug"; returns the level or -1. */
int tsc_log_parse_level(const char *s);

/* The node id shown in every line (0 until the node key is loaded). */
void tsc_log_set_id(uint64_t id);

/* Format and write one line (a trailing newline is added; the line is cut at
 * 1 KiB). Written with a single write(2) so lines of concurrent agents that
 * share a terminal do not interleave. */
void tsc_logf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
