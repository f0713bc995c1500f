/* tsc — tscctl's log commands: log, send, recv (answered by the agent the
 * CLI talks to, normally a stage script's own through $TSC_SOCKET) and
 * logs (answered by the coordinator, forwarded by any agent).
 *
 * `tscctl logs` pages through the merged records with op logs (from, limit)
 * and filters them here: the coordinator keeps one merged sequence per run
 * and knows nothing of names. When the agent answers log_index and a filter
 * names a node, case or stage, only the span of merged indices where those
 * records are is fetched. --follow polls every FOLLOW_MS until the run's
 * log is finished and everything was printed. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "barrier/runlog.h"
#include "common/alloc.h"
#include "ctl/ctl.h"
#include "ctl/logs.h"
#include "wire/record.h"
#include "wire/suite.h"

#define PAGE_RECORDS 16384
#define FOLLOW_MS    200
#define TRANSIENT_MS 60000

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One request; while the failure is transient (no agent answering, the
 * coordinator moving) and retry is set, again for up to TRANSIENT_MS.
 * Nothing stays allocated in resp unless 0 is returned; on an agent's
 * refusal resp->code keeps its TSC_E* code. */
int tsc_ctl_request(const struct tsc_ctl_target *t, const struct tsc_control_req *req,
                    struct tsc_control_resp *resp, struct tsc_buf *hold, int retry, char *errmsg)
{
    uint64_t give_up = mono_ms() + TRANSIENT_MS;
    struct tsc_buf q;
    int rc;
    tsc_buf_init(&q);
    memset(resp, 0, sizeof *resp);
    if ((rc = tsc_control_req_encode(req, &q)) != 0) {
        tsc_errmsg_setf(errmsg, "encoding the request: %s", tsc_strerror(rc));
        tsc_buf_free(&q);
        return TSC_CTL_EXIT_USAGE;
    }
    for (;;) {
        int transient = 0, code;
        tsc_buf_reset(hold);
        rc = tsc_ctl_call(t, &q, hold, errmsg);
        if (rc != 0) {
            transient = rc == TSC_ETIMEDOUT || rc == TSC_ECONNREFUSED;
            code = rc == TSC_EAUTH ? TSC_CTL_EXIT_AUTH : TSC_CTL_EXIT_NOAGENT;
        } else if ((rc = tsc_control_resp_decode(hold->data, hold->len, resp)) != 0) {
            tsc_errmsg_setf(errmsg, "bad reply from the agent: %s", tsc_strerror(rc));
            code = TSC_CTL_EXIT_ERROR;
        } else if (!resp->ok) {
            tsc_errmsg_setf(errmsg, "%s", resp->error[0] ? resp->error : tsc_strerror(resp->code));
            transient = resp->code == TSC_ESTATE || resp->code == TSC_ECONNREFUSED;
            code = resp->code == TSC_EINVAL || resp->code == TSC_ENOTFOUND ? TSC_CTL_EXIT_USAGE
                                                                           : TSC_CTL_EXIT_ERROR;
            /* Keep the code for the caller (recv: timed out), not the rest. */
            int agent_code = resp->code;
            tsc_control_resp_free(resp);
            memset(resp, 0, sizeof *resp);
            resp->code = agent_code;
        } else {
            code = 0;
        }
        if (code == 0 || !retry || !transient || mono_ms() >= give_up) {
            tsc_buf_free(&q);
            return code;
        }
        sleep_ms(200);
    }
}

static int fail(int code, const char *errmsg)
{
    fprintf(stderr, "tscctl: %s\n", errmsg);
    return code;
}

/* ---- run ids ------------------------------------------------------------------- */

int tsc_ctl_run_arg(const struct tsc_ctl_target *t, const char *s, uint64_t *run)
{
    char errmsg[TSC_ERRMSG_SIZE] = "", *end;
    if (strcmp(s, "last") != 0) {
        unsigned long long x = strtoull(s, &end, 10);
        if (s[0] < '0' || s[0] > '9' || *end != '\0' || x == 0 || x == ULLONG_MAX) {
            fprintf(stderr, "tscctl: bad run id '%s' (a number or \"last\")\n", s);
            return TSC_CTL_EXIT_USAGE;
        }
        *run = x;
        return 0;
    }
    /* "last": the newest run the coordinator has. */
    struct tsc_control_req req = {.op = TSC_CONTROL_OP_HISTORY, .limit = 1};
    struct tsc_control_resp resp;
    struct tsc_buf hold;
    tsc_buf_init(&hold);
    int code = tsc_ctl_request(t, &req, &resp, &hold, 1, errmsg);
    if (code == 0) {
        if (resp.n_history > 0)
            *run = resp.history[0].run;
        else {
            tsc_errmsg_setf(errmsg, "no run yet: \"last\" names none");
            code = TSC_CTL_EXIT_ERROR;
        }
        tsc_control_resp_free(&resp);
    }
    tsc_buf_free(&hold);
    return code != 0 ? fail(code, errmsg) : 0;
}

/* ---- log, send, recv ---------------------------------------------------------------- */

static int send_text(const struct tsc_ctl_target *t, int op, uint64_t run, const char *peer,
                     const uint8_t *text, size_t len)
{
    struct tsc_control_req req = {.op = op, .run = run, .text = text, .text_len = len};
    struct tsc_control_resp resp;
    struct tsc_buf hold;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    if (peer != NULL)
        snprintf(req.peer, sizeof req.peer, "%s", peer);
    tsc_buf_init(&hold);
    /* Not retried: a reply lost after the agent logged would log twice. */
    int code = tsc_ctl_request(t, &req, &resp, &hold, 0, errmsg);
    if (code == 0)
        tsc_control_resp_free(&resp);
    tsc_buf_free(&hold);
    return code != 0 ? fail(code, errmsg) : 0;
}

/* Lines of stdin, sent in chunks of at most TSC_CONTROL_MAX_TEXT bytes
 * that end at a line end (a longer line is cut: it becomes two records). */
static int log_stdin(const struct tsc_ctl_target *t, uint64_t run)
{
    uint8_t *buf = tsc_malloc(TSC_CONTROL_MAX_TEXT);
    char *line = NULL;
    size_t len = 0, cap = 0;
    ssize_t n;
    int code = 0;
    if (buf == NULL)
        return fail(TSC_CTL_EXIT_ERROR, "out of memory");
    while (code == 0 && (n = getline(&line, &cap, stdin)) > 0) {
        const char *p = line;
        size_t left = (size_t)n;
        if (len + left > TSC_CONTROL_MAX_TEXT && len > 0) {
            code = send_text(t, TSC_CONTROL_OP_LOG, run, NULL, buf, len);
            len = 0;
        }
        while (code == 0 && left > TSC_CONTROL_MAX_TEXT) {
            code = send_text(t, TSC_CONTROL_OP_LOG, run, NULL, (const uint8_t *)p,
                             TSC_CONTROL_MAX_TEXT);
            p += TSC_CONTROL_MAX_TEXT;
            left -= TSC_CONTROL_MAX_TEXT;
        }
        memcpy(buf + len, p, left);
        len += left;
    }
    if (code == 0 && len > 0)
        code = send_text(t, TSC_CONTROL_OP_LOG, run, NULL, buf, len);
    if (code == 0 && ferror(stdin))
        code = fail(TSC_CTL_EXIT_ERROR, "reading stdin failed");
    free(line); /* getline's, from libc's malloc */
    tsc_free(buf);
    return code;
}

/* The words of a command line as one text: joined by spaces, like echo. */
static char *join_words(char *const *words, int n, size_t *len)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += strlen(words[i]) + 1;
    char *s = tsc_malloc(total + 1), *p = s;
    if (s == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(words[i]);
        if (i)
            *p++ = ' ';
        memcpy(p, words[i], k);
        p += k;
    }
    *p = '\0';
    *len = (size_t)(p - s);
    return s;
}

int tsc_ctl_cmd_log(const struct tsc_ctl_target *t, uint64_t run, char *const *words, int n)
{
    size_t len;
    if (n == 0)
        return log_stdin(t, run);
    char *text = join_words(words, n, &len);
    if (text == NULL)
        return fail(TSC_CTL_EXIT_ERROR, "out of memory");
    int code = len > TSC_CONTROL_MAX_TEXT
                   ? fail(TSC_CTL_EXIT_USAGE, "the text is too long (send it on stdin)")
                   : send_text(t, TSC_CONTROL_OP_LOG, run, NULL, (const uint8_t *)text, len);
    tsc_free(text);
    return code;
}

int tsc_ctl_cmd_send(const struct tsc_ctl_target *t, uint64_t run, const char *peer,
                     char *const *words, int n)
{
    size_t len;
    if (strlen(peer) >= TSC_CONTROL_NAME)
        return fail(TSC_CTL_EXIT_USAGE, "the peer's name is too long");
    char *text = join_words(words, n, &len);
    if (text == NULL)
        return fail(TSC_CTL_EXIT_ERROR, "out of memory");
    int code = len > TSC_CONTROL_MAX_TEXT
                   ? fail(TSC_CTL_EXIT_USAGE, "the message is too long")
                   : send_text(t, TSC_CONTROL_OP_SEND, run, peer, (const uint8_t *)text, len);
    tsc_free(text);
    return code;
}

int tsc_ctl_cmd_recv(const struct tsc_ctl_target *t, uint64_t run, const char *from,
                     uint32_t timeout_s)
{
    struct tsc_control_req req = {.op = TSC_CONTROL_OP_RECV, .run = run};
    struct tsc_control_resp resp;
    struct tsc_ctl_target tt = *t;
    struct tsc_buf hold;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    if (from != NULL && strlen(from) >= TSC_CONTROL_NAME)
        return fail(TSC_CTL_EXIT_USAGE, "the peer's name is too long");
    snprintf(req.peer, sizeof req.peer, "%s", from ? from : "");
    req.timeout_ms = timeout_s * 1000u;
    /* The agent answers when a message comes or its timeout passes: wait
     * for that answer a little longer than the agent waits. */
    tt.timeout_ms = (int)req.timeout_ms + (t->timeout_ms > 0 ? t->timeout_ms : 5000);
    tsc_buf_init(&hold);
    int code = tsc_ctl_request(&tt, &req, &resp, &hold, 0, errmsg);
    int got = code == 0;
    if (got && !resp.has_msg) {
        code = fail(TSC_CTL_EXIT_ERROR, "the agent's reply lacks the message");
    } else if (got) {
        fwrite(resp.msg_text, 1, resp.msg_len, stdout);
        fputc('\n', stdout);
        if (fflush(stdout) != 0)
            code = TSC_CTL_EXIT_ERROR;
    } else if (resp.code == TSC_ETIMEDOUT) {
        fprintf(stderr, "tscctl: no message within %u s\n", timeout_s);
        code = TSC_CTL_EXIT_ERROR;
    } else {
        fail(code, errmsg);
    }
    if (got)
        tsc_control_resp_free(&resp);
    tsc_buf_free(&hold);
    return code;
}
