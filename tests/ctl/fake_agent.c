/* tsc — a stand-in agent for tscctl's log commands (test_logs_cli.sh): it
 * answers the control protocol on a Unix socket from canned data, so the
 * CLI's paging, filters, chunking and exit codes are tested without a
 * cluster. Each request is appended to a log file as one line:
 *   OP run=R from=F limit=L peer=P timeout_ms=T len=N nl=K last=C
 * (nl: newlines in the text, last: its last byte in hex, or -).
 *
 * The run (42) has N_RECORDS merged records of two nodes (a1, b2), in
 * stage 5 (case 1) then stage 13 (suite finalize); the agent hands out at
 * most PAGE records per answer, fewer than tscctl asks for, so the CLI must
 * follow `first` + count. Errors: one gap. With FAKE_NO_INDEX set, op
 * log_index is unknown, as on an older agent.
 * Usage: fake_agent SOCKET LOGFILE */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/buf.h"
#include "logsync/merge.h"
#include "wire/control.h"

#define N_RECORDS 40000u
#define PAGE      5000u
#define NODE_A    0xa1u
#define NODE_B    0xb2u

static FILE *reqlog;

static int read_all(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Record i (1-based): nodes alternate; the second half is suite finalize. */
static void make_record(uint32_t i, struct tsc_buf *out)
{
    struct tsc_logrec r;
    char text[64];
    tsc_logrec_init(&r);
    r.node = i % 2 ? NODE_A : NODE_B;
    r.seq = (i + 1) / 2;
    tsc_vclock_set(&r.clock, r.node, r.seq);
    r.lamport = i;
    r.wall_us = 1714564800000000ull + i;
    r.run = 42;
    r.stage = i <= N_RECORDS / 2 ? 5 : 13;
    r.case_index = i <= N_RECORDS / 2 ? 1 : TSC_LOGREC_NO_CASE;
    r.kind = TSC_LOGREC_STDOUT;
    snprintf(text, sizeof text, "line %u", i);
    r.text = (const uint8_t *)text;
    r.len = strlen(text);
    tsc_logrec_encode(&r, out);
    tsc_logrec_free(&r);
}

static void answer_logs(const struct tsc_control_req *q, struct tsc_buf *out)
{
    static struct tsc_control_bytes recs[PAGE];
    struct tsc_control_bytes errs[1];
    struct tsc_buf data, eb;
    struct tsc_logmerge_error gap = {TSC_LOGMERGE_GAP, NODE_B, 7, NODE_B, 9, 42, 0};
    uint64_t from = q->from ? q->from : 1;
    uint32_t n = 0, limit = q->limit < PAGE ? q->limit : PAGE;
    size_t offs[PAGE];
    tsc_buf_init(&data);
    tsc_buf_init(&eb);
    tsc_logmerge_error_encode(&gap, &eb);
    for (uint64_t i = from; i <= N_RECORDS && n < limit; i++, n++) {
        offs[n] = data.len;
        make_record((uint32_t)i, &data);
    }
    for (uint32_t k = 0; k < n; k++)
        recs[k] = (struct tsc_control_bytes){data.data + offs[k],
                                             (k + 1 < n ? offs[k + 1] : data.len) - offs[k]};
    errs[0] = (struct tsc_control_bytes){eb.data, eb.len};
    struct tsc_control_logs l = {.run = 42,
                                 .first = from,
                                 .merged = N_RECORDS,
                                 .finished = 1,
                                 .records = recs,
                                 .n_records = n,
                                 .errors = errs,
                                 .n_errors = from <= 1 ? 1 : 0};
    if (q->op == TSC_CONTROL_OP_LOG_INDEX) {
        struct tsc_control_log_range g[4] = {
            {5, 1, NODE_A, 1, N_RECORDS / 2 - 1, N_RECORDS / 4},
            {5, 1, NODE_B, 2, N_RECORDS / 2, N_RECORDS / 4},
            {13, TSC_LOGREC_NO_CASE, NODE_A, N_RECORDS / 2 + 1, N_RECORDS - 1, N_RECORDS / 4},
            {13, TSC_LOGREC_NO_CASE, NODE_B, N_RECORDS / 2 + 2, N_RECORDS, N_RECORDS / 4},
        };
        l.n_errors = 1;
        tsc_control_resp_encode_log_index(9, &l, g, 4, out);
    } else {
        tsc_control_resp_encode_logs(9, &l, out);
    }
    tsc_buf_free(&data);
    tsc_buf_free(&eb);
}

static void answer(const struct tsc_control_req *q, struct tsc_buf *out)
{
    static const uint8_t hello[] = "hello from b2";
    switch (q->op) {
    case TSC_CONTROL_OP_HISTORY: {
        struct tsc_control_run_summary h = {.run = 42, .state = 3};
        tsc_control_resp_encode_history(9, &h, 1, out);
        break;
    }
    case TSC_CONTROL_OP_RUN_STATUS: {
        struct tsc_control_progress p = {.run = 42, .state = 3};
        tsc_control_resp_encode_progress(9, &p, out); /* no SUBMIT: names are ids */
        break;
    }
    case TSC_CONTROL_OP_MEMBERS:
        tsc_control_resp_encode_members(9, 0, NULL, 0, out);
        break;
    case TSC_CONTROL_OP_LOG_INDEX:
        if (getenv("FAKE_NO_INDEX") != NULL) {
            tsc_control_resp_encode_error(TSC_EINVAL, "unknown control op 'log_index'", out);
            break;
        }
        /* fall through */
    case TSC_CONTROL_OP_LOGS:
        answer_logs(q, out);
        break;
    case TSC_CONTROL_OP_LOG:
    case TSC_CONTROL_OP_SEND:
        tsc_control_resp_encode_seq(9, q->run ? q->run : 42, 1, out);
        break;
    case TSC_CONTROL_OP_RECV:
        if (q->timeout_ms < 1000)
            tsc_control_resp_encode_error(TSC_ETIMEDOUT, "no message", out);
        else
            tsc_control_resp_encode_msg(9, 42, NODE_B, 3, hello, sizeof hello - 1, out);
        break;
    default:
        tsc_control_resp_encode_error(TSC_EINVAL, "not in this fake", out);
    }
}

static void serve(int fd)
{
    uint8_t hdr[4];
    struct tsc_buf in, out;
    struct tsc_control_req q;
    char errmsg[TSC_ERRMSG_SIZE];
    tsc_buf_init(&in);
    tsc_buf_init(&out);
    if (read_all(fd, hdr, 4) != 0)
        goto done;
    uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (n == 0 || n > (16u << 20) || tsc_buf_reserve(&in, n) != 0 || read_all(fd, in.data, n))
        goto done;
    if (tsc_control_req_decode(in.data, n, &q, errmsg) != 0) {
        tsc_control_resp_encode_error(TSC_EINVAL, errmsg, &out);
    } else {
        size_t nl = 0;
        for (size_t i = 0; i < q.text_len; i++)
            nl += q.text[i] == '\n';
        fprintf(reqlog, "%s run=%llu from=%llu limit=%u peer=%s timeout_ms=%u len=%zu nl=%zu last=",
                tsc_control_op_name(q.op), (unsigned long long)q.run, (unsigned long long)q.from,
                q.limit, q.peer, q.timeout_ms, q.text_len, nl);
        if (q.text_len > 0)
            fprintf(reqlog, "%02x\n", q.text[q.text_len - 1]);
        else
            fputs("-\n", reqlog);
        fflush(reqlog);
        answer(&q, &out);
    }
    uint8_t oh[4] = {(uint8_t)(out.len >> 24), (uint8_t)(out.len >> 16), (uint8_t)(out.len >> 8),
                     (uint8_t)out.len};
    if (write(fd, oh, 4) != 4 || write(fd, out.data, out.len) != (ssize_t)out.len)
        fprintf(stderr, "fake_agent: short write\n");
done:
    tsc_buf_free(&in);
    tsc_buf_free(&out);
}

int main(int argc, char **argv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (argc != 3 || strlen(argv[1]) >= sizeof sa.sun_path) {
        fprintf(stderr, "usage: fake_agent SOCKET LOGFILE\n");
        return 2;
    }
    if ((reqlog = fopen(argv[2], "a")) == NULL) /* truncated by the test between checks */
        return 1;
    strcpy(sa.sun_path, argv[1]);
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 16) != 0) {
        perror("fake_agent");
        return 1;
    }
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            continue;
        serve(fd);
        close(fd);
    }
}
