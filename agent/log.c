/* tsc — the agent's one-line-per-event log on stderr (see log.h). */
#include "agent/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_level = TSC_LOG_INFO;
static uint64_t log_id;

void tsc_log_set_level(int level)
{
    log_level = level;
}

int tsc_log_level(void)
{
    return log_level;
}

int tsc_log_parse_level(const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void tsc_log_set_id(uint64_t id)
{
    log_id = id;
}

void tsc_logf(int level, const char *fmt, ...)
{
    static const char *const prefix[] = {"error: ", "warning: ", "", ""};
    char line[1024];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n, m;

    if (level > log_level)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ tscd[%016llx] %s",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, (unsigned long long)log_id,
                 prefix[level < 0   ? 0
                        : level > 3 ? 3
                                    : level]);
    if (n < 0 || (size_t)n >= sizeof line - 1)
        return;
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    n += m;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    /* One write: a failed or short write to stderr has nowhere to be reported. */
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
