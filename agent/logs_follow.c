/* tsc — the files a suite's `follow:` names, as records of the run (issue
 * "Logs"): the driver of agent/follow.c. A START that carries a follow list
 * starts following its files (relative paths in the run's work directory);
 * a timer polls them every FOLLOW_POLL_MS while any is followed; every new
 * line is a FILE record "PATH: LINE" in the run's stream, tagged with the
 * stage the agent is in; closing the run's stream reads them a last time. */
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/follow.h"
#include "agent/log.h"
#include "agent/logs.h"

#define FOLLOW_POLL_MS 100

static void on_line(void *ctx, uint64_t run, const char *path, const char *line, size_t len)
{
    struct tsc_agent *a = ctx;
    struct tsc__logs *l = &a->logs;
    size_t plen = strlen(path);
    tsc_buf_reset(&l->follow_line);
    if (tsc_buf_append(&l->follow_line, path, plen) != 0 ||
        tsc_buf_append(&l->follow_line, ": ", 2) != 0 ||
        tsc_buf_append(&l->follow_line, line, len) != 0)
        return;
    /* Written with the loop turn's other records (no commit per line). */
    tsc__logs_make(a, run, TSC_LOGREC_FILE, l->follow_line.data, l->follow_line.len, NULL, 0, NULL);
}

static void on_timer(uv_timer_t *t)
{
    struct tsc_agent *a = t->data;
    struct tsc__logs *l = &a->logs;
    if (l->follow == NULL)
        return;
    if (tsc_follow_poll(l->follow) > 0)
        tsc__logs_kick(a);
    if (tsc_follow_count(l->follow) == 0)
        uv_timer_stop(t);
}

void tsc__logs_follow(struct tsc_agent *a, uint64_t run, const char *workdir, const char *list,
                      size_t len)
{
    struct tsc__logs *l = &a->logs;
    if (len == 0 || !l->handles || a->stopping)
        return;
    struct tsc__logstream *x = tsc__logs_stream(a, run);
    if (x != NULL && x->closed)
        return;
    if (l->follow == NULL && tsc_follow_new(&l->follow, on_line, a) != 0)
        return;
    int rc = tsc_follow_set(l->follow, run, workdir, list, len);
    if (rc != 0)
        tsc_logf(TSC_LOG_WARN, "run %llu: following the suite's files: %s", (unsigned long long)run,
                 tsc_strerror(rc));
    if (tsc_follow_count(l->follow) > 0 && !uv_is_active((uv_handle_t *)&l->follow_timer))
        uv_timer_start(&l->follow_timer, on_timer, FOLLOW_POLL_MS, FOLLOW_POLL_MS);
}

void tsc__logs_follow_stop(struct tsc_agent *a, uint64_t run)
{
    struct tsc__logs *l = &a->logs;
    if (l->follow != NULL)
        tsc_follow_stop(l->follow, run);
}

void tsc__logs_follow_free(struct tsc_agent *a)
{
    struct tsc__logs *l = &a->logs;
    tsc_follow_free(l->follow);
    l->follow = NULL;
    tsc_buf_free(&l->follow_line);
}
